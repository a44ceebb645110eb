//! Level analysis of a take: sample and true peak, EBU R128 loudness (integrated, range, maximum
//! momentary and short-term), DC offset, RMS, clipped-sample runs and head/tail silence, per
//! channel and for the programme.
//!
//! Each channel is K-weighted by its own `ebur128` meter (as mono, weight 1). At every 100 ms
//! boundary of the take the energy of the last 100 ms is read from each; everything else is
//! built from those block energies (ITU-R BS.1770-4, EBU Tech 3341/3342): momentary = 4 blocks,
//! short-term = 30 blocks, integrated = the two-stage gating over the 400 ms blocks (75%
//! overlap), LRA from the short-term values. The programme's block energy is the sum of the
//! channels': every channel has weight 1 (mono as centre, as ffmpeg does; stereo as left/right;
//! independent tracks of a multitrack tape alike), so no second meter filters the same audio.
//! Samples reach the meters in pieces that end on the 100 ms boundaries, so results do not
//! depend on how the caller cuts its blocks.

use super::truepeak::TruePeak;
use crate::units::{FrameCount, FrameIndex};
use ebur128::{Channel, EbuR128, Mode};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

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
    /// Measure true peak (oversampled to 192 kHz, see [`super::truepeak`]).
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
    bits: u32,
    settings: AnalysisSettings,
    per_channel: Vec<EbuR128>,
    true_peak: Vec<TruePeak>,
    scale: f32,
    full_scale: f64,
    max_value: i32,
    min_value: i32,
    silence_level: i64,
    frames: u64,
    /// Frames until the next 100 ms boundary.
    to_boundary: usize,
    step: usize,
    planes: Vec<Vec<f32>>,
    peak: Vec<i64>,
    sum: Vec<i128>,
    sum_sq: Vec<f64>,
    /// Energies of the last 30 blocks of 100 ms (programme, then each channel), newest last:
    /// momentary is the mean of 4, short-term of 30 (EBU Tech 3341 §2.2), computed here because
    /// asking the meter re-sums its whole window on every query.
    block_energy: Vec<VecDeque<f64>>,
    /// Energy of every 400 ms gating block (one per 100 ms), programme then each channel.
    gating_blocks: Vec<Vec<f64>>,
    max_m_prog: f64,
    max_s_prog: f64,
    max_m: Vec<f64>,
    max_s: Vec<f64>,
    /// Short-term loudness every 100 ms from 3 s on, programme then each channel, for LRA.
    short_terms: Vec<Vec<f64>>,
    runs: Vec<Run>,
    clips: Vec<ClipRun>,
    clip_runs_total: u64,
    first_loud: Option<u64>,
    last_loud: Option<u64>,
}

/// Integrated loudness (ITU-R BS.1770-4 §2.8): the mean energy of the 400 ms gating blocks
/// above the absolute gate (-70 LUFS) and above the relative gate, 10 LU below the mean of
/// those.
fn integrated(blocks: &[f64]) -> Option<f64> {
    let lufs = |e: f64| -0.691 + 10.0 * e.log10();
    let mean_above = |gate: f64| {
        let (sum, n) = blocks
            .iter()
            .filter(|&&e| e > 0.0 && lufs(e) > gate)
            .fold((0.0, 0usize), |(s, n), &e| (s + e, n + 1));
        (n > 0).then(|| sum / n as f64)
    };
    let relative_gate = lufs(mean_above(-70.0)?) - 10.0;
    mean_above(relative_gate.max(-70.0)).map(lufs)
}

/// Loudness range (EBU Tech 3342 §3): of the short-term values (3 s windows, every 100 ms,
/// only full windows), those above -70 LUFS and above the relative gate 20 LU below their
/// power mean; LRA is the spread between their 10th and 95th percentiles.
fn loudness_range(short_terms: &[f64]) -> Option<f64> {
    let above: Vec<f64> = short_terms.iter().copied().filter(|&v| v > -70.0).collect();
    if above.is_empty() {
        return None;
    }
    let mean_power = above.iter().map(|v| 10f64.powf(v / 10.0)).sum::<f64>() / above.len() as f64;
    let gate = 10.0 * mean_power.log10() - 20.0;
    let mut gated: Vec<f64> = above.into_iter().filter(|&v| v >= gate).collect();
    if gated.is_empty() {
        return None;
    }
    gated.sort_by(f64::total_cmp);
    let at = |q: f64| gated[((gated.len() - 1) as f64 * q).round() as usize];
    Some(at(0.95) - at(0.10))
}

fn db(x: f64) -> Option<f64> {
    (x > 0.0 && x.is_finite()).then(|| 20.0 * x.log10())
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
        // HISTOGRAM: 0.1 LU bins for the gating and LRA statistics, as ffmpeg and libebur128 do.
        // Only the K-weighting and the 100 ms window are used; see the module notes.
        let per_channel = (0..channels)
            .map(|_| {
                let mut m = EbuR128::new(1, sample_rate, Mode::M)?;
                m.set_channel(0, Channel::Center)?;
                Ok(m)
            })
            .collect::<Result<Vec<_>, ebur128::Error>>()
            .map_err(|e| fail(format!("ebur128: {e}")))?;
        let full_scale = 2f64.powi(bits_per_sample as i32 - 1);
        let step = (sample_rate / 10) as usize; // 100 ms (EBU Tech 3341 §2.3 update rate ≥ 10 Hz)
        Ok(LevelAnalyser {
            channels,
            bits: bits_per_sample,
            settings: settings.clone(),
            per_channel,
            true_peak: if settings.true_peak {
                (0..channels).map(|_| TruePeak::new(sample_rate)).collect()
            } else {
                Vec::new()
            },
            scale: (1.0 / full_scale) as f32,
            full_scale,
            max_value: (full_scale - 1.0) as i32,
            min_value: (-full_scale) as i32,
            silence_level: (10f64.powf(settings.silence_threshold_dbfs / 20.0) * full_scale).ceil()
                as i64,
            frames: 0,
            to_boundary: step,
            step,
            planes: vec![Vec::with_capacity(step); channels],
            peak: vec![0; channels],
            sum: vec![0; channels],
            sum_sq: vec![0.0; channels],
            block_energy: vec![VecDeque::with_capacity(31); channels + 1],
            gating_blocks: vec![Vec::new(); channels + 1],
            max_m_prog: f64::NEG_INFINITY,
            max_s_prog: f64::NEG_INFINITY,
            max_m: vec![f64::NEG_INFINITY; channels],
            max_s: vec![f64::NEG_INFINITY; channels],
            short_terms: vec![Vec::new(); channels + 1],
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
        for (c, plane) in self.planes.iter_mut().enumerate() {
            plane.clear();
            plane.extend(
                block
                    .iter()
                    .skip(c)
                    .step_by(ch)
                    .map(|&s| s as f32 * self.scale),
            );
        }
        // Errors here would mean a wrong channel count, which `new` rules out.
        for (m, plane) in self.per_channel.iter_mut().zip(&self.planes) {
            let _ = m.add_frames_f32(plane);
        }
        for (tp, plane) in self.true_peak.iter_mut().zip(&self.planes) {
            tp.process(plane);
        }
        self.frames += frames as u64;
    }

    fn at_boundary(&mut self) {
        // BS.1770: L = -0.691 + 10 log10(energy); silence reads -inf, i.e. energy 0.
        let mut programme = 0.0;
        for c in 0..self.channels {
            let energy = self.per_channel[c]
                .loudness_window(100)
                .ok()
                .filter(|l| l.is_finite())
                .map_or(0.0, |l| 10f64.powf((l + 0.691) / 10.0));
            programme += energy;
            self.push_block(c + 1, energy);
        }
        self.push_block(0, programme);
    }

    /// Records a 100 ms block energy for meter `i` (0 = programme) and updates its momentary
    /// and short-term maxima, its gating blocks and its short-term series.
    fn push_block(&mut self, i: usize, energy: f64) {
        let q = &mut self.block_energy[i];
        if q.len() == 30 {
            q.pop_front();
        }
        q.push_back(energy);
        let mean = |blocks: usize| q.iter().rev().take(blocks).sum::<f64>() / blocks as f64;
        let loudness = |e: f64| (e > 0.0).then(|| -0.691 + 10.0 * e.log10());
        let (max_m, max_s) = if i == 0 {
            (&mut self.max_m_prog, &mut self.max_s_prog)
        } else {
            (&mut self.max_m[i - 1], &mut self.max_s[i - 1])
        };
        // Only full windows count: 400 ms momentary (a gating block), 3 s short-term.
        if q.len() >= 4 {
            let e = mean(4);
            self.gating_blocks[i].push(e);
            if let Some(v) = loudness(e) {
                *max_m = max_m.max(v);
            }
        }
        if q.len() >= 30 {
            if let Some(v) = loudness(mean(30)) {
                *max_s = max_s.max(v);
                self.short_terms[i].push(v);
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
        let mut true_peaks = std::mem::take(&mut self.true_peak).into_iter();
        for c in 0..self.channels {
            let tp = true_peaks.next().and_then(|t| db(f64::from(t.finish())));
            if let Some(t) = tp {
                true_peak_max = Some(true_peak_max.map_or(t, |x: f64| x.max(t)));
            }
            let n = self.frames.max(1) as f64;
            channels.push(ChannelLevels {
                channel: c + 1,
                levels: ProgrammeLevels {
                    sample_peak_dbfs: db(self.peak[c] as f64 / self.full_scale),
                    true_peak_dbtp: tp,
                    integrated_lufs: integrated(&self.gating_blocks[c + 1]),
                    loudness_range_lu: loudness_range(&self.short_terms[c + 1]),
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
            integrated_lufs: integrated(&self.gating_blocks[0]),
            loudness_range_lu: loudness_range(&self.short_terms[0]),
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

#[cfg(test)]
mod tests {
    use super::*;

    const FS: u32 = 48_000; // the EBU test set's rate

    /// Stereo 1 kHz sine segments `(seconds, dBFS per channel)`, 24-bit, phase-continuous.
    fn tone_segments(segments: &[(f64, f64)], freq: f64) -> Vec<i32> {
        let full = f64::from((1 << 23) - 1);
        let mut out = Vec::new();
        let mut n = 0u64;
        for &(secs, dbfs) in segments {
            let amp = 10f64.powf(dbfs / 20.0);
            for _ in 0..(secs * f64::from(FS)).round() as u64 {
                let v = amp * (2.0 * std::f64::consts::PI * freq * n as f64 / f64::from(FS)).sin();
                let s = (v * full).round() as i32;
                out.push(s);
                out.push(s);
                n += 1;
            }
        }
        out
    }

    fn analyse(samples: &[i32], channels: usize, bits: u32, block_frames: usize) -> LevelReport {
        let mut a = LevelAnalyser::new(channels, FS, bits, &AnalysisSettings::default()).unwrap();
        for block in samples.chunks(block_frames * channels) {
            a.process(block);
        }
        a.finish()
    }

    fn close(got: Option<f64>, want: f64, tol: f64, what: &str) {
        let g = got.unwrap_or_else(|| panic!("{what}: not measured"));
        assert!(
            (g - want).abs() <= tol,
            "{what}: {g:.3}, expected {want} ±{tol}"
        );
    }

    // EBU Tech 3341 (V3, 2016) Table 1 "minimum requirements" test signals, synthesised from
    // their descriptions: stereo 1 kHz sine, levels per channel. Tolerance ±0.1 LU (§4).
    #[test]
    fn tech3341_case1_minus23_dbfs_reads_minus23_lufs_m_s_i() {
        let r = analyse(&tone_segments(&[(20.0, -23.0)], 1000.0), 2, 24, 4096);
        close(r.overall.integrated_lufs, -23.0, 0.1, "I");
        close(r.overall.max_momentary_lufs, -23.0, 0.1, "max M");
        close(r.overall.max_short_term_lufs, -23.0, 0.1, "max S");
    }

    #[test]
    fn tech3341_case2_minus33_dbfs_reads_minus33_lufs() {
        let r = analyse(&tone_segments(&[(20.0, -33.0)], 1000.0), 2, 24, 4096);
        close(r.overall.integrated_lufs, -33.0, 0.1, "I");
        close(r.overall.max_momentary_lufs, -33.0, 0.1, "max M");
        close(r.overall.max_short_term_lufs, -33.0, 0.1, "max S");
    }

    #[test]
    fn tech3341_case3_relative_gate_ignores_quiet_parts() {
        let sig = tone_segments(&[(10.0, -36.0), (60.0, -23.0), (10.0, -36.0)], 1000.0);
        close(
            analyse(&sig, 2, 24, 4096).overall.integrated_lufs,
            -23.0,
            0.1,
            "I",
        );
    }

    #[test]
    fn tech3341_case4_absolute_and_relative_gates() {
        let sig = tone_segments(
            &[
                (10.0, -72.0),
                (10.0, -36.0),
                (60.0, -23.0),
                (10.0, -36.0),
                (10.0, -72.0),
            ],
            1000.0,
        );
        close(
            analyse(&sig, 2, 24, 4096).overall.integrated_lufs,
            -23.0,
            0.1,
            "I",
        );
    }

    #[test]
    fn tech3341_case5_level_steps_average_to_minus23() {
        let sig = tone_segments(&[(20.0, -26.0), (20.1, -20.0), (20.0, -26.0)], 1000.0);
        close(
            analyse(&sig, 2, 24, 4096).overall.integrated_lufs,
            -23.0,
            0.1,
            "I",
        );
    }

    #[test]
    fn tech3341_case9_short_term_is_minus23_after_3_s() {
        // 20 x (1.34 s at -20 dBFS, 1.66 s at -30 dBFS): every 3 s window averages to -23.
        let segs: Vec<(f64, f64)> = (0..20)
            .flat_map(|_| [(1.34, -20.0), (1.66, -30.0)])
            .collect();
        let r = analyse(&tone_segments(&segs, 1000.0), 2, 24, 4096);
        close(r.overall.max_short_term_lufs, -23.0, 0.1, "max S");
    }

    #[test]
    fn tech3341_case12_momentary_is_minus23_after_1_s() {
        // 25 x (0.18 s at -20 dBFS, 0.22 s at -30 dBFS): every 400 ms window averages to -23.
        let segs: Vec<(f64, f64)> = (0..25)
            .flat_map(|_| [(0.18, -20.0), (0.22, -30.0)])
            .collect();
        let r = analyse(&tone_segments(&segs, 1000.0), 2, 24, 4096);
        close(r.overall.max_momentary_lufs, -23.0, 0.1, "max M");
    }

    /// A sine at `fs / divisor`, starting at `phase_deg`, whose *waveform* peak is `peak_dbfs`
    /// (samples may fall well below it: that is what true peak must see through). 10 ms fades
    /// at both ends, since an abrupt start from silence overshoots when reconstructed.
    fn true_peak_signal(divisor: f64, phase_deg: f64, peak_dbfs: f64) -> Vec<i32> {
        let full = f64::from((1 << 23) - 1);
        let amp = 10f64.powf(peak_dbfs / 20.0);
        let len = FS as usize * 2;
        let fade = FS as usize / 100;
        (0..len)
            .flat_map(|n| {
                let edge = n.min(len - 1 - n);
                let g = if edge < fade {
                    0.5 - 0.5 * (std::f64::consts::PI * edge as f64 / fade as f64).cos()
                } else {
                    1.0
                };
                let v = g
                    * amp
                    * (2.0 * std::f64::consts::PI * n as f64 / divisor + phase_deg.to_radians())
                        .sin();
                let s = (v * full).round().clamp(-full - 1.0, full) as i32;
                [s, s]
            })
            .collect()
    }

    // Tech 3341 cases 15-19: true-peak, tolerance +0.2/-0.4 dB (§5).
    #[test]
    fn tech3341_cases15_to_19_true_peak() {
        for (case, divisor, phase, peak, want) in [
            (15, 4.0, 0.0, -6.0, -6.0),
            (16, 4.0, 45.0, -6.0, -6.0),
            (17, 6.0, 60.0, -6.0, -6.0),
            (18, 8.0, 67.5, -6.0, -6.0),
            // Samples at 0 dBFS, waveform 3 dB above them.
            (19, 4.0, 45.0, 20.0 * 2f64.sqrt().log10(), 3.0),
        ] {
            let r = analyse(&true_peak_signal(divisor, phase, peak), 2, 24, 4096);
            let tp = r.overall.true_peak_dbtp.unwrap();
            assert!(
                tp <= want + 0.2 && tp >= want - 0.4,
                "case {case}: true peak {tp:.2} dBTP, expected {want} +0.2/-0.4"
            );
        }
        // And sample peak does not see through it: case 16's samples sit 3 dB below.
        let r = analyse(&true_peak_signal(4.0, 45.0, -6.0), 2, 24, 4096);
        close(r.overall.sample_peak_dbfs, -9.01, 0.05, "sample peak");
    }

    // EBU Tech 3342 (2016) LRA cases 1-4: stereo 1 kHz tones, tolerance ±1 LU.
    #[test]
    fn tech3342_cases1_to_4_loudness_range() {
        for (case, segs, want) in [
            (1, vec![(20.0, -20.0), (20.0, -30.0)], 10.0),
            (2, vec![(20.0, -20.0), (20.0, -15.0)], 5.0),
            (3, vec![(20.0, -40.0), (20.0, -20.0)], 20.0),
            (
                4,
                vec![
                    (20.0, -50.0),
                    (20.0, -35.0),
                    (20.0, -20.0),
                    (20.0, -35.0),
                    (20.0, -50.0),
                ],
                15.0,
            ),
        ] {
            let r = analyse(&tone_segments(&segs, 1000.0), 2, 24, 4096);
            close(
                r.overall.loudness_range_lu,
                want,
                1.0,
                &format!("3342 case {case} LRA"),
            );
        }
    }

    #[test]
    fn results_do_not_depend_on_block_size() {
        let mut sig = tone_segments(&[(0.5, -90.0), (3.0, -18.0), (1.0, -40.0)], 997.0);
        let max = (1 << 23) - 1;
        for s in &mut sig[100_000..100_010] {
            *s = max; // a clip run crossing odd block boundaries
        }
        let reference = serde_json::to_string(&analyse(&sig, 2, 24, 4096)).unwrap();
        for block in [1, 7, 64, 4801, 1 << 16] {
            let got = serde_json::to_string(&analyse(&sig, 2, 24, block)).unwrap();
            assert_eq!(got, reference, "block size {block}");
        }
    }

    #[test]
    fn clips_silence_dc_and_rms_on_planted_signals() {
        // 16-bit mono: 1000 frames of silence, 2000 of a DC level of +0.25 FS with a 3-sample
        // clip at +FS and a 1-sample touch of -FS (below the 2-sample minimum), 500 of silence.
        let mut sig = vec![0i32; 1000];
        sig.extend(std::iter::repeat_n(8192, 2000));
        sig.extend(std::iter::repeat_n(0, 500));
        sig[1500..1503].copy_from_slice(&[32767, 32767, 32767]);
        sig[2000] = -32768;
        let mut a = LevelAnalyser::new(1, FS, 16, &AnalysisSettings::default()).unwrap();
        a.process(&sig);
        let r = a.finish();
        assert_eq!(
            r.clips,
            vec![ClipRun {
                channel: 1,
                start: FrameIndex(1500),
                length: FrameCount(3)
            }]
        );
        assert_eq!(r.clip_runs_total, 1);
        assert_eq!(r.head_silence, FrameCount(1000));
        assert_eq!(r.tail_silence, FrameCount(500));
        let sum: f64 = sig.iter().map(|&s| f64::from(s)).sum();
        let dc = sum / sig.len() as f64 / 32768.0;
        assert!((r.channels[0].dc_offset - dc).abs() < 1e-12);
        let ms: f64 = sig
            .iter()
            .map(|&s| f64::from(s) * f64::from(s))
            .sum::<f64>()
            / sig.len() as f64
            / (32768.0 * 32768.0);
        close(r.channels[0].rms_dbfs, 10.0 * ms.log10(), 1e-9, "rms");
        close(
            r.channels[0].levels.sample_peak_dbfs,
            20.0 * (32768f64 / 32768.0).log10(),
            1e-9,
            "peak",
        );
    }

    #[test]
    fn digital_silence_is_unmeasurable_not_a_number() {
        let r = analyse(&vec![0; 2 * FS as usize], 2, 24, 4096);
        assert_eq!(r.overall.integrated_lufs, None);
        assert_eq!(r.overall.sample_peak_dbfs, None);
        assert_eq!(r.head_silence, FrameCount(u64::from(FS)));
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains("\"integrated_lufs\":null"), "{json}");
    }

    #[test]
    fn independent_tracks_each_get_their_own_loudness() {
        // Track 1 at -23 dBFS, track 2 at -33 dBFS: metered alone as mono, 1 kHz.
        let full = f64::from((1 << 23) - 1);
        let sig: Vec<i32> = (0..FS as usize * 10)
            .flat_map(|n| {
                let v = (2.0 * std::f64::consts::PI * 1000.0 * n as f64 / f64::from(FS)).sin();
                [
                    (v * 10f64.powf(-23.0 / 20.0) * full) as i32,
                    (v * 10f64.powf(-33.0 / 20.0) * full) as i32,
                ]
            })
            .collect();
        let r = analyse(&sig, 2, 24, 4096);
        // A mono channel's sine reads 3 dB below the same sine on both stereo channels.
        close(r.channels[0].levels.integrated_lufs, -26.0, 0.1, "track 1");
        close(r.channels[1].levels.integrated_lufs, -36.0, 0.1, "track 2");
    }
}
