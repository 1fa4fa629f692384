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
    CAPTURE_CELLS,
    CAPTURE_FIELDS,
    CAPTURE_ENOUGH,
    FIELD_ACCEPTED,
    FIELD_REJECTED,
    PHOTO_UNREADABLE,
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
    HISTORY_PHOTOS;

    /** The resource name: `ERROR_SITE_MISSING` is `R.string.error_site_missing`. */
    val key: String get() = name.lowercase()
}

/** The string catalogue in the user's language; `args` fill `%1$s`, `%2$d`... */
fun interface Strings {
    fun get(key: Str, vararg args: Any): String
}
