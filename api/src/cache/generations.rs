//! Generation counters: one per dependency, bumped by writes; and, with Redis, where
//! shared answers are kept.
//!
//! Without Redis the counters live in this process. With Redis they live there, so every
//! instance sees every write at once; each Redis call has a short timeout, and after a
//! failure Redis is left alone for [`PAUSE`] (the cache is bypassed meanwhile).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use std::sync::Arc;

use redis::aio::ConnectionManager;

use crate::metrics::Metrics;

/// Bumped after Redis missed writes; every entry depends on it.
pub const EPOCH: &str = "epoch";
/// Bumped by every write: an answer computed while it moved is not stored.
const WRITES: &str = "writes";
/// Longest wait for one Redis call.
const TIMEOUT: Duration = Duration::from_millis(250);
/// How long Redis is left alone after a failure.
const PAUSE: Duration = Duration::from_secs(3);

/// The counters of one instance.
pub struct Generations {
    inner: Inner,
    /// Invalidation and Redis error counters.
    metrics: Arc<Metrics>,
}

enum Inner {
    /// In this process (no Redis configured).
    Local(Mutex<HashMap<String, u64>>),
    /// In Redis.
    Redis(Shared),
}

/// Counters and answers in Redis.
struct Shared {
    /// Reconnects by itself.
    conn: ConnectionManager,
    /// Prefix of every key.
    prefix: String,
    /// Unix milliseconds until which Redis is not tried.
    paused_until: AtomicI64,
    /// A bump failed: the epoch must move before the cache is trusted again.
    dirty: AtomicBool,
    /// Whether the last call worked (reported by `/readyz`).
    up: AtomicBool,
    /// Counts failed calls.
    errors: prometheus::IntCounter,
}

impl std::fmt::Debug for Generations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.inner {
            Inner::Local(_) => "local",
            Inner::Redis(_) => "redis",
        };
        f.debug_struct("Generations").field("kind", &kind).finish()
    }
}

impl Generations {
    /// Counters in this process.
    pub fn local(metrics: Arc<Metrics>) -> Self {
        Self {
            inner: Inner::Local(Mutex::new(HashMap::new())),
            metrics,
        }
    }

    /// Counters in Redis, under `prefix`.
    pub fn redis(conn: ConnectionManager, prefix: &str, metrics: Arc<Metrics>) -> Self {
        let errors = metrics.cache_redis_errors.clone();
        Self {
            inner: Inner::Redis(Shared {
                conn,
                prefix: prefix.to_owned(),
                paused_until: AtomicI64::new(0),
                dirty: AtomicBool::new(false),
                up: AtomicBool::new(true),
                errors,
            }),
            metrics,
        }
    }

    /// Current values of `names` (missing ones are 0); `None` when Redis does not answer.
    pub async fn current(&self, names: &[&str]) -> Option<Vec<u64>> {
        match &self.inner {
            Inner::Local(map) => {
                let map = map.lock().ok()?;
                Some(
                    names
                        .iter()
                        .map(|n| map.get(*n).copied().unwrap_or(0))
                        .collect(),
                )
            }
            Inner::Redis(shared) => shared.mget(names).await,
        }
    }

    /// The write counter; `None` when Redis does not answer.
    pub async fn writes(&self) -> Option<u64> {
        self.current(&[WRITES])
            .await
            .and_then(|v| v.first().copied())
    }

    /// Current values of `names` and the write counter, read together.
    pub async fn current_and_writes(&self, names: &[&str]) -> Option<(Vec<u64>, u64)> {
        let mut all: Vec<&str> = names.to_vec();
        all.push(WRITES);
        let mut values = self.current(&all).await?;
        let writes = values.pop()?;
        Some((values, writes))
    }

    /// Bumps `names` and the write counter. Called after a write commits, before the
    /// mutation answers.
    pub async fn bump(&self, names: &[String]) {
        self.metrics.cache_invalidations.inc_by(names.len() as u64);
        match &self.inner {
            Inner::Local(map) => {
                if let Ok(mut map) = map.lock() {
                    for n in names.iter().map(String::as_str).chain([WRITES]) {
                        *map.entry(n.to_owned()).or_default() += 1;
                    }
                }
            }
            Inner::Redis(shared) => shared.bump(names).await,
        }
    }

    /// A stored answer from Redis (nothing without Redis: the process tier has it).
    pub async fn load_entry(&self, key: &[u8; 32]) -> Option<Vec<u8>> {
        match &self.inner {
            Inner::Local(_) => None,
            Inner::Redis(shared) => {
                let k = format!("{}r:{}", shared.prefix, hex::encode(key));
                shared.call(redis::cmd("GET").arg(k)).await.flatten()
            }
        }
    }

    /// Stores an answer in Redis for `ttl`.
    pub async fn save_entry(&self, key: &[u8; 32], raw: Vec<u8>, ttl: Duration) {
        if let Inner::Redis(shared) = &self.inner {
            let k = format!("{}r:{}", shared.prefix, hex::encode(key));
            let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
            let _: Option<()> = shared
                .call(redis::cmd("SET").arg(k).arg(raw).arg("PX").arg(ms))
                .await;
        }
    }

    /// Moves the epoch if writes were missed while Redis was away (run periodically, so an
    /// idle instance does not leave other instances serving stale answers).
    pub async fn heal(&self) {
        if let Inner::Redis(shared) = &self.inner {
            shared.clean().await;
        }
    }

    /// `Some(true)` while Redis answers, `Some(false)` while it does not, `None` without it.
    pub fn redis_up(&self) -> Option<bool> {
        match &self.inner {
            Inner::Local(_) => None,
            Inner::Redis(shared) => Some(shared.up.load(Ordering::Relaxed)),
        }
    }
}

impl Shared {
    fn key(&self, name: &str) -> String {
        format!("{}g:{name}", self.prefix)
    }

    /// Runs one command with the timeout and the pause; `None` on any failure.
    async fn call<T: redis::FromRedisValue>(&self, cmd: &mut redis::Cmd) -> Option<T> {
        let now = chrono::Utc::now().timestamp_millis();
        if now < self.paused_until.load(Ordering::Relaxed) {
            return None;
        }
        let mut conn = self.conn.clone();
        match tokio::time::timeout(TIMEOUT, cmd.query_async::<T>(&mut conn)).await {
            Ok(Ok(v)) => {
                self.up.store(true, Ordering::Relaxed);
                Some(v)
            }
            outcome => {
                self.errors.inc();
                if self.up.swap(false, Ordering::Relaxed) {
                    match outcome {
                        Ok(Err(e)) => {
                            tracing::warn!(error = %e, "redis failed; cache bypassed for now")
                        }
                        _ => tracing::warn!("redis timed out; cache bypassed for now"),
                    }
                }
                let pause = i64::try_from(PAUSE.as_millis()).unwrap_or(i64::MAX);
                self.paused_until.store(now + pause, Ordering::Relaxed);
                None
            }
        }
    }

    /// Moves the epoch when writes were missed; `false` while that cannot be done.
    async fn clean(&self) -> bool {
        if !self.dirty.load(Ordering::Relaxed) {
            return true;
        }
        let moved: Option<u64> = self.call(redis::cmd("INCR").arg(self.key(EPOCH))).await;
        if moved.is_some() {
            self.dirty.store(false, Ordering::Relaxed);
            tracing::info!("redis is back; cached answers from before the outage dropped");
        }
        moved.is_some()
    }

    async fn mget(&self, names: &[&str]) -> Option<Vec<u64>> {
        if !self.clean().await {
            return None;
        }
        let keys: Vec<String> = names.iter().map(|n| self.key(n)).collect();
        let values: Vec<Option<u64>> = self.call(redis::cmd("MGET").arg(&keys)).await?;
        let mut out = Vec::with_capacity(values.len());
        for (name, value) in names.iter().zip(values) {
            match (value, *name == EPOCH) {
                (Some(v), _) => out.push(v),
                (None, false) => out.push(0),
                // A Redis without an epoch (new, or restarted empty) gets a random one, so
                // counters that start again from zero never match answers from before.
                (None, true) => {
                    let fresh = u64::from(rand::random::<u32>()) + 1;
                    let _: Option<bool> = self
                        .call(redis::cmd("SET").arg(self.key(EPOCH)).arg(fresh).arg("NX"))
                        .await;
                    let set: Option<u64> =
                        self.call(redis::cmd("GET").arg(self.key(EPOCH))).await?;
                    out.push(set?);
                }
            }
        }
        Some(out)
    }

    async fn bump(&self, names: &[String]) {
        let mut pipe = redis::pipe();
        for n in names.iter().map(String::as_str).chain([WRITES]) {
            pipe.cmd("INCR").arg(self.key(n)).ignore();
        }
        let mut conn = self.conn.clone();
        let done =
            if chrono::Utc::now().timestamp_millis() < self.paused_until.load(Ordering::Relaxed) {
                false
            } else {
                matches!(
                    tokio::time::timeout(TIMEOUT, pipe.query_async::<()>(&mut conn)).await,
                    Ok(Ok(()))
                )
            };
        if !done {
            self.errors.inc();
            // Answers cached elsewhere may now be stale: drop them all once Redis is back.
            self.dirty.store(true, Ordering::Relaxed);
            tracing::warn!("redis missed a write; the cache epoch moves when it is back");
        }
    }
}
