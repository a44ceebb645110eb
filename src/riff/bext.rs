//! The BWF Broadcast Audio Extension chunk, version 2 (EBU Tech 3285 v2, 2011).
//!
//! Capstan writes one into every master (as a `riff` APPLICATION block, so that
//! `flac -d --keep-foreign-metadata` gives back a BWF) and reads the one a source file carries,
//! so that its description, dates, UMID and coding history are kept.

/// Size of the fixed part of the chunk, before CodingHistory (Tech 3285 §2.3: 256 + 32 + 32 +
/// 10 + 8 + 8 + 2 + 64 + 10 + 180).
pub const FIXED_LEN: usize = 602;
/// Offset of LoudnessValue inside the chunk payload (after UMID).
pub const LOUDNESS_OFFSET: usize = 256 + 32 + 32 + 10 + 8 + 8 + 2 + 64;
/// "Unknown" for the loudness fields (Tech 3285 v2 §2.3: 0x7FFF).
pub const LOUDNESS_UNKNOWN: i16 = 0x7FFF;

/// The loudness fields of bext v2, each `round(100 × value)` (Tech 3285 v2 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BextLoudness {
    pub integrated: i16,
    pub range: i16,
    pub max_true_peak: i16,
    pub max_momentary: i16,
    pub max_short_term: i16,
}

impl BextLoudness {
    pub const UNKNOWN: BextLoudness = BextLoudness {
        integrated: LOUDNESS_UNKNOWN,
        range: LOUDNESS_UNKNOWN,
        max_true_peak: LOUDNESS_UNKNOWN,
        max_momentary: LOUDNESS_UNKNOWN,
        max_short_term: LOUDNESS_UNKNOWN,
    };

    /// Encodes a measured value; unmeasurable (silence, -inf) and out-of-range values become
    /// "unknown" rather than a wrong number.
    pub fn field(value: Option<f64>) -> i16 {
        match value {
            Some(v) if v.is_finite() && (v * 100.0).abs() < 32_767.0 => (v * 100.0).round() as i16,
            _ => LOUDNESS_UNKNOWN,
        }
    }

    pub fn to_bytes(self) -> [u8; 10] {
        let mut out = [0u8; 10];
        for (i, v) in [
            self.integrated,
            self.range,
            self.max_true_peak,
            self.max_momentary,
            self.max_short_term,
        ]
        .into_iter()
        .enumerate()
        {
            out[i * 2..i * 2 + 2].copy_from_slice(&v.to_le_bytes());
        }
        out
    }
}

/// The fields of a bext chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bext {
    pub description: String,
    pub originator: String,
    pub originator_reference: String,
    /// `yyyy-mm-dd`
    pub origination_date: String,
    /// `hh:mm:ss`
    pub origination_time: String,
    pub time_reference: u64,
    pub version: u16,
    pub umid: [u8; 64],
    pub loudness: BextLoudness,
    /// Lines per EBU R98, each ending in CR LF.
    pub coding_history: String,
}

/// Copies `s` into a fixed field, cut at a character boundary so no UTF-8 sequence is split.
fn put_text(out: &mut Vec<u8>, s: &str, len: usize) {
    let mut end = s.len().min(len);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    out.extend_from_slice(&s.as_bytes()[..end]);
    out.resize(out.len() + (len - end), 0);
}

fn get_text(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).trim_end().to_string()
}

impl Bext {
    /// The chunk payload (without the 8-byte chunk header).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(FIXED_LEN + self.coding_history.len());
        put_text(&mut out, &self.description, 256);
        put_text(&mut out, &self.originator, 32);
        put_text(&mut out, &self.originator_reference, 32);
        put_text(&mut out, &self.origination_date, 10);
        put_text(&mut out, &self.origination_time, 8);
        out.extend_from_slice(&(self.time_reference as u32).to_le_bytes());
        out.extend_from_slice(&((self.time_reference >> 32) as u32).to_le_bytes());
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&self.umid);
        debug_assert_eq!(out.len(), LOUDNESS_OFFSET);
        out.extend_from_slice(&self.loudness.to_bytes());
        out.resize(FIXED_LEN, 0);
        out.extend_from_slice(self.coding_history.as_bytes());
        out
    }

    /// Reads a bext payload of any version (v0/v1 have no loudness fields: they read as unknown).
    pub fn parse(b: &[u8]) -> Option<Bext> {
        if b.len() < FIXED_LEN {
            return None;
        }
        let u32_at = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let i16_at = |o: usize| i16::from_le_bytes([b[o], b[o + 1]]);
        let version = u16::from_le_bytes([b[346], b[347]]);
        let mut umid = [0u8; 64];
        umid.copy_from_slice(&b[348..412]);
        let loudness = if version >= 2 {
            BextLoudness {
                integrated: i16_at(LOUDNESS_OFFSET),
                range: i16_at(LOUDNESS_OFFSET + 2),
                max_true_peak: i16_at(LOUDNESS_OFFSET + 4),
                max_momentary: i16_at(LOUDNESS_OFFSET + 6),
                max_short_term: i16_at(LOUDNESS_OFFSET + 8),
            }
        } else {
            BextLoudness::UNKNOWN
        };
        let history = &b[FIXED_LEN..];
        let end = history
            .iter()
            .position(|&c| c == 0)
            .unwrap_or(history.len());
        Some(Bext {
            description: get_text(&b[0..256]),
            originator: get_text(&b[256..288]),
            originator_reference: get_text(&b[288..320]),
            origination_date: get_text(&b[320..330]),
            origination_time: get_text(&b[330..338]),
            time_reference: u64::from(u32_at(338)) | (u64::from(u32_at(342)) << 32),
            version,
            umid,
            loudness,
            coding_history: String::from_utf8_lossy(&history[..end]).into_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Bext {
        Bext {
            description: "Interview with a lighthouse keeper".into(),
            originator: "GB, Sound Archive".into(),
            originator_reference: "tape-0042".into(),
            origination_date: "2026-11-21".into(),
            origination_time: "17:30:00".into(),
            time_reference: 0x1_0000_0002,
            version: 2,
            umid: [0; 64],
            loudness: BextLoudness {
                integrated: -2300,
                range: 512,
                max_true_peak: -105,
                max_momentary: -1800,
                max_short_term: -1950,
            },
            coding_history: "A=ANALOGUE,M=mono,T=Studer A807\r\nA=PCM,F=96000,W=24,M=mono\r\n"
                .into(),
        }
    }

    #[test]
    fn bext_round_trips_and_has_the_tech_3285_layout() {
        let b = sample();
        let bytes = b.to_bytes();
        assert_eq!(bytes.len(), FIXED_LEN + b.coding_history.len());
        assert_eq!(&bytes[346..348], &[2, 0], "Version at offset 346");
        assert_eq!(
            i16::from_le_bytes([bytes[412], bytes[413]]),
            -2300,
            "LoudnessValue at 412"
        );
        assert_eq!(Bext::parse(&bytes).unwrap(), b);
    }

    #[test]
    fn long_text_is_cut_at_a_character_boundary() {
        let mut b = sample();
        b.originator = "Ö".repeat(40); // 80 bytes for a 32-byte field
        let parsed = Bext::parse(&b.to_bytes()).unwrap();
        assert_eq!(parsed.originator, "Ö".repeat(16));
    }

    #[test]
    fn loudness_fields_round_and_mark_unknowns() {
        assert_eq!(BextLoudness::field(Some(-23.004)), -2300);
        assert_eq!(BextLoudness::field(Some(-0.015)), -2);
        assert_eq!(BextLoudness::field(None), LOUDNESS_UNKNOWN);
        assert_eq!(
            BextLoudness::field(Some(f64::NEG_INFINITY)),
            LOUDNESS_UNKNOWN
        );
        assert_eq!(BextLoudness::field(Some(-400.0)), LOUDNESS_UNKNOWN);
    }
}
