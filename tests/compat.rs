//! Compatibility: what an earlier release wrote, read by this one.
//!
//! `tests/compat/v0.1.0/archive` was written by capstan 0.1.0 (main at 929999d, before the refit)
//! with `tests/compat/make.sh`: four items (a DAT with a clip, a lacquer disc with a declicked
//! access copy, an 8-track with a master per channel, a captured reel), two deep verifications,
//! and an open problem (a file no manifest lists). `expected/` holds what that release printed
//! for each command below over a copy of it, and its exit status. This version must print the
//! same bytes: the event log, the QC reports and the catalogue an archive already holds keep
//! working, and the serialised forms of the domain's words do not drift.
//!
//! To record the expectations of a new compatibility archive (once, with the release that wrote
//! it): `CAPSTAN_COMPAT_BIN=path/to/that/capstan CAPSTAN_COMPAT_WRITE=1 cargo test --release
//! --test compat`.

mod common;

use capstan::archive::events;
use common::{copy_dir, snapshot};
use std::path::{Path, PathBuf};
use std::process::Command;

const RELEASE: &str = "v0.1.0";

fn release_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/compat")
        .join(RELEASE)
}

/// The binary under test, or the old release's when expectations are being recorded.
fn capstan() -> Command {
    match std::env::var_os("CAPSTAN_COMPAT_BIN") {
        Some(bin) => {
            let mut c = Command::new(bin);
            c.env_remove("CAPSTAN_ARCHIVE");
            c
        }
        None => common::capstan(),
    }
}

/// Lines that name how long a run took differ from run to run; everything else must not.
fn steady(stdout: &[u8]) -> String {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter(|l| !l.trim_start().starts_with("\"seconds\":"))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Runs each command in order in a copy of the old archive (named `archive`, given relatively,
/// so the printed paths do not depend on where the copy is) and compares stdout and the exit
/// status with what the old release printed.
#[test]
fn an_archive_written_by_the_previous_release_reads_and_prints_as_it_did() {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&release_dir().join("archive"), &tmp.path().join("archive"));
    let expected = release_dir().join("expected");
    let write = std::env::var_os("CAPSTAN_COMPAT_WRITE").is_some();
    if write {
        std::fs::create_dir_all(&expected).unwrap();
    }
    let untouched = snapshot(&tmp.path().join("archive"));

    // Read-only first: these must also leave the archive as it was.
    let read_only: &[(&str, &[&str])] = &[
        ("report-json", &["report", "archive", "--json"]),
        ("report-text", &["report", "archive"]),
        ("log-json", &["log", "--archive", "archive", "--json"]),
        ("log-text", &["log", "--archive", "archive"]),
        (
            "log-item-json",
            &["log", "--archive", "archive", "tapes/dat-1", "--json"],
        ),
        (
            "log-item-text",
            &["log", "--archive", "archive", "discs/disc-1"],
        ),
        (
            "log-unknown-item",
            &["log", "--archive", "archive", "tapes/none"],
        ),
    ];
    // Then the ones that write: the catalogue rebuilt from the archive must say the same, and
    // a deep verification must find the same problem in the same words.
    let writing: &[(&str, &[&str])] = &[
        ("reindex", &["reindex", "--archive", "archive"]),
        (
            "report-after-reindex-json",
            &["report", "archive", "--json"],
        ),
        (
            "log-after-reindex-json",
            &["log", "--archive", "archive", "--json"],
        ),
        (
            "verify-deep-json",
            &["verify", "--deep", "archive", "--json"],
        ),
        (
            "verify-item-json",
            &["verify", "--deep", "archive/discs/disc-1", "--json"],
        ),
    ];
    let mut differ = Vec::new();
    for (i, (name, args)) in read_only.iter().chain(writing).enumerate() {
        let out = capstan()
            .args(*args)
            .current_dir(tmp.path())
            .env("SOURCE_DATE_EPOCH", "1795000000")
            .output()
            .unwrap();
        let got = format!(
            "exit {}\n{}",
            out.status.code().unwrap_or(-1),
            steady(&out.stdout)
        );
        let file = expected.join(format!("{name}.out"));
        if write {
            std::fs::write(&file, &got).unwrap();
            continue;
        }
        let want =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        if got != want {
            differ.push(format!(
                "{name} ({args:?}):\n--- {RELEASE} printed\n{want}\n--- this version printed\n{got}\nstderr: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        if i + 1 == read_only.len() {
            assert_eq!(
                snapshot(&tmp.path().join("archive")),
                untouched,
                "report and log write nothing into an old archive"
            );
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n\n"));
}

/// Every line of the old event log reads as an event and writes back as the same bytes.
#[test]
fn every_event_the_previous_release_logged_reads_and_writes_back_byte_identical() {
    let log = std::fs::read(release_dir().join("archive/.capstan/events.jsonl")).unwrap();
    let mut n = 0;
    for line in log.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let event = events::parse_line(line)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(line)));
        assert_eq!(
            serde_json::to_string(&event).unwrap().as_bytes(),
            line,
            "written back differently"
        );
        n += 1;
    }
    assert!(
        n > 40,
        "the old log holds the events of 4 items and 2 verifications: {n}"
    );
}

/// Every QC report the previous release wrote reads as a typed report and writes back as the
/// same bytes (its defect kinds, container and timecodes included).
#[test]
fn every_qc_report_the_previous_release_wrote_reads_and_writes_back_byte_identical() {
    let mut reports = Vec::new();
    let mut dirs = vec![release_dir().join("archive")];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.to_string_lossy().ends_with(".qc.json") {
                reports.push(p);
            }
        }
    }
    reports.sort();
    assert!(reports.len() >= 4, "{reports:?}");
    let mut kinds = std::collections::BTreeSet::new();
    for p in &reports {
        let bytes = std::fs::read(p).unwrap();
        let qc = capstan::report::QcReport::read(&bytes)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert_eq!(
            qc.to_json(),
            String::from_utf8(bytes).unwrap(),
            "{} written back differently",
            p.display()
        );
        for t in &qc.takes {
            for d in &t.defects {
                assert!(
                    !matches!(d.kind, capstan::report::DefectKind::Other(_)),
                    "{}: {}",
                    p.display(),
                    d.kind
                );
                kinds.insert(d.kind.to_string());
            }
        }
    }
    assert!(!kinds.is_empty(), "the old reports hold defects");
}
