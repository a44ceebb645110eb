//! Capture: takes from an audio interface (or the demo tape) into the archive.

pub mod journal;
