//! `capstan institution`: the archive's institution, set once in `.capstan/archive.toml`; every
//! item's bext Originator (`CC, ORG`, as FADGI writes it) and LIST-INFO IARL come from it.

use super::esc;
use crate::exit::ExitStatus;
use crate::ArchiveArg;
use capstan::archive::settings::{self, Institution};
use capstan::archive::Archive;

#[derive(clap::Args)]
pub struct Args {
    /// ISO 3166-1 country code, two capital letters (`US`, `GB`).
    #[arg(long, requires = "organisation")]
    country: Option<String>,
    /// The organisation as the Originator names it (`LOC/RSS`); with the country, at most 32
    /// bytes in all.
    #[arg(long, alias = "organization", requires = "country")]
    organisation: Option<String>,
    #[command(flatten)]
    archive: ArchiveArg,
}

pub fn run(args: Args) -> ExitStatus {
    let archive = Archive::new(args.archive.dir());
    let fresh = !archive.root.exists();
    if fresh && args.country.is_none() {
        eprintln!(
            "capstan: the archive {} does not exist yet, so it has no institution: set it with --country CC --organisation ORG",
            capstan::fixity::text_path(&archive.root)
        );
        return ExitStatus::Problem;
    }
    // A folder not made yet has nothing in it to refuse.
    if !fresh {
        if let Err(e) = archive.check_confined() {
            eprintln!("capstan: {}", esc(&e));
            return ExitStatus::CouldNotRun;
        }
    }
    if let (Some(country), Some(organisation)) = (&args.country, &args.organisation) {
        let institution = match Institution::new(country, organisation) {
            Ok(i) => i,
            Err(e) => {
                eprintln!("capstan: {}", esc(&e));
                return ExitStatus::Problem;
            }
        };
        if let Err(e) = std::fs::create_dir_all(&archive.root)
            .map_err(|e| e.to_string())
            .and_then(|()| {
                settings::set_institution(&archive, institution).map_err(|e| e.to_string())
            })
        {
            eprintln!("capstan: {}", esc(&e));
            return ExitStatus::CouldNotRun;
        }
    }
    match settings::read(&archive) {
        Ok(s) => match s.institution {
            Some(i) => {
                println!("{}", esc(i.originator()));
                ExitStatus::Success
            }
            None => {
                eprintln!(
                    "capstan: the archive has no institution yet: set it with --country CC --organisation ORG"
                );
                ExitStatus::Problem
            }
        },
        Err(e) => {
            eprintln!("capstan: {}", esc(&e));
            ExitStatus::CouldNotRun
        }
    }
}
