//! Moving bytes between storage and the worker's disk through presigned URLs.
//!
//! Both directions stream: the original goes to a file chunk by chunk, and an output is
//! read from its file while it is sent. An upload carries exactly the headers the
//! gateway listed with the URL (its checksum and content type among them) and the exact
//! length declared in `createRenditionUpload`. Error messages never include a URL: its
//! query string is a signature.

use std::path::Path;

use reqwest::header::{CONTENT_LENGTH, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Response};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};

use super::client::SignedUrl;
use super::job::JobError;
use super::progress::Reporter;

/// Bytes read from a file at once while hashing.
const HASH_CHUNK: usize = 256 * 1024;

/// Downloads `url` into `dest`; `expected` is the size the gateway announced. Returns the
/// bytes written.
pub async fn download(
    http: &reqwest::Client,
    url: &SignedUrl,
    dest: &Path,
    expected: Option<u64>,
    reporter: &mut Reporter<'_>,
) -> Result<u64, JobError> {
    let failed = |what: String| JobError::retry(format!("download of the original failed: {what}"));

    // Ask.
    let request = http
        .request(method(url, Method::GET)?, &url.url)
        .headers(headers(url)?);
    let mut response = request
        .send()
        .await
        .map_err(|e| failed(e.without_url().to_string()))?;
    if !response.status().is_success() {
        return Err(failed(refusal(response).await));
    }
    let total = expected.or(response.content_length());

    // Stream to the file, reporting how far it got.
    let file = tokio::fs::File::create(dest)
        .await
        .map_err(|e| failed(format!("cannot create {}: {e}", dest.display())))?;
    let mut file = BufWriter::new(file);
    let mut written: u64 = 0;
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| failed(e.without_url().to_string()))?
    {
        file.write_all(&chunk)
            .await
            .map_err(|e| failed(format!("cannot write {}: {e}", dest.display())))?;
        written += chunk.len() as u64;
        let done = total.filter(|t| *t > 0).map(|t| written as f64 / t as f64);
        reporter.advance(done).await?;
    }
    file.flush()
        .await
        .map_err(|e| failed(format!("cannot write {}: {e}", dest.display())))?;

    // A short body is a failed download, not a short file.
    if let Some(expected) = expected
        && written != expected
    {
        return Err(failed(format!(
            "got {written} bytes where the file has {expected}"
        )));
    }
    Ok(written)
}

/// Size and lower-case hex SHA-256 of a file, read in chunks.
pub async fn digest(path: &Path) -> std::io::Result<(u64, String)> {
    let mut file = tokio::fs::File::open(path).await?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0_u8; HASH_CHUNK];
    let mut size: u64 = 0;
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hex::encode(hasher.finalize())))
}

/// Sends the `size` bytes of `path` to a presigned upload URL.
pub async fn upload(
    http: &reqwest::Client,
    put: &SignedUrl,
    path: &Path,
    size: u64,
) -> Result<(), JobError> {
    let failed = |what: String| JobError::retry(format!("upload to storage failed: {what}"));

    // The listed headers, and the length unless listed.
    let mut headers = headers(put)?;
    if !headers.contains_key(CONTENT_LENGTH) {
        headers.insert(CONTENT_LENGTH, HeaderValue::from(size));
    }

    // Stream the file as the body.
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| failed(format!("cannot open {}: {e}", path.display())))?;
    let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(file));
    let response = http
        .request(method(put, Method::PUT)?, &put.url)
        .headers(headers)
        .body(body)
        .send()
        .await
        .map_err(|e| failed(e.without_url().to_string()))?;
    if !response.status().is_success() {
        return Err(failed(refusal(response).await));
    }
    Ok(())
}

/// The method the URL was signed for, `default` when the gateway did not say.
fn method(url: &SignedUrl, default: Method) -> Result<Method, JobError> {
    match &url.method {
        None => Ok(default),
        Some(m) => Method::from_bytes(m.as_bytes()).map_err(|_| {
            JobError::permanent(format!("the gateway signed an unusable method {m:?}"))
        }),
    }
}

/// The headers listed with a presigned URL.
fn headers(url: &SignedUrl) -> Result<HeaderMap, JobError> {
    let mut map = HeaderMap::new();
    for h in &url.headers {
        let name = HeaderName::from_bytes(h.name.as_bytes());
        let value = HeaderValue::from_str(&h.value);
        let (Ok(name), Ok(value)) = (name, value) else {
            return Err(JobError::permanent(format!(
                "the gateway listed an unusable header {:?}",
                h.name
            )));
        };
        map.append(name, value);
    }
    Ok(map)
}

/// "HTTP 403 (SignatureDoesNotMatch)": the status and, from an S3 error body, its code.
async fn refusal(response: Response) -> String {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    let code = body
        .split_once("<Code>")
        .and_then(|(_, rest)| rest.split_once("</Code>"))
        .map(|(code, _)| code.trim())
        .filter(|code| !code.is_empty() && code.len() <= 64);
    match code {
        Some(code) => format!("HTTP {} ({code})", status.as_u16()),
        None => format!("HTTP {}", status.as_u16()),
    }
}
