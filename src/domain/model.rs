//! The records of the program as the rest of taem sees them. Stores translate
//! their rows into these; services and front-ends never see a row.

pub use super::ledger::LedgerAudit;
use super::offer::{RewardKind, Takeoff};
pub use super::payment::{PointPayment, ReserveCommand};
pub use super::program::{Program, ReferralRule};
use super::staff::NewAudit;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use chrono_tz::Tz;

use super::campaign::Item;
use super::codes::{ClaimCode, MemberCode, VoucherCode};
use super::earn::{Breakdown, EarnRate, RuleHit};
use super::ledger::EntryKind;
use super::money::{Amount, Currency, Money};
use super::points::Points;
use super::refusal::Refusal;
use super::tier::Tiers;

/// A secret that never shows in logs or `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone)]
pub struct Merchant {
    pub id: String,
    pub name: String,
    pub currency: Currency,
    pub earn: EarnRate,
    pub webhook_secret: Secret,
    /// The secret before the last rotation, and until when it is still accepted.
    pub previous_secret: Option<(Secret, DateTime<Utc>)>,
    pub created_at: DateTime<Utc>,
}

impl Merchant {
    /// The secrets a request may be signed with at `now`: the current one and,
    /// during a rotation's grace period, the previous one.
    pub fn secrets(&self, now: DateTime<Utc>) -> Vec<&str> {
        let mut out = vec![self.webhook_secret.expose()];
        if let Some((old, until)) = &self.previous_secret
            && now < *until
        {
            out.push(old.expose());
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    pub id: i64,
    pub code: String,
    pub name: Option<String>,
    /// The language the member chose (`/lang`), if they did.
    pub locale: Option<String>,
    /// The language their chat app reported when they last wrote.
    pub app_locale: Option<String>,
    pub telegram_id: Option<i64>,
    pub line_id: Option<String>,
    pub marketing_opt_in: bool,
    /// Whether messages reach them on Telegram (false once they block the bot).
    pub telegram_reachable: bool,
    /// Whether messages reach them on LINE (false once they unfollow).
    pub line_reachable: bool,
    pub balance: Points,
    pub created_at: DateTime<Utc>,
    /// Their phone number in E.164, if they gave it.
    pub phone: Option<String>,
    /// Their store credit, in minor units of the programme's currency (shown
    /// as money by `MemberSummary`).
    #[serde(skip)]
    pub credit_minor: i64,
    /// When they were asked for marketing consent (asked once).
    #[serde(skip)]
    pub consent_asked_at: Option<DateTime<Utc>>,
    /// The last day they wrote in chat (kept once a day, for retention).
    #[serde(skip)]
    pub last_seen_at: Option<DateTime<Utc>>,
    /// When their personal data was erased: the row is an anonymous stub.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub erased_at: Option<DateTime<Utc>>,
}

/// The ways to find a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberRef {
    Id(i64),
    Code(MemberCode),
    Telegram(i64),
    Line(String),
    /// A phone number in E.164 (see `domain::phone`).
    Phone(String),
}

/// Changes a member makes to their own settings; `None` leaves a field as is.
/// (Marketing consent is given and withdrawn through its log:
/// `Loyalty::set_marketing`.)
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberUpdate {
    pub locale: Option<String>,
    pub app_locale: Option<String>,
}

/// A chat platform a member uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Telegram,
    Line,
}

#[derive(Debug, Clone, Default)]
pub struct NewMember {
    pub name: Option<String>,
    pub locale: Option<String>,
    pub app_locale: Option<String>,
    pub telegram_id: Option<i64>,
    pub line_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Reward {
    pub id: i64,
    pub name_th: String,
    pub name_en: String,
    pub description_th: String,
    pub description_en: String,
    #[schema(value_type = i64)]
    pub cost: Points,
    /// Vouchers left to issue; `None` means unlimited.
    pub stock: Option<i64>,
    /// Vouchers one member may hold or have used; `None` means no limit.
    pub per_member_limit: Option<i64>,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_until: Option<DateTime<Utc>>,
    /// What one voucher is worth to the customer (a fixed discount's amount off)
    #[serde(serialize_with = "serialize_money")]
    #[schema(value_type = MoneyJson)]
    pub face_value: Money,
    /// Days a voucher stays usable after it is issued.
    pub voucher_days: u32,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    /// The current picture's name (`None`: no picture); see
    /// [`crate::domain::picture`].
    pub picture: Option<String>,
    /// What it gives: `{"type": "product", "sku": ...}`, `fixed_discount`
    /// (`min_basket`), `percent_discount` (`percent`, `cap`, `categories`,
    /// `min_basket`) or `draw_entry`
    #[serde(serialize_with = "serialize_kind")]
    #[schema(value_type = Object)]
    pub kind: RewardKind,
    /// The partner whose reward it is: only its staff and signed API take
    /// its vouchers (`None`: the programme's, taken by any shop)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partner_id: Option<String>,
}

/// A reward's kind as JSON answers write it: `{"type": "percent_discount",
/// "percent": "15", "cap": {...}, ...}`.
fn serialize_kind<S: serde::Serializer>(k: &RewardKind, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(None)?;
    m.serialize_entry("type", k.as_str())?;
    match k {
        RewardKind::Product { sku } => m.serialize_entry("sku", sku)?,
        RewardKind::FixedDiscount { min_basket, .. } => {
            m.serialize_entry("min_basket", &min_basket.as_ref().map(MoneyJson::from))?
        }
        RewardKind::PercentDiscount {
            basis_points,
            cap,
            categories,
            min_basket,
        } => {
            m.serialize_entry(
                "percent",
                &crate::domain::offer::percent_text(*basis_points),
            )?;
            m.serialize_entry("cap", &cap.as_ref().map(MoneyJson::from))?;
            m.serialize_entry("categories", categories)?;
            m.serialize_entry("min_basket", &min_basket.as_ref().map(MoneyJson::from))?;
        }
        RewardKind::Cashback { .. } | RewardKind::DrawEntry => {}
    }
    m.end()
}

impl Reward {
    /// Whether it can be redeemed at `now`: active and inside its window.
    pub fn offered(&self, now: DateTime<Utc>) -> bool {
        self.active
            && self.valid_from.is_none_or(|t| t <= now)
            && self.valid_until.is_none_or(|t| t > now)
    }
}

#[derive(Debug, Clone)]
pub struct NewReward {
    pub name_th: String,
    pub name_en: String,
    pub description_th: String,
    pub description_en: String,
    pub cost: Points,
    pub stock: Option<i64>,
    pub per_member_limit: Option<i64>,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_until: Option<DateTime<Utc>>,
    pub face_value: Money,
    pub voucher_days: u32,
    pub kind: RewardKind,
    pub partner_id: Option<String>,
}

/// Money as JSON answers write it: `{"amount": "60.00", "currency": "THB"}`.
/// Fields of type [`Money`] are serialized through it (`serialize_money`), and
/// the API document describes them with its schema.
#[derive(Serialize, ToSchema)]
#[schema(as = Money, description = "An amount of money and its currency")]
pub struct MoneyJson {
    #[schema(value_type = Amount)]
    pub amount: String,
    #[schema(examples("THB"))]
    pub currency: String,
}

impl From<&Money> for MoneyJson {
    fn from(m: &Money) -> MoneyJson {
        MoneyJson {
            amount: m.to_decimal_string(),
            currency: m.currency().code().to_string(),
        }
    }
}

pub fn serialize_money<S: serde::Serializer>(m: &Money, s: S) -> Result<S::Ok, S::Error> {
    MoneyJson::from(m).serialize(s)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VoucherStatus {
    Issued,
    Used,
    Expired,
    Cancelled,
}

impl VoucherStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VoucherStatus::Issued => "issued",
            VoucherStatus::Used => "used",
            VoucherStatus::Expired => "expired",
            VoucherStatus::Cancelled => "cancelled",
        }
    }
    pub fn parse(s: &str) -> Option<VoucherStatus> {
        Some(match s {
            "issued" => VoucherStatus::Issued,
            "used" => VoucherStatus::Used,
            "expired" => VoucherStatus::Expired,
            "cancelled" => VoucherStatus::Cancelled,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Voucher {
    pub id: i64,
    pub code: String,
    pub member_id: i64,
    pub reward_id: i64,
    pub points: Points,
    pub status: VoucherStatus,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub used_by: Option<String>,
}

impl Voucher {
    /// Why the voucher cannot be used (or given back) at `now`, if it cannot.
    pub fn refusal(&self, now: DateTime<Utc>) -> Option<Refusal> {
        match self.status {
            VoucherStatus::Used => Some(Refusal::VoucherAlreadyUsed {
                used_at: self.used_at.unwrap_or(self.issued_at),
            }),
            VoucherStatus::Cancelled => Some(Refusal::VoucherCancelled),
            VoucherStatus::Expired => Some(Refusal::VoucherExpired {
                expires_at: self.expires_at,
            }),
            VoucherStatus::Issued if self.expires_at <= now => Some(Refusal::VoucherExpired {
                expires_at: self.expires_at,
            }),
            VoucherStatus::Issued => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub id: i64,
    pub member_id: i64,
    pub kind: EntryKind,
    pub points: Points,
    pub balance_after: Points,
    pub merchant_id: Option<String>,
    /// The receipt, refund, voucher code or adjustment reason behind the entry.
    pub reference: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lot {
    pub id: i64,
    pub points: Points,
    pub remaining: Points,
    pub earned_at: DateTime<Utc>,
    pub available_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub merchant_id: Option<String>,
}

/// When points credited now become spendable and when they expire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LotTiming {
    pub available_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// What the earning rules need from the program's settings.
#[derive(Debug, Clone)]
pub struct RuleSettings {
    /// The [`Program::version`] these settings were read at.
    pub version: i64,
    pub tz: Tz,
    pub currency: Currency,
    pub tiers: Tiers,
    pub referral: ReferralRule,
}

/// A purchase to record; the store prices it with the earning rules
/// ([`crate::domain::campaign::evaluate`]) inside its transaction, where budgets,
/// the member's tier and their history are read consistently.
#[derive(Debug, Clone)]
pub struct PurchaseCommand {
    pub merchant_id: String,
    pub receipt_id: String,
    pub amount: Money,
    pub member_code: Option<MemberCode>,
    pub occurred_at: DateTime<Utc>,
    /// The purchase's items as given, kept for later rules and reports.
    pub items_json: Option<String>,
    /// The purchase's items, as the earning rules read them.
    pub items: Vec<Item>,
    /// A digest of the request: the same receipt with another digest is a conflict.
    pub fingerprint: String,
    /// The merchant's base earn rate.
    pub rate: EarnRate,
    /// Settings the earning rules need, read inside the purchase's transaction.
    pub rules: RuleSettings,
    pub timing: LotTiming,
    /// Used only when there is no member: whoever claims it gets the points.
    pub claim_code: ClaimCode,
    pub claim_expires_at: DateTime<Utc>,
    pub now: DateTime<Utc>,
    /// Staff who record it (the console): appended to the audit log in the
    /// same transaction, with the receipt as the value after.
    pub audit: Option<NewAudit>,
    /// Whether the part of the bill paid with points (payments captured with
    /// this receipt id) is left out of what earns points.
    pub points_paid_earn_nothing: bool,
}

/// The answer to a recorded purchase; replays return the original one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PurchaseReceipt {
    pub purchase_id: i64,
    pub receipt_id: String,
    /// Points earned
    #[schema(value_type = i64)]
    pub points: Points,
    /// Every rule that applied
    #[schema(value_type = Vec<RuleHit>)]
    pub breakdown: Breakdown,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub member_code: Option<String>,
    /// The member's balance after the purchase (present when the member is known)
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>, nullable = false)]
    pub balance: Option<Points>,
    /// When the points become spendable (later than now under a pending period)
    pub available_at: DateTime<Utc>,
    /// Present when no member_code was given and points were earned: whoever
    /// claims it first gets the points
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub claim_code: Option<String>,
    /// 30 days after the purchase
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub claim_expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct RefundCommand {
    pub merchant_id: String,
    pub refund_id: String,
    pub receipt_id: String,
    pub amount: Money,
    pub fingerprint: String,
    pub now: DateTime<Utc>,
    /// Audited in the same transaction (see [`PurchaseCommand::audit`]).
    pub audit: Option<NewAudit>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RefundReceipt {
    pub refund_id: String,
    pub receipt_id: String,
    pub purchase_id: i64,
    /// floor(earned × refunded so far ÷ amount) minus what earlier refunds took
    #[schema(value_type = i64)]
    pub points_clawed_back: Points,
    /// Money still refundable on the purchase after this refund
    #[schema(value_type = Amount)]
    pub refundable_amount: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub member_code: Option<String>,
    /// May be negative when the points were already spent
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>, nullable = false)]
    pub balance: Option<Points>,
    /// Points given back because they had paid for part of the sale (in
    /// proportion to the refund); absent when none did
    #[serde(skip_serializing_if = "Points::is_zero")]
    #[schema(value_type = i64)]
    pub points_returned: Points,
    /// Store credit given back because it had paid for part of the sale (in
    /// proportion to the refund); absent when none did
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Amount>, nullable = false)]
    pub credit_returned: Option<String>,
}

/// A new answer, or the stored answer to a request seen before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded<T> {
    New(T),
    Replay(T),
}

impl<T> Recorded<T> {
    pub fn into_inner(self) -> T {
        match self {
            Recorded::New(t) | Recorded::Replay(t) => t,
        }
    }
    pub fn is_new(&self) -> bool {
        matches!(self, Recorded::New(_))
    }
}

#[derive(Debug, Clone)]
pub struct RedeemCommand {
    pub member_id: i64,
    pub reward_id: i64,
    /// A key from the front-end (a button press id): the same key never redeems twice.
    pub request_key: Option<String>,
    pub code: VoucherCode,
    /// Push "voucher issued" to the member (not when the chat's answer shows it).
    pub notify: bool,
    pub now: DateTime<Utc>,
    /// Audited in the same transaction (see [`PurchaseCommand::audit`]).
    pub audit: Option<NewAudit>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VoucherUse {
    pub voucher: Voucher,
    pub reward: Reward,
    pub member: Member,
    /// What the till takes off the bill.
    pub takeoff: Takeoff,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClaimReceipt {
    pub receipt_id: String,
    pub merchant_id: String,
    pub points: Points,
    pub balance: Points,
}

#[derive(Debug, Clone)]
pub struct AdjustCommand {
    pub member_id: i64,
    pub delta: Points,
    pub reason: String,
    pub timing: LotTiming,
    pub now: DateTime<Utc>,
    /// Audited in the same transaction (see [`PurchaseCommand::audit`]).
    pub audit: Option<NewAudit>,
}

/// What one pruning did: rows deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Pruned {
    pub link_tokens: u64,
    pub inbound_events: u64,
    pub guesses: u64,
}

/// What one expiry sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ExpirySweep {
    pub lots_expired: u64,
    pub points_expired: i64,
    pub vouchers_expired: u64,
    pub points_released: i64,
    /// Payments with points whose hold ran out (their points are in
    /// `points_released`).
    pub payments_expired: u64,
}

/// What a campaign has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct CampaignResults {
    /// Bonus points given.
    pub points: i64,
    pub purchases: i64,
    pub members: i64,
    /// Money spent in the purchases that got a bonus (minor units).
    pub sales_minor: i64,
}

/// A move between tiers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TierChange {
    pub member_id: i64,
    /// The tier's key before the move
    pub from: Option<String>,
    pub to: String,
    pub spend_minor: i64,
    pub reason: String,
    pub at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn voucher(status: VoucherStatus, expires_in: Duration, now: DateTime<Utc>) -> Voucher {
        Voucher {
            id: 1,
            code: "V".into(),
            member_id: 1,
            reward_id: 1,
            points: Points::new(100),
            status,
            issued_at: now - Duration::days(1),
            expires_at: now + expires_in,
            used_at: (status == VoucherStatus::Used).then_some(now - Duration::hours(1)),
            used_by: None,
        }
    }

    #[test]
    fn only_an_issued_voucher_before_its_expiry_can_be_used() {
        let now = Utc::now();
        let day = Duration::days(1);
        assert_eq!(voucher(VoucherStatus::Issued, day, now).refusal(now), None);
        assert_eq!(
            voucher(VoucherStatus::Issued, Duration::zero(), now).refusal(now),
            Some(Refusal::VoucherExpired { expires_at: now })
        );
        assert_eq!(
            voucher(VoucherStatus::Used, day, now).refusal(now),
            Some(Refusal::VoucherAlreadyUsed {
                used_at: now - Duration::hours(1)
            })
        );
        assert_eq!(
            voucher(VoucherStatus::Cancelled, day, now).refusal(now),
            Some(Refusal::VoucherCancelled)
        );
        assert!(matches!(
            voucher(VoucherStatus::Expired, day, now).refusal(now),
            Some(Refusal::VoucherExpired { .. })
        ));
    }
}
