//! `capstan`: the command-line station. Thin: parses arguments, calls the library, prints, and
//! maps outcomes to exit codes (0 all good, 1 a problem found, 2 could not run).

use anyhow::Context;
use capstan::archive::Archive;
use capstan::fixity::{verify, Observer, Options, ProblemKind, VerifyReport};
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
    /// Prove archives, bags or folders of FLAC files intact: manifests, Payload-Oxum, and (with
    /// --deep) every FLAC decoded in the same read as its digest. Exit 0 all good, 1 a problem
    /// found, 2 could not run.
    Verify {
        /// Decode every FLAC (frame CRCs and STREAMINFO MD5) in the read that hashes it.
        #[arg(long)]
        deep: bool,
        /// Files read at once [default: the number of cores].
        #[arg(long)]
        jobs: Option<usize>,
        #[arg(long)]
        json: bool,
        /// Archives, bags, folders of FLAC files, FLAC files.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
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
        Command::Verify {
            deep,
            jobs,
            json,
            paths,
        } => Ok(verify_command(&paths, deep, jobs, json)),
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
            for w in &outcome.warnings {
                eprintln!("capstan: warning: {w}");
            }
            if json {
                let v = serde_json::json!({
                    "outcome": "pass",
                    "bag": outcome.bag,
                    "warnings": outcome.warnings,
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

/// A progress bar on a terminal (files, bytes, rate, ETA); nothing otherwise.
struct VerifyProgress {
    bar: indicatif::ProgressBar,
    files: std::sync::atomic::AtomicU64,
    total_files: std::sync::atomic::AtomicU64,
}

impl Observer for VerifyProgress {
    fn planned(&self, files: u64, bytes: u64) {
        self.total_files.store(files, Ordering::Relaxed);
        self.bar.set_length(bytes);
        self.bar.set_message(format!("0/{files} files"));
    }

    fn checked(&self, bytes: u64) {
        let done = self.files.fetch_add(1, Ordering::Relaxed) + 1;
        let total = self.total_files.load(Ordering::Relaxed);
        self.bar.set_message(format!("{done}/{total} files"));
        self.bar.inc(bytes);
    }
}

fn verify_command(paths: &[PathBuf], deep: bool, jobs: Option<usize>, json: bool) -> ExitCode {
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let bar =
        indicatif::ProgressBar::with_draw_target(Some(0), indicatif::ProgressDrawTarget::stderr());
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg}  {bytes}/{total_bytes}  {binary_bytes_per_sec}  ETA {eta}  [{wide_bar}]",
        )
        .expect("valid template"),
    );
    let progress = VerifyProgress {
        bar,
        files: Default::default(),
        total_files: Default::default(),
    };
    let report = verify(paths, Options { deep, jobs }, &progress);
    progress.bar.finish_and_clear();
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            eprintln!("capstan: {e}");
            return ExitCode::from(2);
        }
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("report serialises")
        );
    } else {
        print_verify_report(&report);
    }
    ExitCode::from(if report.passed() { 0 } else { 1 })
}

fn print_verify_report(report: &VerifyReport) {
    for p in &report.problems {
        println!("{}: {}: {}", p.kind.words(), p.path, p.detail);
        if let Some(from) = &p.moved_from {
            println!("    moved from {from}");
        }
        if p.damage.len() > 1 {
            for d in &p.damage {
                println!("    {} at {} (sample {})", d.kind, d.time, d.sample);
            }
        }
    }
    let s = &report.summary;
    let failed = report.bags.iter().filter(|b| b.outcome == "fail").count();
    if !report.problems.is_empty() {
        println!();
    }
    println!(
        "verify{}: {}",
        if report.deep { " --deep" } else { "" },
        if report.passed() {
            "PASS, everything checked is intact".to_string()
        } else {
            format!("FAIL, {} problem(s)", s.problems)
        }
    );
    println!(
        "  bags      {:>8}  ({} pass, {failed} fail)",
        s.bags,
        s.bags as usize - failed
    );
    println!(
        "  files     {:>8}  {:.2} GB in {:.1} s ({:.0} MB/s)",
        s.files,
        s.bytes as f64 / 1e9,
        s.seconds,
        s.bytes as f64 / 1e6 / s.seconds.max(1e-9)
    );
    let mut kinds: Vec<(ProblemKind, usize)> = Vec::new();
    for p in &report.problems {
        match kinds.iter_mut().find(|(k, _)| *k == p.kind) {
            Some((_, n)) => *n += 1,
            None => kinds.push((p.kind, 1)),
        }
    }
    for (kind, n) in kinds {
        println!("  {:<24}{n:>3}", kind.words());
    }
}
