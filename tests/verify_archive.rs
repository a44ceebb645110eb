//! `capstan verify ARCHIVE` against what was archived (issue 12): the catalogue and the event
//! log know what the archive should hold, so an item deleted whole, a bag that lost its
//! `bagit.txt` and a master whose audio was replaced are problems, never PASS; `report` shows
//! what verify found, also on a read-only copy; and recording stays linear in the problems.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
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
    common::institution(&archive);
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

/// A folder outside the archive that looks like a bag, hashed before and after: nothing
/// Capstan does may touch it.
fn bag_like_decoy(tmp: &Path) -> (PathBuf, Vec<(PathBuf, String, Vec<u8>)>) {
    let d = tmp.join("decoy");
    std::fs::create_dir_all(d.join("sub")).unwrap();
    std::fs::write(d.join("keep.txt"), "not Capstan's").unwrap();
    std::fs::write(d.join("sub/bagit.txt"), "BagIt-Version: 1.0\n").unwrap();
    let before = snapshot(&d);
    (d, before)
}

fn report_json(archive: &Path) -> (i32, Value, String) {
    let o = run(capstan().arg("report").arg("--json").arg(archive));
    let v = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    (o.status.code().unwrap_or(-1), v, text(&o))
}

fn kinds(v: &Value) -> Vec<String> {
    v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn an_item_deleted_whole_is_item_missing_until_it_is_restored() {
    let tmp = tempfile::tempdir().unwrap();
    let (decoy_dir, decoy_before) = bag_like_decoy(tmp.path());
    let (archive, bag) = archive_with_item(tmp.path(), "gone", 1.0);
    let (_, stay) = archive_with_item(tmp.path(), "stay", 0.5);
    let (code, v, all) = verify_json(&[&archive], &[]);
    assert_eq!(code, 0, "{all}");
    let backup = tmp.path().join("backup");
    copy_dir(&bag, &backup);

    std::fs::remove_dir_all(&bag).unwrap();
    let (code, v2, all) = verify_json(&[&archive], &[]);
    assert_eq!(code, 1, "a deleted item must never PASS: {all}");
    assert_eq!(kinds(&v2), ["item_missing"], "{v2:#}");
    let p = &v2["problems"][0];
    assert_eq!(p["path"], bag.display().to_string());
    assert!(
        p["detail"].as_str().unwrap().contains("tapes/gone")
            && p["detail"].as_str().unwrap().contains("gone from disk"),
        "{p}"
    );
    // Verifying its collection finds it too; verifying another bag alone does not.
    let (code, v4, all) = verify_json(&[&archive.join("tapes")], &["--no-record"]);
    assert_eq!(
        (code, kinds(&v4)),
        (1, vec!["item_missing".to_string()]),
        "{all}"
    );
    let (code, _, all) = verify_json(&[&stay], &["--no-record"]);
    assert_eq!(code, 0, "{all}");
    let o = run(capstan().arg("verify").arg(&archive));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains(&format!("item missing: {}: ", bag.display())),
        "{}",
        text(&o)
    );
    // report shows it, from what verify recorded.
    let (code, r, all) = report_json(&archive);
    assert_eq!(code, 1, "{all}");
    assert!(
        r["summary"]["open_problems"].as_u64().unwrap() >= 1,
        "{r:#}"
    );
    let o = run(capstan().arg("report").arg(&archive));
    assert!(text(&o).contains("item missing"), "{}", text(&o));

    // Restored from the backup: the next verify passes and the problem closes.
    copy_dir(&backup, &bag);
    assert_valid_bag(&bag);
    let (code, v3, all) = verify_json(&[&archive], &[]);
    assert_eq!(code, 0, "{all}");
    assert_eq!(v3["summary"], {
        let mut s = v["summary"].clone();
        s["seconds"] = v3["summary"]["seconds"].clone();
        s
    });
    let (code, r, all) = report_json(&archive);
    assert_eq!(
        (code, &r["summary"]["open_problems"]),
        (0, &Value::from(0)),
        "{all}"
    );
    assert_eq!(snapshot(&decoy_dir), decoy_before);
}

#[test]
fn a_bag_that_lost_its_bagit_txt_is_still_verified_and_never_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    let (decoy_dir, decoy_before) = bag_like_decoy(tmp.path());
    let (archive, bag) = archive_with_item(tmp.path(), "decl", 1.0);
    let o = run(capstan().args(["watch", "--once"]).arg(&archive));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    std::fs::remove_file(bag.join("bagit.txt")).unwrap();
    assert_bagit_rejects(&bag);
    // Its manifests are still checked: a damaged master inside it is found too.
    let master = masters(&bag)[0].clone();
    let mut b = std::fs::read(&master).unwrap();
    let at = b.len() * 2 / 3;
    b[at] ^= 0x10;
    std::fs::write(&master, &b).unwrap();

    let (code, v, all) = verify_json(&[&archive], &[]);
    assert_eq!(code, 1, "{all}");
    let k = kinds(&v);
    assert!(k.contains(&"bag_malformed".to_string()), "{v:#}");
    assert!(k.contains(&"audio_damaged".to_string()), "{v:#}");
    assert!(!k.contains(&"item_missing".to_string()), "{v:#}");
    let malformed = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "bag_malformed")
        .unwrap();
    assert_eq!(malformed["path"], bag.display().to_string());
    assert!(
        malformed["detail"]
            .as_str()
            .unwrap()
            .starts_with("no bagit.txt"),
        "{malformed}"
    );
    // The watcher does not take it for deleted: no deletion is recorded.
    let o = run(capstan().args(["watch", "--once", "--json"]).arg(&archive));
    let printed = String::from_utf8_lossy(&o.stdout);
    assert!(!printed.contains("\"deletion\""), "{printed}");
    let log = std::fs::read_to_string(archive.join(".capstan/events.jsonl")).unwrap();
    assert!(!log.contains("\"deletion\""), "{log}");
    // report shows the bag's own problem beside the damaged master.
    let o = run(capstan().arg("report").arg(&archive));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("problem: the bag's last check failed")
            && text(&o).contains("no bagit.txt"),
        "{}",
        text(&o)
    );
    // Mended (the declaration and the master back): verify passes and report closes both.
    b[at] ^= 0x10;
    std::fs::write(&master, &b).unwrap();
    std::fs::write(
        bag.join("bagit.txt"),
        "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n",
    )
    .unwrap();
    assert_valid_bag(&bag);
    let (code, _, all) = verify_json(&[&archive], &[]);
    assert_eq!(code, 0, "{all}");
    let (code, r, all) = report_json(&archive);
    assert_eq!(
        (code, &r["summary"]["open_problems"]),
        (0, &Value::from(0)),
        "{all}"
    );
    assert_eq!(snapshot(&decoy_dir), decoy_before);
}

#[test]
fn a_master_replaced_by_another_valid_flac_is_audio_replaced_not_metadata_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let (decoy_dir, decoy_before) = bag_like_decoy(tmp.path());
    let (archive, bag) = archive_with_item(tmp.path(), "orig", 1.0);
    // Another valid master, made by the same tool from other audio.
    let other = tmp.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let (_, other_bag) = archive_with_item(&other, "orig", 1.5);
    let master = masters(&bag)[0].clone();
    std::fs::copy(&masters(&other_bag)[0], &master).unwrap();
    assert_flac_t(&master);
    assert_bagit_rejects(&bag);

    for flags in [&[][..], &["--deep"]] {
        let (code, v, all) = verify_json(&[&archive], flags);
        assert_eq!(code, 1, "{flags:?}: {all}");
        let k = kinds(&v);
        assert!(
            k.contains(&"audio_replaced".to_string()),
            "{flags:?}: {v:#}"
        );
        assert!(
            !k.contains(&"metadata_changed".to_string()),
            "{flags:?}: {v:#}"
        );
        let p = v["problems"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["kind"] == "audio_replaced")
            .unwrap();
        assert_eq!(p["path"], master.display().to_string());
        assert!(
            p["detail"].as_str().unwrap().contains("recorded at ingest"),
            "{p}"
        );
    }
    let o = run(capstan().arg("verify").arg(&archive));
    assert!(
        text(&o).contains(&format!("audio replaced: {}: ", master.display())),
        "{}",
        text(&o)
    );
    // The watcher says the same.
    let o = run(capstan().args(["watch", "--once", "--json"]).arg(&archive));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("audio replaced"),
        "{}",
        text(&o)
    );
    // A forger who also rewrites the manifests (bagit.py itself, so the bag validates) is
    // still caught, without --deep: the master's head says whose audio it holds.
    let venv_python = tool("bagit.py").with_file_name("python3");
    let o = run(Command::new(&venv_python)
        .args([
            "-c",
            "import bagit, sys; bagit.Bag(sys.argv[1]).save(manifests=True)",
        ])
        .arg(&bag));
    assert!(o.status.success(), "bagit.py save: {}", text(&o));
    assert_valid_bag(&bag);
    let (code, v, all) = verify_json(&[&archive], &["--no-record"]);
    assert_eq!(code, 1, "{all}");
    assert_eq!(kinds(&v), ["audio_replaced"], "{v:#}");
    // A rebuilt catalogue still knows the archived audio (from the QC report).
    let o = run(capstan().args(["reindex", "--archive"]).arg(&archive));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let (code, v, all) = verify_json(&[&archive], &[]);
    assert_eq!(code, 1, "{all}");
    assert!(kinds(&v).contains(&"audio_replaced".to_string()), "{v:#}");
    assert_eq!(snapshot(&decoy_dir), decoy_before);
}

#[test]
fn report_reads_a_read_only_copy_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (archive, bag) = archive_with_item(tmp.path(), "ro", 1.0);
    std::fs::remove_file(bag.join("data/ro.qc.json")).unwrap();
    let o = run(capstan().arg("verify").arg(&archive));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    // A mounted copy of the archive, then made read-only.
    let mnt = tmp.path().join("mnt");
    mount_tmpfs(&mnt, "size=64m");
    let _unmount = Unmount(mnt.clone());
    let copy = mnt.join("archive");
    copy_dir(&archive, &copy);
    let o = run(Command::new("mount").args(["-o", "remount,ro"]).arg(&mnt));
    assert!(o.status.success(), "remount read-only: {}", text(&o));
    assert!(
        std::fs::write(copy.join("probe"), "x").is_err(),
        "still writable"
    );
    let before = snapshot(&copy);

    let (code, r, all) = report_json(&copy);
    assert_eq!(code, 1, "{all}");
    assert_eq!(r["summary"]["items"], 1, "{r:#}");
    assert_eq!(r["summary"]["open_problems"], 1, "{r:#}");
    assert_eq!(
        r["items"][0]["problems"][0]["path"], "data/ro.qc.json",
        "{r:#}"
    );
    let o = run(capstan().arg("report").arg(&copy));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("problem: data/ro.qc.json"),
        "{}",
        text(&o)
    );
    // verify reads it too (its catalogue read-only, to compare with what was archived).
    let (code, v, all) = verify_json(&[&copy], &["--no-record"]);
    assert_eq!(code, 1, "{all}");
    assert_eq!(kinds(&v), ["oxum_mismatch", "missing"], "{v:#}");
    assert_eq!(snapshot(&copy), before, "the read-only copy changed");
}

/// A valid FLAC made by the reference encoder, and where its metadata blocks start.
fn reference_flac(dir: &Path) -> Vec<u8> {
    let wav = dir.join("ref.wav");
    write_wav(
        &wav,
        &WavSpec::pcm(2, 48_000, 16),
        &signal(2, 48_000, 16, 1.0),
    );
    let flac = dir.join("ref.flac");
    let o = run(Command::new(tool("flac"))
        .args(["-s", "-f", "--padding=4096", "-o"])
        .arg(&flac)
        .arg(&wav));
    assert!(o.status.success(), "flac: {}", text(&o));
    assert_flac_t(&flac);
    std::fs::read(&flac).unwrap()
}

/// The offsets of the metadata block headers (after `fLaC`).
fn block_offsets(b: &[u8]) -> Vec<usize> {
    let mut at = 4;
    let mut out = Vec::new();
    loop {
        out.push(at);
        let last = b[at] & 0x80 != 0;
        at += 4 + u32::from_be_bytes([0, b[at + 1], b[at + 2], b[at + 3]]) as usize;
        if last {
            return out;
        }
    }
}

/// STREAMINFO's sample rate, channels and bits per sample rewritten (RFC 9639 §8.2: bytes
/// 10..18 of the block hold rate:20, channels-1:3, bits-1:5, total samples:36).
fn restream(b: &mut [u8], rate: Option<u64>, channels: Option<u64>, bits: Option<u64>) {
    let field = &mut b[8 + 10..8 + 18];
    let v = u64::from_be_bytes(field.try_into().unwrap());
    let r = rate.unwrap_or(v >> 44);
    let c = channels.map_or((v >> 41) & 7, |c| c - 1);
    let p = bits.map_or((v >> 36) & 0x1f, |p| p - 1);
    let v = (r << 44) | (c << 41) | (p << 36) | (v & ((1 << 36) - 1));
    field.copy_from_slice(&v.to_be_bytes());
}

#[test]
fn flac_files_flac_t_rejects_are_audio_damaged_with_what_is_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    let good = reference_flac(tmp.path());
    let blocks = block_offsets(&good);
    assert!(blocks.len() >= 3, "STREAMINFO, a comment, padding at least");
    type Craft = Box<dyn Fn(&mut Vec<u8>)>;
    let past_end = format!(
        "bad metadata: block {} runs past the end of the file",
        blocks.len()
    );
    let cases: Vec<(&str, Craft, &str)> = vec![
        (
            "rate",
            Box::new(|b| restream(b, Some(44_100), None, None)),
            "frame header disagrees with STREAMINFO: 2 channel(s), 16 bits, 48000 Hz where STREAMINFO says 2, 16, 44100",
        ),
        (
            "channels",
            Box::new(|b| restream(b, None, Some(1), None)),
            "where STREAMINFO says 1, 16, 48000",
        ),
        (
            "bits",
            Box::new(|b| restream(b, None, None, Some(24))),
            "where STREAMINFO says 2, 24, 48000",
        ),
        (
            "past-the-end",
            {
                let last = *blocks.last().unwrap();
                Box::new(move |b| b[last + 1..last + 4].copy_from_slice(&[0xff, 0xff, 0xff]))
            },
            &past_end,
        ),
        (
            "streaminfo-33",
            Box::new(|b| b[5..8].copy_from_slice(&[0, 0, 33])),
            "bad metadata: STREAMINFO is 33 bytes, not 34",
        ),
        (
            "streaminfo-35",
            Box::new(|b| b[5..8].copy_from_slice(&[0, 0, 35])),
            "bad metadata: STREAMINFO is 35 bytes, not 34",
        ),
        (
            "second-streaminfo",
            {
                let second = blocks[1];
                Box::new(move |b| b[second] &= 0x80)
            },
            "bad metadata: block 2 is a second STREAMINFO",
        ),
    ];
    for (name, craft, expected) in cases {
        let mut b = good.clone();
        craft(&mut b);
        let file = tmp.path().join(format!("{name}.flac"));
        std::fs::write(&file, &b).unwrap();
        assert_flac_t_fails(&file);
        let (code, v, all) = verify_json(&[&file], &[]);
        assert_eq!(code, 1, "{name}: {all}");
        assert_eq!(kinds(&v), ["audio_damaged"], "{name}: {v:#}");
        let detail = v["problems"][0]["detail"].as_str().unwrap();
        assert!(detail.contains(expected), "{name}: {detail}");
        // The declicker's reader refuses it too (a derivative only from an intact source).
        if ["rate", "channels", "bits"].contains(&name) {
            let out = tmp.path().join(format!("{name}-out.wav"));
            let o = run(capstan().arg("declick").arg(&file).arg(&out));
            assert_eq!(o.status.code(), Some(1), "{name}: {}", text(&o));
            assert!(text(&o).contains(expected), "{name}: {}", text(&o));
            assert!(!out.exists());
        }
    }
    // The untouched file still passes, and so does one behind an ID3v2 tag (which flac -t
    // skips, as libFLAC does): strict, never stricter than the format.
    let file = tmp.path().join("ref.flac");
    let (code, _, all) = verify_json(&[&file], &[]);
    assert_eq!(code, 0, "{all}");
    let mut tagged = b"ID3\x04\x00\x00\x00\x00\x00\x14".to_vec();
    tagged.extend([0u8; 20]);
    tagged.extend(&good);
    let file = tmp.path().join("id3.flac");
    std::fs::write(&file, &tagged).unwrap();
    assert_flac_t(&file);
    let (code, _, all) = verify_json(&[&file], &[]);
    assert_eq!(code, 0, "{all}");
}

#[test]
fn without_its_catalogue_the_event_log_still_says_which_items_should_be_there() {
    let tmp = tempfile::tempdir().unwrap();
    let (archive, bag) = archive_with_item(tmp.path(), "logged", 0.5);
    std::fs::remove_file(archive.join(".capstan/catalogue.sqlite")).unwrap();
    std::fs::remove_dir_all(&bag).unwrap();
    let (code, v, all) = verify_json(&[&archive], &["--no-record"]);
    assert_eq!(code, 1, "{all}");
    assert_eq!(kinds(&v), ["item_missing"], "{v:#}");
    assert!(
        v["problems"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("tapes/logged"),
        "{v:#}"
    );
    assert!(
        !archive.join(".capstan/catalogue.sqlite").exists(),
        "verify --no-record made a catalogue"
    );
}

#[test]
fn shards_of_an_archive_cover_every_bag_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let (archive, bag) = archive_with_item(tmp.path(), "small", 0.5);
    for i in 0..24 {
        copy_dir(&bag, &archive.join(format!("tapes/copy-{i:02}")));
    }
    // Known to the catalogue and gone from disk: told by exactly one shard too.
    std::fs::remove_dir_all(&bag).unwrap();
    let mut all: Vec<String> = (0..24).map(|i| format!("tapes/copy-{i:02}")).collect();
    all.push("tapes/small".into());
    all.sort();
    let before = events_jsonl(&archive).len();
    for n in [2, 3] {
        let mut seen: Vec<String> = Vec::new();
        for k in 1..=n {
            let shard = format!("{k}/{n}");
            let flags = ["--shard", shard.as_str(), "--no-record"];
            let flags = if n == 2 { &flags[..2] } else { &flags[..] };
            let (code, v, out) = verify_json(&[&archive], flags);
            let bags: Vec<String> = v["bags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| {
                    let path = b["path"].as_str().unwrap();
                    let rel = Path::new(path).strip_prefix(&archive);
                    rel.unwrap_or_else(|_| panic!("{path}"))
                        .display()
                        .to_string()
                })
                .collect();
            assert!(!bags.is_empty(), "shard {shard} is empty: {out}");
            assert_eq!(v["shard"], shard.as_str(), "{out}");
            let gone = bags.contains(&"tapes/small".to_string());
            assert_eq!(code, if gone { 1 } else { 0 }, "{out}");
            seen.extend(bags);
        }
        seen.sort();
        assert_eq!(seen, all, "the {n} shards together, each bag once");
    }
    // The two recorded shards left one fixity check per bag, no more.
    let events = events_jsonl(&archive);
    let mut checked: Vec<String> = events[before..]
        .iter()
        .filter(|e| e["event_type"] == "fixity check" && e["file"].is_null())
        .map(|e| e["item"].as_str().unwrap().to_string())
        .collect();
    checked.sort();
    // (Events name the item by its place in the archive.)
    assert_eq!(checked, all);
    for bad in ["0/2", "3/2", "2", "a/b"] {
        let o = run(capstan().args(["verify", "--shard", bad]).arg(&archive));
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", text(&o));
        assert!(text(&o).contains("K/N"), "{bad}: {}", text(&o));
    }
}
