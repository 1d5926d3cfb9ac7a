//! Tiers: Member → Silver → Gold → VIP by spend over a rolling 12 months.
//!
//! - A member moves **up** as soon as a recorded purchase (or a claimed receipt)
//!   takes their rolling spend to a higher tier's threshold. The purchase that
//!   crosses the threshold earns at the tier the member had when it started; the
//!   next one earns at the new tier. Nothing changes in the middle of a purchase.
//! - A member moves **down** only at the periodic review (daily in `taem serve`,
//!   or `taem tier review`): once they have held their tier for [`HOLD_MONTHS`],
//!   a member whose rolling spend no longer reaches it drops to the tier the
//!   spend reaches. A tier earned is therefore kept for at least a year.
//! - Spend is purchase amounts less refunds, in the program's currency, over the
//!   [`WINDOW_MONTHS`] before now (by when the purchase happened).

use std::sync::Arc;

use chrono::{DateTime, Months, Utc};
use serde::Serialize;

use super::earn::percent_of;
use super::money::{Currency, Money};
use super::points::Points;

/// Spend counts over this many months back.
pub const WINDOW_MONTHS: u32 = 12;
/// A tier is kept at least this long before a review may lower it.
pub const HOLD_MONTHS: u32 = 12;

/// One tier of the program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Tier {
    /// Stable key, lowercase ASCII: `member`, `silver`, `gold`, `vip`.
    pub key: String,
    pub name_th: String,
    pub name_en: String,
    /// Rolling 12-month spend (minor units of the program currency) that reaches it.
    pub threshold_minor: i64,
    /// Earn multiplier in percent of base points: 100 is ×1, 150 is ×1.5.
    pub multiplier_percent: u32,
}

impl Tier {
    pub fn name(&self, thai: bool) -> &str {
        if thai { &self.name_th } else { &self.name_en }
    }

    /// The extra points this tier adds to `base` (never negative).
    pub fn bonus(&self, base: Points) -> Points {
        percent_of(base, self.multiplier_percent.saturating_sub(100))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TierError {
    #[error("a program needs at least one tier")]
    Empty,
    #[error("the lowest tier must start at 0 spend")]
    LowestNotZero,
    #[error("tier {0:?} is listed twice")]
    Duplicate(String),
    #[error("tier keys are lowercase letters, digits and '-', got {0:?}")]
    BadKey(String),
    #[error("tier {0:?}: thresholds must rise from tier to tier")]
    NotRising(String),
    #[error("tier {0:?}: the multiplier must be between 1 and 10")]
    BadMultiplier(String),
}

/// The program's tiers, lowest first, thresholds strictly rising. Shared, not
/// copied: every purchase carries the tiers it was priced under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tiers(Arc<[Tier]>);

impl Serialize for Tiers {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl Tiers {
    pub fn new(mut tiers: Vec<Tier>) -> Result<Tiers, TierError> {
        tiers.sort_by_key(|t| t.threshold_minor);
        let first = tiers.first().ok_or(TierError::Empty)?;
        if first.threshold_minor != 0 {
            return Err(TierError::LowestNotZero);
        }
        for (i, t) in tiers.iter().enumerate() {
            let key_ok = !t.key.is_empty()
                && t.key.len() <= 32
                && t.key
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !key_ok {
                return Err(TierError::BadKey(t.key.clone()));
            }
            if tiers[..i].iter().any(|o| o.key == t.key) {
                return Err(TierError::Duplicate(t.key.clone()));
            }
            if i > 0 && tiers[i - 1].threshold_minor == t.threshold_minor {
                return Err(TierError::NotRising(t.key.clone()));
            }
            if !(100..=1000).contains(&t.multiplier_percent) {
                return Err(TierError::BadMultiplier(t.key.clone()));
            }
        }
        Ok(Tiers(tiers.into()))
    }

    /// Member (×1), Silver from 5,000 (×1.25), Gold from 20,000 (×1.5) and VIP
    /// from 50,000 (×2) of spend a year, in the program currency's major units.
    pub fn standard(currency: Currency) -> Tiers {
        let major = currency.minor_per_major();
        let tier = |key: &str, th: &str, en: &str, threshold: i64, pct: u32| Tier {
            key: key.into(),
            name_th: th.into(),
            name_en: en.into(),
            threshold_minor: threshold * major,
            multiplier_percent: pct,
        };
        Tiers(
            vec![
                tier("member", "สมาชิก", "Member", 0, 100),
                tier("silver", "ซิลเวอร์", "Silver", 5_000, 125),
                tier("gold", "โกลด์", "Gold", 20_000, 150),
                tier("vip", "วีไอพี", "VIP", 50_000, 200),
            ]
            .into(),
        )
    }

    pub fn all(&self) -> &[Tier] {
        &self.0
    }

    pub fn lowest(&self) -> &Tier {
        &self.0[0]
    }

    /// The tier a key names; no key, or one no longer in the table (a tier since
    /// removed), is the lowest tier.
    pub fn get(&self, key: Option<&str>) -> &Tier {
        key.and_then(|k| self.0.iter().find(|t| t.key == k))
            .unwrap_or_else(|| self.lowest())
    }

    fn rank(&self, tier: &Tier) -> usize {
        self.0.iter().position(|t| t.key == tier.key).unwrap_or(0)
    }

    /// The highest tier `spend` reaches.
    pub fn for_spend(&self, spend_minor: i64) -> &Tier {
        self.0
            .iter()
            .rev()
            .find(|t| t.threshold_minor <= spend_minor)
            .unwrap_or_else(|| self.lowest())
    }

    /// The tier above `tier`, if any.
    pub fn next(&self, tier: &Tier) -> Option<&Tier> {
        self.0.get(self.rank(tier) + 1)
    }

    /// After a purchase: the tier to move up to, if the spend now reaches a
    /// higher one than `current`. Never a move down.
    pub fn upgrade(&self, current: &Tier, spend_minor: i64) -> Option<&Tier> {
        let reached = self.for_spend(spend_minor);
        (self.rank(reached) > self.rank(current)).then_some(reached)
    }

    /// At a review: the tier to move down to, if `current` has been held for
    /// [`HOLD_MONTHS`] and the spend no longer reaches it.
    pub fn review(
        &self,
        current: &Tier,
        since: DateTime<Utc>,
        spend_minor: i64,
        now: DateTime<Utc>,
    ) -> Option<&Tier> {
        let held = since
            .checked_add_months(Months::new(HOLD_MONTHS))
            .is_none_or(|t| t <= now);
        let reached = self.for_spend(spend_minor);
        (held && self.rank(reached) < self.rank(current)).then_some(reached)
    }
}

/// Where a member stands: their tier, their rolling spend and what is left to
/// spend to reach the next tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TierStatus {
    pub tier: Tier,
    #[serde(serialize_with = "super::model::serialize_money")]
    pub spend: Money,
    pub next: Option<Tier>,
    /// Spend still needed to reach `next`.
    #[serde(serialize_with = "serialize_opt_money")]
    pub to_next: Option<Money>,
}

fn serialize_opt_money<S: serde::Serializer>(m: &Option<Money>, s: S) -> Result<S::Ok, S::Error> {
    match m {
        Some(m) => super::model::serialize_money(m, s),
        None => s.serialize_none(),
    }
}

impl TierStatus {
    pub fn new(tiers: &Tiers, key: Option<&str>, spend_minor: i64, currency: Currency) -> Self {
        let tier = tiers.get(key).clone();
        let next = tiers.next(&tier).cloned();
        let to_next = next
            .as_ref()
            .map(|n| Money::from_minor((n.threshold_minor - spend_minor).max(0), currency));
        TierStatus {
            tier,
            spend: Money::from_minor(spend_minor.max(0), currency),
            next,
            to_next,
        }
    }
}

/// The start of the rolling spend window that ends at `now`.
pub fn window_start(now: DateTime<Utc>) -> DateTime<Utc> {
    now.checked_sub_months(Months::new(WINDOW_MONTHS))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The move up (if any) when a purchase or a claimed receipt brings a member's
/// rolling spend to `spend`; `reason` says which.
pub fn move_up(
    tiers: &Tiers,
    member_id: i64,
    current: Option<String>,
    spend: i64,
    reason: &str,
    at: DateTime<Utc>,
) -> Option<super::model::TierChange> {
    let up = tiers.upgrade(tiers.get(current.as_deref()), spend)?;
    Some(super::model::TierChange {
        member_id,
        from: current,
        to: up.key.clone(),
        spend_minor: spend,
        reason: reason.into(),
        at,
    })
}

/// The move down (if any) at the periodic review of a member who has held
/// `current` since `since` and spent `spend` in the window.
pub fn move_down(
    tiers: &Tiers,
    member_id: i64,
    current: String,
    since: DateTime<Utc>,
    spend: i64,
    at: DateTime<Utc>,
) -> Option<super::model::TierChange> {
    let down = tiers.review(tiers.get(Some(&current)), since, spend, at)?;
    Some(super::model::TierChange {
        member_id,
        from: Some(current),
        to: down.key.clone(),
        spend_minor: spend,
        reason: "review".into(),
        at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn tiers() -> Tiers {
        Tiers::standard(Currency::THB)
    }

    #[test]
    fn moves_are_recorded_with_where_from_where_to_and_why() {
        let at = Utc.with_ymd_and_hms(2026, 11, 30, 5, 0, 0).unwrap();
        let up = move_up(&tiers(), 7, None, 600_000, "purchase", at).unwrap();
        assert_eq!(
            (up.from.as_deref(), up.to.as_str(), up.reason.as_str()),
            (None, "silver", "purchase")
        );
        assert_eq!(
            move_up(&tiers(), 7, Some("silver".into()), 600_000, "claim", at),
            None
        );
        let since = at - chrono::Duration::days(400);
        let down = move_down(&tiers(), 7, "gold".into(), since, 100_000, at).unwrap();
        assert_eq!(
            (down.from.as_deref(), down.to.as_str(), down.reason.as_str()),
            (Some("gold"), "member", "review")
        );
        let recent = at - chrono::Duration::days(30);
        assert_eq!(
            move_down(&tiers(), 7, "gold".into(), recent, 0, at),
            None,
            "held under 12 months"
        );
    }

    #[test]
    fn spend_reaches_tiers_at_their_thresholds() {
        let t = tiers();
        let key = |spend_baht: i64| t.for_spend(spend_baht * 100).key.clone();
        assert_eq!(key(0), "member");
        assert_eq!(key(4_999), "member");
        assert_eq!(key(5_000), "silver");
        assert_eq!(key(19_999), "silver");
        assert_eq!(key(20_000), "gold");
        assert_eq!(key(1_000_000), "vip");
    }

    #[test]
    fn moves_up_at_once_and_never_down_after_a_purchase() {
        let t = tiers();
        let gold = t.get(Some("gold"));
        assert_eq!(t.upgrade(gold, 10_000), None, "a small spend never lowers");
        assert_eq!(t.upgrade(gold, 50_000 * 100).unwrap().key, "vip");
        let member = t.get(None);
        assert_eq!(t.upgrade(member, 5_000 * 100).unwrap().key, "silver");
        assert_eq!(t.upgrade(member, 4_999 * 100), None);
    }

    #[test]
    fn reviews_lower_a_tier_only_after_it_was_held_a_year() {
        let t = tiers();
        let gold = t.get(Some("gold"));
        let since = Utc.with_ymd_and_hms(2026, 1, 10, 5, 0, 0).unwrap();
        let early = Utc.with_ymd_and_hms(2026, 12, 31, 0, 0, 0).unwrap();
        let later = Utc.with_ymd_and_hms(2027, 1, 10, 5, 0, 0).unwrap();
        assert_eq!(t.review(gold, since, 0, early), None);
        assert_eq!(
            t.review(gold, since, 6_000 * 100, later).unwrap().key,
            "silver"
        );
        assert_eq!(t.review(gold, since, 25_000 * 100, later), None);
    }

    #[test]
    fn tier_bonus_is_the_multiplier_on_base_points_rounded_down() {
        let t = tiers();
        assert_eq!(
            t.get(Some("silver")).bonus(Points::new(41)),
            Points::new(10)
        );
        assert_eq!(t.get(Some("vip")).bonus(Points::new(41)), Points::new(41));
        assert_eq!(t.get(Some("member")).bonus(Points::new(41)), Points::new(0));
    }

    #[test]
    fn status_says_how_much_more_reaches_the_next_tier() {
        let s = TierStatus::new(&tiers(), Some("silver"), 12_000 * 100, Currency::THB);
        assert_eq!(s.next.unwrap().key, "gold");
        assert_eq!(s.to_next.unwrap().minor(), 8_000 * 100);
        let top = TierStatus::new(&tiers(), Some("vip"), 90_000 * 100, Currency::THB);
        assert!(top.next.is_none() && top.to_next.is_none());
    }

    #[test]
    fn bad_tier_tables_are_refused() {
        let mut v = tiers().all().to_vec();
        v[0].threshold_minor = 1;
        assert_eq!(Tiers::new(v), Err(TierError::LowestNotZero));
        let mut v = tiers().all().to_vec();
        v[2].threshold_minor = v[1].threshold_minor;
        assert!(matches!(Tiers::new(v), Err(TierError::NotRising(_))));
        let mut v = tiers().all().to_vec();
        v[1].key = "Gold Plus".into();
        assert!(matches!(Tiers::new(v), Err(TierError::BadKey(_))));
        assert_eq!(Tiers::new(vec![]), Err(TierError::Empty));
    }
}
