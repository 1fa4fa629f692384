//! Makes sure `libLiteRt.so` (LiteRT 2.1.4) is present, checked and next to the binaries.
//!
//! `litert-sys` has already run (we depend on it through `links = "LiteRt"`), and
//! hands us the directory it linked against as `DEP_LITERT_LIB_DIR`. When that is
//! our own `native/` folder and the library is missing, we fetch the pinned PyPI
//! wheel with pip and extract the library. Then we copy it beside the binaries of
//! this profile so the `$ORIGIN` rpath from `.cargo/config.toml` finds it.

use sha2::{Digest, Sha256};
use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const WHEEL: &str = "ai-edge-litert==2.1.4";
const LIB: &str = "libLiteRt.so";
const LIB_SHA256: &str = "c590f1124053ce6d2ceaef6d1174af15f8103a76872059414d18ff2e9cfaf681";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if env::var_os("CARGO_FEATURE_NATIVE").is_none() {
        // No engine in this build (the app brings its interpreter): nothing to fetch.
        return;
    }
    println!("cargo:rerun-if-env-changed=HEMALENS_PYTHON");
    println!("cargo:rerun-if-env-changed=LITERT_LIB_DIR");
    let target = env::var("TARGET").unwrap_or_default();
    if !target.contains("linux") || target.contains("android") {
        // Phone targets bring their own library (see docs/adr/0001-litert.md).
        return;
    }
    if let Err(msg) = run(&target) {
        // A build script's panic is how cargo shows a build failure; the text says what to do.
        #[allow(clippy::panic)]
        {
            panic!("\n\nhemalens-litert: {msg}\n\n");
        }
    }
}

fn run(target: &str) -> Result<(), String> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").map_err(|e| e.to_string())?);
    let own_dir = manifest_dir.join("native");
    let lib_dir = env::var("DEP_LITERT_LIB_DIR").map(PathBuf::from).unwrap_or_else(|_| own_dir.clone());
    let lib = lib_dir.join(LIB);
    println!("cargo:rerun-if-changed={}", lib.display());

    if !lib.is_file() {
        if same_dir(&lib_dir, &own_dir) && target == "x86_64-unknown-linux-gnu" {
            fetch(&own_dir)?;
        } else {
            return Err(format!(
                "LITERT_LIB_DIR={} has no {LIB}. Put LiteRT 2.1.4's {LIB} there \
                 (from the PyPI wheel {WHEEL}), or unset LITERT_LIB_DIR to let the build fetch it.",
                lib_dir.display()
            ));
        }
    }
    if target == "x86_64-unknown-linux-gnu" {
        let got = sha256(&lib)?;
        if got != LIB_SHA256 {
            return Err(format!(
                "{} has sha256 {got}, not the pinned {LIB_SHA256} of {WHEEL}. Newer LiteRT \
                 libraries crash with litert-sys 0.2.1; delete the file to re-fetch, or point \
                 LITERT_LIB_DIR at the 2.1.4 library.",
                lib.display()
            ));
        }
    }
    place_beside_binaries(&lib)?;
    println!("cargo:rustc-env=HEMALENS_LITERT_LIB={}", lib.display());
    Ok(())
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

fn sha256(path: &Path) -> Result<String, String> {
    let bytes = fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

/// Downloads the wheel for a pinned platform and Python version (so any host
/// Python with pip works) and extracts the library with Python's zipfile.
fn fetch(dest: &Path) -> Result<(), String> {
    let python = env::var("HEMALENS_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = PathBuf::from(env::var("OUT_DIR").map_err(|e| e.to_string())?).join("wheel");
    fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let status = Command::new(&python)
        .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
        .args(["--platform", "manylinux_2_27_x86_64", "--python-version", "3.11"])
        .args(["--implementation", "cp", "--disable-pip-version-check", "-q", WHEEL, "-d"])
        .arg(&out)
        .status()
        .map_err(|e| {
            format!(
                "cannot run `{python} -m pip` ({e}) to fetch {WHEEL}. Install Python 3 with pip \
                 (or set HEMALENS_PYTHON), or set LITERT_LIB_DIR to a folder holding {LIB} \
                 from that wheel."
            )
        })?;
    if !status.success() {
        return Err(format!(
            "`{python} -m pip download {WHEEL}` failed ({status}). It needs PyPI; offline, set \
             LITERT_LIB_DIR to a folder holding {LIB} from that wheel."
        ));
    }
    let script = format!(
        "import glob,sys,zipfile\n\
         w=sorted(glob.glob(sys.argv[1]+'/ai_edge_litert-2.1.4-*.whl'))[-1]\n\
         z=zipfile.ZipFile(w)\n\
         open(sys.argv[2]+'/{LIB}.part','wb').write(z.read('ai_edge_litert/{LIB}'))\n"
    );
    let status = Command::new(&python)
        .args(["-c", &script])
        .arg(&out)
        .arg(dest)
        .status()
        .map_err(|e| format!("cannot run {python} to unpack the wheel: {e}"))?;
    if !status.success() {
        return Err(format!("unpacking {LIB} from the {WHEEL} wheel in {} failed", out.display()));
    }
    let part = dest.join(format!("{LIB}.part"));
    let got = sha256(&part)?;
    if got != LIB_SHA256 {
        let _ = fs::remove_file(&part);
        return Err(format!("the downloaded {LIB} has sha256 {got}, expected {LIB_SHA256}"));
    }
    fs::rename(&part, dest.join(LIB)).map_err(|e| format!("cannot place {LIB}: {e}"))
}

/// OUT_DIR is `<target>/<profile>/build/<pkg>-<hash>/out`; binaries live in
/// `<profile>/`, tests and benches in `<profile>/deps/`, examples in `<profile>/examples/`.
fn place_beside_binaries(lib: &Path) -> Result<(), String> {
    let out = PathBuf::from(env::var("OUT_DIR").map_err(|e| e.to_string())?);
    let Some(profile_dir) = out.ancestors().nth(3) else {
        return Ok(());
    };
    for sub in ["", "deps", "examples"] {
        let dir = profile_dir.join(sub);
        fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let dest = dir.join(LIB);
        let fresh = fs::metadata(&dest)
            .and_then(|d| Ok((d.len(), fs::metadata(lib)?.len())))
            .map(|(a, b)| a == b)
            .unwrap_or(false);
        if !fresh {
            let tmp = dir.join(format!("{LIB}.tmp"));
            fs::copy(lib, &tmp).map_err(|e| format!("cannot copy {LIB} to {}: {e}", dir.display()))?;
            fs::rename(&tmp, &dest).map_err(|e| format!("cannot place {LIB}: {e}"))?;
        }
    }
    Ok(())
}
