//! Presigned downloads: minted after the access check, served by the real S3 endpoint.

use std::time::Duration;

use serde_json::json;
use sha2::Digest;
use wavegate_tests::{fixtures::wav, spawn_app};

const URL: &str = "query($id: ID!, $e: Int, $d: Disposition) {
  audioFile(id: $id) { downloadUrl(expiresIn: $e, disposition: $d) { url method expiresAt headers { name value } } }
}";

async fn download_url(
    app: &wavegate_tests::TestApp,
    token: Option<&str>,
    id: &str,
    expires: i32,
    disposition: &str,
) -> String {
    let data = app
        .query(
            token,
            URL,
            json!({"id": id, "e": expires, "d": disposition}),
        )
        .await;
    data["audioFile"]["downloadUrl"]["url"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn presigned_download_returns_the_uploaded_bytes() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let bytes = wav(440.0);
    let file = app.upload(&alice, bytes.clone(), "PRIVATE").await;
    let id = file["id"].as_str().unwrap();

    let data = app
        .query(Some(&alice), URL, json!({"id": id, "e": 600}))
        .await;
    let presigned = &data["audioFile"]["downloadUrl"];
    let resp = app
        .http
        .get(presigned["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();

    assert_eq!(presigned["method"], "GET");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["content-type"], "audio/wav");
    let got = resp.bytes().await.unwrap();
    assert_eq!(got.as_ref(), bytes.as_slice());
    assert_eq!(
        hex::encode(sha2::Sha256::digest(&got)),
        file["sha256"].as_str().unwrap()
    );
    let expires_at =
        chrono::DateTime::parse_from_rfc3339(presigned["expiresAt"].as_str().unwrap()).unwrap();
    let ttl = expires_at.timestamp() - chrono::Utc::now().timestamp();
    assert!(
        (590..=600).contains(&ttl),
        "expiresAt is expiresIn from now, got {ttl} s"
    );
}

#[tokio::test]
async fn presigned_download_serves_byte_ranges() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let bytes = wav(440.0);
    let id = app.upload_id(&alice, bytes.clone(), "PRIVATE").await;
    let url = download_url(&app, Some(&alice), &id, 600, "INLINE").await;

    let resp = app
        .http
        .get(&url)
        .header("Range", "bytes=100-199")
        .send()
        .await
        .unwrap();

    assert_eq!(resp.status().as_u16(), 206);
    assert_eq!(resp.bytes().await.unwrap().as_ref(), &bytes[100..200]);
}

#[tokio::test]
async fn attachment_downloads_name_the_original_file() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let body = app
        .upload_raw(
            Some(&alice),
            wav(440.0),
            "Épisode 1 \"final\".wav",
            "audio/wav",
            "",
        )
        .await;
    let id = body["data"]["uploadAudio"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = download_url(&app, Some(&alice), &id, 600, "ATTACHMENT").await;

    let resp = app.http.get(&url).send().await.unwrap();

    let disposition = resp.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(
        disposition.contains("filename*=UTF-8''%C3%89pisode%201%20%22final%22.wav"),
        "{disposition}"
    );
}

#[tokio::test]
async fn tampered_presigned_urls_are_refused() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let mine = app.upload(&alice, wav(440.0), "PRIVATE").await;
    let url = download_url(
        &app,
        Some(&alice),
        mine["id"].as_str().unwrap(),
        600,
        "INLINE",
    )
    .await;
    let other_key_url = url.replace(&mine["sha256"].as_str().unwrap()[..8], "00000000");
    let longer_url = url.replace("X-Amz-Expires=600", "X-Amz-Expires=6000");
    let bad_signature = {
        let i = url.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
        let flipped = if &url[i..=i] == "a" { "b" } else { "a" };
        format!("{}{flipped}{}", &url[..i], &url[i + 1..])
    };

    for (what, tampered) in [
        ("key", other_key_url),
        ("expiry", longer_url),
        ("signature", bad_signature),
    ] {
        let status = app
            .http
            .get(&tampered)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();

        assert_eq!(status, 403, "a URL with a changed {what} is refused");
    }
}

#[tokio::test]
async fn expired_presigned_urls_are_refused() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let id = app.upload_id(&alice, wav(440.0), "PRIVATE").await;
    let url = download_url(&app, Some(&alice), &id, 1, "INLINE").await;

    tokio::time::sleep(Duration::from_millis(2100)).await;
    let status = app.http.get(&url).send().await.unwrap().status().as_u16();

    // S3 answers 403 (AccessDenied); Garage answers 400 ("Date is too old").
    assert!(
        matches!(status, 400 | 403),
        "an expired URL is refused, got {status}"
    );
}

#[tokio::test]
async fn download_urls_are_not_minted_for_files_the_caller_cannot_see() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let bob = app.token("bob", "user");
    let id = app.upload_id(&alice, wav(440.0), "PRIVATE").await;

    let data = app.query(Some(&bob), URL, json!({"id": id})).await;

    assert!(data["audioFile"].is_null());
}

#[tokio::test]
async fn expires_in_outside_one_second_to_seven_days_is_bad_input() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let id = app.upload_id(&alice, wav(440.0), "PRIVATE").await;

    for expires in [0, -5, 604_801] {
        let code = app
            .error_code(Some(&alice), URL, json!({"id": id, "e": expires}))
            .await;

        assert_eq!(code, "BAD_USER_INPUT", "expiresIn {expires}");
    }
}

#[tokio::test]
async fn deleted_file_download_url_is_refused() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let id = app.upload_id(&alice, wav(440.0), "PRIVATE").await;
    let url = download_url(&app, Some(&alice), &id, 600, "INLINE").await;

    app.query(
        Some(&alice),
        "mutation($id: ID!) { deleteAudioFile(id: $id) }",
        json!({"id": id}),
    )
    .await;
    let gone = wavegate_tests::eventually(Duration::from_secs(10), async || {
        app.http.get(&url).send().await.unwrap().status().as_u16() == 404
    })
    .await;

    assert!(gone, "the object is gone with its last file");
    assert!(app.query(Some(&alice), URL, json!({"id": id})).await["audioFile"].is_null());
}

#[tokio::test]
async fn a_download_url_is_reused_while_most_of_its_validity_is_left() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let id = app.upload_id(&alice, wav(440.0), "PRIVATE").await;
    let url_of = |data: serde_json::Value| {
        data["audioFile"]["downloadUrl"]["url"]
            .as_str()
            .unwrap()
            .to_owned()
    };

    // Two different queries (so the response cache does not answer the second).
    let first = url_of(
        app.query(
            Some(&alice),
            "query($id: ID!) { audioFile(id: $id) { downloadUrl { url } } }",
            json!({"id": id}),
        )
        .await,
    );
    let second = url_of(
        app.query(
            Some(&alice),
            "query($id: ID!) { audioFile(id: $id) { title downloadUrl { url } } }",
            json!({"id": id}),
        )
        .await,
    );
    let shorter = url_of(
        app.query(
            Some(&alice),
            "query($id: ID!) { audioFile(id: $id) { downloadUrl(expiresIn: 60) { url } } }",
            json!({"id": id}),
        )
        .await,
    );

    assert_eq!(
        first, second,
        "the same download keeps its URL, so browsers can cache the audio"
    );
    assert_ne!(first, shorter, "another lifetime is another URL");
    assert_eq!(
        app.http
            .get(&second)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    assert!(
        app.metric(
            "wavegate_cache_requests_total",
            "cache=\"presign\",result=\"hit\""
        )
        .await
            >= 1.0
    );
}
