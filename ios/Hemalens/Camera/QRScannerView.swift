import AVFoundation
import SwiftUI
import UIKit

/// Reads one QR code with the back camera (a hospital's card) and hands its
/// text on once. Its own short capture session: it runs only while the
/// enrolment sheet shows it.
struct QRScannerView: UIViewRepresentable {
    let onCode: (String) -> Void

    final class Coordinator: NSObject, AVCaptureMetadataOutputObjectsDelegate {
        let session = AVCaptureSession()
        let queue = DispatchQueue(label: "org.hemalens.qr")
        var onCode: (String) -> Void
        private var done = false

        init(_ onCode: @escaping (String) -> Void) {
            self.onCode = onCode
        }

        func configure() {
            queue.async {
                self.session.beginConfiguration()
                if let device = AVCaptureDevice.default(.builtInWideAngleCamera, for: .video, position: .back),
                   let input = try? AVCaptureDeviceInput(device: device),
                   self.session.canAddInput(input) {
                    self.session.addInput(input)
                    let output = AVCaptureMetadataOutput()
                    if self.session.canAddOutput(output) {
                        self.session.addOutput(output)
                        output.setMetadataObjectsDelegate(self, queue: .main)
                        output.metadataObjectTypes = [.qr]
                    }
                }
                self.session.commitConfiguration()
                self.session.startRunning()
            }
        }

        func stop() {
            queue.async {
                self.session.stopRunning()
            }
        }

        func metadataOutput(_ output: AVCaptureMetadataOutput, didOutput objects: [AVMetadataObject], from connection: AVCaptureConnection) {
            guard !done,
                  let code = objects.compactMap({ $0 as? AVMetadataMachineReadableCodeObject }).first?.stringValue else {
                return
            }
            done = true
            stop()
            onCode(code)
        }
    }

    final class PreviewView: UIView {
        override class var layerClass: AnyClass {
            AVCaptureVideoPreviewLayer.self
        }
    }

    func makeCoordinator() -> Coordinator {
        Coordinator(onCode)
    }

    func makeUIView(context: Context) -> PreviewView {
        let view = PreviewView()
        if let layer = view.layer as? AVCaptureVideoPreviewLayer {
            layer.session = context.coordinator.session
            layer.videoGravity = .resizeAspectFill
        }
        view.accessibilityElementsHidden = true
        context.coordinator.configure()
        return view
    }

    func updateUIView(_ view: PreviewView, context: Context) {
        context.coordinator.onCode = onCode
    }

    static func dismantleUIView(_ view: PreviewView, coordinator: Coordinator) {
        coordinator.stop()
    }
}
