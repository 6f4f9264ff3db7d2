//! `wavegate worker`: the reference processing worker, built on the public GraphQL API
//! alone, to show what any worker must do.
//!
//! A worker holds a bearer token of role `worker` and loops:
//!
//! 1. `claimJob(kinds)` takes the next due job, or gives `null`: then it waits
//!    [`WorkerConfig::poll_interval`] and asks again.
//! 2. It downloads the original through `audioFile.downloadUrl`, streamed to a temporary
//!    file.
//! 3. It runs ffmpeg: `transcode` makes `mp3-128` and `opus-64`; `waveform` makes
//!    `waveform-json` peaks. Any other kind fails at once, not retryable.
//! 4. While it works, `reportJobProgress` (at most every 500 ms, and at each new step)
//!    keeps the lease, and `appendJobLog` records its steps and ffmpeg's warnings.
//! 5. For each output, `createRenditionUpload` declares size and SHA-256, and the bytes
//!    go to the presigned PUT with exactly the headers listed; then `completeJob`, after
//!    which the gateway verifies what was declared.
//! 6. A failure becomes `failJob`, retryable unless another attempt would meet it too. A
//!    `CONFLICT` means the job was cancelled or its lease lost: the worker stops (ffmpeg
//!    is killed) and reports nothing more.
//!
//! # Layout
//!
//! - this file: [`WorkerConfig`], [`run_once`] and the [`run`] loop.
//! - `documents`: the GraphQL documents the worker sends.
//! - `client`: one typed call per document.
//! - `token`: the bearer token, given or minted.
//! - `job`: one job from download to `completeJob` or `failJob`.
//! - `produce`: the outputs of each kind, with ffmpeg.
//! - `ffmpeg`: running ffmpeg, reading its progress and messages.
//! - `waveform`: peaks from PCM samples.
//! - `progress`: progress reports and log lines, throttled.
//! - `transfer`: download and upload through presigned URLs.

mod client;
mod documents;
mod ffmpeg;
mod job;
mod produce;
mod progress;
mod token;
mod transfer;
pub mod waveform;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context as _;

pub use ffmpeg::check_ffmpeg;
pub(crate) use token::{Credentials, Minter, default_subject};

use client::{CallError, Gateway};

/// The job kinds this worker knows how to run.
pub const KINDS: [&str; 2] = produce::Kind::NAMES;

/// Longest wait between two claims after the gateway could not be reached.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// How long a worker that is shutting down tries to hand back its job.
const HAND_BACK_TIMEOUT: Duration = Duration::from_secs(5);

/// How a worker reaches the gateway and what it does.
#[derive(Clone)]
pub struct WorkerConfig {
    /// The GraphQL endpoint, `…/graphql`.
    pub endpoint: url::Url,
    /// Bearer token with the role `worker`; never printed.
    pub token: String,
    /// Job kinds to claim; kinds outside [`KINDS`] are claimed and failed.
    pub kinds: Vec<String>,
    /// Wait between two claims that found nothing.
    pub poll_interval: Duration,
    /// The ffmpeg program, a path or a name looked up on `PATH`.
    pub ffmpeg: PathBuf,
}

impl std::fmt::Debug for WorkerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerConfig")
            .field("endpoint", &self.endpoint.as_str())
            .field("token", &"<redacted>")
            .field("kinds", &self.kinds)
            .field("poll_interval", &self.poll_interval)
            .field("ffmpeg", &self.ffmpeg)
            .finish()
    }
}

/// Claims and processes at most one job; returns its id, or `None` when none was due.
///
/// A job that fails is reported with `failJob` and still returns its id; `Err` means
/// ffmpeg is missing, the claim failed, or the job's outcome could not be reported.
pub async fn run_once(config: &WorkerConfig) -> anyhow::Result<Option<String>> {
    check_ffmpeg(&config.ffmpeg).await?;
    let worker = Worker::new(config.clone(), Credentials::Fixed(config.token.clone()))?;
    worker.once().await
}

/// Claims and processes jobs until `shutdown` resolves.
///
/// On shutdown the job in hand is stopped and handed back with a retryable `failJob`,
/// so that another worker takes it up at once. Fails at start when ffmpeg is missing,
/// and later only when the gateway refuses the worker's token or kinds.
pub async fn run(config: WorkerConfig, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let credentials = Credentials::Fixed(config.token.clone());
    run_with(config, credentials, shutdown).await
}

/// [`run`] with the token taken from `credentials`.
pub(crate) async fn run_with(
    config: WorkerConfig,
    credentials: Credentials,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    check_ffmpeg(&config.ffmpeg).await?;
    let worker = Worker::new(config, credentials)?;
    tracing::info!(
        endpoint = %worker.config.endpoint,
        kinds = ?worker.config.kinds,
        "worker started"
    );
    let mut shutdown = std::pin::pin!(shutdown);
    let mut backoff = worker.config.poll_interval;

    loop {
        // Claim and process one job, unless asked to stop.
        let result = tokio::select! {
            biased;
            () = &mut shutdown => break,
            result = worker.once() => result,
        };

        // Wait before the next claim: not at all after a job, longer after each error.
        let wait = match result {
            Ok(Some(_)) => {
                backoff = worker.config.poll_interval;
                continue;
            }
            Ok(None) => worker.config.poll_interval,
            Err(e) => {
                if let Some(refusal) = fatal(&e, &worker.credentials) {
                    return Err(refusal);
                }
                tracing::warn!(error = format!("{e:#}"), "worker cannot claim; retrying");
                backoff = (backoff * 2).min(MAX_BACKOFF);
                backoff
            }
        };
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            () = tokio::time::sleep(wait) => {}
        }
    }

    worker.hand_back().await;
    tracing::info!("worker stopped");
    Ok(())
}

/// A worker's connection and the job it holds.
struct Worker {
    config: WorkerConfig,
    gateway: Gateway,
    /// Kept to word the refusal of a minted token.
    credentials: CredentialsKind,
    /// The id of the job in hand, to hand back on shutdown.
    current: Mutex<Option<String>>,
}

/// Whether the token was given or minted.
#[derive(Clone, Copy)]
enum CredentialsKind {
    Given,
    Minted,
}

impl Worker {
    fn new(config: WorkerConfig, credentials: Credentials) -> anyhow::Result<Self> {
        let kind = if credentials.is_minted() {
            CredentialsKind::Minted
        } else {
            CredentialsKind::Given
        };
        let gateway = Gateway::new(config.endpoint.clone(), credentials)
            .context("cannot build the HTTP client")?;
        Ok(Self {
            config,
            gateway,
            credentials: kind,
            current: Mutex::new(None),
        })
    }

    /// Claims one job and processes it.
    async fn once(&self) -> anyhow::Result<Option<String>> {
        let Some(job) = self.gateway.claim_job(&self.config.kinds).await? else {
            return Ok(None);
        };
        self.hold(Some(job.id.clone()));
        let outcome = job::process(&self.gateway, &self.config, &job).await;
        self.hold(None);
        outcome?;
        Ok(Some(job.id))
    }

    /// Records the job in hand.
    fn hold(&self, id: Option<String>) {
        // A panic while holding the lock cannot leave the id half-written.
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = id;
    }

    /// Hands back the job whose work was interrupted by shutdown, if any.
    async fn hand_back(&self) {
        let id = self
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(id) = id else { return };
        let error = "the worker shut down before finishing";
        let handed =
            tokio::time::timeout(HAND_BACK_TIMEOUT, self.gateway.fail_job(&id, error, true)).await;
        match handed {
            Ok(Ok(_)) => tracing::info!(job.id = %id, "job {id} handed back"),
            Ok(Err(e)) => tracing::warn!(job.id = %id, error = %e, "cannot hand back job {id}"),
            Err(_) => tracing::warn!(job.id = %id, "cannot hand back job {id}: timed out"),
        }
    }
}

/// The errors that no retry will cure: the gateway refusing the token, the role or the
/// kinds. The message says what to change.
fn fatal(e: &anyhow::Error, credentials: &CredentialsKind) -> Option<anyhow::Error> {
    let call = e.downcast_ref::<CallError>()?;
    let hint = match (call.code()?, credentials) {
        ("UNAUTHENTICATED", CredentialsKind::Minted) => {
            "the token minted from this machine's HS256 secret was refused: give the \
             server's token with --token or WAVEGATE_WORKER_TOKEN"
        }
        ("UNAUTHENTICATED", CredentialsKind::Given) => "the worker token was refused",
        ("FORBIDDEN", _) => "the token does not carry the role worker",
        ("BAD_USER_INPUT", _) => "the gateway refused the job kinds",
        _ => return None,
    };
    Some(anyhow::anyhow!("{hint} ({call})"))
}
