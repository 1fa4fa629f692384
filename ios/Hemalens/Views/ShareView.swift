import HemalensLogic
import MessageUI
import SwiftUI

/// Sharing a finished screening: the report PDF and the FHIR file through
/// the system share sheet, the one-SMS summary through the Messages app, and
/// (when a hospital was chosen) the case's outbox: queued / sending n% /
/// delivered / refused, re-read while the screen shows.
struct ShareView: View {
    @EnvironmentObject private var model: AppModel
    let sharing: FlowState.Sharing
    @State private var pdfURL: URL?
    @State private var fhirURL: URL?
    @State private var composing = false

    var body: some View {
        let c = model.catalogue
        List {
            Section {
                if let url = pdfURL {
                    ShareLink(item: url) {
                        Label(c.ui(.uiSharePdf), systemImage: "doc.richtext")
                    }
                    .accessibilityLabel(c.ui(.uiSharePdf))
                }
                if let url = fhirURL {
                    ShareLink(item: url) {
                        Label(c.ui(.uiShareFhir), systemImage: "doc.text")
                    }
                    .accessibilityLabel(c.ui(.uiShareFhir))
                }
                if MFMessageComposeViewController.canSendText() {
                    Button {
                        composing = true
                    } label: {
                        Label(c.ui(.uiSendSms), systemImage: "message")
                    }
                    .accessibilityLabel(c.ui(.uiSendSms))
                } else {
                    Label(c.ui(.uiNoApp), systemImage: "message.badge")
                }
            }
            Section {
                Text(sharing.sms)
                    .font(.body.monospaced())
                    .textSelection(.enabled)
            } header: {
                Text(c.ui(.uiSmsText))
            }
            if !sharing.outbox.isEmpty {
                Section {
                    ForEach(sharing.outbox) { row in
                        OutboxRowView(row: row, text: c.ui(.uiOutboxRow, row.kind, row.text))
                    }
                    Button {
                        Task { await model.deliverNow() }
                    } label: {
                        Label(c.ui(.uiSendNow), systemImage: "paperplane")
                    }
                    .accessibilityLabel(c.ui(.uiSendNow))
                    Button {
                        Task { await model.refreshOutbox() }
                    } label: {
                        Label(c.ui(.uiRefresh), systemImage: "arrow.clockwise")
                    }
                    .accessibilityLabel(c.ui(.uiRefresh))
                } header: {
                    Text(c.ui(.uiOutbox))
                }
            }
            Section {
                WideButton(title: c.ui(.uiNewScreening), systemImage: "plus.circle") {
                    Task { await model.newScreening() }
                }
            }
        }
        .navigationTitle(c.ui(.uiShareTitle, sharing.patient))
        .navigationBarTitleDisplayMode(.inline)
        .navigationBarBackButtonHidden(true)
        .sheet(isPresented: $composing) {
            MessageComposer(text: sharing.sms) { composing = false }
                .ignoresSafeArea()
        }
        .onAppear {
            // Plain names: the patient code is already pseudonymous.
            pdfURL = ShareFile.write(sharing.pdf, name: "hemalens-\(sharing.patient)-\(sharing.sessionId).pdf")
            fhirURL = ShareFile.write(Data(sharing.fhirJson.utf8), name: "hemalens-\(sharing.patient)-\(sharing.sessionId).fhir.json")
        }
        .task(id: sharing.sessionId) {
            // While something waits: a delivery pass now and then, and the rows re-read.
            while !Task.isCancelled, model.outboxWaiting {
                await model.deliverNow()
                try? await Task.sleep(nanoseconds: 5_000_000_000)
                await model.refreshOutbox()
            }
        }
    }
}

struct OutboxRowView: View {
    let row: OutboxRow
    /// "Results: sending 42%".
    let text: String

    var body: some View {
        VStack(alignment: .leading, spacing: 4) {
            Label(text, systemImage: symbol)
            if let percent = row.percent {
                ProgressView(value: Double(percent), total: 100).accessibilityHidden(true)
            }
        }
        .accessibilityElement(children: .ignore)
        .accessibilityLabel(text)
    }

    private var symbol: String {
        switch row.state {
        case .queued: return "clock"
        case .sending: return "arrow.up.circle"
        case .delivered: return "checkmark.circle.fill"
        case .refused: return "xmark.octagon.fill"
        }
    }
}

/// The Messages app's compose sheet with the one-SMS summary (the user picks the number and sends).
struct MessageComposer: UIViewControllerRepresentable {
    /// The message (not `body`: that is `View`'s).
    let text: String
    let onDone: () -> Void

    final class Coordinator: NSObject, MFMessageComposeViewControllerDelegate {
        var onDone: () -> Void

        init(_ onDone: @escaping () -> Void) {
            self.onDone = onDone
        }

        func messageComposeViewController(_ controller: MFMessageComposeViewController, didFinishWith result: MessageComposeResult) {
            onDone()
        }
    }

    func makeCoordinator() -> Coordinator {
        Coordinator(onDone)
    }

    func makeUIViewController(context: Context) -> MFMessageComposeViewController {
        let vc = MFMessageComposeViewController()
        vc.body = text
        vc.messageComposeDelegate = context.coordinator
        return vc
    }

    func updateUIViewController(_ vc: MFMessageComposeViewController, context: Context) {
        context.coordinator.onDone = onDone
    }
}
