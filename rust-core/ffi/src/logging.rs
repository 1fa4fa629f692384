//! Where the core's log lines go: the `log` facade, wired to whatever the host
//! hands in (a [`LogSink`]: Timber or logcat on Android, `os_log` on iOS,
//! Python's `logging`), or straight to logcat on Android. The core logs
//! numbers and stage names only, never patient data.
use std::sync::{Arc, OnceLock, RwLock};

/// How much to log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl From<LogLevel> for log::LevelFilter {
    fn from(l: LogLevel) -> Self {
        match l {
            LogLevel::Error => Self::Error,
            LogLevel::Warn => Self::Warn,
            LogLevel::Info => Self::Info,
            LogLevel::Debug => Self::Debug,
            LogLevel::Trace => Self::Trace,
        }
    }
}

fn level_of(l: log::Level) -> LogLevel {
    match l {
        log::Level::Error => LogLevel::Error,
        log::Level::Warn => LogLevel::Warn,
        log::Level::Info => LogLevel::Info,
        log::Level::Debug => LogLevel::Debug,
        log::Level::Trace => LogLevel::Trace,
    }
}

/// The host's logger. Called on whatever thread logs: keep it quick.
#[uniffi::export(with_foreign)]
pub trait LogSink: Send + Sync {
    fn log(&self, level: LogLevel, target: String, message: String);
}

/// The one `log::Log` of the process (the facade allows one); it forwards to
/// the sink set last.
struct Forward {
    sink: RwLock<Option<Arc<dyn LogSink>>>,
}

impl log::Log for Forward {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::max_level()
    }

    fn log(&self, r: &log::Record<'_>) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let sink = self.sink.read().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(s) = sink {
            // A sink that throws must not take the analysis down with it.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                s.log(level_of(r.level()), r.target().to_string(), r.args().to_string())
            }));
        }
    }

    fn flush(&self) {}
}

fn forward() -> &'static Forward {
    static F: OnceLock<Forward> = OnceLock::new();
    F.get_or_init(|| Forward { sink: RwLock::new(None) })
}

/// Sends the library's log lines up to `max_level` to `sink` (replacing any
/// sink set before). Another logger already installed in the process (by
/// another library) keeps the facade; then this answers `InvalidState`.
#[uniffi::export]
pub fn set_log_sink(sink: Arc<dyn LogSink>, max_level: LogLevel) -> Result<(), crate::HemalensError> {
    let f = forward();
    *f.sink.write().unwrap_or_else(|p| p.into_inner()) = Some(sink);
    install(f)?;
    log::set_max_level(max_level.into());
    Ok(())
}

fn install(f: &'static Forward) -> Result<(), crate::HemalensError> {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    let ok = *INSTALLED.get_or_init(|| log::set_logger(f).is_ok());
    if ok {
        Ok(())
    } else {
        Err(crate::HemalensError::InvalidState {
            detail: "another logger is already installed in this process".into(),
        })
    }
}

/// Android: log lines go to logcat under the tag `hemalens`.
#[cfg(target_os = "android")]
#[uniffi::export]
pub fn log_to_logcat(max_level: LogLevel) {
    android_logger::init_once(
        android_logger::Config::default().with_max_level(max_level.into()).with_tag("hemalens"),
    );
}
