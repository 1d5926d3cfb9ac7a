//! Earning rules. The base rule is per merchant: `points` per `per` amount of money,
//! rounded down (Thai retail commonly gives 1 point per 25 THB). Later rules
//! (campaigns, tiers) add lines to the [`Breakdown`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::money::{Currency, Money};
use super::points::Points;
use super::refusal::Refusal;

/// `points` points for every `per_minor` minor units spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EarnRate {
    pub points: i64,
    pub per_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("earn rate {0:?} must look like POINTS:AMOUNT, e.g. 1:25 for 1 point per 25 THB")]
pub struct EarnRateError(pub String);

impl EarnRate {
    /// The Thai retail default: 1 point per 25 THB.
    pub fn default_for(currency: Currency) -> EarnRate {
        EarnRate {
            points: 1,
            per_minor: 25 * currency.minor_per_major(),
        }
    }

    /// Parses `POINTS:AMOUNT` such as `1:25` or `2:12.50`, where AMOUNT is in the
    /// merchant's currency.
    pub fn parse(input: &str, currency: Currency) -> Result<EarnRate, EarnRateError> {
        let err = || EarnRateError(input.to_string());
        let (p, a) = input.split_once(':').ok_or_else(err)?;
        let points: i64 = p.trim().parse().map_err(|_| err())?;
        if !(1..=1_000_000).contains(&points) {
            return Err(err());
        }
        let per = Money::parse_positive(a.trim(), currency).map_err(|_| err())?;
        Ok(EarnRate {
            points,
            per_minor: per.minor(),
        })
    }

    /// Base points for an amount, rounded down.
    pub fn points_for(&self, amount: Money) -> Points {
        let p = i128::from(amount.minor()) * i128::from(self.points) / i128::from(self.per_minor);
        Points::new(i64::try_from(p).unwrap_or(i64::MAX))
    }

    /// `1:25` style text, with the amount in the currency's decimals trimmed.
    pub fn display(&self, currency: Currency) -> String {
        let amount = Money::from_minor(self.per_minor, currency).to_decimal_string();
        let amount = if amount.contains('.') {
            amount
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_string()
        } else {
            amount
        };
        format!("{}:{}", self.points, amount)
    }
}

/// `percent` % of `points`, rounded down; never negative.
pub fn percent_of(points: Points, percent: u32) -> Points {
    let p = i128::from(points.value().max(0)) * i128::from(percent) / 100;
    Points::new(i64::try_from(p).unwrap_or(i64::MAX))
}

/// A multiplier as people write it (`2`, `1.5`, `1.25`, `x2`) in percent: 200,
/// 150, 125. At most two decimals; between ×1 and ×10.
pub fn parse_multiplier(input: &str) -> Option<u32> {
    let s = input.trim().trim_start_matches(['x', 'X', '×']);
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty()
        || frac.len() > 2
        || !(whole.chars().chain(frac.chars())).all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let whole: u32 = whole.parse().ok()?;
    let frac: u32 = format!("{frac:0<2}").parse().ok()?;
    let pct = whole.checked_mul(100)?.checked_add(frac)?;
    (100..=1000).contains(&pct).then_some(pct)
}

/// A percent multiplier as people write it: 200 is `2`, 150 is `1.5`.
pub fn display_multiplier(percent: u32) -> String {
    let s = format!("{}.{:02}", percent / 100, percent % 100);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// One rule that gave points to a purchase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RuleHit {
    /// `base`, `tier`, `campaign` or `referral`.
    #[schema(schema_with = rule_names)]
    pub rule: String,
    /// For campaign lines
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub campaign_id: Option<i64>,
    /// The campaign's English name, or the tier's key
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, examples("Double weekend"))]
    pub name: Option<String>,
    #[schema(value_type = i64)]
    pub points: Points,
}

/// The values of [`RuleHit::rule`], for the API document.
fn rule_names() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(["base", "tier", "campaign", "referral"]))
        .examples(["campaign"])
        .build()
}

impl RuleHit {
    pub fn new(rule: &str, points: Points) -> RuleHit {
        RuleHit {
            rule: rule.into(),
            campaign_id: None,
            name: None,
            points,
        }
    }
}

/// Every rule that applied to a purchase, in the order applied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Breakdown(pub Vec<RuleHit>);

impl Breakdown {
    pub fn base(points: Points) -> Breakdown {
        Breakdown(vec![RuleHit::new("base", points)])
    }

    pub fn total(&self) -> Points {
        self.0.iter().map(|h| h.points).sum()
    }
}

impl fmt::Display for Breakdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|h| format!("{} {}", h.rule, h.points))
            .collect();
        f.write_str(&parts.join(", "))
    }
}

impl FromStr for Breakdown {
    type Err = serde_json::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        serde_json::from_str(s)
    }
}

/// Points to claw back for one refund, so that refunds are proportional to the
/// refunded amount and their total never exceeds what the purchase earned: the
/// cumulative clawback after a refund is `floor(earned * refunded / amount)`.
pub fn clawback_for_refund(
    earned: Points,
    purchase_minor: i64,
    refunded_before_minor: i64,
    refund_minor: i64,
) -> Points {
    let cumulative = |refunded: i64| {
        i128::from(earned.value()) * i128::from(refunded) / i128::from(purchase_minor)
    };
    let after = cumulative(refunded_before_minor + refund_minor);
    let before = cumulative(refunded_before_minor);
    Points::new(i64::try_from(after - before).expect("bounded by earned"))
}

/// Points to claw back for one refund of a purchase that earned `earned` points,
/// `referral` of them a referral bonus: the rest is clawed back in proportion
/// ([`clawback_for_refund`]); the referral bonus only when the refund makes the
/// purchase refunded in full.
pub fn refund_clawback(
    earned: Points,
    referral: Points,
    purchase_minor: i64,
    refunded_before_minor: i64,
    refund_minor: i64,
) -> Points {
    let proportional = clawback_for_refund(
        earned - referral,
        purchase_minor,
        refunded_before_minor,
        refund_minor,
    );
    if refunded_before_minor + refund_minor >= purchase_minor {
        proportional + referral
    } else {
        proportional
    }
}

/// What a refund does: the points it claws back and what stays refundable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefundPlan {
    pub clawback: Points,
    pub refundable_after: Money,
}

/// A refund of `refund` against a purchase of `purchase_minor` that earned
/// `earned` points (`referral` of them a referral bonus), of which
/// `refunded_before_minor` was refunded already: the points to claw back
/// ([`refund_clawback`]), or a refusal when it is more than is still refundable.
pub fn decide_refund(
    earned: Points,
    referral: Points,
    purchase_minor: i64,
    refunded_before_minor: i64,
    refund: Money,
) -> Result<RefundPlan, Refusal> {
    let refundable = purchase_minor - refunded_before_minor;
    let money = |minor| Money::from_minor(minor, refund.currency());
    if refund.minor() > refundable {
        return Err(Refusal::RefundExceedsPurchase {
            requested: refund.to_decimal_string(),
            refundable: money(refundable).to_decimal_string(),
        });
    }
    Ok(RefundPlan {
        clawback: refund_clawback(
            earned,
            referral,
            purchase_minor,
            refunded_before_minor,
            refund.minor(),
        ),
        refundable_after: money(refundable - refund.minor()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_refund_beyond_what_is_left_is_refused_and_the_rest_claws_back_in_proportion() {
        let refund = |s: &str| thb(s);
        let p = Points::new;
        // 1,000 THB earned 40 points; 600 refunded before.
        assert_eq!(
            decide_refund(p(40), p(0), 100_000, 60_000, refund("400.01")),
            Err(Refusal::RefundExceedsPurchase {
                requested: "400.01".into(),
                refundable: "400.00".into()
            })
        );
        let plan = decide_refund(p(40), p(0), 100_000, 60_000, refund("300")).unwrap();
        assert_eq!(plan.clawback, p(12));
        assert_eq!(plan.refundable_after.to_decimal_string(), "100.00");
        let claw = |e, r, before, s| {
            decide_refund(p(e), p(r), 100_000, before, refund(s))
                .unwrap()
                .clawback
        };
        assert_eq!(claw(40, 0, 60_000, "400"), p(16));
        // The referral bonus goes back only with the last of the purchase.
        assert_eq!(claw(90, 50, 0, "500"), p(20));
        assert_eq!(claw(90, 50, 50_000, "500"), p(70));
    }

    fn thb(s: &str) -> Money {
        Money::parse(s, Currency::THB).unwrap()
    }

    #[test]
    fn default_rate_is_one_point_per_25_baht_rounded_down() {
        let rate = EarnRate::default_for(Currency::THB);
        assert_eq!(rate.points_for(thb("24.99")), Points::new(0));
        assert_eq!(rate.points_for(thb("25")), Points::new(1));
        assert_eq!(rate.points_for(thb("1000")), Points::new(40));
        assert_eq!(rate.points_for(thb("1049.99")), Points::new(41));
    }

    #[test]
    fn rates_parse_from_points_colon_amount() {
        let r = EarnRate::parse("2:12.50", Currency::THB).unwrap();
        assert_eq!(
            r,
            EarnRate {
                points: 2,
                per_minor: 1250
            }
        );
        assert_eq!(r.points_for(thb("100")), Points::new(16));
        assert_eq!(r.display(Currency::THB), "2:12.5");
        assert_eq!(
            EarnRate::default_for(Currency::THB).display(Currency::THB),
            "1:25"
        );
        for bad in ["", "1", "0:25", "1:0", "x:25", "1:-5", "1:25:3"] {
            assert!(EarnRate::parse(bad, Currency::THB).is_err(), "{bad}");
        }
    }

    #[test]
    fn partial_refunds_claw_back_in_proportion() {
        // 40 points on 1000 THB; refund 250 THB three times then the rest.
        let e = Points::new(40);
        assert_eq!(clawback_for_refund(e, 100_000, 0, 25_000), Points::new(10));
        assert_eq!(
            clawback_for_refund(e, 100_000, 25_000, 25_000),
            Points::new(10)
        );
        // 7 points on 100 THB, refund 50 THB: floor(3.5) = 3, then the last 4.
        let e = Points::new(7);
        assert_eq!(clawback_for_refund(e, 10_000, 0, 5_000), Points::new(3));
        assert_eq!(clawback_for_refund(e, 10_000, 5_000, 5_000), Points::new(4));
    }

    #[test]
    fn a_referral_bonus_goes_back_only_with_a_full_refund() {
        // 40 points + a 50-point referral bonus on 1000 THB.
        let (e, r) = (Points::new(90), Points::new(50));
        assert_eq!(refund_clawback(e, r, 100_000, 0, 50_000), Points::new(20));
        assert_eq!(
            refund_clawback(e, r, 100_000, 50_000, 50_000),
            Points::new(70)
        );
    }

    proptest! {
        #[test]
        fn refunds_never_claw_back_more_than_was_earned(
            earned in 0i64..100_000,
            amount in 1i64..10_000_000,
            cuts in proptest::collection::vec(1i64..1_000_000, 1..8),
        ) {
            let mut refunded = 0;
            let mut total = 0;
            for cut in cuts {
                let cut = cut.min(amount - refunded);
                if cut == 0 { break; }
                let c = clawback_for_refund(Points::new(earned), amount, refunded, cut).value();
                prop_assert!(c >= 0);
                total += c;
                refunded += cut;
                prop_assert!(total <= earned);
            }
            if refunded == amount {
                prop_assert_eq!(total, earned, "a full refund takes back everything");
            }
        }

        #[test]
        fn more_money_never_earns_fewer_points(a in 0i64..1_000_000_000, b in 0i64..1_000_000_000, p in 1i64..100, per in 1i64..100_000) {
            let rate = EarnRate { points: p, per_minor: per };
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            prop_assert!(rate.points_for(Money::from_minor(lo, Currency::THB)) <= rate.points_for(Money::from_minor(hi, Currency::THB)));
        }
    }
}
