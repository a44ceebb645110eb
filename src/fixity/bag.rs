//! One bag's verification: what to read (planned before any payload byte is read, from a walk
//! of the bag and its tag files), then what the reads mean (judged after).

use super::digest::Algorithm;
use super::{changed_file_problems, display_path, is_flac, open_regular, FileJob, FileResult};
use super::{Problem, ProblemKind};
use crate::archive::bag::{
    info_field, manifest_name, parse_bag_info, parse_manifest, payload_oxum, safe_payload_path,
    walk_bag, Malformed,
};
use std::collections::BTreeMap;
use std::io::{self, Read};
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A digest a manifest expects, and where it says so.
#[derive(Debug, Clone)]
struct Expect {
    algorithm: Algorithm,
    digest: String,
    manifest: String,
    line: usize,
}

#[derive(Debug)]
enum Role {
    /// Listed in the manifests (payload) or tag manifests.
    Listed(Vec<Expect>),
    /// Payload in no manifest: read for its digests, which may show it was moved.
    Unlisted,
}

#[derive(Debug)]
struct Planned {
    /// Relative to the bag.
    rel: PathBuf,
    role: Role,
}

/// What one bag's judgement needs.
pub(super) struct BagPlan {
    pub dir: PathBuf,
    pub item: Option<String>,
    /// Indices of this bag's files in the run's job list.
    pub jobs: Range<usize>,
    planned: Vec<Planned>,
    /// Listed payload not on disk: may turn out to be moved.
    missing: Vec<(PathBuf, Vec<Expect>)>,
}

/// Reads a small tag file found by the walk.
fn read_tag(path: &Path) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    open_regular(path)?.read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn short(digest: &str) -> &str {
    &digest[..digest.len().min(16)]
}

/// Plans a bag: reports what its walk and tag files show, and queues every file to read.
pub(super) fn inspect(
    dir: &Path,
    deep: bool,
    recorded: Option<&std::collections::HashMap<String, String>>,
    problems: &mut Vec<Problem>,
    jobs: &mut Vec<FileJob>,
) -> BagPlan {
    let shown = display_path(dir);
    let mut report = |kind, path: &Path, detail: String| {
        problems.push(Problem::new(kind, path, Some(&shown), detail))
    };
    let w = walk_bag(dir);
    for link in &w.links {
        let target = std::fs::read_link(dir.join(link))
            .map(|t| display_path(&t))
            .unwrap_or_else(|_| "?".into());
        report(
            ProblemKind::Symlink,
            &dir.join(link),
            format!("symbolic link to {target}; not followed"),
        );
    }
    for other in &w.others {
        report(
            ProblemKind::Unreadable,
            &dir.join(other),
            "not a regular file; not read".into(),
        );
    }
    for (rel, e) in &w.errors {
        report(ProblemKind::Unreadable, &dir.join(rel), e.to_string());
    }
    // Already reported: a link, a non-file, or something under a folder that could not be
    // listed (it may well be there; "missing" would be a guess).
    let present_oddly = |rel: &Path| {
        w.links.iter().any(|l| rel.starts_with(l))
            || w.others.iter().any(|o| o == rel)
            || w.errors.iter().any(|(e, _)| rel.starts_with(e))
    };
    let malformed = |bad: Vec<Malformed>, report: &mut dyn FnMut(ProblemKind, &Path, String)| {
        for b in bad {
            report(
                ProblemKind::ManifestMalformed,
                &dir.join(&b.file),
                format!("line {}: {}: {:?}", b.line, b.reason, b.text),
            );
        }
    };
    let tag = |name: &str, report: &mut dyn FnMut(ProblemKind, &Path, String)| {
        if !w.files.contains_key(Path::new(name)) {
            return None;
        }
        match read_tag(&dir.join(name)) {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                report(ProblemKind::Unreadable, &dir.join(name), e.to_string());
                None
            }
        }
    };

    // bagit.txt (RFC 8493 §2.1.1): version and encoding.
    match tag("bagit.txt", &mut report) {
        Some(bytes) => {
            let (fields, bad) = parse_bag_info(&bytes);
            let version_ok = info_field(&fields, "BagIt-Version").is_some_and(|v| {
                v.split_once('.').is_some_and(|(a, b)| {
                    [a, b]
                        .iter()
                        .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()))
                })
            });
            let encoding_ok = info_field(&fields, "Tag-File-Character-Encoding").is_some();
            if !bad.is_empty() || !version_ok || !encoding_ok {
                report(
                    ProblemKind::BagMalformed,
                    dir,
                    "bagit.txt must hold `BagIt-Version: M.N` and `Tag-File-Character-Encoding`"
                        .into(),
                );
            }
        }
        None if present_oddly(Path::new("bagit.txt")) => {}
        None => report(
            ProblemKind::BagMalformed,
            dir,
            "no bagit.txt: the bag lost its declaration (RFC 8493 §2.1.1); its manifests were still checked".into(),
        ),
    }

    // bag-info.txt (optional in BagIt; Capstan always writes it).
    let mut info = Vec::new();
    if let Some(bytes) = tag("bag-info.txt", &mut report) {
        let (fields, bad) = parse_bag_info(&bytes);
        for b in bad {
            report(
                ProblemKind::ManifestMalformed,
                &dir.join("bag-info.txt"),
                format!("line {}: {}: {:?}", b.line, b.reason, b.text),
            );
        }
        info = fields;
    }
    let item = info_field(&info, "External-Identifier").map(|id| {
        let collection = dir
            .parent()
            .and_then(|p| p.file_name())
            .map(|n| display_path(Path::new(n)))
            .unwrap_or_default();
        format!("{collection}/{id}")
    });

    // Manifests and tag manifests: what every file should be.
    let mut payload: BTreeMap<PathBuf, Vec<Expect>> = BTreeMap::new();
    let mut tags: BTreeMap<PathBuf, Vec<Expect>> = BTreeMap::new();
    let mut payload_algorithms = Vec::new();
    let mut has_payload_manifest = false;
    let manifests: Vec<(String, String, bool)> = w
        .files
        .keys()
        .filter(|rel| rel.components().count() == 1)
        .filter_map(|rel| {
            let name = rel.to_str()?;
            let (algorithm, is_tag) = manifest_name(name)?;
            Some((name.to_string(), algorithm.to_string(), is_tag))
        })
        .collect();
    for (name, algorithm_name, is_tag) in &manifests {
        has_payload_manifest |= !is_tag;
        let Some(algorithm) = Algorithm::from_name(algorithm_name) else {
            report(
                ProblemKind::BagMalformed,
                &dir.join(name),
                format!(
                    "algorithm {algorithm_name:?} is not supported; this manifest was not checked"
                ),
            );
            continue;
        };
        let Some(bytes) = tag(name, &mut report) else {
            continue;
        };
        let m = parse_manifest(name, algorithm_name, &bytes);
        malformed(m.malformed, &mut report);
        if !is_tag && !payload_algorithms.contains(&algorithm) {
            payload_algorithms.push(algorithm);
        }
        for e in m.entries {
            if !safe_payload_path(&e.path) {
                report(
                    ProblemKind::UnsafePath,
                    &dir.join(name),
                    format!("line {}: {:?} leaves the bag; not opened", e.line, e.path),
                );
                continue;
            }
            if !is_tag && !e.path.starts_with("data/") {
                report(
                    ProblemKind::ManifestMalformed,
                    &dir.join(name),
                    format!(
                        "line {}: {:?} is not in the payload (data/)",
                        e.line, e.path
                    ),
                );
                continue;
            }
            let expect = Expect {
                algorithm,
                digest: e.digest,
                manifest: name.clone(),
                line: e.line,
            };
            let map = if *is_tag { &mut tags } else { &mut payload };
            map.entry(PathBuf::from(e.path)).or_default().push(expect);
        }
    }
    if !has_payload_manifest {
        report(
            ProblemKind::BagMalformed,
            dir,
            "no payload manifest (manifest-<algorithm>.txt)".into(),
        );
    }

    // The files to read: listed payload, unlisted payload, listed tag files.
    let mut to_read: Vec<(PathBuf, u64, Vec<Algorithm>, bool, Role)> = Vec::new();
    let mut missing = Vec::new();
    let algorithms_of = |expects: &[Expect]| {
        let mut a: Vec<Algorithm> = expects.iter().map(|e| e.algorithm).collect();
        a.sort();
        a.dedup();
        a
    };
    let on_disk_payload: Vec<(&PathBuf, u64)> = w
        .files
        .iter()
        .filter(|(rel, _)| rel.starts_with("data"))
        .map(|(rel, stamp)| (rel, stamp.bytes))
        .collect();
    for &(rel, size) in &on_disk_payload {
        if !payload.contains_key(rel) {
            to_read.push((
                rel.clone(),
                size,
                payload_algorithms.clone(),
                false,
                Role::Unlisted,
            ));
        }
    }
    for (rel, expects) in payload {
        match w.files.get(&rel) {
            Some(stamp) => {
                let size = stamp.bytes;
                let decode = deep && is_flac(&rel);
                let algorithms = algorithms_of(&expects);
                to_read.push((rel, size, algorithms, decode, Role::Listed(expects)));
            }
            None if present_oddly(&rel) => {}
            None => missing.push((rel, expects)),
        }
    }
    for (rel, expects) in tags {
        match w.files.get(&rel) {
            Some(stamp) => {
                let (size, algorithms) = (stamp.bytes, algorithms_of(&expects));
                to_read.push((rel, size, algorithms, false, Role::Listed(expects)));
            }
            None if present_oddly(&rel) => {}
            None => report(
                ProblemKind::Missing,
                &dir.join(&rel),
                format!("listed in {}, not in the bag", expects[0].manifest),
            ),
        }
    }

    // Payload-Oxum (RFC 8493 §2.2.2): octets and files of the payload on disk.
    if let Some(value) = info_field(&info, "Payload-Oxum") {
        let octets: u64 = on_disk_payload.iter().map(|(_, s)| s).sum();
        let streams = on_disk_payload.len() as u64;
        match payload_oxum(&info) {
            Some(expected) if expected == (octets, streams) => {}
            Some((o, s)) => report(
                ProblemKind::OxumMismatch,
                dir,
                format!(
                    "Payload-Oxum says {o} bytes in {s} files; the payload holds {octets} bytes in {streams} files"
                ),
            ),
            None => report(
                ProblemKind::ManifestMalformed,
                &dir.join("bag-info.txt"),
                format!("Payload-Oxum {value:?} is not OCTETS.STREAMS"),
            ),
        }
    }

    let first = jobs.len();
    let mut planned = Vec::with_capacity(to_read.len());
    for (rel, size, algorithms, decode, role) in to_read {
        let audio_md5 = recorded
            .filter(|_| is_flac(&rel))
            .and_then(|m| m.get(&display_path(&rel)).cloned());
        jobs.push(FileJob {
            path: dir.join(&rel),
            size,
            algorithms,
            decode,
            audio_md5,
        });
        planned.push(Planned { rel, role });
    }
    BagPlan {
        dir: dir.to_path_buf(),
        item,
        jobs: first..jobs.len(),
        planned,
        missing,
    }
}

impl BagPlan {
    /// The payload files the manifests list (relative to the bag), found or not.
    pub(super) fn payload(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .planned
            .iter()
            .filter(|p| matches!(p.role, Role::Listed(_)) && p.rel.starts_with("data"))
            .map(|p| display_path(&p.rel))
            .chain(self.missing.iter().map(|(rel, _)| display_path(rel)))
            .collect();
        out.sort();
        out
    }

    /// What the reads of this bag's files mean.
    pub(super) fn judge(
        &self,
        jobs: &[FileJob],
        results: &[FileResult],
        problems: &mut Vec<Problem>,
    ) {
        let shown = display_path(&self.dir);
        let problem =
            |kind, path: &Path, detail: String| Problem::new(kind, path, Some(&shown), detail);
        let mut unlisted: Vec<(&Planned, &FileResult)> = Vec::new();
        for (planned, i) in self.planned.iter().zip(self.jobs.clone()) {
            let (job, result) = (&jobs[i], &results[i]);
            if let Some(e) = &result.error {
                problems.push(problem(ProblemKind::Unreadable, &job.path, e.clone()));
                continue;
            }
            let expects = match &planned.role {
                Role::Unlisted => {
                    unlisted.push((planned, result));
                    continue;
                }
                Role::Listed(expects) => expects,
            };
            let wrong: Vec<String> = expects
                .iter()
                .filter_map(|e| {
                    let found = result.digests.iter().find(|(a, _)| *a == e.algorithm)?;
                    (found.1 != e.digest).then(|| {
                        format!(
                            "{} line {}: expected {}…, found {}…",
                            e.manifest,
                            e.line,
                            short(&e.digest),
                            short(&found.1)
                        )
                    })
                })
                .collect();
            let is_payload_flac = planned.rel.starts_with("data") && is_flac(&planned.rel);
            problems.extend(changed_file_problems(
                job,
                result,
                is_payload_flac,
                &wrong,
                Some(&shown),
            ));
        }

        // A missing file whose digest an unlisted file has was moved or renamed.
        // Unlisted files by digest, so matching stays linear however many are missing.
        let mut moved_to: Vec<bool> = vec![false; unlisted.len()];
        let mut by_digest: std::collections::HashMap<(Algorithm, &str), Vec<usize>> =
            Default::default();
        for (k, (_, result)) in unlisted.iter().enumerate() {
            for (a, d) in &result.digests {
                by_digest.entry((*a, d.as_str())).or_default().push(k);
            }
        }
        for (rel, expects) in &self.missing {
            let candidates = expects
                .first()
                .and_then(|e| by_digest.get(&(e.algorithm, e.digest.as_str())))
                .map_or(&[][..], Vec::as_slice);
            let target = candidates
                .iter()
                .copied()
                .find(|&k| {
                    !moved_to[k]
                        && expects.iter().all(|e| {
                            unlisted[k]
                                .1
                                .digests
                                .iter()
                                .any(|(a, d)| *a == e.algorithm && *d == e.digest)
                        })
                })
                .map(|k| (k, &unlisted[k]));
            match target {
                Some((k, (planned, _))) => {
                    moved_to[k] = true;
                    problems.push(Problem {
                        moved_from: Some(display_path(&self.dir.join(rel))),
                        ..problem(
                            ProblemKind::Moved,
                            &self.dir.join(&planned.rel),
                            format!(
                                "listed as {}; found here with the same digest",
                                display_path(rel)
                            ),
                        )
                    });
                }
                None => problems.push(problem(
                    ProblemKind::Missing,
                    &self.dir.join(rel),
                    format!(
                        "listed in {} line {}, not on disk",
                        expects[0].manifest, expects[0].line
                    ),
                )),
            }
        }
        for ((planned, _), moved) in unlisted.iter().zip(moved_to) {
            if !moved {
                problems.push(problem(
                    ProblemKind::Unlisted,
                    &self.dir.join(&planned.rel),
                    "in the payload but in no manifest".into(),
                ));
            }
        }
    }
}
