use std::fmt;

/// Everything that can go wrong in the records store. `Display` never names a
/// patient, a file, a label or a key: only the kind of failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The key does not open this store (or the file is not a store at all).
    #[error("the key does not open this records store (wrong key, or not a records store)")]
    WrongKey,
    /// The device (or the store's size limit) is full. Nothing partial was kept:
    /// everything stored before is intact.
    #[error("storage is full: the last change was not saved; free some space and try again")]
    DiskFull,
    #[error("the records store is damaged: {0}")]
    Corrupt(String),
    #[error("the records store is busy (another writer holds it)")]
    Busy,
    /// The store's storage cannot be written (mounted read-only, or a
    /// device that refuses writes): it can be read, not changed.
    #[error("the records store is on read-only storage: it can be read but not changed")]
    ReadOnly,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("not allowed: {0}")]
    InvalidState(&'static str),
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    #[error("the records store has schema version {found}; this app knows up to {supported}")]
    SchemaTooNew { found: i64, supported: i64 },
    #[error("a photo cannot be decrypted (wrong key or damaged file)")]
    Decrypt,
    #[error("cannot read or write the store's files: {0}")]
    Io(std::io::Error),
    #[error("database error: {0}")]
    Database(rusqlite::Error),
    #[error("stored record cannot be read: {0}")]
    Json(#[from] serde_json::Error),
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::StorageFull || e.raw_os_error() == Some(28) {
            Self::DiskFull
        } else if e.kind() == std::io::ErrorKind::ReadOnlyFilesystem || e.raw_os_error() == Some(30) {
            Self::ReadOnly
        } else {
            Self::Io(e)
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode as C;
        match e.sqlite_error_code() {
            Some(C::DiskFull) => Self::DiskFull,
            Some(C::NotADatabase) => Self::WrongKey,
            Some(C::DatabaseCorrupt) => Self::Corrupt("the database file is corrupt".into()),
            Some(C::DatabaseBusy) | Some(C::DatabaseLocked) => Self::Busy,
            Some(C::ReadOnly) => Self::ReadOnly,
            _ => match e {
                rusqlite::Error::QueryReturnedNoRows => Self::NotFound("record"),
                e => Self::Database(e),
            },
        }
    }
}

/// A stable machine-readable name per kind of error (JSON `error.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    WrongKey,
    DiskFull,
    Corrupt,
    Busy,
    ReadOnly,
    NotFound,
    InvalidState,
    InvalidArgument,
    SchemaTooNew,
    Decrypt,
    Io,
    Database,
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::WrongKey => ErrorKind::WrongKey,
            Self::DiskFull => ErrorKind::DiskFull,
            Self::Corrupt(_) => ErrorKind::Corrupt,
            Self::Busy => ErrorKind::Busy,
            Self::ReadOnly => ErrorKind::ReadOnly,
            Self::NotFound(_) => ErrorKind::NotFound,
            Self::InvalidState(_) => ErrorKind::InvalidState,
            Self::InvalidArgument(_) => ErrorKind::InvalidArgument,
            Self::SchemaTooNew { .. } => ErrorKind::SchemaTooNew,
            Self::Decrypt => ErrorKind::Decrypt,
            Self::Io(_) => ErrorKind::Io,
            Self::Database(_) | Self::Json(_) => ErrorKind::Database,
        }
    }
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WrongKey => "wrong_key",
            Self::DiskFull => "disk_full",
            Self::Corrupt => "corrupt",
            Self::Busy => "busy",
            Self::ReadOnly => "read_only",
            Self::NotFound => "not_found",
            Self::InvalidState => "invalid_state",
            Self::InvalidArgument => "invalid_argument",
            Self::SchemaTooNew => "schema_too_new",
            Self::Decrypt => "decrypt",
            Self::Io => "io",
            Self::Database => "database",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
