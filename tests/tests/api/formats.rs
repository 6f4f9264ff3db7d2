//! Real audio formats, made with ffmpeg (which `.ci/run` installs), are probed on upload.

use serde_json::json;
use sha2::Digest;
use wavegate_tests::{TestApp, spawn_app};

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
    let create = "mutation($input: CreateUploadInput!) {
      createUpload(input: $input) { audioFile { id } put { url headers { name value } } } }";
    let input = json!({
        "filename": filename,
        "contentType": content_type,
        "sizeBytes": bytes.len(),
        "sha256": hex::encode(sha2::Sha256::digest(&bytes)),
    });
    let ticket = app
        .query(Some(token), create, json!({"input": input}))
        .await["createUpload"]
        .clone();
    let mut req = app.http.put(ticket["put"]["url"].as_str().unwrap());
    for h in ticket["put"]["headers"].as_array().unwrap() {
        if !h["name"]
            .as_str()
            .unwrap()
            .eq_ignore_ascii_case("content-length")
        {
            req = req.header(h["name"].as_str().unwrap(), h["value"].as_str().unwrap());
        }
    }
    assert_eq!(req.body(bytes).send().await.unwrap().status().as_u16(), 200);
    let complete = "mutation($id: ID!) { completeUpload(audioFileId: $id) {
      status durationMs sampleRate channels codec bitrate } }";
    let id = ticket["audioFile"]["id"].as_str().unwrap();
    app.query(Some(token), complete, json!({"id": id})).await["completeUpload"].clone()
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
