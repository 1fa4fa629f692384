// The Android shell's logic on the desktop JVM: a whole screening through
// ScreeningFlow over the real core (UniFFI bindings over JNA) on real BCCD
// photos, the presentation models checked against what the Screener reports,
// and the string catalogue checked in all four languages.
// Run by android/logic/run-tests.sh; prints "N passed, M failed".
package org.hemalens.app

import org.hemalens.Evidence
import org.hemalens.SessionQuery
import org.hemalens.ScreenerConfig
import org.hemalens.core.Decision
import org.hemalens.generateKey
import org.hemalens.outboxStatus
import org.hemalens.store.Hospital
import org.hemalens.store.OutboxState
import org.hemalens.store.ReviewState
import java.io.ByteArrayInputStream
import java.io.ByteArrayOutputStream
import java.io.File
import javax.imageio.ImageIO
import java.nio.ByteBuffer
import java.nio.file.Files
import javax.xml.parsers.DocumentBuilderFactory
import org.w3c.dom.Element
import org.hemalens.testing.*

fun readStrings(file: File): Map<String, String> {
    val doc = DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(file)
    val nodes = doc.getElementsByTagName("string")
    return (0 until nodes.length).associate { i ->
        val e = nodes.item(i) as Element
        e.getAttribute("name") to e.textContent.replace("\\'", "'").replace("\\\"", "\"").replace("\\n", "\n")
    }
}

class XmlStrings(val table: Map<String, String>) : Strings {
    override fun get(key: Str, vararg args: Any): String =
        String.format(table[key.key] ?: throw AssertionError("no string ${key.key}"), *args)
}

fun placeholders(text: String): List<String> =
    Regex("%(\\d+\\$)?[sdf%]").findAll(text).map { it.value }.sorted().toList()

/** The same field photographed with a lamp at a tenth of its brightness. */
fun dimmed(jpeg: ByteArray): ByteArray {
    val img = ImageIO.read(ByteArrayInputStream(jpeg))
    for (y in 0 until img.height) for (x in 0 until img.width) {
        val c = img.getRGB(x, y)
        val r = (c shr 16 and 0xff) / 10
        val g = (c shr 8 and 0xff) / 10
        val b = (c and 0xff) / 10
        img.setRGB(x, y, (r shl 16) or (g shl 8) or b)
    }
    return ByteArrayOutputStream().also { ImageIO.write(img, "jpg", it) }.toByteArray()
}

class MemoryVault : DeviceVault {
    var setup: Setup? = null
    private val key = generateKey()
    var keyReads = 0
    override fun loadSetup() = setup
    override fun saveSetup(setup: Setup) { this.setup = setup }
    override fun storeKey(): ByteArray { keyReads++; return key }
}

fun main() {
    val res = File(System.getenv("ANDROID_RES") ?: "android/app/src/main/res")
    val langs = listOf("values", "values-fr", "values-sw", "values-hi").associateWith { readStrings(File(res, "$it/strings.xml")) }
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

    check("every key is in all four languages, with the same placeholders") {
        val want = Str.values().map { it.key }.toSet()
        val english = langs.getValue("values")
        val problems = langs.flatMap { (lang, table) ->
            (want - table.keys).map { "$lang lacks $it" } + (table.keys - want).map { "$lang has unused $it" } +
                table.filter { (k, v) -> v.isBlank() }.map { "$lang/${it.key} is blank" } +
                table.filter { (k, v) -> k in english && placeholders(v) != placeholders(english.getValue(k)) }
                    .map { "$lang/${it.key} placeholders ${placeholders(it.value)}" }
        }
        assertTrue(problems.isEmpty(), problems.joinToString("; "))
    }
    check("each outcome has its own icon and words, not colour alone, in every language") {
        val styles = OutcomeStyle.values()
        assertEq(Decision.values().map { OutcomeStyle.of(it) }.toSet(), styles.toSet(), "one style per decision")
        assertEq(styles.map { it.iconId }.toSet().size, styles.size, "distinct icons")
        assertTrue(styles.all { it.iconId.startsWith("ic_") && it.colourToken.isNotBlank() }, "icon ids and colour tokens")
        langs.forEach { (lang, table) ->
            val words = styles.map { XmlStrings(table).get(it.headline) }
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
            val v = Presenter(XmlStrings(table)).verdict(1, q)
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
            assertTrue(row.text.endsWith("${pct(c.proportion.p)} (95% range ${pct(c.proportion.low)} to ${pct(c.proportion.high)})"), row.text)
        }
        assertEq(r.model.fields.size, photos.size, "one verdict per stored photo")
        assertEq(r.model.fields.count { it.accepted }, sum.fields.accepted.toInt(), "accepted as the core counts")
        println("     ${o.headline} [${o.iconId}] ${o.nextStep}")
        r.model.differential.forEach { println("     ${it.text}") }
        langs.forEach { (lang, table) ->
            val m = Presenter(XmlStrings(table)).result(sum, r.model.fields, null)
            val all = listOf(m.outcome.headline, m.outcome.nextStep, m.review) + m.differential.map { it.text }
            assertTrue(all.all { it.isNotBlank() && !it.contains('%' + "1") }, "$lang result texts")
        }
    }
    check("review: the override shows, the machine's outcome is named, the report agrees") {
        flow.startReview() as FlowState.Review
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
        flow.enrol(Hospital("h", "http://127.0.0.1:9/files/", recipient, true))
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
        val rows = flow.history(SessionQuery(patient = "PT-A1"))
        val row = rows.single()
        assertEq(row.sessionId, sid, "session")
        val stored = flow.screener.list(SessionQuery(patient = "PT-A1")).single()
        assertEq(row.outcome, en.get(OutcomeStyle.of(stored.outcome!!).headline), "outcome words")
        assertEq(row.iconId, OutcomeStyle.of(stored.outcome!!).iconId, "icon")
        assertEq(row.review, enP.review(ReviewState.REVIEWED), "review")
        assertEq(row.photos, "Photos: ${photos.size}", "photos")
        assertTrue(Regex("\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}").matches(row.date), "date ${row.date}")
    }
    check("out-of-order calls are refused") {
        val e = runCatching { flow.finish() }.exceptionOrNull()
        assertTrue(e is IllegalStateException, "finish without capture: $e")
    }
    check("a second launch skips the first run and keeps the records") {
        flow.close()
        ScreeningFlow(File(dir, "records").path, vault, en, "logic-test", evidence, config).use { again ->
            assertTrue(again.state is FlowState.PatientCode, "straight to a patient code")
            assertEq(again.history().map { it.sessionId }, listOf(sid), "records kept")
        }
    }
    dir.deleteRecursively()
    finish()
}
