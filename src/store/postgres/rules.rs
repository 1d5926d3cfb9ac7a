//! The earning rules' storage on PostgreSQL: campaigns and their budgets, tiers
//! and tier moves, and referral payments.
//!
//! A purchase reads the campaigns running when it happened without locks, then
//! locks the rows of those with a budget (in id order, after the member's row),
//! so concurrent purchases take from a budget one after the other and it stops
//! exactly at its end. Campaigns without a budget are never locked, so they do
//! not serialise purchases.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::{Tx, credit, lock_member};
use crate::domain::Points;
use crate::domain::campaign::Campaign;
use crate::domain::earn::Breakdown;
use crate::domain::model::*;
use crate::domain::notice::Notice;
use crate::domain::purchase::*;
use crate::domain::tier::{Tiers, move_down, move_up, window_start};
use crate::store::rows::*;
use crate::store::{Result, StoreError};

/// Everything a purchase is priced with, read (and locked) in the fixed order:
/// the buyer's row, the referrer's row if this purchase pays them, then, in one
/// round trip, the buyer's history and the running campaigns, then the rows of
/// budgeted campaigns. `lock` is false for a simulation.
pub(super) struct Context {
    pub(super) buyer: Option<(Buyer, i64)>,
    pub(super) referrer_balance: Option<i64>,
    pub(super) campaigns: Vec<Campaign>,
    pub(super) used: Vec<(i64, i64)>,
}

pub(super) async fn context(tx: &mut Tx, cmd: &PurchaseCommand, lock: bool) -> Result<Context> {
    let lock_sql = if lock { " FOR UPDATE" } else { "" };
    let mut buyer = match &cmd.member_code {
        None => None,
        Some(code) => {
            let (id, code, balance, tier, referred_by, referral_paid, has_channel): (
                i64,
                String,
                i64,
                Option<String>,
                Option<i64>,
                bool,
                bool,
            ) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT id, code, balance, tier, referred_by, referral_purchase_id IS NOT NULL, \
                 (telegram_id IS NOT NULL AND telegram_reachable) \
                 OR (line_id IS NOT NULL AND line_reachable) \
                 FROM members WHERE code = $1{lock_sql}"
            )))
            .bind(code.as_str())
            .fetch_optional(&mut **tx)
            .await?
            .ok_or(StoreError::NotFound("member"))?;
            let b = Buyer {
                id,
                code,
                balance,
                tier,
                referred_by,
                referral_paid,
                has_purchases: false,
                has_channel,
            };
            Some((b, 0))
        }
    };
    let referrer_balance = match &buyer {
        Some((b, _)) if lock && b.referral_due(cmd) => lock_referrer(tx, b).await?,
        _ => None,
    };
    // Read after the locks, so purchases that held them are counted.
    let (has_purchases, spend, campaigns, version): (bool, i64, String, i64) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM purchases WHERE member_id = $1), \
         (SELECT COALESCE(SUM(amount_minor - refunded_minor), 0)::BIGINT FROM purchases \
          WHERE member_id = $1 AND occurred_at > $2 AND currency = $3), \
         (SELECT COALESCE(json_agg(c ORDER BY c.id), '[]')::TEXT FROM campaigns c \
          WHERE c.ends_at > $4 AND c.starts_at <= $4), \
         (SELECT settings_version FROM program WHERE id = 1)",
    )
    .bind(buyer.as_ref().map(|(b, _)| b.id))
    .bind(window_start(cmd.now))
    .bind(cmd.rules.currency.code())
    .bind(cmd.occurred_at)
    .fetch_one(&mut **tx)
    .await?;
    if version != cmd.rules.version {
        return Err(StoreError::SettingsChanged);
    }
    if let Some((b, s)) = &mut buyer {
        b.has_purchases = has_purchases;
        *s = spend;
    }
    let rows: Vec<CampaignRow> = serde_json::from_str(&campaigns)
        .map_err(|e| StoreError::Corrupt(format!("campaigns as JSON: {e}")))?;
    let mut campaigns = rows
        .into_iter()
        .map(Campaign::try_from)
        .collect::<Result<Vec<_>>>()?;
    let budgeted: Vec<i64> = campaigns
        .iter()
        .filter(|c| c.budget.is_some())
        .map(|c| c.id)
        .collect();
    if lock && !budgeted.is_empty() {
        let locked: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT id, awarded FROM campaigns WHERE id = ANY($1) ORDER BY id FOR UPDATE",
        )
        .bind(&budgeted)
        .fetch_all(&mut **tx)
        .await?;
        for (id, awarded) in locked {
            if let Some(c) = campaigns.iter_mut().find(|c| c.id == id) {
                c.awarded = awarded;
            }
        }
    }
    let used = match &buyer {
        Some((b, _)) => member_use(tx, b.id, &capped(&campaigns)).await?,
        None => Vec::new(),
    };
    Ok(Context {
        buyer,
        referrer_balance,
        campaigns,
        used,
    })
}

/// Whether the member has purchases, and their rolling spend in `currency`.
async fn history(
    tx: &mut Tx,
    member_id: i64,
    currency: &str,
    now: DateTime<Utc>,
) -> Result<(bool, i64)> {
    Ok(sqlx::query_as(
        "SELECT COUNT(*) > 0, COALESCE(SUM(amount_minor - refunded_minor) \
         FILTER (WHERE occurred_at > $2 AND currency = $3), 0)::BIGINT \
         FROM purchases WHERE member_id = $1",
    )
    .bind(member_id)
    .bind(window_start(now))
    .bind(currency)
    .fetch_one(&mut **tx)
    .await?)
}

/// What each of `ids` has given the member so far.
pub(super) async fn member_use(
    tx: &mut Tx,
    member_id: i64,
    ids: &[i64],
) -> Result<Vec<(i64, i64)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(sqlx::query_as(
        "SELECT campaign_id, SUM(points)::BIGINT FROM campaign_awards \
         WHERE member_id = $1 AND campaign_id = ANY($2) GROUP BY campaign_id",
    )
    .bind(member_id)
    .bind(ids)
    .fetch_all(&mut **tx)
    .await?)
}

/// Books what campaigns gave a purchase against their budgets.
pub(super) async fn record_awards(
    tx: &mut Tx,
    purchase_id: i64,
    member_id: Option<i64>,
    awards: &[(i64, Points)],
    now: DateTime<Utc>,
) -> Result<()> {
    if awards.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = awards.iter().map(|a| a.0).collect();
    let points: Vec<i64> = awards.iter().map(|a| a.1.value()).collect();
    sqlx::query(
        "WITH a AS (SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[]) AS a (id, points)), \
         u AS (UPDATE campaigns c SET awarded = c.awarded + a.points FROM a WHERE c.id = a.id) \
         INSERT INTO campaign_awards (campaign_id, purchase_id, member_id, points, created_at) \
         SELECT a.id, $3, $4, a.points, $5 FROM a",
    )
    .bind(&ids)
    .bind(&points)
    .bind(purchase_id)
    .bind(member_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Marks the referral of `member_id` paid by `purchase_id` and pays whoever
/// invited them (`referred_by`, whose row is locked; `referrer_balance`).
pub(super) async fn pay_referral(
    tx: &mut Tx,
    (member_id, referred_by): (i64, Option<i64>),
    referrer_balance: Option<i64>,
    purchase_id: i64,
    pay: &ReferralPayment<'_>,
) -> Result<()> {
    sqlx::query("UPDATE members SET referral_purchase_id = $1 WHERE id = $2")
        .bind(purchase_id)
        .bind(member_id)
        .execute(&mut **tx)
        .await?;
    let points = pay.rule.referrer_points;
    let (Some(referrer), Some(before)) = (referred_by, referrer_balance) else {
        return Ok(());
    };
    if points == 0 {
        return Ok(());
    }
    let (_, balance) = credit(
        tx,
        NewEntry::referral(referrer, points, pay.merchant_id, purchase_id, pay.now),
        pay.timing,
        before,
    )
    .await?;
    let notice = Notice::ReferralBonus { points, balance };
    super::outbox::notify(tx, referrer, &notice, pay.now).await?;
    sqlx::query("UPDATE purchases SET referrer_points = $1 WHERE id = $2")
        .bind(points)
        .bind(purchase_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// After a claim (the claimer's row locked): pays their referral if the receipt
/// qualifies (see [`referral_due_on_claim`]); the claimer's bonus joins the
/// purchase's points, so a full refund takes it back as for a purchase.
/// Returns the claimer's bonus and balance after it.
pub(super) async fn referral_on_claim(
    tx: &mut Tx,
    member_id: i64,
    p: &PurchaseRow,
    program_currency: &str,
    pay: &ReferralPayment<'_>,
    balance: i64,
) -> Result<(i64, i64)> {
    let (referred_by, paid): (Option<i64>, bool) = sqlx::query_as(
        "SELECT referred_by, referral_purchase_id IS NOT NULL FROM members WHERE id = $1",
    )
    .bind(member_id)
    .fetch_one(&mut **tx)
    .await?;
    if !referral_due_on_claim((referred_by, paid), p, program_currency, &pay.rule) {
        return Ok((0, balance));
    }
    let referrer_balance = match referred_by {
        Some(id) => Some(lock_member(tx, id).await?),
        None => None,
    };
    let bonus = pay.rule.referee_points;
    let mut after = balance;
    if bonus > 0 {
        after = credit(
            tx,
            NewEntry::referral(member_id, bonus, &p.merchant_id, p.id, pay.now),
            pay.timing,
            balance,
        )
        .await?
        .1;
        sqlx::query(
            "UPDATE purchases SET points = points + $1, referral_points = $1 WHERE id = $2",
        )
        .bind(bonus)
        .bind(p.id)
        .execute(&mut **tx)
        .await?;
    }
    pay_referral(tx, (member_id, referred_by), referrer_balance, p.id, pay).await?;
    Ok((bonus, after))
}

/// Locks the referrer a purchase will pay (before any campaign row, keeping the
/// lock order: members, then campaigns); their balance.
pub(super) async fn lock_referrer(tx: &mut Tx, buyer: &Buyer) -> Result<Option<i64>> {
    match buyer.referred_by {
        Some(id) => Ok(Some(lock_member(tx, id).await?)),
        None => Ok(None),
    }
}

async fn move_tier(tx: &mut Tx, change: &TierChange) -> Result<()> {
    sqlx::query(
        "WITH m AS (UPDATE members SET tier = $3, tier_since = $6 WHERE id = $1) \
         INSERT INTO tier_changes (member_id, from_tier, to_tier, spend_minor, reason, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(change.member_id)
    .bind(&change.from)
    .bind(&change.to)
    .bind(change.spend_minor)
    .bind(&change.reason)
    .bind(change.at)
    .execute(&mut **tx)
    .await?;
    let notice = Notice::TierChanged {
        from: change.from.clone(),
        to: change.to.clone(),
        up: change.reason != "review",
    };
    super::outbox::notify(tx, change.member_id, &notice, change.at).await
}

/// Moves a member up if `spend` reaches a higher tier than `current`.
pub(super) async fn upgrade(
    tx: &mut Tx,
    member_id: i64,
    current: Option<String>,
    spend: i64,
    tiers: &Tiers,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    if let Some(change) = move_up(tiers, member_id, current, spend, reason, now) {
        move_tier(tx, &change).await?;
    }
    Ok(())
}

/// After a claim: the member's tier and spend, read under their lock, and a move up.
pub(super) async fn upgrade_after_claim(
    tx: &mut Tx,
    member_id: i64,
    (tiers, currency): (&Tiers, &str),
    now: DateTime<Utc>,
) -> Result<()> {
    let current: Option<String> = sqlx::query_scalar("SELECT tier FROM members WHERE id = $1")
        .bind(member_id)
        .fetch_one(&mut **tx)
        .await?;
    let (_, spend) = history(tx, member_id, currency, now).await?;
    upgrade(tx, member_id, current, spend, tiers, "claim", now).await
}

pub(super) async fn tiers<'e>(db: impl sqlx::PgExecutor<'e>) -> Result<Tiers> {
    tiers_from_rows(
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{TIER_COLUMNS} ORDER BY threshold_minor"
        )))
        .fetch_all(db)
        .await?,
    )
}

pub(super) async fn set_tiers(tx: &mut Tx, tiers: &Tiers) -> Result<()> {
    sqlx::query("DELETE FROM tiers").execute(&mut **tx).await?;
    for t in tiers.all() {
        sqlx::query(
            "INSERT INTO tiers (key, name_th, name_en, threshold_minor, multiplier_percent) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&t.key)
        .bind(&t.name_th)
        .bind(&t.name_en)
        .bind(t.threshold_minor)
        .bind(i64::from(t.multiplier_percent))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

pub(super) async fn review_tiers(
    pool: &PgPool,
    tiers: &Tiers,
    currency: &str,
    now: DateTime<Utc>,
) -> Result<Vec<TierChange>> {
    let holders: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM members WHERE tier IS NOT NULL AND tier <> $1 AND tier_since IS NOT NULL",
    )
    .bind(&tiers.lowest().key)
    .fetch_all(pool)
    .await?;
    let mut moves = Vec::new();
    // One short transaction per member, under their lock: a purchase moving
    // them up at the same moment is never undone by a stale review.
    for member_id in holders {
        let mut tx = pool.begin().await?;
        let (key, since): (Option<String>, Option<DateTime<Utc>>) =
            sqlx::query_as("SELECT tier, tier_since FROM members WHERE id = $1 FOR UPDATE")
                .bind(member_id)
                .fetch_one(&mut *tx)
                .await?;
        let (Some(key), Some(since)) = (key, since) else {
            continue;
        };
        let (_, spend) = history(&mut tx, member_id, currency, now).await?;
        if let Some(change) = move_down(tiers, member_id, key, since, spend, now) {
            move_tier(&mut tx, &change).await?;
            tx.commit().await?;
            moves.push(change);
        }
    }
    Ok(moves)
}

pub(super) async fn tier_standing(
    pool: &PgPool,
    member_id: i64,
    currency: &str,
    now: DateTime<Utc>,
) -> Result<(Option<String>, i64)> {
    let mut tx = pool.begin().await?;
    let tier: Option<String> = sqlx::query_scalar("SELECT tier FROM members WHERE id = $1")
        .bind(member_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound("member"))?;
    let (_, spend) = history(&mut tx, member_id, currency, now).await?;
    tx.commit().await?;
    Ok((tier, spend))
}

pub(super) async fn tier_changes(pool: &PgPool, member_id: i64) -> Result<Vec<TierChange>> {
    let rows: Vec<TierChangeRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{TIER_CHANGE_COLUMNS} WHERE member_id = $1 ORDER BY id DESC"
    )))
    .bind(member_id)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(TierChange::from).collect())
}

pub(super) async fn add_campaign(
    pool: &PgPool,
    c: &Campaign,
    now: DateTime<Utc>,
) -> Result<Campaign> {
    let cols = CampaignColumns::of(c);
    let row: CampaignRow = sqlx::query_as(
        "INSERT INTO campaigns (name_th, name_en, text_th, text_en, kind, percent, points, \
         stacks, item_sku, item_category, starts_at, ends_at, days, hour_from, hour_to, \
         merchants, tiers, min_spend_minor, budget, member_cap, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
         $18, $19, $20, $21) RETURNING *",
    )
    .bind(&c.name_th)
    .bind(&c.name_en)
    .bind(&c.text_th)
    .bind(&c.text_en)
    .bind(cols.kind)
    .bind(cols.percent)
    .bind(cols.points)
    .bind(cols.stacks)
    .bind(cols.item_sku)
    .bind(cols.item_category)
    .bind(c.window.starts_at)
    .bind(c.window.ends_at)
    .bind(cols.days)
    .bind(cols.hour_from)
    .bind(cols.hour_to)
    .bind(cols.merchants)
    .bind(cols.tiers)
    .bind(c.min_spend_minor)
    .bind(c.budget)
    .bind(c.member_cap)
    .bind(now)
    .fetch_one(pool)
    .await?;
    row.try_into()
}

pub(super) async fn campaign<'e>(db: impl sqlx::PgExecutor<'e>, id: i64) -> Result<Campaign> {
    sqlx::query_as::<_, CampaignRow>(sqlx::AssertSqlSafe(format!(
        "{CAMPAIGN_COLUMNS} WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(db)
    .await?
    .ok_or(StoreError::NotFound("campaign"))?
    .try_into()
}

pub(super) async fn campaigns(pool: &PgPool) -> Result<Vec<Campaign>> {
    let rows: Vec<CampaignRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{CAMPAIGN_COLUMNS} ORDER BY id DESC"
    )))
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(Campaign::try_from).collect()
}

pub(super) async fn end_campaign(pool: &PgPool, id: i64, now: DateTime<Utc>) -> Result<Campaign> {
    // A campaign that has not started yet ends before it starts: it never runs.
    sqlx::query(
        "UPDATE campaigns SET ended_early_at = $1, starts_at = LEAST(starts_at, $1), \
         ends_at = $1 WHERE id = $2 AND ends_at > $1",
    )
    .bind(now)
    .bind(id)
    .execute(pool)
    .await?;
    campaign(pool, id).await
}

pub(super) async fn campaign_results(pool: &PgPool, id: i64) -> Result<CampaignResults> {
    campaign(pool, id).await?;
    let (points, purchases, members, sales_minor): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT COALESCE(SUM(a.points), 0)::BIGINT, COUNT(*), COUNT(DISTINCT a.member_id), \
         COALESCE(SUM(p.amount_minor), 0)::BIGINT \
         FROM campaign_awards a JOIN purchases p ON p.id = a.purchase_id WHERE a.campaign_id = $1",
    )
    .bind(id)
    .fetch_one(pool)
    .await?;
    Ok(CampaignResults {
        points,
        purchases,
        members,
        sales_minor,
    })
}

/// Prices a purchase as recording it would, reading without locks.
pub(super) async fn price_purchase(pool: &PgPool, cmd: &PurchaseCommand) -> Result<Breakdown> {
    let mut tx = pool.begin().await?;
    let c = context(&mut tx, cmd, false).await?;
    tx.rollback().await?;
    Ok(price(cmd, c.buyer.as_ref().map(|b| &b.0), &c.campaigns, &c.used).breakdown)
}
