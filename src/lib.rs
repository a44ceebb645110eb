//! Capstan: an archival audio transfer station.
//!
//! The core library behind the `capstan` CLI and the station app (`src-tauri/`): transfer
//! profiles ([`profile`]), sources ([`source`]), pure DSP kernels ([`dsp`]), FLAC preservation
//! masters ([`flac`]), the archive and its bags ([`archive`]), the catalogue that indexes it
//! ([`catalogue`]), the QC report ([`report`]), the one path into the archive ([`ingest`]), and
//! an archived item as people look at it ([`item`]). See `docs/design.md` for the data model.

pub mod archive;
pub mod batch;
pub mod capture;
pub mod catalogue;
pub mod demo;
pub mod dsp;
pub mod fixity;
pub mod flac;
pub mod ingest;
pub mod item;
pub mod metadata;
pub mod pending;
pub mod playback;
pub mod profile;
pub mod registry;
pub mod replica;
pub mod report;
pub mod restore;
pub mod review;
pub mod riff;
pub mod source;
pub mod units;
mod vocabulary;
pub mod watch;
