//! The defect map of a take beside its levels: dropouts (sudden falls of a channel to
//! near-silence, and digital dropouts where a channel holds one value), and for each pair of
//! adjacent channels their phase correlation and the time offset between them (the azimuth
//! estimate of a tape transfer).
//!
//! A pure kernel: interleaved integer samples in, a [`DefectReport`] out, no I/O. It runs on the
//! same streamed samples as [`super::levels`], beside the FLAC encoder, so it is built to be
//! cheap (see *Cost*). Clipping, DC offset, head/tail silence and effective bit depth are
//! measured by [`super::levels`]; clicks by the declicker.
//!
//! # Promises
//!
//! - **Block-size independence.** Samples are buffered and examined in fixed steps of
//!   [`STEP_MS`] ms of the take; every decision is taken at positions fixed by frame indices
//!   (1 ms cells, 40 ms steps, 400 ms windows), and every sum runs in a fixed order, so blocks
//!   of 1, 64 or 4096 frames give byte-identical JSON (tested).
//! - **Memory** is allocated in [`DefectAnalyser::new`] and does not grow with the take: a few
//!   tens of ms of history per channel, one cross-correlation accumulator of
//!   2·⌈rate/1000⌉+1 lags per pair, and the dropout and phase-alarm lists, each capped at
//!   [`MAX_DROPOUTS`] and [`MAX_PHASE_ALARMS`] (the earliest kept; `dropouts_total` counts on).
//! - **`None` means "not measurable"** (serialised as `null`): a silent channel has no
//!   correlation, a take shorter than one window no windowed minimum, and a pair without common
//!   signal no offset.
//!
//! # Dropouts (per channel)
//!
//! The level of a channel is its RMS, with the mean removed (so DC offset and slow rumble do
//! not hold it up), over a 5 ms window, re-evaluated every 1 ms cell (`⌊rate/1000⌋` frames;
//! computed from exact integer sums). Five milliseconds span a half period of 100 Hz, so a
//! zero crossing of programme down to 40 Hz reads at most 6 dB low. RMS rather than peak,
//! because clicks and crackle, everywhere in archival material, have peaks 15-20 dB above
//! their RMS: with a peak level, a burst of crackle in a pause was "programme" and its end a
//! dropout (the shared corpus's click-degraded speech did that).
//!
//! - **A level dropout** starts where the 5 ms level falls at least `dropout_fall_db`
//!   (default 24 dB, in the profile's `[analysis]`) below the *programme level*: the lowest
//!   5 ms level of the four windows (20 ms) just before. Taking the lowest makes the reference
//!   a level the programme *sustained*, so a click in a pause cannot set it, and the fall must
//!   happen within about one cell: a natural decay, a reverberant stop or a fade loses a few
//!   dB per 5 ms and never qualifies, however deep it ends. The programme level must be at or
//!   above the silence threshold (`silence_threshold_dbfs`, as an RMS), so a dropout is always
//!   *inside* the programme. It lasts at least 5 ms (one whole quiet window) and ends where
//!   the level has come back 12 dB above the threshold of the fall, i.e. to
//!   `dropout_fall_db − 12` dB below the programme level before it (half way, when the fall is
//!   set below 24 dB): hysteresis, so that a residue flickering near the threshold does not
//!   end it.
//!   The programme must also have been *moving*: in none of those four windows did half the
//!   samples or more repeat the one before. A square wave, a staircase or a sum of square
//!   waves (test signals, synthesisers, a buzz) holds values for milliseconds by design and
//!   its level, measured about its mean, falls to nothing on every plateau; nothing in such
//!   programme is called a dropout (issue 15: a 60 + 90 Hz square pair drew 358 per 3 s).
//!   A fall from which the channel has not recovered when the take ends is not a dropout but
//!   the end of the programme (tail silence), and one that lasts more than 250 ms is a stop
//!   or an edit (the end of a line-up tone, a paused recorder), not a dropout.
//!   Start and end are refined to the frame: the start follows the last sample outside the
//!   range of the first quiet window, the end is the first sample as far from that range's
//!   middle as the RMS of the recovery level. `fall_db` is the programme's level over the
//!   dropout's mean level; `null` when it held one value.
//!   Why 24 dB: on the real recordings of the shared corpus (solo guitar, reverberant speech, a
//!   sampled drum kit, orchestra, with and without added clicks and crackle) the largest fall
//!   this measure sees in programme is 19.7 dB (speech; 19.4 dB for the drums), while the demo
//!   tape's 30 dB oxide dropout reads 26 to 27 dB against its sustained reference.
//! - **A digital dropout** is a run of at least `max(⌊rate/1000⌋, 32)` frames (1 ms; 4 ms at
//!   8 kHz) in which a channel holds one exact value that is not a rail value (runs at the
//!   rails are clips), after a stretch in which the channel was moving: every 5 ms window of the
//!   20 ms before the run held a sample-to-sample change of at least 4 quantisation steps and
//!   fewer than half its samples equal to the one before (moving, not stepped, as above; the
//!   step is the smallest the channel has used so far, so 16-bit content in a 24-bit container
//!   is judged in 16-bit steps), and was not fading (the peak-to-peak range of the last 5 ms at
//!   least half that of each 5 ms before: a linear fade, abrupt in dB at its very end, reaches
//!   digital silence without a fault), and the value held lies inside the range the channel
//!   had in those 20 ms. A run ends, and so is reported, only when the channel changes
//!   again before the end of the take. Band-limited programme cannot hold one value for 1 ms
//!   while moving that fast, even at the peak of a 10 Hz sine, so this finds what a capture
//!   or ADC fault does (zeros, or a held sample) and not quiet passages, fades into digital
//!   silence, or low tones near their peaks. A digital run inside a level dropout is part of
//!   it (its `held_value`).
//!
//! # Phase (per pair of adjacent channels: 1–2, 2–3, …)
//!
//! Adjacent pairs, because that is what shares something on a carrier: the two sides of a
//! stereo image, or neighbouring tracks of one head stack, whose offsets grow across the head
//! with its azimuth error. Mono takes have none.
//!
//! - **Correlation**: Pearson's coefficient of the two channels' samples (each window's mean
//!   removed, so DC offset does not count), over the whole take (`correlation`) and over
//!   consecutive 400 ms windows from the start of the take (the momentary time scale of EBU
//!   Tech 3341), of which the lowest is `min_correlation` at `min_at`. Windows where either
//!   channel's RMS is below the silence threshold are not counted: uncorrelated hiss in a
//!   pause says nothing. +1: identical, 0: unrelated, −1: one channel inverted.
//! - **Phase alarms**, for two-channel takes only (multitrack tracks are independent and are
//!   reported, never flagged): runs of consecutive 400 ms windows whose correlation is below
//!   `phase_alarm_correlation` (default −0.5; −1 turns them off). A channel wired or recorded
//!   in reverse polarity turns the usual +0.5 to +1 of stereo into −0.5 to −1, while wide
//!   stereo programme dips below 0 by itself: the orchestral recording of the shared corpus
//!   has a window at −0.25, too near −0.3 to flag.
//! - **Time offset** (`offset_samples`, `offset_us`; positive when the second channel of the
//!   pair is late): the lag of the largest cross-correlation magnitude within ±1 ms
//!   (±⌈rate/1000⌉ lags), accumulated over the whole take on the channels' first differences
//!   (which removes DC and tilts the spectrum towards the treble, where azimuth error shows,
//!   sharpening the peak). The peak is refined below one sample by interpolating the
//!   correlation itself (a Lanczos kernel, a = 8: the correlation of band-limited signals is
//!   band-limited) and taking the maximum; parabolic interpolation alone is biased by up to
//!   0.1 sample on wideband programme. `offset_correlation` is the normalised correlation of
//!   the differences at the offset; below 0.1, or with the peak at the edge of the range,
//!   there is no common signal to measure and the offset is `null`.
//!   To bound the cost, the correlation takes its centre samples in runs of 256 consecutive
//!   ones, one run every `D`·256 frames, where `D` keeps the work near 0.3 million
//!   multiply-adds per second of audio per take, and at least 0.1 million per pair (for
//!   stereo `D` is 14 at 44.1 kHz, 16 at 48 kHz, 62 at 96 kHz); every lag is still computed at
//!   the full rate. Runs rather than one centre in `D`: within a run the correlations at +τ
//!   and −τ come from the same samples of the first channel, so sampling noise cannot push a
//!   broad (tonal) peak aside. With a 0.3, 2.5 or 7.25-sample delay planted in the corpus's
//!   recordings the offset came out within 0.03 sample over 20 s and 0.14 over 2 s (the same
//!   as with eight times the work over 20 s); on band-limited noise within 0.01 sample over
//!   1 s (tested to 0.1).
//!
//! # Cost
//!
//! One pass over each channel's samples (range, largest change, level sums and the
//! differences, in explicit f32 lanes that SSE2 vectorises), one over each pair's products,
//! and the cross-correlation's 0.3 million multiply-adds per second (at least 0.1 million per
//! pair). For 10 s of 96 kHz 24-bit stereo (the ignored test `cost_probe` in
//! [`super::levels`] under `valgrind --tool=callgrind`): 50 million instructions, against 222
//! million for the level analysis with true peak (161 without); in time (the ignored test
//! `throughput_96k_stereo`, on the project's shared 2-core machine, whose load makes single
//! runs vary by ±10 points): +8 to +24 % over the level analysis with true peak, +16 to +30 %
//! without. A whole `capstan ingest` of 5.6 minutes of 96 kHz stereo used 3.5 % more CPU and
//! no more wall time (the encoder, on its own thread, sets the pace).

use super::levels::{AnalysisSettings, LevelError, MAX_CHANNELS, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE};
use crate::units::{FrameCount, FrameIndex, Timecode};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Dropouts kept in the report; beyond this only `dropouts_total` grows.
pub const MAX_DROPOUTS: usize = 10_000;

/// Phase alarms kept in the report (the earliest).
pub const MAX_PHASE_ALARMS: usize = 10_000;

/// Cells in the window whose peak-to-peak value is the channel's level (5 ms).
const WINDOW_CELLS: u64 = 5;

/// Windows before the current one whose lowest level is the programme level (20 ms).
const REFERENCE_WINDOWS: u64 = 4;

/// Cells of statistics kept per channel: the current window and the reference windows.
const RING: usize = (WINDOW_CELLS * (REFERENCE_WINDOWS + 1)) as usize;

/// How far above its floor, in dB, the level must come back to end a dropout (at most half
/// the fall).
const RECOVERY_DB: f64 = 12.0;

/// Longest level dropout, ms. Tape dropouts (shed oxide, a crease, a splice) last from a few
/// ms to a few hundred; a longer sudden gap is a stop or an edit in the recording, such as
/// the end of a line-up tone, and is left to the listener.
const MAX_LEVEL_DROPOUT_MS: u64 = 250;

/// Shortest digital dropout in frames, whatever the rate.
const DIGITAL_MIN_FRAMES: usize = 32;

/// Sample-to-sample change, in quantisation steps, that makes a channel "moving".
const BUSY_STEPS: u64 = 4;

/// How many cells before the first quiet window a dropout's start is sought: the last sample
/// outside the quiet range is in the reference window just before it, or very near.
const START_SEARCH_CELLS: u64 = 2 * WINDOW_CELLS;

/// The step in which samples are buffered and examined, ms of the take.
pub const STEP_MS: u32 = 40;

/// Steps in a correlation window: 400 ms.
const PHASE_WINDOW_STEPS: u64 = 10;

/// Multiply-adds per second of audio spent on the cross-correlation of a take, shared by its
/// pairs, but at least [`MIN_PAIR_PRODUCTS_PER_SECOND`] for each.
const LAG_PRODUCTS_PER_SECOND: u64 = 300_000;
const MIN_PAIR_PRODUCTS_PER_SECOND: u64 = 100_000;

/// Consecutive centres the cross-correlation takes at a time.
const LAG_RUN: u64 = 256;

/// Below this normalised correlation at the peak, a pair has no common signal to time.
const OFFSET_MIN_CORRELATION: f64 = 0.1;

/// Half-width of the Lanczos kernel that interpolates the cross-correlation.
const LANCZOS_A: i64 = 8;

/// A dropout in one channel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dropout {
    /// 1-based.
    pub channel: usize,
    pub start: FrameIndex,
    pub length: FrameCount,
    /// How far the level fell: the programme's power before the dropout over its mean power
    /// during it (5 ms windows), dB. `None`: it held one value throughout.
    pub fall_db: Option<f64>,
    /// The value a digital dropout held the channel at (right-justified), if any.
    pub held_value: Option<i32>,
}

/// Phase correlation and time offset of two channels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct PairPhase {
    /// 1-based, the earlier first.
    pub channels: [usize; 2],
    /// Pearson correlation over the whole take, −1 to +1.
    pub correlation: Option<f64>,
    /// The lowest correlation of a 400 ms window in which both channels are above the silence
    /// threshold.
    pub min_correlation: Option<f64>,
    /// Where that window starts.
    pub min_at: Option<FrameIndex>,
    pub min_at_time: Option<Timecode>,
    /// How late the second channel is, in samples (negative: early).
    pub offset_samples: Option<f64>,
    /// The same in microseconds.
    pub offset_us: Option<f64>,
    /// Normalised correlation of the channels' first differences at that offset (how much
    /// common signal the offset rests on), −1 to +1.
    pub offset_correlation: Option<f64>,
}

/// A run of 400 ms windows in which a stereo pair is out of phase.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhaseAlarm {
    pub channels: [usize; 2],
    pub start: FrameIndex,
    pub length: FrameCount,
    /// The lowest window correlation in the run.
    pub correlation: f64,
}

/// Everything this kernel found in a take.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DefectReport {
    /// At most [`MAX_DROPOUTS`], ordered by start frame then channel.
    pub dropouts: Vec<Dropout>,
    /// Every dropout found, including those beyond the cap.
    pub dropouts_total: u64,
    /// One entry per pair of adjacent channels, in order.
    pub phase: Vec<PairPhase>,
    /// In order; two-channel takes only.
    pub phase_alarms: Vec<PhaseAlarm>,
    pub frames: FrameCount,
}

/// Statistics of one cell of one channel, or of a window of cells.
#[derive(Clone, Copy)]
struct Cell {
    max: i32,
    min: i32,
    /// Largest |x[n] − x[n−1]|.
    dmax: u64,
    /// Samples equal to the one before them.
    still: u64,
    frames: u64,
    /// Σ(x − offset) and Σ(x − offset)², in sample units. The offset is near the samples'
    /// mean (the previous cell's), so a DC offset never cancels the level's precision away.
    offset: f64,
    s1: f64,
    s2: f64,
}

impl Cell {
    const EMPTY: Cell = Cell {
        max: i32::MIN,
        min: i32::MAX,
        dmax: 0,
        still: 0,
        frames: 0,
        offset: 0.0,
        s1: 0.0,
        s2: 0.0,
    };

    /// Both cells' statistics, the sums taken about this one's offset (re-centring needs no
    /// division: Σ(x − a)² = Σ(x − b)² + 2(b − a)Σ(x − b) + n(b − a)²).
    fn join(self, o: Cell) -> Cell {
        let (offset, s1, s2) = if self.frames == 0 {
            (o.offset, o.s1, o.s2)
        } else {
            let shift = o.offset - self.offset;
            let n = o.frames as f64;
            (
                self.offset,
                self.s1 + o.s1 + n * shift,
                self.s2 + o.s2 + 2.0 * shift * o.s1 + n * shift * shift,
            )
        };
        Cell {
            max: self.max.max(o.max),
            min: self.min.min(o.min),
            dmax: self.dmax.max(o.dmax),
            still: self.still + o.still,
            frames: self.frames + o.frames,
            offset,
            s1,
            s2,
        }
    }

    /// Whether the stretch is stepped rather than moving: at least half its samples repeat
    /// the one before. Band-limited programme changes on nearly every sample while it is
    /// loud enough to have a level; a square wave, a staircase or a sum of square waves holds
    /// each value for milliseconds by design, so a held stretch in it is no fault.
    fn stepped(&self) -> bool {
        2 * self.still >= self.frames
    }

    fn peak_to_peak(&self) -> i64 {
        i64::from(self.max) - i64::from(self.min)
    }

    /// Mean square with the mean removed: the RMS level, squared, in sample units. Exactly 0
    /// for a stretch that holds one value.
    fn power(&self) -> f64 {
        if self.frames == 0 || self.max == self.min {
            return 0.0;
        }
        let n = self.frames as f64;
        let mean = self.s1 / n;
        (self.s2 / n - mean * mean).max(0.0)
    }

    fn mean(&self) -> f64 {
        if self.frames == 0 {
            self.offset
        } else {
            self.offset + self.s1 / self.frames as f64
        }
    }
}

/// A dropout found, ordered for the capped list by (start, channel).
#[derive(Clone, Debug)]
struct Found {
    start: u64,
    channel: usize,
    end: u64,
    fall_db: Option<f64>,
    held: Option<i32>,
}

impl PartialEq for Found {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Found {}
impl PartialOrd for Found {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Found {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.start, self.channel).cmp(&(other.start, other.channel))
    }
}

/// A level dropout in progress.
struct Falling {
    start: u64,
    /// The programme's power (see [`Cell::power`]) before the fall.
    reference: f64,
    /// qmax + qmin of the first quiet window: twice its middle.
    mid2: i64,
    /// Power (see [`Cell::power`]) that ends the dropout.
    recovery: f64,
    /// Sum and count of the 5 ms powers seen each ms during the dropout.
    power_sum: f64,
    windows: u64,
    /// Digital dropouts inside it: its held value, or themselves if it is abandoned.
    digital: Vec<Found>,
}

/// What one channel carries from cell to cell.
struct ChannelState {
    cell: Cell,
    /// The last [`WINDOW_CELLS`] cells, and the windows (with their powers) that ended at each
    /// of the last [`RING`] cells.
    cells: [Cell; WINDOW_CELLS as usize],
    windows: [Cell; RING],
    powers: [f64; RING],
    /// The previous cell's mean, about which levels are summed.
    offset: f32,
    /// Σx and Σx² of the step so far, for the correlations.
    step_sum: f64,
    step_sq: f64,
    /// OR of every sample so far: its trailing zeros give the quantisation step in use.
    or: u32,
    /// The run of identical samples in progress.
    run_start: u64,
    run_value: i32,
    /// Whether the run qualifies as a digital dropout, decided once it is long enough.
    run_verdict: Option<bool>,
    falling: Option<Falling>,
    /// Digital dropouts that a level dropout detected a little later may still take in.
    pending: Vec<Found>,
}

/// Running sums of a pair over some stretch.
#[derive(Clone, Copy, Default)]
struct Sums {
    x: f64,
    y: f64,
    xx: f64,
    yy: f64,
    xy: f64,
    n: u64,
}

impl Sums {
    fn add(&mut self, o: &Sums) {
        self.x += o.x;
        self.y += o.y;
        self.xx += o.xx;
        self.yy += o.yy;
        self.xy += o.xy;
        self.n += o.n;
    }

    /// Pearson's correlation with the means removed, and the two variances (in squared
    /// sample units, as [`Cell::power`]). `None` if either variance is nil: a constant channel
    /// has no phase.
    fn correlation(&self) -> Option<(f64, f64, f64)> {
        if self.n == 0 {
            return None;
        }
        let n = self.n as f64;
        let (mx, my) = (self.x / n, self.y / n);
        let vx = self.xx / n - mx * mx;
        let vy = self.yy / n - my * my;
        // The step sums are f32: below this a variance is rounding, not signal.
        let nil = |v: f64, sq: f64| v.is_nan() || v <= 1e-6 * sq / n;
        if nil(vx, self.xx) || nil(vy, self.yy) {
            return None;
        }
        let r = (self.xy / n - mx * my) / (vx * vy).sqrt();
        Some((r.clamp(-1.0, 1.0), vx, vy))
    }
}

/// One pair of adjacent channels.
struct PairState {
    a: usize,
    window: Sums,
    total: Sums,
    /// Cross-correlation of the first differences, lag −L..=L, and its per-step f32 part.
    lags: Vec<f64>,
    lags_step: Vec<f32>,
    /// Energies of the two differences at the centres used.
    exx: f64,
    eyy: f64,
    /// Lowest window correlation and the window's start frame.
    lowest: Option<(f64, u64)>,
    /// Alarm run in progress: start frame, frames, worst correlation.
    alarm: Option<(u64, u64, f64)>,
}

/// Streaming defect analyser. Feed it interleaved right-justified samples with
/// [`DefectAnalyser::process`], then call [`DefectAnalyser::finish`].
pub struct DefectAnalyser {
    channels: usize,
    rate: u32,
    max_value: i32,
    min_value: i32,
    /// Frames in a step, in a cell, and of history kept before each step.
    step: usize,
    cell: usize,
    hist: usize,
    /// Per channel `hist + step` samples (clamped), the step after its history.
    raw: Vec<i32>,
    /// Per channel `hist + step` first differences as f32, laid out as `raw`.
    diff: Vec<f32>,
    /// Frames buffered in the step, and taken in all.
    filled: usize,
    frames: u64,
    /// Frames into the current cell, and cells completed.
    cell_fill: usize,
    cells: u64,
    /// Full steps completed.
    steps: u64,
    chans: Vec<ChannelState>,
    pairs: Vec<PairState>,
    /// ±lag range of the cross-correlation, the centre decimation, and the next centre.
    lag: usize,
    decimation: u64,
    next_centre: u64,
    /// Power ratios of the fall that starts a dropout and of the recovery that ends it.
    fall_ratio: f64,
    recovery_ratio: f64,
    /// The silence threshold as a power (see [`Cell::power`]).
    silence_power: f64,
    /// Take the difference of two samples in 64 bits (32-bit words) rather than 32.
    wide: bool,
    /// 32 − bits: shifting a sample left and back (arithmetically) by this leaves it unchanged
    /// if and only if it is in range.
    sign_shift: u32,
    alarm_below: Option<f64>,
    digital_min: u64,
    max_level_dropout: u64,
    found: BinaryHeap<Found>,
    found_total: u64,
    alarms: Vec<PhaseAlarm>,
}

impl DefectAnalyser {
    /// An analyser for `channels` channels at `sample_rate` Hz of `bits_per_sample`-bit samples
    /// (right-justified in `i32`), with the same limits as [`super::levels::LevelAnalyser`].
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
        check_settings(settings)?;
        let half = 1i64 << (bits_per_sample - 1);
        let full_scale = half as f64;
        let step = (u64::from(sample_rate) * u64::from(STEP_MS) / 1000) as usize;
        let cell = (sample_rate / 1000) as usize;
        let lag = sample_rate.div_ceil(1000) as usize;
        // The cross-correlation's lags; the cells of a dropout's start search, of the quiet
        // window, and the one in progress.
        let hist = (2 * lag + 1).max(cell * (START_SEARCH_CELLS + WINDOW_CELLS + 1) as usize);
        let lags = 2 * lag as u64 + 1;
        let per_pair = (LAG_PRODUCTS_PER_SECOND / channels.saturating_sub(1).max(1) as u64)
            .max(MIN_PAIR_PRODUCTS_PER_SECOND);
        let decimation = (u64::from(sample_rate) * lags).div_ceil(per_pair);
        let silence = 10f64.powf(settings.silence_threshold_dbfs / 20.0) * full_scale;
        let recovery_db = RECOVERY_DB.min(settings.dropout_fall_db / 2.0);
        let pairs = (0..channels.saturating_sub(1))
            .map(|a| PairState {
                a,
                window: Sums::default(),
                total: Sums::default(),
                lags: vec![0.0; lags as usize],
                lags_step: vec![0.0; lags as usize],
                exx: 0.0,
                eyy: 0.0,
                lowest: None,
                alarm: None,
            })
            .collect();
        let chans = (0..channels)
            .map(|_| ChannelState {
                cell: Cell::EMPTY,
                cells: [Cell::EMPTY; WINDOW_CELLS as usize],
                windows: [Cell::EMPTY; RING],
                powers: [0.0; RING],
                offset: 0.0,
                step_sum: 0.0,
                step_sq: 0.0,
                or: 0,
                run_start: 0,
                run_value: 0,
                run_verdict: None,
                falling: None,
                pending: Vec::new(),
            })
            .collect();
        Ok(DefectAnalyser {
            channels,
            rate: sample_rate,
            max_value: (half - 1) as i32,
            min_value: (-half) as i32,
            step,
            cell,
            hist,
            raw: vec![0; (hist + step) * channels],
            diff: vec![0.0; (hist + step) * channels],
            filled: 0,
            frames: 0,
            cell_fill: 0,
            cells: 0,
            steps: 0,
            chans,
            pairs,
            lag,
            decimation: decimation.max(1),
            next_centre: 0,
            fall_ratio: 10f64.powf(-settings.dropout_fall_db / 10.0),
            recovery_ratio: 10f64.powf((recovery_db - settings.dropout_fall_db) / 10.0),
            silence_power: silence * silence,
            wide: bits_per_sample > 30,
            sign_shift: 32 - bits_per_sample,
            alarm_below: (channels == 2 && settings.phase_alarm_correlation > -1.0)
                .then_some(settings.phase_alarm_correlation),
            digital_min: (sample_rate as usize / 1000).max(DIGITAL_MIN_FRAMES) as u64,
            max_level_dropout: u64::from(sample_rate) * MAX_LEVEL_DROPOUT_MS / 1000,
            found: BinaryHeap::with_capacity(MAX_DROPOUTS + 1),
            found_total: 0,
            alarms: Vec::new(),
        })
    }

    /// Takes interleaved right-justified samples; the length must be a whole number of frames.
    /// Samples outside the bit depth's range are clamped to it.
    ///
    /// # Panics
    ///
    /// If `interleaved.len()` is not a multiple of the channel count.
    pub fn process(&mut self, interleaved: &[i32]) {
        let ch = self.channels;
        assert!(
            interleaved.len().is_multiple_of(ch),
            "{} samples are not a whole number of {ch}-channel frames",
            interleaved.len(),
        );
        let plane_len = self.hist + self.step;
        let mut rest = interleaved;
        while !rest.is_empty() {
            let n = (rest.len() / ch).min(self.step - self.filled);
            let (now, later) = rest.split_at(n * ch);
            let at = self.hist + self.filled;
            let (lo, hi) = (self.min_value, self.max_value);
            // Clamping in i32 is not vectorised on x86-64's baseline, so it is done only when
            // a sample is out of range: a vectorised check (sign extension from the bit depth
            // changes nothing in range) says whether one is.
            let s = self.sign_shift;
            let in_range = now.iter().fold(0, |a, &x| a | (x ^ ((x << s) >> s))) == 0;
            match ch {
                _ if in_range && ch <= 2 => {
                    if ch == 1 {
                        self.raw[at..at + n].copy_from_slice(now);
                    } else {
                        let (left, right) = self.raw.split_at_mut(plane_len);
                        let planes = left[at..at + n].iter_mut().zip(&mut right[at..at + n]);
                        for ((l, r), f) in planes.zip(now.chunks_exact(2)) {
                            *l = f[0];
                            *r = f[1];
                        }
                    }
                }
                1 => {
                    for (x, &v) in self.raw[at..at + n].iter_mut().zip(now) {
                        *x = v.clamp(lo, hi);
                    }
                }
                2 => {
                    // One pass over the frames; fixed-size chunks vectorise.
                    let (left, right) = self.raw.split_at_mut(plane_len);
                    let frames = now.chunks_exact(2);
                    let planes = left[at..at + n].iter_mut().zip(&mut right[at..at + n]);
                    for ((l, r), f) in planes.zip(frames) {
                        *l = f[0].clamp(lo, hi);
                        *r = f[1].clamp(lo, hi);
                    }
                }
                _ => {
                    for c in 0..ch {
                        let plane = &mut self.raw[c * plane_len + at..c * plane_len + at + n];
                        let column = now.iter().skip(c).step_by(ch);
                        if in_range {
                            for (x, &v) in plane.iter_mut().zip(column) {
                                *x = v;
                            }
                        } else {
                            for (x, &v) in plane.iter_mut().zip(column) {
                                *x = v.clamp(lo, hi);
                            }
                        }
                    }
                }
            }
            self.filled += n;
            self.frames += n as u64;
            if self.filled == self.step {
                self.examine(self.step);
                self.steps += 1;
                self.end_window_if_due();
                for c in 0..ch {
                    let p = c * plane_len;
                    self.raw.copy_within(p + self.step..p + plane_len, p);
                    self.diff.copy_within(p + self.step..p + plane_len, p);
                }
                self.filled = 0;
            }
            rest = later;
        }
    }

    /// Examines the `n` frames of the step buffered after the history.
    fn examine(&mut self, n: usize) {
        let plane_len = self.hist + self.step;
        let hist = self.hist;
        let step_start = self.frames - n as u64;
        // Dropouts, cell by cell.
        let mut i = 0;
        while i < n {
            let len = (self.cell - self.cell_fill).min(n - i);
            for c in 0..self.channels {
                self.scan_segment(c, hist + i, len, step_start + i as u64);
            }
            i += len;
            self.cell_fill += len;
            if self.cell_fill == self.cell {
                for c in 0..self.channels {
                    self.end_cell(c, step_start);
                }
                self.cells += 1;
                self.cell_fill = 0;
            }
        }
        // The scan took the differences in 32 bits, wrapping; those of 32-bit words again,
        // exactly in 64 bits.
        for c in (0..self.channels).filter(|_| self.wide && !self.pairs.is_empty()) {
            let p = c * plane_len;
            let (raw, diff) = (
                &self.raw[p..p + plane_len],
                &mut self.diff[p..p + plane_len],
            );
            let (now, before) = (&raw[hist..hist + n], &raw[hist - 1..hist + n - 1]);
            for ((d, &x), &y) in diff[hist..hist + n].iter_mut().zip(now).zip(before) {
                *d = (i64::from(x) - i64::from(y)) as f32;
            }
        }
        // Pairs: correlation sums and cross-correlation.
        let end = self.frames;
        let origin = step_start as i64 - hist as i64;
        let lag = self.lag;
        let first_centre = self.next_centre;
        let mut next = first_centre;
        for pair in &mut self.pairs {
            let (a, b) = (pair.a, pair.a + 1);
            let ra = &self.raw[a * plane_len + hist..a * plane_len + hist + n];
            let rb = &self.raw[b * plane_len + hist..b * plane_len + hist + n];
            let (sa, sb) = (&self.chans[a], &self.chans[b]);
            let s = Sums {
                x: sa.step_sum,
                y: sb.step_sum,
                xx: sa.step_sq,
                yy: sb.step_sq,
                xy: dot(ra, rb),
                n: n as u64,
            };
            pair.window.add(&s);
            pair.total.add(&s);
            let da = &self.diff[a * plane_len..(a + 1) * plane_len];
            let db = &self.diff[b * plane_len..(b + 1) * plane_len];
            let (mut exx, mut eyy) = (0f32, 0f32);
            let mut centre = first_centre;
            let period = self.decimation * LAG_RUN;
            // Centres whose whole lag range has arrived (the history holds their past), in
            // runs of LAG_RUN consecutive ones every `period` frames.
            while centre + (lag as u64) < end {
                let into = centre % period;
                if into >= LAG_RUN {
                    centre += period - into;
                    continue;
                }
                let run_end = (centre - into + LAG_RUN).min(end - lag as u64);
                let from = (centre as i64 - origin) as usize;
                let to = (run_end as i64 - origin) as usize;
                for i in from..to {
                    let x = da[i];
                    if x != 0.0 {
                        for (acc, &y) in pair.lags_step.iter_mut().zip(&db[i - lag..=i + lag]) {
                            *acc += x * y;
                        }
                    }
                    exx += x * x;
                    eyy += db[i] * db[i];
                }
                centre = run_end;
            }
            next = centre;
            for (acc, part) in pair.lags.iter_mut().zip(pair.lags_step.iter_mut()) {
                *acc += f64::from(*part);
                *part = 0.0;
            }
            pair.exx += f64::from(exx);
            pair.eyy += f64::from(eyy);
        }
        self.next_centre = next;
        for st in &mut self.chans {
            st.step_sum = 0.0;
            st.step_sq = 0.0;
        }
    }

    /// The part of a cell in frames `at..at + len` of channel `c`'s planes, the first of which
    /// is frame `frame` of the take: cell statistics and runs of identical samples.
    fn scan_segment(&mut self, c: usize, at: usize, len: usize, frame: u64) {
        let plane_len = self.hist + self.step;
        let plane = &self.raw[c * plane_len..(c + 1) * plane_len];
        let seg = &plane[at..at + len];
        let before = &plane[at - 1..at - 1 + len];
        let st = &mut self.chans[c];
        // The differences of 32-bit words are redone exactly in `examine`.
        let diffs = &mut self.diff[c * plane_len + at..c * plane_len + at + len];
        let lanes = scan(seg, before, diffs, st.offset);
        let (s1, s2, or) = (lanes.s1, lanes.s2, lanes.or);
        // Back to integers: f32 holds samples of up to 24 bits exactly; deeper ones are
        // rounded to within a part in 2^24, which the levels and the dropout edges tolerate.
        let (max, min) = (
            (lanes.max as i64).clamp(i32::MIN.into(), i32::MAX.into()) as i32,
            (lanes.min as i64).clamp(i32::MIN.into(), i32::MAX.into()) as i32,
        );
        let (offset, n) = (f64::from(st.offset), len as f64);
        // Σx and Σx² for the correlations.
        st.step_sum += s1 + n * offset;
        st.step_sq += s2 + 2.0 * offset * s1 + n * offset * offset;
        let dmax = if self.wide {
            seg.iter()
                .zip(before)
                .map(|(&x, &y)| (i64::from(x) - i64::from(y)).unsigned_abs())
                .max()
                .unwrap_or(0)
        } else {
            lanes.dmax as u64
        };
        st.cell = st.cell.join(Cell {
            max,
            min,
            dmax,
            still: u64::from(lanes.still),
            frames: len as u64,
            offset,
            s1,
            s2,
        });
        st.or |= or;
        if dmax == 0 {
            return; // the run in progress goes on
        }
        // The first and last samples that differ from the one before them.
        let changed = |(x, y): (&i32, &i32)| x != y;
        let first = seg.iter().zip(before).position(changed).unwrap_or(0);
        let last = seg.iter().zip(before).rposition(changed).unwrap_or(0);
        let end = frame + first as u64;
        let run = end - st.run_start;
        let qualifies = run >= self.digital_min
            && st.run_verdict.unwrap_or_else(|| {
                run_qualifies(
                    st,
                    self.cells,
                    self.cell as u64,
                    self.max_value,
                    self.min_value,
                )
            });
        if qualifies {
            let held = st.run_value;
            let found = Found {
                start: st.run_start,
                channel: c,
                end,
                fall_db: None,
                held: Some(held),
            };
            match &mut st.falling {
                Some(f) => f.digital.push(found),
                None => st.pending.push(found),
            }
        }
        // Runs inside the segment are shorter than a cell, so shorter than a digital dropout.
        st.run_start = frame + last as u64;
        st.run_value = seg[last];
        st.run_verdict = None;
    }

    /// Closes the cell just completed in channel `c`; `step_start` is the take frame of the
    /// first sample of the step in the planes (the history before it reaches back `hist`).
    fn end_cell(&mut self, c: usize, step_start: u64) {
        let k = self.cells;
        let cell_frames = self.cell as u64;
        let st = &mut self.chans[c];
        st.cells[(k % WINDOW_CELLS) as usize] = st.cell;
        st.offset = st.cell.mean() as f32;
        st.cell = Cell::EMPTY;
        // The window ending at this cell, once; those before are looked up.
        let slot = |last: u64| (last % RING as u64) as usize;
        let w = st.cells.iter().fold(Cell::EMPTY, |w, &c| w.join(c));
        st.windows[slot(k)] = w;
        st.powers[slot(k)] = w.power();
        // A run of one value long enough to be a digital dropout is judged while the windows
        // before it are still here.
        let end_frame = (k + 1) * cell_frames;
        if st.run_verdict.is_none() && end_frame - st.run_start >= self.digital_min {
            st.run_verdict = Some(run_qualifies(
                st,
                k + 1,
                cell_frames,
                self.max_value,
                self.min_value,
            ));
        }
        if k + 1 < RING as u64 {
            return;
        }
        let quiet = st.windows[slot(k)];
        let now = st.powers[slot(k)];
        let (hist, plane_len) = (self.hist as u64, self.hist + self.step);
        let plane = &self.raw[c * plane_len..(c + 1) * plane_len];
        let sample = |frame: u64| plane[(frame + hist - step_start) as usize];
        let origin = step_start.saturating_sub(hist);
        match &mut st.falling {
            None => {
                let reference = (1..=REFERENCE_WINDOWS)
                    .map(|b| st.powers[slot(k - b * WINDOW_CELLS)])
                    .fold(f64::INFINITY, f64::min);
                let stepped = (1..=REFERENCE_WINDOWS)
                    .any(|b| st.windows[slot(k - b * WINDOW_CELLS)].stepped());
                if reference >= self.silence_power && now <= reference * self.fall_ratio && !stepped
                {
                    // The dropout follows the last sample outside the quiet window's range.
                    let quiet_start = end_frame - WINDOW_CELLS * cell_frames;
                    let lowest =
                        origin.max(quiet_start.saturating_sub(START_SEARCH_CELLS * cell_frames));
                    let (qmax, qmin) = (quiet.max, quiet.min);
                    let mut start = lowest;
                    for f in (lowest..quiet_start).rev() {
                        let x = sample(f);
                        if x > qmax || x < qmin {
                            start = f + 1;
                            break;
                        }
                    }
                    let mut digital = Vec::new();
                    st.pending.retain(|d| {
                        if d.end >= start {
                            start = start.min(d.start);
                            digital.push(d.clone());
                            false
                        } else {
                            true
                        }
                    });
                    st.falling = Some(Falling {
                        start,
                        reference,
                        mid2: i64::from(qmax) + i64::from(qmin),
                        recovery: reference * self.recovery_ratio,
                        power_sum: now,
                        windows: 1,
                        digital,
                    });
                }
            }
            Some(f) => {
                if now >= f.recovery {
                    // It ends at the first sample as far from the quiet middle as the RMS of
                    // the recovery level (in sample units); failing that, where the window
                    // that recovered starts.
                    let from = f.start.max(end_frame - WINDOW_CELLS * cell_frames);
                    let reach = 2.0 * f.recovery.sqrt();
                    let end = (from..end_frame)
                        .find(|&fr| {
                            ((2 * i64::from(sample(fr)) - f.mid2).unsigned_abs() as f64) >= reach
                        })
                        .unwrap_or(from);
                    let found = Found {
                        start: f.start,
                        channel: c,
                        end,
                        fall_db: (f.power_sum > 0.0)
                            .then(|| 10.0 * (f.reference * f.windows as f64 / f.power_sum).log10()),
                        held: f.digital.first().and_then(|d| d.held),
                    };
                    st.falling = None;
                    push_found(&mut self.found, &mut self.found_total, found);
                } else if end_frame - f.start > self.max_level_dropout {
                    // Too long for a dropout: only what was digital in it stays.
                    st.pending.append(&mut f.digital);
                    st.falling = None;
                } else {
                    f.power_sum += now;
                    f.windows += 1;
                }
            }
        }
        // Digital dropouts that no level dropout can take in any more.
        let horizon =
            end_frame.saturating_sub((START_SEARCH_CELLS + WINDOW_CELLS + 1) * cell_frames);
        if st.falling.is_none() && !st.pending.is_empty() {
            let (old, keep): (Vec<Found>, Vec<Found>) =
                st.pending.drain(..).partition(|d| d.end < horizon);
            st.pending = keep;
            for d in old {
                push_found(&mut self.found, &mut self.found_total, d);
            }
        }
    }

    /// At the end of each 400 ms window: each pair's correlation over it, the lowest so far,
    /// and phase alarms.
    fn end_window_if_due(&mut self) {
        if !self.steps.is_multiple_of(PHASE_WINDOW_STEPS) {
            return;
        }
        let frames = PHASE_WINDOW_STEPS * self.step as u64;
        let start = self.frames - frames;
        for pair in &mut self.pairs {
            let w = std::mem::take(&mut pair.window);
            let r = w
                .correlation()
                .filter(|&(_, vx, vy)| vx >= self.silence_power && vy >= self.silence_power)
                .map(|(r, _, _)| r);
            if let Some(r) = r {
                if pair.lowest.is_none_or(|(low, _)| r < low) {
                    pair.lowest = Some((r, start));
                }
            }
            let Some(below) = self.alarm_below else {
                continue;
            };
            match (r.filter(|&r| r < below), &mut pair.alarm) {
                (Some(r), Some((_, len, worst))) => {
                    *len += frames;
                    *worst = worst.min(r);
                }
                (Some(r), None) => pair.alarm = Some((start, frames, r)),
                (None, alarm) => {
                    if let Some((s, len, worst)) = alarm.take() {
                        push_alarm(&mut self.alarms, pair.a, s, len, worst);
                    }
                }
            }
        }
    }

    /// The report. Examines the last partial step first.
    pub fn finish(mut self) -> DefectReport {
        if self.filled > 0 {
            self.examine(self.filled);
        }
        for pair in &mut self.pairs {
            if let Some((s, len, worst)) = pair.alarm.take() {
                push_alarm(&mut self.alarms, pair.a, s, len, worst);
            }
        }
        // A level dropout still open is the end of the programme; digital ones found are kept.
        for st in &mut self.chans {
            for d in st.pending.drain(..) {
                push_found(&mut self.found, &mut self.found_total, d);
            }
        }
        let dropouts = self
            .found
            .into_sorted_vec()
            .into_iter()
            .map(|d| Dropout {
                channel: d.channel + 1,
                start: FrameIndex(d.start),
                length: FrameCount(d.end - d.start),
                fall_db: d.fall_db,
                held_value: d.held,
            })
            .collect();
        let rate = self.rate;
        let lag = self.lag;
        let phase = self
            .pairs
            .iter()
            .map(|p| {
                let offset = offset_of(&p.lags, lag, p.exx, p.eyy);
                let offset_correlation = offset.map(|(_, r)| r);
                let offset_samples = offset
                    .filter(|&(_, r)| r.abs() >= OFFSET_MIN_CORRELATION)
                    .map(|(o, _)| o);
                PairPhase {
                    channels: [p.a + 1, p.a + 2],
                    correlation: p.total.correlation().map(|(r, _, _)| r),
                    min_correlation: p.lowest.map(|(r, _)| r),
                    min_at: p.lowest.map(|(_, at)| FrameIndex(at)),
                    min_at_time: p.lowest.map(|(_, at)| FrameIndex(at).timecode(rate)),
                    offset_samples,
                    offset_us: offset_samples.map(|o| o / f64::from(rate) * 1e6),
                    offset_correlation,
                }
            })
            .collect();
        DefectReport {
            dropouts,
            dropouts_total: self.found_total,
            phase,
            phase_alarms: self.alarms,
            frames: FrameCount(self.frames),
        }
    }
}

/// The same checks as the level analyser's, for the settings this kernel uses.
fn check_settings(s: &AnalysisSettings) -> Result<(), LevelError> {
    if !(s.dropout_fall_db.is_finite() && (6.0..=120.0).contains(&s.dropout_fall_db)) {
        return Err(LevelError::Settings {
            setting: "dropout_fall_db",
            detail: format!("{} is not in 6..=120 dB", s.dropout_fall_db),
        });
    }
    if !(s.phase_alarm_correlation.is_finite() && (-1.0..=1.0).contains(&s.phase_alarm_correlation))
    {
        return Err(LevelError::Settings {
            setting: "phase_alarm_correlation",
            detail: format!("{} is not in -1..=1", s.phase_alarm_correlation),
        });
    }
    if !s.silence_threshold_dbfs.is_finite() {
        return Err(LevelError::Settings {
            setting: "silence_threshold_dbfs",
            detail: format!("{} is not a finite level", s.silence_threshold_dbfs),
        });
    }
    Ok(())
}

/// Whether the run of one value in progress in `st` (at least a digital dropout long) is one:
/// not at a rail; after 20 ms in which the channel was moving (every 5 ms window held a change
/// of at least [`BUSY_STEPS`] quantisation steps) and not fading (each window's range at most
/// twice the last's); and inside the range the channel had there (a plateau at its top or
/// bottom is clipping, at a level short of the rails). `cells` is the number of cells
/// completed; the windows looked at end with the last cell before the run's.
fn run_qualifies(st: &ChannelState, cells: u64, cell: u64, max: i32, min: i32) -> bool {
    let v = st.run_value;
    if v == max || v == min {
        return false;
    }
    // The cell before the one the run starts in: the windows ending there and 5, 10, 15
    // cells earlier (20 ms of cells) must all exist and still be in the ring.
    let Some(before) = (st.run_start / cell).checked_sub(1) else {
        return false;
    };
    let span = REFERENCE_WINDOWS * WINDOW_CELLS;
    let earliest = (REFERENCE_WINDOWS - 1) * WINDOW_CELLS;
    if before + 1 < span || before >= cells || cells - (before - earliest) > RING as u64 {
        return false;
    }
    let window = |back: u64| st.windows[((before - back * WINDOW_CELLS) % RING as u64) as usize];
    let busy_level = BUSY_STEPS << st.or.trailing_zeros().min(31);
    let recent = window(0);
    let moving = (0..REFERENCE_WINDOWS).all(|b| {
        let w = window(b);
        w.dmax >= busy_level && !w.stepped() && 2 * recent.peak_to_peak() >= w.peak_to_peak()
    });
    let span = (0..REFERENCE_WINDOWS).fold(Cell::EMPTY, |s, b| s.join(window(b)));
    moving && span.min < v && v < span.max
}

fn push_found(heap: &mut BinaryHeap<Found>, total: &mut u64, d: Found) {
    *total += 1;
    heap.push(d);
    if heap.len() > MAX_DROPOUTS {
        heap.pop();
    }
}

fn push_alarm(alarms: &mut Vec<PhaseAlarm>, a: usize, start: u64, len: u64, worst: f64) {
    if alarms.len() < MAX_PHASE_ALARMS {
        alarms.push(PhaseAlarm {
            channels: [a + 1, a + 2],
            start: FrameIndex(start),
            length: FrameCount(len),
            correlation: worst,
        });
    }
}

/// What [`scan`] gathers from a stretch of one channel.
struct Lanes {
    /// Largest and smallest sample, and largest |x[n] − x[n−1]|, as f32: exact up to 24
    /// bits, and within a part in 2^24 beyond.
    max: f32,
    min: f32,
    dmax: f32,
    or: u32,
    /// How many samples equal the one before.
    still: u32,
    /// Σ(x − offset) and Σ(x − offset)².
    s1: f64,
    s2: f64,
}

/// One pass over `seg` (with `before`, the same samples one frame earlier): its range, OR,
/// largest difference and level sums about `offset`, and the differences as f32 into
/// `diffs`. Explicit lanes over fixed-size arrays make one loop that the compiler vectorises
/// (the f32 sums in a fixed order), so each sample is loaded once; the extremes are taken in
/// f32 because x86-64's baseline (SSE2) has packed f32 max and min but no packed i32 ones.
// Kept out of line: inlined into `scan_segment` the loop was no longer vectorised (measured:
// the whole kernel's instruction count went from 50 to 88 million for 10 s of 96 kHz stereo).
#[inline(never)]
fn scan(seg: &[i32], before: &[i32], diffs: &mut [f32], offset: f32) -> Lanes {
    const W: usize = 8;
    let (mut max, mut min, mut dmax) = ([f32::MIN; W], [f32::MAX; W], [0f32; W]);
    let mut or = [0u32; W];
    let mut still = [0u32; W];
    let (mut s1, mut s2) = ([0f32; W], [0f32; W]);
    let n = seg.len().min(before.len()).min(diffs.len());
    let whole = n / W * W;
    for ((x8, y8), d8) in seg[..whole]
        .chunks_exact(W)
        .zip(before[..whole].chunks_exact(W))
        .zip(diffs[..whole].chunks_exact_mut(W))
    {
        let x8: &[i32; W] = x8.try_into().expect("chunks of W");
        let y8: &[i32; W] = y8.try_into().expect("chunks of W");
        let d8: &mut [f32; W] = d8.try_into().expect("chunks of W");
        for j in 0..W {
            or[j] |= x8[j] as u32;
            still[j] += u32::from(x8[j] == y8[j]);
            let d = x8[j].wrapping_sub(y8[j]) as f32;
            d8[j] = d;
            let d = d.abs();
            dmax[j] = if d > dmax[j] { d } else { dmax[j] };
            let v = x8[j] as f32;
            max[j] = if v > max[j] { v } else { max[j] };
            min[j] = if v < min[j] { v } else { min[j] };
            let v = v - offset;
            s1[j] += v;
            s2[j] += v * v;
        }
    }
    for (j, i) in (whole..n).enumerate() {
        let (x, y) = (seg[i], before[i]);
        or[j] |= x as u32;
        still[j] += u32::from(x == y);
        let d = x.wrapping_sub(y) as f32;
        diffs[i] = d;
        dmax[j] = dmax[j].max(d.abs());
        let v = x as f32;
        max[j] = max[j].max(v);
        min[j] = min[j].min(v);
        let v = v - offset;
        s1[j] += v;
        s2[j] += v * v;
    }
    let sum = |l: [f32; W]| l.iter().map(|&v| f64::from(v)).sum::<f64>();
    Lanes {
        max: max.into_iter().fold(f32::MIN, f32::max),
        min: min.into_iter().fold(f32::MAX, f32::min),
        dmax: dmax.into_iter().fold(0.0, f32::max),
        or: or.into_iter().fold(0, |a, b| a | b),
        still: still.into_iter().sum(),
        s1: sum(s1),
        s2: sum(s2),
    }
}

/// Σxy of two planes, in eight f32 lanes (so the loop vectorises, in a fixed order).
fn dot(x: &[i32], y: &[i32]) -> f64 {
    let mut s = [0f32; 8];
    let (cx, cy) = (x.chunks_exact(8), y.chunks_exact(8));
    let (tx, ty) = (cx.remainder(), cy.remainder());
    for (a, b) in cx.zip(cy) {
        for j in 0..8 {
            s[j] += a[j] as f32 * b[j] as f32;
        }
    }
    for (j, (&a, &b)) in tx.iter().zip(ty).enumerate() {
        s[j] += a as f32 * b as f32;
    }
    s.iter().map(|&v| f64::from(v)).sum()
}

/// Lanczos kernel, a = [`LANCZOS_A`].
fn lanczos(t: f64) -> f64 {
    let a = LANCZOS_A as f64;
    if t == 0.0 {
        1.0
    } else if t.abs() >= a {
        0.0
    } else {
        let pt = std::f64::consts::PI * t;
        a * pt.sin() * (pt / a).sin() / (pt * pt)
    }
}

/// The cross-correlation at fractional lag index `t`, interpolated.
fn interpolate(lags: &[f64], t: f64) -> f64 {
    let base = t.floor() as i64;
    (base - LANCZOS_A + 1..=base + LANCZOS_A)
        .filter(|&k| k >= 0 && (k as usize) < lags.len())
        .map(|k| lags[k as usize] * lanczos(t - k as f64))
        .sum()
}

/// The offset (in samples, from lag index `lag` = 0) of the largest cross-correlation
/// magnitude, refined below a sample, and the normalised correlation there. `None` when there
/// is nothing to correlate or the peak is at the edge of the range.
///
/// The peak is sought on the interpolated correlation, not on its integer lags: wideband
/// signals (content near Nyquist, tilted further up by the differencing) give a correlation
/// that oscillates about twice per sample, and sampled at integer lags a side lobe can look
/// larger than a main lobe that falls between them.
fn offset_of(lags: &[f64], lag: usize, exx: f64, eyy: f64) -> Option<(f64, f64)> {
    if !(exx > 0.0 && eyy > 0.0) || lags.iter().all(|&v| v == 0.0) {
        return None;
    }
    let last = (lags.len() - 1) as f64;
    let magnitude = |t: f64| interpolate(lags, t).abs();
    // The largest magnitude on an eighth-of-a-sample grid, then on a 1/256-sample grid around
    // it, then a parabola through the best point and its neighbours.
    let best_on = |from: f64, to: f64, grid: f64| -> f64 {
        let points = ((to - from) / grid).round() as i64;
        let (best, _) = (0..=points)
            .map(|i| (i, magnitude(from + i as f64 * grid)))
            .fold(
                (0, f64::MIN),
                |(bi, bv), (i, v)| if v > bv { (i, v) } else { (bi, bv) },
            );
        from + best as f64 * grid
    };
    let coarse = best_on(0.0, last, 0.125);
    if coarse < 1.0 || coarse > last - 1.0 {
        return None; // the largest correlation is at the edge: the peak lies beyond ±1 ms
    }
    let grid = 1.0 / 256.0;
    let fine = best_on(coarse - 0.125, coarse + 0.125, grid);
    let (l, m, r) = (
        magnitude(fine - grid),
        magnitude(fine),
        magnitude(fine + grid),
    );
    let curvature = l - 2.0 * m + r;
    let t = if curvature < 0.0 {
        fine + 0.5 * (l - r) / curvature * grid
    } else {
        fine
    };
    let correlation = interpolate(lags, t) / (exx * eyy).sqrt();
    Some((t - lag as f64, correlation.clamp(-1.0, 1.0)))
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
    ) -> DefectReport {
        let mut a = DefectAnalyser::new(channels, rate, bits, settings).unwrap();
        for block in samples.chunks(block_frames * channels) {
            a.process(block);
        }
        a.finish()
    }

    fn analyse(channels: usize, rate: u32, bits: u32, samples: &[i32]) -> DefectReport {
        analyse_in_blocks(
            channels,
            rate,
            bits,
            &AnalysisSettings::default(),
            samples,
            4096,
        )
    }

    fn json(r: &DefectReport) -> String {
        serde_json::to_string(r).unwrap()
    }

    const TAU: f64 = std::f64::consts::TAU;

    /// A sine of `freq` Hz at `amp` (fraction of full scale) at frame `n`.
    fn sine(rate: u32, freq: f64, amp: f64, n: usize) -> f64 {
        amp * (TAU * freq * n as f64 / f64::from(rate)).sin()
    }

    fn mono(x: &[f64], bits: u32) -> Vec<i32> {
        let full = f64::from(1u32 << (bits - 1));
        let (max, min) = (full - 1.0, -full);
        x.iter()
            .map(|v| (v * full).round().clamp(min, max) as i32)
            .collect()
    }

    fn interleave(planes: &[Vec<i32>]) -> Vec<i32> {
        (0..planes[0].len())
            .flat_map(|n| planes.iter().map(move |p| p[n]))
            .collect()
    }

    /// Asserts one dropout in `channel` starting at `start` and lasting `length` frames, each
    /// within `tolerance` frames.
    fn assert_dropout(d: &Dropout, channel: usize, start: u64, length: u64, tolerance: u64) {
        assert_eq!(d.channel, channel, "{d:?}");
        assert!(
            d.start.0.abs_diff(start) <= tolerance,
            "start {d:?}, want {start}"
        );
        assert!(
            d.length.0.abs_diff(length) <= tolerance,
            "length {d:?}, want {length}"
        );
    }

    #[test]
    fn sine_falling_to_silence_for_50_ms_is_one_dropout_located_to_a_millisecond() {
        // 96 kHz: 1 kHz at -12 dBFS over hiss at -80 dBFS on the left, 440 Hz on the right;
        // from 1.000 s to 1.050 s the left falls to its hiss.
        let rate = 96_000;
        let mut noise = Noise(3);
        let left: Vec<f64> = (0..2 * rate as usize)
            .map(|n| {
                let hiss = 1e-4 * noise.next();
                if (96_000..100_800).contains(&n) {
                    hiss
                } else {
                    sine(rate, 1000.0, 0.25, n) + hiss
                }
            })
            .collect();
        let right: Vec<f64> = (0..left.len())
            .map(|n| sine(rate, 440.0, 0.25, n))
            .collect();
        let s = interleave(&[mono(&left, 24), mono(&right, 24)]);
        let r = analyse(2, rate, 24, &s);
        assert_eq!(r.dropouts.len(), 1, "{:?}", r.dropouts);
        assert_eq!(r.dropouts_total, 1);
        let d = &r.dropouts[0];
        // To the millisecond (96 frames); the sine comes back from a zero crossing, so the end
        // is where it is first well above its floor, a few frames on.
        assert_dropout(d, 1, 96_000, 4_800, 96);
        assert!(d.start.0 == 96_000 && d.length.0 < 4_810, "{d:?}");
        assert!(d.fall_db.unwrap() > 60.0, "{d:?}");
        assert_eq!(d.held_value, None);

        // The same at 44.1 kHz/16 bits, falling to exact digital silence: one dropout, the
        // level's and the digital run's in one, holding 0.
        let rate = 44_100;
        let left: Vec<f64> = (0..rate as usize)
            .map(|n| {
                if (22_050..24_255).contains(&n) {
                    0.0
                } else {
                    sine(rate, 997.0, 0.3, n) + 0.05 * sine(rate, 3_001.0, 1.0, n)
                }
            })
            .collect();
        let s = interleave(&[mono(&left, 16), mono(&left, 16)]);
        let r = analyse(2, rate, 16, &s);
        assert_eq!(r.dropouts.len(), 2, "{:?}", r.dropouts);
        for (c, d) in r.dropouts.iter().enumerate() {
            assert_dropout(d, c + 1, 22_050, 2_205, 44);
            assert_eq!((d.fall_db, d.held_value), (None, Some(0)), "{d:?}");
        }
    }

    #[test]
    fn the_demo_tapes_30_db_oxide_dropout_is_found_and_nothing_else() {
        // 20 s at 96 kHz: line-up tone ending abruptly into 0.5 s of hiss (a stop, not a
        // dropout), clipped passage (plateaus at −(2^23 − 1), not held values), clicks, the
        // 50 ms dropout at 16.5 s falling 30 dB, an abrupt end into tail silence.
        let s = crate::demo::demo_signal();
        let r = analyse(2, crate::demo::RATE, 24, &s);
        assert_eq!(r.dropouts.len(), 2, "{:?}", r.dropouts);
        let at = (crate::demo::DROPOUT_AT * 96_000.0) as u64;
        let len = (crate::demo::DROPOUT_SECONDS * 96_000.0) as u64;
        for (c, d) in r.dropouts.iter().enumerate() {
            assert_dropout(d, c + 1, at, len, 96);
            // 30 dB down; against a sustained reference it reads a little less.
            let fall = d.fall_db.unwrap();
            assert!((24.0..=31.0).contains(&fall), "{d:?}");
        }
        // The same tone in both channels at the start; the chords' partials differ in phase
        // (frequency-dependent delays), so there is no one offset to check.
        let p = &r.phase[0];
        assert!(p.correlation.unwrap() > 0.9, "{p:?}");
        assert!(r.phase_alarms.is_empty());
    }

    #[test]
    fn natural_decays_fades_pauses_clicks_and_the_end_are_not_dropouts() {
        let rate = 48_000;
        let sec = |t: f64| (t * f64::from(rate)) as usize;
        let mut noise = Noise(11);
        let mut x = vec![0.0; sec(12.0)];
        for (n, v) in x.iter_mut().enumerate() {
            let t = n as f64 / f64::from(rate);
            let tone = |f: f64| sine(rate, f, 0.3, n);
            *v = if t < 1.0 {
                tone(440.0)
            } else if t < 1.6 {
                // A fast natural decay: 60 dB in 300 ms, down to nothing.
                tone(440.0) * 10f64.powf(-60.0 / 20.0 * (t - 1.0) / 0.3)
            } else if t < 2.0 {
                0.0
            } else if t < 4.0 {
                // A fade to nothing over 1.5 s, then digital silence.
                tone(660.0) * (1.0 - (t - 2.0) / 1.5).max(0.0)
            } else if t < 6.0 {
                // Staccato: 80 ms notes, released in 5 ms (8.7 dB per 5 ms), 120 ms apart.
                let phase = (t - 4.0) % 0.2;
                if phase < 0.08 {
                    tone(880.0)
                } else {
                    tone(880.0) * (-(phase - 0.08) / 0.005).exp()
                }
            } else if t < 8.0 {
                // A pause of hiss at -70 dBFS with clicks: one sample, and 0.5 ms bursts.
                let hiss = 3e-4 * noise.next();
                let click = [6.3, 6.9, 7.4]
                    .iter()
                    .any(|&c| (sec(c)..sec(c) + 24).contains(&n));
                hiss + if n == sec(6.5) || click { 0.5 } else { 0.0 }
            } else if t < 11.5 {
                // Programme with a swell and a 20 Hz undertone, then an abrupt end into
                // silence: the tail, not a dropout (it never recovers).
                (0.2 + 0.15 * (TAU * 0.5 * t).sin()) * noise.next() + sine(rate, 20.0, 0.2, n)
            } else {
                0.0
            };
        }
        for bits in [16, 24] {
            let s = mono(&x, bits);
            let r = analyse(1, rate, bits, &s);
            assert!(r.dropouts.is_empty(), "{bits} bits: {:?}", r.dropouts);
            assert!(r.phase.is_empty());
        }
    }

    #[test]
    fn gaps_in_crackle_are_not_dropouts() {
        // 96 kHz: hiss at -60 dBFS RMS, and from 0.5 s ten 100 ms bursts of crackle (clicks of
        // 2 to 4 samples at -22 dBFS every 1.5 to 3 ms) with 20 ms of hiss between them. Peak
        // to peak, the crackle stands 33 dB above the hiss, and each gap would be a dropout;
        // by RMS it is about 20 dB.
        let rate = 96_000;
        let mut noise = Noise(31);
        let mut x: Vec<f64> = (0..rate as usize * 2)
            .map(|_| 1.7e-3 * noise.next())
            .collect();
        for burst in 0..10 {
            let mut n = rate as usize / 2 + burst * rate as usize * 12 / 100;
            let end = n + rate as usize / 10;
            while n < end {
                let width = 2 + (noise.next().abs() * 3.0) as usize;
                let sign = if noise.next() > 0.0 { 1.0 } else { -1.0 };
                for v in &mut x[n..n + width] {
                    *v += sign * 0.08;
                }
                n += 144 + (noise.next().abs() * 144.0) as usize;
            }
        }
        for bits in [16, 24] {
            let r = analyse(1, rate, bits, &mono(&x, bits));
            assert!(r.dropouts.is_empty(), "{bits} bits: {:?}", r.dropouts);
        }
    }

    #[test]
    fn runs_of_one_value_inside_programme_are_digital_dropouts() {
        // 48 kHz/24-bit noise programme at -20 dBFS.
        let rate = 48_000;
        let mut noise = Noise(5);
        let mut left: Vec<i32> = mono(
            &(0..120_000).map(|_| 0.1 * noise.next()).collect::<Vec<_>>(),
            24,
        );
        let mut right = left.iter().map(|&v| v / 2).collect::<Vec<_>>();
        // Left: 2 ms of zeros at 0.5 s; a held sample for 3 ms at 0.8 s; one second of zeros
        // at 1.2 s (longer than any level dropout: still a digital one).
        left[24_000..24_096].fill(0);
        let held = left[38_399];
        left[38_400..38_544].fill(held);
        left[57_600..105_600].fill(0);
        // Right: 0.9 ms of zeros (shorter than 1 ms: not one); a run at the positive rail
        // (a clip, the level analysis's); a plateau just under the rail (clipping short of it).
        right[30_000..30_043].fill(0);
        right[40_000..40_200].fill((1 << 23) - 1);
        right[50_000..50_200].fill((1 << 23) - 2);
        let s = interleave(&[left, right]);
        let r = analyse(2, rate, 24, &s);
        let got: Vec<(usize, u64, u64, Option<i32>)> = r
            .dropouts
            .iter()
            .map(|d| (d.channel, d.start.0, d.length.0, d.held_value))
            .collect();
        assert_eq!(
            got,
            [
                (1, 24_000, 96, Some(0)),
                (1, 38_399, 145, Some(held)),
                (1, 57_600, 48_000, Some(0))
            ]
        );
        assert!(r.dropouts[..2].iter().all(|d| d.fall_db.is_none()));
    }

    #[test]
    fn quiet_or_low_tones_holding_a_value_are_not_digital_dropouts() {
        // 16 bits at 96 kHz: a 20 Hz tone at -50 dBFS holds each value for about 1.5 ms at
        // its peaks; a 1 kHz tone at -90 dBFS is a few steps; a tone that fades into digital
        // silence and comes back. None is a fault.
        let rate = 96_000;
        let x: Vec<f64> = (0..rate as usize * 3)
            .map(|n| {
                let t = n as f64 / f64::from(rate);
                if t < 1.0 {
                    sine(rate, 20.0, 0.00316, n)
                } else if t < 2.0 {
                    sine(rate, 1000.0, 3.2e-5, n)
                } else {
                    sine(rate, 300.0, 0.3, n) * (1.0 - (t - 2.0) / 0.5).max(0.0)
                        + if t > 2.8 {
                            sine(rate, 300.0, 0.3, n)
                        } else {
                            0.0
                        }
                }
            })
            .collect();
        let r = analyse(1, rate, 16, &mono(&x, 16));
        assert!(r.dropouts.is_empty(), "{:?}", r.dropouts);
        // 16-bit content in a 24-bit word is judged in 16-bit steps.
        let padded: Vec<i32> = mono(&x, 16).iter().map(|v| v << 8).collect();
        let r = analyse(1, rate, 24, &padded);
        assert!(r.dropouts.is_empty(), "{:?}", r.dropouts);
    }

    /// Band-limited noise (a windowed-sinc low-pass at `cutoff` × the rate) of `noise`,
    /// delayed by `delay` samples (any fraction): the same filter with its centre moved.
    fn band_limited(noise: &[f64], cutoff: f64, delay: f64) -> Vec<f64> {
        let half = 32i64;
        let taps: Vec<f64> = (-half..=half)
            .map(|k| {
                let t = k as f64 - delay;
                let x = std::f64::consts::PI * 2.0 * cutoff * t;
                let sinc = if t == 0.0 { 1.0 } else { x.sin() / x };
                // Blackman window over ±(half + 1) around the moved centre.
                let u = std::f64::consts::PI * t / (half as f64 + 1.0);
                let w = 0.42 + 0.5 * u.cos() + 0.08 * (2.0 * u).cos();
                2.0 * cutoff * sinc * w
            })
            .collect();
        (0..noise.len())
            .map(|n| {
                taps.iter()
                    .enumerate()
                    .map(|(i, h)| {
                        let k = n as i64 - (i as i64 - half);
                        if k >= 0 && (k as usize) < noise.len() {
                            h * noise[k as usize]
                        } else {
                            0.0
                        }
                    })
                    .sum()
            })
            .collect()
    }

    #[test]
    fn delayed_channel_gives_its_offset_to_a_tenth_of_a_sample() {
        // One second of band-limited noise; the right channel delayed by whole and fractional
        // samples (a windowed-sinc fractional delay). Offsets to 0.1 sample.
        for (rate, cutoff, delay) in [
            (96_000, 0.2, 7.0),
            (96_000, 0.2, 2.5),
            (96_000, 0.2, -1.3),
            (96_000, 0.45, 7.6),
            (44_100, 0.45, 2.25),
            (48_000, 0.3, 0.1),
            (192_000, 0.1, -13.4),
        ] {
            let mut noise = Noise(rate as u64);
            let white: Vec<f64> = (0..rate as usize).map(|_| 0.3 * noise.next()).collect();
            let a = band_limited(&white, cutoff, 0.0);
            let b = band_limited(&white, cutoff, delay);
            let s = interleave(&[mono(&a, 24), mono(&b, 24)]);
            let p = analyse(2, rate, 24, &s).phase[0].clone();
            let what = format!("{rate} Hz, cutoff {cutoff}, delay {delay}: {p:?}");
            let offset = p.offset_samples.expect(&what);
            assert!((offset - delay).abs() < 0.1, "{what}");
            let us = delay / f64::from(rate) * 1e6;
            assert!(
                (p.offset_us.unwrap() - us).abs() < 0.1 / f64::from(rate) * 1e6,
                "{what}"
            );
            assert!(p.offset_correlation.unwrap() > 0.9, "{what}");
        }
        // 7 samples at 96 kHz is 72.9 µs.
        let mut noise = Noise(1);
        let white: Vec<f64> = (0..96_000).map(|_| 0.3 * noise.next()).collect();
        let a = band_limited(&white, 0.2, 0.0);
        let b = band_limited(&white, 0.2, 7.0);
        let p = &analyse(2, 96_000, 24, &interleave(&[mono(&a, 24), mono(&b, 24)])).phase[0];
        assert_eq!(p.channels, [1, 2]);
        assert!((p.offset_us.unwrap() - 72.92).abs() < 0.5, "{p:?}");
        // The second channel early: a negative offset.
        let p = &analyse(2, 96_000, 24, &interleave(&[mono(&b, 24), mono(&a, 24)])).phase[0];
        assert!((p.offset_samples.unwrap() + 7.0).abs() < 0.1, "{p:?}");
    }

    #[test]
    fn identical_channels_correlate_at_plus_one_and_inverted_at_minus_one() {
        let rate = 48_000;
        let mut noise = Noise(9);
        let x: Vec<f64> = (0..rate as usize * 2)
            .map(|n| 0.3 * noise.next() + sine(rate, 100.0, 0.2, n) + 0.05)
            .collect();
        let same = mono(&x, 24);
        let inverted: Vec<i32> = same.iter().map(|v| -v).collect();
        let r = analyse(2, rate, 24, &interleave(&[same.clone(), same.clone()]));
        let p = &r.phase[0];
        assert!((p.correlation.unwrap() - 1.0).abs() < 1e-6, "{p:?}");
        assert!((p.min_correlation.unwrap() - 1.0).abs() < 1e-6, "{p:?}");
        assert!(p.offset_samples.unwrap().abs() < 0.01, "{p:?}");
        assert!((p.offset_correlation.unwrap() - 1.0).abs() < 1e-3, "{p:?}");
        assert!(r.phase_alarms.is_empty());
        let r = analyse(2, rate, 24, &interleave(&[same.clone(), inverted]));
        let p = &r.phase[0];
        // The DC offset (+0.05 in one, -0.05 in the other) does not count.
        assert!((p.correlation.unwrap() + 1.0).abs() < 1e-6, "{p:?}");
        assert!((p.min_correlation.unwrap() + 1.0).abs() < 1e-6, "{p:?}");
        assert!(p.offset_samples.unwrap().abs() < 0.01, "{p:?}");
        assert!((p.offset_correlation.unwrap() + 1.0).abs() < 1e-3, "{p:?}");
        // The whole take is one alarm.
        assert_eq!(r.phase_alarms.len(), 1, "{:?}", r.phase_alarms);
        assert_eq!(r.phase_alarms[0].start, FrameIndex(0));
        assert_eq!(r.phase_alarms[0].length, FrameCount(96_000));
        // Unrelated channels: correlation near 0 and no offset to speak of.
        let mut other = Noise(99);
        let y = mono(
            &(0..x.len()).map(|_| 0.3 * other.next()).collect::<Vec<_>>(),
            24,
        );
        let p = analyse(2, rate, 24, &interleave(&[same, y])).phase[0].clone();
        assert!(p.correlation.unwrap().abs() < 0.05, "{p:?}");
        assert_eq!((p.offset_samples, p.offset_us), (None, None), "{p:?}");
        assert!(
            p.offset_correlation.unwrap().abs() < OFFSET_MIN_CORRELATION,
            "{p:?}"
        );
    }

    #[test]
    fn an_anti_phase_passage_raises_one_alarm_where_it_is_in_stereo_only() {
        // 4 s of correlated stereo; from 1.6 s to 2.8 s (three windows) the right is inverted.
        let rate = 48_000;
        let mut noise = Noise(21);
        let mut planes = [Vec::new(), Vec::new(), Vec::new()];
        for n in 0..rate as usize * 4 {
            let common = 0.2 * noise.next();
            let l = common + 0.05 * noise.next();
            let r = common + 0.05 * noise.next();
            let flip = (76_800..134_400).contains(&n);
            planes[0].push(l);
            planes[1].push(if flip { -r } else { r });
            planes[2].push(common);
        }
        let planes: Vec<Vec<i32>> = planes.iter().map(|p| mono(p, 24)).collect();
        let r = analyse(2, rate, 24, &interleave(&planes[..2]));
        assert_eq!(r.phase_alarms.len(), 1, "{:?}", r.phase_alarms);
        let a = &r.phase_alarms[0];
        assert_eq!(
            (a.start, a.length),
            (FrameIndex(76_800), FrameCount(57_600))
        );
        assert!(a.correlation < -0.8, "{a:?}");
        let p = &r.phase[0];
        assert!(p.min_correlation.unwrap() < -0.8, "{p:?}");
        assert!((76_800..134_400).contains(&p.min_at.unwrap().0), "{p:?}");
        assert_eq!(p.min_at_time.unwrap().to_string(), "00:00:01.600");
        // The alarm can be turned off, and three tracks are never flagged, only reported:
        // pairs 1-2 and 2-3.
        let off = AnalysisSettings {
            phase_alarm_correlation: -1.0,
            ..AnalysisSettings::default()
        };
        let r = analyse_in_blocks(2, rate, 24, &off, &interleave(&planes[..2]), 999);
        assert!(r.phase_alarms.is_empty());
        let r = analyse(3, rate, 24, &interleave(&planes));
        assert!(r.phase_alarms.is_empty());
        let pairs: Vec<[usize; 2]> = r.phase.iter().map(|p| p.channels).collect();
        assert_eq!(pairs, [[1, 2], [2, 3]]);
        assert!(r.phase[0].min_correlation.unwrap() < -0.8);
        assert!(r.phase[1].min_correlation.unwrap() < -0.5);
    }

    #[test]
    fn mono_silent_and_short_takes_have_nothing_to_measure() {
        let r = analyse(1, 48_000, 16, &[1, 2, 3]);
        assert!(r.phase.is_empty() && r.dropouts.is_empty());
        let r = analyse(2, 48_000, 16, &vec![0; 48_000 * 2]);
        let p = &r.phase[0];
        assert_eq!(
            (
                p.correlation,
                p.min_correlation,
                p.min_at,
                p.offset_samples,
                p.offset_correlation
            ),
            (None, None, None, None, None)
        );
        let v: serde_json::Value = serde_json::to_value(p).unwrap();
        assert!(
            v["offset_us"].is_null() && v["min_at_time"].is_null(),
            "{v}"
        );
        // 0.3 s of tone: a correlation, but no whole window.
        let x = mono(
            &(0..14_400)
                .map(|n| sine(48_000, 440.0, 0.5, n))
                .collect::<Vec<_>>(),
            16,
        );
        let p = analyse(2, 48_000, 16, &interleave(&[x.clone(), x])).phase[0].clone();
        assert!(
            p.correlation.is_some() && p.min_correlation.is_none(),
            "{p:?}"
        );
        let empty = analyse(2, 48_000, 16, &[]);
        assert_eq!(empty.frames, FrameCount(0));
        assert_eq!(empty.phase[0].correlation, None);
    }

    /// A take with something of everything, for block-size independence.
    fn busy_take(rate: u32, bits: u32, channels: usize, secs: f64) -> Vec<i32> {
        let frames = (secs * f64::from(rate)) as usize;
        let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
        let sec = |t: f64| (t * f64::from(rate)) as usize;
        let mut planes: Vec<Vec<f64>> = vec![Vec::with_capacity(frames); channels];
        let mut low = 0.0;
        for n in 0..frames {
            let t = n as f64 / f64::from(rate);
            // Low-passed noise: still correlated with itself a few samples later.
            low = 0.9 * low + 0.1 * noise.next();
            let common = 1.5 * low + sine(rate, 220.0, 0.1, n);
            for (c, p) in planes.iter_mut().enumerate() {
                let mut v = common + 0.05 * noise.next();
                if c % 2 == 1 && (1.2..2.0).contains(&t) {
                    v = -v; // anti-phase
                }
                if c == 0 && (sec(0.7)..sec(0.74)).contains(&n) {
                    v *= 0.001; // a level dropout
                }
                if c == channels - 1 && (sec(2.5)..sec(2.505)).contains(&n) {
                    v = 0.0; // a digital one
                }
                if t > secs - 0.3 {
                    v = 0.0;
                }
                p.push(v);
            }
        }
        let planes: Vec<Vec<i32>> = planes.iter().map(|p| mono(p, bits)).collect();
        // One channel late by 3 samples.
        let mut planes = planes;
        if channels > 1 {
            let late = &mut planes[1];
            late.rotate_right(3);
        }
        interleave(&planes)
    }

    #[test]
    fn report_does_not_depend_on_block_size() {
        for (rate, bits, channels) in [
            (48_000, 24, 2),
            (44_100, 16, 2),
            (96_000, 32, 3),
            (8_000, 16, 2),
            (22_050, 24, 1),
        ] {
            let samples = busy_take(rate, bits, channels, 3.3);
            let settings = AnalysisSettings::default();
            let reference = analyse_in_blocks(channels, rate, bits, &settings, &samples, 4096);
            let text = json(&reference);
            for block in [1, 64, 4095, 1_000_000] {
                let r = analyse_in_blocks(channels, rate, bits, &settings, &samples, block);
                assert_eq!(json(&r), text, "{rate} Hz, {bits} bits, blocks of {block}");
            }
            let mut a = DefectAnalyser::new(channels, rate, bits, &settings).unwrap();
            let mut rest = &samples[..];
            let mut size = 1;
            while !rest.is_empty() {
                let take = (size * channels).min(rest.len());
                a.process(&rest[..take]);
                rest = &rest[take..];
                size = size % 997 + 1;
            }
            assert_eq!(json(&a.finish()), text, "{rate} Hz, irregular blocks");
            // The take is busy enough that every kind of finding is there.
            let what = format!("{rate} Hz: {text}");
            assert!(
                reference
                    .dropouts
                    .iter()
                    .any(|d| d.channel == 1 && d.held_value.is_none()),
                "{what}"
            );
            assert!(
                reference.dropouts.iter().any(|d| d.held_value == Some(0)),
                "{what}"
            );
            if channels > 1 {
                assert!(
                    (reference.phase[0].offset_samples.unwrap() - 3.0).abs() < 0.1,
                    "{what}"
                );
                assert!(reference.phase[0].min_correlation.unwrap() < -0.5, "{what}");
            }
            assert_eq!(reference.phase_alarms.is_empty(), channels != 2, "{what}");
        }
    }

    #[test]
    fn dropout_list_is_capped_but_counted() {
        // 8 kHz noise with a 4 ms run of zeros every 30 ms: 11 000 digital dropouts.
        let rate = 8_000;
        let mut noise = Noise(17);
        let runs = MAX_DROPOUTS + 1_000;
        // Odd values: the noise itself never holds 0.
        let mut x: Vec<i32> = mono(
            &(0..runs * 240 + 240)
                .map(|_| 0.3 * noise.next())
                .collect::<Vec<_>>(),
            16,
        )
        .into_iter()
        .map(|v| v | 1)
        .collect();
        for i in 0..runs {
            x[i * 240 + 200..i * 240 + 232].fill(0);
        }
        let r = analyse(1, rate, 16, &x);
        assert_eq!(r.dropouts_total, runs as u64);
        assert_eq!(r.dropouts.len(), MAX_DROPOUTS);
        for (i, d) in r.dropouts.iter().enumerate() {
            assert_eq!((d.start.0, d.length.0), ((i * 240 + 200) as u64, 32), "{i}");
        }
        let again = analyse_in_blocks(1, rate, 16, &AnalysisSettings::default(), &x, 7);
        assert_eq!(json(&again), json(&r));
    }

    #[test]
    fn invalid_formats_and_settings_are_refused() {
        let ok = AnalysisSettings::default();
        let err = |c, r, b, s: &AnalysisSettings| DefectAnalyser::new(c, r, b, s).err().unwrap();
        assert!(matches!(
            err(0, 48_000, 24, &ok),
            LevelError::Channels { .. }
        ));
        assert!(matches!(
            err(2, 7_000, 24, &ok),
            LevelError::SampleRate { .. }
        ));
        assert!(matches!(
            err(2, 48_000, 33, &ok),
            LevelError::BitsPerSample { .. }
        ));
        for (fall, alarm) in [
            (5.0, -0.3),
            (f64::NAN, -0.3),
            (24.0, -1.5),
            (24.0, f64::NAN),
        ] {
            let s = AnalysisSettings {
                dropout_fall_db: fall,
                phase_alarm_correlation: alarm,
                ..ok.clone()
            };
            let e = err(2, 48_000, 24, &s);
            assert!(matches!(e, LevelError::Settings { .. }), "{e}");
        }
        for (c, r, b) in [(1, 8_000, 8), (64, 768_000, 32), (8, 44_100, 16)] {
            assert!(DefectAnalyser::new(c, r, b, &ok).is_ok(), "{c} {r} {b}");
        }
    }

    #[test]
    #[should_panic(expected = "not a whole number")]
    fn partial_frames_are_refused() {
        let mut a = DefectAnalyser::new(2, 48_000, 16, &AnalysisSettings::default()).unwrap();
        a.process(&[1, 2, 3]);
    }

    #[test]
    fn analyser_can_move_to_another_thread() {
        fn send<T: Send>(_: &T) {}
        let a = DefectAnalyser::new(2, 48_000, 24, &AnalysisSettings::default()).unwrap();
        send(&a);
        let r = std::thread::spawn(move || a.finish()).join().unwrap();
        send(&r);
    }

    /// Periodic waveforms that hold values on purpose: every class that was mapped as
    /// digital dropouts (issue 15), at 44.1, 48 and 96 kHz, 16 and 24 bits.
    fn periodic_material(rate: u32) -> Vec<(&'static str, Vec<f64>)> {
        let n = 3 * rate as usize;
        let t = |i: usize| i as f64 / f64::from(rate);
        let sq = |f: f64, i: usize| if (f * t(i)).fract() < 0.5 { 1.0 } else { -1.0 };
        let pulse = |f: f64, duty: f64, i: usize| {
            if (f * t(i) + 0.37).fract() < duty {
                1.0
            } else {
                -1.0
            }
        };
        vec![
            (
                "60 Hz square, -6 dBFS",
                (0..n).map(|i| 0.5 * sq(60.0, i)).collect(),
            ),
            // Decaying: each half period holds a value inside the range just before it.
            (
                "60 Hz square decaying 20 dB/s",
                (0..n)
                    .map(|i| 0.5 * 10f64.powf(-t(i)) * sq(60.0, i))
                    .collect(),
            ),
            // Two squares: four levels, the inner two held for milliseconds.
            (
                "60 + 90 Hz squares",
                (0..n)
                    .map(|i| 0.3 * sq(60.0, i) + 0.2 * sq(90.0, i))
                    .collect(),
            ),
            // A square with a DC offset and a 1 kHz pulse train riding on it.
            (
                "square with pulses",
                (0..n)
                    .map(|i| {
                        0.01 + 0.3 * sq(60.0, i)
                            + if i % (rate as usize / 100) < 3 {
                                0.2
                            } else {
                                0.0
                            }
                    })
                    .collect(),
            ),
            // Mains hum with harmonics (a buzz), quiet: flat stretches near its turning points.
            (
                "60 Hz buzz at -45 dBFS",
                (0..n)
                    .map(|i| {
                        let w = TAU * 60.0 * t(i);
                        0.0056
                            * (w.sin()
                                + 0.5 * (3.0 * w).sin()
                                + 0.3 * (5.0 * w).sin()
                                + 0.2 * (7.0 * w).sin())
                    })
                    .collect(),
            ),
            // Hum under a quiet passage of a little music.
            (
                "50 Hz hum, -40 dBFS, with a -70 dBFS 3 kHz tone",
                (0..n)
                    .map(|i| {
                        0.01 * (TAU * 50.0 * t(i)).sin() + 0.0003 * (TAU * 3000.0 * t(i)).sin()
                    })
                    .collect(),
            ),
            // Naive pulse waves: a short pulse, then one value held for most of the cycle.
            (
                "261 Hz pulse, 5 % duty",
                (0..n).map(|i| 0.2 * pulse(261.3, 0.05, i)).collect(),
            ),
            (
                "40 Hz pulse, 10 % duty, -40 dBFS",
                (0..n).map(|i| 0.01 * pulse(40.0, 0.1, i)).collect(),
            ),
            (
                "1470 Hz pulse, 25 % duty",
                (0..n).map(|i| 0.7 * pulse(1_470.0, 0.25, i)).collect(),
            ),
            // A 20 Hz square: plateaus of 25 ms, longer than the level's windows.
            (
                "20 Hz square, -20 dBFS",
                (0..n).map(|i| 0.1 * sq(20.0, i)).collect(),
            ),
            // A sawtooth and a triangle, low and quiet: slow ramps with a reset or a corner.
            (
                "24 Hz sawtooth, -40 dBFS",
                (0..n)
                    .map(|i| 0.01 * (2.0 * (24.0 * t(i)).fract() - 1.0))
                    .collect(),
            ),
            (
                "27 Hz triangle, -44 dBFS",
                (0..n)
                    .map(|i| 0.0063 * (1.0 - 4.0 * ((27.0 * t(i)).fract() - 0.5).abs()))
                    .collect(),
            ),
            // A staircase (a stepped test signal, a sample-and-hold).
            (
                "staircase, 8 steps of 2 ms",
                (0..n)
                    .map(|i| ((i * 500 / rate as usize) % 8) as f64 / 10.0 - 0.35)
                    .collect(),
            ),
        ]
    }

    #[test]
    fn square_waves_hum_and_stepped_signals_are_not_dropouts() {
        let mut wrong = Vec::new();
        for rate in [44_100, 48_000, 96_000] {
            for bits in [16, 24] {
                for (name, x) in periodic_material(rate) {
                    let s = interleave(&[mono(&x, bits), mono(&x, bits)]);
                    let r = analyse(2, rate, bits, &s);
                    if r.dropouts_total != 0 {
                        wrong.push(format!(
                            "{name} at {rate} Hz, {bits} bits: {} dropouts, first {:?}",
                            r.dropouts_total, r.dropouts[0]
                        ));
                    }
                }
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }
}
