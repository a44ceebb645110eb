//! Level analysis of a take: sample and true peak, EBU R 128 loudness (integrated, loudness
//! range, maximum momentary and maximum short-term), DC offset, RMS, runs of clipped samples and
//! head/tail silence, for the programme and for each channel.
//!
//! A pure kernel: interleaved integer samples in, a [`LevelReport`] out, no I/O. It runs beside
//! the FLAC encoder on the same stream, so it is built to be cheap (see *Cost*).
//!
//! # Promises
//!
//! - **Block-size independence.** The report depends only on the samples, never on how the
//!   caller cuts them into blocks: samples are buffered internally and handed to the meters in
//!   fixed steps of [`LOUDNESS_STEP_MS`] ms of the take, and every other measure is exact integer
//!   arithmetic. Blocks of 1, 64 or 4096 frames give byte-identical JSON (tested).
//! - **Memory.** Buffers are allocated in [`LevelAnalyser::new`]. What grows with the take's
//!   length is the loudness history, 8 bytes per 100 ms per meter (the gating blocks behind
//!   integrated loudness, and the short-term values behind the loudness range): about
//!   0.6 MB per meter for a two-hour take. The clip list is capped at [`MAX_CLIP_RUNS`] (its
//!   storage is reserved up front) while `clip_runs_total` keeps counting; head and tail silence
//!   take O(1) memory (the first and last frames above the threshold).
//! - **`None` means "not measurable"**: silence (−∞), a take shorter than the measure's window
//!   (400 ms momentary, 3 s short-term and loudness range), or nothing above the absolute gate.
//!   It serialises as `null`.
//!
//! # Loudness
//!
//! K-weighting comes from the `ebur128` crate (ITU-R BS.1770-4 / EBU R 128), one meter per
//! channel (mono, `Center`, weight 1); every figure is built here from the K-weighted energy of
//! each 10 ms step, which also gives the channel's own figures.
//!
//! - **Programme**: every channel has weight 1: mono as `Center` (as ffmpeg's `ebur128` filter
//!   weights mono), stereo as `Left`, `Right`, and any other count — the independent tracks of
//!   a multitrack tape, which have no surround layout — alike (the crate's default map for 3 to
//!   8 channels would weight channels 4 and 5 as surrounds, ×1.41, and leave others unused).
//!   With all weights 1 the programme's step energy is the sum of the channels', so no second
//!   meter filters the same audio. For mono the programme *is* the channel.
//! - **Integrated loudness** (BS.1770-4 §2.8): 400 ms gating blocks every 100 ms (75 %
//!   overlap) from the step energies, absolute gate −70 LUFS, relative gate −10 LU.
//! - **Maximum momentary and short-term** are sampled every [`LOUDNESS_STEP_MS`] ms of the take,
//!   ten times the 10 Hz minimum update rate of an EBU Mode meter, so that a 400 ms burst is
//!   caught within 0.06 LU whatever its alignment (EBU Tech 3341 cases 10 and 13 test that
//!   property). At each step the meter's K-weighted energy over the last 10 ms
//!   (`loudness_window(10)`) is recorded; the momentary value is the mean of the last 40 such
//!   energies (400 ms) and the short-term value the mean of the last 300 (3 s): the quantity
//!   `loudness_momentary`/`loudness_shortterm` would return there (tested to 1e-9 LU), for a
//!   fraction of the cost of asking `ebur128` 100 times a second. At rates that are not a
//!   multiple of 100 Hz (22 050, 44 056, 47 952 Hz …) a step is `rate / 100` frames rounded
//!   down, so the windows are up to 0.5 % shorter than 400 ms and 3 s. A tail shorter than one
//!   step adds no sampling point (it still counts for integrated loudness and peaks).
//! - **Loudness range** (EBU Tech 3342) is computed here from those short-term values taken
//!   every 100 ms (10 Hz) once the 3 s window is full: gated at −70 LUFS absolute and −20 LU
//!   below their power mean, the difference of the nearest-rank 95th and 10th percentiles (rank
//!   round(p·n), 1-based, as ffmpeg's `ebur128` filter takes them). The `ebur128` crate's own
//!   `Mode::LRA` is not used: it takes a short-term value only once a second, and on programme
//!   with level changes read 1.5 and 2.3 LU below ffmpeg (15.8 vs 17.3, 16.1 vs 18.4 LU) where
//!   this reads within 0.05 LU (`tests/loudness_vs_ffmpeg.rs`).
//! - **True peak** (when enabled): [`super::truepeak`] per channel (4× oversampling below
//!   96 kHz, 2× below 192 kHz, none above; a 64-tap-per-phase interpolator), reported as at
//!   least the sample peak. The programme's true and sample peaks are the maxima over the
//!   channels.
//!
//! # Other measures (exact integer arithmetic on the right-justified samples)
//!
//! - Sample peak: 20·log10(max |x| / 2^(bits−1)) dBFS.
//! - DC offset: mean sample value / 2^(bits−1), a fraction of full scale.
//! - RMS: 10·log10(mean(x²) / 2^(2·(bits−1))) dBFS, with **no** +3.01 dB sine convention: a
//!   full-scale sine reads −3.01 dBFS RMS.
//! - Clips: a run of at least `clip_min_run` consecutive samples of one channel all at the
//!   format's maximum (2^(bits−1)−1) or all at its minimum (−2^(bits−1)). A sample that jumps
//!   from one rail to the other starts a new run. Runs that cross `process` calls are joined.
//!   Positions are frames; the list is ordered by start frame, then channel, and holds the
//!   [`MAX_CLIP_RUNS`] earliest runs in that order.
//! - Head/tail silence: the leading/trailing frames in which every channel's |x| is below the
//!   threshold (`silence_threshold_dbfs` re full scale). A wholly silent take has both equal to
//!   its length.
//!
//! # Cost
//!
//! On the project's 2-core machine, 96 kHz stereo 24-bit analyses at about 610× real time with
//! true peak off and 270× with it on (1.6 and 3.7 ms per second of audio; 8 channels: 150× and
//! 64×; the ignored test `throughput_96k_stereo`,
//! `cargo test --release --lib -- --ignored --nocapture throughput`). True peak is the larger
//! half; the rest is `ebur128`'s K-weighting and this module's integer scan.

use super::truepeak::TruePeak;
use crate::units::{FrameCount, FrameIndex};
use ebur128::{Channel, EbuR128, Mode};
use serde::{Deserialize, Serialize};
use std::collections::BinaryHeap;

/// Clip runs kept in the report; beyond this only `clip_runs_total` grows, so a wholly clipped
/// take cannot exhaust memory.
pub const MAX_CLIP_RUNS: usize = 10_000;

/// Most channels an analyser takes (the `ebur128` crate's limit).
pub const MAX_CHANNELS: usize = 64;

/// Lowest sample rate an analyser takes, Hz.
pub const MIN_SAMPLE_RATE: u32 = 8_000;

/// Highest sample rate an analyser takes, Hz.
pub const MAX_SAMPLE_RATE: u32 = 768_000;

/// Interval, in ms of the take, at which momentary and short-term loudness are sampled for
/// their maxima.
pub const LOUDNESS_STEP_MS: u32 = 10;

/// Steps in the momentary window (the 400 ms momentary time scale of EBU Tech 3341).
const MOMENTARY_STEPS: usize = 40;

/// Steps in the short-term window (the 3 s short-term time scale of EBU Tech 3341).
const SHORT_TERM_STEPS: usize = 300;

/// Steps between the short-term values taken for the loudness range (100 ms: 10 Hz).
const LRA_STEPS: u64 = 10;

/// Absolute gate of the loudness range, LUFS (EBU Tech 3342).
const ABSOLUTE_GATE_LUFS: f64 = -70.0;

/// Relative gate of the loudness range, LU below the power mean of the values above the
/// absolute gate (EBU Tech 3342).
const RELATIVE_GATE_LU: f64 = -20.0;

/// Analysis settings (from the profile), for this module and [`super::defects`].
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct AnalysisSettings {
    /// Head/tail silence: leading/trailing frames where every channel is below this level.
    pub silence_threshold_dbfs: f64,
    /// A clip is a run of at least this many consecutive samples at the format's maximum or
    /// minimum value in one channel (at least 1).
    pub clip_min_run: u32,
    /// Measure true peak (the costliest part of the analysis).
    pub true_peak: bool,
    /// A dropout is a fall of a channel's level by at least this many dB within a few ms
    /// (see [`super::defects`]).
    pub dropout_fall_db: f64,
    /// Stereo takes: 400 ms windows whose phase correlation is below this are flagged
    /// (−1 flags none).
    pub phase_alarm_correlation: f64,
    /// Map clicks in every take (the declicker run for detection alone) even when no access
    /// copy is declicked; it costs about as much CPU as declicking.
    pub clicks: bool,
}

impl Default for AnalysisSettings {
    fn default() -> Self {
        AnalysisSettings {
            silence_threshold_dbfs: -60.0,
            clip_min_run: 2,
            true_peak: true,
            dropout_fall_db: 24.0,
            phase_alarm_correlation: -0.5,
            clicks: false,
        }
    }
}

/// Why an analyser could not be made.
#[derive(Debug, thiserror::Error)]
pub enum LevelError {
    /// The channel count is outside 1..=[`MAX_CHANNELS`].
    #[error("cannot analyse {channels} channels: 1 to {MAX_CHANNELS} are supported")]
    Channels { channels: usize },
    /// The sample rate is outside [`MIN_SAMPLE_RATE`]..=[`MAX_SAMPLE_RATE`].
    #[error(
        "cannot analyse a sample rate of {rate} Hz: {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz are supported"
    )]
    SampleRate { rate: u32 },
    /// The bit depth is outside 8..=32.
    #[error("cannot analyse {bits}-bit samples: 8 to 32 bits per sample are supported")]
    BitsPerSample { bits: u32 },
    /// A setting is out of range.
    #[error("analysis setting {setting} is invalid: {detail}")]
    Settings {
        setting: &'static str,
        detail: String,
    },
    /// The `ebur128` crate refused to make or configure a meter.
    #[error(
        "ebur128 could not set up the {meter} meter ({channels} channels at {rate} Hz): {source}"
    )]
    Meter {
        meter: &'static str,
        channels: usize,
        rate: u32,
        #[source]
        source: ebur128::Error,
    },
}

/// Loudness and peaks of the programme or of one channel. `None`: not measurable (silence,
/// −∞, a take too short for the measure's window, or nothing above the absolute gate).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, ts_rs::TS)]
#[ts(rename = "Levels")]
pub struct ProgrammeLevels {
    pub sample_peak_dbfs: Option<f64>,
    pub true_peak_dbtp: Option<f64>,
    pub integrated_lufs: Option<f64>,
    pub loudness_range_lu: Option<f64>,
    pub max_momentary_lufs: Option<f64>,
    pub max_short_term_lufs: Option<f64>,
}

/// Levels of one channel, metered alone as mono.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, ts_rs::TS)]
pub struct ChannelLevels {
    /// 1-based.
    pub channel: usize,
    /// The same fields as the programme's, flattened into this object when serialised.
    #[serde(flatten)]
    pub levels: ProgrammeLevels,
    /// Mean sample value as a fraction of full scale (0.0 for an empty take).
    pub dc_offset: f64,
    /// RMS re full scale; a full-scale sine reads −3.01 dBFS (no +3 dB sine convention).
    pub rms_dbfs: Option<f64>,
    /// Bits of the sample word the channel actually uses: the word's depth less the low bits
    /// that are zero in every sample (16 for 16-bit content in a 24-bit container); 0 when
    /// every sample is 0.
    pub effective_bits: u32,
}

/// A run of clipped samples in one channel.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct ClipRun {
    /// 1-based.
    pub channel: usize,
    pub start: FrameIndex,
    pub length: FrameCount,
}

/// Everything measured on a take.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct LevelReport {
    pub overall: ProgrammeLevels,
    pub channels: Vec<ChannelLevels>,
    /// At most [`MAX_CLIP_RUNS`], ordered by start frame then channel.
    pub clips: Vec<ClipRun>,
    /// Every clip run found, including those beyond the cap of `clips`.
    pub clip_runs_total: u64,
    pub head_silence: FrameCount,
    pub tail_silence: FrameCount,
    pub frames: FrameCount,
    /// The depth of the sample word (the container's valid bits).
    pub bits_per_sample: u32,
}

/// Running integer statistics of one channel.
#[derive(Clone, Copy, Default)]
struct ChannelStats {
    peak: u32,
    /// OR of every sample: its trailing zeros are low bits never used.
    or: u32,
    sum: i128,
    sum_sq: u128,
    /// The run of rail samples in progress: its first frame, length and rail value.
    run_start: u64,
    run_len: u64,
    run_value: i32,
}

/// Clip runs found so far: the [`MAX_CLIP_RUNS`] earliest by (start, channel), kept in a
/// max-heap so that which runs are kept does not depend on the order in which runs end (which
/// varies with block boundaries).
struct Clips {
    min_run: u64,
    /// (start frame, 0-based channel, length).
    kept: BinaryHeap<(u64, usize, u64)>,
    total: u64,
}

impl Clips {
    fn close(&mut self, channel: usize, stats: &mut ChannelStats) {
        if stats.run_len >= self.min_run {
            self.total += 1;
            self.kept.push((stats.run_start, channel, stats.run_len));
            if self.kept.len() > MAX_CLIP_RUNS {
                self.kept.pop();
            }
        }
        stats.run_len = 0;
    }
}

/// Momentary and short-term maxima and the loudness range of one meter, from the meter's
/// K-weighted energy over each 10 ms step.
struct Windows {
    /// The last [`SHORT_TERM_STEPS`] step energies, a ring.
    energies: Vec<f64>,
    next: usize,
    steps: u64,
    max_momentary: f64,
    max_short_term: f64,
    /// Short-term energies every 100 ms (once the 3 s window is full) at or above the absolute
    /// gate, in order, for the loudness range.
    short_term: Vec<f64>,
    /// Energies of the 400 ms gating blocks, one every 100 ms (ITU-R BS.1770-4 §2.8: 75%
    /// overlap), for the integrated loudness.
    gating: Vec<f64>,
}

impl Windows {
    fn new() -> Self {
        Windows {
            energies: vec![0.0; SHORT_TERM_STEPS],
            next: 0,
            steps: 0,
            max_momentary: 0.0,
            max_short_term: 0.0,
            short_term: Vec::new(),
            gating: Vec::new(),
        }
    }

    /// Records the energy of the step just ended and updates the maxima. The sums run oldest
    /// first in a fixed order, so results are reproducible to the bit.
    fn push(&mut self, energy: f64) {
        let n = SHORT_TERM_STEPS;
        self.energies[self.next] = energy;
        self.next = (self.next + 1) % n;
        self.steps += 1;
        let sum_last = |k: usize| -> f64 {
            let start = (self.next + n - k) % n;
            let (a, b) = if start + k <= n {
                (&self.energies[start..start + k], &[][..])
            } else {
                (&self.energies[start..], &self.energies[..start + k - n])
            };
            a.iter().chain(b).sum::<f64>()
        };
        if self.steps >= MOMENTARY_STEPS as u64 {
            let m = sum_last(MOMENTARY_STEPS) / MOMENTARY_STEPS as f64;
            if m > self.max_momentary {
                self.max_momentary = m;
            }
            if self.steps.is_multiple_of(LRA_STEPS) {
                self.gating.push(m);
            }
        }
        if self.steps >= SHORT_TERM_STEPS as u64 {
            let s = sum_last(SHORT_TERM_STEPS) / SHORT_TERM_STEPS as f64;
            if s > self.max_short_term {
                self.max_short_term = s;
            }
            if self.steps.is_multiple_of(LRA_STEPS) && s >= energy_of(ABSOLUTE_GATE_LUFS) {
                self.short_term.push(s);
            }
        }
    }

    /// Integrated loudness (ITU-R BS.1770-4 §2.8): the mean energy of the gating blocks above
    /// the absolute gate (-70 LUFS) and above the relative gate, 10 LU below the mean of those.
    fn integrated(&self) -> Option<f64> {
        let mean_above = |gate: f64| {
            let (sum, n) = self
                .gating
                .iter()
                .filter(|&&e| e > gate)
                .fold((0.0, 0usize), |(s, n), &e| (s + e, n + 1));
            (n > 0).then(|| sum / n as f64)
        };
        let absolute = energy_of(ABSOLUTE_GATE_LUFS);
        let relative = mean_above(absolute)? * 10f64.powf(-10.0 / 10.0);
        lufs_of(mean_above(relative.max(absolute))?)
    }

    /// EBU Tech 3342 loudness range of the short-term values: those at or above the absolute
    /// gate (−70 LUFS) and at or above the relative gate (−20 LU below their power mean); the
    /// difference between their 95th and 10th percentiles, by nearest rank (the value of
    /// 1-based rank round(p·n), as ffmpeg's `ebur128` filter takes it). `None` with no value.
    fn loudness_range(&self) -> Option<f64> {
        if self.short_term.is_empty() {
            return None;
        }
        let mean = self.short_term.iter().sum::<f64>() / self.short_term.len() as f64;
        let relative_gate = mean * 10f64.powf(RELATIVE_GATE_LU / 10.0);
        let mut kept: Vec<f64> = self
            .short_term
            .iter()
            .copied()
            .filter(|&e| e >= relative_gate)
            .collect();
        kept.sort_by(f64::total_cmp);
        let rank = |p: f64| ((p * kept.len() as f64 + 0.5) as usize).clamp(1, kept.len()) - 1;
        let high = lufs_of(kept[rank(0.95)])?;
        let low = lufs_of(kept[rank(0.10)])?;
        Some(high - low)
    }
}

/// Streaming level analyser. Feed it interleaved right-justified samples with
/// [`LevelAnalyser::process`], then call [`LevelAnalyser::finish`].
pub struct LevelAnalyser {
    channels: usize,
    /// The true-peak meter over all channels, when true peak is measured.
    /// One true-peak meter per channel (see [`super::truepeak`]: a 64-tap interpolator, where
    /// ebur128's 12-tap one under-reads clipped transients by about 0.3 dB).
    true_peak: Vec<TruePeak>,
    /// One step of one channel as f32, full scale 1.0, for the true-peak meters.
    tp_scratch: Vec<f32>,
    /// 32 − bits: the left shift to full-scale 32-bit for `ebur128`.
    shift: u32,
    bits: u32,
    full_scale: f64,
    max_value: i32,
    min_value: i32,
    /// |x| at or above this is sound (not silence).
    silence_level: u64,
    /// Frames in one loudness step.
    step: usize,
    /// One step of full-scale samples, channel-major: channel c at `c * step ..`.
    planes: Vec<i32>,
    /// Frames buffered in `planes`.
    filled: usize,
    /// Frames taken so far (including those buffered).
    frames: u64,
    /// The programme meter; `None` for mono, where the programme is channel 1.
    programme: Option<Windows>,
    per_channel: Vec<(EbuR128, Windows)>,
    stats: Vec<ChannelStats>,
    clips: Clips,
    first_sound: Option<u64>,
    last_sound: Option<u64>,
}

/// Energy (mean square, K-weighted) from a loudness, the inverse of ebur128's conversion.
fn energy_of(lufs: f64) -> f64 {
    if lufs.is_finite() {
        10f64.powf((lufs + 0.691) / 10.0)
    } else {
        0.0
    }
}

/// Loudness from an energy; `None` for zero.
fn lufs_of(energy: f64) -> Option<f64> {
    (energy > 0.0 && energy.is_finite()).then(|| 10.0 * energy.log10() - 0.691)
}

/// dB of an amplitude ratio; `None` for zero.
fn db(ratio: f64) -> Option<f64> {
    (ratio > 0.0 && ratio.is_finite()).then(|| 20.0 * ratio.log10())
}

impl LevelAnalyser {
    /// An analyser for `channels` channels at `sample_rate` Hz of `bits_per_sample`-bit samples
    /// (right-justified in `i32`; 16, 24 and 32 are usual, 8 to 32 are taken).
    pub fn new(
        channels: usize,
        sample_rate: u32,
        bits_per_sample: u32,
        settings: &AnalysisSettings,
    ) -> Result<Self, LevelError> {
        if !(1..=MAX_CHANNELS).contains(&channels) {
            return Err(LevelError::Channels { channels });
        }
        if !(MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&sample_rate) {
            return Err(LevelError::SampleRate { rate: sample_rate });
        }
        if !(8..=32).contains(&bits_per_sample) {
            return Err(LevelError::BitsPerSample {
                bits: bits_per_sample,
            });
        }
        if settings.clip_min_run == 0 {
            return Err(LevelError::Settings {
                setting: "clip_min_run",
                detail: "must be at least 1".into(),
            });
        }
        if !settings.silence_threshold_dbfs.is_finite() {
            return Err(LevelError::Settings {
                setting: "silence_threshold_dbfs",
                detail: format!("{} is not a finite level", settings.silence_threshold_dbfs),
            });
        }
        let meter_error = |meter: &'static str| {
            move |source| LevelError::Meter {
                meter,
                channels,
                rate: sample_rate,
                source,
            }
        };
        // ebur128 K-weights each channel and gives the energy of each 10 ms step; momentary,
        // short-term, integrated and range are built from those steps (see `Windows`). Every
        // channel has weight 1 (mono as centre, stereo as left/right, tracks alike), so the
        // programme's step energy is the sum of the channels': no second meter filters them.
        let loudness = Mode::M;
        let programme = (channels > 1).then(Windows::new);
        let per_channel = (0..channels)
            .map(|_| {
                let mut m =
                    EbuR128::new(1, sample_rate, loudness).map_err(meter_error("per-channel"))?;
                m.set_channel(0, Channel::Center)
                    .map_err(meter_error("per-channel"))?;
                Ok((m, Windows::new()))
            })
            .collect::<Result<Vec<_>, LevelError>>()?;
        let true_peak = if settings.true_peak {
            (0..channels).map(|_| TruePeak::new(sample_rate)).collect()
        } else {
            Vec::new()
        };
        let half = 1i64 << (bits_per_sample - 1);
        let full_scale = half as f64;
        let silence_linear = 10f64.powf(settings.silence_threshold_dbfs / 20.0) * full_scale;
        // |x| >= level  <=>  |x| >= threshold, for integer |x|. Saturating float-to-int cast.
        let silence_level = silence_linear.ceil().max(0.0) as u64;
        let step = (u64::from(sample_rate) * u64::from(LOUDNESS_STEP_MS) / 1000) as usize;
        Ok(LevelAnalyser {
            channels,
            true_peak,
            tp_scratch: Vec::new(),
            shift: 32 - bits_per_sample,
            bits: bits_per_sample,
            full_scale,
            max_value: (half - 1) as i32,
            min_value: (-half) as i32,
            silence_level,
            step,
            planes: vec![0; step * channels],
            filled: 0,
            frames: 0,
            programme,
            per_channel,
            stats: vec![ChannelStats::default(); channels],
            clips: Clips {
                min_run: u64::from(settings.clip_min_run),
                kept: BinaryHeap::with_capacity(MAX_CLIP_RUNS + 1),
                total: 0,
            },
            first_sound: None,
            last_sound: None,
        })
    }

    /// Takes interleaved right-justified samples; the length must be a whole number of frames.
    /// Samples outside the bit depth's range are clamped to it (and so count as clipped).
    ///
    /// # Panics
    ///
    /// If `interleaved.len()` is not a multiple of the channel count.
    pub fn process(&mut self, interleaved: &[i32]) {
        assert!(
            interleaved.len().is_multiple_of(self.channels),
            "{} samples are not a whole number of {}-channel frames",
            interleaved.len(),
            self.channels
        );
        let mut rest = interleaved;
        while !rest.is_empty() {
            let frames = (rest.len() / self.channels).min(self.step - self.filled);
            let (now, later) = rest.split_at(frames * self.channels);
            self.scan(now);
            if self.filled == self.step {
                self.feed_meters();
                self.sample_windows();
                self.filled = 0;
            }
            rest = later;
        }
    }

    /// Copies a piece that fits in the step buffer into it, one plane per channel, and runs the
    /// integer statistics, clip and silence detection over it; then shifts it to full scale for
    /// `ebur128`. Each pass is a simple loop over one channel, which the compiler vectorises.
    fn scan(&mut self, piece: &[i32]) {
        let ch = self.channels;
        let n = piece.len() / ch;
        let (max, min, level) = (self.max_value, self.min_value, self.silence_level);
        let start = self.frames;
        let mut first_in_piece: Option<usize> = None;
        let mut last_in_piece: Option<usize> = None;
        for (c, st) in self.stats.iter_mut().enumerate() {
            let at = c * self.step + self.filled;
            let plane = &mut self.planes[at..at + n];
            for (x, frame) in plane.iter_mut().zip(piece.chunks_exact(ch)) {
                *x = frame[c].clamp(min, max);
            }
            let plane = &*plane;

            st.peak = st
                .peak
                .max(plane.iter().map(|x| x.unsigned_abs()).max().unwrap_or(0));
            st.or |= plane.iter().fold(0, |a, &x| a | x as u32);
            // A step holds at most 7 680 frames (768 kHz): the i64 sum cannot overflow, nor can
            // the u64 sum of squares at 24 bits or fewer (each square <= 2^46, the sum < 2^59).
            st.sum += i128::from(plane.iter().map(|&x| i64::from(x)).sum::<i64>());
            st.sum_sq += if self.shift >= 8 {
                u128::from(
                    plane
                        .iter()
                        .map(|&x| (i64::from(x) * i64::from(x)) as u64)
                        .sum::<u64>(),
                )
            } else {
                plane
                    .iter()
                    .map(|&x| u128::from((i64::from(x) * i64::from(x)) as u64))
                    .sum::<u128>()
            };

            let loud = |x: &i32| u64::from(x.unsigned_abs()) >= level;
            if self.first_sound.is_none() {
                if let Some(i) = plane.iter().position(loud) {
                    first_in_piece = Some(first_in_piece.map_or(i, |f| f.min(i)));
                }
            }
            if let Some(i) = plane.iter().rposition(loud) {
                last_in_piece = Some(last_in_piece.map_or(i, |l| l.max(i)));
            }

            if st.run_len > 0 || plane.iter().any(|&x| x == max || x == min) {
                for (i, &x) in plane.iter().enumerate() {
                    if x == max || x == min {
                        if st.run_len > 0 && st.run_value == x {
                            st.run_len += 1;
                        } else {
                            self.clips.close(c, st);
                            st.run_start = start + i as u64;
                            st.run_len = 1;
                            st.run_value = x;
                        }
                    } else if st.run_len > 0 {
                        self.clips.close(c, st);
                    }
                }
            }

            let shift = self.shift;
            for x in &mut self.planes[at..at + n] {
                *x <<= shift;
            }
        }
        if let Some(i) = first_in_piece {
            self.first_sound = Some(start + i as u64);
        }
        if let Some(i) = last_in_piece {
            self.last_sound = Some(start + i as u64);
        }
        self.filled += n;
        self.frames += n as u64;
    }

    /// Hands the buffered frames to the meters.
    fn feed_meters(&mut self) {
        let (step, n) = (self.step, self.filled);
        if n == 0 {
            return;
        }
        let plane = |c: usize| &self.planes[c * step..c * step + n];
        // The shapes are fixed in `new`, so ebur128 cannot refuse them.
        const SHAPE: &str = "planes match the meter's channel count";
        for (c, (meter, _)) in self.per_channel.iter_mut().enumerate() {
            meter.add_frames_planar_i32(&[plane(c)]).expect(SHAPE);
        }
        for (c, tp) in self.true_peak.iter_mut().enumerate() {
            // The planes hold full-scale 32-bit values.
            self.tp_scratch.clear();
            self.tp_scratch.extend(
                self.planes[c * step..c * step + n]
                    .iter()
                    .map(|&v| v as f32 * (1.0 / 2_147_483_648.0)),
            );
            tp.process(&self.tp_scratch);
        }
    }

    /// At the end of a full step: records each meter's energy over the step.
    fn sample_windows(&mut self) {
        let mut programme = 0.0;
        for (meter, windows) in &mut self.per_channel {
            let lufs = meter
                .loudness_window(LOUDNESS_STEP_MS)
                .expect("the meters keep a 400 ms window, more than one step");
            let energy = energy_of(lufs);
            programme += energy;
            windows.push(energy);
        }
        if let Some(windows) = &mut self.programme {
            windows.push(programme);
        }
    }

    /// The report. Feeds the last partial step to the meters first.
    pub fn finish(mut self) -> LevelReport {
        self.feed_meters();
        for (c, st) in self.stats.iter_mut().enumerate() {
            self.clips.close(c, st);
        }
        let clips: Vec<ClipRun> = std::mem::take(&mut self.clips.kept)
            .into_sorted_vec()
            .into_iter()
            .map(|(start, channel, length)| ClipRun {
                channel: channel + 1,
                start: FrameIndex(start),
                length: FrameCount(length),
            })
            .collect();

        let loudness = |windows: &Windows| ProgrammeLevels {
            sample_peak_dbfs: None,
            true_peak_dbtp: None,
            integrated_lufs: windows.integrated(),
            loudness_range_lu: windows.loudness_range(),
            max_momentary_lufs: lufs_of(windows.max_momentary),
            max_short_term_lufs: lufs_of(windows.max_short_term),
        };

        let n = self.frames;
        let fs = self.full_scale;
        let mut max_peak = 0u32;
        let mut max_true_peak: Option<f64> = None;
        let mut channels = Vec::with_capacity(self.channels);
        let mut true_peaks = std::mem::take(&mut self.true_peak).into_iter();
        for ((_, windows), st) in self.per_channel.iter().zip(&self.stats) {
            let c = channels.len();
            let sample_peak = f64::from(st.peak) / fs;
            let true_peak = true_peaks.next().and_then(|tp_meter| {
                let tp = f64::from(tp_meter.finish()).max(sample_peak);
                max_true_peak = Some(max_true_peak.unwrap_or(0.0).max(tp));
                db(tp)
            });
            max_peak = max_peak.max(st.peak);
            let mut levels = loudness(windows);
            levels.sample_peak_dbfs = db(sample_peak);
            levels.true_peak_dbtp = true_peak;
            channels.push(ChannelLevels {
                channel: c + 1,
                levels,
                dc_offset: if n == 0 {
                    0.0
                } else {
                    st.sum as f64 / n as f64 / fs
                },
                rms_dbfs: if n == 0 || st.sum_sq == 0 {
                    None
                } else {
                    Some(10.0 * (st.sum_sq as f64 / n as f64 / (fs * fs)).log10())
                },
                effective_bits: if st.or == 0 {
                    0
                } else {
                    self.bits - st.or.trailing_zeros()
                },
            });
        }
        let mut overall = match &self.programme {
            Some(windows) => loudness(windows),
            None => channels[0].levels.clone(),
        };
        overall.sample_peak_dbfs = db(f64::from(max_peak) / fs);
        overall.true_peak_dbtp = max_true_peak.and_then(db);

        let (head, tail) = match (self.first_sound, self.last_sound) {
            (Some(first), Some(last)) => (first, n - 1 - last),
            _ => (n, n),
        };
        LevelReport {
            overall,
            channels,
            clips,
            clip_runs_total: self.clips.total,
            head_silence: FrameCount(head),
            tail_silence: FrameCount(tail),
            frames: FrameCount(n),
            bits_per_sample: self.bits,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::dsp::test_noise::Noise;

    fn analyse_in_blocks(
        channels: usize,
        rate: u32,
        bits: u32,
        settings: &AnalysisSettings,
        samples: &[i32],
        block_frames: usize,
    ) -> LevelReport {
        let mut a = LevelAnalyser::new(channels, rate, bits, settings).unwrap();
        for block in samples.chunks(block_frames * channels) {
            a.process(block);
        }
        a.finish()
    }

    fn analyse(channels: usize, bits: u32, samples: &[i32]) -> LevelReport {
        let settings = AnalysisSettings::default();
        analyse_in_blocks(channels, 48_000, bits, &settings, samples, 4096)
    }

    fn json(r: &LevelReport) -> String {
        serde_json::to_string(r).unwrap()
    }

    const MAX16: i32 = i16::MAX as i32;
    const MIN16: i32 = i16::MIN as i32;

    /// A take with something of everything: silence, a tone, noise bursts with level changes,
    /// clipped stretches on each channel (some straddling 100 ms and 10 ms boundaries), a DC
    /// step, and a silent tail.
    fn busy_take(rate: u32, bits: u32, secs: f64) -> Vec<i32> {
        let half = 1i64 << (bits - 1);
        let (max, min) = ((half - 1) as i32, (-half) as i32);
        let full = half as f64;
        let frames = (secs * f64::from(rate)) as usize;
        let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
        let mut out = Vec::with_capacity(frames * 2);
        for n in 0..frames {
            let t = n as f64 / f64::from(rate);
            let (l, r) = if t < 0.25 {
                (0.0, 0.0)
            } else if t < 1.5 {
                let s = 0.3 * (std::f64::consts::TAU * 440.0 * t).sin();
                (s, 0.8 * s)
            } else if t < secs - 0.5 {
                let gain = if ((t * 2.0) as u64).is_multiple_of(2) {
                    0.5
                } else {
                    0.05
                };
                (gain * noise.next() + 0.01, gain * noise.next())
            } else {
                (0.0, 0.0)
            };
            let mut l = (l * full).round() as i32;
            let mut r = (r * full).round() as i32;
            // Clipped stretches: 5 frames every 0.7 s on the left, 3 on the right at 0.35 s.
            let phase = n % (rate as usize * 7 / 10);
            if t > 0.3 && phase < 5 {
                l = max;
            }
            if t > 0.3 && (rate as usize * 35 / 100..rate as usize * 35 / 100 + 3).contains(&phase)
            {
                r = min;
            }
            out.extend([l.clamp(min, max), r.clamp(min, max)]);
        }
        out
    }

    #[test]
    fn report_does_not_depend_on_block_size() {
        for (rate, bits) in [(48_000, 24), (44_100, 16), (22_050, 16), (96_000, 32)] {
            let samples = busy_take(rate, bits, 4.2);
            let settings = AnalysisSettings::default();
            let reference = json(&analyse_in_blocks(2, rate, bits, &settings, &samples, 4096));
            for block in [1, 64, 4095, 1_000_000] {
                let r = analyse_in_blocks(2, rate, bits, &settings, &samples, block);
                assert_eq!(
                    json(&r),
                    reference,
                    "{rate} Hz, {bits} bits, blocks of {block}"
                );
            }
            // Irregular blocks: 1, 2, 3, ... frames.
            let mut a = LevelAnalyser::new(2, rate, bits, &settings).unwrap();
            let mut rest = &samples[..];
            let mut size = 1;
            while !rest.is_empty() {
                let take = (size * 2).min(rest.len());
                a.process(&rest[..take]);
                rest = &rest[take..];
                size = size % 997 + 1;
            }
            assert_eq!(json(&a.finish()), reference, "{rate} Hz, irregular blocks");
            // The take is busy enough that every field is measured.
            let r: serde_json::Value = serde_json::from_str(&reference).unwrap();
            for key in [
                "integrated_lufs",
                "loudness_range_lu",
                "max_short_term_lufs",
            ] {
                assert!(r["overall"][key].is_f64(), "{key} in {reference}");
            }
            assert!(
                r["clip_runs_total"].as_u64().unwrap() > 5,
                "{rate}: {}",
                r["clip_runs_total"]
            );
        }
    }

    #[test]
    fn momentary_and_short_term_maxima_match_ebur128_queried_every_step() {
        // Our maxima come from 10 ms energies; ebur128's own momentary and short-term
        // readings, taken at the same points, must agree to rounding.
        let rate = 48_000;
        let samples = busy_take(rate, 24, 6.0);
        let r = analyse_in_blocks(2, rate, 24, &AnalysisSettings::default(), &samples, 777);
        let mut m = EbuR128::new(2, rate, Mode::S).unwrap();
        m.set_channel_map(&[Channel::Left, Channel::Right]).unwrap();
        let mut left = EbuR128::new(1, rate, Mode::S).unwrap();
        left.set_channel(0, Channel::Center).unwrap();
        let (mut max_m, mut max_s, mut left_m) = (f64::MIN, f64::MIN, f64::MIN);
        let step = rate as usize / 100;
        let shifted: Vec<i32> = samples.iter().map(|&x| x << 8).collect();
        for (k, chunk) in shifted.chunks(step * 2).enumerate() {
            if chunk.len() < step * 2 {
                break;
            }
            m.add_frames_i32(chunk).unwrap();
            let l: Vec<i32> = chunk.iter().step_by(2).copied().collect();
            left.add_frames_i32(&l).unwrap();
            if k + 1 >= 40 {
                max_m = max_m.max(m.loudness_momentary().unwrap());
                left_m = left_m.max(left.loudness_momentary().unwrap());
            }
            if k + 1 >= 300 {
                max_s = max_s.max(m.loudness_shortterm().unwrap());
            }
        }
        let close = |a: Option<f64>, b: f64| (a.unwrap() - b).abs() < 1e-9;
        assert!(
            close(r.overall.max_momentary_lufs, max_m),
            "{r:?} vs {max_m}"
        );
        assert!(
            close(r.overall.max_short_term_lufs, max_s),
            "{r:?} vs {max_s}"
        );
        assert!(close(r.channels[0].levels.max_momentary_lufs, left_m));
    }

    #[test]
    fn clip_runs_are_found_and_joined_across_blocks() {
        // 16-bit stereo, 1000 frames; min run 2.
        let mut s = vec![0i32; 2000];
        let mut set = |frame: usize, ch: usize, v: i32| s[frame * 2 + ch] = v;
        for f in 100..103 {
            set(f, 0, MAX16); // run of 3 at the maximum
        }
        set(200, 0, MAX16); // a single sample: below the minimum run
        for f in 300..302 {
            set(f, 0, MIN16); // run of 2 at the minimum
        }
        for f in 400..402 {
            set(f, 1, MAX16); // rail to rail: two runs of 2
        }
        for f in 402..404 {
            set(f, 1, MIN16);
        }
        for f in 500..540 {
            set(f, 1, MIN16); // 40 frames, across every small block boundary
        }
        set(600, 0, MAX16 - 1); // one below the rail is not a clip
        set(601, 0, MAX16 - 1);
        for f in 996..1000 {
            set(f, 0, MIN16); // still open at the end of the take
        }
        let run = |channel, start, length| ClipRun {
            channel,
            start: FrameIndex(start),
            length: FrameCount(length),
        };
        let want = vec![
            run(1, 100, 3),
            run(1, 300, 2),
            run(2, 400, 2),
            run(2, 402, 2),
            run(2, 500, 40),
            run(1, 996, 4),
        ];
        let settings = AnalysisSettings::default();
        for block in [1, 2, 3, 64, 4096] {
            let r = analyse_in_blocks(2, 48_000, 16, &settings, &s, block);
            assert_eq!(r.clips, want, "blocks of {block}");
            assert_eq!(r.clip_runs_total, 6);
            assert_eq!(r.overall.sample_peak_dbfs, Some(0.0));
        }
        let single = AnalysisSettings {
            clip_min_run: 1,
            ..AnalysisSettings::default()
        };
        let r = analyse_in_blocks(2, 48_000, 16, &single, &s, 7);
        assert_eq!(r.clip_runs_total, 7);
        assert_eq!(r.clips[1], run(1, 200, 1));
    }

    #[test]
    fn clip_list_is_capped_but_counted() {
        // Mono 16-bit: [max, max, 0] 15 000 times, so 15 000 runs of 2.
        let runs = 15_000;
        let s: Vec<i32> = (0..runs).flat_map(|_| [MAX16, MAX16, 0]).collect();
        let settings = AnalysisSettings::default();
        let reference = analyse_in_blocks(1, 48_000, 16, &settings, &s, 4096);
        assert_eq!(reference.clip_runs_total, runs as u64);
        assert_eq!(reference.clips.len(), MAX_CLIP_RUNS);
        // The earliest runs are kept, in order.
        for (i, c) in reference.clips.iter().enumerate() {
            assert_eq!(
                (c.start, c.length),
                (FrameIndex(3 * i as u64), FrameCount(2))
            );
        }
        let r = analyse_in_blocks(1, 48_000, 16, &settings, &s, 1);
        assert_eq!(json(&r), json(&reference));
    }

    #[test]
    fn head_and_tail_silence_use_every_channel_and_the_threshold() {
        // 16-bit: -60 dBFS is 32.77, so 32 is silence (-60.2 dBFS) and 33 is not (-59.94).
        let mut s = vec![0i32; 8000 * 2];
        for f in 0..8000 {
            s[f * 2] = if f % 2 == 0 { 32 } else { -32 };
            s[f * 2 + 1] = -32;
        }
        s[1000 * 2 + 1] = 33; // the first frame with sound, on the right channel
        s[5000 * 2] = -33; // the last, on the left
        let r = analyse(2, 16, &s);
        assert_eq!(r.head_silence, FrameCount(1000));
        assert_eq!(r.tail_silence, FrameCount(8000 - 1 - 5000));
        assert_eq!(r.frames, FrameCount(8000));
        for block in [1, 3, 999] {
            let b = analyse_in_blocks(2, 48_000, 16, &AnalysisSettings::default(), &s, block);
            assert_eq!(
                (b.head_silence, b.tail_silence),
                (r.head_silence, r.tail_silence)
            );
        }
        // A lower threshold makes the ±32 samples sound from the first frame.
        let low = AnalysisSettings {
            silence_threshold_dbfs: -61.0,
            ..AnalysisSettings::default()
        };
        let r = analyse_in_blocks(2, 48_000, 16, &low, &s, 4096);
        assert_eq!(
            (r.head_silence, r.tail_silence),
            (FrameCount(0), FrameCount(0))
        );
    }

    #[test]
    fn silent_and_empty_takes_are_all_silence_and_unmeasurable() {
        let r = analyse(2, 24, &vec![0; 48_000 * 2 * 4]);
        assert_eq!(r.head_silence, FrameCount(48_000 * 4));
        assert_eq!(r.tail_silence, FrameCount(48_000 * 4));
        let v: serde_json::Value = serde_json::to_value(&r).unwrap();
        for key in [
            "sample_peak_dbfs",
            "true_peak_dbtp",
            "integrated_lufs",
            "loudness_range_lu",
            "max_momentary_lufs",
            "max_short_term_lufs",
        ] {
            assert!(v["overall"][key].is_null(), "{key}: {v}");
            assert!(v["channels"][1][key].is_null(), "{key}: {v}");
        }
        assert!(v["channels"][0]["rms_dbfs"].is_null());
        assert_eq!(v["channels"][0]["dc_offset"], 0.0);
        assert_eq!(v["channels"][1]["channel"], 2);

        let empty = analyse(1, 16, &[]);
        assert_eq!(empty.frames, FrameCount(0));
        assert_eq!(
            (empty.head_silence, empty.tail_silence),
            (FrameCount(0), FrameCount(0))
        );
        assert_eq!(empty.channels[0].dc_offset, 0.0);
        assert_eq!(empty.overall.integrated_lufs, None);
    }

    #[test]
    fn dc_offset_rms_and_sample_peak_are_exact() {
        // Left: constant +16384 (half scale). Right: alternating +16384 / −16384.
        let s: Vec<i32> = (0..10_000)
            .flat_map(|i| [16_384, if i % 2 == 0 { 16_384 } else { -16_384 }])
            .collect();
        let r = analyse(2, 16, &s);
        let half_db = 20.0 * 0.5f64.log10();
        let (l, rt) = (&r.channels[0], &r.channels[1]);
        assert_eq!(l.dc_offset, 0.5);
        assert_eq!(rt.dc_offset, 0.0);
        assert_eq!(l.rms_dbfs, Some(half_db));
        assert_eq!(rt.rms_dbfs, Some(half_db));
        assert_eq!(l.levels.sample_peak_dbfs, Some(half_db));
        assert_eq!(r.overall.sample_peak_dbfs, Some(half_db));
        // −2^(bits−1) is exactly full scale; a one-sample peak is found.
        let mut s = vec![100i32; 24_000];
        s[12_345] = -(1 << 23);
        let r = analyse(1, 24, &s);
        assert_eq!(r.overall.sample_peak_dbfs, Some(0.0));
        assert_eq!(
            r.channels[0].dc_offset,
            (100.0 * 23_999.0 - 8_388_608.0) / 24_000.0 / 8_388_608.0
        );
        // 32-bit: squares need 128-bit sums.
        let s = vec![i32::MIN; 96_000];
        let r = analyse(1, 32, &s);
        assert_eq!(r.channels[0].rms_dbfs, Some(0.0));
        assert_eq!(r.channels[0].dc_offset, -1.0);
    }

    #[test]
    fn effective_bits_show_content_narrower_than_its_word() {
        // 16-bit content in 24-bit words: the low 8 bits are zero in every sample.
        let s16 = busy_take(48_000, 16, 1.0);
        let padded: Vec<i32> = s16.iter().map(|v| v << 8).collect();
        for block in [1, 4096] {
            let r = analyse_in_blocks(2, 48_000, 24, &AnalysisSettings::default(), &padded, block);
            let bits: Vec<u32> = r.channels.iter().map(|c| c.effective_bits).collect();
            assert_eq!(bits, [16, 16], "blocks of {block}");
            assert_eq!(r.bits_per_sample, 24);
        }
        // Native 24-bit content uses all 24; one sample with bit 4 set makes 20 of 20-bit
        // content padded to 24; a silent channel uses none.
        let r = analyse(2, 24, &busy_take(48_000, 24, 1.0));
        assert!(r.channels.iter().all(|c| c.effective_bits == 24), "{r:?}");
        let mut s: Vec<i32> = busy_take(48_000, 24, 0.5)
            .chunks_exact(2)
            .flat_map(|f| [f[0] & !0xff, 0])
            .collect();
        let r = analyse(2, 24, &s);
        assert_eq!(
            r.channels
                .iter()
                .map(|c| c.effective_bits)
                .collect::<Vec<_>>(),
            [16, 0]
        );
        s[1000] |= 1 << 4;
        assert_eq!(analyse(2, 24, &s).channels[0].effective_bits, 20);
        // Negative samples count by their two's complement bits, as the converter wrote them.
        let r = analyse(1, 16, &[-256, 512, -1024]);
        assert_eq!(r.channels[0].effective_bits, 8);
    }

    #[test]
    fn full_scale_sine_rms_is_minus_3_01_dbfs() {
        let full = f64::from(1u32 << 23) - 1.0;
        // 1 kHz at 48 kHz: a whole number of cycles in 48 000 samples.
        let s: Vec<i32> = (0..48_000)
            .map(|n| (full * (std::f64::consts::TAU * n as f64 / 48.0).sin()).round() as i32)
            .collect();
        let r = analyse(1, 24, &s);
        let rms = r.channels[0].rms_dbfs.unwrap();
        assert!((rms - -3.0103).abs() < 0.001, "{rms}");
        assert!(r.channels[0].dc_offset.abs() < 1e-9);
    }

    #[test]
    fn out_of_range_samples_are_clamped_and_clip() {
        let s = vec![40_000, 40_000, -40_000, -40_000, 0];
        let r = analyse(1, 16, &s);
        assert_eq!(r.clip_runs_total, 2);
        assert_eq!(r.overall.sample_peak_dbfs, Some(0.0));
    }

    #[test]
    fn mono_programme_is_its_channel() {
        let s: Vec<i32> = busy_take(48_000, 24, 4.0).into_iter().step_by(2).collect();
        let r = analyse(1, 24, &s);
        assert_eq!(r.overall, r.channels[0].levels);
        assert!(r.overall.integrated_lufs.is_some());
        assert!(r.overall.true_peak_dbtp >= r.overall.sample_peak_dbfs);
    }

    #[test]
    fn true_peak_can_be_turned_off() {
        let s = busy_take(48_000, 24, 1.0);
        let off = AnalysisSettings {
            true_peak: false,
            ..AnalysisSettings::default()
        };
        let r = analyse_in_blocks(2, 48_000, 24, &off, &s, 4096);
        assert_eq!(r.overall.true_peak_dbtp, None);
        assert!(r.channels.iter().all(|c| c.levels.true_peak_dbtp.is_none()));
        let on = analyse(2, 24, &s);
        assert_eq!(on.overall.integrated_lufs, r.overall.integrated_lufs);
        assert!(on.overall.true_peak_dbtp.unwrap() >= on.overall.sample_peak_dbfs.unwrap());
    }

    #[test]
    fn short_takes_have_no_windowed_measures() {
        // 2 s of tone: momentary yes, short-term and loudness range no.
        let s: Vec<i32> = (0..96_000)
            .map(|n| (1e6 * (n as f64 * 0.13).sin()) as i32)
            .collect();
        let r = analyse(1, 24, &s);
        assert!(r.overall.max_momentary_lufs.is_some());
        assert!(r.overall.integrated_lufs.is_some());
        assert_eq!(r.overall.max_short_term_lufs, None);
        assert_eq!(r.overall.loudness_range_lu, None);
        // 0.3 s: not even momentary.
        let r = analyse(1, 24, &s[..14_400]);
        assert_eq!(r.overall.max_momentary_lufs, None);
    }

    #[test]
    fn invalid_formats_and_settings_are_refused_with_context() {
        let ok = AnalysisSettings::default();
        let err = |c, r, b, s: &AnalysisSettings| LevelAnalyser::new(c, r, b, s).err().unwrap();
        let e = err(0, 48_000, 24, &ok);
        assert!(matches!(e, LevelError::Channels { channels: 0 }), "{e}");
        assert!(e.to_string().contains("0 channels"), "{e}");
        assert!(matches!(
            err(65, 48_000, 24, &ok),
            LevelError::Channels { .. }
        ));
        let e = err(2, 7_999, 24, &ok);
        assert!(e.to_string().contains("7999 Hz"), "{e}");
        assert!(matches!(
            err(2, 768_001, 24, &ok),
            LevelError::SampleRate { .. }
        ));
        let e = err(2, 48_000, 33, &ok);
        assert!(e.to_string().contains("33-bit"), "{e}");
        assert!(matches!(
            err(2, 48_000, 7, &ok),
            LevelError::BitsPerSample { bits: 7 }
        ));
        let zero_run = AnalysisSettings {
            clip_min_run: 0,
            ..ok.clone()
        };
        let e = err(2, 48_000, 24, &zero_run);
        assert!(e.to_string().contains("clip_min_run"), "{e}");
        let nan = AnalysisSettings {
            silence_threshold_dbfs: f64::NAN,
            ..ok.clone()
        };
        assert!(matches!(
            err(2, 48_000, 24, &nan),
            LevelError::Settings { .. }
        ));
        for (c, r, b) in [(1, 8_000, 8), (64, 768_000, 32), (8, 44_100, 16)] {
            assert!(LevelAnalyser::new(c, r, b, &ok).is_ok(), "{c} {r} {b}");
        }
    }

    #[test]
    #[should_panic(expected = "not a whole number")]
    fn partial_frames_are_refused() {
        let mut a = LevelAnalyser::new(2, 48_000, 16, &AnalysisSettings::default()).unwrap();
        a.process(&[1, 2, 3]);
    }

    #[test]
    fn settings_default_and_round_trip() {
        let d = AnalysisSettings::default();
        assert_eq!(
            (d.silence_threshold_dbfs, d.clip_min_run, d.true_peak),
            (-60.0, 2, true)
        );
        let back: AnalysisSettings =
            serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
        assert_eq!(back, d);
    }

    /// CPU time of this thread, s: what a measurement costs, whatever else the machine runs.
    fn thread_cpu_seconds() -> f64 {
        let mut t = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `t` is a valid timespec for the call to fill.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
        assert_eq!(rc, 0);
        t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
    }

    /// Throughput at 96 kHz 24-bit, stereo and 8 tracks, true peak off and on, of the level
    /// analysis alone and with the defect analysis ([`super::super::defects`]) beside it on the
    /// same thread, as ingest runs them; thread CPU time, best of 5, the two interleaved. Run
    /// with `cargo test --release --lib -- --ignored --nocapture throughput`.
    #[test]
    #[ignore]
    fn throughput_96k_stereo() {
        use super::super::defects::DefectAnalyser;
        let rate = 96_000;
        let secs = 120.0;
        let stereo = busy_take(rate, 24, secs);
        let eight: Vec<i32> = stereo
            .chunks_exact(2)
            .take(rate as usize * 30)
            .flat_map(|f| [f[0], f[1], f[1], f[0], -f[0], f[1] / 2, f[0] / 3, -f[1]])
            .collect();
        for (channels, samples, secs) in [(2, &stereo, secs), (8, &eight, 30.0)] {
            for tp in [false, true] {
                let settings = AnalysisSettings {
                    true_peak: tp,
                    ..Default::default()
                };
                let (mut levels, mut both) = (f64::MAX, f64::MAX);
                for _ in 0..5 {
                    let t = thread_cpu_seconds();
                    let r = analyse_in_blocks(channels, rate, 24, &settings, samples, 16_384);
                    levels = levels.min(thread_cpu_seconds() - t);
                    assert!(r.overall.integrated_lufs.is_some());
                    let t = thread_cpu_seconds();
                    let mut a = LevelAnalyser::new(channels, rate, 24, &settings).unwrap();
                    let mut d = DefectAnalyser::new(channels, rate, 24, &settings).unwrap();
                    for block in samples.chunks(16_384 * channels) {
                        a.process(block);
                        d.process(block);
                    }
                    let (r, defects) = (a.finish(), d.finish());
                    both = both.min(thread_cpu_seconds() - t);
                    assert!(r.overall.integrated_lufs.is_some());
                    assert!(defects.phase.len() == channels - 1);
                }
                println!(
                    "96 kHz 24-bit, {channels} channels, true peak {}: levels {:.0}x real time \
                     ({:.2} ms per second of audio), levels + defects {:.0}x ({:.2} ms; +{:.0}%)",
                    if tp { "on" } else { "off" },
                    secs / levels,
                    levels / secs * 1000.0,
                    secs / both,
                    both / secs * 1000.0,
                    (both / levels - 1.0) * 100.0
                );
            }
        }
    }

    /// One analyser over 10 s of 96 kHz stereo, chosen by `CAPSTAN_PROBE` (`none`, `levels`,
    /// `levels-tp`, `defects`): for counting instructions with `valgrind --tool=callgrind`,
    /// which, unlike time on a shared machine, does not vary from run to run.
    #[test]
    #[ignore]
    fn cost_probe() {
        use super::super::defects::DefectAnalyser;
        let samples = busy_take(96_000, 24, 10.0);
        let which = std::env::var("CAPSTAN_PROBE").unwrap_or_default();
        let settings = AnalysisSettings {
            true_peak: which == "levels-tp",
            ..Default::default()
        };
        if which == "none" {
            assert!(!samples.is_empty()); // the signal alone, to subtract
        } else if which == "defects" {
            let mut d = DefectAnalyser::new(2, 96_000, 24, &settings).unwrap();
            for block in samples.chunks(16_384 * 2) {
                d.process(block);
            }
            assert_eq!(d.finish().phase.len(), 1);
        } else {
            let r = analyse_in_blocks(2, 96_000, 24, &settings, &samples, 16_384);
            assert!(r.overall.integrated_lufs.is_some());
        }
    }

    #[test]
    fn analyser_can_move_to_another_thread() {
        fn send<T: Send>(_: &T) {}
        let a = LevelAnalyser::new(2, 48_000, 24, &AnalysisSettings::default()).unwrap();
        send(&a);
        let r = std::thread::spawn(move || a.finish()).join().unwrap();
        send(&r);
    }
}
