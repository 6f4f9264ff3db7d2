//! Users: found by subject, created on first sight, with a small in-process directory so
//! that most requests resolve their caller without a statement.

use std::time::Duration;

use entity::enums::Role;
use entity::user;
use moka::future::Cache;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::error::ApiResult;

/// Subjects already known to exist with a given role, mapped to their user id.
#[derive(Clone)]
pub struct UserDirectory {
    /// `(subject, role)` to user id; a role change misses and updates the row.
    known: Cache<(String, Role), Uuid>,
}

impl std::fmt::Debug for UserDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserDirectory")
            .field("entries", &self.known.entry_count())
            .finish()
    }
}

impl Default for UserDirectory {
    fn default() -> Self {
        Self {
            known: Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(Duration::from_secs(600))
                .build(),
        }
    }
}

impl UserDirectory {
    /// The id of the user with `subject`, creating the row (or updating its role) first
    /// when needed.
    pub async fn ensure(
        &self,
        db: &DatabaseConnection,
        subject: &str,
        role: Role,
    ) -> ApiResult<Uuid> {
        let key = (subject.to_owned(), role);
        if let Some(id) = self.known.get(&key).await {
            return Ok(id);
        }
        let id = ensure_user(db, subject, role).await?;
        self.known.insert(key, id).await;
        Ok(id)
    }
}

/// Finds or creates the user with `subject`, recording `role` as its latest role.
#[tracing::instrument(skip(db))]
pub async fn ensure_user(db: &DatabaseConnection, subject: &str, role: Role) -> ApiResult<Uuid> {
    let row = user::ActiveModel {
        id: Set(Uuid::now_v7()),
        subject: Set(subject.to_owned()),
        role: Set(role),
        quota_bytes: Set(None),
        created_at: Set(super::now()),
    };
    user::Entity::insert(row)
        .on_conflict(
            OnConflict::column(user::Column::Subject)
                .update_column(user::Column::Role)
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    let found = user::Entity::find()
        .filter(user::Column::Subject.eq(subject))
        .one(db)
        .await?;
    found
        .map(|u| u.id)
        .ok_or_else(|| crate::error::ApiError::internal("user row vanished after upsert"))
}

/// Users by id, for the owner loader.
pub async fn by_ids(db: &DatabaseConnection, ids: &[Uuid]) -> ApiResult<Vec<user::Model>> {
    Ok(user::Entity::find()
        .filter(user::Column::Id.is_in(super::batch_keys(ids)))
        .all(db)
        .await?)
}

/// Stored bytes of each user: the sum of its files that hold or await bytes.
pub async fn storage_used(db: &DatabaseConnection, ids: &[Uuid]) -> ApiResult<Vec<(Uuid, i64)>> {
    use entity::audio_file;
    use entity::enums::AudioStatus;
    use sea_orm::QuerySelect;
    use sea_orm::sea_query::{Expr, ExprTrait, Func};

    let rows: Vec<(Uuid, Option<i64>)> = audio_file::Entity::find()
        .select_only()
        .column(audio_file::Column::OwnerId)
        .column_as(
            Expr::from(Func::sum(Expr::col(audio_file::Column::SizeBytes))).cast_as("BIGINT"),
            "used",
        )
        .filter(audio_file::Column::OwnerId.is_in(super::batch_keys(ids)))
        .filter(audio_file::Column::Status.is_in([
            AudioStatus::Ready,
            AudioStatus::PendingUpload,
            AudioStatus::Verifying,
        ]))
        .group_by(audio_file::Column::OwnerId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, used)| (id, used.unwrap_or(0)))
        .collect())
}

/// Refuses `extra` bytes that would take `owner` over `quota` (none: no limit); `counted`
/// when the current usage already includes them (a pending file being completed).
pub async fn check_quota(
    db: &DatabaseConnection,
    owner: Uuid,
    quota: Option<i64>,
    extra: i64,
    counted: bool,
) -> ApiResult<()> {
    let Some(quota) = quota else { return Ok(()) };
    let used = storage_used(db, &[owner])
        .await?
        .first()
        .map_or(0, |(_, u)| *u);
    let before = if counted { used - extra } else { used };
    if before.saturating_add(extra) > quota {
        return Err(crate::error::ApiError::QuotaExceeded);
    }
    Ok(())
}
