//! Processing jobs and their logs, as read by frontends.

use std::collections::HashMap;

use entity::enums::LogLevel;
use entity::processing_job::{self, Column};
use entity::processing_log;
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};

/// Largest page of log lines a client may ask for.
pub const MAX_LOG_PAGE: i32 = 1000;

/// One job by id.
pub async fn find(db: &DatabaseConnection, id: Uuid) -> ApiResult<Option<processing_job::Model>> {
    Ok(processing_job::Entity::find_by_id(id).one(db).await?)
}

/// The jobs of each file, oldest first.
pub async fn by_files(
    db: &DatabaseConnection,
    file_ids: &[Uuid],
) -> ApiResult<HashMap<Uuid, Vec<processing_job::Model>>> {
    let rows = processing_job::Entity::find()
        .filter(Column::AudioFileId.is_in(super::batch_keys(file_ids)))
        .order_by_asc(Column::CreatedAt)
        .order_by_asc(Column::Id)
        .all(db)
        .await?;
    let mut out: HashMap<Uuid, Vec<processing_job::Model>> = HashMap::new();
    for row in rows {
        out.entry(row.audio_file_id).or_default().push(row);
    }
    Ok(out)
}

/// One page of a job's log lines, in the order they were written.
#[derive(Debug, Clone)]
pub struct LogPage {
    pub rows: Vec<processing_log::Model>,
    pub has_next: bool,
    /// The condition without the cursor, for `totalCount`.
    pub condition: Condition,
}

/// Log lines of `job_id` after the line `after` (its id), at `min_level` or above.
///
/// Served by the `(job_id, id)` index, so a page costs the same however long the log is.
pub async fn logs(
    db: &DatabaseConnection,
    job_id: Uuid,
    first: i32,
    after: Option<i64>,
    min_level: Option<LogLevel>,
) -> ApiResult<LogPage> {
    use processing_log::Column as L;

    if !(0..=MAX_LOG_PAGE).contains(&first) {
        return Err(ApiError::bad_input(format!(
            "first must be between 0 and {MAX_LOG_PAGE}"
        )));
    }
    let mut condition = Condition::all().add(L::JobId.eq(job_id));
    if let Some(level) = min_level {
        condition = condition.add(L::Level.gte(level));
    }
    let mut query = processing_log::Entity::find().filter(condition.clone());
    if let Some(after) = after {
        query = query.filter(L::Id.gt(after));
    }
    let limit = u64::try_from(first).unwrap_or(0) + 1;
    let mut rows = query.order_by_asc(L::Id).limit(limit).all(db).await?;
    let has_next = rows.len() as u64 == limit;
    rows.truncate(limit.saturating_sub(1) as usize);
    Ok(LogPage {
        rows,
        has_next,
        condition,
    })
}

/// How many log lines match a condition.
pub async fn count_logs(db: &DatabaseConnection, condition: Condition) -> ApiResult<u64> {
    Ok(processing_log::Entity::find()
        .filter(condition)
        .count(db)
        .await?)
}
