//! The entity cache beneath the dataloaders: rows by id (files, users) and a file's
//! renditions and jobs, shared by every caller. It holds what the database says, not
//! what a caller may see: resolvers apply the access rules after the load, as they do to
//! rows read from the database.
//!
//! An entry keeps the generation of the counter that covers it (`file:<id>` for a file
//! and what hangs off it, `user:<id>` for a user) and of the epoch, read before the
//! database was. It is served only while both are unchanged, checked for a whole batch
//! in one read of the counters (one Redis `MGET` when Redis is configured), so no
//! instance serves a row older than a write that has returned. A write between the
//! counter read and the database read leaves an entry that the next lookup finds stale.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use super::generations::{EPOCH, Generations};
use crate::error::ApiResult;
use crate::metrics::Metrics;

/// Entries kept per kind.
const CAPACITY: u64 = 100_000;
/// Longest life of an entry. Counters cover every write wavegate makes; the limit bounds
/// what they do not cover (a user's role, changed by a token).
const TTL: Duration = Duration::from_secs(60);

/// One cached value with the generations it was loaded under.
#[derive(Clone)]
struct Stamped<T> {
    epoch: u64,
    generation: u64,
    value: T,
}

/// Cached rows of one kind, keyed by id.
pub struct Kind<T> {
    entries: moka::future::Cache<Uuid, Stamped<T>>,
    /// The counter covering an id.
    counter: fn(Uuid) -> String,
}

impl<T: Clone + Send + Sync + 'static> Kind<T> {
    fn new(counter: fn(Uuid) -> String) -> Self {
        Self {
            entries: moka::future::Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(TTL)
                .build(),
            counter,
        }
    }
}

/// The entity cache of one instance.
pub struct EntityCache {
    generations: Arc<Generations>,
    metrics: Arc<Metrics>,
    pub files: Kind<entity::audio_file::Model>,
    pub users: Kind<entity::user::Model>,
    pub renditions: Kind<Vec<entity::rendition::Model>>,
    pub jobs: Kind<Vec<entity::processing_job::Model>>,
}

impl std::fmt::Debug for EntityCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntityCache")
            .field("files", &self.files.entries.entry_count())
            .finish_non_exhaustive()
    }
}

impl EntityCache {
    /// A cache checked against `generations`.
    pub fn new(generations: Arc<Generations>, metrics: Arc<Metrics>) -> Self {
        Self {
            generations,
            metrics,
            files: Kind::new(super::file),
            users: Kind::new(super::user),
            renditions: Kind::new(super::file),
            jobs: Kind::new(super::file),
        }
    }

    /// The values of `keys`: valid entries from the cache, the rest from `load` (whose
    /// answers are kept). Keys `load` does not answer are not kept. When the counters
    /// cannot be read (Redis down), everything comes from `load`.
    pub async fn get_or_load<T, F, Fut>(
        &self,
        kind: &Kind<T>,
        keys: &[Uuid],
        load: F,
    ) -> ApiResult<HashMap<Uuid, T>>
    where
        T: Clone + Send + Sync + 'static,
        F: FnOnce(Vec<Uuid>) -> Fut,
        Fut: Future<Output = ApiResult<HashMap<Uuid, T>>>,
    {
        let names: Vec<String> = keys.iter().map(|k| (kind.counter)(*k)).collect();
        let mut all: Vec<&str> = names.iter().map(String::as_str).collect();
        all.push(EPOCH);
        let Some(mut generations) = self.generations.current(&all).await else {
            return load(keys.to_vec()).await;
        };
        let epoch = generations.pop().unwrap_or(0);

        let mut found = HashMap::with_capacity(keys.len());
        let mut missing = Vec::new();
        let mut current = HashMap::with_capacity(keys.len());
        for (key, generation) in keys.iter().zip(generations) {
            current.insert(*key, generation);
            match kind.entries.get(key).await {
                Some(s) if s.epoch == epoch && s.generation == generation => {
                    found.insert(*key, s.value);
                }
                _ => missing.push(*key),
            }
        }
        self.count("hit", found.len());
        self.count("miss", missing.len());
        if missing.is_empty() {
            return Ok(found);
        }
        let loaded = load(missing).await?;
        for (key, value) in loaded {
            if let Some(&generation) = current.get(&key) {
                let stamped = Stamped {
                    epoch,
                    generation,
                    value: value.clone(),
                };
                kind.entries.insert(key, stamped).await;
            }
            found.insert(key, value);
        }
        Ok(found)
    }

    fn count(&self, result: &str, n: usize) {
        if n > 0 {
            self.metrics
                .cache_requests
                .with_label_values(&["entity", result])
                .inc_by(n as u64);
        }
    }
}

/// Keys padded to absent values: loaders of lists answer every key, even with no rows.
pub fn every_key<K: Eq + Hash + Copy, T: Default>(
    keys: &[K],
    mut found: HashMap<K, T>,
) -> HashMap<K, T> {
    for k in keys {
        found.entry(*k).or_default();
    }
    found
}
