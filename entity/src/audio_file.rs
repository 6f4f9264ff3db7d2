//! `audio_files`: an uploaded file, its technical metadata, visibility and status.

use sea_orm::entity::prelude::*;

use crate::enums::{AudioStatus, Visibility};

/// One row of `audio_files`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audio_files")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The user who uploaded the file.
    pub owner_id: Uuid,
    /// The stored bytes; `None` until they arrive and are verified.
    pub blob_id: Option<Uuid>,
    /// Display title, editable by the owner.
    pub title: String,
    /// The client's filename, kept for `Content-Disposition`; never used in object keys.
    pub original_filename: String,
    /// MIME type declared at upload (for example `audio/mpeg`).
    pub content_type: String,
    /// Length in bytes (declared while pending, verified once ready).
    pub size_bytes: i64,
    /// Lower-case hex SHA-256 (declared while pending, verified once ready).
    pub sha256: String,
    /// Duration in milliseconds, when probed.
    pub duration_ms: Option<i32>,
    /// Samples per second, when probed.
    pub sample_rate: Option<i32>,
    /// Channel count, when probed.
    pub channels: Option<i32>,
    /// Codec name, when probed (for example `mp3`, `flac`, `pcm_s16le`).
    pub codec: Option<String>,
    /// Average bitrate in bits per second, when probed.
    pub bitrate: Option<i32>,
    pub visibility: Visibility,
    pub status: AudioStatus,
    /// Why the file was rejected, when it was.
    pub status_reason: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::OwnerId",
        to = "super::user::Column::Id",
        on_delete = "Cascade"
    )]
    Owner,
    #[sea_orm(
        belongs_to = "super::blob::Entity",
        from = "Column::BlobId",
        to = "super::blob::Column::Id",
        on_delete = "Restrict"
    )]
    Blob,
    #[sea_orm(has_many = "super::rendition::Entity")]
    Rendition,
    #[sea_orm(has_many = "super::processing_job::Entity")]
    ProcessingJob,
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Owner.def()
    }
}

impl Related<super::blob::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Blob.def()
    }
}

impl Related<super::rendition::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Rendition.def()
    }
}

impl Related<super::processing_job::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ProcessingJob.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
