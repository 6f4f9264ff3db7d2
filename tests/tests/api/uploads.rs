//! Uploads through the gateway: hashed, stored once, and refused without leaving anything
//! behind when the input is bad.

use std::time::Duration;

use serde_json::json;
use sha2::Digest;
use wavegate_tests::{Options, fixtures::wav, spawn_app, spawn_app_with};

const DELETE: &str = "mutation($id: ID!) { deleteAudioFile(id: $id) }";

#[tokio::test]
async fn an_upload_is_ready_with_its_hash_size_and_content_addressed_object() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let bytes = wav(440.0);
    let sha = hex::encode(sha2::Sha256::digest(&bytes));

    let file = app.upload(&alice, bytes.clone(), "PRIVATE").await;

    assert_eq!(file["status"], "READY");
    assert_eq!(file["sha256"], sha);
    assert_eq!(file["sizeBytes"], bytes.len());
    assert_eq!(file["title"], "take");
    assert_eq!(file["originalFilename"], "take.wav");
    assert_eq!(file["owner"]["subject"], "alice");
    assert_eq!(
        app.object_keys().await,
        vec![format!(
            "originals/sha256/{}/{}/{sha}",
            &sha[..2],
            &sha[2..4]
        )]
    );
}

#[tokio::test]
async fn identical_bytes_are_stored_once_and_removed_with_their_last_file() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let bob = app.token("bob", "user");
    let bytes = wav(440.0);

    let a = app.upload_id(&alice, bytes.clone(), "PRIVATE").await;
    let b = app.upload_id(&bob, bytes, "PRIVATE").await;
    let stored_twice = app.object_keys().await.len();
    app.query(Some(&alice), DELETE, json!({"id": a})).await;
    let after_first_delete = app.object_keys().await.len();
    app.query(Some(&bob), DELETE, json!({"id": b})).await;
    let emptied = wavegate_tests::eventually(Duration::from_secs(10), async || {
        app.object_keys().await.is_empty()
    })
    .await;

    assert_eq!(stored_twice, 1);
    assert_eq!(after_first_delete, 1, "bob's file still uses the bytes");
    assert!(emptied, "the bytes go with their last file");
}

#[tokio::test]
async fn non_audio_and_empty_uploads_are_refused_and_leave_nothing_behind() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");

    let html = app
        .upload_raw(
            Some(&alice),
            b"<html></html>".to_vec(),
            "page.html",
            "text/html",
            "",
        )
        .await;
    let empty = app
        .upload_raw(Some(&alice), Vec::new(), "empty.wav", "audio/wav", "")
        .await;
    let untitled = app
        .upload_raw(
            Some(&alice),
            wav(440.0),
            "x.wav",
            "audio/wav",
            ", title: \"   \"",
        )
        .await;
    let anonymous = app
        .upload_raw(None, wav(440.0), "x.wav", "audio/wav", "")
        .await;

    assert_eq!(html["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(empty["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(
        untitled["errors"][0]["extensions"]["code"],
        "BAD_USER_INPUT"
    );
    assert_eq!(
        anonymous["errors"][0]["extensions"]["code"],
        "UNAUTHENTICATED"
    );
    assert!(app.object_keys().await.is_empty());
    let listed = app
        .query(Some(&alice), "{ audioFiles { totalCount } }", json!({}))
        .await;
    assert_eq!(listed["audioFiles"]["totalCount"], 0);
}

#[tokio::test]
async fn client_paths_in_filenames_are_dropped() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");

    let body = app
        .upload_raw(
            Some(&alice),
            wav(440.0),
            "../../etc/evil name.wav",
            "audio/wav",
            "",
        )
        .await;

    assert_eq!(
        body["data"]["uploadAudio"]["originalFilename"],
        "evil name.wav"
    );
    assert!(
        app.object_keys().await.iter().all(|k| !k.contains("evil")),
        "no client text in object keys"
    );
}

#[tokio::test]
async fn uploads_past_the_quota_are_refused() {
    let app = spawn_app_with(Options {
        settings: vec![("WAVEGATE_DEFAULT_QUOTA_BYTES", "6000".into())],
    })
    .await;
    let alice = app.token("alice", "user");
    let first = wav(440.0);
    let size = first.len();

    app.upload(&alice, first, "PRIVATE").await;
    let second = app
        .upload_raw(Some(&alice), wav(550.0), "b.wav", "audio/wav", "")
        .await;
    let me = app
        .query(
            Some(&alice),
            "{ me { storageUsedBytes quotaBytes } }",
            json!({}),
        )
        .await;

    assert_eq!(second["errors"][0]["extensions"]["code"], "QUOTA_EXCEEDED");
    assert_eq!(
        me["me"],
        json!({"storageUsedBytes": size, "quotaBytes": 6000})
    );
    assert_eq!(app.object_keys().await.len(), 1);
}

/// A GraphQL multipart body of one file mapped to `paths`.
fn multipart_body(query: &str, paths: &[&str], file: &[u8]) -> Vec<u8> {
    let b = "wavegate-test-boundary";
    let variables: serde_json::Map<String, serde_json::Value> = paths
        .iter()
        .map(|p| (p.trim_start_matches("variables.").to_owned(), json!(null)))
        .collect();
    let operations = json!({"query": query, "variables": variables});
    let mut body = format!(
        "--{b}\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{operations}\r\n\
         --{b}\r\nContent-Disposition: form-data; name=\"map\"\r\n\r\n{}\r\n\
         --{b}\r\nContent-Disposition: form-data; name=\"0\"; filename=\"take.wav\"\r\n\
         Content-Type: audio/wav\r\n\r\n",
        json!({"0": paths})
    )
    .into_bytes();
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
    body
}

/// Posts `body` (from [`multipart_body`]) to `/graphql` as `multipart/<subtype>`.
async fn post_multipart(
    app: &wavegate_tests::TestApp,
    token: &str,
    subtype: &str,
    body: Vec<u8>,
) -> serde_json::Value {
    app.http
        .post(format!("{}/graphql", app.address))
        .bearer_auth(token)
        .header(
            "content-type",
            format!("multipart/{subtype}; boundary=wavegate-test-boundary"),
        )
        .body(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn multipart_bodies_are_held_to_the_size_limit_or_refused_whatever_their_type() {
    let app = spawn_app_with(Options {
        settings: vec![("WAVEGATE_MAX_UPLOAD_BYTES", "1000".into())],
    })
    .await;
    let alice = app.token("alice", "user");
    let query = "mutation($file: Upload!) { uploadAudio(file: $file) { id } }";
    let body = multipart_body(query, &["variables.file"], &wav(440.0));
    assert!(wav(440.0).len() > 1000);

    for subtype in ["form-data", "mixed", "related"] {
        let answer = post_multipart(&app, &alice, subtype, body.clone()).await;
        assert_eq!(
            answer["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "multipart/{subtype}: {answer}"
        );
        // Form data is held to the limit; other multipart types are not GraphQL uploads
        // and are refused before any file is read.
        let expected = if subtype == "form-data" {
            "larger than 1000 bytes"
        } else {
            "not multipart/form-data"
        };
        assert!(
            answer["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains(expected),
            "multipart/{subtype}: {answer}"
        );
    }
    let files = app
        .query(Some(&alice), "{ audioFiles { totalCount } }", json!({}))
        .await;
    assert_eq!(files["audioFiles"]["totalCount"], 0);
}

#[tokio::test]
async fn one_file_mapped_to_two_uploads_is_stored_whole_for_both() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let bytes = wav(440.0);
    let query = "mutation($a: Upload!, $b: Upload!) {
        a: uploadAudio(file: $a) { status sizeBytes sha256 }
        b: uploadAudio(file: $b) { status sizeBytes sha256 } }";
    let body = multipart_body(query, &["variables.a", "variables.b"], &bytes);
    let answer = post_multipart(&app, &alice, "form-data", body).await;

    let sha = hex::encode(sha2::Sha256::digest(&bytes));
    for alias in ["a", "b"] {
        let file = &answer["data"][alias];
        assert_eq!(file["status"], "READY", "{answer}");
        assert_eq!(file["sizeBytes"], bytes.len(), "{answer}");
        assert_eq!(file["sha256"], sha, "{answer}");
    }
}
