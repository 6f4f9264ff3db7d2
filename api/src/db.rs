//! Database connection: PostgreSQL from `DATABASE_URL`, or the SQLite file in the data dir.
//!
//! Every statement is counted in `wavegate_db_statements_total`, which is how the tests
//! and operators see that dataloaders keep a page's statement count flat.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};
use sea_orm_migration::MigratorTrait;
use secrecy::ExposeSecret;

use crate::config::Settings;
use crate::metrics::Metrics;

tokio::task_local! {
    /// Set while a background task (not a request) runs, so its statements are counted
    /// apart from those requests send.
    static BACKGROUND: ();
}

/// Runs `f` as background work: its statements count in
/// `wavegate_db_background_statements_total`, not in `wavegate_db_statements_total`.
pub async fn in_background<F: std::future::Future>(f: F) -> F::Output {
    BACKGROUND.scope((), f).await
}

/// The URL to connect to: `DATABASE_URL`, or `sqlite://<data dir>/wavegate.db`.
pub fn database_url(settings: &Settings) -> anyhow::Result<String> {
    match &settings.database_url {
        Some(url) => Ok(url.expose_secret().to_owned()),
        None => {
            std::fs::create_dir_all(&settings.data_dir).map_err(|e| {
                anyhow::anyhow!(
                    "WAVEGATE_DATA_DIR: cannot create {}: {e}",
                    settings.data_dir.display()
                )
            })?;
            let path = settings.data_dir.join("wavegate.db");
            Ok(format!("sqlite://{}?mode=rwc", path.display()))
        }
    }
}

/// Opens the pool, counting statements into `metrics` when given.
pub async fn connect(
    settings: &Settings,
    metrics: Option<Arc<Metrics>>,
) -> anyhow::Result<DatabaseConnection> {
    let url = database_url(settings)?;
    let sqlite = url.starts_with("sqlite:");
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(if sqlite { 8 } else { 32 })
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false);
    let mut db = Database::connect(options)
        .await
        .map_err(|e| anyhow::anyhow!("DATABASE_URL: cannot connect: {e}"))?;
    if sqlite {
        // WAL lets readers proceed while one writer writes; the setting sticks to the file.
        db.execute_unprepared("PRAGMA journal_mode=WAL").await?;
    }
    if let Some(metrics) = metrics {
        db.set_metric_callback(move |_info| {
            if BACKGROUND.try_with(|_| ()).is_ok() {
                metrics.db_background_statements.inc();
            } else {
                metrics.db_statements.inc();
            }
        });
    }
    Ok(db)
}

/// Applies pending migrations.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    migration::Migrator::up(db, None)
        .await
        .map_err(|e| anyhow::anyhow!("migrations failed: {e}"))
}

/// Begins a transaction that will write. On SQLite it takes the write lock at once
/// (`BEGIN IMMEDIATE`), waiting for its turn, instead of starting as a reader and failing
/// with "database is locked" when it must write after another connection has written
/// since its first read. PostgreSQL ignores the mode.
pub async fn begin_write(
    db: &DatabaseConnection,
) -> Result<sea_orm::DatabaseTransaction, sea_orm::DbErr> {
    use sea_orm::{SqliteTransactionMode, TransactionOptions, TransactionTrait};
    db.begin_with_options(TransactionOptions {
        isolation_level: None,
        access_mode: None,
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
    })
    .await
}
