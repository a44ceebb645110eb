//! The demo transfer: a synthetic tape, so every step of the station can be shown on any
//! machine. 20 s of 96 kHz/24-bit stereo: head silence, a 1 kHz line-up tone at -18 dBFS,
//! programme-like chords over tape hiss, a clipped passage, three clicks, a dropout (50 ms
//! where the level falls by 30 dB, as when oxide is missing), tail silence.
//! Deterministic: the same bytes every time.

use crate::flac::riff;
use std::io::Write;
use std::path::Path;

/// Sample rate of the demo tape.
pub const RATE: u32 = 96_000;
/// Its length in seconds.
pub const SECONDS: u32 = 20;
/// Where the dropout starts (s) and how long it lasts (s).
pub const DROPOUT_AT: f64 = 16.5;
pub const DROPOUT_SECONDS: f64 = 0.05;
/// Where the clipped passage starts (s) and how long it lasts (frames).
pub const CLIP_AT: f64 = 12.0;
pub const CLIP_FRAMES: u64 = 960;

/// The demo signal, interleaved stereo, right-justified 24-bit.
pub fn demo_signal() -> Vec<i32> {
    let n = (RATE * SECONDS) as usize;
    let fs = f64::from(RATE);
    let full = f64::from((1 << 23) - 1);
    let mut seed: u32 = 0x1234_5678;
    let mut noise = move || {
        // xorshift32: deterministic hiss.
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        f64::from(seed) / f64::from(u32::MAX) * 2.0 - 1.0
    };
    let clip_start = (CLIP_AT * fs) as usize;
    let mut out = Vec::with_capacity(n * 2);
    for i in 0..n {
        let t = i as f64 / fs;
        let hiss = noise() * 10f64.powf(-72.0 / 20.0);
        let (mut l, mut r) = if !(0.5..18.5).contains(&t) {
            (0.0, 0.0)
        } else if t < 5.5 {
            let tone = 10f64.powf(-18.0 / 20.0) * (2.0 * std::f64::consts::PI * 1000.0 * t).sin();
            (tone, tone)
        } else if t < 6.0 {
            (hiss, hiss)
        } else {
            // Chords changing every 1.5 s, with a slow swell, over hiss.
            let chord = ((t - 6.0) / 1.5) as usize % 4;
            let roots = [220.0, 174.61, 261.63, 196.0];
            let f0 = roots[chord];
            let env = 0.25 * (0.6 + 0.4 * (2.0 * std::f64::consts::PI * 0.2 * t).sin());
            let voice = |f: f64, phase: f64| {
                (2.0 * std::f64::consts::PI * f * t + phase).sin()
                    + 0.4 * (2.0 * std::f64::consts::PI * 2.0 * f * t + phase).sin()
            };
            let s = env * (voice(f0, 0.0) + voice(f0 * 1.26, 0.3) + voice(f0 * 1.5, 0.7)) / 3.0;
            let s2 = env * (voice(f0, 0.2) + voice(f0 * 1.26, 0.1) + voice(f0 * 1.5, 0.9)) / 3.0;
            (s + hiss, s2 + noise() * 10f64.powf(-72.0 / 20.0))
        };
        if i >= clip_start && i < clip_start + CLIP_FRAMES as usize {
            // An overdriven passage: the converter clips.
            l = (l * 40.0).clamp(-1.0, 1.0);
            r = (r * 40.0).clamp(-1.0, 1.0);
        }
        if (DROPOUT_AT..DROPOUT_AT + DROPOUT_SECONDS).contains(&t) {
            let loss = 10f64.powf(-30.0 / 20.0);
            l *= loss;
            r *= loss;
        }
        for (at, level) in [(8.25, 0.6), (10.5, -0.45), (15.75, 0.7)] {
            if i == (at * fs) as usize {
                l += level;
            }
        }
        out.push((l.clamp(-1.0, 1.0) * full).round() as i32);
        out.push((r.clamp(-1.0, 1.0) * full).round() as i32);
    }
    out
}

/// Writes a plain PCM WAV (WAVE_FORMAT_EXTENSIBLE when over 16 bits or 2 channels), with
/// `before` chunks (whole chunks, see [`riff::chunk`]) before `data`.
pub fn write_wav(
    path: &Path,
    channels: u16,
    rate: u32,
    bits: u16,
    samples: &[i32],
    before: &[Vec<u8>],
) -> std::io::Result<()> {
    let bytes = usize::from(bits / 8);
    let mut data = Vec::with_capacity(samples.len() * bytes);
    for &s in samples {
        data.extend_from_slice(&s.to_le_bytes()[..bytes]);
    }
    let fmt = riff::fmt_payload(channels, rate, bits, None);
    let mut body = Vec::new();
    body.extend_from_slice(b"WAVE");
    body.extend_from_slice(&riff::chunk(b"fmt ", &fmt));
    for c in before {
        body.extend_from_slice(c);
    }
    body.extend_from_slice(&riff::chunk(b"data", &data));
    let mut f = std::fs::File::create(path)?;
    f.write_all(b"RIFF")?;
    f.write_all(&(body.len() as u32).to_le_bytes())?;
    f.write_all(&body)?;
    f.sync_all()
}

/// Writes the demo tape as a WAV.
pub fn write_demo_wav(path: &Path) -> std::io::Result<()> {
    write_wav(path, 2, RATE, 24, &demo_signal(), &[])
}
