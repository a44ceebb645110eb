//! Ingest: source files in, one verified bag out. The one path into the archive.
//!
//! Each source file (a take: a side, a reel of a set) is read once. The bytes pass through
//! SHA-256 as they are read; the samples go, block by block, to the analysers (levels and the
//! defect map, on one thread) and to the FLAC encoder(s), on another. Each master is then read
//! back once, hashing it while libFLAC decodes it: its frame CRCs must hold and its STREAMINFO
//! MD5 must equal the MD5 of the source samples computed on the way in, so the master is proved
//! bit-identical to the source before the bag is committed. Takes run in parallel. Any failure,
//! or an interrupt, drops the staging bag: nothing reaches the archive.
//!
//! [`prepare`] resolves the request once into an `ItemPlan` (profile, ids, metadata, staging)
//! that every step reads: `take` opens and reads each take, `master` makes its masters,
//! `access` its access copy, `tags` the metadata of both, and `seal` proves each file the same
//! way. [`Prepared::commit`] moves the proved bag into the archive and records it.

use crate::archive::bag::{write_tag_files, PayloadFile};
use crate::archive::events::{Event, EventType, Outcome};
use crate::archive::item_id::ItemId;
use crate::archive::premis;
use crate::archive::{out_of_space, Archive, ArchiveError, Staging};
use crate::catalogue::{self, Catalogue, RecordError};
use crate::dsp::levels::LevelError;
use crate::flac::{hex, libflac_version, FlacError};
use crate::metadata::{check_identifier, Fields, MetadataError};
use crate::pending::{self, PendingError};
use crate::profile::Profile;
use crate::report::QcReport;
use crate::source::wav::WavError;
use crate::units::rfc3339;
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use time::OffsetDateTime;

mod access;
mod master;
mod seal;
mod tags;
mod take;

use master::{transfer_take, TakeResult};
use tags::{bag_info, item_fields};
pub use tags::{base_fields, coding_history, originator};
use take::{open_takes, Take};

/// Why an ingest failed. Nothing reached the archive in any case.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("the item has no Originator (the institution its masters come from, FADGI's \"CC, ORG\"): set the archive's once with `capstan institution --country CC --organisation ORG` (it is kept in {settings}), or give --meta COUNTRY=CC --meta ORGANIZATION=ORG")]
    NoOriginator { settings: PathBuf },
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    #[error(transparent)]
    Source(#[from] WavError),
    #[error("{path} does not match profile {profile}: {}", .differences.join("; "))]
    Mismatch {
        path: PathBuf,
        profile: String,
        differences: Vec<String>,
    },
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    Flac(#[from] FlacError),
    #[error("{path}: the master does not decode to the source: {detail}")]
    NotBitExact { path: PathBuf, detail: String },
    #[error("{path}: level analysis: {source}")]
    Analysis { path: PathBuf, source: LevelError },
    #[error("{path}: declicker: {source}")]
    Declick {
        path: PathBuf,
        source: crate::dsp::declick::DeclickError,
    },
    #[error("no source files given")]
    NoSources,
    #[error("interrupted: nothing was added to the archive")]
    Interrupted,
    /// The source's samples differ between the read that made the master and the one that
    /// made the access copy (or the click map): the file changed during the ingest. A problem
    /// with the input (exit 1): the operator must find what is writing to it.
    #[error("{path} changed while it was being ingested: the samples read again for {purpose} are not the master's ({detail}); nothing was added to the archive")]
    SourceChanged {
        path: PathBuf,
        purpose: &'static str,
        detail: String,
    },
    #[error(transparent)]
    Pending(#[from] PendingError),
}

impl IngestError {
    /// Exit status per DESIGN.md: 1 for a problem with the input or the item (bad file, existing
    /// id, a master that is not bit-exact), 2 when the ingest could not run (archive not
    /// writable, disk full, interrupted).
    pub fn exit_code(&self) -> i32 {
        match self {
            IngestError::Archive(ArchiveError::ItemExists { .. }) => 1,
            IngestError::Archive(_) | IngestError::Interrupted | IngestError::Pending(_) => 2,
            IngestError::Flac(FlacError::Io { source, .. })
                if out_of_space(source)
                    || source.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                2
            }
            _ => 1,
        }
    }
}

/// What to ingest.
#[derive(Debug, Clone)]
pub struct IngestRequest {
    pub profile: Profile,
    pub id: String,
    pub collection: String,
    /// The operator's fields (`--meta`).
    pub meta: Fields,
    pub archive: Archive,
    /// The takes of the item, in order.
    pub sources: Vec<PathBuf>,
    /// The transfer's date and time (bext origination, bag-info, events).
    pub now: OffsetDateTime,
    /// Set from a signal handler to stop cleanly.
    pub interrupt: Option<Arc<AtomicBool>>,
    /// For a captured take (one source): how it was captured; its gaps join the defects.
    pub capture: Option<crate::report::CaptureReport>,
}

/// A committed item.
#[derive(Debug, Clone)]
pub struct IngestOutcome {
    pub bag: PathBuf,
    pub report: QcReport,
    /// What went wrong after the item was committed (its events not logged or not
    /// catalogued); the item is in the archive regardless.
    pub warnings: Vec<String>,
    /// The item's ingestion events are not in `events.jsonl` but only in this pending record
    /// (the disk filled after the commit): the record of the ingest is not yet kept where it
    /// belongs, and the command must not report success.
    pub record_pending: Option<PathBuf>,
}

impl IngestOutcome {
    /// 0, or 2 when the ingestion events are only pending (the item is in the archive, but
    /// the ingest could not finish recording it: free disk space and run any writing command).
    pub fn exit_code(&self) -> i32 {
        if self.record_pending.is_some() {
            2
        } else {
            0
        }
    }
}

/// `CAPSTAN_TEST_PAUSE=STAGE:GO`: at stage `STAGE` (`reading`: the first read of a take
/// begins; `verifying`: its masters are about to be proved; `reread`: before a take's source is
/// read the second time, for its access copy or click map; `bagging`: the tag files are about
/// to be written; `recorded`: the pending
/// record is written, the bag still in staging; `renamed`: the bag is in the archive, its
/// events not yet logged; `logged`: logged, the pending record not yet removed),
/// creates `GO.reached` and waits (at most 2 minutes) until `GO` exists: the tests kill the
/// process there, or fill the disk, to prove the history survives. Unset in normal use.
fn test_pause(stage: &str) {
    let Some(v) = std::env::var_os("CAPSTAN_TEST_PAUSE") else {
        return;
    };
    let v = v.to_string_lossy().into_owned();
    let Some(go) = v.strip_prefix(stage).and_then(|r| r.strip_prefix(':')) else {
        return;
    };
    let _ = std::fs::write(format!("{go}.reached"), b"");
    let until = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !Path::new(go).exists() && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// `capstan 0.1.0`
pub fn agent() -> String {
    format!(
        "capstan {}; libFLAC {}",
        env!("CARGO_PKG_VERSION"),
        libflac_version()
    )
}

/// The time of the transfer: `SOURCE_DATE_EPOCH` when set (reproducible output, as in
/// reproducible builds), else now.
pub fn transfer_time() -> OffsetDateTime {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
        .unwrap_or_else(OffsetDateTime::now_utc)
}

/// The item as [`prepare`] resolved it from the request, once, before any take is read: what
/// every step of a take (masters, access copy, their tags) reads, passed by reference.
struct ItemPlan<'a> {
    /// The request: profile, ids, archive, transfer time, interrupt flag, capture report.
    req: &'a IngestRequest,
    /// The item's metadata: the profile's defaults, then what the first take carried, then the
    /// operator's; with `CARRIER_ID` and `COLLECTION`, checked against the profile.
    fields: Fields,
    /// How many takes the item has (a part number and suffix are written when more than one).
    parts: usize,
    /// Where the item's files are written.
    staging: &'a Staging,
}

impl ItemPlan<'_> {
    fn profile(&self) -> &Profile {
        &self.req.profile
    }

    /// `_pNN` after a file's stem when the item has more than one take, else nothing.
    fn part_suffix(&self, take: &Take) -> String {
        if self.parts > 1 {
            format!("_p{:02}", take.part)
        } else {
            String::new()
        }
    }

    /// A file of the item in staging: its path in the bag (`data/<name>`) and on disk.
    fn data_file(&self, name: &str) -> (String, PathBuf) {
        (format!("data/{name}"), self.staging.data_dir().join(name))
    }
}

/// Ingests the request's takes as one item: [`prepare`], then [`Prepared::commit`].
pub fn ingest(req: &IngestRequest) -> Result<IngestOutcome, IngestError> {
    prepare(req)?.commit()
}

/// An item made and proved in staging, not yet in the archive: for a person to review before
/// it is committed (the station app's review step). Dropped without [`Prepared::commit`], the
/// staging bag is removed and the archive is as it was.
#[derive(Debug)]
pub struct Prepared {
    req: IngestRequest,
    staging: Staging,
    report: QcReport,
    payload: Vec<PayloadFile>,
    bagging_date: String,
    /// What was done on opening the archive (pending records replayed), told as warnings.
    notes: Vec<String>,
}

impl Prepared {
    /// The item's QC report (also in the staged bag as `data/<id>.qc.json`).
    pub fn report(&self) -> &QcReport {
        &self.report
    }

    /// The staged bag's folder: its masters can be read for review (e.g. with
    /// [`crate::review::overview`]) until it is committed or dropped.
    pub fn bag_dir(&self) -> &Path {
        self.staging.bag_dir()
    }

    /// Discards the staged item (the same as dropping it, said out loud).
    pub fn discard(self) {}

    /// Moves the staged bag into the archive (one atomic rename that never replaces an item)
    /// and records its events in the log and the catalogue.
    pub fn commit(self) -> Result<IngestOutcome, IngestError> {
        let Prepared {
            req,
            staging,
            report,
            payload,
            bagging_date,
            notes,
        } = self;
        let req = &req;
        let profile = &req.profile;
        let evs = ingestion_events(req, &payload);
        if interrupted(req) {
            return Err(IngestError::Interrupted);
        }
        // The events are durable before the bag is in the archive: a crash or a full disk
        // between the rename and the log leaves them pending, for the next writer to log.
        let pending = pending::write(
            &req.archive,
            staging.bag_dir(),
            &req.collection,
            &req.id,
            &evs,
        )?;
        // Queued for the archive's `auto` replicas before the rename, so that no crash after it
        // loses the job; an entry whose bag never arrives is dropped by the next drain.
        if let Err(e) = crate::replica::queue::enqueue(&req.archive, &req.collection, &req.id) {
            pending.done(&req.archive);
            return Err(e.into());
        }
        test_pause("recorded");
        let bag = match staging.commit(&req.archive, &req.collection, &req.id) {
            Ok(bag) => bag,
            Err(e @ ArchiveError::ItemExists { .. }) => {
                pending.done(&req.archive);
                return Err(e.into());
            }
            // The rename may have happened before the failure: the record stays for the next
            // writer, which logs it if the bag is there and removes it if not.
            Err(e) => return Err(e.into()),
        };
        test_pause("renamed");
        // The item is committed; events that cannot be logged or catalogued are reported but undo
        // nothing.
        let record = catalogue::item_record(
            &req.collection,
            &req.id,
            &profile.name,
            &bagging_date,
            &payload,
            &report,
        );
        let mut warnings = notes;
        let mut record_pending = None;
        match catalogue::record(&req.archive, Some(&record), &evs) {
            Ok(()) => {}
            Err(e @ RecordError::Log(_)) => {
                warnings.push(format!(
                    "{e}; the item is committed at {}, and its ingestion record is kept in {} until the next command that writes to the archive (or `capstan reindex`) puts it in the event log",
                    bag.display(),
                    pending.path().display()
                ));
                record_pending = Some(pending.path().to_path_buf());
            }
            Err(RecordError::Catalogue(e)) => warnings.push(format!(
                "the item is committed and its events are in events.jsonl, but not in the catalogue: {e}{}",
                if e.advises_reindex() {
                    ""
                } else {
                    "; `capstan reindex` brings the catalogue up to date"
                }
            )),
        }
        test_pause("logged");
        if record_pending.is_none() {
            pending.done(&req.archive);
        }
        Ok(IngestOutcome {
            bag,
            report,
            warnings,
            record_pending,
        })
    }
}

/// Everything [`prepare`] checks before it writes anything: the identifiers, each take (a WAV,
/// BWF or RF64 file the reader accepts, matching the profile) and the item's metadata (the
/// profile's required fields, the rules for given values). Reads only the takes' headers.
pub fn check(req: &IngestRequest) -> Result<(), IngestError> {
    check_identifier("item id", &req.id)?;
    check_identifier("collection", &req.collection)?;
    if req.sources.is_empty() {
        return Err(IngestError::NoSources);
    }
    let takes = open_takes(req)?;
    item_fields(req, &takes[0])?;
    Ok(())
}

/// Makes the item in staging and proves it (the first half of [`ingest`]).
pub fn prepare(req: &IngestRequest) -> Result<Prepared, IngestError> {
    check_identifier("item id", &req.id)?;
    check_identifier("collection", &req.collection)?;
    if req.sources.is_empty() {
        return Err(IngestError::NoSources);
    }
    let profile = &req.profile;
    let takes = open_takes(req)?;
    let (fields, mut notes) = item_fields(req, &takes[0])?;

    req.archive.prepare_for_writing()?;
    notes.extend(pending::replay(&req.archive)?.iter().map(pending::describe));
    // A new archive gets its catalogue now, before any item is in it: one created later would
    // look like a lost catalogue. A failure here is reported when the item is recorded.
    drop(Catalogue::open(&req.archive));
    let staging = req.archive.begin(&req.collection, &req.id)?;
    let plan = ItemPlan {
        req,
        fields,
        parts: takes.len(),
        staging: &staging,
    };
    let results: Vec<Result<TakeResult, IngestError>> = takes
        .par_iter()
        .map(|take| transfer_take(&plan, take))
        .collect();
    let fields = plan.fields;
    let mut take_results = Vec::with_capacity(results.len());
    for r in results {
        take_results.push(r?);
    }
    if interrupted(req) {
        return Err(IngestError::Interrupted);
    }

    let report = QcReport {
        version: crate::report::QC_VERSION,
        item: req.id.clone(),
        collection: req.collection.clone(),
        profile: profile.name.clone(),
        generated: rfc3339(req.now),
        software: agent(),
        takes: take_results.iter().map(|t| t.report.clone()).collect(),
    };
    let qc_name = format!("{}.qc.json", req.id);
    let qc_text = report.to_json();
    let qc_path = staging.data_dir().join(&qc_name);
    std::fs::write(&qc_path, &qc_text).map_err(|source| ArchiveError::Io {
        path: qc_path.clone(),
        source,
    })?;
    let mut payload: Vec<PayloadFile> = take_results
        .iter()
        .flat_map(|t| t.payload.iter().cloned())
        .collect();
    payload.push(PayloadFile {
        path: format!("data/{qc_name}"),
        sha256: Sha256::digest(qc_text.as_bytes()).into(),
        bytes: qc_text.len() as u64,
    });
    let bagging_date = format!(
        "{:04}-{:02}-{:02}",
        req.now.year(),
        u8::from(req.now.month()),
        req.now.day()
    );
    let info = bag_info(req, &fields, &bagging_date);
    let premis = premis_record(req, &payload, &report);
    test_pause("bagging");
    write_tag_files(
        staging.bag_dir(),
        &payload,
        &info,
        &[("premis.xml", premis.as_str())],
    )?;
    if interrupted(req) {
        return Err(IngestError::Interrupted);
    }
    Ok(Prepared {
        req: req.clone(),
        staging,
        report,
        payload,
        bagging_date,
        notes,
    })
}

/// The bag's `premis.xml`: the item as ingested (its files with their digests, the masters'
/// audio MD5s, each access copy's sources, and the ingestion events the log will hold).
fn premis_record(req: &IngestRequest, payload: &[PayloadFile], report: &QcReport) -> String {
    let mut audio: Vec<(&str, &str, &[String])> = Vec::new();
    for t in &report.takes {
        for m in &t.masters {
            audio.push((&m.file, &m.audio_md5, &[]));
        }
        if let Some(ac) = &t.access_copy {
            audio.push((&ac.file, &ac.audio_md5, &ac.derived_from));
        }
    }
    let digests: Vec<String> = payload.iter().map(|p| hex(&p.sha256)).collect();
    let files: Vec<premis::File<'_>> = payload
        .iter()
        .zip(&digests)
        .map(|(p, sha256)| {
            let known = audio.iter().find(|(file, _, _)| *file == p.path);
            premis::File {
                path: &p.path,
                bytes: Some(p.bytes),
                sha256,
                audio_md5: known.map(|(_, md5, _)| *md5),
                derived_from: known.map_or(&[], |(_, _, from)| from),
            }
        })
        .collect();
    let item = ItemId::known(&req.collection, &req.id).to_string();
    premis::item_record(&item, &files, &ingestion_events(req, payload))
}

/// The item's ingestion event and one message digest calculation event per payload file.
fn ingestion_events(req: &IngestRequest, payload: &[PayloadFile]) -> Vec<Event> {
    let profile = &req.profile;
    let parts = req.sources.len();
    let item = ItemId::known(&req.collection, &req.id).to_string();
    let mut evs = vec![Event {
        copy: None,
        date_time: rfc3339(req.now),
        event_type: EventType::Ingestion,
        item: item.clone(),
        file: None,
        outcome: Outcome::Pass,
        detail: format!(
            "{} take(s) from {} with profile {}",
            parts,
            req.sources
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            profile.name
        ),
        agent: agent(),
    }];
    for p in payload {
        evs.push(Event {
            copy: None,
            date_time: rfc3339(req.now),
            event_type: EventType::MessageDigestCalculation,
            item: item.clone(),
            file: Some(p.path.clone()),
            outcome: Outcome::Pass,
            detail: format!("SHA-256 {}", hex(&p.sha256)),
            agent: agent(),
        });
    }
    evs
}

fn interrupted(req: &IngestRequest) -> bool {
    req.interrupt
        .as_ref()
        .is_some_and(|f| f.load(Ordering::Relaxed))
}

/// libFLAC threads per master. One: the analysis thread and the reader already keep the
/// second core busy (10-minute 96 kHz/24-bit stereo ingest on 2 cores, paired against the peer
/// of benches/ingest.sh: 1 thread 0.642 of the peer's wall time, 2 threads 0.645;
/// docs/benchmarks.md). Items of several takes use both cores by encoding takes side by side.
fn encoder_threads() -> u32 {
    1
}
