//! Replicas on a real S3 server: SeaweedFS (`weed mini`, installed by scripts/setup.sh into the
//! tools' venv), started here on free loopback ports in a temporary folder, two at a time as
//! two replicas, and stopped after. Tampering out of band goes through SeaweedFS's own filer
//! API (not S3), as another tool or an accident would; what the server sent is read from its
//! own metrics.

mod common;

use common::weed::*;
use common::*;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `capstan` with the test server's credentials.
fn cap() -> Command {
    let mut c = capstan();
    c.env("AWS_ACCESS_KEY_ID", KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE");
    c
}

/// An archive of `n` items, ingested from short test WAVs.
fn archive_of(dir: &Path, n: usize) -> PathBuf {
    let archive = dir.join("archive");
    institution(&archive);
    for i in 0..n {
        add_item(&archive, dir, &format!("reel-{i}"), 0.5 + i as f64 * 0.25);
    }
    archive
}

fn add_item(archive: &Path, dir: &Path, id: &str, seconds: f64) -> std::process::Output {
    let o = run(&mut ingest_item(archive, dir, id, seconds));
    assert!(o.status.success(), "{}", text(&o));
    o
}

/// `capstan ingest` of a new test WAV as `tapes/<id>`, with the test server's credentials
/// (an archive with an `auto` replica sends the item once it is committed).
fn ingest_item(archive: &Path, dir: &Path, id: &str, seconds: f64) -> Command {
    let wav = dir.join(format!("{id}.wav"));
    write_wav(
        &wav,
        &WavSpec::pcm(2, 48_000, 24),
        &signal(2, 48_000, 24, seconds),
    );
    let profile = profile_for(dir, 2, 48_000, 24, "interleaved");
    let mut c = ingest_command(
        archive,
        &profile,
        id,
        "tapes",
        &[&wav],
        &["TITLE=Replica test"],
    );
    c.env("AWS_ACCESS_KEY_ID", KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE");
    c
}

fn add_replica(archive: &Path, name: &str, weed: &Weed, prefix: &str) {
    let o = run(cap()
        .args(["replica", "add", name])
        .arg(format!("s3://{BUCKET}/{prefix}"))
        .args(["--endpoint", &weed.s3(), "--path-style", "--archive"])
        .arg(archive));
    assert!(o.status.success(), "{}", text(&o));
}

fn json_of(o: &std::process::Output) -> serde_json::Value {
    let out = String::from_utf8_lossy(&o.stdout);
    serde_json::from_str(out.lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}

/// Each file's finding, by its path below the prefix.
fn findings(v: &serde_json::Value) -> Vec<(String, String)> {
    v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["finding"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn problems(v: &serde_json::Value) -> Vec<(String, String)> {
    findings(v)
        .into_iter()
        .filter(|(_, f)| f != "present" && f != "replicated")
        .collect()
}

#[test]
fn an_archive_replicated_to_two_stores_is_audited_without_downloading_its_audio() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = archive_of(tmp.path(), 2);
    let (a, b) = (
        Weed::start(&tmp.path().join("a")),
        Weed::start(&tmp.path().join("b")),
    );
    add_replica(&archive, "near", &a, "station-1");
    add_replica(&archive, "far", &b, "station-1");
    let o = run(cap()
        .args(["replicate", "--json", "--archive"])
        .arg(&archive));
    assert!(o.status.success(), "{}", text(&o));
    let listed = run(cap().args(["replica", "list", "--archive"]).arg(&archive));
    let l = text(&listed);
    assert!(
        l.contains("near\ts3://copies/station-1") && l.contains("far\t"),
        "{l}"
    );
    assert!(!l.contains("last replication: never"), "{l}");

    // Each replica is a tree of bags any tool reads: a bag's files, tag manifest last.
    let report = json_of(&o);
    let sent = findings(&report);
    assert!(sent.iter().all(|(_, f)| f == "replicated"), "{sent:?}");
    let bag0: Vec<&str> = sent
        .iter()
        .map(|(p, _)| p.as_str())
        .filter(|p| p.starts_with("tapes/reel-0/"))
        .collect();
    assert!(
        bag0.contains(&"tapes/reel-0/data/reel-0_pm.flac"),
        "{bag0:?}"
    );
    assert_eq!(bag0.last(), Some(&"tapes/reel-0/tagmanifest-sha256.txt"));
    let first_tag = bag0.iter().position(|p| !p.contains("/data/")).unwrap();
    assert!(
        bag0[first_tag..].iter().all(|p| !p.contains("/data/")),
        "payload first: {bag0:?}"
    );
    // Every replicated file is a PREMIS replication event concerning its replica.
    let events = std::fs::read_to_string(archive.join(".capstan/events.jsonl")).unwrap();
    let replications = events
        .lines()
        .filter(|l| l.contains("\"replication\"") && l.contains("\"copy\":\"replica near\""))
        .count();
    // (The report's last line is the far replica's; the near one received the same files.)
    assert_eq!(replications, sent.len(), "{events}");

    // The audit: zero bytes of any object sent by the server, only listings received.
    let before = a.sent_bytes();
    let o = run(cap()
        .args(["verify", "--replica", "near", "--json", "--archive"])
        .arg(&archive));
    assert!(o.status.success(), "{}", text(&o));
    let audit = json_of(&o);
    assert!(problems(&audit).is_empty(), "{audit}");
    assert_eq!(
        a.sent_bytes() - before,
        0.0,
        "the audit downloaded object bytes"
    );
    let master = std::fs::metadata(archive.join("tapes/reel-1/data/reel-1_pm.flac"))
        .unwrap()
        .len();
    let received = audit["bytes_received"].as_u64().unwrap();
    assert!(
        received < master / 10,
        "{received} bytes received (listings only)"
    );
    assert!(audit["requests"].as_u64().unwrap() >= sent.len() as u64 / 2);

    // Out of band, on the near copy only: a master deleted, a tag file overwritten, an extra.
    let key = |rel: &str| format!("station-1/{rel}");
    let gone = "tapes/reel-0/data/reel-0_pm.flac";
    let changed = "tapes/reel-1/bag-info.txt";
    let extra = "tapes/reel-1/data/stray.wav";
    assert_eq!(
        ureq::delete(&a.object(&key(gone))).call().unwrap().status(),
        204
    );
    ureq::put(&a.object(&key(changed)))
        .send("tampered\n")
        .unwrap();
    ureq::put(&a.object(&key(extra))).send("stray").unwrap();
    let o = run(cap()
        .args(["verify", "--replica", "near", "--json", "--archive"])
        .arg(&archive));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let mut found = problems(&json_of(&o));
    found.sort();
    let mut want = vec![
        (gone.to_string(), "missing".to_string()),
        (changed.to_string(), "unproven".to_string()),
        (extra.to_string(), "unexpected".to_string()),
    ];
    want.sort();
    assert_eq!(found, want);
    // The far copy is untouched and still proved.
    let o = run(cap()
        .args(["verify", "--replica", "far", "--archive"])
        .arg(&archive));
    assert!(o.status.success(), "{}", text(&o));
    // And proved on its own, by its bags' manifests: they are all it downloads (which also
    // shows the server's byte counter counts what it sends).
    let before = b.sent_bytes();
    let o = run(cap()
        .args([
            "verify",
            "s3://copies/station-1",
            "--path-style",
            "--json",
            "--endpoint",
        ])
        .arg(b.s3()));
    assert!(o.status.success(), "{}", text(&o));
    let standalone = json_of(&o);
    assert!(problems(&standalone).is_empty(), "{standalone}");
    assert_eq!(findings(&standalone).len(), sent.len(), "{standalone}");
    // One listing (kept for the audit), the two manifests of each of the two bags, a HEAD
    // per object.
    assert_eq!(
        standalone["requests"].as_u64(),
        Some(1 + 2 * 2 + sent.len() as u64),
        "{standalone}"
    );
    let manifests: u64 = ["reel-0", "reel-1"]
        .iter()
        .flat_map(|id| ["manifest-sha256.txt", "tagmanifest-sha256.txt"].map(|m| (id, m)))
        .map(|(id, m)| {
            std::fs::metadata(archive.join("tapes").join(id).join(m))
                .unwrap()
                .len()
        })
        .sum();
    assert_eq!(
        b.sent_bytes() - before,
        manifests as f64,
        "only the manifests are downloaded"
    );
    // Audits are recorded per replica, and leave the archive's own files' checks alone.
    let log = std::fs::read_to_string(archive.join(".capstan/events.jsonl")).unwrap();
    assert!(log.lines().any(|l| l.contains("\"fixity check\"")
        && l.contains("\"outcome\":\"fail\"")
        && l.contains("reel-0_pm.flac")
        && l.contains("replica near: missing")));
    let report = run(capstan()
        .args(["report", "--json", "--archive"])
        .arg(&archive));
    assert!(report.status.success(), "{}", text(&report));
    assert!(
        !text(&report).contains("\"fail\""),
        "a replica's failure is not the archive's: {}",
        text(&report)
    );

    // Replicating again restores what was deleted, and overwrites nothing.
    let o = run(cap()
        .args(["replicate", "--replica", "near", "--json", "--archive"])
        .arg(&archive));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let again = json_of(&o);
    let f = findings(&again);
    assert!(
        f.contains(&(gone.to_string(), "replicated".to_string())),
        "{f:?}"
    );
    assert!(
        f.contains(&(changed.to_string(), "unproven".to_string())),
        "{f:?}"
    );
    assert_eq!(
        f.iter().filter(|(_, x)| x == "replicated").count(),
        1,
        "only the missing file is sent: {f:?}"
    );
    let kept = ureq::get(&a.object(&key(changed)))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert_eq!(
        kept, "tampered\n",
        "an object that differs is never overwritten"
    );
}

#[test]
fn another_archive_writing_the_same_place_is_refused_not_overwritten() {
    let tmp = tempfile::tempdir().unwrap();
    let one = archive_of(&tmp.path().join("one"), 1);
    let two = archive_of(&tmp.path().join("two"), 0);
    add_item(&two, &tmp.path().join("two"), "reel-0", 1.5);
    let weed = Weed::start(&tmp.path().join("s3"));
    add_replica(&one, "shared", &weed, "same");
    add_replica(&two, "shared", &weed, "same");
    let o = run(cap().args(["replicate", "--archive"]).arg(&one));
    assert!(o.status.success(), "{}", text(&o));
    let o = run(cap().args(["replicate", "--json", "--archive"]).arg(&two));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v = json_of(&o);
    let f = findings(&v);
    assert!(
        f.contains(&(
            "tapes/reel-0/data/reel-0_pm.flac".into(),
            "different".into()
        )),
        "{f:?}"
    );
    // The first archive's copy is still its own, proved.
    let o = run(cap()
        .args(["verify", "--replica", "shared", "--archive"])
        .arg(&one));
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn a_corrupted_upload_is_refused_by_the_server_and_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = archive_of(tmp.path(), 1);
    let weed = Weed::start(&tmp.path().join("s3"));
    add_replica(&archive, "offsite", &weed, "p");
    // One byte of the master changed on its way out (the manifest's SHA-256 still sent).
    let o = run(cap()
        .env("CAPSTAN_TEST_CORRUPT_UPLOAD", "reel-0_pm.flac")
        .args(["replicate", "--json", "--archive"])
        .arg(&archive));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("BadDigest") || t.contains("Mismatch"), "{t}");
    assert!(
        ureq::get(&weed.object("p/tapes/reel-0/data/reel-0_pm.flac"))
            .call()
            .is_err(),
        "nothing stored for the refused upload"
    );
    // The bag is incomplete, not complete with a bad master: its audit says so.
    let o = run(cap()
        .args(["verify", "--replica", "offsite", "--archive"])
        .arg(&archive));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("reel-0_pm.flac\tmissing"), "{}", text(&o));
    let o = run(cap().args(["replicate", "--archive"]).arg(&archive));
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn a_store_that_is_down_or_refuses_us_is_unreachable_never_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = archive_of(tmp.path(), 1);
    let mut weed = Weed::start(&tmp.path().join("s3"));
    // Wrong credentials: refused before anything is added.
    let o = run(cap()
        .env("AWS_SECRET_ACCESS_KEY", "wrong")
        .args([
            "replica",
            "add",
            "offsite",
            "s3://copies/p",
            "--path-style",
            "--endpoint",
        ])
        .arg(weed.s3())
        .arg("--archive")
        .arg(&archive));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("access denied"), "{}", text(&o));
    add_replica(&archive, "offsite", &weed, "p");
    let o = run(cap()
        .env("AWS_SECRET_ACCESS_KEY", "wrong")
        .args(["verify", "--replica", "offsite", "--archive"])
        .arg(&archive));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(!text(&o).contains("missing"), "{}", text(&o));

    // Half an archive replicated, then a second item, then the server stops.
    let o = run(cap().args(["replicate", "--archive"]).arg(&archive));
    assert!(o.status.success(), "{}", text(&o));
    add_item(&archive, tmp.path(), "reel-9", 0.5);
    weed.stop();
    let started = Instant::now();
    let o = run(cap()
        .args(["verify", "--replica", "offsite", "--archive"])
        .arg(&archive));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("unreachable"), "{}", text(&o));
    assert!(!text(&o).contains("missing"), "{}", text(&o));
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    let o = run(cap().args(["replicate", "--archive"]).arg(&archive));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    // Back up: the replication resumes, sending only what it lacks.
    weed.run();
    let o = run(cap()
        .args(["replicate", "--json", "--archive"])
        .arg(&archive));
    assert!(o.status.success(), "{}", text(&o));
    let f = findings(&json_of(&o));
    let sent: Vec<&str> = f
        .iter()
        .filter(|(_, x)| x == "replicated")
        .map(|(p, _)| p.as_str())
        .collect();
    assert!(
        !sent.is_empty() && sent.iter().all(|p| p.starts_with("tapes/reel-9/")),
        "{f:?}"
    );
    let o = run(cap()
        .args(["verify", "--replica", "offsite", "--archive"])
        .arg(&archive));
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn a_damaged_master_is_repaired_and_a_lost_bag_restored_from_a_good_replica() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = archive_of(tmp.path(), 1);
    let (a, b) = (
        Weed::start(&tmp.path().join("a")),
        Weed::start(&tmp.path().join("b")),
    );
    add_replica(&archive, "near", &a, "p");
    add_replica(&archive, "far", &b, "p");
    let o = run(cap().args(["replicate", "--archive"]).arg(&archive));
    assert!(o.status.success(), "{}", text(&o));
    let o = run(cap().args(["audit", "--archive"]).arg(&archive));
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("0 disagreement(s)"), "{}", text(&o));

    // Bit rot in the local master; the near replica's copy lost too.
    let master = archive.join("tapes/reel-0/data/reel-0_pm.flac");
    let good = std::fs::read(&master).unwrap();
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x10;
    std::fs::write(&master, &bad).unwrap();
    ureq::delete(&a.object("p/tapes/reel-0/data/reel-0_pm.flac"))
        .call()
        .unwrap();
    let o = run(cap().args(["audit", "--json", "--archive"]).arg(&archive));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v = json_of(&o);
    let d = &v["disagreements"];
    assert_eq!(d.as_array().unwrap().len(), 1, "{v}");
    assert_eq!(d[0]["path"], "tapes/reel-0/data/reel-0_pm.flac");
    assert_eq!(d[0]["agree"], serde_json::json!(["far"]), "{v}");
    let disagree: Vec<&str> = d[0]["disagree"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x[0].as_str().unwrap())
        .collect();
    assert_eq!(disagree, ["local", "near"], "{v}");

    // The near replica has no good copy: nothing is touched.
    let o = run(cap()
        .args(["repair", "tapes/reel-0", "--from", "near", "--archive"])
        .arg(&archive));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(std::fs::read(&master).unwrap(), bad);
    // The far one has: the damaged master is quarantined, the good one put in place.
    let o = run(cap()
        .args(["repair", "tapes/reel-0", "--from", "far", "--archive"])
        .arg(&archive));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        std::fs::read(&master).unwrap(),
        good,
        "the master is back, bit for bit"
    );
    let quarantine = archive.join(".capstan/quarantine");
    let kept: Vec<PathBuf> = walk(&quarantine);
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(
        kept[0].ends_with("tapes/reel-0/data/reel-0_pm.flac"),
        "{kept:?}"
    );
    assert_eq!(
        std::fs::read(&kept[0]).unwrap(),
        bad,
        "the damaged copy is kept"
    );
    assert!(
        !walk(&archive.join("tapes"))
            .iter()
            .any(|p| p.to_string_lossy().contains(".repair.")),
        "no temporary file is left"
    );
    let o = run(capstan().args(["verify", "--deep"]).arg(&archive));
    assert!(o.status.success(), "{}", text(&o));
    assert_valid_bag(&archive.join("tapes/reel-0"));
    let log = std::fs::read_to_string(archive.join(".capstan/events.jsonl")).unwrap();
    for kind in ["\"quarantine\"", "\"recovery\""] {
        assert!(
            log.lines()
                .any(|l| l.contains(kind) && l.contains("reel-0_pm.flac")),
            "{kind}: {log}"
        );
    }

    // The whole bag lost: restored from the far replica, byte for byte, and registered.
    let bag = archive.join("tapes/reel-0");
    let before = snapshot(&bag);
    std::fs::remove_dir_all(&bag).unwrap();
    let o = run(cap()
        .args(["restore", "tapes/reel-0", "--from", "far", "--archive"])
        .arg(&archive));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(snapshot(&bag), before, "the bag comes back as it was");
    assert_valid_bag(&bag);
    let o = run(capstan().args(["verify", "--deep"]).arg(&archive));
    assert!(o.status.success(), "{}", text(&o));
    let o = run(capstan()
        .args(["log", "tapes/reel-0", "--archive"])
        .arg(&archive));
    assert!(
        text(&o).contains("bag restored from replica far"),
        "{}",
        text(&o)
    );
    // It is there now: a second restore is refused, nothing replaced.
    let o = run(cap()
        .args(["restore", "tapes/reel-0", "--from", "far", "--archive"])
        .arg(&archive));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(snapshot(&bag), before);
    // A bag the replica does not hold whole (the near one lost its master) is refused, and
    // leaves nothing behind.
    std::fs::remove_dir_all(archive.join("tapes")).unwrap();
    let o = run(cap()
        .args(["restore", "tapes/reel-0", "--from", "near", "--archive"])
        .arg(&archive));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("lacks data/reel-0_pm.flac"),
        "{}",
        text(&o)
    );
    assert!(!bag.exists());
    assert!(
        walk(&archive.join(".capstan/staging")).is_empty(),
        "staging is left empty"
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_server_stopped_mid_replication_is_resumed_without_duplicates() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = archive_of(tmp.path(), 3);
    let mut weed = Weed::start(&tmp.path().join("s3"));
    add_replica(&archive, "offsite", &weed, "p");
    // One file at a time; the run pauses after its fifth file, and the server goes then.
    let mark = tmp.path().join("paused");
    let child = cap()
        .env("CAPSTAN_TEST_PAUSE_AFTER_PUTS", "5")
        .env("CAPSTAN_TEST_PAUSE_MARK", &mark)
        .args(["replicate", "--jobs", "1", "--json", "--archive"])
        .arg(&archive)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_mark(&mark, "the replication never paused");
    weed.stop();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let first = json_of(&o);
    let sent_first: Vec<String> = findings(&first)
        .into_iter()
        .filter(|(_, f)| f == "replicated")
        .map(|(p, _)| p)
        .collect();
    assert_eq!(sent_first.len(), 5, "{first}");
    assert!(first["unreachable"].is_string(), "{first}");
    assert!(!text(&o).contains("missing"), "{}", text(&o));

    weed.run();
    let o = run(cap()
        .args(["replicate", "--json", "--archive"])
        .arg(&archive));
    assert!(o.status.success(), "{}", text(&o));
    let second = findings(&json_of(&o));
    let total = second.len();
    for (path, finding) in &second {
        let want = if sent_first.contains(path) {
            "present"
        } else {
            "replicated"
        };
        assert_eq!(finding, want, "{path}: {second:?}");
    }
    // Each file was sent once: one replication event each, in all.
    let log = std::fs::read_to_string(archive.join(".capstan/events.jsonl")).unwrap();
    let events: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("\"replication\""))
        .collect();
    assert_eq!(events.len(), total, "{log}");
    let o = run(cap()
        .args(["verify", "--replica", "offsite", "--archive"])
        .arg(&archive));
    assert!(o.status.success(), "{}", text(&o));
}

/// CRC-64/NVME, bit by bit (reflected polynomial 0x9a6c9329ac4bc9b5, all ones in and out): the
/// test's own, written apart from the library's table-driven one.
fn crc64nvme(bytes: &[u8]) -> u64 {
    let mut crc = u64::MAX;
    for &b in bytes {
        crc ^= u64::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x9a6c_9329_ac4b_c9b5
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn a_master_over_the_part_size_goes_in_parts_with_a_full_object_crc64nvme() {
    assert_eq!(
        crc64nvme(b"123456789"),
        0xae8b_1486_0a79_9888,
        "the check value"
    );
    let tmp = tempfile::tempdir().unwrap();
    let archive = archive_of(tmp.path(), 0);
    add_item(&archive, tmp.path(), "long", 45.0);
    let master = archive.join("tapes/long/data/long_pm.flac");
    let bytes = std::fs::read(&master).unwrap();
    let part: u64 = 5 << 20;
    assert!(
        bytes.len() as u64 > 2 * part,
        "{} bytes: three parts wanted",
        bytes.len()
    );
    let weed = Weed::start(&tmp.path().join("s3"));
    add_replica(&archive, "offsite", &weed, "p");
    let o = run(cap()
        .env("CAPSTAN_MULTIPART_PART_BYTES", part.to_string())
        .args(["replicate", "--json", "--archive"])
        .arg(&archive));
    assert!(o.status.success(), "{}", text(&o));
    assert!(findings(&json_of(&o))
        .iter()
        .all(|(_, f)| f == "replicated"));
    // The object's bytes, read back through the filer (not S3), are the master's.
    let key = "p/tapes/long/data/long_pm.flac";
    let mut held = Vec::new();
    ureq::get(&weed.object(key))
        .call()
        .unwrap()
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .reader()
        .read_to_end(&mut held)
        .unwrap();
    assert!(held == bytes, "the replica holds the master's bytes");
    // The audit proves it by the server's full-object CRC64NVME, which is the CRC of those bytes.
    let o = run(cap()
        .args(["verify", "--replica", "offsite", "--json", "--archive"])
        .arg(&archive));
    assert!(o.status.success(), "{}", text(&o));
    let v = json_of(&o);
    let file = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "tapes/long/data/long_pm.flac")
        .unwrap()
        .clone();
    assert_eq!(file["finding"], "present", "{v}");
    let stored = file["stored"].as_str().unwrap();
    assert!(
        stored.starts_with(&format!("crc64nvme:{:016x} ", crc64nvme(&bytes))),
        "{stored}"
    );
    // Small files still go whole, with their SHA-256.
    assert!(v["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["path"] != "tapes/long/data/long_pm.flac")
        .all(|f| f["stored"].as_str().unwrap_or("").starts_with("sha256:")));
    // And a damaged read is never completed: the upload is abandoned, nothing stored.
    let archive2 = archive_of(&tmp.path().join("two"), 0);
    add_item(&archive2, &tmp.path().join("two"), "long", 45.0);
    add_replica(&archive2, "offsite", &weed, "q");
    let o = run(cap()
        .env("CAPSTAN_MULTIPART_PART_BYTES", part.to_string())
        .env("CAPSTAN_TEST_CORRUPT_UPLOAD", "long_pm.flac")
        .args(["replicate", "--json", "--archive"])
        .arg(&archive2));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(ureq::get(&weed.object("q/tapes/long/data/long_pm.flac"))
        .call()
        .is_err());
}

#[test]
fn a_deep_audit_reads_each_object_once_and_locates_damage_its_stored_checksum_hides() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = archive_with_long_master(tmp.path());
    let weed = Weed::start(&tmp.path().join("a"));
    add_replica(&archive, "near", &weed, "deep");
    let o = run(cap().args(["replicate", "--archive"]).arg(&archive));
    assert!(o.status.success(), "{}", text(&o));
    let objects: Vec<PathBuf> = walk(&archive.join("tapes"));
    let total: u64 = objects
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    let master = archive.join("tapes/long/data/long_pm.flac");
    let master_len = std::fs::metadata(&master).unwrap().len();
    assert!(master_len > 8 * 65_536, "{master_len}: several ranges");

    // Intact: every object read back once, in ranges of 64 KiB, and recorded as a deep check.
    let before = weed.sent_bytes();
    let deep = |archive: &Path| {
        run(cap()
            .env("CAPSTAN_DEEP_RANGE_BYTES", "65536")
            .args([
                "verify",
                "--replica",
                "near",
                "--deep",
                "--json",
                "--archive",
            ])
            .arg(archive))
    };
    let o = deep(&archive);
    assert!(o.status.success(), "{}", text(&o));
    let v = json_of(&o);
    assert!(problems(&v).is_empty(), "{v}");
    assert_eq!(findings(&v).len(), objects.len(), "{v}");
    assert_eq!(
        weed.sent_bytes() - before,
        total as f64,
        "each object's bytes are sent exactly once"
    );
    let log = std::fs::read_to_string(archive.join(".capstan/events.jsonl")).unwrap();
    assert!(
        log.lines().any(|l| l.contains("\"fixity check\"")
            && l.contains("\"outcome\":\"pass\"")
            && l.contains("replica near (s3://copies/deep), deep")),
        "{log}"
    );

    // The master put back out of band with one byte changed 60 % of the way in: no stored
    // checksum to show it, so a HEAD can only call it unproven; reading it finds the frame.
    let mut bytes = std::fs::read(&master).unwrap();
    let at = bytes.len() * 6 / 10;
    bytes[at] ^= 0x5a;
    ureq::put(&weed.object("deep/tapes/long/data/long_pm.flac"))
        .send(&bytes[..])
        .unwrap();
    let o = deep(&archive);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v = json_of(&o);
    let wrong: Vec<&serde_json::Value> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["finding"] != "present")
        .collect();
    assert_eq!(wrong.len(), 1, "{v}");
    assert_eq!(wrong[0]["path"], "tapes/long/data/long_pm.flac");
    assert_eq!(wrong[0]["finding"], "different");
    let detail = wrong[0]["detail"].as_str().unwrap();
    let sample: u64 = detail
        .split("(sample ")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no sample located: {detail}"));
    // 12 s at 48 kHz; the damage is where the changed byte is, give or take a frame or two.
    let expected = 12.0 * 48_000.0 * 0.6;
    assert!(
        (sample as f64 - expected).abs() < 48_000.0,
        "damage at sample {sample}, the byte changed near {expected}: {detail}"
    );
    assert!(detail.contains("SHA-256"), "{detail}");
    // Without --deep the same object is only unproven: the HEAD cannot say where.
    let o = run(cap()
        .args(["verify", "--replica", "near", "--json", "--archive"])
        .arg(&archive));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(
        problems(&json_of(&o)),
        vec![(
            "tapes/long/data/long_pm.flac".to_string(),
            "unproven".to_string()
        )]
    );

    // And a store that goes away is unreachable, never damage or missing.
    drop(weed);
    let o = deep(&archive);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("unreachable"), "{}", text(&o));
}

/// An archive of one 12-second item (a master of several 64 KiB ranges) and a short one.
fn archive_with_long_master(dir: &Path) -> PathBuf {
    let archive = dir.join("archive");
    institution(&archive);
    add_item(&archive, dir, "long", 12.0);
    add_item(&archive, dir, "short", 0.5);
    archive
}

/// The items waiting in the archive's replication queue.
fn queued(archive: &Path) -> Vec<String> {
    let mut q: Vec<String> = std::fs::read_dir(archive.join(".capstan/replication-queue"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    q.sort();
    q
}

#[test]
fn an_auto_replica_takes_each_new_item_and_one_that_was_away_catches_up() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    institution(&archive);
    let mut weed = Weed::start(&tmp.path().join("a"));
    let o = run(cap()
        .args(["replica", "add", "near", "s3://copies/auto", "--auto"])
        .args(["--endpoint", &weed.s3(), "--path-style", "--archive"])
        .arg(&archive));
    assert!(o.status.success(), "{}", text(&o));
    let settings = std::fs::read_to_string(archive.join(".capstan/archive.toml")).unwrap();
    assert!(settings.contains("auto = true"), "{settings}");

    // Ingested with the store up: sent by the ingest itself, off the queue.
    let o = add_item(&archive, tmp.path(), "reel-0", 0.5);
    assert!(text(&o).contains("replica near:"), "{}", text(&o));
    assert!(queued(&archive).is_empty(), "{:?}", queued(&archive));
    let audit = |archive: &Path| {
        run(cap()
            .args(["verify", "--replica", "near", "--json", "--archive"])
            .arg(archive))
    };
    let o = audit(&archive);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        findings(&json_of(&o)).len(),
        walk(&archive.join("tapes")).len()
    );

    // The store away: the ingest still succeeds, and its item waits in the queue.
    weed.stop();
    let o = add_item(&archive, tmp.path(), "reel-1", 0.5);
    assert!(text(&o).contains("stays queued"), "{}", text(&o));
    assert_eq!(queued(&archive), vec!["tapes__reel-1.json"]);
    // An ingest killed just after its bag reached the archive: the job was queued before.
    let go = tmp.path().join("go");
    let mut child = ingest_item(&archive, tmp.path(), "reel-2", 0.5)
        .env("CAPSTAN_TEST_PAUSE", format!("renamed:{}", go.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let reached = PathBuf::from(format!("{}.reached", go.display()));
    let until = Instant::now() + Duration::from_secs(60);
    while !reached.exists() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the ingest ended early"
        );
        assert!(
            Instant::now() < until,
            "the ingest never reached its rename"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(archive.join("tapes/reel-2/bagit.txt").is_file());
    assert_eq!(
        queued(&archive),
        vec!["tapes__reel-1.json", "tapes__reel-2.json"]
    );
    let listed = run(cap().args(["replica", "list", "--archive"]).arg(&archive));
    assert!(
        text(&listed).contains("2 item(s) queued") && text(&listed).contains(", auto"),
        "{}",
        text(&listed)
    );

    // The store back: the next ingest sends what waited with its own item, once each.
    weed.run();
    let o = add_item(&archive, tmp.path(), "reel-3", 0.5);
    assert!(!text(&o).contains("stays queued"), "{}", text(&o));
    assert!(queued(&archive).is_empty(), "{:?}", queued(&archive));
    let o = audit(&archive);
    assert!(o.status.success(), "{}", text(&o));
    let v = json_of(&o);
    assert_eq!(
        findings(&v).len(),
        walk(&archive.join("tapes")).len(),
        "{v}"
    );
    for id in ["reel-0", "reel-1", "reel-2", "reel-3"] {
        assert!(
            findings(&v)
                .iter()
                .any(|(p, _)| p == &format!("tapes/{id}/data/{id}_pm.flac")),
            "{id}: {v}"
        );
    }
    // Each file replicated once: one replication event per file of the archive.
    let log = std::fs::read_to_string(archive.join(".capstan/events.jsonl")).unwrap();
    let replications = log
        .lines()
        .filter(|l| l.contains("\"replication\"") && l.contains("\"outcome\":\"pass\""))
        .count();
    assert_eq!(replications, walk(&archive.join("tapes")).len(), "{log}");
}
