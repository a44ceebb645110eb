//! `capstan capture`: a take from an input device, journalled as it comes, finished like an
//! ingest; interrupted takes are recovered first.

use super::{esc, finish, interrupt_flag, profile_and_fields};
use crate::exit::ExitStatus;
use crate::{parse_duration, ArchiveArg, OutputArgs};
use capstan::archive::Archive;

#[derive(clap::Args)]
pub struct Args {
    /// A shipped profile's name or a path to a TOML profile.
    #[arg(long)]
    profile: String,
    #[arg(long)]
    id: String,
    #[arg(long, default_value = "default")]
    collection: String,
    /// The input device, as `capstan devices` lists it (e.g. capstan_tape), or `demo` (the
    /// built-in test tape, 96 kHz stereo, at real time) [default: the first interface, else
    /// demo].
    #[arg(long)]
    device: Option<String>,
    /// Stop after this long: seconds (90), or with a unit (45m, 90s).
    #[arg(long, value_parser = parse_duration)]
    duration: Option<std::time::Duration>,
    /// Frames per device period [default: the device's].
    #[arg(long)]
    buffer: Option<u32>,
    #[arg(long = "meta", value_name = "KEY=VALUE")]
    meta: Vec<String>,
    #[command(flatten)]
    archive: ArchiveArg,
    #[command(flatten)]
    output: OutputArgs,
}

pub fn run(args: Args) -> ExitStatus {
    let archive = Archive::new(args.archive.dir());
    super::recover::recover_command(&archive);
    let (loaded, fields) = match profile_and_fields(&args.profile, &args.meta) {
        Ok(loaded) => loaded,
        Err(status) => return status,
    };
    let take = capstan::capture::TakeRequest {
        profile_arg: args.profile,
        collection: args.collection,
        id: args.id,
        meta: fields,
        device: args
            .device
            .unwrap_or_else(capstan::capture::device::default_input_name),
        seconds: args.duration.map(|d| d.as_secs_f64()),
        buffer: args.buffer,
    };
    let req = match capstan::capture::CaptureRequest::new(take, loaded, archive, interrupt_flag()) {
        Ok(req) => req,
        Err(e) => {
            eprintln!("capstan: --duration: {}", super::esc(&e));
            return ExitStatus::CouldNotRun;
        }
    };
    capture_command(&req, args.output.json)
}

pub(crate) fn capture_command(req: &capstan::capture::CaptureRequest, json: bool) -> ExitStatus {
    use capstan::capture::CaptureEvent;
    use std::io::{IsTerminal, Write};
    let live = std::io::stderr().is_terminal();
    let rate = f64::from(req.profile.sample_rate);
    let mut tell = |e: CaptureEvent| match e {
        CaptureEvent::Ready { allows_seconds } if allows_seconds.is_finite() => {
            let allows = if allows_seconds >= 3600.0 {
                format!("{:.1} h", allows_seconds / 3600.0)
            } else {
                format!("{:.0} min", allows_seconds / 60.0)
            };
            eprintln!(
                "capstan: capturing from {}; the free disk allows {allows} at this profile's data rate",
                req.device,
            );
        }
        CaptureEvent::Levels {
            frames,
            channels,
            momentary_lufs,
            ..
        } if live => {
            let mut line = format!(
                "\r{:>9.1} s  M {:>6.1} LUFS ",
                frames as f64 / rate,
                momentary_lufs
            );
            for (i, c) in channels.iter().enumerate() {
                line.push_str(&format!(
                    " | {} {:>6.1} ({:>6.1}) TP {:>5.1}{}",
                    i + 1,
                    c.peak_dbfs.max(-99.9),
                    c.hold_dbfs.max(-99.9),
                    c.true_peak_dbtp.max(-99.9),
                    if c.clip { " CLIP" } else { "" }
                ));
            }
            let mut err = std::io::stderr();
            let _ = err.write_all(line.as_bytes());
            let _ = err.flush();
        }
        CaptureEvent::Gap { kind, at, frames } if live => eprintln!(
            "\ncapstan: {kind}: {frames} frames lost at {}",
            capstan::units::FrameIndex(at).timecode(req.profile.sample_rate)
        ),
        CaptureEvent::DeviceSilent { seconds } if live => {
            eprintln!("\ncapstan: the device has delivered nothing for {seconds} s")
        }
        _ => {}
    };
    let outcome = capstan::capture::capture(req, &mut tell);
    if live {
        eprintln!();
    }
    match outcome {
        Ok(o) => {
            let flagged = o.capture.flagged;
            if !o.capture.gaps.is_empty() {
                eprintln!(
                    "capstan: {} gap(s) in the take (samples lost); see the QC report",
                    o.capture.gaps.len()
                );
            }
            eprintln!(
                "capstan: take ended: {}; {:.1} s of audio in {:.1} s, {:.1}% of one core while capturing",
                o.capture.ended,
                o.frames as f64 / rate,
                o.capture_seconds,
                100.0 * o.capture_cpu_seconds / o.capture_seconds.max(1e-9)
            );
            // A take whose record is only pending keeps its exit 2; a flagged one is 1.
            let pending = o.ingest.exit_code() != 0;
            let status = finish(Ok(o.ingest), json);
            super::replica::drain_queue(&req.archive);
            if flagged && !pending {
                ExitStatus::Problem
            } else {
                status
            }
        }
        Err(e) => {
            eprintln!("capstan: {}", esc(&e));
            ExitStatus::from(&e)
        }
    }
}
