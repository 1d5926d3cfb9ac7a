//! What both SQL backends share: values to bind, rows read back, and the
//! [`Tx`] trait through which every operation (in `store::ops`) runs its
//! statements, written once.
//!
//! SQL text uses PostgreSQL's placeholders, `$1`, `$2`, …; SQLite reads `$1` as a
//! parameter named "$1", and its binder binds by that name. A statement whose
//! text differs between the backends (row locks, fused statements, arrays) is
//! chosen with [`Tx::BACKEND`], or is a step the backend overrides.

use std::future::Future;

use chrono::{DateTime, Utc};

use super::{Result, StoreError};

/// Which database a [`Tx`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

/// A value bound to a placeholder. NULLs keep their type (PostgreSQL infers a
/// parameter's type from what is bound).
#[derive(Debug, Clone)]
pub(crate) enum Value<'a> {
    Int(Option<i64>),
    Text(Option<&'a str>),
    Ts(Option<DateTime<Utc>>),
    Bool(Option<bool>),
    Bytes(Option<&'a [u8]>),
    /// Arrays, for PostgreSQL's `UNNEST` batches only.
    Ints(&'a [i64]),
    Texts(&'a [String]),
}

macro_rules! value_from {
    ($($t:ty => $variant:ident $(, $conv:expr)?;)*) => {$(
        impl<'a> From<$t> for Value<'a> {
            fn from(v: $t) -> Value<'a> {
                Value::$variant(value_from!(@conv v $(, $conv)?))
            }
        }
    )*};
    (@conv $v:ident) => { $v };
    (@conv $v:ident, $conv:expr) => { $conv($v) };
}

value_from! {
    i64 => Int, Some;
    Option<i64> => Int;
    &'a str => Text, Some;
    Option<&'a str> => Text;
    &'a String => Text, |s: &'a String| Some(s.as_str());
    &'a Option<String> => Text, |s: &'a Option<String>| s.as_deref();
    DateTime<Utc> => Ts, Some;
    Option<DateTime<Utc>> => Ts;
    bool => Bool, Some;
    Option<bool> => Bool;
    &'a [i64] => Ints;
    &'a [String] => Texts;
    &'a [u8] => Bytes, Some;
}

/// The arguments of a statement: `args![a, b, c]`.
macro_rules! args {
    ($($v:expr),* $(,)?) => {
        &[$($crate::store::sql::Value::from($v)),*][..]
    };
}
pub(crate) use args;

/// One column of a row read back.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    Null,
    Int(i64),
    Text(String),
    /// PostgreSQL's `timestamptz` (SQLite keeps times as text).
    Ts(DateTime<Utc>),
    Bool(bool),
    Bytes(Vec<u8>),
}

/// A row read back, columns by position.
#[derive(Debug, Clone, Default)]
pub(crate) struct Row(pub(crate) Vec<Cell>);

impl Row {
    /// Column `i`, as `T`.
    pub(crate) fn get<T: FromCell>(&self, i: usize) -> Result<T> {
        let cell = self.0.get(i).unwrap_or(&Cell::Null);
        T::from_cell(cell).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "column {i} holds {cell:?}, not {}",
                std::any::type_name::<T>()
            ))
        })
    }

    /// The columns in order, for decoding a row into a struct field by field.
    pub(crate) fn cols(&self) -> Cols<'_> {
        Cols { row: self, next: 0 }
    }
}

/// Reads a row's columns one after the other.
pub(crate) struct Cols<'r> {
    row: &'r Row,
    next: usize,
}

impl Cols<'_> {
    #[allow(clippy::should_implement_trait)]
    pub(crate) fn next<T: FromCell>(&mut self) -> Result<T> {
        self.next += 1;
        self.row.get(self.next - 1)
    }
}

/// A Rust value a column converts into.
pub(crate) trait FromCell: Sized {
    fn from_cell(cell: &Cell) -> Option<Self>;
}

impl FromCell for i64 {
    fn from_cell(cell: &Cell) -> Option<i64> {
        match cell {
            Cell::Int(n) => Some(*n),
            Cell::Bool(b) => Some(i64::from(*b)),
            _ => None,
        }
    }
}

impl FromCell for String {
    fn from_cell(cell: &Cell) -> Option<String> {
        match cell {
            Cell::Text(s) => Some(s.clone()),
            _ => None,
        }
    }
}

impl FromCell for Vec<u8> {
    fn from_cell(cell: &Cell) -> Option<Vec<u8>> {
        match cell {
            Cell::Bytes(b) => Some(b.clone()),
            _ => None,
        }
    }
}

impl FromCell for bool {
    fn from_cell(cell: &Cell) -> Option<bool> {
        match cell {
            Cell::Bool(b) => Some(*b),
            Cell::Int(n) => Some(*n != 0),
            _ => None,
        }
    }
}

impl FromCell for DateTime<Utc> {
    fn from_cell(cell: &Cell) -> Option<DateTime<Utc>> {
        match cell {
            Cell::Ts(t) => Some(*t),
            Cell::Text(s) => super::sqlite::parse_ts(s),
            _ => None,
        }
    }
}

impl<T: FromCell> FromCell for Option<T> {
    fn from_cell(cell: &Cell) -> Option<Option<T>> {
        match cell {
            Cell::Null => Some(None),
            other => T::from_cell(other).map(Some),
        }
    }
}

/// A row type read from a `SELECT` whose columns are in the struct's order.
pub(crate) trait FromRow: Sized {
    fn from_row(row: &Row) -> Result<Self>;
}

impl FromRow for Row {
    fn from_row(row: &Row) -> Result<Row> {
        Ok(row.clone())
    }
}

macro_rules! tuple_from_row {
    ($($t:ident),+) => {
        impl<$($t: FromCell),+> FromRow for ($($t,)+) {
            fn from_row(row: &Row) -> Result<Self> {
                let mut c = row.cols();
                Ok(($(c.next::<$t>()?,)+))
            }
        }
    };
}
tuple_from_row!(A);
tuple_from_row!(A, B);
tuple_from_row!(A, B, C);
tuple_from_row!(A, B, C, D);
tuple_from_row!(A, B, C, D, E);
tuple_from_row!(A, B, C, D, E, F);
tuple_from_row!(A, B, C, D, E, F, G);
tuple_from_row!(A, B, C, D, E, F, G, H);
tuple_from_row!(A, B, C, D, E, F, G, H, I);

/// A transaction (or, for reads, a connection) on one backend. Operations in
/// `store::ops` are generic over it; the SQLite writer drives them on its thread
/// (its futures never wait), PostgreSQL awaits them on a pooled connection.
pub(crate) trait Tx {
    const BACKEND: Backend;
    /// What makes a `SELECT` lock its rows until the transaction ends
    /// (`" FOR UPDATE"`; nothing on SQLite, whose one writer needs no locks).
    const FOR_UPDATE: &'static str;
    /// The same, skipping rows another transaction holds.
    const SKIP_LOCKED: &'static str;

    /// Runs a statement; its rows.
    fn rows(&mut self, sql: &str, args: &[Value<'_>]) -> impl Future<Output = Result<Vec<Row>>>;

    /// Runs a statement that returns no rows; how many rows it changed.
    fn exec(&mut self, sql: &str, args: &[Value<'_>]) -> impl Future<Output = Result<u64>>;

    /// Runs an `INSERT` of one row (without `RETURNING`); the new row's `id`.
    fn insert(&mut self, sql: &str, args: &[Value<'_>]) -> impl Future<Output = Result<i64>>;

    /// Runs an `INSERT … ON CONFLICT DO NOTHING` of one row; the new row's `id`,
    /// or `None` when nothing was inserted.
    fn try_insert(
        &mut self,
        sql: &str,
        args: &[Value<'_>],
    ) -> impl Future<Output = Result<Option<i64>>>;

    /// The SQLite text on SQLite, the PostgreSQL text on PostgreSQL.
    fn pick(sqlite: &'static str, postgres: &'static str) -> &'static str {
        match Self::BACKEND {
            Backend::Sqlite => sqlite,
            Backend::Postgres => postgres,
        }
    }

    /// Every row, decoded.
    fn all<T: FromRow>(
        &mut self,
        sql: &str,
        args: &[Value<'_>],
    ) -> impl Future<Output = Result<Vec<T>>> {
        async move {
            self.rows(sql, args)
                .await?
                .iter()
                .map(T::from_row)
                .collect()
        }
    }

    /// The first row, decoded, if there is one.
    fn opt<T: FromRow>(
        &mut self,
        sql: &str,
        args: &[Value<'_>],
    ) -> impl Future<Output = Result<Option<T>>> {
        async move {
            match self.rows(sql, args).await?.first() {
                Some(row) => T::from_row(row).map(Some),
                None => Ok(None),
            }
        }
    }

    /// The first row, decoded; `NotFound(what)` when there is none.
    fn one<T: FromRow>(
        &mut self,
        sql: &str,
        args: &[Value<'_>],
        what: &'static str,
    ) -> impl Future<Output = Result<T>> {
        async move { self.opt(sql, args).await?.ok_or(StoreError::NotFound(what)) }
    }
}

/// Runs a future that never waits (a SQLite operation) to its end, here.
pub(crate) fn run_now<T>(op: impl Future<Output = T>) -> T {
    use std::task::{Context, Poll, Waker};
    let mut op = std::pin::pin!(op);
    match op.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => unreachable!("a SQLite step waited; SQLite steps never wait"),
    }
}
