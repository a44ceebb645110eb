//! Pure signal-processing kernels: slices in, measurements out, no I/O.
//!
//! Each kernel allocates its buffers up front and gives the same result whatever block sizes
//! its input arrives in (tested).

pub mod ar;
pub mod correlation;
pub mod declick;
pub mod defects;
pub mod levels;
pub mod truepeak;
