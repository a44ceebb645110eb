//! The read-back proof can fail: damage in a master is found and located, and an unset
//! STREAMINFO MD5 is never taken for a pass.

mod common;

use capstan::flac::verify::{check_file, check_stream, AudioCheck, Md5Status};
use common::*;
use sha2::{Digest, Sha256};

fn master(tmp: &std::path::Path) -> std::path::PathBuf {
    let wav = tmp.join("src.wav");
    write_wav(
        &wav,
        &WavSpec::pcm(2, 48_000, 16),
        &signal(2, 48_000, 16, 10.0),
    );
    let archive = tmp.join("a");
    common::institution(&archive);
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
    assert!(check.audio.is_intact(), "{check:?}");
    assert_eq!(check.audio.md5, Md5Status::Match);
    assert_eq!(check.audio.decoded_frames, 480_000);
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
    assert!(!check.audio.is_intact());
    let first = check.audio.damage.first().expect("damage reported");
    let seconds = first.at.0 as f64 / 48_000.0;
    assert!(
        (4.5..7.5).contains(&seconds),
        "damage located at {seconds} s: {:?}",
        check.audio.damage
    );
    assert_ne!(check.audio.md5, Md5Status::Match);
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
    assert!(!check.audio.is_intact());
    assert!(check.audio.decoded_frames < 480_000);
    let last = check.audio.damage.last().expect("damage reported");
    assert_eq!(last.kind, "truncated");
    assert_eq!(last.at.0, check.audio.decoded_frames, "{:?}", check.audio);
}

/// check_stream on one thread, its digests fed by the tap.
fn check_inline(path: &std::path::Path) -> (AudioCheck, [u8; 32], u64) {
    let mut sha = Sha256::new();
    let mut bytes = 0u64;
    let mut file = std::fs::File::open(path).unwrap();
    let audio = check_stream(path, &mut file, &mut |b| {
        sha.update(b);
        bytes += b.len() as u64;
    })
    .unwrap();
    (audio, sha.finalize().into(), bytes)
}

#[test]
fn one_thread_and_three_threads_find_the_same() {
    let tmp = tempfile::tempdir().unwrap();
    let m = master(tmp.path());
    let mut bytes = std::fs::read(&m).unwrap();
    let intact = tmp.path().join("intact.flac");
    std::fs::write(&intact, &bytes).unwrap();
    let at = bytes.len() * 3 / 10;
    bytes[at] ^= 0x01;
    let bad = tmp.path().join("bad.flac");
    std::fs::write(&bad, &bytes).unwrap();
    let cut = tmp.path().join("cut.flac");
    std::fs::write(&cut, &bytes[..bytes.len() * 9 / 10]).unwrap();
    for f in [&intact, &bad, &cut] {
        let three = check_file(f).unwrap();
        let (one, sha, n) = check_inline(f);
        assert_eq!(sha, three.sha256, "{}", f.display());
        assert_eq!(n, three.bytes);
        assert_eq!(one.damage, three.audio.damage);
        assert_eq!(one.md5, three.audio.md5);
        assert_eq!(one.decoded_frames, three.audio.decoded_frames);
    }
    assert!(check_inline(&intact).0.is_intact());
    let (bad_audio, ..) = check_inline(&bad);
    assert_eq!(
        bad_audio.damage[0].kind, "frame CRC mismatch",
        "{bad_audio:?}"
    );
}

#[test]
fn damage_in_the_last_frame_is_not_called_truncation() {
    let tmp = tempfile::tempdir().unwrap();
    let m = master(tmp.path());
    let mut bytes = std::fs::read(&m).unwrap();
    let n = bytes.len();
    bytes[n - 20] ^= 0x04;
    let bad = tmp.path().join("bad.flac");
    std::fs::write(&bad, &bytes).unwrap();
    let (audio, ..) = check_inline(&bad);
    assert!(!audio.is_intact());
    let kinds: Vec<&str> = audio.damage.iter().map(|d| d.kind.as_str()).collect();
    assert!(!kinds.contains(&"truncated"), "{audio:?}");
    // 480 000 frames in 4096-frame blocks: the last block starts at 479 232.
    assert_eq!(audio.damage[0].at.0, 479_232, "{audio:?}");
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
    assert_eq!(check.audio.md5, Md5Status::Unset);
    assert!(!check.audio.is_intact());
}
