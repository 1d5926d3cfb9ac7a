//! Reads for the redemption and members reports: vouchers, payments at the
//! till and store credit in a range, and purchases by member. Sums are made
//! in SQL where the rows are many (purchases); vouchers are few enough to be
//! read and added up here.

use chrono::{DateTime, Utc};

use crate::domain::report::{MemberStats, PaymentStats, VoucherStat};
use crate::store::Result;
use crate::store::sql::{Tx, Value, args};

/// What a used voucher took off the bill (minor units), from its stored
/// takeoff: an amount, or a free item's price; `None` when it says neither.
fn discount(takeoff: Option<&str>) -> Option<i64> {
    let v: serde_json::Value = serde_json::from_str(takeoff?).ok()?;
    let money = match v["type"].as_str()? {
        "amount" | "item" => &v["amount"],
        "credit" => &v["credit"],
        _ => return None,
    };
    let currency: crate::domain::Currency = money["currency"].as_str()?.parse().ok()?;
    let m = crate::domain::Money::parse(money["amount"].as_str()?, currency).ok()?;
    Some(m.minor()).filter(|m| *m > 0)
}

/// Vouchers issued in `[from, to)` (with a shop: those used at it), by reward
/// and status.
pub(crate) async fn voucher_stats(
    tx: &mut impl Tx,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    merchant_id: Option<&str>,
) -> Result<Vec<VoucherStat>> {
    let rows: Vec<(i64, String, i64, i64, Option<String>)> = tx
        .all(
            "SELECT v.reward_id, v.status, v.points, r.face_value_minor, v.takeoff \
             FROM vouchers v JOIN rewards r ON r.id = v.reward_id \
             WHERE v.issued_at >= $1 AND v.issued_at < $2 \
             AND ($3 IS NULL OR (v.status = 'used' AND v.used_by = $3))",
            args![from, to, merchant_id],
        )
        .await?;
    let mut out: Vec<VoucherStat> = Vec::new();
    for (reward_id, status, points, face, takeoff) in rows {
        let cost = match status.as_str() {
            "used" => discount(takeoff.as_deref()).unwrap_or(face),
            "issued" => face,
            _ => 0,
        };
        let i = match out
            .iter()
            .position(|s| s.reward_id == reward_id && s.status == status)
        {
            Some(i) => i,
            None => {
                out.push(VoucherStat {
                    reward_id,
                    status,
                    ..Default::default()
                });
                out.len() - 1
            }
        };
        let s = &mut out[i];
        s.count += 1;
        s.points += points;
        s.cost_minor += cost;
    }
    Ok(out)
}

/// Payments captured at tills (or one shop's) in `[from, to)`, and store
/// credit given by cashback rewards (in chat: none for a shop).
pub(crate) async fn payment_stats(
    tx: &mut impl Tx,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    merchant_id: Option<&str>,
) -> Result<PaymentStats> {
    let rows: Vec<(String, i64, Option<i64>, Option<i64>)> = tx
        .all(
            "SELECT source, COUNT(*), CAST(SUM(points) AS BIGINT), \
             CAST(SUM(amount_minor) AS BIGINT) FROM point_payments \
             WHERE status = 'captured' AND closed_at >= $1 AND closed_at < $2 \
             AND ($3 IS NULL OR merchant_id = $3) GROUP BY source",
            args![from, to, merchant_id],
        )
        .await?;
    let mut s = PaymentStats::default();
    for (source, count, points, minor) in rows {
        if source == "credit" {
            s.credit_payments = count;
            s.credit_paid_minor = minor.unwrap_or(0);
        } else {
            s.point_payments = count;
            s.points_paid = points.unwrap_or(0);
            s.points_paid_minor = minor.unwrap_or(0);
        }
    }
    if merchant_id.is_some() {
        return Ok(s);
    }
    let (n, minor): (i64, Option<i64>) = tx
        .one(
            "SELECT COUNT(*), CAST(SUM(amount_minor) AS BIGINT) FROM credit_entries \
             WHERE kind = 'cashback' AND created_at >= $1 AND created_at < $2",
            args![from, to],
            "credit",
        )
        .await?;
    s.cashbacks = n;
    s.cashback_minor = minor.unwrap_or(0);
    Ok(s)
}

/// Members and their purchases: how many joined before `to` and in `[from,
/// to)`; in the window, how many bought once or more, twice or more, their
/// visits and spend, and the spend on receipts no member claimed; and how many
/// bought in the 30 and 90 days before `to`. Sales count net of refunds, in
/// `currency`. With a shop, see [`shop_member_stats`].
pub(crate) async fn member_stats(
    tx: &mut impl Tx,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    currency: &str,
    merchant_id: Option<&str>,
) -> Result<MemberStats> {
    if let Some(m) = merchant_id {
        return shop_member_stats(tx, (from, to), currency, m).await;
    }
    let (total, new): (i64, Option<i64>) = tx
        .one(
            "SELECT COUNT(*), CAST(SUM(CASE WHEN created_at >= $1 THEN 1 ELSE 0 END) \
             AS BIGINT) FROM members WHERE created_at < $2",
            args![from, to],
            "members",
        )
        .await?;
    let (buyers, repeat, visits, spend): (i64, Option<i64>, Option<i64>, Option<i64>) = tx
        .one(
            "SELECT COUNT(*), CAST(SUM(CASE WHEN n >= 2 THEN 1 ELSE 0 END) AS BIGINT), \
             CAST(SUM(n) AS BIGINT), CAST(SUM(spend) AS BIGINT) FROM \
             (SELECT member_id, COUNT(*) AS n, SUM(amount_minor - refunded_minor) AS spend \
              FROM purchases WHERE member_id IS NOT NULL AND occurred_at >= $1 \
              AND occurred_at < $2 AND currency = $3 GROUP BY member_id) AS b",
            args![from, to, currency],
            "purchases",
        )
        .await?;
    let (anonymous,): (Option<i64>,) = tx
        .one(
            "SELECT CAST(SUM(amount_minor - refunded_minor) AS BIGINT) FROM purchases \
             WHERE member_id IS NULL AND occurred_at >= $1 AND occurred_at < $2 \
             AND currency = $3",
            args![from, to, currency],
            "purchases",
        )
        .await?;
    let active = |days: i64| to - chrono::Duration::days(days);
    let (active_30, active_90): (Option<i64>, Option<i64>) = tx
        .one(
            "SELECT COUNT(DISTINCT CASE WHEN occurred_at >= $1 THEN member_id END), \
             COUNT(DISTINCT member_id) FROM purchases \
             WHERE member_id IS NOT NULL AND occurred_at >= $2 AND occurred_at < $3",
            args![active(30), active(90), to],
            "purchases",
        )
        .await?;
    Ok(MemberStats {
        total,
        new: new.unwrap_or(0),
        buyers,
        repeat_buyers: repeat.unwrap_or(0),
        visits: visits.unwrap_or(0),
        member_sales_minor: spend.unwrap_or(0),
        anonymous_sales_minor: anonymous.unwrap_or(0),
        active_30: active_30.unwrap_or(0),
        active_90: active_90.unwrap_or(0),
    })
}

/// The same for one shop, in one pass over its purchases before `to` grouped
/// by member (receipts nobody claimed in one group): its customers are the
/// members who bought there, counted from their first purchase there; every
/// other figure counts purchases there only. One pass, so no index of
/// purchases by shop is needed (one would cost every purchase its upkeep).
async fn shop_member_stats(
    tx: &mut impl Tx,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    currency: &str,
    merchant_id: &str,
) -> Result<MemberStats> {
    type ShopRow = (
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
    );
    let active = |days: i64| to - chrono::Duration::days(days);
    let row: ShopRow = tx
        .one(
            "SELECT \
             CAST(SUM(CASE WHEN member_id IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT), \
             CAST(SUM(CASE WHEN member_id IS NOT NULL AND first_at >= $1 THEN 1 ELSE 0 END) \
                  AS BIGINT), \
             CAST(SUM(CASE WHEN member_id IS NOT NULL AND n >= 1 THEN 1 ELSE 0 END) AS BIGINT), \
             CAST(SUM(CASE WHEN member_id IS NOT NULL AND n >= 2 THEN 1 ELSE 0 END) AS BIGINT), \
             CAST(SUM(CASE WHEN member_id IS NOT NULL THEN n ELSE 0 END) AS BIGINT), \
             CAST(SUM(CASE WHEN member_id IS NOT NULL THEN spend ELSE 0 END) AS BIGINT), \
             CAST(SUM(CASE WHEN member_id IS NULL THEN spend ELSE 0 END) AS BIGINT), \
             CAST(SUM(CASE WHEN member_id IS NOT NULL AND last_at >= $5 THEN 1 ELSE 0 END) \
                  AS BIGINT), \
             CAST(SUM(CASE WHEN member_id IS NOT NULL AND last_at >= $6 THEN 1 ELSE 0 END) \
                  AS BIGINT) \
             FROM (SELECT member_id, MIN(occurred_at) AS first_at, MAX(occurred_at) AS last_at, \
                   SUM(CASE WHEN occurred_at >= $1 AND currency = $3 THEN 1 ELSE 0 END) AS n, \
                   SUM(CASE WHEN occurred_at >= $1 AND currency = $3 \
                       THEN amount_minor - refunded_minor ELSE 0 END) AS spend \
                   FROM purchases WHERE merchant_id = $4 AND occurred_at < $2 \
                   GROUP BY member_id) AS g",
            args![from, to, currency, merchant_id, active(30), active(90)],
            "purchases",
        )
        .await?;
    let (total, new, buyers, repeat, visits, spend, anonymous, active_30, active_90) = row;
    let n = |v: Option<i64>| v.unwrap_or(0);
    Ok(MemberStats {
        total: n(total),
        new: n(new),
        buyers: n(buyers),
        repeat_buyers: n(repeat),
        visits: n(visits),
        member_sales_minor: n(spend),
        anonymous_sales_minor: n(anonymous),
        active_30: n(active_30),
        active_90: n(active_90),
    })
}

/// For a campaign's lift: the members who had joined by `to`, and each
/// member's sales in `[from, to)` in `currency` (net of refunds; all, or at
/// one shop), for those who bought.
pub(crate) async fn window_spend(
    tx: &mut impl Tx,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    currency: &str,
    merchant_id: Option<&str>,
) -> Result<(Vec<i64>, Vec<(i64, i64)>)> {
    let members: Vec<(i64,)> = tx
        .all("SELECT id FROM members WHERE created_at < $1", args![to])
        .await?;
    let mut a = vec![Value::from(from), Value::from(to), Value::from(currency)];
    a.extend(merchant_id.map(Value::from));
    let spend: Vec<(i64, i64)> = tx
        .all(
            &format!(
                "SELECT member_id, CAST(SUM(amount_minor - refunded_minor) AS BIGINT) \
                 FROM purchases WHERE member_id IS NOT NULL AND occurred_at >= $1 \
                 AND occurred_at < $2 AND currency = $3{} GROUP BY member_id",
                if merchant_id.is_some() {
                    " AND merchant_id = $4"
                } else {
                    ""
                }
            ),
            &a,
        )
        .await?;
    Ok((members.into_iter().map(|(id,)| id).collect(), spend))
}

#[cfg(test)]
mod tests {
    use super::discount;

    #[test]
    fn a_used_vouchers_takeoff_reads_as_the_discount_given() {
        let amount = r#"{"type":"amount","amount":{"amount":"27.50","currency":"THB"}}"#;
        assert_eq!(discount(Some(amount)), Some(2_750));
        let item = r#"{"type":"item","sku":"LATTE","amount":{"amount":"0.00","currency":"THB"}}"#;
        assert_eq!(discount(Some(item)), None, "a free item without its price");
        assert_eq!(discount(Some(r#"{"type":"nothing"}"#)), None);
        assert_eq!(discount(None), None);
    }
}
