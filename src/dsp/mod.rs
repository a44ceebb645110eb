//! Pure signal-processing kernels: slices in, measurements out, no I/O.
//!
//! Each kernel allocates its buffers up front and gives the same result whatever block sizes
//! its input arrives in (tested).

pub mod ar;
pub mod correlation;
pub mod declick;
pub mod defects;
pub mod levels;
pub mod meter;
pub mod truepeak;

/// Reference signals shared by the kernels' tests.
#[cfg(test)]
pub(crate) mod test_noise {
    /// A reproducible noise source (xorshift), uniform in −1..1.
    pub(crate) struct Noise(pub(crate) u64);

    impl Noise {
        pub(crate) fn next(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 11) as f64 / (1u64 << 52) as f64 - 1.0
        }
    }
}
