// :app, the Compose + CameraX shell. Thin: every decision, measurement and
// record is the core's (libhemalens_ffi.so through :logic); every non-drawing
// piece of shell logic is in :logic (android/logic). Not built on the
// project's CI machine: see android/README.md for the commands.
import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    alias(libs.plugins.android.application)
    alias(libs.plugins.kotlin.android)
    alias(libs.plugins.kotlin.compose)
}

android {
    namespace = "org.hemalens.app"
    compileSdk = 35
    // The NDK that cargo-ndk builds libhemalens_ffi.so with (AGP 8.7's default); AGP strips the libraries with it.
    ndkVersion = "27.0.12077973"

    defaultConfig {
        applicationId = "org.hemalens.app"
        minSdk = 26
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
        ndk {
            // The ABIs cargo-ndk builds libhemalens_ffi.so for; LiteRT's and JNA's AARs are cut to the same.
            abiFilters += listOf("arm64-v8a", "x86_64")
        }
    }

    sourceSets {
        getByName("main") {
            // libhemalens_ffi.so per ABI, built by cargo-ndk (android/README.md); not committed.
            jniLibs.srcDirs("src/main/jniLibs")
        }
    }

    buildTypes {
        release {
            isMinifyEnabled = true
            // Off: AndroidStrings finds the catalogue's strings by name (Resources.getIdentifier).
            isShrinkResources = false
            proguardFiles(getDefaultProguardFile("proguard-android-optimize.txt"), "proguard-rules.pro")
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    buildFeatures {
        compose = true
        buildConfig = true
    }

    packaging {
        jniLibs {
            // Native libraries stay uncompressed and page-aligned in the APK (16 KB pages on Android 15+).
            useLegacyPackaging = false
        }
    }

    lint {
        abortOnError = true
        checkDependencies = true
    }
}

kotlin {
    compilerOptions {
        jvmTarget.set(JvmTarget.JVM_17)
    }
}

dependencies {
    implementation(project(":logic"))
    implementation(variantOf(libs.jna) { artifactType("aar") })
    implementation(libs.litert)
    implementation(libs.zxing.core)

    implementation(libs.androidx.core.ktx)
    implementation(libs.androidx.activity.compose)
    implementation(libs.androidx.lifecycle.runtime.ktx)
    implementation(libs.androidx.lifecycle.runtime.compose)
    implementation(libs.androidx.lifecycle.viewmodel.compose)
    implementation(libs.androidx.navigation.compose)
    implementation(libs.kotlinx.coroutines.android)
    implementation(platform(libs.androidx.compose.bom))
    implementation(libs.androidx.compose.ui)
    implementation(libs.androidx.compose.ui.graphics)
    implementation(libs.androidx.compose.foundation)
    implementation(libs.androidx.compose.material3)
    implementation(libs.androidx.camera.core)
    implementation(libs.androidx.camera.camera2)
    implementation(libs.androidx.camera.lifecycle)
    implementation(libs.androidx.camera.view)
    implementation(libs.androidx.work.runtime.ktx)
}

// libLiteRt.so per ABI out of the LiteRT AAR, for cargo-ndk to link the core against
// (LITERT_LIB_DIR=android/app/build/litert/jni/<abi>). The APK gets the same file from
// the AAR dependency above; do not copy it into src/main/jniLibs as well.
val liteRtAar: Configuration by configurations.creating {
    isCanBeConsumed = false
    isTransitive = false
}

dependencies {
    liteRtAar(variantOf(libs.litert) { artifactType("aar") })
}

tasks.register<Copy>("extractLiteRtJni") {
    description = "Unpacks jni/<abi>/libLiteRt.so from the LiteRT AAR into build/litert."
    group = "build setup"
    from({ liteRtAar.resolve().map { zipTree(it) } }) {
        include("jni/arm64-v8a/**", "jni/x86_64/**")
    }
    into(layout.buildDirectory.dir("litert"))
}
