package org.hemalens.app.shell.ui

import androidx.compose.foundation.Canvas
import androidx.compose.foundation.Image
import androidx.compose.foundation.background
import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Box
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.PaddingValues
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.Spacer
import androidx.compose.foundation.layout.aspectRatio
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.layout.size
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.LazyListScope
import androidx.compose.foundation.lazy.items
import androidx.compose.foundation.selection.selectableGroup
import androidx.compose.foundation.shape.RoundedCornerShape
import androidx.compose.material3.AlertDialog
import androidx.compose.material3.Icon
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.draw.drawBehind
import androidx.compose.ui.geometry.Offset
import androidx.compose.ui.geometry.Size
import androidx.compose.ui.graphics.Color
import androidx.compose.ui.graphics.PathEffect
import androidx.compose.ui.graphics.drawscope.Stroke
import androidx.compose.ui.layout.ContentScale
import androidx.compose.ui.res.colorResource
import androidx.compose.ui.res.painterResource
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.semantics.clearAndSetSemantics
import androidx.compose.ui.semantics.contentDescription
import androidx.compose.ui.semantics.heading
import androidx.compose.ui.semantics.semantics
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import org.hemalens.app.CellTileModel
import org.hemalens.app.DifferentialRow
import org.hemalens.app.FieldOverlayModel
import org.hemalens.app.FlowState
import org.hemalens.app.GalleryGroup
import org.hemalens.app.OutcomeModel
import org.hemalens.app.R
import org.hemalens.app.ResultModel
import org.hemalens.app.shell.AppViewModel
import org.hemalens.app.shell.Pictures

/** The result: the outcome first, the next step, the differential, each photo's verdict, the pictures. */
@Composable
fun ResultScreen(vm: AppViewModel, state: FlowState.Result) {
    val pictures by vm.pictures.collectAsStateWithLifecycle()
    var choosingHospital by remember { mutableStateOf(false) }
    LaunchedEffect(state.sessionId) { vm.loadPictures() }
    LazyColumn(contentPadding = PaddingValues(16.dp), verticalArrangement = Arrangement.spacedBy(12.dp)) {
        item { Text(stringResource(R.string.ui_result_title, state.patient), style = MaterialTheme.typography.titleMedium) }
        item { OutcomeHeader(state.model.outcome) }
        item { OutcomeDetails(state.model) }
        item {
            Column(verticalArrangement = Arrangement.spacedBy(8.dp)) {
                PrimaryButton(stringResource(R.string.ui_share)) {
                    vm.loadHospital()
                    choosingHospital = true
                }
                SecondaryButton(stringResource(R.string.ui_review), onClick = vm::startReview)
                SecondaryButton(stringResource(R.string.ui_new_screening), onClick = vm::newScreening)
            }
        }
        item { SubHeading(stringResource(R.string.ui_differential)) }
        item { DifferentialList(state.model.differential) }
        item { SubHeading(stringResource(R.string.ui_photos)) }
        items(state.model.fields) { VerdictLine(it) }
        pictureItems(pictures, onTile = null)
    }
    if (choosingHospital) {
        HospitalChoiceDialog(
            vm,
            onChoose = { hospital ->
                choosingHospital = false
                vm.share(hospital)
            },
            onDismiss = { choosingHospital = false },
        )
    }
}

/** The outcome in large type, with its own icon and colour; the words carry the meaning. */
@Composable
fun OutcomeHeader(outcome: OutcomeModel) {
    Row(
        Modifier
            .fillMaxWidth()
            .background(colorResource(outcomeColour(outcome.colourToken)), RoundedCornerShape(12.dp))
            .padding(16.dp)
            .semantics(mergeDescendants = true) { heading() },
        verticalAlignment = Alignment.CenterVertically,
    ) {
        // No separate label: the headline beside it says the same, once.
        Icon(painterResource(outcomeIcon(outcome.iconId)), contentDescription = null, tint = Color.White, modifier = Modifier.size(56.dp))
        Text(
            outcome.headline,
            color = Color.White,
            style = MaterialTheme.typography.headlineMedium,
            modifier = Modifier.padding(start = 16.dp),
        )
    }
}

/** What to do next, who changed the outcome (if anyone), the review state. */
@Composable
fun OutcomeDetails(model: ResultModel) {
    Column(verticalArrangement = Arrangement.spacedBy(6.dp)) {
        SubHeading(stringResource(R.string.ui_next_step))
        Text(model.outcome.nextStep, style = MaterialTheme.typography.bodyLarge)
        model.outcome.changedByReviewer?.let { Text(it, style = MaterialTheme.typography.bodyLarge) }
        Text(stringResource(R.string.ui_review_state, model.review), style = MaterialTheme.typography.bodyMedium)
    }
}

/** The differential: each class, k of n, its share and 95% range (the presenter's words). */
@Composable
fun DifferentialList(rows: List<DifferentialRow>) {
    Column(verticalArrangement = Arrangement.spacedBy(4.dp)) {
        rows.forEach { Text(it.text, style = MaterialTheme.typography.bodyLarge) }
    }
}

/** The accepted fields with their boxes, then the cell gallery; [onTile] set when a cell may be relabelled. */
fun LazyListScope.pictureItems(pictures: Pictures?, onTile: ((CellTileModel) -> Unit)?) {
    if (pictures == null) {
        item { Text(stringResource(R.string.ui_loading_pictures), style = MaterialTheme.typography.bodyMedium) }
        return
    }
    if (pictures.fields.isNotEmpty()) {
        item { SubHeading(stringResource(R.string.ui_field_pictures)) }
        items(pictures.fields) { FieldOverlayImage(it) }
    }
    cellGallery(pictures.gallery, onTile)
}

/** A field's picture with a box per cell: solid for counted cells, dashed for uncertain ones. */
@Composable
fun FieldOverlayImage(model: FieldOverlayModel) {
    val bitmap = rememberJpeg(model.jpeg)
    Box(
        Modifier
            .fillMaxWidth()
            .aspectRatio(model.width.toFloat() / model.height.coerceAtLeast(1))
            .clearAndSetSemantics { contentDescription = model.description },
    ) {
        bitmap?.let { Image(it, contentDescription = null, modifier = Modifier.fillMaxSize(), contentScale = ContentScale.FillBounds) }
        Canvas(Modifier.fillMaxSize()) {
            val dash = PathEffect.dashPathEffect(floatArrayOf(6.dp.toPx(), 4.dp.toPx()))
            model.marks.forEach { m ->
                drawRect(
                    color = if (m.dashed) MarkUncertain else MarkCounted,
                    topLeft = Offset(m.left * size.width, m.top * size.height),
                    size = Size(m.width * size.width, m.height * size.height),
                    style = Stroke(width = 2.dp.toPx(), pathEffect = if (m.dashed) dash else null),
                )
            }
        }
    }
}

/** The gallery: uncertain cells first, then one group per class, three crops a row. */
fun LazyListScope.cellGallery(groups: List<GalleryGroup>, onTile: ((CellTileModel) -> Unit)?) {
    groups.forEach { group ->
        item { SubHeading(group.title) }
        items(group.tiles.chunked(3)) { row ->
            Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                row.forEach { CellTile(it, onTile, Modifier.weight(1f)) }
                repeat(3 - row.size) { Spacer(Modifier.weight(1f)) }
            }
        }
    }
}

/** One cell's crop and caption; its description is what the screen reader says. Uncertain cells have a dashed frame. */
@Composable
fun CellTile(tile: CellTileModel, onClick: ((CellTileModel) -> Unit)?, modifier: Modifier = Modifier) {
    val bitmap = rememberJpeg(tile.jpeg)
    val action = stringResource(R.string.ui_relabel_action)
    val clickable = if (onClick != null) Modifier.clickable(onClickLabel = action) { onClick(tile) } else Modifier
    Column(
        modifier
            .then(clickable)
            .semantics(mergeDescendants = true) { contentDescription = tile.description }
            .padding(4.dp),
        horizontalAlignment = Alignment.CenterHorizontally,
    ) {
        Box(
            Modifier
                .fillMaxWidth()
                .aspectRatio(1f)
                .drawBehind {
                    val dash = if (tile.uncertain) PathEffect.dashPathEffect(floatArrayOf(6.dp.toPx(), 4.dp.toPx())) else null
                    drawRect(if (tile.uncertain) MarkUncertain else Color.Gray, style = Stroke(width = 3.dp.toPx(), pathEffect = dash))
                }
                .padding(3.dp),
        ) {
            bitmap?.let { Image(it, contentDescription = null, modifier = Modifier.fillMaxSize()) }
        }
        Text(tile.caption, style = MaterialTheme.typography.bodySmall, modifier = Modifier.clearAndSetSemantics { })
    }
}

/** Share only on this phone, or also send to an enrolled hospital (through the outbox). */
@Composable
private fun HospitalChoiceDialog(vm: AppViewModel, onChoose: (String?) -> Unit, onDismiss: () -> Unit) {
    val page by vm.hospital.collectAsStateWithLifecycle()
    var chosen by remember { mutableStateOf<String?>(null) }
    AlertDialog(
        onDismissRequest = onDismiss,
        title = { Text(stringResource(R.string.ui_choose_hospital)) },
        text = {
            Column(Modifier.selectableGroup()) {
                val options: List<Pair<String?, String>> =
                    listOf<Pair<String?, String>>(null to stringResource(R.string.ui_keep_on_phone)) +
                        page.hospitals.map { it.name to stringResource(R.string.ui_send_to, it.name) }
                options.forEach { (name, words) ->
                    RadioRow(selected = chosen == name, onClick = { chosen = name }) { Text(words) }
                }
            }
        },
        confirmButton = { TextButton(onClick = { onChoose(chosen) }) { Text(stringResource(R.string.ui_continue)) } },
        dismissButton = { TextButton(onClick = onDismiss) { Text(stringResource(R.string.ui_cancel)) } },
    )
}
