//! Migrations of wavegate's database, for PostgreSQL and SQLite alike.
//!
//! `wavegate migrate` runs them, `wavegate serve` applies pending ones at start, and the
//! `migration` binary of this crate makes them usable with `sea-orm-cli` too.
//!
//! # Layout
//!
//! - [`Migrator`]: the ordered list of migrations.
//! - `m20261203_000001_create_core_tables`: users, blobs, audio files, renditions, jobs, logs.
//! - `m20261203_000002_uploads_and_deletions`: pending uploads and the deletion queue.
//! - `m20261204_000001_job_queue`: claiming jobs by due time, declared job outputs, log
//!   retention.
//! - `m20261204_000002_log_levels`: log pages filtered by level.

pub use sea_orm_migration::prelude::*;

mod m20261203_000001_create_core_tables;
mod m20261203_000002_uploads_and_deletions;
mod m20261204_000001_job_queue;
mod m20261204_000002_log_levels;

/// Every migration of wavegate, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261203_000001_create_core_tables::Migration),
            Box::new(m20261203_000002_uploads_and_deletions::Migration),
            Box::new(m20261204_000001_job_queue::Migration),
            Box::new(m20261204_000002_log_levels::Migration),
        ]
    }
}
