//! The cache benchmark's load generator: a skewed (Zipf) mix of reads over many users with
//! a share of writes (users renaming their own file), checking every read for staleness.
//!
//! `cargo run --release --example cache_mix -- <base URL> <users> <seconds> <connections>`,
//! against a server seeded by `wavegate seed`, with `WAVEGATE_JWT_SECRET` set as the
//! server's. A read is stale when it shows a title older than the last rename of that
//! file that had returned before the read was sent.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark tool fails loudly"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Share of requests that are writes.
const WRITE_SHARE: f64 = 0.05;
/// Zipf exponent of user popularity.
const ZIPF_S: f64 = 1.1;

struct User {
    token: String,
    /// The file this user renames, and whose title reads check.
    file: String,
    /// Highest rename that has returned.
    committed: AtomicU64,
    /// One rename at a time per user, so renames land in the order they are numbered.
    writing: tokio::sync::Mutex<()>,
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let base = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "http://127.0.0.1:18080".into());
    let n: usize = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(200);
    let seconds: u64 = args.get(3).and_then(|v| v.parse().ok()).unwrap_or(60);
    let connections: usize = args.get(4).and_then(|v| v.parse().ok()).unwrap_or(16);
    let settings = wavegate::config::Settings::load().expect("settings (WAVEGATE_JWT_SECRET)");
    let verifier =
        wavegate::auth::JwtVerifier::from_settings(&settings.jwt, &settings.data_dir).unwrap();
    let http = reqwest::Client::new();
    let url = format!("{base}/graphql");

    // Each user's token and own newest file.
    let mut users = Vec::with_capacity(n);
    for i in 1..=n {
        let sub = format!("user-{i}");
        let token = verifier
            .mint(&sub, entity::enums::Role::User, Duration::from_secs(3600))
            .unwrap();
        let query = "query Own($s: String) { audioFiles(first: 1, filter: { ownerSubject: $s }) { edges { node { id } } } }";
        let body: Value = http
            .post(&url)
            .bearer_auth(&token)
            .json(&json!({"query": query, "variables": {"s": sub}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let file = body["data"]["audioFiles"]["edges"][0]["node"]["id"]
            .as_str()
            .expect("each user owns a file")
            .to_owned();
        users.push(User {
            token,
            file,
            committed: AtomicU64::new(0),
            writing: tokio::sync::Mutex::new(()),
        });
    }
    let users = Arc::new(users);

    // Zipf over users: cumulative weights 1/k^s.
    let weights: Vec<f64> = (1..=n).map(|k| 1.0 / (k as f64).powf(ZIPF_S)).collect();
    let total: f64 = weights.iter().sum();
    let mut acc = 0.0;
    let cdf: Arc<Vec<f64>> = Arc::new(
        weights
            .iter()
            .map(|w| {
                acc += w / total;
                acc
            })
            .collect(),
    );

    let seq = Arc::new(AtomicU64::new(0));
    let stale = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (http, url, users, cdf, seq, stale) = (
            http.clone(),
            url.clone(),
            users.clone(),
            cdf.clone(),
            seq.clone(),
            stale.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut read_latencies = Vec::new();
            let (mut writes, mut errors) = (0u64, 0u64);
            while Instant::now() < deadline {
                let r: f64 = rand::random();
                let k = cdf.partition_point(|c| *c < r).min(users.len() - 1);
                let user = &users[k];
                if rand::random::<f64>() < WRITE_SHARE {
                    let _one_at_a_time = user.writing.lock().await;
                    let v = seq.fetch_add(1, Ordering::SeqCst) + 1;
                    let q = "mutation($id: ID!, $t: String) { updateAudioFile(id: $id, input: { title: $t }) { id } }";
                    let ok = http.post(&url).bearer_auth(&user.token)
                        .json(&json!({"query": q, "variables": {"id": user.file, "t": format!("v{v}")}}))
                        .send().await.map(|r| r.status().is_success()).unwrap_or(false);
                    if ok { user.committed.fetch_max(v, Ordering::SeqCst); writes += 1; } else { errors += 1; }
                    continue;
                }
                let floor = user.committed.load(Ordering::SeqCst);
                let q = "query Read($id: ID!) { audioFile(id: $id) { title } audioFiles(first: 20) { edges { node { id title } } } }";
                let started = Instant::now();
                let body: Option<Value> = match http.post(&url).bearer_auth(&user.token)
                    .json(&json!({"query": q, "variables": {"id": user.file}})).send().await {
                    Ok(r) if r.status().is_success() => r.json().await.ok(),
                    _ => None,
                };
                read_latencies.push(started.elapsed());
                let Some(body) = body else { errors += 1; continue };
                let title = body["data"]["audioFile"]["title"].as_str().unwrap_or("");
                let seen: u64 = title.strip_prefix('v').and_then(|v| v.parse().ok()).unwrap_or(0);
                if seen < floor {
                    stale.fetch_add(1, Ordering::SeqCst);
                }
            }
            (read_latencies, writes, errors)
        }));
    }
    let mut latencies = Vec::new();
    let (mut writes, mut errors) = (0, 0);
    for t in tasks {
        let (l, w, e) = t.await.unwrap();
        latencies.extend(l);
        writes += w;
        errors += e;
    }
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    let reads = latencies.len() as u64;
    println!(
        "reads {reads} writes {writes} errors {errors} stale {} read/s {:.0} p50 {:.2}ms p99 {:.2}ms",
        stale.load(Ordering::SeqCst),
        reads as f64 / seconds as f64,
        pct(0.50).as_secs_f64() * 1000.0,
        pct(0.99).as_secs_f64() * 1000.0,
    );
}
