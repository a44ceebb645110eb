//! Bad input and failures: each case checks the message, the exit code, and that the archive
//! is exactly as it was (no partial item, no staging left behind).

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

/// An archive that already holds one good item, and a good source file.
struct Fixture {
    tmp: tempfile::TempDir,
    archive: PathBuf,
    good: PathBuf,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    common::institution(&archive);
    let good = tmp.path().join("good.wav");
    write_wav(
        &good,
        &WavSpec::pcm(2, 48_000, 16),
        &signal(2, 48_000, 16, 0.5),
    );
    let o = ingest(&archive, "dat", "existing", &[&good], &["TITLE=t"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_valid_bag(&archive.join("tests/existing"));
    Fixture { tmp, archive, good }
}

fn ingest(archive: &Path, profile: &str, id: &str, files: &[&Path], meta: &[&str]) -> Output {
    ingest_in(archive, profile, id, "tests", files, meta)
}

fn ingest_in(
    archive: &Path,
    profile: &str,
    id: &str,
    collection: &str,
    files: &[&Path],
    meta: &[&str],
) -> Output {
    run(&mut ingest_command(
        archive, profile, id, collection, files, meta,
    ))
}

/// Runs `ingest` of `file` and checks: exit code, message fragments, archive unchanged.
fn refused(
    f: &Fixture,
    profile: &str,
    id: &str,
    file: &Path,
    meta: &[&str],
    code: i32,
    fragments: &[&str],
) {
    refused_in(f, profile, id, "tests", file, meta, code, fragments)
}

#[allow(clippy::too_many_arguments)]
fn refused_in(
    f: &Fixture,
    profile: &str,
    id: &str,
    collection: &str,
    file: &Path,
    meta: &[&str],
    code: i32,
    fragments: &[&str],
) {
    let before = snapshot(&f.archive);
    let o = ingest_in(&f.archive, profile, id, collection, &[file], meta);
    let msg = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(code), "exit code; stderr: {msg}");
    for frag in fragments {
        assert!(msg.contains(frag), "message lacks {frag:?}: {msg}");
    }
    assert!(
        snapshot(&f.archive) == before,
        "the archive changed after: {msg}"
    );
}

fn good_bytes(f: &Fixture) -> Vec<u8> {
    std::fs::read(&f.good).unwrap()
}

#[test]
fn truncated_wav_is_refused_naming_the_file_and_where_it_ends() {
    let f = fixture();
    let b = good_bytes(&f);
    let cut = f.tmp.path().join("cut.wav");
    std::fs::write(&cut, &b[..b.len() - 4000]).unwrap();
    // 24000 frames promised; 4000 bytes (1000 frames) missing.
    refused(
        &f,
        "dat",
        "cut",
        &cut,
        &["TITLE=t"],
        1,
        &["cut.wav", "truncated", "24000 frames", "23000"],
    );
}

#[test]
fn header_sizes_that_lie_are_refused() {
    let f = fixture();
    let mut b = good_bytes(&f);
    // The RIFF size claims 1000 bytes more than the file holds.
    let riff = u32::from_le_bytes(b[4..8].try_into().unwrap()) + 1000;
    b[4..8].copy_from_slice(&riff.to_le_bytes());
    let lie = f.tmp.path().join("riff-lie.wav");
    std::fs::write(&lie, &b).unwrap();
    refused(
        &f,
        "dat",
        "lie1",
        &lie,
        &["TITLE=t"],
        1,
        &["riff-lie.wav", "RIFF header says"],
    );

    // The data size claims more than is there (and the RIFF size agrees with it).
    let mut b = good_bytes(&f);
    let data_at = b.windows(4).position(|w| w == b"data").unwrap();
    let n = u32::from_le_bytes(b[data_at + 4..data_at + 8].try_into().unwrap()) + 400;
    b[data_at + 4..data_at + 8].copy_from_slice(&n.to_le_bytes());
    let lie = f.tmp.path().join("data-lie.wav");
    std::fs::write(&lie, &b).unwrap();
    refused(
        &f,
        "dat",
        "lie2",
        &lie,
        &["TITLE=t"],
        1,
        &["data-lie.wav", "truncated"],
    );

    // A data size that is not a whole number of frames.
    let mut b = good_bytes(&f);
    let n = u32::from_le_bytes(b[data_at + 4..data_at + 8].try_into().unwrap()) - 2;
    b[data_at + 4..data_at + 8].copy_from_slice(&n.to_le_bytes());
    let lie = f.tmp.path().join("partial.wav");
    std::fs::write(&lie, &b).unwrap();
    refused(
        &f,
        "dat",
        "lie3",
        &lie,
        &["TITLE=t"],
        1,
        &["partial.wav", "whole number"],
    );
}

#[test]
fn float_and_compressed_audio_are_refused() {
    let f = fixture();
    let mut spec = WavSpec::pcm(2, 48_000, 32);
    spec.format_tag = 3;
    spec.extensible = false;
    let float = f.tmp.path().join("float.wav");
    write_wav(&float, &spec, &signal(2, 48_000, 32, 0.1));
    refused(
        &f,
        "dat",
        "float",
        &float,
        &["TITLE=t"],
        1,
        &["float.wav", "float PCM is not accepted"],
    );
    spec.extensible = true; // float announced in WAVE_FORMAT_EXTENSIBLE's sub-format
    write_wav(&float, &spec, &signal(2, 48_000, 32, 0.1));
    refused(
        &f,
        "dat",
        "float",
        &float,
        &["float PCM is not accepted"],
        1,
        &["float PCM"],
    );
    let mut spec = WavSpec::pcm(2, 48_000, 16);
    spec.format_tag = 0x55; // MP3
    let mp3 = f.tmp.path().join("mp3.wav");
    write_wav(&mp3, &spec, &signal(2, 48_000, 16, 0.1));
    refused(
        &f,
        "dat",
        "mp3",
        &mp3,
        &["TITLE=t"],
        1,
        &["mp3.wav", "0x0055"],
    );
    let junk = f.tmp.path().join("junk.wav");
    std::fs::write(&junk, b"this is not a wave file at all").unwrap();
    refused(
        &f,
        "dat",
        "junk",
        &junk,
        &["TITLE=t"],
        1,
        &["junk.wav", "not a WAV file"],
    );
}

#[test]
fn a_file_that_does_not_match_the_profile_is_refused_saying_what_differs() {
    let f = fixture();
    let wav = f.tmp.path().join("hires.wav");
    write_wav(
        &wav,
        &WavSpec::pcm(1, 96_000, 24),
        &signal(1, 96_000, 24, 0.1),
    );
    refused(
        &f,
        "dat",
        "hires",
        &wav,
        &["TITLE=t"],
        1,
        &[
            "hires.wav",
            "sample rate is 96000 Hz, the profile wants 48000 Hz",
            "bit depth is 24, the profile wants 16",
            "1 channel(s), the profile wants 2",
        ],
    );
}

#[test]
fn an_existing_item_is_never_overwritten() {
    let f = fixture();
    let other = f.tmp.path().join("other.wav");
    write_wav(
        &other,
        &WavSpec::pcm(2, 48_000, 16),
        &signal(2, 48_000, 16, 0.2),
    );
    refused(
        &f,
        "dat",
        "existing",
        &other,
        &["TITLE=t"],
        1,
        &["tests/existing", "already exists", "never replaced"],
    );
}

#[test]
fn ids_and_collections_that_would_escape_the_archive_are_refused() {
    let f = fixture();
    for bad in ["../x", "/abs", "a/b", "..", "a\\b", ".hidden"] {
        refused(
            &f,
            "dat",
            bad,
            &f.good,
            &["TITLE=t"],
            1,
            &["item id", "not allowed"],
        );
        refused_in(
            &f,
            "dat",
            "fine",
            bad,
            &f.good,
            &["TITLE=t"],
            1,
            &["collection", "not allowed"],
        );
    }
    assert!(!f.tmp.path().join("x").exists() && !Path::new("/abs").exists());
}

#[test]
fn metadata_with_control_characters_is_refused() {
    let f = fixture();
    for bad in [
        "TITLE=two\nlines",
        "TITLE=cr\rhere",
        "DESCRIPTION=tab\there",
        "TITLE=nul\u{1}x",
    ] {
        refused(
            &f,
            "dat",
            "meta",
            &f.good,
            &[bad],
            1,
            &["control character"],
        );
    }
    refused(&f, "dat", "meta", &f.good, &["bad key=x"], 1, &["key"]);
    // A required field missing.
    refused(
        &f,
        "dat",
        "meta",
        &f.good,
        &[],
        1,
        &["requires metadata TITLE"],
    );
}

#[test]
fn an_unwritable_archive_is_reported_and_left_alone() {
    let f = fixture();
    let ro = f.tmp.path().join("readonly");
    mount_tmpfs(&ro, "ro,size=1m");
    let _guard = Unmount(ro.clone());
    // A read-only archive holds no settings: the item names its institution itself.
    let o = ingest(
        &ro,
        "dat",
        "x",
        &[&f.good],
        &["TITLE=t", "COUNTRY=GB", "ORGANIZATION=Test Archive"],
    );
    let msg = text(&o);
    assert_eq!(o.status.code(), Some(2), "{msg}");
    assert!(
        msg.contains("not writable") && msg.contains("readonly"),
        "{msg}"
    );
    assert_eq!(std::fs::read_dir(&ro).unwrap().count(), 0);
}

#[test]
fn a_disk_that_fills_mid_write_leaves_no_partial_item() {
    let f = fixture();
    let small = f.tmp.path().join("small");
    mount_tmpfs(&small, "size=2m");
    let _guard = Unmount(small.clone());
    institution(&small);
    // Prepare the archive (a first good item), then a take far larger than the space left.
    let o = ingest(&small, "dat", "first", &[&f.good], &["TITLE=t"]);
    assert!(o.status.success(), "{}", text(&o));
    let big = f.tmp.path().join("big.wav");
    write_wav(
        &big,
        &WavSpec::pcm(2, 48_000, 16),
        &signal(2, 48_000, 16, 20.0),
    );
    let before = snapshot(&small);
    let o = ingest(&small, "dat", "big", &[&big], &["TITLE=t"]);
    let msg = text(&o);
    assert_eq!(o.status.code(), Some(2), "{msg}");
    assert!(
        msg.contains("No space left on device") && msg.contains("big_pm.flac"),
        "{msg}"
    );
    assert!(snapshot(&small) == before, "partial output left: {msg}");
    assert_valid_bag(&small.join("tests/first"));
}

fn big_source(f: &Fixture) -> PathBuf {
    let big = f.tmp.path().join("long.wav");
    write_wav(
        &big,
        &WavSpec::pcm(2, 48_000, 16),
        &signal(2, 48_000, 16, 240.0),
    );
    big
}

fn spawn_ingest(f: &Fixture, id: &str, file: &Path) -> std::process::Child {
    ingest_command(&f.archive, "dat", id, "tests", &[file], &["TITLE=t"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until the ingest has started writing (a staging folder exists).
fn wait_for_staging(f: &Fixture) {
    let staging = f.archive.join(".capstan/staging");
    for _ in 0..500 {
        if std::fs::read_dir(&staging).map(|d| d.count()).unwrap_or(0) > 0 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    panic!("ingest never started staging");
}

#[test]
fn ctrl_c_mid_ingest_leaves_nothing_behind() {
    let f = fixture();
    let big = big_source(&f);
    let before = snapshot(&f.archive);
    let child = spawn_ingest(&f, "interrupted", &big);
    wait_for_staging(&f);
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let o = child.wait_with_output().unwrap();
    let msg = text(&o);
    assert_eq!(o.status.code(), Some(2), "{msg}");
    assert!(msg.contains("interrupted"), "{msg}");
    assert!(snapshot(&f.archive) == before, "partial output left: {msg}");
}

#[test]
fn a_killed_ingest_leaves_no_item_and_the_next_run_clears_its_staging() {
    let f = fixture();
    let big = big_source(&f);
    let mut child = spawn_ingest(&f, "killed", &big);
    wait_for_staging(&f);
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    assert!(!f.archive.join("tests/killed").exists());
    let o = ingest(&f.archive, "dat", "after", &[&f.good], &["TITLE=t"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_valid_bag(&f.archive.join("tests/after"));
    let left: Vec<_> = std::fs::read_dir(f.archive.join(".capstan/staging"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "staging not cleared: {left:?}");
}
