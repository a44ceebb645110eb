//! The watcher on a real archive: what it records, and how fast (issue 3: each event in the
//! catalogue within 2 s); a watcher killed with SIGKILL reports on restart what happened while
//! it was down; SIGTERM ends it cleanly.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// An archive with one item ingested, its bag path returned.
fn archive_with_item(tmp: &Path, id: &str) -> (PathBuf, PathBuf) {
    let wav = tmp.join(format!("{id}.wav"));
    write_wav(
        &wav,
        &WavSpec::pcm(2, 48_000, 16),
        &signal(2, 48_000, 16, 4.0),
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
    let bag = archive.join("tapes").join(id);
    (archive, bag)
}

fn start_watcher(archive: &Path) -> Child {
    let child = capstan()
        .args(["watch", "--settle", "200ms", "--json"])
        .arg(archive)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Its start-up reconcile reads every never-checked file; wait until it is watching.
    wait_for(archive, Duration::from_secs(10), |e| {
        e.iter().any(|e| e["event_type"] == "fixity check")
    });
    child
}

/// The archive's events, from the catalogue through `capstan log --json`.
fn events(archive: &Path) -> Vec<Value> {
    let o = run(capstan().args(["log", "--json", "--archive"]).arg(archive));
    assert!(o.status.success(), "{}", text(&o));
    serde_json::from_slice::<Vec<Value>>(&o.stdout).unwrap()
}

/// Polls the catalogue until `found` holds; panics with the events after `limit`.
fn wait_for(archive: &Path, limit: Duration, found: impl Fn(&[Value]) -> bool) -> Duration {
    let start = Instant::now();
    loop {
        let e = events(archive);
        if found(&e) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "not in the catalogue after {limit:?}: {:#?}",
            &e[e.len().saturating_sub(8)..]
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn has(e: &[Value], kind: &str, item: &str, file: Option<&str>, outcome: &str) -> bool {
    e.iter().any(|e| {
        e["event_type"] == kind
            && e["item"] == item
            && e["outcome"] == outcome
            && match file {
                Some(f) => e["file"].as_str().is_some_and(|x| x.ends_with(f)),
                None => e["file"].is_null(),
            }
    })
}

fn flip_a_bit_in(file: &Path) {
    let mut b = std::fs::read(file).unwrap();
    let at = b.len() * 2 / 3;
    b[at] ^= 0x08;
    std::fs::write(file, &b).unwrap();
}

const LIMIT: Duration = Duration::from_secs(2);

#[test]
fn bags_changes_moves_and_deletions_reach_the_catalogue_within_2_s() {
    let tmp = tempfile::tempdir().unwrap();
    let (archive, bag) = archive_with_item(tmp.path(), "t1");
    // A second item made elsewhere, to be dropped in as a new bag.
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let (other_archive, other_bag) = archive_with_item(&elsewhere, "t2");
    let mut watcher = start_watcher(&archive);

    // A new bag dropped in (copied, then renamed into place, as a careful copier does).
    let landing = archive.join("tapes").join(".t2.partial");
    copy_dir(&other_bag, &landing);
    std::fs::rename(&landing, archive.join("tapes/t2")).unwrap();
    let t = wait_for(&archive, LIMIT, |e| {
        has(e, "fixity check", "tapes/t2", None, "pass")
    });
    eprintln!("new bag registered after {t:?}");
    drop(other_archive);

    // A changed file: a bit flipped in a master.
    let master = masters(&bag)[0].clone();
    let name = master.file_name().unwrap().to_str().unwrap().to_string();
    flip_a_bit_in(&master);
    let t = wait_for(&archive, LIMIT, |e| {
        has(e, "fixity check", "tapes/t1", Some(&name), "fail")
    });
    eprintln!("damage recorded after {t:?}");
    let damage = events(&archive)
        .into_iter()
        .rev()
        .find(|e| e["outcome"] == "fail")
        .unwrap();
    assert!(
        damage["detail"].as_str().unwrap().contains("audio damaged"),
        "{damage}"
    );

    // A moved file: the QC report renamed.
    let qc = bag.join("data/t1.qc.json");
    std::fs::rename(&qc, bag.join("data/t1.report.json")).unwrap();
    let t = wait_for(&archive, LIMIT, |e| {
        has(e, "move", "tapes/t1", Some("data/t1.qc.json"), "warning")
    });
    eprintln!("move recorded after {t:?}");
    let moved = events(&archive)
        .into_iter()
        .rev()
        .find(|e| e["event_type"] == "move")
        .unwrap();
    assert!(
        moved["detail"]
            .as_str()
            .unwrap()
            .contains("tapes/t1/data/t1.report.json"),
        "{moved}"
    );

    // A deleted file.
    let other_master = masters(&archive.join("tapes/t2"))[0].clone();
    std::fs::remove_file(&other_master).unwrap();
    let t = wait_for(&archive, LIMIT, |e| {
        has(e, "deletion", "tapes/t2", Some("_pm.flac"), "fail")
    });
    eprintln!("deletion recorded after {t:?}");

    // Staging is not the watcher's business; nothing is recorded for it.
    let before = events(&archive).len();
    let staging = archive.join(".capstan/staging/x");
    std::fs::create_dir_all(&staging).unwrap();
    std::fs::write(staging.join("bagit.txt"), "junk").unwrap();
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(events(&archive).len(), before, "staging was looked at");

    // SIGTERM ends it cleanly.
    // SAFETY: a signal to our own child.
    unsafe { libc::kill(watcher.id() as i32, libc::SIGTERM) };
    let status = wait_with_timeout(&mut watcher, Duration::from_secs(5));
    assert_eq!(status.code(), Some(0), "{status:?}");
    // The log and the catalogue agree.
    let log = std::fs::read_to_string(archive.join(".capstan/events.jsonl")).unwrap();
    assert_eq!(log.lines().count(), events(&archive).len());
}

#[test]
fn after_a_kill_the_restarted_watcher_reports_what_happened_meanwhile() {
    let tmp = tempfile::tempdir().unwrap();
    let (archive, bag) = archive_with_item(tmp.path(), "k1");
    let mut watcher = start_watcher(&archive);
    watcher.kill().unwrap(); // SIGKILL
    watcher.wait().unwrap();

    let master = masters(&bag)[0].clone();
    let name = master.file_name().unwrap().to_str().unwrap().to_string();
    flip_a_bit_in(&master);
    std::fs::rename(
        bag.join("data/k1.qc.json"),
        bag.join("data/qc-renamed.json"),
    )
    .unwrap();
    let before = events(&archive).len();

    let o = run(capstan().args(["watch", "--once", "--json"]).arg(&archive));
    assert_eq!(o.status.code(), Some(1), "problems recorded: {}", text(&o));
    let printed: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        has(&printed, "fixity check", "tapes/k1", Some(&name), "fail"),
        "{printed:#?}"
    );
    assert!(
        has(
            &printed,
            "move",
            "tapes/k1",
            Some("data/k1.qc.json"),
            "warning"
        ),
        "{printed:#?}"
    );
    assert_eq!(printed.len(), 2, "only what changed: {printed:#?}");
    assert_eq!(events(&archive).len(), before + 2);
    // A second look finds nothing new.
    let o = run(capstan().args(["watch", "--once", "--json"]).arg(&archive));
    assert!(o.status.success() && o.stdout.is_empty(), "{}", text(&o));
}

#[test]
fn an_unreadable_file_is_reported_and_the_watcher_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let (archive, bag) = archive_with_item(tmp.path(), "u1");
    let o = run(capstan().args(["watch", "--once"]).arg(&archive));
    assert!(o.status.success(), "{}", text(&o));
    // A FIFO where the QC report was (root can read any file; a FIFO it must not open).
    let qc = bag.join("data/u1.qc.json");
    std::fs::remove_file(&qc).unwrap();
    let c = std::ffi::CString::new(qc.to_str().unwrap()).unwrap();
    // SAFETY: a valid C string and mode.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let o = run(capstan().args(["watch", "--once", "--json"]).arg(&archive));
    assert_eq!(o.status.code(), Some(1), "a problem recorded: {}", text(&o));
    let printed: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        has(
            &printed,
            "fixity check",
            "tapes/u1",
            Some("data/u1.qc.json"),
            "fail"
        ),
        "{printed:#?}"
    );
    assert!(
        printed[0]["detail"]
            .as_str()
            .unwrap()
            .contains("unreadable"),
        "{printed:#?}"
    );
}

fn wait_with_timeout(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if start.elapsed() > limit {
            child.kill().unwrap();
            panic!("did not stop within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_burst_of_10000_files_is_taken_whole() {
    use sha2::{Digest, Sha256};
    let tmp = tempfile::tempdir().unwrap();
    let (archive, _) = archive_with_item(tmp.path(), "b0");
    let mut watcher = start_watcher(&archive);
    // A bag written file by file straight into the archive: 10,000 payload files, then its tag
    // files; far more inotify events than the kernel queues by default (16,384).
    let bag = archive.join("burst/b1");
    std::fs::create_dir_all(bag.join("data")).unwrap();
    let mut manifest = String::new();
    let mut octets = 0;
    for i in 0..10_000 {
        let body = format!("payload file {i}\n").repeat(1 + i % 7);
        let name = format!("data/f{i:05}.txt");
        std::fs::write(bag.join(&name), &body).unwrap();
        let digest = capstan::flac::hex(&Sha256::digest(body.as_bytes()));
        manifest.push_str(&format!("{digest}  {name}\n"));
        octets += body.len();
    }
    std::fs::write(
        bag.join("bagit.txt"),
        "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n",
    )
    .unwrap();
    std::fs::write(
        bag.join("bag-info.txt"),
        format!("External-Identifier: b1\nPayload-Oxum: {octets}.10000\n"),
    )
    .unwrap();
    std::fs::write(bag.join("manifest-sha256.txt"), manifest).unwrap();
    let t = wait_for(&archive, Duration::from_secs(60), |e| {
        has(e, "fixity check", "burst/b1", None, "pass")
    });
    eprintln!("10,000-file bag registered {t:?} after its last file");
    let e = events(&archive);
    let files = e
        .iter()
        .filter(|e| e["item"] == "burst/b1" && e["file"].is_string())
        .count();
    assert_eq!(files, 10_000);
    assert!(watcher.try_wait().unwrap().is_none(), "the watcher died");
    // SAFETY: a signal to our own child.
    unsafe { libc::kill(watcher.id() as i32, libc::SIGINT) };
    assert_eq!(
        wait_with_timeout(&mut watcher, Duration::from_secs(5)).code(),
        Some(0)
    );
}

#[test]
fn every_file_is_read_again_within_the_rolling_period() {
    let tmp = tempfile::tempdir().unwrap();
    let (archive, _) = archive_with_item(tmp.path(), "r1");
    let o = run(capstan().args(["watch", "--once"]).arg(&archive));
    assert!(o.status.success(), "{}", text(&o));
    let before = events(&archive).len();
    let mut watcher = capstan()
        .args(["watch", "--every", "2s", "--json"])
        .arg(&archive)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Nothing changes; within the period (and a margin for a busy machine) both payload files
    // are read again, by the schedule alone.
    let t = wait_for(&archive, Duration::from_secs(6), |e| {
        let new = &e[before.min(e.len())..];
        ["data/r1.qc.json", "data/r1_pm.flac"]
            .iter()
            .all(|f| has(new, "fixity check", "tapes/r1", Some(f), "pass"))
    });
    eprintln!("both files re-checked after {t:?}");
    // SAFETY: a signal to our own child.
    unsafe { libc::kill(watcher.id() as i32, libc::SIGTERM) };
    assert_eq!(
        wait_with_timeout(&mut watcher, Duration::from_secs(5)).code(),
        Some(0)
    );
}

/// Every event in `events.jsonl`.
fn logged(archive: &Path) -> Vec<Value> {
    std::fs::read_to_string(archive.join(".capstan/events.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// How many times (log, catalogue) an event of `file` with `outcome` was recorded.
fn times(archive: &Path, file: &str, outcome: &str) -> (usize, usize) {
    let count = |e: &[Value]| {
        e.iter()
            .filter(|e| e["file"].as_str() == Some(file) && e["outcome"] == outcome)
            .count()
    };
    (count(&logged(archive)), count(&events(archive)))
}

fn once(archive: &Path) -> (i32, Vec<Value>, String) {
    let o = run(capstan().args(["watch", "--once", "--json"]).arg(archive));
    let printed = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (o.status.code().unwrap_or(-1), printed, text(&o))
}

#[test]
fn stray_files_at_every_depth_never_stop_the_watcher_and_each_condition_is_recorded_once() {
    let tmp = tempfile::tempdir().unwrap();
    let (archive, bag) = archive_with_item(tmp.path(), "s1");
    assert_valid_bag(&bag);
    // Outside the archive, linked to from inside: never read, written or removed.
    let decoy = tmp.path().join("decoy");
    std::fs::create_dir_all(decoy.join("sub")).unwrap();
    std::fs::write(decoy.join("keep.txt"), "not Capstan's").unwrap();
    std::fs::write(decoy.join("sub/bagit.txt"), "BagIt-Version: 1.0\n").unwrap();
    let decoy_before = snapshot(&decoy);
    let (code, _, all) = once(&archive);
    assert_eq!(code, 0, "all good: {all}");
    let (code, printed, all) = once(&archive);
    assert_eq!((code, printed.len()), (0, 0), "nothing new: {all}");

    // Strays everywhere: files, folders, a FIFO, a link; none of them a bag.
    let fifo = |p: &Path| {
        let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
        // SAFETY: a valid C string and mode.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    };
    let put = |rel: &str| {
        let p = archive.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, format!("stray {rel}\n")).unwrap();
    };
    for rel in [
        "README.txt",
        "stray/notes.txt",
        ".capstan/notes.txt",
        ".capstan/odd/x.txt",
        "tapes/notes.txt",
        "tapes/loose/take.wav",
        "tapes/s1/notes.txt",
        "tapes/s1/extra/y.txt",
        "tapes/s1/data/stray.txt",
        "tapes/s1/data/sub/z.txt",
    ] {
        put(rel);
    }
    std::fs::create_dir_all(archive.join("empty/folder")).unwrap();
    fifo(&archive.join("fifo"));
    fifo(&archive.join("tapes/fifo"));
    std::os::unix::fs::symlink("/etc", archive.join("tapes/etc-link")).unwrap();
    std::os::unix::fs::symlink(&decoy, archive.join("decoy-link")).unwrap();
    std::os::unix::fs::symlink(&decoy, bag.join("data/decoy-link")).unwrap();

    // The unlisted payload files are recorded once, as warnings: exit 1.
    let (code, printed, all) = once(&archive);
    assert_eq!(code, 1, "a recorded problem: {all}");
    let files: Vec<&str> = printed
        .iter()
        .map(|e| e["file"].as_str().unwrap())
        .collect();
    assert_eq!(
        files,
        ["data/decoy-link", "data/stray.txt", "data/sub/z.txt"],
        "{printed:#?}"
    );
    assert!(printed.iter().all(|e| e["outcome"] == "warning"));
    // Run again, and again: nothing new, exit 0.
    for _ in 0..2 {
        let (code, printed, all) = once(&archive);
        assert_eq!((code, printed.len()), (0, 0), "re-reported: {all}");
    }
    // A continuous watcher started and killed twice says nothing more either.
    for _ in 0..2 {
        let mut w = capstan()
            .args(["watch", "--settle", "100ms", "--json"])
            .arg(&archive)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        assert!(w.try_wait().unwrap().is_none(), "the watcher stopped");
        w.kill().unwrap();
        w.wait().unwrap();
    }
    assert_eq!(times(&archive, "data/stray.txt", "warning"), (1, 1));
    assert_eq!(times(&archive, "data/sub/z.txt", "warning"), (1, 1));
    assert_eq!(times(&archive, "data/decoy-link", "warning"), (1, 1));

    // A failure is recorded once; its mending (a state change) once too.
    let master = masters(&bag)[0].clone();
    let name = format!("data/{}", master.file_name().unwrap().to_str().unwrap());
    let good = std::fs::read(&master).unwrap();
    flip_a_bit_in(&master);
    let (code, printed, all) = once(&archive);
    assert_eq!((code, printed.len()), (1, 1), "{all}");
    assert_eq!(printed[0]["file"], name.as_str());
    for _ in 0..2 {
        let (code, printed, all) = once(&archive);
        assert_eq!((code, printed.len()), (0, 0), "re-reported: {all}");
    }
    assert_eq!(times(&archive, &name, "fail"), (1, 1));
    std::fs::write(&master, &good).unwrap();
    let (code, printed, all) = once(&archive);
    assert_eq!(code, 0, "{all}");
    assert!(
        has(&printed, "fixity check", "tapes/s1", Some(&name), "pass"),
        "{printed:#?}"
    );

    // A deletion once.
    std::fs::remove_file(bag.join("data/s1.qc.json")).unwrap();
    let (code, printed, all) = once(&archive);
    assert_eq!((code, printed.len()), (1, 1), "{all}");
    assert_eq!(printed[0]["event_type"], "deletion");
    let (code, printed, all) = once(&archive);
    assert_eq!((code, printed.len()), (0, 0), "{all}");
    assert_eq!(times(&archive, "data/s1.qc.json", "fail"), (1, 1));

    // A bag that lost its bagit.txt is not deleted: said once, and once when it is back.
    let declaration = std::fs::read(bag.join("bagit.txt")).unwrap();
    std::fs::remove_file(bag.join("bagit.txt")).unwrap();
    let (code, printed, all) = once(&archive);
    assert_eq!((code, printed.len()), (1, 1), "{all}");
    assert!(printed[0]["file"].is_null(), "{printed:#?}");
    assert!(
        printed[0]["detail"]
            .as_str()
            .unwrap()
            .contains("no bagit.txt"),
        "{printed:#?}"
    );
    let (code, printed, all) = once(&archive);
    assert_eq!((code, printed.len()), (0, 0), "{all}");
    std::fs::write(bag.join("bagit.txt"), declaration).unwrap();
    let (code, printed, all) = once(&archive);
    assert_eq!((code, printed.len()), (0, 1), "{all}");
    assert!(!logged(&archive)
        .iter()
        .any(|e| e["event_type"] == "deletion" && e["file"] != "data/s1.qc.json"));
    // The log and the catalogue agree.
    assert_eq!(logged(&archive).len(), events(&archive).len());
    assert_eq!(snapshot(&decoy), decoy_before, "the decoy changed");
}

#[test]
fn the_rolling_schedule_records_a_standing_failure_once_and_goes_on_round() {
    let tmp = tempfile::tempdir().unwrap();
    let (archive, bag) = archive_with_item(tmp.path(), "f1");
    let master = masters(&bag)[0].clone();
    let name = format!("data/{}", master.file_name().unwrap().to_str().unwrap());
    flip_a_bit_in(&master);
    let (code, printed, all) = once(&archive);
    assert_eq!(code, 1, "{all}");
    assert!(has(
        &printed,
        "fixity check",
        "tapes/f1",
        Some(&name),
        "fail"
    ));
    let qc_passes = times(&archive, "data/f1.qc.json", "pass");
    let mut w = capstan()
        .args(["watch", "--every", "1s", "--json"])
        .arg(&archive)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Round and round: the QC report is read again and again (passes recorded), the master
    // too, but its standing failure is not recorded again.
    let t = wait_for(&archive, Duration::from_secs(10), |_| {
        times(&archive, "data/f1.qc.json", "pass").0 >= qc_passes.0 + 3
    });
    eprintln!("three rounds after {t:?}");
    // SAFETY: a signal to our own child.
    unsafe { libc::kill(w.id() as i32, libc::SIGTERM) };
    assert_eq!(
        wait_with_timeout(&mut w, Duration::from_secs(5)).code(),
        Some(0)
    );
    assert_eq!(times(&archive, &name, "fail"), (1, 1));
}

#[test]
fn a_bag_with_100000_unlisted_files_is_recorded_once_in_under_30_s() {
    let tmp = tempfile::tempdir().unwrap();
    let (archive, bag) = archive_with_item(tmp.path(), "n1");
    let (code, _, all) = once(&archive);
    assert_eq!(code, 0, "{all}");
    let strays = bag.join("data/strays");
    std::fs::create_dir(&strays).unwrap();
    for i in 0..100_000 {
        std::fs::write(strays.join(format!("s{i:06}")), []).unwrap();
    }
    let started = Instant::now();
    let (code, printed, all) = once(&archive);
    let took = started.elapsed();
    eprintln!("watch --once recording 100,000 unlisted files: {took:?}");
    assert_eq!(code, 1, "{}", &all[..all.len().min(2000)]);
    assert_eq!(printed.len(), 100_000);
    assert!(
        took < Duration::from_secs(30),
        "100,000 problems took {took:?}: recording is not linear"
    );
    // Once: the next run records nothing, and just as fast.
    let started = Instant::now();
    let (code, printed, _) = once(&archive);
    let took = started.elapsed();
    eprintln!("and again, nothing new: {took:?}");
    assert_eq!((code, printed.len()), (0, 0));
    assert!(took < Duration::from_secs(30), "{took:?}");
    assert_eq!(logged(&archive).len(), events(&archive).len());
}
