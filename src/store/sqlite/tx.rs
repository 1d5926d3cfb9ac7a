//! rusqlite's side of [`Tx`]: statements prepared once per connection, `$n`
//! placeholders bound by name, columns read into [`Cell`]s. Nothing here ever
//! waits, so the writer thread and the readers run operations with
//! [`run_now`](crate::store::sql::run_now).

use rusqlite::Connection;
use rusqlite::types::{ToSqlOutput, ValueRef};

use super::value::format_ts;
use crate::store::sql::{Backend, Cell, Row, Tx, Value};
use crate::store::{Result, StoreError};

/// A connection inside the writer's transaction (or a reader's connection).
pub(crate) struct SqliteTx<'c>(pub(crate) &'c Connection);

fn bind(stmt: &mut rusqlite::CachedStatement<'_>, args: &[Value<'_>]) -> Result<()> {
    for index in 1..=stmt.parameter_count() {
        let position = stmt
            .parameter_name(index)
            .and_then(|name| name.strip_prefix('$'))
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(index);
        let value = args.get(position - 1).ok_or_else(|| {
            StoreError::Corrupt(format!("statement wants ${position}, given {}", args.len()))
        })?;
        let out = match value {
            Value::Int(v) => v.map(ToSqlOutput::from),
            Value::Text(v) => v.map(|s| ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes()))),
            Value::Ts(v) => v.map(|t| ToSqlOutput::from(format_ts(t))),
            Value::Bool(v) => v.map(ToSqlOutput::from),
            Value::Bytes(v) => v.map(|b| ToSqlOutput::Borrowed(ValueRef::Blob(b))),
            Value::Ints(_) | Value::Texts(_) => {
                return Err(StoreError::Corrupt("SQLite has no arrays".into()));
            }
        };
        match out {
            Some(out) => stmt.raw_bind_parameter(index, out)?,
            None => stmt.raw_bind_parameter(index, rusqlite::types::Null)?,
        }
    }
    Ok(())
}

fn cell(v: ValueRef<'_>) -> Cell {
    match v {
        ValueRef::Null => Cell::Null,
        ValueRef::Integer(n) => Cell::Int(n),
        ValueRef::Text(t) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
        // taem stores no reals; keep what a hand-edited row holds.
        ValueRef::Real(f) => Cell::Text(f.to_string()),
        ValueRef::Blob(b) => Cell::Bytes(b.to_vec()),
    }
}

impl SqliteTx<'_> {
    fn rows_now(&self, sql: &str, args: &[Value<'_>]) -> Result<Vec<Row>> {
        let mut stmt = self.0.prepare_cached(sql)?;
        bind(&mut stmt, args)?;
        let width = stmt.column_count();
        let mut rows = stmt.raw_query();
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let mut cells = Vec::with_capacity(width);
            for i in 0..width {
                cells.push(cell(r.get_ref(i)?));
            }
            out.push(Row(cells));
        }
        Ok(out)
    }

    fn exec_now(&self, sql: &str, args: &[Value<'_>]) -> Result<u64> {
        let mut stmt = self.0.prepare_cached(sql)?;
        bind(&mut stmt, args)?;
        Ok(stmt.raw_execute()? as u64)
    }
}

impl Tx for SqliteTx<'_> {
    const BACKEND: Backend = Backend::Sqlite;
    const FOR_UPDATE: &'static str = "";
    const SKIP_LOCKED: &'static str = "";

    async fn rows(&mut self, sql: &str, args: &[Value<'_>]) -> Result<Vec<Row>> {
        self.rows_now(sql, args)
    }

    async fn exec(&mut self, sql: &str, args: &[Value<'_>]) -> Result<u64> {
        self.exec_now(sql, args)
    }

    /// (`RETURNING` would cost SQLite a temporary table.)
    async fn insert(&mut self, sql: &str, args: &[Value<'_>]) -> Result<i64> {
        self.exec_now(sql, args)?;
        Ok(self.0.last_insert_rowid())
    }

    async fn try_insert(&mut self, sql: &str, args: &[Value<'_>]) -> Result<Option<i64>> {
        let inserted = self.exec_now(sql, args)? == 1;
        Ok(inserted.then(|| self.0.last_insert_rowid()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sql::{args, run_now};

    #[test]
    fn dollar_placeholders_bind_by_number_in_any_order() {
        let conn = Connection::open_in_memory().unwrap();
        let mut tx = SqliteTx(&conn);
        let row: (i64, String, Option<i64>) = run_now(tx.one(
            "SELECT $2 + 0, $1, $3",
            args![Some("one"), 2i64, None::<i64>],
            "row",
        ))
        .unwrap();
        assert_eq!(row, (2, "one".into(), None));
    }
}
