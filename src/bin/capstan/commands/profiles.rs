//! `capstan profiles`: the shipped transfer profiles.

use crate::exit::ExitStatus;
use crate::OutputArgs;
use capstan::profile::shipped_summaries;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    output: OutputArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let json = args.output.json;
    let mut list = Vec::new();
    for p in shipped_summaries()? {
        list.push(serde_json::json!({
            "name": p.name,
            "carrier": p.carrier,
            "sample_rate": p.sample_rate,
            "bit_depth": p.bit_depth,
            "channels": p.channels,
            "layout": p.layout_name(),
        }));
        if !json {
            println!(
                "{:32} {:>6} Hz {:>2}-bit {} ch  {}",
                p.name,
                p.sample_rate,
                p.bit_depth,
                p.channels.len(),
                p.carrier
            );
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&list)?);
    }
    Ok(ExitStatus::Success)
}
