// Times Screener.analyze through the Kotlin bindings (see scripts/bench_bindings.py):
// each photo is analysed twice in turn, timed around the call here ("call")
// and inside the library ("rust"), in the same process.
import org.hemalens.*
import java.io.File
import java.nio.ByteBuffer
import java.nio.file.Files

fun main(args: Array<String>) {
    val rounds = args[0].toInt()
    val photos = args.drop(1).map { File(it).readBytes() }
    // Photos cross as direct ByteBuffers, as CameraX hands a JPEG over
    // (ImageProxy.planes[0].buffer); made once here. What copying a ByteArray
    // into one costs is timed apart ("copy").
    fun direct(b: ByteArray): ByteBuffer = ByteBuffer.allocateDirect(b.size).put(b).flip()
    val buffers = photos.map { direct(it) }
    val dir = Files.createTempDirectory("hemalens-bench").toFile()
    val s = Screener.open(File(dir, "store").path, generateKey(), ScreenerConfig(threads = 2u, packDir = null))
    // Warm-up, as in the other languages: three passes.
    repeat(3) { buffers.forEach { s.analyze(it) } }
    fun call(p: ByteBuffer) {
        val t = System.nanoTime()
        s.analyze(p)
        println("call ${"%.4f".format((System.nanoTime() - t) / 1e6)}")
    }
    repeat(rounds) { r ->
        buffers.forEachIndexed { i, p ->
            // Which of the two goes first alternates: the second of a pair finds the photo's data warm.
            if ((r + i) % 2 == 1) {
                println("rust ${"%.4f".format(s.analyzeTimedMs(p))}")
                call(p)
            } else {
                call(p)
                println("rust ${"%.4f".format(s.analyzeTimedMs(p))}")
            }
            var t = System.nanoTime()
            s.benchCrossing(p)
            println("cross ${"%.4f".format((System.nanoTime() - t) / 1e6)}")
            t = System.nanoTime()
            direct(photos[i])
            println("copy ${"%.4f".format((System.nanoTime() - t) / 1e6)}")
        }
    }
    s.shutdown()
    dir.deleteRecursively()
}
