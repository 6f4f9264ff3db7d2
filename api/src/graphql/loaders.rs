//! Dataloaders: every list a page touches becomes one batched statement per level.
//!
//! A page of 50 files with owners, renditions and jobs costs one statement for the page
//! and one per loader, whatever the page size; with the cache on, loaders read through
//! the entity cache ([`crate::cache::entities`]) and only its misses reach the database.
//!
//! The wait before a batch is `WAVEGATE_DATALOADER_DELAY_US` (250 µs by default, against
//! async-graphql's 1 ms). It cannot be zero: async-graphql polls a long list through
//! `FuturesUnordered`, which yields to the runtime every few items, and a batch task
//! ready at once would run in that gap with two keys. `bench/dataloader-delay.sh`
//! measures the cost of each setting per nesting level.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use entity::{audio_file, processing_job, rendition, user};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::cache::entities::{EntityCache, every_key};
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::service;

/// Error type of the loaders: the `INTERNAL` error, shared by every waiting resolver.
#[derive(Clone, Debug)]
pub struct LoadError;

impl From<ApiError> for LoadError {
    fn from(_: ApiError) -> Self {
        // The cause was logged where the `ApiError` was made.
        LoadError
    }
}

impl From<LoadError> for ApiError {
    fn from(_: LoadError) -> Self {
        ApiError::Internal
    }
}

/// What each loader needs: the pool, the entity cache (when the cache is on), and the
/// batch-size histogram.
#[derive(Clone)]
pub struct Source {
    db: DatabaseConnection,
    entities: Option<Arc<EntityCache>>,
    metrics: Arc<Metrics>,
}

impl Source {
    fn observe(&self, loader: &str, keys: usize) {
        self.metrics
            .dataloader_batch
            .with_label_values(&[loader])
            .observe(keys as f64);
    }
}

/// Users by id.
pub struct UserLoader(Source);
/// Files by id.
pub struct FileLoader(Source);
/// Renditions by file id.
pub struct RenditionsLoader(Source);
/// Jobs by file id.
pub struct JobsLoader(Source);
/// Stored bytes by user id.
pub struct StorageUsedLoader(Source);

impl Loader<Uuid> for UserLoader {
    type Value = user::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        self.0.observe("users", keys.len());
        let db = &self.0.db;
        let load = |keys: Vec<Uuid>| async move {
            let rows = service::users::by_ids(db, &keys).await?;
            Ok(rows.into_iter().map(|r| (r.id, r)).collect())
        };
        Ok(match &self.0.entities {
            Some(cache) => cache.get_or_load(&cache.users, keys, load).await?,
            None => load(keys.to_vec()).await?,
        })
    }
}

impl Loader<Uuid> for FileLoader {
    type Value = audio_file::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        self.0.observe("audio_files", keys.len());
        let db = &self.0.db;
        let load = |keys: Vec<Uuid>| async move {
            let rows = service::audio_files::by_ids(db, &keys).await?;
            Ok(rows.into_iter().map(|r| (r.id, r)).collect())
        };
        Ok(match &self.0.entities {
            Some(cache) => cache.get_or_load(&cache.files, keys, load).await?,
            None => load(keys.to_vec()).await?,
        })
    }
}

impl Loader<Uuid> for RenditionsLoader {
    type Value = Vec<rendition::Model>;
    type Error = LoadError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        self.0.observe("renditions", keys.len());
        let db = &self.0.db;
        let load = |keys: Vec<Uuid>| async move {
            let found = service::renditions::by_files(db, &keys).await?;
            Ok(every_key(&keys, found))
        };
        Ok(match &self.0.entities {
            Some(cache) => cache.get_or_load(&cache.renditions, keys, load).await?,
            None => load(keys.to_vec()).await?,
        })
    }
}

impl Loader<Uuid> for JobsLoader {
    type Value = Vec<processing_job::Model>;
    type Error = LoadError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        self.0.observe("jobs", keys.len());
        let db = &self.0.db;
        let load = |keys: Vec<Uuid>| async move {
            let found = service::jobs::by_files(db, &keys).await?;
            Ok(every_key(&keys, found))
        };
        Ok(match &self.0.entities {
            Some(cache) => cache.get_or_load(&cache.jobs, keys, load).await?,
            None => load(keys.to_vec()).await?,
        })
    }
}

impl Loader<Uuid> for StorageUsedLoader {
    type Value = i64;
    type Error = LoadError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        self.0.observe("storage_used", keys.len());
        Ok(service::users::storage_used(&self.0.db, keys)
            .await?
            .into_iter()
            .collect())
    }
}

/// The dataloaders of one request.
pub struct Loaders {
    pub users: DataLoader<UserLoader>,
    pub files: DataLoader<FileLoader>,
    pub renditions: DataLoader<RenditionsLoader>,
    pub jobs: DataLoader<JobsLoader>,
    pub storage_used: DataLoader<StorageUsedLoader>,
}

impl Loaders {
    /// Fresh loaders over `db`, reading through the entity cache of `cache` when given.
    pub fn new(
        db: &DatabaseConnection,
        cache: Option<&Arc<crate::cache::ResponseCache>>,
        metrics: &Arc<Metrics>,
        delay: std::time::Duration,
    ) -> Self {
        let source = Source {
            db: db.clone(),
            entities: cache.map(|c| c.entities().clone()),
            metrics: metrics.clone(),
        };
        Self {
            users: DataLoader::new(UserLoader(source.clone()), tokio::spawn).delay(delay),
            files: DataLoader::new(FileLoader(source.clone()), tokio::spawn).delay(delay),
            renditions: DataLoader::new(RenditionsLoader(source.clone()), tokio::spawn)
                .delay(delay),
            jobs: DataLoader::new(JobsLoader(source.clone()), tokio::spawn).delay(delay),
            storage_used: DataLoader::new(StorageUsedLoader(source), tokio::spawn).delay(delay),
        }
    }
}
