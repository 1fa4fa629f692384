// The string catalogue as the app loads it (the generated .lproj tables):
// every key in all four languages with the same placeholders, plurals by
// each language's rule, and outcomes told apart by words and icons in every
// language, not by colour alone. Mirrors FlowTest.kt's catalogue checks.
import Foundation
import HemalensBindings
import HemalensLogic
import XCTest

final class CatalogueTests: XCTestCase {
    private func placeholders(_ text: String) -> [String] {
        let re = try! NSRegularExpression(pattern: "%(\\d+\\$)?[sdf@]")
        let ns = text as NSString
        return re.matches(in: text, range: NSRange(location: 0, length: ns.length)).map { ns.substring(with: $0.range) }.sorted()
    }

    func testEveryKeyInAllFourLanguagesWithTheSamePlaceholders() throws {
        let english = try Repo.catalogue("en")
        var problems: [String] = []
        for lang in languages {
            // load() itself fails on a missing Str or UiStr key.
            let c = try Repo.catalogue(lang.tag)
            for key in Str.allCases {
                if key.plural {
                    let forms = c.plurals[key.key] ?? [:]
                    let want = placeholders(english.plurals[key.key]?["other"] ?? "")
                    for (q, text) in forms where placeholders(text) != want && placeholders(text) != want.filter({ $0 != "%1$d" }) {
                        problems.append("\(lang.tag)/\(key.key)[\(q)] placeholders \(placeholders(text))")
                    }
                } else {
                    let text = c.table[key.key] ?? ""
                    if text.trimmingCharacters(in: .whitespaces).isEmpty {
                        problems.append("\(lang.tag)/\(key.key) is blank")
                    }
                    if placeholders(text) != placeholders(english.table[key.key] ?? "") {
                        problems.append("\(lang.tag)/\(key.key) placeholders \(placeholders(text))")
                    }
                }
            }
            for key in UiStr.allCases where placeholders(c.shell[key.key] ?? "") != placeholders(english.shell[key.key] ?? "") {
                problems.append("\(lang.tag)/\(key.key) placeholders")
            }
        }
        XCTAssertEqual(problems, [])
        let folders = try FileManager.default.contentsOfDirectory(atPath: Repo.resources.path)
            .filter { $0.hasSuffix(".lproj") }.map { String($0.dropLast(6)) }.sorted()
        XCTAssertEqual(languages.map(\.tag).sorted(), folders, "the first run offers the languages the catalogue has")
    }

    func testPluralsByEachLanguagesRule() throws {
        let en = try Repo.catalogue("en")
        XCTAssertEqual(en.get(.nextCaptureMore, 1), "Capture 1 more field.")
        XCTAssertEqual(en.get(.nextCaptureMore, 3), "Capture 3 more fields.")
        XCTAssertEqual(en.get(.fieldOverlay, 1, 4), "Photo 4: 1 cell marked", "count first, photo second")
        let fr = try Repo.catalogue("fr")
        XCTAssertTrue(fr.get(.nextCaptureMore, 1).hasSuffix("1 champ."), fr.get(.nextCaptureMore, 1))
        XCTAssertTrue(fr.get(.nextCaptureMore, 0).hasSuffix("0 champ."), "French: 0 takes the singular")
        XCTAssertEqual(PluralRule.category(language: "hi", count: 0), "one")
        XCTAssertEqual(PluralRule.category(language: "sw", count: 0), "other")
    }

    func testFormatsAsAndroidDoes() throws {
        let en = try Repo.catalogue("en")
        XCTAssertEqual(en.get(.percent, 42), "42%")
        XCTAssertEqual(en.get(.outboxSending, 7), "sending 7%")
        XCTAssertEqual(en.get(.fieldRejected, 2, "Too dark."), "Photo 2: Too dark.")
        XCTAssertEqual(en.get(.errorPatientCode), "Enter a patient code of 3 to 20 letters, numbers or dashes. Never the patient's name.")
        XCTAssertEqual(en.ui(.uiSendTo, "Central"), "Yes, send to Central")
        XCTAssertEqual(
            en.get(.differentialRow, "Lymphocyte", 3, 10, "30%", "11%", "60%"),
            "Lymphocyte: 3 of 10, 30% (95% range 11% to 60%)"
        )
    }

    func testOutcomesHaveTheirOwnIconAndWordsNotColourAlone() throws {
        let styles = OutcomeStyle.allCases
        let decisions: [Decision] = [.refer, .noAbnormalityDetected, .inconclusive]
        XCTAssertEqual(Set(decisions.map { OutcomeStyle.of($0).iconId }), Set(styles.map(\.iconId)), "one style per decision")
        XCTAssertEqual(Set(styles.map(\.iconId)).count, styles.count, "distinct icons")
        XCTAssertEqual(Set(styles.map(\.symbol)).count, styles.count, "distinct SF Symbols")
        XCTAssertTrue(styles.allSatisfy { $0.iconId.hasPrefix("ic_") && !$0.colourToken.isEmpty })
        for lang in languages {
            let c = try Repo.catalogue(lang.tag)
            let words = styles.map { c.get($0.headline) }
            XCTAssertTrue(words.allSatisfy { !$0.isEmpty }, "\(lang.tag) headline")
            XCTAssertEqual(Set(words).count, styles.count, "\(lang.tag) headlines differ")
        }
    }
}
