//! Running ffmpeg and reading what it says while it works.
//!
//! ffmpeg runs with `-loglevel level+warning`, so every stderr line is a warning or worse
//! and carries its level in brackets. With [`Stdout::Progress`], `-progress pipe:1`
//! writes `key=value` blocks to stdout, of which `out_time_us` tells how far it got; with
//! [`Stdout::Pcm`], stdout is the decoded audio itself. [`Ffmpeg::next_event`] merges
//! both pipes into one stream of [`Event`]s. Dropping an [`Ffmpeg`] kills the process.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use anyhow::Context as _;
use bytes::BytesMut;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, ChildStdout, Command};

use super::client::Level;

/// Stderr lines kept for the error message when ffmpeg fails.
const TAIL_LINES: usize = 6;

/// Stderr lines forwarded as events per run; a damaged file can produce thousands.
const MAX_FORWARDED_LINES: usize = 200;

/// Bytes read from stdout at once in [`Stdout::Pcm`] mode.
const PCM_CHUNK: usize = 64 * 1024;

/// Options every run starts with: no banner, no prompt, warnings only, tagged by level.
pub const COMMON_ARGS: [&str; 6] = [
    "-hide_banner",
    "-nostdin",
    "-nostats",
    "-loglevel",
    "level+warning",
    "-y",
];

/// Checks that `ffmpeg -version` runs; the error says how to install it.
pub async fn check_ffmpeg(ffmpeg: &Path) -> anyhow::Result<()> {
    let output = Command::new(ffmpeg)
        .arg("-version")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await;
    let output = match output {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let place = if ffmpeg.components().count() > 1 {
                format!("at {}", ffmpeg.display())
            } else {
                "on PATH".to_owned()
            };
            anyhow::bail!(
                "{} not found {place}: install ffmpeg (Debian: apt-get install ffmpeg)",
                ffmpeg.display()
            );
        }
        Err(e) => anyhow::bail!("cannot run {} -version: {e}", ffmpeg.display()),
    };
    if !output.status.success() {
        anyhow::bail!("{} -version {}", ffmpeg.display(), describe(output.status));
    }
    let version = String::from_utf8_lossy(&output.stdout);
    let first = version.lines().next().unwrap_or_default();
    tracing::info!(ffmpeg = %ffmpeg.display(), version = first, "ffmpeg found");
    Ok(())
}

/// What ffmpeg's stdout carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stdout {
    /// `-progress pipe:1` lines.
    Progress,
    /// Raw decoded samples (`-f s16le pipe:1`).
    Pcm,
}

/// Something ffmpeg reported.
#[derive(Debug)]
pub enum Event {
    /// Media time written so far (`out_time_us`).
    Progress(Duration),
    /// A stderr line, without its level tag.
    Log { level: Level, line: String },
    /// A chunk of decoded samples.
    Pcm(BytesMut),
}

/// A running ffmpeg.
pub struct Ffmpeg {
    child: Child,
    /// `-progress` lines; `None` once closed or in PCM mode.
    progress: Option<Lines<BufReader<ChildStdout>>>,
    /// Decoded samples; `None` once closed or in progress mode.
    pcm: Option<ChildStdout>,
    /// `None` once closed.
    stderr: Option<Lines<BufReader<ChildStderr>>>,
    /// The last stderr lines, for the error message.
    tail: VecDeque<String>,
    /// Stderr lines turned into events so far.
    forwarded: usize,
}

impl Ffmpeg {
    /// Starts `ffmpeg` with [`COMMON_ARGS`] followed by `args`.
    pub fn spawn(ffmpeg: &Path, args: &[OsString], stdout: Stdout) -> anyhow::Result<Self> {
        let mut child = Command::new(ffmpeg)
            .args(COMMON_ARGS)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", ffmpeg.display()))?;
        let out = child
            .stdout
            .take()
            .context("ffmpeg's stdout is not piped")?;
        let err = child
            .stderr
            .take()
            .context("ffmpeg's stderr is not piped")?;
        let (progress, pcm) = match stdout {
            Stdout::Progress => (Some(BufReader::new(out).lines()), None),
            Stdout::Pcm => (None, Some(out)),
        };
        Ok(Self {
            child,
            progress,
            pcm,
            stderr: Some(BufReader::new(err).lines()),
            tail: VecDeque::with_capacity(TAIL_LINES),
            forwarded: 0,
        })
    }

    /// The next event; `None` once ffmpeg has closed both pipes.
    pub async fn next_event(&mut self) -> std::io::Result<Option<Event>> {
        loop {
            let stdout_open = self.progress.is_some() || self.pcm.is_some();
            if !stdout_open && self.stderr.is_none() {
                return Ok(None);
            }
            tokio::select! {
                line = next_line(&mut self.stderr), if self.stderr.is_some() => match line? {
                    Some(line) => {
                        if let Some(event) = self.stderr_line(line) {
                            return Ok(Some(event));
                        }
                    }
                    None => self.stderr = None,
                },
                line = next_line(&mut self.progress), if self.progress.is_some() => match line? {
                    Some(line) => {
                        if let Some(time) = out_time(&line) {
                            return Ok(Some(Event::Progress(time)));
                        }
                    }
                    None => self.progress = None,
                },
                chunk = next_chunk(&mut self.pcm), if self.pcm.is_some() => match chunk? {
                    Some(chunk) => return Ok(Some(Event::Pcm(chunk))),
                    None => self.pcm = None,
                },
            }
        }
    }

    /// Waits for ffmpeg to exit; the error names the exit status and ffmpeg's last lines.
    pub async fn finish(mut self) -> anyhow::Result<()> {
        // Drain the pipes so that ffmpeg never blocks writing to them.
        while self.next_event().await?.is_some() {}

        let status = self.child.wait().await?;
        if status.success() {
            return Ok(());
        }
        let tail: Vec<&str> = self.tail.iter().map(String::as_str).collect();
        anyhow::bail!("ffmpeg {}: {}", describe(status), tail.join(" / "))
    }

    /// Keeps a stderr line for the error message and forwards it, up to a limit.
    fn stderr_line(&mut self, line: String) -> Option<Event> {
        let (level, line) = parse_level(&line)?;
        if self.tail.len() == TAIL_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(line.clone());
        self.forwarded += 1;
        match self.forwarded.cmp(&MAX_FORWARDED_LINES) {
            std::cmp::Ordering::Less => Some(Event::Log { level, line }),
            std::cmp::Ordering::Equal => Some(Event::Log {
                level: Level::Warn,
                line: format!(
                    "further ffmpeg messages are not forwarded (limit {MAX_FORWARDED_LINES})"
                ),
            }),
            std::cmp::Ordering::Greater => None,
        }
    }
}

/// The next line of a pipe that may be closed already (then it never resolves).
async fn next_line<R: tokio::io::AsyncBufRead + Unpin>(
    lines: &mut Option<Lines<R>>,
) -> std::io::Result<Option<String>> {
    match lines {
        Some(lines) => lines.next_line().await,
        None => std::future::pending().await,
    }
}

/// The next chunk of a pipe that may be closed already (then it never resolves).
async fn next_chunk(pipe: &mut Option<ChildStdout>) -> std::io::Result<Option<BytesMut>> {
    let Some(pipe) = pipe else {
        return std::future::pending().await;
    };
    let mut chunk = BytesMut::with_capacity(PCM_CHUNK);
    let n = pipe.read_buf(&mut chunk).await?;
    Ok((n > 0).then_some(chunk))
}

/// `out_time_us=3005147` as a duration; `N/A` and other keys give `None`.
fn out_time(line: &str) -> Option<Duration> {
    let micros = line
        .strip_prefix("out_time_us=")?
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(Duration::from_micros(micros))
}

/// Splits the `[warning]`-style tag off a stderr line; `None` for a blank line.
///
/// The tag follows the context prefix when there is one (`[mp3 @ 0x55…] [error] …`).
/// Untagged lines are taken as warnings.
fn parse_level(line: &str) -> Option<(Level, String)> {
    const TAGS: [(&str, Level); 6] = [
        ("[warning] ", Level::Warn),
        ("[error] ", Level::Error),
        ("[fatal] ", Level::Error),
        ("[panic] ", Level::Error),
        ("[info] ", Level::Info),
        ("[verbose] ", Level::Info),
    ];
    let line = line.trim_end();
    if line.trim().is_empty() {
        return None;
    }
    for (tag, level) in TAGS {
        if let Some(at) = line.find(tag) {
            let rest = format!("{}{}", &line[..at], &line[at + tag.len()..]);
            return Some((level, rest));
        }
    }
    Some((Level::Warn, line.to_owned()))
}

/// "exited with status 1" or "was killed by signal 9".
fn describe(status: ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("was killed by signal {signal}");
        }
    }
    match status.code() {
        Some(code) => format!("exited with status {code}"),
        None => "ended without an exit status".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_tag_is_found_after_the_context_prefix() {
        let (level, line) = parse_level("[mp3float @ 0x55b6] [error] Header missing").unwrap();

        assert_eq!(level, Level::Error);
        assert_eq!(line, "[mp3float @ 0x55b6] Header missing");
    }

    #[test]
    fn fatal_lines_are_errors_and_untagged_lines_warnings() {
        assert_eq!(
            parse_level("[fatal] Unknown encoder 'x'").unwrap().0,
            Level::Error
        );
        assert_eq!(parse_level("something odd").unwrap().0, Level::Warn);
        assert!(parse_level("   ").is_none());
    }

    #[test]
    fn out_time_is_read_in_microseconds() {
        assert_eq!(
            out_time("out_time_us=3005147"),
            Some(Duration::from_micros(3_005_147))
        );
        assert_eq!(out_time("out_time_us=N/A"), None);
        assert_eq!(out_time("out_time_ms=3005147"), None);
    }
}
