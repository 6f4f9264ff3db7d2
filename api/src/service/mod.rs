//! Domain logic: the only place that queries the database or moves objects.
//!
//! # Layout
//!
//! - [`users`]: users created on first sight of their token's subject.
//! - [`audio_files`]: reading, listing (keyset pages), updating and deleting files.
//! - [`ingest`]: uploads through the gateway, verified and stored once.
//! - [`uploads`]: uploads straight to storage (presigned PUT or multipart), verified.
//! - [`blobs`]: stored bytes, recorded once per content.
//! - [`probe`]: is it audio, and what kind.
//! - [`deletions`]: the durable queue of objects to remove; [`background`] drains it.
//! - [`stats`]: storage statistics for admins.
//! - [`jobs`]: the job queue, what workers report, and job reads.
//! - [`verify`]: checking stored bytes against a declaration (originals and renditions).
//! - [`renditions`]: batched reads for the dataloaders.
//! - [`cursor`]: opaque keyset cursors.
//! - [`validate`]: checks of client-supplied text.

pub mod audio_files;
pub mod background;
pub mod blobs;
pub mod cursor;
pub mod deletions;
pub mod ingest;
pub mod jobs;
pub mod probe;
pub mod renditions;
pub mod stats;
pub mod uploads;
pub mod users;
pub mod validate;
pub mod verify;

/// The keys of a batched `IN (…)` lookup, padded (by repeating the last one) to the next
/// power of two. A batch of 37 keys and one of 50 then send the same statement text, so
/// both databases reuse one prepared statement instead of preparing a new one per batch
/// size; `bench/run.sh` measured the preparing as a large share of PostgreSQL's time.
pub fn batch_keys(keys: &[uuid::Uuid]) -> Vec<uuid::Uuid> {
    let mut padded = keys.to_vec();
    if let Some(last) = keys.last() {
        padded.resize(keys.len().next_power_of_two(), *last);
    }
    padded
}

/// Truncates a timestamp to whole microseconds, the precision PostgreSQL keeps, so that a
/// value read back compares equal to the one written (keyset cursors rely on it).
pub fn now() -> chrono::DateTime<chrono::Utc> {
    let now = chrono::Utc::now();
    chrono::DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}
