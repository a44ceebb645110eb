//! The access copy of a take: the source read again, declicked and brought to the target
//! loudness as the profile asks, sealed like a master.

use super::tags::{coding_history, file_metadata, mode, Carried};
use super::take::{derive_from_take, Take};
use super::{check_master, encoder_threads, prove_bit_exact, IngestError, IngestRequest};
use crate::archive::bag::PayloadFile;
use crate::archive::Staging;
use crate::dsp::declick::Repair;
use crate::dsp::levels::{LevelAnalyser, LevelReport};
use crate::flac::bext::{BextLoudness, LOUDNESS_OFFSET};
use crate::flac::encode::{patch_riff_chunk, MasterEncoder, StreamSpec};
use crate::flac::{hex, libflac_version};
use crate::metadata::Fields;
use crate::report::{AccessCopyReport, DeclickReport, MasterReport};
use crate::restore::{loudness_gain, Processing};
use crate::units::FrameCount;

/// The take's access copy, `<access name>.flac` beside its master(s): the source's samples
/// (proved identical to the master's) declicked and brought to the target loudness as the
/// profile asks, with the master's coding history extended by the processing and the FLAC
/// step, and its metadata naming the master it was made from. Proved like a master (frame
/// CRCs, frame count, audio MD5) before the bag is committed.
#[allow(clippy::too_many_arguments)]
pub(super) fn make_access_copy(
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
