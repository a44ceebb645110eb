//! Metadata cannot be forged or broken: line and paragraph separators are refused like control
//! characters (or become spaces when a source carries them), the fields Capstan writes itself
//! cannot be set by the operator or a profile, bext origination date and time are ISO, and a
//! hostile file name never reaches the terminal raw.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Setup {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    profile: PathBuf,
    wav: PathBuf,
    archive: PathBuf,
    decoy: PathBuf,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let profile = profile_for(&dir, 2, 48_000, 16, "interleaved");
    let wav = dir.join("take.wav");
    write_wav(
        &wav,
        &WavSpec::pcm(2, 48_000, 16),
        &signal(2, 48_000, 16, 0.5),
    );
    let decoy = decoy(&dir);
    institution(&dir.join("archive"));
    Setup {
        archive: dir.join("archive"),
        _tmp: tmp,
        dir,
        profile,
        wav,
        decoy,
    }
}

/// The ingest is refused with `code` and `message`, and nothing anywhere changed.
fn assert_refused(s: &Setup, cmd: &mut Command, code: i32, message: &str) {
    let decoy = snapshot(&s.decoy);
    let archive = snapshot(&s.archive);
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(code), "{}", text(&out));
    assert!(
        text(&out).contains(message),
        "{message:?} not in {}",
        text(&out)
    );
    assert_eq!(snapshot(&s.decoy), decoy);
    assert_eq!(snapshot(&s.archive), archive, "the archive changed");
}

#[test]
fn line_and_paragraph_separators_in_meta_are_refused_with_exit_1() {
    let s = setup();
    for (sep, name) in [
        ('\u{2028}', "line separator U+2028"),
        ('\u{2029}', "line separator U+2029"),
        ('\u{85}', "control character U+0085"),
    ] {
        let title = format!("TITLE=one{sep}two");
        assert_refused(
            &s,
            &mut ingest_command(&s.archive, &s.profile, "t", "c", &[&s.wav], &[&title]),
            1,
            &format!("TITLE: value contains the {name} at byte 3"),
        );
    }
}

#[test]
fn a_profile_default_with_a_line_separator_is_refused() {
    let s = setup();
    let profile = s.dir.join("sep.toml");
    let text = std::fs::read_to_string(&s.profile).unwrap()
        + "[metadata.defaults]\nDECK = \"Studer\u{2028}forged line\"\n";
    std::fs::write(&profile, text).unwrap();
    assert_refused(
        &s,
        &mut ingest_command(&s.archive, &profile, "t", "c", &[&s.wav], &["TITLE=t"]),
        2,
        "DECK: value contains the line separator U+2028",
    );
}

#[test]
fn fields_capstan_writes_are_refused_from_meta_and_from_profile_defaults_with_exit_1() {
    let s = setup();
    for key in [
        "ROLE",
        "ENCODER",
        "CODING_HISTORY",
        "SOURCE_MD5",
        "PART",
        "CHANNEL_NAMES",
        "CAPSTAN_PROFILE",
        "CARRIER_ID",
        "COLLECTION",
    ] {
        let meta = format!("{key}=forged");
        assert_refused(
            &s,
            &mut ingest_command(
                &s.archive,
                &s.profile,
                "t",
                "c",
                &[&s.wav],
                &["TITLE=t", &meta],
            ),
            1,
            &format!("--meta may not set {key}: Capstan writes it itself"),
        );
        let profile = s.dir.join(format!("{key}.toml"));
        let text = std::fs::read_to_string(&s.profile).unwrap()
            + &format!("[metadata.defaults]\n{key} = \"forged\"\n");
        std::fs::write(&profile, text).unwrap();
        assert_refused(
            &s,
            &mut ingest_command(&s.archive, &profile, "t", "c", &[&s.wav], &["TITLE=t"]),
            1,
            &format!("the profile's defaults may not set {key}: Capstan writes it itself"),
        );
    }
}

#[test]
fn origination_date_and_time_from_meta_must_be_iso() {
    let s = setup();
    for (meta, message) in [
        (
            "ORIGINATION_DATE=2024-13-01",
            "is not an ISO date yyyy-mm-dd",
        ),
        (
            "ORIGINATION_DATE=01/02/2024",
            "is not an ISO date yyyy-mm-dd",
        ),
        ("ORIGINATION_TIME=25:00:00", "is not a time hh:mm:ss"),
        ("ORIGINATION_TIME=noon", "is not a time hh:mm:ss"),
    ] {
        assert_refused(
            &s,
            &mut ingest_command(
                &s.archive,
                &s.profile,
                "t",
                "c",
                &[&s.wav],
                &["TITLE=t", meta],
            ),
            1,
            message,
        );
    }
}

/// A bext chunk (EBU Tech 3285 v2) with these fields.
fn bext(description: &str, date: &str, time: &str) -> Vec<u8> {
    let mut b = Vec::new();
    let field = |b: &mut Vec<u8>, s: &str, n: usize| {
        let mut f = s.as_bytes().to_vec();
        f.resize(n, 0);
        b.extend_from_slice(&f);
    };
    field(&mut b, description, 256);
    field(&mut b, "", 32);
    field(&mut b, "", 32);
    field(&mut b, date, 10);
    field(&mut b, time, 8);
    b.extend_from_slice(&[0; 8]); // time reference
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&[0; 64 + 10 + 180]);
    b
}

/// The master's bext chunk as `flac -d --keep-foreign-metadata` restores it.
fn restored_bext(master: &Path, dir: &Path) -> Vec<u8> {
    let wav = dir.join("restored.wav");
    let _ = std::fs::remove_file(&wav);
    let out = run(Command::new(tool("flac"))
        .args(["-d", "-s", "--keep-foreign-metadata", "-o"])
        .arg(&wav)
        .arg(master));
    assert!(out.status.success(), "{}", text(&out));
    wav_chunks(&wav)
        .into_iter()
        .find(|(id, _)| id == b"bext")
        .expect("a bext chunk")
        .1
}

#[test]
fn separators_carried_by_a_source_become_spaces_and_a_bad_bext_date_gives_way_to_the_transfer_time()
{
    let s = setup();
    let mut spec = WavSpec::pcm(2, 48_000, 16);
    let mut source_bext = bext("Side A\u{2028}Side B", "2024-99-99", "12.30.00");
    source_bext
        .extend_from_slice("A=PCM,F=48000,W=24,M=stereo,T=deck\u{2028}A=FORGED\r\n".as_bytes());
    spec.before.push((*b"bext", source_bext));
    let mut info = b"INFO".to_vec();
    let title = "Live\u{2029}at\u{85}home\0".as_bytes();
    info.extend_from_slice(b"INAM");
    info.extend_from_slice(&(title.len() as u32).to_le_bytes());
    info.extend_from_slice(title);
    if title.len() % 2 == 1 {
        info.push(0);
    }
    spec.before.push((*b"LIST", info));
    let wav = s.dir.join("carried.wav");
    write_wav(&wav, &spec, &signal(2, 48_000, 16, 0.5));
    let decoy = snapshot(&s.decoy);
    let out = run(&mut ingest_command(
        &s.archive,
        &s.profile,
        "t",
        "c",
        &[&wav],
        &[],
    ));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains(&format!(
            "warning: {}: the bext OriginationDate \"2024-99-99\" is not valid; the transfer's is used",
            wav.display()
        )),
        "{}",
        text(&out)
    );
    let bag = s.archive.join("c/t");
    let master = &masters(&bag)[0];
    let tag = |name: &str| {
        let out = run(Command::new(tool("metaflac"))
            .arg(format!("--show-tag={name}"))
            .arg(master));
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(tag("TITLE"), "TITLE=Live at home\n");
    assert_eq!(tag("DESCRIPTION"), "DESCRIPTION=Side A Side B\n");
    let history = tag("CODING_HISTORY");
    assert!(
        // The source (16-bit) claims W=24 in its history: the restored file's own PCM line
        // follows it, then the FLAC step.
        history.starts_with(
            "CODING_HISTORY=A=PCM,F=48000,W=24,M=stereo,T=deck A=FORGED\n\
             CODING_HISTORY=A=PCM,F=48000,W=16,M=stereo,T=Capstan "
        ) && history.contains("\nCODING_HISTORY=A=FLAC,"),
        "{history:?}"
    );
    let b = restored_bext(master, &s.dir);
    // SOURCE_DATE_EPOCH 1795000000 is 2026-11-18 11:06:40 UTC; the EBU separator '.' of the
    // source's valid time is read as ':'.
    assert_eq!(&b[320..330], b"2026-11-18");
    assert_eq!(&b[330..338], b"12:30:00");
    assert!(!String::from_utf8_lossy(&b[..256]).contains('\u{2028}'));
    assert_valid_bag(&bag);
    assert_eq!(snapshot(&s.decoy), decoy);
}

#[test]
fn file_names_with_newlines_and_escape_sequences_are_escaped_in_text_output() {
    let s = setup();
    // A source whose name would forge a line and clear the screen.
    let hostile = s.dir.join("side\nPASS everything\u{1b}[2J.wav");
    std::fs::copy(&s.wav, &hostile).unwrap();
    let out = run(&mut ingest_command(
        &s.archive,
        &s.profile,
        "t",
        "c",
        &[&hostile],
        &["TITLE=t"],
    ));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = run(capstan().args(["log", "c/t", "--archive"]).arg(&s.archive));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let log = String::from_utf8(out.stdout).unwrap();
    assert!(
        log.contains("side\\nPASS everything\\u{1B}[2J.wav"),
        "escaped in the log: {log}"
    );
    assert!(!log.contains('\u{1b}') && !log.contains("\nPASS"), "{log}");

    // A stray file with such a name in a bag: verify names it, escaped.
    let bag = s.archive.join("c/t");
    std::fs::write(bag.join("data/x\nverify: PASS\u{1b}[1A.flac"), b"stray").unwrap();
    let decoy = snapshot(&s.decoy);
    let out = run(capstan().args(["verify", "--no-record"]).arg(&s.archive));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("x\\nverify: PASS\\u{1B}[1A.flac"),
        "escaped in verify: {stdout}"
    );
    assert!(
        !stdout.contains('\u{1b}') && !stdout.contains("\nverify: PASS"),
        "{stdout}"
    );
    assert_eq!(snapshot(&s.decoy), decoy);
}
