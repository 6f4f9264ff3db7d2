//! Blobs: stored bytes, one row per distinct content, at their content address.

use entity::blob;
use sea_orm::sea_query::{LockType, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect,
};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::storage::layout;

/// Records the blob of verified bytes whose object is already at its content address,
/// once per content: when a row exists (a concurrent upload of the same bytes), that one
/// is returned. The row is read locked, so inside a transaction a concurrent delete of
/// the blob waits for it.
pub async fn record(
    conn: &impl ConnectionTrait,
    sha256: &str,
    size_bytes: i64,
) -> ApiResult<blob::Model> {
    let row = blob::ActiveModel {
        id: Set(Uuid::now_v7()),
        sha256: Set(sha256.to_owned()),
        size_bytes: Set(size_bytes),
        object_key: Set(layout::original_key(sha256)),
        created_at: Set(super::now()),
    };
    blob::Entity::insert(row)
        .on_conflict(
            OnConflict::column(blob::Column::Sha256)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    blob::Entity::find()
        .filter(blob::Column::Sha256.eq(sha256))
        .lock(LockType::Update)
        .one(conn)
        .await?
        .ok_or_else(|| ApiError::internal("blob row vanished after insert"))
}
