package org.hemalens.app.shell

import android.content.Context
import android.net.ConnectivityManager
import android.net.NetworkCapabilities
import androidx.work.BackoffPolicy
import androidx.work.Constraints
import androidx.work.CoroutineWorker
import androidx.work.ExistingPeriodicWorkPolicy
import androidx.work.ExistingWorkPolicy
import androidx.work.NetworkType
import androidx.work.OneTimeWorkRequestBuilder
import androidx.work.PeriodicWorkRequestBuilder
import androidx.work.WorkManager
import androidx.work.WorkerParameters
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.withContext
import org.hemalens.HemalensException
import org.hemalens.app.Delivery
import org.hemalens.app.FlowState
import java.util.concurrent.TimeUnit

/**
 * One background delivery pass ([Delivery]: send the outbox, take back the
 * hospitals' reviews) whenever a network is connected. Photos wait for an
 * unmetered link when the hospital asks; the core decides, this only says
 * whether the link is unmetered.
 */
class OutboxWorker(context: Context, params: WorkerParameters) : CoroutineWorker(context, params) {
    override suspend fun doWork(): Result {
        val app = applicationContext as HemalensApplication
        return try {
            // Before the first run there is no store, so nothing to send.
            val screener = app.withFlow { f -> if (f.state is FlowState.FirstRun) null else f.screener } ?: return Result.success()
            val report = withContext(Dispatchers.IO) { Delivery(screener).run(onWifi = unmetered()) }
            if (report.retry) Result.retry() else Result.success()
        } catch (e: HemalensException) {
            // A full disk or a store that cannot be opened now: try again later.
            Result.retry()
        }
    }

    private fun unmetered(): Boolean {
        val cm = applicationContext.getSystemService(ConnectivityManager::class.java) ?: return false
        val caps = cm.getNetworkCapabilities(cm.activeNetwork) ?: return false
        return caps.hasCapability(NetworkCapabilities.NET_CAPABILITY_NOT_METERED)
    }

    companion object {
        private const val NOW = "outbox-now"
        private const val PERIODIC = "outbox-periodic"

        private fun connected() = Constraints.Builder().setRequiredNetworkType(NetworkType.CONNECTED).build()

        /** A pass as soon as a network is connected (after sharing a case, or "try sending now"). */
        fun sendSoon(context: Context) {
            val request = OneTimeWorkRequestBuilder<OutboxWorker>()
                .setConstraints(connected())
                .setBackoffCriteria(BackoffPolicy.EXPONENTIAL, 30, TimeUnit.SECONDS)
                .build()
            WorkManager.getInstance(context).enqueueUniqueWork(NOW, ExistingWorkPolicy.REPLACE, request)
        }

        /** A pass every few hours while connected: reviews come back even when nothing new was shared. */
        fun schedulePeriodic(context: Context) {
            val request = PeriodicWorkRequestBuilder<OutboxWorker>(6, TimeUnit.HOURS).setConstraints(connected()).build()
            WorkManager.getInstance(context).enqueueUniquePeriodicWork(PERIODIC, ExistingPeriodicWorkPolicy.KEEP, request)
        }
    }
}
