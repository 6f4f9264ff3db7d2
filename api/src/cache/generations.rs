//! Generation counters: one per dependency, bumped by writes; and, with Redis, where
//! shared answers are kept.
//!
//! Every bump takes the next number of one write sequence and stamps it on each counter
//! it moves, in one atomic step (a Lua script with Redis). A counter's value is thus the
//! number of the last write that touched it, and comparing it with the sequence read
//! earlier tells whether that write came after: how the response cache knows that an
//! answer it computed saw every write to what the answer shows.
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
/// The write sequence: every bump takes its next number.
const WRITES: &str = "writes";
/// One bump in Redis: `KEYS[1]` is the sequence, the other keys take its new number.
const BUMP_SCRIPT: &str = "local w = redis.call('INCR', KEYS[1]) \
    for i = 2, #KEYS do redis.call('SET', KEYS[i], w) end return w";
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

    /// Where the write sequence and the epoch stand now; `None` when Redis does not
    /// answer.
    pub async fn snapshot(&self) -> Option<Snapshot> {
        match self.current(&[WRITES, EPOCH]).await?.as_slice() {
            [writes, epoch] => Some(Snapshot {
                writes: *writes,
                epoch: *epoch,
            }),
            _ => None,
        }
    }

    /// Bumps `names`: each takes the next number of the write sequence. Called after a
    /// write commits, before the mutation answers.
    pub async fn bump(&self, names: &[String]) {
        self.metrics.cache_invalidations.inc_by(names.len() as u64);
        match &self.inner {
            Inner::Local(map) => {
                if let Ok(mut map) = map.lock() {
                    let sequence = map.entry(WRITES.to_owned()).or_default();
                    *sequence += 1;
                    let number = *sequence;
                    for n in names {
                        map.insert(n.clone(), number);
                    }
                }
            }
            Inner::Redis(shared) => shared.bump(names).await,
        }
    }

    /// Stored answers from Redis, one per key, in one round trip (nothing without Redis:
    /// the process tier has them); `None` when Redis does not answer.
    pub async fn load_entries(&self, keys: &[&[u8; 32]]) -> Option<Vec<Option<Vec<u8>>>> {
        match &self.inner {
            Inner::Local(_) => None,
            Inner::Redis(shared) => {
                let mut cmd = redis::cmd("MGET");
                for key in keys {
                    cmd.arg(format!("{}r:{}", shared.prefix, hex::encode(key)));
                }
                shared.call(&mut cmd).await
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

/// The write sequence and the epoch at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    /// Number of the last write bumped so far.
    pub writes: u64,
    /// The epoch then.
    pub epoch: u64,
}

impl Snapshot {
    /// Whether counters read later (`values` of `names`, the epoch among them) show no
    /// write after this snapshot and the same epoch.
    pub fn still_holds(&self, names: &[&str], values: &[u64]) -> bool {
        names.len() == values.len()
            && names.iter().zip(values).all(|(name, value)| {
                if *name == EPOCH {
                    *value == self.epoch
                } else {
                    *value <= self.writes
                }
            })
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
        let mut script = redis::cmd("EVAL");
        script
            .arg(BUMP_SCRIPT)
            .arg(names.len() + 1)
            .arg(self.key(WRITES));
        for n in names {
            script.arg(self.key(n));
        }
        let mut conn = self.conn.clone();
        let done =
            if chrono::Utc::now().timestamp_millis() < self.paused_until.load(Ordering::Relaxed) {
                false
            } else {
                matches!(
                    tokio::time::timeout(TIMEOUT, script.query_async::<u64>(&mut conn)).await,
                    Ok(Ok(_))
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
