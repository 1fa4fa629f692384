import HemalensBindings
import HemalensLogic
import SwiftUI

/// A reviewer's screen: agree with the machine, replace the outcome (with a
/// note saying why: the flow refuses an override without one and says so in
/// `finished.error`; the core keeps the machine's and the result names it),
/// or relabel a cell from the gallery with any of the cell pack's classes.
/// Each outcome is shown with its icon and words.
struct ReviewView: View {
    @EnvironmentObject private var model: AppModel
    let finished: FlowState.Finished
    @State private var reviewer = ""
    @State private var note = ""
    @State private var newOutcome: OutcomeStyle?
    @State private var relabelling: CellTileModel?

    var body: some View {
        let c = model.catalogue
        let named = !reviewer.trimmed.isEmpty
        // The flow's answer to an override without a note, until a note is written.
        let error = note.trimmed.isEmpty ? finished.error : nil
        Form {
            Section {
                OutcomeHeader(outcome: finished.model.outcome)
                    .listRowInsets(EdgeInsets())
            }
            Section {
                LabelledField(label: c.ui(.uiReviewerLabel), text: $reviewer)
                LabelledField(label: c.ui(.uiNoteLabel), text: $note)
            }
            Section {
                WideButton(title: c.ui(.uiConfirm), systemImage: "hand.thumbsup.fill") {
                    Task { await model.confirm(reviewer: reviewer.trimmed, note: note.trimmed.nilIfEmpty) }
                }
                .disabled(!named)
            }
            Section {
                ForEach(OutcomeStyle.allCases, id: \.iconId) { style in
                    let words = c.get(style.headline)
                    Button {
                        newOutcome = style
                    } label: {
                        Label {
                            Text(words).fixedSize(horizontal: false, vertical: true)
                        } icon: {
                            HStack(spacing: 6) {
                                Image(systemName: newOutcome == style ? "largecircle.fill.circle" : "circle")
                                Image(systemName: style.symbol).foregroundColor(Palette.colour(style.colourToken))
                            }
                        }
                    }
                    .accessibilityLabel(words)
                    .accessibilityAddTraits(newOutcome == style ? .isSelected : [])
                }
                if let error = error {
                    Label(error, systemImage: "exclamationmark.triangle.fill")
                        .foregroundColor(.red)
                        .fixedSize(horizontal: false, vertical: true)
                } else if newOutcome != nil && note.trimmed.isEmpty {
                    Label(c.ui(.uiNoteNeeded), systemImage: "info.circle")
                        .fixedSize(horizontal: false, vertical: true)
                }
                WideButton(title: c.ui(.uiOverride), systemImage: "arrow.triangle.2.circlepath", prominent: false) {
                    guard let style = newOutcome else {
                        return
                    }
                    Task { await model.overrideOutcome(style.decision, reviewer: reviewer.trimmed, note: note.trimmed.nilIfEmpty) }
                }
                // The flow is the rule on the note: without one it answers `finished.error`.
                .disabled(!named || newOutcome == nil)
            } header: {
                Text(c.ui(.uiNewOutcome))
            }
            Section {
                Text(c.ui(.uiRelabelHint)).fixedSize(horizontal: false, vertical: true)
                if model.loadingPictures && model.gallery.isEmpty {
                    Label(c.ui(.uiLoadingPictures), systemImage: "hourglass")
                }
                CellGalleryView(groups: model.gallery, onSelect: { tile in relabelling = tile }, actionName: c.ui(.uiRelabelAction))
            }
        }
        .disabled(model.busy)
        .navigationTitle(c.ui(.uiReviewTitle, finished.patient))
        .navigationBarTitleDisplayMode(.inline)
        .navigationBarBackButtonHidden(true)
        .toolbar {
            ToolbarItem(placement: .cancellationAction) {
                Button(c.ui(.uiBack)) {
                    Task { await model.leaveReview() }
                }
                .accessibilityLabel(c.ui(.uiBack))
            }
        }
        .confirmationDialog(
            c.ui(.uiRelabelTitle),
            isPresented: Binding(get: { relabelling != nil }, set: { if !$0 { relabelling = nil } }),
            titleVisibility: .visible,
            presenting: relabelling
        ) { tile in
            let choices = model.relabelChoices.filter { $0.code != tile.label }
            ForEach(choices.indices, id: \.self) { i in
                Button(choices[i].name) {
                    Task { await model.relabel(tile, to: choices[i].code, reviewer: reviewer.trimmed, note: note.trimmed.nilIfEmpty) }
                }
                .disabled(!named)
            }
            Button(c.ui(.uiCancel), role: .cancel) {}
        } message: { tile in
            Text(tile.description)
        }
        .task { if model.gallery.isEmpty { await model.loadPictures() } }
        .onChange(of: finished.error) { error in
            if let error = error {
                UIAccessibility.post(notification: .announcement, argument: error)
            }
        }
        .onAppear {
            if reviewer.isEmpty {
                reviewer = model.setup?.`operator` ?? ""
            }
        }
    }
}

extension String {
    var trimmed: String { trimmingCharacters(in: .whitespacesAndNewlines) }
    var nilIfEmpty: String? { isEmpty ? nil : self }
}
