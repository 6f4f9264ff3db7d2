//! Presigned URLs for clients, minted only after an access check.
//!
//! Signed with rusty-s3 rather than aws-sdk-s3's `presigned()`: a page of 50 files signs
//! 50 URLs, and `bench/presign` measures rusty-s3 at a small fraction of the SDK's cost
//! per URL (figures in the README). aws-sdk-s3 stays the client for the calls the gateway
//! makes itself.

use std::borrow::Cow;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use secrecy::ExposeSecret;
use url::Url;

use crate::config::S3Settings;

/// Longest validity of a presigned URL S3 accepts: 7 days.
pub const MAX_EXPIRES_SECONDS: i64 = 7 * 24 * 3600;

/// A URL the client calls itself, with what it must send along.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presigned {
    /// The signed URL.
    pub url: String,
    /// HTTP method the signature covers.
    pub method: &'static str,
    /// When the signature stops being accepted.
    pub expires_at: DateTime<Utc>,
    /// Headers the signature covers, which the client must send unchanged.
    pub headers: Vec<(String, String)>,
}

/// How a download should be presented by the browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Disposition {
    /// Played or shown in place.
    Inline,
    /// Saved as a file under its original name.
    Attachment,
}

/// Signs URLs for one bucket with one set of credentials.
pub struct Presigner {
    /// Bucket addressed through the public endpoint.
    bucket: Bucket,
    /// Access key and secret.
    credentials: Credentials,
    /// GET URLs already signed, reused while most of their validity is left: the same
    /// file keeps the same URL for a while, so browsers and CDNs can cache the audio.
    reused: moka::sync::Cache<DownloadKey, Presigned>,
    /// Counts reuse hits and misses (`cache="presign"`), when given.
    metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
}

/// What makes two download URLs interchangeable.
type DownloadKey = (String, u64, String, Disposition, String);

/// Part of a URL's validity within which it is reused: one fifth, so a reused URL always
/// has at least four fifths of the asked-for lifetime left.
const REUSE_FRACTION: u32 = 5;

impl std::fmt::Debug for Presigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presigner")
            .field("bucket", &self.bucket.name())
            .finish_non_exhaustive()
    }
}

impl Presigner {
    /// A presigner whose URLs name `public_endpoint`.
    pub fn new(settings: &S3Settings, public_endpoint: &Url) -> anyhow::Result<Self> {
        let bucket = Bucket::new(
            public_endpoint.clone(),
            UrlStyle::Path,
            settings.bucket.clone(),
            settings.region.clone(),
        )
        .map_err(|e| anyhow::anyhow!("WAVEGATE_S3_PUBLIC_ENDPOINT: {e}"))?;
        let credentials = Credentials::new(
            settings.access_key.clone(),
            settings.secret_key.expose_secret().to_owned(),
        );
        let reused = moka::sync::Cache::builder().max_capacity(100_000).build();
        Ok(Self {
            bucket,
            credentials,
            reused,
            metrics: None,
        })
    }

    /// Counts URL reuse in `metrics`.
    pub fn with_metrics(mut self, metrics: std::sync::Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// A GET of `key` valid for `expires_in`, answered with `content_type` and, for
    /// attachments, a `Content-Disposition` naming `filename`. A URL signed for the same
    /// request less than a fifth of `expires_in` ago is reused.
    pub fn get(
        &self,
        key: &str,
        expires_in: Duration,
        content_type: &str,
        disposition: Disposition,
        filename: &str,
    ) -> Presigned {
        let id: DownloadKey = (
            key.to_owned(),
            expires_in.as_secs(),
            content_type.to_owned(),
            disposition,
            filename.to_owned(),
        );
        let fresh_enough = Utc::now()
            + chrono::Duration::from_std(expires_in - expires_in / REUSE_FRACTION)
                .unwrap_or_default();
        let count = |result: &str| {
            if let Some(m) = &self.metrics {
                m.cache_requests
                    .with_label_values(&["presign", result])
                    .inc();
            }
        };
        if let Some(url) = self
            .reused
            .get(&id)
            .filter(|u| u.expires_at >= fresh_enough)
        {
            count("hit");
            return url;
        }
        count("miss");
        let url = self.sign_get(key, expires_in, content_type, disposition, filename);
        self.reused.insert(id, url.clone());
        url
    }

    /// Signs a GET afresh (what [`Presigner::get`] does on a miss).
    pub fn sign_get(
        &self,
        key: &str,
        expires_in: Duration,
        content_type: &str,
        disposition: Disposition,
        filename: &str,
    ) -> Presigned {
        let now = Utc::now();
        let mut action = self.bucket.get_object(Some(&self.credentials), key);
        let header;
        if disposition == Disposition::Attachment {
            header = attachment_header(filename);
            action.query_mut().insert(
                "response-content-disposition",
                Cow::Borrowed(header.as_str()),
            );
        }
        action
            .query_mut()
            .insert("response-content-type", Cow::Borrowed(content_type));
        let url = action.sign(expires_in);
        Presigned {
            url: url.into(),
            method: "GET",
            expires_at: now
                + chrono::Duration::seconds(i64::try_from(expires_in.as_secs()).unwrap_or(0)),
            headers: Vec::new(),
        }
    }
}

impl Presigner {
    /// A PUT of exactly `size` bytes of `content_type` whose SHA-256 is `sha256_hex`: the
    /// signature covers all three, so storage itself refuses any other bytes.
    pub fn put(
        &self,
        key: &str,
        expires_in: Duration,
        content_type: &str,
        size: u64,
        sha256_hex: &str,
    ) -> Presigned {
        let now = Utc::now();
        let checksum = checksum_header(sha256_hex);
        let length = size.to_string();
        let mut action = self.bucket.put_object(Some(&self.credentials), key);
        action
            .headers_mut()
            .insert("content-type", Cow::Borrowed(content_type));
        action
            .headers_mut()
            .insert("content-length", Cow::Borrowed(length.as_str()));
        action
            .headers_mut()
            .insert("x-amz-checksum-sha256", Cow::Borrowed(checksum.as_str()));
        let url = action.sign(expires_in);
        Presigned {
            url: url.into(),
            method: "PUT",
            expires_at: now
                + chrono::Duration::seconds(i64::try_from(expires_in.as_secs()).unwrap_or(0)),
            headers: vec![
                ("Content-Type".to_owned(), content_type.to_owned()),
                ("Content-Length".to_owned(), length.clone()),
                ("x-amz-checksum-sha256".to_owned(), checksum.clone()),
            ],
        }
    }

    /// A PUT of one part of a multipart upload.
    pub fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: u16,
        expires_in: Duration,
    ) -> Presigned {
        let now = Utc::now();
        let action = rusty_s3::actions::UploadPart::new(
            &self.bucket,
            Some(&self.credentials),
            key,
            part_number,
            upload_id,
        );
        Presigned {
            url: action.sign(expires_in).into(),
            method: "PUT",
            expires_at: now
                + chrono::Duration::seconds(i64::try_from(expires_in.as_secs()).unwrap_or(0)),
            headers: Vec::new(),
        }
    }
}

/// The `x-amz-checksum-sha256` value of a hex SHA-256: the raw digest in base64.
pub fn checksum_header(sha256_hex: &str) -> String {
    use base64::Engine;
    let raw = hex::decode(sha256_hex).unwrap_or_default();
    base64::engine::general_purpose::STANDARD.encode(raw)
}

/// `attachment; filename="…"; filename*=UTF-8''…` (RFC 6266): an ASCII fallback with
/// quotes and control characters replaced, and the exact name percent-encoded.
pub fn attachment_header(filename: &str) -> String {
    let fallback: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = url::form_urlencoded::byte_serialize(filename.as_bytes())
        .collect::<String>()
        .replace('+', "%20");
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachment_header_keeps_unicode_and_escapes_quotes() {
        let header = attachment_header("näive \"mix\".mp3");

        assert_eq!(
            header,
            "attachment; filename=\"n_ive _mix_.mp3\"; filename*=UTF-8''n%C3%A4ive%20%22mix%22.mp3"
        );
    }
}
