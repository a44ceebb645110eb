//! Declicker: finds impulsive damage (clicks, ticks, scratches, crackle) in a take and replaces
//! only the damaged samples with an interpolation from their surroundings.
//!
//! **Placeholder**: the API is final; the algorithm is being written (nothing is detected yet,
//! so the output is the input, delayed by the kernel's latency).

use crate::units::{FrameCount, FrameIndex};
use serde::{Deserialize, Serialize};

/// Most channels a declicker takes.
pub const MAX_CHANNELS: usize = 64;
/// Lowest sample rate a declicker takes, Hz.
pub const MIN_SAMPLE_RATE: u32 = 8_000;
/// Highest sample rate a declicker takes, Hz.
pub const MAX_SAMPLE_RATE: u32 = 384_000;
/// Narrowest and widest sample formats, bits (right-justified in `i32`).
pub const MIN_BITS: u32 = 4;
pub const MAX_BITS: u32 = 32;

/// Declicker settings (from the profile or the command line).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeclickSettings {
    /// Detection sensitivity: higher finds more (and smaller) clicks, at a greater risk of
    /// touching clean audio. 1.0 is the default and needs no tuning; useful range 0.25 to 4.
    pub sensitivity: f32,
    /// Repair crackle (dense bursts of small clicks) as well as isolated clicks.
    pub repair_crackle: bool,
}

impl Default for DeclickSettings {
    fn default() -> Self {
        DeclickSettings {
            sensitivity: 1.0,
            repair_crackle: true,
        }
    }
}

/// What a repair mended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RepairKind {
    /// An isolated click, tick or scratch.
    Click,
    /// One of a dense burst of small clicks.
    Crackle,
}

/// One repaired run of samples in one channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Repair {
    /// Channel, 1-based.
    pub channel: usize,
    /// First repaired frame.
    pub start: FrameIndex,
    /// Repaired frames (consecutive).
    pub length: FrameCount,
    /// Size of the click: the largest |original − repaired| over the run, as a fraction of full
    /// scale.
    pub peak: f32,
    pub kind: RepairKind,
}

/// Why a declicker could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DeclickError {
    #[error("cannot declick {channels} channels: 1 to {MAX_CHANNELS} are supported")]
    Channels { channels: usize },
    #[error(
        "cannot declick at {sample_rate} Hz: {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz are supported"
    )]
    SampleRate { sample_rate: u32 },
    #[error("cannot declick {bits}-bit samples: {MIN_BITS} to {MAX_BITS} bits are supported")]
    Bits { bits: u32 },
    #[error("declick sensitivity {sensitivity} is not a positive number")]
    Sensitivity { sensitivity: f32 },
}

/// A streaming declicker for one take.
pub struct Declicker {
    channels: usize,
    repairs: Vec<Repair>,
}

impl Declicker {
    pub fn new(
        channels: usize,
        sample_rate: u32,
        bits: u32,
        settings: &DeclickSettings,
    ) -> Result<Self, DeclickError> {
        if channels == 0 || channels > MAX_CHANNELS {
            return Err(DeclickError::Channels { channels });
        }
        if !(MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&sample_rate) {
            return Err(DeclickError::SampleRate { sample_rate });
        }
        if !(MIN_BITS..=MAX_BITS).contains(&bits) {
            return Err(DeclickError::Bits { bits });
        }
        if !(settings.sensitivity.is_finite() && settings.sensitivity > 0.0) {
            return Err(DeclickError::Sensitivity {
                sensitivity: settings.sensitivity,
            });
        }
        Ok(Declicker {
            channels,
            repairs: Vec::new(),
        })
    }

    /// Frames by which the output lags the input.
    pub fn latency(&self) -> FrameCount {
        FrameCount(0)
    }

    /// Takes interleaved right-justified integer samples; appends to `out` every repaired frame
    /// that is ready (output lags input by [`Declicker::latency`]).
    ///
    /// # Panics
    /// If `interleaved.len()` is not a whole number of frames.
    pub fn process(&mut self, interleaved: &[i32], out: &mut Vec<i32>) {
        assert!(interleaved.len().is_multiple_of(self.channels));
        out.extend_from_slice(interleaved);
    }

    /// Repairs found so far (drained), ordered by start then channel.
    pub fn take_repairs(&mut self) -> Vec<Repair> {
        std::mem::take(&mut self.repairs)
    }

    /// Flushes the remaining frames into `out`; returns the remaining repairs.
    pub fn finish(mut self, _out: &mut Vec<i32>) -> Vec<Repair> {
        self.take_repairs()
    }
}

/// Declicks a whole buffer (tests, small files).
///
/// # Panics
/// If the format is refused by [`Declicker::new`] or the buffer is not whole frames.
pub fn declick(
    interleaved: &[i32],
    channels: usize,
    sample_rate: u32,
    bits: u32,
    settings: &DeclickSettings,
) -> (Vec<i32>, Vec<Repair>) {
    let mut d = Declicker::new(channels, sample_rate, bits, settings).expect("declicker format");
    let mut out = Vec::with_capacity(interleaved.len());
    d.process(interleaved, &mut out);
    let mut repairs = d.take_repairs();
    repairs.extend(d.finish(&mut out));
    (out, repairs)
}
