//! The real-time side of capture: what the device's callback (and the demo tape's player) may
//! do, and nothing more.
//!
//! The callback converts its samples to `i32` into a lock-free SPSC ring (`rtrb`); when the
//! ring has no room for a whole period, the period's frames are dropped and one overrun record
//! (position, length) goes into a second ring, reported just before the samples that follow
//! it. Device xruns arrive through cpal's error callback; the next period measures their
//! length from the capture timestamps ([`XrunClock`]) and records them in a third ring. No
//! locks, no allocation, no I/O and no logging happen here: a failure is a code in an atomic,
//! which the capturing thread puts into words.

use cpal::traits::DeviceTrait;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

/// A gap as the callbacks see it: in frames the device delivered.
#[derive(Clone, Copy, Default)]
pub(super) struct RawGap {
    pub(super) at_delivered: u64,
    pub(super) frames: u64,
}

/// Why the callbacks say the stream failed (0: it did not).
pub(super) const FAILED_NOT: u8 = 0;

/// What the device's callbacks own: their ends of the rings, and what they tell the
/// capturing thread.
pub(super) struct CallbackEnds {
    pub(super) samples: rtrb::Producer<i32>,
    pub(super) gaps: rtrb::Producer<RawGap>,
    pub(super) xruns: rtrb::Producer<RawGap>,
    pub(super) delivered: Arc<AtomicU64>,
    pub(super) failed: Arc<AtomicU8>,
}

/// What the capturing thread owns: the other ends of the rings, and the failure code.
pub(super) struct Drain {
    pub(super) samples: rtrb::Consumer<i32>,
    pub(super) gaps: rtrb::Consumer<RawGap>,
    pub(super) xruns: rtrb::Consumer<RawGap>,
    pub(super) failed: Arc<AtomicU8>,
}

/// Overrun and xrun records a ring holds before the capturing thread must have read them.
const GAP_RECORDS: usize = 4096;

/// The rings between the callbacks and the capturing thread, `capacity` samples for the audio
/// (whole frames, so that no frame ever straddles the ring's end).
pub(super) fn rings(capacity: usize) -> (CallbackEnds, Drain) {
    let (samples_tx, samples) = rtrb::RingBuffer::<i32>::new(capacity);
    let (gaps_tx, gaps) = rtrb::RingBuffer::<RawGap>::new(GAP_RECORDS);
    let (xruns_tx, xruns) = rtrb::RingBuffer::<RawGap>::new(GAP_RECORDS);
    let failed = Arc::new(AtomicU8::new(FAILED_NOT));
    let ends = CallbackEnds {
        samples: samples_tx,
        gaps: gaps_tx,
        xruns: xruns_tx,
        delivered: Arc::new(AtomicU64::new(0)),
        failed: Arc::clone(&failed),
    };
    let drain = Drain {
        samples,
        gaps,
        xruns,
        failed,
    };
    (ends, drain)
}

/// The producing side of the rings, shared by the device callback and the demo tape: it only
/// copies, counts, and reports drops (no locks, allocation or I/O).
pub(super) struct Feed {
    samples: rtrb::Producer<i32>,
    gaps: rtrb::Producer<RawGap>,
    delivered: Arc<AtomicU64>,
    frames_delivered: u64,
    inputs: usize,
    /// Frames dropped since the last period that got through, not yet reported: while the ring
    /// stays full one gap grows, so no number of dropped periods can overflow the gap ring.
    pending: RawGap,
}

impl Feed {
    pub(super) fn new(
        samples: rtrb::Producer<i32>,
        gaps: rtrb::Producer<RawGap>,
        delivered: Arc<AtomicU64>,
        inputs: u16,
    ) -> Feed {
        Feed {
            samples,
            gaps,
            delivered,
            frames_delivered: 0,
            inputs: usize::from(inputs),
            pending: RawGap::default(),
        }
    }

    /// One period: `len` interleaved samples.
    pub(super) fn deliver(&mut self, len: usize, data: impl Iterator<Item = i32>) {
        let frames = (len / self.inputs) as u64;
        // A gap is reported just before the samples that follow it, or neither goes: one gap
        // for one unbroken run of dropped periods. (Only this side writes, so the room seen
        // here can only grow before the write.)
        let room = self.samples.slots() >= len;
        let gap_told = room && (self.pending.frames == 0 || self.gaps.push(self.pending).is_ok());
        if gap_told {
            self.pending.frames = 0;
            if let Ok(chunk) = self.samples.write_chunk_uninit(len) {
                chunk.fill_from_iter(data);
            }
        } else {
            if self.pending.frames == 0 {
                self.pending.at_delivered = self.frames_delivered;
            }
            self.pending.frames += frames;
        }
        self.frames_delivered += frames;
        self.delivered
            .store(self.frames_delivered, Ordering::Release);
    }
}

/// Builds the input stream for sample type `T`.
pub(super) fn build<T>(
    device: &cpal::Device,
    config: &cpal::StreamConfig,
    ends: CallbackEnds,
    convert: fn(T) -> i32,
) -> Result<cpal::Stream, cpal::Error>
where
    T: cpal::SizedSample + Send + 'static,
{
    let CallbackEnds {
        samples,
        gaps,
        mut xruns,
        delivered,
        failed,
    } = ends;
    let mut feed = Feed::new(samples, gaps, Arc::clone(&delivered), config.channels);
    let inputs = usize::from(config.channels);
    let mut clock = XrunClock::new(config.sample_rate);
    // Both callbacks run on the stream's one worker thread; the flag only carries "an xrun
    // happened" from the error callback to the next period, which measures its length.
    let xrun = Arc::new(AtomicBool::new(false));
    let xrun_seen = Arc::clone(&xrun);
    device.build_input_stream(
        *config,
        move |data: &[T], info: &cpal::InputCallbackInfo| {
            let at = info.timestamp().capture.as_nanos();
            if xrun_seen.swap(false, Ordering::AcqRel) {
                let _ = xruns.push(RawGap {
                    at_delivered: delivered.load(Ordering::Acquire),
                    frames: clock.lost_before(at),
                });
            }
            let frames = (data.len() / inputs) as u64;
            clock.period(at, frames);
            feed.deliver(data.len(), data.iter().map(|&s| convert(s)));
        },
        move |e: cpal::Error| {
            if e.kind() == cpal::ErrorKind::Xrun {
                xrun.store(true, Ordering::Release);
            } else {
                // The kind's code; the capturing thread puts it into words.
                failed.store(1 + e.kind() as u8, Ordering::Release);
            }
        },
        None,
    )
}

/// Measures the samples a device dropped in an xrun from its capture timestamps: where the
/// period after the xrun was captured against where the stream would have been had nothing
/// been lost. ALSA stamps periods from the device's own clock, so this is accurate to the
/// timestamps' jitter, well under a period; a device without timestamps reads 0 (unknown).
#[derive(Debug, Clone, Copy)]
pub(super) struct XrunClock {
    rate: u32,
    /// Capture time (ns) of the last period and its length in frames.
    last: Option<(u128, u64)>,
}

impl XrunClock {
    pub(super) fn new(rate: u32) -> XrunClock {
        XrunClock { rate, last: None }
    }

    /// Notes a period that arrived.
    pub(super) fn period(&mut self, captured_ns: u128, frames: u64) {
        self.last = Some((captured_ns, frames));
    }

    /// Frames missing before a period captured at `captured_ns`.
    pub(super) fn lost_before(&self, captured_ns: u128) -> u64 {
        let Some((last, frames)) = self.last else {
            return 0;
        };
        if last == 0 || captured_ns <= last {
            return 0; // no timestamps, or ones that do not move forward
        }
        let rate = u128::from(self.rate);
        let elapsed = (captured_ns - last) * rate; // frame-nanoseconds
        let expected = u128::from(frames) * 1_000_000_000;
        // Round to the nearest frame.
        (elapsed.saturating_sub(expected) + 500_000_000).div_euclid(1_000_000_000) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_xrun_is_measured_from_the_capture_timestamps() {
        let mut clock = XrunClock::new(48_000);
        assert_eq!(
            clock.lost_before(5_000_000),
            0,
            "nothing before the first period"
        );
        let ns = |frames: u64| u128::from(frames) * 1_000_000_000 / 48_000;
        let t0 = 1_000_000_000u128;
        clock.period(t0, 480);
        // The next period captured right after this one: nothing lost.
        assert_eq!(clock.lost_before(t0 + ns(480)), 0);
        // 1234 frames later than that.
        assert_eq!(clock.lost_before(t0 + ns(480 + 1234)), 1234);
        // Jitter of a few microseconds rounds away; time running backwards loses nothing.
        assert_eq!(clock.lost_before(t0 + ns(480) + 7_000), 0);
        assert_eq!(clock.lost_before(t0 - 1), 0);
        // A device without timestamps (all zero) says nothing.
        let mut blind = XrunClock::new(48_000);
        blind.period(0, 480);
        assert_eq!(blind.lost_before(0), 0);
    }

    #[test]
    fn a_full_ring_drops_whole_periods_and_reports_them_before_what_follows() {
        let (tx, mut rx) = rtrb::RingBuffer::<i32>::new(8); // 4 stereo frames
        let (gtx, mut grx) = rtrb::RingBuffer::<RawGap>::new(1); // room for one report
        let delivered = Arc::new(AtomicU64::new(0));
        let mut feed = Feed::new(tx, gtx, Arc::clone(&delivered), 2);
        let period = |v: i32| [v, v, v + 1, v + 1];
        feed.deliver(4, period(0).into_iter()); // frames 0-1
        feed.deliver(4, period(10).into_iter()); // frames 2-3: the ring is full
        feed.deliver(4, period(20).into_iter()); // frames 4-5: dropped
        feed.deliver(4, period(30).into_iter()); // frames 6-7: dropped, the same gap
        assert_eq!(delivered.load(Ordering::Relaxed), 8);
        assert!(
            grx.is_empty(),
            "a gap is reported only when samples follow it"
        );
        let mut out = [0; 4];
        rx.pop_entire_slice(&mut out).unwrap(); // the writer drains two frames
        feed.deliver(4, period(40).into_iter()); // frames 8-9: get through
        let g = grx.pop().unwrap();
        assert_eq!((g.at_delivered, g.frames), (4, 4));
        let mut rest = [0; 8];
        rx.pop_entire_slice(&mut rest).unwrap();
        assert_eq!(rest, [10, 10, 11, 11, 40, 40, 41, 41]);
    }

    #[test]
    fn the_callbacks_side_never_allocates() {
        let (ends, mut drain) = rings(64);
        let mut feed = Feed::new(ends.samples, ends.gaps, ends.delivered, 2);
        let data = [7i32; 48];
        let (allocations, ()) = crate::dsp::test_alloc::allocations_in(|| {
            feed.deliver(48, data.iter().copied()); // written
            feed.deliver(48, data.iter().copied()); // dropped: a gap pending
            let mut out = [0i32; 48];
            drain.samples.pop_entire_slice(&mut out).unwrap();
            feed.deliver(48, data.iter().copied()); // the gap reported, then written
            let mut clock = XrunClock::new(48_000);
            clock.period(1_000_000_000, 24);
            assert_eq!(clock.lost_before(1_000_500_000), 0);
        });
        assert_eq!(allocations, 0);
        assert_eq!(drain.gaps.pop().unwrap().frames, 24);
    }
}
