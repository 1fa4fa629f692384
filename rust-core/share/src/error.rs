use std::fmt;

/// What can go wrong while turning a session into something that leaves the
/// phone. `Display` never names a patient, a photo or a key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The session is still open: only a closed session is shared.
    #[error("the session is still open; close it before sharing")]
    SessionOpen,
    /// The exported record does not have the shape this version reads.
    #[error("the session record cannot be read: {0}")]
    Record(String),
    /// A photo of the session could not be read or decoded for the report.
    #[error("a photo of the session could not be used: {0}")]
    Photo(String),
    /// The report could not be written.
    #[error("the report could not be written: {0}")]
    Report(String),
    /// A bundle could not be made (a bad hospital key, too large, encryption failed).
    #[error("the bundle could not be made: {0}")]
    Bundle(String),
    /// A request out of range (a picture size, a field the session lacks).
    #[error("invalid request: {0}")]
    Invalid(String),
}

impl Error {
    pub fn kind(&self) -> Kind {
        Kind(match self {
            Self::SessionOpen => "session_open",
            Self::Record(_) => "bad_record",
            Self::Photo(_) => "bad_photo",
            Self::Report(_) => "report",
            Self::Bundle(_) => "bundle",
            Self::Invalid(_) => "invalid_argument",
        })
    }
}

/// A stable, machine-readable error name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind(pub &'static str);

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}
