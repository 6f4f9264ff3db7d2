//! The worker's side of the GraphQL API: one typed method per mutation it sends.
//!
//! Every call is a `POST` of `{query, operationName, variables}` to the endpoint with the
//! worker's bearer token. A response with `errors` becomes [`CallError::Api`], carrying the
//! first error's `extensions.code`, which is how the worker tells a lost job (`CONFLICT`)
//! from a refused rendition (`BAD_USER_INPUT`) from a passing outage.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use url::Url;

use super::documents::{
    APPEND_JOB_LOG, CLAIM_JOB, COMPLETE_JOB, CREATE_RENDITION_UPLOAD, FAIL_JOB, REPORT_JOB_PROGRESS,
};
use super::token::Credentials;

/// How long one GraphQL call may take, connection included.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a call to the gateway did not give the expected data.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The gateway answered with a GraphQL error.
    #[error("{operation} was refused ({}): {message}", code.as_deref().unwrap_or("no code"))]
    Api {
        operation: &'static str,
        /// `extensions.code` of the first error.
        code: Option<String>,
        message: String,
    },
    /// The gateway could not be reached, or the answer was not GraphQL.
    #[error("{operation} failed: {reason}")]
    Transport {
        operation: &'static str,
        reason: String,
    },
}

impl CallError {
    /// The error's `extensions.code`, when the gateway sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { code, .. } => code.as_deref(),
            Self::Transport { .. } => None,
        }
    }
}

/// A claimed job, as `claimJob` returns it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub id: String,
    /// `transcode`, `waveform`, or a kind this worker does not know.
    pub kind: String,
    /// `RUNNING` once claimed.
    pub status: String,
    /// How many times a worker has claimed the job, this claim included.
    pub attempts: i32,
    pub audio_file: JobFile,
}

/// The original file of a job.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobFile {
    pub id: String,
    /// Scales ffmpeg's `out_time` into a fraction; absent when the probe found none.
    pub duration_ms: Option<i64>,
    /// Recorded with the download step.
    pub content_type: String,
    /// Checked against the bytes downloaded.
    pub size_bytes: i64,
    /// Absent when the file may not be read any more.
    pub download_url: Option<SignedUrl>,
}

/// A presigned storage URL and the headers that must go with it.
#[derive(Clone, Deserialize)]
pub struct SignedUrl {
    pub url: String,
    /// The HTTP method the signature covers; `GET` or `PUT` when absent.
    pub method: Option<String>,
    pub headers: Vec<HttpHeader>,
}

impl std::fmt::Debug for SignedUrl {
    // The query string holds the signature: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedUrl")
            .field("method", &self.method)
            .field("headers", &self.headers.len())
            .finish_non_exhaustive()
    }
}

/// One header of a presigned request.
#[derive(Debug, Clone, Deserialize)]
pub struct HttpHeader {
    pub name: String,
    pub value: String,
}

/// Where to put a rendition's bytes.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ticket {
    /// The same bytes are already stored: nothing to upload.
    pub already_stored: bool,
    pub put: Option<SignedUrl>,
}

/// `RenditionUploadInput`: what the worker declares about one output before uploading it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RenditionInput {
    pub format: String,
    pub content_type: String,
    pub size_bytes: u64,
    /// Lower-case hex.
    pub sha256: String,
    pub bitrate: Option<i32>,
}

/// The state of a job after a mutation.
#[derive(Debug, Clone, Deserialize)]
pub struct JobState {
    /// `RUNNING` while the worker still holds the job.
    pub status: String,
}

/// `LogLevel` of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    Info,
    Warn,
    Error,
}

/// A GraphQL client bound to one endpoint and one identity.
pub struct Gateway {
    /// Shared with the downloads and uploads to storage.
    pub http: reqwest::Client,
    /// `…/graphql`.
    endpoint: Url,
    /// Where the bearer token comes from.
    credentials: Credentials,
}

impl Gateway {
    /// A client for `endpoint`.
    pub fn new(endpoint: Url, credentials: Credentials) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60))
            .user_agent(concat!("wavegate-worker/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            http,
            endpoint,
            credentials,
        })
    }

    /// `claimJob`: the next due job, or `None` when there is none.
    pub async fn claim_job(&self, kinds: &[String]) -> Result<Option<Job>, CallError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Data {
            claim_job: Option<Job>,
        }
        let data: Data = self
            .call("ClaimJob", CLAIM_JOB, json!({ "kinds": kinds }))
            .await?;
        Ok(data.claim_job)
    }

    /// `reportJobProgress`, `progress` from 0.0 to 1.0.
    pub async fn report_progress(
        &self,
        id: &str,
        progress: f64,
        message: Option<&str>,
    ) -> Result<JobState, CallError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Data {
            report_job_progress: JobState,
        }
        let vars = json!({ "id": id, "progress": progress.clamp(0.0, 1.0), "message": message });
        let data: Data = self
            .call("ReportJobProgress", REPORT_JOB_PROGRESS, vars)
            .await?;
        Ok(data.report_job_progress)
    }

    /// `appendJobLog`.
    pub async fn append_log(
        &self,
        id: &str,
        level: Level,
        message: &str,
        fields: Option<Value>,
    ) -> Result<(), CallError> {
        let vars = json!({ "id": id, "level": level, "message": message, "fields": fields });
        let _: Value = self.call("AppendJobLog", APPEND_JOB_LOG, vars).await?;
        Ok(())
    }

    /// `createRenditionUpload`.
    pub async fn create_rendition_upload(
        &self,
        job_id: &str,
        input: &RenditionInput,
    ) -> Result<Ticket, CallError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Data {
            create_rendition_upload: Ticket,
        }
        let vars = json!({ "jobId": job_id, "input": input });
        let data: Data = self
            .call("CreateRenditionUpload", CREATE_RENDITION_UPLOAD, vars)
            .await?;
        Ok(data.create_rendition_upload)
    }

    /// `completeJob`.
    pub async fn complete_job(&self, id: &str) -> Result<JobState, CallError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Data {
            complete_job: JobState,
        }
        let data: Data = self
            .call("CompleteJob", COMPLETE_JOB, json!({ "id": id }))
            .await?;
        Ok(data.complete_job)
    }

    /// `failJob`.
    pub async fn fail_job(
        &self,
        id: &str,
        error: &str,
        retryable: bool,
    ) -> Result<JobState, CallError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Data {
            fail_job: JobState,
        }
        let vars = json!({ "id": id, "error": error, "retryable": retryable });
        let data: Data = self.call("FailJob", FAIL_JOB, vars).await?;
        Ok(data.fail_job)
    }

    /// Sends one operation and reads its `data` as `T`.
    async fn call<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        document: &str,
        variables: Value,
    ) -> Result<T, CallError> {
        #[derive(Deserialize)]
        struct Response {
            data: Option<Value>,
            #[serde(default)]
            errors: Vec<GraphqlError>,
        }
        #[derive(Deserialize)]
        struct GraphqlError {
            message: String,
            #[serde(default)]
            extensions: Option<Value>,
        }
        let transport = |reason: String| CallError::Transport { operation, reason };

        let token = self
            .credentials
            .bearer()
            .map_err(|e| transport(format!("no token: {e:#}")))?;
        let body = json!({ "query": document, "operationName": operation, "variables": variables });
        let response = self
            .http
            .post(self.endpoint.clone())
            .bearer_auth(token)
            .timeout(CALL_TIMEOUT)
            .json(&body)
            .send()
            .await
            .map_err(|e| transport(format!("{e}")))?;
        let status = response.status();

        // Errors come as GraphQL errors whatever the HTTP status; anything else is not the
        // gateway speaking.
        let response: Response = response
            .json()
            .await
            .map_err(|e| transport(format!("HTTP {status}, not a GraphQL response ({e})")))?;
        if let Some(first) = response.errors.into_iter().next() {
            let code = first
                .extensions
                .as_ref()
                .and_then(|x| x.get("code"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            return Err(CallError::Api {
                operation,
                code,
                message: first.message,
            });
        }
        let data = response
            .data
            .ok_or_else(|| transport(format!("HTTP {status} with neither data nor errors")))?;
        serde_json::from_value(data).map_err(|e| transport(format!("unexpected data: {e}")))
    }
}
