//! `capstan devices`: the audio input devices, by the names `capture --device` takes.

use super::esc;
use crate::exit::ExitStatus;
use crate::OutputArgs;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    output: OutputArgs,
}

pub fn run(args: Args) -> ExitStatus {
    match capstan::capture::device::input_devices() {
        Ok(list) => {
            if args.output.json {
                println!("{}", serde_json::to_string_pretty(&list).expect("json"));
            } else {
                for d in &list {
                    println!("{:<24} {:<8} {}", esc(&d.name), d.host, esc(&d.description));
                }
            }
            ExitStatus::Success
        }
        Err(e) => {
            eprintln!("capstan: {}", esc(&e));
            ExitStatus::from(&e)
        }
    }
}
