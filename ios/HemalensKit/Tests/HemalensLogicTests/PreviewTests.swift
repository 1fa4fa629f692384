// The capture screen's logic: real frames (the README's eyepiece photo and a
// dimmed copy, laid out bi-planar 4:2:0 as AVFoundation delivers them)
// through FrameAdapter into the core's FrameGuide, the circle mapped onto a
// rotated aspect-fill preview, frames dropped between analyses, announcements
// only when the hint changes, and the shutter's rules. The Swift twin of
// android/logic/src/test/kotlin/org/hemalens/app/PreviewTest.kt.
import Foundation
import HemalensBindings
import HemalensLogic
import XCTest

/// A frame with other planes or another rotation than the one it wraps.
struct AlteredFrame: CameraFrame {
    let base: CameraFrame
    var rotation: Int?
    var replacedPlanes: [FramePlane]?

    var width: Int { base.width }
    var height: Int { base.height }
    var rotationDegrees: Int { rotation ?? base.rotationDegrees }
    var planes: [FramePlane] { replacedPlanes ?? base.planes }
}

/// An analyser that answers what it is told and counts its calls.
final class FakeAnalyzer: FrameAnalyzer {
    var answer: Guidance
    var calls = 0

    init(_ answer: Guidance) {
        self.answer = answer
    }

    func analyzeYuv(
        width: UInt32, height: UInt32, y: Data, yRowStride: UInt32, u: Data, v: Data,
        uvRowStride: UInt32, uvPixelStride: UInt32
    ) throws -> Guidance {
        calls += 1
        XCTAssertEqual(uvPixelStride, 2, "bi-planar chroma")
        XCTAssertEqual(u.count, v.count + 1, "V is U from offset 1")
        XCTAssertEqual(u.dropFirst().first, v.first, "V starts at U's second byte")
        return answer
    }
}

final class PreviewTests: XCTestCase {
    private var demo: RGBA!

    override func setUpWithError() throws {
        let url = Repo.root.appendingPathComponent("tests/fixtures/demo/eyepiece_bccd_00339.jpg")
        // A 4:3 photo as a 1280x720 preview frame shows it: scaled to the height, the sides dark.
        demo = try XCTUnwrap(RGBA.decode(try Data(contentsOf: url), width: 1280, height: 720), "the demo photo")
    }

    private static func guidance(ready: Bool, issues: [IssueCode], white: UInt32 = 3, fov: Fov? = Fov(cx: 640, cy: 360, r: 330)) -> Guidance {
        Guidance(
            apertureFound: fov != nil, apertureCentred: fov != nil, apertureBigEnough: fov != nil, fov: fov,
            exposure: 0.5, focus: 1, rbcDiameterPx: 20, whiteCells: white,
            issues: issues.map { QualityIssue(code: $0, message: "core words") }, ready: ready
        )
    }

    func testRealFramesThroughTheCoresGuide() throws {
        let s = try Repo.catalogue("en")
        let guide = try FrameGuide(longSide: 480, rescaleEvery: 15)
        var now: Int64 = 0
        let adapter = FrameAdapter(analyzer: guide, strings: s, minIntervalMs: 100, clockMs: { now })
        let good = demo.biPlanarFrame()
        let dark = demo.dimmed(0.1).biPlanarFrame()
        let view = ViewPort(width: 1280, height: 720)

        // A good eyepiece frame is ready, every check says good in words.
        let o = try XCTUnwrap(adapter.onFrame(good, view: view))
        XCTAssertTrue(o.ready, "ready: \(String(describing: o.guidance))")
        XCTAssertEqual(o.hint, s.get(.guideReady))
        XCTAssertTrue(o.checks.allSatisfy(\.ok), "\(o.checks)")
        XCTAssertEqual(
            o.checks.prefix(3).map(\.text),
            [Str.guideLight, .guideFocus, .guideAperture].map { s.get(.guideCheckOk, s.get($0)) }, "said in words"
        )
        XCTAssertEqual(o.announcement, o.hint, "the first hint is announced")
        let c = try XCTUnwrap(o.circle)
        XCTAssertTrue(abs(c.cx - 640) < 40 && abs(c.cy - 360) < 40 && (300...380).contains(c.r), "circle where the aperture is: \(c)")

        // Frames sooner than the interval are dropped, the next one is analysed.
        let before = adapter.analysed
        now += 50
        XCTAssertFalse(adapter.wantsFrame(), "too soon")
        XCTAssertNil(adapter.onFrame(good, view: view), "dropped")
        now += 60
        XCTAssertTrue(adapter.wantsFrame())
        let again = try XCTUnwrap(adapter.onFrame(good, view: view))
        XCTAssertEqual(adapter.analysed, before + 1, "one analysed")
        XCTAssertNil(again.announcement, "the same hint is not said again")

        // A dim lamp gets the gate's reason in the user's words, and is announced.
        now += 200
        let d = try XCTUnwrap(adapter.onFrame(dark, view: view))
        XCTAssertFalse(d.ready)
        XCTAssertEqual(d.hint, s.get(.issueTooDark), "the catalogue's too_dark")
        XCTAssertEqual(d.announcement, d.hint, "announced because it changed")
        XCTAssertEqual(d.checks.first?.ok, false, "light needs fixing")
        XCTAssertEqual(d.checks.first?.text, s.get(.guideCheckFix, s.get(.guideLight)), "in words")

        // The circle follows the rotation onto a portrait screen (aspect fill).
        now += 200
        let portrait = ViewPort(width: 1080, height: 2400)
        let rotated = AlteredFrame(base: good, rotation: 90, replacedPlanes: nil)
        let r = try XCTUnwrap(adapter.onFrame(rotated, view: portrait))
        let f = try XCTUnwrap(r.guidance?.fov)
        // Upright, the 1280x720 frame is 720x1280; filling 1080x2400 scales by 1.875 and crops the sides.
        let k = max(1080 / 720.0, 2400 / 1280.0)
        XCTAssertEqual(FrameAdapter.toView(GuideCircle(cx: 0, cy: 0, r: 1), frame: rotated, view: portrait).cx, (1080 - 720 * k) / 2 + 720 * k, accuracy: 1e-9, "frame origin at the top right")
        let rc = try XCTUnwrap(r.circle)
        XCTAssertEqual(rc.cx, (1080 - 720 * k) / 2 + (720 - f.cy) * k, accuracy: 1e-6)
        XCTAssertEqual(rc.cy, f.cx * k, accuracy: 1e-6)
        XCTAssertEqual(rc.r, f.r * k, accuracy: 1e-6, "radius scaled")

        // A frame whose planes do not fit is a hint, not a crash.
        now += 200
        let short = good.planes.dropFirst().map { FramePlane(data: $0.data.prefix(10), rowStride: $0.rowStride, pixelStride: $0.pixelStride) }
        let broken = AlteredFrame(base: good, rotation: nil, replacedPlanes: [good.planes[0]] + short)
        let b = try XCTUnwrap(adapter.onFrame(broken, view: view))
        XCTAssertEqual(b.hint, s.get(.guideFrameError))
        XCTAssertTrue(b.circle == nil && !b.ready, "nothing drawn")
    }

    func testHintsAndChecksFromTheCodesAlone() throws {
        let s = try Repo.catalogue("fr")
        let fake = FakeAnalyzer(PreviewTests.guidance(ready: false, issues: [.outOfFocus, .tooDark]))
        var now: Int64 = 0
        let adapter = FrameAdapter(analyzer: fake, strings: s, minIntervalMs: 100, clockMs: { now })
        let frame = demo.biPlanarFrame()
        let view = ViewPort(width: 1280, height: 720)
        let o = try XCTUnwrap(adapter.onFrame(frame, view: view))
        XCTAssertEqual(o.hint, s.get(.issueOutOfFocus), "the first code chooses; the core's English is never shown")
        XCTAssertEqual(o.checks.map(\.ok), [false, false, true, true])
        now += 100
        fake.answer = PreviewTests.guidance(ready: false, issues: [.fovOffCentre], fov: nil)
        let none = try XCTUnwrap(adapter.onFrame(frame, view: view))
        XCTAssertEqual(none.hint, s.get(.guideNoAperture))
        XCTAssertNil(none.circle)
        now += 100
        fake.answer = PreviewTests.guidance(ready: false, issues: [.noCells], white: 0)
        let empty = try XCTUnwrap(adapter.onFrame(frame, view: view))
        XCTAssertEqual(empty.checks.last?.text, s.get(.guideCheckFix, s.get(.guideCells, 0)))
        XCTAssertEqual(fake.calls, 3)
    }

    func testToViewForEveryRotation() {
        let frame = AlteredFrame(base: demo.biPlanarFrame(), rotation: 0, replacedPlanes: nil)
        let view = ViewPort(width: 1280, height: 720)
        let c = GuideCircle(cx: 100, cy: 50, r: 10)
        XCTAssertEqual(FrameAdapter.toView(c, frame: frame, view: view), c, "same size, no rotation: unchanged")
        var upsideDown = frame
        upsideDown.rotation = 180
        XCTAssertEqual(FrameAdapter.toView(c, frame: upsideDown, view: view), GuideCircle(cx: 1180, cy: 670, r: 10))
        var left = frame
        left.rotation = -90
        let l = FrameAdapter.toView(c, frame: left, view: ViewPort(width: 720, height: 1280))
        XCTAssertEqual(l, GuideCircle(cx: 50, cy: 1180, r: 10), "-90 is 270: (cy, w - cx)")
    }

    func testTheShutterTakesOnePhotoAtATime() {
        var t: Int64 = 0
        let sh = Shutter(debounceMs: 700, clockMs: { t })
        XCTAssertTrue(sh.press(.volumeKey), "first press")
        XCTAssertFalse(sh.press(.screen), "busy while analysing")
        sh.done()
        t += 100
        XCTAssertFalse(sh.press(.screen), "a bounce within 700 ms")
        t += 700
        XCTAssertFalse(sh.press(.volumeKey, keyRepeat: 3), "a held key's repeat")
        XCTAssertTrue(sh.press(.volumeKey), "a new press")
    }
}
