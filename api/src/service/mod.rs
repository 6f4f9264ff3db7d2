//! Domain logic: the only place that queries the database or moves objects.
//!
//! # Layout
//!
//! - [`users`]: users created on first sight of their token's subject.
//! - [`audio_files`]: reading, listing (keyset pages), updating and deleting files.
//! - [`ingest`]: storing uploaded bytes once, verified by size and SHA-256.
//! - [`renditions`], [`jobs`]: batched reads for the dataloaders.
//! - [`cursor`]: opaque keyset cursors.
//! - [`validate`]: checks of client-supplied text.

pub mod audio_files;
pub mod cursor;
pub mod ingest;
pub mod jobs;
pub mod renditions;
pub mod users;
pub mod validate;

/// Truncates a timestamp to whole microseconds, the precision PostgreSQL keeps, so that a
/// value read back compares equal to the one written (keyset cursors rely on it).
pub fn now() -> chrono::DateTime<chrono::Utc> {
    let now = chrono::Utc::now();
    chrono::DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}
