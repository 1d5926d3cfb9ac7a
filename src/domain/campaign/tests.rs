//! Table and property tests of the earning rules engine.

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
        holdout_bp: 0,
        holdout_salt: 0,
        audience: Default::default(),
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
        member_id: 1,
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

#[test]
fn a_holdout_takes_its_share_of_members_always_the_same_ones() {
    let mut c = mult(1, 200);
    c.holdout_bp = 1_000;
    c.holdout_salt = 42;
    let held = (1..=10_000).filter(|m| c.holds_out(*m)).count();
    assert!((900..=1_100).contains(&held), "about 10 %: {held}");
    let again = (1..=10_000).filter(|m| c.holds_out(*m)).count();
    assert_eq!(held, again);
    c.holdout_salt = 43;
    let other: Vec<i64> = (1..=50).filter(|m| c.holds_out(*m)).collect();
    c.holdout_salt = 42;
    let first: Vec<i64> = (1..=50).filter(|m| c.holds_out(*m)).collect();
    assert_ne!(first, other, "another campaign holds out other members");
    c.holdout_bp = 0;
    assert!(!(1..=10_000).any(|m| c.holds_out(m)));
}

#[test]
fn a_held_out_member_gets_no_bonus_and_lift_is_target_minus_holdout_spend() {
    let mut c = mult(1, 200);
    c.holdout_bp = 5_000;
    c.holdout_salt = 7;
    let (held, target): (Vec<i64>, Vec<i64>) = (1..=40).partition(|m| c.holds_out(*m));
    let (h, t) = (held[0], target[0]);
    let with = |id| MemberFacts {
        member_id: id,
        ..member("member")
    };
    let earned = |id| lines(&price(&[], Some(&with(id)), std::slice::from_ref(&c)));
    assert_eq!(
        earned(t),
        vec![l("base", 40), l("Campaign 1", 40)],
        "doubled"
    );
    assert_eq!(earned(h), vec![l("base", 40)], "held out: the base only");
    // Two members in each group; the target spent ฿300 each, the holdout ฿200.
    let members = [t, target[1], h, held[1]];
    let spend = [
        (t, 30_000),
        (target[1], 30_000),
        (h, 20_000),
        (held[1], 20_000),
    ];
    let l = lift(&c, &members, &spend, (5_000, Some(4_000))).unwrap();
    assert_eq!((l.target_members, l.holdout_members), (2, 2));
    assert_eq!(l.incremental_sales_minor, 20_000, "(300 − 200) × 2");
    // (฿200 × 40 % − ฿50) ÷ ฿50 = 60 %.
    assert_eq!(l.roi_bp, Some(6_000));
    assert_eq!(lift(&mult(2, 200), &members, &spend, (0, None)), None);
}
