//! Recover: takes whose capture died, finished from their journals into items flagged
//! "recovered".

use super::journal::{self, JournalError};
use super::{capture_report, CaptureError, TakeEnd};
use crate::archive::item_id::ItemId;
use crate::archive::Archive;
use crate::ingest::{ingest, IngestOutcome, IngestRequest};
use crate::metadata::Fields;
use crate::profile::Profile;
use std::path::PathBuf;
use time::OffsetDateTime;

/// One interrupted take and what became of it.
#[derive(Debug)]
pub struct Recovered {
    pub journal: PathBuf,
    pub item: String,
    pub outcome: Result<(IngestOutcome, u64), String>,
}

/// Finishes every take whose capture died (its journal's lock is free) into an item flagged
/// "recovered": the journal is cut at its last whole frame (what was made durable: at most the
/// last second is lost), its gaps are carried into the QC report, and it goes through the
/// ingest path. A journal that cannot be finished is kept and reported.
pub fn recover(archive: &Archive) -> Result<Vec<Recovered>, CaptureError> {
    let mut done = Vec::new();
    // The archive's own folders first: a journal folder that is a link is never read through.
    archive.check_confined().map_err(|e| JournalError::Bad {
        path: archive.root.clone(),
        detail: e.to_string(),
    })?;
    for mut orphan in journal::orphans(&archive.meta_dir().join("journal"))? {
        let item = ItemId::known(&orphan.info.collection, &orphan.info.id).to_string();
        let outcome = (|| -> Result<(IngestOutcome, u64), String> {
            let frames = journal::seal(&orphan.wav, &mut orphan.lock).map_err(|e| e.to_string())?;
            let profile = Profile::load(&orphan.info.profile).map_err(|e| e.to_string())?;
            let mut meta = Fields::default();
            for (k, v) in &orphan.info.meta {
                meta.0.insert(k.clone(), v.clone());
            }
            let now = time::OffsetDateTime::parse(
                &orphan.info.started,
                &time::format_description::well_known::Rfc3339,
            )
            .unwrap_or_else(|_| OffsetDateTime::now_utc());
            let ended = TakeEnd::Recovered {
                noted: orphan.ended.clone(),
            };
            let report = capture_report(
                &orphan.info.device,
                &ended,
                true,
                &orphan.gaps,
                profile.sample_rate,
            );
            let ingested = ingest(&IngestRequest {
                profile,
                id: orphan.info.id.clone(),
                collection: orphan.info.collection.clone(),
                meta,
                archive: archive.clone(),
                sources: vec![orphan.wav.clone()],
                now,
                interrupt: None,
                capture: Some(report),
            })
            .map_err(|e| e.to_string())?;
            Ok((ingested, frames))
        })();
        if outcome.is_ok() {
            journal::remove(&orphan.wav);
        }
        done.push(Recovered {
            journal: orphan.wav,
            item,
            outcome,
        });
    }
    Ok(done)
}
