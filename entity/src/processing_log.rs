//! `processing_logs`: log lines of a job, in the order they were appended.

use sea_orm::entity::prelude::*;

use crate::enums::LogLevel;

/// One row of `processing_logs`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "processing_logs")]
pub struct Model {
    /// Increasing id: the order of lines within a job, and the pagination key.
    #[sea_orm(primary_key)]
    pub id: i64,
    pub job_id: Uuid,
    pub level: LogLevel,
    pub message: String,
    /// Structured fields the worker attached, as JSON.
    pub fields: Option<Json>,
    pub at: DateTimeUtc,
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
