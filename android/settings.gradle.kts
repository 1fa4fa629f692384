// The Hemalens Android shell: `:logic` (plain Kotlin/JVM, no Android imports:
// android/logic plus the generated UniFFI bindings and the JNI preview class)
// and `:app` (Jetpack Compose + CameraX). Not built on the project's CI
// machine (no Android SDK, no Google Maven): see android/README.md.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "hemalens"

include(":logic", ":app")
// android/logic holds only sources (its owner keeps build files out of it);
// the module's build script lives beside it and points at them.
project(":logic").projectDir = file("logic-gradle")
