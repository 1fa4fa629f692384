package org.hemalens.app

import org.hemalens.store.Hospital
import java.net.URI
import java.net.URLDecoder

/**
 * A hospital's card, scanned as a QR code or pasted: everything a phone
 * needs to share with it, in one line:
 * `hemalens:hospital?name=Central&url=https%3A%2F%2Finbox.example%2Ftus%2F&key=age1...&photos=wifi`.
 * `photos=any` lets photos go over mobile data too (results never wait for Wi-Fi).
 * The bundles are signed and encrypted to `key` whatever the link.
 */
object HospitalCard {
    private const val PREFIX = "hemalens:hospital?"
    private val AGE_KEY = Regex("age1[02-9ac-hj-np-z]{58}")

    /** The card's hospital, or null when [text] is not a card (wrong prefix, a field missing or malformed). */
    fun parse(text: String): Hospital? {
        val t = text.trim()
        if (!t.startsWith(PREFIX)) return null
        val fields = t.removePrefix(PREFIX).split('&').mapNotNull { part ->
            val i = part.indexOf('=')
            if (i <= 0) null else part.substring(0, i) to runCatching { URLDecoder.decode(part.substring(i + 1), "UTF-8") }.getOrNull()
        }.toMap()
        val name = fields["name"]?.trim()?.takeIf { it.length in 1..60 } ?: return null
        val url = fields["url"]?.takeIf(::isHttpUrl) ?: return null
        val key = fields["key"]?.takeIf { AGE_KEY.matches(it) } ?: return null
        val photos = when (fields["photos"] ?: "wifi") {
            "wifi" -> true
            "any" -> false
            else -> return null
        }
        return Hospital(name, url, key, photos)
    }

    /** The card for [h] (what the hospital prints as a QR code). */
    fun format(h: Hospital): String {
        val enc = { v: String -> java.net.URLEncoder.encode(v, "UTF-8").replace("+", "%20") }
        return "${PREFIX}name=${enc(h.name)}&url=${enc(h.url)}&key=${h.recipient}&photos=${if (h.photosOnWifiOnly) "wifi" else "any"}"
    }

    private fun isHttpUrl(s: String): Boolean = runCatching {
        val u = URI(s)
        (u.scheme == "https" || u.scheme == "http") && !u.host.isNullOrBlank()
    }.getOrDefault(false)
}
