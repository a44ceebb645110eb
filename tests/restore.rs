//! Restoration end to end: access copies made by ingest (declicked, brought to a loudness),
//! the clicks in the QC report's defect map, and `capstan declick` on WAV and FLAC — checked
//! with `flac`, `metaflac`, ffmpeg's loudness meter and `bagit.py`.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const RATE: u32 = 96_000;
const BITS: u16 = 24;

/// Music-like programme: a few partials with a slow swell and a little noise, around -20 dBFS,
/// stereo with the channels differing.
fn programme(seconds: f64) -> Vec<i32> {
    let frames = (f64::from(RATE) * seconds) as usize;
    let full = f64::from((1 << (BITS - 1)) - 1);
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut out = Vec::with_capacity(frames * 2);
    for i in 0..frames {
        let t = i as f64 / f64::from(RATE);
        let swell = 0.6 + 0.4 * (2.0 * std::f64::consts::PI * 0.7 * t).sin();
        for c in 0..2 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let noise = (seed >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
            let mut s = 0.0;
            for (k, f) in [196.0, 293.7, 392.0, 587.3, 1174.7].iter().enumerate() {
                let f = f * (1.0 + 0.003 * c as f64);
                s += (0.05 / (k + 1) as f64) * (2.0 * std::f64::consts::PI * f * t).sin();
            }
            out.push(((s * swell + 0.002 * noise) * full).round() as i32);
        }
    }
    out
}

/// Clicks planted in `samples` (stereo): (channel 0-based, frame) of each, every 0.25 s from
/// 0.5 s, alternating channels; spikes and short damped bursts around -6 dBFS.
fn plant_clicks(samples: &mut [i32], count: usize) -> Vec<(usize, usize)> {
    let full = f64::from((1 << (BITS - 1)) - 1);
    let mut planted = Vec::new();
    for k in 0..count {
        let frame = RATE as usize / 2 + k * RATE as usize / 4 + 37 * k;
        let channel = k % 2;
        let shape: &[f64] = if k % 3 == 0 {
            &[0.5]
        } else if k % 3 == 1 {
            &[0.45, -0.3]
        } else {
            &[0.4, -0.35, 0.25, -0.15, 0.08]
        };
        for (j, a) in shape.iter().enumerate() {
            let i = (frame + j) * 2 + channel;
            samples[i] = (f64::from(samples[i]) + a * full).clamp(-full, full) as i32;
        }
        planted.push((channel, frame));
    }
    planted
}

fn stereo_profile(dir: &Path, access: &str) -> PathBuf {
    let text = format!(
        "[carrier]\ndescription = \"test disc\"\n[signal]\nsample_rate = {RATE}\nbit_depth = {BITS}\n\
         channels = [\"Left\", \"Right\"]\nlayout = \"interleaved\"\n[metadata]\nrequired = [\"TITLE\"]\n\
         [access_copy]\n{access}\n"
    );
    let path = dir.join("disc.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn decode(flac: &Path, dir: &Path) -> Vec<i32> {
    let wav = dir.join(format!(
        "{}.decoded.wav",
        flac.file_stem().unwrap().to_string_lossy()
    ));
    let o = run(Command::new(tool("flac"))
        .args(["-d", "-s", "-f", "-o"])
        .arg(&wav)
        .arg(flac));
    assert!(o.status.success(), "{}", text(&o));
    read_wav_samples(&wav).2
}

fn comments(flac: &Path) -> String {
    let o = run(Command::new(tool("metaflac"))
        .arg("--export-tags-to=-")
        .arg(flac));
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn qc(bag: &Path, id: &str) -> Value {
    serde_json::from_slice(&std::fs::read(bag.join(format!("data/{id}.qc.json"))).unwrap()).unwrap()
}

/// Frames (of `channel`) where `a` and `b` differ.
fn changed(a: &[i32], b: &[i32], channel: usize) -> Vec<usize> {
    (0..a.len() / 2)
        .filter(|&f| a[f * 2 + channel] != b[f * 2 + channel])
        .collect()
}

#[test]
fn an_access_copy_is_declicked_and_names_the_master_it_came_from() {
    let tmp = tempfile::tempdir().unwrap();
    let clean = programme(4.0);
    let mut degraded = clean.clone();
    let planted = plant_clicks(&mut degraded, 12);
    let wav = tmp.path().join("disc.wav");
    write_wav(&wav, &WavSpec::pcm(2, RATE, BITS), &degraded);
    let profile = stereo_profile(tmp.path(), "enabled = true\ndeclick = true");
    let archive = tmp.path().join("archive");
    common::institution(&archive);
    let o = run(&mut ingest_command(
        &archive,
        &profile,
        "d1",
        "tests",
        &[&wav],
        &["TITLE=clicks"],
    ));
    assert!(o.status.success(), "{}", text(&o));
    let bag = archive.join("tests/d1");
    assert_valid_bag(&bag);
    let master = bag.join("data/d1_pm.flac");
    let access = bag.join("data/d1_ac.flac");
    assert_flac_t(&master);
    assert_flac_t(&access);

    // The master is the flat transfer: the clicks are still in it.
    assert!(
        decode(&master, tmp.path()) == degraded,
        "the master was processed"
    );
    // The access copy differs only at the clicks, and is closer to the clean signal there.
    let repaired = decode(&access, tmp.path());
    assert_eq!(repaired.len(), degraded.len());
    for channel in 0..2 {
        for f in changed(&repaired, &degraded, channel) {
            assert!(
                planted
                    .iter()
                    .any(|&(c, at)| c == channel && f + 8 >= at && f <= at + 16),
                "channel {} frame {f}: changed away from every click",
                channel + 1
            );
        }
    }
    for &(c, at) in &planted {
        let err = |x: &[i32]| -> f64 {
            (at.saturating_sub(4)..at + 12)
                .map(|f| (f64::from(x[f * 2 + c]) - f64::from(clean[f * 2 + c])).powi(2))
                .sum()
        };
        let (before, after) = (err(&degraded), err(&repaired));
        assert!(
            after * 100.0 < before,
            "click at channel {} frame {at}: error {before:.0} -> {after:.0} (less than 20 dB better)",
            c + 1
        );
    }

    // The defect map lists each click where it was planted.
    let report = qc(&bag, "d1");
    let take = &report["takes"][0];
    let clicks: Vec<&Value> = take["defects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["kind"] == "click")
        .collect();
    for &(c, at) in &planted {
        assert!(
            clicks.iter().any(|d| d["channel"] == c + 1
                && (d["start"].as_u64().unwrap() as i64 - at as i64).abs() <= 3
                && d["size_dbfs"].as_f64().unwrap() > -12.0),
            "no click defect at channel {} frame {at}: {clicks:?}",
            c + 1
        );
    }
    assert_eq!(clicks.len(), planted.len(), "{clicks:?}");
    let ac = &take["access_copy"];
    assert_eq!(ac["file"], "data/d1_ac.flac");
    assert_eq!(ac["derived_from"][0], "data/d1_pm.flac");
    assert_eq!(ac["declick"]["clicks"], planted.len());
    assert_eq!(ac["gain_db"], 0.0);

    // Its metadata names the master, whose audio MD5 it quotes.
    let tags = comments(&access);
    assert!(tags.contains("ROLE=access copy"), "{tags}");
    assert!(tags.contains("SOURCE=d1_pm.flac"), "{tags}");
    let md5 = run(Command::new(tool("metaflac"))
        .arg("--show-md5sum")
        .arg(&master));
    let md5 = String::from_utf8_lossy(&md5.stdout).trim().to_string();
    assert!(tags.contains(&format!("SOURCE_MD5={md5}")), "{tags}");
    assert!(comments(&master).contains("ROLE=preservation master"));

    // Its BWF coding history, as `flac -d --keep-foreign-metadata` restores it, is the master's
    // with the processing and the FLAC step added.
    let history = |flac: &Path| -> String {
        let wav = tmp.path().join(format!(
            "{}.bwf.wav",
            flac.file_stem().unwrap().to_string_lossy()
        ));
        let o = run(Command::new(tool("flac"))
            .args(["-d", "-s", "-f", "--keep-foreign-metadata", "-o"])
            .arg(&wav)
            .arg(flac));
        assert!(o.status.success(), "{}", text(&o));
        let bext = wav_chunks(&wav)
            .into_iter()
            .find(|(id, _)| id == b"bext")
            .expect("a bext chunk")
            .1;
        String::from_utf8_lossy(&bext[602..])
            .trim_end_matches('\0')
            .to_string()
    };
    let (hm, ha) = (history(&master), history(&access));
    assert!(ha.starts_with(&hm), "master:\n{hm}\naccess:\n{ha}");
    let added: Vec<&str> = ha[hm.len()..].lines().collect();
    assert_eq!(added.len(), 1, "{ha}");
    assert!(
        added[0].starts_with("A=PCM,F=96000,W=24,M=stereo,T=Capstan")
            && added[0].contains("access copy of d1_pm.flac: declicked"),
        "{ha}"
    );
    assert!(!ha.contains("A=FLAC"), "{ha}");
}

#[test]
fn clicks_are_mapped_without_an_access_copy_when_the_profile_asks() {
    let tmp = tempfile::tempdir().unwrap();
    let mut degraded = programme(3.0);
    let planted = plant_clicks(&mut degraded, 6);
    let wav = tmp.path().join("tape.wav");
    write_wav(&wav, &WavSpec::pcm(2, RATE, BITS), &degraded);
    let profile = stereo_profile(tmp.path(), "enabled = false\n[analysis]\nclicks = true");
    let archive = tmp.path().join("archive");
    common::institution(&archive);
    let o = run(&mut ingest_command(
        &archive,
        &profile,
        "t1",
        "tests",
        &[&wav],
        &["TITLE=splices"],
    ));
    assert!(o.status.success(), "{}", text(&o));
    let bag = archive.join("tests/t1");
    assert!(!bag.join("data/t1_ac.flac").exists());
    let take = &qc(&bag, "t1")["takes"][0];
    assert!(take.get("access_copy").is_none());
    let clicks: Vec<(u64, u64)> = take["defects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["kind"] == "click")
        .map(|d| (d["channel"].as_u64().unwrap(), d["start"].as_u64().unwrap()))
        .collect();
    assert_eq!(clicks.len(), planted.len(), "{clicks:?}");
    for &(c, at) in &planted {
        assert!(
            clicks
                .iter()
                .any(|&(ch, s)| ch == c as u64 + 1 && (s as i64 - at as i64).abs() <= 3),
            "channel {} frame {at}: {clicks:?}",
            c + 1
        );
    }
}

#[test]
fn a_loudness_target_is_met_without_passing_the_true_peak_ceiling() {
    let tmp = tempfile::tempdir().unwrap();
    let wav = tmp.path().join("quiet.wav");
    write_wav(&wav, &WavSpec::pcm(2, RATE, BITS), &programme(6.0));
    let archive = tmp.path().join("archive");
    common::institution(&archive);
    // The shipped lacquer-disc profile: declicked, -23 LUFS.
    let o = run(&mut ingest_command(
        &archive,
        Path::new("lacquer-disc"),
        "loud",
        "tests",
        &[&wav],
        &["TITLE=loudness"],
    ));
    assert!(o.status.success(), "{}", text(&o));
    let bag = archive.join("tests/loud");
    let access = bag.join("data/loud_ac.flac");
    let ac = &qc(&bag, "loud")["takes"][0]["access_copy"];
    assert_eq!(ac["target_loudness_lufs"], -23.0);
    assert_eq!(ac["gain_limited_by_true_peak"], false, "{ac}");
    // ffmpeg's own meter on the copy.
    let o = run(Command::new(tool("ffmpeg"))
        .args(["-nostdin", "-hide_banner", "-i"])
        .arg(&access)
        .args(["-af", "ebur128=peak=true", "-f", "null", "-"]));
    let log = text(&o);
    let summary = &log[log.rfind("Summary:").expect("an ebur128 summary")..];
    let value = |label: &str| -> f64 {
        let at = summary.find(label).unwrap() + label.len();
        summary[at..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let integrated = value("I:");
    assert!(
        (integrated + 23.0).abs() < 0.2,
        "ffmpeg reads {integrated} LUFS"
    );
    assert!(value("Peak:") <= -1.0, "{summary}");
    assert!((ac["integrated_lufs"].as_f64().unwrap() - integrated).abs() < 0.2);
}

#[test]
fn declick_repairs_wav_and_flac_files_and_leaves_clean_ones_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let clean = programme(3.0);
    let mut degraded = clean.clone();
    let planted = plant_clicks(&mut degraded, 8);
    let wav = tmp.path().join("in.wav");
    write_wav(&wav, &WavSpec::pcm(2, RATE, BITS), &degraded);

    // WAV in, WAV out, with a report of every repair.
    let out_wav = tmp.path().join("out.wav");
    let report = tmp.path().join("repairs.json");
    let o = run(capstan()
        .arg("declick")
        .arg(&wav)
        .arg(&out_wav)
        .arg("--report")
        .arg(&report));
    assert!(o.status.success(), "{}", text(&o));
    let r: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(r["clicks"], planted.len(), "{r}");
    for &(c, at) in &planted {
        assert!(
            r["repairs"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["channel"] == c + 1
                    && (d["start"].as_u64().unwrap() as i64 - at as i64).abs() <= 3),
            "channel {} frame {at} not in the report",
            c + 1
        );
    }
    let (_, _, repaired) = read_wav_samples(&out_wav);
    assert_eq!(repaired.len(), degraded.len());
    assert!(repaired != degraded);

    // FLAC in (the master of a flat transfer, made by flac itself), FLAC out: the same repair.
    let flac_in = tmp.path().join("in.flac");
    let o = run(Command::new(tool("flac"))
        .args(["-s", "-f", "-o"])
        .arg(&flac_in)
        .arg(&wav));
    assert!(o.status.success(), "{}", text(&o));
    let flac_out = tmp.path().join("out.flac");
    let o = run(capstan().arg("declick").arg(&flac_in).arg(&flac_out));
    assert!(o.status.success(), "{}", text(&o));
    assert_flac_t(&flac_out);
    assert!(
        decode(&flac_out, tmp.path()) == repaired,
        "FLAC and WAV paths differ"
    );

    // A clean file comes out bit-identical, nothing reported.
    let clean_wav = tmp.path().join("clean.wav");
    write_wav(&clean_wav, &WavSpec::pcm(2, RATE, BITS), &clean);
    let clean_out = tmp.path().join("clean.out.wav");
    let o = run(capstan()
        .arg("declick")
        .arg(&clean_wav)
        .arg(&clean_out)
        .arg("--json"));
    assert!(o.status.success(), "{}", text(&o));
    let j: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["samples_repaired"], 0, "{j}");
    assert!(read_wav_samples(&clean_out).2 == clean);

    // Refusals: an existing output is never replaced; a damaged FLAC is named with its place;
    // neither leaves anything behind.
    let before = std::fs::read(&out_wav).unwrap();
    let o = run(capstan().arg("declick").arg(&wav).arg(&out_wav));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("already exists"), "{}", text(&o));
    assert_eq!(std::fs::read(&out_wav).unwrap(), before);
    let mut bytes = std::fs::read(&flac_in).unwrap();
    let n = bytes.len();
    bytes[n * 2 / 3] ^= 0xA5;
    let damaged = tmp.path().join("damaged.flac");
    std::fs::write(&damaged, &bytes).unwrap();
    let o = run(capstan()
        .arg("declick")
        .arg(&damaged)
        .arg(tmp.path().join("never.flac")));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("damaged.flac") && text(&o).contains("frame"),
        "{}",
        text(&o)
    );
    let left: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("never") || n.contains("partial"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
