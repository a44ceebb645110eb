//! `capstan catalogue copy`: an archive's catalogue moved from one engine to the other
//! (SQLite's file in `.capstan` to a schema on PostgreSQL, or back), whole, and the archive's
//! settings switched to it.
//!
//! Promises: every item, file (with its state and last check) and event (in its order) is
//! copied, and the counts are compared before anything is switched; the copy is built aside
//! (`catalogue.sqlite.copy`, or the schema `…__copy`) and put in place only when complete,
//! then `archive.toml` names it; no writer can record in between (the catalogue lock is held
//! exclusively throughout). A schema that already holds a catalogue (another archive's) is
//! never replaced. The old catalogue is left where it was, unused, so the move can be undone by
//! copying back.

use super::*;

/// Where a catalogue is to go.
#[derive(Debug, Clone)]
pub enum Destination {
    /// The archive's own `.capstan/catalogue.sqlite`.
    Sqlite,
    /// A schema on PostgreSQL.
    Postgres(CatalogueSettings),
}

/// What a copy moved.
#[derive(Debug, Clone, Serialize)]
pub struct CopySummary {
    pub from: String,
    pub to: String,
    pub items: u64,
    pub files: u64,
    pub events: u64,
}

/// The tables in the order they are copied (files refer to items), with every column.
const TABLES: &[(&str, &str, &[&str])] = &[
    (
        "items",
        "id",
        &[
            "id",
            "collection",
            "item_id",
            "bag_path",
            "profile",
            "bagging_date",
            "payload_oxum",
            "audio_seconds",
            "needs_listen",
            "registered_at",
        ],
    ),
    (
        "files",
        "id",
        &[
            "id",
            "item",
            "path",
            "bytes",
            "sha256",
            "status",
            "last_checked",
            "last_outcome",
            "last_detail",
            "audio_md5",
        ],
    ),
    ("events", "seq", EVENT_FIELDS),
];

/// Copies the archive's catalogue to `to` and switches the archive to it.
pub fn copy(archive: &Archive, to: Destination) -> Result<CopySummary, CatalogueError> {
    let from_path = PathBuf::from(describe(archive));
    let io_err = |file: &Path| {
        let (path, file) = (from_path.clone(), file.to_path_buf());
        move |source| CatalogueError::Io { path, file, source }
    };
    let meta = meta_dir_of(archive, &from_path)?;
    let one_at_a_time = meta.join("reindex.lock");
    let guard = open_lock(&one_at_a_time).map_err(io_err(&one_at_a_time))?;
    if guard.try_lock().is_err() {
        return Err(CatalogueError::ReindexRunning { path: from_path });
    }
    // Held exclusively until the settings name the copy: nobody records into the old one
    // after it was read.
    let lock_file = lock_path(archive);
    let lock = open_lock(&lock_file).map_err(io_err(&lock_file))?;
    lock.lock().map_err(io_err(&lock_file))?;

    let current = backend(archive)?;
    let source = match &current {
        Some(pg) => Catalogue::open_pg(archive, pg, &pg.schema, pg::Absent::CreateIfEmpty)?,
        None => {
            let path = catalogue_path(archive);
            if path.symlink_metadata().is_err()
                && archive_holds_items(archive).map_err(io_err(&archive.root))?
            {
                return Err(CatalogueError::Missing { path });
            }
            Catalogue::open_at(&path, archive, true)?
        }
    };
    let same = match (&current, &to) {
        (None, Destination::Sqlite) => true,
        (Some(a), Destination::Postgres(b)) => a.url == b.url && a.schema == b.schema,
        _ => false,
    };
    if same {
        return Err(CatalogueError::Postgres {
            path: source.path.clone(),
            detail: "the catalogue is already there".into(),
        });
    }
    let temp = meta.join("catalogue.sqlite.copy");
    let (dest, built) = match &to {
        Destination::Sqlite => {
            remove_sqlite_files(&temp, &["", "-wal", "-shm", "-journal"], &from_path)?;
            (Catalogue::open_at(&temp, archive, true)?, None)
        }
        Destination::Postgres(pg) => {
            // Never over another catalogue: the schema must hold none.
            let there = Catalogue::open_pg(archive, pg, &pg.schema, pg::Absent::ReadOnly);
            if let Ok(there) = there {
                if there.is_shared() {
                    return Err(CatalogueError::Postgres {
                        path: there.path.clone(),
                        detail: format!("schema {} already holds a catalogue (another archive's, or an earlier copy of this one); it is never replaced: choose another --schema, or drop that schema once you know it is not needed", pg.schema),
                    });
                }
            }
            let built = format!("{}__copy", pg.schema);
            pg::drop_schema(pg, &built)?;
            (
                Catalogue::open_pg(archive, pg, &built, pg::Absent::Create)?,
                Some(built),
            )
        }
    };
    let mut summary = CopySummary {
        from: source.location(),
        to: match &to {
            Destination::Sqlite => catalogue_path(archive).display().to_string(),
            Destination::Postgres(pg) => pg::location(pg, &pg.schema).display().to_string(),
        },
        items: 0,
        files: 0,
        events: 0,
    };
    let (source_path, dest_path) = (source.path.clone(), dest.path.clone());
    let from_sql = sql_err(&source_path);
    let to_sql = sql_err(&dest_path);
    let tx = dest.conn.transaction().map_err(&to_sql)?;
    for (table, key, columns) in TABLES {
        let select = format!(
            "SELECT {} FROM {table} WHERE {key} > ?1 ORDER BY {key} LIMIT 10000",
            columns.join(", ")
        );
        let mut after = i64::MIN;
        loop {
            let rows = source
                .conn
                .query(&select, vals![after])
                .map_err(&from_sql)?;
            let Some(last) = rows.last() else { break };
            after = last.get(0).map_err(&from_sql)?;
            let rows: Vec<Vec<Value>> = rows.into_iter().map(Row::values).collect();
            insert_rows(&tx, table, columns, &rows).map_err(&to_sql)?;
        }
        if dest.conn.is_postgres() {
            // Rows went in with their own keys: the next one made follows them.
            tx.query(
                &format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', '{key}'), \
                     coalesce(max({key}), 0) + 1, false) FROM {table}"
                ),
                &[],
            )
            .map_err(&to_sql)?;
        }
    }
    tx.commit().map_err(&to_sql)?;
    for (table, _, _) in TABLES {
        let q = format!("SELECT count(*) FROM {table}");
        let (a, b) = (source.count(&q)?, dest.count(&q)?);
        if a != b {
            return Err(CatalogueError::Postgres {
                path: dest.path.clone(),
                detail: format!("the copy has {b} rows of {table} where the catalogue has {a}; nothing was switched"),
            });
        }
        match *table {
            "items" => summary.items = a,
            "files" => summary.files = a,
            _ => summary.events = a,
        }
    }
    drop(source);
    // In place, then named in the settings.
    match (&to, built) {
        (Destination::Postgres(pg), Some(built)) => {
            drop(dest);
            pg::swap_schema(pg, &built, &pg.schema)?;
            crate::archive::settings::set_catalogue(archive, Some(pg.clone()))
                .map_err(CatalogueError::Settings)?;
        }
        _ => {
            put_in_place(dest, &temp, &catalogue_path(archive))?;
            crate::archive::settings::set_catalogue(archive, None)
                .map_err(CatalogueError::Settings)?;
        }
    }
    drop(lock);
    drop(guard);
    Ok(summary)
}
