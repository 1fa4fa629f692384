use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// What can go wrong in the inbox. `Display` never holds patient data, keys
/// or passwords: it is what the log and the client see.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("configuration: {0}")]
    Config(String),
    #[error("database migration failed: {0}")]
    Migrate(String),
    #[error("database error")]
    Db(#[from] sqlx::Error),
    /// A request the client must change (HTTP 400).
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    #[error("not found")]
    NotFound,
    /// Not logged in or the session expired (redirect to the login page).
    #[error("login needed")]
    LoginNeeded,
    #[error("forbidden")]
    Forbidden,
    #[error("too large")]
    TooLarge,
    #[error("too many requests")]
    TooMany,
    #[error("internal error: {0}")]
    Internal(&'static str),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::LoginNeeded => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TooMany => StatusCode::TOO_MANY_REQUESTS,
            Self::Config(_) | Self::Migrate(_) | Self::Db(_) | Self::Internal(_) | Self::Io(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            log::error!("request failed: {self}");
            if let Self::Db(e) = &self {
                // The code only: a database's message may quote values.
                let code = e.as_database_error().and_then(|d| d.code().map(|c| c.into_owned()));
                log::error!("database error code {}", code.as_deref().unwrap_or("none"));
            }
        }
        if let Self::LoginNeeded = self {
            return (StatusCode::SEE_OTHER, [(axum::http::header::LOCATION, "/login")]).into_response();
        }
        let text = if status.is_server_error() { "internal error".to_string() } else { self.to_string() };
        (status, text).into_response()
    }
}
