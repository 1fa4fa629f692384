import Foundation
import HemalensBindings

/// A hospital's card, scanned as a QR code or pasted: everything a phone
/// needs to share with it, in one line:
/// `hemalens:hospital?name=Central&url=https%3A%2F%2Finbox.example%2Ftus%2F&key=age1...&photos=wifi`.
/// `photos=any` lets photos go over mobile data too (results never wait for Wi-Fi).
/// The bundles are signed and encrypted to `key` whatever the link.
/// Mirrors Kotlin's `HospitalCard`: a card either app makes reads the same in the other.
public enum HospitalCard {
    static let prefix = "hemalens:hospital?"
    /// An age X25519 recipient: `age1` and 58 bech32 characters.
    static let ageKeyPattern = "^age1[02-9ac-hj-np-z]{58}$"
    /// What `java.net.URLEncoder` leaves as it is.
    private static let unreserved = CharacterSet(
        charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-*_"
    )

    /// The card's hospital, or nil when `text` is not a card (wrong prefix, a field missing or malformed).
    public static func parse(_ text: String) -> Hospital? {
        let t = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard t.hasPrefix(prefix) else {
            return nil
        }
        var fields: [String: String] = [:]
        for part in t.dropFirst(prefix.count).split(separator: "&", omittingEmptySubsequences: false) {
            guard let eq = part.firstIndex(of: "="), eq > part.startIndex else {
                continue
            }
            let key = String(part[part.startIndex..<eq])
            // As URLDecoder: '+' is a space, %XX a byte of UTF-8; a bad escape drops the field.
            let raw = String(part[part.index(after: eq)...]).replacingOccurrences(of: "+", with: " ")
            if let value = raw.removingPercentEncoding {
                fields[key] = value
            } else {
                fields.removeValue(forKey: key)
            }
        }
        guard let name = fields["name"]?.trimmingCharacters(in: .whitespacesAndNewlines),
              (1...60).contains(name.utf16.count),
              let url = fields["url"], isHttpURL(url),
              let key = fields["key"], key.range(of: ageKeyPattern, options: .regularExpression) != nil
        else {
            return nil
        }
        let wifiOnly: Bool
        switch fields["photos"] ?? "wifi" {
        case "wifi": wifiOnly = true
        case "any": wifiOnly = false
        default: return nil
        }
        return Hospital(name: name, url: url, recipient: key, photosOnWifiOnly: wifiOnly)
    }

    /// The card for `h` (what the hospital prints as a QR code).
    public static func format(_ h: Hospital) -> String {
        let photos = h.photosOnWifiOnly ? "wifi" : "any"
        return "\(prefix)name=\(encode(h.name))&url=\(encode(h.url))&key=\(h.recipient)&photos=\(photos)"
    }

    private static func encode(_ v: String) -> String {
        v.addingPercentEncoding(withAllowedCharacters: unreserved) ?? v
    }

    private static func isHttpURL(_ s: String) -> Bool {
        guard let u = URLComponents(string: s), let scheme = u.scheme, let host = u.host else {
            return false
        }
        return (scheme == "https" || scheme == "http") && !host.trimmingCharacters(in: .whitespaces).isEmpty
    }
}
