//! Ingest: source files in, one verified bag out. The one path into the archive.
//!
//! Each source file (a take: a side, a reel of a set) is read once. The bytes pass through
//! SHA-256 as they are read; the samples go, block by block, to the analysers (levels and the
//! defect map, on one thread) and to the FLAC encoder(s), on another. Each master is then read
//! back once, hashing it while libFLAC decodes it: its frame CRCs must hold and its STREAMINFO
//! MD5 must equal the MD5 of the source samples computed on the way in, so the master is proved
//! bit-identical to the source before the bag is committed. Takes run in parallel. Any failure,
//! or an interrupt, drops the staging bag: nothing reaches the archive.

use crate::archive::bag::{write_tag_files, PayloadFile};
use crate::archive::events::Event;
use crate::archive::{out_of_space, Archive, ArchiveError, Staging};
use crate::catalogue::{self, Catalogue, RecordError};
use crate::dsp::declick::Repair;
use crate::dsp::defects::{DefectAnalyser, DefectReport};
use crate::dsp::levels::{LevelAnalyser, LevelError, LevelReport};
use crate::flac::bext::{Bext, BextLoudness, LOUDNESS_OFFSET};
use crate::flac::encode::{patch_riff_chunk, MasterEncoder, MasterMetadata, StreamSpec};
use crate::flac::verify::{check_file_until, FlacCheck};
use crate::flac::{hex, libflac_version, riff, FlacError};
use crate::metadata::{check_identifier, Fields, MetadataError};
use crate::pending::{self, PendingError};
use crate::profile::{CarrierCoding, Layout, Profile};
use crate::report::{
    defect_map, repair_defects, sort_defects, AccessCopyReport, DeclickReport, MasterReport,
    QcReport, SourceReport, TakeReport,
};
use crate::restore::{derive, loudness_gain, DeriveError, Processing};
use crate::source::wav::{ForeignChunk, WavError, WavInfo, WavReader};
use crate::units::{rfc3339, FrameCount};
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;

/// Frames per block handed from the reader to the encoder and analyser.
const BLOCK_FRAMES: usize = 16_384;

/// Why an ingest failed. Nothing reached the archive in any case.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
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

/// A take, opened and checked against the profile before any work starts.
struct Take {
    part: usize,
    path: PathBuf,
    info: WavInfo,
    /// Chunks after `data`, read ahead so that they can be written into the master's header.
    trailing: Vec<ForeignChunk>,
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
        let parts = req.sources.len();
        let item = format!("{}/{}", req.collection, req.id);
        let mut evs = vec![Event {
            date_time: rfc3339(req.now),
            event_type: "ingestion".into(),
            item: item.clone(),
            file: None,
            outcome: "pass".into(),
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
        for p in &payload {
            evs.push(Event {
                date_time: rfc3339(req.now),
                event_type: "message digest calculation".into(),
                item: item.clone(),
                file: Some(p.path.clone()),
                outcome: "pass".into(),
                detail: format!("SHA-256 {}", hex(&p.sha256)),
                agent: agent(),
            });
        }
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

/// Makes the item in staging and proves it (the first half of [`ingest`]).
pub fn prepare(req: &IngestRequest) -> Result<Prepared, IngestError> {
    check_identifier("item id", &req.id)?;
    check_identifier("collection", &req.collection)?;
    if req.sources.is_empty() {
        return Err(IngestError::NoSources);
    }
    let profile = &req.profile;
    let mut takes = Vec::new();
    for (i, path) in req.sources.iter().enumerate() {
        let reader = WavReader::open(path)?;
        let info = reader.info().clone();
        check_against_profile(path, &info, profile)?;
        let trailing = crate::source::wav::read_trailing_chunks(path, &info)?;
        takes.push(Take {
            part: i + 1,
            path: path.clone(),
            info,
            trailing,
        });
    }
    // Metadata: profile defaults, then what the first take carried, then the operator's. The
    // fields Capstan writes itself are refused from the first and the last.
    for (origin, given) in [
        ("the profile's defaults", &profile.default_metadata),
        ("--meta", &req.meta.0),
    ] {
        for (k, v) in given {
            crate::metadata::check_given(origin, k, v)?;
        }
    }
    let (carried, mut notes) = carried_fields(&takes[0].path, &takes[0].info, &takes[0].trailing);
    let mut fields = Fields::layered(&profile.default_metadata, &carried, &req.meta);
    fields.0.insert("CARRIER_ID".into(), req.id.clone());
    fields.0.insert("COLLECTION".into(), req.collection.clone());
    fields.check(&profile.required_metadata)?;

    req.archive.prepare_for_writing()?;
    notes.extend(pending::replay(&req.archive)?.iter().map(pending::describe));
    // A new archive gets its catalogue now, before any item is in it: one created later would
    // look like a lost catalogue. A failure here is reported when the item is recorded.
    drop(Catalogue::open(&req.archive));
    let staging = req.archive.begin(&req.collection, &req.id)?;
    let parts = takes.len();
    let results: Vec<Result<TakeResult, IngestError>> = takes
        .par_iter()
        .map(|take| transfer_take(req, &fields, take, parts, &staging))
        .collect();
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
    let qc_text = serde_json::to_string_pretty(&report).expect("QC report serialises") + "\n";
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
    let mut info: Vec<(&str, String)> = Vec::new();
    if let Some(org) = fields.get("ORGANIZATION") {
        info.push(("Source-Organization", org.to_string()));
    }
    info.push(("External-Identifier", req.id.clone()));
    if let Some(d) = fields.get("DESCRIPTION").or(fields.get("TITLE")) {
        info.push(("External-Description", d.to_string()));
    }
    let bagging_date = format!(
        "{:04}-{:02}-{:02}",
        req.now.year(),
        u8::from(req.now.month()),
        req.now.day()
    );
    info.push(("Bagging-Date", bagging_date.clone()));
    info.push(("Bag-Software-Agent", agent()));
    info.push(("Capstan-Profile", profile.name.clone()));
    info.push(("Capstan-Collection", req.collection.clone()));
    test_pause("bagging");
    write_tag_files(staging.bag_dir(), &payload, &info)?;
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

/// [`check_file`] that stops when the ingest is interrupted.
fn check_master(req: &IngestRequest, path: &Path) -> Result<FlacCheck, IngestError> {
    check_file_until(path, req.interrupt.as_deref()).map_err(|e| {
        if interrupted(req) {
            IngestError::Interrupted
        } else {
            e.into()
        }
    })
}

fn interrupted(req: &IngestRequest) -> bool {
    req.interrupt
        .as_ref()
        .is_some_and(|f| f.load(Ordering::Relaxed))
}

/// Every way the take differs from the profile, in one message.
fn check_against_profile(path: &Path, info: &WavInfo, p: &Profile) -> Result<(), IngestError> {
    let mut differences = Vec::new();
    if info.sample_rate != p.sample_rate {
        differences.push(format!(
            "sample rate is {} Hz, the profile wants {} Hz",
            info.sample_rate, p.sample_rate
        ));
    }
    if u32::from(info.valid_bits) != p.bit_depth {
        differences.push(format!(
            "bit depth is {}, the profile wants {}",
            info.valid_bits, p.bit_depth
        ));
    }
    if usize::from(info.channels) != p.channels() {
        differences.push(format!(
            "{} channel(s), the profile wants {} ({})",
            info.channels,
            p.channels(),
            p.channel_names.join(", ")
        ));
    }
    if differences.is_empty() {
        Ok(())
    } else {
        Err(IngestError::Mismatch {
            path: path.to_path_buf(),
            profile: p.name.clone(),
            differences,
        })
    }
}

/// Control characters and line or paragraph separators (U+0085, U+2028, U+2029) in text
/// carried from a source file become spaces: the file is the operator's evidence, not their
/// typing, and its chunks are kept verbatim anyway.
fn clean_carried(s: &str) -> String {
    s.chars()
        .map(|c| {
            if crate::metadata::is_line_breaking_or_control(c) {
                ' '
            } else {
                c
            }
        })
        .collect::<String>()
        .trim()
        .to_string()
}

/// A source's bext OriginationDate or OriginationTime in its ISO form, or None when it is not
/// one. EBU Tech 3285 lets writers separate the parts with '-', '_', ':', ' ' or '.'; those are
/// read as the ISO separator.
fn carried_origination(key: &str, v: &str) -> Option<String> {
    let (seps, iso, valid): (&[usize], u8, fn(&str) -> bool) = match key {
        "ORIGINATION_DATE" => (&[4, 7], b'-', crate::metadata::is_iso_date),
        _ => (&[2, 5], b':', crate::metadata::is_iso_time),
    };
    let mut b = v.as_bytes().to_vec();
    for &i in seps {
        if let Some(c) = b.get_mut(i) {
            if matches!(*c, b'-' | b'_' | b':' | b' ' | b'.') {
                *c = iso;
            }
        }
    }
    String::from_utf8(b).ok().filter(|s| valid(s))
}

/// Fields the source carried in `bext` and `LIST/INFO`, and warnings about what was dropped.
fn carried_fields(path: &Path, info: &WavInfo, trailing: &[ForeignChunk]) -> (Fields, Vec<String>) {
    let mut f = Fields::default();
    let mut warnings = Vec::new();
    let chunks = info.chunks.iter().chain(trailing.iter());
    for c in chunks {
        match &c.id {
            b"bext" => {
                if let Some(b) = Bext::parse(&c.data) {
                    for (k, v) in [
                        ("DESCRIPTION", &b.description),
                        ("ORIGINATOR", &b.originator),
                        ("ORIGINATOR_REFERENCE", &b.originator_reference),
                        ("ORIGINATION_DATE", &b.origination_date),
                        ("ORIGINATION_TIME", &b.origination_time),
                    ] {
                        let v = clean_carried(v);
                        let v = match k {
                            "ORIGINATION_DATE" | "ORIGINATION_TIME" if !v.is_empty() => {
                                match carried_origination(k, &v) {
                                    Some(v) => v,
                                    None => {
                                        warnings.push(format!(
                                            "{}: the bext {} {v:?} is not valid; the transfer's is used",
                                            crate::fixity::display_path(path),
                                            if k == "ORIGINATION_DATE" {
                                                "OriginationDate"
                                            } else {
                                                "OriginationTime"
                                            }
                                        ));
                                        continue;
                                    }
                                }
                            }
                            _ => v,
                        };
                        f.set_default(k, &v);
                    }
                }
            }
            b"LIST" if c.data.starts_with(b"INFO") => {
                for (id, text) in list_info(&c.data[4..]) {
                    let key = match &id {
                        b"INAM" => "TITLE",
                        b"ICRD" => "DATE",
                        b"ICMT" => "DESCRIPTION",
                        b"IART" => "ARTIST",
                        b"ICOP" => "COPYRIGHT",
                        b"IENG" => "ENGINEER",
                        b"ISRC" => "SOURCE",
                        b"ITCH" => "TECHNICIAN",
                        _ => continue,
                    };
                    f.set_default(key, &clean_carried(&text));
                }
            }
            _ => {}
        }
    }
    (f, warnings)
}

/// The sub-chunks of a `LIST/INFO` payload (after "INFO").
fn list_info(mut b: &[u8]) -> Vec<([u8; 4], String)> {
    let mut out = Vec::new();
    while b.len() >= 8 {
        let id = [b[0], b[1], b[2], b[3]];
        let len = u32::from_le_bytes([b[4], b[5], b[6], b[7]]) as usize;
        let Some(body) = b.get(8..8 + len) else { break };
        let end = body.iter().position(|&c| c == 0).unwrap_or(body.len());
        out.push((id, String::from_utf8_lossy(&body[..end]).into_owned()));
        b = &b[(8 + len + len % 2).min(b.len())..];
    }
    out
}

fn mode(channels: usize) -> &'static str {
    match channels {
        1 => "mono",
        2 => "stereo",
        _ => "multitrack",
    }
}

/// EBU R98 coding history lines, each ending in CR LF. A source that brought its own history
/// keeps it, and the FLAC step is added; otherwise the carrier and A/D lines are built from the
/// profile and the metadata.
pub fn coding_history(
    profile: &Profile,
    fields: &Fields,
    source_history: Option<&str>,
    master_channels: usize,
) -> String {
    let rate = profile.sample_rate;
    let bits = profile.bit_depth;
    let mut lines: Vec<String> = Vec::new();
    match source_history.map(str::trim).filter(|h| !h.is_empty()) {
        // The source's lines, each cleaned like any carried text, so that no character in them
        // (U+2028, a lone CR...) makes a reader see a line the source did not have.
        Some(h) => lines.extend(h.lines().map(clean_carried).filter(|l| !l.is_empty())),
        None => {
            let carrier_mode = mode(profile.channels());
            let mut text: Vec<String> = Vec::new();
            if let Some(deck) = fields.get("DECK") {
                text.push(deck.to_string());
            }
            if let Some(speed) = fields.get("TAPE_SPEED") {
                text.push(format!("{speed} ips"));
            }
            let mut format = fields
                .get("CARRIER_FORMAT")
                .unwrap_or(&profile.carrier_description)
                .to_string();
            for k in ["TRACK_FORMAT", "PLAYBACK_EQ", "NOISE_REDUCTION"] {
                if let Some(v) = fields.get(k) {
                    format.push_str(", ");
                    format.push_str(v);
                }
            }
            text.push(format);
            match profile.carrier_coding {
                CarrierCoding::Analogue => {
                    lines.push(format!("A=ANALOGUE,M={carrier_mode},T={}", text.join("; ")));
                    let adc = fields
                        .get("ADC")
                        .map(|a| format!("{a}; A/D"))
                        .unwrap_or_else(|| "A/D".into());
                    lines.push(format!("A=PCM,F={rate},W={bits},M={carrier_mode},T={adc}"));
                }
                CarrierCoding::Pcm => {
                    lines.push(format!(
                        "A=PCM,F={rate},W={bits},M={carrier_mode},T={}",
                        text.join("; ")
                    ));
                }
            }
        }
    }
    lines.push(format!(
        "A=FLAC,F={rate},W={bits},M={},T=Capstan {}; libFLAC {}",
        mode(master_channels),
        env!("CARGO_PKG_VERSION"),
        libflac_version()
    ));
    lines.iter().map(|l| format!("{l}\r\n")).collect()
}

/// The bext a master carries (loudness filled in after encoding).
fn master_bext(
    req: &IngestRequest,
    fields: &Fields,
    source: Option<&Bext>,
    history: String,
) -> Bext {
    let originator = fields
        .get("ORIGINATOR")
        .map(str::to_string)
        .unwrap_or_else(
            || match (fields.get("COUNTRY"), fields.get("ORGANIZATION")) {
                (Some(c), Some(o)) => format!("{c}, {o}"),
                (None, Some(o)) => o.to_string(),
                _ => String::new(),
            },
        );
    let reference = fields
        .get("ORIGINATOR_REFERENCE")
        .map(str::to_string)
        .unwrap_or_else(|| {
            if req.id.len() <= 32 {
                req.id.clone()
            } else {
                // FADGI: an identifier too long for the field is pointed to, not cut.
                "See Description for identifiers".into()
            }
        });
    let now = req.now;
    Bext {
        description: fields
            .get("DESCRIPTION")
            .or(fields.get("TITLE"))
            .unwrap_or("")
            .to_string(),
        originator,
        originator_reference: reference,
        origination_date: fields
            .get("ORIGINATION_DATE")
            .map(str::to_string)
            .unwrap_or_else(|| {
                format!(
                    "{:04}-{:02}-{:02}",
                    now.year(),
                    u8::from(now.month()),
                    now.day()
                )
            }),
        origination_time: fields
            .get("ORIGINATION_TIME")
            .map(str::to_string)
            .unwrap_or_else(|| {
                format!("{:02}:{:02}:{:02}", now.hour(), now.minute(), now.second())
            }),
        time_reference: source.map_or(0, |b| b.time_reference),
        version: 2,
        umid: source.map_or([0; 64], |b| b.umid),
        loudness: BextLoudness::UNKNOWN,
        coding_history: history,
    }
}

/// What a take's source carried into the files made from it: read once, shared by them all.
struct Carried<'a> {
    bext: Option<&'a Bext>,
    /// Whole RIFF chunks before `data` (other than bext) and after it.
    before: &'a [Arc<[u8]>],
    after: &'a [Arc<[u8]>],
}

/// The metadata of one FLAC file of a take (a master or the access copy): its Vorbis comments
/// (the item's fields, channels, part, `role`'s comments, coding history, profile, encoder) and
/// the RIFF chunks `flac -d --keep-foreign-metadata` restores (bext with `history`, and what the
/// source carried).
#[allow(clippy::too_many_arguments)]
fn file_metadata(
    req: &IngestRequest,
    fields: &Fields,
    take: &Take,
    parts: usize,
    carried: &Carried,
    channel: Option<usize>,
    channels: usize,
    history: &str,
    role: Vec<(String, String)>,
) -> MasterMetadata {
    let info = &take.info;
    let profile = &req.profile;
    let bits = u32::from(info.valid_bits);
    let bext = master_bext(req, fields, carried.bext, history.to_string());
    let mut before: Vec<Arc<[u8]>> = vec![riff::chunk(b"bext", &bext.to_bytes()).into()];
    before.extend(carried.before.iter().cloned());
    // The WAV that `flac -d` rebuilds holds bits/8 bytes a sample.
    let data_len = info.frames.0 * channels as u64 * u64::from(bits / 8);
    let mask = if channels == usize::from(info.channels) {
        info.channel_mask
    } else {
        None
    };
    let fmt = riff::fmt_payload(channels as u16, info.sample_rate, bits as u16, mask);
    let riff_chunks = riff::foreign_blocks(&fmt, &before, data_len, carried.after);
    let mut comments: Vec<(String, String)> = fields
        .ordered()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let names = match channel {
        Some(c) => profile.channel_names[c - 1].clone(),
        None => profile.channel_names.join(";"),
    };
    comments.push(("CHANNEL_NAMES".into(), names));
    if let Some(c) = channel {
        comments.push(("CHANNEL".into(), c.to_string()));
    }
    if parts > 1 {
        comments.push(("PART".into(), format!("{}/{parts}", take.part)));
    }
    comments.extend(role);
    comments.push((
        "CODING_HISTORY".into(),
        history.trim_end().replace("\r\n", "\n"),
    ));
    comments.push(("CAPSTAN_PROFILE".into(), profile.name.clone()));
    comments.push((
        "ENCODER".into(),
        format!(
            "Capstan {} (libFLAC {})",
            env!("CARGO_PKG_VERSION"),
            libflac_version()
        ),
    ));
    MasterMetadata {
        comments,
        riff_chunks,
        padding: 8192,
        seek_every_seconds: 10,
    }
}

struct TakeResult {
    report: TakeReport,
    payload: Vec<PayloadFile>,
}

/// One master to write from a take: its file, and which channel (per-channel layout).
struct MasterPlan {
    rel: String,
    path: PathBuf,
    channel: Option<usize>,
    channels: usize,
}

fn transfer_take(
    req: &IngestRequest,
    fields: &Fields,
    take: &Take,
    parts: usize,
    staging: &Staging,
) -> Result<TakeResult, IngestError> {
    let profile = &req.profile;
    let info = &take.info;
    let channels = usize::from(info.channels);
    let bits = u32::from(info.valid_bits);
    let stem = profile.master_name.replace("{id}", &req.id);
    let part_suffix = if parts > 1 {
        format!("_p{:02}", take.part)
    } else {
        String::new()
    };
    let plans: Vec<MasterPlan> = match profile.layout {
        Layout::Interleaved => vec![(None, channels)],
        Layout::PerChannel => (1..=channels).map(|c| (Some(c), 1)).collect(),
    }
    .into_iter()
    .map(|(channel, n)| {
        let ch = channel.map(|c| format!("_ch{c:02}")).unwrap_or_default();
        let name = format!("{stem}{part_suffix}{ch}.flac");
        MasterPlan {
            rel: format!("data/{name}"),
            path: staging.data_dir().join(&name),
            channel,
            channels: n,
        }
    })
    .collect();

    let source_bext = info
        .chunks
        .iter()
        .find(|c| &c.id == b"bext")
        .and_then(|c| Bext::parse(&c.data));
    let carried_before: Vec<Arc<[u8]>> = info
        .chunks
        .iter()
        .filter(|c| &c.id != b"bext")
        .map(|c| riff::chunk(&c.id, &c.data).into())
        .collect();
    let carried_after: Vec<Arc<[u8]>> = take
        .trailing
        .iter()
        .map(|c| riff::chunk(&c.id, &c.data).into())
        .collect();
    let first_master = plans[0].rel.strip_prefix("data/").unwrap_or(&plans[0].rel);
    let carried_elsewhere = (plans.len() > 1
        && !(carried_before.is_empty() && carried_after.is_empty()))
    .then(|| format!("in {first_master}"));

    let mut encoders = Vec::with_capacity(plans.len());
    for plan in &plans {
        let history = coding_history(
            profile,
            fields,
            source_bext.as_ref().map(|b| b.coding_history.as_str()),
            plan.channels,
        );
        // A per-channel take's source chunks go into its first channel's master only (each
        // master still has its own bext); the others say where they are.
        let first = plan.channel.is_none_or(|c| c == 1);
        let carried = Carried {
            bext: source_bext.as_ref(),
            before: if first { &carried_before } else { &[] },
            after: if first { &carried_after } else { &[] },
        };
        let mut role = vec![("ROLE".to_string(), "preservation master".to_string())];
        if let (false, Some(where_)) = (first, &carried_elsewhere) {
            role.push(("SOURCE_CHUNKS".into(), where_.clone()));
        }
        let meta = file_metadata(
            req,
            fields,
            take,
            parts,
            &carried,
            plan.channel,
            plan.channels,
            &history,
            role,
        );
        let spec = StreamSpec {
            channels: plan.channels as u32,
            bits_per_sample: bits,
            sample_rate: info.sample_rate,
            total_frames: info.frames.0,
            compression_level: profile.compression_level,
            threads: encoder_threads(),
        };
        encoders.push(MasterEncoder::create(&plan.path, spec, &meta)?);
    }

    let (levels, found, source_sha, source_bytes, encoded) =
        stream_take(req, take, encoders, channels, bits, profile)?;

    let loudness = BextLoudness {
        integrated: BextLoudness::field(levels.overall.integrated_lufs),
        range: BextLoudness::field(levels.overall.loudness_range_lu),
        max_true_peak: BextLoudness::field(levels.overall.true_peak_dbtp),
        max_momentary: BextLoudness::field(levels.overall.max_momentary_lufs),
        max_short_term: BextLoudness::field(levels.overall.max_short_term_lufs),
    };
    // Proving each master: hash + decode + MD5 against the source's samples, in parallel.
    test_pause("verifying");
    let checks: Vec<Result<FlacCheck, IngestError>> = plans
        .par_iter()
        .zip(encoded.par_iter())
        .map(|(plan, enc)| {
            patch_riff_chunk(&plan.path, b"bext", LOUDNESS_OFFSET, &loudness.to_bytes())?;
            let check = check_master(req, &plan.path)?;
            prove_bit_exact(&check, enc.frames)?;
            Ok(check)
        })
        .collect();
    let mut payload = Vec::new();
    let mut masters = Vec::new();
    for (plan, check) in plans.iter().zip(checks) {
        let check = check?;
        let md5 = check.audio.streaminfo.map(|s| s.md5).unwrap_or_default();
        payload.push(PayloadFile {
            path: plan.rel.clone(),
            sha256: check.sha256,
            bytes: check.bytes,
        });
        masters.push(MasterReport {
            file: plan.rel.clone(),
            channel: plan.channel,
            sha256: hex(&check.sha256),
            bytes: check.bytes,
            audio_md5: hex(&md5),
            frames: FrameCount(check.audio.decoded_frames),
            verification: "read back once: SHA-256 of the file, and decoded by libFLAC with every frame CRC good, the source's frame count, and the decoded audio's MD5 equal to the STREAMINFO MD5 computed from the source samples".into(),
        });
    }
    let carried = Carried {
        bext: source_bext.as_ref(),
        before: &carried_before,
        after: &carried_after,
    };
    let (access_copy, repairs) = if profile.access_copy.enabled {
        let (report, repairs, file) = make_access_copy(
            req, fields, take, parts, &carried, &levels, &masters, staging,
        )?;
        payload.push(file);
        (Some(report), repairs)
    } else if profile.analysis.clicks {
        (None, map_clicks(req, take, &masters)?)
    } else {
        (None, Vec::new())
    };
    let report = TakeReport {
        part: take.part,
        source: SourceReport {
            file: take
                .path
                .file_name()
                .map(|n| clean_carried(&n.to_string_lossy()))
                .unwrap_or_default(),
            sha256: hex(&source_sha),
            bytes: source_bytes,
            container: format!("{:?}", info.container),
            sample_rate: info.sample_rate,
            bits_per_sample: bits,
            channels,
            frames: info.frames,
            duration: info.frames.timecode(info.sample_rate),
        },
        masters,
        channel_names: profile.channel_names.clone(),
        defects: {
            let mut d = defect_map(&levels, &found, info.sample_rate);
            if let Some(c) = req.capture.as_ref().filter(|_| take.part == 1) {
                d.extend(c.gaps.iter().cloned());
            }
            d.extend(repair_defects(
                &repairs,
                info.sample_rate,
                crate::report::MAX_REPAIR_DEFECTS,
            ));
            sort_defects(&mut d);
            d
        },
        access_copy,
        capture: req.capture.clone().filter(|_| take.part == 1),
        clip_runs_total: levels.clip_runs_total,
        dropouts_total: found.dropouts_total,
        phase: found.phase,
        overall: levels.overall,
        channels: levels.channels,
    };
    Ok(TakeResult { report, payload })
}

/// The take's access copy, `<access name>.flac` beside its master(s): the source's samples
/// (proved identical to the master's) declicked and brought to the target loudness as the
/// profile asks, with the master's coding history extended by the processing and the FLAC
/// step, and its metadata naming the master it was made from. Proved like a master (frame
/// CRCs, frame count, audio MD5) before the bag is committed.
#[allow(clippy::too_many_arguments)]
fn make_access_copy(
    req: &IngestRequest,
    fields: &Fields,
    take: &Take,
    parts: usize,
    carried: &Carried,
    levels: &LevelReport,
    masters: &[MasterReport],
    staging: &Staging,
) -> Result<(AccessCopyReport, Vec<Repair>, PayloadFile), IngestError> {
    let profile = &req.profile;
    let ac = &profile.access_copy;
    let info = &take.info;
    let (channels, bits, rate) = (
        usize::from(info.channels),
        u32::from(info.valid_bits),
        info.sample_rate,
    );
    let part_suffix = if parts > 1 {
        format!("_p{:02}", take.part)
    } else {
        String::new()
    };
    let name = format!(
        "{}{part_suffix}.flac",
        profile.access_name.replace("{id}", &req.id)
    );
    let rel = format!("data/{name}");
    let path = staging.data_dir().join(&name);

    let declick = ac.declick.then(|| ac.declick_settings());
    let (gain_db, limited) = ac
        .target_loudness_lufs
        .and_then(|t| {
            loudness_gain(
                t,
                levels.overall.integrated_lufs,
                // Without true peak (turned off in the profile) the sample peak bounds the gain.
                levels
                    .overall
                    .true_peak_dbtp
                    .or(levels.overall.sample_peak_dbfs),
            )
        })
        .unwrap_or((0.0, false));
    let gain_db = (gain_db * 100.0).round() / 100.0;
    let mut steps = Vec::new();
    if let Some(d) = &declick {
        steps.push(format!(
            "declicked (AR model; sensitivity {})",
            d.sensitivity
        ));
    }
    if let Some(t) = ac.target_loudness_lufs {
        steps.push(format!(
            "gain {gain_db:+.2} dB for {t} LUFS{}",
            if limited {
                " (held to a -1 dBTP true peak)"
            } else {
                ""
            }
        ));
    }
    if steps.is_empty() {
        steps.push("unprocessed".into());
    }
    let derived_from: Vec<String> = masters.iter().map(|m| m.file.clone()).collect();
    let master_names: Vec<&str> = derived_from
        .iter()
        .map(|f| f.strip_prefix("data/").unwrap_or(f))
        .collect();
    let processing = format!(
        "access copy of {}: {}",
        master_names.join(" + "),
        steps.join("; ")
    );
    let mut history = coding_history(
        profile,
        fields,
        carried.bext.map(|b| b.coding_history.as_str()),
        channels,
    );
    history.push_str(&format!(
        "A=PCM,F={rate},W={bits},M={},T=Capstan {}; {processing}\r\n",
        mode(channels),
        env!("CARGO_PKG_VERSION"),
    ));
    history.push_str(&format!(
        "A=FLAC,F={rate},W={bits},M={},T=Capstan {}; libFLAC {}\r\n",
        mode(channels),
        env!("CARGO_PKG_VERSION"),
        libflac_version()
    ));
    let mut role = vec![
        ("ROLE".to_string(), "access copy".to_string()),
        ("SOURCE".to_string(), master_names.join(";")),
    ];
    if let [m] = masters {
        role.push(("SOURCE_MD5".into(), m.audio_md5.clone()));
    }
    role.push(("PROCESSING".into(), processing.clone()));
    let meta = file_metadata(
        req, fields, take, parts, carried, None, channels, &history, role,
    );
    let spec = StreamSpec {
        channels: channels as u32,
        bits_per_sample: bits,
        sample_rate: rate,
        total_frames: info.frames.0,
        compression_level: profile.compression_level,
        threads: encoder_threads(),
    };
    let mut encoder = MasterEncoder::create(&path, spec, &meta)?;
    let mut analyser =
        LevelAnalyser::new(channels, rate, bits, &profile.analysis).map_err(|source| {
            IngestError::Analysis {
                path: take.path.clone(),
                source,
            }
        })?;
    let repairs = derive_from_take(
        req,
        take,
        masters,
        "the access copy",
        &Processing {
            declick: declick.clone(),
            gain_db,
        },
        |block| {
            analyser.process(block);
            encoder.write(block).map_err(IngestError::from)
        },
    )?;
    let encoded = encoder.finish()?;
    let copy_levels = analyser.finish();
    let loudness = BextLoudness {
        integrated: BextLoudness::field(copy_levels.overall.integrated_lufs),
        range: BextLoudness::field(copy_levels.overall.loudness_range_lu),
        max_true_peak: BextLoudness::field(copy_levels.overall.true_peak_dbtp),
        max_momentary: BextLoudness::field(copy_levels.overall.max_momentary_lufs),
        max_short_term: BextLoudness::field(copy_levels.overall.max_short_term_lufs),
    };
    patch_riff_chunk(&path, b"bext", LOUDNESS_OFFSET, &loudness.to_bytes())?;
    let check = check_master(req, &path)?;
    prove_bit_exact(&check, encoded.frames)?;
    let md5 = check.audio.streaminfo.map(|s| s.md5).unwrap_or_default();
    let report = AccessCopyReport {
        file: rel.clone(),
        sha256: hex(&check.sha256),
        bytes: check.bytes,
        audio_md5: hex(&md5),
        frames: FrameCount(check.audio.decoded_frames),
        derived_from,
        processing,
        declick: declick.map(|d| DeclickReport::of(d.sensitivity, &repairs)),
        gain_db,
        target_loudness_lufs: ac.target_loudness_lufs,
        gain_limited_by_true_peak: limited,
        integrated_lufs: copy_levels.overall.integrated_lufs,
        true_peak_dbtp: copy_levels.overall.true_peak_dbtp,
    };
    let file = PayloadFile {
        path: rel,
        sha256: check.sha256,
        bytes: check.bytes,
    };
    Ok((report, repairs, file))
}

/// Reads the take's source again through [`derive`] into `write` (stopping when interrupted);
/// the repairs made. The samples read are proved to be the masters' own: their MD5, computed
/// as FLAC's STREAMINFO MD5 is (each sample little-endian in whole bytes; per channel for
/// per-channel masters), must equal each master's audio MD5, so a source changed between the
/// two reads fails the ingest before anything is committed.
fn derive_from_take(
    req: &IngestRequest,
    take: &Take,
    masters: &[MasterReport],
    purpose: &'static str,
    processing: &Processing,
    write: impl FnMut(&[i32]) -> Result<(), IngestError> + Send,
) -> Result<Vec<Repair>, IngestError> {
    let info = &take.info;
    let channels = usize::from(info.channels);
    test_pause("reread");
    let mut reader = WavReader::open(&take.path)?;
    let bits = u32::from(info.valid_bits);
    let width = (bits as usize).div_ceil(8);
    let per_channel = masters.len() > 1;
    let mut hashers: Vec<md5::Md5> = (0..if per_channel { channels } else { 1 })
        .map(|_| md5::Md5::new())
        .collect();
    let mut bytes = Vec::new();
    let read = |buf: &mut [i32]| {
        if interrupted(req) {
            return Err(IngestError::Interrupted);
        }
        let n = reader.read_frames(buf)? * channels;
        let samples = &buf[..n];
        for (c, hasher) in hashers.iter_mut().enumerate() {
            bytes.clear();
            let (skip, step) = if per_channel { (c, channels) } else { (0, 1) };
            for s in samples.iter().skip(skip).step_by(step) {
                bytes.extend_from_slice(&s.to_le_bytes()[..width]);
            }
            hasher.update(&bytes);
        }
        Ok(n)
    };
    let repairs =
        derive(channels, info.sample_rate, bits, processing, read, write).map_err(|e| match e {
            DeriveError::Declick(source) => IngestError::Declick {
                path: take.path.clone(),
                source,
            },
            DeriveError::Io(e) => e,
        })?;
    reader.finish_discarding_chunks()?;
    for (hasher, master) in hashers.into_iter().zip(masters) {
        let md5 = hex(&hasher.finalize());
        if md5 != master.audio_md5 {
            return Err(IngestError::SourceChanged {
                path: take.path.clone(),
                purpose,
                detail: format!(
                    "audio MD5 {md5} on the second read, {} in the master {}",
                    master.audio_md5, master.file
                ),
            });
        }
    }
    Ok(repairs)
}

/// The clicks in a take, for the defect map of a profile that asks for them without a
/// declicked access copy: the declicker run over the source, its output discarded.
fn map_clicks(
    req: &IngestRequest,
    take: &Take,
    masters: &[MasterReport],
) -> Result<Vec<Repair>, IngestError> {
    let settings = req.profile.access_copy.declick_settings();
    derive_from_take(
        req,
        take,
        masters,
        "the click map",
        &Processing {
            declick: Some(settings),
            gain_db: 0.0,
        },
        |_| Ok(()),
    )
}

/// libFLAC threads per master. One: the analysis thread and the reader already keep the
/// second core busy (10-minute 96 kHz/24-bit stereo ingest on 2 cores, paired against the peer
/// of benches/ingest.sh: 1 thread 0.642 of the peer's wall time, 2 threads 0.645;
/// docs/benchmarks.md). Items of several takes use both cores by encoding takes side by side.
fn encoder_threads() -> u32 {
    1
}

/// The decoded master must be intact: every frame CRC good, exactly the source's frame count,
/// and the MD5 of the decoded audio equal to the STREAMINFO MD5 that libFLAC computed from the
/// source samples as they were handed to it (an all-zero MD5 fails: nothing was checked).
fn prove_bit_exact(check: &FlacCheck, frames: u64) -> Result<(), IngestError> {
    let fail = |detail: String| IngestError::NotBitExact {
        path: check.path.clone(),
        detail,
    };
    if let Some(d) = check.audio.damage.first() {
        return Err(fail(format!("{} at frame {}", d.kind, d.at.0)));
    }
    if check.audio.streaminfo.is_none() {
        return Err(fail("no STREAMINFO".into()));
    }
    if !check.audio.is_intact() {
        return Err(fail(format!("MD5 check: {:?}", check.audio.md5)));
    }
    if check.audio.decoded_frames != frames {
        return Err(fail(format!(
            "{} frames decoded, the source has {frames}",
            check.audio.decoded_frames
        )));
    }
    Ok(())
}

type Streamed = (
    LevelReport,
    DefectReport,
    [u8; 32],
    u64,
    Vec<crate::flac::encode::EncodedMaster>,
);

/// Reads the take once, feeding analysis and encoding on their own threads.
fn stream_take(
    req: &IngestRequest,
    take: &Take,
    encoders: Vec<MasterEncoder>,
    channels: usize,
    bits: u32,
    profile: &Profile,
) -> Result<Streamed, IngestError> {
    let analysis_error = |source| IngestError::Analysis {
        path: take.path.clone(),
        source,
    };
    let rate = take.info.sample_rate;
    let analyser =
        LevelAnalyser::new(channels, rate, bits, &profile.analysis).map_err(analysis_error)?;
    let defects =
        DefectAnalyser::new(channels, rate, bits, &profile.analysis).map_err(analysis_error)?;
    let sha = Arc::new(Mutex::new((Sha256::new(), 0u64)));
    let tap_sha = Arc::clone(&sha);
    let mut reader = WavReader::open_with_tap(
        &take.path,
        Box::new(move |bytes: &[u8]| {
            let mut s = tap_sha.lock().expect("hash lock");
            s.0.update(bytes);
            s.1 += bytes.len() as u64;
        }),
    )?;
    let (to_analysis, from_reader_a) = sync_channel::<Arc<Vec<i32>>>(4);
    let (to_encoder, from_reader_e) = sync_channel::<Arc<Vec<i32>>>(4);
    std::thread::scope(|scope| {
        let analysis = scope.spawn(move || {
            let (mut analyser, mut defects) = (analyser, defects);
            for block in from_reader_a {
                analyser.process(&block);
                defects.process(&block);
            }
            (analyser.finish(), defects.finish())
        });
        let encoding = scope.spawn(move || -> Result<Vec<_>, IngestError> {
            let mut encoders = encoders;
            let mut planes: Vec<Vec<i32>> =
                vec![Vec::new(); if encoders.len() > 1 { channels } else { 0 }];
            let mut failed = None;
            for block in from_reader_e {
                if failed.is_some() {
                    continue; // drain, so the reader never blocks on a dead encoder
                }
                let result = if encoders.len() == 1 {
                    encoders[0].write(&block)
                } else {
                    deinterleave(&block, &mut planes);
                    encoders
                        .iter_mut()
                        .zip(&planes)
                        .try_for_each(|(e, p)| e.write(p))
                };
                if let Err(e) = result {
                    failed = Some(e);
                }
            }
            if let Some(e) = failed {
                return Err(e.into());
            }
            encoders
                .into_iter()
                .map(|e| e.finish().map_err(IngestError::from))
                .collect()
        });
        test_pause("reading");
        let read_result = (|| -> Result<(), IngestError> {
            loop {
                if interrupted(req) {
                    return Err(IngestError::Interrupted);
                }
                let mut block = vec![0i32; BLOCK_FRAMES * channels];
                let frames = reader.read_frames(&mut block)?;
                if frames == 0 {
                    break;
                }
                block.truncate(frames * channels);
                let block = Arc::new(block);
                // A closed channel means that side failed; its error is reported below.
                if to_analysis.send(Arc::clone(&block)).is_err() || to_encoder.send(block).is_err()
                {
                    break;
                }
            }
            Ok(())
        })();
        drop(to_analysis);
        drop(to_encoder);
        let (levels, found) = analysis.join().expect("analysis thread");
        let encoded = encoding.join().expect("encoder thread");
        read_result?;
        let encoded = encoded?;
        // The chunks after `data` were read before the transfer (`Take::trailing`).
        reader.finish_discarding_chunks()?;
        let (hasher, bytes) = std::mem::take(&mut *sha.lock().expect("hash lock"));
        Ok((levels, found, hasher.finalize().into(), bytes, encoded))
    })
}

/// Splits interleaved frames into one plane per channel.
fn deinterleave(block: &[i32], planes: &mut [Vec<i32>]) {
    let channels = planes.len();
    for (c, plane) in planes.iter_mut().enumerate() {
        plane.clear();
        plane.extend(block.iter().skip(c).step_by(channels));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coding_history_follows_ebu_r98() {
        let p = Profile::load("quarter-inch-half-track-stereo").unwrap();
        let f = Fields(
            [
                ("DECK", "Studer A807; SN 1234"),
                ("TAPE_SPEED", "7.5"),
                ("CARRIER_FORMAT", "1/4 inch open reel"),
                ("PLAYBACK_EQ", "NAB"),
                ("ADC", "RME Fireface UFX"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        );
        let h = coding_history(&p, &f, None, 2);
        let lines: Vec<&str> = h.split("\r\n").collect();
        assert_eq!(
            lines[0],
            "A=ANALOGUE,M=stereo,T=Studer A807; SN 1234; 7.5 ips; 1/4 inch open reel, NAB"
        );
        assert_eq!(
            lines[1],
            "A=PCM,F=96000,W=24,M=stereo,T=RME Fireface UFX; A/D"
        );
        assert!(
            lines[2].starts_with("A=FLAC,F=96000,W=24,M=stereo,T=Capstan "),
            "{}",
            lines[2]
        );
        assert_eq!(lines[3], "");
        // A source with its own history keeps it and gains the FLAC line.
        let kept = coding_history(
            &p,
            &f,
            Some("A=PCM,F=96000,W=24,M=stereo,T=Other tool\r\n"),
            2,
        );
        assert!(
            kept.starts_with("A=PCM,F=96000,W=24,M=stereo,T=Other tool\r\nA=FLAC,"),
            "{kept}"
        );
    }

    #[test]
    fn list_info_reads_padded_subchunks() {
        let mut b = Vec::new();
        b.extend_from_slice(b"INAM\x05\0\0\0Title\0");
        b.extend_from_slice(b"ICRD\x0a\0\0\x001999-01-02");
        let got = list_info(&b);
        assert_eq!(got[0], (*b"INAM", "Title".to_string()));
        assert_eq!(got[1], (*b"ICRD", "1999-01-02".to_string()));
    }
}
