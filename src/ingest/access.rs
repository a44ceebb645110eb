//! The access copy of a take: the source read again, declicked and brought to the target
//! loudness as the profile asks, sealed like a master.

use super::seal::{loudness, seal};
use super::tags::{coding_history, file_metadata, mode, r98_text, Carried, FileTags};
use super::take::{derive_from_take, Take};
use super::{encoder_threads, IngestError, ItemPlan};
use crate::archive::bag::PayloadFile;
use crate::dsp::declick::Repair;
use crate::dsp::levels::{LevelAnalyser, LevelReport};
use crate::flac::encode::{MasterEncoder, StreamSpec};
use crate::report::{AccessCopyReport, DeclickReport, MasterReport};
use crate::restore::{loudness_gain, Processing};

/// A take's access copy, made and sealed.
pub(super) struct AccessCopy {
    pub(super) report: AccessCopyReport,
    /// The clicks the declicker repaired (none when it is off), for the defect map.
    pub(super) repairs: Vec<Repair>,
    pub(super) file: PayloadFile,
}

/// What the profile asks done to the access copy, resolved against the take's levels.
struct Recipe {
    processing: Processing,
    /// The gain was held down so that the true peak stays at -1 dBTP.
    limited: bool,
    /// How the copy was made, in words (its `PROCESSING` comment and coding history line).
    description: String,
}

/// The take's access copy, `<access name>.flac` beside its master(s): the source's samples
/// (proved identical to the master's) declicked and brought to the target loudness as the
/// profile asks, with the master's coding history extended by the processing and the FLAC
/// step, and its metadata naming the master it was made from. Proved like a master (frame
/// CRCs, frame count, audio MD5) before the bag is committed.
pub(super) fn make_access_copy(
    plan: &ItemPlan,
    take: &Take,
    carried: &Carried,
    levels: &LevelReport,
    masters: &[MasterReport],
) -> Result<AccessCopy, IngestError> {
    let profile = plan.profile();
    let ac = &profile.access_copy;
    let info = &take.info;
    let (channels, bits, rate) = (
        usize::from(info.channels),
        u32::from(info.valid_bits),
        info.sample_rate,
    );
    let name = format!(
        "{}{}.flac",
        profile.access_name.replace("{id}", &plan.req.id),
        plan.part_suffix(take)
    );
    let (rel, path) = plan.data_file(&name);

    let derived_from: Vec<String> = masters.iter().map(|m| m.file.clone()).collect();
    let master_names: Vec<&str> = derived_from
        .iter()
        .map(|f| f.strip_prefix("data/").unwrap_or(f))
        .collect();
    let recipe = recipe(plan, levels, &master_names);
    let processing = &recipe.description;
    let history = access_history(plan, take, carried, processing);
    let mut role = vec![
        ("ROLE".to_string(), "access copy".to_string()),
        ("SOURCE".to_string(), master_names.join(";")),
    ];
    if let [m] = masters {
        role.push(("SOURCE_MD5".into(), m.audio_md5.clone()));
    }
    role.push(("PROCESSING".into(), processing.clone()));
    let meta = file_metadata(
        plan,
        take,
        carried,
        FileTags {
            channel: None,
            channels,
            history: &history,
            role,
        },
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
        plan.req,
        take,
        masters,
        "the access copy",
        &recipe.processing,
        |block| {
            analyser.process(block);
            encoder.write(block).map_err(IngestError::from)
        },
    )?;
    let encoded = encoder.finish()?;
    let copy_levels = analyser.finish();
    let sealed = seal(
        plan.req,
        &rel,
        &path,
        &loudness(&copy_levels, None),
        (encoded.frames, u32::from(take.info.valid_bits)),
    )?;
    let report = AccessCopyReport {
        file: rel,
        sha256: sealed.sha256(),
        bytes: sealed.check.bytes,
        audio_md5: sealed.audio_md5(),
        frames: sealed.frames(),
        derived_from,
        processing: recipe.description,
        declick: recipe
            .processing
            .declick
            .map(|d| DeclickReport::of(d.sensitivity, &repairs)),
        gain_db: recipe.processing.gain_db,
        target_loudness_lufs: ac.target_loudness_lufs,
        gain_limited_by_true_peak: recipe.limited,
        integrated_lufs: copy_levels.overall.integrated_lufs,
        true_peak_dbtp: copy_levels.overall.true_peak_dbtp,
    };
    Ok(AccessCopy {
        report,
        repairs,
        file: sealed.payload(),
    })
}

/// The profile's access copy settings applied to a take of these levels, made from the masters
/// named.
fn recipe(plan: &ItemPlan, levels: &LevelReport, master_names: &[&str]) -> Recipe {
    let ac = &plan.profile().access_copy;
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
    let description = format!(
        "access copy of {}: {}",
        master_names.join(" + "),
        steps.join("; ")
    );
    Recipe {
        processing: Processing { declick, gain_db },
        limited,
        description,
    }
}

/// The access copy's coding history: the masters' (the source's lines and the carrier's), then
/// the processing (the FLAC step is in its Vorbis comments).
fn access_history(plan: &ItemPlan, take: &Take, carried: &Carried, processing: &str) -> String {
    let info = &take.info;
    let (channels, bits, rate) = (
        usize::from(info.channels),
        u32::from(info.valid_bits),
        info.sample_rate,
    );
    let profile = plan.profile();
    let mut history = coding_history(
        profile,
        &plan.fields,
        carried.bext.map(|b| b.coding_history.as_str()),
        (rate, bits, channels),
    );
    history.push_str(&format!(
        "A=PCM,F={rate},W={bits},M={},T=Capstan {}; {}\r\n",
        mode(channels),
        env!("CARGO_PKG_VERSION"),
        r98_text(processing),
    ));
    history
}
