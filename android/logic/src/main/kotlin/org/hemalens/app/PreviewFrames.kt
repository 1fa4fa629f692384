package org.hemalens.app

import com.google.gson.JsonObject
import com.google.gson.JsonParser
import org.hemalens.core.IssueCode
import java.nio.ByteBuffer

/** One plane of a `YUV_420_888` frame, as CameraX's `ImageProxy.PlaneProxy` gives it. */
class FramePlane(val buffer: ByteBuffer, val rowStride: Int, val pixelStride: Int)

/**
 * A live camera frame. CameraX's `ImageProxy` adapts to it in a few lines
 * (`android/app/.../camera/ImageProxyFrame.kt`); the desktop test makes
 * frames from real photos.
 */
interface CameraFrame {
    val width: Int
    val height: Int

    /** Degrees clockwise that turn the frame upright on the screen (`ImageInfo.rotationDegrees`). */
    val rotationDegrees: Int
    val planes: List<FramePlane>
}

/**
 * The JNI guide's call: `org.hemalens.camera.PreviewGuide::analyze`, which
 * answers JSON or throws `FrameException`.
 */
fun interface FrameAnalyzer {
    fun analyze(
        width: Int,
        height: Int,
        y: ByteBuffer,
        yRowStride: Int,
        u: ByteBuffer,
        v: ByteBuffer,
        uvRowStride: Int,
        uvPixelStride: Int,
    ): String
}

/** The eyepiece's bright circle, in frame pixels (before rotation). */
data class Circle(val cx: Double, val cy: Double, val r: Double)

/** The core's guidance for one frame (`hemalens_core::field::preview::Guidance`). */
data class Guidance(
    val apertureFound: Boolean,
    val apertureCentred: Boolean,
    val apertureBigEnough: Boolean,
    val fov: Circle?,
    val exposure: Double,
    val focus: Double,
    val rbcDiameterPx: Double?,
    val whiteCells: Int,
    /** The gate's codes, in its order; a code this app does not know yet is null. */
    val issues: List<Pair<IssueCode?, String>>,
    val ready: Boolean,
) {
    companion object {
        /** Reads the JNI path's JSON; a missing or mistyped field throws [IllegalArgumentException]. */
        fun parse(json: String): Guidance = try {
            val o = JsonParser.parseString(json).asJsonObject
            val fov = o.get("fov")?.takeIf { it.isJsonObject }?.asJsonObject
            Guidance(
                apertureFound = o.bool("aperture_found"),
                apertureCentred = o.bool("aperture_centred"),
                apertureBigEnough = o.bool("aperture_big_enough"),
                fov = fov?.let { Circle(it.num("cx"), it.num("cy"), it.num("r")) },
                exposure = o.num("exposure"),
                focus = o.num("focus"),
                rbcDiameterPx = o.get("rbc_diameter_px")?.takeIf { it.isJsonPrimitive }?.asDouble,
                whiteCells = o.num("white_cells").toInt(),
                issues = o.getAsJsonArray("issues").map { e ->
                    val i = e.asJsonObject
                    issueCode(i.get("code").asString) to i.get("message").asString
                },
                ready = o.bool("ready"),
            )
        } catch (e: RuntimeException) {
            throw IllegalArgumentException("guidance JSON not understood: ${e.javaClass.simpleName}", e)
        }

        private fun JsonObject.bool(k: String) = requireNotNull(get(k)) { k }.asBoolean
        private fun JsonObject.num(k: String) = requireNotNull(get(k)) { k }.asDouble

        /** `out_of_focus` is `IssueCode.OUT_OF_FOCUS`; null for a code a newer core adds. */
        fun issueCode(code: String): IssueCode? = IssueCode.values().firstOrNull { it.name.equals(code, ignoreCase = true) }
    }
}

/** Where the preview is drawn, in view pixels; scaled to fill and centred (CameraX `PreviewView` FILL_CENTER). */
data class ViewPort(val width: Int, val height: Int)

/** One line of the capture checklist; `ok` is also said in words ([text]), never by colour alone. */
data class GuideCheck(val name: String, val ok: Boolean, val text: String)

/** What the capture screen draws over the preview for one frame. */
data class GuideOverlay(
    /** The eyepiece circle in view pixels (null while none is found). */
    val circle: Circle?,
    val ready: Boolean,
    /** One sentence: what to do now. */
    val hint: String,
    /** Light, focus, circle, white cells. */
    val checks: List<GuideCheck>,
    /** For the screen reader: the hint when it changed since the last frame, else null (no chatter). */
    val announcement: String?,
    val guidance: Guidance?,
)

/**
 * Hands camera frames to the JNI guide and turns its answer into what the
 * capture screen draws. At most one frame per [minIntervalMs] is analysed
 * (the rest are dropped: the preview only needs a few answers a second, and
 * the battery lasts); [onFrame] returns null for a dropped frame. Called from
 * CameraX's analysis executor, one frame at a time.
 */
class FrameAdapter(
    private val analyzer: FrameAnalyzer,
    strings: Strings,
    private val minIntervalMs: Long = 120,
    private val clockMs: () -> Long = { System.nanoTime() / 1_000_000 },
) {
    private val s = strings
    private val present = Presenter(strings)
    private var lastAt: Long? = null
    private var lastHint: String? = null

    /** Frames analysed so far (not dropped). */
    var analysed = 0
        private set

    fun onFrame(frame: CameraFrame, view: ViewPort): GuideOverlay? {
        val now = clockMs()
        lastAt?.let { if (now - it < minIntervalMs) return null }
        lastAt = now
        analysed++
        val g = try {
            Guidance.parse(analyze(frame))
        } catch (e: RuntimeException) {
            // A FrameException (bad planes, a closed guide) or an answer not understood.
            return overlay(null, null, s.get(Str.GUIDE_FRAME_ERROR), emptyList(), false)
        }
        val hint = when {
            g.ready -> s.get(Str.GUIDE_READY)
            !g.apertureFound -> s.get(Str.GUIDE_NO_APERTURE)
            else -> g.issues.first().let { (code, message) -> code?.let(present::issue) ?: message }
        }
        val codes = g.issues.mapNotNull { it.first }.toSet()
        val checks = listOf(
            check(Str.GUIDE_LIGHT, codes.none { it == IssueCode.TOO_DARK || it == IssueCode.BURNT_OUT }),
            check(Str.GUIDE_FOCUS, IssueCode.OUT_OF_FOCUS !in codes),
            check(Str.GUIDE_APERTURE, g.apertureFound && g.apertureCentred && g.apertureBigEnough),
            GuideCheck(
                s.get(Str.GUIDE_CELLS, g.whiteCells),
                g.whiteCells > 0 && codes.none { it in CELL_ISSUES },
                s.get(if (g.whiteCells > 0) Str.GUIDE_CHECK_OK else Str.GUIDE_CHECK_FIX, s.get(Str.GUIDE_CELLS, g.whiteCells)),
            ),
        )
        val circle = g.fov?.let { toView(it, frame, view) }
        return overlay(circle, g, hint, checks, g.ready)
    }

    private fun overlay(circle: Circle?, g: Guidance?, hint: String, checks: List<GuideCheck>, ready: Boolean): GuideOverlay {
        val announce = hint.takeIf { it != lastHint }
        lastHint = hint
        return GuideOverlay(circle, ready, hint, checks, announce, g)
    }

    private fun check(what: Str, ok: Boolean): GuideCheck {
        val name = s.get(what)
        return GuideCheck(name, ok, s.get(if (ok) Str.GUIDE_CHECK_OK else Str.GUIDE_CHECK_FIX, name))
    }

    private fun analyze(frame: CameraFrame): String {
        require(frame.planes.size == 3) { "a YUV_420_888 frame has 3 planes, not ${frame.planes.size}" }
        val (y, u, v) = frame.planes
        require(u.rowStride == v.rowStride && u.pixelStride == v.pixelStride) { "the chroma planes' strides differ" }
        return analyzer.analyze(frame.width, frame.height, y.buffer, y.rowStride, u.buffer, v.buffer, u.rowStride, u.pixelStride)
    }

    companion object {
        private val CELL_ISSUES = setOf(IssueCode.NO_CELLS, IssueCode.TOO_SPARSE, IssueCode.TOO_CROWDED, IssueCode.SCALE_UNKNOWN)

        /**
         * A circle in frame pixels where it shows on the screen: turned upright
         * by the frame's rotation, then scaled to fill [view] and centred.
         */
        fun toView(c: Circle, frame: CameraFrame, view: ViewPort): Circle {
            val (w, h) = frame.width.toDouble() to frame.height.toDouble()
            val (x, y, uw, uh) = when (Math.floorMod(frame.rotationDegrees, 360)) {
                90 -> listOf(h - c.cy, c.cx, h, w)
                180 -> listOf(w - c.cx, h - c.cy, w, h)
                270 -> listOf(c.cy, w - c.cx, h, w)
                else -> listOf(c.cx, c.cy, w, h)
            }
            val k = maxOf(view.width / uw, view.height / uh)
            return Circle((view.width - uw * k) / 2 + x * k, (view.height - uh * k) / 2 + y * k, c.r * k)
        }
    }
}

/**
 * The shutter: the screen's button and the volume keys (as NLM's Malaria
 * Screener does), one photo at a time. A held key's repeats and a second
 * press within [debounceMs] take no second photo; no press counts while the
 * last photo is being taken and analysed.
 */
class Shutter(private val debounceMs: Long = 700, private val clockMs: () -> Long = { System.nanoTime() / 1_000_000 }) {
    enum class Source { SCREEN, VOLUME_KEY }

    private var lastAt: Long? = null

    /** A photo is being taken or analysed. */
    var busy = false
        private set

    /** True: take the photo now (and call [done] when its verdict is in). [keyRepeat] is `KeyEvent.getRepeatCount()`. */
    fun press(source: Source, keyRepeat: Int = 0): Boolean {
        if (busy || (source == Source.VOLUME_KEY && keyRepeat > 0)) return false
        val now = clockMs()
        if (lastAt?.let { now - it < debounceMs } == true) return false
        lastAt = now
        busy = true
        return true
    }

    fun done() {
        busy = false
    }
}
