//! The metadata of the files made from a take: fields carried from the source (bext,
//! LIST/INFO), the EBU R98 coding history, the master's bext, and each FLAC file's Vorbis
//! comments and RIFF chunks.

use super::take::Take;
use super::{agent, IngestError, IngestRequest, ItemPlan};
use crate::flac::encode::MasterMetadata;
use crate::flac::libflac_version;
use crate::metadata::Fields;
use crate::profile::{CarrierCoding, Profile};
use crate::riff;
use crate::riff::bext::{Bext, BextLoudness};
use crate::riff::info::{carried_field, info_payload, is_list_info, list_info, set_info};
use crate::source::wav::{ForeignChunk, WavInfo};
use std::path::Path;
use std::sync::Arc;

/// Control characters and line or paragraph separators (U+0085, U+2028, U+2029) in text
/// carried from a source file become spaces: the file is the operator's evidence, not their
/// typing, and its chunks are kept verbatim anyway.
pub(super) fn clean_carried(s: &str) -> String {
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
pub(super) fn carried_origination(key: &str, v: &str) -> Option<String> {
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
pub(super) fn carried_fields(
    path: &Path,
    info: &WavInfo,
    trailing: &[ForeignChunk],
) -> (Fields, Vec<String>) {
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
                    let Some(key) = carried_field(&id) else {
                        continue;
                    };
                    f.set_default(key, &clean_carried(&text));
                }
            }
            _ => {}
        }
    }
    (f, warnings)
}

pub(super) fn mode(channels: usize) -> &'static str {
    match channels {
        1 => "mono",
        2 => "stereo",
        _ => "multitrack",
    }
}

/// R98 `T=` text: free text, but a comma in it would start a new field (BWF MetaEdit's R98
/// and FADGI rules fail it), so commas become semicolons.
pub(super) fn r98_text(s: &str) -> String {
    s.replace(',', ";")
}

/// The EBU R98 coding history of a file as `flac -d --keep-foreign-metadata` restores it, each
/// line ending in CR LF: the source's own lines when it brought a history, else the carrier's
/// (`A=ANALOGUE` and the A/D's `A=PCM`, or the digital carrier's `A=PCM`), ending with the
/// `A=PCM` line of the restored file itself (added when the last line is not already one at the
/// file's rate, depth and mode). `M=` is the file's: a per-channel master's lines say `mono`.
/// Only R98 values are written (no `A=FLAC`: the restored file is PCM; the FLAC step is in
/// the Vorbis comments, [`flac_history_line`], and the event log) and no comma inside `T=`.
/// `(rate, bits, channels)` are the file's.
pub fn coding_history(
    profile: &Profile,
    fields: &Fields,
    source_history: Option<&str>,
    (rate, bits, file_channels): (u32, u32, usize),
) -> String {
    let file_mode = mode(file_channels);
    let mut lines: Vec<String> = Vec::new();
    match source_history.map(str::trim).filter(|h| !h.is_empty()) {
        // The source's lines, each cleaned like any carried text, so that no character in them
        // (U+2028, a lone CR...) makes a reader see a line the source did not have.
        Some(h) => lines.extend(h.lines().map(clean_carried).filter(|l| !l.is_empty())),
        None => {
            let mut text: Vec<String> = Vec::new();
            if let Some(deck) = fields.get("DECK") {
                text.push(deck.to_string());
            }
            if let Some(speed) = fields.get("TAPE_SPEED") {
                text.push(format!("{speed} ips"));
            }
            text.push(
                fields
                    .get("CARRIER_FORMAT")
                    .unwrap_or(&profile.carrier_description)
                    .to_string(),
            );
            for k in ["TRACK_FORMAT", "PLAYBACK_EQ", "NOISE_REDUCTION"] {
                if let Some(v) = fields.get(k) {
                    text.push(v.to_string());
                }
            }
            let text = r98_text(&text.join("; "));
            match profile.carrier_coding {
                CarrierCoding::Analogue => {
                    lines.push(format!("A=ANALOGUE,M={file_mode},T={text}"));
                    let adc = fields
                        .get("ADC")
                        .map(|a| format!("{}; A/D", r98_text(a)))
                        .unwrap_or_else(|| "A/D".into());
                    lines.push(format!("A=PCM,F={rate},W={bits},M={file_mode},T={adc}"));
                }
                CarrierCoding::Pcm => {
                    lines.push(format!("A=PCM,F={rate},W={bits},M={file_mode},T={text}"));
                }
            }
        }
    }
    let file_line = format!("A=PCM,F={rate},W={bits},M={file_mode}");
    let ends_as_file = lines
        .last()
        .is_some_and(|l| l == &file_line || l.starts_with(&format!("{file_line},")));
    if !ends_as_file {
        lines.push(format!(
            "{file_line},T=Capstan {}; flat transfer",
            env!("CARGO_PKG_VERSION")
        ));
    }
    lines.iter().map(|l| format!("{l}\r\n")).collect()
}

/// The FLAC step of a file's history, the last `CODING_HISTORY` Vorbis comment (the bext's
/// history stops at the PCM the file restores to).
pub(super) fn flac_history_line(rate: u32, bits: u32, channels: usize) -> String {
    format!(
        "A=FLAC,F={rate},W={bits},M={},T=Capstan {}; libFLAC {}",
        mode(channels),
        env!("CARGO_PKG_VERSION"),
        libflac_version()
    )
}

/// The fields every item of `profile` in `archive` starts from: the profile's defaults, with
/// the archive's institution (`.capstan/archive.toml`) as COUNTRY and ORGANIZATION; what a
/// source carries and what the operator gives go over them.
pub fn base_fields(
    archive: &crate::archive::Archive,
    profile: &Profile,
) -> Result<std::collections::BTreeMap<String, String>, crate::archive::ArchiveError> {
    let mut base = profile.default_metadata.clone();
    if let Some(i) = crate::archive::settings::read(archive)?.institution {
        base.insert("COUNTRY".into(), i.country);
        base.insert("ORGANIZATION".into(), i.organisation);
    }
    Ok(base)
}

/// The bext Originator of an item: its `ORIGINATOR` (given, or carried from its source), else
/// `COUNTRY, ORGANIZATION` as FADGI writes it (given, or the archive's institution), else the
/// organisation alone; empty when there is none, which ingest refuses.
pub fn originator(fields: &Fields) -> String {
    fields
        .get("ORIGINATOR")
        .filter(|o| !o.trim().is_empty())
        .map(str::to_string)
        .unwrap_or_else(
            || match (fields.get("COUNTRY"), fields.get("ORGANIZATION")) {
                (Some(c), Some(o)) => format!("{c}, {o}"),
                (None, Some(o)) => o.to_string(),
                _ => String::new(),
            },
        )
}

/// The bext Description (at most its 256 bytes): the item's DESCRIPTION or TITLE, else its
/// carrier and name (FADGI wants it never empty); led by `Identifier: collection/id` when the
/// OriginatorReference points here for it (FADGI's "See Description for identifiers").
fn bext_description(plan: &ItemPlan, with_identifier: bool) -> String {
    let req = plan.req;
    let item = crate::archive::item_id::ItemId::known(&req.collection, &req.id);
    let text = match plan.fields.get("DESCRIPTION").or(plan.fields.get("TITLE")) {
        Some(d) if !d.trim().is_empty() => d.to_string(),
        _ => format!("{}: {item}", plan.profile().carrier_description),
    };
    let mut out = if with_identifier {
        format!("Identifier: {item}; {text}")
    } else {
        text
    };
    if out.len() > 256 {
        let mut end = 256;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
    }
    out
}

/// The bext a master carries (loudness filled in after encoding).
fn master_bext(plan: &ItemPlan, source: Option<&Bext>, history: String) -> Bext {
    let (req, fields) = (plan.req, &plan.fields);
    let originator = originator(fields);
    const SEE_DESCRIPTION: &str = "See Description for identifiers";
    let reference = fields
        .get("ORIGINATOR_REFERENCE")
        .map(str::to_string)
        .unwrap_or_else(|| {
            if req.id.len() <= 32 {
                req.id.clone()
            } else {
                // FADGI: an identifier too long for the field is pointed to, not cut.
                SEE_DESCRIPTION.into()
            }
        });
    let now = req.now;
    Bext {
        description: bext_description(plan, reference == SEE_DESCRIPTION),
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

/// The RIFF chunks of a take's source, read once: its bext, parsed, and the others whole.
pub(super) struct SourceChunks {
    pub(super) bext: Option<Bext>,
    /// Whole RIFF chunks before `data` (other than bext) and after it.
    pub(super) before: Vec<Arc<[u8]>>,
    pub(super) after: Vec<Arc<[u8]>>,
}

impl SourceChunks {
    pub(super) fn of(take: &Take) -> SourceChunks {
        let info = &take.info;
        let bext = info
            .chunks
            .iter()
            .find(|c| &c.id == b"bext")
            .and_then(|c| Bext::parse(&c.data));
        let before: Vec<Arc<[u8]>> = info
            .chunks
            .iter()
            .filter(|c| &c.id != b"bext")
            .map(|c| riff::chunk(&c.id, &c.data).into())
            .collect();
        let after: Vec<Arc<[u8]>> = take
            .trailing
            .iter()
            .map(|c| riff::chunk(&c.id, &c.data).into())
            .collect();
        SourceChunks {
            bext,
            before,
            after,
        }
    }

    /// Everything the source carried, for a file that takes it all.
    pub(super) fn all(&self) -> Carried<'_> {
        Carried {
            bext: self.bext.as_ref(),
            before: &self.before,
            after: &self.after,
        }
    }

    /// The source's bext only: its other chunks are in another file of the take.
    pub(super) fn bext_only(&self) -> Carried<'_> {
        Carried {
            bext: self.bext.as_ref(),
            before: &[],
            after: &[],
        }
    }

    /// The source's coding history, if it brought one.
    pub(super) fn history(&self) -> Option<&str> {
        self.bext.as_ref().map(|b| b.coding_history.as_str())
    }
}

/// What a take's source carried into the files made from it: read once, shared by them all.
pub(super) struct Carried<'a> {
    pub(super) bext: Option<&'a Bext>,
    /// Whole RIFF chunks before `data` (other than bext) and after it.
    pub(super) before: &'a [Arc<[u8]>],
    pub(super) after: &'a [Arc<[u8]>],
}

/// What differs between the FLAC files of a take.
pub(super) struct FileTags<'a> {
    /// The channel a per-channel master holds (1-based), or None for all of the take's.
    pub(super) channel: Option<usize>,
    pub(super) channels: usize,
    /// Its EBU R98 coding history (lines ending in CR LF).
    pub(super) history: &'a str,
    /// The comments that say what the file is (`ROLE`, `SOURCE`...).
    pub(super) role: Vec<(String, String)>,
}

/// The INFO fields of a file: the source's (`carried`, a whole LIST-INFO chunk), with IARL (the
/// archival location: the bext Originator), INAM (TITLE), ICRD (DATE when it is a date, else
/// the bext OriginationDate) and ICMT (DESCRIPTION) set.
fn info_list(fields: &Fields, bext: &Bext, carried: Option<&Arc<[u8]>>) -> Vec<([u8; 4], String)> {
    let mut list = carried
        .map(|c| list_info(&c[12..]))
        .unwrap_or_default()
        .into_iter()
        .map(|(id, text)| (id, clean_carried(&text)))
        .collect::<Vec<_>>();
    set_info(&mut list, b"IARL", &bext.originator);
    if let Some(title) = fields.get("TITLE") {
        set_info(&mut list, b"INAM", title);
    }
    let date = fields
        .get("DATE")
        .filter(|d| crate::metadata::is_iso_date(d) || is_year_or_month(d))
        .unwrap_or(&bext.origination_date);
    set_info(&mut list, b"ICRD", date);
    if let Some(d) = fields.get("DESCRIPTION") {
        set_info(&mut list, b"ICMT", d);
    }
    list
}

/// `YYYY` or `YYYY-MM`, the shorter dates RIFF INFO's ICRD allows.
fn is_year_or_month(d: &str) -> bool {
    let b = d.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    match b.len() {
        4 => digits(0..4),
        7 => {
            digits(0..4)
                && b[4] == b'-'
                && digits(5..7)
                && (b"01".as_slice()..=b"12".as_slice()).contains(&&b[5..7])
        }
        _ => false,
    }
}

/// The metadata of one FLAC file of a take (a master or the access copy): its Vorbis comments
/// (the item's fields, channels, part, `role`'s comments, coding history, profile, encoder) and
/// the RIFF chunks `flac -d --keep-foreign-metadata` restores (bext with `history`, and what the
/// source carried).
pub(super) fn file_metadata(
    plan: &ItemPlan,
    take: &Take,
    carried: &Carried,
    file: FileTags,
) -> MasterMetadata {
    let FileTags {
        channel,
        channels,
        history,
        role,
    } = file;
    let (fields, parts) = (&plan.fields, plan.parts);
    let info = &take.info;
    let profile = plan.profile();
    let bits = u32::from(info.valid_bits);
    let bext = master_bext(plan, carried.bext, history.to_string());
    let mut before: Vec<Arc<[u8]>> = vec![riff::chunk(b"bext", &bext.to_bytes()).into()];
    // One LIST-INFO, where the source had its own (before or after the audio; else after the
    // bext): the source's fields kept in their order, with IARL (equal to the Originator, as
    // FADGI asks), INAM, ICRD and ICMT set.
    let carried_info = carried
        .before
        .iter()
        .chain(carried.after)
        .find(|c| is_list_info(c));
    let list: Arc<[u8]> = riff::chunk(
        b"LIST",
        &info_payload(&info_list(fields, &bext, carried_info)),
    )
    .into();
    let in_place = |chunks: &[Arc<[u8]>]| -> Vec<Arc<[u8]>> {
        chunks
            .iter()
            .map(|c| {
                if is_list_info(c) {
                    list.clone()
                } else {
                    c.clone()
                }
            })
            .collect()
    };
    if carried_info.is_none() {
        before.push(list.clone());
    }
    before.extend(in_place(carried.before));
    let mut after: Vec<Arc<[u8]>> = in_place(carried.after);
    if riff::md5_chunk_applies(bits) {
        // Filled in with the STREAMINFO MD5 when the file is sealed.
        after.push(riff::chunk(&riff::MD5_CHUNK, &[0; 16]).into());
    }
    // The WAV that `flac -d` rebuilds holds bits/8 bytes a sample.
    let data_len = info.frames.0 * channels as u64 * u64::from(bits.div_ceil(8));
    // The source's speaker mask when the file holds all its channels and flac would not
    // write that mask by itself; flac's decoder takes it from this comment (its convention).
    let mask = (channels == usize::from(info.channels))
        .then_some(info.channel_mask)
        .flatten()
        .filter(|&m| m != 0 && m != riff::chunk::flac_default_mask(channels as u16));
    let fmt = riff::fmt_payload(channels as u16, info.sample_rate, bits as u16, mask);
    let audio = riff::Audio {
        data_len,
        frames: info.frames.0,
        rf64: info.container == crate::source::wav::Container::Rf64,
    };
    let riff_chunks = riff::foreign_blocks(&fmt, &before, audio, &after);
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
    if let Some(m) = mask {
        comments.push((
            "WAVEFORMATEXTENSIBLE_CHANNEL_MASK".into(),
            format!("0x{m:04X}"),
        ));
    }
    if let Some(c) = channel {
        comments.push(("CHANNEL".into(), c.to_string()));
    }
    if parts > 1 {
        comments.push(("PART".into(), format!("{}/{parts}", take.part)));
    }
    comments.extend(role);
    // One comment per line, in order: a value with a newline does not survive
    // `metaflac --export-tags-to=- | metaflac --import-tags-from=-`.
    for line in history.lines().filter(|l| !l.is_empty()) {
        comments.push(("CODING_HISTORY".into(), line.to_string()));
    }
    comments.push((
        "CODING_HISTORY".into(),
        flac_history_line(info.sample_rate, bits, channels),
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

/// The item's metadata (and warnings about what the first take carried that was dropped).
pub(super) fn item_fields(
    req: &IngestRequest,
    first: &Take,
) -> Result<(Fields, Vec<String>), IngestError> {
    let profile = &req.profile;
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
    let (carried, notes) = carried_fields(&first.path, &first.info, &first.trailing);
    let base = base_fields(&req.archive, profile)?;
    let mut fields = Fields::layered(&base, &carried, &req.meta);
    fields.0.insert("CARRIER_ID".into(), req.id.clone());
    fields.0.insert("COLLECTION".into(), req.collection.clone());
    fields.check(&profile.required_metadata)?;
    if originator(&fields).is_empty() {
        return Err(IngestError::NoOriginator {
            settings: req.archive.meta_dir().join(crate::archive::settings::FILE),
        });
    }
    Ok((fields, notes))
}

/// The bag's `bag-info.txt` fields, in order.
pub(super) fn bag_info(
    req: &IngestRequest,
    fields: &Fields,
    bagging_date: &str,
) -> Vec<(&'static str, String)> {
    let profile = &req.profile;
    let mut info: Vec<(&str, String)> = Vec::new();
    if let Some(org) = fields.get("ORGANIZATION") {
        info.push(("Source-Organization", org.to_string()));
    }
    info.push(("External-Identifier", req.id.clone()));
    if let Some(d) = fields.get("DESCRIPTION").or(fields.get("TITLE")) {
        info.push(("External-Description", d.to_string()));
    }
    info.push(("Bagging-Date", bagging_date.to_string()));
    info.push(("Bag-Software-Agent", agent()));
    info.push(("Capstan-Profile", profile.name.clone()));
    info.push(("Capstan-Collection", req.collection.clone()));
    info
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
        let h = coding_history(&p, &f, None, (96_000, 24, 2));
        let lines: Vec<&str> = h.split("\r\n").collect();
        // No comma inside T=: the parts are joined with ';'.
        assert_eq!(
            lines[0],
            "A=ANALOGUE,M=stereo,T=Studer A807; SN 1234; 7.5 ips; 1/4 inch open reel; NAB"
        );
        // It ends with the PCM the file restores to (here, the A/D's line): no A=FLAC.
        assert_eq!(
            lines[1],
            "A=PCM,F=96000,W=24,M=stereo,T=RME Fireface UFX; A/D"
        );
        assert_eq!(lines[2], "");
        assert!(!h.contains("A=FLAC"), "{h}");
        // A per-channel master's lines describe that file.
        let mono = coding_history(&p, &f, None, (96_000, 24, 1));
        assert!(mono.starts_with("A=ANALOGUE,M=mono,T="), "{mono}");
        assert!(mono.ends_with("\r\nA=PCM,F=96000,W=24,M=mono,T=RME Fireface UFX; A/D\r\n"));
        // A source with its own history keeps it; it ends as the file does, so nothing is added.
        let kept = coding_history(
            &p,
            &f,
            Some("A=PCM,F=96000,W=24,M=stereo,T=Other tool\r\n"),
            (96_000, 24, 2),
        );
        assert_eq!(kept, "A=PCM,F=96000,W=24,M=stereo,T=Other tool\r\n");
        // One ending otherwise gains the restored file's PCM line.
        let analogue = coding_history(
            &p,
            &f,
            Some("A=ANALOGUE,M=stereo,T=Deck\r\n"),
            (96_000, 24, 2),
        );
        assert!(
            analogue.starts_with(
                "A=ANALOGUE,M=stereo,T=Deck\r\nA=PCM,F=96000,W=24,M=stereo,T=Capstan "
            ),
            "{analogue}"
        );
    }
}
