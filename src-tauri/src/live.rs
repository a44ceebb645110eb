//! Live data for the page, over the `Channel` it opened: a take's meters and warnings, a
//! verification's progress, the watcher's events. Each runner calls one library function on a
//! thread of its own and turns what the library tells it into JSON messages; nothing is sent
//! from the audio callback (the library's capturing thread samples its meters every 50 ms).

use crate::failure::Failure;
use capstan::archive::events::Event;
use capstan::archive::item_id::ItemId;
use capstan::archive::Archive;
use capstan::capture::{capture_for_review, CaptureEvent, CaptureRequest, CapturedTake};
use capstan::fixity::{BagOutcome, Observer, Problem};
use capstan::report::{CaptureReport, QcReport};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tauri::ipc::Channel;

/// The stop flag of the take (or watcher) running, if any: the next may start only once the
/// runner has cleared it, on its way out.
pub type Slot = Arc<Mutex<Option<Arc<AtomicBool>>>>;

/// The take waiting for the operator's review (its item, `collection/id`): staged and proved,
/// not yet in the archive.
pub type Pending = Arc<Mutex<Option<(String, CapturedTake)>>>;

/// Clears `slot` if it still holds `mine`.
fn release(slot: &Slot, mine: &Arc<AtomicBool>) {
    let mut held = slot.lock().expect("not poisoned");
    if held.as_ref().is_some_and(|h| Arc::ptr_eq(h, mine)) {
        *held = None;
    }
}

/// One channel's meters (levels in dB; `null` for silence).
#[derive(Serialize, ts_rs::TS)]
pub struct Meter {
    #[ts(type = "number | null")]
    peak_dbfs: f64,
    #[ts(type = "number | null")]
    hold_dbfs: f64,
    clip: bool,
    #[ts(type = "number | null")]
    true_peak_dbtp: f64,
}

/// What a take says, in order: `ready`, then `levels` (25 a second) with `gap` and
/// `device_silent` as they happen, `ended`, then `done` (the take is staged for review) or
/// `failed`.
#[derive(Serialize, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CaptureMsg {
    Ready {
        /// Seconds of recording the free disk allows at the profile's data rate (null: unknown).
        allows_seconds: Option<f64>,
        sample_rate: u32,
        channels: Vec<String>,
    },
    Levels {
        frames: u64,
        channels: Vec<Meter>,
        #[ts(type = "number | null")]
        momentary_lufs: f64,
        correlation: Option<f64>,
    },
    Gap {
        gap: &'static str,
        at: u64,
        frames: u64,
    },
    DeviceSilent {
        seconds: u64,
    },
    Ended {
        reason: String,
    },
    Done {
        item: String,
        /// The staged bag (it moves into the archive when approved).
        bag: PathBuf,
        frames: u64,
        report: Box<QcReport>,
        capture: CaptureReport,
        capture_seconds: f64,
        capture_cpu_seconds: f64,
    },
    Failed {
        failure: Failure,
    },
}

/// Runs one take, to the point where it waits for review.
pub struct Capture {
    events: Channel<CaptureMsg>,
    slot: Slot,
    pending: Pending,
}

impl Capture {
    pub fn new(events: Channel<CaptureMsg>, slot: Slot, pending: Pending) -> Capture {
        Capture {
            events,
            slot,
            pending,
        }
    }

    pub fn run(self, req: &CaptureRequest) {
        let send = |m: CaptureMsg| {
            // A page that went away (reloaded) no longer listens; the take goes on regardless.
            let _ = self.events.send(m);
        };
        let mut tell = |e: CaptureEvent| {
            send(match e {
                CaptureEvent::Ready { allows_seconds } => CaptureMsg::Ready {
                    allows_seconds: allows_seconds.is_finite().then_some(allows_seconds),
                    sample_rate: req.profile.sample_rate,
                    channels: req.profile.channel_names.clone(),
                },
                CaptureEvent::Levels {
                    frames,
                    channels,
                    momentary_lufs,
                    correlation,
                } => CaptureMsg::Levels {
                    frames,
                    channels: channels
                        .iter()
                        .map(|c| Meter {
                            peak_dbfs: c.peak_dbfs,
                            hold_dbfs: c.hold_dbfs,
                            clip: c.clip,
                            true_peak_dbtp: c.true_peak_dbtp,
                        })
                        .collect(),
                    momentary_lufs,
                    correlation,
                },
                CaptureEvent::Gap { kind, at, frames } => CaptureMsg::Gap {
                    gap: kind,
                    at,
                    frames,
                },
                CaptureEvent::DeviceSilent { seconds } => CaptureMsg::DeviceSilent { seconds },
                CaptureEvent::Ended { reason } => CaptureMsg::Ended {
                    reason: reason.to_string(),
                },
            })
        };
        let outcome = capture_for_review(req, &mut tell);
        // The next take may start as soon as the page hears of this one's end.
        release(&self.slot, &req.stop);
        send(match outcome {
            Ok(take) => {
                let item = ItemId::known(&req.collection, &req.id).to_string();
                let done = CaptureMsg::Done {
                    item: item.clone(),
                    bag: take.prepared.bag_dir().to_path_buf(),
                    frames: take.frames,
                    report: Box::new(take.prepared.report().clone()),
                    capture: take.capture.clone(),
                    capture_seconds: take.capture_seconds,
                    capture_cpu_seconds: take.capture_cpu_seconds,
                };
                // A take left unreviewed (the page reloaded, another take) is dropped: its
                // staging goes, its journal stays for recovery at the next start.
                *self.pending.lock().expect("not poisoned") = Some((item, take));
                done
            }
            Err(e) => CaptureMsg::Failed { failure: e.into() },
        });
    }
}

/// How a verification is going.
#[derive(Serialize, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum VerifyMsg {
    Progress {
        files_done: u64,
        files: u64,
        bytes_done: u64,
        bytes: u64,
    },
    /// The outcome could not be recorded in the archive (the verification itself stands).
    Warning { message: String },
}

/// Sends progress at most every 100 ms, and records each batch's outcome in the archive as
/// `capstan verify` does.
pub struct VerifyProgress {
    channel: Channel<VerifyMsg>,
    files_done: AtomicU64,
    files: AtomicU64,
    bytes_done: AtomicU64,
    bytes: AtomicU64,
    last_sent: Mutex<Instant>,
}

impl VerifyProgress {
    pub fn new(channel: Channel<VerifyMsg>) -> VerifyProgress {
        VerifyProgress {
            channel,
            files_done: AtomicU64::new(0),
            files: AtomicU64::new(0),
            bytes_done: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            last_sent: Mutex::new(Instant::now() - Duration::from_secs(1)),
        }
    }

    fn send(&self, force: bool) {
        let mut last = self.last_sent.lock().expect("not poisoned");
        if !force && last.elapsed() < Duration::from_millis(100) {
            return;
        }
        *last = Instant::now();
        let _ = self.channel.send(VerifyMsg::Progress {
            files_done: self.files_done.load(Ordering::Relaxed),
            files: self.files.load(Ordering::Relaxed),
            bytes_done: self.bytes_done.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
        });
    }

    /// The last word: everything read.
    pub fn finish(&self) {
        self.send(true);
    }
}

impl Observer for VerifyProgress {
    fn planned(&self, files: u64, bytes: u64) {
        self.files.fetch_add(files, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.send(true);
    }

    fn checked(&self, bytes: u64) {
        self.files_done.fetch_add(1, Ordering::Relaxed);
        self.bytes_done.fetch_add(bytes, Ordering::Relaxed);
        self.send(false);
    }

    fn bags_done(&self, bags: &[BagOutcome], problems: &[Problem], deep: bool) {
        for (archive, outcome) in capstan::fixity::record_checks(bags, problems, deep) {
            if let Err(e) = outcome {
                let _ = self.channel.send(VerifyMsg::Warning {
                    message: format!("the outcome was not recorded in {}: {e}", archive.display()),
                });
            }
        }
    }
}

/// The watcher's state and what it records.
#[derive(Serialize, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WatchMsg {
    Running,
    Event { event: Event },
    Notice { text: String },
    Stopped,
    Failed { failure: Failure },
}

/// Keeps the archive proved until `stop`: every file re-read once every 30 days, at most
/// 50 MB/s so that it never competes with a capture.
pub fn watch(archive: &Archive, stop: Arc<AtomicBool>, events: Channel<WatchMsg>, slot: Slot) {
    let opts = capstan::watch::WatchOptions {
        every: Some(Duration::from_secs(30 * 86_400)),
        max_rate: Some(50_000_000),
        settle: Duration::from_millis(500),
        once: false,
    };
    let _ = events.send(WatchMsg::Running);
    let mut tell = |t: capstan::watch::Tell| {
        let _ = events.send(match t {
            capstan::watch::Tell::Event(e) => WatchMsg::Event { event: e.clone() },
            capstan::watch::Tell::Notice(text) => WatchMsg::Notice { text },
        });
    };
    let outcome = capstan::watch::watch(archive, &opts, &stop, &mut tell);
    release(&slot, &stop);
    let _ = events.send(match outcome {
        Ok(()) => WatchMsg::Stopped,
        Err(e) => WatchMsg::Failed {
            failure: Failure::new("watch", e.to_string()),
        },
    });
}
