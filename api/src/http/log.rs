//! One log line per request, and `wavegate_http_requests_total{status}`.
//!
//! The line has the method, the path (never the query string), the status and the
//! duration; for GraphQL also the operation name, the caller kind and the outcome (`ok`
//! or the first error code). Tokens and URL signatures are never logged.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};

use crate::state::AppState;

/// What the GraphQL handler tells the log line.
#[derive(Clone, Debug)]
pub struct GraphqlOutcome {
    /// Operation name (bounded, as in metrics).
    pub operation: String,
    /// `anonymous`, `user`, `worker` or `admin`.
    pub caller: &'static str,
    /// `ok` or the first error code.
    pub outcome: String,
}

/// The middleware.
pub async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.path().to_owned();
    let state = req.app_data::<web::Data<AppState>>().cloned();

    let res = next.call(req).await?;

    let status = res.status().as_u16();
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    if let Some(state) = state {
        state
            .metrics
            .http_requests
            .with_label_values(&[res.status().as_str()])
            .inc();
    }
    let graphql = res.request().extensions().get::<GraphqlOutcome>().cloned();
    match graphql {
        Some(g) => tracing::info!(
            http.method = %method, http.path = %path, http.status = status, duration_ms,
            graphql.operation = %g.operation, caller = g.caller, outcome = %g.outcome,
            "{method} {path} {status} {} {} in {duration_ms:.2} ms", g.operation, g.outcome
        ),
        None => tracing::info!(
            http.method = %method, http.path = %path, http.status = status, duration_ms,
            "{method} {path} {status} in {duration_ms:.2} ms"
        ),
    }
    Ok(res)
}
