//! `capstan ingest`: WAV/BWF/RF64 transfers into one item of verified FLAC masters in a bag.

use super::{finish, interrupt_flag, profile_and_fields};
use crate::exit::ExitStatus;
use crate::{ArchiveArg, OutputArgs};
use capstan::archive::Archive;
use capstan::ingest::{ingest, transfer_time, IngestRequest};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// A shipped profile's name (see `capstan profiles`) or a path to a TOML profile.
    #[arg(long)]
    profile: String,
    /// The item id (letters, digits, '.', '_', '-').
    #[arg(long)]
    id: String,
    /// The collection the item belongs to.
    #[arg(long, default_value = "default")]
    collection: String,
    /// A metadata field, KEY=VALUE (repeatable); keys are upper-cased.
    #[arg(long = "meta", value_name = "KEY=VALUE")]
    meta: Vec<String>,
    #[command(flatten)]
    archive: ArchiveArg,
    #[command(flatten)]
    output: OutputArgs,
    /// The takes of the item, in order (sides of a cassette, reels of a set).
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

pub fn run(args: Args) -> ExitStatus {
    let (profile, fields) = match profile_and_fields(&args.profile, &args.meta) {
        Ok(loaded) => loaded,
        Err(status) => return status,
    };
    let req = IngestRequest {
        profile,
        id: args.id,
        collection: args.collection,
        meta: fields,
        archive: Archive::new(args.archive.dir()),
        sources: args.files,
        now: transfer_time(),
        interrupt: Some(interrupt_flag()),
        capture: None,
    };
    let outcome = ingest(&req);
    let committed = outcome.is_ok();
    let status = finish(outcome, args.output.json);
    if committed {
        super::replica::drain_queue(&req.archive);
    }
    status
}
