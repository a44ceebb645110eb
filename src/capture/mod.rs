//! Capture: a take from an audio interface into the archive, every sample or every loss
//! accounted for, crash-safe.
//!
//! One file per stage, and [`capture_for_review`] only puts them in order:
//! - `ring`: the real-time side. The device's callback (cpal) converts its samples to
//!   `i32` into a lock-free SPSC ring (`rtrb`) sized for several seconds; when the ring has no
//!   room for a whole callback the callback's frames are dropped and an overrun record
//!   (position, length) goes into a second ring — no locks, no allocation, no I/O, no logging
//!   there. Device xruns arrive through cpal's error callback; the next period measures their
//!   length from the capture timestamps and records them the same way.
//! - `demo_tape`: `--device demo`, the built-in test tape through the same rings.
//! - `writer`: the capturing thread, a `TakeWriter` that drains the rings: it routes interface
//!   inputs to the profile's channels, appends to the take's [`journal`] (durable at least
//!   twice a second), logs each gap durably, feeds the live meters
//!   ([`crate::dsp::meter`]) and publishes them, until the take ends: duration reached, a
//!   stop signal, a device error, a disk that no longer has room for the master (`room`),
//!   a journal that cannot be written — each a [`TakeEnd`].
//! - Then what was captured is finished into an item by the ingest path (analysis, verified
//!   master, bag, catalogue) with the take's story in its QC report ([`CaptureReport`]); a take
//!   that cannot be finished then stays in its journal with the reason it ended. A capture that
//!   dies leaves its journal, which [`recover`] turns into an item flagged "recovered".

mod demo_tape;
pub mod device;
pub mod journal;
mod recover;
mod ring;
mod room;
mod writer;

pub use crate::dsp::meter::ChannelMeter;
pub use journal::GapKind;
pub use recover::{recover, Recovered};
pub use room::recording_room;
pub use writer::TakeEnd;

use crate::archive::Archive;
use crate::dsp::meter::LiveMeter;
use crate::ingest::{prepare, IngestError, IngestOutcome, IngestRequest, Prepared};
use crate::metadata::Fields;
use crate::profile::Profile;
use crate::report::{CaptureReport, Defect};
use crate::units::{rfc3339, FrameCount, FrameIndex};
use cpal::traits::StreamTrait;
use demo_tape::DemoTape;
use device::{open_input, DeviceError};
use journal::{Gap, Journal, JournalError, TakeInfo};
use ring::{build, CallbackEnds};
use room::free_bytes;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use writer::{Routing, TakeWriter};

/// Seconds of audio the ring holds: how long the writer may stall before samples are lost.
pub const RING_SECONDS: usize = 4;
/// A device that delivers nothing this long has failed (unplugged, hung): the take ends.
pub const SILENT_DEVICE: Duration = Duration::from_secs(5);
/// A device silent this long is worth a warning while the take goes on.
pub const SILENCE_WARNING: Duration = Duration::from_secs(1);
/// How often live meters are published: 25 Hz, on a fixed schedule (so no drift takes it
/// below the 20 Hz a meter needs to look live).
pub const METER_EVERY: Duration = Duration::from_millis(40);

/// Why a capture could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error(transparent)]
    Device(#[from] DeviceError),
    #[error(
        "device {device}: cannot capture {channels} channel(s) at {rate} Hz as {format}: {detail}"
    )]
    Open {
        device: String,
        channels: u16,
        rate: u32,
        format: String,
        detail: String,
    },
    #[error("profile {profile}: {bits}-bit capture is not supported (16, 24 or 32)")]
    Depth { profile: String, bits: u32 },
    #[error(
        "{path}: {free} bytes free allow {allows:.0} s of recording at this profile's data rate; {wanted:.0} s asked"
    )]
    DiskSpace {
        path: PathBuf,
        free: u64,
        allows: f64,
        wanted: f64,
    },
    #[error("item {collection}/{id} already exists; an existing item is never replaced")]
    ItemExists { collection: String, id: String },
    #[error("{0}")]
    Metadata(#[from] crate::metadata::MetadataError),
    #[error("{source}; the take so far is kept in {journal}: free space, then `capstan recover`")]
    Journal {
        journal: PathBuf,
        source: JournalError,
    },
    #[error(transparent)]
    JournalSetup(#[from] JournalError),
    /// No Originator for the item, or the archive's settings could not be read.
    #[error(transparent)]
    NoOriginator(Box<IngestError>),
    #[error("the take ({ended}) was captured but not finished ({source}); it is kept in {journal}: `capstan recover` finishes it")]
    Finish {
        ended: String,
        journal: PathBuf,
        source: Box<IngestError>,
    },
}

impl CaptureError {
    /// 1 for what the operator can correct in the request, 2 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            CaptureError::ItemExists { .. }
            | CaptureError::Metadata(_)
            | CaptureError::DiskSpace { .. } => 1,
            CaptureError::NoOriginator(e) => e.exit_code() as u8,
            _ => 2,
        }
    }
}

/// What to capture.
pub struct CaptureRequest {
    pub profile: Profile,
    /// The profile as the operator named it (for the journal, so recover can load it again).
    pub profile_arg: String,
    pub id: String,
    pub collection: String,
    pub meta: Fields,
    pub archive: Archive,
    /// A device name as `capstan devices` lists it.
    pub device: String,
    /// Stop after this many frames from the device.
    pub duration: Option<u64>,
    /// Frames per device period.
    pub buffer: Option<u32>,
    /// Set to end the take (Ctrl-C, SIGTERM, the app).
    pub stop: Arc<AtomicBool>,
    pub now: OffsetDateTime,
}

/// A take as the operator asks for it, the same from the CLI and the station.
#[derive(Debug, Clone)]
pub struct TakeRequest {
    /// A shipped profile's name, or a path to a TOML profile.
    pub profile_arg: String,
    pub collection: String,
    pub id: String,
    pub meta: Fields,
    /// A device name as `capstan devices` lists it, or `demo`.
    pub device: String,
    /// Stop after this many seconds (none: until stopped).
    pub seconds: Option<f64>,
    /// Frames per device period (none: the device's).
    pub buffer: Option<u32>,
}

/// A take's length that cannot be captured.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("a take's length must be a number of seconds more than 0 holding at least one sample at {rate} Hz, not {seconds}")]
pub struct TakeLengthError {
    pub seconds: f64,
    pub rate: u32,
}

/// Frames in `seconds` at `rate`, rounded to the nearest frame: finite, more than 0, at least
/// one frame.
pub fn take_frames(seconds: f64, rate: u32) -> Result<u64, TakeLengthError> {
    let frames = (seconds * f64::from(rate)).round();
    if !seconds.is_finite() || seconds <= 0.0 || frames < 1.0 {
        return Err(TakeLengthError { seconds, rate });
    }
    Ok(frames as u64)
}

impl CaptureRequest {
    /// The capture of `take` with its loaded profile, stopping when `stop` is set; the
    /// transfer's time is now (or `SOURCE_DATE_EPOCH`). The one place a request is made, for
    /// the CLI and the station alike.
    pub fn new(
        take: TakeRequest,
        profile: Profile,
        archive: Archive,
        stop: Arc<AtomicBool>,
    ) -> Result<CaptureRequest, TakeLengthError> {
        let duration = take
            .seconds
            .map(|s| take_frames(s, profile.sample_rate))
            .transpose()?;
        Ok(CaptureRequest {
            profile,
            profile_arg: take.profile_arg,
            id: take.id,
            collection: take.collection,
            meta: take.meta,
            archive,
            device: take.device,
            duration,
            buffer: take.buffer,
            stop,
            now: crate::ingest::transfer_time(),
        })
    }
}

/// What a capture says while it runs.
pub enum CaptureEvent<'a> {
    /// About to start: how long the free disk allows at this data rate.
    Ready { allows_seconds: f64 },
    /// Live levels (every [`METER_EVERY`]), with the momentary loudness of the programme and,
    /// for two channels or more, the phase correlation of channels 1 and 2 over the interval
    /// (None when either is silent).
    Levels {
        frames: u64,
        channels: &'a [ChannelMeter],
        momentary_lufs: f64,
        correlation: Option<f64>,
    },
    /// Samples were lost, as soon as the capturing thread learns of it: `overrun` (the writer
    /// fell behind) or `xrun` (the device dropped them), at `at` frames into the take.
    Gap {
        kind: &'static str,
        at: u64,
        frames: u64,
    },
    /// The device has delivered nothing for `seconds` (once per silence; at
    /// [`SILENT_DEVICE`] the take ends).
    DeviceSilent { seconds: u64 },
    /// Recording is over (`reason` displays as the QC report will say it); the take is being
    /// finished.
    Ended { reason: &'a TakeEnd },
}

/// A finished take.
#[derive(Debug)]
pub struct CaptureOutcome {
    pub ingest: IngestOutcome,
    pub frames: u64,
    pub capture: CaptureReport,
    /// Wall seconds from the stream's start to the take's end (not the finishing after).
    pub capture_seconds: f64,
    /// CPU seconds the whole process used meanwhile (callback, writer, journal, meters).
    pub capture_cpu_seconds: f64,
}

/// CPU seconds (user + system) this process has used so far.
fn process_cpu_seconds() -> f64 {
    // SAFETY: a zeroed out-parameter for getrusage.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return 0.0;
    }
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

/// `--device demo`: the built-in test tape.
pub const DEMO_DEVICE: &str = "demo";

/// Where the samples come from.
enum Source {
    Device(cpal::Stream),
    Demo(DemoTape),
}

impl Source {
    /// Stops the samples at the take's end.
    fn release(self, ended: &TakeEnd) {
        if ended.is_device_failure() {
            // A hung device may never return from its read: dropping the stream would wait on
            // it forever. Let it go on a thread of its own; the take is finished regardless.
            std::thread::spawn(move || drop(self));
        } else {
            drop(self);
        }
    }

    fn start(self) -> Result<Source, cpal::Error> {
        match self {
            Source::Device(stream) => {
                stream.play()?;
                Ok(Source::Device(stream))
            }
            Source::Demo(mut tape) => {
                tape.start();
                Ok(Source::Demo(tape))
            }
        }
    }
}

/// Captures a take and finishes it into an item in the archive. `tell` hears the start and
/// the live levels.
pub fn capture(
    req: &CaptureRequest,
    tell: &mut dyn FnMut(CaptureEvent),
) -> Result<CaptureOutcome, CaptureError> {
    capture_for_review(req, tell)?.commit()
}

/// Captures a take and makes it an item in staging, proved but not committed, for review.
pub fn capture_for_review(
    req: &CaptureRequest,
    tell: &mut dyn FnMut(CaptureEvent),
) -> Result<CapturedTake, CaptureError> {
    let p = &req.profile;
    let allows = check_request(req)?;
    let routing = Routing::of(p);
    let channels = routing.route.len();
    let (ends, drain) = ring::rings(routing.capacity);
    let (source, open_err) = open_source(req, routing.inputs, ends)?;
    let journal = create_journal(req, channels as u16)?;
    tell(CaptureEvent::Ready {
        allows_seconds: allows,
    });
    let source = source.start().map_err(|e| open_err(e.to_string()))?;
    let (started, cpu_at_start) = (Instant::now(), process_cpu_seconds());
    let meter = LiveMeter::new(channels, p.sample_rate, p.bit_depth);
    let mut writer = TakeWriter::new(drain, journal, routing, req.duration, meter);
    let ended = writer.run(&req.stop, &req.archive.root, tell);
    tell(CaptureEvent::Ended { reason: &ended });
    source.release(&ended);
    // Said beside the journal, so that a take that cannot be finished now is recovered later
    // with the reason it ended (best effort: on a full disk even this may not fit).
    let (mut journal, take_gaps) = writer.finish();
    let _ = journal.note_end(&ended.to_string());
    let frames = journal.frames();
    let capture_seconds = started.elapsed().as_secs_f64();
    let capture_cpu_seconds = process_cpu_seconds() - cpu_at_start;
    let (wav, lock) = journal.finish().map_err(|source| CaptureError::Journal {
        journal: PathBuf::new(),
        source,
    })?;
    let report = capture_report(&req.device, &ended, false, &take_gaps, p.sample_rate);
    match finish(req, &wav, report.clone()) {
        Ok(prepared) => Ok(CapturedTake {
            prepared,
            journal: wav,
            lock,
            frames,
            capture: report,
            capture_seconds,
            capture_cpu_seconds,
        }),
        Err(e) => Err(CaptureError::Finish {
            ended: report.ended,
            journal: wav,
            source: Box::new(e),
        }),
    }
}

/// Refuses a take that could not become an item (identifiers, metadata, an existing item,
/// an archive that cannot be written, a disk without room for the duration asked); the
/// seconds of recording the disk allows.
fn check_request(req: &CaptureRequest) -> Result<f64, CaptureError> {
    let p = &req.profile;
    crate::metadata::check_identifier("id", &req.id)?;
    crate::metadata::check_identifier("collection", &req.collection)?;
    for (origin, given) in [
        ("the profile's defaults", &p.default_metadata),
        ("--meta", &req.meta.0),
    ] {
        for (k, v) in given {
            crate::metadata::check_given(origin, k, v)?;
        }
    }
    let base = crate::ingest::base_fields(&req.archive, p)
        .map_err(|e| CaptureError::NoOriginator(Box::new(IngestError::Archive(e))))?;
    let fields = Fields::layered(&base, &Default::default(), &req.meta);
    fields.check(&p.required_metadata)?;
    // Before a second is recorded: a take whose item could not be ingested is not started.
    if crate::ingest::originator(&fields).is_empty() {
        return Err(CaptureError::NoOriginator(Box::new(
            IngestError::NoOriginator {
                settings: req.archive.meta_dir().join(crate::archive::settings::FILE),
            },
        )));
    }
    if req.archive.item_dir(&req.collection, &req.id).exists() {
        return Err(CaptureError::ItemExists {
            collection: req.collection.clone(),
            id: req.id.clone(),
        });
    }
    req.archive.prepare_for_writing().map_err(|e| {
        CaptureError::JournalSetup(JournalError::Bad {
            path: req.archive.root.clone(),
            detail: e.to_string(),
        })
    })?;
    let allows = recording_room(&req.archive, p).unwrap_or(f64::INFINITY);
    if let Some(frames) = req.duration {
        let wanted = frames as f64 / f64::from(p.sample_rate);
        if allows < wanted {
            return Err(CaptureError::DiskSpace {
                path: req.archive.root.clone(),
                free: free_bytes(&req.archive.root).unwrap_or(0),
                allows,
                wanted,
            });
        }
    }
    Ok(allows)
}

/// The source of the take's samples, started later, and how to say it could not be opened.
fn open_source(
    req: &CaptureRequest,
    inputs: u16,
    ends: CallbackEnds,
) -> Result<(Source, impl Fn(String) -> CaptureError + '_), CaptureError> {
    let p = &req.profile;
    let format = match p.bit_depth {
        16 => "16-bit integer",
        // cpal's I24 is S24_LE: 24 bits right-justified in 4 bytes.
        24 => "24-bit integer (in 32-bit containers)",
        32 => "32-bit integer",
        bits => {
            return Err(CaptureError::Depth {
                profile: p.name.clone(),
                bits,
            })
        }
    };
    let open_err = move |detail: String| CaptureError::Open {
        device: req.device.clone(),
        channels: inputs,
        rate: p.sample_rate,
        format: format.into(),
        detail,
    };
    let source = if req.device == DEMO_DEVICE {
        if p.sample_rate != crate::demo::RATE || inputs > 2 {
            return Err(open_err(format!(
                "the demo tape is {} Hz stereo; use a profile at that rate with at most 2 inputs (e.g. quarter-inch-half-track-stereo)",
                crate::demo::RATE
            )));
        }
        Source::Demo(DemoTape::new(ends, inputs, p.bit_depth))
    } else {
        let device = open_input(&req.device)?;
        let config = cpal::StreamConfig {
            channels: inputs,
            sample_rate: p.sample_rate,
            buffer_size: req
                .buffer
                .map_or(cpal::BufferSize::Default, cpal::BufferSize::Fixed),
        };
        let stream = match p.bit_depth {
            16 => build::<i16>(&device, &config, ends, i32::from),
            24 => build::<cpal::I24>(&device, &config, ends, |s| s.inner()),
            _ => build::<i32>(&device, &config, ends, |s| s),
        };
        Source::Device(stream.map_err(|e| open_err(e.to_string()))?)
    };

    Ok((source, open_err))
}

/// The take's journal, named for the item, the start and this process.
fn create_journal(req: &CaptureRequest, channels: u16) -> Result<Journal, CaptureError> {
    let p = &req.profile;
    let info = TakeInfo {
        profile: req.profile_arg.clone(),
        id: req.id.clone(),
        collection: req.collection.clone(),
        meta: req
            .meta
            .0
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        device: req.device.clone(),
        started: rfc3339(req.now),
        pid: std::process::id(),
    };
    let journal_name = format!(
        "{}.{}.{}.{}",
        req.collection,
        req.id,
        req.now.unix_timestamp(),
        std::process::id()
    );
    Ok(Journal::create(
        &req.archive.meta_dir().join("journal"),
        &journal_name,
        &info,
        channels,
        p.sample_rate,
        p.bit_depth as u16,
    )?)
}

/// A take captured and made into an item in staging, proved, for review: [`CapturedTake::commit`]
/// puts it into the archive, [`CapturedTake::discard`] throws it away. Its journal is kept
/// (and locked) until then, so a crash during review loses nothing: the next start's
/// [`recover`] finishes the take from its journal.
#[derive(Debug)]
pub struct CapturedTake {
    pub prepared: Prepared,
    journal: PathBuf,
    lock: std::fs::File,
    pub frames: u64,
    pub capture: CaptureReport,
    pub capture_seconds: f64,
    pub capture_cpu_seconds: f64,
}

impl CapturedTake {
    /// Commits the item into the archive, then removes the take's journal.
    pub fn commit(self) -> Result<CaptureOutcome, CaptureError> {
        let CapturedTake {
            prepared,
            journal,
            lock,
            frames,
            capture,
            capture_seconds,
            capture_cpu_seconds,
        } = self;
        match prepared.commit() {
            Ok(ingest) => {
                drop(lock);
                journal::remove(&journal);
                Ok(CaptureOutcome {
                    ingest,
                    frames,
                    capture,
                    capture_seconds,
                    capture_cpu_seconds,
                })
            }
            Err(e) => Err(CaptureError::Finish {
                ended: capture.ended,
                journal,
                source: Box::new(e),
            }),
        }
    }

    /// Throws the take away, its journal included: the operator's decision, never automatic.
    pub fn discard(self) {
        let CapturedTake {
            prepared,
            journal,
            lock,
            ..
        } = self;
        prepared.discard();
        drop(lock);
        journal::remove(&journal);
    }
}

/// The QC report's account of a captured take.
pub(super) fn capture_report(
    device: &str,
    ended: &TakeEnd,
    recovered: bool,
    gaps: &[Gap],
    rate: u32,
) -> CaptureReport {
    let gaps: Vec<Defect> = gaps
        .iter()
        .map(|g| {
            Defect::new(
                g.kind.into(),
                None,
                FrameIndex(g.at),
                FrameCount(g.frames),
                rate,
            )
        })
        .collect();
    CaptureReport {
        device: device.into(),
        ended: ended.to_string(),
        recovered,
        // A take that ended on a failure is as suspect as one with a gap.
        flagged: recovered || !gaps.is_empty() || !ended.as_asked(),
        gaps,
    }
}

/// The finished journal into an item in staging, through the ingest path.
fn finish(
    req: &CaptureRequest,
    wav: &std::path::Path,
    capture: CaptureReport,
) -> Result<Prepared, IngestError> {
    prepare(&IngestRequest {
        profile: req.profile.clone(),
        id: req.id.clone(),
        collection: req.collection.clone(),
        meta: req.meta.clone(),
        archive: req.archive.clone(),
        sources: vec![wav.to_path_buf()],
        now: req.now,
        interrupt: None,
        capture: Some(capture),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_take_length_is_whole_frames_more_than_none() {
        assert_eq!(take_frames(1.5, 48_000), Ok(72_000));
        assert_eq!(take_frames(0.25, 96_000), Ok(24_000));
        for bad in [f64::NAN, f64::INFINITY, -1.0, 0.0, 1e-9] {
            assert!(take_frames(bad, 48_000).is_err(), "{bad}");
        }
    }
}
