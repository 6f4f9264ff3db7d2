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

use std::time::Duration;

use entity::enums::{AudioStatus, Visibility};
use entity::{audio_file, blob, upload};
use sea_orm::sea_query::{LockType, OnConflict};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QuerySelect, TransactionTrait,
};
use uuid::Uuid;

use super::probe::{self, AudioInfo};
use super::{deletions, validate};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::storage::{Presigned, layout};

/// S3's limit on the number of parts.
const MAX_PARTS: u64 = 10_000;

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
fn check(state: &AppState, d: Declaration) -> ApiResult<Declaration> {
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

/// Refuses `extra` bytes that would take `owner` over its quota; `counted` when the
/// current usage already includes them (a pending file being completed).
async fn check_quota(state: &AppState, owner: Uuid, extra: i64, counted: bool) -> ApiResult<()> {
    let Some(quota) = state.settings.default_quota_bytes else {
        return Ok(());
    };
    let mut used = super::users::storage_used(&state.db, &[owner])
        .await?
        .first()
        .map_or(0, |(_, u)| *u);
    if counted {
        used -= extra;
    }
    if used.saturating_add(extra) > quota {
        return Err(ApiError::QuotaExceeded);
    }
    Ok(())
}

/// Creates the file and the ticket for its bytes.
#[tracing::instrument(skip(state, declaration), fields(owner.id = %owner))]
pub async fn create(state: &AppState, owner: Uuid, declaration: Declaration) -> ApiResult<Ticket> {
    let d = check(state, declaration)?;

    // The same bytes already pending for this owner: resume that upload.
    let pending = audio_file::Entity::find()
        .filter(audio_file::Column::OwnerId.eq(owner))
        .filter(audio_file::Column::Sha256.eq(&d.sha256))
        .filter(audio_file::Column::SizeBytes.eq(d.size_bytes))
        .filter(audio_file::Column::Status.eq(AudioStatus::PendingUpload))
        .one(&state.db)
        .await?;
    if let Some(file) = pending {
        return ticket_for(state, file).await;
    }
    check_quota(state, owner, d.size_bytes, false).await?;

    // The same bytes stored and verified already: share them.
    if let Some(file) = share_existing_blob(state, owner, &d).await? {
        state
            .file_changed(owner, file.id, file.visibility == Visibility::Public)
            .await;
        return Ok(Ticket::AlreadyStored(file));
    }

    // A pending file, and where its bytes go.
    let now = super::now();
    let id = Uuid::now_v7();
    let staging_key = layout::staging_key(id);
    let size = u64::try_from(d.size_bytes).unwrap_or(0);
    let multipart = size > state.settings.multipart_threshold_bytes;
    let (upload_id, part_size, part_count) = if multipart {
        let part_size = part_size(size, state.settings.multipart_threshold_bytes);
        let upload_id = state
            .storage
            .create_multipart(&staging_key, &d.content_type)
            .await?;
        (
            Some(upload_id),
            Some(part_size as i64),
            Some(size.div_ceil(part_size) as i32),
        )
    } else {
        (None, None, None)
    };
    let file = new_file(id, owner, &d, AudioStatus::PendingUpload, None, now);
    let txn = state.db.begin().await?;
    let file = file.insert(&txn).await?;
    upload::ActiveModel {
        audio_file_id: Set(id),
        staging_key: Set(staging_key),
        multipart_upload_id: Set(upload_id),
        part_size_bytes: Set(part_size),
        part_count: Set(part_count),
        expires_at: Set(
            now + chrono::Duration::from_std(state.settings.upload_expiry).unwrap_or_default()
        ),
        created_at: Set(now),
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    state.file_changed(owner, file.id, false).await;
    ticket_for(state, file).await
}

/// Part size for `size` bytes: at least the multipart threshold, and large enough to need
/// at most 10,000 parts; a whole number of MiB.
fn part_size(size: u64, threshold: u64) -> u64 {
    const MIB: u64 = 1024 * 1024;
    let needed = size.div_ceil(MAX_PARTS).max(threshold);
    needed.div_ceil(MIB) * MIB
}

/// A new file row.
fn new_file(
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

/// When a verified blob holds the declared bytes, records a `READY` file sharing it, with
/// the technical metadata of a file already probed on those bytes.
///
/// The blob row is locked while the file is written, so a concurrent delete of the last
/// file using it either sees this file or happens first (and then nothing is shared).
async fn share_existing_blob(
    state: &AppState,
    owner: Uuid,
    d: &Declaration,
) -> ApiResult<Option<audio_file::Model>> {
    let txn = state.db.begin().await?;
    let blob = blob::Entity::find()
        .filter(blob::Column::Sha256.eq(&d.sha256))
        .lock(LockType::Update)
        .one(&txn)
        .await?;
    let Some(blob) = blob else { return Ok(None) };
    if blob.size_bytes != d.size_bytes {
        return Err(ApiError::bad_input(
            "sizeBytes does not match the bytes with this sha256",
        ));
    }
    let sibling = audio_file::Entity::find()
        .filter(audio_file::Column::BlobId.eq(blob.id))
        .filter(audio_file::Column::Status.eq(AudioStatus::Ready))
        .one(&txn)
        .await?;
    let info = sibling.map(|s| AudioInfo {
        codec: s.codec,
        duration_ms: s.duration_ms,
        sample_rate: s.sample_rate,
        channels: s.channels,
        bitrate: s.bitrate,
    });
    let file = new_file(
        Uuid::now_v7(),
        owner,
        d,
        AudioStatus::Ready,
        Some((blob.id, info.unwrap_or_default())),
        super::now(),
    )
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(Some(file))
}

/// The ticket of a pending file: a fresh PUT, or fresh URLs for the parts still missing.
async fn ticket_for(state: &AppState, file: audio_file::Model) -> ApiResult<Ticket> {
    let row = upload::Entity::find_by_id(file.id)
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound)?;
    let expires = state.settings.upload_url_lifetime;
    match (
        &row.multipart_upload_id,
        row.part_size_bytes,
        row.part_count,
    ) {
        (Some(upload_id), Some(part_size), Some(count)) => {
            let done: Vec<i32> = state
                .storage
                .list_parts(&row.staging_key, upload_id)
                .await?
                .unwrap_or_default()
                .into_iter()
                .map(|(n, _, _)| n)
                .collect();
            let parts = (1..=count)
                .filter(|n| !done.contains(n))
                .map(|n| {
                    let url =
                        state
                            .presigner
                            .upload_part(&row.staging_key, upload_id, n as u16, expires);
                    (n, url)
                })
                .collect();
            Ok(Ticket::Multipart(file, part_size, parts))
        }
        _ => {
            let size = u64::try_from(file.size_bytes).unwrap_or(0);
            let put = state.presigner.put(
                &row.staging_key,
                expires,
                &file.content_type,
                size,
                &file.sha256,
            );
            Ok(Ticket::Single(file, put))
        }
    }
}

/// Why verification refused the bytes.
struct Refusal(String);

/// Verifies the bytes of a pending file and makes it `READY`, or `REJECTED` with a reason.
#[tracing::instrument(skip(state, file, parts), fields(file.id = %file.id))]
pub async fn complete(
    state: &AppState,
    file: audio_file::Model,
    parts: Option<Vec<(i32, String)>>,
) -> ApiResult<audio_file::Model> {
    if file.status != AudioStatus::PendingUpload {
        return Err(ApiError::Conflict(format!(
            "the file is not awaiting its bytes (status {:?})",
            file.status
        )));
    }
    let row = upload::Entity::find_by_id(file.id)
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound)?;

    // Only one completion at a time: PENDING_UPLOAD → VERIFYING, or someone else is at it.
    let claimed = audio_file::Entity::update_many()
        .col_expr(audio_file::Column::Status, AudioStatus::Verifying.into())
        .filter(audio_file::Column::Id.eq(file.id))
        .filter(audio_file::Column::Status.eq(AudioStatus::PendingUpload))
        .exec(&state.db)
        .await?;
    if claimed.rows_affected != 1 {
        return Err(ApiError::Conflict(
            "the upload is being completed already".to_owned(),
        ));
    }

    match verify(state, &file, &row, parts).await {
        Ok(Ok(info)) => {
            // The quota again, on the actual bytes: other uploads may have landed meanwhile.
            if let Err(e) = check_quota(state, file.owner_id, file.size_bytes, true).await {
                reject(state, file, &row, "storage quota exceeded".to_owned()).await?;
                return Err(e);
            }
            finish(state, file, &row, info).await
        }
        Ok(Err(Refusal(reason))) => reject(state, file, &row, reason).await,
        Err(e) => {
            // Not there yet, or storage failed: back to pending, nothing lost.
            set_status(&state.db, file.id, AudioStatus::PendingUpload).await?;
            state.file_changed(file.owner_id, file.id, false).await;
            Err(e)
        }
    }
}

/// Assembles, hashes and probes the uploaded bytes.
async fn verify(
    state: &AppState,
    file: &audio_file::Model,
    row: &upload::Model,
    parts: Option<Vec<(i32, String)>>,
) -> ApiResult<Result<AudioInfo, Refusal>> {
    let key = &row.staging_key;

    // Multipart: assemble the parts (those the client names, else those storage holds).
    if let (Some(upload_id), Some(count)) = (&row.multipart_upload_id, row.part_count)
        && state.storage.object_size(key).await?.is_none()
    {
        let parts = match parts {
            Some(p) => p,
            None => state
                .storage
                .list_parts(key, upload_id)
                .await?
                .unwrap_or_default()
                .into_iter()
                .map(|(n, etag, _)| (n, etag))
                .collect(),
        };
        let mut numbers: Vec<i32> = parts.iter().map(|(n, _)| *n).collect();
        numbers.sort_unstable();
        let missing: Vec<i32> = (1..=count)
            .filter(|n| numbers.binary_search(n).is_err())
            .collect();
        if !missing.is_empty() {
            return Err(ApiError::Conflict(format!(
                "parts not uploaded yet: {missing:?}"
            )));
        }
        let mut sorted = parts;
        sorted.sort_by_key(|(n, _)| *n);
        if !state
            .storage
            .complete_multipart(key, upload_id, &sorted)
            .await?
        {
            return Err(ApiError::Conflict(
                "storage refused the parts; upload the missing ones and retry".into(),
            ));
        }
    }

    // The object is there, with the declared size.
    let Some(size) = state.storage.object_size(key).await? else {
        return Err(ApiError::Conflict(
            "the bytes have not been uploaded yet".to_owned(),
        ));
    };
    if i64::try_from(size).ok() != Some(file.size_bytes) {
        return Ok(Err(Refusal(format!(
            "size is {size} bytes, {} were declared",
            file.size_bytes
        ))));
    }

    // Hash it on the way to a temporary file, then probe that file.
    let spool = tempfile::NamedTempFile::new().map_err(ApiError::internal)?;
    let (path, mut sink) = {
        let std_file = spool.reopen().map_err(ApiError::internal)?;
        (spool.path().to_owned(), tokio::fs::File::from_std(std_file))
    };
    let (len, sha256) = state.storage.stream_to(key, &mut sink).await?;
    drop(sink);
    if len != size || sha256 != file.sha256 {
        return Ok(Err(Refusal(
            "SHA-256 of the bytes does not match the declared one".to_owned(),
        )));
    }
    let content_type = file.content_type.clone();
    let filename = file.original_filename.clone();
    let probed = tokio::task::spawn_blocking(move || {
        let reader = std::fs::File::open(&path).map_err(|e| e.to_string())?;
        let _keep = spool;
        probe::probe(
            std::io::BufReader::new(reader),
            len,
            &content_type,
            &filename,
        )
    })
    .await
    .map_err(ApiError::internal)?;
    Ok(probed.map_err(|reason| Refusal(format!("not audio: {reason}"))))
}

/// Makes a verified file `READY`, storing its bytes at their content address once.
async fn finish(
    state: &AppState,
    file: audio_file::Model,
    row: &upload::Model,
    info: AudioInfo,
) -> ApiResult<audio_file::Model> {
    let original = layout::original_key(&file.sha256);

    // Unless a blob has these bytes, put them at their address; pending removals of that
    // address go first, so the drainer cannot remove what is about to be written.
    let known = blob::Entity::find()
        .filter(blob::Column::Sha256.eq(&file.sha256))
        .one(&state.db)
        .await?;
    if known.is_none() {
        deletions::cancel(&state.db, &original).await?;
        if let Err(e) = state.storage.copy(&row.staging_key, &original).await {
            set_status(&state.db, file.id, AudioStatus::PendingUpload).await?;
            state.file_changed(file.owner_id, file.id, false).await;
            return Err(e);
        }
    }

    let txn = state.db.begin().await?;
    blob::Entity::insert(blob::ActiveModel {
        id: Set(Uuid::now_v7()),
        sha256: Set(file.sha256.clone()),
        size_bytes: Set(file.size_bytes),
        object_key: Set(original),
        created_at: Set(super::now()),
    })
    .on_conflict(
        OnConflict::column(blob::Column::Sha256)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    let blob = blob::Entity::find()
        .filter(blob::Column::Sha256.eq(&file.sha256))
        .lock(LockType::Update)
        .one(&txn)
        .await?
        .ok_or_else(|| ApiError::internal("blob row vanished"))?;
    let mut active: audio_file::ActiveModel = file.into();
    active.blob_id = Set(Some(blob.id));
    active.status = Set(AudioStatus::Ready);
    active.duration_ms = Set(info.duration_ms);
    active.sample_rate = Set(info.sample_rate);
    active.channels = Set(info.channels);
    active.codec = Set(info.codec);
    active.bitrate = Set(info.bitrate);
    active.updated_at = Set(super::now());
    let ready = active.update(&txn).await?;
    upload::Entity::delete_by_id(ready.id).exec(&txn).await?;
    deletions::enqueue(&txn, &row.staging_key, None).await?;
    txn.commit().await?;
    state.deletions_due.notify_one();
    state
        .file_changed(
            ready.owner_id,
            ready.id,
            ready.visibility == Visibility::Public,
        )
        .await;
    Ok(ready)
}

/// Refuses the bytes: the file is `REJECTED` with `reason` and the staging object goes.
async fn reject(
    state: &AppState,
    file: audio_file::Model,
    row: &upload::Model,
    reason: String,
) -> ApiResult<audio_file::Model> {
    tracing::info!(file.id = %file.id, reason = %reason, "upload rejected");
    let txn = state.db.begin().await?;
    let mut active: audio_file::ActiveModel = file.into();
    active.status = Set(AudioStatus::Rejected);
    active.status_reason = Set(Some(reason));
    active.updated_at = Set(super::now());
    let rejected = active.update(&txn).await?;
    upload::Entity::delete_by_id(rejected.id).exec(&txn).await?;
    deletions::enqueue(&txn, &row.staging_key, row.multipart_upload_id.as_deref()).await?;
    txn.commit().await?;
    state.deletions_due.notify_one();
    state
        .file_changed(rejected.owner_id, rejected.id, false)
        .await;
    Ok(rejected)
}

/// Gives up a pending upload: its row, staging object and multipart upload go.
pub async fn abort(state: &AppState, file: audio_file::Model) -> ApiResult<()> {
    if file.status != AudioStatus::PendingUpload {
        return Err(ApiError::Conflict(
            "only an upload awaiting its bytes can be aborted".to_owned(),
        ));
    }
    let row = upload::Entity::find_by_id(file.id).one(&state.db).await?;
    let txn = state.db.begin().await?;
    let deleted = audio_file::Entity::delete_many()
        .filter(audio_file::Column::Id.eq(file.id))
        .filter(audio_file::Column::Status.eq(AudioStatus::PendingUpload))
        .exec(&txn)
        .await?;
    if deleted.rows_affected != 1 {
        return Err(ApiError::Conflict(
            "the upload is being completed".to_owned(),
        ));
    }
    if let Some(row) = row {
        deletions::enqueue(&txn, &row.staging_key, row.multipart_upload_id.as_deref()).await?;
    }
    txn.commit().await?;
    state.deletions_due.notify_one();
    state.file_changed(file.owner_id, file.id, false).await;
    Ok(())
}

/// Aborts pending uploads whose offer has lapsed; returns how many.
pub async fn expire(state: &AppState) -> ApiResult<usize> {
    let lapsed: Vec<Uuid> = upload::Entity::find()
        .select_only()
        .column(upload::Column::AudioFileId)
        .filter(upload::Column::ExpiresAt.lt(chrono::Utc::now()))
        .into_tuple()
        .all(&state.db)
        .await?;
    let mut n = 0;
    for id in lapsed {
        if let Some(file) = audio_file::Entity::find_by_id(id).one(&state.db).await?
            && abort(state, file).await.is_ok()
        {
            n += 1;
        }
    }
    Ok(n)
}

/// Sets a file's status.
async fn set_status(db: &DatabaseConnection, id: Uuid, status: AudioStatus) -> ApiResult<()> {
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
