//! Journeys' settings and what they gave: a gift is one transaction that
//! records the send under its key (never twice), and unless the member is held
//! out, credits the bonus points (an `earn` entry referenced `journey:<kind>`,
//! counted as campaign points), issues the voucher (its cost credited the same
//! way, then redeemed, so the ledger shows what the programme paid) and queues
//! the message as marketing (consent and quiet hours apply when it is sent).

use chrono::{DateTime, Utc};

use crate::domain::audience::Lapsing;
use crate::domain::journey::{Gift, Journey, Kind, SendFacts};
use crate::domain::ledger::EntryKind;
use crate::domain::model::RedeemCommand;
use crate::domain::notice::Notice;
use crate::store::ops::Steps;
use crate::store::ops::ledger::lock_member;
use crate::store::rows::NewEntry;
use crate::store::sql::{FromRow, Row, Tx, args};
use crate::store::{Result, StoreError};

const COLUMNS: &str = "SELECT kind, enabled, bonus_points, reward_id, holdout_bp, holdout_salt, \
    lapsing_days, every_days, near_bp, enabled_at FROM journeys";

impl FromRow for Journey {
    fn from_row(row: &Row) -> Result<Journey> {
        let mut c = row.cols();
        let kind: String = c.next()?;
        let kind =
            Kind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("journey {kind}")))?;
        let enabled = c.next()?;
        let bonus_points = c.next()?;
        let reward_id = c.next()?;
        let holdout_bp = c.next()?;
        let holdout_salt = c.next()?;
        let lapsing: Option<i64> = c.next()?;
        let every: i64 = c.next()?;
        Ok(Journey {
            kind,
            enabled,
            bonus_points,
            reward_id,
            holdout_bp,
            holdout_salt,
            lapsing: lapsing.map_or(Lapsing::UsualGap, |d| Lapsing::Days(d as u32)),
            every_days: every as u32,
            near_bp: c.next()?,
            enabled_at: c.next()?,
        })
    }
}

/// The journeys set so far.
pub(crate) async fn journeys(tx: &mut impl Tx) -> Result<Vec<Journey>> {
    tx.all(&format!("{COLUMNS} ORDER BY kind"), args![]).await
}

/// Stores a journey's settings (its salt and the moment it was switched on are
/// kept from before).
pub(crate) async fn set_journey(
    tx: &mut impl Tx,
    j: &Journey,
    now: DateTime<Utc>,
) -> Result<Journey> {
    let lapsing = match j.lapsing {
        Lapsing::Days(d) => Some(i64::from(d)),
        Lapsing::UsualGap => None,
    };
    let reward = j.reward_id;
    tx.exec(
        "INSERT INTO journeys (kind, enabled, bonus_points, reward_id, holdout_bp, holdout_salt, \
         lapsing_days, every_days, near_bp, enabled_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, CASE WHEN $2 THEN $10 END, $10) \
         ON CONFLICT (kind) DO UPDATE SET enabled = excluded.enabled, \
         bonus_points = excluded.bonus_points, reward_id = excluded.reward_id, \
         holdout_bp = excluded.holdout_bp, lapsing_days = excluded.lapsing_days, \
         every_days = excluded.every_days, near_bp = excluded.near_bp, \
         enabled_at = CASE WHEN NOT excluded.enabled THEN NULL \
             ELSE COALESCE(journeys.enabled_at, excluded.enabled_at) END, \
         updated_at = excluded.updated_at",
        args![
            j.kind.as_str(),
            j.enabled,
            j.bonus_points,
            reward,
            j.holdout_bp,
            j.holdout_salt,
            lapsing,
            i64::from(j.every_days),
            j.near_bp,
            now
        ],
    )
    .await?;
    tx.one(
        &format!("{COLUMNS} WHERE kind = $1"),
        args![j.kind.as_str()],
        "journey",
    )
    .await
}

/// What a journey gave since `since`: (member, key, sent at).
pub(crate) async fn sends(
    tx: &mut impl Tx,
    kind: Kind,
    since: DateTime<Utc>,
) -> Result<Vec<(i64, String, DateTime<Utc>)>> {
    tx.all(
        "SELECT member_id, key, sent_at FROM journey_sends WHERE kind = $1 AND sent_at >= $2",
        args![kind.as_str(), since],
    )
    .await
}

/// Gives a journey: false when it was given under this key before.
pub(crate) async fn give<T: Steps>(tx: &mut T, g: &Gift) -> Result<bool> {
    let added = tx
        .exec(
            "INSERT INTO journey_sends (kind, member_id, key, held_out, sent_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            args![
                g.kind.as_str(),
                g.member_id,
                g.key.as_str(),
                g.held_out,
                g.now
            ],
        )
        .await?;
    if added == 0 || g.held_out {
        return Ok(added == 1);
    }
    let reference = format!("journey:{}", g.kind.as_str());
    let mut points = 0;
    let credit = |points: i64| NewEntry {
        member_id: g.member_id,
        kind: EntryKind::Earn,
        points,
        merchant_id: None,
        purchase_id: None,
        voucher_id: None,
        lot_id: None,
        reference: Some(&reference),
        now: g.now,
    };
    if g.bonus_points > 0 {
        let balance = lock_member(tx, g.member_id).await?;
        tx.credit(credit(g.bonus_points), balance, g.timing).await?;
        points += g.bonus_points;
    }
    let mut voucher = None;
    let mut names = None;
    if let Some(reward_id) = g.reward_id.or(g.near.map(|(id, _)| id)) {
        let reward: Option<(i64, String, String)> = tx
            .opt(
                "SELECT cost, name_th, name_en FROM rewards WHERE id = $1",
                args![reward_id],
            )
            .await?;
        if let Some((cost, th, en)) = reward {
            names = Some((th, en));
            if g.reward_id.is_some() {
                // The programme pays the voucher's points, then it is redeemed;
                // a voucher that cannot be issued (stock, limit) leaves its
                // points with the member instead.
                let balance = lock_member(tx, g.member_id).await?;
                tx.credit(credit(cost), balance, g.timing).await?;
                let cmd = RedeemCommand {
                    member_id: g.member_id,
                    reward_id,
                    request_key: Some(format!("{reference}:{}", g.key)),
                    code: g.code.clone(),
                    notify: false,
                    now: g.now,
                    audit: None,
                };
                match super::rewards::redeem(tx, &cmd).await {
                    Ok(v) => voucher = Some((v.id, v.code.as_str().to_string())),
                    Err(StoreError::Refused(_) | StoreError::NotFound(_)) => points += cost,
                    Err(e) => return Err(e),
                }
            }
        }
    }
    tx.exec(
        "UPDATE journey_sends SET points = $4, voucher_id = $5 \
         WHERE kind = $1 AND member_id = $2 AND key = $3",
        args![
            g.kind.as_str(),
            g.member_id,
            g.key.as_str(),
            points,
            voucher.as_ref().map(|v| v.0)
        ],
    )
    .await?;
    let (reward_th, reward_en) = names.unzip();
    let notice = Notice::Journey {
        journey: g.kind.as_str().to_string(),
        points,
        voucher: voucher.map(|v| v.1),
        reward_th,
        reward_en,
        needed: g.near.map(|(_, n)| n),
    };
    tx.exec(
        "INSERT INTO outbox (member_id, channel, kind, marketing, payload, due_at, created_at) \
         SELECT id, CASE WHEN telegram_id IS NOT NULL AND telegram_reachable \
         THEN 'telegram' ELSE 'line' END, $2, $3, $4, $5, $5 FROM members \
         WHERE id = $1 AND ((telegram_id IS NOT NULL AND telegram_reachable) \
         OR (line_id IS NOT NULL AND line_reachable))",
        args![
            g.member_id,
            notice.kind(),
            true,
            notice.to_json().as_str(),
            g.now
        ],
    )
    .await?;
    Ok(true)
}

/// Members who bought since `since` whom marketing reaches, with their
/// balance now.
pub(crate) async fn recent_buyers(
    tx: &mut impl Tx,
    since: DateTime<Utc>,
) -> Result<Vec<(i64, i64)>> {
    tx.all(
        "SELECT m.id, m.balance FROM members m WHERE m.erased_at IS NULL AND m.marketing_opt_in \
         AND ((m.telegram_id IS NOT NULL AND m.telegram_reachable) \
              OR (m.line_id IS NOT NULL AND m.line_reachable)) AND m.id IN \
         (SELECT member_id FROM purchases WHERE created_at >= $1 AND member_id IS NOT NULL)",
        args![since],
    )
    .await
}

/// A journey's sends as its outcome is read, and the purchases of its members
/// since its first send (member, when, net minor units; by member and time).
pub(crate) async fn results(
    tx: &mut impl Tx,
    kind: Kind,
) -> Result<(Vec<SendFacts>, Vec<(i64, DateTime<Utc>, i64)>)> {
    let sends: Vec<SendFacts> = tx
        .all(
            "SELECT s.member_id, s.held_out, s.sent_at, s.points, s.voucher_id IS NOT NULL, \
             COALESCE(v.status = 'used', FALSE) FROM journey_sends s \
             LEFT JOIN vouchers v ON v.id = s.voucher_id WHERE s.kind = $1",
            args![kind.as_str()],
        )
        .await?;
    if sends.is_empty() {
        return Ok((sends, Vec::new()));
    }
    let purchases = tx
        .all(
            "SELECT p.member_id, p.occurred_at, p.amount_minor - p.refunded_minor FROM purchases p \
             WHERE p.member_id IN (SELECT member_id FROM journey_sends WHERE kind = $1) \
             AND p.occurred_at >= (SELECT MIN(sent_at) FROM journey_sends WHERE kind = $1) \
             ORDER BY p.member_id, p.occurred_at",
            args![kind.as_str()],
        )
        .await?;
    Ok((sends, purchases))
}
