package org.hemalens.app

import org.hemalens.core.ClassCount
import org.hemalens.core.Decision
import org.hemalens.core.IssueCode
import org.hemalens.core.NextStep
import org.hemalens.core.Outcome
import org.hemalens.core.Quality
import org.hemalens.core.Summary
import org.hemalens.store.OutboxItem
import org.hemalens.store.OutboxState
import org.hemalens.store.ReviewState
import org.hemalens.store.SessionRow
import java.time.Instant
import java.time.ZoneId
import java.time.format.DateTimeFormatter
import kotlin.math.roundToInt

/**
 * How an outcome looks. The icon's shape and the headline's words carry the
 * meaning; the colour only repeats it (readable in grey, by a screen reader,
 * by someone who reads little).
 */
enum class OutcomeStyle(val iconId: String, val colourToken: String, val headline: Str) {
    REFER("ic_outcome_refer_hospital", "outcome_refer", Str.OUTCOME_REFER),
    NO_ABNORMALITY("ic_outcome_check", "outcome_no_abnormality", Str.OUTCOME_NO_ABNORMALITY),
    INCONCLUSIVE("ic_outcome_question", "outcome_inconclusive", Str.OUTCOME_INCONCLUSIVE),
    ;

    companion object {
        fun of(d: Decision): OutcomeStyle = when (d) {
            Decision.REFER -> REFER
            Decision.NO_ABNORMALITY_DETECTED -> NO_ABNORMALITY
            Decision.INCONCLUSIVE -> INCONCLUSIVE
        }
    }
}

/** The top of the result screen; `headline` doubles as the icon's screen-reader label. */
data class OutcomeModel(
    val decision: Decision,
    val headline: String,
    val iconId: String,
    val colourToken: String,
    val nextStep: String,
    /** Set when a reviewer replaced the machine's outcome: says what the machine said. */
    val changedByReviewer: String?,
)

/** One line of the differential: the class, k of n, the share and its 95% interval. */
data class DifferentialRow(val label: String, val name: String, val count: Int, val of: Int, val text: String)

/** A photo's verdict: accepted, or the quality gate's reason in one sentence. */
data class FieldVerdict(val number: Int?, val accepted: Boolean, val text: String)

/** The capture screen's progress bar towards the cell target. */
data class CaptureProgress(
    val cells: Int,
    val targetCells: Int,
    /** 0..1, for the bar. */
    val fraction: Float,
    val cellsText: String,
    val fieldsText: String,
    val enough: Boolean,
    /** What to do now, from the running outcome. */
    val nextStep: String,
)

data class ResultModel(
    val outcome: OutcomeModel,
    val differential: List<DifferentialRow>,
    val fields: List<FieldVerdict>,
    val review: String,
)

/** One outbox item of a case: `queued`, `sending 42%`, `delivered`, `refused: reason`. */
data class OutboxRow(val id: Long, val kind: String, val state: OutboxState, val percent: Int?, val text: String)

data class HistoryRow(
    val sessionId: Long,
    val patient: String,
    val date: String,
    val outcome: String,
    val iconId: String?,
    val review: String,
    val photos: String,
    val pendingReview: Boolean,
    /** The case's outbox items (results, photos), each `queued` / `sending n%` / `delivered` / `refused: reason`. */
    val outbox: List<OutboxRow> = emptyList(),
    /** Still capturing: opening it carries on with the capture. */
    val open: Boolean = false,
)

/** Turns the core's records into what the screens show, in the user's language. */
class Presenter(private val s: Strings, private val zone: ZoneId = ZoneId.systemDefault()) {

    fun percent(p: Double): String = s.get(Str.PERCENT, (p * 100).roundToInt())

    fun outcome(summary: Summary, row: SessionRow? = null): OutcomeModel {
        val machine = summary.outcome
        val effective = row?.outcome ?: machine.decision
        val changed = effective != machine.decision
        val style = OutcomeStyle.of(effective)
        return OutcomeModel(
            decision = effective,
            headline = s.get(style.headline),
            iconId = style.iconId,
            colourToken = style.colourToken,
            nextStep = if (changed) reviewedNextStep(effective) else nextStep(machine),
            changedByReviewer = if (changed) {
                s.get(Str.OUTCOME_CHANGED_BY_REVIEWER, s.get(OutcomeStyle.of(machine.decision).headline))
            } else {
                null
            },
        )
    }

    /**
     * The core's next step in the user's language, from the code the core
     * chose (its English sentence is `outcome.nextStep`); a result stored
     * before the codes existed keeps its English sentence.
     */
    fun nextStep(o: Outcome): String = when (val n = o.next) {
        is NextStep.Refer -> s.get(Str.NEXT_REFER)
        is NextStep.NoReferral -> s.get(Str.NEXT_NO_ABNORMALITY)
        is NextStep.CaptureMore -> s.get(Str.NEXT_CAPTURE_MORE, n.fields.toInt())
        is NextStep.CheckThenCapture -> s.get(Str.NEXT_CHECK_THEN_CAPTURE, n.fields.toInt())
        is NextStep.FieldLimit -> s.get(Str.NEXT_FIELD_LIMIT)
        is NextStep.ExpertReview -> s.get(Str.NEXT_EXPERT_REVIEW)
        is NextStep.Unknown -> o.nextStep
    }

    private fun reviewedNextStep(d: Decision): String = when (d) {
        Decision.REFER -> s.get(Str.NEXT_REFER)
        Decision.NO_ABNORMALITY_DETECTED -> s.get(Str.NEXT_NO_ABNORMALITY)
        Decision.INCONCLUSIVE -> s.get(Str.NEXT_REVIEWED_INCONCLUSIVE)
    }

    /** The labels a reviewer may give a cell, with their names (the cell pack's classes). */
    fun cellLabels(): List<Pair<String, String>> = CELL_LABELS.map { it to cellName(it) }

    fun cellName(label: String): String = when (label) {
        "neutrophil" -> s.get(Str.CELL_NEUTROPHIL)
        "lymphocyte" -> s.get(Str.CELL_LYMPHOCYTE)
        "monocyte" -> s.get(Str.CELL_MONOCYTE)
        "eosinophil" -> s.get(Str.CELL_EOSINOPHIL)
        "basophil" -> s.get(Str.CELL_BASOPHIL)
        "ig" -> s.get(Str.CELL_IG)
        "erythroblast" -> s.get(Str.CELL_ERYTHROBLAST)
        "platelet" -> s.get(Str.CELL_PLATELET)
        else -> label.replace('_', ' ') // a class a newer pack adds: its code until translated
    }

    fun differentialRow(c: ClassCount): DifferentialRow {
        val p = c.proportion
        val name = cellName(c.label)
        return DifferentialRow(
            label = c.label,
            name = name,
            count = p.k.toInt(),
            of = p.n.toInt(),
            text = s.get(Str.DIFFERENTIAL_ROW, name, p.k.toInt(), p.n.toInt(), percent(p.p), percent(p.low), percent(p.high)),
        )
    }

    fun issue(code: IssueCode): String = s.get(
        when (code) {
            IssueCode.NOT_A_SMEAR -> Str.ISSUE_NOT_A_SMEAR
            IssueCode.NO_CELLS -> Str.ISSUE_NO_CELLS
            IssueCode.TOO_DARK -> Str.ISSUE_TOO_DARK
            IssueCode.BURNT_OUT -> Str.ISSUE_BURNT_OUT
            IssueCode.OUT_OF_FOCUS -> Str.ISSUE_OUT_OF_FOCUS
            IssueCode.FOV_TOO_SMALL -> Str.ISSUE_FOV_TOO_SMALL
            IssueCode.FOV_OFF_CENTRE -> Str.ISSUE_FOV_OFF_CENTRE
            IssueCode.TOO_SPARSE -> Str.ISSUE_TOO_SPARSE
            IssueCode.TOO_CROWDED -> Str.ISSUE_TOO_CROWDED
            IssueCode.SCALE_UNKNOWN -> Str.ISSUE_SCALE_UNKNOWN
            IssueCode.UNFAMILIAR_IMAGE -> Str.ISSUE_UNFAMILIAR_IMAGE
        },
    )

    /** Photo `number` (from 1): accepted, or the gate's first reason. */
    fun verdict(number: Int, q: Quality): FieldVerdict {
        val first = q.issues.firstOrNull()
        return if (q.ok || first == null) {
            FieldVerdict(number, true, s.get(Str.FIELD_ACCEPTED, number))
        } else {
            FieldVerdict(number, false, s.get(Str.FIELD_REJECTED, number, issue(first.code)))
        }
    }

    fun unreadable(): FieldVerdict = FieldVerdict(null, false, s.get(Str.PHOTO_UNREADABLE))

    fun progress(summary: Summary): CaptureProgress {
        val cells = summary.cells.white.toInt()
        val target = summary.provenance.targetCells.toInt()
        return CaptureProgress(
            cells = cells,
            targetCells = target,
            fraction = if (target > 0) (cells.toFloat() / target).coerceIn(0f, 1f) else 1f,
            cellsText = s.get(Str.CAPTURE_CELLS, cells, target),
            fieldsText = s.get(Str.CAPTURE_FIELDS, summary.fields.added.toInt(), summary.provenance.maxFields.toInt()),
            enough = summary.enoughEvidence,
            // "Enough" only when the cell target is met: the field limit also ends the evidence.
            nextStep = if (summary.enoughEvidence && cells >= target) {
                s.get(Str.CAPTURE_ENOUGH)
            } else {
                nextStep(summary.outcome)
            },
        )
    }

    fun review(state: ReviewState): String = s.get(
        when (state) {
            ReviewState.OPEN -> Str.REVIEW_OPEN
            ReviewState.PENDING -> Str.REVIEW_PENDING
            ReviewState.REVIEWED -> Str.REVIEW_REVIEWED
            ReviewState.NOT_NEEDED -> Str.REVIEW_NOT_NEEDED
        },
    )

    fun result(summary: Summary, fields: List<FieldVerdict>, row: SessionRow?): ResultModel = ResultModel(
        outcome = outcome(summary, row),
        differential = summary.differential.map(::differentialRow),
        fields = fields,
        review = review(row?.reviewState ?: ReviewState.OPEN),
    )

    fun outbox(item: OutboxItem): OutboxRow {
        val percent = if (item.state == OutboxState.SENDING && item.size > 0uL) {
            (item.sent.toDouble() * 100 / item.size.toDouble()).toInt().coerceIn(0, 100)
        } else {
            null
        }
        val text = when (item.state) {
            OutboxState.QUEUED -> s.get(Str.OUTBOX_QUEUED)
            OutboxState.SENDING -> s.get(Str.OUTBOX_SENDING, percent ?: 0)
            OutboxState.DELIVERED -> s.get(Str.OUTBOX_DELIVERED)
            OutboxState.REFUSED -> s.get(Str.OUTBOX_REFUSED, item.reason ?: "?")
        }
        val kind = when (item.kind) {
            "results" -> s.get(Str.OUTBOX_KIND_RESULTS)
            "photos" -> s.get(Str.OUTBOX_KIND_PHOTOS)
            else -> item.kind
        }
        return OutboxRow(item.id, kind, item.state, percent, text)
    }

    fun history(row: SessionRow, outbox: List<OutboxItem> = emptyList()): HistoryRow {
        val style = row.outcome?.let(OutcomeStyle::of)
        return HistoryRow(
            sessionId = row.id,
            patient = row.patient,
            date = DATE.format(Instant.ofEpochMilli(row.startedAt).atZone(zone)),
            outcome = style?.let { s.get(it.headline) } ?: s.get(Str.OUTCOME_NOT_FINISHED),
            iconId = style?.iconId,
            review = review(row.reviewState),
            photos = s.get(Str.HISTORY_PHOTOS, row.fields.toInt()),
            pendingReview = row.reviewState == ReviewState.PENDING,
            outbox = outbox.map(::outbox),
            open = row.closedAt == null,
        )
    }

    companion object {
        /** The cell pack's classes, in the order a reviewer is offered them. */
        val CELL_LABELS = listOf("neutrophil", "lymphocyte", "monocyte", "eosinophil", "basophil", "ig", "erythroblast", "platelet")

        /** Digits and dashes read the same in every language of the app. */
        private val DATE: DateTimeFormatter = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm")
    }
}
