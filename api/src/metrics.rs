//! Prometheus metrics, one registry per application instance (so tests running several
//! instances in one process read their own figures).

use std::collections::HashSet;
use std::sync::Mutex;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry, TextEncoder,
};

/// Most distinct operation names kept as label values; later ones count as `other`,
/// because clients choose operation names and labels must stay bounded.
const MAX_OPERATION_LABELS: usize = 256;

/// The metrics of one instance.
pub struct Metrics {
    /// Registry `/metrics` renders.
    registry: Registry,
    /// `wavegate_http_requests_total{status}`.
    pub http_requests: IntCounterVec,
    /// `wavegate_graphql_operation_duration_seconds{operation}`.
    pub graphql_duration: HistogramVec,
    /// `wavegate_db_statements_total`: SQL statements sent while serving requests.
    pub db_statements: IntCounter,
    /// `wavegate_db_background_statements_total`: SQL statements of background tasks.
    pub db_background_statements: IntCounter,
    /// `wavegate_s3_requests_total{op,outcome}`: requests the gateway itself makes to S3.
    pub s3_requests: IntCounterVec,
    /// `wavegate_dataloader_batch_size{loader}`: keys per batched query.
    pub dataloader_batch: HistogramVec,
    /// `wavegate_cache_requests_total{cache,result}`.
    pub cache_requests: IntCounterVec,
    /// `wavegate_cache_operation_requests_total{operation,result}`: hit rate by operation.
    pub cache_operation_requests: IntCounterVec,
    /// `wavegate_cache_evictions_total`: answers dropped for room.
    pub cache_evictions: IntCounter,
    /// `wavegate_cache_invalidations_total`: dependency counters bumped by writes.
    pub cache_invalidations: IntCounter,
    /// `wavegate_cache_redis_errors_total`: Redis calls that failed or timed out.
    pub cache_redis_errors: IntCounter,
    /// Operation names already used as label values.
    operations: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new("wavegate_http_requests_total", "HTTP requests by status"),
            &["status"],
        )?;
        let graphql_duration = HistogramVec::new(
            HistogramOpts::new(
                "wavegate_graphql_operation_duration_seconds",
                "GraphQL operation time",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["operation"],
        )?;
        let db_statements = IntCounter::new(
            "wavegate_db_statements_total",
            "SQL statements sent for requests",
        )?;
        let db_background_statements = IntCounter::new(
            "wavegate_db_background_statements_total",
            "SQL statements sent by background tasks",
        )?;
        let s3_requests = IntCounterVec::new(
            Opts::new(
                "wavegate_s3_requests_total",
                "S3 requests made by the gateway",
            ),
            &["op", "outcome"],
        )?;
        let dataloader_batch = HistogramVec::new(
            HistogramOpts::new(
                "wavegate_dataloader_batch_size",
                "Keys per dataloader batch",
            )
            .buckets(vec![
                1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0,
            ]),
            &["loader"],
        )?;
        let cache_requests = IntCounterVec::new(
            Opts::new(
                "wavegate_cache_requests_total",
                "Cache lookups by tier and result",
            ),
            &["cache", "result"],
        )?;
        let cache_operation_requests = IntCounterVec::new(
            Opts::new(
                "wavegate_cache_operation_requests_total",
                "Response cache lookups by operation",
            ),
            &["operation", "result"],
        )?;
        let cache_evictions = IntCounter::new(
            "wavegate_cache_evictions_total",
            "Cached answers dropped for room",
        )?;
        let cache_invalidations = IntCounter::new(
            "wavegate_cache_invalidations_total",
            "Dependency counters bumped by writes",
        )?;
        let cache_redis_errors = IntCounter::new(
            "wavegate_cache_redis_errors_total",
            "Redis calls that failed",
        )?;
        registry.register(Box::new(cache_operation_requests.clone()))?;
        registry.register(Box::new(cache_evictions.clone()))?;
        registry.register(Box::new(cache_invalidations.clone()))?;
        registry.register(Box::new(cache_redis_errors.clone()))?;
        registry.register(Box::new(http_requests.clone()))?;
        registry.register(Box::new(graphql_duration.clone()))?;
        registry.register(Box::new(db_statements.clone()))?;
        registry.register(Box::new(db_background_statements.clone()))?;
        registry.register(Box::new(s3_requests.clone()))?;
        registry.register(Box::new(dataloader_batch.clone()))?;
        registry.register(Box::new(cache_requests.clone()))?;
        Ok(Self {
            registry,
            http_requests,
            graphql_duration,
            db_statements,
            db_background_statements,
            s3_requests,
            dataloader_batch,
            cache_requests,
            cache_operation_requests,
            cache_evictions,
            cache_invalidations,
            cache_redis_errors,
            operations: Mutex::new(HashSet::new()),
        })
    }

    /// Records one S3 request.
    pub fn s3(&self, op: &str, ok: bool) {
        self.s3_requests
            .with_label_values(&[op, if ok { "ok" } else { "error" }])
            .inc();
    }

    /// A bounded label value for a client-chosen operation name.
    pub fn operation_label(&self, name: Option<&str>) -> String {
        let Some(name) = name else {
            return "anonymous".to_owned();
        };
        let clean: String = name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(64)
            .collect();
        if clean.is_empty() {
            return "anonymous".to_owned();
        }
        let Ok(mut seen) = self.operations.lock() else {
            return "other".to_owned();
        };
        if seen.contains(&clean) || seen.len() < MAX_OPERATION_LABELS {
            seen.insert(clean.clone());
            clean
        } else {
            "other".to_owned()
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}
