// Hospital cards (read and written by the core, as on Android and at the
// inbox): a round trip, the core's form encoding, and anything else is not a
// card. History filters and days.
import Foundation
import HemalensBindings
import HemalensLogic
import XCTest

final class EnrolmentTests: XCTestCase {
    private let recipient = "age1wnf0ycdmv5vn9jczlzxuan0e96zxrm8e88cxleetzaqsr3lwwyuquca9jz"

    func testACardRoundTripsAndReadsAsKotlinWritesIt() {
        let h = Hospital(name: "Central & Co", url: "https://inbox.example/tus/", recipient: recipient, photosOnWifiOnly: false)
        let card = HospitalCard.format(h)
        XCTAssertEqual(HospitalCard.parse(card), h, "round trip")
        // Form encoding (spaces as '+'), as the core writes it on every platform.
        XCTAssertEqual(card, "hemalens:hospital?name=Central+%26+Co&url=https%3A%2F%2Finbox.example%2Ftus%2F&key=\(recipient)&photos=any")
        let plus = "hemalens:hospital?name=Clinic+A&url=http%3A%2F%2F10.0.0.2%2Ftus%2F&key=\(recipient)"
        XCTAssertEqual(HospitalCard.parse("  \(plus)\n")?.name, "Clinic A")
        XCTAssertEqual(HospitalCard.parse(plus)?.photosOnWifiOnly, true, "photos wait for Wi-Fi unless the card says any")
    }

    func testAnythingElseIsNotACard() {
        let h = Hospital(name: "Central", url: "https://inbox.example/tus/", recipient: recipient, photosOnWifiOnly: false)
        let bad = [
            "",
            "age1wnf0",
            "hemalens:hospital?name=x",
            "hemalens:hospital?name=x&url=ftp%3A%2F%2Fa%2F&key=\(recipient)",
            HospitalCard.format(h).replacingOccurrences(of: "photos=any", with: "photos=sometimes"),
            HospitalCard.format(h).replacingOccurrences(of: "key=age1", with: "key=age2"),
            HospitalCard.format(h).replacingOccurrences(of: "name=Central", with: "name=" + String(repeating: "x", count: 61)),
        ]
        for text in bad {
            XCTAssertNil(HospitalCard.parse(text), "not a card: \(text)")
        }
    }

    func testDaysAndHistoryFilters() {
        XCTAssertEqual(Day.parse(" 2025-03-01 "), Day(year: 2025, month: 3, day: 1))
        for bad in ["2025-3-1", "2025-02-30", "01-03-2025", "2025-03-01T00:00", "tomorrow"] {
            XCTAssertNil(Day.parse(bad), bad)
        }
        let utc = TimeZone(identifier: "UTC")!
        let q = HistoryFilter(patient: "  ", from: Day(year: 2025, month: 3, day: 1), to: Day(year: 2025, month: 3, day: 1)).query(timeZone: utc)
        XCTAssertNil(q.patient, "a blank patient is no filter")
        XCTAssertEqual(q.fromMs, 1_740_787_200_000, "2025-03-01T00:00Z")
        XCTAssertEqual(q.toMs, 1_740_873_600_000, "the day after: the 'to' day is included")
        XCTAssertEqual(q.limit, 50)
        XCTAssertEqual(HistoryFilter(patient: " PT-1 ").query().patient, "PT-1")
        XCTAssertTrue(ScreeningFlow.isPatientCode("PT-A1"))
        for bad in ["", "ab", "Amina Juma", "PT/01", "-PT1", "ÉT-01", String(repeating: "x", count: 21)] {
            XCTAssertFalse(ScreeningFlow.isPatientCode(bad), bad)
        }
    }
}
