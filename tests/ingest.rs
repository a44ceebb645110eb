//! Ingest, end to end through the `capstan` binary, checked with tools nobody here wrote:
//! `bagit.py --validate`, `flac -t`, `flac -d` (also with `--keep-foreign-metadata`),
//! `metaflac --list` and ffmpeg's FLAC decoder.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn ingest(
    archive: &Path,
    profile: &Path,
    id: &str,
    files: &[&Path],
    meta: &[&str],
) -> std::process::Output {
    run(&mut ingest_command(
        archive, profile, id, "tests", files, meta,
    ))
}

fn json_outcome(
    archive: &Path,
    profile: &str,
    id: &str,
    files: &[&Path],
    meta: &[&str],
) -> serde_json::Value {
    let out = run(ingest_command(archive, profile, id, "tests", files, meta).arg("--json"));
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn ingest_matrix_round_trips_bit_exact_through_independent_decoders() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    common::institution(&archive);
    for channels in [1u16, 2, 8] {
        for rate in [44_100u32, 48_000, 96_000, 192_000] {
            for bits in [16u16, 24] {
                let id = format!("m{channels}-{rate}-{bits}");
                let samples = signal(channels, rate, bits, 0.3);
                let wav = tmp.path().join(format!("{id}.wav"));
                write_wav(&wav, &WavSpec::pcm(channels, rate, bits), &samples);
                let profile = profile_for(tmp.path(), channels, rate, bits, "interleaved");
                let out = ingest(&archive, &profile, &id, &[&wav], &["TITLE=matrix"]);
                assert!(out.status.success(), "{id}: {}", text(&out));
                let bag = archive.join("tests").join(&id);
                assert_valid_bag(&bag);
                let m = masters(&bag);
                assert_eq!(m.len(), 1, "{id}");
                assert_flac_t(&m[0]);
                // ffmpeg's decoder: an implementation independent of libFLAC.
                let decoded = ffmpeg_decode(&m[0], bits);
                assert_eq!(decoded.len(), samples.len(), "{id}: sample count");
                if let Some(i) = decoded.iter().zip(&samples).position(|(a, b)| a != b) {
                    panic!(
                        "{id}: sample {} of channel {} differs: {} != {}",
                        i / usize::from(channels),
                        i % usize::from(channels) + 1,
                        decoded[i],
                        samples[i]
                    );
                }
                // flac -d: the WAV it writes holds the same samples.
                let out_wav = tmp.path().join(format!("{id}.out.wav"));
                let mut d = Command::new(tool("flac"));
                d.args(["-s", "-d", "-f", "-o"]).arg(&out_wav).arg(&m[0]);
                let o = run(&mut d);
                assert!(o.status.success(), "flac -d {id}: {}", text(&o));
                let (c, b, s) = read_wav_samples(&out_wav);
                assert_eq!((c, b), (channels, bits), "{id}");
                assert!(s == samples, "{id}: flac -d output differs from the source");
                // flac 1.5 restores the stored WAV (it checks each chunk it writes against
                // the stored one): the same samples.
                restore_with(&flac15(), &m[0], &out_wav, &[]);
                let (c, b, s) = read_wav_samples(&out_wav);
                assert_eq!((c, b), (channels, bits), "{id}");
                assert!(
                    s == samples,
                    "{id}: flac 1.5 output differs from the source"
                );
            }
        }
    }
}

#[test]
fn per_channel_layout_writes_one_bit_exact_master_per_track() {
    let tmp = tempfile::tempdir().unwrap();
    let samples = signal(8, 96_000, 24, 0.5);
    let wav = tmp.path().join("multi.wav");
    write_wav(&wav, &WavSpec::pcm(8, 96_000, 24), &samples);
    let archive = tmp.path().join("a");
    common::institution(&archive);
    let v = json_outcome(
        &archive,
        "half-inch-8-track",
        "reel-8",
        &[&wav],
        &["TITLE=Session", "TAPE_SPEED=15"],
    );
    let bag = PathBuf::from(v["bag"].as_str().unwrap());
    assert_valid_bag(&bag);
    let m = masters(&bag);
    assert_eq!(m.len(), 8);
    for (c, path) in m.iter().enumerate() {
        assert!(
            path.ends_with(format!("reel-8_pm_ch{:02}.flac", c + 1)),
            "{}",
            path.display()
        );
        assert_flac_t(path);
        let track: Vec<i32> = samples.iter().skip(c).step_by(8).copied().collect();
        assert!(ffmpeg_decode(path, 24) == track, "track {} differs", c + 1);
    }
    let report = &v["report"]["takes"][0];
    assert_eq!(report["masters"].as_array().unwrap().len(), 8);
    assert_eq!(report["masters"][2]["channel"], 3);
}

#[test]
fn several_files_form_one_item_with_a_master_each() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("side-a.wav");
    let b = tmp.path().join("side-b.wav");
    let sa = signal(2, 96_000, 24, 0.4);
    let sb = signal(2, 96_000, 24, 0.7);
    write_wav(&a, &WavSpec::pcm(2, 96_000, 24), &sa);
    write_wav(&b, &WavSpec::pcm(2, 96_000, 24), &sb);
    let archive = tmp.path().join("a");
    common::institution(&archive);
    let v = json_outcome(
        &archive,
        "compact-cassette",
        "cass-1",
        &[&a, &b],
        &["TITLE=Mixtape"],
    );
    let bag = PathBuf::from(v["bag"].as_str().unwrap());
    assert_valid_bag(&bag);
    let m = masters(&bag);
    assert_eq!(m.len(), 2);
    assert!(m[0].ends_with("cass-1_pm_p01.flac") && m[1].ends_with("cass-1_pm_p02.flac"));
    assert!(ffmpeg_decode(&m[0], 24) == sa);
    assert!(ffmpeg_decode(&m[1], 24) == sb);
    let info = std::fs::read_to_string(bag.join("bag-info.txt")).unwrap();
    assert!(info.contains("Payload-Oxum: "), "{info}");
    assert_eq!(v["report"]["takes"][1]["source"]["file"], "side-b.wav");
}

fn bext_payload(description: &str, history: &str) -> Vec<u8> {
    let mut b = vec![0u8; 602];
    b[..description.len()].copy_from_slice(description.as_bytes());
    b[256..256 + 9].copy_from_slice(b"US, Other");
    b[320..330].copy_from_slice(b"1994-03-05");
    b[330..338].copy_from_slice(b"10:11:12");
    b[346] = 1; // version 1: no loudness fields
    b.extend_from_slice(history.as_bytes());
    b
}

#[test]
fn source_metadata_is_carried_and_bext_restores_with_keep_foreign_metadata() {
    let tmp = tempfile::tempdir().unwrap();
    let mut spec = WavSpec::pcm(2, 96_000, 24);
    let history =
        "A=ANALOGUE,M=stereo,T=Studer A80; 15 ips\r\nA=PCM,F=96000,W=24,M=stereo,T=Prism AD-2\r\n";
    spec.before
        .push((*b"bext", bext_payload("Concert, first half", history)));
    spec.before
        .push((*b"iXML", b"<BWFXML><NOTE>odd</NOTE></BWFXML>".to_vec())); // 33 bytes: odd
    let mut info = b"INFO".to_vec();
    info.extend_from_slice(b"INAM\x0b\0\0\0Concert 1A\0\0");
    spec.after.push((*b"LIST", info.clone()));
    let samples = signal(2, 96_000, 24, 0.5);
    let wav = tmp.path().join("bwf.wav");
    write_wav(&wav, &spec, &samples);
    let archive = tmp.path().join("a");
    common::institution(&archive);
    let v = json_outcome(
        &archive,
        "quarter-inch-half-track-stereo",
        "bwf-1",
        &[&wav],
        &["TAPE_SPEED=15", "ORGANIZATION=Sound Archive", "COUNTRY=GB"],
    );
    let bag = PathBuf::from(v["bag"].as_str().unwrap());
    assert_valid_bag(&bag);
    let master = &masters(&bag)[0];
    assert_flac_t(master);

    let list = run(Command::new(tool("metaflac")).arg("--list").arg(master));
    let listing = String::from_utf8_lossy(&list.stdout);
    for expected in [
        "TITLE=Concert 1A",
        "DESCRIPTION=Concert, first half",
        "CARRIER_ID=bwf-1",
        "COLLECTION=tests",
        "TAPE_SPEED=15",
        "ROLE=preservation master",
        "CODING_HISTORY=A=ANALOGUE,M=stereo,T=Studer A80; 15 ips",
        "ENCODER=Capstan",
    ] {
        assert!(
            listing.contains(expected),
            "metaflac --list lacks {expected:?}:\n{listing}"
        );
    }

    let out_wav = tmp.path().join("restored.wav");
    let o = run(Command::new(tool("flac"))
        .args(["-s", "-d", "--keep-foreign-metadata", "-o"])
        .arg(&out_wav)
        .arg(master));
    assert!(o.status.success(), "{}", text(&o));
    let chunks = wav_chunks(&out_wav);
    let ids: Vec<&[u8]> = chunks.iter().map(|(id, _)| &id[..]).collect();
    // The source's chunks in their places; its LIST-INFO gains the archive's fields, and an
    // MD5 chunk of the audio closes the file.
    assert_eq!(
        ids,
        [&b"fmt "[..], b"bext", b"iXML", b"data", b"LIST", b"MD5 "]
    );
    let ixml = &chunks.iter().find(|(id, _)| id == b"iXML").unwrap().1;
    assert_eq!(ixml, b"<BWFXML><NOTE>odd</NOTE></BWFXML>");
    let list = &chunks.iter().find(|(id, _)| id == b"LIST").unwrap().1;
    assert_eq!(&list[..4], b"INFO");
    assert_eq!(
        capstan::riff::info::list_info(&list[4..]),
        [
            // The source's field first, as it had it; then IARL = the Originator (FADGI),
            // ICRD = the origination date, ICMT = the description.
            (*b"INAM", "Concert 1A".to_string()),
            (*b"IARL", "US, Other".to_string()),
            (*b"ICRD", "1994-03-05".to_string()),
            (*b"ICMT", "Concert, first half".to_string()),
        ]
    );
    let _ = &info;
    let bext = &chunks.iter().find(|(id, _)| id == b"bext").unwrap().1;
    let field = |a: usize, b: usize| {
        let s = &bext[a..b];
        String::from_utf8_lossy(&s[..s.iter().position(|&c| c == 0).unwrap_or(s.len())])
            .into_owned()
    };
    assert_eq!(field(0, 256), "Concert, first half");
    assert_eq!(
        field(256, 288),
        "US, Other",
        "the source's originator is kept"
    );
    assert_eq!(field(288, 320), "bwf-1");
    assert_eq!(field(320, 330), "1994-03-05");
    assert_eq!(field(330, 338), "10:11:12");
    assert_eq!(u16::from_le_bytes([bext[346], bext[347]]), 2);
    let coding = String::from_utf8_lossy(&bext[602..]).into_owned();
    assert!(coding.starts_with(history), "{coding}");
    // The source's history ends with the PCM the master restores to: nothing is added, and
    // no A=FLAC (not an R98 value: the FLAC step is in the Vorbis comments).
    assert_eq!(coding.trim_end_matches('\0'), history, "{coding}");
    assert!(
        listing.contains("CODING_HISTORY=A=FLAC,F=96000,W=24,M=stereo,T=Capstan "),
        "{listing}"
    );
    // Loudness fields: round(100 x value) of the QC report's programme figures.
    let overall = &v["report"]["takes"][0]["overall"];
    let lufs = overall["integrated_lufs"].as_f64().unwrap();
    assert_eq!(
        i16::from_le_bytes([bext[412], bext[413]]),
        (lufs * 100.0).round() as i16
    );
    let tp = overall["true_peak_dbtp"].as_f64().unwrap();
    assert_eq!(
        i16::from_le_bytes([bext[416], bext[417]]),
        (tp * 100.0).round() as i16
    );
    let (_, _, restored) = read_wav_samples(&out_wav);
    assert!(restored == samples);
    // The source's SHA-256 comes from the single read: it must cover every byte of the file,
    // the LIST chunk after the audio included.
    let sum = run(Command::new("sha256sum").arg(&wav));
    let expected = String::from_utf8_lossy(&sum.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert_eq!(
        v["report"]["takes"][0]["source"]["sha256"],
        expected.as_str()
    );
    assert_eq!(
        v["report"]["takes"][0]["source"]["bytes"],
        std::fs::metadata(&wav).unwrap().len()
    );
}

#[test]
fn extensible_32_bit_containers_and_rf64_are_read() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    common::institution(&archive);
    // 24 meaningful bits left-justified in 32-bit words.
    let samples = signal(2, 48_000, 24, 0.3);
    let mut spec = WavSpec::pcm(2, 48_000, 24);
    spec.container_bits = 32;
    spec.extensible = true;
    let wav = tmp.path().join("x32.wav");
    write_wav(&wav, &spec, &samples);
    let profile = profile_for(tmp.path(), 2, 48_000, 24, "interleaved");
    let o = ingest(&archive, &profile, "x32", &[&wav], &["TITLE=x"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(ffmpeg_decode(&masters(&archive.join("tests/x32"))[0], 24) == samples);
    assert_valid_bag(&archive.join("tests/x32"));

    // 32-bit integer PCM.
    let s32 = signal(1, 48_000, 32, 0.3);
    let wav = tmp.path().join("i32.wav");
    write_wav(&wav, &WavSpec::pcm(1, 48_000, 32), &s32);
    let profile = profile_for(tmp.path(), 1, 48_000, 32, "interleaved");
    let o = ingest(&archive, &profile, "i32", &[&wav], &["TITLE=x"]);
    assert!(o.status.success(), "{}", text(&o));
    // ffmpeg 5.1 cannot decode 32-bit FLAC, so flac -d checks this one.
    let out_wav = tmp.path().join("i32.out.wav");
    let o = run(Command::new(tool("flac"))
        .args(["-s", "-d", "-o"])
        .arg(&out_wav)
        .arg(&masters(&archive.join("tests/i32"))[0]));
    assert!(o.status.success(), "{}", text(&o));
    assert!(read_wav_samples(&out_wav).2 == s32);
    assert_valid_bag(&archive.join("tests/i32"));

    // RF64 with its sizes in ds64.
    let samples = signal(2, 96_000, 24, 0.3);
    let mut spec = WavSpec::pcm(2, 96_000, 24);
    spec.rf64 = true;
    let wav = tmp.path().join("rf64.wav");
    write_wav(&wav, &spec, &samples);
    let o = ingest(
        &archive,
        Path::new("quarter-inch-half-track-stereo"),
        "rf64",
        &[&wav],
        &["TITLE=x", "TAPE_SPEED=7.5"],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(ffmpeg_decode(&masters(&archive.join("tests/rf64"))[0], 24) == samples);
    assert_valid_bag(&archive.join("tests/rf64"));
}

#[test]
fn same_input_gives_the_same_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let wav = tmp.path().join("d.wav");
    write_wav(
        &wav,
        &WavSpec::pcm(2, 48_000, 16),
        &signal(2, 48_000, 16, 1.0),
    );
    let mut digests = Vec::new();
    for n in 0..2 {
        let archive = tmp.path().join(format!("a{n}"));
        common::institution(&archive);
        let o = ingest(&archive, Path::new("dat"), "same", &[&wav], &["TITLE=t"]);
        assert!(o.status.success(), "{}", text(&o));
        let bag = archive.join("tests/same");
        assert_valid_bag(&bag);
        digests.push(std::fs::read_to_string(bag.join("manifest-sha256.txt")).unwrap());
    }
    assert_eq!(digests[0], digests[1]);
}

#[test]
fn demo_prints_the_bag_and_its_qc_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    common::institution(&archive);
    let o = run(capstan().arg("demo").arg("--archive").arg(&archive));
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("ingested ") && out.contains("loudness") && out.contains("defect clip"),
        "{out}"
    );
    let bag = std::fs::read_dir(archive.join("demo"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_valid_bag(&bag);
    let m = masters(&bag);
    assert_flac_t(&m[0]);
    // The demo plants a clipped passage at 12.000 s; the QC report must locate it.
    let qc: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::fs::read_dir(bag.join("data"))
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|p| p.to_string_lossy().ends_with(".qc.json"))
                .unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    let defects = qc["takes"][0]["defects"].as_array().unwrap();
    let first_clip = defects
        .iter()
        .find(|d| d["kind"] == "clip")
        .expect("a clip defect");
    let start = first_clip["start"].as_u64().unwrap();
    assert!(
        (1_152_000..1_152_000 + 960).contains(&start),
        "clip at frame {start}"
    );
    assert!(first_clip["start_time"]
        .as_str()
        .unwrap()
        .starts_with("00:00:12.0"));
    assert_eq!(qc["version"], 1);
    // 0.5 s of digital silence, and the tone starts at phase 0: its first sample is 0 too.
    let head = defects
        .iter()
        .find(|d| d["kind"] == "silence-head")
        .expect("head silence");
    assert!(
        (48_000..=48_002).contains(&head["length"].as_u64().unwrap()),
        "{head}"
    );
    // And its 50 ms oxide dropout at 16.5 s, 30 dB down, on both channels, to the millisecond.
    let dropouts: Vec<&serde_json::Value> =
        defects.iter().filter(|d| d["kind"] == "dropout").collect();
    assert_eq!(dropouts.len(), 2, "{dropouts:?}");
    for (c, d) in dropouts.iter().enumerate() {
        assert_eq!(d["channel"], c + 1);
        assert!(
            d["start"].as_u64().unwrap().abs_diff(1_584_000) <= 96,
            "{d}"
        );
        assert!(d["length"].as_u64().unwrap().abs_diff(4_800) <= 96, "{d}");
    }
    assert!(out.contains("defect dropout"), "{out}");
}

#[test]
fn qc_report_maps_dropouts_phase_offset_and_bit_depth() {
    // 4 s at 48 kHz/24-bit: the left is 16-bit content (low 8 bits zero), the right the same
    // programme 3 samples late at full 24-bit resolution. Planted: a level dropout on the
    // left (40 ms at -60 dB from 1.5 s), 2 ms of digital zeros on the right at 2.5 s, and the
    // right in reverse polarity from 2.8 s to 3.6 s (two 400 ms windows).
    let rate = 48_000u32;
    let frames = 4 * rate as usize;
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut low = 0.0;
    let programme: Vec<f64> = (0..frames + 3)
        .map(|n| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let noise = (seed >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
            low = 0.95 * low + 0.05 * noise;
            0.3 * (std::f64::consts::TAU * 440.0 * n as f64 / f64::from(rate)).sin() + 0.5 * low
        })
        .collect();
    let full = f64::from(1u32 << 23);
    let mut samples = Vec::with_capacity(frames * 2);
    for n in 0..frames {
        let mut left = programme[n + 3];
        if (72_000..73_920).contains(&n) {
            left *= 0.001;
        }
        let left = ((left * 32_768.0).round() as i32) << 8;
        let mut right = (programme[n] * full).round() as i32;
        if (120_000..120_096).contains(&n) {
            right = 0;
        }
        if (134_400..172_800).contains(&n) {
            right = -right;
        }
        samples.extend([left, right]);
    }
    let tmp = tempfile::tempdir().unwrap();
    let wav = tmp.path().join("defects.wav");
    write_wav(&wav, &WavSpec::pcm(2, rate, 24), &samples);
    let profile = profile_for(tmp.path(), 2, rate, 24, "interleaved");
    let archive = tmp.path().join("a");
    common::institution(&archive);
    let out = run(ingest_command(
        &archive,
        &profile,
        "defects",
        "tests",
        &[&wav],
        &["TITLE=x"],
    )
    .arg("--json"));
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let bag = PathBuf::from(v["bag"].as_str().unwrap());
    assert_valid_bag(&bag);
    // The report in the bag is the one printed.
    let qc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bag.join("data/defects.qc.json")).unwrap())
            .unwrap();
    assert_eq!(qc, v["report"]);
    assert_eq!(qc["version"], 1);
    let take = &qc["takes"][0];

    let bits: Vec<u64> = take["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["effective_bits"].as_u64().unwrap())
        .collect();
    assert_eq!(bits, [16, 24]);

    let phase = take["phase"].as_array().unwrap();
    assert_eq!(phase.len(), 1, "{take}");
    let p = &phase[0];
    assert_eq!(p["channels"], serde_json::json!([1, 2]));
    let offset = p["offset_samples"].as_f64().unwrap();
    assert!((offset - 3.0).abs() < 0.1, "{p}");
    let us = p["offset_us"].as_f64().unwrap();
    assert!((us - 62.5).abs() < 2.0, "{p}");
    assert!(p["correlation"].as_f64().unwrap() > 0.0, "{p}");
    assert!(p["min_correlation"].as_f64().unwrap() < -0.8, "{p}");
    let min_at = p["min_at"].as_u64().unwrap();
    assert!((134_400..172_800).contains(&min_at), "{p}");
    assert!(
        p["min_at_time"].as_str().unwrap().starts_with("00:00:0"),
        "{p}"
    );

    let defects = take["defects"].as_array().unwrap();
    let starts: Vec<u64> = defects
        .iter()
        .map(|d| d["start"].as_u64().unwrap())
        .collect();
    assert!(
        starts.windows(2).all(|w| w[0] <= w[1]),
        "in order: {starts:?}"
    );
    let of = |kind: &str| -> Vec<&serde_json::Value> {
        defects.iter().filter(|d| d["kind"] == kind).collect()
    };
    let bit_depth = of("bit-depth");
    assert_eq!(bit_depth.len(), 1, "{defects:?}");
    assert_eq!(bit_depth[0]["channel"], 1);
    assert_eq!(bit_depth[0]["start"], 0);
    assert_eq!(bit_depth[0]["length"], frames as u64);
    assert_eq!(bit_depth[0]["detail"], "16 of 24 bits used");

    let dropouts = of("dropout");
    assert_eq!(dropouts.len(), 2, "{dropouts:?}");
    assert_eq!(take["dropouts_total"], 2);
    let (level, digital) = (dropouts[0], dropouts[1]);
    assert_eq!(level["channel"], 1, "{level}");
    let start = level["start"].as_u64().unwrap();
    let length = level["length"].as_u64().unwrap();
    assert!(start.abs_diff(72_000) <= 48, "{level}"); // within a millisecond
    assert!(length.abs_diff(1_920) <= 48, "{level}");
    assert_eq!(level["start_time"], "00:00:01.500");
    assert!(
        level["detail"].as_str().unwrap().starts_with("level fell "),
        "{level}"
    );
    assert_eq!(digital["channel"], 2, "{digital}");
    assert_eq!(
        (digital["start"].as_u64(), digital["length"].as_u64()),
        (Some(120_000), Some(96))
    );
    assert_eq!(digital["detail"], "digital: held at 0");

    let alarms = of("phase");
    assert_eq!(alarms.len(), 1, "{defects:?}");
    assert!(alarms[0]["channel"].is_null());
    assert_eq!(
        (alarms[0]["start"].as_u64(), alarms[0]["length"].as_u64()),
        (Some(134_400), Some(38_400))
    );
    assert!(
        alarms[0]["detail"]
            .as_str()
            .unwrap()
            .contains("between channels 1 and 2"),
        "{}",
        alarms[0]
    );
}

#[test]
fn a_clipped_passage_is_one_line_of_the_defect_map_with_its_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    common::institution(&archive);
    let mut samples = signal(1, 48_000, 16, 1.0);
    // Twenty runs of two full-scale samples, 1 ms apart, from 0.5 s: one clipped passage.
    for k in 0..20 {
        let at = 24_000 + k * 48;
        samples[at] = i32::from(i16::MAX);
        samples[at + 1] = i32::from(i16::MAX);
    }
    let wav = tmp.path().join("clipped.wav");
    write_wav(&wav, &WavSpec::pcm(1, 48_000, 16), &samples);
    let profile = profile_for(tmp.path(), 1, 48_000, 16, "interleaved");
    let out = ingest(&archive, &profile, "clipped", &[&wav], &["TITLE=t"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let clip_lines: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("defect clip") && l.contains("at 00:00:00.5"))
        .collect();
    assert_eq!(
        clip_lines,
        ["  defect clip          ch 1   at 00:00:00.500 for 00:00:00.019  20 runs, 40 samples clipped"],
        "{stdout}"
    );
    // The JSON still holds every run.
    let qc: serde_json::Value = serde_json::from_slice(
        &std::fs::read(archive.join("tests/clipped/data/clipped.qc.json")).unwrap(),
    )
    .unwrap();
    let runs = qc["takes"][0]["defects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["kind"] == "clip" && d["start"].as_u64().unwrap() >= 24_000)
        .count();
    assert_eq!(runs, 20);
}
