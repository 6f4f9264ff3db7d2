//! Uploads straight to storage: presigned PUTs and multipart plans, verified before READY.

use std::time::Duration;

use serde_json::{Value, json};
use sha2::Digest;
use wavegate_tests::{Options, TestApp, fixtures::wav, spawn_app, spawn_app_with};

const CREATE: &str = "mutation($input: CreateUploadInput!) {
  createUpload(input: $input) {
    alreadyStored
    audioFile { id status sizeBytes sha256 }
    put { url method expiresAt headers { name value } }
    multipart { partSizeBytes parts { partNumber url } }
  }
}";
pub(crate) const COMPLETE: &str = "mutation($id: ID!, $parts: [CompletedPart!]) {
  completeUpload(audioFileId: $id, parts: $parts) {
    id status sizeBytes durationMs sampleRate channels codec bitrate
    downloadUrl { url }
  }
}";
const STATUS: &str = "query($id: ID!) { audioFile(id: $id) { status } }";

/// The declaration of `bytes` as a WAV named `filename`.
pub(crate) fn declaration(bytes: &[u8], filename: &str) -> Value {
    json!({
        "filename": filename,
        "contentType": "audio/wav",
        "sizeBytes": bytes.len(),
        "sha256": hex::encode(sha2::Sha256::digest(bytes)),
    })
}

/// `createUpload`'s ticket.
pub(crate) async fn create(app: &TestApp, token: &str, input: Value) -> Value {
    app.query(Some(token), CREATE, json!({"input": input}))
        .await["createUpload"]
        .clone()
}

/// PUTs `bytes` to a presigned URL with the headers the ticket names; returns the status.
pub(crate) async fn put(app: &TestApp, presigned: &Value, bytes: Vec<u8>) -> u16 {
    let mut req = app.http.put(presigned["url"].as_str().unwrap());
    for h in presigned["headers"].as_array().unwrap() {
        let name = h["name"].as_str().unwrap();
        if !name.eq_ignore_ascii_case("content-length") {
            req = req.header(name, h["value"].as_str().unwrap());
        }
    }
    req.body(bytes).send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn a_presigned_put_upload_is_verified_probed_and_ready() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let bytes = wav(440.0);

    let ticket = create(&app, &alice, declaration(&bytes, "tone.wav")).await;
    let id = ticket["audioFile"]["id"].as_str().unwrap().to_owned();
    let status = put(&app, &ticket["put"], bytes.clone()).await;
    let file = app.query(Some(&alice), COMPLETE, json!({"id": id})).await["completeUpload"].clone();

    assert_eq!(ticket["alreadyStored"], false);
    assert_eq!(ticket["audioFile"]["status"], "PENDING_UPLOAD");
    assert_eq!(ticket["put"]["method"], "PUT");
    assert_eq!(status, 200);
    assert_eq!(file["status"], "READY");
    assert_eq!(file["durationMs"], 250);
    assert_eq!(file["sampleRate"], 8000);
    assert_eq!(file["channels"], 1);
    assert_eq!(file["codec"], "pcm_s16le");
    let downloaded = app
        .http
        .get(file["downloadUrl"]["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(downloaded.bytes().await.unwrap().as_ref(), bytes.as_slice());
    let sha = hex::encode(sha2::Sha256::digest(&bytes));
    let staged_gone = wavegate_tests::eventually(Duration::from_secs(10), async || {
        app.object_keys().await
            == vec![format!(
                "originals/sha256/{}/{}/{sha}",
                &sha[..2],
                &sha[2..4]
            )]
    })
    .await;
    assert!(
        staged_gone,
        "only the content-addressed original remains: {:?}",
        app.object_keys().await
    );
}

#[tokio::test]
async fn storage_refuses_bytes_other_than_those_declared() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let declared = wav(440.0);
    let mut other = declared.clone();
    let last = other.len() - 1;
    other[last] ^= 0xff;

    let ticket = create(&app, &alice, declaration(&declared, "tone.wav")).await;
    let status = put(&app, &ticket["put"], other).await;
    let truncated = put(
        &app,
        &ticket["put"],
        declared[..declared.len() - 10].to_vec(),
    )
    .await;

    assert!(
        (400..500).contains(&status),
        "a different body is refused, got {status}"
    );
    assert!(
        (400..500).contains(&truncated),
        "a truncated body is refused, got {truncated}"
    );
}

#[tokio::test]
async fn completing_before_the_bytes_arrive_is_refused_without_damage() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let bytes = wav(440.0);
    let ticket = create(&app, &alice, declaration(&bytes, "tone.wav")).await;
    let id = ticket["audioFile"]["id"].as_str().unwrap().to_owned();

    let code = app
        .error_code(Some(&alice), COMPLETE, json!({"id": id}))
        .await;
    let still = app.query(Some(&alice), STATUS, json!({"id": id})).await;
    put(&app, &ticket["put"], bytes).await;
    let file = app.query(Some(&alice), COMPLETE, json!({"id": id})).await;

    assert_eq!(code, "CONFLICT");
    assert_eq!(still["audioFile"]["status"], "PENDING_UPLOAD");
    assert_eq!(
        file["completeUpload"]["status"], "READY",
        "the upload still completes afterwards"
    );
}

#[tokio::test]
async fn bytes_that_are_not_audio_are_rejected_and_removed() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let bytes = b"MZ this is an executable pretending to be audio".repeat(50);

    let ticket = create(&app, &alice, declaration(&bytes, "song.wav")).await;
    let id = ticket["audioFile"]["id"].as_str().unwrap().to_owned();
    put(&app, &ticket["put"], bytes).await;
    let file = app.query(Some(&alice), COMPLETE, json!({"id": id})).await["completeUpload"].clone();

    assert_eq!(file["status"], "REJECTED");
    assert!(file["downloadUrl"].is_null());
    let emptied = wavegate_tests::eventually(Duration::from_secs(10), async || {
        app.object_keys().await.is_empty()
    })
    .await;
    assert!(emptied, "the rejected bytes are removed");
}

#[tokio::test]
async fn bytes_stored_already_are_shared_without_an_upload() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let bob = app.token("bob", "user");
    let admin = app.token("root", "admin");
    let bytes = wav(440.0);
    app.upload(&alice, bytes.clone(), "PRIVATE").await;

    let ticket = create(&app, &bob, declaration(&bytes, "mine.wav")).await;
    let stats = app
        .query(
            Some(&admin),
            "{ storageStats { files logicalBytes storedBytes dedupRatio pendingUploads } }",
            json!({}),
        )
        .await;

    assert_eq!(ticket["alreadyStored"], true);
    assert!(ticket["put"].is_null() && ticket["multipart"].is_null());
    assert_eq!(ticket["audioFile"]["status"], "READY");
    assert_eq!(app.object_keys().await.len(), 1);
    let s = &stats["storageStats"];
    assert_eq!(s["files"], 2);
    assert_eq!(s["logicalBytes"], 2 * bytes.len());
    assert_eq!(s["storedBytes"], bytes.len());
    assert_eq!(s["dedupRatio"], 2.0);
}

#[tokio::test]
async fn storage_stats_are_for_admins_only() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");

    assert_eq!(
        app.error_code(Some(&alice), "{ storageStats { files } }", json!({}))
            .await,
        "FORBIDDEN"
    );
    assert_eq!(
        app.error_code(None, "{ storageStats { files } }", json!({}))
            .await,
        "UNAUTHENTICATED"
    );
}

#[tokio::test]
async fn an_aborted_upload_leaves_nothing_behind() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let bytes = wav(440.0);
    let ticket = create(&app, &alice, declaration(&bytes, "tone.wav")).await;
    let id = ticket["audioFile"]["id"].as_str().unwrap().to_owned();
    put(&app, &ticket["put"], bytes).await;

    let aborted = app
        .query(
            Some(&alice),
            "mutation($id: ID!) { abortUpload(audioFileId: $id) }",
            json!({"id": id}),
        )
        .await;

    assert_eq!(aborted["abortUpload"], true);
    assert!(app.query(Some(&alice), STATUS, json!({"id": id})).await["audioFile"].is_null());
    let emptied = wavegate_tests::eventually(Duration::from_secs(10), async || {
        app.object_keys().await.is_empty()
    })
    .await;
    assert!(emptied, "the staged bytes are removed");
}

#[tokio::test]
async fn bad_declarations_are_refused_and_create_nothing() {
    let app = spawn_app_with(Options {
        settings: vec![("WAVEGATE_DEFAULT_QUOTA_BYTES", "1000".into())],
    })
    .await;
    let alice = app.token("alice", "user");
    let bytes = wav(440.0);
    let good = declaration(&bytes, "tone.wav");
    let with = |key: &str, value: Value| {
        let mut d = good.clone();
        d[key] = value;
        d
    };

    for (input, code) in [
        (with("sha256", json!("xyz")), "BAD_USER_INPUT"),
        (with("sizeBytes", json!(0)), "BAD_USER_INPUT"),
        (with("sizeBytes", json!(-5)), "BAD_USER_INPUT"),
        (
            with("contentType", json!("application/x-msdownload")),
            "BAD_USER_INPUT",
        ),
        (with("filename", json!("x".repeat(300))), "BAD_USER_INPUT"),
        (with("filename", json!("a\u{0000}b.wav")), "BAD_USER_INPUT"),
        (good.clone(), "QUOTA_EXCEEDED"),
    ] {
        assert_eq!(
            app.error_code(Some(&alice), CREATE, json!({"input": input}))
                .await,
            code,
            "{input}"
        );
    }
    assert_eq!(
        app.error_code(None, CREATE, json!({"input": good})).await,
        "UNAUTHENTICATED"
    );
    let listed = app
        .query(Some(&alice), "{ audioFiles { totalCount } }", json!({}))
        .await;
    assert_eq!(listed["audioFiles"]["totalCount"], 0);
}

/// A WAV of `megabytes` MiB (44.1 kHz mono): one second of a tone, repeated.
fn big_wav(megabytes: usize) -> Vec<u8> {
    let second = wavegate::cli::seed::sine_wav(330.0, 1000, 44_100);
    let (header, samples) = second.split_at(44);
    let data_len = megabytes * 1024 * 1024 - 44;
    let mut out = Vec::with_capacity(data_len + 44);
    out.extend_from_slice(header);
    out[4..8].copy_from_slice(&((data_len + 36) as u32).to_le_bytes());
    out[40..44].copy_from_slice(&(data_len as u32).to_le_bytes());
    while out.len() < data_len + 44 {
        let take = samples.len().min(data_len + 44 - out.len());
        out.extend_from_slice(&samples[..take]);
    }
    out
}

#[tokio::test]
async fn a_multipart_upload_of_100_mib_with_parts_out_of_order_completes() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let bytes = big_wav(100);

    let ticket = create(&app, &alice, declaration(&bytes, "long.wav")).await;
    let id = ticket["audioFile"]["id"].as_str().unwrap().to_owned();
    let plan = &ticket["multipart"];
    let part_size = plan["partSizeBytes"].as_u64().unwrap() as usize;
    let parts = plan["parts"].as_array().unwrap().clone();
    let mut completed = Vec::new();
    for part in parts.iter().rev() {
        let n = part["partNumber"].as_u64().unwrap() as usize;
        let chunk = bytes[(n - 1) * part_size..(n * part_size).min(bytes.len())].to_vec();
        let resp = app
            .http
            .put(part["url"].as_str().unwrap())
            .body(chunk)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let etag = resp.headers()["etag"].to_str().unwrap().to_owned();
        completed.push(json!({"partNumber": n, "etag": etag}));
    }
    let file = app
        .query(
            Some(&alice),
            COMPLETE,
            json!({"id": id, "parts": completed}),
        )
        .await["completeUpload"]
        .clone();

    assert!(ticket["put"].is_null());
    assert_eq!(parts.len(), bytes.len().div_ceil(part_size));
    assert!(parts.len() >= 2);
    assert_eq!(file["status"], "READY");
    assert_eq!(file["sizeBytes"], bytes.len());
    let downloaded = app
        .http
        .get(file["downloadUrl"]["url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        hex::encode(sha2::Sha256::digest(&downloaded)),
        hex::encode(sha2::Sha256::digest(&bytes))
    );
}

#[tokio::test]
async fn asking_again_resumes_a_multipart_upload_with_the_missing_parts() {
    let app = spawn_app_with(Options {
        settings: vec![("WAVEGATE_MULTIPART_THRESHOLD_BYTES", "5242880".into())],
    })
    .await;
    let alice = app.token("alice", "user");
    let bytes = big_wav(12);
    let first = create(&app, &alice, declaration(&bytes, "long.wav")).await;
    let part_size = first["multipart"]["partSizeBytes"].as_u64().unwrap() as usize;
    let part1 = &first["multipart"]["parts"][0];
    app.http
        .put(part1["url"].as_str().unwrap())
        .body(bytes[..part_size].to_vec())
        .send()
        .await
        .unwrap();

    let again = create(&app, &alice, declaration(&bytes, "long.wav")).await;
    for part in again["multipart"]["parts"].as_array().unwrap() {
        let n = part["partNumber"].as_u64().unwrap() as usize;
        let chunk = bytes[(n - 1) * part_size..(n * part_size).min(bytes.len())].to_vec();
        app.http
            .put(part["url"].as_str().unwrap())
            .body(chunk)
            .send()
            .await
            .unwrap();
    }
    let id = again["audioFile"]["id"].as_str().unwrap();
    let file = app.query(Some(&alice), COMPLETE, json!({"id": id})).await["completeUpload"].clone();

    assert_eq!(
        again["audioFile"]["id"], first["audioFile"]["id"],
        "the same pending file"
    );
    let numbers: Vec<u64> = again["multipart"]["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["partNumber"].as_u64().unwrap())
        .collect();
    assert!(
        !numbers.contains(&1),
        "part 1 is not asked for again: {numbers:?}"
    );
    assert_eq!(file["status"], "READY");
}

#[tokio::test]
async fn a_storage_outage_during_completion_loses_nothing() {
    let app = spawn_app().await;
    if !app.can_play_outage() {
        eprintln!("skipped: only the embedded S3 server can be switched off to play an outage");
        return;
    }
    let alice = app.token("alice", "user");
    let bytes = wav(440.0);
    let ticket = create(&app, &alice, declaration(&bytes, "tone.wav")).await;
    let id = ticket["audioFile"]["id"].as_str().unwrap().to_owned();
    put(&app, &ticket["put"], bytes).await;

    app.set_storage_up(false);
    let code = app
        .error_code(Some(&alice), COMPLETE, json!({"id": id}))
        .await;
    let during = app.query(Some(&alice), STATUS, json!({"id": id})).await;
    app.set_storage_up(true);
    let after = app.query(Some(&alice), COMPLETE, json!({"id": id})).await;

    assert_eq!(code, "STORAGE_UNAVAILABLE");
    assert_eq!(
        during["audioFile"]["status"], "PENDING_UPLOAD",
        "the upload waits, intact"
    );
    assert_eq!(after["completeUpload"]["status"], "READY");
}

#[tokio::test]
async fn a_storage_outage_during_deletion_delays_the_removal_without_losing_it() {
    use sea_orm::EntityTrait;
    let app = spawn_app().await;
    if !app.can_play_outage() {
        eprintln!("skipped: only the embedded S3 server can be switched off to play an outage");
        return;
    }
    let alice = app.token("alice", "user");
    let id = app.upload_id(&alice, wav(440.0), "PRIVATE").await;

    app.set_storage_up(false);
    let deleted = app
        .query(
            Some(&alice),
            "mutation($id: ID!) { deleteAudioFile(id: $id) }",
            json!({"id": id}),
        )
        .await;
    // The drainer tries, storage refuses, and the removal stays queued with the failure
    // recorded for its retry.
    let refused = wavegate_tests::eventually(Duration::from_secs(20), async || {
        entity::storage_deletion::Entity::find()
            .all(&app.state.db)
            .await
            .unwrap()
            .iter()
            .any(|row| row.attempts >= 1 && row.last_error.is_some())
    })
    .await;
    let queued = wavegate::service::deletions::pending(&app.state.db)
        .await
        .unwrap();
    app.set_storage_up(true);
    let emptied = wavegate_tests::eventually(Duration::from_secs(20), async || {
        app.object_keys().await.is_empty()
    })
    .await;

    assert_eq!(
        deleted["deleteAudioFile"], true,
        "the delete succeeds while storage is down"
    );
    assert!(app.query(Some(&alice), STATUS, json!({"id": id})).await["audioFile"].is_null());
    assert!(refused, "the drainer's attempt fails and is recorded");
    assert_eq!(queued, 1, "the removal waits in the queue");
    assert!(emptied, "the object goes once storage is back");
    assert_eq!(
        wavegate::service::deletions::pending(&app.state.db)
            .await
            .unwrap(),
        0
    );
}
