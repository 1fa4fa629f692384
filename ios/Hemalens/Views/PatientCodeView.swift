import HemalensLogic
import SwiftUI

/// A new screening: a pseudonymous patient code (letters, digits, dashes;
/// never a name: the flow refuses anything else with the catalogue's sentence).
struct PatientCodeView: View {
    @EnvironmentObject private var model: AppModel
    let error: String?
    @State private var code = ""
    @State private var showHistory = false
    @State private var showHospitals = false

    var body: some View {
        let c = model.catalogue
        Form {
            Section {
                LabelledField(label: c.ui(.uiPatientCodeLabel), text: $code, error: error)
                    .textInputAutocapitalization(.characters)
                    .submitLabel(.go)
                    .onSubmit { start() }
                Text(c.ui(.uiPatientCodeHelp))
                    .font(.callout)
                    .fixedSize(horizontal: false, vertical: true)
                WideButton(title: c.ui(.uiStart), systemImage: "camera.fill") {
                    start()
                }
                .disabled(code.trimmingCharacters(in: .whitespaces).isEmpty || model.busy)
            }
        }
        .navigationTitle(c.ui(.uiPatientTitle))
        .toolbar {
            ToolbarItem(placement: .primaryAction) {
                Button {
                    showHistory = true
                } label: {
                    Label(c.ui(.uiHistoryTitle), systemImage: "clock.arrow.circlepath")
                }
                .accessibilityLabel(c.ui(.uiHistoryTitle))
            }
            ToolbarItem(placement: .secondaryAction) {
                Button {
                    showHospitals = true
                } label: {
                    Label(c.ui(.uiHospitalTitle), systemImage: "building.2")
                }
                .accessibilityLabel(c.ui(.uiHospitalTitle))
            }
        }
        .navigationDestination(isPresented: $showHistory) {
            HistoryView()
        }
        .sheet(isPresented: $showHospitals) {
            EnrolView()
        }
    }

    private func start() {
        let entered = code
        Task {
            await model.startScreening(entered)
            if case .capturing = model.state {
                code = ""
            }
        }
    }
}
