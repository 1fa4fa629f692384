import Foundation
import HemalensLogic
import Security

/// The phone's `DeviceVault`: the records store's 32-byte key and the
/// device's 32-byte signing seed in the iOS Keychain (generic passwords of
/// this app, readable after the first unlock, never leaving this device: not
/// in backups, not in iCloud Keychain), each made once from
/// `SecRandomCopyBytes` when first asked for; the first run's setup (no
/// secret) in `UserDefaults`.
final class KeychainVault: DeviceVault {
    enum Failure: Error {
        case random(OSStatus)
        case keychain(OSStatus)
        case corrupt(String)
    }

    private static let service = "org.hemalens.vault"
    private static let storeKeyAccount = "records-store-key"
    private static let deviceSeedAccount = "device-signing-seed"
    private static let setupKey = "org.hemalens.setup"
    private let defaults: UserDefaults
    private let lock = NSLock()

    init(defaults: UserDefaults = .standard) {
        self.defaults = defaults
    }

    func loadSetup() -> Setup? {
        guard let data = defaults.data(forKey: KeychainVault.setupKey) else {
            return nil
        }
        return try? JSONDecoder().decode(Setup.self, from: data)
    }

    func saveSetup(_ setup: Setup) throws {
        defaults.set(try JSONEncoder().encode(setup), forKey: KeychainVault.setupKey)
    }

    func storeKey() throws -> Data {
        try secret(KeychainVault.storeKeyAccount)
    }

    func deviceSeed() throws -> Data {
        try secret(KeychainVault.deviceSeedAccount)
    }

    /// The 32 bytes kept under `account`, made and kept on first use.
    private func secret(_ account: String) throws -> Data {
        lock.lock()
        defer { lock.unlock() }
        if let existing = try read(account) {
            guard existing.count == 32 else {
                throw Failure.corrupt(account)
            }
            return existing
        }
        let fresh = try KeychainVault.random32()
        let status = SecItemAdd(item(account, value: fresh) as CFDictionary, nil)
        if status == errSecDuplicateItem, let raced = try read(account) {
            return raced
        }
        guard status == errSecSuccess else {
            throw Failure.keychain(status)
        }
        return fresh
    }

    private func base(_ account: String) -> [String: Any] {
        [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: KeychainVault.service,
            kSecAttrAccount as String: account,
        ]
    }

    private func item(_ account: String, value: Data) -> [String: Any] {
        var q = base(account)
        q[kSecValueData as String] = value
        q[kSecAttrAccessible as String] = kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly
        q[kSecAttrSynchronizable as String] = kCFBooleanFalse
        return q
    }

    private func read(_ account: String) throws -> Data? {
        var q = base(account)
        q[kSecReturnData as String] = kCFBooleanTrue
        q[kSecMatchLimit as String] = kSecMatchLimitOne
        var out: CFTypeRef?
        let status = SecItemCopyMatching(q as CFDictionary, &out)
        switch status {
        case errSecSuccess:
            guard let data = out as? Data else {
                throw Failure.corrupt(account)
            }
            return data
        case errSecItemNotFound:
            return nil
        default:
            throw Failure.keychain(status)
        }
    }

    private static func random32() throws -> Data {
        var bytes = [UInt8](repeating: 0, count: 32)
        let status = SecRandomCopyBytes(kSecRandomDefault, bytes.count, &bytes)
        guard status == errSecSuccess else {
            throw Failure.random(status)
        }
        return Data(bytes)
    }
}
