//! Queries: an item's history, files by path, digest or age of their last check, the items and the archive report.

use super::*;

pub(super) const FILE_COLUMNS: &str =
    "i.collection || '/' || i.item_id, i.bag_path, f.path, f.bytes, \
     f.sha256, f.status, f.last_checked, f.last_outcome, f.last_detail, f.audio_md5";

pub(super) fn file_row(r: &Row) -> Result<FileRow, DbError> {
    Ok(FileRow {
        item: r.get(0)?,
        bag_path: r.get(1)?,
        path: r.get(2)?,
        bytes: r.get::<Option<i64>>(3)?.map(|b| b as u64),
        sha256: r.get(4)?,
        status: FileStatus::parse(&r.get::<String>(5)?),
        last_checked: r.get(6)?,
        last_outcome: r.get::<Option<String>>(7)?.map(Outcome::from),
        last_detail: r.get(8)?,
        audio_md5: r.get(9)?,
    })
}

pub(super) const EVENT_COLUMNS: &str =
    "SELECT date_time, event_type, item, file, outcome, detail, agent FROM events";

pub(super) fn event_row(r: &Row) -> Result<Event, DbError> {
    Ok(Event {
        copy: None,
        date_time: r.get(0)?,
        event_type: r.get::<String>(1)?.into(),
        item: r.get(2)?,
        file: r.get(3)?,
        outcome: r.get::<String>(4)?.into(),
        detail: r.get(5)?,
        agent: r.get(6)?,
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
        let rows = self
            .conn
            .query(
                "SELECT i.collection || '/' || i.item_id, i.bag_path, f.path, f.audio_md5
                 FROM items i LEFT JOIN files f ON f.item = i.id
                 WHERE ?1 = '' OR i.bag_path = ?1 OR substr(i.bag_path, 1, length(?1) + 1) = ?1 || '/'
                 ORDER BY i.collection, i.item_id, f.path",
                vals![under],
            )
            .map_err(&sql)?;
        let mut out: Vec<KnownItem> = Vec::new();
        for r in rows {
            let (item, bag_path, file, md5): (String, String, Option<String>, Option<String>) = (
                r.get(0).map_err(&sql)?,
                r.get(1).map_err(&sql)?,
                r.get(2).map_err(&sql)?,
                r.get(3).map_err(&sql)?,
            );
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
        let logged = self
            .conn
            .query(
                "SELECT DISTINCT item FROM events WHERE event_type = 'ingestion' ORDER BY item",
                &[],
            )
            .map_err(&sql)?;
        for r in logged {
            let item: String = r.get(0).map_err(&sql)?;
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

    /// Rows mapped, each error naming the catalogue.
    pub(super) fn rows<T>(
        &self,
        q: &str,
        values: &[Value],
        map: impl Fn(&Row) -> Result<T, DbError>,
    ) -> Result<Vec<T>, CatalogueError> {
        let sql = sql_err(&self.path);
        let rows = self.conn.query(q, values).map_err(&sql)?;
        rows.iter().map(|r| map(r).map_err(&sql)).collect()
    }

    /// The first row mapped, if any.
    pub(super) fn row<T>(
        &self,
        q: &str,
        values: &[Value],
        map: impl Fn(&Row) -> Result<T, DbError>,
    ) -> Result<Option<T>, CatalogueError> {
        let sql = sql_err(&self.path);
        match self.conn.query_opt(q, values).map_err(&sql)? {
            Some(r) => Ok(Some(map(&r).map_err(&sql)?)),
            None => Ok(None),
        }
    }

    /// The events of one item (`collection/id`), or of all, in the order recorded.
    pub fn history(&self, item: Option<&str>) -> Result<Vec<Event>, CatalogueError> {
        match item {
            Some(item) => self.rows(
                &format!("{EVENT_COLUMNS} WHERE item = ?1 ORDER BY seq"),
                vals![item],
                event_row,
            ),
            None => self.rows(&format!("{EVENT_COLUMNS} ORDER BY seq"), &[], event_row),
        }
    }

    /// The latest event of an item's file (or of the item itself, with `file` None).
    pub fn last_event(
        &self,
        item: &str,
        file: Option<&str>,
    ) -> Result<Option<Event>, CatalogueError> {
        match file {
            Some(f) => self.row(
                &format!("{EVENT_COLUMNS} WHERE item = ?1 AND file = ?2 ORDER BY seq DESC LIMIT 1"),
                vals![item, f],
                event_row,
            ),
            None => self.row(
                &format!(
                    "{EVENT_COLUMNS} WHERE item = ?1 AND file IS NULL ORDER BY seq DESC LIMIT 1"
                ),
                vals![item],
                event_row,
            ),
        }
    }

    /// When replica `name` last had an event of `event_type` (`replication`, `fixity check`)
    /// recorded, and its outcome (replica events name their replica first in their detail).
    pub fn last_replica_event(
        &self,
        name: &str,
        event_type: &str,
    ) -> Result<Option<(String, String)>, CatalogueError> {
        let like = |s: &str| {
            s.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        };
        let pattern = match event_type {
            "replication" => format!("copied to replica {} (%", like(name)),
            _ => format!("replica {} (%", like(name)),
        };
        self.row(
            "SELECT date_time, outcome FROM events WHERE event_type = ?1 \
             AND detail LIKE ?2 ESCAPE '\\' ORDER BY seq DESC LIMIT 1",
            vals![event_type, pattern],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }

    /// One page of the archive's events, newest first: `limit` events after skipping the
    /// `offset` newest. Paged in the query, so a long history is never loaded whole (the
    /// station's event log).
    pub fn recent_events(&self, limit: u32, offset: u64) -> Result<Vec<Event>, CatalogueError> {
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        self.rows(
            &format!("{EVENT_COLUMNS} ORDER BY seq DESC LIMIT ?1 OFFSET ?2"),
            vals![limit, offset],
            event_row,
        )
    }

    /// The item a name means: `collection/id` as given, or a bare id when exactly one
    /// collection has it. Items known only from their events count too. None if unknown.
    pub fn resolve_item(&self, name: &str) -> Result<Option<String>, CatalogueError> {
        let mut found: Vec<String> = self.rows(
            "SELECT collection || '/' || item_id AS name FROM items
               WHERE collection || '/' || item_id = ?1 OR item_id = ?1
             UNION
             SELECT DISTINCT item FROM events
               WHERE item = ?1 OR item LIKE '%/' || ?1
             ORDER BY name",
            vals![name],
            |r| r.get(0),
        )?;
        // LIKE may ignore case and takes `_` as a wildcard: keep exact matches only.
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
        self.row(
            &format!(
                "SELECT {FILE_COLUMNS} FROM files f JOIN items i ON i.id = f.item
                 WHERE i.collection = ?1 AND i.item_id = ?2 AND f.path = ?3"
            ),
            vals![collection, id, path],
            file_row,
        )
    }

    /// Every file with this SHA-256 (lower-case hex), in any item.
    pub fn files_by_digest(&self, sha256: &str) -> Result<Vec<FileRow>, CatalogueError> {
        self.files_where(
            "f.sha256 = ?1 ORDER BY i.collection, i.item_id, f.path",
            vals![sha256.to_ascii_lowercase()],
        )
    }

    /// Every file of an item (`collection/id`), by path.
    pub fn files_of(&self, item: &str) -> Result<Vec<FileRow>, CatalogueError> {
        let (collection, id) = split_item(item);
        self.files_where(
            "i.collection = ?1 AND i.item_id = ?2 ORDER BY f.path",
            vals![collection, id],
        )
    }

    /// The `limit` files checked least recently (never checked first), for a rolling schedule.
    pub fn least_recently_checked(&self, limit: usize) -> Result<Vec<FileRow>, CatalogueError> {
        self.files_where(
            "f.status = 'present' ORDER BY f.last_checked NULLS FIRST, f.id LIMIT ?1",
            vals![limit as i64],
        )
    }

    pub(super) fn files_where(
        &self,
        clause: &str,
        values: &[Value],
    ) -> Result<Vec<FileRow>, CatalogueError> {
        self.rows(
            &format!(
                "SELECT {FILE_COLUMNS} FROM files f JOIN items i ON i.id = f.item WHERE {clause}"
            ),
            values,
            file_row,
        )
    }

    /// Every item with its size, duration, last verification and open problems, sorted.
    pub fn items(&self) -> Result<Vec<ItemSummary>, CatalogueError> {
        let mut items: Vec<ItemSummary> = self.rows(
            "SELECT i.collection || '/' || i.item_id, i.bag_path, i.profile, i.bagging_date,
                    i.audio_seconds, i.needs_listen,
                    (SELECT count(*) FROM files f WHERE f.item = i.id),
                    (SELECT CAST(coalesce(sum(f.bytes), 0) AS BIGINT) FROM files f WHERE f.item = i.id)
             FROM items i ORDER BY i.collection, i.item_id",
            &[],
            |r| {
                Ok(ItemSummary {
                    item: r.get(0)?,
                    bag_path: r.get(1)?,
                    profile: r.get(2)?,
                    bagging_date: r.get(3)?,
                    audio_seconds: r.get(4)?,
                    needs_listen: r.get(5)?,
                    files: r.get::<i64>(6)? as u64,
                    bytes: r.get::<i64>(7)? as u64,
                    last_verification: None,
                    bag_failed: None,
                    problems: Vec::new(),
                })
            },
        )?;
        // Each item's latest fixity check, and the latest of the bag itself, in one query each
        // (not two per item: on PostgreSQL every query is a round trip).
        let latest = |only_bag: bool| {
            self.rows(
                &format!(
                    "SELECT e.item, e.date_time, e.outcome, e.detail FROM events e JOIN
                       (SELECT item, max(seq) AS seq FROM events
                        WHERE event_type = 'fixity check'{} GROUP BY item) m ON m.seq = e.seq",
                    if only_bag { " AND file IS NULL" } else { "" }
                ),
                &[],
                |r| {
                    Ok((
                        r.get::<String>(0)?,
                        Verification {
                            date_time: r.get(1)?,
                            outcome: r.get::<String>(2)?.into(),
                            detail: r.get(3)?,
                        },
                    ))
                },
            )
            .map(|v| v.into_iter().collect::<std::collections::HashMap<_, _>>())
        };
        let (mut last, mut bag) = (latest(false)?, latest(true)?);
        for item in &mut items {
            item.last_verification = last.remove(&item.item);
            item.bag_failed = bag
                .remove(&item.item)
                .filter(|v| v.outcome == Outcome::Fail);
        }
        let problems = self.files_where(
            "f.status <> 'present' OR f.last_outcome = 'fail'
             ORDER BY i.collection, i.item_id, f.path",
            &[],
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
