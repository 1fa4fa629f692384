use std::fmt;

/// What can go wrong behind the façade: a photo or pack problem (the core's
/// error) or a records problem (the store's). `Display` never names a patient,
/// a photo or a key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(transparent)]
    Core(#[from] hemalens_core::Error),
    #[error(transparent)]
    Store(#[from] hemalens_store::Error),
    #[error(transparent)]
    Share(#[from] hemalens_share::Error),
}

impl Error {
    /// The stable kind name of the underlying error (`corrupt_image`, `wrong_key`, ...).
    pub fn kind(&self) -> Kind {
        match self {
            Self::Core(e) => Kind(e.kind().as_str()),
            Self::Store(e) => Kind(e.kind().as_str()),
            Self::Share(e) => Kind(e.kind().0),
        }
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
