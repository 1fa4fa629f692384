//! `hemalens`: the command line over hemalens-core. Thin: parsing, printing,
//! exit codes. The contract (JSON shapes, exit codes) is documented in README.md.
mod analyze;
mod bench;
mod classify;
mod models;
mod outbox;
mod output;
mod quiet;
mod session;
mod share;
mod site;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(name = "hemalens", version, about = "Offline blood-smear screening")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Analyse eyepiece photos: field of view, quality gate, white cells, screening.
    Analyze(analyze::Args),
    /// Classify each image as a whole with one model pack.
    Classify(classify::Args),
    /// List the embedded model packs.
    Models(models::Args),
    /// Print speed and memory figures, each against a baseline measured in the same run.
    Bench(bench::Args),
    /// Screening sessions in the encrypted records store: start, add, show, close, list, review, override, export.
    Session(session::Args),
    /// Site calibration: learn this microscope, camera and stain from its own normal slides and reviewed cells; list, show, roll back.
    Site(site::Args),
    /// Share a closed session: the report (PDF/HTML), the FHIR R4 Bundle, one SMS.
    Share(share::Args),
    /// This device's signing key (show it to the hospital to enrol the device).
    Device(outbox::DeviceArgs),
    /// The hospitals this device shares with: add, list.
    Hospital(outbox::HospitalArgs),
    /// Sealed bundles waiting for a hospital: queue, list, send (resumable), retry.
    Outbox(outbox::OutboxArgs),
}

/// Exit codes: 0 every input succeeded, 1 some input failed, 2 usage or model error.
pub(crate) const EXIT_INPUT_FAILED: u8 = 1;
pub(crate) const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    keep_freed_memory();
    // A panic must never print patient data or a backtrace at a health worker.
    std::panic::set_hook(Box::new(|_| eprintln!("hemalens: internal error")));
    debug_log();
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Analyze(a) => analyze::run(a),
        Command::Classify(a) => classify::run(a),
        Command::Models(a) => models::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Session(a) => session::run(a),
        Command::Site(a) => site::run(a),
        Command::Share(a) => share::run(a),
        Command::Device(a) => outbox::run_device(a),
        Command::Hospital(a) => outbox::run_hospital(a),
        Command::Outbox(a) => outbox::run_outbox(a),
    };
    bench::report_peak_memory();
    ExitCode::from(code)
}

/// `HEMALENS_DEBUG=1`: each photo's quality-gate measures on stderr, one JSON
/// line each (the core logs them at debug level; numbers only, never names).
fn debug_log() {
    if std::env::var_os("HEMALENS_DEBUG").is_some() {
        use std::io::Write;
        env_logger::Builder::new()
            .filter_module(hemalens_core::field::GATE_LOG, log::LevelFilter::Debug)
            .format(|buf, record| writeln!(buf, "{}", record.args()))
            .init();
    }
}

/// Each photo's DCT coefficients take tens of megabytes for a few milliseconds.
/// glibc hands buffers that large back to the kernel on free, and the next
/// photo then pays a page fault for every 4 KiB of them (measured: 12 ms of a
/// 12 MP photo's 27 ms decode). Keep them in the process for reuse instead.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
    }
}

pub(crate) fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}
