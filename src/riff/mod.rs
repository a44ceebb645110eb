//! Every RIFF/WAVE byte Capstan writes or reads outside the streaming reader, in one place.
//!
//! [`chunk`] lays out chunks (header, payload, pad byte), the `fmt ` payload for integer PCM, the
//! header of a plain WAV (RIFF, or RF64 with `ds64`) and a WAV's chunks around its `data` as
//! `flac --keep-foreign-metadata` stores them. [`bext`] writes and parses the Broadcast Audio
//! Extension. [`info`] reads and writes `LIST/INFO` and names the fields Capstan carries from
//! it. [`MD5_CHUNK`] holds the MD5 of the `data` chunk's bytes, as BWF MetaEdit writes and
//! verifies it (`--MD5-Verify`).
//!
//! The reader of WAV sources (the gate every take passes, fuzzed) is [`crate::source::wav`]; it
//! hands over the chunks it does not interpret, which these modules read.

pub mod bext;
pub mod chunk;
pub mod info;

pub use chunk::{chunk, fmt_payload, foreign_blocks, wav_header, Audio};

/// The id of BWF MetaEdit's MD5 chunk: 16 bytes, the MD5 of the `data` chunk's payload. For
/// integer PCM of 9 bits or more that is the FLAC STREAMINFO MD5 (the same little-endian bytes).
pub const MD5_CHUNK: [u8; 4] = *b"MD5 ";

/// The MD5 chunk's payload for `digest`: BWF MetaEdit, which defines the chunk, reads and
/// writes it as one little-endian 128-bit number whose hex is the digest, so its bytes are the
/// digest's in reverse order.
pub fn md5_chunk_payload(digest: &[u8; 16]) -> [u8; 16] {
    let mut out = *digest;
    out.reverse();
    out
}

/// Whether a WAV of `bits`-bit samples gets an MD5 chunk: its `data` bytes are then those the
/// FLAC MD5 covers (8-bit WAV is unsigned, FLAC's MD5 signed).
pub fn md5_chunk_applies(bits: u32) -> bool {
    bits > 8
}
