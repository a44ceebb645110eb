//! Transfer profiles: what a carrier is and how it is transferred.
//!
//! A profile is a TOML file (see `profiles/` and the README). It is read into [`RawProfile`], a
//! plain mirror of the file that rejects unknown keys, and validated once into [`Profile`], which
//! the rest of Capstan trusts without checking again. Every error names the file and the key.
//! The profiles in `profiles/` are compiled into the binary, so `--profile dat` works anywhere;
//! any other value of `--profile` is read as a path.

use crate::dsp::levels::AnalysisSettings;
use crate::metadata::{check_key, check_value};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The profiles shipped in `profiles/`, by name (the file stem).
pub const SHIPPED: &[(&str, &str)] = &[
    (
        "quarter-inch-full-track-mono",
        include_str!("../profiles/quarter-inch-full-track-mono.toml"),
    ),
    (
        "quarter-inch-half-track-stereo",
        include_str!("../profiles/quarter-inch-half-track-stereo.toml"),
    ),
    (
        "half-inch-8-track",
        include_str!("../profiles/half-inch-8-track.toml"),
    ),
    (
        "compact-cassette",
        include_str!("../profiles/compact-cassette.toml"),
    ),
    (
        "lacquer-disc",
        include_str!("../profiles/lacquer-disc.toml"),
    ),
    ("dat", include_str!("../profiles/dat.toml")),
];

/// Why a profile could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error(
        "profile {name:?} is neither a shipped profile ({known}) nor a readable file: {source}"
    )]
    NotFound {
        name: String,
        known: String,
        source: std::io::Error,
    },
    #[error("profile {path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("profile {path}: key `{key}`: {message}")]
    Invalid {
        path: PathBuf,
        key: String,
        message: String,
    },
}

/// The file as written, before validation. Unknown keys are errors, so a typo never passes as
/// a default.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProfile {
    pub carrier: RawCarrier,
    pub signal: RawSignal,
    #[serde(default)]
    pub metadata: RawMetadata,
    #[serde(default)]
    pub flac: RawFlac,
    #[serde(default)]
    pub naming: RawNaming,
    #[serde(default)]
    pub analysis: RawAnalysis,
    #[serde(default)]
    pub access_copy: RawAccessCopy,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCarrier {
    pub description: String,
    #[serde(default)]
    pub coding: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSignal {
    pub sample_rate: u32,
    pub bit_depth: u32,
    pub channels: Vec<String>,
    #[serde(default)]
    pub layout: Option<String>,
    #[serde(default)]
    pub routing: Option<Vec<u32>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetadata {
    #[serde(default)]
    pub required: Vec<String>,
    #[serde(default)]
    pub defaults: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFlac {
    pub compression_level: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNaming {
    pub master: Option<String>,
    pub access: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAnalysis {
    pub silence_threshold_dbfs: Option<f64>,
    pub clip_min_run: Option<u32>,
    pub true_peak: Option<bool>,
    pub dropout_fall_db: Option<f64>,
    pub phase_alarm_correlation: Option<f64>,
    pub clicks: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAccessCopy {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub declick: bool,
    pub target_loudness_lufs: Option<f64>,
    pub sensitivity: Option<f64>,
}

/// What the carrier's own signal is, for the first line of the coding history (EBU R98 `A=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CarrierCoding {
    Analogue,
    /// A digital carrier (DAT, CD, ...) transferred bit for bit: no A/D conversion line.
    Pcm,
}

/// How the channels of a take become masters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One interleaved master holding every channel.
    Interleaved,
    /// One mono master per channel (`<id>_pm_ch03.flac`), for multitrack reels whose tracks are
    /// independent recordings.
    PerChannel,
}

/// The access copy a profile asks for (built by the restoration work; recorded here).
#[derive(Debug, Clone, PartialEq)]
pub struct AccessCopy {
    pub enabled: bool,
    pub declick: bool,
    pub target_loudness_lufs: Option<f64>,
    pub sensitivity: Option<f64>,
}

impl AccessCopy {
    /// The declicker's settings for this profile (its sensitivity, else the default).
    pub fn declick_settings(&self) -> crate::dsp::declick::DeclickSettings {
        let mut settings = crate::dsp::declick::DeclickSettings::default();
        if let Some(s) = self.sensitivity {
            settings.sensitivity = s as f32;
        }
        settings
    }
}

/// A validated transfer profile.
#[derive(Debug, Clone)]
pub struct Profile {
    /// The profile's name: a shipped profile's name or the file stem.
    pub name: String,
    /// Where it came from, for messages.
    pub origin: PathBuf,
    pub carrier_description: String,
    pub carrier_coding: CarrierCoding,
    pub sample_rate: u32,
    pub bit_depth: u32,
    pub channel_names: Vec<String>,
    pub layout: Layout,
    /// Interface input (1-based) feeding each channel.
    pub routing: Vec<u32>,
    pub required_metadata: Vec<String>,
    pub default_metadata: BTreeMap<String, String>,
    pub compression_level: u32,
    /// File stem of a master, with `{id}` for the item id.
    pub master_name: String,
    /// File stem of an access copy, with `{id}`.
    pub access_name: String,
    pub analysis: AnalysisSettings,
    pub access_copy: AccessCopy,
}

/// A profile at a glance: what `capstan profiles` lists and the station's capture form offers.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
#[ts(rename = "ProfileInfo")]
pub struct Summary {
    pub name: String,
    /// The carrier's description.
    pub carrier: String,
    pub sample_rate: u32,
    pub bit_depth: u32,
    /// The channels' names, in order.
    pub channels: Vec<String>,
    /// One mono master per channel.
    pub per_channel: bool,
    /// Metadata fields an item must have.
    pub required: Vec<String>,
    /// Metadata fields the profile fills in.
    pub defaults: BTreeMap<String, String>,
    /// An access copy is made.
    pub access_copy: bool,
    /// The access copy is declicked.
    pub declick: bool,
}

impl Summary {
    /// The layout's name as `capstan profiles --json` has always printed it.
    pub fn layout_name(&self) -> &'static str {
        if self.per_channel {
            "PerChannel"
        } else {
            "Interleaved"
        }
    }
}

/// Every shipped profile's summary, in the order they are listed.
pub fn shipped_summaries() -> Result<Vec<Summary>, ProfileError> {
    SHIPPED
        .iter()
        .map(|(name, _)| Profile::load(name).map(|p| p.summary()))
        .collect()
}

impl Profile {
    /// This profile at a glance.
    pub fn summary(&self) -> Summary {
        Summary {
            name: self.name.clone(),
            carrier: self.carrier_description.clone(),
            sample_rate: self.sample_rate,
            bit_depth: self.bit_depth,
            channels: self.channel_names.clone(),
            per_channel: self.layout == Layout::PerChannel,
            required: self.required_metadata.clone(),
            defaults: self.default_metadata.clone(),
            access_copy: self.access_copy.enabled,
            declick: self.access_copy.declick,
        }
    }

    /// A shipped profile's name, or a path to a TOML file.
    pub fn load(name_or_path: &str) -> Result<Profile, ProfileError> {
        if let Some((name, text)) = SHIPPED.iter().find(|(n, _)| *n == name_or_path) {
            return Profile::parse(text, name, Path::new(&format!("profiles/{name}.toml")));
        }
        let path = Path::new(name_or_path);
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::NotFound {
            name: name_or_path.to_string(),
            known: SHIPPED
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", "),
            source,
        })?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| name_or_path.to_string());
        Profile::parse(&text, &stem, path)
    }

    /// Parses and validates profile text; `origin` names it in errors.
    pub fn parse(text: &str, name: &str, origin: &Path) -> Result<Profile, ProfileError> {
        let raw: RawProfile = toml::from_str(text).map_err(|e| ProfileError::Parse {
            path: origin.to_path_buf(),
            source: Box::new(e),
        })?;
        raw.validate(name, origin)
    }

    /// Number of channels of a take.
    pub fn channels(&self) -> usize {
        self.channel_names.len()
    }
}

impl RawProfile {
    /// Checks every value once; the [`Profile`] it returns needs no further checks.
    pub fn validate(self, name: &str, origin: &Path) -> Result<Profile, ProfileError> {
        let invalid = |key: &str, message: String| ProfileError::Invalid {
            path: origin.to_path_buf(),
            key: key.to_string(),
            message,
        };
        if self.carrier.description.trim().is_empty() {
            return Err(invalid("carrier.description", "must not be empty".into()));
        }
        let carrier_coding = match self.carrier.coding.as_deref().unwrap_or("ANALOGUE") {
            "ANALOGUE" => CarrierCoding::Analogue,
            "PCM" => CarrierCoding::Pcm,
            other => {
                return Err(invalid(
                    "carrier.coding",
                    format!("{other:?} is not one of \"ANALOGUE\", \"PCM\""),
                ))
            }
        };
        let s = &self.signal;
        // FLAC's STREAMINFO holds rates up to 655350 Hz (RFC 9639 §8.2); archives use 44.1-384 kHz.
        if !(8_000..=384_000).contains(&s.sample_rate) {
            return Err(invalid(
                "signal.sample_rate",
                format!("{} Hz is outside 8000..=384000", s.sample_rate),
            ));
        }
        if ![16, 24, 32].contains(&s.bit_depth) {
            return Err(invalid(
                "signal.bit_depth",
                format!("{} is not one of 16, 24, 32", s.bit_depth),
            ));
        }
        // FLAC holds at most 8 channels in one stream (RFC 9639 §9.1.3); wider multitracks
        // use the per-channel layout.
        let layout = match s.layout.as_deref().unwrap_or("interleaved") {
            "interleaved" => Layout::Interleaved,
            "per-channel" => Layout::PerChannel,
            other => {
                return Err(invalid(
                    "signal.layout",
                    format!("{other:?} is not one of \"interleaved\", \"per-channel\""),
                ))
            }
        };
        let max_channels = match layout {
            Layout::Interleaved => 8,
            Layout::PerChannel => 64,
        };
        if s.channels.is_empty() || s.channels.len() > max_channels {
            return Err(invalid(
                "signal.channels",
                format!(
                    "{} channels; this layout takes 1 to {max_channels}",
                    s.channels.len()
                ),
            ));
        }
        for (i, ch) in s.channels.iter().enumerate() {
            if ch.trim().is_empty() || ch.contains(';') || ch.chars().any(char::is_control) {
                return Err(invalid(
                    "signal.channels",
                    format!(
                        "channel {} name {ch:?} must be non-empty, without ';' or control characters",
                        i + 1
                    ),
                ));
            }
        }
        let routing = match &s.routing {
            None => (1..=s.channels.len() as u32).collect(),
            Some(r) => {
                if r.len() != s.channels.len() {
                    return Err(invalid(
                        "signal.routing",
                        format!(
                            "{} inputs listed for {} channels",
                            r.len(),
                            s.channels.len()
                        ),
                    ));
                }
                if let Some(bad) = r.iter().find(|&&i| i == 0) {
                    return Err(invalid(
                        "signal.routing",
                        format!("input {bad}: inputs are numbered from 1"),
                    ));
                }
                r.clone()
            }
        };
        for key in &self.metadata.required {
            check_key(key).map_err(|m| invalid("metadata.required", m))?;
        }
        for (key, value) in &self.metadata.defaults {
            check_key(key).map_err(|m| invalid("metadata.defaults", m))?;
            check_value(key, value).map_err(|m| invalid(&format!("metadata.defaults.{key}"), m))?;
        }
        let compression_level = self.flac.compression_level.unwrap_or(5);
        if compression_level > 8 {
            return Err(invalid(
                "flac.compression_level",
                format!("{compression_level} is not in 0..=8"),
            ));
        }
        let master_name = self.naming.master.unwrap_or_else(|| "{id}_pm".into());
        let access_name = self.naming.access.unwrap_or_else(|| "{id}_ac".into());
        for (key, pattern) in [
            ("naming.master", &master_name),
            ("naming.access", &access_name),
        ] {
            check_name_pattern(pattern).map_err(|m| invalid(key, m))?;
        }
        if master_name == access_name {
            return Err(invalid(
                "naming.access",
                "must differ from naming.master".into(),
            ));
        }
        let defaults = AnalysisSettings::default();
        let analysis = AnalysisSettings {
            silence_threshold_dbfs: self
                .analysis
                .silence_threshold_dbfs
                .unwrap_or(defaults.silence_threshold_dbfs),
            clip_min_run: self.analysis.clip_min_run.unwrap_or(defaults.clip_min_run),
            true_peak: self.analysis.true_peak.unwrap_or(defaults.true_peak),
            dropout_fall_db: self
                .analysis
                .dropout_fall_db
                .unwrap_or(defaults.dropout_fall_db),
            phase_alarm_correlation: self
                .analysis
                .phase_alarm_correlation
                .unwrap_or(defaults.phase_alarm_correlation),
            clicks: self.analysis.clicks.unwrap_or(defaults.clicks),
        };
        if !(-200.0..=0.0).contains(&analysis.silence_threshold_dbfs) {
            return Err(invalid(
                "analysis.silence_threshold_dbfs",
                format!("{} is not in -200..=0", analysis.silence_threshold_dbfs),
            ));
        }
        if analysis.clip_min_run == 0 {
            return Err(invalid(
                "analysis.clip_min_run",
                "must be at least 1".into(),
            ));
        }
        if !(6.0..=120.0).contains(&analysis.dropout_fall_db) {
            return Err(invalid(
                "analysis.dropout_fall_db",
                format!("{} is not in 6..=120", analysis.dropout_fall_db),
            ));
        }
        if !(-1.0..=1.0).contains(&analysis.phase_alarm_correlation) {
            return Err(invalid(
                "analysis.phase_alarm_correlation",
                format!("{} is not in -1..=1", analysis.phase_alarm_correlation),
            ));
        }
        let ac = self.access_copy;
        if ac.enabled && s.channels.len() > 8 {
            return Err(invalid(
                "access_copy.enabled",
                format!(
                    "an access copy is one FLAC file, which holds at most 8 channels; this profile has {}",
                    s.channels.len()
                ),
            ));
        }
        if let Some(v) = ac.sensitivity {
            if !(v.is_finite() && v > 0.0 && v <= 100.0) {
                return Err(invalid(
                    "access_copy.sensitivity",
                    format!("{v} is not a positive number up to 100"),
                ));
            }
        }
        if let Some(t) = ac.target_loudness_lufs {
            if !(-70.0..=0.0).contains(&t) {
                return Err(invalid(
                    "access_copy.target_loudness_lufs",
                    format!("{t} is not in -70..=0"),
                ));
            }
        }
        Ok(Profile {
            name: name.to_string(),
            origin: origin.to_path_buf(),
            carrier_description: self.carrier.description,
            carrier_coding,
            sample_rate: s.sample_rate,
            bit_depth: s.bit_depth,
            channel_names: s.channels.clone(),
            layout,
            routing,
            required_metadata: self.metadata.required,
            default_metadata: self.metadata.defaults,
            compression_level,
            master_name,
            access_name,
            analysis,
            access_copy: AccessCopy {
                enabled: ac.enabled,
                declick: ac.declick,
                target_loudness_lufs: ac.target_loudness_lufs,
                sensitivity: ac.sensitivity,
            },
        })
    }
}

/// A file-name pattern must contain `{id}` and nothing that could leave the bag's `data/`.
fn check_name_pattern(pattern: &str) -> Result<(), String> {
    if !pattern.contains("{id}") {
        return Err(format!("{pattern:?} must contain {{id}}"));
    }
    let rest = pattern.replace("{id}", "");
    if let Some(c) = rest
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(format!(
            "{pattern:?} contains {c:?}; only letters, digits, '_', '-', '.' and {{id}} are allowed"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_profile_has_a_summary_with_its_layout_named_as_the_cli_always_did() {
        let all = shipped_summaries().unwrap();
        assert_eq!(all.len(), SHIPPED.len());
        let eight = all.iter().find(|s| s.name == "half-inch-8-track").unwrap();
        assert!(eight.per_channel);
        assert_eq!(eight.layout_name(), "PerChannel");
        assert_eq!(eight.channels.len(), 8);
        assert!(eight.required.contains(&"TAPE_SPEED".to_string()));
        let dat = all.iter().find(|s| s.name == "dat").unwrap();
        assert_eq!(
            (dat.sample_rate, dat.bit_depth, dat.layout_name()),
            (48_000, 16, "Interleaved")
        );
    }

    #[test]
    fn every_shipped_profile_parses_and_matches_its_file() {
        for (name, text) in SHIPPED {
            let p = Profile::load(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(p.name, *name);
            assert!(p.channels() >= 1);
            // The embedded copy is the file in profiles/ (the build would not see an edit otherwise).
            let on_disk = std::fs::read_to_string(format!(
                "{}/profiles/{name}.toml",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap();
            assert_eq!(&on_disk, text);
        }
    }

    #[test]
    fn every_file_in_profiles_is_shipped() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles");
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            assert!(
                SHIPPED.iter().any(|(n, _)| *n == stem),
                "{} is not in SHIPPED",
                path.display()
            );
            Profile::load(path.to_str().unwrap()).unwrap();
        }
    }

    #[test]
    fn shipped_profiles_describe_their_carriers() {
        let dat = Profile::load("dat").unwrap();
        assert_eq!(
            (dat.sample_rate, dat.bit_depth, dat.channels()),
            (48_000, 16, 2)
        );
        assert_eq!(dat.carrier_coding, CarrierCoding::Pcm);
        let multi = Profile::load("half-inch-8-track").unwrap();
        assert_eq!(multi.layout, Layout::PerChannel);
        assert_eq!(multi.channels(), 8);
        assert!(Profile::load("lacquer-disc").unwrap().access_copy.declick);
        assert_eq!(
            Profile::load("quarter-inch-full-track-mono")
                .unwrap()
                .channels(),
            1
        );
    }

    fn parse(text: &str) -> Result<Profile, ProfileError> {
        Profile::parse(text, "t", Path::new("t.toml"))
    }

    const MINIMAL: &str = "[carrier]\ndescription = \"x\"\n[signal]\nsample_rate = 48000\nbit_depth = 24\nchannels = [\"L\", \"R\"]\n";

    #[test]
    fn minimal_profile_takes_defaults() {
        let p = parse(MINIMAL).unwrap();
        assert_eq!(p.layout, Layout::Interleaved);
        assert_eq!(p.routing, vec![1, 2]);
        assert_eq!(p.compression_level, 5);
        assert_eq!(p.master_name, "{id}_pm");
        assert_eq!(p.analysis, AnalysisSettings::default());
        let set = parse(&format!(
            "{MINIMAL}[analysis]\ndropout_fall_db = 30.0\nphase_alarm_correlation = -1.0\n"
        ))
        .unwrap();
        assert_eq!(
            (
                set.analysis.dropout_fall_db,
                set.analysis.phase_alarm_correlation
            ),
            (30.0, -1.0)
        );
    }

    fn invalid_key(text: &str) -> String {
        match parse(text) {
            Err(ProfileError::Invalid { key, path, .. }) => {
                assert_eq!(path, Path::new("t.toml"));
                key
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn errors_name_the_file_and_key() {
        assert_eq!(
            invalid_key(&MINIMAL.replace("48000", "1000")),
            "signal.sample_rate"
        );
        assert_eq!(
            invalid_key(&MINIMAL.replace("= 24", "= 20")),
            "signal.bit_depth"
        );
        assert_eq!(
            invalid_key(&format!("{MINIMAL}routing = [1]\n")),
            "signal.routing"
        );
        assert_eq!(
            invalid_key(&format!("{MINIMAL}layout = \"sideways\"\n")),
            "signal.layout"
        );
        assert_eq!(
            invalid_key(&format!("{MINIMAL}[flac]\ncompression_level = 9\n")),
            "flac.compression_level"
        );
        assert_eq!(
            invalid_key(&format!("{MINIMAL}[naming]\nmaster = \"../{{id}}\"\n")),
            "naming.master"
        );
        assert_eq!(
            invalid_key(&format!("{MINIMAL}[metadata]\nrequired = [\"bad key\"]\n")),
            "metadata.required"
        );
        assert_eq!(
            invalid_key(&format!(
                "{MINIMAL}[metadata.defaults]\nTITLE = \"two\\nlines\"\n"
            )),
            "metadata.defaults.TITLE"
        );
        assert_eq!(
            invalid_key(&format!("{MINIMAL}[analysis]\ndropout_fall_db = 3.0\n")),
            "analysis.dropout_fall_db"
        );
        assert_eq!(
            invalid_key(&format!(
                "{MINIMAL}[analysis]\nphase_alarm_correlation = -1.5\n"
            )),
            "analysis.phase_alarm_correlation"
        );
        let nine = (1..=9)
            .map(|i| format!("\"T{i}\""))
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(
            invalid_key(&MINIMAL.replace("\"L\", \"R\"", &nine)),
            "signal.channels"
        );
    }

    #[test]
    fn unknown_keys_are_refused_with_their_name() {
        let err = parse(&format!("{MINIMAL}sample_rte = 1\n")).unwrap_err();
        assert!(matches!(err, ProfileError::Parse { .. }));
        assert!(err.to_string().contains("sample_rte"), "{err}");
        assert!(err.to_string().contains("t.toml"), "{err}");
    }

    #[test]
    fn unknown_profile_name_lists_the_shipped_ones() {
        let err = Profile::load("no-such-profile").unwrap_err().to_string();
        assert!(
            err.contains("dat") && err.contains("compact-cassette"),
            "{err}"
        );
    }
}
