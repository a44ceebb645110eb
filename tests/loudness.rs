//! Loudness in the QC report agrees with ffmpeg's `ebur128` filter (an implementation nobody
//! here wrote) on varied material: integrated loudness and loudness range within 0.1 LU,
//! true peak within 0.3 dB (ffmpeg's true peak uses BS.1770's 12-tap example
//! interpolator, ours a 64-tap one: they differ near the top of the band), sample peak exact.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

struct Ffmpeg {
    integrated: f64,
    lra: f64,
    true_peak: f64,
}

fn ffmpeg_ebur128(file: &Path) -> Ffmpeg {
    let out = run(Command::new(tool("ffmpeg"))
        .args(["-nostdin", "-hide_banner", "-nostats", "-i"])
        .arg(file)
        .args(["-filter_complex", "ebur128=peak=true", "-f", "null", "-"]));
    assert!(out.status.success(), "ffmpeg: {}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    let summary = &err[err.rfind("Summary:").expect("ffmpeg printed no summary")..];
    let value = |label: &str| -> f64 {
        let at = summary
            .find(label)
            .unwrap_or_else(|| panic!("no {label} in {summary}"));
        summary[at + label.len()..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    Ffmpeg {
        integrated: value("I:"),
        lra: value("LRA:"),
        true_peak: value("Peak:"),
    }
}

/// Programme-like material: noise shaped by a slow envelope with level steps, a few tones.
fn material(channels: u16, rate: u32, bits: u16, seconds: f64, seed: u64) -> Vec<i32> {
    let frames = (f64::from(rate) * seconds) as usize;
    let full = f64::from((1i64 << (bits - 1)) as i32 - 1);
    let mut s = seed | 1;
    let mut lp = vec![0.0f64; usize::from(channels)];
    let mut out = Vec::with_capacity(frames * usize::from(channels));
    for i in 0..frames {
        let t = i as f64 / f64::from(rate);
        let step = [-30.0, -18.0, -24.0, -12.0, -36.0, -20.0][(t / 4.0) as usize % 6];
        let env = 10f64.powf((step + 4.0 * (0.7 * t).sin()) / 20.0);
        for (c, lp) in lp.iter_mut().enumerate() {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let white = (s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
            *lp = 0.9 * *lp + 0.1 * white; // a darker, more music-like spectrum
            let tone = 0.3 * (2.0 * std::f64::consts::PI * (330.0 + 110.0 * c as f64) * t).sin();
            let v = env * (3.0 * *lp + tone);
            out.push((v.clamp(-1.0, 1.0) * full).round() as i32);
        }
    }
    out
}

#[test]
fn qc_loudness_agrees_with_ffmpeg_ebur128() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    common::institution(&archive);
    for (i, (channels, rate, bits)) in [
        (2u16, 48_000u32, 24u16),
        (1, 44_100, 16),
        (2, 96_000, 24),
        (2, 44_100, 16),
    ]
    .into_iter()
    .enumerate()
    {
        let id = format!("loud{i}");
        let wav = tmp.path().join(format!("{id}.wav"));
        write_wav(
            &wav,
            &WavSpec::pcm(channels, rate, bits),
            &material(channels, rate, bits, 30.0, 7 + i as u64),
        );
        let profile = profile_for(tmp.path(), channels, rate, bits, "interleaved");
        let out = run(
            ingest_command(&archive, &profile, &id, "default", &[&wav], &["TITLE=t"]).arg("--json"),
        );
        assert!(out.status.success(), "{}", text(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let overall = &v["report"]["takes"][0]["overall"];
        let ours = |k: &str| {
            overall[k]
                .as_f64()
                .unwrap_or_else(|| panic!("{id}: no {k}"))
        };
        let ff = ffmpeg_ebur128(&wav);
        let (i_ours, lra_ours, tp_ours) = (
            ours("integrated_lufs"),
            ours("loudness_range_lu"),
            ours("true_peak_dbtp"),
        );
        eprintln!(
            "{id} {channels}ch {rate} Hz {bits}-bit: I {i_ours:.2}/{:.2}  LRA {lra_ours:.2}/{:.2}  TP {tp_ours:.2}/{:.2}",
            ff.integrated, ff.lra, ff.true_peak
        );
        // ffmpeg prints one decimal: the 0.1 LU tolerance allows for its rounding (±0.05).
        assert!(
            (i_ours - ff.integrated).abs() <= 0.1 + 0.05,
            "{id}: I {i_ours} vs ffmpeg {}",
            ff.integrated
        );
        assert!(
            (lra_ours - ff.lra).abs() <= 0.1 + 0.05,
            "{id}: LRA {lra_ours} vs ffmpeg {}",
            ff.lra
        );
        assert!(
            (tp_ours - ff.true_peak).abs() <= 0.3 + 0.05,
            "{id}: true peak {tp_ours} vs ffmpeg {}",
            ff.true_peak
        );
        assert_valid_bag(&archive.join("default").join(&id));
    }
}
