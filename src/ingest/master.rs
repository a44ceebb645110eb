//! The preservation masters of a take: named, encoded in the one read of the source, sealed,
//! and reported with the take's analysis.

use super::access::{make_access_copy, AccessCopy};
use super::seal::{loudness, seal, Sealed};
use super::tags::{clean_carried, coding_history, file_metadata, FileTags, SourceChunks};
use super::take::{map_clicks, stream_take, FirstRead, Take};
use super::{encoder_threads, test_pause, IngestError, ItemPlan};
use crate::archive::bag::PayloadFile;
use crate::dsp::declick::Repair;
use crate::flac::encode::{MasterEncoder, StreamSpec};
use crate::profile::Layout;
use crate::report::{
    defect_map, repair_defects, sort_defects, MasterReport, SourceReport, TakeReport,
};
use rayon::prelude::*;
use std::path::PathBuf;

pub(super) struct TakeResult {
    pub(super) report: TakeReport,
    pub(super) payload: Vec<PayloadFile>,
}

/// One master to write from a take: its file, and which channel (per-channel layout).
struct MasterFile {
    rel: String,
    path: PathBuf,
    channel: Option<usize>,
    channels: usize,
}

/// Makes a take's masters (and its access copy or click map) in staging, proved; its report
/// and the files it adds to the bag.
pub(super) fn transfer_take(plan: &ItemPlan, take: &Take) -> Result<TakeResult, IngestError> {
    let profile = plan.profile();
    let files = master_files(plan, take);
    let chunks = SourceChunks::of(take);
    let encoders = open_encoders(plan, take, &files, &chunks)?;
    let first_read = stream_take(plan.req, take, encoders)?;

    // Proving each master: hash + decode + MD5 against the source's samples, in parallel.
    test_pause("verifying");
    let bits = u32::from(take.info.valid_bits);
    let sealed: Vec<Result<Sealed, IngestError>> = files
        .par_iter()
        .zip(first_read.encoded.par_iter())
        .map(|(file, enc)| {
            let loudness = loudness(&first_read.levels, file.channel);
            seal(
                plan.req,
                &file.rel,
                &file.path,
                &loudness,
                (enc.frames, bits),
            )
        })
        .collect();
    let mut payload = Vec::new();
    let mut masters = Vec::new();
    for (file, sealed) in files.iter().zip(sealed) {
        let sealed = sealed?;
        payload.push(sealed.payload());
        masters.push(MasterReport {
            file: sealed.rel.clone(),
            channel: file.channel,
            sha256: sealed.sha256(),
            bytes: sealed.check.bytes,
            audio_md5: sealed.audio_md5(),
            frames: sealed.frames(),
            verification: "read back once: SHA-256 of the file, and decoded by libFLAC with every frame CRC good, the source's frame count, and the decoded audio's MD5 equal to the STREAMINFO MD5 computed from the source samples".into(),
        });
    }
    let (access_copy, repairs) = if profile.access_copy.enabled {
        let AccessCopy {
            report,
            repairs,
            file,
        } = make_access_copy(plan, take, &chunks.all(), &first_read.levels, &masters)?;
        payload.push(file);
        (Some(report), repairs)
    } else if profile.analysis.clicks {
        (None, map_clicks(plan.req, take, &masters)?)
    } else {
        (None, Vec::new())
    };
    let report = take_report(plan, take, first_read, masters, access_copy, &repairs);
    Ok(TakeResult { report, payload })
}

/// The take's master files: one, or one a channel (per-channel layout).
fn master_files(plan: &ItemPlan, take: &Take) -> Vec<MasterFile> {
    let profile = plan.profile();
    let channels = usize::from(take.info.channels);
    let stem = profile.master_name.replace("{id}", &plan.req.id);
    let part_suffix = plan.part_suffix(take);
    match profile.layout {
        Layout::Interleaved => vec![(None, channels)],
        Layout::PerChannel => (1..=channels).map(|c| (Some(c), 1)).collect(),
    }
    .into_iter()
    .map(|(channel, n)| {
        let ch = channel.map(|c| format!("_ch{c:02}")).unwrap_or_default();
        let (rel, path) = plan.data_file(&format!("{stem}{part_suffix}{ch}.flac"));
        MasterFile {
            rel,
            path,
            channel,
            channels: n,
        }
    })
    .collect()
}

/// An encoder for each master, its metadata written.
fn open_encoders(
    plan: &ItemPlan,
    take: &Take,
    files: &[MasterFile],
    chunks: &SourceChunks,
) -> Result<Vec<MasterEncoder>, IngestError> {
    let profile = plan.profile();
    let info = &take.info;
    let first_master = files[0].rel.strip_prefix("data/").unwrap_or(&files[0].rel);
    let carried_elsewhere = (files.len() > 1
        && !(chunks.before.is_empty() && chunks.after.is_empty()))
    .then(|| format!("in {first_master}"));

    let mut encoders = Vec::with_capacity(files.len());
    for file in files {
        let history = coding_history(
            profile,
            &plan.fields,
            chunks.history(),
            (info.sample_rate, u32::from(info.valid_bits), file.channels),
        );
        // A per-channel take's source chunks go into its first channel's master only (each
        // master still has its own bext); the others say where they are.
        let first = file.channel.is_none_or(|c| c == 1);
        let carried = if first {
            chunks.all()
        } else {
            chunks.bext_only()
        };
        let mut role = vec![("ROLE".to_string(), "preservation master".to_string())];
        if let (false, Some(where_)) = (first, &carried_elsewhere) {
            role.push(("SOURCE_CHUNKS".into(), where_.clone()));
        }
        let meta = file_metadata(
            plan,
            take,
            &carried,
            FileTags {
                channel: file.channel,
                channels: file.channels,
                history: &history,
                role,
            },
        );
        let spec = StreamSpec {
            channels: file.channels as u32,
            bits_per_sample: u32::from(info.valid_bits),
            sample_rate: info.sample_rate,
            total_frames: info.frames.0,
            compression_level: profile.compression_level,
            threads: encoder_threads(),
        };
        encoders.push(MasterEncoder::create(&file.path, spec, &meta)?);
    }
    Ok(encoders)
}

/// The take's part of the QC report.
fn take_report(
    plan: &ItemPlan,
    take: &Take,
    first_read: FirstRead,
    masters: Vec<MasterReport>,
    access_copy: Option<crate::report::AccessCopyReport>,
    repairs: &[Repair],
) -> TakeReport {
    let (req, profile, info) = (plan.req, plan.profile(), &take.info);
    let FirstRead {
        levels,
        defects: found,
        source_sha256,
        source_bytes,
        encoded: _,
    } = first_read;
    TakeReport {
        part: take.part,
        source: SourceReport {
            file: take
                .path
                .file_name()
                .map(|n| clean_carried(&n.to_string_lossy()))
                .unwrap_or_default(),
            sha256: crate::flac::hex(&source_sha256),
            bytes: source_bytes,
            container: info.container,
            sample_rate: info.sample_rate,
            bits_per_sample: u32::from(info.valid_bits),
            channels: usize::from(info.channels),
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
                repairs,
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
    }
}
