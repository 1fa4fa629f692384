package org.hemalens.app.shell.ui

import android.content.ActivityNotFoundException
import android.content.ClipData
import android.content.Context
import android.content.Intent
import android.net.Uri
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.text.selection.SelectionContainer
import androidx.compose.material3.LinearProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.DisposableEffect
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.semantics.clearAndSetSemantics
import androidx.compose.ui.text.font.FontFamily
import androidx.core.content.FileProvider
import org.hemalens.app.FlowState
import org.hemalens.app.R
import org.hemalens.app.shell.AppViewModel
import java.io.File

/**
 * Share a finished screening: the report PDF and the FHIR file through the
 * system share sheet, the one-SMS summary through the SMS app, and the case's
 * outbox rows when it was sent to a hospital.
 */
@Composable
fun ShareScreen(vm: AppViewModel, state: FlowState.Sharing) {
    val context = LocalContext.current
    // The files are patient data: gone when the share screen is left (and at the next start, if the app was killed).
    DisposableEffect(state.sessionId) { onDispose { ShareFiles.clear(context) } }
    val noApp = stringResource(R.string.ui_no_app)
    val pdfTitle = stringResource(R.string.ui_share_pdf)
    val fhirTitle = stringResource(R.string.ui_share_fhir)
    val open = { intent: Intent ->
        try {
            context.startActivity(intent)
        } catch (e: ActivityNotFoundException) {
            vm.showProblem(noApp)
        }
    }
    ScreenColumn {
        Heading(stringResource(R.string.ui_share_title, state.patient))
        PrimaryButton(pdfTitle) {
            open(ShareFiles.chooser(context, "hemalens-${state.sessionId}.pdf", "application/pdf", state.pdf, pdfTitle))
        }
        SecondaryButton(fhirTitle) {
            open(
                ShareFiles.chooser(
                    context,
                    "hemalens-${state.sessionId}.fhir.json",
                    "application/fhir+json",
                    state.fhirJson.toByteArray(),
                    fhirTitle,
                ),
            )
        }
        SecondaryButton(stringResource(R.string.ui_send_sms)) {
            open(Intent(Intent.ACTION_SENDTO, Uri.parse("smsto:")).putExtra("sms_body", state.sms))
        }
        SubHeading(stringResource(R.string.ui_sms_text))
        SelectionContainer { Text(state.sms, fontFamily = FontFamily.Monospace) }
        if (state.outbox.isNotEmpty()) {
            SubHeading(stringResource(R.string.ui_outbox))
            state.outbox.forEach { row ->
                Text(stringResource(R.string.ui_outbox_row, row.kind, row.text), style = MaterialTheme.typography.bodyLarge)
                row.percent?.let { pct ->
                    // The row's words already say the percentage.
                    LinearProgressIndicator(progress = { pct / 100f }, modifier = Modifier.fillMaxWidth().clearAndSetSemantics { })
                }
            }
            SecondaryButton(stringResource(R.string.ui_send_now), onClick = vm::sendNow)
            SecondaryButton(stringResource(R.string.ui_refresh), onClick = vm::refreshOutbox)
        }
        PrimaryButton(stringResource(R.string.ui_new_screening), onClick = vm::newScreening)
    }
}

/** Files handed to another app through the FileProvider (`res/xml/file_paths.xml`: cacheDir/share). */
object ShareFiles {
    private const val DIR = "share"

    /** The system share sheet for [bytes] as a file [name]; the receiving app may read it until [clear]. */
    fun chooser(context: Context, name: String, mime: String, bytes: ByteArray, title: String): Intent {
        val dir = File(context.cacheDir, DIR).apply { mkdirs() }
        val file = File(dir, name).apply { writeBytes(bytes) }
        val uri = FileProvider.getUriForFile(context, "${context.packageName}.files", file)
        val send = Intent(Intent.ACTION_SEND)
            .setType(mime)
            .putExtra(Intent.EXTRA_STREAM, uri)
            .addFlags(Intent.FLAG_GRANT_READ_URI_PERMISSION)
        send.clipData = ClipData.newRawUri(name, uri)
        return Intent.createChooser(send, title)
    }

    fun clear(context: Context) {
        File(context.cacheDir, DIR).deleteRecursively()
    }
}
