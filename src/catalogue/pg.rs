//! The catalogue on PostgreSQL: the archive's tables in a schema of their own
//! ([`CatalogueSettings::schema`]) in a database that other archives (stations, mounts,
//! replicas) and the shared registry may share, each file identified by its archive's schema,
//! its bag and its path. Chosen in the archive's settings (`[catalogue]` in `archive.toml`,
//! written by `capstan catalogue copy`), so every command that opens the catalogue uses it.
//!
//! Promises, beside the catalogue's own: the schema is made once, under an advisory lock, and
//! only in a schema that holds nothing else; a server that does not answer is
//! [`CatalogueError::Unreachable`] (the archive is untouched, try again), never a damaged
//! catalogue; the password comes from `PGPASSWORD`, never from the settings file.

use super::db::{Conn, PgConn};
use super::*;
use serde::Deserialize;
use std::cell::RefCell;

/// `[catalogue]` in `archive.toml`: where the archive's catalogue is when it is not the SQLite
/// file in `.capstan`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogueSettings {
    /// `postgres://user@host:port/database`; the password, if any, from `PGPASSWORD`.
    pub url: String,
    /// The archive's schema in that database (lower-case letters, digits and `_`).
    pub schema: String,
}

impl CatalogueSettings {
    /// Checks the URL parses, carries no password, and the schema is a plain name.
    pub fn check(&self) -> Result<(), String> {
        let config: postgres::Config = self
            .url
            .parse()
            .map_err(|e| format!("catalogue url is not a PostgreSQL URL: {e}"))?;
        if config.get_password().is_some() {
            return Err("catalogue url carries a password: give it in PGPASSWORD instead, so archive.toml can be read by anyone who may read the archive".into());
        }
        check_schema_name(&self.schema)
    }
}

/// A schema name Capstan makes: starts with a letter or `_`, then lower-case letters, digits
/// and `_`, at most 50 (so `…__reindex` stays under PostgreSQL's 63).
pub fn check_schema_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 50
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit()
        && !name.starts_with("pg_");
    if ok {
        Ok(())
    } else {
        Err(format!("catalogue schema {name:?} must be 1 to 50 lower-case letters, digits and _, not starting with a digit or pg_"))
    }
}

/// A schema name for an archive from its folder's name: `station-1` gives `station_1`.
pub fn schema_for(archive: &Archive) -> String {
    let name = archive
        .root
        .canonicalize()
        .unwrap_or_else(|_| archive.root.clone())
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    if s.is_empty() || s.as_bytes()[0].is_ascii_digit() || s.starts_with("pg_") {
        s.insert_str(0, "archive_");
    }
    s
}

/// How the catalogue is shown in messages: the URL without a password, and the schema.
pub(super) fn location(settings: &CatalogueSettings, schema: &str) -> PathBuf {
    PathBuf::from(format!(
        "{} (schema {schema})",
        crate::registry::shown(&settings.url)
    ))
}

pub(super) fn pg_err(path: &Path, e: postgres::Error) -> CatalogueError {
    let path = path.to_path_buf();
    let detail = db::pg_text(&e);
    let io = std::error::Error::source(&e).is_some_and(|s| s.is::<io::Error>());
    match e.as_db_error() {
        // 08: connection exceptions; 57P: shutting down or restarting.
        Some(db) if db.code().code().starts_with("08") || db.code().code().starts_with("57P") => {
            CatalogueError::Unreachable { path, detail }
        }
        None if io || e.is_closed() => CatalogueError::Unreachable { path, detail },
        _ => CatalogueError::Postgres { path, detail },
    }
}

/// A connection with the archive's schema first on its search path.
fn connect(
    settings: &CatalogueSettings,
    schema: &str,
    path: &Path,
) -> Result<Conn, CatalogueError> {
    settings
        .check()
        .map_err(|detail| CatalogueError::Postgres {
            path: path.to_path_buf(),
            detail,
        })?;
    check_schema_name(schema).map_err(|detail| CatalogueError::Postgres {
        path: path.to_path_buf(),
        detail,
    })?;
    let mut config: postgres::Config = settings.url.parse().map_err(|e| pg_err(path, e))?;
    if let Ok(pw) = std::env::var("PGPASSWORD") {
        config.password(pw);
    }
    config.connect_timeout(Duration::from_secs(10));
    config.application_name("capstan catalogue");
    let mut client = config
        .connect(postgres::NoTls)
        .map_err(|e| CatalogueError::Unreachable {
            path: path.to_path_buf(),
            detail: db::pg_text(&e),
        })?;
    client
        .batch_execute(&format!("SET search_path TO \"{schema}\""))
        .map_err(|e| pg_err(path, e))?;
    Ok(Conn::Postgres(Box::new(RefCell::new(PgConn::new(client)))))
}

/// Whether the schema holds a catalogue.
fn has_catalogue(conn: &Conn, schema: &str) -> Result<bool, DbError> {
    let n: i64 = conn
        .query_one(
            // pg_tables, not information_schema: the catalogue's view, without the privilege
            // checks that make information_schema slow.
            "SELECT count(*) FROM pg_catalog.pg_tables
             WHERE schemaname = ?1 AND tablename = 'catalogue_meta'",
            vals![schema],
        )?
        .get(0)?;
    Ok(n > 0)
}

/// What to do when the schema holds no catalogue yet.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Absent {
    /// Make it (a reindex, a copy).
    Create,
    /// Make it if the archive holds nothing yet, else [`CatalogueError::Missing`].
    CreateIfEmpty,
    /// Read as empty if the archive holds nothing yet, else [`CatalogueError::Missing`]; never
    /// write.
    ReadOnly,
}

impl Catalogue {
    /// Opens the catalogue in `schema` of the database `settings` names.
    pub(super) fn open_pg(
        archive: &Archive,
        settings: &CatalogueSettings,
        schema: &str,
        absent: Absent,
    ) -> Result<Catalogue, CatalogueError> {
        let path = location(settings, schema);
        let conn = connect(settings, schema, &path)?;
        let owned = path.clone();
        let sql = sql_err(&owned);
        let io_err = |source| CatalogueError::Io {
            path: path.clone(),
            file: archive.root.clone(),
            source,
        };
        if !has_catalogue(&conn, schema).map_err(&sql)? {
            let holds = archive_holds_items(archive).map_err(io_err)?;
            match absent {
                Absent::CreateIfEmpty | Absent::ReadOnly if holds => {
                    return Err(CatalogueError::Missing { path })
                }
                Absent::ReadOnly => return Catalogue::empty(path, archive),
                _ => create(&conn, schema, &path)?,
            }
        }
        if absent == Absent::ReadOnly {
            conn.batch("SET default_transaction_read_only = on")
                .map_err(&sql)?;
        }
        let cat = Catalogue {
            conn,
            path: path.clone(),
            archive: archive.clone(),
            _lock: None,
        };
        let (version, app) = cat.versions()?;
        if app != APPLICATION_ID {
            return Err(CatalogueError::Corrupt {
                path,
                detail: "a catalogue_meta table, but not a Capstan catalogue's".into(),
            });
        }
        if version != SCHEMA_VERSION {
            return Err(CatalogueError::NewerSchema {
                path,
                found: version,
                expected: SCHEMA_VERSION,
            });
        }
        Ok(cat)
    }
}

/// Makes the schema and its tables, once: under an advisory lock, and only where the schema
/// holds nothing else.
fn create(conn: &Conn, schema: &str, path: &Path) -> Result<(), CatalogueError> {
    let sql = sql_err(path);
    let tx = conn.transaction().map_err(&sql)?;
    tx.execute("SELECT pg_advisory_xact_lock(hashtext(?1))", vals![schema])
        .map_err(&sql)?;
    tx.batch(&format!(
        "CREATE SCHEMA IF NOT EXISTS \"{schema}\"; SET LOCAL search_path TO \"{schema}\""
    ))
    .map_err(&sql)?;
    if has_catalogue(&tx, schema).map_err(&sql)? {
        return tx.commit().map_err(&sql);
    }
    let others: i64 = tx
        .query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ?1",
            vals![schema],
        )
        .and_then(|r| r.get(0))
        .map_err(&sql)?;
    if others > 0 {
        return Err(CatalogueError::Corrupt {
            path: path.to_path_buf(),
            detail: format!("schema {schema} holds tables that are not a Capstan catalogue"),
        });
    }
    tx.batch(PG_SCHEMA).map_err(&sql)?;
    tx.execute(
        "INSERT INTO catalogue_meta (application_id, schema_version) VALUES (?1, ?2)",
        vals![APPLICATION_ID, SCHEMA_VERSION],
    )
    .map_err(&sql)?;
    tx.commit().map_err(&sql)
}

/// Drops a schema and everything in it (a reindex's leftover build).
pub(super) fn drop_schema(
    settings: &CatalogueSettings,
    schema: &str,
) -> Result<(), CatalogueError> {
    let path = location(settings, schema);
    let conn = connect(settings, schema, &path)?;
    conn.batch(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .map_err(sql_err(&path))
}

/// Puts the schema `built` in the place of `schema`, in one transaction: readers see the old
/// catalogue or the new one, never neither.
pub(super) fn swap_schema(
    settings: &CatalogueSettings,
    built: &str,
    schema: &str,
) -> Result<(), CatalogueError> {
    let path = location(settings, schema);
    let conn = connect(settings, schema, &path)?;
    let sql = sql_err(&path);
    let tx = conn.transaction().map_err(&sql)?;
    tx.batch(&format!(
        "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE; ALTER SCHEMA \"{built}\" RENAME TO \"{schema}\""
    ))
    .map_err(&sql)?;
    tx.commit().map_err(&sql)
}
