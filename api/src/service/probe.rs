//! Is it audio? Probes bytes with symphonia: container, codec, duration, sample rate,
//! channels, and the average bitrate; decodes the first packets so that bytes which only
//! look like audio are refused too.

use std::io::{Read, Seek};

use symphonia::core::codecs::{CODEC_TYPE_NULL, DecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

/// What probing found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AudioInfo {
    /// Codec short name (`mp3`, `flac`, `vorbis`, `pcm_s16le`, …).
    pub codec: Option<String>,
    pub duration_ms: Option<i32>,
    pub sample_rate: Option<i32>,
    pub channels: Option<i32>,
    /// Average bits per second over the whole file.
    pub bitrate: Option<i32>,
}

/// Whether probing must decode packets with a codec symphonia has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decode {
    /// Originals: bytes whose codec cannot be decoded here are refused.
    Required,
    /// Renditions made by workers: a codec symphonia cannot decode (Opus) is accepted
    /// when its container parses and yields packets.
    WhenSupported,
}

/// Packets decoded to prove the bytes are audio and not only a plausible header.
const PACKETS_TO_DECODE: usize = 4;

/// Probes a file that holds `size` bytes; `Err` says why it is not audio.
///
/// Reads the file once more when its header does not give the duration (MP3 without a
/// Xing header, for example), counting packets; it never holds the file in memory.
pub fn probe<R: Read + Seek + Send + Sync + 'static>(
    reader: R,
    size: u64,
    content_type: &str,
    filename: &str,
    decode: Decode,
) -> Result<AudioInfo, String> {
    let source = MediaSourceStream::new(Box::new(SeekableSource(reader, size)), Default::default());
    let mut hint = Hint::new();
    hint.mime_type(content_type);
    if let Some((_, ext)) = filename.rsplit_once('.') {
        hint.with_extension(&ext.to_ascii_lowercase());
    }

    // Find a container with an audio track.
    let probed = symphonia::default::get_probe()
        .format(
            &hint,
            source,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .map_err(|e| format!("not a recognised audio format ({})", short(&e)))?;
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .cloned()
        .ok_or("no audio track")?;
    let params = &track.codec_params;

    // Decode the first packets.
    let mut decoder =
        match symphonia::default::get_codecs().make(params, &DecoderOptions::default()) {
            Ok(d) => Some(d),
            Err(_) if decode == Decode::WhenSupported => None,
            Err(e) => return Err(format!("unsupported codec ({})", short(&e))),
        };
    let mut decoded = 0;
    let mut last_end: u64 = 0;
    while decoded < PACKETS_TO_DECODE {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                break;
            }
            Err(e) => return Err(format!("unreadable audio ({})", short(&e))),
        };
        if packet.track_id() != track.id {
            continue;
        }
        last_end = packet.ts + packet.dur;
        if let Some(decoder) = decoder.as_mut() {
            decoder
                .decode(&packet)
                .map_err(|e| format!("audio does not decode ({})", short(&e)))?;
        }
        decoded += 1;
    }
    if decoded == 0 {
        return Err("no audio packets".to_owned());
    }

    // Duration: from the header when it says, else by reading to the end.
    let frames = match params.n_frames {
        Some(n) => Some(n),
        None => {
            loop {
                match format.next_packet() {
                    Ok(p) if p.track_id() == track.id => last_end = p.ts + p.dur,
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            Some(last_end)
        }
    };
    let duration_ms = match (frames, params.time_base, params.sample_rate) {
        (Some(n), Some(tb), _) => {
            let t = tb.calc_time(n);
            Some(t.seconds as f64 * 1000.0 + t.frac * 1000.0)
        }
        (Some(n), None, Some(rate)) if rate > 0 => Some(n as f64 * 1000.0 / f64::from(rate)),
        _ => None,
    };
    let duration_ms = duration_ms
        .filter(|d| *d > 0.0)
        .map(|d| d.round().min(f64::from(i32::MAX)) as i32);
    let bitrate = duration_ms
        .map(|d| ((size as f64 * 8.0 * 1000.0) / f64::from(d)).min(f64::from(i32::MAX)) as i32);

    Ok(AudioInfo {
        codec: symphonia::default::get_codecs()
            .get_codec(params.codec)
            .map(|d| d.short_name.to_owned())
            .or_else(|| {
                (params.codec == symphonia::core::codecs::CODEC_TYPE_OPUS).then(|| "opus".into())
            }),
        duration_ms,
        sample_rate: params.sample_rate.and_then(|r| i32::try_from(r).ok()),
        channels: params.channels.and_then(|c| i32::try_from(c.count()).ok()),
        bitrate,
    })
}

/// A symphonia error without its (long) debug detail.
fn short(e: &SymphoniaError) -> String {
    e.to_string().chars().take(120).collect()
}

/// A seekable reader of known length, as symphonia wants it.
struct SeekableSource<R>(R, u64);

impl<R: Read> Read for SeekableSource<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl<R: Seek> Seek for SeekableSource<R> {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        self.0.seek(pos)
    }
}

impl<R: Read + Seek + Send + Sync> symphonia::core::io::MediaSource for SeekableSource<R> {
    fn is_seekable(&self) -> bool {
        true
    }

    fn byte_len(&self) -> Option<u64> {
        Some(self.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wav_is_probed_with_its_duration_and_format() -> Result<(), String> {
        let wav = crate::cli::seed::sine_wav(440.0, 1500, 8000);
        let size = wav.len() as u64;

        let info = probe(
            std::io::Cursor::new(wav),
            size,
            "audio/wav",
            "tone.wav",
            Decode::Required,
        )?;

        assert_eq!(info.codec.as_deref(), Some("pcm_s16le"));
        assert_eq!(info.duration_ms, Some(1500));
        assert_eq!(info.sample_rate, Some(8000));
        assert_eq!(info.channels, Some(1));
        Ok(())
    }

    #[test]
    fn text_is_not_audio() {
        let bytes = b"<html>definitely not audio</html>".repeat(100);
        let size = bytes.len() as u64;

        assert!(
            probe(
                std::io::Cursor::new(bytes),
                size,
                "audio/mpeg",
                "song.mp3",
                Decode::WhenSupported
            )
            .is_err()
        );
    }
}
