//! `capstan ingest-batch`: an inventory of transfers (CSV, one row per take) into the archive,
//! item by item, in parallel, resumable; see [`capstan::batch`].

use super::{esc, interrupt_flag};
use crate::exit::ExitStatus;
use crate::ArchiveArg;
use capstan::archive::Archive;
use capstan::batch::{self, Status};
use capstan::fixity::text_path;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// The inventory (UTF-8 CSV); files and profile paths are relative to its folder.
    inventory: PathBuf,
    /// Check every row as an ingest would, and write nothing.
    #[arg(long)]
    check: bool,
    /// Items ingested at once [default: the CPUs plus 2]. Each item has phases that leave a
    /// core idle (the hand-offs between its reader, analysis and encoder, its fsyncs), so a
    /// couple more items than CPUs keep them busy; each takes about 20 MiB.
    #[arg(long)]
    jobs: Option<usize>,
    /// Write the outcome of every row here, as CSV.
    #[arg(long, value_name = "OUT.csv")]
    report: Option<PathBuf>,
    #[command(flatten)]
    archive: ArchiveArg,
}

/// A progress bar on a terminal (items, bytes, rate, ETA); nothing otherwise.
struct Bar {
    bar: indicatif::ProgressBar,
    items: u64,
    done: u64,
}

impl batch::Progress for Bar {
    fn start(&mut self, items: u64, bytes: u64) {
        self.items = items;
        self.bar.set_length(bytes);
        self.bar.set_message(format!("0/{items} items"));
    }

    fn item_done(&mut self, bytes: u64) {
        self.done += 1;
        self.bar.inc(bytes);
        self.bar
            .set_message(format!("{}/{} items", self.done, self.items));
    }
}

pub fn run(args: Args) -> ExitStatus {
    let archive = Archive::new(args.archive.dir());
    let inv = match batch::read(&args.inventory) {
        Ok(inv) => inv,
        Err(e) => {
            eprintln!("capstan: {}", esc(&e));
            return ExitStatus::from(&e);
        }
    };
    let rows = if args.check {
        batch::check(&inv, &archive)
    } else {
        let jobs = args
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()) + 2);
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(0),
            indicatif::ProgressDrawTarget::stderr(),
        );
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg}  {bytes}/{total_bytes}  {binary_bytes_per_sec}  ETA {eta}  [{wide_bar}]",
            )
            .expect("valid template"),
        );
        let mut progress = Bar {
            bar,
            items: 0,
            done: 0,
        };
        let rows = batch::run(&inv, &archive, jobs, interrupt_flag(), &mut progress);
        progress.bar.finish_and_clear();
        super::replica::drain_queue(&archive);
        rows
    };
    for r in &rows {
        if let Some(p) = &r.problem {
            eprintln!("capstan: {}", esc(p));
        }
    }
    let count = |s: Status| rows.iter().filter(|r| r.status == s).count();
    let (done, word) = if args.check {
        (count(Status::Ok), "ok")
    } else {
        (count(Status::Archived), "archived")
    };
    println!(
        "{}: {} row(s): {done} {word}, {} already archived, {} failed, {} not run",
        text_path(&args.inventory),
        rows.len(),
        count(Status::AlreadyArchived),
        count(Status::Failed),
        count(Status::NotRun),
    );
    if let Some(out) = &args.report {
        if let Err(e) = batch::write_report(out, &rows) {
            eprintln!("capstan: {}", esc(&e));
            return ExitStatus::from(&e);
        }
    }
    ExitStatus::from_batch(&rows)
}
