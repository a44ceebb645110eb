//! The read-back proof can fail: damage in a master is found and located, and an unset
//! STREAMINFO MD5 is never taken for a pass.

mod common;

use capstan::flac::verify::{check_file, Md5Status};
use common::*;

fn master(tmp: &std::path::Path) -> std::path::PathBuf {
    let wav = tmp.join("src.wav");
    write_wav(
        &wav,
        &WavSpec::pcm(2, 48_000, 16),
        &signal(2, 48_000, 16, 10.0),
    );
    let archive = tmp.join("a");
    let o = run(&mut ingest_command(
        &archive,
        "dat",
        "v",
        "default",
        &[&wav],
        &["TITLE=t"],
    ));
    assert!(o.status.success(), "{}", text(&o));
    masters(&archive.join("default/v"))[0].clone()
}

#[test]
fn an_intact_master_passes_and_its_digest_is_the_files() {
    let tmp = tempfile::tempdir().unwrap();
    let m = master(tmp.path());
    let check = check_file(&m).unwrap();
    assert!(check.is_intact(), "{check:?}");
    assert_eq!(check.md5, Md5Status::Match);
    assert_eq!(check.decoded_frames, 480_000);
    let sha = run(std::process::Command::new("sha256sum").arg(&m));
    let expected = String::from_utf8_lossy(&sha.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert_eq!(capstan::flac::hex(&check.sha256), expected);
}

#[test]
fn a_flipped_bit_is_found_at_its_time() {
    let tmp = tempfile::tempdir().unwrap();
    let m = master(tmp.path());
    let mut bytes = std::fs::read(&m).unwrap();
    let at = bytes.len() * 6 / 10; // about 6 s into 10 s of audio
    bytes[at] ^= 0x10;
    let bad = tmp.path().join("bad.flac");
    std::fs::write(&bad, &bytes).unwrap();
    let check = check_file(&bad).unwrap();
    assert!(!check.is_intact());
    let first = check.damage.first().expect("damage reported");
    let seconds = first.at.0 as f64 / 48_000.0;
    assert!(
        (4.5..7.5).contains(&seconds),
        "damage located at {seconds} s: {:?}",
        check.damage
    );
    assert_ne!(check.md5, Md5Status::Match);
    assert_eq!(
        check.bytes,
        bytes.len() as u64,
        "the whole file is still hashed"
    );
}

#[test]
fn a_truncated_master_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let m = master(tmp.path());
    let bytes = std::fs::read(&m).unwrap();
    let cut = tmp.path().join("cut.flac");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let check = check_file(&cut).unwrap();
    assert!(!check.is_intact());
    assert!(check.decoded_frames < 480_000);
    assert!(!check.damage.is_empty());
}

#[test]
fn an_unset_md5_is_not_a_pass() {
    let tmp = tempfile::tempdir().unwrap();
    let m = master(tmp.path());
    let mut bytes = std::fs::read(&m).unwrap();
    // STREAMINFO: "fLaC", 4-byte block header, then 18 bytes before the 16-byte MD5.
    bytes[26..42].fill(0);
    let unset = tmp.path().join("unset.flac");
    std::fs::write(&unset, &bytes).unwrap();
    let check = check_file(&unset).unwrap();
    assert_eq!(check.md5, Md5Status::Unset);
    assert!(!check.is_intact());
}
