//! Scalars, enums and small object types shared by the domain modules.

use async_graphql::{
    Enum, InputValueError, InputValueResult, Scalar, ScalarType, SimpleObject, Value,
};
use chrono::{DateTime, Utc};

use crate::error::{ApiError, ApiResult};
use crate::storage::presign::{self, Presigned};

/// A 64-bit integer (sizes in bytes), sent as a JSON number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Long(pub i64);

#[Scalar(name = "Long")]
impl ScalarType for Long {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::Number(n) => n
                .as_i64()
                .map(Long)
                .ok_or_else(|| InputValueError::custom("Long must be a 64-bit integer")),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::Number(self.0.into())
    }
}

/// What a caller may do.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::enums::Role")]
pub enum Role {
    /// Owns files.
    User,
    /// Processes jobs.
    Worker,
    /// Reads and writes everything.
    Admin,
}

/// Who may see a file.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::enums::Visibility")]
pub enum Visibility {
    /// Only its owner.
    Private,
    /// Anyone with its id; not listed.
    Unlisted,
    /// Everyone; listed.
    Public,
}

/// Where a file is in its life.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::enums::AudioStatus")]
pub enum AudioStatus {
    /// Waiting for its bytes.
    PendingUpload,
    /// Its bytes are being checked.
    Verifying,
    /// Verified and downloadable.
    Ready,
    /// Its bytes were refused.
    Rejected,
    /// Deleted.
    Deleted,
}

/// Where a processing job is in its life.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::enums::JobStatus")]
pub enum JobStatus {
    /// Waiting for a worker.
    Queued,
    /// Held by a worker.
    Running,
    /// Done.
    Succeeded,
    /// Failed for good.
    Failed,
    /// Cancelled.
    Canceled,
}

/// Severity of a log line.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::enums::LogLevel")]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// How a browser should present a download.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, Default)]
pub enum Disposition {
    /// Play or show it in place.
    #[default]
    Inline,
    /// Save it under its original filename.
    Attachment,
}

impl From<Disposition> for presign::Disposition {
    fn from(d: Disposition) -> Self {
        match d {
            Disposition::Inline => presign::Disposition::Inline,
            Disposition::Attachment => presign::Disposition::Attachment,
        }
    }
}

/// A header the client must send with a presigned request.
#[derive(SimpleObject, Debug, Clone)]
pub struct HttpHeader {
    pub name: String,
    pub value: String,
}

/// A URL the client calls directly on storage, valid until `expiresAt`.
#[derive(SimpleObject, Debug, Clone)]
pub struct PresignedUrl {
    /// The signed URL.
    pub url: String,
    /// The HTTP method the signature covers.
    pub method: String,
    /// When storage stops accepting the signature.
    pub expires_at: DateTime<Utc>,
    /// Headers the client must send unchanged (for example a checksum).
    pub headers: Vec<HttpHeader>,
}

impl From<Presigned> for PresignedUrl {
    fn from(p: Presigned) -> Self {
        Self {
            url: p.url,
            method: p.method.to_owned(),
            expires_at: p.expires_at,
            headers: p
                .headers
                .into_iter()
                .map(|(name, value)| HttpHeader { name, value })
                .collect(),
        }
    }
}

/// Lifetime of a presigned URL when the client names none, in seconds.
pub const DEFAULT_EXPIRES_IN: i32 = 900;

/// Checks a requested URL lifetime: 1 second to 7 days.
pub fn expires_in(seconds: i32) -> ApiResult<std::time::Duration> {
    if seconds < 1 || i64::from(seconds) > presign::MAX_EXPIRES_SECONDS {
        return Err(ApiError::bad_input(format!(
            "expiresIn must be between 1 and {} seconds",
            presign::MAX_EXPIRES_SECONDS
        )));
    }
    Ok(std::time::Duration::from_secs(
        u64::try_from(seconds).unwrap_or(1),
    ))
}

/// An object a client may download, as `downloadUrl` fields presign it.
pub struct Download<'a> {
    /// Object key.
    pub key: &'a str,
    /// Content type the download is served with.
    pub content_type: &'a str,
    /// Name a saved download gets.
    pub filename: &'a str,
}

impl Download<'_> {
    /// Checks the arguments of a `downloadUrl` field and presigns a GET, recording the
    /// URL's expiry for the response cache.
    pub fn presign(
        &self,
        ctx: &async_graphql::Context<'_>,
        expires_in: Option<i32>,
        disposition: Option<Disposition>,
    ) -> ApiResult<PresignedUrl> {
        use super::context::ContextExt;

        let expires = self::expires_in(expires_in.unwrap_or(DEFAULT_EXPIRES_IN))?;
        let disposition = disposition.unwrap_or_default().into();
        let presigned = ctx.state()?.presigner.get(
            self.key,
            expires,
            self.content_type,
            disposition,
            self.filename,
        );
        ctx.request()?.deps.url_expires(presigned.expires_at);
        Ok(presigned.into())
    }
}

/// Relay page information.
#[derive(SimpleObject, Debug, Clone)]
pub struct PageInfo {
    /// Whether rows follow this page.
    pub has_next_page: bool,
    /// Whether this page was asked for with a cursor (rows precede it).
    pub has_previous_page: bool,
    /// Cursor of the first row of the page.
    pub start_cursor: Option<String>,
    /// Cursor of the last row of the page; pass it as `after` for the next page.
    pub end_cursor: Option<String>,
}

/// Parses a GraphQL `ID` holding a UUID; anything else cannot name a row, so it is
/// treated as a missing one by the caller (or refused as bad input in mutations).
pub fn parse_id(raw: &async_graphql::ID) -> Option<uuid::Uuid> {
    uuid::Uuid::parse_str(raw.as_str()).ok()
}
