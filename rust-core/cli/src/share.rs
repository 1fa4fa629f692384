//! `hemalens share ...`: what leaves the phone for one closed session: the
//! report (PDF or HTML), the FHIR R4 Bundle, the one SMS.
use crate::quiet::quietly;
use crate::session::{screener, screener_err, Models, StoreArgs};
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    models: Models,
    #[command(subcommand)]
    command: Sub,
}

#[derive(clap::Subcommand, Debug)]
enum Sub {
    /// The report people read: PDF (or `--html`), with overlays and the cell gallery.
    Report {
        session: i64,
        /// Where to write it.
        #[arg(short, long)]
        out: PathBuf,
        /// One self-contained HTML page instead of a PDF.
        #[arg(long)]
        html: bool,
    },
    /// The session as a FHIR R4 Bundle (JSON), results only (`--overlays`: with each field's annotated overlay as a Media).
    Fhir {
        session: i64,
        /// Add each accepted field's annotated overlay (a JPEG) as a FHIR Media.
        #[arg(long)]
        overlays: bool,
        /// Write to a file instead of stdout.
        #[arg(short, long)]
        out: Option<PathBuf>,
    },
    /// The session as one SMS (at most 160 GSM-7 characters, with a check code).
    Sms { session: i64 },
}

fn fail(e: impl std::fmt::Display) -> u8 {
    eprintln!("hemalens share: {e}");
    crate::EXIT_USAGE
}

fn write_out(out: Option<&PathBuf>, bytes: &[u8]) -> u8 {
    let r = match out {
        Some(p) => std::fs::write(p, bytes),
        None => std::io::stdout().write_all(bytes),
    };
    match r {
        Ok(()) => 0,
        Err(e) => fail(format_args!("cannot write the output: {}", e.kind())),
    }
}

pub fn run(args: Args) -> u8 {
    let (store, _user) = match args.store.open() {
        Ok(s) => s,
        Err(code) => return code,
    };
    let s = match screener(store, &args.models, 1) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let code = run_on(&s, args.command);
    quietly(|| drop(s));
    code
}

fn run_on(s: &hemalens_screener::Screener, command: Sub) -> u8 {
    match command {
        Sub::Report { session, out, html } => {
            let bytes =
                if html { s.report_html(session).map(String::into_bytes) } else { s.report_pdf(session) };
            match bytes {
                Ok(b) => write_out(Some(&out), &b),
                Err(e) => screener_err(e),
            }
        }
        Sub::Fhir { session, out, overlays } => {
            match if overlays { s.fhir_bundle_with_overlays(session) } else { s.fhir_bundle(session) } {
                Ok(v) => {
                    let mut text = serde_json::to_string_pretty(&v).unwrap_or_default();
                    text.push('\n');
                    write_out(out.as_ref(), text.as_bytes())
                }
                Err(e) => screener_err(e),
            }
        }
        Sub::Sms { session } => match s.sms(session) {
            Ok(text) => write_out(None, format!("{text}\n").as_bytes()),
            Err(e) => screener_err(e),
        },
    }
}
