import Foundation
import HemalensBindings

/// A hospital's card, scanned as a QR code or pasted: everything a phone
/// needs to share with it, in one line
/// (`hemalens:hospital?name=Central&url=https%3A%2F%2Finbox.example%2Ftus%2F&key=age1...&photos=wifi`;
/// `docs/wire-format.md`). The core reads and writes it (the same code as the
/// hospital's inbox and the Android app), so a card reads the same everywhere.
public enum HospitalCard {
    /// The card's hospital, or nil when `text` is not a card.
    public static func parse(_ text: String) -> Hospital? {
        try? hospitalCardParse(text: text)
    }

    /// The card for `h`.
    public static func format(_ h: Hospital) -> String {
        hospitalCard(hospital: h)
    }
}
