import HemalensBindings
import HemalensLogic
import SwiftUI

/// The result: the outcome first (icon, words and colour that say the same),
/// what to do next, then the differential with its intervals, each photo's
/// verdict, each field's picture with its cells' boxes and the per-cell
/// gallery. From here: share (to a hospital or on this phone only), review,
/// or a new screening.
struct ResultView: View {
    @EnvironmentObject private var model: AppModel
    let finished: FlowState.Finished
    @State private var choosingHospital = false

    var body: some View {
        let c = model.catalogue
        let m = finished.model
        ScrollView {
            VStack(alignment: .leading, spacing: 20) {
                OutcomeHeader(outcome: m.outcome, nextStepTitle: c.ui(.uiNextStep))
                Label(c.ui(.uiReviewState, m.review), systemImage: "person.crop.circle.badge.checkmark")
                    .font(.headline)
                    .accessibilityLabel(c.ui(.uiReviewState, m.review))
                actions
                ResultDetails(result: m)
                if model.loadingPictures && model.overlays.isEmpty {
                    Label(c.ui(.uiLoadingPictures), systemImage: "hourglass")
                }
                if !model.overlays.isEmpty {
                    Text(c.ui(.uiFieldPictures)).font(.title2.bold()).accessibilityAddTraits(.isHeader)
                    ForEach(model.overlays) { o in
                        FieldOverlayView(overlay: o)
                    }
                }
                if !model.gallery.isEmpty {
                    CellGalleryView(groups: model.gallery, onSelect: nil)
                }
            }
            .padding()
        }
        .navigationTitle(c.ui(.uiResultTitle, finished.patient))
        .navigationBarTitleDisplayMode(.inline)
        .navigationBarBackButtonHidden(true)
        .task(id: finished.model) { await model.loadPictures() }
        .confirmationDialog(c.ui(.uiChooseHospital), isPresented: $choosingHospital, titleVisibility: .visible) {
            ForEach(model.hospitals, id: \.name) { h in
                Button(c.ui(.uiSendTo, h.name)) {
                    Task { await model.share(hospital: h.name) }
                }
            }
            Button(c.ui(.uiKeepOnPhone)) {
                Task { await model.share(hospital: nil) }
            }
            Button(c.ui(.uiCancel), role: .cancel) {}
        }
    }

    private var actions: some View {
        let c = model.catalogue
        return VStack(spacing: 10) {
            WideButton(title: c.ui(.uiShare), systemImage: "square.and.arrow.up") {
                if model.hospitals.isEmpty {
                    Task { await model.share(hospital: nil) }
                } else {
                    choosingHospital = true
                }
            }
            WideButton(title: c.ui(.uiReview), systemImage: "checkmark.seal", prominent: false) {
                Task { await model.startReview() }
            }
            WideButton(title: c.ui(.uiNewScreening), systemImage: "plus.circle", prominent: false) {
                Task { await model.newScreening() }
            }
        }
        .disabled(model.busy)
    }
}

/// The differential (one line per class: k of n, the share and its 95%
/// interval, in the catalogue's words) and each photo's verdict.
struct ResultDetails: View {
    @EnvironmentObject private var model: AppModel
    let result: ResultModel

    var body: some View {
        let c = model.catalogue
        VStack(alignment: .leading, spacing: 10) {
            if !result.differential.isEmpty {
                Text(c.ui(.uiDifferential)).font(.title2.bold()).accessibilityAddTraits(.isHeader)
                ForEach(result.differential, id: \.label) { row in
                    VStack(alignment: .leading, spacing: 4) {
                        Text(row.text).fixedSize(horizontal: false, vertical: true)
                        // The share as a bar; the words above say it all.
                        ProgressView(value: row.of > 0 ? Double(row.count) / Double(row.of) : 0)
                            .accessibilityHidden(true)
                    }
                    .accessibilityElement(children: .ignore)
                    .accessibilityLabel(row.text)
                }
            }
            if !result.fields.isEmpty {
                Text(c.ui(.uiPhotos)).font(.title3.bold()).accessibilityAddTraits(.isHeader)
                ForEach(Array(result.fields.enumerated()), id: \.offset) { _, v in
                    VerdictRow(verdict: v)
                }
            }
        }
    }
}
