//! `--device demo`: the built-in test tape, played through the same rings as a device.

use super::ring::{CallbackEnds, Feed};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The demo tape (`crate::demo`: line-up tone, programme, clicks, a dropout, a clipped
/// passage), played at real time in 10 ms periods through the same rings as a device, looping
/// until the take ends.
pub(super) struct DemoTape {
    feed: Option<(Feed, u16, u32)>,
    stop: Arc<AtomicBool>,
    player: Option<std::thread::JoinHandle<()>>,
}

impl DemoTape {
    pub(super) fn new(ends: CallbackEnds, inputs: u16, bits: u32) -> DemoTape {
        DemoTape {
            feed: Some((
                Feed::new(ends.samples, ends.gaps, ends.delivered, inputs),
                inputs,
                bits,
            )),
            stop: Arc::new(AtomicBool::new(false)),
            player: None,
        }
    }

    pub(super) fn start(&mut self) {
        let Some((mut feed, inputs, bits)) = self.feed.take() else {
            return;
        };
        let stop = Arc::clone(&self.stop);
        self.player = Some(std::thread::spawn(move || {
            let tape = crate::demo::demo_signal();
            let frames = tape.len() / 2;
            let rate = f64::from(crate::demo::RATE);
            let period = crate::demo::RATE as usize / 100;
            let inputs = usize::from(inputs);
            let mut buf = vec![0i32; period * inputs];
            let start = Instant::now();
            let (mut sent, mut pos) = (0u64, 0usize);
            while !stop.load(Ordering::Relaxed) {
                for (f, frame) in buf.chunks_exact_mut(inputs).enumerate() {
                    let at = (pos + f) % frames;
                    for (c, s) in frame.iter_mut().enumerate() {
                        let v = tape[at * 2 + c.min(1)];
                        // The tape is 24-bit: as a 16- or 32-bit converter would give it.
                        *s = match bits {
                            16 => v >> 8,
                            32 => v << 8,
                            _ => v,
                        };
                    }
                }
                feed.deliver(buf.len(), buf.iter().copied());
                sent += period as u64;
                pos = (pos + period) % frames;
                let due = start + Duration::from_secs_f64(sent as f64 / rate);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
        }));
    }
}

impl Drop for DemoTape {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(p) = self.player.take() {
            let _ = p.join();
        }
    }
}
