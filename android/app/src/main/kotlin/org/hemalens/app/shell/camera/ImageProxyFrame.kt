package org.hemalens.app.shell.camera

import androidx.camera.core.ImageProxy
import org.hemalens.app.CameraFrame
import org.hemalens.app.FramePlane

/** A CameraX `YUV_420_888` analysis frame as android/logic's [CameraFrame]; valid until the proxy is closed. */
class ImageProxyFrame(image: ImageProxy) : CameraFrame {
    override val width: Int = image.width
    override val height: Int = image.height
    override val rotationDegrees: Int = image.imageInfo.rotationDegrees
    override val planes: List<FramePlane> = image.planes.map { FramePlane(it.buffer, it.rowStride, it.pixelStride) }
}
