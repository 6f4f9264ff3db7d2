//! `wavegate seed`: users `user-1` … `user-N` and their files, with renditions, jobs and
//! logs, for benchmarks.
//!
//! Files share a handful of real sample recordings (sine tones as WAV), so downloads of
//! seeded files return real audio without uploading gigabytes; seeded renditions likewise
//! share sample objects under `renditions/seed/`. Rows are inserted in batches of 1,000.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Duration as ChronoDuration;
use entity::enums::{AudioStatus, JobStatus, LogLevel, Role, Visibility};
use entity::{audio_file, blob, processing_job, processing_log, rendition, user};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use url::Url;
use uuid::Uuid;

use crate::config::Settings;
use crate::metrics::Metrics;
use crate::storage::embedded::EmbeddedS3;
use crate::storage::{Storage, layout};

/// Rows per INSERT statement (well under the bind-parameter limits of both databases).
const BATCH: usize = 1000;
/// Distinct sample recordings the seeded files share.
const SAMPLES: usize = 8;

/// A mono 16-bit PCM WAV of a sine tone.
pub fn sine_wav(freq_hz: f32, millis: u32, sample_rate: u32) -> Vec<u8> {
    let samples = (u64::from(sample_rate) * u64::from(millis) / 1000) as u32;
    let data_len = samples * 2;
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&sample_rate.to_le_bytes());
    out.extend_from_slice(&(sample_rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for i in 0..samples {
        let t = i as f32 / sample_rate as f32;
        let v = (t * freq_hz * std::f32::consts::TAU).sin() * 0.5 * f32::from(i16::MAX);
        out.extend_from_slice(&(v as i16).to_le_bytes());
    }
    out
}

/// Fills the database (and bucket) configured in `settings`.
pub async fn run(settings: Settings, users: u32, files: u32) -> anyhow::Result<()> {
    if users == 0 {
        anyhow::bail!("--users must be at least 1");
    }
    let started = std::time::Instant::now();
    let metrics = Arc::new(Metrics::new()?);

    // Storage, through the embedded server on a free port when no endpoint is configured.
    let (endpoint, _embedded) = match &settings.s3.endpoint {
        Some(url) => (url.clone(), None),
        None => {
            let root = settings.data_dir.join("objects");
            let server = EmbeddedS3::start(
                "127.0.0.1:0".parse()?,
                &root,
                &settings.s3.access_key,
                settings.s3.secret_key.expose_secret(),
            )
            .await?;
            (
                Url::parse(&format!("http://{}", server.addr))?,
                Some(server),
            )
        }
    };
    let storage = Storage::new(&settings.s3, &endpoint, metrics);
    storage.ensure_bucket().await?;
    let db = crate::db::connect(&settings, None).await?;
    crate::db::migrate(&db).await?;

    let user_ids = seed_users(&db, users).await?;
    let samples = seed_samples(&db, &storage).await?;
    seed_files(&db, &user_ids, &samples, files).await?;
    println!(
        "seeded {users} users and {files} files in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Inserts `user-1` … `user-N` (keeping existing ones) and returns their ids in order.
async fn seed_users(db: &DatabaseConnection, n: u32) -> anyhow::Result<Vec<Uuid>> {
    let subjects: Vec<String> = (1..=n).map(|i| format!("user-{i}")).collect();
    for chunk in subjects.chunks(BATCH) {
        let rows = chunk.iter().map(|s| user::ActiveModel {
            id: Set(Uuid::now_v7()),
            subject: Set(s.clone()),
            role: Set(Role::User),
            quota_bytes: Set(None),
            created_at: Set(crate::service::now()),
        });
        user::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::column(user::Column::Subject)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    let mut ids = HashMap::new();
    for chunk in subjects.chunks(BATCH) {
        let found = user::Entity::find()
            .filter(user::Column::Subject.is_in(chunk.iter().cloned()))
            .all(db)
            .await?;
        ids.extend(found.into_iter().map(|u| (u.subject, u.id)));
    }
    Ok(subjects
        .iter()
        .filter_map(|s| ids.get(s).copied())
        .collect())
}

/// A stored sample: its blob row and the rendition objects made from it.
struct Sample {
    blob: blob::Model,
    preview: (String, i64, String),
    waveform: (String, i64, String),
}

/// Uploads the sample recordings and their renditions once.
async fn seed_samples(db: &DatabaseConnection, storage: &Storage) -> anyhow::Result<Vec<Sample>> {
    let mut out = Vec::with_capacity(SAMPLES);
    for i in 0..SAMPLES {
        let freq = 220.0 * (i as f32 + 1.0);
        let wav = sine_wav(freq, 2000, 44_100);
        let sha = hex::encode(Sha256::digest(&wav));
        let key = layout::original_key(&sha);
        let size = wav.len() as i64;
        storage
            .put_bytes(&key, wav, "audio/wav")
            .await
            .map_err(storage_failed)?;
        let blob = crate::service::blobs::record(db, &sha, size)
            .await
            .map_err(|e| anyhow::anyhow!("sample blob: {}", e.message()))?;

        let preview_bytes = sine_wav(freq, 2000, 8_000);
        let waveform_bytes =
            serde_json::to_vec(&serde_json::json!({"peaks": vec![0.5; 100], "freq": freq}))?;
        let preview = stored(
            storage,
            format!("renditions/seed/{i}/preview-wav"),
            preview_bytes,
            "audio/wav",
        )
        .await?;
        let waveform = stored(
            storage,
            format!("renditions/seed/{i}/waveform-json"),
            waveform_bytes,
            "application/json",
        )
        .await?;
        out.push(Sample {
            blob,
            preview,
            waveform,
        });
    }
    Ok(out)
}

/// A storage failure as a command error (its cause was logged where it happened).
fn storage_failed(e: crate::error::ApiError) -> anyhow::Error {
    anyhow::anyhow!("storage: {}", e.message())
}

/// Uploads bytes and returns (key, size, sha256).
async fn stored(
    storage: &Storage,
    key: String,
    bytes: Vec<u8>,
    ct: &str,
) -> anyhow::Result<(String, i64, String)> {
    let size = bytes.len() as i64;
    let sha = hex::encode(Sha256::digest(&bytes));
    storage
        .put_bytes(&key, bytes, ct)
        .await
        .map_err(storage_failed)?;
    Ok((key, size, sha))
}

/// Inserts the files with two renditions, two jobs and two log lines per job each.
async fn seed_files(
    db: &DatabaseConnection,
    users: &[Uuid],
    samples: &[Sample],
    n: u32,
) -> anyhow::Result<()> {
    let now = crate::service::now();
    let indices: Vec<u32> = (0..n).collect();
    for chunk in indices.chunks(BATCH / 2) {
        let mut files = Vec::with_capacity(chunk.len());
        let mut renditions = Vec::with_capacity(chunk.len() * 2);
        let mut jobs = Vec::with_capacity(chunk.len() * 2);
        let mut logs = Vec::with_capacity(chunk.len() * 4);
        for &i in chunk {
            let sample = &samples[i as usize % samples.len()];
            let owner = users[i as usize % users.len()];
            let created = now - ChronoDuration::seconds(i64::from(n - i) * 30);
            let id = Uuid::now_v7();
            let visibility = match i % 20 {
                0 => Visibility::Public,
                1 => Visibility::Unlisted,
                _ => Visibility::Private,
            };
            files.push(audio_file::ActiveModel {
                id: Set(id),
                owner_id: Set(owner),
                blob_id: Set(Some(sample.blob.id)),
                title: Set(format!(
                    "Episode {i}: tone at {} Hz",
                    220 * (i as usize % SAMPLES + 1)
                )),
                original_filename: Set(format!("episode-{i}.wav")),
                content_type: Set("audio/wav".into()),
                size_bytes: Set(sample.blob.size_bytes),
                sha256: Set(sample.blob.sha256.clone()),
                duration_ms: Set(Some(2000)),
                sample_rate: Set(Some(44_100)),
                channels: Set(Some(1)),
                codec: Set(Some("pcm_s16le".into())),
                bitrate: Set(Some(705_600)),
                visibility: Set(visibility),
                status: Set(AudioStatus::Ready),
                status_reason: Set(None),
                created_at: Set(created),
                updated_at: Set(created),
            });
            for (format, ct, bitrate, (key, size, sha)) in [
                ("preview-wav", "audio/wav", Some(128_000), &sample.preview),
                ("waveform-json", "application/json", None, &sample.waveform),
            ] {
                renditions.push(rendition::ActiveModel {
                    id: Set(Uuid::now_v7()),
                    audio_file_id: Set(id),
                    job_id: Set(None),
                    format: Set(format.into()),
                    content_type: Set(ct.into()),
                    bitrate: Set(bitrate),
                    size_bytes: Set(*size),
                    sha256: Set(sha.clone()),
                    object_key: Set(key.clone()),
                    created_at: Set(created),
                });
            }
            for (k, kind) in ["transcode", "waveform"].into_iter().enumerate() {
                let job_id = Uuid::now_v7();
                let (status, error) = match (i + k as u32) % 25 {
                    0 => (
                        JobStatus::Failed,
                        Some("ffmpeg exited with status 1".to_owned()),
                    ),
                    1 => (JobStatus::Queued, None),
                    _ => (JobStatus::Succeeded, None),
                };
                let done = status != JobStatus::Queued;
                jobs.push(processing_job::ActiveModel {
                    id: Set(job_id),
                    audio_file_id: Set(id),
                    kind: Set(kind.into()),
                    status: Set(status),
                    progress: Set(if status == JobStatus::Succeeded {
                        1.0
                    } else {
                        0.0
                    }),
                    attempts: Set(i32::from(done)),
                    error: Set(error),
                    worker_subject: Set(None),
                    lease_expires_at: Set(None),
                    due_at: Set((!done).then_some(created)),
                    created_at: Set(created + ChronoDuration::milliseconds(k as i64)),
                    started_at: Set(done.then_some(created)),
                    finished_at: Set(done.then_some(created + ChronoDuration::seconds(5))),
                });
                if done {
                    for (level, message) in
                        [(LogLevel::Info, "started"), (LogLevel::Info, "finished")]
                    {
                        logs.push(processing_log::ActiveModel {
                            job_id: Set(job_id),
                            level: Set(level),
                            message: Set(format!("{kind} {message}")),
                            fields: Set(None),
                            at: Set(created),
                            ..Default::default()
                        });
                    }
                }
            }
        }
        audio_file::Entity::insert_many(files)
            .exec_without_returning(db)
            .await?;
        rendition::Entity::insert_many(renditions)
            .exec_without_returning(db)
            .await?;
        processing_job::Entity::insert_many(jobs)
            .exec_without_returning(db)
            .await?;
        if !logs.is_empty() {
            processing_log::Entity::insert_many(logs)
                .exec_without_returning(db)
                .await?;
        }
    }
    Ok(())
}
