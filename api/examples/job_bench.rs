//! The job benchmark's load generator, against a running wavegate.
//!
//! `job_bench claims <base URL> <workers>`: workers claim jobs of kind `bench-claim`
//! (inserted by `bench/jobs.sh`) until none is left, each with its own worker token;
//! prints `claims N seconds S per_second R p50_ms A p99_ms B`.
//!
//! `job_bench latency <report URL> <subscribe URL> <job id> <file id> <reports>`: claims
//! the job (kind `bench-live`), subscribes to `jobUpdates` of its file as an admin on the
//! second URL, then reports progress `reports` times, one at a time; for each, the time
//! from sending `reportJobProgress` to the subscriber's message showing it. Prints
//! `reports N p50_ms A p99_ms B max_ms C`.
//!
//! Tokens are minted with `WAVEGATE_JWT_SECRET`, which must be the server's.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark tool fails loudly"
)]

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let settings = wavegate::config::Settings::load().expect("settings (WAVEGATE_JWT_SECRET)");
    let verifier =
        wavegate::auth::JwtVerifier::from_settings(&settings.jwt, &settings.data_dir).unwrap();
    let mint = |sub: &str, role| verifier.mint(sub, role, Duration::from_secs(3600)).unwrap();
    match args.get(1).map(String::as_str) {
        Some("claims") => {
            let base = args[2].clone();
            let workers: usize = args[3].parse().unwrap();
            let tokens = (0..workers)
                .map(|w| mint(&format!("bench-worker-{w}"), entity::enums::Role::Worker))
                .collect();
            claims(&base, tokens).await;
        }
        Some("latency") => {
            let reports: usize = args[6].parse().unwrap();
            let worker = mint("bench-live-worker", entity::enums::Role::Worker);
            let admin = mint("bench-admin", entity::enums::Role::Admin);
            latency(
                &args[2], &args[3], &args[4], &args[5], reports, &worker, &admin,
            )
            .await;
        }
        _ => panic!("usage: job_bench claims|latency ..."),
    }
}

const CLAIM: &str = "mutation { claimJob(kinds: [\"bench-claim\"]) { id } }";

async fn claims(base: &str, tokens: Vec<String>) {
    let http = reqwest::Client::new();
    let url = format!("{base}/graphql");
    let started = Instant::now();
    let mut tasks = Vec::new();
    for token in tokens {
        let (http, url) = (http.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::new();
            loop {
                let sent = Instant::now();
                let body: Value = http
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&json!({"query": CLAIM}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                assert!(body.get("errors").is_none(), "claim failed: {body}");
                if body["data"]["claimJob"].is_null() {
                    return times;
                }
                times.push(sent.elapsed());
            }
        }));
    }
    let mut times = Vec::new();
    for task in tasks {
        times.extend(task.await.unwrap());
    }
    let seconds = started.elapsed().as_secs_f64();
    times.sort();
    println!(
        "claims {} seconds {seconds:.2} per_second {:.0} p50_ms {:.2} p99_ms {:.2}",
        times.len(),
        times.len() as f64 / seconds,
        percentile(&times, 0.50),
        percentile(&times, 0.99),
    );
}

async fn latency(
    report_base: &str,
    subscribe_base: &str,
    job: &str,
    file: &str,
    reports: usize,
    worker: &str,
    admin: &str,
) {
    let http = reqwest::Client::new();
    let url = format!("{report_base}/graphql");
    let post = |query: String, variables: Value| {
        let req = http
            .post(&url)
            .bearer_auth(worker)
            .json(&json!({"query": query, "variables": variables}));
        async move {
            let body: Value = req.send().await.unwrap().json().await.unwrap();
            assert!(body.get("errors").is_none(), "request failed: {body}");
            body
        }
    };
    let claimed = post(
        "mutation { claimJob(kinds: [\"bench-live\"]) { id } }".into(),
        json!({}),
    )
    .await;
    assert_eq!(
        claimed["data"]["claimJob"]["id"], job,
        "the live job is claimed"
    );

    // The subscriber, on its own connection.
    let ws_url = format!("{}/graphql/ws", subscribe_base.replace("http://", "ws://"));
    let mut request = ws_url.into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let send = |v: Value| Message::Text(v.to_string().into());
    ws.send(send(
        json!({"type": "connection_init", "payload": {"authorization": format!("Bearer {admin}")}}),
    ))
    .await
    .unwrap();
    ws.send(send(json!({
        "type": "subscribe", "id": "1",
        "payload": {"query": "subscription($f: ID!) { jobUpdates(audioFileId: $f) { id progress } }", "variables": {"f": file}},
    })))
    .await
    .unwrap();
    let (heard_tx, mut heard) = tokio::sync::mpsc::unbounded_channel::<(f64, Instant)>();
    tokio::spawn(async move {
        while let Some(Ok(Message::Text(text))) = ws.next().await {
            let msg: Value = serde_json::from_str(&text).unwrap();
            if msg["type"] == "next"
                && let Some(p) = msg["payload"]["data"]["jobUpdates"]["progress"].as_f64()
            {
                let _ = heard_tx.send((p, Instant::now()));
            }
        }
    });
    // The current state arrives first.
    tokio::time::timeout(Duration::from_secs(5), heard.recv())
        .await
        .expect("the subscription answers")
        .unwrap();

    let mut times = Vec::new();
    for i in 1..=reports {
        let progress = i as f64 / (reports as f64 + 1.0);
        let sent = Instant::now();
        post(
            "mutation($id: ID!, $p: Float!) { reportJobProgress(id: $id, progress: $p) { id } }"
                .into(),
            json!({"id": job, "p": progress}),
        )
        .await;
        loop {
            let (p, at) = tokio::time::timeout(Duration::from_secs(5), heard.recv())
                .await
                .expect("the subscriber hears the report")
                .unwrap();
            if (p - progress).abs() < 1e-12 {
                times.push(at - sent);
                break;
            }
        }
    }
    times.sort();
    println!(
        "reports {} p50_ms {:.2} p99_ms {:.2} max_ms {:.2}",
        times.len(),
        percentile(&times, 0.50),
        percentile(&times, 0.99),
        times.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
    );
}

fn percentile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}
