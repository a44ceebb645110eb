//! The archive is a confined tree: an archive whose own folders, bags or files were replaced by
//! a symbolic link (to a decoy outside the archive), a FIFO or a folder/file of the wrong kind.
//! Every command is run on the real binary with a time limit (a blocking open fails the test
//! instead of hanging it), and each case asserts the exit code, that the message names the
//! path, and that the decoy outside the archive is exactly as it was.

mod common;
use common::*;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Far more than any of these commands needs on a one-second item; a command that blocks on a
/// FIFO never ends, so reaching it means it blocked.
const LIMIT: Duration = Duration::from_secs(30);

/// Runs `cmd`, killing it and failing the test if it has not ended within [`LIMIT`].
fn run_limited(cmd: &mut Command, what: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("could not start capstan");
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{what}: still running after {LIMIT:?} (blocked on a FIFO?): {}",
                String::from_utf8_lossy(&std::fs::read(&err).unwrap())
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: std::fs::read(&out).unwrap(),
        stderr: std::fs::read(&err).unwrap(),
    }
}

fn mkfifo(path: &Path) {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(
        unsafe { libc::mkfifo(c.as_ptr(), 0o644) },
        0,
        "{}",
        path.display()
    );
}

/// A scratch folder holding an archive with one good item (`c/one`), a take to ingest, its
/// profile, and a decoy folder outside the archive (files, a subfolder, a FIFO, and names a
/// staging folder would hold).
struct Fixture {
    tmp: tempfile::TempDir,
    archive: PathBuf,
    profile: PathBuf,
    wav: PathBuf,
    decoy: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let archive = tmp.path().join("archive");
        common::institution(&archive);
        let profile = profile_for(tmp.path(), 1, 48_000, 16, "interleaved");
        let wav = tmp.path().join("take.wav");
        write_wav(
            &wav,
            &WavSpec::pcm(1, 48_000, 16),
            &signal(1, 48_000, 16, 1.0),
        );
        let o = run(&mut ingest_command(
            &archive,
            &profile,
            "one",
            "c",
            &[&wav],
            &["TITLE=one"],
        ));
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let decoy = tmp.path().join("decoy");
        std::fs::create_dir_all(decoy.join("inner")).unwrap();
        std::fs::write(decoy.join("precious.txt"), b"not the archive's").unwrap();
        std::fs::write(decoy.join("inner/deep.txt"), b"deeper").unwrap();
        std::fs::write(decoy.join("c__x.1.1"), b"looks like a staging folder").unwrap();
        std::fs::write(decoy.join("c__x.1.1.lock"), b"").unwrap();
        mkfifo(&decoy.join("pipe"));
        Fixture {
            tmp,
            archive,
            profile,
            wav,
            decoy,
        }
    }

    /// Replaces `rel` in the archive (removing what is there) with `with`.
    fn replace(&self, rel: &str, with: Replacement) -> PathBuf {
        let p = self.archive.join(rel);
        match p.symlink_metadata() {
            Ok(m) if m.is_dir() => std::fs::remove_dir_all(&p).unwrap(),
            Ok(_) => std::fs::remove_file(&p).unwrap(),
            Err(_) => {}
        }
        match with {
            Replacement::LinkToDecoyFolder => symlink(&self.decoy, &p).unwrap(),
            Replacement::LinkToDecoyFile => symlink(self.decoy.join("precious.txt"), &p).unwrap(),
            Replacement::LinkToDecoyFifo => symlink(self.decoy.join("pipe"), &p).unwrap(),
            Replacement::Fifo => mkfifo(&p),
            Replacement::Folder => std::fs::create_dir(&p).unwrap(),
            Replacement::File => std::fs::write(&p, b"a file where a folder belongs").unwrap(),
        }
        p
    }

    fn ingest(&self, id: &str) -> Command {
        self.ingest_into("c", id)
    }

    fn ingest_into(&self, collection: &str, id: &str) -> Command {
        ingest_command(
            &self.archive,
            &self.profile,
            id,
            collection,
            &[&self.wav],
            &["TITLE=two"],
        )
    }

    fn verify(&self) -> Command {
        let mut c = capstan();
        c.arg("verify").arg(&self.archive);
        c
    }

    fn watch_once(&self) -> Command {
        let mut c = capstan();
        c.arg("watch").arg(&self.archive).arg("--once");
        c
    }

    fn report(&self) -> Command {
        let mut c = capstan();
        c.arg("report").arg(&self.archive);
        c
    }

    /// A short take from the built-in demo tape (no audio device needed).
    fn capture(&self) -> Command {
        let mut c = capstan();
        c.args(["capture", "--device", "demo"])
            .args(["--profile", "quarter-inch-half-track-stereo"])
            .args(["--id", "take", "--collection", "c", "--duration", "300ms"])
            .args([
                "--meta",
                "TITLE=take",
                "--meta",
                "TAPE_SPEED=7.5",
                "--archive",
            ])
            .arg(&self.archive);
        c
    }

    fn reindex(&self) -> Command {
        let mut c = capstan();
        c.arg("reindex").arg("--archive").arg(&self.archive);
        c
    }

    fn log(&self) -> Command {
        let mut c = capstan();
        c.arg("log").arg("--archive").arg(&self.archive);
        c
    }

    fn recover(&self) -> Command {
        let mut c = capstan();
        c.arg("recover").arg("--archive").arg(&self.archive);
        c
    }
}

#[derive(Debug, Clone, Copy)]
enum Replacement {
    LinkToDecoyFolder,
    LinkToDecoyFile,
    /// A link to the decoy's FIFO: opening it for reading or writing would block.
    LinkToDecoyFifo,
    Fifo,
    Folder,
    File,
}

/// For one of the archive's own folders or files replaced each way: every command refuses
/// with exit 2 and a message naming it, nothing blocks, and the decoy is untouched.
fn own_path_is_refused_by_every_command(rel: &str, replacements: &[Replacement]) {
    for &with in replacements {
        let f = Fixture::new();
        let before = snapshot(&f.decoy);
        let path = f.replace(rel, with);
        let commands: [(&str, Command); 8] = [
            ("reindex", f.reindex()),
            ("log", f.log()),
            ("ingest", f.ingest("two")),
            ("capture", f.capture()),
            ("verify", f.verify()),
            ("watch --once", f.watch_once()),
            ("report", f.report()),
            ("recover", f.recover()),
        ];
        for (name, mut cmd) in commands {
            let what = format!("{rel} as {with:?}: {name}");
            let o = run_limited(&mut cmd, &what);
            let t = text(&o);
            assert_eq!(o.status.code(), Some(2), "{what}: {t}");
            assert!(t.contains(&path.display().to_string()), "{what}: {t}");
            assert_eq!(snapshot(&f.decoy), before, "{what}: the decoy changed");
        }
        // Nothing was ingested or captured through it, and the item there is intact.
        assert!(!f.archive.join("c/two").exists(), "{rel} as {with:?}");
        assert!(!f.archive.join("c/take").exists(), "{rel} as {with:?}");
        assert_valid_bag(&f.archive.join("c/one"));
        drop(f.tmp);
    }
}

#[test]
fn a_staging_folder_that_is_a_link_is_refused_and_what_it_points_to_is_never_removed() {
    own_path_is_refused_by_every_command(
        ".capstan/staging",
        &[
            Replacement::LinkToDecoyFolder,
            Replacement::Fifo,
            Replacement::File,
        ],
    );
}

#[test]
fn a_journal_folder_that_is_a_link_a_fifo_or_a_file_is_refused() {
    own_path_is_refused_by_every_command(
        ".capstan/journal",
        &[
            Replacement::LinkToDecoyFolder,
            Replacement::Fifo,
            Replacement::File,
        ],
    );
}

#[test]
fn a_pending_folder_that_is_a_link_a_fifo_or_a_file_is_refused() {
    own_path_is_refused_by_every_command(
        ".capstan/pending",
        &[
            Replacement::LinkToDecoyFolder,
            Replacement::Fifo,
            Replacement::File,
        ],
    );
}

#[test]
fn a_capstan_folder_that_is_a_link_a_fifo_or_a_file_is_refused() {
    own_path_is_refused_by_every_command(
        ".capstan",
        &[
            Replacement::LinkToDecoyFolder,
            Replacement::Fifo,
            Replacement::File,
        ],
    );
}

#[test]
fn an_event_log_that_is_a_link_a_fifo_or_a_folder_is_refused() {
    own_path_is_refused_by_every_command(
        ".capstan/events.jsonl",
        &[
            Replacement::LinkToDecoyFile,
            Replacement::LinkToDecoyFifo,
            Replacement::Fifo,
            Replacement::Folder,
        ],
    );
}

#[test]
fn a_catalogue_that_is_a_link_a_fifo_or_a_folder_is_refused() {
    own_path_is_refused_by_every_command(
        ".capstan/catalogue.sqlite",
        &[
            Replacement::LinkToDecoyFile,
            Replacement::Fifo,
            Replacement::Folder,
        ],
    );
}

/// The one committed bag of the fixture.
fn bag_of(f: &Fixture) -> PathBuf {
    f.archive.join("c/one")
}

/// For a bag's contents replaced each way: `verify` reports the problem (exit 1) as `kind`
/// naming `named` (the path itself, or for a bag-level problem its bag), `watch --once` records
/// it and `report` shows it open (both exit 1, without blocking), and the decoy is untouched; the archive's other bag still
/// passes `bagit.py`.
fn bag_content_is_reported(rel: &str, cases: &[(Replacement, &str, &str)]) {
    for &(with, kind, named) in cases {
        let f = Fixture::new();
        // A second, good bag in another collection, that must stay valid next to the hostile one.
        let o = run_limited(&mut f.ingest_into("g", "good"), "ingest good");
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let before = snapshot(&f.decoy);
        f.replace(rel, with);
        let path = f.archive.join(named);
        let what = format!("{rel} as {with:?}");
        let o = run_limited(&mut f.verify(), &format!("{what}: verify"));
        let t = text(&o);
        assert_eq!(o.status.code(), Some(1), "{what}: verify: {t}");
        assert!(
            t.lines()
                .any(|l| l.starts_with(kind) && l.contains(&path.display().to_string())),
            "{what}: verify should report {kind} naming {}: {t}",
            path.display()
        );
        // The watcher records the problem (exit 1), and report then shows it open (exit 1).
        for (name, mut cmd) in [("watch --once", f.watch_once()), ("report", f.report())] {
            let o = run_limited(&mut cmd, &format!("{what}: {name}"));
            assert_eq!(o.status.code(), Some(1), "{what}: {name}: {}", text(&o));
        }
        assert_eq!(snapshot(&f.decoy), before, "{what}: the decoy changed");
        assert_valid_bag(&f.archive.join("g/good"));
    }
}

#[test]
fn a_collection_folder_that_is_a_link_is_reported_never_followed_and_never_ingested_into() {
    bag_content_is_reported(
        "c",
        &[(Replacement::LinkToDecoyFolder, "symbolic link", "c")],
    );
    let f = Fixture::new();
    let before = snapshot(&f.decoy);
    let path = f.replace("c", Replacement::LinkToDecoyFolder);
    let o = run_limited(&mut f.ingest("two"), "ingest into a linked collection");
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains(&path.display().to_string()), "{t}");
    assert!(t.contains("symbolic link"), "{t}");
    assert_eq!(snapshot(&f.decoy), before);
}

#[test]
fn a_bag_that_is_a_link_is_reported_and_never_followed() {
    bag_content_is_reported(
        "c/one",
        &[(Replacement::LinkToDecoyFolder, "symbolic link", "c/one")],
    );
}

#[test]
fn a_payload_file_that_is_a_link_a_fifo_or_a_folder_is_reported_without_blocking() {
    let f = Fixture::new();
    let master = masters(&bag_of(&f))[0]
        .strip_prefix(&f.archive)
        .unwrap()
        .to_string_lossy()
        .into_owned();
    drop(f);
    bag_content_is_reported(
        &master,
        &[
            (Replacement::LinkToDecoyFile, "symbolic link", &master),
            (Replacement::LinkToDecoyFifo, "symbolic link", &master),
            (Replacement::Fifo, "unreadable", &master),
            (Replacement::Folder, "missing", &master),
        ],
    );
}

#[test]
fn a_bagit_txt_that_is_a_link_a_fifo_or_a_folder_is_reported_without_blocking() {
    bag_content_is_reported(
        "c/one/bagit.txt",
        &[
            (
                Replacement::LinkToDecoyFile,
                "symbolic link",
                "c/one/bagit.txt",
            ),
            (
                Replacement::LinkToDecoyFifo,
                "symbolic link",
                "c/one/bagit.txt",
            ),
            (Replacement::Fifo, "unreadable", "c/one/bagit.txt"),
            (Replacement::Folder, "malformed bag", "c/one"),
        ],
    );
}

#[test]
fn a_fifo_given_as_a_source_is_refused_before_it_is_opened_for_reading() {
    let f = Fixture::new();
    let before = snapshot(&f.archive);
    for name in ["take.wav", "take.flac"] {
        let fifo = f.tmp.path().join(format!("fifo-{name}"));
        mkfifo(&fifo);
        let out = f.tmp.path().join(format!("out-{name}"));
        let mut declick = capstan();
        declick.arg("declick").arg(&fifo).arg(&out);
        let mut verify = capstan();
        verify.arg("verify").arg(&fifo);
        let mut ingest = ingest_command(
            &f.archive,
            &f.profile,
            "fifo",
            "c",
            &[&fifo],
            &["TITLE=fifo"],
        );
        let commands = [
            ("ingest", &mut ingest),
            ("declick", &mut declick),
            ("verify", &mut verify),
        ];
        for (what, cmd) in commands {
            if what == "ingest" && name.ends_with(".flac") {
                continue; // ingest takes WAV only
            }
            let o = run_limited(cmd, &format!("{what} {name}"));
            let t = text(&o);
            assert_eq!(o.status.code(), Some(1), "{what} {name}: {t}");
            assert!(
                t.contains(&fifo.display().to_string()),
                "{what} {name}: {t}"
            );
            assert!(t.contains("not a regular file"), "{what} {name}: {t}");
            assert!(!out.exists(), "{what} {name}: wrote {}", out.display());
        }
    }
    assert_eq!(snapshot(&f.archive), before, "the archive changed");
    assert_valid_bag(&f.archive.join("c/one"));
}
