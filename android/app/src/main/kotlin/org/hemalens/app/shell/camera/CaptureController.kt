package org.hemalens.app.shell.camera

import android.content.Context
import android.util.Size
import androidx.camera.core.CameraSelector
import androidx.camera.core.ImageAnalysis
import androidx.camera.core.ImageCapture
import androidx.camera.core.ImageCaptureException
import androidx.camera.core.ImageProxy
import androidx.camera.core.Preview
import androidx.camera.core.resolutionselector.AspectRatioStrategy
import androidx.camera.core.resolutionselector.ResolutionSelector
import androidx.camera.core.resolutionselector.ResolutionStrategy
import androidx.camera.lifecycle.ProcessCameraProvider
import androidx.camera.view.PreviewView
import androidx.core.content.ContextCompat
import androidx.lifecycle.LifecycleOwner
import org.hemalens.app.FrameAdapter
import org.hemalens.app.GuideOverlay
import org.hemalens.app.Strings
import org.hemalens.app.ViewPort
import org.hemalens.camera.PreviewGuide
import java.util.concurrent.Executors

/**
 * The capture screen's camera: CameraX Preview (drawn by a `PreviewView`,
 * FILL_CENTER), ImageAnalysis frames (YUV_420_888, only the latest kept) fed
 * through android/logic's [FrameAdapter] to the core's JNI [PreviewGuide],
 * and ImageCapture JPEG photos. All three at 4:3 so the analysis frame is the
 * picture the preview shows. Flash off: the light is the microscope's.
 */
class CaptureController(
    private val context: Context,
    strings: Strings,
    private val onOverlay: (GuideOverlay) -> Unit,
    private val onCameraError: () -> Unit,
) : AutoCloseable {
    private val analysisThread = Executors.newSingleThreadExecutor()
    private val guide = PreviewGuide()
    private val adapter = FrameAdapter({ w, h, y, ys, u, v, cs, cp -> guide.analyze(w, h, y, ys, u, v, cs, cp) }, strings)
    private val fourByThree = ResolutionSelector.Builder()
        .setAspectRatioStrategy(AspectRatioStrategy.RATIO_4_3_FALLBACK_AUTO_STRATEGY)
        .build()

    /** The preview's size in pixels (set by the screen's layout; read on the analysis thread). */
    @Volatile
    var viewPort = ViewPort(1, 1)

    @Volatile
    private var closed = false
    private var provider: ProcessCameraProvider? = null

    private val preview = Preview.Builder().setResolutionSelector(fourByThree).build()

    private val analysis = ImageAnalysis.Builder()
        .setResolutionSelector(
            ResolutionSelector.Builder()
                .setAspectRatioStrategy(AspectRatioStrategy.RATIO_4_3_FALLBACK_AUTO_STRATEGY)
                .setResolutionStrategy(ResolutionStrategy(Size(640, 480), ResolutionStrategy.FALLBACK_RULE_CLOSEST_HIGHER_THEN_LOWER))
                .build(),
        )
        .setBackpressureStrategy(ImageAnalysis.STRATEGY_KEEP_ONLY_LATEST)
        .setOutputImageFormat(ImageAnalysis.OUTPUT_IMAGE_FORMAT_YUV_420_888)
        .build()

    private val capture = ImageCapture.Builder()
        .setResolutionSelector(fourByThree)
        .setCaptureMode(ImageCapture.CAPTURE_MODE_MAXIMIZE_QUALITY)
        .setFlashMode(ImageCapture.FLASH_MODE_OFF)
        .build()

    init {
        analysis.setAnalyzer(analysisThread) { image ->
            // The guide reads the planes in place: analyse, then close (CameraX sends the next frame only then).
            image.use { frame -> adapter.onFrame(ImageProxyFrame(frame), viewPort)?.let(onOverlay) }
        }
    }

    /** Binds the back camera to [owner]'s lifecycle, the preview drawn in [view]. */
    fun bind(owner: LifecycleOwner, view: PreviewView) {
        val future = ProcessCameraProvider.getInstance(context)
        future.addListener(
            {
                if (closed) return@addListener
                try {
                    val p = future.get()
                    preview.setSurfaceProvider(view.surfaceProvider)
                    p.unbindAll()
                    p.bindToLifecycle(owner, CameraSelector.DEFAULT_BACK_CAMERA, preview, analysis, capture)
                    provider = p
                } catch (e: Exception) {
                    // No back camera, the camera in use by another app, or CameraX could not start.
                    onCameraError()
                }
            },
            ContextCompat.getMainExecutor(context),
        )
    }

    /** One JPEG photo; [onPhoto] gets the open proxy (its plane 0 is a direct buffer) and must close it. */
    fun takePhoto(onPhoto: (ImageProxy) -> Unit, onFailure: () -> Unit) {
        capture.takePicture(
            ContextCompat.getMainExecutor(context),
            object : ImageCapture.OnImageCapturedCallback() {
                override fun onCaptureSuccess(image: ImageProxy) = onPhoto(image)

                override fun onError(exception: ImageCaptureException) = onFailure()
            },
        )
    }

    override fun close() {
        closed = true
        provider?.unbind(preview, analysis, capture)
        analysis.clearAnalyzer()
        // After any frame still being analysed, on the same thread.
        analysisThread.execute { guide.close() }
        analysisThread.shutdown()
    }
}
