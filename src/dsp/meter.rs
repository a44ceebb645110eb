//! Live meters for a take being captured: what the operator watches at the deck.
//!
//! Frames go in as they are captured ([`LiveMeter::process`]); a reading
//! ([`LiveMeter::read`]) gives, for the frames since the last reading:
//! - per channel, the **sample peak** (dBFS), the **peak hold** (the highest reading of the
//!   last [`HOLD_SECONDS`], as a PPM's hold), the **clip latch** (a full-scale sample since the
//!   hold was last replaced: it stays lit as long as the hold does), and the **true peak**
//!   (dBTP, ITU-R BS.1770-4 Annex 2 oversampling, [`super::truepeak`]);
//! - the programme's **momentary loudness** (LUFS, EBU Tech 3341 §2.2: 400 ms window, all
//!   channels weighted 1);
//! - for two channels or more, the **phase correlation** of channels 1 and 2
//!   ([`super::correlation`]; None when either is silent).
//!
//! Time is counted in frames, not read from a clock, so the readings depend only on the
//! frames and on where readings are taken: the same input in blocks of any size gives the
//! same readings at the same frame positions (tested). Buffers are allocated in
//! [`LiveMeter::new`] (the true-peak filter's history grows once, on the first chunk); once
//! running, processing and reading never allocate (tested), lock or do I/O.

use super::correlation::Correlation;
use super::truepeak::TruePeak;
use ebur128::{EbuR128, Mode};

/// How long a peak hold lasts, seconds (a PPM's hold; IEC 60268-10 leaves it to the maker).
pub const HOLD_SECONDS: u64 = 2;

/// Frames handled at once inside the kernel: bounds its scratch buffers, whatever the block
/// size the caller uses.
const CHUNK_FRAMES: usize = 1024;

/// One channel's live levels.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ChannelMeter {
    /// Sample peak over the last interval, dBFS.
    pub peak_dbfs: f64,
    /// Highest peak of the last 2 s, dBFS.
    pub hold_dbfs: f64,
    /// A full-scale sample in the last 2 s.
    pub clip: bool,
    /// True peak over the last interval, dBTP (BS.1770 oversampling).
    pub true_peak_dbtp: f64,
}

/// One reading of the meters, for the frames since the last.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading<'a> {
    pub channels: &'a [ChannelMeter],
    /// Momentary loudness, LUFS (−∞ for silence or before the first 400 ms).
    pub momentary_lufs: f64,
    /// Phase correlation of channels 1 and 2, −1 to +1; None for one channel, or silence.
    pub correlation: Option<f64>,
}

/// A channel's peak hold.
#[derive(Debug, Clone, Copy)]
struct Hold {
    dbfs: f64,
    /// The frame position at which the hold was last replaced.
    since: u64,
    clip: bool,
}

/// The live meters of an interleaved stream of integer samples at one depth.
pub struct LiveMeter {
    channels: usize,
    /// Full scale: the largest sample at this depth.
    full: i64,
    /// Left shift to 32-bit full scale (what `ebur128` takes).
    shift: u32,
    hold_frames: u64,
    /// Frames processed so far.
    frames: u64,
    interval_peak: Vec<i64>,
    holds: Vec<Hold>,
    meters: Vec<ChannelMeter>,
    true_peaks: Vec<TruePeak>,
    loudness: Option<EbuR128>,
    correlation: Option<Correlation>,
    plane: Vec<f32>,
    scaled: Vec<i32>,
}

fn db(v: f64) -> f64 {
    if v <= 0.0 {
        f64::NEG_INFINITY
    } else {
        20.0 * v.log10()
    }
}

impl LiveMeter {
    /// Meters for `channels` interleaved channels of `bits`-bit samples (right-justified, as
    /// the journal takes them) at `sample_rate`.
    pub fn new(channels: usize, sample_rate: u32, bits: u32) -> LiveMeter {
        assert!(channels > 0, "at least one channel");
        assert!((8..=32).contains(&bits), "a depth of 8 to 32 bits");
        LiveMeter {
            channels,
            full: (1i64 << (bits - 1)) - 1,
            shift: 32 - bits,
            hold_frames: HOLD_SECONDS * u64::from(sample_rate),
            frames: 0,
            interval_peak: vec![0; channels],
            holds: vec![
                Hold {
                    dbfs: f64::NEG_INFINITY,
                    since: 0,
                    clip: false,
                };
                channels
            ],
            meters: vec![ChannelMeter::default(); channels],
            true_peaks: (0..channels).map(|_| TruePeak::new(sample_rate)).collect(),
            loudness: EbuR128::new(channels as u32, sample_rate, Mode::M).ok(),
            correlation: (channels >= 2).then(|| Correlation::new(channels, (0, 1))),
            plane: Vec::with_capacity(CHUNK_FRAMES),
            scaled: Vec::with_capacity(CHUNK_FRAMES * channels),
        }
    }

    /// Frames processed so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Adds whole interleaved frames (any block size) to every meter.
    pub fn process(&mut self, interleaved: &[i32]) {
        self.process_peaks(interleaved);
        let channels = self.channels;
        let scale = 1.0 / (self.full as f32 + 1.0);
        for block in interleaved.chunks(CHUNK_FRAMES * channels) {
            for (c, tp) in self.true_peaks.iter_mut().enumerate() {
                self.plane.clear();
                self.plane.extend(
                    block
                        .iter()
                        .skip(c)
                        .step_by(channels)
                        .map(|&s| s as f32 * scale),
                );
                tp.process(&self.plane);
            }
            if let Some(l) = self.loudness.as_mut() {
                self.scaled.clear();
                self.scaled.extend(block.iter().map(|&s| s << self.shift));
                let _ = l.add_frames_i32(&self.scaled);
            }
        }
    }

    /// Adds whole interleaved frames to the cheap meters only (sample peak, hold, clip,
    /// correlation): for a writer that has fallen behind, which skips true peak and loudness
    /// for this stretch rather than fall further behind.
    pub fn process_peaks(&mut self, interleaved: &[i32]) {
        assert_eq!(interleaved.len() % self.channels, 0, "whole frames");
        for frame in interleaved.chunks_exact(self.channels) {
            for (peak, &s) in self.interval_peak.iter_mut().zip(frame) {
                *peak = (*peak).max(i64::from(s).abs());
            }
        }
        if let Some(c) = self.correlation.as_mut() {
            c.process(interleaved);
        }
        self.frames += (interleaved.len() / self.channels) as u64;
    }

    /// The meters for the frames since the last reading; starts the next interval.
    pub fn read(&mut self) -> Reading<'_> {
        for c in 0..self.channels {
            let peak = db(self.interval_peak[c] as f64 / (self.full as f64 + 1.0));
            let clipped = self.interval_peak[c] >= self.full;
            let hold = &mut self.holds[c];
            if peak >= hold.dbfs || self.frames - hold.since > self.hold_frames {
                *hold = Hold {
                    dbfs: peak,
                    since: self.frames,
                    clip: clipped,
                };
            }
            hold.clip |= clipped;
            self.meters[c] = ChannelMeter {
                peak_dbfs: peak,
                hold_dbfs: hold.dbfs,
                clip: hold.clip,
                true_peak_dbtp: db(f64::from(self.true_peaks[c].take_interval())),
            };
            self.interval_peak[c] = 0;
        }
        Reading {
            channels: &self.meters,
            momentary_lufs: self
                .loudness
                .as_ref()
                .and_then(|l| l.loudness_momentary().ok())
                .unwrap_or(f64::NEG_INFINITY),
            correlation: self
                .correlation
                .as_mut()
                .and_then(Correlation::take_interval),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::test_noise::Noise;
    use std::f64::consts::PI;

    const RATE: u32 = 48_000;
    const FULL: f64 = 8_388_607.0; // 24-bit

    /// `frames` stereo frames of `f(frame) -> (left, right)`, in full-scale units (±1.0).
    fn stereo(frames: usize, mut f: impl FnMut(usize) -> (f64, f64)) -> Vec<i32> {
        (0..frames)
            .flat_map(|n| {
                let (l, r) = f(n);
                [(l * FULL).round() as i32, (r * FULL).round() as i32]
            })
            .collect()
    }

    fn sine(freq: f64, amp: f64, phase: f64) -> impl Fn(usize) -> f64 {
        move |n| amp * (2.0 * PI * freq * n as f64 / f64::from(RATE) + phase).sin()
    }

    #[derive(Debug, Clone, PartialEq)]
    struct Owned {
        at: u64,
        channels: Vec<ChannelMeter>,
        momentary_lufs: f64,
        correlation: Option<f64>,
    }

    /// Feeds `signal` in blocks of `block` frames, taking a reading every `every` frames (a
    /// block is cut where a reading falls, as the capturing thread's reads are).
    fn readings(signal: &[i32], block: usize, every: usize) -> Vec<Owned> {
        let mut m = LiveMeter::new(2, RATE, 24);
        let mut out = Vec::new();
        let frames = signal.len() / 2;
        let mut pos = 0;
        while pos < frames {
            let next_read = (pos / every + 1) * every;
            let end = (pos + block).min(next_read).min(frames);
            m.process(&signal[pos * 2..end * 2]);
            pos = end;
            if pos % every == 0 {
                let r = m.read();
                out.push(Owned {
                    at: pos as u64,
                    channels: r.channels.to_vec(),
                    momentary_lufs: r.momentary_lufs,
                    correlation: r.correlation,
                });
            }
        }
        out
    }

    #[test]
    fn a_full_scale_sine_reads_its_sample_peak_and_true_peak() {
        // 1 kHz: samples reach full scale (within 0.01 dB).
        let s = sine(1000.0, 1.0, 0.0);
        let r = readings(&stereo(RATE as usize, |n| (s(n), s(n))), 4096, 48_000);
        let c = r[0].channels[0];
        assert!(c.peak_dbfs.abs() < 0.01, "{c:?}");
        assert!(c.true_peak_dbtp.abs() < 0.05, "{c:?}");
        // fs/4 at 45°: every sample is at ±0.707 (−3.01 dBFS), the waveform between them
        // reaches full scale: a sample meter under-reads by 3 dB, a true-peak meter does not
        // (BS.1770-4 Annex 2; ±0.3 dB for 4× oversampling).
        let s = sine(12_000.0, 1.0, PI / 4.0);
        let r = readings(&stereo(RATE as usize, |n| (s(n), s(n))), 4096, 48_000);
        let c = r[0].channels[0];
        assert!((c.peak_dbfs + 3.01).abs() < 0.01, "{c:?}");
        assert!(c.true_peak_dbtp.abs() < 0.3, "{c:?}");
        assert!(!c.clip, "no sample reached full scale");
    }

    #[test]
    fn a_sine_at_minus_23_dbfs_on_both_channels_reads_minus_23_lufs_momentary() {
        // EBU Tech 3341 §3, test case 1 (at −23 dBFS, stereo): −23.0 ±0.1 LUFS.
        let s = sine(1000.0, 10f64.powf(-23.0 / 20.0), 0.0);
        let r = readings(&stereo(RATE as usize * 2, |n| (s(n), s(n))), 512, 4800);
        for reading in r.iter().filter(|r| r.at >= 19_200) {
            assert!(
                (reading.momentary_lufs + 23.0).abs() < 0.1,
                "{} at {}",
                reading.momentary_lufs,
                reading.at
            );
        }
    }

    #[test]
    fn a_clip_latches_while_its_hold_lasts_then_goes_out() {
        // One full-scale sample on the left at 0.5 s, then quiet noise at −40 dBFS.
        let mut noise = Noise(7);
        let signal = stereo(RATE as usize * 4, |n| {
            let v = 0.01 * noise.next();
            (if n == 24_000 { 1.0 } else { v }, v)
        });
        let r = readings(&signal, 64, 1920); // 25 readings a second
        for reading in &r {
            let clip = reading.channels[0].clip;
            let seconds = reading.at as f64 / f64::from(RATE);
            // Lit from the reading that holds the sample (at 0.52 s) for 2 s more.
            let expect = reading.at > 24_000 && reading.at <= 24_960 + 2 * u64::from(RATE);
            assert_eq!(clip, expect, "left at {seconds} s");
            assert!(!reading.channels[1].clip, "right at {seconds} s");
        }
    }

    #[test]
    fn the_hold_keeps_the_highest_peak_for_2_s_then_decays() {
        // A burst at −6 dBFS for 0.1 s from 1 s, otherwise −40 dBFS.
        let quiet = sine(440.0, 0.01, 0.0);
        let loud = sine(440.0, 0.5, 0.0);
        let signal = stereo(RATE as usize * 5, |n| {
            let v = if (48_000..52_800).contains(&n) {
                loud(n)
            } else {
                quiet(n)
            };
            (v, v)
        });
        let r = readings(&signal, 4096, 4800); // 10 readings a second
        for reading in &r {
            let c = reading.channels[0];
            let seconds = reading.at as f64 / f64::from(RATE);
            // Held from the reading at 1.1 s (the burst's end) for 2 s more.
            if reading.at >= 52_800 && reading.at <= 52_800 + 2 * u64::from(RATE) {
                assert!((c.hold_dbfs + 6.02).abs() < 0.05, "{c:?} at {seconds} s");
            } else if reading.at > 52_800 + 2 * u64::from(RATE) || reading.at < 48_000 {
                assert!((c.hold_dbfs + 40.0).abs() < 0.05, "{c:?} at {seconds} s");
            }
            assert!(c.hold_dbfs >= c.peak_dbfs);
        }
    }

    #[test]
    fn identical_channels_correlate_at_plus_1_and_inverted_at_minus_1() {
        let mut noise = Noise(11);
        let same = stereo(RATE as usize, |_| {
            let v = 0.5 * noise.next();
            (v, v)
        });
        let inverted: Vec<i32> = same.chunks_exact(2).flat_map(|f| [f[0], -f[1]]).collect();
        for (signal, want) in [(same, 1.0), (inverted, -1.0)] {
            for r in readings(&signal, 4096, 1920) {
                let c = r.correlation.expect("noise has a phase");
                assert!((c - want).abs() < 1e-9, "{c} at {}", r.at);
            }
        }
        let silence = vec![0; 2 * 4800];
        assert!(readings(&silence, 64, 1920)
            .iter()
            .all(|r| r.correlation.is_none()));
    }

    #[test]
    fn blocks_of_64_and_of_4096_frames_give_the_same_readings_at_the_same_frames() {
        // Programme-like: noise, a tone, a clipped burst, silence; readings at 25 Hz.
        let mut noise = Noise(3);
        let tone = sine(997.0, 0.3, 0.0);
        let signal = stereo(RATE as usize * 5, |n| {
            let v = 0.2 * noise.next() + tone(n);
            match n {
                0..48_000 => (v, 0.8 * v),
                48_000..60_000 => ((3.0 * v).clamp(-1.0, 1.0), -v),
                60_000..100_000 => (0.0, 0.0),
                _ => (v, noise.next() * 0.1),
            }
        });
        let small = readings(&signal, 64, 1920);
        let large = readings(&signal, 4096, 1920);
        assert_eq!(small.len(), 125);
        assert_eq!(small, large);
        assert!(small.iter().any(|r| r.channels[0].clip), "the burst clips");
    }

    #[test]
    fn metering_allocates_nothing_once_running() {
        let mut noise = Noise(5);
        let signal = stereo(RATE as usize * 2, |_| {
            let v = noise.next();
            (v, -v)
        });
        let mut m = LiveMeter::new(2, RATE, 24);
        // The first second in: every kernel has seen its largest chunk.
        m.process(&signal[..RATE as usize * 2]);
        let _ = m.read();
        let (allocations, ()) = crate::dsp::test_alloc::allocations_in(|| {
            for (i, block) in signal[RATE as usize * 2..].chunks(2 * 1000).enumerate() {
                if i % 2 == 0 {
                    m.process(block);
                } else {
                    m.process_peaks(block);
                }
                let r = m.read();
                assert!(r.channels[0].peak_dbfs > -20.0);
            }
        });
        assert_eq!(allocations, 0);
    }
}
