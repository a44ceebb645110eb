//! `capstan`: the command-line station. Thin: parses arguments, calls the library, prints, and
//! maps outcomes to exit codes (0 all good, 1 a problem found, 2 could not run).

use anyhow::Context;
use capstan::archive::Archive;
use capstan::catalogue::{reindex, ArchiveReport, Catalogue};
use capstan::fixity::{
    escape_text, text_path, verify, BagOutcome, Observer, Options, Problem, ProblemKind,
    VerifyReport,
};
use capstan::ingest::{ingest, transfer_time, IngestError, IngestOutcome, IngestRequest};
use capstan::metadata::{parse_meta_arg, Fields};
use capstan::profile::{Profile, SHIPPED};
use capstan::report::TakeReport;
use capstan::watch::{watch, Tell, WatchOptions};
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
    /// Ingest an inventory of transfers (CSV: one row per take; columns id, collection, profile,
    /// file, and any metadata field) item by item, in parallel. Resumable: an item already
    /// archived from the same sources is skipped. Exit 0 every row archived, 1 a row failed,
    /// 2 could not run or interrupted.
    IngestBatch {
        /// The inventory (UTF-8 CSV); files and profile paths are relative to its folder.
        inventory: PathBuf,
        /// Check every row as an ingest would, and write nothing.
        #[arg(long)]
        check: bool,
        /// Items ingested at once [default: half the CPUs, at least 1].
        #[arg(long)]
        jobs: Option<usize>,
        /// Write the outcome of every row here, as CSV.
        #[arg(long, value_name = "OUT.csv")]
        report: Option<PathBuf>,
        /// The archive folder [default: $CAPSTAN_ARCHIVE, else ./archive].
        #[arg(long)]
        archive: Option<PathBuf>,
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
        /// Do not record the outcome as fixity-check events in the archive (read-only media).
        #[arg(long)]
        no_record: bool,
        /// Archives, bags, folders of FLAC files, FLAC files.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Print the history of the archive, or of one item: PREMIS events from the catalogue.
    /// Exit 0, 1 the item is unknown, 2 could not run.
    Log {
        /// `collection/id`, or a bare id when only one collection has it.
        item: Option<String>,
        /// The archive folder [default: $CAPSTAN_ARCHIVE, else ./archive].
        #[arg(long)]
        archive: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Rebuild the catalogue from the bags and events.jsonl alone (the archive is the truth).
    /// Exit 0, 1 something was skipped (unparsable lines, unsafe paths), 2 could not run.
    Reindex {
        /// The archive folder [default: $CAPSTAN_ARCHIVE, else ./archive].
        #[arg(long)]
        archive: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// The archive at a glance: items, hours of audio, bytes, each item's last verification,
    /// open problems. Exit 0, 1 there are open problems, 2 could not run.
    Report {
        /// The archive folder.
        archive: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Watch an archive: register complete new bags, re-check changed files, report moved and
    /// missing ones, and (with --every) verify every file once per period. Stops cleanly on
    /// Ctrl-C / SIGTERM. Every event goes to the catalogue and .capstan/events.jsonl.
    Watch {
        /// The archive folder.
        archive: PathBuf,
        /// Rolling verification period, e.g. 30d, 12h (every file read at least once per period).
        #[arg(long, value_parser = humantime::parse_duration)]
        every: Option<std::time::Duration>,
        /// Cap on the rolling verification's reading, bytes per second (K, M, G suffixes: 50M).
        #[arg(long, value_parser = parse_rate)]
        max_rate: Option<u64>,
        /// Quiet time before a change is looked at, e.g. 500ms.
        #[arg(long, default_value = "500ms", value_parser = humantime::parse_duration)]
        settle: std::time::Duration,
        /// Reconcile the catalogue with the disk once, report, and exit.
        #[arg(long)]
        once: bool,
        /// One JSON event a line.
        #[arg(long)]
        json: bool,
    },
    /// List the audio input devices (names for `capture --device`).
    Devices {
        #[arg(long)]
        json: bool,
    },
    /// Capture a take from an input device into the archive: journalled as it comes (a crash
    /// loses at most the last second), then finished like an ingest. Stops at --duration, on
    /// Ctrl-C/SIGTERM, or when the device fails; what was captured is always kept.
    Capture {
        /// A shipped profile's name or a path to a TOML profile.
        #[arg(long)]
        profile: String,
        #[arg(long)]
        id: String,
        #[arg(long, default_value = "default")]
        collection: String,
        /// The input device, as `capstan devices` lists it (e.g. capstan_tape), or `demo` (the
        /// built-in test tape, 96 kHz stereo, at real time) [default: the first interface, else
        /// demo].
        #[arg(long)]
        device: Option<String>,
        /// Stop after this long, e.g. 45m, 90s.
        #[arg(long, value_parser = humantime::parse_duration)]
        duration: Option<std::time::Duration>,
        /// Frames per device period [default: the device's].
        #[arg(long)]
        buffer: Option<u32>,
        #[arg(long = "meta", value_name = "KEY=VALUE")]
        meta: Vec<String>,
        #[arg(long)]
        archive: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Finish every take whose capture died (crash, kill, power cut) from its journal, as an
    /// item flagged "recovered". `capture` does this first, too.
    Recover {
        #[arg(long)]
        archive: Option<PathBuf>,
    },
    /// Declick a WAV or FLAC file into a new file (format from OUT's extension: .wav or
    /// .flac), at the input's rate, depth and channels. Only damaged samples change. OUT must
    /// not exist. Exit 0, 1 bad input, 2 could not write.
    Declick {
        /// The file to declick (WAV, BWF, RF64 or FLAC).
        input: PathBuf,
        /// The declicked file to write.
        output: PathBuf,
        /// Detection sensitivity: higher finds more and smaller clicks (default 1: no tuning
        /// needed on ordinary material; useful range 0.25 to 4).
        #[arg(long, default_value_t = 1.0)]
        sensitivity: f32,
        /// Write every repaired region (channel, start, length, size) as JSON to this file.
        #[arg(long)]
        report: Option<PathBuf>,
        /// Print the outcome as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the shipped transfer profiles.
    Profiles {
        #[arg(long)]
        json: bool,
    },
}

/// Text for the terminal: control characters and line separators escaped (see
/// [`escape_text`]); every string that may hold a file name goes through this or [`text_path`].
fn esc(s: impl std::fmt::Display) -> String {
    escape_text(&s.to_string())
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
    // A reader that stops reading (`capstan log | head -1`) ends capstan quietly, as it ends any
    // Unix filter, instead of a panic in println! (Rust ignores SIGPIPE by default). Every
    // write to the archive is finished before its outcome is printed.
    // SAFETY: restoring a signal's default disposition at start-up, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("capstan: {}", esc(format!("{e:#}")));
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::IngestBatch {
            inventory,
            check,
            jobs,
            report,
            archive,
        } => Ok(ingest_batch(
            &inventory,
            check,
            jobs,
            report.as_deref(),
            &Archive::new(archive_dir(archive)),
        )),
        Command::Ingest {
            profile,
            id,
            collection,
            meta,
            archive,
            json,
            files,
        } => {
            let (profile, fields) = match profile_and_fields(&profile, &meta) {
                Ok(loaded) => loaded,
                Err(code) => return Ok(code),
            };
            let req = IngestRequest {
                profile,
                id,
                collection,
                meta: fields,
                archive: Archive::new(archive_dir(archive)),
                sources: files,
                now: transfer_time(),
                interrupt: Some(interrupt_flag()),
                capture: None,
            };
            Ok(finish(ingest(&req), json))
        }
        Command::Declick {
            input,
            output,
            sensitivity,
            report,
            json,
        } => Ok(declick_command(
            &input,
            &output,
            sensitivity,
            report.as_deref(),
            json,
        )),
        Command::Verify {
            deep,
            jobs,
            json,
            no_record,
            paths,
        } => Ok(verify_command(&paths, deep, jobs, json, !no_record)),
        Command::Watch {
            archive,
            every,
            max_rate,
            settle,
            once,
            json,
        } => {
            let opts = WatchOptions {
                every,
                max_rate,
                settle,
                once,
            };
            let stop = interrupt_flag();
            // With --once the exit status says whether a problem was recorded (cron mails it).
            let mut problems = 0usize;
            let mut tell = |t: Tell| match t {
                Tell::Event(e) if e.outcome != "pass" && json => {
                    problems += 1;
                    println!("{}", serde_json::to_string(e).expect("events serialise"))
                }
                Tell::Event(e) if e.outcome != "pass" => {
                    problems += 1;
                    print_watch_event(e)
                }
                Tell::Event(e) if json => {
                    println!("{}", serde_json::to_string(e).expect("events serialise"))
                }
                Tell::Event(e) => print_watch_event(e),

                Tell::Notice(n) => eprintln!("capstan watch: {}", esc(&n)),
            };
            let outcome = watch(&Archive::new(archive), &opts, &stop, &mut tell);
            match outcome {
                Ok(()) if once && problems > 0 => Ok(ExitCode::from(1)),
                Ok(()) => Ok(ExitCode::SUCCESS),
                Err(e) => {
                    eprintln!("capstan: {}", esc(&e));
                    Ok(ExitCode::from(2))
                }
            }
        }
        Command::Devices { json } => match capstan::capture::device::input_devices() {
            Ok(list) => {
                if json {
                    println!("{}", serde_json::to_string_pretty(&list).expect("json"));
                } else {
                    for d in &list {
                        println!("{:<24} {:<8} {}", esc(&d.name), d.host, esc(&d.description));
                    }
                }
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("capstan: {}", esc(&e));
                Ok(ExitCode::from(2))
            }
        },
        Command::Capture {
            profile,
            id,
            collection,
            device,
            duration,
            buffer,
            meta,
            archive,
            json,
        } => {
            let archive = Archive::new(archive_dir(archive));
            recover_command(&archive);
            let (loaded, fields) = match profile_and_fields(&profile, &meta) {
                Ok(loaded) => loaded,
                Err(code) => return Ok(code),
            };
            let req = capstan::capture::CaptureRequest {
                duration: duration
                    .map(|d| (d.as_secs_f64() * f64::from(loaded.sample_rate)).round() as u64),
                profile: loaded,
                profile_arg: profile,
                id,
                collection,
                meta: fields,
                archive,
                device: device.unwrap_or_else(capstan::capture::device::default_input_name),
                buffer,
                stop: interrupt_flag(),
                now: transfer_time(),
            };
            Ok(capture_command(&req, json))
        }
        Command::Recover { archive } => Ok(recover_command(&Archive::new(archive_dir(archive)))),
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
                capture: None,
            };
            let code = finish(ingest(&req), json);
            let _ = std::fs::remove_dir_all(&dir);
            Ok(code)
        }
        Command::Log {
            item,
            archive,
            json,
        } => Ok(log_command(
            &Archive::new(archive_dir(archive)),
            item.as_deref(),
            json,
        )),
        Command::Reindex { archive, json } => {
            Ok(reindex_command(&Archive::new(archive_dir(archive)), json))
        }
        Command::Report { archive, json } => Ok(report_command(&Archive::new(archive), json)),
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
                eprintln!("capstan: warning: {}", esc(w));
            }
            if json {
                let v = serde_json::json!({
                    "outcome": "pass",
                    "bag": outcome.bag,
                    "record_pending": outcome.record_pending,
                    "warnings": outcome.warnings,
                    "report": outcome.report,
                });
                println!("{}", serde_json::to_string_pretty(&v).expect("json"));
            } else {
                println!("ingested {}", text_path(&outcome.bag));
                for take in &outcome.report.takes {
                    print_take(take);
                }
            }
            ExitCode::from(outcome.exit_code() as u8)
        }
        Err(e) => {
            if json {
                let v = serde_json::json!({"outcome": "fail", "error": e.to_string()});
                println!("{}", serde_json::to_string_pretty(&v).expect("json"));
            }
            eprintln!("capstan: {}", esc(&e));
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
        esc(&t.source.file),
        t.source.duration,
        t.source.sample_rate,
        t.source.bits_per_sample,
        t.source.channels,
        t.source.sha256.get(..16).unwrap_or_default()
    );
    for m in &t.masters {
        println!(
            "  master {}  sha256 {}  bit-exact",
            esc(&m.file),
            &m.sha256[..16]
        );
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
            "  ch {} {:10} peak {}  rms {}  dc {:+.5}  {} bits",
            c.channel,
            t.channel_names
                .get(c.channel - 1)
                .map_or("", String::as_str),
            fmt_level(c.levels.sample_peak_dbfs, "dBFS"),
            fmt_level(c.rms_dbfs, "dBFS"),
            c.dc_offset,
            c.effective_bits
        );
    }
    let signed = |v: Option<f64>, digits: usize, unit: &str| {
        v.map_or_else(|| "-".to_string(), |v| format!("{v:+.digits$}{unit}"))
    };
    for p in &t.phase {
        println!(
            "  phase ch {}-{}  correlation {} (lowest {} at {})  offset {} ({})",
            p.channels[0],
            p.channels[1],
            signed(p.correlation, 2, ""),
            signed(p.min_correlation, 2, ""),
            p.min_at_time.map_or("-".to_string(), |t| t.to_string()),
            signed(p.offset_samples, 2, " samples"),
            signed(p.offset_us, 1, " µs")
        );
    }
    for d in &t.defects {
        let ch = d.channel.map_or("all".to_string(), |c| c.to_string());
        println!(
            "  defect {:13} ch {:3} at {} for {}{}",
            d.kind,
            ch,
            d.start_time,
            d.length_time,
            d.detail
                .as_ref()
                .map_or(String::new(), |d| format!("  {d}"))
        );
    }
}

fn print_watch_event(e: &capstan::archive::events::Event) {
    println!(
        "{}  {:<26} {:<7} {}{}  {}",
        esc(&e.date_time),
        esc(&e.event_type),
        esc(&e.outcome),
        esc(&e.item),
        e.file
            .as_deref()
            .map(|f| format!("/{}", esc(f)))
            .unwrap_or_default(),
        esc(&e.detail)
    )
}

/// A progress bar on a terminal (files, bytes, rate, ETA); nothing otherwise.
struct VerifyProgress {
    bar: indicatif::ProgressBar,
    /// Record each batch's outcome in its archive.
    record: bool,
    warnings: std::sync::Mutex<Vec<String>>,
    files: std::sync::atomic::AtomicU64,
    total_files: std::sync::atomic::AtomicU64,
}

impl Observer for VerifyProgress {
    fn planned(&self, files: u64, bytes: u64) {
        let total = self.total_files.fetch_add(files, Ordering::Relaxed) + files;
        self.bar.inc_length(bytes);
        let done = self.files.load(Ordering::Relaxed);
        self.bar.set_message(format!("{done}/{total} files"));
    }

    fn bags_done(&self, bags: &[BagOutcome], problems: &[Problem], deep: bool) {
        if !self.record {
            return;
        }
        for (archive, outcome) in capstan::fixity::record_checks(bags, problems, deep) {
            if let Err(e) = outcome {
                let mut w = self.warnings.lock().expect("not poisoned");
                w.push(format!(
                    "the outcome was not recorded in {}: {}",
                    text_path(&archive),
                    esc(&e)
                ));
            }
        }
    }

    fn checked(&self, bytes: u64) {
        let done = self.files.fetch_add(1, Ordering::Relaxed) + 1;
        let total = self.total_files.load(Ordering::Relaxed);
        self.bar.set_message(format!("{done}/{total} files"));
        self.bar.inc(bytes);
    }
}

fn verify_command(
    paths: &[PathBuf],
    deep: bool,
    jobs: Option<usize>,
    json: bool,
    record: bool,
) -> ExitCode {
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    if record {
        // Recording writes to the archive: ingestion records a crash left pending go first.
        for p in paths.iter().filter(|p| p.join(".capstan").is_dir()) {
            match capstan::pending::replay(&Archive::new(p)) {
                Ok(list) => list
                    .iter()
                    .for_each(|r| eprintln!("capstan: {}", esc(capstan::pending::describe(r)))),
                Err(e) => eprintln!("capstan: warning: {}", esc(&e)),
            }
        }
    }
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
        record,
        warnings: Default::default(),
        files: Default::default(),
        total_files: Default::default(),
    };
    let report = verify(paths, Options { deep, jobs }, &progress);
    progress.bar.finish_and_clear();
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            eprintln!("capstan: {}", esc(&e));
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
    let mut warnings = progress.warnings.into_inner().expect("not poisoned");
    warnings.dedup();
    for w in warnings {
        eprintln!("capstan: warning: {}", esc(w));
    }
    ExitCode::from(if report.passed() { 0 } else { 1 })
}

fn print_verify_report(report: &VerifyReport) {
    for p in &report.problems {
        println!("{}: {}: {}", p.kind.words(), esc(&p.path), esc(&p.detail));
        if let Some(from) = &p.moved_from {
            println!("    moved from {}", esc(from));
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

fn log_command(archive: &Archive, item: Option<&str>, json: bool) -> ExitCode {
    let history = Catalogue::open(archive).and_then(|cat| {
        let item = match item {
            Some(name) => match cat.resolve_item(name)? {
                Some(item) => Some(item),
                None => return Ok(None),
            },
            None => None,
        };
        cat.history(item.as_deref()).map(Some)
    });
    let events = match history {
        Ok(Some(events)) => events,
        Ok(None) => {
            eprintln!(
                "capstan: no item {} in the archive {}",
                esc(item.unwrap_or_default()),
                text_path(&archive.root)
            );
            return ExitCode::from(1);
        }
        Err(e @ capstan::catalogue::CatalogueError::Ambiguous { .. }) => {
            eprintln!("capstan: {}; give it as collection/id", esc(&e));
            return ExitCode::from(1);
        }
        Err(e) => {
            eprintln!("capstan: {}", esc(&e));
            return ExitCode::from(2);
        }
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&events).expect("events serialise")
        );
        return ExitCode::SUCCESS;
    }
    let escaped: Vec<[String; 7]> = events
        .iter()
        .map(|e| {
            [
                esc(&e.date_time),
                esc(&e.item),
                esc(&e.event_type),
                esc(&e.outcome),
                esc(e.file.as_deref().unwrap_or("-")),
                esc(&e.agent),
                esc(&e.detail),
            ]
        })
        .collect();
    let rows: Vec<[&str; 7]> = escaped
        .iter()
        .map(|r| std::array::from_fn(|i| r[i].as_str()))
        .collect();
    let header = [
        "DATE-TIME",
        "ITEM",
        "EVENT",
        "OUTCOME",
        "FILE",
        "AGENT",
        "DETAIL",
    ];
    let mut widths = header.map(str::len);
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    for r in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, (c, w)) in r.iter().zip(widths).enumerate() {
            if i + 1 == r.len() {
                line.push_str(c);
            } else {
                line.push_str(&format!("{c:w$}  "));
            }
        }
        println!("{}", line.trim_end());
    }
    if rows.is_empty() {
        println!("(no events)");
    }
    ExitCode::SUCCESS
}

fn reindex_command(archive: &Archive, json: bool) -> ExitCode {
    let summary = match reindex(archive) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("capstan: {}", esc(&e));
            return ExitCode::from(2);
        }
    };
    let skipped = summary.skipped_event_lines + summary.skipped_paths + summary.skipped_bags;
    for r in &summary.replayed {
        eprintln!("capstan: {}", esc(r));
    }
    if summary.torn_event_lines > 0 {
        eprintln!(
            "capstan: skipped {} torn line(s) of events.jsonl (an append cut short by a crash or a full disk); every complete event is kept",
            summary.torn_event_lines
        );
        for n in summary
            .notes
            .iter()
            .filter(|n| n.contains("is a torn event"))
        {
            eprintln!("capstan:   {}", esc(n));
        }
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&summary).expect("summary serialises")
        );
    } else {
        println!(
            "reindexed {}: {} item(s), {} file(s) ({} missing), {} event(s)",
            text_path(&capstan::catalogue::catalogue_path(archive)),
            summary.items,
            summary.files,
            summary.missing_files,
            summary.events
        );
        if skipped > 0 {
            println!(
                "skipped: {} event line(s) that do not parse, {} manifest line(s) (unsafe paths or malformed), {} bag(s)",
                summary.skipped_event_lines, summary.skipped_paths, summary.skipped_bags
            );
            for n in summary
                .notes
                .iter()
                .filter(|n| !n.contains("is a torn event"))
            {
                println!("  {}", esc(n));
            }
        }
    }
    ExitCode::from(u8::from(skipped > 0))
}

fn report_command(archive: &Archive, json: bool) -> ExitCode {
    // Read-only: report writes nothing, so it also reads a mounted read-only copy.
    let report = match Catalogue::open_read_only(archive).and_then(|c| c.report()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("capstan: {}", esc(&e));
            return ExitCode::from(2);
        }
    };
    if json {
        let v = serde_json::json!({
            "archive": archive.root,
            "summary": report.summary,
            "items": report.items,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&v).expect("report serialises")
        );
    } else {
        print_archive_report(archive, &report);
    }
    ExitCode::from(u8::from(report.summary.open_problems > 0))
}

fn print_archive_report(archive: &Archive, report: &ArchiveReport) {
    let s = &report.summary;
    println!("archive {}", text_path(&archive.root));
    println!("  items     {:>10}", s.items);
    println!(
        "  audio     {:>10.2} h{}",
        s.audio_hours,
        if s.items_without_duration > 0 {
            format!(
                "  ({} item(s) of unknown duration)",
                s.items_without_duration
            )
        } else {
            String::new()
        }
    );
    println!(
        "  bytes     {:>10}  ({:.2} GB in {} files)",
        s.bytes,
        s.bytes as f64 / 1e9,
        s.files
    );
    println!("  never verified {:>5}", s.never_verified);
    println!("  open problems  {:>5}", s.open_problems);
    println!("  need a listen  {:>5}", s.needs_listen);
    if report.items.is_empty() {
        return;
    }
    println!();
    let width = report
        .items
        .iter()
        .map(|i| esc(&i.item).chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    println!(
        "{:width$}  {:>9}  {:>14}  LAST VERIFICATION",
        "ITEM", "DURATION", "BYTES"
    );
    for i in &report.items {
        let duration = i.audio_seconds.map_or("-".to_string(), |sec| {
            let t = sec.round() as u64;
            format!("{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60)
        });
        let last = i
            .last_verification
            .as_ref()
            .map_or("never".to_string(), |v| {
                format!("{} {}", v.date_time, v.outcome)
            });
        println!(
            "{:width$}  {duration:>9}  {:>14}  {}",
            esc(&i.item),
            i.bytes,
            esc(&last)
        );
        if let Some(why) = &i.needs_listen {
            println!("    needs a listen: {}", esc(why));
        }
        for p in &i.problems {
            let what = match (p.status, p.last_outcome.as_deref()) {
                (capstan::catalogue::FileStatus::Present, _) => "failed its last check".to_string(),
                (status, _) => status.as_str().to_string(),
            };
            println!(
                "    problem: {} {what}{}",
                esc(&p.path),
                p.last_detail
                    .as_deref()
                    .map(|d| format!(": {}", esc(d)))
                    .unwrap_or_default()
            );
        }
        if let Some(v) = &i.bag_failed {
            println!("    problem: the bag's last check failed: {}", v.detail);
        } else if i.problems.is_empty() && i.open_problems() > 0 {
            if let Some(v) = &i.last_verification {
                println!("    problem: last verification failed: {}", esc(&v.detail));
            }
        }
    }
}

/// Bytes a second: a number with an optional K, M or G (powers of 1000), `B/s` optional.
fn parse_rate(s: &str) -> Result<u64, String> {
    let t = s.trim().trim_end_matches("/s").trim_end_matches(['B', 'b']);
    let (num, mult) = match t.chars().last() {
        Some('K' | 'k') => (&t[..t.len() - 1], 1e3),
        Some('M' | 'm') => (&t[..t.len() - 1], 1e6),
        Some('G' | 'g') => (&t[..t.len() - 1], 1e9),
        _ => (t, 1.0),
    };
    num.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| *v > 0.0)
        .map(|v| (v * mult) as u64)
        .ok_or_else(|| format!("{s:?} is not a rate such as 50M or 200MB/s"))
}

fn capture_command(req: &capstan::capture::CaptureRequest, json: bool) -> ExitCode {
    use capstan::capture::CaptureEvent;
    use std::io::{IsTerminal, Write};
    let live = std::io::stderr().is_terminal();
    let rate = f64::from(req.profile.sample_rate);
    let mut tell = |e: CaptureEvent| match e {
        CaptureEvent::Ready { allows_seconds } if allows_seconds.is_finite() => {
            let allows = if allows_seconds >= 3600.0 {
                format!("{:.1} h", allows_seconds / 3600.0)
            } else {
                format!("{:.0} min", allows_seconds / 60.0)
            };
            eprintln!(
                "capstan: capturing from {}; the free disk allows {allows} at this profile's data rate",
                req.device,
            );
        }
        CaptureEvent::Levels {
            frames,
            channels,
            momentary_lufs,
            ..
        } if live => {
            let mut line = format!(
                "\r{:>9.1} s  M {:>6.1} LUFS ",
                frames as f64 / rate,
                momentary_lufs
            );
            for (i, c) in channels.iter().enumerate() {
                line.push_str(&format!(
                    " | {} {:>6.1} ({:>6.1}) TP {:>5.1}{}",
                    i + 1,
                    c.peak_dbfs.max(-99.9),
                    c.hold_dbfs.max(-99.9),
                    c.true_peak_dbtp.max(-99.9),
                    if c.clip { " CLIP" } else { "" }
                ));
            }
            let mut err = std::io::stderr();
            let _ = err.write_all(line.as_bytes());
            let _ = err.flush();
        }
        CaptureEvent::Gap { kind, at, frames } if live => eprintln!(
            "\ncapstan: {kind}: {frames} frames lost at {}",
            capstan::units::FrameIndex(at).timecode(req.profile.sample_rate)
        ),
        CaptureEvent::DeviceSilent { seconds } if live => {
            eprintln!("\ncapstan: the device has delivered nothing for {seconds} s")
        }
        _ => {}
    };
    let outcome = capstan::capture::capture(req, &mut tell);
    if live {
        eprintln!();
    }
    match outcome {
        Ok(o) => {
            let flagged = o.capture.flagged;
            if !o.capture.gaps.is_empty() {
                eprintln!(
                    "capstan: {} gap(s) in the take (samples lost); see the QC report",
                    o.capture.gaps.len()
                );
            }
            eprintln!(
                "capstan: take ended: {}; {:.1} s of audio in {:.1} s, {:.1}% of one core while capturing",
                o.capture.ended,
                o.frames as f64 / rate,
                o.capture_seconds,
                100.0 * o.capture_cpu_seconds / o.capture_seconds.max(1e-9)
            );
            // A take whose record is only pending keeps its exit 2; a flagged one is 1.
            let pending = o.ingest.exit_code() != 0;
            let code = finish(Ok(o.ingest), json);
            if flagged && !pending {
                ExitCode::from(1)
            } else {
                code
            }
        }
        Err(e) => {
            eprintln!("capstan: {}", esc(&e));
            ExitCode::from(e.exit_code())
        }
    }
}

/// `capstan declick`: the file, its report, a summary.
fn declick_command(
    input: &std::path::Path,
    output: &std::path::Path,
    sensitivity: f32,
    report: Option<&std::path::Path>,
    json: bool,
) -> ExitCode {
    let settings = capstan::dsp::declick::DeclickSettings {
        sensitivity,
        ..Default::default()
    };
    let started = std::time::Instant::now();
    match capstan::restore::declick_file(input, output, &settings) {
        Ok(o) => {
            let text = serde_json::to_string_pretty(&o).expect("outcome serialises") + "\n";
            if let Some(path) = report {
                if let Err(e) = std::fs::write(path, &text) {
                    eprintln!("capstan: {}: {}", text_path(path), esc(&e));
                    return ExitCode::from(2);
                }
            }
            if json {
                print!("{text}");
            } else {
                let seconds = o.frames.0 as f64 / f64::from(o.sample_rate);
                println!(
                    "{}: {} click(s), {} crackle repair(s), {} sample(s) changed, in {} ({} Hz, {}-bit, {} ch); {:.0}x real time",
                    esc(&o.output),
                    o.declick.clicks,
                    o.declick.crackle,
                    o.declick.samples_repaired,
                    o.duration,
                    o.sample_rate,
                    o.bits_per_sample,
                    o.channels,
                    seconds / started.elapsed().as_secs_f64().max(1e-9)
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("capstan: {}", esc(&e));
            ExitCode::from(e.exit_code())
        }
    }
}

/// Finishes interrupted takes; says what it did. Exit 0 unless one could not be finished.
fn recover_command(archive: &Archive) -> ExitCode {
    match capstan::capture::recover(archive) {
        Ok(list) => {
            let mut code = ExitCode::SUCCESS;
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
                        code = ExitCode::from(2);
                    }
                }
            }
            code
        }
        Err(e) => {
            eprintln!("capstan: {}", esc(&e));
            ExitCode::from(2)
        }
    }
}

/// The profile (`--profile`) and the operator's fields (`--meta`), or the exit code saying why
/// not (2: no such profile; 1: a bad field).
fn profile_and_fields(profile: &str, meta: &[String]) -> Result<(Profile, Fields), ExitCode> {
    let profile = Profile::load(profile).map_err(|e| {
        eprintln!("capstan: {}", esc(&e));
        ExitCode::from(2)
    })?;
    let mut fields = Fields::default();
    for m in meta {
        let (k, v) = parse_meta_arg(m).map_err(|e| {
            eprintln!("capstan: {}", esc(&e));
            ExitCode::from(1)
        })?;
        fields.0.insert(k, v);
    }
    Ok((profile, fields))
}

/// A progress bar on a terminal for `ingest-batch` (items, bytes, rate, ETA); nothing otherwise.
struct BatchBar(indicatif::ProgressBar, u64, u64);

impl capstan::batch::Progress for BatchBar {
    fn start(&mut self, items: u64, bytes: u64) {
        self.1 = items;
        self.0.set_length(bytes);
        self.0.set_message(format!("0/{items} items"));
    }

    fn item_done(&mut self, bytes: u64) {
        self.2 += 1;
        self.0.inc(bytes);
        self.0.set_message(format!("{}/{} items", self.2, self.1));
    }
}

fn ingest_batch(
    inventory: &std::path::Path,
    check: bool,
    jobs: Option<usize>,
    report: Option<&std::path::Path>,
    archive: &Archive,
) -> ExitCode {
    use capstan::batch::{self, Status};
    let inv = match batch::read(inventory) {
        Ok(inv) => inv,
        Err(e) => {
            eprintln!("capstan: {}", esc(&e));
            return ExitCode::from(e.exit_code() as u8);
        }
    };
    let rows = if check {
        batch::check(&inv, archive)
    } else {
        let jobs = jobs.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
        });
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(0),
            indicatif::ProgressDrawTarget::stderr(),
        );
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg}  {bytes}/{total_bytes}  {binary_bytes_per_sec}  ETA {eta}  [{wide_bar}]",
            )
            .expect("valid template"),
        );
        let mut progress = BatchBar(bar, 0, 0);
        let rows = batch::run(&inv, archive, jobs, interrupt_flag(), &mut progress);
        progress.0.finish_and_clear();
        rows
    };
    for r in &rows {
        if let Some(p) = &r.problem {
            eprintln!("capstan: {}", esc(p));
        }
    }
    let count = |s: Status| rows.iter().filter(|r| r.status == s).count();
    println!(
        "{}: {} row(s): {} {}, {} already archived, {} failed, {} not run",
        text_path(inventory),
        rows.len(),
        count(if check { Status::Ok } else { Status::Archived }),
        if check { "ok" } else { "archived" },
        count(Status::AlreadyArchived),
        count(Status::Failed),
        count(Status::NotRun),
    );
    if let Some(out) = report {
        if let Err(e) = batch::write_report(out, &rows) {
            eprintln!("capstan: {}", esc(&e));
            return ExitCode::from(2);
        }
    }
    ExitCode::from(batch::exit_code(&rows) as u8)
}
