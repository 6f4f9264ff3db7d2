//! The outputs of each job kind, made with ffmpeg.
//!
//! - `transcode`: one ffmpeg run per rendition in [`RENDITIONS`], the first audio stream
//!   only, progress from `out_time_us` against the file's duration.
//! - `waveform`: one ffmpeg run decoding to mono 16-bit PCM at
//!   [`waveform::SAMPLE_RATE`] on its stdout, folded into peaks as it comes, progress
//!   from the samples read; the peaks are written as `waveform-json`.
//!
//! ffmpeg's stderr lines go to the job's log at their own level, tagged with the format.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use super::WorkerConfig;
use super::ffmpeg::{Event, Ffmpeg, Stdout};
use super::job::{JobError, Output};
use super::progress::Reporter;
use super::waveform::{self, Peaks};

/// The job kinds this worker knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Transcode,
    Waveform,
}

impl Kind {
    /// Their names, as `claimJob` takes them.
    pub const NAMES: [&'static str; 2] = ["transcode", "waveform"];

    /// The kind called `name`, if this worker knows it.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "transcode" => Some(Self::Transcode),
            "waveform" => Some(Self::Waveform),
            _ => None,
        }
    }
}

/// One rendition that `transcode` makes.
struct Rendition {
    format: &'static str,
    content_type: &'static str,
    bitrate: i32,
    /// File name of the output in the job's directory.
    file: &'static str,
    /// Encoder, bitrate and container options.
    codec: [&'static str; 6],
}

/// What `transcode` makes, in order.
const RENDITIONS: [Rendition; 2] = [
    Rendition {
        format: "mp3-128",
        content_type: "audio/mpeg",
        bitrate: 128_000,
        file: "mp3-128.mp3",
        codec: ["-c:a", "libmp3lame", "-b:a", "128k", "-f", "mp3"],
    },
    Rendition {
        format: "opus-64",
        content_type: "audio/ogg",
        bitrate: 64_000,
        file: "opus-64.ogg",
        codec: ["-c:a", "libopus", "-b:a", "64k", "-f", "ogg"],
    },
];

/// Share of the job's progress that making the outputs covers (download before, uploads
/// after).
const MAKING: (f64, f64) = (0.1, 0.9);

/// Makes every rendition of [`RENDITIONS`] from `original` in `dir`.
pub async fn transcode(
    config: &WorkerConfig,
    original: &Path,
    duration_ms: Option<i64>,
    dir: &Path,
    reporter: &mut Reporter<'_>,
) -> Result<Vec<Output>, JobError> {
    let share = (MAKING.1 - MAKING.0) / RENDITIONS.len() as f64;
    let mut outputs = Vec::with_capacity(RENDITIONS.len());
    for (i, rendition) in RENDITIONS.iter().enumerate() {
        let start = MAKING.0 + share * i as f64;
        let fields = json!({ "format": rendition.format, "bitrate": rendition.bitrate });
        let message = format!("transcoding to {}", rendition.format);
        reporter
            .step(start, start + share, &message, fields)
            .await?;

        let path = dir.join(rendition.file);
        let mut args: Vec<OsString> = ["-progress", "pipe:1", "-i"].map(OsString::from).into();
        args.push(original.into());
        args.extend(["-map", "0:a:0", "-vn"].map(OsString::from));
        args.extend(rendition.codec.map(OsString::from));
        args.push(path.clone().into());
        let ffmpeg = Ffmpeg::spawn(&config.ffmpeg, &args, Stdout::Progress)
            .map_err(|e| JobError::retry(format!("{e:#}")))?;
        drive(ffmpeg, rendition.format, duration_ms, None, reporter).await?;

        outputs.push(Output {
            format: rendition.format,
            content_type: rendition.content_type,
            bitrate: Some(rendition.bitrate),
            path,
        });
    }
    Ok(outputs)
}

/// Makes the `waveform-json` peaks of `original` in `dir`.
pub async fn waveform(
    config: &WorkerConfig,
    original: &Path,
    duration_ms: Option<i64>,
    dir: &Path,
    reporter: &mut Reporter<'_>,
) -> Result<Vec<Output>, JobError> {
    const FORMAT: &str = "waveform-json";
    let rate = waveform::SAMPLE_RATE.to_string();
    let fields = json!({ "format": FORMAT, "sampleRate": waveform::SAMPLE_RATE });
    reporter
        .step(MAKING.0, MAKING.1, "computing the waveform", fields)
        .await?;

    // Decode, folding samples into peaks as they come.
    let mut args: Vec<OsString> = vec!["-i".into(), original.into()];
    args.extend(["-map", "0:a:0", "-vn", "-ac", "1", "-ar"].map(OsString::from));
    args.push(rate.into());
    args.extend(["-c:a", "pcm_s16le", "-f", "s16le", "pipe:1"].map(OsString::from));
    let ffmpeg = Ffmpeg::spawn(&config.ffmpeg, &args, Stdout::Pcm)
        .map_err(|e| JobError::retry(format!("{e:#}")))?;
    let mut peaks = Peaks::for_duration(duration_ms);
    drive(ffmpeg, FORMAT, duration_ms, Some(&mut peaks), reporter).await?;

    // Write the document.
    let document = peaks.finish();
    let path = dir.join("waveform.json");
    let bytes = serde_json::to_vec(&document)
        .map_err(|e| JobError::retry(format!("cannot encode the waveform: {e}")))?;
    tokio::fs::write(&path, bytes)
        .await
        .map_err(|e| JobError::retry(format!("cannot write {}: {e}", path.display())))?;
    Ok(vec![Output {
        format: FORMAT,
        content_type: "application/json",
        bitrate: None,
        path,
    }])
}

/// Forwards ffmpeg's events until it exits: progress, log lines, and (with `peaks`) the
/// decoded samples. Fails when ffmpeg exits non-zero or is killed.
async fn drive(
    mut ffmpeg: Ffmpeg,
    format: &str,
    duration_ms: Option<i64>,
    mut peaks: Option<&mut Peaks>,
    reporter: &mut Reporter<'_>,
) -> Result<(), JobError> {
    let broken = |e: std::io::Error| JobError::retry(format!("cannot read ffmpeg's output: {e}"));
    let done = |media: Duration| {
        let total_ms = duration_ms.filter(|ms| *ms > 0)?;
        Some(media.as_secs_f64() * 1000.0 / total_ms as f64)
    };

    while let Some(event) = ffmpeg.next_event().await.map_err(broken)? {
        match event {
            Event::Progress(media) => reporter.advance(done(media)).await?,
            Event::Log { level, line } => {
                let fields: Value = json!({ "format": format, "source": "ffmpeg" });
                reporter.log(level, &line, Some(fields)).await?;
            }
            Event::Pcm(chunk) => {
                if let Some(peaks) = peaks.as_deref_mut() {
                    peaks.push_bytes(&chunk);
                    let seconds = peaks.samples() as f64 / f64::from(waveform::SAMPLE_RATE);
                    reporter
                        .advance(done(Duration::from_secs_f64(seconds)))
                        .await?;
                }
            }
        }
    }
    ffmpeg
        .finish()
        .await
        .map_err(|e| JobError::retry(format!("{format}: {e:#}")))
}
