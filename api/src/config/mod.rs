//! Configuration: one typed [`Settings`], read once at start from the environment and an
//! optional `wavegate.toml`.
//!
//! # Sources
//!
//! Every key below is an environment variable. A TOML file may hold the same keys, spelled
//! the same way (`WAVEGATE_LISTEN = "0.0.0.0:8080"`); the environment wins over the file.
//! The file is `WAVEGATE_CONFIG` when set (then it must exist), else `./wavegate.toml` when
//! present. A missing or malformed value stops start-up with one line naming the key.
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `WAVEGATE_LISTEN` | `127.0.0.1:8080` | HTTP address |
//! | `WAVEGATE_DATA_DIR` | `./data` | where the embedded defaults keep their files |
//! | `DATABASE_URL` | SQLite file `wavegate.db` in the data dir | `postgres://…` in production |
//! | `REDIS_URL` | unset: in-process cache only | `redis://…` |
//! | `WAVEGATE_REDIS_PREFIX` | `wavegate:` | prefix of every Redis key this instance writes |
//! | `WAVEGATE_S3_ENDPOINT` | unset: embedded S3 server, objects in the data dir | any S3 endpoint |
//! | `WAVEGATE_EMBEDDED_S3_LISTEN` | `127.0.0.1:9000` | address of the embedded S3 server |
//! | `WAVEGATE_S3_PUBLIC_ENDPOINT` | the endpoint | host that presigned URLs name |
//! | `WAVEGATE_S3_BUCKET` | `audio` | bucket, created at start when missing |
//! | `WAVEGATE_S3_REGION` | `us-east-1` | region used in signatures |
//! | `WAVEGATE_S3_ACCESS_KEY`, `WAVEGATE_S3_SECRET_KEY` | dev values when embedded | credentials |
//! | `WAVEGATE_JWT_SECRET` | a random secret kept in the data dir | HS256 secret |
//! | `WAVEGATE_JWT_PUBLIC_KEY_FILE` | unset | PEM public key: RS256, ES256 or EdDSA |
//! | `WAVEGATE_JWT_JWKS_URL` | unset | not supported yet: start-up refuses it |
//! | `WAVEGATE_JWT_ISSUER`, `WAVEGATE_JWT_AUDIENCE` | unset | checked when set |
//! | `WAVEGATE_JWT_ROLE_CLAIM` | `role` | dotted path to the role claim |
//! | `WAVEGATE_DEFAULT_QUOTA_BYTES` | unset: no quota | stored bytes each user may hold |
//! | `WAVEGATE_MULTIPART_THRESHOLD_BYTES` | `8388608` | larger uploads get a multipart plan |
//! | `WAVEGATE_MAX_UPLOAD_BYTES` | `5368709120` (5 GiB) | largest file accepted |
//! | `WAVEGATE_UPLOAD_URL_SECONDS` | `3600` | validity of presigned upload URLs |
//! | `WAVEGATE_UPLOAD_EXPIRY_SECONDS` | `86400` | pending uploads older than this are aborted |
//! | `WAVEGATE_CORS_ORIGINS` | `*` | origins allowed by the bucket's CORS rules (comma-separated) |
//! | `WAVEGATE_JOB_LEASE_SECONDS` | `300` | lease of a claimed job |
//! | `WAVEGATE_JOB_MAX_ATTEMPTS` | `3` | claims a job gets before a retryable failure is final |
//! | `WAVEGATE_JOB_RETRY_SECONDS` | `10` | wait before the first retry; doubles each time, at most an hour |
//! | `WAVEGATE_JOB_LOG_RETENTION_DAYS` | `30` | job log lines older than this are removed (`0` keeps them) |
//! | `WAVEGATE_PIPELINE` | empty: none | job kinds queued when a file becomes `READY` (`transcode,waveform`) |
//! | `WAVEGATE_CACHE` | `on` | `off` turns every cache tier off |
//! | `WAVEGATE_DATALOADER_DELAY_US` | `250` | how long a dataloader waits to gather a batch |
//! | `WAVEGATE_HTTP_WORKERS` | number of CPU cores | HTTP worker threads |
//! | `WAVEGATE_LOG` | `info` | `tracing` filter (`wavegate=debug,info`) |
//! | `WAVEGATE_LOG_FORMAT` | `text` | `text` or `json` |

mod source;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

pub use source::{ConfigError, Source};

/// Everything wavegate reads from its environment, typed and checked.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address the HTTP server binds (port 0 picks a free port, as tests do).
    pub listen: SocketAddr,
    /// Directory of the embedded defaults: SQLite file, objects, JWT secret.
    pub data_dir: PathBuf,
    /// Database URL; `None` means the SQLite file in `data_dir`.
    pub database_url: Option<SecretString>,
    /// Redis URL; `None` means the in-process cache tier alone.
    pub redis_url: Option<SecretString>,
    /// Prefix of every Redis key, so instances or tests can share one Redis apart.
    pub redis_prefix: String,
    /// Where objects live and how URLs to them are signed.
    pub s3: S3Settings,
    /// How bearer tokens are verified.
    pub jwt: JwtSettings,
    /// Stored bytes each user may hold, unless the user row says otherwise.
    pub default_quota_bytes: Option<i64>,
    /// Uploads larger than this get a multipart plan instead of a single PUT.
    pub multipart_threshold_bytes: u64,
    /// Largest file accepted, through the gateway or straight to storage.
    pub max_upload_bytes: u64,
    /// How long presigned upload URLs stay valid.
    pub upload_url_lifetime: Duration,
    /// How long a pending upload may wait for its bytes before it is aborted.
    pub upload_expiry: Duration,
    /// Origins the bucket's CORS rules allow, so browsers can PUT straight to storage.
    pub cors_origins: Vec<String>,
    /// How long a claimed job stays with its worker without a report.
    pub job_lease: Duration,
    /// Claims a job gets before a retryable failure becomes final.
    pub job_max_attempts: i32,
    /// Wait before the first retry of a failed job; doubles with each further attempt.
    pub job_retry_base: Duration,
    /// Age at which job log lines are removed; `None` keeps them.
    pub job_log_retention: Option<Duration>,
    /// Job kinds queued for every file that becomes `READY`.
    pub pipeline: Vec<String>,
    /// Whether the cache tiers are on (`WAVEGATE_CACHE=off` measures the uncached path).
    pub cache_enabled: bool,
    /// How long dataloaders wait to gather keys before one batched query.
    pub dataloader_delay: Duration,
    /// HTTP worker threads; `None` means one per CPU core.
    pub http_workers: Option<usize>,
    /// `tracing` filter directives.
    pub log_filter: String,
    /// Whether log lines are JSON (for log shippers) or text (for people).
    pub log_json: bool,
}

/// Object storage settings.
#[derive(Debug, Clone)]
pub struct S3Settings {
    /// S3 endpoint; `None` runs the embedded S3 server.
    pub endpoint: Option<Url>,
    /// Where the embedded S3 server listens, when it runs.
    pub embedded_listen: SocketAddr,
    /// Endpoint named in presigned URLs, when clients reach storage by another address.
    pub public_endpoint: Option<Url>,
    /// Bucket holding every object of this deployment.
    pub bucket: String,
    /// Region named in signatures.
    pub region: String,
    /// Access key id.
    pub access_key: String,
    /// Secret access key; never printed.
    pub secret_key: SecretString,
}

/// Bearer token verification settings.
#[derive(Debug, Clone)]
pub struct JwtSettings {
    /// HS256 secret; `None` with no public key means a random one kept in the data dir.
    pub secret: Option<SecretString>,
    /// PEM public key for RS256, ES256 or EdDSA.
    pub public_key_file: Option<PathBuf>,
    /// Required `iss`, when set.
    pub issuer: Option<String>,
    /// Required `aud`, when set.
    pub audience: Option<String>,
    /// Dotted path to the role in the claims (`realm_access.roles` for Keycloak).
    pub role_claim: String,
}

/// Access key of the embedded S3 server when none is configured.
const EMBEDDED_ACCESS_KEY: &str = "wavegate";
/// Secret key of the embedded S3 server when none is configured; it listens on loopback.
const EMBEDDED_SECRET_KEY: &str = "wavegate-embedded-dev-secret";

impl Settings {
    /// Reads the settings from the process environment and the optional TOML file.
    pub fn load() -> Result<Self, ConfigError> {
        Self::from_source(&Source::from_env_and_file()?)
    }

    /// Reads the settings from explicit key/value pairs (tests and tools), nothing else.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ConfigError> {
        Self::from_source(&Source::from_pairs(pairs))
    }

    /// Builds the typed settings from one merged source.
    pub fn from_source(src: &Source) -> Result<Self, ConfigError> {
        let endpoint = src.parse_opt::<Url>("WAVEGATE_S3_ENDPOINT")?;
        let embedded = endpoint.is_none();
        let access_key = match src.get("WAVEGATE_S3_ACCESS_KEY") {
            Some(v) => v.to_owned(),
            None if embedded => EMBEDDED_ACCESS_KEY.to_owned(),
            None => {
                return Err(ConfigError::missing(
                    "WAVEGATE_S3_ACCESS_KEY",
                    "required with WAVEGATE_S3_ENDPOINT",
                ));
            }
        };
        let secret_key = match src.get("WAVEGATE_S3_SECRET_KEY") {
            Some(v) => v.to_owned(),
            None if embedded => EMBEDDED_SECRET_KEY.to_owned(),
            None => {
                return Err(ConfigError::missing(
                    "WAVEGATE_S3_SECRET_KEY",
                    "required with WAVEGATE_S3_ENDPOINT",
                ));
            }
        };
        if src.get("WAVEGATE_JWT_JWKS_URL").is_some() {
            return Err(ConfigError::invalid(
                "WAVEGATE_JWT_JWKS_URL",
                "JWKS is not supported yet; use WAVEGATE_JWT_PUBLIC_KEY_FILE",
            ));
        }

        let settings = Settings {
            listen: src.parse_or("WAVEGATE_LISTEN", "127.0.0.1:8080")?,
            data_dir: PathBuf::from(src.get("WAVEGATE_DATA_DIR").unwrap_or("./data")),
            database_url: src
                .get("DATABASE_URL")
                .map(|v| SecretString::from(v.to_owned())),
            redis_url: src
                .get("REDIS_URL")
                .map(|v| SecretString::from(v.to_owned())),
            redis_prefix: src
                .get("WAVEGATE_REDIS_PREFIX")
                .unwrap_or("wavegate:")
                .to_owned(),
            s3: S3Settings {
                endpoint,
                embedded_listen: src.parse_or("WAVEGATE_EMBEDDED_S3_LISTEN", "127.0.0.1:9000")?,
                public_endpoint: src.parse_opt::<Url>("WAVEGATE_S3_PUBLIC_ENDPOINT")?,
                bucket: src.get("WAVEGATE_S3_BUCKET").unwrap_or("audio").to_owned(),
                region: src
                    .get("WAVEGATE_S3_REGION")
                    .unwrap_or("us-east-1")
                    .to_owned(),
                access_key,
                secret_key: SecretString::from(secret_key),
            },
            jwt: JwtSettings {
                secret: src
                    .get("WAVEGATE_JWT_SECRET")
                    .map(|v| SecretString::from(v.to_owned())),
                public_key_file: src.get("WAVEGATE_JWT_PUBLIC_KEY_FILE").map(PathBuf::from),
                issuer: src.get("WAVEGATE_JWT_ISSUER").map(str::to_owned),
                audience: src.get("WAVEGATE_JWT_AUDIENCE").map(str::to_owned),
                role_claim: src
                    .get("WAVEGATE_JWT_ROLE_CLAIM")
                    .unwrap_or("role")
                    .to_owned(),
            },
            default_quota_bytes: src.parse_opt("WAVEGATE_DEFAULT_QUOTA_BYTES")?,
            multipart_threshold_bytes: src
                .parse_or("WAVEGATE_MULTIPART_THRESHOLD_BYTES", "8388608")?,
            max_upload_bytes: src.parse_or("WAVEGATE_MAX_UPLOAD_BYTES", "5368709120")?,
            upload_url_lifetime: Duration::from_secs(
                src.parse_or("WAVEGATE_UPLOAD_URL_SECONDS", "3600")?,
            ),
            upload_expiry: Duration::from_secs(
                src.parse_or("WAVEGATE_UPLOAD_EXPIRY_SECONDS", "86400")?,
            ),
            cors_origins: src
                .get("WAVEGATE_CORS_ORIGINS")
                .unwrap_or("*")
                .split(',')
                .map(|o| o.trim().to_owned())
                .filter(|o| !o.is_empty())
                .collect(),
            job_lease: Duration::from_secs(src.parse_or("WAVEGATE_JOB_LEASE_SECONDS", "300")?),
            job_max_attempts: src.parse_or("WAVEGATE_JOB_MAX_ATTEMPTS", "3")?,
            job_retry_base: Duration::from_secs(src.parse_or("WAVEGATE_JOB_RETRY_SECONDS", "10")?),
            job_log_retention: match src.parse_or::<u64>("WAVEGATE_JOB_LOG_RETENTION_DAYS", "30")? {
                0 => None,
                days => Some(Duration::from_secs(days.saturating_mul(86_400))),
            },
            pipeline: src
                .get("WAVEGATE_PIPELINE")
                .unwrap_or("")
                .split(',')
                .map(|k| k.trim().to_owned())
                .filter(|k| !k.is_empty())
                .collect(),
            cache_enabled: src.switch("WAVEGATE_CACHE", true)?,
            dataloader_delay: Duration::from_micros(
                src.parse_or("WAVEGATE_DATALOADER_DELAY_US", "250")?,
            ),
            http_workers: src.parse_opt("WAVEGATE_HTTP_WORKERS")?,
            log_filter: src.get("WAVEGATE_LOG").unwrap_or("info").to_owned(),
            log_json: match src.get("WAVEGATE_LOG_FORMAT").unwrap_or("text") {
                "text" => false,
                "json" => true,
                other => {
                    return Err(ConfigError::invalid(
                        "WAVEGATE_LOG_FORMAT",
                        format!("expected text or json, got {other:?}"),
                    ));
                }
            },
        };
        settings.check()?;
        Ok(settings)
    }

    /// Checks relations between keys that each parsed on their own.
    fn check(&self) -> Result<(), ConfigError> {
        if self.s3.bucket.len() < 3
            || self.s3.bucket.len() > 63
            || !self
                .s3
                .bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        {
            return Err(ConfigError::invalid(
                "WAVEGATE_S3_BUCKET",
                "3 to 63 lower-case letters, digits, '-' or '.'",
            ));
        }
        if self.multipart_threshold_bytes < 5 * 1024 * 1024 {
            return Err(ConfigError::invalid(
                "WAVEGATE_MULTIPART_THRESHOLD_BYTES",
                "at least 5242880 (S3's smallest part)",
            ));
        }
        if self.default_quota_bytes.is_some_and(|q| q < 0) {
            return Err(ConfigError::invalid(
                "WAVEGATE_DEFAULT_QUOTA_BYTES",
                "must not be negative",
            ));
        }
        let url_secs = self.upload_url_lifetime.as_secs();
        if !(1..=7 * 24 * 3600).contains(&url_secs) {
            return Err(ConfigError::invalid(
                "WAVEGATE_UPLOAD_URL_SECONDS",
                "between 1 and 604800",
            ));
        }
        if self.upload_expiry < self.upload_url_lifetime {
            return Err(ConfigError::invalid(
                "WAVEGATE_UPLOAD_EXPIRY_SECONDS",
                "at least WAVEGATE_UPLOAD_URL_SECONDS",
            ));
        }
        if !(1..=100).contains(&self.job_max_attempts) {
            return Err(ConfigError::invalid(
                "WAVEGATE_JOB_MAX_ATTEMPTS",
                "between 1 and 100",
            ));
        }
        if self.job_lease.is_zero() {
            return Err(ConfigError::invalid(
                "WAVEGATE_JOB_LEASE_SECONDS",
                "at least 1",
            ));
        }
        if let Some(bad) = self
            .pipeline
            .iter()
            .find(|k| crate::service::validate::job_kind(k).is_err())
        {
            return Err(ConfigError::invalid(
                "WAVEGATE_PIPELINE",
                format!("{bad:?} is not a job kind (1 to 32 of a-z, 0-9, '-', '_')"),
            ));
        }
        if self.http_workers.is_some_and(|w| w == 0 || w > 512) {
            return Err(ConfigError::invalid(
                "WAVEGATE_HTTP_WORKERS",
                "between 1 and 512",
            ));
        }
        if self.dataloader_delay > Duration::from_millis(100) {
            return Err(ConfigError::invalid(
                "WAVEGATE_DATALOADER_DELAY_US",
                "at most 100000",
            ));
        }
        Ok(())
    }

    /// Whether the embedded S3 server runs (no `WAVEGATE_S3_ENDPOINT`).
    pub fn embedded_s3(&self) -> bool {
        self.s3.endpoint.is_none()
    }
}
