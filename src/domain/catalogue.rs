//! "For you": the rewards list in the order that suits one member, and the
//! promotions they are in.

use super::campaign::Campaign;
use super::model::Reward;
use super::offer::RewardKind;

/// How close counts as close: a reward at most this share of its cost away
/// (basis points) is listed with the ones the member can afford.
pub const CLOSE_BP: i64 = 2_000;

/// The rewards in the order that suits a member with `balance` points whose
/// purchases go to `categories`: first those they can afford (the dearest
/// first: the best they can have now), then those they are close to (fewest
/// points missing first; at least the closest one), then rewards for the
/// categories they buy, then the rest (cheapest first); out of stock last.
pub fn for_member(rewards: Vec<Reward>, balance: i64, categories: &[String]) -> Vec<Reward> {
    let closest = rewards
        .iter()
        .filter(|r| r.cost.value() > balance && r.stock != Some(0))
        .map(|r| r.cost.value() - balance)
        .min();
    let theirs = |r: &Reward| match &r.kind {
        RewardKind::PercentDiscount { categories: c, .. } => {
            c.iter().any(|c| categories.contains(c))
        }
        _ => false,
    };
    let mut keyed: Vec<((u8, i64, i64), Reward)> = rewards
        .into_iter()
        .map(|r| {
            let cost = r.cost.value();
            let missing = cost - balance;
            let key = if r.stock == Some(0) {
                (4, cost, r.id)
            } else if missing <= 0 {
                (0, -cost, r.id)
            } else if missing * 10_000 <= cost * CLOSE_BP || Some(missing) == closest {
                (1, missing, r.id)
            } else if theirs(&r) {
                (2, cost, r.id)
            } else {
                (3, cost, r.id)
            };
            (key, r)
        })
        .collect();
    keyed.sort_by_key(|(k, _)| *k);
    keyed.into_iter().map(|(_, r)| r).collect()
}

/// Whether a member (by id and tier key) is in a campaign: its tiers, if it
/// names any, include theirs, and they are not in its holdout group.
pub fn member_in(c: &Campaign, member_id: i64, tier: &str) -> bool {
    (c.tiers.is_empty() || c.tiers.iter().any(|t| t == tier)) && !c.holds_out(member_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Points;
    use crate::domain::money::{Currency, Money};

    fn reward(id: i64, cost: i64, stock: Option<i64>, kind: RewardKind) -> Reward {
        Reward {
            id,
            name_th: String::new(),
            name_en: String::new(),
            description_th: String::new(),
            description_en: String::new(),
            cost: Points::new(cost),
            stock,
            per_member_limit: None,
            valid_from: None,
            valid_until: None,
            face_value: Money::from_minor(0, Currency::THB),
            voucher_days: 30,
            active: true,
            created_at: chrono::DateTime::from_timestamp(0, 0).unwrap(),
            picture: None,
            kind,
            partner_id: None,
        }
    }

    #[test]
    fn affordable_then_close_then_their_categories_then_the_rest() {
        let product = || RewardKind::Product { sku: None };
        let bakery = RewardKind::PercentDiscount {
            basis_points: 1_500,
            cap: None,
            categories: vec!["bakery".into()],
            min_basket: None,
        };
        let rewards = vec![
            reward(1, 50, None, product()),
            reward(2, 1_000, None, product()),
            reward(3, 110, None, product()),
            reward(4, 90, None, product()),
            reward(5, 400, None, bakery),
            reward(6, 95, Some(0), product()),
            reward(7, 300, None, product()),
        ];
        let order: Vec<i64> = for_member(rewards, 100, &["bakery".into()])
            .iter()
            .map(|r| r.id)
            .collect();
        // Affordable dearest first (4, 1), close (3: 10 short), the bakery
        // discount, the rest cheapest first, out of stock last.
        assert_eq!(order, vec![4, 1, 3, 5, 7, 2, 6]);
        // Nothing close: the closest one still comes right after what they
        // can afford.
        let far = vec![
            reward(1, 500, None, product()),
            reward(2, 900, None, product()),
        ];
        let order: Vec<i64> = for_member(far, 10, &[]).iter().map(|r| r.id).collect();
        assert_eq!(order, vec![1, 2]);
    }
}
