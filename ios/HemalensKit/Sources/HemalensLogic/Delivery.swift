import Foundation
import HemalensBindings

/// What one background delivery pass did, and whether to try again later.
public struct DeliveryReport: Equatable, Sendable {
    public let delivered: Int
    public let refused: Int
    public let waiting: Int
    public let reviewsApplied: Int
    /// Something still waits (a link was down, photos wait for Wi-Fi): schedule another pass.
    public let retry: Bool
}

/// One pass of the background task (iOS `BGTaskScheduler`, Android
/// WorkManager): send what the outbox holds, then take back the hospitals'
/// reviews. Blocking; offline it returns quickly with `retry`. Mirrors
/// Kotlin's `Delivery`.
public struct Delivery {
    private let screener: Screener

    public init(_ screener: Screener) {
        self.screener = screener
    }

    public func run(onWifi: Bool) throws -> DeliveryReport {
        let items: [OutboxItem]
        do {
            items = try screener.outboxSend(onWifi: onWifi)
        } catch HemalensError.Storage {
            return DeliveryReport(delivered: 0, refused: 0, waiting: 0, reviewsApplied: 0, retry: true)
        }
        let syncs: [ReviewSync] = try screener.hospitals().isEmpty ? [] : screener.syncReviews()
        let waiting = items.filter { $0.state == .queued || $0.state == .sending }.count
        return DeliveryReport(
            delivered: items.filter { $0.state == .delivered }.count,
            refused: items.filter { $0.state == .refused }.count,
            waiting: waiting,
            reviewsApplied: syncs.reduce(0) { $0 + Int($1.applied) },
            retry: waiting > 0 || syncs.contains { $0.error != nil }
        )
    }
}
