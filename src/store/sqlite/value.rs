//! How values cross into SQLite: timestamps as sortable text, and rusqlite's
//! errors as [`StoreError`]s.

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Timelike, Utc};
use rusqlite::ffi;
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

use crate::store::StoreError;

/// A timestamp as SQLite stores it: `2026-11-22T23:22:30.141Z`, UTC, always
/// with three decimals, so that text order is time order (queries compare
/// `expires_at <= ?`). Sub-millisecond digits are dropped; taem's times are whole
/// milliseconds (`domain::time::now`).
///
/// Reading also accepts any RFC 3339 time (sqlx wrote `…141+00:00`) and SQLite's
/// own `2026-11-22 23:22:30` form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ts(pub DateTime<Utc>);

pub(crate) fn format_ts(t: DateTime<Utc>) -> String {
    let d = t.naive_utc();
    // A leap second shows as second 59 plus 1000+ ms: keep it inside the second.
    let ms = (d.nanosecond() / 1_000_000).min(999);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        d.year(),
        d.month(),
        d.day(),
        d.hour(),
        d.minute(),
        d.second()
    )
}

pub(crate) fn parse_ts(s: &str) -> Option<DateTime<Utc>> {
    parse_canonical(s)
        .or_else(|| {
            DateTime::parse_from_rfc3339(s)
                .ok()
                .map(|t| t.with_timezone(&Utc))
        })
        .or_else(|| {
            NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
                .ok()
                .map(|t| t.and_utc())
        })
}

/// The fast path for the format taem writes.
fn parse_canonical(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    if b.len() != 24
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'.'
        || b[23] != b'Z'
    {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u32> {
        b[from..to].iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let date = NaiveDate::from_ymd_opt(i32::try_from(num(0, 4)?).ok()?, num(5, 7)?, num(8, 10)?)?;
    let time = date.and_hms_milli_opt(num(11, 13)?, num(14, 16)?, num(17, 19)?, num(20, 23)?)?;
    Some(time.and_utc())
}

impl ToSql for Ts {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(format_ts(self.0)))
    }
}

impl FromSql for Ts {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let s = value.as_str()?;
        parse_ts(s)
            .map(Ts)
            .ok_or_else(|| FromSqlError::Other(format!("not a timestamp: {s:?}").into()))
    }
}

// ---------------------------------------------------------------------------
// Errors

/// An error from SQLite (or rusqlite), as `StoreError::Sqlite`. Cloneable, so
/// that one failed COMMIT can answer every operation of its batch.
#[derive(Debug, Clone)]
pub struct SqliteError {
    /// SQLite's extended result code, when SQLite reported the error.
    extended_code: Option<i32>,
    message: String,
}

impl SqliteError {
    pub(crate) fn other(message: impl Into<String>) -> SqliteError {
        SqliteError {
            extended_code: None,
            message: message.into(),
        }
    }

    /// A UNIQUE or PRIMARY KEY constraint refused the row.
    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self.extended_code,
            Some(ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
        )
    }

    pub(crate) fn is_unique_violation_on(&self, column: &str) -> bool {
        self.is_unique_violation() && self.message.contains(column)
    }
}

impl From<&rusqlite::Error> for SqliteError {
    fn from(e: &rusqlite::Error) -> SqliteError {
        SqliteError {
            extended_code: e.sqlite_error().map(|f| f.extended_code),
            message: e.to_string(),
        }
    }
}

impl fmt::Display for SqliteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SqliteError {}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        StoreError::Sqlite(SqliteError::from(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn timestamps_round_trip_and_sort_as_text() {
        let a = Utc.with_ymd_and_hms(2026, 11, 22, 23, 22, 30).unwrap()
            + chrono::Duration::milliseconds(141);
        assert_eq!(format_ts(a), "2026-11-22T23:22:30.141Z");
        assert_eq!(parse_ts(&format_ts(a)), Some(a));
        let whole = Utc.with_ymd_and_hms(2027, 1, 2, 3, 4, 5).unwrap();
        assert_eq!(format_ts(whole), "2027-01-02T03:04:05.000Z");
        assert!(format_ts(whole) < format_ts(whole + chrono::Duration::milliseconds(1)));
        assert!(format_ts(a) < format_ts(whole));
    }

    #[test]
    fn older_forms_are_read() {
        let a = Utc.with_ymd_and_hms(2026, 11, 22, 23, 22, 30).unwrap()
            + chrono::Duration::milliseconds(141);
        assert_eq!(parse_ts("2026-11-22T23:22:30.141+00:00"), Some(a));
        assert_eq!(parse_ts("2026-11-23T06:22:30.141+07:00"), Some(a));
        assert_eq!(parse_ts("2026-11-22 23:22:30.141"), Some(a));
        assert_eq!(parse_ts("2026-11-22T23:22:30.1x1Z"), None);
        assert_eq!(parse_ts("yesterday"), None);
    }
}
