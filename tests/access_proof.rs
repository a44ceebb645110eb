//! The access copy is proved to come from the master's samples: the second read of a source
//! (for the access copy, or the click map) must give the audio MD5 of the master made by the
//! first, so a source changed between the two reads fails the ingest and nothing is committed.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

fn profile(dir: &Path, layout: &str, access: &str) -> PathBuf {
    let text = format!(
        "[carrier]\ndescription = \"test reel\"\n[signal]\nsample_rate = 48000\nbit_depth = 24\n\
         channels = [\"Left\", \"Right\"]\nlayout = \"{layout}\"\n[metadata]\nrequired = [\"TITLE\"]\n\
         {access}\n"
    );
    let path = dir.join(format!("{layout}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

const ACCESS: &str = "[access_copy]\nenabled = true\ntarget_loudness_lufs = -23.0\n";
const CLICK_MAP: &str = "[analysis]\nclicks = true\n";

/// Starts an ingest that pauses before the source's second read.
fn paused(archive: &Path, profile: &Path, wav: &Path, go: &Path) -> Child {
    let mut child = ingest_command(archive, profile, "t", "c", &[wav], &["TITLE=t"])
        .env("CAPSTAN_TEST_PAUSE", format!("reread:{}", go.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let reached = PathBuf::from(format!("{}.reached", go.display()));
    let until = Instant::now() + Duration::from_secs(60);
    while !reached.exists() {
        if let Some(st) = child.try_wait().unwrap() {
            panic!("the ingest ended ({st}) before its second read");
        }
        assert!(
            Instant::now() < until,
            "the ingest never reached its second read"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child
}

/// Ingests `t` with the source swapped (by `swap`) between its two reads; returns exit code
/// and stderr, having checked that nothing was committed and nothing outside changed.
fn swapped_between_reads(layout: &str, access: &str, swap: impl FnOnce(&Path)) -> (i32, String) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let profile = profile(dir, layout, access);
    let spec = WavSpec::pcm(2, 48_000, 24);
    let wav = dir.join("take.wav");
    write_wav(&wav, &spec, &signal(2, 48_000, 24, 1.0));
    let decoy = dir.join("decoy");
    std::fs::create_dir_all(&decoy).unwrap();
    std::fs::write(decoy.join("keep.txt"), b"not the archive's").unwrap();
    let before = snapshot(&decoy);
    let archive = dir.join("archive");
    common::institution(&archive);
    // An item already there, which must stay valid.
    let out = run(&mut ingest_command(
        &archive,
        &profile,
        "first",
        "c",
        &[&wav],
        &["TITLE=t"],
    ));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let go = dir.join("go");
    let child = paused(&archive, &profile, &wav, &go);
    swap(&wav);
    std::fs::write(&go, b"").unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let code = out.status.code().unwrap();
    if code != 0 {
        assert!(!archive.join("c/t").exists(), "nothing is committed");
        let log = std::fs::read_to_string(archive.join(".capstan/events.jsonl")).unwrap();
        assert!(!log.contains("\"c/t\""), "no event for the item: {log}");
        // The next run finds staging clean.
        let staging = archive.join(".capstan/staging");
        assert_eq!(std::fs::read_dir(&staging).unwrap().count(), 0);
    }
    assert_valid_bag(&archive.join("c/first"));
    assert_eq!(snapshot(&decoy), before);
    (code, format!("{stderr}\n{}", wav.display()))
}

/// The same file, other samples: one channel's sample changed, length and format kept.
fn change_one_sample(channel: usize) -> impl FnOnce(&Path) {
    move |wav: &Path| {
        let mut samples = signal(2, 48_000, 24, 1.0);
        samples[2 * 24_000 + channel] ^= 1;
        // Replaced in place, as an editor saving over it would.
        write_wav(wav, &WavSpec::pcm(2, 48_000, 24), &samples);
    }
}

#[test]
fn a_source_changed_before_the_access_copy_is_read_fails_the_ingest_with_exit_1() {
    let (code, out) = swapped_between_reads("interleaved", ACCESS, change_one_sample(1));
    let wav = out.lines().last().unwrap().to_string();
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "capstan: {wav} changed while it was being ingested: the samples read again for the access copy are not the master's"
        )) && out.contains("in the master data/t_pm.flac")
            && out.contains("nothing was added to the archive"),
        "{out}"
    );
}

#[test]
fn per_channel_masters_each_prove_their_channel_of_the_second_read() {
    let (code, out) = swapped_between_reads("per-channel", ACCESS, change_one_sample(1));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("changed while it was being ingested") && out.contains("data/t_pm_ch02.flac"),
        "{out}"
    );
}

#[test]
fn a_source_changed_before_the_click_map_is_read_fails_the_ingest_too() {
    let (code, out) = swapped_between_reads("interleaved", CLICK_MAP, change_one_sample(0));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("changed while it was being ingested: the samples read again for the click map are not the master's"),
        "{out}"
    );
}

#[test]
fn an_unchanged_source_read_twice_is_ingested() {
    let (code, out) = swapped_between_reads("per-channel", ACCESS, |_| {});
    assert_eq!(code, 0, "{out}");
}
