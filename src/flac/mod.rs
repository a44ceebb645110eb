//! Preservation masters in FLAC: writing them and proving what was written.
//!
//! [`encode::MasterEncoder`] writes a master through libFLAC (the copy built from source by
//! `libflac-sys`, pinned), with STREAMINFO MD5 and total samples always filled in, a fixed
//! block order (STREAMINFO, SEEKTABLE, VORBIS_COMMENT, the `riff` APPLICATION blocks, PADDING)
//! so the same input gives the same bytes. [`verify::check_file`] reads a FLAC file once, hashing every byte with SHA-256 while
//! libFLAC decodes it, checks frame CRCs and the STREAMINFO MD5, and locates every damaged frame.
//! [`decode::FlacReader`] reads a file's samples back for derived copies (refusing damage).
//! [`tags::vorbis_comments`] reads a file's archival metadata back without decoding it.
//! [`riff`] lays out the BWF chunks that `flac -d --keep-foreign-metadata` turns back into a WAV.

pub mod decode;
pub mod encode;
pub mod tags;
pub mod verify;

// The RIFF layout moved to `crate::riff`; these paths stay for the code that uses them.
pub use crate::riff::bext;
pub use crate::riff::chunk as riff;

use std::ffi::CStr;
use std::path::PathBuf;

/// Why a master could not be written or checked.
#[derive(Debug, thiserror::Error)]
pub enum FlacError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: libFLAC could not start the encoder: {status}")]
    EncoderInit { path: PathBuf, status: String },
    #[error("{path}: libFLAC refused the samples at frame {frame}: {state}")]
    Encode {
        path: PathBuf,
        frame: u64,
        state: String,
    },
    #[error("{path}: libFLAC could not allocate {what}")]
    Alloc { path: PathBuf, what: &'static str },
    #[error("{path}: {expected} frames were announced but {written} were written")]
    FrameCount {
        path: PathBuf,
        expected: u64,
        written: u64,
    },
    #[error("{path}: the {what} needs a {bytes}-byte metadata block; libFLAC writes at most 16777212 bytes")]
    BlockTooLarge {
        path: PathBuf,
        what: String,
        bytes: u64,
    },
    #[error("{path}: not a FLAC file ({detail})")]
    NotFlac { path: PathBuf, detail: String },
    #[error("{path}: damaged at {at} ({time}): {kind}")]
    Damaged {
        path: PathBuf,
        at: crate::units::FrameIndex,
        time: crate::units::Timecode,
        kind: String,
    },
}

/// The libFLAC version Capstan is built with, e.g. "1.5.0".
pub fn libflac_version() -> String {
    // SAFETY: FLAC__VERSION_STRING is a static NUL-terminated string set at library load.
    unsafe {
        let p = libflac_sys::FLAC__VERSION_STRING;
        if p.is_null() {
            return "unknown".into();
        }
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

/// Lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
