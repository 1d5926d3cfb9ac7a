//! Store credit: money on a member's account, in the programme's currency.
//! A cashback reward turns points into credit; the till takes credit as
//! payment like points (held, confirmed by the customer, captured or given
//! back), and a refund of a sale credit paid for gives it back in proportion.
//! Its ledger is append-only like the points ledger, and the balance never
//! goes below zero.

/// Why store credit moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreditKind {
    /// A cashback reward redeemed.
    Cashback,
    /// Taken by a payment at the till (held until captured or given back).
    Hold,
    /// A payment's hold given back (released, declined, expired).
    Release,
    /// Given back by a refund of the sale it paid.
    Refund,
    /// Taken when the member's data was erased.
    Forfeit,
}

impl CreditKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CreditKind::Cashback => "cashback",
            CreditKind::Hold => "hold",
            CreditKind::Release => "release",
            CreditKind::Refund => "refund",
            CreditKind::Forfeit => "forfeit",
        }
    }
}

/// The credit balance after moving `delta` minor units from `before`, or
/// `None` when it would go below zero.
pub fn after(before: i64, delta: i64) -> Option<i64> {
    before.checked_add(delta).filter(|a| *a >= 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credit_never_goes_below_zero() {
        assert_eq!(after(5_000, -5_000), Some(0));
        assert_eq!(after(5_000, -5_001), None);
        assert_eq!(after(0, 2_500), Some(2_500));
        assert_eq!(after(i64::MAX, 1), None);
    }
}
