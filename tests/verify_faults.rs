//! Fault injection for `capstan verify`: each test builds a small real archive with
//! `capstan ingest` (three items, two collections), injects one fault, checks with a tool
//! nobody here wrote that the fault is really there (`flac -t`, `metaflac`, `bagit.py
//! --validate`, a root process without its file-permission capabilities), then checks the
//! exact set of problems `capstan verify --json` reports (kind and full path; for damaged audio
//! the time, within one 4096-sample frame of the injected byte, located with `flac -a`), the exit
//! code, and that every untouched item passes.
//!
//! Hostile bags point manifest paths and links at FIFOs outside the archive: a FIFO records
//! any open (even a non-blocking one) and a blocking read of one would hang, so every run of
//! `capstan verify` has a time limit. Regular files outside carry an old access time that a
//! read would move.

mod common;

use common::*;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const RATE: u32 = 48_000;
const BITS: u16 = 24;
/// Ingest's masters use fixed blocks of this many samples.
const BLOCK: u64 = 4096;

/// (collection, item id, channels, seconds)
const ITEMS: [(&str, &str, u16, f64); 3] = [
    ("reels", "reel-a", 2, 20.0),
    ("reels", "reel-b", 2, 12.0),
    ("tapes", "tape-c", 1, 15.0),
];

/// An archive of the three ITEMS, made by `capstan ingest`, in its own temporary folder.
struct Fixture {
    tmp: tempfile::TempDir,
    archive: PathBuf,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    common::institution(&archive);
    for (collection, id, channels, seconds) in ITEMS {
        let wav = tmp.path().join(format!("{id}.wav"));
        write_wav(
            &wav,
            &WavSpec::pcm(channels, RATE, BITS),
            &signal(channels, RATE, BITS, seconds),
        );
        let profile = profile_for(tmp.path(), channels, RATE, BITS, "interleaved");
        let o = run(&mut ingest_command(
            &archive,
            &profile,
            id,
            collection,
            &[&wav],
            &[&format!("TITLE=Fixture {id}")],
        ));
        assert!(o.status.success(), "ingest {id}: {}", text(&o));
        std::fs::remove_file(&wav).unwrap();
    }
    Fixture { tmp, archive }
}

impl Fixture {
    fn bag(&self, id: &str) -> PathBuf {
        let (collection, ..) = ITEMS.iter().find(|i| i.1 == id).expect("a fixture item");
        self.archive.join(collection).join(id)
    }

    fn master(&self, id: &str) -> PathBuf {
        let m = masters(&self.bag(id));
        assert_eq!(m.len(), 1, "{id}: one master");
        m[0].clone()
    }

    /// A folder outside the archive, for hostile targets.
    fn outside(&self) -> PathBuf {
        let d = self.tmp.path().join("outside");
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}

// ---------------------------------------------------------------------------------------------
// Running verify

/// What one `capstan verify` run gave.
struct Verdict {
    code: i32,
    stdout: Vec<u8>,
    all: String,
}

impl Verdict {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "verify --json did not print one JSON object ({e}); exit {}:\n{}",
                self.code, self.all
            )
        })
    }
}

/// Runs `cmd`, killing it (and failing the test) if it is still running after a minute: a
/// verifier that blocks on a FIFO it should never have opened would otherwise hang the suite.
fn run_limited(mut cmd: Command) -> Verdict {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("could not start capstan");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(out) => {
            let out = out.unwrap();
            Verdict {
                code: out.status.code().unwrap_or(-1),
                all: text(&out),
                stdout: out.stdout,
            }
        }
        Err(_) => {
            // SAFETY: kill(2) on the pid of the child this test started and has not reaped.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            panic!("capstan verify still running after 60 s: it blocked (on a FIFO it opened?)");
        }
    }
}

fn verify_command(paths: &[&Path], flags: &[&str]) -> Command {
    let mut c = capstan();
    c.arg("verify").args(flags).args(paths);
    c
}

/// `capstan verify --json [--deep] PATH...`
fn verify(paths: &[&Path], deep: bool) -> (i32, Value) {
    let flags: &[&str] = if deep {
        &["--json", "--deep"]
    } else {
        &["--json"]
    };
    let v = run_limited(verify_command(paths, flags));
    let json = v.json();
    (v.code, json)
}

/// The text output (no --json).
fn verify_text(paths: &[&Path], deep: bool) -> Verdict {
    run_limited(verify_command(paths, if deep { &["--deep"] } else { &[] }))
}

/// A path as the report shows it: UTF-8 as is, other bytes as `\xHH`.
fn shown(path: &Path) -> String {
    let mut out = String::new();
    for chunk in path.as_os_str().as_bytes().utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02X}"));
        }
    }
    out
}

/// One expected problem: its kind and the path it must name.
struct Want {
    kind: &'static str,
    path: String,
}

fn want(kind: &'static str, path: &Path) -> Want {
    Want {
        kind,
        path: shown(path),
    }
}

/// Checks a `--json` report: the exact set of problems (kind and path, in any order), the exit
/// code and outcome that follow from them, the fields every problem must carry, and which bags
/// pass. `bags` are every bag the run covers; a bag fails exactly when some problem is in it.
/// `optional` problems may be present or not (where the contract leaves it open).
fn check_report(
    code: i32,
    report: &Value,
    deep: bool,
    bags: &[PathBuf],
    wanted: &[Want],
    optional: &[Want],
) -> Vec<Value> {
    let problems = report["problems"]
        .as_array()
        .unwrap_or_else(|| panic!("no problems array: {report:#}"))
        .clone();
    let key = |p: &Value| {
        (
            p["kind"].as_str().unwrap_or("?").to_string(),
            p["path"].as_str().unwrap_or("?").to_string(),
        )
    };
    let mut actual: Vec<(String, String)> = problems.iter().map(key).collect();
    actual.sort();
    let mut expected: Vec<(String, String)> = wanted
        .iter()
        .map(|w| (w.kind.to_string(), w.path.clone()))
        .collect();
    expected.sort();
    let mut unmatched = actual.clone();
    for e in &expected {
        match unmatched.iter().position(|a| a == e) {
            Some(i) => {
                unmatched.remove(i);
            }
            None => panic!(
                "expected problem {e:?} not reported (deep: {deep}); problems: {:#}",
                report["problems"]
            ),
        }
    }
    for a in &unmatched {
        assert!(
            optional.iter().any(|o| o.kind == a.0 && o.path == a.1),
            "unexpected problem {a:?} (deep: {deep}); expected only {expected:?}; report: {:#}",
            report["problems"]
        );
    }

    assert_eq!(report["version"], 1, "{report:#}");
    assert_eq!(report["deep"], deep, "{report:#}");
    let failed = !problems.is_empty();
    assert_eq!(code, i32::from(failed), "exit code; report: {report:#}");
    assert_eq!(
        report["outcome"],
        if failed { "fail" } else { "pass" },
        "{report:#}"
    );
    let summary = &report["summary"];
    assert_eq!(summary["problems"], problems.len(), "{summary:#}");
    assert_eq!(summary["bags"], bags.len(), "{summary:#}");
    assert!(summary["seconds"].as_f64().is_some(), "{summary:#}");

    for p in &problems {
        let kind = p["kind"].as_str().unwrap();
        assert!(
            p["detail"].as_str().is_some_and(|d| !d.trim().is_empty()),
            "every problem says what it is in words: {p:#}"
        );
        match kind {
            "audio_damaged" => assert!(
                p["damage"].as_array().is_some_and(|d| !d.is_empty()),
                "audio_damaged lists its damage: {p:#}"
            ),
            _ => assert!(
                p.get("damage").is_none(),
                "damage only on audio_damaged: {p:#}"
            ),
        }
        if kind != "moved" {
            assert!(
                p.get("moved_from").is_none(),
                "moved_from only on moved: {p:#}"
            );
        }
        // Which bag the problem is in: the one whose folder holds its path (or is it).
        let path = p["path"].as_str().unwrap();
        let bag = bags
            .iter()
            .map(|b| shown(b))
            .find(|b| path == b || path.starts_with(&format!("{b}/")));
        match bag {
            Some(b) => assert_eq!(p["bag"], b.as_str(), "{p:#}"),
            None => assert!(p["bag"].is_null(), "{p:#}"),
        }
    }

    let listed = report["bags"].as_array().expect("a bags array");
    assert_eq!(listed.len(), bags.len(), "{:#}", report["bags"]);
    for b in bags {
        let s = shown(b);
        let entry = listed
            .iter()
            .find(|e| e["path"] == s.as_str())
            .unwrap_or_else(|| panic!("bag {s} not in {:#}", report["bags"]));
        let has_problem = problems.iter().any(|p| p["bag"] == s.as_str());
        assert_eq!(
            entry["outcome"],
            if has_problem { "fail" } else { "pass" },
            "bag {s}: {entry:#}"
        );
        // The item: the bag's collection folder and its External-Identifier (null without
        // one; bag-info.txt that is not a regular file is never read, so left open then).
        let info = b.join("bag-info.txt");
        if info.symlink_metadata().is_ok_and(|m| m.is_file()) {
            let id = std::fs::read_to_string(&info)
                .unwrap()
                .lines()
                .find_map(|l| {
                    l.strip_prefix("External-Identifier:")
                        .map(|v| v.trim().to_string())
                });
            match id {
                Some(id) => {
                    let collection = shown(Path::new(b.parent().unwrap().file_name().unwrap()));
                    assert_eq!(entry["item"], format!("{collection}/{id}"), "{entry:#}");
                }
                None => assert!(entry["item"].is_null(), "{entry:#}"),
            }
        }
    }
    problems
}

/// The one problem of `kind` at `path`.
fn problem<'a>(problems: &'a [Value], kind: &str, path: &Path) -> &'a Value {
    let s = shown(path);
    problems
        .iter()
        .find(|p| p["kind"] == kind && p["path"] == s.as_str())
        .unwrap_or_else(|| panic!("no {kind} at {s} in {problems:#?}"))
}

fn bags(f: &Fixture) -> Vec<PathBuf> {
    ITEMS.iter().map(|i| f.bag(i.1)).collect()
}

/// Runs verify on the whole archive, plain and deep.
fn verify_archive_runs(f: &Fixture) -> [(i32, Value); 2] {
    [verify(&[&f.archive], false), verify(&[&f.archive], true)]
}

/// Checks both runs' reports against the same expectation; returns the deep run's problems.
fn check_archive_runs(
    f: &Fixture,
    runs: [(i32, Value); 2],
    wanted: &[Want],
    optional: &[Want],
) -> Vec<Value> {
    let all = bags(f);
    let [(code, plain), (deep_code, deep)] = runs;
    check_report(code, &plain, false, &all, wanted, optional);
    check_report(deep_code, &deep, true, &all, wanted, optional)
}

/// Runs verify on the whole archive, plain and deep, and checks both reports against the same
/// expectation; returns the deep run's problems.
fn verify_archive_both(f: &Fixture, wanted: &[Want], optional: &[Want]) -> Vec<Value> {
    check_archive_runs(f, verify_archive_runs(f), wanted, optional)
}

/// The text output names the problem in words on a line that also names its path.
fn assert_text_line(paths: &[&Path], words: &str, path: &Path) {
    let v = verify_text(paths, false);
    assert_eq!(v.code, 1, "{}", v.all);
    let s = shown(path);
    assert!(
        v.all
            .lines()
            .any(|l| l.trim_start().starts_with(words) && l.contains(&s)),
        "no line starting {words:?} naming {s} in:\n{}",
        v.all
    );
}

/// Whether `detail` says `line N` (and not `line N0`).
fn mentions_line(detail: &str, n: usize) -> bool {
    let needle = format!("line {n}");
    detail.match_indices(&needle).any(|(i, _)| {
        !detail[i + needle.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit())
    })
}

// ---------------------------------------------------------------------------------------------
// FLAC frames and damage

/// One frame of a FLAC file, as `flac -a` lists it.
#[derive(Debug, Clone, Copy)]
struct Frame {
    offset: u64,
    bytes: u64,
    first_sample: u64,
}

/// Every frame of `flac` by `flac -a` (run on a copy: it writes `<file>.ana` beside its input).
fn frames(flac: &Path, scratch: &Path) -> Vec<Frame> {
    std::fs::create_dir_all(scratch).unwrap();
    let copy = scratch.join("analysed.flac");
    std::fs::copy(flac, &copy).unwrap();
    let o = run(Command::new(tool("flac")).args(["-s", "-a"]).arg(&copy));
    assert!(o.status.success(), "flac -a: {}", text(&o));
    let ana = std::fs::read_to_string(scratch.join("analysed.ana")).unwrap();
    let mut out = Vec::new();
    let mut next_sample = 0u64;
    for line in ana.lines().filter(|l| l.starts_with("frame=")) {
        let field = |name: &str| -> u64 {
            line.split('\t')
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
                .unwrap_or_else(|| panic!("no {name} in {line:?}"))
                .parse()
                .unwrap()
        };
        let blocksize = field("blocksize");
        out.push(Frame {
            offset: field("offset"),
            bytes: field("bits") / 8,
            first_sample: next_sample,
        });
        next_sample += blocksize;
    }
    assert!(out.len() > 10, "flac -a found {} frames", out.len());
    out
}

fn flip_bit(file: &Path, offset: u64, mask: u8) {
    let mut b = std::fs::read(file).unwrap();
    b[offset as usize] ^= mask;
    std::fs::write(file, b).unwrap();
}

/// `hh:mm:ss.fff` in seconds.
fn seconds(time: &str) -> f64 {
    let parts: Vec<&str> = time.split(':').collect();
    assert_eq!(parts.len(), 3, "not hh:mm:ss.fff: {time:?}");
    let (s, ms) = parts[2]
        .split_once('.')
        .unwrap_or_else(|| panic!("not hh:mm:ss.fff: {time:?}"));
    assert_eq!(ms.len(), 3, "not hh:mm:ss.fff: {time:?}");
    parts[0].parse::<f64>().unwrap() * 3600.0
        + parts[1].parse::<f64>().unwrap() * 60.0
        + s.parse::<f64>().unwrap()
        + ms.parse::<f64>().unwrap() / 1000.0
}

/// The damage list locates the fault at `sample` (within one frame, by sample and by time):
/// some entry (of `kind`, if given) is there, and every located entry is there. An "MD5
/// mismatch" is about the whole stream, so it may sit anywhere.
fn assert_damage_at(p: &Value, sample: u64, kind: Option<&str>) {
    let damage = p["damage"].as_array().expect("damage listed");
    let near = |d: &Value| {
        let s = d["sample"].as_u64().unwrap_or(u64::MAX);
        let t = seconds(d["time"].as_str().expect("a time"));
        let want_t = sample as f64 / f64::from(RATE);
        s.abs_diff(sample) <= BLOCK
            && (t - want_t).abs() <= BLOCK as f64 / f64::from(RATE) + 0.001
            && (t - s as f64 / f64::from(RATE)).abs() <= 0.001
    };
    assert!(
        damage
            .iter()
            .any(|d| near(d) && kind.is_none_or(|k| d["kind"] == k)),
        "no {} damage within one frame of sample {sample} ({:.3} s): {p:#}",
        kind.unwrap_or("located"),
        sample as f64 / f64::from(RATE)
    );
    for d in damage {
        assert!(
            d["kind"] == "MD5 mismatch" || near(d),
            "damage reported away from the injected fault at sample {sample}: {p:#}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Bags and manifests

fn sha256(path: &Path) -> String {
    capstan::flac::hex(&Sha256::digest(std::fs::read(path).unwrap()))
}

/// The lines of a tag file.
fn lines_of(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

/// The 1-based line of `manifest` that lists `rel`.
fn manifest_line(manifest: &Path, rel: &str) -> usize {
    lines_of(manifest)
        .iter()
        .position(|l| {
            l.split_once(' ')
                .is_some_and(|(_, p)| p.trim_start() == rel)
        })
        .unwrap_or_else(|| panic!("{rel} not in {}", manifest.display()))
        + 1
}

/// Makes the tag manifest agree with the tag files as they are now: what a hostile or careless
/// bagger would hand over, consistent in itself.
fn resign_tags(bag: &Path) {
    let tm = bag.join("tagmanifest-sha256.txt");
    let lines: Vec<String> = lines_of(&tm)
        .iter()
        .map(|l| {
            let (_, p) = l.split_once(' ').unwrap();
            let p = p.trim_start();
            format!("{}  {p}", sha256(&bag.join(p)))
        })
        .collect();
    write_lines(&tm, &lines);
}

/// Makes the payload manifest's line for `rel` agree with the file as it is now, then the tag
/// manifest: the bag now says the file was always like this.
fn relist(bag: &Path, rel: &str) {
    let m = bag.join("manifest-sha256.txt");
    let digest = sha256(&bag.join(rel));
    let lines: Vec<String> = lines_of(&m)
        .into_iter()
        .map(|l| {
            if l.split_once(' ')
                .is_some_and(|(_, p)| p.trim_start() == rel)
            {
                format!("{digest}  {rel}")
            } else {
                l
            }
        })
        .collect();
    write_lines(&m, &lines);
    resign_tags(bag);
}

/// Adds `octets` bytes and `streams` files to the bag's Payload-Oxum.
fn grow_oxum(bag: &Path, octets: u64, streams: u64) {
    let info = bag.join("bag-info.txt");
    let lines: Vec<String> = lines_of(&info)
        .into_iter()
        .map(|l| match l.strip_prefix("Payload-Oxum: ") {
            Some(v) => {
                let (o, s) = v.split_once('.').unwrap();
                format!(
                    "Payload-Oxum: {}.{}",
                    o.parse::<u64>().unwrap() + octets,
                    s.parse::<u64>().unwrap() + streams
                )
            }
            None => l,
        })
        .collect();
    write_lines(&info, &lines);
}

// ---------------------------------------------------------------------------------------------
// Things outside the archive that must never be opened or read

/// A FIFO that tells whether anything opened it. A thread waits in a blocking open for
/// writing, which returns as soon as any reader opens the FIFO (even with O_NONBLOCK), and then
/// feeds it a few bytes, so a verifier that follows it does not hang but is caught.
struct Trap {
    path: PathBuf,
    thread: std::thread::JoinHandle<()>,
}

impl Trap {
    fn new(path: PathBuf) -> Trap {
        let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path and mode.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo");
        let p = path.clone();
        let thread = std::thread::spawn(move || {
            use std::io::Write;
            if let Ok(mut w) = std::fs::OpenOptions::new().write(true).open(&p) {
                let _ = w.write_all(b"fLaC, bait");
            }
        });
        Trap { path, thread }
    }

    /// Whether anything has opened the FIFO; releases the waiting thread.
    fn was_opened(self) -> bool {
        // A reader that opened it lets the writer's open return at once; give that thread a
        // moment to finish before looking.
        for _ in 0..50 {
            if self.thread.is_finished() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let opened = self.thread.is_finished();
        // Nothing did: open it ourselves, which lets the waiting writer go.
        let _release = (!opened).then(|| {
            std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&self.path)
                .unwrap()
        });
        self.thread.join().unwrap();
        opened
    }
}

/// A regular file outside the archive whose access time shows whether anyone read it.
struct Bait {
    path: PathBuf,
    content: Vec<u8>,
}

impl Bait {
    fn new(path: PathBuf, content: &[u8]) -> Bait {
        std::fs::write(&path, content).unwrap();
        let bait = Bait {
            path,
            content: content.to_vec(),
        };
        // Prove that a read shows on this file system (relatime updates an access time older
        // than the modification time); a noatime mount would make the check meaningless.
        bait.age();
        std::fs::read(&bait.path).unwrap();
        assert_ne!(
            bait.atime(),
            946_684_800,
            "reading {} did not move its access time: this file system cannot show a read",
            bait.path.display()
        );
        bait.age();
        bait
    }

    /// Access time 2000-01-01, modification time now.
    fn age(&self) {
        let c = std::ffi::CString::new(self.path.as_os_str().as_bytes()).unwrap();
        let times = [
            libc::timespec {
                tv_sec: 946_684_800,
                tv_nsec: 0,
            },
            libc::timespec {
                tv_sec: 0,
                tv_nsec: libc::UTIME_OMIT,
            },
        ];
        // SAFETY: a valid path and two timespecs.
        assert_eq!(
            unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), times.as_ptr(), 0) },
            0
        );
        assert_eq!(self.atime(), 946_684_800);
    }

    fn atime(&self) -> i64 {
        std::fs::metadata(&self.path).unwrap().atime()
    }

    fn assert_untouched(&self) {
        assert_eq!(
            self.atime(),
            946_684_800,
            "{} was read (its access time moved)",
            self.path.display()
        );
        assert_eq!(std::fs::read(&self.path).unwrap(), self.content);
    }
}

// ---------------------------------------------------------------------------------------------
// The tests

#[test]
fn an_untouched_archive_passes_plain_and_deep() {
    let f = fixture();
    for (_, id, ..) in ITEMS {
        assert_valid_bag(&f.bag(id));
        assert_flac_t(&f.master(id));
    }
    let all = bags(&f);
    for deep in [false, true] {
        let (code, report) = verify(&[&f.archive], deep);
        check_report(code, &report, deep, &all, &[], &[]);
        let payload_bytes: u64 = ITEMS
            .iter()
            .flat_map(|i| std::fs::read_dir(f.bag(i.1).join("data")).unwrap())
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum();
        assert!(
            report["summary"]["bytes"].as_u64().unwrap() >= payload_bytes,
            "every payload byte read: {:#}",
            report["summary"]
        );
        for b in report["bags"].as_array().unwrap() {
            assert!(b["files"].as_u64().unwrap() >= 2, "{b:#}");
        }
    }
    // One bag given as PATH, and two PATHs at once.
    let (code, report) = verify(&[&f.bag("tape-c")], false);
    check_report(code, &report, false, &[f.bag("tape-c")], &[], &[]);
    let (code, report) = verify(&[&f.bag("reel-a"), &f.bag("reel-b")], true);
    check_report(
        code,
        &report,
        true,
        &[f.bag("reel-a"), f.bag("reel-b")],
        &[],
        &[],
    );
    let v = verify_text(&[&f.archive], false);
    assert_eq!(v.code, 0, "{}", v.all);
}

#[test]
fn what_cannot_be_verified_exits_2_never_0() {
    let f = fixture();
    let nowhere = f.tmp.path().join("no-such-archive");
    let empty = f.tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let note = f.tmp.path().join("note.txt");
    std::fs::write(&note, "not an archive\n").unwrap();
    for paths in [
        vec![nowhere.as_path()],
        vec![f.archive.as_path(), nowhere.as_path()],
        vec![empty.as_path()],
        vec![note.as_path()],
    ] {
        for flags in [&["--json"][..], &[][..], &["--deep"][..]] {
            let v = run_limited(verify_command(&paths, flags));
            assert_eq!(v.code, 2, "verify {flags:?} {paths:?}: {}", v.all);
        }
    }
    let v = run_limited(verify_command(&[], &["--json"]));
    assert_eq!(v.code, 2, "no PATH: {}", v.all);
    let v = run_limited(verify_command(&[&f.archive], &["--jobs", "many"]));
    assert_eq!(v.code, 2, "--jobs many: {}", v.all);
}

#[test]
fn one_flipped_bit_is_audio_damage_at_its_frame() {
    let f = fixture();
    let m = f.master("reel-a");
    let fr = frames(&m, &f.tmp.path().join("ana"));
    let hit = fr[fr.len() * 3 / 5];
    flip_bit(&m, hit.offset + hit.bytes / 2, 0x10);
    assert_flac_t_fails(&m);
    assert_bagit_rejects(&f.bag("reel-a"));

    let problems = verify_archive_both(&f, &[want("audio_damaged", &m)], &[]);
    assert_damage_at(
        problem(&problems, "audio_damaged", &m),
        hit.first_sample,
        None,
    );
    let (_, plain) = verify(&[&f.archive], false);
    let p = problem(plain["problems"].as_array().unwrap(), "audio_damaged", &m);
    assert_damage_at(p, hit.first_sample, None);
    assert_text_line(&[&f.archive], "audio damaged", &m);
    // One reader thread finds the same.
    let one = run_limited(verify_command(&[&f.archive], &["--json", "--jobs", "1"]));
    assert_eq!(one.json()["problems"], plain["problems"]);
    let time = p["damage"][0]["time"].as_str().unwrap();
    let v = verify_text(&[&f.archive], false);
    assert!(
        v.all.contains(time),
        "the text gives the time {time}:\n{}",
        v.all
    );
}

#[test]
fn a_truncated_master_is_damage_from_its_first_missing_sample() {
    let f = fixture();
    let m = f.master("tape-c");
    let fr = frames(&m, &f.tmp.path().join("ana"));
    let cut = fr[fr.len() * 2 / 3];
    let file = std::fs::OpenOptions::new().write(true).open(&m).unwrap();
    file.set_len(cut.offset + cut.bytes / 3).unwrap();
    drop(file);
    assert_flac_t_fails(&m);

    let problems = verify_archive_both(
        &f,
        &[
            want("audio_damaged", &m),
            want("oxum_mismatch", &f.bag("tape-c")),
        ],
        &[],
    );
    assert_damage_at(
        problem(&problems, "audio_damaged", &m),
        cut.first_sample,
        Some("truncated"),
    );
}

#[test]
fn an_edited_vorbis_tag_is_metadata_changed_with_audio_intact() {
    let f = fixture();
    let m = f.master("reel-b");
    let size = std::fs::metadata(&m).unwrap().len();
    let o = run(Command::new(tool("metaflac"))
        .args(["--remove-tag=TITLE", "--set-tag=TITLE=Retitled by hand"])
        .arg(&m));
    assert!(o.status.success(), "metaflac: {}", text(&o));
    let o = run(Command::new(tool("metaflac"))
        .arg("--show-tag=TITLE")
        .arg(&m));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "TITLE=Retitled by hand"
    );
    assert_eq!(
        std::fs::metadata(&m).unwrap().len(),
        size,
        "metaflac wrote into the padding (same size, so Payload-Oxum still holds)"
    );
    assert_flac_t(&m);
    assert_bagit_rejects(&f.bag("reel-b"));

    verify_archive_both(&f, &[want("metadata_changed", &m)], &[]);
    assert_text_line(&[&f.archive], "metadata changed, audio intact", &m);
}

#[test]
fn a_deleted_payload_file_is_missing_and_breaks_the_oxum() {
    let f = fixture();
    let m = f.master("reel-b");
    std::fs::remove_file(&m).unwrap();
    assert_bagit_rejects(&f.bag("reel-b"));
    verify_archive_both(
        &f,
        &[want("missing", &m), want("oxum_mismatch", &f.bag("reel-b"))],
        &[],
    );
    assert_text_line(&[&f.archive], "missing", &m);
    // Paths are shown as found from PATH: a relative PATH gives relative paths.
    let v = run_limited({
        let mut c = verify_command(&[Path::new("archive")], &["--json"]);
        c.current_dir(f.tmp.path());
        c
    });
    let rel = |p: &Path| p.strip_prefix(f.tmp.path()).unwrap().to_path_buf();
    let relative_bags: Vec<PathBuf> = bags(&f).iter().map(|b| rel(b)).collect();
    check_report(
        v.code,
        &v.json(),
        false,
        &relative_bags,
        &[
            want("missing", &rel(&m)),
            want("oxum_mismatch", &rel(&f.bag("reel-b"))),
        ],
        &[],
    );
}

#[test]
fn an_extra_payload_file_is_unlisted_and_breaks_the_oxum() {
    let f = fixture();
    let extra = f.bag("tape-c").join("data/notes.txt");
    std::fs::write(&extra, "side B has a splice at 4:10\n").unwrap();
    assert_bagit_rejects(&f.bag("tape-c"));
    verify_archive_both(
        &f,
        &[
            want("unlisted", &extra),
            want("oxum_mismatch", &f.bag("tape-c")),
        ],
        &[],
    );
    assert_text_line(&[&f.archive], "unlisted", &extra);
}

#[test]
fn a_renamed_payload_file_is_one_moved_problem() {
    let f = fixture();
    let m = f.master("reel-a");
    let moved = f.bag("reel-a").join("data/side-1.flac");
    std::fs::rename(&m, &moved).unwrap();
    assert_bagit_rejects(&f.bag("reel-a"));
    let problems = verify_archive_both(&f, &[want("moved", &moved)], &[]);
    assert_eq!(
        problem(&problems, "moved", &moved)["moved_from"],
        shown(&m).as_str()
    );
    assert_text_line(&[&f.archive], "moved", &moved);

    // Renamed and changed (same size): not the same file, so missing and unlisted.
    let qc = f.bag("tape-c").join("data/tape-c.qc.json");
    let renamed = f.bag("tape-c").join("data/qc-edited.json");
    let mut bytes = std::fs::read(&qc).unwrap();
    bytes[1] = if bytes[1] == b' ' { b'\t' } else { b' ' };
    std::fs::write(&renamed, bytes).unwrap();
    std::fs::remove_file(&qc).unwrap();
    verify_archive_both(
        &f,
        &[
            want("moved", &moved),
            want("missing", &qc),
            want("unlisted", &renamed),
        ],
        &[],
    );
}

#[test]
fn a_corrupted_manifest_line_is_malformed_at_its_line() {
    let f = fixture();
    let bag = f.bag("reel-a");
    let manifest = bag.join("manifest-sha256.txt");
    let m = f.master("reel-a");
    let rel = format!("data/{}", m.file_name().unwrap().to_str().unwrap());
    let n = manifest_line(&manifest, &rel);
    // The line cut short mid-digest, as a torn write leaves it: no path can be read from it.
    let mut lines = lines_of(&manifest);
    lines[n - 1].truncate(40);
    write_lines(&manifest, &lines);
    assert_bagit_rejects(&bag);
    // In another bag, a bag-info.txt line that is neither `Label: value` nor a continuation.
    let info = f.bag("tape-c").join("bag-info.txt");
    let mut lines = lines_of(&info);
    lines.insert(2, "Recorded at the studio, side A only".into());
    write_lines(&info, &lines);

    let problems = verify_archive_both(
        &f,
        &[
            want("manifest_malformed", &manifest),
            // The tag manifest still holds the manifest's old digest...
            want("digest_mismatch", &manifest),
            // ...and the master is now in no manifest.
            want("unlisted", &m),
            want("manifest_malformed", &info),
            want("digest_mismatch", &info),
        ],
        &[],
    );
    let p = problem(&problems, "manifest_malformed", &manifest);
    assert!(
        mentions_line(p["detail"].as_str().unwrap(), n),
        "detail names line {n}: {p:#}"
    );
    let p = problem(&problems, "manifest_malformed", &info);
    assert!(
        mentions_line(p["detail"].as_str().unwrap(), 3),
        "detail names line 3: {p:#}"
    );
}

#[test]
fn edited_non_flac_files_are_digest_mismatches() {
    let f = fixture();
    // A payload file: one digit of the QC report changed, same size.
    let qc = f.bag("reel-a").join("data/reel-a.qc.json");
    let mut report = std::fs::read(&qc).unwrap();
    let at = report.iter().rposition(u8::is_ascii_digit).unwrap();
    report[at] = if report[at] == b'7' { b'8' } else { b'7' };
    std::fs::write(&qc, &report).unwrap();
    // A tag file: bag-info.txt with a field edited, listed in the tag manifest.
    let info = f.bag("tape-c").join("bag-info.txt");
    let edited = std::fs::read_to_string(&info)
        .unwrap()
        .replace("External-Description: ", "External-Description: (edited) ");
    assert_ne!(edited, std::fs::read_to_string(&info).unwrap());
    std::fs::write(&info, edited).unwrap();
    assert_bagit_rejects(&f.bag("reel-a"));
    assert_bagit_rejects(&f.bag("tape-c"));

    verify_archive_both(
        &f,
        &[want("digest_mismatch", &qc), want("digest_mismatch", &info)],
        &[],
    );
    assert_text_line(&[&f.archive], "digest mismatch", &qc);
}

#[test]
fn non_utf8_file_names_are_reported_with_hex_escapes() {
    let f = fixture();
    // An extra file with a Latin-1 name in one bag...
    let extra = f
        .bag("reel-b")
        .join(OsStr::from_bytes(b"data/Caf\xe9 notes.txt"));
    std::fs::write(&extra, "recorded at the caf\u{e9}\n").unwrap();
    // ...and a master renamed to a name with a stray byte in another.
    let m = f.master("tape-c");
    let mut name = OsString::from("data/").into_vec();
    name.extend_from_slice(b"tape-c_pm\xff.flac");
    let renamed = f.bag("tape-c").join(OsString::from_vec(name));
    std::fs::rename(&m, &renamed).unwrap();
    assert!(shown(&extra).ends_with("/data/Caf\\xE9 notes.txt"));
    assert!(shown(&renamed).ends_with("/data/tape-c_pm\\xFF.flac"));

    let problems = verify_archive_both(
        &f,
        &[
            want("unlisted", &extra),
            want("oxum_mismatch", &f.bag("reel-b")),
            want("moved", &renamed),
        ],
        &[],
    );
    assert_eq!(
        problem(&problems, "moved", &renamed)["moved_from"],
        shown(&m).as_str()
    );
    let v = verify_text(&[&f.archive], false);
    assert_eq!(v.code, 1);
    assert!(v.all.contains("tape-c_pm\\xFF.flac"), "{}", v.all);

    // The same faults in an archive whose own folder name is not UTF-8.
    let moved_archive = f.tmp.path().join(OsStr::from_bytes(b"ar\xe7hive"));
    std::fs::rename(&f.archive, &moved_archive).unwrap();
    let at = |p: &Path| moved_archive.join(p.strip_prefix(&f.archive).unwrap());
    let all: Vec<PathBuf> = bags(&f).iter().map(|b| at(b)).collect();
    assert!(shown(&all[0]).contains("/ar\\xE7hive/reels/reel-a"));
    for deep in [false, true] {
        let (code, report) = verify(&[&moved_archive], deep);
        let problems = check_report(
            code,
            &report,
            deep,
            &all,
            &[
                want("unlisted", &at(&extra)),
                want("oxum_mismatch", &at(&f.bag("reel-b"))),
                want("moved", &at(&renamed)),
            ],
            &[],
        );
        assert_eq!(
            problem(&problems, "moved", &at(&renamed))["moved_from"],
            shown(&at(&m)).as_str()
        );
    }
}

/// `capstan verify` as root without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH, so that file
/// permissions hold for it as they would for any other user. (Root ignores permissions, and
/// the tests run as root; dropping the two capabilities from the bounding set before exec is
/// what makes a mode-000 file really unreadable, the way an archive's files are for a user
/// without rights to them.)
fn without_dac_override(mut cmd: Command) -> Command {
    // SAFETY: prctl(2) only, between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            // CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (linux/capability.h).
            for cap in [1, 2] {
                if libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 {
                    let e = std::io::Error::last_os_error();
                    // Not root: permissions hold anyway.
                    if e.raw_os_error() != Some(libc::EPERM) {
                        return Err(e);
                    }
                }
            }
            Ok(())
        });
    }
    cmd
}

#[test]
fn a_master_without_read_permission_is_unreadable_with_the_os_error() {
    let f = fixture();
    let m = f.master("reel-a");
    std::fs::set_permissions(&m, std::fs::Permissions::from_mode(0o000)).unwrap();
    // The injection holds: the same unprivileged root cannot read it.
    let o = without_dac_override({
        let mut c = Command::new("head");
        c.args(["-c", "4"]).arg(&m);
        c
    })
    .output()
    .unwrap();
    assert!(
        !o.status.success() && text(&o).contains("Permission denied"),
        "dropping CAP_DAC_OVERRIDE did not make the file unreadable: {}",
        text(&o)
    );

    let all = bags(&f);
    for deep in [false, true] {
        let mut flags = vec!["--json"];
        if deep {
            flags.push("--deep");
        }
        let v = run_limited(without_dac_override(verify_command(&[&f.archive], &flags)));
        let report = v.json();
        let problems = check_report(v.code, &report, deep, &all, &[want("unreadable", &m)], &[]);
        let detail = problem(&problems, "unreadable", &m)["detail"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            detail.contains("Permission denied") || detail.contains("os error 13"),
            "the OS error is given: {detail}"
        );
    }
    std::fs::set_permissions(&m, std::fs::Permissions::from_mode(0o644)).unwrap();
}

#[test]
fn a_fifo_in_place_of_a_master_is_unreadable_and_never_blocks() {
    let f = fixture();
    let m = f.master("reel-b");
    std::fs::remove_file(&m).unwrap();
    let c = std::ffi::CString::new(m.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path and mode.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    // No writer: a blocking open for reading would wait forever (run_limited fails the test).
    verify_archive_both(
        &f,
        &[want("unreadable", &m)],
        // A FIFO holds no octets: whether Payload-Oxum is then called wrong is left open.
        &[want("oxum_mismatch", &f.bag("reel-b"))],
    );
}

#[test]
fn manifest_paths_that_leave_the_bag_are_unsafe_and_never_opened() {
    let f = fixture();
    let outside = f.outside();
    let trap = Trap::new(outside.join("pipe.flac"));
    let bait = Bait::new(outside.join("secret.txt"), b"root:x:0:0::/root:/bin/sh\n");
    let bag = f.bag("reel-b");
    let manifest = bag.join("manifest-sha256.txt");
    // From reel-b, ../../../ is the fixture's temporary folder, which holds outside/.
    let hostile = [
        format!(
            "{}  ../../../outside/secret.txt",
            capstan::flac::hex(&Sha256::digest(&bait.content))
        ),
        format!(
            "{}  {}",
            capstan::flac::hex(&Sha256::digest(b"")),
            trap.path.display()
        ),
        format!(
            "{}  data/../../../../outside/pipe.flac",
            capstan::flac::hex(&Sha256::digest(b"fLaC, bait"))
        ),
    ];
    let mut lines = lines_of(&manifest);
    let first = lines.len() + 1;
    lines.extend(hostile.iter().cloned());
    write_lines(&manifest, &lines);
    resign_tags(&bag);
    assert!(trap.path.is_absolute());

    // The outside is looked at first: having opened it is worse than any wrong report.
    let runs = verify_archive_runs(&f);
    assert!(
        !trap.was_opened(),
        "verify opened a FIFO outside the archive"
    );
    bait.assert_untouched();
    let problems = check_archive_runs(
        &f,
        runs,
        &[
            want("unsafe_path", &manifest),
            want("unsafe_path", &manifest),
            want("unsafe_path", &manifest),
        ],
        &[],
    );
    for (i, line) in hostile.iter().enumerate() {
        let written = line.split_once("  ").unwrap().1;
        assert!(
            problems.iter().any(|p| {
                let d = p["detail"].as_str().unwrap();
                d.contains(written) && mentions_line(d, first + i)
            }),
            "no unsafe_path naming {written:?} at line {}: {problems:#?}",
            first + i
        );
    }
}

#[test]
fn links_inside_bags_are_reported_and_never_followed() {
    let f = fixture();
    let outside = f.outside();
    let trap = Trap::new(outside.join("pipe.flac"));
    // A copy of a real master: a verifier that followed the link would find it intact.
    let bait = Bait::new(
        outside.join("reel-a_pm.flac"),
        &std::fs::read(f.master("reel-a")).unwrap(),
    );
    let more = outside.join("more");
    std::fs::create_dir(&more).unwrap();
    let deep_trap = Trap::new(more.join("take-2.flac"));

    // reel-b: a listed payload file that is a link to the bait, with the manifest, the
    // Payload-Oxum and the tag manifest all made to agree with the bait's content.
    let b = f.bag("reel-b");
    let listed_link = b.join("data/reel-b_pm_p02.flac");
    std::os::unix::fs::symlink(&bait.path, &listed_link).unwrap();
    let m = b.join("manifest-sha256.txt");
    let mut lines = lines_of(&m);
    lines.push(format!(
        "{}  data/reel-b_pm_p02.flac",
        capstan::flac::hex(&Sha256::digest(&bait.content))
    ));
    write_lines(&m, &lines);
    grow_oxum(&b, bait.content.len() as u64, 1);
    resign_tags(&b);
    // bagit.py resolves the link and calls the path unsafe.
    assert_bagit_rejects(&b);
    bait.age();
    // reel-b also gets an unlisted link to the FIFO, and a tag file that is one.
    let pipe_link = b.join("data/pipe.flac");
    std::os::unix::fs::symlink(&trap.path, &pipe_link).unwrap();
    let tag_link = b.join("transfer-notes.txt");
    std::os::unix::fs::symlink(&trap.path, &tag_link).unwrap();
    // tape-c: a link to a folder outside holding another FIFO named like a master.
    let dir_link = f.bag("tape-c").join("data/more");
    std::os::unix::fs::symlink(&more, &dir_link).unwrap();

    let runs = verify_archive_runs(&f);
    assert!(!trap.was_opened(), "verify opened a FIFO through a link");
    assert!(
        !deep_trap.was_opened(),
        "verify walked into a linked folder and opened a FIFO there"
    );
    bait.assert_untouched();
    let problems = check_archive_runs(
        &f,
        runs,
        &[
            want("symlink", &listed_link),
            want("symlink", &pipe_link),
            want("symlink", &tag_link),
            want("symlink", &dir_link),
        ],
        // Links hold no payload octets; whether Payload-Oxum is then called wrong is left open.
        &[
            want("oxum_mismatch", &b),
            want("oxum_mismatch", &f.bag("tape-c")),
        ],
    );
    assert_eq!(
        problems.iter().filter(|p| p["kind"] == "symlink").count(),
        4
    );
}

#[test]
fn a_folder_of_flac_files_is_decoded_and_damage_located() {
    let f = fixture();
    let loose = f.tmp.path().join("loose");
    std::fs::create_dir(&loose).unwrap();
    let mut copies = Vec::new();
    for (_, id, ..) in ITEMS {
        let m = f.master(id);
        let c = loose.join(m.file_name().unwrap());
        std::fs::copy(&m, &c).unwrap();
        copies.push(c);
    }
    let (code, report) = verify(&[&loose], false);
    check_report(code, &report, false, &[], &[], &[]);

    let bad = &copies[2]; // the mono one
    let fr = frames(bad, &f.tmp.path().join("ana"));
    let hit = fr[fr.len() / 4];
    flip_bit(bad, hit.offset + hit.bytes / 3, 0x02);
    assert_flac_t_fails(bad);
    for deep in [false, true] {
        let (code, report) = verify(&[&loose], deep);
        let problems = check_report(code, &report, deep, &[], &[want("audio_damaged", bad)], &[]);
        assert_damage_at(
            problem(&problems, "audio_damaged", bad),
            hit.first_sample,
            None,
        );
    }
}

#[test]
fn deep_catches_a_master_damaged_before_it_was_bagged() {
    let f = fixture();
    let m = f.master("reel-a");
    let fr = frames(&m, &f.tmp.path().join("ana"));
    let hit = fr[fr.len() / 3];
    flip_bit(&m, hit.offset + hit.bytes * 2 / 3, 0x01);
    relist(&f.bag("reel-a"), "data/reel-a_pm.flac");
    assert_valid_bag(&f.bag("reel-a")); // the digests agree with the damaged file
    assert_flac_t_fails(&m);

    let all = bags(&f);
    let (code, report) = verify(&[&f.archive], false);
    check_report(code, &report, false, &all, &[], &[]); // hashes only: nothing to see
    let (code, report) = verify(&[&f.archive], true);
    let problems = check_report(code, &report, true, &all, &[want("audio_damaged", &m)], &[]);
    assert_damage_at(
        problem(&problems, "audio_damaged", &m),
        hit.first_sample,
        None,
    );
}

#[test]
fn deep_reports_a_master_bagged_with_its_md5_unset() {
    let f = fixture();
    let m = f.master("tape-c");
    let mut bytes = std::fs::read(&m).unwrap();
    // STREAMINFO: "fLaC", a 4-byte block header, 18 bytes, then the 16-byte MD5.
    bytes[26..42].fill(0);
    std::fs::write(&m, &bytes).unwrap();
    relist(&f.bag("tape-c"), "data/tape-c_pm.flac");
    let o = run(Command::new(tool("metaflac")).arg("--show-md5sum").arg(&m));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "0".repeat(32),
        "{}",
        text(&o)
    );

    let all = bags(&f);
    let (code, report) = verify(&[&f.archive], false);
    check_report(code, &report, false, &all, &[], &[]);
    let (code, report) = verify(&[&f.archive], true);
    check_report(code, &report, true, &all, &[want("md5_unset", &m)], &[]);
}

#[test]
fn a_payload_folder_without_read_permission_is_unreadable_not_missing() {
    let f = fixture();
    let data = f.bag("reel-b").join("data");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o000)).unwrap();
    let all = bags(&f);
    for deep in [false, true] {
        let mut flags = vec!["--json"];
        if deep {
            flags.push("--deep");
        }
        let v = run_limited(without_dac_override(verify_command(&[&f.archive], &flags)));
        // Whether the files in it are there cannot be known: unreadable, never "missing",
        // never a pass. Payload-Oxum cannot be checked either, so a mismatch is left open.
        check_report(
            v.code,
            &v.json(),
            deep,
            &all,
            &[want("unreadable", &data)],
            &[want("oxum_mismatch", &f.bag("reel-b"))],
        );
    }
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_tag_file_that_is_a_link_is_reported_and_never_read() {
    let f = fixture();
    let trap = Trap::new(f.outside().join("bag-info.txt"));
    let info = f.bag("reel-a").join("bag-info.txt");
    std::fs::remove_file(&info).unwrap();
    std::os::unix::fs::symlink(&trap.path, &info).unwrap();
    let runs = verify_archive_runs(&f);
    assert!(
        !trap.was_opened(),
        "verify read bag-info.txt through a link"
    );
    check_archive_runs(&f, runs, &[want("symlink", &info)], &[]);
}

#[test]
fn links_above_the_bags_are_reported_and_never_followed() {
    let f = fixture();
    // Outside: a copy of a bag whose master is a FIFO, and a collection of such bags.
    let outside = f.outside();
    let copy = outside.join("reel-z");
    std::fs::create_dir_all(copy.join("data")).unwrap();
    for name in [
        "bagit.txt",
        "bag-info.txt",
        "manifest-sha256.txt",
        "tagmanifest-sha256.txt",
    ] {
        std::fs::copy(f.bag("reel-b").join(name), copy.join(name)).unwrap();
    }
    let trap = Trap::new(copy.join("data/reel-b_pm.flac"));
    // ARCHIVE/reels/reel-z -> a bag outside; ARCHIVE/elsewhere -> a collection outside.
    let bag_link = f.archive.join("reels/reel-z");
    std::os::unix::fs::symlink(&copy, &bag_link).unwrap();
    let collection_link = f.archive.join("elsewhere");
    std::os::unix::fs::symlink(&outside, &collection_link).unwrap();

    let runs = verify_archive_runs(&f);
    assert!(
        !trap.was_opened(),
        "verify followed a link out of the archive"
    );
    // The links are in the archive but in no bag: reported all the same (bag null).
    check_archive_runs(
        &f,
        runs,
        &[
            want("symlink", &bag_link),
            want("symlink", &collection_link),
        ],
        &[],
    );
}

#[test]
fn links_in_a_folder_of_flac_files_are_reported_and_never_followed() {
    let f = fixture();
    let loose = f.tmp.path().join("loose");
    std::fs::create_dir(&loose).unwrap();
    let good = loose.join("reel-a_pm.flac");
    std::fs::copy(f.master("reel-a"), &good).unwrap();
    let trap = Trap::new(f.outside().join("pipe.flac"));
    let link = loose.join("side-2.flac");
    std::os::unix::fs::symlink(&trap.path, &link).unwrap();
    let runs = [verify(&[&loose], false), verify(&[&loose], true)];
    assert!(!trap.was_opened(), "verify followed a link to a FIFO");
    for ((code, report), deep) in runs.iter().zip([false, true]) {
        check_report(*code, report, deep, &[], &[want("symlink", &link)], &[]);
    }
}

#[test]
fn malformed_bags_are_reported_at_the_bag_folder() {
    let f = fixture();
    // reel-a: a bagit.txt without a valid version, the tag manifest made to agree.
    let a = f.bag("reel-a");
    let bagit = std::fs::read_to_string(a.join("bagit.txt")).unwrap();
    assert!(bagit.contains("BagIt-Version: 1.0"), "{bagit}");
    std::fs::write(
        a.join("bagit.txt"),
        bagit.replace("BagIt-Version: 1.0", "BagIt-Version: one"),
    )
    .unwrap();
    resign_tags(&a);
    assert_bagit_rejects(&a);
    // reels/half: a folder that has a bagit.txt and nothing else: no payload manifest.
    let half = f.archive.join("reels/half");
    std::fs::create_dir(&half).unwrap();
    std::fs::write(half.join("bagit.txt"), bagit).unwrap();
    assert_bagit_rejects(&half);

    let mut all = bags(&f);
    all.push(half.clone());
    all.sort();
    for deep in [false, true] {
        let (code, report) = verify(&[&f.archive], deep);
        check_report(
            code,
            &report,
            deep,
            &all,
            &[want("bag_malformed", &a), want("bag_malformed", &half)],
            &[],
        );
    }
}

#[test]
fn the_traps_notice_an_open_and_a_read() {
    let tmp = tempfile::tempdir().unwrap();
    let trap = Trap::new(tmp.path().join("pipe"));
    let reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&trap.path)
        .unwrap();
    assert!(trap.was_opened(), "a non-blocking open was not noticed");
    drop(reader);
    let untouched = Trap::new(tmp.path().join("pipe2"));
    assert!(!untouched.was_opened());
    let bait = Bait::new(tmp.path().join("bait"), b"secret");
    std::fs::read(&bait.path).unwrap();
    let read = std::panic::catch_unwind(|| bait.assert_untouched());
    assert!(read.is_err(), "a read was not noticed");
}

#[test]
fn a_bag_made_by_bagit_py_verifies_and_its_faults_are_found() {
    let f = fixture();
    // A bag from elsewhere: bagit.py's own layout (SHA-256 and SHA-512 manifests, tag manifests
    // with one space, no External-Identifier), names with spaces and `%`, a nested folder.
    let bag = f.tmp.path().join("incoming/Reel F");
    std::fs::create_dir_all(bag.join("notes")).unwrap();
    let master = bag.join("Reel F side A.flac");
    std::fs::copy(f.master("reel-a"), &master).unwrap();
    std::fs::write(bag.join("notes/50% done.txt"), "second half still to do\n").unwrap();
    let o = run(Command::new(tool("bagit.py"))
        .args(["--quiet", "--sha256", "--sha512"])
        .arg(&bag));
    assert!(o.status.success(), "bagit.py: {}", text(&o));
    assert_valid_bag(&bag);
    let master = bag.join("data/Reel F side A.flac");
    let note = bag.join("data/notes/50% done.txt");
    assert!(master.is_file() && note.is_file());
    for deep in [false, true] {
        let (code, report) = verify(&[&bag], deep);
        check_report(code, &report, deep, std::slice::from_ref(&bag), &[], &[]);
        assert!(report["bags"][0]["item"].is_null(), "{report:#}");
    }

    let fr = frames(&master, &f.tmp.path().join("ana"));
    let hit = fr[fr.len() / 2];
    flip_bit(&master, hit.offset + hit.bytes / 2, 0x40);
    assert_flac_t_fails(&master);
    std::fs::remove_file(&note).unwrap();
    assert_bagit_rejects(&bag);
    for deep in [false, true] {
        let (code, report) = verify(&[&bag], deep);
        // Both manifests disagree with the master: still one problem for it.
        let problems = check_report(
            code,
            &report,
            deep,
            std::slice::from_ref(&bag),
            &[
                want("audio_damaged", &master),
                want("missing", &note),
                want("oxum_mismatch", &bag),
            ],
            &[],
        );
        assert_damage_at(
            problem(&problems, "audio_damaged", &master),
            hit.first_sample,
            None,
        );
    }
}
