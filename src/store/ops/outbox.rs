//! The outbox: notices queued inside the operation that causes them, leased by
//! the push worker and finished with what became of them. Leases matter after a
//! crash (another worker takes over rows whose lease ran out); on PostgreSQL,
//! where several instances run workers, rows are claimed with `SKIP LOCKED`.

use chrono::{DateTime, Utc};

use super::Steps;
use crate::domain::Locale;
use crate::domain::model::Channel;
use crate::domain::notice::{
    BroadcastRow, BroadcastStatus, MAX_ATTEMPTS, Notice, OutboxItem, Outcome, Recipient, backoff,
    broadcast_rows, jittered,
};
use crate::store::Result;
use crate::store::rows::*;
use crate::store::sql::{Tx, args};

/// Queues a transactional notice to the member's best channel (nothing when no
/// chat app reaches them), inside the caller's transaction.
pub(crate) async fn notify(
    tx: &mut impl Tx,
    member_id: i64,
    notice: &Notice,
    now: DateTime<Utc>,
) -> Result<()> {
    tx.exec(
        "INSERT INTO outbox (member_id, channel, kind, payload, due_at, created_at) \
         SELECT id, CASE WHEN telegram_id IS NOT NULL AND telegram_reachable \
         THEN 'telegram' ELSE 'line' END, $2, $3, $4, $4 FROM members \
         WHERE id = $1 AND ((telegram_id IS NOT NULL AND telegram_reachable) \
         OR (line_id IS NOT NULL AND line_reachable))",
        args![member_id, notice.kind(), notice.to_json().as_str(), now],
    )
    .await?;
    Ok(())
}

/// The plain way: read the lots due, then mark them.
pub(crate) async fn mark_expiring(
    tx: &mut impl Tx,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<(i64, i64, DateTime<Utc>)>> {
    let due = tx
        .all(
            "SELECT member_id, CAST(SUM(remaining) AS BIGINT), MIN(expires_at) FROM lots \
             WHERE remaining > 0 AND reminded_at IS NULL AND expires_at > $1 \
             AND expires_at <= $2 GROUP BY member_id",
            args![now, until],
        )
        .await?;
    tx.exec(
        "UPDATE lots SET reminded_at = $1 WHERE remaining > 0 AND reminded_at IS NULL \
         AND expires_at > $1 AND expires_at <= $2",
        args![now, until],
    )
    .await?;
    Ok(due)
}

/// Queues a reminder for each member whose points expire before `until`.
pub(crate) async fn remind_expiring<T: Steps>(
    tx: &mut T,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<u64> {
    let due = tx.mark_expiring(until, now).await?;
    for &(member_id, points, expires_at) in &due {
        let notice = Notice::Expiring { points, expires_at };
        notify(tx, member_id, &notice, now).await?;
    }
    Ok(due.len() as u64)
}

/// The plain way: one row at a time.
pub(crate) async fn queue_broadcast(
    tx: &mut impl Tx,
    campaign_id: i64,
    rows: &[BroadcastRow],
    now: DateTime<Utc>,
) -> Result<u64> {
    let payload = Notice::Broadcast { campaign_id }.to_json();
    let mut queued = 0;
    for row in rows {
        queued += tx
            .exec(
                "INSERT INTO outbox (member_id, channel, kind, marketing, campaign_id, payload, \
                 dedupe_key, due_at, batch_key, locale, created_at) \
                 VALUES ($1, $2, 'broadcast', TRUE, $3, $4, $5, $6, $7, $8, $6) \
                 ON CONFLICT (dedupe_key) DO NOTHING",
                args![
                    row.member_id,
                    channel_name(row.channel),
                    campaign_id,
                    payload.as_str(),
                    broadcast_key(campaign_id, row).as_str(),
                    now,
                    &row.batch_key,
                    &row.locale,
                ],
            )
            .await?;
    }
    Ok(queued)
}

/// Queues a campaign's announcement for every opted-in member on each channel
/// that reaches them; a member already queued is not queued again.
pub(crate) async fn enqueue_broadcast<T: Steps>(
    tx: &mut T,
    campaign_id: i64,
    now: DateTime<Utc>,
) -> Result<u64> {
    let campaign = super::rules::campaign(tx, campaign_id).await?;
    type RecipientRow = (i64, Option<String>, Option<String>, bool, bool);
    let recipients: Vec<RecipientRow> = tx
        .all(
            &format!(
                "SELECT id, locale, app_locale, telegram_id IS NOT NULL AND telegram_reachable, \
                 line_id IS NOT NULL AND line_reachable FROM members \
                 WHERE {BROADCAST_AUDIENCE} ORDER BY id"
            ),
            &[],
        )
        .await?;
    let rows = broadcast_rows(
        recipients
            .into_iter()
            // Its holdout group hears nothing of it.
            .filter(|(member_id, ..)| !campaign.holds_out(*member_id))
            .map(|(member_id, chosen, app, telegram, line)| Recipient {
                member_id,
                language: Locale::preferred(chosen.as_deref(), app.as_deref()),
                telegram,
                line,
            })
            .collect(),
    );
    tx.queue_broadcast(campaign_id, &rows, now).await
}

pub(crate) async fn broadcast_status(
    tx: &mut impl Tx,
    campaign_id: i64,
) -> Result<BroadcastStatus> {
    super::rules::campaign(tx, campaign_id).await?;
    let counts: Vec<(String, i64)> = tx
        .all(
            "SELECT status, COUNT(*) FROM outbox WHERE campaign_id = $1 GROUP BY status",
            args![campaign_id],
        )
        .await?;
    Ok(status_from_counts(&counts))
}

/// What a worker asks for (see `Store::claim_notices`).
pub(crate) struct Claim {
    pub(crate) channel: Channel,
    pub(crate) now: DateTime<Utc>,
    pub(crate) lease_until: DateTime<Utc>,
    pub(crate) limit: i64,
    pub(crate) batches: i64,
    pub(crate) marketing: bool,
}

/// The condition on a notice a worker may take ($1 now, $2 marketing allowed,
/// $3 the channel).
pub(crate) const DUE: &str = "status = 'queued' AND channel = $3 AND due_at <= $1 \
    AND (lease_until IS NULL OR lease_until <= $1) AND (NOT marketing OR $2)";

/// The plain way (one worker): pick, then lease row by row.
pub(crate) async fn claim_notices(tx: &mut impl Tx, c: &Claim) -> Result<Vec<OutboxItem>> {
    let channel = channel_name(c.channel);
    let singles: Vec<(i64,)> = tx
        .all(
            &format!(
                "SELECT id FROM outbox WHERE {DUE} AND batch_key IS NULL ORDER BY id LIMIT $4"
            ),
            args![c.now, c.marketing, channel, c.limit],
        )
        .await?;
    let keys: Vec<(String,)> = tx
        .all(
            &format!(
                "SELECT batch_key FROM outbox WHERE {DUE} AND batch_key IS NOT NULL \
                 GROUP BY batch_key ORDER BY MIN(id) LIMIT $4"
            ),
            args![c.now, c.marketing, channel, c.batches],
        )
        .await?;
    let mut ids: Vec<i64> = singles.into_iter().map(|(id,)| id).collect();
    for (key,) in &keys {
        let chunk: Vec<(i64,)> = tx
            .all(
                "SELECT id FROM outbox WHERE batch_key = $1 AND status = 'queued' ORDER BY id",
                args![key],
            )
            .await?;
        ids.extend(chunk.into_iter().map(|(id,)| id));
    }
    let mut items = Vec::with_capacity(ids.len());
    for id in ids {
        tx.exec(
            "UPDATE outbox SET lease_until = $1 WHERE id = $2",
            args![c.lease_until, id],
        )
        .await?;
        let row: OutboxRow = tx
            .one(
                &format!("{OUTBOX_COLUMNS} WHERE o.id = $1"),
                args![id],
                "notice",
            )
            .await?;
        items.push(row.try_into()?);
    }
    Ok(items)
}

/// The plain way: row by row.
pub(crate) async fn finish_notices(
    tx: &mut impl Tx,
    ids: &[i64],
    outcome: &Outcome,
    now: DateTime<Utc>,
) -> Result<()> {
    for &id in ids {
        match outcome {
            Outcome::Retry(error) => {
                let (attempts,): (i64,) = tx
                    .one(
                        "SELECT attempts FROM outbox WHERE id = $1",
                        args![id],
                        "notice",
                    )
                    .await?;
                let (status, due) = if attempts + 1 >= MAX_ATTEMPTS {
                    ("failed", now)
                } else {
                    (
                        "queued",
                        now + jittered(backoff(attempts), rand::random::<f64>()),
                    )
                };
                tx.exec(
                    "UPDATE outbox SET status = $1, attempts = attempts + 1, due_at = $2, \
                     lease_until = NULL, last_error = $3 WHERE id = $4",
                    args![status, due, error.as_str(), id],
                )
                .await?;
            }
            other => {
                let (status, error) = finished(other);
                tx.exec(
                    "UPDATE outbox SET status = $1, attempts = attempts + 1, lease_until = NULL, \
                     last_error = $2, sent_at = CASE WHEN $1 = 'sent' THEN $3 END WHERE id = $4",
                    args![status, error, now, id],
                )
                .await?;
            }
        }
    }
    Ok(())
}

/// A member's notices, newest first: (kind, channel, status).
pub(crate) async fn notices(
    tx: &mut impl Tx,
    member_id: i64,
) -> Result<Vec<(String, String, String)>> {
    tx.all(
        "SELECT kind, channel, status FROM outbox WHERE member_id = $1 ORDER BY id DESC",
        args![member_id],
    )
    .await
}
