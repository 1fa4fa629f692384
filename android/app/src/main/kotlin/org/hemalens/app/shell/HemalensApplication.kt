package org.hemalens.app.shell

import android.app.Application
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.sync.Mutex
import kotlinx.coroutines.sync.withLock
import kotlinx.coroutines.withContext
import org.hemalens.app.BuildConfig
import org.hemalens.app.LANGUAGES
import org.hemalens.app.ScreeningFlow
import org.hemalens.app.shell.ui.ShareFiles
import java.io.File
import java.util.Locale

/**
 * The process's one [ScreeningFlow] (and so one `Screener`), shared by the
 * screens' view model and the outbox worker. Every flow call runs on
 * [Dispatchers.IO], one at a time, behind [withFlow].
 */
class HemalensApplication : Application() {
    lateinit var vault: KeystoreVault
        private set
    lateinit var strings: AndroidStrings
        private set

    /** The language the app speaks: the first run's choice; before it, the phone's when the app has it. */
    val language = MutableStateFlow(LANGUAGES.first().tag)

    private val lock = Mutex()
    private var flow: ScreeningFlow? = null

    override fun onCreate() {
        super.onCreate()
        vault = KeystoreVault(this)
        val phone = Locale.getDefault().language
        language.value = vault.loadSetup()?.language ?: LANGUAGES.firstOrNull { it.tag == phone }?.tag ?: LANGUAGES.first().tag
        strings = AndroidStrings(this) { language.value }
        // A report or FHIR file left behind by a share the process did not outlive.
        ShareFiles.clear(this)
        OutboxWorker.schedulePeriodic(this)
    }

    /** Runs [block] on the flow off the main thread, one call at a time; opens the records store on first use. */
    suspend fun <T> withFlow(block: (ScreeningFlow) -> T): T = lock.withLock {
        withContext(Dispatchers.IO) {
            val f = flow ?: ScreeningFlow(File(filesDir, "records").path, vault, strings, BuildConfig.VERSION_NAME).also { flow = it }
            block(f)
        }
    }
}
