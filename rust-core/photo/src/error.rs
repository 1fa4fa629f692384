use std::fmt;

/// Everything that can go wrong reading a photo. `Display` never includes file
/// names or pixel values: only what kind of thing failed and why.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("cannot read input: {0}")]
    Io(#[from] std::io::Error),
    #[error("empty input: no bytes")]
    EmptyInput,
    #[error("not a supported image (JPEG, PNG, WebP, BMP or TIFF expected)")]
    UnsupportedFormat,
    #[error("image is too large: {width}x{height} pixels exceeds the limit of {limit} pixels")]
    ImageTooLarge { width: u32, height: u32, limit: u64 },
    #[error("input file is too large: {bytes} bytes exceeds the limit of {limit} bytes")]
    FileTooLarge { bytes: u64, limit: u64 },
    #[error("image has no pixels ({width}x{height})")]
    ImageEmpty { width: u32, height: u32 },
    #[error("corrupt or truncated image: {0}")]
    CorruptImage(String),
    #[error("unsupported image layout: {0}")]
    UnsupportedImage(String),
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

/// A stable, machine-readable name for each kind of error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    Io,
    EmptyInput,
    UnsupportedFormat,
    ImageTooLarge,
    FileTooLarge,
    ImageEmpty,
    CorruptImage,
    UnsupportedImage,
    InvalidArgument,
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Io(_) => ErrorKind::Io,
            Self::EmptyInput => ErrorKind::EmptyInput,
            Self::UnsupportedFormat => ErrorKind::UnsupportedFormat,
            Self::ImageTooLarge { .. } => ErrorKind::ImageTooLarge,
            Self::FileTooLarge { .. } => ErrorKind::FileTooLarge,
            Self::ImageEmpty { .. } => ErrorKind::ImageEmpty,
            Self::CorruptImage(_) => ErrorKind::CorruptImage,
            Self::UnsupportedImage(_) => ErrorKind::UnsupportedImage,
            Self::InvalidArgument(_) => ErrorKind::InvalidArgument,
        }
    }
}

impl ErrorKind {
    /// Stable names (`hemalens_core::ErrorKind::Photo` and the apps use them as they are).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Io => "io",
            Self::EmptyInput => "empty_input",
            Self::UnsupportedFormat => "unsupported_format",
            Self::ImageTooLarge => "image_too_large",
            Self::FileTooLarge => "file_too_large",
            Self::ImageEmpty => "image_empty",
            Self::CorruptImage => "corrupt_image",
            Self::UnsupportedImage => "unsupported_image",
            Self::InvalidArgument => "invalid_argument",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
