//! Capture through a real ALSA capture PCM: alsa-lib's `file` plugin (no sound hardware
//! needed), fed a known signal. The plugin reads raw interleaved samples from
//! `$CAPSTAN_TEST_INFILE` in whatever format the capture opens it with, as fast as it can (a
//! stress test), or at real time from a named pipe written one period at a time.

mod common;

use common::*;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The device definition (as ../shared/alsa/asoundrc), in an XDG config folder of its own.
fn alsa_config(dir: &Path) -> PathBuf {
    let conf = dir.join("xdg");
    std::fs::create_dir_all(conf.join("alsa")).unwrap();
    std::fs::write(
        conf.join("alsa/asoundrc"),
        "pcm.capstan_tape {\n type file\n slave.pcm \"null\"\n file \"/dev/null\"\n \
         infile { @func getenv vars [ CAPSTAN_TEST_INFILE ] default \"/dev/zero\" }\n \
         format \"raw\"\n hint { show on description \"Capstan test tape\" }\n}\n",
    )
    .unwrap();
    conf
}

/// Raw interleaved samples as ALSA delivers them to cpal: S16_LE, S24_LE (24 bits
/// right-justified in 4 bytes), S32_LE.
fn raw(samples: &[i32], bits: u16) -> Vec<u8> {
    let width = if bits == 16 { 2 } else { 4 };
    samples
        .iter()
        .flat_map(|s| s.to_le_bytes()[..width].to_vec())
        .collect()
}

fn capture_command(tmp: &Path, profile: &Path, id: &str, infile: &Path) -> Command {
    let mut c = capstan();
    c.env("XDG_CONFIG_HOME", alsa_config(tmp))
        .env("CAPSTAN_TEST_INFILE", infile)
        .args([
            "capture",
            "--device",
            "capstan_tape",
            "--meta",
            "TITLE=capture test",
        ])
        .arg("--profile")
        .arg(profile)
        .args(["--id", id, "--archive"])
        .arg(tmp.join("archive"));
    institution(&tmp.join("archive"));
    c
}

/// The master's samples, decoded by `flac -d` (not by Capstan).
fn master_samples(archive: &Path, id: &str) -> (u16, Vec<i32>) {
    let m = masters(&archive.join("default").join(id))[0].clone();
    // Decoded outside the archive: a stray file in the bag would break it.
    let wav = archive.parent().unwrap().join(format!("{id}.check.wav"));
    let o = run(Command::new(tool("flac"))
        .args(["-d", "-s", "-f", "-o"])
        .arg(&wav)
        .arg(&m));
    assert!(o.status.success(), "{}", text(&o));
    let (ch, _, s) = read_wav_samples(&wav);
    (ch, s)
}

fn qc(archive: &Path, id: &str) -> Value {
    let p = archive
        .join("default")
        .join(id)
        .join(format!("data/{id}.qc.json"));
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

#[test]
fn captures_are_bit_exact_over_channels_rates_and_depths() {
    let tmp = tempfile::tempdir().unwrap();
    for channels in [1u16, 2, 8] {
        for rate in [48_000u32, 96_000] {
            for bits in [16u16, 24, 32] {
                let id = format!("m{channels}-{rate}-{bits}");
                let seconds = 0.5;
                let samples = signal(channels, rate, bits, seconds);
                let infile = tmp.path().join(format!("{id}.raw"));
                std::fs::write(&infile, raw(&samples, bits)).unwrap();
                let profile = profile_for(tmp.path(), channels, rate, bits, "interleaved");
                let o = run(capture_command(tmp.path(), &profile, &id, &infile)
                    .args(["--duration", "500ms"]));
                assert!(o.status.success(), "{id}: {}", text(&o));
                let (ch, got) = master_samples(&tmp.path().join("archive"), &id);
                assert_eq!(ch, channels, "{id}");
                assert_eq!(got.len(), samples.len(), "{id}: frame count");
                assert!(got == samples, "{id}: samples differ");
                let report = qc(&tmp.path().join("archive"), &id);
                let cap = &report["takes"][0]["capture"];
                assert_eq!(cap["flagged"], false, "{id}: {cap}");
                assert_eq!(cap["ended"], "duration reached", "{id}");
            }
        }
    }
    // Journals are gone once their takes are items.
    let journal = tmp.path().join("archive/.capstan/journal");
    assert_eq!(std::fs::read_dir(journal).unwrap().count(), 0);
}

#[test]
fn a_stalled_writer_yields_overruns_at_their_positions_and_exit_1() {
    let tmp = tempfile::tempdir().unwrap();
    let (channels, rate, bits) = (2u16, 48_000u32, 16u16);
    // Fed through a pipe at 10x real time (the file device alone runs thousands of times real
    // time and would reach the end of any input during the stall); the writer stalls for 1 s
    // after 1 s of audio, so the 4 s ring overflows and about 6 s are lost, mid-take.
    let samples = signal(channels, rate, bits, 30.0);
    let fifo = tmp.path().join("tape.fifo");
    mkfifo(&fifo);
    let profile = profile_for(tmp.path(), channels, rate, bits, "interleaved");
    let child = capture_command(tmp.path(), &profile, "ov", &fifo)
        .args(["--duration", "30s", "--buffer", "1024"])
        .env("CAPSTAN_TEST_STALL_WRITER", "48000:1000")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let feeder = feed_at_real_time(
        fifo.clone(),
        raw(&samples, bits),
        4096,
        f64::from(rate) * 40.0,
    );
    let o = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("gap"), "{}", text(&o));
    let report = qc(&tmp.path().join("archive"), "ov");
    let cap = &report["takes"][0]["capture"];
    assert_eq!(cap["flagged"], true);
    let gaps = cap["gaps"].as_array().unwrap();
    assert!(!gaps.is_empty(), "{cap}");
    // The master is the input with each lost stretch cut out, exactly where the gaps say.
    let (_, got) = master_samples(&tmp.path().join("archive"), "ov");
    let mut expected = Vec::new();
    let mut device_pos = 0usize; // frames of input consumed
    let mut take_pos = 0usize;
    let ch = usize::from(channels);
    for g in gaps {
        assert_eq!(g["kind"], "overrun", "{g}");
        let at = g["start"].as_u64().unwrap() as usize;
        let len = g["length"].as_u64().unwrap() as usize;
        assert!(at >= 48_000, "a gap before the stall: {g}");
        let keep = at - take_pos;
        expected.extend_from_slice(&samples[device_pos * ch..(device_pos + keep) * ch]);
        device_pos += keep + len;
        take_pos = at;
    }
    expected.extend_from_slice(samples.get(device_pos * ch..).unwrap_or(&[]));
    assert_eq!(got.len(), expected.len(), "frames kept");
    if let Some(i) = (0..got.len()).find(|&i| got[i] != expected[i]) {
        let probe = &got[i..i + 16];
        let found = (0..samples.len() / ch - 8).find(|&p| &samples[p * ch..p * ch + 16] == probe);
        panic!(
            "first difference at frame {} ({} gaps, first {}); the data there is input frame {found:?}",
            i / ch,
            gaps.len(),
            gaps[0]
        );
    }
    // The defects list them too.
    let defects = report["takes"][0]["defects"].as_array().unwrap();
    assert_eq!(
        defects.iter().filter(|d| d["kind"] == "overrun").count(),
        gaps.len()
    );
}

/// Writes `bytes` into a named pipe in `chunk`-byte writes at `rate` bytes/s; stops when the
/// reader goes away.
fn feed_at_real_time(
    fifo: PathBuf,
    bytes: Vec<u8>,
    chunk: usize,
    rate: f64,
) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let mut f = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
        let start = Instant::now();
        let mut sent = 0;
        for c in bytes.chunks(chunk) {
            let due = start + Duration::from_secs_f64(sent as f64 / rate);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            if f.write_all(c).is_err() {
                break;
            }
            sent += c.len();
        }
        sent
    })
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a valid C string and mode.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

#[test]
fn a_killed_capture_is_recovered_losing_at_most_the_last_second() {
    let tmp = tempfile::tempdir().unwrap();
    let (channels, rate, bits) = (2u16, 48_000u32, 16u16);
    let samples = signal(channels, rate, bits, 6.0);
    let bytes = raw(&samples, bits);
    let fifo = tmp.path().join("tape.fifo");
    mkfifo(&fifo);
    let profile = profile_for(tmp.path(), channels, rate, bits, "interleaved");
    // Period 1024 frames = 4096 bytes = one pipe write (see ../shared/alsa/README.md).
    let mut child = capture_command(tmp.path(), &profile, "k", &fifo)
        .args(["--duration", "6s", "--buffer", "1024"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let feeder = feed_at_real_time(fifo.clone(), bytes, 4096, f64::from(rate) * 4.0);
    std::thread::sleep(Duration::from_millis(3000));
    child.kill().unwrap(); // SIGKILL, mid-take
    child.wait().unwrap();
    let sent = feeder.join().unwrap();
    let sent_frames = sent / 4;
    let archive = tmp.path().join("archive");
    common::institution(&archive);
    assert!(
        !archive.join("default/k").exists(),
        "no item before recovery"
    );

    let o = run(capstan().args(["recover", "--archive"]).arg(&archive));
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("recovered default/k"), "{}", text(&o));
    let (_, got) = master_samples(&archive, "k");
    let frames = got.len() / 2;
    assert!(
        frames + rate as usize >= sent_frames,
        "lost more than a second: {frames} of {sent_frames} frames"
    );
    assert!(frames > 0);
    assert!(got[..] == samples[..got.len()], "recovered samples differ");
    let cap = &qc(&archive, "k")["takes"][0]["capture"];
    assert_eq!(cap["recovered"], true, "{cap}");
    assert_eq!(cap["flagged"], true);
    // A valid item: the verifier and bagit.py agree.
    assert_valid_bag(&archive.join("default/k"));
    let o = run(capstan().arg("verify").arg("--deep").arg(&archive));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        std::fs::read_dir(archive.join(".capstan/journal"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn a_device_that_stops_delivering_ends_the_take_which_is_kept_and_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let (channels, rate, bits) = (2u16, 48_000u32, 16u16);
    // Whole periods (1024 frames): the plugin does not retry a short read.
    let samples = signal(channels, rate, bits, 47_104.0 / 48_000.0);
    let fifo = tmp.path().join("tape.fifo");
    mkfifo(&fifo);
    let profile = profile_for(tmp.path(), channels, rate, bits, "interleaved");
    let child = capture_command(tmp.path(), &profile, "d", &fifo)
        .args(["--duration", "60s", "--buffer", "1024"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // One second of audio, then the pipe stays open and silent: the device hangs.
    let mut f = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    for c in raw(&samples, bits).chunks(4096) {
        f.write_all(c).unwrap();
    }
    let o = child.wait_with_output().unwrap();
    drop(f);
    // Finished, and flagged (exit 1): a take that ended on a failure needs a listen.
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("device error"), "{}", text(&o));
    let archive = tmp.path().join("archive");
    common::institution(&archive);
    let cap = &qc(&archive, "d")["takes"][0]["capture"];
    assert!(
        cap["ended"].as_str().unwrap().starts_with("device error"),
        "{cap}"
    );
    assert_eq!(cap["flagged"], true, "{cap}");
    let (_, got) = master_samples(&archive, "d");
    assert!(got == samples, "the second captured was not kept whole");
}

/// A capture into a small tmpfs of its own, fed through a pipe at 40x real time, with no
/// duration: it runs until the disk says otherwise. Returns the input and the child's output.
fn capture_into_small_disk(
    tmp: &Path,
    id: &str,
    during: impl FnOnce(),
) -> (Vec<i32>, std::process::Output) {
    let (channels, rate, bits) = (2u16, 48_000u32, 16u16);
    let samples = signal(channels, rate, bits, 150.0);
    let fifo = tmp.join("tape.fifo");
    mkfifo(&fifo);
    let profile = profile_for(tmp, channels, rate, bits, "interleaved");
    let child = capture_command(tmp, &profile, id, &fifo)
        .args(["--buffer", "1024"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let feeder = feed_at_real_time(fifo, raw(&samples, bits), 4096, f64::from(rate) * 40.0);
    during();
    let o = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    (samples, o)
}

#[test]
fn a_filling_disk_ends_the_take_while_its_master_still_fits() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    common::institution(&archive);
    mount_tmpfs(&archive, "size=40m");
    let _guard = Unmount(archive.clone());
    let (samples, o) = capture_into_small_disk(tmp.path(), "full", || {});
    // Finished into an item, flagged (exit 1), the reason said.
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("take ended: disk full"), "{}", text(&o));
    let cap = &qc(&archive, "full")["takes"][0]["capture"];
    assert!(
        cap["ended"].as_str().unwrap().starts_with("disk full"),
        "{cap}"
    );
    assert_eq!(cap["flagged"], true);
    let (_, got) = master_samples(&archive, "full");
    // The 150 s tape did not fit; what was captured is all there, bit-exact.
    assert!(got.len() > samples.len() / 10 && got.len() < samples.len());
    assert!(got[..] == samples[..got.len()], "captured samples differ");
    assert_valid_bag(&archive.join("default/full"));
    let journal = archive.join(".capstan/journal");
    assert_eq!(std::fs::read_dir(journal).unwrap().count(), 0);
}

#[test]
fn a_disk_filled_by_another_writer_keeps_the_take_for_recover() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    common::institution(&archive);
    mount_tmpfs(&archive, "size=64m");
    let _guard = Unmount(archive.clone());
    let filler = archive.join("filler");
    let (samples, o) = capture_into_small_disk(tmp.path(), "crowded", || {
        // Something else takes every free byte a second into the take.
        std::thread::sleep(Duration::from_secs(1));
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 1 << 16];
        while f.write_all(&block).is_ok() {}
    });
    // Nothing could be finished, nothing was lost: the take waits in its journal.
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("disk full"), "{}", text(&o));
    assert!(text(&o).contains("capstan recover"), "{}", text(&o));
    assert!(!archive.join("default/crowded").exists());
    std::fs::remove_file(&filler).unwrap();

    let o = run(capstan().args(["recover", "--archive"]).arg(&archive));
    assert!(o.status.success(), "{}", text(&o));
    let cap = &qc(&archive, "crowded")["takes"][0]["capture"];
    assert_eq!(cap["recovered"], true, "{cap}");
    assert!(
        cap["ended"].as_str().unwrap().starts_with("disk full"),
        "the reason is kept with the journal: {cap}"
    );
    let (_, got) = master_samples(&archive, "crowded");
    assert!(got.len() > 48_000 * 2, "{} samples", got.len());
    assert!(got[..] == samples[..got.len()], "recovered samples differ");
    assert_valid_bag(&archive.join("default/crowded"));
}

#[test]
fn the_demo_tape_plays_at_real_time_into_an_item() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    common::institution(&archive);
    let start = Instant::now();
    let o = run(capstan()
        .args([
            "capture",
            "--device",
            "demo",
            "--profile",
            "quarter-inch-half-track-stereo",
        ])
        .args([
            "--id",
            "demo",
            "--duration",
            "2s",
            "--meta",
            "TITLE=demo",
            "--meta",
        ])
        .args(["TAPE_SPEED=7.5", "--archive"])
        .arg(&archive));
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        start.elapsed() >= Duration::from_millis(1900),
        "not real time"
    );
    let (ch, got) = master_samples(&archive, "demo");
    assert_eq!(ch, 2);
    let tape = capstan::demo::demo_signal();
    assert!(
        got[..] == tape[..2 * 96_000 * 2],
        "the master is not the demo tape"
    );
}

#[test]
fn a_take_held_for_review_is_committed_or_discarded_only_when_asked() {
    use capstan::capture::{capture_for_review, CaptureRequest};
    let tmp = tempfile::tempdir().unwrap();
    let archive = capstan::archive::Archive::new(tmp.path().join("archive"));
    common::institution(&archive.root);
    let profile = capstan::profile::Profile::load("quarter-inch-half-track-stereo").unwrap();
    let mut meta = capstan::metadata::Fields::default();
    for (k, v) in [("TITLE", "review"), ("TAPE_SPEED", "7.5")] {
        meta.0.insert(k.into(), v.into());
    }
    let request = |id: &str| CaptureRequest {
        profile: profile.clone(),
        profile_arg: "quarter-inch-half-track-stereo".into(),
        id: id.into(),
        collection: "default".into(),
        meta: meta.clone(),
        archive: archive.clone(),
        device: "demo".into(),
        duration: Some(72_000), // 0.75 s: past the head silence into the line-up tone
        buffer: None,
        stop: Default::default(),
        now: time::OffsetDateTime::now_utc(),
    };
    let journal_files = || {
        std::fs::read_dir(archive.meta_dir().join("journal"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    let held = capture_for_review(&request("a"), &mut |_| {}).unwrap();
    // Staged and proved, not in the archive; its journal still there.
    assert!(held.prepared.bag_dir().join("data/a_pm.flac").is_file());
    assert_eq!(held.prepared.report().takes[0].source.frames.0, 72_000);
    assert!(!archive.item_dir("default", "a").exists());
    assert!(journal_files() > 0);
    let staged = held.prepared.bag_dir().to_path_buf();
    held.discard();
    assert!(!staged.exists() && !archive.item_dir("default", "a").exists());
    assert_eq!(journal_files(), 0, "a discarded take keeps no journal");

    // Live levels at 20 Hz or more, every channel, while the take runs.
    let (mut levels, started) = (Vec::new(), std::time::Instant::now());
    let held = capture_for_review(&request("b"), &mut |e| {
        if let capstan::capture::CaptureEvent::Levels { channels, .. } = e {
            assert_eq!(channels.len(), 2);
            levels.push(started.elapsed());
        }
    })
    .unwrap();
    let span = (*levels.last().unwrap() - levels[0]).as_secs_f64();
    let rate = (levels.len() - 1) as f64 / span;
    assert!(
        rate >= 19.5 && span > 0.6,
        "{} meter events in {span:.2} s",
        levels.len()
    );
    let wave =
        capstan::review::overview(&held.prepared.bag_dir().join("data/b_pm.flac"), 100).unwrap();
    assert_eq!((wave.channels.len(), wave.channels[0].len()), (2, 100));
    assert!(
        wave.channels[0].iter().any(|b| b[1] > 0.01),
        "a silent overview"
    );
    let done = held.commit().unwrap();
    assert_eq!(done.ingest.bag, archive.item_dir("default", "b"));
    assert_valid_bag(&done.ingest.bag);
    assert_eq!(journal_files(), 0);
}

#[test]
fn a_take_tells_its_phase_correlation_and_its_end() {
    use capstan::capture::{capture_for_review, CaptureEvent, CaptureRequest};
    let tmp = tempfile::tempdir().unwrap();
    let archive = capstan::archive::Archive::new(tmp.path().join("archive"));
    common::institution(&archive.root);
    let mut meta = capstan::metadata::Fields::default();
    for (k, v) in [("TITLE", "events"), ("TAPE_SPEED", "7.5")] {
        meta.0.insert(k.into(), v.into());
    }
    let req = CaptureRequest {
        profile: capstan::profile::Profile::load("quarter-inch-half-track-stereo").unwrap(),
        profile_arg: "quarter-inch-half-track-stereo".into(),
        id: "events".into(),
        collection: "default".into(),
        meta,
        archive,
        device: "demo".into(),
        // 1 s: the demo tape's 0.5 s of head silence, then its line-up tone (the same on both
        // channels).
        duration: Some(96_000),
        buffer: None,
        stop: Default::default(),
        now: time::OffsetDateTime::now_utc(),
    };
    let mut told: Vec<String> = Vec::new();
    let mut correlations: Vec<(u64, Option<f64>)> = Vec::new();
    let take = capture_for_review(&req, &mut |e| match e {
        CaptureEvent::Ready { .. } => told.push("ready".into()),
        CaptureEvent::Levels {
            frames,
            correlation,
            ..
        } => {
            told.push("levels".into());
            correlations.push((frames, correlation));
        }
        CaptureEvent::Gap { kind, .. } => told.push(format!("gap {kind}")),
        CaptureEvent::DeviceSilent { .. } => told.push("silent".into()),
        CaptureEvent::Ended { reason } => told.push(format!("ended: {reason}")),
    })
    .unwrap();
    assert_eq!(told.first().map(String::as_str), Some("ready"));
    assert_eq!(
        told.last().map(String::as_str),
        Some("ended: duration reached")
    );
    assert_eq!(told.iter().filter(|t| t.starts_with("ended")).count(), 1);
    assert!(
        !told.iter().any(|t| t.starts_with("gap") || t == "silent"),
        "{told:?}"
    );
    // Silence has no phase; the tone on both channels reads +1.
    let head: Vec<_> = correlations.iter().filter(|(f, _)| *f < 40_000).collect();
    assert!(head.iter().all(|(_, c)| c.is_none()), "{head:?}");
    let tone: Vec<f64> = correlations
        .iter()
        .filter(|(f, _)| *f > 60_000)
        .map(|(_, c)| c.expect("the tone has a phase"))
        .collect();
    assert!(!tone.is_empty());
    assert!(tone.iter().all(|c| (c - 1.0).abs() < 1e-6), "{tone:?}");
    take.discard();
}

#[test]
fn a_bare_duration_is_seconds() {
    let tmp = tempfile::tempdir().unwrap();
    let samples = signal(2, 48_000, 16, 1.0);
    let infile = tmp.path().join("bare.raw");
    std::fs::write(&infile, raw(&samples, 16)).unwrap();
    let profile = profile_for(tmp.path(), 2, 48_000, 16, "interleaved");
    let o =
        run(capture_command(tmp.path(), &profile, "bare", &infile).args(["--duration", "0.25"]));
    assert!(o.status.success(), "{}", text(&o));
    let (_, got) = master_samples(&tmp.path().join("archive"), "bare");
    assert_eq!(got.len(), 2 * 12_000, "0.25 means a quarter of a second");
}
