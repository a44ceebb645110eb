//! `capstan schedule` and `capstan worker`: fixity checks shared by many machines through a
//! PostgreSQL catalogue (`--catalogue postgres://…` or `$CAPSTAN_CATALOGUE`); and the
//! registry's side of `reindex` and `report`.

use super::{esc, interrupt_flag};
use crate::exit::ExitStatus;
use crate::OutputArgs;
use capstan::archive::Archive;
use capstan::registry::worker::{self, WorkerOptions};
use capstan::registry::{Policy, Registry, RegistryError};
use std::time::Duration;

/// The shared catalogue, declared once.
#[derive(clap::Args, Clone)]
pub struct CatalogueArg {
    /// The shared catalogue: `postgres://user@host:port/database` [default: $CAPSTAN_CATALOGUE].
    #[arg(long = "catalogue", value_name = "URL")]
    catalogue: Option<String>,
}

impl CatalogueArg {
    /// `--catalogue`, else `$CAPSTAN_CATALOGUE`; said and exit 2 when neither is given.
    pub fn url(&self) -> Result<String, ExitStatus> {
        self.catalogue
            .clone()
            .or_else(|| std::env::var("CAPSTAN_CATALOGUE").ok())
            .filter(|u| !u.is_empty())
            .ok_or_else(|| {
                eprintln!("capstan: no shared catalogue: give --catalogue postgres://… or set CAPSTAN_CATALOGUE");
                ExitStatus::CouldNotRun
            })
    }

    /// Whether one was given.
    pub fn given(&self) -> bool {
        self.catalogue.is_some()
    }
}

fn failed(e: &RegistryError) -> ExitStatus {
    eprintln!("capstan: {}", esc(e));
    ExitStatus::CouldNotRun
}

/// `capstan schedule`
#[derive(clap::Args)]
pub struct ScheduleArgs {
    #[command(flatten)]
    catalogue: CatalogueArg,
    /// Every file proved at least once per this period.
    #[arg(long, default_value = "90days", value_parser = humantime::parse_duration)]
    period: Duration,
    /// At most this many files queued per run (a day's work for the workers there are).
    #[arg(long)]
    limit: Option<u64>,
    /// Only these copies: `local` (the archive's own files) or a replica's name; repeat for
    /// several [default: every copy registered].
    #[arg(long = "copy", value_name = "local|REPLICA")]
    copies: Vec<String>,
    /// Keep running, scheduling once per this interval (else once, for cron or a timer).
    #[arg(long, value_parser = humantime::parse_duration)]
    every: Option<Duration>,
    #[command(flatten)]
    output: OutputArgs,
}

pub fn schedule(args: ScheduleArgs) -> ExitStatus {
    let url = match args.catalogue.url() {
        Ok(u) => u,
        Err(s) => return s,
    };
    let policy = Policy {
        period: args.period,
        limit: args.limit,
        copies: (!args.copies.is_empty()).then(|| {
            args.copies
                .iter()
                .map(|c| {
                    if c == "local" {
                        String::new()
                    } else {
                        c.clone()
                    }
                })
                .collect()
        }),
    };
    let stop = interrupt_flag();
    loop {
        let started = std::time::Instant::now();
        let done = Registry::connect(&url).and_then(|mut r| r.schedule(&policy));
        match done {
            Ok(s) if args.output.json => println!(
                "{}",
                serde_json::to_string(&s).expect("a schedule serialises")
            ),
            Ok(s) => println!(
                "scheduled {} file(s): {} never proved, {} changed since their last proof, {} overdue ({:.2} s)",
                s.never_proved + s.changed + s.overdue,
                s.never_proved,
                s.changed,
                s.overdue,
                started.elapsed().as_secs_f64()
            ),
            Err(e) if args.every.is_some() && e.is_unreachable() => {
                eprintln!("capstan: {}; trying again next round", esc(&e))
            }
            Err(e) => return failed(&e),
        }
        let Some(every) = args.every else {
            return ExitStatus::Success;
        };
        let until = std::time::Instant::now() + every;
        while std::time::Instant::now() < until {
            if stop.load(std::sync::atomic::Ordering::Relaxed) {
                return ExitStatus::Success;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// `capstan worker`
#[derive(clap::Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    catalogue: CatalogueArg,
    /// Exit when no work is due: 0, or 1 if a problem was recorded (for cron and tests).
    #[arg(long)]
    until_idle: bool,
    /// The lease on a claimed batch; renewed while the worker works, so only a dead worker's
    /// batch passes to another, this long after it died.
    #[arg(long, default_value = "2min", value_parser = humantime::parse_duration)]
    lease: Duration,
    /// Files claimed at once.
    #[arg(long, default_value_t = 16)]
    batch: i64,
    /// Read replicas' copies back in full (ranged GETs) through the checks of `verify --deep`
    /// (every byte's SHA-256, every FLAC frame's CRC and the audio MD5) rather than ask for
    /// their stored checksums: for workers near the store, where reading is cheap.
    #[arg(long)]
    deep: bool,
    #[command(flatten)]
    output: OutputArgs,
}

pub fn worker(args: WorkerArgs) -> ExitStatus {
    let url = match args.catalogue.url() {
        Ok(u) => u,
        Err(s) => return s,
    };
    if args.lease < Duration::from_secs(1) || args.batch < 1 {
        eprintln!("capstan: --lease is at least 1s and --batch at least 1");
        return ExitStatus::Problem;
    }
    let opts = WorkerOptions {
        lease: args.lease,
        batch: args.batch,
        until_idle: args.until_idle,
        deep: args.deep,
        ..Default::default()
    };
    let stop = interrupt_flag();
    let mut tell = |m: &str| eprintln!("capstan worker: {}", esc(m));
    match worker::run(&url, &opts, &stop, &mut tell) {
        Ok(s) => {
            if args.output.json {
                println!(
                    "{}",
                    serde_json::to_string(&s).expect("a summary serialises")
                );
            } else {
                println!(
                    "worker {}: {} file(s) checked ({} bytes), {} problem(s){}",
                    esc(&s.name),
                    s.files,
                    s.bytes,
                    s.problems,
                    match s.taken_over {
                        0 => String::new(),
                        n => format!(", {n} check(s) not recorded (taken over after the lease)"),
                    }
                );
            }
            if s.unchecked > 0 {
                eprintln!(
                    "capstan: {} claimed check(s) could not be done (said above); they are done again once their lease runs out",
                    s.unchecked
                );
            }
            ExitStatus::problem_if(s.problems > 0 || s.unchecked > 0)
        }
        Err(e) => failed(&e),
    }
}

/// `capstan reindex --catalogue URL`: the archive's bags and last proofs registered in the
/// shared catalogue.
pub(crate) fn register(url: &str, archive: &Archive, json: bool) -> ExitStatus {
    match Registry::connect(url).and_then(|mut r| r.register_archive(archive)) {
        Ok(s) => {
            for why in &s.skipped {
                eprintln!("capstan: skipped: {}", esc(why));
            }
            if json {
                println!("{}", serde_json::to_string(&s).expect("serialises"));
            } else {
                println!(
                    "registered {}: {} item(s), {} file(s){}{}",
                    capstan::fixity::text_path(&archive.root),
                    s.items,
                    s.files,
                    match s.copies.len() {
                        0 => String::new(),
                        _ => format!(
                            ", and their copies on replica(s) {}",
                            esc(s.copies.join(", "))
                        ),
                    },
                    match s.gone {
                        0 => String::new(),
                        n => format!(", {n} gone from their bags (marked missing)"),
                    }
                );
            }
            ExitStatus::problem_if(!s.skipped.is_empty())
        }
        Err(e) => failed(&e),
    }
}

/// `capstan report --catalogue URL`: the shared catalogue at a glance.
pub(crate) fn overview(url: &str, json: bool) -> ExitStatus {
    match Registry::connect(url).and_then(|mut r| r.overview(capstan::registry::DEFAULT_LEASE)) {
        Ok(o) => {
            if json {
                println!("{}", serde_json::to_string_pretty(&o).expect("serialises"));
            } else {
                println!(
                    "{} archive(s), {} file copies (the archives' and their replicas'): {} never proved, oldest proof {}",
                    o.archives,
                    o.files,
                    o.never_proved,
                    o.oldest_proof.as_deref().unwrap_or("none")
                );
                println!("work: {} due, {} claimed", o.due, o.claimed);
                for w in &o.workers {
                    println!(
                        "worker {}: {} file(s), {} bytes, {:.1} files/min, seen {}",
                        esc(&w.name),
                        w.files,
                        w.bytes,
                        w.files_per_minute,
                        esc(&w.seen)
                    );
                }
                for c in &o.catalogues {
                    println!(
                        "archive catalogue {}: {} item(s), {} file(s), {} event(s)",
                        esc(&c.schema),
                        c.items,
                        c.files,
                        c.events
                    );
                }
                for p in &o.problems {
                    println!(
                        "problem\t{}\t{}\t{}\t{}",
                        esc(&p.archive),
                        esc(&p.item),
                        esc(&p.path),
                        esc(&p.detail)
                    );
                }
            }
            ExitStatus::problem_if(!o.problems.is_empty())
        }
        Err(e) => failed(&e),
    }
}
