//! Review of a take before it is committed, or of an archived one: a waveform overview of its
//! master, per channel, for a person to look at with the defect map drawn over it.
//!
//! [`Overview`] is a pure accumulator (samples in, per-bucket minimum and maximum out, as
//! fractions of full scale); [`overview`] runs it over a FLAC file. Memory is the buckets alone,
//! whatever the take's length.

use crate::flac::decode::FlacReader;
use crate::flac::FlacError;
use serde::Serialize;
use std::path::Path;

/// Most buckets an overview has (a screen's width several times over).
pub const MAX_BUCKETS: usize = 16_384;

/// A take's waveform, `buckets` columns wide.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct Waveform {
    pub sample_rate: u32,
    pub frames: u64,
    /// Frames each bucket covers (the last may cover fewer).
    pub frames_per_bucket: u64,
    /// Per channel, per bucket: the lowest and highest sample, −1.0 to 1.0.
    pub channels: Vec<Vec<[f32; 2]>>,
}

/// Accumulates the per-bucket extremes of interleaved samples of a take of known length.
pub struct Overview {
    channels: usize,
    scale: f32,
    per_bucket: u64,
    frame: u64,
    frames: u64,
    sample_rate: u32,
    out: Vec<Vec<[f32; 2]>>,
}

impl Overview {
    /// For a take of `frames` frames of `bits`-bit samples, `buckets` wide (at most
    /// [`MAX_BUCKETS`], at least 1).
    pub fn new(channels: usize, sample_rate: u32, bits: u32, frames: u64, buckets: usize) -> Self {
        let buckets = buckets.clamp(1, MAX_BUCKETS) as u64;
        let per_bucket = frames.div_ceil(buckets).max(1);
        let n = frames.div_ceil(per_bucket) as usize;
        Overview {
            channels,
            scale: 1.0 / (1u64 << (bits - 1)) as f32,
            per_bucket,
            frame: 0,
            frames,
            sample_rate,
            out: vec![vec![[f32::INFINITY, f32::NEG_INFINITY]; n]; channels],
        }
    }

    /// Takes whole interleaved frames; frames past the announced length are ignored.
    pub fn process(&mut self, interleaved: &[i32]) {
        for frame in interleaved.chunks_exact(self.channels) {
            if self.frame >= self.frames {
                return;
            }
            let b = (self.frame / self.per_bucket) as usize;
            for (c, &s) in frame.iter().enumerate() {
                let v = s as f32 * self.scale;
                let cell = &mut self.out[c][b];
                cell[0] = cell[0].min(v);
                cell[1] = cell[1].max(v);
            }
            self.frame += 1;
        }
    }

    pub fn finish(mut self) -> Waveform {
        // Buckets never reached (a shorter stream than announced) read as silence.
        for ch in &mut self.out {
            for cell in ch.iter_mut().filter(|c| c[0] > c[1]) {
                *cell = [0.0, 0.0];
            }
        }
        Waveform {
            sample_rate: self.sample_rate,
            frames: self.frames,
            frames_per_bucket: self.per_bucket,
            channels: self.out,
        }
    }
}

/// The waveform of a FLAC file (a master, staged or archived), `buckets` wide.
pub fn overview(flac: &Path, buckets: usize) -> Result<Waveform, FlacError> {
    let mut reader = FlacReader::open(flac)?;
    let info = *reader.info();
    let mut acc = Overview::new(
        info.channels as usize,
        info.sample_rate,
        info.bits_per_sample,
        info.total_frames,
        buckets,
    );
    let mut buf = vec![0i32; 1 << 16];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            return Ok(acc.finish());
        }
        acc.process(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_bucket_holds_its_frames_extremes() {
        // 10 frames of stereo 16-bit into 4 buckets of 3 frames (the last of 1).
        let samples: Vec<i32> = (0..10).flat_map(|i| [i * 1000, -i * 1000]).collect();
        let mut o = Overview::new(2, 48_000, 16, 10, 4);
        for chunk in samples.chunks(6) {
            o.process(chunk); // block boundaries do not matter
        }
        let w = o.finish();
        assert_eq!(w.frames_per_bucket, 3);
        assert_eq!(w.channels[0].len(), 4);
        let f = |v: i32| v as f32 / 32768.0;
        assert_eq!(w.channels[0][1], [f(3000), f(5000)]);
        assert_eq!(w.channels[1][3], [f(-9000), f(-9000)]);
    }

    #[test]
    fn a_short_take_has_a_bucket_per_frame_and_unreached_buckets_are_silent() {
        let mut o = Overview::new(1, 8_000, 24, 3, 1000);
        o.process(&[1 << 22]);
        let w = o.finish();
        assert_eq!(w.channels[0].len(), 3);
        assert_eq!(w.channels[0][0], [0.5, 0.5]);
        assert_eq!(w.channels[0][2], [0.0, 0.0]);
    }
}
