//! Operational routes: liveness, readiness and metrics.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use sea_orm::ConnectionTrait;
use serde_json::json;

use crate::state::AppState;

/// How long readiness waits for each dependency.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /healthz`: 200 while the process serves.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// `GET /readyz`: 200 when the database and storage answer; Redis is reported, not
/// required.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let db = tokio::time::timeout(PROBE_TIMEOUT, state.db.execute_unprepared("SELECT 1")).await;
    let db_ok = matches!(db, Ok(Ok(_)));
    let s3 = tokio::time::timeout(PROBE_TIMEOUT, state.storage.ping()).await;
    let s3_ok = matches!(s3, Ok(Ok(())));
    let redis = match &state.redis {
        None => "not configured",
        Some(conn) => {
            let mut conn = conn.clone();
            let ping = tokio::time::timeout(
                PROBE_TIMEOUT,
                redis::cmd("PING").query_async::<String>(&mut conn),
            )
            .await;
            if matches!(ping, Ok(Ok(_))) {
                "up"
            } else {
                "down"
            }
        }
    };
    let body = json!({
        "database": if db_ok { "up" } else { "down" },
        "storage": if s3_ok { "up" } else { "down" },
        "redis": redis,
    });
    if db_ok && s3_ok {
        HttpResponse::Ok().json(body)
    } else {
        tracing::warn!(database = db_ok, storage = s3_ok, "not ready");
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}
