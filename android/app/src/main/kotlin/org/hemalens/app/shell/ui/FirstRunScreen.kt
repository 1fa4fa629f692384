package org.hemalens.app.shell.ui

import android.content.Intent
import androidx.camera.view.PreviewView
import androidx.compose.foundation.layout.Box
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.selection.selectableGroup
import androidx.compose.foundation.text.selection.SelectionContainer
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.DisposableEffect
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalClipboardManager
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.semantics.LiveRegionMode
import androidx.compose.ui.semantics.contentDescription
import androidx.compose.ui.semantics.liveRegion
import androidx.compose.ui.semantics.semantics
import androidx.compose.ui.text.AnnotatedString
import androidx.compose.ui.text.font.FontFamily
import androidx.compose.ui.unit.dp
import androidx.compose.ui.viewinterop.AndroidView
import androidx.lifecycle.compose.LocalLifecycleOwner
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import org.hemalens.app.FlowState
import org.hemalens.app.LANGUAGES
import org.hemalens.app.R
import org.hemalens.app.shell.AppViewModel
import org.hemalens.app.shell.camera.QrScanner

/** First run: the app's language, the site and the operator. The store's key is made in the Keystore on "continue". */
@Composable
fun FirstRunScreen(vm: AppViewModel, state: FlowState.FirstRun) {
    val language by vm.language.collectAsStateWithLifecycle()
    var site by rememberSaveable { mutableStateOf("") }
    var operator by rememberSaveable { mutableStateOf("") }
    ScreenColumn {
        Heading(stringResource(R.string.ui_first_run_title))
        SubHeading(stringResource(R.string.ui_language_label))
        LanguageChoice(language, vm::chooseLanguage)
        OutlinedTextField(
            value = site,
            onValueChange = { site = it },
            label = { Text(stringResource(R.string.ui_site_label)) },
            singleLine = true,
            modifier = Modifier.fillMaxWidth(),
        )
        OutlinedTextField(
            value = operator,
            onValueChange = { operator = it },
            label = { Text(stringResource(R.string.ui_operator_label)) },
            singleLine = true,
            modifier = Modifier.fillMaxWidth(),
        )
        state.error?.let { ErrorText(it) }
        Text(stringResource(R.string.ui_first_run_key_note), style = MaterialTheme.typography.bodyMedium)
        PrimaryButton(stringResource(R.string.ui_continue)) { vm.completeFirstRun(site, operator) }
    }
}

/**
 * Hospital and this phone: enrol a hospital from its card (scanned QR code or
 * pasted text; android/logic `HospitalCard` reads it), and show this phone's
 * id and public key for the hospital to enrol; the app's language, changed
 * after the first run. Optional, any time.
 */
@Composable
fun HospitalScreen(vm: AppViewModel, onDone: () -> Unit) {
    val page by vm.hospital.collectAsStateWithLifecycle()
    val language by vm.language.collectAsStateWithLifecycle()
    var card by rememberSaveable { mutableStateOf("") }
    var scanning by rememberSaveable { mutableStateOf(false) }
    LaunchedEffect(Unit) { vm.loadHospital() }
    if (scanning) {
        QrScanScreen(
            onText = { text ->
                scanning = false
                card = text
                vm.enrol(text)
            },
            onCancel = { scanning = false },
            onCameraError = {
                scanning = false
                vm.cameraFailed()
            },
        )
        return
    }
    val context = LocalContext.current
    val clipboard = LocalClipboardManager.current
    ScreenColumn {
        Heading(stringResource(R.string.ui_hospital_title))
        Text(stringResource(R.string.ui_hospital_intro), style = MaterialTheme.typography.bodyLarge)
        SecondaryButton(stringResource(R.string.ui_scan_card)) { scanning = true }
        OutlinedTextField(
            value = card,
            onValueChange = { card = it },
            label = { Text(stringResource(R.string.ui_card_label)) },
            minLines = 2,
            modifier = Modifier.fillMaxWidth(),
        )
        SecondaryButton(stringResource(R.string.ui_add_hospital), enabled = card.isNotBlank()) { vm.enrol(card) }
        page.message?.let { message ->
            val polite = Modifier.semantics { liveRegion = LiveRegionMode.Polite }
            Text(message, style = MaterialTheme.typography.bodyLarge, modifier = polite)
        }
        SubHeading(stringResource(R.string.ui_hospitals_on_phone))
        if (page.hospitals.isEmpty()) {
            Text(stringResource(R.string.ui_no_hospitals))
        } else {
            page.hospitals.forEach { Text(it.name, style = MaterialTheme.typography.bodyLarge) }
        }
        SubHeading(stringResource(R.string.ui_device_title))
        Text(stringResource(R.string.ui_device_explain), style = MaterialTheme.typography.bodyLarge)
        page.deviceKey?.let { key ->
            val idLine = stringResource(R.string.ui_device_id, key.deviceId)
            val keyLine = stringResource(R.string.ui_device_public_key, key.publicKey)
            SelectionContainer {
                Column {
                    Text(idLine, fontFamily = FontFamily.Monospace)
                    Text(keyLine, fontFamily = FontFamily.Monospace)
                }
            }
            SecondaryButton(stringResource(R.string.ui_copy)) { clipboard.setText(AnnotatedString("$idLine\n$keyLine")) }
            val shareTitle = stringResource(R.string.ui_share)
            SecondaryButton(shareTitle) {
                val send = Intent(Intent.ACTION_SEND).setType("text/plain").putExtra(Intent.EXTRA_TEXT, "$idLine\n$keyLine")
                context.startActivity(Intent.createChooser(send, shareTitle))
            }
        }
        SubHeading(stringResource(R.string.ui_language_label))
        LanguageChoice(language, vm::changeLanguage)
        PrimaryButton(stringResource(R.string.ui_done), onClick = onDone)
    }
}

/** The app's languages, each in its own name; [onChoose] switches the screens at once. */
@Composable
private fun LanguageChoice(language: String, onChoose: (String) -> Unit) {
    Column(Modifier.selectableGroup()) {
        LANGUAGES.forEach { lang ->
            RadioRow(selected = lang.tag == language, onClick = { onChoose(lang.tag) }) {
                Text(lang.name, style = MaterialTheme.typography.bodyLarge)
            }
        }
    }
}

/** The camera pointed at the hospital's QR code; the first code read is handed over. */
@Composable
private fun QrScanScreen(onText: (String) -> Unit, onCancel: () -> Unit, onCameraError: () -> Unit) {
    WithCameraPermission {
        val context = LocalContext.current
        val owner = LocalLifecycleOwner.current
        val view = remember { PreviewView(context) }
        val scanner = remember { QrScanner(context.applicationContext, onText) }
        DisposableEffect(owner) {
            scanner.bind(owner, view, onCameraError)
            onDispose { scanner.close() }
        }
        val description = stringResource(R.string.ui_scan_title)
        Column(Modifier.fillMaxSize()) {
            Text(description, style = MaterialTheme.typography.titleMedium, modifier = Modifier.padding(16.dp))
            Box(Modifier.fillMaxWidth().weight(1f)) {
                AndroidView({ view }, Modifier.fillMaxSize().semantics { contentDescription = description })
            }
            Box(Modifier.padding(16.dp)) { SecondaryButton(stringResource(R.string.ui_cancel), onClick = onCancel) }
        }
    }
}
