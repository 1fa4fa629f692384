package org.hemalens.app

import org.hemalens.HemalensException
import org.hemalens.hospitalCard
import org.hemalens.hospitalCardParse
import org.hemalens.store.Hospital

/**
 * A hospital's card, scanned as a QR code or pasted: everything a phone
 * needs to share with it, in one line
 * (`hemalens:hospital?name=Central&url=https%3A%2F%2Finbox.example%2Ftus%2F&key=age1...&photos=wifi`;
 * `docs/wire-format.md`). The core reads and writes it (the same code as the
 * hospital's inbox, which prints it and shows it as a QR code).
 */
object HospitalCard {
    /** The card's hospital, or null when [text] is not a card. */
    fun parse(text: String): Hospital? = try {
        hospitalCardParse(text)
    } catch (e: HemalensException.InvalidInput) {
        null
    }

    /** The card for [h]. */
    fun format(h: Hospital): String = hospitalCard(h)
}
