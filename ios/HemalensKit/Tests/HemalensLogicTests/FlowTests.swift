// The iOS shell's logic over the real core: a whole screening through
// ScreeningFlow (the generated Swift bindings, the core's own LiteRT) on real
// BCCD photos, the presentation models checked against what the Screener
// reports. The Swift twin of android/logic/src/test/kotlin/org/hemalens/app/FlowTest.kt:
// the same steps, in the same order, in one test (the flow's state carries
// from each step to the next).
import Foundation
import HemalensBindings
import HemalensLogic
import XCTest

final class FlowTests: XCTestCase {
    private func step(_ name: String, _ body: () throws -> Void) rethrows {
        try XCTContext.runActivity(named: name) { _ in try body() }
    }

    private func percent(_ x: Double) -> String {
        "\(Int((x * 100).rounded()))%"
    }

    // swiftlint:disable:next function_body_length cyclomatic_complexity
    func testAWholeScreening() throws {
        #if os(iOS)
        // The models run with the core's own LiteRT here (engine: nil), which
        // is not built for iOS: the app gives its TFLiteEngine instead.
        throw XCTSkip("run with `swift test` on a Mac (the core's macOS slice has LiteRT)")
        #endif
        let en = try Repo.catalogue("en")
        let enP = Presenter(en)
        let langs = try languages.map { try Repo.catalogue($0.tag) }
        // BCCD fields hold one white cell each, most below the cell model's
        // confidence threshold: a dozen photos count a few, and reach the field limit.
        // One real field with the lamp turned down (as at a dim microscope) goes first: the gate must refuse it.
        let real = try Repo.bccd("val", 12)
        XCTAssertEqual(real.count, 12, "BCCD photos")
        let photos = [try dimmed(real[0])] + real
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hemalens-ios-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let records = dir.appendingPathComponent("records").path
        let vault = MemoryVault()
        let evidence = Evidence(targetCells: 5, maxFields: UInt32(photos.count))
        let config = ScreenerConfig(threads: 2, packDir: nil)
        let flow = try ScreeningFlow(storeDir: records, vault: vault, strings: en, appVersion: "logic-test", evidence: evidence, config: config)
        var sid: Int64 = 0

        try step("first run: site and operator are asked, then the store opens") {
            XCTAssertEqual(flow.state, .firstRun(error: nil))
            let bad = try flow.completeFirstRun(Setup(language: "en", site: "  ", operator: "chw-1"))
            XCTAssertEqual(bad, .firstRun(error: en.get(.errorSiteMissing)))
            XCTAssertTrue(vault.setup == nil && vault.keyReads == 0, "nothing saved, no key made")
            XCTAssertThrowsError(try flow.completeFirstRun(Setup(language: "de", site: "Site 7", operator: "chw-1")), "not a language of the app")
            let ok = try flow.completeFirstRun(Setup(language: "en", site: "Site 7", operator: " chw-1 "))
            XCTAssertEqual(ok, .patientCode(error: nil))
            XCTAssertEqual(vault.setup?.`operator`, "chw-1", "operator trimmed")
            XCTAssertEqual(try flow.screener().packs().map(\.id), ["all-screen", "wbc-type"], "packs")
        }
        try step("a patient code, never a name") {
            for bad in ["", "ab", "Amina Juma", "PT/01", String(repeating: "x", count: 21)] {
                XCTAssertEqual(try flow.startScreening(bad), .patientCode(error: en.get(.errorPatientCode)), "refused '\(bad)'")
            }
            guard case .capturing(let st) = try flow.startScreening("PT-A1") else {
                return XCTFail("capturing")
            }
            sid = st.sessionId
            XCTAssertEqual(st.progress.cells, 0, "no cells yet")
            XCTAssertEqual(st.progress.targetCells, 5, "target from the evidence")
            XCTAssertEqual(st.progress.cellsText, "0 of 5 white cells counted")
        }
        try step("each real photo gets its verdict and moves the progress as the core counts") {
            for (i, p) in photos.enumerated() {
                guard case .capturing(let st) = try flow.addPhoto(p), let added = st.lastAdded else {
                    return XCTFail("capturing")
                }
                let sum = try flow.screener().summary(session: sid)
                XCTAssertEqual(Int(added.field), i, "field number")
                XCTAssertEqual(st.progress.cells, Int(sum.cells.white), "cells")
                XCTAssertEqual(st.progress.fraction, min(1, Double(sum.cells.white) / 5), accuracy: 1e-9, "fraction")
                XCTAssertEqual(st.progress.fieldsText, "\(i + 1) of at most \(photos.count) photos taken")
                XCTAssertEqual(st.progress.enough, sum.enoughEvidence, "enough")
                let want = sum.enoughEvidence && sum.cells.white >= sum.provenance.targetCells ? en.get(.captureEnough) : sum.outcome.nextStep
                XCTAssertEqual(st.progress.nextStep, want, "next step as the core words it")
                let v = try XCTUnwrap(st.verdicts.last)
                let q = added.report.quality
                XCTAssertEqual(v.accepted, q.ok, "verdict")
                XCTAssertEqual(v.text, q.ok ? "Photo \(i + 1): accepted." : "Photo \(i + 1): \(q.issues[0].message)", "verdict words as the gate's")
            }
        }
        try step("the refused photo's verdict is the gate's reason, in every language") {
            guard case .capturing(let st) = flow.state else {
                return XCTFail("capturing")
            }
            let refused = st.verdicts.filter { !$0.accepted }
            XCTAssertFalse(refused.isEmpty, "the dimmed photo was refused")
            let q = try flow.screener().analyze(photo: photos[0]).quality
            for c in langs {
                let v = Presenter(c).verdict(1, q)
                XCTAssertTrue(!v.accepted && v.text.count > 20, "\(c.language): \(v.text)")
                if c.language != "en" {
                    XCTAssertNotEqual(v.text, refused.first?.text, "\(c.language) is translated")
                }
            }
        }
        try step("a corrupt photo is a verdict, not a crash, and stores nothing") {
            guard case .capturing(let st) = try flow.addPhoto(photos[0].prefix(photos[0].count / 3)) else {
                return XCTFail("capturing")
            }
            XCTAssertEqual(st.verdicts.last, FieldVerdict(number: nil, accepted: false, text: en.get(.photoUnreadable)))
            XCTAssertEqual(Int(try flow.screener().summary(session: sid).fields.added), photos.count, "nothing stored")
        }
        try step("the result: outcome first, next step, differential with intervals, per-field verdicts") {
            guard case .result(let r) = try flow.finish() else {
                return XCTFail("result")
            }
            let sum = try flow.screener().summary(session: sid)
            let o = r.model.outcome
            XCTAssertEqual(o.decision, sum.outcome.decision)
            XCTAssertEqual(o.headline, en.get(OutcomeStyle.of(sum.outcome.decision).headline))
            XCTAssertEqual(o.nextStep, sum.outcome.nextStep, "next step as the core words it")
            XCTAssertNil(o.changedByReviewer)
            XCTAssertEqual(r.model.differential.map(\.label), sum.differential.map(\.label), "rows")
            for (row, c) in zip(r.model.differential, sum.differential) {
                XCTAssertEqual(row.count, Int(c.proportion.k))
                XCTAssertEqual(row.of, Int(c.proportion.n))
                XCTAssertTrue(row.text.hasSuffix("\(percent(c.proportion.p)) (95% range \(percent(c.proportion.low)) to \(percent(c.proportion.high)))"), row.text)
            }
            XCTAssertEqual(r.model.fields.count, photos.count, "one verdict per stored photo")
            XCTAssertEqual(r.model.fields.filter(\.accepted).count, Int(sum.fields.accepted), "accepted as the core counts")
            for c in langs {
                let m = Presenter(c).result(sum, fields: r.model.fields, row: nil)
                let all = [m.outcome.headline, m.outcome.nextStep, m.review] + m.differential.map(\.text)
                XCTAssertTrue(all.allSatisfy { !$0.isEmpty && !$0.contains("%1") }, "\(c.language) result texts")
            }
        }
        try step("result pictures: every cell's crop grouped (uncertain first), each field with its boxes, named for VoiceOver") {
            let groups = try flow.gallery()
            let tiles = groups.flatMap(\.tiles)
            guard case .result(let r) = flow.state else {
                return XCTFail("result")
            }
            let accepted = r.model.fields.filter(\.accepted)
            XCTAssertEqual(accepted.count, Int(try flow.screener().summary(session: sid).fields.accepted))
            XCTAssertFalse(tiles.isEmpty, "cells to show")
            XCTAssertTrue(tiles.allSatisfy { $0.jpeg.prefix(2) == Data([0xFF, 0xD8]) }, "JPEG crops")
            let uncertain = tiles.filter(\.uncertain)
            if !uncertain.isEmpty {
                XCTAssertEqual(groups.first?.title, en.get(.galleryUncertain), "uncertain first")
            }
            XCTAssertTrue(groups.filter { $0.label != nil }.allSatisfy { g in g.tiles.allSatisfy { $0.label == g.label && !$0.uncertain } }, "one class a group")
            XCTAssertTrue(uncertain.allSatisfy { $0.description.contains("perhaps") }, "uncertain said as such")
            let overlays = try flow.fieldOverlays()
            XCTAssertEqual(overlays.count, accepted.count, "one picture per accepted field")
            XCTAssertEqual(overlays.reduce(0) { $0 + $1.marks.count }, tiles.count, "the same cells on the pictures as in the gallery")
            XCTAssertTrue(overlays.allSatisfy { o in
                (64...1280).contains(o.width) && (64...1280).contains(o.height)
                    && o.marks.allSatisfy { (-0.01...1).contains($0.left) && (-0.01...1).contains($0.top) }
            }, "boxes within the picture")
            XCTAssertEqual(overlays.flatMap(\.marks).filter(\.dashed).count, uncertain.count, "uncertain boxes dashed")
        }
        try step("review a cell from the gallery: the reviewer's label stands, the machine's is named") {
            guard case .review = try flow.startReview() else {
                return XCTFail("review")
            }
            let t = try XCTUnwrap(try flow.gallery().flatMap(\.tiles).first)
            let to = t.label == "lymphocyte" ? "monocyte" : "lymphocyte"
            guard case .review = try flow.relabelCell(field: t.field, cell: t.cell, label: to, reviewer: "dr-a", note: nil) else {
                return XCTFail("still reviewing")
            }
            let after = try XCTUnwrap(try flow.gallery().flatMap(\.tiles).first { $0.field == t.field && $0.cell == t.cell })
            XCTAssertTrue(after.relabelled && after.label == to && !after.uncertain, "relabelled")
            XCTAssertEqual(after.description, en.get(.cellTileRelabelled, Int(t.field) + 1, Int(t.cell) + 1, enP.cellName(to), enP.cellName(t.label)))
            let mark = try XCTUnwrap(try flow.fieldOverlays().flatMap(\.marks).first { $0.field == t.field && $0.cell == t.cell })
            XCTAssertEqual(mark.name, enP.cellName(to), "the box says the same")
            guard case .review(let reviewing) = flow.state, case .result(let back) = try flow.leaveReview() else {
                return XCTFail("back to the result")
            }
            XCTAssertEqual(back.model, reviewing.model, "back to the same result, nothing recorded")
            guard case .review = try flow.startReview() else {
                return XCTFail("and into the review again")
            }
        }
        try step("an override without a note is asked for its reason, and nothing is recorded") {
            let other: Decision = try flow.screener().summary(session: sid).outcome.decision == .refer ? .inconclusive : .refer
            for blank in ["  ", nil] as [String?] {
                guard case .review(let st) = try flow.overrideOutcome(other, reviewer: "dr-a", note: blank) else {
                    return XCTFail("still reviewing")
                }
                XCTAssertEqual(st.error, en.get(.errorOverrideNote), "the reason asked for")
            }
            let row = try XCTUnwrap(try flow.screener().list(query: SessionQuery(patient: "PT-A1")).first)
            XCTAssertEqual(row.outcome, row.machineOutcome, "the outcome stands")
        }
        try step("review: the override shows, the machine's outcome is named, the report agrees") {
            guard case .review = flow.state else {
                return XCTFail("still reviewing")
            }
            let machine = try flow.screener().summary(session: sid).outcome.decision
            let other: Decision = machine == .refer ? .inconclusive : .refer
            guard case .result(let r) = try flow.overrideOutcome(other, reviewer: "dr-a", note: "checked at the hospital") else {
                return XCTFail("result")
            }
            let o = r.model.outcome
            XCTAssertEqual(o.decision, other, "effective decision")
            XCTAssertEqual(o.iconId, OutcomeStyle.of(other).iconId, "icon follows the override")
            XCTAssertEqual(o.changedByReviewer, en.get(.outcomeChangedByReviewer, en.get(OutcomeStyle.of(machine).headline)), "machine named")
            XCTAssertEqual(r.model.review, en.get(.reviewReviewed), "reviewed")
            XCTAssertTrue(try flow.screener().reportHtml(session: sid).contains(o.nextStep), "the report's next step is the one shown")
        }
        try step("share: PDF, FHIR, SMS, and the outbox per case as the core words it") {
            let recipient = "age1wnf0ycdmv5vn9jczlzxuan0e96zxrm8e88cxleetzaqsr3lwwyuquca9jz"
            let card = HospitalCard.format(Hospital(name: "h", url: "http://127.0.0.1:9/files/", recipient: recipient, photosOnWifiOnly: true))
            XCTAssertEqual(try flow.enrol(card: card.replacingOccurrences(of: "key=age1", with: "key=age2")), en.get(.errorHospitalCard), "a spoilt card")
            XCTAssertNil(try flow.enrol(card: card), "enrolled from its card")
            XCTAssertEqual(try flow.screener().hospitals().map(\.url), ["http://127.0.0.1:9/files/"], "as the card says")
            guard case .sharing(let sh) = try flow.share(hospital: "h") else {
                return XCTFail("sharing")
            }
            XCTAssertEqual(String(decoding: sh.pdf.prefix(5), as: UTF8.self), "%PDF-")
            XCTAssertTrue(sh.fhirJson.contains("\"resourceType\":\"Bundle\""), "fhir")
            XCTAssertTrue(sh.sms.hasPrefix("HL1 ") && sh.sms.count <= 160, "sms")
            XCTAssertEqual(sh.outbox.map(\.kind), ["Results", "Photos"], "kinds")
            let items = try flow.screener().outbox().filter { $0.sessionId == sid }
            for (row, item) in zip(sh.outbox, items) {
                XCTAssertEqual(row.text, outboxStatus(item: item), "outbox words")
            }
            _ = try flow.screener().outboxSend(onWifi: false) // nothing listens on port 9: the results wait
            guard case .sharing(let again) = try flow.refreshOutbox() else {
                return XCTFail("sharing")
            }
            XCTAssertEqual(again.outbox.first?.state, .queued, "still queued")
            let itemsAfter = try flow.screener().outbox().filter({ $0.sessionId == sid })
            for (item, row) in zip(itemsAfter, again.outbox) {
                XCTAssertEqual(row.text, outboxStatus(item: item), "outbox words after a try")
            }
        }
        try step("history rows: patient code, outcome words and icon, review state") {
            XCTAssertEqual(try flow.newScreening(), .patientCode(error: nil), "back to a patient code")
            let rows = try flow.history(HistoryFilter(patient: "PT-A1"))
            XCTAssertEqual(rows.count, 1)
            let row = try XCTUnwrap(rows.first)
            XCTAssertEqual(row.sessionId, sid)
            let stored = try XCTUnwrap(try flow.screener().list(query: SessionQuery(patient: "PT-A1")).first)
            let style = OutcomeStyle.of(try XCTUnwrap(stored.outcome))
            XCTAssertEqual(row.outcome, en.get(style.headline), "outcome words")
            XCTAssertEqual(row.iconId, style.iconId, "icon")
            XCTAssertEqual(row.review, enP.review(.reviewed), "review")
            XCTAssertEqual(row.photos, "Photos: \(photos.count)")
            XCTAssertNotNil(row.date.range(of: "^\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}$", options: .regularExpression), row.date)
        }
        try step("history search: by patient, outcome, pending review and days") {
            let today = Day.of(Date())
            let tomorrow = Day.of(Date().addingTimeInterval(86_400))
            let yesterday = Day.of(Date().addingTimeInterval(-86_400))
            let stored = try XCTUnwrap(try flow.screener().list(query: SessionQuery(patient: "PT-A1")).first)
            XCTAssertEqual(try flow.history(HistoryFilter(patient: " PT-A1 ")).map(\.sessionId), [sid], "patient, trimmed")
            XCTAssertEqual(try flow.history(HistoryFilter(patient: "PT-ZZ")).count, 0, "another patient")
            XCTAssertEqual(try flow.history(HistoryFilter(outcome: stored.outcome)).map(\.sessionId), [sid], "its outcome")
            let other = ([.refer, .noAbnormalityDetected, .inconclusive] as [Decision]).first { $0 != stored.outcome }
            XCTAssertEqual(try flow.history(HistoryFilter(outcome: other)).count, 0, "another outcome")
            XCTAssertEqual(try flow.history(HistoryFilter(from: today, to: today)).map(\.sessionId), [sid], "today")
            XCTAssertEqual(try flow.history(HistoryFilter(from: tomorrow)).count, 0, "from tomorrow")
            XCTAssertEqual(try flow.history(HistoryFilter(to: yesterday)).count, 0, "until yesterday")
            XCTAssertEqual(try flow.history(HistoryFilter(pendingReview: true)).count, 0, "reviewed, so not pending")
        }
        try step("a finished case from the history opens on its result, with its outbox, to review or share again") {
            let rows = try flow.history(HistoryFilter(patient: "PT-A1"))
            XCTAssertEqual(rows.count, 1)
            let row = try XCTUnwrap(rows.first)
            XCTAssertFalse(row.open, "finished")
            let items = try flow.screener().outbox().filter { $0.sessionId == sid }
            XCTAssertEqual(row.outbox.map(\.text), items.map { outboxStatus(item: $0) }, "the case's outbox in the row")
            guard case .result(let st) = try flow.openCase(row) else {
                return XCTFail("result")
            }
            XCTAssertEqual(st.sessionId, sid, "that case")
            XCTAssertEqual(st.model.fields.count, photos.count, "every stored photo's verdict, from the core's reports")
            XCTAssertEqual(st.model.fields.filter(\.accepted).count, Int(try flow.screener().summary(session: sid).fields.accepted), "accepted as counted")
            guard case .sharing = try flow.share(hospital: nil) else {
                return XCTFail("shared again")
            }
            XCTAssertEqual(try flow.newScreening(), .patientCode(error: nil), "then a new patient")
        }
        try step("the reviewer's choices are the pack's classes, named in every language") {
            XCTAssertEqual(enP.cellLabels().map { $0.code }, Presenter.cellLabelCodes, "codes")
            for c in langs {
                let names = Presenter(c).cellLabels().map { $0.name }
                XCTAssertEqual(Set(names).count, Presenter.cellLabelCodes.count, "\(c.language): distinct names")
            }
        }
        try step("the background pass: offline, the results wait and it asks to run again") {
            let report = try Delivery(try flow.screener()).run(onWifi: false)
            XCTAssertTrue(report.retry && report.waiting >= 1 && report.delivered == 0, "\(report)")
        }
        try step("out-of-order calls are refused") {
            XCTAssertThrowsError(try flow.finish()) { e in
                XCTAssertEqual(e as? FlowError, .outOfOrder("not capturing"))
            }
        }
        try step("a second launch skips the first run, keeps the records and signs with the vault's seed") {
            let id = try flow.deviceKey()
            flow.close()
            let again = try ScreeningFlow(storeDir: records, vault: vault, strings: en, appVersion: "logic-test", evidence: evidence, config: config)
            XCTAssertEqual(again.state, .patientCode(error: nil), "straight to a patient code")
            XCTAssertEqual(try again.history().map(\.sessionId), [sid], "records kept")
            XCTAssertEqual(try again.deviceKey(), id, "the same device key")
            again.close()
            vault.seed = try generateKey()
            let third = try ScreeningFlow(storeDir: records, vault: vault, strings: en, appVersion: "logic-test", evidence: evidence, config: config)
            XCTAssertNotEqual(try third.deviceKey(), id, "the key comes from the vault's seed, not the store")
            third.close()
        }
        try step("a screening left open (the app killed mid-capture) is carried on at the next start") {
            let first = try ScreeningFlow(storeDir: records, vault: vault, strings: en, appVersion: "logic-test", evidence: evidence, config: config)
            guard case .capturing(let started) = try first.startScreening("PT-B2") else {
                return XCTFail("capturing")
            }
            for p in photos.dropFirst().prefix(2) {
                _ = try first.addPhoto(p)
            }
            XCTAssertThrowsError(try first.changeLanguage("de"), "not a language of the app")
            try first.changeLanguage("sw")
            first.close() // no finish(): as if the process died
            XCTAssertEqual(vault.setup?.language, "sw", "the language kept")
            let again = try ScreeningFlow(storeDir: records, vault: vault, strings: en, appVersion: "logic-test", evidence: evidence, config: config)
            guard case .capturing(let st) = again.state else {
                return XCTFail("capturing")
            }
            XCTAssertEqual(st.sessionId, started.sessionId, "the same screening")
            XCTAssertEqual(st.verdicts.map(\.number), [1, 2], "its photos' verdicts")
            XCTAssertNil(st.lastAdded, "no overlay for a photo taken before")
            XCTAssertEqual(st.progress, enP.progress(try again.screener().summary(session: st.sessionId)), "its progress")
            let rows = try again.history(HistoryFilter(patient: "PT-B2"))
            XCTAssertEqual(rows.map(\.open), [true], "open in the history")
            guard case .result = try again.finish() else {
                return XCTFail("and it can be finished")
            }
            again.close()
            let third = try ScreeningFlow(storeDir: records, vault: vault, strings: en, appVersion: "logic-test", evidence: evidence, config: config)
            XCTAssertEqual(third.state, .patientCode(error: nil), "nothing left open")
            third.close()
        }
    }
}
