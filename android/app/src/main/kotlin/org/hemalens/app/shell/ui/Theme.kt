package org.hemalens.app.shell.ui

import androidx.annotation.ColorRes
import androidx.annotation.DrawableRes
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.lightColorScheme
import androidx.compose.runtime.Composable
import androidx.compose.ui.graphics.Color
import org.hemalens.app.OutcomeStyle
import org.hemalens.app.R

/** Dark enough for white text at 4.5:1 or more; the meaning is always also in words and shapes. */
private val Scheme = lightColorScheme(
    primary = Color(0xFF1F4E79),
    onPrimary = Color.White,
    secondary = Color(0xFF455A64),
    onSecondary = Color.White,
    error = Color(0xFFB3261E),
    onError = Color.White,
)

/** The guide's colours over the camera picture; ready/not ready is also the line's pattern and the words. */
val GuideReady = Color(0xFF66BB6A)
val GuideNotReady = Color(0xFFFFCA28)

/** Boxes on a field's picture: counted cells solid, uncertain ones dashed. */
val MarkCounted = Color(0xFF00E5FF)
val MarkUncertain = Color(0xFFFFD600)

@Composable
fun HemalensTheme(content: @Composable () -> Unit) {
    // Material's type scale is in sp: the phone's text size setting applies everywhere.
    MaterialTheme(colorScheme = Scheme, content = content)
}

private fun styleOf(iconId: String?): OutcomeStyle? = OutcomeStyle.entries.firstOrNull { it.iconId == iconId }

/** The vector drawable named by an outcome's `iconId` (android/logic `OutcomeStyle`). */
@DrawableRes
fun outcomeIcon(iconId: String?): Int = when (styleOf(iconId)) {
    OutcomeStyle.REFER -> R.drawable.ic_outcome_refer_hospital
    OutcomeStyle.NO_ABNORMALITY -> R.drawable.ic_outcome_check
    OutcomeStyle.INCONCLUSIVE, null -> R.drawable.ic_outcome_question
}

/** The colour resource named by an outcome's `colourToken`. */
@ColorRes
fun outcomeColour(colourToken: String): Int = when (OutcomeStyle.entries.firstOrNull { it.colourToken == colourToken }) {
    OutcomeStyle.REFER -> R.color.outcome_refer
    OutcomeStyle.NO_ABNORMALITY -> R.color.outcome_no_abnormality
    OutcomeStyle.INCONCLUSIVE, null -> R.color.outcome_inconclusive
}
