//! Paying with points at the till: reserve (the points leave the member's lots
//! at once), the customer's answer, capture, release, the hold running out, and
//! one-time pay codes. A payment's row is locked before its member's (after
//! the member only when it is made), so two tills, the customer and the sweep
//! take their turns.

use chrono::{DateTime, Utc};

use super::credit::{self, NewCredit};
use super::ledger::{give_back, live_lots, lock_member};
use super::{Steps, outbox};
use crate::domain::credit::CreditKind;
use crate::domain::ledger::{self, EntryKind};
use crate::domain::model::*;
use crate::domain::notice::Notice;
use crate::domain::payment::{self, PaySource, PaymentStatus, Step, StepRefused};
use crate::domain::{Money, Points, Refusal};
use crate::store::rows::NewEntry;
use crate::store::sql::{Row, Tx, args};
use crate::store::{Result, StoreError};

const PAYMENT_COLUMNS: &str = "SELECT p.id, p.request_id, p.merchant_id, m.code, p.points, \
    p.amount_minor, p.currency, p.status, p.receipt_id, p.expires_at, p.confirmed_at, p.closed_at, \
    p.created_at, p.member_id, p.fingerprint, p.hold_entry_id, p.source \
    FROM point_payments p JOIN members m ON m.id = p.member_id";

/// A payment's row: the payment, its fingerprint and its hold entry (in the
/// points ledger; none when it takes store credit).
struct PaymentRow {
    payment: PointPayment,
    fingerprint: String,
    hold_entry_id: Option<i64>,
}

fn payment_row(row: &Row) -> Result<PaymentRow> {
    let status: String = row.get(7)?;
    let currency: String = row.get(6)?;
    let source: String = row.get(16)?;
    let currency = currency
        .parse()
        .map_err(|_| StoreError::Corrupt(format!("currency {currency:?}")))?;
    Ok(PaymentRow {
        payment: PointPayment {
            id: row.get(0)?,
            request_id: row.get(1)?,
            merchant_id: row.get(2)?,
            member_code: row.get(3)?,
            source: PaySource::parse(&source)
                .ok_or_else(|| StoreError::Corrupt(format!("payment source {source:?}")))?,
            points: Points::new(row.get(4)?),
            amount: crate::domain::Money::from_minor(row.get(5)?, currency),
            status: PaymentStatus::parse(&status)
                .ok_or_else(|| StoreError::Corrupt(format!("payment status {status:?}")))?,
            receipt_id: row.get(8)?,
            expires_at: row.get(9)?,
            confirmed_at: row.get(10)?,
            closed_at: row.get(11)?,
            created_at: row.get(12)?,
            member_id: row.get(13)?,
        },
        fingerprint: row.get(14)?,
        hold_entry_id: row.get(15)?,
    })
}

/// A payment by id; locked until the transaction ends when `lock`.
async fn find<T: Tx>(tx: &mut T, id: &str, lock: bool) -> Result<PaymentRow> {
    let lock = if lock { " FOR UPDATE OF p" } else { "" };
    let lock = if T::BACKEND == crate::store::sql::Backend::Postgres {
        lock
    } else {
        ""
    };
    let rows = tx
        .rows(
            &format!("{PAYMENT_COLUMNS} WHERE p.id = $1{lock}"),
            args![id],
        )
        .await?;
    match rows.first() {
        Some(r) => payment_row(r),
        None => Err(StoreError::NotFound("point payment")),
    }
}

/// A payment as its merchant (or, with `None`, anyone inside taem) sees it.
pub(crate) async fn point_payment(
    tx: &mut impl Tx,
    id: &str,
    merchant_id: Option<&str>,
) -> Result<PointPayment> {
    let p = find(tx, id, false).await?.payment;
    match merchant_id {
        Some(m) if m != p.merchant_id => Err(StoreError::NotFound("point payment")),
        _ => Ok(p),
    }
}

fn refused(e: StepRefused) -> StoreError {
    Refusal::PaymentRefused(e).into()
}

/// Takes points from a member for a sale: held at once (soonest-expiring lots
/// first), confirmed by a fresh pay code or awaiting the customer's answer (they
/// are asked in their chat). The same request again answers the same payment.
pub(crate) async fn reserve<T: Steps>(
    tx: &mut T,
    cmd: &ReserveCommand,
) -> Result<Recorded<PointPayment>> {
    let member: Option<(i64,)> = tx
        .opt(
            "SELECT id FROM members WHERE code = $1",
            args![cmd.member_code.as_str()],
        )
        .await?;
    let (member_id,) = member.ok_or(StoreError::NotFound("member"))?;
    let balance = lock_member(tx, member_id).await?;
    let existing: Option<(String,)> = tx
        .opt(
            "SELECT id FROM point_payments WHERE merchant_id = $1 AND request_id = $2",
            args![&cmd.merchant_id, &cmd.request_id],
        )
        .await?;
    if let Some((id,)) = existing {
        let p = find(tx, &id, false).await?;
        return if p.fingerprint == cmd.fingerprint {
            Ok(Recorded::Replay(p.payment))
        } else {
            Err(StoreError::IdempotencyConflict("request_id"))
        };
    }
    if cmd.source == PaySource::Points && cmd.points.value() < cmd.min_points {
        return Err(Refusal::PaymentBelowMinimum {
            min: Points::new(cmd.min_points),
        }
        .into());
    }
    if cmd.source == PaySource::Points && balance < 0 {
        return Err(Refusal::NegativeBalance {
            balance: Points::new(balance),
        }
        .into());
    }
    let confirmed = match &cmd.pay_code_hash {
        None => false,
        Some(hash) => {
            let used = tx
                .exec(
                    "UPDATE pay_codes SET used_at = $1 WHERE code_hash = $2 AND member_id = $3 \
                     AND used_at IS NULL AND expires_at > $1",
                    args![cmd.now, hash, member_id],
                )
                .await?;
            if used == 0 {
                return Err(Refusal::PayCodeInvalid.into());
            }
            true
        }
    };
    let (entry_id, credit_id) = match cmd.source {
        PaySource::Points => {
            let lots = live_lots(tx, member_id, cmd.now).await?;
            let plan = ledger::plan_spend(&lots, cmd.points, cmd.now).map_err(|s| {
                Refusal::InsufficientPoints {
                    available: s.available,
                    needed: cmd.points,
                }
            })?;
            let entry = NewEntry {
                member_id,
                kind: EntryKind::Redeem,
                points: -cmd.points.value(),
                merchant_id: Some(&cmd.merchant_id),
                purchase_id: None,
                voucher_id: None,
                lot_id: None,
                reference: Some(&cmd.id),
                now: cmd.now,
            };
            let (entry_id, _) = tx.debit(&entry, balance, &plan).await?;
            (Some(entry_id), None)
        }
        PaySource::Credit => {
            let hold = NewCredit {
                member_id,
                kind: CreditKind::Hold,
                amount: Money::from_minor(-cmd.amount.minor(), cmd.amount.currency()),
                merchant_id: Some(&cmd.merchant_id),
                voucher_id: None,
                reference: Some(&cmd.id),
                now: cmd.now,
            };
            (None, Some(credit::append(tx, &hold).await?.0))
        }
    };
    let status = if confirmed {
        PaymentStatus::Confirmed
    } else {
        PaymentStatus::AwaitingConfirmation
    };
    tx.exec(
        "INSERT INTO point_payments (id, merchant_id, request_id, fingerprint, member_id, points, \
         amount_minor, currency, status, hold_entry_id, expires_at, confirmed_at, created_at, \
         source, credit_hold_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        args![
            &cmd.id,
            &cmd.merchant_id,
            &cmd.request_id,
            &cmd.fingerprint,
            member_id,
            cmd.points.value(),
            cmd.amount.minor(),
            cmd.amount.currency_code(),
            status.as_str(),
            entry_id,
            cmd.expires_at,
            confirmed.then_some(cmd.now),
            cmd.now,
            cmd.source.as_str(),
            credit_id,
        ],
    )
    .await?;
    if !confirmed {
        let notice = Notice::PaymentRequest {
            payment_id: cmd.id.clone(),
            merchant_id: cmd.merchant_id.clone(),
            points: cmd.points.value(),
            amount_minor: cmd.amount.minor(),
            currency: cmd.amount.currency_code().to_string(),
            expires_at: cmd.expires_at,
            credit: cmd.source == PaySource::Credit,
        };
        outbox::notify(tx, member_id, &notice, cmd.now).await?;
    }
    let made = find(tx, &cmd.id, false).await?.payment;
    super::staff::audit_change(tx, cmd.audit.as_ref(), &made, cmd.now).await?;
    Ok(Recorded::New(made))
}

/// Closes a payment that still holds its points (or credit): gives them back
/// (points to their lots).
async fn give_back_payment<T: Steps>(
    tx: &mut T,
    p: &PaymentRow,
    to: PaymentStatus,
    now: DateTime<Utc>,
) -> Result<()> {
    let pay = &p.payment;
    let (entry_id, credit_id) = match (pay.source, p.hold_entry_id) {
        (PaySource::Points, Some(hold)) => {
            let back = (pay.member_id, hold, pay.points.value());
            let (entry_id, _) = give_back(tx, back, (None, &pay.id), now).await?;
            (Some(entry_id), None)
        }
        (PaySource::Points, None) => {
            return Err(StoreError::Corrupt(format!(
                "payment {} has no hold",
                pay.id
            )));
        }
        (PaySource::Credit, _) => {
            lock_member(tx, pay.member_id).await?;
            let back = NewCredit {
                member_id: pay.member_id,
                kind: CreditKind::Release,
                amount: pay.amount,
                merchant_id: Some(&pay.merchant_id),
                voucher_id: None,
                reference: Some(&pay.id),
                now,
            };
            (None, Some(credit::append(tx, &back).await?.0))
        }
    };
    tx.exec(
        "UPDATE point_payments SET status = $1, closed_at = $2, release_entry_id = $3, \
         credit_release_id = $4 WHERE id = $5",
        args![to.as_str(), now, entry_id, credit_id, &pay.id],
    )
    .await?;
    Ok(())
}

/// The customer's answer in their chat (only their own payment).
pub(crate) async fn answer_payment<T: Steps>(
    tx: &mut T,
    (id, member_id): (&str, i64),
    yes: bool,
    now: DateTime<Utc>,
) -> Result<PointPayment> {
    let p = find(tx, id, true).await?;
    if p.payment.member_id != member_id {
        return Err(StoreError::NotFound("point payment"));
    }
    match payment::answer(p.payment.status, yes, p.payment.expires_at, now).map_err(refused)? {
        Step::Again => {}
        Step::To(PaymentStatus::Confirmed) => {
            tx.exec(
                "UPDATE point_payments SET status = 'confirmed', confirmed_at = $1 WHERE id = $2",
                args![now, id],
            )
            .await?;
        }
        Step::To(to) => give_back_payment(tx, &p, to, now).await?,
    }
    Ok(find(tx, id, false).await?.payment)
}

/// The till makes a confirmed payment final (again: the same answer).
pub(crate) async fn capture_payment<T: Steps>(
    tx: &mut T,
    (id, merchant_id): (&str, &str),
    receipt_id: Option<&str>,
    audit: Option<&crate::domain::staff::NewAudit>,
    now: DateTime<Utc>,
) -> Result<Recorded<PointPayment>> {
    let p = find(tx, id, true).await?;
    if p.payment.merchant_id != merchant_id {
        return Err(StoreError::NotFound("point payment"));
    }
    match payment::capture(p.payment.status, p.payment.expires_at, now).map_err(refused)? {
        Step::Again => Ok(Recorded::Replay(p.payment)),
        Step::To(_) => {
            tx.exec(
                "UPDATE point_payments SET status = 'captured', closed_at = $1, \
                 receipt_id = COALESCE($2, receipt_id) WHERE id = $3",
                args![now, receipt_id, id],
            )
            .await?;
            // The till's shop honoured the points: booked to it from the
            // lots of other partners they came from.
            if let Some(hold) = p.hold_entry_id {
                let of = (None, Some(id));
                super::partners::book(tx, hold, merchant_id, of, now).await?;
            }
            let (balance, credit_minor): (i64, i64) = tx
                .one(
                    "SELECT balance, credit_minor FROM members WHERE id = $1",
                    args![p.payment.member_id],
                    "member",
                )
                .await?;
            let notice = Notice::PaymentCaptured {
                merchant_id: merchant_id.to_string(),
                points: p.payment.points.value(),
                amount_minor: p.payment.amount.minor(),
                currency: p.payment.amount.currency_code().to_string(),
                balance,
                credit: (p.payment.source == PaySource::Credit).then_some(credit_minor),
            };
            outbox::notify(tx, p.payment.member_id, &notice, now).await?;
            let done = find(tx, id, false).await?.payment;
            super::staff::audit_change(tx, audit, &done, now).await?;
            Ok(Recorded::New(done))
        }
    }
}

/// The till gives a payment's points back (again: the same answer).
pub(crate) async fn release_payment<T: Steps>(
    tx: &mut T,
    (id, merchant_id): (&str, &str),
    audit: Option<&crate::domain::staff::NewAudit>,
    now: DateTime<Utc>,
) -> Result<Recorded<PointPayment>> {
    let p = find(tx, id, true).await?;
    if p.payment.merchant_id != merchant_id {
        return Err(StoreError::NotFound("point payment"));
    }
    match payment::release(p.payment.status).map_err(refused)? {
        Step::Again => Ok(Recorded::Replay(p.payment)),
        Step::To(to) => {
            give_back_payment(tx, &p, to, now).await?;
            let done = find(tx, id, false).await?.payment;
            super::staff::audit_change(tx, audit, &done, now).await?;
            Ok(Recorded::New(done))
        }
    }
}

/// Gives back a payment still waiting because its member is being erased.
pub(crate) async fn release_for_erasure<T: Steps>(
    tx: &mut T,
    id: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let p = find(tx, id, true).await?;
    if let Ok(Step::To(to)) = payment::release(p.payment.status) {
        give_back_payment(tx, &p, to, now).await?;
    }
    Ok(())
}

/// Payments whose hold ran out by `now` (ids after `after`, in order).
pub(crate) async fn due_payments(
    tx: &mut impl Tx,
    now: DateTime<Utc>,
    after: &str,
) -> Result<Vec<String>> {
    let rows: Vec<(String,)> = tx
        .all(
            "SELECT id FROM point_payments WHERE status IN ('awaiting_confirmation', 'confirmed') \
             AND expires_at <= $1 AND id > $2 ORDER BY id LIMIT 200",
            args![now, after],
        )
        .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Gives back a payment whose hold ran out (nothing if it moved on meanwhile).
pub(crate) async fn expire_payment<T: Steps>(
    tx: &mut T,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Option<i64>> {
    let p = find(tx, id, true).await?;
    match payment::expire(p.payment.status, p.payment.expires_at, now) {
        Some(Step::To(to)) => {
            give_back_payment(tx, &p, to, now).await?;
            Ok(Some(p.payment.points.value()))
        }
        _ => Ok(None),
    }
}

/// Keeps a new pay code's hash for a member (their earlier unused ones stop
/// working). A code used or run out before is taken over; one still live
/// (another member's) is not: `false`, nothing changed, and the caller draws
/// another.
pub(crate) async fn add_pay_code(
    tx: &mut impl Tx,
    (member_id, code_hash): (i64, &str),
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let live: Option<(i64,)> = tx
        .opt(
            "SELECT member_id FROM pay_codes WHERE code_hash = $1 AND used_at IS NULL \
             AND expires_at > $2",
            args![code_hash, now],
        )
        .await?;
    if live.is_some() {
        return Ok(false);
    }
    tx.exec(
        "UPDATE pay_codes SET used_at = $1 WHERE member_id = $2 AND used_at IS NULL",
        args![now, member_id],
    )
    .await?;
    tx.exec(
        "INSERT INTO pay_codes (code_hash, member_id, expires_at, created_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (code_hash) DO UPDATE SET \
         member_id = excluded.member_id, expires_at = excluded.expires_at, used_at = NULL, \
         created_at = excluded.created_at",
        args![code_hash, member_id, expires_at, now],
    )
    .await?;
    Ok(true)
}

/// A refund of (part of) a sale gives back, in proportion, the points and store
/// credit that paid for it (payments captured with its receipt id): points as a
/// new lot that expires when the latest lot they came from would have, credit
/// to the member's account. Returns (points, credit in minor units) given back.
pub(crate) async fn return_for_refund<T: Steps>(
    tx: &mut T,
    (merchant_id, receipt_id): (&str, &str),
    (amount_minor, refunded_after): (i64, i64),
    (purchase_id, refund_id): (i64, &str),
    now: DateTime<Utc>,
) -> Result<(i64, i64)> {
    type Paid = (String, i64, String, i64, i64, i64, i64, String, Option<i64>);
    let paid: Vec<Paid> = tx
        .all(
            "SELECT id, member_id, source, points, refunded_points, amount_minor, refunded_minor, \
             currency, hold_entry_id FROM point_payments \
             WHERE merchant_id = $1 AND receipt_id = $2 AND status = 'captured' ORDER BY id",
            args![merchant_id, receipt_id],
        )
        .await?;
    let (mut points_back, mut credit_back) = (0, 0);
    let share = |paid, back| payment::refund_share(paid, back, (refunded_after, amount_minor));
    for (id, member_id, source, points, refunded, minor, refunded_minor, currency, hold) in paid {
        let before = lock_member(tx, member_id).await?;
        if source == PaySource::Credit.as_str() {
            let due = share(minor, refunded_minor);
            if due <= 0 {
                continue;
            }
            let currency = currency
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("currency {currency:?}")))?;
            let back = NewCredit {
                member_id,
                kind: CreditKind::Refund,
                amount: Money::from_minor(due, currency),
                merchant_id: Some(merchant_id),
                voucher_id: None,
                reference: Some(refund_id),
                now,
            };
            credit::append(tx, &back).await?;
            tx.exec(
                "UPDATE point_payments SET refunded_minor = refunded_minor + $1 WHERE id = $2",
                args![due, &id],
            )
            .await?;
            credit_back += due;
            continue;
        }
        let due = share(points, refunded);
        if due <= 0 {
            continue;
        }
        let (latest,): (Option<DateTime<Utc>>,) = tx
            .one(
                "SELECT MAX(l.expires_at) FROM entry_lots el JOIN lots l ON l.id = el.lot_id \
                 WHERE el.entry_id = $1",
                args![hold],
                "lots",
            )
            .await?;
        let timing = LotTiming {
            available_at: now,
            expires_at: latest.unwrap_or(now).max(now + chrono::Duration::days(1)),
        };
        let Some(hold) = hold else {
            return Err(StoreError::Corrupt(format!("payment {id} has no hold")));
        };
        // The points go back as the shops that issued them issued them (one
        // lot per shop), and what was booked for them is booked back.
        let split =
            super::partners::refund_split(tx, hold, points, (refunded, refunded + due)).await?;
        let by_issuer = crate::domain::partner::by_issuer(split);
        let mut before = before;
        for crate::domain::partner::Returned {
            issuer,
            points: back,
            lots,
        } in by_issuer
        {
            let entry = NewEntry {
                member_id,
                kind: EntryKind::Release,
                points: back,
                merchant_id: Some(merchant_id),
                purchase_id: Some(purchase_id),
                voucher_id: None,
                lot_id: None,
                reference: Some(refund_id),
                now,
            };
            let (entry_id, after) =
                super::ledger::credit_issued_by(tx, entry, before, timing, issuer.as_deref())
                    .await?;
            super::partners::unbook_payment(tx, &id, &lots, entry_id, now).await?;
            before = after;
        }
        tx.exec(
            "UPDATE point_payments SET refunded_points = refunded_points + $1 WHERE id = $2",
            args![due, &id],
        )
        .await?;
        points_back += due;
    }
    Ok((points_back, credit_back))
}
