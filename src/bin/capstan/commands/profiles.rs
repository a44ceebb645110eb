//! `capstan profiles`: the shipped transfer profiles.

use crate::exit::ExitStatus;
use crate::OutputArgs;
use capstan::profile::{Profile, SHIPPED};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    output: OutputArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let json = args.output.json;
    let mut list = Vec::new();
    for (name, _) in SHIPPED {
        let p = Profile::load(name)?;
        list.push(serde_json::json!({
            "name": name,
            "carrier": p.carrier_description,
            "sample_rate": p.sample_rate,
            "bit_depth": p.bit_depth,
            "channels": p.channel_names,
            "layout": format!("{:?}", p.layout),
        }));
        if !json {
            println!(
                "{name:32} {:>6} Hz {:>2}-bit {} ch  {}",
                p.sample_rate,
                p.bit_depth,
                p.channels(),
                p.carrier_description
            );
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&list)?);
    }
    Ok(ExitStatus::Success)
}
