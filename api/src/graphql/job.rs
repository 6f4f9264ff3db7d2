//! `ProcessingJob` and its log lines; the `processingJob` query; the job mutations of
//! owners (enqueue, cancel) and workers (claim, progress, logs, outputs, fail, complete);
//! and the `jobUpdates` subscription.

use async_graphql::{
    ComplexObject, Context, ID, InputObject, Json, Object, SimpleObject, Subscription,
};
use chrono::{DateTime, Utc};
use entity::{processing_job, processing_log};
use futures::Stream;

use super::audio_file::{AudioFile, readable_file, writable_file};
use super::context::ContextExt;
use super::types::{self, JobStatus, LogLevel, Long, PageInfo};
use super::upload::UploadTicket;
use crate::error::{ApiError, ApiResult};
use crate::service::jobs;

/// One step of the processing pipeline for a file.
pub struct ProcessingJob(pub processing_job::Model);

#[Object]
impl ProcessingJob {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The file the job works on.
    async fn audio_file(&self, ctx: &Context<'_>) -> ApiResult<AudioFile> {
        let file = ctx
            .request()?
            .loaders
            .files
            .load_one(self.0.audio_file_id)
            .await?;
        let file =
            file.ok_or_else(|| ApiError::internal(format_args!("job {} has no file", self.0.id)))?;
        ctx.depends_on(crate::cache::file(file.id));
        Ok(AudioFile(file))
    }

    /// What the job does, such as `transcode` or `waveform`.
    async fn kind(&self) -> &str {
        &self.0.kind
    }

    async fn status(&self) -> JobStatus {
        self.0.status.into()
    }

    /// Fraction done, 0.0 to 1.0.
    async fn progress(&self) -> f64 {
        self.0.progress
    }

    /// How many times a worker has claimed the job.
    async fn attempts(&self) -> i32 {
        self.0.attempts
    }

    /// The last error a worker reported.
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn started_at(&self) -> Option<DateTime<Utc>> {
        self.0.started_at
    }

    async fn finished_at(&self) -> Option<DateTime<Utc>> {
        self.0.finished_at
    }

    /// Log lines in the order they were written, at `minLevel` or above (`first` is 0 to
    /// 1000).
    async fn logs(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 100)] first: Option<i32>,
        after: Option<String>,
        min_level: Option<LogLevel>,
    ) -> ApiResult<ProcessingLogConnection> {
        // Workers append lines at any time and no generation counter follows them: an
        // answer that shows logs is never cached.
        ctx.request()?.deps.uncacheable();
        let first = first.unwrap_or(100);
        let after_id = match &after {
            None => None,
            Some(raw) => Some(
                raw.parse::<i64>()
                    .map_err(|_| ApiError::bad_input("after is not a cursor of this list"))?,
            ),
        };
        let page = jobs::logs(
            &ctx.state()?.db,
            self.0.id,
            first,
            after_id,
            min_level.map(Into::into),
        )
        .await?;
        let edges: Vec<ProcessingLogEdge> = page
            .rows
            .into_iter()
            .map(|row| ProcessingLogEdge {
                cursor: row.id.to_string(),
                node: ProcessingLog(row),
            })
            .collect();
        let page_info = PageInfo {
            has_next_page: page.has_next,
            has_previous_page: after.is_some(),
            start_cursor: edges.first().map(|e| e.cursor.clone()),
            end_cursor: edges.last().map(|e| e.cursor.clone()),
        };
        Ok(ProcessingLogConnection {
            edges,
            page_info,
            page_condition: page.condition,
        })
    }
}

/// One log line of a job.
pub struct ProcessingLog(pub processing_log::Model);

#[Object]
impl ProcessingLog {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn level(&self) -> LogLevel {
        self.0.level.into()
    }

    async fn message(&self) -> &str {
        &self.0.message
    }

    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }

    /// Structured fields the worker attached.
    async fn fields(&self) -> Option<Json<serde_json::Value>> {
        self.0.fields.clone().map(Json)
    }
}

/// An edge of a log listing.
#[derive(SimpleObject)]
pub struct ProcessingLogEdge {
    pub cursor: String,
    pub node: ProcessingLog,
}

/// A page of log lines (Relay connection).
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct ProcessingLogConnection {
    pub edges: Vec<ProcessingLogEdge>,
    pub page_info: PageInfo,
    #[graphql(skip)]
    pub page_condition: sea_orm::Condition,
}

#[ComplexObject]
impl ProcessingLogConnection {
    /// How many lines the whole listing holds.
    async fn total_count(&self, ctx: &Context<'_>) -> ApiResult<Long> {
        let n = jobs::count_logs(&ctx.state()?.db, self.page_condition.clone()).await?;
        Ok(Long(i64::try_from(n).unwrap_or(i64::MAX)))
    }
}

/// Queries about jobs.
#[derive(Default)]
pub struct JobQuery;

#[Object]
impl JobQuery {
    /// One job by id; `null` when it does not exist or the caller may not see its file.
    async fn processing_job(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<ProcessingJob>> {
        let Some(uuid) = types::parse_id(&id) else {
            return Err(ApiError::bad_input("id is not a valid job id"));
        };
        let Some(job) = jobs::find(&ctx.state()?.db, uuid).await? else {
            return Ok(None);
        };
        let file_id = ID(job.audio_file_id.to_string());
        let visible = readable_file(ctx, &file_id).await?.is_some();
        Ok(visible.then_some(ProcessingJob(job)))
    }
}

/// A job id argument.
fn job_id(id: &ID) -> ApiResult<uuid::Uuid> {
    types::parse_id(id).ok_or_else(|| ApiError::bad_input("id is not a valid job id"))
}

/// An output a worker is about to upload for a job.
#[derive(InputObject, Debug)]
pub struct RenditionUploadInput {
    /// Short name, such as `mp3-128`, `opus-64` or `waveform-json`.
    pub format: String,
    /// `audio/...` for encodings, `application/json` for data such as waveform peaks.
    pub content_type: String,
    /// Exact length in bytes.
    pub size_bytes: Long,
    /// Lower-case hex SHA-256 of the bytes.
    pub sha256: String,
    /// Bits per second, for audio.
    pub bitrate: Option<i32>,
}

/// Job mutations.
#[derive(Default)]
pub struct JobMutation;

#[Object]
impl JobMutation {
    /// Queues a job of `kind` on a `READY` file the caller may change (owner or admin).
    /// A job of that kind already queued or running for the file is returned instead.
    async fn enqueue_job(
        &self,
        ctx: &Context<'_>,
        audio_file_id: ID,
        kind: String,
    ) -> ApiResult<ProcessingJob> {
        let file = writable_file(ctx, &audio_file_id).await?;
        Ok(ProcessingJob(
            jobs::enqueue(ctx.state()?, &file, &kind).await?,
        ))
    }

    /// Takes the oldest due job of one of `kinds` (workers only); `null` when none is due.
    /// The job is the caller's until it completes or fails, or until its lease runs out
    /// without a progress report.
    async fn claim_job(
        &self,
        ctx: &Context<'_>,
        kinds: Vec<String>,
    ) -> ApiResult<Option<ProcessingJob>> {
        let job = jobs::claim(ctx.state()?, &ctx.request()?.caller, kinds).await?;
        Ok(job.map(ProcessingJob))
    }

    /// Records progress (0.0 to 1.0) of a job the caller holds and renews its lease;
    /// `message` becomes an `INFO` log line. `CONFLICT` when the job was cancelled or
    /// reclaimed: stop working on it.
    async fn report_job_progress(
        &self,
        ctx: &Context<'_>,
        id: ID,
        progress: f64,
        message: Option<String>,
    ) -> ApiResult<ProcessingJob> {
        let job = jobs::report_progress(
            ctx.state()?,
            &ctx.request()?.caller,
            job_id(&id)?,
            progress,
            message,
        )
        .await?;
        Ok(ProcessingJob(job))
    }

    /// Appends a log line (message up to 16 KiB, `fields` up to 16 KiB of JSON) to a job
    /// the caller holds.
    async fn append_job_log(
        &self,
        ctx: &Context<'_>,
        id: ID,
        level: LogLevel,
        message: String,
        fields: Option<Json<serde_json::Value>>,
    ) -> ApiResult<bool> {
        jobs::append_log(
            ctx.state()?,
            &ctx.request()?.caller,
            job_id(&id)?,
            level.into(),
            &message,
            fields.map(|f| f.0),
        )
        .await?;
        Ok(true)
    }

    /// Declares an output of a job the caller holds and returns a presigned PUT for its
    /// bytes; storage refuses bytes that differ from the declared hash, type or length.
    async fn create_rendition_upload(
        &self,
        ctx: &Context<'_>,
        job_id: ID,
        input: RenditionUploadInput,
    ) -> ApiResult<UploadTicket> {
        let declaration = jobs::OutputDeclaration {
            format: input.format,
            content_type: input.content_type,
            size_bytes: input.size_bytes.0,
            sha256: input.sha256,
            bitrate: input.bitrate,
        };
        let id = self::job_id(&job_id)?;
        let (file, put) =
            jobs::declare_output(ctx.state()?, &ctx.request()?.caller, id, declaration).await?;
        Ok(UploadTicket {
            audio_file: Some(AudioFile(file)),
            already_stored: false,
            put: Some(put.into()),
            multipart: None,
        })
    }

    /// Verifies every output the job declared and makes them renditions of the file, then
    /// marks the job `SUCCEEDED`.
    async fn complete_job(&self, ctx: &Context<'_>, id: ID) -> ApiResult<ProcessingJob> {
        let job = jobs::complete(ctx.state()?, &ctx.request()?.caller, job_id(&id)?).await?;
        Ok(ProcessingJob(job))
    }

    /// Reports that a job the caller holds failed. Retryable failures go back to the queue
    /// after a backoff while attempts are left (`WAVEGATE_JOB_MAX_ATTEMPTS`); otherwise
    /// the job is `FAILED` with `error`.
    async fn fail_job(
        &self,
        ctx: &Context<'_>,
        id: ID,
        error: String,
        #[graphql(default_with = "Some(true)")] retryable: Option<bool>,
    ) -> ApiResult<ProcessingJob> {
        let job = jobs::fail(
            ctx.state()?,
            &ctx.request()?.caller,
            job_id(&id)?,
            &error,
            retryable.unwrap_or(true),
        )
        .await?;
        Ok(ProcessingJob(job))
    }

    /// Cancels a queued or running job of a file the caller may change (owner or admin).
    async fn cancel_job(&self, ctx: &Context<'_>, id: ID) -> ApiResult<ProcessingJob> {
        let job = jobs::cancel(ctx.state()?, &ctx.request()?.caller, job_id(&id)?).await?;
        Ok(ProcessingJob(job))
    }
}

/// Live job updates.
#[derive(Default)]
pub struct JobSubscription;

#[Subscription]
impl JobSubscription {
    /// The jobs of a file as they change: first those queued or running now, then every
    /// change (claimed, progress, failed, retried, completed, cancelled). Same access
    /// rules as `audioFile(id)`: a file the caller may not see is `NOT_FOUND`.
    async fn job_updates(
        &self,
        ctx: &Context<'_>,
        audio_file_id: ID,
    ) -> async_graphql::Result<impl Stream<Item = ProcessingJob> + use<>> {
        let state = ctx.state()?.clone();
        let caller = ctx.request()?.caller.clone();
        let Some(file) = readable_file(ctx, &audio_file_id).await? else {
            return Err(ApiError::NotFound.into());
        };
        // Listen first, then read the current state, so no change falls in between.
        let mut events = state.job_events.subscribe();
        let current = jobs::active(&state.db, file.id).await?;
        let file_id = file.id;
        Ok(async_stream::stream! {
            for job in current {
                yield ProcessingJob(job);
            }
            loop {
                let event = match events.recv().await {
                    Ok(event) => event,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "a jobUpdates subscriber fell behind");
                        continue;
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                };
                if event.file_id != file_id {
                    continue;
                }
                // The job as it is now, if the caller may still see its file.
                match jobs::find_visible(&state, &caller, event.job_id).await {
                    Ok(Some((job, _))) => yield ProcessingJob(job),
                    Ok(None) => break,
                    Err(e) => tracing::warn!(code = e.code(), "jobUpdates could not read a job"),
                }
            }
        })
    }
}
