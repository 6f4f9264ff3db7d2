//! The embedded S3 server: s3s over s3s-fs, objects as files in the data dir.
//!
//! It runs in-process when no `WAVEGATE_S3_ENDPOINT` is set, so `cargo run` needs no
//! MinIO, and tests get a real S3 server on a free port. It verifies SigV4 signatures,
//! presigned URLs included (expiry and tampering), like any S3 server.
//!
//! s3s-fs ignores the `response-content-*` overrides of a GET, which presigned downloads
//! rely on for `Content-Disposition`, and lists multipart parts without their ETags, which
//! resuming an upload relies on; [`Embedded`] wraps it to answer both as S3 does.
//! Bucket CORS rules are not supported by s3s-fs.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A running embedded S3 server; dropping it stops accepting connections.
#[derive(Debug)]
pub struct EmbeddedS3 {
    /// The address it listens on (the real port when the configured one was 0).
    pub addr: SocketAddr,
    /// The accept loop.
    task: JoinHandle<()>,
    /// While false, every request is answered `503 Service Unavailable`: how tests play
    /// a storage outage against a real server.
    available: Arc<AtomicBool>,
}

impl Drop for EmbeddedS3 {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl EmbeddedS3 {
    /// Starts the server on `listen`, keeping objects under `root`.
    pub async fn start(
        listen: SocketAddr,
        root: &Path,
        access_key: &str,
        secret_key: &str,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(root)?;
        let fs = s3s_fs::FileSystem::new(root)
            .map_err(|e| anyhow::anyhow!("embedded S3 at {}: {e:?}", root.display()))?;
        let service = {
            let mut builder = s3s::service::S3ServiceBuilder::new(Embedded(fs, root.to_owned()));
            builder.set_auth(s3s::auth::SimpleAuth::from_single(
                access_key,
                secret_key.to_owned(),
            ));
            builder.build()
        };
        let listener = TcpListener::bind(listen).await.map_err(|e| {
            anyhow::anyhow!("WAVEGATE_EMBEDDED_S3_LISTEN: cannot bind {listen}: {e}")
        })?;
        let addr = listener.local_addr()?;
        let available = Arc::new(AtomicBool::new(true));
        let switch = available.clone();

        let task = tokio::spawn(async move {
            let http = ConnBuilder::new(TokioExecutor::new());
            loop {
                let socket = match listener.accept().await {
                    Ok((socket, _)) => socket,
                    Err(e) => {
                        tracing::warn!(error = %e, "embedded S3: accept failed");
                        continue;
                    }
                };
                let (service, available) = (service.clone(), available.clone());
                let gated = hyper::service::service_fn(move |req| {
                    let (service, up) = (service.clone(), available.load(Ordering::Relaxed));
                    async move {
                        if !up {
                            let mut unavailable = hyper::Response::new(s3s::Body::empty());
                            *unavailable.status_mut() = hyper::StatusCode::SERVICE_UNAVAILABLE;
                            return Ok(unavailable);
                        }
                        hyper::service::Service::call(&service, req).await
                    }
                });
                let conn = http
                    .serve_connection(TokioIo::new(socket), gated)
                    .into_owned();
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "embedded S3: connection ended with an error");
                    }
                });
            }
        });
        Ok(Self {
            addr,
            task,
            available: switch,
        })
    }

    /// The switch that makes the server answer (true) or fail every request (false).
    pub fn availability(&self) -> Arc<AtomicBool> {
        self.available.clone()
    }
}

/// s3s-fs (and its root directory), with what it lacks: the `response-content-*`
/// overrides of GET and the ETags of listed parts.
struct Embedded(s3s_fs::FileSystem, std::path::PathBuf);

/// Forwards S3 operations to s3s-fs unchanged. The methods are spelled the way
/// `async_trait` expands them, since the attribute does not see inside macro output.
macro_rules! forward {
    ($($op:ident: $input:ty => $output:ty;)*) => {
        $(
            fn $op<'life0, 'async_trait>(
                &'life0 self,
                req: S3Request<$input>,
            ) -> Pin<Box<dyn Future<Output = S3Result<S3Response<$output>>> + Send + 'async_trait>>
            where
                'life0: 'async_trait,
                Self: 'async_trait,
            {
                Box::pin(async move { self.0.$op(req).await })
            }
        )*
    };
}

#[async_trait::async_trait]
impl S3 for Embedded {
    forward! {
        create_bucket: CreateBucketInput => CreateBucketOutput;
        head_bucket: HeadBucketInput => HeadBucketOutput;
        delete_bucket: DeleteBucketInput => DeleteBucketOutput;
        list_buckets: ListBucketsInput => ListBucketsOutput;
        get_bucket_location: GetBucketLocationInput => GetBucketLocationOutput;
        put_object: PutObjectInput => PutObjectOutput;
        head_object: HeadObjectInput => HeadObjectOutput;
        copy_object: CopyObjectInput => CopyObjectOutput;
        delete_object: DeleteObjectInput => DeleteObjectOutput;
        delete_objects: DeleteObjectsInput => DeleteObjectsOutput;
        list_objects: ListObjectsInput => ListObjectsOutput;
        list_objects_v2: ListObjectsV2Input => ListObjectsV2Output;
        create_multipart_upload: CreateMultipartUploadInput => CreateMultipartUploadOutput;
        upload_part: UploadPartInput => UploadPartOutput;
        upload_part_copy: UploadPartCopyInput => UploadPartCopyOutput;
        complete_multipart_upload: CompleteMultipartUploadInput => CompleteMultipartUploadOutput;
        abort_multipart_upload: AbortMultipartUploadInput => AbortMultipartUploadOutput;
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let upload_id = req.input.upload_id.clone();
        let mut resp = self.0.list_parts(req).await?;
        // s3s-fs keeps each part as `.upload_id-<id>.part-<n>` in its root; a part's ETag
        // is the MD5 of its bytes, as s3s-fs answered when the part was uploaded.
        for part in resp.output.parts.iter_mut().flatten() {
            let Some(n) = part.part_number else { continue };
            let path = self.1.join(format!(".upload_id-{upload_id}.part-{n}"));
            let md5 = tokio::task::spawn_blocking(move || file_md5(&path)).await;
            if let Ok(Ok(hex)) = md5 {
                part.e_tag = Some(ETag::Strong(hex));
            }
        }
        Ok(resp)
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let disposition = req.input.response_content_disposition.clone();
        let content_type = req.input.response_content_type.clone();
        let mut resp = self.0.get_object(req).await?;
        if disposition.is_some() {
            resp.output.content_disposition = disposition;
        }
        if let Some(ct) = content_type {
            resp.output.content_type = Some(ct);
        }
        Ok(resp)
    }
}

/// Hex MD5 of a file, read in 256 KiB chunks.
fn file_md5(path: &Path) -> std::io::Result<String> {
    use md5::Digest;
    use std::io::Read;

    let mut file = std::fs::File::open(path)?;
    let mut hasher = md5::Md5::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}
