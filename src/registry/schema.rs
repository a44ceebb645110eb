//! The registry's tables and their migrations, applied in order under an advisory lock, so
//! that many workers starting at once migrate it once. The version is in `capstan_schema`.

use postgres::Client;

/// This capstan's schema version.
pub const VERSION: i32 = 2;

/// Why the schema could not be brought up to date.
pub enum MigrateError {
    Db(postgres::Error),
    /// The database holds a newer schema than this capstan knows.
    Newer(i32),
}

impl From<postgres::Error> for MigrateError {
    fn from(e: postgres::Error) -> Self {
        MigrateError::Db(e)
    }
}

/// Each migration, from the version before it.
const MIGRATIONS: &[&str] = &[
    // 1: archives, their files with their last proof, the work queue, events, workers.
    "CREATE TABLE archives (
       id BIGSERIAL PRIMARY KEY,
       root TEXT NOT NULL UNIQUE,
       registered TIMESTAMPTZ NOT NULL DEFAULT now());
     CREATE TABLE files (
       id BIGSERIAL PRIMARY KEY,
       archive_id BIGINT NOT NULL REFERENCES archives(id),
       item TEXT NOT NULL,
       bag_path TEXT NOT NULL,
       path TEXT NOT NULL,
       bytes BIGINT,
       sha256 TEXT NOT NULL,
       audio_md5 TEXT,
       status TEXT NOT NULL DEFAULT 'present',
       changed TIMESTAMPTZ NOT NULL DEFAULT now(),
       last_checked TIMESTAMPTZ,
       last_outcome TEXT,
       last_detail TEXT,
       UNIQUE (archive_id, bag_path, path));
     CREATE INDEX files_last_checked ON files (last_checked NULLS FIRST, id);
     CREATE TABLE work (
       file_id BIGINT PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE,
       priority INT NOT NULL,
       queued TIMESTAMPTZ NOT NULL DEFAULT now(),
       claimed_by TEXT,
       lease_until TIMESTAMPTZ,
       attempts INT NOT NULL DEFAULT 0);
     CREATE INDEX work_order ON work (priority DESC, queued, file_id);
     CREATE TABLE events (
       seq BIGSERIAL PRIMARY KEY,
       archive_id BIGINT NOT NULL REFERENCES archives(id),
       date_time TEXT NOT NULL,
       event_type TEXT NOT NULL,
       item TEXT NOT NULL,
       file TEXT,
       outcome TEXT NOT NULL,
       detail TEXT NOT NULL,
       agent TEXT NOT NULL,
       recorded TIMESTAMPTZ NOT NULL DEFAULT now(),
       logged BOOLEAN NOT NULL DEFAULT false);
     CREATE INDEX events_unlogged ON events (seq) WHERE NOT logged;
     CREATE INDEX events_item ON events (archive_id, item);
     CREATE TABLE workers (
       name TEXT PRIMARY KEY,
       host TEXT NOT NULL,
       pid INT NOT NULL,
       started TIMESTAMPTZ NOT NULL,
       seen TIMESTAMPTZ NOT NULL,
       files BIGINT NOT NULL DEFAULT 0,
       bytes BIGINT NOT NULL DEFAULT 0,
       stopped TIMESTAMPTZ);",
    // 2: a row per copy of a file: the archive's own (copy ''), and each replica's (its name).
    "ALTER TABLE files ADD COLUMN copy TEXT NOT NULL DEFAULT '';
     ALTER TABLE files DROP CONSTRAINT files_archive_id_bag_path_path_key;
     ALTER TABLE files ADD CONSTRAINT files_copy_key UNIQUE (archive_id, copy, bag_path, path);
     ALTER TABLE events ADD COLUMN copy TEXT;",
];

/// Brings the schema to [`VERSION`].
pub fn migrate(c: &mut Client) -> Result<(), MigrateError> {
    let mut tx = c.transaction()?;
    // One migrator at a time; released with the transaction.
    tx.execute("SELECT pg_advisory_xact_lock(7418245)", &[])?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS capstan_schema (version INT NOT NULL)")?;
    let found: Option<i32> = tx
        .query_opt("SELECT max(version) FROM capstan_schema", &[])?
        .and_then(|r| r.get(0));
    let found = found.unwrap_or(0);
    if found > VERSION {
        return Err(MigrateError::Newer(found));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.batch_execute(sql)?;
        tx.execute(
            "INSERT INTO capstan_schema (version) VALUES ($1)",
            &[&(i as i32 + 1)],
        )?;
    }
    tx.commit()?;
    Ok(())
}
