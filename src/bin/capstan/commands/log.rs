//! `capstan log`: the history of the archive, or of one item, from the catalogue.

use super::esc;
use crate::exit::ExitStatus;
use crate::{ArchiveArg, OutputArgs};
use capstan::archive::Archive;
use capstan::catalogue::Catalogue;
use capstan::fixity::text_path;

#[derive(clap::Args)]
pub struct Args {
    /// `collection/id`, or a bare id when only one collection has it.
    item: Option<String>,
    #[command(flatten)]
    archive: ArchiveArg,
    #[command(flatten)]
    output: OutputArgs,
    /// Print the item's preservation record as PREMIS 3 XML (its files with their fixity, its
    /// events and agents) instead of the table. Needs ITEM.
    #[arg(long, requires = "item", conflicts_with = "json")]
    premis: bool,
}

pub fn run(args: Args) -> ExitStatus {
    let archive = Archive::new(args.archive.dir());
    if args.premis {
        let name = args.item.as_deref().unwrap_or_default();
        return match capstan::item::item_view(&archive, name) {
            Ok(view) => {
                print!("{}", view.premis());
                ExitStatus::Success
            }
            Err(
                e @ (capstan::item::ItemError::Unknown { .. } | capstan::item::ItemError::Name(_)),
            ) => {
                eprintln!("capstan: {} {}", esc(&e), text_path(&archive.root));
                ExitStatus::Problem
            }
            Err(e) => {
                eprintln!("capstan: {}", esc(&e));
                ExitStatus::CouldNotRun
            }
        };
    }
    log_command(&archive, args.item.as_deref(), args.output.json)
}

pub(crate) fn log_command(archive: &Archive, item: Option<&str>, json: bool) -> ExitStatus {
    let history = Catalogue::open(archive).and_then(|cat| {
        let item = match item {
            Some(name) => match cat.resolve_item(name)? {
                Some(item) => Some(item),
                None => return Ok(None),
            },
            None => None,
        };
        cat.history(item.as_deref()).map(Some)
    });
    let events = match history {
        Ok(Some(events)) => events,
        Ok(None) => {
            eprintln!(
                "capstan: no item {} in the archive {}",
                esc(item.unwrap_or_default()),
                text_path(&archive.root)
            );
            return ExitStatus::Problem;
        }
        Err(e @ capstan::catalogue::CatalogueError::Ambiguous { .. }) => {
            eprintln!("capstan: {}; give it as collection/id", esc(&e));
            return ExitStatus::Problem;
        }
        Err(e) => {
            eprintln!("capstan: {}", esc(&e));
            return ExitStatus::CouldNotRun;
        }
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&events).expect("events serialise")
        );
        return ExitStatus::Success;
    }
    let escaped: Vec<[String; 7]> = events
        .iter()
        .map(|e| {
            [
                esc(&e.date_time),
                esc(&e.item),
                esc(&e.event_type),
                esc(&e.outcome),
                esc(e.file.as_deref().unwrap_or("-")),
                esc(&e.agent),
                esc(&e.detail),
            ]
        })
        .collect();
    let rows: Vec<[&str; 7]> = escaped
        .iter()
        .map(|r| std::array::from_fn(|i| r[i].as_str()))
        .collect();
    let header = [
        "DATE-TIME",
        "ITEM",
        "EVENT",
        "OUTCOME",
        "FILE",
        "AGENT",
        "DETAIL",
    ];
    let mut widths = header.map(str::len);
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    for r in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, (c, w)) in r.iter().zip(widths).enumerate() {
            if i + 1 == r.len() {
                line.push_str(c);
            } else {
                line.push_str(&format!("{c:w$}  "));
            }
        }
        println!("{}", line.trim_end());
    }
    if rows.is_empty() {
        println!("(no events)");
    }
    ExitStatus::Success
}
