//! Reindex: the catalogue rebuilt from the bags and `events.jsonl` alone, and what is read from a bag (its record, its QC report) to do it.

use super::*;

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
    let pg = backend(archive)?;
    let path = match &pg {
        Some(pg) => pg::location(pg, &pg.schema),
        None => catalogue_path(archive),
    };
    let io_err = |file: &Path| {
        let (path, file) = (path.clone(), file.to_path_buf());
        move |source| CatalogueError::Io { path, file, source }
    };
    let meta = meta_dir_of(archive, &path)?;
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
    // On PostgreSQL the new catalogue is built in a schema beside the archive's.
    let built = pg.as_ref().map(|pg| format!("{}__reindex", pg.schema));
    if let (Some(pg), Some(built)) = (&pg, &built) {
        pg::drop_schema(pg, built)?;
    }
    // A crashed SQLite reindex's leftovers, whichever engine the catalogue is on now.
    remove_sqlite_files(&temp, &["", "-wal", "-shm", "-journal"], &path)?;
    let mut summary = ReindexSummary {
        replayed,
        ..Default::default()
    };
    let mut new = match (&pg, &built) {
        (Some(pg), Some(built)) => Catalogue::open_pg(archive, pg, built, pg::Absent::Create)?,
        _ => Catalogue::open_at(&temp, archive, true)?,
    };
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
    if let (Some(pg), Some(built)) = (&pg, &built) {
        drop(new);
        pg::swap_schema(pg, built, &pg.schema)?;
        drop(lock);
        drop(guard);
        return Ok(summary);
    }
    put_in_place(new, &temp, &path)?;
    drop(lock);
    drop(guard);
    Ok(summary)
}

impl Catalogue {
    pub(super) fn count(&self, q: &str) -> Result<u64, CatalogueError> {
        let sql = sql_err(&self.path);
        let n: i64 = self
            .conn
            .query_one(q, &[])
            .and_then(|r| r.get(0))
            .map_err(&sql)?;
        Ok(n as u64)
    }

    /// Replays the events after `after_seq` that set file states, in order, over the files
    /// registered from the bags, and returns the last seq replayed. The file system, as seen
    /// when each bag was registered, wins for a file that was there; one that was not stays
    /// `moved` if an event said so, else `missing`.
    pub(super) fn replay_file_states(&mut self, after_seq: i64) -> Result<i64, CatalogueError> {
        self.write(|tx| {
            let rows = tx.query(
                "SELECT seq, date_time, event_type, item, file, outcome, detail FROM events
                 WHERE seq > ?1 AND file IS NOT NULL
                   AND event_type IN ('fixity check', 'move', 'deletion')
                 ORDER BY seq",
                vals![after_seq],
            )?;
            let mut last = after_seq;
            let mut replayed = Vec::with_capacity(rows.len());
            for r in &rows {
                last = r.get(0)?;
                let text = |i| r.get::<String>(i);
                replayed.push([text(1)?, text(2)?, text(3)?, text(4)?, text(5)?, text(6)?]);
            }
            let effects =
                replayed.iter().map(
                    |[date_time, kind, item, file, outcome, detail]| FileEffect {
                        item,
                        file,
                        kind,
                        date_time,
                        outcome,
                        detail,
                    },
                );
            apply_effects(tx, effects, false)?;
            // Later events of other kinds need no replay either.
            let max: Option<i64> = tx.query_one("SELECT max(seq) FROM events", &[])?.get(0)?;
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
pub(super) fn index_log(
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

pub(super) fn torn(summary: &mut ReindexSummary, log: &Path, at: u64) {
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
pub(super) fn index_bags(
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

pub(super) fn note(summary: &mut ReindexSummary, text: String) {
    if summary.notes.len() < 100 {
        summary.notes.push(text);
    }
}

/// Reads a tag file that must be a regular file in the bag (links are not followed).
pub(super) fn read_tag_file(bag: &Path, name: &str) -> Result<Vec<u8>, String> {
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
    let qc = files
        .iter()
        .any(|f| f.path == qc && f.status == FileStatus::Present)
        .then(|| read_tag_file(bag, &qc).ok())
        .flatten()
        .and_then(|json| QcReport::read(&json).ok());
    if let Some(qc) = &qc {
        let md5s: std::collections::HashMap<String, String> = qc.audio_md5s().into_iter().collect();
        for f in &mut files {
            f.audio_md5 = md5s.get(&f.path).cloned();
        }
    }
    let audio_seconds = qc.as_ref().and_then(QcReport::audio_seconds);
    let needs_listen = qc.as_ref().and_then(qc_needs_listen);
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

/// Why a QC report's item needs a listen, from its captured takes that were flagged (see
/// [`needs_listen`]); None when none was, or the report says nothing of capture.
pub fn qc_needs_listen(qc: &QcReport) -> Option<String> {
    let flagged = qc.takes.iter().map(|t| {
        let c = t.capture.as_ref()?;
        c.flagged.then(|| (c.ended.clone(), c.gaps.len()))
    });
    needs_listen(flagged, qc.takes.len())
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
