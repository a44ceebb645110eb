//! `capstan play`: a master (or an access copy against it) through an output device, from a
//! point in the take, to the end or Ctrl-C.

use super::{esc, interrupt_flag};
use crate::exit::ExitStatus;
use capstan::playback::{output_devices, play_to_end, Listen, PlayRequest};
use capstan::units::FrameIndex;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// The master to play (FLAC).
    master: Option<PathBuf>,
    /// An access copy of it, for --listen copy or difference.
    #[arg(long)]
    copy: Option<PathBuf>,
    /// Where to start, seconds into the take.
    #[arg(long, default_value_t = 0.0)]
    from: f64,
    /// What to hear: master, copy, or difference (master − copy, gained up).
    #[arg(long, value_enum, default_value_t = ListenArg::Master)]
    listen: ListenArg,
    /// Gain of the difference signal, dB (in 6 dB steps).
    #[arg(long, default_value_t = 24.0)]
    difference_gain_db: f64,
    /// Output device (see --list-devices); the host's default if not given.
    #[arg(long)]
    device: Option<String>,
    /// How far decoding runs ahead of the device, seconds.
    #[arg(long, default_value_t = capstan::playback::BUFFER_SECONDS)]
    buffer_seconds: f64,
    /// List the output devices and stop.
    #[arg(long)]
    list_devices: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ListenArg {
    Master,
    Copy,
    Difference,
}

pub fn run(args: Args) -> ExitStatus {
    if args.list_devices {
        for d in output_devices() {
            println!("{:<24} {}", esc(&d.name), esc(&d.description));
        }
        return ExitStatus::Success;
    }
    let Some(master) = args.master else {
        eprintln!("capstan: play: name the master to play (or give --list-devices)");
        return ExitStatus::CouldNotRun;
    };
    let rate = match capstan::flac::decode::FlacReader::open(&master) {
        Ok(r) => r.info().sample_rate,
        Err(e) => {
            eprintln!("capstan: {}", esc(&e));
            return ExitStatus::CouldNotRun;
        }
    };
    if !(args.from.is_finite() && args.from >= 0.0) {
        eprintln!(
            "capstan: play: --from {} is not a time in the take",
            args.from
        );
        return ExitStatus::CouldNotRun;
    }
    let req = PlayRequest {
        master,
        copy: args.copy,
        from: FrameIndex((args.from * f64::from(rate)).round() as u64),
        device: args.device,
        listen: match args.listen {
            ListenArg::Master => Listen::Master,
            ListenArg::Copy => Listen::Copy,
            ListenArg::Difference => Listen::Difference,
        },
        difference_gain_db: args.difference_gain_db,
        buffer_seconds: args.buffer_seconds,
    };
    let stop = interrupt_flag();
    let mut starved = 0;
    match play_to_end(&req, &stop, |p| starved = p.starved()) {
        Ok(frames) => {
            println!(
                "played {frames} frames ({:.3} s) from frame {}; {starved} underrun(s)",
                frames as f64 / f64::from(rate),
                req.from.0
            );
            ExitStatus::Success
        }
        Err(e) => {
            eprintln!("capstan: {}", esc(&e));
            ExitStatus::CouldNotRun
        }
    }
}
