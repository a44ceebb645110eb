//! Sealing a FLAC file of the item, the same for a master and an access copy: its bext gains
//! the loudness measured while it was written, then it is read back once (SHA-256 of the file,
//! decoded by libFLAC) and proved bit-exact to the samples it was made from. A file that fails
//! fails the ingest.

use super::{interrupted, IngestError, IngestRequest};
use crate::archive::bag::PayloadFile;
use crate::dsp::levels::LevelReport;
use crate::flac::encode::{patch_riff_chunk, streaminfo_md5};
use crate::flac::hex;
use crate::flac::verify::{check_file_until, FlacCheck};
use crate::riff::bext::{BextLoudness, LOUDNESS_OFFSET};
use crate::units::FrameCount;
use std::path::Path;

/// A FLAC file sealed: its check, proved.
pub(super) struct Sealed {
    /// The file as it is in the bag (`data/<name>`).
    pub(super) rel: String,
    pub(super) check: FlacCheck,
}

impl Sealed {
    /// The hex SHA-256 of the file.
    pub(super) fn sha256(&self) -> String {
        hex(&self.check.sha256)
    }

    /// The hex MD5 of the decoded audio (its STREAMINFO MD5, proved).
    pub(super) fn audio_md5(&self) -> String {
        hex(&self
            .check
            .audio
            .streaminfo
            .map(|s| s.md5)
            .unwrap_or_default())
    }

    pub(super) fn frames(&self) -> FrameCount {
        FrameCount(self.check.audio.decoded_frames)
    }

    /// The file's line in the bag's manifest.
    pub(super) fn payload(&self) -> PayloadFile {
        PayloadFile {
            path: self.rel.clone(),
            sha256: self.check.sha256,
            bytes: self.check.bytes,
        }
    }
}

/// The bext loudness fields of levels measured while a file was written: the programme's, or
/// for a per-channel master its own channel's.
pub(super) fn loudness(levels: &LevelReport, channel: Option<usize>) -> BextLoudness {
    let l = match channel.and_then(|c| levels.channels.get(c - 1)) {
        Some(c) => &c.levels,
        None => &levels.overall,
    };
    BextLoudness {
        integrated: BextLoudness::field(l.integrated_lufs),
        range: BextLoudness::field(l.loudness_range_lu),
        max_true_peak: BextLoudness::field(l.true_peak_dbtp),
        max_momentary: BextLoudness::field(l.max_momentary_lufs),
        max_short_term: BextLoudness::field(l.max_short_term_lufs),
    }
}

/// Seals the FLAC file at `path` (`rel` in the bag), written from `frames` frames of `bits`-bit
/// samples: patches `loudness` into its bext and the STREAMINFO MD5 into its MD5 chunk, reads
/// it back and proves it bit-exact ([`prove_bit_exact`]): the MD5 chunk then holds the MD5 of
/// the audio proved.
pub(super) fn seal(
    req: &IngestRequest,
    rel: &str,
    path: &Path,
    loudness: &BextLoudness,
    (frames, bits): (u64, u32),
) -> Result<Sealed, IngestError> {
    patch_riff_chunk(path, b"bext", LOUDNESS_OFFSET, &loudness.to_bytes())?;
    if crate::riff::md5_chunk_applies(bits) {
        let md5 = crate::riff::md5_chunk_payload(&streaminfo_md5(path)?);
        patch_riff_chunk(path, &crate::riff::MD5_CHUNK, 0, &md5)?;
    }
    let check = check_master(req, path)?;
    prove_bit_exact(&check, frames)?;
    Ok(Sealed {
        rel: rel.to_string(),
        check,
    })
}

/// [`check_file`] that stops when the ingest is interrupted.
fn check_master(req: &IngestRequest, path: &Path) -> Result<FlacCheck, IngestError> {
    check_file_until(path, req.interrupt.as_deref()).map_err(|e| {
        if interrupted(req) {
            IngestError::Interrupted
        } else {
            e.into()
        }
    })
}

/// The decoded master must be intact: every frame CRC good, exactly the source's frame count,
/// and the MD5 of the decoded audio equal to the STREAMINFO MD5 that libFLAC computed from the
/// source samples as they were handed to it (an all-zero MD5 fails: nothing was checked).
fn prove_bit_exact(check: &FlacCheck, frames: u64) -> Result<(), IngestError> {
    let fail = |detail: String| IngestError::NotBitExact {
        path: check.path.clone(),
        detail,
    };
    if let Some(d) = check.audio.damage.first() {
        return Err(fail(format!("{} at frame {}", d.kind, d.at.0)));
    }
    if check.audio.streaminfo.is_none() {
        return Err(fail("no STREAMINFO".into()));
    }
    if !check.audio.is_intact() {
        return Err(fail(format!("MD5 check: {:?}", check.audio.md5)));
    }
    if check.audio.decoded_frames != frames {
        return Err(fail(format!(
            "{} frames decoded, the source has {frames}",
            check.audio.decoded_frames
        )));
    }
    Ok(())
}
