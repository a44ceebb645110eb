//! Bulk migration: an inventory of transfers made elsewhere, brought into the archive item by
//! item through the one ingest path (`capstan ingest-batch`).
//!
//! The inventory is a CSV file, UTF-8 (a byte-order mark is accepted), one row per take, with a
//! header naming its columns: `id`, `collection` (empty: `default`), `profile` (a shipped name,
//! or a TOML file relative to the inventory's folder) and `file` (relative to the inventory's
//! folder); any other column is a metadata field (its name upper-cased, as `--meta` keys are),
//! set when its cell is not empty. Rows sharing an id are the takes of one item, in row order,
//! and must agree on its collection and profile; the item's metadata is its first row's, and a
//! later row may leave those cells empty or repeat them (a different value makes the id
//! ambiguous: every row of it fails). Rows are numbered as a spreadsheet shows them: the header
//! is row 1.
//!
//! What it promises:
//! - One bad row never stops the others: each row gets an outcome, and a problem names the row
//!   (and, for a byte that is not UTF-8, its offset in the file). A bad row fails its whole item
//!   (an item is ingested whole or not at all); the other items go on.
//! - [`check`] validates everything an ingest would (files exist and are accepted, match their
//!   profile, required metadata present, ids valid and unambiguous) and writes nothing.
//! - [`run`] ingests items in parallel, `jobs` at a time; memory follows the items in flight,
//!   not the inventory. It is resumable: an item already in the archive made from the same
//!   sources (the SHA-256 of every take, as its QC report records them) is skipped as done; one
//!   made from other sources is a problem for its rows. An interrupt stops it between items and
//!   inside one, leaving every finished item committed and no partial one.

use crate::archive::confined::{self, Access, Dir};
use crate::archive::item_id::ItemId;
use crate::archive::Archive;
use crate::ingest::{self, IngestError, IngestRequest};
use crate::metadata::{parse_meta_arg, Fields};
use crate::profile::Profile;
use crate::report::QcReport;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};

/// Why an inventory could not be used at all.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: row 1 (the header): {detail}")]
    Header { path: PathBuf, detail: String },
    #[error("{path}: not CSV: {detail}")]
    Csv { path: PathBuf, detail: String },
    #[error("{path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl BatchError {
    /// 1 for an inventory that is wrong (its header, its CSV), 2 when it could not be read or
    /// the report not written.
    pub fn exit_code(&self) -> i32 {
        match self {
            BatchError::Header { .. } | BatchError::Csv { .. } => 1,
            BatchError::Read { .. } | BatchError::Write { .. } => 2,
        }
    }
}

/// The columns every inventory has.
const REQUIRED: [&str; 4] = ["id", "collection", "profile", "file"];

/// One row of the inventory.
#[derive(Debug, Clone)]
pub struct Row {
    /// As a spreadsheet numbers it: the header is row 1.
    pub number: usize,
    pub id: String,
    pub collection: String,
    pub profile: String,
    /// As written in the inventory.
    pub file: String,
    /// Non-empty metadata cells: (KEY, value), in column order.
    pub meta: Vec<(String, String)>,
    /// Why the row cannot be used as it stands (not UTF-8, wrong number of cells, empty id).
    pub problem: Option<String>,
}

/// An inventory, read.
#[derive(Debug, Clone)]
pub struct Inventory {
    pub path: PathBuf,
    /// The folder `file` and profile paths are relative to.
    pub base: PathBuf,
    pub rows: Vec<Row>,
}

/// What became of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// `--check`: the row's item would be ingested.
    Ok,
    /// Ingested by this run.
    Archived,
    /// Its item was already in the archive, made from the same sources.
    AlreadyArchived,
    Failed,
    /// Not reached: the run was interrupted first.
    NotRun,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Archived => "archived",
            Status::AlreadyArchived => "already archived",
            Status::Failed => "failed",
            Status::NotRun => "not run",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone)]
pub struct RowOutcome {
    pub row: usize,
    pub id: String,
    pub collection: String,
    pub file: String,
    pub status: Status,
    /// The SHA-256 of the row's master(s) (one per channel for a per-channel profile).
    pub master_sha256: Vec<String>,
    pub problem: Option<String>,
}

/// Reads an inventory. Rows that cannot be used are kept, with their problem.
pub fn read(path: &Path) -> Result<Inventory, BatchError> {
    let read_err = |source| BatchError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = Vec::new();
    confined::open_regular_source(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(read_err)?;
    let bom = if bytes.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(&bytes[bom..]);
    let csv_err = |e: csv::Error| BatchError::Csv {
        path: path.to_path_buf(),
        detail: e.to_string(),
    };
    let mut records = reader.byte_records();
    let header = match records.next() {
        Some(r) => r.map_err(csv_err)?,
        None => {
            return Err(BatchError::Header {
                path: path.to_path_buf(),
                detail: "the inventory is empty".into(),
            })
        }
    };
    let columns = read_header(path, &header)?;
    let at = |name: &str| columns.iter().position(|c| c.0 == name);
    let (id_at, collection_at, profile_at, file_at) = (
        at("id").expect("checked"),
        at("collection").expect("checked"),
        at("profile").expect("checked"),
        at("file").expect("checked"),
    );
    let mut rows = Vec::new();
    for (i, record) in records.enumerate() {
        let number = i + 2;
        let record = record.map_err(csv_err)?;
        if record
            .iter()
            .all(|cell| cell.iter().all(u8::is_ascii_whitespace))
        {
            continue; // a spreadsheet's trailing empty rows
        }
        let mut row = Row {
            number,
            id: String::new(),
            collection: String::new(),
            profile: String::new(),
            file: String::new(),
            meta: Vec::new(),
            problem: None,
        };
        let mut cells = Vec::with_capacity(record.len());
        for (c, cell) in record.iter().enumerate() {
            match std::str::from_utf8(cell) {
                Ok(s) => cells.push(s.trim().to_string()),
                Err(e) => {
                    let offset = record.position().map_or(0, |p| p.byte() as usize + bom)
                        + field_offset(&record, c)
                        + e.valid_up_to();
                    let byte = cell[e.valid_up_to()];
                    row.problem.get_or_insert(format!(
                        "row {number}, column {:?}: byte 0x{byte:02X} at offset {offset} of the file is not UTF-8 (the inventory must be UTF-8)",
                        columns.get(c).map_or("?", |c| c.0.as_str())
                    ));
                    cells.push(String::from_utf8_lossy(cell).trim().to_string());
                }
            }
        }
        if cells.len() != columns.len() {
            row.problem.get_or_insert(format!(
                "row {number}: {} cells, the header has {}",
                cells.len(),
                columns.len()
            ));
        }
        let cell = |at: usize| cells.get(at).cloned().unwrap_or_default();
        row.id = cell(id_at);
        row.collection = Some(cell(collection_at))
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| "default".into());
        row.profile = cell(profile_at);
        row.file = cell(file_at);
        for (c, (_, key)) in columns.iter().enumerate() {
            if let Some(key) = key {
                let value = cell(c);
                if !value.is_empty() {
                    row.meta.push((key.clone(), value));
                }
            }
        }
        for (name, value) in [
            ("id", &row.id),
            ("profile", &row.profile),
            ("file", &row.file),
        ] {
            if value.is_empty() {
                row.problem
                    .get_or_insert(format!("row {number}: no {name}"));
            }
        }
        rows.push(row);
    }
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    Ok(Inventory {
        path: path.to_path_buf(),
        base,
        rows,
    })
}

/// Bytes from the start of a record to the start of its field `c` (quotes aside: an estimate
/// that is exact for unquoted cells, which is where a stray byte usually is).
fn field_offset(record: &csv::ByteRecord, c: usize) -> usize {
    record.iter().take(c).map(|f| f.len() + 1).sum()
}

/// The header's columns: (lower-case name, metadata key for the others).
fn read_header(
    path: &Path,
    header: &csv::ByteRecord,
) -> Result<Vec<(String, Option<String>)>, BatchError> {
    let bad = |detail: String| BatchError::Header {
        path: path.to_path_buf(),
        detail,
    };
    let mut columns = Vec::new();
    for (c, cell) in header.iter().enumerate() {
        let name = std::str::from_utf8(cell)
            .map_err(|e| {
                bad(format!(
                    "column {}: byte 0x{:02X} is not UTF-8",
                    c + 1,
                    cell[e.valid_up_to()]
                ))
            })?
            .trim();
        let lower = name.to_ascii_lowercase();
        if columns.iter().any(|(n, _)| *n == lower) {
            return Err(bad(format!("column {name:?} appears twice")));
        }
        let key = if REQUIRED.contains(&lower.as_str()) {
            None
        } else {
            let key = name.to_ascii_uppercase();
            crate::metadata::check_key(&key)
                .map_err(|m| bad(format!("column {name:?} is not a metadata field: {m}")))?;
            Some(key)
        };
        columns.push((lower, key));
    }
    let missing: Vec<&str> = REQUIRED
        .iter()
        .copied()
        .filter(|r| !columns.iter().any(|(n, _)| n == r))
        .collect();
    if !missing.is_empty() {
        return Err(bad(format!(
            "no {} column (an inventory needs id, collection, profile and file)",
            missing.join(", ")
        )));
    }
    Ok(columns)
}

/// One item of the inventory: the rows sharing an id.
struct Item {
    /// Indices into the inventory's rows, in row order.
    rows: Vec<usize>,
    /// Why the item cannot be ingested, for each of its rows that says so.
    problems: HashMap<usize, String>,
    /// The source of every take, resolved.
    sources: Vec<PathBuf>,
    bytes: u64,
}

/// Groups the rows into items, and refuses an id whose rows disagree about what item it is.
fn items(inv: &Inventory) -> Vec<Item> {
    let mut items: Vec<Item> = Vec::new();
    let mut by_id: HashMap<&str, usize> = HashMap::new();
    for (i, row) in inv.rows.iter().enumerate() {
        let at = *by_id.entry(row.id.as_str()).or_insert_with(|| {
            items.push(Item {
                rows: Vec::new(),
                problems: HashMap::new(),
                sources: Vec::new(),
                bytes: 0,
            });
            items.len() - 1
        });
        let item = &mut items[at];
        if let Some(p) = &row.problem {
            item.problems.insert(i, p.clone());
        } else if let Some(&first) = item.rows.first() {
            let f = &inv.rows[first];
            // A later take may leave the item's metadata cells empty, or repeat them.
            let agrees = row
                .meta
                .iter()
                .all(|(k, v)| f.meta.iter().any(|(fk, fv)| fk == k && fv == v));
            if (&f.collection, &f.profile) != (&row.collection, &row.profile) || !agrees {
                item.problems.insert(
                    i,
                    format!(
                        "row {}: duplicate id {:?}: row {} already uses it for an item with another collection, profile or metadata (rows sharing an id are the takes of one item)",
                        row.number, row.id, f.number
                    ),
                );
            }
        }
        item.rows.push(i);
        let source = inv.base.join(&row.file);
        item.bytes += std::fs::symlink_metadata(&source).map_or(0, |m| m.len());
        item.sources.push(source);
    }
    items
}

/// The ingest request for an item, from its first row.
fn request(
    inv: &Inventory,
    item: &Item,
    archive: &Archive,
    profiles: &mut HashMap<String, Result<Profile, String>>,
    interrupt: Option<Arc<AtomicBool>>,
) -> Result<IngestRequest, (usize, String)> {
    let first = item.rows[0];
    let row = &inv.rows[first];
    let profile = profiles
        .entry(row.profile.clone())
        .or_insert_with(|| {
            let shipped = Profile::load(&row.profile);
            match shipped {
                Ok(p) => Ok(p),
                Err(_) if !Path::new(&row.profile).is_absolute() => {
                    Profile::load(&inv.base.join(&row.profile).to_string_lossy())
                        .map_err(|e| e.to_string())
                }
                Err(e) => Err(e.to_string()),
            }
        })
        .clone()
        .map_err(|e| (first, format!("row {}: profile: {e}", row.number)))?;
    let mut meta = Fields::default();
    for (k, v) in &row.meta {
        let (k, v) = parse_meta_arg(&format!("{k}={v}"))
            .map_err(|e| (first, format!("row {}: {e}", row.number)))?;
        meta.0.insert(k, v);
    }
    Ok(IngestRequest {
        profile,
        id: row.id.clone(),
        collection: row.collection.clone(),
        meta,
        archive: archive.clone(),
        sources: item.sources.clone(),
        now: ingest::transfer_time(),
        interrupt,
        capture: None,
    })
}

/// The row an ingest error is about: the take it names (every error about a source starts with
/// its path), else the item's first row.
fn row_of_error(item: &Item, e: &IngestError) -> usize {
    let message = e.to_string();
    let named = match e {
        IngestError::Mismatch { path, .. } | IngestError::SourceChanged { path, .. } => {
            item.sources.iter().position(|s| s == path)
        }
        _ => item
            .sources
            .iter()
            .position(|s| message.starts_with(&format!("{}:", s.display()))),
    };
    named.map_or(item.rows[0], |k| item.rows[k])
}

/// Whether the item is in the archive already: `Some(Ok(masters per take))` when it was made
/// from these very sources, `Some(Err(why))` when from others.
fn archived(
    archive: &Archive,
    row: &Row,
    sources: &[PathBuf],
) -> Option<Result<Vec<Vec<String>>, String>> {
    let root = Dir::open_root(&archive.root).ok()?;
    let bag = Path::new(&row.collection).join(&row.id);
    root.kind_of(&bag).ok()??;
    let qc = bag.join("data").join(format!("{}.qc.json", row.id));
    let mut text = Vec::new();
    let read = root
        .open_file(&qc, Access::Read)
        .and_then(|mut f| f.read_to_end(&mut text));
    let archived_as = format!(
        "{} is already in the archive",
        ItemId::known(&row.collection, &row.id)
    );
    if read.is_err() {
        return Some(Err(format!(
            "{archived_as}, without a QC report to compare its sources with"
        )));
    }
    let takes = QcReport::read(&text).map(|qc| qc.takes).unwrap_or_default();
    let recorded: Vec<&str> = takes.iter().map(|t| t.source.sha256.as_str()).collect();
    let mut given = Vec::with_capacity(sources.len());
    for s in sources {
        match sha256_of(s) {
            Ok(d) => given.push(d),
            Err(e) => return Some(Err(format!("{archived_as}; {}: {e}", s.display()))),
        }
    }
    if recorded != given.iter().map(String::as_str).collect::<Vec<_>>() {
        return Some(Err(format!(
            "{archived_as}, made from other sources (their SHA-256 differ); an existing item is never replaced"
        )));
    }
    Some(Ok(takes
        .iter()
        .map(|t| t.masters.iter().map(|m| m.sha256.clone()).collect())
        .collect()))
}

fn sha256_of(path: &Path) -> std::io::Result<String> {
    let mut f = confined::open_regular_source(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(crate::flac::hex(&h.finalize()))
}

fn outcome(inv: &Inventory, i: usize, status: Status, problem: Option<String>) -> RowOutcome {
    let row = &inv.rows[i];
    RowOutcome {
        row: row.number,
        id: row.id.clone(),
        collection: row.collection.clone(),
        file: row.file.clone(),
        status,
        master_sha256: Vec::new(),
        problem,
    }
}

/// Every row of a failed item: the rows with a problem say it; the others say which row
/// stopped their item.
fn fail_item(inv: &Inventory, item: &Item, problems: &HashMap<usize, String>) -> Vec<RowOutcome> {
    let first_bad = item
        .rows
        .iter()
        .find(|r| problems.contains_key(r))
        .map(|&r| inv.rows[r].number);
    item.rows
        .iter()
        .map(|&r| {
            let problem = problems.get(&r).cloned().unwrap_or_else(|| {
                format!(
                    "not ingested: row {} of the same item failed",
                    first_bad.unwrap_or(0)
                )
            });
            outcome(inv, r, Status::Failed, Some(problem))
        })
        .collect()
}

/// Rows of an item that is done, each with its take's masters.
fn done_item(
    inv: &Inventory,
    item: &Item,
    status: Status,
    masters: &[Vec<String>],
) -> Vec<RowOutcome> {
    item.rows
        .iter()
        .enumerate()
        .map(|(k, &r)| RowOutcome {
            master_sha256: masters.get(k).cloned().unwrap_or_default(),
            ..outcome(inv, r, status, None)
        })
        .collect()
}

/// What an item comes to before anything is written: failed, already archived, or to be ingested
/// (its request is made again when it starts).
enum Ready {
    Done(Vec<RowOutcome>),
    Go,
}

fn ready(
    inv: &Inventory,
    item: &Item,
    archive: &Archive,
    profiles: &mut HashMap<String, Result<Profile, String>>,
    interrupt: Option<Arc<AtomicBool>>,
) -> Ready {
    if !item.problems.is_empty() {
        return Ready::Done(fail_item(inv, item, &item.problems));
    }
    let req = match request(inv, item, archive, profiles, interrupt) {
        Ok(req) => req,
        Err((r, p)) => return Ready::Done(fail_item(inv, item, &HashMap::from([(r, p)]))),
    };
    if let Some(found) = archived(archive, &inv.rows[item.rows[0]], &item.sources) {
        return Ready::Done(match found {
            Ok(masters) => done_item(inv, item, Status::AlreadyArchived, &masters),
            Err(p) => fail_item(inv, item, &HashMap::from([(item.rows[0], p)])),
        });
    }
    if let Err(e) = ingest::check(&req) {
        let r = row_of_error(item, &e);
        let p = format!("row {}: {e}", inv.rows[r].number);
        return Ready::Done(fail_item(inv, item, &HashMap::from([(r, p)])));
    }
    drop(req);
    Ready::Go
}

/// Checks every row as an ingest would, writing nothing: the outcome of every row, in row order.
pub fn check(inv: &Inventory, archive: &Archive) -> Vec<RowOutcome> {
    let mut profiles = HashMap::new();
    let mut out = Vec::new();
    for item in items(inv) {
        match ready(inv, &item, archive, &mut profiles, None) {
            Ready::Done(rows) => out.extend(rows),
            Ready::Go => out.extend(done_item(inv, &item, Status::Ok, &[])),
        }
    }
    out.sort_by_key(|o| o.row);
    out
}

/// How a run shows its progress (the CLI draws a bar).
pub trait Progress: Send {
    /// Before the first item: how many items and source bytes there are to ingest.
    fn start(&mut self, items: u64, bytes: u64);
    /// An item finished (ingested or failed), with its source bytes.
    fn item_done(&mut self, bytes: u64);
}

/// No progress shown.
pub struct Quiet;

impl Progress for Quiet {
    fn start(&mut self, _: u64, _: u64) {}
    fn item_done(&mut self, _: u64) {}
}

/// Why an item of a run was not archived.
enum Failed {
    Ingest(IngestError),
    /// Its request could not be made again when it started (a row and its problem).
    Row(usize, String),
}

/// Ingests the inventory, `jobs` items at a time: the outcome of every row, in row order.
pub fn run(
    inv: &Inventory,
    archive: &Archive,
    jobs: usize,
    interrupt: Arc<AtomicBool>,
    progress: &mut dyn Progress,
) -> Vec<RowOutcome> {
    let items = items(inv);
    let mut profiles = HashMap::new();
    let mut out = Vec::new();
    let mut to_ingest = Vec::new();
    for (k, item) in items.iter().enumerate() {
        match ready(inv, item, archive, &mut profiles, Some(interrupt.clone())) {
            Ready::Done(rows) => out.extend(rows),
            // The request is made again when its item starts: holding every item's (each
            // with its profile) until then would grow with the inventory.
            Ready::Go => to_ingest.push(k),
        }
    }
    progress.start(
        to_ingest.len() as u64,
        to_ingest.iter().map(|&k| items[k].bytes).sum(),
    );
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1).min(to_ingest.len().max(1)) {
            let tx = tx.clone();
            let (next, to_ingest, interrupt, items) = (&next, &to_ingest, &interrupt, &items);
            let mut profiles = profiles.clone();
            s.spawn(move || loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= to_ingest.len() || interrupt.load(Ordering::Relaxed) {
                    break;
                }
                let k = to_ingest[n];
                let result = match request(
                    inv,
                    &items[k],
                    archive,
                    &mut profiles,
                    Some(interrupt.clone()),
                ) {
                    Ok(req) => ingest::ingest(&req).map_err(Failed::Ingest),
                    Err((r, p)) => Err(Failed::Row(r, p)),
                };
                if tx.send((n, k, result)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        let mut finished = vec![false; to_ingest.len()];
        for (n, k, result) in rx {
            finished[n] = true;
            let item = &items[k];
            progress.item_done(item.bytes);
            out.extend(match result {
                Ok(o) => {
                    let masters: Vec<Vec<String>> = o
                        .report
                        .takes
                        .iter()
                        .map(|t| t.masters.iter().map(|m| m.sha256.clone()).collect())
                        .collect();
                    let mut rows = done_item(inv, item, Status::Archived, &masters);
                    if o.record_pending.is_some() || !o.warnings.is_empty() {
                        let note = o.warnings.join("; ");
                        for r in &mut rows {
                            r.problem = Some(format!("archived, but: {note}"));
                        }
                    }
                    rows
                }
                Err(Failed::Row(r, p)) => fail_item(inv, item, &HashMap::from([(r, p)])),
                Err(Failed::Ingest(IngestError::Interrupted)) => item
                    .rows
                    .iter()
                    .map(|&r| outcome(inv, r, Status::NotRun, Some("interrupted".into())))
                    .collect(),
                Err(Failed::Ingest(e)) => {
                    let r = row_of_error(item, &e);
                    let p = format!("row {}: {e}", inv.rows[r].number);
                    fail_item(inv, item, &HashMap::from([(r, p)]))
                }
            });
        }
        for (n, k) in to_ingest.iter().enumerate() {
            if !finished[n] {
                out.extend(
                    items[*k]
                        .rows
                        .iter()
                        .map(|&r| outcome(inv, r, Status::NotRun, Some("interrupted".into()))),
                );
            }
        }
    });
    out.sort_by_key(|o| o.row);
    out
}

/// Writes the per-row report as CSV (`row,id,collection,file,outcome,master_sha256,problem`),
/// beside its name first and renamed into place once complete.
pub fn write_report(path: &Path, rows: &[RowOutcome]) -> Result<(), BatchError> {
    let err = |source| BatchError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".part");
    let tmp = PathBuf::from(tmp);
    let mut w = csv::Writer::from_path(&tmp).map_err(|e| err(e.into()))?;
    w.write_record([
        "row",
        "id",
        "collection",
        "file",
        "outcome",
        "master_sha256",
        "problem",
    ])
    .map_err(|e| err(e.into()))?;
    for r in rows {
        w.write_record([
            r.row.to_string().as_str(),
            &r.id,
            &r.collection,
            &r.file,
            r.status.as_str(),
            &r.master_sha256.join(" "),
            r.problem.as_deref().unwrap_or(""),
        ])
        .map_err(|e| err(e.into()))?;
    }
    w.flush().map_err(err)?;
    drop(w);
    std::fs::rename(&tmp, path).map_err(err)
}

/// 0 when every row is archived (or, checking, ok), else 1; 2 when interrupted.
pub fn exit_code(rows: &[RowOutcome]) -> i32 {
    if rows.iter().any(|r| r.status == Status::NotRun) {
        2
    } else if rows.iter().any(|r| r.status == Status::Failed) {
        1
    } else {
        0
    }
}
