//! Reports' reads, and the ledger's roll-up by local day that keeps them fast.
//! Every entry is classified by `domain::report::classify` and counted on its
//! local day in the programme's time zone; the roll-up holds the entries up to
//! a mark, and a report adds the ones after it, in one read, so it always sums
//! the whole ledger.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use crate::domain::earn::Breakdown;
use crate::domain::ledger::EntryKind;
use crate::domain::liability::{LiabilityFacts, RedeemedWorth};
use crate::domain::report::{Earned, Flows, Grain, Measure, classify, day_start, local_day};
use crate::store::sql::{Tx, Value, args};
use crate::store::{Result, StoreError};

/// Flows by (local day, shop: '' for none).
type DayFlows = BTreeMap<(NaiveDate, String), Flows>;

/// Entries read at a time when rolling up.
const CHUNK: i64 = 20_000;

/// Roll-up rows added by one statement.
const UPSERT_ROWS: usize = 1_000;

/// The roll-up's mark: its time zone and the last entry it holds.
async fn mark<T: Tx>(tx: &mut T, lock: bool) -> Result<(String, i64)> {
    let lock = if lock { T::FOR_UPDATE } else { "" };
    tx.one(
        &format!("SELECT tz, upto_id FROM report_marks WHERE name = 'ledger'{lock}"),
        &[],
        "report mark",
    )
    .await
}

/// The entries with ids in `(after, upto]`, classified and summed by local day
/// and shop.
async fn flows_of_entries(
    tx: &mut impl Tx,
    tz: Tz,
    (after, upto): (i64, i64),
    into: &mut DayFlows,
) -> Result<()> {
    type EntryRow = (
        DateTime<Utc>,
        String,
        i64,
        Option<String>,
        i64,
        Option<i64>,
        Option<String>,
        Option<String>,
    );
    let rows: Vec<EntryRow> = tx
        .all(
            "SELECT e.created_at, e.kind, e.points, e.merchant_id, e.member_id, p.member_id, \
             p.breakdown, e.reference FROM entries e \
             LEFT JOIN purchases p ON p.id = e.purchase_id AND e.kind = 'earn' \
             WHERE e.id > $1 AND e.id <= $2",
            args![after, upto],
        )
        .await?;
    for (at, kind, points, merchant, member, buyer, breakdown, reference) in rows {
        let kind = EntryKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("entry kind {kind:?}")))?;
        let parsed = match &breakdown {
            Some(b) if buyer == Some(member) => Some(
                b.parse::<Breakdown>()
                    .map_err(|e| StoreError::Corrupt(format!("purchase breakdown: {e}")))?,
            ),
            _ => None,
        };
        let earned = match (&parsed, buyer) {
            (Some(b), _) => Earned::Purchase(b),
            (None, Some(_)) => Earned::Referrer,
            (None, None)
                if reference
                    .as_deref()
                    .is_some_and(|r| r.starts_with("journey:")) =>
            {
                Earned::Journey
            }
            (None, None) => Earned::Unknown,
        };
        let flows = into
            .entry((local_day(at, tz), merchant.unwrap_or_default()))
            .or_default();
        for (m, p) in classify(kind, points, earned) {
            flows.add(m, p);
        }
    }
    Ok(())
}

/// The last entry id, or 0.
async fn last_entry(tx: &mut impl Tx, before: Option<DateTime<Utc>>) -> Result<i64> {
    let row: Option<(i64,)> = match before {
        Some(t) => {
            tx.opt(
                "SELECT id FROM entries WHERE created_at < $1 ORDER BY id DESC LIMIT 1",
                args![t],
            )
            .await?
        }
        None => {
            tx.opt("SELECT id FROM entries ORDER BY id DESC LIMIT 1", &[])
                .await?
        }
    };
    Ok(row.map_or(0, |(id,)| id))
}

/// Every local day's flows in `tz`, for the whole programme or one shop: the
/// roll-up, and the entries after its mark.
pub(crate) async fn ledger_days<T: Tx>(
    tx: &mut T,
    tz: Tz,
    merchant_id: Option<&str>,
) -> Result<BTreeMap<NaiveDate, Flows>> {
    let (mark_tz, upto) = mark(tx, false).await?;
    let upto = if mark_tz == tz.name() { upto } else { 0 };
    let mut days: BTreeMap<NaiveDate, Flows> = BTreeMap::new();
    if upto > 0 {
        let rows: Vec<(String, String, String, i64)> = tx
            .all(
                "SELECT day, merchant_id, measure, points FROM report_days WHERE tz = $1",
                args![tz.name()],
            )
            .await?;
        for (day, merchant, measure, points) in rows {
            if merchant_id.is_some_and(|m| m != merchant) {
                continue;
            }
            let day: NaiveDate = day
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("report day {day:?}")))?;
            let m = Measure::parse(&measure)
                .ok_or_else(|| StoreError::Corrupt(format!("report measure {measure:?}")))?;
            days.entry(day).or_default().add(m, points);
        }
    }
    let last = last_entry(tx, None).await?;
    let mut tail = DayFlows::new();
    flows_of_entries(tx, tz, (upto, last), &mut tail).await?;
    for ((day, merchant), f) in tail {
        if merchant_id.is_none_or(|m| m == merchant) {
            days.entry(day).or_default().merge(&f);
        }
    }
    Ok(days)
}

fn ymd(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

fn ym(d: NaiveDate) -> String {
    d.format("%Y-%m").to_string()
}

/// Adds `(key 1, key 2, measure, points)` rows to a roll-up table in `tz`
/// (its columns named by `table`), in statements of many rows each.
async fn add_to(
    tx: &mut impl Tx,
    (table, k1, k2): (&str, &str, &str),
    tz: Tz,
    rows: &[(String, String, &str, i64)],
) -> Result<()> {
    for batch in rows.chunks(UPSERT_ROWS) {
        let mut values = Vec::with_capacity(batch.len() * 5);
        let mut tuples = Vec::with_capacity(batch.len());
        for (i, (a, b, measure, points)) in batch.iter().enumerate() {
            let n = i * 5;
            let places: Vec<String> = (1..=5).map(|j| format!("${}", n + j)).collect();
            tuples.push(format!("({})", places.join(", ")));
            values.extend([
                Value::from(tz.name()),
                Value::from(a.as_str()),
                Value::from(b.as_str()),
                Value::from(*measure),
                Value::from(*points),
            ]);
        }
        tx.exec(
            &format!(
                "INSERT INTO {table} (tz, {k1}, {k2}, measure, points) VALUES {} \
                 ON CONFLICT (tz, {k1}, {k2}, measure) \
                 DO UPDATE SET points = {table}.points + excluded.points",
                tuples.join(", ")
            ),
            &values,
        )
        .await?;
    }
    Ok(())
}

/// Points by (cohort month, month it happened, measure).
type CohortFlows = BTreeMap<(NaiveDate, NaiveDate, &'static str), i64>;

/// The local month holding `t`.
fn month_of(t: DateTime<Utc>, tz: Tz) -> NaiveDate {
    Grain::Month.start(local_day(t, tz))
}

/// What the entries with ids in `(after, upto]` did to monthly cohorts: the
/// points they put into lots (`issued`, in the lot's month) and took from them
/// (`redeemed`, `expired`, `taken`: clawed back or adjusted down).
async fn cohorts_of_entries(
    tx: &mut impl Tx,
    tz: Tz,
    (after, upto): (i64, i64),
    into: &mut CohortFlows,
) -> Result<()> {
    let issued: Vec<(DateTime<Utc>, i64)> = tx
        .all(
            "SELECT l.earned_at, l.points FROM entries e JOIN lots l ON l.id = e.lot_id \
             WHERE e.id > $1 AND e.id <= $2",
            args![after, upto],
        )
        .await?;
    for (earned, points) in issued {
        let m = month_of(earned, tz);
        *into.entry((m, m, "issued")).or_default() += points;
    }
    let taken: Vec<(DateTime<Utc>, DateTime<Utc>, String, i64)> = tx
        .all(
            "SELECT l.earned_at, e.created_at, e.kind, el.points FROM entry_lots el \
             JOIN entries e ON e.id = el.entry_id JOIN lots l ON l.id = el.lot_id \
             WHERE el.entry_id > $1 AND el.entry_id <= $2",
            args![after, upto],
        )
        .await?;
    for (earned, at, kind, points) in taken {
        let measure = match kind.as_str() {
            "redeem" => "redeemed",
            "expire" => "expired",
            "clawback" | "adjust" => "taken",
            _ => continue,
        };
        *into
            .entry((month_of(earned, tz), month_of(at, tz), measure))
            .or_default() += points;
    }
    Ok(())
}

/// Adds the next entries (at most [`CHUNK`], none made at or after `cutoff`, so
/// none still being committed) to the roll-up in `tz`, starting it again if it
/// was kept in another time zone. Returns whether more remain.
pub(crate) async fn roll_up<T: Tx>(tx: &mut T, tz: Tz, cutoff: DateTime<Utc>) -> Result<bool> {
    let (mark_tz, mut upto) = mark(tx, true).await?;
    if mark_tz != tz.name() {
        tx.exec("DELETE FROM report_days", &[]).await?;
        tx.exec("DELETE FROM report_cohorts", &[]).await?;
        upto = 0;
    }
    let target = last_entry(tx, Some(cutoff)).await?;
    let end = target.min(upto + CHUNK);
    if end <= upto {
        if mark_tz != tz.name() {
            tx.exec(
                "UPDATE report_marks SET tz = $1, upto_id = $2 WHERE name = 'ledger'",
                args![tz.name(), upto],
            )
            .await?;
        }
        return Ok(false);
    }
    let mut flows = DayFlows::new();
    flows_of_entries(tx, tz, (upto, end), &mut flows).await?;
    let mut rows: Vec<(String, String, &str, i64)> = Vec::new();
    for ((day, merchant), f) in &flows {
        for m in Measure::ALL {
            if f.get(m) != 0 {
                rows.push((ymd(*day), merchant.clone(), m.as_str(), f.get(m)));
            }
        }
    }
    add_to(tx, ("report_days", "day", "merchant_id"), tz, &rows).await?;
    let mut cohorts = CohortFlows::new();
    cohorts_of_entries(tx, tz, (upto, end), &mut cohorts).await?;
    let rows: Vec<(String, String, &str, i64)> = cohorts
        .iter()
        .map(|((cohort, month, measure), p)| (ym(*cohort), ym(*month), *measure, *p))
        .collect();
    add_to(tx, ("report_cohorts", "cohort", "month"), tz, &rows).await?;
    tx.exec(
        "UPDATE report_marks SET tz = $1, upto_id = $2 WHERE name = 'ledger'",
        args![tz.name(), end],
    )
    .await?;
    Ok(end < target)
}

/// `CASE` putting `column` in the index of the month among `months`
/// (consecutive, oldest first) it falls in: earlier ones in the first, later
/// ones in `months.len()`. Its bounds are bound from `$first` on.
fn month_case(
    column: &str,
    months: &[NaiveDate],
    tz: Tz,
    first: usize,
) -> (String, Vec<DateTime<Utc>>) {
    let bounds: Vec<DateTime<Utc>> = months
        .iter()
        .skip(1)
        .copied()
        .chain(
            months
                .last()
                .map(|m| crate::domain::liability::next_month(*m)),
        )
        .map(|m| day_start(m, tz))
        .collect();
    (bisect(column, first, (0, bounds.len())), bounds)
}

/// A `CASE` giving the first `i` in `lo..=hi` with `column < $(first + i)`
/// (`hi` when there is none), by halving: a few comparisons a row rather than
/// one per month, which is what a pass over a million lots spends its time on.
fn bisect(column: &str, first: usize, (lo, hi): (usize, usize)) -> String {
    if lo == hi {
        return lo.to_string();
    }
    let mid = (lo + hi) / 2;
    format!(
        "CASE WHEN {column} < ${} THEN {} ELSE {} END",
        first + mid,
        bisect(column, first, (lo, mid)),
        bisect(column, first, (mid + 1, hi))
    )
}

/// The points left in lots, in one pass: by cohort month (`cohorts`, every
/// lot with points left) and by the month they expire in (`ahead`, only lots
/// not yet expired; beyond the last month in none), and the spendable total.
async fn lots_left(
    tx: &mut impl Tx,
    tz: Tz,
    (cohorts, ahead): (&[NaiveDate], &[NaiveDate]),
    (now, merchant_id): (DateTime<Utc>, Option<&str>),
    facts: &mut LiabilityFacts,
) -> Result<()> {
    if cohorts.is_empty() || ahead.is_empty() {
        return Ok(());
    }
    let (by_cohort, mut values) = month_case("earned_at", cohorts, tz, 2);
    let (by_expiry, more) = month_case("expires_at", ahead, tz, 2 + values.len());
    values.extend(more);
    let mut args: Vec<Value> = vec![Value::from(now)];
    let shop = match merchant_id {
        Some(_) => format!(" AND merchant_id = ${}", 2 + values.len()),
        None => String::new(),
    };
    args.extend(values.into_iter().map(Value::from));
    if let Some(m) = merchant_id {
        args.push(Value::from(m));
    }
    let rows: Vec<(i64, i64, i64)> = tx
        .all(
            &format!(
                "SELECT {by_cohort}, CASE WHEN expires_at <= $1 THEN -1 ELSE {by_expiry} END, \
                 CAST(SUM(remaining) AS BIGINT) FROM lots WHERE remaining > 0{shop} \
                 GROUP BY 1, 2"
            ),
            &args,
        )
        .await?;
    for (c, e, points) in rows {
        let at =
            |list: &[NaiveDate], i: i64| usize::try_from(i).ok().and_then(|i| list.get(i).copied());
        if let Some(m) = at(cohorts, c) {
            *facts.remaining.entry(m).or_default() += points;
        }
        if e >= 0 {
            facts.in_lots += points;
        }
        if let Some(m) = at(ahead, e) {
            *facts.expiring.entry(m).or_default() += points;
        }
    }
    Ok(())
}

/// What the liability report is computed from, in one read: the cohorts (the
/// roll-up and the entries after its mark), what redeemed points bought, and
/// with `lots` (the time to read them at: lots keep no past) what is left in
/// lots by cohort and by the month it expires (the next 12) and the balances.
/// With a shop, only the lots it issued are read (and no balances: points are
/// spent anywhere).
pub(crate) async fn liability_facts<T: Tx>(
    tx: &mut T,
    tz: Tz,
    lots: Option<DateTime<Utc>>,
    merchant_id: Option<&str>,
) -> Result<LiabilityFacts> {
    let (mark_tz, upto) = mark(tx, false).await?;
    let upto = if mark_tz == tz.name() { upto } else { 0 };
    let mut facts = LiabilityFacts::default();
    let mut tail = CohortFlows::new();
    let last = last_entry(tx, None).await?;
    cohorts_of_entries(tx, tz, (upto, last), &mut tail).await?;
    for ((c, m, measure), p) in tail {
        *facts
            .cohorts
            .entry((c, m, measure.to_string()))
            .or_default() += p;
    }
    if upto > 0 {
        let rows: Vec<(String, String, String, i64)> = tx
            .all(
                "SELECT cohort, month, measure, points FROM report_cohorts WHERE tz = $1",
                args![tz.name()],
            )
            .await?;
        let month = |s: &str| {
            format!("{s}-01")
                .parse::<NaiveDate>()
                .map_err(|_| StoreError::Corrupt(format!("report month {s:?}")))
        };
        for (c, m, measure, p) in rows {
            *facts
                .cohorts
                .entry((month(&c)?, month(&m)?, measure))
                .or_default() += p;
        }
    }
    facts.worth = redeemed_worth(tx).await?;
    let Some(now) = lots else {
        return Ok(facts);
    };
    let this_month = month_of(now, tz);
    // Every lot was put in by an entry, so the first cohort is the first month.
    let mut cohorts = Vec::new();
    if let Some(first) = facts.cohorts.keys().map(|(c, _, _)| *c).min() {
        let mut m = first.min(this_month);
        while m <= this_month {
            cohorts.push(m);
            m = crate::domain::liability::next_month(m);
        }
    }
    let mut ahead = vec![this_month];
    while ahead.len() < 12 {
        let next = crate::domain::liability::next_month(*ahead.last().expect("one"));
        ahead.push(next);
    }
    lots_left(tx, tz, (&cohorts, &ahead), (now, merchant_id), &mut facts).await?;
    facts.outstanding = match merchant_id {
        Some(_) => facts.in_lots,
        None => {
            let (outstanding,): (Option<i64>,) = tx
                .one(
                    "SELECT CAST(SUM(balance) AS BIGINT) FROM members",
                    &[],
                    "balances",
                )
                .await?;
            outstanding.unwrap_or(0)
        }
    };
    Ok(facts)
}

/// What redeemed points bought: vouchers issued and not given back (their
/// face value) and payments with points captured at tills (what they paid).
pub(crate) async fn redeemed_worth(tx: &mut impl Tx) -> Result<RedeemedWorth> {
    let (vp, vf): (Option<i64>, Option<i64>) = tx
        .one(
            "SELECT CAST(SUM(v.points) AS BIGINT), CAST(SUM(r.face_value_minor) AS BIGINT) \
             FROM vouchers v JOIN rewards r ON r.id = v.reward_id \
             WHERE v.status IN ('issued', 'used')",
            &[],
            "vouchers",
        )
        .await?;
    let (pp, pm): (Option<i64>, Option<i64>) = tx
        .one(
            "SELECT CAST(SUM(points) AS BIGINT), CAST(SUM(amount_minor) AS BIGINT) \
             FROM point_payments WHERE status = 'captured' AND source = 'points'",
            &[],
            "point payments",
        )
        .await?;
    Ok(RedeemedWorth {
        voucher_points: vp.unwrap_or(0),
        voucher_face_minor: vf.unwrap_or(0),
        payment_points: pp.unwrap_or(0),
        payment_minor: pm.unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::bisect;

    #[test]
    fn bisecting_finds_the_first_bound_above_each_value() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        for n in 0..7usize {
            for v in [5i64, 10, 15, 20, 35, 60, 65, 99] {
                // The value is $1, the bounds 10, 20, … are $2, $3, …
                let mut sql = format!("SELECT {}", bisect("$1", 2, (0, n)));
                for k in (1..=n).rev() {
                    sql = sql.replace(&format!("${}", k + 1), &(k * 10).to_string());
                }
                let sql = sql.replace("$1", &v.to_string());
                let got: i64 = conn.query_row(&sql, [], |r| r.get(0)).unwrap();
                let want = (1..=n as i64).filter(|b| b * 10 <= v).count() as i64;
                assert_eq!(got, want, "{v} among {n} bounds: {sql}");
            }
        }
    }
}
