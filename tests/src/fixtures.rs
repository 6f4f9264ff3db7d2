//! Test data: audio made on the spot, and rows inserted straight into the database for
//! tests that need many of them.

use chrono::Duration;
use entity::enums::{AudioStatus, JobStatus, Visibility};
use entity::{audio_file, processing_job, rendition};
use sea_orm::{ActiveValue::Set, EntityTrait};
use uuid::Uuid;

/// The fields tests read back from a file.
pub const FILE_FIELDS: &str =
    "id title status visibility sizeBytes sha256 contentType originalFilename owner { subject }";

/// A short mono WAV of a sine tone; `freq` makes distinct bytes.
pub fn wav(freq: f32) -> Vec<u8> {
    wavegate::cli::seed::sine_wav(freq, 250, 8_000)
}

/// Inserts `n` more `READY` files for `owner_id` that share the blob of `template`, each
/// with two renditions and two jobs, created one second apart going back from the
/// template. Returns their ids, newest first.
pub async fn clone_files(
    db: &sea_orm::DatabaseConnection,
    template: &audio_file::Model,
    n: usize,
    visibility: Visibility,
) -> Vec<Uuid> {
    let mut files = Vec::new();
    let mut renditions = Vec::new();
    let mut jobs = Vec::new();
    let mut ids = Vec::new();
    for i in 0..n {
        let id = Uuid::now_v7();
        let created = template.created_at - Duration::seconds(i as i64 + 1);
        ids.push(id);
        files.push(audio_file::ActiveModel {
            id: Set(id),
            title: Set(format!("Clone {i:03}")),
            visibility: Set(visibility),
            status: Set(AudioStatus::Ready),
            created_at: Set(created),
            updated_at: Set(created),
            ..audio_file::ActiveModel::from(template.clone())
        });
        for format in ["mp3-128", "opus-64"] {
            renditions.push(rendition::ActiveModel {
                id: Set(Uuid::now_v7()),
                audio_file_id: Set(id),
                job_id: Set(None),
                format: Set(format.into()),
                content_type: Set("audio/mpeg".into()),
                bitrate: Set(Some(128_000)),
                size_bytes: Set(template.size_bytes),
                sha256: Set(template.sha256.clone()),
                object_key: Set(format!("renditions/{id}/{format}")),
                created_at: Set(created),
            });
        }
        for (k, kind) in ["transcode", "waveform"].into_iter().enumerate() {
            jobs.push(processing_job::ActiveModel {
                id: Set(Uuid::now_v7()),
                audio_file_id: Set(id),
                kind: Set(kind.into()),
                status: Set(if k == 0 {
                    JobStatus::Succeeded
                } else {
                    JobStatus::Queued
                }),
                progress: Set(if k == 0 { 1.0 } else { 0.0 }),
                attempts: Set(1),
                error: Set(None),
                worker_subject: Set(None),
                lease_expires_at: Set(None),
                due_at: Set(None),
                created_at: Set(created + Duration::milliseconds(k as i64)),
                started_at: Set(None),
                finished_at: Set(None),
            });
        }
    }
    audio_file::Entity::insert_many(files)
        .exec_without_returning(db)
        .await
        .expect("insert files");
    rendition::Entity::insert_many(renditions)
        .exec_without_returning(db)
        .await
        .expect("insert renditions");
    processing_job::Entity::insert_many(jobs)
        .exec_without_returning(db)
        .await
        .expect("insert jobs");
    ids
}

/// The row of a file, read straight from the database.
pub async fn file_row(db: &sea_orm::DatabaseConnection, id: &str) -> audio_file::Model {
    let id = Uuid::parse_str(id).expect("file id is a UUID");
    audio_file::Entity::find_by_id(id)
        .one(db)
        .await
        .expect("query")
        .expect("file row exists")
}
