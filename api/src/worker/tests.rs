//! What the worker does with real jobs is tested end to end against a running wavegate
//! and its S3 server (`tests/tests/api/reference_worker.rs`); here, what needs no server.

use std::path::Path;

use super::*;

#[tokio::test]
async fn missing_ffmpeg_is_named_with_the_way_to_install_it() {
    let e = check_ffmpeg(Path::new("ffmpeg-that-is-not-there"))
        .await
        .unwrap_err();

    assert_eq!(
        e.to_string(),
        "ffmpeg-that-is-not-there not found on PATH: install ffmpeg (Debian: apt-get install ffmpeg)"
    );
}
