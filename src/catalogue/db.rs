//! The catalogue's two engines behind one connection: SQLite (a file in the archive, the
//! default) and PostgreSQL (a schema of its own in a shared database, for archives that
//! outgrow one machine). The catalogue's SQL is written once, in the subset both speak
//! (`?N` placeholders, which become `$N` for PostgreSQL); only the tables' definitions and
//! the engine's own housekeeping (SQLite's pragmas, PostgreSQL's schemas) differ.
//!
//! Values cross as [`Value`]: NULL, a 64-bit integer, a double or text, which is all the
//! catalogue stores, so a row reads the same from either engine.

use postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use std::cell::RefCell;
use std::collections::HashMap;

/// A value bound to a statement or read from a row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Text(v.to_string())
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Value {
        Value::Text(v.clone())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Text(v)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}
impl From<u32> for Value {
    fn from(v: u32) -> Value {
        Value::Int(i64::from(v))
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Real(v)
    }
}
impl<T: Into<Value> + Clone> From<&Option<T>> for Value {
    fn from(v: &Option<T>) -> Value {
        v.clone().map_or(Value::Null, Into::into)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

/// `vals![a, b]`: the values of a statement's `?1`, `?2`.
macro_rules! vals {
    ($($v:expr),* $(,)?) => { &[$($crate::catalogue::db::Value::from($v)),*][..] };
}
pub(crate) use vals;

/// Why a statement failed, from either engine.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DbError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error("{}", pg_text(.0))]
    Postgres(#[from] postgres::Error),
    #[error("column {column}: {detail}")]
    Type { column: usize, detail: String },
}

/// A PostgreSQL error with the server's own message and code, which `Display` leaves out.
pub(crate) fn pg_text(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

/// A row, its columns in the order selected.
#[derive(Debug)]
pub(crate) struct Row(Vec<Value>);

/// What a column converts to.
pub(crate) trait FromValue: Sized {
    fn from_value(v: &Value) -> Option<Self>;
}
impl FromValue for i64 {
    fn from_value(v: &Value) -> Option<i64> {
        match v {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
}
impl FromValue for f64 {
    fn from_value(v: &Value) -> Option<f64> {
        match v {
            Value::Real(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            _ => None,
        }
    }
}
impl FromValue for String {
    fn from_value(v: &Value) -> Option<String> {
        match v {
            Value::Text(s) => Some(s.clone()),
            _ => None,
        }
    }
}
impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: &Value) -> Option<Option<T>> {
        match v {
            Value::Null => Some(None),
            v => T::from_value(v).map(Some),
        }
    }
}

impl Row {
    pub(crate) fn get<T: FromValue>(&self, column: usize) -> Result<T, DbError> {
        let v = self.0.get(column).ok_or(DbError::Type {
            column,
            detail: "no such column".into(),
        })?;
        T::from_value(v).ok_or_else(|| DbError::Type {
            column,
            detail: format!("unexpected value {v:?}"),
        })
    }

    pub(crate) fn values(self) -> Vec<Value> {
        self.0
    }
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) => match *ty {
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::FLOAT8 => (*i as f64).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR => i.to_string().to_sql(ty, out),
                _ => i.to_sql(ty, out),
            },
            Value::Real(f) => match *ty {
                Type::FLOAT4 => (*f as f32).to_sql(ty, out),
                _ => f.to_sql(ty, out),
            },
            Value::Text(s) => s.as_str().to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// A PostgreSQL connection and the statements it has prepared (the same SQL is prepared once
/// per connection, as SQLite's statement cache does).
pub(crate) struct PgConn {
    pub(crate) client: postgres::Client,
    statements: HashMap<String, postgres::Statement>,
}

/// One connection to the catalogue's engine.
pub(crate) enum Conn {
    Sqlite(rusqlite::Connection),
    Postgres(Box<RefCell<PgConn>>),
}

/// `?N` as PostgreSQL's `$N`. The catalogue's SQL has no `?` in its literals.
fn pg_sql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

fn sqlite_value(v: rusqlite::types::ValueRef<'_>) -> Value {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(f) => Value::Real(f),
        ValueRef::Text(t) | ValueRef::Blob(t) => Value::Text(String::from_utf8_lossy(t).into()),
    }
}

fn pg_row(r: &postgres::Row) -> Result<Row, DbError> {
    let mut out = Vec::with_capacity(r.len());
    for (i, c) in r.columns().iter().enumerate() {
        let v = match *c.type_() {
            Type::INT8 => r.try_get::<_, Option<i64>>(i)?.map(Value::Int),
            Type::INT4 => r
                .try_get::<_, Option<i32>>(i)?
                .map(|v| Value::Int(v.into())),
            Type::INT2 => r
                .try_get::<_, Option<i16>>(i)?
                .map(|v| Value::Int(v.into())),
            Type::BOOL => r
                .try_get::<_, Option<bool>>(i)?
                .map(|v| Value::Int(v.into())),
            Type::FLOAT8 => r.try_get::<_, Option<f64>>(i)?.map(Value::Real),
            Type::FLOAT4 => r
                .try_get::<_, Option<f32>>(i)?
                .map(|v| Value::Real(v.into())),
            _ => r.try_get::<_, Option<String>>(i)?.map(Value::Text),
        };
        out.push(v.unwrap_or(Value::Null));
    }
    Ok(Row(out))
}

impl PgConn {
    pub(crate) fn new(client: postgres::Client) -> PgConn {
        PgConn {
            client,
            statements: HashMap::new(),
        }
    }

    fn statement(&mut self, sql: &str) -> Result<postgres::Statement, postgres::Error> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(&pg_sql(sql))?;
        self.statements.insert(sql.to_string(), s.clone());
        Ok(s)
    }

    fn run<T>(
        &mut self,
        sql: &str,
        f: impl Fn(&mut postgres::Client, &postgres::Statement) -> Result<T, postgres::Error>,
    ) -> Result<T, postgres::Error> {
        let st = self.statement(sql)?;
        match f(&mut self.client, &st) {
            // A reindex swapped the schema in under a prepared statement: prepared again.
            Err(e) if e.code() == Some(&postgres::error::SqlState::UNDEFINED_TABLE) => {
                self.statements.clear();
                let st = self.statement(sql)?;
                f(&mut self.client, &st)
            }
            r => r,
        }
    }
}

fn params(values: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    values.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

impl Conn {
    /// Every row the statement gives.
    pub(crate) fn query(&self, sql: &str, values: &[Value]) -> Result<Vec<Row>, DbError> {
        match self {
            Conn::Sqlite(c) => {
                let mut st = c.prepare_cached(sql)?;
                let n = st.column_count();
                let mut rows =
                    st.query(rusqlite::params_from_iter(values.iter().map(to_sqlite)))?;
                let mut out = Vec::new();
                while let Some(r) = rows.next()? {
                    let mut row = Vec::with_capacity(n);
                    for i in 0..n {
                        row.push(sqlite_value(r.get_ref(i)?));
                    }
                    out.push(Row(row));
                }
                Ok(out)
            }
            Conn::Postgres(c) => {
                let rows = c
                    .borrow_mut()
                    .run(sql, |client, st| client.query(st, &params(values)))?;
                rows.iter().map(pg_row).collect()
            }
        }
    }

    /// The first row, if any.
    pub(crate) fn query_opt(&self, sql: &str, values: &[Value]) -> Result<Option<Row>, DbError> {
        Ok(self.query(sql, values)?.into_iter().next())
    }

    /// The one row a statement must give (an aggregate).
    pub(crate) fn query_one(&self, sql: &str, values: &[Value]) -> Result<Row, DbError> {
        self.query_opt(sql, values)?.ok_or(DbError::Type {
            column: 0,
            detail: "no row".into(),
        })
    }

    /// Runs a statement; the rows it changed.
    pub(crate) fn execute(&self, sql: &str, values: &[Value]) -> Result<u64, DbError> {
        match self {
            Conn::Sqlite(c) => {
                let mut st = c.prepare_cached(sql)?;
                Ok(st.execute(rusqlite::params_from_iter(values.iter().map(to_sqlite)))? as u64)
            }
            Conn::Postgres(c) => Ok(c
                .borrow_mut()
                .run(sql, |client, st| client.execute(st, &params(values)))?),
        }
    }

    /// Runs a statement of a shape made for one call (many rows to a statement): prepared
    /// for it alone, not kept.
    pub(crate) fn execute_once(&self, sql: &str, values: &[Value]) -> Result<u64, DbError> {
        match self {
            Conn::Sqlite(c) => Ok(c.execute(
                sql,
                rusqlite::params_from_iter(values.iter().map(to_sqlite)),
            )? as u64),
            Conn::Postgres(c) => Ok(c
                .borrow_mut()
                .client
                .execute(&pg_sql(sql), &params(values))?),
        }
    }

    /// Runs statements without parameters, separated by `;`.
    pub(crate) fn batch(&self, sql: &str) -> Result<(), DbError> {
        match self {
            Conn::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Conn::Postgres(c) => Ok(c.borrow_mut().client.batch_execute(sql)?),
        }
    }

    /// A write transaction: SQLite's `BEGIN IMMEDIATE` (writers queue for the lock up front),
    /// PostgreSQL's `BEGIN`. Rolled back unless committed.
    pub(crate) fn transaction(&self) -> Result<Tx<'_>, DbError> {
        self.batch(match self {
            Conn::Sqlite(_) => "BEGIN IMMEDIATE",
            Conn::Postgres(_) => "BEGIN",
        })?;
        Ok(Tx {
            conn: self,
            open: true,
        })
    }

    pub(crate) fn is_postgres(&self) -> bool {
        matches!(self, Conn::Postgres(_))
    }

    /// The SQLite connection, for SQLite's own housekeeping.
    pub(crate) fn sqlite(&self) -> Option<&rusqlite::Connection> {
        match self {
            Conn::Sqlite(c) => Some(c),
            Conn::Postgres(_) => None,
        }
    }
}

fn to_sqlite(v: &Value) -> rusqlite::types::Value {
    use rusqlite::types::Value as V;
    match v {
        Value::Null => V::Null,
        Value::Int(i) => V::Integer(*i),
        Value::Real(f) => V::Real(*f),
        Value::Text(s) => V::Text(s.clone()),
    }
}

/// An open transaction; the statements run on its connection are in it.
pub(crate) struct Tx<'c> {
    conn: &'c Conn,
    open: bool,
}

impl std::ops::Deref for Tx<'_> {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        self.conn
    }
}

impl Tx<'_> {
    pub(crate) fn commit(mut self) -> Result<(), DbError> {
        self.open = false;
        self.conn.batch("COMMIT")
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if self.open {
            let _ = self.conn.batch("ROLLBACK");
        }
    }
}

/// `rows` tuples of `width` placeholders, numbered on: `(?1, ?2), (?3, ?4)`, for a statement
/// that takes many rows at once.
pub(crate) fn tuples(rows: usize, width: usize) -> String {
    (0..rows)
        .map(|r| {
            let row: Vec<String> = (1..=width).map(|c| format!("?{}", r * width + c)).collect();
            format!("({})", row.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Rows inserted many to a statement (a copy, a reindex): `columns` named, `rows` each as
/// many values, in statements of at most ~5,000 values (under both engines' limits).
pub(crate) fn insert_rows(
    conn: &Conn,
    table: &str,
    columns: &[&str],
    rows: &[Vec<Value>],
) -> Result<(), DbError> {
    let per = (5_000 / columns.len().max(1)).max(1);
    for chunk in rows.chunks(per) {
        let sql = format!(
            "INSERT INTO {table} ({}) VALUES {}",
            columns.join(", "),
            tuples(chunk.len(), columns.len())
        );
        let values: Vec<Value> = chunk.iter().flatten().cloned().collect();
        conn.execute_once(&sql, &values)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_postgres_ones() {
        assert_eq!(
            pg_sql("SELECT a FROM t WHERE a = ?1 OR b = ?12 AND c = '?'"),
            "SELECT a FROM t WHERE a = $1 OR b = $12 AND c = '?'"
        );
        assert_eq!(tuples(2, 3), "(?1, ?2, ?3), (?4, ?5, ?6)");
    }
}
