//! `storage_deletions`: the durable queue of objects to remove from the bucket.

use sea_orm::entity::prelude::*;

/// One row of `storage_deletions`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "storage_deletions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The object to remove.
    pub object_key: String,
    /// An unfinished multipart upload on that key to abort as well.
    pub multipart_upload_id: Option<String>,
    /// Failed attempts so far.
    pub attempts: i32,
    /// When the drainer may try (again).
    pub next_attempt_at: DateTimeUtc,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
