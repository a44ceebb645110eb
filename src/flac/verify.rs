//! Reading a FLAC file once to prove it: every byte through SHA-256 while libFLAC decodes it,
//! checking each frame's CRC and, at the end, the STREAMINFO MD5 of the decoded audio.
//!
//! Three threads share the work of that one read: one reads the file and hashes it, libFLAC
//! decodes what it read, and one computes the MD5 of the decoded audio (about half of
//! libFLAC's own decode cost, FLAC-NOTES), so a file is proved in about the time of its decode.
//!
//! Damage is located: each decoder error is reported with the frame position where decoding
//! stood. An all-zero STREAMINFO MD5 is reported as unset, never as a pass (FLAC-NOTES: libFLAC
//! itself then checks nothing).

use super::FlacError;
use crate::units::FrameIndex;
use libflac_sys as sys;
use md5::Md5;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::ffi::{c_void, CStr};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, sync_channel, Receiver, SyncSender};

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
    /// Blocks of the file, in order, from the reading thread; an Err ends the stream.
    blocks: Receiver<Result<Vec<u8>, std::io::Error>>,
    current: Vec<u8>,
    used: usize,
    io_error: Option<std::io::Error>,
    streaminfo: Option<StreamInfo>,
    next_frame: u64,
    decoded_frames: u64,
    damage: Vec<Damage>,
    /// Decoded audio, packed as the STREAMINFO MD5 sees it, to the hashing thread.
    to_md5: Option<SyncSender<Vec<u8>>>,
    /// Packing buffers coming back from the hashing thread, so none is allocated per frame.
    spare: Receiver<Vec<u8>>,
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
    while st.used == st.current.len() {
        match st.blocks.recv() {
            Ok(Ok(block)) => {
                st.current = block;
                st.used = 0;
            }
            Ok(Err(e)) => {
                st.io_error = Some(e);
                *bytes = 0;
                return sys::FLAC__STREAM_DECODER_READ_STATUS_ABORT;
            }
            Err(_) => {
                *bytes = 0;
                return sys::FLAC__STREAM_DECODER_READ_STATUS_END_OF_STREAM;
            }
        }
    }
    let n = out.len().min(st.current.len() - st.used);
    out[..n].copy_from_slice(&st.current[st.used..st.used + n]);
    st.used += n;
    *bytes = n;
    sys::FLAC__STREAM_DECODER_READ_STATUS_CONTINUE
}

unsafe extern "C" fn write_cb(
    _: *const sys::FLAC__StreamDecoder,
    frame: *const sys::FLAC__Frame,
    buffer: *const *const sys::FLAC__int32,
    client: *mut c_void,
) -> sys::FLAC__StreamDecoderWriteStatus {
    // SAFETY: as in read_cb; `frame` is valid for the call and `buffer` holds one pointer per
    // channel to `blocksize` samples.
    let st = &mut *(client as *mut State);
    let h = &(*frame).header;
    if let Some(tx) = &st.to_md5 {
        let channels = h.channels as usize;
        let n = h.blocksize as usize;
        let width = (h.bits_per_sample as usize).div_ceil(8);
        let planes: Vec<&[i32]> = (0..channels)
            .map(|c| std::slice::from_raw_parts(*buffer.add(c), n))
            .collect();
        let mut packed = st.spare.try_recv().unwrap_or_default();
        packed.resize(n * channels * width, 0);
        // Interleave and narrow to `width` bytes a sample (RFC 9639 §8.2's MD5 layout).
        for (c, plane) in planes.iter().enumerate() {
            let dst = packed.chunks_exact_mut(width).skip(c).step_by(channels);
            for (d, &v) in dst.zip(plane.iter()) {
                d.copy_from_slice(&v.to_le_bytes()[..width]);
            }
        }
        if tx.send(packed).is_err() {
            st.to_md5 = None;
        }
    }
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
    let mut file = File::open(path).map_err(io)?;
    let (block_tx, block_rx) = sync_channel::<Result<Vec<u8>, std::io::Error>>(8);
    let (md5_tx, md5_rx) = sync_channel::<Vec<u8>>(16);
    let (spare_tx, spare_rx) = channel::<Vec<u8>>();
    std::thread::scope(|scope| {
        // Reading and hashing: the whole file, even when the decoder stops early on damage.
        let reader = scope.spawn(move || -> Result<(Sha256, u64), std::io::Error> {
            let mut sha = Sha256::new();
            let mut total = 0u64;
            loop {
                let mut block = vec![0u8; 1 << 20];
                let n = match file.read(&mut block) {
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        let kind = e.kind();
                        let _ = block_tx.send(Err(std::io::Error::new(kind, e.to_string())));
                        return Err(e);
                    }
                };
                if n == 0 {
                    return Ok((sha, total));
                }
                block.truncate(n);
                sha.update(&block);
                total += n as u64;
                // A decoder that stopped no longer listens; the file is still hashed to the end.
                let _ = block_tx.send(Ok(block));
            }
        });
        let hasher = scope.spawn(move || {
            let mut md5 = Md5::new();
            for packed in md5_rx {
                md5.update(&packed);
                let _ = spare_tx.send(packed);
            }
            <[u8; 16]>::from(md5.finalize())
        });
        let mut st = Box::new(State {
            blocks: block_rx,
            current: Vec::new(),
            used: 0,
            io_error: None,
            streaminfo: None,
            next_frame: 0,
            decoded_frames: 0,
            damage: Vec::new(),
            to_md5: Some(md5_tx),
            spare: spare_rx,
        });
        // SAFETY: the decoder is created, used and deleted here; `st` outlives it.
        let processed = unsafe {
            let dec = sys::FLAC__stream_decoder_new();
            if dec.is_null() {
                return Err(FlacError::Alloc {
                    path: path.to_path_buf(),
                    what: "a decoder",
                });
            }
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
            sys::FLAC__stream_decoder_finish(dec);
            sys::FLAC__stream_decoder_delete(dec);
            processed
        };
        st.to_md5 = None; // ends the hashing thread's input
        let State {
            blocks,
            io_error,
            streaminfo,
            decoded_frames,
            mut damage,
            ..
        } = *st;
        drop(blocks); // lets the reader finish hashing without a listener
        let (sha, bytes) = reader.join().expect("reader thread").map_err(io)?;
        if let Some(e) = io_error {
            return Err(io(e));
        }
        let audio_md5 = hasher.join().expect("MD5 thread");
        let md5 = match streaminfo {
            None => Md5Status::NotChecked,
            Some(si) if si.md5 == [0; 16] => Md5Status::Unset,
            // A decoder that lost frames or stopped early cannot say whether the MD5 matched.
            Some(si) if decoded_frames != si.total_frames || !damage.is_empty() || !processed => {
                Md5Status::NotChecked
            }
            Some(si) if si.md5 == audio_md5 => Md5Status::Match,
            Some(_) => Md5Status::Mismatch,
        };
        if streaminfo.is_none() && damage.is_empty() {
            damage.push(Damage {
                at: FrameIndex(0),
                kind: "no STREAMINFO: not a FLAC stream".into(),
            });
        }
        if let Some(si) = streaminfo {
            if decoded_frames < si.total_frames && damage.is_empty() {
                damage.push(Damage {
                    at: FrameIndex(decoded_frames),
                    kind: format!(
                        "stream ends early: {decoded_frames} of {} frames decoded",
                        si.total_frames
                    ),
                });
            }
        }
        Ok(FlacCheck {
            path: path.to_path_buf(),
            bytes,
            sha256: sha.finalize().into(),
            streaminfo,
            decoded_frames,
            md5,
            damage,
        })
    })
}
