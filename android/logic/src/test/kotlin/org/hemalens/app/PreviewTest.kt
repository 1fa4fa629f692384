// The capture screen's logic on the desktop JVM: real frames (the README's
// eyepiece photo and a dimmed copy, as NV21 the way CameraX delivers it)
// through FrameAdapter into the real JNI guide (org.hemalens.camera.PreviewGuide),
// the circle mapped onto a rotated preview, and the shutter's rules.
package org.hemalens.app

import org.hemalens.camera.PreviewGuide
import org.hemalens.testing.assertEq
import org.hemalens.testing.assertTrue
import org.hemalens.testing.check
import java.awt.Color
import java.awt.image.BufferedImage
import java.io.File
import java.nio.ByteBuffer
import javax.imageio.ImageIO
import kotlin.math.abs
import kotlin.math.roundToInt

/** A YUV_420_888 frame laid out as Android's NV21 (chroma interleaved, pixel stride 2), rows padded. */
class Nv21Frame(img: BufferedImage, override val rotationDegrees: Int = 0, pad: Int = 16) : CameraFrame {
    override val width = img.width
    override val height = img.height
    override val planes: List<FramePlane>

    init {
        val (cw, ch) = (width + 1) / 2 to (height + 1) / 2
        val (yrs, crs) = width + pad to cw * 2 + pad
        val y = ByteBuffer.allocateDirect(yrs * (height - 1) + width)
        val vu = ByteBuffer.allocateDirect(crs * (ch - 1) + cw * 2)
        fun clamp(v: Double) = v.roundToInt().coerceIn(0, 255)
        for (r in 0 until height) {
            for (c in 0 until width) {
                val p = img.getRGB(c, r)
                val (red, green, blue) = Triple((p shr 16 and 255).toDouble(), (p shr 8 and 255).toDouble(), (p and 255).toDouble())
                y.put(r * yrs + c, clamp(0.299 * red + 0.587 * green + 0.114 * blue).toByte())
                if (r % 2 == 0 && c % 2 == 0) {
                    vu.put((r / 2) * crs + 2 * (c / 2), clamp(128 + 0.5 * red - 0.418688 * green - 0.081312 * blue).toByte())
                    vu.put((r / 2) * crs + 2 * (c / 2) + 1, clamp(128 - 0.168736 * red - 0.331264 * green + 0.5 * blue).toByte())
                }
            }
        }
        val plane = crs * (ch - 1) + (cw - 1) * 2 + 1
        planes = listOf(FramePlane(y, yrs, 1), FramePlane(vu.slice(1, plane), crs, 2), FramePlane(vu.slice(0, plane), crs, 2))
    }
}

/** A 4:3 photo as a 1280x720 preview frame shows it: scaled to the height, the sides dark; [k] dims it. */
fun previewOf(photo: BufferedImage, k: Double = 1.0): BufferedImage {
    val out = BufferedImage(1280, 720, BufferedImage.TYPE_INT_RGB)
    val g = out.createGraphics()
    g.color = Color(5, 4, 4)
    g.fillRect(0, 0, 1280, 720)
    val sw = (photo.width * 720.0 / photo.height).roundToInt()
    g.drawImage(photo, (1280 - sw) / 2, 0, sw, 720, null)
    g.dispose()
    if (k != 1.0) {
        for (py in 0 until 720) {
            for (px in 0 until 1280) {
                val p = out.getRGB(px, py)
                val d = { s: Int -> ((p shr s and 255) * k).toInt() shl s }
                out.setRGB(px, py, d(16) or d(8) or d(0))
            }
        }
    }
    return out
}

fun previewChecks(root: File, s: Strings) {
    val guide = PreviewGuide()
    val analyzer = FrameAnalyzer { w, h, y, ys, u, v, cs, cp -> guide.analyze(w, h, y, ys, u, v, cs, cp) }
    val demo = ImageIO.read(File(root, "tests/fixtures/demo/eyepiece_bccd_00339.jpg"))
    val good = Nv21Frame(previewOf(demo))
    val dark = Nv21Frame(previewOf(demo, 0.1))
    val portrait = ViewPort(1080, 2400)
    var now = 0L
    val adapter = FrameAdapter(analyzer, s, minIntervalMs = 100, clockMs = { now })

    check("preview: a good eyepiece frame is ready, every check says good in words") {
        val o = adapter.onFrame(good, ViewPort(1280, 720))!!
        assertTrue(o.ready, "ready: ${o.guidance}")
        assertEq(o.hint, s.get(Str.GUIDE_READY), "hint")
        assertTrue(o.checks.all { it.ok }, "checks ${o.checks}")
        assertEq(
            o.checks.map {
                it.text
            }.take(3),
            listOf(Str.GUIDE_LIGHT, Str.GUIDE_FOCUS, Str.GUIDE_APERTURE).map {
                s.get(Str.GUIDE_CHECK_OK, s.get(it))
            },
            "said in words",
        )
        assertEq(o.announcement, o.hint, "the first hint is announced")
        val c = o.circle!!
        assertTrue(abs(c.cx - 640) < 40 && abs(c.cy - 360) < 40 && c.r in 200.0..360.0, "circle where the aperture is: $c")
    }
    check("preview: frames sooner than the interval are dropped, the next one is analysed") {
        val before = adapter.analysed
        now += 50
        assertTrue(adapter.onFrame(good, ViewPort(1280, 720)) == null, "dropped")
        now += 60
        val o = adapter.onFrame(good, ViewPort(1280, 720))!!
        assertEq(adapter.analysed, before + 1, "one analysed")
        assertEq(o.announcement, null, "the same hint is not said again")
    }
    check("preview: a dim lamp gets the gate's reason in the user's words, and is announced") {
        now += 200
        val o = adapter.onFrame(dark, ViewPort(1280, 720))!!
        assertTrue(!o.ready, "not ready")
        assertEq(o.hint, s.get(Str.ISSUE_TOO_DARK), "hint is the catalogue's too_dark")
        assertEq(o.announcement, o.hint, "announced because it changed")
        assertEq(o.checks.first().ok, false, "light needs fixing")
        assertEq(o.checks.first().text, s.get(Str.GUIDE_CHECK_FIX, s.get(Str.GUIDE_LIGHT)), "in words")
    }
    check("preview: the circle follows the rotation onto a portrait screen (FILL_CENTER)") {
        now += 200
        val rotated = object : CameraFrame by good {
            override val rotationDegrees = 90
        }
        val o = adapter.onFrame(rotated, portrait)!!
        val f = o.guidance!!.fov!!
        // Upright, the 1280x720 frame is 720x1280; filling 1080x2400 scales by 1.875 and crops the sides.
        val k = maxOf(1080 / 720.0, 2400 / 1280.0)
        assertEq(
            FrameAdapter.toView(Circle(0.0, 0.0, 1.0), rotated, portrait).cx,
            (1080 - 720 * k) / 2 + 720 * k,
            "frame origin at the top right",
        )
        val c = o.circle!!
        assertTrue(abs(c.cx - ((1080 - 720 * k) / 2 + (720 - f.cy) * k)) < 1e-6 && abs(c.cy - f.cx * k) < 1e-6, "mapped $f to $c")
        assertTrue(abs(c.r - f.r * k) < 1e-6, "radius scaled")
    }
    check("preview: a frame whose planes do not fit is a hint, not a crash") {
        now += 200
        val broken = object : CameraFrame by good {
            override val planes =
                good.planes.take(1) + good.planes.drop(1).map { FramePlane(it.buffer.slice(0, 10), it.rowStride, it.pixelStride) }
        }
        val o = adapter.onFrame(broken, ViewPort(1280, 720))!!
        assertEq(o.hint, s.get(Str.GUIDE_FRAME_ERROR), "hint")
        assertTrue(o.circle == null && !o.ready, "nothing drawn")
    }
    check("preview: guidance JSON that is not understood is refused plainly") {
        val e = runCatching { Guidance.parse("{\"ready\":true}") }.exceptionOrNull()
        assertTrue(e is IllegalArgumentException, "refused: $e")
    }
    check("shutter: one photo at a time; a held volume key and a double press take one") {
        var t = 0L
        val sh = Shutter(debounceMs = 700, clockMs = { t })
        assertTrue(sh.press(Shutter.Source.VOLUME_KEY), "first press")
        assertTrue(!sh.press(Shutter.Source.SCREEN), "busy while analysing")
        sh.done()
        t += 100
        assertTrue(!sh.press(Shutter.Source.SCREEN), "a bounce within 700 ms")
        t += 700
        assertTrue(!sh.press(Shutter.Source.VOLUME_KEY, keyRepeat = 3), "a held key's repeat")
        assertTrue(sh.press(Shutter.Source.VOLUME_KEY), "a new press")
    }
    guide.close()
}
