package org.hemalens.app.shell.ui

import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.text.KeyboardActions
import androidx.compose.foundation.text.KeyboardOptions
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.text.input.ImeAction
import androidx.compose.ui.text.input.KeyboardCapitalization
import androidx.compose.ui.text.input.KeyboardType
import org.hemalens.app.FlowState
import org.hemalens.app.R
import org.hemalens.app.shell.AppViewModel

/** A new screening starts with a patient code (the flow checks it; never a name). */
@Composable
fun PatientCodeScreen(vm: AppViewModel, state: FlowState.PatientCode, openHistory: () -> Unit, openHospital: () -> Unit) {
    var code by rememberSaveable { mutableStateOf("") }
    ScreenColumn {
        Heading(stringResource(R.string.ui_patient_title))
        OutlinedTextField(
            value = code,
            onValueChange = { code = it },
            label = { Text(stringResource(R.string.ui_patient_code_label)) },
            supportingText = { Text(stringResource(R.string.ui_patient_code_help)) },
            isError = state.error != null,
            singleLine = true,
            keyboardOptions = KeyboardOptions(
                capitalization = KeyboardCapitalization.Characters,
                autoCorrectEnabled = false,
                keyboardType = KeyboardType.Ascii,
                imeAction = ImeAction.Go,
            ),
            keyboardActions = KeyboardActions(onGo = { vm.startScreening(code) }),
            textStyle = MaterialTheme.typography.titleLarge,
            modifier = Modifier.fillMaxWidth(),
        )
        state.error?.let { ErrorText(it) }
        PrimaryButton(stringResource(R.string.ui_start)) { vm.startScreening(code) }
        SecondaryButton(stringResource(R.string.ui_history_title), onClick = openHistory)
        SecondaryButton(stringResource(R.string.ui_hospital_title), onClick = openHospital)
    }
}
