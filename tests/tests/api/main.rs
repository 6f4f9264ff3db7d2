//! Integration tests: each drives a running wavegate over HTTP, with its own database,
//! bucket and Redis key prefix.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod access;
mod auth;
mod cache;
mod cors;
mod dataloader;
mod downloads;
mod entity_cache;
mod formats;
mod input;
mod job_updates;
mod jobs;
mod ops;
mod pagination;
mod presigned_uploads;
mod reference_worker;
mod schema;
mod uploads;
