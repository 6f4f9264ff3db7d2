//! Telling the gateway how a job goes: progress (which also renews the lease) and log
//! lines.
//!
//! A job is a sequence of steps (download, one ffmpeg run per output, uploads), each
//! covering a slice of the 0.0 to 1.0 progress range. A new step is reported at once,
//! with an `INFO` log line that carries structured fields (so the progress report itself
//! goes without a `message`, which the gateway would log a second time); progress inside
//! a step at most every [`PROGRESS_EVERY`], or every [`HEARTBEAT_EVERY`] when the step
//! cannot say how far it got.
//!
//! A `CONFLICT`, `FORBIDDEN` or `NOT_FOUND` answer, or a job no longer `RUNNING`, means
//! the job was cancelled, finished, or reclaimed by another worker after the lease ran
//! out: [`JobError::Lost`] stops the work.
//! Any other failure to report is logged here and the work goes on; a missed report
//! costs nothing while the lease lasts.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::client::{CallError, Gateway, Level};
use super::job::JobError;

/// Smallest interval between two progress reports within a step.
pub const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// Interval between reports when a step's progress is unknown, to keep the lease.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);

/// Longest message sent to the gateway, in bytes.
const MAX_MESSAGE: usize = 2000;

/// Reports the progress and log of one job.
pub struct Reporter<'a> {
    gateway: &'a Gateway,
    job_id: &'a str,
    /// Overall progress where the current step starts.
    start: f64,
    /// Overall progress where the current step ends.
    end: f64,
    /// When progress was last sent.
    last_sent: Instant,
}

impl<'a> Reporter<'a> {
    /// A reporter for the job `job_id`.
    pub fn new(gateway: &'a Gateway, job_id: &'a str) -> Self {
        Self {
            gateway,
            job_id,
            start: 0.0,
            end: 0.0,
            last_sent: Instant::now(),
        }
    }

    /// Starts a step covering `start..end` of the job: logs `message` at `INFO` with
    /// `fields`, and reports `start`.
    pub async fn step(
        &mut self,
        start: f64,
        end: f64,
        message: &str,
        fields: Value,
    ) -> Result<(), JobError> {
        self.start = start;
        self.end = end.max(start);
        self.log(Level::Info, message, Some(fields)).await?;
        self.send(start).await
    }

    /// Reports that `done` (0.0 to 1.0, `None` when unknown) of the step is done, unless
    /// the last report is too recent.
    pub async fn advance(&mut self, done: Option<f64>) -> Result<(), JobError> {
        let every = if done.is_some() {
            PROGRESS_EVERY
        } else {
            HEARTBEAT_EVERY
        };
        if self.last_sent.elapsed() < every {
            return Ok(());
        }
        let done = done.unwrap_or(0.0).clamp(0.0, 1.0);
        let overall = self.start + (self.end - self.start) * done;
        self.send(overall).await
    }

    /// Appends a line to the job's log.
    pub async fn log(
        &self,
        level: Level,
        message: &str,
        fields: Option<Value>,
    ) -> Result<(), JobError> {
        let message = clip(message, MAX_MESSAGE);
        match self
            .gateway
            .append_log(self.job_id, level, message, fields)
            .await
        {
            Ok(()) => Ok(()),
            Err(e) => self.keep_going_unless_lost(e),
        }
    }

    /// Sends `progress` now.
    async fn send(&mut self, progress: f64) -> Result<(), JobError> {
        self.last_sent = Instant::now();
        match self
            .gateway
            .report_progress(self.job_id, progress, None)
            .await
        {
            Ok(state) if state.status == "RUNNING" => Ok(()),
            Ok(state) => Err(JobError::Lost(format!("the job is {}", state.status))),
            Err(e) => self.keep_going_unless_lost(e),
        }
    }

    /// A lost job stops the work; anything else is logged and ignored.
    fn keep_going_unless_lost(&self, e: CallError) -> Result<(), JobError> {
        if is_lost(&e) {
            return Err(JobError::Lost(e.to_string()));
        }
        tracing::warn!(job.id = self.job_id, error = %e, "cannot report on job {}", self.job_id);
        Ok(())
    }
}

/// Whether an error about a held job means it is no longer this worker's: `CONFLICT`
/// (cancelled, finished, or reclaimed), `FORBIDDEN` (another worker holds it now), or
/// `NOT_FOUND` (gone with its file).
pub fn is_lost(e: &CallError) -> bool {
    matches!(e.code(), Some("CONFLICT" | "FORBIDDEN" | "NOT_FOUND"))
}

/// The first `max` bytes of `text`, cut at a character boundary.
pub fn clip(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_cuts_at_a_character_boundary() {
        assert_eq!(clip("héllo", 2), "h");
        assert_eq!(clip("héllo", 3), "hé");
        assert_eq!(clip("abc", 10), "abc");
    }
}
