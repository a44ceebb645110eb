//! The replication queue: items waiting to go to the replicas the settings mark `auto = true`.
//!
//! Ingest and capture queue their item before its bag is renamed into the archive
//! (`ARCHIVE/.capstan/replication-queue/<collection>__<id>.json`, written whole, fsynced), so a
//! crash at any point after leaves the job queued, never lost. [`drain`] replicates each queued
//! item to every `auto` replica and takes it off the queue only once every one of them holds all
//! of it, proved; a replica that cannot be reached, or refuses a file, leaves the item queued for
//! the next drain (the next ingest or capture, `capstan replicate`, the watcher). An entry
//! whose bag never arrived (the ingest died before its rename) is dropped.

use super::{ReplicaError, ReplicaSettings, RunReport};
use crate::archive::confined::{Access, Kind};
use crate::archive::{Archive, ArchiveError};
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::Path;

/// The queue's folder in `.capstan`.
pub const DIR: &str = "replication-queue";

/// One queued item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Queued {
    pub collection: String,
    pub id: String,
    /// When it was queued (RFC 3339).
    pub queued: String,
}

impl Queued {
    /// `collection/id`
    pub fn item(&self) -> String {
        format!("{}/{}", self.collection, self.id)
    }

    fn file_name(collection: &str, id: &str) -> String {
        format!("{collection}__{id}.json")
    }
}

/// The replicas that take every new item as it arrives.
pub fn auto_replicas(archive: &Archive) -> Result<Vec<ReplicaSettings>, ArchiveError> {
    Ok(crate::archive::settings::read(archive)?
        .replicas
        .into_iter()
        .filter(|r| r.auto)
        .collect())
}

/// Queues `collection/id` for the `auto` replicas, if the archive has any (`false` if none).
/// Queuing an item already queued changes nothing.
pub fn enqueue(archive: &Archive, collection: &str, id: &str) -> Result<bool, ArchiveError> {
    if auto_replicas(archive)?.is_empty() {
        return Ok(false);
    }
    let dir = archive.meta_subdir(DIR)?;
    let dir_path = archive.meta_dir().join(DIR);
    let name = OsString::from(Queued::file_name(collection, id));
    if dir
        .kind_of(Path::new(&name))
        .map_err(|e| ArchiveError::at(&dir_path, e))?
        == Some(Kind::File)
    {
        return Ok(true);
    }
    let entry = Queued {
        collection: collection.into(),
        id: id.into(),
        queued: crate::units::now_rfc3339(),
    };
    let tmp = OsString::from(format!(
        "{}.{}.tmp",
        Queued::file_name(collection, id),
        std::process::id()
    ));
    let tmp_path = dir_path.join(&tmp);
    let mut f = dir
        .open_file(Path::new(&tmp), Access::CreateNew)
        .map_err(|e| ArchiveError::at(&tmp_path, e))?;
    let written = f
        .write_all(&serde_json::to_vec(&entry).expect("an entry serialises"))
        .and_then(|()| f.sync_all())
        .and_then(|()| dir.rename_no_replace(&tmp, &dir, &name));
    match written {
        Ok(()) => {}
        // Queued meanwhile by another process: the same job.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let _ = dir.remove_file(&tmp);
        }
        Err(e) => {
            let _ = dir.remove_file(&tmp);
            return Err(ArchiveError::at(&tmp_path, e));
        }
    }
    dir.sync().map_err(|e| ArchiveError::at(&dir_path, e))?;
    Ok(true)
}

/// The queued items, oldest name first. Entries that are not whole queue files (a temporary
/// file, anything else put there) are passed over, never followed.
pub fn queued(archive: &Archive) -> Result<Vec<Queued>, ArchiveError> {
    let dir_path = archive.meta_dir().join(DIR);
    let dir = match archive.meta(false)? {
        Some(meta) => match meta.open_dir(Path::new(DIR)) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(ArchiveError::at(&dir_path, e)),
        },
        None => return Ok(Vec::new()),
    };
    let mut out = Vec::new();
    for (name, kind) in dir.entries().map_err(|e| ArchiveError::at(&dir_path, e))? {
        let Some(n) = name.to_str().filter(|n| n.ends_with(".json")) else {
            continue;
        };
        if kind != Kind::File {
            continue;
        }
        let mut text = Vec::new();
        let read = dir
            .open_file(Path::new(n), Access::Read)
            .and_then(|f| f.take(64 * 1024).read_to_end(&mut text));
        if read.is_err() {
            continue;
        }
        if let Ok(q) = serde_json::from_slice::<Queued>(&text) {
            if Queued::file_name(&q.collection, &q.id) == n {
                out.push(q);
            }
        }
    }
    out.sort_by(|a, b| (&a.queued, a.item()).cmp(&(&b.queued, b.item())));
    Ok(out)
}

fn dequeue(archive: &Archive, q: &Queued) -> Result<(), ArchiveError> {
    let dir_path = archive.meta_dir().join(DIR);
    let dir = archive.meta_subdir(DIR)?;
    match dir.remove_file(&OsString::from(Queued::file_name(&q.collection, &q.id))) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(ArchiveError::at(&dir_path, e)),
    }
    dir.sync().map_err(|e| ArchiveError::at(&dir_path, e))
}

/// What a drain did.
#[derive(Debug, Default)]
pub struct Drained {
    /// Items now held by every `auto` replica, off the queue.
    pub done: Vec<String>,
    /// Items left queued, with why.
    pub left: Vec<(String, String)>,
    /// Entries dropped because their bag never arrived.
    pub dropped: Vec<String>,
    /// Each replica's run.
    pub runs: Vec<(String, RunReport)>,
}

/// Replicates every queued item to every `auto` replica (`jobs` files at a time), taking off
/// the queue what every one of them now holds.
pub fn drain(archive: &Archive, jobs: usize) -> Result<Drained, ReplicaError> {
    let mut out = Drained::default();
    let queue = queued(archive)?;
    if queue.is_empty() {
        return Ok(out);
    }
    let replicas = auto_replicas(archive)?;
    let mut objects = Vec::new();
    let mut skipped = Vec::new();
    let mut present = Vec::new();
    // Why each item cannot leave the queue yet.
    let mut blocked: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
    for q in &queue {
        let bag = archive.root.join(&q.collection).join(&q.id);
        if !bag.join("bagit.txt").is_file() {
            dequeue(archive, q)?;
            out.dropped.push(q.item());
            continue;
        }
        let before = skipped.len();
        super::bag_objects(&bag, q.item(), &mut objects, &mut skipped)?;
        if let Some(why) = skipped.get(before) {
            blocked.insert(q.item(), why.clone());
        }
        present.push(q);
    }
    if replicas.is_empty() {
        for q in &present {
            blocked
                .entry(q.item())
                .or_insert_with(|| "no replica is marked auto = true".into());
        }
    }
    for r in &replicas {
        let run = match super::open(r) {
            Ok(store) => super::replicate(archive, &r.name, &store, &objects, jobs, &|_| {})?,
            Err(e) => RunReport {
                unreachable: Some(e.to_string()),
                ..Default::default()
            },
        };
        for q in &present {
            let item = q.item();
            if let Some(why) = &run.unreachable {
                blocked
                    .entry(item.clone())
                    .or_insert_with(|| format!("replica {}: unreachable: {why}", r.name));
            }
            let prefix = format!("{item}/");
            if let Some(f) = run
                .files
                .iter()
                .find(|f| f.path.starts_with(&prefix) && f.finding.is_problem())
            {
                blocked.entry(item).or_insert_with(|| {
                    format!(
                        "replica {}: {}: {}",
                        r.name,
                        f.path,
                        super::describe(&f.finding)
                    )
                });
            }
        }
        out.runs.push((r.name.clone(), run));
    }
    for q in present {
        match blocked.remove(&q.item()) {
            Some(why) => out.left.push((q.item(), why)),
            None => {
                dequeue(archive, q)?;
                out.done.push(q.item());
            }
        }
    }
    Ok(out)
}
