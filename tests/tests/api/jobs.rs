//! The job lifecycle: owners queue jobs, workers claim them under a lease, report
//! progress and logs, upload outputs and complete or fail them; frontends watch.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Value, json};
use sha2::Digest;
use wavegate_tests::{Options, TestApp, fixtures::wav, spawn_app, spawn_app_with};

use crate::presigned_uploads::put;

pub(crate) const JOB: &str = "id kind status progress attempts error startedAt finishedAt";

const ENQUEUE: &str = "mutation($id: ID!, $kind: String!) { enqueueJob(audioFileId: $id, kind: $kind) { id kind status progress attempts } }";
const CLAIM: &str = "mutation($kinds: [String!]!) { claimJob(kinds: $kinds) { id kind status attempts audioFile { id } } }";
const PROGRESS: &str = "mutation($id: ID!, $p: Float!, $m: String) { reportJobProgress(id: $id, progress: $p, message: $m) { id status progress } }";
const LOG: &str = "mutation($id: ID!, $level: LogLevel!, $m: String!, $f: JSON) { appendJobLog(id: $id, level: $level, message: $m, fields: $f) }";
const OUTPUT: &str = "mutation($id: ID!, $input: RenditionUploadInput!) { createRenditionUpload(jobId: $id, input: $input) { put { url method headers { name value } } } }";
const COMPLETE: &str =
    "mutation($id: ID!) { completeJob(id: $id) { id status progress finishedAt } }";
const FAIL: &str = "mutation($id: ID!, $e: String!, $r: Boolean) { failJob(id: $id, error: $e, retryable: $r) { id status error attempts } }";
const CANCEL: &str = "mutation($id: ID!) { cancelJob(id: $id) { id status } }";

/// A READY file of `owner` with one job of `kind` queued; returns (file id, job id).
async fn queued_job(app: &TestApp, owner: &str, kind: &str) -> (String, String) {
    let file = app.upload_id(owner, wav(440.0), "PRIVATE").await;
    let job = app
        .query(Some(owner), ENQUEUE, json!({"id": file, "kind": kind}))
        .await["enqueueJob"]
        .clone();
    (file, job["id"].as_str().unwrap().to_owned())
}

async fn claim(app: &TestApp, worker: &str, kinds: &[&str]) -> Value {
    app.query(Some(worker), CLAIM, json!({"kinds": kinds}))
        .await["claimJob"]
        .clone()
}

/// Declares `bytes` as an output of `job` and uploads them; returns the PUT's status.
async fn upload_output(
    app: &TestApp,
    worker: &str,
    job: &str,
    format: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> u16 {
    let input = json!({
        "format": format,
        "contentType": content_type,
        "sizeBytes": bytes.len(),
        "sha256": hex::encode(sha2::Sha256::digest(&bytes)),
        "bitrate": 128000,
    });
    let ticket = app
        .query(Some(worker), OUTPUT, json!({"id": job, "input": input}))
        .await["createRenditionUpload"]
        .clone();
    put(app, &ticket["put"], bytes).await
}

#[tokio::test]
async fn a_job_runs_from_queue_to_downloadable_renditions() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let worker = app.token("worker-1", "worker");
    let (file, job) = queued_job(&app, &alice, "transcode").await;

    let claimed = claim(&app, &worker, &["transcode"]).await;
    let progress = app
        .query(
            Some(&worker),
            PROGRESS,
            json!({"id": job, "p": 0.5, "m": "halfway"}),
        )
        .await["reportJobProgress"]
        .clone();
    app.query(
        Some(&worker),
        LOG,
        json!({"id": job, "level": "WARN", "m": "clipping", "f": {"peak": 1.2}}),
    )
    .await;
    app.query(
        Some(&worker),
        LOG,
        json!({"id": job, "level": "DEBUG", "m": "detail"}),
    )
    .await;
    let rendition = wav(880.0);
    let status = upload_output(
        &app,
        &worker,
        &job,
        "wav-8k",
        "audio/wav",
        rendition.clone(),
    )
    .await;
    let done = app.query(Some(&worker), COMPLETE, json!({"id": job})).await["completeJob"].clone();
    let seen = app
        .query(
            Some(&alice),
            "query($id: ID!) { audioFile(id: $id) {
                renditions { format contentType bitrate sizeBytes sha256 downloadUrl { url } }
                latestJob { id status progress attempts }
            } }",
            json!({"id": file}),
        )
        .await["audioFile"]
        .clone();

    assert_eq!(claimed["id"], job.as_str());
    assert_eq!(claimed["status"], "RUNNING");
    assert_eq!(claimed["attempts"], 1);
    assert_eq!(claimed["audioFile"]["id"], file.as_str());
    assert_eq!(progress["progress"], 0.5);
    assert_eq!(status, 200);
    assert_eq!(done["status"], "SUCCEEDED");
    assert_eq!(done["progress"], 1.0);
    assert!(done["finishedAt"].is_string());
    assert_eq!(seen["latestJob"]["status"], "SUCCEEDED");
    let renditions = seen["renditions"].as_array().unwrap();
    assert_eq!(renditions.len(), 1);
    assert_eq!(renditions[0]["format"], "wav-8k");
    assert_eq!(renditions[0]["bitrate"], 128000);
    assert_eq!(renditions[0]["sizeBytes"], rendition.len());
    let url = renditions[0]["downloadUrl"]["url"].as_str().unwrap();
    assert_eq!(app.download(url).await, rendition);
}

#[tokio::test]
async fn job_logs_page_in_order_and_filter_by_level() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let worker = app.token("worker-1", "worker");
    let (_, job) = queued_job(&app, &alice, "waveform").await;
    claim(&app, &worker, &["waveform"]).await;
    for (i, level) in ["DEBUG", "INFO", "WARN", "ERROR", "INFO"]
        .iter()
        .enumerate()
    {
        app.query(
            Some(&worker),
            LOG,
            json!({"id": job, "level": level, "m": format!("line {i}")}),
        )
        .await;
    }
    const LOGS: &str = "query($id: ID!, $first: Int, $after: String, $min: LogLevel) {
        processingJob(id: $id) { logs(first: $first, after: $after, minLevel: $min) {
            totalCount edges { cursor node { level message } } pageInfo { hasNextPage endCursor }
        } } }";

    let first = app
        .query(Some(&alice), LOGS, json!({"id": job, "first": 2}))
        .await["processingJob"]["logs"]
        .clone();
    let rest = app
        .query(
            Some(&alice),
            LOGS,
            json!({"id": job, "first": 10, "after": first["pageInfo"]["endCursor"]}),
        )
        .await["processingJob"]["logs"]
        .clone();
    let warnings = app
        .query(Some(&alice), LOGS, json!({"id": job, "min": "WARN"}))
        .await["processingJob"]["logs"]
        .clone();

    let messages = |page: &Value| -> Vec<String> {
        page["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["message"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(first["totalCount"], 5);
    assert_eq!(messages(&first), ["line 0", "line 1"]);
    assert_eq!(first["pageInfo"]["hasNextPage"], true);
    assert_eq!(messages(&rest), ["line 2", "line 3", "line 4"]);
    assert_eq!(rest["pageInfo"]["hasNextPage"], false);
    assert_eq!(messages(&warnings), ["line 2", "line 3"]);
    assert_eq!(warnings["totalCount"], 2);
}

#[tokio::test]
async fn only_the_worker_holding_a_job_may_change_it() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let mallory = app.token("mallory", "user");
    let worker = app.token("worker-1", "worker");
    let other = app.token("worker-2", "worker");
    let (file, job) = queued_job(&app, &alice, "transcode").await;

    let user_claims = app
        .error_code(Some(&alice), CLAIM, json!({"kinds": ["transcode"]}))
        .await;
    let anonymous_claims = app
        .error_code(None, CLAIM, json!({"kinds": ["transcode"]}))
        .await;
    let stranger_enqueues = app
        .error_code(
            Some(&mallory),
            ENQUEUE,
            json!({"id": file, "kind": "transcode"}),
        )
        .await;
    let worker_enqueues = app
        .error_code(
            Some(&worker),
            ENQUEUE,
            json!({"id": file, "kind": "transcode"}),
        )
        .await;
    let unclaimed_progress = app
        .error_code(Some(&worker), PROGRESS, json!({"id": job, "p": 0.1}))
        .await;
    claim(&app, &worker, &["transcode"]).await;
    let other_progress = app
        .error_code(Some(&other), PROGRESS, json!({"id": job, "p": 0.1}))
        .await;
    let other_completes = app
        .error_code(Some(&other), COMPLETE, json!({"id": job}))
        .await;
    let owner_progress = app
        .error_code(Some(&alice), PROGRESS, json!({"id": job, "p": 0.1}))
        .await;
    let stranger_log = app
        .error_code(
            Some(&mallory),
            LOG,
            json!({"id": job, "level": "INFO", "m": "x"}),
        )
        .await;
    let too_far = app
        .error_code(Some(&worker), PROGRESS, json!({"id": job, "p": 1.5}))
        .await;
    let bad_kind = app
        .error_code(Some(&alice), ENQUEUE, json!({"id": file, "kind": "../etc"}))
        .await;
    let no_kinds = app
        .error_code(Some(&worker), CLAIM, json!({"kinds": []}))
        .await;
    let job_after = app
        .query(
            Some(&alice),
            &format!("query($id: ID!) {{ processingJob(id: $id) {{ {JOB} }} }}"),
            json!({"id": job}),
        )
        .await["processingJob"]
        .clone();
    let hidden = app
        .query(
            Some(&mallory),
            "query($id: ID!) { processingJob(id: $id) { id } }",
            json!({"id": job}),
        )
        .await;

    assert_eq!(user_claims, "FORBIDDEN");
    assert_eq!(anonymous_claims, "UNAUTHENTICATED");
    assert_eq!(stranger_enqueues, "NOT_FOUND");
    assert_eq!(worker_enqueues, "FORBIDDEN");
    assert_eq!(unclaimed_progress, "CONFLICT");
    assert_eq!(other_progress, "FORBIDDEN");
    assert_eq!(other_completes, "FORBIDDEN");
    assert_eq!(owner_progress, "FORBIDDEN");
    assert_eq!(stranger_log, "NOT_FOUND");
    assert_eq!(too_far, "BAD_USER_INPUT");
    assert_eq!(bad_kind, "BAD_USER_INPUT");
    assert_eq!(no_kinds, "BAD_USER_INPUT");
    assert_eq!(job_after["status"], "RUNNING");
    assert_eq!(job_after["progress"], 0.0);
    assert_eq!(hidden["processingJob"], Value::Null);
}

#[tokio::test]
async fn a_job_whose_lease_runs_out_is_claimed_again() {
    let app = spawn_app_with(Options {
        settings: vec![("WAVEGATE_JOB_LEASE_SECONDS", "1".into())],
    })
    .await;
    let alice = app.token("alice", "user");
    let first = app.token("worker-1", "worker");
    let second = app.token("worker-2", "worker");
    let (_, job) = queued_job(&app, &alice, "transcode").await;

    let taken = claim(&app, &first, &["transcode"]).await;
    let while_leased = claim(&app, &second, &["transcode"]).await;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let retaken = claim(&app, &second, &["transcode"]).await;
    let late_report = app
        .error_code(Some(&first), PROGRESS, json!({"id": job, "p": 0.9}))
        .await;

    assert_eq!(taken["id"], job.as_str());
    assert_eq!(while_leased, Value::Null);
    assert_eq!(retaken["id"], job.as_str());
    assert_eq!(retaken["attempts"], 2);
    assert_eq!(late_report, "FORBIDDEN");
}

#[tokio::test]
async fn progress_reports_renew_the_lease() {
    let app = spawn_app_with(Options {
        settings: vec![("WAVEGATE_JOB_LEASE_SECONDS", "1".into())],
    })
    .await;
    let alice = app.token("alice", "user");
    let first = app.token("worker-1", "worker");
    let second = app.token("worker-2", "worker");
    let (_, job) = queued_job(&app, &alice, "transcode").await;
    claim(&app, &first, &["transcode"]).await;

    for i in 0..4 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        app.query(
            Some(&first),
            PROGRESS,
            json!({"id": job, "p": f64::from(i) / 4.0}),
        )
        .await;
    }
    let stolen = claim(&app, &second, &["transcode"]).await;

    assert_eq!(
        stolen,
        Value::Null,
        "a job reported on 1.6 s after its claim is still held"
    );
}

#[tokio::test]
async fn retryable_failures_retry_until_the_attempts_run_out() {
    let app = spawn_app_with(Options {
        settings: vec![
            ("WAVEGATE_JOB_MAX_ATTEMPTS", "2".into()),
            ("WAVEGATE_JOB_RETRY_SECONDS", "0".into()),
        ],
    })
    .await;
    let alice = app.token("alice", "user");
    let worker = app.token("worker-1", "worker");
    let (file, job) = queued_job(&app, &alice, "transcode").await;

    claim(&app, &worker, &["transcode"]).await;
    let first = app
        .query(
            Some(&worker),
            FAIL,
            json!({"id": job, "e": "ffmpeg crashed"}),
        )
        .await["failJob"]
        .clone();
    let again = claim(&app, &worker, &["transcode"]).await;
    let last = app
        .query(
            Some(&worker),
            FAIL,
            json!({"id": job, "e": "ffmpeg crashed again"}),
        )
        .await["failJob"]
        .clone();
    let nothing = claim(&app, &worker, &["transcode"]).await;
    let second_job = app
        .query(
            Some(&alice),
            ENQUEUE,
            json!({"id": file, "kind": "waveform"}),
        )
        .await["enqueueJob"]["id"]
        .clone();
    claim(&app, &worker, &["waveform"]).await;
    let fatal = app
        .query(
            Some(&worker),
            FAIL,
            json!({"id": second_job, "e": "bad input", "r": false}),
        )
        .await["failJob"]
        .clone();

    assert_eq!(first["status"], "QUEUED");
    assert_eq!(first["error"], "ffmpeg crashed");
    assert_eq!(again["id"], job.as_str());
    assert_eq!(again["attempts"], 2);
    assert_eq!(last["status"], "FAILED");
    assert_eq!(last["error"], "ffmpeg crashed again");
    assert_eq!(nothing, Value::Null);
    assert_eq!(fatal["status"], "FAILED");
    assert_eq!(fatal["attempts"], 1);
}

#[tokio::test]
async fn a_retry_waits_for_its_backoff() {
    let app = spawn_app_with(Options {
        settings: vec![("WAVEGATE_JOB_RETRY_SECONDS", "60".into())],
    })
    .await;
    let alice = app.token("alice", "user");
    let worker = app.token("worker-1", "worker");
    let (_, job) = queued_job(&app, &alice, "transcode").await;
    claim(&app, &worker, &["transcode"]).await;

    app.query(Some(&worker), FAIL, json!({"id": job, "e": "network"}))
        .await;
    let too_soon = claim(&app, &worker, &["transcode"]).await;

    assert_eq!(too_soon, Value::Null);
}

#[tokio::test]
async fn a_cancelled_job_refuses_its_worker_and_drops_its_outputs() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let mallory = app.token("mallory", "user");
    let worker = app.token("worker-1", "worker");
    let (_, job) = queued_job(&app, &alice, "transcode").await;
    claim(&app, &worker, &["transcode"]).await;
    upload_output(&app, &worker, &job, "wav-8k", "audio/wav", wav(880.0)).await;

    let stranger = app
        .error_code(Some(&mallory), CANCEL, json!({"id": job}))
        .await;
    let cancelled = app.query(Some(&alice), CANCEL, json!({"id": job})).await["cancelJob"].clone();
    let report = app
        .error_code(Some(&worker), PROGRESS, json!({"id": job, "p": 0.5}))
        .await;
    let complete = app
        .error_code(Some(&worker), COMPLETE, json!({"id": job}))
        .await;
    let twice = app
        .error_code(Some(&alice), CANCEL, json!({"id": job}))
        .await;
    let mut keys = app.object_keys().await;
    for _ in 0..50 {
        if !keys.iter().any(|k| k.starts_with("renditions/")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        keys = app.object_keys().await;
    }

    assert_eq!(stranger, "NOT_FOUND");
    assert_eq!(cancelled["status"], "CANCELED");
    assert_eq!(report, "CONFLICT");
    assert_eq!(complete, "CONFLICT");
    assert_eq!(twice, "CONFLICT");
    assert!(
        !keys.iter().any(|k| k.starts_with("renditions/")),
        "the declared output was not removed: {keys:?}"
    );
}

#[tokio::test]
async fn outputs_are_verified_before_the_job_succeeds() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let worker = app.token("worker-1", "worker");
    let (file, job) = queued_job(&app, &alice, "transcode").await;
    claim(&app, &worker, &["transcode"]).await;
    let not_audio = b"<html>this is not audio</html>".repeat(20);
    let input = |bytes: &[u8]| {
        json!({
            "format": "mp3-128",
            "contentType": "audio/mpeg",
            "sizeBytes": bytes.len(),
            "sha256": hex::encode(sha2::Sha256::digest(bytes)),
        })
    };

    // Declared but never uploaded: completing changes nothing.
    let ticket = app
        .query(
            Some(&worker),
            OUTPUT,
            json!({"id": job, "input": input(&not_audio)}),
        )
        .await["createRenditionUpload"]
        .clone();
    let early = app
        .error_code(Some(&worker), COMPLETE, json!({"id": job}))
        .await;
    // Other bytes than declared: storage refuses them.
    let forged = put(&app, &ticket["put"], b"x".repeat(not_audio.len())).await;
    // The declared bytes, which are not audio: refused at completion.
    let stored = put(&app, &ticket["put"], not_audio.clone()).await;
    let refused = app
        .error_code(Some(&worker), COMPLETE, json!({"id": job}))
        .await;
    let job_now = app
        .query(
            Some(&alice),
            "query($id: ID!) { processingJob(id: $id) { status } }",
            json!({"id": job}),
        )
        .await["processingJob"]["status"]
        .clone();
    let bad_format = app
        .error_code(
            Some(&worker),
            OUTPUT,
            json!({"id": job, "input": {"format": "../x", "contentType": "audio/mpeg", "sizeBytes": 1, "sha256": "00".repeat(32)}}),
        )
        .await;
    let bad_type = app
        .error_code(
            Some(&worker),
            OUTPUT,
            json!({"id": job, "input": {"format": "page", "contentType": "text/html", "sizeBytes": 1, "sha256": "00".repeat(32)}}),
        )
        .await;
    // A worker that then makes a good output completes the job.
    let good = wav(660.0);
    upload_output(&app, &worker, &job, "wav-8k", "audio/wav", good).await;
    let done = app.query(Some(&worker), COMPLETE, json!({"id": job})).await["completeJob"].clone();
    let formats = app
        .query(
            Some(&alice),
            "query($id: ID!) { audioFile(id: $id) { renditions { format } } }",
            json!({"id": file}),
        )
        .await["audioFile"]["renditions"]
        .clone();

    assert_eq!(early, "CONFLICT");
    assert_ne!(
        forged, 200,
        "storage accepted bytes other than the declared ones"
    );
    assert_eq!(stored, 200);
    assert_eq!(refused, "BAD_USER_INPUT");
    assert_eq!(job_now, "RUNNING");
    assert_eq!(bad_format, "BAD_USER_INPUT");
    assert_eq!(bad_type, "BAD_USER_INPUT");
    assert_eq!(done["status"], "SUCCEEDED");
    assert_eq!(formats, json!([{"format": "wav-8k"}]));
}

#[tokio::test]
async fn many_workers_claim_every_job_exactly_once() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let kinds: Vec<String> = (0..20).map(|k| format!("kind-{k}")).collect();
    let mut expected = HashSet::new();
    for f in 0..5 {
        let file = app
            .upload_id(&alice, wav(300.0 + f as f32), "PRIVATE")
            .await;
        for kind in &kinds {
            let job = app
                .query(Some(&alice), ENQUEUE, json!({"id": file, "kind": kind}))
                .await["enqueueJob"]["id"]
                .as_str()
                .unwrap()
                .to_owned();
            expected.insert(job);
        }
    }

    let mut workers = Vec::new();
    for w in 0..8 {
        let app_address = app.address.clone();
        let http = app.http.clone();
        let token = app.token(&format!("worker-{w}"), "worker");
        let kinds = kinds.clone();
        workers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let body: Value = http
                    .post(format!("{app_address}/graphql"))
                    .bearer_auth(&token)
                    .json(&json!({"query": CLAIM, "variables": {"kinds": kinds}}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                assert!(body.get("errors").is_none(), "claim failed: {body}");
                match body["data"]["claimJob"]["id"].as_str() {
                    Some(id) => mine.push(id.to_owned()),
                    None => return mine,
                }
            }
        }));
    }
    let mut claimed = Vec::new();
    for w in workers {
        claimed.extend(w.await.unwrap());
    }

    let unique: HashSet<String> = claimed.iter().cloned().collect();
    assert_eq!(claimed.len(), 100, "every job claimed once");
    assert_eq!(unique, expected);
}

#[tokio::test]
async fn the_default_pipeline_is_queued_when_a_file_becomes_ready() {
    let app = spawn_app_with(Options {
        settings: vec![("WAVEGATE_PIPELINE", "transcode,waveform".into())],
    })
    .await;
    let alice = app.token("alice", "user");

    let file = app.upload_id(&alice, wav(440.0), "PRIVATE").await;
    let jobs = app
        .query(
            Some(&alice),
            "query($id: ID!) { audioFile(id: $id) { jobs { kind status } } }",
            json!({"id": file}),
        )
        .await["audioFile"]["jobs"]
        .clone();

    assert_eq!(
        jobs,
        json!([{"kind": "transcode", "status": "QUEUED"}, {"kind": "waveform", "status": "QUEUED"}])
    );
}

#[tokio::test]
async fn enqueueing_the_same_kind_twice_returns_the_job_already_queued() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let (file, job) = queued_job(&app, &alice, "transcode").await;

    let again = app
        .query(
            Some(&alice),
            ENQUEUE,
            json!({"id": file, "kind": "transcode"}),
        )
        .await["enqueueJob"]["id"]
        .clone();

    assert_eq!(again, job.as_str());
}

#[tokio::test]
async fn old_log_lines_are_removed_by_the_retention_sweep() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let worker = app.token("worker-1", "worker");
    let (_, job) = queued_job(&app, &alice, "transcode").await;
    claim(&app, &worker, &["transcode"]).await;
    app.query(
        Some(&worker),
        LOG,
        json!({"id": job, "level": "INFO", "m": "hello"}),
    )
    .await;

    let kept = wavegate::service::jobs::sweep_logs(&app.state.db, Duration::from_secs(3600))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    let removed = wavegate::service::jobs::sweep_logs(&app.state.db, Duration::ZERO)
        .await
        .unwrap();

    assert_eq!(kept, 0);
    assert_eq!(removed, 1);
}
