//! The shared fixity registry on PostgreSQL: every file of one or more archives with its last
//! proof, and a queue of due checks that workers on any machine claim, verify and record.
//!
//! An archive's files are registered from its bags (`capstan reindex --catalogue
//! postgres://…`), once per copy: the archive's own and each replica's its settings name. It
//! is an index, rebuilt from the archive at will. [`Registry::schedule`] queues the
//! files due by the policy; [`Registry::claim`] hands a worker a batch under a lease with
//! `SELECT … FOR UPDATE SKIP LOCKED`; [`Registry::complete`] records the outcomes.
//!
//! # Promises
//!
//! - **No file is checked by two workers at once.** A claim takes rows no live lease holds,
//!   skipping rows another transaction is claiming; a lease is renewed while its worker works
//!   ([`Registry::renew`]).
//! - **A dead worker loses nothing.** Its rows stay queued; when its lease runs out another
//!   worker claims them.
//! - **A check is recorded exactly once.** [`Registry::complete`] records a file's outcome
//!   only if it removes that worker's own claim on it, in the same transaction as the event
//!   and the file's new last proof. A worker whose lease ran out and was taken over records
//!   nothing for that file.
//! - **The archive stays the record.** Each recorded event is also appended to its archive's
//!   `events.jsonl` (and local catalogue) after the commit, and marked as logged with the
//!   worker's next commit; events a crash left unlogged are appended, once their worker's
//!   moment has passed (a lease), by the next worker that starts and can reach the archive
//!   ([`Registry::flush_to_archives`]), never twice.
//! - A file is found at its archive's root as registered: every worker mounts the archive at
//!   that same path.
//! - The database's own transactions and row locks are the only coordination: no protocol of
//!   Capstan's own.

mod schema;
pub mod worker;

use crate::archive::events::{Event, EventType, Outcome};
use crate::archive::Archive;
use postgres::{Client, NoTls};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The lease a claim holds unless renewed (documented in the README).
pub const DEFAULT_LEASE: Duration = Duration::from_secs(120);

/// Why the registry could not be used.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The database answered and said no (authentication, no such database, no permission):
    /// trying again will not help.
    #[error("catalogue {url}: refused: {detail}")]
    Refused { url: String, detail: String },
    /// The database could not be reached or dropped the connection: try again later.
    #[error("catalogue {url}: unreachable: {detail}")]
    Unreachable { url: String, detail: String },
    /// Anything else the database reported.
    #[error("catalogue {url}: {detail}")]
    Database { url: String, detail: String },
    #[error("catalogue {url}: its schema is version {found}, newer than this capstan's {expected}: use a newer capstan")]
    NewerSchema {
        url: String,
        found: i32,
        expected: i32,
    },
    #[error("{path}: {detail}")]
    Archive { path: PathBuf, detail: String },
}

impl RegistryError {
    /// Whether waiting and reconnecting may help.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, RegistryError::Unreachable { .. })
    }
}

/// A connection to the registry.
pub struct Registry {
    client: Client,
    url: String,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("url", &self.url).finish()
    }
}

/// The URL without its password, for messages.
pub(crate) fn shown(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let user = &url[s + 3..at];
            let user = user.split(':').next().unwrap_or_default();
            format!("{}{user}@{}", &url[..s + 3], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

fn classify(url: &str, e: postgres::Error) -> RegistryError {
    let url = shown(url);
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        let detail = db.message().to_string();
        // 28: invalid authorisation; 3D000: no such database; 42501: insufficient privilege.
        if code.starts_with("28") || code == "3D000" || code == "42501" {
            return RegistryError::Refused { url, detail };
        }
        // 57P: the server is shutting down or restarting; 08: connection exceptions.
        if code.starts_with("57P") || code.starts_with("08") {
            return RegistryError::Unreachable { url, detail };
        }
        return RegistryError::Database { url, detail };
    }
    // No answer from the server: a refused or dropped connection, a closed client.
    RegistryError::Unreachable {
        url,
        detail: e.to_string(),
    }
}

/// Payload files to register, a column each (for one `unnest` statement).
#[derive(Default)]
struct FileColumns {
    copy: Vec<String>,
    item: Vec<String>,
    bag_path: Vec<String>,
    path: Vec<String>,
    bytes: Vec<Option<i64>>,
    sha256: Vec<String>,
    audio_md5: Vec<Option<String>>,
    status: Vec<String>,
}

impl FileColumns {
    fn push(
        &mut self,
        copy: &str,
        r: &crate::catalogue::ItemRecord,
        f: &crate::catalogue::FileRecord,
    ) {
        self.copy.push(copy.to_string());
        self.item.push(format!("{}/{}", r.collection, r.id));
        self.bag_path.push(r.bag_path.clone());
        self.path.push(f.path.clone());
        self.bytes.push(f.bytes.map(|b| b as i64));
        self.sha256.push(f.sha256.clone());
        self.audio_md5.push(f.audio_md5.clone());
        self.status.push(f.status.as_str().to_string());
    }

    /// Inserts or updates the rows held, and notes them as seen; empties itself.
    fn upsert(
        &mut self,
        tx: &mut postgres::Transaction<'_>,
        archive_id: i64,
    ) -> Result<(), postgres::Error> {
        if self.copy.is_empty() {
            return Ok(());
        }
        tx.execute(
            "INSERT INTO files (archive_id, copy, item, bag_path, path, bytes, sha256, audio_md5, status, changed)
             SELECT $1::int8, u.*, '-infinity'::timestamptz
             FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::text[], $8::text[], $9::text[]) AS u
             ON CONFLICT (archive_id, copy, bag_path, path) DO UPDATE SET
               item = EXCLUDED.item, bytes = EXCLUDED.bytes, audio_md5 = EXCLUDED.audio_md5,
               status = EXCLUDED.status,
               -- Other bytes under the same name: a changed file, to be proved soon.
               changed = CASE WHEN files.sha256 = EXCLUDED.sha256 THEN files.changed ELSE now() END,
               sha256 = EXCLUDED.sha256",
            &[
                &archive_id,
                &self.copy,
                &self.item,
                &self.bag_path,
                &self.path,
                &self.bytes,
                &self.sha256,
                &self.audio_md5,
                &self.status,
            ],
        )?;
        tx.execute(
            "INSERT INTO seen SELECT * FROM unnest($1::text[], $2::text[], $3::text[])",
            &[&self.copy, &self.bag_path, &self.path],
        )?;
        *self = FileColumns::default();
        Ok(())
    }
}

/// One claimed check.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub file_id: i64,
    /// The copy: `""` for the archive's own file, else the replica's name.
    pub copy: String,
    /// The archive's root, as registered.
    pub archive: PathBuf,
    /// `collection/id`
    pub item: String,
    /// The bag, relative to the archive root.
    pub bag_path: String,
    /// Relative to the bag.
    pub path: String,
    pub sha256: String,
    pub audio_md5: Option<String>,
    pub bytes: Option<i64>,
}

/// A check done: the file and its event.
#[derive(Debug, Clone)]
pub struct Checked {
    pub file_id: i64,
    pub archive: PathBuf,
    pub event: Event,
    pub bytes: u64,
}

/// What [`Registry::schedule`] queues.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Every file proved at least once per this period.
    pub period: Duration,
    /// Only these copies (`""` the archive's own, else a replica's name); all when `None`.
    pub copies: Option<Vec<String>>,
    /// At most this many files queued per run (a rate cap: a day's work).
    pub limit: Option<u64>,
}

/// What scheduling queued, by priority.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Scheduled {
    pub never_proved: u64,
    pub changed: u64,
    pub overdue: u64,
}

/// What registering an archive did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Registered {
    pub archive_id: i64,
    pub items: u64,
    /// Payload files (each registered once for the archive and once per replica).
    pub files: u64,
    /// The replicas whose copies were registered too.
    pub copies: Vec<String>,
    /// Files the registry knew that are no longer in their bag's manifest (marked missing).
    pub gone: u64,
    /// Bags that could not be read, with why.
    pub skipped: Vec<String>,
}

/// The registry at a glance (`capstan report --catalogue`, the station's archive view).
#[derive(Debug, Default, Clone, serde::Serialize, ts_rs::TS)]
#[ts(rename = "SharedCatalogue")]
pub struct Overview {
    /// The catalogue's URL, without its password.
    pub url: String,
    pub archives: u64,
    /// Copies of files registered (each file once for its archive, once per replica).
    pub files: u64,
    pub never_proved: u64,
    pub oldest_proof: Option<String>,
    pub due: u64,
    pub claimed: u64,
    /// Workers seen in the last lease period: name, last seen, files and bytes done, and
    /// files a minute over their life.
    pub workers: Vec<WorkerState>,
    /// Files whose last check failed, or which are not present.
    pub problems: Vec<SharedProblem>,
    /// The archives whose own catalogue lives in this database (`capstan catalogue copy`),
    /// each in its schema.
    pub catalogues: Vec<ArchiveCatalogue>,
}

/// An archive's own catalogue kept in the shared database.
#[derive(Debug, Default, Clone, serde::Serialize, ts_rs::TS)]
pub struct ArchiveCatalogue {
    pub schema: String,
    pub items: i64,
    pub files: i64,
    pub events: i64,
}

/// An open problem in the shared catalogue.
#[derive(Debug, Default, Clone, serde::Serialize, ts_rs::TS)]
pub struct SharedProblem {
    /// The archive's root.
    pub archive: String,
    /// `collection/id`
    pub item: String,
    /// Relative to the bag.
    pub path: String,
    /// What the last check found (`replica NAME: …` for a replica's copy).
    pub detail: String,
}

#[derive(Debug, Default, Clone, serde::Serialize, ts_rs::TS)]
pub struct WorkerState {
    pub name: String,
    pub seen: String,
    pub files: i64,
    pub bytes: i64,
    pub files_per_minute: f64,
}

const UTC_TEXT: &str = r#"'YYYY-MM-DD"T"HH24:MI:SS"Z"'"#;

impl Registry {
    /// Connects and brings the schema up to date.
    pub fn connect(url: &str) -> Result<Registry, RegistryError> {
        let mut config: postgres::Config =
            url.parse()
                .map_err(|e: postgres::Error| RegistryError::Refused {
                    url: shown(url),
                    detail: format!("not a PostgreSQL URL: {e}"),
                })?;
        config.connect_timeout(Duration::from_secs(10));
        config.application_name("capstan");
        let client = config.connect(NoTls).map_err(|e| classify(url, e))?;
        let mut r = Registry {
            client,
            url: url.to_string(),
        };
        schema::migrate(&mut r.client).map_err(|e| match e {
            schema::MigrateError::Db(e) => classify(url, e),
            schema::MigrateError::Newer(found) => RegistryError::NewerSchema {
                url: shown(url),
                found,
                expected: schema::VERSION,
            },
        })?;
        Ok(r)
    }

    fn err(&self, e: postgres::Error) -> RegistryError {
        classify(&self.url, e)
    }

    /// The URL, without its password.
    pub fn url(&self) -> String {
        shown(&self.url)
    }

    /// Registers (or brings up to date) the archive at `archive` and every payload file of its
    /// bags, from their manifests and QC reports; files it knew that are gone from their
    /// manifests are marked missing. Returns what it did.
    pub fn register_archive(&mut self, archive: &Archive) -> Result<Registered, RegistryError> {
        let root = archive
            .root
            .canonicalize()
            .map_err(|e| RegistryError::Archive {
                path: archive.root.clone(),
                detail: e.to_string(),
            })?;
        let root_text = root.to_string_lossy().into_owned();
        let bags = crate::archive::bag::find_bags(&root).map_err(|e| RegistryError::Archive {
            path: root.clone(),
            detail: e.to_string(),
        })?;
        let mut out = Registered::default();
        let mut summary = crate::catalogue::ReindexSummary::default();
        let mut records = Vec::new();
        for bag in bags {
            let Ok(rel) = bag.strip_prefix(&root) else {
                continue;
            };
            match crate::catalogue::item_from_bag(&bag, rel, &mut summary) {
                Ok(r) => records.push(r),
                Err(why) => out.skipped.push(format!("{}: {why}", bag.display())),
            }
        }
        let url = self.url.clone();
        let mut tx = self.client.transaction().map_err(|e| classify(&url, e))?;
        let id: i64 = tx
            .query_one(
                "INSERT INTO archives (root) VALUES ($1)
                 ON CONFLICT (root) DO UPDATE SET root = EXCLUDED.root RETURNING id",
                &[&root_text],
            )
            .map_err(|e| classify(&url, e))?
            .get(0);
        out.archive_id = id;
        tx.execute(
            "CREATE TEMP TABLE seen (copy TEXT, bag_path TEXT, path TEXT) ON COMMIT DROP",
            &[],
        )
        .map_err(|e| classify(&url, e))?;
        // The archive's own copy of each file (''), and each replica's.
        out.copies = crate::archive::settings::read(archive)
            .map_err(|e| RegistryError::Archive {
                path: archive.root.clone(),
                detail: e.to_string(),
            })?
            .replicas
            .into_iter()
            .map(|r| r.name)
            .collect();
        let copies: Vec<String> = std::iter::once(String::new())
            .chain(out.copies.iter().cloned())
            .collect();
        // Rows go in batches (one statement each), so a large archive registers at the speed
        // of the database rather than of round trips.
        let mut rows = FileColumns::default();
        for r in &records {
            out.items += 1;
            out.files += r.files.len() as u64;
            for f in &r.files {
                for copy in &copies {
                    rows.push(copy, r, f);
                }
                if rows.copy.len() >= 10_000 {
                    rows.upsert(&mut tx, id).map_err(|e| classify(&url, e))?;
                }
            }
        }
        rows.upsert(&mut tx, id).map_err(|e| classify(&url, e))?;
        // Each copy's last proof, from the archive's own log (the registry is rebuilt from it):
        // its latest fixity check, or for a replica's copy its latest replication if newer.
        let mut last: std::collections::HashMap<(String, String, String), Event> =
            Default::default();
        if let Ok(bytes) = std::fs::read(archive.meta_dir().join("events.jsonl")) {
            for e in bytes
                .split(|&b| b == b'\n')
                .filter_map(|l| crate::archive::events::parse_line(l).ok())
                // A replication proves the replica's copy too: the store checked it on arrival.
                .filter(|e| {
                    e.event_type == EventType::FixityCheck
                        || (e.event_type == EventType::Replication && e.copy.is_some())
                })
            {
                let copy = match &e.copy {
                    None => String::new(),
                    Some(c) => match c.strip_prefix("replica ") {
                        Some(name) => name.to_string(),
                        None => continue,
                    },
                };
                if let Some(file) = e.file.clone() {
                    let key = (copy, e.item.clone(), file);
                    if last.get(&key).is_none_or(|l| l.date_time <= e.date_time) {
                        last.insert(key, e);
                    }
                }
            }
        }
        let mut cols: [Vec<String>; 6] = Default::default();
        for ((copy, item, file), e) in last {
            for (c, v) in cols.iter_mut().zip([
                copy,
                item,
                file,
                e.date_time,
                e.outcome.to_string(),
                e.detail,
            ]) {
                c.push(v);
            }
        }
        tx.execute(
            "UPDATE files f SET last_checked = u.t::timestamptz, last_outcome = u.o, last_detail = u.d
             FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
               AS u(copy, item, path, t, o, d)
             WHERE f.archive_id = $1 AND f.copy = u.copy AND f.item = u.item AND f.path = u.path
               AND (f.last_checked IS NULL OR f.last_checked < u.t::timestamptz)",
            &[&id, &cols[0], &cols[1], &cols[2], &cols[3], &cols[4], &cols[5]],
        )
        .map_err(|e| classify(&url, e))?;
        out.gone = tx
            .execute(
                "UPDATE files SET status = 'missing' WHERE archive_id = $1 AND status <> 'missing'
                 AND NOT EXISTS (SELECT 1 FROM seen s WHERE s.copy = files.copy
                   AND s.bag_path = files.bag_path AND s.path = files.path)",
                &[&id],
            )
            .map_err(|e| classify(&url, e))?;
        tx.commit().map_err(|e| classify(&url, e))?;
        Ok(out)
    }

    /// Queues the files due by `policy`: never proved first, then those changed since their
    /// last proof, then those whose last proof is older than the period, oldest first; at most
    /// `policy.limit`. Files already queued stay as they are.
    pub fn schedule(&mut self, policy: &Policy) -> Result<Scheduled, RegistryError> {
        let limit = policy.limit.map_or(i64::MAX, |l| l as i64);
        let period = policy.period.as_secs_f64();
        let rows = self
            .client
            .query(
                "WITH due AS (
                   SELECT f.id,
                     CASE WHEN f.last_checked IS NULL THEN 2
                          WHEN f.changed > f.last_checked THEN 1 ELSE 0 END AS priority,
                     f.last_checked
                   FROM files f
                   WHERE f.status = 'present'
                     AND ($3::text[] IS NULL OR f.copy = ANY($3))
                     AND (f.last_checked IS NULL OR f.changed > f.last_checked
                          OR f.last_checked < now() - make_interval(secs => $1))
                     AND NOT EXISTS (SELECT 1 FROM work w WHERE w.file_id = f.id)
                   ORDER BY priority DESC, f.last_checked NULLS FIRST, f.id
                   LIMIT $2)
                 INSERT INTO work (file_id, priority)
                 SELECT id, priority FROM due
                 ON CONFLICT (file_id) DO NOTHING
                 RETURNING priority",
                &[&period, &limit, &policy.copies],
            )
            .map_err(|e| self.err(e))?;
        let mut out = Scheduled::default();
        for r in rows {
            match r.get::<_, i32>(0) {
                2 => out.never_proved += 1,
                1 => out.changed += 1,
                _ => out.overdue += 1,
            }
        }
        Ok(out)
    }

    /// Says the worker `name` is alive (and when it started, the first time).
    pub fn heartbeat(&mut self, name: &str, files: i64, bytes: i64) -> Result<(), RegistryError> {
        self.client
            .execute(
                "INSERT INTO workers (name, host, pid, started, seen, files, bytes)
                 VALUES ($1, $2, $3, now(), now(), $4, $5)
                 ON CONFLICT (name) DO UPDATE SET seen = now(), files = $4, bytes = $5, stopped = NULL",
                &[
                    &name,
                    &hostname(),
                    &(std::process::id() as i32),
                    &files,
                    &bytes,
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Says the worker `name` stopped cleanly.
    /// Says the worker `name` stopped cleanly, and hands back the claims it did not finish
    /// (queued again at once, rather than after their lease).
    pub fn stopped(&mut self, name: &str) -> Result<(), RegistryError> {
        let url = self.url.clone();
        let mut tx = self.client.transaction().map_err(|e| classify(&url, e))?;
        tx.execute(
            "UPDATE work SET claimed_by = NULL, lease_until = NULL WHERE claimed_by = $1",
            &[&name],
        )
        .map_err(|e| classify(&url, e))?;
        tx.execute(
            "UPDATE workers SET stopped = now() WHERE name = $1",
            &[&name],
        )
        .map_err(|e| classify(&url, e))?;
        tx.commit().map_err(|e| classify(&url, e))
    }

    /// Claims up to `n` queued checks no live lease holds, for `worker`, under a lease of
    /// `lease`.
    pub fn claim(
        &mut self,
        worker: &str,
        n: i64,
        lease: Duration,
    ) -> Result<Vec<Claimed>, RegistryError> {
        let rows = self
            .client
            .query(
                "WITH c AS (
                   SELECT file_id FROM work
                   WHERE claimed_by IS NULL OR lease_until < now()
                   ORDER BY priority DESC, queued, file_id
                   LIMIT $3
                   FOR UPDATE SKIP LOCKED)
                 UPDATE work w SET claimed_by = $1, lease_until = now() + make_interval(secs => $2),
                   attempts = w.attempts + 1
                 FROM c, files f, archives a
                 WHERE w.file_id = c.file_id AND f.id = w.file_id AND a.id = f.archive_id
                 RETURNING w.file_id, a.root, f.item, f.bag_path, f.path, f.sha256, f.audio_md5, f.bytes, f.copy",
                &[&worker, &lease.as_secs_f64(), &n],
            )
            .map_err(|e| self.err(e))?;
        Ok(rows
            .into_iter()
            .map(|r| Claimed {
                file_id: r.get(0),
                archive: PathBuf::from(r.get::<_, String>(1)),
                item: r.get(2),
                bag_path: r.get(3),
                path: r.get(4),
                sha256: r.get(5),
                audio_md5: r.get(6),
                bytes: r.get(7),
                copy: r.get(8),
            })
            .collect())
    }

    /// Extends `worker`'s lease on `ids` by `lease` from now; how many it still holds.
    pub fn renew(
        &mut self,
        worker: &str,
        ids: &[i64],
        lease: Duration,
    ) -> Result<u64, RegistryError> {
        self.client
            .execute(
                "UPDATE work SET lease_until = now() + make_interval(secs => $3)
                 WHERE claimed_by = $1 AND file_id = ANY($2)",
                &[&worker, &ids, &lease.as_secs_f64()],
            )
            .map_err(|e| self.err(e))
    }

    /// Records the checks `worker` did, in one transaction: for each file whose claim it still
    /// holds, the claim released, the event stored (unlogged) and the file's last proof set.
    /// The same transaction marks `written` (events of an earlier batch now in their archive's
    /// log) as logged and says the worker is alive with `files` and `bytes` done, so a batch
    /// costs one commit. Returns the checks recorded with the events' sequence numbers (others
    /// were taken over after the lease ran out, and are another worker's to record).
    pub fn complete(
        &mut self,
        worker: &str,
        checked: &[Checked],
        written: &[i64],
        (files, bytes): (i64, i64),
    ) -> Result<Vec<(i64, Checked)>, RegistryError> {
        let url = self.url.clone();
        let mut tx = self.client.transaction().map_err(|e| classify(&url, e))?;
        if !written.is_empty() {
            tx.execute(
                "UPDATE events SET logged = true WHERE seq = ANY($1)",
                &[&written],
            )
            .map_err(|e| classify(&url, e))?;
        }
        tx.execute(
            "UPDATE workers SET seen = now(), files = $2, bytes = $3 WHERE name = $1",
            &[&worker, &files, &bytes],
        )
        .map_err(|e| classify(&url, e))?;
        let ids: Vec<i64> = checked.iter().map(|c| c.file_id).collect();
        let held: std::collections::HashSet<i64> = tx
            .query(
                "DELETE FROM work WHERE claimed_by = $1 AND file_id = ANY($2) RETURNING file_id",
                &[&worker, &ids],
            )
            .map_err(|e| classify(&url, e))?
            .into_iter()
            .map(|r| r.get(0))
            .collect();
        let mut out = Vec::new();
        for c in checked.iter().filter(|c| held.contains(&c.file_id)) {
            let e = &c.event;
            let seq: i64 = tx
                .query_one(
                    "INSERT INTO events (archive_id, date_time, event_type, item, file, outcome, detail, agent, copy)
                     SELECT archive_id, $2, $3, $4, $5, $6, $7, $8, $9 FROM files WHERE id = $1
                     RETURNING seq",
                    &[
                        &c.file_id,
                        &e.date_time,
                        &e.event_type.to_string(),
                        &e.item,
                        &e.file,
                        &e.outcome.to_string(),
                        &e.detail,
                        &e.agent,
                        &e.copy,
                    ],
                )
                .map_err(|e| classify(&url, e))?
                .get(0);
            tx.execute(
                "UPDATE files SET last_checked = $2::text::timestamptz, last_outcome = $3,
                   last_detail = $4 WHERE id = $1",
                &[&c.file_id, &e.date_time, &e.outcome.to_string(), &e.detail],
            )
            .map_err(|e| classify(&url, e))?;
            out.push((seq, c.clone()));
        }
        tx.commit().map_err(|e| classify(&url, e))?;
        Ok(out)
    }

    /// Appends the registry's unlogged events recorded more than `grace` ago (a live worker
    /// writes its own within moments of recording them) to their archives' `events.jsonl` (and
    /// local catalogue), skipping any the log already holds, then marks them logged. Archives
    /// this machine cannot reach are left for one that can. Returns how many were appended.
    pub fn flush_to_archives(&mut self, grace: Duration) -> Result<usize, RegistryError> {
        let rows = self
            .client
            .query(
                "SELECT e.seq, a.root, e.date_time, e.event_type, e.item, e.file, e.outcome,
                   e.detail, e.agent, e.copy
                 FROM events e JOIN archives a ON a.id = e.archive_id
                 WHERE NOT e.logged AND e.recorded < now() - make_interval(secs => $1)
                 ORDER BY e.seq LIMIT 10000",
                &[&grace.as_secs_f64()],
            )
            .map_err(|e| self.err(e))?;
        let mut by_archive: std::collections::BTreeMap<String, Vec<(i64, Event)>> =
            Default::default();
        for r in rows {
            let event = Event {
                date_time: r.get(2),
                event_type: EventType::from(r.get::<_, String>(3).as_str()),
                item: r.get(4),
                file: r.get(5),
                outcome: Outcome::from(r.get::<_, String>(6).as_str()),
                detail: r.get(7),
                agent: r.get(8),
                copy: r.get(9),
            };
            by_archive
                .entry(r.get(1))
                .or_default()
                .push((r.get(0), event));
        }
        let mut appended = 0;
        for (root, events) in by_archive {
            let archive = Archive::new(Path::new(&root));
            if !archive.meta_dir().is_dir() {
                continue;
            }
            let fresh: Vec<Event> = {
                let logged = crate::pending::logged_keys_all(&archive).unwrap_or_default();
                events
                    .iter()
                    .filter(|(_, e)| !logged.contains(&crate::pending::key(e)))
                    .map(|(_, e)| e.clone())
                    .collect()
            };
            if !fresh.is_empty() {
                match crate::catalogue::record(&archive, None, &fresh) {
                    Ok(()) | Err(crate::catalogue::RecordError::Catalogue(_)) => {}
                    // Not in the archive's log: left unlogged, for the next flush.
                    Err(crate::catalogue::RecordError::Log(_)) => continue,
                }
                appended += fresh.len();
            }
            let seqs: Vec<i64> = events.iter().map(|(s, _)| *s).collect();
            self.mark_logged(&seqs)?;
        }
        Ok(appended)
    }

    /// Marks events as written into their archive's log.
    pub fn mark_logged(&mut self, seqs: &[i64]) -> Result<(), RegistryError> {
        self.client
            .execute(
                "UPDATE events SET logged = true WHERE seq = ANY($1)",
                &[&seqs],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The registry at a glance.
    pub fn overview(&mut self, lease: Duration) -> Result<Overview, RegistryError> {
        let c = &mut self.client;
        let url = self.url.clone();
        let one = |c: &mut Client, sql: &str| -> Result<i64, RegistryError> {
            c.query_one(sql, &[])
                .map(|r| r.get(0))
                .map_err(|e| classify(&url, e))
        };
        let mut o = Overview {
            url: shown(&url),
            archives: one(c, "SELECT count(*) FROM archives")? as u64,
            files: one(c, "SELECT count(*) FROM files WHERE status = 'present'")? as u64,
            never_proved: one(
                c,
                "SELECT count(*) FROM files WHERE status = 'present' AND last_checked IS NULL",
            )? as u64,
            due: one(
                c,
                "SELECT count(*) FROM work WHERE claimed_by IS NULL OR lease_until < now()",
            )? as u64,
            claimed: one(c, "SELECT count(*) FROM work WHERE lease_until >= now()")? as u64,
            ..Default::default()
        };
        o.oldest_proof = c
            .query_one(
                &format!(
                    "SELECT to_char(min(last_checked) AT TIME ZONE 'UTC', {UTC_TEXT}) FROM files WHERE status = 'present'"
                ),
                &[],
            )
            .map_err(|e| classify(&url, e))?
            .get(0);
        for r in c
            .query(
                &format!(
                    "SELECT name, to_char(seen AT TIME ZONE 'UTC', {UTC_TEXT}), files, bytes,
                       files / GREATEST(EXTRACT(EPOCH FROM seen - started)::float8 / 60, 1e-9)
                     FROM workers WHERE stopped IS NULL
                       AND seen > now() - make_interval(secs => $1) ORDER BY name"
                ),
                &[&lease.as_secs_f64()],
            )
            .map_err(|e| classify(&url, e))?
        {
            o.workers.push(WorkerState {
                name: r.get(0),
                seen: r.get(1),
                files: r.get(2),
                bytes: r.get(3),
                files_per_minute: r.get(4),
            });
        }
        for r in c
            .query(
                "SELECT a.root, f.item, f.path,
                   CASE WHEN f.copy = '' THEN '' ELSE 'replica ' || f.copy || ': ' END
                     || COALESCE(f.last_detail, f.status)
                 FROM files f JOIN archives a ON a.id = f.archive_id
                 WHERE f.status <> 'present' OR f.last_outcome = 'fail'
                 ORDER BY a.root, f.item, f.path LIMIT 1000",
                &[],
            )
            .map_err(|e| classify(&url, e))?
        {
            o.problems.push(SharedProblem {
                archive: r.get(0),
                item: r.get(1),
                path: r.get(2),
                detail: r.get(3),
            });
        }
        let schemas: Vec<String> = c
            .query(
                "SELECT table_schema::text FROM information_schema.tables
                 WHERE table_name = 'catalogue_meta' ORDER BY 1",
                &[],
            )
            .map_err(|e| classify(&url, e))?
            .iter()
            .map(|r| r.get(0))
            .filter(|s: &String| !s.ends_with("__reindex") && !s.ends_with("__copy"))
            .collect();
        for schema in schemas {
            let q = schema.replace('"', "\"\"");
            let r = c
                .query_one(
                    &format!(
                        "SELECT (SELECT count(*) FROM \"{q}\".items), (SELECT count(*) FROM \"{q}\".files),
                                (SELECT count(*) FROM \"{q}\".events)"
                    ),
                    &[],
                )
                .map_err(|e| classify(&url, e))?;
            o.catalogues.push(ArchiveCatalogue {
                schema,
                items: r.get(0),
                files: r.get(1),
                events: r.get(2),
            });
        }
        Ok(o)
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// Checks one claimed file where it lives. The archive's own, as the watcher does: its SHA-256
/// against the manifest's, a changed FLAC decoded to tell damage from an edited tag, its audio
/// MD5 against the one recorded at ingest. A replica's, by a HEAD for its stored checksum (no
/// byte of audio downloaded), with the archive's settings and the environment's credentials;
/// with `deep`, read back in full (ranged GETs) through the checks of a local `verify --deep`:
/// every byte's SHA-256 and, for a FLAC, every frame's CRC and the audio MD5.
/// An error: the copy could not be asked (not recorded; the check is done again later).
pub fn check(c: &Claimed, deep: bool) -> Result<Checked, String> {
    if !c.copy.is_empty() {
        return check_replica(c, deep);
    }
    let path = c.archive.join(&c.bag_path).join(&c.path);
    let verdict = crate::fixity::check_against(&path, &c.sha256, c.audio_md5.as_deref(), false);
    let (outcome, detail) = verdict.outcome();
    Ok(checked(c, verdict.bytes, outcome, detail))
}

fn checked(c: &Claimed, bytes: u64, outcome: Outcome, detail: String) -> Checked {
    Checked {
        file_id: c.file_id,
        archive: c.archive.clone(),
        bytes,
        event: Event {
            date_time: crate::units::now_rfc3339(),
            event_type: EventType::FixityCheck,
            item: c.item.clone(),
            file: Some(c.path.clone()),
            outcome,
            detail,
            agent: crate::ingest::agent(),
            copy: (!c.copy.is_empty()).then(|| format!("replica {}", c.copy)),
        },
    }
}

fn check_replica(c: &Claimed, deep: bool) -> Result<Checked, String> {
    use crate::replica::{self, Finding};
    let archive = Archive::new(&c.archive);
    let settings = replica::chosen(&archive, Some(&c.copy)).map_err(|e| e.to_string())?;
    let store = replica::open(&settings[0]).map_err(|e| e.to_string())?;
    let sha = replica::hex32(&c.sha256).ok_or("the registry's SHA-256 is not one")?;
    let size = c.bytes.map(|b| b as u64);
    let unreachable = |e: crate::replica::s3::S3Error| format!("replica {}: {e}", c.copy);
    let (finding, read) = if deep {
        let o = replica::Expected {
            item: c.item.clone(),
            file: c.path.clone(),
            local: None,
            sha256: sha,
            size,
        };
        match store
            .head(&store.location.key(&o.rel()))
            .map_err(unreachable)?
        {
            None => (Finding::Missing, 0),
            Some(h) => (
                replica::deep::check_object(&store, &o, h.size).map_err(unreachable)?,
                h.size,
            ),
        }
    } else {
        let f = replica::check_stored(&store, &c.item, &c.path, &sha, size).map_err(unreachable)?;
        (f, 0)
    };
    let (outcome, detail) = match &finding {
        Finding::Present if deep => (
            Outcome::Pass,
            format!(
                "replica {} ({}): read back in full (deep), its bytes and audio match the manifest",
                c.copy,
                store.location.url()
            ),
        ),
        Finding::Present => (
            Outcome::Pass,
            format!(
                "replica {} ({}): its stored checksum matches the manifest",
                c.copy,
                store.location.url()
            ),
        ),
        f => (
            Outcome::Fail,
            format!("replica {}: {}", c.copy, replica::describe(f)),
        ),
    };
    Ok(checked(c, read, outcome, detail))
}
