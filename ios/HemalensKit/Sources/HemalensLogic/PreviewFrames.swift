import Foundation
import HemalensBindings

/// One plane of a YUV 4:2:0 frame: `data[y * rowStride + x * pixelStride]` is sample (x, y).
public struct FramePlane {
    public let data: Data
    public let rowStride: Int
    public let pixelStride: Int

    public init(data: Data, rowStride: Int, pixelStride: Int) {
        self.data = data
        self.rowStride = rowStride
        self.pixelStride = pixelStride
    }
}

/// A live camera frame: luma, then the two chroma planes at half resolution.
/// The app's `PixelBufferFrame` copies an AVFoundation `CVPixelBuffer` into
/// a `BiPlanarFrame`; the tests make frames from real photos.
public protocol CameraFrame {
    var width: Int { get }
    var height: Int { get }
    /// Degrees clockwise that turn the frame upright on the screen (0, 90, 180, 270).
    var rotationDegrees: Int { get }
    /// Y, U (Cb), V (Cr).
    var planes: [FramePlane] { get }
}

/// A bi-planar 4:2:0 frame (`kCVPixelFormatType_420YpCbCr8BiPlanarFullRange`,
/// what `AVCaptureVideoDataOutput` gives when asked): the Y plane and one
/// interleaved CbCr plane. U is the CbCr bytes, V the same bytes from offset 1,
/// both with pixel stride 2 (no copy: V is a slice of the same `Data`).
public struct BiPlanarFrame: CameraFrame {
    public let width: Int
    public let height: Int
    public let rotationDegrees: Int
    public let planes: [FramePlane]

    public init(width: Int, height: Int, rotationDegrees: Int, y: Data, yRowStride: Int, cbcr: Data, cbcrRowStride: Int) {
        self.width = width
        self.height = height
        self.rotationDegrees = rotationDegrees
        planes = [
            FramePlane(data: y, rowStride: yRowStride, pixelStride: 1),
            FramePlane(data: cbcr, rowStride: cbcrRowStride, pixelStride: 2),
            FramePlane(data: cbcr.dropFirst(), rowStride: cbcrRowStride, pixelStride: 2),
        ]
    }
}

/// The core's preview guide: `FrameGuide.analyzeYuv` (UniFFI), which
/// answers the core's `Guidance` or throws `HemalensError.InvalidInput` for
/// planes that do not fit their strides. A protocol so that the tests can
/// stand in for it.
public protocol FrameAnalyzer: AnyObject {
    func analyzeYuv(
        width: UInt32, height: UInt32, y: Data, yRowStride: UInt32, u: Data, v: Data,
        uvRowStride: UInt32, uvPixelStride: UInt32
    ) throws -> Guidance
}

/// The generated `FrameGuide` is the analyser as it is.
extension FrameGuide: FrameAnalyzer {}

/// The eyepiece's bright circle, in frame pixels (before rotation) or view
/// points. Kotlin's `Circle` (renamed: SwiftUI has a `Circle`).
public struct GuideCircle: Equatable {
    public let cx: Double
    public let cy: Double
    public let r: Double

    public init(cx: Double, cy: Double, r: Double) {
        self.cx = cx
        self.cy = cy
        self.r = r
    }
}

/// Where the preview is drawn, in view points; scaled to fill and centred
/// (`AVLayerVideoGravity.resizeAspectFill`).
public struct ViewPort: Equatable {
    public let width: Double
    public let height: Double

    public init(width: Double, height: Double) {
        self.width = width
        self.height = height
    }
}

/// One line of the capture checklist; `ok` is also said in words (`text`), never by colour alone.
public struct GuideCheck: Equatable {
    public let name: String
    public let ok: Bool
    public let text: String
}

/// What the capture screen draws over the preview for one frame.
public struct GuideOverlay: Equatable {
    /// The eyepiece circle in view points (nil while none is found).
    public let circle: GuideCircle?
    public let ready: Bool
    /// One sentence: what to do now.
    public let hint: String
    /// Light, focus, circle, white cells.
    public let checks: [GuideCheck]
    /// For VoiceOver: the hint when it changed since the last frame, else nil (no chatter).
    public let announcement: String?
    public let guidance: Guidance?
}

/// Hands camera frames to the core's guide and turns its answer into what
/// the capture screen draws. At most one frame per `minIntervalMs` is
/// analysed, and none while another is being analysed (the rest are dropped:
/// the preview only needs a few answers a second, and the battery lasts);
/// `onFrame` returns nil for a dropped frame. `wantsFrame()` says beforehand
/// whether a frame would be taken, so the app copies a pixel buffer's planes
/// only for the frames analysed. Safe to call from the capture queue while
/// the main thread reads nothing of it. Mirrors Kotlin's `FrameAdapter`.
public final class FrameAdapter {
    private static let cellIssues: Set<IssueCode> = [.noCells, .tooSparse, .tooCrowded, .scaleUnknown]

    private let analyzer: FrameAnalyzer
    private let s: Strings
    private let present: Presenter
    private let minIntervalMs: Int64
    private let clockMs: () -> Int64
    private let lock = NSLock()
    private var lastAt: Int64?
    private var lastHint: String?
    private var busy = false
    private var count = 0

    public init(
        analyzer: FrameAnalyzer,
        strings: Strings,
        minIntervalMs: Int64 = 120,
        clockMs: @escaping () -> Int64 = { Int64(ProcessInfo.processInfo.systemUptime * 1000) }
    ) {
        self.analyzer = analyzer
        self.s = strings
        self.present = Presenter(strings)
        self.minIntervalMs = minIntervalMs
        self.clockMs = clockMs
    }

    /// Frames analysed so far (not dropped).
    public var analysed: Int {
        lock.lock()
        defer { lock.unlock() }
        return count
    }

    /// Would `onFrame` analyse a frame now? (No frame is analysed in between.)
    public func wantsFrame() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return !busy && !tooSoon(clockMs())
    }

    private func tooSoon(_ now: Int64) -> Bool {
        guard let last = lastAt else {
            return false
        }
        return now - last < minIntervalMs
    }

    public func onFrame(_ frame: CameraFrame, view: ViewPort) -> GuideOverlay? {
        lock.lock()
        let now = clockMs()
        if busy || tooSoon(now) {
            lock.unlock()
            return nil
        }
        lastAt = now
        busy = true
        count += 1
        lock.unlock()
        defer {
            lock.lock()
            busy = false
            lock.unlock()
        }
        let g: Guidance
        do {
            g = try analyze(frame)
        } catch {
            // Planes that do not fit their strides, or a frame of another format.
            return overlay(circle: nil, guidance: nil, hint: s.get(.guideFrameError), checks: [], ready: false)
        }
        let hint: String
        if g.ready {
            hint = s.get(.guideReady)
        } else if !g.apertureFound {
            hint = s.get(.guideNoAperture)
        } else if let first = g.issues.first {
            hint = present.issue(first.code)
        } else {
            hint = s.get(.guideReady)
        }
        let codes = Set(g.issues.map(\.code))
        let cells = s.get(.guideCells, Int(g.whiteCells))
        let cellsOk = g.whiteCells > 0 && codes.isDisjoint(with: FrameAdapter.cellIssues)
        let checks = [
            check(.guideLight, ok: !codes.contains(.tooDark) && !codes.contains(.burntOut)),
            check(.guideFocus, ok: !codes.contains(.outOfFocus)),
            check(.guideAperture, ok: g.apertureFound && g.apertureCentred && g.apertureBigEnough),
            GuideCheck(name: cells, ok: cellsOk, text: s.get(g.whiteCells > 0 ? .guideCheckOk : .guideCheckFix, cells)),
        ]
        let circle = g.fov.map { FrameAdapter.toView(GuideCircle(cx: $0.cx, cy: $0.cy, r: $0.r), frame: frame, view: view) }
        return overlay(circle: circle, guidance: g, hint: hint, checks: checks, ready: g.ready)
    }

    private func overlay(circle: GuideCircle?, guidance: Guidance?, hint: String, checks: [GuideCheck], ready: Bool) -> GuideOverlay {
        lock.lock()
        let announce = hint == lastHint ? nil : hint
        lastHint = hint
        lock.unlock()
        return GuideOverlay(circle: circle, ready: ready, hint: hint, checks: checks, announcement: announce, guidance: guidance)
    }

    private func check(_ what: Str, ok: Bool) -> GuideCheck {
        let name = s.get(what)
        return GuideCheck(name: name, ok: ok, text: s.get(ok ? .guideCheckOk : .guideCheckFix, name))
    }

    private func analyze(_ frame: CameraFrame) throws -> Guidance {
        guard frame.planes.count == 3, frame.width > 0, frame.height > 0 else {
            throw FlowError.invalidArgument("a YUV 4:2:0 frame has 3 planes, not \(frame.planes.count)")
        }
        let y = frame.planes[0]
        let u = frame.planes[1]
        let v = frame.planes[2]
        guard u.rowStride == v.rowStride && u.pixelStride == v.pixelStride else {
            throw FlowError.invalidArgument("the chroma planes' strides differ")
        }
        return try analyzer.analyzeYuv(
            width: UInt32(frame.width), height: UInt32(frame.height),
            y: y.data, yRowStride: UInt32(y.rowStride),
            u: u.data, v: v.data,
            uvRowStride: UInt32(u.rowStride), uvPixelStride: UInt32(u.pixelStride)
        )
    }

    /// A circle in frame pixels where it shows on the screen: turned upright
    /// by the frame's rotation, then scaled to fill `view` and centred.
    public static func toView(_ c: GuideCircle, frame: CameraFrame, view: ViewPort) -> GuideCircle {
        let w = Double(frame.width)
        let h = Double(frame.height)
        // The circle's centre and the frame's size, turned upright.
        let t: (x: Double, y: Double, w: Double, h: Double)
        switch ((frame.rotationDegrees % 360) + 360) % 360 {
        case 90:
            t = (h - c.cy, c.cx, h, w)
        case 180:
            t = (w - c.cx, h - c.cy, w, h)
        case 270:
            t = (c.cy, w - c.cx, h, w)
        default:
            t = (c.cx, c.cy, w, h)
        }
        let k = max(view.width / t.w, view.height / t.h)
        return GuideCircle(cx: (view.width - t.w * k) / 2 + t.x * k, cy: (view.height - t.h * k) / 2 + t.y * k, r: c.r * k)
    }
}

/// The shutter: the screen's button and the volume buttons (as NLM's
/// Malaria Screener does), one photo at a time. A second press within
/// `debounceMs` takes no second photo; no press counts while the last photo
/// is being taken and analysed. Mirrors Kotlin's `Shutter`.
public final class Shutter {
    public enum Source: Sendable {
        case screen
        case volumeKey
    }

    private let debounceMs: Int64
    private let clockMs: () -> Int64
    private var lastAt: Int64?

    /// A photo is being taken or analysed.
    public private(set) var busy = false

    public init(debounceMs: Int64 = 700, clockMs: @escaping () -> Int64 = { Int64(ProcessInfo.processInfo.systemUptime * 1000) }) {
        self.debounceMs = debounceMs
        self.clockMs = clockMs
    }

    /// True: take the photo now (and call `done()` when its verdict is in).
    /// `keyRepeat` is Android's key repeat count; iOS's capture event has none (0).
    public func press(_ source: Source, keyRepeat: Int = 0) -> Bool {
        if busy || (source == .volumeKey && keyRepeat > 0) {
            return false
        }
        let now = clockMs()
        if let last = lastAt, now - last < debounceMs {
            return false
        }
        lastAt = now
        busy = true
        return true
    }

    public func done() {
        busy = false
    }
}
