//! Job events: which job changed, for the `jobUpdates` subscription.
//!
//! Every change of a job (claimed, progress, failed, completed, cancelled) is announced
//! on an in-process broadcast channel, which subscriptions on this instance listen to.
//! With `REDIS_URL` it is also published on a Redis channel; each instance relays what
//! other instances publish into its own broadcast channel, so a subscriber on one
//! instance sees progress reported on another. An event names the file and the job;
//! subscribers read the job's current row, so a lost or late event never shows a stale
//! state, only a skipped intermediate one.
//!
//! Redis failures never fail the write that announced the change: the event still
//! reaches this instance's subscribers, and the relay reconnects by itself.

use std::time::Duration;

use futures::StreamExt;
use tokio::sync::broadcast;
use uuid::Uuid;

/// Events buffered per slow subscriber before it skips ahead.
const CHANNEL_CAPACITY: usize = 4096;
/// Longest wait for Redis when publishing.
const PUBLISH_TIMEOUT: Duration = Duration::from_millis(250);

/// A job changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobEvent {
    pub file_id: Uuid,
    pub job_id: Uuid,
}

/// The job event bus of one instance.
#[derive(Debug, Clone)]
pub struct JobEvents {
    local: broadcast::Sender<JobEvent>,
    redis: Option<redis::aio::ConnectionManager>,
    channel: String,
    /// Tells this instance's own messages apart when they come back from Redis.
    instance: Uuid,
}

impl JobEvents {
    /// A bus on this instance alone, or shared through Redis under `prefix`.
    pub fn new(redis: Option<redis::aio::ConnectionManager>, prefix: &str) -> Self {
        let (local, _) = broadcast::channel(CHANNEL_CAPACITY);
        Self {
            local,
            redis,
            channel: format!("{prefix}job-events"),
            instance: Uuid::new_v4(),
        }
    }

    /// Listens to every event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<JobEvent> {
        self.local.subscribe()
    }

    /// Announces a change to subscribers here and, through Redis, on other instances.
    pub async fn publish(&self, event: JobEvent) {
        let _ = self.local.send(event);
        if let Some(conn) = &self.redis {
            let payload = format!("{} {} {}", self.instance, event.file_id, event.job_id);
            let mut conn = conn.clone();
            let sent = tokio::time::timeout(
                PUBLISH_TIMEOUT,
                redis::cmd("PUBLISH")
                    .arg(&self.channel)
                    .arg(payload)
                    .query_async::<i64>(&mut conn),
            )
            .await;
            match sent {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "job event not published to Redis"),
                Err(_) => tracing::warn!("job event not published to Redis: timed out"),
            }
        }
    }

    /// Relays events other instances publish into this instance's channel, reconnecting
    /// after failures; runs until the process ends.
    pub fn spawn_relay(&self, redis_url: &str) -> anyhow::Result<()> {
        let client =
            redis::Client::open(redis_url).map_err(|e| anyhow::anyhow!("REDIS_URL: {e}"))?;
        let bus = self.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = bus.relay(&client).await {
                    tracing::warn!(error = %e, "job event relay from Redis interrupted");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        Ok(())
    }

    async fn relay(&self, client: &redis::Client) -> redis::RedisResult<()> {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(&self.channel).await?;
        let mut messages = pubsub.on_message();
        while let Some(msg) = messages.next().await {
            let Ok(payload) = msg.get_payload::<String>() else {
                continue;
            };
            if let Some((instance, event)) = parse(&payload)
                && instance != self.instance
            {
                let _ = self.local.send(event);
            }
        }
        Ok(())
    }
}

/// `<instance> <file id> <job id>`.
fn parse(payload: &str) -> Option<(Uuid, JobEvent)> {
    let mut parts = payload.split(' ');
    let instance = parts.next()?.parse().ok()?;
    let file_id = parts.next()?.parse().ok()?;
    let job_id = parts.next()?.parse().ok()?;
    Some((instance, JobEvent { file_id, job_id }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_garbage_is_ignored() {
        let (i, f, j) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());

        let parsed = parse(&format!("{i} {f} {j}"));

        assert_eq!(
            parsed,
            Some((
                i,
                JobEvent {
                    file_id: f,
                    job_id: j
                }
            ))
        );
        assert_eq!(parse("not an event"), None);
    }
}
