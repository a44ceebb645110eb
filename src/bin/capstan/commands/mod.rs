//! One file per command: each holds its arguments (`Args`) and its `run`, which prints and
//! returns an [`ExitStatus`]. What several commands share (escaping for the terminal, the
//! archive folder's default, the interrupt flag, printing an ingest's outcome, the profile and
//! `--meta` fields) lives here.

pub mod capture;
pub mod catalogue;
pub mod declick;
pub mod demo;
pub mod devices;
pub mod ingest;
pub mod ingest_batch;
pub mod institution;
pub mod log;
pub mod play;
pub mod profiles;
pub mod recover;
pub mod registry;
pub mod reindex;
pub mod replica;
pub mod report;
pub mod verify;
pub mod watch;

use crate::exit::ExitStatus;
use capstan::fixity::{escape_text, text_path};
use capstan::ingest::{IngestError, IngestOutcome};
use capstan::metadata::{parse_meta_arg, Fields};
use capstan::profile::Profile;
use capstan::report::{Defect, TakeReport};
use capstan::units::Timecode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Text for the terminal: control characters and line separators escaped (see
/// [`escape_text`]); every string that may hold a file name goes through this or [`text_path`].
pub(crate) fn esc(s: impl std::fmt::Display) -> String {
    escape_text(&s.to_string())
}

pub(crate) fn interrupt_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = Arc::clone(&flag);
    // Ctrl-C and SIGTERM stop the ingest between blocks; staging is removed on the way out.
    let _ = ctrlc::set_handler(move || f.store(true, Ordering::Relaxed));
    flag
}

pub(crate) fn finish(result: Result<IngestOutcome, IngestError>, json: bool) -> ExitStatus {
    match result {
        Ok(outcome) => {
            for w in &outcome.warnings {
                eprintln!("capstan: warning: {}", esc(w));
            }
            if json {
                let v = serde_json::json!({
                    "outcome": "pass",
                    "bag": outcome.bag,
                    "record_pending": outcome.record_pending,
                    "warnings": outcome.warnings,
                    "report": outcome.report,
                });
                println!("{}", serde_json::to_string_pretty(&v).expect("json"));
            } else {
                println!("ingested {}", text_path(&outcome.bag));
                for take in &outcome.report.takes {
                    print_take(take);
                }
            }
            ExitStatus::from(&outcome)
        }
        Err(e) => {
            if json {
                let v = serde_json::json!({"outcome": "fail", "error": e.to_string()});
                println!("{}", serde_json::to_string_pretty(&v).expect("json"));
            }
            eprintln!("capstan: {}", esc(&e));
            ExitStatus::from(&e)
        }
    }
}

pub(crate) fn fmt_level(v: Option<f64>, unit: &str) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{v:.1} {unit}"))
}

pub(crate) fn print_take(t: &TakeReport) {
    println!(
        "take {}: {} ({}, {} Hz, {}-bit, {} ch, {})",
        t.part,
        esc(&t.source.file),
        t.source.duration,
        t.source.sample_rate,
        t.source.bits_per_sample,
        t.source.channels,
        t.source.sha256.get(..16).unwrap_or_default()
    );
    for m in &t.masters {
        println!(
            "  master {}  sha256 {}  bit-exact",
            esc(&m.file),
            &m.sha256[..16]
        );
    }
    let o = &t.overall;
    println!(
        "  loudness {}  range {}  true peak {}  sample peak {}",
        fmt_level(o.integrated_lufs, "LUFS"),
        fmt_level(o.loudness_range_lu, "LU"),
        fmt_level(o.true_peak_dbtp, "dBTP"),
        fmt_level(o.sample_peak_dbfs, "dBFS")
    );
    for c in &t.channels {
        println!(
            "  ch {} {:10} peak {}  rms {}  dc {:+.5}  {} bits",
            c.channel,
            t.channel_names
                .get(c.channel - 1)
                .map_or("", String::as_str),
            fmt_level(c.levels.sample_peak_dbfs, "dBFS"),
            fmt_level(c.rms_dbfs, "dBFS"),
            c.dc_offset,
            c.effective_bits
        );
    }
    let signed = |v: Option<f64>, digits: usize, unit: &str| {
        v.map_or_else(|| "-".to_string(), |v| format!("{v:+.digits$}{unit}"))
    };
    for p in &t.phase {
        println!(
            "  phase ch {}-{}  correlation {} (lowest {} at {})  offset {} ({})",
            p.channels[0],
            p.channels[1],
            signed(p.correlation, 2, ""),
            signed(p.min_correlation, 2, ""),
            p.min_at_time.map_or("-".to_string(), |t| t.to_string()),
            signed(p.offset_samples, 2, " samples"),
            signed(p.offset_us, 1, " µs")
        );
    }
    for line in defect_lines(&t.defects, t.source.sample_rate) {
        println!("{line}");
    }
}

/// Clip runs on one channel closer than this (10 ms) are one clipped passage on screen.
const CLIP_PASSAGE_GAP_MS: u64 = 10;

/// The defect map as lines for the terminal: a clipped passage (clip runs on one channel, each
/// within [`CLIP_PASSAGE_GAP_MS`] of the last) is one line with its extent and its count of
/// runs, instead of one line per run of two samples; a length under a millisecond is told in
/// samples. The JSON keeps every run.
pub(crate) fn defect_lines(defects: &[Defect], sample_rate: u32) -> Vec<String> {
    struct Line<'a> {
        first: &'a Defect,
        end: u64,
        runs: u64,
        clipped: u64,
    }
    let gap = u64::from(sample_rate) * CLIP_PASSAGE_GAP_MS / 1000;
    let mut lines: Vec<Line> = Vec::new();
    // The open passage of each channel: an index into `lines`.
    let mut open: std::collections::HashMap<Option<usize>, usize> = Default::default();
    for d in defects {
        let (start, len) = (d.start.0, d.length.0);
        if d.kind == "clip" {
            if let Some(&i) = open.get(&d.channel) {
                let l = &mut lines[i];
                if start <= l.end + gap {
                    l.end = l.end.max(start + len);
                    l.runs += 1;
                    l.clipped += len;
                    continue;
                }
            }
            open.insert(d.channel, lines.len());
        }
        lines.push(Line {
            first: d,
            end: start + len,
            runs: 1,
            clipped: len,
        });
    }
    let length = |frames: u64| {
        if frames * 1000 < u64::from(sample_rate) {
            format!("{frames} sample{}", if frames == 1 { "" } else { "s" })
        } else {
            Timecode::from_frames(frames, sample_rate).to_string()
        }
    };
    lines
        .iter()
        .map(|l| {
            let d = l.first;
            let ch = d.channel.map_or("all".to_string(), |c| c.to_string());
            let detail = if l.runs > 1 {
                format!("  {} runs, {} clipped", l.runs, length(l.clipped))
            } else {
                d.detail
                    .as_ref()
                    .map_or(String::new(), |d| format!("  {d}"))
            };
            format!(
                "  defect {:13} ch {:3} at {} for {}{}",
                d.kind,
                ch,
                d.start_time,
                length(l.end - d.start.0),
                detail
            )
        })
        .collect()
}

/// The profile (`--profile`) and the operator's fields (`--meta`), or the exit code saying why
/// not (2: no such profile; 1: a bad field).
pub(crate) fn profile_and_fields(
    profile: &str,
    meta: &[String],
) -> Result<(Profile, Fields), ExitStatus> {
    let profile = Profile::load(profile).map_err(|e| {
        eprintln!("capstan: {}", esc(&e));
        ExitStatus::from(&e)
    })?;
    let mut fields = Fields::default();
    for m in meta {
        let (k, v) = parse_meta_arg(m).map_err(|e| {
            eprintln!("capstan: {}", esc(&e));
            ExitStatus::from(&e)
        })?;
        fields.0.insert(k, v);
    }
    Ok((profile, fields))
}

#[cfg(test)]
mod tests {
    use super::*;
    use capstan::units::{FrameCount, FrameIndex};

    fn defect(kind: &str, channel: Option<usize>, start: u64, len: u64) -> Defect {
        Defect {
            kind: kind.into(),
            channel,
            start: FrameIndex(start),
            start_time: Timecode::from_frames(start, 48_000),
            length: FrameCount(len),
            length_time: Timecode::from_frames(len, 48_000),
            detail: None,
            size_dbfs: None,
        }
    }

    #[test]
    fn a_clipped_passage_is_one_line_with_its_runs_and_extent() {
        // Runs of 2 samples every 2 ms on channel 1, interleaved with a click on channel 2,
        // then a run 50 ms later: two passages on channel 1, and the click between.
        let mut d: Vec<Defect> = (0..7)
            .map(|k| defect("clip", Some(1), 12_000 + k * 96, 2))
            .collect();
        d.insert(3, defect("click", Some(2), 12_200, 1));
        d.push(defect("clip", Some(1), 15_000, 2));
        let lines = defect_lines(&d, 48_000);
        assert_eq!(
            lines,
            [
                "  defect clip          ch 1   at 00:00:00.250 for 00:00:00.012  7 runs, 14 samples clipped",
                "  defect click         ch 2   at 00:00:00.254 for 1 sample",
                "  defect clip          ch 1   at 00:00:00.312 for 2 samples",
            ]
        );
    }

    #[test]
    fn lengths_of_a_millisecond_and_more_stay_timecodes() {
        let lines = defect_lines(&[defect("dropout", None, 0, 48)], 48_000);
        assert_eq!(
            lines,
            ["  defect dropout       ch all at 00:00:00.000 for 00:00:00.001"]
        );
        let lines = defect_lines(&[defect("dropout", None, 0, 47)], 48_000);
        assert_eq!(
            lines,
            ["  defect dropout       ch all at 00:00:00.000 for 47 samples"]
        );
    }
}
