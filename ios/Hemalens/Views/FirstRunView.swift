import CoreImage
import HemalensBindings
import HemalensLogic
import SwiftUI

/// The first run: the language (each in its own name), the health site and
/// the staff code. Completing it opens the records store, whose key and the
/// device's signing seed the Keychain makes then; the hospital page is
/// offered next (`EnrolView`, optional).
struct FirstRunView: View {
    @EnvironmentObject private var model: AppModel
    let error: String?
    @State private var site = ""
    @State private var staffCode = ""

    var body: some View {
        let c = model.catalogue
        Form {
            Section {
                LanguagePicker(label: c.ui(.uiLanguageLabel), selected: model.catalogue.language) {
                    model.chooseLanguage($0)
                }
            } header: {
                Text(c.ui(.uiLanguageLabel))
            }
            Section {
                LabelledField(label: c.ui(.uiSiteLabel), text: $site)
                LabelledField(label: c.ui(.uiOperatorLabel), text: $staffCode, error: error)
                Label(c.ui(.uiFirstRunKeyNote), systemImage: "lock.fill")
                    .font(.callout)
                    .fixedSize(horizontal: false, vertical: true)
            }
            Section {
                WideButton(title: c.ui(.uiContinue), systemImage: "arrow.right.circle.fill") {
                    Task { await model.completeFirstRun(site: site, staffCode: staffCode) }
                }
                .disabled(model.busy)
            }
        }
        .navigationTitle(c.ui(.uiFirstRunTitle))
    }
}

/// The hospital page, optional and offline until used: the hospital's card
/// (a QR code, or its text pasted) is enrolled here, and this phone's id and
/// public key are shown (as text and as a QR code) for the hospital to enrol.
/// The app's language can be changed here after the first run.
struct EnrolView: View {
    @EnvironmentObject private var model: AppModel
    @Environment(\.dismiss) private var dismiss
    @State private var card = ""
    @State private var message: String?
    @State private var scanning = false

    var body: some View {
        let c = model.catalogue
        NavigationStack {
            Form {
                Section {
                    Text(c.ui(.uiHospitalIntro)).fixedSize(horizontal: false, vertical: true)
                    WideButton(title: c.ui(.uiScanCard), systemImage: "qrcode.viewfinder", prominent: false) {
                        scanning = true
                    }
                    LabelledField(label: c.ui(.uiCardLabel), text: $card)
                    WideButton(title: c.ui(.uiAddHospital), systemImage: "plus.circle.fill") {
                        Task { await add(card) }
                    }
                    .disabled(card.trimmingCharacters(in: .whitespaces).isEmpty || model.busy)
                    if let message = message {
                        Text(message)
                            .fixedSize(horizontal: false, vertical: true)
                            .accessibilityAddTraits(.updatesFrequently)
                    }
                }
                Section {
                    if model.hospitals.isEmpty {
                        Text(c.ui(.uiNoHospitals))
                    }
                    ForEach(model.hospitals, id: \.name) { h in
                        Label(h.name, systemImage: "building.2.fill")
                            .accessibilityLabel(h.name)
                    }
                } header: {
                    Text(c.ui(.uiHospitalsOnPhone))
                }
                if let key = model.deviceKey {
                    Section {
                        Text(c.ui(.uiDeviceExplain)).fixedSize(horizontal: false, vertical: true)
                        Text(c.ui(.uiDeviceId, key.deviceId))
                            .font(.body.monospaced())
                            .textSelection(.enabled)
                        Text(c.ui(.uiDevicePublicKey, key.publicKey))
                            .font(.footnote.monospaced())
                            .textSelection(.enabled)
                        if let qr = QRCode.image("\(key.deviceId)\n\(key.publicKey)") {
                            Image(uiImage: qr)
                                .interpolation(.none)
                                .resizable()
                                .scaledToFit()
                                .frame(maxWidth: 240)
                                .accessibilityLabel(c.ui(.uiDeviceId, key.deviceId))
                        }
                        Button {
                            UIPasteboard.general.string = "\(key.deviceId)\n\(key.publicKey)"
                        } label: {
                            Label(c.ui(.uiCopy), systemImage: "doc.on.doc")
                        }
                        .accessibilityLabel(c.ui(.uiCopy))
                    } header: {
                        Text(c.ui(.uiDeviceTitle))
                    }
                }
                Section {
                    LanguagePicker(label: c.ui(.uiLanguageLabel), selected: model.catalogue.language) { tag in
                        Task { await model.changeLanguage(tag) }
                    }
                    .disabled(model.busy)
                } header: {
                    Text(c.ui(.uiLanguageLabel))
                }
            }
            .navigationTitle(c.ui(.uiHospitalTitle))
            .toolbar {
                ToolbarItem(placement: .cancellationAction) {
                    Button(c.ui(.uiClose)) { dismiss() }
                        .accessibilityLabel(c.ui(.uiClose))
                }
            }
            .sheet(isPresented: $scanning) {
                NavigationStack {
                    QRScannerView { text in
                        scanning = false
                        card = text
                        Task { await add(text) }
                    }
                    .ignoresSafeArea(edges: .bottom)
                    .accessibilityLabel(c.ui(.uiScanTitle))
                    .navigationTitle(c.ui(.uiScanTitle))
                    .navigationBarTitleDisplayMode(.inline)
                    .toolbar {
                        ToolbarItem(placement: .cancellationAction) {
                            Button(c.ui(.uiCancel)) { scanning = false }
                                .accessibilityLabel(c.ui(.uiCancel))
                        }
                    }
                }
            }
            .task { await model.refreshHospitals() }
        }
    }

    private func add(_ text: String) async {
        guard let result = await model.enrol(card: text) else {
            return
        }
        message = result.message
        if result.added {
            card = ""
        }
    }
}

/// A QR code image (CoreImage), for this phone's id and key.
enum QRCode {
    static func image(_ text: String) -> UIImage? {
        guard let filter = CIFilter(name: "CIQRCodeGenerator") else {
            return nil
        }
        filter.setValue(Data(text.utf8), forKey: "inputMessage")
        filter.setValue("M", forKey: "inputCorrectionLevel")
        guard let out = filter.outputImage?.transformed(by: CGAffineTransform(scaleX: 8, y: 8)),
              let cg = CIContext().createCGImage(out, from: out.extent) else {
            return nil
        }
        return UIImage(cgImage: cg)
    }
}

/// The app's languages, each named in its own words (the first run and the Hospital page).
struct LanguagePicker: View {
    let label: String
    let selected: String
    let choose: (String) -> Void

    var body: some View {
        Picker(label, selection: Binding(get: { selected }, set: choose)) {
            ForEach(languages, id: \.tag) { lang in
                Text(lang.name)
                    .environment(\.locale, Locale(identifier: lang.tag))
                    .accessibilityLabel(lang.name)
                    .tag(lang.tag)
            }
        }
        .pickerStyle(.inline)
        .accessibilityLabel(label)
    }
}
