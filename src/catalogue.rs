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

use crate::archive::bag::{
    find_bags, info_field, manifest_files, parse_bag_info, parse_manifest, safe_payload_path,
};
use crate::archive::events::{self, Event};
use crate::archive::{Archive, ArchiveError};
use crate::units::now_rfc3339;
use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension, Transaction};
use serde::Serialize;
use std::fs::File;
use std::io::{self, Read, Seek};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The schema this code reads and writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 3;
/// `PRAGMA application_id`: "CPST", so that another program's SQLite file is not taken for ours.
pub const APPLICATION_ID: i64 = 0x4350_5354;
/// How long a writer waits for another writer before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

const SCHEMA: &str = "
CREATE TABLE items (
    id INTEGER PRIMARY KEY,
    collection TEXT NOT NULL,
    item_id TEXT NOT NULL,
    bag_path TEXT NOT NULL,
    profile TEXT,
    bagging_date TEXT,
    payload_oxum TEXT,
    audio_seconds REAL,
    needs_listen TEXT,
    registered_at TEXT NOT NULL,
    UNIQUE (collection, item_id)
);
CREATE TABLE files (
    id INTEGER PRIMARY KEY,
    item INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    bytes INTEGER,
    sha256 TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'present' CHECK (status IN ('present', 'missing', 'moved')),
    last_checked TEXT,
    last_outcome TEXT,
    last_detail TEXT,
    audio_md5 TEXT,
    UNIQUE (item, path)
);
CREATE INDEX files_sha256 ON files(sha256);
CREATE INDEX files_last_checked ON files(last_checked);
CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    date_time TEXT NOT NULL,
    event_type TEXT NOT NULL,
    item TEXT NOT NULL,
    file TEXT,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL,
    agent TEXT NOT NULL
);
CREATE INDEX events_item ON events(item, file, seq);
";

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
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
    pub last_outcome: Option<String>,
    pub last_detail: Option<String>,
    /// A FLAC's audio MD5 as recorded at ingest, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audio_md5: Option<String>,
}

/// An item as the catalogue knows it, with what `capstan report` shows.
#[derive(Debug, Clone, Serialize)]
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
            .is_some_and(|v| v.outcome == "fail")
            || self.bag_failed.is_some();
        self.problems.len().max(usize::from(failed))
    }
}

/// The archive at a glance: `capstan report`.
#[derive(Debug, Clone, Serialize)]
pub struct ArchiveReport {
    pub summary: ReportSummary,
    pub items: Vec<ItemSummary>,
}

#[derive(Debug, Clone, Default, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verification {
    pub date_time: String,
    pub outcome: String,
    pub detail: String,
}

const FILE_COLUMNS: &str = "i.collection || '/' || i.item_id, i.bag_path, f.path, f.bytes, \
     f.sha256, f.status, f.last_checked, f.last_outcome, f.last_detail, f.audio_md5";

fn file_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<FileRow> {
    Ok(FileRow {
        item: r.get(0)?,
        bag_path: r.get(1)?,
        path: r.get(2)?,
        bytes: r.get::<_, Option<i64>>(3)?.map(|b| b as u64),
        sha256: r.get(4)?,
        status: FileStatus::parse(&r.get::<_, String>(5)?),
        last_checked: r.get(6)?,
        last_outcome: r.get(7)?,
        last_detail: r.get(8)?,
        audio_md5: r.get(9)?,
    })
}

/// `collection/id` split at its first `/`.
fn split_item(item: &str) -> (&str, &str) {
    item.split_once('/').unwrap_or(("", item))
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
    conn: Connection,
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
            let conn = Connection::open_in_memory().map_err(&sql)?;
            conn.execute_batch(SCHEMA).map_err(&sql)?;
            return Ok(Catalogue {
                conn,
                path: path.clone(),
                archive: archive.clone(),
                _lock: None,
            });
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
        .map_err(&sql)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(&sql)?;
        let cat = Catalogue {
            conn,
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
                .query_row(
                    &format!("SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT 1)"),
                    [],
                    |r| r.get::<_, i64>(0),
                )
                .map_err(&sql)?;
        }
        Ok(cat)
    }

    /// Every item the archive should hold whose bag is at or under `under` (relative to the
    /// root; "" for all), with its files: the registered items, and items only the event log
    /// knows (an `ingestion` event; their bag is at `collection/id`).
    pub fn known_items(&self, under: &str) -> Result<Vec<KnownItem>, CatalogueError> {
        let under = under.trim_end_matches('/');
        let within = |bag: &str| {
            under.is_empty()
                || bag == under
                || bag.strip_prefix(under).is_some_and(|r| r.starts_with('/'))
        };
        let sql = sql_err(&self.path);
        let mut st = self
            .conn
            .prepare(
                "SELECT i.collection || '/' || i.item_id, i.bag_path, f.path, f.audio_md5
                 FROM items i LEFT JOIN files f ON f.item = i.id
                 WHERE ?1 = '' OR i.bag_path = ?1 OR substr(i.bag_path, 1, length(?1) + 1) = ?1 || '/'
                 ORDER BY i.collection, i.item_id, f.path",
            )
            .map_err(&sql)?;
        let mut out: Vec<KnownItem> = Vec::new();
        let rows = st
            .query_map([under], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ))
            })
            .map_err(&sql)?;
        for row in rows {
            let (item, bag_path, file, md5) = row.map_err(&sql)?;
            if out.last().is_none_or(|k| k.item != item) {
                out.push(KnownItem {
                    item,
                    bag_path,
                    files: Vec::new(),
                });
            }
            if let Some(file) = file {
                out.last_mut().expect("pushed").files.push((file, md5));
            }
        }
        let registered: std::collections::HashSet<String> =
            out.iter().map(|k| k.item.clone()).collect();
        let mut st = self
            .conn
            .prepare(
                "SELECT DISTINCT item FROM events WHERE event_type = 'ingestion' ORDER BY item",
            )
            .map_err(&sql)?;
        let logged: Vec<String> = st
            .query_map([], |r| r.get(0))
            .map_err(&sql)?
            .collect::<rusqlite::Result<_>>()
            .map_err(&sql)?;
        for item in logged {
            if !registered.contains(&item) && item.split('/').count() == 2 && within(&item) {
                out.push(KnownItem {
                    bag_path: item.clone(),
                    item,
                    files: Vec::new(),
                });
            }
        }
        Ok(out)
    }

    fn open_at(path: &Path, archive: &Archive, create: bool) -> Result<Catalogue, CatalogueError> {
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if create {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        let sql = sql_err(path);
        let conn = Connection::open_with_flags(path, flags).map_err(&sql)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(&sql)?;
        let cat = Catalogue {
            conn,
            path: path.to_path_buf(),
            archive: archive.clone(),
            _lock: None,
        };
        check_header(path)?;
        // The first statement reads the header: a file that is not SQLite fails here.
        cat.conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0))
            .map_err(&sql)?;
        cat.conn
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(&sql)?;
        cat.conn
            .pragma_update(None, "foreign_keys", "ON")
            .map_err(&sql)?;
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
            if version == 1 {
                cat.upgrade_from_v1()?;
            }
            if version <= 2 {
                cat.upgrade_from_v2()?;
            }
        }
        // Touches every table's root page: a truncated file fails now, not halfway through.
        for table in ["items", "files", "events"] {
            cat.conn
                .query_row(
                    &format!("SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT 1)"),
                    [],
                    |r| r.get::<_, i64>(0),
                )
                .map_err(&sql)?;
        }
        Ok(cat)
    }

    fn versions(&self) -> Result<(i64, i64), CatalogueError> {
        let sql = sql_err(&self.path);
        let version: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(&sql)?;
        let app: i64 = self
            .conn
            .pragma_query_value(None, "application_id", |r| r.get(0))
            .map_err(&sql)?;
        Ok((version, app))
    }

    /// Creates the tables in a database that has none; refuses one that holds someone else's.
    fn create_schema(&self) -> Result<(), CatalogueError> {
        let sql = sql_err(&self.path);
        let tx = Transaction::new_unchecked(&self.conn, rusqlite::TransactionBehavior::Immediate)
            .map_err(&sql)?;
        // Another process may have created it while this one waited for the write lock.
        let (version, app) = self.versions()?;
        if version != 0 && app == APPLICATION_ID {
            return tx.commit().map_err(&sql);
        }
        let objects: i64 = tx
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(&sql)?;
        if objects > 0 || version != 0 {
            return Err(CatalogueError::Corrupt {
                path: self.path.clone(),
                detail: "an SQLite database, but not a Capstan catalogue".into(),
            });
        }
        tx.execute_batch(SCHEMA).map_err(&sql)?;
        tx.pragma_update(None, "application_id", APPLICATION_ID)
            .map_err(&sql)?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(&sql)?;
        tx.commit().map_err(&sql)
    }

    /// Version 2 to 3: files gain `audio_md5`, read from each bag's QC report (a bag whose
    /// report cannot be read keeps NULL, as a reindex would give it).
    fn upgrade_from_v2(&self) -> Result<(), CatalogueError> {
        let sql = sql_err(&self.path);
        let tx = Transaction::new_unchecked(&self.conn, rusqlite::TransactionBehavior::Immediate)
            .map_err(&sql)?;
        // Another process may have upgraded it while this one waited for the write lock.
        if self.versions()?.0 != 2 {
            return tx.commit().map_err(&sql);
        }
        tx.execute_batch("ALTER TABLE files ADD COLUMN audio_md5 TEXT")
            .map_err(&sql)?;
        let items: Vec<(i64, String, String)> = tx
            .prepare("SELECT id, bag_path, item_id FROM items")
            .and_then(|mut st| {
                st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect()
            })
            .map_err(&sql)?;
        let mut set = tx
            .prepare("UPDATE files SET audio_md5 = ?3 WHERE item = ?1 AND path = ?2")
            .map_err(&sql)?;
        for (row, bag_path, id) in items {
            if !safe_payload_path(&bag_path) {
                continue;
            }
            let bag = self.archive.root.join(&bag_path);
            let Ok(qc) = read_tag_file(&bag, &format!("data/{id}.qc.json")) else {
                continue;
            };
            for (path, md5) in qc_audio_md5s(&qc) {
                set.execute(params![row, path, md5]).map_err(&sql)?;
            }
        }
        drop(set);
        tx.pragma_update(None, "user_version", 3).map_err(&sql)?;
        tx.commit().map_err(&sql)
    }

    /// Version 1 to 2: items gain `needs_listen`, read from each bag's QC report (a bag whose
    /// report cannot be read keeps NULL, as a reindex would give it).
    fn upgrade_from_v1(&self) -> Result<(), CatalogueError> {
        let sql = sql_err(&self.path);
        let tx = Transaction::new_unchecked(&self.conn, rusqlite::TransactionBehavior::Immediate)
            .map_err(&sql)?;
        // Another process may have upgraded it while this one waited for the write lock.
        if self.versions()?.0 != 1 {
            return tx.commit().map_err(&sql);
        }
        tx.execute_batch("ALTER TABLE items ADD COLUMN needs_listen TEXT")
            .map_err(&sql)?;
        let items: Vec<(i64, String, String)> = tx
            .prepare("SELECT id, bag_path, item_id FROM items")
            .and_then(|mut st| {
                st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect()
            })
            .map_err(&sql)?;
        for (row, bag_path, id) in items {
            if !safe_payload_path(&bag_path) {
                continue;
            }
            let bag = self.archive.root.join(&bag_path);
            let listen = read_tag_file(&bag, &format!("data/{id}.qc.json"))
                .ok()
                .and_then(|b| qc_needs_listen(&b));
            tx.execute(
                "UPDATE items SET needs_listen = ?1 WHERE id = ?2",
                params![listen, row],
            )
            .map_err(&sql)?;
        }
        tx.pragma_update(None, "user_version", 2).map_err(&sql)?;
        tx.commit().map_err(&sql)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write<T>(
        &mut self,
        f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, CatalogueError> {
        let sql = sql_err(&self.path);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(&sql)?;
        let out = f(&tx).map_err(&sql)?;
        tx.commit().map_err(&sql)?;
        Ok(out)
    }

    /// Records events: appended to `events.jsonl` first, then indexed here in one transaction.
    pub fn record(&mut self, events: &[Event]) -> Result<(), RecordError> {
        events::append(&self.archive, events)?;
        self.index_events(events)?;
        Ok(())
    }

    /// Indexes events already appended to `events.jsonl`, applying their effects on files.
    fn index_events(&mut self, events: &[Event]) -> Result<(), CatalogueError> {
        self.write(|tx| insert_events(tx, events, true))
    }

    /// Registers an item and its files in one transaction. Registering a known item updates it:
    /// its fields, its files' sizes, digests and states (a file whose digest changed loses its
    /// last check), and files no longer in the bag are dropped.
    pub fn register_item(&mut self, item: &ItemRecord) -> Result<(), CatalogueError> {
        self.write(|tx| upsert_item(tx, item))
    }

    /// Registers an item and records its events in one catalogue transaction (ingest).
    fn register_and_index(
        &mut self,
        item: &ItemRecord,
        events: &[Event],
    ) -> Result<(), CatalogueError> {
        self.write(|tx| {
            upsert_item(tx, item)?;
            insert_events(tx, events, true)
        })
    }

    /// The events of one item (`collection/id`), or of all, in the order recorded.
    pub fn history(&self, item: Option<&str>) -> Result<Vec<Event>, CatalogueError> {
        let sql = sql_err(&self.path);
        let map = |r: &rusqlite::Row<'_>| {
            Ok(Event {
                date_time: r.get(0)?,
                event_type: r.get(1)?,
                item: r.get(2)?,
                file: r.get(3)?,
                outcome: r.get(4)?,
                detail: r.get(5)?,
                agent: r.get(6)?,
            })
        };
        let cols = "SELECT date_time, event_type, item, file, outcome, detail, agent FROM events";
        let rows = match item {
            Some(item) => {
                let mut st = self
                    .conn
                    .prepare(&format!("{cols} WHERE item = ?1 ORDER BY seq"))
                    .map_err(&sql)?;
                let rows = st.query_map([item], map).map_err(&sql)?;
                rows.collect::<rusqlite::Result<Vec<_>>>()
            }
            None => {
                let mut st = self
                    .conn
                    .prepare(&format!("{cols} ORDER BY seq"))
                    .map_err(&sql)?;
                let rows = st.query_map([], map).map_err(&sql)?;
                rows.collect::<rusqlite::Result<Vec<_>>>()
            }
        };
        rows.map_err(&sql)
    }

    /// The latest event of an item's file (or of the item itself, with `file` None).
    pub fn last_event(
        &self,
        item: &str,
        file: Option<&str>,
    ) -> Result<Option<Event>, CatalogueError> {
        let cols = "SELECT date_time, event_type, item, file, outcome, detail, agent FROM events";
        let map = |r: &rusqlite::Row<'_>| {
            Ok(Event {
                date_time: r.get(0)?,
                event_type: r.get(1)?,
                item: r.get(2)?,
                file: r.get(3)?,
                outcome: r.get(4)?,
                detail: r.get(5)?,
                agent: r.get(6)?,
            })
        };
        let found = match file {
            Some(f) => self
                .conn
                .prepare_cached(&format!(
                    "{cols} WHERE item = ?1 AND file = ?2 ORDER BY seq DESC LIMIT 1"
                ))
                .and_then(|mut st| st.query_row(params![item, f], map).optional()),
            None => self
                .conn
                .prepare_cached(&format!(
                    "{cols} WHERE item = ?1 AND file IS NULL ORDER BY seq DESC LIMIT 1"
                ))
                .and_then(|mut st| st.query_row(params![item], map).optional()),
        };
        found.map_err(sql_err(&self.path))
    }

    /// One page of the archive's events, newest first: `limit` events after skipping the
    /// `offset` newest. Paged in the query, so a long history is never loaded whole (the
    /// station's event log).
    pub fn recent_events(&self, limit: u32, offset: u64) -> Result<Vec<Event>, CatalogueError> {
        let sql = sql_err(&self.path);
        let mut st = self
            .conn
            .prepare(
                "SELECT date_time, event_type, item, file, outcome, detail, agent FROM events \
                 ORDER BY seq DESC LIMIT ?1 OFFSET ?2",
            )
            .map_err(&sql)?;
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        let rows = st
            .query_map(rusqlite::params![limit, offset], |r| {
                Ok(Event {
                    date_time: r.get(0)?,
                    event_type: r.get(1)?,
                    item: r.get(2)?,
                    file: r.get(3)?,
                    outcome: r.get(4)?,
                    detail: r.get(5)?,
                    agent: r.get(6)?,
                })
            })
            .map_err(&sql)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(&sql)
    }

    /// The item a name means: `collection/id` as given, or a bare id when exactly one
    /// collection has it. Items known only from their events count too. None if unknown.
    pub fn resolve_item(&self, name: &str) -> Result<Option<String>, CatalogueError> {
        let sql = sql_err(&self.path);
        let mut st = self
            .conn
            .prepare(
                "SELECT collection || '/' || item_id AS name FROM items
                   WHERE collection || '/' || item_id = ?1 OR item_id = ?1
                 UNION
                 SELECT DISTINCT item FROM events
                   WHERE item = ?1 OR item LIKE '%/' || ?1
                 ORDER BY name",
            )
            .map_err(&sql)?;
        let mut found: Vec<String> = st
            .query_map([name], |r| r.get(0))
            .map_err(&sql)?
            .collect::<rusqlite::Result<_>>()
            .map_err(&sql)?;
        // LIKE ignores case and takes `_` as a wildcard: keep exact matches only.
        found.retain(|n| n == name || split_item(n).1 == name);
        if found.iter().any(|n| n == name) {
            return Ok(Some(name.to_string()));
        }
        match found.len() {
            0 => Ok(None),
            1 => Ok(found.pop()),
            _ => Err(CatalogueError::Ambiguous {
                path: self.path.clone(),
                name: name.to_string(),
                candidates: found,
            }),
        }
    }

    /// A file of an item (`collection/id`), by its path in the bag.
    pub fn file_by_path(&self, item: &str, path: &str) -> Result<Option<FileRow>, CatalogueError> {
        let (collection, id) = split_item(item);
        self.conn
            .query_row(
                &format!(
                    "SELECT {FILE_COLUMNS} FROM files f JOIN items i ON i.id = f.item
                     WHERE i.collection = ?1 AND i.item_id = ?2 AND f.path = ?3"
                ),
                params![collection, id, path],
                file_row,
            )
            .optional()
            .map_err(sql_err(&self.path))
    }

    /// Every file with this SHA-256 (lower-case hex), in any item.
    pub fn files_by_digest(&self, sha256: &str) -> Result<Vec<FileRow>, CatalogueError> {
        self.files_where(
            "f.sha256 = ?1 ORDER BY i.collection, i.item_id, f.path",
            [sha256.to_ascii_lowercase()],
        )
    }

    /// Every file of an item (`collection/id`), by path.
    pub fn files_of(&self, item: &str) -> Result<Vec<FileRow>, CatalogueError> {
        let (collection, id) = split_item(item);
        self.files_where(
            "i.collection = ?1 AND i.item_id = ?2 ORDER BY f.path",
            [collection, id],
        )
    }

    /// The `limit` files checked least recently (never checked first), for a rolling schedule.
    pub fn least_recently_checked(&self, limit: usize) -> Result<Vec<FileRow>, CatalogueError> {
        self.files_where(
            // SQLite sorts NULL (never checked) first; the order is the index's.
            "f.status = 'present' ORDER BY f.last_checked, f.id LIMIT ?1",
            [limit as i64],
        )
    }

    fn files_where(
        &self,
        clause: &str,
        p: impl rusqlite::Params,
    ) -> Result<Vec<FileRow>, CatalogueError> {
        let sql = sql_err(&self.path);
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT {FILE_COLUMNS} FROM files f JOIN items i ON i.id = f.item WHERE {clause}"
            ))
            .map_err(&sql)?;
        let rows = st.query_map(p, file_row).map_err(&sql)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(&sql)
    }

    /// Sets a file's status. False if the catalogue does not know the file.
    pub fn set_file_status(
        &mut self,
        item: &str,
        path: &str,
        status: FileStatus,
    ) -> Result<bool, CatalogueError> {
        let (collection, id) = split_item(item);
        self.write(|tx| {
            tx.execute(
                "UPDATE files SET status = ?4 WHERE path = ?3 AND item =
                   (SELECT id FROM items WHERE collection = ?1 AND item_id = ?2)",
                params![collection, id, path, status.as_str()],
            )
            .map(|n| n > 0)
        })
    }

    /// Notes a fixity check of a file: when (RFC 3339), its outcome (`pass`, `fail`,
    /// `warning`) and detail. False if the catalogue does not know the file.
    pub fn set_file_checked(
        &mut self,
        item: &str,
        path: &str,
        date_time: &str,
        outcome: &str,
        detail: &str,
    ) -> Result<bool, CatalogueError> {
        let (collection, id) = split_item(item);
        self.write(|tx| {
            set_checked(tx, collection, id, path, date_time, outcome, detail).map(|n| n > 0)
        })
    }

    /// Every item with its size, duration, last verification and open problems, sorted.
    pub fn items(&self) -> Result<Vec<ItemSummary>, CatalogueError> {
        let sql = sql_err(&self.path);
        let mut st = self
            .conn
            .prepare(
                "SELECT i.collection || '/' || i.item_id, i.bag_path, i.profile, i.bagging_date,
                        i.audio_seconds, i.needs_listen,
                        (SELECT count(*) FROM files f WHERE f.item = i.id),
                        (SELECT coalesce(sum(f.bytes), 0) FROM files f WHERE f.item = i.id)
                 FROM items i ORDER BY i.collection, i.item_id",
            )
            .map_err(&sql)?;
        let mut items: Vec<ItemSummary> = st
            .query_map([], |r| {
                Ok(ItemSummary {
                    item: r.get(0)?,
                    bag_path: r.get(1)?,
                    profile: r.get(2)?,
                    bagging_date: r.get(3)?,
                    audio_seconds: r.get(4)?,
                    needs_listen: r.get(5)?,
                    files: r.get::<_, i64>(6)? as u64,
                    bytes: r.get::<_, i64>(7)? as u64,
                    last_verification: None,
                    bag_failed: None,
                    problems: Vec::new(),
                })
            })
            .map_err(&sql)?
            .collect::<rusqlite::Result<_>>()
            .map_err(&sql)?;
        let mut last = self
            .conn
            .prepare(
                "SELECT date_time, outcome, detail FROM events
                 WHERE item = ?1 AND event_type = 'fixity check' ORDER BY seq DESC LIMIT 1",
            )
            .map_err(&sql)?;
        let mut bag = self
            .conn
            .prepare(
                "SELECT date_time, outcome, detail FROM events
                 WHERE item = ?1 AND file IS NULL AND event_type = 'fixity check'
                 ORDER BY seq DESC LIMIT 1",
            )
            .map_err(&sql)?;
        let verification = |r: &rusqlite::Row<'_>| {
            Ok(Verification {
                date_time: r.get(0)?,
                outcome: r.get(1)?,
                detail: r.get(2)?,
            })
        };
        for item in &mut items {
            item.last_verification = last
                .query_row([&item.item], verification)
                .optional()
                .map_err(&sql)?;
            item.bag_failed = bag
                .query_row([&item.item], verification)
                .optional()
                .map_err(&sql)?
                .filter(|v| v.outcome == "fail");
        }
        let problems = self.files_where(
            "f.status <> 'present' OR f.last_outcome = 'fail'
             ORDER BY i.collection, i.item_id, f.path",
            [],
        )?;
        let at: std::collections::HashMap<String, usize> = items
            .iter()
            .enumerate()
            .map(|(i, item)| (item.item.clone(), i))
            .collect();
        for p in problems {
            if let Some(&i) = at.get(&p.item) {
                items[i].problems.push(p);
            }
        }
        Ok(items)
    }
}

impl Catalogue {
    /// Items, bytes, hours of audio, each item's last verification, and the open problems.
    pub fn report(&self) -> Result<ArchiveReport, CatalogueError> {
        let items = self.items()?;
        let mut s = ReportSummary {
            items: items.len() as u64,
            ..ReportSummary::default()
        };
        for i in &items {
            s.files += i.files;
            s.bytes += i.bytes;
            match i.audio_seconds {
                Some(sec) => s.audio_seconds += sec,
                None => s.items_without_duration += 1,
            }
            s.never_verified += u64::from(i.last_verification.is_none());
            s.needs_listen += u64::from(i.needs_listen.is_some());
            s.open_problems += i.open_problems() as u64;
        }
        s.audio_hours = s.audio_seconds / 3600.0;
        Ok(ArchiveReport { summary: s, items })
    }
}

fn open_lock(path: &Path) -> io::Result<File> {
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

/// Whether the archive has anything in it: an event log, or any folder besides `.capstan`.
fn archive_holds_items(archive: &Archive) -> io::Result<bool> {
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
fn check_header(path: &Path) -> Result<(), CatalogueError> {
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

fn sql_err(path: &Path) -> impl Fn(rusqlite::Error) -> CatalogueError + '_ {
    move |e| {
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

fn insert_events(tx: &Transaction<'_>, events: &[Event], apply: bool) -> rusqlite::Result<()> {
    let mut st = tx.prepare_cached(
        "INSERT INTO events (date_time, event_type, item, file, outcome, detail, agent)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for e in events {
        st.execute(params![
            e.date_time,
            e.event_type,
            e.item,
            e.file,
            e.outcome,
            e.detail,
            e.agent
        ])?;
        if apply {
            apply_event(tx, e)?;
        }
    }
    Ok(())
}

/// What an event says about a file's state.
fn apply_event(tx: &Transaction<'_>, e: &Event) -> rusqlite::Result<()> {
    let Some(file) = &e.file else { return Ok(()) };
    let (collection, id) = split_item(&e.item);
    let status = match e.event_type.as_str() {
        // A file that could be checked is there, whatever the outcome.
        "fixity check" => {
            set_checked(
                tx,
                collection,
                id,
                file,
                &e.date_time,
                &e.outcome,
                &e.detail,
            )?;
            FileStatus::Present
        }
        "move" => FileStatus::Moved,
        "deletion" => FileStatus::Missing,
        _ => return Ok(()),
    };
    tx.prepare_cached(
        "UPDATE files SET status = ?4 WHERE path = ?3 AND item =
           (SELECT id FROM items WHERE collection = ?1 AND item_id = ?2)",
    )?
    .execute(params![collection, id, file, status.as_str()])?;
    Ok(())
}

fn set_checked(
    tx: &Transaction<'_>,
    collection: &str,
    id: &str,
    path: &str,
    date_time: &str,
    outcome: &str,
    detail: &str,
) -> rusqlite::Result<usize> {
    tx.prepare_cached(
        "UPDATE files SET last_checked = ?4, last_outcome = ?5, last_detail = ?6
         WHERE path = ?3 AND item = (SELECT id FROM items WHERE collection = ?1 AND item_id = ?2)",
    )?
    .execute(params![collection, id, path, date_time, outcome, detail])
}

fn upsert_item(tx: &Transaction<'_>, item: &ItemRecord) -> rusqlite::Result<()> {
    let row: i64 = tx.query_row(
        "INSERT INTO items (collection, item_id, bag_path, profile, bagging_date, payload_oxum,
                            audio_seconds, needs_listen, registered_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (collection, item_id) DO UPDATE SET
            bag_path = excluded.bag_path, profile = excluded.profile,
            bagging_date = excluded.bagging_date, payload_oxum = excluded.payload_oxum,
            audio_seconds = excluded.audio_seconds, needs_listen = excluded.needs_listen,
            registered_at = excluded.registered_at
         RETURNING id",
        params![
            item.collection,
            item.id,
            item.bag_path,
            item.profile,
            item.bagging_date,
            item.payload_oxum,
            item.audio_seconds,
            item.needs_listen,
            now_rfc3339()
        ],
        |r| r.get(0),
    )?;
    let mut upsert = tx.prepare_cached(
        "INSERT INTO files (item, path, bytes, sha256, status, audio_md5)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (item, path) DO UPDATE SET
            bytes = excluded.bytes, status = excluded.status, audio_md5 = excluded.audio_md5,
            last_checked = CASE WHEN sha256 = excluded.sha256 THEN last_checked END,
            last_outcome = CASE WHEN sha256 = excluded.sha256 THEN last_outcome END,
            last_detail = CASE WHEN sha256 = excluded.sha256 THEN last_detail END,
            sha256 = excluded.sha256",
    )?;
    for f in &item.files {
        upsert.execute(params![
            row,
            f.path,
            f.bytes.map(|b| b as i64),
            f.sha256,
            f.status.as_str(),
            f.audio_md5
        ])?;
    }
    // Files the bag no longer lists.
    let keep: std::collections::HashSet<&str> =
        item.files.iter().map(|f| f.path.as_str()).collect();
    let mut st = tx.prepare_cached("SELECT path FROM files WHERE item = ?1")?;
    let known: Vec<String> = st
        .query_map([row], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for path in known.iter().filter(|p| !keep.contains(p.as_str())) {
        tx.execute(
            "DELETE FROM files WHERE item = ?1 AND path = ?2",
            params![row, path],
        )?;
    }
    Ok(())
}

/// Records events the one way they are recorded: under the catalogue lock, appended to
/// `events.jsonl` first, then (with `item`, when given, registered in the same transaction)
/// indexed in the catalogue. [`RecordError::Catalogue`] means the log holds them and the
/// catalogue does not.
pub fn record(
    archive: &Archive,
    item: Option<&ItemRecord>,
    events: &[Event],
) -> Result<(), RecordError> {
    // Opened first, so the lock is held across both writes; its failure is reported only after
    // the log has been written.
    let catalogue = Catalogue::open(archive);
    events::append(archive, events)?;
    let mut catalogue = catalogue?;
    match item {
        Some(item) => catalogue.register_and_index(item, events)?,
        None => catalogue.index_events(events)?,
    }
    Ok(())
}

/// What [`reindex`] found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReindexSummary {
    pub items: u64,
    pub files: u64,
    /// Payload files listed in a manifest but not found as regular files.
    pub missing_files: u64,
    pub events: u64,
    /// Lines of `events.jsonl` that do not parse as an event.
    pub skipped_event_lines: u64,
    /// Manifest lines skipped: paths that would leave the bag, lines that do not parse.
    pub skipped_paths: u64,
    /// Bags not indexed: not at `<collection>/<id>`, no readable bag-info or SHA-256 manifest.
    pub skipped_bags: u64,
    /// What was skipped and why, one line each.
    pub notes: Vec<String>,
    /// Of the skipped lines, those that are torn (the beginning of an event whose append a
    /// crash or a full disk cut short): every complete event around them is kept.
    pub torn_event_lines: u64,
    /// Pending ingestion records put in the log first ([`crate::pending::replay`]), one line
    /// each (or why they could not be).
    pub replayed: Vec<String>,
}

/// Rebuilds the catalogue from the archive alone: the bags (bag-info, the SHA-256 manifest,
/// the files' sizes from the file system, the QC report's durations) and `events.jsonl`.
/// The new database is built beside the old one and renamed over it; users of the old one are
/// waited for only during the swap.
pub fn reindex(archive: &Archive) -> Result<ReindexSummary, CatalogueError> {
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
    // As `open`: the log and the catalogue's files are read and replaced by path.
    archive.check_confined().map_err(CatalogueError::Confined)?;
    let meta = archive.meta_dir();
    std::fs::create_dir_all(&meta).map_err(io_err(&meta))?;
    // Ingestion records left pending by a crash go into the log first, so the index has them.
    let replayed = match crate::pending::replay(archive) {
        Ok(list) => list.iter().map(crate::pending::describe).collect(),
        Err(e) => vec![e.to_string()],
    };
    let one_at_a_time = meta.join("reindex.lock");
    let guard = open_lock(&one_at_a_time).map_err(io_err(&one_at_a_time))?;
    if guard.try_lock().is_err() {
        return Err(CatalogueError::ReindexRunning { path });
    }
    let temp = meta.join("catalogue.sqlite.reindex");
    for stale in ["", "-wal", "-shm", "-journal"] {
        let p = PathBuf::from(format!("{}{stale}", temp.display()));
        match std::fs::remove_file(&p) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io_err(&p)(e)),
            _ => {}
        }
    }
    let mut summary = ReindexSummary {
        replayed,
        ..Default::default()
    };
    let mut new = Catalogue::open_at(&temp, archive, true)?;
    // First pass without the lock: the archive stays usable while it is read.
    let mut log_offset = 0;
    let log = meta.join("events.jsonl");
    let mut seen = std::collections::HashSet::new();
    index_log(&mut new, &log, &mut log_offset, &mut summary, false)?;
    index_bags(&mut new, archive, &mut seen, &mut summary)?;
    let replayed = new.replay_file_states(0)?;
    // Then, under the exclusive lock, what arrived meanwhile, and the swap.
    let lock_file = lock_path(archive);
    let lock = open_lock(&lock_file).map_err(io_err(&lock_file))?;
    lock.lock().map_err(io_err(&lock_file))?;
    index_log(&mut new, &log, &mut log_offset, &mut summary, true)?;
    index_bags(&mut new, archive, &mut seen, &mut summary)?;
    new.replay_file_states(replayed)?;
    summary.items = new.count("SELECT count(*) FROM items")?;
    summary.files = new.count("SELECT count(*) FROM files")?;
    summary.missing_files = new.count("SELECT count(*) FROM files WHERE status <> 'present'")?;
    summary.events = new.count("SELECT count(*) FROM events")?;
    // Closing checkpoints the WAL into the file and removes it.
    new.conn.close().map_err(|(_, e)| sql_err(&temp)(e))?;
    File::open(&temp)
        .and_then(|f| f.sync_all())
        .map_err(io_err(&temp))?;
    for stale in ["-wal", "-shm"] {
        let p = PathBuf::from(format!("{}{stale}", path.display()));
        match std::fs::remove_file(&p) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io_err(&p)(e)),
            _ => {}
        }
    }
    std::fs::rename(&temp, &path).map_err(io_err(&path))?;
    File::open(&meta)
        .and_then(|d| d.sync_all())
        .map_err(io_err(&meta))?;
    drop(lock);
    drop(guard);
    Ok(summary)
}

impl Catalogue {
    fn count(&self, q: &str) -> Result<u64, CatalogueError> {
        self.conn
            .query_row(q, [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(sql_err(&self.path))
    }

    /// Replays the events after `after_seq` that set file states, in order, over the files
    /// registered from the bags, and returns the last seq replayed. The file system, as seen
    /// when each bag was registered, wins for a file that was there; one that was not stays
    /// `moved` if an event said so, else `missing`.
    fn replay_file_states(&mut self, after_seq: i64) -> Result<i64, CatalogueError> {
        self.write(|tx| {
            let mut st = tx.prepare(
                "SELECT seq, date_time, event_type, item, file, outcome, detail FROM events
                 WHERE seq > ?1 AND file IS NOT NULL
                   AND event_type IN ('fixity check', 'move', 'deletion')
                 ORDER BY seq",
            )?;
            let mut rows = st.query([after_seq])?;
            let mut last = after_seq;
            while let Some(r) = rows.next()? {
                last = r.get(0)?;
                let (kind, item, file): (String, String, String) = (r.get(2)?, r.get(3)?, r.get(4)?);
                let (collection, id) = split_item(&item);
                if kind == "fixity check" {
                    let (date_time, outcome, detail): (String, String, String) =
                        (r.get(1)?, r.get(5)?, r.get(6)?);
                    set_checked(tx, collection, id, &file, &date_time, &outcome, &detail)?;
                } else {
                    let status = if kind == "move" {
                        FileStatus::Moved
                    } else {
                        FileStatus::Missing
                    };
                    tx.prepare_cached(
                        "UPDATE files SET status = ?4 WHERE path = ?3 AND status <> 'present'
                           AND item = (SELECT id FROM items WHERE collection = ?1 AND item_id = ?2)",
                    )?
                    .execute(params![collection, id, file, status.as_str()])?;
                }
            }
            // Later events of other kinds need no replay either.
            let max: Option<i64> = tx.query_row("SELECT max(seq) FROM events", [], |r| r.get(0))?;
            Ok(last.max(max.unwrap_or(after_seq)))
        })
    }
}

/// Indexes the complete lines of `events.jsonl` from `offset` on, and moves `offset` past them.
/// A line that is the beginning of an event cut short (a crash or a full disk in the middle of
/// an append; the next append starts a new line after it) is a torn line: skipped, and
/// counted both as a skipped line and as torn. On the `last` pass, under the exclusive lock, no
/// append is in flight, so a last line without its newline is torn too (it is left in place;
/// the next append closes it).
fn index_log(
    cat: &mut Catalogue,
    log: &Path,
    offset: &mut u64,
    summary: &mut ReindexSummary,
    last: bool,
) -> Result<(), CatalogueError> {
    let io_err = |source| CatalogueError::Io {
        path: cat.path.clone(),
        file: log.to_path_buf(),
        source,
    };
    let mut f = match File::open(log) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(e)),
    };
    f.seek(io::SeekFrom::Start(*offset)).map_err(io_err)?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes).map_err(io_err)?;
    let end = bytes.iter().rposition(|&b| b == b'\n');
    let complete = end.map_or(&bytes[..0], |end| &bytes[..end]);
    let mut batch = Vec::new();
    let mut at = *offset;
    for line in complete.split(|&b| b == b'\n') {
        let line_at = at;
        at += line.len() as u64 + 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match events::parse_line(line) {
            Ok(e) => batch.push(e),
            Err(e) if e.is_eof() => torn(summary, log, line_at),
            Err(e) => {
                summary.skipped_event_lines += 1;
                note(
                    summary,
                    format!(
                        "{}: the line at byte {line_at} is not an event, skipped: {e}",
                        log.display()
                    ),
                );
            }
        }
    }
    // A line still being written (no newline yet) is left for the next pass.
    if let Some(end) = end {
        *offset += end as u64 + 1;
    }
    let rest = end.map_or(&bytes[..], |end| &bytes[end + 1..]);
    if last && !rest.iter().all(u8::is_ascii_whitespace) {
        torn(summary, log, *offset);
    }
    // Their effects on files are replayed once the bags are registered.
    cat.write(|tx| insert_events(tx, &batch, false))
}

fn torn(summary: &mut ReindexSummary, log: &Path, at: u64) {
    summary.skipped_event_lines += 1;
    summary.torn_event_lines += 1;
    note(
        summary,
        format!(
            "{}: the line at byte {at} is a torn event (an append cut short by a crash or a full disk), skipped",
            log.display()
        ),
    );
}

/// Registers every bag of the archive not yet `seen`.
fn index_bags(
    cat: &mut Catalogue,
    archive: &Archive,
    seen: &mut std::collections::HashSet<PathBuf>,
    summary: &mut ReindexSummary,
) -> Result<(), CatalogueError> {
    let root = &archive.root;
    let bags = find_bags(root).map_err(|source| CatalogueError::Io {
        path: cat.path.clone(),
        file: root.clone(),
        source,
    })?;
    let mut items = Vec::new();
    for bag in bags {
        if !seen.insert(bag.clone()) {
            continue;
        }
        let rel = bag.strip_prefix(root).unwrap_or(&bag);
        match item_from_bag(&bag, rel, summary) {
            Ok(item) => items.push(item),
            Err(why) => {
                summary.skipped_bags += 1;
                note(summary, format!("{}: bag skipped: {why}", bag.display()));
            }
        }
    }
    cat.write(|tx| items.iter().try_for_each(|item| upsert_item(tx, item)))
}

fn note(summary: &mut ReindexSummary, text: String) {
    if summary.notes.len() < 100 {
        summary.notes.push(text);
    }
}

/// Reads a tag file that must be a regular file in the bag (links are not followed).
fn read_tag_file(bag: &Path, name: &str) -> Result<Vec<u8>, String> {
    use std::io::Read;
    // The confined opener: no link followed, a FIFO refused before it is read.
    let mut bytes = Vec::new();
    crate::archive::confined::open_found(&bag.join(name))
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| format!("{name}: {e}"))?;
    Ok(bytes)
}

/// What a bag at `<collection>/<id>` (`rel`, relative to the archive root) tells the
/// catalogue; skipped manifest lines are counted in `summary`.
pub fn item_from_bag(
    bag: &Path,
    rel: &Path,
    summary: &mut ReindexSummary,
) -> Result<ItemRecord, String> {
    let parts: Vec<&str> = rel
        .components()
        .map(|c| c.as_os_str().to_str())
        .collect::<Option<_>>()
        .ok_or("its path is not UTF-8")?;
    let [collection, id] = parts[..] else {
        return Err("not at <collection>/<item-id> in the archive".into());
    };
    let (fields, _) = parse_bag_info(&read_tag_file(bag, "bag-info.txt")?);
    let has_sha256 = manifest_files(bag)
        .map_err(|e| e.to_string())?
        .iter()
        .any(|(name, _, is_tag)| name == "manifest-sha256.txt" && !is_tag);
    if !has_sha256 {
        return Err("no manifest-sha256.txt".into());
    }
    let manifest = parse_manifest(
        "manifest-sha256.txt",
        "sha256",
        &read_tag_file(bag, "manifest-sha256.txt")?,
    );
    for m in &manifest.malformed {
        summary.skipped_paths += 1;
        note(
            summary,
            format!(
                "{}: {} line {}: {}",
                bag.display(),
                m.file,
                m.line,
                m.reason
            ),
        );
    }
    let mut files = Vec::new();
    for entry in manifest.entries {
        if !safe_payload_path(&entry.path) {
            summary.skipped_paths += 1;
            note(
                summary,
                format!(
                    "{}: manifest-sha256.txt line {}: path {:?} would leave the bag; not indexed",
                    bag.display(),
                    entry.line,
                    entry.path
                ),
            );
            continue;
        }
        let meta = bag.join(&entry.path).symlink_metadata();
        let (bytes, status) = match meta {
            Ok(m) if m.is_file() => (Some(m.len()), FileStatus::Present),
            _ => (None, FileStatus::Missing),
        };
        files.push(FileRecord {
            path: entry.path,
            bytes,
            sha256: entry.digest,
            status,
            audio_md5: None,
        });
    }
    let qc = format!("data/{id}.qc.json");
    let qc_json = files
        .iter()
        .any(|f| f.path == qc && f.status == FileStatus::Present)
        .then(|| read_tag_file(bag, &qc).ok())
        .flatten();
    if let Some(qc) = &qc_json {
        let md5s: std::collections::HashMap<String, String> =
            qc_audio_md5s(qc).into_iter().collect();
        for f in &mut files {
            f.audio_md5 = md5s.get(&f.path).cloned();
        }
    }
    let audio_seconds = qc_json.as_deref().and_then(qc_audio_seconds);
    let needs_listen = qc_json.as_deref().and_then(qc_needs_listen);
    Ok(ItemRecord {
        collection: collection.to_string(),
        id: id.to_string(),
        bag_path: format!("{collection}/{id}"),
        profile: info_field(&fields, "Capstan-Profile").map(str::to_string),
        bagging_date: info_field(&fields, "Bagging-Date").map(str::to_string),
        payload_oxum: info_field(&fields, "Payload-Oxum").map(str::to_string),
        audio_seconds,
        needs_listen,
        files,
    })
}

/// The audio MD5 of every master and access copy a QC report lists: (path in the bag, MD5 in
/// lower-case hex).
pub fn qc_audio_md5s(qc_json: &[u8]) -> Vec<(String, String)> {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(qc_json) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut take = |f: &serde_json::Value| {
        if let (Some(file), Some(md5)) = (
            f.get("file").and_then(|x| x.as_str()),
            f.get("audio_md5").and_then(|x| x.as_str()),
        ) {
            out.push((file.to_string(), md5.to_ascii_lowercase()));
        }
    };
    for t in v
        .get("takes")
        .and_then(|t| t.as_array())
        .into_iter()
        .flatten()
    {
        for m in t
            .get("masters")
            .and_then(|m| m.as_array())
            .into_iter()
            .flatten()
        {
            take(m);
        }
        if let Some(ac) = t.get("access_copy") {
            take(ac);
        }
    }
    out
}

/// Seconds of audio a QC report describes: each take's source frames over its sample rate.
pub fn qc_audio_seconds(qc_json: &[u8]) -> Option<f64> {
    let v: serde_json::Value = serde_json::from_slice(qc_json).ok()?;
    let mut seconds = 0.0;
    for take in v.get("takes")?.as_array()? {
        let source = take.get("source")?;
        let frames = source.get("frames")?.as_u64()?;
        let rate = source.get("sample_rate")?.as_u64().filter(|&r| r > 0)?;
        seconds += frames as f64 / rate as f64;
    }
    Some(seconds)
}

/// Why a QC report's item needs a listen, from its captured takes that were flagged (see
/// [`needs_listen`]); None when none was, or the report says nothing of capture.
pub fn qc_needs_listen(qc_json: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(qc_json).ok()?;
    let takes = v.get("takes")?.as_array()?;
    let flagged = takes.iter().map(|t| {
        let c = t.get("capture")?;
        c.get("flagged")?.as_bool()?.then(|| {
            let ended = c.get("ended").and_then(|e| e.as_str()).unwrap_or("");
            let gaps = c.get("gaps").and_then(|g| g.as_array()).map_or(0, Vec::len);
            (ended.to_string(), gaps)
        })
    });
    needs_listen(flagged, takes.len())
}

/// Why an item needs a listen: each flagged take's end and the gaps it has, `take N: ` in front
/// when the item has more than one take. `takes` yields, per take, its end and gap count when
/// it was flagged.
pub fn needs_listen(
    takes: impl Iterator<Item = Option<(String, usize)>>,
    count: usize,
) -> Option<String> {
    let reasons: Vec<String> = takes
        .enumerate()
        .filter_map(|(n, t)| {
            let (ended, gaps) = t?;
            let mut why = match gaps {
                0 => ended,
                1 => format!("{ended}; 1 gap of lost samples"),
                g => format!("{ended}; {g} gaps of lost samples"),
            };
            if count > 1 {
                why = format!("take {}: {why}", n + 1);
            }
            Some(why)
        })
        .collect();
    (!reasons.is_empty()).then(|| reasons.join(" · "))
}

/// What ingest registers for a committed item (the payload it wrote, the QC report it made).
pub fn item_record(
    collection: &str,
    id: &str,
    profile: &str,
    bagging_date: &str,
    payload: &[crate::archive::bag::PayloadFile],
    report: &crate::report::QcReport,
) -> ItemRecord {
    let octets: u64 = payload.iter().map(|p| p.bytes).sum();
    ItemRecord {
        collection: collection.to_string(),
        id: id.to_string(),
        bag_path: format!("{collection}/{id}"),
        profile: Some(profile.to_string()),
        bagging_date: Some(bagging_date.to_string()),
        payload_oxum: Some(format!("{octets}.{}", payload.len())),
        audio_seconds: Some(
            report
                .takes
                .iter()
                .map(|t| t.source.frames.0 as f64 / f64::from(t.source.sample_rate.max(1)))
                .sum(),
        ),
        needs_listen: needs_listen(
            report.takes.iter().map(|t| {
                t.capture
                    .as_ref()
                    .filter(|c| c.flagged)
                    .map(|c| (c.ended.clone(), c.gaps.len()))
            }),
            report.takes.len(),
        ),
        files: payload
            .iter()
            .map(|p| FileRecord {
                path: p.path.clone(),
                bytes: Some(p.bytes),
                sha256: crate::flac::hex(&p.sha256),
                status: FileStatus::Present,
                audio_md5: report
                    .takes
                    .iter()
                    .flat_map(|t| {
                        let masters = t.masters.iter().map(|m| (&m.file, &m.audio_md5));
                        masters.chain(t.access_copy.iter().map(|a| (&a.file, &a.audio_md5)))
                    })
                    .find(|(file, _)| **file == p.path)
                    .map(|(_, md5)| md5.to_ascii_lowercase()),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::bag::{write_tag_files, PayloadFile};
    use sha2::{Digest, Sha256};

    fn event(item: &str, kind: &str, file: Option<&str>, outcome: &str, n: usize) -> Event {
        Event {
            date_time: format!("2026-01-01T00:00:{:02}Z", n % 60),
            event_type: kind.into(),
            item: item.into(),
            file: file.map(str::to_string),
            outcome: outcome.into(),
            detail: format!("detail {n}"),
            agent: "capstan test".into(),
        }
    }

    fn item(collection: &str, id: &str, files: &[(&str, &str)]) -> ItemRecord {
        ItemRecord {
            collection: collection.into(),
            id: id.into(),
            bag_path: format!("{collection}/{id}"),
            profile: Some("dat".into()),
            bagging_date: Some("2026-01-01".into()),
            payload_oxum: Some(format!("{}.{}", files.len() * 10, files.len())),
            audio_seconds: Some(1.5),
            needs_listen: None,
            files: files
                .iter()
                .map(|(path, sha)| FileRecord {
                    path: path.to_string(),
                    bytes: Some(10),
                    sha256: sha.to_string(),
                    audio_md5: None,
                    status: FileStatus::Present,
                })
                .collect(),
        }
    }

    /// A bag at `root/collection/id` holding these payload files.
    fn make_bag(root: &Path, collection: &str, id: &str, files: &[(&str, &[u8])]) {
        let bag = root.join(collection).join(id);
        std::fs::create_dir_all(bag.join("data")).unwrap();
        let payload: Vec<PayloadFile> = files
            .iter()
            .map(|(name, bytes)| {
                std::fs::write(bag.join(name), bytes).unwrap();
                PayloadFile {
                    path: name.to_string(),
                    sha256: Sha256::digest(bytes).into(),
                    bytes: bytes.len() as u64,
                }
            })
            .collect();
        write_tag_files(
            &bag,
            &payload,
            &[
                ("Bagging-Date", "2026-01-02".into()),
                ("Capstan-Profile", "dat".into()),
            ],
            &[],
        )
        .unwrap();
    }

    fn sha(b: &[u8]) -> String {
        crate::flac::hex(&Sha256::digest(b))
    }

    #[test]
    fn a_new_catalogue_has_the_versioned_schema_in_wal_mode() {
        let tmp = tempfile::tempdir().unwrap();
        let archive = Archive::new(tmp.path());
        let cat = Catalogue::open(&archive).unwrap();
        assert_eq!(cat.path(), archive.meta_dir().join("catalogue.sqlite"));
        assert_eq!(cat.versions().unwrap(), (SCHEMA_VERSION, APPLICATION_ID));
        let mode: String = cat
            .conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let fk: i64 = cat
            .conn
            .pragma_query_value(None, "foreign_keys", |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1);
        let mut names: Vec<String> = cat
            .conn
            .prepare("SELECT name FROM sqlite_master ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .filter(|n: &String| !n.starts_with("sqlite_"))
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "events",
                "events_item",
                "files",
                "files_last_checked",
                "files_sha256",
                "items"
            ]
        );
        drop(cat);
        // Opening again keeps it as it is.
        let again = Catalogue::open(&archive).unwrap();
        assert_eq!(again.history(None).unwrap(), []);
    }

    #[test]
    fn registering_twice_updates_the_item_and_its_files() {
        let tmp = tempfile::tempdir().unwrap();
        let archive = Archive::new(tmp.path());
        let mut cat = Catalogue::open(&archive).unwrap();
        let first = item("c", "i", &[("data/a.flac", "aa"), ("data/b.flac", "bb")]);
        cat.register_item(&first).unwrap();
        cat.register_item(&first).unwrap();
        assert!(cat
            .set_file_checked("c/i", "data/a.flac", "2026-02-01T00:00:00Z", "pass", "ok")
            .unwrap());
        assert!(cat
            .set_file_checked("c/i", "data/b.flac", "2026-02-01T00:00:00Z", "pass", "ok")
            .unwrap());
        // Re-registered: a's digest unchanged, b's changed, c new, nothing else.
        let mut second = item("c", "i", &[("data/a.flac", "aa"), ("data/b.flac", "b2")]);
        second.files.push(FileRecord {
            path: "data/c.json".into(),
            bytes: None,
            sha256: "cc".into(),
            audio_md5: None,
            status: FileStatus::Missing,
        });
        second.profile = Some("lacquer-disc".into());
        cat.register_item(&second).unwrap();
        let items = cat.items().unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].profile.as_deref(), Some("lacquer-disc"));
        assert_eq!(items[0].files, 3);
        assert_eq!(items[0].bytes, 20);
        let a = cat.file_by_path("c/i", "data/a.flac").unwrap().unwrap();
        assert_eq!(a.last_outcome.as_deref(), Some("pass"));
        let b = cat.file_by_path("c/i", "data/b.flac").unwrap().unwrap();
        assert_eq!((b.sha256.as_str(), b.last_checked), ("b2", None));
        let c = cat.file_by_path("c/i", "data/c.json").unwrap().unwrap();
        assert_eq!((c.status, c.bytes), (FileStatus::Missing, None));
        // A file the bag no longer lists is dropped.
        cat.register_item(&item("c", "i", &[("data/a.flac", "aa")]))
            .unwrap();
        assert!(cat.file_by_path("c/i", "data/b.flac").unwrap().is_none());
        assert_eq!(cat.items().unwrap()[0].files, 1);
    }

    #[test]
    fn events_come_back_in_order_and_set_the_files_states() {
        let tmp = tempfile::tempdir().unwrap();
        let archive = Archive::new(tmp.path());
        let mut cat = Catalogue::open(&archive).unwrap();
        cat.register_item(&item(
            "c",
            "i",
            &[("data/a.flac", "AA"), ("data/b.flac", "bb")],
        ))
        .unwrap();
        cat.register_item(&item("d", "i", &[("data/a.flac", "aa")]))
            .unwrap();
        cat.register_item(&item("d", "j", &[("data/j.flac", "jj")]))
            .unwrap();
        let evs = vec![
            event("c/i", "ingestion", None, "pass", 1),
            event("d/i", "ingestion", None, "pass", 2),
            event("c/i", "fixity check", Some("data/a.flac"), "pass", 3),
            event("c/i", "fixity check", Some("data/b.flac"), "fail", 4),
            event("d/i", "move", Some("data/a.flac"), "warning", 5),
        ];
        cat.record(&evs).unwrap();
        assert_eq!(cat.history(None).unwrap(), evs);
        // Paged newest first, in the query.
        let newest: Vec<Event> = evs.iter().rev().cloned().collect();
        assert_eq!(cat.recent_events(2, 0).unwrap(), newest[..2]);
        assert_eq!(cat.recent_events(2, 3).unwrap(), newest[3..]);
        assert!(cat.recent_events(2, 9).unwrap().is_empty());
        let ci: Vec<Event> = evs.iter().filter(|e| e.item == "c/i").cloned().collect();
        assert_eq!(cat.history(Some("c/i")).unwrap(), ci);
        // events.jsonl got them too, first.
        let log = std::fs::read_to_string(archive.meta_dir().join("events.jsonl")).unwrap();
        assert_eq!(log.lines().count(), evs.len());

        let a = cat.file_by_path("c/i", "data/a.flac").unwrap().unwrap();
        assert_eq!(a.last_checked.as_deref(), Some("2026-01-01T00:00:03Z"));
        let b = cat.file_by_path("c/i", "data/b.flac").unwrap().unwrap();
        assert_eq!(
            (b.last_outcome.as_deref(), b.last_detail.as_deref()),
            (Some("fail"), Some("detail 4"))
        );
        let moved = cat.file_by_path("d/i", "data/a.flac").unwrap().unwrap();
        assert_eq!(moved.status, FileStatus::Moved);
        // Digests are matched whatever their case.
        let same: Vec<String> = cat
            .files_by_digest("aa")
            .unwrap()
            .into_iter()
            .map(|f| f.item)
            .collect();
        assert_eq!(same, ["d/i"]);
        assert_eq!(cat.files_by_digest("AA").unwrap().len(), 1);
        // Never checked first, then oldest; moved files are not scheduled.
        let due: Vec<String> = cat
            .least_recently_checked(10)
            .unwrap()
            .into_iter()
            .map(|f| format!("{}:{}", f.item, f.path))
            .collect();
        assert_eq!(
            due,
            ["d/j:data/j.flac", "c/i:data/a.flac", "c/i:data/b.flac"]
        );
        assert_eq!(cat.least_recently_checked(1).unwrap().len(), 1);
        assert!(cat
            .set_file_status("d/i", "data/a.flac", FileStatus::Present)
            .unwrap());
        assert!(!cat
            .set_file_status("d/i", "data/none.flac", FileStatus::Present)
            .unwrap());

        let report = cat.report().unwrap();
        assert_eq!(report.summary.items, 3);
        assert_eq!(report.summary.open_problems, 1);
        assert_eq!(report.summary.never_verified, 2);
        let ci = &report.items[0];
        assert_eq!(ci.item, "c/i");
        assert_eq!(ci.last_verification.as_ref().unwrap().outcome, "fail");
        assert_eq!(ci.problems.len(), 1);
        assert_eq!(ci.problems[0].path, "data/b.flac");
    }

    #[test]
    fn items_are_found_by_full_name_or_unambiguous_bare_id() {
        let tmp = tempfile::tempdir().unwrap();
        let archive = Archive::new(tmp.path());
        let mut cat = Catalogue::open(&archive).unwrap();
        for (c, i) in [("c", "a_1"), ("c", "shared"), ("d", "shared")] {
            cat.register_item(&item(c, i, &[])).unwrap();
        }
        cat.record(&[event("gone/old", "deletion", None, "pass", 1)])
            .unwrap();
        let r = |n: &str| cat.resolve_item(n);
        assert_eq!(r("c/a_1").unwrap().as_deref(), Some("c/a_1"));
        assert_eq!(r("a_1").unwrap().as_deref(), Some("c/a_1"));
        assert_eq!(r("a%1").unwrap(), None);
        assert_eq!(r("A_1").unwrap(), None);
        assert_eq!(r("old").unwrap().as_deref(), Some("gone/old"));
        assert_eq!(r("d/shared").unwrap().as_deref(), Some("d/shared"));
        assert_eq!(r("nope").unwrap(), None);
        match r("shared") {
            Err(CatalogueError::Ambiguous { candidates, .. }) => {
                assert_eq!(candidates, ["c/shared", "d/shared"])
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn two_writers_at_once_never_see_a_locked_database() {
        let tmp = tempfile::tempdir().unwrap();
        let archive = Archive::new(tmp.path());
        Catalogue::open(&archive).unwrap();
        let per_thread = 150;
        std::thread::scope(|s| {
            for t in 0..2 {
                let archive = archive.clone();
                s.spawn(move || {
                    let mut cat = Catalogue::open(&archive).unwrap();
                    let name = format!("c/t{t}");
                    for n in 0..per_thread {
                        cat.register_item(&item("c", &format!("t{t}"), &[("data/x", "x")]))
                            .unwrap();
                        cat.record(&[event(&name, "fixity check", Some("data/x"), "pass", n)])
                            .unwrap();
                        // A reader in between, on its own connection.
                        assert_eq!(cat.history(Some(&name)).unwrap().len(), n + 1);
                    }
                });
            }
            // A third process-like user opening and reading throughout.
            s.spawn(|| {
                for _ in 0..50 {
                    let cat = Catalogue::open(&archive).unwrap();
                    cat.report().unwrap();
                }
            });
        });
        let cat = Catalogue::open(&archive).unwrap();
        assert_eq!(cat.history(None).unwrap().len(), 2 * per_thread);
        let log = std::fs::read_to_string(archive.meta_dir().join("events.jsonl")).unwrap();
        assert_eq!(log.lines().count(), 2 * per_thread);
    }

    fn open_err(archive: &Archive) -> CatalogueError {
        Catalogue::open(archive).unwrap_err()
    }

    #[test]
    fn damaged_catalogues_are_reported_never_recreated() {
        let tmp = tempfile::tempdir().unwrap();
        let archive = Archive::new(tmp.path());
        let path = catalogue_path(&archive);
        let mut cat = Catalogue::open(&archive).unwrap();
        for n in 0..200 {
            cat.register_item(&item(
                "c",
                &format!("i{n}"),
                &[("data/a", "aa"), ("data/b", "bb")],
            ))
            .unwrap();
        }
        drop(cat); // checkpoints the WAL into the file
        let good = std::fs::read(&path).unwrap();
        assert!(good.len() > 3 * 4096);
        let cases: Vec<(&str, Vec<u8>)> = vec![
            (
                "garbage",
                (0..20_000u32).map(|i| (i * 7919 % 251) as u8).collect(),
            ),
            ("empty", Vec::new()),
            ("cut inside the header", good[..50].to_vec()),
            ("cut mid-page", good[..good.len() - 100].to_vec()),
            ("cut at a page", good[..2 * 4096].to_vec()),
            ("header zeroed", {
                let mut b = good.clone();
                b[..100].fill(0);
                b
            }),
        ];
        for (what, bytes) in cases {
            std::fs::write(&path, &bytes).unwrap();
            let err = open_err(&archive);
            assert!(
                matches!(err, CatalogueError::Corrupt { .. }),
                "{what}: {err:?}"
            );
            let msg = err.to_string();
            assert!(
                msg.contains(&path.display().to_string()) && msg.contains("capstan reindex"),
                "{what}: {msg}"
            );
            // Still the damaged bytes: nothing was recreated over them.
            assert_eq!(std::fs::read(&path).unwrap(), bytes, "{what}");
        }
        // Damage inside a table: found by the query that reads it.
        let mut b = good.clone();
        let last_page = b.len() - 4096;
        b[last_page..].fill(0xA5);
        std::fs::write(&path, &b).unwrap();
        let found = Catalogue::open(&archive).and_then(|c| c.report().map(|_| ()));
        assert!(
            matches!(found, Err(CatalogueError::Corrupt { .. })),
            "{found:?}"
        );
    }

    #[test]
    fn foreign_newer_and_missing_catalogues_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let archive = Archive::new(tmp.path());
        let path = catalogue_path(&archive);
        std::fs::create_dir_all(archive.meta_dir()).unwrap();
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
                .unwrap();
        }
        assert!(matches!(open_err(&archive), CatalogueError::Corrupt { .. }));
        std::fs::remove_file(&path).unwrap();
        Catalogue::open(&archive).unwrap();
        {
            let c = Connection::open(&path).unwrap();
            c.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
                .unwrap();
        }
        assert!(matches!(
            open_err(&archive),
            CatalogueError::NewerSchema { found, .. } if found == SCHEMA_VERSION + 1
        ));
        // Gone from an archive that holds items: reported, not silently started afresh.
        for f in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{f}", path.display()));
        }
        std::fs::create_dir_all(tmp.path().join("c/i")).unwrap();
        let err = open_err(&archive);
        assert!(matches!(err, CatalogueError::Missing { .. }), "{err:?}");
        assert!(err.to_string().contains("capstan reindex"));
        assert!(!path.exists());
        assert!(matches!(
            Catalogue::open(&Archive::new(tmp.path().join("none"))).unwrap_err(),
            CatalogueError::NoArchive { .. }
        ));
    }

    #[test]
    fn a_catalogue_that_cannot_be_opened_still_gets_the_events_logged() {
        let tmp = tempfile::tempdir().unwrap();
        let archive = Archive::new(tmp.path());
        std::fs::create_dir_all(archive.meta_dir()).unwrap();
        std::fs::write(catalogue_path(&archive), b"not a database at all, no").unwrap();
        let evs = [event("c/i", "ingestion", None, "pass", 1)];
        let err = record(&archive, Some(&item("c", "i", &[])), &evs).unwrap_err();
        assert!(matches!(
            err,
            RecordError::Catalogue(CatalogueError::Corrupt { .. })
        ));
        let log = std::fs::read_to_string(archive.meta_dir().join("events.jsonl")).unwrap();
        let back: Event = serde_json::from_str(log.trim()).unwrap();
        assert_eq!(back, evs[0]);
    }

    #[test]
    fn why_an_item_needs_a_listen_is_read_from_its_qc_report() {
        let one = br#"{"takes":[{"capture":{"flagged":true,"ended":"interrupted (recovered from its journal)","gaps":[]}}]}"#;
        assert_eq!(
            qc_needs_listen(one).as_deref(),
            Some("interrupted (recovered from its journal)")
        );
        let two = br#"{"takes":[{"capture":{"flagged":false,"ended":"stopped","gaps":[]}},
            {"capture":{"flagged":true,"ended":"stopped","gaps":[{},{}]}}]}"#;
        assert_eq!(
            qc_needs_listen(two).as_deref(),
            Some("take 2: stopped; 2 gaps of lost samples")
        );
        // Ingested files (no capture) and clean captures need nothing.
        assert_eq!(qc_needs_listen(br#"{"takes":[{"source":{}}]}"#), None);
        assert_eq!(
            qc_needs_listen(
                br#"{"takes":[{"capture":{"flagged":false,"ended":"stopped","gaps":[]}}]}"#
            ),
            None
        );
        assert_eq!(qc_needs_listen(b"not json"), None);
    }

    #[test]
    fn a_version_1_catalogue_learns_which_items_need_a_listen() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let archive = Archive::new(root);
        Catalogue::open(&archive).unwrap();
        let qc = br#"{"takes":[{"source":{"frames":48000,"sample_rate":48000},"capture":{"flagged":true,"ended":"device error: no samples for 5 s","gaps":[{}]}}]}"#;
        make_bag(root, "c", "i", &[("data/i.qc.json", qc)]);
        make_bag(root, "c", "j", &[("data/j_pm.flac", b"clean")]);
        let mut cat = Catalogue::open(&archive).unwrap();
        for id in ["i", "j"] {
            let rel = Path::new("c").join(id);
            let rec =
                item_from_bag(&root.join(&rel), &rel, &mut ReindexSummary::default()).unwrap();
            cat.register_item(&rec).unwrap();
        }
        let listen = |cat: &Catalogue| -> Vec<Option<String>> {
            cat.items()
                .unwrap()
                .into_iter()
                .map(|i| i.needs_listen)
                .collect()
        };
        let expected = vec![
            Some("device error: no samples for 5 s; 1 gap of lost samples".to_string()),
            None,
        ];
        assert_eq!(listen(&cat), expected);
        assert_eq!(cat.report().unwrap().summary.needs_listen, 1);
        // Back to what version 1 wrote: no column, user_version 1.
        cat.conn
            .execute_batch(
                "ALTER TABLE items DROP COLUMN needs_listen;
                 ALTER TABLE files DROP COLUMN audio_md5; PRAGMA user_version = 1;",
            )
            .unwrap();
        drop(cat);
        let cat = Catalogue::open(&archive).unwrap();
        assert_eq!(cat.versions().unwrap().0, SCHEMA_VERSION);
        assert_eq!(listen(&cat), expected);
    }

    #[test]
    fn a_version_2_catalogue_learns_the_masters_audio_md5_from_the_qc_reports() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let archive = Archive::new(root);
        Catalogue::open(&archive).unwrap();
        let md5 = "00112233445566778899aabbccddeeff";
        let qc = format!(
            r#"{{"takes":[{{"source":{{"frames":48000,"sample_rate":48000}},"masters":[{{"file":"data/i_pm.flac","audio_md5":"{}"}}]}}]}}"#,
            md5.to_uppercase()
        );
        make_bag(
            root,
            "c",
            "i",
            &[("data/i.qc.json", qc.as_bytes()), ("data/i_pm.flac", b"x")],
        );
        let mut cat = Catalogue::open(&archive).unwrap();
        let rel = Path::new("c/i");
        let rec = item_from_bag(&root.join(rel), rel, &mut ReindexSummary::default()).unwrap();
        cat.register_item(&rec).unwrap();
        let md5s = |cat: &Catalogue| -> Vec<(String, Option<String>)> {
            cat.known_items("c").unwrap().remove(0).files
        };
        let expected = vec![
            ("data/i.qc.json".to_string(), None),
            ("data/i_pm.flac".to_string(), Some(md5.to_string())),
        ];
        assert_eq!(md5s(&cat), expected);
        // Back to what version 2 wrote: no column, user_version 2.
        cat.conn
            .execute_batch("ALTER TABLE files DROP COLUMN audio_md5; PRAGMA user_version = 2;")
            .unwrap();
        drop(cat);
        // Even a read-only open upgrades it, on writable media.
        let cat = Catalogue::open_read_only(&archive).unwrap();
        assert_eq!(cat.versions().unwrap().0, SCHEMA_VERSION);
        assert_eq!(md5s(&cat), expected);
    }

    #[test]
    fn reindex_rebuilds_items_files_events_and_states_from_the_archive() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let archive = Archive::new(root);
        Catalogue::open(&archive).unwrap(); // before the first item, as ingest does
        let qc = br#"{"takes":[{"source":{"frames":96000,"sample_rate":48000}},{"source":{"frames":24000,"sample_rate":48000}}]}"#;
        make_bag(
            root,
            "c",
            "i",
            &[("data/i_pm.flac", b"master"), ("data/i.qc.json", qc)],
        );
        make_bag(root, "c", "j", &[("data/j_pm.flac", b"other")]);
        // Recorded live, as ingest and a watcher would.
        let mut live = Catalogue::open(&archive).unwrap();
        let evs = vec![
            event("c/i", "ingestion", None, "pass", 1),
            event("c/i", "fixity check", Some("data/i_pm.flac"), "fail", 2),
            event("c/j", "move", Some("data/j_pm.flac"), "warning", 3),
        ];
        live.record(&evs).unwrap();
        drop(live);
        // c/j's master really went; a line of the log was damaged; a hostile manifest line.
        std::fs::remove_file(root.join("c/j/data/j_pm.flac")).unwrap();
        let log = archive.meta_dir().join("events.jsonl");
        let mut text = std::fs::read_to_string(&log).unwrap();
        text.push_str("{\"truncated\": \n");
        std::fs::write(&log, text).unwrap();
        let mut manifest = std::fs::read_to_string(root.join("c/i/manifest-sha256.txt")).unwrap();
        manifest.push_str(&format!("{}  ../../etc/passwd\n", sha(b"x")));
        // A payload file replaced by a link is not followed.
        manifest.push_str(&format!("{}  data/link\n", sha(b"x")));
        std::os::unix::fs::symlink("/etc/passwd", root.join("c/i/data/link")).unwrap();
        std::fs::write(root.join("c/i/manifest-sha256.txt"), manifest).unwrap();
        // A bag that is not at collection/id, and a stale temp file from a crashed reindex.
        make_bag(root, "deep/er", "x", &[("data/x", b"x")]);
        std::fs::write(archive.meta_dir().join("catalogue.sqlite.reindex"), b"junk").unwrap();
        // The catalogue itself is garbage.
        std::fs::write(catalogue_path(&archive), vec![0x5Au8; 8192]).unwrap();

        let s = reindex(&archive).unwrap();
        assert_eq!(
            (s.items, s.files, s.missing_files, s.events),
            (2, 4, 2, 3),
            "{s:?}"
        );
        assert_eq!(
            (s.skipped_event_lines, s.skipped_paths, s.skipped_bags),
            (1, 1, 1),
            "{s:?}"
        );
        assert!(!archive.meta_dir().join("catalogue.sqlite.reindex").exists());
        let cat = Catalogue::open(&archive).unwrap();
        assert_eq!(cat.history(None).unwrap(), evs);
        let items = cat.items().unwrap();
        let i = &items[0];
        assert_eq!(i.item, "c/i");
        assert_eq!(i.profile.as_deref(), Some("dat"));
        assert_eq!(i.bagging_date.as_deref(), Some("2026-01-02"));
        assert_eq!(i.audio_seconds, Some(2.5));
        assert_eq!(i.bytes, 6 + qc.len() as u64);
        let m = cat.file_by_path("c/i", "data/i_pm.flac").unwrap().unwrap();
        assert_eq!(m.sha256, sha(b"master"));
        assert_eq!(m.last_outcome.as_deref(), Some("fail"));
        let link = cat.file_by_path("c/i", "data/link").unwrap().unwrap();
        assert_eq!((link.status, link.bytes), (FileStatus::Missing, None));
        let j = cat.file_by_path("c/j", "data/j_pm.flac").unwrap().unwrap();
        assert_eq!(j.status, FileStatus::Moved);
        assert_eq!(cat.report().unwrap().summary.open_problems, 3);
        drop(cat);
        // Again, from a catalogue that is simply gone.
        std::fs::remove_file(catalogue_path(&archive)).unwrap();
        assert!(matches!(open_err(&archive), CatalogueError::Missing { .. }));
        assert_eq!(reindex(&archive).unwrap().events, 3);
        assert_eq!(
            Catalogue::open(&archive).unwrap().history(None).unwrap(),
            evs
        );
    }

    #[test]
    fn reindex_gives_the_file_states_that_recording_gave() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let archive = Archive::new(root);
        let mut live = Catalogue::open(&archive).unwrap();
        make_bag(
            root,
            "c",
            "i",
            &[("data/a", b"a"), ("data/b", b"b"), ("data/m", b"m")],
        );
        make_bag(root, "c", "j", &[("data/x", b"x")]);
        let files = |bag: &str, names: &[&str]| -> Vec<FileRecord> {
            names
                .iter()
                .map(|n| {
                    let path = format!("data/{n}");
                    let bytes = std::fs::read(root.join(bag).join(&path)).unwrap();
                    FileRecord {
                        sha256: sha(&bytes),
                        bytes: Some(bytes.len() as u64),
                        path,
                        audio_md5: None,
                        status: FileStatus::Present,
                    }
                })
                .collect()
        };
        for (id, names) in [("i", &["a", "b", "m"][..]), ("j", &["x"][..])] {
            let mut rec = item("c", id, &[]);
            rec.files = files(&format!("c/{id}"), names);
            rec.payload_oxum = None;
            rec.audio_seconds = None;
            rec.profile = Some("dat".into());
            rec.bagging_date = Some("2026-01-02".into());
            live.register_item(&rec).unwrap();
        }
        live.record(&[
            event("c/i", "fixity check", Some("data/a"), "pass", 1),
            event("c/i", "fixity check", Some("data/b"), "fail", 2),
            event("c/i", "fixity check", Some("data/a"), "warning", 3),
            event("c/i", "move", Some("data/m"), "warning", 4),
            event("c/j", "fixity check", None, "pass", 5),
        ])
        .unwrap();
        std::fs::remove_file(root.join("c/i/data/m")).unwrap();
        let all = |c: &Catalogue| c.files_where("1 ORDER BY i.item_id, f.path", []).unwrap();
        let before = all(&live);
        drop(live);
        reindex(&archive).unwrap();
        let rebuilt = Catalogue::open(&archive).unwrap();
        let mut after = all(&rebuilt);
        // The moved file's size was known live; the rebuild found no file to measure.
        let m = after.iter_mut().find(|f| f.path == "data/m").unwrap();
        assert_eq!((m.status, m.bytes), (FileStatus::Moved, None));
        m.bytes = Some(1);
        assert_eq!(after, before);
        assert_eq!(
            rebuilt.items().unwrap()[1]
                .last_verification
                .as_ref()
                .unwrap()
                .outcome,
            "pass"
        );
    }

    #[test]
    fn events_recorded_during_a_reindex_are_not_lost() {
        let tmp = tempfile::tempdir().unwrap();
        let archive = Archive::new(tmp.path());
        Catalogue::open(&archive).unwrap();
        let done = std::sync::atomic::AtomicBool::new(false);
        let recorded = std::thread::scope(|s| {
            let writer = s.spawn(|| {
                let mut n = 0;
                while !done.load(std::sync::atomic::Ordering::Relaxed) || n < 50 {
                    record(
                        &archive,
                        None,
                        &[event("c/i", "fixity check", None, "pass", n)],
                    )
                    .unwrap();
                    n += 1;
                }
                n
            });
            for _ in 0..5 {
                reindex(&archive).unwrap();
            }
            done.store(true, std::sync::atomic::Ordering::Relaxed);
            writer.join().unwrap()
        });
        let cat = Catalogue::open(&archive).unwrap();
        let history = cat.history(None).unwrap();
        assert_eq!(history.len(), recorded);
        let details: Vec<String> = history.into_iter().map(|e| e.detail).collect();
        let want: Vec<String> = (0..recorded).map(|n| format!("detail {n}")).collect();
        assert_eq!(details, want);
    }

    #[test]
    fn qc_durations_sum_the_takes() {
        assert_eq!(
            qc_audio_seconds(br#"{"takes":[{"source":{"frames":44100,"sample_rate":44100}}]}"#),
            Some(1.0)
        );
        assert_eq!(qc_audio_seconds(br#"{"takes":[{"source":{}}]}"#), None);
        assert_eq!(qc_audio_seconds(b"nope"), None);
    }
}
