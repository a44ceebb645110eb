//! Listening in the station: one playback at a time, on a thread of its own that owns the
//! library's [`Player`] (a cpal stream stays on the thread that made it), steered by the
//! commands over a channel and telling the page where the play head is 25 times a second.
//! Starting a playback stops the one before; the files are only read (the library's promise).

use crate::failure::Failure;
use capstan::playback::{Listen, PlayRequest, Player};
use serde::Serialize;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use tauri::ipc::Channel;

/// How often the play head is sent.
const TICK: Duration = Duration::from_millis(40);

/// The playback running, if any.
pub type PlaySlot = Arc<Mutex<Option<Session>>>;

pub struct Session {
    control: mpsc::Sender<Control>,
    thread: JoinHandle<()>,
}

enum Control {
    Listen(Listen, mpsc::Sender<Result<(), Failure>>),
    Stop,
}

/// What a playback says: `position` while it plays, then `ended` (stopped, or played to the
/// end) or `failed` (the device or a file failed mid-play).
#[derive(Serialize, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PlayMsg {
    Position {
        /// The frame the device is playing.
        frame: u64,
        listen: Listen,
    },
    Ended {
        frame: u64,
        /// Stopped by the operator (or by another playback), not played to the end.
        stopped: bool,
        /// Device periods the decoding could not fill in time.
        starved: u64,
    },
    Failed {
        failure: Failure,
    },
}

/// A playback as it started.
#[derive(Serialize, ts_rs::TS)]
pub struct Playing {
    /// The first frame played.
    pub from: u64,
    /// The master's length, frames, rate, channels and depth (the device is opened at these).
    pub frames: u64,
    pub sample_rate: u32,
    pub channels: usize,
    pub bits: u32,
    /// An access copy is there to A/B against, and to hear the difference of.
    pub has_copy: bool,
    /// The overview lanes the master fills (first, and one past the last).
    pub lanes: (usize, usize),
    pub difference_gain_db: f64,
}

fn failure(e: capstan::playback::PlaybackError) -> Failure {
    use capstan::playback::PlaybackError as E;
    let code = match e {
        E::NoDevice { .. } => "no_device",
        E::Device { .. } => "device",
        E::PastEnd { .. } => "bad_number",
        E::NoCopy { .. } => "no_copy",
        E::Mismatch { .. } | E::Flac(_) => "playback",
    };
    Failure::new(code, e.to_string())
}

/// Stops the playback in `slot`, if any, and waits for its device to be released.
pub fn stop(slot: &PlaySlot) {
    let old = slot.lock().expect("not poisoned").take();
    if let Some(s) = old {
        let _ = s.control.send(Control::Stop);
        let _ = s.thread.join();
    }
}

/// Switches what the running playback plays, at the same position.
pub fn listen(slot: &PlaySlot, what: Listen) -> Result<(), Failure> {
    let not_playing = || Failure::new("not_playing", "nothing is playing");
    let (tx, rx) = mpsc::channel();
    {
        let held = slot.lock().expect("not poisoned");
        let s = held.as_ref().ok_or_else(not_playing)?;
        s.control
            .send(Control::Listen(what, tx))
            .map_err(|_| not_playing())?;
    }
    rx.recv().map_err(|_| not_playing())?
}

/// Starts `req` (after stopping whatever played), reporting over `events`; answers once the
/// device plays or has refused.
pub fn start(
    slot: &PlaySlot,
    req: PlayRequest,
    lanes: std::ops::Range<usize>,
    events: Channel<PlayMsg>,
) -> Result<Playing, Failure> {
    // The lock is held throughout, so two starts never overlap: one playback at a time.
    let mut held = slot.lock().expect("not poisoned");
    if let Some(s) = held.take() {
        let _ = s.control.send(Control::Stop);
        let _ = s.thread.join();
    }
    let (control, commands) = mpsc::channel();
    let (answer, started) = mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("playback".into())
        .spawn(move || run(&req, lanes, &commands, &answer, &events))
        .map_err(|e| Failure::new("thread", e.to_string()))?;
    let playing = started
        .recv()
        .map_err(|_| Failure::new("thread", "the playback thread ended without a word"))?;
    match playing {
        Ok(p) => {
            *held = Some(Session { control, thread });
            Ok(p)
        }
        Err(f) => {
            let _ = thread.join();
            Err(f)
        }
    }
}

fn run(
    req: &PlayRequest,
    lanes: std::ops::Range<usize>,
    commands: &mpsc::Receiver<Control>,
    answer: &mpsc::Sender<Result<Playing, Failure>>,
    events: &Channel<PlayMsg>,
) {
    let player = match Player::start(req) {
        Ok(p) => p,
        Err(e) => {
            let _ = answer.send(Err(failure(e)));
            return;
        }
    };
    let _ = answer.send(Ok(Playing {
        from: req.from.0,
        frames: player.frames,
        sample_rate: player.sample_rate,
        channels: player.channels,
        bits: player.bits,
        has_copy: req.copy.is_some(),
        lanes: (lanes.start, lanes.end),
        difference_gain_db: req.difference_gain_db,
    }));
    let stopped = loop {
        match commands.recv_timeout(TICK) {
            Ok(Control::Listen(what, done)) => {
                let _ = done.send(player.listen(what).map_err(failure));
            }
            Ok(Control::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => break true,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if player.finished() {
            break false;
        }
        // The page may have gone (reloaded): then nobody listens either.
        if events
            .send(PlayMsg::Position {
                frame: player.position().0,
                listen: player.listening(),
            })
            .is_err()
        {
            break true;
        }
    };
    let (frame, starved) = (player.position().0, player.starved());
    let msg = match player.stop() {
        Ok(()) => PlayMsg::Ended {
            frame,
            stopped,
            starved,
        },
        Err(e) => PlayMsg::Failed {
            failure: failure(e),
        },
    };
    let _ = events.send(msg);
}
