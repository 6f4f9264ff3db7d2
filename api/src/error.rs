//! The one error type clients see, mapped once to GraphQL `extensions.code` and once to an
//! HTTP status.
//!
//! Internal causes are logged where they are turned into [`ApiError::Internal`] or
//! [`ApiError::StorageUnavailable`], and never sent to clients.

use actix_web::http::StatusCode;
use async_graphql::ErrorExtensions;

/// Every failure a request can end in, as clients see it.
///
/// It deliberately does not implement `Display`: async-graphql turns any `Display` type
/// into an error without a code, and every conversion must go through [`ApiError::code`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ApiError {
    /// The bearer token is missing where required, malformed, expired or wrongly signed.
    Unauthenticated(String),
    /// The caller may see the thing but not do this to it.
    Forbidden,
    /// The thing does not exist, or the caller may not see it (the two look the same).
    NotFound,
    /// An argument is out of range or malformed; the message names it.
    BadUserInput(String),
    /// The request conflicts with the current state (for example a file not ready yet).
    Conflict(String),
    /// The caller's stored bytes would go over its quota.
    QuotaExceeded,
    /// The caller sent too many requests.
    RateLimited,
    /// Object storage did not answer; the request can be retried.
    StorageUnavailable,
    /// Anything else; the cause is logged, not shown.
    Internal,
}

impl ApiError {
    /// The stable `extensions.code` of this error.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated(_) => "UNAUTHENTICATED",
            ApiError::Forbidden => "FORBIDDEN",
            ApiError::NotFound => "NOT_FOUND",
            ApiError::BadUserInput(_) => "BAD_USER_INPUT",
            ApiError::Conflict(_) => "CONFLICT",
            ApiError::QuotaExceeded => "QUOTA_EXCEEDED",
            ApiError::RateLimited => "RATE_LIMITED",
            ApiError::StorageUnavailable => "STORAGE_UNAVAILABLE",
            ApiError::Internal => "INTERNAL",
        }
    }

    /// The message clients see: safe to show, never an internal cause.
    pub fn message(&self) -> String {
        match self {
            ApiError::Unauthenticated(m) | ApiError::BadUserInput(m) | ApiError::Conflict(m) => {
                m.clone()
            }
            ApiError::Forbidden => "you may not do this".to_owned(),
            ApiError::NotFound => "not found".to_owned(),
            ApiError::QuotaExceeded => "storage quota exceeded".to_owned(),
            ApiError::RateLimited => "too many requests".to_owned(),
            ApiError::StorageUnavailable => "storage is unavailable, try again later".to_owned(),
            ApiError::Internal => "internal error".to_owned(),
        }
    }

    /// The HTTP status of this error when it ends a whole request.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::BadUserInput(_) => StatusCode::BAD_REQUEST,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::QuotaExceeded => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ApiError::StorageUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A bad argument, naming it.
    pub fn bad_input(message: impl Into<String>) -> Self {
        ApiError::BadUserInput(message.into())
    }

    /// Logs an unexpected cause once and hides it behind [`ApiError::Internal`].
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        ApiError::Internal
    }

    /// Logs a storage failure once and reports storage as unavailable.
    pub fn storage(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "object storage failed");
        ApiError::StorageUnavailable
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(err: sea_orm::DbErr) -> Self {
        ApiError::internal(format_args!("database: {err}"))
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(err: ApiError) -> Self {
        let code = err.code();
        async_graphql::Error::new(err.message()).extend_with(|_, e| e.set("code", code))
    }
}

/// Result of service and resolver functions.
pub type ApiResult<T> = Result<T, ApiError>;
