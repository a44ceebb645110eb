//! `capstan demo`: a generated demo transfer ingested, to show the whole path on any machine.

use super::{finish, interrupt_flag};
use crate::exit::ExitStatus;
use crate::{ArchiveArg, OutputArgs};
use anyhow::Context;
use capstan::archive::Archive;
use capstan::ingest::{ingest, transfer_time, IngestRequest};
use capstan::metadata::Fields;
use capstan::profile::Profile;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    archive: ArchiveArg,
    #[command(flatten)]
    output: OutputArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let dir = tempfile_dir()?;
    let wav = dir.join("demo-tape.wav");
    capstan::demo::write_demo_wav(&wav).context("writing the demo tape")?;
    let now = transfer_time();
    let id = format!(
        "demo-{:04}{:02}{:02}T{:02}{:02}{:02}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    let fields = Fields(
        [
            ("TITLE", "Capstan demo tape"),
            (
                "DESCRIPTION",
                "Synthetic demo transfer: line-up tone, programme, a clipped passage",
            ),
            ("ORGANIZATION", "Capstan demo archive"),
            ("TAPE_SPEED", "7.5"),
            ("DECK", "Demo deck"),
            ("ADC", "Demo converter"),
            ("PLAYBACK_EQ", "IEC"),
            ("OPERATOR", "capstan demo"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
    );
    let req = IngestRequest {
        profile: Profile::load("quarter-inch-half-track-stereo")?,
        id,
        collection: "demo".into(),
        meta: fields,
        archive: Archive::new(args.archive.dir()),
        sources: vec![wav],
        now,
        interrupt: Some(interrupt_flag()),
        capture: None,
    };
    let status = finish(ingest(&req), args.output.json);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(status)
}

pub(crate) fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("capstan-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}
