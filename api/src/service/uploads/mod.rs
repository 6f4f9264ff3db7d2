//! Uploads straight to storage: a ticket with presigned URLs, then verification before the
//! file is `READY`.
//!
//! 1. `create`: checks the declaration (name, type, size, SHA-256, quota). When a verified
//!    blob already holds those bytes the new file shares it at once (`alreadyStored`).
//!    Otherwise the file starts `PENDING_UPLOAD` with a staging key and either one
//!    presigned PUT (whose signature covers the hash, type and length) or a multipart plan.
//!    Asking again for the same bytes returns the same pending file with fresh URLs for
//!    the parts still missing.
//! 2. `complete`: assembles multipart uploads, then streams the object once to hash it
//!    (spooled to a temporary file, never held in memory) and probes it. Bytes that do not
//!    match or are not audio make the file `REJECTED` with a reason, and their object is
//!    queued for removal. Bytes not there yet change nothing.
//! 3. Verified bytes move to their content address, unless a blob already has them.
//!
//! # Layout
//!
//! - this module: the declaration, the ticket, and checks shared by the steps;
//! - `create`: declaring a file and handing out its ticket;
//! - `complete`: verifying the bytes, then `READY` or `REJECTED`;
//! - `abort`: giving up an upload, by hand or when its offer lapses.

mod abort;
mod complete;
mod create;

pub use abort::{abort, expire};
pub use complete::complete;
pub use create::create;

use std::time::Duration;

use entity::enums::{AudioStatus, Visibility};
use entity::{audio_file, blob, upload};
use sea_orm::sea_query::LockType;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QuerySelect,
};
use uuid::Uuid;

use super::probe::{self, AudioInfo};
use super::{deletions, validate, verify};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::storage::{Presigned, layout};

/// S3's limit on the number of parts.
pub(super) const MAX_PARTS: u64 = 10_000;

/// What a client declares before uploading.
#[derive(Debug, Clone)]
pub struct Declaration {
    pub filename: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub title: Option<String>,
    pub visibility: Visibility,
}

/// How the client should send the bytes.
#[derive(Debug)]
pub enum Ticket {
    /// The bytes are stored already; the file is `READY`.
    AlreadyStored(audio_file::Model),
    /// One presigned PUT.
    Single(audio_file::Model, Presigned),
    /// Presigned parts: part size, and (part number, URL) for each part still missing.
    Multipart(audio_file::Model, i64, Vec<(i32, Presigned)>),
}

/// Checks a declaration; the cleaned values come back.
pub(super) fn check(state: &AppState, d: Declaration) -> ApiResult<Declaration> {
    let filename = validate::filename(&d.filename)?;
    let content_type = validate::audio_content_type(&d.content_type)?;
    let sha256 = validate::sha256(&d.sha256)?;
    let max = state.settings.max_upload_bytes;
    if d.size_bytes < 1 || u64::try_from(d.size_bytes).unwrap_or(u64::MAX) > max {
        return Err(ApiError::bad_input(format!(
            "sizeBytes must be between 1 and {max}"
        )));
    }
    let title = match &d.title {
        Some(t) => validate::title(t)?,
        None => validate::title(&validate::default_title(&filename))?,
    };
    Ok(Declaration {
        filename,
        content_type,
        size_bytes: d.size_bytes,
        sha256,
        title: Some(title),
        visibility: d.visibility,
    })
}

/// Refuses `extra` bytes that would take `owner` over the configured quota.
pub(super) async fn check_quota(
    state: &AppState,
    owner: Uuid,
    extra: i64,
    counted: bool,
) -> ApiResult<()> {
    super::users::check_quota(
        &state.db,
        owner,
        state.settings.default_quota_bytes,
        extra,
        counted,
    )
    .await
}

/// Part size for `size` bytes: at least the multipart threshold, and large enough to need
/// at most 10,000 parts; a whole number of MiB.
pub(super) fn part_size(size: u64, threshold: u64) -> u64 {
    const MIB: u64 = 1024 * 1024;
    let needed = size.div_ceil(MAX_PARTS).max(threshold);
    needed.div_ceil(MIB) * MIB
}

/// A new file row.
pub(super) fn new_file(
    id: Uuid,
    owner: Uuid,
    d: &Declaration,
    status: AudioStatus,
    blob: Option<(Uuid, AudioInfo)>,
    now: chrono::DateTime<chrono::Utc>,
) -> audio_file::ActiveModel {
    let (blob_id, info) = match blob {
        Some((b, info)) => (Some(b), info),
        None => (None, AudioInfo::default()),
    };
    audio_file::ActiveModel {
        id: Set(id),
        owner_id: Set(owner),
        blob_id: Set(blob_id),
        title: Set(d.title.clone().unwrap_or_default()),
        original_filename: Set(d.filename.clone()),
        content_type: Set(d.content_type.clone()),
        size_bytes: Set(d.size_bytes),
        sha256: Set(d.sha256.clone()),
        duration_ms: Set(info.duration_ms),
        sample_rate: Set(info.sample_rate),
        channels: Set(info.channels),
        codec: Set(info.codec),
        bitrate: Set(info.bitrate),
        visibility: Set(d.visibility),
        status: Set(status),
        status_reason: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

/// Sets a file's status.
pub(super) async fn set_status(
    db: &DatabaseConnection,
    id: Uuid,
    status: AudioStatus,
) -> ApiResult<()> {
    audio_file::Entity::update_many()
        .col_expr(audio_file::Column::Status, status.into())
        .filter(audio_file::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Waits `period` between runs of `f` (background tasks).
pub fn every(period: Duration) -> tokio::time::Interval {
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval
}
