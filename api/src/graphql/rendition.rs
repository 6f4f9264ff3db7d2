//! `Rendition`: a derived encoding of a file, reached through its file (whose access check
//! covers it).

use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};
use entity::rendition;

use super::types::{self, Disposition, Long, PresignedUrl};
use crate::error::ApiResult;

/// A derived encoding of an audio file.
pub struct Rendition {
    /// The row.
    pub model: rendition::Model,
    /// The original filename without extension, to name downloads.
    pub file_stem: String,
}

#[Object]
impl Rendition {
    async fn id(&self) -> ID {
        ID(self.model.id.to_string())
    }

    /// Short format name, such as `mp3-128` or `waveform-json`.
    async fn format(&self) -> &str {
        &self.model.format
    }

    async fn content_type(&self) -> &str {
        &self.model.content_type
    }

    /// Bits per second, for audio renditions.
    async fn bitrate(&self) -> Option<i32> {
        self.model.bitrate
    }

    async fn size_bytes(&self) -> Long {
        Long(self.model.size_bytes)
    }

    /// Lower-case hex SHA-256 of the bytes.
    async fn sha256(&self) -> &str {
        &self.model.sha256
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at
    }

    /// A presigned GET of the rendition, valid for `expiresIn` seconds (1 to 604800).
    async fn download_url(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 900)] expires_in: Option<i32>,
        #[graphql(default_with = "Some(Disposition::Inline)")] disposition: Option<Disposition>,
    ) -> ApiResult<Option<PresignedUrl>> {
        let object = types::Download {
            key: &self.model.object_key,
            content_type: &self.model.content_type,
            filename: &format!("{}.{}", self.file_stem, self.model.format),
        };
        object.presign(ctx, expires_in, disposition).map(Some)
    }
}
