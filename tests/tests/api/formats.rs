//! Real audio formats, made with ffmpeg (which `.ci/run` installs), are probed on upload.

use serde_json::json;
use wavegate_tests::{TestApp, spawn_app};

use crate::presigned_uploads::{COMPLETE, create, declaration, put};

/// `wav` encoded by ffmpeg into a file ending in `ext`; `None` without ffmpeg.
fn encode(wav: &[u8], ext: &str, args: &[&str]) -> Option<Vec<u8>> {
    let dir = tempfile::tempdir().ok()?;
    let input = dir.path().join("in.wav");
    let output = dir.path().join(format!("out.{ext}"));
    std::fs::write(&input, wav).ok()?;
    let status = std::process::Command::new("ffmpeg")
        .args(["-y", "-loglevel", "error", "-i"])
        .arg(&input)
        .args(args)
        .arg(&output)
        .status()
        .ok()?;
    status
        .success()
        .then(|| std::fs::read(&output).ok())
        .flatten()
}

/// Uploads straight to storage and completes; returns the completed file.
async fn upload_presigned(
    app: &TestApp,
    token: &str,
    bytes: Vec<u8>,
    filename: &str,
    content_type: &str,
) -> serde_json::Value {
    let mut input = declaration(&bytes, filename);
    input["contentType"] = json!(content_type);
    let ticket = create(app, token, input).await;
    assert_eq!(put(app, &ticket["put"], bytes).await, 200);
    let id = ticket["audioFile"]["id"].as_str().unwrap();
    app.query(Some(token), COMPLETE, json!({"id": id})).await["completeUpload"].clone()
}

#[tokio::test]
async fn flac_mp3_and_ogg_vorbis_are_probed_with_their_codec_and_duration() {
    let wav = wavegate::cli::seed::sine_wav(440.0, 2000, 44_100);
    if encode(&wav, "flac", &[]).is_none() {
        eprintln!("ffmpeg is not installed; skipped (.ci/run installs it)");
        return;
    }
    let app = spawn_app().await;
    let alice = app.token("alice", "user");

    for (ext, content_type, codec, args) in [
        ("flac", "audio/flac", "flac", vec![]),
        (
            "mp3",
            "audio/mpeg",
            "mp3",
            vec!["-c:a", "libmp3lame", "-b:a", "128k"],
        ),
        ("ogg", "audio/ogg", "vorbis", vec!["-c:a", "libvorbis"]),
    ] {
        let bytes = encode(&wav, ext, &args).expect("ffmpeg encodes");

        let file =
            upload_presigned(&app, &alice, bytes, &format!("tone.{ext}"), content_type).await;

        assert_eq!(file["status"], "READY", "{ext}: {file}");
        assert_eq!(file["codec"], codec, "{ext}");
        assert_eq!(file["sampleRate"], 44_100, "{ext}");
        assert_eq!(file["channels"], 1, "{ext}");
        let ms = file["durationMs"].as_i64().unwrap();
        assert!((1900..=2150).contains(&ms), "{ext}: duration {ms} ms");
        assert!(file["bitrate"].as_i64().unwrap() > 0, "{ext}");
    }
}
