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
use crate::domain::report::{Earned, Flows, Measure, classify, local_day};
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
    );
    let rows: Vec<EntryRow> = tx
        .all(
            "SELECT e.created_at, e.kind, e.points, e.merchant_id, e.member_id, p.member_id, \
             p.breakdown FROM entries e \
             LEFT JOIN purchases p ON p.id = e.purchase_id AND e.kind = 'earn' \
             WHERE e.id > $1 AND e.id <= $2",
            args![after, upto],
        )
        .await?;
    for (at, kind, points, merchant, member, buyer, breakdown) in rows {
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

/// Adds the next entries (at most [`CHUNK`], none made at or after `cutoff`, so
/// none still being committed) to the roll-up in `tz`, starting it again if it
/// was kept in another time zone. Returns whether more remain.
pub(crate) async fn roll_up<T: Tx>(tx: &mut T, tz: Tz, cutoff: DateTime<Utc>) -> Result<bool> {
    let (mark_tz, mut upto) = mark(tx, true).await?;
    if mark_tz != tz.name() {
        tx.exec("DELETE FROM report_days", &[]).await?;
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
    // (day, shop, measure, points), added in statements of many rows each.
    let mut rows: Vec<(String, &str, &str, i64)> = Vec::new();
    for ((day, merchant), f) in &flows {
        let day = day.format("%Y-%m-%d").to_string();
        for m in Measure::ALL {
            if f.get(m) != 0 {
                rows.push((day.clone(), merchant, m.as_str(), f.get(m)));
            }
        }
    }
    for batch in rows.chunks(UPSERT_ROWS) {
        let mut values = Vec::with_capacity(batch.len() * 5);
        let mut tuples = Vec::with_capacity(batch.len());
        for (i, (day, merchant, measure, points)) in batch.iter().enumerate() {
            let n = i * 5;
            tuples.push(format!(
                "(${}, ${}, ${}, ${}, ${})",
                n + 1,
                n + 2,
                n + 3,
                n + 4,
                n + 5
            ));
            values.extend([
                Value::from(tz.name()),
                Value::from(day.as_str()),
                Value::from(*merchant),
                Value::from(*measure),
                Value::from(*points),
            ]);
        }
        tx.exec(
            &format!(
                "INSERT INTO report_days (tz, day, merchant_id, measure, points) VALUES {} \
                 ON CONFLICT (tz, day, merchant_id, measure) \
                 DO UPDATE SET points = report_days.points + excluded.points",
                tuples.join(", ")
            ),
            &values,
        )
        .await?;
    }
    tx.exec(
        "UPDATE report_marks SET tz = $1, upto_id = $2 WHERE name = 'ledger'",
        args![tz.name(), end],
    )
    .await?;
    Ok(end < target)
}
