//! Completing an upload: assembling, hashing and probing the bytes before `READY`.

use super::*;

/// Why verification refused the bytes.
struct Refusal(String);

/// Verifies the bytes of a pending file and makes it `READY`, or `REJECTED` with a reason.
#[tracing::instrument(skip(state, file, parts), fields(file.id = %file.id))]
pub async fn complete(
    state: &AppState,
    file: audio_file::Model,
    parts: Option<Vec<(i32, String)>>,
) -> ApiResult<audio_file::Model> {
    if file.status != AudioStatus::PendingUpload {
        return Err(ApiError::Conflict(format!(
            "the file is not awaiting its bytes (status {:?})",
            file.status
        )));
    }
    let row = upload::Entity::find_by_id(file.id)
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound)?;

    // Only one completion at a time: PENDING_UPLOAD → VERIFYING, or someone else is at it.
    let claimed = audio_file::Entity::update_many()
        .col_expr(audio_file::Column::Status, AudioStatus::Verifying.into())
        .filter(audio_file::Column::Id.eq(file.id))
        .filter(audio_file::Column::Status.eq(AudioStatus::PendingUpload))
        .exec(&state.db)
        .await?;
    if claimed.rows_affected != 1 {
        return Err(ApiError::Conflict(
            "the upload is being completed already".to_owned(),
        ));
    }

    match verify(state, &file, &row, parts).await {
        Ok(Ok(info)) => {
            // The quota again, on the actual bytes: other uploads may have landed meanwhile.
            if let Err(e) = check_quota(state, file.owner_id, file.size_bytes, true).await {
                reject(state, file, &row, "storage quota exceeded".to_owned()).await?;
                return Err(e);
            }
            finish(state, file, &row, info).await
        }
        Ok(Err(Refusal(reason))) => reject(state, file, &row, reason).await,
        Err(e) => {
            // Not there yet, or storage failed: back to pending, nothing lost.
            back_to_pending(state, &file).await?;
            Err(e)
        }
    }
}

/// Assembles, hashes and probes the uploaded bytes.
async fn verify(
    state: &AppState,
    file: &audio_file::Model,
    row: &upload::Model,
    parts: Option<Vec<(i32, String)>>,
) -> ApiResult<Result<AudioInfo, Refusal>> {
    let key = &row.staging_key;

    // Multipart: assemble the parts (those the client names, else those storage holds).
    if let (Some(upload_id), Some(count)) = (&row.multipart_upload_id, row.part_count)
        && state.storage.object_size(key).await?.is_none()
    {
        let parts = match parts {
            Some(p) => p,
            None => state
                .storage
                .list_parts(key, upload_id)
                .await?
                .unwrap_or_default()
                .into_iter()
                .map(|(n, etag, _)| (n, etag))
                .collect(),
        };
        let mut numbers: Vec<i32> = parts.iter().map(|(n, _)| *n).collect();
        numbers.sort_unstable();
        let missing: Vec<i32> = (1..=count)
            .filter(|n| numbers.binary_search(n).is_err())
            .collect();
        if !missing.is_empty() {
            return Err(ApiError::Conflict(format!(
                "parts not uploaded yet: {missing:?}"
            )));
        }
        let mut sorted = parts;
        sorted.sort_by_key(|(n, _)| *n);
        if !state
            .storage
            .complete_multipart(key, upload_id, &sorted)
            .await?
        {
            return Err(ApiError::Conflict(
                "storage refused the parts; upload the missing ones and retry".into(),
            ));
        }
    }

    // The bytes are there, as declared, and audio.
    let expected = verify::Expected {
        size: file.size_bytes,
        sha256: &file.sha256,
        content_type: &file.content_type,
        filename: &file.original_filename,
        probe: Some(probe::Decode::Required),
    };
    match verify::object(state, key, expected).await? {
        verify::Checked::Missing => Err(ApiError::Conflict(
            "the bytes have not been uploaded yet".to_owned(),
        )),
        verify::Checked::Refused(reason) => Ok(Err(Refusal(reason))),
        verify::Checked::Verified(info) => Ok(Ok(info.unwrap_or_default())),
    }
}

/// Makes a verified file `READY`, storing its bytes at their content address once.
async fn finish(
    state: &AppState,
    file: audio_file::Model,
    row: &upload::Model,
    info: AudioInfo,
) -> ApiResult<audio_file::Model> {
    let original = layout::original_key(&file.sha256);

    // Unless a blob has these bytes, put them at their address; pending removals of that
    // address go first, so the drainer cannot remove what is about to be written.
    let known = blob::Entity::find()
        .filter(blob::Column::Sha256.eq(&file.sha256))
        .one(&state.db)
        .await?;
    if known.is_none() {
        deletions::cancel(&state.db, &original).await?;
        if let Err(e) = state.storage.copy(&row.staging_key, &original).await {
            back_to_pending(state, &file).await?;
            return Err(e);
        }
    }

    let txn = crate::db::begin_write(&state.db).await?;
    let blob = crate::service::blobs::record(&txn, &file.sha256, file.size_bytes).await?;
    let mut active: audio_file::ActiveModel = file.into();
    active.blob_id = Set(Some(blob.id));
    active.status = Set(AudioStatus::Ready);
    active.duration_ms = Set(info.duration_ms);
    active.sample_rate = Set(info.sample_rate);
    active.channels = Set(info.channels);
    active.codec = Set(info.codec);
    active.bitrate = Set(info.bitrate);
    active.updated_at = Set(crate::service::now());
    let ready = active.update(&txn).await?;
    upload::Entity::delete_by_id(ready.id).exec(&txn).await?;
    deletions::enqueue(&txn, &row.staging_key, None).await?;
    txn.commit().await?;
    state.deletions_due.notify_one();
    state
        .file_changed(
            ready.owner_id,
            ready.id,
            ready.visibility == Visibility::Public,
            crate::cache::Change::Membership,
        )
        .await;
    crate::service::jobs::enqueue_pipeline(state, &ready).await;
    Ok(ready)
}

/// Refuses the bytes: the file is `REJECTED` with `reason` and the staging object goes.
async fn reject(
    state: &AppState,
    file: audio_file::Model,
    row: &upload::Model,
    reason: String,
) -> ApiResult<audio_file::Model> {
    tracing::info!(file.id = %file.id, reason = %reason, "upload rejected");
    let txn = crate::db::begin_write(&state.db).await?;
    let mut active: audio_file::ActiveModel = file.into();
    active.status = Set(AudioStatus::Rejected);
    active.status_reason = Set(Some(reason));
    active.updated_at = Set(crate::service::now());
    let rejected = active.update(&txn).await?;
    upload::Entity::delete_by_id(rejected.id).exec(&txn).await?;
    deletions::enqueue(&txn, &row.staging_key, row.multipart_upload_id.as_deref()).await?;
    txn.commit().await?;
    state.deletions_due.notify_one();
    state
        .file_changed(
            rejected.owner_id,
            rejected.id,
            false,
            crate::cache::Change::Membership,
        )
        .await;
    Ok(rejected)
}

/// Puts a file whose completion failed short of a verdict back to `PENDING_UPLOAD`, so
/// the client may complete it again; nothing it uploaded is lost.
async fn back_to_pending(state: &AppState, file: &audio_file::Model) -> ApiResult<()> {
    set_status(&state.db, file.id, AudioStatus::PendingUpload).await?;
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
