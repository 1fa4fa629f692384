package org.hemalens.app.shell

import android.os.Bundle
import android.view.KeyEvent
import androidx.activity.ComponentActivity
import androidx.activity.compose.setContent
import androidx.activity.enableEdgeToEdge
import androidx.activity.viewModels
import org.hemalens.app.Shutter
import org.hemalens.app.shell.ui.HemalensApp

/** The one activity: draws the Compose screens; the volume keys are a shutter while capturing. */
class MainActivity : ComponentActivity() {
    private val vm: AppViewModel by viewModels()

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        enableEdgeToEdge()
        setContent { HemalensApp(vm) }
    }

    override fun onKeyDown(keyCode: Int, event: KeyEvent): Boolean {
        val volume = keyCode == KeyEvent.KEYCODE_VOLUME_UP || keyCode == KeyEvent.KEYCODE_VOLUME_DOWN
        // While capturing, a volume key is the shutter (a held key's repeats take no photo) and leaves the volume alone.
        if (volume && vm.pressShutter(Shutter.Source.VOLUME_KEY, event.repeatCount)) return true
        return super.onKeyDown(keyCode, event)
    }
}
