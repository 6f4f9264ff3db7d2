//! Operational routes: health, readiness, metrics, and GraphiQL served offline.

use serde_json::json;
use wavegate_tests::{fixtures::wav, spawn_app};

#[tokio::test]
async fn health_and_readiness_report_their_dependencies() {
    let app = spawn_app().await;

    let health = app
        .http
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    let ready = app
        .http
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .unwrap();

    assert_eq!(health.status().as_u16(), 200);
    assert_eq!(ready.status().as_u16(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["database"], "up");
    assert_eq!(body["storage"], "up");
    let redis_expected = if std::env::var("WAVEGATE_TEST_REDIS_URL").is_ok_and(|v| !v.is_empty()) {
        "up"
    } else {
        "not configured"
    };
    assert_eq!(body["redis"], redis_expected);
}

#[tokio::test]
async fn metrics_count_requests_operations_statements_and_storage_calls() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    app.upload(&alice, wav(440.0), "PRIVATE").await;

    app.query(
        Some(&alice),
        "query Library { audioFiles { edges { node { owner { subject } } } } }",
        json!({}),
    )
    .await;
    let text = app
        .http
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    assert!(
        text.contains("wavegate_http_requests_total{status=\"200\"}"),
        "{text}"
    );
    assert!(
        text.contains("wavegate_graphql_operation_duration_seconds_count{operation=\"Library\"} 1"),
        "{text}"
    );
    assert!(app.metric("wavegate_db_statements_total", "").await > 0.0);
    assert_eq!(
        app.metric(
            "wavegate_s3_requests_total",
            "op=\"put_object\",outcome=\"ok\""
        )
        .await,
        1.0
    );
    assert!(
        app.metric("wavegate_dataloader_batch_size_count", "loader=\"users\"")
            .await
            >= 1.0,
        "{text}"
    );
}

#[tokio::test]
async fn graphiql_is_served_from_the_binary_without_outside_urls() {
    let app = spawn_app().await;

    let page = app
        .http
        .get(format!("{}/graphql", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.unwrap();

    assert!(html.contains("graphiql"), "the page loads GraphiQL");
    assert!(
        !html.contains("https://") && !html.contains("http://"),
        "no outside URL in the page"
    );
    for asset in [
        "graphiql.min.js",
        "graphiql.min.css",
        "react.production.min.js",
        "react-dom.production.min.js",
    ] {
        let resp = app
            .http
            .get(format!("{}/graphql/assets/{asset}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{asset}");
        assert!(
            resp.bytes().await.unwrap().len() > 1000,
            "{asset} has content"
        );
    }
}

#[tokio::test]
async fn malformed_settings_name_the_key_at_fault() {
    let cases = [
        ("WAVEGATE_LISTEN", "not-an-address"),
        ("WAVEGATE_MULTIPART_THRESHOLD_BYTES", "12abc"),
        ("WAVEGATE_CACHE", "maybe"),
        ("WAVEGATE_S3_ENDPOINT", "::"),
        ("WAVEGATE_S3_BUCKET", "No_Such Bucket"),
    ];
    for (key, value) in cases {
        let err = wavegate::config::Settings::from_pairs([(key, value)]).expect_err("refused");

        assert_eq!(err.key, key);
        assert!(
            err.to_string()
                .starts_with(&format!("configuration error: {key}:")),
            "{err}"
        );
        assert!(!err.to_string().contains('\n'), "one line");
    }
}
