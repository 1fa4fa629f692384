import AVFoundation
import AVKit
import Combine
import HemalensBindings
import HemalensLogic
import SwiftUI
import UIKit

/// The back camera held at the eyepiece: a preview, every preview frame
/// offered to the core's guide (`FrameAdapter` over `FrameGuide`), and JPEG
/// photos for the screening. The app's screens are portrait, so the back
/// camera's sensor frames turn 90 degrees clockwise to show upright.
final class CameraController: NSObject, ObservableObject {
    enum Access {
        case unknown
        case granted
        case denied
    }

    @Published private(set) var access: Access = .unknown
    /// The guidance drawn over the preview (main thread).
    @Published private(set) var overlay: GuideOverlay?
    /// The camera could not be started (another app holds it, no back camera).
    @Published private(set) var failed = false

    let session = AVCaptureSession()
    private let sessionQueue = DispatchQueue(label: "org.hemalens.camera")
    private let frameQueue = DispatchQueue(label: "org.hemalens.frames", qos: .userInitiated)
    private let video = AVCaptureVideoDataOutput()
    private let photo = AVCapturePhotoOutput()
    private let rotationDegrees = 90
    /// Set once before the session runs; then read on `frameQueue` only.
    private var adapter: FrameAdapter?
    private let viewLock = NSLock()
    private var viewPort = ViewPort(width: 1, height: 1)
    /// On `sessionQueue` only.
    private var photoDone: ((Data?) -> Void)?
    private var configured = false

    /// Asks for the camera once, then starts the preview with the guide.
    @MainActor
    func start(strings: Strings) async {
        var granted = AVCaptureDevice.authorizationStatus(for: .video) == .authorized
        if AVCaptureDevice.authorizationStatus(for: .video) == .notDetermined {
            granted = await AVCaptureDevice.requestAccess(for: .video)
        }
        guard granted else {
            access = .denied
            return
        }
        access = .granted
        if adapter == nil {
            // 480 px on the long side and the red-cell scale every 15th frame: the JNI path's defaults.
            adapter = (try? FrameGuide(longSide: 480, rescaleEvery: 15)).map { FrameAdapter(analyzer: $0, strings: strings) }
        }
        sessionQueue.async {
            if !self.configured {
                self.configure()
            }
            if self.configured && !self.session.isRunning {
                self.session.startRunning()
            }
            let ok = self.configured && self.session.isRunning
            DispatchQueue.main.async { self.failed = !ok }
        }
    }

    func stop() {
        sessionQueue.async {
            if self.session.isRunning {
                self.session.stopRunning()
            }
        }
    }

    /// The preview's size in points (the guide's circle is mapped onto it).
    func setViewSize(_ size: CGSize) {
        viewLock.lock()
        viewPort = ViewPort(width: Double(max(size.width, 1)), height: Double(max(size.height, 1)))
        viewLock.unlock()
    }

    private func currentViewPort() -> ViewPort {
        viewLock.lock()
        defer { viewLock.unlock() }
        return viewPort
    }

    /// On `sessionQueue`.
    private func configure() {
        session.beginConfiguration()
        defer { session.commitConfiguration() }
        // Preview frames of 1920x1080 (the guide reduces them to 480 px); photos at the format's largest size.
        session.sessionPreset = .hd1920x1080
        guard let device = AVCaptureDevice.default(.builtInWideAngleCamera, for: .video, position: .back),
              let input = try? AVCaptureDeviceInput(device: device),
              session.canAddInput(input) else {
            return
        }
        session.addInput(input)
        video.videoSettings = [kCVPixelBufferPixelFormatTypeKey as String: kCVPixelFormatType_420YpCbCr8BiPlanarFullRange]
        video.alwaysDiscardsLateVideoFrames = true
        video.setSampleBufferDelegate(self, queue: frameQueue)
        if session.canAddOutput(video) {
            session.addOutput(video)
        }
        if session.canAddOutput(photo) {
            session.addOutput(photo)
            if let largest = device.activeFormat.supportedMaxPhotoDimensions.max(by: { $0.width * $0.height < $1.width * $1.height }) {
                photo.maxPhotoDimensions = largest
            }
        }
        configured = true
    }

    /// One JPEG photo; `done` gets it on the main thread (nil when the camera failed).
    func takePhoto(_ done: @escaping (Data?) -> Void) {
        sessionQueue.async {
            guard self.session.isRunning, self.photoDone == nil else {
                DispatchQueue.main.async { done(nil) }
                return
            }
            let settings: AVCapturePhotoSettings
            if self.photo.availablePhotoCodecTypes.contains(.jpeg) {
                settings = AVCapturePhotoSettings(format: [AVVideoCodecKey: AVVideoCodecType.jpeg])
            } else {
                settings = AVCapturePhotoSettings()
            }
            settings.maxPhotoDimensions = self.photo.maxPhotoDimensions
            self.photoDone = done
            self.photo.capturePhoto(with: settings, delegate: self)
        }
    }
}

extension CameraController: AVCaptureVideoDataOutputSampleBufferDelegate {
    func captureOutput(_ output: AVCaptureOutput, didOutput sampleBuffer: CMSampleBuffer, from connection: AVCaptureConnection) {
        // Copy the planes only for the frames the guide takes (a few a second).
        guard let adapter = adapter, adapter.wantsFrame(),
              let buffer = CMSampleBufferGetImageBuffer(sampleBuffer),
              let frame = PixelBufferFrame.make(buffer, rotationDegrees: rotationDegrees),
              let o = adapter.onFrame(frame, view: currentViewPort()) else {
            return
        }
        DispatchQueue.main.async {
            self.overlay = o
            if let said = o.announcement {
                UIAccessibility.post(notification: .announcement, argument: said)
            }
        }
    }
}

extension CameraController: AVCapturePhotoCaptureDelegate {
    func photoOutput(_ output: AVCapturePhotoOutput, didFinishProcessingPhoto photo: AVCapturePhoto, error: Error?) {
        let data = error == nil ? photo.fileDataRepresentation() : nil
        sessionQueue.async {
            let done = self.photoDone
            self.photoDone = nil
            DispatchQueue.main.async { done?(data) }
        }
    }
}

/// The camera's preview, filling its frame (`resizeAspectFill`, as the
/// guide's circle mapping assumes). On iOS 17.2 and later the volume buttons
/// (and the Camera Control) are a shutter through `AVCaptureEventInteraction`;
/// before that iOS has no public way to read them, and the screen's shutter
/// button is the only one.
struct CameraPreview: UIViewRepresentable {
    let session: AVCaptureSession
    let onHardwareShutter: () -> Void

    final class Coordinator {
        var onHardwareShutter: () -> Void

        init(_ action: @escaping () -> Void) {
            onHardwareShutter = action
        }
    }

    final class PreviewView: UIView {
        override class var layerClass: AnyClass {
            AVCaptureVideoPreviewLayer.self
        }

        var videoLayer: AVCaptureVideoPreviewLayer {
            // swiftlint:disable:next force_cast
            layer as! AVCaptureVideoPreviewLayer
        }
    }

    func makeCoordinator() -> Coordinator {
        Coordinator(onHardwareShutter)
    }

    func makeUIView(context: Context) -> PreviewView {
        let view = PreviewView()
        view.videoLayer.session = session
        view.videoLayer.videoGravity = .resizeAspectFill
        // The preview is a picture: the guidance beside it speaks for it.
        view.isAccessibilityElement = false
        view.accessibilityElementsHidden = true
        if #available(iOS 17.2, *) {
            let coordinator = context.coordinator
            let interaction = AVCaptureEventInteraction { event in
                if event.phase == .ended {
                    coordinator.onHardwareShutter()
                }
            }
            view.addInteraction(interaction)
        }
        return view
    }

    func updateUIView(_ view: PreviewView, context: Context) {
        context.coordinator.onHardwareShutter = onHardwareShutter
    }
}
