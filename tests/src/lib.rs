//! Test harness: spawns a real wavegate per test and drives it over HTTP.
//!
//! Each [`TestApp`] gets its own data dir, embedded S3 server and bucket, database and
//! Redis key prefix, so tests run in parallel and leave nothing behind:
//!
//! - with nothing set, a SQLite file in a temporary directory;
//! - with `WAVEGATE_TEST_DATABASE_URL` (a PostgreSQL URL whose user may create
//!   databases), a fresh database per test, dropped when the test ends;
//! - with `WAVEGATE_TEST_REDIS_URL`, Redis under a per-test key prefix, cleared at the end.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test harness fails loudly"
)]

pub mod fixtures;

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use uuid::Uuid;
use wavegate::config::Settings;
use wavegate::http::Application;
use wavegate::state::AppState;

/// HS256 secret every test instance uses, so tests can also craft bad tokens.
pub const TEST_SECRET: &str = "test-secret-with-at-least-32-bytes-of-entropy";

/// A running wavegate and what it takes to talk to it.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// The embedded S3 server's address.
    pub s3_addr: SocketAddr,
    /// Turns the embedded S3 server off (false) and on (true), to play an outage.
    pub storage_up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Shared state of the instance (database, storage, metrics).
    pub state: AppState,
    /// HTTP client without redirects or cookies.
    pub http: reqwest::Client,
    /// Bucket of this test.
    pub bucket: String,
    /// Database of this test (dropped at the end, on PostgreSQL).
    db: TestDatabase,
    /// Redis prefix of this test, cleared at the end.
    redis: Option<(String, String)>,
    /// The settings it was started with, for siblings.
    pairs: Vec<(&'static str, String)>,
    /// Data dir; removed at the end.
    _dir: tempfile::TempDir,
}

/// Which database backs the test.
enum TestDatabase {
    /// A file in the data dir; goes with it.
    Sqlite,
    /// A database created for the test: (admin URL, name).
    Postgres(String, String),
}

/// Extra settings for one test.
#[derive(Default)]
pub struct Options {
    /// Settings added to (or overriding) the defaults.
    pub settings: Vec<(&'static str, String)>,
}

/// Starts an instance with the default test settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

/// Starts an instance with extra settings.
pub async fn spawn_app_with(options: Options) -> TestApp {
    let dir = tempfile::tempdir().expect("temporary data dir");
    let id = Uuid::new_v4().simple().to_string();
    let bucket = format!("test-{}", &id[..16]);

    // Database: PostgreSQL when asked for, else SQLite in the data dir.
    let (database_url, db) = match std::env::var("WAVEGATE_TEST_DATABASE_URL")
        .ok()
        .filter(|v| !v.is_empty())
    {
        Some(admin) => {
            let name = format!("wavegate_test_{id}");
            create_database(&admin, &name).await;
            (
                with_database(&admin, &name),
                TestDatabase::Postgres(admin, name),
            )
        }
        None => (String::new(), TestDatabase::Sqlite),
    };
    let redis = std::env::var("WAVEGATE_TEST_REDIS_URL")
        .ok()
        .filter(|v| !v.is_empty())
        .map(|url| (url, format!("wavegate-test:{id}:")));

    let data_dir = dir.path().display().to_string();
    let mut pairs: Vec<(&str, String)> = vec![
        ("WAVEGATE_LISTEN", "127.0.0.1:0".into()),
        ("WAVEGATE_EMBEDDED_S3_LISTEN", "127.0.0.1:0".into()),
        ("WAVEGATE_DATA_DIR", data_dir),
        ("WAVEGATE_S3_BUCKET", bucket.clone()),
        ("WAVEGATE_JWT_SECRET", TEST_SECRET.into()),
        ("WAVEGATE_HTTP_WORKERS", "1".into()),
        ("DATABASE_URL", database_url),
    ];
    if let Some((url, prefix)) = &redis {
        pairs.push(("REDIS_URL", url.clone()));
        pairs.push(("WAVEGATE_REDIS_PREFIX", prefix.clone()));
    }
    for (k, v) in options.settings {
        pairs.retain(|(key, _)| *key != k);
        pairs.push((k, v));
    }
    let kept = pairs.clone();
    let settings =
        Settings::from_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str()))).expect("test settings");

    let app = Application::build(settings)
        .await
        .expect("application starts");
    let address = format!("http://{}", app.addr());
    let s3_addr = app.embedded_s3_addr().expect("embedded S3 runs in tests");
    let state = app.state().clone();
    let storage_up = app
        .embedded_s3_availability()
        .expect("embedded S3 runs in tests");
    tokio::spawn(app.run_until_stopped());

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    TestApp {
        address,
        s3_addr,
        storage_up,
        state,
        http,
        bucket,
        db,
        redis,
        pairs: kept,
        _dir: dir,
    }
}

impl TestApp {
    /// A second instance on the same database, bucket and Redis prefix (as a deployment
    /// of several instances has), reaching this one's S3 server as its endpoint.
    pub async fn spawn_sibling(&self) -> TestApp {
        let dir = tempfile::tempdir().expect("temporary dir");
        let mut pairs = self.pairs.clone();
        pairs.retain(|(k, _)| {
            !matches!(
                *k,
                "WAVEGATE_S3_ENDPOINT" | "WAVEGATE_S3_ACCESS_KEY" | "WAVEGATE_S3_SECRET_KEY"
            )
        });
        pairs.push(("WAVEGATE_S3_ENDPOINT", format!("http://{}", self.s3_addr)));
        pairs.push((
            "WAVEGATE_S3_ACCESS_KEY",
            self.state.settings.s3.access_key.clone(),
        ));
        pairs.push((
            "WAVEGATE_S3_SECRET_KEY",
            "wavegate-embedded-dev-secret".to_owned(),
        ));
        let settings = Settings::from_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())))
            .expect("sibling settings");
        let app = Application::build(settings).await.expect("sibling starts");
        let address = format!("http://{}", app.addr());
        let state = app.state().clone();
        tokio::spawn(app.run_until_stopped());
        TestApp {
            address,
            s3_addr: self.s3_addr,
            storage_up: self.storage_up.clone(),
            state,
            http: self.http.clone(),
            bucket: self.bucket.clone(),
            // The first instance owns the database and the Redis keys, and cleans them up.
            db: TestDatabase::Sqlite,
            redis: None,
            pairs,
            _dir: dir,
        }
    }

    /// A valid token for `sub` with `role` (`user`, `worker` or `admin`), valid for an hour.
    pub fn token(&self, sub: &str, role: &str) -> String {
        self.sign(json!({"sub": sub, "role": role, "exp": now() + 3600}))
    }

    /// Signs arbitrary claims with the instance's secret.
    pub fn sign(&self, claims: Value) -> String {
        let key = jsonwebtoken::EncodingKey::from_secret(TEST_SECRET.as_bytes()).unwrap();
        jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap()
    }

    /// Posts a GraphQL operation; returns the HTTP status and the JSON body.
    pub async fn post(&self, token: Option<&str>, query: &str, variables: Value) -> (u16, Value) {
        let mut req = self
            .http
            .post(format!("{}/graphql", self.address))
            .json(&json!({
                "query": query,
                "variables": variables,
            }));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status().as_u16();
        (status, resp.json().await.expect("JSON body"))
    }

    /// Runs an operation that must succeed; returns its `data`.
    pub async fn query(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let (status, body) = self.post(token, query, variables).await;
        assert_eq!(status, 200, "status of {query}: {body}");
        assert!(body.get("errors").is_none(), "errors from {query}: {body}");
        body["data"].clone()
    }

    /// Runs an operation that must fail; returns the first error's code.
    pub async fn error_code(&self, token: Option<&str>, query: &str, variables: Value) -> String {
        let (_, body) = self.post(token, query, variables).await;
        body["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error code in {body}"))
            .to_owned()
    }

    /// Uploads bytes through `uploadAudio`; returns the HTTP status and body.
    pub async fn upload_raw(
        &self,
        token: Option<&str>,
        bytes: Vec<u8>,
        filename: &str,
        content_type: &str,
        extra_args: &str,
    ) -> Value {
        let operations = json!({
            "query": format!(
                "mutation($file: Upload!) {{ uploadAudio(file: $file{extra_args}) {{ {} }} }}",
                fixtures::FILE_FIELDS
            ),
            "variables": {"file": null},
        });
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name(filename.to_owned())
            .mime_str(content_type)
            .unwrap();
        let form = reqwest::multipart::Form::new()
            .text("operations", operations.to_string())
            .text("map", json!({"0": ["variables.file"]}).to_string())
            .part("0", part);
        let mut req = self
            .http
            .post(format!("{}/graphql", self.address))
            .multipart(form);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
            .await
            .expect("upload sent")
            .json()
            .await
            .expect("JSON body")
    }

    /// Uploads a WAV through `uploadAudio` as the owner of `token`; returns the file.
    pub async fn upload(&self, token: &str, bytes: Vec<u8>, visibility: &str) -> Value {
        let body = self
            .upload_raw(
                Some(token),
                bytes,
                "take.wav",
                "audio/wav",
                &format!(", visibility: {visibility}"),
            )
            .await;
        assert!(body.get("errors").is_none(), "upload failed: {body}");
        body["data"]["uploadAudio"].clone()
    }

    /// Uploads a WAV through `uploadAudio`; returns the new file's id.
    pub async fn upload_id(&self, token: &str, bytes: Vec<u8>, visibility: &str) -> String {
        self.upload(token, bytes, visibility).await["id"]
            .as_str()
            .expect("the file has an id")
            .to_owned()
    }

    /// The value of a counter (summed over label sets matching `labels`) on `/metrics`.
    pub async fn metric(&self, name: &str, labels: &str) -> f64 {
        let text = self
            .http
            .get(format!("{}/metrics", self.address))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .filter(|l| {
                l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']) && l.contains(labels)
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// An S3 client for the test's embedded server, with the instance's credentials.
    pub fn s3(&self) -> aws_sdk_s3::Client {
        let creds = aws_sdk_s3::config::Credentials::new(
            &self.state.settings.s3.access_key,
            "wavegate-embedded-dev-secret",
            None,
            None,
            "test",
        );
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .endpoint_url(format!("http://{}", self.s3_addr))
            .credentials_provider(creds)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// Plays a storage outage (`false`) or ends it (`true`).
    pub fn set_storage_up(&self, up: bool) {
        self.storage_up
            .store(up, std::sync::atomic::Ordering::SeqCst);
    }

    /// Keys of every object in the test's bucket.
    pub async fn object_keys(&self) -> Vec<String> {
        let out = self
            .s3()
            .list_objects_v2()
            .bucket(&self.bucket)
            .send()
            .await
            .expect("list objects");
        out.contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Dropping runs outside any async context we may block, so cleanup gets a thread
        // and a runtime of its own.
        let db = std::mem::replace(&mut self.db, TestDatabase::Sqlite);
        let redis = self.redis.take();
        let cleanup = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("cleanup runtime");
            rt.block_on(async move {
                if let TestDatabase::Postgres(admin, name) = db {
                    drop_database(&admin, &name).await;
                }
                if let Some((url, prefix)) = redis {
                    clear_redis(&url, &prefix).await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// `admin` with its database name replaced by `name`.
fn with_database(admin: &str, name: &str) -> String {
    let mut url = url::Url::parse(admin).expect("WAVEGATE_TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

async fn create_database(admin: &str, name: &str) {
    use sea_orm::ConnectionTrait;
    let conn = sea_orm::Database::connect(admin)
        .await
        .expect("connect to WAVEGATE_TEST_DATABASE_URL");
    conn.execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .expect("create test database");
    let _ = conn.close().await;
}

async fn drop_database(admin: &str, name: &str) {
    use sea_orm::ConnectionTrait;
    if let Ok(conn) = sea_orm::Database::connect(admin).await {
        let _ = conn
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await;
        let _ = conn.close().await;
    }
}

async fn clear_redis(url: &str, prefix: &str) {
    let Ok(client) = redis::Client::open(url) else {
        return;
    };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
        return;
    };
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .unwrap_or_default();
    if !keys.is_empty() {
        let _: Result<(), _> = redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
    }
}

/// Waits until `f` is true, for at most `limit`.
pub async fn eventually(limit: Duration, mut f: impl AsyncFnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}
