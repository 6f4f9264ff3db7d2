//! `jobUpdates` over graphql-transport-ws at `/graphql/ws`: authenticated in
//! `connection_init`, the same access rules as queries, fan-out across instances through
//! Redis, and the connection closed when the token expires.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use wavegate_tests::{TestApp, fixtures::wav, spawn_app};

const UPDATES: &str =
    "subscription($id: ID!) { jobUpdates(audioFileId: $id) { id status progress } }";
const ENQUEUE: &str =
    "mutation($id: ID!, $kind: String!) { enqueueJob(audioFileId: $id, kind: $kind) { id } }";
const CLAIM: &str = "mutation($kinds: [String!]!) { claimJob(kinds: $kinds) { id } }";
const PROGRESS: &str =
    "mutation($id: ID!, $p: Float!) { reportJobProgress(id: $id, progress: $p) { id } }";
const COMPLETE: &str = "mutation($id: ID!) { completeJob(id: $id) { id } }";

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A graphql-transport-ws client.
struct Subscriber(Socket);

/// What the server said on a connection.
#[derive(Debug)]
enum Heard {
    /// A `next` payload.
    Next(Value),
    /// An `error` message's payload.
    Error(Value),
    /// The connection closed, with its code and reason.
    Closed(u16, String),
}

impl Subscriber {
    /// Opens a connection and sends `connection_init` with `payload`.
    async fn open(app: &TestApp, payload: Value) -> Self {
        let url = format!("{}/graphql/ws", app.address.replace("http://", "ws://"));
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "graphql-transport-ws".parse().unwrap(),
        );
        let (socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        let mut me = Subscriber(socket);
        me.send(json!({"type": "connection_init", "payload": payload}))
            .await;
        me
    }

    /// Opens a connection as the holder of `token` and waits for the acknowledgement.
    async fn connect(app: &TestApp, token: &str) -> Self {
        let mut me = Self::open(app, json!({"authorization": format!("Bearer {token}")})).await;
        let ack = me.raw(Duration::from_secs(5)).await;
        assert!(
            matches!(&ack, Some(Ok(m)) if m["type"] == "connection_ack"),
            "no connection_ack: {ack:?}"
        );
        me
    }

    async fn send(&mut self, msg: Value) {
        self.0
            .send(Message::Text(msg.to_string().into()))
            .await
            .unwrap();
    }

    async fn subscribe(&mut self, file_id: &str) {
        self.send(json!({
            "type": "subscribe",
            "id": "1",
            "payload": {"query": UPDATES, "variables": {"id": file_id}},
        }))
        .await;
    }

    /// The next protocol message, or the close frame as `Err((code, reason))`.
    async fn raw(&mut self, wait: Duration) -> Option<Result<Value, (u16, String)>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.0.next())
                .await
                .ok()?;
            match frame {
                Some(Ok(Message::Text(text))) => {
                    let msg: Value = serde_json::from_str(&text).unwrap();
                    if msg["type"] == "ping" {
                        self.send(json!({"type": "pong"})).await;
                        continue;
                    }
                    return Some(Ok(msg));
                }
                Some(Ok(Message::Close(frame))) => {
                    let (code, reason) = frame
                        .map(|f| (u16::from(f.code), f.reason.to_string()))
                        .unwrap_or((1005, String::new()));
                    return Some(Err((code, reason)));
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Some(Err((1006, "dropped".into()))),
            }
        }
    }

    /// The next thing heard within `wait`.
    async fn hear(&mut self, wait: Duration) -> Option<Heard> {
        match self.raw(wait).await? {
            Ok(msg) if msg["type"] == "next" => Some(Heard::Next(msg["payload"].clone())),
            Ok(msg) if msg["type"] == "error" => Some(Heard::Error(msg["payload"].clone())),
            Ok(msg) => panic!("unexpected message {msg}"),
            Err((code, reason)) => Some(Heard::Closed(code, reason)),
        }
    }

    /// Job states heard until one has `status`, in order.
    async fn until_status(&mut self, status: &str) -> Vec<Value> {
        let mut seen = Vec::new();
        while let Some(heard) = self.hear(Duration::from_secs(5)).await {
            let Heard::Next(payload) = heard else {
                panic!("expected an update, heard {heard:?}");
            };
            let job = payload["data"]["jobUpdates"].clone();
            let done = job["status"] == status;
            seen.push(job);
            if done {
                return seen;
            }
        }
        panic!("no {status} update; heard {seen:?}");
    }
}

/// A READY file of `owner` with one queued job; returns (file id, job id).
async fn file_with_job(app: &TestApp, owner: &str, visibility: &str) -> (String, String) {
    let file = app.upload_id(owner, wav(440.0), visibility).await;
    let job = app
        .query(
            Some(owner),
            ENQUEUE,
            json!({"id": file, "kind": "transcode"}),
        )
        .await["enqueueJob"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (file, job)
}

#[tokio::test]
async fn a_subscriber_sees_a_job_claimed_progress_and_completion() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let worker = app.token("worker-1", "worker");
    let (file, job) = file_with_job(&app, &alice, "PRIVATE").await;
    let mut sub = Subscriber::connect(&app, &alice).await;
    sub.subscribe(&file).await;
    let current = sub.until_status("QUEUED").await;

    app.query(Some(&worker), CLAIM, json!({"kinds": ["transcode"]}))
        .await;
    app.query(Some(&worker), PROGRESS, json!({"id": job, "p": 0.25}))
        .await;
    app.query(Some(&worker), COMPLETE, json!({"id": job})).await;
    let updates = sub.until_status("SUCCEEDED").await;

    assert_eq!(
        current,
        vec![json!({"id": job, "status": "QUEUED", "progress": 0.0})]
    );
    let progress: Vec<(String, f64)> = updates
        .iter()
        .map(|u| {
            (
                u["status"].as_str().unwrap().to_owned(),
                u["progress"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        progress,
        vec![
            ("RUNNING".to_owned(), 0.0),
            ("RUNNING".to_owned(), 0.25),
            ("SUCCEEDED".to_owned(), 1.0)
        ]
    );
}

#[tokio::test]
async fn a_subscriber_on_one_instance_sees_progress_reported_on_another() {
    if std::env::var("WAVEGATE_TEST_REDIS_URL").is_err() {
        eprintln!("needs WAVEGATE_TEST_REDIS_URL: instances share job events through Redis");
        return;
    }
    let app = spawn_app().await;
    let sibling = app.spawn_sibling().await;
    let alice = app.token("alice", "user");
    let worker = app.token("worker-1", "worker");
    let (file, job) = file_with_job(&app, &alice, "PRIVATE").await;
    let mut sub = Subscriber::connect(&sibling, &alice).await;
    sub.subscribe(&file).await;
    sub.until_status("QUEUED").await;

    app.query(Some(&worker), CLAIM, json!({"kinds": ["transcode"]}))
        .await;
    app.query(Some(&worker), PROGRESS, json!({"id": job, "p": 0.5}))
        .await;
    app.query(Some(&worker), COMPLETE, json!({"id": job})).await;
    let updates = sub.until_status("SUCCEEDED").await;

    assert!(
        updates.iter().any(|u| u["progress"] == 0.5),
        "heard {updates:?}"
    );
}

#[tokio::test]
async fn subscriptions_follow_the_access_rules_of_queries() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let mallory = app.token("mallory", "user");
    let (private, _) = file_with_job(&app, &alice, "PRIVATE").await;
    let public = app.upload_id(&alice, wav(660.0), "PUBLIC").await;

    let mut stranger = Subscriber::connect(&app, &mallory).await;
    stranger.subscribe(&private).await;
    let refused = stranger.hear(Duration::from_secs(5)).await;
    let mut anonymous = Subscriber::open(&app, json!({})).await;
    let ack = anonymous.raw(Duration::from_secs(5)).await;
    anonymous.subscribe(&public).await;
    app.query(
        Some(&alice),
        ENQUEUE,
        json!({"id": public, "kind": "waveform"}),
    )
    .await;
    let heard = anonymous.until_status("QUEUED").await;

    let code = match refused {
        Some(Heard::Error(errors)) => errors[0]["extensions"]["code"].clone(),
        Some(Heard::Next(payload)) => payload["errors"][0]["extensions"]["code"].clone(),
        other => panic!("expected an error, heard {other:?}"),
    };
    assert_eq!(code, "NOT_FOUND");
    assert!(matches!(ack, Some(Ok(m)) if m["type"] == "connection_ack"));
    assert_eq!(heard.len(), 1);
}

#[tokio::test]
async fn a_bad_token_in_connection_init_is_refused() {
    let app = spawn_app().await;

    let mut sub = Subscriber::open(&app, json!({"authorization": "Bearer not-a-jwt"})).await;
    let heard = sub.hear(Duration::from_secs(5)).await;

    assert!(
        matches!(heard, Some(Heard::Closed(4403, _))),
        "heard {heard:?}"
    );
}

#[tokio::test]
async fn the_connection_closes_when_the_token_expires() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let (file, _) = file_with_job(&app, &alice, "PRIVATE").await;
    let short = app.sign(json!({"sub": "alice", "role": "user", "exp": wavegate_tests::now() + 2}));
    let mut sub = Subscriber::connect(&app, &short).await;
    sub.subscribe(&file).await;
    sub.until_status("QUEUED").await;

    let heard = sub.hear(Duration::from_secs(6)).await;

    match heard {
        Some(Heard::Closed(code, reason)) => {
            assert_eq!(code, 4403);
            assert_eq!(reason, "token expired");
        }
        other => panic!("expected the connection to close, heard {other:?}"),
    }
}
