package org.hemalens.app.shell.ui

import androidx.compose.foundation.layout.Box
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.AlertDialog
import androidx.compose.material3.LinearProgressIndicator
import androidx.compose.material3.Scaffold
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.semantics.contentDescription
import androidx.compose.ui.semantics.semantics
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import androidx.navigation.compose.NavHost
import androidx.navigation.compose.composable
import androidx.navigation.compose.rememberNavController
import org.hemalens.app.FlowState
import org.hemalens.app.R
import org.hemalens.app.shell.AppViewModel

private const val FLOW = "flow"
private const val HISTORY = "history"
private const val HOSPITAL = "hospital"

/** The app: the screening flow's screen for its state, and two side pages (history, hospital and this phone). */
@Composable
fun HemalensApp(vm: AppViewModel) {
    val language by vm.language.collectAsStateWithLifecycle()
    HemalensTheme {
        Localized(language) {
            val nav = rememberNavController()
            val busy by vm.busy.collectAsStateWithLifecycle()
            Scaffold { padding ->
                Column(Modifier.fillMaxSize().padding(padding)) {
                    if (busy > 0) {
                        val working = stringResource(R.string.ui_working)
                        LinearProgressIndicator(Modifier.fillMaxWidth().semantics { contentDescription = working })
                    }
                    Box(Modifier.fillMaxSize()) {
                        NavHost(nav, startDestination = FLOW) {
                            composable(FLOW) { FlowRoute(vm, { nav.navigate(HISTORY) }, { nav.navigate(HOSPITAL) }) }
                            composable(HISTORY) { HistoryScreen(vm, onBack = { nav.popBackStack() }) }
                            composable(HOSPITAL) { HospitalScreen(vm, onDone = { nav.popBackStack() }) }
                        }
                    }
                }
            }
            ProblemDialog(vm)
        }
    }
}

/** The screen for the flow's state; the flow decides which. */
@Composable
private fun FlowRoute(vm: AppViewModel, openHistory: () -> Unit, openHospital: () -> Unit) {
    val state by vm.state.collectAsStateWithLifecycle()
    val afterFirstRun by vm.afterFirstRun.collectAsStateWithLifecycle()
    // null: the records store is opening (the progress bar shows). Right after
    // the first run, the hospital page comes once before the first patient code.
    when (val s = state) {
        null -> Unit
        is FlowState.FirstRun -> FirstRunScreen(vm, s)
        is FlowState.PatientCode -> PatientCodeOrHospital(vm, s, afterFirstRun, openHistory, openHospital)
        is FlowState.Capturing -> CaptureScreen(vm, s)
        is FlowState.Result -> ResultScreen(vm, s)
        is FlowState.Review -> ReviewScreen(vm, s)
        is FlowState.Sharing -> ShareScreen(vm, s)
    }
}

@Composable
private fun PatientCodeOrHospital(
    vm: AppViewModel,
    state: FlowState.PatientCode,
    afterFirstRun: Boolean,
    openHistory: () -> Unit,
    openHospital: () -> Unit,
) {
    if (afterFirstRun) HospitalScreen(vm, onDone = vm::firstRunSeen) else PatientCodeScreen(vm, state, openHistory, openHospital)
}

@Composable
private fun ProblemDialog(vm: AppViewModel) {
    val problem by vm.problem.collectAsStateWithLifecycle()
    problem?.let { text ->
        AlertDialog(
            onDismissRequest = vm::dismissProblem,
            confirmButton = { TextButton(onClick = vm::dismissProblem) { Text(stringResource(R.string.ui_close)) } },
            text = { Text(text) },
        )
    }
}
