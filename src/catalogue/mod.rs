//! The catalogue: an SQLite index of the archive at `ARCHIVE/.capstan/catalogue.sqlite`.
//!
//! The archive is the truth; the catalogue is an index of it, so that the history of an item,
//! the files due for a fixity check or the file a moved digest belongs to are found without
//! reading every bag. Anything in it can be rebuilt from the bags and `events.jsonl` by
//! [`reindex`], and nothing is recorded here that is not also in the archive.
//!
//! Tables (schema version [`SCHEMA_VERSION`] in `PRAGMA user_version`, `PRAGMA application_id`
//! [`APPLICATION_ID`]):
//! - `items`: one row per bag at `<collection>/<item-id>`: collection, item id, bag path
//!   relative to the archive root, profile (`Capstan-Profile`), `Bagging-Date`, `Payload-Oxum`,
//!   seconds of audio (from the QC report: the takes' frames over their sample rate), why it
//!   needs a listen (from the QC report: a captured take that lost samples, ended on a failure
//!   or was recovered; NULL when none did), and when it was registered. Unique on (collection,
//!   item id). A version 1 catalogue gains the `needs_listen` column, filled from the bags'
//!   QC reports, the first time it is opened; a version 2 catalogue gains `files.audio_md5`
//!   likewise.
//! - `files`: one row per payload file (from the SHA-256 manifest): its item, path relative to
//!   the bag (`data/x_pm.flac`), bytes (NULL when the file was not there to measure), SHA-256,
//!   status (`present`, `missing`, `moved`), and the last fixity check (date-time, outcome,
//!   detail), and for a FLAC the audio MD5 recorded at ingest (from the QC report: what
//!   `verify` compares the master's STREAMINFO with, so a master replaced by another valid FLAC
//!   is found; NULL when unknown). Indexed on the digest (moved files are matched by it) and on the last check (the
//!   rolling schedule takes the least recently checked first).
//! - `events`: every PREMIS event in the order recorded (`seq`): date-time, type, item
//!   (`collection/id`), file, outcome, detail, agent. Indexed on item and file. A `fixity
//!   check` of a file sets that file's last check and marks it present; a `move` marks it moved, a `deletion` missing,
//!   so replaying the events (as [`reindex`] does) gives the same file states as recording
//!   them, except that a file found in its place in the bag counts as present.
//!
//! Promises:
//! - Events are recorded by [`Catalogue::record`] or [`record`]: the line goes to `events.jsonl`
//!   first (the archive's own record), then into the catalogue; a catalogue that cannot be
//!   written never loses an event from the archive.
//! - Many processes may use the catalogue at once: WAL, a 10 s busy timeout, and every write one
//!   short `BEGIN IMMEDIATE` transaction. Each open catalogue holds a shared lock on
//!   `.capstan/catalogue.lock`, which [`reindex`] takes exclusively only for the moment it swaps
//!   the rebuilt file in; long-lived users (the watcher) should drop their handle between rounds.
//! - [`Catalogue::open_read_only`] never writes the database, makes no folder or lock file and
//!   upgrades nothing on read-only media (`immutable` there); on writable media SQLite may
//!   keep its WAL index (`-shm`, `-wal`) beside it, as any reader does. For `report`, `verify`.
//! - A damaged catalogue (garbage, truncated, not Capstan's) is reported as
//!   [`CatalogueError::Corrupt`], never silently recreated, and a missing one in an archive that
//!   already holds items as [`CatalogueError::Missing`]; both say to run `capstan reindex`.

mod copy;
pub(crate) mod db;
mod pg;
mod query;
mod record;
mod reindex;
mod schema;
#[cfg(test)]
pub(crate) mod test_pg;
#[cfg(test)]
mod tests;

pub use copy::{copy, CopySummary, Destination};
use db::{insert_rows, tuples, vals, Conn, DbError, Row, Value};
pub use pg::{check_schema_name, schema_for, CatalogueSettings};
pub use record::record;
pub use reindex::{
    item_from_bag, item_record, needs_listen, qc_needs_listen, reindex, ReindexSummary,
};
pub use schema::{APPLICATION_ID, SCHEMA_VERSION};
// The parts see each other's helpers through this module.
use query::*;
use record::*;
use reindex::*;
use schema::*;

use crate::archive::bag::{
    find_bags, info_field, manifest_files, parse_bag_info, parse_manifest, safe_payload_path,
};
use crate::archive::events::{self, Event, Outcome};
use crate::archive::{Archive, ArchiveError};
use crate::report::QcReport;
use crate::units::now_rfc3339;
use rusqlite::{Connection, ErrorCode, OpenFlags};
use serde::Serialize;
use std::fs::File;
use std::io::{self, Read, Seek};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a writer waits for another writer before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the catalogue could not be used. Each names the database; the item is safe in the
/// archive in every case.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("catalogue {path} is damaged ({detail}); it is only an index and the bags are untouched: run `capstan reindex` to rebuild it from the archive")]
    Corrupt { path: PathBuf, detail: String },
    #[error("catalogue {path} is missing but the archive holds items; run `capstan reindex` to rebuild it from the bags")]
    Missing { path: PathBuf },
    #[error("catalogue {path} has schema version {found}, newer than this capstan's {expected}; use a newer capstan, or run `capstan reindex` to rebuild it for this one")]
    NewerSchema {
        path: PathBuf,
        found: i64,
        expected: i64,
    },
    #[error("catalogue {path} stayed busy for more than {}s (another capstan process is writing); try again", BUSY_TIMEOUT.as_secs())]
    Busy { path: PathBuf },
    #[error("no archive at {path}")]
    NoArchive { path: PathBuf },
    #[error("catalogue {path}: another `capstan reindex` is running")]
    ReindexRunning { path: PathBuf },
    #[error("catalogue {path}: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("catalogue {path}: {detail}")]
    Postgres { path: PathBuf, detail: String },
    #[error("catalogue {path} cannot be reached ({detail}); the archive itself is untouched: try again when the database answers")]
    Unreachable { path: PathBuf, detail: String },
    /// The archive's settings (`archive.toml`) cannot be read.
    #[error(transparent)]
    Settings(ArchiveError),
    #[error("catalogue {path}: {file}: {source}")]
    Io {
        path: PathBuf,
        file: PathBuf,
        source: io::Error,
    },
    /// The archive's own folders or files are not what Capstan made (a link, a FIFO, ...).
    #[error(transparent)]
    Confined(ArchiveError),
    #[error("catalogue {path}: item {name} is ambiguous: {}", .candidates.join(", "))]
    Ambiguous {
        path: PathBuf,
        name: String,
        candidates: Vec<String>,
    },
}

impl CatalogueError {
    /// Whether the message already tells the operator to run `capstan reindex`.
    pub fn advises_reindex(&self) -> bool {
        matches!(
            self,
            CatalogueError::Corrupt { .. }
                | CatalogueError::Missing { .. }
                | CatalogueError::NewerSchema { .. }
        )
    }
}

/// Why events could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Not even the archive's own log took them: nothing was recorded.
    #[error("events not recorded: {0}")]
    Log(#[from] ArchiveError),
    /// `events.jsonl` holds them; the catalogue does not (until `capstan reindex`).
    #[error("events are in events.jsonl but not in the catalogue: {0}")]
    Catalogue(#[from] CatalogueError),
}

/// A payload file's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
pub enum FileStatus {
    Present,
    Missing,
    Moved,
}

impl FileStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FileStatus::Present => "present",
            FileStatus::Missing => "missing",
            FileStatus::Moved => "moved",
        }
    }

    fn parse(s: &str) -> FileStatus {
        match s {
            "missing" => FileStatus::Missing,
            "moved" => FileStatus::Moved,
            _ => FileStatus::Present,
        }
    }
}

/// An item the archive should hold (see [`Catalogue::known_items`]).
#[derive(Debug, Clone)]
pub struct KnownItem {
    /// `collection/id`
    pub item: String,
    /// Relative to the archive root.
    pub bag_path: String,
    /// Its payload files (relative to the bag) with the audio MD5 recorded at ingest, if any.
    pub files: Vec<(String, Option<String>)>,
}

/// Whether `dir` is on a file system mounted read-only.
fn read_only_fs(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: a valid C string and a zeroed statvfs for the call to fill.
    unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        libc::statvfs(c.as_ptr(), &mut st) == 0 && st.f_flag & libc::ST_RDONLY != 0
    }
}

/// A path as an SQLite URI path: every byte but unreserved ones and `/` percent-encoded.
fn uri_path(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut out = String::new();
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An item to register: what its bag says, and its payload files.
#[derive(Debug, Clone)]
pub struct ItemRecord {
    pub collection: String,
    pub id: String,
    /// The bag, relative to the archive root (`collection/id`).
    pub bag_path: String,
    pub profile: Option<String>,
    pub bagging_date: Option<String>,
    /// As in bag-info, `octets.streams`.
    pub payload_oxum: Option<String>,
    /// Seconds of audio (over the takes), when known.
    pub audio_seconds: Option<f64>,
    /// Why the item needs a listen (see [`needs_listen`]), if it does.
    pub needs_listen: Option<String>,
    pub files: Vec<FileRecord>,
}

/// A payload file to register.
#[derive(Debug, Clone)]
pub struct FileRecord {
    /// Relative to the bag: `data/x_pm.flac`.
    pub path: String,
    /// None when the file was not there to measure.
    pub bytes: Option<u64>,
    /// Lower-case hex.
    pub sha256: String,
    pub status: FileStatus,
    /// A FLAC's audio MD5 as recorded at ingest (the QC report's), lower-case hex.
    pub audio_md5: Option<String>,
}

/// A payload file as the catalogue knows it.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct FileRow {
    /// `collection/id`
    pub item: String,
    /// The bag, relative to the archive root.
    pub bag_path: String,
    /// Relative to the bag.
    pub path: String,
    pub bytes: Option<u64>,
    pub sha256: String,
    pub status: FileStatus,
    pub last_checked: Option<String>,
    pub last_outcome: Option<Outcome>,
    pub last_detail: Option<String>,
    /// A FLAC's audio MD5 as recorded at ingest, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub audio_md5: Option<String>,
}

/// An item as the catalogue knows it, with what `capstan report` shows.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct ItemSummary {
    /// `collection/id`
    pub item: String,
    pub bag_path: String,
    pub profile: Option<String>,
    pub bagging_date: Option<String>,
    pub files: u64,
    /// Sum of the files' bytes (those that could be measured).
    pub bytes: u64,
    pub audio_seconds: Option<f64>,
    /// Why the item needs a listen before anyone relies on it (see [`needs_listen`]).
    pub needs_listen: Option<String>,
    /// The latest `fixity check` event of the item or any of its files.
    pub last_verification: Option<Verification>,
    /// The latest `fixity check` of the bag itself (no file), when it failed: a problem with
    /// the bag rather than one file (a lost bagit.txt, a gone item, a damaged tag manifest),
    /// open until a later check of the bag passes.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub bag_failed: Option<Verification>,
    /// Files that are not `present`, or whose last check failed.
    pub problems: Vec<FileRow>,
}

impl ItemSummary {
    /// Open problems: its problem files, or its last verification if that failed (a problem
    /// with the bag rather than one file, such as a damaged tag manifest).
    pub fn open_problems(&self) -> usize {
        let failed = self
            .last_verification
            .as_ref()
            .is_some_and(|v| v.outcome == Outcome::Fail)
            || self.bag_failed.is_some();
        self.problems.len().max(usize::from(failed))
    }
}

/// The archive at a glance: `capstan report`.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct ArchiveReport {
    pub summary: ReportSummary,
    pub items: Vec<ItemSummary>,
}

#[derive(Debug, Clone, Default, Serialize, ts_rs::TS)]
pub struct ReportSummary {
    pub items: u64,
    pub files: u64,
    pub bytes: u64,
    /// Over the items whose duration is known.
    pub audio_seconds: f64,
    pub audio_hours: f64,
    /// Items whose QC report gave no duration.
    pub items_without_duration: u64,
    pub never_verified: u64,
    pub open_problems: u64,
    /// Items whose QC report says they need a listen.
    pub needs_listen: u64,
}

/// A fixity check's date and outcome.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct Verification {
    pub date_time: String,
    pub outcome: Outcome,
    pub detail: String,
}

/// `ARCHIVE/.capstan/catalogue.sqlite`
pub fn catalogue_path(archive: &Archive) -> PathBuf {
    archive.meta_dir().join("catalogue.sqlite")
}

fn lock_path(archive: &Archive) -> PathBuf {
    archive.meta_dir().join("catalogue.lock")
}

/// An open catalogue. Holds a shared lock on `catalogue.lock` while it lives.
pub struct Catalogue {
    conn: Conn,
    path: PathBuf,
    archive: Archive,
    _lock: Option<File>,
}

impl std::fmt::Debug for Catalogue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalogue")
            .field("path", &self.path)
            .finish()
    }
}

impl Catalogue {
    /// Opens the archive's catalogue, creating it if the archive holds nothing yet.
    pub fn open(archive: &Archive) -> Result<Catalogue, CatalogueError> {
        let path = catalogue_path(archive);
        let io_err = |file: &Path| {
            let (path, file) = (path.clone(), file.to_path_buf());
            move |source| CatalogueError::Io { path, file, source }
        };
        if !archive.root.is_dir() {
            return Err(CatalogueError::NoArchive {
                path: archive.root.clone(),
            });
        }
        // The catalogue's files are opened by path (SQLite), so first the folder they are in
        // and each of them is held to what Capstan made: no link, no FIFO, no folder.
        archive.check_confined().map_err(CatalogueError::Confined)?;
        let meta = archive.meta_dir();
        std::fs::create_dir_all(&meta).map_err(io_err(&meta))?;
        let lock_file = lock_path(archive);
        let lock = open_lock(&lock_file).map_err(io_err(&lock_file))?;
        lock.lock_shared().map_err(io_err(&lock_file))?;
        if let Some(pg) = backend(archive)? {
            let mut cat = Catalogue::open_pg(archive, &pg, &pg.schema, pg::Absent::CreateIfEmpty)?;
            cat._lock = Some(lock);
            return Ok(cat);
        }
        let usable = |p: &Path| p.symlink_metadata().is_ok_and(|m| m.len() > 0);
        let mut create = false;
        if !usable(&path) {
            // Creating (or calling an empty file damaged) is decided by one process at a time,
            // so two first ingests never take each other's new file for a truncated one.
            lock.lock().map_err(io_err(&lock_file))?;
            match path.symlink_metadata() {
                Ok(m) if m.len() > 0 => {}
                Ok(_) => {
                    return Err(CatalogueError::Corrupt {
                        path,
                        detail: "the file is empty".into(),
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    if archive_holds_items(archive).map_err(io_err(&archive.root))? {
                        return Err(CatalogueError::Missing { path });
                    }
                    create = true;
                }
                Err(e) => return Err(io_err(&path)(e)),
            }
        }
        let mut cat = Catalogue::open_at(&path, archive, create)?;
        // Back to shared (a conversion: flock(2) never leaves the file unlocked in between).
        lock.lock_shared().map_err(io_err(&lock_file))?;
        cat._lock = Some(lock);
        Ok(cat)
    }

    /// Opens the archive's catalogue for reading only: the database is never written and no
    /// folder or lock file is made, so it serves a read-only copy of an archive (a mounted
    /// backup). An older schema on writable media is upgraded in place, as any first open does. On a read-only file system SQLite is told the file is
    /// immutable (it could not keep its WAL index there). An archive that holds nothing and has
    /// no catalogue reads as empty.
    pub fn open_read_only(archive: &Archive) -> Result<Catalogue, CatalogueError> {
        let path = catalogue_path(archive);
        if !archive.root.is_dir() {
            return Err(CatalogueError::NoArchive {
                path: archive.root.clone(),
            });
        }
        // As `open`: SQLite and the lock are opened by path, so their kinds are checked first.
        archive.check_confined().map_err(CatalogueError::Confined)?;
        if let Some(pg) = backend(archive)? {
            let mut cat = Catalogue::open_pg(archive, &pg, &pg.schema, pg::Absent::ReadOnly)?;
            cat._lock = File::open(lock_path(archive)).ok();
            if let Some(l) = &cat._lock {
                let _ = l.lock_shared();
            }
            return Ok(cat);
        }
        let owned = path.clone();
        let sql = sql_err(&owned);
        let exists = path.symlink_metadata().is_ok();
        if !exists {
            let holds = archive_holds_items(archive).map_err(|source| CatalogueError::Io {
                path: path.clone(),
                file: archive.root.clone(),
                source,
            })?;
            if holds {
                return Err(CatalogueError::Missing { path: path.clone() });
            }
            return Catalogue::empty(path.clone(), archive);
        }
        // A lock file that is there is shared, so a reindex does not swap the file mid-read;
        // none is made.
        let lock = File::open(lock_path(archive)).ok();
        if let Some(l) = &lock {
            let _ = l.lock_shared();
        }
        check_header(&path)?;
        let uri = format!(
            "file:{}?{}",
            uri_path(&path),
            if read_only_fs(&archive.meta_dir()) {
                "immutable=1"
            } else {
                "mode=ro"
            }
        );
        let conn = Connection::open_with_flags(
            &uri,
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_URI
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| sql(e.into()))?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| sql(e.into()))?;
        let cat = Catalogue {
            conn: Conn::Sqlite(conn),
            path: path.clone(),
            archive: archive.clone(),
            _lock: lock,
        };
        let (version, app) = cat.versions()?;
        if app != APPLICATION_ID || version == 0 {
            return Err(CatalogueError::Corrupt {
                path: path.clone(),
                detail: "an SQLite database, but not a Capstan catalogue".into(),
            });
        }
        if version > SCHEMA_VERSION {
            return Err(CatalogueError::NewerSchema {
                path: path.clone(),
                found: version,
                expected: SCHEMA_VERSION,
            });
        }
        if version < SCHEMA_VERSION && !read_only_fs(&archive.meta_dir()) {
            // Older, on writable media: upgraded in place, as any first open does.
            drop(cat);
            return Catalogue::open(archive);
        }
        if version < SCHEMA_VERSION {
            return Err(CatalogueError::Corrupt {
                path: path.clone(),
                detail: format!(
                    "schema version {version}, older than this capstan's {SCHEMA_VERSION}, and it is opened read-only so it cannot be upgraded in place; open the archive writable once"
                ),
            });
        }
        for table in ["items", "files", "events"] {
            cat.conn
                .query_one(
                    &format!("SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT 1) t"),
                    &[],
                )
                .map_err(&sql)?;
        }
        Ok(cat)
    }

    fn open_at(path: &Path, archive: &Archive, create: bool) -> Result<Catalogue, CatalogueError> {
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if create {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        let sql = sql_err(path);
        let conn = Connection::open_with_flags(path, flags).map_err(|e| sql(e.into()))?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| sql(e.into()))?;
        // Enough for every statement the catalogue runs, each prepared once.
        conn.set_prepared_statement_cache_capacity(64);
        let cat = Catalogue {
            conn: Conn::Sqlite(conn),
            path: path.to_path_buf(),
            archive: archive.clone(),
            _lock: None,
        };
        check_header(path)?;
        // The first statement reads the header: a file that is not SQLite fails here.
        let conn = cat.conn.sqlite().expect("opened on SQLite");
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0))
            .map_err(|e| sql(e.into()))?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| sql(e.into()))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(|e| sql(e.into()))?;
        let (version, app) = cat.versions()?;
        if version == 0 || app != APPLICATION_ID {
            cat.create_schema()?;
        } else if version > SCHEMA_VERSION {
            return Err(CatalogueError::NewerSchema {
                path: path.to_path_buf(),
                found: version,
                expected: SCHEMA_VERSION,
            });
        } else {
            cat.migrate(version)?;
        }
        // Touches every table's root page: a truncated file fails now, not halfway through.
        for table in ["items", "files", "events"] {
            cat.conn
                .query_one(
                    &format!("SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT 1) t"),
                    &[],
                )
                .map_err(&sql)?;
        }
        Ok(cat)
    }

    /// An empty catalogue in memory, for reading an archive that holds nothing yet without
    /// making one; `path` names where it would be.
    fn empty(path: PathBuf, archive: &Archive) -> Result<Catalogue, CatalogueError> {
        let conn = Connection::open_in_memory()
            .and_then(|c| c.execute_batch(SCHEMA).map(|()| c))
            .map_err(|e| sql_err(&path)(e.into()))?;
        Ok(Catalogue {
            conn: Conn::Sqlite(conn),
            path,
            archive: archive.clone(),
            _lock: None,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the catalogue is, the database file or the PostgreSQL URL and schema, to be
    /// shown to the operator.
    pub fn location(&self) -> String {
        self.path.display().to_string()
    }

    /// Whether it is on PostgreSQL.
    pub fn is_shared(&self) -> bool {
        self.conn.is_postgres()
    }

    fn write<T>(
        &mut self,
        f: impl FnOnce(&Conn) -> Result<T, DbError>,
    ) -> Result<T, CatalogueError> {
        let sql = sql_err(&self.path);
        let tx = self.conn.transaction().map_err(&sql)?;
        let out = f(&tx).map_err(&sql)?;
        tx.commit().map_err(&sql)?;
        Ok(out)
    }
}

pub(super) fn open_lock(path: &Path) -> io::Result<File> {
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .or_else(|e| {
            // A read-only archive (a mounted copy) can still be read under a lock on a file
            // that exists.
            if e.kind() == io::ErrorKind::PermissionDenied || e.raw_os_error() == Some(libc::EROFS)
            {
                File::open(path)
            } else {
                Err(e)
            }
        })
}

/// The archive's `.capstan`, made if missing, once the archive is found to be there and
/// confined (the log, the catalogue's files and its locks are opened by path). `path` names the
/// catalogue in errors.
pub(super) fn meta_dir_of(archive: &Archive, path: &Path) -> Result<PathBuf, CatalogueError> {
    if !archive.root.is_dir() {
        return Err(CatalogueError::NoArchive {
            path: archive.root.clone(),
        });
    }
    archive.check_confined().map_err(CatalogueError::Confined)?;
    let meta = archive.meta_dir();
    std::fs::create_dir_all(&meta).map_err(|source| CatalogueError::Io {
        path: path.to_path_buf(),
        file: meta.clone(),
        source,
    })?;
    Ok(meta)
}

/// Removes `base` followed by each suffix, where there is one (a crashed build's leftovers, an
/// old file's WAL). `path` names the catalogue in errors.
pub(super) fn remove_sqlite_files(
    base: &Path,
    suffixes: &[&str],
    path: &Path,
) -> Result<(), CatalogueError> {
    for suffix in suffixes {
        let p = PathBuf::from(format!("{}{suffix}", base.display()));
        match std::fs::remove_file(&p) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(CatalogueError::Io {
                    path: path.to_path_buf(),
                    file: p,
                    source: e,
                })
            }
            _ => {}
        }
    }
    Ok(())
}

/// Puts an SQLite catalogue built at `built` (by a reindex or a copy) in the place of `path`,
/// durably: closed (which checkpoints its WAL into the file and removes it), synced, the old
/// file's WAL index removed, renamed over it, the folder synced.
pub(super) fn put_in_place(
    cat: Catalogue,
    built: &Path,
    path: &Path,
) -> Result<(), CatalogueError> {
    let io_err = |file: &Path| {
        let (path, file) = (path.to_path_buf(), file.to_path_buf());
        move |source| CatalogueError::Io { path, file, source }
    };
    let Catalogue { conn, .. } = cat;
    if let Conn::Sqlite(conn) = conn {
        conn.close().map_err(|(_, e)| sql_err(built)(e.into()))?;
    }
    File::open(built)
        .and_then(|f| f.sync_all())
        .map_err(io_err(built))?;
    remove_sqlite_files(path, &["-wal", "-shm"], path)?;
    std::fs::rename(built, path).map_err(io_err(path))?;
    let folder = path.parent().unwrap_or(Path::new("."));
    File::open(folder)
        .and_then(|d| d.sync_all())
        .map_err(io_err(folder))
}

/// Whether the archive has anything in it: an event log, or any folder besides `.capstan`.
pub(super) fn archive_holds_items(archive: &Archive) -> io::Result<bool> {
    if archive
        .meta_dir()
        .join("events.jsonl")
        .symlink_metadata()
        .is_ok()
    {
        return Ok(true);
    }
    for entry in std::fs::read_dir(&archive.root)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() && entry.file_name() != ".capstan" {
            return Ok(true);
        }
    }
    Ok(false)
}

/// A file that exists must start like an SQLite database: SQLite reads a short file as an empty
/// database and would otherwise quietly start a new catalogue over a damaged one.
pub(super) fn check_header(path: &Path) -> Result<(), CatalogueError> {
    let mut head = [0u8; 100];
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(CatalogueError::Io {
                path: path.to_path_buf(),
                file: path.to_path_buf(),
                source,
            })
        }
    };
    let len = f.seek(io::SeekFrom::End(0)).unwrap_or(0);
    if len == 0 {
        return Ok(()); // new: created by this open, under the exclusive lock
    }
    let _ = f.seek(io::SeekFrom::Start(0));
    let n = f.read(&mut head).unwrap_or(0);
    let corrupt = |detail: &str| {
        Err(CatalogueError::Corrupt {
            path: path.to_path_buf(),
            detail: detail.into(),
        })
    };
    if n < 100 {
        return corrupt("shorter than an SQLite header: truncated");
    }
    if &head[..16] != b"SQLite format 3\0" {
        return corrupt("not an SQLite database");
    }
    // Bytes 16-17: page size (1 means 65536). A database is whole pages.
    let page = match u16::from_be_bytes([head[16], head[17]]) {
        1 => 65_536,
        p => u64::from(p),
    };
    if page < 512 || !page.is_power_of_two() || len % page != 0 {
        return corrupt("not a whole number of pages: truncated");
    }
    // Bytes 28-31: the size in pages, valid when the change counter (24-27) equals bytes
    // 92-95. Only without a WAL: a checkpoint cut short may leave the file shorter, and SQLite
    // completes it from the WAL.
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    let wal_empty = wal.symlink_metadata().map_or(true, |m| m.len() == 0);
    let pages = u64::from(u32::from_be_bytes([head[28], head[29], head[30], head[31]]));
    if wal_empty && head[24..28] == head[92..96] && pages > 0 && pages * page > len {
        return corrupt(&format!(
            "{len} bytes where its header says {}: truncated",
            pages * page
        ));
    }
    Ok(())
}

/// The PostgreSQL catalogue the archive's settings name, if any (else its own SQLite file).
pub(super) fn backend(archive: &Archive) -> Result<Option<CatalogueSettings>, CatalogueError> {
    Ok(crate::archive::settings::read(archive)
        .map_err(CatalogueError::Settings)?
        .catalogue)
}

/// Where the archive's catalogue is, as shown to the operator: `.capstan/catalogue.sqlite`, or
/// the PostgreSQL URL (without password) and schema its settings name.
pub fn describe(archive: &Archive) -> String {
    match backend(archive) {
        Ok(Some(pg)) => pg::location(&pg, &pg.schema).display().to_string(),
        _ => catalogue_path(archive).display().to_string(),
    }
}

pub(super) fn sql_err(path: &Path) -> impl Fn(DbError) -> CatalogueError + '_ {
    move |e| {
        let e = match e {
            DbError::Sqlite(e) => e,
            DbError::Postgres(e) => return pg::pg_err(path, e),
            DbError::Type { column, detail } => {
                return CatalogueError::Corrupt {
                    path: path.to_path_buf(),
                    detail: format!("column {column} holds {detail}"),
                }
            }
        };
        let path = path.to_path_buf();
        match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseCorrupt) | Some(ErrorCode::NotADatabase) => {
                CatalogueError::Corrupt {
                    path,
                    detail: e.to_string(),
                }
            }
            Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => {
                CatalogueError::Busy { path }
            }
            _ => CatalogueError::Sqlite { path, source: e },
        }
    }
}
