//! The outbox on PostgreSQL, where several taem instances may run the push
//! worker at once: a worker claims rows with `FOR UPDATE SKIP LOCKED` and a
//! lease, so no two workers hold the same row; after a crash the lease runs out
//! and another worker takes the row over. LINE chunks carry their retry key, so
//! a chunk taken over (or raced for) is delivered at most once.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::Tx;
use crate::domain::Locale;
use crate::domain::model::Channel;
use crate::domain::notice::{
    BroadcastStatus, MAX_ATTEMPTS, Notice, OutboxItem, Outcome, Recipient, backoff, broadcast_rows,
};
use crate::store::Result;
use crate::store::rows::*;

/// Queues a transactional notice to the member's best channel (nothing when no
/// chat app reaches them), inside the caller's transaction.
pub(super) async fn notify(
    tx: &mut Tx,
    member_id: i64,
    notice: &Notice,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO outbox (member_id, channel, kind, payload, due_at, created_at) \
         SELECT id, CASE WHEN telegram_id IS NOT NULL AND telegram_reachable \
         THEN 'telegram' ELSE 'line' END, $2, $3, $4, $4 FROM members \
         WHERE id = $1 AND ((telegram_id IS NOT NULL AND telegram_reachable) \
         OR (line_id IS NOT NULL AND line_reachable))",
    )
    .bind(member_id)
    .bind(notice.kind())
    .bind(notice.to_json())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(super) async fn remind_expiring(
    pool: &PgPool,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<u64> {
    let mut tx = pool.begin().await?;
    // The lots are marked first, under their row locks: two instances running
    // the sweep at once remind each lot once.
    let due: Vec<(i64, i64, DateTime<Utc>)> = sqlx::query_as(
        "WITH marked AS (UPDATE lots SET reminded_at = $1 WHERE id IN \
         (SELECT id FROM lots WHERE remaining > 0 AND reminded_at IS NULL \
          AND expires_at > $1 AND expires_at <= $2 FOR UPDATE SKIP LOCKED) \
         RETURNING member_id, remaining, expires_at) \
         SELECT member_id, SUM(remaining)::BIGINT, MIN(expires_at) FROM marked GROUP BY member_id",
    )
    .bind(now)
    .bind(until)
    .fetch_all(&mut *tx)
    .await?;
    for (member_id, points, expires_at) in &due {
        notify(
            &mut tx,
            *member_id,
            &Notice::Expiring {
                points: *points,
                expires_at: *expires_at,
            },
            now,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(due.len() as u64)
}

pub(super) async fn enqueue_broadcast(
    pool: &PgPool,
    campaign_id: i64,
    now: DateTime<Utc>,
) -> Result<u64> {
    super::rules::campaign(pool, campaign_id).await?;
    type RecipientRow = (i64, Option<String>, Option<String>, bool, bool);
    let recipients: Vec<RecipientRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT id, locale, app_locale, telegram_id IS NOT NULL AND telegram_reachable, \
             line_id IS NOT NULL AND line_reachable FROM members WHERE {BROADCAST_AUDIENCE} \
             ORDER BY id"
    )))
    .fetch_all(pool)
    .await?;
    let rows = broadcast_rows(
        recipients
            .into_iter()
            .map(|(member_id, chosen, app, telegram, line)| Recipient {
                member_id,
                language: Locale::preferred(chosen.as_deref(), app.as_deref()),
                telegram,
                line,
            })
            .collect(),
    );
    let payload = Notice::Broadcast { campaign_id }.to_json();
    let mut queued = 0;
    let mut tx = pool.begin().await?;
    for chunk in rows.chunks(1000) {
        let members: Vec<i64> = chunk.iter().map(|r| r.member_id).collect();
        let channels: Vec<&str> = chunk.iter().map(|r| channel_name(r.channel)).collect();
        let keys: Vec<String> = chunk
            .iter()
            .map(|r| broadcast_key(campaign_id, r))
            .collect();
        let batches: Vec<Option<String>> = chunk.iter().map(|r| r.batch_key.clone()).collect();
        let locales: Vec<Option<String>> = chunk.iter().map(|r| r.locale.clone()).collect();
        queued += sqlx::query(
            "INSERT INTO outbox (member_id, channel, kind, marketing, campaign_id, payload, \
             dedupe_key, due_at, batch_key, locale, created_at) \
             SELECT m, c, 'broadcast', TRUE, $1, $2, k, $3, b, l, $3 \
             FROM UNNEST($4::BIGINT[], $5::TEXT[], $6::TEXT[], $7::TEXT[], $8::TEXT[]) \
             AS r (m, c, k, b, l) ON CONFLICT (dedupe_key) DO NOTHING",
        )
        .bind(campaign_id)
        .bind(&payload)
        .bind(now)
        .bind(&members)
        .bind(&channels)
        .bind(&keys)
        .bind(&batches)
        .bind(&locales)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }
    tx.commit().await?;
    Ok(queued)
}

pub(super) async fn broadcast_status(pool: &PgPool, campaign_id: i64) -> Result<BroadcastStatus> {
    super::rules::campaign(pool, campaign_id).await?;
    let counts: Vec<(String, i64)> = sqlx::query_as(
        "SELECT status, COUNT(*) FROM outbox WHERE campaign_id = $1 GROUP BY status",
    )
    .bind(campaign_id)
    .fetch_all(pool)
    .await?;
    Ok(status_from_counts(&counts))
}

pub(super) async fn claim_notices(
    pool: &PgPool,
    channel: Channel,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: i64,
    batches: i64,
    marketing: bool,
) -> Result<Vec<OutboxItem>> {
    const DUE: &str = "status = 'queued' AND channel = $5 AND due_at <= $1 \
        AND (lease_until IS NULL OR lease_until <= $1) AND (NOT marketing OR $3)";
    let mut tx = pool.begin().await?;
    let mut ids: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "UPDATE outbox SET lease_until = $2 WHERE id IN (SELECT id FROM outbox WHERE {DUE} \
         AND batch_key IS NULL ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED) RETURNING id"
    )))
    .bind(now)
    .bind(lease_until)
    .bind(marketing)
    .bind(limit)
    .bind(channel_name(channel))
    .fetch_all(&mut *tx)
    .await?;
    if batches > 0 {
        // Whole chunks: every queued row of each chunk whose first row is free.
        let batch_ids: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "UPDATE outbox SET lease_until = $2 WHERE status = 'queued' AND batch_key IN \
             (SELECT batch_key FROM outbox WHERE {DUE} AND batch_key IS NOT NULL \
              ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED) RETURNING id"
        )))
        .bind(now)
        .bind(lease_until)
        .bind(marketing)
        .bind(batches)
        .bind(channel_name(channel))
        .fetch_all(&mut *tx)
        .await?;
        ids.extend(batch_ids);
    }
    let rows: Vec<OutboxRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{OUTBOX_COLUMNS} WHERE o.id = ANY($1) ORDER BY o.id"
    )))
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    rows.into_iter().map(OutboxItem::try_from).collect()
}

pub(super) async fn finish_notices(
    pool: &PgPool,
    ids: &[i64],
    outcome: &Outcome,
    now: DateTime<Utc>,
) -> Result<()> {
    match outcome {
        Outcome::Retry(error) => {
            // Backoff by attempt: 5 s doubling (see domain::notice::backoff).
            let delays: Vec<f64> = (0..MAX_ATTEMPTS)
                .map(|a| backoff(a).num_milliseconds() as f64 / 1000.0)
                .collect();
            sqlx::query(
                "UPDATE outbox SET attempts = attempts + 1, lease_until = NULL, last_error = $3, \
                 status = CASE WHEN attempts + 1 >= $4 THEN 'failed' ELSE 'queued' END, \
                 due_at = $2 + make_interval(secs => ($5::FLOAT8[])[LEAST(attempts, $4 - 1) + 1]) \
                 WHERE id = ANY($1)",
            )
            .bind(ids)
            .bind(now)
            .bind(error)
            .bind(MAX_ATTEMPTS)
            .bind(&delays)
            .execute(pool)
            .await?;
        }
        other => {
            let (status, error) = finished(other);
            sqlx::query(
                "UPDATE outbox SET status = $2, attempts = attempts + 1, lease_until = NULL, \
                 last_error = $3, sent_at = CASE WHEN $2 = 'sent' THEN $4 END WHERE id = ANY($1)",
            )
            .bind(ids)
            .bind(status)
            .bind(error)
            .bind(now)
            .execute(pool)
            .await?;
        }
    }
    Ok(())
}

pub(super) async fn notices(
    pool: &PgPool,
    member_id: i64,
) -> Result<Vec<(String, String, String)>> {
    Ok(sqlx::query_as(
        "SELECT kind, channel, status FROM outbox WHERE member_id = $1 ORDER BY id DESC",
    )
    .bind(member_id)
    .fetch_all(pool)
    .await?)
}
