package org.hemalens.app.shell.ui

import androidx.camera.view.PreviewView
import androidx.compose.foundation.Canvas
import androidx.compose.foundation.background
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Box
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.height
import androidx.compose.foundation.layout.heightIn
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.Button
import androidx.compose.material3.LinearProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.DisposableEffect
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.remember
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.geometry.Offset
import androidx.compose.ui.graphics.Color
import androidx.compose.ui.graphics.PathEffect
import androidx.compose.ui.graphics.drawscope.Stroke
import androidx.compose.ui.layout.onSizeChanged
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.semantics.LiveRegionMode
import androidx.compose.ui.semantics.clearAndSetSemantics
import androidx.compose.ui.semantics.contentDescription
import androidx.compose.ui.semantics.liveRegion
import androidx.compose.ui.semantics.semantics
import androidx.compose.ui.unit.dp
import androidx.compose.ui.viewinterop.AndroidView
import androidx.lifecycle.compose.LocalLifecycleOwner
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import org.hemalens.app.FlowState
import org.hemalens.app.GuideOverlay
import org.hemalens.app.R
import org.hemalens.app.Shutter
import org.hemalens.app.ViewPort
import org.hemalens.app.shell.AppViewModel
import org.hemalens.app.shell.camera.CaptureController

/**
 * The camera at the eyepiece: the live guidance over the preview, a shutter
 * on screen (and on the volume keys, MainActivity), each photo's verdict and
 * the progress to the cell target.
 */
@Composable
fun CaptureScreen(vm: AppViewModel, state: FlowState.Capturing) {
    WithCameraPermission {
        val context = LocalContext.current
        val owner = LocalLifecycleOwner.current
        val overlay by vm.overlay.collectAsStateWithLifecycle()
        val busy by vm.busy.collectAsStateWithLifecycle()
        val view = remember { PreviewView(context).apply { scaleType = PreviewView.ScaleType.FILL_CENTER } }
        val camera = remember { CaptureController(context.applicationContext, vm.strings, vm::onOverlay, vm::cameraFailed) }
        DisposableEffect(owner) {
            camera.bind(owner, view)
            onDispose {
                camera.close()
                vm.onOverlay(null)
            }
        }
        LaunchedEffect(camera) {
            vm.shutterRequests.collect { camera.takePhoto(onPhoto = vm::addPhoto, onFailure = vm::photoFailed) }
        }
        val previewWords = stringResource(R.string.ui_preview_description)
        Column(Modifier.fillMaxSize()) {
            Text(
                stringResource(R.string.ui_capture_title, state.patient),
                style = MaterialTheme.typography.titleMedium,
                modifier = Modifier.padding(horizontal = 16.dp, vertical = 8.dp),
            )
            Box(Modifier.fillMaxWidth().weight(1f).onSizeChanged { camera.viewPort = ViewPort(it.width, it.height) }) {
                AndroidView({ view }, Modifier.fillMaxSize().semantics { contentDescription = previewWords })
                GuideOverlayView(overlay, Modifier.fillMaxSize())
            }
            Column(Modifier.padding(16.dp), verticalArrangement = Arrangement.spacedBy(6.dp)) {
                val p = state.progress
                LinearProgressIndicator(
                    progress = { p.fraction },
                    modifier = Modifier.fillMaxWidth().height(10.dp).semantics { contentDescription = p.cellsText },
                )
                Text(p.cellsText, style = MaterialTheme.typography.titleMedium)
                Text(p.fieldsText, style = MaterialTheme.typography.bodyMedium)
                Text(p.nextStep, style = MaterialTheme.typography.bodyLarge)
                // The latest photo's verdict, said when it arrives.
                state.verdicts.lastOrNull()?.let { VerdictLine(it, Modifier.semantics { liveRegion = LiveRegionMode.Polite }) }
                Row(horizontalArrangement = Arrangement.spacedBy(12.dp)) {
                    Button(
                        onClick = { vm.pressShutter(Shutter.Source.SCREEN) },
                        enabled = busy == 0,
                        modifier = Modifier.weight(1f).heightIn(min = 64.dp),
                    ) {
                        Text(stringResource(R.string.ui_shutter), style = MaterialTheme.typography.titleMedium)
                    }
                    OutlinedButton(onClick = vm::finish, modifier = Modifier.weight(1f).heightIn(min = 64.dp)) {
                        Text(stringResource(R.string.ui_finish), style = MaterialTheme.typography.titleMedium)
                    }
                }
                Text(stringResource(R.string.ui_shutter_hint), style = MaterialTheme.typography.bodySmall)
            }
        }
    }
}

/**
 * What the guide says about the live frame: the eyepiece circle (solid when
 * ready, dashed when not), the hint sentence (a polite live region: TalkBack
 * says it when it changes, which is when [GuideOverlay.announcement] is set)
 * and the checklist, each line in words with a mark.
 */
@Composable
fun GuideOverlayView(overlay: GuideOverlay?, modifier: Modifier = Modifier) {
    Box(modifier) {
        val ready = overlay?.ready == true
        overlay?.circle?.let { c ->
            Canvas(Modifier.fillMaxSize().clearAndSetSemantics { }) {
                val width = if (ready) 6.dp.toPx() else 3.dp.toPx()
                val dash = if (ready) null else PathEffect.dashPathEffect(floatArrayOf(14.dp.toPx(), 10.dp.toPx()))
                drawCircle(
                    color = if (ready) GuideReady else GuideNotReady,
                    radius = c.r.toFloat(),
                    center = Offset(c.cx.toFloat(), c.cy.toFloat()),
                    style = Stroke(width = width, pathEffect = dash),
                )
            }
        }
        if (overlay != null) {
            Column(
                Modifier.align(Alignment.BottomStart).fillMaxWidth().background(Color.Black.copy(alpha = 0.65f)).padding(12.dp),
                verticalArrangement = Arrangement.spacedBy(4.dp),
            ) {
                Text(
                    overlay.hint,
                    color = Color.White,
                    style = MaterialTheme.typography.titleMedium,
                    modifier = Modifier.semantics { liveRegion = LiveRegionMode.Polite },
                )
                overlay.checks.forEach { check ->
                    Row(Modifier.semantics(mergeDescendants = true) { }) {
                        Text(
                            if (check.ok) "✓" else "✗",
                            color = if (check.ok) GuideReady else GuideNotReady,
                            style = MaterialTheme.typography.bodyLarge,
                            modifier = Modifier.padding(end = 8.dp).clearAndSetSemantics { },
                        )
                        Text(check.text, color = Color.White, style = MaterialTheme.typography.bodyLarge)
                    }
                }
            }
        }
    }
}
