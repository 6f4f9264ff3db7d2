//! The Redis connection, when `REDIS_URL` is set.
//!
//! The connection manager connects lazily and reconnects by itself, so a Redis that is
//! down at start or goes away later never stops wavegate; short timeouts keep an outage
//! from holding requests.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// A connection manager to `url`; fails only when the URL itself is malformed.
pub fn connect(url: &str) -> anyhow::Result<ConnectionManager> {
    let client = redis::Client::open(url).map_err(|e| anyhow::anyhow!("REDIS_URL: {e}"))?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_millis(500)))
        .set_response_timeout(Some(Duration::from_millis(500)))
        .set_number_of_retries(1);
    ConnectionManager::new_lazy_with_config(client, config)
        .map_err(|e| anyhow::anyhow!("REDIS_URL: {e}"))
}
