//! Every RIFF/WAVE byte Capstan writes or reads outside the streaming reader, in one place.
//!
//! [`chunk`] lays out chunks (header, payload, pad byte), the `fmt ` payload for integer PCM, the
//! header of a plain WAV (RIFF, or RF64 with `ds64`) and a WAV's chunks around its `data` as
//! `flac --keep-foreign-metadata` stores them. [`bext`] writes and parses the Broadcast Audio
//! Extension. [`info`] reads `LIST/INFO` and names the fields Capstan carries from it.
//!
//! The reader of WAV sources (the gate every take passes, fuzzed) is [`crate::source::wav`]; it
//! hands over the chunks it does not interpret, which these modules read.

pub mod bext;
pub mod chunk;
pub mod info;

pub use chunk::{chunk, fmt_payload, foreign_blocks, wav_header};
