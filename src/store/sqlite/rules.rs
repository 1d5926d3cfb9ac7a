//! The earning rules' storage on SQLite: campaigns and their budgets, tiers and
//! tier moves, and referral payments. The writer thread runs every write alone,
//! so budgets and caps read here are current until the operation commits.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

use super::ops::{all, credit, exec, insert, member_balance, one};
use super::value::Ts;
use crate::domain::Points;
use crate::domain::campaign::Campaign;
use crate::domain::earn::Breakdown;
use crate::domain::model::*;
use crate::domain::notice::Notice;
use crate::domain::purchase::*;
use crate::domain::tier::{Tiers, move_down, move_up, window_start};
use crate::store::rows::*;
use crate::store::{Result, StoreError};

/// The member a purchase names (if any), with what the rules need to know about
/// them and their rolling spend in the program currency before this purchase.
/// Refuses a purchase priced under settings older than the database's (the
/// version is read in the same statement as the buyer).
pub(super) fn buyer(conn: &Connection, cmd: &PurchaseCommand) -> Result<Option<(Buyer, i64)>> {
    let Some(code) = &cmd.member_code else {
        settings_current(conn, cmd)?;
        return Ok(None);
    };
    let (buyer, version) = one(
        conn,
        "SELECT m.id, m.code, m.balance, m.tier, m.referred_by, \
         m.referral_purchase_id IS NOT NULL, \
         EXISTS (SELECT 1 FROM purchases p WHERE p.member_id = m.id), \
         (m.telegram_id IS NOT NULL AND m.telegram_reachable) \
         OR (m.line_id IS NOT NULL AND m.line_reachable), \
         (SELECT COALESCE(SUM(p.amount_minor - p.refunded_minor), 0) FROM purchases p \
          WHERE p.member_id = m.id AND p.occurred_at > ?2 AND p.currency = ?3), \
         (SELECT settings_version FROM program WHERE id = 1) \
         FROM members m WHERE m.code = ?1",
        params![
            code.as_str(),
            Ts(window_start(cmd.now)),
            cmd.rules.currency.code()
        ],
        |r| {
            Ok((
                (
                    Buyer {
                        id: r.get(0)?,
                        code: r.get(1)?,
                        balance: r.get(2)?,
                        tier: r.get(3)?,
                        referred_by: r.get(4)?,
                        referral_paid: r.get(5)?,
                        has_purchases: r.get(6)?,
                        has_channel: r.get(7)?,
                    },
                    r.get(8)?,
                ),
                r.get::<_, i64>(9)?,
            ))
        },
    )?
    .ok_or(StoreError::NotFound("member"))?;
    if version != cmd.rules.version {
        return Err(StoreError::SettingsChanged);
    }
    Ok(Some(buyer))
}

/// Campaigns whose window includes `at` (days and hours are checked by the rules).
pub(super) fn running_campaigns(conn: &Connection, at: DateTime<Utc>) -> Result<Vec<Campaign>> {
    all(
        conn,
        &format!("{CAMPAIGN_COLUMNS} WHERE ends_at > ?1 AND starts_at <= ?1 ORDER BY id"),
        [Ts(at)],
        CampaignRow::read,
    )?
    .into_iter()
    .map(Campaign::try_from)
    .collect()
}

/// What each of `ids` has given the member so far.
pub(super) fn member_use(
    conn: &Connection,
    member_id: i64,
    ids: &[i64],
) -> Result<Vec<(i64, i64)>> {
    ids.iter()
        .map(|&id| {
            let used: i64 = one(
                conn,
                "SELECT COALESCE(SUM(points), 0) FROM campaign_awards \
                 WHERE member_id = ?1 AND campaign_id = ?2",
                [member_id, id],
                |r| r.get(0),
            )?
            .unwrap_or(0);
            Ok((id, used))
        })
        .collect()
}

/// Prices a purchase as recording it would (the member, campaigns and caps as
/// they are now).
/// Refuses a purchase priced under settings older than the database's.
fn settings_current(conn: &Connection, cmd: &PurchaseCommand) -> Result<()> {
    let version = one(
        conn,
        "SELECT settings_version FROM program WHERE id = 1",
        [],
        |r| r.get::<_, i64>(0),
    )?;
    if version != Some(cmd.rules.version) {
        return Err(StoreError::SettingsChanged);
    }
    Ok(())
}

pub(super) fn price_purchase(conn: &Connection, cmd: &PurchaseCommand) -> Result<Breakdown> {
    let buyer = buyer(conn, cmd)?.map(|b| b.0);
    let campaigns = running_campaigns(conn, cmd.occurred_at)?;
    let used = match &buyer {
        Some(b) => member_use(conn, b.id, &capped(&campaigns))?,
        None => Vec::new(),
    };
    Ok(price(cmd, buyer.as_ref(), &campaigns, &used).breakdown)
}

/// Books what campaigns gave a purchase against their budgets.
pub(super) fn record_awards(
    conn: &Connection,
    purchase_id: i64,
    member_id: Option<i64>,
    awards: &[(i64, Points)],
    now: DateTime<Utc>,
) -> Result<()> {
    for (campaign_id, points) in awards {
        exec(
            conn,
            "UPDATE campaigns SET awarded = awarded + ?1 WHERE id = ?2",
            params![points.value(), campaign_id],
        )?;
        exec(
            conn,
            "INSERT INTO campaign_awards (campaign_id, purchase_id, member_id, points, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![campaign_id, purchase_id, member_id, points.value(), Ts(now)],
        )?;
    }
    Ok(())
}

/// Marks the referral of `member_id` paid by `purchase_id` and pays whoever
/// invited them (`referred_by`).
pub(super) fn pay_referral(
    conn: &Connection,
    (member_id, referred_by): (i64, Option<i64>),
    purchase_id: i64,
    pay: &ReferralPayment<'_>,
) -> Result<()> {
    exec(
        conn,
        "UPDATE members SET referral_purchase_id = ?1 WHERE id = ?2",
        params![purchase_id, member_id],
    )?;
    let points = pay.rule.referrer_points;
    let Some(referrer) = referred_by.filter(|_| points > 0) else {
        return Ok(());
    };
    let before = member_balance(conn, referrer)?;
    let (_, balance) = credit(
        conn,
        NewEntry::referral(referrer, points, pay.merchant_id, purchase_id, pay.now),
        before,
        pay.timing,
    )?;
    super::outbox::notify(
        conn,
        referrer,
        &Notice::ReferralBonus { points, balance },
        pay.now,
    )?;
    exec(
        conn,
        "UPDATE purchases SET referrer_points = ?1 WHERE id = ?2",
        params![points, purchase_id],
    )?;
    Ok(())
}

/// After a claim: pays the claimer's referral if the receipt qualifies (see
/// [`referral_due_on_claim`]). The claimer's bonus joins the purchase's points,
/// so a full refund takes it back as it would for a purchase. Returns the
/// claimer's bonus and balance after it.
pub(super) fn referral_on_claim(
    conn: &Connection,
    member_id: i64,
    p: &PurchaseRow,
    program: &Program,
    pay: &ReferralPayment<'_>,
    balance: i64,
) -> Result<(i64, i64)> {
    let (referred_by, paid): (Option<i64>, bool) = one(
        conn,
        "SELECT referred_by, referral_purchase_id IS NOT NULL FROM members WHERE id = ?1",
        [member_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?
    .ok_or(StoreError::NotFound("member"))?;
    if !referral_due_on_claim((referred_by, paid), p, program.currency.code(), &pay.rule) {
        return Ok((0, balance));
    }
    let bonus = program.referral.referee_points;
    let mut after = balance;
    if bonus > 0 {
        after = credit(
            conn,
            NewEntry::referral(member_id, bonus, &p.merchant_id, p.id, pay.now),
            balance,
            pay.timing,
        )?
        .1;
        exec(
            conn,
            "UPDATE purchases SET points = points + ?1, referral_points = ?1 WHERE id = ?2",
            params![bonus, p.id],
        )?;
    }
    pay_referral(conn, (member_id, referred_by), p.id, pay)?;
    Ok((bonus, after))
}

/// A member's spend in `currency` over the rolling window ending at `now`.
pub(super) fn spend(
    conn: &Connection,
    member_id: i64,
    currency: &str,
    now: DateTime<Utc>,
) -> Result<i64> {
    Ok(one(
        conn,
        "SELECT COALESCE(SUM(amount_minor - refunded_minor), 0) FROM purchases \
         WHERE member_id = ?1 AND occurred_at > ?2 AND currency = ?3",
        params![member_id, Ts(window_start(now)), currency],
        |r| r.get(0),
    )?
    .unwrap_or(0))
}

fn member_tier(conn: &Connection, member_id: i64) -> Result<Option<String>> {
    one(
        conn,
        "SELECT tier FROM members WHERE id = ?1",
        [member_id],
        |r| r.get(0),
    )?
    .ok_or(StoreError::NotFound("member"))
}

fn move_tier(conn: &Connection, change: &TierChange) -> Result<()> {
    exec(
        conn,
        "UPDATE members SET tier = ?1, tier_since = ?2 WHERE id = ?3",
        params![change.to, Ts(change.at), change.member_id],
    )?;
    insert(
        conn,
        "INSERT INTO tier_changes (member_id, from_tier, to_tier, spend_minor, reason, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            change.member_id,
            change.from,
            change.to,
            change.spend_minor,
            change.reason,
            Ts(change.at)
        ],
    )?;
    super::outbox::notify(
        conn,
        change.member_id,
        &Notice::TierChanged {
            from: change.from.clone(),
            to: change.to.clone(),
            up: change.reason != "review",
        },
        change.at,
    )?;
    Ok(())
}

/// Moves a member up if `spend` reaches a higher tier than `current`.
pub(super) fn upgrade(
    conn: &Connection,
    member_id: i64,
    (current, spend): (Option<String>, i64),
    tiers: &Tiers,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    if let Some(change) = move_up(tiers, member_id, current, spend, reason, now) {
        move_tier(conn, &change)?;
    }
    Ok(())
}

/// After a claim: the member's tier and spend now, and a move up.
pub(super) fn upgrade_after_claim(
    conn: &Connection,
    member_id: i64,
    (tiers, currency): (&Tiers, &str),
    now: DateTime<Utc>,
) -> Result<()> {
    let standing = tier_standing(conn, member_id, currency, now)?;
    upgrade(conn, member_id, standing, tiers, "claim", now)
}

pub(super) fn review_tiers(
    conn: &Connection,
    tiers: &Tiers,
    currency: &str,
    now: DateTime<Utc>,
) -> Result<Vec<TierChange>> {
    let lowest = &tiers.lowest().key;
    let holders: Vec<(i64, String, DateTime<Utc>)> = all(
        conn,
        "SELECT id, tier, tier_since FROM members \
         WHERE tier IS NOT NULL AND tier <> ?1 AND tier_since IS NOT NULL",
        [lowest],
        |r| Ok((r.get(0)?, r.get(1)?, super::value::ts(r, 2)?)),
    )?;
    let mut moves = Vec::new();
    for (member_id, key, since) in holders {
        let spend = spend(conn, member_id, currency, now)?;
        if let Some(change) = move_down(tiers, member_id, key, since, spend, now) {
            move_tier(conn, &change)?;
            moves.push(change);
        }
    }
    Ok(moves)
}

pub(super) fn tier_standing(
    conn: &Connection,
    member_id: i64,
    currency: &str,
    now: DateTime<Utc>,
) -> Result<(Option<String>, i64)> {
    Ok((
        member_tier(conn, member_id)?,
        spend(conn, member_id, currency, now)?,
    ))
}

pub(super) fn tier_changes(conn: &Connection, member_id: i64) -> Result<Vec<TierChange>> {
    Ok(all(
        conn,
        &format!("{TIER_CHANGE_COLUMNS} WHERE member_id = ?1 ORDER BY id DESC"),
        [member_id],
        TierChangeRow::read,
    )?
    .into_iter()
    .map(TierChange::from)
    .collect())
}

pub(super) fn tiers(conn: &Connection) -> Result<Tiers> {
    tiers_from_rows(all(
        conn,
        &format!("{TIER_COLUMNS} ORDER BY threshold_minor"),
        [],
        TierRow::read,
    )?)
}

pub(super) fn set_tiers(conn: &Connection, tiers: &Tiers) -> Result<()> {
    exec(conn, "DELETE FROM tiers", [])?;
    for t in tiers.all() {
        exec(
            conn,
            "INSERT INTO tiers (key, name_th, name_en, threshold_minor, multiplier_percent) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                t.key,
                t.name_th,
                t.name_en,
                t.threshold_minor,
                i64::from(t.multiplier_percent)
            ],
        )?;
    }
    Ok(())
}

pub(super) fn add_campaign(
    conn: &Connection,
    c: &Campaign,
    now: DateTime<Utc>,
) -> Result<Campaign> {
    let cols = CampaignColumns::of(c);
    let id = insert(
        conn,
        "INSERT INTO campaigns (name_th, name_en, text_th, text_en, kind, percent, points, \
         stacks, item_sku, item_category, starts_at, ends_at, days, hour_from, hour_to, \
         merchants, tiers, min_spend_minor, budget, member_cap, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, \
         ?18, ?19, ?20, ?21)",
        params![
            c.name_th,
            c.name_en,
            c.text_th,
            c.text_en,
            cols.kind,
            cols.percent,
            cols.points,
            cols.stacks,
            cols.item_sku,
            cols.item_category,
            Ts(c.window.starts_at),
            Ts(c.window.ends_at),
            cols.days,
            cols.hour_from,
            cols.hour_to,
            cols.merchants,
            cols.tiers,
            c.min_spend_minor,
            c.budget,
            c.member_cap,
            Ts(now),
        ],
    )?;
    campaign(conn, id)
}

pub(super) fn campaign(conn: &Connection, id: i64) -> Result<Campaign> {
    one(
        conn,
        &format!("{CAMPAIGN_COLUMNS} WHERE id = ?1"),
        [id],
        CampaignRow::read,
    )?
    .ok_or(StoreError::NotFound("campaign"))?
    .try_into()
}

pub(super) fn campaigns(conn: &Connection) -> Result<Vec<Campaign>> {
    all(
        conn,
        &format!("{CAMPAIGN_COLUMNS} ORDER BY id DESC"),
        [],
        CampaignRow::read,
    )?
    .into_iter()
    .map(Campaign::try_from)
    .collect()
}

pub(super) fn end_campaign(conn: &Connection, id: i64, now: DateTime<Utc>) -> Result<Campaign> {
    // A campaign that has not started yet ends before it starts: it never runs.
    exec(
        conn,
        "UPDATE campaigns SET ended_early_at = ?1, \
         starts_at = MIN(starts_at, ?1), ends_at = ?1 WHERE id = ?2 AND ends_at > ?1",
        params![Ts(now), id],
    )?;
    campaign(conn, id)
}

pub(super) fn campaign_results(conn: &Connection, id: i64) -> Result<CampaignResults> {
    campaign(conn, id)?;
    Ok(one(
        conn,
        "SELECT COALESCE(SUM(a.points), 0), COUNT(*), COUNT(DISTINCT a.member_id), \
         COALESCE(SUM(p.amount_minor), 0) \
         FROM campaign_awards a JOIN purchases p ON p.id = a.purchase_id WHERE a.campaign_id = ?1",
        [id],
        |r| {
            Ok(CampaignResults {
                points: r.get(0)?,
                purchases: r.get(1)?,
                members: r.get(2)?,
                sales_minor: r.get(3)?,
            })
        },
    )?
    .unwrap_or_default())
}
