package org.hemalens.app

/**
 * Every text the shell logic shows, by key. The key is the Android string
 * resource name (`res/values/strings.xml` and `values-fr`, `-sw`, `-hi`); the phone reads it with
 * `Resources.getString`, the desktop test from the XML files.
 */
enum class Str {
    ERROR_SITE_MISSING,
    ERROR_OPERATOR_MISSING,
    ERROR_PATIENT_CODE,
    ERROR_HOSPITAL_CARD,
    ERROR_OVERRIDE_NOTE,
    CAPTURE_CELLS,
    CAPTURE_FIELDS,
    CAPTURE_ENOUGH,
    FIELD_ACCEPTED,
    FIELD_REJECTED,
    PHOTO_UNREADABLE,
    GUIDE_NO_APERTURE,
    GUIDE_READY,
    GUIDE_FRAME_ERROR,
    GUIDE_FOCUS,
    GUIDE_LIGHT,
    GUIDE_APERTURE,
    GUIDE_CELLS,
    GUIDE_CHECK_OK,
    GUIDE_CHECK_FIX,
    ISSUE_NOT_A_SMEAR,
    ISSUE_NO_CELLS,
    ISSUE_TOO_DARK,
    ISSUE_BURNT_OUT,
    ISSUE_OUT_OF_FOCUS,
    ISSUE_FOV_TOO_SMALL,
    ISSUE_FOV_OFF_CENTRE,
    ISSUE_TOO_SPARSE,
    ISSUE_TOO_CROWDED,
    ISSUE_SCALE_UNKNOWN,
    ISSUE_UNFAMILIAR_IMAGE,
    OUTCOME_REFER,
    OUTCOME_NO_ABNORMALITY,
    OUTCOME_INCONCLUSIVE,
    OUTCOME_NOT_FINISHED,
    OUTCOME_CHANGED_BY_REVIEWER,
    NEXT_REFER,
    NEXT_NO_ABNORMALITY,
    NEXT_CAPTURE_MORE,
    NEXT_CHECK_THEN_CAPTURE,
    NEXT_FIELD_LIMIT,
    NEXT_EXPERT_REVIEW,
    NEXT_REVIEWED_INCONCLUSIVE,
    PERCENT,
    DIFFERENTIAL_ROW,
    CELL_NEUTROPHIL,
    CELL_LYMPHOCYTE,
    CELL_MONOCYTE,
    CELL_EOSINOPHIL,
    CELL_BASOPHIL,
    CELL_IG,
    CELL_ERYTHROBLAST,
    CELL_PLATELET,
    GALLERY_UNCERTAIN,
    CELL_TILE,
    CELL_TILE_UNCERTAIN,
    CELL_TILE_RELABELLED,
    FIELD_OVERLAY,
    REVIEW_OPEN,
    REVIEW_PENDING,
    REVIEW_REVIEWED,
    REVIEW_NOT_NEEDED,
    OUTBOX_KIND_RESULTS,
    OUTBOX_KIND_PHOTOS,
    OUTBOX_QUEUED,
    OUTBOX_SENDING,
    OUTBOX_DELIVERED,
    OUTBOX_REFUSED,
    HISTORY_PHOTOS,
    ;

    /** The resource name: `ERROR_SITE_MISSING` is `R.string.error_site_missing`. */
    val key: String get() = name.lowercase()

    /**
     * A quantity string (`<plurals>`, `R.plurals.x`): its first argument is
     * the count that picks the form ("1 more field", "3 more fields").
     */
    val plural: Boolean get() = this in PLURALS

    private companion object {
        val PLURALS = setOf(NEXT_CAPTURE_MORE, NEXT_CHECK_THEN_CAPTURE, FIELD_OVERLAY)
    }
}

/** A language the app speaks, by its BCP 47 tag and its own name (never translated). */
data class Language(val tag: String, val name: String)

/** The first run's choice; each has the whole catalogue (checked by the logic test). */
val LANGUAGES = listOf(
    Language("en", "English"),
    Language("fr", "Français"),
    Language("sw", "Kiswahili"),
    Language("hi", "हिन्दी"),
)

/**
 * The string catalogue in the user's language; `args` fill `%1$s`, `%2$d`...
 * For a [Str.plural] key the first argument (an Int) also picks the form: on
 * the phone `getQuantityString(R.plurals.x, count, *args)`.
 */
fun interface Strings {
    fun get(key: Str, vararg args: Any): String
}
