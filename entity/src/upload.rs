//! `uploads`: a file awaiting its bytes, straight from the client to storage.

use sea_orm::entity::prelude::*;

/// One row of `uploads`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "uploads")]
pub struct Model {
    /// The file the bytes are for (one pending upload per file).
    #[sea_orm(primary_key, auto_increment = false)]
    pub audio_file_id: Uuid,
    /// Where the bytes go until they are verified (`staging/<file id>`).
    pub staging_key: String,
    /// The S3 multipart upload, for files above the multipart threshold.
    pub multipart_upload_id: Option<String>,
    /// Size of every part but the last, for multipart uploads.
    pub part_size_bytes: Option<i64>,
    /// Number of parts, for multipart uploads.
    pub part_count: Option<i32>,
    /// When the offer lapses and the upload is cleaned up.
    pub expires_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::audio_file::Entity",
        from = "Column::AudioFileId",
        to = "super::audio_file::Column::Id",
        on_delete = "Cascade"
    )]
    AudioFile,
}

impl Related<super::audio_file::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::AudioFile.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
