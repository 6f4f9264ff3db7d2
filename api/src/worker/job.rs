//! One claimed job, from download to `completeJob` or `failJob`.
//!
//! The work itself ([`work`]) ends in one of three ways: done, [`JobError::Lost`] (the
//! job was cancelled or its lease lost: stop quietly, for it is no longer this worker's
//! to fail), or [`JobError::Fail`], which becomes `failJob` with an `ERROR` log line.
//! Retryable are the failures that another attempt may not meet: a broken download,
//! ffmpeg exiting non-zero or killed, storage refusing an upload. Not retryable are the
//! ones it would meet again: an unknown kind, or a rendition the gateway calls
//! `BAD_USER_INPUT`.

use std::path::PathBuf;
use std::time::Instant;

use serde_json::json;

use super::WorkerConfig;
use super::client::{CallError, Gateway, Job, Level, RenditionInput};
use super::produce;
use super::progress::{Reporter, clip, is_lost};
use super::transfer;

/// Longest error sent with `failJob`, in bytes.
const MAX_ERROR: usize = 2000;

/// Why the work on a job stopped before it was done.
#[derive(Debug)]
pub enum JobError {
    /// The job is no longer this worker's: leave it alone.
    Lost(String),
    /// Give the job up.
    Fail { error: String, retryable: bool },
}

impl JobError {
    /// A failure that another attempt may not meet.
    pub fn retry(error: impl Into<String>) -> Self {
        Self::Fail {
            error: error.into(),
            retryable: true,
        }
    }

    /// A failure that every attempt would meet.
    pub fn permanent(error: impl Into<String>) -> Self {
        Self::Fail {
            error: error.into(),
            retryable: false,
        }
    }
}

impl From<CallError> for JobError {
    fn from(e: CallError) -> Self {
        if is_lost(&e) {
            return Self::Lost(e.to_string());
        }
        let retryable = e.code() != Some("BAD_USER_INPUT");
        Self::Fail {
            error: e.to_string(),
            retryable,
        }
    }
}

/// How a job ended, for the worker's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    Failed { retryable: bool },
    Lost,
}

/// One output of a job, on disk and ready to upload.
#[derive(Debug, Clone)]
pub struct Output {
    /// Rendition format, such as `mp3-128`.
    pub format: &'static str,
    pub content_type: &'static str,
    /// Bits per second, for audio renditions.
    pub bitrate: Option<i32>,
    pub path: PathBuf,
}

/// Processes a claimed job and reports how it ended; `Err` only when even that report
/// could not be made.
#[tracing::instrument(name = "job", skip_all, fields(job.id = %job.id, job.kind = %job.kind))]
pub async fn process(
    gateway: &Gateway,
    config: &WorkerConfig,
    job: &Job,
) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    tracing::info!(
        attempts = job.attempts,
        status = %job.status,
        "job {} ({}) started",
        job.id,
        job.kind
    );

    let result = match work(gateway, config, job).await {
        Ok(()) => gateway
            .complete_job(&job.id)
            .await
            .map(drop)
            .map_err(JobError::from),
        Err(e) => Err(e),
    };
    let outcome = match result {
        Ok(()) => Outcome::Succeeded,
        Err(JobError::Lost(why)) => {
            tracing::info!(reason = %why, "job {} is no longer ours", job.id);
            Outcome::Lost
        }
        Err(JobError::Fail { error, retryable }) => {
            give_up(gateway, job, &error, retryable).await?
        }
    };

    let duration_ms = started.elapsed().as_millis() as u64;
    tracing::info!(?outcome, duration_ms, "job {} finished", job.id);
    Ok(outcome)
}

/// Downloads the original, makes the outputs of the job's kind, and uploads them.
async fn work(gateway: &Gateway, config: &WorkerConfig, job: &Job) -> Result<(), JobError> {
    let file = &job.audio_file;
    let kind = produce::Kind::parse(&job.kind).ok_or_else(|| {
        JobError::permanent(format!(
            "unknown job kind {:?}: this worker handles {}",
            job.kind,
            produce::Kind::NAMES.join(" and ")
        ))
    })?;
    let mut reporter = Reporter::new(gateway, &job.id);
    let dir = tempfile::Builder::new()
        .prefix("wavegate-job-")
        .tempdir()
        .map_err(|e| JobError::retry(format!("cannot create a temporary directory: {e}")))?;

    // Fetch the original.
    let expected = u64::try_from(file.size_bytes).ok();
    let fields = json!({
        "audioFileId": file.id,
        "bytes": file.size_bytes,
        "contentType": file.content_type,
    });
    reporter
        .step(0.0, 0.1, "downloading the original", fields)
        .await?;
    let url = file.download_url.as_ref().ok_or_else(|| {
        JobError::permanent("the original has no download URL: it is deleted or not ready")
    })?;
    let original = dir.path().join("original");
    transfer::download(&gateway.http, url, &original, expected, &mut reporter).await?;

    // Make the outputs.
    let outputs = match kind {
        produce::Kind::Transcode => {
            produce::transcode(
                config,
                &original,
                file.duration_ms,
                dir.path(),
                &mut reporter,
            )
            .await?
        }
        produce::Kind::Waveform => {
            produce::waveform(
                config,
                &original,
                file.duration_ms,
                dir.path(),
                &mut reporter,
            )
            .await?
        }
    };

    // Declare and upload each of them.
    let share = 0.1 / outputs.len().max(1) as f64;
    for (i, output) in outputs.iter().enumerate() {
        let start = 0.9 + share * i as f64;
        upload(gateway, job, output, start, start + share, &mut reporter).await?;
    }
    Ok(())
}

/// Hashes one output, declares it with `createRenditionUpload`, and puts its bytes.
async fn upload(
    gateway: &Gateway,
    job: &Job,
    output: &Output,
    start: f64,
    end: f64,
    reporter: &mut Reporter<'_>,
) -> Result<(), JobError> {
    let (size, sha256) = transfer::digest(&output.path)
        .await
        .map_err(|e| JobError::retry(format!("cannot read the {} output: {e}", output.format)))?;
    let fields = json!({ "format": output.format, "bytes": size, "sha256": sha256 });
    let message = format!("uploading {}", output.format);
    reporter.step(start, end, &message, fields).await?;

    let input = RenditionInput {
        format: output.format.to_owned(),
        content_type: output.content_type.to_owned(),
        size_bytes: size,
        sha256,
        bitrate: output.bitrate,
    };
    let ticket = gateway.create_rendition_upload(&job.id, &input).await?;
    if ticket.already_stored {
        let fields = json!({ "format": output.format, "bytes": size });
        let message = format!("{} is already stored", output.format);
        return reporter.log(Level::Info, &message, Some(fields)).await;
    }
    let put = ticket.put.ok_or_else(|| {
        JobError::permanent(format!(
            "the gateway offered no single PUT for {} ({size} bytes); this worker does \
             not upload renditions in parts",
            output.format
        ))
    })?;
    transfer::upload(&gateway.http, &put, &output.path, size).await
}

/// Logs the error on the job and hands it back with `failJob`.
async fn give_up(
    gateway: &Gateway,
    job: &Job,
    error: &str,
    retryable: bool,
) -> anyhow::Result<Outcome> {
    let error = clip(error, MAX_ERROR);
    tracing::warn!(retryable, error, "job {} failed", job.id);

    // The log line is a courtesy; failJob is what counts.
    let fields = json!({ "retryable": retryable });
    if let Err(e) = gateway
        .append_log(&job.id, Level::Error, error, Some(fields))
        .await
    {
        tracing::debug!(error = %e, "cannot log the failure of job {}", job.id);
    }
    match gateway.fail_job(&job.id, error, retryable).await {
        Ok(_) => Ok(Outcome::Failed { retryable }),
        Err(e) if is_lost(&e) => Ok(Outcome::Lost),
        Err(e) => Err(anyhow::Error::new(e).context(format!("cannot fail job {}", job.id))),
    }
}
