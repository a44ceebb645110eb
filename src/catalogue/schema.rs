//! The catalogue's schema: the tables a new catalogue is made with, and the migrations that bring an older one up to [`SCHEMA_VERSION`], in order.

use super::*;

/// The schema this code reads and writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 3;
/// `PRAGMA application_id`: "CPST", so that another program's SQLite file is not taken for ours.
pub const APPLICATION_ID: i64 = 0x4350_5354;

pub(super) const SCHEMA: &str = "
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

impl Catalogue {
    pub(super) fn versions(&self) -> Result<(i64, i64), CatalogueError> {
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
    pub(super) fn create_schema(&self) -> Result<(), CatalogueError> {
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
    /// Brings a catalogue of schema `version` up to [`SCHEMA_VERSION`], one migration at a time,
    /// each in its own write transaction that first checks no other process did it meanwhile.
    pub(super) fn migrate(&self, version: i64) -> Result<(), CatalogueError> {
        for m in MIGRATIONS.iter().filter(|m| m.from >= version) {
            let sql = sql_err(&self.path);
            let tx =
                Transaction::new_unchecked(&self.conn, rusqlite::TransactionBehavior::Immediate)
                    .map_err(&sql)?;
            // Another process may have migrated it while this one waited for the write lock.
            if self.versions()?.0 != m.from {
                tx.commit().map_err(&sql)?;
                continue;
            }
            (m.apply)(self, &tx)?;
            tx.pragma_update(None, "user_version", m.from + 1)
                .map_err(&sql)?;
            tx.commit().map_err(&sql)?;
        }
        Ok(())
    }
}

/// One step of the schema, from version `from` to `from + 1`.
pub(super) struct Migration {
    pub(super) from: i64,
    pub(super) apply: fn(&Catalogue, &Transaction<'_>) -> Result<(), CatalogueError>,
}

/// Every migration, oldest first: each takes the schema from its `from` to the next version,
/// and the last one reaches [`SCHEMA_VERSION`]. A new column or table is a new entry here
/// (and in [`SCHEMA`], which new catalogues are made with).
pub(super) const MIGRATIONS: &[Migration] = &[
    Migration {
        from: 1,
        apply: items_gain_needs_listen,
    },
    Migration {
        from: 2,
        apply: files_gain_audio_md5,
    },
];

/// Version 1 to 2: items gain `needs_listen`, read from each bag's QC report (a bag whose
/// report cannot be read keeps NULL, as a reindex would give it).
fn items_gain_needs_listen(cat: &Catalogue, tx: &Transaction<'_>) -> Result<(), CatalogueError> {
    let sql = sql_err(&cat.path);
    tx.execute_batch("ALTER TABLE items ADD COLUMN needs_listen TEXT")
        .map_err(&sql)?;
    for (row, bag_path, id) in bags_of(cat, tx)? {
        let bag = cat.archive.root.join(&bag_path);
        let listen = read_tag_file(&bag, &format!("data/{id}.qc.json"))
            .ok()
            .and_then(|b| QcReport::read(&b).ok())
            .and_then(|qc| qc_needs_listen(&qc));
        tx.execute(
            "UPDATE items SET needs_listen = ?1 WHERE id = ?2",
            params![listen, row],
        )
        .map_err(&sql)?;
    }
    Ok(())
}

/// Version 2 to 3: files gain `audio_md5`, read from each bag's QC report (a bag whose
/// report cannot be read keeps NULL, as a reindex would give it).
fn files_gain_audio_md5(cat: &Catalogue, tx: &Transaction<'_>) -> Result<(), CatalogueError> {
    let sql = sql_err(&cat.path);
    tx.execute_batch("ALTER TABLE files ADD COLUMN audio_md5 TEXT")
        .map_err(&sql)?;
    let mut set = tx
        .prepare("UPDATE files SET audio_md5 = ?3 WHERE item = ?1 AND path = ?2")
        .map_err(&sql)?;
    for (row, bag_path, id) in bags_of(cat, tx)? {
        let bag = cat.archive.root.join(&bag_path);
        let Some(qc) = read_tag_file(&bag, &format!("data/{id}.qc.json"))
            .ok()
            .and_then(|b| QcReport::read(&b).ok())
        else {
            continue;
        };
        for (path, md5) in qc.audio_md5s() {
            set.execute(params![row, path, md5]).map_err(&sql)?;
        }
    }
    Ok(())
}

/// Every item's row, bag path and id, for a migration that reads the bags; a bag path that
/// would leave the archive is left out.
fn bags_of(
    cat: &Catalogue,
    tx: &Transaction<'_>,
) -> Result<Vec<(i64, String, String)>, CatalogueError> {
    let items: Vec<(i64, String, String)> = tx
        .prepare("SELECT id, bag_path, item_id FROM items")
        .and_then(|mut st| {
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect()
        })
        .map_err(sql_err(&cat.path))?;
    Ok(items
        .into_iter()
        .filter(|(_, bag_path, _)| safe_payload_path(bag_path))
        .collect())
}
