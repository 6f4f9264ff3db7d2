//! Storing uploaded bytes: hashed on the way, stored once per content, verified before
//! the file is `READY`.

use std::io::{Read, Seek};

use entity::audio_file;
use entity::blob;
use entity::enums::{AudioStatus, Visibility};
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::validate;
use crate::error::{ApiError, ApiResult};
use crate::storage::{Storage, layout};

/// What a client uploaded through the gateway, spooled to a local file.
#[derive(Debug)]
pub struct Upload<'a> {
    /// The spooled bytes (a temporary file), read from its start.
    pub file: std::fs::File,
    /// Their size and SHA-256, when taken as they were spooled; else they are hashed here.
    pub digest: Option<crate::http::multipart::UploadDigest>,
    /// Filename as the client gave it.
    pub filename: &'a str,
    /// MIME type as the client gave it.
    pub content_type: Option<&'a str>,
    /// Title, or the filename's stem when absent.
    pub title: Option<&'a str>,
    pub visibility: Visibility,
}

/// Limits that apply to one upload.
#[derive(Debug, Clone, Copy)]
pub struct UploadLimits {
    /// Largest file accepted.
    pub max_bytes: u64,
    /// Stored bytes the owner may hold, if limited.
    pub quota_bytes: Option<i64>,
}

/// Size and SHA-256 of a local file from its start, read in 256 KiB chunks on a blocking
/// thread; the file comes back rewound.
pub async fn hash_file(mut file: std::fs::File) -> std::io::Result<(std::fs::File, u64, String)> {
    tokio::task::spawn_blocking(move || {
        file.rewind()?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut len = 0u64;
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            len += n as u64;
        }
        file.rewind()?;
        Ok((file, len, hex::encode(hasher.finalize())))
    })
    .await
    .map_err(std::io::Error::other)?
}

/// Stores an upload for `owner` and records it as a `READY` file.
///
/// The bytes are hashed first; when a blob with that hash exists they are not stored
/// again. Otherwise they go to their content-addressed key before the blob row is
/// written, so a blob row always has its object.
#[tracing::instrument(skip(db, storage, upload), fields(owner.id = %owner))]
pub async fn store_upload(
    db: &DatabaseConnection,
    storage: &Storage,
    owner: Uuid,
    upload: Upload<'_>,
    limits: UploadLimits,
) -> ApiResult<audio_file::Model> {
    // Check what the client said before touching storage.
    let filename = validate::filename(upload.filename)?;
    let content_type =
        validate::audio_content_type(upload.content_type.unwrap_or("application/octet-stream"))?;
    let title = match upload.title {
        Some(t) => validate::title(t)?,
        None => validate::title(&validate::default_title(&filename))?,
    };

    // Hash what arrived, unless that was done on the way in.
    let (file, size, sha256) = match upload.digest {
        Some(d) => {
            // Copies of one spooled file (a file mapped to several variables) share its
            // position: start from the beginning whatever an earlier copy read.
            let mut file = upload.file;
            file.rewind().map_err(ApiError::internal)?;
            (file, d.size, d.sha256)
        }
        None => hash_file(upload.file).await.map_err(ApiError::internal)?,
    };
    if size == 0 {
        return Err(ApiError::bad_input("file is empty"));
    }
    if size > limits.max_bytes {
        return Err(ApiError::bad_input(format!(
            "file is larger than {} bytes",
            limits.max_bytes
        )));
    }
    let size_i64 = i64::try_from(size).map_err(ApiError::internal)?;
    super::users::check_quota(db, owner, limits.quota_bytes, size_i64, false).await?;

    // Is it audio? Probed from the spooled file, on a blocking thread.
    let probe_ct = content_type.clone();
    let probe_name = filename.clone();
    let (file, info) = tokio::task::spawn_blocking(move || {
        let reader = file.try_clone().map_err(|e| e.to_string())?;
        let info = super::probe::probe(
            std::io::BufReader::new(reader),
            size,
            &probe_ct,
            &probe_name,
            super::probe::Decode::Required,
        );
        let mut file = file;
        file.rewind().map_err(|e| e.to_string())?;
        Ok::<_, String>((file, info))
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    let info =
        info.map_err(|reason| ApiError::bad_input(format!("file is not audio: {reason}")))?;

    // Store the bytes once per content.
    let existing = blob::Entity::find()
        .filter(blob::Column::Sha256.eq(&sha256))
        .one(db)
        .await?;
    let blob_id = match existing {
        Some(b) => b.id,
        None => {
            // Pending removals of the address go first, so the drainer cannot remove what
            // is about to be written.
            let key = layout::original_key(&sha256);
            super::deletions::cancel(db, &key).await?;
            storage
                .put_file(
                    &key,
                    tokio::fs::File::from_std(file),
                    &content_type,
                    size,
                    &sha256,
                )
                .await?;
            super::blobs::record(db, &sha256, size_i64).await?.id
        }
    };

    // Record the file.
    let now = super::now();
    let row = audio_file::ActiveModel {
        id: Set(Uuid::now_v7()),
        owner_id: Set(owner),
        blob_id: Set(Some(blob_id)),
        title: Set(title),
        original_filename: Set(filename),
        content_type: Set(content_type),
        size_bytes: Set(size_i64),
        sha256: Set(sha256),
        duration_ms: Set(info.duration_ms),
        sample_rate: Set(info.sample_rate),
        channels: Set(info.channels),
        codec: Set(info.codec),
        bitrate: Set(info.bitrate),
        visibility: Set(upload.visibility),
        status: Set(AudioStatus::Ready),
        status_reason: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    };
    Ok(audio_file::Entity::insert(row)
        .exec_with_returning(db)
        .await?)
}
