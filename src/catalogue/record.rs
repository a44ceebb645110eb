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
    if !apply {
        // Nothing else to do per event: many to a statement (a reindex's whole log).
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
        return insert_rows(
            tx,
            "events",
            &[
                "date_time",
                "event_type",
                "item",
                "file",
                "outcome",
                "detail",
                "agent",
            ],
            &rows,
        );
    }
    for e in events {
        tx.execute(
            "INSERT INTO events (date_time, event_type, item, file, outcome, detail, agent)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            vals![
                &e.date_time,
                e.event_type.as_str(),
                &e.item,
                &e.file,
                e.outcome.as_str(),
                &e.detail,
                &e.agent
            ],
        )?;
        apply_event(tx, e)?;
    }
    Ok(())
}

/// What an event says about a file's state.
pub(super) fn apply_event(tx: &Conn, e: &Event) -> Result<(), DbError> {
    let Some(file) = &e.file else { return Ok(()) };
    // A replica's copy of the file says nothing about the archive's own.
    if e.copy.is_some() {
        return Ok(());
    }
    let (collection, id) = split_item(&e.item);
    let status = match e.event_type {
        // A file that could be checked is there, whatever the outcome.
        EventType::FixityCheck => {
            set_checked(
                tx,
                collection,
                id,
                file,
                &e.date_time,
                e.outcome.as_str(),
                &e.detail,
            )?;
            FileStatus::Present
        }
        EventType::Move => FileStatus::Moved,
        EventType::Deletion => FileStatus::Missing,
        _ => return Ok(()),
    };
    tx.execute(
        "UPDATE files SET status = ?4 WHERE path = ?3 AND item =
           (SELECT id FROM items WHERE collection = ?1 AND item_id = ?2)",
        vals![collection, id, file, status.as_str()],
    )?;
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
    for f in &item.files {
        tx.execute(
            "INSERT INTO files (item, path, bytes, sha256, status, audio_md5)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (item, path) DO UPDATE SET
                bytes = excluded.bytes, status = excluded.status, audio_md5 = excluded.audio_md5,
                last_checked = CASE WHEN files.sha256 = excluded.sha256 THEN files.last_checked END,
                last_outcome = CASE WHEN files.sha256 = excluded.sha256 THEN files.last_outcome END,
                last_detail = CASE WHEN files.sha256 = excluded.sha256 THEN files.last_detail END,
                sha256 = excluded.sha256",
            vals![
                row,
                &f.path,
                f.bytes.map(|b| b as i64),
                &f.sha256,
                f.status.as_str(),
                &f.audio_md5
            ],
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
