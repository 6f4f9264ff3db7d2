//! Renditions, read in batches for the dataloader.

use std::collections::HashMap;

use entity::rendition::{self, Column};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use crate::error::ApiResult;

/// The renditions of each file, oldest first.
pub async fn by_files(
    db: &DatabaseConnection,
    file_ids: &[Uuid],
) -> ApiResult<HashMap<Uuid, Vec<rendition::Model>>> {
    let rows = rendition::Entity::find()
        .filter(Column::AudioFileId.is_in(crate::service::batch_keys(file_ids)))
        .order_by_asc(Column::CreatedAt)
        .order_by_asc(Column::Id)
        .all(db)
        .await?;
    let mut out: HashMap<Uuid, Vec<rendition::Model>> = HashMap::new();
    for row in rows {
        out.entry(row.audio_file_id).or_default().push(row);
    }
    Ok(out)
}
