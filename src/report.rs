//! The QC report of an item, `data/<item-id>.qc.json`: what was measured on each take and
//! where every defect is. Positions are frames from the start of the take and, for people,
//! `hh:mm:ss.fff`. Levels that cannot be measured (silence: -inf) are `null`.
//! `version` changes whenever a field changes meaning or is removed.

use crate::capture::GapKind;
use crate::dsp::declick::{Repair, RepairKind};
use crate::dsp::defects::{DefectReport, Dropout, PairPhase};
use crate::dsp::levels::{ChannelLevels, LevelReport, ProgrammeLevels};
use crate::source::wav::Container;
use crate::units::{FrameCount, FrameIndex, Timecode};
use serde::{Deserialize, Serialize};

/// The schema version of the report.
pub const QC_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, ts_rs::TS)]
pub struct QcReport {
    pub version: u32,
    pub item: String,
    pub collection: String,
    pub profile: String,
    /// RFC 3339, UTC.
    pub generated: String,
    pub software: String,
    pub takes: Vec<TakeReport>,
}

impl QcReport {
    /// Reads a QC report back: the one reader of `data/<item-id>.qc.json`, used by the
    /// catalogue's reindex, the item view and ingest-batch's resume. A report written by any
    /// release reads back as it was written (`to_json` of what this returns gives the same
    /// bytes); one that is not a QC report is an error, never a panic.
    pub fn read(json: &[u8]) -> Result<QcReport, serde_json::Error> {
        serde_json::from_slice(json)
    }

    /// The report as Capstan writes it: pretty JSON with a final newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("a QC report serialises");
        s.push('\n');
        s
    }

    /// The audio MD5 of every master and access copy it lists: (path in the bag, MD5 in
    /// lower-case hex).
    pub fn audio_md5s(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for t in &self.takes {
            for m in &t.masters {
                out.push((m.file.clone(), m.audio_md5.to_ascii_lowercase()));
            }
            if let Some(ac) = &t.access_copy {
                out.push((ac.file.clone(), ac.audio_md5.to_ascii_lowercase()));
            }
        }
        out
    }

    /// Seconds of audio it describes: each take's source frames over its sample rate (None
    /// when a take has no rate).
    pub fn audio_seconds(&self) -> Option<f64> {
        let mut seconds = 0.0;
        for t in &self.takes {
            let rate = Some(t.source.sample_rate).filter(|&r| r > 0)?;
            seconds += t.source.frames.0 as f64 / f64::from(rate);
        }
        Some(seconds)
    }
}

/// One take (one source file: a side, a reel of a set).
#[derive(Debug, Clone, Serialize, Deserialize, ts_rs::TS)]
pub struct TakeReport {
    /// 1-based.
    pub part: usize,
    pub source: SourceReport,
    pub masters: Vec<MasterReport>,
    pub channel_names: Vec<String>,
    pub overall: ProgrammeLevels,
    pub channels: Vec<ChannelLevels>,
    /// In order of their start (see [`defect_map`]).
    pub defects: Vec<Defect>,
    /// How many clip runs there were in all (the defect list keeps at most a bounded number).
    pub clip_runs_total: u64,
    /// The access copy made from the take, when the profile asks for one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub access_copy: Option<AccessCopyReport>,
    /// How many dropouts there were in all (likewise).
    pub dropouts_total: u64,
    /// Phase correlation and time offset of each pair of adjacent channels (none for mono).
    pub phase: Vec<PairPhase>,
    /// How the take was captured, when it came from an interface rather than a file.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub capture: Option<CaptureReport>,
}

/// A captured take's story: where it came from, how it ended, what was lost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct CaptureReport {
    pub device: String,
    /// Why the take ended: `duration reached`, `stopped`, `device error: ...`, `disk full`,
    /// `interrupted (recovered from its journal)`.
    pub ended: String,
    /// Finished by `capstan recover` from its journal after the capture died.
    pub recovered: bool,
    /// Samples lost, `overrun` (the writer fell behind) or `xrun` (the device dropped them),
    /// at their position in the take (also in the take's defects).
    pub gaps: Vec<Defect>,
    /// Something was lost, the take ended on a failure (device, disk) or was recovered: it
    /// needs a listen.
    pub flagged: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ts_rs::TS)]
pub struct SourceReport {
    /// The source's file name (not its path, which says nothing once archived).
    pub file: String,
    pub sha256: String,
    pub bytes: u64,
    pub container: Container,
    pub sample_rate: u32,
    pub bits_per_sample: u32,
    pub channels: usize,
    pub frames: FrameCount,
    pub duration: Timecode,
}

#[derive(Debug, Clone, Serialize, Deserialize, ts_rs::TS)]
pub struct MasterReport {
    /// Path inside the bag, `data/...`.
    pub file: String,
    /// For per-channel masters, the 1-based channel it holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub channel: Option<usize>,
    pub sha256: String,
    pub bytes: u64,
    /// STREAMINFO MD5 of the audio, equal to the MD5 of the source samples.
    pub audio_md5: String,
    pub frames: FrameCount,
    /// How the master was proved before it entered the archive.
    pub verification: String,
}

/// The access copy of a take: a derived file, never the preservation master.
#[derive(Debug, Clone, Serialize, Deserialize, ts_rs::TS)]
pub struct AccessCopyReport {
    /// Path inside the bag, `data/...`.
    pub file: String,
    pub sha256: String,
    pub bytes: u64,
    pub audio_md5: String,
    pub frames: FrameCount,
    /// The master(s) it was made from (the same samples: each master is proved bit-identical
    /// to the source before the copy is made).
    pub derived_from: Vec<String>,
    /// The processing, in the words of its coding history line.
    pub processing: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub declick: Option<DeclickReport>,
    /// dB applied after declicking (0 when no loudness target is set).
    pub gain_db: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub target_loudness_lufs: Option<f64>,
    /// The gain was held back so that the copy's true peak stays at or below −1 dBTP.
    pub gain_limited_by_true_peak: bool,
    /// The copy's own loudness and true peak, measured on what was written.
    pub integrated_lufs: Option<f64>,
    pub true_peak_dbtp: Option<f64>,
}

/// What the declicker did to an access copy (every repair is also a `click` or `crackle`
/// defect of the take, up to the defect list's cap).
#[derive(Debug, Clone, Serialize, Deserialize, ts_rs::TS)]
pub struct DeclickReport {
    pub sensitivity: f32,
    pub clicks: u64,
    pub crackle: u64,
    /// Samples replaced, over all channels.
    pub samples_repaired: u64,
}

impl DeclickReport {
    /// What `repairs`, made at `sensitivity`, come to.
    pub fn of(sensitivity: f32, repairs: &[Repair]) -> DeclickReport {
        let count = |kind: RepairKind| repairs.iter().filter(|r| r.kind == kind).count() as u64;
        DeclickReport {
            sensitivity,
            clicks: count(RepairKind::Click),
            crackle: count(RepairKind::Crackle),
            samples_repaired: repairs.iter().map(|r| r.length.0).sum(),
        }
    }
}

crate::vocabulary::vocabulary! {
    /// What a located defect is, as the QC report writes it.
    pub enum DefectKind {
        /// A kind a later version writes, kept as it was written.
        Other(String),
        /// Silence before the programme.
        SilenceHead = "silence-head",
        /// Silence after it.
        SilenceTail = "silence-tail",
        /// A run of samples at full scale.
        Clip = "clip",
        Dropout = "dropout",
        /// A stereo pair out of phase.
        Phase = "phase",
        /// A channel using fewer bits than its word (the whole take).
        BitDepth = "bit-depth",
        /// Samples lost in capture: the writer fell behind.
        Overrun = "overrun",
        /// Samples lost in capture: the device dropped them.
        Xrun = "xrun",
        /// Repaired by the declicker in the access copy.
        Click = "click",
        /// Likewise, a burst of small clicks.
        Crackle = "crackle",
    }
}

impl From<GapKind> for DefectKind {
    fn from(g: GapKind) -> DefectKind {
        match g {
            GapKind::Overrun => DefectKind::Overrun,
            GapKind::Xrun => DefectKind::Xrun,
        }
    }
}

impl From<RepairKind> for DefectKind {
    fn from(r: RepairKind) -> DefectKind {
        match r {
            RepairKind::Click => DefectKind::Click,
            RepairKind::Crackle => DefectKind::Crackle,
        }
    }
}

/// A located defect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct Defect {
    pub kind: DefectKind,
    /// 1-based channel, or null when it concerns every channel.
    pub channel: Option<usize>,
    pub start: FrameIndex,
    pub start_time: Timecode,
    pub length: FrameCount,
    pub length_time: Timecode,
    /// What was found, for people: `level fell 31.2 dB`, `digital: held at 0`,
    /// `correlation -0.93 between channels 1 and 2`, `16 of 24 bits used`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub detail: Option<String>,
    /// The defect's size where it has one, dBFS: for a click, the largest change its repair
    /// made.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub size_dbfs: Option<f64>,
}

impl Defect {
    pub fn new(
        kind: DefectKind,
        channel: Option<usize>,
        start: FrameIndex,
        length: FrameCount,
        rate: u32,
    ) -> Defect {
        Defect {
            kind,
            channel,
            start,
            start_time: start.timecode(rate),
            length,
            length_time: length.timecode(rate),
            detail: None,
            size_dbfs: None,
        }
    }

    /// The same with a `detail`.
    pub fn with_detail(mut self, detail: String) -> Defect {
        self.detail = Some(detail);
        self
    }
}

/// Repairs listed in a take's defects, at most this many (the declick report counts them all).
pub const MAX_REPAIR_DEFECTS: usize = 10_000;

/// The defects the declicker repaired, at most `limit`: `click` or `crackle`, with their size.
pub fn repair_defects(repairs: &[Repair], rate: u32, limit: usize) -> Vec<Defect> {
    repairs
        .iter()
        .take(limit)
        .map(|r| {
            let mut d = Defect::new(r.kind.into(), Some(r.channel), r.start, r.length, rate);
            d.size_dbfs =
                (r.peak > 0.0).then(|| (20.0 * f64::from(r.peak).log10() * 100.0).round() / 100.0);
            d
        })
        .collect()
}

/// The defects a level analysis found: clips, and silence at the head and tail.
pub fn level_defects(levels: &LevelReport, rate: u32) -> Vec<Defect> {
    let mut out = Vec::new();
    if levels.head_silence.0 > 0 {
        out.push(Defect::new(
            DefectKind::SilenceHead,
            None,
            FrameIndex(0),
            levels.head_silence,
            rate,
        ));
    }
    for c in &levels.clips {
        out.push(Defect::new(
            DefectKind::Clip,
            Some(c.channel),
            c.start,
            c.length,
            rate,
        ));
    }
    if levels.tail_silence.0 > 0 && levels.tail_silence.0 < levels.frames.0 {
        let start = FrameIndex(levels.frames.0 - levels.tail_silence.0);
        out.push(Defect::new(
            DefectKind::SilenceTail,
            None,
            start,
            levels.tail_silence,
            rate,
        ));
    }
    out
}

/// The defect map of a take: the level analysis's (see [`level_defects`]), a `bit-depth`
/// defect for each channel whose content uses fewer bits than its word, the dropouts, and the
/// phase alarms; in order of their start (those starting together in that order).
pub fn defect_map(levels: &LevelReport, found: &DefectReport, rate: u32) -> Vec<Defect> {
    let mut out = level_defects(levels, rate);
    for c in &levels.channels {
        if c.effective_bits > 0 && c.effective_bits < levels.bits_per_sample {
            out.push(
                Defect::new(
                    DefectKind::BitDepth,
                    Some(c.channel),
                    FrameIndex(0),
                    levels.frames,
                    rate,
                )
                .with_detail(format!(
                    "{} of {} bits used",
                    c.effective_bits, levels.bits_per_sample
                )),
            );
        }
    }
    for d in &found.dropouts {
        out.push(
            Defect::new(
                DefectKind::Dropout,
                Some(d.channel),
                d.start,
                d.length,
                rate,
            )
            .with_detail(dropout_detail(d)),
        );
    }
    for a in &found.phase_alarms {
        out.push(
            Defect::new(DefectKind::Phase, None, a.start, a.length, rate).with_detail(format!(
                "correlation {:.2} between channels {} and {}",
                a.correlation, a.channels[0], a.channels[1]
            )),
        );
    }
    sort_defects(&mut out);
    out
}

/// Orders a defect list by start frame, keeping the order of those that start together.
pub fn sort_defects(defects: &mut [Defect]) {
    defects.sort_by_key(|d| d.start);
}

fn dropout_detail(d: &Dropout) -> String {
    match (d.fall_db, d.held_value) {
        (Some(fall), None) => format!("level fell {fall:.1} dB"),
        (Some(fall), Some(v)) => format!("level fell {fall:.1} dB, held at {v} in part"),
        (None, Some(v)) => format!("digital: held at {v}"),
        (None, None) => "level fell to one value".into(),
    }
}

/// A QC report written by release 0.1.0 (one captured stereo take with a master and an access
/// copy), as JSON changed by `edit`: for tests that need a whole report with a few fields set.
#[cfg(test)]
pub(crate) fn sample_qc_json(edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(include_bytes!(
        "../tests/compat/v0.1.0/archive/tapes/cap-1/data/cap-1.qc.json"
    ))
    .unwrap();
    edit(&mut v);
    serde_json::to_vec(&v).unwrap()
}
