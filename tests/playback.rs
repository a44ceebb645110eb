//! Playback through a real ALSA playback PCM: alsa-lib's `file` plugin (no sound hardware
//! needed) writes what `capstan play` plays, raw and interleaved, to `$CAPSTAN_TEST_OUTFILE`
//! in the format the player opened it with (see ../shared/alsa). The written samples are
//! compared with the master's from the seek point (the master made by the reference `flac`
//! encoder from known samples, which ffmpeg decodes back identically).

mod common;

use common::*;
use std::path::{Path, PathBuf};

/// The playback device definition (as ../shared/alsa/asoundrc), in an XDG config folder.
fn alsa_config(dir: &Path) -> PathBuf {
    let conf = dir.join("xdg");
    std::fs::create_dir_all(conf.join("alsa")).unwrap();
    std::fs::write(
        conf.join("alsa/asoundrc"),
        "pcm.capstan_monitor {\n type file\n slave.pcm \"null\"\n \
         file { @func getenv vars [ CAPSTAN_TEST_OUTFILE ] default \"/dev/null\" }\n \
         format \"raw\"\n hint { show on description \"Capstan test monitor\" }\n}\n",
    )
    .unwrap();
    conf
}

/// A FLAC file of `samples` made by the reference encoder.
fn flac_of(path: &Path, samples: &[i32], channels: u16, rate: u32, bits: u16) {
    let wav = path.with_extension("wav");
    write_wav(&wav, &WavSpec::pcm(channels, rate, bits), samples);
    let o = run(std::process::Command::new(tool("flac"))
        .args(["-s", "-f", "-o"])
        .arg(path)
        .arg(&wav));
    assert!(o.status.success(), "{}", text(&o));
}

/// Plays with `args` to the monitor; the samples written, as i32 (S16_LE in 2 bytes, S24_LE
/// and S32_LE in 4), and the frames the player says it played.
fn play(tmp: &Path, args: &[&str], bits: u16, channels: usize) -> (Vec<i32>, usize) {
    let out = tmp.join(format!("played-{}.raw", args.join("_").replace('/', "_")));
    let o = run(capstan()
        .env("XDG_CONFIG_HOME", alsa_config(tmp))
        .env("CAPSTAN_TEST_OUTFILE", &out)
        .args([
            "play",
            "--device",
            "capstan_monitor",
            "--buffer-seconds",
            "3",
        ])
        .args(args));
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains(" 0 underrun(s)"), "{t}");
    let frames: usize = t
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{t}"));
    let bytes = std::fs::read(&out).unwrap();
    let width = if bits == 16 { 2 } else { 4 };
    let samples = bytes
        .chunks_exact(width)
        .map(|b| {
            if width == 2 {
                i32::from(i16::from_le_bytes([b[0], b[1]]))
            } else {
                // S24_LE: the low 24 bits, sign-extended.
                let v = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                if bits == 24 {
                    (v << 8) >> 8
                } else {
                    v
                }
            }
        })
        .collect();
    assert!(frames * channels <= bytes.len() / width, "{t}");
    (samples, frames)
}

#[test]
fn a_master_plays_bit_exact_from_a_seek_point_and_ab_and_difference_are_what_they_say() {
    let tmp = tempfile::tempdir().unwrap();
    let (channels, rate, bits) = (2u16, 48_000u32, 24u16);
    let master = signal(channels, rate, bits, 2.0);
    // The "access copy": the master with a few runs of samples changed (as a repair would).
    let mut copy = master.clone();
    for (k, v) in copy.iter_mut().enumerate() {
        if k % 9_973 < 7 {
            *v = (*v / 3).clamp(-(1 << 23), (1 << 23) - 1);
        }
    }
    let (m, c) = (tmp.path().join("master.flac"), tmp.path().join("copy.flac"));
    flac_of(&m, &master, channels, rate, bits);
    flac_of(&c, &copy, channels, rate, bits);
    let decoded = ffmpeg_decode(&m, bits);
    assert_eq!(decoded, master, "flac round trip");
    let ch = usize::from(channels);
    // From 0.75 s: every sample from there to the end, bit-exact, then only the plugin's
    // padding (silence to the end of its last period).
    let from = (0.75 * f64::from(rate)) as usize;
    let (got, frames) = play(
        tmp.path(),
        &[m.to_str().unwrap(), "--from", "0.75"],
        bits,
        ch,
    );
    assert_eq!(frames, master.len() / ch - from);
    assert!(got[..frames * ch] == master[from * ch..], "master differs");
    assert!(got[frames * ch..].iter().all(|&v| v == 0));
    // With the access copy: what is heard, and the difference's gain in dB.
    let (ms, cs) = (m.to_str().unwrap(), c.to_str().unwrap());
    let with_copy = |listen: &str, gain: &str| {
        let args = [
            ms,
            "--copy",
            cs,
            "--listen",
            listen,
            "--difference-gain-db",
            gain,
            "--from",
            "0.75",
        ];
        play(tmp.path(), &args, bits, ch)
    };
    // The access copy, from the same point.
    let (got, frames) = with_copy("copy", "0");
    assert!(got[..frames * ch] == copy[from * ch..], "copy differs");
    // What the restoration removed: master − copy, at 0 dB and gained by 24 dB (×16, clamped).
    for (gain, shift) in [("0", 0), ("24", 4)] {
        let (got, frames) = with_copy("difference", gain);
        let want: Vec<i32> = master[from * ch..]
            .iter()
            .zip(&copy[from * ch..])
            .map(|(&a, &b)| {
                ((i64::from(a) - i64::from(b)) << shift).clamp(-(1 << 23), (1 << 23) - 1) as i32
            })
            .collect();
        assert!(
            got[..frames * ch] == want[..],
            "difference at {gain} dB differs"
        );
        assert!(
            want.iter().any(|&v| v != 0)
                && want.iter().filter(|&&v| v == 0).count() > want.len() / 2
        );
    }
}

#[test]
fn sixteen_bit_masters_play_bit_exact_too_and_bad_requests_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (channels, rate, bits) = (1u16, 44_100u32, 16u16);
    let master = signal(channels, rate, bits, 1.0);
    let m = tmp.path().join("mono.flac");
    flac_of(&m, &master, channels, rate, bits);
    let (got, frames) = play(tmp.path(), &[m.to_str().unwrap()], bits, 1);
    assert_eq!(frames, master.len());
    assert!(got[..frames] == master[..], "16-bit master differs");
    // Past the end, a difference with no copy, a copy of another shape, no device.
    let other = tmp.path().join("other.flac");
    flac_of(&other, &signal(2, rate, bits, 1.0), 2, rate, bits);
    for (args, says) in [
        (vec!["--from", "5"], "past its end"),
        (vec!["--listen", "difference"], "no access copy"),
        (
            vec!["--copy", other.to_str().unwrap(), "--listen", "copy"],
            "channels 2, the master's 1",
        ),
        (vec!["--device", "no_such_device"], "no output device"),
    ] {
        let o = run(capstan()
            .env("XDG_CONFIG_HOME", alsa_config(tmp.path()))
            .arg("play")
            .arg(&m)
            .args(&args));
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(text(&o).contains(says), "{args:?}: {}", text(&o));
    }
}
