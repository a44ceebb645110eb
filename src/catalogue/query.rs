//! Queries: an item's history, files by path, digest or age of their last check, the items and the archive report.

use super::*;

pub(super) const FILE_COLUMNS: &str =
    "i.collection || '/' || i.item_id, i.bag_path, f.path, f.bytes, \
     f.sha256, f.status, f.last_checked, f.last_outcome, f.last_detail, f.audio_md5";

pub(super) fn file_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<FileRow> {
    Ok(FileRow {
        item: r.get(0)?,
        bag_path: r.get(1)?,
        path: r.get(2)?,
        bytes: r.get::<_, Option<i64>>(3)?.map(|b| b as u64),
        sha256: r.get(4)?,
        status: FileStatus::parse(&r.get::<_, String>(5)?),
        last_checked: r.get(6)?,
        last_outcome: r.get::<_, Option<String>>(7)?.map(Outcome::from),
        last_detail: r.get(8)?,
        audio_md5: r.get(9)?,
    })
}

/// `collection/id` split at its first `/`.
pub(super) fn split_item(item: &str) -> (&str, &str) {
    item.split_once('/').unwrap_or(("", item))
}

impl Catalogue {
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

    /// The events of one item (`collection/id`), or of all, in the order recorded.
    pub fn history(&self, item: Option<&str>) -> Result<Vec<Event>, CatalogueError> {
        let sql = sql_err(&self.path);
        let map = |r: &rusqlite::Row<'_>| {
            Ok(Event {
                copy: None,
                date_time: r.get(0)?,
                event_type: r.get::<_, String>(1)?.into(),
                item: r.get(2)?,
                file: r.get(3)?,
                outcome: r.get::<_, String>(4)?.into(),
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
                copy: None,
                date_time: r.get(0)?,
                event_type: r.get::<_, String>(1)?.into(),
                item: r.get(2)?,
                file: r.get(3)?,
                outcome: r.get::<_, String>(4)?.into(),
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

    /// When replica `name` last had an event of `event_type` (`replication`, `fixity check`)
    /// recorded, and its outcome (replica events name their replica first in their detail).
    pub fn last_replica_event(
        &self,
        name: &str,
        event_type: &str,
    ) -> Result<Option<(String, String)>, CatalogueError> {
        let sql = sql_err(&self.path);
        let like = |s: &str| {
            s.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        };
        let pattern = match event_type {
            "replication" => format!("copied to replica {} (%", like(name)),
            _ => format!("replica {} (%", like(name)),
        };
        self.conn
            .query_row(
                "SELECT date_time, outcome FROM events WHERE event_type = ?1 \
                 AND detail LIKE ?2 ESCAPE '\\' ORDER BY seq DESC LIMIT 1",
                rusqlite::params![event_type, pattern],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(&sql)
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
                    copy: None,
                    date_time: r.get(0)?,
                    event_type: r.get::<_, String>(1)?.into(),
                    item: r.get(2)?,
                    file: r.get(3)?,
                    outcome: r.get::<_, String>(4)?.into(),
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

    pub(super) fn files_where(
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
                outcome: r.get::<_, String>(1)?.into(),
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
                .filter(|v| v.outcome == Outcome::Fail);
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
