//! Members' classes and segments: the purchases they are worked out from, the
//! runs that keep them (written in chunks, read once done), and reads of the
//! latest run.

use chrono::{DateTime, Utc};

use crate::domain::segment::{Buyer, Class, MemberSegment, Rfm, Segment, SegmentSummary};
use crate::store::sql::{FromRow, Row, Tx, Value, args};
use crate::store::{Result, StoreError};

/// Rows added by one statement.
const ROWS: usize = 500;

/// Every member who bought in `[from, now)` in `currency`: purchases, sales
/// net of refunds, days since the last one, and when it was.
pub(crate) async fn buyers(
    tx: &mut impl Tx,
    (from, now): (DateTime<Utc>, DateTime<Utc>),
    currency: &str,
) -> Result<Vec<(Buyer, DateTime<Utc>)>> {
    let rows: Vec<(i64, i64, i64, DateTime<Utc>)> = tx
        .all(
            "SELECT member_id, COUNT(*), CAST(SUM(amount_minor - refunded_minor) AS BIGINT), \
             MAX(occurred_at) FROM purchases WHERE member_id IS NOT NULL \
             AND occurred_at >= $1 AND occurred_at < $2 AND currency = $3 GROUP BY member_id",
            args![from, now, currency],
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|(member_id, purchases, sales, last)| {
            let buyer = Buyer {
                member_id,
                purchases,
                sales,
                days_since: (now - last).num_days().max(0),
            };
            (buyer, last)
        })
        .collect())
}

/// The items of members' purchases in `[from, now)` in `currency` (those
/// that list them): (member, items as stored).
pub(crate) async fn purchase_items(
    tx: &mut impl Tx,
    (from, now): (DateTime<Utc>, DateTime<Utc>),
    currency: &str,
) -> Result<Vec<(i64, String)>> {
    tx.all(
        "SELECT member_id, items FROM purchases WHERE member_id IS NOT NULL \
         AND occurred_at >= $1 AND occurred_at < $2 AND currency = $3 AND items IS NOT NULL",
        args![from, now, currency],
    )
    .await
}

/// A new run (not read until it is done). Runs left unfinished for a day (a
/// crash) are cleared away first.
pub(crate) async fn start_run(
    tx: &mut impl Tx,
    (computed_at, window_start): (DateTime<Utc>, DateTime<Utc>),
) -> Result<i64> {
    let stale = computed_at - chrono::Duration::days(1);
    tx.exec(
        "DELETE FROM member_segments WHERE run_id IN \
         (SELECT id FROM segment_runs WHERE done = $1 AND computed_at < $2)",
        args![false, stale],
    )
    .await?;
    tx.exec(
        "DELETE FROM segment_runs WHERE done = $1 AND computed_at < $2",
        args![false, stale],
    )
    .await?;
    tx.insert(
        "INSERT INTO segment_runs (computed_at, window_start) VALUES ($1, $2)",
        args![computed_at, window_start],
    )
    .await
}

/// Adds members' classes and segments to run `run_id`.
pub(crate) async fn add_rows(tx: &mut impl Tx, run_id: i64, rows: &[MemberSegment]) -> Result<()> {
    for batch in rows.chunks(ROWS) {
        let mut values: Vec<Value> = Vec::with_capacity(batch.len() * 11);
        let mut tuples = Vec::with_capacity(batch.len());
        for (i, s) in batch.iter().enumerate() {
            let places: Vec<String> = (1..=11).map(|j| format!("${}", i * 11 + j)).collect();
            tuples.push(format!("({})", places.join(", ")));
            values.extend([
                Value::from(run_id),
                Value::from(s.member_id),
                Value::from(s.class.as_str()),
                Value::from(s.segment.as_str()),
                Value::from(i64::from(s.rfm.r)),
                Value::from(i64::from(s.rfm.f)),
                Value::from(i64::from(s.rfm.m)),
                Value::from(s.purchases),
                Value::from(s.sales_minor),
                Value::from(s.last_purchase_at),
                Value::from(&s.favourite_category),
            ]);
        }
        tx.exec(
            &format!(
                "INSERT INTO member_segments (run_id, member_id, class, segment, r, f, m, \
                 purchases, sales_minor, last_purchase_at, favourite_category) VALUES {}",
                tuples.join(", ")
            ),
            &values,
        )
        .await?;
    }
    Ok(())
}

/// Marks run `run_id` done, and deletes the finished runs before it (a run
/// still being written, by another instance or the sweeper, is left to finish).
pub(crate) async fn finish_run(tx: &mut impl Tx, run_id: i64) -> Result<()> {
    tx.exec(
        "UPDATE segment_runs SET done = $1 WHERE id = $2",
        args![true, run_id],
    )
    .await?;
    tx.exec(
        "DELETE FROM member_segments WHERE run_id IN \
         (SELECT id FROM segment_runs WHERE id < $1 AND done = $2)",
        args![run_id, true],
    )
    .await?;
    tx.exec(
        "DELETE FROM segment_runs WHERE id < $1 AND done = $2",
        args![run_id, true],
    )
    .await?;
    Ok(())
}

const LATEST: &str = "(SELECT MAX(id) FROM segment_runs WHERE done = $1)";

const SEGMENT_COLUMNS: &str = "SELECT s.member_id, m.code, s.class, s.segment, s.r, s.f, s.m, \
    s.purchases, s.sales_minor, s.last_purchase_at, r.computed_at, s.favourite_category \
    FROM member_segments s \
    JOIN members m ON m.id = s.member_id JOIN segment_runs r ON r.id = s.run_id";

impl FromRow for MemberSegment {
    /// From `SEGMENT_COLUMNS`.
    fn from_row(row: &Row) -> Result<MemberSegment> {
        let mut c = row.cols();
        let (member_id, member_code) = (c.next()?, c.next()?);
        let (class, segment): (String, String) = (c.next()?, c.next()?);
        let mut score = || -> Result<u8> { Ok(u8::try_from(c.next::<i64>()?).unwrap_or(1)) };
        let rfm = Rfm {
            r: score()?,
            f: score()?,
            m: score()?,
        };
        Ok(MemberSegment {
            member_id,
            member_code,
            class: Class::parse(&class)
                .ok_or_else(|| StoreError::Corrupt(format!("class {class:?}")))?,
            segment: Segment::parse(&segment)
                .ok_or_else(|| StoreError::Corrupt(format!("segment {segment:?}")))?,
            rfm,
            purchases: c.next()?,
            sales_minor: c.next()?,
            last_purchase_at: c.next()?,
            computed_at: c.next()?,
            favourite_category: c.next()?,
        })
    }
}

/// A member's class and segment in the latest run, if they have one.
pub(crate) async fn member_segment(
    tx: &mut impl Tx,
    member_id: i64,
) -> Result<Option<MemberSegment>> {
    tx.opt(
        &format!("{SEGMENT_COLUMNS} WHERE s.run_id = {LATEST} AND s.member_id = $2"),
        args![true, member_id],
    )
    .await
}

/// The latest run's members, optionally of one class or segment, by sales.
pub(crate) async fn segment_members(
    tx: &mut impl Tx,
    (class, segment_name): (Option<&str>, Option<&str>),
) -> Result<Vec<MemberSegment>> {
    tx.all(
        &format!(
            "{SEGMENT_COLUMNS} WHERE s.run_id = {LATEST} AND ($2 IS NULL OR s.class = $2) \
             AND ($3 IS NULL OR s.segment = $3) ORDER BY s.sales_minor DESC, s.member_id"
        ),
        args![true, class, segment_name],
    )
    .await
}

/// The latest run's summary: every member's class and segment, or with a
/// shop, its customers' (those in the run who bought there in the run's
/// window) and what they bought there.
pub(crate) async fn segment_summary(
    tx: &mut impl Tx,
    merchant_id: Option<&str>,
) -> Result<SegmentSummary> {
    let (computed_at, members): (Option<DateTime<Utc>>, i64) = tx
        .one(
            &format!(
                "SELECT (SELECT computed_at FROM segment_runs WHERE id = {LATEST}), \
                 (SELECT COUNT(*) FROM members)"
            ),
            args![true],
            "segment runs",
        )
        .await?;
    let rows = match merchant_id {
        None => {
            tx.all(
                &format!(
                    "SELECT class, segment, COUNT(*), CAST(SUM(sales_minor) AS BIGINT), \
                     CAST(SUM(purchases) AS BIGINT) FROM member_segments \
                     WHERE run_id = {LATEST} GROUP BY class, segment"
                ),
                args![true],
            )
            .await?
        }
        Some(m) => {
            tx.all(
                &format!(
                    "SELECT s.class, s.segment, COUNT(*), CAST(SUM(b.sales) AS BIGINT), \
                     CAST(SUM(b.n) AS BIGINT) FROM member_segments s JOIN \
                     (SELECT p.member_id, COUNT(*) AS n, \
                      SUM(p.amount_minor - p.refunded_minor) AS sales \
                      FROM purchases p JOIN segment_runs r ON r.id = {LATEST} \
                      WHERE p.merchant_id = $2 AND p.member_id IS NOT NULL \
                      AND p.occurred_at >= r.window_start AND p.occurred_at < r.computed_at \
                      GROUP BY p.member_id) AS b ON b.member_id = s.member_id \
                     WHERE s.run_id = {LATEST} GROUP BY s.class, s.segment"
                ),
                args![true, m],
            )
            .await?
        }
    };
    Ok(SegmentSummary {
        computed_at,
        members,
        cells: rows,
    })
}
