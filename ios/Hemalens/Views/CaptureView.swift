import HemalensBindings
import HemalensLogic
import SwiftUI
import UIKit

/// The camera at the eyepiece: the live guidance drawn over the preview (the
/// eyepiece circle, one sentence of what to do, the checklist in words), the
/// shutter on screen and on the volume buttons, each photo's verdict as soon
/// as the core has analysed it, and the progress bar to the cell target.
struct CaptureView: View {
    @EnvironmentObject private var model: AppModel
    let capturing: FlowState.Capturing
    @StateObject private var camera = CameraController()
    @Environment(\.dynamicTypeSize) private var typeSize
    @Environment(\.openURL) private var openURL

    var body: some View {
        let c = model.catalogue
        GeometryReader { outer in
            VStack(spacing: 0) {
                preview
                    .frame(height: outer.size.height * (typeSize.isAccessibilitySize ? 0.35 : 0.5))
                    .clipped()
                ScrollView {
                    controls.padding()
                }
            }
        }
        .navigationTitle(c.ui(.uiCaptureTitle, capturing.patient))
        .navigationBarTitleDisplayMode(.inline)
        .navigationBarBackButtonHidden(true)
        .task { await camera.start(strings: model.core.strings) }
        .onChange(of: camera.failed) { failed in
            if failed {
                model.cameraFailed()
            }
        }
        .onDisappear { camera.stop() }
        .onChange(of: capturing.verdicts.count) { _ in
            if let last = capturing.verdicts.last {
                UIAccessibility.post(notification: .announcement, argument: last.text)
            }
        }
    }

    // MARK: the preview and the guide over it

    @ViewBuilder
    private var preview: some View {
        let c = model.catalogue
        switch camera.access {
        case .denied:
            VStack(spacing: 16) {
                Label(c.ui(.uiCameraPermission), systemImage: "camera.fill")
                    .font(.title3)
                    .fixedSize(horizontal: false, vertical: true)
                // Once refused, iOS asks no more: the camera is allowed in Settings.
                Button(c.ui(.uiCameraAllow)) {
                    if let url = URL(string: UIApplication.openSettingsURLString) {
                        openURL(url)
                    }
                }
                .buttonStyle(.borderedProminent)
                .accessibilityLabel(c.ui(.uiCameraAllow))
            }
            .padding()
            .frame(maxWidth: .infinity, maxHeight: .infinity)
        default:
            GeometryReader { g in
                ZStack(alignment: .top) {
                    CameraPreview(session: camera.session) { shoot(.volumeKey) }
                        .accessibilityElement()
                        .accessibilityLabel(c.ui(.uiPreviewDescription))
                    if let overlay = camera.overlay, let circle = overlay.circle {
                        EyepieceRing(circle: circle, ready: overlay.ready)
                    }
                    if let overlay = camera.overlay {
                        Label(overlay.hint, systemImage: overlay.ready ? "checkmark.circle.fill" : "hand.point.up.left.fill")
                            .font(.headline)
                            .padding(10)
                            .background(.thinMaterial, in: RoundedRectangle(cornerRadius: 10))
                            .padding(8)
                            .fixedSize(horizontal: false, vertical: true)
                            .accessibilityElement(children: .ignore)
                            .accessibilityLabel(overlay.hint)
                    }
                }
                .onAppear { camera.setViewSize(g.size) }
                .onChange(of: g.size) { camera.setViewSize($0) }
            }
        }
    }

    // MARK: below the preview

    private var controls: some View {
        let c = model.catalogue
        let p = capturing.progress
        return VStack(alignment: .leading, spacing: 14) {
            if let overlay = camera.overlay {
                ForEach(overlay.checks, id: \.text) { check in
                    Label {
                        Text(check.text)
                    } icon: {
                        Image(systemName: check.ok ? "checkmark.circle.fill" : "exclamationmark.triangle.fill")
                            .foregroundColor(check.ok ? .green : .orange)
                    }
                    .accessibilityElement(children: .ignore)
                    .accessibilityLabel(check.text)
                }
            }
            shutterRow
            if let last = capturing.verdicts.last {
                VerdictRow(verdict: last)
                    .font(.title3)
            }
            VStack(alignment: .leading, spacing: 6) {
                ProgressView(value: p.fraction)
                    .progressViewStyle(.linear)
                    .accessibilityLabel(p.cellsText)
                    .accessibilityValue(c.get(.percent, Int((p.fraction * 100).rounded())))
                Text(p.cellsText).font(.headline)
                Text(p.fieldsText).font(.subheadline)
                Text(p.nextStep)
                    .font(.body)
                    .fixedSize(horizontal: false, vertical: true)
            }
            .accessibilityElement(children: .combine)
            WideButton(title: c.ui(.uiFinish), systemImage: "flag.checkered", prominent: p.enough) {
                Task { await model.finish() }
            }
            .disabled(model.busy || capturing.verdicts.allSatisfy { $0.number == nil })
            if capturing.verdicts.count > 1 {
                Text(c.ui(.uiPhotos)).font(.headline).accessibilityAddTraits(.isHeader)
                ForEach(Array(capturing.verdicts.dropLast().reversed().enumerated()), id: \.offset) { _, v in
                    VerdictRow(verdict: v)
                }
            }
        }
    }

    private var shutterRow: some View {
        let c = model.catalogue
        return Button {
            shoot(.screen)
        } label: {
            Label(c.ui(.uiShutter), systemImage: "camera.circle.fill")
                .font(.title2.bold())
                .frame(maxWidth: .infinity, minHeight: 64)
        }
        .buttonStyle(.borderedProminent)
        .disabled(camera.access != .granted || model.busy)
        .accessibilityLabel(c.ui(.uiShutter))
        .accessibilityHint(c.ui(.uiShutterHint))
    }

    /// One photo at a time: the shutter opens again when the verdict is in.
    private func shoot(_ source: Shutter.Source) {
        guard camera.access == .granted, model.shutter.press(source) else {
            return
        }
        UIImpactFeedbackGenerator(style: .medium).impactOccurred()
        camera.takePhoto { data in
            guard let data = data else {
                model.photoFailed()
                return
            }
            Task { await model.addPhoto(data) }
        }
    }
}

/// The eyepiece circle where the guide found it: solid when the frame is
/// ready, dashed while something needs fixing (the shape says it, not only
/// the colour).
struct EyepieceRing: View {
    let circle: GuideCircle
    let ready: Bool

    var body: some View {
        Path { path in
            path.addEllipse(in: CGRect(
                x: circle.cx - circle.r, y: circle.cy - circle.r, width: 2 * circle.r, height: 2 * circle.r
            ))
        }
        .stroke(ready ? Color.green : Color.orange, style: StrokeStyle(lineWidth: 4, dash: ready ? [] : [12, 8]))
        .accessibilityHidden(true)
    }
}
