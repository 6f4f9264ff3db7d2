//! Verifying an object against what a client declared: its size, its SHA-256 (streamed
//! once, never held in memory), and for audio that it really is audio.
//!
//! Used for uploaded originals and for the renditions workers upload.

use super::probe::{self, AudioInfo, Decode};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// What the object must be.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub size: i64,
    /// Lower-case hex SHA-256.
    pub sha256: &'a str,
    pub content_type: &'a str,
    /// A filename hint for the probe (its extension).
    pub filename: &'a str,
    /// Probe the bytes as audio, and how strictly; `None` checks size and hash alone.
    pub probe: Option<Decode>,
}

/// The outcome of a check.
#[derive(Debug)]
pub enum Checked {
    /// No object under the key yet.
    Missing,
    /// The bytes are not what was declared; the reason, for the client.
    Refused(String),
    /// The bytes match; what probing found, when asked to probe.
    Verified(Option<AudioInfo>),
}

/// Checks the object under `key` against `expected`.
pub async fn object(state: &AppState, key: &str, expected: Expected<'_>) -> ApiResult<Checked> {
    let Some(size) = state.storage.object_size(key).await? else {
        return Ok(Checked::Missing);
    };
    if i64::try_from(size).ok() != Some(expected.size) {
        return Ok(Checked::Refused(format!(
            "size is {size} bytes, {} were declared",
            expected.size
        )));
    }

    // Hash on the way to a temporary file, then probe that file.
    let spooled = state.storage.spool(key).await?;
    if spooled.size != size || spooled.sha256 != expected.sha256 {
        return Ok(Checked::Refused(
            "SHA-256 of the bytes does not match the declared one".to_owned(),
        ));
    }
    let Some(decode) = expected.probe else {
        return Ok(Checked::Verified(None));
    };
    let content_type = expected.content_type.to_owned();
    let filename = expected.filename.to_owned();
    let probed = tokio::task::spawn_blocking(move || {
        probe::probe(
            std::io::BufReader::new(spooled.file),
            spooled.size,
            &content_type,
            &filename,
            decode,
        )
    })
    .await
    .map_err(ApiError::internal)?;
    Ok(match probed {
        Ok(info) => Checked::Verified(Some(info)),
        Err(reason) => Checked::Refused(format!("not audio: {reason}")),
    })
}
