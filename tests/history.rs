//! The history is never lost: an item's ingestion events survive a `kill -9` or a full disk at
//! the commit (they are written to `.capstan/pending/` before the rename and replayed by the
//! next writer, exactly once), and a torn last line of `events.jsonl` costs only itself.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

struct Setup {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    profile: PathBuf,
    wav: PathBuf,
    decoy: PathBuf,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let profile = profile_for(&dir, 2, 48_000, 16, "interleaved");
    let wav = dir.join("take.wav");
    write_wav(
        &wav,
        &WavSpec::pcm(2, 48_000, 16),
        &signal(2, 48_000, 16, 1.0),
    );
    let decoy = decoy(&dir);
    Setup {
        _tmp: tmp,
        dir,
        profile,
        wav,
        decoy,
    }
}

/// Starts an ingest that pauses at commit stage `stage`; returns it once it is there.
fn paused_ingest(s: &Setup, archive: &Path, id: &str, stage: &str, go: &Path) -> Child {
    let mut child = ingest_command(archive, &s.profile, id, "c", &[&s.wav], &["TITLE=t"])
        .env("CAPSTAN_TEST_PAUSE", format!("{stage}:{}", go.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let reached = PathBuf::from(format!("{}.reached", go.display()));
    let until = Instant::now() + Duration::from_secs(60);
    while !reached.exists() {
        if let Some(st) = child.try_wait().unwrap() {
            panic!("the ingest ended ({st}) before reaching the commit stage {stage}");
        }
        assert!(Instant::now() < until, "the ingest never reached {stage}");
        std::thread::sleep(Duration::from_millis(10));
    }
    child
}

/// The item's events of `kind` as `capstan log --json` shows them.
fn logged(archive: &Path, item: &str, kind: &str) -> usize {
    let out = run(capstan()
        .args(["log", item, "--json", "--archive"])
        .arg(archive));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let events: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    events.iter().filter(|e| e["event_type"] == kind).count()
}

/// Lines of events.jsonl about `item` with type `kind`.
fn lines_in_log(archive: &Path, item: &str, kind: &str) -> usize {
    let log = std::fs::read_to_string(archive.join(".capstan/events.jsonl")).unwrap_or_default();
    log.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["item"] == item && e["event_type"] == kind)
        .count()
}

fn pending_records(archive: &Path) -> usize {
    std::fs::read_dir(archive.join(".capstan/pending")).map_or(0, |d| d.count())
}

#[test]
fn a_kill_after_the_rename_leaves_the_ingestion_pending_and_the_next_writer_logs_it_once() {
    let s = setup();
    let archive = s.dir.join("archive");
    common::institution(&archive);
    let before = snapshot(&s.decoy);
    let go = s.dir.join("go");
    let mut child = paused_ingest(&s, &archive, "tape-1", "renamed", &go);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let bag = archive.join("c/tape-1");
    assert!(bag.join("bagit.txt").is_file(), "the bag was renamed in");
    assert_eq!(lines_in_log(&archive, "c/tape-1", "ingestion"), 0);
    assert_eq!(pending_records(&archive), 1, "the record is pending");

    // The next command that writes to the archive logs it first, and says so.
    let out = run(&mut ingest_command(
        &archive,
        &s.profile,
        "tape-2",
        "c",
        &[&s.wav],
        &["TITLE=t"],
    ));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("c/tape-1: its ingestion record, left pending"),
        "{}",
        text(&out)
    );
    assert_eq!(pending_records(&archive), 0);
    assert_eq!(lines_in_log(&archive, "c/tape-1", "ingestion"), 1);
    assert_eq!(logged(&archive, "c/tape-1", "ingestion"), 1);
    assert_eq!(
        logged(&archive, "c/tape-1", "message digest calculation"),
        2
    );

    // Rebuilding the catalogue replays nothing twice.
    let out = run(capstan().args(["reindex", "--archive"]).arg(&archive));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(logged(&archive, "c/tape-1", "ingestion"), 1);
    assert_valid_bag(&bag);
    assert_valid_bag(&archive.join("c/tape-2"));
    assert_eq!(snapshot(&s.decoy), before);
}

#[test]
fn a_kill_after_the_log_but_before_the_record_is_removed_never_duplicates_the_ingestion() {
    let s = setup();
    let archive = s.dir.join("archive");
    common::institution(&archive);
    let go = s.dir.join("go");
    let mut child = paused_ingest(&s, &archive, "tape-1", "logged", &go);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(lines_in_log(&archive, "c/tape-1", "ingestion"), 1);
    assert_eq!(pending_records(&archive), 1);

    let out = run(capstan().args(["reindex", "--archive"]).arg(&archive));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("c/tape-1: its pending ingestion record was already in events.jsonl"),
        "{}",
        text(&out)
    );
    assert_eq!(pending_records(&archive), 0);
    assert_eq!(lines_in_log(&archive, "c/tape-1", "ingestion"), 1);
    assert_eq!(logged(&archive, "c/tape-1", "ingestion"), 1);
    assert_valid_bag(&archive.join("c/tape-1"));
}

#[test]
fn a_kill_before_the_rename_leaves_no_item_and_its_record_is_removed_unlogged() {
    let s = setup();
    let archive = s.dir.join("archive");
    common::institution(&archive);
    let go = s.dir.join("go");
    let mut child = paused_ingest(&s, &archive, "tape-1", "recorded", &go);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!archive.join("c/tape-1").exists());
    assert_eq!(pending_records(&archive), 1);
    let out = run(&mut ingest_command(
        &archive,
        &s.profile,
        "tape-2",
        "c",
        &[&s.wav],
        &["TITLE=t"],
    ));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!text(&out).contains("tape-1"), "{}", text(&out));
    assert_eq!(pending_records(&archive), 0);
    assert_eq!(lines_in_log(&archive, "c/tape-1", "ingestion"), 0);
    assert_eq!(
        std::fs::read_dir(archive.join(".capstan/staging"))
            .unwrap()
            .count(),
        0,
        "the dead ingest's staging is gone"
    );
    // The id is free: the item can be ingested again, and its history is its own.
    let out = run(&mut ingest_command(
        &archive,
        &s.profile,
        "tape-1",
        "c",
        &[&s.wav],
        &["TITLE=t"],
    ));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(logged(&archive, "c/tape-1", "ingestion"), 1);
    assert_valid_bag(&archive.join("c/tape-1"));
}

#[test]
fn a_disk_that_fills_right_after_the_rename_exits_2_and_the_ingestion_is_logged_once_space_is_freed(
) {
    let s = setup();
    let mnt = s.dir.join("mnt");
    mount_tmpfs(&mnt, "size=16m");
    let _unmount = Unmount(mnt.clone());
    let archive = mnt.join("archive");
    common::institution(&archive);
    let before = snapshot(&s.decoy);
    let go = s.dir.join("go"); // outside the full disk
    let child = paused_ingest(&s, &archive, "tape-1", "renamed", &go);
    // Fill the disk to the last byte.
    let filler = mnt.join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    let block = vec![0x55u8; 64 * 1024];
    let mut small = vec![0x55u8; 1];
    loop {
        use std::io::Write;
        match f.write(&block) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc_enospc()) => break,
            Err(e) => panic!("{e}"),
        }
    }
    loop {
        use std::io::Write;
        match f.write(&small) {
            Ok(1) => {}
            _ => break,
        }
    }
    small.clear();
    drop(f);
    std::fs::write(&go, b"").unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("No space left on device")
            && stderr.contains("its ingestion record is kept in")
            && stderr.contains(".capstan/pending/"),
        "{stderr}"
    );
    assert_eq!(lines_in_log(&archive, "c/tape-1", "ingestion"), 0);
    assert_eq!(pending_records(&archive), 1);

    std::fs::remove_file(&filler).unwrap();
    let out = run(capstan().args(["reindex", "--archive"]).arg(&archive));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("c/tape-1: its ingestion record, left pending"),
        "{}",
        text(&out)
    );
    assert_eq!(pending_records(&archive), 0);
    assert_eq!(lines_in_log(&archive, "c/tape-1", "ingestion"), 1);
    assert_eq!(logged(&archive, "c/tape-1", "ingestion"), 1);
    assert_valid_bag(&archive.join("c/tape-1"));
    assert_eq!(snapshot(&s.decoy), before);
}

fn libc_enospc() -> i32 {
    28 // ENOSPC on Linux
}

#[test]
fn a_torn_last_line_is_closed_by_the_next_append_and_reindex_keeps_every_complete_event() {
    let s = setup();
    let archive = s.dir.join("archive");
    common::institution(&archive);
    let out = run(&mut ingest_command(
        &archive,
        &s.profile,
        "tape-1",
        "c",
        &[&s.wav],
        &["TITLE=t"],
    ));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let log = archive.join(".capstan/events.jsonl");
    // A crash in the middle of an append: half an event, no newline.
    let fragment = r#"{"date_time":"2026-12-03T08:00:00Z","event_type":"fixity ch"#;
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        f.write_all(fragment.as_bytes()).unwrap();
    }
    // Before anything else is appended, reindex says the last line is torn and keeps the rest;
    // a skipped line makes it exit 1, as any line that is not an event does.
    let out = run(capstan().args(["reindex", "--archive"]).arg(&archive));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("skipped 1 torn line(s) of events.jsonl"),
        "{err}"
    );

    let out = run(&mut ingest_command(
        &archive,
        &s.profile,
        "tape-2",
        "c",
        &[&s.wav],
        &["TITLE=t"],
    ));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let text_log = std::fs::read_to_string(&log).unwrap();
    assert!(
        text_log.contains(&format!("{fragment}\n{{")),
        "the next event starts on its own line: {text_log}"
    );
    let out = run(capstan().args(["reindex", "--archive"]).arg(&archive));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("skipped 1 torn line(s) of events.jsonl"),
        "{err}"
    );
    assert!(err.contains("is a torn event"), "{err}");
    assert!(
        text(&out).contains("skipped: 1 event line(s) that do not parse"),
        "{}",
        text(&out)
    );
    assert_eq!(logged(&archive, "c/tape-1", "ingestion"), 1);
    assert_eq!(logged(&archive, "c/tape-2", "ingestion"), 1);
    assert_eq!(
        logged(&archive, "c/tape-2", "message digest calculation"),
        2
    );
    // Only the fragment is lost: every complete line is an event in the catalogue.
    let complete = text_log
        .lines()
        .filter(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
        .count();
    let all = run(capstan().args(["log", "--json", "--archive"]).arg(&archive));
    let events: Vec<serde_json::Value> = serde_json::from_slice(&all.stdout).unwrap();
    assert_eq!(events.len(), complete);
    assert_valid_bag(&archive.join("c/tape-2"));
}

#[test]
fn verify_watch_and_reindex_each_log_a_pending_ingestion_before_their_own_work() {
    let s = setup();
    for (i, command) in [
        vec!["verify"],
        vec!["watch", "--once"],
        vec!["reindex", "--archive"],
    ]
    .into_iter()
    .enumerate()
    {
        let archive = s.dir.join(format!("archive-{i}"));
        common::institution(&archive);
        let go = s.dir.join(format!("go-{i}"));
        let mut child = paused_ingest(&s, &archive, "tape-1", "renamed", &go);
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(lines_in_log(&archive, "c/tape-1", "ingestion"), 0);
        let out = run(capstan().args(&command).arg(&archive));
        assert!(
            text(&out).contains("c/tape-1: its ingestion record, left pending"),
            "{command:?}: {}",
            text(&out)
        );
        assert_eq!(pending_records(&archive), 0, "{command:?}");
        assert_eq!(
            lines_in_log(&archive, "c/tape-1", "ingestion"),
            1,
            "{command:?}"
        );
        assert_eq!(logged(&archive, "c/tape-1", "ingestion"), 1, "{command:?}");
        assert_valid_bag(&archive.join("c/tape-1"));
    }
}
