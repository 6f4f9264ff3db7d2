//! `renditions`: derived encodings of an audio file, made by processing jobs.

use sea_orm::entity::prelude::*;

/// One row of `renditions`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "renditions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The file this is a rendition of.
    pub audio_file_id: Uuid,
    /// The job that produced it, when known.
    pub job_id: Option<Uuid>,
    /// Short format name (for example `mp3-128`, `opus-64`, `waveform-json`).
    pub format: String,
    pub content_type: String,
    /// Bits per second, for audio renditions.
    pub bitrate: Option<i32>,
    pub size_bytes: i64,
    /// Lower-case hex SHA-256 of the bytes.
    pub sha256: String,
    /// Object key in the bucket, under the file's own prefix.
    pub object_key: String,
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
