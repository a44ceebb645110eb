//! `capstan report`: the archive at a glance. Read-only.

use super::esc;
use crate::exit::ExitStatus;
use crate::{ArchiveArg, OutputArgs};
use capstan::archive::Archive;
use capstan::catalogue::{ArchiveReport, Catalogue};
use capstan::fixity::text_path;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// The archive folder, as `--archive` (the older spelling, kept).
    #[arg(value_name = "ARCHIVE", conflicts_with = "archive")]
    positional: Option<PathBuf>,
    #[command(flatten)]
    archive: ArchiveArg,
    /// Report the shared catalogue instead (`postgres://…`): files never proved, the oldest
    /// proof, work due and claimed, live workers and their rate, open problems.
    #[command(flatten)]
    catalogue: super::registry::CatalogueArg,
    #[command(flatten)]
    output: OutputArgs,
}

pub fn run(args: Args) -> ExitStatus {
    if args.catalogue.given() {
        return match args.catalogue.url() {
            Ok(url) => super::registry::overview(&url, args.output.json),
            Err(s) => s,
        };
    }
    let dir = args.archive.dir_or(args.positional);
    report_command(&Archive::new(dir), args.output.json)
}

pub(crate) fn report_command(archive: &Archive, json: bool) -> ExitStatus {
    // Read-only: report writes nothing, so it also reads a mounted read-only copy.
    let report = match Catalogue::open_read_only(archive).and_then(|c| c.report()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("capstan: {}", esc(&e));
            return ExitStatus::CouldNotRun;
        }
    };
    if json {
        let v = serde_json::json!({
            "archive": archive.root,
            "summary": report.summary,
            "items": report.items,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&v).expect("report serialises")
        );
    } else {
        print_archive_report(archive, &report);
    }
    ExitStatus::problem_if(report.summary.open_problems > 0)
}

pub(crate) fn print_archive_report(archive: &Archive, report: &ArchiveReport) {
    let s = &report.summary;
    println!("archive {}", text_path(&archive.root));
    println!("  items     {:>10}", s.items);
    println!(
        "  audio     {:>10.2} h{}",
        s.audio_hours,
        if s.items_without_duration > 0 {
            format!(
                "  ({} item(s) of unknown duration)",
                s.items_without_duration
            )
        } else {
            String::new()
        }
    );
    println!(
        "  bytes     {:>10}  ({:.2} GB in {} files)",
        s.bytes,
        s.bytes as f64 / 1e9,
        s.files
    );
    println!("  never verified {:>5}", s.never_verified);
    println!("  open problems  {:>5}", s.open_problems);
    println!("  need a listen  {:>5}", s.needs_listen);
    if report.items.is_empty() {
        return;
    }
    println!();
    let width = report
        .items
        .iter()
        .map(|i| esc(&i.item).chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    println!(
        "{:width$}  {:>9}  {:>14}  LAST VERIFICATION",
        "ITEM", "DURATION", "BYTES"
    );
    for i in &report.items {
        let duration = i.audio_seconds.map_or("-".to_string(), |sec| {
            let t = sec.round() as u64;
            format!("{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60)
        });
        let last = i
            .last_verification
            .as_ref()
            .map_or("never".to_string(), |v| {
                format!("{} {}", v.date_time, v.outcome)
            });
        println!(
            "{:width$}  {duration:>9}  {:>14}  {}",
            esc(&i.item),
            i.bytes,
            esc(&last)
        );
        if let Some(why) = &i.needs_listen {
            println!("    needs a listen: {}", esc(why));
        }
        for p in &i.problems {
            let what = match p.status {
                capstan::catalogue::FileStatus::Present => "failed its last check".to_string(),
                status => status.as_str().to_string(),
            };
            println!(
                "    problem: {} {what}{}",
                esc(&p.path),
                p.last_detail
                    .as_deref()
                    .map(|d| format!(": {}", esc(d)))
                    .unwrap_or_default()
            );
        }
        if let Some(v) = &i.bag_failed {
            println!("    problem: the bag's last check failed: {}", v.detail);
        } else if i.problems.is_empty() && i.open_problems() > 0 {
            if let Some(v) = &i.last_verification {
                println!("    problem: last verification failed: {}", esc(&v.detail));
            }
        }
    }
}
