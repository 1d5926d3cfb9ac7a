//! Campaigns and the earning rules engine.
//!
//! A purchase earns, in this order (the order of the lines of its breakdown):
//!
//! 1. **base**: the merchant's earn rate on the amount, rounded down;
//! 2. **tier**: the member's tier multiplier on the base points (×1.5 adds half);
//! 3. **multiplier** campaigns: only the *best* one that applies counts, on the
//!    base points, so a ×2 and a ×3 weekend give ×3, never ×6 (multipliers do
//!    not compound);
//! 4. **stacking multiplier** campaigns (created with `stacks`): each multiplies
//!    the subtotal of steps 1-3, so a stacking ×2 doubles everything above;
//!    several stacking campaigns each work on that same subtotal;
//! 5. **fixed bonus**, **item** (SKU or category) and **first purchase**
//!    campaigns, each added once;
//! 6. **referral**: the referred member's bonus on their first qualifying purchase.
//!
//! Each campaign's points are capped by what is left of its budget and of the
//! member's per-member cap, so a campaign stops exactly at its budget. Rounding
//! is always down. Campaigns are considered in id order, so the result does not
//! depend on the order they are handed in, and ties go to the older campaign.

use chrono::{DateTime, Datelike, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use serde::Serialize;
use utoipa::ToSchema;

use super::earn::{Breakdown, EarnRate, RuleHit, percent_of};
use super::money::Money;
use super::points::Points;
use super::tier::Tier;

/// What a campaign gives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Rule {
    /// Base points × `percent` / 100 (200 is double points).
    Multiplier {
        /// Multiplier in percent (200 = ×2)
        percent: u32,
        /// A multiplier on everything earned before it instead of base points
        stacks: bool,
    },
    /// A fixed bonus on every qualifying purchase.
    Bonus { points: i64 },
    /// Items matching a SKU or category earn extra: `percent` multiplies the base
    /// points of their amount, or `points_per_unit` is given per unit bought.
    Items {
        #[serde(rename = "match")]
        #[schema(inline)]
        matcher: ItemMatch,
        /// Multiplier in percent (200 = ×2)
        percent: Option<u32>,
        points_per_unit: Option<i64>,
    },
    /// A fixed bonus on a member's first purchase in the program.
    FirstPurchase { points: i64 },
}

/// `{"sku": ...}` or `{"category": ...}`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ItemMatch {
    Sku(String),
    Category(String),
}

impl ItemMatch {
    fn matches(&self, item: &Item) -> bool {
        match self {
            ItemMatch::Sku(s) => item.sku.eq_ignore_ascii_case(s),
            ItemMatch::Category(c) => item
                .category
                .as_deref()
                .is_some_and(|ic| ic.eq_ignore_ascii_case(c)),
        }
    }
}

/// When a campaign runs: between two instants and, optionally, only on some
/// days of the week and some hours of the day, in the program's time zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Window {
    pub starts_at: DateTime<Utc>,
    /// Exclusive: a campaign ending at local midnight gives nothing at 00:00.
    pub ends_at: DateTime<Utc>,
    /// Days it runs (`Mon` to `Sun`); empty means every day.
    #[schema(value_type = Vec<String>)]
    pub days: Vec<Weekday>,
    /// Local hours `[from, to)` it runs, e.g. `[17, 20]` for 17:00-19:59.
    #[schema(value_type = Option<Vec<u32>>, min_items = 2, max_items = 2)]
    pub hours: Option<(u32, u32)>,
}

impl Window {
    pub fn contains(&self, at: DateTime<Utc>, tz: Tz) -> bool {
        if at < self.starts_at || at >= self.ends_at {
            return false;
        }
        let local = at.with_timezone(&tz);
        if !self.days.is_empty() && !self.days.contains(&local.weekday()) {
            return false;
        }
        self.hours
            .is_none_or(|(from, to)| (from..to).contains(&local.hour()))
    }
}

/// Parses `sat,sun` or `mon-fri` into weekdays.
pub fn parse_days(input: &str) -> Option<Vec<Weekday>> {
    let mut days = Vec::new();
    for part in input.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if let Some((a, b)) = part.split_once('-') {
            let (a, b) = (
                a.trim().parse::<Weekday>().ok()?,
                b.trim().parse::<Weekday>().ok()?,
            );
            let mut d = a;
            loop {
                days.push(d);
                if d == b {
                    break;
                }
                d = d.succ();
            }
        } else {
            days.push(part.parse::<Weekday>().ok()?);
        }
    }
    days.sort_by_key(|d| d.num_days_from_monday());
    days.dedup();
    (!days.is_empty()).then_some(days)
}

/// Days as a bit set (Monday is bit 0), for storage.
pub fn days_to_bits(days: &[Weekday]) -> i64 {
    days.iter()
        .fold(0, |b, d| b | (1 << d.num_days_from_monday()))
}

pub fn days_from_bits(bits: i64) -> Vec<Weekday> {
    (0..7)
        .filter(|i| bits & (1 << i) != 0)
        .map(|i| Weekday::try_from(i as u8).expect("0..7"))
        .collect()
}

/// Parses `17-20` into local hours `[17, 20)`.
pub fn parse_hours(input: &str) -> Option<(u32, u32)> {
    let (a, b) = input.split_once('-')?;
    let (a, b): (u32, u32) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a < b && b <= 24).then_some((a, b))
}

/// A campaign as configured, with what it has given so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = CampaignSettings)]
pub struct Campaign {
    pub id: i64,
    pub name_th: String,
    pub name_en: String,
    /// The announcement pushed to members.
    pub text_th: String,
    pub text_en: String,
    #[serde(flatten)]
    #[schema(inline)]
    pub rule: Rule,
    #[schema(inline)]
    pub window: Window,
    /// Merchants it applies at; empty means all.
    pub merchants: Vec<String>,
    /// Tier keys it applies to; empty means everyone (and purchases without a member).
    pub tiers: Vec<String>,
    /// Smallest purchase amount that qualifies, in minor units of the purchase's currency.
    pub min_spend_minor: Option<i64>,
    /// Total bonus points it may give; unlimited when null.
    pub budget: Option<i64>,
    /// Bonus points one member may get from it; unlimited when null.
    pub member_cap: Option<i64>,
    /// Bonus points given so far.
    pub awarded: i64,
    pub ended_early_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// The share of members held out to measure its lift, in basis points (0:
    /// none): they get neither its bonus nor its announcement.
    pub holdout_bp: i64,
    /// Fixed at creation: with a member's id, decides whether they are held out.
    #[serde(skip)]
    #[schema(ignore)]
    pub holdout_salt: i64,
    /// Who it is for (absent: everyone): its bonus applies only to their
    /// purchases, its announcement reaches only them.
    #[serde(
        default,
        skip_serializing_if = "super::audience::Audience::is_everyone"
    )]
    pub audience: super::audience::Audience,
}

impl Campaign {
    pub fn name(&self, thai: bool) -> &str {
        if thai { &self.name_th } else { &self.name_en }
    }

    pub fn text(&self, thai: bool) -> &str {
        if thai { &self.text_th } else { &self.text_en }
    }

    /// Whether the member is in its holdout group (decided by their id and the
    /// campaign's salt alone, so always the same answer).
    pub fn holds_out(&self, member_id: i64) -> bool {
        self.holdout_bp > 0 && holdout_slot(self.holdout_salt, member_id) < self.holdout_bp
    }

    /// Whether its points depend on who the member is: such campaigns give
    /// nothing to a purchase recorded without a member.
    pub fn needs_member(&self) -> bool {
        !self.tiers.is_empty()
            || self.member_cap.is_some()
            || matches!(self.rule, Rule::FirstPurchase { .. })
    }

    /// Whether it is running at `at` (its window, before any early end).
    pub fn running(&self, at: DateTime<Utc>, tz: Tz) -> bool {
        self.window.contains(at, tz)
    }

    pub fn budget_left(&self) -> Option<i64> {
        self.budget.map(|b| (b - self.awarded).max(0))
    }
}

/// One line of a purchase, as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub sku: String,
    pub category: Option<String>,
    pub quantity: i64,
    /// The line's total, in minor units.
    pub amount_minor: i64,
}

/// The purchase being priced.
#[derive(Debug, Clone)]
pub struct PurchaseFacts<'a> {
    pub merchant_id: &'a str,
    pub amount: Money,
    pub items: &'a [Item],
    pub occurred_at: DateTime<Utc>,
    pub rate: EarnRate,
    pub tz: Tz,
}

/// The member a purchase belongs to, as the rules see them.
#[derive(Debug, Clone)]
pub struct MemberFacts {
    pub member_id: i64,
    pub tier: Tier,
    /// No purchase of theirs was recorded before this one.
    pub first_purchase: bool,
    /// The referred member's bonus, when this purchase pays their referral.
    pub referral_bonus: Option<Points>,
}

/// A campaign offered to one purchase, with what it may still give.
#[derive(Debug, Clone)]
pub struct Offer<'a> {
    pub campaign: &'a Campaign,
    /// Points this member may still get from it (`None`: no per-member cap).
    pub member_left: Option<i64>,
}

/// What a purchase earns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Earning {
    pub breakdown: Breakdown,
    /// Points each campaign gave (only those that gave something), for budgets.
    pub awards: Vec<(i64, Points)>,
    /// The referred member's bonus included in the breakdown.
    pub referral: Points,
}

/// Prices a purchase under the rules described in the module documentation.
pub fn evaluate(
    purchase: &PurchaseFacts<'_>,
    member: Option<&MemberFacts>,
    offers: &[Offer<'_>],
) -> Earning {
    let base = purchase.rate.points_for(purchase.amount);
    let mut lines = vec![RuleHit::new("base", base)];
    if let Some(m) = member {
        let bonus = m.tier.bonus(base);
        if bonus.value() > 0 {
            lines.push(RuleHit {
                name: Some(m.tier.key.clone()),
                ..RuleHit::new("tier", bonus)
            });
        }
    }
    let mut offers: Vec<&Offer<'_>> = offers
        .iter()
        .filter(|o| applies(o.campaign, purchase, member))
        .collect();
    offers.sort_by_key(|o| o.campaign.id);
    let cap = |o: &Offer<'_>, raw: Points| {
        let mut p = raw.value().max(0);
        if let Some(left) = o.campaign.budget_left() {
            p = p.min(left);
        }
        if let Some(left) = o.member_left {
            p = p.min(left.max(0));
        }
        Points::new(p)
    };
    let mut awards: Vec<(&Campaign, Points)> = Vec::new();

    // 3. The best ordinary multiplier, on base points (ties: the older campaign).
    let best = offers
        .iter()
        .filter_map(|o| match o.campaign.rule {
            Rule::Multiplier {
                percent,
                stacks: false,
            } => Some((
                o.campaign,
                cap(o, percent_of(base, percent.saturating_sub(100))),
            )),
            _ => None,
        })
        .filter(|(_, p)| p.value() > 0)
        .fold(None::<(&Campaign, Points)>, |best, (c, p)| match best {
            Some((_, bp)) if bp >= p => best,
            _ => Some((c, p)),
        });
    awards.extend(best);

    // 4. Stacking multipliers, each on the subtotal so far.
    let subtotal: Points =
        lines.iter().map(|l| l.points).sum::<Points>() + best.map_or(Points::ZERO, |(_, p)| p);
    for o in &offers {
        if let Rule::Multiplier {
            percent,
            stacks: true,
        } = o.campaign.rule
        {
            awards.push((
                o.campaign,
                cap(o, percent_of(subtotal, percent.saturating_sub(100))),
            ));
        }
    }

    // 5. Fixed, item and first-purchase bonuses.
    for o in &offers {
        let raw = match &o.campaign.rule {
            Rule::Multiplier { .. } => continue,
            Rule::Bonus { points } => Points::new(*points),
            Rule::FirstPurchase { points } => Points::new(*points),
            Rule::Items {
                matcher,
                percent,
                points_per_unit,
            } => {
                let hits = purchase.items.iter().filter(|i| matcher.matches(i));
                let (minor, units) = hits.fold((0i64, 0i64), |(m, u), i| {
                    (
                        m.saturating_add(i.amount_minor),
                        u.saturating_add(i.quantity),
                    )
                });
                let by_percent = percent.map_or(Points::ZERO, |pct| {
                    let item_base = purchase
                        .rate
                        .points_for(Money::from_minor(minor, purchase.amount.currency()));
                    percent_of(item_base, pct.saturating_sub(100))
                });
                by_percent + Points::new(points_per_unit.unwrap_or(0).saturating_mul(units))
            }
        };
        awards.push((o.campaign, cap(o, raw)));
    }

    awards.retain(|(_, p)| p.value() > 0);
    for (c, p) in &awards {
        lines.push(RuleHit {
            campaign_id: Some(c.id),
            name: Some(c.name_en.clone()),
            ..RuleHit::new("campaign", *p)
        });
    }
    let referral = member
        .and_then(|m| m.referral_bonus)
        .filter(|p| p.value() > 0)
        .unwrap_or(Points::ZERO);
    if referral.value() > 0 {
        lines.push(RuleHit::new("referral", referral));
    }
    Earning {
        breakdown: Breakdown(lines),
        awards: awards.into_iter().map(|(c, p)| (c.id, p)).collect(),
        referral,
    }
}

/// Whether a campaign's conditions hold for a purchase (not its budget).
/// A member's place (0 to 9,999) for a campaign's holdout: a SplitMix64 mix
/// of the salt and their id, evenly spread and fixed.
pub fn holdout_slot(salt: i64, member_id: i64) -> i64 {
    let mut z = (salt as u64) ^ (member_id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z % 10_000) as i64
}

fn applies(c: &Campaign, purchase: &PurchaseFacts<'_>, member: Option<&MemberFacts>) -> bool {
    if !c.running(purchase.occurred_at, purchase.tz) {
        return false;
    }
    if member.is_some_and(|m| c.holds_out(m.member_id)) {
        return false;
    }
    if !c.merchants.is_empty() && !c.merchants.iter().any(|m| m == purchase.merchant_id) {
        return false;
    }
    if c.min_spend_minor
        .is_some_and(|min| purchase.amount.minor() < min)
    {
        return false;
    }
    if c.needs_member() {
        let Some(m) = member else { return false };
        if !c.tiers.is_empty() && !c.tiers.contains(&m.tier.key) {
            return false;
        }
        if matches!(c.rule, Rule::FirstPurchase { .. }) && !m.first_purchase {
            return false;
        }
    }
    true
}

/// A campaign's lift, measured against its holdout group over its window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Lift {
    /// Members in each group (those who had joined by the window's end)
    pub target_members: i64,
    pub holdout_members: i64,
    /// Sales in the window (minor units, net of refunds) and members who bought
    pub target_sales_minor: i64,
    pub holdout_sales_minor: i64,
    pub target_buyers: i64,
    pub holdout_buyers: i64,
    /// Spend per member (minor units, rounded down) and purchase rate (basis
    /// points of members who bought) in each group
    pub target_spend_per_member: i64,
    pub holdout_spend_per_member: i64,
    pub target_purchase_rate_bp: i64,
    pub holdout_purchase_rate_bp: i64,
    /// (target's spend per member − holdout's) × target members (minor units)
    pub incremental_sales_minor: i64,
    /// (incremental sales × margin − cost) ÷ cost, in basis points, when the
    /// margin is set and the campaign cost anything
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roi_bp: Option<i64>,
}

/// A campaign's lift: `members` who had joined by its end, `spend` per member
/// who bought in its window (member, sales in minor units), `cost` of its
/// points (minor units) and the gross margin (basis points). `None` without a
/// holdout group, or when either group is empty.
pub fn lift(
    c: &Campaign,
    members: &[i64],
    spend: &[(i64, i64)],
    (cost_minor, margin_bp): (i64, Option<i64>),
) -> Option<Lift> {
    if c.holdout_bp == 0 {
        return None;
    }
    let (mut tn, mut hn) = (0i64, 0i64);
    for m in members {
        if c.holds_out(*m) {
            hn += 1;
        } else {
            tn += 1;
        }
    }
    if tn == 0 || hn == 0 {
        return None;
    }
    let (mut ts, mut hs, mut tb, mut hb) = (0i64, 0i64, 0i64, 0i64);
    for (m, sales) in spend {
        if c.holds_out(*m) {
            hs += sales;
            hb += 1;
        } else {
            ts += sales;
            tb += 1;
        }
    }
    let incremental = i128::from(ts) - i128::from(hs) * i128::from(tn) / i128::from(hn);
    let incremental = i64::try_from(incremental).unwrap_or(0);
    let roi_bp = match margin_bp {
        Some(margin) if cost_minor > 0 => {
            let gain = i128::from(incremental) * i128::from(margin) / 10_000;
            i64::try_from((gain - i128::from(cost_minor)) * 10_000 / i128::from(cost_minor)).ok()
        }
        _ => None,
    };
    Some(Lift {
        target_members: tn,
        holdout_members: hn,
        target_sales_minor: ts,
        holdout_sales_minor: hs,
        target_buyers: tb,
        holdout_buyers: hb,
        target_spend_per_member: ts / tn,
        holdout_spend_per_member: hs / hn,
        target_purchase_rate_bp: tb * 10_000 / tn,
        holdout_purchase_rate_bp: hb * 10_000 / hn,
        incremental_sales_minor: incremental,
        roi_bp,
    })
}

#[cfg(test)]
mod tests;
