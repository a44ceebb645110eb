//! Writing one preservation master through libFLAC.
//!
//! Why libflac-sys rather than flac-bound's encoder: flac-bound cannot hand libFLAC metadata
//! blocks (`FLAC__stream_encoder_set_metadata`) nor set encoder threads, so with it the Vorbis
//! comments and BWF blocks would need a second pass that rewrites the whole file, and encoding
//! would run on one thread. Both are measured in `docs/benchmarks.md`. The encoder writes
//! through our own callbacks into a `std::fs::File`, so a full disk surfaces as an `io::Error`
//! naming the file, and seeks back to fill in STREAMINFO (MD5, total samples) at the end.
//! libFLAC computes the STREAMINFO MD5 from the samples as they are handed to it, before
//! encoding: that digest is what [`super::verify`] later recomputes from the file.

use super::FlacError;
use libflac_sys as sys;
use std::ffi::{c_void, CStr, CString};
use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The shape of the stream and how to encode it.
#[derive(Debug, Clone, Copy)]
pub struct StreamSpec {
    pub channels: u32,
    pub bits_per_sample: u32,
    pub sample_rate: u32,
    /// Exactly how many frames will be written; checked at the end.
    pub total_frames: u64,
    pub compression_level: u32,
    /// Encoder threads (libFLAC 1.5); 1 encodes on the calling thread only.
    pub threads: u32,
}

/// Metadata written after STREAMINFO, in this order.
#[derive(Debug, Clone, Default)]
pub struct MasterMetadata {
    /// Vorbis comments, in the order given.
    pub comments: Vec<(String, String)>,
    /// Whole RIFF chunks (see [`super::riff`]), one `riff` APPLICATION block each.
    pub riff_chunks: Vec<std::sync::Arc<[u8]>>,
    /// Bytes of PADDING at the end of the metadata, so tags can be edited without rewriting.
    pub padding: u32,
    /// Seek points every this many seconds (0: no SEEKTABLE).
    pub seek_every_seconds: u32,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct EncodedMaster {
    pub path: PathBuf,
    pub frames: u64,
}

/// Where libFLAC's output goes; its address is handed to the C callbacks.
struct Sink {
    out: BufWriter<File>,
    error: Option<std::io::Error>,
}

unsafe extern "C" fn write_cb(
    _: *const sys::FLAC__StreamEncoder,
    buffer: *const sys::FLAC__byte,
    bytes: usize,
    _: u32,
    _: u32,
    client: *mut c_void,
) -> sys::FLAC__StreamEncoderWriteStatus {
    // SAFETY: `client` is the Box<Sink> owned by the MasterEncoder for the encoder's lifetime,
    // and libFLAC gives a buffer of `bytes` valid bytes.
    let sink = &mut *(client as *mut Sink);
    let data = std::slice::from_raw_parts(buffer, bytes);
    match sink.out.write_all(data) {
        Ok(()) => sys::FLAC__STREAM_ENCODER_WRITE_STATUS_OK,
        Err(e) => {
            sink.error.get_or_insert(e);
            sys::FLAC__STREAM_ENCODER_WRITE_STATUS_FATAL_ERROR
        }
    }
}

unsafe extern "C" fn seek_cb(
    _: *const sys::FLAC__StreamEncoder,
    offset: u64,
    client: *mut c_void,
) -> sys::FLAC__StreamEncoderSeekStatus {
    // SAFETY: as in write_cb.
    let sink = &mut *(client as *mut Sink);
    match sink.out.seek(SeekFrom::Start(offset)) {
        Ok(_) => sys::FLAC__STREAM_ENCODER_SEEK_STATUS_OK,
        Err(e) => {
            sink.error.get_or_insert(e);
            sys::FLAC__STREAM_ENCODER_SEEK_STATUS_ERROR
        }
    }
}

unsafe extern "C" fn tell_cb(
    _: *const sys::FLAC__StreamEncoder,
    offset: *mut u64,
    client: *mut c_void,
) -> sys::FLAC__StreamEncoderTellStatus {
    // SAFETY: as in write_cb; `offset` points to libFLAC's output variable.
    let sink = &mut *(client as *mut Sink);
    match sink.out.stream_position() {
        Ok(p) => {
            *offset = p;
            sys::FLAC__STREAM_ENCODER_TELL_STATUS_OK
        }
        Err(e) => {
            sink.error.get_or_insert(e);
            sys::FLAC__STREAM_ENCODER_TELL_STATUS_ERROR
        }
    }
}

/// One master being written. Call [`MasterEncoder::write`] with interleaved samples, then
/// [`MasterEncoder::finish`]; dropping it unfinished leaves an incomplete file that the
/// caller's staging area discards.
pub struct MasterEncoder {
    enc: *mut sys::FLAC__StreamEncoder,
    sink: Box<Sink>,
    blocks: Vec<*mut sys::FLAC__StreamMetadata>,
    path: PathBuf,
    spec: StreamSpec,
    written: u64,
}

// SAFETY: the encoder and its blocks are owned by this value alone and only used through
// `&mut self`; libFLAC's encoder has no thread affinity.
unsafe impl Send for MasterEncoder {}

fn encoder_state(enc: *const sys::FLAC__StreamEncoder) -> String {
    // SAFETY: enc is a live encoder; the state strings are static.
    unsafe {
        let state = sys::FLAC__stream_encoder_get_state(enc);
        let s = *sys::FLAC__StreamEncoderStateString
            .as_ptr()
            .add(state as usize);
        CStr::from_ptr(s).to_string_lossy().into_owned()
    }
}

impl MasterEncoder {
    /// Creates `path` (which must not exist) and writes the stream header and metadata.
    pub fn create(path: &Path, spec: StreamSpec, meta: &MasterMetadata) -> Result<Self, FlacError> {
        let io = |source| FlacError::Io {
            path: path.to_path_buf(),
            source,
        };
        let alloc = |what| FlacError::Alloc {
            path: path.to_path_buf(),
            what,
        };
        let file = File::options()
            .write(true)
            .read(true)
            .create_new(true)
            .open(path)
            .map_err(io)?;
        let sink = Box::new(Sink {
            out: BufWriter::with_capacity(1 << 20, file),
            error: None,
        });
        // SAFETY: plain constructor; null means out of memory.
        let enc = unsafe { sys::FLAC__stream_encoder_new() };
        if enc.is_null() {
            return Err(alloc("an encoder"));
        }
        let mut me = MasterEncoder {
            enc,
            sink,
            blocks: Vec::new(),
            path: path.to_path_buf(),
            spec,
            written: 0,
        };
        me.build_blocks(meta)?;
        // SAFETY: `enc` is a new, uninitialised encoder; the setters only store values. The
        // block pointers stay alive in `me.blocks` until Drop, after the encoder is deleted.
        unsafe {
            sys::FLAC__stream_encoder_set_channels(enc, spec.channels);
            sys::FLAC__stream_encoder_set_bits_per_sample(enc, spec.bits_per_sample);
            sys::FLAC__stream_encoder_set_sample_rate(enc, spec.sample_rate);
            sys::FLAC__stream_encoder_set_compression_level(enc, spec.compression_level);
            sys::FLAC__stream_encoder_set_total_samples_estimate(enc, spec.total_frames);
            // Over 48 kHz or 24 bits the stream cannot be Subset; libFLAC would refuse it.
            sys::FLAC__stream_encoder_set_streamable_subset(enc, 0);
            if spec.threads > 1 {
                // Not fatal: an encoder without thread support encodes on one thread.
                sys::FLAC__stream_encoder_set_num_threads(enc, spec.threads);
            }
            if !me.blocks.is_empty()
                && sys::FLAC__stream_encoder_set_metadata(
                    enc,
                    me.blocks.as_mut_ptr(),
                    me.blocks.len() as u32,
                ) == 0
            {
                return Err(alloc("the metadata block list"));
            }
            let status = sys::FLAC__stream_encoder_init_stream(
                enc,
                Some(write_cb),
                Some(seek_cb),
                Some(tell_cb),
                None,
                &mut *me.sink as *mut Sink as *mut c_void,
            );
            if status != sys::FLAC__STREAM_ENCODER_INIT_STATUS_OK {
                if let Some(e) = me.sink.error.take() {
                    return Err(io(e));
                }
                let s = *sys::FLAC__StreamEncoderInitStatusString
                    .as_ptr()
                    .add(status as usize);
                return Err(FlacError::EncoderInit {
                    path: path.to_path_buf(),
                    status: format!(
                        "{} ({})",
                        CStr::from_ptr(s).to_string_lossy(),
                        encoder_state(enc)
                    ),
                });
            }
        }
        Ok(me)
    }

    fn build_blocks(&mut self, meta: &MasterMetadata) -> Result<(), FlacError> {
        let alloc = |what| FlacError::Alloc {
            path: self.path.clone(),
            what,
        };
        // SAFETY: each object is created by libFLAC, checked for null, filled through libFLAC's
        // own setters (which copy the data), and deleted in Drop.
        unsafe {
            if meta.seek_every_seconds > 0 && self.spec.total_frames > 0 {
                let st = sys::FLAC__metadata_object_new(sys::FLAC__METADATA_TYPE_SEEKTABLE);
                if st.is_null() {
                    return Err(alloc("a SEEKTABLE"));
                }
                self.blocks.push(st);
                let every = u64::from(meta.seek_every_seconds) * u64::from(self.spec.sample_rate);
                if sys::FLAC__metadata_object_seektable_template_append_spaced_points_by_samples(
                    st,
                    every as u32,
                    self.spec.total_frames,
                ) == 0
                    || sys::FLAC__metadata_object_seektable_template_sort(st, 1) == 0
                {
                    return Err(alloc("seek points"));
                }
            }
            let vc = sys::FLAC__metadata_object_new(sys::FLAC__METADATA_TYPE_VORBIS_COMMENT);
            if vc.is_null() {
                return Err(alloc("a VORBIS_COMMENT"));
            }
            self.blocks.push(vc);
            for (k, v) in &meta.comments {
                let (Ok(k), Ok(v)) = (CString::new(k.as_str()), CString::new(v.as_str())) else {
                    return Err(FlacError::EncoderInit {
                        path: self.path.clone(),
                        status: format!("Vorbis comment {k:?} holds a NUL character"),
                    });
                };
                let mut entry = std::mem::zeroed::<sys::FLAC__StreamMetadata_VorbisComment_Entry>();
                if sys::FLAC__metadata_object_vorbiscomment_entry_from_name_value_pair(
                    &mut entry,
                    k.as_ptr(),
                    v.as_ptr(),
                ) == 0
                    || sys::FLAC__metadata_object_vorbiscomment_append_comment(vc, entry, 0) == 0
                {
                    return Err(alloc("a Vorbis comment"));
                }
            }
            for chunk in &meta.riff_chunks {
                // The block's 24-bit length holds the 4-byte application id too.
                if chunk.len() as u64 + 4 > super::riff::MAX_METADATA_BLOCK {
                    return Err(FlacError::BlockTooLarge {
                        path: self.path.clone(),
                        what: format!(
                            "RIFF chunk {:?}",
                            String::from_utf8_lossy(chunk.get(..4).unwrap_or_default())
                        ),
                        bytes: chunk.len() as u64 + 4,
                    });
                }
                let app = sys::FLAC__metadata_object_new(sys::FLAC__METADATA_TYPE_APPLICATION);
                if app.is_null() {
                    return Err(alloc("an APPLICATION block"));
                }
                self.blocks.push(app);
                (*app).data.application.id = *b"riff";
                // copy = true: libFLAC copies the bytes (only reading them), so the shared chunk
                // is not copied a second time here.
                if sys::FLAC__metadata_object_application_set_data(
                    app,
                    chunk.as_ptr() as *mut u8,
                    chunk.len() as u32,
                    1,
                ) == 0
                {
                    return Err(alloc("APPLICATION data"));
                }
            }
            if meta.padding > 0 {
                let pad = sys::FLAC__metadata_object_new(sys::FLAC__METADATA_TYPE_PADDING);
                if pad.is_null() {
                    return Err(alloc("a PADDING block"));
                }
                (*pad).length = meta.padding;
                self.blocks.push(pad);
            }
        }
        Ok(())
    }

    /// Encodes interleaved, right-justified samples (a whole number of frames).
    pub fn write(&mut self, interleaved: &[i32]) -> Result<(), FlacError> {
        let channels = self.spec.channels as usize;
        debug_assert_eq!(interleaved.len() % channels, 0);
        let frames = interleaved.len() / channels;
        if frames == 0 {
            return Ok(());
        }
        // SAFETY: the encoder is initialised; the buffer holds `frames * channels` samples.
        let ok = unsafe {
            sys::FLAC__stream_encoder_process_interleaved(
                self.enc,
                interleaved.as_ptr(),
                frames as u32,
            )
        };
        if ok == 0 {
            return Err(self.failure());
        }
        self.written += frames as u64;
        Ok(())
    }

    fn failure(&mut self) -> FlacError {
        if let Some(source) = self.sink.error.take() {
            return FlacError::Io {
                path: self.path.clone(),
                source,
            };
        }
        FlacError::Encode {
            path: self.path.clone(),
            frame: self.written,
            state: encoder_state(self.enc),
        }
    }

    /// Flushes the last frames, fills in STREAMINFO, and makes the file durable (fsync).
    pub fn finish(mut self) -> Result<EncodedMaster, FlacError> {
        if self.written != self.spec.total_frames {
            return Err(FlacError::FrameCount {
                path: self.path.clone(),
                expected: self.spec.total_frames,
                written: self.written,
            });
        }
        // SAFETY: the encoder is initialised; finish flushes through our callbacks.
        let ok = unsafe { sys::FLAC__stream_encoder_finish(self.enc) };
        if ok == 0 {
            return Err(self.failure());
        }
        let io = |source| FlacError::Io {
            path: self.path.clone(),
            source,
        };
        self.sink.out.flush().map_err(io)?;
        self.sink.out.get_ref().sync_all().map_err(io)?;
        Ok(EncodedMaster {
            path: self.path.clone(),
            frames: self.written,
        })
    }
}

impl Drop for MasterEncoder {
    fn drop(&mut self) {
        // SAFETY: deleting the encoder (which finishes it if needed, through callbacks whose sink
        // is still alive) before the blocks it points to.
        unsafe {
            sys::FLAC__stream_encoder_delete(self.enc);
            for &b in &self.blocks {
                sys::FLAC__metadata_object_delete(b);
            }
        }
    }
}

/// The STREAMINFO MD5 of the FLAC file at `path` (its first metadata block, as libFLAC wrote
/// it when the encoder finished).
pub fn streaminfo_md5(path: &Path) -> Result<[u8; 16], FlacError> {
    let mut head = [0u8; 42];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .map_err(|source| FlacError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    if &head[0..4] != b"fLaC" || head[4] & 0x7f != 0 || head[5..8] != [0, 0, 34] {
        return Err(FlacError::NotFlac {
            path: path.to_path_buf(),
            detail: "no STREAMINFO first".into(),
        });
    }
    let mut md5 = [0u8; 16];
    md5.copy_from_slice(&head[26..42]);
    Ok(md5)
}

/// Overwrites, in place, the payload bytes at `offset_in_chunk` of the first `riff` APPLICATION
/// block whose chunk id is `chunk_id`; the block keeps its size, so nothing else moves. Used to
/// put the loudness measured during encoding into the `bext` written before it. Syncs the file.
pub fn patch_riff_chunk(
    path: &Path,
    chunk_id: &[u8; 4],
    offset_in_chunk: usize,
    bytes: &[u8],
) -> Result<(), FlacError> {
    let io = |source| FlacError::Io {
        path: path.to_path_buf(),
        source,
    };
    let not_flac = |detail: String| FlacError::NotFlac {
        path: path.to_path_buf(),
        detail,
    };
    let mut f = File::options()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io)?;
    let mut magic = [0u8; 4];
    f.read_exact(&mut magic).map_err(io)?;
    if &magic != b"fLaC" {
        return Err(not_flac("no fLaC marker".into()));
    }
    let mut pos = 4u64;
    loop {
        let mut head = [0u8; 4];
        f.read_exact(&mut head).map_err(io)?;
        let last = head[0] & 0x80 != 0;
        let kind = head[0] & 0x7f;
        let len = u64::from(u32::from_be_bytes([0, head[1], head[2], head[3]]));
        if kind == 2 && len >= 12 {
            let mut app = [0u8; 12];
            f.read_exact(&mut app).map_err(io)?;
            if &app[0..4] == b"riff" && &app[4..8] == chunk_id {
                let chunk_len = u32::from_le_bytes([app[8], app[9], app[10], app[11]]) as usize;
                if offset_in_chunk + bytes.len() > chunk_len {
                    return Err(not_flac(format!(
                        "{} chunk is {chunk_len} bytes, too short to patch",
                        String::from_utf8_lossy(chunk_id)
                    )));
                }
                f.seek(SeekFrom::Start(pos + 4 + 12 + offset_in_chunk as u64))
                    .map_err(io)?;
                f.write_all(bytes).map_err(io)?;
                return f.sync_all().map_err(io);
            }
        }
        pos += 4 + len;
        if last {
            return Err(not_flac(format!(
                "no riff {} block",
                String::from_utf8_lossy(chunk_id)
            )));
        }
        f.seek(SeekFrom::Start(pos)).map_err(io)?;
    }
}
