//! Business rules that turn a request down. Each one changes nothing; HTTP maps
//! them to problem+json, chat to a localized message.

use chrono::{DateTime, Utc};

use super::points::Points;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("not enough points: {available} spendable, {needed} needed")]
    InsufficientPoints { available: Points, needed: Points },
    #[error("the balance is negative ({balance}) after a refund; it must be positive to redeem")]
    NegativeBalance { balance: Points },
    #[error("this reward is out of stock")]
    OutOfStock,
    #[error("this member already has the most vouchers of this reward allowed ({limit})")]
    MemberLimitReached { limit: i64 },
    #[error("this reward is not offered at the moment")]
    RewardUnavailable,
    #[error(
        "the refund of {requested} is more than the {refundable} still refundable on this purchase"
    )]
    RefundExceedsPurchase {
        requested: String,
        refundable: String,
    },
    #[error("this voucher was already used at {used_at}")]
    VoucherAlreadyUsed { used_at: DateTime<Utc> },
    #[error("this voucher expired at {expires_at}")]
    VoucherExpired { expires_at: DateTime<Utc> },
    #[error("this voucher was cancelled")]
    VoucherCancelled,
    #[error("this voucher belongs to another member")]
    VoucherNotYours,
    #[error("this claim code expired at {expires_at}")]
    ClaimExpired { expires_at: DateTime<Utc> },
    #[error("this claim code has already been used")]
    ClaimAlreadyClaimed,
    #[error("this link code is unknown, already used or expired")]
    LinkInvalid,
    #[error("this member is already linked to another account on that app")]
    LinkTaken,
    #[error("this account already has its own points or history, so it cannot be linked")]
    LinkHasHistory,
    #[error("the adjustment would take the balance ({balance}) below zero")]
    AdjustBelowZero { balance: Points },
    #[error("too many wrong codes; try again after {retry_at}")]
    TooManyTries { retry_at: DateTime<Utc> },
    #[error("the email or the password is wrong")]
    SignInFailed,
    #[error("this voucher does not apply to this basket: {0}")]
    VoucherNotApplicable(super::offer::NotApplicable),
    #[error("this voucher takes a share of the bill: send the basket (its amount) with it")]
    VoucherNeedsBasket,
    #[error("{0}")]
    PaymentRefused(super::payment::StepRefused),
    #[error("a payment with points takes at least {min} points")]
    PaymentBelowMinimum { min: Points },
    #[error("this pay code is unknown, used or expired: ask the customer for a new one")]
    PayCodeInvalid,
    #[error("paying with points is not switched on for this programme")]
    PaymentsOff,
    #[error(
        "this shop's prepaid points are used up ({left} left): its partner budget must be topped up before it gives more"
    )]
    PartnerBudgetSpent { left: Points },
    #[error("this voucher is for another partner's reward: only that partner can take it")]
    VoucherOtherPartner,
    #[error("not enough store credit: {available} on the account, {needed} needed")]
    InsufficientCredit {
        available: super::Money,
        needed: super::Money,
    },
}
