//! The outbox on SQLite. One `taem serve` owns a SQLite database, so one worker
//! claims notices; leases still matter after a crash (the next start takes
//! over rows whose lease ran out).

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

use super::ops::{all, exec, one};
use super::value::Ts;
use crate::domain::Locale;
use crate::domain::model::Channel;
use crate::domain::notice::{
    BroadcastStatus, MAX_ATTEMPTS, Notice, OutboxItem, Outcome, Recipient, backoff, broadcast_rows,
};
use crate::store::rows::*;
use crate::store::{Result, StoreError};

/// Queues a transactional notice to the member's best channel (nothing when no
/// chat app reaches them). Runs inside the caller's transaction.
pub(super) fn notify(
    conn: &Connection,
    member_id: i64,
    notice: &Notice,
    now: DateTime<Utc>,
) -> Result<()> {
    exec(
        conn,
        "INSERT INTO outbox (member_id, channel, kind, payload, due_at, created_at) \
         SELECT id, CASE WHEN telegram_id IS NOT NULL AND telegram_reachable \
         THEN 'telegram' ELSE 'line' END, ?2, ?3, ?4, ?4 FROM members \
         WHERE id = ?1 AND ((telegram_id IS NOT NULL AND telegram_reachable) \
         OR (line_id IS NOT NULL AND line_reachable))",
        params![member_id, notice.kind(), notice.to_json(), Ts(now)],
    )?;
    Ok(())
}

pub(super) fn remind_expiring(
    conn: &Connection,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<u64> {
    let due: Vec<(i64, i64, DateTime<Utc>)> = all(
        conn,
        "SELECT member_id, SUM(remaining), MIN(expires_at) FROM lots \
         WHERE remaining > 0 AND reminded_at IS NULL AND expires_at > ?1 AND expires_at <= ?2 \
         GROUP BY member_id",
        params![Ts(now), Ts(until)],
        |r| Ok((r.get(0)?, r.get(1)?, super::value::ts(r, 2)?)),
    )?;
    for (member_id, points, expires_at) in &due {
        notify(
            conn,
            *member_id,
            &Notice::Expiring {
                points: *points,
                expires_at: *expires_at,
            },
            now,
        )?;
    }
    exec(
        conn,
        "UPDATE lots SET reminded_at = ?1 WHERE remaining > 0 AND reminded_at IS NULL \
         AND expires_at > ?1 AND expires_at <= ?2",
        params![Ts(now), Ts(until)],
    )?;
    Ok(due.len() as u64)
}

pub(super) fn enqueue_broadcast(
    conn: &Connection,
    campaign_id: i64,
    now: DateTime<Utc>,
) -> Result<u64> {
    super::rules::campaign(conn, campaign_id)?;
    let recipients = all(
        conn,
        &format!(
            "SELECT id, locale, app_locale, telegram_id IS NOT NULL AND telegram_reachable, \
             line_id IS NOT NULL AND line_reachable FROM members WHERE {BROADCAST_AUDIENCE} \
             ORDER BY id"
        ),
        [],
        |r| {
            Ok(Recipient {
                member_id: r.get(0)?,
                language: Locale::preferred(
                    r.get::<_, Option<String>>(1)?.as_deref(),
                    r.get::<_, Option<String>>(2)?.as_deref(),
                ),
                telegram: r.get(3)?,
                line: r.get(4)?,
            })
        },
    )?;
    let payload = Notice::Broadcast { campaign_id }.to_json();
    let mut queued = 0;
    for row in broadcast_rows(recipients) {
        queued += exec(
            conn,
            "INSERT INTO outbox (member_id, channel, kind, marketing, campaign_id, payload, \
             dedupe_key, due_at, batch_key, locale, created_at) \
             VALUES (?1, ?2, 'broadcast', 1, ?3, ?4, ?5, ?6, ?7, ?8, ?6) \
             ON CONFLICT (dedupe_key) DO NOTHING",
            params![
                row.member_id,
                channel_name(row.channel),
                campaign_id,
                payload,
                broadcast_key(campaign_id, &row),
                Ts(now),
                row.batch_key,
                row.locale,
            ],
        )? as u64;
    }
    Ok(queued)
}

pub(super) fn broadcast_status(conn: &Connection, campaign_id: i64) -> Result<BroadcastStatus> {
    super::rules::campaign(conn, campaign_id)?;
    let counts: Vec<(String, i64)> = all(
        conn,
        "SELECT status, COUNT(*) FROM outbox WHERE campaign_id = ?1 GROUP BY status",
        [campaign_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(status_from_counts(&counts))
}

pub(super) fn claim_notices(
    conn: &Connection,
    channel: Channel,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: i64,
    batches: i64,
    marketing: bool,
) -> Result<Vec<OutboxItem>> {
    let due = "status = 'queued' AND channel = ?4 AND due_at <= ?1 \
               AND (lease_until IS NULL OR lease_until <= ?1) AND (marketing = 0 OR ?2)";
    let singles: Vec<i64> = all(
        conn,
        &format!("SELECT id FROM outbox WHERE {due} AND batch_key IS NULL ORDER BY id LIMIT ?3"),
        params![Ts(now), marketing, limit, channel_name(channel)],
        |r| r.get(0),
    )?;
    let keys: Vec<String> = all(
        conn,
        &format!(
            "SELECT batch_key FROM outbox WHERE {due} AND batch_key IS NOT NULL \
             GROUP BY batch_key ORDER BY MIN(id) LIMIT ?3"
        ),
        params![Ts(now), marketing, batches, channel_name(channel)],
        |r| r.get(0),
    )?;
    let mut ids = singles;
    for key in &keys {
        ids.extend(all(
            conn,
            "SELECT id FROM outbox WHERE batch_key = ?1 AND status = 'queued'",
            [key],
            |r| r.get::<_, i64>(0),
        )?);
    }
    let mut items = Vec::with_capacity(ids.len());
    for id in ids {
        exec(
            conn,
            "UPDATE outbox SET lease_until = ?1 WHERE id = ?2",
            params![Ts(lease_until), id],
        )?;
        let row = one(
            conn,
            &format!("{OUTBOX_COLUMNS} WHERE o.id = ?1"),
            [id],
            |r| {
                Ok(OutboxRow {
                    id: r.get(0)?,
                    member_id: r.get(1)?,
                    channel: r.get(2)?,
                    payload: r.get(3)?,
                    attempts: r.get(4)?,
                    batch_key: r.get(5)?,
                    locale: r.get(6)?,
                    telegram_id: r.get(7)?,
                    line_id: r.get(8)?,
                    telegram_reachable: r.get(9)?,
                    line_reachable: r.get(10)?,
                    marketing_opt_in: r.get(11)?,
                    app_locale: r.get(12)?,
                })
            },
        )?
        .ok_or(StoreError::NotFound("notice"))?;
        items.push(row.try_into()?);
    }
    Ok(items)
}

pub(super) fn finish_notices(
    conn: &Connection,
    ids: &[i64],
    outcome: &Outcome,
    now: DateTime<Utc>,
) -> Result<()> {
    for &id in ids {
        match outcome {
            Outcome::Retry(error) => {
                let attempts: i64 = one(
                    conn,
                    "SELECT attempts FROM outbox WHERE id = ?1",
                    [id],
                    |r| r.get(0),
                )?
                .ok_or(StoreError::NotFound("notice"))?;
                let (status, due) = if attempts + 1 >= MAX_ATTEMPTS {
                    ("failed", now)
                } else {
                    ("queued", now + backoff(attempts))
                };
                exec(
                    conn,
                    "UPDATE outbox SET status = ?1, attempts = attempts + 1, due_at = ?2, \
                     lease_until = NULL, last_error = ?3 WHERE id = ?4",
                    params![status, Ts(due), error, id],
                )?;
            }
            other => {
                let (status, error) = finished(other);
                exec(
                    conn,
                    "UPDATE outbox SET status = ?1, attempts = attempts + 1, lease_until = NULL, \
                     last_error = ?2, sent_at = CASE WHEN ?1 = 'sent' THEN ?3 END WHERE id = ?4",
                    params![status, error, Ts(now), id],
                )?;
            }
        }
    }
    Ok(())
}

pub(super) fn notices(conn: &Connection, member_id: i64) -> Result<Vec<(String, String, String)>> {
    all(
        conn,
        "SELECT kind, channel, status FROM outbox WHERE member_id = ?1 ORDER BY id DESC",
        [member_id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
}
