//! Reading a FLAC file's samples, for work that derives something from it (an access copy, a
//! standalone declick): interleaved right-justified `i32` frames, pulled a block at a time.
//!
//! Promises: the samples are exactly libFLAC's decode; any damage (a bad frame CRC, lost sync,
//! a stream that ends before STREAMINFO's total) is an error naming the file and the frame
//! where it was found, never a silently shortened or patched stream — a derivative is only made
//! from an intact source. (To *verify* a file, with every damaged place listed, see
//! [`super::verify`].)

use super::verify::StreamInfo;
use super::FlacError;
use crate::units::FrameIndex;
use libflac_sys as sys;
use std::ffi::{c_void, CString};
use std::path::{Path, PathBuf};

/// What the callbacks fill in.
struct State {
    info: Option<StreamInfo>,
    /// Decoded interleaved samples; those before `taken` are handed out already.
    pending: Vec<i32>,
    taken: usize,
    /// Frames decoded so far (the next frame's position).
    decoded: u64,
    damage: Option<(u64, String)>,
}

/// An open FLAC file being read.
pub struct FlacReader {
    dec: *mut sys::FLAC__StreamDecoder,
    state: Box<State>,
    path: PathBuf,
    info: StreamInfo,
    ended: bool,
}

// SAFETY: the decoder is owned by this value alone and only used through `&mut self`; libFLAC's
// decoder has no thread affinity.
unsafe impl Send for FlacReader {}

unsafe extern "C" fn write_cb(
    _: *const sys::FLAC__StreamDecoder,
    frame: *const sys::FLAC__Frame,
    buffer: *const *const sys::FLAC__int32,
    client: *mut c_void,
) -> sys::FLAC__StreamDecoderWriteStatus {
    // SAFETY: `client` is the boxed State owned by the FlacReader for the decoder's lifetime;
    // `frame` is valid for the call and `buffer` holds one pointer per channel to `blocksize`
    // samples.
    let st = &mut *(client as *mut State);
    // A frame that disagrees with STREAMINFO (channels, bits, rate) is damage, as `flac -t`
    // says: its samples would be read as something they are not.
    if let Some(why) = st
        .info
        .and_then(|si| super::verify::frame_header_disagrees(frame, &si))
    {
        st.damage.get_or_insert((st.decoded, why));
        return sys::FLAC__STREAM_DECODER_WRITE_STATUS_ABORT;
    }
    let n = (*frame).header.blocksize as usize;
    let planes = super::verify::frame_planes(frame, buffer);
    // Interleaved onto the end of what is pending (what was handed out is dropped first).
    if st.taken > 0 {
        st.pending.drain(..st.taken);
        st.taken = 0;
    }
    let at = st.pending.len();
    st.pending.resize(at + n * planes.len(), 0);
    let out = &mut st.pending[at..];
    match planes.as_slice() {
        [l, r] => {
            for ((o, &a), &b) in out.chunks_exact_mut(2).zip(&l[..n]).zip(&r[..n]) {
                o[0] = a;
                o[1] = b;
            }
        }
        _ => {
            for (c, p) in planes.iter().enumerate() {
                for (o, &v) in out.iter_mut().skip(c).step_by(planes.len()).zip(&p[..n]) {
                    *o = v;
                }
            }
        }
    }
    st.decoded += n as u64;
    sys::FLAC__STREAM_DECODER_WRITE_STATUS_CONTINUE
}

unsafe extern "C" fn metadata_cb(
    _: *const sys::FLAC__StreamDecoder,
    meta: *const sys::FLAC__StreamMetadata,
    client: *mut c_void,
) {
    // SAFETY: as in write_cb; only STREAMINFO is passed (the default filter).
    let st = &mut *(client as *mut State);
    if let Some(info) = super::verify::stream_info(meta) {
        st.info = Some(info);
    }
}

unsafe extern "C" fn error_cb(
    _: *const sys::FLAC__StreamDecoder,
    status: sys::FLAC__StreamDecoderErrorStatus,
    client: *mut c_void,
) {
    // SAFETY: as in write_cb.
    let st = &mut *(client as *mut State);
    if st.damage.is_none() {
        st.damage = Some((st.decoded, super::verify::error_kind(status)));
    }
}

impl FlacReader {
    /// Opens `path` and reads its metadata.
    pub fn open(path: &Path) -> Result<FlacReader, FlacError> {
        let not_flac = |detail: String| FlacError::NotFlac {
            path: path.to_path_buf(),
            detail,
        };
        // libFLAC opens the path itself; a FIFO or a device is refused first, without
        // blocking, so libFLAC never opens it for reading.
        crate::archive::confined::open_regular_source(path).map_err(|source| FlacError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let c_path = CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| not_flac("the path holds a NUL byte".into()))?;
        let mut state = Box::new(State {
            info: None,
            pending: Vec::new(),
            taken: 0,
            decoded: 0,
            damage: None,
        });
        // SAFETY: the decoder is created here and owned by the returned reader (deleted in
        // Drop); the State it points to is boxed, so it stays put as long as the reader lives.
        unsafe {
            let dec = sys::FLAC__stream_decoder_new();
            if dec.is_null() {
                return Err(FlacError::Alloc {
                    path: path.to_path_buf(),
                    what: "a decoder",
                });
            }
            let status = sys::FLAC__stream_decoder_init_file(
                dec,
                c_path.as_ptr(),
                Some(write_cb),
                Some(metadata_cb),
                Some(error_cb),
                &mut *state as *mut State as *mut c_void,
            );
            let mut reader = FlacReader {
                dec,
                state,
                path: path.to_path_buf(),
                info: StreamInfo {
                    sample_rate: 0,
                    channels: 0,
                    bits_per_sample: 0,
                    total_frames: 0,
                    md5: [0; 16],
                },
                ended: false,
            };
            if status != sys::FLAC__STREAM_DECODER_INIT_STATUS_OK {
                if status == sys::FLAC__STREAM_DECODER_INIT_STATUS_ERROR_OPENING_FILE {
                    let e = std::fs::File::open(path)
                        .err()
                        .unwrap_or_else(|| std::io::Error::other("cannot open"));
                    return Err(FlacError::Io {
                        path: path.to_path_buf(),
                        source: e,
                    });
                }
                return Err(not_flac(format!("decoder init status {status}")));
            }
            if sys::FLAC__stream_decoder_process_until_end_of_metadata(dec) == 0 {
                return Err(not_flac("unreadable metadata".into()));
            }
            match reader.state.info {
                Some(info) => reader.info = info,
                None => return Err(not_flac("no STREAMINFO".into())),
            }
            if let Some((_, kind)) = reader.state.damage.take() {
                return Err(not_flac(kind));
            }
            Ok(reader)
        }
    }

    /// Moves to frame `frame`: the next [`FlacReader::read`] starts there (libFLAC's seek,
    /// through the seek table where there is one, then by bisection).
    pub fn seek(&mut self, frame: u64) -> Result<(), FlacError> {
        self.state.pending.clear();
        self.state.taken = 0;
        self.state.decoded = frame;
        self.ended = false;
        // SAFETY: a live decoder, initialised in open().
        let ok = unsafe { sys::FLAC__stream_decoder_seek_absolute(self.dec, frame) } != 0;
        if let Some((at, kind)) = self.state.damage.take() {
            return Err(self.damaged(at, kind));
        }
        if !ok {
            return Err(self.damaged(frame, format!("cannot seek to frame {frame}")));
        }
        Ok(())
    }

    pub fn info(&self) -> &StreamInfo {
        &self.info
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Fills `out` with whole interleaved frames; returns how many samples were written, 0 at
    /// the end of the stream. Damage, or a stream shorter than STREAMINFO says, is an error.
    pub fn read(&mut self, out: &mut [i32]) -> Result<usize, FlacError> {
        let channels = self.info.channels as usize;
        let want = out.len() / channels * channels;
        while self.state.pending.len() - self.state.taken < want && !self.ended {
            // SAFETY: a live decoder, initialised in open().
            let ok = unsafe { sys::FLAC__stream_decoder_process_single(self.dec) } != 0;
            // SAFETY: as above.
            let at_end = unsafe { sys::FLAC__stream_decoder_get_state(self.dec) }
                == sys::FLAC__STREAM_DECODER_END_OF_STREAM;
            if let Some((at, kind)) = self.state.damage.take() {
                return Err(self.damaged(at, kind));
            }
            if !ok {
                return Err(self.damaged(self.state.decoded, "decoding stopped".into()));
            }
            if at_end {
                self.ended = true;
                let total = self.info.total_frames;
                if total != 0 && self.state.decoded != total {
                    return Err(self.damaged(
                        self.state.decoded,
                        format!("truncated: {} of {total} frames", self.state.decoded),
                    ));
                }
            }
        }
        let st = &mut self.state;
        let n = want.min(st.pending.len() - st.taken);
        out[..n].copy_from_slice(&st.pending[st.taken..st.taken + n]);
        st.taken += n;
        Ok(n)
    }

    fn damaged(&self, at: u64, kind: String) -> FlacError {
        FlacError::Damaged {
            path: self.path.clone(),
            at: FrameIndex(at),
            time: FrameIndex(at).timecode(self.info.sample_rate.max(1)),
            kind,
        }
    }
}

impl Drop for FlacReader {
    fn drop(&mut self) {
        // SAFETY: the decoder is live and owned here; finish then delete releases it (and
        // closes the file libFLAC opened).
        unsafe {
            sys::FLAC__stream_decoder_finish(self.dec);
            sys::FLAC__stream_decoder_delete(self.dec);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flac::encode::{MasterEncoder, MasterMetadata, StreamSpec};

    fn write_flac(path: &Path, channels: u32, bits: u32, samples: &[i32]) {
        let spec = StreamSpec {
            channels,
            bits_per_sample: bits,
            sample_rate: 48_000,
            total_frames: (samples.len() / channels as usize) as u64,
            compression_level: 5,
            threads: 1,
        };
        let mut enc = MasterEncoder::create(path, spec, &MasterMetadata::default()).unwrap();
        enc.write(samples).unwrap();
        enc.finish().unwrap();
    }

    fn read_all(path: &Path, block: usize) -> Vec<i32> {
        let mut r = FlacReader::open(path).unwrap();
        let mut out = Vec::new();
        let mut buf = vec![0; block];
        loop {
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                return out;
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    #[test]
    fn reads_back_what_was_encoded_whatever_the_block() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.flac");
        let samples: Vec<i32> = (0..3 * 10_007)
            .map(|i| ((i * 7919) % 16_777_216) - 8_388_608)
            .collect();
        write_flac(&path, 3, 24, &samples);
        for block in [3, 999, 4096 * 3, 100_000] {
            assert_eq!(read_all(&path, block), samples, "block {block}");
        }
        let r = FlacReader::open(&path).unwrap();
        assert_eq!(
            (
                r.info().channels,
                r.info().bits_per_sample,
                r.info().total_frames
            ),
            (3, 24, 10_007)
        );
    }

    #[test]
    fn damage_is_an_error_at_its_place_never_a_short_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.flac");
        let samples: Vec<i32> = (0..2 * 200_000)
            .map(|i| ((i * 31) % 60_000) - 30_000)
            .collect();
        write_flac(&path, 2, 16, &samples);
        let mut bytes = std::fs::read(&path).unwrap();
        let len = bytes.len();
        bytes[len * 3 / 4] ^= 0x55; // a flipped byte three quarters in
        std::fs::write(&path, &bytes).unwrap();
        let mut r = FlacReader::open(&path).unwrap();
        let mut buf = vec![0; 8192];
        let err = loop {
            match r.read(&mut buf) {
                Ok(0) => panic!("damage went unnoticed"),
                Ok(_) => {}
                Err(e) => break e.to_string(),
            }
        };
        assert!(err.contains("a.flac"), "{err}");
        assert!(err.contains("frame"), "{err}");

        std::fs::write(&path, &bytes[..len / 2]).unwrap();
        let mut r = FlacReader::open(&path).unwrap();
        let err = loop {
            match r.read(&mut buf) {
                Ok(0) => panic!("a cut file read as whole"),
                Ok(_) => {}
                Err(e) => break e.to_string(),
            }
        };
        assert!(err.contains("a.flac"), "{err}");
    }

    #[test]
    fn a_file_that_is_not_flac_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.flac");
        std::fs::write(&path, b"RIFF....WAVEfmt ").unwrap();
        let err = FlacReader::open(&path).err().unwrap().to_string();
        assert!(err.contains("x.flac"), "{err}");
        let err = FlacReader::open(&dir.path().join("missing.flac"))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("missing.flac"), "{err}");
    }
}
