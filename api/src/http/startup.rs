//! Builds the application from settings and binds the HTTP server.

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::{Compress, from_fn};
use actix_web::{App, HttpServer, web};
use secrecy::ExposeSecret;
use url::Url;

use super::{graphiql, graphql, log, ops, ws};
use crate::auth::JwtVerifier;
use crate::config::Settings;
use crate::graphql::build_schema;
use crate::metrics::Metrics;
use crate::service::users::UserDirectory;
use crate::state::AppState;
use crate::storage::embedded::EmbeddedS3;
use crate::storage::{Presigner, Storage};

/// A built application: connections open, migrations applied, server bound.
pub struct Application {
    /// The bound HTTP address (the real port when the configured one was 0).
    addr: SocketAddr,
    /// The server, not yet polled.
    server: Server,
    /// Shared state, for tools and tests that drive the instance.
    state: AppState,
    /// The embedded S3 server, when it runs; kept alive as long as the application.
    embedded_s3: Option<EmbeddedS3>,
}

impl Application {
    /// Opens every connection, applies migrations and binds the server.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let metrics = Arc::new(Metrics::new()?);

        // Storage: the configured endpoint, or the embedded server in the data dir.
        let (endpoint, embedded_s3) = match &settings.s3.endpoint {
            Some(url) => (url.clone(), None),
            None => {
                let server = EmbeddedS3::start(
                    settings.s3.embedded_listen,
                    &settings.data_dir.join("objects"),
                    &settings.s3.access_key,
                    settings.s3.secret_key.expose_secret(),
                )
                .await?;
                tracing::info!(addr = %server.addr, "embedded S3 server listening");
                (
                    Url::parse(&format!("http://{}", server.addr))?,
                    Some(server),
                )
            }
        };
        let storage = Storage::new(&settings.s3, &endpoint, metrics.clone());
        storage.ensure_bucket().await?;
        let public = settings.s3.public_endpoint.clone().unwrap_or(endpoint);
        let presigner =
            Arc::new(Presigner::new(&settings.s3, &public)?.with_metrics(metrics.clone()));

        // Database, migrated.
        let db = crate::db::connect(&settings, Some(metrics.clone())).await?;
        crate::db::migrate(&db).await?;

        // Identity.
        let verifier = Arc::new(JwtVerifier::from_settings(
            &settings.jwt,
            &settings.data_dir,
        )?);

        // Redis, when configured; its absence or failure never stops start-up.
        let redis = match &settings.redis_url {
            None => None,
            Some(url) => Some(crate::redis_conn::connect(url.expose_secret())?),
        };

        // The response cache: counters shared through Redis when there is one.
        let cache = settings.cache_enabled.then(|| {
            let generations = match &redis {
                Some(conn) => crate::cache::generations::Generations::redis(
                    conn.clone(),
                    &settings.redis_prefix,
                    metrics.clone(),
                ),
                None => crate::cache::generations::Generations::local(metrics.clone()),
            };
            Arc::new(crate::cache::ResponseCache::new(
                generations,
                &crate::graphql::sdl(),
                metrics.clone(),
            ))
        });

        // Job events: relayed between instances through Redis when there is one.
        let job_events = crate::events::JobEvents::new(redis.clone(), &settings.redis_prefix);
        if let Some(url) = &settings.redis_url {
            job_events.spawn_relay(url.expose_secret())?;
        }

        let state = AppState {
            job_events,
            db,
            storage,
            presigner,
            verifier,
            users: UserDirectory::default(),
            metrics,
            settings: Arc::new(settings),
            redis,
            deletions_due: Arc::new(tokio::sync::Notify::new()),
            cache,
        };

        // Browsers PUT straight to storage: the bucket must allow their origins.
        match state.storage.set_cors(&state.settings.cors_origins).await {
            Ok(true) => {}
            Ok(false) => tracing::info!(
                "storage does not support bucket CORS; browsers on other origins cannot use presigned URLs"
            ),
            Err(e) => tracing::warn!(error = %e, "bucket CORS not set"),
        }
        crate::service::background::spawn(state.clone());
        let (addr, server) = serve(state.clone())?;
        Ok(Self {
            addr,
            server,
            state,
            embedded_s3,
        })
    }

    /// The address the server is bound to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address of the embedded S3 server, when it runs.
    pub fn embedded_s3_addr(&self) -> Option<SocketAddr> {
        self.embedded_s3.as_ref().map(|s| s.addr)
    }

    /// The switch of the embedded S3 server (see [`EmbeddedS3::availability`]).
    pub fn embedded_s3_availability(&self) -> Option<Arc<std::sync::atomic::AtomicBool>> {
        self.embedded_s3.as_ref().map(EmbeddedS3::availability)
    }

    /// Shared state of the instance.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until the server is stopped (Ctrl-C or SIGTERM).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let _embedded = self.embedded_s3;
        self.server.await
    }
}

/// Binds the HTTP server with every route.
fn serve(state: AppState) -> anyhow::Result<(SocketAddr, Server)> {
    let listen = state.settings.listen;
    let schema = web::Data::new(build_schema(Some(state.clone())));
    let workers = state.settings.http_workers;
    let data = web::Data::new(state);

    let server = HttpServer::new(move || {
        App::new()
            .wrap(from_fn(log::log_request))
            .app_data(data.clone())
            .app_data(schema.clone())
            .route(
                "/graphql",
                web::post()
                    .guard(actix_web::guard::fn_guard(graphql::is_multipart))
                    .to(graphql::execute_multipart),
            )
            .route("/graphql", web::post().to(graphql::execute))
            .route("/graphql", web::get().to(graphiql::page))
            .route("/graphql/ws", web::get().to(ws::upgrade))
            .service(
                web::scope("/graphql/assets")
                    .wrap(Compress::default())
                    .route("/{name}", web::get().to(graphiql::asset)),
            )
            .route("/healthz", web::get().to(ops::healthz))
            .route("/readyz", web::get().to(ops::readyz))
            .route("/metrics", web::get().to(ops::metrics))
    });
    let server = match workers {
        Some(n) => server.workers(n),
        None => server,
    };
    let server = server
        .bind(listen)
        .map_err(|e| anyhow::anyhow!("WAVEGATE_LISTEN: cannot bind {listen}: {e}"))?;
    let addr = server
        .addrs()
        .first()
        .copied()
        .ok_or_else(|| anyhow::anyhow!("WAVEGATE_LISTEN: no address bound"))?;
    Ok((addr, server.run()))
}
