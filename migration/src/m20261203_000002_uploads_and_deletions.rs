//! Uploads straight to storage, and the durable queue of objects to delete.
//!
//! - `uploads`: one row per file awaiting its bytes: where they go (a staging key), the
//!   multipart upload when the file is large, and when the offer expires.
//! - `storage_deletions`: objects (and unfinished multipart uploads) to remove, written in
//!   the same transaction as the row change that orphaned them and drained by a
//!   background task with retries, so a crash or a storage outage never leaves a dangling
//!   object or a row pointing at nothing.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261203_000002_uploads_and_deletions"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Uploads {
    Table,
    AudioFileId,
    StagingKey,
    MultipartUploadId,
    PartSizeBytes,
    PartCount,
    ExpiresAt,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum StorageDeletions {
    Table,
    Id,
    ObjectKey,
    MultipartUploadId,
    Attempts,
    NextAttemptAt,
    LastError,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum AudioFiles {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Pending uploads, one per file, gone with the file.
        manager
            .create_table(
                Table::create()
                    .table(Uploads::Table)
                    .col(
                        ColumnDef::new(Uploads::AudioFileId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Uploads::StagingKey).string().not_null())
                    .col(ColumnDef::new(Uploads::MultipartUploadId).string())
                    .col(ColumnDef::new(Uploads::PartSizeBytes).big_integer())
                    .col(ColumnDef::new(Uploads::PartCount).integer())
                    .col(
                        ColumnDef::new(Uploads::ExpiresAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Uploads::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_uploads_audio_file")
                            .from(Uploads::Table, Uploads::AudioFileId)
                            .to(AudioFiles::Table, AudioFiles::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_uploads_expires_at")
                    .table(Uploads::Table)
                    .col(Uploads::ExpiresAt)
                    .to_owned(),
            )
            .await?;

        // Objects to delete, drained oldest-due first.
        manager
            .create_table(
                Table::create()
                    .table(StorageDeletions::Table)
                    .col(
                        ColumnDef::new(StorageDeletions::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(StorageDeletions::ObjectKey)
                            .string()
                            .not_null(),
                    )
                    .col(ColumnDef::new(StorageDeletions::MultipartUploadId).string())
                    .col(
                        ColumnDef::new(StorageDeletions::Attempts)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(StorageDeletions::NextAttemptAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(StorageDeletions::LastError).text())
                    .col(
                        ColumnDef::new(StorageDeletions::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            (
                "idx_storage_deletions_next_attempt",
                StorageDeletions::NextAttemptAt,
            ),
            (
                "idx_storage_deletions_object_key",
                StorageDeletions::ObjectKey,
            ),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(StorageDeletions::Table)
                        .col(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(StorageDeletions::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Uploads::Table).to_owned())
            .await?;
        Ok(())
    }
}
