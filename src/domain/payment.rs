//! Paying with points at the till: what points are worth, how many a bill
//! takes, and the life of a payment (reserved, confirmed by the customer,
//! captured by the till, or released).
//!
//! A reservation takes the points out of the member's lots at once (soonest
//! expiring first), so they cannot be spent twice; a release (by the till, by
//! the customer saying no, or by the hold running out) gives them back to the
//! same lots; a capture makes the payment final. The customer's say-so is
//! either their "Yes" in the chat or a fresh one-time pay code from their chat.

use chrono::{DateTime, Utc};

use serde::Serialize;
use utoipa::ToSchema;

use super::codes::MemberCode;
use super::money::{Currency, Money};
use super::points::Points;
use super::staff::NewAudit;

/// What points are worth when paying: `points` points pay `minor` minor units
/// (4 points = ฿1 is `points: 4, minor: 100`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayRate {
    pub points: i64,
    pub minor: i64,
}

/// Why a pay rate is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayRateError {
    #[error("{0:?} is not a pay rate such as 4:1 (4 points pay 1 of the currency)")]
    Malformed(String),
}

impl PayRate {
    /// `"4:1"`: 4 points pay 1 unit of the currency (`"10:2.5"` also reads).
    pub fn parse(input: &str, currency: Currency) -> Result<PayRate, PayRateError> {
        let bad = || PayRateError::Malformed(input.to_string());
        let (p, a) = input.trim().split_once(':').ok_or_else(bad)?;
        let points: i64 = p.trim().parse().map_err(|_| bad())?;
        let amount = Money::parse_positive(a.trim(), currency).map_err(|_| bad())?;
        if !(1..=1_000_000).contains(&points) {
            return Err(bad());
        }
        Ok(PayRate {
            points,
            minor: amount.minor(),
        })
    }

    /// The rate as people write it (`4:1`, `10:2.5`).
    pub fn display(&self, currency: Currency) -> String {
        let amount = Money::from_minor(self.minor, currency).to_decimal_string();
        let amount = if amount.contains('.') {
            amount
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_string()
        } else {
            amount
        };
        format!("{}:{amount}", self.points)
    }

    /// What `points` pay, rounded down to the minor unit.
    pub fn value(&self, points: Points, currency: Currency) -> Money {
        let minor =
            i128::from(points.value().max(0)) * i128::from(self.minor) / i128::from(self.points);
        Money::from_minor(i64::try_from(minor).unwrap_or(i64::MAX), currency)
    }

    /// The points that pay `amount`: rounded up, so the points always cover it
    /// (with 3 points = ฿1, ฿10.01 takes 31 points).
    pub fn points_for(&self, amount: Money) -> Points {
        let num = i128::from(amount.minor().max(0)) * i128::from(self.points);
        let den = i128::from(self.minor);
        let p = (num + den - 1) / den;
        Points::new(i64::try_from(p).unwrap_or(i64::MAX))
    }
}

/// What a payment at the till takes: points (worth the pay rate) or store
/// credit (money on the member's account).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PaySource {
    #[default]
    Points,
    Credit,
}

impl PaySource {
    pub fn as_str(self) -> &'static str {
        match self {
            PaySource::Points => "points",
            PaySource::Credit => "credit",
        }
    }

    pub fn parse(s: &str) -> Option<PaySource> {
        [PaySource::Points, PaySource::Credit]
            .into_iter()
            .find(|p| p.as_str() == s)
    }
}

/// Where a payment with points stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Points held; the customer has been asked in their chat.
    AwaitingConfirmation,
    /// The customer said yes (or showed a fresh pay code): the till may capture.
    Confirmed,
    /// Final: the points paid part of the bill.
    Captured,
    /// Given back by the till.
    Released,
    /// The customer said no: given back.
    Declined,
    /// Not captured in time: given back.
    Expired,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::AwaitingConfirmation => "awaiting_confirmation",
            PaymentStatus::Confirmed => "confirmed",
            PaymentStatus::Captured => "captured",
            PaymentStatus::Released => "released",
            PaymentStatus::Declined => "declined",
            PaymentStatus::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<PaymentStatus> {
        [
            PaymentStatus::AwaitingConfirmation,
            PaymentStatus::Confirmed,
            PaymentStatus::Captured,
            PaymentStatus::Released,
            PaymentStatus::Declined,
            PaymentStatus::Expired,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }

    /// Whether its points are still held (not final, not given back).
    pub fn holds(self) -> bool {
        matches!(
            self,
            PaymentStatus::AwaitingConfirmation | PaymentStatus::Confirmed
        )
    }
}

/// The points a refund gives back of a payment of `points` that paid for a
/// sale of `amount_minor`, once `refunded_after_minor` of it is refunded, when
/// `returned` were given back by earlier refunds: in proportion, rounded down,
/// all of them once the sale is refunded in full.
pub fn refund_share(
    points: i64,
    returned: i64,
    (refunded_after_minor, amount_minor): (i64, i64),
) -> i64 {
    if amount_minor <= 0 {
        return 0;
    }
    let share = i128::from(points) * i128::from(refunded_after_minor.min(amount_minor))
        / i128::from(amount_minor);
    (i64::try_from(share).unwrap_or(points).min(points) - returned).max(0)
}

/// What may happen to a payment now, and what it becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Move to this status (and give the points back when it no longer holds them).
    To(PaymentStatus),
    /// Already there: the same answer again (a retried capture or release).
    Again,
}

/// Why a step is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StepRefused {
    #[error("the customer has not confirmed this payment yet")]
    NotConfirmed,
    #[error("this payment is already {}", .0.as_str())]
    Closed(PaymentStatus),
    #[error("this payment's hold ran out at {0}")]
    TimedOut(DateTime<Utc>),
}

/// A payment being captured (made final) at `now`.
pub fn capture(
    status: PaymentStatus,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Step, StepRefused> {
    match status {
        PaymentStatus::Captured => Ok(Step::Again),
        PaymentStatus::Confirmed if now < expires_at => Ok(Step::To(PaymentStatus::Captured)),
        PaymentStatus::Confirmed => Err(StepRefused::TimedOut(expires_at)),
        PaymentStatus::AwaitingConfirmation => Err(StepRefused::NotConfirmed),
        closed => Err(StepRefused::Closed(closed)),
    }
}

/// A payment being released by the till.
pub fn release(status: PaymentStatus) -> Result<Step, StepRefused> {
    match status {
        s if s.holds() => Ok(Step::To(PaymentStatus::Released)),
        PaymentStatus::Released | PaymentStatus::Declined | PaymentStatus::Expired => {
            Ok(Step::Again)
        }
        closed => Err(StepRefused::Closed(closed)),
    }
}

/// The customer answering the question in their chat.
pub fn answer(
    status: PaymentStatus,
    yes: bool,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Step, StepRefused> {
    match status {
        PaymentStatus::AwaitingConfirmation if now >= expires_at => {
            Err(StepRefused::TimedOut(expires_at))
        }
        PaymentStatus::AwaitingConfirmation if yes => Ok(Step::To(PaymentStatus::Confirmed)),
        PaymentStatus::AwaitingConfirmation => Ok(Step::To(PaymentStatus::Declined)),
        PaymentStatus::Confirmed if yes => Ok(Step::Again),
        closed => Err(StepRefused::Closed(closed)),
    }
}

/// The hold running out at `now`.
pub fn expire(
    status: PaymentStatus,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<Step> {
    (status.holds() && now >= expires_at).then_some(Step::To(PaymentStatus::Expired))
}

/// A payment with points at a till, as the till and the member see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PointPayment {
    /// taem's id for it (`pp_…`), used in the capture and release paths
    pub id: String,
    /// The till's idempotency key
    pub request_id: String,
    pub merchant_id: String,
    pub member_code: String,
    /// What it takes: points, or store credit
    pub source: PaySource,
    /// Points taken (held until captured or given back); 0 when it takes store credit
    #[schema(value_type = i64)]
    pub points: Points,
    /// What they pay of the bill
    #[serde(serialize_with = "super::model::serialize_money")]
    #[schema(value_type = super::model::MoneyJson)]
    pub amount: Money,
    pub status: PaymentStatus,
    /// The sale it paid, when the till said so at capture
    pub receipt_id: Option<String>,
    /// The hold ends then: given back unless captured
    pub expires_at: DateTime<Utc>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    #[serde(skip)]
    #[schema(ignore)]
    pub member_id: i64,
}

/// A till asking to take points from a member for a sale.
#[derive(Debug, Clone)]
pub struct ReserveCommand {
    /// The new payment's id (unused when the request is a replay).
    pub id: String,
    pub merchant_id: String,
    pub request_id: String,
    pub fingerprint: String,
    pub member_code: MemberCode,
    pub source: PaySource,
    /// The points it takes (0 when it takes store credit).
    pub points: Points,
    pub amount: Money,
    /// A pay code the customer showed (its hash): confirms at once if fresh.
    pub pay_code_hash: Option<String>,
    pub min_points: i64,
    pub expires_at: DateTime<Utc>,
    pub now: DateTime<Utc>,
    /// Staff who ask (the counter): audited in the same transaction.
    pub audit: Option<NewAudit>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_rate_reads_as_people_write_it_and_values_round_in_the_shops_favour() {
        let r = PayRate::parse("4:1", Currency::THB).unwrap();
        assert_eq!(
            r,
            PayRate {
                points: 4,
                minor: 100
            }
        );
        assert_eq!(r.display(Currency::THB), "4:1");
        assert_eq!(r.value(Points::new(200), Currency::THB).minor(), 5_000);
        assert_eq!(
            r.points_for(Money::from_minor(5_000, Currency::THB))
                .value(),
            200
        );
        let three = PayRate::parse("3:1", Currency::THB).unwrap();
        assert_eq!(
            three
                .points_for(Money::from_minor(1_001, Currency::THB))
                .value(),
            31
        );
        assert_eq!(three.value(Points::new(31), Currency::THB).minor(), 1_033);
        assert_eq!(
            PayRate::parse("10:2.5", Currency::THB)
                .unwrap()
                .display(Currency::THB),
            "10:2.5"
        );
        for bad in ["4", "0:1", "4:0", "a:1", "4:-1", ""] {
            assert!(PayRate::parse(bad, Currency::THB).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_payment_is_captured_only_once_confirmed_and_never_after_it_is_given_back() {
        use PaymentStatus::*;
        let t = Utc::now();
        let later = t + chrono::Duration::minutes(5);
        assert_eq!(
            capture(AwaitingConfirmation, later, t),
            Err(StepRefused::NotConfirmed)
        );
        assert_eq!(capture(Confirmed, later, t), Ok(Step::To(Captured)));
        assert_eq!(capture(Captured, later, t), Ok(Step::Again));
        assert_eq!(
            capture(Confirmed, later, later),
            Err(StepRefused::TimedOut(later))
        );
        for s in [Released, Declined, Expired] {
            assert_eq!(capture(s, later, t), Err(StepRefused::Closed(s)));
            assert_eq!(release(s), Ok(Step::Again));
        }
        assert_eq!(release(Captured), Err(StepRefused::Closed(Captured)));
        assert_eq!(release(Confirmed), Ok(Step::To(Released)));
        assert_eq!(
            answer(AwaitingConfirmation, true, later, t),
            Ok(Step::To(Confirmed))
        );
        assert_eq!(
            answer(AwaitingConfirmation, false, later, t),
            Ok(Step::To(Declined))
        );
        assert_eq!(
            answer(AwaitingConfirmation, true, later, later),
            Err(StepRefused::TimedOut(later))
        );
        assert_eq!(
            answer(Released, true, later, t),
            Err(StepRefused::Closed(Released))
        );
        assert_eq!(expire(Confirmed, later, later), Some(Step::To(Expired)));
        assert_eq!(expire(Captured, later, later), None);
        assert_eq!(expire(Confirmed, later, t), None);
    }

    #[test]
    fn refunds_give_back_the_points_that_paid_in_proportion_and_all_of_them_in_the_end() {
        assert_eq!(refund_share(200, 0, (2_500, 10_000)), 50);
        assert_eq!(refund_share(200, 50, (5_000, 10_000)), 50);
        assert_eq!(refund_share(200, 100, (10_000, 10_000)), 100);
        assert_eq!(refund_share(3, 0, (5_000, 10_000)), 1);
        assert_eq!(refund_share(3, 1, (10_000, 10_000)), 2);
        assert_eq!(refund_share(200, 200, (10_000, 10_000)), 0);
    }

    proptest! {
        #[test]
        fn the_points_for_an_amount_always_pay_it(points in 1i64..1_000, minor in 1i64..100_000, amount in 0i64..10_000_000) {
            let r = PayRate { points, minor };
            let a = Money::from_minor(amount, Currency::THB);
            let p = r.points_for(a);
            prop_assert!(r.value(p, Currency::THB).minor() >= amount);
            if p.value() > 0 {
                prop_assert!(r.value(Points::new(p.value() - 1), Currency::THB).minor() < amount);
            }
        }
    }
}
