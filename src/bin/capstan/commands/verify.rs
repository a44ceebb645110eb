//! `capstan verify`: archives, bags, folders of FLAC files proved intact, with a progress bar on a
//! terminal and each batch's outcome recorded in its archive.

use super::esc;
use crate::exit::ExitStatus;
use crate::OutputArgs;
use capstan::archive::events::Outcome;
use capstan::archive::Archive;
use capstan::fixity::{
    text_path, verify, BagOutcome, Observer, Options, Problem, ProblemKind, VerifyReport,
};
use std::path::PathBuf;
use std::sync::atomic::Ordering;

#[derive(clap::Args)]
pub struct Args {
    /// Decode every FLAC (frame CRCs and STREAMINFO MD5) in the read that hashes it. With a
    /// replica: every object is read back in full (in ranged reads, 4 at once per object, 8
    /// MiB each) through those same checks.
    #[arg(long)]
    deep: bool,
    /// Files read at once [default: the number of cores; objects HEADed at once in a replica
    /// audit: 16].
    #[arg(long)]
    jobs: Option<usize>,
    #[command(flatten)]
    output: OutputArgs,
    /// Do not record the outcome as fixity-check events in the archive (read-only media).
    #[arg(long)]
    no_record: bool,
    /// Audits replica NAME of the archive (`--archive`) instead: one listing and a HEAD per
    /// object, each stored SHA-256 compared with the bags' manifests; no audio is downloaded
    /// (unless `--deep`).
    #[arg(long, value_name = "NAME", conflicts_with = "paths")]
    replica: Option<String>,
    /// Only shard K of N (1 <= K <= N): the bags whose path in their archive hashes to it, so
    /// N runs (a Slurm job array, a Kubernetes Indexed Job) together verify every bag once.
    #[arg(long, value_name = "K/N", value_parser = capstan::fixity::Shard::parse, conflicts_with = "replica")]
    shard: Option<capstan::fixity::Shard>,
    #[command(flatten)]
    archive: crate::ArchiveArg,
    /// With one `s3://bucket/prefix` path: the S3 service (`https://host[:port]`). The
    /// replica is audited against its own bags' manifests (only they are downloaded, unless
    /// `--deep`). When the archive (`--archive`) names a replica at that URL and endpoint, the
    /// outcome is recorded there as that replica's.
    #[arg(long)]
    endpoint: Option<String>,
    #[arg(long, default_value = "us-east-1", requires = "endpoint")]
    region: String,
    #[arg(long, requires = "endpoint")]
    path_style: bool,
    /// Archives, bags, folders of FLAC files, FLAC files; or one `s3://bucket/prefix` (with
    /// `--endpoint`).
    #[arg(required_unless_present = "replica")]
    paths: Vec<PathBuf>,
}

pub fn run(args: Args) -> ExitStatus {
    if let Some(name) = &args.replica {
        return audit_replica(args.archive.clone().dir(), name, &args);
    }
    if let [url] = &args.paths[..] {
        if let Some(url) = url.to_str().filter(|u| u.starts_with("s3://")) {
            if args.shard.is_some() {
                eprintln!("capstan: --shard splits an archive on disk, not a replica");
                return ExitStatus::Problem;
            }
            return audit_url(url, &args);
        }
    }
    if args.endpoint.is_some() {
        eprintln!("capstan: --endpoint goes with one s3://bucket/prefix to verify");
        return ExitStatus::Problem;
    }
    verify_command(
        &args.paths,
        Options {
            deep: args.deep,
            jobs: args
                .jobs
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
            shard: args.shard,
        },
        args.output.json,
        !args.no_record,
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

pub(crate) fn verify_command(
    paths: &[PathBuf],
    options: Options,
    json: bool,
    record: bool,
) -> ExitStatus {
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
    let report = verify(paths, options, &progress);
    progress.bar.finish_and_clear();
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            eprintln!("capstan: {}", esc(&e));
            return ExitStatus::CouldNotRun;
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
    ExitStatus::problem_if(!report.passed())
}

pub(crate) fn print_verify_report(report: &VerifyReport) {
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
    let failed = report
        .bags
        .iter()
        .filter(|b| b.outcome == Outcome::Fail)
        .count();
    if !report.problems.is_empty() {
        println!();
    }
    println!(
        "verify{}{}: {}",
        if report.deep { " --deep" } else { "" },
        report
            .shard
            .as_ref()
            .map_or(String::new(), |s| format!(" --shard {s}")),
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

/// Objects at once in a replica audit: HEADs are light, a deep read is not (each object
/// holds [`capstan::replica::deep::WINDOW`] ranges in flight).
fn audit_jobs(args: &Args) -> usize {
    args.jobs.unwrap_or_else(|| match args.deep {
        true => std::thread::available_parallelism().map_or(2, |n| n.get()),
        false => super::replica::AUDIT_JOBS,
    })
}

fn verb(args: &Args) -> &'static str {
    if args.deep {
        "deep audit"
    } else {
        "audit"
    }
}

/// `capstan verify --replica NAME`: the replica audited against the archive's manifests.
fn audit_replica(dir: PathBuf, name: &str, args: &Args) -> ExitStatus {
    let (json, record, jobs) = (args.output.json, !args.no_record, audit_jobs(args));
    let archive = match super::replica::confined(dir) {
        Ok(a) => a,
        Err(status) => return status,
    };
    let audited = capstan::replica::chosen(&archive, Some(name)).and_then(|r| {
        let store = capstan::replica::open(&r[0])?;
        let (objects, skipped) = capstan::replica::archive_objects(&archive)?;
        for s in &skipped {
            eprintln!(
                "capstan: not audited (the archive cannot say what it should be): {}",
                esc(s)
            );
        }
        let report = capstan::replica::audit(
            record.then_some(&archive),
            name,
            &store,
            &objects,
            jobs,
            args.deep,
        )?;
        Ok((report, skipped.is_empty()))
    });
    match audited {
        Ok((report, complete)) => super::replica::summarise(name, verb(args), &report, json)
            .worst(ExitStatus::problem_if(!complete)),
        Err(e) => {
            eprintln!("capstan: {}", esc(&e));
            ExitStatus::CouldNotRun
        }
    }
}

/// `capstan verify s3://bucket/prefix --endpoint URL`: a replica audited against its own
/// bags' manifests, without an archive.
fn audit_url(url: &str, args: &Args) -> ExitStatus {
    let Some(endpoint) = &args.endpoint else {
        eprintln!("capstan: {} needs --endpoint https://host[:port]", esc(url));
        return ExitStatus::Problem;
    };
    let r = capstan::replica::ReplicaSettings {
        name: "replica".into(),
        url: url.to_string(),
        endpoint: endpoint.clone(),
        region: args.region.clone(),
        path_style: args.path_style,
        auto: false,
    };
    if let Err(e) = r.check() {
        eprintln!("capstan: {}", esc(e));
        return ExitStatus::Problem;
    }
    let audited = capstan::replica::open(&r).and_then(|store| {
        let (objects, skipped) = match capstan::replica::replica_objects(&store) {
            Ok(o) => o,
            Err(capstan::replica::ReplicaError::S3(e)) => {
                let mut report = capstan::replica::RunReport {
                    unreachable: Some(e.to_string()),
                    ..Default::default()
                };
                report.requests = store.requests.load(Ordering::Relaxed);
                return Ok((report, true));
            }
            Err(e) => return Err(e),
        };
        for s in &skipped {
            eprintln!("capstan: {}", esc(s));
        }
        // Recorded where the archive knows this replica (and the user did not say not to).
        let archive = Archive::new(args.archive.clone().dir());
        let known = capstan::replica::chosen(&archive, None)
            .ok()
            .and_then(|all| {
                all.into_iter().find(|k| {
                    k.url.trim_end_matches('/') == r.url.trim_end_matches('/')
                        && k.endpoint.trim_end_matches('/') == r.endpoint.trim_end_matches('/')
                })
            })
            .filter(|_| !args.no_record);
        let (record, name) = match &known {
            Some(k) => (Some(&archive), k.name.as_str()),
            None => (None, url),
        };
        let report =
            capstan::replica::audit(record, name, &store, &objects, audit_jobs(args), args.deep)?;
        if known.is_none() && !args.no_record && archive.root.is_dir() {
            eprintln!(
                "capstan: not recorded: the archive ({}) names no replica at {} {}",
                text_path(&archive.root),
                esc(url),
                esc(endpoint)
            );
        }
        Ok((report, skipped.is_empty()))
    });
    match audited {
        Ok((report, complete)) => {
            super::replica::summarise(url, verb(args), &report, args.output.json)
                .worst(ExitStatus::problem_if(!complete))
        }
        Err(e) => {
            eprintln!("capstan: {}", esc(&e));
            ExitStatus::CouldNotRun
        }
    }
}
