import HemalensBindings
import HemalensLogic
import SwiftUI

/// A reviewer's screen: agree with the machine, replace the outcome (with a
/// note saying why; the core keeps the machine's and the result names it),
/// or relabel a cell from the gallery. Each outcome is shown with its icon
/// and words.
struct ReviewView: View {
    @EnvironmentObject private var model: AppModel
    let finished: FlowState.Finished
    @State private var reviewer = ""
    @State private var note = ""
    @State private var newOutcome: OutcomeStyle?
    @State private var relabelling: CellTileModel?

    var body: some View {
        let c = model.catalogue
        let p = model.presenter
        let named = !reviewer.trimmed.isEmpty
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
                if newOutcome != nil && note.trimmed.isEmpty {
                    Label(c.ui(.uiNoteNeeded), systemImage: "exclamationmark.triangle.fill")
                        .foregroundColor(.red)
                        .fixedSize(horizontal: false, vertical: true)
                }
                WideButton(title: c.ui(.uiOverride), systemImage: "arrow.triangle.2.circlepath", prominent: false) {
                    guard let style = newOutcome else {
                        return
                    }
                    Task { await model.overrideOutcome(style.decision, reviewer: reviewer.trimmed, note: note.trimmed.nilIfEmpty) }
                }
                .disabled(!named || newOutcome == nil || note.trimmed.isEmpty)
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
            ForEach(model.relabelChoices.filter { $0 != tile.label }, id: \.self) { label in
                Button(p.cellName(label)) {
                    Task { await model.relabel(tile, to: label, reviewer: reviewer.trimmed, note: note.trimmed.nilIfEmpty) }
                }
                .disabled(!named)
            }
            Button(c.ui(.uiCancel), role: .cancel) {}
        } message: { tile in
            Text(tile.description)
        }
        .task { if model.gallery.isEmpty { await model.loadPictures() } }
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
