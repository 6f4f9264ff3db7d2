//! Checks of client-supplied text, each failing with a `BAD_USER_INPUT` that names the
//! argument.

use crate::error::{ApiError, ApiResult};

/// Longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest original filename, in characters.
pub const MAX_FILENAME_CHARS: usize = 255;

/// A title: trimmed, 1 to 200 characters, no control characters.
pub fn title(raw: &str) -> ApiResult<String> {
    let title = raw.trim();
    if title.is_empty() {
        return Err(ApiError::bad_input("title must not be empty"));
    }
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(ApiError::bad_input(format!(
            "title must be at most {MAX_TITLE_CHARS} characters"
        )));
    }
    if title.chars().any(char::is_control) {
        return Err(ApiError::bad_input(
            "title must not contain control characters",
        ));
    }
    Ok(title.to_owned())
}

/// A filename as the client named it: its last path segment, 1 to 255 characters, no
/// control characters. It is only ever shown back, never used in an object key.
pub fn filename(raw: &str) -> ApiResult<String> {
    let name = raw.rsplit(['/', '\\']).next().unwrap_or(raw).trim();
    if name.is_empty() || name == "." || name == ".." {
        return Err(ApiError::bad_input("filename must name a file"));
    }
    if name.chars().count() > MAX_FILENAME_CHARS {
        return Err(ApiError::bad_input(format!(
            "filename must be at most {MAX_FILENAME_CHARS} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(ApiError::bad_input(
            "filename must not contain control characters",
        ));
    }
    Ok(name.to_owned())
}

/// An audio MIME type: `audio/<subtype>` or `application/ogg`, parameters dropped,
/// lower-cased.
pub fn audio_content_type(raw: &str) -> ApiResult<String> {
    let essence = raw
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let valid_token = |s: &str| {
        !s.is_empty()
            && s.len() <= 100
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    match essence.split_once('/') {
        Some(("audio", sub)) if valid_token(sub) => Ok(essence),
        Some(("application", "ogg")) => Ok(essence),
        _ => Err(ApiError::bad_input(format!(
            "contentType must be an audio type such as audio/mpeg, got {:?}",
            raw.chars().take(100).collect::<String>()
        ))),
    }
}

/// A job kind (`transcode`, `waveform`): 1 to 32 of `a-z`, `0-9`, `-`, `_`, starting
/// with a letter.
pub fn job_kind(raw: &str) -> ApiResult<String> {
    short_name("kind", raw)
}

/// A rendition format (`mp3-128`, `waveform-json`): like a job kind, digits first allowed.
pub fn rendition_format(raw: &str) -> ApiResult<String> {
    short_name("format", raw)
}

fn short_name(what: &str, raw: &str) -> ApiResult<String> {
    let ok = (1..=32).contains(&raw.len())
        && raw
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !ok {
        return Err(ApiError::bad_input(format!(
            "{what} must be 1 to 32 of a-z, 0-9, '-' or '_', got {:?}",
            raw.chars().take(40).collect::<String>()
        )));
    }
    Ok(raw.to_owned())
}

/// The MIME type of a rendition: an audio type, or `application/json` and the like for
/// derived data such as waveform peaks; parameters dropped, lower-cased.
pub fn rendition_content_type(raw: &str) -> ApiResult<String> {
    if let Ok(audio) = audio_content_type(raw) {
        return Ok(audio);
    }
    let essence = raw
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/json" | "application/octet-stream" | "image/png" | "image/svg+xml" => {
            Ok(essence)
        }
        _ => Err(ApiError::bad_input(format!(
            "contentType must be an audio type, application/json, application/octet-stream, \
             image/png or image/svg+xml, got {:?}",
            raw.chars().take(100).collect::<String>()
        ))),
    }
}

/// A lower-case hex SHA-256.
pub fn sha256(raw: &str) -> ApiResult<String> {
    let hex = raw.trim().to_ascii_lowercase();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::bad_input(
            "sha256 must be 64 hexadecimal characters",
        ));
    }
    Ok(hex)
}

/// The title a file gets when none is given: its filename without the extension.
pub fn default_title(filename: &str) -> String {
    let stem = match filename.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem,
        _ => filename,
    };
    stem.chars().take(MAX_TITLE_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filename_keeps_only_the_last_path_segment() {
        assert_eq!(
            filename("../../etc/passwd.mp3").ok().as_deref(),
            Some("passwd.mp3")
        );
        assert_eq!(
            filename("C:\\music\\take 1.wav").ok().as_deref(),
            Some("take 1.wav")
        );
        assert!(filename("dir/").is_err());
    }

    #[test]
    fn job_kinds_are_short_plain_names() {
        assert!(job_kind("transcode").is_ok());
        assert!(job_kind("loudness_r128").is_ok());
        assert!(job_kind("").is_err());
        assert!(job_kind("Transcode").is_err());
        assert!(job_kind("a/b").is_err());
        assert!(job_kind(&"x".repeat(33)).is_err());
    }

    #[test]
    fn content_type_must_be_audio() {
        assert_eq!(
            audio_content_type("Audio/MPEG; rate=44100").ok().as_deref(),
            Some("audio/mpeg")
        );
        assert!(audio_content_type("text/html").is_err());
        assert!(audio_content_type("audio/").is_err());
    }
}
