import Foundation

/// Every text the shell logic shows, by key: the Android string resource name
/// (`android/app/src/main/res/values/strings.xml`, `values-fr`, `-sw`, `-hi`),
/// the same cases as Kotlin's `org.hemalens.app.Str` in lowerCamelCase.
/// `scripts/ios_strings.py` generates `Localizable.strings` (and, for the
/// quantity strings, `Localizable.stringsdict`) from the Android files, and its
/// `--check` fails when these cases and the Android keys differ.
public enum Str: String, CaseIterable, Sendable {
    case errorSiteMissing = "error_site_missing"
    case errorOperatorMissing = "error_operator_missing"
    case errorPatientCode = "error_patient_code"
    case errorHospitalCard = "error_hospital_card"
    case errorOverrideNote = "error_override_note"
    case captureCells = "capture_cells"
    case captureFields = "capture_fields"
    case captureEnough = "capture_enough"
    case fieldAccepted = "field_accepted"
    case fieldRejected = "field_rejected"
    case photoUnreadable = "photo_unreadable"
    case guideNoAperture = "guide_no_aperture"
    case guideReady = "guide_ready"
    case guideFrameError = "guide_frame_error"
    case guideFocus = "guide_focus"
    case guideLight = "guide_light"
    case guideAperture = "guide_aperture"
    case guideCells = "guide_cells"
    case guideCheckOk = "guide_check_ok"
    case guideCheckFix = "guide_check_fix"
    case issueNotASmear = "issue_not_a_smear"
    case issueNoCells = "issue_no_cells"
    case issueTooDark = "issue_too_dark"
    case issueBurntOut = "issue_burnt_out"
    case issueOutOfFocus = "issue_out_of_focus"
    case issueFovTooSmall = "issue_fov_too_small"
    case issueFovOffCentre = "issue_fov_off_centre"
    case issueTooSparse = "issue_too_sparse"
    case issueTooCrowded = "issue_too_crowded"
    case issueScaleUnknown = "issue_scale_unknown"
    case issueUnfamiliarImage = "issue_unfamiliar_image"
    case outcomeRefer = "outcome_refer"
    case outcomeNoAbnormality = "outcome_no_abnormality"
    case outcomeInconclusive = "outcome_inconclusive"
    case outcomeNotFinished = "outcome_not_finished"
    case outcomeChangedByReviewer = "outcome_changed_by_reviewer"
    case nextRefer = "next_refer"
    case nextNoAbnormality = "next_no_abnormality"
    case nextCaptureMore = "next_capture_more"
    case nextCheckThenCapture = "next_check_then_capture"
    case nextFieldLimit = "next_field_limit"
    case nextExpertReview = "next_expert_review"
    case nextReviewedInconclusive = "next_reviewed_inconclusive"
    case percent = "percent"
    case differentialRow = "differential_row"
    case cellNeutrophil = "cell_neutrophil"
    case cellLymphocyte = "cell_lymphocyte"
    case cellMonocyte = "cell_monocyte"
    case cellEosinophil = "cell_eosinophil"
    case cellBasophil = "cell_basophil"
    case cellIg = "cell_ig"
    case cellErythroblast = "cell_erythroblast"
    case cellPlatelet = "cell_platelet"
    case galleryUncertain = "gallery_uncertain"
    case cellTile = "cell_tile"
    case cellTileUncertain = "cell_tile_uncertain"
    case cellTileRelabelled = "cell_tile_relabelled"
    case fieldOverlay = "field_overlay"
    case reviewOpen = "review_open"
    case reviewPending = "review_pending"
    case reviewReviewed = "review_reviewed"
    case reviewNotNeeded = "review_not_needed"
    case outboxKindResults = "outbox_kind_results"
    case outboxKindPhotos = "outbox_kind_photos"
    case outboxQueued = "outbox_queued"
    case outboxSending = "outbox_sending"
    case outboxDelivered = "outbox_delivered"
    case outboxRefused = "outbox_refused"
    case historyPhotos = "history_photos"

    /// The quantity strings (Android `<plurals>`): the first argument is the
    /// count that picks the form ("1 more field", "3 more fields").
    public static let plurals: Set<Str> = [.nextCaptureMore, .nextCheckThenCapture, .fieldOverlay]

    /// The resource name: `.errorSiteMissing` is `error_site_missing`.
    public var key: String { rawValue }

    public var plural: Bool { Str.plurals.contains(self) }
}

/// A language the app speaks, by its BCP 47 tag and its own name (never translated).
public struct Language: Equatable, Hashable, Sendable {
    public let tag: String
    public let name: String

    public init(tag: String, name: String) {
        self.tag = tag
        self.name = name
    }
}

/// The first run's choice; each has the whole catalogue (checked by the tests
/// and by `scripts/ios_strings.py --check`). The tag is the `.lproj` folder's name.
public let languages: [Language] = [
    Language(tag: "en", name: "English"),
    Language(tag: "fr", name: "Français"),
    Language(tag: "sw", name: "Kiswahili"),
    Language(tag: "hi", name: "हिन्दी"),
]

/// The string catalogue in the user's language; `args` fill `%1$@`, `%2$d`...
/// For a plural key (`Str.plural`) the first argument (an `Int`) also picks
/// the form.
public protocol Strings {
    func text(_ key: Str, _ args: [CVarArg]) -> String
}

extension Strings {
    /// `s.get(.captureCells, 3, 40)`: Kotlin's `s.get(Str.CAPTURE_CELLS, 3, 40)`.
    public func get(_ key: Str, _ args: CVarArg...) -> String {
        text(key, args)
    }
}

/// Why a catalogue could not be read.
public enum CatalogueError: Error, Equatable {
    case unreadable(String)
    case missing(language: String, keys: [String])
}

/// One language's catalogue, read from its `.lproj` folder: `Localizable.strings`
/// and `Localizable.stringsdict` (the `Str` texts) and `Shell.strings` (the
/// `UiStr` labels), all generated by `scripts/ios_strings.py`. The app reads
/// the folder of the language chosen on the first run, not the system's: a
/// health worker's phone may be set to a language the app does not speak, or
/// to another one than theirs.
public struct Catalogue: Strings {
    public let language: String
    /// Key -> format (`%1$@`, `%2$d`).
    public let table: [String: String]
    /// Key -> quantity (`one`, `other`...) -> format.
    public let plurals: [String: [String: String]]
    /// The screens' labels: key -> format.
    public let shell: [String: String]

    public init(language: String, table: [String: String], plurals: [String: [String: String]], shell: [String: String] = [:]) {
        self.language = language
        self.table = table
        self.plurals = plurals
        self.shell = shell
    }

    /// Reads the folder's three tables; fails when a `Str` or `UiStr` key is missing.
    public static func load(lproj folder: URL, language: String) throws -> Catalogue {
        guard let table = try plist(folder.appendingPathComponent("Localizable.strings")) as? [String: String] else {
            throw CatalogueError.unreadable("Localizable.strings of \(language)")
        }
        var plurals: [String: [String: String]] = [:]
        let dictURL = folder.appendingPathComponent("Localizable.stringsdict")
        if FileManager.default.fileExists(atPath: dictURL.path) {
            guard let dict = try plist(dictURL) as? [String: Any] else {
                throw CatalogueError.unreadable("Localizable.stringsdict of \(language)")
            }
            for (key, value) in dict {
                guard let entry = value as? [String: Any], let forms = entry["count"] as? [String: Any] else {
                    throw CatalogueError.unreadable("\(key) in Localizable.stringsdict of \(language)")
                }
                var out: [String: String] = [:]
                for (quantity, text) in forms where !quantity.hasPrefix("NSString") {
                    out[quantity] = text as? String
                }
                plurals[key] = out
            }
        }
        var shell: [String: String] = [:]
        let shellURL = folder.appendingPathComponent("Shell.strings")
        if FileManager.default.fileExists(atPath: shellURL.path) {
            guard let t = try plist(shellURL) as? [String: String] else {
                throw CatalogueError.unreadable("Shell.strings of \(language)")
            }
            shell = t
        }
        let missing = Str.allCases.filter { k in
            k.plural ? plurals[k.key]?["other"] == nil : table[k.key] == nil
        }.map(\.key) + UiStr.allCases.filter { shell[$0.key] == nil }.map(\.key)
        if !missing.isEmpty {
            throw CatalogueError.missing(language: language, keys: missing)
        }
        return Catalogue(language: language, table: table, plurals: plurals, shell: shell)
    }

    private static func plist(_ url: URL) throws -> Any {
        let data = try Data(contentsOf: url)
        return try PropertyListSerialization.propertyList(from: data, options: [], format: nil)
    }

    public func text(_ key: Str, _ args: [CVarArg]) -> String {
        let format: String?
        if key.plural, let forms = plurals[key.key] {
            let count = (args.first as? Int) ?? Int((args.first as? Int32) ?? 0)
            format = forms[PluralRule.category(language: language, count: count)] ?? forms["other"]
        } else {
            format = table[key.key]
        }
        // A missing key shows itself (never an empty label); load() refuses such a catalogue.
        return Catalogue.format(format ?? key.key, args)
    }

    /// `String(format:)` with this catalogue's conventions: an `Int` goes to
    /// `%d` as a 32-bit `Int32` (the C meaning of `%d`; counts are small), a
    /// `String` to `%@` as an `NSString`; no locale, so digits are the same
    /// ASCII digits as in the Android app and the core's texts.
    public static func format(_ format: String, _ args: [CVarArg]) -> String {
        if args.isEmpty {
            // The catalogue's texts have no lone %; "%%" still needs formatting.
            return format.contains("%") ? String(format: format, arguments: []) : format
        }
        let fixed: [CVarArg] = args.map { a -> CVarArg in
            if let i = a as? Int {
                return Int32(clamping: i)
            }
            if let s = a as? String {
                return NSString(string: s)
            }
            return a
        }
        return String(format: format, arguments: fixed)
    }
}

/// Which quantity form a count takes (CLDR's cardinal rules for whole numbers,
/// the languages of `languages` only; anything else takes `other`).
public enum PluralRule {
    public static func category(language: String, count: Int) -> String {
        let base = language.split(separator: "-").first.map(String.init) ?? language
        switch base {
        case "fr", "hi":
            return count == 0 || count == 1 ? "one" : "other"
        case "en", "sw":
            return count == 1 ? "one" : "other"
        default:
            return "other"
        }
    }
}
