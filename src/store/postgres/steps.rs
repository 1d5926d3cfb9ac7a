//! The steps PostgreSQL does its own way: fused statements (a purchase and its
//! credit in one round trip), arrays instead of loops, row locks in the fixed
//! order (members, then campaigns) and `SKIP LOCKED` for the outbox, where
//! several instances run workers at once.

use chrono::{DateTime, Utc};

use super::tx::PgTx;
use crate::domain::Points;
use crate::domain::campaign::Campaign;
use crate::domain::ledger::{self, Allocation};
use crate::domain::model::*;
use crate::domain::notice::{BroadcastRow, MAX_ATTEMPTS, Notice, OutboxItem, Outcome, backoff};
use crate::domain::purchase::Buyer;
use crate::domain::tier::window_start;
use crate::store::ops::ledger::lot_values;
use crate::store::ops::outbox::{Claim, DUE};
use crate::store::ops::outbox::{notice_sql, notify};
use crate::store::ops::purchases::{insert_purchase, purchase_args};
use crate::store::ops::rules::{
    BUYER, BuyerRow, History, TIER_MOVE, buyer, receipt_facts, tier_move_values,
};
use crate::store::ops::spend::{SpendMove, rolling_spend, spend_move_sql};
use crate::store::ops::{Award, NewPurchase, Steps};
use crate::store::rows::*;
use crate::store::sql::{Tx, Value, args};
use crate::store::{Result, StoreError};

/// [`INSERT_PURCHASE`](crate::store::ops::purchases) and, when it inserted, the
/// member's credit: a lot of $17 points (what is left after any debt) expiring at
/// $18, the balance and the entry; the member's kept spend becomes $19 in $21
/// after $20.
const PURCHASE_AND_CREDIT: &str = "WITH p AS (INSERT INTO purchases (merchant_id, receipt_id, \
    fingerprint, member_id, amount_minor, currency, occurred_at, items, points, breakdown, \
    balance_after, available_at, claim_code, claim_expires_at, referral_points, created_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
    ON CONFLICT (merchant_id, receipt_id) DO NOTHING RETURNING id), \
    lot AS (INSERT INTO lots (member_id, points, remaining, earned_at, available_at, expires_at, \
    merchant_id, purchase_id) SELECT $4, $9, $17, $16, $12, $18, $1, p.id FROM p RETURNING id), \
    m AS (UPDATE members SET balance = balance + $9, spend_minor = $19, spend_since = $20, \
    spend_currency = $21 WHERE id = $4 AND EXISTS (SELECT 1 FROM p) RETURNING balance), \
    e AS (INSERT INTO entries (member_id, kind, points, balance_after, merchant_id, purchase_id, \
    lot_id, reference, created_at) SELECT $4, 'earn', $9, m.balance, $1, p.id, lot.id, $2, $16 \
    FROM p, lot, m) \
    SELECT id FROM p";

/// [`PURCHASE_AND_CREDIT`] (or the plain insert when nothing is credited).
async fn insert_one(tx: &mut PgTx<'_>, p: &NewPurchase<'_>) -> Result<Option<i64>> {
    let mut values = purchase_args(p);
    let Some((_, points, before)) = p.credit else {
        // Nothing credited: the plain insert (and the buyer's kept spend).
        return insert_purchase(tx, p).await;
    };
    let spend = (p.spend).ok_or_else(|| StoreError::Corrupt("a credit without a buyer".into()))?;
    let into_lot = ledger::credit_to_lots(Points::new(before), Points::new(points));
    values.push(Value::from(into_lot.value()));
    values.push(Value::from(p.cmd.timing.expires_at));
    values.push(Value::from(spend.minor));
    values.push(Value::from(spend.since));
    values.push(Value::from(spend.currency));
    Ok(tx
        .opt::<(i64,)>(PURCHASE_AND_CREDIT, &values)
        .await?
        .map(|(id,)| id))
}

/// Purchases (of distinct members and receipts) and their credits, as
/// [`PURCHASE_AND_CREDIT`] does for one, in one statement of arrays.
const PURCHASES_AND_CREDITS: &str = "WITH i AS (SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], \
    $3::TEXT[], $4::BIGINT[], $5::BIGINT[], $6::TEXT[], $7::TIMESTAMPTZ[], $8::TEXT[], \
    $9::BIGINT[], $10::TEXT[], $11::BIGINT[], $12::TIMESTAMPTZ[], $13::TEXT[], \
    $14::TIMESTAMPTZ[], $15::BIGINT[], $16::TIMESTAMPTZ[], $17::BIGINT[], $18::TIMESTAMPTZ[], \
    $19::BIGINT[], $20::TIMESTAMPTZ[], $21::TEXT[]) \
    AS i (merchant_id, receipt_id, fingerprint, member_id, amount_minor, currency, \
    occurred_at, items, points, breakdown, balance_after, available_at, claim_code, \
    claim_expires_at, referral_points, created_at, into_lot, expires_at, spend_minor, \
    spend_since, spend_currency)), \
    p AS (INSERT INTO purchases (merchant_id, receipt_id, fingerprint, member_id, \
    amount_minor, currency, occurred_at, items, points, breakdown, balance_after, \
    available_at, claim_code, claim_expires_at, referral_points, created_at) \
    SELECT merchant_id, receipt_id, fingerprint, member_id, amount_minor, currency, \
    occurred_at, items, points, breakdown, balance_after, available_at, claim_code, \
    claim_expires_at, referral_points, created_at FROM i \
    ON CONFLICT (merchant_id, receipt_id) DO NOTHING RETURNING id, merchant_id, receipt_id), \
    b AS (SELECT p.id, i.* FROM p JOIN i USING (merchant_id, receipt_id) \
    WHERE i.member_id IS NOT NULL), \
    c AS (SELECT * FROM b WHERE into_lot IS NOT NULL), \
    lot AS (INSERT INTO lots (member_id, points, remaining, earned_at, available_at, \
    expires_at, merchant_id, purchase_id) SELECT member_id, points, into_lot, created_at, \
    available_at, expires_at, merchant_id, id FROM c RETURNING id, purchase_id), \
    m AS (UPDATE members SET balance = members.balance \
    + CASE WHEN b.into_lot IS NULL THEN 0 ELSE b.points END, spend_minor = b.spend_minor, \
    spend_since = b.spend_since, spend_currency = b.spend_currency FROM b \
    WHERE members.id = b.member_id RETURNING members.id, members.balance), \
    e AS (INSERT INTO entries (member_id, kind, points, balance_after, merchant_id, \
    purchase_id, lot_id, reference, created_at) SELECT c.member_id, 'earn', c.points, \
    m.balance, c.merchant_id, c.id, lot.id, c.receipt_id, c.created_at \
    FROM c JOIN m ON m.id = c.member_id JOIN lot ON lot.purchase_id = c.id) \
    SELECT merchant_id, receipt_id, id FROM p";

async fn insert_many(tx: &mut PgTx<'_>, ps: &[NewPurchase<'_>]) -> Result<Vec<Option<i64>>> {
    let into_lot: Vec<Option<i64>> = (ps.iter())
        .map(|p| {
            p.credit.map(|(_, points, before)| {
                ledger::credit_to_lots(Points::new(before), Points::new(points)).value()
            })
        })
        .collect();
    let rows: Vec<(String, String, i64)> = sqlx::query_as(PURCHASES_AND_CREDITS)
        .bind(
            ps.iter()
                .map(|p| p.cmd.merchant_id.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            ps.iter()
                .map(|p| p.cmd.receipt_id.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            ps.iter()
                .map(|p| p.cmd.fingerprint.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(ps.iter().map(|p| p.member_id).collect::<Vec<_>>())
        .bind(ps.iter().map(|p| p.cmd.amount.minor()).collect::<Vec<_>>())
        .bind(
            ps.iter()
                .map(|p| p.cmd.amount.currency_code())
                .collect::<Vec<_>>(),
        )
        .bind(ps.iter().map(|p| p.cmd.occurred_at).collect::<Vec<_>>())
        .bind(
            ps.iter()
                .map(|p| p.cmd.items_json.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(ps.iter().map(|p| p.points).collect::<Vec<_>>())
        .bind(ps.iter().map(|p| p.breakdown).collect::<Vec<_>>())
        .bind(ps.iter().map(|p| p.balance_after).collect::<Vec<_>>())
        .bind(
            ps.iter()
                .map(|p| p.cmd.timing.available_at)
                .collect::<Vec<_>>(),
        )
        .bind(ps.iter().map(|p| p.claim.map(|c| c.0)).collect::<Vec<_>>())
        .bind(ps.iter().map(|p| p.claim.map(|c| c.1)).collect::<Vec<_>>())
        .bind(ps.iter().map(|p| p.referral_points).collect::<Vec<_>>())
        .bind(ps.iter().map(|p| p.cmd.now).collect::<Vec<_>>())
        .bind(into_lot)
        .bind(
            ps.iter()
                .map(|p| p.cmd.timing.expires_at)
                .collect::<Vec<_>>(),
        )
        .bind(
            ps.iter()
                .map(|p| p.spend.map(|s| s.minor))
                .collect::<Vec<_>>(),
        )
        .bind(
            ps.iter()
                .map(|p| p.spend.map(|s| s.since))
                .collect::<Vec<_>>(),
        )
        .bind(
            ps.iter()
                .map(|p| p.spend.map(|s| s.currency))
                .collect::<Vec<_>>(),
        )
        .fetch_all(&mut *tx.0)
        .await?;
    Ok(ps
        .iter()
        .map(|p| {
            (rows.iter())
                .find(|r| r.0 == p.cmd.merchant_id && r.1 == p.cmd.receipt_id)
                .map(|r| r.2)
        })
        .collect())
}

/// An entry appended and the member's balance moved ($1 … $9, see
/// [`entry_values`]), as the common table expression `e` (its id and the
/// balance after), followed by `$rest`: one string, built at compile time.
macro_rules! append_then {
    ($rest:literal) => {
        concat!(
            "WITH m AS (UPDATE members SET balance = balance + $3 WHERE id = $1 \
             RETURNING balance), \
             e AS (INSERT INTO entries (member_id, kind, points, balance_after, merchant_id, \
             purchase_id, voucher_id, lot_id, reference, created_at) \
             SELECT $1, $2, $3, m.balance, $4, $5, $6, $7, $8, $9 FROM m \
             RETURNING id, balance_after)",
            $rest
        )
    };
}

fn entry_values<'a>(e: &NewEntry<'a>) -> Vec<Value<'a>> {
    vec![
        Value::from(e.member_id),
        Value::from(e.kind.as_str()),
        Value::from(e.points),
        Value::from(e.merchant_id),
        Value::from(e.purchase_id),
        Value::from(e.voucher_id),
        Value::from(e.lot_id),
        Value::from(e.reference),
        Value::from(e.now),
    ]
}

impl Steps for PgTx<'_> {
    /// One statement; the balance comes from the row (locked by the caller).
    async fn append(&mut self, e: &NewEntry<'_>, _before: i64) -> Result<(i64, i64)> {
        let sql = append_then!(" SELECT id, balance_after FROM e");
        self.one(sql, &entry_values(e), "member").await
    }

    /// A debit from one lot (the usual case): the entry, the balance, the lot
    /// and the record of it in one statement. From several, the plain steps:
    /// with arrays the planner expects a hundred lots, finds a generic plan
    /// dearer than one made for the values, and plans the statement anew on
    /// every call (about 0.3 ms, more than the round trips it saves).
    async fn debit(
        &mut self,
        e: &NewEntry<'_>,
        before: i64,
        plan: &[Allocation],
    ) -> Result<(i64, i64)> {
        let [one] = plan else {
            return crate::store::ops::ledger::debit(self, e, before, plan).await;
        };
        let mut values = entry_values(e);
        values.extend([Value::from(one.lot_id), Value::from(one.points)]);
        let sql = append_then!(
            ", \
             u AS (UPDATE lots SET remaining = remaining - $11 WHERE id = $10), \
             el AS (INSERT INTO entry_lots (entry_id, lot_id, points) SELECT e.id, $10, $11 FROM e) \
             SELECT id, balance_after FROM e"
        );
        self.one(sql, &values, "member").await
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

    /// Every buyer in one statement, locked in id order. Each code is looked
    /// up on its own (`LATERAL … LIMIT 1`), then each id locked in turn: with
    /// `code = ANY($1)` the planner chose to read the whole table when it is
    /// small, and every version of every row in it.
    async fn buyers(&mut self, codes: &[&str], lock: bool) -> Result<Vec<Buyer>> {
        let codes: Vec<String> = codes.iter().map(|c| c.to_string()).collect();
        let sql = format!(
            "WITH f AS MATERIALIZED (SELECT f.id FROM UNNEST($1::TEXT[]) AS c (code), \
             LATERAL (SELECT id FROM members WHERE code = c.code LIMIT 1) AS f ORDER BY f.id) \
             SELECT b.* FROM f, LATERAL ({BUYER} WHERE id = f.id LIMIT 1{}) AS b",
            if lock { Self::FOR_UPDATE } else { "" }
        );
        let rows: Vec<BuyerRow> = self.all(&sql, args![&codes[..]]).await?;
        Ok(rows.into_iter().map(buyer).collect())
    }

    /// Every purchase's history and the running campaigns (as JSON, once) in
    /// one round trip.
    async fn histories(
        &mut self,
        member_ids: &[Option<i64>],
        cmds: &[&PurchaseCommand],
    ) -> Result<Vec<History>> {
        type Row = (bool, i64, i64, i64, bool, bool, Option<String>);
        let sql = format!(
            "SELECT (SELECT 1 FROM purchases WHERE member_id = i.m LIMIT 1) IS NOT NULL, {}, \
             (SELECT settings_version FROM program WHERE id = 1), {}, \
             (SELECT 1 FROM purchases WHERE merchant_id = i.merchant \
              AND receipt_id = i.receipt LIMIT 1) IS NOT NULL, \
             CASE WHEN i.n = 1 THEN (SELECT COALESCE(json_agg(c ORDER BY c.id), '[]')::TEXT \
              FROM campaigns c WHERE c.ends_at > $6 AND c.starts_at <= $7) END \
             FROM UNNEST($1::BIGINT[], $2::TIMESTAMPTZ[], $3::TEXT[], $4::TEXT[], $5::TEXT[]) \
             WITH ORDINALITY AS i (m, since, currency, merchant, receipt, n) ORDER BY i.n",
            rolling_spend("i.m", "i.since", "i.currency"),
            receipt_facts("i.merchant", "i.receipt")
        );
        let since: Vec<DateTime<Utc>> = cmds.iter().map(|c| window_start(c.now)).collect();
        let currency: Vec<&str> = cmds.iter().map(|c| c.rules.currency.code()).collect();
        let merchant: Vec<&str> = cmds.iter().map(|c| c.merchant_id.as_str()).collect();
        let receipt: Vec<&str> = cmds.iter().map(|c| c.receipt_id.as_str()).collect();
        let first = cmds.iter().map(|c| c.occurred_at).min();
        let last = cmds.iter().map(|c| c.occurred_at).max();
        let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(member_ids)
            .bind(since)
            .bind(currency)
            .bind(merchant)
            .bind(receipt)
            .bind(first)
            .bind(last)
            .fetch_all(&mut *self.0)
            .await?;
        let campaigns: Vec<CampaignRow> = match rows.first().and_then(|r| r.6.as_deref()) {
            Some(json) => serde_json::from_str(json)
                .map_err(|e| StoreError::Corrupt(format!("campaigns as JSON: {e}")))?,
            None => Vec::new(),
        };
        Ok(rows
            .into_iter()
            .zip(cmds)
            .map(|(row, cmd)| {
                let (has_purchases, spend, settings_version, paid_with_points, prepaid, seen, _) =
                    row;
                History {
                    has_purchases,
                    spend,
                    settings_version,
                    paid_with_points,
                    prepaid,
                    seen,
                    campaigns: (campaigns.iter())
                        .filter(|c| c.ends_at > cmd.occurred_at && c.starts_at <= cmd.occurred_at)
                        .cloned()
                        .collect(),
                }
            })
            .collect())
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

    /// A purchase and its credit in one statement; several in one statement
    /// of arrays.
    async fn insert_purchases(&mut self, ps: &[NewPurchase<'_>]) -> Result<Vec<Option<i64>>> {
        match ps {
            [] => Ok(Vec::new()),
            [p] => Ok(vec![insert_one(self, p).await?]),
            _ => insert_many(self, ps).await,
        }
    }

    /// The purchase's update and the member's kept spend in one statement.
    async fn update_purchase(
        &mut self,
        sql: &str,
        values: &[Value<'_>],
        spend: Option<&SpendMove<'_>>,
    ) -> Result<()> {
        let Some(m) = spend.filter(|m| m.delta != 0) else {
            self.exec(sql, values).await?;
            return Ok(());
        };
        let fused = format!("WITH u AS ({sql}) {}", spend_move_sql(values.len() + 1));
        let mut all = values.to_vec();
        all.extend(m.values());
        self.exec(&fused, &all).await?;
        Ok(())
    }

    /// The member's tier, the move's record and its notice in one statement.
    async fn move_tier(&mut self, change: &TierChange, notice: &Notice) -> Result<()> {
        let sql = format!(
            "WITH m AS (UPDATE members SET tier = $3, tier_since = $6 WHERE id = $1), \
             t AS ({TIER_MOVE}) {}",
            notice_sql!("$1", "$7", "$8", "$6")
        );
        let payload = notice.to_json();
        let mut values = tier_move_values(change);
        values.push(Value::from(notice.kind()));
        values.push(Value::from(payload.as_str()));
        self.exec(&sql, &values).await?;
        Ok(())
    }

    /// The campaigns' rows locked in id order (the budgeted ones are locked
    /// already, first), then all awards in one statement.
    async fn record_awards(&mut self, awards: &[Award]) -> Result<()> {
        if awards.is_empty() {
            return Ok(());
        }
        let mut campaigns: Vec<i64> = awards.iter().map(|a| a.campaign_id).collect();
        campaigns.sort_unstable();
        campaigns.dedup();
        // One campaign's row needs no order; several are locked in id order.
        if campaigns.len() > 1 {
            self.exec(
                "SELECT 1 FROM campaigns WHERE id = ANY($1) AND budget IS NULL ORDER BY id \
                 FOR UPDATE",
                args![&campaigns[..]],
            )
            .await?;
        }
        sqlx::query(
            "WITH a AS (SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::BIGINT[], \
             $4::BIGINT[], $5::TIMESTAMPTZ[]) AS a (campaign_id, purchase_id, member_id, points, at)), \
             u AS (UPDATE campaigns c SET awarded = c.awarded + s.points \
             FROM (SELECT campaign_id, SUM(points)::BIGINT AS points FROM a GROUP BY campaign_id) s \
             WHERE c.id = s.campaign_id) \
             INSERT INTO campaign_awards (campaign_id, purchase_id, member_id, points, created_at) \
             SELECT campaign_id, purchase_id, member_id, points, at FROM a",
        )
        .bind(awards.iter().map(|a| a.campaign_id).collect::<Vec<_>>())
        .bind(awards.iter().map(|a| a.purchase_id).collect::<Vec<_>>())
        .bind(awards.iter().map(|a| a.member_id).collect::<Vec<_>>())
        .bind(awards.iter().map(|a| a.points).collect::<Vec<_>>())
        .bind(awards.iter().map(|a| a.at).collect::<Vec<_>>())
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    /// All notices in one statement.
    async fn notify_all(&mut self, notices: &[(i64, Notice, DateTime<Utc>)]) -> Result<()> {
        match notices {
            [] => Ok(()),
            [(member_id, notice, at)] => notify(self, *member_id, notice, *at).await,
            _ => {
                sqlx::query(
                    "INSERT INTO outbox (member_id, channel, kind, payload, due_at, created_at) \
                     SELECT m.id, CASE WHEN m.telegram_id IS NOT NULL AND m.telegram_reachable \
                     THEN 'telegram' ELSE 'line' END, n.kind, n.payload, n.at, n.at \
                     FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::TIMESTAMPTZ[]) \
                     WITH ORDINALITY AS n (member_id, kind, payload, at, k) \
                     JOIN members m ON m.id = n.member_id \
                     WHERE (m.telegram_id IS NOT NULL AND m.telegram_reachable) \
                     OR (m.line_id IS NOT NULL AND m.line_reachable) ORDER BY n.k",
                )
                .bind(notices.iter().map(|n| n.0).collect::<Vec<_>>())
                .bind(notices.iter().map(|n| n.1.kind()).collect::<Vec<_>>())
                .bind(notices.iter().map(|n| n.1.to_json()).collect::<Vec<_>>())
                .bind(notices.iter().map(|n| n.2).collect::<Vec<_>>())
                .execute(&mut *self.0)
                .await?;
                Ok(())
            }
        }
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
