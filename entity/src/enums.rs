//! String-backed enums stored in the database.
//!
//! They are stored as short lower-case strings rather than database enum types, so that
//! PostgreSQL and SQLite share one schema and adding a variant needs no type migration.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// What a caller may do, from the role claim of its JWT.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum Role {
    /// An ordinary user: owns files.
    #[sea_orm(string_value = "user")]
    User,
    /// A processing worker: reads what jobs need and reports on them.
    #[sea_orm(string_value = "worker")]
    Worker,
    /// An administrator: reads and writes everything.
    #[sea_orm(string_value = "admin")]
    Admin,
}

/// Who may see a file.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum Visibility {
    /// Only its owner (and admins).
    #[sea_orm(string_value = "private")]
    Private,
    /// Anyone who knows its id; not listed.
    #[sea_orm(string_value = "unlisted")]
    Unlisted,
    /// Everyone, anonymous callers included; listed.
    #[sea_orm(string_value = "public")]
    Public,
}

/// Where a file is in its life.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum AudioStatus {
    /// A row exists, the bytes have not arrived yet.
    #[sea_orm(string_value = "pending_upload")]
    PendingUpload,
    /// The bytes arrived and are being checked.
    #[sea_orm(string_value = "verifying")]
    Verifying,
    /// Verified bytes are stored; the file can be downloaded.
    #[sea_orm(string_value = "ready")]
    Ready,
    /// The bytes did not match what was declared, or are not audio.
    #[sea_orm(string_value = "rejected")]
    Rejected,
    /// Deleted by its owner; kept only until its objects are gone.
    #[sea_orm(string_value = "deleted")]
    Deleted,
}

/// Where a processing job is in its life.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum JobStatus {
    /// Waiting for a worker.
    #[sea_orm(string_value = "queued")]
    Queued,
    /// Claimed by a worker that holds its lease.
    #[sea_orm(string_value = "running")]
    Running,
    /// Finished with its outputs verified.
    #[sea_orm(string_value = "succeeded")]
    Succeeded,
    /// Failed for good.
    #[sea_orm(string_value = "failed")]
    Failed,
    /// Cancelled by the file's owner or an admin.
    #[sea_orm(string_value = "canceled")]
    Canceled,
}

/// Severity of a processing log line, ordered from least to most severe.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
)]
#[sea_orm(rs_type = "i16", db_type = "SmallInteger")]
pub enum LogLevel {
    /// Detail for whoever debugs a worker.
    #[sea_orm(num_value = 10)]
    Debug,
    /// Normal progress.
    #[sea_orm(num_value = 20)]
    Info,
    /// Something odd that did not stop the job.
    #[sea_orm(num_value = 30)]
    Warn,
    /// Something that failed.
    #[sea_orm(num_value = 40)]
    Error,
}
