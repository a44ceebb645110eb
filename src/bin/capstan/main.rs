//! `capstan`: the command-line station. Thin: parses arguments, calls the library, prints, and
//! maps outcomes to exit codes (0 all good, 1 a problem found, 2 could not run) in one place,
//! [`exit::ExitStatus`]. Each command is a file in `commands/`.
//!
//! One convention for the archive: `--archive DIR` on every command that works on one, defaulting
//! to `$CAPSTAN_ARCHIVE`, else `./archive`. `report` and `watch` also keep their older positional
//! `ARCHIVE`.

mod commands;
mod exit;

use clap::{Parser, Subcommand};
use commands::esc;
use exit::ExitStatus;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "capstan", version, about = "Archival audio transfer station")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The archive a command works on, declared once for every command.
#[derive(clap::Args, Clone)]
pub struct ArchiveArg {
    /// The archive folder [default: $CAPSTAN_ARCHIVE, else ./archive].
    #[arg(long = "archive", id = "archive", value_name = "ARCHIVE")]
    archive: Option<PathBuf>,
}

impl ArchiveArg {
    /// `--archive`, else `$CAPSTAN_ARCHIVE`, else `./archive`.
    pub fn dir(self) -> PathBuf {
        self.dir_or(None)
    }

    /// As [`ArchiveArg::dir`], with a positional spelling where a command had one.
    pub fn dir_or(self, positional: Option<PathBuf>) -> PathBuf {
        self.archive
            .or(positional)
            .or_else(|| std::env::var_os("CAPSTAN_ARCHIVE").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("archive"))
    }
}

/// How a command prints, declared once.
#[derive(clap::Args)]
pub struct OutputArgs {
    /// Print the outcome as JSON.
    #[arg(long)]
    json: bool,
}

/// A duration option: a bare number is seconds (`5`, `1.5`); humantime units stay accepted
/// (`90s`, `45m`, `500ms`, `30d`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if let Ok(secs) = t.parse::<f64>() {
        return Duration::try_from_secs_f64(secs)
            .map_err(|_| format!("{s:?} is not a duration (seconds must be 0 or more)"));
    }
    humantime::parse_duration(t)
        .map_err(|e| format!("{s:?} is not a duration such as 90 (seconds), 90s, 45m: {e}"))
}

#[derive(Subcommand)]
enum Command {
    /// Ingest WAV/BWF/RF64 transfers as one item: verified FLAC masters in a BagIt bag.
    Ingest(commands::ingest::Args),
    /// Ingest an inventory of transfers (CSV: one row per take; columns id, collection,
    /// profile, file, and any metadata field) item by item, in parallel. Resumable: an item
    /// already archived from the same sources is skipped. Exit 0 every row archived, 1 a row
    /// failed, 2 could not run or interrupted.
    IngestBatch(commands::ingest_batch::Args),
    /// Generate a demo transfer and ingest it, to show the whole path on any machine.
    Demo(commands::demo::Args),
    /// Prove archives, bags or folders of FLAC files intact: manifests, Payload-Oxum, and (with
    /// --deep) every FLAC decoded in the same read as its digest. Exit 0 all good, 1 a problem
    /// found, 2 could not run.
    Verify(commands::verify::Args),
    /// Print the history of the archive, or of one item: PREMIS events from the catalogue.
    /// Exit 0, 1 the item is unknown, 2 could not run.
    Log(commands::log::Args),
    /// Rebuild the catalogue from the bags and events.jsonl alone (the archive is the truth).
    /// Exit 0, 1 something was skipped (unparsable lines, unsafe paths), 2 could not run.
    Reindex(commands::reindex::Args),
    /// Where the archive's catalogue is (`show`), and moving it between its own SQLite file and
    /// a schema on PostgreSQL shared by several archives (`copy`).
    Catalogue(commands::catalogue::Args),
    /// Queue the files due for a fixity check in the shared catalogue (PostgreSQL): never
    /// proved first, then changed, then those whose last proof is older than --period. Run by
    /// cron or a timer, or keep running with --every. Exit 0, 2 could not run.
    Schedule(commands::registry::ScheduleArgs),
    /// Claim due fixity checks from the shared catalogue, verify each file where it lives and
    /// record the outcome; run one per core on as many machines as there are. Stops cleanly on
    /// SIGTERM. Exit 0, 1 a problem recorded (with --until-idle), 2 refused or could not run.
    Worker(commands::registry::WorkerArgs),
    /// The archive at a glance: items, hours of audio, bytes, each item's last verification,
    /// open problems. Exit 0, 1 there are open problems, 2 could not run.
    Report(commands::report::Args),
    /// Watch an archive: register complete new bags, re-check changed files, report moved and
    /// missing ones, and (with --every) verify every file once per period. Stops cleanly on
    /// Ctrl-C / SIGTERM. Every event goes to the catalogue and .capstan/events.jsonl.
    Watch(commands::watch::Args),
    /// List the audio input devices (names for `capture --device`).
    Devices(commands::devices::Args),
    /// Play a master, an access copy or the difference between them through an output
    /// device, from a point in the take (the files are only read).
    Play(commands::play::Args),
    /// Capture a take from an input device into the archive: journalled as it comes (a crash
    /// loses at most the last second), then finished like an ingest. Stops at --duration, on
    /// Ctrl-C/SIGTERM, or when the device fails; what was captured is always kept.
    Capture(commands::capture::Args),
    /// Finish every take whose capture died (crash, kill, power cut) from its journal, as an
    /// item flagged "recovered". `capture` does this first, too.
    Recover(commands::recover::Args),
    /// Declick a WAV or FLAC file into a new file (format from OUT's extension: .wav or
    /// .flac), at the input's rate, depth and channels. Only damaged samples change. OUT must
    /// not exist. Exit 0, 1 bad input, 2 could not write.
    Declick(commands::declick::Args),
    /// List the shipped transfer profiles.
    Profiles(commands::profiles::Args),
    /// Print the archive's institution, or set it (--country CC --organisation ORG): every
    /// item's Originator, "CC, ORG" as FADGI writes it. Exit 0, 1 none set or invalid, 2 could
    /// not run.
    Institution(commands::institution::Args),
    /// The archive's replicas on S3-compatible storage: add one, list them.
    Replica(commands::replica::Args),
    /// Copies every bag of the archive to its replicas, each file proved by the server against
    /// its manifest's SHA-256; what is there already is skipped, nothing is overwritten.
    Replicate(commands::replica::ReplicateArgs),
    /// Compares the archive's own files (read) and every replica's (by their stored
    /// checksums) with the manifests, file by file, saying which copies agree.
    Audit(commands::replica::AuditArgs),
    /// Brings an item's damaged or lost files back from a replica, each proved (SHA-256, and a
    /// FLAC's frames and audio MD5) before it takes its place; the damaged file is kept in
    /// .capstan/quarantine.
    Repair(commands::replica::RepairArgs),
    /// Brings a whole bag back from a replica into the archive (where it must not be), every
    /// file proved against the bag's manifests, then registers it.
    Restore(commands::replica::RestoreArgs),
}

fn main() -> ExitCode {
    // A reader that stops reading (`capstan log | head -1`) ends capstan quietly, as it ends any
    // Unix filter, instead of a panic in println! (Rust ignores SIGPIPE by default). Every
    // write to the archive is finished before its outcome is printed.
    // SAFETY: restoring a signal's default disposition at start-up, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    match run(cli) {
        Ok(status) => status.into(),
        Err(e) => {
            eprintln!("capstan: {}", esc(format!("{e:#}")));
            ExitStatus::from(&e).into()
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitStatus> {
    use commands::*;
    Ok(match cli.command {
        Command::Ingest(args) => ingest::run(args),
        Command::IngestBatch(args) => ingest_batch::run(args),
        Command::Demo(args) => demo::run(args)?,
        Command::Verify(args) => verify::run(args),
        Command::Log(args) => log::run(args),
        Command::Institution(args) => institution::run(args),
        Command::Replica(args) => replica::run(args),
        Command::Replicate(args) => replica::replicate(args),
        Command::Audit(args) => replica::audit(args),
        Command::Repair(args) => replica::repair(args),
        Command::Restore(args) => replica::restore(args),
        Command::Reindex(args) => reindex::run(args),
        Command::Catalogue(args) => commands::catalogue::run(args),
        Command::Schedule(args) => commands::registry::schedule(args),
        Command::Worker(args) => commands::registry::worker(args),
        Command::Report(args) => report::run(args),
        Command::Watch(args) => watch::run(args),
        Command::Devices(args) => devices::run(args),
        Command::Play(args) => play::run(args),
        Command::Capture(args) => capture::run(args),
        Command::Recover(args) => recover::run(args),
        Command::Declick(args) => declick::run(args),
        Command::Profiles(args) => profiles::run(args)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_number_is_seconds() {
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration(" 0 "), Ok(Duration::ZERO));
    }

    #[test]
    fn units_stay_accepted() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("45m"), Ok(Duration::from_secs(45 * 60)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86_400)));
    }

    #[test]
    fn a_negative_or_wordy_duration_is_refused_with_an_example() {
        let e = parse_duration("-5").unwrap_err();
        assert!(e.contains("\"-5\""), "{e}");
        let e = parse_duration("soon").unwrap_err();
        assert!(e.contains("90 (seconds)"), "{e}");
    }

    #[test]
    fn the_cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
