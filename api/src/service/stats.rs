//! Storage statistics for admins.

use entity::enums::AudioStatus;
use entity::{audio_file, blob, upload};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect,
};

use crate::error::ApiResult;

/// What the bucket holds and what it owes.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageStats {
    /// Files that are `READY`.
    pub files: u64,
    /// Bytes of those files, counting shared bytes once per file.
    pub logical_bytes: i64,
    /// Bytes actually stored (one per distinct content).
    pub stored_bytes: i64,
    /// Uploads waiting for their bytes.
    pub pending_uploads: u64,
    /// Objects queued for removal.
    pub pending_deletions: u64,
}

/// Reads the statistics.
pub async fn read(db: &DatabaseConnection) -> ApiResult<StorageStats> {
    fn sum(col: impl sea_orm::sea_query::IntoColumnRef) -> Expr {
        Expr::from(Func::coalesce([
            Expr::from(Func::sum(Expr::col(col))),
            Expr::val(0i64),
        ]))
        .cast_as("BIGINT")
    }
    let (files, logical): (i64, i64) = audio_file::Entity::find()
        .select_only()
        .column_as(
            Expr::col(audio_file::Column::Id).count().cast_as("BIGINT"),
            "files",
        )
        .column_as(sum(audio_file::Column::SizeBytes), "logical")
        .filter(audio_file::Column::Status.eq(AudioStatus::Ready))
        .into_tuple()
        .one(db)
        .await?
        .unwrap_or((0, 0));
    let stored: i64 = blob::Entity::find()
        .select_only()
        .column_as(sum(blob::Column::SizeBytes), "stored")
        .into_tuple()
        .one(db)
        .await?
        .unwrap_or(0);
    Ok(StorageStats {
        files: u64::try_from(files).unwrap_or(0),
        logical_bytes: logical,
        stored_bytes: stored,
        pending_uploads: upload::Entity::find().count(db).await?,
        pending_deletions: super::deletions::pending(db).await?,
    })
}
