//! The one error an app sees, mapped from every layer's error in one place.
//!
//! Each variant is something an app can act on. Messages are our own
//! sentences, chosen by the error's kind: text from SQLite, serde, libjpeg or
//! LiteRT never crosses, and no message names a patient, a photo or a key.
use hemalens_core::photo::ErrorKind as PhotoKind;
use hemalens_core::ErrorKind as CoreKind;
use hemalens_store::ErrorKind as StoreKind;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
#[non_exhaustive]
pub enum HemalensError {
    /// The photo cannot be read: take or choose another. `code` is the core's
    /// stable kind (`corrupt_image`, `empty_input`, `image_too_large`, ...).
    #[error("{detail}")]
    BadPhoto { code: String, detail: String },
    /// The key does not open this records store.
    #[error("the key does not open this records store")]
    WrongKey,
    /// Storage is full: nothing partial was kept; free space and retry.
    #[error("storage is full: the last change was not saved")]
    DiskFull,
    /// A session, field, cell or record that does not exist.
    #[error("{what} not found")]
    NotFound { what: String },
    /// Not allowed now (a closed session, a photo from other packs, a closed screener).
    #[error("not allowed: {detail}")]
    InvalidState { detail: String },
    /// An argument the app passed is not acceptable (a key of the wrong length,
    /// an empty patient code, an unknown label).
    #[error("invalid input: {detail}")]
    InvalidInput { detail: String },
    /// A model pack or site profile is missing, damaged or does not fit.
    #[error("{detail}")]
    ModelProblem { code: String, detail: String },
    /// The records store is damaged, newer than this app, on read-only
    /// storage (`read_only`), or another writer holds it.
    #[error("{detail}")]
    Storage { code: String, detail: String },
    /// A bug or an unexpected failure (a panic is caught and reported as this).
    #[error("internal error: {detail}")]
    Internal { detail: String },
}

impl HemalensError {
    pub(crate) fn internal(message: &str) -> Self {
        Self::Internal { detail: message.to_string() }
    }

    pub(crate) fn closed() -> Self {
        Self::InvalidState { detail: "this screener has been closed".into() }
    }
}

fn bad_photo(kind: CoreKind, message: &str) -> HemalensError {
    HemalensError::BadPhoto { code: kind.as_str().into(), detail: message.into() }
}

fn model(kind: CoreKind, message: &str) -> HemalensError {
    HemalensError::ModelProblem { code: kind.as_str().into(), detail: message.into() }
}

fn storage_code(code: &str, message: &str) -> HemalensError {
    HemalensError::Storage { code: code.into(), detail: message.into() }
}

fn storage(kind: StoreKind, message: &str) -> HemalensError {
    HemalensError::Storage { code: kind.as_str().into(), detail: message.into() }
}

impl From<hemalens_core::Error> for HemalensError {
    fn from(e: hemalens_core::Error) -> Self {
        let k = e.kind();
        match k {
            CoreKind::Photo(p) => bad_photo(
                k,
                match p {
                    PhotoKind::EmptyInput => "the photo is empty",
                    PhotoKind::UnsupportedFormat => {
                        "not a supported image: a JPEG, PNG, WebP, BMP or TIFF is expected"
                    }
                    PhotoKind::ImageTooLarge | PhotoKind::FileTooLarge => "the photo is too large",
                    PhotoKind::ImageEmpty => "the photo has no pixels",
                    PhotoKind::UnsupportedImage => "this kind of image file is not supported",
                    // Corrupt, and any kind a later hemalens-photo adds.
                    _ => "the photo is corrupt or truncated",
                },
            ),
            CoreKind::Manifest | CoreKind::PackMismatch => {
                model(k, "a model pack is damaged or does not match its manifest")
            }
            CoreKind::PackNotFound => model(k, "a model pack was not found"),
            CoreKind::Engine => model(k, "the inference engine failed to run a model"),
            CoreKind::Site => model(k, "the site profile does not fit these model packs"),
            // Our own sentences (never a patient's data), safe to pass on.
            CoreKind::InvalidArgument => HemalensError::InvalidInput { detail: e.to_string() },
            CoreKind::Io => HemalensError::internal("a file could not be read or written"),
            _ => HemalensError::internal("unexpected error in the analysis"),
        }
    }
}

impl From<hemalens_store::Error> for HemalensError {
    fn from(e: hemalens_store::Error) -> Self {
        use hemalens_store::Error as S;
        let k = e.kind();
        match e {
            S::WrongKey => HemalensError::WrongKey,
            S::DiskFull => HemalensError::DiskFull,
            // The store's own static texts: no third-party or patient text.
            S::NotFound(what) => HemalensError::NotFound { what: what.into() },
            S::InvalidState(m) => HemalensError::InvalidState { detail: m.into() },
            S::InvalidArgument(m) => HemalensError::InvalidInput { detail: m.into() },
            S::Busy => storage(k, "the records store is busy: another writer holds it"),
            S::ReadOnly => {
                storage(k, "the records store is on read-only storage: it can be read, not changed")
            }
            S::SchemaTooNew { .. } => {
                storage(k, "the records store was written by a newer version of the app")
            }
            S::Corrupt(_) => storage(k, "the records store is damaged"),
            S::Decrypt => storage(k, "a stored photo cannot be decrypted"),
            S::Io(_) => storage(k, "the records store's files cannot be read or written"),
            _ => storage(k, "the records store failed"),
        }
    }
}

impl From<hemalens_screener::Error> for HemalensError {
    fn from(e: hemalens_screener::Error) -> Self {
        match e {
            hemalens_screener::Error::Core(e) => e.into(),
            hemalens_screener::Error::Store(e) => e.into(),
            hemalens_screener::Error::Share(e) => match e {
                hemalens_share::Error::SessionOpen => HemalensError::InvalidState {
                    detail: "the session is still open: close it before sharing".into(),
                },
                hemalens_share::Error::Photo(_) => {
                    storage_code("bad_photo", "a stored photo of the session cannot be read")
                }
                hemalens_share::Error::Record(_) => {
                    storage_code("bad_record", "the session's stored record cannot be read")
                }
                hemalens_share::Error::Invalid(detail) => HemalensError::InvalidInput { detail },
                _ => HemalensError::internal("the session could not be prepared for sharing"),
            },
            _ => HemalensError::internal("unexpected error"),
        }
    }
}

/// Runs `f`, turning a panic into [`HemalensError::Internal`]: nothing unwinds
/// into the host. (UniFFI catches panics too, but as an untyped error that
/// carries the panic's text.)
pub(crate) fn guard<T>(f: impl FnOnce() -> Result<T, HemalensError>) -> Result<T, HemalensError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(HemalensError::internal("the core failed unexpectedly (a bug): nothing was stored"))
    })
}
