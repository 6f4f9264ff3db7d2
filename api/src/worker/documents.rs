//! The GraphQL documents the worker sends, in the order a job sees them. Each is a
//! named operation, so the gateway's per-operation metrics and logs tell them apart; the
//! worker asks only for the fields it reads.

/// Claims one due job of the given kinds, with what the worker needs to fetch its file.
pub const CLAIM_JOB: &str = "mutation ClaimJob($kinds: [String!]!) {
  claimJob(kinds: $kinds) {
    id kind status attempts
    audioFile {
      id durationMs contentType sizeBytes
      downloadUrl(expiresIn: 900) { url method headers { name value } }
    }
  }
}";

/// Reports progress; it also renews the job's lease.
pub const REPORT_JOB_PROGRESS: &str =
    "mutation ReportJobProgress($id: ID!, $progress: Float!, $message: String) {
  reportJobProgress(id: $id, progress: $progress, message: $message) { id status }
}";

/// Appends one line to the job's log.
pub const APPEND_JOB_LOG: &str =
    "mutation AppendJobLog($id: ID!, $level: LogLevel!, $message: String!, $fields: JSON) {
  appendJobLog(id: $id, level: $level, message: $message, fields: $fields)
}";

/// Declares one rendition and asks where to put its bytes.
pub const CREATE_RENDITION_UPLOAD: &str =
    "mutation CreateRenditionUpload($jobId: ID!, $input: RenditionUploadInput!) {
  createRenditionUpload(jobId: $jobId, input: $input) {
    alreadyStored
    put { url method headers { name value } }
  }
}";

/// Finishes the job once every declared rendition is stored.
pub const COMPLETE_JOB: &str = "mutation CompleteJob($id: ID!) {
  completeJob(id: $id) { id status }
}";

/// Gives the job up, to be retried or not.
pub const FAIL_JOB: &str = "mutation FailJob($id: ID!, $error: String!, $retryable: Boolean!) {
  failJob(id: $id, error: $error, retryable: $retryable) { id status }
}";
