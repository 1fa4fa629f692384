import Combine
import Foundation
import HemalensBindings
import HemalensLogic
import os

/// The string catalogue the flow and the screens read, switched when the user
/// picks another language (on the first run, or later on the hospital page).
/// Read from the core queue and the main thread: a lock guards the swap.
final class LiveStrings: Strings, @unchecked Sendable {
    private let lock = NSLock()
    private var current: Catalogue

    init(_ catalogue: Catalogue) {
        current = catalogue
    }

    var catalogue: Catalogue {
        lock.lock()
        defer { lock.unlock() }
        return current
    }

    func set(_ catalogue: Catalogue) {
        lock.lock()
        current = catalogue
        lock.unlock()
    }

    func text(_ key: Str, _ args: [CVarArg]) -> String {
        catalogue.text(key, args)
    }

    /// The catalogue of `tag` from the app bundle (`<tag>.lproj`), English when it cannot be read.
    static func load(_ tag: String) -> Catalogue {
        for t in [tag, "en"] {
            if let url = Bundle.main.url(forResource: t, withExtension: "lproj"),
               let c = try? Catalogue.load(lproj: url, language: t) {
                return c
            }
        }
        // Only a broken build gets here: the keys show themselves.
        return Catalogue(language: "en", table: [:], plurals: [:])
    }

    /// The phone's first preferred language the app speaks, else English.
    static func preferredTag() -> String {
        for p in Locale.preferredLanguages {
            let base = String(p.prefix(while: { $0 != "-" && $0 != "_" }))
            if languages.contains(where: { $0.tag == base }) {
                return base
            }
        }
        return "en"
    }
}

/// The one owner of the core: the screening flow, and the serial queue every
/// call to it runs on (the core blocks: never on the main thread). Shared by
/// the screens (`AppModel`) and the background outbox task (`OutboxTask`),
/// which may run with no screen at all.
final class AppCore: @unchecked Sendable {
    static let shared = AppCore()

    let strings: LiveStrings
    let vault: KeychainVault
    private let queue = DispatchQueue(label: "org.hemalens.core", qos: .userInitiated)
    /// Deliveries block on the network for as long as an upload takes: not on
    /// the flow's queue (the `Screener` itself is thread-safe).
    private let deliveryQueue = DispatchQueue(label: "org.hemalens.delivery", qos: .utility)
    /// Touched on `queue` only.
    private var flow: ScreeningFlow?
    private let log = Logger(subsystem: "org.hemalens", category: "core")

    private init() {
        let v = KeychainVault()
        vault = v
        strings = LiveStrings(LiveStrings.load(v.loadSetup()?.language ?? LiveStrings.preferredTag()))
    }

    /// Runs `body` on the core queue with the flow (opened on first use).
    func run<T>(_ body: @escaping (ScreeningFlow) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<T, Error>) in
            queue.async {
                cont.resume(with: Result { try body(self.openedFlow()) })
            }
        }
    }

    /// On `queue` only.
    private func openedFlow() throws -> ScreeningFlow {
        if let flow = flow {
            return flow
        }
        let dir = try AppCore.recordsDirectory()
        let version = Bundle.main.object(forInfoDictionaryKey: "CFBundleShortVersionString") as? String ?? "0"
        let f = try ScreeningFlow(
            storeDir: dir.path,
            vault: vault,
            strings: strings,
            appVersion: "ios-\(version)",
            config: ScreenerConfig(threads: 2, packDir: nil),
            engine: TFLiteEngine()
        )
        flow = f
        log.info("core opened (\(coreVersion(), privacy: .public))")
        return f
    }

    /// One delivery pass (`Delivery`), off the flow's queue; nil before the first run.
    func deliver(onWifi: Bool) async throws -> DeliveryReport? {
        let screener: Screener? = try await run { flow in
            try flow.currentSetup == nil ? nil : flow.screener()
        }
        guard let screener = screener else {
            return nil
        }
        return try await withCheckedThrowingContinuation { (cont: CheckedContinuation<DeliveryReport?, Error>) in
            deliveryQueue.async {
                cont.resume(with: Result { try Delivery(screener).run(onWifi: onWifi) })
            }
        }
    }

    /// `Application Support/records`: kept from backups (the key stays in this
    /// phone's Keychain, so a copy elsewhere could not be opened anyway), readable
    /// after the first unlock (the background outbox task runs while locked).
    static func recordsDirectory() throws -> URL {
        let base = try FileManager.default.url(
            for: .applicationSupportDirectory, in: .userDomainMask, appropriateFor: nil, create: true
        )
        var dir = base.appendingPathComponent("records", isDirectory: true)
        try FileManager.default.createDirectory(
            at: dir, withIntermediateDirectories: true,
            attributes: [.protectionKey: FileProtectionType.completeUntilFirstUserAuthentication]
        )
        var values = URLResourceValues()
        values.isExcludedFromBackup = true
        try dir.setResourceValues(values)
        return dir
    }
}

/// What the screens draw and the actions they take. Every core call goes
/// through `AppCore.run` (off the main thread, one at a time); the screens
/// only read `state` and the models.
@MainActor
final class AppModel: ObservableObject {
    @Published private(set) var state: FlowState = .firstRun(error: nil)
    @Published private(set) var catalogue: Catalogue
    @Published private(set) var started = false
    /// Core calls under way (several may wait on the core's queue).
    @Published private(set) var pending = 0
    /// A call that failed, in one plain sentence (never the patient's data).
    @Published var failure: String?
    /// After the first run: offer to enrol a hospital (optional).
    @Published var offerEnrolment = false
    @Published private(set) var gallery: [GalleryGroup] = []
    @Published private(set) var overlays: [FieldOverlayModel] = []
    @Published private(set) var loadingPictures = false
    @Published private(set) var hospitals: [Hospital] = []
    @Published private(set) var deviceKey: DeviceKey?

    let core: AppCore
    let shutter = Shutter()
    private let log = Logger(subsystem: "org.hemalens", category: "app")

    init(core: AppCore) {
        self.core = core
        self.catalogue = core.strings.catalogue
    }

    var busy: Bool { pending > 0 }

    var presenter: Presenter { Presenter(catalogue) }

    var setup: Setup? { core.vault.loadSetup() }

    /// Opens the core (the model packs compile: a second or two) and shows the first screen.
    func start() async {
        guard !started else {
            return
        }
        await perform { $0.state }
        started = true
        await refreshHospitals()
    }

    /// The first run's language choice: every text switches at once.
    func chooseLanguage(_ tag: String) {
        let c = LiveStrings.load(tag)
        core.strings.set(c)
        catalogue = c
    }

    /// The language changed after the first run: the flow saves it with the
    /// setup, then every text switches at once.
    func changeLanguage(_ tag: String) async {
        if await ask({ try $0.changeLanguage(tag) }) != nil {
            chooseLanguage(tag)
        }
    }

    /// Runs a flow call off the main thread and shows the state it leaves.
    func perform(_ body: @escaping (ScreeningFlow) throws -> FlowState) async {
        pending += 1
        defer { pending -= 1 }
        do {
            state = try await core.run(body)
        } catch {
            fail(error)
        }
    }

    /// A call whose answer is not a state (pictures, history, keys).
    func ask<T>(_ body: @escaping (ScreeningFlow) throws -> T) async -> T? {
        do {
            return try await core.run(body)
        } catch {
            fail(error)
            return nil
        }
    }

    private func fail(_ error: Error) {
        // The kind only: a message may carry a code, never patient data, but the log is not the place for either.
        let kind = AppModel.kind(of: error)
        log.error("core call failed: \(kind, privacy: .public)")
        if let e = error as? HemalensError {
            switch e {
            case .DiskFull:
                failure = catalogue.ui(.uiErrorDiskFull)
                return
            case .WrongKey:
                failure = catalogue.ui(.uiErrorWrongKey)
                return
            default:
                break
            }
        }
        failure = catalogue.ui(.uiErrorOther, kind)
    }

    /// `BadPhoto`, `InvalidState`, `outOfOrder`...: the case's name, without its details.
    static func kind(of error: Error) -> String {
        let text = String(describing: error)
        let name = text.prefix { $0 != "(" && $0 != "\"" && $0 != " " }
        return name.isEmpty ? String(describing: type(of: error)) : String(name)
    }

    /// Shown when the camera gave no photo (the shutter opens again).
    func photoFailed() {
        shutter.done()
        failure = catalogue.ui(.uiPhotoFailed)
    }

    func cameraFailed() {
        failure = catalogue.ui(.uiCameraFailed)
    }

    // MARK: the flow's steps

    func completeFirstRun(site: String, staffCode: String) async {
        let setup = Setup(language: catalogue.language, site: site, operator: staffCode)
        await perform { try $0.completeFirstRun(setup) }
        if case .patientCode = state {
            offerEnrolment = true
            deviceKey = await ask { try $0.deviceKey() }
        }
    }

    /// Enrols the hospital of a scanned or pasted card: whether it was added
    /// and the sentence to show (the catalogue's), or nil when the call failed
    /// (the failure is shown).
    func enrol(card: String) async -> (added: Bool, message: String)? {
        guard let error = await ask({ try $0.enrol(card: card) }) else {
            return nil
        }
        await refreshHospitals()
        if let error = error {
            return (false, error)
        }
        return (true, catalogue.ui(.uiHospitalAdded))
    }

    func refreshHospitals() async {
        let list: [Hospital]? = await ask { flow in
            try flow.currentSetup == nil ? [] : flow.screener().hospitals()
        }
        hospitals = list ?? []
        if deviceKey == nil, setup != nil {
            deviceKey = await ask { try $0.deviceKey() }
        }
    }

    func startScreening(_ code: String) async {
        await perform { try $0.startScreening(code) }
    }

    /// The shutter's photo: analysed at once, its verdict shown; the shutter opens again after.
    func addPhoto(_ jpeg: Data) async {
        await perform { try $0.addPhoto(jpeg) }
        shutter.done()
    }

    func finish() async {
        gallery = []
        overlays = []
        await perform { try $0.finish() }
        OutboxTask.schedule()
    }

    /// The result's pictures: each field's overlay and the per-cell gallery
    /// (the core crops and draws them: a few hundred milliseconds).
    func loadPictures() async {
        loadingPictures = true
        defer { loadingPictures = false }
        if let o = await ask({ try $0.fieldOverlays() }) {
            overlays = o
        }
        if let g = await ask({ try $0.gallery() }) {
            gallery = g
        }
    }

    /// The classes a reviewer may give a cell (the cell pack's), by code and name.
    var relabelChoices: [(code: String, name: String)] {
        presenter.cellLabels()
    }

    func startReview() async {
        await perform { try $0.startReview() }
    }

    func leaveReview() async {
        await perform { try $0.leaveReview() }
    }

    func confirm(reviewer: String, note: String?) async {
        await perform { try $0.confirm(reviewer: reviewer, note: note) }
    }

    func overrideOutcome(_ d: Decision, reviewer: String, note: String?) async {
        await perform { try $0.overrideOutcome(d, reviewer: reviewer, note: note) }
    }

    func relabel(_ tile: CellTileModel, to label: String, reviewer: String, note: String?) async {
        await perform { try $0.relabelCell(field: tile.field, cell: tile.cell, label: label, reviewer: reviewer, note: note) }
        await loadPictures()
    }

    func share(hospital: String?) async {
        await perform { try $0.share(hospital: hospital) }
        if hospital != nil {
            OutboxTask.schedule(after: 0)
            await deliverNow()
        }
    }

    /// A delivery pass now when a link exists (the background task does the same later).
    func deliverNow() async {
        guard LinkMonitor.shared.linked else {
            return
        }
        _ = try? await core.deliver(onWifi: LinkMonitor.shared.onWifi)
        if case .sharing = state {
            await perform { try $0.refreshOutbox() }
        }
    }

    /// The shared case still has something queued or sending.
    var outboxWaiting: Bool {
        guard case .sharing(let sh) = state else {
            return false
        }
        return sh.outbox.contains { $0.state == .queued || $0.state == .sending }
    }

    func refreshOutbox() async {
        if case .sharing = state {
            await perform { try $0.refreshOutbox() }
        }
    }

    func newScreening() async {
        gallery = []
        overlays = []
        await perform { try $0.newScreening() }
    }

    /// The history's rows, each with its case's outbox rows (none: not sent to a hospital).
    func history(_ filter: HistoryFilter) async -> [HistoryRow] {
        await ask { try $0.history(filter) } ?? []
    }

    /// A case from the history: a finished one opens on its result (review,
    /// share again), an open one goes back to capturing.
    func openCase(_ row: HistoryRow) async {
        gallery = []
        overlays = []
        await perform { try $0.openCase(row) }
    }
}
