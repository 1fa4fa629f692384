// :logic, the shell's plain-Kotlin module (no Android imports), built from
// android/logic/src plus the generated UniFFI bindings (rust-core/ffi/bindings/kotlin)
// and the JNI preview class (rust-core/ffi/java). The same sources that
// android/logic/run-tests.sh compiles with kotlinc on the CI machine.
import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    alias(libs.plugins.kotlin.jvm)
}

val repo: File = rootDir.parentFile

java {
    sourceCompatibility = JavaVersion.VERSION_17
    targetCompatibility = JavaVersion.VERSION_17
}

kotlin {
    compilerOptions {
        jvmTarget.set(JvmTarget.JVM_17)
    }
}

sourceSets {
    main {
        kotlin.srcDirs(repo.resolve("android/logic/src/main/kotlin"), repo.resolve("rust-core/ffi/bindings/kotlin"))
        java.srcDirs(repo.resolve("rust-core/ffi/java"))
    }
    test {
        kotlin.srcDirs(repo.resolve("android/logic/src/test/kotlin"), repo.resolve("tests/kotlin/harness"))
    }
}

dependencies {
    // The app brings JNA as the AAR (with Android's libjnidispatch.so); the tests use the jar.
    compileOnly(libs.jna)
    implementation(libs.gson)
    testImplementation(libs.jna)
}

// The flow test is a plain main() printing "N passed, M failed" (exit 1 on a failure),
// run on the desktop JVM against the core built for this host:
// `cargo build --release -p hemalens-ffi` gives target/release/libhemalens_ffi.so.
val flowTest by tasks.registering(JavaExec::class) {
    description = "Runs android/logic's flow and preview checks against target/release/libhemalens_ffi.so."
    group = "verification"
    classpath = sourceSets["test"].runtimeClasspath
    mainClass.set("org.hemalens.app.FlowTestKt")
    workingDir = repo
    val lib = repo.resolve("target/release")
    systemProperty("jna.library.path", lib.path)
    systemProperty("hemalens.ffi.library", lib.resolve("libhemalens_ffi.so").path)
    environment("ANDROID_RES", repo.resolve("android/app/src/main/res").path)
    environment("HEMALENS_ROOT", repo.path)
    environment("HEMALENS_DATA", System.getenv("HEMALENS_DATA") ?: repo.resolve("../shared/data").path)
}

tasks.test {
    dependsOn(flowTest)
}
