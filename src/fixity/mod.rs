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
//! A FLAC whose digest changed is decoded even without `deep`, to tell a damaged recording
//! from an edited tag ("metadata changed, audio intact"): the one case where a file is read
//! twice, and only when it has already failed.

mod bag;
mod digest;

use crate::flac::verify::{check_stream, AudioCheck, Md5Status};
use crate::units::Timecode;
pub use digest::Algorithm;
use digest::Digests;
use serde::Serialize;
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
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
        }
    }
}

/// One bad frame (or the end of a truncated stream).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DamageAt {
    pub kind: String,
    /// The first sample (inter-channel frame) of the bad frame.
    pub sample: u64,
    /// `hh:mm:ss.fff`
    pub time: String,
}

/// One thing found wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, Serialize)]
pub struct BagOutcome {
    pub path: String,
    #[serde(skip)]
    pub dir: PathBuf,
    /// The payload files its manifests list (relative to the bag), for the fixity record.
    #[serde(skip)]
    pub payload: Vec<String>,
    /// `collection/item-id`: the bag's parent folder and its External-Identifier.
    pub item: Option<String>,
    pub outcome: &'static str,
    pub files: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub bags: u64,
    pub files: u64,
    pub bytes: u64,
    pub problems: u64,
    pub seconds: f64,
}

/// Everything a verification found. Serialised as the `--json` output.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub version: u32,
    pub deep: bool,
    pub outcome: &'static str,
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

/// One file to read.
#[derive(Debug, Clone)]
struct FileJob {
    path: PathBuf,
    size: u64,
    algorithms: Vec<Algorithm>,
    /// Decode as FLAC in the same read.
    decode: bool,
}

/// What reading one file found.
#[derive(Debug, Default)]
struct FileResult {
    bytes: u64,
    digests: Vec<(Algorithm, String)>,
    audio: Option<AudioCheck>,
    error: Option<String>,
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
        if job.decode {
            let mut tap = |b: &[u8]| {
                digests.update(b);
                bytes += b.len() as u64;
            };
            let audio = check_stream(&job.path, &mut file, &mut tap).map_err(|e| match e {
                crate::flac::FlacError::Io { source, .. } => source.to_string(),
                other => other.to_string(),
            })?;
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
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e.to_string()),
                }
            }
        }
        result.bytes = bytes;
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
fn audio_problems(
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
    let audio = match (&result.audio, wrong.is_empty()) {
        (Some(audio), _) => audio,
        (None, true) => return vec![],
        (None, false) => {
            reread = read_file(&FileJob {
                decode: true,
                algorithms: vec![],
                ..job.clone()
            });
            match (&reread.audio, &reread.error) {
                (Some(audio), None) => audio,
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
    for p in &mut found {
        if matches!(
            p.kind,
            ProblemKind::MetadataChanged | ProblemKind::DigestMismatch
        ) {
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

/// A file's SHA-256 (lower-case hex), read once without following a link; None if it could not
/// be read.
pub fn sha256_of(path: &Path) -> Option<String> {
    let job = FileJob {
        path: path.to_path_buf(),
        size: path.symlink_metadata().map_or(0, |m| m.len()),
        algorithms: vec![Algorithm::Sha256],
        decode: false,
    };
    let result = read_file(&job);
    result.digests.into_iter().next().map(|(_, d)| d)
}

/// Checks one file against the SHA-256 it should have (the watcher's check): read once, its
/// SHA-256 and, for FLAC with `deep`, its audio in the same read; a changed FLAC is decoded to
/// tell damage from an edited tag. Never follows a link.
pub fn check_against(path: &Path, sha256: &str, deep: bool) -> FileVerdict {
    let flac = is_flac(path);
    let job = FileJob {
        path: path.to_path_buf(),
        size: path.symlink_metadata().map_or(0, |m| m.len()),
        algorithms: vec![Algorithm::Sha256],
        decode: deep && flac,
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
    let mut bags = Vec::new();
    let mut loose = Vec::new();
    // Found while looking for bags and FLAC files: links (never followed), unreadable folders.
    let mut outside = Vec::new();
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
            loose.push((path.clone(), meta.len()));
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
            outside.push(Problem::new(
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
        bags.extend(survey.bags);
        loose.extend(flacs);
        for link in survey.links {
            let target = std::fs::read_link(&link)
                .map(|t| display_path(&t))
                .unwrap_or_else(|_| "?".into());
            outside.push(Problem::new(
                ProblemKind::Symlink,
                &link,
                None,
                format!("symbolic link to {target}; not followed"),
            ));
        }
        for (dir, e) in survey.errors {
            outside.push(Problem::new(
                ProblemKind::Unreadable,
                &dir,
                None,
                e.to_string(),
            ));
        }
    }
    bags.sort();
    bags.dedup();
    loose.sort();
    loose.dedup();

    // Bags are verified a batch at a time, so memory follows the batch, not the archive: what
    // outlives a batch is its problems and one line per bag.
    let mut problems = outside;
    let mut bag_outcomes = Vec::new();
    let (mut files, mut bytes) = (0u64, 0u64);
    let mut next = 0;
    while next < bags.len() {
        let (mut plans, mut jobs, mut found) = (Vec::new(), Vec::new(), Vec::new());
        while next < bags.len() && jobs.len() < BATCH_FILES {
            plans.push(bag::inspect(
                &bags[next],
                options.deep,
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
        let mut outcomes: Vec<BagOutcome> = plans
            .iter()
            .map(|plan| {
                let shown = display_path(&plan.dir);
                let failed = found
                    .iter()
                    .any(|p| p.bag.as_deref() == Some(shown.as_str()));
                BagOutcome {
                    dir: plan.dir.clone(),
                    payload: plan.payload(),
                    item: plan.item.clone(),
                    outcome: if failed { "fail" } else { "pass" },
                    files: plan.jobs.len() as u64,
                    bytes: plan.jobs.clone().map(|i| results[i].bytes).sum(),
                    path: shown,
                }
            })
            .collect();
        observer.bags_done(&outcomes, &found, options.deep);
        files += results.iter().filter(|r| r.error.is_none()).count() as u64;
        bytes += results.iter().map(|r| r.bytes).sum::<u64>();
        for o in &mut outcomes {
            o.payload = Vec::new();
        }
        bag_outcomes.extend(outcomes);
        problems.extend(found);
    }
    for batch in loose.chunks(BATCH_FILES) {
        let jobs: Vec<FileJob> = batch
            .iter()
            .map(|(path, size)| FileJob {
                path: path.clone(),
                size: *size,
                algorithms: vec![],
                decode: true,
            })
            .collect();
        observer.planned(jobs.len() as u64, jobs.iter().map(|j| j.size).sum());
        let results = read_all(&jobs, options.jobs, observer);
        for (job, result) in jobs.iter().zip(&results) {
            problems.extend(changed_file_problems(job, result, true, &[], None));
        }
        files += results.iter().filter(|r| r.error.is_none()).count() as u64;
        bytes += results.iter().map(|r| r.bytes).sum::<u64>();
    }
    problems.sort_by(|a, b| (&a.bag, &a.path, a.kind).cmp(&(&b.bag, &b.path, b.kind)));
    problems.dedup();
    Ok(VerifyReport {
        version: 1,
        deep: options.deep,
        outcome: if problems.is_empty() { "pass" } else { "fail" },
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
            |file: Option<&str>, outcome: &str, detail: String| crate::archive::events::Event {
                date_time: date_time.clone(),
                event_type: "fixity check".into(),
                item: item.clone(),
                file: file.map(str::to_string),
                outcome: outcome.into(),
                detail,
                agent: agent.clone(),
            };
        let events = by_archive.entry(root).or_default();
        let concerning = |path: &str| -> Vec<&Problem> {
            problems
                .iter()
                .filter(|p| p.path == path || p.moved_from.as_deref() == Some(path))
                .collect()
        };
        let bag_problems = problems
            .iter()
            .filter(|p| p.bag.as_deref() == Some(bag.path.as_str()))
            .count();
        events.push(event(
            None,
            bag.outcome,
            match bag_problems {
                0 => format!(
                    "capstan verify{}: {} file(s), {} bytes, all intact",
                    if deep { " --deep" } else { "" },
                    bag.files,
                    bag.bytes
                ),
                n => format!("capstan verify: {n} problem(s)"),
            },
        ));
        for rel in &bag.payload {
            let found = concerning(&display_path(&bag.dir.join(rel)));
            events.push(match found.is_empty() {
                true => event(Some(rel), "pass", "digest matches the manifest".into()),
                false => event(
                    Some(rel),
                    "fail",
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
