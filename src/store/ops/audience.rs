//! What audiences are decided on: each member's facts (tier, class and
//! segment from the latest run, favourite category, birthday, when they joined,
//! their purchases' count, first and last), in one pass over members and their
//! purchases (the `purchases_member` index holds what it reads). Whether a
//! member bought a SKU or category lately is read from the purchases' items.

use chrono::{DateTime, Utc};

use crate::domain::audience::{Bought, Facts};
use crate::store::Result;
use crate::store::sql::{FromRow, Row, Tx, args};

impl FromRow for Facts {
    fn from_row(row: &Row) -> Result<Facts> {
        let mut c = row.cols();
        let member_id = c.next()?;
        let tier = c.next()?;
        let class = c.next()?;
        let segment = c.next()?;
        let favourite_category = c.next()?;
        let joined_at = c.next()?;
        let (day, month): (Option<i64>, Option<i64>) = (c.next()?, c.next()?);
        let purchases: Option<i64> = c.next()?;
        Ok(Facts {
            member_id,
            tier,
            class,
            segment,
            favourite_category,
            joined_at,
            birthday: day.zip(month).map(|(d, m)| (d as u32, m as u32)),
            purchases: purchases.unwrap_or(0),
            first_purchase: c.next()?,
            last_purchase: c.next()?,
            marketing: c.next()?,
            telegram: c.next()?,
            line: c.next()?,
            bought: false,
        })
    }
}

/// Every member's facts (erased members have none), by id; `bought` filled
/// in when `bought` is given.
pub(crate) async fn facts(
    tx: &mut impl Tx,
    bought: Option<&Bought>,
    now: DateTime<Utc>,
) -> Result<Vec<Facts>> {
    let mut facts: Vec<Facts> = tx
        .all(
            "SELECT m.id, m.tier, s.class, s.segment, s.favourite_category, m.created_at, \
             m.birth_day, m.birth_month, p.n, p.first_at, p.last_at, m.marketing_opt_in, \
             m.telegram_id IS NOT NULL AND m.telegram_reachable, \
             m.line_id IS NOT NULL AND m.line_reachable FROM members m \
             LEFT JOIN (SELECT member_id, COUNT(*) AS n, MIN(occurred_at) AS first_at, \
                 MAX(occurred_at) AS last_at FROM purchases WHERE member_id IS NOT NULL \
                 GROUP BY member_id) p ON p.member_id = m.id \
             LEFT JOIN member_segments s ON s.member_id = m.id \
                 AND s.run_id = (SELECT MAX(id) FROM segment_runs WHERE done = $1) \
             WHERE m.erased_at IS NULL ORDER BY m.id",
            args![true],
        )
        .await?;
    if let Some(b) = bought {
        let buyers = bought_lately(tx, b, now, None).await?;
        for f in &mut facts {
            f.bought = buyers.binary_search(&f.member_id).is_ok();
        }
    }
    Ok(facts)
}

/// One member's facts (what a purchase's campaigns with an audience are
/// decided on), read by the member's indexes; `bought` left false.
pub(crate) async fn member_facts(tx: &mut impl Tx, member_id: i64) -> Result<Option<Facts>> {
    tx.opt(
        "SELECT m.id, m.tier, s.class, s.segment, s.favourite_category, m.created_at, \
         m.birth_day, m.birth_month, \
         (SELECT COUNT(*) FROM purchases WHERE member_id = m.id), \
         (SELECT MIN(occurred_at) FROM purchases WHERE member_id = m.id), \
         (SELECT MAX(occurred_at) FROM purchases WHERE member_id = m.id), m.marketing_opt_in, \
         m.telegram_id IS NOT NULL AND m.telegram_reachable, \
         m.line_id IS NOT NULL AND m.line_reachable FROM members m \
         LEFT JOIN member_segments s ON s.member_id = m.id \
             AND s.run_id = (SELECT MAX(id) FROM segment_runs WHERE done = $2) \
         WHERE m.id = $1 AND m.erased_at IS NULL",
        args![member_id, true],
    )
    .await
}

/// One member's facts with `bought` read for `b`.
pub(crate) async fn member_facts_with(
    tx: &mut impl Tx,
    member_id: i64,
    b: Option<&Bought>,
    now: DateTime<Utc>,
) -> Result<Option<Facts>> {
    let mut facts = member_facts(tx, member_id).await?;
    if let (Some(f), Some(b)) = (&mut facts, b) {
        f.bought = member_bought(tx, member_id, b, now).await?;
    }
    Ok(facts)
}

/// Whether one member bought the SKU or category in `b` in its window.
pub(crate) async fn member_bought(
    tx: &mut impl Tx,
    member_id: i64,
    b: &Bought,
    now: DateTime<Utc>,
) -> Result<bool> {
    Ok(bought_lately(tx, b, now, Some(member_id))
        .await?
        .contains(&member_id))
}

/// Members who bought the SKU or category in `b`'s window, sorted.
async fn bought_lately(
    tx: &mut impl Tx,
    b: &Bought,
    now: DateTime<Utc>,
    member: Option<i64>,
) -> Result<Vec<i64>> {
    let since = now - chrono::Duration::days(i64::from(b.days));
    let (field, value) = match (&b.sku, &b.category) {
        (Some(sku), _) => ("sku", sku),
        (None, Some(category)) => ("category", category),
        (None, None) => return Ok(Vec::new()),
    };
    // The items as stored (compact JSON): a LIKE finds the candidates, the
    // parsed items decide.
    let needle = format!("%{}%", serde_json::Value::String(value.clone()));
    let rows: Vec<(i64, String)> = tx
        .all(
            "SELECT member_id, items FROM purchases WHERE member_id IS NOT NULL \
             AND ($4 IS NULL OR member_id = $4) \
             AND occurred_at >= $1 AND occurred_at <= $2 AND items LIKE $3",
            args![since, now, needle.as_str(), member],
        )
        .await?;
    let mut members: Vec<i64> = rows
        .into_iter()
        .filter(|(_, items)| {
            serde_json::from_str::<Vec<serde_json::Value>>(items)
                .is_ok_and(|items| items.iter().any(|i| i[field] == value.as_str()))
        })
        .map(|(m, _)| m)
        .collect();
    members.sort_unstable();
    members.dedup();
    Ok(members)
}

/// Sets a member's birthday: the first time, or again when the last change is
/// a year old (`domain::audience::may_set_birthday`); the same birthday again
/// changes nothing. Whether it holds now, and when it was last set.
pub(crate) async fn set_birthday<T: Tx>(
    tx: &mut T,
    member_id: i64,
    (day, month): (u32, u32),
    now: DateTime<Utc>,
) -> Result<(bool, Option<DateTime<Utc>>)> {
    let (d, m, set_at): (Option<i64>, Option<i64>, Option<DateTime<Utc>>) = tx
        .one(
            &format!(
                "SELECT birth_day, birth_month, birthday_set_at FROM members \
                 WHERE id = $1 AND erased_at IS NULL{}",
                T::FOR_UPDATE
            ),
            args![member_id],
            "member",
        )
        .await?;
    if (d, m) == (Some(i64::from(day)), Some(i64::from(month))) {
        return Ok((true, set_at));
    }
    if !crate::domain::audience::may_set_birthday(set_at, now) {
        return Ok((false, set_at));
    }
    tx.exec(
        "UPDATE members SET birth_day = $2, birth_month = $3, birthday_set_at = $4 WHERE id = $1",
        args![member_id, i64::from(day), i64::from(month), now],
    )
    .await?;
    Ok((true, Some(now)))
}

/// A member's birthday (day, month), if they gave it.
pub(crate) async fn birthday(tx: &mut impl Tx, member_id: i64) -> Result<Option<(u32, u32)>> {
    let (day, month): (Option<i64>, Option<i64>) = tx
        .one(
            "SELECT birth_day, birth_month FROM members WHERE id = $1",
            args![member_id],
            "member",
        )
        .await?;
    Ok(day.zip(month).map(|(d, m)| (d as u32, m as u32)))
}
