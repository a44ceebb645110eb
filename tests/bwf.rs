//! The BWF a master (or an access copy) restores to with `flac -d --keep-foreign-metadata`,
//! judged by BWF MetaEdit 26.01 (the Library of Congress's reference tool, built by
//! `scripts/setup.sh` from `../shared/tools/bwfmetaedit`): no error under the EBU Tech 3285
//! required and recommended rules, the R98 coding-history rules (allowing F>48000) and FADGI's,
//! and `bwfmetaedit --MD5-Verify` proves the MD5 chunk against the audio.
//!
//! Cases: stereo, mono, an 8-track per-channel take, a declicked access copy, a 44-character
//! id (OriginatorReference then points to the Description), and a BWF carried over with its own
//! bext and LIST-INFO.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The four rule sets every restored file must pass.
const RULE_SETS: [&str; 4] = [
    "Tech3285-required",
    "Tech3285-recommended",
    "CodingHistory-R98-recommended+F>48000",
    "FADGI-recommended",
];

/// A restored file and its bext and INFO fields as bwfcheck shows them.
struct Restored {
    wav: PathBuf,
    report: String,
}

impl Restored {
    /// One field's value.
    fn field(&self, name: &str) -> &str {
        let prefix = format!("  {name} = [");
        self.report
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|v| v.strip_suffix(']'))
            .unwrap_or_else(|| panic!("no {name} in {}:\n{}", self.wav.display(), self.report))
    }
}

/// Restores every FLAC file of `bag` and checks each with bwfcheck and --MD5-Verify; returns
/// the restored files with what bwfcheck said of them.
fn restored_pass_bwf_metaedit(bag: &Path, out: &Path) -> Vec<Restored> {
    let mut restored = Vec::new();
    for flac in masters(bag) {
        let wav = out.join(flac.with_extension("wav").file_name().unwrap());
        restore_with(&tool("flac"), &flac, &wav, &[]);
        // flac 1.5 (which checks every restored chunk against the stored one) gives the same.
        let by_15 = out.join("by-1.5.wav");
        restore_with(&flac15(), &flac, &by_15, &[]);
        assert!(
            std::fs::read(&by_15).unwrap() == std::fs::read(&wav).unwrap(),
            "flac 1.4.2 and 1.5 restore {} differently",
            flac.display()
        );
        std::fs::remove_file(&by_15).unwrap();
        let o = run(Command::new(tool("bwfcheck")).arg(&wav));
        let report = text(&o);
        assert!(o.status.success(), "{report}");
        assert!(report.contains("open=ok"), "{report}");
        assert!(!report.contains("FILE-ERROR"), "{report}");
        for set in RULE_SETS {
            assert!(
                !report.contains(&format!("ERROR[{set}]")),
                "{} fails {set}:\n{report}",
                wav.display()
            );
        }
        // The file is checked as it is: bwfmetaedit --MD5-Verify only reads it.
        let o = run(Command::new(tool("bwfmetaedit"))
            .arg("--MD5-Verify")
            .arg(&wav));
        let said = text(&o);
        assert!(o.status.success(), "{}: {said}", wav.display());
        assert!(
            !said.contains("failed") && !said.contains("no existing MD5"),
            "{said}"
        );
        restored.push(Restored { wav, report });
    }
    restored
}

fn ingest(archive: &Path, profile: &str, id: &str, wav: &Path, meta: &[&str]) -> PathBuf {
    let o = run(ingest_command(archive, profile, id, "tapes", &[wav], meta).arg("--json"));
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    PathBuf::from(v["bag"].as_str().unwrap())
}

#[test]
fn stereo_mono_and_per_channel_masters_restore_to_fadgi_and_r98_conformant_bwf() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    common::institution(&archive);
    let out = tmp.path().join("restored");
    std::fs::create_dir_all(&out).unwrap();
    for (profile, channels, id) in [
        ("quarter-inch-half-track-stereo", 2u16, "stereo-1"),
        ("quarter-inch-full-track-mono", 1, "mono-1"),
        ("half-inch-8-track", 8, "eight-1"),
    ] {
        let wav = tmp.path().join(format!("{id}.wav"));
        write_wav(
            &wav,
            &WavSpec::pcm(channels, 96_000, 24),
            &signal(channels, 96_000, 24, 0.5),
        );
        let bag = ingest(
            &archive,
            profile,
            id,
            &wav,
            &[
                "TITLE=Reel, side A",
                "TAPE_SPEED=15",
                "DECK=Studer A807, SN 12",
            ],
        );
        let restored = restored_pass_bwf_metaedit(&bag, &out);
        assert_eq!(restored.len(), if channels == 8 { 8 } else { 1 }, "{id}");
        for wav in &restored {
            assert_eq!(wav.field("Originator"), "GB, Test Archive");
            assert_eq!(wav.field("IARL"), "GB, Test Archive");
            assert_eq!(wav.field("OriginatorReference"), id);
            assert_eq!(wav.field("INAM"), "Reel, side A");
            let history = wav.field("CodingHistory");
            let mode = if channels == 2 { "stereo" } else { "mono" };
            assert!(!history.contains("A=FLAC"), "{history}");
            assert!(
                history.starts_with(&format!("A=ANALOGUE,M={mode},T=Studer A807; SN 12;")),
                "{history}"
            );
        }
        if channels == 8 {
            // Each per-channel master carries its own channel's loudness: the tracks differ (a
            // sine at 220 Hz times the track number, which K-weighting weighs differently).
            let loudness: std::collections::BTreeSet<&str> =
                restored.iter().map(|w| w.field("LoudnessValue")).collect();
            assert_eq!(loudness.len(), 8, "{loudness:?}");
        }
    }
}

#[test]
fn an_access_copy_and_a_long_id_restore_conformant_too() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    common::institution(&archive);
    let out = tmp.path().join("restored");
    std::fs::create_dir_all(&out).unwrap();
    let wav = tmp.path().join("disc.wav");
    write_wav(
        &wav,
        &WavSpec::pcm(2, 96_000, 24),
        &signal(2, 96_000, 24, 0.5),
    );
    let id = "disc-0123456789-abcdefghij-0123456789-abcdef";
    assert_eq!(id.len(), 44);
    let bag = ingest(&archive, "lacquer-disc", id, &wav, &["TITLE=A lacquer"]);
    let restored = restored_pass_bwf_metaedit(&bag, &out);
    assert_eq!(restored.len(), 2, "a master and its access copy");
    for wav in &restored {
        assert_eq!(
            wav.field("OriginatorReference"),
            "See Description for identifiers"
        );
        assert_eq!(
            wav.field("Description"),
            format!("Identifier: tapes/{id}; A lacquer")
        );
    }
    // The access copy's history is the master's and its processing, still PCM to the end.
    let history = restored[0].field("CodingHistory");
    assert!(history.contains("access copy of"), "{history}");
}

#[test]
fn a_bwf_carried_over_with_its_own_bext_and_info_restores_conformant() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    common::institution(&archive);
    let out = tmp.path().join("restored");
    std::fs::create_dir_all(&out).unwrap();
    let mut spec = WavSpec::pcm(2, 96_000, 24);
    let mut bext = vec![0u8; 602];
    let put =
        |b: &mut Vec<u8>, at: usize, s: &str| b[at..at + s.len()].copy_from_slice(s.as_bytes());
    put(&mut bext, 0, "Interview, tape 3");
    put(&mut bext, 256, "US, Other Archive");
    put(&mut bext, 288, "OA-1994-77");
    put(&mut bext, 320, "1994-03-05");
    put(&mut bext, 330, "10:11:12");
    bext[346] = 1;
    bext.extend_from_slice(
        b"A=ANALOGUE,M=stereo,T=Nagra IV-S; 7.5 ips\r\nA=PCM,F=96000,W=24,M=stereo,T=Prism AD-2\r\n",
    );
    spec.before.push((*b"bext", bext));
    let mut info = b"INFO".to_vec();
    info.extend_from_slice(b"INAM\x0a\0\0\0Interview\0");
    info.extend_from_slice(b"IENG\x06\0\0\0Smith\0");
    spec.after.push((*b"LIST", info));
    let wav = tmp.path().join("carried.wav");
    write_wav(&wav, &spec, &signal(2, 96_000, 24, 0.5));
    let bag = ingest(
        &archive,
        "quarter-inch-half-track-stereo",
        "oa-77",
        &wav,
        &["TAPE_SPEED=7.5"],
    );
    let restored = restored_pass_bwf_metaedit(&bag, &out);
    let wav = &restored[0];
    // The source's Originator and history are kept (it ends as the file does: nothing added).
    assert_eq!(wav.field("Originator"), "US, Other Archive");
    assert_eq!(wav.field("IARL"), "US, Other Archive");
    assert_eq!(wav.field("IENG"), "Smith");
    assert_eq!(
        wav.field("CodingHistory"),
        "A=ANALOGUE,M=stereo,T=Nagra IV-S; 7.5 ips|A=PCM,F=96000,W=24,M=stereo,T=Prism AD-2|"
    );
}

/// Vorbis comments survive the tools: `metaflac --export-tags-to=- | metaflac
/// --import-tags-from=-` gives every comment back, the coding history one comment per line.
#[test]
fn every_comment_round_trips_through_metaflac_export_and_import() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    common::institution(&archive);
    let wav = tmp.path().join("t.wav");
    write_wav(
        &wav,
        &WavSpec::pcm(2, 96_000, 24),
        &signal(2, 96_000, 24, 0.3),
    );
    let bag = ingest(
        &archive,
        "quarter-inch-half-track-stereo",
        "rt-1",
        &wav,
        &["TITLE=Round trip", "TAPE_SPEED=15", "DECK=Studer, A80"],
    );
    let master = &masters(&bag)[0];
    let export = |f: &Path| {
        let o = run(Command::new(tool("metaflac"))
            .arg("--export-tags-to=-")
            .arg(f));
        assert!(o.status.success(), "{}", text(&o));
        String::from_utf8(o.stdout).unwrap()
    };
    let before = export(master);
    let history: Vec<&str> = before
        .lines()
        .filter(|l| l.starts_with("CODING_HISTORY="))
        .collect();
    assert_eq!(history.len(), 3, "{before}");
    assert!(history[0].starts_with("CODING_HISTORY=A=ANALOGUE,M=stereo,T=Studer; A80;"));
    assert!(history[2].starts_with("CODING_HISTORY=A=FLAC,F=96000,W=24,M=stereo,T=Capstan "));
    let copy = tmp.path().join("copy.flac");
    std::fs::copy(master, &copy).unwrap();
    let o = run(Command::new(tool("metaflac"))
        .arg("--remove-all-tags")
        .arg(&copy));
    assert!(o.status.success(), "{}", text(&o));
    let tags = tmp.path().join("tags.txt");
    std::fs::write(&tags, &before).unwrap();
    let o = run(Command::new(tool("metaflac"))
        .arg(format!("--import-tags-from={}", tags.display()))
        .arg(&copy));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(export(&copy), before);
}

/// The archive's institution is set once and gives every item its Originator; without one
/// (and none given), an item is refused before anything is written.
#[test]
fn an_item_without_an_originator_is_refused_and_the_institution_is_set_once() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    let wav = tmp.path().join("t.wav");
    write_wav(
        &wav,
        &WavSpec::pcm(2, 48_000, 16),
        &signal(2, 48_000, 16, 0.2),
    );
    let o = run(&mut ingest_command(
        &archive,
        "dat",
        "x1",
        "tapes",
        &[&wav],
        &["TITLE=T"],
    ));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("capstan institution"), "{}", text(&o));
    assert!(!archive.join("tapes").exists());

    let institution = |args: &[&str]| {
        run(capstan()
            .arg("institution")
            .args(args)
            .arg("--archive")
            .arg(&archive))
    };
    assert_eq!(institution(&[]).status.code(), Some(1), "none set yet");
    for bad in [["--country", "usa"], ["--country", "U1"]] {
        let o = institution(&[bad[0], bad[1], "--organisation", "LOC/RSS"]);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    }
    let o = institution(&["--country", "US", "--organisation", "LOC/RSS"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "US, LOC/RSS\n");
    assert_eq!(
        String::from_utf8_lossy(&institution(&[]).stdout),
        "US, LOC/RSS\n"
    );

    let o = run(&mut ingest_command(
        &archive,
        "dat",
        "x1",
        "tapes",
        &[&wav],
        &["TITLE=T"],
    ));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = tmp.path().join("r");
    std::fs::create_dir_all(&out).unwrap();
    let restored = restored_pass_bwf_metaedit(&archive.join("tapes/x1"), &out);
    assert_eq!(restored[0].field("Originator"), "US, LOC/RSS");
    // A per-item override.
    let o = run(&mut ingest_command(
        &archive,
        "dat",
        "x2",
        "tapes",
        &[&wav],
        &["TITLE=T", "COUNTRY=FR", "ORGANIZATION=INA"],
    ));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let restored = restored_pass_bwf_metaedit(&archive.join("tapes/x2"), &out);
    assert_eq!(restored[0].field("Originator"), "FR, INA");
}
