//! The reference worker (`wavegate worker`) turns an uploaded WAV into renditions that
//! download and decode, through the public API alone. Needs ffmpeg (`.ci/run` installs
//! it from Debian's packages).

use std::time::Duration;

use serde_json::json;
use wavegate::worker::{WorkerConfig, run_once};
use wavegate_tests::{Options, TestApp, spawn_app_with};

fn ffmpeg_present() -> bool {
    std::process::Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn worker(app: &TestApp, kinds: &[&str]) -> WorkerConfig {
    WorkerConfig {
        endpoint: format!("{}/graphql", app.address).parse().unwrap(),
        token: app.token("worker-ref", "worker"),
        kinds: kinds.iter().map(|k| (*k).to_owned()).collect(),
        poll_interval: Duration::from_millis(100),
        ffmpeg: "ffmpeg".into(),
    }
}

/// A file of `token`'s caller with one queued job of `kind`; returns the file's id.
async fn uploaded_with_job(app: &TestApp, token: &str, kind: &str) -> String {
    let file = app
        .upload_id(token, wavegate_tests::fixtures::wav(440.0), "PRIVATE")
        .await;
    app.query(
        Some(token),
        "mutation($id: ID!, $kind: String!) { enqueueJob(audioFileId: $id, kind: $kind) { id } }",
        json!({"id": file, "kind": kind}),
    )
    .await;
    file
}

/// Whether ffmpeg decodes `bytes` (written with `ext`) to the end without error.
fn decodes(bytes: &[u8], ext: &str) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("out.{ext}"));
    std::fs::write(&path, bytes).unwrap();
    std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-xerror", "-i"])
        .arg(&path)
        .args(["-f", "null", "-"])
        .status()
        .is_ok_and(|s| s.success())
}

#[tokio::test]
async fn the_reference_worker_makes_renditions_that_download_and_decode() {
    if !ffmpeg_present() {
        eprintln!("ffmpeg is not installed; skipped (.ci/run installs it)");
        return;
    }
    let app = spawn_app_with(Options {
        settings: vec![("WAVEGATE_PIPELINE", "transcode,waveform".into())],
    })
    .await;
    let alice = app.token("alice", "user");
    let wav = wavegate::cli::seed::sine_wav(440.0, 3000, 44_100);
    let file = app.upload_id(&alice, wav, "PRIVATE").await;
    let config = worker(&app, &["transcode", "waveform"]);

    let first = run_once(&config).await.unwrap();
    let second = run_once(&config).await.unwrap();
    let idle = run_once(&config).await.unwrap();
    let seen = app
        .query(
            Some(&alice),
            "query($id: ID!) { audioFile(id: $id) {
                jobs { kind status progress error
                       logs(first: 1000) { totalCount } }
                renditions { format contentType sizeBytes bitrate downloadUrl { url } }
            } }",
            json!({"id": file}),
        )
        .await["audioFile"]
        .clone();

    assert!(first.is_some() && second.is_some());
    assert_eq!(idle, None, "nothing left to claim");
    for job in seen["jobs"].as_array().unwrap() {
        assert_eq!(job["status"], "SUCCEEDED", "job {job}");
        assert_eq!(job["progress"], 1.0);
        assert!(
            job["logs"]["totalCount"].as_i64().unwrap() > 0,
            "job {job} logged nothing"
        );
    }
    let mut formats = Vec::new();
    for r in seen["renditions"].as_array().unwrap() {
        let format = r["format"].as_str().unwrap().to_owned();
        let url = r["downloadUrl"]["url"].as_str().unwrap();
        let bytes = app.download(url).await;
        assert_eq!(bytes.len() as i64, r["sizeBytes"].as_i64().unwrap());
        match format.as_str() {
            "mp3-128" => {
                assert_eq!(r["contentType"], "audio/mpeg");
                assert!(decodes(&bytes, "mp3"), "the MP3 does not decode");
            }
            "opus-64" => {
                assert_eq!(r["contentType"], "audio/ogg");
                assert!(decodes(&bytes, "ogg"), "the Opus file does not decode");
            }
            "waveform-json" => {
                let peaks: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                let data = peaks["data"].as_array().unwrap();
                assert_eq!(data.len() as u64, 2 * peaks["length"].as_u64().unwrap());
                assert!(peaks["length"].as_u64().unwrap() > 100);
                // A sine at most full scale: peaks within 8 bits, both signs present.
                assert!(data.iter().any(|v| v.as_i64().unwrap() > 50));
                assert!(data.iter().any(|v| v.as_i64().unwrap() < -50));
            }
            other => panic!("unexpected rendition {other}"),
        }
        formats.push(format);
    }
    formats.sort();
    assert_eq!(formats, ["mp3-128", "opus-64", "waveform-json"]);
}

#[tokio::test]
async fn a_job_of_a_kind_the_worker_does_not_know_fails_for_good() {
    if !ffmpeg_present() {
        eprintln!("ffmpeg is not installed; skipped (.ci/run installs it)");
        return;
    }
    let app = spawn_app_with(Options::default()).await;
    let alice = app.token("alice", "user");
    let file = uploaded_with_job(&app, &alice, "loudness").await;

    run_once(&worker(&app, &["loudness"])).await.unwrap();
    let job = app
        .query(
            Some(&alice),
            "query($id: ID!) { audioFile(id: $id) { latestJob { status error } } }",
            json!({"id": file}),
        )
        .await["audioFile"]["latestJob"]
        .clone();

    assert_eq!(job["status"], "FAILED");
    assert!(
        job["error"].as_str().unwrap().contains("loudness"),
        "error: {job}"
    );
}

#[tokio::test]
async fn a_download_that_fails_puts_the_job_back_for_a_retry() {
    if !ffmpeg_present() {
        eprintln!("ffmpeg is not installed; skipped (.ci/run installs it)");
        return;
    }
    let app = spawn_app_with(Options::default()).await;
    if !app.can_play_outage() {
        eprintln!("needs the embedded S3 server's outage switch; skipped");
        return;
    }
    let alice = app.token("alice", "user");
    let file = uploaded_with_job(&app, &alice, "transcode").await;

    app.set_storage_up(false);
    let outcome = run_once(&worker(&app, &["transcode"])).await;
    app.set_storage_up(true);
    let job = app
        .query(
            Some(&alice),
            "query($id: ID!) { audioFile(id: $id) { latestJob { status attempts error } } }",
            json!({"id": file}),
        )
        .await["audioFile"]["latestJob"]
        .clone();

    assert!(outcome.unwrap().is_some());
    assert_eq!(job["status"], "QUEUED", "job {job}");
    assert_eq!(job["attempts"], 1);
    assert!(job["error"].is_string());
}

#[tokio::test]
async fn the_worker_loop_stops_on_shutdown() {
    if !ffmpeg_present() {
        eprintln!("ffmpeg is not installed; skipped (.ci/run installs it)");
        return;
    }
    let app = spawn_app_with(Options::default()).await;

    let stopped = wavegate::worker::run(
        worker(&app, &["transcode"]),
        tokio::time::sleep(Duration::from_millis(300)),
    );

    tokio::time::timeout(Duration::from_secs(10), stopped)
        .await
        .expect("the loop stops")
        .unwrap();
}
