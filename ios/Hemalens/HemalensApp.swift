import HemalensLogic
import SwiftUI

/// The iOS shell of Hemalens. Thin: every decision, measurement and record is
/// the Rust core's (through `ScreeningFlow`, HemalensLogic); the app captures,
/// guides, shows and shares. Offline first: nothing in a screening needs a
/// network; shared cases wait in the core's outbox for `OutboxTask`.
@main
struct HemalensApp: App {
    @StateObject private var model = AppModel(core: AppCore.shared)
    @Environment(\.scenePhase) private var phase

    init() {
        // Before the app finishes launching, as BGTaskScheduler requires.
        OutboxTask.register(core: AppCore.shared)
        _ = LinkMonitor.shared
    }

    var body: some Scene {
        WindowGroup {
            RootView()
                .environmentObject(model)
                .environment(\.locale, Locale(identifier: model.catalogue.language))
                .task { await model.start() }
        }
        .onChange(of: phase) { p in
            if p == .background {
                OutboxTask.schedule()
            }
        }
    }
}

/// One screen per flow state, in a navigation stack (titles, toolbars).
struct RootView: View {
    @EnvironmentObject private var model: AppModel

    var body: some View {
        let c = model.catalogue
        NavigationStack {
            Group {
                if !model.started {
                    VStack(spacing: 16) {
                        ProgressView()
                        Text(c.ui(.appName)).font(.largeTitle.bold())
                        Text(c.ui(.uiWorking))
                    }
                    .accessibilityElement(children: .combine)
                    .accessibilityLabel(c.ui(.uiWorking))
                } else {
                    screen
                }
            }
        }
        .overlay(alignment: .bottom) {
            if model.busy && model.started {
                Label(c.ui(.uiWorking), systemImage: "hourglass")
                    .padding(10)
                    .background(.thinMaterial, in: Capsule())
                    .padding(.bottom, 24)
                    .accessibilityLabel(c.ui(.uiWorking))
            }
        }
        .alert(
            model.failure ?? "",
            isPresented: Binding(get: { model.failure != nil }, set: { if !$0 { model.failure = nil } })
        ) {
            Button(c.ui(.uiClose)) { model.failure = nil }
                .accessibilityLabel(c.ui(.uiClose))
        }
        .sheet(isPresented: $model.offerEnrolment) {
            EnrolView()
        }
    }

    @ViewBuilder
    private var screen: some View {
        switch model.state {
        case .firstRun(let error):
            FirstRunView(error: error)
        case .patientCode(let error):
            PatientCodeView(error: error)
        case .capturing(let capturing):
            CaptureView(capturing: capturing)
        case .result(let finished):
            ResultView(finished: finished)
        case .review(let finished):
            ReviewView(finished: finished)
        case .sharing(let sharing):
            ShareView(sharing: sharing)
        }
    }
}
