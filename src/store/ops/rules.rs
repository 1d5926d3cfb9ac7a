//! The earning rules' storage: what a purchase is priced with, campaign budgets,
//! referral payments, tiers and tier moves, campaigns.
//!
//! On PostgreSQL a purchase locks, in this order, the buyer's row, the referrer it
//! pays, then the rows of budgeted campaigns, so concurrent purchases take from a
//! budget one after the other and it stops exactly at its end (see the
//! `context`). SQLite's one writer needs no locks.

use chrono::{DateTime, Utc};

use super::ledger::lock_member;
use super::spend::{rolling_spend, spend};
use super::{Award, Steps};
use crate::domain::campaign::Campaign;
use crate::domain::model::*;
use crate::domain::notice::Notice;
use crate::domain::purchase::*;
use crate::domain::tier::{Tiers, move_down, move_up, window_start};
use crate::store::rows::*;
use crate::store::sql::{Tx, Value, args};
use crate::store::{Result, StoreError};

/// Everything a purchase is priced with.
pub(crate) struct Context {
    /// The buyer and their rolling spend before this purchase.
    pub(crate) buyer: Option<(Buyer, i64)>,
    pub(crate) campaigns: Vec<Campaign>,
    /// What each capped campaign has given the buyer so far.
    pub(crate) used: Vec<(i64, i64)>,
    /// What captured payments with points or store credit paid of the receipt.
    pub(crate) paid_with_points: i64,
    /// Whether the merchant is a partner funding its points from a prepaid
    /// budget (the purchase's points are counted against it).
    pub(crate) prepaid: bool,
    /// Whether the receipt is recorded already (a replay, or a conflict).
    pub(crate) seen: bool,
}

pub(crate) type BuyerRow = (i64, String, i64, Option<String>, Option<i64>, bool, bool);

pub(crate) fn buyer(
    (id, code, balance, tier, referred_by, referral_paid, has_channel): BuyerRow,
) -> Buyer {
    Buyer {
        id,
        code,
        balance,
        tier,
        referred_by,
        referral_paid,
        has_purchases: false,
        has_channel,
    }
}

/// A purchase's buyer (`WHERE …` follows).
pub(crate) const BUYER: &str = "SELECT id, code, balance, tier, referred_by, \
    referral_purchase_id IS NOT NULL, (telegram_id IS NOT NULL AND telegram_reachable) \
    OR (line_id IS NOT NULL AND line_reachable) FROM members";

/// The plain way: each buyer by code, one after the other (SQLite's one
/// writer needs no locks; `FOR UPDATE` where there are).
pub(crate) async fn buyers<T: Tx>(tx: &mut T, codes: &[&str], lock: bool) -> Result<Vec<Buyer>> {
    let sql = format!(
        "{BUYER} WHERE code = $1{}",
        if lock { T::FOR_UPDATE } else { "" }
    );
    let mut found = Vec::with_capacity(codes.len());
    for code in codes {
        if let Some(row) = tx.opt(&sql, args![*code]).await? {
            found.push(buyer(row));
        }
    }
    Ok(found)
}

/// What a purchase learns of the buyer's history and the programme.
pub(crate) struct History {
    pub(crate) has_purchases: bool,
    /// Rolling spend in the programme currency before this purchase.
    pub(crate) spend: i64,
    pub(crate) settings_version: i64,
    /// The campaigns running when the purchase happened.
    pub(crate) campaigns: Vec<CampaignRow>,
    /// What captured payments with points or store credit paid of this
    /// receipt (minor units).
    pub(crate) paid_with_points: i64,
    /// Whether the merchant funds its points from a prepaid budget.
    pub(crate) prepaid: bool,
    /// Whether the receipt is recorded already.
    pub(crate) seen: bool,
}

/// Reads what each purchase of a batch is priced with, in order, taking locks
/// in the fixed order when `lock` (PostgreSQL; false for a simulation): the
/// buyers' rows (in id order), then their histories and the running
/// campaigns, then the rows of budgeted campaigns (whose `awarded` the batch
/// starts from). The buyers are distinct. A purchase whose member does not
/// exist, or priced under settings older than the database's, gets its error
/// (nothing was written for it); an error of the database is the batch's.
pub(crate) async fn contexts<T: Steps>(
    tx: &mut T,
    cmds: &[&PurchaseCommand],
    lock: bool,
) -> Result<Vec<Result<Context>>> {
    let codes: Vec<&str> = (cmds.iter())
        .filter_map(|c| c.member_code.as_ref().map(|m| m.as_str()))
        .collect();
    let mut found = if codes.is_empty() {
        Vec::new()
    } else {
        tx.buyers(&codes, lock).await?
    };
    let buyers: Vec<Result<Option<Buyer>>> = (cmds.iter())
        .map(|c| match &c.member_code {
            None => Ok(None),
            Some(code) => match found.iter().position(|b| b.code == code.as_str()) {
                Some(i) => Ok(Some(found.swap_remove(i))),
                None => Err(StoreError::NotFound("member")),
            },
        })
        .collect();
    let ids: Vec<Option<i64>> = (buyers.iter())
        .map(|b| b.as_ref().ok().and_then(|b| b.as_ref().map(|b| b.id)))
        .collect();
    // Read after the locks, so purchases that held them are counted.
    let histories = tx.histories(&ids, cmds).await?;
    let mut out = Vec::with_capacity(cmds.len());
    for ((cmd, buyer), history) in cmds.iter().zip(buyers).zip(histories) {
        out.push(match buyer {
            Err(e) => Err(e),
            Ok(buyer) => context(tx, cmd, buyer, history).await?,
        });
    }
    if lock {
        // Every budgeted campaign of the batch, once, in id order.
        let mut budgeted: Vec<Campaign> = Vec::new();
        for c in out.iter().flatten().flat_map(|c| &c.campaigns) {
            if c.budget.is_some() && !budgeted.iter().any(|b| b.id == c.id) {
                budgeted.push(c.clone());
            }
        }
        if !budgeted.is_empty() {
            budgeted.sort_by_key(|c| c.id);
            tx.lock_budgets(&mut budgeted).await?;
            for c in out.iter_mut().flatten().flat_map(|c| &mut c.campaigns) {
                if let Some(b) = budgeted.iter().find(|b| b.id == c.id) {
                    c.awarded = b.awarded;
                }
            }
        }
    }
    Ok(out)
}

/// One purchase's context from its buyer and history: its error when the
/// settings it was priced under are stale.
async fn context<T: Steps>(
    tx: &mut T,
    cmd: &PurchaseCommand,
    buyer: Option<Buyer>,
    history: History,
) -> Result<Result<Context>> {
    if history.settings_version != cmd.rules.version {
        return Ok(Err(StoreError::SettingsChanged));
    }
    let buyer = buyer.map(|mut b| {
        b.has_purchases = history.has_purchases;
        (b, history.spend)
    });
    let mut campaigns = (history.campaigns.into_iter())
        .map(Campaign::try_from)
        .collect::<Result<Vec<_>>>()?;
    // Campaigns for an audience apply only to purchases by members in it.
    if campaigns.iter().any(|c| !c.audience.is_everyone()) {
        let member = buyer.as_ref().map(|(b, _)| b.id);
        campaigns = for_buyer(tx, campaigns, member, cmd).await?;
    }
    let used = match &buyer {
        Some((b, _)) => tx.member_use(b.id, &capped(&campaigns)).await?,
        None => Vec::new(),
    };
    Ok(Ok(Context {
        buyer,
        campaigns,
        used,
        paid_with_points: history.paid_with_points,
        prepaid: history.prepaid,
        seen: history.seen,
    }))
}

/// The campaigns whose audience holds the buyer (decided on the buyer's facts
/// before this purchase); a purchase without a member gets none of them.
async fn for_buyer(
    tx: &mut impl Tx,
    campaigns: Vec<Campaign>,
    member: Option<i64>,
    cmd: &PurchaseCommand,
) -> Result<Vec<Campaign>> {
    let mut kept = Vec::with_capacity(campaigns.len());
    for c in campaigns {
        if c.audience.is_everyone() {
            kept.push(c);
            continue;
        }
        let Some(id) = member else { continue };
        let f =
            super::audience::member_facts_with(tx, id, c.audience.bought.as_ref(), cmd.now).await?;
        if f.is_some_and(|f| {
            c.audience
                .admits(&f, &cmd.rules.tiers, cmd.now, cmd.rules.tz)
        }) {
            kept.push(c);
        }
    }
    Ok(kept)
}

/// The plain way: each purchase's history, then its campaigns.
pub(crate) async fn histories(
    tx: &mut impl Tx,
    member_ids: &[Option<i64>],
    cmds: &[&PurchaseCommand],
) -> Result<Vec<History>> {
    let mut out = Vec::with_capacity(cmds.len());
    for (member_id, cmd) in member_ids.iter().zip(cmds) {
        out.push(history(tx, *member_id, cmd).await?);
    }
    Ok(out)
}

async fn history(
    tx: &mut impl Tx,
    member_id: Option<i64>,
    cmd: &PurchaseCommand,
) -> Result<History> {
    let (has_purchases, spend, settings_version, paid_with_points, prepaid) = tx
        .one(
            &format!(
                "SELECT EXISTS (SELECT 1 FROM purchases WHERE member_id = $1), {}, \
                 (SELECT settings_version FROM program WHERE id = 1), {}",
                rolling_spend("$1", "$2", "$3"),
                receipt_facts("$4", "$5")
            ),
            args![
                member_id,
                window_start(cmd.now),
                cmd.rules.currency.code(),
                &cmd.merchant_id,
                &cmd.receipt_id
            ],
            "program",
        )
        .await?;
    let campaigns = tx
        .all(
            &format!("{CAMPAIGN_COLUMNS} WHERE ends_at > $1 AND starts_at <= $1 ORDER BY id"),
            args![cmd.occurred_at],
        )
        .await?;
    Ok(History {
        has_purchases,
        spend,
        settings_version,
        campaigns,
        paid_with_points,
        prepaid,
        // Alone, a receipt recorded before shows when it is inserted (nothing
        // is), so the plain way does not look for it first.
        seen: false,
    })
}

/// Two columns of the history's query on a receipt, given as SQL for its
/// merchant and receipt id: what captured payments with points paid of it,
/// and whether the merchant is a prepaid partner. (`(… LIMIT 1) IS NOT NULL`
/// rather than `EXISTS`: over a batch's rows, PostgreSQL may turn an `EXISTS`
/// into one scan of the whole table.)
pub(crate) fn receipt_facts(merchant: &str, receipt: &str) -> String {
    format!(
        "(SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) FROM point_payments \
         WHERE merchant_id = {merchant} AND receipt_id = {receipt} AND status = 'captured'), \
         (SELECT 1 FROM partners WHERE merchant_id = {merchant} AND funding = 'prepaid' \
          LIMIT 1) IS NOT NULL"
    )
}

/// The balance of the referrer a purchase will pay (locked on PostgreSQL).
pub(crate) async fn lock_referrer(
    tx: &mut impl Tx,
    b: &Buyer,
    cmd: &PurchaseCommand,
) -> Result<Option<i64>> {
    match b.referred_by {
        Some(id) if b.referral_due(cmd) => Ok(Some(lock_member(tx, id).await?)),
        _ => Ok(None),
    }
}

/// What each of `ids` has given the member so far.
pub(crate) async fn member_use(
    tx: &mut impl Tx,
    member_id: i64,
    ids: &[i64],
) -> Result<Vec<(i64, i64)>> {
    let mut used = Vec::with_capacity(ids.len());
    for &id in ids {
        let (points,): (i64,) = tx
            .one(
                "SELECT CAST(COALESCE(SUM(points), 0) AS BIGINT) FROM campaign_awards \
                 WHERE member_id = $1 AND campaign_id = $2",
                args![member_id, id],
                "awards",
            )
            .await?;
        used.push((id, points));
    }
    Ok(used)
}

/// Books what campaigns gave purchases against their budgets, one by one.
pub(crate) async fn record_awards(tx: &mut impl Tx, awards: &[Award]) -> Result<()> {
    for a in awards {
        tx.exec(
            "UPDATE campaigns SET awarded = awarded + $1 WHERE id = $2",
            args![a.points, a.campaign_id],
        )
        .await?;
        tx.exec(
            "INSERT INTO campaign_awards (campaign_id, purchase_id, member_id, points, \
             created_at) VALUES ($1, $2, $3, $4, $5)",
            args![a.campaign_id, a.purchase_id, a.member_id, a.points, a.at],
        )
        .await?;
    }
    Ok(())
}

/// Marks the referral of `member_id` paid by `purchase_id` and pays whoever
/// invited them (`referred_by`, whose balance is `referrer_balance`).
pub(crate) async fn pay_referral<T: Steps>(
    tx: &mut T,
    (member_id, referred_by): (i64, Option<i64>),
    referrer_balance: Option<i64>,
    purchase_id: i64,
    pay: &ReferralPayment<'_>,
) -> Result<()> {
    tx.exec(
        "UPDATE members SET referral_purchase_id = $1 WHERE id = $2",
        args![purchase_id, member_id],
    )
    .await?;
    let points = pay.rule.referrer_points;
    let (Some(referrer), Some(before)) = (referred_by, referrer_balance) else {
        return Ok(());
    };
    if points == 0 {
        return Ok(());
    }
    let entry = NewEntry::referral(referrer, points, pay.merchant_id, purchase_id, pay.now);
    let (_, balance) = tx.credit(entry, before, pay.timing).await?;
    let notice = Notice::ReferralBonus { points, balance };
    super::outbox::notify(tx, referrer, &notice, pay.now).await?;
    tx.exec(
        "UPDATE purchases SET referrer_points = $1 WHERE id = $2",
        args![points, purchase_id],
    )
    .await?;
    Ok(())
}

/// After a claim (the claimer's row locked): pays their referral if the receipt
/// qualifies; the claimer's bonus joins the
/// purchase's points, so a full refund takes it back as for a purchase.
/// Returns the claimer's bonus and balance after it.
pub(crate) async fn referral_on_claim<T: Steps>(
    tx: &mut T,
    member_id: i64,
    p: &PurchaseRow,
    program: &Program,
    pay: &ReferralPayment<'_>,
    balance: i64,
) -> Result<(i64, i64)> {
    let (referred_by, paid): (Option<i64>, bool) = tx
        .one(
            "SELECT referred_by, referral_purchase_id IS NOT NULL FROM members WHERE id = $1",
            args![member_id],
            "member",
        )
        .await?;
    // A receipt bought without a member code is the claimer's purchase too,
    // counted as what is left of it after refunds.
    let net = (p.currency.as_str(), p.amount_minor - p.refunded_minor);
    if !referral_due((referred_by, paid), net, program.currency.code(), &pay.rule) {
        return Ok((0, balance));
    }
    let referrer_balance = match referred_by {
        Some(id) => Some(lock_member(tx, id).await?),
        None => None,
    };
    let bonus = program.referral.referee_points;
    let mut after = balance;
    if bonus > 0 {
        let entry = NewEntry::referral(member_id, bonus, &p.merchant_id, p.id, pay.now);
        after = tx.credit(entry, balance, pay.timing).await?.1;
        tx.exec(
            "UPDATE purchases SET points = points + $1, referral_points = $1 WHERE id = $2",
            args![bonus, p.id],
        )
        .await?;
    }
    pay_referral(tx, (member_id, referred_by), referrer_balance, p.id, pay).await?;
    Ok((bonus, after))
}

/// The plain way: the member's tier, the move's record, then its notice.
pub(crate) async fn record_tier_move(
    tx: &mut impl Tx,
    change: &TierChange,
    notice: &Notice,
) -> Result<()> {
    tx.exec(
        "UPDATE members SET tier = $1, tier_since = $2 WHERE id = $3",
        args![change.to.as_str(), change.at, change.member_id],
    )
    .await?;
    tx.exec(TIER_MOVE, &tier_move_values(change)).await?;
    super::outbox::notify(tx, change.member_id, notice, change.at).await
}

/// Records a move between tiers ($1 member, $2 from, $3 to, $4 spend, $5
/// reason, $6 when).
pub(crate) const TIER_MOVE: &str = "INSERT INTO tier_changes (member_id, from_tier, to_tier, \
    spend_minor, reason, created_at) VALUES ($1, $2, $3, $4, $5, $6)";

pub(crate) fn tier_move_values(change: &TierChange) -> Vec<Value<'_>> {
    vec![
        Value::from(change.member_id),
        Value::from(&change.from),
        Value::from(&change.to),
        Value::from(change.spend_minor),
        Value::from(&change.reason),
        Value::from(change.at),
    ]
}

async fn move_tier<T: Steps>(tx: &mut T, change: &TierChange) -> Result<()> {
    let notice = Notice::TierChanged {
        from: change.from.clone(),
        to: change.to.clone(),
        up: change.reason != "review",
    };
    tx.move_tier(change, &notice).await
}

/// Moves a member up if `spend` reaches a higher tier than `current`.
pub(crate) async fn upgrade<T: Steps>(
    tx: &mut T,
    member_id: i64,
    (current, spend): (Option<String>, i64),
    tiers: &Tiers,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    if let Some(change) = move_up(tiers, member_id, current, spend, reason, now) {
        move_tier(tx, &change).await?;
    }
    Ok(())
}

/// A member's tier key (`None`: the lowest) and rolling spend.
pub(crate) async fn tier_standing(
    tx: &mut impl Tx,
    member_id: i64,
    currency: &str,
    now: DateTime<Utc>,
) -> Result<(Option<String>, i64)> {
    let sql = format!(
        "SELECT tier, {} FROM members WHERE id = $1",
        rolling_spend("$1", "$2", "$3")
    );
    tx.one(
        &sql,
        args![member_id, window_start(now), currency],
        "member",
    )
    .await
}

/// Members above the lowest tier, whom a review may move down.
pub(crate) async fn tier_holders(tx: &mut impl Tx, tiers: &Tiers) -> Result<Vec<i64>> {
    let ids: Vec<(i64,)> = tx
        .all(
            "SELECT id FROM members WHERE tier IS NOT NULL AND tier <> $1 \
             AND tier_since IS NOT NULL ORDER BY id",
            args![tiers.lowest().key.as_str()],
        )
        .await?;
    Ok(ids.into_iter().map(|(id,)| id).collect())
}

/// Reviews one member under their lock: a purchase moving them up at the same
/// moment is never undone by a stale review. The move made, if any.
pub(crate) async fn review_member<T: Steps>(
    tx: &mut T,
    member_id: i64,
    tiers: &Tiers,
    currency: &str,
    now: DateTime<Utc>,
) -> Result<Option<TierChange>> {
    lock_member(tx, member_id).await?;
    let (key, since): (Option<String>, Option<DateTime<Utc>>) = tx
        .one(
            "SELECT tier, tier_since FROM members WHERE id = $1",
            args![member_id],
            "member",
        )
        .await?;
    let (Some(key), Some(since)) = (key, since) else {
        return Ok(None);
    };
    let spend = spend(tx, member_id, currency, now).await?;
    let change = move_down(tiers, member_id, key, since, spend, now);
    if let Some(change) = &change {
        move_tier(tx, change).await?;
    }
    Ok(change)
}

pub(crate) async fn tier_changes(tx: &mut impl Tx, member_id: i64) -> Result<Vec<TierChange>> {
    tx.all(
        &format!("{TIER_CHANGE_COLUMNS} WHERE member_id = $1 ORDER BY id DESC"),
        args![member_id],
    )
    .await
}

pub(crate) async fn tiers(tx: &mut impl Tx) -> Result<Tiers> {
    tiers_from_rows(
        tx.all(&format!("{TIER_COLUMNS} ORDER BY threshold_minor"), &[])
            .await?,
    )
}

pub(crate) async fn set_tiers(tx: &mut impl Tx, tiers: &Tiers) -> Result<()> {
    tx.exec("DELETE FROM tiers", &[]).await?;
    for t in tiers.all() {
        tx.exec(
            "INSERT INTO tiers (key, name_th, name_en, threshold_minor, multiplier_percent) \
             VALUES ($1, $2, $3, $4, $5)",
            args![
                &t.key,
                &t.name_th,
                &t.name_en,
                t.threshold_minor,
                i64::from(t.multiplier_percent)
            ],
        )
        .await?;
    }
    Ok(())
}

pub(crate) async fn add_campaign(
    tx: &mut impl Tx,
    c: &Campaign,
    now: DateTime<Utc>,
) -> Result<Campaign> {
    let cols = CampaignColumns::of(c);
    let audience = (!c.audience.is_everyone())
        .then(|| serde_json::to_string(&c.audience).expect("serializable"));
    let id = tx
        .insert(
            "INSERT INTO campaigns (name_th, name_en, text_th, text_en, kind, percent, points, \
             stacks, item_sku, item_category, starts_at, ends_at, days, hour_from, hour_to, \
             merchants, tiers, min_spend_minor, budget, member_cap, created_at, holdout_bp, \
             holdout_salt, audience) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
             $17, $18, $19, $20, $21, $22, $23, $24)",
            args![
                &c.name_th,
                &c.name_en,
                &c.text_th,
                &c.text_en,
                cols.kind,
                cols.percent,
                cols.points,
                cols.stacks,
                &cols.item_sku,
                &cols.item_category,
                c.window.starts_at,
                c.window.ends_at,
                cols.days,
                cols.hour_from,
                cols.hour_to,
                &cols.merchants,
                &cols.tiers,
                c.min_spend_minor,
                c.budget,
                c.member_cap,
                now,
                c.holdout_bp,
                c.holdout_salt,
                &audience,
            ],
        )
        .await?;
    campaign(tx, id).await
}

pub(crate) async fn campaign(tx: &mut impl Tx, id: i64) -> Result<Campaign> {
    tx.one::<CampaignRow>(
        &format!("{CAMPAIGN_COLUMNS} WHERE id = $1"),
        args![id],
        "campaign",
    )
    .await?
    .try_into()
}

/// Every campaign, newest first.
pub(crate) async fn campaigns(tx: &mut impl Tx) -> Result<Vec<Campaign>> {
    let rows: Vec<CampaignRow> = tx
        .all(&format!("{CAMPAIGN_COLUMNS} ORDER BY id DESC"), &[])
        .await?;
    rows.into_iter().map(Campaign::try_from).collect()
}

pub(crate) async fn end_campaign<T: Tx>(
    tx: &mut T,
    id: i64,
    now: DateTime<Utc>,
) -> Result<Campaign> {
    // A campaign that has not started yet ends before it starts: it never runs.
    let sql = T::pick(
        "UPDATE campaigns SET ended_early_at = $1, starts_at = MIN(starts_at, $1), \
         ends_at = $1 WHERE id = $2 AND ends_at > $1",
        "UPDATE campaigns SET ended_early_at = $1, starts_at = LEAST(starts_at, $1), \
         ends_at = $1 WHERE id = $2 AND ends_at > $1",
    );
    tx.exec(sql, args![now, id]).await?;
    campaign(tx, id).await
}

/// What a campaign gave, on purchases anywhere or at one shop.
pub(crate) async fn campaign_results(
    tx: &mut impl Tx,
    id: i64,
    merchant_id: Option<&str>,
) -> Result<CampaignResults> {
    campaign(tx, id).await?;
    let (points, purchases, members, sales_minor) = tx
        .one(
            "SELECT CAST(COALESCE(SUM(a.points), 0) AS BIGINT), COUNT(*), \
             COUNT(DISTINCT a.member_id), CAST(COALESCE(SUM(p.amount_minor), 0) AS BIGINT) \
             FROM campaign_awards a JOIN purchases p ON p.id = a.purchase_id \
             WHERE a.campaign_id = $1 AND ($2 IS NULL OR p.merchant_id = $2)",
            args![id, merchant_id],
            "campaign",
        )
        .await?;
    Ok(CampaignResults {
        points,
        purchases,
        members,
        sales_minor,
    })
}
