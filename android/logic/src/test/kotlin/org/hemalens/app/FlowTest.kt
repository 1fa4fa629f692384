// The Android shell's logic on the desktop JVM: a whole screening through
// ScreeningFlow over the real core (UniFFI bindings over JNA) on real BCCD
// photos, the presentation models checked against what the Screener reports,
// and the string catalogue checked in all four languages.
// Run by android/logic/run-tests.sh; prints "N passed, M failed".
package org.hemalens.app

import org.hemalens.Evidence
import org.hemalens.ScreenerConfig
import org.hemalens.SessionQuery
import org.hemalens.core.Decision
import org.hemalens.generateKey
import org.hemalens.outboxStatus
import org.hemalens.store.Hospital
import org.hemalens.store.OutboxState
import org.hemalens.store.ReviewState
import org.hemalens.testing.assertEq
import org.hemalens.testing.assertTrue
import org.hemalens.testing.bccd
import org.hemalens.testing.check
import org.hemalens.testing.direct
import org.hemalens.testing.finish
import org.w3c.dom.Element
import java.io.ByteArrayInputStream
import java.io.ByteArrayOutputStream
import java.io.File
import java.nio.ByteBuffer
import java.nio.file.Files
import javax.imageio.ImageIO
import javax.xml.parsers.DocumentBuilderFactory

private fun unescape(t: String) = t.replace("\\'", "'").replace("\\\"", "\"").replace("\\n", "\n")

/**
 * Every string of a `values*` folder (all its XML files): `<string>` by
 * name, and each `<plurals>` form as `name#quantity`.
 */
fun readStrings(dir: File): Map<String, String> = dir.listFiles { f -> f.name.endsWith(".xml") }!!.sorted().flatMap { file ->
    val doc = DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(file)
    val strings = doc.getElementsByTagName("string").let { n -> (0 until n.length).map { n.item(it) as Element } }
        .map { it.getAttribute("name") to unescape(it.textContent) }
    val plurals = doc.getElementsByTagName("plurals").let { n -> (0 until n.length).map { n.item(it) as Element } }
        .flatMap { p ->
            val items = p.getElementsByTagName("item")
            (0 until items.length).map { items.item(it) as Element }
                .map { "${p.getAttribute("name")}#${it.getAttribute("quantity")}" to unescape(it.textContent) }
        }
    strings + plurals
}.toMap()

/** The catalogue from the XML, as the phone's Resources would answer (CLDR plural forms of the four languages). */
class XmlStrings(val table: Map<String, String>, val lang: String = "en") : Strings {
    override fun get(key: Str, vararg args: Any): String {
        val name = if (key.plural) {
            val n = args[0] as Int
            // one: n = 1 in English and Swahili; n = 0 or 1 in French and Hindi.
            val one = if (lang == "fr" || lang == "hi") n == 0 || n == 1 else n == 1
            "${key.key}#${if (one) "one" else "other"}"
        } else {
            key.key
        }
        return String.format(table[name] ?: throw AssertionError("no string $name"), *args)
    }
}

/** The catalogue's keys: plurals by their name. */
fun keysOf(table: Map<String, String>) = table.keys.map { it.substringBefore('#') }.toSet()

fun placeholders(text: String): List<String> = Regex("%(\\d+\\$)?[sdf%]").findAll(text).map { it.value }.sorted().toList()

/** The same field photographed with a lamp at a tenth of its brightness. */
fun dimmed(jpeg: ByteArray): ByteArray {
    val img = ImageIO.read(ByteArrayInputStream(jpeg))
    for (y in 0 until img.height) {
        for (x in 0 until img.width) {
            val c = img.getRGB(x, y)
            val r = (c shr 16 and 0xff) / 10
            val g = (c shr 8 and 0xff) / 10
            val b = (c and 0xff) / 10
            img.setRGB(x, y, (r shl 16) or (g shl 8) or b)
        }
    }
    return ByteArrayOutputStream().also { ImageIO.write(img, "jpg", it) }.toByteArray()
}

class MemoryVault : DeviceVault {
    var setup: Setup? = null
    private val key = generateKey()
    var seed: ByteArray = generateKey()
    var keyReads = 0
    override fun loadSetup() = setup
    override fun saveSetup(setup: Setup) {
        this.setup = setup
    }
    override fun storeKey(): ByteArray {
        keyReads++
        return key
    }
    override fun deviceSeed(): ByteArray = seed
}

fun main() {
    val res = File(System.getenv("ANDROID_RES") ?: "android/app/src/main/res")
    val langs = listOf("values", "values-fr", "values-sw", "values-hi").associateWith { readStrings(File(res, it)) }
    val tagOf = { dir: String -> dir.removePrefix("values").removePrefix("-").ifEmpty { "en" } }
    val en = XmlStrings(langs.getValue("values"))
    val enP = Presenter(en)
    val dir = Files.createTempDirectory("hemalens-app").toFile()
    val vault = MemoryVault()
    // BCCD fields hold one white cell each, most below the cell model's
    // confidence threshold: a dozen photos count a few, and reach the field limit.
    // One real field with the lamp turned down (as at a dim microscope) goes first: the gate must refuse it.
    val photos = bccd("val", 12).let { listOf(dimmed(it[0])) + it }
    val evidence = Evidence(targetCells = 5u, maxFields = photos.size.toUInt())
    val config = ScreenerConfig(threads = 2u, packDir = null)
    val flow = ScreeningFlow(File(dir, "records").path, vault, en, "logic-test", evidence, config)
    var sid = 0L

    check("every key is in all four languages, with the same placeholders; the logic's keys all there") {
        val english = langs.getValue("values")
        val want = keysOf(english)
        val missing = Str.values().filter { s -> if (s.plural) "${s.key}#other" !in english else s.key !in english }
        val problems = missing.map { "values lacks ${it.key}" } + langs.flatMap { (lang, table) ->
            (want - keysOf(table)).map { "$lang lacks $it" } + (keysOf(table) - want).map { "$lang has unknown $it" } +
                table.filter { (k, v) -> v.isBlank() }.map { "$lang/${it.key} is blank" } +
                table.filter { (k, v) ->
                    placeholders(v) != placeholders(english[k] ?: english.getValue("${k.substringBefore('#')}#other"))
                }
                    .map { "$lang/${it.key} placeholders ${placeholders(it.value)}" }
        }
        assertTrue(problems.isEmpty(), problems.joinToString("; "))
        assertEq(LANGUAGES.map { it.tag }, langs.keys.map(tagOf), "the first run offers the languages the catalogue has")
    }
    check("plurals: one field, three fields, in the language's own rule") {
        assertEq(en.get(Str.NEXT_CAPTURE_MORE, 1), "Capture 1 more field.", "en one")
        assertEq(en.get(Str.NEXT_CAPTURE_MORE, 3), "Capture 3 more fields.", "en other")
        val fr = XmlStrings(langs.getValue("values-fr"), "fr")
        assertTrue(fr.get(Str.NEXT_CAPTURE_MORE, 1).endsWith("1 champ."), fr.get(Str.NEXT_CAPTURE_MORE, 1))
        assertEq(en.get(Str.FIELD_OVERLAY, 1, 4), "Photo 4: 1 cell marked", "count first, photo second")
    }
    check("each outcome has its own icon and words, not colour alone, in every language") {
        val styles = OutcomeStyle.values()
        assertEq(Decision.values().map { OutcomeStyle.of(it) }.toSet(), styles.toSet(), "one style per decision")
        assertEq(styles.map { it.iconId }.toSet().size, styles.size, "distinct icons")
        assertTrue(styles.all { it.iconId.startsWith("ic_") && it.colourToken.isNotBlank() }, "icon ids and colour tokens")
        langs.forEach { (lang, table) ->
            val words = styles.map { XmlStrings(table, tagOf(lang)).get(it.headline) }
            assertTrue(words.all { it.isNotBlank() }, "$lang headline")
            assertEq(words.toSet().size, styles.size, "$lang headlines differ")
        }
    }
    check("first run: site and operator are asked, then the store opens") {
        assertTrue(flow.state is FlowState.FirstRun, "starts on first run: ${flow.state}")
        val bad = flow.completeFirstRun(Setup("en", "  ", "chw-1"))
        assertEq((bad as FlowState.FirstRun).error, en.get(Str.ERROR_SITE_MISSING), "site missing")
        assertTrue(vault.setup == null && vault.keyReads == 0, "nothing saved, no key made")
        val ok = flow.completeFirstRun(Setup("en", "Site 7", " chw-1 "))
        assertTrue(ok is FlowState.PatientCode && ok.error == null, "patient code next")
        assertEq(vault.setup?.operator, "chw-1", "operator trimmed")
        assertEq(flow.screener.packs().map { it.id }, listOf("all-screen", "wbc-type"), "packs")
    }
    check("a patient code, never a name") {
        for (bad in listOf("", "ab", "Amina Juma", "PT/01", "x".repeat(21))) {
            val st = flow.startScreening(bad)
            assertEq((st as FlowState.PatientCode).error, en.get(Str.ERROR_PATIENT_CODE), "refused '$bad'")
        }
        val st = flow.startScreening("PT-A1") as FlowState.Capturing
        sid = st.sessionId
        assertEq(st.progress.cells, 0, "no cells yet")
        assertEq(st.progress.targetCells, 5, "target from the evidence")
        assertEq(st.progress.cellsText, "0 of 5 white cells counted", "progress text")
    }
    check("each real photo gets its verdict and moves the progress as the core counts") {
        photos.forEachIndexed { i, p ->
            val st = flow.addPhoto(direct(p)) as FlowState.Capturing
            val added = st.lastAdded!!
            val sum = flow.screener.summary(sid)
            assertEq(added.field.toInt(), i, "field number")
            assertEq(st.progress.cells, sum.cells.white.toInt(), "cells")
            assertEq(st.progress.fraction, minOf(1f, sum.cells.white.toFloat() / 5f), "fraction")
            assertEq(st.progress.fieldsText, "${i + 1} of at most ${photos.size} photos taken", "fields text")
            assertEq(st.progress.enough, sum.enoughEvidence, "enough")
            val target = sum.provenance.targetCells
            val want = if (sum.enoughEvidence && sum.cells.white >= target) en.get(Str.CAPTURE_ENOUGH) else sum.outcome.nextStep
            assertEq(st.progress.nextStep, want, "next step as the core words it")
            val v = st.verdicts.last()
            assertEq(v.accepted, added.report.quality.ok, "verdict")
            val q = added.report.quality
            val words = if (q.ok) "Photo ${i + 1}: accepted." else "Photo ${i + 1}: ${q.issues.first().message}"
            assertEq(v.text, words, "verdict words as the gate's")
            println("     photo ${i + 1}: ${v.text} | ${st.progress.cellsText} | ${st.progress.nextStep}")
        }
    }
    check("the refused photo's verdict is the gate's reason, in every language") {
        val st = flow.state as FlowState.Capturing
        val refused = st.verdicts.filter { !it.accepted }
        assertTrue(refused.isNotEmpty(), "the dimmed photo was refused")
        val q = flow.screener.analyze(direct(photos[0])).quality
        langs.forEach { (lang, table) ->
            val v = Presenter(XmlStrings(table, tagOf(lang))).verdict(1, q)
            assertTrue(!v.accepted && v.text.length > 20, "$lang: ${v.text}")
            if (lang != "values") assertTrue(v.text != refused.first().text, "$lang is translated")
        }
    }
    check("a corrupt photo is a verdict, not a crash, and stores nothing") {
        val st = flow.addPhoto(direct(photos[0].copyOf(photos[0].size / 3))) as FlowState.Capturing
        assertEq(st.verdicts.last(), FieldVerdict(null, false, en.get(Str.PHOTO_UNREADABLE)), "unreadable")
        assertEq(flow.screener.summary(sid).fields.added.toInt(), photos.size, "nothing stored")
    }
    check("the result: outcome first, next step, differential with intervals, per-field verdicts") {
        val r = flow.finish() as FlowState.Result
        val sum = flow.screener.summary(sid)
        val o = r.model.outcome
        assertEq(o.decision, sum.outcome.decision, "decision")
        assertEq(o.headline, en.get(OutcomeStyle.of(sum.outcome.decision).headline), "headline")
        assertEq(o.nextStep, sum.outcome.nextStep, "next step as the core words it")
        assertTrue(o.changedByReviewer == null, "not changed")
        assertEq(r.model.differential.map { it.label }, sum.differential.map { it.label }, "rows")
        r.model.differential.zip(sum.differential).forEach { (row, c) ->
            val pct = { x: Double -> "${Math.round(x * 100)}%" }
            assertEq(row.count to row.of, c.proportion.k.toInt() to c.proportion.n.toInt(), "k of n")
            assertTrue(
                row.text.endsWith("${pct(c.proportion.p)} (95% range ${pct(c.proportion.low)} to ${pct(c.proportion.high)})"),
                row.text,
            )
        }
        assertEq(r.model.fields.size, photos.size, "one verdict per stored photo")
        assertEq(r.model.fields.count { it.accepted }, sum.fields.accepted.toInt(), "accepted as the core counts")
        println("     ${o.headline} [${o.iconId}] ${o.nextStep}")
        r.model.differential.forEach { println("     ${it.text}") }
        langs.forEach { (lang, table) ->
            val m = Presenter(XmlStrings(table, tagOf(lang))).result(sum, r.model.fields, null)
            val all = listOf(m.outcome.headline, m.outcome.nextStep, m.review) + m.differential.map { it.text }
            assertTrue(all.all { it.isNotBlank() && !it.contains('%' + "1") }, "$lang result texts")
        }
    }
    check("result pictures: every cell's crop grouped (uncertain first), each field with its boxes, named for the screen reader") {
        val groups = flow.gallery()
        val tiles = groups.flatMap { it.tiles }
        val fields = flow.screener.summary(sid).fields
        val accepted = (flow.state as FlowState.Result).model.fields.filter { it.accepted }
        assertEq(accepted.size, fields.accepted.toInt(), "accepted fields")
        assertTrue(tiles.isNotEmpty(), "cells to show")
        assertTrue(
            tiles.all {
                String(it.jpeg.copyOfRange(6, 10)) == "JFIF" || (it.jpeg[0] == 0xFF.toByte() && it.jpeg[1] == 0xD8.toByte())
            },
            "JPEG crops",
        )
        val uncertain = tiles.filter { it.uncertain }
        if (uncertain.isNotEmpty()) assertEq(groups.first().title, en.get(Str.GALLERY_UNCERTAIN), "uncertain first")
        assertTrue(
            groups.filter {
                it.label != null
            }.all { g -> g.tiles.all { it.label == g.label && !it.uncertain } },
            "one class a group",
        )
        assertTrue(uncertain.all { it.description.contains("perhaps") }, "uncertain said as such")
        val overlays = flow.fieldOverlays()
        assertEq(overlays.size, accepted.size, "one picture per accepted field")
        assertEq(overlays.sumOf { it.marks.size }, tiles.size, "the same cells on the pictures as in the gallery")
        assertTrue(
            overlays.all { o ->
                o.width in 64..1280 && o.height in 64..1280 &&
                    o.marks.all { it.left in -0.01f..1f && it.top in -0.01f..1f }
            },
            "boxes within the picture",
        )
        assertTrue(overlays.flatMap { it.marks }.count { it.dashed } == uncertain.size, "uncertain boxes dashed")
        println("     gallery: ${groups.map { "${it.title} ${it.tiles.size}" }}; ${overlays.first().description}")
    }
    check("review a cell from the gallery: the reviewer's label stands, the machine's is named") {
        flow.startReview() as FlowState.Review
        val t = flow.gallery().flatMap { it.tiles }.first()
        val to = if (t.label == "lymphocyte") "monocyte" else "lymphocyte"
        assertTrue(flow.relabelCell(t.field, t.cell, to, "dr-a", null) is FlowState.Review, "still reviewing")
        val after = flow.gallery().flatMap { it.tiles }.single { it.field == t.field && it.cell == t.cell }
        assertTrue(after.relabelled && after.label == to && !after.uncertain, "relabelled: $after")
        assertEq(
            after.description,
            en.get(Str.CELL_TILE_RELABELLED, t.field.toInt() + 1, t.cell.toInt() + 1, enP.cellName(to), enP.cellName(t.label)),
            "said so",
        )
        val mark = flow.fieldOverlays().flatMap { it.marks }.single { it.field == t.field && it.cell == t.cell }
        assertEq(mark.name, enP.cellName(to), "the box says the same")
        val reviewing = flow.state as FlowState.Review
        val back = flow.leaveReview() as FlowState.Result
        assertEq(back.model, reviewing.model, "back to the same result, nothing recorded")
        assertTrue(flow.startReview() is FlowState.Review, "and into the review again")
    }
    check("an override without a note is asked for its reason, and nothing is recorded") {
        val other = if (flow.screener.summary(sid).outcome.decision == Decision.REFER) Decision.INCONCLUSIVE else Decision.REFER
        val st = flow.overrideOutcome(other, "dr-a", "  ") as FlowState.Review
        assertEq(st.error, en.get(Str.ERROR_OVERRIDE_NOTE), "the reason asked for")
        val row = flow.screener.list(SessionQuery(patient = "PT-A1")).single()
        assertEq(row.outcome, row.machineOutcome, "the outcome stands")
    }
    check("review: the override shows, the machine's outcome is named, the report agrees") {
        assertTrue(flow.state is FlowState.Review, "still reviewing")
        val machine = flow.screener.summary(sid).outcome.decision
        val other = if (machine == Decision.REFER) Decision.INCONCLUSIVE else Decision.REFER
        val r = flow.overrideOutcome(other, "dr-a", "checked at the hospital") as FlowState.Result
        val o = r.model.outcome
        assertEq(o.decision, other, "effective decision")
        assertEq(o.iconId, OutcomeStyle.of(other).iconId, "icon follows the override")
        assertEq(o.changedByReviewer, en.get(Str.OUTCOME_CHANGED_BY_REVIEWER, en.get(OutcomeStyle.of(machine).headline)), "machine named")
        assertEq(r.model.review, en.get(Str.REVIEW_REVIEWED), "reviewed")
        assertTrue(flow.screener.reportHtml(sid).contains(o.nextStep), "report's next step is the one shown: ${o.nextStep}")
    }
    check("share: PDF, FHIR, SMS, and the outbox per case as the core words it") {
        val recipient = "age1wnf0ycdmv5vn9jczlzxuan0e96zxrm8e88cxleetzaqsr3lwwyuquca9jz"
        val card = HospitalCard.format(Hospital("h", "http://127.0.0.1:9/files/", recipient, true))
        assertEq(flow.enrol(card.replace("key=age1", "key=age2")), en.get(Str.ERROR_HOSPITAL_CARD), "a spoilt card")
        assertEq(flow.enrol(card), null, "enrolled from its card")
        assertEq(flow.screener.hospitals().map { it.url }, listOf("http://127.0.0.1:9/files/"), "as the card says")
        val sh = flow.share("h") as FlowState.Sharing
        assertEq(String(sh.pdf.copyOfRange(0, 5)), "%PDF-", "pdf")
        assertTrue(sh.fhirJson.contains("\"resourceType\":\"Bundle\""), "fhir")
        assertTrue(sh.sms.startsWith("HL1 ") && sh.sms.length <= 160, "sms")
        assertEq(sh.outbox.map { it.kind }, listOf("Results", "Photos"), "kinds")
        val items = flow.screener.outbox().filter { it.sessionId == sid }
        sh.outbox.zip(items).forEach { (row, item) -> assertEq(row.text, outboxStatus(item), "outbox words") }
        flow.screener.outboxSend(false) // nothing listens on port 9: the results wait
        val again = flow.refreshOutbox() as FlowState.Sharing
        assertEq(again.outbox.first().state, OutboxState.QUEUED, "still queued")
        flow.screener.outbox().filter { it.sessionId == sid }.zip(again.outbox).forEach { (item, row) ->
            assertEq(row.text, outboxStatus(item), "outbox words after a try")
        }
    }
    check("history rows: patient code, outcome words and icon, review state") {
        assertTrue(flow.newScreening() is FlowState.PatientCode, "back to a patient code")
        val rows = flow.history(HistoryFilter(patient = "PT-A1"))
        val row = rows.single()
        assertEq(row.sessionId, sid, "session")
        val stored = flow.screener.list(SessionQuery(patient = "PT-A1")).single()
        assertEq(row.outcome, en.get(OutcomeStyle.of(stored.outcome!!).headline), "outcome words")
        assertEq(row.iconId, OutcomeStyle.of(stored.outcome!!).iconId, "icon")
        assertEq(row.review, enP.review(ReviewState.REVIEWED), "review")
        assertEq(row.photos, "Photos: ${photos.size}", "photos")
        assertTrue(Regex("\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}").matches(row.date), "date ${row.date}")
    }
    check("history search: by patient, outcome, pending review and days") {
        val today = java.time.LocalDate.now()
        val stored = flow.screener.list(SessionQuery(patient = "PT-A1")).single()
        assertEq(flow.history(HistoryFilter(patient = " PT-A1 ")).map { it.sessionId }, listOf(sid), "patient, trimmed")
        assertEq(flow.history(HistoryFilter(patient = "PT-ZZ")).size, 0, "another patient")
        assertEq(flow.history(HistoryFilter(outcome = stored.outcome)).map { it.sessionId }, listOf(sid), "its outcome")
        val other = Decision.values().first { it != stored.outcome }
        assertEq(flow.history(HistoryFilter(outcome = other)).size, 0, "another outcome")
        assertEq(flow.history(HistoryFilter(from = today, to = today)).map { it.sessionId }, listOf(sid), "today")
        assertEq(flow.history(HistoryFilter(from = today.plusDays(1))).size, 0, "from tomorrow")
        assertEq(flow.history(HistoryFilter(to = today.minusDays(1))).size, 0, "until yesterday")
        assertEq(flow.history(HistoryFilter(pendingReview = true)).size, 0, "reviewed, so not pending")
    }
    check("a finished case from the history opens on its result, with its outbox, to review or share again") {
        val row = flow.history(HistoryFilter(patient = "PT-A1")).single()
        assertTrue(!row.open, "finished")
        val items = flow.screener.outbox().filter { it.sessionId == sid }
        assertEq(row.outbox.map { it.text }, items.map(::outboxStatus), "the case's outbox in the row")
        val st = flow.openCase(row) as FlowState.Result
        assertEq(st.sessionId, sid, "that case")
        assertEq(st.model.fields.size, photos.size, "every stored photo's verdict, from the core's reports")
        assertEq(st.model.fields.count { it.accepted }, flow.screener.summary(sid).fields.accepted.toInt(), "accepted as counted")
        assertTrue(flow.share(null) is FlowState.Sharing, "shared again")
        assertTrue(flow.newScreening() is FlowState.PatientCode, "then a new patient")
    }
    check("the reviewer's choices are the pack's classes, named in every language") {
        assertEq(enP.cellLabels().map { it.first }, Presenter.CELL_LABELS, "codes")
        langs.forEach { (lang, table) ->
            val names = Presenter(XmlStrings(table, tagOf(lang))).cellLabels().map { it.second }
            assertEq(names.toSet().size, Presenter.CELL_LABELS.size, "$lang: distinct names")
        }
    }
    check("the background pass: offline, the results wait and it asks to run again") {
        val report = Delivery(flow.screener).run(onWifi = false)
        assertTrue(report.retry && report.waiting >= 1 && report.delivered == 0, "$report")
    }
    check("hospital cards: round trip; anything else is not a card") {
        val h =
            Hospital("Central & Co", "https://inbox.example/tus/", "age1wnf0ycdmv5vn9jczlzxuan0e96zxrm8e88cxleetzaqsr3lwwyuquca9jz", false)
        assertEq(HospitalCard.parse(HospitalCard.format(h)), h, "round trip")
        for (bad in listOf(
            "",
            "age1wnf0",
            "hemalens:hospital?name=x",
            "hemalens:hospital?name=x&url=ftp%3A%2F%2Fa%2F&key=${h.recipient}",
            HospitalCard.format(h).replace("photos=any", "photos=sometimes"),
        )) {
            assertEq(HospitalCard.parse(bad), null, "not a card: $bad")
        }
    }
    check("out-of-order calls are refused") {
        val e = runCatching { flow.finish() }.exceptionOrNull()
        assertTrue(e is IllegalStateException, "finish without capture: $e")
    }
    check("a second launch skips the first run, keeps the records and signs with the vault's seed") {
        val id = flow.deviceKey()
        flow.close()
        ScreeningFlow(File(dir, "records").path, vault, en, "logic-test", evidence, config).use { again ->
            assertTrue(again.state is FlowState.PatientCode, "straight to a patient code")
            assertEq(again.history().map { it.sessionId }, listOf(sid), "records kept")
            assertEq(again.deviceKey(), id, "the same device key")
        }
        vault.seed = generateKey()
        ScreeningFlow(File(dir, "records").path, vault, en, "logic-test", evidence, config).use { again ->
            assertTrue(again.deviceKey() != id, "the key comes from the vault's seed, not the store")
        }
    }
    check("a screening left open (the app killed mid-capture) is carried on at the next start") {
        val first = ScreeningFlow(File(dir, "records").path, vault, en, "logic-test", evidence, config)
        val started = first.startScreening("PT-B2") as FlowState.Capturing
        photos.drop(1).take(2).forEach { first.addPhoto(direct(it)) }
        first.changeLanguage("sw")
        first.close() // no finish(): as if the process died
        assertEq(vault.setup?.language, "sw", "the language kept")
        ScreeningFlow(File(dir, "records").path, vault, en, "logic-test", evidence, config).use { again ->
            val st = again.state as FlowState.Capturing
            assertEq(st.sessionId, started.sessionId, "the same screening")
            assertEq(st.verdicts.map { it.number }, listOf(1, 2), "its photos' verdicts")
            assertEq(st.progress, enP.progress(again.screener.summary(st.sessionId)), "its progress")
            assertTrue(again.history(HistoryFilter(patient = "PT-B2")).single().open, "open in the history")
            assertTrue(again.finish() is FlowState.Result, "and it can be finished")
        }
        ScreeningFlow(File(dir, "records").path, vault, en, "logic-test", evidence, config).use { again ->
            assertTrue(again.state is FlowState.PatientCode, "nothing left open")
        }
    }
    previewChecks(File(System.getenv("HEMALENS_ROOT") ?: "."), en)
    dir.deleteRecursively()
    finish()
}
