//! The writer's side of capture: the capturing thread ([`TakeWriter`]) and how a take ends
//! ([`TakeEnd`]).
//!
//! The writer drains the rings [`super::ring`] fills: it routes interface inputs to the
//! profile's channels, appends them to the take's journal (the journal first, always), places
//! each gap in the take's frames and logs it durably, feeds the live meters
//! ([`crate::dsp::meter`]) and publishes them on a fixed schedule, and watches for the take's
//! end: its duration, a stop, a disk without room for the master, a device that failed or fell
//! silent, a journal that cannot be written.
//!
//! A take ends in one of a closed set of ways; each is a variant here, and its words (what the
//! QC report's `capture.ended`, the app's `ended` event and the journal's end note say) are
//! written once, in [`TakeEnd`]'s `Display`, byte for byte as earlier releases wrote them, so
//! reports already in archives keep reading the same.

use super::journal::{self, Gap, GapKind, Journal, JournalError};
use super::ring::{Drain, FAILED_NOT};
use super::room::{free_bytes, master_room, SPACE_CHECK_EVERY};
use super::{CaptureEvent, METER_EVERY, SILENCE_WARNING, SILENT_DEVICE};
use crate::dsp::meter::LiveMeter;
use serde::{Serialize, Serializer};
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How a take ended.
#[derive(Debug)]
pub enum TakeEnd {
    /// The requested duration was reached: `duration reached`.
    Duration,
    /// A stop was asked for (Ctrl-C, SIGTERM, the app): `stopped`.
    Stopped,
    /// The disk no longer had room to finish the master, `free` bytes left.
    DiskFull { free: u64 },
    /// The journal could not be written because its disk (or quota) is full.
    JournalFull(JournalError),
    /// The journal could not be written for another reason.
    JournalWrite(JournalError),
    /// The device's stream failed; `kind` is cpal's `ErrorKind` code.
    DeviceError { kind: u8 },
    /// The device delivered nothing for `seconds` (unplugged, hung).
    DeviceSilent { seconds: u64 },
    /// A take finished by `recover` from its journal; `noted` is the end its capture wrote
    /// beside the journal, when it lived to write one.
    Recovered { noted: Option<String> },
}

impl TakeEnd {
    /// The end of a take whose journal could not be written: a full disk or quota is named as
    /// such (the operator frees space), anything else as a write failure.
    pub fn journal(e: JournalError) -> TakeEnd {
        let full = matches!(&e, JournalError::Io { source, .. }
            if source.kind() == std::io::ErrorKind::StorageFull
                || source.raw_os_error() == Some(libc::EDQUOT));
        if full {
            TakeEnd::JournalFull(e)
        } else {
            TakeEnd::JournalWrite(e)
        }
    }

    /// The take ended as the operator asked (its duration, a stop), not on a failure.
    pub fn as_asked(&self) -> bool {
        matches!(self, TakeEnd::Duration | TakeEnd::Stopped)
    }

    /// The device failed: a hung device may never give its stream back.
    pub fn is_device_failure(&self) -> bool {
        matches!(
            self,
            TakeEnd::DeviceError { .. } | TakeEnd::DeviceSilent { .. }
        )
    }
}

impl fmt::Display for TakeEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TakeEnd::Duration => f.write_str("duration reached"),
            TakeEnd::Stopped => f.write_str("stopped"),
            TakeEnd::DiskFull { free } => write!(
                f,
                "disk full: stopped with {} free, the room the master needs",
                crate::units::bytes_human(*free)
            ),
            TakeEnd::JournalFull(e) => write!(f, "disk full: {e}"),
            TakeEnd::JournalWrite(e) => write!(f, "journal write failed: {e}"),
            TakeEnd::DeviceError { kind } => write!(f, "device error (cpal error kind {kind})"),
            TakeEnd::DeviceSilent { seconds } => {
                write!(f, "device error: no samples for {seconds} s")
            }
            TakeEnd::Recovered {
                noted: Some(reason),
            } => {
                write!(f, "{reason} (finished from its journal by recover)")
            }
            TakeEnd::Recovered { noted: None } => {
                f.write_str("interrupted (recovered from its journal)")
            }
        }
    }
}

/// Serialised as its words (the QC report's `capture.ended`).
impl Serialize for TakeEnd {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Where the take's channels are in the ring: interface inputs per frame, the input each
/// channel comes from, and the ring's size.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Routing {
    /// Interface inputs per frame in the ring.
    pub(super) inputs: u16,
    /// For each of the take's channels, the input (0-based) it comes from.
    pub(super) route: Vec<usize>,
    /// The audio ring's size in samples: whole frames, so that no frame ever straddles the
    /// ring's end.
    pub(super) capacity: usize,
}

impl Routing {
    /// The profile's routing (1-based inputs) and a ring of [`super::RING_SECONDS`].
    pub(super) fn of(p: &crate::profile::Profile) -> Routing {
        let inputs = p.routing.iter().copied().max().unwrap_or(1) as u16;
        Routing {
            inputs,
            route: p.routing.iter().map(|&r| r as usize - 1).collect(),
            capacity: p.sample_rate as usize * usize::from(inputs) * super::RING_SECONDS,
        }
    }
}

/// The capturing thread's state over one take: its end of the rings, the journal, where the
/// take stands, and the meters.
pub(super) struct TakeWriter {
    drain: Drain,
    journal: Journal,
    /// Interface inputs per frame in the ring.
    inputs: usize,
    routing: Routing,
    /// Stop after this many device frames.
    duration: Option<u64>,
    /// Device frames accounted for (written or lost).
    consumed: u64,
    /// Frames lost so far (a position in the take = device frames − lost).
    lost: u64,
    gaps: Vec<Gap>,
    /// The frames being written, routed (kept, so that draining does not allocate).
    routed: Vec<i32>,
    meter: LiveMeter,
    /// A test knob (`<frame>:<ms>`, `CAPSTAN_TEST_STALL_WRITER`): the writer stalls once, on
    /// purpose, to prove overruns are caught and placed.
    stall: Option<(u64, u64)>,
}

/// What one pass over the rings did.
enum Step {
    /// An overrun at the read position was placed: look again before reading.
    Gap,
    /// This many frames were written (0: the ring was empty).
    Wrote(usize),
}

impl TakeWriter {
    pub(super) fn new(
        drain: Drain,
        journal: Journal,
        routing: Routing,
        duration: Option<u64>,
        meter: LiveMeter,
    ) -> TakeWriter {
        // Read once here, never in the callback.
        let stall = std::env::var("CAPSTAN_TEST_STALL_WRITER")
            .ok()
            .and_then(|v| {
                let (at, ms) = v.split_once(':')?;
                Some((at.parse().ok()?, ms.parse().ok()?))
            });
        TakeWriter {
            drain,
            journal,
            inputs: usize::from(routing.inputs),
            routing,
            duration,
            consumed: 0,
            lost: 0,
            gaps: Vec::new(),
            routed: Vec::new(),
            meter,
            stall,
        }
    }

    /// Drains, journals and meters until the take ends, and says how. `stop` asks for the
    /// end; `disk` is where the room for the master is checked.
    pub(super) fn run(
        &mut self,
        stop: &AtomicBool,
        disk: &Path,
        tell: &mut dyn FnMut(CaptureEvent),
    ) -> TakeEnd {
        let mut next_meter = Instant::now() + METER_EVERY;
        let mut last_data = Instant::now();
        let mut silence_told = false;
        let mut last_space_check = Instant::now();
        loop {
            self.stall_once();
            let n = match self.step(tell) {
                Err(end) => return end,
                Ok(Step::Gap) => continue,
                Ok(Step::Wrote(n)) => n,
            };
            if n > 0 {
                last_data = Instant::now();
                silence_told = false;
            }
            if Instant::now() >= next_meter {
                self.publish_levels(tell);
                // The next slot on the grid; after a stall, the next one still ahead.
                next_meter += METER_EVERY;
                let now = Instant::now();
                if next_meter < now {
                    next_meter = now + METER_EVERY;
                }
            }
            if self.duration.is_some_and(|d| self.consumed >= d) {
                return TakeEnd::Duration;
            }
            if last_space_check.elapsed() >= SPACE_CHECK_EVERY {
                last_space_check = Instant::now();
                let needed = master_room(self.journal.bytes());
                if let Some(free) = free_bytes(disk).filter(|&f| f < needed) {
                    return TakeEnd::DiskFull { free };
                }
            }
            if n == 0 {
                if let Some(end) = self.idle_end(stop, last_data) {
                    return end;
                }
                if !silence_told && last_data.elapsed() > SILENCE_WARNING {
                    silence_told = true;
                    tell(CaptureEvent::DeviceSilent {
                        seconds: SILENCE_WARNING.as_secs(),
                    });
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }

    /// The journal, to be finished, and the take's gaps.
    pub(super) fn finish(self) -> (Journal, Vec<Gap>) {
        (self.journal, self.gaps)
    }

    fn stall_once(&mut self) {
        if let Some((at, ms)) = self.stall {
            if self.consumed >= at {
                std::thread::sleep(Duration::from_millis(ms));
                self.stall = None;
            }
        }
    }

    /// One pass: the device's xruns, then an overrun at the read position or the frames up to
    /// the next one.
    fn step(&mut self, tell: &mut dyn FnMut(CaptureEvent)) -> Result<Step, TakeEnd> {
        // Device xruns: where the device stood, in the take's frames.
        while let Ok(x) = self.drain.xruns.pop() {
            let gap = Gap {
                kind: GapKind::Xrun,
                at: x.at_delivered.saturating_sub(self.lost),
                frames: x.frames,
            };
            self.record(gap, tell)?;
        }
        // Samples first, then gaps: a gap the callback recorded before samples we are about
        // to read is then certainly visible (the rings publish in the callback's order).
        let available = self.drain.samples.slots() / self.inputs;
        let next_gap = self.drain.gaps.peek().ok().copied();
        let mut n = available;
        if let Some(g) = next_gap {
            if g.at_delivered <= self.consumed {
                let _ = self.drain.gaps.pop();
                // Frames past the requested duration were never part of the take.
                let frames = self
                    .duration
                    .map_or(g.frames, |d| g.frames.min(d.saturating_sub(self.consumed)));
                let gap = Gap {
                    kind: GapKind::Overrun,
                    at: self.consumed - self.lost,
                    frames,
                };
                self.consumed += frames;
                self.lost += frames;
                self.record(gap, tell)?;
                return Ok(Step::Gap);
            }
            n = n.min((g.at_delivered - self.consumed) as usize);
        }
        if let Some(limit) = self.duration {
            n = n.min(limit.saturating_sub(self.consumed) as usize);
        }
        if n > 0 {
            self.write(n)?;
        }
        Ok(Step::Wrote(n))
    }

    /// A gap into the take's list, told, and into the journal.
    fn record(&mut self, gap: Gap, tell: &mut dyn FnMut(CaptureEvent)) -> Result<(), TakeEnd> {
        journal::merge_gap(&mut self.gaps, gap);
        tell(CaptureEvent::Gap {
            kind: gap.kind.as_str(),
            at: gap.at,
            frames: gap.frames,
        });
        self.journal.gap(gap).map_err(TakeEnd::journal)
    }

    /// `n` frames from the ring: routed, journalled, metered.
    fn write(&mut self, n: usize) -> Result<(), TakeEnd> {
        let chunk = self
            .drain
            .samples
            .read_chunk(n * self.inputs)
            .expect("slots counted above");
        // Every write and read is whole frames and the capacity is too, so the ring's wrap
        // never splits a frame.
        let (a, b) = chunk.as_slices();
        debug_assert_eq!(a.len() % self.inputs, 0);
        self.routed.clear();
        for frame in a
            .chunks_exact(self.inputs)
            .chain(b.chunks_exact(self.inputs))
        {
            for &input in &self.routing.route {
                self.routed.push(frame[input]);
            }
        }
        chunk.commit_all();
        self.journal
            .append(&self.routed)
            .map_err(TakeEnd::journal)?;
        // The journal comes first: when the ring is filling (the writer behind the device)
        // the loudness and true-peak meters skip this stretch; peaks, which cost little,
        // never do.
        if self.drain.samples.slots() > self.routing.capacity / 4 {
            self.meter.process_peaks(&self.routed);
        } else {
            self.meter.process(&self.routed);
        }
        self.consumed += n as u64;
        Ok(())
    }

    fn publish_levels(&mut self, tell: &mut dyn FnMut(CaptureEvent)) {
        let frames = self.consumed - self.lost;
        let reading = self.meter.read();
        tell(CaptureEvent::Levels {
            frames,
            channels: reading.channels,
            momentary_lufs: reading.momentary_lufs,
            correlation: reading.correlation,
        });
    }

    /// How the take ends when the ring is empty: the device failed (once what it delivered
    /// is written), a stop was asked for, or nothing has come for [`SILENT_DEVICE`].
    fn idle_end(&self, stop: &AtomicBool, last_data: Instant) -> Option<TakeEnd> {
        let drained = self.drain.samples.slots() == 0;
        let code = self.drain.failed.load(Ordering::Acquire);
        if code != FAILED_NOT && drained {
            return Some(TakeEnd::DeviceError { kind: code - 1 });
        }
        if stop.load(Ordering::Relaxed) && drained {
            return Some(TakeEnd::Stopped);
        }
        if last_data.elapsed() > SILENT_DEVICE {
            return Some(TakeEnd::DeviceSilent {
                seconds: SILENT_DEVICE.as_secs(),
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::journal::TakeInfo;
    use crate::capture::ring::{rings, Feed};
    use std::path::PathBuf;
    use std::sync::Arc;

    /// A writer over a ring of `capacity` samples for stereo 24-bit frames at 48 kHz, its
    /// journal in `dir`, with the callback's side to feed it.
    fn writer(
        dir: &Path,
        capacity: usize,
        duration: Option<u64>,
    ) -> (TakeWriter, Feed, Arc<std::sync::atomic::AtomicU8>) {
        let (ends, drain) = rings(capacity);
        let failed = Arc::clone(&ends.failed);
        let feed = Feed::new(ends.samples, ends.gaps, ends.delivered, 2);
        let info = TakeInfo {
            profile: "p".into(),
            id: "t".into(),
            collection: "c".into(),
            meta: Vec::new(),
            device: "test".into(),
            started: "2026-01-01T00:00:00Z".into(),
            pid: std::process::id(),
        };
        let journal = Journal::create(dir, "take", &info, 2, 48_000, 24).unwrap();
        let routing = Routing {
            inputs: 2,
            route: vec![0, 1],
            capacity,
        };
        let meter = LiveMeter::new(2, 48_000, 24);
        let w = TakeWriter::new(drain, journal, routing, duration, meter);
        (w, feed, failed)
    }

    fn period(v: i32) -> [i32; 4] {
        [v, -v, v + 1, -v - 1]
    }

    #[test]
    fn a_stop_ends_the_take_with_everything_delivered_written() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut w, mut feed, _) = writer(tmp.path(), 4096, None);
        for v in 0..3 {
            feed.deliver(4, period(v * 10).into_iter());
        }
        let stop = AtomicBool::new(true);
        let end = w.run(&stop, tmp.path(), &mut |_| {});
        assert!(matches!(end, TakeEnd::Stopped), "{end}");
        let (journal, gaps) = w.finish();
        assert_eq!(
            journal.frames(),
            6,
            "every delivered frame is written first"
        );
        assert!(gaps.is_empty());
    }

    #[test]
    fn a_device_failure_ends_the_take_with_everything_delivered_written() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut w, mut feed, failed) = writer(tmp.path(), 4096, None);
        feed.deliver(4, period(5).into_iter());
        failed.store(1 + 3, Ordering::Release);
        let end = w.run(&AtomicBool::new(false), tmp.path(), &mut |_| {});
        assert_eq!(end.to_string(), "device error (cpal error kind 3)");
        assert!(end.is_device_failure());
        assert_eq!(w.finish().0.frames(), 2);
    }

    #[test]
    fn an_overrun_is_placed_in_the_take_and_counts_towards_its_duration() {
        let tmp = tempfile::tempdir().unwrap();
        // 4 stereo frames of ring; the take is 8 device frames.
        let (mut w, mut feed, _) = writer(tmp.path(), 8, Some(8));
        let mut told = Vec::new();
        let mut tell = |e: CaptureEvent| {
            if let CaptureEvent::Gap { kind, at, frames } = e {
                told.push((kind, at, frames));
            }
        };
        feed.deliver(4, period(0).into_iter()); // device frames 0-1
        feed.deliver(4, period(10).into_iter()); // 2-3: the ring is full
        feed.deliver(4, period(20).into_iter()); // 4-5: dropped
        assert!(matches!(w.step(&mut tell), Ok(Step::Wrote(4))));
        feed.deliver(4, period(30).into_iter()); // 6-7: the gap is reported, then these
        assert!(matches!(w.step(&mut tell), Ok(Step::Gap)));
        assert!(matches!(w.step(&mut tell), Ok(Step::Wrote(2))));
        let end = w.run(&AtomicBool::new(false), tmp.path(), &mut tell);
        assert!(matches!(end, TakeEnd::Duration), "{end}");
        assert_eq!(told, [("overrun", 4, 2)]);
        let (journal, gaps) = w.finish();
        assert_eq!(journal.frames(), 6, "8 device frames, 2 of them lost");
        assert_eq!(
            gaps,
            [Gap {
                kind: GapKind::Overrun,
                at: 4,
                frames: 2
            }]
        );
    }

    fn io(kind: std::io::ErrorKind) -> JournalError {
        JournalError::Io {
            path: PathBuf::from("/a/journal/t.wav"),
            source: std::io::Error::from(kind),
        }
    }

    /// The words every earlier release wrote, one per way a take ends.
    #[test]
    fn each_end_reads_as_earlier_releases_wrote_it() {
        let enospc = JournalError::Io {
            path: PathBuf::from("/a/journal/t.wav"),
            source: std::io::Error::from_raw_os_error(libc::ENOSPC),
        };
        let eio = io(std::io::ErrorKind::PermissionDenied);
        let cases: Vec<(TakeEnd, String)> = vec![
            (TakeEnd::Duration, "duration reached".into()),
            (TakeEnd::Stopped, "stopped".into()),
            (
                TakeEnd::DiskFull { free: 3 << 20 },
                "disk full: stopped with 3.00 MiB free, the room the master needs".into(),
            ),
            (
                TakeEnd::journal(enospc),
                format!(
                    "disk full: journal /a/journal/t.wav: {}",
                    std::io::Error::from_raw_os_error(libc::ENOSPC)
                ),
            ),
            (
                TakeEnd::journal(eio),
                format!(
                    "journal write failed: journal /a/journal/t.wav: {}",
                    std::io::Error::from(std::io::ErrorKind::PermissionDenied)
                ),
            ),
            (
                TakeEnd::DeviceError { kind: 3 },
                "device error (cpal error kind 3)".into(),
            ),
            (
                TakeEnd::DeviceSilent { seconds: 5 },
                "device error: no samples for 5 s".into(),
            ),
            (
                TakeEnd::Recovered {
                    noted: Some("device error: no samples for 5 s".into()),
                },
                "device error: no samples for 5 s (finished from its journal by recover)".into(),
            ),
            (
                TakeEnd::Recovered { noted: None },
                "interrupted (recovered from its journal)".into(),
            ),
        ];
        for (end, words) in cases {
            assert_eq!(end.to_string(), words);
            assert_eq!(
                serde_json::to_string(&end).unwrap(),
                serde_json::to_string(&words).unwrap()
            );
        }
    }

    #[test]
    fn only_a_duration_or_a_stop_ends_a_take_as_asked() {
        assert!(TakeEnd::Duration.as_asked() && TakeEnd::Stopped.as_asked());
        for end in [
            TakeEnd::DiskFull { free: 0 },
            TakeEnd::DeviceError { kind: 0 },
            TakeEnd::DeviceSilent { seconds: 5 },
            TakeEnd::journal(io(std::io::ErrorKind::Other)),
            TakeEnd::Recovered { noted: None },
        ] {
            assert!(!end.as_asked(), "{end}");
            assert_eq!(
                end.is_device_failure(),
                end.to_string().starts_with("device error"),
                "{end}"
            );
        }
    }
}
