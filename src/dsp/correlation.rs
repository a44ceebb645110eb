//! Phase correlation of two channels, for line-up at the deck: the normalised cross-product
//! `Σ l·r / √(Σ l² · Σ r²)` over an interval (what a correlation meter shows). +1: the
//! channels are the same signal (a mono tone on a well-aligned stereo head), 0: unrelated,
//! −1: one channel inverted; a tone reading well below +1 on a mono line-up tape points at
//! azimuth error or a reversed wire.
//!
//! Sums are kept in `f64`, so the figure does not depend on how the interval was cut into
//! blocks (tested), and the kernel never allocates.

/// Correlation of two channels of an interleaved stream.
#[derive(Debug, Clone)]
pub struct Correlation {
    channels: usize,
    /// The two channels compared (0-based).
    pair: (usize, usize),
    lr: f64,
    ll: f64,
    rr: f64,
}

impl Correlation {
    /// Compares channels `pair` (0-based) of frames of `channels` interleaved samples.
    pub fn new(channels: usize, pair: (usize, usize)) -> Correlation {
        assert!(
            pair.0 < channels && pair.1 < channels && pair.0 != pair.1,
            "two distinct channels of the {channels}"
        );
        Correlation {
            channels,
            pair,
            lr: 0.0,
            ll: 0.0,
            rr: 0.0,
        }
    }

    /// Adds whole interleaved frames (any block size).
    pub fn process(&mut self, interleaved: &[i32]) {
        assert_eq!(interleaved.len() % self.channels, 0, "whole frames");
        let (a, b) = self.pair;
        for frame in interleaved.chunks_exact(self.channels) {
            let (l, r) = (f64::from(frame[a]), f64::from(frame[b]));
            self.lr += l * r;
            self.ll += l * l;
            self.rr += r * r;
        }
    }

    /// The correlation of what was added since the last call, from −1 to +1; None when either
    /// channel was silent (no phase to speak of). Starts the next interval.
    pub fn take_interval(&mut self) -> Option<f64> {
        let energy = self.ll * self.rr;
        let value = (energy > 0.0).then(|| (self.lr / energy.sqrt()).clamp(-1.0, 1.0));
        (self.lr, self.ll, self.rr) = (0.0, 0.0, 0.0);
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `frames` stereo frames of two sines, the right `phase` radians behind the left.
    fn stereo(frames: usize, phase: f64, right_gain: f64) -> Vec<i32> {
        let w = 2.0 * std::f64::consts::PI * 997.0 / 48_000.0;
        (0..frames)
            .flat_map(|n| {
                let t = n as f64 * w;
                [
                    (1e6 * t.sin()) as i32,
                    (1e6 * right_gain * (t - phase).sin()) as i32,
                ]
            })
            .collect()
    }

    fn measure(samples: &[i32]) -> Option<f64> {
        let mut c = Correlation::new(2, (0, 1));
        c.process(samples);
        c.take_interval()
    }

    #[test]
    fn in_phase_inverted_and_quadrature_read_plus_one_minus_one_and_zero() {
        // 4800 frames = 99.7 whole periods; the remainder keeps the quadrature figure near 0.
        let same = measure(&stereo(4800, 0.0, 0.5)).unwrap();
        assert!((same - 1.0).abs() < 1e-6, "{same}");
        let inverted = measure(&stereo(4800, std::f64::consts::PI, 1.0)).unwrap();
        assert!((inverted + 1.0).abs() < 1e-6, "{inverted}");
        let quadrature = measure(&stereo(4800, std::f64::consts::FRAC_PI_2, 1.0)).unwrap();
        assert!(quadrature.abs() < 0.01, "{quadrature}");
    }

    #[test]
    fn a_silent_channel_has_no_correlation() {
        let mut s = stereo(480, 0.0, 1.0);
        for f in s.chunks_exact_mut(2) {
            f[1] = 0;
        }
        assert_eq!(measure(&s), None);
        assert_eq!(measure(&[]), None);
    }

    #[test]
    fn the_result_does_not_depend_on_block_size_and_intervals_restart() {
        let s = stereo(4096, 0.7, 0.8);
        let whole = measure(&s).unwrap();
        for block in [2usize, 64 * 2, 4095 * 2] {
            let mut c = Correlation::new(2, (0, 1));
            for chunk in s.chunks(block) {
                c.process(chunk);
            }
            assert_eq!(c.take_interval().unwrap(), whole, "block {block}");
            assert_eq!(c.take_interval(), None, "a new interval starts empty");
        }
        assert!((whole - 0.7f64.cos()).abs() < 0.01, "{whole}");
    }

    #[test]
    fn it_compares_the_pair_it_was_given() {
        // Three channels: 1 and 3 the same, 2 inverted.
        let s: Vec<i32> = (0..1000)
            .flat_map(|n| {
                let v = ((n as f64 * 0.1).sin() * 1e5) as i32;
                [v, -v, v]
            })
            .collect();
        let mut c = Correlation::new(3, (0, 2));
        c.process(&s);
        assert!((c.take_interval().unwrap() - 1.0).abs() < 1e-9);
        let mut c = Correlation::new(3, (0, 1));
        c.process(&s);
        assert!((c.take_interval().unwrap() + 1.0).abs() < 1e-9);
    }
}
