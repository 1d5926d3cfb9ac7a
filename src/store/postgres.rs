//! The shared store: PostgreSQL, for several taem processes on one database.
//!
//! Every operation is one READ COMMITTED transaction from a pool of connections.
//! Operations that move a member's points lock that member's row (`FOR UPDATE`)
//! before they read the balance or the lots, so concurrent operations on the same
//! member run one after the other and see each other's effects. Locks are always
//! taken in the same order, so two operations never wait on each other:
//! purchase row, then member, then voucher, then reward.
//!
//! Idempotency keys are UNIQUE constraints: when two requests with the same key
//! race, the second one's INSERT waits for the first and fails with a unique
//! violation; the operation is then run again, and finds the first one's row.

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};

use super::rows::*;
use super::{Result, Store, StoreError};
use crate::domain::campaign::Campaign;
use crate::domain::earn::Breakdown;
use crate::domain::earn::decide_refund;
use crate::domain::guess::Failures;
use crate::domain::ledger::{self, Allocation, EntryKind, LotView};
use crate::domain::model::*;
use crate::domain::notice::{BroadcastStatus, Notice, OutboxItem, Outcome};
use crate::domain::purchase::*;
use crate::domain::redeem;
use crate::domain::tier::Tiers;
use crate::domain::{ClaimCode, LinkCode, MemberCode, Money, Points, Refusal, VoucherCode};

mod guard;
mod outbox;
mod rules;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

type Tx = Transaction<'static, Postgres>;

/// Names of the UNIQUE constraints that carry idempotency keys (see the migration).
const PURCHASE_KEY: &str = "purchases_receipt_key";
const REFUND_KEY: &str = "refunds_refund_key";
const REDEEM_KEY: &str = "vouchers_request_key";
const MEMBER_CODE_KEY: &str = "members_code_key";

/// How many times an operation runs when it loses an idempotency race (the last
/// run finds the winner's row, so two would do; the third is a margin).
const ATTEMPTS: usize = 3;

pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects and applies migrations (sqlx serialises concurrent migrators with
    /// an advisory lock, so several processes may start at once).
    pub async fn connect(url: &str) -> Result<PgStore> {
        let pool = PgPoolOptions::new()
            .max_connections(32)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(PgStore { pool })
    }

    async fn begin(&self) -> Result<Tx> {
        Ok(self.pool.begin().await?)
    }
}

/// Runs `op`, and runs it again if it lost a race on the idempotency key
/// `constraint`: the new run's lookup then finds the row that won.
async fn retry_on_key<T, F, Fut>(constraint: &str, mut op: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut attempt = 1;
    loop {
        match op().await {
            Err(e) if attempt < ATTEMPTS && violates(&e, constraint) => attempt += 1,
            other => return other,
        }
    }
}

/// Whether `e` is a unique violation of the named constraint.
fn violates(e: &StoreError, constraint: &str) -> bool {
    matches!(e, StoreError::Postgres(sqlx::Error::Database(d))
        if d.is_unique_violation() && d.constraint() == Some(constraint))
}

// ---------------------------------------------------------------------------
// Ledger steps, each inside the caller's transaction.

/// Appends an entry and moves the cached balance with it, in one statement;
/// returns the entry id and the balance after.
async fn append(tx: &mut Tx, e: NewEntry<'_>) -> Result<(i64, i64)> {
    sqlx::query_as(
        "WITH m AS (UPDATE members SET balance = balance + $3 WHERE id = $1 RETURNING balance) \
         INSERT INTO entries (member_id, kind, points, balance_after, merchant_id, purchase_id, \
         voucher_id, lot_id, reference, created_at) \
         SELECT $1, $2, $3, m.balance, $4, $5, $6, $7, $8, $9 FROM m RETURNING id, balance_after",
    )
    .bind(e.member_id)
    .bind(e.kind.as_str())
    .bind(e.points)
    .bind(e.merchant_id)
    .bind(e.purchase_id)
    .bind(e.voucher_id)
    .bind(e.lot_id)
    .bind(e.reference)
    .bind(e.now)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(StoreError::NotFound("member"))
}

async fn member_balance(tx: &mut Tx, member_id: i64) -> Result<i64> {
    sqlx::query_scalar("SELECT balance FROM members WHERE id = $1")
        .bind(member_id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(StoreError::NotFound("member"))
}

/// Credits points that can be spent: a new lot (holding what is left after any
/// debt is repaid), the entry and the balance, in one statement. `before` is the
/// balance read under the member's lock. Returns (entry id, balance after).
async fn credit(
    tx: &mut Tx,
    e: NewEntry<'_>,
    timing: LotTiming,
    before: i64,
) -> Result<(i64, i64)> {
    let into_lot = ledger::credit_to_lots(Points::new(before), Points::new(e.points)).value();
    sqlx::query_as(
        "WITH lot AS (INSERT INTO lots (member_id, points, remaining, earned_at, available_at, \
         expires_at, merchant_id, purchase_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         RETURNING id), \
         m AS (UPDATE members SET balance = balance + $2 WHERE id = $1 RETURNING balance) \
         INSERT INTO entries (member_id, kind, points, balance_after, merchant_id, purchase_id, \
         lot_id, reference, created_at) \
         SELECT $1, $9, $2, m.balance, $7, $8, lot.id, $10, $4 FROM m, lot \
         RETURNING id, balance_after",
    )
    .bind(e.member_id)
    .bind(e.points)
    .bind(into_lot)
    .bind(e.now)
    .bind(timing.available_at)
    .bind(timing.expires_at)
    .bind(e.merchant_id)
    .bind(e.purchase_id)
    .bind(e.kind.as_str())
    .bind(e.reference)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(StoreError::NotFound("member"))
}

async fn live_lots(tx: &mut Tx, member_id: i64, now: DateTime<Utc>) -> Result<Vec<LotView>> {
    let rows: Vec<LotRow> = sqlx::query_as(
        "SELECT id, points, remaining, earned_at, available_at, expires_at, merchant_id \
         FROM lots WHERE member_id = $1 AND remaining > 0 AND expires_at > $2",
    )
    .bind(member_id)
    .bind(now)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.iter().map(LotRow::view).collect())
}

/// Takes the planned points out of their lots and records where they came from.
async fn take_from_lots(tx: &mut Tx, entry_id: i64, plan: &[Allocation]) -> Result<()> {
    for a in plan {
        sqlx::query("UPDATE lots SET remaining = remaining - $1 WHERE id = $2")
            .bind(a.points)
            .bind(a.lot_id)
            .execute(&mut **tx)
            .await?;
        sqlx::query("INSERT INTO entry_lots (entry_id, lot_id, points) VALUES ($1, $2, $3)")
            .bind(entry_id)
            .bind(a.lot_id)
            .bind(a.points)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Gives a voucher's points back to the lots they came from and closes it.
async fn release_voucher(
    tx: &mut Tx,
    v: &VoucherRow,
    status: VoucherStatus,
    now: DateTime<Utc>,
) -> Result<i64> {
    let before = member_balance(tx, v.member_id).await?;
    let taken: Vec<(i64, i64, DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
        "SELECT l.id, el.points, l.available_at, l.expires_at FROM entry_lots el \
         JOIN lots l ON l.id = el.lot_id WHERE el.entry_id = $1",
    )
    .bind(v.redeem_entry_id)
    .fetch_all(&mut **tx)
    .await?;
    let taken: Vec<(LotView, i64)> = taken
        .into_iter()
        .map(|(id, points, available_at, expires_at)| {
            (
                LotView {
                    id,
                    remaining: 0,
                    available_at,
                    expires_at,
                },
                points,
            )
        })
        .collect();
    for a in ledger::plan_release(&taken, Points::new(before), Points::new(v.points)) {
        sqlx::query("UPDATE lots SET remaining = remaining + $1 WHERE id = $2")
            .bind(a.points)
            .bind(a.lot_id)
            .execute(&mut **tx)
            .await?;
    }
    let (_, balance) = append(
        tx,
        NewEntry {
            member_id: v.member_id,
            kind: EntryKind::Release,
            points: v.points,
            merchant_id: None,
            purchase_id: None,
            voucher_id: Some(v.id),
            lot_id: None,
            reference: Some(&v.code),
            now,
        },
    )
    .await?;
    sqlx::query("UPDATE vouchers SET status = $1, closed_at = $2 WHERE id = $3")
        .bind(status.as_str())
        .bind(now)
        .bind(v.id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("UPDATE rewards SET stock = stock + 1 WHERE id = $1 AND stock IS NOT NULL")
        .bind(v.reward_id)
        .execute(&mut **tx)
        .await?;
    Ok(balance)
}

/// Expires a member's lots that are past their expiry: one entry for all of them.
/// Returns (lots expired, points expired).
async fn expire_member_lots(tx: &mut Tx, member_id: i64, now: DateTime<Utc>) -> Result<(u64, i64)> {
    let due: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT id, remaining FROM lots WHERE member_id = $1 AND remaining > 0 \
         AND expires_at <= $2",
    )
    .bind(member_id)
    .bind(now)
    .fetch_all(&mut **tx)
    .await?;
    if due.is_empty() {
        return Ok((0, 0));
    }
    let total: i64 = due.iter().map(|(_, r)| r).sum();
    let (entry_id, _) = append(
        tx,
        NewEntry {
            member_id,
            kind: EntryKind::Expire,
            points: -total,
            merchant_id: None,
            purchase_id: None,
            voucher_id: None,
            lot_id: None,
            reference: None,
            now,
        },
    )
    .await?;
    let plan: Vec<Allocation> = due
        .iter()
        .map(|&(lot_id, points)| Allocation { lot_id, points })
        .collect();
    take_from_lots(tx, entry_id, &plan).await?;
    Ok((due.len() as u64, total))
}

/// Locks a member's row until the transaction ends and returns the balance. Every
/// operation that moves the member's points calls this before reading lots or
/// balance, so such operations on one member never interleave.
async fn lock_member(tx: &mut Tx, member_id: i64) -> Result<i64> {
    sqlx::query_scalar("SELECT balance FROM members WHERE id = $1 FOR UPDATE")
        .bind(member_id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(StoreError::NotFound("member"))
}

/// A voucher's row, locked until the transaction ends (so a use, a cancel and an
/// expiry of the same voucher happen one after the other).
async fn lock_voucher(tx: &mut Tx, code: &VoucherCode) -> Result<VoucherRow> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{VOUCHER_COLUMNS} WHERE code = $1 FOR UPDATE"
    )))
    .bind(code.as_str())
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(StoreError::NotFound("voucher"))
}

/// Locks a purchase's row until the transaction ends, then reads it with its
/// member's code. (Locking in the joined query itself could return a stale member
/// code after waiting on a concurrent claim.)
async fn lock_purchase(tx: &mut Tx, purchase_id: i64) -> Result<PurchaseRow> {
    sqlx::query("SELECT id FROM purchases WHERE id = $1 FOR UPDATE")
        .bind(purchase_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{PURCHASE_COLUMNS} WHERE p.id = $1"
    )))
    .bind(purchase_id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(StoreError::NotFound("purchase"))
}

fn map_unique(e: sqlx::Error, what: &'static str) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            StoreError::IdempotencyConflict(what)
        }
        _ => StoreError::Postgres(e),
    }
}

/// Takes `points` of a refunded purchase back from a member (the buyer, or the
/// referrer it paid; their row already locked), from the purchase's own lot
/// first; a shortfall becomes debt. Returns the member's balance after.
async fn claw_back(
    tx: &mut Tx,
    member_id: i64,
    p: &PurchaseRow,
    points: i64,
    cmd: &RefundCommand,
) -> Result<i64> {
    // Points past their expiry cannot pay a clawback: expire them first, so any
    // shortfall becomes debt and the lots keep matching the balance.
    expire_member_lots(tx, member_id, cmd.now).await?;
    if points == 0 {
        return member_balance(tx, member_id).await;
    }
    let lots = live_lots(tx, member_id, cmd.now).await?;
    let own: Option<i64> =
        sqlx::query_scalar("SELECT id FROM lots WHERE purchase_id = $1 AND member_id = $2")
            .bind(p.id)
            .bind(member_id)
            .fetch_optional(&mut **tx)
            .await?;
    let (plan, _debt) = ledger::plan_clawback(&lots, own, Points::new(points), cmd.now);
    let (entry_id, after) = append(
        tx,
        NewEntry {
            member_id,
            kind: EntryKind::Clawback,
            points: -points,
            merchant_id: Some(&cmd.merchant_id),
            purchase_id: Some(p.id),
            voucher_id: None,
            lot_id: None,
            reference: Some(&cmd.refund_id),
            now: cmd.now,
        },
    )
    .await?;
    take_from_lots(tx, entry_id, &plan).await?;
    Ok(after)
}

/// A stored refund: fingerprint, receipt id, purchase id, points clawed back,
/// balance after and member code.
type RefundRecord = (String, String, i64, i64, Option<i64>, Option<String>);

/// The stored answer for a refund seen before (a replay), a conflict if its key
/// came with another request, or `None` for a new refund.
async fn refund_replay(
    tx: &mut Tx,
    cmd: &RefundCommand,
) -> Result<Option<Recorded<RefundReceipt>>> {
    let existing: Option<RefundRecord> = sqlx::query_as(
        "SELECT r.fingerprint, p.receipt_id, r.purchase_id, r.points, r.balance_after, \
             m.code FROM refunds r JOIN purchases p ON p.id = r.purchase_id \
             LEFT JOIN members m ON m.id = r.member_id \
             WHERE r.merchant_id = $1 AND r.refund_id = $2",
    )
    .bind(&cmd.merchant_id)
    .bind(&cmd.refund_id)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some((fingerprint, receipt_id, purchase_id, points, balance, code)) = existing {
        if fingerprint != cmd.fingerprint {
            return Err(StoreError::IdempotencyConflict("refund_id"));
        }
        // The amount still refundable is what it was right after this refund.
        let (amount, refunded_upto): (i64, i64) = sqlx::query_as(
            "SELECT p.amount_minor, (SELECT SUM(r.amount_minor)::BIGINT FROM refunds r \
             WHERE r.purchase_id = p.id AND r.id <= (SELECT id FROM refunds \
             WHERE merchant_id = $1 AND refund_id = $2)) FROM purchases p WHERE p.id = $3",
        )
        .bind(&cmd.merchant_id)
        .bind(&cmd.refund_id)
        .bind(purchase_id)
        .fetch_one(&mut **tx)
        .await?;
        return Ok(Some(Recorded::Replay(RefundReceipt {
            refund_id: cmd.refund_id.clone(),
            receipt_id,
            purchase_id,
            points_clawed_back: Points::new(points),
            refundable_amount: Money::from_minor(amount - refunded_upto, cmd.amount.currency())
                .to_decimal_string(),
            member_code: code,
            balance: balance.map(Points::new),
        })));
    }
    Ok(None)
}

/// Inserts a purchase ($1-$16); `RETURNING id`, nothing when the receipt exists.
const PURCHASE: &str = "INSERT INTO purchases (merchant_id, receipt_id, fingerprint, member_id, \
    amount_minor, currency, occurred_at, items, points, breakdown, balance_after, available_at, \
    claim_code, claim_expires_at, referral_points, created_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
    ON CONFLICT (merchant_id, receipt_id) DO NOTHING RETURNING id";

/// [`PURCHASE`] and, when it inserted, the member's credit: a lot of $17 points
/// (what is left after any debt) expiring at $18, the balance and the entry.
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

// ---------------------------------------------------------------------------
// Operations that may lose an idempotency race, run by `retry_on_key`.

impl PgStore {
    async fn try_record_purchase(
        &self,
        cmd: &PurchaseCommand,
    ) -> Result<Recorded<PurchaseReceipt>> {
        let mut tx = self.begin().await?;
        // Locks in the fixed order: the member, the referrer they may pay, then
        // the budgeted campaigns. The member's balance, history and caps read
        // here stay current until commit.
        let rules::Context {
            buyer,
            referrer_balance,
            campaigns,
            used,
        } = rules::context(&mut tx, cmd, true).await?;
        let earning = price(cmd, buyer.as_ref().map(|b| &b.0), &campaigns, &used);
        let points = earning.breakdown.total().value();
        let breakdown = serde_json::to_string(&earning.breakdown).expect("serializable");
        // A purchase without a member waits for a claim (if it earned anything).
        let claim = (buyer.is_none() && points > 0)
            .then(|| (cmd.claim_code.as_str(), cmd.claim_expires_at));
        let balance_after = buyer.as_ref().map(|(b, _)| b.balance + points);
        // A member's purchase and its credit (lot, balance, ledger entry) are one
        // statement; nothing is credited when the receipt was seen before.
        let credited = buyer.as_ref().filter(|_| points > 0).map(|(b, _)| {
            ledger::credit_to_lots(Points::new(b.balance), Points::new(points)).value()
        });
        let sql = if credited.is_some() {
            PURCHASE_AND_CREDIT
        } else {
            PURCHASE
        };
        let currency = cmd.amount.currency();
        let mut insert = sqlx::query_scalar(sql)
            .bind(&cmd.merchant_id)
            .bind(&cmd.receipt_id)
            .bind(&cmd.fingerprint)
            .bind(buyer.as_ref().map(|(b, _)| b.id))
            .bind(cmd.amount.minor())
            .bind(currency.code())
            .bind(cmd.occurred_at)
            .bind(&cmd.items_json)
            .bind(points)
            .bind(&breakdown)
            .bind(balance_after)
            .bind(cmd.timing.available_at)
            .bind(claim.map(|c| c.0))
            .bind(claim.map(|c| c.1))
            .bind(earning.referral.value())
            .bind(cmd.now);
        if let Some(into_lot) = credited {
            insert = insert.bind(into_lot).bind(cmd.timing.expires_at);
        }
        let purchase_id: Option<i64> = insert.fetch_optional(&mut *tx).await?;
        let Some(purchase_id) = purchase_id else {
            // Seen before (perhaps a moment ago, by a request we waited for).
            let p: PurchaseRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{PURCHASE_COLUMNS} WHERE p.merchant_id = $1 AND p.receipt_id = $2"
            )))
            .bind(&cmd.merchant_id)
            .bind(&cmd.receipt_id)
            .fetch_one(&mut *tx)
            .await?;
            return if p.fingerprint == cmd.fingerprint {
                Ok(Recorded::Replay(p.receipt()?))
            } else {
                Err(StoreError::IdempotencyConflict("receipt_id"))
            };
        };
        let member_id = buyer.as_ref().map(|(b, _)| b.id);
        rules::record_awards(&mut tx, purchase_id, member_id, &earning.awards, cmd.now).await?;
        if let Some((b, spend_before)) = &buyer {
            if points > 0 && b.has_channel {
                let notice = earned_notice(cmd, &earning, &campaigns, b.balance + points);
                outbox::notify(&mut tx, b.id, &notice, cmd.now).await?;
            }
            if b.referral_due(cmd) {
                let pay = ReferralPayment::of(cmd);
                let b = (b.id, b.referred_by);
                rules::pay_referral(&mut tx, b, referrer_balance, purchase_id, &pay).await?;
            }
            let spend = spend_before + counted_spend(cmd);
            rules::upgrade(
                &mut tx,
                b.id,
                b.tier.clone(),
                spend,
                &cmd.rules.tiers,
                "purchase",
                cmd.now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(Recorded::New(PurchaseReceipt {
            purchase_id,
            receipt_id: cmd.receipt_id.clone(),
            points: Points::new(points),
            breakdown: earning.breakdown,
            member_code: buyer.map(|(b, _)| b.code),
            balance: balance_after.map(Points::new),
            available_at: cmd.timing.available_at,
            claim_code: claim.map(|c| c.0.to_string()),
            claim_expires_at: claim.map(|c| c.1),
        }))
    }

    async fn try_record_refund(&self, cmd: &RefundCommand) -> Result<Recorded<RefundReceipt>> {
        let mut tx = self.begin().await?;
        if let Some(replay) = refund_replay(&mut tx, cmd).await? {
            return Ok(replay);
        }
        // The purchase's row stays locked until commit, so concurrent refunds of
        // one purchase (and a claim racing a refund) run one after the other.
        let purchase_id: i64 = sqlx::query_scalar(
            "SELECT id FROM purchases WHERE merchant_id = $1 AND receipt_id = $2",
        )
        .bind(&cmd.merchant_id)
        .bind(&cmd.receipt_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound("purchase"))?;
        let p = lock_purchase(&mut tx, purchase_id).await?;
        // The same refund may have been recorded while this one waited for the lock.
        if let Some(replay) = refund_replay(&mut tx, cmd).await? {
            return Ok(replay);
        }
        let plan = decide_refund(
            Points::new(p.points),
            Points::new(p.referral_points),
            p.amount_minor,
            p.refunded_minor,
            cmd.amount,
        )?;
        let claw = plan.clawback.value();
        let mut balance = None;
        if let Some(member_id) = p.member_id {
            lock_member(&mut tx, member_id).await?;
            let after = claw_back(&mut tx, member_id, &p, claw, cmd).await?;
            if after < 0 && claw > 0 {
                let notice = Notice::NegativeBalance { balance: after };
                outbox::notify(&mut tx, member_id, &notice, cmd.now).await?;
            }
            balance = Some(after);
            // A referral paid by this purchase goes back when it is refunded in full.
            let full = p.refunded_minor + cmd.amount.minor() == p.amount_minor;
            if full && p.referrer_points > 0 {
                let referrer: Option<i64> =
                    sqlx::query_scalar("SELECT referred_by FROM members WHERE id = $1")
                        .bind(member_id)
                        .fetch_one(&mut *tx)
                        .await?;
                if let Some(referrer) = referrer {
                    lock_member(&mut tx, referrer).await?;
                    claw_back(&mut tx, referrer, &p, p.referrer_points, cmd).await?;
                }
            }
        }
        sqlx::query(
            "UPDATE purchases SET refunded_minor = refunded_minor + $1, \
             clawed_back = clawed_back + $2 WHERE id = $3",
        )
        .bind(cmd.amount.minor())
        .bind(claw)
        .bind(p.id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO refunds (merchant_id, refund_id, purchase_id, fingerprint, amount_minor, \
             points, member_id, balance_after, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&cmd.merchant_id)
        .bind(&cmd.refund_id)
        .bind(p.id)
        .bind(&cmd.fingerprint)
        .bind(cmd.amount.minor())
        .bind(claw)
        .bind(p.member_id)
        .bind(balance)
        .bind(cmd.now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Recorded::New(RefundReceipt {
            refund_id: cmd.refund_id.clone(),
            receipt_id: p.receipt_id,
            purchase_id: p.id,
            points_clawed_back: Points::new(claw),
            refundable_amount: plan.refundable_after.to_decimal_string(),
            member_code: p.member_code,
            balance: balance.map(Points::new),
        }))
    }

    async fn try_redeem(&self, cmd: &RedeemCommand) -> Result<Voucher> {
        let mut tx = self.begin().await?;
        // The member first, then the reward: always in this order. With the member
        // locked, a double tap waits here and then finds the first tap's voucher.
        let balance = lock_member(&mut tx, cmd.member_id).await?;
        if let Some(key) = &cmd.request_key {
            let existing: Option<VoucherRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{VOUCHER_COLUMNS} WHERE member_id = $1 AND request_key = $2"
            )))
            .bind(cmd.member_id)
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(v) = existing {
                return v.try_into();
            }
        }
        let reward: Reward = sqlx::query_as::<_, RewardRow>(sqlx::AssertSqlSafe(format!(
            "{REWARD_COLUMNS} WHERE id = $1 FOR UPDATE"
        )))
        .bind(cmd.reward_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound("reward"))?
        .try_into()?;
        let held: i64 = match reward.per_member_limit {
            None => 0,
            Some(_) => {
                sqlx::query_scalar(
                    "SELECT COUNT(*) FROM vouchers WHERE member_id = $1 AND reward_id = $2 \
                     AND status IN ('issued', 'used')",
                )
                .bind(cmd.member_id)
                .bind(cmd.reward_id)
                .fetch_one(&mut *tx)
                .await?
            }
        };
        let lots = live_lots(&mut tx, cmd.member_id, cmd.now).await?;
        let plan = redeem::decide(&redeem::RedeemFacts {
            reward: &reward,
            balance,
            held,
            lots: &lots,
            now: cmd.now,
        })?;
        let (entry_id, _) = append(
            &mut tx,
            NewEntry {
                member_id: cmd.member_id,
                kind: EntryKind::Redeem,
                points: -reward.cost.value(),
                merchant_id: None,
                purchase_id: None,
                voucher_id: None,
                lot_id: None,
                reference: Some(cmd.code.as_str()),
                now: cmd.now,
            },
        )
        .await?;
        take_from_lots(&mut tx, entry_id, &plan).await?;
        sqlx::query("UPDATE rewards SET stock = stock - 1 WHERE id = $1 AND stock IS NOT NULL")
            .bind(cmd.reward_id)
            .execute(&mut *tx)
            .await?;
        let expires_at = cmd.now + chrono::Duration::days(i64::from(reward.voucher_days));
        let row: VoucherRow = sqlx::query_as(
            "INSERT INTO vouchers (code, member_id, reward_id, points, status, request_key, \
             redeem_entry_id, issued_at, expires_at) \
             VALUES ($1, $2, $3, $4, 'issued', $5, $6, $7, $8) \
             RETURNING id, code, member_id, reward_id, points, status, redeem_entry_id, \
             issued_at, expires_at, used_at, used_by",
        )
        .bind(cmd.code.as_str())
        .bind(cmd.member_id)
        .bind(cmd.reward_id)
        .bind(reward.cost.value())
        .bind(&cmd.request_key)
        .bind(entry_id)
        .bind(cmd.now)
        .bind(expires_at)
        .fetch_one(&mut *tx)
        .await?;
        if cmd.notify {
            let notice = Notice::VoucherIssued {
                code: cmd.code.as_str().to_string(),
                reward_th: reward.name_th.clone(),
                reward_en: reward.name_en.clone(),
                expires_at,
            };
            outbox::notify(&mut tx, cmd.member_id, &notice, cmd.now).await?;
        }
        tx.commit().await?;
        row.try_into()
    }
}

// ---------------------------------------------------------------------------

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn program(&self) -> Result<Program> {
        type ProgramRow = (String, i64, i64, String, i64, i64, i64, i64);
        let (name, expiry_months, pending_days, cur, referrer, referee, min_spend, version): ProgramRow =
            sqlx::query_as(
                "SELECT name, expiry_months, pending_days, currency, referrer_points, \
                 referee_points, referral_min_spend_minor, settings_version FROM program WHERE id = 1",
            )
            .fetch_one(&self.pool)
            .await?;
        Ok(Program {
            name,
            expiry_months: u32::try_from(expiry_months).unwrap_or(12),
            pending_days: u32::try_from(pending_days).unwrap_or(0),
            currency: currency(&cur)?,
            referral: ReferralRule {
                referrer_points: referrer,
                referee_points: referee,
                min_spend_minor: min_spend,
            },
            tiers: rules::tiers(&self.pool).await?,
            version,
        })
    }

    async fn set_program(&self, p: &Program) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE program SET name = $1, expiry_months = $2, pending_days = $3, currency = $4, \
             referrer_points = $5, referee_points = $6, referral_min_spend_minor = $7, \
             settings_version = settings_version + 1 WHERE id = 1",
        )
        .bind(&p.name)
        .bind(i64::from(p.expiry_months))
        .bind(i64::from(p.pending_days))
        .bind(p.currency.code())
        .bind(p.referral.referrer_points)
        .bind(p.referral.referee_points)
        .bind(p.referral.min_spend_minor)
        .execute(&mut *tx)
        .await?;
        rules::set_tiers(&mut tx, &p.tiers).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn server_key(
        &self,
        name: &str,
        candidate: &Secret,
        now: DateTime<Utc>,
    ) -> Result<Secret> {
        guard::server_key(&self.pool, name, candidate, now).await
    }

    async fn failures(&self, kind: &str, subjects: &[String]) -> Result<Vec<Failures>> {
        guard::failures(&self.pool, kind, subjects).await
    }

    async fn record_failure(
        &self,
        kind: &str,
        subjects: &[String],
        now: DateTime<Utc>,
        forget_before: DateTime<Utc>,
    ) -> Result<()> {
        guard::record_failure(&self.pool, kind, subjects, now, forget_before).await
    }

    async fn prune(
        &self,
        now: DateTime<Utc>,
        events_before: DateTime<Utc>,
        guesses_before: DateTime<Utc>,
    ) -> Result<Pruned> {
        guard::prune(&self.pool, now, events_before, guesses_before).await
    }

    async fn rotate_merchant_secret(
        &self,
        id: &str,
        secret: &Secret,
        grace_until: DateTime<Utc>,
    ) -> Result<Merchant> {
        let row: MerchantRow = sqlx::query_as(
            "UPDATE merchants SET previous_secret = webhook_secret, previous_secret_until = $3, \
             webhook_secret = $2 WHERE id = $1 RETURNING *",
        )
        .bind(id)
        .bind(secret.expose())
        .bind(grace_until)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound("merchant"))?;
        row.try_into()
    }

    async fn add_merchant(&self, m: &Merchant) -> Result<()> {
        sqlx::query(
            "INSERT INTO merchants (id, name, currency, earn_points, earn_per_minor, \
             webhook_secret, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&m.id)
        .bind(&m.name)
        .bind(m.currency.code())
        .bind(m.earn.points)
        .bind(m.earn.per_minor)
        .bind(m.webhook_secret.expose())
        .bind(m.created_at)
        .execute(&self.pool)
        .await
        .map_err(|e| map_unique(e, "merchant id"))?;
        Ok(())
    }

    async fn merchant(&self, id: &str) -> Result<Merchant> {
        let row: MerchantRow = sqlx::query_as("SELECT * FROM merchants WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("merchant"))?;
        row.try_into()
    }

    async fn merchants(&self) -> Result<Vec<Merchant>> {
        let rows: Vec<MerchantRow> = sqlx::query_as("SELECT * FROM merchants ORDER BY created_at")
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(Merchant::try_from).collect()
    }

    async fn add_member(&self, m: &NewMember, now: DateTime<Utc>) -> Result<Member> {
        // A fresh code collides with an existing one about once in 10^11 tries;
        // try again rather than fail.
        for _ in 0..5 {
            let code = MemberCode::generate();
            let res: std::result::Result<MemberRow, sqlx::Error> =
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO members (code, name, locale, app_locale, telegram_id, line_id, \
                     created_at) VALUES ($1, $2, $3, $7, $4, $5, $6) {MEMBER_RETURNING}"
                )))
                .bind(code.as_str())
                .bind(&m.name)
                .bind(&m.locale)
                .bind(m.telegram_id)
                .bind(&m.line_id)
                .bind(now)
                .bind(&m.app_locale)
                .fetch_one(&self.pool)
                .await;
            match res {
                Ok(row) => return Ok(row.into()),
                Err(sqlx::Error::Database(d))
                    if d.is_unique_violation() && d.constraint() == Some(MEMBER_CODE_KEY) =>
                {
                    continue;
                }
                Err(e) => return Err(map_unique(e, "telegram or LINE id")),
            }
        }
        Err(StoreError::Corrupt(
            "could not find a free member code".into(),
        ))
    }

    async fn member(&self, by: &MemberRef) -> Result<Member> {
        let q = |w: &str| sqlx::AssertSqlSafe(format!("{MEMBER_COLUMNS} WHERE {w} = $1"));
        let row: Option<MemberRow> = match by {
            MemberRef::Id(id) => sqlx::query_as(q("id")).bind(id).fetch_optional(&self.pool),
            MemberRef::Code(c) => sqlx::query_as(q("code"))
                .bind(c.as_str())
                .fetch_optional(&self.pool),
            MemberRef::Telegram(t) => sqlx::query_as(q("telegram_id"))
                .bind(t)
                .fetch_optional(&self.pool),
            MemberRef::Line(l) => sqlx::query_as(q("line_id"))
                .bind(l)
                .fetch_optional(&self.pool),
        }
        .await?;
        row.map(Member::from).ok_or(StoreError::NotFound("member"))
    }

    async fn update_member(&self, member_id: i64, update: &MemberUpdate) -> Result<Member> {
        let row: MemberRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE members SET locale = COALESCE($2, locale), \
             marketing_opt_in = COALESCE($3, marketing_opt_in), \
             app_locale = COALESCE($4, app_locale) WHERE id = $1 {MEMBER_RETURNING}"
        )))
        .bind(member_id)
        .bind(&update.locale)
        .bind(update.marketing_opt_in)
        .bind(&update.app_locale)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound("member"))?;
        Ok(row.into())
    }

    async fn set_reachable(&self, member_id: i64, channel: Channel, reachable: bool) -> Result<()> {
        let sql = match channel {
            Channel::Telegram => "UPDATE members SET telegram_reachable = $2 WHERE id = $1",
            Channel::Line => "UPDATE members SET line_reachable = $2 WHERE id = $1",
        };
        sqlx::query(sql)
            .bind(member_id)
            .bind(reachable)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn set_referrer(&self, member_id: i64, referrer: &MemberCode) -> Result<bool> {
        let done = sqlx::query(
            "WITH RECURSIVE r AS (SELECT id FROM members WHERE code = $2), \
             up (id) AS (SELECT id FROM r UNION SELECT m.referred_by FROM members m \
             JOIN up ON m.id = up.id WHERE m.referred_by IS NOT NULL) \
             UPDATE members SET referred_by = (SELECT id FROM r) \
             WHERE id = $1 AND referred_by IS NULL AND EXISTS (SELECT 1 FROM r) \
             AND NOT EXISTS (SELECT 1 FROM up WHERE up.id = $1) \
             AND NOT EXISTS (SELECT 1 FROM purchases p WHERE p.member_id = $1)",
        )
        .bind(member_id)
        .bind(referrer.as_str())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn first_delivery(
        &self,
        source: &str,
        event_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO inbound_events (source, event_id, received_at) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(source)
        .bind(event_id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn create_link(
        &self,
        member_id: i64,
        code: &LinkCode,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        // One open code per member: a new one replaces the last (no row flood).
        sqlx::query(
            "WITH old AS (DELETE FROM link_tokens WHERE member_id = $2 AND used_at IS NULL) \
             INSERT INTO link_tokens (token, member_id, expires_at) VALUES ($1, $2, $3)",
        )
        .bind(code.as_str())
        .bind(member_id)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn use_link(
        &self,
        code: &LinkCode,
        by: &MemberRef,
        now: DateTime<Utc>,
    ) -> Result<Member> {
        let (column, line) = match by {
            MemberRef::Telegram(_) => ("telegram_id", None),
            MemberRef::Line(id) => ("line_id", Some(id.as_str())),
            _ => return Err(StoreError::NotFound("chat account")),
        };
        let mut tx = self.begin().await?;
        let token: Option<(i64, DateTime<Utc>, Option<DateTime<Utc>>)> = sqlx::query_as(
            "SELECT member_id, expires_at, used_at FROM link_tokens WHERE token = $1 FOR UPDATE",
        )
        .bind(code.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let target = match token {
            Some((member_id, expires_at, None)) if expires_at > now => member_id,
            _ => return Err(Refusal::LinkInvalid.into()),
        };
        lock_member(&mut tx, target).await?;
        // The member this platform account belongs to now, if any.
        let current: Option<i64> = match by {
            MemberRef::Telegram(id) => {
                sqlx::query_scalar("SELECT id FROM members WHERE telegram_id = $1 FOR UPDATE")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?
            }
            _ => {
                sqlx::query_scalar("SELECT id FROM members WHERE line_id = $1 FOR UPDATE")
                    .bind(line)
                    .fetch_optional(&mut *tx)
                    .await?
            }
        };
        if current != Some(target) {
            let taken: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT {column} IS NOT NULL FROM members WHERE id = $1"
            )))
            .bind(target)
            .fetch_one(&mut *tx)
            .await?;
            if taken {
                return Err(Refusal::LinkTaken.into());
            }
            if let Some(old) = current {
                let history: bool = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM entries WHERE member_id = $1) \
                     OR EXISTS (SELECT 1 FROM purchases WHERE member_id = $1) \
                     OR EXISTS (SELECT 1 FROM vouchers WHERE member_id = $1) \
                     OR EXISTS (SELECT 1 FROM members WHERE referred_by = $1)",
                )
                .bind(old)
                .fetch_one(&mut *tx)
                .await?;
                if history {
                    return Err(Refusal::LinkHasHistory.into());
                }
                sqlx::query("DELETE FROM link_tokens WHERE member_id = $1")
                    .bind(old)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM members WHERE id = $1")
                    .bind(old)
                    .execute(&mut *tx)
                    .await?;
            }
            match by {
                MemberRef::Telegram(id) => sqlx::query(
                    "UPDATE members SET telegram_id = $1, telegram_reachable = TRUE WHERE id = $2",
                )
                .bind(id)
                .bind(target)
                .execute(&mut *tx)
                .await?,
                _ => {
                    sqlx::query(
                        "UPDATE members SET line_id = $1, line_reachable = TRUE WHERE id = $2",
                    )
                    .bind(line)
                    .bind(target)
                    .execute(&mut *tx)
                    .await?
                }
            };
        }
        sqlx::query("UPDATE link_tokens SET used_at = $1 WHERE token = $2")
            .bind(now)
            .bind(code.as_str())
            .execute(&mut *tx)
            .await?;
        let member: MemberRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{MEMBER_COLUMNS} WHERE id = $1"
        )))
        .bind(target)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(member.into())
    }

    async fn record_purchase(&self, cmd: &PurchaseCommand) -> Result<Recorded<PurchaseReceipt>> {
        retry_on_key(PURCHASE_KEY, || self.try_record_purchase(cmd)).await
    }

    async fn record_refund(&self, cmd: &RefundCommand) -> Result<Recorded<RefundReceipt>> {
        retry_on_key(REFUND_KEY, || self.try_record_refund(cmd)).await
    }

    async fn claim_receipt(
        &self,
        member_id: i64,
        code: &ClaimCode,
        timing: LotTiming,
        now: DateTime<Utc>,
    ) -> Result<ClaimReceipt> {
        let mut tx = self.begin().await?;
        let purchase_id: i64 = sqlx::query_scalar("SELECT id FROM purchases WHERE claim_code = $1")
            .bind(code.as_str())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound("claim code"))?;
        // Locked first (then the member), as a refund does: a claim and a refund of
        // the same purchase run one after the other, and two claims cannot both win.
        let p = lock_purchase(&mut tx, purchase_id).await?;
        decide_claim(
            p.claimed_at.is_some() || p.member_id.is_some(),
            p.claim_expires_at,
            now,
        )?;
        let before = lock_member(&mut tx, member_id).await?;
        let points = p.points - p.clawed_back;
        let balance = if points > 0 {
            credit(
                &mut tx,
                NewEntry {
                    member_id,
                    kind: EntryKind::Earn,
                    points,
                    merchant_id: Some(&p.merchant_id),
                    purchase_id: Some(p.id),
                    voucher_id: None,
                    lot_id: None,
                    reference: Some(&p.receipt_id),
                    now,
                },
                timing,
                before,
            )
            .await?
            .1
        } else {
            before
        };
        sqlx::query("UPDATE purchases SET member_id = $1, claimed_at = $2 WHERE id = $3")
            .bind(member_id)
            .bind(now)
            .bind(p.id)
            .execute(&mut *tx)
            .await?;
        let program = self.program().await?;
        let currency = program.currency.code();
        let pay = ReferralPayment {
            rule: program.referral,
            merchant_id: &p.merchant_id,
            timing,
            now,
        };
        let (bonus, balance) =
            rules::referral_on_claim(&mut tx, member_id, &p, currency, &pay, balance).await?;
        let points = points + bonus;
        // The claimed purchase now counts towards the member's tier.
        rules::upgrade_after_claim(&mut tx, member_id, (&program.tiers, currency), now).await?;
        tx.commit().await?;
        Ok(ClaimReceipt {
            receipt_id: p.receipt_id,
            merchant_id: p.merchant_id,
            points: Points::new(points),
            balance: Points::new(balance),
        })
    }

    async fn price_purchase(&self, cmd: &PurchaseCommand) -> Result<Breakdown> {
        rules::price_purchase(&self.pool, cmd).await
    }

    async fn add_campaign(&self, campaign: &Campaign, now: DateTime<Utc>) -> Result<Campaign> {
        rules::add_campaign(&self.pool, campaign, now).await
    }

    async fn campaign(&self, id: i64) -> Result<Campaign> {
        rules::campaign(&self.pool, id).await
    }

    async fn campaigns(&self) -> Result<Vec<Campaign>> {
        rules::campaigns(&self.pool).await
    }

    async fn end_campaign(&self, id: i64, now: DateTime<Utc>) -> Result<Campaign> {
        rules::end_campaign(&self.pool, id, now).await
    }

    async fn campaign_results(&self, id: i64) -> Result<CampaignResults> {
        rules::campaign_results(&self.pool, id).await
    }

    async fn tier_standing(
        &self,
        member_id: i64,
        currency: &str,
        now: DateTime<Utc>,
    ) -> Result<(Option<String>, i64)> {
        rules::tier_standing(&self.pool, member_id, currency, now).await
    }

    async fn review_tiers(
        &self,
        tiers: &Tiers,
        currency: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<TierChange>> {
        rules::review_tiers(&self.pool, tiers, currency, now).await
    }

    async fn tier_changes(&self, member_id: i64) -> Result<Vec<TierChange>> {
        rules::tier_changes(&self.pool, member_id).await
    }

    async fn add_reward(&self, r: &NewReward, now: DateTime<Utc>) -> Result<Reward> {
        let row: RewardRow = sqlx::query_as(
            "INSERT INTO rewards (name_th, name_en, description_th, description_en, cost, stock, \
             per_member_limit, valid_from, valid_until, face_value_minor, currency, voucher_days, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             RETURNING *",
        )
        .bind(&r.name_th)
        .bind(&r.name_en)
        .bind(&r.description_th)
        .bind(&r.description_en)
        .bind(r.cost.value())
        .bind(r.stock)
        .bind(r.per_member_limit)
        .bind(r.valid_from)
        .bind(r.valid_until)
        .bind(r.face_value.minor())
        .bind(r.face_value.currency().code())
        .bind(i64::from(r.voucher_days))
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        row.try_into()
    }

    async fn reward(&self, id: i64) -> Result<Reward> {
        let row: RewardRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{REWARD_COLUMNS} WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound("reward"))?;
        row.try_into()
    }

    async fn rewards(&self, include_inactive: bool) -> Result<Vec<Reward>> {
        let rows: Vec<RewardRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{REWARD_COLUMNS} WHERE active OR $1 ORDER BY cost, id"
        )))
        .bind(include_inactive)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(Reward::try_from).collect()
    }

    async fn set_reward_active(&self, id: i64, active: bool) -> Result<Reward> {
        let row: RewardRow =
            sqlx::query_as("UPDATE rewards SET active = $1 WHERE id = $2 RETURNING *")
                .bind(active)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
                .ok_or(StoreError::NotFound("reward"))?;
        row.try_into()
    }

    async fn redeem(&self, cmd: &RedeemCommand) -> Result<Voucher> {
        retry_on_key(REDEEM_KEY, || self.try_redeem(cmd)).await
    }

    async fn use_voucher(
        &self,
        code: &VoucherCode,
        merchant_id: &str,
        now: DateTime<Utc>,
    ) -> Result<VoucherUse> {
        let mut tx = self.begin().await?;
        // Only the voucher is locked: using it moves no points.
        let v = lock_voucher(&mut tx, code).await?;
        if let Some(refusal) = voucher_refusal(&v, now) {
            return Err(refusal.into());
        }
        sqlx::query(
            "UPDATE vouchers SET status = 'used', used_at = $1, used_by = $2 WHERE id = $3",
        )
        .bind(now)
        .bind(merchant_id)
        .bind(v.id)
        .execute(&mut *tx)
        .await?;
        let v = lock_voucher(&mut tx, code).await?;
        let reward: RewardRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{REWARD_COLUMNS} WHERE id = $1"
        )))
        .bind(v.reward_id)
        .fetch_one(&mut *tx)
        .await?;
        let member: MemberRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{MEMBER_COLUMNS} WHERE id = $1"
        )))
        .bind(v.member_id)
        .fetch_one(&mut *tx)
        .await?;
        let notice = Notice::VoucherUsed {
            code: v.code.clone(),
            reward_th: reward.name_th.clone(),
            reward_en: reward.name_en.clone(),
            merchant_id: merchant_id.to_string(),
        };
        outbox::notify(&mut tx, v.member_id, &notice, now).await?;
        tx.commit().await?;
        Ok(VoucherUse {
            voucher: v.try_into()?,
            reward: reward.try_into()?,
            member: member.into(),
        })
    }

    async fn cancel_voucher(
        &self,
        member_id: i64,
        code: &VoucherCode,
        now: DateTime<Utc>,
    ) -> Result<Voucher> {
        let mut tx = self.begin().await?;
        // The member, then the voucher. No such member means no voucher of theirs.
        let member: Option<i64> =
            sqlx::query_scalar("SELECT id FROM members WHERE id = $1 FOR UPDATE")
                .bind(member_id)
                .fetch_optional(&mut *tx)
                .await?;
        if member.is_none() {
            return Err(StoreError::NotFound("voucher"));
        }
        let v = lock_voucher(&mut tx, code).await?;
        if v.member_id != member_id {
            return Err(StoreError::NotFound("voucher"));
        }
        if let Some(refusal) = voucher_refusal(&v, now) {
            return Err(refusal.into());
        }
        release_voucher(&mut tx, &v, VoucherStatus::Cancelled, now).await?;
        let v = lock_voucher(&mut tx, code).await?;
        tx.commit().await?;
        v.try_into()
    }

    async fn voucher(&self, code: &VoucherCode) -> Result<Voucher> {
        let row: VoucherRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{VOUCHER_COLUMNS} WHERE code = $1"
        )))
        .bind(code.as_str())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound("voucher"))?;
        row.try_into()
    }

    async fn adjust_points(&self, cmd: &AdjustCommand) -> Result<Entry> {
        let mut tx = self.begin().await?;
        let balance = lock_member(&mut tx, cmd.member_id).await?;
        let entry_id = if cmd.delta.value() >= 0 {
            credit(
                &mut tx,
                NewEntry {
                    member_id: cmd.member_id,
                    kind: EntryKind::Adjust,
                    points: cmd.delta.value(),
                    merchant_id: None,
                    purchase_id: None,
                    voucher_id: None,
                    lot_id: None,
                    reference: Some(&cmd.reason),
                    now: cmd.now,
                },
                cmd.timing,
                balance,
            )
            .await?
            .0
        } else {
            let lots = live_lots(&mut tx, cmd.member_id, cmd.now).await?;
            let (plan, debt) = ledger::plan_clawback(&lots, None, -cmd.delta, cmd.now);
            if debt.value() > 0 {
                return Err(Refusal::AdjustBelowZero {
                    balance: Points::new(balance),
                }
                .into());
            }
            let (entry_id, _) = append(
                &mut tx,
                NewEntry {
                    member_id: cmd.member_id,
                    kind: EntryKind::Adjust,
                    points: cmd.delta.value(),
                    merchant_id: None,
                    purchase_id: None,
                    voucher_id: None,
                    lot_id: None,
                    reference: Some(&cmd.reason),
                    now: cmd.now,
                },
            )
            .await?;
            take_from_lots(&mut tx, entry_id, &plan).await?;
            entry_id
        };
        let row: EntryRow = sqlx::query_as(
            "SELECT id, member_id, kind, points, balance_after, merchant_id, reference, created_at \
             FROM entries WHERE id = $1",
        )
        .bind(entry_id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        row.try_into()
    }

    async fn expire_due(&self, now: DateTime<Utc>) -> Result<ExpirySweep> {
        let mut sweep = ExpirySweep::default();
        // Vouchers first: their points go back to their lots, which may themselves
        // be past expiry and are then expired below. Each voucher and each member
        // is one short transaction that locks the member first, like every other
        // operation; what was picked is checked again under the lock, so another
        // process sweeping at the same time never expires anything twice. The
        // cursors (`after`) make each pass finish even when rows are skipped.
        let mut after = 0_i64;
        loop {
            let due: Vec<(i64, i64)> = sqlx::query_as(
                "SELECT id, member_id FROM vouchers WHERE status = 'issued' AND expires_at <= $1 \
                 AND id > $2 ORDER BY id LIMIT 200",
            )
            .bind(now)
            .bind(after)
            .fetch_all(&self.pool)
            .await?;
            if due.is_empty() {
                break;
            }
            for (voucher_id, member_id) in due {
                after = voucher_id;
                let mut tx = self.begin().await?;
                lock_member(&mut tx, member_id).await?;
                // Still issued? (Another sweep or a cancel may have closed it.) A
                // voucher locked by a use in progress is skipped: the use decides.
                let v: Option<VoucherRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "{VOUCHER_COLUMNS} WHERE id = $1 AND status = 'issued' AND expires_at <= $2 \
                     FOR UPDATE SKIP LOCKED"
                )))
                .bind(voucher_id)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(v) = v else { continue };
                release_voucher(&mut tx, &v, VoucherStatus::Expired, now).await?;
                tx.commit().await?;
                sweep.vouchers_expired += 1;
                sweep.points_released += v.points;
            }
        }
        let mut after = 0_i64;
        loop {
            let members: Vec<i64> = sqlx::query_scalar(
                "SELECT DISTINCT member_id FROM lots WHERE remaining > 0 AND expires_at <= $1 \
                 AND member_id > $2 ORDER BY member_id LIMIT 200",
            )
            .bind(now)
            .bind(after)
            .fetch_all(&self.pool)
            .await?;
            if members.is_empty() {
                break;
            }
            for member_id in members {
                after = member_id;
                let mut tx = self.begin().await?;
                lock_member(&mut tx, member_id).await?;
                // Reads the member's due lots again, under the lock.
                let (lots, points) = expire_member_lots(&mut tx, member_id, now).await?;
                tx.commit().await?;
                sweep.lots_expired += lots;
                sweep.points_expired += points;
            }
        }
        Ok(sweep)
    }

    async fn remind_expiring(&self, until: DateTime<Utc>, now: DateTime<Utc>) -> Result<u64> {
        outbox::remind_expiring(&self.pool, until, now).await
    }

    async fn enqueue_broadcast(&self, campaign_id: i64, now: DateTime<Utc>) -> Result<u64> {
        outbox::enqueue_broadcast(&self.pool, campaign_id, now).await
    }

    async fn broadcast_status(&self, campaign_id: i64) -> Result<BroadcastStatus> {
        outbox::broadcast_status(&self.pool, campaign_id).await
    }

    async fn claim_notices(
        &self,
        channel: Channel,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
        batches: i64,
        marketing: bool,
    ) -> Result<Vec<OutboxItem>> {
        outbox::claim_notices(
            &self.pool,
            channel,
            now,
            lease_until,
            limit,
            batches,
            marketing,
        )
        .await
    }

    async fn finish_notices(
        &self,
        ids: &[i64],
        outcome: &Outcome,
        now: DateTime<Utc>,
    ) -> Result<()> {
        outbox::finish_notices(&self.pool, ids, outcome, now).await
    }

    async fn notices(&self, member_id: i64) -> Result<Vec<(String, String, String)>> {
        outbox::notices(&self.pool, member_id).await
    }

    async fn lots(&self, member_id: i64) -> Result<Vec<Lot>> {
        let rows: Vec<LotRow> = sqlx::query_as(
            "SELECT id, points, remaining, earned_at, available_at, expires_at, merchant_id \
             FROM lots WHERE member_id = $1 AND remaining > 0 ORDER BY expires_at, id",
        )
        .bind(member_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| Lot {
                id: r.id,
                points: Points::new(r.points),
                remaining: Points::new(r.remaining),
                earned_at: r.earned_at,
                available_at: r.available_at,
                expires_at: r.expires_at,
                merchant_id: r.merchant_id,
            })
            .collect())
    }

    async fn vouchers(&self, member_id: i64) -> Result<Vec<Voucher>> {
        let rows: Vec<VoucherRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{VOUCHER_COLUMNS} WHERE member_id = $1 ORDER BY issued_at DESC, id DESC"
        )))
        .bind(member_id)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(Voucher::try_from).collect()
    }

    async fn entries(&self, member_id: i64, limit: i64) -> Result<Vec<Entry>> {
        let rows: Vec<EntryRow> = sqlx::query_as(
            "SELECT id, member_id, kind, points, balance_after, merchant_id, reference, created_at \
             FROM entries WHERE member_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(member_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(Entry::try_from).collect()
    }

    async fn audit(&self) -> Result<Vec<LedgerAudit>> {
        let rows: Vec<(i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT m.id, m.balance, \
             COALESCE((SELECT SUM(points) FROM entries e WHERE e.member_id = m.id), 0)::BIGINT, \
             COALESCE((SELECT SUM(remaining) FROM lots l WHERE l.member_id = m.id), 0)::BIGINT \
             FROM members m ORDER BY m.id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(member_id, balance, entries_sum, lots_remaining)| LedgerAudit {
                    member_id,
                    balance,
                    entries_sum,
                    lots_remaining,
                },
            )
            .collect())
    }
}
