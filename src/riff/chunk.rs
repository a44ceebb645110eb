//! RIFF chunks as `flac --keep-foreign-metadata` stores them: one APPLICATION block of id `riff`
//! per chunk, verbatim (8-byte header, payload, pad byte), in file order: the `RIFF`/`WAVE`
//! header, `fmt `, the chunks before `data`, the `data` header alone, then the chunks after it.
//! `flac -d --keep-foreign-metadata` rebuilds the WAV from these blocks around the decoded audio.
//!
//! Blocks are shared (`Arc`): a source's chunks are read once and the same bytes are handed to
//! every file made from them, never copied per master.

use std::sync::Arc;

/// The largest metadata block libFLAC writes, in bytes after its 4-byte block header. The
/// format's 24-bit length field would allow 16 777 215, but libFLAC's bit writer holds the
/// header and the body together in at most 2^24 bytes (`bitwriter_grow_`, libFLAC 1.4/1.5), so
/// a longer block fails the encoder's start with a framing error.
pub const MAX_METADATA_BLOCK: u64 = (1 << 24) - 4;

/// The largest chunk payload that fits one `riff` APPLICATION block: the block holds the 4-byte
/// application id, the 8-byte chunk header, the payload and, for an odd payload, a pad byte
/// (16 777 212 - 4 - 8 = 16 777 200, even, so the pad of an odd payload below it fits too).
pub const MAX_CARRIED_PAYLOAD: u64 = MAX_METADATA_BLOCK - 4 - 8;

/// One RIFF chunk: header, payload and the pad byte an odd payload needs (RIFF rule).
pub fn chunk(id: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + payload.len() + 1);
    out.extend_from_slice(id);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
    if payload.len() % 2 == 1 {
        out.push(0);
    }
    out
}

/// The channel mask flac's decoder writes for `channels` when the FLAC file names none (no
/// `WAVEFORMATEXTENSIBLE_CHANNEL_MASK` comment): its table, 0 beyond 8 channels.
pub fn flac_default_mask(channels: u16) -> u32 {
    match channels {
        1 => 0x0004,
        2 => 0x0003,
        3 => 0x0007,
        4 => 0x0033,
        5 => 0x0607,
        6 => 0x060f,
        7 => 0x070f,
        8 => 0x063f,
        _ => 0,
    }
}

/// The `fmt ` payload for integer PCM, byte for byte as flac's decoder writes it (flac 1.5
/// compares the `fmt ` it writes with the stored one and fails the restore on any
/// difference): WAVE_FORMAT_EXTENSIBLE for more than 2 channels, more than 16 bits or a mask
/// other than mono's or stereo's, else plain PCM; whole bytes a sample; the mask given, else
/// [`flac_default_mask`]. A mask of 0 cannot be restored by flac (it writes its default), so it
/// is never written.
pub fn fmt_payload(
    channels: u16,
    sample_rate: u32,
    bits: u16,
    channel_mask: Option<u32>,
) -> Vec<u8> {
    let bytes = bits.div_ceil(8);
    let block_align = channels * bytes;
    let mask = channel_mask
        .filter(|&m| m != 0)
        .unwrap_or_else(|| flac_default_mask(channels));
    let extensible = channels > 2 || (bits != 8 && bits != 16) || !matches!(mask, 0 | 3 | 4);
    let mut out = Vec::with_capacity(40);
    out.extend_from_slice(&(if extensible { 0xFFFEu16 } else { 1u16 }).to_le_bytes());
    out.extend_from_slice(&channels.to_le_bytes());
    out.extend_from_slice(&sample_rate.to_le_bytes());
    out.extend_from_slice(&(sample_rate * u32::from(block_align)).to_le_bytes());
    out.extend_from_slice(&block_align.to_le_bytes());
    out.extend_from_slice(&(bytes * 8).to_le_bytes());
    if extensible {
        out.extend_from_slice(&22u16.to_le_bytes());
        out.extend_from_slice(&bits.to_le_bytes());
        out.extend_from_slice(&mask.to_le_bytes());
        // KSDATAFORMAT_SUBTYPE_PCM {00000001-0000-0010-8000-00aa00389b71}
        out.extend_from_slice(&[
            1, 0, 0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xaa, 0, 0x38, 0x9b, 0x71,
        ]);
    }
    out
}

/// The whole `ds64` chunk of an RF64 whose other chunks take `riff_len` bytes after the RF64
/// header (the form type included): its real RIFF size (counting this chunk's 36 bytes), data
/// size and sample count, and no table.
fn ds64_chunk(riff_len: u64, data_len: u64, frames: u64) -> Vec<u8> {
    let mut ds64 = Vec::with_capacity(28);
    ds64.extend_from_slice(&(riff_len + 36).to_le_bytes());
    ds64.extend_from_slice(&data_len.to_le_bytes());
    ds64.extend_from_slice(&frames.to_le_bytes());
    ds64.extend_from_slice(&0u32.to_le_bytes()); // no table
    chunk(b"ds64", &ds64)
}

/// The header of a plain integer PCM WAV holding `data_bytes` of audio (everything before the
/// samples): RIFF when the sizes fit its 32-bit fields and `rf64` is false, else RF64 with its
/// `ds64` chunk (which a journal uses from the start, so that any length fits).
pub fn wav_header(channels: u16, rate: u32, bits: u16, data_bytes: u64, rf64: bool) -> Vec<u8> {
    let fmt = chunk(b"fmt ", &fmt_payload(channels, rate, bits, None));
    let riff_len = 4 + fmt.len() as u64 + 8 + data_bytes;
    let rf64 = rf64 || riff_len >= u64::from(u32::MAX);
    let mut h = Vec::with_capacity(12 + 36 + fmt.len() + 8);
    if rf64 {
        h.extend_from_slice(b"RF64");
        h.extend_from_slice(&u32::MAX.to_le_bytes());
        h.extend_from_slice(b"WAVE");
        let block = u64::from(channels) * u64::from(bits / 8);
        h.extend_from_slice(&ds64_chunk(riff_len, data_bytes, data_bytes / block.max(1)));
    } else {
        h.extend_from_slice(b"RIFF");
        h.extend_from_slice(&(riff_len as u32).to_le_bytes());
        h.extend_from_slice(b"WAVE");
    }
    h.extend_from_slice(&fmt);
    h.extend_from_slice(b"data");
    let data_field = if rf64 { u32::MAX } else { data_bytes as u32 };
    h.extend_from_slice(&data_field.to_le_bytes());
    h
}

/// The audio a WAV's chunks are laid out around.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Audio {
    /// Bytes of the `data` chunk's payload.
    pub data_len: u64,
    /// Frames (ds64's sample count).
    pub frames: u64,
    /// Lay it out as RF64 even when it would fit RIFF (the source was RF64/BW64).
    pub rf64: bool,
}

/// The blocks of a WAV laid out around its audio, as `flac --keep-foreign-metadata` stores
/// them: `before` and `after` are whole chunks (from [`chunk`]) that stand before and after the
/// `data` chunk. A plain RIFF when it fits 4 GiB and the source was not RF64; else RF64 as flac
/// lays one out (the `RF64` header with 0xFFFFFFFF, then `ds64` with the real sizes, `fmt `, the
/// chunks, and `data` with 0xFFFFFFFF), which flac's decoder requires: a RIFF header over 4 GiB
/// cannot be restored.
pub fn foreign_blocks(
    fmt: &[u8],
    before: &[Arc<[u8]>],
    audio: Audio,
    after: &[Arc<[u8]>],
) -> Vec<Arc<[u8]>> {
    let Audio {
        data_len,
        frames,
        rf64,
    } = audio;
    let fmt_chunk = chunk(b"fmt ", fmt);
    let data_total = 8 + data_len + (data_len % 2);
    let riff_len: u64 = 4
        + fmt_chunk.len() as u64
        + before.iter().map(|c| c.len() as u64).sum::<u64>()
        + data_total
        + after.iter().map(|c| c.len() as u64).sum::<u64>();
    // The ds64 chunk: 8 bytes of header, 28 of sizes.
    let rf64 = rf64 || riff_len + 36 > u64::from(u32::MAX);
    let mut blocks = Vec::with_capacity(before.len() + after.len() + 4);
    let mut header = Vec::with_capacity(12);
    if rf64 {
        header.extend_from_slice(b"RF64");
        header.extend_from_slice(&u32::MAX.to_le_bytes());
        header.extend_from_slice(b"WAVE");
        blocks.push(header.into());
        blocks.push(ds64_chunk(riff_len, data_len, frames).into());
    } else {
        header.extend_from_slice(b"RIFF");
        header.extend_from_slice(&(riff_len as u32).to_le_bytes());
        header.extend_from_slice(b"WAVE");
        blocks.push(header.into());
    }
    blocks.push(fmt_chunk.into());
    blocks.extend(before.iter().cloned());
    let mut data = Vec::with_capacity(8);
    data.extend_from_slice(b"data");
    let data_field = if rf64 { u32::MAX } else { data_len as u32 };
    data.extend_from_slice(&data_field.to_le_bytes());
    blocks.push(data.into());
    blocks.extend(after.iter().cloned());
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_chunks_are_padded_and_sizes_add_up() {
        let c = chunk(b"iXML", b"abc");
        assert_eq!(c.len(), 12);
        assert_eq!(&c[4..8], &3u32.to_le_bytes());
        let fmt = fmt_payload(2, 96_000, 24, None);
        assert_eq!(fmt.len(), 40);
        let audio = Audio {
            data_len: 6,
            frames: 1,
            rf64: false,
        };
        let blocks = foreign_blocks(&fmt, &[Arc::from(c.clone())], audio, &[]);
        let riff_len = u32::from_le_bytes(blocks[0][4..8].try_into().unwrap());
        // WAVE + fmt(8+40) + iXML(12) + data(8+6)
        assert_eq!(riff_len, 4 + 48 + 12 + 14);
        assert_eq!(&blocks[3][..4], b"data");

        // An RF64 source keeps RF64: ds64 second, with the sizes RIFF would have had (+ ds64).
        let rf64 = foreign_blocks(
            &fmt,
            &[Arc::from(c)],
            Audio {
                rf64: true,
                ..audio
            },
            &[],
        );
        assert_eq!(&rf64[0][..], b"RF64\xff\xff\xff\xffWAVE");
        assert_eq!(&rf64[1][..8], b"ds64\x1c\0\0\0");
        let u64_at = |i: usize| u64::from_le_bytes(rf64[1][i..i + 8].try_into().unwrap());
        assert_eq!(u64_at(8), 4 + 36 + 48 + 12 + 14);
        assert_eq!((u64_at(16), u64_at(24)), (6, 1));
        assert_eq!(&rf64[4][..], b"data\xff\xff\xff\xff");
    }

    #[test]
    fn audio_over_4_gib_is_laid_out_as_rf64() {
        let fmt = fmt_payload(2, 96_000, 24, None);
        let data_len = 6 * 800_000_000; // 4.8 GB
        let audio = Audio {
            data_len,
            frames: 800_000_000,
            rf64: false,
        };
        let blocks = foreign_blocks(&fmt, &[], audio, &[]);
        assert_eq!(&blocks[0][..4], b"RF64");
        assert_eq!(&blocks[1][..4], b"ds64");
        assert_eq!(
            u64::from_le_bytes(blocks[1][8 + 8..8 + 16].try_into().unwrap()),
            data_len
        );
    }

    #[test]
    fn sixteen_bit_stereo_is_plain_pcm() {
        let fmt = fmt_payload(2, 48_000, 16, None);
        assert_eq!(fmt.len(), 16);
        assert_eq!(&fmt[0..2], &[1, 0]);
        assert_eq!(u32::from_le_bytes(fmt[8..12].try_into().unwrap()), 192_000);
    }
}
