import Foundation
import HemalensBindings

/// What the first run asks once: the app's language, the site and who operates the phone.
public struct Setup: Equatable, Codable, Sendable {
    /// A `Language.tag` of `languages`.
    public let language: String
    public let site: String
    public let `operator`: String

    public init(language: String, site: String, operator op: String) {
        self.language = language
        self.site = site
        self.`operator` = op
    }
}

/// What the phone keeps outside the records store: the setup (preferences),
/// the store's 32-byte key and the device's 32-byte signing seed (each made
/// once on first use and kept in the iOS Keychain, this device only, so a
/// copied store is useless without the phone). The app's is `KeychainVault`.
public protocol DeviceVault: AnyObject {
    func loadSetup() -> Setup?
    func saveSetup(_ setup: Setup) throws
    func storeKey() throws -> Data
    func deviceSeed() throws -> Data
}

/// A calendar day, as the history's date search takes it.
public struct Day: Equatable, Hashable, Sendable {
    public let year: Int
    public let month: Int
    public let day: Int

    public init(year: Int, month: Int, day: Int) {
        self.year = year
        self.month = month
        self.day = day
    }

    /// A day written `YYYY-MM-DD` (ISO 8601, as the history screen asks for
    /// it); nil for anything else, or a day no calendar has (2025-02-30).
    public static func parse(_ text: String) -> Day? {
        let t = text.trimmingCharacters(in: .whitespaces)
        guard t.range(of: "^[0-9]{4}-[0-9]{2}-[0-9]{2}$", options: .regularExpression) != nil else {
            return nil
        }
        let parts = t.split(separator: "-").compactMap { Int($0) }
        guard parts.count == 3 else {
            return nil
        }
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = TimeZone(identifier: "UTC") ?? .current
        let c = DateComponents(year: parts[0], month: parts[1], day: parts[2])
        guard c.isValidDate(in: cal) else {
            return nil
        }
        return Day(year: parts[0], month: parts[1], day: parts[2])
    }

    /// The day `date` falls on in `timeZone` (a date picker's answer).
    public static func of(_ date: Date, timeZone: TimeZone = .current) -> Day {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = timeZone
        let c = cal.dateComponents([.year, .month, .day], from: date)
        return Day(year: c.year ?? 1970, month: c.month ?? 1, day: c.day ?? 1)
    }

    /// Unix milliseconds of this day's first instant in `timeZone`, plus `days` days.
    func startMs(_ timeZone: TimeZone, plusDays days: Int = 0) -> Int64 {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = timeZone
        let start = cal.date(from: DateComponents(year: year, month: month, day: day)) ?? Date(timeIntervalSince1970: 0)
        let shifted = cal.date(byAdding: .day, value: days, to: start) ?? start
        return Int64((shifted.timeIntervalSince1970 * 1000).rounded())
    }
}

/// The history screen's search: every filter optional; newest first.
public struct HistoryFilter: Equatable {
    /// The exact patient code.
    public var patient: String?
    /// Started on or after this day (in the phone's time zone).
    public var from: Day?
    /// Started on or before this day.
    public var to: Day?
    /// The outcome that stands (after any override).
    public var outcome: Decision?
    /// Only closed screenings waiting for a reviewer.
    public var pendingReview: Bool
    public var limit: Int

    public init(
        patient: String? = nil, from: Day? = nil, to: Day? = nil, outcome: Decision? = nil,
        pendingReview: Bool = false, limit: Int = 50
    ) {
        self.patient = patient
        self.from = from
        self.to = to
        self.outcome = outcome
        self.pendingReview = pendingReview
        self.limit = limit
    }

    public func query(timeZone: TimeZone = .current) -> SessionQuery {
        let code = patient?.trimmingCharacters(in: .whitespacesAndNewlines)
        return SessionQuery(
            patient: (code?.isEmpty ?? true) ? nil : code,
            fromMs: from?.startMs(timeZone),
            toMs: to?.startMs(timeZone, plusDays: 1),
            outcome: outcome,
            pendingReview: pendingReview,
            limit: UInt32(clamping: limit)
        )
    }
}

/// The screens, in the order a screening walks through them.
public enum FlowState: Equatable {
    case firstRun(error: String?)
    case patientCode(error: String?)
    case capturing(Capturing)
    case result(Finished)
    case review(Finished)
    case sharing(Sharing)

    public struct Capturing: Equatable {
        public let sessionId: Int64
        public let patient: String
        public var progress: CaptureProgress
        /// Every photo's verdict so far, the latest last.
        public var verdicts: [FieldVerdict]
        /// The core's record of the latest stored photo.
        public var lastAdded: AddedPhoto?
    }

    /// A closed screening (Kotlin's `Result` and `Review` carry the same).
    public struct Finished: Equatable {
        public let sessionId: Int64
        public let patient: String
        public var model: ResultModel
        /// On `review` only (Kotlin's `Review.error`): what the reviewer must
        /// put right, as an override without a note; nil on `result`.
        public var error: String?
    }

    public struct Sharing: Equatable {
        public let sessionId: Int64
        public let patient: String
        public let pdf: Data
        public let fhirJson: String
        public let sms: String
        public var outbox: [OutboxRow]
    }
}

/// A call that does not fit the flow's state: a bug in the shell, not the
/// user's (Kotlin's `IllegalStateException` / `IllegalArgumentException`).
public enum FlowError: Error, Equatable {
    case outOfOrder(String)
    case invalidArgument(String)
}

/// The screening session as a state machine over the real `Screener`. Every
/// call blocks on the core: the app calls it off the main thread, one call at
/// a time (`AppModel` runs it on one actor), and draws `state`. Not
/// thread-safe on its own. Mirrors Kotlin's `ScreeningFlow`.
public final class ScreeningFlow {
    /// A pseudonymous code (letters, digits, dashes); the app never asks for a name.
    public static let patientCodePattern = "^[A-Za-z0-9][A-Za-z0-9-]{2,19}$"

    private let storeDir: String
    private let vault: DeviceVault
    private let s: Strings
    private let present: Presenter
    private let pictures: GalleryPresenter
    private let appVersion: String
    /// Cell target and field limit; nil takes the core's default.
    private let evidence: Evidence?
    private let config: ScreenerConfig
    /// The app's own TensorFlow Lite interpreter (iOS: `TFLiteEngine`); nil
    /// runs the models with the core's LiteRT (desktop tests).
    private let engine: PlatformEngine?
    private var opened: Screener?
    private var setup: Setup?

    public private(set) var state: FlowState = .firstRun(error: nil)

    public init(
        storeDir: String,
        vault: DeviceVault,
        strings: Strings,
        appVersion: String,
        evidence: Evidence? = nil,
        config: ScreenerConfig = ScreenerConfig(threads: 2, packDir: nil),
        engine: PlatformEngine? = nil
    ) throws {
        self.storeDir = storeDir
        self.vault = vault
        self.s = strings
        self.present = Presenter(strings)
        self.pictures = GalleryPresenter(strings)
        self.appVersion = appVersion
        self.evidence = evidence
        self.config = config
        self.engine = engine
        self.setup = vault.loadSetup()
        if setup != nil {
            try open()
            state = try resumeOpen() ?? .patientCode(error: nil)
        }
    }

    deinit {
        close()
    }

    /// The open core, for the outbox task and the history screen.
    public func screener() throws -> Screener {
        guard let opened = opened else {
            throw FlowError.outOfOrder("first run not completed")
        }
        return opened
    }

    /// The setup of the first run (nil before it).
    public var currentSetup: Setup? { setup }

    /// The newest screening left open (the app was closed, or killed, while
    /// capturing): the app carries on with it where it stopped.
    private func resumeOpen() throws -> FlowState? {
        guard let row = try screener().list(query: SessionQuery(limit: 20)).first(where: { $0.closedAt == nil }) else {
            return nil
        }
        return try capturing(row)
    }

    /// Every stored photo's verdict, from the core's reports (photo n is field n - 1).
    private func verdicts(_ sid: Int64) throws -> [FieldVerdict] {
        try screener().reports(session: sid).enumerated().map { i, r in present.verdict(i + 1, r.quality) }
    }

    private func capturing(_ row: SessionRow) throws -> FlowState {
        let progress = present.progress(try screener().summary(session: row.id))
        return .capturing(FlowState.Capturing(
            sessionId: row.id, patient: row.patient, progress: progress, verdicts: try verdicts(row.id), lastAdded: nil
        ))
    }

    /// A screening chosen in the history: a finished one opens on its result
    /// (to review or share again), an open one carries on capturing.
    @discardableResult
    public func openCase(_ row: HistoryRow) throws -> FlowState {
        switch state {
        case .patientCode, .result, .sharing:
            break
        default:
            throw FlowError.outOfOrder("a screening is under way")
        }
        guard let stored = try storedRow(row.sessionId) else {
            throw FlowError.outOfOrder("no such screening")
        }
        if stored.closedAt == nil {
            state = try capturing(stored)
        } else {
            let model = try result(stored.id, try verdicts(stored.id))
            state = .result(FlowState.Finished(sessionId: stored.id, patient: stored.patient, model: model))
        }
        return state
    }

    /// The app's language, changed after the first run.
    public func changeLanguage(_ tag: String) throws {
        guard languages.contains(where: { $0.tag == tag }) else {
            throw FlowError.invalidArgument("not a language of the app: \(tag)")
        }
        guard let now = setup else {
            throw FlowError.outOfOrder("first run not completed")
        }
        let changed = Setup(language: tag, site: now.site, operator: now.`operator`)
        try vault.saveSetup(changed)
        setup = changed
    }

    private func open() throws {
        var c = config
        c.deviceSeed = try vault.deviceSeed()
        if let engine = engine {
            opened = try Screener.openWithEngine(dir: storeDir, key: vault.storeKey(), config: c, engine: engine)
        } else {
            opened = try Screener.open(dir: storeDir, key: vault.storeKey(), config: c)
        }
    }

    private func operatorCode() throws -> String {
        guard let op = setup?.`operator` else {
            throw FlowError.outOfOrder("first run not completed")
        }
        return op
    }

    @discardableResult
    public func completeFirstRun(_ setup: Setup) throws -> FlowState {
        guard case .firstRun = state else {
            throw FlowError.outOfOrder("not on the first run")
        }
        guard languages.contains(where: { $0.tag == setup.language }) else {
            throw FlowError.invalidArgument("not a language of the app: \(setup.language)")
        }
        let site = setup.site.trimmingCharacters(in: .whitespacesAndNewlines)
        let op = setup.`operator`.trimmingCharacters(in: .whitespacesAndNewlines)
        if site.isEmpty {
            state = .firstRun(error: s.get(.errorSiteMissing))
        } else if op.isEmpty {
            state = .firstRun(error: s.get(.errorOperatorMissing))
        } else {
            let clean = Setup(language: setup.language, site: site, operator: op)
            try vault.saveSetup(clean)
            self.setup = clean
            try open()
            state = .patientCode(error: nil)
        }
        return state
    }

    /// Enrol a hospital; optional, any time after the first run.
    public func enrol(_ hospital: Hospital) throws {
        try screener().addHospital(hospital: hospital, actor: operatorCode())
    }

    /// Enrol the hospital of a scanned or pasted card (`HospitalCard`): the
    /// error to show, or nil when enrolled.
    public func enrol(card: String) throws -> String? {
        guard let h = HospitalCard.parse(card) else {
            return s.get(.errorHospitalCard)
        }
        try enrol(h)
        return nil
    }

    /// What the hospital enrols: this phone's id and public key (shown as text and as a QR code).
    public func deviceKey() throws -> DeviceKey {
        try screener().deviceKey()
    }

    @discardableResult
    public func startScreening(_ patientCode: String) throws -> FlowState {
        guard case .patientCode = state else {
            throw FlowError.outOfOrder("not asking for a patient code")
        }
        let code = patientCode.trimmingCharacters(in: .whitespacesAndNewlines)
        guard ScreeningFlow.isPatientCode(code) else {
            state = .patientCode(error: s.get(.errorPatientCode))
            return state
        }
        let core = try screener()
        let sid = try core.startSession(patient: code, evidence: evidence, appVersion: appVersion, actor: operatorCode())
        let progress = present.progress(try core.summary(session: sid))
        state = .capturing(FlowState.Capturing(sessionId: sid, patient: code, progress: progress, verdicts: [], lastAdded: nil))
        return state
    }

    public static func isPatientCode(_ code: String) -> Bool {
        code.range(of: patientCodePattern, options: .regularExpression) != nil
    }

    /// One photo from the eyepiece (the JPEG `AVCapturePhoto.fileDataRepresentation()` gives).
    @discardableResult
    public func addPhoto(_ jpeg: Data) throws -> FlowState {
        guard case .capturing(var c) = state else {
            throw FlowError.outOfOrder("not capturing")
        }
        do {
            let added = try screener().addPhoto(session: c.sessionId, photo: jpeg, actor: operatorCode())
            c.verdicts.append(present.verdict(Int(added.field) + 1, added.report.quality))
            c.progress = present.progress(added.summary)
            c.lastAdded = added
        } catch HemalensError.BadPhoto {
            c.verdicts.append(present.unreadable())
        }
        state = .capturing(c)
        return state
    }

    /// Close the session: the core decides, and the decision is stored for good.
    @discardableResult
    public func finish() throws -> FlowState {
        guard case .capturing(let c) = state else {
            throw FlowError.outOfOrder("not capturing")
        }
        _ = try screener().closeSession(session: c.sessionId, actor: operatorCode())
        let fields = c.verdicts.filter { $0.number != nil }
        state = .result(FlowState.Finished(sessionId: c.sessionId, patient: c.patient, model: try result(c.sessionId, fields)))
        return state
    }

    @discardableResult
    public func startReview() throws -> FlowState {
        guard case .result(let r) = state else {
            throw FlowError.outOfOrder("no result to review")
        }
        state = .review(r)
        return state
    }

    /// Back to the result without a review (a review opened by mistake):
    /// nothing recorded; relabels made meanwhile stay.
    @discardableResult
    public func leaveReview() throws -> FlowState {
        guard case .review(let r) = state else {
            throw FlowError.outOfOrder("not reviewing")
        }
        state = .result(FlowState.Finished(sessionId: r.sessionId, patient: r.patient, model: r.model))
        return state
    }

    /// A reviewer replaces the outcome; the core keeps the machine's.
    @discardableResult
    public func overrideOutcome(_ decision: Decision, reviewer: String, note: String?) throws -> FlowState {
        guard case .review(var r) = state else {
            throw FlowError.outOfOrder("not reviewing")
        }
        guard let note = note, !note.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            // An override says why: the hospital and the next reader need the reason.
            r.error = s.get(.errorOverrideNote)
            state = .review(r)
            return state
        }
        try screener().overrideOutcome(session: r.sessionId, outcome: decision, reviewer: reviewer, note: note)
        return try backToResult(r)
    }

    /// A reviewer agrees with the machine.
    @discardableResult
    public func confirm(reviewer: String, note: String?) throws -> FlowState {
        guard case .review(let r) = state else {
            throw FlowError.outOfOrder("not reviewing")
        }
        try screener().confirm(session: r.sessionId, reviewer: reviewer, note: note)
        return try backToResult(r)
    }

    /// A reviewer's label for one cell (from the gallery); the machine's label is kept.
    @discardableResult
    public func relabelCell(field: Int64, cell: Int64, label: String, reviewer: String, note: String?) throws -> FlowState {
        guard case .review(var r) = state else {
            throw FlowError.outOfOrder("not reviewing")
        }
        try screener().relabelCell(session: r.sessionId, field: field, cell: cell, label: label, reviewer: reviewer, note: note)
        r.model = try result(r.sessionId, r.model.fields)
        state = .review(r)
        return state
    }

    /// The finished screening's cells, uncertain ones first, then by class (result and review screens).
    public func gallery() throws -> [GalleryGroup] {
        let f = try finished()
        let core = try screener()
        let tiles = try core.cellTiles(session: f.sessionId, side: UInt32(GalleryPresenter.tilePx))
        return pictures.gallery(tiles, order: try core.summary(session: f.sessionId).differential.map(\.label))
    }

    /// Each accepted field's picture with its cells' boxes.
    public func fieldOverlays() throws -> [FieldOverlayModel] {
        let f = try finished()
        let core = try screener()
        return try f.model.fields.compactMap { v -> FieldOverlayModel? in
            guard v.accepted, let n = v.number else {
                return nil
            }
            let view = try core.fieldView(session: f.sessionId, field: Int64(n - 1), longSide: UInt32(GalleryPresenter.fieldPx))
            return pictures.field(view)
        }
    }

    private func finished() throws -> FlowState.Finished {
        switch state {
        case .result(let r), .review(let r):
            return r
        default:
            throw FlowError.outOfOrder("no finished screening")
        }
    }

    private func backToResult(_ r: FlowState.Finished) throws -> FlowState {
        state = .result(FlowState.Finished(sessionId: r.sessionId, patient: r.patient, model: try result(r.sessionId, r.model.fields)))
        return state
    }

    /// The share screen: the report PDF (system share sheet), the FHIR file,
    /// the one-SMS summary; with `hospital`, the sealed bundles wait in the outbox.
    @discardableResult
    public func share(hospital: String?) throws -> FlowState {
        guard case .result(let r) = state else {
            throw FlowError.outOfOrder("no result to share")
        }
        let core = try screener()
        if let hospital = hospital {
            _ = try core.share(session: r.sessionId, hospital: hospital, actor: operatorCode())
        }
        state = .sharing(FlowState.Sharing(
            sessionId: r.sessionId,
            patient: r.patient,
            pdf: try core.reportPdf(session: r.sessionId),
            fhirJson: try core.fhirJson(session: r.sessionId),
            sms: try core.sms(session: r.sessionId),
            outbox: try outboxOf(r.sessionId)
        ))
        return state
    }

    /// Re-read the case's outbox (after the background task's delivery pass).
    @discardableResult
    public func refreshOutbox() throws -> FlowState {
        guard case .sharing(var sh) = state else {
            throw FlowError.outOfOrder("not sharing")
        }
        sh.outbox = try outboxOf(sh.sessionId)
        state = .sharing(sh)
        return state
    }

    /// Back to a new patient code, from the result or the share screen.
    @discardableResult
    public func newScreening() throws -> FlowState {
        switch state {
        case .result, .sharing:
            state = .patientCode(error: nil)
            return state
        default:
            throw FlowError.outOfOrder("a screening is not finished")
        }
    }

    /// The history's rows, each with its case's outbox items.
    public func history(_ filter: HistoryFilter = HistoryFilter()) throws -> [HistoryRow] {
        let core = try screener()
        let outbox = Dictionary(grouping: try core.outbox(), by: \.sessionId)
        return try core.list(query: filter.query()).map { present.history($0, outbox: outbox[$0.id] ?? []) }
    }

    private func outboxOf(_ sid: Int64) throws -> [OutboxRow] {
        try screener().outbox().filter { $0.sessionId == sid }.map(present.outbox)
    }

    private func result(_ sid: Int64, _ fields: [FieldVerdict]) throws -> ResultModel {
        let row = try storedRow(sid)
        return present.result(try screener().summary(session: sid), fields: fields, row: row)
    }

    /// One stored screening's row, by its id.
    private func storedRow(_ sid: Int64) throws -> SessionRow? {
        try screener().list(query: SessionQuery(session: sid, limit: 1)).first
    }

    /// Lets go of the core (the store is closed); the flow cannot be used after.
    public func close() {
        opened?.shutdown()
        opened = nil
    }
}
