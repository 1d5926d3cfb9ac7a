//! The ledger's rules. Points live in an append-only ledger of entries; every
//! credit that can be spent creates (or refills) an earn *lot* with its own expiry.
//! Debits consume lots soonest-expiring first. A member's cached balance is the sum
//! of their entries, and while it is not negative it also equals the sum of the
//! lots' remaining points. A refund clawback may take the balance below zero (a
//! debt); later credits repay the debt before they fill lots.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::points::Points;

/// Why the ledger moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// Points from a purchase (or a claimed receipt).
    Earn,
    /// Points spent on a reward voucher.
    Redeem,
    /// Points taken back because a purchase was refunded.
    Clawback,
    /// Points that reached their expiry unused.
    Expire,
    /// A manual correction by an administrator.
    Adjust,
    /// Points returned when a voucher expired unused or was cancelled.
    Release,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Earn => "earn",
            EntryKind::Redeem => "redeem",
            EntryKind::Clawback => "clawback",
            EntryKind::Expire => "expire",
            EntryKind::Adjust => "adjust",
            EntryKind::Release => "release",
        }
    }

    pub fn parse(s: &str) -> Option<EntryKind> {
        Some(match s {
            "earn" => EntryKind::Earn,
            "redeem" => EntryKind::Redeem,
            "clawback" => EntryKind::Clawback,
            "expire" => EntryKind::Expire,
            "adjust" => EntryKind::Adjust,
            "release" => EntryKind::Release,
            _ => return None,
        })
    }
}

/// What the rules need to know of a lot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LotView {
    pub id: i64,
    pub remaining: i64,
    pub available_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl LotView {
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.remaining > 0 && self.expires_at > now
    }

    pub fn is_spendable(&self, now: DateTime<Utc>) -> bool {
        self.is_live(now) && self.available_at <= now
    }
}

/// Points taken from one lot by a debit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allocation {
    pub lot_id: i64,
    pub points: i64,
}

/// A debit could not be covered: only `available` points were spendable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shortfall {
    pub available: Points,
}

/// Spendable points right now: live lots whose pending period is over.
pub fn spendable(lots: &[LotView], now: DateTime<Utc>) -> Points {
    Points::new(
        lots.iter()
            .filter(|l| l.is_spendable(now))
            .map(|l| l.remaining)
            .sum(),
    )
}

/// Points still pending: live lots not yet available.
pub fn pending(lots: &[LotView], now: DateTime<Utc>) -> Points {
    Points::new(
        lots.iter()
            .filter(|l| l.is_live(now) && l.available_at > now)
            .map(|l| l.remaining)
            .sum(),
    )
}

fn soonest_expiring_first<'a>(lots: impl Iterator<Item = &'a LotView>) -> Vec<&'a LotView> {
    let mut v: Vec<&LotView> = lots.collect();
    v.sort_by_key(|l| (l.expires_at, l.id));
    v
}

fn take(order: &[&LotView], mut amount: i64, out: &mut Vec<Allocation>) -> i64 {
    for lot in order {
        if amount == 0 {
            break;
        }
        let n = lot.remaining.min(amount);
        if n > 0 {
            out.push(Allocation {
                lot_id: lot.id,
                points: n,
            });
            amount -= n;
        }
    }
    amount
}

/// Plans spending `amount` spendable points, soonest-expiring lot first.
pub fn plan_spend(
    lots: &[LotView],
    amount: Points,
    now: DateTime<Utc>,
) -> Result<Vec<Allocation>, Shortfall> {
    let available = spendable(lots, now);
    if available < amount {
        return Err(Shortfall { available });
    }
    let order = soonest_expiring_first(lots.iter().filter(|l| l.is_spendable(now)));
    let mut out = Vec::new();
    let left = take(&order, amount.value(), &mut out);
    debug_assert_eq!(left, 0);
    Ok(out)
}

/// Plans taking back `amount` points for a refund: first from the purchase's own
/// lot (even while pending), then from any other live lot soonest-expiring first.
/// Returns the allocations and the part no lot could cover, which becomes debt
/// (a negative balance).
pub fn plan_clawback(
    lots: &[LotView],
    own_lot: Option<i64>,
    amount: Points,
    now: DateTime<Utc>,
) -> (Vec<Allocation>, Points) {
    let own: Vec<&LotView> = lots
        .iter()
        .filter(|l| Some(l.id) == own_lot && l.is_live(now))
        .collect();
    let others = soonest_expiring_first(
        lots.iter()
            .filter(|l| Some(l.id) != own_lot && l.is_live(now)),
    );
    let mut out = Vec::new();
    let left = take(&own, amount.value(), &mut out);
    let left = take(&others, left, &mut out);
    (out, Points::new(left))
}

/// How much of a credit goes into lots given the balance before it: a negative
/// balance (debt) is repaid first.
pub fn credit_to_lots(balance_before: Points, credit: Points) -> Points {
    let before = balance_before.value();
    Points::new((before + credit.value()).max(0) - before.max(0))
}

/// Splits a release of points back over the lots a redemption took them from,
/// after repaying any debt: returns (lot, points) refills, soonest-expiring lots
/// refilled last so that debt is repaid from the points closest to expiry.
pub fn plan_release(
    taken: &[(LotView, i64)],
    balance_before: Points,
    credit: Points,
) -> Vec<Allocation> {
    let mut to_lots = credit_to_lots(balance_before, credit).value();
    let mut order: Vec<&(LotView, i64)> = taken.iter().collect();
    order.sort_by_key(|(l, _)| std::cmp::Reverse((l.expires_at, l.id)));
    let mut out = Vec::new();
    for (lot, points) in order {
        if to_lots == 0 {
            break;
        }
        let n = (*points).min(to_lots);
        out.push(Allocation {
            lot_id: lot.id,
            points: n,
        });
        to_lots -= n;
    }
    out
}

/// One member's books, for audits and tests: the cached balance, the sum of
/// their entries and the points left in their lots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LedgerAudit {
    pub member_id: i64,
    pub balance: i64,
    pub entries_sum: i64,
    pub lots_remaining: i64,
    /// Store credit (minor units) and the sum of its entries.
    pub credit: i64,
    pub credit_entries_sum: i64,
}

impl LedgerAudit {
    /// The ledger invariant: entries sum to the balance, and the lots hold the
    /// balance when it is not negative (nothing when it is); the credit entries
    /// sum to the store credit, which is never negative.
    pub fn holds(&self) -> bool {
        self.entries_sum == self.balance
            && self.lots_remaining == self.balance.max(0)
            && self.credit_entries_sum == self.credit
            && self.credit >= 0
    }
}

/// A purchase whose earn entries disagree with the points it gave its member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PurchaseCheck {
    pub purchase_id: i64,
    pub merchant_id: String,
    pub receipt_id: String,
    /// The points the purchase says it gave, and what its earn entries hold
    pub points: i64,
    pub earned: i64,
}

/// A voucher whose ledger entries disagree with it: the redemption must have
/// taken its points, and only a voucher given back or expired gets them back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VoucherCheck {
    pub voucher_id: i64,
    pub code: String,
    pub status: String,
    pub points: i64,
    /// What its redeem entry took (negative) and its release entries gave back
    pub redeemed: i64,
    pub released: i64,
}

impl VoucherCheck {
    /// Whether the entries agree with the voucher.
    pub fn holds(&self) -> bool {
        let back = match self.status.as_str() {
            "cancelled" | "expired" => self.points,
            _ => 0,
        };
        self.redeemed == -self.points && self.released == back
    }
}

/// A member whose kept rolling spend differs from their purchases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpendCheck {
    pub member_id: i64,
    pub currency: String,
    /// What the member's row keeps (minor units).
    pub kept: i64,
    /// What their purchases since then add up to.
    pub counted: i64,
}

/// What `taem check` found: how much it read, and what does not add up.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LedgerCheck {
    pub members: i64,
    pub purchases: i64,
    pub vouchers: i64,
    pub broken_members: Vec<LedgerAudit>,
    pub broken_purchases: Vec<PurchaseCheck>,
    pub broken_vouchers: Vec<VoucherCheck>,
    pub broken_spends: Vec<SpendCheck>,
}

impl LedgerCheck {
    pub fn holds(&self) -> bool {
        self.broken_members.is_empty()
            && self.broken_purchases.is_empty()
            && self.broken_vouchers.is_empty()
            && self.broken_spends.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;

    fn t(day: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::days(day)
    }

    fn lot(id: i64, remaining: i64, available: i64, expires: i64) -> LotView {
        LotView {
            id,
            remaining,
            available_at: t(available),
            expires_at: t(expires),
        }
    }

    #[test]
    fn spending_takes_the_soonest_expiring_points_first() {
        let lots = [lot(1, 50, 0, 300), lot(2, 30, 0, 100), lot(3, 40, 0, 200)];
        let plan = plan_spend(&lots, Points::new(60), t(10)).unwrap();
        assert_eq!(
            plan,
            vec![
                Allocation {
                    lot_id: 2,
                    points: 30
                },
                Allocation {
                    lot_id: 3,
                    points: 30
                }
            ]
        );
    }

    #[test]
    fn pending_and_expired_points_cannot_be_spent() {
        let lots = [lot(1, 50, 20, 300), lot(2, 30, 0, 5), lot(3, 10, 0, 200)];
        assert_eq!(spendable(&lots, t(10)), Points::new(10));
        assert_eq!(pending(&lots, t(10)), Points::new(50));
        assert_eq!(
            plan_spend(&lots, Points::new(11), t(10)),
            Err(Shortfall {
                available: Points::new(10)
            })
        );
        assert_eq!(spendable(&lots, t(20)), Points::new(60));
    }

    #[test]
    fn clawback_starts_with_the_purchase_lot_and_leaves_debt_when_spent() {
        let lots = [lot(1, 5, 0, 100), lot(2, 10, 0, 300)];
        let (plan, debt) = plan_clawback(&lots, Some(2), Points::new(20), t(1));
        assert_eq!(
            plan,
            vec![
                Allocation {
                    lot_id: 2,
                    points: 10
                },
                Allocation {
                    lot_id: 1,
                    points: 5
                }
            ]
        );
        assert_eq!(debt, Points::new(5));
    }

    #[test]
    fn credits_repay_debt_first() {
        assert_eq!(
            credit_to_lots(Points::new(-30), Points::new(20)),
            Points::new(0)
        );
        assert_eq!(
            credit_to_lots(Points::new(-30), Points::new(50)),
            Points::new(20)
        );
        assert_eq!(
            credit_to_lots(Points::new(10), Points::new(50)),
            Points::new(50)
        );
    }

    proptest! {
        #[test]
        fn a_spend_takes_exactly_the_amount_and_never_more_than_a_lot_holds(
            rems in proptest::collection::vec((0i64..500, 0i64..30, 1i64..400), 0..12),
            amount in 0i64..3000,
        ) {
            let lots: Vec<LotView> = rems.iter().enumerate()
                .map(|(i, (r, a, e))| lot(i as i64, *r, *a, *e)).collect();
            let now = t(15);
            match plan_spend(&lots, Points::new(amount), now) {
                Ok(plan) => {
                    prop_assert_eq!(plan.iter().map(|a| a.points).sum::<i64>(), amount);
                    for a in &plan {
                        let l = lots.iter().find(|l| l.id == a.lot_id).unwrap();
                        prop_assert!(a.points > 0 && a.points <= l.remaining && l.is_spendable(now));
                    }
                }
                Err(s) => prop_assert!(s.available.value() < amount),
            }
        }

        #[test]
        fn a_clawback_plus_its_debt_is_the_amount(
            rems in proptest::collection::vec((0i64..500, 0i64..30, 1i64..400), 0..12),
            amount in 0i64..3000,
        ) {
            let lots: Vec<LotView> = rems.iter().enumerate()
                .map(|(i, (r, a, e))| lot(i as i64, *r, *a, *e)).collect();
            let (plan, debt) = plan_clawback(&lots, Some(0), Points::new(amount), t(15));
            prop_assert_eq!(plan.iter().map(|a| a.points).sum::<i64>() + debt.value(), amount);
            prop_assert!(debt.value() >= 0);
        }
    }
}
