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
use crate::domain::quota::{LINE_MONTHLY_LIMIT, SendPause};
use crate::store::Result;
use crate::store::rows::*;
use crate::store::sql::{Tx, args};

/// A notice to a member on the channel they can be reached on (none when they
/// cannot be), from the placeholders of its member, kind, payload and time:
/// one string, built at compile time.
macro_rules! notice_sql {
    ($member:literal, $kind:literal, $payload:literal, $at:literal) => {
        concat!(
            "INSERT INTO outbox (member_id, channel, kind, payload, due_at, created_at) \
             SELECT id, CASE WHEN telegram_id IS NOT NULL AND telegram_reachable \
             THEN 'telegram' ELSE 'line' END, ",
            $kind,
            ", ",
            $payload,
            ", ",
            $at,
            ", ",
            $at,
            " FROM members WHERE id = ",
            $member,
            " AND ((telegram_id IS NOT NULL AND telegram_reachable) \
             OR (line_id IS NOT NULL AND line_reachable))"
        )
    };
}
pub(crate) use notice_sql;

/// Queues a transactional notice to the member's best channel (nothing when no
/// chat app reaches them), inside the caller's transaction.
pub(crate) async fn notify(
    tx: &mut impl Tx,
    member_id: i64,
    notice: &Notice,
    now: DateTime<Utc>,
) -> Result<()> {
    tx.exec(
        notice_sql!("$1", "$2", "$3", "$4"),
        args![member_id, notice.kind(), notice.to_json().as_str(), now],
    )
    .await?;
    Ok(())
}

/// The plain way: one notice after the other.
pub(crate) async fn notify_all(
    tx: &mut impl Tx,
    notices: &[(i64, Notice, DateTime<Utc>)],
) -> Result<()> {
    for (member_id, notice, at) in notices {
        notify(tx, *member_id, notice, *at).await?;
    }
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
    only: Option<&[i64]>,
    now: DateTime<Utc>,
) -> Result<u64> {
    let rows = broadcast_plan(tx, campaign_id, only).await?;
    tx.queue_broadcast(campaign_id, &rows, now).await
}

/// The LINE messages a broadcast would queue now: one per LINE recipient not
/// queued before (a multicast counts once per recipient against the quota).
pub(crate) async fn broadcast_line_size(
    tx: &mut impl Tx,
    campaign_id: i64,
    only: Option<&[i64]>,
) -> Result<u64> {
    let rows = broadcast_plan(tx, campaign_id, only).await?;
    let queued: Vec<(String,)> = tx
        .all(
            "SELECT dedupe_key FROM outbox WHERE campaign_id = $1 AND channel = 'line' \
             AND dedupe_key IS NOT NULL",
            args![campaign_id],
        )
        .await?;
    let queued: std::collections::HashSet<String> = queued.into_iter().map(|(k,)| k).collect();
    Ok(rows
        .iter()
        .filter(|r| r.channel == Channel::Line && !queued.contains(&broadcast_key(campaign_id, r)))
        .count() as u64)
}

/// The rows of a campaign's broadcast: members marketing reaches (of `only`,
/// its audience's members in ascending order, when given), less its holdout
/// group.
async fn broadcast_plan(
    tx: &mut impl Tx,
    campaign_id: i64,
    only: Option<&[i64]>,
) -> Result<Vec<BroadcastRow>> {
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
    Ok(broadcast_rows(
        recipients
            .into_iter()
            .filter(|(member_id, ..)| only.is_none_or(|m| m.binary_search(member_id).is_ok()))
            // Its holdout group hears nothing of it.
            .filter(|(member_id, ..)| !campaign.holds_out(*member_id))
            .map(|(member_id, chosen, app, telegram, line)| Recipient {
                member_id,
                language: Locale::preferred(chosen.as_deref(), app.as_deref()),
                telegram,
                line,
            })
            .collect(),
    ))
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
    let mut status = status_from_counts(&counts);
    (status.held,) = tx
        .one(
            "SELECT COUNT(*) FROM outbox WHERE campaign_id = $1 AND status = 'queued' \
             AND last_error = $2",
            args![campaign_id, LINE_MONTHLY_LIMIT],
            "broadcast",
        )
        .await?;
    Ok(status)
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
    if let Outcome::Deferred { until, reason } = outcome {
        for &id in ids {
            defer(tx, id, *until, reason).await?;
        }
        return Ok(());
    }
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

/// Queues a row again for `until` with `reason`, counting no attempt.
async fn defer(tx: &mut impl Tx, id: i64, until: DateTime<Utc>, reason: &str) -> Result<()> {
    tx.exec(
        "UPDATE outbox SET status = 'queued', due_at = $2, lease_until = NULL, last_error = $3 \
         WHERE id = $1",
        args![id, until, reason],
    )
    .await?;
    Ok(())
}

/// Pauses marketing to `channel` until `until`; true when it was not paused
/// already (so one worker, of however many, says so).
pub(crate) async fn pause_sends(
    tx: &mut impl Tx,
    channel: Channel,
    reason: &str,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let changed = tx
        .exec(
            "INSERT INTO send_pauses (channel, reason, paused_at, paused_until) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (channel) DO UPDATE \
             SET reason = excluded.reason, paused_at = excluded.paused_at, \
             paused_until = excluded.paused_until WHERE send_pauses.paused_until <= $3",
            args![channel_name(channel), reason, now, until],
        )
        .await?;
    Ok(changed > 0)
}

/// The pause on marketing to `channel` at `now`, if there is one.
pub(crate) async fn send_pause(
    tx: &mut impl Tx,
    channel: Channel,
    now: DateTime<Utc>,
) -> Result<Option<SendPause>> {
    let row: Option<(String, DateTime<Utc>, DateTime<Utc>)> = tx
        .opt(
            "SELECT reason, paused_at, paused_until FROM send_pauses \
             WHERE channel = $1 AND paused_until > $2",
            args![channel_name(channel), now],
        )
        .await?;
    Ok(row.map(|(reason, since, until)| SendPause {
        reason,
        since,
        until,
    }))
}

/// Lifts the pause on `channel` and makes its rows held for `reason` due now;
/// how many were held.
pub(crate) async fn resume_sends(
    tx: &mut impl Tx,
    channel: Channel,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<u64> {
    let channel = channel_name(channel);
    tx.exec("DELETE FROM send_pauses WHERE channel = $1", args![channel])
        .await?;
    tx.exec(
        "UPDATE outbox SET due_at = $3 WHERE status = 'queued' AND channel = $1 \
         AND last_error = $2 AND due_at > $3",
        args![channel, reason, now],
    )
    .await
}

/// Rows queued to `channel` held for `reason`.
pub(crate) async fn held_notices(tx: &mut impl Tx, channel: Channel, reason: &str) -> Result<i64> {
    let (n,): (i64,) = tx
        .one(
            "SELECT COUNT(*) FROM outbox WHERE status = 'queued' AND channel = $1 \
             AND last_error = $2",
            args![channel_name(channel), reason],
            "outbox",
        )
        .await?;
    Ok(n)
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
