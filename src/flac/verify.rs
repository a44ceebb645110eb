//! Reading a FLAC file once to prove it: every byte through a digest while libFLAC decodes it,
//! checking each frame's CRC and, at the end, the STREAMINFO MD5 of the decoded audio.
//!
//! Two ways to run that one read. [`check_file`] spreads it over three threads (one reads and
//! hashes, libFLAC decodes, one computes the MD5 of the decoded audio, about half of libFLAC's
//! own decode cost, FLAC-NOTES), so one file is proved in about the time of its decode: ingest
//! proves its masters this way. [`check_stream`] does it all on the calling thread, for batch
//! verification, which is parallel across files instead; there libFLAC checks the MD5 itself
//! (its packing of the samples for MD5 is cheaper than a general one).
//!
//! Damage is located: each decoder error is reported with the position of the first frame that
//! did not decode cleanly, and a stream that ends early as `truncated` at the first missing
//! sample. An all-zero STREAMINFO MD5 is reported as unset, never as a pass (FLAC-NOTES: libFLAC
//! itself then checks nothing).
//!
//! At least as strict as `flac -t`: every frame header's channels, bits per sample and sample
//! rate must agree with STREAMINFO (libFLAC decodes such a frame without complaint, and its MD5
//! then covers the frames as they are), and the metadata blocks are walked as the bytes pass:
//! STREAMINFO first and only once, 34 bytes long, no block of the forbidden type 127, and no
//! block running past the end of the file. Each is damage at sample 0 (`bad metadata: …`) or
//! at the first disagreeing frame.

use super::FlacError;
use crate::units::FrameIndex;
use libflac_sys as sys;
use md5::Md5;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::ffi::c_void;
use std::io::{self, Read};
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
    /// `frame CRC mismatch`, `lost sync`, `bad frame header`, `truncated`, ...
    pub kind: String,
}

/// What decoding a FLAC stream found.
#[derive(Debug, Clone, Serialize)]
pub struct AudioCheck {
    pub streaminfo: Option<StreamInfo>,
    pub decoded_frames: u64,
    pub md5: Md5Status,
    pub damage: Vec<Damage>,
}

impl AudioCheck {
    /// Every frame decoded, every CRC good, the MD5 set and matching, the count as announced.
    pub fn is_intact(&self) -> bool {
        self.damage.is_empty()
            && self.md5 == Md5Status::Match
            && self
                .streaminfo
                .is_some_and(|si| si.total_frames == self.decoded_frames)
    }
}

/// The outcome of reading a FLAC file once.
#[derive(Debug, Clone, Serialize)]
pub struct FlacCheck {
    pub path: PathBuf,
    pub bytes: u64,
    #[serde(serialize_with = "hex_sha")]
    pub sha256: [u8; 32],
    #[serde(flatten)]
    pub audio: AudioCheck,
}

fn hex_sha<S: serde::Serializer>(sha: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&super::hex(sha))
}

/// Where the decoder's bytes come from.
enum Input<'a> {
    /// Blocks of the file, in order, from a reading thread; an Err ends the stream.
    Blocks {
        rx: Receiver<Result<Vec<u8>, io::Error>>,
        current: Vec<u8>,
        used: usize,
    },
    /// Read here, each block shown to `tap` (the digests) before the decoder gets it.
    Inline {
        reader: &'a mut dyn Read,
        tap: &'a mut dyn FnMut(&[u8]),
    },
}

/// Where the decoded audio goes for its MD5.
enum AudioMd5 {
    Thread {
        tx: Option<SyncSender<Vec<u8>>>,
        /// Packing buffers coming back from the hashing thread, so none is allocated per frame.
        spare: Receiver<Vec<u8>>,
    },
    /// libFLAC's own check (`set_md5_checking`): on one thread, its packing is the cheaper.
    Decoder,
}

/// The metadata blocks' headers, checked as the stream's bytes go by (RFC 9639 §8).
#[derive(Debug, Default)]
struct MetaWalk {
    /// Bytes of the stream seen.
    seen: u64,
    /// Where the next 4-byte header (the `fLaC` marker first) starts.
    next_at: u64,
    /// The header being gathered.
    header: Vec<u8>,
    marker: bool,
    blocks: usize,
    /// The last block's header was seen: the frames start at `next_at`.
    done: bool,
    error: Option<String>,
}

impl MetaWalk {
    fn feed(&mut self, bytes: &[u8]) {
        let mut i = 0usize;
        while i < bytes.len() && !self.done && self.error.is_none() {
            let at = self.seen + i as u64;
            if at < self.next_at {
                i += (self.next_at - at).min((bytes.len() - i) as u64) as usize;
                continue;
            }
            self.header.push(bytes[i]);
            i += 1;
            // An ID3v2 tag before the marker (which libFLAC and `flac -t` skip) is 10 bytes of
            // header, then its syncsafe size (and a 10-byte footer when flagged).
            let id3 = !self.marker && self.header.starts_with(b"ID3");
            if self.header.len() < if id3 { 10 } else { 4 } {
                continue;
            }
            let h = std::mem::take(&mut self.header);
            self.next_at = at + 1;
            if id3 {
                let size = h[6..10]
                    .iter()
                    .fold(0u64, |n, &b| (n << 7) | u64::from(b & 0x7f));
                self.next_at += size + if h[5] & 0x10 != 0 { 10 } else { 0 };
                continue;
            }
            if !self.marker {
                self.marker = true;
                if h != b"fLaC" {
                    self.error = Some("no fLaC marker: not a FLAC stream".into());
                }
                continue;
            }
            let (kind, last) = (h[0] & 0x7f, h[0] & 0x80 != 0);
            let length = u32::from_be_bytes([0, h[1], h[2], h[3]]);
            let n = self.blocks + 1;
            self.error = match (self.blocks, kind) {
                (0, 0) if length != 34 => Some(format!(
                    "bad metadata: STREAMINFO is {length} bytes, not 34"
                )),
                (0, 0) => None,
                (0, k) => Some(format!(
                    "bad metadata: the first block is of type {k}, not STREAMINFO"
                )),
                (_, 0) => Some(format!("bad metadata: block {n} is a second STREAMINFO")),
                (_, 127) => Some(format!(
                    "bad metadata: block {n} is of the forbidden type 127"
                )),
                _ => None,
            };
            self.next_at += u64::from(length);
            self.blocks = n;
            self.done = last;
        }
        self.seen += bytes.len() as u64;
    }

    /// What was wrong, once the whole stream has been fed.
    fn finish(&self) -> Option<String> {
        if let Some(e) = &self.error {
            return Some(e.clone());
        }
        if !self.marker || self.seen == 0 {
            return None; // nothing read: said otherwise (no STREAMINFO)
        }
        if !self.done || self.next_at > self.seen {
            return Some(format!(
                "bad metadata: block {} runs past the end of the file (to byte {}, of {})",
                self.blocks, self.next_at, self.seen
            ));
        }
        None
    }
}

/// How a frame's header disagrees with STREAMINFO, if it does.
fn frame_disagrees(h: &sys::FLAC__FrameHeader, si: &StreamInfo) -> Option<String> {
    (h.channels != si.channels
        || h.bits_per_sample != si.bits_per_sample
        || h.sample_rate != si.sample_rate)
        .then(|| {
            format!(
                "frame header disagrees with STREAMINFO: {} channel(s), {} bits, {} Hz where STREAMINFO says {}, {}, {}",
                h.channels,
                h.bits_per_sample,
                h.sample_rate,
                si.channels,
                si.bits_per_sample,
                si.sample_rate
            )
        })
}

/// [`frame_disagrees`] for a frame libFLAC hands a write callback.
///
/// # Safety
/// `frame` must be what libFLAC passed to the write callback, used only during it.
pub(crate) unsafe fn frame_header_disagrees(
    frame: *const sys::FLAC__Frame,
    si: &StreamInfo,
) -> Option<String> {
    frame_disagrees(&(*frame).header, si)
}

struct State<'a> {
    input: Input<'a>,
    meta: MetaWalk,
    io_error: Option<io::Error>,
    streaminfo: Option<StreamInfo>,
    next_frame: u64,
    decoded_frames: u64,
    damage: Vec<Damage>,
    audio_md5: AudioMd5,
}

unsafe extern "C" fn read_cb(
    _: *const sys::FLAC__StreamDecoder,
    buffer: *mut sys::FLAC__byte,
    bytes: *mut usize,
    client: *mut c_void,
) -> sys::FLAC__StreamDecoderReadStatus {
    // SAFETY: `client` is the State owned by decode() for the decoder's lifetime; libFLAC
    // gives a buffer of `*bytes` writable bytes.
    let st = &mut *(client as *mut State);
    let out = std::slice::from_raw_parts_mut(buffer, *bytes);
    let got = match &mut st.input {
        Input::Blocks { rx, current, used } => loop {
            if *used < current.len() {
                let n = out.len().min(current.len() - *used);
                out[..n].copy_from_slice(&current[*used..*used + n]);
                *used += n;
                break Ok(n);
            }
            match rx.recv() {
                Ok(Ok(block)) => {
                    *current = block;
                    *used = 0;
                }
                Ok(Err(e)) => break Err(e),
                Err(_) => break Ok(0),
            }
        },
        Input::Inline { reader, tap } => loop {
            match reader.read(out) {
                Ok(n) => {
                    tap(&out[..n]);
                    break Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => break Err(e),
            }
        },
    };
    match got {
        Ok(0) => {
            *bytes = 0;
            sys::FLAC__STREAM_DECODER_READ_STATUS_END_OF_STREAM
        }
        Ok(n) => {
            st.meta.feed(&out[..n]);
            *bytes = n;
            sys::FLAC__STREAM_DECODER_READ_STATUS_CONTINUE
        }
        Err(e) => {
            st.io_error = Some(e);
            *bytes = 0;
            sys::FLAC__STREAM_DECODER_READ_STATUS_ABORT
        }
    }
}

/// Interleaves a frame and narrows it to `width` bytes a sample (RFC 9639 §8.2's MD5 layout).
fn pack(planes: &[&[i32]], width: usize, packed: &mut Vec<u8>) {
    let channels = planes.len();
    let n = planes.first().map_or(0, |p| p.len());
    packed.resize(n * channels * width, 0);
    for (c, plane) in planes.iter().enumerate() {
        let dst = packed.chunks_exact_mut(width).skip(c).step_by(channels);
        for (d, &v) in dst.zip(plane.iter()) {
            d.copy_from_slice(&v.to_le_bytes()[..width]);
        }
    }
}

/// The channels of a decoded frame, as libFLAC hands them to a write callback.
///
/// # Safety
/// `frame` and `buffer` must be what libFLAC passed to the write callback, used only during it:
/// `buffer` holds one pointer per channel to `blocksize` samples.
pub(crate) unsafe fn frame_planes<'a>(
    frame: *const sys::FLAC__Frame,
    buffer: *const *const sys::FLAC__int32,
) -> Vec<&'a [i32]> {
    let h = &(*frame).header;
    let n = h.blocksize as usize;
    (0..h.channels as usize)
        .map(|c| std::slice::from_raw_parts(*buffer.add(c), n))
        .collect()
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
    let start = if h.number_type == sys::FLAC__FRAME_NUMBER_TYPE_SAMPLE_NUMBER {
        h.number.sample_number
    } else {
        u64::from(h.number.frame_number) * u64::from(h.blocksize)
    };
    // Once, at the first frame that disagrees (they usually all do).
    if let Some(why) = st.streaminfo.and_then(|si| frame_disagrees(h, &si)) {
        if !st.damage.iter().any(|d| d.kind == why) {
            st.damage.push(Damage {
                at: FrameIndex(start),
                kind: why,
            });
        }
    }
    let width = (h.bits_per_sample as usize).div_ceil(8);
    let planes = frame_planes(frame, buffer);
    match &mut st.audio_md5 {
        AudioMd5::Thread { tx, spare } => {
            if let Some(sender) = tx {
                let mut packed = spare.try_recv().unwrap_or_default();
                pack(&planes, width, &mut packed);
                if sender.send(packed).is_err() {
                    *tx = None;
                }
            }
        }
        AudioMd5::Decoder => {}
    }
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
    if let Some(info) = stream_info(meta) {
        st.streaminfo = Some(info);
    }
}

/// STREAMINFO from a metadata block libFLAC hands a callback, if that is what it is.
///
/// # Safety
/// `meta` must be a valid block, as libFLAC passes to a metadata callback.
pub(crate) unsafe fn stream_info(meta: *const sys::FLAC__StreamMetadata) -> Option<StreamInfo> {
    if (*meta).type_ != sys::FLAC__METADATA_TYPE_STREAMINFO {
        return None;
    }
    let si = &(*meta).data.stream_info;
    Some(StreamInfo {
        sample_rate: si.sample_rate,
        channels: si.channels,
        bits_per_sample: si.bits_per_sample,
        total_frames: si.total_samples,
        md5: si.md5sum,
    })
}

/// libFLAC's error statuses in words.
pub(crate) fn error_kind(status: sys::FLAC__StreamDecoderErrorStatus) -> String {
    match status {
        sys::FLAC__STREAM_DECODER_ERROR_STATUS_LOST_SYNC => "lost sync".into(),
        sys::FLAC__STREAM_DECODER_ERROR_STATUS_BAD_HEADER => "bad frame header".into(),
        sys::FLAC__STREAM_DECODER_ERROR_STATUS_FRAME_CRC_MISMATCH => "frame CRC mismatch".into(),
        sys::FLAC__STREAM_DECODER_ERROR_STATUS_UNPARSEABLE_STREAM => "unparseable stream".into(),
        sys::FLAC__STREAM_DECODER_ERROR_STATUS_BAD_METADATA => "bad metadata".into(),
        sys::FLAC__STREAM_DECODER_ERROR_STATUS_OUT_OF_BOUNDS => "sample out of bounds".into(),
        sys::FLAC__STREAM_DECODER_ERROR_STATUS_MISSING_FRAME => "missing frame".into(),
        other => format!("decoder error {other}"),
    }
}

unsafe extern "C" fn error_cb(
    _: *const sys::FLAC__StreamDecoder,
    status: sys::FLAC__StreamDecoderErrorStatus,
    client: *mut c_void,
) {
    // SAFETY: as in read_cb.
    let st = &mut *(client as *mut State);
    let kind = error_kind(status);
    // One entry per bad place, its first complaint: after a bad frame libFLAC also reports
    // losing sync while it hunts for the next one, a consequence, not more damage.
    if st.damage.last().is_some_and(|d| d.at.0 == st.next_frame) {
        return;
    }
    st.damage.push(Damage {
        at: FrameIndex(st.next_frame),
        kind,
    });
}

/// How a decode ended.
struct Decoded {
    /// It reached the end of the stream.
    processed: bool,
    /// libFLAC's `finish`: false when its own MD5 check (if on) failed.
    finished_clean: bool,
}

/// Runs libFLAC over `st.input` to the end of the stream.
fn decode(path: &Path, st: &mut State) -> Result<Decoded, FlacError> {
    // SAFETY: the decoder is created, used and deleted here; `st` outlives it.
    unsafe {
        let dec = sys::FLAC__stream_decoder_new();
        if dec.is_null() {
            return Err(FlacError::Alloc {
                path: path.to_path_buf(),
                what: "a decoder",
            });
        }
        let own_md5 = matches!(st.audio_md5, AudioMd5::Decoder);
        sys::FLAC__stream_decoder_set_md5_checking(dec, own_md5.into());
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
            st as *mut State as *mut c_void,
        );
        if status != sys::FLAC__STREAM_DECODER_INIT_STATUS_OK {
            sys::FLAC__stream_decoder_delete(dec);
            return Err(FlacError::NotFlac {
                path: path.to_path_buf(),
                detail: format!("decoder init status {status}"),
            });
        }
        let processed = sys::FLAC__stream_decoder_process_until_end_of_stream(dec) != 0;
        let finished_clean = sys::FLAC__stream_decoder_finish(dec) != 0;
        sys::FLAC__stream_decoder_delete(dec);
        Ok(Decoded {
            processed,
            finished_clean,
        })
    }
}

/// What the decode found; `md5_matches`: the decoded audio's MD5 equals STREAMINFO's.
fn conclude(st: State, processed: bool, md5_matches: bool) -> AudioCheck {
    let State {
        streaminfo,
        decoded_frames,
        next_frame,
        mut damage,
        meta,
        ..
    } = st;
    if let Some(why) = meta.finish() {
        // Ahead of what libFLAC made of it (often only "truncated at 0").
        damage.insert(
            0,
            Damage {
                at: FrameIndex(0),
                kind: why,
            },
        );
    }
    let md5 = match streaminfo {
        None => Md5Status::NotChecked,
        Some(si) if si.md5 == [0; 16] => Md5Status::Unset,
        // A decoder that lost frames or stopped early cannot say whether the MD5 matched.
        Some(si) if decoded_frames != si.total_frames || !damage.is_empty() || !processed => {
            Md5Status::NotChecked
        }
        Some(_) if md5_matches => Md5Status::Match,
        Some(_) => Md5Status::Mismatch,
    };
    match streaminfo {
        None if damage.is_empty() => damage.push(Damage {
            at: FrameIndex(0),
            kind: "no STREAMINFO: not a FLAC stream".into(),
        }),
        None => {}
        // Decoding stopped before the announced end. A last frame that was read whole but
        // failed its CRC explains that; otherwise the stream is cut short there (libFLAC says
        // only "lost sync" when the bytes run out mid-frame).
        Some(si)
            if next_frame < si.total_frames
                && !damage
                    .iter()
                    .any(|d| d.at.0 == next_frame && d.kind == "frame CRC mismatch") =>
        {
            damage.retain(|d| !(d.at.0 == next_frame && d.kind == "lost sync"));
            damage.push(Damage {
                at: FrameIndex(next_frame),
                kind: "truncated".into(),
            })
        }
        Some(si) if damage.is_empty() && decoded_frames != si.total_frames => damage.push(Damage {
            at: FrameIndex(decoded_frames.min(si.total_frames)),
            kind: format!(
                "{decoded_frames} frames decoded where STREAMINFO announces {}",
                si.total_frames
            ),
        }),
        Some(_) => {}
    }
    AudioCheck {
        streaminfo,
        decoded_frames,
        md5,
        damage,
    }
}

/// Decodes the FLAC stream in `reader` on this thread, every byte read shown to `tap` first; the
/// rest of the stream still goes through `tap` when decoding stops early, so digests cover the
/// whole file. `path` names the file in errors. Only failing to read is an error.
pub fn check_stream(
    path: &Path,
    reader: &mut dyn Read,
    tap: &mut dyn FnMut(&[u8]),
) -> Result<AudioCheck, FlacError> {
    let io = |source| FlacError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut st = State {
        input: Input::Inline { reader, tap },
        meta: MetaWalk::default(),
        io_error: None,
        streaminfo: None,
        next_frame: 0,
        decoded_frames: 0,
        damage: Vec::new(),
        audio_md5: AudioMd5::Decoder,
    };
    let decoded = decode(path, &mut st)?;
    if let Some(e) = st.io_error.take() {
        return Err(io(e));
    }
    if let Input::Inline { reader, tap } = &mut st.input {
        let mut rest = vec![0u8; 1 << 16];
        loop {
            match reader.read(&mut rest) {
                Ok(0) => break,
                Ok(n) => {
                    tap(&rest[..n]);
                    st.meta.feed(&rest[..n]);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io(e)),
            }
        }
    }
    Ok(conclude(st, decoded.processed, decoded.finished_clean))
}

/// Reads `path` once on three threads: SHA-256 of every byte, and a full decode with CRC and
/// MD5 checks. Only failing to open or read the file is an error; damage is in the result.
pub fn check_file(path: &Path) -> Result<FlacCheck, FlacError> {
    check_file_until(path, None)
}

/// [`check_file`], stopping within one 1 MiB block of reading once `stop` is set (an ingest
/// being interrupted): it then fails with an I/O error of kind `Interrupted`.
pub fn check_file_until(
    path: &Path,
    stop: Option<&std::sync::atomic::AtomicBool>,
) -> Result<FlacCheck, FlacError> {
    let io = |source| FlacError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = crate::archive::confined::open_regular_source(path).map_err(io)?;
    let (block_tx, block_rx) = sync_channel::<Result<Vec<u8>, io::Error>>(8);
    let (md5_tx, md5_rx) = sync_channel::<Vec<u8>>(16);
    let (spare_tx, spare_rx) = channel::<Vec<u8>>();
    std::thread::scope(|scope| {
        // Reading and hashing: the whole file, even when the decoder stops early on damage.
        let reader = scope.spawn(move || -> Result<(Sha256, u64), io::Error> {
            let mut sha = Sha256::new();
            let mut total = 0u64;
            loop {
                if stop.is_some_and(|s| s.load(std::sync::atomic::Ordering::Relaxed)) {
                    let stopped = || io::Error::new(io::ErrorKind::Interrupted, "stopped");
                    let _ = block_tx.send(Err(stopped()));
                    return Err(stopped());
                }
                let mut block = vec![0u8; 1 << 20];
                let n = match file.read(&mut block) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        let kind = e.kind();
                        let _ = block_tx.send(Err(io::Error::new(kind, e.to_string())));
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
        let mut st = State {
            input: Input::Blocks {
                rx: block_rx,
                current: Vec::new(),
                used: 0,
            },
            meta: MetaWalk::default(),
            io_error: None,
            streaminfo: None,
            next_frame: 0,
            decoded_frames: 0,
            damage: Vec::new(),
            audio_md5: AudioMd5::Thread {
                tx: Some(md5_tx),
                spare: spare_rx,
            },
        };
        let processed = decode(path, &mut st);
        // Ends the hashing thread's input and lets the reader finish without a listener.
        st.audio_md5 = AudioMd5::Decoder;
        st.input = Input::Blocks {
            rx: channel().1,
            current: Vec::new(),
            used: 0,
        };
        let (sha, bytes) = reader.join().expect("reader thread").map_err(io)?;
        let decoded = processed?;
        if let Some(e) = st.io_error.take() {
            return Err(io(e));
        }
        let audio_md5 = hasher.join().expect("MD5 thread");
        let md5_matches = st.streaminfo.is_some_and(|si| si.md5 == audio_md5);
        Ok(FlacCheck {
            path: path.to_path_buf(),
            bytes,
            sha256: sha.finalize().into(),
            audio: conclude(st, decoded.processed, md5_matches),
        })
    })
}
