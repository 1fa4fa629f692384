package org.hemalens.app

import org.hemalens.CellTile
import org.hemalens.FieldView

/** One cell's crop in the review gallery; [description] is its screen-reader label. */
data class CellTileModel(
    val field: Long,
    val cell: Long,
    val jpeg: ByteArray,
    /** The label that stands (a reviewer's, else the machine's), as a code and in words. */
    val label: String,
    val name: String,
    val caption: String,
    val description: String,
    /** Shown apart, with a dashed frame: the machine did not count it. */
    val uncertain: Boolean,
    val relabelled: Boolean,
)

/** A group of the gallery: one class, or the uncertain cells (shown first: they need a look). */
data class GalleryGroup(val title: String, val label: String?, val tiles: List<CellTileModel>)

/** A box on a field's picture, as fractions of the picture (so it scales with the view). */
data class MarkModel(
    val field: Long,
    val cell: Long,
    val left: Float,
    val top: Float,
    val width: Float,
    val height: Float,
    val name: String,
    /** Counted cells are drawn solid, uncertain ones dashed (and named "perhaps" for the screen reader). */
    val dashed: Boolean,
    val description: String,
)

/** An accepted field's picture with its cells' boxes. */
data class FieldOverlayModel(
    val field: Long,
    val jpeg: ByteArray,
    val width: Int,
    val height: Int,
    val marks: List<MarkModel>,
    val description: String,
)

/** The result screen's pictures, made by the core (the same crops and boxes as the report's). */
class GalleryPresenter(private val s: Strings) {
    private val present = Presenter(s)

    /** The screen reader's words for one cell (and the tile's caption below it). */
    private fun describe(
        field: Long,
        cell: Long,
        label: String,
        machine: String,
        confidence: Float,
        counted: Boolean,
        relabelled: Boolean,
    ): Pair<String, String> {
        val name = present.cellName(label)
        val sure = present.percent(confidence.toDouble())
        val (photo, n) = field.toInt() + 1 to cell.toInt() + 1
        val description = when {
            relabelled -> s.get(Str.CELL_TILE_RELABELLED, photo, n, name, present.cellName(machine))
            !counted -> s.get(Str.CELL_TILE_UNCERTAIN, photo, n, name, sure)
            else -> s.get(Str.CELL_TILE, photo, n, name, sure)
        }
        return description to if (relabelled) name else "$name $sure"
    }

    fun tile(t: CellTile): CellTileModel {
        val (description, caption) = describe(t.field, t.cell, t.label, t.machineLabel, t.confidence, t.counted, t.relabelled)
        return CellTileModel(t.field, t.cell, t.jpeg, t.label, present.cellName(t.label), caption, description, !t.counted, t.relabelled)
    }

    /** Uncertain cells first, then one group per class in the order the core lists the differential. */
    fun gallery(tiles: List<CellTile>, order: List<String>): List<GalleryGroup> {
        val models = tiles.map(::tile)
        val uncertain = models.filter { it.uncertain }
        val byLabel = models.filter { !it.uncertain }.groupBy { it.label }
        val labels = order.filter { it in byLabel } + byLabel.keys.filter { it !in order }.sorted()
        return listOfNotNull(uncertain.takeIf { it.isNotEmpty() }?.let { GalleryGroup(s.get(Str.GALLERY_UNCERTAIN), null, it) }) +
            labels.map { GalleryGroup(present.cellName(it), it, byLabel.getValue(it)) }
    }

    fun field(v: FieldView): FieldOverlayModel {
        val (w, h) = v.width.toFloat() to v.height.toFloat()
        val marks = v.marks.map { m ->
            MarkModel(
                field = v.field,
                cell = m.cell,
                left = m.x / w,
                top = m.y / h,
                width = m.w / w,
                height = m.h / h,
                name = present.cellName(m.label),
                dashed = !m.counted,
                description = describe(v.field, m.cell, m.label, m.machineLabel, m.confidence, m.counted, m.relabelled).first,
            )
        }
        return FieldOverlayModel(
            v.field,
            v.jpeg,
            v.width.toInt(),
            v.height.toInt(),
            marks,
            s.get(
                Str.FIELD_OVERLAY,
                marks.size,
                v.field.toInt() + 1,
            ),
        )
    }

    companion object {
        /** Gallery crops: 160 px squares (a 3-column grid on a 360 dp phone at 1.5x). */
        const val TILE_PX = 160

        /** Field pictures: 1280 px on the long side (sharp on a phone, quick to make). */
        const val FIELD_PX = 1280
    }
}
