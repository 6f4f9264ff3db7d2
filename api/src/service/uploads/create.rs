//! Declaring a file: the pending row, and the URLs its bytes go to.

use super::*;

/// Creates the file and the ticket for its bytes.
#[tracing::instrument(skip(state, declaration), fields(owner.id = %owner))]
pub async fn create(state: &AppState, owner: Uuid, declaration: Declaration) -> ApiResult<Ticket> {
    let d = check(state, declaration)?;

    // The same bytes already pending for this owner: resume that upload.
    let pending = audio_file::Entity::find()
        .filter(audio_file::Column::OwnerId.eq(owner))
        .filter(audio_file::Column::Sha256.eq(&d.sha256))
        .filter(audio_file::Column::SizeBytes.eq(d.size_bytes))
        .filter(audio_file::Column::Status.eq(AudioStatus::PendingUpload))
        .one(&state.db)
        .await?;
    if let Some(file) = pending {
        return ticket_for(state, file).await;
    }
    check_quota(state, owner, d.size_bytes, false).await?;

    // The same bytes stored and verified already: share them.
    if let Some(file) = share_existing_blob(state, owner, &d).await? {
        state
            .file_changed(
                owner,
                file.id,
                file.visibility == Visibility::Public,
                crate::cache::Change::Membership,
            )
            .await;
        crate::service::jobs::enqueue_pipeline(state, &file).await;
        return Ok(Ticket::AlreadyStored(file));
    }

    // A pending file, and where its bytes go.
    let now = crate::service::now();
    let id = Uuid::now_v7();
    let staging_key = layout::staging_key(id);
    let size = u64::try_from(d.size_bytes).unwrap_or(0);
    let multipart = size > state.settings.multipart_threshold_bytes;
    let (upload_id, part_size, part_count) = if multipart {
        let part_size = part_size(size, state.settings.multipart_threshold_bytes);
        let upload_id = state
            .storage
            .create_multipart(&staging_key, &d.content_type)
            .await?;
        (
            Some(upload_id),
            Some(part_size as i64),
            Some(size.div_ceil(part_size) as i32),
        )
    } else {
        (None, None, None)
    };
    let file = new_file(id, owner, &d, AudioStatus::PendingUpload, None, now);
    let txn = crate::db::begin_write(&state.db).await?;
    let file = file.insert(&txn).await?;
    upload::ActiveModel {
        audio_file_id: Set(id),
        staging_key: Set(staging_key),
        multipart_upload_id: Set(upload_id),
        part_size_bytes: Set(part_size),
        part_count: Set(part_count),
        expires_at: Set(
            now + chrono::Duration::from_std(state.settings.upload_expiry).unwrap_or_default()
        ),
        created_at: Set(now),
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    state
        .file_changed(owner, file.id, false, crate::cache::Change::Membership)
        .await;
    ticket_for(state, file).await
}

/// When a verified blob holds the declared bytes, records a `READY` file sharing it, with
/// the technical metadata of a file already probed on those bytes.
///
/// The blob row is locked while the file is written, so a concurrent delete of the last
/// file using it either sees this file or happens first (and then nothing is shared).
async fn share_existing_blob(
    state: &AppState,
    owner: Uuid,
    d: &Declaration,
) -> ApiResult<Option<audio_file::Model>> {
    let txn = crate::db::begin_write(&state.db).await?;
    let blob = blob::Entity::find()
        .filter(blob::Column::Sha256.eq(&d.sha256))
        .lock(LockType::Update)
        .one(&txn)
        .await?;
    let Some(blob) = blob else { return Ok(None) };
    if blob.size_bytes != d.size_bytes {
        return Err(ApiError::bad_input(
            "sizeBytes does not match the bytes with this sha256",
        ));
    }
    let sibling = audio_file::Entity::find()
        .filter(audio_file::Column::BlobId.eq(blob.id))
        .filter(audio_file::Column::Status.eq(AudioStatus::Ready))
        .one(&txn)
        .await?;
    let info = sibling.map(|s| AudioInfo {
        codec: s.codec,
        duration_ms: s.duration_ms,
        sample_rate: s.sample_rate,
        channels: s.channels,
        bitrate: s.bitrate,
    });
    let file = new_file(
        Uuid::now_v7(),
        owner,
        d,
        AudioStatus::Ready,
        Some((blob.id, info.unwrap_or_default())),
        crate::service::now(),
    )
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(Some(file))
}

/// The ticket of a pending file: a fresh PUT, or fresh URLs for the parts still missing.
async fn ticket_for(state: &AppState, file: audio_file::Model) -> ApiResult<Ticket> {
    let row = upload::Entity::find_by_id(file.id)
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound)?;
    let expires = state.settings.upload_url_lifetime;
    match (
        &row.multipart_upload_id,
        row.part_size_bytes,
        row.part_count,
    ) {
        (Some(upload_id), Some(part_size), Some(count)) => {
            let done: Vec<i32> = state
                .storage
                .list_parts(&row.staging_key, upload_id)
                .await?
                .unwrap_or_default()
                .into_iter()
                .map(|(n, _, _)| n)
                .collect();
            let parts = (1..=count)
                .filter(|n| !done.contains(n))
                .map(|n| {
                    let url =
                        state
                            .presigner
                            .upload_part(&row.staging_key, upload_id, n as u16, expires);
                    (n, url)
                })
                .collect();
            Ok(Ticket::Multipart(file, part_size, parts))
        }
        _ => {
            let size = u64::try_from(file.size_bytes).unwrap_or(0);
            let put = state.presigner.put(
                &row.staging_key,
                expires,
                &file.content_type,
                size,
                &file.sha256,
            );
            Ok(Ticket::Single(file, put))
        }
    }
}
