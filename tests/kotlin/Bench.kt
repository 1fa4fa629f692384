// Times Screener.analyze through the Kotlin bindings (see scripts/bench_bindings.py).
import org.hemalens.*
import java.io.File
import java.nio.file.Files

fun main(args: Array<String>) {
    val rounds = args[0].toInt()
    val photos = args.drop(1).map { File(it).readBytes() }
    val dir = Files.createTempDirectory("hemalens-bench").toFile()
    val s = Screener.open(File(dir, "store").path, generateKey(), ScreenerConfig(threads = 2u, packDir = null))
    // Warm-up, as in the other languages: three passes.
    repeat(3) { photos.forEach { s.analyze(it) } }
    repeat(rounds) {
        photos.forEachIndexed { i, p ->
            val t = System.nanoTime()
            s.analyze(p)
            println("$i ${"%.4f".format((System.nanoTime() - t) / 1e6)}")
        }
    }
    s.shutdown()
    dir.deleteRecursively()
}
