//! Test harness: spawns a real wavegate per test and drives it over HTTP.
//!
//! Each [`TestApp`] gets its own data dir, bucket, database and Redis key prefix, so tests
//! run in parallel and leave nothing behind:
//!
//! - with nothing set, a SQLite file in a temporary directory, and a bucket on the
//!   instance's own embedded S3 server;
//! - with `WAVEGATE_TEST_DATABASE_URL` (a PostgreSQL URL whose user may create
//!   databases), a fresh database per test, dropped when the test ends;
//! - with `WAVEGATE_TEST_REDIS_URL`, Redis under a per-test key prefix, cleared at the end;
//! - with `WAVEGATE_TEST_S3_ENDPOINT` (and `WAVEGATE_TEST_S3_ACCESS_KEY`,
//!   `WAVEGATE_TEST_S3_SECRET_KEY`, `WAVEGATE_TEST_S3_REGION`), a fresh bucket per test on
//!   that server (Garage in CI, see `tests/garage/start.sh`), emptied and deleted at the
//!   end. wavegate creates it at start, so the key must be allowed to create buckets;
//! - with `WAVEGATE_TEST_GARAGE_ADMIN_URL` and `WAVEGATE_TEST_GARAGE_ADMIN_TOKEN` too, the
//!   harness creates each bucket beforehand through Garage's admin API, under a global
//!   name, as an operator does with `garage bucket create`. Garage applies a bucket's CORS
//!   rules to browsers' preflight requests only under a global name: a bucket created
//!   through S3 gets a name private to its key, and Garage answers every preflight for it
//!   with `Access-Control-Allow-Origin: *`.
//!
//! Only the embedded server can be switched off on demand, so tests that play a storage
//! outage ask [`TestApp::can_play_outage`] first.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test harness fails loudly"
)]

pub mod fixtures;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use uuid::Uuid;
use wavegate::config::Settings;
use wavegate::http::Application;
use wavegate::state::AppState;

/// HS256 secret every test instance uses, so tests can also craft bad tokens.
pub const TEST_SECRET: &str = "test-secret-with-at-least-32-bytes-of-entropy";

/// Secret key of the embedded S3 server when none is configured (wavegate's dev default).
const EMBEDDED_S3_SECRET: &str = "wavegate-embedded-dev-secret";

/// A running wavegate and what it takes to talk to it.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// The S3 endpoint holding the test's bucket: the embedded server or the one named by
    /// `WAVEGATE_TEST_S3_ENDPOINT`.
    pub s3_endpoint: String,
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
    /// Credentials and region for reaching the bucket directly.
    s3: S3Access,
    /// Turns the embedded S3 server off (false) and on (true), to play an outage; `None`
    /// on an outside S3 server, which the tests cannot switch off.
    storage_up: Option<Arc<AtomicBool>>,
    /// Whether this instance empties and deletes the bucket at the end: the first instance
    /// on an outside server does; siblings and embedded servers (whose objects go with the
    /// data dir) do not.
    owns_bucket: bool,
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

/// How the harness reaches the S3 server itself (to list and clean the bucket).
#[derive(Clone)]
struct S3Access {
    /// `http://host:port`, without a trailing slash.
    endpoint: String,
    /// Access key id.
    access_key: String,
    /// Secret key.
    secret_key: String,
    /// Region the server expects in signatures (Garage checks it).
    region: String,
}

impl S3Access {
    /// The server named by `WAVEGATE_TEST_S3_*`, when `WAVEGATE_TEST_S3_ENDPOINT` is set.
    fn from_env() -> Option<Self> {
        let endpoint = env_var("WAVEGATE_TEST_S3_ENDPOINT")?;
        let required = |key: &str| {
            env_var(key)
                .unwrap_or_else(|| panic!("{key} must be set with WAVEGATE_TEST_S3_ENDPOINT"))
        };
        Some(Self {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            access_key: required("WAVEGATE_TEST_S3_ACCESS_KEY"),
            secret_key: required("WAVEGATE_TEST_S3_SECRET_KEY"),
            region: env_var("WAVEGATE_TEST_S3_REGION").unwrap_or_else(|| "us-east-1".into()),
        })
    }

    /// The settings that point wavegate at this server.
    fn settings(&self) -> [(&'static str, String); 4] {
        [
            ("WAVEGATE_S3_ENDPOINT", self.endpoint.clone()),
            ("WAVEGATE_S3_ACCESS_KEY", self.access_key.clone()),
            ("WAVEGATE_S3_SECRET_KEY", self.secret_key.clone()),
            ("WAVEGATE_S3_REGION", self.region.clone()),
        ]
    }

    /// An aws-sdk-s3 client for this server.
    fn client(&self) -> aws_sdk_s3::Client {
        let creds = aws_sdk_s3::config::Credentials::new(
            &self.access_key,
            &self.secret_key,
            None,
            None,
            "test",
        );
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new(self.region.clone()))
            .endpoint_url(&self.endpoint)
            .credentials_provider(creds)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }
}

/// Garage's admin API, for creating buckets under a global name.
struct GarageAdmin {
    /// `http://host:port` of the admin API.
    url: String,
    /// Its bearer token.
    token: String,
}

impl GarageAdmin {
    /// The admin API named by `WAVEGATE_TEST_GARAGE_ADMIN_*`, when its URL is set.
    fn from_env() -> Option<Self> {
        Some(Self {
            url: env_var("WAVEGATE_TEST_GARAGE_ADMIN_URL")?
                .trim_end_matches('/')
                .to_owned(),
            token: env_var("WAVEGATE_TEST_GARAGE_ADMIN_TOKEN").expect(
                "WAVEGATE_TEST_GARAGE_ADMIN_TOKEN must be set with WAVEGATE_TEST_GARAGE_ADMIN_URL",
            ),
        })
    }

    /// Creates `bucket` under a global name and lets `access_key` read, write and own it
    /// (owning it lets wavegate set its CORS rules, and the harness delete it).
    async fn create_bucket(&self, bucket: &str, access_key: &str) -> anyhow::Result<()> {
        let http = reqwest::Client::new();
        let created: Value = http
            .post(format!("{}/v2/CreateBucket", self.url))
            .bearer_auth(&self.token)
            .json(&json!({"globalAlias": bucket}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let id = created["id"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("no bucket id in {created}"))?;
        http.post(format!("{}/v2/AllowBucketKey", self.url))
            .bearer_auth(&self.token)
            .json(&json!({
                "bucketId": id,
                "accessKeyId": access_key,
                "permissions": {"read": true, "write": true, "owner": true},
            }))
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }
}

/// The value of an environment variable, when set and not empty.
fn env_var(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.is_empty())
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
    let external = S3Access::from_env();
    let mut pairs: Vec<(&str, String)> = vec![
        ("WAVEGATE_LISTEN", "127.0.0.1:0".into()),
        ("WAVEGATE_DATA_DIR", data_dir),
        ("WAVEGATE_S3_BUCKET", bucket.clone()),
        ("WAVEGATE_JWT_SECRET", TEST_SECRET.into()),
        ("WAVEGATE_HTTP_WORKERS", "1".into()),
        ("DATABASE_URL", database_url),
    ];
    match &external {
        Some(server) => pairs.extend(server.settings()),
        None => pairs.push(("WAVEGATE_EMBEDDED_S3_LISTEN", "127.0.0.1:0".into())),
    }
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

    // Start-up creates the bucket when it is missing, which on an outside server it is,
    // unless Garage's admin API made it first.
    if let (Some(server), Some(admin)) = (&external, GarageAdmin::from_env()) {
        admin
            .create_bucket(&bucket, &server.access_key)
            .await
            .expect("Garage's admin API creates the test bucket");
    }
    let app = Application::build(settings)
        .await
        .expect("application starts");
    let address = format!("http://{}", app.addr());
    let state = app.state().clone();
    let storage_up = app.embedded_s3_availability();
    let owns_bucket = external.is_some();
    let s3 = match external {
        Some(server) => server,
        None => S3Access {
            endpoint: format!(
                "http://{}",
                app.embedded_s3_addr()
                    .expect("embedded S3 runs without WAVEGATE_TEST_S3_ENDPOINT")
            ),
            access_key: state.settings.s3.access_key.clone(),
            secret_key: EMBEDDED_S3_SECRET.to_owned(),
            region: state.settings.s3.region.clone(),
        },
    };
    tokio::spawn(app.run_until_stopped());

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    TestApp {
        address,
        s3_endpoint: s3.endpoint.clone(),
        state,
        http,
        bucket,
        db,
        redis,
        s3,
        storage_up,
        owns_bucket,
        pairs: kept,
        _dir: dir,
    }
}

impl TestApp {
    /// A second instance on the same database, bucket and Redis prefix (as a deployment
    /// of several instances has), reaching the same S3 server: this one's embedded server,
    /// or the outside one.
    pub async fn spawn_sibling(&self) -> TestApp {
        let dir = tempfile::tempdir().expect("temporary dir");
        let mut pairs = self.pairs.clone();
        let s3_keys = [
            "WAVEGATE_S3_ENDPOINT",
            "WAVEGATE_S3_ACCESS_KEY",
            "WAVEGATE_S3_SECRET_KEY",
            "WAVEGATE_S3_REGION",
        ];
        pairs.retain(|(k, _)| !s3_keys.contains(k));
        pairs.extend(self.s3.settings());
        let settings = Settings::from_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())))
            .expect("sibling settings");
        let app = Application::build(settings).await.expect("sibling starts");
        let address = format!("http://{}", app.addr());
        let state = app.state().clone();
        tokio::spawn(app.run_until_stopped());
        TestApp {
            address,
            s3_endpoint: self.s3_endpoint.clone(),
            state,
            http: self.http.clone(),
            bucket: self.bucket.clone(),
            // The first instance owns the database, the Redis keys and the bucket, and
            // cleans them up.
            db: TestDatabase::Sqlite,
            redis: None,
            s3: self.s3.clone(),
            storage_up: self.storage_up.clone(),
            owns_bucket: false,
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

    /// An S3 client for the server holding the test's bucket, with the instance's
    /// credentials.
    pub fn s3(&self) -> aws_sdk_s3::Client {
        self.s3.client()
    }

    /// Whether the test can switch storage off with [`TestApp::set_storage_up`]: only the
    /// embedded S3 server has that switch, an outside server (Garage) does not.
    pub fn can_play_outage(&self) -> bool {
        self.storage_up.is_some()
    }

    /// Plays a storage outage (`false`) or ends it (`true`). Only on the embedded server:
    /// check [`TestApp::can_play_outage`] first.
    pub fn set_storage_up(&self, up: bool) {
        self.storage_up
            .as_ref()
            .expect("only the embedded S3 server can play an outage; see can_play_outage")
            .store(up, Ordering::SeqCst);
    }

    /// The bytes behind a presigned GET `url`.
    pub async fn download(&self, url: &str) -> Vec<u8> {
        let resp = self.http.get(url).send().await.expect("GET the URL");
        assert!(resp.status().is_success(), "GET {url}: {}", resp.status());
        resp.bytes().await.expect("the body").to_vec()
    }

    /// Keys of every object in the test's bucket.
    pub async fn object_keys(&self) -> Vec<String> {
        list_keys(&self.s3(), &self.bucket)
            .await
            .expect("list objects")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Dropping runs outside any async context we may block, so cleanup gets a thread
        // and a runtime of its own.
        let db = std::mem::replace(&mut self.db, TestDatabase::Sqlite);
        let redis = self.redis.take();
        let bucket = self
            .owns_bucket
            .then(|| (self.s3.clone(), self.bucket.clone()));
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
                if let Some((server, bucket)) = bucket {
                    remove_bucket(&server.client(), &bucket).await;
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

/// Keys of every object in `bucket`, page after page.
async fn list_keys(s3: &aws_sdk_s3::Client, bucket: &str) -> anyhow::Result<Vec<String>> {
    let mut keys = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = s3
            .list_objects_v2()
            .bucket(bucket)
            .set_continuation_token(token.take())
            .send()
            .await
            .map_err(sdk_error)?;
        keys.extend(
            out.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
        match out.next_continuation_token() {
            Some(next) if out.is_truncated() == Some(true) => token = Some(next.to_owned()),
            _ => return Ok(keys),
        }
    }
}

/// An S3 error with its whole chain of causes, which its `Display` alone leaves out.
fn sdk_error(e: impl std::error::Error) -> anyhow::Error {
    anyhow::anyhow!("{}", aws_sdk_s3::error::DisplayErrorContext(e))
}

/// Empties `bucket` (objects and unfinished multipart uploads) and deletes it; a failure
/// is reported, not fatal, since the test has already run.
async fn remove_bucket(s3: &aws_sdk_s3::Client, bucket: &str) {
    let emptied = async {
        for key in list_keys(s3, bucket).await? {
            let deleted = s3.delete_object().bucket(bucket).key(key).send().await;
            deleted.map_err(sdk_error)?;
        }
        let uploads = s3.list_multipart_uploads().bucket(bucket).send().await;
        let uploads = uploads.map_err(sdk_error)?;
        for upload in uploads.uploads() {
            if let (Some(key), Some(id)) = (upload.key(), upload.upload_id()) {
                s3.abort_multipart_upload()
                    .bucket(bucket)
                    .key(key)
                    .upload_id(id)
                    .send()
                    .await
                    .map_err(sdk_error)?;
            }
        }
        let deleted = s3.delete_bucket().bucket(bucket).send().await;
        deleted.map_err(sdk_error)?;
        anyhow::Ok(())
    };
    if let Err(e) = emptied.await {
        eprintln!("test bucket {bucket} not removed: {e:#}");
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
