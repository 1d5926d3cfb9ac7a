//! Account linking on SQLite: one member on both Telegram and LINE.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::ops;
use super::value::Ts;
use crate::domain::model::*;
use crate::domain::{LinkCode, Refusal};
use crate::store::{Result, StoreError};

pub(super) fn create(
    conn: &Connection,
    member_id: i64,
    code: &LinkCode,
    expires_at: DateTime<Utc>,
) -> Result<()> {
    // One open code per member: a new one replaces the last (no row flood).
    conn.execute(
        "DELETE FROM link_tokens WHERE member_id = ?1 AND used_at IS NULL",
        [member_id],
    )?;
    conn.execute(
        "INSERT INTO link_tokens (token, member_id, expires_at) VALUES (?1, ?2, ?3)",
        params![code.as_str(), member_id, Ts(expires_at)],
    )?;
    Ok(())
}

pub(super) fn use_code(
    conn: &Connection,
    code: &LinkCode,
    by: &MemberRef,
    now: DateTime<Utc>,
) -> Result<Member> {
    let (column, key): (&str, rusqlite::types::Value) = match by {
        MemberRef::Telegram(id) => ("telegram", (*id).into()),
        MemberRef::Line(id) => ("line", id.clone().into()),
        _ => return Err(StoreError::NotFound("chat account")),
    };
    let token: Option<(i64, Ts, Option<Ts>)> = conn
        .query_row(
            "SELECT member_id, expires_at, used_at FROM link_tokens WHERE token = ?1",
            [code.as_str()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let target = match token {
        Some((member_id, expires_at, None)) if expires_at.0 > now => member_id,
        _ => return Err(Refusal::LinkInvalid.into()),
    };
    let current: Option<i64> = conn
        .query_row(
            &format!("SELECT id FROM members WHERE {column}_id = ?1"),
            [&key],
            |r| r.get(0),
        )
        .optional()?;
    if current != Some(target) {
        let taken: bool = conn.query_row(
            &format!("SELECT {column}_id IS NOT NULL FROM members WHERE id = ?1"),
            [target],
            |r| r.get(0),
        )?;
        if taken {
            return Err(Refusal::LinkTaken.into());
        }
        if let Some(old) = current {
            let history: bool = conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM entries WHERE member_id = ?1) \
                 OR EXISTS (SELECT 1 FROM purchases WHERE member_id = ?1) \
                 OR EXISTS (SELECT 1 FROM vouchers WHERE member_id = ?1) \
                 OR EXISTS (SELECT 1 FROM members WHERE referred_by = ?1)",
                [old],
                |r| r.get(0),
            )?;
            if history {
                return Err(Refusal::LinkHasHistory.into());
            }
            conn.execute("DELETE FROM link_tokens WHERE member_id = ?1", [old])?;
            conn.execute("DELETE FROM members WHERE id = ?1", [old])?;
        }
        conn.execute(
            &format!("UPDATE members SET {column}_id = ?1, {column}_reachable = 1 WHERE id = ?2"),
            params![key, target],
        )?;
    }
    conn.execute(
        "UPDATE link_tokens SET used_at = ?1 WHERE token = ?2",
        params![Ts(now), code.as_str()],
    )?;
    ops::member(conn, &MemberRef::Id(target))
}
