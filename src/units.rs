//! Sample positions and counts as types of their own.
//!
//! A frame is one sample instant across all channels. Positions and lengths in the archive
//! (defects, damage, overruns) are always frames, so they never get mixed up with byte offsets
//! or per-channel sample counts; `Timecode` renders them as `hh:mm:ss.fff` for people.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The index of a frame from the start of a take (0-based).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    Default,
    ts_rs::TS,
)]
#[serde(transparent)]
pub struct FrameIndex(pub u64);

/// A number of frames.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    Default,
    ts_rs::TS,
)]
#[serde(transparent)]
pub struct FrameCount(pub u64);

impl FrameIndex {
    /// This position as a timecode at `sample_rate`.
    pub fn timecode(self, sample_rate: u32) -> Timecode {
        Timecode::from_frames(self.0, sample_rate)
    }
}

impl FrameCount {
    /// This length as a timecode at `sample_rate`.
    pub fn timecode(self, sample_rate: u32) -> Timecode {
        Timecode::from_frames(self.0, sample_rate)
    }
}

impl fmt::Display for FrameIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "frame {}", self.0)
    }
}

impl fmt::Display for FrameCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} frames", self.0)
    }
}

/// A time position, `hh:mm:ss.fff`, truncated (never rounded up) to the millisecond so that a
/// timecode never points past the frame it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ts_rs::TS)]
#[ts(type = "string")]
pub struct Timecode {
    /// Whole milliseconds from the start.
    pub millis: u64,
}

impl Timecode {
    /// The timecode of frame `frames` at `sample_rate`.
    pub fn from_frames(frames: u64, sample_rate: u32) -> Timecode {
        let millis = (u128::from(frames) * 1000 / u128::from(sample_rate.max(1))) as u64;
        Timecode { millis }
    }
}

impl fmt::Display for Timecode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.millis % 1000;
        let s = self.millis / 1000;
        write!(
            f,
            "{:02}:{:02}:{:02}.{:03}",
            s / 3600,
            (s / 60) % 60,
            s % 60,
            ms
        )
    }
}

impl Serialize for Timecode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl std::str::FromStr for Timecode {
    type Err = String;

    /// Reads `hh:mm:ss.fff` back (hours may have more digits).
    fn from_str(s: &str) -> Result<Timecode, String> {
        let bad = || format!("not a timecode hh:mm:ss.fff: {s:?}");
        let (hms, ms) = s.split_once('.').ok_or_else(bad)?;
        let mut parts = hms.split(':');
        let mut next = |max: u64| -> Result<u64, String> {
            let p = parts.next().ok_or_else(bad)?;
            let v: u64 = p
                .parse()
                .ok()
                .filter(|_| p.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(bad)?;
            (v < max).then_some(v).ok_or_else(bad)
        };
        let (h, m, sec) = (next(u64::MAX / 3_600_000)?, next(60)?, next(60)?);
        if parts.next().is_some() || ms.len() != 3 || !ms.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let ms: u64 = ms.parse().map_err(|_| bad())?;
        Ok(Timecode {
            millis: ((h * 60 + m) * 60 + sec) * 1000 + ms,
        })
    }
}

impl<'de> Deserialize<'de> for Timecode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Timecode, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A byte count for people, in binary units (`512 B`, `3.4 MiB`, `1.21 GiB`).
pub fn bytes_human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    let digits = if v < 10.0 {
        2
    } else if v < 100.0 {
        1
    } else {
        0
    };
    format!("{v:.digits$} {}", UNITS[unit])
}

/// An instant as RFC 3339 (`2026-11-21T20:15:03.123Z`), the form of every date-time Capstan
/// writes (events, QC reports, journals).
pub fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Now, as [`rfc3339`].
pub fn now_rfc3339() -> String {
    rfc3339(time::OffsetDateTime::now_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_read_in_binary_units() {
        assert_eq!(bytes_human(0), "0 B");
        assert_eq!(bytes_human(1023), "1023 B");
        assert_eq!(bytes_human(1024), "1.00 KiB");
        assert_eq!(bytes_human(16 << 20), "16.0 MiB");
        assert_eq!(bytes_human(300 << 20), "300 MiB");
        assert_eq!(bytes_human(1_300_000_000), "1.21 GiB");
    }

    #[test]
    fn timecodes_read_back_as_written_and_nothing_else_reads() {
        for millis in [0, 999, 59_999, 3_599_999, 3_600_000, 360_000_000_123] {
            let t = Timecode { millis };
            assert_eq!(t.to_string().parse::<Timecode>(), Ok(t), "{t}");
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(serde_json::from_str::<Timecode>(&json).unwrap(), t);
        }
        for bad in [
            "",
            "00:00:00",
            "00:00:60.000",
            "00:60:00.000",
            "0:0:0.1",
            "-1:00:00.000",
            "00:00:00.0000",
            "00:00:00:00.000",
            "+1:00:00.000",
            "aa:00:00.000",
        ] {
            assert!(bad.parse::<Timecode>().is_err(), "{bad}");
        }
    }

    #[test]
    fn timecode_formats_hours_minutes_seconds_millis() {
        assert_eq!(Timecode::from_frames(0, 48_000).to_string(), "00:00:00.000");
        assert_eq!(
            Timecode::from_frames(47_999, 48_000).to_string(),
            "00:00:00.999"
        );
        let frames = (3600 + 2 * 60 + 3) * 96_000 + 96 * 45;
        assert_eq!(
            Timecode::from_frames(frames, 96_000).to_string(),
            "01:02:03.045"
        );
    }

    #[test]
    fn timecode_never_rounds_past_its_frame() {
        // 44099 frames at 44.1 kHz is 0.99997 s: still inside the first second.
        assert_eq!(
            Timecode::from_frames(44_099, 44_100).to_string(),
            "00:00:00.999"
        );
    }
}
