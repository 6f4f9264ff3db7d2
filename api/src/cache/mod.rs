//! The response cache: whole GraphQL answers, kept in process (moka) and, with
//! `REDIS_URL`, in Redis, so that instances share them.
//!
//! # Keys
//!
//! A key is the SHA-256 of length-prefixed parts: the schema, the query text, the
//! operation name, the variables and a scope. Length prefixes keep any variable or claim
//! from spelling another key's parts. An answer is private by default, kept under the
//! caller's own scope: anonymous callers share one, every authenticated caller (subject
//! and role) has its own, so no answer built for one caller is served to another. It is
//! kept under the shared scope, for every caller, only when it is public twice over: the
//! schema's cache-control hints mark none of its fields private (`me` and the listings
//! are), and its resolvers vouched that what they showed is the same for any caller (a
//! `PUBLIC`, `READY` file) and nothing showed otherwise ([`Dependencies::shown_to_all`],
//! [`Dependencies::caller_dependent`]). Lookups try the shared key, then the caller's.
//!
//! # Invalidation
//!
//! Resolvers record what an answer depends on ([`Dependencies`]): each file it shows
//! (`file:<id>`, which covers its fields, renditions and jobs, and also a file id found
//! missing), the totals of each user it shows (`user:<id>`), and for a listing which
//! files it holds in which order (`owner:<id>`, `public`, `all-files`, and their
//! `titles:` twins for listings sorted or filtered by title). Writes bump exactly the
//! counters of what they changed ([`Change`]): a rename of a public file moves that file
//! and the title-ordered public listings, not every answer that shows public files.
//! An entry keeps the generations it was built under and is served only while they are
//! all unchanged, checked on every hit against the shared counters (Redis, or the process
//! when Redis is not configured), so after a mutation returns no instance serves an
//! answer older than it. A bump stamps its counters with the number of its write, so an
//! answer is stored only when no counter it depends on moved after its miss began.

//! # Failure
//!
//! Redis calls have short timeouts; after a failure the cache is bypassed for a few
//! seconds (answers come from the database) and tried again. A write that could not bump
//! its counters marks the instance, which bumps a global epoch once Redis answers again,
//! dropping every entry. No request fails because of the cache.
//!
//! Concurrent misses on one key compute once per instance (a lock per key being
//! computed); the others wait and then find the stored answer.

pub mod entities;
pub mod generations;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::metrics::Metrics;
use generations::Generations;

/// How long an answer lives at most.
const MAX_TTL: Duration = Duration::from_secs(60);
/// Presigned URLs in a cached answer must stay valid at least this long after the
/// answer's expiry.
const URL_MARGIN: Duration = Duration::from_secs(60);
/// Bytes of answers kept in process.
const LOCAL_CAPACITY_BYTES: u64 = 64 * 1024 * 1024;

/// What one answer depends on, and the earliest expiry of the URLs it holds; collected by
/// resolvers during execution.
#[derive(Default, Debug)]
pub struct Dependencies {
    /// Dependency names (`owner:<id>`, `public`, `file:<id>`, `all-files`).
    keys: Mutex<HashSet<String>>,
    /// The earliest `expiresAt` of a presigned URL in the answer.
    earliest_url_expiry: Mutex<Option<DateTime<Utc>>>,
    /// The answer shows something no counter covers: never store it.
    uncacheable: std::sync::atomic::AtomicBool,
    /// A resolver vouched that what it showed is the same for every caller.
    shown_to_all: std::sync::atomic::AtomicBool,
    /// A resolver showed something that depends on who asks.
    caller_dependent: std::sync::atomic::AtomicBool,
}

impl Dependencies {
    /// Records that the answer shows data that `dep` covers.
    pub fn add(&self, dep: String) {
        if let Ok(mut keys) = self.keys.lock() {
            keys.insert(dep);
        }
    }

    /// Records a presigned URL expiring at `at`.
    pub fn url_expires(&self, at: DateTime<Utc>) {
        if let Ok(mut earliest) = self.earliest_url_expiry.lock() {
            *earliest = Some(earliest.map_or(at, |e| e.min(at)));
        }
    }

    /// Marks the answer as one that must not be stored.
    pub fn uncacheable(&self) {
        self.uncacheable
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Records that a resolver showed what any caller would see alike.
    pub fn shown_to_all(&self) {
        self.shown_to_all
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Records that a resolver showed what depends on the caller: the answer stays in
    /// the caller's own scope.
    pub fn caller_dependent(&self) {
        self.caller_dependent
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether every part of the answer was vouched the same for any caller.
    fn same_for_everyone(&self) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        self.shown_to_all.load(Relaxed) && !self.caller_dependent.load(Relaxed)
    }

    fn take(&self) -> (Vec<String>, Option<DateTime<Utc>>) {
        let keys = self
            .keys
            .lock()
            .map(|k| k.iter().cloned().collect())
            .unwrap_or_default();
        let earliest = self.earliest_url_expiry.lock().map(|e| *e).unwrap_or(None);
        (keys, earliest)
    }
}

/// Dependency on one file: its fields, renditions and jobs (and, for answers that found
/// it missing or hidden, whether it exists for the caller).
pub fn file(id: uuid::Uuid) -> String {
    format!("file:{id}")
}
/// Dependency on a user's totals (`storageUsedBytes`).
pub fn user(id: uuid::Uuid) -> String {
    format!("user:{id}")
}
/// Dependency on which files one owner has, and their statuses and visibilities.
pub fn owner(id: uuid::Uuid) -> String {
    format!("owner:{id}")
}
/// Dependency on which files are `PUBLIC` and `READY`.
pub const PUBLIC: &str = "public";
/// Dependency on which files exist at all (admin listings, statistics).
pub const ALL_FILES: &str = "all-files";
/// The twin of a listing dependency that moves when a title in it changes.
fn titles(listing: &str) -> String {
    format!("titles:{listing}")
}

/// What a write changed about a file, from least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    /// What shows on the file alone: its jobs, renditions or metadata.
    Content,
    /// Its title, and so its place in listings sorted or filtered by title.
    Title,
    /// Whether listings hold it: created, deleted, its status or visibility changed;
    /// also its owner's totals.
    Membership,
}

/// The counters a change to a file moves; `public` when the file is or was `PUBLIC`.
pub fn file_change(
    owner_id: uuid::Uuid,
    file_id: uuid::Uuid,
    public: bool,
    change: Change,
) -> Vec<String> {
    let mut deps = vec![file(file_id)];
    let listings = || {
        let mut l = vec![owner(owner_id), ALL_FILES.to_owned()];
        if public {
            l.push(PUBLIC.to_owned());
        }
        l
    };
    match change {
        Change::Content => {}
        Change::Title => deps.extend(listings().iter().map(|l| titles(l))),
        Change::Membership => {
            deps.extend(listings());
            deps.push(user(owner_id));
        }
    }
    deps
}

/// The dependencies of a listing in `scope`; `by_title` when it is sorted or filtered by
/// title. The files it shows add their own.
pub fn listing(scope: crate::auth::access::ListScope, by_title: bool) -> Vec<String> {
    use crate::auth::access::ListScope;
    let mut deps = match scope {
        ListScope::All => vec![ALL_FILES.to_owned()],
        ListScope::PublicAndOwn(None) => vec![PUBLIC.to_owned()],
        ListScope::PublicAndOwn(Some(me)) => vec![PUBLIC.to_owned(), owner(me)],
    };
    if by_title {
        let twins: Vec<String> = deps.iter().map(|d| titles(d)).collect();
        deps.extend(twins);
    }
    deps
}

/// One stored answer.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Entry {
    /// The JSON response.
    body: String,
    /// The generations it was built under.
    deps: Vec<(String, u64)>,
    /// Unix milliseconds after which it is dropped.
    expires_ms: i64,
}

/// One answer held in process: as [`Entry`], with the body ready to send.
#[derive(Debug)]
struct Held {
    body: Bytes,
    deps: Vec<(String, u64)>,
    expires_ms: i64,
}

impl From<Entry> for Held {
    fn from(e: Entry) -> Self {
        Self {
            body: Bytes::from(e.body),
            deps: e.deps,
            expires_ms: e.expires_ms,
        }
    }
}

/// The response cache of one instance.
pub struct ResponseCache {
    /// Answers in process.
    local: moka::future::Cache<[u8; 32], Arc<Held>>,
    /// Generation counters (shared through Redis when configured), and answers in Redis.
    generations: Arc<Generations>,
    /// Rows beneath the dataloaders, checked against the same counters.
    entities: Arc<entities::EntityCache>,
    /// Hash of the schema, part of every key.
    schema: [u8; 32],
    /// Keys being computed, each with the lock its concurrent misses wait on.
    computing: moka::future::Cache<[u8; 32], Arc<tokio::sync::Mutex<()>>>,
    /// Hit and miss counters.
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseCache")
            .field("entries", &self.local.entry_count())
            .finish_non_exhaustive()
    }
}

/// The two keys of one operation: for every caller, and for this caller alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keys {
    /// Under the shared scope.
    pub shared: [u8; 32],
    /// Under the caller's own scope.
    pub own: [u8; 32],
}

/// The version of what an entry holds and depends on, hashed into every key: answers
/// stored by an older wavegate sharing the Redis (during a rolling deploy) are not read.
const KEY_FORMAT: &[u8] = b"entries-v2";

/// The scope of answers kept for every caller; no caller scope is spelled like it (they
/// are `anonymous` or `<role>:<subject>`).
const SHARED_SCOPE: &str = "shared";

/// A miss that may be stored once computed: its keys, where the write sequence stood
/// before, and the own key's lock, held until the answer is stored or dropped.
pub struct Pending {
    keys: Keys,
    before: generations::Snapshot,
    _computing: tokio::sync::OwnedMutexGuard<()>,
}

impl ResponseCache {
    /// A cache over `generations`, for the schema whose SDL is `sdl`.
    pub fn new(generations: Generations, sdl: &str, metrics: Arc<Metrics>) -> Self {
        let evictions = metrics.cache_evictions.clone();
        let local = moka::future::Cache::builder()
            .max_capacity(LOCAL_CAPACITY_BYTES)
            .weigher(|_, e: &Arc<Held>| u32::try_from(e.body.len() + 64).unwrap_or(u32::MAX))
            .time_to_live(MAX_TTL)
            .eviction_listener(move |_, _, cause| {
                if cause == moka::notification::RemovalCause::Size {
                    evictions.inc();
                }
            })
            .build();
        let computing = moka::future::Cache::builder()
            .time_to_idle(Duration::from_secs(30))
            .build();
        let generations = Arc::new(generations);
        let entities = Arc::new(entities::EntityCache::new(
            generations.clone(),
            metrics.clone(),
        ));
        Self {
            local,
            computing,
            generations,
            entities,
            schema: Sha256::digest(sdl.as_bytes()).into(),
            metrics,
        }
    }

    /// The counters, for writes to bump.
    pub fn generations(&self) -> &Generations {
        &self.generations
    }

    /// The entity cache beneath the dataloaders.
    pub fn entities(&self) -> &Arc<entities::EntityCache> {
        &self.entities
    }

    /// The key of an operation for a caller scope.
    pub fn key(
        &self,
        query: &str,
        operation: Option<&str>,
        variables: &[u8],
        scope: &str,
    ) -> [u8; 32] {
        let mut h = Sha256::new();
        for part in [
            KEY_FORMAT,
            &self.schema[..],
            query.as_bytes(),
            operation.unwrap_or("").as_bytes(),
            variables,
            scope.as_bytes(),
        ] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part);
        }
        h.finalize().into()
    }

    /// The shared and the caller's key of an operation; `scope` is the caller's.
    pub fn keys(
        &self,
        query: &str,
        operation: Option<&str>,
        variables: &[u8],
        scope: &str,
    ) -> Keys {
        Keys {
            shared: self.key(query, operation, variables, SHARED_SCOPE),
            own: self.key(query, operation, variables, scope),
        }
    }

    /// The valid answer under either key, the shared one first: from the process tier,
    /// else both keys from Redis in one round trip. Either answer is right for the caller,
    /// so which one is found only decides how much is shared.
    async fn valid_either(&self, keys: &Keys) -> Option<Bytes> {
        for key in [&keys.shared, &keys.own] {
            if let Some(held) = self.local.get(key).await
                && let Some(body) = self.still_valid(&held).await
            {
                return Some(body);
            }
        }
        let stored = self
            .generations
            .load_entries(&[&keys.shared, &keys.own])
            .await?;
        for (key, raw) in [keys.shared, keys.own].into_iter().zip(stored) {
            let Some(entry) = raw.and_then(|r| serde_json::from_slice::<Entry>(&r).ok()) else {
                continue;
            };
            let held = Arc::new(Held::from(entry));
            if let Some(body) = self.still_valid(&held).await {
                self.local.insert(key, held).await;
                return Some(body);
            }
        }
        None
    }

    /// A valid stored answer for `keys`, or what it takes to store one after computing it.
    ///
    /// Concurrent misses of one caller on one operation compute once per instance: the
    /// first holds the own key's lock while it computes, and the others wait for it, then
    /// find its answer.
    pub async fn lookup(&self, keys: Keys, operation: &str) -> Result<Bytes, Option<Pending>> {
        if let Some(body) = self.valid_either(&keys).await {
            self.count(operation, "hit");
            return Ok(body);
        }
        let lock = self
            .computing
            .get_with(keys.own, async { Arc::new(tokio::sync::Mutex::new(())) })
            .await;
        let guard = lock.lock_owned().await;
        if let Some(body) = self.valid_either(&keys).await {
            self.count(operation, "hit");
            return Ok(body);
        }
        self.count(operation, "miss");
        // Stored later only if nothing it shows is written meanwhile (and Redis answers).
        let before = self.generations.snapshot().await;
        Err(before.map(|before| Pending {
            keys,
            before,
            _computing: guard,
        }))
    }

    /// The body of `held` if it has not expired and none of its counters has moved.
    async fn still_valid(&self, held: &Held) -> Option<Bytes> {
        if held.expires_ms <= Utc::now().timestamp_millis() {
            return None;
        }
        let names: Vec<&str> = held.deps.iter().map(|(n, _)| n.as_str()).collect();
        let current = self.generations.current(&names).await?;
        let unmoved = current.len() == held.deps.len()
            && held
                .deps
                .iter()
                .zip(current)
                .all(|((_, stored), now)| *stored == now);
        unmoved.then(|| held.body.clone())
    }

    /// Counts a lookup, in total and per operation.
    fn count(&self, operation: &str, result: &str) {
        self.metrics
            .cache_requests
            .with_label_values(&["response", result])
            .inc();
        self.metrics
            .cache_operation_requests
            .with_label_values(&[operation, result])
            .inc();
    }

    /// Stores an answer computed after a miss, unless a write to what it shows happened
    /// meanwhile or its presigned URLs would expire too soon; under the shared key when
    /// its fields are `hinted_public` by the schema and its resolvers vouched for it.
    pub async fn store(
        &self,
        pending: Pending,
        body: &[u8],
        deps: &Dependencies,
        hinted_public: bool,
    ) {
        if deps.uncacheable.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let (mut names, earliest_url) = deps.take();
        names.push(generations::EPOCH.to_owned());
        names.sort();
        let mut ttl = MAX_TTL;
        if let Some(at) = earliest_url {
            let left = (at - Utc::now())
                .to_std()
                .unwrap_or_default()
                .saturating_sub(URL_MARGIN);
            ttl = ttl.min(left);
        }
        if ttl < Duration::from_secs(1) {
            return;
        }
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let Some(gens) = self.generations.current(&refs).await else {
            return;
        };
        if !pending.before.still_holds(&refs, &gens) {
            return;
        }
        let Ok(body) = String::from_utf8(body.to_vec()) else {
            return;
        };
        let entry = Entry {
            body,
            deps: names.into_iter().zip(gens).collect(),
            expires_ms: Utc::now().timestamp_millis() + i64::try_from(ttl.as_millis()).unwrap_or(0),
        };
        let key = if hinted_public && deps.same_for_everyone() {
            pending.keys.shared
        } else {
            pending.keys.own
        };
        if let Ok(raw) = serde_json::to_vec(&entry) {
            self.generations.save_entry(&key, raw, ttl).await;
        }
        self.local.insert(key, Arc::new(Held::from(entry))).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn cache() -> Result<ResponseCache, prometheus::Error> {
        let metrics = Arc::new(Metrics::new()?);
        Ok(ResponseCache::new(
            Generations::local(metrics.clone()),
            "type Query { a: Int }",
            metrics,
        ))
    }

    #[test]
    fn key_parts_cannot_be_shifted_into_one_another() -> TestResult {
        let c = cache()?;

        let a = c.key("{ a }", Some("x"), b"{}", "user:alice");
        let shifted = c.key("{ a }x", None, b"{}", "user:alice");
        let scope_in_variables = c.key("{ a }", Some("x"), b"{}user:alice", "");

        assert_ne!(a, shifted);
        assert_ne!(a, scope_in_variables);
        assert_eq!(a, c.key("{ a }", Some("x"), b"{}", "user:alice"));
        Ok(())
    }

    #[tokio::test]
    async fn an_entry_is_dropped_once_a_dependency_moves() -> TestResult {
        let c = cache()?;
        let key = c.keys("{ a }", None, b"", "anonymous");
        let deps = Dependencies::default();
        deps.add(PUBLIC.to_owned());

        let Err(Some(pending)) = c.lookup(key, "test").await else {
            return Err("a first lookup is a miss that may be stored".into());
        };
        c.store(pending, b"{\"data\":1}", &deps, true).await;
        let hit = c.lookup(key, "test").await;
        c.generations().bump(&[PUBLIC.to_owned()]).await;
        let after_write = c.lookup(key, "test").await;

        assert_eq!(hit.ok().as_deref(), Some(&b"{\"data\":1}"[..]));
        assert!(after_write.is_err());
        Ok(())
    }

    #[tokio::test]
    async fn a_write_elsewhere_during_a_miss_does_not_keep_the_answer_out() -> TestResult {
        let c = cache()?;
        let key = c.keys("{ a }", None, b"", "anonymous");
        let deps = Dependencies::default();
        deps.add(PUBLIC.to_owned());

        let Err(Some(pending)) = c.lookup(key, "test").await else {
            return Err("a first lookup is a miss that may be stored".into());
        };
        c.generations().bump(&[owner(uuid::Uuid::nil())]).await;
        c.store(pending, b"{\"data\":1}", &deps, true).await;

        assert!(c.lookup(key, "test").await.is_ok());
        Ok(())
    }

    #[tokio::test]
    async fn a_write_to_a_dependency_during_a_miss_keeps_the_answer_out() -> TestResult {
        let c = cache()?;
        let key = c.keys("{ a }", None, b"", "anonymous");
        let deps = Dependencies::default();
        deps.add(PUBLIC.to_owned());

        let Err(Some(pending)) = c.lookup(key, "test").await else {
            return Err("a first lookup is a miss that may be stored".into());
        };
        c.generations().bump(&[PUBLIC.to_owned()]).await;
        c.store(pending, b"{\"data\":1}", &deps, true).await;

        assert!(c.lookup(key, "test").await.is_err());
        Ok(())
    }

    #[test]
    fn a_rename_moves_title_listings_but_not_plain_ones() {
        let (owner_id, file_id) = (uuid::Uuid::nil(), uuid::Uuid::max());
        let me = crate::auth::access::ListScope::PublicAndOwn(None);

        let moved = file_change(owner_id, file_id, true, Change::Title);
        let plain = listing(me, false);
        let by_title = listing(me, true);

        assert!(moved.contains(&file(file_id)));
        assert!(plain.iter().all(|d| !moved.contains(d)));
        assert!(by_title.iter().any(|d| moved.contains(d)));
    }

    #[tokio::test]
    async fn only_answers_vouched_the_same_for_everyone_reach_other_callers() -> TestResult {
        let c = cache()?;
        let query = "{ a }";
        let public = Dependencies::default();
        public.shown_to_all();
        let mixed = Dependencies::default();
        mixed.shown_to_all();
        mixed.caller_dependent();

        // Alice's answers to three operations, each stored after its miss.
        for (op, deps, hinted_public) in [
            ("A", &public, true),
            ("B", &mixed, true),
            ("C", &public, false),
        ] {
            let Err(Some(p)) = c
                .lookup(c.keys(query, Some(op), b"", "user:alice"), "t")
                .await
            else {
                return Err("a first lookup is a miss that may be stored".into());
            };
            c.store(p, b"{\"data\":1}", deps, hinted_public).await;
        }

        let for_bob = |op| c.keys(query, Some(op), b"", "user:bob");
        assert!(
            c.lookup(for_bob("A"), "t").await.is_ok(),
            "vouched and hinted public"
        );
        assert!(
            c.lookup(for_bob("B"), "t").await.is_err(),
            "one part depends on alice"
        );
        assert!(
            c.lookup(for_bob("C"), "t").await.is_err(),
            "a field is hinted private"
        );
        let alice = |op| c.keys(query, Some(op), b"", "user:alice");
        assert!(c.lookup(alice("B"), "t").await.is_ok());
        assert!(c.lookup(alice("C"), "t").await.is_ok());
        Ok(())
    }
}
