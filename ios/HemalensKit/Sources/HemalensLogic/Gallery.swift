import Foundation
import HemalensBindings

/// One cell's crop in the review gallery; `description` is its VoiceOver label.
public struct CellTileModel: Equatable, Identifiable {
    public let field: Int64
    public let cell: Int64
    public let jpeg: Data
    /// The label that stands (a reviewer's, else the machine's), as a code and in words.
    public let label: String
    public let name: String
    public let caption: String
    public let description: String
    /// Shown apart, with a dashed frame: the machine did not count it.
    public let uncertain: Bool
    public let relabelled: Bool

    public var id: String { "\(field)-\(cell)" }
}

/// A group of the gallery: one class, or the uncertain cells (shown first: they need a look).
public struct GalleryGroup: Equatable, Identifiable {
    public let title: String
    /// The class's code; nil for the uncertain cells.
    public let label: String?
    public let tiles: [CellTileModel]

    public var id: String { label ?? "" }
}

/// A box on a field's picture, as fractions of the picture (so it scales with the view).
public struct MarkModel: Equatable, Identifiable {
    public let field: Int64
    public let cell: Int64
    public let left: Double
    public let top: Double
    public let width: Double
    public let height: Double
    public let name: String
    /// Counted cells are drawn solid, uncertain ones dashed (and named "perhaps" for VoiceOver).
    public let dashed: Bool
    public let description: String

    public var id: Int64 { cell }
}

/// An accepted field's picture with its cells' boxes.
public struct FieldOverlayModel: Equatable, Identifiable {
    public let field: Int64
    public let jpeg: Data
    public let width: Int
    public let height: Int
    public let marks: [MarkModel]
    public let description: String

    public var id: Int64 { field }
}

/// The result screen's pictures, made by the core (the same crops and boxes
/// as the report's). Mirrors Kotlin's `GalleryPresenter`.
public struct GalleryPresenter {
    /// Gallery crops: 160 px squares (three columns on a phone at 2x or 3x).
    public static let tilePx = 160
    /// Field pictures: 1280 px on the long side (sharp on a phone, quick to make).
    public static let fieldPx = 1280

    private let s: Strings
    private let present: Presenter

    public init(_ strings: Strings) {
        s = strings
        present = Presenter(strings)
    }

    /// VoiceOver's words for one cell, and the tile's caption below it.
    private func describe(
        field: Int64, cell: Int64, label: String, machine: String, confidence: Float, counted: Bool, relabelled: Bool
    ) -> (description: String, caption: String) {
        let name = present.cellName(label)
        let sure = present.percent(Double(confidence))
        let photo = Int(field) + 1
        let n = Int(cell) + 1
        let description: String
        if relabelled {
            description = s.get(.cellTileRelabelled, photo, n, name, present.cellName(machine))
        } else if !counted {
            description = s.get(.cellTileUncertain, photo, n, name, sure)
        } else {
            description = s.get(.cellTile, photo, n, name, sure)
        }
        return (description, relabelled ? name : "\(name) \(sure)")
    }

    public func tile(_ t: CellTile) -> CellTileModel {
        let d = describe(
            field: t.field, cell: t.cell, label: t.label, machine: t.machineLabel,
            confidence: t.confidence, counted: t.counted, relabelled: t.relabelled
        )
        return CellTileModel(
            field: t.field, cell: t.cell, jpeg: t.jpeg, label: t.label, name: present.cellName(t.label),
            caption: d.caption, description: d.description, uncertain: !t.counted, relabelled: t.relabelled
        )
    }

    /// Uncertain cells first, then one group per class in the order the core lists the differential.
    public func gallery(_ tiles: [CellTile], order: [String]) -> [GalleryGroup] {
        let models = tiles.map(tile)
        let uncertain = models.filter { $0.uncertain }
        let counted = models.filter { !$0.uncertain }
        var byLabel: [String: [CellTileModel]] = [:]
        for m in counted {
            byLabel[m.label, default: []].append(m)
        }
        let labels = order.filter { byLabel[$0] != nil } + byLabel.keys.filter { !order.contains($0) }.sorted()
        var groups: [GalleryGroup] = []
        if !uncertain.isEmpty {
            groups.append(GalleryGroup(title: s.get(.galleryUncertain), label: nil, tiles: uncertain))
        }
        for label in labels {
            groups.append(GalleryGroup(title: present.cellName(label), label: label, tiles: byLabel[label] ?? []))
        }
        return groups
    }

    public func field(_ v: FieldView) -> FieldOverlayModel {
        let w = Double(v.width)
        let h = Double(v.height)
        let marks = v.marks.map { m in
            MarkModel(
                field: v.field,
                cell: m.cell,
                left: Double(m.x) / w,
                top: Double(m.y) / h,
                width: Double(m.w) / w,
                height: Double(m.h) / h,
                name: present.cellName(m.label),
                dashed: !m.counted,
                description: describe(
                    field: v.field, cell: m.cell, label: m.label, machine: m.machineLabel,
                    confidence: m.confidence, counted: m.counted, relabelled: m.relabelled
                ).description
            )
        }
        return FieldOverlayModel(
            field: v.field, jpeg: v.jpeg, width: Int(v.width), height: Int(v.height), marks: marks,
            description: s.get(.fieldOverlay, marks.count, Int(v.field) + 1)
        )
    }
}
