import BackgroundTasks
import Foundation
import HemalensLogic
import Network
import os

/// Whether a link exists now, and whether it is Wi-Fi (photos bundles wait
/// for Wi-Fi unless the hospital allows mobile data). Nothing in a screening
/// needs it: only the outbox asks.
final class LinkMonitor: @unchecked Sendable {
    static let shared = LinkMonitor()

    private let monitor = NWPathMonitor()
    private let lock = NSLock()
    private var path: NWPath?

    private init() {
        monitor.pathUpdateHandler = { [weak self] p in
            guard let self = self else {
                return
            }
            self.lock.lock()
            self.path = p
            self.lock.unlock()
        }
        monitor.start(queue: DispatchQueue(label: "org.hemalens.link", qos: .utility))
    }

    var linked: Bool {
        lock.lock()
        defer { lock.unlock() }
        return path?.status == .satisfied
    }

    var onWifi: Bool {
        lock.lock()
        defer { lock.unlock() }
        guard let p = path, p.status == .satisfied else {
            return false
        }
        return p.usesInterfaceType(.wifi) || p.usesInterfaceType(.wiredEthernet)
    }
}

/// The outbox's background delivery: a `BGProcessingTask` that iOS runs when
/// a network link exists (`requiresNetworkConnectivity`), which sends what
/// the outbox holds (`Screener.outboxSend`) and takes the hospitals' reviews
/// back (`Delivery`), then asks to run again while something waits.
/// Registered before the app finishes launching (`HemalensApp.init`); its
/// identifier is in Info.plist's `BGTaskSchedulerPermittedIdentifiers`.
/// Debug it in the Xcode debugger with
/// `e -l objc -- (void)[[BGTaskScheduler sharedScheduler] _simulateLaunchForTaskWithIdentifier:@"org.hemalens.outbox"]`.
enum OutboxTask {
    static let identifier = "org.hemalens.outbox"
    private static let log = Logger(subsystem: "org.hemalens", category: "outbox")

    static func register(core: AppCore) {
        let ok = BGTaskScheduler.shared.register(forTaskWithIdentifier: identifier, using: nil) { task in
            guard let task = task as? BGProcessingTask else {
                task.setTaskCompleted(success: false)
                return
            }
            handle(task, core: core)
        }
        if !ok {
            log.error("the outbox task could not be registered (Info.plist)")
        }
    }

    /// Asks iOS for a delivery pass once a link exists, no sooner than `after` seconds.
    static func schedule(after seconds: TimeInterval = 15 * 60) {
        let request = BGProcessingTaskRequest(identifier: identifier)
        request.requiresNetworkConnectivity = true
        request.requiresExternalPower = false
        request.earliestBeginDate = Date(timeIntervalSinceNow: seconds)
        do {
            try BGTaskScheduler.shared.submit(request)
        } catch {
            // Unavailable in the simulator and with Background App Refresh off:
            // the share screen's own pass and the next launch still deliver.
            log.info("outbox task not scheduled: \(String(describing: error), privacy: .public)")
        }
    }

    private static func handle(_ task: BGProcessingTask, core: AppCore) {
        let work = Task {
            do {
                let report = try await core.deliver(onWifi: LinkMonitor.shared.onWifi)
                if let r = report {
                    log.info("outbox pass: \(r.delivered) delivered, \(r.refused) refused, \(r.waiting) waiting, \(r.reviewsApplied) reviews")
                    if r.retry {
                        schedule()
                    }
                }
                task.setTaskCompleted(success: true)
            } catch {
                log.error("outbox pass failed: \(String(describing: error), privacy: .public)")
                schedule()
                task.setTaskCompleted(success: false)
            }
        }
        // A pass is one blocking call into the core: it ends on its own (the
        // core's uploads resume where they stopped); ask for another.
        task.expirationHandler = {
            work.cancel()
            schedule()
        }
    }
}
