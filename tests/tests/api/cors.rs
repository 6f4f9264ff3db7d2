//! Browsers PUT straight to storage: the bucket's CORS rules, set at start from
//! `WAVEGATE_CORS_ORIGINS`, let the configured origin's presigned uploads through and no
//! other origin's.
//!
//! These need an S3 server with bucket CORS (Garage, MinIO). The embedded s3s-fs server
//! has none, so there they return early; CI runs them against Garage.

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::types::CorsRule;
use serde_json::json;
use wavegate_tests::{Options, TestApp, fixtures::wav, spawn_app_with};

use crate::presigned_uploads::{COMPLETE, create, declaration};

/// The origin the instance is configured to allow.
const ORIGIN: &str = "https://studio.wavegate.test";
/// An origin it is not.
const OTHER: &str = "https://elsewhere.wavegate.test";

/// An instance allowing [`ORIGIN`]; `None`, after saying so, when its S3 server has no
/// bucket CORS to test.
async fn spawn_allowing_origin() -> Option<TestApp> {
    let app = spawn_app_with(Options {
        settings: vec![("WAVEGATE_CORS_ORIGINS", ORIGIN.into())],
    })
    .await;
    let probe = app.s3().get_bucket_cors().bucket(&app.bucket).send().await;
    let unsupported = probe
        .as_ref()
        .err()
        .and_then(|e| e.as_service_error())
        .and_then(|e| e.code())
        == Some("NotImplemented");
    if unsupported {
        eprintln!(
            "skipped: the S3 server has no bucket CORS (the embedded one); \
             run against Garage to test it (see tests/garage/start.sh)"
        );
        return None;
    }
    Some(app)
}

/// Whether a browser on `origin` goes on after this preflight answer: only after a 2xx
/// that allows its origin (an error answer may carry `*`, so that scripts can read it).
fn browser_proceeds(preflight: &reqwest::Response, origin: &str) -> bool {
    let allowed = preflight
        .headers()
        .get("access-control-allow-origin")
        .and_then(|v| v.to_str().ok());
    preflight.status().is_success() && matches!(allowed, Some(o) if o == origin || o == "*")
}

/// Whether `rule` lets a request carry the header `name` (S3 allows `*` wildcards).
fn allows_header(rule: &CorsRule, name: &str) -> bool {
    rule.allowed_headers().iter().any(|allowed| {
        let allowed = allowed.to_ascii_lowercase();
        match allowed.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => allowed == name,
        }
    })
}

#[tokio::test]
async fn the_bucket_lets_the_configured_origin_put_with_checksum_headers() {
    let Some(app) = spawn_allowing_origin().await else {
        return;
    };

    let cors = app
        .s3()
        .get_bucket_cors()
        .bucket(&app.bucket)
        .send()
        .await
        .expect("the bucket has CORS rules");

    let rules = cors.cors_rules();
    let rule = rules
        .iter()
        .find(|r| r.allowed_origins().iter().any(|o| o == ORIGIN))
        .unwrap_or_else(|| panic!("a rule for {ORIGIN}: {rules:?}"));
    assert!(
        rule.allowed_methods().iter().any(|m| m == "PUT"),
        "{rule:?}"
    );
    for header in ["content-type", "x-amz-checksum-sha256"] {
        assert!(allows_header(rule, header), "{header} allowed: {rule:?}");
    }
    assert!(
        rules
            .iter()
            .flat_map(|r| r.allowed_origins())
            .all(|o| o == ORIGIN),
        "no other origin is allowed: {rules:?}"
    );
}

#[tokio::test]
async fn a_browser_on_the_configured_origin_uploads_through_a_presigned_put() {
    let Some(app) = spawn_allowing_origin().await else {
        return;
    };
    let alice = app.token("alice", "user");
    let bytes = wav(440.0);
    let ticket = create(&app, &alice, declaration(&bytes, "tone.wav")).await;
    let id = ticket["audioFile"]["id"].as_str().unwrap().to_owned();
    let url = ticket["put"]["url"].as_str().unwrap().to_owned();
    // The headers a browser sends with the PUT; it sets Content-Length itself.
    let headers: Vec<(String, String)> = ticket["put"]["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            let name = h["name"].as_str().unwrap().to_ascii_lowercase();
            (name, h["value"].as_str().unwrap().to_owned())
        })
        .filter(|(name, _)| name != "content-length")
        .collect();
    let requested = headers
        .iter()
        .map(|(name, _)| name.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let preflight = async |origin: &str| {
        app.http
            .request(reqwest::Method::OPTIONS, &url)
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "PUT")
            .header("Access-Control-Request-Headers", &requested)
            .send()
            .await
            .unwrap()
    };

    let allowed = preflight(ORIGIN).await;
    let refused = preflight(OTHER).await;
    let mut put = app.http.put(&url).header("Origin", ORIGIN);
    for (name, value) in &headers {
        put = put.header(name, value);
    }
    let put = put.body(bytes).send().await.unwrap();
    let put_status = put.status().as_u16();
    let put_allow_origin = put.headers().get("access-control-allow-origin").cloned();
    let file = app.query(Some(&alice), COMPLETE, json!({"id": id})).await["completeUpload"].clone();

    assert!(
        browser_proceeds(&allowed, ORIGIN),
        "preflight from {ORIGIN}: {} {:?}",
        allowed.status(),
        allowed.headers()
    );
    assert_eq!(allowed.headers()["access-control-allow-origin"], ORIGIN);
    let methods = allowed.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap();
    assert!(methods.contains("PUT"), "allowed methods: {methods}");
    assert!(
        !browser_proceeds(&refused, OTHER),
        "preflight from {OTHER}: {} {:?}",
        refused.status(),
        refused.headers()
    );
    assert_eq!(put_status, 200);
    assert_eq!(
        put_allow_origin.as_ref().map(|v| v.to_str().unwrap()),
        Some(ORIGIN),
        "the browser may read the PUT's answer"
    );
    assert_eq!(file["status"], "READY");
}
