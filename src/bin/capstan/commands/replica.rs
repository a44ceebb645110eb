//! `capstan replica add|list` (the archive's copies on S3-compatible storage) and
//! `capstan replicate` (pushing the archive's bags to them, proved by the server on arrival).

use super::esc;
use crate::exit::ExitStatus;
use crate::{ArchiveArg, OutputArgs};
use capstan::archive::settings;
use capstan::archive::Archive;
use capstan::replica::{self, describe, Finding, ReplicaSettings, RunReport};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Adds a replica, after proving it can be reached, written and read back with its
    /// SHA-256 checksum (a small `.capstan-replica` object is left under the prefix).
    Add {
        /// A name for it (letters, digits, '-', '_', '.').
        name: String,
        /// `s3://bucket/prefix`
        url: String,
        /// `https://host[:port]` of the S3 service.
        #[arg(long)]
        endpoint: String,
        #[arg(long, default_value = "us-east-1")]
        region: String,
        /// Bucket in the path rather than the host name (most self-hosted stores).
        #[arg(long)]
        path_style: bool,
        /// Queue every item ingested or captured from now on for this replica, sent as soon as
        /// it can be (`auto = true` in the settings).
        #[arg(long)]
        auto: bool,
        #[command(flatten)]
        archive: ArchiveArg,
    },
    /// Lists the replicas, each with what the catalogue says was last replicated and checked.
    List {
        #[command(flatten)]
        archive: ArchiveArg,
    },
}

pub fn run(args: Args) -> ExitStatus {
    match args.action {
        Action::Add {
            name,
            url,
            endpoint,
            region,
            path_style,
            auto,
            archive,
        } => {
            let archive = match confined(archive.dir()) {
                Ok(a) => a,
                Err(status) => return status,
            };
            let r = ReplicaSettings {
                name,
                url,
                endpoint,
                region,
                path_style,
                auto,
            };
            if let Err(e) = r.check() {
                eprintln!("capstan: {}", esc(e));
                return ExitStatus::Problem;
            }
            let proved = replica::open(&r).and_then(|store| replica::probe(&store, &r.name));
            if let Err(e) = proved {
                eprintln!("capstan: replica {} not added: {}", esc(&r.name), esc(&e));
                return ExitStatus::CouldNotRun;
            }
            match settings::add_replica(&archive, r.clone()) {
                Ok(()) => {
                    println!(
                        "replica {} added: {} at {} (written and read back with its SHA-256)",
                        esc(&r.name),
                        esc(&r.url),
                        esc(&r.endpoint)
                    );
                    ExitStatus::Success
                }
                Err(e) => {
                    eprintln!("capstan: {}", esc(&e));
                    ExitStatus::Problem
                }
            }
        }
        Action::List { archive } => {
            let archive = Archive::new(archive.dir());
            let replicas = match replica::chosen(&archive, None) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("capstan: {}", esc(&e));
                    return ExitStatus::CouldNotRun;
                }
            };
            if replicas.is_empty() {
                println!("no replicas: `capstan replica add NAME s3://bucket/prefix --endpoint URL` adds one");
            }
            let cat = capstan::catalogue::Catalogue::open(&archive).ok();
            for r in &replicas {
                let last = |kind: &str| {
                    cat.as_ref()
                        .and_then(|c| c.last_replica_event(&r.name, kind).ok())
                        .flatten()
                        .map_or("never".to_string(), |(date, outcome)| {
                            format!("{date} ({outcome})")
                        })
                };
                println!(
                    "{}\t{}\t{}\tregion {}{}{}\tlast replication: {}\tlast audit: {}",
                    esc(&r.name),
                    esc(&r.url),
                    esc(&r.endpoint),
                    esc(&r.region),
                    if r.path_style { ", path-style" } else { "" },
                    if r.auto { ", auto" } else { "" },
                    last("replication"),
                    last("fixity check"),
                );
            }
            match replica::queue::queued(&archive) {
                Ok(q) if !q.is_empty() => println!(
                    "{} item(s) queued for the auto replicas, the oldest since {}",
                    q.len(),
                    esc(&q[0].queued)
                ),
                Ok(_) => {}
                Err(e) => eprintln!("capstan: the replication queue cannot be read: {}", esc(&e)),
            }
            ExitStatus::Success
        }
    }
}

/// Sends what the replication queue holds to the `auto` replicas (after an ingest or a capture,
/// a `replicate`, or as the watcher runs), saying on stderr what went and what waits; never
/// fails the command that called it, since the queue keeps what did not go.
pub(crate) fn drain_queue(archive: &Archive) {
    match replica::queue::drain(archive, REPLICATE_JOBS) {
        Ok(d) => {
            for (name, run) in &d.runs {
                let sent = run
                    .files
                    .iter()
                    .filter(|f| f.finding == Finding::Replicated)
                    .count();
                if sent > 0 {
                    eprintln!(
                        "replica {}: {sent} file(s) sent, {} byte(s)",
                        esc(name),
                        run.bytes_sent
                    );
                }
            }
            for (item, why) in &d.left {
                eprintln!(
                    "capstan: {} stays queued for replication (`capstan replicate`, the next ingest or the watcher sends it): {}",
                    esc(item),
                    esc(why)
                );
            }
        }
        Err(e) => eprintln!(
            "capstan: the replication queue was not sent (it is kept): {}",
            esc(&e)
        ),
    }
}

/// The archive at `dir`, refused (said, exit 2) when a link or FIFO stands in its `.capstan`.
pub(crate) fn confined(dir: std::path::PathBuf) -> Result<Archive, ExitStatus> {
    let archive = Archive::new(dir);
    match archive.check_confined() {
        Ok(()) => Ok(archive),
        Err(e) => {
            eprintln!("capstan: {}", esc(&e));
            Err(ExitStatus::CouldNotRun)
        }
    }
}

/// Requests at once when auditing a replica: HEADs are small and a store far away answers
/// each in a round trip, so more than the cores.
pub(crate) const AUDIT_JOBS: usize = 16;

/// Files sent at once by `replicate` and by the queue's drains.
pub(crate) const REPLICATE_JOBS: usize = 4;

/// `capstan replicate`
#[derive(clap::Args)]
pub struct ReplicateArgs {
    /// Only this replica (default: every one the archive names).
    #[arg(long)]
    replica: Option<String>,
    /// Bags sent at once (each bag's files in order, its tag manifest last).
    #[arg(long, default_value_t = REPLICATE_JOBS)]
    jobs: usize,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    archive: ArchiveArg,
}

/// Prints a run's problems and its cost; the exit status it calls for.
pub(crate) fn summarise(name: &str, verb: &str, r: &RunReport, json: bool) -> ExitStatus {
    let count = |f: &dyn Fn(&Finding) -> bool| r.files.iter().filter(|x| f(&x.finding)).count();
    let problems = count(&|f| f.is_problem());
    if json {
        println!(
            "{}",
            serde_json::json!({"replica": name, "files": r.files, "requests": r.requests,
                "bytes_received": r.bytes_received, "bytes_sent": r.bytes_sent,
                "unreachable": r.unreachable})
        );
    } else {
        for f in r.files.iter().filter(|f| f.finding.is_problem()) {
            println!(
                "{}\t{}\t{}",
                esc(name),
                esc(&f.path),
                esc(describe(&f.finding))
            );
        }
        println!(
            "replica {}: {verb}: {} file(s), {} sent, {} already there, {problems} problem(s); {} request(s), {} byte(s) received, {} byte(s) sent",
            esc(name),
            r.files.len(),
            count(&|f| *f == Finding::Replicated),
            count(&|f| *f == Finding::Present),
            r.requests,
            r.bytes_received,
            r.bytes_sent,
        );
    }
    if let Some(why) = &r.unreachable {
        eprintln!(
            "capstan: replica {} is unreachable, nothing more was asked of it: {}",
            esc(name),
            esc(why)
        );
        return ExitStatus::CouldNotRun;
    }
    ExitStatus::problem_if(problems > 0)
}

pub fn replicate(args: ReplicateArgs) -> ExitStatus {
    let archive = match confined(args.archive.dir()) {
        Ok(a) => a,
        Err(status) => return status,
    };
    let replicas = match replica::chosen(&archive, args.replica.as_deref()) {
        Ok(r) if r.is_empty() => {
            eprintln!("capstan: the archive has no replica: `capstan replica add` names one");
            return ExitStatus::Problem;
        }
        Ok(r) => r,
        Err(e) => {
            eprintln!("capstan: {}", esc(&e));
            return ExitStatus::CouldNotRun;
        }
    };
    let (objects, skipped) = match replica::archive_objects(&archive) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("capstan: {}", esc(&e));
            return ExitStatus::CouldNotRun;
        }
    };
    for s in &skipped {
        eprintln!("capstan: not replicated: {}", esc(s));
    }
    let mut status = ExitStatus::problem_if(!skipped.is_empty());
    for r in &replicas {
        let store = match replica::open(r) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("capstan: {}", esc(&e));
                status = status.worst(ExitStatus::CouldNotRun);
                continue;
            }
        };
        let quiet = |_: &replica::FileReport| {};
        match replica::replicate(&archive, &r.name, &store, &objects, args.jobs, &quiet) {
            Ok(report) => {
                status = status.worst(summarise(&r.name, "replicate", &report, args.output.json))
            }
            Err(e) => {
                eprintln!("capstan: replica {}: {}", esc(&r.name), esc(&e));
                status = status.worst(ExitStatus::CouldNotRun);
            }
        }
    }
    // What the run sent to the auto replicas comes off their queue (and anything it could not
    // send is said again, and stays).
    drain_queue(&archive);
    status
}

/// `capstan audit`
#[derive(clap::Args)]
pub struct AuditArgs {
    /// Requests to each replica at once.
    #[arg(long, default_value_t = AUDIT_JOBS)]
    jobs: usize,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    archive: ArchiveArg,
}

pub fn audit(args: AuditArgs) -> ExitStatus {
    let archive = match confined(args.archive.dir()) {
        Ok(a) => a,
        Err(status) => return status,
    };
    let (report, skipped) = match replica::heal::audit_archive(&archive, args.jobs) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("capstan: {}", esc(&e));
            return ExitStatus::CouldNotRun;
        }
    };
    for s in &skipped {
        eprintln!("capstan: not audited: {}", esc(s));
    }
    if args.output.json {
        println!(
            "{}",
            serde_json::to_string(&report).expect("a report serialises")
        );
    } else {
        for d in &report.disagreements {
            println!(
                "{}\tagree with the manifest: {}\tdisagree: {}",
                esc(&d.path),
                if d.agree.is_empty() {
                    "none".to_string()
                } else {
                    esc(d.agree.join(", "))
                },
                esc(d
                    .disagree
                    .iter()
                    .map(|(c, why)| format!("{c} ({why})"))
                    .collect::<Vec<_>>()
                    .join(", "))
            );
        }
        println!(
            "audit: {} file(s) in the archive and {} replica(s): {} disagreement(s)",
            report.files,
            report.replicas.len(),
            report.disagreements.len()
        );
    }
    for (name, why) in &report.unreachable {
        eprintln!(
            "capstan: replica {} is unreachable: {}",
            esc(name),
            esc(why)
        );
    }
    if !report.unreachable.is_empty() {
        return ExitStatus::CouldNotRun;
    }
    ExitStatus::problem_if(!report.disagreements.is_empty() || !skipped.is_empty())
}

/// `capstan repair ITEM --from NAME`
#[derive(clap::Args)]
pub struct RepairArgs {
    /// The item, `collection/id`.
    item: String,
    /// The replica to take good copies from.
    #[arg(long = "from", value_name = "NAME")]
    from: String,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    archive: ArchiveArg,
}

pub fn repair(args: RepairArgs) -> ExitStatus {
    let archive = match confined(args.archive.dir()) {
        Ok(a) => a,
        Err(status) => return status,
    };
    let item = match args.item.parse::<capstan::archive::item_id::ItemId>() {
        Ok(i) => i.to_string(),
        Err(e) => {
            eprintln!("capstan: {}", esc(&e));
            return ExitStatus::Problem;
        }
    };
    let done = replica::chosen(&archive, Some(&args.from)).and_then(|r| {
        let store = replica::open(&r[0])?;
        replica::heal::repair(&archive, &item, &args.from, &store)
    });
    let done = match done {
        Ok(d) => d,
        Err(e) => {
            eprintln!("capstan: {}", esc(&e));
            return ExitStatus::CouldNotRun;
        }
    };
    if args.output.json {
        println!(
            "{}",
            serde_json::to_string(&done).expect("a report serialises")
        );
    } else {
        for r in done.iter().filter(|r| r.outcome != "intact") {
            println!(
                "{}/{}\t{}{}",
                esc(&item),
                esc(&r.file),
                esc(&r.outcome),
                r.quarantined.as_ref().map_or(String::new(), |q| format!(
                    "\tdamaged copy kept in {}",
                    capstan::fixity::text_path(q)
                ))
            );
        }
        let fixed = done.iter().filter(|r| r.outcome == "repaired").count();
        println!(
            "repair of {} from {}: {} file(s), {fixed} repaired, {} could not be",
            esc(&item),
            esc(&args.from),
            done.len(),
            done.iter().filter(|r| !r.ok).count()
        );
    }
    ExitStatus::problem_if(done.iter().any(|r| !r.ok))
}

/// `capstan restore ITEM --from NAME`
#[derive(clap::Args)]
pub struct RestoreArgs {
    /// The item, `collection/id` (it must not be in the archive).
    item: String,
    /// The replica (named in the archive's settings) to bring it back from.
    #[arg(long = "from", value_name = "NAME")]
    from: String,
    #[command(flatten)]
    archive: ArchiveArg,
}

pub fn restore(args: RestoreArgs) -> ExitStatus {
    let archive = Archive::new(args.archive.dir());
    let item = match args.item.parse::<capstan::archive::item_id::ItemId>() {
        Ok(i) => i,
        Err(e) => {
            eprintln!("capstan: {}", esc(&e));
            return ExitStatus::Problem;
        }
    };
    let done = replica::chosen(&archive, Some(&args.from)).and_then(|r| {
        let store = replica::open(&r[0])?;
        replica::heal::restore(&archive, &item.collection, &item.id, &args.from, &store)
    });
    match done {
        Ok((bag, files)) => {
            println!(
                "{} restored from {} into {}: {files} file(s), each proved",
                esc(item.to_string()),
                esc(&args.from),
                capstan::fixity::text_path(&bag)
            );
            ExitStatus::Success
        }
        Err(e @ replica::ReplicaError::S3(_)) => {
            eprintln!("capstan: {}", esc(&e));
            ExitStatus::CouldNotRun
        }
        Err(e) => {
            eprintln!("capstan: {}", esc(&e));
            ExitStatus::Problem
        }
    }
}
