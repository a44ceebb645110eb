//! The catalogue through the `capstan` binary: `ingest` records its item and events, `log`
//! shows them, `reindex` rebuilds a damaged or lost catalogue from the archive alone, `report`
//! counts what is there. Everything is checked through the CLI (no sqlite3).

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

struct Fixture {
    tmp: tempfile::TempDir,
    archive: PathBuf,
    profile: PathBuf,
}

const RATE: u32 = 48_000;

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    common::institution(&archive);
    let profile = profile_for(tmp.path(), 2, RATE, 16, "interleaved");
    Fixture {
        tmp,
        archive,
        profile,
    }
}

impl Fixture {
    /// A stereo 48 kHz/16-bit take of `seconds`.
    fn wav(&self, name: &str, seconds: f64) -> PathBuf {
        let path = self.tmp.path().join(format!("{name}.wav"));
        write_wav(
            &path,
            &WavSpec::pcm(2, RATE, 16),
            &signal(2, RATE, 16, seconds),
        );
        path
    }

    fn ingest_cmd(&self, id: &str, collection: &str, takes: &[&Path]) -> Command {
        ingest_command(
            &self.archive,
            &self.profile,
            id,
            collection,
            takes,
            &["TITLE=catalogue test"],
        )
    }

    fn ingest(&self, id: &str, collection: &str, takes: &[&Path]) -> Output {
        let out = run(&mut self.ingest_cmd(id, collection, takes));
        assert!(out.status.success(), "ingest {id}: {}", text(&out));
        out
    }

    fn capstan(&self, args: &[&str]) -> Output {
        let mut c = capstan();
        c.args(args);
        if args[0] == "report" {
            c.arg(&self.archive);
        } else {
            c.arg("--archive").arg(&self.archive);
        }
        run(&mut c)
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.push("--json");
        let out = self.capstan(&args);
        assert!(
            out.status.code() == Some(0) || out.status.code() == Some(1),
            "{args:?}: {}",
            text(&out)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    fn catalogue(&self) -> PathBuf {
        self.archive.join(".capstan/catalogue.sqlite")
    }
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

#[test]
fn ingest_is_logged_with_its_events_outcome_and_agent() {
    let f = fixture();
    let wav = f.wav("a", 0.5);
    f.ingest("a1", "tapes", &[&wav]);

    let out = f.capstan(&["log", "tapes/a1"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let table = String::from_utf8_lossy(&out.stdout).to_string();
    let agent = format!("capstan {}", env!("CARGO_PKG_VERSION"));
    for want in [
        "ingestion",
        "message digest calculation",
        "data/a1_pm.flac",
        "data/a1.qc.json",
        "pass",
        &agent,
    ] {
        assert!(table.contains(want), "no {want:?} in:\n{table}");
    }

    let events = f.json(&["log", "tapes/a1"]);
    let events = events.as_array().unwrap();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "ingestion",
            "message digest calculation",
            "message digest calculation"
        ]
    );
    for e in events {
        assert_eq!(e["item"], "tapes/a1");
        assert_eq!(e["outcome"], "pass");
        assert!(e["agent"].as_str().unwrap().starts_with(&agent), "{e}");
        assert_eq!(e["date_time"], "2026-11-18T11:06:40Z", "SOURCE_DATE_EPOCH");
    }
    // The digests logged are those of the files in the bag.
    let sha = sha256sum(&f.archive.join("tapes/a1/data/a1_pm.flac"));
    assert!(events[1]["detail"].as_str().unwrap().contains(&sha));
    // The log holds exactly what events.jsonl holds.
    let jsonl = std::fs::read_to_string(f.archive.join(".capstan/events.jsonl")).unwrap();
    let logged: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(&logged, events);

    // A bare id when unambiguous, the whole archive without one; unknown items exit 1.
    assert_eq!(&f.json(&["log", "a1"]), &Value::Array(events.clone()));
    assert_eq!(f.json(&["log"]).as_array().unwrap().len(), 3);
    let out = f.capstan(&["log", "nope"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(text(&out).contains("no item nope"), "{}", text(&out));
    f.ingest("a1", "other", &[&wav]);
    let out = f.capstan(&["log", "a1"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(
        text(&out).contains("other/a1") && text(&out).contains("tapes/a1"),
        "{}",
        text(&out)
    );
}

/// `sha256sum FILE`'s digest: a tool nobody here wrote.
fn sha256sum(file: &Path) -> String {
    let out = run(Command::new("sha256sum").arg(file));
    assert!(out.status.success(), "sha256sum: {}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn a_corrupted_catalogue_is_reported_and_reindex_recovers_the_same_history() {
    let f = fixture();
    let wav = f.wav("b", 0.4);
    f.ingest("b1", "tapes", &[&wav]);
    f.ingest("b2", "tapes", &[&wav]);
    let before = f.json(&["log"]);
    assert_eq!(before.as_array().unwrap().len(), 6);

    let garbage: Vec<u8> = (0..50_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(f.catalogue(), &garbage).unwrap();
    let path = f.catalogue().display().to_string();
    for args in [&["log"][..], &["log", "tapes/b1"], &["report"]] {
        let out = f.capstan(args);
        assert_eq!(code(&out), 2, "{args:?}: {}", text(&out));
        let msg = text(&out);
        assert!(
            msg.contains(&path) && msg.contains("capstan reindex"),
            "{args:?}: {msg}"
        );
    }
    // An ingest meanwhile still commits its item, and says the catalogue needs reindexing.
    let out = f.ingest("b3", "tapes", &[&wav]);
    let msg = text(&out);
    assert!(
        msg.contains("warning") && msg.contains(&path) && msg.contains("capstan reindex"),
        "{msg}"
    );
    assert!(f.archive.join("tapes/b3/bagit.txt").exists());
    assert_eq!(
        std::fs::read(f.catalogue()).unwrap(),
        garbage,
        "not recreated"
    );

    let out = f.capstan(&["reindex"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        text(&out).contains("3 item(s), 6 file(s) (0 missing), 9 event(s)"),
        "{}",
        text(&out)
    );
    let after = f.json(&["log"]);
    assert_eq!(
        after.as_array().unwrap()[..6],
        before.as_array().unwrap()[..]
    );
    assert_eq!(after.as_array().unwrap()[6]["item"], "tapes/b3");
    let report = f.json(&["report"]);
    assert_eq!(report["summary"]["items"], 3);
    let items: Vec<&str> = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["item"].as_str().unwrap())
        .collect();
    assert_eq!(items, ["tapes/b1", "tapes/b2", "tapes/b3"]);
}

#[test]
fn a_deleted_catalogue_is_rebuilt_by_reindex() {
    let f = fixture();
    let wav = f.wav("c", 0.3);
    f.ingest("c1", "tapes", &[&wav]);
    let before = f.json(&["log"]);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", f.catalogue().display()));
    }
    let out = f.capstan(&["log"]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(
        text(&out).contains("missing") && text(&out).contains("capstan reindex"),
        "{}",
        text(&out)
    );
    assert!(!f.catalogue().exists(), "log must not start an empty one");

    let out = f.capstan(&["reindex", "--json"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (&summary["items"], &summary["files"], &summary["events"]),
        (&Value::from(1), &Value::from(2), &Value::from(3))
    );
    assert_eq!(f.json(&["log"]), before);

    // A damaged line in events.jsonl is skipped, counted, and makes reindex exit 1.
    let log = f.archive.join(".capstan/events.jsonl");
    let mut text_log = std::fs::read_to_string(&log).unwrap();
    text_log.push_str("{\"event_type\": \"ingestion\"\n");
    std::fs::write(&log, text_log).unwrap();
    let out = f.capstan(&["reindex"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(
        text(&out).contains("1 event line(s) that do not parse"),
        "{}",
        text(&out)
    );
    assert_eq!(f.json(&["log"]), before);
}

#[test]
fn concurrent_ingests_and_a_reader_all_succeed() {
    let f = fixture();
    let wavs: Vec<PathBuf> = (0..4).map(|i| f.wav(&format!("d{i}"), 3.0)).collect();
    // Into a new archive: the catalogue is created while they race.
    let mut children: Vec<_> = wavs
        .iter()
        .enumerate()
        .map(|(i, w)| {
            f.ingest_cmd(&format!("d{i}"), "tapes", &[w])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut reads = 0;
    loop {
        let running = children.iter_mut().any(|c| c.try_wait().unwrap().is_none());
        if f.catalogue().exists() {
            let out = f.capstan(&["log"]);
            assert_eq!(code(&out), 0, "reader: {}", text(&out));
            reads += 1;
        }
        if !running {
            break;
        }
    }
    for c in children {
        let out = c.wait_with_output().unwrap();
        let msg = text(&out);
        assert!(out.status.success(), "{msg}");
        assert!(!msg.contains("warning"), "{msg}");
    }
    assert!(reads > 0);
    let events = f.json(&["log"]);
    assert_eq!(events.as_array().unwrap().len(), 12);
    for i in 0..4 {
        assert_eq!(
            f.json(&["log", &format!("d{i}")]).as_array().unwrap().len(),
            3
        );
    }
    assert_eq!(f.json(&["report"])["summary"]["items"], 4);
}

/// The sizes of the files under `bag/data`.
fn payload_bytes(bag: &Path) -> u64 {
    std::fs::read_dir(bag.join("data"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

#[test]
fn report_counts_items_bytes_and_hours_and_shows_open_problems() {
    let f = fixture();
    let one = f.wav("e1", 1.5);
    let side_a = f.wav("e2a", 0.5);
    let side_b = f.wav("e2b", 0.25);
    f.ingest("e1", "tapes", &[&one]);
    f.ingest("e2", "tapes", &[&side_a, &side_b]);

    let out = f.capstan(&["report"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let table = text(&out);
    assert!(table.contains("never"), "{table}");
    assert!(table.contains("open problems      0"), "{table}");

    let r = f.json(&["report"]);
    let s = &r["summary"];
    assert_eq!(s["items"], 2);
    assert_eq!(s["files"], 5, "two masters + QC, one master + QC");
    let bytes =
        payload_bytes(&f.archive.join("tapes/e1")) + payload_bytes(&f.archive.join("tapes/e2"));
    assert_eq!(s["bytes"].as_u64().unwrap(), bytes);
    let seconds = s["audio_seconds"].as_f64().unwrap();
    assert!((seconds - 2.25).abs() < 1e-9, "{seconds}");
    assert!((s["audio_hours"].as_f64().unwrap() - 2.25 / 3600.0).abs() < 1e-12);
    assert_eq!(s["never_verified"], 2);
    assert_eq!(s["open_problems"], 0);
    let e2 = &r["items"][1];
    assert_eq!(e2["item"], "tapes/e2");
    assert!((e2["audio_seconds"].as_f64().unwrap() - 0.75).abs() < 1e-9);
    assert_eq!(e2["last_verification"], Value::Null);

    // A master goes; reindex sees it (the file system is the truth) and report exits 1.
    std::fs::remove_file(f.archive.join("tapes/e2/data/e2_pm_p02.flac")).unwrap();
    let out = f.capstan(&["reindex"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(text(&out).contains("(1 missing)"), "{}", text(&out));
    let out = f.capstan(&["report"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(
        text(&out).contains("problem: data/e2_pm_p02.flac missing"),
        "{}",
        text(&out)
    );
    let r = f.json(&["report"]);
    assert_eq!(r["summary"]["open_problems"], 1);
    assert_eq!(r["items"][1]["problems"][0]["status"], "missing");
    // Durations and sizes known from the bag are unchanged.
    assert!((r["summary"]["audio_seconds"].as_f64().unwrap() - 2.25).abs() < 1e-9);

    let out = run(capstan()
        .arg("report")
        .arg(f.tmp.path().join("no-such-archive")));
    assert_eq!(code(&out), 2, "{}", text(&out));
}

#[test]
fn verify_records_its_checks_and_report_shows_the_last_verification() {
    let f = fixture();
    let wav = f.wav("v", 2.0);
    f.ingest("v1", "c", &[&wav]);
    let item = |r: &Value| r["items"][0].clone();
    assert_eq!(item(&f.json(&["report"]))["last_verification"], Value::Null);

    let o = run(capstan().arg("verify").arg(&f.archive));
    assert_eq!(code(&o), 0, "{}", text(&o));
    let r = f.json(&["report"]);
    assert_eq!(item(&r)["last_verification"]["outcome"], "pass", "{r:#}");
    let log = f.json(&["log"]);
    let checks: Vec<&Value> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event_type"] == "fixity check")
        .collect();
    // One for the bag, one per payload file (the master and the QC report).
    assert_eq!(checks.len(), 3, "{log:#}");

    // Damage: verify says so, the catalogue keeps it, report exits 1 naming the file.
    let master = masters(&f.archive.join("c/v1"))[0].clone();
    let mut b = std::fs::read(&master).unwrap();
    let at = b.len() / 2;
    b[at] ^= 0x20;
    std::fs::write(&master, &b).unwrap();
    let o = run(capstan().arg("verify").arg(&f.archive));
    assert_eq!(code(&o), 1, "{}", text(&o));
    let out = f.capstan(&["report"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(text(&out).contains("v1_pm.flac"), "{}", text(&out));
    assert!(text(&out).contains("audio damaged"), "{}", text(&out));

    // --no-record leaves the archive as it was.
    let before = std::fs::read(f.archive.join(".capstan/events.jsonl")).unwrap();
    let o = run(capstan().args(["verify", "--no-record"]).arg(&f.archive));
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert_eq!(
        std::fs::read(f.archive.join(".capstan/events.jsonl")).unwrap(),
        before
    );
}

#[test]
fn report_and_log_take_the_archive_as_archive_option_positional_or_environment_alike() {
    let f = fixture();
    let wav = f.wav("a", 0.5);
    f.ingest("a1", "tapes", &[&wav]);
    let outside = decoy(f.tmp.path());
    let before = snapshot(&outside);
    let archive_before = snapshot(&f.archive);

    let spelled = |args: &[&str], how: &str| {
        let mut c = capstan();
        c.args(args);
        match how {
            "option" => {
                c.arg("--archive").arg(&f.archive);
            }
            "positional" => {
                c.arg(&f.archive);
            }
            _ => {
                c.env("CAPSTAN_ARCHIVE", &f.archive);
            }
        }
        let out = run(&mut c);
        assert_eq!(code(&out), 0, "{args:?} ({how}): {}", text(&out));
        out.stdout
    };
    for args in [&["report"][..], &["report", "--json"][..]] {
        let positional = spelled(args, "positional");
        assert!(String::from_utf8_lossy(&positional).contains("tapes/a1"));
        assert_eq!(spelled(args, "option"), positional, "{args:?}");
        assert_eq!(spelled(args, "environment"), positional, "{args:?}");
    }
    for args in [&["log", "tapes/a1"][..], &["log", "--json"][..]] {
        let option = spelled(args, "option");
        assert!(
            String::from_utf8_lossy(&option).contains("ingestion"),
            "{args:?}"
        );
        assert_eq!(spelled(args, "environment"), option, "{args:?}");
    }

    // Both spellings at once is a usage error, not a silent choice between two archives.
    let out = run(capstan()
        .arg("report")
        .arg(&f.archive)
        .arg("--archive")
        .arg(f.tmp.path().join("other")));
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(text(&out).contains("cannot be used with"), "{}", text(&out));

    assert_eq!(
        snapshot(&outside),
        before,
        "nothing outside the archive changed"
    );
    assert_eq!(
        snapshot(&f.archive),
        archive_before,
        "report and log write nothing"
    );
    assert_valid_bag(&f.archive.join("tapes/a1"));
}
