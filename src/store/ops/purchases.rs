//! Purchases, refunds and claims: the operations that earn and take back points.
//!
//! Locks (PostgreSQL) are taken in one order everywhere: the purchase's row,
//! then members (a batch's buyers together in id order, then a referrer),
//! then vouchers, then rewards, budgeted campaigns (in id order), prepaid
//! partners (in merchant order) and the other campaigns that gave points (in
//! id order); so two operations never wait on each other in a cycle.

use chrono::{DateTime, Utc};

use super::ledger::{expire_lots, lock_member, member_lots};
use super::{Award, Context, NewPurchase, Steps, members, rules, spend};
use crate::domain::campaign::Earning;
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

/// The plain way: each purchase (nothing when the receipt exists), then its
/// credit.
pub(crate) async fn insert_purchases<T: Steps>(
    tx: &mut T,
    ps: &[NewPurchase<'_>],
) -> Result<Vec<Option<i64>>> {
    let mut ids = Vec::with_capacity(ps.len());
    for p in ps {
        ids.push(insert_purchase(tx, p).await?);
    }
    Ok(ids)
}

/// One purchase, then its credit.
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
    if let (Some(member_id), Some(spend)) = (p.member_id, &p.spend) {
        spend::keep_spend(tx, member_id, spend).await?;
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

/// One purchase: [`record_purchases`] with a batch of one.
pub(crate) async fn record_purchase<T: Steps>(
    tx: &mut T,
    cmd: &PurchaseCommand,
) -> Result<Recorded<PurchaseReceipt>> {
    let answer = record_purchases(tx, &[cmd]).await?.pop().flatten();
    answer.unwrap_or_else(|| {
        Err(StoreError::Corrupt(
            "a lone purchase left unanswered".into(),
        ))
    })
}

/// The answer to each purchase of a batch; `None` for one left for after it.
pub(crate) type Answers = Vec<Option<Result<Recorded<PurchaseReceipt>>>>;

/// A purchase of a batch, priced.
struct Priced<'a> {
    /// Its place in the batch.
    slot: usize,
    cmd: &'a PurchaseCommand,
    ctx: Context,
    earning: Earning,
    breakdown: String,
}

impl Priced<'_> {
    fn buyer(&self) -> Option<&Buyer> {
        self.ctx.buyer.as_ref().map(|(b, _)| b)
    }

    fn points(&self) -> i64 {
        self.earning.breakdown.total().value()
    }

    /// A purchase without a member waits for a claim (if it earned anything).
    fn claim(&self) -> Option<(&str, DateTime<Utc>)> {
        (self.buyer().is_none() && self.points() > 0)
            .then_some((self.cmd.claim_code.as_str(), self.cmd.claim_expires_at))
    }

    fn balance_after(&self) -> Option<i64> {
        self.buyer().map(|b| b.balance + self.points())
    }

    fn row(&self) -> NewPurchase<'_> {
        let points = self.points();
        NewPurchase {
            cmd: self.cmd,
            member_id: self.buyer().map(|b| b.id),
            points,
            breakdown: &self.breakdown,
            balance_after: self.balance_after(),
            claim: self.claim(),
            referral_points: self.earning.referral.value(),
            credit: (self.buyer())
                .filter(|_| points > 0)
                .map(|b| (b.id, points, b.balance)),
            spend: (self.ctx.buyer.as_ref())
                .map(|(_, before)| spend::spend_after(self.cmd, *before)),
        }
    }
}

/// Records a batch of purchases in one transaction, as if one after the
/// other in the batch's order, reading and writing for all of them at once:
/// the buyers locked together (in id order), one read of their histories,
/// one write of the purchases and their credits, one of the campaigns'
/// awards, one of the notices; campaign budgets are taken in the batch's
/// order. What is rare runs purchase by purchase: replays, prepaid partners'
/// budgets, tier moves, audits.
///
/// A purchase is left for after the batch (answered `None`: run it again
/// alone) when it shares its member or receipt with an earlier one, or pays a
/// referral (whose referrer would be locked outside the batch's order). A
/// batch of one always gets its answer. An error is the whole batch's: the
/// caller rolls back, and may run each purchase alone.
pub(crate) async fn record_purchases<T: Steps>(
    tx: &mut T,
    cmds: &[&PurchaseCommand],
) -> Result<Answers> {
    let alone = cmds.len() == 1;
    let mut answers: Answers = cmds.iter().map(|_| None).collect();
    let batch: Vec<usize> = (0..cmds.len())
        .filter(|&i| !cmds[..i].iter().any(|e| shares(e, cmds[i])))
        .collect();
    let picked: Vec<&PurchaseCommand> = batch.iter().map(|&i| cmds[i]).collect();
    let contexts = rules::contexts(tx, &picked, true).await?;
    // What each budgeted campaign gave earlier purchases of the batch.
    let mut given: Vec<(i64, i64)> = Vec::new();
    let mut priced = Vec::with_capacity(batch.len());
    for (&slot, ctx) in batch.iter().zip(contexts) {
        let cmd = cmds[slot];
        let mut ctx = match ctx {
            Ok(ctx) => ctx,
            Err(e) => {
                answers[slot] = Some(Err(e));
                continue;
            }
        };
        if ctx.seen {
            answers[slot] = Some(replay(tx, cmd).await?);
            continue;
        }
        if !alone && ctx.buyer.as_ref().is_some_and(|(b, _)| b.referral_due(cmd)) {
            continue;
        }
        for c in &mut ctx.campaigns {
            c.awarded += given.iter().find(|g| g.0 == c.id).map_or(0, |g| g.1);
        }
        let earning = earn(cmd, &ctx);
        for (id, points) in &earning.awards {
            match given.iter_mut().find(|g| g.0 == *id) {
                Some(g) => g.1 += points.value(),
                None => given.push((*id, points.value())),
            }
        }
        let breakdown = serde_json::to_string(&earning.breakdown)
            .map_err(|e| StoreError::Corrupt(format!("purchase breakdown: {e}")))?;
        priced.push(Priced {
            slot,
            cmd,
            ctx,
            earning,
            breakdown,
        });
    }
    let rows: Vec<NewPurchase> = priced.iter().map(Priced::row).collect();
    let ids = tx.insert_purchases(&rows).await?;
    drop(rows);
    let mut written = Vec::with_capacity(priced.len());
    let (mut awards, mut notices, mut prepaid) = (Vec::new(), Vec::new(), Vec::new());
    for (p, id) in priced.into_iter().zip(ids) {
        let Some(purchase_id) = id else {
            // Recorded by another transaction since the history was read
            // (perhaps one this batch waited for): alone, that is a replay; in
            // a batch, the budgets given after it would be wrong.
            if !alone {
                return Err(StoreError::Raced);
            }
            answers[p.slot] = Some(replay(tx, p.cmd).await?);
            continue;
        };
        let (cmd, points) = (p.cmd, p.points());
        if p.ctx.prepaid {
            prepaid.push((cmd.merchant_id.as_str(), points));
        }
        awards.extend(p.earning.awards.iter().map(|(campaign_id, points)| Award {
            purchase_id,
            member_id: p.buyer().map(|b| b.id),
            campaign_id: *campaign_id,
            points: points.value(),
            at: cmd.now,
        }));
        if let Some(b) = p.buyer().filter(|b| points > 0 && b.has_channel) {
            let notice = earned_notice(cmd, &p.earning, &p.ctx.campaigns, b.balance + points);
            notices.push((b.id, notice, cmd.now));
        }
        written.push((p, purchase_id));
    }
    // A prepaid partner's budget must cover what it gives. Their rows are
    // locked in merchant order, so two batches never wait on each other.
    prepaid.sort_by_key(|p| p.0);
    for (merchant_id, points) in prepaid {
        super::partners::issue(tx, merchant_id, points).await?;
    }
    tx.record_awards(&awards).await?;
    tx.notify_all(&notices).await?;
    for (p, purchase_id) in written {
        let cmd = p.cmd;
        if let Some((b, spend)) =
            (p.ctx.buyer.as_ref()).map(|(b, s)| (b, spend::spend_after(cmd, *s)))
        {
            if b.referral_due(cmd) {
                let referrer_balance = rules::lock_referrer(tx, b, cmd).await?;
                let pay = ReferralPayment::of(cmd);
                let who = (b.id, b.referred_by);
                rules::pay_referral(tx, who, referrer_balance, purchase_id, &pay).await?;
            }
            let standing = (b.tier.clone(), spend.minor);
            rules::upgrade(tx, b.id, standing, &cmd.rules.tiers, "purchase", cmd.now).await?;
        }
        let receipt = PurchaseReceipt {
            purchase_id,
            receipt_id: cmd.receipt_id.clone(),
            points: Points::new(p.points()),
            member_code: p.buyer().map(|b| b.code.clone()),
            balance: p.balance_after().map(Points::new),
            available_at: cmd.timing.available_at,
            claim_code: p.claim().map(|c| c.0.to_string()),
            claim_expires_at: p.claim().map(|c| c.1),
            breakdown: p.earning.breakdown,
        };
        super::staff::audit_change(tx, cmd.audit.as_ref(), &receipt, cmd.now).await?;
        answers[p.slot] = Some(Ok(Recorded::New(receipt)));
    }
    Ok(answers)
}

/// Whether two purchases of a batch touch the same member or receipt.
fn shares(a: &PurchaseCommand, b: &PurchaseCommand) -> bool {
    (a.member_code.is_some() && a.member_code == b.member_code)
        || (a.merchant_id == b.merchant_id && a.receipt_id == b.receipt_id)
}

/// The answer for a receipt recorded before: its stored answer, or a conflict
/// when it came with another request.
async fn replay(
    tx: &mut impl Tx,
    cmd: &PurchaseCommand,
) -> Result<Result<Recorded<PurchaseReceipt>>> {
    let p = purchase_by_receipt(tx, &cmd.merchant_id, &cmd.receipt_id).await?;
    Ok(if p.fingerprint == cmd.fingerprint {
        Ok(Recorded::Replay(p.receipt()?))
    } else {
        Err(StoreError::IdempotencyConflict("receipt_id"))
    })
}

/// What a purchase earns. The part of the bill paid with points earns
/// nothing (unless the programme says so): the rules price the rest.
fn earn(cmd: &PurchaseCommand, ctx: &Context) -> Earning {
    let buyer = ctx.buyer.as_ref().map(|b| &b.0);
    let paid = if cmd.points_paid_earn_nothing {
        ctx.paid_with_points
    } else {
        0
    };
    if paid == 0 {
        return price(cmd, buyer, &ctx.campaigns, &ctx.used);
    }
    let rest = Money::from_minor((cmd.amount.minor() - paid).max(0), cmd.amount.currency());
    let priced = PurchaseCommand {
        amount: rest,
        ..cmd.clone()
    };
    price(&priced, buyer, &ctx.campaigns, &ctx.used)
}

/// Prices a purchase as recording it would, without locks or writes.
pub(crate) async fn price_purchase<T: Steps>(
    tx: &mut T,
    cmd: &PurchaseCommand,
) -> Result<Breakdown> {
    let ctx = rules::contexts(tx, &[cmd], false).await?.pop();
    let ctx =
        ctx.unwrap_or_else(|| Err(StoreError::Corrupt("a purchase without context".into())))?;
    Ok(earn(cmd, &ctx).breakdown)
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
    // Points past their expiry cannot pay a clawback: expire them first (the
    // row locked, so no one else expires them too), so any shortfall becomes
    // debt and the lots keep matching the balance.
    let before = lock_member(tx, member_id).await?;
    let (due, lots) = member_lots(tx, member_id, cmd.now).await?;
    let before = expire_lots(tx, member_id, before, &due, cmd.now).await?;
    if points == 0 {
        return Ok(before);
    }
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
    let (_, after) = tx.debit(&entry, before, &plan).await?;
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

/// Finds a purchase by `cond` and locks its row until the transaction ends
/// (PostgreSQL; SQLite's one writer needs no locks): its id.
async fn lock_purchase<T: Tx>(
    tx: &mut T,
    cond: &str,
    args: &[Value<'_>],
    what: &'static str,
) -> Result<i64> {
    let sql = format!("SELECT id FROM purchases WHERE {cond}{}", T::FOR_UPDATE);
    Ok(tx.one::<(i64,)>(&sql, args, what).await?.0)
}

/// A purchase with its member's code, read after its row was locked (locking
/// in the joined query itself could return a stale member code after waiting
/// on a concurrent claim).
async fn read_purchase(tx: &mut impl Tx, id: i64) -> Result<PurchaseRow> {
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
    // The purchase's row stays locked until commit, so concurrent refunds of
    // one purchase (and a claim racing a refund) run one after the other; the
    // same refund recorded while this one waited for the lock is a replay.
    let id = lock_purchase(
        tx,
        "merchant_id = $1 AND receipt_id = $2",
        args![&cmd.merchant_id, &cmd.receipt_id],
        "purchase",
    )
    .await?;
    if let Some(replay) = refund_replay(tx, cmd).await? {
        return Ok(replay);
    }
    let p = read_purchase(tx, id).await?;
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
    // What it refunded no longer counts towards the buyer's tier.
    let spend = p.member_id.map(|member_id| spend::SpendMove {
        member_id,
        currency: &p.currency,
        occurred_at: p.occurred_at,
        delta: -cmd.amount.minor(),
    });
    tx.update_purchase(
        "UPDATE purchases SET refunded_minor = refunded_minor + $1, \
         clawed_back = clawed_back + $2 WHERE id = $3",
        args![cmd.amount.minor(), claw, p.id],
        spend.as_ref(),
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
    let id = lock_purchase(tx, "claim_code = $1", args![code.as_str()], "claim code").await?;
    let p = read_purchase(tx, id).await?;
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
    // The claimed purchase counts towards the claimer's tier.
    let spend = spend::SpendMove {
        member_id,
        currency: &p.currency,
        occurred_at: p.occurred_at,
        delta: p.amount_minor - p.refunded_minor,
    };
    tx.update_purchase(
        "UPDATE purchases SET member_id = $1, claimed_at = $2 WHERE id = $3",
        args![member_id, now, p.id],
        Some(&spend),
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
