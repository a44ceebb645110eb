//! `capstan declick`: a WAV or FLAC file declicked into a new file, its report, a summary.

use super::esc;
use crate::exit::ExitStatus;
use crate::OutputArgs;
use capstan::fixity::text_path;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// The file to declick (WAV, BWF, RF64 or FLAC).
    input: PathBuf,
    /// The declicked file to write.
    output: PathBuf,
    /// Detection sensitivity: higher finds more and smaller clicks (default 1: no tuning
    /// needed on ordinary material; useful range 0.25 to 4).
    #[arg(long, default_value_t = 1.0)]
    sensitivity: f32,
    /// Write every repaired region (channel, start, length, size) as JSON to this file.
    #[arg(long)]
    report: Option<PathBuf>,
    #[command(flatten)]
    out: OutputArgs,
}

pub fn run(args: Args) -> ExitStatus {
    declick_command(
        &args.input,
        &args.output,
        args.sensitivity,
        args.report.as_deref(),
        args.out.json,
    )
}

/// `capstan declick`: the file, its report, a summary.
pub(crate) fn declick_command(
    input: &std::path::Path,
    output: &std::path::Path,
    sensitivity: f32,
    report: Option<&std::path::Path>,
    json: bool,
) -> ExitStatus {
    let settings = capstan::dsp::declick::DeclickSettings {
        sensitivity,
        ..Default::default()
    };
    let started = std::time::Instant::now();
    match capstan::restore::declick_file(input, output, &settings) {
        Ok(o) => {
            let text = serde_json::to_string_pretty(&o).expect("outcome serialises") + "\n";
            if let Some(path) = report {
                if let Err(e) = std::fs::write(path, &text) {
                    eprintln!("capstan: {}: {}", text_path(path), esc(&e));
                    return ExitStatus::CouldNotRun;
                }
            }
            if json {
                print!("{text}");
            } else {
                let seconds = o.frames.0 as f64 / f64::from(o.sample_rate);
                println!(
                    "{}: {} click(s), {} crackle repair(s), {} sample(s) changed, in {} ({} Hz, {}-bit, {} ch); {:.0}x real time",
                    esc(&o.output),
                    o.declick.clicks,
                    o.declick.crackle,
                    o.declick.samples_repaired,
                    o.duration,
                    o.sample_rate,
                    o.bits_per_sample,
                    o.channels,
                    seconds / started.elapsed().as_secs_f64().max(1e-9)
                );
            }
            ExitStatus::Success
        }
        Err(e) => {
            eprintln!("capstan: {}", esc(&e));
            ExitStatus::from(&e)
        }
    }
}
