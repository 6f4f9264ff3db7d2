//! Waveform peaks from decoded samples, in the JSON shape of audiowaveform and peaks.js.
//!
//! ffmpeg decodes the file to mono signed 16-bit little-endian PCM at [`SAMPLE_RATE`];
//! [`Peaks`] reads that stream in any chunking and keeps, for every `samples_per_pixel`
//! samples, the lowest and highest sample scaled to 8 bits. The number of samples per
//! pixel is chosen from the file's duration so that about [`TARGET_PIXELS`] pairs result;
//! when the duration is unknown or wrong, pixels are merged two by two whenever their
//! count reaches [`MAX_PIXELS`], so the output stays between 1000 and 2000 pairs (fewer
//! only for a file shorter than that many samples) without holding the audio in memory.

use serde::Serialize;

/// Samples per second that ffmpeg decodes to for peaks.
pub const SAMPLE_RATE: u32 = 8000;

/// Pixels aimed at when the duration is known.
pub const TARGET_PIXELS: u64 = 1500;

/// Pixel count at which neighbours are merged, halving it.
pub const MAX_PIXELS: usize = 2000;

/// The `waveform-json` document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Waveform {
    /// Format version of audiowaveform's JSON output; 2 has the `channels` key.
    pub version: u32,
    pub channels: u32,
    pub sample_rate: u32,
    pub samples_per_pixel: u64,
    /// Bits of each value in `data`.
    pub bits: u32,
    /// Pixels, that is `data.len() / 2`.
    pub length: usize,
    /// `min, max` for every pixel, from -128 to 127.
    pub data: Vec<i8>,
}

/// Builds peaks from a stream of samples.
#[derive(Debug, Clone)]
pub struct Peaks {
    samples_per_pixel: u64,
    /// Finished pixels, `min, max` each.
    data: Vec<i8>,
    /// Lowest sample of the pixel being filled.
    min: i8,
    /// Highest sample of the pixel being filled.
    max: i8,
    /// Samples in the pixel being filled.
    filled: u64,
    /// The first byte of a sample split across two chunks.
    odd_byte: Option<u8>,
    /// Samples seen, for progress.
    samples: u64,
}

impl Peaks {
    /// Peaks of `samples_per_pixel` samples each (at least 1).
    pub fn new(samples_per_pixel: u64) -> Self {
        Self {
            samples_per_pixel: samples_per_pixel.max(1),
            data: Vec::with_capacity(MAX_PIXELS * 2),
            min: i8::MAX,
            max: i8::MIN,
            filled: 0,
            odd_byte: None,
            samples: 0,
        }
    }

    /// Peaks sized for a file of `duration_ms`; unknown durations start at one sample a
    /// pixel and merge as the samples come.
    pub fn for_duration(duration_ms: Option<i64>) -> Self {
        let samples = duration_ms
            .and_then(|ms| u64::try_from(ms).ok())
            .map_or(0, |ms| ms.saturating_mul(u64::from(SAMPLE_RATE)) / 1000);
        Self::new(samples.div_ceil(TARGET_PIXELS))
    }

    /// Samples seen so far.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// Adds signed 16-bit little-endian samples; a chunk may end inside a sample.
    pub fn push_bytes(&mut self, mut bytes: &[u8]) {
        if let Some(low) = self.odd_byte.take() {
            let Some((&high, rest)) = bytes.split_first() else {
                self.odd_byte = Some(low);
                return;
            };
            self.push_sample(i16::from_le_bytes([low, high]));
            bytes = rest;
        }
        let mut pairs = bytes.chunks_exact(2);
        for pair in pairs.by_ref() {
            self.push_sample(i16::from_le_bytes([pair[0], pair[1]]));
        }
        self.odd_byte = pairs.remainder().first().copied();
    }

    /// Adds one sample.
    pub fn push_sample(&mut self, sample: i16) {
        // The high byte: -32768..=32767 maps onto -128..=127.
        let scaled = (sample >> 8) as i8;
        self.min = self.min.min(scaled);
        self.max = self.max.max(scaled);
        self.filled += 1;
        self.samples += 1;
        if self.filled == self.samples_per_pixel {
            self.close_pixel();
        }
    }

    /// The document, with the last partly filled pixel included.
    pub fn finish(mut self) -> Waveform {
        if self.filled > 0 {
            self.close_pixel();
        }
        Waveform {
            version: 2,
            channels: 1,
            sample_rate: SAMPLE_RATE,
            samples_per_pixel: self.samples_per_pixel,
            bits: 8,
            length: self.data.len() / 2,
            data: self.data,
        }
    }

    /// Stores the pixel being filled and starts the next; merges when there are too many.
    fn close_pixel(&mut self) {
        self.data.push(self.min);
        self.data.push(self.max);
        self.min = i8::MAX;
        self.max = i8::MIN;
        self.filled = 0;

        // MAX_PIXELS is even and the new pixel starts right after a full one, so merged
        // pixels keep covering exactly `samples_per_pixel` samples each.
        if self.data.len() == MAX_PIXELS * 2 {
            let merged: Vec<i8> = self
                .data
                .chunks_exact(4)
                .flat_map(|two| [two[0].min(two[2]), two[1].max(two[3])])
                .collect();
            self.data = merged;
            self.samples_per_pixel *= 2;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `periods` periods of a square wave: `half` samples at +`level`, `half` at -`level`.
    fn square(periods: usize, half: usize, level: i16) -> Vec<u8> {
        let mut bytes = Vec::new();
        for _ in 0..periods {
            for value in [level, -level] {
                for _ in 0..half {
                    bytes.extend_from_slice(&value.to_le_bytes());
                }
            }
        }
        bytes
    }

    #[test]
    fn square_wave_gives_its_levels_in_every_pixel() {
        let mut peaks = Peaks::new(100);

        peaks.push_bytes(&square(10, 50, 16384));
        let waveform = peaks.finish();

        assert_eq!(waveform.length, 10);
        assert_eq!(waveform.data, [-64, 64].repeat(10));
    }

    #[test]
    fn full_scale_samples_map_onto_the_8_bit_range() {
        let mut peaks = Peaks::new(2);

        peaks.push_sample(i16::MIN);
        peaks.push_sample(i16::MAX);

        assert_eq!(peaks.finish().data, vec![-128, 127]);
    }

    #[test]
    fn samples_split_across_chunks_are_joined() {
        let bytes = square(3, 10, 1000);
        let mut whole = Peaks::new(7);
        let mut split = Peaks::new(7);

        whole.push_bytes(&bytes);
        for chunk in bytes.chunks(3) {
            split.push_bytes(chunk);
        }

        assert_eq!(split.samples(), 60);
        assert_eq!(split.finish(), whole.finish());
    }

    #[test]
    fn known_duration_gives_the_target_length() {
        // Three seconds at 8000 Hz: 24 000 samples, 16 a pixel.
        let mut peaks = Peaks::for_duration(Some(3000));

        peaks.push_bytes(&square(240, 50, 8000));
        let waveform = peaks.finish();

        assert_eq!(waveform.samples_per_pixel, 16);
        assert_eq!(waveform.length, 1500);
        assert_eq!(waveform.data.len(), 2 * waveform.length);
    }

    #[test]
    fn unknown_duration_merges_down_to_at_most_max_pixels() {
        let mut peaks = Peaks::for_duration(None);

        peaks.push_bytes(&square(500, 50, 8000));
        let waveform = peaks.finish();

        assert!(
            (1000..=MAX_PIXELS).contains(&waveform.length),
            "{}",
            waveform.length
        );
        assert_eq!(
            waveform.length as u64,
            50_000_u64.div_ceil(waveform.samples_per_pixel)
        );
        assert!(waveform.data.chunks(2).all(|p| p[0] <= p[1]));
    }

    #[test]
    fn partial_last_pixel_is_kept_and_the_json_has_the_peaks_js_keys() {
        let mut peaks = Peaks::new(4);
        for s in [100, -200, 300, -400, 5000] {
            peaks.push_sample(s);
        }

        let json = serde_json::to_value(peaks.finish()).unwrap();

        assert_eq!(
            json,
            serde_json::json!({
                "version": 2, "channels": 1, "sample_rate": 8000, "samples_per_pixel": 4,
                "bits": 8, "length": 2, "data": [-2, 1, 19, 19]
            })
        );
    }
}
