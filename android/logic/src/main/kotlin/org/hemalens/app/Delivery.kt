package org.hemalens.app

import org.hemalens.Screener
import org.hemalens.store.OutboxState

/** What one background delivery pass did, and whether to try again later. */
data class DeliveryReport(
    val delivered: Int,
    val refused: Int,
    val waiting: Int,
    val reviewsApplied: Int,
    /** Something still waits (a link was down, photos wait for Wi-Fi): schedule another pass. */
    val retry: Boolean,
)

/**
 * One pass of the background worker (Android WorkManager, iOS
 * BGTaskScheduler): send what the outbox holds, then take back the
 * hospitals' reviews. Blocking; offline it returns quickly with `retry`.
 * A `HemalensException` (a full disk, a closed store) reaches the worker,
 * which retries later.
 */
class Delivery(private val screener: Screener) {
    fun run(onWifi: Boolean): DeliveryReport {
        val items = screener.outboxSend(onWifi)
        val syncs = if (screener.hospitals().isEmpty()) emptyList() else screener.syncReviews()
        val waiting = items.count { it.state == OutboxState.QUEUED || it.state == OutboxState.SENDING }
        return DeliveryReport(
            delivered = items.count { it.state == OutboxState.DELIVERED },
            refused = items.count { it.state == OutboxState.REFUSED },
            waiting = waiting,
            reviewsApplied = syncs.sumOf { it.applied.toInt() },
            retry = waiting > 0 || syncs.any { it.error != null },
        )
    }
}
