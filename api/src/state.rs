//! What every request shares: connections, signers and settings.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::auth::JwtVerifier;
use crate::config::Settings;
use crate::metrics::Metrics;
use crate::service::users::UserDirectory;
use crate::storage::{Presigner, Storage};

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
    /// Wakes the deletion drainer when a removal is queued, so objects go at once.
    pub deletions_due: Arc<tokio::sync::Notify>,
}
