package org.hemalens.app.shell.camera

import android.content.Context
import androidx.camera.core.CameraSelector
import androidx.camera.core.ImageAnalysis
import androidx.camera.core.ImageProxy
import androidx.camera.core.Preview
import androidx.camera.lifecycle.ProcessCameraProvider
import androidx.camera.view.PreviewView
import androidx.core.content.ContextCompat
import androidx.lifecycle.LifecycleOwner
import com.google.zxing.BarcodeFormat
import com.google.zxing.BinaryBitmap
import com.google.zxing.DecodeHintType
import com.google.zxing.PlanarYUVLuminanceSource
import com.google.zxing.ReaderException
import com.google.zxing.common.HybridBinarizer
import com.google.zxing.qrcode.QRCodeReader
import java.util.concurrent.Executors

/**
 * Reads a QR code (the hospital's card) from camera frames, offline (ZXing).
 * Hands the text over once, on the main thread; what it means is
 * android/logic's `HospitalCard` (through `ScreeningFlow.enrol`).
 */
class QrScanner(private val context: Context, private val onText: (String) -> Unit) : AutoCloseable {
    private val thread = Executors.newSingleThreadExecutor()
    private val reader = QRCodeReader()
    private val hints = mapOf(DecodeHintType.POSSIBLE_FORMATS to listOf(BarcodeFormat.QR_CODE))
    private val preview = Preview.Builder().build()
    private val analysis = ImageAnalysis.Builder()
        .setBackpressureStrategy(ImageAnalysis.STRATEGY_KEEP_ONLY_LATEST)
        .setOutputImageFormat(ImageAnalysis.OUTPUT_IMAGE_FORMAT_YUV_420_888)
        .build()
    private var provider: ProcessCameraProvider? = null

    @Volatile
    private var done = false

    init {
        analysis.setAnalyzer(thread) { image -> image.use { decode(it) } }
    }

    private fun decode(image: ImageProxy) {
        if (done) return
        val plane = image.planes[0]
        val luma = ByteArray(plane.buffer.remaining()).also { plane.buffer.get(it) }
        val rows = (luma.size + plane.rowStride - 1) / plane.rowStride
        val source = PlanarYUVLuminanceSource(luma, plane.rowStride, rows, 0, 0, image.width, image.height, false)
        val text = try {
            reader.decode(BinaryBitmap(HybridBinarizer(source)), hints).text
        } catch (e: ReaderException) {
            null
        } finally {
            reader.reset()
        }
        if (text != null && !done) {
            done = true
            ContextCompat.getMainExecutor(context).execute { onText(text) }
        }
    }

    fun bind(owner: LifecycleOwner, view: PreviewView, onCameraError: () -> Unit) {
        val future = ProcessCameraProvider.getInstance(context)
        future.addListener(
            {
                try {
                    val p = future.get()
                    preview.setSurfaceProvider(view.surfaceProvider)
                    p.unbindAll()
                    p.bindToLifecycle(owner, CameraSelector.DEFAULT_BACK_CAMERA, preview, analysis)
                    provider = p
                } catch (e: Exception) {
                    onCameraError()
                }
            },
            ContextCompat.getMainExecutor(context),
        )
    }

    override fun close() {
        done = true
        provider?.unbind(preview, analysis)
        analysis.clearAnalyzer()
        thread.shutdown()
    }
}
