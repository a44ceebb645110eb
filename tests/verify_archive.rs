//! `capstan verify ARCHIVE` against what was archived (issue 12): the catalogue and the event
//! log know what the archive should hold, so an item deleted whole, a bag that lost its
//! `bagit.txt` and a master whose audio was replaced are problems, never PASS; `report` shows
//! what verify found, also on a read-only copy; and recording stays linear in the problems.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// An archive with one item ingested (`tapes/<id>`), its bag returned.
fn archive_with_item(tmp: &Path, id: &str, seconds: f64) -> (PathBuf, PathBuf) {
    let wav = tmp.join(format!("{id}.wav"));
    write_wav(
        &wav,
        &WavSpec::pcm(2, 48_000, 16),
        &signal(2, 48_000, 16, seconds),
    );
    let archive = tmp.join("archive");
    let o = run(&mut ingest_command(
        &archive,
        "dat",
        id,
        "tapes",
        &[&wav],
        &["TITLE=t"],
    ));
    assert!(o.status.success(), "{}", text(&o));
    (archive.clone(), archive.join("tapes").join(id))
}

fn verify_json(paths: &[&Path], flags: &[&str]) -> (i32, Value, String) {
    let o = run(capstan()
        .arg("verify")
        .arg("--json")
        .args(flags)
        .args(paths));
    let v = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("verify --json: {e}: {}", text(&o)));
    (o.status.code().unwrap_or(-1), v, text(&o))
}

fn events_jsonl(archive: &Path) -> Vec<Value> {
    std::fs::read_to_string(archive.join(".capstan/events.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_bag_with_100000_missing_files_is_verified_and_recorded_in_under_30_s() {
    let tmp = tempfile::tempdir().unwrap();
    let (archive, _) = archive_with_item(tmp.path(), "small", 1.0);
    // A bag whose manifest lists 100,000 payload files that are not there.
    let bag = archive.join("big/b1");
    std::fs::create_dir_all(bag.join("data")).unwrap();
    std::fs::write(
        bag.join("bagit.txt"),
        "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n",
    )
    .unwrap();
    std::fs::write(bag.join("bag-info.txt"), "External-Identifier: b1\n").unwrap();
    let mut manifest = String::with_capacity(100_000 * 90);
    for i in 0..100_000u32 {
        manifest.push_str(&format!("{:064x}  data/f{i:06}.wav\n", u64::from(i) * 7919));
    }
    std::fs::write(bag.join("manifest-sha256.txt"), manifest).unwrap();
    let before = events_jsonl(&archive).len();

    let started = Instant::now();
    let o = run(capstan().arg("verify").arg("--json").arg(&archive));
    let took = started.elapsed();
    eprintln!("verify of 100,000 problems, recorded: {took:?}");
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let missing = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == "missing")
        .count();
    assert_eq!(missing, 100_000);
    assert!(
        took < Duration::from_secs(30),
        "100,000 problems took {took:?}: recording is not linear"
    );
    // Every problem is in the log and the catalogue: one fixity check per payload file.
    let new = &events_jsonl(&archive)[before..];
    let failed_files = new
        .iter()
        .filter(|e| e["item"] == "big/b1" && e["file"].is_string() && e["outcome"] == "fail")
        .count();
    assert_eq!(failed_files, 100_000);
    let o = run(capstan()
        .args(["log", "--json", "big/b1", "--archive"])
        .arg(&archive));
    assert!(o.status.success(), "{}", text(&o));
    let logged: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(logged.len(), 100_001, "one per file and one for the bag");
}
