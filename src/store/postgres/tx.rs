//! sqlx's side of [`Tx`]: values bound with their PostgreSQL types, columns read
//! by the type PostgreSQL reports. Statements are prepared once per connection
//! (sqlx caches them by text).

use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::{Column, PgConnection, Postgres, Row as _, TypeInfo, ValueRef};

use crate::store::sql::{Backend, Cell, Row, Tx, Value};
use crate::store::{Result, StoreError};

/// A transaction (or a pooled connection, for reads).
pub(crate) struct PgTx<'c>(pub(crate) &'c mut PgConnection);

fn query<'q>(sql: &'q str, args: &'q [Value<'q>]) -> Query<'q, Postgres, PgArguments> {
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for value in args {
        q = match value {
            Value::Int(v) => q.bind(*v),
            Value::Text(v) => q.bind(*v),
            Value::Ts(v) => q.bind(*v),
            Value::Bool(v) => q.bind(*v),
            Value::Bytes(v) => q.bind(*v),
            Value::Ints(v) => q.bind(*v),
            Value::Texts(v) => q.bind(*v),
        };
    }
    q
}

fn row(r: &PgRow) -> Result<Row> {
    let mut cells = Vec::with_capacity(r.len());
    for (i, column) in r.columns().iter().enumerate() {
        if r.try_get_raw(i)?.is_null() {
            cells.push(Cell::Null);
            continue;
        }
        cells.push(match column.type_info().name() {
            "INT8" => Cell::Int(r.try_get(i)?),
            "INT4" => Cell::Int(r.try_get::<i32, _>(i)?.into()),
            "INT2" => Cell::Int(r.try_get::<i16, _>(i)?.into()),
            "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" => Cell::Text(r.try_get(i)?),
            "TIMESTAMPTZ" => Cell::Ts(r.try_get(i)?),
            "BOOL" => Cell::Bool(r.try_get(i)?),
            "BYTEA" => Cell::Bytes(r.try_get(i)?),
            other => {
                return Err(StoreError::Corrupt(format!(
                    "column {} is {other}; cast it to BIGINT, TEXT, BOOLEAN, BYTEA or TIMESTAMPTZ",
                    column.name()
                )));
            }
        });
    }
    Ok(Row(cells))
}

impl Tx for PgTx<'_> {
    const BACKEND: Backend = Backend::Postgres;
    const FOR_UPDATE: &'static str = " FOR UPDATE";
    const SKIP_LOCKED: &'static str = " FOR UPDATE SKIP LOCKED";

    async fn rows(&mut self, sql: &str, args: &[Value<'_>]) -> Result<Vec<Row>> {
        let rows = query(sql, args).fetch_all(&mut *self.0).await?;
        rows.iter().map(row).collect()
    }

    async fn exec(&mut self, sql: &str, args: &[Value<'_>]) -> Result<u64> {
        Ok(query(sql, args)
            .execute(&mut *self.0)
            .await?
            .rows_affected())
    }

    async fn insert(&mut self, sql: &str, args: &[Value<'_>]) -> Result<i64> {
        let sql = format!("{sql} RETURNING id");
        let row = query(&sql, args).fetch_one(&mut *self.0).await?;
        Ok(row.try_get(0)?)
    }

    async fn try_insert(&mut self, sql: &str, args: &[Value<'_>]) -> Result<Option<i64>> {
        let sql = format!("{sql} RETURNING id");
        let row = query(&sql, args).fetch_optional(&mut *self.0).await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }
}
