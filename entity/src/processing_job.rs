//! `processing_jobs`: one step of the pipeline (transcode, waveform, loudness) for a file.

use sea_orm::entity::prelude::*;

use crate::enums::JobStatus;

/// One row of `processing_jobs`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "processing_jobs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub audio_file_id: Uuid,
    /// What the job does (for example `transcode`); workers claim by kind.
    pub kind: String,
    pub status: JobStatus,
    /// Fraction done, from 0.0 to 1.0.
    pub progress: f64,
    /// How many times a worker has claimed it.
    pub attempts: i32,
    /// The last error a worker reported.
    pub error: Option<String>,
    /// The worker (its `sub`) that holds the job while it runs.
    pub worker_subject: Option<String>,
    /// When the running job becomes claimable again unless the worker reports.
    pub lease_expires_at: Option<DateTimeUtc>,
    /// When the job may next be claimed: for a queued job when it may start (after any
    /// retry backoff), for a running one when its lease runs out; `None` once finished.
    pub due_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
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
    #[sea_orm(has_many = "super::processing_log::Entity")]
    ProcessingLog,
}

impl Related<super::audio_file::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::AudioFile.def()
    }
}

impl Related<super::processing_log::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ProcessingLog.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
