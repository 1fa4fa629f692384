import HemalensBindings
import HemalensLogic
import SwiftUI

/// Past screenings, newest first, searched by patient code, days
/// (YYYY-MM-DD, as on Android), outcome and waiting for review. Each row: the
/// outcome's icon and words, the patient code, the date, the review state,
/// the photos taken and the case's outbox (queued / sending n% / delivered /
/// refused). Tapping a row opens its case (`ScreeningFlow.openCase`): a
/// finished one on its result (review, share again), an open one back to
/// capturing.
struct HistoryView: View {
    @EnvironmentObject private var model: AppModel
    @Environment(\.dismiss) private var dismiss
    @State private var patient = ""
    @State private var from = ""
    @State private var to = ""
    @State private var outcome: OutcomeStyle?
    @State private var pendingOnly = false
    @State private var badDate = false
    @State private var entries: [HistoryRow]?

    var body: some View {
        let c = model.catalogue
        List {
            Section {
                LabelledField(label: c.ui(.uiPatientCodeLabel), text: $patient)
                LabelledField(label: c.ui(.uiFromDate), text: $from)
                    .keyboardType(.numbersAndPunctuation)
                LabelledField(label: c.ui(.uiToDate), text: $to, error: badDate ? c.ui(.uiDateInvalid) : nil)
                    .keyboardType(.numbersAndPunctuation)
                Picker(selection: $outcome) {
                    Text(c.ui(.uiOutcomeAny)).tag(OutcomeStyle?.none)
                    ForEach(OutcomeStyle.allCases, id: \.iconId) { style in
                        Label(c.get(style.headline), systemImage: style.symbol).tag(OutcomeStyle?.some(style))
                    }
                } label: {
                    Text(outcome.map { c.get($0.headline) } ?? c.ui(.uiOutcomeAny))
                }
                .accessibilityLabel(outcome.map { c.get($0.headline) } ?? c.ui(.uiOutcomeAny))
                Toggle(c.ui(.uiPendingOnly), isOn: $pendingOnly)
                    .accessibilityLabel(c.ui(.uiPendingOnly))
                WideButton(title: c.ui(.uiSearch), systemImage: "magnifyingglass") {
                    Task { await search() }
                }
            }
            Section {
                if entries?.isEmpty == true {
                    Text(c.ui(.uiNoResults))
                }
                ForEach(entries ?? []) { row in
                    Button {
                        openCase(row)
                    } label: {
                        HistoryRowView(row: row, none: c.ui(.uiOutboxNone), carryOn: c.ui(.uiCarryOn)) { item in
                            c.ui(.uiOutboxRow, item.kind, item.text)
                        }
                    }
                    .buttonStyle(.plain)
                    .accessibilityHint(c.ui(.uiOpenCase))
                    .disabled(model.busy)
                }
            }
        }
        .navigationTitle(c.ui(.uiHistoryTitle))
        .task { await search() }
    }

    /// Back to the flow's screen, which shows the case once the flow has opened it.
    private func openCase(_ row: HistoryRow) {
        dismiss()
        Task { await model.openCase(row) }
    }

    private func search() async {
        let fromDay = Day.parse(from)
        let toDay = Day.parse(to)
        badDate = (!from.trimmed.isEmpty && fromDay == nil) || (!to.trimmed.isEmpty && toDay == nil)
        guard !badDate else {
            return
        }
        let filter = HistoryFilter(
            patient: patient, from: fromDay, to: toDay, outcome: outcome?.decision, pendingReview: pendingOnly
        )
        entries = await model.history(filter)
    }
}

struct HistoryRowView: View {
    let row: HistoryRow
    /// "Not sent to a hospital".
    let none: String
    /// Said of a case still capturing (its outcome already says "not finished").
    let carryOn: String
    let outboxText: (OutboxRow) -> String

    var body: some View {
        let outbox = row.outbox.isEmpty ? [none] : row.outbox.map(outboxText)
        let lines = [row.outcome, row.patient, row.date, row.review, row.photos] + outbox + (row.open ? [carryOn] : [])
        HStack(alignment: .top, spacing: 12) {
            Image(systemName: row.symbol ?? "hourglass")
                .font(.title)
                .accessibilityHidden(true)
            VStack(alignment: .leading, spacing: 4) {
                Text(row.outcome).font(.headline)
                Text(row.patient).font(.body.monospaced())
                Text(row.date).font(.subheadline)
                HStack {
                    if row.pendingReview {
                        Image(systemName: "exclamationmark.bubble.fill").accessibilityHidden(true)
                    }
                    Text(row.review)
                }
                .font(.subheadline)
                Text(row.photos).font(.subheadline)
                ForEach(outbox, id: \.self) { line in
                    Text(line).font(.subheadline)
                }
                if row.open {
                    Text(carryOn).font(.subheadline.bold())
                }
            }
            Spacer(minLength: 0)
            Image(systemName: "chevron.right")
                .foregroundColor(.secondary)
                .accessibilityHidden(true)
        }
        .contentShape(Rectangle())
        .accessibilityElement(children: .ignore)
        .accessibilityLabel(lines.joined(separator: ", "))
    }
}
