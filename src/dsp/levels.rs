//! Level analysis of a take: sample and true peak, EBU R128 loudness (integrated, range, maximum
//! momentary and short-term), DC offset, RMS, clipped-sample runs and head/tail silence, per
//! channel and for the programme.
//!
//! Loudness comes from the `ebur128` crate (EBU Tech 3341/3342 compliant). The programme meter
//! has its channel map set explicitly: mono is weighted as centre (as ffmpeg does), stereo as
//! left/right, and any other count (independent tracks of a multitrack tape) gives every
//! channel weight 1 (ITU-R BS.1770 weights only surround channels otherwise). Each channel is
//! also metered alone, as mono. Samples are fed to the meters in pieces that end on fixed 100 ms
//! boundaries of the take, where the momentary and short-term maxima are read, so results do
//! not depend on how the caller cuts its blocks.

use crate::units::{FrameCount, FrameIndex};
use ebur128::{Channel, EbuR128, Mode};
use serde::{Deserialize, Serialize};

/// Clip runs kept in the report; beyond this only the count grows, so a wholly clipped file
/// cannot exhaust memory.
pub const MAX_CLIP_RUNS: usize = 10_000;

/// Analysis settings from the profile.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct AnalysisSettings {
    /// Head/tail silence: leading/trailing frames where every channel is below this level.
    pub silence_threshold_dbfs: f64,
    /// A clip is a run of at least this many consecutive samples at full scale in one channel.
    pub clip_min_run: u32,
    /// Measure true peak (4x oversampling below 96 kHz, 2x at 96 kHz: the costliest part).
    pub true_peak: bool,
}

impl Default for AnalysisSettings {
    fn default() -> Self {
        AnalysisSettings {
            silence_threshold_dbfs: -60.0,
            clip_min_run: 2,
            true_peak: true,
        }
    }
}

/// Why an analyser could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LevelError {
    #[error("{channels} channels at {rate} Hz, {bits} bits cannot be analysed: {detail}")]
    Format {
        channels: usize,
        rate: u32,
        bits: u32,
        detail: String,
    },
}

/// Loudness and peaks of a programme or a channel. `None`: not measurable (silence, -inf, or
/// too short for the measurement's window).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProgrammeLevels {
    pub sample_peak_dbfs: Option<f64>,
    pub true_peak_dbtp: Option<f64>,
    pub integrated_lufs: Option<f64>,
    pub loudness_range_lu: Option<f64>,
    pub max_momentary_lufs: Option<f64>,
    pub max_short_term_lufs: Option<f64>,
}

/// Levels of one channel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelLevels {
    /// 1-based.
    pub channel: usize,
    #[serde(flatten)]
    pub levels: ProgrammeLevels,
    /// Mean sample value as a fraction of full scale.
    pub dc_offset: f64,
    /// RMS level re full scale (a full-scale sine reads -3.01 dBFS: no +3 dB convention).
    pub rms_dbfs: Option<f64>,
}

/// A run of clipped samples in one channel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClipRun {
    /// 1-based.
    pub channel: usize,
    pub start: FrameIndex,
    pub length: FrameCount,
}

/// Everything measured on a take.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LevelReport {
    pub frames: FrameCount,
    pub overall: ProgrammeLevels,
    pub channels: Vec<ChannelLevels>,
    pub clips: Vec<ClipRun>,
    pub clip_runs_total: u64,
    pub head_silence: FrameCount,
    pub tail_silence: FrameCount,
}

#[derive(Clone, Copy, Default)]
struct Run {
    start: u64,
    len: u64,
    value: i32,
}

/// Streaming level analyser. Feed it interleaved right-justified samples with
/// [`LevelAnalyser::process`], then call [`LevelAnalyser::finish`].
pub struct LevelAnalyser {
    channels: usize,
    rate: u32,
    bits: u32,
    settings: AnalysisSettings,
    programme: EbuR128,
    per_channel: Vec<EbuR128>,
    scale: f32,
    full_scale: f64,
    max_value: i32,
    min_value: i32,
    silence_level: i64,
    frames: u64,
    /// Frames until the next 100 ms boundary.
    to_boundary: usize,
    step: usize,
    interleaved: Vec<f32>,
    planes: Vec<Vec<f32>>,
    peak: Vec<i64>,
    sum: Vec<i128>,
    sum_sq: Vec<f64>,
    max_m_prog: f64,
    max_s_prog: f64,
    max_m: Vec<f64>,
    max_s: Vec<f64>,
    runs: Vec<Run>,
    clips: Vec<ClipRun>,
    clip_runs_total: u64,
    first_loud: Option<u64>,
    last_loud: Option<u64>,
}

fn db(x: f64) -> Option<f64> {
    (x > 0.0 && x.is_finite()).then(|| 20.0 * x.log10())
}

fn finite(x: Result<f64, ebur128::Error>) -> Option<f64> {
    x.ok().filter(|v| v.is_finite())
}

impl LevelAnalyser {
    pub fn new(
        channels: usize,
        sample_rate: u32,
        bits_per_sample: u32,
        settings: &AnalysisSettings,
    ) -> Result<Self, LevelError> {
        let fail = |detail: String| LevelError::Format {
            channels,
            rate: sample_rate,
            bits: bits_per_sample,
            detail,
        };
        if channels == 0 || channels > 64 {
            return Err(fail("1 to 64 channels are supported".into()));
        }
        if !(16..=32).contains(&bits_per_sample) {
            return Err(fail("16 to 32 bits are supported".into()));
        }
        let modes = Mode::I | Mode::LRA | Mode::M | Mode::S;
        let mut programme = EbuR128::new(channels as u32, sample_rate, modes)
            .map_err(|e| fail(format!("ebur128: {e}")))?;
        let map: Vec<Channel> = match channels {
            1 => vec![Channel::Center],
            2 => vec![Channel::Left, Channel::Right],
            n => vec![Channel::Center; n],
        };
        programme
            .set_channel_map(&map)
            .map_err(|e| fail(format!("ebur128 channel map: {e}")))?;
        let channel_modes = if settings.true_peak {
            modes | Mode::TRUE_PEAK
        } else {
            modes
        };
        let per_channel = (0..channels)
            .map(|_| {
                let mut m = EbuR128::new(1, sample_rate, channel_modes)?;
                m.set_channel(0, Channel::Center)?;
                Ok(m)
            })
            .collect::<Result<Vec<_>, ebur128::Error>>()
            .map_err(|e| fail(format!("ebur128: {e}")))?;
        let full_scale = 2f64.powi(bits_per_sample as i32 - 1);
        let step = (sample_rate / 10) as usize; // 100 ms (EBU Tech 3341 §2.3 update rate ≥ 10 Hz)
        Ok(LevelAnalyser {
            channels,
            rate: sample_rate,
            bits: bits_per_sample,
            settings: settings.clone(),
            programme,
            per_channel,
            scale: (1.0 / full_scale) as f32,
            full_scale,
            max_value: (full_scale - 1.0) as i32,
            min_value: (-full_scale) as i32,
            silence_level: (10f64.powf(settings.silence_threshold_dbfs / 20.0) * full_scale).ceil()
                as i64,
            frames: 0,
            to_boundary: step,
            step,
            interleaved: Vec::with_capacity(step * channels),
            planes: vec![Vec::with_capacity(step); channels],
            peak: vec![0; channels],
            sum: vec![0; channels],
            sum_sq: vec![0.0; channels],
            max_m_prog: f64::NEG_INFINITY,
            max_s_prog: f64::NEG_INFINITY,
            max_m: vec![f64::NEG_INFINITY; channels],
            max_s: vec![f64::NEG_INFINITY; channels],
            runs: vec![Run::default(); channels],
            clips: Vec::new(),
            clip_runs_total: 0,
            first_loud: None,
            last_loud: None,
        })
    }

    /// Interleaved samples, right-justified at the analyser's bit depth.
    pub fn process(&mut self, interleaved: &[i32]) {
        assert_eq!(interleaved.len() % self.channels, 0, "partial frame");
        let mut rest = interleaved;
        while !rest.is_empty() {
            let frames = (rest.len() / self.channels).min(self.to_boundary);
            let (now, later) = rest.split_at(frames * self.channels);
            self.scan(now);
            self.meter(now);
            self.to_boundary -= frames;
            if self.to_boundary == 0 {
                self.at_boundary();
                self.to_boundary = self.step;
            }
            rest = later;
        }
    }

    /// Peaks, sums, clips and silence: integer work, one pass.
    fn scan(&mut self, block: &[i32]) {
        let ch = self.channels;
        for (i, frame) in block.chunks_exact(ch).enumerate() {
            let pos = self.frames + i as u64;
            let mut loud = false;
            for (c, &s) in frame.iter().enumerate() {
                let v = i64::from(s);
                let a = v.abs();
                if a > self.peak[c] {
                    self.peak[c] = a;
                }
                self.sum[c] += i128::from(v);
                self.sum_sq[c] += (v * v) as f64;
                loud |= a >= self.silence_level;
                let run = &mut self.runs[c];
                if s == self.max_value || s == self.min_value {
                    if run.len > 0 && run.value == s {
                        run.len += 1;
                    } else {
                        Self::close_run(
                            run,
                            c,
                            self.settings.clip_min_run,
                            &mut self.clips,
                            &mut self.clip_runs_total,
                        );
                        *run = Run {
                            start: pos,
                            len: 1,
                            value: s,
                        };
                    }
                } else if run.len > 0 {
                    Self::close_run(
                        run,
                        c,
                        self.settings.clip_min_run,
                        &mut self.clips,
                        &mut self.clip_runs_total,
                    );
                }
            }
            if loud {
                self.first_loud.get_or_insert(pos);
                self.last_loud = Some(pos);
            }
        }
    }

    fn close_run(run: &mut Run, c: usize, min: u32, clips: &mut Vec<ClipRun>, total: &mut u64) {
        if run.len >= u64::from(min) {
            *total += 1;
            if clips.len() < MAX_CLIP_RUNS {
                clips.push(ClipRun {
                    channel: c + 1,
                    start: FrameIndex(run.start),
                    length: FrameCount(run.len),
                });
            }
        }
        run.len = 0;
    }

    fn meter(&mut self, block: &[i32]) {
        let ch = self.channels;
        let frames = block.len() / ch;
        self.interleaved.clear();
        self.interleaved
            .extend(block.iter().map(|&s| s as f32 * self.scale));
        for (c, plane) in self.planes.iter_mut().enumerate() {
            plane.clear();
            plane.extend(self.interleaved.iter().skip(c).step_by(ch));
        }
        // Errors here would mean a wrong channel count, which `new` rules out.
        let _ = self.programme.add_frames_f32(&self.interleaved);
        for (m, plane) in self.per_channel.iter_mut().zip(&self.planes) {
            let _ = m.add_frames_f32(plane);
        }
        self.frames += frames as u64;
    }

    fn at_boundary(&mut self) {
        // Maxima count only full windows: 400 ms momentary, 3 s short-term (EBU Tech 3341 §2.2).
        let m_ready = self.frames >= u64::from(self.rate) * 4 / 10;
        let s_ready = self.frames >= u64::from(self.rate) * 3;
        if m_ready {
            if let Some(v) = finite(self.programme.loudness_momentary()) {
                self.max_m_prog = self.max_m_prog.max(v);
            }
            for (c, m) in self.per_channel.iter().enumerate() {
                if let Some(v) = finite(m.loudness_momentary()) {
                    self.max_m[c] = self.max_m[c].max(v);
                }
            }
        }
        if s_ready {
            if let Some(v) = finite(self.programme.loudness_shortterm()) {
                self.max_s_prog = self.max_s_prog.max(v);
            }
            for (c, m) in self.per_channel.iter().enumerate() {
                if let Some(v) = finite(m.loudness_shortterm()) {
                    self.max_s[c] = self.max_s[c].max(v);
                }
            }
        }
    }

    pub fn finish(mut self) -> LevelReport {
        for c in 0..self.channels {
            let mut run = self.runs[c];
            Self::close_run(
                &mut run,
                c,
                self.settings.clip_min_run,
                &mut self.clips,
                &mut self.clip_runs_total,
            );
        }
        self.clips.sort_by_key(|r| (r.start, r.channel));
        let max_or_none = |v: f64| v.is_finite().then_some(v);
        let mut channels = Vec::with_capacity(self.channels);
        let mut true_peak_max: Option<f64> = None;
        for c in 0..self.channels {
            let m = &self.per_channel[c];
            let tp = if self.settings.true_peak {
                m.true_peak(0).ok().and_then(db)
            } else {
                None
            };
            if let Some(t) = tp {
                true_peak_max = Some(true_peak_max.map_or(t, |x: f64| x.max(t)));
            }
            let n = self.frames.max(1) as f64;
            channels.push(ChannelLevels {
                channel: c + 1,
                levels: ProgrammeLevels {
                    sample_peak_dbfs: db(self.peak[c] as f64 / self.full_scale),
                    true_peak_dbtp: tp,
                    integrated_lufs: finite(m.loudness_global()),
                    loudness_range_lu: finite(m.loudness_range()),
                    max_momentary_lufs: max_or_none(self.max_m[c]),
                    max_short_term_lufs: max_or_none(self.max_s[c]),
                },
                dc_offset: if self.frames == 0 {
                    0.0
                } else {
                    self.sum[c] as f64 / n / self.full_scale
                },
                rms_dbfs: if self.frames == 0 {
                    None
                } else {
                    let ms = self.sum_sq[c] / n / (self.full_scale * self.full_scale);
                    (ms > 0.0).then(|| 10.0 * ms.log10())
                },
            });
        }
        let sample_peak = self.peak.iter().copied().max().unwrap_or(0);
        let overall = ProgrammeLevels {
            sample_peak_dbfs: db(sample_peak as f64 / self.full_scale),
            true_peak_dbtp: true_peak_max,
            integrated_lufs: finite(self.programme.loudness_global()),
            loudness_range_lu: finite(self.programme.loudness_range()),
            max_momentary_lufs: max_or_none(self.max_m_prog),
            max_short_term_lufs: max_or_none(self.max_s_prog),
        };
        let (head, tail) = match (self.first_loud, self.last_loud) {
            (Some(first), Some(last)) => (first, self.frames - 1 - last),
            _ => (self.frames, self.frames),
        };
        let _ = self.bits;
        LevelReport {
            frames: FrameCount(self.frames),
            overall,
            channels,
            clips: self.clips,
            clip_runs_total: self.clip_runs_total,
            head_silence: FrameCount(head),
            tail_silence: FrameCount(tail),
        }
    }
}
