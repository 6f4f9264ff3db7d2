//! The job queue: when each job may next be claimed, the outputs workers declare, and
//! log retention.
//!
//! - `processing_jobs.due_at`: for a queued job, when it may start (now, or after its
//!   retry backoff); for a running one, when its lease runs out. Workers claim the
//!   oldest due job of their kinds through a partial index over queued and running jobs,
//!   so a claim costs the same however many finished jobs the table holds.
//! - `rendition_uploads`: outputs a running job has declared and is uploading; verified
//!   and turned into renditions when the job completes, gone with the job.
//! - `processing_logs.at` is indexed for the retention sweep.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261204_000001_job_queue"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum ProcessingJobs {
    Table,
    Id,
    DueAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ProcessingLogs {
    Table,
    At,
}

#[derive(DeriveIden, Clone, Copy)]
enum RenditionUploads {
    Table,
    Id,
    JobId,
    AudioFileId,
    Format,
    ContentType,
    Bitrate,
    SizeBytes,
    Sha256,
    ObjectKey,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ProcessingJobs::Table)
                    .add_column(ColumnDef::new(ProcessingJobs::DueAt).timestamp_with_time_zone())
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared(
            "UPDATE processing_jobs SET due_at = COALESCE(lease_expires_at, created_at) \
             WHERE status IN ('queued', 'running')",
        )
        .await?;
        // Partial index (PostgreSQL and SQLite both have them): only jobs a worker may
        // claim are in it, by kind, oldest first, so a claim reads the head of each kind
        // it asks for and never steps over a backlog of other kinds.
        db.execute_unprepared(
            "CREATE INDEX idx_processing_jobs_kind_due ON processing_jobs (kind, due_at) \
             WHERE status IN ('queued', 'running')",
        )
        .await?;

        manager
            .create_index(
                Index::create()
                    .name("idx_processing_logs_at")
                    .table(ProcessingLogs::Table)
                    .col(ProcessingLogs::At)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RenditionUploads::Table)
                    .col(
                        ColumnDef::new(RenditionUploads::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(RenditionUploads::JobId).uuid().not_null())
                    .col(
                        ColumnDef::new(RenditionUploads::AudioFileId)
                            .uuid()
                            .not_null(),
                    )
                    .col(ColumnDef::new(RenditionUploads::Format).string().not_null())
                    .col(
                        ColumnDef::new(RenditionUploads::ContentType)
                            .string()
                            .not_null(),
                    )
                    .col(ColumnDef::new(RenditionUploads::Bitrate).integer())
                    .col(
                        ColumnDef::new(RenditionUploads::SizeBytes)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(RenditionUploads::Sha256)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(RenditionUploads::ObjectKey)
                            .string()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(RenditionUploads::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_rendition_uploads_job")
                            .from(RenditionUploads::Table, RenditionUploads::JobId)
                            .to(ProcessingJobs::Table, ProcessingJobs::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_rendition_uploads_job_format")
                    .table(RenditionUploads::Table)
                    .col(RenditionUploads::JobId)
                    .col(RenditionUploads::Format)
                    .unique()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RenditionUploads::Table).to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_processing_logs_at")
                    .table(ProcessingLogs::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX idx_processing_jobs_kind_due")
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ProcessingJobs::Table)
                    .drop_column(ProcessingJobs::DueAt)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
