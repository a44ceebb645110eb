//! `capstan watch`: an archive watched until Ctrl-C / SIGTERM (or once, with `--once`).

use super::{esc, interrupt_flag};
use crate::exit::ExitStatus;
use crate::{parse_duration, ArchiveArg, OutputArgs};
use capstan::archive::events::Outcome;
use capstan::archive::Archive;
use capstan::watch::{watch, Tell, WatchOptions};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// The archive folder, as `--archive` (the older spelling, kept).
    #[arg(value_name = "ARCHIVE", conflicts_with = "archive")]
    positional: Option<PathBuf>,
    #[command(flatten)]
    archive: ArchiveArg,
    /// Rolling verification period, e.g. 30d, 12h; a bare number is seconds (every file read at
    /// least once per period).
    #[arg(long, value_parser = parse_duration)]
    every: Option<std::time::Duration>,
    /// Cap on the rolling verification's reading, bytes per second (K, M, G suffixes: 50M).
    #[arg(long, value_parser = parse_rate)]
    max_rate: Option<u64>,
    /// Quiet time before a change is looked at, e.g. 500ms; a bare number is seconds.
    #[arg(long, default_value = "500ms", value_parser = parse_duration)]
    settle: std::time::Duration,
    /// Reconcile the catalogue with the disk once, report, and exit.
    #[arg(long)]
    once: bool,
    /// One JSON event a line.
    #[command(flatten)]
    output: OutputArgs,
}

pub fn run(args: Args) -> ExitStatus {
    let json = args.output.json;
    let once = args.once;
    let opts = WatchOptions {
        every: args.every,
        max_rate: args.max_rate,
        settle: args.settle,
        once,
    };
    let stop = interrupt_flag();
    // With --once the exit status says whether a problem was recorded (cron mails it).
    let mut problems = 0usize;
    let mut tell = |t: Tell| match t {
        Tell::Event(e) if e.outcome != Outcome::Pass && json => {
            problems += 1;
            println!("{}", serde_json::to_string(e).expect("events serialise"))
        }
        Tell::Event(e) if e.outcome != Outcome::Pass => {
            problems += 1;
            print_watch_event(e)
        }
        Tell::Event(e) if json => {
            println!("{}", serde_json::to_string(e).expect("events serialise"))
        }
        Tell::Event(e) => print_watch_event(e),

        Tell::Notice(n) => eprintln!("capstan watch: {}", esc(&n)),
    };
    let archive = Archive::new(args.archive.dir_or(args.positional));
    // What waits for the auto replicas goes as the watcher runs: at its start, then every
    // minute (a store that was away is tried again; the queue keeps the rest).
    if !once {
        let archive = archive.clone();
        std::thread::spawn(move || loop {
            super::replica::drain_queue(&archive);
            std::thread::sleep(std::time::Duration::from_secs(60));
        });
    } else {
        super::replica::drain_queue(&archive);
    }
    match watch(&archive, &opts, &stop, &mut tell) {
        Ok(()) => ExitStatus::problem_if(once && problems > 0),
        Err(e) => {
            eprintln!("capstan: {}", esc(&e));
            ExitStatus::from(&e)
        }
    }
}

pub(crate) fn print_watch_event(e: &capstan::archive::events::Event) {
    println!(
        "{}  {:<26} {:<7} {}{}  {}",
        esc(&e.date_time),
        esc(&e.event_type),
        esc(&e.outcome),
        esc(&e.item),
        e.file
            .as_deref()
            .map(|f| format!("/{}", esc(f)))
            .unwrap_or_default(),
        esc(&e.detail)
    )
}

/// Bytes a second: a number with an optional K, M or G (powers of 1000), `B/s` optional.
pub(crate) fn parse_rate(s: &str) -> Result<u64, String> {
    let t = s.trim().trim_end_matches("/s").trim_end_matches(['B', 'b']);
    let (num, mult) = match t.chars().last() {
        Some('K' | 'k') => (&t[..t.len() - 1], 1e3),
        Some('M' | 'm') => (&t[..t.len() - 1], 1e6),
        Some('G' | 'g') => (&t[..t.len() - 1], 1e9),
        _ => (t, 1.0),
    };
    num.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| *v > 0.0)
        .map(|v| (v * mult) as u64)
        .ok_or_else(|| format!("{s:?} is not a rate such as 50M or 200MB/s"))
}
