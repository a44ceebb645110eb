//! Recording: events into `events.jsonl` and the catalogue, items registered, file states set.

use super::*;

impl Catalogue {
    /// Records events: appended to `events.jsonl` first, then indexed here in one transaction.
    pub fn record(&mut self, events: &[Event]) -> Result<(), RecordError> {
        events::append(&self.archive, events)?;
        self.index_events(events)?;
        Ok(())
    }

    /// Indexes events already appended to `events.jsonl`, applying their effects on files.
    pub(super) fn index_events(&mut self, events: &[Event]) -> Result<(), CatalogueError> {
        self.write(|tx| insert_events(tx, events, true))
    }

    /// Registers an item and its files in one transaction. Registering a known item updates it:
    /// its fields, its files' sizes, digests and states (a file whose digest changed loses its
    /// last check), and files no longer in the bag are dropped.
    pub fn register_item(&mut self, item: &ItemRecord) -> Result<(), CatalogueError> {
        self.write(|tx| upsert_item(tx, item))
    }

    /// Registers an item and records its events in one catalogue transaction (ingest).
    pub(super) fn register_and_index(
        &mut self,
        item: &ItemRecord,
        events: &[Event],
    ) -> Result<(), CatalogueError> {
        self.write(|tx| {
            upsert_item(tx, item)?;
            insert_events(tx, events, true)
        })
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
                vals![collection, id, path, status.as_str()],
            )
            .map(|n| n > 0)
        })
    }

    /// Notes a fixity check of a file: when (RFC 3339), its outcome and detail. False if the
    /// catalogue does not know the file.
    pub fn set_file_checked(
        &mut self,
        item: &str,
        path: &str,
        date_time: &str,
        outcome: &Outcome,
        detail: &str,
    ) -> Result<bool, CatalogueError> {
        let (collection, id) = split_item(item);
        self.write(|tx| {
            set_checked(
                tx,
                collection,
                id,
                path,
                date_time,
                outcome.as_str(),
                detail,
            )
            .map(|n| n > 0)
        })
    }
}

pub(super) fn insert_events(tx: &Conn, events: &[Event], apply: bool) -> Result<(), DbError> {
    // Many to a statement: a verify's thousands of events are a few round trips, not three
    // each (which on PostgreSQL is most of the cost).
    let rows: Vec<Vec<Value>> = events
        .iter()
        .map(|e| {
            vec![
                Value::from(&e.date_time),
                e.event_type.as_str().into(),
                Value::from(&e.item),
                Value::from(&e.file),
                e.outcome.as_str().into(),
                Value::from(&e.detail),
                Value::from(&e.agent),
            ]
        })
        .collect();
    // Without `seq`: the engine numbers them in the order given.
    insert_rows(tx, "events", &EVENT_FIELDS[1..], &rows)?;
    if apply {
        let effects = events.iter().filter(|e| e.copy.is_none()).filter_map(|e| {
            let file = e.file.as_deref()?;
            Some(FileEffect {
                item: &e.item,
                file,
                kind: e.event_type.as_str(),
                date_time: &e.date_time,
                outcome: e.outcome.as_str(),
                detail: &e.detail,
            })
        });
        apply_effects(tx, effects, true)?;
    }
    Ok(())
}

/// An event's bearing on one file of the archive's own copy.
pub(super) struct FileEffect<'a> {
    pub(super) item: &'a str,
    pub(super) file: &'a str,
    pub(super) kind: &'a str,
    pub(super) date_time: &'a str,
    pub(super) outcome: &'a str,
    pub(super) detail: &'a str,
}

/// Applies what events (in the order recorded) say about files: a `fixity check` sets the
/// file's last check, a `move` marks it moved, a `deletion` missing. `live`: as recorded, where
/// a file that could be checked is there (present); otherwise as replayed over files
/// registered from the bags, where a move or deletion only marks a file that was not found.
/// Only each file's last check and last state matter, so they are worked out here and written
/// in a few statements (a file's row updated once), whatever the number of events.
pub(super) fn apply_effects<'a>(
    tx: &Conn,
    effects: impl Iterator<Item = FileEffect<'a>>,
    live: bool,
) -> Result<(), DbError> {
    use std::collections::HashMap;
    let mut checks: HashMap<(&str, &str), [&str; 3]> = HashMap::new();
    let mut states: HashMap<(&str, &str), FileStatus> = HashMap::new();
    for e in effects {
        let key = (e.item, e.file);
        let status = match e.kind {
            "fixity check" => {
                checks.insert(key, [e.date_time, e.outcome, e.detail]);
                if !live {
                    continue;
                }
                FileStatus::Present
            }
            "move" => FileStatus::Moved,
            "deletion" => FileStatus::Missing,
            _ => continue,
        };
        states.insert(key, status);
    }
    let key_values = |(item, file): (&str, &str)| {
        let (collection, id) = split_item(item);
        [collection.into(), id.into(), file.into()]
    };
    let checks: Vec<Vec<Value>> = checks
        .into_iter()
        .map(|(k, [d, o, t])| {
            let mut row = key_values(k).to_vec();
            row.extend([d.into(), o.into(), t.into()]);
            row
        })
        .collect();
    update_files(
        tx,
        &checks,
        &["date_time", "outcome", "detail"],
        "last_checked = v.date_time, last_outcome = v.outcome, last_detail = v.detail",
        "",
    )?;
    let states: Vec<Vec<Value>> = states
        .into_iter()
        .map(|(k, status)| {
            let mut row = key_values(k).to_vec();
            row.push(status.as_str().into());
            row
        })
        .collect();
    update_files(
        tx,
        &states,
        &["status"],
        "status = v.status",
        if live {
            ""
        } else {
            " AND files.status <> 'present'"
        },
    )
}

/// `UPDATE files SET {set}` for many files at once, each row naming a file (collection, item
/// id, path) and then the values `columns` name, as `v.<column>` to `set`.
fn update_files(
    tx: &Conn,
    rows: &[Vec<Value>],
    columns: &[&str],
    set: &str,
    only: &str,
) -> Result<(), DbError> {
    let names: Vec<&str> = ["collection", "item_id", "path"]
        .into_iter()
        .chain(columns.iter().copied())
        .collect();
    // The columns of a VALUES list are column1, column2, … in both engines.
    let named: Vec<String> = names
        .iter()
        .enumerate()
        .map(|(i, c)| format!("column{} AS {c}", i + 1))
        .collect();
    for chunk in rows.chunks(4_000 / names.len()) {
        let values: Vec<Value> = chunk.iter().flatten().cloned().collect();
        tx.execute_once(
            &format!(
                "UPDATE files SET {set} FROM (SELECT {} FROM (VALUES {}) AS t) v
                 WHERE files.path = v.path{only} AND files.item =
                   (SELECT id FROM items WHERE collection = v.collection AND item_id = v.item_id)",
                named.join(", "),
                tuples(chunk.len(), names.len())
            ),
            &values,
        )?;
    }
    Ok(())
}

pub(super) fn set_checked(
    tx: &Conn,
    collection: &str,
    id: &str,
    path: &str,
    date_time: &str,
    outcome: &str,
    detail: &str,
) -> Result<u64, DbError> {
    tx.execute(
        "UPDATE files SET last_checked = ?4, last_outcome = ?5, last_detail = ?6
         WHERE path = ?3 AND item = (SELECT id FROM items WHERE collection = ?1 AND item_id = ?2)",
        vals![collection, id, path, date_time, outcome, detail],
    )
}

pub(super) fn upsert_item(tx: &Conn, item: &ItemRecord) -> Result<(), DbError> {
    let row: i64 = tx
        .query_one(
            "INSERT INTO items (collection, item_id, bag_path, profile, bagging_date, payload_oxum,
                                audio_seconds, needs_listen, registered_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (collection, item_id) DO UPDATE SET
                bag_path = excluded.bag_path, profile = excluded.profile,
                bagging_date = excluded.bagging_date, payload_oxum = excluded.payload_oxum,
                audio_seconds = excluded.audio_seconds, needs_listen = excluded.needs_listen,
                registered_at = excluded.registered_at
             RETURNING id",
            vals![
                &item.collection,
                &item.id,
                &item.bag_path,
                &item.profile,
                &item.bagging_date,
                &item.payload_oxum,
                item.audio_seconds,
                &item.needs_listen,
                now_rfc3339()
            ],
        )?
        .get(0)?;
    // Many to a statement (one round trip per 800 files on PostgreSQL). A path listed twice
    // (a hostile manifest) is registered once, as its last listing says: one statement may
    // not update a row twice.
    let mut last = std::collections::HashMap::new();
    for (i, f) in item.files.iter().enumerate() {
        last.insert(f.path.as_str(), i);
    }
    let files: Vec<&FileRecord> = item
        .files
        .iter()
        .enumerate()
        .filter(|(i, f)| last[f.path.as_str()] == *i)
        .map(|(_, f)| f)
        .collect();
    for chunk in files.chunks(800) {
        let values: Vec<Value> = chunk
            .iter()
            .flat_map(|f| {
                [
                    Value::from(row),
                    Value::from(&f.path),
                    Value::from(f.bytes.map(|b| b as i64)),
                    Value::from(&f.sha256),
                    f.status.as_str().into(),
                    Value::from(&f.audio_md5),
                ]
            })
            .collect();
        tx.execute_once(
            &format!(
                "INSERT INTO files (item, path, bytes, sha256, status, audio_md5) VALUES {}
                 ON CONFLICT (item, path) DO UPDATE SET
                    bytes = excluded.bytes, status = excluded.status, audio_md5 = excluded.audio_md5,
                    last_checked = CASE WHEN files.sha256 = excluded.sha256 THEN files.last_checked END,
                    last_outcome = CASE WHEN files.sha256 = excluded.sha256 THEN files.last_outcome END,
                    last_detail = CASE WHEN files.sha256 = excluded.sha256 THEN files.last_detail END,
                    sha256 = excluded.sha256",
                tuples(chunk.len(), 6)
            ),
            &values,
        )?;
    }
    // Files the bag no longer lists.
    let keep: std::collections::HashSet<&str> =
        item.files.iter().map(|f| f.path.as_str()).collect();
    let known = tx.query("SELECT path FROM files WHERE item = ?1", vals![row])?;
    for r in known {
        let path: String = r.get(0)?;
        if !keep.contains(path.as_str()) {
            tx.execute(
                "DELETE FROM files WHERE item = ?1 AND path = ?2",
                vals![row, &path],
            )?;
        }
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
