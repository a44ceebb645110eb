//! Reading a FLAC file once to prove it: every byte through SHA-256 while libFLAC decodes it,
//! checking each frame's CRC and, at the end, the STREAMINFO MD5 of the decoded audio.
//!
//! Damage is located: each decoder error is reported with the frame position where decoding
//! stood. An all-zero STREAMINFO MD5 is reported as unset, never as a pass (FLAC-NOTES: libFLAC
//! itself then checks nothing).

use super::FlacError;
use crate::units::FrameIndex;
use libflac_sys as sys;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::ffi::{c_void, CStr};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// STREAMINFO as read from the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StreamInfo {
    pub sample_rate: u32,
    pub channels: u32,
    pub bits_per_sample: u32,
    pub total_frames: u64,
    #[serde(serialize_with = "hex_md5")]
    pub md5: [u8; 16],
}

fn hex_md5<S: serde::Serializer>(md5: &[u8; 16], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&super::hex(md5))
}

/// What the STREAMINFO MD5 check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Md5Status {
    /// The decoded audio matches.
    Match,
    /// The decoded audio differs from what the encoder saw.
    Mismatch,
    /// STREAMINFO holds no MD5 (all zero): nothing could be checked.
    Unset,
    /// Decoding did not reach the end, so the MD5 was not checked.
    NotChecked,
}

/// One decoder complaint, where it happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Damage {
    /// The first frame not decoded cleanly at the time of the error.
    pub at: FrameIndex,
    pub kind: String,
}

/// The outcome of reading a FLAC file once.
#[derive(Debug, Clone, Serialize)]
pub struct FlacCheck {
    pub path: PathBuf,
    pub bytes: u64,
    #[serde(serialize_with = "hex_sha")]
    pub sha256: [u8; 32],
    pub streaminfo: Option<StreamInfo>,
    pub decoded_frames: u64,
    pub md5: Md5Status,
    pub damage: Vec<Damage>,
}

fn hex_sha<S: serde::Serializer>(sha: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&super::hex(sha))
}

impl FlacCheck {
    /// Every frame decoded, every CRC good, the MD5 set and matching, the count as announced.
    pub fn is_intact(&self) -> bool {
        self.damage.is_empty()
            && self.md5 == Md5Status::Match
            && self
                .streaminfo
                .is_some_and(|si| si.total_frames == self.decoded_frames)
    }
}

struct State {
    file: File,
    sha: Sha256,
    bytes: u64,
    io_error: Option<std::io::Error>,
    streaminfo: Option<StreamInfo>,
    next_frame: u64,
    decoded_frames: u64,
    damage: Vec<Damage>,
    buf: Vec<u8>,
}

unsafe extern "C" fn read_cb(
    _: *const sys::FLAC__StreamDecoder,
    buffer: *mut sys::FLAC__byte,
    bytes: *mut usize,
    client: *mut c_void,
) -> sys::FLAC__StreamDecoderReadStatus {
    // SAFETY: `client` is the State owned by check_file for the decoder's lifetime; libFLAC
    // gives a buffer of `*bytes` writable bytes.
    let st = &mut *(client as *mut State);
    let out = std::slice::from_raw_parts_mut(buffer, *bytes);
    loop {
        match st.file.read(out) {
            Ok(0) => {
                *bytes = 0;
                return sys::FLAC__STREAM_DECODER_READ_STATUS_END_OF_STREAM;
            }
            Ok(n) => {
                st.sha.update(&out[..n]);
                st.bytes += n as u64;
                *bytes = n;
                return sys::FLAC__STREAM_DECODER_READ_STATUS_CONTINUE;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                st.io_error = Some(e);
                *bytes = 0;
                return sys::FLAC__STREAM_DECODER_READ_STATUS_ABORT;
            }
        }
    }
}

unsafe extern "C" fn write_cb(
    _: *const sys::FLAC__StreamDecoder,
    frame: *const sys::FLAC__Frame,
    _: *const *const sys::FLAC__int32,
    client: *mut c_void,
) -> sys::FLAC__StreamDecoderWriteStatus {
    // SAFETY: as in read_cb; `frame` is valid for the call.
    let st = &mut *(client as *mut State);
    let h = &(*frame).header;
    let start = if h.number_type == sys::FLAC__FRAME_NUMBER_TYPE_SAMPLE_NUMBER {
        h.number.sample_number
    } else {
        u64::from(h.number.frame_number) * u64::from(h.blocksize)
    };
    st.next_frame = start + u64::from(h.blocksize);
    st.decoded_frames += u64::from(h.blocksize);
    sys::FLAC__STREAM_DECODER_WRITE_STATUS_CONTINUE
}

unsafe extern "C" fn metadata_cb(
    _: *const sys::FLAC__StreamDecoder,
    meta: *const sys::FLAC__StreamMetadata,
    client: *mut c_void,
) {
    // SAFETY: as in read_cb; libFLAC only passes STREAMINFO (the default filter).
    let st = &mut *(client as *mut State);
    if (*meta).type_ == sys::FLAC__METADATA_TYPE_STREAMINFO {
        let si = &(*meta).data.stream_info;
        st.streaminfo = Some(StreamInfo {
            sample_rate: si.sample_rate,
            channels: si.channels,
            bits_per_sample: si.bits_per_sample,
            total_frames: si.total_samples,
            md5: si.md5sum,
        });
    }
}

unsafe extern "C" fn error_cb(
    _: *const sys::FLAC__StreamDecoder,
    status: sys::FLAC__StreamDecoderErrorStatus,
    client: *mut c_void,
) {
    // SAFETY: as in read_cb; the status strings are static.
    let st = &mut *(client as *mut State);
    let s = *sys::FLAC__StreamDecoderErrorStatusString
        .as_ptr()
        .add(status as usize);
    let kind = CStr::from_ptr(s).to_string_lossy().into_owned();
    st.damage.push(Damage {
        at: FrameIndex(st.next_frame),
        kind,
    });
}

/// Reads `path` once: SHA-256 of every byte, and a full decode with CRC and MD5 checks.
/// Only failing to open or read the file is an error; damage is reported in the result.
pub fn check_file(path: &Path) -> Result<FlacCheck, FlacError> {
    let io = |source| FlacError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let mut st = Box::new(State {
        file,
        sha: Sha256::new(),
        bytes: 0,
        io_error: None,
        streaminfo: None,
        next_frame: 0,
        decoded_frames: 0,
        damage: Vec::new(),
        buf: Vec::new(),
    });
    // SAFETY: the decoder is created, used and deleted here; `st` outlives it.
    let finished_ok = unsafe {
        let dec = sys::FLAC__stream_decoder_new();
        if dec.is_null() {
            return Err(FlacError::Alloc {
                path: path.to_path_buf(),
                what: "a decoder",
            });
        }
        sys::FLAC__stream_decoder_set_md5_checking(dec, 1);
        let status = sys::FLAC__stream_decoder_init_stream(
            dec,
            Some(read_cb),
            None,
            None,
            None,
            None,
            Some(write_cb),
            Some(metadata_cb),
            Some(error_cb),
            &mut *st as *mut State as *mut c_void,
        );
        if status != sys::FLAC__STREAM_DECODER_INIT_STATUS_OK {
            sys::FLAC__stream_decoder_delete(dec);
            return Err(FlacError::NotFlac {
                path: path.to_path_buf(),
                detail: format!("decoder init status {status}"),
            });
        }
        let processed = sys::FLAC__stream_decoder_process_until_end_of_stream(dec) != 0;
        let md5_ok = sys::FLAC__stream_decoder_finish(dec) != 0;
        sys::FLAC__stream_decoder_delete(dec);
        processed && md5_ok
    };
    if let Some(e) = st.io_error.take() {
        return Err(io(e));
    }
    // The decoder may stop early on damage; the digest must still cover the whole file.
    st.buf.resize(1 << 20, 0);
    loop {
        let n = st.file.read(&mut st.buf).map_err(io)?;
        if n == 0 {
            break;
        }
        let State { sha, buf, .. } = &mut *st;
        sha.update(&buf[..n]);
        st.bytes += n as u64;
    }
    let md5 = match st.streaminfo {
        None => Md5Status::NotChecked,
        Some(si) if si.md5 == [0; 16] => Md5Status::Unset,
        Some(si) if st.decoded_frames != si.total_frames => Md5Status::NotChecked,
        Some(_) if finished_ok => Md5Status::Match,
        Some(_) if st.damage.is_empty() => Md5Status::Mismatch,
        // A decoder that lost frames cannot say whether the MD5 matched.
        Some(_) => Md5Status::NotChecked,
    };
    if st.streaminfo.is_none() && st.damage.is_empty() {
        st.damage.push(Damage {
            at: FrameIndex(0),
            kind: "no STREAMINFO: not a FLAC stream".into(),
        });
    }
    if let Some(si) = st.streaminfo {
        if st.decoded_frames < si.total_frames && st.damage.is_empty() {
            st.damage.push(Damage {
                at: FrameIndex(st.decoded_frames),
                kind: format!(
                    "stream ends early: {} of {} frames decoded",
                    st.decoded_frames, si.total_frames
                ),
            });
        }
    }
    let sha = std::mem::take(&mut st.sha).finalize();
    Ok(FlacCheck {
        path: path.to_path_buf(),
        bytes: st.bytes,
        sha256: sha.into(),
        streaminfo: st.streaminfo,
        decoded_frames: st.decoded_frames,
        md5,
        damage: std::mem::take(&mut st.damage),
    })
}
