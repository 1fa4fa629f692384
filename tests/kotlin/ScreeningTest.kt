// One whole screening through the Kotlin bindings (UniFFI over JNA), on the
// desktop JVM, on real photos: what the Android app does, minus the phone.
// Run by tests/kotlin/run.sh; prints "N passed, M failed".
import org.hemalens.*
import org.hemalens.core.Decision
import org.hemalens.core.IssueCode
import org.hemalens.store.Hospital
import org.hemalens.store.OutboxState
import org.hemalens.store.ReviewState
import java.io.File
import org.hemalens.testing.*
import java.nio.ByteBuffer
import java.nio.file.Files

fun config(threads: UInt = 2u) = ScreenerConfig(threads = threads, packDir = null)

fun main() {
    val dir = Files.createTempDirectory("hemalens-kt").toFile()
    val key = generateKey()
    val photos = bccd("val", 4)
    val screener = Screener.open(File(dir, "store").path, key, config())
    var sid = 0L

    check("packs are the embedded ones") {
        assertTrue(screener.packs().map { it.id } == listOf("all-screen", "wbc-type"), "pack ids")
    }
    check("a session takes real photos") {
        sid = screener.startSession("PT-K1", Evidence(targetCells = 5u, maxFields = 6u), "kotlin-test", "chw-1")
        photos.forEachIndexed { i, p ->
            val added = screener.addPhoto(sid, direct(p), "chw-1")
            assertTrue(added.field == i.toLong(), "field number")
            assertTrue(added.summary.fields.added == (i + 1).toUInt(), "running count")
            added.report.cells.forEach { c ->
                assertTrue(c.bbox.w > 0u && c.bbox.h > 0u, "box")
                assertTrue(Math.abs(c.probs.sumOf { it.prob } - 1.0) < 1e-6, "probabilities sum to 1")
            }
            added.report.quality.issues.forEach { assertTrue(it.code in IssueCode.values(), "issue code") }
        }
    }
    check("a corrupt photo is a typed error and stores nothing") {
        val e = assertThrows<HemalensException.BadPhoto>("truncated") {
            screener.addPhoto(sid, direct(photos[0].copyOf(photos[0].size / 3)), "chw-1")
        }
        assertTrue(e.code == "corrupt_image", "code ${e.code}")
        assertThrows<HemalensException.BadPhoto>("empty") { screener.addPhoto(sid, direct(ByteArray(0)), "chw-1") }
        assertTrue(screener.summary(sid).fields.added == photos.size.toUInt(), "nothing stored")
    }
    check("close, then the session refuses photos") {
        val closed = screener.closeSession(sid, "chw-1")
        assertTrue(closed.outcome.decision in Decision.values(), "decision")
        assertTrue(closed.provenance.thresholds.containsKey("all-screen.refer_malignant_prob"), "thresholds")
        assertThrows<HemalensException.InvalidState>("closed session") { screener.addPhoto(sid, direct(photos[0]), "chw-1") }
    }
    check("a reviewer overrides; the machine's result is kept") {
        screener.overrideOutcome(sid, Decision.REFER, "dr-a", "blasts on review")
        val q = SessionQuery(patient = "PT-K1", fromMs = null, toMs = null, outcome = null, pendingReview = false, limit = 10u)
        val row = screener.list(q).single()
        assertTrue(row.outcome == Decision.REFER && row.reviewState == ReviewState.REVIEWED, "override")
        assertTrue(row.machineOutcome != null, "machine outcome kept")
    }
    check("the closed session leaves as a report, FHIR, an SMS and queued bundles") {
        val pdf = screener.reportPdf(sid)
        assertTrue(String(pdf.copyOfRange(0, 5)) == "%PDF-", "pdf")
        assertTrue(screener.reportHtml(sid).contains("PT-K1"), "html")
        assertTrue(screener.fhirJson(sid).contains("\"resourceType\":\"Bundle\""), "fhir")
        val sms = screener.sms(sid)
        assertTrue(sms.startsWith("HL1 ") && sms.length <= 160, "sms")
        val dk = screener.deviceKey()
        assertTrue(dk.deviceId.length == 16 && dk.publicKey.length == 64, "device key")
        assertThrows<HemalensException.InvalidInput>("bad hospital key") {
            screener.addHospital(Hospital("h", "https://h.example/files/", "not-a-key", true), "chw-1")
        }
        assertThrows<HemalensException.NotFound>("unknown hospital") { screener.share(sid, "h", "chw-1") }
        val recipient = "age1wnf0ycdmv5vn9jczlzxuan0e96zxrm8e88cxleetzaqsr3lwwyuquca9jz"
        screener.addHospital(Hospital("h", "http://127.0.0.1:9/files/", recipient, true), "chw-1")
        val items = screener.share(sid, "h", "chw-1")
        assertTrue(items.map { it.kind } == listOf("results", "photos"), "kinds")
        assertTrue(items.all { outboxStatus(it) == "queued" }, "queued")
        // Nothing listens on port 9: the results wait for a retry, nothing is lost.
        val after = screener.outboxSend(false)
        assertTrue(after[0].state == OutboxState.QUEUED && after[0].reason == "no_connection", "retry later: ${after[0]}")
        assertTrue(after[1].attempts == 0u, "photos wait for Wi-Fi")
    }
    check("export holds the session and its review") {
        val json = screener.exportJson(sid)
        assertTrue(json.contains("PT-K1") && json.contains("blasts on review"), "export")
    }
    check("unknown session, bad key length, missing packs") {
        assertThrows<HemalensException.NotFound>("unknown session") { screener.summary(424242L) }
        assertThrows<HemalensException.InvalidInput>("short key") {
            Screener.open(File(dir, "other").path, ByteArray(7), config(1u))
        }
        assertThrows<HemalensException.ModelProblem>("missing packs") {
            Screener.open(File(dir, "p").path, generateKey(), ScreenerConfig(threads = 1u, packDir = File(dir, "none").path))
        }
    }
    check("wrong key after rotation") {
        val newKey = generateKey()
        screener.rotateKey(newKey, true, "admin")
        screener.shutdown()
        assertThrows<HemalensException.WrongKey>("old key") { Screener.open(File(dir, "store").path, key, config(1u)) }
        val again = Screener.open(File(dir, "store").path, newKey, config(1u))
        assertTrue(again.summary(sid).fields.added == photos.size.toUInt(), "records kept")
        again.shutdown()
    }
    check("a closed screener and a panic are typed errors") {
        assertThrows<HemalensException.InvalidState>("closed") { screener.packs() }
        assertThrows<HemalensException.Internal>("panic") { debugPanic() }
        assertTrue(coreVersion().isNotEmpty(), "still alive")
    }
    check("a photo in a heap (non-direct) buffer is an exception, not a crash") {
        assertThrows<IllegalArgumentException>("heap buffer") { screener.analyze(ByteBuffer.wrap(photos[0])) }
    }
    check("a destroyed object is an exception, not a crash") {
        val s2 = Screener.open(File(dir, "store2").path, generateKey(), config(1u))
        s2.destroy()
        assertThrows<IllegalStateException>("destroyed") { s2.packs() }
    }
    dir.deleteRecursively()
    finish()
}
