//! Pending ingestion records: an item's history is never lost.
//!
//! Before an item's bag is renamed into the archive, its ingestion events (the `ingestion` and
//! `message digest calculation` events) are written, fsynced, to
//! `ARCHIVE/.capstan/pending/<collection>__<id>.<pid>.<nanos>.json`, locked by the ingesting
//! process. Once they are in `events.jsonl` the record is removed. A process killed, or a disk
//! that filled, between the rename and the log leaves the record behind, and the next command
//! that opens the archive for writing (ingest, capture, recover, watch) or `reindex` calls
//! [`replay`]: the events of a record whose owner is gone and whose bag is in the archive
//! (the same bag: its `manifest-sha256.txt` has the digest the record names) are appended to
//! `events.jsonl` and the catalogue, except those the log already holds, so replaying twice
//! never duplicates an event. A record whose bag never arrived (the owner died before the
//! rename) is removed.
//!
//! Promise: an item in the archive always has its ingestion events in `events.jsonl`, or in a
//! pending record that the next writer appends there.

use crate::archive::confined::{self, Access, Dir, Kind};
use crate::archive::events::{self, Event, EventType};
use crate::archive::item_id::ItemId;
use crate::archive::{Archive, ArchiveError};
use crate::catalogue::{self, RecordError, ReindexSummary};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// The bag's file whose digest ties a record to the one bag it describes.
const MANIFEST: &str = "manifest-sha256.txt";

/// What a pending record holds.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    collection: String,
    id: String,
    /// SHA-256 of the bag's `manifest-sha256.txt`, hex.
    manifest_sha256: String,
    events: Vec<Event>,
}

/// `ARCHIVE/.capstan/pending`
pub fn pending_dir(archive: &Archive) -> PathBuf {
    archive.meta_dir().join("pending")
}

/// SHA-256 of a bag's `manifest-sha256.txt` (opened by the caller through the confined
/// opener), hex.
fn manifest_digest(mut f: File) -> io::Result<String> {
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes)?;
    Ok(crate::flac::hex(&Sha256::digest(&bytes)))
}

/// A record written and held by this process until its events are in the log.
#[derive(Debug)]
pub struct Pending {
    dir: Dir,
    name: OsString,
    path: PathBuf,
    _lock: File,
}

impl Pending {
    /// Where the record is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The events are in `events.jsonl`: the record goes. A failure to remove it is harmless
    /// (a replay finds every event already logged) and so is not reported.
    pub fn done(self, _archive: &Archive) {
        let _ = self.dir.remove_file(&self.name);
        let _ = self.dir.sync();
    }
}

/// Writes and fsyncs the pending record of the staged bag at `bag` (before its rename to
/// `collection/id`), and holds its lock. `.capstan/pending` is reached through the confined
/// opener, like every folder of the archive's own.
pub fn write(
    archive: &Archive,
    bag: &Path,
    collection: &str,
    id: &str,
    events: &[Event],
) -> Result<Pending, ArchiveError> {
    let dir_path = pending_dir(archive);
    let dir = archive.meta_subdir("pending")?;
    let manifest_path = bag.join(MANIFEST);
    // The staged bag is Capstan's own, in the staging folder it opened confined.
    let digest = confined::open_found(&manifest_path)
        .and_then(manifest_digest)
        .map_err(|e| ArchiveError::at(&manifest_path, e))?;
    let record = Record {
        collection: collection.into(),
        id: id.into(),
        manifest_sha256: digest,
        events: events.to_vec(),
    };
    let stem = format!(
        "{collection}__{id}.{}.{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    );
    // Written under a temporary name and renamed, so that a record is whole or absent. A
    // replay that opens the temporary file in the instant between its creation and its lock
    // asks whether its owner lives (the process number in its name) before taking it for a
    // dead owner's.
    let tmp = OsString::from(format!("{stem}.tmp"));
    let name = OsString::from(format!("{stem}.json"));
    let tmp_path = dir_path.join(&tmp);
    let path = dir_path.join(&name);
    let mut f = dir
        .open_file(Path::new(&tmp), Access::CreateNew)
        .map_err(|e| ArchiveError::at(&tmp_path, e))?;
    f.lock().map_err(|e| ArchiveError::at(&tmp_path, e))?;
    let text = serde_json::to_vec(&record).expect("records serialise");
    let written = f
        .write_all(&text)
        .and_then(|()| f.sync_all())
        .and_then(|()| dir.rename_no_replace(&tmp, &dir, &name));
    if let Err(e) = written {
        let _ = dir.remove_file(&tmp);
        return Err(ArchiveError::at(&tmp_path, e));
    }
    dir.sync().map_err(|e| ArchiveError::at(&dir_path, e))?;
    Ok(Pending {
        dir,
        name,
        path,
        _lock: f,
    })
}

/// What [`replay`] did with one record.
#[derive(Debug, Clone)]
pub struct Replayed {
    /// `collection/id`
    pub item: String,
    /// Events appended to `events.jsonl` (0: the log already held them all).
    pub appended: usize,
    /// The catalogue could not take them (they are in `events.jsonl`; reindex brings it up).
    pub catalogue_error: Option<String>,
}

/// Why the pending records could not be replayed.
#[derive(Debug, thiserror::Error)]
pub enum PendingError {
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error("the pending ingestion record {path} could not be written to events.jsonl: {source}")]
    Log { path: PathBuf, source: ArchiveError },
}

/// Item, type, date-time, file and detail of an event.
pub(crate) type Key = (String, EventType, String, Option<String>, String);

/// The key that tells one event from another for replay: an event in the log with the same
/// key is the same event.
pub(crate) fn key(e: &Event) -> Key {
    (
        e.item.clone(),
        e.event_type.clone(),
        e.date_time.clone(),
        e.file.clone(),
        e.detail.clone(),
    )
}

/// The keys of `item`'s events already in `events.jsonl` (complete lines that parse).
fn logged_keys(archive: &Archive, item: &str) -> Result<HashSet<Key>, ArchiveError> {
    logged_keys_of(archive, Some(item))
}

/// The keys of every event already in `events.jsonl`.
pub(crate) fn logged_keys_all(archive: &Archive) -> Result<HashSet<Key>, ArchiveError> {
    logged_keys_of(archive, None)
}

fn logged_keys_of(archive: &Archive, item: Option<&str>) -> Result<HashSet<Key>, ArchiveError> {
    let log = archive.meta_dir().join("events.jsonl");
    let mut bytes = Vec::new();
    match archive.open_meta_file("events.jsonl", Access::Read) {
        Ok(mut f) => {
            f.read_to_end(&mut bytes)
                .map_err(|e| ArchiveError::at(&log, e))?;
        }
        Err(ArchiveError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    Ok(bytes
        .split(|&b| b == b'\n')
        .filter_map(|line| events::parse_line(line).ok())
        .filter(|e| item.is_none_or(|i| e.item == i))
        .map(|e| key(&e))
        .collect())
}

/// Appends to the log (and the catalogue) the events of every pending record whose owner is
/// gone and whose bag is in the archive; removes records whose bag never arrived. Every file
/// is reached through the confined opener: a link or FIFO in `.capstan` refuses the archive,
/// one among the records is passed over, never followed or removed.
pub fn replay(archive: &Archive) -> Result<Vec<Replayed>, PendingError> {
    archive.check_confined()?;
    let dir_path = pending_dir(archive);
    let Some(meta) = archive.meta(false)? else {
        return Ok(Vec::new());
    };
    let dir = match meta.open_dir(Path::new("pending")) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(ArchiveError::at(&dir_path, e).into()),
    };
    let mut names: Vec<OsString> = dir
        .entries()
        .map_err(|e| ArchiveError::at(&dir_path, e))?
        .into_iter()
        .filter(|(_, kind)| *kind == Kind::File)
        .map(|(name, _)| name)
        .collect();
    names.sort();
    let root = archive.root_dir()?;
    let mut out = Vec::new();
    for name in names {
        let path = dir_path.join(&name);
        let ext = Path::new(&name).extension().and_then(|e| e.to_str());
        if !matches!(ext, Some("json" | "tmp")) {
            continue;
        }
        let mut f = match dir.open_file(Path::new(&name), Access::ReadWrite) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            // Swapped for something else since the listing: passed over, never removed.
            Err(e) if confined::refusal(&e).is_some() => continue,
            Err(e) => return Err(ArchiveError::at(&path, e).into()),
        };
        if f.try_lock().is_err() || crate::archive::owner_alive(&name, 2) {
            continue; // its owner is alive and will log the events itself
        }
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes)
            .map_err(|e| ArchiveError::at(&path, e))?;
        // A temporary record, or one that does not parse, was never whole: its owner died
        // before the rename that would have put its bag in the archive.
        let record = match ext {
            Some("json") => serde_json::from_slice::<Record>(&bytes).ok(),
            _ => None,
        };
        if let Some(record) = record {
            let rel = Path::new(&record.collection)
                .join(&record.id)
                .join(MANIFEST);
            let digest = root.open_file(&rel, Access::Read).and_then(manifest_digest);
            if digest.ok().as_deref() == Some(record.manifest_sha256.as_str()) {
                let bag = archive.item_dir(&record.collection, &record.id);
                out.push(replay_record(archive, &path, &bag, &record)?);
            }
        }
        remove_record(&dir, &name, &path)?;
        dir.sync().map_err(|e| ArchiveError::at(&dir_path, e))?;
    }
    Ok(out)
}

fn remove_record(dir: &Dir, name: &OsStr, path: &Path) -> Result<(), ArchiveError> {
    dir.remove_file(name).map_err(|e| ArchiveError::at(path, e))
}

fn replay_record(
    archive: &Archive,
    path: &Path,
    bag: &Path,
    record: &Record,
) -> Result<Replayed, PendingError> {
    let item = ItemId::known(&record.collection, &record.id).to_string();
    let logged = logged_keys(archive, &item)?;
    let missing: Vec<Event> = record
        .events
        .iter()
        .filter(|e| !logged.contains(&key(e)))
        .cloned()
        .collect();
    let mut replayed = Replayed {
        item,
        appended: missing.len(),
        catalogue_error: None,
    };
    if missing.is_empty() {
        return Ok(replayed);
    }
    let rel = Path::new(&record.collection).join(&record.id);
    let item_record = catalogue::item_from_bag(bag, &rel, &mut ReindexSummary::default()).ok();
    match catalogue::record(archive, item_record.as_ref(), &missing) {
        Ok(()) => {}
        Err(RecordError::Log(source)) => {
            return Err(PendingError::Log {
                path: path.to_path_buf(),
                source,
            })
        }
        Err(RecordError::Catalogue(e)) => replayed.catalogue_error = Some(e.to_string()),
    }
    Ok(replayed)
}

/// One line for the operator about a replayed record.
pub fn describe(r: &Replayed) -> String {
    let mut s = if r.appended > 0 {
        format!(
            "{}: its ingestion record, left pending by an ingest that stopped after the item was committed, is now in events.jsonl ({} event(s))",
            r.item, r.appended
        )
    } else {
        format!(
            "{}: its pending ingestion record was already in events.jsonl; removed",
            r.item
        )
    };
    if let Some(e) = &r.catalogue_error {
        s.push_str(&format!("; not in the catalogue: {e}"));
    }
    s
}
