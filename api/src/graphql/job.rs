//! `ProcessingJob`, its log lines, and the `processingJob` query.

use async_graphql::{ComplexObject, Context, ID, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{processing_job, processing_log};

use super::audio_file::{AudioFile, readable_file};
use super::context::ContextExt;
use super::types::{self, JobStatus, LogLevel, Long, PageInfo};
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
        ctx.depends_on(crate::cache::owner(file.owner_id));
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
