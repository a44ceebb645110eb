//! The watched archive (`capstan watch ARCHIVE`): the archive keeps proving itself intact.
//!
//! A watcher follows the archive folder with inotify (`notify`) and, after each burst of
//! changes has settled, reconciles the part of the catalogue it touched with what is on disk:
//! - a new bag is registered once it is complete and every manifest and tag manifest checks
//!   out (a bag still being copied simply fails that check and is looked at again when the next
//!   change in it settles); `.capstan/` (staging, the catalogue itself) is never looked at;
//! - a known file whose size or change time (the later of mtime and ctime) says it changed since
//!   its last check is read again, and the outcome recorded (a FLAC that changed is decoded, to
//!   tell an edited tag from damaged audio);
//! - a known file that is gone is a `move` if a new file anywhere in the reconciled part has its
//!   SHA-256 (as AVP Fixity reports Moved/Renamed), else a `deletion` (outcome fail);
//! - a file in a known bag that the catalogue does not know is reported;
//! - a known bag that lost its `bagit.txt` is still a bag (its files are checked), reported
//!   malformed, and reported again when the file is back.
//!
//! Each condition is recorded once, across restarts and `--once` runs: an unlisted file whose
//! latest event already says so, or a re-read (also by the rolling schedule) that finds the
//! failure last recorded, is not recorded again (the file's check date moves on in the
//! catalogue only); a change (a new failure, fail to pass) always is. Stray files and folders
//! anywhere in the archive are never a reason to stop.
//!
//! On start the whole archive is reconciled, so what changed while no watcher ran is reported
//! first; a file never checked since it was registered is read then. An inotify queue overflow
//! (a burst too large for the kernel's queue) means a whole reconcile again, so nothing is lost
//! to a burst. With `every`, a rolling verification reads the least recently checked files at
//! a steady rate, so that every file is read at least once per period (optionally capped in
//! bytes per second). A file that cannot be read is an outcome (fail), never the end of the
//! watcher. Every event goes to `events.jsonl` and the catalogue (`catalogue::record`); the
//! catalogue is opened per round, so `capstan reindex` never waits on a watcher for long.

use crate::archive::bag::{is_bag, survey, walk_bag, FileStamp};
use crate::archive::events::{Event, EventType, Outcome};
use crate::archive::item_id::ItemId;
use crate::archive::Archive;
use crate::catalogue::{self, Catalogue, CatalogueError, FileRow, FileStatus, RecordError};
use crate::fixity::{check_against, display_path, sha256_of, verify, Options, Quiet};
use crate::units::now_rfc3339;
use notify::Watcher as _;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How to watch.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// Rolling verification: every file read at least once per this period.
    pub every: Option<Duration>,
    /// Most bytes a second the rolling verification reads.
    pub max_rate: Option<u64>,
    /// Quiet time after a change before it is looked at (a copy in progress keeps changing).
    pub settle: Duration,
    /// Reconcile once and return (for cron, and to measure start-up).
    pub once: bool,
}

/// Why the watcher stopped before being asked to.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error(transparent)]
    Catalogue(#[from] CatalogueError),
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("cannot watch {path}: {source}")]
    Notify {
        path: PathBuf,
        source: notify::Error,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What the watcher has to say: events it recorded, and notices (not recorded: a bag still
/// arriving, a rescan) for whoever runs it.
pub enum Tell<'a> {
    Event(&'a Event),
    Notice(String),
}

fn parse_ns(rfc3339: &str) -> Option<i128> {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp_nanos())
}

fn event(
    item: &str,
    file: Option<&str>,
    kind: EventType,
    outcome: Outcome,
    detail: String,
) -> Event {
    Event {
        copy: None,
        date_time: now_rfc3339(),
        event_type: kind,
        item: item.into(),
        file: file.map(str::to_string),
        outcome,
        detail,
        agent: crate::ingest::agent(),
    }
}

/// Reads a catalogued file and says what its check found, as a `fixity check` event.
fn fixity_event(root: &Path, row: &FileRow) -> Event {
    let path = root.join(&row.bag_path).join(&row.path);
    let verdict = check_against(&path, &row.sha256, row.audio_md5.as_deref(), false);
    let (outcome, detail) = verdict.outcome();
    event(
        &row.item,
        Some(&row.path),
        EventType::FixityCheck,
        outcome,
        detail,
    )
}

/// Whether a check found the problem the file's last recorded check found already (then it is
/// not recorded again: each condition once, a change always).
fn same_problem(row: &FileRow, e: &Event) -> bool {
    e.outcome != Outcome::Pass
        && row.status == FileStatus::Present
        && row.last_outcome.as_ref() == Some(&e.outcome)
        && row.last_detail.as_deref() == Some(e.detail.as_str())
}

/// The part of the archive a change concerns: `<collection>/<item-id>` (or a collection, or
/// everything), relative to the root. None: not the archive's business (`.capstan/`).
fn scope_of(root: &Path, path: &Path) -> Option<PathBuf> {
    let rel = path.strip_prefix(root).ok()?;
    let mut parts = rel.components();
    let first = parts.next();
    if first.is_some_and(|c| c.as_os_str() == ".capstan") {
        return None;
    }
    Some(first.into_iter().chain(parts.next()).collect())
}

/// What the watcher says of a payload file in no manifest.
const UNLISTED: &str = "in the bag's payload but not in its manifest";
/// What the watcher says of a known bag without its bagit.txt (still a bag: its files are
/// checked as ever).
const NO_BAGIT: &str =
    "malformed bag: no bagit.txt (the bag lost its declaration; its files are still checked)";

/// What is wrong with a known bag's `bagit.txt`, if anything: missing, or something other
/// than a regular file in its place (a link is never followed, a FIFO never opened).
fn bagit_problem(bag: &Path) -> Option<String> {
    match bag.join("bagit.txt").symlink_metadata() {
        Ok(m) if m.is_file() => None,
        Ok(m) => {
            let found = if m.file_type().is_symlink() {
                "a symbolic link, never followed"
            } else if m.is_dir() {
                "a folder"
            } else {
                "not a regular file; not read"
            };
            Some(format!(
                "malformed bag: bagit.txt is {found} (its files are still checked)"
            ))
        }
        Err(_) => Some(NO_BAGIT.into()),
    }
}

/// Events a round keeps before recording them.
const FLUSH_EVENTS: usize = 4096;

/// A file of a bag just registered: (item, path in the bag, SHA-256).
type Arrived = (String, String, String);

/// One watcher's state across rounds.
struct Watcher<'a> {
    archive: &'a Archive,
    tell: &'a mut dyn FnMut(Tell),
    /// Bags seen but not registered (incomplete or failing), with why, to say it once.
    pending: BTreeMap<PathBuf, String>,
    /// Files outside their bag's manifest already reported this session.
    reported_unknown: HashSet<PathBuf>,
}

impl Watcher<'_> {
    /// Reconciles the catalogue with the disk under `scopes` (all of the archive if None).
    fn reconcile(&mut self, scopes: Option<&BTreeSet<PathBuf>>) -> Result<(), WatchError> {
        let root = &self.archive.root;
        let in_scope = |rel: &Path| scopes.is_none_or(|s| s.iter().any(|p| rel.starts_with(p)));
        let mut disk_bags = BTreeSet::new();
        let roots: Vec<PathBuf> = match scopes {
            None => vec![root.clone()],
            Some(s) => s.iter().map(|p| root.join(p)).collect(),
        };
        for r in roots {
            match survey(&r) {
                Ok(found) => disk_bags.extend(found.bags),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(WatchError::Io { path: r, source }),
            }
        }
        let mut cat = Catalogue::open(self.archive)?;
        let items = cat.items()?;
        let mut events = Vec::new();
        let mut gone: Vec<FileRow> = Vec::new();
        // Files on disk the catalogue does not know: (bag rel, file rel, absolute path).
        let mut unknown: Vec<(String, String, PathBuf)> = Vec::new();
        let mut known_bags = BTreeSet::new();
        for item in &items {
            let rel = PathBuf::from(&item.bag_path);
            if !in_scope(&rel) {
                continue;
            }
            known_bags.insert(root.join(&rel));
            let files = cat.files_of(&item.item)?;
            let bag = root.join(&rel);
            // Gone only when it is no bag at all: one that lost its bagit.txt still holds its
            // files (verify reports it as malformed).
            if !is_bag(&bag) {
                gone.extend(
                    files
                        .into_iter()
                        .filter(|f| f.status == FileStatus::Present),
                );
                continue;
            }
            // A bag that lost its bagit.txt (or has something else in its place): said once,
            // again when what is there changes, and once more when it is back.
            let said = cat.last_event(&item.item, None)?.filter(|e| {
                e.event_type == EventType::FixityCheck
                    && e.outcome == Outcome::Fail
                    && e.detail.starts_with("malformed bag: ")
            });
            match (bagit_problem(&bag), said) {
                (Some(found), Some(said)) if found == said.detail => {}
                (Some(found), _) => events.push(event(
                    &item.item,
                    None,
                    EventType::FixityCheck,
                    Outcome::Fail,
                    found,
                )),
                (None, Some(_)) => events.push(event(
                    &item.item,
                    None,
                    EventType::FixityCheck,
                    Outcome::Pass,
                    "bagit.txt is back".into(),
                )),
                (None, None) => {}
            }
            let walk = walk_bag(&bag.join("data"));
            // A link or a FIFO where a file was is there but not readable: always checked
            // (the check refuses to open it and says so), never called missing.
            let odd = FileStamp {
                bytes: u64::MAX,
                changed_ns: i128::MAX,
            };
            let mut disk: BTreeMap<String, FileStamp> = walk
                .files
                .into_iter()
                .chain(walk.links.into_iter().chain(walk.others).map(|p| (p, odd)))
                .map(|(p, s)| (display_path(&Path::new("data").join(p)), s))
                .collect();
            let moved_here: Vec<String> = files
                .iter()
                .filter(|f| f.status == FileStatus::Moved)
                .map(|f| f.sha256.clone())
                .collect();
            for f in files {
                match disk.remove(&f.path) {
                    None if f.status == FileStatus::Present => gone.push(f),
                    None => {}
                    Some(stamp) => {
                        let checked = f.last_checked.as_deref().and_then(parse_ns);
                        let stale = f.status != FileStatus::Present
                            || f.bytes != Some(stamp.bytes)
                            || checked.is_none_or(|t| stamp.changed_ns >= t);
                        if stale {
                            let e = fixity_event(root, &f);
                            if same_problem(&f, &e) {
                                // The condition already recorded, unchanged: not reported again
                                // (a restart, `--once` from cron). Its check date is noted so
                                // it is not read again every round.
                                cat.set_file_checked(
                                    &f.item,
                                    &f.path,
                                    &e.date_time,
                                    &e.outcome,
                                    &e.detail,
                                )?;
                            } else {
                                events.push(e);
                            }
                        }
                    }
                }
            }
            if events.len() >= FLUSH_EVENTS {
                self.flush(&mut cat, &mut events)?;
            }
            for (path, _) in disk {
                let abs = bag.join(&path);
                // Where a file reported moved went: known already, not a stranger.
                if !moved_here.is_empty()
                    && sha256_of(&abs).is_some_and(|d| moved_here.contains(&d))
                {
                    continue;
                }
                unknown.push((item.item.clone(), path, abs));
            }
        }

        // New bags: registered once complete and intact.
        let mut arrived: Vec<Arrived> = Vec::new();
        for bag in disk_bags.difference(&known_bags) {
            if let Some(registered) = self.try_register(&mut cat, bag, &mut events)? {
                arrived.extend(registered);
            }
        }

        // Gone files: moved if their digest turned up, else deleted.
        let mut unknown_sha: Vec<Option<String>> = vec![None; unknown.len()];
        if !gone.is_empty() {
            for (k, (_, _, abs)) in unknown.iter().enumerate() {
                // Only the digest: a FLAC here is not being checked, just recognised.
                unknown_sha[k] = sha256_of(abs);
            }
        }
        let mut claimed = vec![false; unknown.len()];
        // By digest, so matching stays linear however many files went and came.
        let mut by_sha: std::collections::HashMap<&str, Vec<usize>> = Default::default();
        for (k, sha) in unknown_sha.iter().enumerate() {
            if let Some(sha) = sha {
                by_sha.entry(sha.as_str()).or_default().push(k);
            }
        }
        for f in gone {
            let to = by_sha
                .get(f.sha256.as_str())
                .and_then(|ks| ks.iter().copied().find(|&k| !claimed[k]))
                .map(|k| (k, &unknown[k]))
                .map(|(k, (item, path, abs))| {
                    claimed[k] = true;
                    // Reported as where the file went; not again as a stranger in its bag.
                    self.reported_unknown.insert(abs.clone());
                    format!("{item}/{path}")
                })
                .or_else(|| {
                    arrived
                        .iter()
                        .find(|(_, _, sha)| *sha == f.sha256)
                        .map(|(item, path, _)| format!("{item}/{path}"))
                });
            events.push(match to {
                Some(to) => event(
                    &f.item,
                    Some(&f.path),
                    EventType::Move,
                    Outcome::Warning,
                    format!("moved or renamed to {to} (same SHA-256)"),
                ),
                None => event(
                    &f.item,
                    Some(&f.path),
                    EventType::Deletion,
                    Outcome::Fail,
                    "missing: no longer on disk, and its SHA-256 was found nowhere else".into(),
                ),
            });
        }
        for ((item, path, abs), claimed) in unknown.into_iter().zip(claimed) {
            if claimed || !self.reported_unknown.insert(abs) {
                continue;
            }
            // Reported by an earlier watcher (or run) already: the record says so.
            let known = cat
                .last_event(&item, Some(&path))?
                .is_some_and(|e| e.outcome == Outcome::Warning && e.detail == UNLISTED);
            if !known {
                events.push(event(
                    &item,
                    Some(&path),
                    EventType::FixityCheck,
                    Outcome::Warning,
                    UNLISTED.into(),
                ));
            }
        }
        self.flush(&mut cat, &mut events)?;
        Ok(())
    }

    /// Records and tells what a round has found so far (so a round's memory stays bounded
    /// however many files it checks).
    fn flush(&mut self, cat: &mut Catalogue, events: &mut Vec<Event>) -> Result<(), WatchError> {
        if !events.is_empty() {
            cat.record(events)?;
        }
        for e in events.drain(..) {
            (self.tell)(Tell::Event(&e));
        }
        Ok(())
    }

    /// Registers a bag found on disk if it verifies; its files are returned as
    /// (item, path, sha256) for move matching. Ok(None): not (yet) registrable.
    fn try_register(
        &mut self,
        cat: &mut Catalogue,
        bag: &Path,
        events: &mut Vec<Event>,
    ) -> Result<Option<Vec<Arrived>>, WatchError> {
        let root = &self.archive.root;
        let Ok(rel) = bag.strip_prefix(root) else {
            return Ok(None);
        };
        let jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
        let report = match verify(
            &[bag.to_path_buf()],
            Options {
                deep: false,
                jobs,
                shard: None,
            },
            &Quiet,
        ) {
            Ok(r) => r,
            Err(e) => {
                self.notice_pending(rel, e.to_string());
                return Ok(None);
            }
        };
        if !report.passed() {
            let why = report
                .problems
                .iter()
                .take(3)
                .map(|p| format!("{}: {}", p.kind.words(), p.path))
                .collect::<Vec<_>>()
                .join("; ");
            self.notice_pending(
                rel,
                format!(
                    "not registered yet ({} problem(s): {why}); looked at again when it changes",
                    report.problems.len()
                ),
            );
            return Ok(None);
        }
        let mut skipped = Default::default();
        let record = match catalogue::item_from_bag(bag, rel, &mut skipped) {
            Ok(r) => r,
            Err(why) => {
                self.notice_pending(rel, format!("verifies, but is not indexed: {why}"));
                return Ok(None);
            }
        };
        self.pending.remove(rel);
        cat.register_item(&record)?;
        let item = ItemId::known(&record.collection, &record.id).to_string();
        events.push(event(
            &item,
            None,
            EventType::FixityCheck,
            Outcome::Pass,
            format!(
                "bag registered by the watcher: {} file(s), {} bytes, every manifest and tag manifest checks out",
                report.summary.files, report.summary.bytes
            ),
        ));
        let mut files = Vec::new();
        for f in &record.files {
            events.push(event(
                &item,
                Some(&f.path),
                EventType::FixityCheck,
                Outcome::Pass,
                "SHA-256 matches the bag's manifest".into(),
            ));
            files.push((item.clone(), f.path.clone(), f.sha256.clone()));
        }
        Ok(Some(files))
    }

    fn notice_pending(&mut self, rel: &Path, why: String) {
        if self.pending.get(rel) != Some(&why) {
            (self.tell)(Tell::Notice(format!("{}: {why}", display_path(rel))));
            self.pending.insert(rel.to_path_buf(), why);
        }
    }

    /// Reads the least recently checked file if it is due; returns when the next one is.
    fn rolling_check(
        &mut self,
        every: Duration,
        max_rate: Option<u64>,
    ) -> Result<Duration, WatchError> {
        let cat = Catalogue::open(self.archive)?;
        let Some(row) = cat.least_recently_checked(1)?.into_iter().next() else {
            return Ok(every.min(Duration::from_secs(60)));
        };
        let report = cat.report()?;
        drop(cat);
        let started = Instant::now();
        let e = fixity_event(&self.archive.root, &row);
        if same_problem(&row, &e) {
            // Already recorded: only its check date moves on, so the schedule goes round.
            Catalogue::open(self.archive)?.set_file_checked(
                &row.item,
                &row.path,
                &e.date_time,
                &e.outcome,
                &e.detail,
            )?;
        } else {
            catalogue::record(self.archive, None, std::slice::from_ref(&e))?;
            (self.tell)(Tell::Event(&e));
        }
        // Spread evenly: this file's share of the period, by bytes (by count for empty files).
        let (total, files) = (report.summary.bytes.max(1), report.summary.files.max(1));
        let bytes = row.bytes.unwrap_or(0);
        let share = if report.summary.bytes > 0 {
            bytes as f64 / total as f64
        } else {
            1.0 / files as f64
        };
        let mut wait = every.mul_f64(share);
        if let Some(cap) = max_rate.filter(|&c| c > 0) {
            wait = wait.max(Duration::from_secs_f64(bytes as f64 / cap as f64));
        }
        Ok(wait.saturating_sub(started.elapsed()))
    }
}

/// Watches `archive` until `stop` is set (or, with `once`, reconciles once).
pub fn watch(
    archive: &Archive,
    opts: &WatchOptions,
    stop: &AtomicBool,
    tell: &mut dyn FnMut(Tell),
) -> Result<(), WatchError> {
    // inotify reports absolute paths: compare them with an absolute root.
    let root = std::fs::canonicalize(&archive.root).map_err(|source| WatchError::Io {
        path: archive.root.clone(),
        source,
    })?;
    let archive = &Archive::new(root.clone());
    // Ingestion records left pending by a crash at a commit go into the log first.
    match crate::pending::replay(archive) {
        Ok(list) => list
            .iter()
            .for_each(|r| tell(Tell::Notice(crate::pending::describe(r)))),
        Err(e) => tell(Tell::Notice(e.to_string())),
    }
    // Watching starts before the first reconcile, so a change made during it is not missed.
    let (tx, rx) = mpsc::channel();
    let mut notifier = notify::recommended_watcher(move |res| {
        let _ = tx.send(res);
    })
    .map_err(|source| WatchError::Notify {
        path: root.clone(),
        source,
    })?;
    if !opts.once {
        notifier
            .watch(&root, notify::RecursiveMode::Recursive)
            .map_err(|source| WatchError::Notify {
                path: root.clone(),
                source,
            })?;
    }
    // An archive made by other tools (or whose catalogue was lost) is indexed first: the
    // watcher is how such an archive comes under Capstan's care.
    if let Err(CatalogueError::Missing { .. }) = Catalogue::open(archive) {
        tell(Tell::Notice(
            "no catalogue yet: building it from the bags (capstan reindex)".into(),
        ));
        let summary = catalogue::reindex(archive)?;
        tell(Tell::Notice(format!(
            "indexed {} item(s), {} file(s), {} event(s)",
            summary.items, summary.files, summary.events
        )));
    }
    let mut w = Watcher {
        archive,
        tell,
        pending: BTreeMap::new(),
        reported_unknown: HashSet::new(),
    };
    w.reconcile(None)?;
    if opts.once {
        return Ok(());
    }
    let mut dirty: BTreeSet<PathBuf> = BTreeSet::new();
    let mut everything = false;
    let mut last_change = Instant::now();
    let mut next_rolling = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        match rx.recv_timeout(Duration::from_millis(100)) {
            // Reads (the watcher's own among them) change nothing; a close after writing does.
            Ok(Ok(ev))
                if matches!(ev.kind, notify::EventKind::Access(a)
                    if a != notify::event::AccessKind::Close(notify::event::AccessMode::Write)) => {
            }
            Ok(Ok(ev)) => {
                if ev.need_rescan() {
                    everything = true;
                }
                for p in &ev.paths {
                    match scope_of(&root, p) {
                        Some(s) if s.as_os_str().is_empty() => everything = true,
                        Some(s) => {
                            dirty.insert(s);
                        }
                        None => continue,
                    }
                    last_change = Instant::now();
                }
            }
            Ok(Err(e)) => {
                // The kernel's queue overflowed or a watch failed: look at everything again.
                (w.tell)(Tell::Notice(format!(
                    "watch error ({e}); reconciling the whole archive"
                )));
                everything = true;
                last_change = Instant::now();
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if (everything || !dirty.is_empty()) && last_change.elapsed() >= opts.settle {
            // Drain what queued meanwhile into this round.
            while let Ok(Ok(ev)) = rx.try_recv() {
                everything |= ev.need_rescan();
                dirty.extend(ev.paths.iter().filter_map(|p| scope_of(&root, p)));
            }
            if everything || dirty.iter().any(|s| s.as_os_str().is_empty()) {
                w.reconcile(None)?;
            } else {
                w.reconcile(Some(&dirty))?;
            }
            dirty.clear();
            everything = false;
        }
        if let Some(every) = opts.every {
            if Instant::now() >= next_rolling && dirty.is_empty() {
                next_rolling = Instant::now() + w.rolling_check(every, opts.max_rate)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_scoped_to_their_bag_and_staging_is_ignored() {
        let root = Path::new("/a");
        assert_eq!(
            scope_of(root, Path::new("/a/c/i/data/x.flac")),
            Some(PathBuf::from("c/i"))
        );
        assert_eq!(scope_of(root, Path::new("/a/c")), Some(PathBuf::from("c")));
        assert_eq!(scope_of(root, Path::new("/a")), Some(PathBuf::new()));
        assert_eq!(scope_of(root, Path::new("/a/.capstan/staging/x")), None);
        assert_eq!(scope_of(root, Path::new("/elsewhere")), None);
    }
}
