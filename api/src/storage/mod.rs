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
pub mod spool;

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
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

    /// Sorts the outcome of one S3 call, counting it: the value; or an S3 error code listed
    /// in `expected` (storage answered, the caller decides what it means); or a failure,
    /// logged here and reported as `STORAGE_UNAVAILABLE`.
    fn sort<T, E>(
        &self,
        op: &str,
        res: Result<T, SdkError<E>>,
        expected: &[&str],
    ) -> ApiResult<Result<T, String>>
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        match res {
            Ok(v) => {
                self.metrics.s3(op, true);
                Ok(Ok(v))
            }
            Err(e) => match e
                .as_service_error()
                .and_then(|s| s.code())
                .filter(|c| expected.contains(c))
            {
                Some(code) => {
                    self.metrics.s3(op, true);
                    Ok(Err(code.to_owned()))
                }
                None => {
                    self.metrics.s3(op, false);
                    Err(ApiError::storage(format_args!(
                        "{op}: {}",
                        DisplayErrorContext(e)
                    )))
                }
            },
        }
    }

    /// The value of one S3 call, any error being a storage failure.
    fn check<T, E>(&self, op: &str, res: Result<T, SdkError<E>>) -> ApiResult<T>
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        self.sort(op, res, &[])?.map_err(ApiError::storage)
    }

    /// Uploads `len` bytes of a local file whose SHA-256 is `sha256_hex` to `key`,
    /// streaming them from disk once.
    ///
    /// The payload is not signed (signing it would read the whole file once more before
    /// sending); instead the request carries the SHA-256 as `x-amz-checksum-sha256`, which
    /// the signature covers and storage checks against the bytes it receives.
    #[tracing::instrument(skip(self, file))]
    pub async fn put_file(
        &self,
        key: &str,
        file: tokio::fs::File,
        content_type: &str,
        len: u64,
        sha256_hex: &str,
    ) -> ApiResult<()> {
        let body = ByteStream::read_from()
            .file(file)
            .length(aws_sdk_s3::primitives::Length::Exact(len))
            .build()
            .await
            .map_err(ApiError::internal)?;
        let len = i64::try_from(len).map_err(ApiError::internal)?;
        let checksum = presign::checksum_header(sha256_hex);
        let req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .checksum_sha256(checksum);
        self.check(
            "put_object",
            req.content_length(len)
                .body(body)
                .customize()
                .disable_payload_signing()
                .send()
                .await,
        )
        .map(|_| ())
    }

    /// Uploads bytes held in memory (small objects: seeds, fixtures).
    pub async fn put_bytes(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> ApiResult<()> {
        let req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type);
        self.check("put_object", req.body(ByteStream::from(bytes)).send().await)
            .map(|_| ())
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
        Ok(self
            .sort("head_object", res, &["NotFound", "NoSuchKey"])?
            .ok()
            .map(|out| {
                out.content_length()
                    .and_then(|n| u64::try_from(n).ok())
                    .unwrap_or(0)
            }))
    }

    /// Starts a multipart upload to `key`; returns its upload id.
    pub async fn create_multipart(&self, key: &str, content_type: &str) -> ApiResult<String> {
        let req = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key);
        let out = self.check(
            "create_multipart_upload",
            req.content_type(content_type).send().await,
        )?;
        out.upload_id()
            .map(str::to_owned)
            .ok_or_else(|| ApiError::storage("no upload id in the answer"))
    }

    /// Parts uploaded so far: (part number, ETag, size). `None` when the upload is gone.
    pub async fn list_parts(
        &self,
        key: &str,
        upload_id: &str,
    ) -> ApiResult<Option<Vec<(i32, String, i64)>>> {
        let mut parts = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let req = self
                .client
                .list_parts()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id);
            let res = req.set_part_number_marker(marker.clone()).send().await;
            let Ok(out) = self.sort("list_parts", res, &["NoSuchUpload"])? else {
                return Ok(None);
            };
            for p in out.parts() {
                if let (Some(n), Some(etag)) = (p.part_number(), p.e_tag()) {
                    parts.push((n, etag.to_owned(), p.size().unwrap_or(0)));
                }
            }
            if out.is_truncated() != Some(true) {
                return Ok(Some(parts));
            }
            marker = out.next_part_number_marker().map(str::to_owned);
        }
    }

    /// Assembles the parts of a multipart upload into its object. `Ok(false)` when storage
    /// refuses the parts (missing, too small, wrong ETag).
    pub async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(i32, String)],
    ) -> ApiResult<bool> {
        use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
        let completed = CompletedMultipartUpload::builder()
            .set_parts(Some(
                parts
                    .iter()
                    .map(|(n, etag)| CompletedPart::builder().part_number(*n).e_tag(etag).build())
                    .collect(),
            ))
            .build();
        let req = self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id);
        let res = req.multipart_upload(completed).send().await;
        let refused = [
            "InvalidPart",
            "InvalidPartOrder",
            "EntityTooSmall",
            "NoSuchUpload",
        ];
        Ok(self
            .sort("complete_multipart_upload", res, &refused)?
            .is_ok())
    }

    /// Abandons a multipart upload; abandoning one that is gone succeeds.
    pub async fn abort_multipart(&self, key: &str, upload_id: &str) -> ApiResult<()> {
        let req = self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id);
        self.sort(
            "abort_multipart_upload",
            req.send().await,
            &["NoSuchUpload"],
        )
        .map(|_| ())
    }

    /// Copies an object within the bucket (up to 5 GiB, S3's limit for one copy).
    pub async fn copy(&self, from: &str, to: &str) -> ApiResult<()> {
        let req = self
            .client
            .copy_object()
            .bucket(&self.bucket)
            .copy_source(format!("{}/{from}", self.bucket));
        self.check("copy_object", req.key(to).send().await)
            .map(|_| ())
    }

    /// Streams the object at `key` into a temporary file, hashing it on the way.
    pub async fn spool(&self, key: &str) -> ApiResult<spool::Spooled> {
        let res = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await;
        let mut body = self.check("get_object", res)?.body;
        let spool = spool::Spool::start();
        let received = loop {
            match body.try_next().await {
                Ok(Some(chunk)) => {
                    if spool.write(chunk).await.is_err() {
                        // The writer stopped on an I/O error, which `finish` returns.
                        break Ok(());
                    }
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(ApiError::storage(e)),
            }
        };
        // A storage error first: it is the cause when both happen.
        let written = spool.finish().await;
        received?;
        written.map_err(ApiError::internal)
    }

    /// Sets the bucket's CORS rules so browsers on `origins` can PUT and GET through
    /// presigned URLs. `Ok(false)` when the server does not support bucket CORS.
    pub async fn set_cors(&self, origins: &[String]) -> anyhow::Result<bool> {
        use aws_sdk_s3::types::{CorsConfiguration, CorsRule};
        let rule = CorsRule::builder()
            .set_allowed_origins(Some(origins.to_vec()))
            .set_allowed_methods(Some(vec!["GET".into(), "PUT".into(), "HEAD".into()]))
            .set_allowed_headers(Some(vec!["*".into()]))
            .set_expose_headers(Some(vec![
                "ETag".into(),
                "Content-Length".into(),
                "Content-Range".into(),
            ]))
            .max_age_seconds(3600)
            .build()?;
        let config = CorsConfiguration::builder().cors_rules(rule).build()?;
        let res = self
            .client
            .put_bucket_cors()
            .bucket(&self.bucket)
            .cors_configuration(config)
            .send()
            .await;
        self.metrics.s3("put_bucket_cors", res.is_ok());
        match res {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.meta().code() == Some("NotImplemented")) =>
            {
                Ok(false)
            }
            Err(e) => Err(anyhow::anyhow!(
                "cannot set bucket CORS: {}",
                aws_sdk_s3::error::DisplayErrorContext(e)
            )),
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
        self.check("delete_object", res).map(|_| ())
    }
}
