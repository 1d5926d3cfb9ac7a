//! A member's rolling spend, the tier window's total. It is kept on the
//! member's row (`spend_minor` in `spend_currency` over purchases after
//! `spend_since`): a purchase reads it and takes off only what left the window
//! since, then writes it anew with the balance; refunds and claims move it;
//! `taem check` reads it against the purchases.

use chrono::{DateTime, Utc};

use crate::domain::model::PurchaseCommand;
use crate::domain::purchase::counted_spend;
use crate::domain::tier::window_start;
use crate::store::Result;
use crate::store::sql::{Tx, Value, args};

/// A member's spend in `currency` over the rolling window ending at `now`.
pub(crate) async fn spend(
    tx: &mut impl Tx,
    member_id: i64,
    currency: &str,
    now: DateTime<Utc>,
) -> Result<i64> {
    let (spend,): (i64,) = tx
        .one(
            &format!("SELECT {}", rolling_spend("$1", "$2", "$3")),
            args![member_id, window_start(now), currency],
            "member",
        )
        .await?;
    Ok(spend)
}

/// SQL for a member's spend in `currency` over purchases after `since` (refunds
/// taken off; 0 without a member), given as SQL for the three. It starts from
/// the spend kept on the member's row (`spend_minor`: their spend after
/// `spend_since`) and takes off the purchases that have left the window since,
/// usually none; it sums every purchase in the window only when nothing is kept
/// in that currency, or what is kept starts later than `since`.
pub(crate) fn rolling_spend(member: &str, since: &str, currency: &str) -> String {
    const NET: &str = "CAST(COALESCE(SUM(amount_minor - refunded_minor), 0) AS BIGINT)";
    format!(
        "COALESCE((SELECT CASE WHEN s.spend_currency = {currency} AND s.spend_since <= {since} \
         THEN s.spend_minor - (SELECT {NET} FROM purchases WHERE member_id = s.id \
          AND occurred_at > s.spend_since AND occurred_at <= {since} AND currency = {currency}) \
         ELSE (SELECT {NET} FROM purchases WHERE member_id = s.id AND occurred_at > {since} \
          AND currency = {currency}) END \
         FROM members s WHERE s.id = {member}), 0)"
    )
}

/// What a member's kept spend becomes with a purchase: their spend in the
/// window before it (read under their lock) and what the purchase adds.
pub(crate) fn spend_after(cmd: &PurchaseCommand, before: i64) -> Spend<'_> {
    Spend {
        minor: before + counted_spend(cmd),
        since: window_start(cmd.now),
        currency: cmd.rules.currency.code(),
    }
}

/// A member's kept spend: `minor` in `currency` over purchases after `since`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spend<'a> {
    pub(crate) minor: i64,
    pub(crate) since: DateTime<Utc>,
    pub(crate) currency: &'a str,
}

/// Keeps a member's spend on their row (the plain way; PostgreSQL folds it into
/// the purchase's balance update).
pub(crate) async fn keep_spend(tx: &mut impl Tx, member_id: i64, s: &Spend<'_>) -> Result<()> {
    tx.exec(
        "UPDATE members SET spend_minor = $1, spend_since = $2, spend_currency = $3 \
         WHERE id = $4",
        args![s.minor, s.since, s.currency, member_id],
    )
    .await?;
    Ok(())
}

/// A member's kept spend moved by `delta` for a purchase of `currency` that
/// happened at `occurred_at` (refunded, or claimed by them); only when what is
/// kept counts that purchase.
pub(crate) struct SpendMove<'a> {
    pub(crate) member_id: i64,
    pub(crate) currency: &'a str,
    pub(crate) occurred_at: DateTime<Utc>,
    pub(crate) delta: i64,
}

/// The update of [`SpendMove`], its values from `$n` on.
pub(crate) fn spend_move_sql(n: usize) -> String {
    format!(
        "UPDATE members SET spend_minor = spend_minor + ${n} WHERE id = ${} \
         AND spend_currency = ${} AND spend_since < ${}",
        n + 1,
        n + 2,
        n + 3
    )
}

impl SpendMove<'_> {
    pub(crate) fn values(&self) -> Vec<Value<'_>> {
        args![self.delta, self.member_id, self.currency, self.occurred_at].to_vec()
    }
}

/// The plain way: the purchase's update, then the member's kept spend.
pub(crate) async fn update_purchase(
    tx: &mut impl Tx,
    sql: &str,
    values: &[Value<'_>],
    spend: Option<&SpendMove<'_>>,
) -> Result<()> {
    tx.exec(sql, values).await?;
    if let Some(m) = spend.filter(|m| m.delta != 0) {
        tx.exec(&spend_move_sql(1), &m.values()).await?;
    }
    Ok(())
}
