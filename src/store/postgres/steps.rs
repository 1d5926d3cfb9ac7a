//! The steps PostgreSQL does its own way: fused statements (a purchase and its
//! credit in one round trip), arrays instead of loops, row locks in the fixed
//! order (members, then campaigns) and `SKIP LOCKED` for the outbox, where
//! several instances run workers at once.

use chrono::{DateTime, Utc};

use super::tx::PgTx;
use crate::domain::Points;
use crate::domain::campaign::Campaign;
use crate::domain::ledger;
use crate::domain::model::*;
use crate::domain::notice::{BroadcastRow, MAX_ATTEMPTS, Notice, OutboxItem, Outcome, backoff};
use crate::domain::tier::window_start;
use crate::store::ops::ledger::lot_values;
use crate::store::ops::outbox::{Claim, DUE};
use crate::store::ops::purchases::{INSERT_PURCHASE, purchase_args};
use crate::store::ops::rules::{History, TIER_MOVE, tier_move_values};
use crate::store::ops::{NewPurchase, Steps};
use crate::store::rows::*;
use crate::store::sql::{Tx, Value, args};
use crate::store::{Result, StoreError};

/// [`INSERT_PURCHASE`](crate::store::ops::purchases) and, when it inserted, the
/// member's credit: a lot of $17 points (what is left after any debt) expiring at
/// $18, the balance and the entry.
const PURCHASE_AND_CREDIT: &str = "WITH p AS (INSERT INTO purchases (merchant_id, receipt_id, \
    fingerprint, member_id, amount_minor, currency, occurred_at, items, points, breakdown, \
    balance_after, available_at, claim_code, claim_expires_at, referral_points, created_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
    ON CONFLICT (merchant_id, receipt_id) DO NOTHING RETURNING id), \
    lot AS (INSERT INTO lots (member_id, points, remaining, earned_at, available_at, expires_at, \
    merchant_id, purchase_id) SELECT $4, $9, $17, $16, $12, $18, $1, p.id FROM p RETURNING id), \
    m AS (UPDATE members SET balance = balance + $9 WHERE id = $4 AND EXISTS (SELECT 1 FROM p) \
    RETURNING balance), \
    e AS (INSERT INTO entries (member_id, kind, points, balance_after, merchant_id, purchase_id, \
    lot_id, reference, created_at) SELECT $4, 'earn', $9, m.balance, $1, p.id, lot.id, $2, $16 \
    FROM p, lot, m) \
    SELECT id FROM p";

impl Steps for PgTx<'_> {
    /// One statement; the balance comes from the row (locked by the caller).
    async fn append(&mut self, e: &NewEntry<'_>, _before: i64) -> Result<(i64, i64)> {
        self.one(
            "WITH m AS (UPDATE members SET balance = balance + $3 WHERE id = $1 \
             RETURNING balance) \
             INSERT INTO entries (member_id, kind, points, balance_after, merchant_id, \
             purchase_id, voucher_id, lot_id, reference, created_at) \
             SELECT $1, $2, $3, m.balance, $4, $5, $6, $7, $8, $9 FROM m \
             RETURNING id, balance_after",
            args![
                e.member_id,
                e.kind.as_str(),
                e.points,
                e.merchant_id,
                e.purchase_id,
                e.voucher_id,
                e.lot_id,
                e.reference,
                e.now
            ],
            "member",
        )
        .await
    }

    /// The lot, the entry and the balance in one statement.
    async fn credit(
        &mut self,
        e: NewEntry<'_>,
        before: i64,
        timing: LotTiming,
    ) -> Result<(i64, i64)> {
        let mut values = lot_values(&e, before, timing);
        values.extend([Value::from(e.kind.as_str()), Value::from(e.reference)]);
        self.one(
            "WITH lot AS (INSERT INTO lots (member_id, points, remaining, earned_at, \
             available_at, expires_at, merchant_id, purchase_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id), \
             m AS (UPDATE members SET balance = balance + $2 WHERE id = $1 RETURNING balance) \
             INSERT INTO entries (member_id, kind, points, balance_after, merchant_id, \
             purchase_id, lot_id, reference, created_at) \
             SELECT $1, $9, $2, m.balance, $7, $8, lot.id, $10, $4 FROM m, lot \
             RETURNING id, balance_after",
            &values,
            "member",
        )
        .await
    }

    /// The buyer's history and the running campaigns (as JSON) in one round trip.
    async fn history(&mut self, member_id: Option<i64>, cmd: &PurchaseCommand) -> Result<History> {
        type Row = (bool, i64, String, i64, i64, bool);
        let (has_purchases, spend, campaigns, settings_version, paid_with_points, prepaid): Row =
            self.one(
                &format!(
                    "SELECT EXISTS (SELECT 1 FROM purchases WHERE member_id = $1), \
                     (SELECT COALESCE(SUM(amount_minor - refunded_minor), 0)::BIGINT \
                      FROM purchases WHERE member_id = $1 AND occurred_at > $2 AND currency = $3), \
                     (SELECT COALESCE(json_agg(c ORDER BY c.id), '[]')::TEXT FROM campaigns c \
                      WHERE c.ends_at > $4 AND c.starts_at <= $4), \
                     (SELECT settings_version FROM program WHERE id = 1), {}, {}",
                    crate::store::ops::rules::paid_with_points(5),
                    crate::store::ops::rules::prepaid(5),
                ),
                args![
                    member_id,
                    window_start(cmd.now),
                    cmd.rules.currency.code(),
                    cmd.occurred_at,
                    &cmd.merchant_id,
                    &cmd.receipt_id
                ],
                "program",
            )
            .await?;
        Ok(History {
            has_purchases,
            spend,
            paid_with_points,
            prepaid,
            settings_version,
            campaigns: serde_json::from_str(&campaigns)
                .map_err(|e| StoreError::Corrupt(format!("campaigns as JSON: {e}")))?,
        })
    }

    /// Locks the budgeted campaigns' rows in id order (after the members').
    async fn lock_budgets(&mut self, campaigns: &mut [Campaign]) -> Result<()> {
        let budgeted: Vec<i64> = campaigns
            .iter()
            .filter(|c| c.budget.is_some())
            .map(|c| c.id)
            .collect();
        if budgeted.is_empty() {
            return Ok(());
        }
        let locked: Vec<(i64, i64)> = self
            .all(
                "SELECT id, awarded FROM campaigns WHERE id = ANY($1) ORDER BY id FOR UPDATE",
                args![&budgeted[..]],
            )
            .await?;
        for (id, awarded) in locked {
            if let Some(c) = campaigns.iter_mut().find(|c| c.id == id) {
                c.awarded = awarded;
            }
        }
        Ok(())
    }

    /// All campaigns in one statement.
    async fn member_use(&mut self, member_id: i64, ids: &[i64]) -> Result<Vec<(i64, i64)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.all(
            "SELECT campaign_id, SUM(points)::BIGINT FROM campaign_awards \
             WHERE member_id = $1 AND campaign_id = ANY($2) GROUP BY campaign_id",
            args![member_id, ids],
        )
        .await
    }

    /// The purchase and its credit in one statement.
    async fn insert_purchase(&mut self, p: &NewPurchase<'_>) -> Result<Option<i64>> {
        let mut values = purchase_args(p);
        let Some((_, points, before)) = p.credit else {
            return self.try_insert(INSERT_PURCHASE, &values).await;
        };
        let into_lot = ledger::credit_to_lots(Points::new(before), Points::new(points));
        values.push(Value::from(into_lot.value()));
        values.push(Value::from(p.cmd.timing.expires_at));
        Ok(self
            .opt::<(i64,)>(PURCHASE_AND_CREDIT, &values)
            .await?
            .map(|(id,)| id))
    }

    /// The member's tier and the move's record in one statement.
    async fn move_tier(&mut self, change: &TierChange) -> Result<()> {
        let sql = format!(
            "WITH m AS (UPDATE members SET tier = $3, tier_since = $6 WHERE id = $1) {TIER_MOVE}"
        );
        self.exec(&sql, &tier_move_values(change)).await?;
        Ok(())
    }

    /// All awards in one statement.
    async fn record_awards(
        &mut self,
        purchase_id: i64,
        member_id: Option<i64>,
        awards: &[(i64, Points)],
        now: DateTime<Utc>,
    ) -> Result<()> {
        if awards.is_empty() {
            return Ok(());
        }
        let ids: Vec<i64> = awards.iter().map(|a| a.0).collect();
        let points: Vec<i64> = awards.iter().map(|a| a.1.value()).collect();
        self.exec(
            "WITH a AS (SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[]) AS a (id, points)), \
             u AS (UPDATE campaigns c SET awarded = c.awarded + a.points FROM a \
             WHERE c.id = a.id) \
             INSERT INTO campaign_awards (campaign_id, purchase_id, member_id, points, \
             created_at) SELECT a.id, $3, $4, a.points, $5 FROM a",
            args![&ids[..], &points[..], purchase_id, member_id, now],
        )
        .await?;
        Ok(())
    }

    /// The lots are marked first, under their row locks: two instances running
    /// the sweep at once remind each lot once.
    async fn mark_expiring(
        &mut self,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<(i64, i64, DateTime<Utc>)>> {
        self.all(
            "WITH marked AS (UPDATE lots SET reminded_at = $1 WHERE id IN \
             (SELECT id FROM lots WHERE remaining > 0 AND reminded_at IS NULL \
              AND expires_at > $1 AND expires_at <= $2 FOR UPDATE SKIP LOCKED) \
             RETURNING member_id, remaining, expires_at) \
             SELECT member_id, SUM(remaining)::BIGINT, MIN(expires_at) FROM marked \
             GROUP BY member_id",
            args![now, until],
        )
        .await
    }

    /// A thousand rows per statement.
    async fn queue_broadcast(
        &mut self,
        campaign_id: i64,
        rows: &[BroadcastRow],
        now: DateTime<Utc>,
    ) -> Result<u64> {
        let payload = Notice::Broadcast { campaign_id }.to_json();
        let mut queued = 0;
        for chunk in rows.chunks(1000) {
            let members: Vec<i64> = chunk.iter().map(|r| r.member_id).collect();
            let column = |f: &dyn Fn(&BroadcastRow) -> Option<String>| -> Vec<String> {
                chunk.iter().map(|r| f(r).unwrap_or_default()).collect()
            };
            let channels = column(&|r| Some(channel_name(r.channel).to_string()));
            let keys = column(&|r| Some(broadcast_key(campaign_id, r)));
            let batches = column(&|r| r.batch_key.clone());
            let locales = column(&|r| r.locale.clone());
            queued += self
                .exec(
                    "INSERT INTO outbox (member_id, channel, kind, marketing, campaign_id, \
                     payload, dedupe_key, due_at, batch_key, locale, created_at) \
                     SELECT m, c, 'broadcast', TRUE, $1, $2, k, $3, NULLIF(b, ''), \
                     NULLIF(l, ''), $3 \
                     FROM UNNEST($4::BIGINT[], $5::TEXT[], $6::TEXT[], $7::TEXT[], $8::TEXT[]) \
                     AS r (m, c, k, b, l) ON CONFLICT (dedupe_key) DO NOTHING",
                    args![
                        campaign_id,
                        payload.as_str(),
                        now,
                        &members[..],
                        &channels[..],
                        &keys[..],
                        &batches[..],
                        &locales[..]
                    ],
                )
                .await?;
        }
        Ok(queued)
    }

    /// Leases rows nobody else holds (`SKIP LOCKED`): singles, then whole chunks.
    async fn claim_notices(&mut self, c: &Claim) -> Result<Vec<OutboxItem>> {
        let channel = channel_name(c.channel);
        let mut ids: Vec<(i64,)> = self
            .all(
                &format!(
                    "UPDATE outbox SET lease_until = $5 WHERE id IN (SELECT id FROM outbox \
                     WHERE {DUE} AND batch_key IS NULL ORDER BY id LIMIT $4 \
                     FOR UPDATE SKIP LOCKED) RETURNING id"
                ),
                args![c.now, c.marketing, channel, c.limit, c.lease_until],
            )
            .await?;
        if c.batches > 0 {
            // Whole chunks: every queued row of each chunk with a row due and
            // free. The chunks are picked once, before any row is leased: as a
            // sub-select of the UPDATE, PostgreSQL may run the pick again for
            // each row, and then no longer sees the rows this statement has
            // just leased, so a chunk whose rows are due at different times
            // (retries are jittered row by row) went out piece by piece, and
            // LINE took the later pieces, sent under the chunk's retry key
            // again, for repeats (409) and delivered nothing.
            ids.extend(
                self.all::<(i64,)>(
                    &format!(
                        "WITH picked AS MATERIALIZED (SELECT batch_key FROM outbox WHERE {DUE} \
                         AND batch_key IS NOT NULL ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED) \
                         UPDATE outbox SET lease_until = $5 WHERE status = 'queued' \
                         AND batch_key IN (SELECT batch_key FROM picked) RETURNING id"
                    ),
                    args![c.now, c.marketing, channel, c.batches, c.lease_until],
                )
                .await?,
            );
        }
        let ids: Vec<i64> = ids.into_iter().map(|(id,)| id).collect();
        let rows: Vec<OutboxRow> = self
            .all(
                &format!("{OUTBOX_COLUMNS} WHERE o.id = ANY($1) ORDER BY o.id"),
                args![&ids[..]],
            )
            .await?;
        rows.into_iter().map(OutboxItem::try_from).collect()
    }

    /// All rows in one statement.
    async fn finish_notices(
        &mut self,
        ids: &[i64],
        outcome: &Outcome,
        now: DateTime<Utc>,
    ) -> Result<()> {
        match outcome {
            Outcome::Deferred { until, reason } => {
                self.exec(
                    "UPDATE outbox SET status = 'queued', due_at = $2, lease_until = NULL, \
                     last_error = $3 WHERE id = ANY($1)",
                    args![ids, *until, reason.as_str()],
                )
                .await?;
            }
            Outcome::Retry(error) => {
                // The backoff of each attempt count (see domain::notice::backoff), in
                // whole milliseconds, each row's wait drawn between half of it and
                // all of it (domain::notice::jittered).
                let delays: Vec<i64> = (0..MAX_ATTEMPTS)
                    .map(|a| backoff(a).num_milliseconds())
                    .collect();
                self.exec(
                    "UPDATE outbox SET attempts = attempts + 1, lease_until = NULL, \
                     last_error = $3, \
                     status = CASE WHEN attempts + 1 >= $4 THEN 'failed' ELSE 'queued' END, \
                     due_at = $2 + make_interval(secs => \
                     ($5::BIGINT[])[LEAST(attempts, $4 - 1) + 1] / 1000.0 \
                     * (0.5 + random() / 2)) \
                     WHERE id = ANY($1)",
                    args![ids, now, error.as_str(), MAX_ATTEMPTS, &delays[..]],
                )
                .await?;
            }
            other => {
                let (status, error) = finished(other);
                self.exec(
                    "UPDATE outbox SET status = $2, attempts = attempts + 1, lease_until = NULL, \
                     last_error = $3, sent_at = CASE WHEN $2 = 'sent' THEN $4 END \
                     WHERE id = ANY($1)",
                    args![ids, status, error, now],
                )
                .await?;
            }
        }
        Ok(())
    }
}
