//! Redeeming a reward: whether the member may, and which points pay for it.
//! Both stores read the facts inside the redemption's transaction (the member
//! and the reward locked on PostgreSQL) and write what this decides.

use chrono::{DateTime, Utc};

use super::Refusal;
use super::ledger::{self, Allocation, LotView};
use super::model::Reward;
use super::points::Points;

/// What a redemption needs to know, read inside its transaction.
#[derive(Debug, Clone, Copy)]
pub struct RedeemFacts<'a> {
    pub reward: &'a Reward,
    /// The member's balance (below zero after a clawback of spent points).
    pub balance: i64,
    /// Vouchers of this reward the member holds or has used.
    pub held: i64,
    /// The member's lots with points left.
    pub lots: &'a [LotView],
    pub now: DateTime<Utc>,
}

/// The lots to spend (soonest-expiring first), or the first reason not to, in
/// this order: the reward is not offered, out of stock, the member's limit is
/// reached, their balance is negative, they have too few spendable points.
pub fn decide(f: &RedeemFacts<'_>) -> Result<Vec<Allocation>, Refusal> {
    let reward = f.reward;
    if !reward.offered(f.now) {
        return Err(Refusal::RewardUnavailable);
    }
    if reward.stock == Some(0) {
        return Err(Refusal::OutOfStock);
    }
    if let Some(limit) = reward.per_member_limit
        && f.held >= limit
    {
        return Err(Refusal::MemberLimitReached { limit });
    }
    if f.balance < 0 {
        return Err(Refusal::NegativeBalance {
            balance: Points::new(f.balance),
        });
    }
    ledger::plan_spend(f.lots, reward.cost, f.now).map_err(|s| Refusal::InsufficientPoints {
        available: s.available,
        needed: reward.cost,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Money;
    use crate::domain::money::Currency;
    use chrono::Duration;

    fn reward() -> Reward {
        Reward {
            id: 1,
            name_th: "กาแฟ".into(),
            name_en: "Coffee".into(),
            description_th: String::new(),
            description_en: String::new(),
            cost: Points::new(100),
            stock: Some(5),
            per_member_limit: Some(2),
            valid_from: None,
            valid_until: None,
            face_value: Money::from_minor(6000, Currency::THB),
            voucher_days: 30,
            active: true,
            created_at: now(),
            picture: None,
            kind: crate::domain::offer::RewardKind::Product { sku: None },
            partner_id: None,
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_795_000_000, 0).unwrap()
    }

    fn lot(id: i64, remaining: i64, expires_in_days: i64) -> LotView {
        LotView {
            id,
            remaining,
            available_at: now() - Duration::days(1),
            expires_at: now() + Duration::days(expires_in_days),
        }
    }

    fn facts<'a>(reward: &'a Reward, lots: &'a [LotView]) -> RedeemFacts<'a> {
        RedeemFacts {
            reward,
            balance: lots.iter().map(|l| l.remaining).sum(),
            held: 0,
            lots,
            now: now(),
        }
    }

    #[test]
    fn an_offered_reward_is_paid_with_the_soonest_expiring_points() {
        let r = reward();
        let lots = [lot(1, 80, 30), lot(2, 50, 5)];
        let plan = decide(&facts(&r, &lots)).unwrap();
        assert_eq!(
            plan,
            vec![
                Allocation {
                    lot_id: 2,
                    points: 50
                },
                Allocation {
                    lot_id: 1,
                    points: 50
                }
            ]
        );
    }

    #[test]
    fn each_refusal_in_its_order() {
        let lots = [lot(1, 500, 30)];
        let mut r = reward();
        r.active = false;
        r.stock = Some(0);
        assert_eq!(decide(&facts(&r, &lots)), Err(Refusal::RewardUnavailable));
        r.active = true;
        r.valid_from = Some(now() + Duration::hours(1));
        assert_eq!(decide(&facts(&r, &lots)), Err(Refusal::RewardUnavailable));
        r.valid_from = None;
        r.valid_until = Some(now());
        assert_eq!(decide(&facts(&r, &lots)), Err(Refusal::RewardUnavailable));
        r.valid_until = None;
        assert_eq!(decide(&facts(&r, &lots)), Err(Refusal::OutOfStock));
        r.stock = None;
        let held = RedeemFacts {
            held: 2,
            balance: -10,
            ..facts(&r, &lots)
        };
        assert_eq!(decide(&held), Err(Refusal::MemberLimitReached { limit: 2 }));
        let negative = RedeemFacts {
            balance: -10,
            ..facts(&r, &lots)
        };
        assert_eq!(
            decide(&negative),
            Err(Refusal::NegativeBalance {
                balance: Points::new(-10)
            })
        );
        let poor = [lot(1, 60, 30)];
        assert_eq!(
            decide(&facts(&r, &poor)),
            Err(Refusal::InsufficientPoints {
                available: Points::new(60),
                needed: Points::new(100)
            })
        );
    }
}
