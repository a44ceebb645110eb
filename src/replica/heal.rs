//! Healing from replicas: `capstan audit` (the archive and every replica compared file by
//! file, saying which copies agree) and `capstan repair` (a damaged or lost file brought back
//! from a good replica).
//!
//! # Promises
//!
//! - **A repair only ever puts proved bytes in place.** The replica's copy is streamed into a
//!   temporary file inside the bag, its SHA-256 must equal the bag's manifest, and a FLAC must
//!   decode with every frame CRC good and its audio MD5 equal to STREAMINFO's and to the one
//!   the catalogue recorded at ingest. Only then does it take the file's place, by rename.
//! - **Nothing is deleted.** The damaged file is moved into
//!   `.capstan/quarantine/<date-time>/<collection>/<id>/<path>` first.
//! - **Each step is recorded**: `quarantine`, `recovery`, and the repaired file's `fixity
//!   check`, in the archive's PREMIS log.

use super::s3::Store;
use super::{Expected, ReplicaError, RunReport};
use crate::archive::events::{Event, EventType, Outcome};
use crate::archive::Archive;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The SHA-256 of a local file (`None`: it is not there, or not a regular file).
pub fn local_sha256(path: &Path) -> std::io::Result<Option<[u8; 32]>> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_file() => {}
        Ok(_) => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(Some(h.finalize().into()));
        }
        h.update(&buf[..n]);
    }
}

/// One file on which the copies disagree.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct Disagreement {
    /// `collection/id/path`
    pub path: String,
    /// The copies that hold what the manifest says (`local`, or a replica's name).
    pub agree: Vec<String>,
    /// The others, each with what is wrong.
    pub disagree: Vec<(String, String)>,
}

/// What `audit` found.
#[derive(Debug, Clone, Default, Serialize, ts_rs::TS)]
pub struct AuditReport {
    pub files: usize,
    pub disagreements: Vec<Disagreement>,
    /// Replicas that could not be asked, with why.
    pub unreachable: Vec<(String, String)>,
    /// Each replica's run (requests, bytes).
    pub replicas: Vec<(String, RunReport)>,
}

/// Compares the archive's own files (read and hashed) and every replica's (by HEAD) with the
/// manifests, file by file.
pub fn audit(
    archive: &Archive,
    objects: &[Expected],
    replicas: &[(String, Store)],
    jobs: usize,
) -> Result<AuditReport, ReplicaError> {
    let mut report = AuditReport {
        files: objects.len(),
        ..Default::default()
    };
    let mut wrong: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for o in objects {
        let Some(local) = &o.local else { continue };
        let found = local_sha256(local).map_err(|source| ReplicaError::Io {
            path: local.clone(),
            source,
        })?;
        match found {
            Some(d) if d == o.sha256 => {}
            Some(d) => wrong
                .entry(o.rel())
                .or_default()
                .push(("local".into(), format!("SHA-256 {}", crate::flac::hex(&d)))),
            None => wrong
                .entry(o.rel())
                .or_default()
                .push(("local".into(), "missing".into())),
        }
    }
    for (name, store) in replicas {
        let run = super::audit(Some(archive), name, store, objects, jobs, false)?;
        if let Some(why) = &run.unreachable {
            report.unreachable.push((name.clone(), why.clone()));
        } else {
            for f in run.files.iter().filter(|f| f.finding.is_problem()) {
                wrong
                    .entry(f.path.clone())
                    .or_default()
                    .push((name.clone(), super::describe(&f.finding)));
            }
        }
        report.replicas.push((name.clone(), run));
    }
    let reachable: Vec<&String> = replicas
        .iter()
        .map(|(n, _)| n)
        .filter(|n| !report.unreachable.iter().any(|(u, _)| u == *n))
        .collect();
    for (path, disagree) in wrong {
        let agree = std::iter::once(&"local".to_string())
            .chain(reachable.iter().copied())
            .filter(|c| !disagree.iter().any(|(d, _)| d == *c))
            .cloned()
            .collect();
        report.disagreements.push(Disagreement {
            path,
            agree,
            disagree,
        });
    }
    Ok(report)
}

/// [`audit`] of the whole archive against every replica it names: the report, and what the
/// archive could not say it should hold (each a line for the user).
pub fn audit_archive(
    archive: &Archive,
    jobs: usize,
) -> Result<(AuditReport, Vec<String>), ReplicaError> {
    let stores = super::chosen(archive, None)?
        .iter()
        .map(|r| Ok((r.name.clone(), super::open(r)?)))
        .collect::<Result<Vec<_>, ReplicaError>>()?;
    let (objects, skipped) = super::archive_objects(archive)?;
    Ok((audit(archive, &objects, &stores, jobs)?, skipped))
}

/// What a repair did to one file.
#[derive(Debug, Clone, Serialize)]
pub struct Repaired {
    /// Path in the bag.
    pub file: String,
    /// `intact` (nothing done), `repaired`, or why it could not be.
    pub outcome: String,
    /// Where the damaged copy went, if there was one.
    pub quarantined: Option<PathBuf>,
    pub ok: bool,
}

/// Repairs item `item` (`collection/id`) of `archive` from replica `name`: every file that is
/// missing or does not match its manifest is fetched, proved and put in place.
pub fn repair(
    archive: &Archive,
    item: &str,
    name: &str,
    store: &Store,
) -> Result<Vec<Repaired>, ReplicaError> {
    let (objects, _) = super::archive_objects(archive)?;
    let objects: Vec<&Expected> = objects.iter().filter(|o| o.item == item).collect();
    if objects.is_empty() {
        return Err(ReplicaError::Settings {
            name: name.to_string(),
            detail: format!(
                "the archive has no bag {item} with a SHA-256 manifest to repair by (a lost bag comes back with `capstan restore`)"
            ),
        });
    }
    let recorded: BTreeMap<String, String> = crate::catalogue::Catalogue::open(archive)
        .ok()
        .and_then(|c| c.files_of(item).ok())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|f| Some((f.path, f.audio_md5?)))
        .collect();
    let stamp = crate::units::now_rfc3339().replace(':', "");
    let date_time = crate::units::now_rfc3339();
    let agent = crate::ingest::agent();
    let event = |t: EventType, file: &str, outcome: Outcome, detail: String| Event {
        date_time: date_time.clone(),
        event_type: t,
        item: item.to_string(),
        file: Some(file.to_string()),
        outcome,
        detail,
        agent: agent.clone(),
        copy: None,
    };
    let mut out = Vec::new();
    let mut events = Vec::new();
    for o in objects {
        let local = o.local.clone().expect("an archive's object is local");
        let have = local_sha256(&local).map_err(|source| ReplicaError::Io {
            path: local.clone(),
            source,
        })?;
        if have == Some(o.sha256) {
            out.push(Repaired {
                file: o.file.clone(),
                outcome: "intact".into(),
                quarantined: None,
                ok: true,
            });
            continue;
        }
        match fetch_proved(store, o, &local, recorded.get(&o.file)) {
            Err(why) => out.push(Repaired {
                file: o.file.clone(),
                outcome: format!("not repaired: {why}"),
                quarantined: None,
                ok: false,
            }),
            Ok(temp) => {
                let mut quarantined = None;
                if let Some(damaged) = have {
                    let q = archive
                        .meta_dir()
                        .join("quarantine")
                        .join(&stamp)
                        .join(item)
                        .join(&o.file);
                    let moved = std::fs::create_dir_all(q.parent().expect("a parent"))
                        .and_then(|()| std::fs::rename(&local, &q));
                    if let Err(e) = moved {
                        let _ = std::fs::remove_file(&temp);
                        out.push(Repaired {
                            file: o.file.clone(),
                            outcome: format!(
                                "not repaired: the damaged file could not be moved to {}: {e}",
                                q.display()
                            ),
                            quarantined: None,
                            ok: false,
                        });
                        continue;
                    }
                    events.push(event(
                        EventType::Quarantine,
                        &o.file,
                        Outcome::Pass,
                        format!(
                            "damaged copy (SHA-256 {}, the manifest says {}) moved to {}",
                            crate::flac::hex(&damaged),
                            crate::flac::hex(&o.sha256),
                            q.strip_prefix(&archive.root).unwrap_or(&q).display()
                        ),
                    ));
                    quarantined = Some(q);
                }
                crate::archive::rename_no_replace(&temp, &local).map_err(|source| {
                    ReplicaError::Io {
                        path: local.clone(),
                        source,
                    }
                })?;
                if let Some(dir) = local.parent() {
                    crate::archive::sync_dir(dir)?;
                }
                events.push(event(
                    EventType::Recovery,
                    &o.file,
                    Outcome::Pass,
                    format!(
                        "brought back from replica {name} ({}): SHA-256 matches the manifest{}",
                        store.location.url(),
                        if o.file.ends_with(".flac") {
                            ", every frame decoded, audio MD5 as recorded"
                        } else {
                            ""
                        }
                    ),
                ));
                events.push(event(
                    EventType::FixityCheck,
                    &o.file,
                    Outcome::Pass,
                    "digest matches the manifest (after its recovery)".into(),
                ));
                out.push(Repaired {
                    file: o.file.clone(),
                    outcome: "repaired".into(),
                    quarantined,
                    ok: true,
                });
            }
        }
    }
    if !events.is_empty() {
        crate::catalogue::record(archive, None, &events)?;
    }
    Ok(out)
}

/// The replica's copy of `o`, streamed into a temporary file beside `local` and proved; the
/// temporary file's path, or why it is not a good copy (nothing is left behind then).
fn fetch_proved(
    store: &Store,
    o: &Expected,
    local: &Path,
    audio_md5: Option<&String>,
) -> Result<PathBuf, String> {
    let key = store.location.key(&o.rel());
    match store.head(&key).map_err(|e| e.to_string())? {
        None => return Err(format!("the replica has no {}", o.rel())),
        Some(h) if h.sha256.is_some_and(|d| d != o.sha256) => {
            return Err("the replica's copy does not match the manifest either".into())
        }
        Some(_) => {}
    }
    let dir = local.parent().ok_or("no folder")?;
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let temp = dir.join(format!(
        ".{}.repair.{}",
        local.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let proved = (|| {
        let f = std::fs::File::create(&temp).map_err(|e| e.to_string())?;
        let mut w = HashingWriter {
            inner: std::io::BufWriter::new(f),
            hasher: Sha256::new(),
        };
        store
            .get_to(&key, &mut w)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("the replica has no {}", o.rel()))?;
        let f = w.inner.into_inner().map_err(|e| e.to_string())?;
        f.sync_all().map_err(|e| e.to_string())?;
        let got: [u8; 32] = w.hasher.finalize().into();
        if got != o.sha256 {
            return Err(format!(
                "the replica's copy read back with SHA-256 {}, the manifest says {}",
                crate::flac::hex(&got),
                crate::flac::hex(&o.sha256)
            ));
        }
        if o.file.ends_with(".flac") {
            let check = crate::flac::verify::check_file(&temp).map_err(|e| e.to_string())?;
            if !check.audio.is_intact() {
                return Err(format!(
                    "the replica's copy does not decode cleanly ({:?})",
                    check.audio.damage
                ));
            }
            let md5 = check
                .audio
                .streaminfo
                .map(|si| crate::flac::hex(&si.md5))
                .unwrap_or_default();
            if let Some(want) = audio_md5.filter(|w| **w != md5) {
                return Err(format!(
                    "the replica's copy has audio MD5 {md5}, the catalogue recorded {want}"
                ));
            }
        }
        Ok(())
    })();
    match proved {
        Ok(()) => Ok(temp),
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            Err(e)
        }
    }
}

struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Brings item `collection/id` back whole from replica `name` into `archive`, where it must
/// not exist: every object under the bag's prefix is streamed into a staging bag and proved
/// (payload against the replica's manifest, tag files against its tag manifest, the tag
/// manifest against its stored checksum, every FLAC decoded with its frame CRCs and audio
/// MD5, nothing listed missing, nothing unlisted), then the bag is committed by one rename
/// and registered in the catalogue. Returns the bag's path and its file count.
pub fn restore(
    archive: &Archive,
    collection: &str,
    id: &str,
    name: &str,
    store: &Store,
) -> Result<(PathBuf, usize), ReplicaError> {
    let item = format!("{collection}/{id}");
    let refuse = |detail: String| ReplicaError::Settings {
        name: name.to_string(),
        detail: format!("{item} not restored: {detail}"),
    };
    archive.prepare_for_writing()?;
    let staging = archive.begin(collection, id)?;
    let bag = staging.bag_dir().to_path_buf();
    let prefix = store.location.key(&format!("{item}/"));
    let listed = store.list(&prefix)?;
    if listed.is_empty() {
        return Err(refuse("the replica holds no such bag".into()));
    }
    let small = |file: &str| -> Result<Vec<u8>, ReplicaError> {
        store
            .get_small(&format!("{prefix}{file}"))?
            .ok_or_else(|| refuse(format!("the replica's bag has no {file}")))
    };
    let digests = |file: &str, bytes: &[u8]| -> BTreeMap<String, [u8; 32]> {
        crate::archive::bag::parse_manifest(file, "sha256", bytes)
            .entries
            .into_iter()
            .filter_map(|e| Some((e.path, super::hex32(&e.digest)?)))
            .collect()
    };
    let payload = digests("manifest-sha256.txt", &small("manifest-sha256.txt")?);
    let tags = digests("tagmanifest-sha256.txt", &small("tagmanifest-sha256.txt")?);
    let mut fetched = 0;
    let mut seen = std::collections::BTreeSet::new();
    for (key, _) in &listed {
        let rel = key.strip_prefix(&prefix).unwrap_or(key);
        let want = match (payload.get(rel), tags.get(rel)) {
            (Some(d), _) | (None, Some(d)) => *d,
            (None, None) if rel == "tagmanifest-sha256.txt" => match store.head(key)? {
                Some(h) => h.sha256.ok_or_else(|| {
                    refuse("its tag manifest was stored without a SHA-256 to prove it by".into())
                })?,
                None => return Err(refuse("its tag manifest vanished".into())),
            },
            (None, None) => {
                return Err(refuse(format!(
                    "{rel} is in the replica but in neither of the bag's manifests"
                )))
            }
        };
        if !crate::archive::bag::safe_payload_path(rel) {
            return Err(refuse(format!("{rel:?} is not a path inside the bag")));
        }
        let path = bag.join(rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| ReplicaError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let io = |source| ReplicaError::Io {
            path: path.clone(),
            source,
        };
        let f = std::fs::File::create(&path).map_err(io)?;
        let mut w = HashingWriter {
            inner: std::io::BufWriter::new(f),
            hasher: Sha256::new(),
        };
        store
            .get_to(key, &mut w)?
            .ok_or_else(|| refuse(format!("{rel} vanished from the replica")))?;
        w.inner
            .into_inner()
            .map_err(|e| io(e.into_error()))?
            .sync_all()
            .map_err(io)?;
        let got: [u8; 32] = w.hasher.finalize().into();
        if got != want {
            return Err(refuse(format!(
                "the replica's {rel} has SHA-256 {}, its manifest says {}",
                crate::flac::hex(&got),
                crate::flac::hex(&want)
            )));
        }
        if rel.ends_with(".flac") {
            let check =
                crate::flac::verify::check_file(&path).map_err(|e| refuse(e.to_string()))?;
            if !check.audio.is_intact() {
                return Err(refuse(format!(
                    "the replica's {rel} does not decode cleanly ({:?}, audio MD5 {:?})",
                    check.audio.damage, check.audio.md5
                )));
            }
        }
        seen.insert(rel.to_string());
        fetched += 1;
    }
    if let Some(lost) = payload
        .keys()
        .chain(tags.keys())
        .find(|f| !seen.contains(*f))
    {
        return Err(refuse(format!("the replica's bag lacks {lost}")));
    }
    let dir = staging.commit(archive, collection, id)?;
    let mut summary = crate::catalogue::ReindexSummary::default();
    let record = crate::catalogue::item_from_bag(&dir, Path::new(&item), &mut summary)
        .map_err(|e| refuse(format!("restored, but it could not be registered: {e}")))?;
    let date_time = crate::units::now_rfc3339();
    let agent = crate::ingest::agent();
    let mut events = vec![Event {
        date_time: date_time.clone(),
        event_type: EventType::Recovery,
        item: item.clone(),
        file: None,
        outcome: Outcome::Pass,
        detail: format!(
            "bag restored from replica {name} ({}): {fetched} file(s), each proved against the bag's manifests, every FLAC decoded",
            store.location.url()
        ),
        agent: agent.clone(),
        copy: None,
    }];
    events.extend(payload.keys().map(|file| Event {
        date_time: date_time.clone(),
        event_type: EventType::FixityCheck,
        item: item.clone(),
        file: Some(file.clone()),
        outcome: Outcome::Pass,
        detail: "digest matches the manifest (restored)".into(),
        agent: agent.clone(),
        copy: None,
    }));
    crate::catalogue::record(archive, Some(&record), &events)?;
    Ok((dir, fetched))
}
