package org.hemalens.app.shell.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.PaddingValues
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.layout.size
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.selection.selectableGroup
import androidx.compose.material3.AlertDialog
import androidx.compose.material3.Icon
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.res.painterResource
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import org.hemalens.app.CellTileModel
import org.hemalens.app.FlowState
import org.hemalens.app.OutcomeStyle
import org.hemalens.app.R
import org.hemalens.app.shell.AppViewModel
import org.hemalens.core.Decision

/**
 * A reviewer agrees with the outcome, or changes it (a note is needed: the
 * flow refuses an override without one and says why, `state.error`), or
 * relabels cells from the gallery with any of the cell pack's classes. The
 * core keeps the machine's result.
 */
@Composable
fun ReviewScreen(vm: AppViewModel, state: FlowState.Review) {
    val pictures by vm.pictures.collectAsStateWithLifecycle()
    var reviewer by rememberSaveable { mutableStateOf(vm.operator()) }
    var note by rememberSaveable { mutableStateOf("") }
    var newOutcome by rememberSaveable { mutableStateOf<Decision?>(null) }
    var relabelling by remember { mutableStateOf<CellTileModel?>(null) }
    LaunchedEffect(state.sessionId) { vm.loadPictures() }
    val named = reviewer.isNotBlank()
    // The flow's answer to an override without a note, until a note is written.
    val error = state.error?.takeIf { note.isBlank() }
    LazyColumn(contentPadding = PaddingValues(16.dp), verticalArrangement = Arrangement.spacedBy(12.dp)) {
        item { Heading(stringResource(R.string.ui_review_title, state.patient)) }
        item { SecondaryButton(stringResource(R.string.ui_back), enabled = true) { vm.leaveReview() } }
        item { OutcomeHeader(state.model.outcome) }
        item {
            OutlinedTextField(
                value = reviewer,
                onValueChange = { reviewer = it },
                label = { Text(stringResource(R.string.ui_reviewer_label)) },
                singleLine = true,
                modifier = Modifier.fillMaxWidth(),
            )
        }
        item {
            OutlinedTextField(
                value = note,
                onValueChange = { note = it },
                label = { Text(stringResource(R.string.ui_note_label)) },
                supportingText = if (newOutcome != null || error != null) {
                    { Text(stringResource(R.string.ui_note_needed)) }
                } else {
                    null
                },
                isError = error != null,
                minLines = 2,
                modifier = Modifier.fillMaxWidth(),
            )
        }
        item { PrimaryButton(stringResource(R.string.ui_confirm), enabled = named) { vm.confirm(reviewer, note) } }
        item { SubHeading(stringResource(R.string.ui_new_outcome)) }
        item {
            Column(Modifier.selectableGroup()) {
                Decision.entries.filter { it != state.model.outcome.decision }.forEach { d ->
                    RadioRow(selected = newOutcome == d, onClick = { newOutcome = d }) {
                        // The words name the outcome; the icon repeats it for the eye.
                        Icon(
                            painterResource(outcomeIcon(OutcomeStyle.of(d).iconId)),
                            contentDescription = null,
                            modifier = Modifier.padding(end = 8.dp).size(28.dp),
                        )
                        Text(vm.outcomeWords(d), style = MaterialTheme.typography.bodyLarge)
                    }
                }
            }
        }
        item {
            // The flow is the rule on the note: without one it answers state.error, said where the button is.
            Column(verticalArrangement = Arrangement.spacedBy(6.dp)) {
                error?.let { ErrorText(it) }
                SecondaryButton(stringResource(R.string.ui_override), enabled = named && newOutcome != null) {
                    newOutcome?.let { vm.overrideOutcome(it, reviewer, note) }
                }
            }
        }
        item { Text(stringResource(R.string.ui_relabel_hint), style = MaterialTheme.typography.bodyLarge) }
        pictureItems(pictures, onTile = { if (named) relabelling = it })
    }
    relabelling?.let { tile ->
        RelabelDialog(
            tile = tile,
            labels = vm.cellLabels(),
            onPick = { label ->
                relabelling = null
                vm.relabel(tile, label, reviewer, note)
            },
            onDismiss = { relabelling = null },
        )
    }
}

/** The classes a cell may be given (the cell pack's); the one it has is marked. */
@Composable
private fun RelabelDialog(tile: CellTileModel, labels: List<Pair<String, String>>, onPick: (String) -> Unit, onDismiss: () -> Unit) {
    var chosen by remember { mutableStateOf(tile.label) }
    AlertDialog(
        onDismissRequest = onDismiss,
        title = { Text(stringResource(R.string.ui_relabel_title)) },
        text = {
            Column(Modifier.selectableGroup()) {
                Text(tile.description, style = MaterialTheme.typography.bodyMedium)
                labels.forEach { (label, name) ->
                    RadioRow(selected = chosen == label, onClick = { chosen = label }) { Text(name) }
                }
            }
        },
        confirmButton = {
            TextButton(onClick = { onPick(chosen) }, enabled = chosen != tile.label) { Text(stringResource(R.string.ui_save)) }
        },
        dismissButton = { TextButton(onClick = onDismiss) { Text(stringResource(R.string.ui_cancel)) } },
    )
}
