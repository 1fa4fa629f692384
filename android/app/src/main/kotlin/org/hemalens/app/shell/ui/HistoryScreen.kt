package org.hemalens.app.shell.ui

import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.PaddingValues
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.Spacer
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.layout.size
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.foundation.selection.selectableGroup
import androidx.compose.foundation.selection.toggleable
import androidx.compose.material3.Checkbox
import androidx.compose.material3.HorizontalDivider
import androidx.compose.material3.Icon
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.res.painterResource
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.semantics.Role
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import org.hemalens.app.HistoryFilter
import org.hemalens.app.HistoryRow
import org.hemalens.app.R
import org.hemalens.app.shell.AppViewModel
import org.hemalens.core.Decision
import java.time.LocalDate

/**
 * Past screenings, newest first, searched by patient code, days, outcome and pending review (android/logic `HistoryFilter`).
 * A case opens from its row (`ScreeningFlow.openCase`): a finished one on its result, an open one back to capturing.
 */
@Composable
fun HistoryScreen(vm: AppViewModel, onBack: () -> Unit) {
    val entries by vm.history.collectAsStateWithLifecycle()
    var patient by rememberSaveable { mutableStateOf("") }
    var from by rememberSaveable { mutableStateOf("") }
    var to by rememberSaveable { mutableStateOf("") }
    var outcome by rememberSaveable { mutableStateOf<Decision?>(null) }
    var pending by rememberSaveable { mutableStateOf(false) }
    var badDate by rememberSaveable { mutableStateOf(false) }
    val search: () -> Unit = {
        val fromDay = day(from)
        val toDay = day(to)
        badDate = (from.isNotBlank() && fromDay == null) || (to.isNotBlank() && toDay == null)
        if (!badDate) vm.search(HistoryFilter(patient = patient, from = fromDay, to = toDay, outcome = outcome, pendingReview = pending))
    }
    LaunchedEffect(Unit) { vm.search(HistoryFilter()) }
    LazyColumn(contentPadding = PaddingValues(16.dp), verticalArrangement = Arrangement.spacedBy(12.dp)) {
        item { SecondaryButton(stringResource(R.string.ui_back), onClick = onBack) }
        item { Heading(stringResource(R.string.ui_history_title)) }
        item {
            OutlinedTextField(
                value = patient,
                onValueChange = { patient = it },
                label = { Text(stringResource(R.string.ui_patient_code_label)) },
                singleLine = true,
                modifier = Modifier.fillMaxWidth(),
            )
        }
        item {
            Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                OutlinedTextField(
                    value = from,
                    onValueChange = { from = it },
                    label = { Text(stringResource(R.string.ui_from_date)) },
                    singleLine = true,
                    modifier = Modifier.weight(1f),
                )
                OutlinedTextField(
                    value = to,
                    onValueChange = { to = it },
                    label = { Text(stringResource(R.string.ui_to_date)) },
                    singleLine = true,
                    modifier = Modifier.weight(1f),
                )
            }
        }
        if (badDate) item { ErrorText(stringResource(R.string.ui_date_invalid)) }
        item {
            Column(Modifier.selectableGroup()) {
                (listOf<Decision?>(null) + Decision.entries).forEach { d ->
                    val words = d?.let(vm::outcomeWords) ?: stringResource(R.string.ui_outcome_any)
                    RadioRow(selected = outcome == d, onClick = { outcome = d }) {
                        Text(words, style = MaterialTheme.typography.bodyLarge)
                    }
                }
            }
        }
        item {
            Row(
                Modifier.fillMaxWidth().toggleable(value = pending, onValueChange = { pending = it }, role = Role.Checkbox).padding(6.dp),
                verticalAlignment = Alignment.CenterVertically,
            ) {
                Checkbox(checked = pending, onCheckedChange = null)
                Text(
                    stringResource(R.string.ui_pending_only),
                    style = MaterialTheme.typography.bodyLarge,
                    modifier = Modifier.padding(start = 8.dp),
                )
            }
        }
        item { PrimaryButton(stringResource(R.string.ui_search), onClick = search) }
        val list = entries
        if (list?.isEmpty() == true) {
            item { Text(stringResource(R.string.ui_no_results), style = MaterialTheme.typography.bodyLarge) }
        }
        items(list.orEmpty()) { row ->
            HistoryCase(row) {
                vm.openCase(row)
                onBack()
            }
        }
    }
}

/** A day typed as YYYY-MM-DD; null when blank or not a date. */
private fun day(text: String): LocalDate? = text.trim().takeIf { it.isNotEmpty() }?.let { runCatching { LocalDate.parse(it) }.getOrNull() }

/** One case: its words read as one by TalkBack; the whole row is the button that opens it. */
@Composable
private fun HistoryCase(row: HistoryRow, onOpen: () -> Unit) {
    val open = stringResource(R.string.ui_open_case)
    Column(Modifier.fillMaxWidth().clickable(onClickLabel = open, role = Role.Button, onClick = onOpen).padding(bottom = 8.dp)) {
        HorizontalDivider()
        Row(Modifier.padding(top = 8.dp), verticalAlignment = Alignment.CenterVertically) {
            if (row.iconId != null) {
                // The outcome's words follow; the icon repeats them for the eye.
                Icon(painterResource(outcomeIcon(row.iconId)), contentDescription = null, modifier = Modifier.size(32.dp))
            } else {
                Spacer(Modifier.size(32.dp))
            }
            Column(Modifier.padding(start = 12.dp)) {
                Text(row.patient, style = MaterialTheme.typography.titleMedium)
                Text(row.outcome, style = MaterialTheme.typography.bodyLarge)
            }
        }
        Text(row.date, style = MaterialTheme.typography.bodyMedium)
        Text(row.review, style = MaterialTheme.typography.bodyMedium)
        Text(row.photos, style = MaterialTheme.typography.bodyMedium)
        if (row.outbox.isEmpty()) {
            Text(stringResource(R.string.ui_outbox_none), style = MaterialTheme.typography.bodyMedium)
        } else {
            row.outbox.forEach {
                Text(stringResource(R.string.ui_outbox_row, it.kind, it.text), style = MaterialTheme.typography.bodyMedium)
            }
        }
        // The outcome line already says "not finished"; this says what opening it does.
        if (row.open) Text(stringResource(R.string.ui_carry_on), style = MaterialTheme.typography.bodyLarge)
    }
}
