//! EBU conformance of the level analyser, on test signals synthesised from the descriptions in
//! the "minimum requirements test signals" tables of EBU Tech 3341 ("Loudness Metering: 'EBU
//! Mode' metering to supplement EBU R 128 loudness normalization", V3 2016 / V4 2023) and EBU
//! Tech 3342 ("Loudness Range: a measure to supplement EBU R 128 loudness normalization", same
//! versions). Case numbers and expected readings are the tables'.
//!
//! Only the cases the specifications describe as synthetic signals are here: Tech 3341 cases 1-6
//! (integrated), 9 (short-term), 12 (momentary) and 15-19 (true peak), Tech 3342 cases 1-4. The
//! other cases are programme excerpts or sets of files from the EBU loudness test set (3341 7,
//! 8, 10, 11, 13, 14, 20-23; 3342 5, 6) that the text does not define closely enough to
//! synthesise; the property that 3341 cases 10 and 13 check (the maximum is found whatever a
//! burst's alignment) has its own test below, marked as not an EBU signal.
//!
//! Signals: 1 kHz sines for the loudness cases, both channels of the stereo pair identical,
//! 48 kHz, 24-bit, the level being the sine's peak in dBFS, phase continuous across level
//! changes.

use capstan::dsp::levels::{AnalysisSettings, LevelAnalyser, LevelReport};
use std::f64::consts::TAU;

const RATE: u32 = 48_000;
const BITS: u32 = 24;

/// Tech 3341, test-signal table (cases 1-14): tolerance of M, S and I readings, ±0.1 LU.
const LOUDNESS_TOL: f64 = 0.1;
/// Tech 3342, test-signal table (cases 1-6): tolerance of the loudness range, ±1 LU.
const LRA_TOL: f64 = 1.0;
/// Tech 3341, test-signal table (cases 15-23): true-peak tolerance +0.2 / −0.4 dB.
const TRUE_PEAK_ABOVE: f64 = 0.2;
const TRUE_PEAK_BELOW: f64 = 0.4;

/// A stereo 1 kHz sine through the given (level dBFS, seconds) segments.
fn stereo_tones(segments: &[(f64, f64)]) -> Vec<i32> {
    let full = f64::from(1u32 << (BITS - 1));
    let mut out = Vec::new();
    let mut n = 0u64;
    for &(dbfs, secs) in segments {
        let amp = 10f64.powf(dbfs / 20.0) * full;
        let frames = (secs * f64::from(RATE)).round() as u64;
        for _ in 0..frames {
            let v = (amp * (TAU * 1000.0 * n as f64 / f64::from(RATE)).sin()).round() as i32;
            out.extend([v, v]);
            n += 1;
        }
    }
    out
}

fn analyse(channels: usize, samples: &[i32]) -> LevelReport {
    let mut a = LevelAnalyser::new(channels, RATE, BITS, &AnalysisSettings::default()).unwrap();
    for block in samples.chunks(4800 * channels) {
        a.process(block);
    }
    a.finish()
}

#[track_caller]
fn assert_within(what: &str, got: Option<f64>, want: f64, below: f64, above: f64) {
    let got = got.unwrap_or_else(|| panic!("{what}: not measured, want {want}"));
    println!("{what}: {got:.3} (want {want} +{above}/-{below})");
    assert!(
        got >= want - below && got <= want + above,
        "{what}: {got:.3}, want {want} +{above}/-{below}"
    );
}

#[track_caller]
fn assert_lu(what: &str, got: Option<f64>, want: f64) {
    assert_within(what, got, want, LOUDNESS_TOL, LOUDNESS_TOL);
}

/// Tech 3341 case 1: stereo, −23 dBFS, 20 s. M, S, I = −23.0 ±0.1.
#[test]
fn tech3341_case01_minus23_dbfs_20s() {
    let r = analyse(2, &stereo_tones(&[(-23.0, 20.0)]));
    assert_lu("case 1 I", r.overall.integrated_lufs, -23.0);
    assert_lu("case 1 max M", r.overall.max_momentary_lufs, -23.0);
    assert_lu("case 1 max S", r.overall.max_short_term_lufs, -23.0);
    // Not from the spec: each channel alone carries half the power, 3.01 dB less.
    for ch in &r.channels {
        assert_lu("case 1 channel I", ch.levels.integrated_lufs, -26.01);
    }
}

/// Tech 3341 case 2: stereo, −33 dBFS, 20 s. M, S, I = −33.0 ±0.1.
#[test]
fn tech3341_case02_minus33_dbfs_20s() {
    let r = analyse(2, &stereo_tones(&[(-33.0, 20.0)]));
    assert_lu("case 2 I", r.overall.integrated_lufs, -33.0);
    assert_lu("case 2 max M", r.overall.max_momentary_lufs, -33.0);
    assert_lu("case 2 max S", r.overall.max_short_term_lufs, -33.0);
}

/// Tech 3341 case 3: stereo, −36 dBFS 10 s, −23 dBFS 60 s, −36 dBFS 10 s. I = −23.0 ±0.1
/// (the relative gate removes the −36 dBFS parts).
#[test]
fn tech3341_case03_relative_gate() {
    let r = analyse(
        2,
        &stereo_tones(&[(-36.0, 10.0), (-23.0, 60.0), (-36.0, 10.0)]),
    );
    assert_lu("case 3 I", r.overall.integrated_lufs, -23.0);
}

/// Tech 3341 case 4: stereo, −72 / −36 / −23 / −36 / −72 dBFS for 10 / 10 / 60 / 10 / 10 s.
/// I = −23.0 ±0.1 (absolute and relative gates).
#[test]
fn tech3341_case04_absolute_and_relative_gate() {
    let r = analyse(
        2,
        &stereo_tones(&[
            (-72.0, 10.0),
            (-36.0, 10.0),
            (-23.0, 60.0),
            (-36.0, 10.0),
            (-72.0, 10.0),
        ]),
    );
    assert_lu("case 4 I", r.overall.integrated_lufs, -23.0);
}

/// Tech 3341 case 5: stereo, −26 dBFS 20 s, −20 dBFS 20.1 s, −26 dBFS 20 s. I = −23.0 ±0.1.
#[test]
fn tech3341_case05_level_steps() {
    let r = analyse(
        2,
        &stereo_tones(&[(-26.0, 20.0), (-20.0, 20.1), (-26.0, 20.0)]),
    );
    assert_lu("case 5 I", r.overall.integrated_lufs, -23.0);
}

/// Tech 3341 case 6: 5.0 (L, R, C, Ls, Rs) at −28, −28, −24, −30, −30 dBFS, 20 s:
/// I = −23.0 ±0.1 *with the BS.1770 surround weights* (Ls, Rs ×1.41).
///
/// Capstan's programme meter treats more than two channels as independent tape tracks, each
/// weighted 1.0 (documented in `levels`), so it must read the same signal 0.37 LU lower:
/// 10·log10(Σ A²/2) with unit weights, −23.39 LUFS. Both are checked: the unit-weight reading
/// against that figure, and each channel's own loudness against its level (−3.01 dB for the
/// mono power of a sine).
#[test]
fn tech3341_case06_five_channels_as_independent_tracks() {
    let full = f64::from(1u32 << (BITS - 1));
    let levels = [-28.0, -28.0, -24.0, -30.0, -30.0];
    let frames = 20 * RATE as usize;
    let mut samples = Vec::with_capacity(frames * 5);
    for n in 0..frames {
        let s = (TAU * 1000.0 * n as f64 / f64::from(RATE)).sin();
        for l in levels {
            samples.push((10f64.powf(l / 20.0) * full * s).round() as i32);
        }
    }
    let r = analyse(5, &samples);
    let unit_weights: f64 = levels.iter().map(|l| 10f64.powf(l / 10.0) / 2.0).sum();
    let bs1770: f64 = levels
        .iter()
        .zip([1.0, 1.0, 1.0, 1.41, 1.41])
        .map(|(l, g)| g * 10f64.powf(l / 10.0) / 2.0)
        .sum();
    // The spec's expectation holds for the BS.1770 weights: the signal is right.
    assert!((10.0 * bs1770.log10() - -23.0).abs() < 0.05);
    assert_lu(
        "case 6 I (unit weights)",
        r.overall.integrated_lufs,
        10.0 * unit_weights.log10(),
    );
    for (ch, l) in r.channels.iter().zip(levels) {
        assert_lu("case 6 channel I", ch.levels.integrated_lufs, l - 3.01);
    }
}

/// Tech 3341 case 9: stereo, 1.34 s at −20 dBFS then 1.66 s at −30 dBFS, five times.
/// S = −23.0 ±0.1, constant after 3 s, so the maximum short-term is −23.0 ±0.1.
#[test]
fn tech3341_case09_short_term() {
    let pattern: Vec<(f64, f64)> = [(-20.0, 1.34), (-30.0, 1.66)].repeat(5);
    let r = analyse(2, &stereo_tones(&pattern));
    assert_lu("case 9 max S", r.overall.max_short_term_lufs, -23.0);
}

/// Tech 3341 case 12: stereo, 0.18 s at −20 dBFS then 0.22 s at −30 dBFS, 25 times.
/// M = −23.0 ±0.1, constant after 1 s, so the maximum momentary is −23.0 ±0.1.
#[test]
fn tech3341_case12_momentary() {
    let pattern: Vec<(f64, f64)> = [(-20.0, 0.18), (-30.0, 0.22)].repeat(25);
    let r = analyse(2, &stereo_tones(&pattern));
    assert_lu("case 12 max M", r.overall.max_momentary_lufs, -23.0);
}

/// Not an EBU signal: the property Tech 3341 cases 10 and 13 test with their sets of files,
/// that the maximum short-term (3 s burst) and momentary (0.4 s burst) loudness of a −23 dBFS
/// tone burst reads −23.0 ±0.1 whatever the burst's offset from the start of the take (here
/// every 7 ms across a 100 ms cycle, so it falls between the analyser's 10 ms sampling points).
#[test]
fn burst_maxima_do_not_depend_on_alignment() {
    for k in 0..15 {
        let offset = 0.007 * f64::from(k);
        let short = analyse(
            2,
            &stereo_tones(&[
                (f64::NEG_INFINITY, 0.5 + offset),
                (-23.0, 3.0),
                (f64::NEG_INFINITY, 1.0),
            ]),
        );
        assert_lu(
            &format!("3 s burst at +{offset:.3} s, max S"),
            short.overall.max_short_term_lufs,
            -23.0,
        );
        let momentary = analyse(
            2,
            &stereo_tones(&[
                (f64::NEG_INFINITY, 0.5 + offset),
                (-23.0, 0.4),
                (f64::NEG_INFINITY, 1.0),
            ]),
        );
        assert_lu(
            &format!("0.4 s burst at +{offset:.3} s, max M"),
            momentary.overall.max_momentary_lufs,
            -23.0,
        );
    }
}

/// A stereo sine at `rate / divisor` Hz starting at `phase_deg`, with peak `dbtp`, for 1 s,
/// faded in and out over 20 ms (a raised cosine) so that the interpolator sees the steady-state
/// tone the spec describes and not the spectral splatter of a step onset.
fn true_peak_signal(divisor: f64, phase_deg: f64, dbtp: f64) -> Vec<i32> {
    let full = f64::from(1u32 << (BITS - 1));
    let amp = 10f64.powf(dbtp / 20.0) * full;
    let frames = RATE as usize;
    let fade = (0.02 * f64::from(RATE)) as usize;
    let mut out = Vec::with_capacity(frames * 2);
    for n in 0..frames {
        let edge = n.min(frames - 1 - n);
        let gain = if edge < fade {
            0.5 - 0.5 * (std::f64::consts::PI * edge as f64 / fade as f64).cos()
        } else {
            1.0
        };
        let x = (TAU * n as f64 / divisor + phase_deg.to_radians()).sin();
        let v = (gain * amp * x).round().clamp(-full, full - 1.0) as i32;
        out.extend([v, v]);
    }
    out
}

#[track_caller]
fn assert_true_peak(case: u32, divisor: f64, phase: f64, level: f64) {
    let r = analyse(2, &true_peak_signal(divisor, phase, level));
    assert_within(
        &format!("case {case} true peak"),
        r.overall.true_peak_dbtp,
        level,
        TRUE_PEAK_BELOW,
        TRUE_PEAK_ABOVE,
    );
    for ch in &r.channels {
        assert_eq!(ch.levels.true_peak_dbtp, r.overall.true_peak_dbtp);
    }
}

/// Tech 3341 case 15: stereo sine at fs/4 (12 kHz), 0° phase, −6.0 dBFS: −6.0 dBTP +0.2/−0.4.
#[test]
fn tech3341_case15_true_peak_fs4_phase0() {
    assert_true_peak(15, 4.0, 0.0, -6.0);
}

/// Tech 3341 case 16: fs/4, 45° phase (samples 3 dB below the peak): −6.0 dBTP +0.2/−0.4.
#[test]
fn tech3341_case16_true_peak_fs4_phase45() {
    let signal = true_peak_signal(4.0, 45.0, -6.0);
    let r = analyse(2, &signal);
    // The samples really sit 3 dB below the waveform's peak.
    assert_within(
        "case 16 sample peak",
        r.overall.sample_peak_dbfs,
        -9.01,
        0.02,
        0.02,
    );
    assert_true_peak(16, 4.0, 45.0, -6.0);
}

/// Tech 3341 case 17: fs/6 (8 kHz), 60° phase: −6.0 dBTP +0.2/−0.4.
#[test]
fn tech3341_case17_true_peak_fs6_phase60() {
    assert_true_peak(17, 6.0, 60.0, -6.0);
}

/// Tech 3341 case 18: fs/8 (6 kHz), 67.5° phase: −6.0 dBTP +0.2/−0.4.
#[test]
fn tech3341_case18_true_peak_fs8_phase67_5() {
    assert_true_peak(18, 8.0, 67.5, -6.0);
}

/// Tech 3341 case 19: fs/4, 45° phase, samples at 0 dBFS: +3.0 dBTP +0.2/−0.4.
#[test]
fn tech3341_case19_true_peak_above_full_scale() {
    assert_true_peak(19, 4.0, 45.0, 3.0);
}

#[track_caller]
fn assert_lra(case: u32, segments: &[(f64, f64)], want: f64) {
    let r = analyse(2, &stereo_tones(segments));
    assert_within(
        &format!("3342 case {case} LRA"),
        r.overall.loudness_range_lu,
        want,
        LRA_TOL,
        LRA_TOL,
    );
}

/// Tech 3342 case 1: stereo, −20 dBFS 20 s then −30 dBFS 20 s. LRA = 10 ±1 LU.
#[test]
fn tech3342_case1_lra_10() {
    assert_lra(1, &[(-20.0, 20.0), (-30.0, 20.0)], 10.0);
}

/// Tech 3342 case 2: stereo, −20 dBFS 20 s then −15 dBFS 20 s. LRA = 5 ±1 LU.
#[test]
fn tech3342_case2_lra_5() {
    assert_lra(2, &[(-20.0, 20.0), (-15.0, 20.0)], 5.0);
}

/// Tech 3342 case 3: stereo, −40 dBFS 20 s then −20 dBFS 20 s. LRA = 20 ±1 LU.
#[test]
fn tech3342_case3_lra_20() {
    assert_lra(3, &[(-40.0, 20.0), (-20.0, 20.0)], 20.0);
}

/// Tech 3342 case 4: stereo, −50 / −35 / −20 / −35 / −50 dBFS, 20 s each. LRA = 15 ±1 LU.
#[test]
fn tech3342_case4_lra_15() {
    assert_lra(
        4,
        &[
            (-50.0, 20.0),
            (-35.0, 20.0),
            (-20.0, 20.0),
            (-35.0, 20.0),
            (-50.0, 20.0),
        ],
        15.0,
    );
}
