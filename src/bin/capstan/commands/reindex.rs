//! `capstan reindex`: the catalogue rebuilt from the bags and events.jsonl alone.

use super::esc;
use crate::exit::ExitStatus;
use crate::{ArchiveArg, OutputArgs};
use capstan::archive::Archive;
use capstan::catalogue::reindex;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    archive: ArchiveArg,
    /// Register the archive's bags and last proofs in this shared catalogue (`postgres://…`)
    /// instead of rebuilding its own.
    #[command(flatten)]
    catalogue: super::registry::CatalogueArg,
    #[command(flatten)]
    output: OutputArgs,
}

pub fn run(args: Args) -> ExitStatus {
    if args.catalogue.given() {
        return match args.catalogue.url() {
            Ok(url) => {
                super::registry::register(&url, &Archive::new(args.archive.dir()), args.output.json)
            }
            Err(s) => s,
        };
    }
    reindex_command(&Archive::new(args.archive.dir()), args.output.json)
}

pub(crate) fn reindex_command(archive: &Archive, json: bool) -> ExitStatus {
    let summary = match reindex(archive) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("capstan: {}", esc(&e));
            return ExitStatus::CouldNotRun;
        }
    };
    let skipped = summary.skipped_event_lines + summary.skipped_paths + summary.skipped_bags;
    for r in &summary.replayed {
        eprintln!("capstan: {}", esc(r));
    }
    if summary.torn_event_lines > 0 {
        eprintln!(
            "capstan: skipped {} torn line(s) of events.jsonl (an append cut short by a crash or a full disk); every complete event is kept",
            summary.torn_event_lines
        );
        for n in summary
            .notes
            .iter()
            .filter(|n| n.contains("is a torn event"))
        {
            eprintln!("capstan:   {}", esc(n));
        }
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&summary).expect("summary serialises")
        );
    } else {
        println!(
            "reindexed {}: {} item(s), {} file(s) ({} missing), {} event(s)",
            esc(capstan::catalogue::describe(archive)),
            summary.items,
            summary.files,
            summary.missing_files,
            summary.events
        );
        if skipped > 0 {
            println!(
                "skipped: {} event line(s) that do not parse, {} manifest line(s) (unsafe paths or malformed), {} bag(s)",
                summary.skipped_event_lines, summary.skipped_paths, summary.skipped_bags
            );
            for n in summary
                .notes
                .iter()
                .filter(|n| !n.contains("is a torn event"))
            {
                println!("  {}", esc(n));
            }
        }
    }
    ExitStatus::problem_if(skipped > 0)
}
