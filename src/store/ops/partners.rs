//! Partners' agreements, their prepaid budgets, and settlement: bookings
//! written in the same transaction as the ledger entry that moved the points
//! (see [`crate::domain::partner`]), and statements read from them.
//!
//! A booking belongs to the period (local month) it was made in, unless that
//! period was closed before it was written: then to the first open period
//! after it. Closing a period records the last booking and ledger entry it
//! holds (on PostgreSQL with the bookings table locked, so nothing written
//! earlier commits later), and keeps its statement as it was.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};

use crate::domain::Refusal;
use crate::domain::partner::{
    self, Booking, Funding, Partner, PartnerFacts, Period, Statement, StatementQuery, Taken,
};
use crate::domain::points::Points;
use crate::store::sql::{Backend, FromRow, Row, Tx, args};
use crate::store::{Result, StoreError};

const COLUMNS: &str =
    "SELECT merchant_id, value_minor, funding, budget, issued, updated_at FROM partners";

impl FromRow for Partner {
    fn from_row(row: &Row) -> Result<Partner> {
        let mut c = row.cols();
        let merchant_id = c.next()?;
        let value_minor = c.next()?;
        let funding: String = c.next()?;
        Ok(Partner {
            merchant_id,
            value_minor,
            funding: match funding.as_str() {
                "prepaid" => Funding::Prepaid,
                _ => Funding::Postpaid,
            },
            budget: c.next()?,
            issued: c.next()?,
            updated_at: c.next()?,
        })
    }
}

fn funding_str(f: Funding) -> &'static str {
    match f {
        Funding::Postpaid => "postpaid",
        Funding::Prepaid => "prepaid",
    }
}

/// Every partner.
pub(crate) async fn partners(tx: &mut impl Tx) -> Result<Vec<Partner>> {
    tx.all(&format!("{COLUMNS} ORDER BY merchant_id"), args![])
        .await
}

/// Makes a merchant a partner, or changes its agreement (what it has issued
/// against its budget is kept).
pub(crate) async fn set_partner(
    tx: &mut impl Tx,
    (merchant_id, value_minor): (&str, i64),
    (funding, budget): (Funding, Option<i64>),
    now: DateTime<Utc>,
) -> Result<Partner> {
    let known: Option<(String,)> = tx
        .opt("SELECT id FROM merchants WHERE id = $1", args![merchant_id])
        .await?;
    if known.is_none() {
        return Err(StoreError::NotFound("merchant"));
    }
    tx.exec(
        "INSERT INTO partners (merchant_id, value_minor, funding, budget, issued, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, 0, $5, $5) \
         ON CONFLICT (merchant_id) DO UPDATE SET value_minor = excluded.value_minor, \
         funding = excluded.funding, budget = excluded.budget, updated_at = excluded.updated_at",
        args![merchant_id, value_minor, funding_str(funding), budget, now],
    )
    .await?;
    tx.one(
        &format!("{COLUMNS} WHERE merchant_id = $1"),
        args![merchant_id],
        "partner",
    )
    .await
}

/// Counts `points` issued at a merchant against its prepaid budget (negative:
/// points clawed back give budget back); refused when the budget cannot cover
/// them. Nothing for merchants that are not prepaid partners.
pub(crate) async fn issue(tx: &mut impl Tx, merchant_id: &str, points: i64) -> Result<()> {
    if points == 0 {
        return Ok(());
    }
    let row: Option<(i64, Option<i64>)> = tx
        .opt(
            "UPDATE partners SET issued = issued + $1 \
             WHERE merchant_id = $2 AND funding = 'prepaid' RETURNING issued, budget",
            args![points, merchant_id],
        )
        .await?;
    match row {
        Some((issued, budget))
            if points > 0 && !partner::may_issue(budget, issued - points, points) =>
        {
            Err(Refusal::PartnerBudgetSpent {
                left: Points::new((budget.unwrap_or(0) - (issued - points)).max(0)),
            }
            .into())
        }
        _ => Ok(()),
    }
}

/// Each partner's value per point.
async fn values(tx: &mut impl Tx) -> Result<HashMap<String, i64>> {
    let rows: Vec<(String, i64)> = tx
        .all("SELECT merchant_id, value_minor FROM partners", args![])
        .await?;
    Ok(rows.into_iter().collect())
}

/// The lots a debit entry took its points from, with who issued each.
async fn taken(tx: &mut impl Tx, entry_id: i64) -> Result<Vec<Taken>> {
    let rows: Vec<(i64, Option<String>, i64)> = tx
        .all(
            "SELECT el.lot_id, l.merchant_id, el.points FROM entry_lots el \
             JOIN lots l ON l.id = el.lot_id WHERE el.entry_id = $1 ORDER BY el.lot_id",
            args![entry_id],
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|(lot_id, issuer, points)| Taken {
            lot_id,
            issuer,
            points,
        })
        .collect())
}

/// What a voucher or a payment holds booked, per lot.
async fn booked(tx: &mut impl Tx, of: (Option<i64>, Option<&str>)) -> Result<Vec<Booking>> {
    let rows: Vec<(i64, String, String, i64, i64)> = tx
        .all(
            "SELECT lot_id, issuer, redeemer, value_minor, CAST(SUM(points) AS BIGINT) \
             FROM settlement_bookings \
             WHERE ($1 IS NOT NULL AND voucher_id = $1) OR ($2 IS NOT NULL AND payment_id = $2) \
             GROUP BY lot_id, issuer, redeemer, value_minor ORDER BY lot_id",
            args![of.0, of.1],
        )
        .await?;
    Ok(rows
        .into_iter()
        .filter(|r| r.4 > 0)
        .map(|(lot_id, issuer, redeemer, value_minor, points)| Booking {
            lot_id,
            issuer,
            redeemer,
            points,
            value_minor,
            amount_minor: points * value_minor,
        })
        .collect())
}

async fn insert(
    tx: &mut impl Tx,
    bookings: &[Booking],
    entry_id: i64,
    of: (Option<i64>, Option<&str>),
    now: DateTime<Utc>,
) -> Result<()> {
    for b in bookings {
        tx.exec(
            "INSERT INTO settlement_bookings (issuer, redeemer, points, value_minor, \
             amount_minor, entry_id, lot_id, voucher_id, payment_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            args![
                &b.issuer,
                &b.redeemer,
                b.points,
                b.value_minor,
                b.amount_minor,
                entry_id,
                b.lot_id,
                of.0,
                of.1,
                now,
            ],
        )
        .await?;
    }
    Ok(())
}

/// Books the points debit `entry_id` took, honoured by `redeemer`, for a
/// voucher or a payment (`of`).
pub(crate) async fn book(
    tx: &mut impl Tx,
    entry_id: i64,
    redeemer: &str,
    of: (Option<i64>, Option<&str>),
    now: DateTime<Utc>,
) -> Result<()> {
    let values = values(tx).await?;
    if !values.contains_key(redeemer) {
        return Ok(());
    }
    let taken = taken(tx, entry_id).await?;
    let bookings = partner::bookings(&taken, redeemer, |m| values.get(m).copied());
    insert(tx, &bookings, entry_id, of, now).await
}

/// Books back everything a voucher given back had booked (`entry_id`: the
/// release that returned its points).
pub(crate) async fn unbook_voucher(
    tx: &mut impl Tx,
    voucher_id: i64,
    entry_id: i64,
    now: DateTime<Utc>,
) -> Result<()> {
    let booked = booked(tx, (Some(voucher_id), None)).await?;
    if booked.is_empty() {
        return Ok(());
    }
    let back: Vec<(i64, i64)> = booked.iter().map(|b| (b.lot_id, b.points)).collect();
    let undo = partner::reversals(&booked, &back);
    insert(tx, &undo, entry_id, (Some(voucher_id), None), now).await
}

/// How a refund returns a payment's points (`paid`, of which `before` were
/// returned earlier, `after` once this refund is counted) to the lots it took
/// from (`hold`: the entry that took them): each lot's share, with its issuer.
pub(crate) async fn refund_split(
    tx: &mut impl Tx,
    hold: i64,
    paid: i64,
    (before, after): (i64, i64),
) -> Result<Vec<(Taken, i64)>> {
    let taken = taken(tx, hold).await?;
    Ok(partner::refund_split(&taken, paid, before, after))
}

/// Books back what a refund returned of a payment (`back`: points per lot;
/// `entry_id`: the release that returned them).
pub(crate) async fn unbook_payment(
    tx: &mut impl Tx,
    payment_id: &str,
    back: &[(i64, i64)],
    entry_id: i64,
    now: DateTime<Utc>,
) -> Result<()> {
    let booked = booked(tx, (None, Some(payment_id))).await?;
    let undo = partner::reversals(&booked, back);
    insert(tx, &undo, entry_id, (None, Some(payment_id)), now).await
}

/// A closed period: when, the last booking and ledger entry it holds, and its
/// statement as closed.
type Closed = (String, DateTime<Utc>, i64, i64, String);

async fn closed(tx: &mut impl Tx) -> Result<Vec<(Period, DateTime<Utc>, i64, i64, String)>> {
    let rows: Vec<Closed> = tx
        .all(
            "SELECT period, closed_at, booking_mark, entry_mark, statement \
             FROM settlement_periods ORDER BY period",
            args![],
        )
        .await?;
    rows.into_iter()
        .map(|(p, at, b, e, s)| {
            let p = Period::parse(&p)
                .ok_or_else(|| StoreError::Corrupt(format!("settlement period {p:?}")))?;
            Ok((p, at, b, e, s))
        })
        .collect()
}

/// The period's statement from its bookings: those made in it (after the
/// marks of earlier closed periods, for what spilled from them), and each
/// partner's breakage.
async fn compute(
    tx: &mut impl Tx,
    q: &StatementQuery,
    closed: &[(Period, DateTime<Utc>, i64, i64, String)],
) -> Result<Statement> {
    let marks: HashMap<Period, (i64, i64)> = closed
        .iter()
        .map(|(p, _, b, e, _)| (*p, (*b, *e)))
        .collect();
    // The closed periods just before this one: what was written in them after
    // they closed belongs here.
    let mut first = q.period;
    loop {
        let prev = first.previous();
        if !marks.contains_key(&prev) {
            break;
        }
        first = prev;
    }
    let (from, _) = first.bounds(q.tz);
    let (_, end) = q.period.bounds(q.tz);
    // A row written after its month closed (its id past the month's mark)
    // belongs to the first month after it not closed before it was written.
    let belongs = |id: i64, at: DateTime<Utc>, mark: fn((i64, i64)) -> i64| {
        let mut p = Period::of(at, q.tz);
        while let Some(m) = marks.get(&p)
            && id > mark(*m)
        {
            p = p.next();
        }
        p == q.period
    };
    let rows: Vec<(i64, DateTime<Utc>, String, String, i64, i64)> = tx
        .all(
            "SELECT id, created_at, issuer, redeemer, points, amount_minor \
             FROM settlement_bookings WHERE created_at >= $1 AND created_at < $2 ORDER BY id",
            args![from, end],
        )
        .await?;
    let bookings: Vec<(String, String, i64, i64)> = rows
        .into_iter()
        .filter(|(id, at, ..)| belongs(*id, *at, |m| m.0))
        .map(|(_, _, i, r, p, a)| (i, r, p, a))
        .collect();
    let expired: Vec<(i64, DateTime<Utc>, String, i64)> = tx
        .all(
            "SELECT e.id, e.created_at, l.merchant_id, el.points FROM entries e \
             JOIN entry_lots el ON el.entry_id = e.id JOIN lots l ON l.id = el.lot_id \
             JOIN partners p ON p.merchant_id = l.merchant_id \
             WHERE e.kind = 'expire' AND e.created_at >= $1 AND e.created_at < $2",
            args![from, end],
        )
        .await?;
    let mut breakage: HashMap<String, i64> = HashMap::new();
    for (id, at, m, points) in expired {
        if belongs(id, at, |m| m.1) {
            *breakage.entry(m).or_default() += points;
        }
    }
    let facts: Vec<(String, String, i64)> = tx
        .all(
            "SELECT p.merchant_id, m.name, p.value_minor FROM partners p \
             JOIN merchants m ON m.id = p.merchant_id ORDER BY p.merchant_id",
            args![],
        )
        .await?;
    let facts: Vec<PartnerFacts> = facts
        .into_iter()
        .map(|(merchant_id, name, value_minor)| PartnerFacts {
            expired_points: breakage.get(&merchant_id).copied().unwrap_or(0),
            merchant_id,
            name,
            value_minor,
        })
        .collect();
    Ok(partner::statement(q.period, &q.currency, &bookings, &facts))
}

fn stored(json: &str, closed_at: DateTime<Utc>) -> Result<Statement> {
    let mut s: Statement = serde_json::from_str(json)
        .map_err(|e| StoreError::Corrupt(format!("settlement statement: {e}")))?;
    s.closed_at = Some(closed_at);
    Ok(s)
}

/// A period's statement: as it was closed, or as it stands.
pub(crate) async fn statement(tx: &mut impl Tx, q: &StatementQuery) -> Result<Statement> {
    let closed = closed(tx).await?;
    if let Some((_, at, _, _, json)) = closed.iter().find(|c| c.0 == q.period) {
        return stored(json, *at);
    }
    compute(tx, q, &closed).await
}

/// The periods closed so far.
pub(crate) async fn closed_periods(tx: &mut impl Tx) -> Result<BTreeSet<Period>> {
    Ok(closed(tx).await?.into_iter().map(|c| c.0).collect())
}

/// Closes a period (again: its statement as closed) and keeps its statement.
pub(crate) async fn close_period<T: Tx>(
    tx: &mut T,
    q: &StatementQuery,
    now: DateTime<Utc>,
) -> Result<Statement> {
    if T::BACKEND == Backend::Postgres {
        // Waits for transactions writing bookings, and holds new ones back,
        // until this one commits: nothing booked before the marks commits
        // after them.
        tx.exec("LOCK TABLE settlement_bookings IN SHARE MODE", args![])
            .await?;
        tx.exec("LOCK TABLE settlement_periods IN EXCLUSIVE MODE", args![])
            .await?;
    }
    let closed = closed(tx).await?;
    if let Some((_, at, _, _, json)) = closed.iter().find(|c| c.0 == q.period) {
        return stored(json, *at);
    }
    let s = compute(tx, q, &closed).await?;
    let (booking_mark,): (Option<i64>,) = tx
        .one(
            "SELECT MAX(id) FROM settlement_bookings",
            args![],
            "bookings",
        )
        .await?;
    let (entry_mark,): (Option<i64>,) = tx
        .one("SELECT MAX(id) FROM entries", args![], "entries")
        .await?;
    let json = serde_json::to_string(&s)
        .map_err(|e| StoreError::Corrupt(format!("settlement statement: {e}")))?;
    tx.exec(
        "INSERT INTO settlement_periods (period, closed_at, booking_mark, entry_mark, statement) \
         VALUES ($1, $2, $3, $4, $5)",
        args![
            &q.period.to_string(),
            now,
            booking_mark.unwrap_or(0),
            entry_mark.unwrap_or(0),
            &json
        ],
    )
    .await?;
    stored(&json, now)
}
