// The small harness the desktop-JVM Kotlin tests share (tests/kotlin and
// android/logic): named checks counted and reported, assertions, and the real
// BCCD photos from ../shared/data (HEMALENS_DATA overrides).
package org.hemalens.testing

import java.io.File
import java.nio.ByteBuffer

var passed = 0
var failed = 0

fun check(name: String, body: () -> Unit) {
    try {
        body()
        passed++
        println("ok   $name")
    } catch (e: Throwable) {
        failed++
        println("FAIL $name: $e")
    }
}

fun assertTrue(cond: Boolean, what: String) {
    if (!cond) throw AssertionError(what)
}

fun <T> assertEq(actual: T, expected: T, what: String) {
    if (actual != expected) throw AssertionError("$what: got <$actual>, want <$expected>")
}

inline fun <reified E : Throwable> assertThrows(what: String, body: () -> Unit): E {
    try {
        body()
    } catch (e: Throwable) {
        if (e is E) return e
        throw AssertionError("$what: expected ${E::class.simpleName}, got $e")
    }
    throw AssertionError("$what: expected ${E::class.simpleName}, nothing thrown")
}

/** The first `n` BCCD field photos of a split (`train`, `val`, `test`). */
fun bccd(split: String, n: Int): List<ByteArray> {
    val data = File(System.getenv("HEMALENS_DATA") ?: "../shared/data", "bccd_fields")
    return File(data, "labels.csv").readLines().drop(1)
        .map { it.split(",") }
        .filter { it[3] == split }
        .take(n)
        .map { File(data, it[0]).readBytes() }
}

/** Photos cross as direct ByteBuffers, read in place (a CameraX JPEG plane already is one). */
fun direct(b: ByteArray): ByteBuffer = ByteBuffer.allocateDirect(b.size).put(b).flip()

/** Prints the tally and exits 1 when a check failed. */
fun finish() {
    println("$passed passed, $failed failed")
    if (failed > 0) kotlin.system.exitProcess(1)
}
