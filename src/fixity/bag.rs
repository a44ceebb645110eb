//! One bag's verification: what to read (planned before any payload byte is read, from a walk
//! of the bag and its tag files), then what the reads mean (judged after).

use super::digest::Algorithm;
use super::{changed_file_problems, display_path, is_flac, open_regular, FileJob, FileResult};
use super::{Problem, ProblemKind};
use crate::archive::bag::{
    info_field, manifest_name, parse_bag_info, parse_manifest, payload_oxum, safe_payload_path,
    walk_bag, BagWalk, Malformed,
};
use crate::archive::item_id::ItemId;
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
/// Each stage reports into `problems` and hands the next what it needs; no payload byte is read.
pub(super) fn inspect(
    dir: &Path,
    deep: bool,
    recorded: Option<&std::collections::HashMap<String, String>>,
    problems: &mut Vec<Problem>,
    jobs: &mut Vec<FileJob>,
) -> BagPlan {
    let mut bag = Inspection::walk(dir, problems);
    bag.check_declaration();
    let info = bag.read_info();
    let item = info_field(&info, "External-Identifier").map(|id| item_name(dir, id));
    let manifests = bag.read_manifests();
    let (to_read, missing) = bag.plan_reads(manifests, deep);
    bag.check_oxum(&info);

    let first = jobs.len();
    let mut planned = Vec::with_capacity(to_read.len());
    for r in to_read {
        let audio_md5 = recorded
            .filter(|_| is_flac(&r.rel))
            .and_then(|m| m.get(&display_path(&r.rel)).cloned());
        jobs.push(FileJob {
            path: dir.join(&r.rel),
            size: r.size,
            algorithms: r.algorithms,
            decode: r.decode,
            audio_md5,
        });
        planned.push(Planned {
            rel: r.rel,
            role: r.role,
        });
    }
    BagPlan {
        dir: dir.to_path_buf(),
        item,
        jobs: first..jobs.len(),
        planned,
        missing,
    }
}

/// The item a bag holds, as the catalogue names it: its collection folder and its
/// `External-Identifier`.
fn item_name(dir: &Path, id: &str) -> String {
    let collection = dir
        .parent()
        .and_then(|p| p.file_name())
        .map(|n| display_path(Path::new(n)))
        .unwrap_or_default();
    ItemId::known(&collection, id).to_string()
}

/// One bag being planned: its walk, and where its problems go.
struct Inspection<'a> {
    dir: &'a Path,
    shown: String,
    walk: BagWalk,
    problems: &'a mut Vec<Problem>,
}

/// What the manifests and tag manifests say every file should be.
struct Manifests {
    payload: BTreeMap<PathBuf, Vec<Expect>>,
    tags: BTreeMap<PathBuf, Vec<Expect>>,
    /// The algorithms of the payload manifests, for reading unlisted payload.
    payload_algorithms: Vec<Algorithm>,
}

/// A file to read, and what it is expected to be.
struct ToRead {
    rel: PathBuf,
    size: u64,
    algorithms: Vec<Algorithm>,
    decode: bool,
    role: Role,
}

impl<'a> Inspection<'a> {
    /// Walks the bag without following links, reporting links, non-files and unreadable folders.
    fn walk(dir: &'a Path, problems: &'a mut Vec<Problem>) -> Self {
        let mut bag = Inspection {
            dir,
            shown: display_path(dir),
            walk: walk_bag(dir),
            problems,
        };
        for link in std::mem::take(&mut bag.walk.links) {
            let target = std::fs::read_link(dir.join(&link))
                .map(|t| display_path(&t))
                .unwrap_or_else(|_| "?".into());
            bag.report(
                ProblemKind::Symlink,
                &dir.join(&link),
                format!("symbolic link to {target}; not followed"),
            );
            bag.walk.links.push(link);
        }
        for other in std::mem::take(&mut bag.walk.others) {
            bag.report(
                ProblemKind::Unreadable,
                &dir.join(&other),
                "not a regular file; not read".into(),
            );
            bag.walk.others.push(other);
        }
        for (rel, e) in std::mem::take(&mut bag.walk.errors) {
            bag.report(ProblemKind::Unreadable, &dir.join(&rel), e.to_string());
            bag.walk.errors.push((rel, e));
        }
        bag
    }

    fn report(&mut self, kind: ProblemKind, path: &Path, detail: String) {
        self.problems
            .push(Problem::new(kind, path, Some(&self.shown), detail))
    }

    /// Already reported: a link, a non-file, or something under a folder that could not be
    /// listed (it may well be there; "missing" would be a guess).
    fn present_oddly(&self, rel: &Path) -> bool {
        let w = &self.walk;
        w.links.iter().any(|l| rel.starts_with(l))
            || w.others.iter().any(|o| o == rel)
            || w.errors.iter().any(|(e, _)| rel.starts_with(e))
    }

    fn malformed(&mut self, bad: Vec<Malformed>) {
        for b in bad {
            let path = self.dir.join(&b.file);
            self.report(
                ProblemKind::ManifestMalformed,
                &path,
                format!("line {}: {}: {:?}", b.line, b.reason, b.text),
            );
        }
    }

    /// A tag file's bytes, when the walk found it as a regular file and it could be read.
    fn tag(&mut self, name: &str) -> Option<Vec<u8>> {
        if !self.walk.files.contains_key(Path::new(name)) {
            return None;
        }
        let path = self.dir.join(name);
        match read_tag(&path) {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                self.report(ProblemKind::Unreadable, &path, e.to_string());
                None
            }
        }
    }

    /// bagit.txt (RFC 8493 §2.1.1): version and encoding.
    fn check_declaration(&mut self) {
        let dir = self.dir;
        match self.tag("bagit.txt") {
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
                    self.report(
                        ProblemKind::BagMalformed,
                        dir,
                        "bagit.txt must hold `BagIt-Version: M.N` and `Tag-File-Character-Encoding`"
                            .into(),
                    );
                }
            }
            None if self.present_oddly(Path::new("bagit.txt")) => {}
            None => self.report(
                ProblemKind::BagMalformed,
                dir,
                "no bagit.txt: the bag lost its declaration (RFC 8493 §2.1.1); its manifests were still checked".into(),
            ),
        }
    }

    /// bag-info.txt's fields (optional in BagIt; Capstan always writes it).
    fn read_info(&mut self) -> Vec<(String, String)> {
        let Some(bytes) = self.tag("bag-info.txt") else {
            return Vec::new();
        };
        let (fields, bad) = parse_bag_info(&bytes);
        let path = self.dir.join("bag-info.txt");
        for b in bad {
            self.report(
                ProblemKind::ManifestMalformed,
                &path,
                format!("line {}: {}: {:?}", b.line, b.reason, b.text),
            );
        }
        fields
    }

    /// Manifests and tag manifests: what every file should be. Entries that leave the bag, or
    /// payload entries outside `data/`, are reported and never opened.
    fn read_manifests(&mut self) -> Manifests {
        let dir = self.dir;
        let mut m = Manifests {
            payload: BTreeMap::new(),
            tags: BTreeMap::new(),
            payload_algorithms: Vec::new(),
        };
        let mut has_payload_manifest = false;
        let manifests: Vec<(String, String, bool)> = self
            .walk
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
                self.report(
                    ProblemKind::BagMalformed,
                    &dir.join(name),
                    format!(
                        "algorithm {algorithm_name:?} is not supported; this manifest was not checked"
                    ),
                );
                continue;
            };
            let Some(bytes) = self.tag(name) else {
                continue;
            };
            let parsed = parse_manifest(name, algorithm_name, &bytes);
            self.malformed(parsed.malformed);
            if !is_tag && !m.payload_algorithms.contains(&algorithm) {
                m.payload_algorithms.push(algorithm);
            }
            for e in parsed.entries {
                if !safe_payload_path(&e.path) {
                    self.report(
                        ProblemKind::UnsafePath,
                        &dir.join(name),
                        format!("line {}: {:?} leaves the bag; not opened", e.line, e.path),
                    );
                    continue;
                }
                if !is_tag && !e.path.starts_with("data/") {
                    self.report(
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
                let map = if *is_tag { &mut m.tags } else { &mut m.payload };
                map.entry(PathBuf::from(e.path)).or_default().push(expect);
            }
        }
        if !has_payload_manifest {
            self.report(
                ProblemKind::BagMalformed,
                dir,
                "no payload manifest (manifest-<algorithm>.txt)".into(),
            );
        }
        m
    }

    /// The payload on disk: each file and its size.
    fn payload_on_disk(&self) -> impl Iterator<Item = (&PathBuf, u64)> {
        self.walk
            .files
            .iter()
            .filter(|(rel, _)| rel.starts_with("data"))
            .map(|(rel, stamp)| (rel, stamp.bytes))
    }

    /// The files to read (unlisted payload, listed payload, listed tag files), and the listed
    /// payload that is not on disk (it may turn out to be moved). A listed tag file that is
    /// gone is reported here.
    fn plan_reads(
        &mut self,
        manifests: Manifests,
        deep: bool,
    ) -> (Vec<ToRead>, Vec<(PathBuf, Vec<Expect>)>) {
        let Manifests {
            payload,
            tags,
            payload_algorithms,
        } = manifests;
        let algorithms_of = |expects: &[Expect]| {
            let mut a: Vec<Algorithm> = expects.iter().map(|e| e.algorithm).collect();
            a.sort();
            a.dedup();
            a
        };
        let mut to_read: Vec<ToRead> = self
            .payload_on_disk()
            .filter(|(rel, _)| !payload.contains_key(*rel))
            .map(|(rel, size)| ToRead {
                rel: rel.clone(),
                size,
                algorithms: payload_algorithms.clone(),
                decode: false,
                role: Role::Unlisted,
            })
            .collect();
        let mut missing = Vec::new();
        for (rel, expects) in payload {
            match self.walk.files.get(&rel) {
                Some(stamp) => to_read.push(ToRead {
                    size: stamp.bytes,
                    algorithms: algorithms_of(&expects),
                    decode: deep && is_flac(&rel),
                    rel,
                    role: Role::Listed(expects),
                }),
                None if self.present_oddly(&rel) => {}
                None => missing.push((rel, expects)),
            }
        }
        for (rel, expects) in tags {
            match self.walk.files.get(&rel) {
                Some(stamp) => to_read.push(ToRead {
                    size: stamp.bytes,
                    algorithms: algorithms_of(&expects),
                    decode: false,
                    rel,
                    role: Role::Listed(expects),
                }),
                None if self.present_oddly(&rel) => {}
                None => {
                    let path = self.dir.join(&rel);
                    self.report(
                        ProblemKind::Missing,
                        &path,
                        format!("listed in {}, not in the bag", expects[0].manifest),
                    )
                }
            }
        }
        (to_read, missing)
    }

    /// Payload-Oxum (RFC 8493 §2.2.2): octets and files of the payload on disk.
    fn check_oxum(&mut self, info: &[(String, String)]) {
        let Some(value) = info_field(info, "Payload-Oxum") else {
            return;
        };
        let (octets, streams) = self
            .payload_on_disk()
            .fold((0u64, 0u64), |(o, n), (_, size)| (o + size, n + 1));
        let dir = self.dir;
        match payload_oxum(info) {
            Some(expected) if expected == (octets, streams) => {}
            Some((o, s)) => self.report(
                ProblemKind::OxumMismatch,
                dir,
                format!(
                    "Payload-Oxum says {o} bytes in {s} files; the payload holds {octets} bytes in {streams} files"
                ),
            ),
            None => self.report(
                ProblemKind::ManifestMalformed,
                &dir.join("bag-info.txt"),
                format!("Payload-Oxum {value:?} is not OCTETS.STREAMS"),
            ),
        }
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
