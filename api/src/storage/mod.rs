//! Object storage: the S3 client, presigned URLs, the bucket layout and the embedded server.
//!
//! # Layout
//!
//! - [`Storage`]: S3 calls the gateway itself makes (aws-sdk-s3), counted in metrics.
//! - [`presign`]: presigned URLs for clients, signed with rusty-s3 (see its docs for why).
//! - [`layout`]: what each object key means.
//! - [`embedded`]: the in-process S3 server used when no endpoint is configured.

pub mod embedded;
pub mod layout;
pub mod presign;

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::primitives::ByteStream;
use secrecy::ExposeSecret;
use url::Url;

use crate::config::S3Settings;
use crate::error::{ApiError, ApiResult};
use crate::metrics::Metrics;
pub use presign::{Presigned, Presigner};

/// The bucket, as the gateway reaches it.
#[derive(Clone)]
pub struct Storage {
    /// aws-sdk-s3 client for the calls the gateway makes itself.
    client: aws_sdk_s3::Client,
    /// Bucket name.
    bucket: String,
    /// Counts every request.
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("bucket", &self.bucket)
            .finish_non_exhaustive()
    }
}

impl Storage {
    /// A client for `endpoint` with the configured bucket and credentials.
    pub fn new(settings: &S3Settings, endpoint: &Url, metrics: Arc<Metrics>) -> Self {
        let credentials = Credentials::new(
            settings.access_key.clone(),
            settings.secret_key.expose_secret().to_owned(),
            None,
            None,
            "wavegate",
        );
        let timeouts = aws_sdk_s3::config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3))
            .read_timeout(Duration::from_secs(60))
            .build();
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(settings.region.clone()))
            .endpoint_url(endpoint.as_str().trim_end_matches('/'))
            .credentials_provider(credentials)
            .force_path_style(true)
            .timeout_config(timeouts)
            // Plain SigV4 without the newer default CRC trailers: MinIO, Garage and s3s all
            // accept it, and the gateway verifies SHA-256 itself.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .build();
        Self {
            client: aws_sdk_s3::Client::from_conf(config),
            bucket: settings.bucket.clone(),
            metrics,
        }
    }

    /// Bucket name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Creates the bucket when it is missing.
    #[tracing::instrument(skip(self), fields(bucket = %self.bucket))]
    pub async fn ensure_bucket(&self) -> anyhow::Result<()> {
        if self.ping().await.is_ok() {
            return Ok(());
        }
        let created = self
            .client
            .create_bucket()
            .bucket(&self.bucket)
            .send()
            .await;
        self.metrics.s3("create_bucket", created.is_ok());
        match created {
            Ok(_) => {
                tracing::info!(bucket = %self.bucket, "bucket created");
                Ok(())
            }
            Err(e) => {
                let already = e.as_service_error().is_some_and(|s| {
                    s.is_bucket_already_owned_by_you() || s.is_bucket_already_exists()
                });
                if already {
                    Ok(())
                } else {
                    Err(anyhow::anyhow!(
                        "cannot create bucket {}: {}",
                        self.bucket,
                        aws_sdk_s3::error::DisplayErrorContext(e)
                    ))
                }
            }
        }
    }

    /// Checks that the bucket answers (readiness).
    pub async fn ping(&self) -> anyhow::Result<()> {
        let res = self.client.head_bucket().bucket(&self.bucket).send().await;
        self.metrics.s3("head_bucket", res.is_ok());
        res.map(|_| ())
            .map_err(|e| anyhow::anyhow!("{}", aws_sdk_s3::error::DisplayErrorContext(e)))
    }

    /// Uploads `len` bytes of a local file to `key`, streaming them from disk.
    #[tracing::instrument(skip(self, file))]
    pub async fn put_file(
        &self,
        key: &str,
        file: tokio::fs::File,
        content_type: &str,
        len: u64,
    ) -> ApiResult<()> {
        let body = ByteStream::read_from()
            .file(file)
            .length(aws_sdk_s3::primitives::Length::Exact(len))
            .build()
            .await
            .map_err(ApiError::internal)?;
        let len = i64::try_from(len).map_err(ApiError::internal)?;
        let res = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .content_length(len)
            .body(body)
            .send()
            .await;
        self.metrics.s3("put_object", res.is_ok());
        res.map(|_| ())
            .map_err(|e| ApiError::storage(aws_sdk_s3::error::DisplayErrorContext(e)))
    }

    /// Uploads bytes held in memory (small objects: seeds, fixtures).
    pub async fn put_bytes(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> ApiResult<()> {
        let res = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(bytes))
            .send()
            .await;
        self.metrics.s3("put_object", res.is_ok());
        res.map(|_| ())
            .map_err(|e| ApiError::storage(aws_sdk_s3::error::DisplayErrorContext(e)))
    }

    /// The size of the object at `key`, or `None` when there is none.
    pub async fn object_size(&self, key: &str) -> ApiResult<Option<u64>> {
        let res = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await;
        match res {
            Ok(out) => {
                self.metrics.s3("head_object", true);
                Ok(Some(
                    out.content_length()
                        .and_then(|n| u64::try_from(n).ok())
                        .unwrap_or(0),
                ))
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => {
                self.metrics.s3("head_object", true);
                Ok(None)
            }
            Err(e) => {
                self.metrics.s3("head_object", false);
                Err(ApiError::storage(aws_sdk_s3::error::DisplayErrorContext(e)))
            }
        }
    }

    /// Removes the object at `key`; removing a missing object succeeds.
    #[tracing::instrument(skip(self))]
    pub async fn delete(&self, key: &str) -> ApiResult<()> {
        let res = self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await;
        self.metrics.s3("delete_object", res.is_ok());
        res.map(|_| ())
            .map_err(|e| ApiError::storage(aws_sdk_s3::error::DisplayErrorContext(e)))
    }
}
