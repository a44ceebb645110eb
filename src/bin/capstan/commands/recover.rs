//! `capstan recover`: every take whose capture died, finished from its journal.

use super::esc;
use crate::exit::ExitStatus;
use crate::ArchiveArg;
use capstan::archive::Archive;
use capstan::fixity::text_path;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    archive: ArchiveArg,
}

pub fn run(args: Args) -> ExitStatus {
    recover_command(&Archive::new(args.archive.dir()))
}

/// Finishes interrupted takes; says what it did. Exit 0 unless one could not be finished.
pub(crate) fn recover_command(archive: &Archive) -> ExitStatus {
    match capstan::capture::recover(archive) {
        Ok(list) => {
            let mut status = ExitStatus::Success;
            for r in list {
                match r.outcome {
                    Ok((o, frames)) => eprintln!(
                        "capstan: recovered {} ({frames} frames) into {}",
                        esc(&r.item),
                        text_path(&o.bag)
                    ),
                    Err(e) => {
                        eprintln!(
                            "capstan: could not recover {} from {}: {}",
                            esc(&r.item),
                            text_path(&r.journal),
                            esc(&e)
                        );
                        status = ExitStatus::CouldNotRun;
                    }
                }
            }
            status
        }
        Err(e) => {
            eprintln!("capstan: {}", esc(&e));
            ExitStatus::CouldNotRun
        }
    }
}
