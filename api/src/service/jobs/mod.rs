//! Processing jobs: the queue workers claim from, and the status and logs frontends read.
//!
//! # Lifecycle
//!
//! `QUEUED` → (`claimJob`) `RUNNING` → `SUCCEEDED`, `FAILED` or back to `QUEUED` (a
//! retryable failure, after a backoff), and `CANCELED` from `QUEUED` or `RUNNING`. A
//! running job is held by the worker that claimed it (its `sub`) under a lease that every
//! progress report renews; once the lease runs out the job is claimable again, and a job
//! that has used up its attempts fails instead.
//!
//! Every change is announced ([`crate::state::AppState::job_changed`]): the response
//! cache drops what showed the job and `jobUpdates` subscribers hear of it.
//!
//! # Layout
//!
//! - this module: reads (jobs by id and by file, log pages) and checks shared by the rest;
//! - `queue`: enqueueing (by hand and the default pipeline), claiming, cancelling;
//! - `work`: what the holding worker does: progress, logs, outputs, failure, completion.

mod queue;
mod work;

pub use queue::{cancel, claim, enqueue, enqueue_pipeline};
pub use work::{
    OutputDeclaration, append_log, complete, declare_output, fail, report_progress, sweep_logs,
};

use std::collections::HashMap;

use entity::enums::{JobStatus, LogLevel, Role, Visibility};
use entity::processing_job::{self, Column};
use entity::{audio_file, processing_log};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::auth::{Caller, Principal, access};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Largest page of log lines a client may ask for.
pub const MAX_LOG_PAGE: i32 = 1000;

/// One job by id.
pub async fn find(db: &DatabaseConnection, id: Uuid) -> ApiResult<Option<processing_job::Model>> {
    Ok(processing_job::Entity::find_by_id(id).one(db).await?)
}

/// The jobs of each file, oldest first.
pub async fn by_files(
    db: &DatabaseConnection,
    file_ids: &[Uuid],
) -> ApiResult<HashMap<Uuid, Vec<processing_job::Model>>> {
    let rows = processing_job::Entity::find()
        .filter(Column::AudioFileId.is_in(super::batch_keys(file_ids)))
        .order_by_asc(Column::CreatedAt)
        .order_by_asc(Column::Id)
        .all(db)
        .await?;
    let mut out: HashMap<Uuid, Vec<processing_job::Model>> = HashMap::new();
    for row in rows {
        out.entry(row.audio_file_id).or_default().push(row);
    }
    Ok(out)
}

/// One page of a job's log lines, in the order they were written.
#[derive(Debug, Clone)]
pub struct LogPage {
    pub rows: Vec<processing_log::Model>,
    pub has_next: bool,
    /// The condition without the cursor, for `totalCount`.
    pub condition: Condition,
}

/// Log lines of `job_id` after the line `after` (its id), at `min_level` or above.
///
/// Served by the `(job_id, id)` and `(job_id, level, id)` indexes, so a page costs the
/// same however long the log is.
pub async fn logs(
    db: &DatabaseConnection,
    job_id: Uuid,
    first: i32,
    after: Option<i64>,
    min_level: Option<LogLevel>,
) -> ApiResult<LogPage> {
    use processing_log::Column as L;

    if !(0..=MAX_LOG_PAGE).contains(&first) {
        return Err(ApiError::bad_input(format!(
            "first must be between 0 and {MAX_LOG_PAGE}"
        )));
    }
    let matching = |job: sea_orm::sea_query::SimpleExpr| {
        let lines = Condition::all().add(job);
        match min_level {
            Some(level) => lines.add(L::Level.gte(level)),
            None => lines,
        }
    };
    // The page: on PostgreSQL the job is matched as a range of one and the lines ordered
    // by (job, id), which only the job's indexes provide. Matched by equality and ordered
    // by id alone, PostgreSQL may walk the primary key instead, expecting a job with most
    // of the table's lines to be spread through it; when those lines are the newest, that
    // walk passes every older line first (50 ms for a first page behind 300,000 lines of
    // other jobs). SQLite plans a range of one as a range and would then not seek to
    // `after`, so it gets equality.
    let job = match db.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => L::JobId.between(job_id, job_id),
        _ => L::JobId.eq(job_id),
    };
    let mut scan = matching(job);
    if let Some(after) = after {
        scan = scan.add(L::Id.gt(after));
    }
    // The count (`totalCount`), by equality.
    let condition = matching(L::JobId.eq(job_id));
    let limit = u64::try_from(first).unwrap_or(0) + 1;
    let mut rows = processing_log::Entity::find()
        .filter(scan)
        .order_by_asc(L::JobId)
        .order_by_asc(L::Id)
        .limit(limit)
        .all(db)
        .await?;
    let has_next = rows.len() as u64 == limit;
    rows.truncate(limit.saturating_sub(1) as usize);
    Ok(LogPage {
        rows,
        has_next,
        condition,
    })
}

/// How many log lines match a condition.
pub async fn count_logs(db: &DatabaseConnection, condition: Condition) -> ApiResult<u64> {
    Ok(processing_log::Entity::find()
        .filter(condition)
        .count(db)
        .await?)
}

/// A job with its file.
async fn with_file(
    db: &DatabaseConnection,
    id: Uuid,
) -> ApiResult<Option<(processing_job::Model, audio_file::Model)>> {
    let found = processing_job::Entity::find_by_id(id)
        .find_also_related(audio_file::Entity)
        .one(db)
        .await?;
    Ok(match found {
        Some((job, Some(file))) => Some((job, file)),
        _ => None,
    })
}

/// A job the caller may see, with its file; `NOT_FOUND` otherwise (as for files).
async fn visible(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
) -> ApiResult<(processing_job::Model, audio_file::Model)> {
    match with_file(&state.db, id).await? {
        Some((job, file)) if access::can_read_by_id(caller, &file) => Ok((job, file)),
        _ => Err(ApiError::NotFound),
    }
}

/// The running job `id`, held by the calling worker: `NOT_FOUND` when the caller may not
/// see it, `FORBIDDEN` when another worker holds it (or the caller is not a worker), and
/// `CONFLICT` when it is not running any more (cancelled, finished, or reclaimed).
async fn held<'c>(
    state: &AppState,
    caller: &'c Caller,
    id: Uuid,
) -> ApiResult<(&'c Principal, processing_job::Model, audio_file::Model)> {
    let me = access::ensure_authenticated(caller)?;
    let (job, file) = visible(state, caller, id).await?;
    if !matches!(me.role, Role::Worker | Role::Admin) {
        return Err(ApiError::Forbidden);
    }
    if job.status != JobStatus::Running {
        return Err(ApiError::Conflict(format!(
            "the job is {}, not running",
            status_name(job.status)
        )));
    }
    if job.worker_subject.as_deref() != Some(me.subject.as_str()) {
        return Err(ApiError::Forbidden);
    }
    Ok((me, job, file))
}

/// Announces a change of `job` of `file`.
async fn changed(state: &AppState, file: &audio_file::Model, job: Uuid) {
    state
        .job_changed(
            file.owner_id,
            file.id,
            file.visibility == Visibility::Public,
            job,
        )
        .await;
}

/// The status as clients spell it.
fn status_name(status: JobStatus) -> &'static str {
    match status {
        JobStatus::Queued => "QUEUED",
        JobStatus::Running => "RUNNING",
        JobStatus::Succeeded => "SUCCEEDED",
        JobStatus::Failed => "FAILED",
        JobStatus::Canceled => "CANCELED",
    }
}

/// One job the caller may see, with its file.
pub async fn find_visible(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
) -> ApiResult<Option<(processing_job::Model, audio_file::Model)>> {
    match visible(state, caller, id).await {
        Ok(found) => Ok(Some(found)),
        Err(ApiError::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The current jobs of a file (those queued or running), oldest first.
pub async fn active(
    db: &DatabaseConnection,
    file_id: Uuid,
) -> ApiResult<Vec<processing_job::Model>> {
    Ok(processing_job::Entity::find()
        .filter(Column::AudioFileId.eq(file_id))
        .filter(Column::Status.is_in([JobStatus::Queued, JobStatus::Running]))
        .order_by_asc(Column::CreatedAt)
        .all(db)
        .await?)
}
