//! Wrong guesses of codes, pruning of what is only kept for a while, and the
//! server's own keys.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

use super::ops::{exec, one};
use super::value::{Ts, ts};
use crate::domain::guess::Failures;
use crate::domain::model::{Pruned, Secret};
use crate::store::{Result, StoreError};

pub(super) fn failures(
    conn: &Connection,
    kind: &str,
    subjects: &[String],
) -> Result<Vec<Failures>> {
    let mut out = Vec::new();
    for subject in subjects {
        let f = one(
            conn,
            "SELECT failures, last_failure_at FROM guesses WHERE subject = ?1 AND kind = ?2",
            [subject, kind],
            |r| {
                Ok(Failures {
                    count: u32::try_from(r.get::<_, i64>(0)?).unwrap_or(u32::MAX),
                    last: ts(r, 1)?,
                })
            },
        )?;
        out.extend(f);
    }
    Ok(out)
}

pub(super) fn record_failure(
    conn: &Connection,
    kind: &str,
    subjects: &[String],
    now: DateTime<Utc>,
    forget_before: DateTime<Utc>,
) -> Result<()> {
    for subject in subjects {
        exec(
            conn,
            "INSERT INTO guesses (subject, kind, failures, last_failure_at) VALUES (?1, ?2, 1, ?3) \
             ON CONFLICT (subject, kind) DO UPDATE SET failures = CASE \
             WHEN guesses.last_failure_at <= ?4 THEN 1 ELSE guesses.failures + 1 END, \
             last_failure_at = ?3",
            params![subject, kind, Ts(now), Ts(forget_before)],
        )?;
    }
    Ok(())
}

pub(super) fn prune(
    conn: &Connection,
    now: DateTime<Utc>,
    events_before: DateTime<Utc>,
    guesses_before: DateTime<Utc>,
) -> Result<Pruned> {
    Ok(Pruned {
        link_tokens: exec(
            conn,
            "DELETE FROM link_tokens WHERE expires_at < ?1 OR used_at IS NOT NULL",
            [Ts(now)],
        )? as u64,
        inbound_events: exec(
            conn,
            "DELETE FROM inbound_events WHERE received_at < ?1",
            [Ts(events_before)],
        )? as u64,
        guesses: exec(
            conn,
            "DELETE FROM guesses WHERE last_failure_at < ?1",
            [Ts(guesses_before)],
        )? as u64,
    })
}

pub(super) fn server_key(
    conn: &Connection,
    name: &str,
    candidate: &Secret,
    now: DateTime<Utc>,
) -> Result<Secret> {
    exec(
        conn,
        "INSERT INTO server_keys (name, value, created_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (name) DO NOTHING",
        params![name, candidate.expose(), Ts(now)],
    )?;
    let value = one(
        conn,
        "SELECT value FROM server_keys WHERE name = ?1",
        [name],
        |r| r.get::<_, String>(0),
    )?
    .ok_or(StoreError::NotFound("server key"))?;
    Ok(Secret::new(value))
}
