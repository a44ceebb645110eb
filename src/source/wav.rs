//! A strict, streaming, forward-only reader for the WAV family: RIFF/WAVE, BWF, WAVE_FORMAT_EXTENSIBLE
//! and RF64/BW64 (files over 4 GiB, sizes in `ds64`), holding 16-, 24- or 32-bit integer PCM.
//!
//! It is the one way source audio enters the archive, so it refuses rather than guesses:
//!
//! - Float PCM (format tag 3, or the extensible float sub-format), compressed or unknown formats,
//!   8-bit audio and malformed headers are refused with a [`WavError`] naming the file and what is
//!   wrong (chunk id, byte offset, expected against found).
//! - A file whose header does not fit its length is refused: a data chunk that runs past the end
//!   of the file is [`WavError::Truncated`] (when the length is known up front, as with
//!   [`WavReader::open`], already at open; otherwise as soon as reading hits the early end), and a
//!   RIFF size that disagrees with the file's length by more than a final pad byte is
//!   [`WavError::RiffSizeMismatch`] (at open when the length is known, at the latest in
//!   [`WavReader::finish`]). A damaged file is never read as if it were whole.
//! - RIFF rules: an odd-sized chunk is followed by a pad byte. A missing pad byte after the very
//!   last chunk is tolerated, since many writers omit it.
//!
//! Samples come out interleaved, right-justified and sign-extended in `i32` at
//! [`WavInfo::valid_bits`] (a 24-bit sample `0x800000` reads as -8388608). When
//! WAVE_FORMAT_EXTENSIBLE declares fewer valid bits than the container holds (24 in 32), samples are
//! left-justified in the container and are shifted down arithmetically; the low container bits are
//! dropped without inspection, as the format says they carry nothing.
//!
//! **The tap.** The file is read strictly forward, once, and every byte read passes through one
//! place. With a tap ([`WavReader::with_tap`], [`WavReader::open_with_tap`]), once
//! [`WavReader::finish`] returns `Ok`, every byte of the file (headers, audio, chunks after the
//! audio, anything after the RIFF form) has been passed to the tap exactly once, in file order, so
//! the caller can hash the whole source file in the same read that decodes it.

use crate::units::{FrameCount, FrameIndex, Timecode};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Largest chunk other than `data` that is loaded into memory (bext, iXML, LIST...): the most
/// that one FLAC metadata block can carry into the master (libFLAC's largest block, 16 777 212
/// bytes, holds the application id and the chunk header too). Anything bigger is not
/// metadata a person wrote, and loading it unbounded would let a lying size field exhaust
/// memory.
pub const MAX_CHUNK_BYTES: u64 = crate::flac::riff::MAX_CARRIED_PAYLOAD;

/// Chunks other than `data`, `fmt `, `ds64` and filler that a file may hold, before and after
/// `data` together: each is loaded and carried into the master, so their number and their
/// total size are bounded (memory, and the master's header).
pub const MAX_FOREIGN_CHUNKS: usize = 64;
/// Their total payload bytes.
pub const MAX_FOREIGN_BYTES: u64 = 32 << 20;

/// What the chunks loaded so far have used of the budget.
#[derive(Debug, Clone, Copy, Default)]
struct Budget {
    chunks: usize,
    bytes: u64,
}

impl Budget {
    fn of(chunks: &[ForeignChunk]) -> Budget {
        Budget {
            chunks: chunks.len(),
            bytes: chunks.iter().map(|c| c.data.len() as u64).sum(),
        }
    }

    /// Takes a chunk of `size` bytes from the budget, before it is loaded; refuses one that
    /// would be too big alone or too many or too much with the others.
    fn take(&mut self, ctx: &Ctx, id: &[u8; 4], offset: u64, size: u64) -> Result<(), WavError> {
        if size > MAX_CHUNK_BYTES {
            return Err(ctx.bad(
                id,
                offset,
                format!(
                    "{size} bytes long; chunks other than data are limited to {MAX_CHUNK_BYTES} \
                     bytes, the most one FLAC metadata block can carry into the master (libFLAC \
                     writes blocks of at most 16777212 bytes, which hold the 4-byte \
                     application id and the 8-byte chunk header too)"
                ),
            ));
        }
        self.chunks += 1;
        self.bytes += size;
        if self.chunks > MAX_FOREIGN_CHUNKS {
            return Err(ctx.bad(
                id,
                offset,
                format!(
                    "one chunk too many: at most {MAX_FOREIGN_CHUNKS} chunks other than data, \
                     fmt, ds64 and filler are carried into a master"
                ),
            ));
        }
        if self.bytes > MAX_FOREIGN_BYTES {
            return Err(ctx.bad(
                id,
                offset,
                format!(
                    "brings the chunks other than data to {} bytes; at most {MAX_FOREIGN_BYTES} \
                     bytes in all are carried into a master",
                    self.bytes
                ),
            ));
        }
        Ok(())
    }
}

/// Bytes asked of the file per read while streaming audio: large enough that system-call and tap
/// overhead vanish, small enough to stay in L2/L3 while converting.
const READ_BLOCK: usize = 1 << 20;

/// Receives every byte read from the file, in order (see the module documentation).
pub type Tap = Box<dyn FnMut(&[u8]) + Send>;

/// Why a WAV file was refused or could not be read.
#[derive(Debug, thiserror::Error)]
pub enum WavError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },

    #[error("{path}: not a WAV file: {detail}")]
    NotWav { path: PathBuf, detail: String },

    #[error(
        "{path}: float PCM is not accepted ({}): archive masters are integer PCM; \
         convert the file to 16-, 24- or 32-bit integer PCM first",
        if *.extensible { "WAVE_FORMAT_EXTENSIBLE float sub-format" } else { "format tag 0x0003" }
    )]
    Float { path: PathBuf, extensible: bool },

    #[error(
        "{path}: audio format tag 0x{tag:04X}{} is compressed or unknown; only integer PCM \
         (0x0001, or WAVE_FORMAT_EXTENSIBLE with the PCM sub-format) is accepted",
        tag_name(*.tag)
    )]
    Compressed { path: PathBuf, tag: u16 },

    #[error(
        "{path}: WAVE_FORMAT_EXTENSIBLE sub-format {guid} is not PCM; only integer PCM is accepted"
    )]
    UnknownSubformat { path: PathBuf, guid: String },

    #[error("{path}: {bits}-bit samples are not accepted; 16-, 24- or 32-bit integer PCM is")]
    BitDepth { path: PathBuf, bits: u16 },

    #[error(
        "{path}: {valid} valid bits in a {container}-bit container are not accepted \
         (valid bits must be 16 to {container})"
    )]
    ValidBits {
        path: PathBuf,
        valid: u16,
        container: u16,
    },

    #[error("{path}: chunk '{id}' at byte {offset}: {detail}")]
    BadChunk {
        path: PathBuf,
        id: String,
        offset: u64,
        detail: String,
    },

    #[error("{path}: no '{id}' chunk {detail}")]
    Missing {
        path: PathBuf,
        id: &'static str,
        detail: &'static str,
    },

    #[error(
        "{path}: the data chunk holds {bytes} bytes, not a whole number of {block_align}-byte frames"
    )]
    PartialFrame {
        path: PathBuf,
        bytes: u64,
        block_align: u16,
    },

    #[error(
        "{path}: truncated: the header promises {expected_frames} but the file ends after \
         {got_frames} (at {at})"
    )]
    Truncated {
        path: PathBuf,
        expected_frames: FrameCount,
        got_frames: FrameCount,
        at: Timecode,
    },

    #[error("{path}: the RIFF header says the file is {declared} bytes but it is {actual}")]
    RiffSizeMismatch {
        path: PathBuf,
        declared: u64,
        actual: u64,
    },

    #[error("{path}: the file changed since it was first read ({detail})")]
    Changed { path: PathBuf, detail: String },
}

/// Plain RIFF (sizes up to 4 GiB) or RF64/BW64 (real sizes in `ds64`).
/// Written in the QC report as its name here (`Riff`, `Rf64`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
pub enum Container {
    Riff,
    /// `RF64` or `BW64`; they differ only in the magic.
    Rf64,
}

/// A chunk the reader does not interpret, kept so that it can be carried into the master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignChunk {
    pub id: [u8; 4],
    /// The payload, without the chunk header or pad byte.
    pub data: Vec<u8>,
    /// Whether the chunk comes after the `data` chunk in the file.
    pub after_data: bool,
}

/// What the header says, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WavInfo {
    pub container: Container,
    pub sample_rate: u32,
    pub channels: u16,
    /// Container bits per sample: 16, 24 or 32.
    pub bits_per_sample: u16,
    /// Significant bits per sample (WAVE_FORMAT_EXTENSIBLE), else `bits_per_sample`; samples are
    /// returned right-justified at this width.
    pub valid_bits: u16,
    /// Speaker positions, from WAVE_FORMAT_EXTENSIBLE.
    pub channel_mask: Option<u32>,
    pub frames: FrameCount,
    /// Byte offset of the first sample.
    pub data_offset: u64,
    /// Bytes of audio (`frames * block_align`).
    pub data_len: u64,
    /// Chunks before `data` other than fmt, ds64 and filler (JUNK, fact, PAD, FLLR), in file order.
    /// Chunks after `data` are only reached at the end: [`WavReader::finish`] returns them.
    pub chunks: Vec<ForeignChunk>,
}

impl WavInfo {
    /// Bytes per frame.
    pub fn block_align(&self) -> u16 {
        self.channels * (self.bits_per_sample / 8)
    }
}

/// Chunks that carry nothing about the recording: never returned.
fn is_filler(id: &[u8; 4]) -> bool {
    matches!(
        id,
        b"JUNK" | b"junk" | b"fact" | b"PAD " | b"pad " | b"FLLR" | b"filr"
    )
}

/// Names for the format tags people are likely to meet, so a refusal says what the file is.
fn tag_name(tag: u16) -> &'static str {
    match tag {
        0x0002 => " (Microsoft ADPCM)",
        0x0006 => " (A-law)",
        0x0007 => " (mu-law)",
        0x0011 => " (IMA ADPCM)",
        0x0050 => " (MPEG audio)",
        0x0055 => " (MPEG Layer 3)",
        0x00FF | 0x1610 => " (AAC)",
        0x0161..=0x0163 => " (Windows Media Audio)",
        0x2000 => " (AC-3)",
        0x2001 => " (DTS)",
        0xF1AC => " (FLAC)",
        _ => "",
    }
}

/// A chunk id for messages: printable ASCII as is, anything else escaped, since a damaged file's
/// "id" is often binary.
fn show_id(id: &[u8; 4]) -> String {
    let mut s = String::with_capacity(4);
    for &b in id {
        if b.is_ascii_graphic() || b == b' ' {
            s.push(char::from(b));
        } else {
            let _ = write!(s, "\\x{b:02X}");
        }
    }
    s
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

/// The single funnel for file bytes: whatever is read goes to the tap and advances `pos`, so the
/// tap guarantee holds by construction rather than by every caller remembering it.
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
                    if let Some(tap) = self.tap.as_mut() {
                        tap(&buf[..n]);
                    }
                    self.pos += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Fills `buf`, or returns how much it got before the end of the file.
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

    /// Reads and discards up to `n` bytes (through the tap), using `scratch`; returns how many
    /// there were before the end of the file.
    fn skip(&mut self, n: u64, scratch: &mut [u8]) -> io::Result<u64> {
        let mut left = n;
        while left > 0 {
            let want = left.min(scratch.len() as u64) as usize;
            let got = self.read_some(&mut scratch[..want])?;
            if got == 0 {
                break;
            }
            left -= got as u64;
        }
        Ok(n - left)
    }
}

/// How the samples sit in the file.
#[derive(Debug, Clone, Copy)]
struct SampleLayout {
    /// Container bytes per sample: 2, 3 or 4.
    bytes: usize,
    /// Right shift from the container's top bits to `valid_bits`.
    shift: u32,
}

/// A checked `fmt ` chunk.
struct Format {
    sample_rate: u32,
    channels: u16,
    bits: u16,
    valid_bits: u16,
    channel_mask: Option<u32>,
}

/// The RF64 `ds64` chunk.
struct Ds64 {
    riff_size: u64,
    data_size: u64,
    /// Sizes of other chunks over 4 GiB.
    table: Vec<([u8; 4], u64)>,
}

/// The tail of `KSDATAFORMAT_SUBTYPE_*` GUIDs (bytes 2..16); bytes 0..2 hold the format tag.
const SUBTYPE_TAIL: [u8; 14] = [
    0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71,
];

fn guid_string(g: &[u8]) -> String {
    let mut s = format!("{:08X}-{:04X}-{:04X}-", le32(g, 0), le16(g, 4), le16(g, 6));
    for (i, b) in g[8..16].iter().enumerate() {
        if i == 2 {
            s.push('-');
        }
        let _ = write!(s, "{b:02X}");
    }
    s
}

/// Where the header parse is, for error messages and size checks.
struct Ctx<'a> {
    path: &'a Path,
    container: Container,
    /// Byte offset just past the RIFF form, as declared.
    riff_end: u64,
    ds64: Option<Ds64>,
}

impl Ctx<'_> {
    fn io(&self, e: io::Error) -> WavError {
        WavError::Io {
            path: self.path.to_path_buf(),
            source: e,
        }
    }

    fn bad(&self, id: &[u8; 4], offset: u64, detail: impl Into<String>) -> WavError {
        WavError::BadChunk {
            path: self.path.to_path_buf(),
            id: show_id(id),
            offset,
            detail: detail.into(),
        }
    }

    fn riff_mismatch(&self, actual: u64) -> WavError {
        WavError::RiffSizeMismatch {
            path: self.path.to_path_buf(),
            declared: self.riff_end,
            actual,
        }
    }

    /// The real size of a chunk: its header's, or for RF64 the ds64 table's when the header holds
    /// the 0xFFFFFFFF placeholder. Checked to lie inside the RIFF form.
    fn chunk_size(&self, id: &[u8; 4], offset: u64, size32: u32) -> Result<u64, WavError> {
        let size = match &self.ds64 {
            Some(ds64) if size32 == u32::MAX => {
                if id == b"data" {
                    ds64.data_size
                } else {
                    match ds64.table.iter().find(|(t, _)| t == id) {
                        Some(&(_, size)) => size,
                        None => {
                            return Err(self.bad(
                                id,
                                offset,
                                "its size is the RF64 placeholder 0xFFFFFFFF but ds64 has no \
                                 entry for it",
                            ))
                        }
                    }
                }
            }
            Some(ds64) if id == b"data" && u64::from(size32) != ds64.data_size => {
                return Err(self.bad(
                    id,
                    offset,
                    format!(
                        "the chunk header says {size32} bytes but ds64 says {}",
                        ds64.data_size
                    ),
                ));
            }
            _ => u64::from(size32),
        };
        Ok(size)
    }

    /// Refuses a chunk that claims to run past the end of the RIFF form.
    fn check_inside(&self, id: &[u8; 4], offset: u64, size: u64) -> Result<(), WavError> {
        let end = offset.saturating_add(8).saturating_add(size);
        if end > self.riff_end {
            return Err(self.bad(
                id,
                offset,
                format!(
                    "declares {size} bytes, ending at byte {end}, past the end of the RIFF form \
                     at byte {}",
                    self.riff_end
                ),
            ));
        }
        Ok(())
    }
}

/// Reads the next chunk header: `None` at a clean end of file; a header cut short by the end of
/// the file is refused as a file shorter than its RIFF header says.
fn next_header<R: Read>(
    src: &mut Tapped<R>,
    ctx: &Ctx<'_>,
) -> Result<Option<([u8; 4], u32, u64)>, WavError> {
    let offset = src.pos;
    let mut h = [0u8; 8];
    let got = src.fill(&mut h).map_err(|e| ctx.io(e))?;
    match got {
        0 => Ok(None),
        8 => Ok(Some(([h[0], h[1], h[2], h[3]], le32(&h, 4), offset))),
        _ => Err(ctx.riff_mismatch(src.pos)),
    }
}

/// Reads `size` bytes (at most [`MAX_CHUNK_BYTES`]) into a buffer that grows as they arrive,
/// doubling from 64 KiB: a size field that lies about a short stream costs the bytes that are
/// there, not the bytes it claims (found by fuzzing: a 48-byte file claiming an 8 MiB ds64 chunk
/// had 8 MiB allocated up front). `None` if the stream ends first.
fn read_growing<R: Read>(src: &mut Tapped<R>, size: u64) -> io::Result<Option<Vec<u8>>> {
    const FIRST: usize = 64 << 10;
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    let mut data = Vec::new();
    while data.len() < size {
        let at = data.len();
        let want = (size - at).min(at.max(FIRST));
        data.resize(at + want, 0);
        if src.fill(&mut data[at..])? < want {
            return Ok(None);
        }
    }
    Ok(Some(data))
}

/// Loads a chunk payload (size already checked against the RIFF form and the cap).
fn load_payload<R: Read>(
    src: &mut Tapped<R>,
    ctx: &Ctx<'_>,
    size: u64,
) -> Result<Vec<u8>, WavError> {
    match read_growing(src, size).map_err(|e| ctx.io(e))? {
        Some(data) => Ok(data),
        // The chunk lies inside the declared RIFF form, so the form is longer than the file.
        None => Err(ctx.riff_mismatch(src.pos)),
    }
}

/// Skips a chunk payload, through the tap.
fn skip_payload<R: Read>(
    src: &mut Tapped<R>,
    ctx: &Ctx<'_>,
    size: u64,
    scratch: &mut [u8],
) -> Result<(), WavError> {
    let got = src.skip(size, scratch).map_err(|e| ctx.io(e))?;
    if got < size {
        return Err(ctx.riff_mismatch(src.pos));
    }
    Ok(())
}

/// Consumes the pad byte after an odd-sized chunk, if the RIFF form has room for one. A pad byte
/// missing at the end of the file is tolerated here; the final length check decides whether the
/// file is whole.
fn skip_pad<R: Read>(src: &mut Tapped<R>, ctx: &Ctx<'_>, size: u64) -> Result<(), WavError> {
    if size % 2 == 1 && src.pos < ctx.riff_end {
        let mut pad = [0u8; 1];
        src.fill(&mut pad).map_err(|e| ctx.io(e))?;
    }
    Ok(())
}

fn parse_fmt(p: &[u8], ctx: &Ctx<'_>, offset: u64) -> Result<Format, WavError> {
    let path = || ctx.path.to_path_buf();
    if p.len() < 16 {
        return Err(ctx.bad(
            b"fmt ",
            offset,
            format!("{} bytes long; a format chunk needs at least 16", p.len()),
        ));
    }
    let tag = le16(p, 0);
    let channels = le16(p, 2);
    let sample_rate = le32(p, 4);
    let block_align = le16(p, 12);
    let bits = le16(p, 14);
    let (valid_bits, channel_mask) = match tag {
        0x0001 => (bits, None),
        0x0003 => {
            return Err(WavError::Float {
                path: path(),
                extensible: false,
            })
        }
        0xFFFE => {
            if p.len() < 40 || le16(p, 16) < 22 {
                return Err(ctx.bad(
                    b"fmt ",
                    offset,
                    format!(
                        "WAVE_FORMAT_EXTENSIBLE needs 40 bytes with an extension of 22; this one \
                         has {} bytes",
                        p.len()
                    ),
                ));
            }
            let guid = &p[24..40];
            if guid[2..] != SUBTYPE_TAIL {
                return Err(WavError::UnknownSubformat {
                    path: path(),
                    guid: guid_string(guid),
                });
            }
            match le16(guid, 0) {
                0x0001 => {}
                0x0003 => {
                    return Err(WavError::Float {
                        path: path(),
                        extensible: true,
                    })
                }
                sub => {
                    return Err(WavError::Compressed {
                        path: path(),
                        tag: sub,
                    })
                }
            }
            // Some writers leave wValidBitsPerSample at 0, meaning "all of them".
            let valid = match le16(p, 18) {
                0 => bits,
                v => v,
            };
            (valid, Some(le32(p, 20)))
        }
        other => {
            return Err(WavError::Compressed {
                path: path(),
                tag: other,
            })
        }
    };
    if channels == 0 {
        return Err(ctx.bad(b"fmt ", offset, "0 channels"));
    }
    if sample_rate == 0 {
        return Err(ctx.bad(b"fmt ", offset, "sample rate 0 Hz"));
    }
    if !matches!(bits, 16 | 24 | 32) {
        return Err(WavError::BitDepth { path: path(), bits });
    }
    let need = u32::from(channels) * u32::from(bits / 8);
    if u32::from(block_align) != need {
        return Err(ctx.bad(
            b"fmt ",
            offset,
            format!(
                "block align is {block_align} bytes but {channels} channel(s) of {bits} bits \
                 need {need}"
            ),
        ));
    }
    if valid_bits < 16 || valid_bits > bits {
        return Err(WavError::ValidBits {
            path: path(),
            valid: valid_bits,
            container: bits,
        });
    }
    Ok(Format {
        sample_rate,
        channels,
        bits,
        valid_bits,
        channel_mask,
    })
}

/// A WAV file being read, forward only.
pub struct WavReader<R> {
    src: Tapped<R>,
    path: PathBuf,
    info: WavInfo,
    riff_end: u64,
    ds64: Option<Ds64>,
    layout: SampleLayout,
    /// Raw audio read but not yet converted is `buf[start..end]`; the buffer doubles as scratch
    /// for skipping.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Bytes of the data chunk read from the file so far.
    data_read: u64,
    /// Frames handed out so far.
    frames_out: u64,
}

impl WavReader<BufReader<File>> {
    /// Opens `path` and checks its header, and its sizes against the file's length.
    pub fn open(path: &Path) -> Result<Self, WavError> {
        Self::open_inner(path, None)
    }

    /// As [`WavReader::open`], passing every byte read to `tap` (see the module documentation).
    pub fn open_with_tap(path: &Path, tap: Tap) -> Result<Self, WavError> {
        Self::open_inner(path, Some(tap))
    }

    fn open_inner(path: &Path, tap: Option<Tap>) -> Result<Self, WavError> {
        let io_err = |source| WavError::Io {
            path: path.to_path_buf(),
            source,
        };
        // A FIFO or a device is refused before it is read (it could block forever).
        let file = crate::archive::confined::open_regular_source(path).map_err(io_err)?;
        let len = file.metadata().map_err(io_err)?.len();
        // Header parsing reads a few bytes at a time; audio reads are larger than this buffer,
        // so BufReader passes them straight through.
        let reader = BufReader::with_capacity(64 << 10, file);
        Self::build(reader, path.to_path_buf(), tap, Some(len))
    }
}

/// Reads the chunks after `data` of the file that `info` describes, without reading the audio
/// (it seeks past it), so metadata stored at the end of a file is known before the real read.
pub fn read_trailing_chunks(path: &Path, info: &WavInfo) -> Result<Vec<ForeignChunk>, WavError> {
    let mut reader = WavReader::open(path)?;
    let now = reader.info();
    if now.data_offset != info.data_offset || now.data_len != info.data_len {
        return Err(WavError::Changed {
            path: path.to_path_buf(),
            detail: format!(
                "audio was {} bytes at byte {}, now {} bytes at byte {}",
                info.data_len, info.data_offset, now.data_len, now.data_offset
            ),
        });
    }
    let data_end = now.data_offset + now.data_len;
    // The buffered reader may hold bytes past the header; seeking discards them, and `pos` is
    // reset to match, so the trailer parse starts exactly at the end of the audio.
    reader
        .src
        .inner
        .seek(SeekFrom::Start(data_end))
        .map_err(|source| WavError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    reader.src.pos = data_end;
    reader.data_read = reader.info.data_len;
    reader.start = 0;
    reader.end = 0;
    reader.finish()
}

/// Everything before the samples: the format, where the samples are, and the chunks to carry.
struct Header {
    format: Format,
    data_offset: u64,
    data_len: u64,
    chunks: Vec<ForeignChunk>,
}

/// The first 12 bytes (`RIFF`/`RF64`/`BW64`, size, `WAVE`) and, for RF64/BW64, the ds64 chunk
/// that must follow: sets the container and where the form ends.
fn read_form<R: Read>(src: &mut Tapped<R>, ctx: &mut Ctx<'_>) -> Result<(), WavError> {
    let not_wav = |detail: String| WavError::NotWav {
        path: ctx.path.to_path_buf(),
        detail,
    };
    let mut head = [0u8; 12];
    let got = src.fill(&mut head).map_err(|e| ctx.io(e))?;
    if got < 12 {
        return Err(not_wav(format!(
            "{got} bytes long, shorter than a RIFF header"
        )));
    }
    let magic = [head[0], head[1], head[2], head[3]];
    let container = match &magic {
        b"RIFF" => Container::Riff,
        b"RF64" | b"BW64" => Container::Rf64,
        b"RIFX" => return Err(not_wav("big-endian RIFX is not supported".into())),
        _ => {
            return Err(not_wav(format!(
                "it starts with '{}', not RIFF, RF64 or BW64",
                show_id(&magic)
            )))
        }
    };
    if &head[8..12] != b"WAVE" {
        return Err(not_wav(format!(
            "the RIFF form is '{}', not 'WAVE'",
            show_id(&[head[8], head[9], head[10], head[11]])
        )));
    }
    ctx.container = container;
    if container == Container::Rf64 {
        let (ds64, size) = read_ds64(src, ctx)?;
        ctx.riff_end = ds64.riff_size.saturating_add(8);
        ctx.ds64 = Some(ds64);
        // Its pad byte is skipped only once the form's end is known.
        skip_pad(src, ctx, size)?;
    } else {
        ctx.riff_end = u64::from(le32(&head, 4)) + 8;
    }
    Ok(())
}

/// The ds64 chunk an RF64/BW64 file starts with: the 64-bit sizes of the form and its data,
/// and the table of other chunks' sizes; with the chunk's size, for its pad byte.
fn read_ds64<R: Read>(src: &mut Tapped<R>, ctx: &Ctx<'_>) -> Result<(Ds64, u64), WavError> {
    let not_wav = |detail: &str| WavError::NotWav {
        path: ctx.path.to_path_buf(),
        detail: detail.into(),
    };
    let Some((id, size32, offset)) = next_header(src, ctx)? else {
        return Err(not_wav("an RF64/BW64 file with no chunks"));
    };
    if &id != b"ds64" {
        return Err(ctx.bad(
            &id,
            offset,
            "an RF64/BW64 file must start with a ds64 chunk",
        ));
    }
    let size = u64::from(size32);
    if !(28..=MAX_CHUNK_BYTES).contains(&size) {
        return Err(ctx.bad(
            &id,
            offset,
            format!("{size} bytes long; ds64 needs 28 and up"),
        ));
    }
    let Some(p) = read_growing(src, size).map_err(|e| ctx.io(e))? else {
        return Err(not_wav("the file ends inside its ds64 chunk"));
    };
    let count = le32(&p, 24) as usize;
    if 28 + count.saturating_mul(12) > p.len() {
        return Err(ctx.bad(
            &id,
            offset,
            format!("its table claims {count} entries but the chunk is {size} bytes"),
        ));
    }
    let table = p[28..28 + count * 12]
        .chunks_exact(12)
        .map(|e| ([e[0], e[1], e[2], e[3]], le64(e, 4)))
        .collect();
    let ds64 = Ds64 {
        riff_size: le64(&p, 0),
        data_size: le64(&p, 8),
        table,
    };
    Ok((ds64, size))
}

/// Reads chunk after chunk up to the start of the samples: one `fmt `, fillers skipped, every
/// other chunk kept to carry (within the budget), then the `data` chunk's place checked against
/// the format and the file's length.
fn read_up_to_data<R: Read>(
    src: &mut Tapped<R>,
    ctx: &Ctx<'_>,
    file_len: Option<u64>,
    buf: &mut [u8],
) -> Result<Header, WavError> {
    let path = ctx.path;
    let missing = |id, detail| WavError::Missing {
        path: path.to_path_buf(),
        id,
        detail,
    };
    let mut format: Option<Format> = None;
    let mut chunks = Vec::new();
    let mut budget = Budget::default();
    loop {
        if src.pos >= ctx.riff_end {
            if let Some(len) = file_len.filter(|&l| l.abs_diff(ctx.riff_end) > 1) {
                return Err(ctx.riff_mismatch(len));
            }
            return Err(missing("data", "inside the RIFF form"));
        }
        let Some((id, size32, offset)) = next_header(src, ctx)? else {
            if src.pos + 1 < ctx.riff_end {
                return Err(ctx.riff_mismatch(src.pos));
            }
            return Err(missing("data", "in the file"));
        };
        let size = ctx.chunk_size(&id, offset, size32)?;
        match &id {
            b"data" => {
                let Some(f) = format.take() else {
                    return Err(missing("fmt ", "before the data chunk"));
                };
                let data_offset = src.pos;
                check_data(ctx, &f, data_offset, size, file_len)?;
                ctx.check_inside(&id, offset, size)?;
                return Ok(Header {
                    format: f,
                    data_offset,
                    data_len: size,
                    chunks,
                });
            }
            b"fmt " => {
                if format.is_some() {
                    return Err(ctx.bad(&id, offset, "a second format chunk"));
                }
                ctx.check_inside(&id, offset, size)?;
                if size > 4096 {
                    return Err(ctx.bad(&id, offset, format!("{size} bytes long")));
                }
                let p = load_payload(src, ctx, size)?;
                format = Some(parse_fmt(&p, ctx, offset)?);
            }
            b"ds64" => {
                return Err(ctx.bad(
                    &id,
                    offset,
                    "ds64 is only allowed as the first chunk of an RF64/BW64 file",
                ))
            }
            _ if is_filler(&id) => {
                ctx.check_inside(&id, offset, size)?;
                skip_payload(src, ctx, size, buf)?;
            }
            _ => {
                ctx.check_inside(&id, offset, size)?;
                budget.take(ctx, &id, offset, size)?;
                let data = load_payload(src, ctx, size)?;
                chunks.push(ForeignChunk {
                    id,
                    data,
                    after_data: false,
                });
            }
        }
        skip_pad(src, ctx, size)?;
    }
}

/// The data chunk holds whole frames, and (when the file's length is known) is all there and
/// ends where the RIFF form says the file ends.
fn check_data(
    ctx: &Ctx<'_>,
    f: &Format,
    data_offset: u64,
    size: u64,
    file_len: Option<u64>,
) -> Result<(), WavError> {
    let block_align = f.channels * (f.bits / 8);
    if !size.is_multiple_of(u64::from(block_align)) {
        return Err(WavError::PartialFrame {
            path: ctx.path.to_path_buf(),
            bytes: size,
            block_align,
        });
    }
    if let Some(len) = file_len {
        // Truncation first: it is what a cut-short file is, and a cut file's RIFF size
        // disagrees too.
        if data_offset.saturating_add(size) > len {
            let got = (len - data_offset) / u64::from(block_align);
            return Err(WavError::Truncated {
                path: ctx.path.to_path_buf(),
                expected_frames: FrameCount(size / u64::from(block_align)),
                got_frames: FrameCount(got),
                at: FrameCount(got).timecode(f.sample_rate),
            });
        }
        if len.abs_diff(ctx.riff_end) > 1 {
            return Err(ctx.riff_mismatch(len));
        }
    }
    Ok(())
}

impl<R: Read> WavReader<R> {
    /// Parses the header of a WAV stream. `path` is only used in messages. The stream's length is
    /// unknown, so size lies are found while reading (see the module documentation).
    pub fn new(reader: R, path: PathBuf) -> Result<Self, WavError> {
        Self::build(reader, path, None, None)
    }

    /// As [`WavReader::new`], passing every byte read to `tap`.
    pub fn with_tap(reader: R, path: PathBuf, tap: Tap) -> Result<Self, WavError> {
        Self::build(reader, path, Some(tap), None)
    }

    /// The checked header.
    pub fn info(&self) -> &WavInfo {
        &self.info
    }

    /// The file this reader reads, as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The index of the next frame `read_frames` will return.
    pub fn position(&self) -> FrameIndex {
        FrameIndex(self.frames_out)
    }

    fn build(
        reader: R,
        path: PathBuf,
        tap: Option<Tap>,
        file_len: Option<u64>,
    ) -> Result<Self, WavError> {
        let mut src = Tapped {
            inner: reader,
            tap,
            pos: 0,
        };
        let mut buf = vec![0u8; READ_BLOCK];
        let mut ctx = Ctx {
            path: &path,
            container: Container::Riff,
            riff_end: 0,
            ds64: None,
        };
        read_form(&mut src, &mut ctx)?;
        let Header {
            format: f,
            data_offset,
            data_len,
            chunks,
        } = read_up_to_data(&mut src, &ctx, file_len, &mut buf)?;

        let block_align = f.channels * (f.bits / 8);
        let info = WavInfo {
            container: ctx.container,
            sample_rate: f.sample_rate,
            channels: f.channels,
            bits_per_sample: f.bits,
            valid_bits: f.valid_bits,
            channel_mask: f.channel_mask,
            frames: FrameCount(data_len / u64::from(block_align)),
            data_offset,
            data_len,
            chunks,
        };
        let layout = SampleLayout {
            bytes: usize::from(f.bits / 8),
            shift: u32::from(f.bits - f.valid_bits),
        };
        let riff_end = ctx.riff_end;
        let ds64 = ctx.ds64.take();
        Ok(WavReader {
            src,
            path,
            info,
            riff_end,
            ds64,
            layout,
            buf,
            start: 0,
            end: 0,
            data_read: 0,
            frames_out: 0,
        })
    }

    fn truncated(&self, bytes_present: u64) -> WavError {
        let got = bytes_present / u64::from(self.info.block_align());
        WavError::Truncated {
            path: self.path.clone(),
            expected_frames: self.info.frames,
            got_frames: FrameCount(got),
            at: FrameCount(got).timecode(self.info.sample_rate),
        }
    }

    /// Fills `out` with interleaved frames, each sample right-justified and sign-extended at
    /// [`WavInfo::valid_bits`]. Returns the number of frames written: as many as fit in `out`
    /// unless the audio ends first, and 0 once all audio has been read.
    ///
    /// # Panics
    /// If `out.len()` is not a non-zero multiple of the channel count (a caller bug; a short
    /// buffer would otherwise be indistinguishable from the end of the audio).
    pub fn read_frames(&mut self, out: &mut [i32]) -> Result<usize, WavError> {
        let channels = usize::from(self.info.channels);
        assert!(
            !out.is_empty() && out.len().is_multiple_of(channels),
            "read_frames: buffer of {} samples is not a whole number of {channels}-channel frames",
            out.len()
        );
        let block_align = usize::from(self.info.block_align());
        let remaining = self.info.frames.0 - self.frames_out;
        let want = (out.len() / channels).min(usize::try_from(remaining).unwrap_or(usize::MAX));
        let mut done = 0;
        while done < want {
            let ready = (self.end - self.start) / block_align;
            if ready == 0 {
                self.refill()?;
                continue;
            }
            let n = ready.min(want - done);
            let bytes = &self.buf[self.start..self.start + n * block_align];
            convert(
                bytes,
                &mut out[done * channels..(done + n) * channels],
                self.layout,
            );
            self.start += n * block_align;
            done += n;
        }
        self.frames_out += done as u64;
        Ok(done)
    }

    /// Moves a partial frame to the front and reads the next block of the data chunk (never past
    /// it, so the trailer is parsed from the stream, not from this buffer).
    fn refill(&mut self) -> Result<(), WavError> {
        let left = self.end - self.start;
        self.buf.copy_within(self.start..self.end, 0);
        self.start = 0;
        self.end = left;
        let data_left = self.info.data_len - self.data_read;
        let want = ((self.buf.len() - left) as u64).min(data_left) as usize;
        let n = self
            .src
            .read_some(&mut self.buf[left..left + want])
            .map_err(|source| WavError::Io {
                path: self.path.clone(),
                source,
            })?;
        if n == 0 {
            return Err(self.truncated(self.data_read));
        }
        self.end += n;
        self.data_read += n as u64;
        Ok(())
    }

    /// Reads the rest of the file: any audio not yet read (so the tap still sees it), then the
    /// chunks after `data`, which it returns (`after_data` set), then anything past the RIFF form.
    /// Checks that the RIFF size matches the file's length. After `Ok`, the tap has seen every
    /// byte of the file exactly once.
    pub fn finish(self) -> Result<Vec<ForeignChunk>, WavError> {
        self.finish_keeping(true)
    }

    /// [`WavReader::finish`] for a read that already has the chunks after `data` (a second
    /// pass): every byte still goes through the tap and every check is made, but their payloads
    /// are not loaded again.
    pub fn finish_discarding_chunks(self) -> Result<(), WavError> {
        self.finish_keeping(false).map(drop)
    }

    fn finish_keeping(mut self, keep: bool) -> Result<Vec<ForeignChunk>, WavError> {
        let left = self.info.data_len - self.data_read;
        if left > 0 {
            let got = self
                .src
                .skip(left, &mut self.buf)
                .map_err(|source| WavError::Io {
                    path: self.path.clone(),
                    source,
                })?;
            self.data_read += got;
            if got < left {
                return Err(self.truncated(self.data_read));
            }
        }
        let ctx = Ctx {
            path: &self.path,
            container: self.info.container,
            riff_end: self.riff_end,
            ds64: self.ds64.take(),
        };
        let src = &mut self.src;
        let buf = &mut self.buf;

        skip_pad(src, &ctx, self.info.data_len)?;
        let mut last_odd = self.info.data_len % 2 == 1;
        let mut chunks = Vec::new();
        let mut budget = Budget::of(&self.info.chunks);
        while src.pos < ctx.riff_end {
            let Some((id, size32, offset)) = next_header(src, &ctx)? else {
                break;
            };
            let size = ctx.chunk_size(&id, offset, size32)?;
            ctx.check_inside(&id, offset, size)?;
            match &id {
                b"data" | b"fmt " | b"ds64" => {
                    return Err(ctx.bad(
                        &id,
                        offset,
                        "found after the data chunk; only one data chunk, after the format, is \
                         accepted",
                    ))
                }
                _ if is_filler(&id) => skip_payload(src, &ctx, size, buf)?,
                _ => {
                    budget.take(&ctx, &id, offset, size)?;
                    if keep {
                        let data = load_payload(src, &ctx, size)?;
                        chunks.push(ForeignChunk {
                            id,
                            data,
                            after_data: true,
                        });
                    } else {
                        skip_payload(src, &ctx, size, buf)?;
                    }
                }
            }
            skip_pad(src, &ctx, size)?;
            last_odd = size % 2 == 1;
        }
        // Whatever follows the form is read too: the tap must see it, and its length decides
        // whether the RIFF size told the truth.
        src.skip(u64::MAX, buf).map_err(|e| ctx.io(e))?;
        let actual = src.pos;
        // A final odd chunk's pad byte may be missing, or present but not counted in the RIFF
        // size; either way one byte of slack, and only then.
        let slack = u64::from(last_odd);
        if actual.abs_diff(ctx.riff_end) > slack {
            return Err(ctx.riff_mismatch(actual));
        }
        Ok(chunks)
    }
}

/// Converts whole frames of little-endian integer PCM to right-justified `i32`. The sign
/// extension for 24-bit comes free from placing the three bytes at the top of an `i32` and
/// shifting arithmetically; the valid-bits shift folds into the same shift.
fn convert(bytes: &[u8], out: &mut [i32], layout: SampleLayout) {
    let shift = layout.shift;
    match layout.bytes {
        2 => {
            let (samples, _) = bytes.as_chunks::<2>();
            for (o, s) in out.iter_mut().zip(samples) {
                *o = i32::from(i16::from_le_bytes(*s)) >> shift;
            }
        }
        3 => {
            let (samples, _) = bytes.as_chunks::<3>();
            let shift = shift + 8;
            for (o, s) in out.iter_mut().zip(samples) {
                *o = i32::from_le_bytes([0, s[0], s[1], s[2]]) >> shift;
            }
        }
        _ => {
            let (samples, _) = bytes.as_chunks::<4>();
            for (o, s) in out.iter_mut().zip(samples) {
                *o = i32::from_le_bytes(*s) >> shift;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;
    use std::sync::{Arc, Mutex};

    // ---- WAV images built in memory, so any malformed variant can be made. ----

    /// A chunk with header and, for odd sizes, the pad byte.
    fn chunk(id: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut v = id.to_vec();
        v.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        v.extend_from_slice(payload);
        if payload.len() % 2 == 1 {
            v.push(0);
        }
        v
    }

    /// A RIFF/WAVE file of these chunks, with a truthful RIFF size.
    fn riff(chunks: &[Vec<u8>]) -> Vec<u8> {
        let mut body = b"WAVE".to_vec();
        for c in chunks {
            body.extend_from_slice(c);
        }
        let mut v = b"RIFF".to_vec();
        v.extend_from_slice(&(body.len() as u32).to_le_bytes());
        v.extend_from_slice(&body);
        v
    }

    fn fmt_raw(tag: u16, channels: u16, rate: u32, bits: u16, block_align: u16) -> Vec<u8> {
        let mut p = Vec::new();
        p.extend_from_slice(&tag.to_le_bytes());
        p.extend_from_slice(&channels.to_le_bytes());
        p.extend_from_slice(&rate.to_le_bytes());
        p.extend_from_slice(&(rate * u32::from(block_align)).to_le_bytes());
        p.extend_from_slice(&block_align.to_le_bytes());
        p.extend_from_slice(&bits.to_le_bytes());
        chunk(b"fmt ", &p)
    }

    fn fmt_pcm(channels: u16, rate: u32, bits: u16) -> Vec<u8> {
        fmt_raw(1, channels, rate, bits, channels * bits / 8)
    }

    fn fmt_ext(channels: u16, bits: u16, valid: u16, mask: u32, sub_tag: u16) -> Vec<u8> {
        let block_align = channels * bits / 8;
        let mut p = fmt_raw(0xFFFE, channels, 48_000, bits, block_align)[8..].to_vec();
        p.extend_from_slice(&22u16.to_le_bytes());
        p.extend_from_slice(&valid.to_le_bytes());
        p.extend_from_slice(&mask.to_le_bytes());
        p.extend_from_slice(&sub_tag.to_le_bytes());
        p.extend_from_slice(&SUBTYPE_TAIL);
        chunk(b"fmt ", &p)
    }

    /// Little-endian sample bytes, `bytes` per sample, taken from the low end of each value.
    fn pcm(samples: &[i32], bytes: usize) -> Vec<u8> {
        samples
            .iter()
            .flat_map(|s| s.to_le_bytes()[..bytes].to_vec())
            .collect()
    }

    fn data(samples: &[i32], bytes: usize) -> Vec<u8> {
        chunk(b"data", &pcm(samples, bytes))
    }

    /// An RF64 (or BW64) file: ds64 first, size placeholders in the RIFF and data headers.
    fn rf64(magic: &[u8; 4], fmt: &[u8], audio: &[u8], after: &[Vec<u8>]) -> Vec<u8> {
        let mut v = magic.to_vec();
        v.extend_from_slice(&u32::MAX.to_le_bytes());
        v.extend_from_slice(b"WAVE");
        v.extend_from_slice(b"ds64");
        v.extend_from_slice(&28u32.to_le_bytes());
        let ds64_at = v.len();
        v.extend_from_slice(&[0u8; 28]);
        v.extend_from_slice(fmt);
        v.extend_from_slice(b"data");
        v.extend_from_slice(&u32::MAX.to_le_bytes());
        v.extend_from_slice(audio);
        if audio.len() % 2 == 1 {
            v.push(0);
        }
        for c in after {
            v.extend_from_slice(c);
        }
        let riff_size = v.len() as u64 - 8;
        v[ds64_at..ds64_at + 8].copy_from_slice(&riff_size.to_le_bytes());
        v[ds64_at + 8..ds64_at + 16].copy_from_slice(&(audio.len() as u64).to_le_bytes());
        v
    }

    fn set_u32(img: &mut [u8], at: usize, value: u32) {
        img[at..at + 4].copy_from_slice(&value.to_le_bytes());
    }

    fn find(img: &[u8], id: &[u8; 4]) -> usize {
        img.windows(4)
            .position(|w| w == id)
            .expect("chunk id in image")
    }

    fn reader(img: &[u8]) -> Result<WavReader<Cursor<Vec<u8>>>, WavError> {
        WavReader::new(Cursor::new(img.to_vec()), PathBuf::from("take.wav"))
    }

    /// Reads a whole image `frames_per_call` frames at a time: info, samples, trailing chunks.
    fn read_with(
        img: &[u8],
        frames_per_call: usize,
    ) -> Result<(WavInfo, Vec<i32>, Vec<ForeignChunk>), WavError> {
        let mut r = reader(img)?;
        let info = r.info().clone();
        let mut all = Vec::new();
        let mut buf = vec![0i32; frames_per_call * usize::from(info.channels)];
        loop {
            let n = r.read_frames(&mut buf)?;
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n * usize::from(info.channels)]);
        }
        let trailing = r.finish()?;
        Ok((info, all, trailing))
    }

    fn read_all(img: &[u8]) -> Result<(WavInfo, Vec<i32>, Vec<ForeignChunk>), WavError> {
        read_with(img, 4096)
    }

    fn refused(img: &[u8]) -> WavError {
        match read_all(img) {
            Ok(_) => panic!("the image was accepted"),
            Err(e) => e,
        }
    }

    /// Writes an image to a temporary file and reads it through `open`, which knows the length.
    fn read_file(img: &[u8]) -> Result<(WavInfo, Vec<i32>, Vec<ForeignChunk>), WavError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("take.wav");
        std::fs::write(&path, img).expect("write image");
        let mut r = WavReader::open(&path)?;
        let info = r.info().clone();
        let mut all = vec![0i32; info.frames.0 as usize * usize::from(info.channels)];
        let n = if all.is_empty() {
            0
        } else {
            r.read_frames(&mut all)?
        };
        all.truncate(n * usize::from(info.channels));
        let trailing = r.finish()?;
        Ok((info, all, trailing))
    }

    // ---- Samples. ----

    #[test]
    fn pcm16_round_trips_extremes() {
        let s = [0, 1, -1, 32767, -32768, 12345, -12345, 256];
        let img = riff(&[fmt_pcm(2, 44_100, 16), data(&s, 2)]);
        let (info, got, trailing) = read_all(&img).unwrap();
        assert_eq!(got, s);
        assert_eq!(info.container, Container::Riff);
        assert_eq!((info.sample_rate, info.channels), (44_100, 2));
        assert_eq!((info.bits_per_sample, info.valid_bits), (16, 16));
        assert_eq!(info.channel_mask, None);
        assert_eq!(info.frames, FrameCount(4));
        assert_eq!(info.data_offset, 44);
        assert_eq!(info.data_len, 16);
        assert!(info.chunks.is_empty() && trailing.is_empty());
    }

    #[test]
    fn pcm24_round_trips_extremes_and_sign_extends() {
        let s = [0, 1, -1, 8_388_607, -8_388_608, 0x12_3456, -0x12_3456];
        let img = riff(&[fmt_pcm(1, 96_000, 24), data(&s, 3)]);
        let (info, got, _) = read_all(&img).unwrap();
        assert_eq!(got, s);
        assert_eq!((info.bits_per_sample, info.valid_bits), (24, 24));
        assert_eq!(info.frames, FrameCount(7));
        // The raw bytes 00 00 80 are the most negative 24-bit value, not +8388608.
        let img = riff(&[
            fmt_pcm(1, 96_000, 24),
            chunk(b"data", &[0, 0, 0x80, 1, 0, 0]),
        ]);
        assert_eq!(read_all(&img).unwrap().1, [-8_388_608, 1]);
    }

    #[test]
    fn pcm32_round_trips_extremes() {
        let s = [0, 1, -1, i32::MAX, i32::MIN, 0x1234_5678, -0x1234_5678, 7];
        let img = riff(&[fmt_pcm(2, 192_000, 32), data(&s, 4)]);
        let (info, got, _) = read_all(&img).unwrap();
        assert_eq!(got, s);
        assert_eq!((info.bits_per_sample, info.valid_bits), (32, 32));
    }

    #[test]
    fn extensible_24_in_32_is_shifted_down_to_24_bits() {
        let s = [0, 1, -1, 8_388_607, -8_388_608, 0x12_3456];
        let left_justified: Vec<i32> = s.iter().map(|v| v << 8).collect();
        let img = riff(&[fmt_ext(2, 32, 24, 0x3, 1), data(&left_justified, 4)]);
        let (info, got, _) = read_all(&img).unwrap();
        assert_eq!(got, s);
        assert_eq!((info.bits_per_sample, info.valid_bits), (32, 24));
        assert_eq!(info.channel_mask, Some(0x3));
        assert_eq!(info.block_align(), 8);
    }

    #[test]
    fn extensible_pcm_at_full_width_and_zero_valid_bits_read_plainly() {
        let s = [i32::MAX, i32::MIN, 5, -5];
        let img = riff(&[fmt_ext(2, 32, 32, 0x3, 1), data(&s, 4)]);
        assert_eq!(read_all(&img).unwrap().1, s);
        // wValidBitsPerSample 0 means the whole container.
        let s = [32767, -32768];
        let img = riff(&[fmt_ext(1, 16, 0, 0x4, 1), data(&s, 2)]);
        let (info, got, _) = read_all(&img).unwrap();
        assert_eq!(got, s);
        assert_eq!(info.valid_bits, 16);
    }

    #[test]
    fn interleaving_is_kept_for_mono_stereo_and_eight_channels() {
        for channels in [1u16, 2, 8] {
            for bits in [16u16, 24, 32] {
                let frames = 1000;
                // Each sample names its frame and channel, so any reordering shows.
                let s: Vec<i32> = (0..frames)
                    .flat_map(|f| (0..channels).map(move |c| f * 16 + i32::from(c)))
                    .map(|v| if v % 3 == 0 { -v } else { v })
                    .collect();
                let img = riff(&[
                    fmt_pcm(channels, 48_000, bits),
                    data(&s, usize::from(bits / 8)),
                ]);
                let (info, got, _) = read_all(&img).unwrap();
                assert_eq!(info.frames, FrameCount(frames as u64));
                assert_eq!(got, s, "{channels} channels, {bits} bits");
            }
        }
    }

    #[test]
    fn tiny_output_buffers_give_the_same_samples_as_big_ones() {
        let s: Vec<i32> = (0..30_001 * 2)
            .map(|i| (i * 7919 % 16_777_216) - 8_388_608)
            .collect();
        let img = riff(&[fmt_pcm(2, 48_000, 24), data(&s, 3)]);
        let big = read_with(&img, 1 << 16).unwrap();
        let one = read_with(&img, 1).unwrap();
        let odd = read_with(&img, 777).unwrap();
        assert_eq!(big.1, s);
        assert_eq!(one.1, s);
        assert_eq!(odd.1, s);
    }

    #[test]
    fn audio_larger_than_a_read_block_streams_across_block_boundaries() {
        // 3-byte stereo frames do not divide the read block, so frames straddle refills.
        let frames = READ_BLOCK / 6 * 3 + 17;
        let s: Vec<i32> = (0..frames as i32 * 2)
            .map(|i| (i.wrapping_mul(40_503) % 8_388_607) * if i % 2 == 0 { 1 } else { -1 })
            .collect();
        let img = riff(&[fmt_pcm(2, 48_000, 24), data(&s, 3)]);
        assert_eq!(read_with(&img, 10_000).unwrap().1, s);
        assert_eq!(read_file(&img).unwrap().1, s);
    }

    #[test]
    fn short_read_only_at_the_end_and_zero_after() {
        let s: Vec<i32> = (0..10).collect();
        let img = riff(&[fmt_pcm(1, 48_000, 16), data(&s, 2)]);
        let mut r = reader(&img).unwrap();
        let mut buf = [0i32; 4];
        assert_eq!(r.read_frames(&mut buf).unwrap(), 4);
        assert_eq!(r.read_frames(&mut buf).unwrap(), 4);
        assert_eq!(r.position(), FrameIndex(8));
        assert_eq!(r.read_frames(&mut buf).unwrap(), 2);
        assert_eq!(&buf[..2], &[8, 9]);
        assert_eq!(r.read_frames(&mut buf).unwrap(), 0);
        assert_eq!(r.read_frames(&mut buf).unwrap(), 0);
        r.finish().unwrap();
    }

    #[test]
    #[should_panic(expected = "not a whole number")]
    fn an_output_buffer_that_is_not_whole_frames_is_a_caller_bug() {
        let img = riff(&[fmt_pcm(2, 48_000, 16), data(&[1, 2], 2)]);
        let _ = reader(&img).unwrap().read_frames(&mut [0i32; 3]);
    }

    // ---- Chunks. ----

    #[test]
    fn chunks_before_and_after_data_are_carried_in_order() {
        let bext = vec![b'b'; 602];
        let ixml = b"<BWFXML></BWFXML>".to_vec(); // 17 bytes: odd
        let list = b"INFOINAM\x04\x00\x00\x00take".to_vec();
        let img = riff(&[
            fmt_pcm(2, 48_000, 24),
            chunk(b"bext", &bext),
            chunk(b"JUNK", &[0; 28]),
            chunk(b"iXML", &ixml),
            data(&[1, -1, 2, -2], 3),
            chunk(b"LIST", &list),
        ]);
        let (info, got, trailing) = read_all(&img).unwrap();
        assert_eq!(got, [1, -1, 2, -2]);
        let before = [
            ForeignChunk {
                id: *b"bext",
                data: bext,
                after_data: false,
            },
            ForeignChunk {
                id: *b"iXML",
                data: ixml,
                after_data: false,
            },
        ];
        assert_eq!(info.chunks, before);
        let after = [ForeignChunk {
            id: *b"LIST",
            data: list,
            after_data: true,
        }];
        assert_eq!(trailing, after);
        // The seeking path used before the real read agrees with the streaming one.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("take.wav");
        std::fs::write(&path, &img).unwrap();
        assert_eq!(read_trailing_chunks(&path, &info).unwrap(), after);
    }

    #[test]
    fn filler_chunks_are_skipped_wherever_they_are() {
        let img = riff(&[
            chunk(b"JUNK", &[0; 4]),
            fmt_pcm(1, 48_000, 16),
            chunk(b"fact", &4u32.to_le_bytes()),
            chunk(b"PAD ", &[0; 3]),
            data(&[1, 2, 3, 4], 2),
            chunk(b"FLLR", &[0; 9]),
            chunk(b"cue ", &[1; 4]),
            chunk(b"junk", &[0; 5]),
        ]);
        let (info, got, trailing) = read_all(&img).unwrap();
        assert_eq!(got, [1, 2, 3, 4]);
        assert!(info.chunks.is_empty());
        assert_eq!(trailing.len(), 1);
        assert_eq!(&trailing[0].id, b"cue ");
    }

    #[test]
    fn odd_sized_chunks_and_their_pad_bytes_before_and_after_data() {
        let cust = [7u8, 8, 9];
        let ixml = b"<x/>a".to_vec();
        let img = riff(&[
            chunk(b"cust", &cust),
            chunk(b"junk", &[1, 2, 3]),
            fmt_pcm(1, 48_000, 24),
            chunk(b"iXML", &ixml),
            // 3 frames of 3 bytes: the data chunk itself is odd.
            data(&[5, -6, 7], 3),
            chunk(b"cust", &cust),
            chunk(b"iXML", &ixml),
        ]);
        let (info, got, trailing) = read_all(&img).unwrap();
        assert_eq!(got, [5, -6, 7]);
        let ids: Vec<_> = info.chunks.iter().map(|c| (c.id, c.data.clone())).collect();
        assert_eq!(ids, [(*b"cust", cust.to_vec()), (*b"iXML", ixml.clone())]);
        let ids: Vec<_> = trailing.iter().map(|c| (c.id, c.data.clone())).collect();
        assert_eq!(ids, [(*b"cust", cust.to_vec()), (*b"iXML", ixml)]);
        assert!(trailing.iter().all(|c| c.after_data));
        assert_eq!(read_file(&img).unwrap().2, trailing);
    }

    #[test]
    fn a_missing_final_pad_byte_is_accepted_either_way_the_riff_size_counts_it() {
        let base = riff(&[
            fmt_pcm(1, 48_000, 16),
            data(&[1, 2], 2),
            chunk(b"cust", &[9, 9, 9]),
        ]);
        // Pad byte counted in the RIFF size but not written.
        let counted = base[..base.len() - 1].to_vec();
        // Pad byte neither counted nor written.
        let mut uncounted = counted.clone();
        let riff_size = uncounted.len() as u32 - 8;
        set_u32(&mut uncounted, 4, riff_size);
        // Pad byte written but not counted.
        let mut written = base.clone();
        set_u32(&mut written, 4, riff_size);
        // Odd data chunk last, pad missing.
        let odd_data = riff(&[fmt_pcm(1, 48_000, 24), data(&[1], 3)]);
        let odd_data = odd_data[..odd_data.len() - 1].to_vec();
        for img in [&counted, &uncounted, &written, &odd_data] {
            read_all(img).unwrap();
            read_file(img).unwrap();
        }
        // Two bytes short is not a pad byte.
        let short = base[..base.len() - 2].to_vec();
        assert!(matches!(refused(&short), WavError::RiffSizeMismatch { .. }));
    }

    #[test]
    fn an_oversized_metadata_chunk_is_refused_not_loaded() {
        let mut img = riff(&[
            fmt_pcm(1, 48_000, 16),
            chunk(b"big ", &[0; 8]),
            data(&[1], 2),
        ]);
        let at = find(&img, b"big ");
        let huge = MAX_CHUNK_BYTES as u32 + 2;
        set_u32(&mut img, at + 4, huge);
        let riff_size = img.len() as u32 - 8 + huge;
        set_u32(&mut img, 4, riff_size);
        let e = refused(&img);
        assert!(
            matches!(&e, WavError::BadChunk { id, .. } if id == "big "),
            "{e}"
        );
        assert!(e.to_string().contains("limited to"), "{e}");
    }

    // ---- RF64 / BW64. ----

    #[test]
    fn rf64_and_bw64_take_their_sizes_from_ds64() {
        let s = [8_388_607, -8_388_608, 1, -1, 0, 42];
        let list = chunk(b"LIST", b"INFOabcd");
        for magic in [b"RF64", b"BW64"] {
            let img = rf64(
                magic,
                &fmt_pcm(2, 48_000, 24),
                &pcm(&s, 3),
                std::slice::from_ref(&list),
            );
            let (info, got, trailing) = read_all(&img).unwrap();
            assert_eq!(info.container, Container::Rf64);
            assert_eq!(info.frames, FrameCount(3));
            assert_eq!(info.data_len, 18);
            assert_eq!(got, s);
            assert_eq!(trailing.len(), 1);
            assert_eq!(&trailing[0].data, b"INFOabcd");
            assert_eq!(read_file(&img).unwrap().1, s);
        }
    }

    #[test]
    fn rf64_sizes_that_disagree_or_a_late_ds64_are_refused() {
        let audio = pcm(&[1, 2, 3, 4], 2);
        let img = rf64(b"RF64", &fmt_pcm(1, 48_000, 16), &audio, &[]);
        // ds64's data size says more than the file holds.
        let mut lie = img.clone();
        lie[28..36].copy_from_slice(&(1u64 << 33).to_le_bytes());
        let e = refused(&lie);
        assert!(
            matches!(e, WavError::BadChunk { ref id, .. } if id == "data"),
            "{e}"
        );
        assert!(matches!(read_file(&lie), Err(WavError::Truncated { .. })));
        // ds64 not first.
        let mut late = b"RF64\xFF\xFF\xFF\xFFWAVE".to_vec();
        late.extend_from_slice(&fmt_pcm(1, 48_000, 16));
        late.extend_from_slice(&img[12..48]);
        late.extend_from_slice(&img[48 + 24..]);
        let e = refused(&late);
        assert!(e.to_string().contains("must start with a ds64"), "{e}");
        // ds64 in a plain RIFF file.
        let img = riff(&[
            chunk(b"ds64", &[0; 28]),
            fmt_pcm(1, 48_000, 16),
            data(&[1], 2),
        ]);
        assert!(refused(&img).to_string().contains("ds64 is only allowed"));
    }

    /// A reader that produces an RF64 header and then `audio_len` bytes of a repeating pattern,
    /// without holding them, to prove sizes beyond 4 GiB stream correctly.
    struct Synthetic {
        head: Vec<u8>,
        audio_len: u64,
        pos: u64,
    }

    impl Read for Synthetic {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let head_len = self.head.len() as u64;
            let total = head_len + self.audio_len;
            let n = (buf.len() as u64).min(total - self.pos) as usize;
            for (i, b) in buf[..n].iter_mut().enumerate() {
                let at = self.pos + i as u64;
                *b = if at < head_len {
                    self.head[at as usize]
                } else {
                    ((at - head_len) % 251) as u8
                };
            }
            self.pos += n as u64;
            Ok(n)
        }
    }

    #[test]
    #[ignore = "streams 4.3 GB; run with --ignored"]
    fn rf64_over_4_gib_streams_to_the_end() {
        let audio_len = (1u64 << 32) + 4 * 1001; // whole 4-byte stereo frames
        let mut head = rf64(b"RF64", &fmt_pcm(2, 48_000, 16), &[], &[]);
        head[28..36].copy_from_slice(&audio_len.to_le_bytes());
        let riff_size = head.len() as u64 - 8 + audio_len;
        head[20..28].copy_from_slice(&riff_size.to_le_bytes());
        let tapped = Arc::new(Mutex::new(0u64));
        let t = Arc::clone(&tapped);
        let src = Synthetic {
            head,
            audio_len,
            pos: 0,
        };
        let total = src.head.len() as u64 + audio_len;
        let mut r = WavReader::with_tap(
            src,
            "big.wav".into(),
            Box::new(move |b: &[u8]| *t.lock().unwrap() += b.len() as u64),
        )
        .unwrap();
        assert_eq!(r.info().frames, FrameCount(audio_len / 4));
        let mut buf = vec![0i32; 1 << 17];
        let mut frames = 0u64;
        let mut last = 0;
        loop {
            let n = r.read_frames(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            frames += n as u64;
            last = buf[n * 2 - 1];
        }
        assert_eq!(frames, audio_len / 4);
        // The last sample's bytes are pattern positions audio_len-2 and audio_len-1.
        let lo = ((audio_len - 2) % 251) as u8;
        let hi = ((audio_len - 1) % 251) as u8;
        assert_eq!(last, i32::from(i16::from_le_bytes([lo, hi])));
        r.finish().unwrap();
        assert_eq!(*tapped.lock().unwrap(), total);
    }

    // ---- Damage and lies. ----

    fn cut_image() -> (Vec<u8>, Vec<u8>) {
        let s: Vec<i32> = (0..2 * 24_000).map(|i| i % 1000).collect();
        let whole = riff(&[fmt_pcm(2, 48_000, 16), data(&s, 2)]);
        // 4000 bytes = 1000 frames short.
        let cut = whole[..whole.len() - 4000].to_vec();
        (whole, cut)
    }

    #[test]
    fn a_truncated_file_is_refused_when_reading_reaches_the_early_end() {
        let (_, cut) = cut_image();
        let e = refused(&cut);
        assert!(
            matches!(
                e,
                WavError::Truncated {
                    expected_frames: FrameCount(24_000),
                    got_frames: FrameCount(23_000),
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(
            e.to_string(),
            "take.wav: truncated: the header promises 24000 frames but the file ends after \
             23000 frames (at 00:00:00.479)"
        );
        // Even a caller that skips the audio and goes straight to finish learns it.
        let e = reader(&cut).unwrap().finish().unwrap_err();
        assert!(matches!(e, WavError::Truncated { .. }), "{e}");
    }

    #[test]
    fn a_truncated_file_is_refused_at_open_when_the_length_is_known() {
        let (_, cut) = cut_image();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cut.wav");
        std::fs::write(&path, &cut).unwrap();
        let e = WavReader::open(&path).err().expect("refused at open");
        assert!(
            matches!(
                e,
                WavError::Truncated {
                    got_frames: FrameCount(23_000),
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("cut.wav"), "{e}");
    }

    #[test]
    fn a_data_size_larger_than_the_file_is_refused() {
        let (whole, _) = cut_image();
        let at = find(&whole, b"data") + 4;
        let promised = 96_000 + 400;
        // The RIFF size agrees with the lie: only reading can tell.
        let mut both = whole.clone();
        set_u32(&mut both, at, promised);
        set_u32(&mut both, 4, 36 + promised);
        assert!(matches!(refused(&both), WavError::Truncated { .. }));
        assert!(matches!(read_file(&both), Err(WavError::Truncated { .. })));
        // Only the data size lies: it runs past the RIFF form, and past the file.
        let mut data_only = whole.clone();
        set_u32(&mut data_only, at, promised);
        let e = refused(&data_only);
        assert!(
            matches!(e, WavError::BadChunk { ref id, .. } if id == "data"),
            "{e}"
        );
        assert!(
            e.to_string().contains("past the end of the RIFF form"),
            "{e}"
        );
        assert!(matches!(
            read_file(&data_only),
            Err(WavError::Truncated { .. })
        ));
    }

    #[test]
    fn a_riff_size_that_lies_is_refused() {
        let (whole, _) = cut_image();
        let declared = u32::from_le_bytes(whole[4..8].try_into().unwrap());
        for lie in [declared + 1000, declared - 2, declared + 2, declared + 1] {
            let mut img = whole.clone();
            set_u32(&mut img, 4, lie);
            let e = match read_all(&img) {
                Err(e) => e,
                Ok(_) => panic!("RIFF size {lie} accepted"),
            };
            if lie < declared {
                // The form now ends before the audio does.
                assert!(matches!(e, WavError::BadChunk { .. }), "{e}");
            } else {
                assert!(
                    matches!(e, WavError::RiffSizeMismatch { declared: d, actual, .. }
                        if d == u64::from(lie) + 8 && actual == whole.len() as u64),
                    "{e}"
                );
                assert!(e.to_string().contains("RIFF header says"), "{e}");
            }
            let e = read_file(&img).expect_err("refused");
            assert!(matches!(e, WavError::RiffSizeMismatch { .. }), "{e}");
        }
        // Bytes after the form that the RIFF size does not count.
        let mut extra = whole.clone();
        extra.extend_from_slice(&chunk(b"LIST", b"INFO"));
        let e = refused(&extra);
        assert!(matches!(e, WavError::RiffSizeMismatch { .. }), "{e}");
    }

    #[test]
    fn a_trailing_chunk_cut_short_is_refused() {
        let img = riff(&[
            fmt_pcm(1, 48_000, 16),
            data(&[1, 2], 2),
            chunk(b"LIST", &[b'x'; 100]),
        ]);
        let cut = &img[..img.len() - 50];
        assert!(matches!(refused(cut), WavError::RiffSizeMismatch { .. }));
        let cut = &img[..img.len() - 105];
        assert!(matches!(refused(cut), WavError::RiffSizeMismatch { .. }));
    }

    #[test]
    fn a_data_length_that_is_not_whole_frames_is_refused() {
        let img = riff(&[fmt_pcm(2, 48_000, 24), chunk(b"data", &[0; 6 * 10 + 4])]);
        let e = refused(&img);
        assert!(
            matches!(
                e,
                WavError::PartialFrame {
                    bytes: 64,
                    block_align: 6,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("64 bytes"), "{e}");
        assert!(e.to_string().contains("6-byte frames"), "{e}");
    }

    #[test]
    fn a_block_align_that_does_not_fit_the_format_is_refused() {
        let img = riff(&[fmt_raw(1, 2, 48_000, 24, 8), chunk(b"data", &[0; 16])]);
        let e = refused(&img);
        assert!(
            matches!(e, WavError::BadChunk { ref id, .. } if id == "fmt "),
            "{e}"
        );
        assert!(e.to_string().contains("block align is 8"), "{e}");
    }

    // ---- Refused formats. ----

    #[test]
    fn float_is_refused_by_tag_and_by_extensible_subformat() {
        let img = riff(&[fmt_raw(3, 2, 48_000, 32, 8), data(&[0, 0], 4)]);
        let e = refused(&img);
        assert!(
            matches!(
                e,
                WavError::Float {
                    extensible: false,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("float PCM is not accepted"), "{e}");
        assert!(e.to_string().contains("take.wav"), "{e}");
        let img = riff(&[fmt_ext(2, 32, 32, 3, 3), data(&[0, 0], 4)]);
        let e = refused(&img);
        assert!(
            matches!(
                e,
                WavError::Float {
                    extensible: true,
                    ..
                }
            ),
            "{e}"
        );
        // 64-bit float too, which is not even a permitted integer width.
        let img = riff(&[fmt_raw(3, 1, 48_000, 64, 8), chunk(b"data", &[0; 8])]);
        assert!(matches!(refused(&img), WavError::Float { .. }));
    }

    #[test]
    fn compressed_and_unknown_formats_are_refused_naming_the_tag() {
        let img = riff(&[fmt_raw(0x0055, 2, 48_000, 16, 4), data(&[0, 0], 2)]);
        let e = refused(&img);
        assert!(matches!(e, WavError::Compressed { tag: 0x0055, .. }), "{e}");
        assert!(e.to_string().contains("0x0055 (MPEG Layer 3)"), "{e}");
        let img = riff(&[fmt_ext(2, 16, 16, 3, 0x0002), data(&[0, 0], 2)]);
        assert!(refused(&img).to_string().contains("0x0002"));
        // An extensible sub-format outside the KSDATAFORMAT family.
        let mut f = fmt_ext(2, 16, 16, 3, 1);
        let n = f.len();
        f[n - 1] = 0;
        let e = refused(&riff(&[f, data(&[0, 0], 2)]));
        assert!(
            matches!(e, WavError::UnknownSubformat { ref guid, .. } if guid.ends_with("389B00")),
            "{e}"
        );
    }

    #[test]
    fn eight_bit_and_odd_widths_are_refused() {
        let img = riff(&[fmt_pcm(1, 48_000, 8), chunk(b"data", &[128; 4])]);
        let e = refused(&img);
        assert!(matches!(e, WavError::BitDepth { bits: 8, .. }), "{e}");
        assert!(e.to_string().contains("8-bit"), "{e}");
        let img = riff(&[fmt_raw(1, 1, 48_000, 20, 3), chunk(b"data", &[0; 6])]);
        assert!(matches!(refused(&img), WavError::BitDepth { bits: 20, .. }));
        // More valid bits than the container, or fewer than 16.
        for valid in [33u16, 12] {
            let img = riff(&[fmt_ext(1, 32, valid, 4, 1), data(&[0], 4)]);
            let e = refused(&img);
            assert!(
                matches!(e, WavError::ValidBits { container: 32, .. }),
                "{e}"
            );
        }
    }

    #[test]
    fn missing_fmt_or_data_is_refused() {
        let e = refused(&riff(&[data(&[1, 2], 2)]));
        assert!(matches!(e, WavError::Missing { id: "fmt ", .. }), "{e}");
        assert!(e.to_string().contains("no 'fmt ' chunk"), "{e}");
        let e = refused(&riff(&[fmt_pcm(1, 48_000, 16), chunk(b"LIST", b"INFO")]));
        assert!(matches!(e, WavError::Missing { id: "data", .. }), "{e}");
        let e = read_file(&riff(&[fmt_pcm(1, 48_000, 16)])).unwrap_err();
        assert!(matches!(e, WavError::Missing { id: "data", .. }), "{e}");
        // fmt after data is the same as no fmt before it.
        let e = refused(&riff(&[data(&[1], 2), fmt_pcm(1, 48_000, 16)]));
        assert!(matches!(e, WavError::Missing { id: "fmt ", .. }), "{e}");
    }

    #[test]
    fn a_second_data_chunk_is_refused() {
        let img = riff(&[fmt_pcm(1, 48_000, 16), data(&[1], 2), data(&[2], 2)]);
        let e = refused(&img);
        assert!(
            matches!(e, WavError::BadChunk { ref id, .. } if id == "data"),
            "{e}"
        );
    }

    #[test]
    fn things_that_are_not_wav_are_refused() {
        for (img, says) in [
            (&b"this is not a wave file at all"[..], "not RIFF"),
            (&b"RIFF"[..], "shorter than a RIFF header"),
            (&b"RIFX\x04\x00\x00\x00WAVE"[..], "big-endian"),
            (&b"RIFF\x04\x00\x00\x00AVI "[..], "not 'WAVE'"),
            (&b""[..], "0 bytes"),
        ] {
            let e = refused(img);
            assert!(matches!(e, WavError::NotWav { .. }), "{e}");
            assert!(e.to_string().contains("not a WAV file"), "{e}");
            assert!(e.to_string().contains(says), "{e}");
        }
    }

    // ---- The tap. ----

    fn tapped_read(img: &[u8], frames_per_call: usize, read_audio: bool) -> Vec<u8> {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = Arc::clone(&seen);
        let mut r = WavReader::with_tap(
            Cursor::new(img.to_vec()),
            "take.wav".into(),
            Box::new(move |b: &[u8]| s.lock().unwrap().extend_from_slice(b)),
        )
        .unwrap();
        let mut buf = vec![0i32; frames_per_call * usize::from(r.info().channels)];
        while read_audio && r.read_frames(&mut buf).unwrap() > 0 {}
        r.finish().unwrap();
        let out = seen.lock().unwrap().clone();
        out
    }

    #[test]
    fn the_tap_sees_exactly_the_files_bytes() {
        let s: Vec<i32> = (0..3 * 50_001).map(|i| i * 31 - 70_000).collect();
        let images = [
            riff(&[
                chunk(b"bext", &[3; 602]),
                chunk(b"JUNK", &[0; 28]),
                fmt_pcm(3, 48_000, 24),
                chunk(b"iXML", b"<odd/>x"),
                data(&s, 3),
                chunk(b"LIST", b"INFOodd"),
                chunk(b"FLLR", &[0; 64]),
            ]),
            rf64(
                b"BW64",
                &fmt_pcm(3, 48_000, 24),
                &pcm(&s, 3),
                &[chunk(b"axml", b"<a/>")],
            ),
        ];
        for img in &images {
            assert_eq!(&tapped_read(img, 4096, true), img);
            assert_eq!(&tapped_read(img, 1, true), img);
            // Audio never read: finish still drains it through the tap.
            assert_eq!(&tapped_read(img, 1, false), img);
        }
        // A missing final pad byte: the tap gets the file as it is.
        let img = riff(&[
            fmt_pcm(1, 48_000, 16),
            data(&[1], 2),
            chunk(b"x   ", b"abc"),
        ]);
        let img = &img[..img.len() - 1];
        assert_eq!(tapped_read(img, 7, true), img);
    }

    #[test]
    fn open_with_tap_hashes_the_file_on_disk() {
        let img = riff(&[
            fmt_pcm(2, 44_100, 16),
            data(&(0..20_000).collect::<Vec<_>>(), 2),
            chunk(b"LIST", b"INFO"),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("take.wav");
        std::fs::write(&path, &img).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = Arc::clone(&seen);
        let mut r = WavReader::open_with_tap(
            &path,
            Box::new(move |b: &[u8]| s.lock().unwrap().extend_from_slice(b)),
        )
        .unwrap();
        let mut buf = vec![0i32; 2 * 333];
        while r.read_frames(&mut buf).unwrap() > 0 {}
        assert_eq!(r.finish().unwrap().len(), 1);
        assert_eq!(*seen.lock().unwrap(), img);
    }

    #[test]
    fn errors_name_the_file_and_io_errors_are_reported() {
        let e = WavReader::open(Path::new("/nonexistent/dir/take.wav"))
            .err()
            .expect("no such file");
        assert!(matches!(e, WavError::Io { .. }), "{e}");
        assert!(
            e.to_string().starts_with("/nonexistent/dir/take.wav: "),
            "{e}"
        );
    }

    // ---- Throughput (printed, not asserted). ----

    #[test]
    #[ignore = "throughput measurement; run with --ignored --nocapture"]
    fn throughput() {
        use std::time::Instant;
        // Ten minutes of 96 kHz / 24-bit stereo: 345.6 MB of audio.
        let frames = 96_000 * 600;
        let mut audio = vec![0u8; frames * 6];
        for (i, b) in audio.iter_mut().enumerate() {
            *b = (i.wrapping_mul(2_654_435_761) >> 13) as u8;
        }
        let mut img = b"RIFF\0\0\0\0WAVE".to_vec();
        img.extend_from_slice(&fmt_pcm(2, 96_000, 24));
        img.extend_from_slice(b"data");
        img.extend_from_slice(&(audio.len() as u32).to_le_bytes());
        img.extend_from_slice(&audio);
        drop(audio);
        let riff_size = img.len() as u32 - 8;
        set_u32(&mut img, 4, riff_size);
        let mb = img.len() as f64 / 1e6;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.wav");
        std::fs::write(&path, &img).unwrap();

        let mut buf = vec![0i32; 16_384 * 2];
        let mut checksum = 0i64;
        let t = Instant::now();
        let mut r = WavReader::new(Cursor::new(&img[..]), "mem.wav".into()).unwrap();
        while let n @ 1.. = r.read_frames(&mut buf).unwrap() {
            checksum += i64::from(buf[n * 2 - 1]);
        }
        r.finish().unwrap();
        let mem = t.elapsed().as_secs_f64();

        // Twice, so the second run reads from the page cache like a just-written transfer.
        let mut file = 0.0;
        for _ in 0..2 {
            let t = Instant::now();
            let mut r = WavReader::open(&path).unwrap();
            while let n @ 1.. = r.read_frames(&mut buf).unwrap() {
                checksum += i64::from(buf[n * 2 - 1]);
            }
            r.finish().unwrap();
            file = t.elapsed().as_secs_f64();
        }
        println!(
            "{mb:.1} MB, 96 kHz/24-bit stereo: in memory {mem:.3} s ({:.0} MB/s), \
             from file {file:.3} s ({:.0} MB/s) [checksum {checksum}]",
            mb / mem,
            mb / file
        );
    }
}
