//! Fixity: proving that what is in the archive is what was put there, and locating what is not.
//!
//! [`verify`] takes archives, bags and plain folders of FLAC files and reads every file once, in
//! parallel across files: its digests (every algorithm its bag's manifests use) and, with
//! `deep` (or for FLAC outside bags), a full libFLAC decode in that same read (frame CRCs and the
//! STREAMINFO MD5). It never stops at the first problem and never calls a thing good that it
//! could not check: every problem is a [`Problem`] naming the file (and, for damaged audio, the
//! sample and time of each bad frame), and anything it could not read is a problem too.
//!
//! Hostile bags are expected: a manifest path that would leave its bag is reported and never
//! opened; symbolic links are reported and never followed or read; a file is opened only if
//! the walk of its bag found it as a regular file, and opened without following links.
//!
//! Inside an archive, what is on disk is also compared with what was archived: the archive's
//! catalogue (opened read-only; else the `ingestion` events of `events.jsonl`) names the items
//! that should be under each PATH (one whose bag is gone is [`ProblemKind::ItemMissing`]) and
//! the audio MD5 each master had at ingest (a FLAC whose STREAMINFO says otherwise, read from
//! its first bytes in the digest's read, is [`ProblemKind::AudioReplaced`], however valid it
//! is in itself). Recording is linear in files and problems.
//!
//! A FLAC whose digest changed is decoded even without `deep`, to tell a damaged recording
//! from an edited tag ("metadata changed, audio intact"): the one case where a file is read
//! twice, and only when it has already failed.

mod bag;
mod digest;

use crate::archive::events::{EventType, Outcome};
use crate::flac::verify::{check_stream, AudioCheck, Md5Status};
use crate::units::Timecode;
pub use digest::Algorithm;
use digest::Digests;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// Why verification could not run at all (exit 2). Problems found are not errors.
#[derive(Debug, thiserror::Error)]
pub enum FixityError {
    #[error("{path}: no such file or folder")]
    NotFound { path: PathBuf },
    #[error("{path}: nothing to verify (not a bag, an archive, or a folder holding FLAC files)")]
    NothingToVerify { path: PathBuf },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    /// An archive whose own folders are not what Capstan made (a link, a FIFO...).
    #[error(transparent)]
    Confined(crate::archive::ArchiveError),
}

/// How to verify.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Decode every FLAC in the read that hashes it, even when its digest matches.
    pub deep: bool,
    /// Files read at once (each on its own thread).
    pub jobs: usize,
    /// Only this share of the bags (and FLAC files outside bags).
    pub shard: Option<Shard>,
}

/// Shard `index` (1-based) of `count`: the bags whose stable key (the bag's path relative to
/// its archive, so every machine mounting the archive anywhere agrees) hashes to it. The
/// shards of one `count` cover every bag exactly once, for a batch scheduler's job array
/// (Slurm `--array=1-N`, a Kubernetes Indexed Job's index + 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// `K/N`, 1 ≤ K ≤ N.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let bad = || format!("--shard {text:?}: give K/N, with 1 <= K <= N (e.g. 3/8)");
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            k.trim().parse::<u32>().map_err(|_| bad())?,
            n.trim().parse::<u32>().map_err(|_| bad())?,
        );
        if index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// Whether the bag (or loose file) with this key is this shard's: the first 8 bytes of
    /// the key's SHA-256, modulo the count.
    pub fn holds(&self, key: &str) -> bool {
        use sha2::Digest;
        let d = sha2::Sha256::digest(key.as_bytes());
        let h = u64::from_be_bytes(d[..8].try_into().expect("8 bytes"));
        h % u64::from(self.count) == u64::from(self.index - 1)
    }

    /// The key of `path`: relative to the archive it is in, else as given.
    fn key_of(path: &Path) -> String {
        archive_of(path)
            .and_then(|root| path.strip_prefix(root).ok().map(Path::to_path_buf))
            .unwrap_or_else(|| path.to_path_buf())
            .to_string_lossy()
            .into_owned()
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Told how verification is going (a progress bar); called from the worker threads.
pub trait Observer: Sync {
    /// Before reading a batch: how much more there is to read.
    fn planned(&self, _files: u64, _bytes: u64) {}
    /// After each file: its size.
    fn checked(&self, _bytes: u64) {}
    /// After each batch of bags: their outcomes (with their payload lists) and problems.
    fn bags_done(&self, _bags: &[BagOutcome], _problems: &[Problem], _deep: bool) {}
}

/// Files read per batch of bags (a bag is never split).
const BATCH_FILES: usize = 4096;

/// Observes nothing.
pub struct Quiet;
impl Observer for Quiet {}

/// What kind of problem; serialised in snake case (`audio_damaged`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// Listed in a manifest, not on disk.
    Missing,
    /// On disk in the payload, in no manifest.
    Unlisted,
    /// A missing file found under another name in the same bag (same digest).
    Moved,
    /// A non-FLAC file whose digest differs from its manifest's.
    DigestMismatch,
    /// A FLAC whose digest differs but whose audio decodes intact, MD5 matching.
    MetadataChanged,
    /// A FLAC with bad frames, lost sync, truncation or an MD5 mismatch.
    AudioDamaged,
    /// A FLAC whose STREAMINFO MD5 is all zero: its audio cannot be checked.
    Md5Unset,
    /// Payload-Oxum disagrees with the payload on disk.
    OxumMismatch,
    /// A tag-file line that does not parse.
    ManifestMalformed,
    /// A manifest path that leaves the bag; never opened.
    UnsafePath,
    /// A symbolic link inside a bag; never followed.
    Symlink,
    /// A file that could not be opened or read.
    Unreadable,
    /// The bag's structure: bagit.txt, no payload manifest, an unsupported algorithm.
    BagMalformed,
    /// An item the archive's catalogue or event log knows whose bag is gone from disk.
    ItemMissing,
    /// A FLAC whose STREAMINFO audio MD5 differs from the one recorded at ingest: other audio
    /// in the master's place, however valid in itself.
    AudioReplaced,
}

impl ProblemKind {
    /// In words, for people.
    pub fn words(self) -> &'static str {
        match self {
            ProblemKind::Missing => "missing",
            ProblemKind::Unlisted => "unlisted",
            ProblemKind::Moved => "moved",
            ProblemKind::DigestMismatch => "digest mismatch",
            ProblemKind::MetadataChanged => "metadata changed, audio intact",
            ProblemKind::AudioDamaged => "audio damaged",
            ProblemKind::Md5Unset => "MD5 unset",
            ProblemKind::OxumMismatch => "Payload-Oxum mismatch",
            ProblemKind::ManifestMalformed => "malformed tag file",
            ProblemKind::UnsafePath => "unsafe path",
            ProblemKind::Symlink => "symbolic link",
            ProblemKind::Unreadable => "unreadable",
            ProblemKind::BagMalformed => "malformed bag",
            ProblemKind::ItemMissing => "item missing",
            ProblemKind::AudioReplaced => "audio replaced",
        }
    }
}

/// One bad frame (or the end of a truncated stream).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct DamageAt {
    pub kind: String,
    /// The first sample (inter-channel frame) of the bad frame.
    pub sample: u64,
    /// `hh:mm:ss.fff`
    pub time: String,
}

/// One thing found wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct Problem {
    pub kind: ProblemKind,
    /// The file concerned (for bag-level problems, the bag).
    pub path: String,
    /// The bag it is in, if any.
    pub bag: Option<String>,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub damage: Vec<DamageAt>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub moved_from: Option<String>,
}

impl Problem {
    /// A problem with `path` (shown as [`display_path`] shows it), in `bag` if any.
    pub fn new(kind: ProblemKind, path: &Path, bag: Option<&str>, detail: String) -> Problem {
        Problem {
            kind,
            path: display_path(path),
            bag: bag.map(str::to_string),
            detail,
            damage: vec![],
            moved_from: None,
        }
    }
}

/// A bag's outcome.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct BagOutcome {
    pub path: String,
    #[serde(skip)]
    pub dir: PathBuf,
    /// The payload files its manifests list (relative to the bag), for the fixity record.
    #[serde(skip)]
    pub payload: Vec<String>,
    /// `collection/item-id`: the bag's parent folder and its External-Identifier.
    pub item: Option<String>,
    pub outcome: Outcome,
    pub files: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[ts(rename = "VerifySummary")]
pub struct Summary {
    pub bags: u64,
    pub files: u64,
    pub bytes: u64,
    pub problems: u64,
    pub seconds: f64,
}

/// Everything a verification found. Serialised as the `--json` output.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct VerifyReport {
    pub version: u32,
    pub deep: bool,
    /// `K/N` when only shard K of N was verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub shard: Option<String>,
    pub outcome: Outcome,
    pub summary: Summary,
    pub bags: Vec<BagOutcome>,
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }
}

/// A path for people and JSON: UTF-8 as is, any other byte as `\xHH`.
pub fn display_path(path: &Path) -> String {
    let mut rest = path.as_os_str().as_bytes();
    let mut out = String::with_capacity(rest.len());
    loop {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                out.push_str(s);
                return out;
            }
            Err(e) => {
                let (good, bad) = rest.split_at(e.valid_up_to());
                out.push_str(std::str::from_utf8(good).expect("valid up to here"));
                let n = e.error_len().unwrap_or(bad.len());
                for b in &bad[..n] {
                    out.push_str(&format!("\\x{b:02X}"));
                }
                rest = &bad[n..];
            }
        }
    }
}

/// Text for a terminal: every control character (C0, DEL, C1 such as U+0085, so also ESC and
/// the newline that would forge a line of output) and the Unicode line and paragraph
/// separators (U+2028, U+2029) written as an escape (`\n`, `\r`, `\t`, else `\u{1B}`), so a
/// hostile file name can neither start a line of its own nor drive the terminal. JSON output
/// needs none of this: serde escapes its strings.
pub fn escape_text(s: &str) -> String {
    if !s.chars().any(needs_escape) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => out.push_str(&format!("\\u{{{:X}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

/// A path for text output: [`display_path`], then [`escape_text`].
pub fn text_path(path: &Path) -> String {
    escape_text(&display_path(path))
}

/// One file to read.
#[derive(Debug, Clone)]
struct FileJob {
    path: PathBuf,
    size: u64,
    algorithms: Vec<Algorithm>,
    /// Decode as FLAC in the same read.
    decode: bool,
    /// The audio MD5 recorded at ingest (lower-case hex), for a FLAC whose archive knows it.
    audio_md5: Option<String>,
}

/// What reading one file found.
#[derive(Debug, Default)]
struct FileResult {
    bytes: u64,
    digests: Vec<(Algorithm, String)>,
    audio: Option<AudioCheck>,
    error: Option<String>,
    /// The STREAMINFO MD5, read from the head of a FLAC (or by its decode).
    streaminfo_md5: Option<[u8; 16]>,
}

/// The STREAMINFO MD5 from the first 42 bytes of a FLAC stream (`fLaC`, a STREAMINFO block
/// header of length 34, bytes 18..34 of the block; RFC 9639 §8.2), if they are that.
fn head_md5(head: &[u8]) -> Option<[u8; 16]> {
    let block = head.get(..42)?;
    let length = u32::from_be_bytes([0, block[5], block[6], block[7]]);
    (&block[..4] == b"fLaC" && block[4] & 0x7f == 0 && length == 34)
        .then(|| block[26..42].try_into().expect("16 bytes"))
}

/// An audio MD5 other than the one recorded at ingest, as a problem.
fn replaced_audio(job: &FileJob, found: Option<[u8; 16]>, bag: Option<&str>) -> Option<Problem> {
    let recorded = job.audio_md5.as_deref()?;
    // An all-zero MD5 claims nothing (`md5_unset`, found by a decode): not other audio.
    let found = found.filter(|m| *m != [0; 16])?;
    let found = crate::flac::hex(&found);
    (!found.eq_ignore_ascii_case(recorded)).then(|| {
        Problem::new(
            ProblemKind::AudioReplaced,
            &job.path,
            bag,
            format!(
                "STREAMINFO audio MD5 {found} where {recorded} was recorded at ingest: this is not the audio that was archived"
            ),
        )
    })
}

fn is_flac(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("flac"))
}

/// Opens a file found by a walk, never through a link, refusing anything but a regular file
/// (a FIFO put in a file's place would otherwise block the read forever).
fn open_regular(path: &Path) -> io::Result<File> {
    crate::archive::confined::open_found(path)
}

/// Reads one file once: its digests and, if asked, a decode.
fn read_file(job: &FileJob) -> FileResult {
    let mut result = FileResult::default();
    let mut digests = Digests::new(&job.algorithms);
    let outcome = (|| -> Result<(), String> {
        let mut file = open_regular(&job.path).map_err(|e| e.to_string())?;
        let mut bytes = 0u64;
        let mut head = Vec::new();
        if job.decode {
            let mut tap = |b: &[u8]| {
                digests.update(b);
                bytes += b.len() as u64;
            };
            let audio = check_stream(&job.path, &mut file, &mut tap).map_err(|e| match e {
                crate::flac::FlacError::Io { source, .. } => source.to_string(),
                other => other.to_string(),
            })?;
            result.streaminfo_md5 = audio.streaminfo.map(|s| s.md5);
            result.audio = Some(audio);
        } else {
            // Small enough to stay in the core's cache between the read and the hash.
            let mut buf = vec![0u8; (job.size as usize + 1).clamp(4096, 256 << 10)];
            loop {
                match file.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        digests.update(&buf[..n]);
                        bytes += n as u64;
                        if head.len() < 42 {
                            head.extend_from_slice(&buf[..n.min(42 - head.len())]);
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e.to_string()),
                }
            }
        }
        result.bytes = bytes;
        if !job.decode && job.audio_md5.is_some() {
            result.streaminfo_md5 = head_md5(&head);
        }
        Ok(())
    })();
    match outcome {
        Ok(()) => result.digests = digests.finish(),
        Err(e) => result.error = Some(e),
    }
    result
}

/// Reads every job on `jobs` threads, largest first so the last files are short ones.
fn read_all(files: &[FileJob], jobs: usize, observer: &dyn Observer) -> Vec<FileResult> {
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(files[i].size));
    let next = AtomicUsize::new(0);
    let mut results: Vec<Option<FileResult>> = (0..files.len()).map(|_| None).collect();
    let done = std::sync::Mutex::new(&mut results);
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1).min(files.len().max(1)) {
            scope.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(&i) = order.get(k) else { break };
                let r = read_file(&files[i]);
                observer.checked(files[i].size);
                done.lock().expect("no worker panics")[i] = Some(r);
            });
        }
    });
    results
        .into_iter()
        .map(|r| r.expect("every job ran"))
        .collect()
}

/// Turns a decode's findings into problems for `path` (nothing if the audio is intact).
pub(crate) fn audio_problems(
    audio: &AudioCheck,
    path: &str,
    bag: Option<&str>,
    digest_changed: bool,
) -> Vec<Problem> {
    let problem = |kind, detail: String, damage| Problem {
        kind,
        path: path.to_string(),
        bag: bag.map(str::to_string),
        detail,
        damage,
        moved_from: None,
    };
    if audio.md5 == Md5Status::Unset && audio.damage.is_empty() {
        let mut out = vec![problem(
            ProblemKind::Md5Unset,
            "STREAMINFO MD5 is all zero: the audio's own fixity was never recorded, nothing to check it against".into(),
            vec![],
        )];
        if digest_changed {
            out.push(problem(
                ProblemKind::DigestMismatch,
                "digest differs from the manifest, and the audio cannot be checked".into(),
                vec![],
            ));
        }
        return out;
    }
    if audio.is_intact() {
        return if digest_changed {
            vec![problem(
                ProblemKind::MetadataChanged,
                "digest differs from the manifest; every frame decodes with a good CRC and the audio MD5 matches STREAMINFO".into(),
                vec![],
            )]
        } else {
            vec![]
        };
    }
    let rate = audio.streaminfo.map_or(0, |s| s.sample_rate);
    let at = |sample: u64| {
        if rate == 0 {
            Timecode::from_frames(0, 1).to_string()
        } else {
            Timecode::from_frames(sample, rate).to_string()
        }
    };
    let mut damage: Vec<DamageAt> = audio
        .damage
        .iter()
        .map(|d| DamageAt {
            kind: d.kind.clone(),
            sample: d.at.0,
            time: at(d.at.0),
        })
        .collect();
    if audio.md5 == Md5Status::Mismatch {
        damage.push(DamageAt {
            kind: "MD5 mismatch".into(),
            sample: 0,
            time: at(0),
        });
    }
    let detail = match damage.first() {
        Some(first) => format!(
            "{} at {} (sample {}){}",
            first.kind,
            first.time,
            first.sample,
            match damage.len() {
                1 => String::new(),
                n => format!(", {} more", n - 1),
            }
        ),
        None => format!("audio MD5 {:?}", audio.md5),
    };
    vec![problem(ProblemKind::AudioDamaged, detail, damage)]
}

/// The problems of a file that was read: `wrong` lists its digest mismatches (empty if none).
/// A FLAC's audio tells damage from an edited tag; if it was not decoded in the read and its
/// digest changed, it is decoded now (a second read, of a file already failing).
fn changed_file_problems(
    job: &FileJob,
    result: &FileResult,
    flac: bool,
    wrong: &[String],
    bag: Option<&str>,
) -> Vec<Problem> {
    let problem = |kind, detail| Problem::new(kind, &job.path, bag, detail);
    if let Some(e) = &result.error {
        return vec![problem(ProblemKind::Unreadable, e.clone())];
    }
    if !flac {
        return match wrong.is_empty() {
            true => vec![],
            false => vec![problem(ProblemKind::DigestMismatch, wrong.join("; "))],
        };
    }
    let reread;
    let (audio, streaminfo_md5) = match (&result.audio, wrong.is_empty()) {
        (Some(audio), _) => (audio, result.streaminfo_md5),
        // Its bytes are as listed; its head still says whose audio it holds (a master and its
        // manifest line both replaced).
        (None, true) => {
            return replaced_audio(job, result.streaminfo_md5, bag)
                .into_iter()
                .collect()
        }
        (None, false) => {
            reread = read_file(&FileJob {
                decode: true,
                algorithms: vec![],
                ..job.clone()
            });
            match (&reread.audio, &reread.error) {
                (Some(audio), None) => (audio, reread.streaminfo_md5),
                (_, e) => {
                    return vec![problem(
                        ProblemKind::Unreadable,
                        e.clone().unwrap_or_default(),
                    )]
                }
            }
        }
    };
    let mut found = audio_problems(audio, &display_path(&job.path), bag, !wrong.is_empty());
    if let Some(p) = replaced_audio(job, streaminfo_md5, bag) {
        // Intact in itself, but not the audio that was archived: never "metadata changed".
        found.retain(|q| q.kind != ProblemKind::MetadataChanged);
        found.push(p);
    }
    for p in &mut found {
        if matches!(
            p.kind,
            ProblemKind::MetadataChanged | ProblemKind::DigestMismatch | ProblemKind::AudioReplaced
        ) && !wrong.is_empty()
        {
            p.detail = format!("{} ({})", p.detail, wrong.join("; "));
        }
    }
    found
}

/// What checking one file against its known SHA-256 found.
#[derive(Debug, Clone)]
pub struct FileVerdict {
    /// Bytes read.
    pub bytes: u64,
    /// What the read found, if the file could be read.
    pub sha256: Option<String>,
    /// None: intact.
    pub problems: Vec<Problem>,
}

impl FileVerdict {
    /// The check as a `fixity check` event's outcome and detail: a pass with the bytes read,
    /// or a fail naming every problem.
    pub fn outcome(&self) -> (Outcome, String) {
        match self.problems.first() {
            None => (
                Outcome::Pass,
                format!("SHA-256 matches ({} bytes)", self.bytes),
            ),
            Some(_) => (
                Outcome::Fail,
                self.problems
                    .iter()
                    .map(|p| format!("{}: {}", p.kind.words(), p.detail))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        }
    }
}

/// A file's SHA-256 (lower-case hex), read once without following a link; None if it could not
/// be read.
pub fn sha256_of(path: &Path) -> Option<String> {
    let job = FileJob {
        path: path.to_path_buf(),
        size: path.symlink_metadata().map_or(0, |m| m.len()),
        algorithms: vec![Algorithm::Sha256],
        decode: false,
        audio_md5: None,
    };
    let result = read_file(&job);
    result.digests.into_iter().next().map(|(_, d)| d)
}

/// Checks one file against the SHA-256 it should have (the watcher's check): read once, its
/// SHA-256 and, for FLAC with `deep`, its audio in the same read; a changed FLAC is decoded to
/// tell damage from an edited tag. Never follows a link.
/// With `audio_md5` (the one recorded at ingest), a FLAC holding other audio is
/// [`ProblemKind::AudioReplaced`].
pub fn check_against(
    path: &Path,
    sha256: &str,
    audio_md5: Option<&str>,
    deep: bool,
) -> FileVerdict {
    let flac = is_flac(path);
    let job = FileJob {
        path: path.to_path_buf(),
        size: path.symlink_metadata().map_or(0, |m| m.len()),
        algorithms: vec![Algorithm::Sha256],
        decode: deep && flac,
        audio_md5: audio_md5.filter(|_| flac).map(str::to_string),
    };
    let result = read_file(&job);
    let found = result
        .digests
        .iter()
        .find(|(a, _)| *a == Algorithm::Sha256)
        .map(|(_, d)| d.clone());
    let wrong: Vec<String> = match &found {
        Some(d) if !d.eq_ignore_ascii_case(sha256) => vec![format!(
            "expected SHA-256 {}…, found {}…",
            &sha256[..sha256.len().min(16)],
            &d[..16]
        )],
        _ => vec![],
    };
    FileVerdict {
        bytes: result.bytes,
        problems: changed_file_problems(&job, &result, flac, &wrong, None),
        sha256: found,
    }
}

/// Verifies every PATH: archives, bags, folders of FLAC files, single FLAC files.
pub fn verify(
    paths: &[PathBuf],
    options: Options,
    observer: &dyn Observer,
) -> Result<VerifyReport, FixityError> {
    let started = Instant::now();
    let Targets {
        mut bags,
        mut loose,
        mut outside,
    } = find_targets(paths)?;
    let Record { recorded, mut gone } = compare_with_record(paths, &bags);
    if let Some(shard) = options.shard {
        bags.retain(|b| shard.holds(&Shard::key_of(b)));
        loose.retain(|(f, _)| shard.holds(&Shard::key_of(f)));
        gone.retain(|(o, _)| shard.holds(&Shard::key_of(&o.dir)));
        // What the walk itself found (links, unreadable folders) is told by one shard only.
        if shard.index != 1 {
            outside.clear();
        }
    }

    let mut run = Run {
        problems: outside,
        ..Run::default()
    };
    run.bags(&bags, &recorded, options, observer);
    if !gone.is_empty() {
        let (outcomes, found): (Vec<BagOutcome>, Vec<Problem>) = gone.into_iter().unzip();
        observer.bags_done(&outcomes, &found, options.deep);
        run.bag_outcomes
            .extend(outcomes.into_iter().map(|o| BagOutcome {
                payload: Vec::new(),
                ..o
            }));
        run.problems.extend(found);
    }
    run.loose_flacs(&loose, options, observer);

    let Run {
        mut problems,
        bag_outcomes,
        files,
        bytes,
    } = run;
    problems.sort_by(|a, b| (&a.bag, &a.path, a.kind).cmp(&(&b.bag, &b.path, b.kind)));
    problems.dedup();
    Ok(VerifyReport {
        version: 1,
        deep: options.deep,
        shard: options.shard.map(|s| s.to_string()),
        outcome: Outcome::pass_if(problems.is_empty()),
        summary: Summary {
            bags: bag_outcomes.len() as u64,
            files,
            bytes,
            problems: problems.len() as u64,
            seconds: started.elapsed().as_secs_f64(),
        },
        bags: bag_outcomes,
        problems,
    })
}

/// What the PATHs given to `verify` hold, found without reading any payload.
struct Targets {
    /// Bag folders, sorted, each once.
    bags: Vec<PathBuf>,
    /// FLAC files outside any bag, with their sizes, sorted, each once.
    loose: Vec<(PathBuf, u64)>,
    /// Found while looking for bags and FLAC files: links (never followed), unreadable folders,
    /// FIFOs and devices given as a PATH.
    outside: Vec<Problem>,
}

/// Finds the bags and loose FLAC files under each PATH. An archive's own folders are checked
/// (confined) before anything in it is read; a PATH with nothing to verify is an error.
fn find_targets(paths: &[PathBuf]) -> Result<Targets, FixityError> {
    let mut t = Targets {
        bags: Vec::new(),
        loose: Vec::new(),
        outside: Vec::new(),
    };
    for path in paths {
        let meta = path
            .symlink_metadata()
            .map_err(|source| match source.kind() {
                io::ErrorKind::NotFound => FixityError::NotFound { path: path.clone() },
                _ => FixityError::Io {
                    path: path.clone(),
                    source,
                },
            })?;
        if meta.is_file() && is_flac(path) {
            t.loose.push((path.clone(), meta.len()));
            continue;
        }
        // A FIFO or a device given as a PATH: a problem, never opened (it could block).
        if !meta.is_file() && !meta.is_dir() && !meta.is_symlink() {
            let ft = meta.file_type();
            let what = if ft.is_fifo() {
                "a FIFO"
            } else {
                "a device or socket"
            };
            t.outside.push(Problem::new(
                ProblemKind::Unreadable,
                path,
                None,
                format!("{what}, not a regular file; not read"),
            ));
            continue;
        }
        // An archive's own folders are checked before anything in it is read or recorded.
        if path.join(".capstan").symlink_metadata().is_ok() {
            crate::archive::Archive::new(path)
                .check_confined()
                .map_err(FixityError::Confined)?;
        }
        let survey = crate::archive::bag::survey(path).map_err(|source| FixityError::Io {
            path: path.clone(),
            source,
        })?;
        let flacs: Vec<(PathBuf, u64)> = survey
            .files
            .into_iter()
            .filter(|(p, _)| is_flac(p))
            .collect();
        if survey.bags.is_empty()
            && flacs.is_empty()
            && survey.links.is_empty()
            && !path.join(".capstan").is_dir()
        {
            return Err(FixityError::NothingToVerify { path: path.clone() });
        }
        t.bags.extend(survey.bags);
        t.loose.extend(flacs);
        for link in survey.links {
            let target = std::fs::read_link(&link)
                .map(|t| display_path(&t))
                .unwrap_or_else(|_| "?".into());
            t.outside.push(Problem::new(
                ProblemKind::Symlink,
                &link,
                None,
                format!("symbolic link to {target}; not followed"),
            ));
        }
        for (dir, e) in survey.errors {
            t.outside.push(Problem::new(
                ProblemKind::Unreadable,
                &dir,
                None,
                e.to_string(),
            ));
        }
    }
    t.bags.sort();
    t.bags.dedup();
    t.loose.sort();
    t.loose.dedup();
    Ok(t)
}

/// What the archives the PATHs are in say should be there.
struct Record {
    /// Per bag on disk: each master's audio MD5 as recorded at ingest, by file.
    recorded: HashMap<PathBuf, HashMap<String, String>>,
    /// Known items whose bag is not on disk (or no longer a bag), each with its problem.
    gone: Vec<(BagOutcome, Problem)>,
}

/// Compares the bags found with the archive's record: a known item whose bag is not on disk is
/// a problem, and a master's audio will be compared with the MD5 recorded at ingest.
fn compare_with_record(paths: &[PathBuf], bags: &[PathBuf]) -> Record {
    let on_disk: HashSet<&Path> = bags.iter().map(PathBuf::as_path).collect();
    let mut record = Record {
        recorded: HashMap::new(),
        gone: Vec::new(),
    };
    let mut seen_items = HashSet::new();
    for path in paths {
        let Some(root) = (if path.join(".capstan").is_dir() {
            Some(path.clone())
        } else {
            archive_of(path)
        }) else {
            continue;
        };
        let under = path
            .strip_prefix(&root)
            .ok()
            .and_then(Path::to_str)
            .unwrap_or("");
        for known in known_items(&root, under) {
            let dir = root.join(&known.bag_path);
            if !dir.starts_with(path) || !seen_items.insert(dir.clone()) {
                continue;
            }
            let md5s: HashMap<String, String> = known
                .files
                .iter()
                .filter_map(|(f, m)| Some((f.clone(), m.clone()?)))
                .collect();
            if on_disk.contains(dir.as_path()) {
                if !md5s.is_empty() {
                    record.recorded.insert(dir, md5s);
                }
                continue;
            }
            let shown = display_path(&dir);
            let detail = match dir.symlink_metadata() {
                Ok(_) => format!(
                    "{} is known to the archive's record but is no longer a bag (no bagit.txt and no payload manifest)",
                    known.item
                ),
                Err(_) => format!(
                    "{} is known to the archive's record but its bag is gone from disk ({} file(s) recorded)",
                    known.item,
                    known.files.len()
                ),
            };
            record.gone.push((
                BagOutcome {
                    path: shown.clone(),
                    dir: dir.clone(),
                    payload: known.files.iter().map(|(f, _)| f.clone()).collect(),
                    item: Some(known.item.clone()),
                    outcome: Outcome::Fail,
                    files: 0,
                    bytes: 0,
                },
                Problem::new(ProblemKind::ItemMissing, &dir, Some(&shown), detail),
            ));
        }
    }
    record
}

/// What a verification run has found so far.
#[derive(Default)]
struct Run {
    problems: Vec<Problem>,
    bag_outcomes: Vec<BagOutcome>,
    files: u64,
    bytes: u64,
}

impl Run {
    /// Verifies bags a batch at a time, so memory follows the batch, not the archive: what
    /// outlives a batch is its problems and one line per bag.
    fn bags(
        &mut self,
        bags: &[PathBuf],
        recorded: &HashMap<PathBuf, HashMap<String, String>>,
        options: Options,
        observer: &dyn Observer,
    ) {
        let mut next = 0;
        while next < bags.len() {
            let (mut plans, mut jobs, mut found) = (Vec::new(), Vec::new(), Vec::new());
            while next < bags.len() && jobs.len() < BATCH_FILES {
                plans.push(bag::inspect(
                    &bags[next],
                    options.deep,
                    recorded.get(&bags[next]),
                    &mut found,
                    &mut jobs,
                ));
                next += 1;
            }
            observer.planned(jobs.len() as u64, jobs.iter().map(|j| j.size).sum());
            let results = read_all(&jobs, options.jobs, observer);
            for plan in &plans {
                plan.judge(&jobs, &results, &mut found);
            }
            // Looked up, not searched: a bag may have 100,000 problems.
            let failing: HashSet<&str> = found.iter().filter_map(|p| p.bag.as_deref()).collect();
            let mut outcomes: Vec<BagOutcome> = plans
                .iter()
                .map(|plan| {
                    let shown = display_path(&plan.dir);
                    let failed = failing.contains(shown.as_str());
                    BagOutcome {
                        dir: plan.dir.clone(),
                        payload: plan.payload(),
                        item: plan.item.clone(),
                        outcome: Outcome::pass_if(!failed),
                        files: plan.jobs.len() as u64,
                        bytes: plan.jobs.clone().map(|i| results[i].bytes).sum(),
                        path: shown,
                    }
                })
                .collect();
            observer.bags_done(&outcomes, &found, options.deep);
            self.count(&results);
            for o in &mut outcomes {
                o.payload = Vec::new();
            }
            self.bag_outcomes.extend(outcomes);
            self.problems.extend(found);
        }
    }

    /// Decodes FLAC files outside any bag (their own MD5 and frame CRCs are all they can be
    /// checked against), a batch at a time.
    fn loose_flacs(&mut self, loose: &[(PathBuf, u64)], options: Options, observer: &dyn Observer) {
        for batch in loose.chunks(BATCH_FILES) {
            let jobs: Vec<FileJob> = batch
                .iter()
                .map(|(path, size)| FileJob {
                    path: path.clone(),
                    size: *size,
                    algorithms: vec![],
                    decode: true,
                    audio_md5: None,
                })
                .collect();
            observer.planned(jobs.len() as u64, jobs.iter().map(|j| j.size).sum());
            let results = read_all(&jobs, options.jobs, observer);
            for (job, result) in jobs.iter().zip(&results) {
                self.problems
                    .extend(changed_file_problems(job, result, true, &[], None));
            }
            self.count(&results);
        }
    }

    fn count(&mut self, results: &[FileResult]) {
        self.files += results.iter().filter(|r| r.error.is_none()).count() as u64;
        self.bytes += results.iter().map(|r| r.bytes).sum::<u64>();
    }
}

/// The items an archive's record knows (its catalogue, read-only; else the `ingestion` events
/// of its `events.jsonl`). Nothing when neither can be read: there is nothing to compare with.
fn known_items(root: &Path, under: &str) -> Vec<crate::catalogue::KnownItem> {
    let archive = crate::archive::Archive::new(root);
    if let Ok(items) =
        crate::catalogue::Catalogue::open_read_only(&archive).and_then(|c| c.known_items(under))
    {
        return items;
    }
    let Ok(log) = std::fs::read(archive.meta_dir().join("events.jsonl")) else {
        return Vec::new();
    };
    let mut items: Vec<String> = log
        .split(|&b| b == b'\n')
        .filter_map(|line| serde_json::from_slice::<crate::archive::events::Event>(line).ok())
        .filter(|e| e.event_type == EventType::Ingestion && e.item.split('/').count() == 2)
        .map(|e| e.item)
        .collect();
    items.sort();
    items.dedup();
    items
        .into_iter()
        .map(|item| crate::catalogue::KnownItem {
            bag_path: item.clone(),
            item,
            files: Vec::new(),
        })
        .collect()
}

/// The archive a bag belongs to: its nearest ancestor holding `.capstan/`.
fn archive_of(bag: &Path) -> Option<PathBuf> {
    bag.ancestors()
        .skip(1)
        .find(|a| a.join(".capstan").is_dir())
        .map(Path::to_path_buf)
}

/// Records a verification as PREMIS `fixity check` events in the archives its bags are in
/// (`events.jsonl` and the catalogue): one per bag, and one per payload file (its outcome and
/// the problems that concern it), so the rolling schedule and `capstan report` know when each
/// was last proved. Bags outside an archive, or not at `<collection>/<item-id>`, are not
/// recorded. Returns, per archive, what recording it came to.
pub fn record_checks(
    bags: &[BagOutcome],
    problems: &[Problem],
    deep: bool,
) -> Vec<(PathBuf, Result<usize, crate::catalogue::RecordError>)> {
    let date_time = crate::units::now_rfc3339();
    let agent = crate::ingest::agent();
    let mut by_archive: std::collections::BTreeMap<PathBuf, Vec<crate::archive::events::Event>> =
        Default::default();
    // Indexed once, so recording stays linear in files and problems (a bag of 100,000 missing
    // files has 100,000 problems to pair with 100,000 payload files).
    let mut concerning: std::collections::HashMap<&str, Vec<&Problem>> = Default::default();
    let mut per_bag: std::collections::HashMap<&str, usize> = Default::default();
    for p in problems {
        concerning.entry(p.path.as_str()).or_default().push(p);
        if let Some(from) = p.moved_from.as_deref().filter(|f| *f != p.path) {
            concerning.entry(from).or_default().push(p);
        }
        if let Some(bag) = p.bag.as_deref() {
            *per_bag.entry(bag).or_default() += 1;
        }
    }
    for bag in bags {
        let Some(root) = archive_of(&bag.dir) else {
            continue;
        };
        let Some(item) = bag
            .dir
            .strip_prefix(&root)
            .ok()
            .and_then(|rel| rel.to_str())
            .filter(|rel| rel.split('/').count() == 2)
            .map(str::to_string)
        else {
            continue;
        };
        let event =
            |file: Option<&str>, outcome: Outcome, detail: String| crate::archive::events::Event {
                copy: None,
                date_time: date_time.clone(),
                event_type: EventType::FixityCheck,
                item: item.clone(),
                file: file.map(str::to_string),
                outcome,
                detail,
                agent: agent.clone(),
            };
        let events = by_archive.entry(root).or_default();
        let bag_problems = per_bag.get(bag.path.as_str()).copied().unwrap_or(0);
        // Problems of the bag itself (a lost bagit.txt, a gone item), named in its event.
        let of_bag = concerning
            .get(bag.path.as_str())
            .map_or(&[][..], Vec::as_slice);
        let item_gone = of_bag.iter().find(|p| p.kind == ProblemKind::ItemMissing);
        events.push(event(
            None,
            bag.outcome.clone(),
            match bag_problems {
                0 => format!(
                    "capstan verify{}: {} file(s), {} bytes, all intact",
                    if deep { " --deep" } else { "" },
                    bag.files,
                    bag.bytes
                ),
                n => format!(
                    "capstan verify: {n} problem(s){}",
                    of_bag
                        .iter()
                        .map(|p| format!("; {}: {}", p.kind.words(), p.detail))
                        .collect::<String>()
                ),
            },
        ));
        for rel in &bag.payload {
            let found = match item_gone {
                Some(p) => std::slice::from_ref(p),
                None => concerning
                    .get(display_path(&bag.dir.join(rel)).as_str())
                    .map_or(&[][..], Vec::as_slice),
            };
            events.push(match found.is_empty() {
                true => event(
                    Some(rel),
                    Outcome::Pass,
                    "digest matches the manifest".into(),
                ),
                false => event(
                    Some(rel),
                    Outcome::Fail,
                    found
                        .iter()
                        .map(|p| format!("{}: {}", p.kind.words(), p.detail))
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
            });
        }
    }
    by_archive
        .into_iter()
        .map(|(root, events)| {
            let n = events.len();
            let outcome =
                crate::catalogue::record(&crate::archive::Archive::new(&root), None, &events);
            (root, outcome.map(|()| n))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn paths_show_bytes_that_are_not_utf8_as_hex() {
        let p = Path::new(OsStr::from_bytes(b"data/\xff\xfeok\xc3\xa9.flac"));
        assert_eq!(display_path(p), "data/\\xFF\\xFEok\u{e9}.flac");
    }

    #[test]
    fn a_fifo_is_refused_not_read() {
        let tmp = tempfile::tempdir().unwrap();
        let fifo = tmp.path().join("f");
        let c = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid C string and mode.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = open_regular(&fifo).unwrap_err();
        assert!(err.to_string().contains("FIFO"), "{err}");
    }
}
