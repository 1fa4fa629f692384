use std::fmt;

/// Everything that can go wrong in the core. `Display` never includes patient
/// data, file names or pixel values: only what kind of thing failed and why.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("cannot read input: {0}")]
    Io(#[from] std::io::Error),
    /// A photo that cannot be read (`hemalens-photo`'s error: its kind is
    /// this layer's kind of the same name).
    #[error(transparent)]
    Photo(#[from] hemalens_photo::Error),
    #[error("model pack manifest is invalid: {0}")]
    Manifest(String),
    #[error("model pack does not match its manifest: field `{field}`: {problem}")]
    PackMismatch { field: String, problem: String },
    #[error("model pack `{0}` not found")]
    PackNotFound(String),
    /// The engine failed to load or run a model (LiteRT's own text, or ours
    /// for an engine the app provides: [`crate::engine`]).
    #[error("inference engine: {0}")]
    Engine(String),
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("site profile: {0}")]
    Site(String),
}

/// A stable, machine-readable name for each kind of error (used as `error.kind`
/// in JSON output and by the FFI layer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    Io,
    /// A photo that cannot be read: `hemalens-photo`'s kind, named as it names it.
    Photo(hemalens_photo::ErrorKind),
    Manifest,
    PackMismatch,
    PackNotFound,
    Engine,
    InvalidArgument,
    Site,
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Io(_) => ErrorKind::Io,
            // The photo layer's I/O and argument errors are this layer's.
            Self::Photo(p) => match p.kind() {
                hemalens_photo::ErrorKind::Io => ErrorKind::Io,
                hemalens_photo::ErrorKind::InvalidArgument => ErrorKind::InvalidArgument,
                k => ErrorKind::Photo(k),
            },
            Self::Manifest(_) => ErrorKind::Manifest,
            Self::PackMismatch { .. } => ErrorKind::PackMismatch,
            Self::PackNotFound(_) => ErrorKind::PackNotFound,
            Self::Engine(_) => ErrorKind::Engine,
            Self::InvalidArgument(_) => ErrorKind::InvalidArgument,
            Self::Site(_) => ErrorKind::Site,
        }
    }

    pub(crate) fn mismatch(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self::PackMismatch { field: field.into(), problem: problem.into() }
    }
}

impl From<hemalens_litert::Error> for Error {
    fn from(e: hemalens_litert::Error) -> Self {
        Self::Engine(e.to_string())
    }
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Io => "io",
            Self::Photo(p) => p.as_str(),
            Self::Manifest => "manifest",
            Self::PackMismatch => "pack_mismatch",
            Self::PackNotFound => "pack_not_found",
            Self::Engine => "engine",
            Self::InvalidArgument => "invalid_argument",
            Self::Site => "site_profile",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
