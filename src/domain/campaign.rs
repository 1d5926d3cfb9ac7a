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

use super::earn::{Breakdown, EarnRate, RuleHit, percent_of};
use super::money::Money;
use super::points::Points;
use super::tier::Tier;

/// What a campaign gives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Rule {
    /// Base points × `percent` / 100 (200 is double points).
    Multiplier { percent: u32, stacks: bool },
    /// A fixed bonus on every qualifying purchase.
    Bonus { points: i64 },
    /// Items matching a SKU or category earn extra: `percent` multiplies the base
    /// points of their amount, or `points_per_unit` is given per unit bought.
    Items {
        #[serde(rename = "match")]
        matcher: ItemMatch,
        percent: Option<u32>,
        points_per_unit: Option<i64>,
    },
    /// A fixed bonus on a member's first purchase in the program.
    FirstPurchase { points: i64 },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Window {
    pub starts_at: DateTime<Utc>,
    /// Exclusive: a campaign ending at local midnight gives nothing at 00:00.
    pub ends_at: DateTime<Utc>,
    /// Days it runs; empty means every day.
    pub days: Vec<Weekday>,
    /// Local hours `[from, to)` it runs, e.g. (17, 20) for 17:00-19:59.
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Campaign {
    pub id: i64,
    pub name_th: String,
    pub name_en: String,
    /// The announcement pushed to members (issue: broadcasts).
    pub text_th: String,
    pub text_en: String,
    #[serde(flatten)]
    pub rule: Rule,
    pub window: Window,
    /// Merchants it applies at; empty means all.
    pub merchants: Vec<String>,
    /// Tier keys it applies to; empty means everyone (and purchases without a member).
    pub tiers: Vec<String>,
    /// Smallest purchase amount that qualifies, in minor units of the purchase's currency.
    pub min_spend_minor: Option<i64>,
    /// Total bonus points it may give; `None` is unlimited.
    pub budget: Option<i64>,
    /// Bonus points one member may get from it; `None` is unlimited.
    pub member_cap: Option<i64>,
    /// Bonus points given so far.
    pub awarded: i64,
    pub ended_early_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl Campaign {
    pub fn name(&self, thai: bool) -> &str {
        if thai { &self.name_th } else { &self.name_en }
    }

    pub fn text(&self, thai: bool) -> &str {
        if thai { &self.text_th } else { &self.text_en }
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
fn applies(c: &Campaign, purchase: &PurchaseFacts<'_>, member: Option<&MemberFacts>) -> bool {
    if !c.running(purchase.occurred_at, purchase.tz) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::money::Currency;
    use crate::domain::tier::Tiers;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn tz() -> Tz {
        "Asia/Bangkok".parse().unwrap()
    }

    /// Saturday 28 Nov 2026, 14:00 in Bangkok.
    fn saturday() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, 7, 0, 0).unwrap()
    }

    fn campaign(id: i64, rule: Rule) -> Campaign {
        Campaign {
            id,
            name_th: format!("แคมเปญ {id}"),
            name_en: format!("Campaign {id}"),
            text_th: String::new(),
            text_en: String::new(),
            rule,
            window: Window {
                starts_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
                ends_at: Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap(),
                days: vec![],
                hours: None,
            },
            merchants: vec![],
            tiers: vec![],
            min_spend_minor: None,
            budget: None,
            member_cap: None,
            awarded: 0,
            ended_early_at: None,
            created_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        }
    }

    fn mult(id: i64, percent: u32) -> Campaign {
        campaign(
            id,
            Rule::Multiplier {
                percent,
                stacks: false,
            },
        )
    }

    fn member(tier: &str) -> MemberFacts {
        MemberFacts {
            tier: Tiers::standard(Currency::THB).get(Some(tier)).clone(),
            first_purchase: false,
            referral_bonus: None,
        }
    }

    /// 1,000 THB at 1 point per 25 THB: 40 base points.
    fn price(items: &[Item], member: Option<&MemberFacts>, campaigns: &[Campaign]) -> Earning {
        let offers: Vec<Offer<'_>> = campaigns
            .iter()
            .map(|c| Offer {
                campaign: c,
                member_left: c.member_cap,
            })
            .collect();
        evaluate(
            &PurchaseFacts {
                merchant_id: "shop",
                amount: Money::from_minor(100_000, Currency::THB),
                items,
                occurred_at: saturday(),
                rate: EarnRate::default_for(Currency::THB),
                tz: tz(),
            },
            member,
            &offers,
        )
    }

    fn lines(e: &Earning) -> Vec<(String, i64)> {
        e.breakdown
            .0
            .iter()
            .map(|l| (l.name.clone().unwrap_or(l.rule.clone()), l.points.value()))
            .collect()
    }

    fn l(name: &str, points: i64) -> (String, i64) {
        (name.to_string(), points)
    }

    #[test]
    fn base_points_alone_without_campaigns() {
        let e = price(&[], None, &[]);
        assert_eq!(lines(&e), vec![l("base", 40)]);
        assert!(e.awards.is_empty());
    }

    #[test]
    fn a_multiplier_doubles_base_points() {
        let e = price(&[], None, &[mult(1, 200)]);
        assert_eq!(lines(&e), vec![l("base", 40), l("Campaign 1", 40)]);
        assert_eq!(e.awards, vec![(1, Points::new(40))]);
    }

    #[test]
    fn only_the_best_ordinary_multiplier_counts() {
        let e = price(&[], None, &[mult(1, 200), mult(2, 300), mult(3, 150)]);
        assert_eq!(lines(&e), vec![l("base", 40), l("Campaign 2", 80)]);
    }

    #[test]
    fn equal_multipliers_go_to_the_older_campaign() {
        let e = price(&[], None, &[mult(7, 200), mult(3, 200)]);
        assert_eq!(e.awards, vec![(3, Points::new(40))]);
    }

    #[test]
    fn stacking_multipliers_multiply_the_subtotal() {
        let stacking = campaign(
            5,
            Rule::Multiplier {
                percent: 200,
                stacks: true,
            },
        );
        let gold = member("gold");
        let e = price(&[], Some(&gold), &[mult(1, 200), stacking]);
        // 40 base + 20 gold + 40 (×2) = 100, doubled by the stacking campaign.
        assert_eq!(
            lines(&e),
            vec![
                l("base", 40),
                l("gold", 20),
                l("Campaign 1", 40),
                l("Campaign 5", 100)
            ]
        );
        assert_eq!(e.breakdown.total(), Points::new(200));
    }

    #[test]
    fn fixed_and_first_purchase_bonuses_add_up() {
        let mut first = member("member");
        first.first_purchase = true;
        let cs = [
            campaign(1, Rule::Bonus { points: 15 }),
            campaign(2, Rule::FirstPurchase { points: 100 }),
        ];
        let e = price(&[], Some(&first), &cs);
        assert_eq!(
            lines(&e),
            vec![l("base", 40), l("Campaign 1", 15), l("Campaign 2", 100)]
        );
        let again = member("member");
        assert_eq!(
            price(&[], Some(&again), &cs).breakdown.total(),
            Points::new(55)
        );
        // Without a member, nobody's first purchase is known.
        assert_eq!(price(&[], None, &cs).breakdown.total(), Points::new(55));
    }

    #[test]
    fn item_campaigns_match_sku_or_category() {
        let items = [
            Item {
                sku: "LATTE-L".into(),
                category: Some("coffee".into()),
                quantity: 2,
                amount_minor: 20_000,
            },
            Item {
                sku: "CAKE".into(),
                category: Some("bakery".into()),
                quantity: 1,
                amount_minor: 80_000,
            },
        ];
        let per_unit = campaign(
            1,
            Rule::Items {
                matcher: ItemMatch::Sku("latte-l".into()),
                percent: None,
                points_per_unit: Some(10),
            },
        );
        let triple_bakery = campaign(
            2,
            Rule::Items {
                matcher: ItemMatch::Category("Bakery".into()),
                percent: Some(300),
                points_per_unit: None,
            },
        );
        let nothing = campaign(
            3,
            Rule::Items {
                matcher: ItemMatch::Sku("TEA".into()),
                percent: None,
                points_per_unit: Some(10),
            },
        );
        let e = price(&items, None, &[per_unit, triple_bakery, nothing]);
        // 2 lattes × 10; bakery 800 THB = 32 base points, ×3 adds 64.
        assert_eq!(
            lines(&e),
            vec![l("base", 40), l("Campaign 1", 20), l("Campaign 2", 64)]
        );
    }

    #[test]
    fn windows_use_local_days_and_hours() {
        let mut weekend = mult(1, 200);
        weekend.window.days = parse_days("sat,sun").unwrap();
        assert_eq!(
            price(&[], None, &[weekend.clone()]).breakdown.total(),
            Points::new(80)
        );
        weekend.window.days = parse_days("mon-fri").unwrap();
        assert_eq!(
            price(&[], None, &[weekend.clone()]).breakdown.total(),
            Points::new(40)
        );
        weekend.window.days = vec![];
        weekend.window.hours = parse_hours("14-15");
        assert_eq!(
            price(&[], None, &[weekend.clone()]).breakdown.total(),
            Points::new(80)
        );
        weekend.window.hours = parse_hours("15-24");
        assert_eq!(
            price(&[], None, &[weekend]).breakdown.total(),
            Points::new(40)
        );
    }

    #[test]
    fn scopes_merchant_tier_and_minimum_spend() {
        let mut c = campaign(1, Rule::Bonus { points: 10 });
        c.merchants = vec!["other".into()];
        assert!(price(&[], None, &[c.clone()]).awards.is_empty());
        c.merchants = vec!["other".into(), "shop".into()];
        assert_eq!(price(&[], None, &[c.clone()]).awards.len(), 1);
        c.min_spend_minor = Some(100_001);
        assert!(price(&[], None, &[c.clone()]).awards.is_empty());
        c.min_spend_minor = Some(100_000);
        c.tiers = vec!["gold".into(), "vip".into()];
        assert!(price(&[], None, &[c.clone()]).awards.is_empty());
        assert!(
            price(&[], Some(&member("silver")), &[c.clone()])
                .awards
                .is_empty()
        );
        assert_eq!(price(&[], Some(&member("vip")), &[c]).awards.len(), 1);
    }

    #[test]
    fn budgets_and_member_caps_cut_a_campaign_exactly() {
        let mut c = mult(1, 300);
        c.budget = Some(1_000);
        c.awarded = 950;
        assert_eq!(
            price(&[], None, &[c.clone()]).awards,
            vec![(1, Points::new(50))]
        );
        c.awarded = 1_000;
        assert!(price(&[], None, &[c.clone()]).awards.is_empty());
        c.budget = None;
        c.member_cap = Some(30);
        assert!(
            price(&[], None, &[c.clone()]).awards.is_empty(),
            "capped needs a member"
        );
        let m = member("member");
        assert_eq!(
            price(&[], Some(&m), &[c]).awards,
            vec![(1, Points::new(30))]
        );
    }

    #[test]
    fn a_spent_multiplier_leaves_the_next_best_to_apply() {
        let mut spent = mult(1, 300);
        spent.budget = Some(10);
        spent.awarded = 10;
        let e = price(&[], None, &[spent, mult(2, 200)]);
        assert_eq!(e.awards, vec![(2, Points::new(40))]);
    }

    #[test]
    fn the_referral_bonus_is_its_own_line() {
        let mut m = member("member");
        m.referral_bonus = Some(Points::new(50));
        let e = price(&[], Some(&m), &[]);
        assert_eq!(lines(&e), vec![l("base", 40), l("referral", 50)]);
        assert_eq!(e.referral, Points::new(50));
    }

    #[test]
    fn days_and_hours_parse() {
        use Weekday::*;
        assert_eq!(parse_days("sat,sun"), Some(vec![Sat, Sun]));
        assert_eq!(parse_days("fri-mon"), Some(vec![Mon, Fri, Sat, Sun]));
        assert_eq!(days_from_bits(days_to_bits(&[Tue, Sun])), vec![Tue, Sun]);
        assert_eq!(parse_days("funday"), None);
        assert_eq!(parse_hours("17-20"), Some((17, 20)));
        assert_eq!(parse_hours("20-17"), None);
        assert_eq!(parse_hours("0-25"), None);
    }

    fn any_rule() -> impl Strategy<Value = Rule> {
        prop_oneof![
            (100u32..500, any::<bool>())
                .prop_map(|(percent, stacks)| Rule::Multiplier { percent, stacks }),
            (0i64..500).prop_map(|points| Rule::Bonus { points }),
            (0i64..500).prop_map(|points| Rule::FirstPurchase { points }),
            (prop::option::of(100u32..400), prop::option::of(0i64..50)).prop_map(
                |(percent, points_per_unit)| Rule::Items {
                    matcher: ItemMatch::Category("coffee".into()),
                    percent,
                    points_per_unit,
                }
            ),
        ]
    }

    fn any_campaigns() -> impl Strategy<Value = Vec<Campaign>> {
        prop::collection::vec(
            (
                any_rule(),
                prop::option::of(0i64..200),
                0i64..300,
                prop::option::of(0i64..100),
            ),
            0..8,
        )
        .prop_map(|specs| {
            specs
                .into_iter()
                .enumerate()
                .map(|(i, (rule, budget, awarded, cap))| {
                    let mut c = campaign(i as i64 + 1, rule);
                    c.budget = budget;
                    c.awarded = budget.map_or(0, |b| awarded.min(b));
                    c.member_cap = cap;
                    c
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn points_are_never_negative_and_budgets_never_exceeded(
            campaigns in any_campaigns(),
            minor in 1i64..10_000_000,
            with_member in any::<bool>(),
            first in any::<bool>(),
        ) {
            let items = [Item { sku: "X".into(), category: Some("coffee".into()), quantity: 3, amount_minor: minor / 2 }];
            let mut m = member("gold");
            m.first_purchase = first;
            let offers: Vec<Offer<'_>> = campaigns.iter().map(|c| Offer { campaign: c, member_left: c.member_cap }).collect();
            let facts = PurchaseFacts {
                merchant_id: "shop",
                amount: Money::from_minor(minor, Currency::THB),
                items: &items,
                occurred_at: saturday(),
                rate: EarnRate::default_for(Currency::THB),
                tz: tz(),
            };
            let e = evaluate(&facts, with_member.then_some(&m), &offers);
            prop_assert!(e.breakdown.0.iter().all(|l| l.points.value() >= 0));
            for (id, p) in &e.awards {
                let c = campaigns.iter().find(|c| c.id == *id).unwrap();
                prop_assert!(p.value() > 0);
                if let Some(b) = c.budget { prop_assert!(c.awarded + p.value() <= b); }
                if let Some(cap) = c.member_cap { prop_assert!(p.value() <= cap); }
            }
            let campaign_lines: i64 = e.breakdown.0.iter().filter(|l| l.rule == "campaign").map(|l| l.points.value()).sum();
            let awarded: i64 = e.awards.iter().map(|(_, p)| p.value()).sum();
            prop_assert_eq!(campaign_lines, awarded);
        }

        #[test]
        fn the_order_campaigns_arrive_in_does_not_matter(
            campaigns in any_campaigns(),
            seed in any::<u64>(),
            minor in 1i64..10_000_000,
        ) {
            let mut shuffled = campaigns.clone();
            // A deterministic shuffle from the seed.
            let n = shuffled.len();
            for i in (1..n).rev() {
                let j = (seed.rotate_left(i as u32) % (i as u64 + 1)) as usize;
                shuffled.swap(i, j);
            }
            let m = member("silver");
            let run = |cs: &[Campaign]| {
                let offers: Vec<Offer<'_>> = cs.iter().map(|c| Offer { campaign: c, member_left: c.member_cap }).collect();
                evaluate(&PurchaseFacts {
                    merchant_id: "shop",
                    amount: Money::from_minor(minor, Currency::THB),
                    items: &[],
                    occurred_at: saturday(),
                    rate: EarnRate::default_for(Currency::THB),
                    tz: tz(),
                }, Some(&m), &offers)
            };
            prop_assert_eq!(run(&campaigns), run(&shuffled));
        }
    }
}
