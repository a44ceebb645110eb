//! Playback: a master or an access copy heard through an output device, from any point, so
//! an operator can listen to what the meters and the defect map say, and A/B a restoration
//! against its master.
//!
//! # Promises
//!
//! - **The files are only read.** They are opened read-only and decoded; nothing is written
//!   beside them.
//! - **Unchanged samples.** At the source's depth the device is opened with an integer format
//!   that holds it (16 → I16, 17-24 → I24, deeper → I32), so what reaches the device is the
//!   master's samples bit for bit (tested through ALSA's `file` plugin). The difference
//!   signal is master − copy, gained by a whole number of bits' worth (`difference_gain_db`,
//!   rounded to a power of two) and clamped at the rails.
//! - **Nothing blocks the callback.** A feeder thread decodes and pushes interleaved samples
//!   into a lock-free ring (`rtrb`); the device's callback only pops, converts and counts.
//!   Running dry plays silence and is counted, never waited for.
//! - **A/B at the same position.** Master and copy are decoded in lockstep and travel the ring
//!   together, frame by frame; the callback picks master, copy or their difference as it hands
//!   each period to the device, so a switch ([`Player::listen`]) is heard within the device's
//!   own buffer, at the same place in the take, however long the ring (which only has to ride
//!   out a slow disk or a busy machine).
//! - **A play head.** [`Player::position`] is the frame the device has taken last: what the
//!   operator hears, less the device's own buffer.

use crate::capture::device::{find_device, host_devices, Direction};
use crate::flac::decode::FlacReader;
use crate::flac::FlacError;
use crate::report::TakeReport;
use crate::units::FrameIndex;
use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// What is heard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum Listen {
    /// The master (or the one file played).
    Master,
    /// The access copy.
    Copy,
    /// What the restoration removed: master − copy, gained up.
    Difference,
}

impl Listen {
    fn code(self) -> u8 {
        self as u8
    }

    fn from_code(c: u8) -> Listen {
        match c {
            1 => Listen::Copy,
            2 => Listen::Difference,
            _ => Listen::Master,
        }
    }
}

/// What to play, from where, on which device.
#[derive(Debug, Clone)]
pub struct PlayRequest {
    /// The master (FLAC).
    pub master: PathBuf,
    /// An access copy of it (FLAC, same shape), for A/B and the difference.
    pub copy: Option<PathBuf>,
    /// First frame played.
    pub from: FrameIndex,
    /// Output device name (as [`output_devices`] lists it); the host's default if `None`.
    pub device: Option<String>,
    /// What is heard first.
    pub listen: Listen,
    /// Gain of the difference signal, dB (rounded to 6.02 dB steps: a shift).
    pub difference_gain_db: f64,
    /// How far the decoding runs ahead of the device, seconds (at least 0.05): what a slow
    /// disk or a busy machine may lag by without a gap.
    pub buffer_seconds: f64,
}

/// One master of a take as it is heard: the file, the access copy made from it alone (for
/// A/B and the difference), and the lanes of the take's overview it fills (the overview has
/// each master's channels in turn).
#[derive(Debug, Clone, PartialEq)]
pub struct Listenable {
    pub master: PathBuf,
    pub copy: Option<PathBuf>,
    pub lanes: std::ops::Range<usize>,
}

/// The masters of `take`, whose bag is at `bag`, in the order of its overview's lanes. Paths
/// from the report are trusted only when they stay inside the bag; an access copy made from
/// several masters (one per channel) is not offered for A/B: it has not the master's shape.
pub fn listenables(bag: &Path, take: &TakeReport) -> Result<Vec<Listenable>, String> {
    let inside = |file: &str| {
        if crate::archive::bag::safe_payload_path(file) {
            Ok(bag.join(file))
        } else {
            Err(format!("{file:?} is not a path inside the bag"))
        }
    };
    let mut lane = 0;
    let mut out = Vec::with_capacity(take.masters.len());
    for m in &take.masters {
        let width = if m.channel.is_some() {
            1
        } else {
            take.source.channels
        };
        let copy = match &take.access_copy {
            Some(ac) if ac.derived_from.len() == 1 && ac.derived_from[0] == m.file => {
                Some(inside(&ac.file)?)
            }
            _ => None,
        };
        out.push(Listenable {
            master: inside(&m.file)?,
            copy,
            lanes: lane..lane + width,
        });
        lane += width;
    }
    if out.is_empty() {
        return Err("the take names no master".into());
    }
    Ok(out)
}

/// One output device.
#[derive(Debug, Clone, Serialize)]
pub struct OutputDevice {
    /// cpal's id, `host:name`.
    pub id: String,
    /// The name [`PlayRequest::device`] takes.
    pub name: String,
    pub description: String,
}

/// Why playback could not start or went wrong.
#[derive(Debug, thiserror::Error)]
pub enum PlaybackError {
    #[error(transparent)]
    Flac(#[from] FlacError),
    #[error("{copy}: not an access copy of {master} ({detail})")]
    Mismatch {
        master: PathBuf,
        copy: PathBuf,
        detail: String,
    },
    #[error("{path}: starts at frame {from}, past its end ({frames} frames)")]
    PastEnd {
        path: PathBuf,
        from: u64,
        frames: u64,
    },
    #[error("there is no access copy to play {listen:?} from")]
    NoCopy { listen: Listen },
    #[error("no output device {name:?}; `capstan play --list-devices` lists them")]
    NoDevice { name: String },
    #[error("output device {device}: {detail}")]
    Device { device: String, detail: String },
}

/// Every output device of every available host.
pub fn output_devices() -> Vec<OutputDevice> {
    host_devices(Direction::Output)
        .into_iter()
        .map(|(id, d)| OutputDevice {
            name: id
                .split_once(':')
                .map_or(id.as_str(), |(_, n)| n)
                .to_string(),
            description: d
                .description()
                .map(|d| d.name().to_string())
                .unwrap_or_default(),
            id,
        })
        .collect()
}

fn open_output(name: Option<&str>) -> Result<(cpal::Device, String), PlaybackError> {
    let Some(name) = name else {
        let host = cpal::default_host();
        let d = host
            .default_output_device()
            .ok_or(PlaybackError::NoDevice {
                name: "(default)".into(),
            })?;
        return Ok((d, "(default)".into()));
    };
    find_device(name, Direction::Output)
        .map(|d| (d, name.to_string()))
        .ok_or_else(|| PlaybackError::NoDevice { name: name.into() })
}

/// FLAC carries at most 8 channels (the callback's frame lives on its stack).
const MAX_CHANNELS: usize = 8;

/// Frames decoded per step of the feeder.
const STEP_FRAMES: usize = 2048;
/// The ring's length by default, seconds: what a busy machine or a slow disk may lag by
/// without a gap (a switch between master, copy and difference does not wait for it).
pub const BUFFER_SECONDS: f64 = 0.5;

/// Playback in progress. Dropping it stops it.
pub struct Player {
    stream: Option<cpal::Stream>,
    feeder: Option<JoinHandle<Result<(), PlaybackError>>>,
    stop: Arc<AtomicBool>,
    listen: Arc<AtomicU8>,
    /// Frames the device has taken.
    played: Arc<AtomicU64>,
    /// Frames the feeder has pushed; all of the take's from `from` once it is done.
    pushed: Arc<AtomicU64>,
    fed_all: Arc<AtomicBool>,
    /// Callbacks that found the ring short.
    starved: Arc<AtomicU64>,
    has_copy: bool,
    from: u64,
    /// The take's length, frames, its rate and channels.
    pub frames: u64,
    pub sample_rate: u32,
    pub channels: usize,
    pub bits: u32,
}

impl Player {
    /// Opens the files and the device and starts playing.
    pub fn start(req: &PlayRequest) -> Result<Player, PlaybackError> {
        let mut master = FlacReader::open(&req.master)?;
        let info = *master.info();
        let (channels, rate, bits, frames) = (
            info.channels as usize,
            info.sample_rate,
            info.bits_per_sample,
            info.total_frames,
        );
        let mut copy = match &req.copy {
            Some(path) => {
                let c = FlacReader::open(path)?;
                let ci = *c.info();
                let mut differs = Vec::new();
                for (what, a, b) in [
                    ("channels", ci.channels as u64, channels as u64),
                    ("sample rate", u64::from(ci.sample_rate), u64::from(rate)),
                    ("bits", u64::from(ci.bits_per_sample), u64::from(bits)),
                    ("frames", ci.total_frames, frames),
                ] {
                    if a != b {
                        differs.push(format!("{what} {a}, the master's {b}"));
                    }
                }
                if !differs.is_empty() {
                    return Err(PlaybackError::Mismatch {
                        master: req.master.clone(),
                        copy: path.clone(),
                        detail: differs.join(", "),
                    });
                }
                Some(c)
            }
            None if req.listen != Listen::Master => {
                return Err(PlaybackError::NoCopy { listen: req.listen })
            }
            None => None,
        };
        let from = req.from.0;
        if from >= frames {
            return Err(PlaybackError::PastEnd {
                path: req.master.clone(),
                from,
                frames,
            });
        }
        master.seek(from)?;
        if let Some(c) = copy.as_mut() {
            c.seek(from)?;
        }
        let (device, device_name) = open_output(req.device.as_deref())?;
        let ring_frames =
            ((f64::from(rate) * req.buffer_seconds.max(0.05)) as usize).max(STEP_FRAMES);
        // With a copy, each frame travels as the master's samples then the copy's.
        let width = if copy.is_some() {
            2 * channels
        } else {
            channels
        };
        let ring_len = ring_frames * width;
        let (producer, consumer) = rtrb::RingBuffer::<i32>::new(ring_len);
        let stop = Arc::new(AtomicBool::new(false));
        let listen = Arc::new(AtomicU8::new(req.listen.code()));
        let played = Arc::new(AtomicU64::new(0));
        let pushed = Arc::new(AtomicU64::new(0));
        let fed_all = Arc::new(AtomicBool::new(false));
        let starved = Arc::new(AtomicU64::new(0));
        let shift = (req.difference_gain_db / (20.0 * 2f64.log10()))
            .round()
            .clamp(0.0, 24.0) as u32;
        let feeder = {
            let (stop, pushed, fed_all) =
                (Arc::clone(&stop), Arc::clone(&pushed), Arc::clone(&fed_all));
            std::thread::Builder::new()
                .name("capstan-playback-feeder".into())
                .spawn(move || {
                    let r = feed(producer, master, copy, channels, &stop, &pushed);
                    fed_all.store(true, Ordering::Release);
                    r
                })
                .expect("a thread for the playback feeder")
        };
        let config = cpal::StreamConfig {
            channels: channels as u16,
            sample_rate: rate,
            buffer_size: cpal::BufferSize::Default,
        };
        // The device starts once the ring is full (or the take ends sooner), so the first
        // periods are not silence.
        let ready = std::time::Instant::now();
        while (pushed.load(Ordering::Acquire) as usize) < ring_frames - STEP_FRAMES
            && !fed_all.load(Ordering::Acquire)
            && ready.elapsed() < Duration::from_secs(5)
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        let ends = CallbackEnds {
            ring: consumer,
            channels,
            width,
            listen: Arc::clone(&listen),
            shift,
            rails: ((1i64 << (bits - 1)) - 1, -(1i64 << (bits - 1))),
            played: Arc::clone(&played),
            starved: Arc::clone(&starved),
            fed_all: Arc::clone(&fed_all),
        };
        let stream = match bits {
            0..=16 => build::<i16>(&device, &config, ends, |v| v as i16),
            17..=24 => build::<cpal::I24>(&device, &config, ends, cpal::I24::new_unchecked),
            _ => build::<i32>(&device, &config, ends, |v| v),
        };
        let stream = stream.map_err(|e| PlaybackError::Device {
            device: device_name.clone(),
            detail: e.to_string(),
        })?;
        stream.play().map_err(|e| PlaybackError::Device {
            device: device_name,
            detail: e.to_string(),
        })?;
        Ok(Player {
            stream: Some(stream),
            feeder: Some(feeder),
            stop,
            listen,
            played,
            pushed,
            fed_all,
            starved,
            has_copy: req.copy.is_some(),
            from,
            frames,
            sample_rate: rate,
            channels,
            bits,
        })
    }

    /// The frame being played (the device's last period taken).
    pub fn position(&self) -> FrameIndex {
        FrameIndex((self.from + self.played.load(Ordering::Acquire)).min(self.frames))
    }

    /// Switches what is heard, at the same position.
    pub fn listen(&self, what: Listen) -> Result<(), PlaybackError> {
        if what != Listen::Master && !self.has_copy {
            return Err(PlaybackError::NoCopy { listen: what });
        }
        self.listen.store(what.code(), Ordering::Release);
        Ok(())
    }

    /// What is heard now.
    pub fn listening(&self) -> Listen {
        Listen::from_code(self.listen.load(Ordering::Acquire))
    }

    /// Whether everything from the start point to the end has been taken by the device.
    pub fn finished(&self) -> bool {
        self.fed_all.load(Ordering::Acquire)
            && self.played.load(Ordering::Acquire) >= self.pushed.load(Ordering::Acquire)
    }

    /// Callbacks that found the ring short before the end (the feeder fell behind).
    pub fn starved(&self) -> u64 {
        self.starved.load(Ordering::Acquire)
    }

    /// Frames handed to the device so far.
    pub fn played_frames(&self) -> u64 {
        self.played.load(Ordering::Acquire)
    }

    /// Stops playing; reports a decoding error the feeder met, if any.
    pub fn stop(mut self) -> Result<(), PlaybackError> {
        self.halt()
    }

    fn halt(&mut self) -> Result<(), PlaybackError> {
        self.stop.store(true, Ordering::Release);
        drop(self.stream.take());
        match self.feeder.take() {
            Some(h) => h.join().expect("playback feeder"),
            None => Ok(()),
        }
    }
}

impl Drop for Player {
    fn drop(&mut self) {
        let _ = self.halt();
    }
}

/// The feeder: decodes master (and copy) in lockstep and pushes each frame, the master's
/// samples then the copy's.
fn feed(
    mut producer: rtrb::Producer<i32>,
    mut master: FlacReader,
    mut copy: Option<FlacReader>,
    channels: usize,
    stop: &AtomicBool,
    pushed: &AtomicU64,
) -> Result<(), PlaybackError> {
    let width = if copy.is_some() {
        2 * channels
    } else {
        channels
    };
    let mut a = vec![0i32; STEP_FRAMES * channels];
    let mut b = vec![0i32; STEP_FRAMES * channels];
    let mut out = vec![0i32; STEP_FRAMES * width];
    loop {
        let n = master.read(&mut a)?;
        if n == 0 {
            return Ok(());
        }
        let out = match copy.as_mut() {
            Some(c) => {
                let m = c.read(&mut b[..n])?;
                b[m..n].fill(0);
                for ((o, x), y) in out
                    .chunks_exact_mut(width)
                    .zip(a[..n].chunks_exact(channels))
                    .zip(b[..n].chunks_exact(channels))
                {
                    o[..channels].copy_from_slice(x);
                    o[channels..].copy_from_slice(y);
                }
                &out[..n / channels * width]
            }
            None => &a[..n],
        };
        let mut at = 0;
        while at < out.len() {
            if stop.load(Ordering::Acquire) {
                return Ok(());
            }
            let room = producer.slots().min(out.len() - at);
            if room == 0 {
                std::thread::sleep(Duration::from_millis(2));
                continue;
            }
            if let Ok(chunk) = producer.write_chunk_uninit(room) {
                chunk.fill_from_iter(out[at..at + room].iter().copied());
            }
            at += room;
        }
        pushed.fetch_add((n / channels) as u64, Ordering::AcqRel);
    }
}

struct CallbackEnds {
    ring: rtrb::Consumer<i32>,
    channels: usize,
    /// Samples per frame in the ring (twice the channels with a copy).
    width: usize,
    listen: Arc<AtomicU8>,
    /// The difference's gain, in bits, and the rails it is clamped to (max, min).
    shift: u32,
    rails: (i64, i64),
    played: Arc<AtomicU64>,
    starved: Arc<AtomicU64>,
    fed_all: Arc<AtomicBool>,
}

fn build<T>(
    device: &cpal::Device,
    config: &cpal::StreamConfig,
    ends: CallbackEnds,
    convert: fn(i32) -> T,
) -> Result<cpal::Stream, cpal::Error>
where
    T: cpal::SizedSample + Send + 'static,
{
    let CallbackEnds {
        mut ring,
        channels,
        width,
        listen,
        shift,
        rails: (max, min),
        played,
        starved,
        fed_all,
    } = ends;
    let silence = T::EQUILIBRIUM;
    device.build_output_stream(
        *config,
        move |data: &mut [T], _: &cpal::OutputCallbackInfo| {
            // Whole frames only, so channels never slip.
            let frames = (ring.slots() / width).min(data.len() / channels);
            let what = Listen::from_code(listen.load(Ordering::Acquire));
            if let Ok(chunk) = ring.read_chunk(frames * width) {
                let (x, y) = chunk.as_slices();
                let mut from = x.iter().chain(y).copied();
                for frame in data[..frames * channels].chunks_exact_mut(channels) {
                    if width == channels {
                        for d in frame.iter_mut() {
                            *d = convert(from.next().unwrap_or(0));
                        }
                        continue;
                    }
                    // The master's samples, then the copy's: what is heard of them.
                    let mut m = [0i32; MAX_CHANNELS];
                    for v in &mut m[..channels] {
                        *v = from.next().unwrap_or(0);
                    }
                    for (d, &m) in frame.iter_mut().zip(&m[..channels]) {
                        let k = from.next().unwrap_or(0);
                        *d = convert(match what {
                            Listen::Master => m,
                            Listen::Copy => k,
                            Listen::Difference => {
                                ((i64::from(m) - i64::from(k)) << shift).clamp(min, max) as i32
                            }
                        });
                    }
                }
                chunk.commit_all();
            }
            let n = frames * channels;
            for d in &mut data[n..] {
                *d = silence;
            }
            // Short of samples before the end: an underrun, counted.
            if n < data.len() && !fed_all.load(Ordering::Acquire) {
                starved.fetch_add(1, Ordering::AcqRel);
            }
            played.fetch_add((n / channels) as u64, Ordering::AcqRel);
        },
        |_e: cpal::Error| {},
        None,
    )
}

/// Plays `req` to the end (or until `stop` is set), calling `tick` with the play head about
/// every 50 ms: the CLI's loop.
pub fn play_to_end(
    req: &PlayRequest,
    stop: &AtomicBool,
    mut tick: impl FnMut(&Player),
) -> Result<u64, PlaybackError> {
    let player = Player::start(req)?;
    while !player.finished() && !stop.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(50));
        tick(&player);
    }
    let played = player.played_frames();
    player.stop()?;
    Ok(played)
}
