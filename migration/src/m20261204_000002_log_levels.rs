//! Log pages filtered by level: `processing_logs (job_id, level, id)`, so a page of a
//! job's errors reads its error lines, not every line of the job until enough errors have
//! passed by.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261204_000002_log_levels"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum ProcessingLogs {
    Table,
    Id,
    JobId,
    Level,
}

const INDEX: &str = "idx_processing_logs_job_level";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table(ProcessingLogs::Table)
                    .col(ProcessingLogs::JobId)
                    .col(ProcessingLogs::Level)
                    .col(ProcessingLogs::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(INDEX)
                    .table(ProcessingLogs::Table)
                    .to_owned(),
            )
            .await
    }
}
