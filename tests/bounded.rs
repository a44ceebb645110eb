//! Bounded resources: the RIFF chunks a source carries into its masters have a budget (64
//! chunks, 32 MiB in all, each within libFLAC's metadata-block limit) and are carried once per
//! take; an interrupt stops an ingest within about a second at any stage, leaving nothing in
//! the archive; a closed pipe ends capstan quietly, never with a panic.

mod common;
use common::*;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn profile(dir: &Path, layout: &str, extra: &str) -> PathBuf {
    let text = format!(
        "[carrier]\ndescription = \"test reel\"\n[signal]\nsample_rate = 48000\nbit_depth = 24\n\
         channels = [\"Left\", \"Right\"]\nlayout = \"{layout}\"\n[metadata]\nrequired = [\"TITLE\"]\n\
         {extra}\n"
    );
    let path = dir.join(format!("{layout}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// Ingesting a WAV with these chunks before `data` is refused with exit 1 and `message`,
/// nothing committed.
fn refused_with(chunks: Vec<([u8; 4], Vec<u8>)>, message: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let p = profile(dir, "interleaved", "");
    let mut spec = WavSpec::pcm(2, 48_000, 24);
    spec.before = chunks;
    let wav = dir.join("chunky.wav");
    write_wav(&wav, &spec, &signal(2, 48_000, 24, 0.1));
    let decoy = decoy(dir);
    let before = snapshot(&decoy);
    let archive = dir.join("archive");
    common::institution(&archive);
    let out = run(&mut ingest_command(
        &archive,
        &p,
        "t",
        "c",
        &[&wav],
        &["TITLE=t"],
    ));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains(&wav.display().to_string()) && text(&out).contains(message),
        "{message:?} not in {}",
        text(&out)
    );
    assert!(!archive.join("c/t").exists());
    assert_eq!(snapshot(&decoy), before);
}

#[test]
fn a_source_with_more_than_64_chunks_to_carry_is_refused() {
    let chunks = (0..65).map(|i| (*b"note", vec![i as u8; 10])).collect();
    refused_with(
        chunks,
        "one chunk too many: at most 64 chunks other than data, fmt, ds64 and filler are carried into a master",
    );
    // 64 are carried.
    let tmp = tempfile::tempdir().unwrap();
    let p = profile(tmp.path(), "interleaved", "");
    let mut spec = WavSpec::pcm(2, 48_000, 24);
    spec.before = (0..64).map(|i| (*b"note", vec![i as u8; 10])).collect();
    let wav = tmp.path().join("ok.wav");
    write_wav(&wav, &spec, &signal(2, 48_000, 24, 0.1));
    let archive = tmp.path().join("archive");
    common::institution(&archive);
    let out = run(&mut ingest_command(
        &archive,
        &p,
        "t",
        "c",
        &[&wav],
        &["TITLE=t"],
    ));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_valid_bag(&archive.join("c/t"));
}

#[test]
fn chunks_over_32_mib_in_all_are_refused() {
    let big = 12 << 20;
    refused_with(
        vec![
            (*b"aaaa", vec![1; big]),
            (*b"bbbb", vec![2; big]),
            (*b"cccc", vec![3; big]),
        ],
        "chunk 'cccc' at byte 25165900: brings the chunks other than data to 37748736 bytes; at most 33554432 bytes in all are carried into a master",
    );
}

/// The master's RIFF chunks as `flac -d --keep-foreign-metadata` restores them.
fn restored_chunks(master: &Path, dir: &Path) -> Vec<([u8; 4], Vec<u8>)> {
    let wav = dir.join("restored.wav");
    let _ = std::fs::remove_file(&wav);
    let out = run(Command::new(tool("flac"))
        .args(["-d", "-s", "--keep-foreign-metadata", "-o"])
        .arg(&wav)
        .arg(master));
    assert!(out.status.success(), "{}", text(&out));
    wav_chunks(&wav)
}

#[test]
fn a_chunk_is_limited_by_libflacs_real_metadata_block_limit() {
    // libFLAC writes blocks of 16 777 212 bytes at most (its bit writer holds the 4-byte block
    // header too, in 2^24 bytes): 4 (application id) + 8 (chunk header) + payload + pad.
    refused_with(
        vec![(*b"huge", vec![7; 16_777_201])],
        "chunk 'huge' at byte 60: 16777201 bytes long; chunks other than data are limited to 16777200 bytes",
    );
    // The largest that fits is carried, and libFLAC's and flac's own tools read it back.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let p = profile(dir, "interleaved", "");
    let mut spec = WavSpec::pcm(2, 48_000, 24);
    let payload: Vec<u8> = (0..16_777_200u32).map(|i| (i % 251) as u8).collect();
    spec.before = vec![(*b"huge", payload.clone())];
    let wav = dir.join("largest.wav");
    write_wav(&wav, &spec, &signal(2, 48_000, 24, 0.1));
    let archive = dir.join("archive");
    common::institution(&archive);
    let out = run(&mut ingest_command(
        &archive,
        &p,
        "t",
        "c",
        &[&wav],
        &["TITLE=t"],
    ));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let bag = archive.join("c/t");
    let master = &masters(&bag)[0];
    assert_flac_t(master);
    let chunks = restored_chunks(master, dir);
    let huge = chunks
        .iter()
        .find(|(id, _)| id == b"huge")
        .expect("carried");
    assert!(huge.1 == payload, "the chunk comes back byte for byte");
    assert_valid_bag(&bag);
}

#[test]
fn a_per_channel_take_carries_its_chunks_once_in_its_first_channels_master() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let p = profile(dir, "per-channel", "");
    let mut spec = WavSpec::pcm(2, 48_000, 24);
    let ixml = vec![b'x'; 1 << 20];
    spec.before = vec![(*b"iXML", ixml.clone())];
    spec.after = vec![(*b"note", b"after the audio".to_vec())];
    let wav = dir.join("tracks.wav");
    write_wav(&wav, &spec, &signal(2, 48_000, 24, 0.2));
    let archive = dir.join("archive");
    common::institution(&archive);
    let out = run(&mut ingest_command(
        &archive,
        &p,
        "t",
        "c",
        &[&wav],
        &["TITLE=t"],
    ));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let bag = archive.join("c/t");
    let m = masters(&bag);
    assert_eq!(m.len(), 2);
    let first = restored_chunks(&m[0], dir);
    assert!(first.iter().any(|(id, d)| id == b"iXML" && *d == ixml));
    assert!(first
        .iter()
        .any(|(id, d)| id == b"note" && d == b"after the audio"));
    let second = restored_chunks(&m[1], dir);
    assert!(
        !second.iter().any(|(id, _)| id == b"iXML" || id == b"note"),
        "carried once"
    );
    assert!(
        second.iter().any(|(id, _)| id == b"bext"),
        "each master keeps its bext"
    );
    assert!(std::fs::metadata(&m[1]).unwrap().len() < (1 << 20));
    let tags = run(Command::new(tool("metaflac"))
        .arg("--show-tag=SOURCE_CHUNKS")
        .arg(&m[1]));
    assert_eq!(
        String::from_utf8_lossy(&tags.stdout),
        "SOURCE_CHUNKS=in t_pm_ch01.flac\n"
    );
    for master in &m {
        assert_flac_t(master);
    }
    assert_valid_bag(&bag);
}

/// Interrupts an ingest of a long take at `stage` (SIGINT or SIGTERM), `delay` after it
/// reaches it (or, with `None`, while it is held there); it must stop with exit 2 within about
/// a second and leave nothing in the archive.
fn interrupted_at(dir: &Path, wav: &Path, stage: &str, signal: &str, delay: Option<Duration>) {
    let p = profile(
        dir,
        "interleaved",
        "[access_copy]\nenabled = true\ntarget_loudness_lufs = -23.0\n",
    );
    let run_name = format!("{stage}-{signal}-{}", delay.is_some());
    let archive = dir.join(format!("archive-{run_name}"));
    common::institution(&archive);
    let go = dir.join(format!("go-{run_name}"));
    if delay.is_some() {
        std::fs::write(&go, b"").unwrap(); // no pause: the stage is only marked
    }
    let mut child = ingest_command(&archive, &p, "t", "c", &[wav], &["TITLE=t"])
        .env("CAPSTAN_TEST_PAUSE", format!("{stage}:{}", go.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let reached = PathBuf::from(format!("{}.reached", go.display()));
    let until = Instant::now() + Duration::from_secs(120);
    while !reached.exists() {
        assert!(child.try_wait().unwrap().is_none(), "ended before {stage}");
        assert!(Instant::now() < until, "never reached {stage}");
        std::thread::sleep(Duration::from_millis(5));
    }
    if let Some(d) = delay {
        std::thread::sleep(d);
    }
    let kill = run(Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string()));
    assert!(kill.status.success());
    let sent = Instant::now();
    if delay.is_none() {
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(&go, b"").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let took = sent.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "at {stage}: {:?} {stderr}",
        out.status
    );
    assert!(
        stderr.contains("interrupted: nothing was added to the archive"),
        "at {stage}: {stderr}"
    );
    assert!(
        took < Duration::from_millis(1500),
        "at {stage}, {signal} took {took:?} to stop the ingest"
    );
    assert!(!archive.join("c/t").exists(), "at {stage}");
    let staging = archive.join(".capstan/staging");
    assert_eq!(
        std::fs::read_dir(&staging).unwrap().count(),
        0,
        "at {stage}"
    );
    assert!(
        !std::fs::read_to_string(archive.join(".capstan/events.jsonl"))
            .unwrap_or_default()
            .contains("\"c/t\""),
        "at {stage}"
    );
}

#[test]
fn an_interrupt_stops_a_long_ingest_within_a_second_at_every_stage() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let wav = dir.join("long.wav");
    write_wav(
        &wav,
        &WavSpec::pcm(2, 48_000, 24),
        &signal(2, 48_000, 24, 90.0),
    );
    let decoy = decoy(dir);
    let before = snapshot(&decoy);
    let mid = Some(Duration::from_millis(150));
    interrupted_at(dir, &wav, "reading", "INT", mid);
    interrupted_at(dir, &wav, "verifying", "INT", mid);
    interrupted_at(dir, &wav, "reread", "TERM", mid);
    interrupted_at(dir, &wav, "bagging", "INT", None);
    interrupted_at(dir, &wav, "verifying", "TERM", None);
    assert_eq!(snapshot(&decoy), before);
}

/// Runs capstan with its stdout closed before it writes: it must not panic.
fn closed_pipe(args: &[&str]) {
    let mut child = capstan()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    assert_ne!(out.status.code(), Some(101), "{args:?}: {stderr}");
    assert!(
        out.status.signal() == Some(13) || out.status.code() == Some(0),
        "{args:?} ends on SIGPIPE or having written everything: {:?} {stderr}",
        out.status
    );
}

#[test]
fn a_closed_pipe_ends_capstan_quietly_never_with_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let p = profile(dir, "interleaved", "");
    let wav = dir.join("take.wav");
    write_wav(
        &wav,
        &WavSpec::pcm(2, 48_000, 24),
        &signal(2, 48_000, 24, 0.2),
    );
    let archive = dir.join("archive");
    common::institution(&archive);
    let out = run(&mut ingest_command(
        &archive,
        &p,
        "t",
        "c",
        &[&wav],
        &["TITLE=t"],
    ));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let a = archive.to_str().unwrap();
    closed_pipe(&["profiles"]);
    closed_pipe(&["log", "c/t", "--archive", a]);
    closed_pipe(&["verify", "--json", a]);
    closed_pipe(&["report", a]);
    // And through a real `head`, as people type it.
    let me = env!("CARGO_BIN_EXE_capstan");
    for cmd in [
        format!("'{me}' profiles | head -1"),
        format!("'{me}' log c/t --archive '{a}' | head -1"),
        format!("'{me}' verify --json '{a}' | head -c 10"),
    ] {
        let out = run(Command::new("bash")
            .args(["-c", &format!("set -o pipefail; {cmd}")])
            .env("SOURCE_DATE_EPOCH", "1795000000"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{cmd}: {stderr}");
        assert_ne!(out.status.code(), Some(101), "{cmd}: {stderr}");
    }
    assert_valid_bag(&archive.join("c/t"));
}
