//! `capstan catalogue show|copy`: where the archive's catalogue is, and moving it between its
//! own SQLite file and a schema on PostgreSQL (shared by several archives and machines).

use super::esc;
use crate::exit::ExitStatus;
use crate::{ArchiveArg, OutputArgs};
use capstan::archive::Archive;
use capstan::catalogue::{self, CatalogueSettings, Destination};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Prints where the archive's catalogue is: `.capstan/catalogue.sqlite`, or the PostgreSQL
    /// URL and schema its settings name.
    Show {
        #[command(flatten)]
        archive: ArchiveArg,
    },
    /// Copies the archive's catalogue (items, files and their last checks, every event in
    /// order) to `postgres://user@host:port/database` (into --schema) or back to `sqlite`, checks
    /// the counts, and switches the archive to it (`[catalogue]` in archive.toml). The old one
    /// is left in place, unused. Exit 0, 2 could not run (nothing switched).
    Copy {
        /// `postgres://user@host[:port]/database` (password from PGPASSWORD), or `sqlite`.
        #[arg(long)]
        to: String,
        /// The archive's schema in that database [default: from the archive folder's name].
        #[arg(long)]
        schema: Option<String>,
        #[command(flatten)]
        archive: ArchiveArg,
        #[command(flatten)]
        output: OutputArgs,
    },
}

pub fn run(args: Args) -> ExitStatus {
    match args.action {
        Action::Show { archive } => {
            println!("{}", catalogue::describe(&Archive::new(archive.dir())));
            ExitStatus::Success
        }
        Action::Copy {
            to,
            schema,
            archive,
            output,
        } => {
            let archive = Archive::new(archive.dir());
            let dest = if to == "sqlite" {
                Destination::Sqlite
            } else {
                let s = CatalogueSettings {
                    url: to,
                    schema: schema.unwrap_or_else(|| catalogue::schema_for(&archive)),
                };
                if let Err(e) = s.check() {
                    eprintln!("capstan: {}", esc(&e));
                    return ExitStatus::CouldNotRun;
                }
                Destination::Postgres(s)
            };
            match catalogue::copy(&archive, dest) {
                Ok(s) => {
                    if output.json {
                        println!(
                            "{}",
                            serde_json::to_string_pretty(&s).expect("summary serialises")
                        );
                    } else {
                        println!(
                            "copied {} item(s), {} file(s), {} event(s) from {} to {}; the archive now uses {}",
                            s.items,
                            s.files,
                            s.events,
                            esc(&s.from),
                            esc(&s.to),
                            esc(&s.to)
                        );
                    }
                    ExitStatus::Success
                }
                Err(e) => {
                    eprintln!("capstan: {}", esc(&e));
                    ExitStatus::CouldNotRun
                }
            }
        }
    }
}
