//! The ledger's steps, each inside the caller's transaction: entries, lots and
//! the cached balance move together.

use chrono::{DateTime, Utc};

use super::Steps;
use crate::domain::Points;
use crate::domain::ledger::{self, Allocation, EntryKind, LotView};
use crate::domain::model::*;
use crate::store::Result;
use crate::store::rows::*;
use crate::store::sql::{Tx, Value, args};

/// Appends an entry to a member whose balance before it is `before`, and moves
/// the cached balance with it; returns the entry id and the balance after.
pub(crate) async fn append(tx: &mut impl Tx, e: &NewEntry<'_>, before: i64) -> Result<(i64, i64)> {
    let after = before + e.points;
    tx.exec(
        "UPDATE members SET balance = balance + $1 WHERE id = $2",
        args![e.points, e.member_id],
    )
    .await?;
    let id = tx
        .insert(
            "INSERT INTO entries (member_id, kind, points, balance_after, merchant_id, \
             purchase_id, voucher_id, lot_id, reference, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            args![
                e.member_id,
                e.kind.as_str(),
                e.points,
                after,
                e.merchant_id,
                e.purchase_id,
                e.voucher_id,
                e.lot_id,
                e.reference,
                e.now,
            ],
        )
        .await?;
    Ok((id, after))
}

/// Credits points that can be spent to a member whose balance is `before`: a new
/// lot (holding what is left after any debt is repaid) and the entry. Returns
/// (entry id, balance after).
pub(crate) async fn credit<T: Steps>(
    tx: &mut T,
    e: NewEntry<'_>,
    before: i64,
    timing: LotTiming,
) -> Result<(i64, i64)> {
    let lot_id = tx
        .insert(
            "INSERT INTO lots (member_id, points, remaining, earned_at, available_at, \
             expires_at, merchant_id, purchase_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &lot_values(&e, before, timing),
        )
        .await?;
    let e = NewEntry {
        lot_id: Some(lot_id),
        ..e
    };
    tx.append(&e, before).await
}

/// [`credit`], but the new lot counts as issued by `issuer` (points a refund
/// returns to the shops that issued them), whatever the entry's merchant.
pub(crate) async fn credit_issued_by<T: Steps>(
    tx: &mut T,
    e: NewEntry<'_>,
    before: i64,
    timing: LotTiming,
    issuer: Option<&str>,
) -> Result<(i64, i64)> {
    let lot = NewEntry {
        merchant_id: issuer,
        ..e
    };
    let lot_id = tx
        .insert(
            "INSERT INTO lots (member_id, points, remaining, earned_at, available_at, \
             expires_at, merchant_id, purchase_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &lot_values(&lot, before, timing),
        )
        .await?;
    let e = NewEntry {
        lot_id: Some(lot_id),
        ..e
    };
    tx.append(&e, before).await
}

/// `$1`–`$8` of a credit's new lot: member, points, what the lot holds (what
/// is left after any debt of a member whose balance is `before` is repaid),
/// earned, available and expiry times, merchant, purchase.
pub(crate) fn lot_values<'a>(e: &NewEntry<'a>, before: i64, timing: LotTiming) -> Vec<Value<'a>> {
    let into_lot = ledger::credit_to_lots(Points::new(before), Points::new(e.points)).value();
    vec![
        Value::from(e.member_id),
        Value::from(e.points),
        Value::from(into_lot),
        Value::from(e.now),
        Value::from(timing.available_at),
        Value::from(timing.expires_at),
        Value::from(e.merchant_id),
        Value::from(e.purchase_id),
    ]
}

/// A member's balance; on PostgreSQL the member's row stays locked until the
/// transaction ends. Every operation that moves a member's points reads this
/// before their lots, so such operations on one member never interleave.
pub(crate) async fn lock_member<T: Tx>(tx: &mut T, member_id: i64) -> Result<i64> {
    let sql = format!("SELECT balance FROM members WHERE id = $1{}", T::FOR_UPDATE);
    Ok(tx.one::<(i64,)>(&sql, args![member_id], "member").await?.0)
}

/// The lots a member can spend from at `now`.
pub(crate) async fn live_lots(
    tx: &mut impl Tx,
    member_id: i64,
    now: DateTime<Utc>,
) -> Result<Vec<LotView>> {
    let rows: Vec<LotRow> = tx
        .all(
            &format!("{LOT_COLUMNS} WHERE member_id = $1 AND remaining > 0 AND expires_at > $2"),
            args![member_id, now],
        )
        .await?;
    Ok(rows.iter().map(LotRow::view).collect())
}

/// Appends a debit entry and takes the planned points out of their lots (see
/// [`Steps::debit`]); (entry id, balance after).
pub(crate) async fn debit<T: Steps>(
    tx: &mut T,
    e: &NewEntry<'_>,
    before: i64,
    plan: &[Allocation],
) -> Result<(i64, i64)> {
    let (entry_id, after) = tx.append(e, before).await?;
    take_from_lots(tx, entry_id, plan).await?;
    Ok((entry_id, after))
}

/// Takes the planned points out of their lots and records where they came from.
pub(crate) async fn take_from_lots(
    tx: &mut impl Tx,
    entry_id: i64,
    plan: &[Allocation],
) -> Result<()> {
    for a in plan {
        tx.exec(
            "UPDATE lots SET remaining = remaining - $1 WHERE id = $2",
            args![a.points, a.lot_id],
        )
        .await?;
        tx.exec(
            "INSERT INTO entry_lots (entry_id, lot_id, points) VALUES ($1, $2, $3)",
            args![entry_id, a.lot_id, a.points],
        )
        .await?;
    }
    Ok(())
}

/// Gives `points` taken by entry `taken_by` back to the lots they came from
/// (the member's row locked) with a `release` entry; returns the entry's id
/// and the member's balance after.
pub(crate) async fn give_back<T: Steps>(
    tx: &mut T,
    (member_id, taken_by, points): (i64, i64, i64),
    (voucher_id, reference): (Option<i64>, &str),
    now: DateTime<Utc>,
) -> Result<(i64, i64)> {
    let before = lock_member(tx, member_id).await?;
    let taken: Vec<(i64, i64, DateTime<Utc>, DateTime<Utc>)> = tx
        .all(
            "SELECT l.id, el.points, l.available_at, l.expires_at FROM entry_lots el \
             JOIN lots l ON l.id = el.lot_id WHERE el.entry_id = $1",
            args![taken_by],
        )
        .await?;
    let taken: Vec<(LotView, i64)> = taken
        .into_iter()
        .map(|(id, points, available_at, expires_at)| {
            let lot = LotView {
                id,
                remaining: 0,
                available_at,
                expires_at,
            };
            (lot, points)
        })
        .collect();
    for a in ledger::plan_release(&taken, Points::new(before), Points::new(points)) {
        tx.exec(
            "UPDATE lots SET remaining = remaining + $1 WHERE id = $2",
            args![a.points, a.lot_id],
        )
        .await?;
    }
    let entry = NewEntry {
        member_id,
        kind: EntryKind::Release,
        points,
        merchant_id: None,
        purchase_id: None,
        voucher_id,
        lot_id: None,
        reference: Some(reference),
        now,
    };
    tx.append(&entry, before).await
}

/// Gives a voucher's points back to the lots they came from and closes it (the
/// member's row locked). Returns the member's balance after.
pub(crate) async fn release_voucher<T: Steps>(
    tx: &mut T,
    v: &VoucherRow,
    status: VoucherStatus,
    now: DateTime<Utc>,
) -> Result<i64> {
    let (entry_id, balance) = give_back(
        tx,
        (v.member_id, v.redeem_entry_id, v.points),
        (Some(v.id), &v.code),
        now,
    )
    .await?;
    super::partners::unbook_voucher(tx, v.id, entry_id, now).await?;
    tx.exec(
        "UPDATE vouchers SET status = $1, closed_at = $2 WHERE id = $3",
        args![status.as_str(), now, v.id],
    )
    .await?;
    tx.exec(
        "UPDATE rewards SET stock = stock + 1 WHERE id = $1 AND stock IS NOT NULL",
        args![v.reward_id],
    )
    .await?;
    Ok(balance)
}

/// Expires a member's lots that are past their expiry, under their row's
/// lock: one entry for all of them. Returns (lots expired, points expired).
pub(crate) async fn expire_member_lots<T: Steps>(
    tx: &mut T,
    member_id: i64,
    now: DateTime<Utc>,
) -> Result<(u64, i64)> {
    let before = lock_member(tx, member_id).await?;
    let due: Vec<(i64, i64)> = tx
        .all(
            "SELECT id, remaining FROM lots WHERE member_id = $1 AND remaining > 0 \
             AND expires_at <= $2",
            args![member_id, now],
        )
        .await?;
    expire_lots(tx, member_id, before, &due, now).await?;
    Ok((due.len() as u64, due.iter().map(|(_, r)| r).sum()))
}

/// The member's lots with points left, as (past their expiry, live) at `now`:
/// one read for both. Their row must be locked, so that no one else expires
/// or spends the same lots meanwhile.
pub(crate) async fn member_lots(
    tx: &mut impl Tx,
    member_id: i64,
    now: DateTime<Utc>,
) -> Result<(Vec<(i64, i64)>, Vec<LotView>)> {
    let rows: Vec<LotRow> = tx
        .all(
            &format!("{LOT_COLUMNS} WHERE member_id = $1 AND remaining > 0"),
            args![member_id],
        )
        .await?;
    let (due, live): (Vec<LotView>, Vec<LotView>) = rows
        .iter()
        .map(LotRow::view)
        .partition(|l| l.expires_at <= now);
    Ok((due.iter().map(|l| (l.id, l.remaining)).collect(), live))
}

/// Expires the given lots (id, points left) of a member whose row is locked,
/// with one entry; returns the balance after.
pub(crate) async fn expire_lots<T: Steps>(
    tx: &mut T,
    member_id: i64,
    before: i64,
    due: &[(i64, i64)],
    now: DateTime<Utc>,
) -> Result<i64> {
    if due.is_empty() {
        return Ok(before);
    }
    let total: i64 = due.iter().map(|(_, r)| r).sum();
    let entry = NewEntry {
        member_id,
        kind: EntryKind::Expire,
        points: -total,
        merchant_id: None,
        purchase_id: None,
        voucher_id: None,
        lot_id: None,
        reference: None,
        now,
    };
    let plan: Vec<Allocation> = due
        .iter()
        .map(|&(lot_id, points)| Allocation { lot_id, points })
        .collect();
    Ok(tx.debit(&entry, before, &plan).await?.1)
}
