//! `capstan`: the command-line station. Thin: parses arguments, calls the library, prints, and
//! maps outcomes to exit codes (0 all good, 1 a problem found, 2 could not run).

use anyhow::Context;
use capstan::archive::Archive;
use capstan::ingest::{ingest, transfer_time, IngestError, IngestOutcome, IngestRequest};
use capstan::metadata::{parse_meta_arg, Fields};
use capstan::profile::{Profile, SHIPPED};
use capstan::report::TakeReport;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[derive(Parser)]
#[command(name = "capstan", version, about = "Archival audio transfer station")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Ingest WAV/BWF/RF64 transfers as one item: verified FLAC masters in a BagIt bag.
    Ingest {
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
        /// The archive folder [default: $CAPSTAN_ARCHIVE, else ./archive].
        #[arg(long)]
        archive: Option<PathBuf>,
        /// Print the outcome as JSON.
        #[arg(long)]
        json: bool,
        /// The takes of the item, in order (sides of a cassette, reels of a set).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Generate a demo transfer and ingest it, to show the whole path on any machine.
    Demo {
        #[arg(long)]
        archive: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// List the shipped transfer profiles.
    Profiles {
        #[arg(long)]
        json: bool,
    },
}

fn archive_dir(arg: Option<PathBuf>) -> PathBuf {
    arg.or_else(|| std::env::var_os("CAPSTAN_ARCHIVE").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("archive"))
}

fn interrupt_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = Arc::clone(&flag);
    // Ctrl-C and SIGTERM stop the ingest between blocks; staging is removed on the way out.
    let _ = ctrlc::set_handler(move || f.store(true, Ordering::Relaxed));
    flag
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("capstan: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Ingest {
            profile,
            id,
            collection,
            meta,
            archive,
            json,
            files,
        } => {
            let profile = match Profile::load(&profile) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("capstan: {e}");
                    return Ok(ExitCode::from(2));
                }
            };
            let mut fields = Fields::default();
            for m in &meta {
                match parse_meta_arg(m) {
                    Ok((k, v)) => {
                        fields.0.insert(k, v);
                    }
                    Err(e) => {
                        eprintln!("capstan: {e}");
                        return Ok(ExitCode::from(1));
                    }
                }
            }
            let req = IngestRequest {
                profile,
                id,
                collection,
                meta: fields,
                archive: Archive::new(archive_dir(archive)),
                sources: files,
                now: transfer_time(),
                interrupt: Some(interrupt_flag()),
            };
            Ok(finish(ingest(&req), json))
        }
        Command::Demo { archive, json } => {
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
                archive: Archive::new(archive_dir(archive)),
                sources: vec![wav],
                now,
                interrupt: Some(interrupt_flag()),
            };
            let code = finish(ingest(&req), json);
            let _ = std::fs::remove_dir_all(&dir);
            Ok(code)
        }
        Command::Profiles { json } => {
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
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("capstan-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

fn finish(result: Result<IngestOutcome, IngestError>, json: bool) -> ExitCode {
    match result {
        Ok(outcome) => {
            if json {
                let v = serde_json::json!({
                    "outcome": "pass",
                    "bag": outcome.bag,
                    "report": outcome.report,
                });
                println!("{}", serde_json::to_string_pretty(&v).expect("json"));
            } else {
                println!("ingested {}", outcome.bag.display());
                for take in &outcome.report.takes {
                    print_take(take);
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            if json {
                let v = serde_json::json!({"outcome": "fail", "error": e.to_string()});
                println!("{}", serde_json::to_string_pretty(&v).expect("json"));
            }
            eprintln!("capstan: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

fn fmt_level(v: Option<f64>, unit: &str) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{v:.1} {unit}"))
}

fn print_take(t: &TakeReport) {
    println!(
        "take {}: {} ({}, {} Hz, {}-bit, {} ch, {})",
        t.part,
        t.source.file,
        t.source.duration,
        t.source.sample_rate,
        t.source.bits_per_sample,
        t.source.channels,
        t.source.sha256.get(..16).unwrap_or_default()
    );
    for m in &t.masters {
        println!("  master {}  sha256 {}  bit-exact", m.file, &m.sha256[..16]);
    }
    let o = &t.overall;
    println!(
        "  loudness {}  range {}  true peak {}  sample peak {}",
        fmt_level(o.integrated_lufs, "LUFS"),
        fmt_level(o.loudness_range_lu, "LU"),
        fmt_level(o.true_peak_dbtp, "dBTP"),
        fmt_level(o.sample_peak_dbfs, "dBFS")
    );
    for c in &t.channels {
        println!(
            "  ch {} {:10} peak {}  rms {}  dc {:+.5}",
            c.channel,
            t.channel_names
                .get(c.channel - 1)
                .map_or("", String::as_str),
            fmt_level(c.levels.sample_peak_dbfs, "dBFS"),
            fmt_level(c.rms_dbfs, "dBFS"),
            c.dc_offset
        );
    }
    for d in &t.defects {
        let ch = d.channel.map_or("all".to_string(), |c| c.to_string());
        println!(
            "  defect {:13} ch {:3} at {} for {}",
            d.kind, ch, d.start_time, d.length_time
        );
    }
}
