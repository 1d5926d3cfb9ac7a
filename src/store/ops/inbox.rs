//! The inbox of chat events (kept before they are acknowledged) and the leases
//! the instances sharing a database take (who long-polls the Telegram bot).
//!
//! A claim is one `UPDATE … RETURNING` whose target rows are checked again for
//! the lease when two instances race (PostgreSQL re-reads a row another
//! transaction changed), so an event is held by one worker at a time; and only a
//! chat's oldest waiting event can be claimed, so a chat's events go in order.

use chrono::{DateTime, Utc};

use crate::domain::inbox::{Claimed, Depth, MAX_ATTEMPTS, NewEvent, Source};
use crate::store::sql::{Tx, args};
use crate::store::{Result, StoreError};

/// Keeps events; how many were new (a redelivered one is kept once).
pub(crate) async fn put(tx: &mut impl Tx, events: &[NewEvent], now: DateTime<Utc>) -> Result<u64> {
    let mut added = 0;
    for e in events {
        added += tx
            .exec(
                "INSERT INTO inbox (source, event_id, chat, payload, received_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (source, event_id) DO NOTHING",
                args![e.source.as_str(), &e.event_id, &e.chat, &e.payload, now],
            )
            .await?;
    }
    Ok(added)
}

/// Claims up to `limit` events, each its chat's oldest waiting one and not held
/// by another worker, until `lease_until`. Events tried too often are given up
/// first (marked handled, their payload blanked); they are returned with no
/// payload so the caller can say so.
pub(crate) async fn claim(
    tx: &mut impl Tx,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Claimed>> {
    let rows: Vec<(i64, String, Option<String>, i64)> = tx
        .all(
            "UPDATE inbox SET lease_until = $2, attempts = attempts + 1 \
             WHERE id IN (SELECT i.id FROM inbox i WHERE i.handled_at IS NULL \
                 AND (i.lease_until IS NULL OR i.lease_until <= $1) \
                 AND NOT EXISTS (SELECT 1 FROM inbox e WHERE e.source = i.source \
                     AND e.chat = i.chat AND e.handled_at IS NULL AND e.id < i.id) \
                 ORDER BY i.id LIMIT $3) \
             AND handled_at IS NULL AND (lease_until IS NULL OR lease_until <= $1) \
             RETURNING id, source, payload, attempts",
            args![now, lease_until, limit],
        )
        .await?;
    let mut claimed = Vec::with_capacity(rows.len());
    for (id, source, payload, attempts) in rows {
        let source = Source::parse(&source)
            .ok_or_else(|| StoreError::Corrupt(format!("inbox source {source}")))?;
        if attempts > MAX_ATTEMPTS {
            done(tx, id, now).await?;
        }
        claimed.push(Claimed {
            id,
            source,
            payload: payload
                .filter(|_| attempts <= MAX_ATTEMPTS)
                .unwrap_or_default(),
            attempts,
        });
    }
    claimed.sort_by_key(|c| c.id);
    Ok(claimed)
}

/// Marks an event handled and forgets what it said.
pub(crate) async fn done(tx: &mut impl Tx, id: i64, now: DateTime<Utc>) -> Result<()> {
    tx.exec(
        "UPDATE inbox SET handled_at = $2, payload = NULL, lease_until = NULL \
         WHERE id = $1 AND handled_at IS NULL",
        args![id, now],
    )
    .await?;
    Ok(())
}

/// Lets every held event be claimed again (a lone server starting after a crash).
pub(crate) async fn release(tx: &mut impl Tx) -> Result<u64> {
    tx.exec(
        "UPDATE inbox SET lease_until = NULL WHERE handled_at IS NULL AND lease_until IS NOT NULL",
        args![],
    )
    .await
}

/// Events waiting to be handled and when the oldest came.
pub(crate) async fn depth(tx: &mut impl Tx) -> Result<Depth> {
    let (waiting, oldest): (i64, Option<DateTime<Utc>>) = tx
        .one(
            "SELECT COUNT(*), MIN(received_at) FROM inbox WHERE handled_at IS NULL",
            args![],
            "inbox",
        )
        .await?;
    Ok(Depth { waiting, oldest })
}

/// Takes or renews the lease `name` for `holder` until `until`: true when
/// `holder` has it (it was free, ran out, or was already theirs).
pub(crate) async fn take_lease(
    tx: &mut impl Tx,
    name: &str,
    holder: &str,
    (now, until): (DateTime<Utc>, DateTime<Utc>),
) -> Result<bool> {
    let changed = tx
        .exec(
            "INSERT INTO leases (name, holder, until) VALUES ($1, $2, $4) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until \
             WHERE leases.holder = excluded.holder OR leases.until <= $3",
            args![name, holder, now, until],
        )
        .await?;
    Ok(changed == 1)
}

/// Gives a lease up (at shutdown), so another instance takes it at once.
pub(crate) async fn drop_lease(
    tx: &mut impl Tx,
    name: &str,
    holder: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    tx.exec(
        "UPDATE leases SET until = $3 WHERE name = $1 AND holder = $2",
        args![name, holder, now],
    )
    .await?;
    Ok(())
}

/// Who holds the lease `name` and until when, if anyone ever took it.
pub(crate) async fn lease(tx: &mut impl Tx, name: &str) -> Result<Option<(String, DateTime<Utc>)>> {
    tx.opt(
        "SELECT holder, until FROM leases WHERE name = $1",
        args![name],
    )
    .await
}
