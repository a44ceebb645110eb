//! The defect map on real recordings: the shared corpus (`../shared/corpus`, see its README:
//! solo guitar, reverberant speech, a sampled drum kit, orchestra; each clean and with clicks
//! and crackle added), decoded by `flac -d`. Programme, clicks and crackle are not dropouts and
//! not out of phase; a dropout and a delay planted in the real recording are found.
//!
//! The corpus sits beside the project, not in it (as CI has it); without it these tests fail,
//! saying where they looked: a check that is skipped silently proves nothing.

mod common;

use capstan::dsp::defects::{DefectAnalyser, DefectReport};
use capstan::dsp::levels::AnalysisSettings;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const PIECES: [&str; 4] = [
    "guitar_solo",
    "speech_narration",
    "drumkit",
    "orchestra_loud",
];

fn corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    assert!(
        dir.join("guitar_solo/clean.flac").is_file(),
        "no corpus at {}: these tests need ../shared beside the project",
        dir.display()
    );
    Some(dir)
}

/// The samples of a corpus file (96 kHz, 24-bit, stereo), decoded by `flac -d`.
fn decode(flac: &Path, dir: &Path) -> Vec<i32> {
    let wav = dir.join(format!(
        "{}-{}.wav",
        flac.parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy(),
        flac.file_stem().unwrap().to_string_lossy()
    ));
    let o = run(Command::new(tool("flac"))
        .args(["-s", "-d", "-f", "-o"])
        .arg(&wav)
        .arg(flac));
    assert!(
        o.status.success(),
        "flac -d {}: {}",
        flac.display(),
        text(&o)
    );
    let (channels, bits, samples) = read_wav_samples(&wav);
    assert_eq!((channels, bits), (2, 24), "{}", flac.display());
    samples
}

fn analyse(samples: &[i32]) -> DefectReport {
    let mut a = DefectAnalyser::new(2, 96_000, 24, &AnalysisSettings::default()).unwrap();
    for block in samples.chunks(16_384 * 2) {
        a.process(block);
    }
    a.finish()
}

#[test]
fn real_programme_clicks_and_crackle_are_neither_dropouts_nor_out_of_phase() {
    let Some(corpus) = corpus() else { return };
    let tmp = tempfile::tempdir().unwrap();
    for piece in PIECES {
        for version in ["clean", "degraded"] {
            let samples = decode(
                &corpus.join(piece).join(format!("{version}.flac")),
                tmp.path(),
            );
            let r = analyse(&samples);
            assert!(r.dropouts.is_empty(), "{piece} {version}: {:?}", r.dropouts);
            assert!(
                r.phase_alarms.is_empty(),
                "{piece} {version}: {:?}",
                r.phase_alarms
            );
            let p = &r.phase[0];
            assert!(
                p.correlation.is_some() && p.offset_correlation.is_some(),
                "{p:?}"
            );
        }
    }
}

#[test]
fn a_dropout_and_a_delay_planted_in_a_real_recording_are_found() {
    let Some(corpus) = corpus() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let samples = decode(&corpus.join("guitar_solo/clean.flac"), tmp.path());
    // The left channel twice, the right copy 2 samples late; from 10 s, 50 ms of the left
    // 40 dB down.
    let left: Vec<i32> = samples.iter().step_by(2).copied().collect();
    let mut planted = Vec::with_capacity(samples.len());
    for n in 0..left.len() {
        let l = if (960_000..964_800).contains(&n) {
            left[n] / 100
        } else {
            left[n]
        };
        planted.extend([l, if n >= 2 { left[n - 2] } else { 0 }]);
    }
    let r = analyse(&planted);
    assert_eq!(r.dropouts.len(), 1, "{:?}", r.dropouts);
    let d = &r.dropouts[0];
    assert_eq!(d.channel, 1);
    assert!(d.start.0.abs_diff(960_000) <= 96, "{d:?}");
    assert!(d.length.0.abs_diff(4_800) <= 96, "{d:?}");
    let p = &r.phase[0];
    let offset = p.offset_samples.expect("an offset");
    assert!((offset - 2.0).abs() < 0.05, "{p:?}");
    assert!(p.correlation.unwrap() > 0.5, "{p:?}");
}
