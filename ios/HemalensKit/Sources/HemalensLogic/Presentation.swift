import Foundation
import HemalensBindings

/// How an outcome looks. The icon's shape and the headline's words carry the
/// meaning; the colour only repeats it (readable in grey, by VoiceOver, by
/// someone who reads little). Mirrors Kotlin's `OutcomeStyle`: the same icon
/// ids and colour tokens, plus the SF Symbol the iOS app draws.
public enum OutcomeStyle: CaseIterable, Sendable {
    case refer
    case noAbnormality
    case inconclusive

    /// The icon's id, the same as the Android drawable's.
    public var iconId: String {
        switch self {
        case .refer: return "ic_outcome_refer_hospital"
        case .noAbnormality: return "ic_outcome_check"
        case .inconclusive: return "ic_outcome_question"
        }
    }

    /// The SF Symbol for `iconId`: a hospital case, a tick, a question mark
    /// (three different shapes, so the outcome reads without its colour).
    public var symbol: String {
        switch self {
        case .refer: return "cross.case.fill"
        case .noAbnormality: return "checkmark.circle.fill"
        case .inconclusive: return "questionmark.circle.fill"
        }
    }

    /// The colour's name in the app's palette (the same tokens as Android's).
    public var colourToken: String {
        switch self {
        case .refer: return "outcome_refer"
        case .noAbnormality: return "outcome_no_abnormality"
        case .inconclusive: return "outcome_inconclusive"
        }
    }

    public var headline: Str {
        switch self {
        case .refer: return .outcomeRefer
        case .noAbnormality: return .outcomeNoAbnormality
        case .inconclusive: return .outcomeInconclusive
        }
    }

    public static func of(_ d: Decision) -> OutcomeStyle {
        switch d {
        case .refer: return .refer
        case .noAbnormalityDetected: return .noAbnormality
        case .inconclusive: return .inconclusive
        }
    }
}

/// The top of the result screen; `headline` doubles as the icon's VoiceOver label.
public struct OutcomeModel: Equatable {
    public let decision: Decision
    public let headline: String
    public let iconId: String
    public let symbol: String
    public let colourToken: String
    public let nextStep: String
    /// Set when a reviewer replaced the machine's outcome: says what the machine said.
    public let changedByReviewer: String?
}

/// One line of the differential: the class, k of n, the share and its 95% interval.
public struct DifferentialRow: Equatable {
    public let label: String
    public let name: String
    public let count: Int
    public let of: Int
    public let text: String
}

/// A photo's verdict: accepted, or the quality gate's reason in one sentence.
public struct FieldVerdict: Equatable {
    /// The photo's number from 1; nil for a photo that could not be read (not stored).
    public let number: Int?
    public let accepted: Bool
    public let text: String

    public init(number: Int?, accepted: Bool, text: String) {
        self.number = number
        self.accepted = accepted
        self.text = text
    }
}

/// The capture screen's progress bar towards the cell target.
public struct CaptureProgress: Equatable {
    public let cells: Int
    public let targetCells: Int
    /// 0...1, for the bar.
    public let fraction: Double
    public let cellsText: String
    public let fieldsText: String
    public let enough: Bool
    /// What to do now, from the running outcome.
    public let nextStep: String
}

public struct ResultModel: Equatable {
    public let outcome: OutcomeModel
    public let differential: [DifferentialRow]
    public let fields: [FieldVerdict]
    public let review: String
}

/// One outbox item of a case: `queued`, `sending 42%`, `delivered`, `refused: reason`.
public struct OutboxRow: Equatable, Identifiable {
    public let id: Int64
    public let kind: String
    public let state: OutboxState
    public let percent: Int?
    public let text: String
}

public struct HistoryRow: Equatable, Identifiable {
    public let sessionId: Int64
    public let patient: String
    public let date: String
    public let outcome: String
    public let iconId: String?
    public let symbol: String?
    public let review: String
    public let photos: String
    public let pendingReview: Bool
    /// The case's outbox items (results, photos), each `queued` / `sending n%` / `delivered` / `refused: reason`.
    public let outbox: [OutboxRow]
    /// Still capturing: opening it carries on with the capture.
    public let open: Bool

    public var id: Int64 { sessionId }
}

/// Turns the core's records into what the screens show, in the user's
/// language. Mirrors Kotlin's `Presenter` method for method.
public struct Presenter {
    private let s: Strings
    private let date: DateFormatter

    public init(_ strings: Strings, timeZone: TimeZone = .current) {
        s = strings
        // Digits and dashes read the same in every language of the app.
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.calendar = Calendar(identifier: .gregorian)
        f.timeZone = timeZone
        f.dateFormat = "yyyy-MM-dd HH:mm"
        date = f
    }

    public func percent(_ p: Double) -> String {
        s.get(.percent, Int((p * 100).rounded()))
    }

    public func outcome(_ summary: Summary, row: SessionRow? = nil) -> OutcomeModel {
        let machine = summary.outcome
        let effective = row?.outcome ?? machine.decision
        let changed = effective != machine.decision
        let style = OutcomeStyle.of(effective)
        return OutcomeModel(
            decision: effective,
            headline: s.get(style.headline),
            iconId: style.iconId,
            symbol: style.symbol,
            colourToken: style.colourToken,
            nextStep: changed ? reviewedNextStep(effective) : nextStep(machine),
            changedByReviewer: changed
                ? s.get(.outcomeChangedByReviewer, s.get(OutcomeStyle.of(machine.decision).headline))
                : nil
        )
    }

    /// The core's next step in the user's language, from the code the core
    /// chose (its English sentence is `outcome.nextStep`); a result stored
    /// before the codes existed keeps its English sentence.
    public func nextStep(_ o: Outcome) -> String {
        switch o.next {
        case .refer:
            return s.get(.nextRefer)
        case .noReferral:
            return s.get(.nextNoAbnormality)
        case let .captureMore(fields):
            return s.get(.nextCaptureMore, Int(fields))
        case let .checkThenCapture(fields):
            return s.get(.nextCheckThenCapture, Int(fields))
        case .fieldLimit:
            return s.get(.nextFieldLimit)
        case .expertReview:
            return s.get(.nextExpertReview)
        case .unknown:
            return o.nextStep
        }
    }

    private func reviewedNextStep(_ d: Decision) -> String {
        switch d {
        case .refer: return s.get(.nextRefer)
        case .noAbnormalityDetected: return s.get(.nextNoAbnormality)
        case .inconclusive: return s.get(.nextReviewedInconclusive)
        }
    }

    /// The cell pack's classes, in the order a reviewer is offered them
    /// (Kotlin's `Presenter.CELL_LABELS`; named apart from `cellLabels()`).
    public static let cellLabelCodes = ["neutrophil", "lymphocyte", "monocyte", "eosinophil", "basophil", "ig", "erythroblast", "platelet"]

    /// The labels a reviewer may give a cell, with their names (the cell pack's classes).
    public func cellLabels() -> [(code: String, name: String)] {
        Presenter.cellLabelCodes.map { (code: $0, name: cellName($0)) }
    }

    public func cellName(_ label: String) -> String {
        switch label {
        case "neutrophil": return s.get(.cellNeutrophil)
        case "lymphocyte": return s.get(.cellLymphocyte)
        case "monocyte": return s.get(.cellMonocyte)
        case "eosinophil": return s.get(.cellEosinophil)
        case "basophil": return s.get(.cellBasophil)
        case "ig": return s.get(.cellIg)
        case "erythroblast": return s.get(.cellErythroblast)
        case "platelet": return s.get(.cellPlatelet)
        // A class a newer pack adds: its code until translated.
        default: return label.replacingOccurrences(of: "_", with: " ")
        }
    }

    public func differentialRow(_ c: ClassCount) -> DifferentialRow {
        let p = c.proportion
        let name = cellName(c.label)
        return DifferentialRow(
            label: c.label,
            name: name,
            count: Int(p.k),
            of: Int(p.n),
            text: s.get(.differentialRow, name, Int(p.k), Int(p.n), percent(p.p), percent(p.low), percent(p.high))
        )
    }

    public func issueKey(_ code: IssueCode) -> Str {
        switch code {
        case .notASmear: return .issueNotASmear
        case .noCells: return .issueNoCells
        case .tooDark: return .issueTooDark
        case .burntOut: return .issueBurntOut
        case .outOfFocus: return .issueOutOfFocus
        case .fovTooSmall: return .issueFovTooSmall
        case .fovOffCentre: return .issueFovOffCentre
        case .tooSparse: return .issueTooSparse
        case .tooCrowded: return .issueTooCrowded
        case .scaleUnknown: return .issueScaleUnknown
        case .unfamiliarImage: return .issueUnfamiliarImage
        }
    }

    public func issue(_ code: IssueCode) -> String {
        s.get(issueKey(code))
    }

    /// Photo `number` (from 1): accepted, or the gate's first reason.
    public func verdict(_ number: Int, _ q: Quality) -> FieldVerdict {
        if q.ok || q.issues.isEmpty {
            return FieldVerdict(number: number, accepted: true, text: s.get(.fieldAccepted, number))
        }
        return FieldVerdict(number: number, accepted: false, text: s.get(.fieldRejected, number, issue(q.issues[0].code)))
    }

    public func unreadable() -> FieldVerdict {
        FieldVerdict(number: nil, accepted: false, text: s.get(.photoUnreadable))
    }

    public func progress(_ summary: Summary) -> CaptureProgress {
        let cells = Int(summary.cells.white)
        let target = Int(summary.provenance.targetCells)
        // "Enough" only when the cell target is met: the field limit also ends the evidence.
        let enoughCells = summary.enoughEvidence && cells >= target
        return CaptureProgress(
            cells: cells,
            targetCells: target,
            fraction: target > 0 ? min(max(Double(cells) / Double(target), 0), 1) : 1,
            cellsText: s.get(.captureCells, cells, target),
            fieldsText: s.get(.captureFields, Int(summary.fields.added), Int(summary.provenance.maxFields)),
            enough: summary.enoughEvidence,
            nextStep: enoughCells ? s.get(.captureEnough) : nextStep(summary.outcome)
        )
    }

    public func review(_ state: ReviewState) -> String {
        switch state {
        case .open: return s.get(.reviewOpen)
        case .pending: return s.get(.reviewPending)
        case .reviewed: return s.get(.reviewReviewed)
        case .notNeeded: return s.get(.reviewNotNeeded)
        }
    }

    public func result(_ summary: Summary, fields: [FieldVerdict], row: SessionRow?) -> ResultModel {
        ResultModel(
            outcome: outcome(summary, row: row),
            differential: summary.differential.map(differentialRow),
            fields: fields,
            review: review(row?.reviewState ?? .open)
        )
    }

    public func outbox(_ item: OutboxItem) -> OutboxRow {
        var percent: Int?
        if item.state == .sending && item.size > 0 {
            percent = min(max(Int(Double(item.sent) * 100 / Double(item.size)), 0), 100)
        }
        let text: String
        switch item.state {
        case .queued: text = s.get(.outboxQueued)
        case .sending: text = s.get(.outboxSending, percent ?? 0)
        case .delivered: text = s.get(.outboxDelivered)
        case .refused: text = s.get(.outboxRefused, item.reason ?? "?")
        }
        let kind: String
        switch item.kind {
        case "results": kind = s.get(.outboxKindResults)
        case "photos": kind = s.get(.outboxKindPhotos)
        default: kind = item.kind
        }
        return OutboxRow(id: item.id, kind: kind, state: item.state, percent: percent, text: text)
    }

    public func history(_ row: SessionRow, outbox: [OutboxItem] = []) -> HistoryRow {
        let style = row.outcome.map(OutcomeStyle.of)
        let started = Date(timeIntervalSince1970: Double(row.startedAt) / 1000)
        return HistoryRow(
            sessionId: row.id,
            patient: row.patient,
            date: date.string(from: started),
            outcome: style.map { s.get($0.headline) } ?? s.get(.outcomeNotFinished),
            iconId: style?.iconId,
            symbol: style?.symbol,
            review: review(row.reviewState),
            photos: s.get(.historyPhotos, Int(row.fields)),
            pendingReview: row.reviewState == .pending,
            outbox: outbox.map { self.outbox($0) },
            open: row.closedAt == nil
        )
    }
}
