//! A fixity worker: claims due checks from the registry, verifies each file where it lives,
//! and records the outcomes; as many run at once, on as many machines, as there are.
//!
//! It renews its lease on its batch while it works (a second connection, every third of the
//! lease), so a slow file never lets another worker take the batch; a worker that dies simply
//! stops renewing. A database that stops answering is waited for (with a growing pause, up to
//! 30 s) and reconnected to; one that refuses the worker (credentials, no such database) ends
//! it with [`RegistryError::Refused`]. Asked to stop (SIGTERM), it finishes the file in hand,
//! records what it finished and leaves the rest of its batch to the lease.

use super::{check, Checked, Claimed, Registry, RegistryError};
use crate::archive::events::Outcome;
use crate::archive::Archive;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How a worker works.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// The lease on a claimed batch.
    pub lease: Duration,
    /// Checks claimed at once.
    pub batch: i64,
    /// Return when no work is due rather than wait for more.
    pub until_idle: bool,
    /// How long to wait between looks when no work is due.
    pub poll: Duration,
    /// Read replicas' copies back in full rather than ask for their stored checksums.
    pub deep: bool,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            lease: super::DEFAULT_LEASE,
            batch: 16,
            until_idle: false,
            poll: Duration::from_secs(10),
            deep: false,
        }
    }
}

/// What a worker did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct WorkerSummary {
    pub name: String,
    /// Checks recorded.
    pub files: u64,
    pub bytes: u64,
    /// Checks recorded that found a problem.
    pub problems: u64,
    /// Checks done but not recorded: the lease had run out and another worker took them.
    pub taken_over: u64,
    /// Times the database was reconnected to.
    pub reconnects: u64,
    /// Claimed checks that could not be done (a replica that did not answer): not recorded,
    /// done again once their lease runs out.
    pub unchecked: u64,
    /// Claims that returned work, and their median and longest time in milliseconds.
    pub claims: u64,
    pub claim_ms_median: f64,
    pub claim_ms_max: f64,
}

/// A name no other worker has: host, process and start time.
fn worker_name() -> String {
    format!(
        "{}:{}:{}",
        super::hostname(),
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis())
    )
}

/// Connects, waiting while the database does not answer; `None` if asked to stop meanwhile.
fn connect_waiting(
    url: &str,
    stop: &AtomicBool,
    tell: &mut dyn FnMut(&str),
) -> Result<Option<Registry>, RegistryError> {
    let mut pause = Duration::from_millis(250);
    loop {
        match Registry::connect(url) {
            Ok(r) => return Ok(Some(r)),
            Err(e) if e.is_unreachable() => {
                tell(&format!(
                    "{e}; trying again in {:.1} s",
                    pause.as_secs_f64()
                ));
                let until = Instant::now() + pause;
                while Instant::now() < until {
                    if stop.load(Ordering::Relaxed) {
                        return Ok(None);
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                pause = (pause * 2).min(Duration::from_secs(30));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Runs a worker against the registry at `url` until asked to stop (or, with `until_idle`,
/// until no work is due). `tell` hears what is worth a line on stderr.
pub fn run(
    url: &str,
    opts: &WorkerOptions,
    stop: &AtomicBool,
    tell: &mut dyn FnMut(&str),
) -> Result<WorkerSummary, RegistryError> {
    let mut summary = WorkerSummary {
        name: worker_name(),
        ..Default::default()
    };
    let name = summary.name.clone();
    let Some(mut reg) = connect_waiting(url, stop, tell)? else {
        return Ok(summary);
    };
    // Events an earlier worker recorded but did not live to write into their archives.
    let flushed = reg.flush_to_archives(opts.lease);
    if let Ok(n @ 1..) = flushed {
        tell(&format!(
            "{n} recorded event(s) a stopped worker left unwritten are now in their archives"
        ));
    }
    macro_rules! retry {
        ($call:expr) => {
            loop {
                match $call {
                    Ok(v) => break v,
                    Err(e) if e.is_unreachable() => {
                        tell(&e.to_string());
                        summary.reconnects += 1;
                        match connect_waiting(url, stop, tell)? {
                            Some(r) => reg = r,
                            None => return finish(None, &name, summary),
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
        };
    }
    retry!(reg.heartbeat(&name, 0, 0));
    let mut claim_ms: Vec<f64> = Vec::new();
    // Events written into their archives' logs, marked logged with the next batch's commit.
    let mut written: Vec<i64> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let asked = Instant::now();
        let claims = retry!(reg.claim(&name, opts.batch, opts.lease));
        if !claims.is_empty() {
            claim_ms.push(asked.elapsed().as_secs_f64() * 1e3);
        }
        if claims.is_empty() {
            if opts.until_idle {
                break;
            }
            let until = Instant::now() + opts.poll;
            while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
            }
            retry!(reg.heartbeat(&name, summary.files as i64, summary.bytes as i64));
            continue;
        }
        let mut checked = Vec::new();
        for c in check_renewing(url, &name, &claims, opts, stop) {
            match c {
                Ok(c) => checked.push(c),
                // Not recorded: its claim lapses with the lease and the check is done again.
                Err(why) => {
                    summary.unchecked += 1;
                    tell(&format!("not checked, to be tried again: {why}"));
                }
            }
        }
        let done = (summary.files as i64, summary.bytes as i64);
        let recorded = retry!(reg.complete(&name, &checked, &written, done));
        // Tests die here: recorded in the catalogue, not yet written into the archive.
        if std::env::var_os("CAPSTAN_TEST_WORKER_DIE_AFTER_RECORD").is_some() {
            std::process::abort();
        }
        summary.taken_over += (checked.len() - recorded.len()) as u64;
        for (_, c) in &recorded {
            summary.files += 1;
            summary.bytes += c.bytes;
            if c.event.outcome != Outcome::Pass {
                summary.problems += 1;
                tell(&format!(
                    "{}: {}/{}: {}",
                    c.archive.display(),
                    c.event.item,
                    c.event.file.as_deref().unwrap_or_default(),
                    c.event.detail
                ));
            }
        }
        written = write_to_archives(&recorded, tell);
    }
    if !written.is_empty() {
        let _ = reg.mark_logged(&written);
    }
    let _ = reg.heartbeat(&name, summary.files as i64, summary.bytes as i64);
    claim_ms.sort_by(f64::total_cmp);
    summary.claims = claim_ms.len() as u64;
    summary.claim_ms_median = claim_ms.get(claim_ms.len() / 2).copied().unwrap_or(0.0);
    summary.claim_ms_max = claim_ms.last().copied().unwrap_or(0.0);
    finish(Some(&mut reg), &name, summary)
}

fn finish(
    reg: Option<&mut Registry>,
    name: &str,
    summary: WorkerSummary,
) -> Result<WorkerSummary, RegistryError> {
    if let Some(reg) = reg {
        let _ = reg.stopped(name);
    }
    Ok(summary)
}

/// Checks each claimed file in turn while a second connection renews the batch's lease;
/// stops after the file in hand when asked to.
fn check_renewing(
    url: &str,
    name: &str,
    claims: &[Claimed],
    opts: &WorkerOptions,
    stop: &AtomicBool,
) -> Vec<Result<Checked, String>> {
    let lease = opts.lease;
    // The renewer sleeps until a third of the lease has passed or the batch is done (the
    // sender dropped), whichever is first: a batch never waits on its renewer.
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let ids: Vec<i64> = claims.iter().map(|c| c.file_id).collect();
    std::thread::scope(|s| {
        s.spawn(move || {
            let mut renewer: Option<Registry> = None;
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(lease / 3)
            {
                if renewer.is_none() {
                    renewer = Registry::connect(url).ok();
                }
                if let Some(r) = renewer.as_mut() {
                    if r.renew(name, &ids, lease).is_err() {
                        renewer = None;
                    }
                }
            }
        });
        let mut out = Vec::new();
        for c in claims {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            test_pause_after_check();
            out.push(check(c, opts.deep));
        }
        drop(done);
        out
    })
}

/// Tests stop a worker in the middle of a batch: with `CAPSTAN_TEST_WORKER_MARK` set, each
/// check first touches that file and then waits `CAPSTAN_TEST_WORKER_PAUSE_MS`.
fn test_pause_after_check() {
    if let Some(mark) = std::env::var_os("CAPSTAN_TEST_WORKER_MARK") {
        let _ = std::fs::write(mark, b"");
        let ms = std::env::var("CAPSTAN_TEST_WORKER_PAUSE_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        std::thread::sleep(Duration::from_millis(ms));
    }
}

/// Appends the recorded events to their archives' logs; returns the sequence numbers of those
/// written, to be marked logged. What cannot be written now stays unlogged, for
/// [`Registry::flush_to_archives`].
fn write_to_archives(recorded: &[(i64, Checked)], tell: &mut dyn FnMut(&str)) -> Vec<i64> {
    let mut written = Vec::new();
    let mut by_archive: std::collections::BTreeMap<&std::path::Path, Vec<&(i64, Checked)>> =
        Default::default();
    for r in recorded {
        by_archive.entry(r.1.archive.as_path()).or_default().push(r);
    }
    for (root, recs) in by_archive {
        let archive = Archive::new(root);
        let events: Vec<_> = recs.iter().map(|(_, c)| c.event.clone()).collect();
        match crate::catalogue::record(&archive, None, &events) {
            Ok(()) | Err(crate::catalogue::RecordError::Catalogue(_)) => {
                written.extend(recs.iter().map(|(s, _)| *s));
            }
            Err(e) => tell(&format!(
                "{}: {e}; the events are kept in the catalogue for the next worker that can write them",
                root.display()
            )),
        }
    }
    written
}
