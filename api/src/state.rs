//! What every request shares: connections, signers and settings.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::auth::JwtVerifier;
use crate::config::Settings;
use crate::metrics::Metrics;
use crate::service::users::UserDirectory;
use crate::storage::{Presigner, Storage};

impl AppState {
    /// Tells the response cache what changed about a file (`public` when it is or was
    /// `PUBLIC`); called after the change commits and before the mutation answers, so the
    /// caller reads its own write.
    pub async fn file_changed(
        &self,
        owner: uuid::Uuid,
        file: uuid::Uuid,
        public: bool,
        change: crate::cache::Change,
    ) {
        if let Some(cache) = &self.cache {
            cache
                .generations()
                .bump(&crate::cache::file_change(owner, file, public, change))
                .await;
        }
    }
}

impl AppState {
    /// Announces a change of `job` (of a file of `owner`): the response cache drops what
    /// showed the job, and `jobUpdates` subscribers hear of it.
    pub async fn job_changed(
        &self,
        owner: uuid::Uuid,
        file: uuid::Uuid,
        public: bool,
        job: uuid::Uuid,
    ) {
        self.file_changed(owner, file, public, crate::cache::Change::Content)
            .await;
        self.job_events
            .publish(crate::events::JobEvent {
                file_id: file,
                job_id: job,
            })
            .await;
    }
}

/// Shared state of one running instance; cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    /// Database pool.
    pub db: DatabaseConnection,
    /// The bucket, for calls the gateway makes itself.
    pub storage: Storage,
    /// Signs URLs for clients.
    pub presigner: Arc<Presigner>,
    /// Verifies bearer tokens.
    pub verifier: Arc<JwtVerifier>,
    /// Subjects already known to have a user row.
    pub users: UserDirectory,
    /// The instance's metrics.
    pub metrics: Arc<Metrics>,
    /// Settings read at start.
    pub settings: Arc<Settings>,
    /// Redis, when configured: reported by `/readyz`.
    pub redis: Option<redis::aio::ConnectionManager>,
    /// The response cache; `None` with `WAVEGATE_CACHE=off`.
    pub cache: Option<Arc<crate::cache::ResponseCache>>,
    /// Job change events, for subscriptions.
    pub job_events: crate::events::JobEvents,
    /// Wakes the deletion drainer when a removal is queued, so objects go at once.
    pub deletions_due: Arc<tokio::sync::Notify>,
}
