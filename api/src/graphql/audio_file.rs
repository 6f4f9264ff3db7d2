//! `AudioFile`: the object type, its queries (`audioFile`, `audioFiles`) and its mutations
//! (`uploadAudio`, `updateAudioFile`, `deleteAudioFile`).

use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, Object, SimpleObject, Upload};
use chrono::{DateTime, Utc};
use entity::audio_file;
use entity::enums::{AudioStatus as DbStatus, JobStatus as DbJobStatus};

use super::context::ContextExt;
use super::job::ProcessingJob;
use super::rendition::Rendition;
use super::types::{
    self, AudioStatus, Disposition, JobStatus, Long, PageInfo, PresignedUrl, Visibility,
};
use super::user::User;
use crate::auth::access;
use crate::cache;
use crate::error::{ApiError, ApiResult};
use crate::service::audio_files::{self as files, FileFilter, FileOrder, FilePage};
use crate::service::ingest;

/// An uploaded audio file and its technical metadata.
pub struct AudioFile(pub audio_file::Model);

#[Object]
impl AudioFile {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The user who uploaded the file.
    async fn owner(&self, ctx: &Context<'_>) -> ApiResult<User> {
        let loaded = ctx
            .request()?
            .loaders
            .users
            .load_one(self.0.owner_id)
            .await?;
        loaded
            .map(User)
            .ok_or_else(|| ApiError::internal(format_args!("file {} has no owner row", self.0.id)))
    }

    async fn title(&self) -> &str {
        &self.0.title
    }

    /// The filename the file was uploaded under.
    async fn original_filename(&self) -> &str {
        &self.0.original_filename
    }

    async fn content_type(&self) -> &str {
        &self.0.content_type
    }

    async fn size_bytes(&self) -> Long {
        Long(self.0.size_bytes)
    }

    /// Lower-case hex SHA-256 of the bytes.
    async fn sha256(&self) -> &str {
        &self.0.sha256
    }

    async fn duration_ms(&self) -> Option<i32> {
        self.0.duration_ms
    }

    async fn sample_rate(&self) -> Option<i32> {
        self.0.sample_rate
    }

    async fn channels(&self) -> Option<i32> {
        self.0.channels
    }

    async fn codec(&self) -> Option<&str> {
        self.0.codec.as_deref()
    }

    /// Average bits per second.
    async fn bitrate(&self) -> Option<i32> {
        self.0.bitrate
    }

    async fn visibility(&self) -> Visibility {
        self.0.visibility.into()
    }

    async fn status(&self) -> AudioStatus {
        self.0.status.into()
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    /// A presigned GET of the original bytes, valid for `expiresIn` seconds (1 to 604800);
    /// `null` until the file is `READY`.
    async fn download_url(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 900)] expires_in: Option<i32>,
        #[graphql(default_with = "Some(Disposition::Inline)")] disposition: Option<Disposition>,
    ) -> ApiResult<Option<PresignedUrl>> {
        if self.0.status != DbStatus::Ready {
            types::expires_in(expires_in.unwrap_or(types::DEFAULT_EXPIRES_IN))?;
            return Ok(None);
        }
        let object = types::Download {
            key: &crate::storage::layout::original_key(&self.0.sha256),
            content_type: &self.0.content_type,
            filename: &self.0.original_filename,
        };
        object.presign(ctx, expires_in, disposition).map(Some)
    }

    /// Derived encodings, oldest first.
    async fn renditions(&self, ctx: &Context<'_>) -> ApiResult<Vec<Rendition>> {
        let rows = ctx
            .request()?
            .loaders
            .renditions
            .load_one(self.0.id)
            .await?
            .unwrap_or_default();
        let stem = crate::service::validate::default_title(&self.0.original_filename);
        Ok(rows
            .into_iter()
            .map(|r| Rendition {
                model: r,
                file_stem: stem.clone(),
            })
            .collect())
    }

    /// Processing jobs, oldest first, optionally only those in `status`.
    async fn jobs(
        &self,
        ctx: &Context<'_>,
        status: Option<JobStatus>,
    ) -> ApiResult<Vec<ProcessingJob>> {
        let rows = ctx
            .request()?
            .loaders
            .jobs
            .load_one(self.0.id)
            .await?
            .unwrap_or_default();
        let wanted: Option<DbJobStatus> = status.map(Into::into);
        Ok(rows
            .into_iter()
            .filter(|j| wanted.is_none_or(|s| j.status == s))
            .map(ProcessingJob)
            .collect())
    }

    /// The most recently created job.
    async fn latest_job(&self, ctx: &Context<'_>) -> ApiResult<Option<ProcessingJob>> {
        let rows = ctx
            .request()?
            .loaders
            .jobs
            .load_one(self.0.id)
            .await?
            .unwrap_or_default();
        Ok(rows
            .into_iter()
            .max_by_key(|j| (j.created_at, j.id))
            .map(ProcessingJob))
    }
}

/// Orders of `audioFiles`.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, Default)]
pub enum AudioFileOrder {
    /// Newest first.
    #[default]
    CreatedAtDesc,
    /// Oldest first.
    CreatedAtAsc,
    /// By title, A to Z.
    TitleAsc,
    /// Largest first.
    SizeDesc,
}

impl From<AudioFileOrder> for FileOrder {
    fn from(o: AudioFileOrder) -> Self {
        match o {
            AudioFileOrder::CreatedAtDesc => FileOrder::CreatedAtDesc,
            AudioFileOrder::CreatedAtAsc => FileOrder::CreatedAtAsc,
            AudioFileOrder::TitleAsc => FileOrder::TitleAsc,
            AudioFileOrder::SizeDesc => FileOrder::SizeDesc,
        }
    }
}

/// Narrows `audioFiles`; every part is optional and they combine with AND.
#[derive(InputObject, Debug, Default)]
pub struct AudioFileFilter {
    /// Only files of the user with this subject.
    pub owner_subject: Option<String>,
    pub visibility: Option<Visibility>,
    pub status: Option<AudioStatus>,
    /// Case-insensitive part of the title (at most 200 characters).
    pub title_contains: Option<String>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
}

impl From<AudioFileFilter> for FileFilter {
    fn from(f: AudioFileFilter) -> Self {
        FileFilter {
            owner_subject: f.owner_subject,
            owner_id: None,
            visibility: f.visibility.map(Into::into),
            status: f.status.map(Into::into),
            title_contains: f.title_contains,
            created_after: f.created_after,
            created_before: f.created_before,
        }
    }
}

/// An edge of a file listing.
#[derive(SimpleObject)]
pub struct AudioFileEdge {
    /// Pass as `after` to continue after this file.
    pub cursor: String,
    pub node: AudioFile,
}

/// A page of files (Relay connection).
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct AudioFileConnection {
    pub edges: Vec<AudioFileEdge>,
    pub page_info: PageInfo,
    /// The listing's condition, for `totalCount`.
    #[graphql(skip)]
    pub page_condition: sea_orm::Condition,
}

#[ComplexObject]
impl AudioFileConnection {
    /// How many files the whole listing holds (one more statement, only when asked).
    async fn total_count(&self, ctx: &Context<'_>) -> ApiResult<Long> {
        let n = files::count(&ctx.state()?.db, self.page_condition.clone()).await?;
        Ok(Long(i64::try_from(n).unwrap_or(i64::MAX)))
    }
}

impl AudioFileConnection {
    /// Wraps a page from the service; the answer depends on each file it shows.
    pub fn from_page(ctx: &Context<'_>, page: FilePage, had_cursor: bool) -> Self {
        let order = page.order;
        for row in &page.rows {
            ctx.depends_on(cache::file(row.id));
        }
        let edges: Vec<AudioFileEdge> = page
            .rows
            .into_iter()
            .map(|row| AudioFileEdge {
                cursor: order.cursor(&row),
                node: AudioFile(row),
            })
            .collect();
        let page_info = PageInfo {
            has_next_page: page.has_next,
            has_previous_page: had_cursor,
            start_cursor: edges.first().map(|e| e.cursor.clone()),
            end_cursor: edges.last().map(|e| e.cursor.clone()),
        };
        Self {
            edges,
            page_info,
            page_condition: page.condition,
        }
    }
}

/// Loads a file the caller may read, or `None` exactly as if it did not exist.
pub async fn readable_file(ctx: &Context<'_>, id: &ID) -> ApiResult<Option<audio_file::Model>> {
    let Some(id) = types::parse_id(id) else {
        return Err(ApiError::bad_input("id is not a valid audio file id"));
    };
    let request = ctx.request()?;
    let file = request.loaders.files.load_one(id).await?;
    let visible = file.filter(|f| access::can_read_by_id(&request.caller, f));
    ctx.depends_on(cache::file(id));
    match &visible {
        Some(f)
            if f.visibility == entity::enums::Visibility::Public && f.status == DbStatus::Ready =>
        {
            ctx.shown_to_all()
        }
        _ => ctx.caller_dependent(),
    }
    Ok(visible)
}

/// Loads a file the caller may change: `NOT_FOUND` when it may not see it, `FORBIDDEN`
/// when it may see but not change it.
pub async fn writable_file(ctx: &Context<'_>, id: &ID) -> ApiResult<audio_file::Model> {
    let Some(uuid) = types::parse_id(id) else {
        return Err(ApiError::bad_input("id is not a valid audio file id"));
    };
    let caller = &ctx.request()?.caller;
    access::ensure_authenticated(caller)?;
    let file = files::find(&ctx.state()?.db, uuid)
        .await?
        .ok_or(ApiError::NotFound)?;
    access::ensure_write(caller, &file)?;
    Ok(file)
}

/// Queries about files.
#[derive(Default)]
pub struct AudioFileQuery;

#[Object]
impl AudioFileQuery {
    /// One file by id; `null` when it does not exist or the caller may not see it.
    async fn audio_file(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<AudioFile>> {
        Ok(readable_file(ctx, &id).await?.map(AudioFile))
    }

    /// Files the caller may see without knowing their id: its own and public ones (all
    /// for an admin, public ones for anonymous callers). `first` is 0 to 100.
    #[graphql(cache_control(private))]
    async fn audio_files(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
        filter: Option<AudioFileFilter>,
        #[graphql(default_with = "Some(AudioFileOrder::CreatedAtDesc)")] order_by: Option<
            AudioFileOrder,
        >,
    ) -> ApiResult<AudioFileConnection> {
        let first = first.unwrap_or(files::DEFAULT_PAGE_SIZE);
        let order_by = order_by.unwrap_or_default();
        let state = ctx.state()?;
        let scope = access::list_scope(&ctx.request()?.caller);
        ctx.caller_dependent();
        let filter: FileFilter = filter.unwrap_or_default().into();
        let by_title = order_by == AudioFileOrder::TitleAsc || filter.title_contains.is_some();
        cache::listing(scope, by_title)
            .into_iter()
            .for_each(|d| ctx.depends_on(d));
        let page = files::list(
            &state.db,
            scope,
            &filter,
            order_by.into(),
            first,
            after.as_deref(),
        )
        .await?;
        Ok(AudioFileConnection::from_page(ctx, page, after.is_some()))
    }
}

/// Changes to a file's editable fields; absent fields stay as they are.
#[derive(InputObject, Debug)]
pub struct UpdateAudioFileInput {
    /// 1 to 200 characters, no control characters.
    pub title: Option<String>,
    pub visibility: Option<Visibility>,
}

/// Mutations of files.
#[derive(Default)]
pub struct AudioFileMutation;

#[Object]
impl AudioFileMutation {
    /// Uploads a file through the gateway (GraphQL multipart request): hashed on the way,
    /// stored once per content, `READY` when this returns.
    async fn upload_audio(
        &self,
        ctx: &Context<'_>,
        file: Upload,
        title: Option<String>,
        visibility: Option<Visibility>,
    ) -> ApiResult<AudioFile> {
        let state = ctx.state()?;
        let owner = access::ensure_authenticated(&ctx.request()?.caller)?;
        let value = file
            .value(ctx)
            .map_err(|_| ApiError::bad_input("file is not an uploaded file"))?;
        let spooled = value.content.try_clone().map_err(ApiError::internal)?;
        let digest = ctx
            .data_opt::<crate::http::multipart::UploadDigests>()
            .and_then(|d| d.get(file.0))
            .cloned();
        let upload = ingest::Upload {
            file: spooled,
            digest,
            filename: &value.filename,
            content_type: value.content_type.as_deref(),
            title: title.as_deref(),
            visibility: visibility.map_or(entity::enums::Visibility::Private, Into::into),
        };
        let limits = ingest::UploadLimits {
            max_bytes: state.settings.max_upload_bytes,
            quota_bytes: state.settings.default_quota_bytes,
        };
        let row =
            ingest::store_upload(&state.db, &state.storage, owner.user_id, upload, limits).await?;
        state
            .file_changed(
                row.owner_id,
                row.id,
                row.visibility == entity::enums::Visibility::Public,
                cache::Change::Membership,
            )
            .await;
        crate::service::jobs::enqueue_pipeline(state, &row).await;
        Ok(AudioFile(row))
    }

    /// Changes the title or visibility of a file the caller owns (or any, for an admin).
    async fn update_audio_file(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateAudioFileInput,
    ) -> ApiResult<AudioFile> {
        let file = writable_file(ctx, &id).await?;
        let was_public = file.visibility == entity::enums::Visibility::Public;
        let change = match (&input.visibility, &input.title) {
            (Some(v), _) if entity::enums::Visibility::from(*v) != file.visibility => {
                cache::Change::Membership
            }
            (_, Some(t)) if *t != file.title => cache::Change::Title,
            _ => cache::Change::Content,
        };
        let state = ctx.state()?;
        let row = files::update(
            &state.db,
            file,
            input.title,
            input.visibility.map(Into::into),
        )
        .await?;
        let public = was_public || row.visibility == entity::enums::Visibility::Public;
        state
            .file_changed(row.owner_id, row.id, public, change)
            .await;
        Ok(AudioFile(row))
    }

    /// Deletes a file with its renditions and jobs; its bytes go once no file shares them.
    async fn delete_audio_file(&self, ctx: &Context<'_>, id: ID) -> ApiResult<bool> {
        let file = writable_file(ctx, &id).await?;
        let state = ctx.state()?;
        let (owner, id, public) = (
            file.owner_id,
            file.id,
            file.visibility == entity::enums::Visibility::Public,
        );
        files::delete(&state.db, file).await?;
        state.deletions_due.notify_one();
        state
            .file_changed(owner, id, public, cache::Change::Membership)
            .await;
        Ok(true)
    }
}
