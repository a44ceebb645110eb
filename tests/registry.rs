//! Fixity across machines (issue 17) on a real PostgreSQL 15 from Debian: started here with
//! `initdb` and `pg_ctl` as the `postgres` user, in a temporary folder, on a free loopback
//! port, and stopped after. Workers are real `capstan worker` processes: three at once over
//! 200 items, one killed with SIGKILL in the middle of its batch, the database restarted under
//! them, a damaged file found by whichever worker claims it.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// One PostgreSQL server in a temporary folder.
struct Pg {
    dir: tempfile::TempDir,
    port: u16,
}

fn as_postgres(args: &[&str]) -> std::process::Output {
    let o = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("runuser runs");
    assert!(o.status.success(), "{args:?}: {}", text(&o));
    o
}

impl Pg {
    fn start() -> Pg {
        assert!(
            Path::new(PG_BIN).join("initdb").is_file(),
            "PostgreSQL 15 is missing: scripts/setup.sh installs Debian's postgresql"
        );
        // The server writes /dev/null as the postgres user.
        let null = std::fs::OpenOptions::new().write(true).open("/dev/null");
        assert!(null.is_ok(), "/dev/null must be writable");
        assert!(
            std::fs::metadata("/dev/null")
                .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o002 != 0)
                .unwrap_or(false),
            "/dev/null must be writable by everyone (the postgres user writes it)"
        );
        let dir = tempfile::Builder::new()
            .prefix("capstan-pg")
            .tempdir()
            .unwrap();
        std::os::unix::fs::PermissionsExt::set_mode(
            &mut std::fs::metadata(dir.path()).unwrap().permissions(),
            0o755,
        );
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let status = Command::new("chown")
            .arg("postgres")
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success());
        // Below the ephemeral range: initdb takes a second or two before the server binds.
        let port = free_ports(1)[0];
        let data = dir.path().join("data");
        as_postgres(&[
            &format!("{PG_BIN}/initdb"),
            "-D",
            data.to_str().unwrap(),
            "-U",
            "capstan",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        ]);
        let pg = Pg { dir, port };
        pg.up();
        let o = Command::new(format!("{PG_BIN}/createdb"))
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "capstan"])
            .arg("capstan_test")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        pg
    }

    fn up(&self) {
        let d = self.dir.path();
        as_postgres(&[
            &format!("{PG_BIN}/pg_ctl"),
            "-D",
            d.join("data").to_str().unwrap(),
            "-l",
            d.join("server.log").to_str().unwrap(),
            "-w",
            "-t",
            "60",
            "-o",
            &format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
                self.port,
                d.display()
            ),
            "start",
        ]);
    }

    fn down(&self, mode: &str) {
        as_postgres(&[
            &format!("{PG_BIN}/pg_ctl"),
            "-D",
            self.dir.path().join("data").to_str().unwrap(),
            "-m",
            mode,
            "-w",
            "-t",
            "20",
            "stop",
        ]);
    }

    fn url(&self) -> String {
        format!("postgres://capstan@127.0.0.1:{}/capstan_test", self.port)
    }

    fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url(), postgres::NoTls).unwrap()
    }

    fn count(&self, sql: &str) -> i64 {
        self.client().query_one(sql, &[]).unwrap().get(0)
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(format!("{PG_BIN}/pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "-t", "20", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// An archive of `n` items: one ingested, the rest copies of its bag under other ids (the
/// registry reads them from their manifests, as it would any bag).
fn archive_of(dir: &Path, n: usize) -> PathBuf {
    let archive = dir.join("archive");
    institution(&archive);
    let wav = dir.join("take.wav");
    write_wav(
        &wav,
        &WavSpec::pcm(2, 48_000, 16),
        &signal(2, 48_000, 16, 0.5),
    );
    let o = run(&mut ingest_command(
        &archive,
        "dat",
        "item-000",
        "tapes",
        &[&wav],
        &["TITLE=t"],
    ));
    assert!(o.status.success(), "{}", text(&o));
    let first = archive.join("tapes/item-000");
    for i in 1..n {
        copy_dir(&first, &archive.join(format!("tapes/item-{i:03}")));
    }
    archive
}

fn cap(pg: &Pg) -> Command {
    let mut c = capstan();
    c.env("CAPSTAN_CATALOGUE", pg.url());
    c
}

/// Registers the archive and queues every file.
fn register_and_schedule(pg: &Pg, archive: &Path) -> i64 {
    let o = run(cap(pg)
        .arg("reindex")
        .arg("--catalogue")
        .arg(pg.url())
        .arg("--archive")
        .arg(archive));
    assert!(o.status.success(), "{}", text(&o));
    let o = run(cap(pg).args(["schedule", "--json"]));
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["never_proved"].as_i64().unwrap()
}

fn worker(pg: &Pg, extra: &[&str]) -> Child {
    cap(pg)
        .args(["worker", "--until-idle"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Fixity-check events of the archive's own files in its events.jsonl, by `item/file`.
fn logged_checks(archive: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_to_string(archive.join(".capstan/events.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event_type"] == "fixity check" && e["file"].is_string())
        .map(|e| {
            format!(
                "{}/{} {}",
                e["item"].as_str().unwrap(),
                e["file"].as_str().unwrap(),
                e["copy"].as_str().unwrap_or("local")
            )
        })
        .collect();
    out.sort();
    out
}

/// Every registered file has exactly one recorded check, in the registry and in the log.
fn assert_each_checked_once(pg: &Pg, archive: &Path, files: i64) {
    assert_eq!(pg.count("SELECT count(*) FROM work"), 0, "work left queued");
    assert_eq!(
        pg.count("SELECT count(*) FROM events WHERE event_type = 'fixity check'"),
        files
    );
    assert_eq!(
        pg.count("SELECT count(*) FROM (SELECT item, file, copy FROM events GROUP BY item, file, copy HAVING count(*) > 1) d"),
        0,
        "a file checked twice"
    );
    assert_eq!(
        pg.count("SELECT count(*) FROM files WHERE last_checked IS NULL"),
        0
    );
    let logged = logged_checks(archive);
    let mut dedup = logged.clone();
    dedup.dedup();
    assert_eq!(logged.len(), files as usize, "events.jsonl");
    assert_eq!(
        dedup.len(),
        logged.len(),
        "a check written twice into events.jsonl"
    );
    assert_eq!(pg.count("SELECT count(*) FROM events WHERE NOT logged"), 0);
}

fn wait_ok(mut c: Child) -> std::process::Output {
    let until = Instant::now() + Duration::from_secs(300);
    while c.try_wait().unwrap().is_none() {
        assert!(Instant::now() < until, "a worker did not finish");
        std::thread::sleep(Duration::from_millis(50));
    }
    c.wait_with_output().unwrap()
}

#[test]
fn three_workers_check_200_items_each_file_once_and_find_the_damaged_one() {
    let pg = Pg::start();
    let tmp = tempfile::tempdir().unwrap();
    let archive = archive_of(tmp.path(), 200);
    // One master damaged before anyone checks it.
    let damaged = archive.join("tapes/item-137/data/item-000_pm.flac");
    let mut bytes = std::fs::read(&damaged).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    std::fs::write(&damaged, bytes).unwrap();

    let files = register_and_schedule(&pg, &archive);
    assert!(files >= 400, "{files} files queued");
    // Scheduling again queues nothing more.
    let o = run(cap(&pg).args(["schedule", "--json"]));
    assert!(text(&o).contains("\"never_proved\":0"), "{}", text(&o));

    let workers: Vec<Child> = (0..3).map(|_| worker(&pg, &["--batch", "8"])).collect();
    let outs: Vec<_> = workers.into_iter().map(wait_ok).collect();
    let mut problems = 0;
    let mut done = Vec::new();
    for o in &outs {
        let code = o.status.code().unwrap();
        assert!(code == 0 || code == 1, "{}", text(o));
        problems += code;
        let t = String::from_utf8_lossy(&o.stdout).to_string();
        let n: u64 = t
            .split(": ")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{t}"));
        done.push(n);
    }
    assert_eq!(problems, 1, "exactly one worker found the damage");
    assert!(
        done.iter().filter(|n| **n > 0).count() >= 2,
        "the work was shared: {done:?}"
    );
    assert_each_checked_once(&pg, &archive, files);
    let fail = pg
        .client()
        .query(
            "SELECT item, file, detail FROM events WHERE outcome = 'fail'",
            &[],
        )
        .unwrap();
    assert_eq!(fail.len(), 1);
    assert_eq!(fail[0].get::<_, String>(0), "tapes/item-137");
    assert_eq!(fail[0].get::<_, String>(1), "data/item-000_pm.flac");
    let detail: String = fail[0].get(2);
    assert!(
        detail.contains("audio damaged") && detail.contains("sample"),
        "{detail}"
    );

    // The shared catalogue at a glance, from any machine.
    let o = run(cap(&pg)
        .args(["report", "--json", "--catalogue"])
        .arg(pg.url()));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["never_proved"], 0);
    assert_eq!(v["due"], 0);
    assert_eq!(v["problems"].as_array().unwrap().len(), 1, "{v}");
    assert!(v["oldest_proof"].is_string(), "{v}");
}

#[test]
fn a_worker_killed_mid_batch_loses_nothing_and_nothing_is_recorded_twice() {
    let pg = Pg::start();
    let tmp = tempfile::tempdir().unwrap();
    let archive = archive_of(tmp.path(), 20);
    let files = register_and_schedule(&pg, &archive);
    let mark = tmp.path().join("checking");
    let victim = cap(&pg)
        .args(["worker", "--until-idle", "--batch", "10", "--lease", "2s"])
        .env("CAPSTAN_TEST_WORKER_MARK", &mark)
        .env("CAPSTAN_TEST_WORKER_PAUSE_MS", "200")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_mark(&mark, "the worker never started checking");
    std::thread::sleep(Duration::from_millis(500));
    let pid = victim.id();
    assert!(Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap()
        .success());
    let mut victim = victim;
    victim.wait().unwrap();
    assert_eq!(
        pg.count("SELECT count(*) FROM work WHERE claimed_by IS NOT NULL AND lease_until > now()"),
        10,
        "its batch is still leased"
    );
    assert_eq!(
        pg.count("SELECT count(*) FROM events"),
        0,
        "it recorded nothing"
    );
    // Another worker, started at once, takes the rest now and the dead one's batch once its
    // lease has run out.
    let o = wait_ok(worker(&pg, &["--lease", "2s"]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let left = pg.count("SELECT count(*) FROM work");
    assert_eq!(left, 10, "only the dead worker's batch waits for its lease");
    std::thread::sleep(Duration::from_millis(2100));
    let o = wait_ok(worker(&pg, &["--lease", "2s"]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_each_checked_once(&pg, &archive, files);
    assert_eq!(pg.count("SELECT count(*) FROM work"), 0);

    // A worker that dies after recording a batch and before writing it into the archive: the
    // next worker to start (once that worker's moment has passed) writes it, once.
    pg.client()
        .batch_execute("UPDATE files SET last_checked = NULL")
        .unwrap();
    let o = run(cap(&pg).args(["schedule"]));
    assert!(o.status.success(), "{}", text(&o));
    let o = run(cap(&pg)
        .args(["worker", "--until-idle", "--batch", "3", "--lease", "1s"])
        .env("CAPSTAN_TEST_WORKER_DIE_AFTER_RECORD", "1"));
    assert!(!o.status.success(), "{}", text(&o));
    assert_eq!(pg.count("SELECT count(*) FROM events WHERE NOT logged"), 3);
    let before = logged_checks(&archive).len();
    std::thread::sleep(Duration::from_millis(1100));
    let o = wait_ok(worker(&pg, &["--lease", "1s"]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("left unwritten"), "{}", text(&o));
    assert_eq!(pg.count("SELECT count(*) FROM events WHERE NOT logged"), 0);
    assert_eq!(logged_checks(&archive).len(), before + files as usize);
}

#[test]
fn workers_ride_out_a_database_restart_and_a_refusal_is_exit_2() {
    let pg = Pg::start();
    let tmp = tempfile::tempdir().unwrap();
    let archive = archive_of(tmp.path(), 30);
    let files = register_and_schedule(&pg, &archive);
    let mark = tmp.path().join("checking");
    let slow = |pg: &Pg| {
        cap(pg)
            .args(["worker", "--until-idle", "--batch", "4"])
            .env("CAPSTAN_TEST_WORKER_MARK", &mark)
            .env("CAPSTAN_TEST_WORKER_PAUSE_MS", "40")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let workers = vec![slow(&pg), slow(&pg)];
    wait_for_mark(&mark, "the workers never started");
    std::thread::sleep(Duration::from_millis(300));
    pg.down("fast");
    std::thread::sleep(Duration::from_secs(2));
    pg.up();
    let outs: Vec<_> = workers.into_iter().map(wait_ok).collect();
    for o in &outs {
        assert_eq!(o.status.code(), Some(0), "{}", text(o));
    }
    assert!(
        outs.iter().any(|o| text(o).contains("unreachable")),
        "the restart was noticed: {}",
        outs.iter().map(text).collect::<String>()
    );
    assert_each_checked_once(&pg, &archive, files);

    // A database that refuses (there is no such database): exit 2 at once, with why.
    let o = run(capstan()
        .args(["worker", "--until-idle", "--catalogue"])
        .arg(format!(
            "postgres://capstan@127.0.0.1:{}/no_such_db",
            pg.port
        )));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("refused"), "{}", text(&o));

    // A worker waiting for work stops cleanly on SIGTERM, and says so in the catalogue.
    let waiting = cap(&pg)
        .arg("worker")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(30);
    while pg.count("SELECT count(*) FROM workers WHERE stopped IS NULL") == 0 {
        assert!(Instant::now() < until, "the worker never said it was alive");
        std::thread::sleep(Duration::from_millis(20));
    }
    let asked = Instant::now();
    assert!(Command::new("kill")
        .args(["-TERM", &waiting.id().to_string()])
        .status()
        .unwrap()
        .success());
    let o = wait_ok(waiting);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "{:?}",
        asked.elapsed()
    );
    assert_eq!(
        pg.count("SELECT count(*) FROM workers WHERE stopped IS NULL"),
        0,
        "it said it stopped"
    );

    // SIGTERM in the middle of a batch: the file in hand is finished and recorded, the rest
    // of the batch handed back at once (not after the lease).
    pg.client()
        .batch_execute("UPDATE files SET last_checked = NULL")
        .unwrap();
    let o = run(cap(&pg).args(["schedule"]));
    assert!(o.status.success(), "{}", text(&o));
    let events = pg.count("SELECT count(*) FROM events");
    let _ = std::fs::remove_file(&mark);
    let busy = cap(&pg)
        .args(["worker", "--batch", "10"])
        .env("CAPSTAN_TEST_WORKER_MARK", &mark)
        .env("CAPSTAN_TEST_WORKER_PAUSE_MS", "300")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_mark(&mark, "the worker never started checking");
    std::thread::sleep(Duration::from_millis(450));
    assert!(Command::new("kill")
        .args(["-TERM", &busy.id().to_string()])
        .status()
        .unwrap()
        .success());
    let o = wait_ok(busy);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let recorded = pg.count("SELECT count(*) FROM events") - events;
    assert!(
        (1..10).contains(&recorded),
        "{recorded} of its batch of 10 recorded"
    );
    assert_eq!(
        pg.count("SELECT count(*) FROM work WHERE claimed_by IS NOT NULL"),
        0,
        "the unfinished part of its batch was handed back"
    );
    assert_eq!(pg.count("SELECT count(*) FROM work"), files - recorded);
}

#[test]
fn a_batch_slower_than_its_lease_keeps_it_while_its_worker_lives() {
    let pg = Pg::start();
    let tmp = tempfile::tempdir().unwrap();
    let archive = archive_of(tmp.path(), 8);
    let files = register_and_schedule(&pg, &archive);
    let mark = tmp.path().join("checking");
    // 16 files at 250 ms each: 4 s of work under a 1 s lease, renewed every third of it.
    let slow = cap(&pg)
        .args([
            "worker",
            "--until-idle",
            "--batch",
            "100",
            "--lease",
            "1s",
            "--json",
        ])
        .env("CAPSTAN_TEST_WORKER_MARK", &mark)
        .env("CAPSTAN_TEST_WORKER_PAUSE_MS", "250")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_mark(&mark, "the worker never started checking");
    std::thread::sleep(Duration::from_millis(1600));
    // Past the first lease: had it not been renewed, this worker would take the batch.
    let o = wait_ok(worker(&pg, &["--lease", "1s", "--json"]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let other: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        other["files"], 0,
        "the live worker's batch was taken: {other}"
    );
    let o = wait_ok(slow);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["files"].as_i64(), Some(files), "{v}");
    assert_eq!(v["taken_over"], 0, "{v}");
    assert_each_checked_once(&pg, &archive, files);
}

#[test]
fn workers_check_a_replicas_copies_by_their_stored_checksums() {
    use common::weed::{Weed, BUCKET, KEY, SECRET};
    let pg = Pg::start();
    let tmp = tempfile::tempdir().unwrap();
    let archive = archive_of(tmp.path(), 3);
    let mut weed = Weed::start(&tmp.path().join("s3"));
    let creds = |c: &mut Command| {
        c.env("AWS_ACCESS_KEY_ID", KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE");
    };
    let mut add = cap(&pg);
    creds(&mut add);
    let o = run(add
        .args(["replica", "add", "offsite"])
        .arg(format!("s3://{BUCKET}/fleet"))
        .args(["--endpoint", &weed.s3(), "--path-style", "--archive"])
        .arg(&archive));
    assert!(o.status.success(), "{}", text(&o));
    let mut rep = cap(&pg);
    creds(&mut rep);
    let o = run(rep.args(["replicate", "--archive"]).arg(&archive));
    assert!(o.status.success(), "{}", text(&o));
    // One master's copy put back out of band with one byte changed 60 % of the way in: no
    // checksum stored with it.
    let key = "fleet/tapes/item-001/data/item-000_pm.flac";
    let mut bytes = std::fs::read(archive.join("tapes/item-001/data/item-000_pm.flac")).unwrap();
    let at = bytes.len() * 6 / 10;
    bytes[at] ^= 0x5a;
    ureq::put(&weed.object(key)).send(&bytes[..]).unwrap();

    let queued = register_and_schedule(&pg, &archive);
    let local = pg.count("SELECT count(*) FROM files WHERE copy = ''");
    assert_eq!(
        pg.count("SELECT count(*) FROM files WHERE copy = 'offsite'"),
        local
    );
    assert_eq!(
        queued, local,
        "the archive's own copies are due; the replica's were proved on arrival (replication)"
    );
    // A second later, at a period of a second, the replica's copies are due too.
    std::thread::sleep(Duration::from_millis(1100));
    let o = run(cap(&pg).args(["schedule", "--period", "1s", "--json"]));
    assert!(
        text(&o).contains(&format!("\"overdue\":{local}")),
        "{}",
        text(&o)
    );
    assert_eq!(pg.count("SELECT count(*) FROM work"), 2 * local);
    let before = weed.sent_bytes();
    let mut w = cap(&pg);
    creds(&mut w);
    let o = run(w.args(["worker", "--until-idle"]));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_each_checked_once(&pg, &archive, 2 * local);
    assert_eq!(
        weed.sent_bytes() - before,
        0.0,
        "no object byte was downloaded"
    );
    let fails = pg
        .client()
        .query(
            "SELECT item, file, copy, detail FROM events WHERE outcome = 'fail'",
            &[],
        )
        .unwrap();
    assert_eq!(fails.len(), 1);
    assert_eq!(fails[0].get::<_, String>(0), "tapes/item-001");
    assert_eq!(
        fails[0].get::<_, Option<String>>(2).as_deref(),
        Some("replica offsite")
    );
    let detail: String = fails[0].get(3);
    assert!(detail.contains("unproven"), "{detail}");

    // A deep worker reads every replica copy back in full, once, and locates the damage.
    pg.client()
        .batch_execute("UPDATE files SET last_checked = NULL WHERE copy = 'offsite'")
        .unwrap();
    let o = run(cap(&pg).args(["schedule", "--copy", "offsite", "--json"]));
    assert!(
        text(&o).contains(&format!("\"never_proved\":{local}")),
        "{}",
        text(&o)
    );
    let replica_bytes = pg.count("SELECT sum(bytes)::bigint FROM files WHERE copy = 'offsite'");
    let (before, events) = (weed.sent_bytes(), pg.count("SELECT count(*) FROM events"));
    let mut w = cap(&pg);
    creds(&mut w);
    let o = run(w.args(["worker", "--until-idle", "--deep"]));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(pg.count("SELECT count(*) FROM events") - events, local);
    assert_eq!(
        weed.sent_bytes() - before,
        replica_bytes as f64,
        "each replica copy read once, whole"
    );
    let deep = pg
        .client()
        .query(
            "SELECT file, outcome, detail FROM events WHERE copy = 'replica offsite'
             AND detail LIKE '%read back in full%' ORDER BY seq DESC LIMIT $1",
            &[&local],
        )
        .unwrap();
    assert_eq!(deep.len() as i64, local);
    let failed: Vec<String> = deep
        .iter()
        .filter(|r| r.get::<_, String>(1) == "fail")
        .map(|r| r.get(2))
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed[0].contains("SHA-256") && failed[0].contains("(sample "),
        "{}",
        failed[0]
    );

    // The replica away: its checks are not recorded (never "missing"), and wait for it; the
    // archive's own are done.
    pg.client()
        .batch_execute("UPDATE files SET last_checked = NULL")
        .unwrap();
    let o = run(cap(&pg).args(["schedule"]));
    assert!(o.status.success(), "{}", text(&o));
    weed.stop();
    let events = pg.count("SELECT count(*) FROM events");
    let mut w = cap(&pg);
    creds(&mut w);
    let o = run(w.args(["worker", "--until-idle", "--lease", "60s"]));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("could not be done"), "{}", text(&o));
    assert_eq!(pg.count("SELECT count(*) FROM events") - events, local);
    assert_eq!(
        pg.count(
            "SELECT count(*) FROM work w JOIN files f ON f.id = w.file_id WHERE f.copy = 'offsite'"
        ),
        local,
        "the replica's checks wait for it"
    );
    // Only the archive's own copies, when asked.
    let o = run(cap(&pg).args(["schedule", "--copy", "local", "--json"]));
    assert!(text(&o).contains("\"never_proved\":0"), "{}", text(&o));
}

/// `capstan report --json` of the archive, without the fields that change with every check.
fn report_json(archive: &Path) -> serde_json::Value {
    let o = run(capstan().args(["report", "--json"]).arg(archive));
    assert!(matches!(o.status.code(), Some(0 | 1)), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// `capstan catalogue ARGS --archive ARCHIVE`.
fn catalogue(archive: &Path, args: &[&str]) -> std::process::Output {
    run(capstan()
        .arg("catalogue")
        .args(args)
        .arg("--archive")
        .arg(archive))
}

fn log_json(archive: &Path) -> serde_json::Value {
    let o = run(capstan().args(["log", "--json", "--archive"]).arg(archive));
    assert!(o.status.success(), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn an_archive_whose_catalogue_is_on_postgres_works_as_on_sqlite_and_moves_back() {
    let pg = Pg::start();
    let tmp = tempfile::tempdir().unwrap();
    let archive = archive_of(tmp.path(), 3);
    let o = run(capstan().arg("reindex").arg("--archive").arg(&archive));
    assert!(o.status.success(), "{}", text(&o));
    let before = (report_json(&archive), log_json(&archive));

    // Moved to PostgreSQL, into a schema of its own.
    let o = catalogue(
        &archive,
        &["copy", "--to", &pg.url(), "--schema", "station_a"],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("copied 3 item(s)"), "{}", text(&o));
    let o = catalogue(&archive, &["show"]);
    assert!(
        text(&o).contains(&format!(
            "127.0.0.1:{}/capstan_test (schema station_a)",
            pg.port
        )),
        "{}",
        text(&o)
    );
    assert_eq!((report_json(&archive), log_json(&archive)), before);
    assert_eq!(pg.count("SELECT count(*) FROM station_a.items"), 3);

    // Ingest records there; the old file is left as it was.
    let old = std::fs::read(archive.join(".capstan/catalogue.sqlite")).unwrap();
    let wav = tmp.path().join("take.wav");
    let o = run(&mut ingest_command(
        &archive,
        "dat",
        "item-new",
        "tapes",
        &[&wav],
        &["TITLE=t"],
    ));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(pg.count("SELECT count(*) FROM station_a.items"), 4);
    assert_eq!(
        std::fs::read(archive.join(".capstan/catalogue.sqlite")).unwrap(),
        old
    );

    // A damaged master: verify records it, report shows it, from the shared catalogue.
    let master = archive.join("tapes/item-001/data/item-000_pm.flac");
    let mut bytes = std::fs::read(&master).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    std::fs::write(&master, bytes).unwrap();
    let o = run(capstan().arg("verify").arg(&archive));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let report = report_json(&archive);
    assert_eq!(report["summary"]["open_problems"], 1, "{report}");
    assert_eq!(
        pg.count("SELECT count(*) FROM station_a.files WHERE last_outcome = 'fail'"),
        1
    );

    // The registry's workers, on the same database, record into it too.
    let o = run(cap(&pg)
        .arg("reindex")
        .arg("--catalogue")
        .arg(pg.url())
        .arg("--archive")
        .arg(&archive));
    assert!(o.status.success(), "{}", text(&o));
    // Everything due (the verify above proved it all just now).
    let o = run(cap(&pg).args(["schedule", "--period", "0", "--json"]));
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let files = ["never_proved", "changed", "overdue"]
        .iter()
        .map(|k| v[k].as_i64().unwrap())
        .sum::<i64>();
    assert_eq!(files, pg.count("SELECT count(*) FROM files"), "{v}");
    let checks = |pg: &Pg| {
        pg.count("SELECT count(*) FROM station_a.events WHERE event_type = 'fixity check' AND file IS NOT NULL")
    };
    let checked = checks(&pg);
    let o = wait_ok(worker(&pg, &[]));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(checks(&pg), checked + files);

    // A reindex rebuilds the schema from the archive alone: the same report and history.
    let on_pg = (report_json(&archive), log_json(&archive));
    let o = run(capstan().arg("reindex").arg("--archive").arg(&archive));
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("(schema station_a)"), "{}", text(&o));
    assert_eq!((report_json(&archive), log_json(&archive)), on_pg);

    // Another archive may not take that schema; it may share the database beside it.
    let other = tmp.path().join("other");
    institution(&other);
    let o = run(&mut ingest_command(
        &other,
        "dat",
        "x",
        "c",
        &[&wav],
        &["TITLE=t"],
    ));
    assert!(o.status.success(), "{}", text(&o));
    let o = catalogue(
        &other,
        &["copy", "--to", &pg.url(), "--schema", "station_a"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("already holds a catalogue"),
        "{}",
        text(&o)
    );
    let o = catalogue(&other, &["copy", "--to", &pg.url()]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(pg.count("SELECT count(*) FROM other.items"), 1);
    assert_eq!(pg.count("SELECT count(*) FROM station_a.items"), 4);
    // Both are seen from any machine with the shared catalogue's report.
    let o = run(capstan().args(["report", "--catalogue", &pg.url()]));
    for want in [
        "archive catalogue other: 1 item(s)",
        "archive catalogue station_a: 4 item(s)",
    ] {
        assert!(text(&o).contains(want), "{want}: {}", text(&o));
    }

    // And back to its own file, unchanged.
    let o = catalogue(&archive, &["copy", "--to", "sqlite"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!((report_json(&archive), log_json(&archive)), on_pg);
    let o = catalogue(&archive, &["show"]);
    assert!(text(&o).contains("catalogue.sqlite"), "{}", text(&o));
}
