//! `rendition_uploads`: an output a running job has declared and is uploading straight to
//! storage; verified and made a rendition when the job completes.

use sea_orm::entity::prelude::*;

/// One row of `rendition_uploads`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "rendition_uploads")]
pub struct Model {
    /// The id the rendition will have.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub job_id: Uuid,
    pub audio_file_id: Uuid,
    pub format: String,
    pub content_type: String,
    pub bitrate: Option<i32>,
    /// Declared length.
    pub size_bytes: i64,
    /// Declared lower-case hex SHA-256.
    pub sha256: String,
    /// Where the bytes go: the rendition's own key.
    pub object_key: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::processing_job::Entity",
        from = "Column::JobId",
        to = "super::processing_job::Column::Id",
        on_delete = "Cascade"
    )]
    ProcessingJob,
}

impl Related<super::processing_job::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ProcessingJob.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
