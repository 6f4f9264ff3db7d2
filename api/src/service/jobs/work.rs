//! What the worker holding a job does: report progress, write logs, declare and upload
//! outputs, then fail or complete the job. Each step checks that the caller holds the
//! running job, and each write is guarded by that same condition, so a worker whose job
//! was cancelled or reclaimed meanwhile changes nothing.

use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::enums::{JobStatus, LogLevel};
use entity::{processing_job, processing_log, rendition, rendition_upload};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::queue::drop_outputs;
use super::{changed, held};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::service::probe::Decode;
use crate::service::{deletions, now, validate, verify};
use crate::state::AppState;
use crate::storage::{Presigned, layout};

/// Longest log message, in bytes.
pub const MAX_LOG_MESSAGE_BYTES: usize = 16 * 1024;
/// Largest `fields` of a log line, as JSON text.
pub const MAX_LOG_FIELDS_BYTES: usize = 16 * 1024;
/// Longest error a worker may report, in bytes.
pub const MAX_ERROR_BYTES: usize = 4 * 1024;
/// Most outputs one job may declare.
pub const MAX_OUTPUTS: usize = 16;
/// Largest rendition: what one presigned PUT may carry.
pub const MAX_RENDITION_BYTES: i64 = 5 * 1024 * 1024 * 1024;
/// Longest wait before a retry.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// Log lines the retention sweep removes per statement.
const SWEEP_BATCH: u64 = 10_000;

/// The guard every write of the holding worker carries: still this job, still running,
/// still held by this worker.
fn held_by(id: Uuid, worker: &str) -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(processing_job::Column::Id.eq(id))
        .add(processing_job::Column::Status.eq(JobStatus::Running))
        .add(processing_job::Column::WorkerSubject.eq(worker))
}

fn lost() -> ApiError {
    ApiError::Conflict("the job is no longer held by this worker".to_owned())
}

/// Records progress (0.0 to 1.0) and renews the lease; `message`, when given, becomes an
/// `INFO` log line.
pub async fn report_progress(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    progress: f64,
    message: Option<String>,
) -> ApiResult<processing_job::Model> {
    if !progress.is_finite() || !(0.0..=1.0).contains(&progress) {
        return Err(ApiError::bad_input("progress must be between 0.0 and 1.0"));
    }
    let message = message.map(|m| log_message(&m)).transpose()?;
    let (me, mut job, file) = held(state, caller, id).await?;
    let lease = now() + chrono::Duration::from_std(state.settings.job_lease).unwrap_or_default();
    let done = processing_job::Entity::update_many()
        .col_expr(processing_job::Column::Progress, progress.into())
        .col_expr(processing_job::Column::LeaseExpiresAt, Some(lease).into())
        .col_expr(processing_job::Column::DueAt, Some(lease).into())
        .filter(held_by(id, &me.subject))
        .exec(&state.db)
        .await?;
    if done.rows_affected != 1 {
        return Err(lost());
    }
    if let Some(message) = message {
        let fields = serde_json::json!({ "progress": progress });
        write_log(&state.db, id, LogLevel::Info, message, Some(fields)).await?;
    }
    changed(state, &file, id).await;
    job.progress = progress;
    job.lease_expires_at = Some(lease);
    job.due_at = Some(lease);
    Ok(job)
}

/// Appends a log line to the running job the caller holds.
pub async fn append_log(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    level: LogLevel,
    message: &str,
    fields: Option<serde_json::Value>,
) -> ApiResult<()> {
    let message = log_message(message)?;
    if let Some(f) = &fields {
        let len = serde_json::to_string(f).map(|s| s.len()).unwrap_or(0);
        if len > MAX_LOG_FIELDS_BYTES {
            return Err(ApiError::bad_input(format!(
                "fields must be at most {MAX_LOG_FIELDS_BYTES} bytes of JSON"
            )));
        }
    }
    held(state, caller, id).await?;
    write_log(&state.db, id, level, message, fields).await
}

fn log_message(raw: &str) -> ApiResult<String> {
    if raw.len() > MAX_LOG_MESSAGE_BYTES {
        return Err(ApiError::bad_input(format!(
            "message must be at most {MAX_LOG_MESSAGE_BYTES} bytes"
        )));
    }
    Ok(raw.to_owned())
}

async fn write_log(
    db: &impl ConnectionTrait,
    job_id: Uuid,
    level: LogLevel,
    message: String,
    fields: Option<serde_json::Value>,
) -> ApiResult<()> {
    processing_log::ActiveModel {
        job_id: Set(job_id),
        level: Set(level),
        message: Set(message),
        fields: Set(fields),
        at: Set(now()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// An output a worker is about to upload.
#[derive(Debug, Clone)]
pub struct OutputDeclaration {
    pub format: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub bitrate: Option<i32>,
}

/// Declares an output of the running job the caller holds and returns a presigned PUT
/// for its bytes, which storage refuses unless they match the declared hash, type and
/// length. Declaring the same format again replaces the earlier declaration.
pub async fn declare_output(
    state: &AppState,
    caller: &Caller,
    job_id: Uuid,
    d: OutputDeclaration,
) -> ApiResult<(entity::audio_file::Model, Presigned)> {
    let format = validate::rendition_format(&d.format)?;
    let content_type = validate::rendition_content_type(&d.content_type)?;
    let sha256 = validate::sha256(&d.sha256)?;
    if !(1..=MAX_RENDITION_BYTES).contains(&d.size_bytes) {
        return Err(ApiError::bad_input(format!(
            "sizeBytes must be between 1 and {MAX_RENDITION_BYTES}"
        )));
    }
    if d.bitrate.is_some_and(|b| b <= 0) {
        return Err(ApiError::bad_input("bitrate must be positive"));
    }
    let (_, job, file) = held(state, caller, job_id).await?;

    let txn = crate::db::begin_write(&state.db).await?;
    let earlier = rendition_upload::Entity::find()
        .filter(rendition_upload::Column::JobId.eq(job_id))
        .all(&txn)
        .await?;
    if let Some(same) = earlier.iter().find(|o| o.format == format) {
        deletions::enqueue(&txn, &same.object_key, None).await?;
        rendition_upload::Entity::delete_by_id(same.id)
            .exec(&txn)
            .await?;
    } else if earlier.len() >= MAX_OUTPUTS {
        return Err(ApiError::bad_input(format!(
            "a job may declare at most {MAX_OUTPUTS} outputs"
        )));
    }
    let id = Uuid::now_v7();
    let key = layout::rendition_key(job.audio_file_id, id);
    rendition_upload::ActiveModel {
        id: Set(id),
        job_id: Set(job_id),
        audio_file_id: Set(job.audio_file_id),
        format: Set(format),
        content_type: Set(content_type.clone()),
        bitrate: Set(d.bitrate),
        size_bytes: Set(d.size_bytes),
        sha256: Set(sha256.clone()),
        object_key: Set(key.clone()),
        created_at: Set(now()),
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    state.deletions_due.notify_one();
    let put = state.presigner.put(
        &key,
        state.settings.upload_url_lifetime,
        &content_type,
        u64::try_from(d.size_bytes).unwrap_or(0),
        &sha256,
    );
    Ok((file, put))
}

/// Reports a failure of the running job the caller holds. A retryable failure with
/// attempts left puts the job back in the queue after a backoff (the base wait doubled
/// per attempt made); otherwise the job is `FAILED` with `error`. Outputs it declared are
/// dropped either way.
pub async fn fail(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    error: &str,
    retryable: bool,
) -> ApiResult<processing_job::Model> {
    let error: String = if error.len() > MAX_ERROR_BYTES {
        let mut end = MAX_ERROR_BYTES;
        while !error.is_char_boundary(end) {
            end -= 1;
        }
        error[..end].to_owned()
    } else {
        error.to_owned()
    };
    let (me, job, file) = held(state, caller, id).await?;
    let retry = retryable && job.attempts < state.settings.job_max_attempts;
    let at = now();
    let none: Option<DateTime<Utc>> = None;
    let mut update = processing_job::Entity::update_many()
        .col_expr(processing_job::Column::Error, Some(error.clone()).into())
        .col_expr(
            processing_job::Column::WorkerSubject,
            Option::<String>::None.into(),
        )
        .col_expr(processing_job::Column::LeaseExpiresAt, none.into());
    update = if retry {
        let due = at + chrono::Duration::from_std(backoff(state, job.attempts)).unwrap_or_default();
        update
            .col_expr(processing_job::Column::Status, JobStatus::Queued.into())
            .col_expr(processing_job::Column::DueAt, Some(due).into())
            .col_expr(processing_job::Column::Progress, 0.0.into())
    } else {
        update
            .col_expr(processing_job::Column::Status, JobStatus::Failed.into())
            .col_expr(processing_job::Column::DueAt, none.into())
            .col_expr(processing_job::Column::FinishedAt, Some(at).into())
    };
    let txn = crate::db::begin_write(&state.db).await?;
    let done = update.filter(held_by(id, &me.subject)).exec(&txn).await?;
    if done.rows_affected != 1 {
        return Err(lost());
    }
    let line = if retry {
        format!("attempt {} failed, will retry: {error}", job.attempts)
    } else {
        format!("failed: {error}")
    };
    write_log(&txn, id, LogLevel::Error, line, None).await?;
    drop_outputs(&txn, id).await?;
    txn.commit().await?;
    state.deletions_due.notify_one();
    changed(state, &file, id).await;
    super::find(&state.db, id).await?.ok_or(ApiError::NotFound)
}

/// Wait before the retry that follows attempt `attempts`.
fn backoff(state: &AppState, attempts: i32) -> Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(16);
    state
        .settings
        .job_retry_base
        .saturating_mul(1 << doublings)
        .min(MAX_BACKOFF)
}

/// Completes the running job the caller holds: every output it declared is verified like
/// an upload (size, SHA-256, and for audio types that the bytes are audio) and becomes a
/// rendition of the file, replacing an earlier rendition of the same format; then the job
/// is `SUCCEEDED`.
///
/// An output whose bytes are not there yet is a `CONFLICT` that changes nothing (upload
/// it, then complete again). An output whose bytes do not match is dropped with its
/// object and reported as `BAD_USER_INPUT`; the job keeps running, so the worker may
/// declare and upload it again, or fail the job.
pub async fn complete(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
) -> ApiResult<processing_job::Model> {
    let (me, _, file) = held(state, caller, id).await?;
    let declared = rendition_upload::Entity::find()
        .filter(rendition_upload::Column::JobId.eq(id))
        .order_by_asc(rendition_upload::Column::CreatedAt)
        .all(&state.db)
        .await?;

    for output in &declared {
        let expected = verify::Expected {
            size: output.size_bytes,
            sha256: &output.sha256,
            content_type: &output.content_type,
            filename: &output.format,
            probe: output
                .content_type
                .starts_with("audio/")
                .then_some(Decode::WhenSupported),
        };
        match verify::object(state, &output.object_key, expected).await? {
            verify::Checked::Verified(_) => {}
            verify::Checked::Missing => {
                return Err(ApiError::Conflict(format!(
                    "output {} has not been uploaded yet",
                    output.format
                )));
            }
            verify::Checked::Refused(reason) => {
                let txn = crate::db::begin_write(&state.db).await?;
                deletions::enqueue(&txn, &output.object_key, None).await?;
                rendition_upload::Entity::delete_by_id(output.id)
                    .exec(&txn)
                    .await?;
                txn.commit().await?;
                state.deletions_due.notify_one();
                return Err(ApiError::bad_input(format!(
                    "output {} refused: {reason}; declare and upload it again",
                    output.format
                )));
            }
        }
    }

    let at = now();
    let none: Option<DateTime<Utc>> = None;
    let txn = crate::db::begin_write(&state.db).await?;
    let done = processing_job::Entity::update_many()
        .col_expr(processing_job::Column::Status, JobStatus::Succeeded.into())
        .col_expr(processing_job::Column::Progress, 1.0.into())
        .col_expr(processing_job::Column::FinishedAt, Some(at).into())
        .col_expr(processing_job::Column::DueAt, none.into())
        .col_expr(processing_job::Column::LeaseExpiresAt, none.into())
        .col_expr(processing_job::Column::Error, Option::<String>::None.into())
        .filter(held_by(id, &me.subject))
        .exec(&txn)
        .await?;
    if done.rows_affected != 1 {
        return Err(lost());
    }
    for output in declared {
        // The same format made earlier (a re-run) gives way to the new one.
        let replaced = rendition::Entity::find()
            .filter(rendition::Column::AudioFileId.eq(output.audio_file_id))
            .filter(rendition::Column::Format.eq(&output.format))
            .all(&txn)
            .await?;
        for old in replaced {
            deletions::enqueue(&txn, &old.object_key, None).await?;
            rendition::Entity::delete_by_id(old.id).exec(&txn).await?;
        }
        rendition::ActiveModel {
            id: Set(output.id),
            audio_file_id: Set(output.audio_file_id),
            job_id: Set(Some(id)),
            format: Set(output.format.clone()),
            content_type: Set(output.content_type.clone()),
            bitrate: Set(output.bitrate),
            size_bytes: Set(output.size_bytes),
            sha256: Set(output.sha256.clone()),
            object_key: Set(output.object_key.clone()),
            created_at: Set(at),
        }
        .insert(&txn)
        .await?;
        rendition_upload::Entity::delete_by_id(output.id)
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    state.deletions_due.notify_one();
    changed(state, &file, id).await;
    super::find(&state.db, id).await?.ok_or(ApiError::NotFound)
}

/// Removes log lines older than the retention (`WAVEGATE_JOB_LOG_RETENTION_DAYS`), in
/// batches; returns how many went.
pub async fn sweep_logs(db: &DatabaseConnection, retention: Duration) -> ApiResult<u64> {
    let cutoff = now() - chrono::Duration::from_std(retention).unwrap_or_default();
    let mut removed = 0;
    loop {
        let ids: Vec<i64> = processing_log::Entity::find()
            .select_only()
            .column(processing_log::Column::Id)
            .filter(processing_log::Column::At.lt(cutoff))
            .limit(SWEEP_BATCH)
            .into_tuple()
            .all(db)
            .await?;
        if ids.is_empty() {
            return Ok(removed);
        }
        let done = processing_log::Entity::delete_many()
            .filter(processing_log::Column::Id.is_in(ids))
            .exec(db)
            .await?;
        removed += done.rows_affected;
    }
}
