//! Store credit's steps, inside the caller's transaction: the entry and the
//! cached balance move together, and the balance never goes below zero. The
//! caller has locked the member first (`ledger::lock_member`), as every
//! operation on a member's points does, so credit moves take their turns too.

use chrono::{DateTime, Utc};

use crate::domain::credit::{self, CreditKind};
use crate::domain::{Money, Refusal};
use crate::store::sql::{Tx, args};
use crate::store::{Result, StoreError};

/// A movement of store credit to append.
pub(crate) struct NewCredit<'a> {
    pub(crate) member_id: i64,
    pub(crate) kind: CreditKind,
    /// Signed: negative takes credit.
    pub(crate) amount: Money,
    pub(crate) merchant_id: Option<&'a str>,
    pub(crate) voucher_id: Option<i64>,
    /// The payment or refund behind it.
    pub(crate) reference: Option<&'a str>,
    pub(crate) now: DateTime<Utc>,
}

/// A member's store credit (minor units).
pub(crate) async fn balance(tx: &mut impl Tx, member_id: i64) -> Result<i64> {
    Ok(tx
        .one::<(i64,)>(
            "SELECT credit_minor FROM members WHERE id = $1",
            args![member_id],
            "member",
        )
        .await?
        .0)
}

/// Appends a credit entry and moves the cached balance; refuses (changing
/// nothing) what would take the balance below zero. Returns (entry id, balance
/// after).
pub(crate) async fn append(tx: &mut impl Tx, e: &NewCredit<'_>) -> Result<(i64, i64)> {
    let before = balance(tx, e.member_id).await?;
    let delta = e.amount.minor();
    let after = credit::after(before, delta).ok_or_else(|| {
        StoreError::from(Refusal::InsufficientCredit {
            available: Money::from_minor(before, e.amount.currency()),
            needed: Money::from_minor(-delta, e.amount.currency()),
        })
    })?;
    tx.exec(
        "UPDATE members SET credit_minor = $1 WHERE id = $2",
        args![after, e.member_id],
    )
    .await?;
    let id = tx
        .insert(
            "INSERT INTO credit_entries (member_id, kind, amount_minor, currency, balance_after, \
             merchant_id, voucher_id, reference, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            args![
                e.member_id,
                e.kind.as_str(),
                delta,
                e.amount.currency_code(),
                after,
                e.merchant_id,
                e.voucher_id,
                e.reference,
                e.now,
            ],
        )
        .await?;
    Ok((id, after))
}
