//! Putting jobs in the queue, handing them to workers, and taking them out.

use entity::enums::{AudioStatus, JobStatus, Role};
use entity::{audio_file, processing_job, rendition_upload};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait,
    QueryFilter, Statement, Value,
};
use uuid::Uuid;

use super::{changed, status_name, visible};
use crate::auth::{Caller, access};
use crate::error::{ApiError, ApiResult};
use crate::service::{deletions, now, validate};
use crate::state::AppState;

/// Most kinds one `claimJob` may name.
const MAX_CLAIM_KINDS: usize = 32;
/// Jobs whose lease ran out with no attempt left that one claim fails on its way to a
/// claimable job.
const MAX_EXHAUSTED_PER_CLAIM: usize = 16;

/// Queues a job of `kind` on a `READY` file the caller may change. A job of that kind
/// already queued or running for the file is returned instead of a second one.
pub async fn enqueue(
    state: &AppState,
    file: &audio_file::Model,
    kind: &str,
) -> ApiResult<processing_job::Model> {
    let kind = validate::job_kind(kind)?;
    if file.status != AudioStatus::Ready {
        return Err(ApiError::Conflict(
            "jobs run on READY files only".to_owned(),
        ));
    }
    let existing = processing_job::Entity::find()
        .filter(processing_job::Column::AudioFileId.eq(file.id))
        .filter(processing_job::Column::Kind.eq(&kind))
        .filter(processing_job::Column::Status.is_in([JobStatus::Queued, JobStatus::Running]))
        .one(&state.db)
        .await?;
    if let Some(job) = existing {
        return Ok(job);
    }
    let at = now();
    let job = processing_job::ActiveModel {
        id: Set(Uuid::now_v7()),
        audio_file_id: Set(file.id),
        kind: Set(kind),
        status: Set(JobStatus::Queued),
        progress: Set(0.0),
        attempts: Set(0),
        error: Set(None),
        worker_subject: Set(None),
        lease_expires_at: Set(None),
        due_at: Set(Some(at)),
        created_at: Set(at),
        started_at: Set(None),
        finished_at: Set(None),
    }
    .insert(&state.db)
    .await?;
    changed(state, file, job.id).await;
    Ok(job)
}

/// Queues the default pipeline (`WAVEGATE_PIPELINE`) for a file that just became `READY`.
/// A failure is logged, never returned: the file is stored either way, and its owner can
/// queue the jobs by hand.
pub async fn enqueue_pipeline(state: &AppState, file: &audio_file::Model) {
    for kind in &state.settings.pipeline {
        if let Err(e) = enqueue(state, file, kind).await {
            tracing::error!(file.id = %file.id, kind = %kind, error = ?e, "pipeline job not queued");
        }
    }
}

/// Hands the oldest due job of one of `kinds` to the calling worker, or `None` when none
/// is due. Each job goes to exactly one worker: on PostgreSQL the candidate row is locked
/// with `FOR UPDATE SKIP LOCKED`, so concurrent claims take different jobs without
/// waiting; SQLite runs one write at a time, which gives the same guarantee.
pub async fn claim(
    state: &AppState,
    caller: &Caller,
    kinds: Vec<String>,
) -> ApiResult<Option<processing_job::Model>> {
    let me = access::ensure_authenticated(caller)?;
    if !matches!(me.role, Role::Worker | Role::Admin) {
        return Err(ApiError::Forbidden);
    }
    if kinds.is_empty() || kinds.len() > MAX_CLAIM_KINDS {
        return Err(ApiError::bad_input(format!(
            "kinds must name 1 to {MAX_CLAIM_KINDS} job kinds"
        )));
    }
    let kinds = kinds
        .iter()
        .map(|k| validate::job_kind(k))
        .collect::<ApiResult<Vec<_>>>()?;

    for _ in 0..=MAX_EXHAUSTED_PER_CLAIM {
        let stmt = claim_statement(state, &me.subject, &kinds);
        let Some(job) = processing_job::Entity::find()
            .from_raw_sql(stmt)
            .one(&state.db)
            .await?
        else {
            return Ok(None);
        };
        if let Some(file) = audio_file::Entity::find_by_id(job.audio_file_id)
            .one(&state.db)
            .await?
        {
            changed(state, &file, job.id).await;
        }
        if job.status == JobStatus::Running {
            return Ok(Some(job));
        }
        // Its lease ran out on its last attempt: failed; look for another.
        tracing::info!(job.id = %job.id, attempts = job.attempts, "job failed: lease expired");
    }
    Ok(None)
}

/// The claiming statement: one `UPDATE … RETURNING`, atomic on both databases.
///
/// A due job is queued (past any retry backoff) or running with its lease run out. It
/// becomes running under the caller with a fresh lease, one attempt more; a running one
/// that has no attempt left becomes failed instead.
///
/// On PostgreSQL the oldest due job is picked among the heads of each asked kind (one
/// short scan of the `(kind, due_at)` index per kind, skipping rows other workers hold
/// locked); a single `kind IN (…)` scan would step over every due job of other kinds
/// ahead of them. SQLite runs one write at a time and needs no row locks.
fn claim_statement(state: &AppState, worker: &str, kinds: &[String]) -> Statement {
    const UPDATE: &str = "UPDATE processing_jobs SET \
        status = CASE WHEN {exhausted} THEN 'failed' ELSE 'running' END, \
        attempts = CASE WHEN {exhausted} THEN attempts ELSE attempts + 1 END, \
        error = CASE WHEN {exhausted} THEN {message} ELSE error END, \
        finished_at = CASE WHEN {exhausted} THEN {now} ELSE NULL END, \
        started_at = CASE WHEN {exhausted} THEN started_at ELSE {now} END, \
        due_at = CASE WHEN {exhausted} THEN NULL ELSE {lease} END, \
        lease_expires_at = CASE WHEN {exhausted} THEN NULL ELSE {lease} END, \
        worker_subject = CASE WHEN {exhausted} THEN NULL ELSE {worker} END, \
        progress = CASE WHEN {exhausted} THEN progress ELSE 0 END \
        WHERE id = (";
    const PICK_POSTGRES: &str = "SELECT head.id FROM (VALUES {kind_rows}) AS asked (kind) \
        CROSS JOIN LATERAL (SELECT id, due_at FROM processing_jobs \
        WHERE kind = asked.kind AND status IN ('queued', 'running') AND due_at <= {now} \
        ORDER BY due_at LIMIT 1 FOR UPDATE SKIP LOCKED) AS head \
        ORDER BY head.due_at LIMIT 1";
    const PICK_SQLITE: &str = "SELECT id FROM processing_jobs \
        WHERE status IN ('queued', 'running') AND due_at <= {now} AND kind IN ({kinds}) \
        ORDER BY due_at LIMIT 1";

    let backend = state.db.get_database_backend();
    let at = now();
    let lease = at + chrono::Duration::from_std(state.settings.job_lease).unwrap_or_default();
    let max = state.settings.job_max_attempts;
    let postgres = backend == DatabaseBackend::Postgres;
    let template = [
        UPDATE,
        if postgres { PICK_POSTGRES } else { PICK_SQLITE },
        ") RETURNING *",
    ]
    .concat();

    // Each `{name}` becomes placeholders; PostgreSQL numbers them and reuses a number,
    // SQLite binds every occurrence in the order of the text.
    let mut values: Vec<Value> = Vec::new();
    let mut numbered: Vec<(&str, String)> = Vec::new();
    let mut sql = String::with_capacity(template.len() + 64);
    let mut rest = template.as_str();
    while let Some(open) = rest.find('{') {
        sql.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        let name = &rest[open + 1..open + close];
        rest = &rest[open + close + 1..];
        if postgres && let Some((_, text)) = numbered.iter().find(|(n, _)| *n == name) {
            sql.push_str(text);
            continue;
        }
        let bound: Vec<Value> = match name {
            "exhausted" => vec![max.into()],
            "message" => vec!["the worker stopped reporting and no attempt is left".into()],
            "now" => vec![at.into()],
            "lease" => vec![lease.into()],
            "worker" => vec![worker.into()],
            _ => kinds.iter().map(|k| k.clone().into()).collect(),
        };
        let mut places = Vec::new();
        for value in bound {
            values.push(value);
            places.push(if postgres {
                format!("${}", values.len())
            } else {
                "?".to_owned()
            });
        }
        let text = match name {
            "exhausted" => format!("(status = 'running' AND attempts >= {})", places[0]),
            "kind_rows" => places
                .iter()
                .map(|p| format!("({p})"))
                .collect::<Vec<_>>()
                .join(", "),
            _ => places.join(", "),
        };
        sql.push_str(&text);
        numbered.push((name, text));
    }
    sql.push_str(rest);
    Statement::from_sql_and_values(backend, sql, values)
}

/// Cancels a queued or running job of a file the caller may change (its owner or an
/// admin). Outputs the job declared are dropped; the worker learns of it at its next
/// report, which is refused.
pub async fn cancel(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
) -> ApiResult<processing_job::Model> {
    let (job, file) = visible(state, caller, id).await?;
    access::ensure_write(caller, &file)?;
    if !matches!(job.status, JobStatus::Queued | JobStatus::Running) {
        return Err(ApiError::Conflict(format!(
            "the job is {} already",
            status_name(job.status)
        )));
    }
    let txn = crate::db::begin_write(&state.db).await?;
    let done = processing_job::Entity::update_many()
        .col_expr(processing_job::Column::Status, JobStatus::Canceled.into())
        .col_expr(processing_job::Column::FinishedAt, Some(now()).into())
        .col_expr(
            processing_job::Column::DueAt,
            Option::<chrono::DateTime<chrono::Utc>>::None.into(),
        )
        .col_expr(
            processing_job::Column::LeaseExpiresAt,
            Option::<chrono::DateTime<chrono::Utc>>::None.into(),
        )
        .filter(processing_job::Column::Id.eq(id))
        .filter(processing_job::Column::Status.is_in([JobStatus::Queued, JobStatus::Running]))
        .exec(&txn)
        .await?;
    if done.rows_affected != 1 {
        return Err(ApiError::Conflict("the job finished meanwhile".to_owned()));
    }
    drop_outputs(&txn, id).await?;
    txn.commit().await?;
    state.deletions_due.notify_one();
    changed(state, &file, id).await;
    super::find(&state.db, id).await?.ok_or(ApiError::NotFound)
}

/// Drops the outputs a job declared and never completed, queueing their objects for
/// removal.
pub(super) async fn drop_outputs(db: &impl ConnectionTrait, job_id: Uuid) -> ApiResult<()> {
    let declared = rendition_upload::Entity::find()
        .filter(rendition_upload::Column::JobId.eq(job_id))
        .all(db)
        .await?;
    for output in &declared {
        deletions::enqueue(db, &output.object_key, None).await?;
    }
    rendition_upload::Entity::delete_many()
        .filter(rendition_upload::Column::JobId.eq(job_id))
        .exec(db)
        .await?;
    Ok(())
}
