//! Purchases, refunds and claims: the operations that earn and take back points.
//!
//! Locks (PostgreSQL) are taken in one order everywhere: the purchase's row,
//! then members (buyer, then referrer), then vouchers, then rewards and
//! campaigns; so two operations never wait on each other.

use chrono::{DateTime, Utc};

use super::ledger::{expire_member_lots, live_lots, lock_member, take_from_lots};
use super::{Context, NewPurchase, Steps, members, rules};
use crate::domain::earn::{Breakdown, decide_refund};
use crate::domain::ledger::{self, EntryKind};
use crate::domain::model::*;
use crate::domain::notice::Notice;
use crate::domain::purchase::*;
use crate::domain::{ClaimCode, Money, Points};
use crate::store::rows::*;
use crate::store::sql::{Tx, Value, args};
use crate::store::{Result, StoreError};

pub(crate) const INSERT_PURCHASE: &str = "INSERT INTO purchases (merchant_id, receipt_id, fingerprint, \
    member_id, amount_minor, currency, occurred_at, items, points, breakdown, balance_after, \
    available_at, claim_code, claim_expires_at, referral_points, created_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
    ON CONFLICT (merchant_id, receipt_id) DO NOTHING";

/// The plain way: the purchase (nothing when the receipt exists), then the credit.
pub(crate) async fn insert_purchase<T: Steps>(
    tx: &mut T,
    p: &NewPurchase<'_>,
) -> Result<Option<i64>> {
    let cmd = p.cmd;
    let Some(purchase_id) = tx.try_insert(INSERT_PURCHASE, &purchase_args(p)).await? else {
        return Ok(None);
    };
    if let Some((member_id, points, before)) = p.credit {
        let entry = earn_entry(member_id, points, cmd, purchase_id);
        tx.credit(entry, before, cmd.timing).await?;
    }
    Ok(Some(purchase_id))
}

/// The values of [`INSERT_PURCHASE`]'s `$1`–`$16`.
pub(crate) fn purchase_args<'a>(p: &'a NewPurchase<'a>) -> Vec<Value<'a>> {
    let cmd = p.cmd;
    vec![
        Value::from(&cmd.merchant_id),
        Value::from(&cmd.receipt_id),
        Value::from(&cmd.fingerprint),
        Value::from(p.member_id),
        Value::from(cmd.amount.minor()),
        Value::from(cmd.amount.currency_code()),
        Value::from(cmd.occurred_at),
        Value::from(&cmd.items_json),
        Value::from(p.points),
        Value::from(p.breakdown),
        Value::from(p.balance_after),
        Value::from(cmd.timing.available_at),
        Value::from(p.claim.map(|c| c.0)),
        Value::from(p.claim.map(|c| c.1)),
        Value::from(p.referral_points),
        Value::from(cmd.now),
    ]
}

fn earn_entry<'a>(
    member_id: i64,
    points: i64,
    cmd: &'a PurchaseCommand,
    purchase_id: i64,
) -> NewEntry<'a> {
    NewEntry {
        member_id,
        kind: EntryKind::Earn,
        points,
        merchant_id: Some(&cmd.merchant_id),
        purchase_id: Some(purchase_id),
        voucher_id: None,
        lot_id: None,
        reference: Some(&cmd.receipt_id),
        now: cmd.now,
    }
}

pub(crate) async fn purchase_by_receipt(
    tx: &mut impl Tx,
    merchant_id: &str,
    receipt_id: &str,
) -> Result<PurchaseRow> {
    tx.one(
        &format!("{PURCHASE_COLUMNS} WHERE p.merchant_id = $1 AND p.receipt_id = $2"),
        args![merchant_id, receipt_id],
        "purchase",
    )
    .await
}

pub(crate) async fn record_purchase<T: Steps>(
    tx: &mut T,
    cmd: &PurchaseCommand,
) -> Result<Recorded<PurchaseReceipt>> {
    let Context {
        buyer,
        referrer_balance,
        campaigns,
        used,
        paid_with_points,
        prepaid,
    } = rules::context(tx, cmd, true).await?;
    // The part of the bill paid with points earns nothing (unless the programme
    // says so): the rules price the rest.
    let paid = if cmd.points_paid_earn_nothing {
        paid_with_points
    } else {
        0
    };
    let earning = if paid > 0 {
        let rest = crate::domain::Money::from_minor(
            (cmd.amount.minor() - paid).max(0),
            cmd.amount.currency(),
        );
        let priced = PurchaseCommand {
            amount: rest,
            ..cmd.clone()
        };
        price(&priced, buyer.as_ref().map(|b| &b.0), &campaigns, &used)
    } else {
        price(cmd, buyer.as_ref().map(|b| &b.0), &campaigns, &used)
    };
    let points = earning.breakdown.total().value();
    let breakdown = serde_json::to_string(&earning.breakdown)
        .map_err(|e| StoreError::Corrupt(format!("purchase breakdown: {e}")))?;
    // A purchase without a member waits for a claim (if it earned anything).
    let claim =
        (buyer.is_none() && points > 0).then_some((cmd.claim_code.as_str(), cmd.claim_expires_at));
    let balance_after = buyer.as_ref().map(|(b, _)| b.balance + points);
    let new = NewPurchase {
        cmd,
        member_id: buyer.as_ref().map(|(b, _)| b.id),
        points,
        breakdown: &breakdown,
        balance_after,
        claim,
        referral_points: earning.referral.value(),
        credit: buyer
            .as_ref()
            .filter(|_| points > 0)
            .map(|(b, _)| (b.id, points, b.balance)),
    };
    let Some(purchase_id) = tx.insert_purchase(&new).await? else {
        // Seen before (perhaps a moment ago, by a request this one waited for).
        let p = purchase_by_receipt(tx, &cmd.merchant_id, &cmd.receipt_id).await?;
        return if p.fingerprint == cmd.fingerprint {
            Ok(Recorded::Replay(p.receipt()?))
        } else {
            Err(StoreError::IdempotencyConflict("receipt_id"))
        };
    };
    // A prepaid partner's budget must cover what it gives.
    if prepaid {
        super::partners::issue(tx, &cmd.merchant_id, points).await?;
    }
    let member_id = new.member_id;
    tx.record_awards(purchase_id, member_id, &earning.awards, cmd.now)
        .await?;
    if let Some((b, spend_before)) = &buyer {
        if points > 0 && b.has_channel {
            let notice = earned_notice(cmd, &earning, &campaigns, b.balance + points);
            super::outbox::notify(tx, b.id, &notice, cmd.now).await?;
        }
        if b.referral_due(cmd) {
            let pay = ReferralPayment::of(cmd);
            let who = (b.id, b.referred_by);
            rules::pay_referral(tx, who, referrer_balance, purchase_id, &pay).await?;
        }
        let standing = (b.tier.clone(), spend_before + counted_spend(cmd));
        rules::upgrade(tx, b.id, standing, &cmd.rules.tiers, "purchase", cmd.now).await?;
    }
    let receipt = PurchaseReceipt {
        purchase_id,
        receipt_id: cmd.receipt_id.clone(),
        points: Points::new(points),
        breakdown: earning.breakdown,
        member_code: buyer.map(|(b, _)| b.code),
        balance: balance_after.map(Points::new),
        available_at: cmd.timing.available_at,
        claim_code: claim.map(|c| c.0.to_string()),
        claim_expires_at: claim.map(|c| c.1),
    };
    super::staff::audit_change(tx, cmd.audit.as_ref(), &receipt, cmd.now).await?;
    Ok(Recorded::New(receipt))
}

/// Prices a purchase as recording it would, without locks or writes.
pub(crate) async fn price_purchase<T: Steps>(
    tx: &mut T,
    cmd: &PurchaseCommand,
) -> Result<Breakdown> {
    let c = rules::context(tx, cmd, false).await?;
    Ok(price(cmd, c.buyer.as_ref().map(|b| &b.0), &c.campaigns, &c.used).breakdown)
}

/// Takes `points` of a refunded purchase back from a member (the buyer, or the
/// referrer it paid; their row locked), from the purchase's own lot first; a
/// shortfall becomes debt. Returns the member's balance after.
async fn claw_back<T: Steps>(
    tx: &mut T,
    member_id: i64,
    p: &PurchaseRow,
    points: i64,
    cmd: &RefundCommand,
) -> Result<i64> {
    // Points past their expiry cannot pay a clawback: expire them first, so any
    // shortfall becomes debt and the lots keep matching the balance.
    let (_, _, expired) = expire_member_lots(tx, member_id, cmd.now).await?;
    let before = match expired {
        Some(after) => after,
        None => lock_member(tx, member_id).await?,
    };
    if points == 0 {
        return Ok(before);
    }
    let lots = live_lots(tx, member_id, cmd.now).await?;
    let own: Option<(i64,)> = tx
        .opt(
            "SELECT id FROM lots WHERE purchase_id = $1 AND member_id = $2",
            args![p.id, member_id],
        )
        .await?;
    let (plan, _debt) =
        ledger::plan_clawback(&lots, own.map(|o| o.0), Points::new(points), cmd.now);
    let entry = NewEntry {
        member_id,
        kind: EntryKind::Clawback,
        points: -points,
        merchant_id: Some(&cmd.merchant_id),
        purchase_id: Some(p.id),
        voucher_id: None,
        lot_id: None,
        reference: Some(&cmd.refund_id),
        now: cmd.now,
    };
    let (entry_id, after) = tx.append(&entry, before).await?;
    take_from_lots(tx, entry_id, &plan).await?;
    Ok(after)
}

/// The stored answer for a refund seen before (a replay), a conflict if its key
/// came with another request, or `None` for a new refund.
async fn refund_replay(
    tx: &mut impl Tx,
    cmd: &RefundCommand,
) -> Result<Option<Recorded<RefundReceipt>>> {
    type Existing = (
        String,
        String,
        i64,
        i64,
        Option<i64>,
        Option<String>,
        i64,
        i64,
        i64,
    );
    // The amount still refundable is what it was right after this refund.
    let existing: Option<Existing> = tx
        .opt(
            "SELECT r.fingerprint, p.receipt_id, r.purchase_id, r.points, r.balance_after, \
             m.code, p.amount_minor - (SELECT CAST(SUM(o.amount_minor) AS BIGINT) \
             FROM refunds o WHERE o.purchase_id = p.id AND o.id <= r.id), r.points_returned, \
             r.credit_returned_minor \
             FROM refunds r JOIN purchases p ON p.id = r.purchase_id \
             LEFT JOIN members m ON m.id = r.member_id \
             WHERE r.merchant_id = $1 AND r.refund_id = $2",
            args![&cmd.merchant_id, &cmd.refund_id],
        )
        .await?;
    let Some((fingerprint, receipt_id, purchase_id, points, balance, code, left, returned, credit)) =
        existing
    else {
        return Ok(None);
    };
    if fingerprint != cmd.fingerprint {
        return Err(StoreError::IdempotencyConflict("refund_id"));
    }
    Ok(Some(Recorded::Replay(RefundReceipt {
        refund_id: cmd.refund_id.clone(),
        receipt_id,
        purchase_id,
        points_clawed_back: Points::new(points),
        refundable_amount: Money::from_minor(left, cmd.amount.currency()).to_decimal_string(),
        member_code: code,
        balance: balance.map(Points::new),
        points_returned: Points::new(returned),
        credit_returned: credit_text(credit, cmd.amount.currency()),
    })))
}

/// Store credit a refund gave back, as the answer says it (none: absent).
fn credit_text(minor: i64, currency: crate::domain::Currency) -> Option<String> {
    (minor > 0).then(|| Money::from_minor(minor, currency).to_decimal_string())
}

/// Locks a purchase's row until the transaction ends (PostgreSQL; SQLite's one
/// writer needs no locks), then reads it with its member's code. (Locking in the
/// joined query itself could return a stale member code after waiting on a
/// concurrent claim.)
async fn lock_purchase<T: Tx>(tx: &mut T, id: i64) -> Result<PurchaseRow> {
    if !T::FOR_UPDATE.is_empty() {
        let sql = format!("SELECT id FROM purchases WHERE id = $1{}", T::FOR_UPDATE);
        tx.exec(&sql, args![id]).await?;
    }
    tx.one(
        &format!("{PURCHASE_COLUMNS} WHERE p.id = $1"),
        args![id],
        "purchase",
    )
    .await
}

pub(crate) async fn record_refund<T: Steps>(
    tx: &mut T,
    cmd: &RefundCommand,
) -> Result<Recorded<RefundReceipt>> {
    if let Some(replay) = refund_replay(tx, cmd).await? {
        return Ok(replay);
    }
    // The purchase's row stays locked until commit, so concurrent refunds of
    // one purchase (and a claim racing a refund) run one after the other.
    let (id,): (i64,) = tx
        .one(
            "SELECT id FROM purchases WHERE merchant_id = $1 AND receipt_id = $2",
            args![&cmd.merchant_id, &cmd.receipt_id],
            "purchase",
        )
        .await?;
    let p = lock_purchase(tx, id).await?;
    // The same refund may have been recorded while this one waited for the lock.
    if !T::FOR_UPDATE.is_empty()
        && let Some(replay) = refund_replay(tx, cmd).await?
    {
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
    // Points taken back go back into a prepaid partner's budget.
    super::partners::issue(tx, &cmd.merchant_id, -claw).await?;
    let mut balance = None;
    if let Some(member_id) = p.member_id {
        let after = claw_back(tx, member_id, &p, claw, cmd).await?;
        if after < 0 && claw > 0 {
            let notice = Notice::NegativeBalance { balance: after };
            super::outbox::notify(tx, member_id, &notice, cmd.now).await?;
        }
        balance = Some(after);
        // A referral paid by this purchase goes back when it is refunded in full.
        let full = p.refunded_minor + cmd.amount.minor() == p.amount_minor;
        if full && p.referrer_points > 0 {
            let (referrer,): (Option<i64>,) = tx
                .one(
                    "SELECT referred_by FROM members WHERE id = $1",
                    args![member_id],
                    "member",
                )
                .await?;
            if let Some(referrer) = referrer {
                claw_back(tx, referrer, &p, p.referrer_points, cmd).await?;
            }
        }
    }
    let (returned, credit_returned) = super::payments::return_for_refund(
        tx,
        (&cmd.merchant_id, &p.receipt_id),
        (p.amount_minor, p.refunded_minor + cmd.amount.minor()),
        (p.id, &cmd.refund_id),
        cmd.now,
    )
    .await?;
    if returned > 0
        && let Some(member_id) = p.member_id
    {
        let (after,): (i64,) = tx
            .one(
                "SELECT balance FROM members WHERE id = $1",
                args![member_id],
                "member",
            )
            .await?;
        balance = Some(after);
    }
    tx.exec(
        "UPDATE purchases SET refunded_minor = refunded_minor + $1, \
         clawed_back = clawed_back + $2 WHERE id = $3",
        args![cmd.amount.minor(), claw, p.id],
    )
    .await?;
    tx.exec(
        "INSERT INTO refunds (merchant_id, refund_id, purchase_id, fingerprint, amount_minor, \
         points, member_id, balance_after, created_at, points_returned, credit_returned_minor) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        args![
            &cmd.merchant_id,
            &cmd.refund_id,
            p.id,
            &cmd.fingerprint,
            cmd.amount.minor(),
            claw,
            p.member_id,
            balance,
            cmd.now,
            returned,
            credit_returned,
        ],
    )
    .await?;
    let receipt = RefundReceipt {
        refund_id: cmd.refund_id.clone(),
        receipt_id: p.receipt_id,
        purchase_id: p.id,
        points_clawed_back: Points::new(claw),
        refundable_amount: plan.refundable_after.to_decimal_string(),
        member_code: p.member_code,
        balance: balance.map(Points::new),
        points_returned: Points::new(returned),
        credit_returned: credit_text(credit_returned, cmd.amount.currency()),
    };
    super::staff::audit_change(tx, cmd.audit.as_ref(), &receipt, cmd.now).await?;
    Ok(Recorded::New(receipt))
}

/// Gives a member the points of a purchase made without one.
pub(crate) async fn claim_receipt<T: Steps>(
    tx: &mut T,
    member_id: i64,
    code: &ClaimCode,
    timing: LotTiming,
    now: DateTime<Utc>,
) -> Result<ClaimReceipt> {
    // Locked first (then the member), as a refund does: a claim and a refund of
    // the same purchase run one after the other, and two claims cannot both win.
    let (id,): (i64,) = tx
        .one(
            "SELECT id FROM purchases WHERE claim_code = $1",
            args![code.as_str()],
            "claim code",
        )
        .await?;
    let p = lock_purchase(tx, id).await?;
    decide_claim(
        p.claimed_at.is_some() || p.member_id.is_some(),
        p.claim_expires_at,
        now,
    )?;
    let before = lock_member(tx, member_id).await?;
    let points = p.points - p.clawed_back;
    let balance = if points > 0 {
        let entry = NewEntry {
            member_id,
            kind: EntryKind::Earn,
            points,
            merchant_id: Some(&p.merchant_id),
            purchase_id: Some(p.id),
            voucher_id: None,
            lot_id: None,
            reference: Some(&p.receipt_id),
            now,
        };
        tx.credit(entry, before, timing).await?.1
    } else {
        before
    };
    tx.exec(
        "UPDATE purchases SET member_id = $1, claimed_at = $2 WHERE id = $3",
        args![member_id, now, p.id],
    )
    .await?;
    // Read in this transaction (PostgreSQL: not through a second connection).
    let program = members::program(tx).await?;
    let pay = ReferralPayment {
        rule: program.referral,
        merchant_id: &p.merchant_id,
        timing,
        now,
    };
    let (bonus, balance) =
        rules::referral_on_claim(tx, member_id, &p, &program, &pay, balance).await?;
    // The claimed purchase now counts towards the member's tier.
    let currency = program.currency.code();
    let standing = rules::tier_standing(tx, member_id, currency, now).await?;
    rules::upgrade(tx, member_id, standing, &program.tiers, "claim", now).await?;
    Ok(ClaimReceipt {
        receipt_id: p.receipt_id,
        merchant_id: p.merchant_id,
        points: Points::new(points + bonus),
        balance: Points::new(balance),
    })
}
