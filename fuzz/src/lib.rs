//! The bodies of Capstan's fuzz targets: each hands arbitrary bytes to one parser that reads
//! what comes from outside (a source WAV, a bag's tag files, a FLAC file's metadata and frames,
//! a profile, the event log).
//!
//! Shared by the cargo-fuzz binaries (`fuzz/fuzz_targets/`, nightly, coverage-guided) and the
//! stable seeded mutation test (`tests/fuzz_mutation.rs`, which includes this file), so both
//! exercise exactly the same calls. A target must never panic, hang or allocate far beyond its
//! input. Each returns whether the parser accepted the input whole (the stable test mutates
//! accepted inputs further, a crude stand-in for coverage; cargo-fuzz ignores it); an error is
//! what most inputs should get. Properties that must hold for every input are asserted.

use capstan::archive::bag;
use std::io::Cursor;
use std::path::{Path, PathBuf};

/// A target's body: bytes in, whether they were accepted out (a panic is the finding).
pub type Body = fn(&[u8]) -> bool;

/// Every target, by the name its folder and cargo-fuzz binary have.
pub const TARGETS: &[(&str, Body)] = &[
    ("wav", wav),
    ("wav_file", wav_file),
    ("bag_manifest", bag_manifest),
    ("bag_info", bag_info),
    ("flac_metadata", flac_metadata),
    ("flac_stream", flac_stream),
    ("flac_decode", flac_decode),
    ("profile", profile),
    ("events", events),
];

/// The WAV/BWF/RF64 reader on a stream of unknown length: the header, every frame, the chunks
/// after the audio and the end-of-file checks; then the `bext` chunks, as ingest carries their
/// fields.
pub fn wav(data: &[u8]) -> bool {
    use capstan::source::wav::WavReader;
    WavReader::new(Cursor::new(data), PathBuf::from("fuzz.wav")).is_ok_and(read_wav)
}

/// The WAV reader on a file, as ingest drives it: opened (sizes checked against the file's
/// length), the chunks after the audio read by seeking past it, then opened again and read
/// whole. The reader opens paths, so the bytes are written to a file first.
pub fn wav_file(data: &[u8]) -> bool {
    use capstan::source::wav::{read_trailing_chunks, WavReader};
    with_file(data, "wav", |path| {
        let Ok(reader) = WavReader::open(path) else {
            return false;
        };
        let info = reader.info().clone();
        drop(reader);
        read_trailing_chunks(path, &info).is_ok() && WavReader::open(path).is_ok_and(read_wav)
    })
}

fn read_wav<R: std::io::Read>(mut reader: capstan::source::wav::WavReader<R>) -> bool {
    let channels = usize::from(reader.info().channels);
    // Whole frames, and never more than 64 Ki samples whatever channel count the header claims.
    let mut out = vec![0i32; channels * (65_536 / channels).max(1)];
    loop {
        match reader.read_frames(&mut out) {
            Ok(0) => break,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
    let before = reader.info().chunks.clone();
    let Ok(after) = reader.finish() else {
        return false;
    };
    for chunk in before.iter().chain(&after) {
        if &chunk.id == b"bext" {
            let _ = capstan::flac::bext::Bext::parse(&chunk.data);
        }
    }
    true
}

/// Runs `parse` on a file holding `data` (one per process and thread, removed after), for the
/// readers that only open paths.
fn with_file(data: &[u8], ext: &str, parse: impl FnOnce(&Path) -> bool) -> bool {
    let path = std::env::temp_dir().join(format!(
        "capstan-fuzz-{}-{:?}.{ext}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::write(&path, data).expect("a temporary file for the reader");
    let result = parse(&path);
    let _ = std::fs::remove_file(&path);
    result
}

/// A payload or tag manifest (RFC 8493 §2.1.3). Every path it yields must survive the
/// manifest's own encoding: decoding what Capstan would write gives the path back.
pub fn bag_manifest(data: &[u8]) -> bool {
    let manifest = bag::parse_manifest("manifest-sha256.txt", "sha256", data);
    for entry in &manifest.entries {
        let _ = bag::safe_payload_path(&entry.path);
        let again = bag::decode_manifest_path(&bag::encode_manifest_path(&entry.path));
        assert_eq!(again, entry.path, "a manifest path does not round-trip");
    }
    manifest.malformed.is_empty()
}

/// `bag-info.txt` (RFC 8493 §2.2.2), and the fields verify reads from it.
pub fn bag_info(data: &[u8]) -> bool {
    let (fields, malformed) = bag::parse_bag_info(data);
    let _ = bag::info_field(&fields, "Bagging-Date");
    bag::payload_oxum(&fields).is_some() && malformed.is_empty()
}

/// A FLAC file's metadata blocks, walked to the VORBIS_COMMENT block (RFC 9639 §8), as the item
/// view and reports read a master's archival metadata.
pub fn flac_metadata(data: &[u8]) -> bool {
    capstan::flac::tags::comments_of(Path::new("fuzz.flac"), Cursor::new(data)).is_ok()
}

/// A FLAC stream through verification: libFLAC parses STREAMINFO and every frame, and Capstan's
/// callbacks take what it reports (stream info, frames, errors) and conclude.
pub fn flac_stream(data: &[u8]) -> bool {
    capstan::flac::verify::check_stream(Path::new("fuzz.flac"), &mut Cursor::new(data), &mut |_| {})
        .is_ok_and(|check| check.streaminfo.is_some() && check.damage.is_empty())
}

/// A FLAC file read for a derivative (an access copy): `FlacReader`, libFLAC's file decoder and
/// Capstan's callbacks, every sample read. The reader only opens paths, so the bytes are written
/// to a file first.
pub fn flac_decode(data: &[u8]) -> bool {
    use capstan::flac::decode::FlacReader;
    with_file(data, "flac", |path| {
        FlacReader::open(path).is_ok_and(|mut reader| {
            let mut out = vec![0i32; 8 * 4096];
            loop {
                match reader.read(&mut out) {
                    Ok(0) => break true,
                    Ok(_) => {}
                    Err(_) => break false,
                }
            }
        })
    })
}

/// A transfer profile: TOML into the raw profile, validated into a `Profile`. Profiles are read
/// as text, so bytes that are not UTF-8 never reach the parser.
pub fn profile(data: &[u8]) -> bool {
    std::str::from_utf8(data).is_ok_and(|text| {
        capstan::profile::Profile::parse(text, "fuzz", Path::new("fuzz.toml")).is_ok()
    })
}

/// `events.jsonl`, line by line, as `reindex` reads it.
pub fn events(data: &[u8]) -> bool {
    let mut all = true;
    for line in data.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        all &= capstan::archive::events::parse_line(line).is_ok();
    }
    all
}
