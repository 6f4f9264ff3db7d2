//! Durable deletion: objects to remove are recorded in `storage_deletions` in the same
//! transaction as the row change that orphaned them, and a background drainer removes
//! them with retries. A crash or a storage outage delays a removal; it never loses one,
//! and a row never points at a removed object.

use std::time::Duration;

use chrono::Utc;
use entity::{blob, storage_deletion};
use sea_orm::sea_query::LockBehavior;
use sea_orm::sea_query::LockType;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};

use crate::error::ApiResult;
use crate::storage::Storage;

/// Rows the drainer takes per pass.
const BATCH: u64 = 100;
/// Longest wait between retries of one object.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Records that `key` (and the multipart upload `upload_id` on it, if any) must go.
pub async fn enqueue(
    db: &impl ConnectionTrait,
    key: &str,
    upload_id: Option<&str>,
) -> ApiResult<()> {
    let now = super::now();
    storage_deletion::ActiveModel {
        object_key: Set(key.to_owned()),
        multipart_upload_id: Set(upload_id.map(str::to_owned)),
        attempts: Set(0),
        next_attempt_at: Set(now),
        last_error: Set(None),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Forgets pending removals of `key`, before the key is written again (the same bytes
/// uploaded anew land on the same content-addressed key). Waits for a drainer that is
/// removing it right now, since the drainer holds the row locked while it works.
pub async fn cancel(db: &impl ConnectionTrait, key: &str) -> ApiResult<()> {
    storage_deletion::Entity::delete_many()
        .filter(storage_deletion::Column::ObjectKey.eq(key))
        .exec(db)
        .await?;
    Ok(())
}

/// How many removals wait.
pub async fn pending(db: &DatabaseConnection) -> ApiResult<u64> {
    Ok(storage_deletion::Entity::find().count(db).await?)
}

/// Removes the objects that are due; returns how many were removed.
///
/// Each row is taken in its own transaction, locked (`FOR UPDATE SKIP LOCKED` on
/// PostgreSQL, so instances share the queue), and deleted only once storage confirms.
/// An original still referenced by a blob is never removed: the row is dropped instead.
pub async fn drain_once(db: &DatabaseConnection, storage: &Storage) -> ApiResult<usize> {
    let due: Vec<i64> = storage_deletion::Entity::find()
        .select_only()
        .column(storage_deletion::Column::Id)
        .filter(storage_deletion::Column::NextAttemptAt.lte(Utc::now()))
        .order_by_asc(storage_deletion::Column::NextAttemptAt)
        .limit(BATCH)
        .into_tuple()
        .all(db)
        .await?;
    let mut removed = 0;
    for id in due {
        let txn = db.begin().await?;
        let row = storage_deletion::Entity::find_by_id(id)
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            .one(&txn)
            .await?;
        let Some(row) = row else { continue };

        let still_used = blob::Entity::find()
            .filter(blob::Column::ObjectKey.eq(&row.object_key))
            .count(&txn)
            .await?
            > 0;
        let outcome = if still_used {
            Ok(())
        } else {
            match &row.multipart_upload_id {
                Some(upload) => match storage.abort_multipart(&row.object_key, upload).await {
                    Ok(()) => storage.delete(&row.object_key).await,
                    Err(e) => Err(e),
                },
                None => storage.delete(&row.object_key).await,
            }
        };
        match outcome {
            Ok(()) => {
                storage_deletion::Entity::delete_by_id(id)
                    .exec(&txn)
                    .await?;
                removed += usize::from(!still_used);
            }
            Err(e) => {
                let attempts = row.attempts + 1;
                let backoff = Duration::from_secs(1u64 << attempts.clamp(0, 16)).min(MAX_BACKOFF);
                let mut active: storage_deletion::ActiveModel = row.into();
                active.attempts = Set(attempts);
                active.next_attempt_at =
                    Set(super::now() + chrono::Duration::from_std(backoff).unwrap_or_default());
                active.last_error = Set(Some(e.message()));
                active.update(&txn).await?;
            }
        }
        txn.commit().await?;
    }
    Ok(removed)
}
