import CoreVideo
import Foundation
import HemalensLogic

/// AVFoundation's preview frame as the logic's `CameraFrame`: the two planes
/// of a bi-planar 4:2:0 full-range `CVPixelBuffer`
/// (`kCVPixelFormatType_420YpCbCr8BiPlanarFullRange`, what `CameraController`
/// asks the video data output for) copied into `Data` while the buffer is
/// locked read-only, so the buffer goes back to the camera's pool at once.
enum PixelBufferFrame {
    /// nil for a buffer of another format.
    static func make(_ buffer: CVPixelBuffer, rotationDegrees: Int) -> BiPlanarFrame? {
        guard CVPixelBufferGetPixelFormatType(buffer) == kCVPixelFormatType_420YpCbCr8BiPlanarFullRange,
              CVPixelBufferGetPlaneCount(buffer) == 2 else {
            return nil
        }
        guard CVPixelBufferLockBaseAddress(buffer, .readOnly) == kCVReturnSuccess else {
            return nil
        }
        defer { CVPixelBufferUnlockBaseAddress(buffer, .readOnly) }
        guard let yBase = CVPixelBufferGetBaseAddressOfPlane(buffer, 0),
              let cBase = CVPixelBufferGetBaseAddressOfPlane(buffer, 1) else {
            return nil
        }
        let yStride = CVPixelBufferGetBytesPerRowOfPlane(buffer, 0)
        let cStride = CVPixelBufferGetBytesPerRowOfPlane(buffer, 1)
        let y = Data(bytes: yBase, count: yStride * CVPixelBufferGetHeightOfPlane(buffer, 0))
        let cbcr = Data(bytes: cBase, count: cStride * CVPixelBufferGetHeightOfPlane(buffer, 1))
        return BiPlanarFrame(
            width: CVPixelBufferGetWidth(buffer),
            height: CVPixelBufferGetHeight(buffer),
            rotationDegrees: rotationDegrees,
            y: y,
            yRowStride: yStride,
            cbcr: cbcr,
            cbcrRowStride: cStride
        )
    }
}
