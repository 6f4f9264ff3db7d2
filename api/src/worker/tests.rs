//! The worker against a stand-in gateway and storage that answer its documents the way
//! API.md says, recording what it sent. The tests that run ffmpeg pass without checking
//! anything when ffmpeg is not installed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine as _;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::*;

/// What the stand-in gateway holds and saw.
#[derive(Default)]
struct Seen {
    /// Jobs still to claim: id and kind.
    queue: Vec<(String, String)>,
    original: Vec<u8>,
    /// Answer `CONFLICT` to progress reports, as for a cancelled job.
    cancelled: bool,
    progress: Vec<f64>,
    logs: Vec<(String, String)>,
    /// Declared renditions by format: size and hex SHA-256.
    declared: HashMap<String, (u64, String)>,
    /// Uploaded bytes and content type by format.
    stored: HashMap<String, (Vec<u8>, String)>,
    completed: Vec<String>,
    failed: Vec<(String, bool)>,
}

type Shared = web::Data<Mutex<Seen>>;

fn error(code: &str, message: &str) -> Value {
    json!({ "data": null, "errors": [{ "message": message, "extensions": { "code": code } }] })
}

async fn graphql(req: HttpRequest, seen: Shared, body: web::Json<Value>) -> HttpResponse {
    let base = format!("http://{}", req.connection_info().host());
    let vars = &body["variables"];
    let mut seen = seen.lock().unwrap();
    let answer = match body["operationName"].as_str().unwrap() {
        "ClaimJob" => {
            let job = seen.queue.pop().map(|(id, kind)| {
                json!({
                    "id": id, "kind": kind, "status": "RUNNING", "attempts": 1,
                    "audioFile": {
                        "id": "file-1", "durationMs": 3000, "contentType": "audio/wav",
                        "sizeBytes": seen.original.len(),
                        "downloadUrl": { "url": format!("{base}/original?X-Amz-Signature=s"),
                                         "method": "GET", "headers": [] }
                    }
                })
            });
            json!({ "data": { "claimJob": job } })
        }
        "ReportJobProgress" if seen.cancelled => error("CONFLICT", "the job was cancelled"),
        "ReportJobProgress" => {
            seen.progress.push(vars["progress"].as_f64().unwrap());
            json!({ "data": { "reportJobProgress": { "id": vars["id"], "status": "RUNNING" } } })
        }
        "AppendJobLog" => {
            let level = vars["level"].as_str().unwrap().to_owned();
            seen.logs
                .push((level, vars["message"].as_str().unwrap().to_owned()));
            json!({ "data": { "appendJobLog": true } })
        }
        "CreateRenditionUpload" => {
            let input = &vars["input"];
            let format = input["format"].as_str().unwrap().to_owned();
            let sha = input["sha256"].as_str().unwrap().to_owned();
            let checksum =
                base64::engine::general_purpose::STANDARD.encode(hex::decode(&sha).unwrap());
            seen.declared
                .insert(format.clone(), (input["sizeBytes"].as_u64().unwrap(), sha));
            json!({ "data": { "createRenditionUpload": { "alreadyStored": false, "put": {
                "url": format!("{base}/put/{format}?X-Amz-Signature=s"), "method": "PUT",
                "headers": [ { "name": "content-type", "value": input["contentType"] },
                             { "name": "x-amz-checksum-sha256", "value": checksum } ] } } } })
        }
        "CompleteJob" => {
            for (format, (size, sha)) in &seen.declared {
                let Some((bytes, _)) = seen.stored.get(format) else {
                    return HttpResponse::Ok().json(error("BAD_USER_INPUT", "not uploaded"));
                };
                assert_eq!(bytes.len() as u64, *size);
                assert_eq!(&hex::encode(Sha256::digest(bytes)), sha);
            }
            seen.completed.push(vars["id"].as_str().unwrap().to_owned());
            json!({ "data": { "completeJob": { "id": vars["id"], "status": "SUCCEEDED" } } })
        }
        "FailJob" => {
            let error = vars["error"].as_str().unwrap().to_owned();
            seen.failed
                .push((error, vars["retryable"].as_bool().unwrap()));
            json!({ "data": { "failJob": { "id": vars["id"], "status": "FAILED" } } })
        }
        other => panic!("unexpected operation {other}"),
    };
    HttpResponse::Ok().json(answer)
}

async fn original(seen: Shared) -> HttpResponse {
    HttpResponse::Ok().body(seen.lock().unwrap().original.clone())
}

async fn put(
    req: HttpRequest,
    seen: Shared,
    format: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let content_type = req
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(req.headers().contains_key("x-amz-checksum-sha256"));
    seen.lock()
        .unwrap()
        .stored
        .insert(format.into_inner(), (body.to_vec(), content_type));
    HttpResponse::Ok().finish()
}

/// Starts the stand-in and gives a config pointing at it.
async fn stand_in(seen: Seen) -> (WorkerConfig, Arc<Mutex<Seen>>) {
    let data = web::Data::new(Mutex::new(seen));
    let shared = data.clone().into_inner();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(64 << 20))
            .route("/graphql", web::post().to(graphql))
            .route("/original", web::get().to(original))
            .route("/put/{format}", web::put().to(put))
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .unwrap();
    let addr = server.addrs()[0];
    tokio::spawn(server.run());
    let config = WorkerConfig {
        endpoint: format!("http://{addr}/graphql").parse().unwrap(),
        token: "test-token".to_owned(),
        kinds: vec!["transcode".to_owned(), "waveform".to_owned()],
        poll_interval: Duration::from_millis(50),
        ffmpeg: PathBuf::from("ffmpeg"),
    };
    (config, shared)
}

/// Three seconds of a sine as WAV, or `None` without ffmpeg.
fn sine_wav() -> Option<Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sine.wav");
    let status = std::process::Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "sine=d=3",
        ])
        .arg(&path)
        .status()
        .ok()?;
    assert!(status.success());
    Some(std::fs::read(path).unwrap())
}

fn job(kind: &str, original: Vec<u8>) -> Seen {
    Seen {
        queue: vec![("job-1".into(), kind.into())],
        original,
        ..Seen::default()
    }
}

#[tokio::test]
async fn transcode_uploads_both_renditions_then_completes() {
    let Some(wav) = sine_wav() else { return };
    let (config, seen) = stand_in(job("transcode", wav)).await;

    let claimed = run_once(&config).await.unwrap();

    let seen = seen.lock().unwrap();
    assert_eq!(claimed.as_deref(), Some("job-1"));
    assert_eq!(seen.completed, ["job-1"]);
    assert_eq!(seen.stored["mp3-128"].1, "audio/mpeg");
    assert_eq!(seen.stored["opus-64"].1, "audio/ogg");
    assert!(seen.stored["opus-64"].0.starts_with(b"OggS"));
    assert!(
        seen.logs
            .iter()
            .any(|(l, m)| l == "INFO" && m == "transcoding to mp3-128")
    );
    assert!(
        seen.progress.windows(2).all(|p| p[0] <= p[1]),
        "{:?}",
        seen.progress
    );
}

#[tokio::test]
async fn waveform_uploads_peaks_json() {
    let Some(wav) = sine_wav() else { return };
    let (config, seen) = stand_in(job("waveform", wav)).await;

    run_once(&config).await.unwrap();

    let seen = seen.lock().unwrap();
    let (bytes, content_type) = &seen.stored["waveform-json"];
    let peaks: Value = serde_json::from_slice(bytes).unwrap();
    assert_eq!(content_type, "application/json");
    assert_eq!(peaks["sample_rate"], 8000);
    assert_eq!(peaks["bits"], 8);
    let length = peaks["length"].as_u64().unwrap();
    assert!((1000..=2000).contains(&length), "{length}");
    assert_eq!(peaks["data"].as_array().unwrap().len() as u64, 2 * length);
    assert_eq!(seen.completed, ["job-1"]);
}

#[tokio::test]
async fn unreadable_original_fails_the_job_for_a_retry() {
    if sine_wav().is_none() {
        return;
    }
    let (config, seen) = stand_in(job("transcode", b"not audio at all".to_vec())).await;

    run_once(&config).await.unwrap();

    let seen = seen.lock().unwrap();
    assert!(seen.completed.is_empty());
    let (error, retryable) = &seen.failed[0];
    assert!(*retryable);
    assert!(error.contains("ffmpeg exited with status"), "{error}");
    assert!(seen.logs.iter().any(|(l, _)| l == "ERROR"));
}

#[tokio::test]
async fn unknown_kind_fails_without_retry() {
    if sine_wav().is_none() {
        return;
    }
    let (config, seen) = stand_in(job("thumbnail", Vec::new())).await;

    run_once(&config).await.unwrap();

    let (error, retryable) = seen.lock().unwrap().failed[0].clone();
    assert!(!retryable);
    assert!(error.contains("unknown job kind \"thumbnail\""), "{error}");
}

#[tokio::test]
async fn cancelled_job_is_neither_failed_nor_completed() {
    let Some(wav) = sine_wav() else { return };
    let (config, seen) = stand_in(Seen {
        cancelled: true,
        ..job("transcode", wav)
    })
    .await;

    let claimed = run_once(&config).await.unwrap();

    let seen = seen.lock().unwrap();
    assert_eq!(claimed.as_deref(), Some("job-1"));
    assert!(seen.failed.is_empty() && seen.completed.is_empty());
}

#[tokio::test]
async fn no_due_job_gives_none() {
    if sine_wav().is_none() {
        return;
    }
    let (config, _seen) = stand_in(Seen::default()).await;

    assert_eq!(run_once(&config).await.unwrap(), None);
}

#[tokio::test]
async fn run_stops_on_shutdown() {
    if sine_wav().is_none() {
        return;
    }
    let (config, _seen) = stand_in(Seen::default()).await;

    let stopped = run(config, tokio::time::sleep(Duration::from_millis(200)));

    tokio::time::timeout(Duration::from_secs(5), stopped)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn missing_ffmpeg_is_named_with_the_way_to_install_it() {
    let e = check_ffmpeg(Path::new("ffmpeg-that-is-not-there"))
        .await
        .unwrap_err();

    assert_eq!(
        e.to_string(),
        "ffmpeg-that-is-not-there not found on PATH: install ffmpeg (Debian: apt-get install ffmpeg)"
    );
}
