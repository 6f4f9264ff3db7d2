//! Giving up uploads: by hand, or when their offer lapses.

use super::*;

/// Gives up a pending upload: its row, staging object and multipart upload go.
pub async fn abort(state: &AppState, file: audio_file::Model) -> ApiResult<()> {
    if file.status != AudioStatus::PendingUpload {
        return Err(ApiError::Conflict(
            "only an upload awaiting its bytes can be aborted".to_owned(),
        ));
    }
    let row = upload::Entity::find_by_id(file.id).one(&state.db).await?;
    let txn = crate::db::begin_write(&state.db).await?;
    let deleted = audio_file::Entity::delete_many()
        .filter(audio_file::Column::Id.eq(file.id))
        .filter(audio_file::Column::Status.eq(AudioStatus::PendingUpload))
        .exec(&txn)
        .await?;
    if deleted.rows_affected != 1 {
        return Err(ApiError::Conflict(
            "the upload is being completed".to_owned(),
        ));
    }
    if let Some(row) = row {
        deletions::enqueue(&txn, &row.staging_key, row.multipart_upload_id.as_deref()).await?;
    }
    txn.commit().await?;
    state.deletions_due.notify_one();
    state
        .file_changed(
            file.owner_id,
            file.id,
            false,
            crate::cache::Change::Membership,
        )
        .await;
    Ok(())
}

/// Aborts pending uploads whose offer has lapsed; returns how many.
pub async fn expire(state: &AppState) -> ApiResult<usize> {
    let lapsed: Vec<Uuid> = upload::Entity::find()
        .select_only()
        .column(upload::Column::AudioFileId)
        .filter(upload::Column::ExpiresAt.lt(chrono::Utc::now()))
        .into_tuple()
        .all(&state.db)
        .await?;
    let mut n = 0;
    for id in lapsed {
        if let Some(file) = audio_file::Entity::find_by_id(id).one(&state.db).await?
            && abort(state, file).await.is_ok()
        {
            n += 1;
        }
    }
    Ok(n)
}
