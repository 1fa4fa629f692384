use std::fmt;

/// What went wrong in the runtime layer. Messages never contain tensor data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not a model LiteRT can read (empty, truncated, not a flatbuffer).
    #[error("not a valid TensorFlow Lite model: {0}")]
    InvalidModel(Status),
    /// The model file could not be read.
    #[error("cannot read model file: {0}")]
    Io(#[from] std::io::Error),
    /// The model loaded but could not be compiled for the CPU.
    #[error("model could not be compiled: {0}")]
    Compile(Status),
    /// The model has no signature, or a tensor without a fixed shape.
    #[error("unsupported model: {0}")]
    Unsupported(String),
    /// The caller passed inputs or outputs of the wrong count or size.
    #[error("{what}: expected {expected}, got {got}")]
    Shape { what: &'static str, expected: usize, got: usize },
    /// A LiteRT call failed.
    #[error("LiteRT call {call} failed: {status}")]
    Call { call: &'static str, status: Status },
    /// Options that cannot be expressed (for example zero threads).
    #[error("invalid option: {0}")]
    Option(String),
}

/// A LiteRT status code with its name (`LiteRtGetStatusString` is missing from
/// the 2.1.4 wheel's library, so we name the codes ourselves).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status(pub u32);

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.0 {
            0 => "ok",
            1 => "invalid argument",
            2 => "memory allocation failure",
            3 => "runtime failure",
            4 => "missing input tensor",
            5 => "unsupported",
            6 => "not found",
            7 => "timeout expired",
            8 => "wrong version",
            9 => "unknown",
            10 => "already exists",
            100 => "cancelled",
            500 => "file I/O error",
            501 => "invalid flatbuffer",
            502 => "dynamic loading error",
            503 => "serialization error",
            504 => "compilation error",
            1000 => "index out of bounds",
            _ => "error",
        };
        write!(f, "{name} (status {})", self.0)
    }
}
