//! The preservation masters of a take: planned, encoded in the one read of the source,
//! sealed, and reported.

use super::access::make_access_copy;
use super::tags::{clean_carried, coding_history, file_metadata, Carried};
use super::take::{map_clicks, stream_take, Take};
use super::{
    check_master, encoder_threads, prove_bit_exact, test_pause, IngestError, IngestRequest,
};
use crate::archive::bag::PayloadFile;
use crate::archive::Staging;
use crate::flac::bext::{Bext, BextLoudness, LOUDNESS_OFFSET};
use crate::flac::encode::{patch_riff_chunk, MasterEncoder, StreamSpec};
use crate::flac::verify::FlacCheck;
use crate::flac::{hex, riff};
use crate::metadata::Fields;
use crate::profile::Layout;
use crate::report::{
    defect_map, repair_defects, sort_defects, MasterReport, SourceReport, TakeReport,
};
use crate::units::FrameCount;
use rayon::prelude::*;
use std::path::PathBuf;
use std::sync::Arc;

pub(super) struct TakeResult {
    pub(super) report: TakeReport,
    pub(super) payload: Vec<PayloadFile>,
}

/// One master to write from a take: its file, and which channel (per-channel layout).
pub(super) struct MasterPlan {
    pub(super) rel: String,
    pub(super) path: PathBuf,
    pub(super) channel: Option<usize>,
    pub(super) channels: usize,
}

pub(super) fn transfer_take(
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
