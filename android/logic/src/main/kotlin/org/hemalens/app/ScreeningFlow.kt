package org.hemalens.app

import org.hemalens.AddedPhoto
import org.hemalens.DeviceKey
import org.hemalens.Evidence
import org.hemalens.HemalensException
import org.hemalens.Screener
import org.hemalens.ScreenerConfig
import org.hemalens.SessionQuery
import org.hemalens.core.Decision
import org.hemalens.store.Hospital
import org.hemalens.store.SessionRow
import java.nio.ByteBuffer
import java.time.LocalDate
import java.time.ZoneId

/** What the first run asks once: the app's language, the site and who operates the phone. */
data class Setup(val language: String, val site: String, val operator: String)

/**
 * What the phone keeps outside the records store: the setup (preferences),
 * the store's 32-byte key and the device's 32-byte signing seed (each made
 * once on first use and wrapped by the Android Keystore / kept in the iOS
 * Keychain, so a copied store is useless without the phone).
 */
interface DeviceVault {
    fun loadSetup(): Setup?
    fun saveSetup(setup: Setup)
    fun storeKey(): ByteArray
    fun deviceSeed(): ByteArray
}

/** The history screen's search: every filter optional; newest first. */
data class HistoryFilter(
    /** The exact patient code. */
    val patient: String? = null,
    /** Started on or after this day (in the phone's time zone). */
    val from: LocalDate? = null,
    /** Started on or before this day. */
    val to: LocalDate? = null,
    /** The outcome that stands (after any override). */
    val outcome: Decision? = null,
    /** Only closed screenings waiting for a reviewer. */
    val pendingReview: Boolean = false,
    val limit: Int = 50,
) {
    fun query(zone: ZoneId = ZoneId.systemDefault()): SessionQuery = SessionQuery(
        patient = patient?.trim()?.takeIf { it.isNotEmpty() },
        fromMs = from?.atStartOfDay(zone)?.toInstant()?.toEpochMilli(),
        toMs = to?.plusDays(1)?.atStartOfDay(zone)?.toInstant()?.toEpochMilli(),
        outcome = outcome,
        pendingReview = pendingReview,
        limit = limit.toUInt(),
    )
}

/** The screens, in the order a screening walks through them. */
sealed interface FlowState {
    data class FirstRun(val error: String? = null) : FlowState
    data class PatientCode(val error: String? = null) : FlowState
    data class Capturing(
        val sessionId: Long,
        val patient: String,
        val progress: CaptureProgress,
        /** Every photo's verdict so far, the latest last. */
        val verdicts: List<FieldVerdict>,
        /** The core's record of the latest stored photo (for the overlay). */
        val lastAdded: AddedPhoto?,
    ) : FlowState
    data class Result(val sessionId: Long, val patient: String, val model: ResultModel) : FlowState
    data class Review(val sessionId: Long, val patient: String, val model: ResultModel, val error: String? = null) : FlowState
    data class Sharing(
        val sessionId: Long,
        val patient: String,
        val pdf: ByteArray,
        val fhirJson: String,
        val sms: String,
        val outbox: List<OutboxRow>,
    ) : FlowState
}

/**
 * The screening session as a state machine over the real [Screener]. Every
 * call blocks on the core: the app calls it from a background coroutine, one
 * call at a time, and draws [state]. A call that does not fit the current
 * state throws [IllegalStateException] (a bug in the shell, not the user's).
 */
class ScreeningFlow(
    private val storeDir: String,
    private val vault: DeviceVault,
    strings: Strings,
    private val appVersion: String,
    /** Cell target and field limit; null takes the core's default. */
    private val evidence: Evidence? = null,
    private val config: ScreenerConfig = ScreenerConfig(threads = 2u, packDir = null),
) : AutoCloseable {
    private val present = Presenter(strings)
    private val pictures = GalleryPresenter(strings)
    private val s = strings
    private var opened: Screener? = null
    private var setup: Setup? = vault.loadSetup()

    /** The open core, for the outbox worker and the history screen. */
    val screener: Screener get() = opened ?: error("first run not completed")

    var state: FlowState = FlowState.FirstRun()
        private set

    init {
        if (setup != null) {
            open()
            state = resumeOpen() ?: FlowState.PatientCode()
        }
    }

    /**
     * The newest screening left open (the app was closed, or killed, while
     * capturing): the app carries on with it where it stopped.
     */
    private fun resumeOpen(): FlowState? = screener.list(SessionQuery(limit = 20u)).firstOrNull { it.closedAt == null }?.let(::capturing)

    /** Every stored photo's verdict, from the core's reports (photo n is field n - 1). */
    private fun verdicts(sid: Long): List<FieldVerdict> = screener.reports(sid).mapIndexed { i, r -> present.verdict(i + 1, r.quality) }

    private fun capturing(row: SessionRow) =
        FlowState.Capturing(row.id, row.patient, present.progress(screener.summary(row.id)), verdicts(row.id), null)

    /**
     * A screening chosen in the history: a finished one opens on its result
     * (to review or share again), an open one carries on capturing.
     */
    fun openCase(row: HistoryRow): FlowState {
        check(state is FlowState.PatientCode || state is FlowState.Result || state is FlowState.Sharing) { "a screening is under way" }
        val stored = stored(row.sessionId) ?: error("no such screening")
        state = if (stored.closedAt == null) {
            capturing(stored)
        } else {
            FlowState.Result(stored.id, stored.patient, result(stored.id, verdicts(stored.id)))
        }
        return state
    }

    /** The app's language, changed after the first run. */
    fun changeLanguage(tag: String) {
        require(LANGUAGES.any { it.tag == tag }) { "not a language of the app: $tag" }
        val now = setup ?: error("first run not completed")
        setup = now.copy(language = tag).also(vault::saveSetup)
    }

    private fun open() {
        opened = Screener.open(storeDir, vault.storeKey(), config.copy(deviceSeed = vault.deviceSeed()))
    }

    private val operator: String get() = setup?.operator ?: error("first run not completed")

    fun completeFirstRun(setup: Setup): FlowState {
        check(state is FlowState.FirstRun) { "not on the first run" }
        require(LANGUAGES.any { it.tag == setup.language }) { "not a language of the app: ${setup.language}" }
        state = when {
            setup.site.isBlank() -> FlowState.FirstRun(s.get(Str.ERROR_SITE_MISSING))

            setup.operator.isBlank() -> FlowState.FirstRun(s.get(Str.ERROR_OPERATOR_MISSING))

            else -> {
                val clean = Setup(setup.language, setup.site.trim(), setup.operator.trim())
                vault.saveSetup(clean)
                this.setup = clean
                open()
                FlowState.PatientCode()
            }
        }
        return state
    }

    /** Enrol a hospital; optional, any time after the first run. */
    fun enrol(hospital: Hospital) = screener.addHospital(hospital, operator)

    /** Enrol the hospital of a scanned or pasted card ([HospitalCard]); the error to show, or null when enrolled. */
    fun enrol(card: String): String? {
        val h = HospitalCard.parse(card) ?: return s.get(Str.ERROR_HOSPITAL_CARD)
        enrol(h)
        return null
    }

    /** What the hospital enrols: this phone's id and public key (shown as text and as a QR code). */
    fun deviceKey(): DeviceKey = screener.deviceKey()

    fun startScreening(patientCode: String): FlowState {
        check(state is FlowState.PatientCode) { "not asking for a patient code" }
        val code = patientCode.trim()
        if (!PATIENT_CODE.matches(code)) {
            state = FlowState.PatientCode(s.get(Str.ERROR_PATIENT_CODE))
            return state
        }
        val sid = screener.startSession(code, evidence, appVersion, operator)
        state = FlowState.Capturing(sid, code, present.progress(screener.summary(sid)), emptyList(), null)
        return state
    }

    /** One photo from the eyepiece (a direct buffer: CameraX's JPEG plane is one). */
    fun addPhoto(jpeg: ByteBuffer): FlowState {
        val c = state as? FlowState.Capturing ?: error("not capturing")
        state = try {
            val added = screener.addPhoto(c.sessionId, jpeg, operator)
            val verdict = present.verdict(added.field.toInt() + 1, added.report.quality)
            c.copy(progress = present.progress(added.summary), verdicts = c.verdicts + verdict, lastAdded = added)
        } catch (e: HemalensException.BadPhoto) {
            c.copy(verdicts = c.verdicts + present.unreadable())
        }
        return state
    }

    /** Close the session: the core decides, and the decision is stored for good. */
    fun finish(): FlowState {
        val c = state as? FlowState.Capturing ?: error("not capturing")
        screener.closeSession(c.sessionId, operator)
        state = FlowState.Result(c.sessionId, c.patient, result(c.sessionId, c.verdicts.filter { it.number != null }))
        return state
    }

    fun startReview(): FlowState {
        val r = state as? FlowState.Result ?: error("no result to review")
        state = FlowState.Review(r.sessionId, r.patient, r.model)
        return state
    }

    /** Back to the result without a review (a review opened by mistake). */
    fun leaveReview(): FlowState {
        val r = state as? FlowState.Review ?: error("not reviewing")
        state = FlowState.Result(r.sessionId, r.patient, r.model)
        return state
    }

    /** A reviewer replaces the outcome; the core keeps the machine's. */
    fun overrideOutcome(decision: Decision, reviewer: String, note: String?): FlowState {
        val r = state as? FlowState.Review ?: error("not reviewing")
        if (note.isNullOrBlank()) {
            // An override says why: the hospital and the next reader need the reason.
            state = r.copy(error = s.get(Str.ERROR_OVERRIDE_NOTE))
            return state
        }
        screener.overrideOutcome(r.sessionId, decision, reviewer, note)
        return backToResult(r)
    }

    /** A reviewer agrees with the machine. */
    fun confirm(reviewer: String, note: String?): FlowState {
        val r = state as? FlowState.Review ?: error("not reviewing")
        screener.confirm(r.sessionId, reviewer, note)
        return backToResult(r)
    }

    /** A reviewer's label for one cell (from the gallery); the machine's label is kept. */
    fun relabelCell(field: Long, cell: Long, label: String, reviewer: String, note: String?): FlowState {
        val r = state as? FlowState.Review ?: error("not reviewing")
        screener.relabelCell(r.sessionId, field, cell, label, reviewer, note)
        state = r.copy(model = result(r.sessionId, r.model.fields))
        return state
    }

    /** The finished screening's cells, uncertain ones first, then by class (result and review screens). */
    fun gallery(): List<GalleryGroup> {
        val sid = finishedSession()
        return pictures.gallery(
            screener.cellTiles(sid, GalleryPresenter.TILE_PX.toUInt()),
            screener.summary(sid).differential.map {
                it.label
            },
        )
    }

    /** Each accepted field's picture with its cells' boxes. */
    fun fieldOverlays(): List<FieldOverlayModel> {
        val sid = finishedSession()
        val accepted = (state as? FlowState.Result)?.model?.fields ?: (state as FlowState.Review).model.fields
        return accepted.filter { it.accepted && it.number != null }
            .map { pictures.field(screener.fieldView(sid, it.number!!.toLong() - 1, GalleryPresenter.FIELD_PX.toUInt())) }
    }

    private fun finishedSession(): Long = when (val st = state) {
        is FlowState.Result -> st.sessionId
        is FlowState.Review -> st.sessionId
        else -> error("no finished screening")
    }

    private fun backToResult(r: FlowState.Review): FlowState {
        state = FlowState.Result(r.sessionId, r.patient, result(r.sessionId, r.model.fields))
        return state
    }

    /**
     * The share screen: the report PDF (system share sheet), the FHIR file, the
     * one-SMS summary; with [hospital], the sealed bundles wait in the outbox.
     */
    fun share(hospital: String?): FlowState {
        val r = state as? FlowState.Result ?: error("no result to share")
        if (hospital != null) screener.share(r.sessionId, hospital, operator)
        state = FlowState.Sharing(
            r.sessionId,
            r.patient,
            screener.reportPdf(r.sessionId),
            screener.fhirJson(r.sessionId),
            screener.sms(r.sessionId),
            outboxOf(r.sessionId),
        )
        return state
    }

    /** Re-read the case's outbox (after the background worker's delivery pass). */
    fun refreshOutbox(): FlowState {
        val sh = state as? FlowState.Sharing ?: error("not sharing")
        state = sh.copy(outbox = outboxOf(sh.sessionId))
        return state
    }

    /** Back to a new patient code, from the result or the share screen. */
    fun newScreening(): FlowState {
        check(state is FlowState.Result || state is FlowState.Sharing) { "a screening is not finished" }
        state = FlowState.PatientCode()
        return state
    }

    fun history(filter: HistoryFilter = HistoryFilter()): List<HistoryRow> {
        val outbox = screener.outbox().groupBy { it.sessionId }
        return screener.list(filter.query()).map { present.history(it, outbox[it.id].orEmpty()) }
    }

    private fun outboxOf(sid: Long) = screener.outbox().filter { it.sessionId == sid }.map(present::outbox)

    private fun result(sid: Long, fields: List<FieldVerdict>): ResultModel {
        val row = stored(sid)
        return present.result(screener.summary(sid), fields, row)
    }

    /** One stored screening's row, by its id. */
    private fun stored(sid: Long): SessionRow? = screener.list(SessionQuery(session = sid, limit = 1u)).singleOrNull()

    override fun close() {
        opened?.shutdown()
        opened = null
    }

    companion object {
        /** A pseudonymous code (letters, digits, dashes); the app never asks for a name. */
        val PATIENT_CODE = Regex("[A-Za-z0-9][A-Za-z0-9-]{2,19}")
    }
}
