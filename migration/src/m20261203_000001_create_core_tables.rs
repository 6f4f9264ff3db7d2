//! The core tables: users, blobs, audio files, renditions, processing jobs and their logs.
//!
//! Indexes follow the access paths: a user's files by time, public files by time, a
//! file's renditions and jobs, queued jobs by kind, and a job's log lines in order.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261203_000001_create_core_tables"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Users {
    Table,
    Id,
    Subject,
    Role,
    QuotaBytes,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Blobs {
    Table,
    Id,
    Sha256,
    SizeBytes,
    ObjectKey,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum AudioFiles {
    Table,
    Id,
    OwnerId,
    BlobId,
    Title,
    OriginalFilename,
    ContentType,
    SizeBytes,
    Sha256,
    DurationMs,
    SampleRate,
    Channels,
    Codec,
    Bitrate,
    Visibility,
    Status,
    StatusReason,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Renditions {
    Table,
    Id,
    AudioFileId,
    JobId,
    Format,
    ContentType,
    Bitrate,
    SizeBytes,
    Sha256,
    ObjectKey,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ProcessingJobs {
    Table,
    Id,
    AudioFileId,
    Kind,
    Status,
    Progress,
    Attempts,
    Error,
    WorkerSubject,
    LeaseExpiresAt,
    CreatedAt,
    StartedAt,
    FinishedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ProcessingLogs {
    Table,
    Id,
    JobId,
    Level,
    Message,
    Fields,
    At,
}

/// A `timestamptz` (PostgreSQL) or text (SQLite) column that may not be null.
fn at(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

/// An index on some columns of one table.
fn index<T: IntoIden + Copy>(table: T, name: &str, cols: &[T]) -> IndexCreateStatement {
    let mut stmt = Index::create();
    stmt.name(name).table(table);
    for col in cols {
        stmt.col(*col);
    }
    stmt.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Users, unique by subject.
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(ColumnDef::new(Users::Id).uuid().not_null().primary_key())
                    .col(
                        ColumnDef::new(Users::Subject)
                            .string()
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(Users::Role).string_len(16).not_null())
                    .col(ColumnDef::new(Users::QuotaBytes).big_integer())
                    .col(at(Users::CreatedAt))
                    .to_owned(),
            )
            .await?;

        // Blobs, unique by content hash.
        manager
            .create_table(
                Table::create()
                    .table(Blobs::Table)
                    .col(ColumnDef::new(Blobs::Id).uuid().not_null().primary_key())
                    .col(
                        ColumnDef::new(Blobs::Sha256)
                            .string_len(64)
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(Blobs::SizeBytes).big_integer().not_null())
                    .col(
                        ColumnDef::new(Blobs::ObjectKey)
                            .string()
                            .not_null()
                            .unique_key(),
                    )
                    .col(at(Blobs::CreatedAt))
                    .to_owned(),
            )
            .await?;

        // Audio files, owned by a user, pointing at a blob once their bytes are verified.
        manager
            .create_table(
                Table::create()
                    .table(AudioFiles::Table)
                    .col(
                        ColumnDef::new(AudioFiles::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(AudioFiles::OwnerId).uuid().not_null())
                    .col(ColumnDef::new(AudioFiles::BlobId).uuid())
                    .col(ColumnDef::new(AudioFiles::Title).string().not_null())
                    .col(
                        ColumnDef::new(AudioFiles::OriginalFilename)
                            .string()
                            .not_null(),
                    )
                    .col(ColumnDef::new(AudioFiles::ContentType).string().not_null())
                    .col(
                        ColumnDef::new(AudioFiles::SizeBytes)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(AudioFiles::Sha256).string_len(64).not_null())
                    .col(ColumnDef::new(AudioFiles::DurationMs).integer())
                    .col(ColumnDef::new(AudioFiles::SampleRate).integer())
                    .col(ColumnDef::new(AudioFiles::Channels).integer())
                    .col(ColumnDef::new(AudioFiles::Codec).string())
                    .col(ColumnDef::new(AudioFiles::Bitrate).integer())
                    .col(
                        ColumnDef::new(AudioFiles::Visibility)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(ColumnDef::new(AudioFiles::Status).string_len(16).not_null())
                    .col(ColumnDef::new(AudioFiles::StatusReason).string())
                    .col(at(AudioFiles::CreatedAt))
                    .col(at(AudioFiles::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_audio_files_owner")
                            .from(AudioFiles::Table, AudioFiles::OwnerId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_audio_files_blob")
                            .from(AudioFiles::Table, AudioFiles::BlobId)
                            .to(Blobs::Table, Blobs::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        for stmt in [
            index(
                AudioFiles::Table,
                "idx_audio_files_owner_created",
                &[AudioFiles::OwnerId, AudioFiles::CreatedAt, AudioFiles::Id],
            ),
            index(
                AudioFiles::Table,
                "idx_audio_files_visibility_created",
                &[
                    AudioFiles::Visibility,
                    AudioFiles::CreatedAt,
                    AudioFiles::Id,
                ],
            ),
            index(
                AudioFiles::Table,
                "idx_audio_files_created",
                &[AudioFiles::CreatedAt, AudioFiles::Id],
            ),
            index(
                AudioFiles::Table,
                "idx_audio_files_blob",
                &[AudioFiles::BlobId],
            ),
        ] {
            manager.create_index(stmt).await?;
        }

        // Renditions of a file.
        manager
            .create_table(
                Table::create()
                    .table(Renditions::Table)
                    .col(
                        ColumnDef::new(Renditions::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Renditions::AudioFileId).uuid().not_null())
                    .col(ColumnDef::new(Renditions::JobId).uuid())
                    .col(ColumnDef::new(Renditions::Format).string().not_null())
                    .col(ColumnDef::new(Renditions::ContentType).string().not_null())
                    .col(ColumnDef::new(Renditions::Bitrate).integer())
                    .col(
                        ColumnDef::new(Renditions::SizeBytes)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Renditions::Sha256).string_len(64).not_null())
                    .col(ColumnDef::new(Renditions::ObjectKey).string().not_null())
                    .col(at(Renditions::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_renditions_audio_file")
                            .from(Renditions::Table, Renditions::AudioFileId)
                            .to(AudioFiles::Table, AudioFiles::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                Renditions::Table,
                "idx_renditions_audio_file",
                &[Renditions::AudioFileId],
            ))
            .await?;

        // Processing jobs of a file; workers claim queued jobs by kind, oldest first.
        manager
            .create_table(
                Table::create()
                    .table(ProcessingJobs::Table)
                    .col(
                        ColumnDef::new(ProcessingJobs::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(ProcessingJobs::AudioFileId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ProcessingJobs::Kind)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ProcessingJobs::Status)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(ColumnDef::new(ProcessingJobs::Progress).double().not_null())
                    .col(
                        ColumnDef::new(ProcessingJobs::Attempts)
                            .integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(ProcessingJobs::Error).text())
                    .col(ColumnDef::new(ProcessingJobs::WorkerSubject).string())
                    .col(ColumnDef::new(ProcessingJobs::LeaseExpiresAt).timestamp_with_time_zone())
                    .col(at(ProcessingJobs::CreatedAt))
                    .col(ColumnDef::new(ProcessingJobs::StartedAt).timestamp_with_time_zone())
                    .col(ColumnDef::new(ProcessingJobs::FinishedAt).timestamp_with_time_zone())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_processing_jobs_audio_file")
                            .from(ProcessingJobs::Table, ProcessingJobs::AudioFileId)
                            .to(AudioFiles::Table, AudioFiles::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for stmt in [
            index(
                ProcessingJobs::Table,
                "idx_processing_jobs_audio_file_created",
                &[ProcessingJobs::AudioFileId, ProcessingJobs::CreatedAt],
            ),
            index(
                ProcessingJobs::Table,
                "idx_processing_jobs_status_kind_created",
                &[
                    ProcessingJobs::Status,
                    ProcessingJobs::Kind,
                    ProcessingJobs::CreatedAt,
                ],
            ),
        ] {
            manager.create_index(stmt).await?;
        }

        // Log lines of a job, paged by (job, id).
        manager
            .create_table(
                Table::create()
                    .table(ProcessingLogs::Table)
                    .col(
                        ColumnDef::new(ProcessingLogs::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(ProcessingLogs::JobId).uuid().not_null())
                    .col(
                        ColumnDef::new(ProcessingLogs::Level)
                            .small_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(ProcessingLogs::Message).text().not_null())
                    .col(ColumnDef::new(ProcessingLogs::Fields).json())
                    .col(at(ProcessingLogs::At))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_processing_logs_job")
                            .from(ProcessingLogs::Table, ProcessingLogs::JobId)
                            .to(ProcessingJobs::Table, ProcessingJobs::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                ProcessingLogs::Table,
                "idx_processing_logs_job_id",
                &[ProcessingLogs::JobId, ProcessingLogs::Id],
            ))
            .await?;

        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Children before parents, so foreign keys never dangle.
        for table in [
            ProcessingLogs::Table.into_iden(),
            ProcessingJobs::Table.into_iden(),
            Renditions::Table.into_iden(),
            AudioFiles::Table.into_iden(),
            Blobs::Table.into_iden(),
            Users::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
