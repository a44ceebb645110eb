//! A strict, streaming reader for WAV, BWF, WAVE_FORMAT_EXTENSIBLE and RF64/BW64 files holding
//! 16-, 24- or 32-bit integer PCM.
//!
//! Promises:
//! - The file is read forward only, once. With a tap ([`WavReader::open_with_tap`]), every byte
//!   of the file passes through the tap exactly once, in order, by the time
//!   [`WavReader::finish`] returns Ok, so the caller can hash the source in the same read.
//! - Samples come out right-justified and sign-extended in `i32`, whatever the container
//!   (24-bit valid bits in a 32-bit container are shifted down).
//! - Anything that is not integer PCM (float, compressed, 8-bit), a header that does not fit
//!   the file (sizes that lie, truncation, a partial last frame) is refused with an error that
//!   names the file and says what is wrong; a damaged file is never read as if it were whole.
//! - RIFF rules: a chunk of odd size is followed by a pad byte; a missing final pad byte at the
//!   very end of the file is tolerated, as many writers omit it.

use crate::units::{FrameCount, Timecode};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Largest non-audio chunk loaded into memory (bext, iXML, LIST...).
const MAX_CHUNK: u64 = 16 << 20;
/// Bytes read from the file at a time.
const READ_BLOCK: usize = 1 << 20;

/// Why a WAV file was refused.
#[derive(Debug, thiserror::Error)]
pub enum WavError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: not a WAV file: {detail}")]
    NotWav { path: PathBuf, detail: String },
    #[error("{path}: float PCM is not accepted (archive masters are integer PCM; convert the file to 16-, 24- or 32-bit integer PCM first)")]
    Float { path: PathBuf },
    #[error("{path}: audio format tag 0x{tag:04X} is compressed or unknown; only integer PCM (0x0001) is accepted")]
    Compressed { path: PathBuf, tag: u16 },
    #[error("{path}: {bits}-bit samples are not accepted; 16, 24 or 32 bits are")]
    BitDepth { path: PathBuf, bits: u16 },
    #[error("{path}: chunk '{id}' at byte {offset}: {detail}")]
    BadChunk {
        path: PathBuf,
        id: String,
        offset: u64,
        detail: String,
    },
    #[error("{path}: truncated: the header promises {expected} frames but the file ends after {got} (at {at})")]
    Truncated {
        path: PathBuf,
        expected: u64,
        got: u64,
        at: Timecode,
    },
    #[error("{path}: the data chunk holds {bytes} bytes, not a whole number of {block_align}-byte frames")]
    PartialFrame {
        path: PathBuf,
        bytes: u64,
        block_align: u16,
    },
    #[error("{path}: the RIFF header says the file is {declared} bytes but it is {actual}")]
    RiffSizeMismatch {
        path: PathBuf,
        declared: u64,
        actual: u64,
    },
}

/// RIFF (up to 4 GiB) or RF64/BW64 (sizes in `ds64`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    Riff,
    Rf64,
}

/// A chunk Capstan keeps as it was (bext, iXML, LIST, axml, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignChunk {
    pub id: [u8; 4],
    pub data: Vec<u8>,
    pub after_data: bool,
}

/// What the header says.
#[derive(Debug, Clone)]
pub struct WavInfo {
    pub container: Container,
    pub sample_rate: u32,
    pub channels: u16,
    /// Bits per sample in the file (16, 24 or 32).
    pub bits_per_sample: u16,
    /// Meaningful bits (from WAVE_FORMAT_EXTENSIBLE), else `bits_per_sample`.
    pub valid_bits: u16,
    pub channel_mask: Option<u32>,
    pub frames: FrameCount,
    pub data_offset: u64,
    pub data_len: u64,
    /// Chunks before `data` other than fmt, ds64, JUNK, fact and padding.
    pub chunks: Vec<ForeignChunk>,
}

/// Chunks that say nothing about the recording and are not carried.
fn is_skipped(id: &[u8; 4]) -> bool {
    matches!(
        id,
        b"fmt "
            | b"data"
            | b"ds64"
            | b"JUNK"
            | b"junk"
            | b"fact"
            | b"PAD "
            | b"pad "
            | b"FLLR"
            | b"filr"
    )
}

type Tap = Box<dyn FnMut(&[u8]) + Send>;

/// Reads exactly, feeding the tap, counting the position.
struct Tapped<R> {
    inner: R,
    tap: Option<Tap>,
    pos: u64,
}

impl<R: Read> Tapped<R> {
    fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.inner.read(buf) {
                Ok(n) => {
                    if let Some(t) = self.tap.as_mut() {
                        t(&buf[..n]);
                    }
                    self.pos += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Fills `buf` completely, or returns how much it got before the end of the file.
    fn fill(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut got = 0;
        while got < buf.len() {
            let n = self.read_some(&mut buf[got..])?;
            if n == 0 {
                break;
            }
            got += n;
        }
        Ok(got)
    }

    /// Reads and discards `n` bytes (through the tap); returns how many there were.
    fn skip(&mut self, mut n: u64) -> io::Result<u64> {
        let mut buf = vec![0u8; (n.min(READ_BLOCK as u64)) as usize];
        let start = n;
        while n > 0 {
            let want = n.min(buf.len() as u64) as usize;
            let got = self.read_some(&mut buf[..want])?;
            if got == 0 {
                break;
            }
            n -= got as u64;
        }
        Ok(start - n)
    }
}

/// A WAV file being read.
pub struct WavReader<R> {
    src: Tapped<R>,
    path: PathBuf,
    info: WavInfo,
    /// The size the RIFF header declares for the whole file, if it can tell.
    declared_file_len: Option<u64>,
    frames_read: u64,
    raw: Vec<u8>,
}

fn read_u16(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn read_u32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}
fn read_u64(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"))
}

impl WavReader<File> {
    /// Opens and parses the header of `path`.
    pub fn open(path: &Path) -> Result<Self, WavError> {
        Self::open_inner(path, None)
    }

    /// As [`WavReader::open`], passing every byte read to `tap`.
    pub fn open_with_tap(path: &Path, tap: Tap) -> Result<Self, WavError> {
        Self::open_inner(path, Some(tap))
    }

    fn open_inner(path: &Path, tap: Option<Tap>) -> Result<Self, WavError> {
        let io = |source| WavError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let file_len = file.metadata().map_err(io)?.len();
        let reader = WavReader::new(file, path.to_path_buf(), tap)?;
        // Check sizes against the real file now, before any work is done.
        let data_end = reader.info.data_offset + reader.info.data_len;
        if data_end > file_len {
            let bytes = file_len.saturating_sub(reader.info.data_offset);
            let block =
                u64::from(reader.info.channels) * u64::from(reader.info.bits_per_sample / 8);
            let got = bytes / block;
            return Err(WavError::Truncated {
                path: path.to_path_buf(),
                expected: reader.info.frames.0,
                got,
                at: Timecode::from_frames(got, reader.info.sample_rate),
            });
        }
        if let Some(declared) = reader.declared_file_len {
            if declared != file_len && declared + 1 != file_len {
                return Err(WavError::RiffSizeMismatch {
                    path: path.to_path_buf(),
                    declared,
                    actual: file_len,
                });
            }
        }
        Ok(reader)
    }
}

impl<R: Read> WavReader<R> {
    /// Parses the header from `reader` (positioned at the start of the file). `path` names the
    /// file in errors.
    pub fn new(reader: R, path: PathBuf, tap: Option<Tap>) -> Result<Self, WavError> {
        let mut src = Tapped {
            inner: reader,
            tap,
            pos: 0,
        };
        let io = |source| WavError::Io {
            path: path.clone(),
            source,
        };
        let not_wav = |detail: &str| WavError::NotWav {
            path: path.clone(),
            detail: detail.to_string(),
        };
        let mut head = [0u8; 12];
        if src.fill(&mut head).map_err(io)? < 12 {
            return Err(not_wav("shorter than a RIFF header"));
        }
        let container = match &head[0..4] {
            b"RIFF" => Container::Riff,
            b"RF64" | b"BW64" => Container::Rf64,
            _ => return Err(not_wav("no RIFF, RF64 or BW64 marker")),
        };
        if &head[8..12] != b"WAVE" {
            return Err(not_wav("RIFF form is not WAVE"));
        }
        let riff_size32 = read_u32(&head, 4);
        let mut declared_file_len = match container {
            Container::Riff => Some(u64::from(riff_size32) + 8),
            Container::Rf64 => None,
        };
        let mut ds64_data: Option<u64> = None;
        let mut fmt: Option<Vec<u8>> = None;
        let mut chunks = Vec::new();
        loop {
            let offset = src.pos;
            let mut ch = [0u8; 8];
            let got = src.fill(&mut ch).map_err(io)?;
            if got == 0 {
                return Err(not_wav("no data chunk"));
            }
            if got < 8 {
                return Err(WavError::BadChunk {
                    path: path.clone(),
                    id: String::from_utf8_lossy(&ch[..got.min(4)]).into_owned(),
                    offset,
                    detail: "chunk header cut off by the end of the file".into(),
                });
            }
            let id = [ch[0], ch[1], ch[2], ch[3]];
            let size32 = read_u32(&ch, 4);
            let bad = |detail: String| WavError::BadChunk {
                path: path.clone(),
                id: String::from_utf8_lossy(&id).into_owned(),
                offset,
                detail,
            };
            if &id == b"data" {
                let Some(fmt) = fmt else {
                    return Err(not_wav("data chunk before fmt chunk"));
                };
                let data_len = match (container, size32) {
                    (Container::Rf64, 0xFFFF_FFFF) => {
                        ds64_data.ok_or_else(|| bad("RF64 data size needs a ds64 chunk".into()))?
                    }
                    _ => u64::from(size32),
                };
                let mut info = parse_fmt(&fmt, &path, offset)?;
                info.container = container;
                info.data_offset = src.pos;
                info.data_len = data_len;
                info.chunks = chunks;
                let block = u64::from(info.channels) * u64::from(info.bits_per_sample / 8);
                if data_len % block != 0 {
                    return Err(WavError::PartialFrame {
                        path: path.clone(),
                        bytes: data_len,
                        block_align: block as u16,
                    });
                }
                info.frames = FrameCount(data_len / block);
                if container == Container::Rf64 && declared_file_len.is_none() {
                    declared_file_len = None;
                }
                return Ok(WavReader {
                    src,
                    path,
                    info,
                    declared_file_len,
                    frames_read: 0,
                    raw: Vec::new(),
                });
            }
            let size = u64::from(size32);
            if &id == b"ds64" {
                if container != Container::Rf64 {
                    return Err(bad("ds64 in a plain RIFF file".into()));
                }
                if size < 24 {
                    return Err(bad(format!("{size} bytes; ds64 needs at least 24")));
                }
            }
            let keep = &id == b"fmt " || &id == b"ds64" || !is_skipped(&id);
            if keep && size > MAX_CHUNK {
                return Err(bad(format!("{size} bytes; at most {MAX_CHUNK} are read")));
            }
            let padded = size + (size % 2);
            if keep {
                let mut body = vec![0u8; size as usize];
                if src.fill(&mut body).map_err(io)? < body.len() {
                    return Err(bad(format!(
                        "declares {size} bytes but the file ends first"
                    )));
                }
                if size % 2 == 1 {
                    let mut pad = [0u8; 1];
                    src.fill(&mut pad).map_err(io)?;
                }
                match &id {
                    b"fmt " => fmt = Some(body),
                    b"ds64" => {
                        declared_file_len = Some(read_u64(&body, 0) + 8);
                        ds64_data = Some(read_u64(&body, 8));
                    }
                    _ => chunks.push(ForeignChunk {
                        id,
                        data: body,
                        after_data: false,
                    }),
                }
            } else if src.skip(padded).map_err(io)? < size {
                return Err(bad(format!(
                    "declares {size} bytes but the file ends first"
                )));
            }
        }
    }

    pub fn info(&self) -> &WavInfo {
        &self.info
    }

    /// Fills `out` (interleaved; its length a multiple of the channel count) with samples,
    /// right-justified. Returns the frames read; 0 once the data chunk is consumed.
    pub fn read_frames(&mut self, out: &mut [i32]) -> Result<usize, WavError> {
        let channels = usize::from(self.info.channels);
        let bytes = usize::from(self.info.bits_per_sample / 8);
        let block = channels * bytes;
        let left = self.info.frames.0 - self.frames_read;
        let frames = (out.len() / channels).min(left.min(usize::MAX as u64) as usize);
        if frames == 0 {
            return Ok(0);
        }
        self.raw.resize(frames * block, 0);
        let got = self
            .src
            .fill(&mut self.raw)
            .map_err(|source| WavError::Io {
                path: self.path.clone(),
                source,
            })?;
        if got < self.raw.len() {
            let got_frames = self.frames_read + (got / block) as u64;
            return Err(WavError::Truncated {
                path: self.path.clone(),
                expected: self.info.frames.0,
                got: got_frames,
                at: Timecode::from_frames(got_frames, self.info.sample_rate),
            });
        }
        let out = &mut out[..frames * channels];
        match (self.info.bits_per_sample, self.info.valid_bits) {
            (16, _) => {
                for (o, b) in out.iter_mut().zip(self.raw.chunks_exact(2)) {
                    *o = i32::from(i16::from_le_bytes([b[0], b[1]]));
                }
            }
            (24, _) => {
                for (o, b) in out.iter_mut().zip(self.raw.chunks_exact(3)) {
                    *o = i32::from_le_bytes([0, b[0], b[1], b[2]]) >> 8;
                }
            }
            (_, valid) => {
                let shift = 32 - u32::from(valid);
                for (o, b) in out.iter_mut().zip(self.raw.chunks_exact(4)) {
                    *o = i32::from_le_bytes([b[0], b[1], b[2], b[3]]) >> shift;
                }
            }
        }
        self.frames_read += frames as u64;
        Ok(frames)
    }

    /// Reads the rest of the file after the audio (through the tap) and returns the chunks
    /// found there. Fails if the audio was not all read or the file's length disagrees with
    /// its header.
    pub fn finish(mut self) -> Result<Vec<ForeignChunk>, WavError> {
        let io = |source| WavError::Io {
            path: self.path.clone(),
            source,
        };
        let remaining = self.info.frames.0 - self.frames_read;
        let block = u64::from(self.info.channels) * u64::from(self.info.bits_per_sample / 8);
        if remaining > 0 {
            self.src.skip(remaining * block).map_err(io)?;
        }
        if self.info.data_len % 2 == 1 {
            self.src.skip(1).map_err(io)?;
        }
        let mut rest = Vec::new();
        self.src.inner.read_to_end(&mut rest).map_err(io)?;
        if let Some(t) = self.src.tap.as_mut() {
            t(&rest);
        }
        self.src.pos += rest.len() as u64;
        let actual = self.src.pos;
        if let Some(declared) = self.declared_file_len {
            if declared != actual && declared + 1 != actual {
                return Err(WavError::RiffSizeMismatch {
                    path: self.path.clone(),
                    declared,
                    actual,
                });
            }
        }
        parse_trailing(
            &rest,
            &self.path,
            self.info.data_offset + self.info.data_len,
        )
    }
}

/// The chunks after `data` of an already-parsed file, read ahead with a seek, so that they can
/// be written into a master's header before its audio.
pub fn read_trailing_chunks(path: &Path, info: &WavInfo) -> Result<Vec<ForeignChunk>, WavError> {
    let io = |source| WavError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut f = File::open(path).map_err(io)?;
    let start = info.data_offset + info.data_len + (info.data_len % 2);
    f.seek(SeekFrom::Start(start)).map_err(io)?;
    let mut rest = Vec::new();
    f.take(MAX_CHUNK * 4).read_to_end(&mut rest).map_err(io)?;
    parse_trailing(&rest, path, start)
}

fn parse_trailing(
    mut b: &[u8],
    path: &Path,
    mut offset: u64,
) -> Result<Vec<ForeignChunk>, WavError> {
    let mut out = Vec::new();
    while b.len() >= 8 {
        let id = [b[0], b[1], b[2], b[3]];
        let size = read_u32(b, 4) as usize;
        if b.len() < 8 + size {
            return Err(WavError::BadChunk {
                path: path.to_path_buf(),
                id: String::from_utf8_lossy(&id).into_owned(),
                offset,
                detail: format!("declares {size} bytes but the file ends first"),
            });
        }
        if !is_skipped(&id) {
            out.push(ForeignChunk {
                id,
                data: b[8..8 + size].to_vec(),
                after_data: true,
            });
        }
        let step = (8 + size + size % 2).min(b.len());
        b = &b[step..];
        offset += step as u64;
    }
    // Fewer than 8 bytes left: a stray pad byte is tolerated; anything longer is not a chunk.
    if b.len() > 1 {
        return Err(WavError::BadChunk {
            path: path.to_path_buf(),
            id: "?".into(),
            offset,
            detail: format!("{} stray bytes at the end of the file", b.len()),
        });
    }
    Ok(out)
}

fn parse_fmt(fmt: &[u8], path: &Path, offset: u64) -> Result<WavInfo, WavError> {
    let bad = |detail: String| WavError::BadChunk {
        path: path.to_path_buf(),
        id: "fmt ".into(),
        offset,
        detail,
    };
    if fmt.len() < 16 {
        return Err(bad(format!("{} bytes; at least 16 are needed", fmt.len())));
    }
    let mut tag = read_u16(fmt, 0);
    let channels = read_u16(fmt, 2);
    let sample_rate = read_u32(fmt, 4);
    let block_align = read_u16(fmt, 12);
    let bits = read_u16(fmt, 14);
    let mut valid_bits = bits;
    let mut channel_mask = None;
    if tag == 0xFFFE {
        if fmt.len() < 40 {
            return Err(bad("WAVE_FORMAT_EXTENSIBLE needs 40 bytes".into()));
        }
        valid_bits = read_u16(fmt, 18);
        channel_mask = Some(read_u32(fmt, 20));
        // The sub-format GUID's first two bytes are the format tag (KSDATAFORMAT_SUBTYPE_*).
        tag = read_u16(fmt, 24);
        if valid_bits == 0 {
            valid_bits = bits;
        }
    }
    match tag {
        1 => {}
        3 => {
            return Err(WavError::Float {
                path: path.to_path_buf(),
            })
        }
        other => {
            return Err(WavError::Compressed {
                path: path.to_path_buf(),
                tag: other,
            })
        }
    }
    if ![16, 24, 32].contains(&bits) || valid_bits > bits || valid_bits < 16 {
        return Err(WavError::BitDepth {
            path: path.to_path_buf(),
            bits: if [16, 24, 32].contains(&bits) {
                valid_bits
            } else {
                bits
            },
        });
    }
    if channels == 0 {
        return Err(bad("0 channels".into()));
    }
    if sample_rate == 0 {
        return Err(bad("sample rate 0".into()));
    }
    if u32::from(block_align) != u32::from(channels) * u32::from(bits / 8) {
        return Err(bad(format!(
            "block align {block_align} is not {channels} channels x {} bytes",
            bits / 8
        )));
    }
    Ok(WavInfo {
        container: Container::Riff,
        sample_rate,
        channels,
        bits_per_sample: bits,
        valid_bits,
        channel_mask,
        frames: FrameCount(0),
        data_offset: 0,
        data_len: 0,
        chunks: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flac::riff;
    use std::io::Cursor;
    use std::sync::{Arc, Mutex};

    /// A WAV image: `fmt` as given, then `before` chunks, `data`, `after` chunks.
    fn image(fmt: &[u8], before: &[Vec<u8>], data: &[u8], after: &[Vec<u8>]) -> Vec<u8> {
        let mut body = b"WAVE".to_vec();
        body.extend(riff::chunk(b"fmt ", fmt));
        for c in before {
            body.extend(c);
        }
        body.extend(riff::chunk(b"data", data));
        for c in after {
            body.extend(c);
        }
        let mut out = b"RIFF".to_vec();
        out.extend((body.len() as u32).to_le_bytes());
        out.extend(body);
        out
    }

    fn reader(bytes: Vec<u8>) -> Result<WavReader<Cursor<Vec<u8>>>, WavError> {
        WavReader::new(Cursor::new(bytes), PathBuf::from("t.wav"), None)
    }

    fn pcm24_stereo() -> (Vec<u8>, Vec<i32>) {
        let samples: Vec<i32> = vec![0, -1, 8_388_607, -8_388_608, 12_345, -54_321, 1, 2];
        let data: Vec<u8> = samples
            .iter()
            .flat_map(|s| s.to_le_bytes()[..3].to_vec())
            .collect();
        let fmt = riff::fmt_payload(2, 48_000, 24, None);
        let ixml = riff::chunk(b"iXML", b"<odd/>x"); // 7 bytes: padded
        let list = riff::chunk(b"LIST", b"INFOabc"); // odd, and after the audio
        (image(&fmt, &[ixml], &data, &[list]), samples)
    }

    #[test]
    fn reads_extremes_and_keeps_chunks_around_the_audio() {
        let (bytes, samples) = pcm24_stereo();
        let mut r = reader(bytes).unwrap();
        assert_eq!(r.info().frames, FrameCount(4));
        assert_eq!(r.info().chunks[0].id, *b"iXML");
        assert_eq!(r.info().chunks[0].data, b"<odd/>x");
        let mut out = vec![0; 64];
        let n = r.read_frames(&mut out).unwrap();
        assert_eq!(&out[..n * 2], &samples[..]);
        let trailing = r.finish().unwrap();
        assert_eq!(trailing.len(), 1);
        assert_eq!(trailing[0].data, b"INFOabc");
        assert!(trailing[0].after_data);
    }

    #[test]
    fn one_frame_at_a_time_reads_the_same_samples() {
        let (bytes, samples) = pcm24_stereo();
        let mut r = reader(bytes).unwrap();
        let mut got = Vec::new();
        let mut one = [0i32; 2];
        while r.read_frames(&mut one).unwrap() == 1 {
            got.extend_from_slice(&one);
        }
        assert_eq!(got, samples);
    }

    #[test]
    fn the_tap_sees_every_byte_once_in_order() {
        let (bytes, _) = pcm24_stereo();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = Arc::clone(&seen);
        let tap: Tap = Box::new(move |b: &[u8]| s.lock().unwrap().extend_from_slice(b));
        let mut r = WavReader::new(
            Cursor::new(bytes.clone()),
            PathBuf::from("t.wav"),
            Some(tap),
        )
        .unwrap();
        let mut out = vec![0; 2];
        while r.read_frames(&mut out).unwrap() > 0 {}
        r.finish().unwrap();
        assert_eq!(*seen.lock().unwrap(), bytes);
    }

    #[test]
    fn eight_bit_and_missing_fmt_are_refused() {
        let mut fmt8 = riff::fmt_payload(1, 8_000, 16, None);
        fmt8[14] = 8; // bits per sample
        fmt8[12] = 1; // block align
        let err = reader(image(&fmt8, &[], &[0, 0], &[])).err().unwrap();
        assert!(matches!(err, WavError::BitDepth { bits: 8, .. }), "{err}");
        let mut no_fmt = b"RIFF".to_vec();
        let body = [b"WAVE".to_vec(), riff::chunk(b"data", &[0, 0])].concat();
        no_fmt.extend((body.len() as u32).to_le_bytes());
        no_fmt.extend(body);
        let err = reader(no_fmt).err().unwrap();
        assert!(err.to_string().contains("data chunk before fmt"), "{err}");
    }

    #[test]
    fn a_file_cut_inside_the_audio_reports_how_far_it_got() {
        let (bytes, _) = pcm24_stereo();
        let data_end = bytes.len() - riff::chunk(b"LIST", b"INFOabc").len();
        let mut r = reader(bytes[..data_end - 7].to_vec()).unwrap();
        let mut out = vec![0; 64];
        match r.read_frames(&mut out) {
            Err(WavError::Truncated { expected, got, .. }) => assert_eq!((expected, got), (4, 2)),
            other => panic!("expected Truncated, got {other:?}"),
        }
    }
}
