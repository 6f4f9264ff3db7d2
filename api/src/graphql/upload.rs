//! Uploads straight to storage: `createUpload`, `completeUpload`, `abortUpload`, and the
//! admin's `storageStats`.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};

use super::audio_file::{AudioFile, writable_file};
use super::context::ContextExt;
use super::types::{Long, PresignedUrl, Visibility};
use crate::auth::access;
use crate::error::{ApiError, ApiResult};
use crate::service::{stats, uploads};

/// What the client is about to upload.
#[derive(InputObject, Debug)]
pub struct CreateUploadInput {
    /// The file's name on the client (kept for downloads, never used in storage keys).
    pub filename: String,
    /// An audio MIME type, such as `audio/mpeg`.
    pub content_type: String,
    /// Exact length in bytes.
    pub size_bytes: Long,
    /// Lower-case hex SHA-256 of the bytes.
    pub sha256: String,
    pub title: Option<String>,
    #[graphql(default_with = "Some(Visibility::Private)")]
    pub visibility: Option<Visibility>,
}

/// A part the client uploaded, with the ETag storage answered.
#[derive(InputObject, Debug)]
pub struct CompletedPart {
    pub part_number: i32,
    pub etag: String,
}

/// One presigned part of a multipart upload.
#[derive(SimpleObject, Debug)]
pub struct PresignedPart {
    pub part_number: i32,
    /// PUT the part's bytes here; keep the `ETag` of the answer.
    pub url: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// How to upload a large file: parts of `partSizeBytes` (the last one shorter).
#[derive(SimpleObject, Debug)]
pub struct MultipartPlan {
    pub part_size_bytes: Long,
    /// The parts still missing, in order.
    pub parts: Vec<PresignedPart>,
}

/// The answer to `createUpload`.
#[derive(SimpleObject)]
pub struct UploadTicket {
    /// The file: `PENDING_UPLOAD` until completed, `READY` when already stored.
    pub audio_file: Option<AudioFile>,
    /// The same bytes are stored already: no upload needed.
    pub already_stored: bool,
    /// One PUT, for files up to the multipart threshold.
    pub put: Option<PresignedUrl>,
    /// Presigned parts, for larger files.
    pub multipart: Option<MultipartPlan>,
}

/// Storage statistics.
#[derive(SimpleObject, Debug)]
pub struct StorageStats {
    /// `READY` files.
    pub files: Long,
    /// Bytes of all `READY` files, shared bytes counted once per file.
    pub logical_bytes: Long,
    /// Bytes stored, each distinct content once.
    pub stored_bytes: Long,
    /// `logicalBytes / storedBytes` (1.0 with nothing shared or stored).
    pub dedup_ratio: f64,
    /// Uploads waiting for their bytes.
    pub pending_uploads: Long,
    /// Objects queued for removal.
    pub objects_awaiting_deletion: Long,
}

/// Upload queries.
#[derive(Default)]
pub struct UploadQuery;

#[Object]
impl UploadQuery {
    /// What the bucket holds and owes (admins only).
    #[graphql(cache_control(private))]
    async fn storage_stats(&self, ctx: &Context<'_>) -> ApiResult<StorageStats> {
        let caller = &ctx.request()?.caller;
        access::ensure_authenticated(caller)?;
        if !caller.is_admin() {
            return Err(ApiError::Forbidden);
        }
        // Background work (the deletion queue) changes these figures: never cached.
        ctx.request()?.deps.uncacheable();
        let s = stats::read(&ctx.state()?.db).await?;
        let long = |n: u64| Long(i64::try_from(n).unwrap_or(i64::MAX));
        Ok(StorageStats {
            files: long(s.files),
            logical_bytes: Long(s.logical_bytes),
            stored_bytes: Long(s.stored_bytes),
            dedup_ratio: if s.stored_bytes > 0 {
                s.logical_bytes as f64 / s.stored_bytes as f64
            } else {
                1.0
            },
            pending_uploads: long(s.pending_uploads),
            objects_awaiting_deletion: long(s.pending_deletions),
        })
    }
}

/// Upload mutations.
#[derive(Default)]
pub struct UploadMutation;

#[Object]
impl UploadMutation {
    /// Declares a file and returns where to upload its bytes: one presigned PUT up to the
    /// multipart threshold, a multipart plan above it, or nothing when the same bytes are
    /// stored already. Asking again for the same bytes resumes the pending upload.
    async fn create_upload(
        &self,
        ctx: &Context<'_>,
        input: CreateUploadInput,
    ) -> ApiResult<UploadTicket> {
        let state = ctx.state()?;
        let owner = access::ensure_authenticated(&ctx.request()?.caller)?;
        let declaration = uploads::Declaration {
            filename: input.filename,
            content_type: input.content_type,
            size_bytes: input.size_bytes.0,
            sha256: input.sha256,
            title: input.title,
            visibility: input.visibility.unwrap_or(Visibility::Private).into(),
        };
        let ticket = uploads::create(state, owner.user_id, declaration).await?;
        Ok(match ticket {
            uploads::Ticket::AlreadyStored(file) => UploadTicket {
                audio_file: Some(AudioFile(file)),
                already_stored: true,
                put: None,
                multipart: None,
            },
            uploads::Ticket::Single(file, put) => UploadTicket {
                audio_file: Some(AudioFile(file)),
                already_stored: false,
                put: Some(put.into()),
                multipart: None,
            },
            uploads::Ticket::Multipart(file, part_size, parts) => UploadTicket {
                audio_file: Some(AudioFile(file)),
                already_stored: false,
                put: None,
                multipart: Some(MultipartPlan {
                    part_size_bytes: Long(part_size),
                    parts: parts
                        .into_iter()
                        .map(|(n, p)| PresignedPart {
                            part_number: n,
                            url: p.url,
                            expires_at: p.expires_at,
                        })
                        .collect(),
                }),
            },
        })
    }

    /// Verifies the uploaded bytes (size, SHA-256, audio) and makes the file `READY`, or
    /// `REJECTED` with a reason. `parts` may be omitted: storage's list is used then.
    async fn complete_upload(
        &self,
        ctx: &Context<'_>,
        audio_file_id: ID,
        parts: Option<Vec<CompletedPart>>,
    ) -> ApiResult<AudioFile> {
        let file = writable_file(ctx, &audio_file_id).await?;
        let parts = parts.map(|p| p.into_iter().map(|c| (c.part_number, c.etag)).collect());
        Ok(AudioFile(
            uploads::complete(ctx.state()?, file, parts).await?,
        ))
    }

    /// Gives up an upload that awaits its bytes; its row and any uploaded bytes go.
    async fn abort_upload(&self, ctx: &Context<'_>, audio_file_id: ID) -> ApiResult<bool> {
        let file = writable_file(ctx, &audio_file_id).await?;
        uploads::abort(ctx.state()?, file).await?;
        Ok(true)
    }
}
