package org.hemalens.app.shell

import android.annotation.SuppressLint
import android.app.Application
import android.content.Context
import android.content.res.Configuration
import android.content.res.Resources
import android.util.Log
import androidx.annotation.StringRes
import androidx.camera.core.ImageProxy
import androidx.lifecycle.AndroidViewModel
import androidx.lifecycle.viewModelScope
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.flow.MutableSharedFlow
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.SharedFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asSharedFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch
import org.hemalens.DeviceKey
import org.hemalens.HemalensException
import org.hemalens.app.CellTileModel
import org.hemalens.app.FieldOverlayModel
import org.hemalens.app.FlowState
import org.hemalens.app.GalleryGroup
import org.hemalens.app.GuideOverlay
import org.hemalens.app.HistoryFilter
import org.hemalens.app.HistoryRow
import org.hemalens.app.OutcomeStyle
import org.hemalens.app.Presenter
import org.hemalens.app.R
import org.hemalens.app.ScreeningFlow
import org.hemalens.app.Setup
import org.hemalens.app.Shutter
import org.hemalens.app.Str
import org.hemalens.app.Strings
import org.hemalens.core.Decision
import org.hemalens.store.Hospital
import java.util.Locale
import java.util.concurrent.ConcurrentHashMap

/** The result screen's pictures: each accepted field with its boxes, and the cell gallery. */
data class Pictures(val fields: List<FieldOverlayModel>, val gallery: List<GalleryGroup>)

/** The hospital page: this phone's identity, the hospitals enrolled, the last enrolment's message. */
data class HospitalPage(val deviceKey: DeviceKey? = null, val hospitals: List<Hospital> = emptyList(), val message: String? = null)

/**
 * The screens' state. Holds no decision of its own: every call goes to the
 * process's [ScreeningFlow] (on Dispatchers.IO behind a Mutex, through
 * [HemalensApplication.withFlow]) and the screens draw [state].
 */
class AppViewModel(application: Application) : AndroidViewModel(application) {
    private val app = application as HemalensApplication

    val strings: AndroidStrings get() = app.strings
    val language: StateFlow<String> = app.language.asStateFlow()

    private val _state = MutableStateFlow<FlowState?>(null)

    /** The flow's state; null until the records store is open. */
    val state: StateFlow<FlowState?> = _state.asStateFlow()

    private val _busy = MutableStateFlow(0)
    val busy: StateFlow<Int> = _busy.asStateFlow()

    private val _problem = MutableStateFlow<String?>(null)

    /** A call that failed, in one plain sentence (never the patient's data). */
    val problem: StateFlow<String?> = _problem.asStateFlow()

    private val _afterFirstRun = MutableStateFlow(false)

    /** The first run has just been completed: offer the hospital page once. */
    val afterFirstRun: StateFlow<Boolean> = _afterFirstRun.asStateFlow()

    private val _overlay = MutableStateFlow<GuideOverlay?>(null)
    val overlay: StateFlow<GuideOverlay?> = _overlay.asStateFlow()

    private val _pictures = MutableStateFlow<Pictures?>(null)
    val pictures: StateFlow<Pictures?> = _pictures.asStateFlow()

    private val _history = MutableStateFlow<List<HistoryRow>?>(null)

    /** The history's rows, each with its case's outbox rows (none: not sent to a hospital). */
    val history: StateFlow<List<HistoryRow>?> = _history.asStateFlow()

    private val _hospital = MutableStateFlow(HospitalPage())
    val hospital: StateFlow<HospitalPage> = _hospital.asStateFlow()

    /** One photo at a time, from the screen's button or a volume key (main thread only). */
    private val shutter = Shutter()
    private val _shutterRequests = MutableSharedFlow<Unit>(extraBufferCapacity = 1)

    /** Take a photo now (collected by the capture screen, which owns the camera). */
    val shutterRequests: SharedFlow<Unit> = _shutterRequests.asSharedFlow()

    init {
        act { }
    }

    /** Runs one flow call; publishes the flow's state after it, or the problem. */
    private suspend fun <T> flowCall(block: (ScreeningFlow) -> T): T? {
        _busy.update { it + 1 }
        return try {
            app.withFlow { f -> block(f).also { _state.value = f.state } }
        } catch (e: CancellationException) {
            throw e
        } catch (e: Exception) {
            // The class only: messages may carry a code, never patient data, but the log is not the place for either.
            Log.w(TAG, "flow call failed: ${e.javaClass.simpleName}")
            _problem.value = problemText(e)
            null
        } finally {
            _busy.update { it - 1 }
        }
    }

    private fun act(block: (ScreeningFlow) -> Unit) {
        viewModelScope.launch { flowCall(block) }
    }

    private fun text(@StringRes id: Int, vararg args: Any): String = strings.resources().getString(id, *args)

    private fun problemText(e: Exception): String = when (e) {
        is HemalensException.DiskFull -> text(R.string.ui_error_disk_full)
        is HemalensException.WrongKey -> text(R.string.ui_error_wrong_key)
        else -> text(R.string.ui_error_other, e.javaClass.simpleName)
    }

    fun showProblem(text: String) {
        _problem.value = text
    }

    fun dismissProblem() {
        _problem.value = null
    }

    /** The operator from the first run (the reviewer's name to start with). */
    fun operator(): String = app.vault.loadSetup()?.operator.orEmpty()

    /** The headline of an outcome, for the reviewer's choice. */
    fun outcomeWords(decision: Decision): String = strings.get(OutcomeStyle.of(decision).headline)

    /** The first run's language choice: the screens switch at once (saved with the setup). */
    fun chooseLanguage(tag: String) {
        app.language.value = tag
    }

    /** The language changed after the first run: the flow saves it, and the screens switch at once. */
    fun changeLanguage(tag: String) = act { f ->
        f.changeLanguage(tag)
        app.language.value = tag
    }

    fun completeFirstRun(site: String, operator: String) = act { f ->
        if (f.completeFirstRun(Setup(language.value, site, operator)) is FlowState.PatientCode) _afterFirstRun.value = true
    }

    fun firstRunSeen() {
        _afterFirstRun.value = false
    }

    fun loadHospital() = act { f ->
        _hospital.update { it.copy(deviceKey = f.deviceKey(), hospitals = f.screener.hospitals()) }
    }

    /** Enrol the hospital of a scanned or pasted card. */
    fun enrol(card: String) = act { f ->
        val error = f.enrol(card)
        _hospital.update { it.copy(hospitals = f.screener.hospitals(), message = error ?: text(R.string.ui_hospital_added)) }
    }

    fun startScreening(patientCode: String) = act { it.startScreening(patientCode) }

    /** The screen's button or a volume key; true when the press was the capture screen's (a key then does not change the volume). */
    fun pressShutter(source: Shutter.Source, keyRepeat: Int = 0): Boolean {
        if (_state.value !is FlowState.Capturing) return false
        if (shutter.press(source, keyRepeat)) _shutterRequests.tryEmit(Unit)
        return true
    }

    /** A JPEG capture from CameraX: analysed at once (its plane is a direct buffer), then closed. */
    fun addPhoto(image: ImageProxy) {
        viewModelScope.launch {
            try {
                flowCall { it.addPhoto(image.planes[0].buffer) }
            } finally {
                image.close()
                shutter.done()
            }
        }
    }

    fun photoFailed() {
        shutter.done()
        _problem.value = text(R.string.ui_photo_failed)
    }

    fun cameraFailed() {
        _problem.value = text(R.string.ui_camera_failed)
    }

    /** From the camera's analysis thread: what to draw over the preview (null: nothing). */
    fun onOverlay(overlay: GuideOverlay?) {
        _overlay.value = overlay
    }

    fun finish() = act { it.finish() }

    /** The pictures of the finished screening (the core crops and draws them; a few hundred ms). */
    fun loadPictures() = act { f -> _pictures.value = Pictures(f.fieldOverlays(), f.gallery()) }

    fun startReview() = act { it.startReview() }

    /** The classes a reviewer may give a cell (the cell pack's), by code and name. */
    fun cellLabels(): List<Pair<String, String>> = Presenter(strings).cellLabels()

    fun leaveReview() = act { it.leaveReview() }

    fun confirm(reviewer: String, note: String) = act { it.confirm(reviewer.trim(), note.trim().ifEmpty { null }) }

    fun overrideOutcome(decision: Decision, reviewer: String, note: String) = act {
        it.overrideOutcome(decision, reviewer.trim(), note.trim().ifEmpty { null })
    }

    fun relabel(tile: CellTileModel, label: String, reviewer: String, note: String) = act { f ->
        f.relabelCell(tile.field, tile.cell, label, reviewer.trim(), note.trim().ifEmpty { null })
        _pictures.value = Pictures(f.fieldOverlays(), f.gallery())
    }

    /** The share screen; with a hospital, its bundles wait in the outbox and a delivery pass is asked for. */
    fun share(hospital: String?) = act { f ->
        f.share(hospital)
        if (hospital != null) OutboxWorker.sendSoon(app)
    }

    fun sendNow() {
        OutboxWorker.sendSoon(app)
    }

    fun refreshOutbox() = act { it.refreshOutbox() }

    fun newScreening() = act { f ->
        f.newScreening()
        _pictures.value = null
    }

    fun search(filter: HistoryFilter) = act { f -> _history.value = f.history(filter) }

    /** A case from the history: a finished one on its result (review, share again), an open one back to capturing. */
    fun openCase(row: HistoryRow) = act { f ->
        f.openCase(row)
        _pictures.value = null
    }

    private companion object {
        const val TAG = "Hemalens"
    }
}

/**
 * The string catalogue on the phone: [Str] keys are resource names, read in
 * the app's [language] (which may differ from the phone's). Ids are looked up
 * by name once.
 */
class AndroidStrings(private val context: Context, private val language: () -> String) : Strings {
    @SuppressLint("DiscouragedApi") // by name on purpose: the key is the contract with android/logic
    private val ids: Map<Str, Int> = Str.entries.associateWith { key ->
        val id = context.resources.getIdentifier(key.key, if (key.plural) "plurals" else "string", context.packageName)
        check(id != 0) { "no resource for ${key.key}" }
        id
    }
    private val byLanguage = ConcurrentHashMap<String, Resources>()

    /** The app's resources in its language now. */
    fun resources(): Resources {
        val tag = language()
        return byLanguage.getOrPut(tag) { localized(context, tag).resources }
    }

    override fun get(key: Str, vararg args: Any): String {
        val id = ids.getValue(key)
        return if (key.plural) resources().getQuantityString(id, args[0] as Int, *args) else resources().getString(id, *args)
    }

    companion object {
        /** [context] speaking [tag] (a BCP 47 language of [org.hemalens.app.LANGUAGES]). */
        fun localized(context: Context, tag: String): Context {
            val config = Configuration(context.resources.configuration)
            config.setLocale(Locale.forLanguageTag(tag))
            return context.createConfigurationContext(config)
        }
    }
}
