//! Descriptive metadata of an item: the rules for keys, values and identifiers, and the order
//! in which fields are written.
//!
//! One set of fields (profile defaults, then what the source file carried, then the operator's
//! `--meta`) describes an item; the Vorbis comments, the BWF `bext` chunk and `bag-info.txt` are
//! all written from it, so they cannot disagree. Values never contain control characters
//! (newlines, tabs, NUL, U+0085...) nor the Unicode line and paragraph separators (U+2028,
//! U+2029): they are refused, not escaped, because each of those formats would need a
//! different escape and a refused value is one the operator can see and fix.
//!
//! The fields Capstan writes itself ([`RESERVED`]) cannot be given by the operator or a
//! profile's defaults, so a master's role, coding history or origin can never be forged; and
//! `ORIGINATION_DATE` / `ORIGINATION_TIME`, which go into the fixed-width bext fields, must be
//! ISO `yyyy-mm-dd` and `hh:mm:ss`.

use std::collections::BTreeMap;

/// Why an identifier or a field was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    #[error("{what} {value:?} is not allowed: {reason}")]
    BadIdentifier {
        what: &'static str,
        value: String,
        reason: String,
    },
    #[error("metadata {0}")]
    BadField(String),
    #[error("--meta {0:?} must be KEY=VALUE")]
    NotKeyValue(String),
    #[error("the profile requires metadata {} (give each with --meta KEY=VALUE)", .0.join(", "))]
    MissingRequired(Vec<String>),
    #[error("{origin} may not set {key}: Capstan writes it itself (fields it writes: {})", RESERVED.join(", "))]
    Reserved { origin: &'static str, key: String },
}

/// Fields that Capstan writes itself into every FLAC file (and bag): never taken from `--meta`
/// or a profile's defaults.
pub const RESERVED: &[&str] = &[
    "ROLE",
    "ENCODER",
    "CODING_HISTORY",
    "SOURCE_MD5",
    "PART",
    "CHANNEL",
    "CHANNEL_NAMES",
    "WAVEFORMATEXTENSIBLE_CHANNEL_MASK",
    "CAPSTAN_PROFILE",
    "CARRIER_ID",
    "COLLECTION",
    "PROCESSING",
    "SOURCE_CHUNKS",
];

/// Whether a character is refused in a value (and replaced by a space in text carried from a
/// source): a control character (Unicode Cc, which holds U+0085 NEXT LINE) or a line or
/// paragraph separator (U+2028, U+2029), each of which breaks a line in some reader.
pub fn is_line_breaking_or_control(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

/// A bext OriginationDate, ISO 8601 `yyyy-mm-dd`, a real calendar date.
pub fn is_iso_date(v: &str) -> bool {
    let b = v.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if b.len() != 10
        || b[4] != b'-'
        || b[7] != b'-'
        || !digits(0..4)
        || !digits(5..7)
        || !digits(8..10)
    {
        return false;
    }
    let (y, m, d) = (&v[0..4], &v[5..7], &v[8..10]);
    let month = m
        .parse::<u8>()
        .ok()
        .and_then(|m| time::Month::try_from(m).ok());
    match (y.parse::<i32>(), month, d.parse::<u8>()) {
        (Ok(y), Some(m), Ok(d)) => time::Date::from_calendar_date(y, m, d).is_ok(),
        _ => false,
    }
}

/// A bext OriginationTime, `hh:mm:ss` (24-hour).
pub fn is_iso_time(v: &str) -> bool {
    let b = v.as_bytes();
    let two = |i: usize| -> Option<u8> {
        let s = v.get(i..i + 2)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    b.len() == 8
        && b[2] == b':'
        && b[5] == b':'
        && matches!((two(0), two(3), two(6)), (Some(h), Some(m), Some(s)) if h < 24 && m < 60 && s < 60)
}

/// Checks one field given by the operator or a profile (`origin`, for the message): not one
/// Capstan writes, and origination date and time in their ISO forms.
pub fn check_given(origin: &'static str, key: &str, value: &str) -> Result<(), MetadataError> {
    if RESERVED.contains(&key) {
        return Err(MetadataError::Reserved {
            origin,
            key: key.to_string(),
        });
    }
    let bad = |what: &str| {
        Err(MetadataError::BadField(format!(
            "{key}: {value:?} is not {what}; it goes into the bext chunk's fixed-width field"
        )))
    };
    match key {
        "ORIGINATION_DATE" if !is_iso_date(value) => bad("an ISO date yyyy-mm-dd"),
        "ORIGINATION_TIME" if !is_iso_time(value) => bad("a time hh:mm:ss"),
        _ => Ok(()),
    }
}

/// Vorbis comment field names (RFC 9639 §D / Vorbis I §5.2.3 allow 0x20-0x7D except '=');
/// ours are stricter, upper-case ASCII letters, digits and '_', so they read the same in every
/// tool and in bag-info.txt.
pub fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() || key.len() > 64 {
        return Err(format!("key {key:?} must be 1 to 64 characters"));
    }
    if let Some(c) = key
        .chars()
        .find(|c| !(c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_'))
    {
        return Err(format!(
            "key {key:?} contains {c:?}; keys are upper-case letters, digits and '_'"
        ));
    }
    Ok(())
}

/// A value may be any UTF-8 text without control characters or line separators.
pub fn check_value(key: &str, value: &str) -> Result<(), String> {
    if let Some((pos, c)) = value
        .char_indices()
        .find(|(_, c)| is_line_breaking_or_control(*c))
    {
        let what = if c.is_control() {
            "the control character"
        } else {
            "the line separator"
        };
        return Err(format!(
            "{key}: value contains {what} U+{:04X} at byte {pos}; \
             newlines, tabs, line and paragraph separators and other control characters are \
             refused (they would corrupt bag-info.txt and the bext chunk)",
            c as u32
        ));
    }
    if value.len() > 8192 {
        return Err(format!(
            "{key}: value is {} bytes; at most 8192",
            value.len()
        ));
    }
    Ok(())
}

/// Item ids and collection names become folder and file names in the archive, so they are
/// held to a portable set: ASCII letters, digits, '.', '_', '-', not starting with '.' or '-',
/// at most 100 characters. This refuses `..`, absolute paths and separators of any platform.
pub fn check_identifier(what: &'static str, value: &str) -> Result<(), MetadataError> {
    let bad = |reason: &str| MetadataError::BadIdentifier {
        what,
        value: value.to_string(),
        reason: reason.to_string(),
    };
    if value.is_empty() {
        return Err(bad("it is empty"));
    }
    if value.len() > 100 {
        return Err(bad("it is longer than 100 characters"));
    }
    if value.starts_with('.') || value.starts_with('-') {
        return Err(bad("it starts with '.' or '-'"));
    }
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(bad(&format!(
            "it contains {c:?}; use letters, digits, '.', '_' and '-' (no path separators)"
        )));
    }
    Ok(())
}

/// Parses one `--meta KEY=VALUE`; the key is upper-cased.
pub fn parse_meta_arg(arg: &str) -> Result<(String, String), MetadataError> {
    let (k, v) = arg
        .split_once('=')
        .ok_or_else(|| MetadataError::NotKeyValue(arg.to_string()))?;
    let key = k.trim().to_ascii_uppercase();
    check_key(&key).map_err(MetadataError::BadField)?;
    check_value(&key, v).map_err(MetadataError::BadField)?;
    check_given("--meta", &key, v)?;
    Ok((key, v.to_string()))
}

/// The fields describing an item, by key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fields(pub BTreeMap<String, String>);

/// Fields written first, in this order; any others follow in alphabetical order. Keys that
/// Capstan derives (ENCODER, CODING_HISTORY, ROLE, ...) are written by the FLAC writer.
pub const FIELD_ORDER: &[&str] = &[
    "TITLE",
    "DATE",
    "ORGANIZATION",
    "DESCRIPTION",
    "CARRIER_ID",
    "COLLECTION",
    "CARRIER_FORMAT",
    "TAPE_SPEED",
    "TRACK_FORMAT",
    "NOISE_REDUCTION",
    "PLAYBACK_EQ",
    "DECK",
    "ADC",
    "OPERATOR",
];

impl Fields {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// Sets `key` unless it already has a value.
    pub fn set_default(&mut self, key: &str, value: &str) {
        if self.get(key).is_none() && !value.is_empty() {
            self.0.insert(key.to_string(), value.to_string());
        }
    }

    /// Later layers win: `base` (profile defaults), then `carried` (from the source), then `given`
    /// (the operator).
    pub fn layered(base: &BTreeMap<String, String>, carried: &Fields, given: &Fields) -> Fields {
        let mut out = Fields(base.clone());
        for (k, v) in carried.0.iter().chain(given.0.iter()) {
            out.0.insert(k.clone(), v.clone());
        }
        out
    }

    /// Checks every field and that each of `required` has a value.
    pub fn check(&self, required: &[String]) -> Result<(), MetadataError> {
        for (k, v) in &self.0 {
            check_key(k).map_err(MetadataError::BadField)?;
            check_value(k, v).map_err(MetadataError::BadField)?;
        }
        let missing: Vec<String> = required
            .iter()
            .filter(|k| self.get(k).is_none())
            .cloned()
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(MetadataError::MissingRequired(missing))
        }
    }

    /// Every field in the written order: [`FIELD_ORDER`] first, then the rest alphabetically.
    pub fn ordered(&self) -> Vec<(&str, &str)> {
        let mut out: Vec<(&str, &str)> = FIELD_ORDER
            .iter()
            .filter_map(|k| self.get(k).map(|v| (*k, v)))
            .collect();
        out.extend(
            self.0
                .iter()
                .filter(|(k, v)| !FIELD_ORDER.contains(&k.as_str()) && !v.is_empty())
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_that_would_escape_the_archive_are_refused() {
        for bad in [
            "../x", "/abs", "a/b", "a\\b", "..", ".hidden", "", "-rf", "a b", "é", "a\0b",
        ] {
            assert!(
                check_identifier("item id", bad).is_err(),
                "{bad:?} accepted"
            );
        }
        for good in ["tape-0042", "MS_12.side-A", "x"] {
            check_identifier("item id", good).unwrap();
        }
    }

    #[test]
    fn control_characters_in_values_are_refused_with_their_position() {
        let err = parse_meta_arg("TITLE=one\ntwo").unwrap_err().to_string();
        assert!(err.contains("U+000A") && err.contains("byte 3"), "{err}");
        assert!(parse_meta_arg("NOTE=a\tb").is_err());
        assert!(parse_meta_arg("NOTE=a\u{85}b").is_err());
        assert_eq!(
            parse_meta_arg("title=Sjöberg: Live").unwrap(),
            ("TITLE".into(), "Sjöberg: Live".into())
        );
        assert!(parse_meta_arg("NO VALUE").is_err());
        assert!(parse_meta_arg("BAD KEY=x").is_err());
    }

    #[test]
    fn line_and_paragraph_separators_are_refused_like_control_characters() {
        for v in ["a\u{2028}b", "a\u{2029}b", "a\u{85}b"] {
            let err = parse_meta_arg(&format!("TITLE={v}"))
                .unwrap_err()
                .to_string();
            assert!(err.contains("at byte 1"), "{err}");
        }
    }

    #[test]
    fn fields_capstan_writes_are_refused_from_the_operator() {
        for k in RESERVED {
            let err = parse_meta_arg(&format!("{k}=x")).unwrap_err();
            assert_eq!(
                err,
                MetadataError::Reserved {
                    origin: "--meta",
                    key: k.to_string()
                }
            );
        }
        assert!(
            parse_meta_arg("role=x").is_err(),
            "keys are upper-cased first"
        );
    }

    #[test]
    fn origination_date_and_time_must_be_iso() {
        for good in ["ORIGINATION_DATE=2024-02-29", "ORIGINATION_TIME=23:59:59"] {
            parse_meta_arg(good).unwrap();
        }
        for bad in [
            "ORIGINATION_DATE=2023-02-29",
            "ORIGINATION_DATE=2024:01:01",
            "ORIGINATION_DATE=24-01-01",
            "ORIGINATION_DATE=2024-13-01",
            "ORIGINATION_DATE=2024-01-01x",
            "ORIGINATION_TIME=24:00:00",
            "ORIGINATION_TIME=1:02:03",
            "ORIGINATION_TIME=12-00-00",
        ] {
            assert!(parse_meta_arg(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn later_layers_win_and_required_fields_are_checked() {
        let base: BTreeMap<String, String> = [("TAPE_SPEED".to_string(), "7.5".to_string())].into();
        let carried = Fields([("TITLE".to_string(), "from bext".to_string())].into());
        let given = Fields([("TAPE_SPEED".to_string(), "15".to_string())].into());
        let f = Fields::layered(&base, &carried, &given);
        assert_eq!(f.get("TAPE_SPEED"), Some("15"));
        assert_eq!(f.get("TITLE"), Some("from bext"));
        let err = f
            .check(&["TITLE".into(), "OPERATOR".into(), "DECK".into()])
            .unwrap_err();
        assert_eq!(
            err,
            MetadataError::MissingRequired(vec!["OPERATOR".into(), "DECK".into()])
        );
    }

    #[test]
    fn ordered_puts_known_fields_first_then_alphabetical() {
        let f = Fields(
            [
                ("ZED", "z"),
                ("OPERATOR", "o"),
                ("TITLE", "t"),
                ("ALPHA", "a"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        );
        let keys: Vec<&str> = f.ordered().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["TITLE", "OPERATOR", "ALPHA", "ZED"]);
    }
}
