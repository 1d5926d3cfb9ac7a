//! The programme's settings: currency, expiry, referrals, tiers, payments at
//! the till, reports and privacy.

use serde::Serialize;

use super::money::Currency;
use super::tier::Tiers;

/// Program-wide settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Program {
    pub name: String,
    /// Months after which earned points expire (at the end of that local day).
    pub expiry_months: u32,
    /// Days after a purchase before its points can be spent.
    pub pending_days: u32,
    /// The currency tier thresholds and referral minimum spends are in; only
    /// purchases in it count towards tiers.
    pub currency: Currency,
    pub referral: ReferralRule,
    pub tiers: Tiers,
    /// A console session unused this long ends (1 to 720).
    pub session_idle_hours: u32,
    /// Paying with points at the till: what points are worth (`None`: off),
    /// the fewest points a payment takes, and how long a hold lasts.
    #[serde(serialize_with = "serialize_pay")]
    pub pay: Option<crate::domain::payment::PayRate>,
    pub pay_min_points: i64,
    pub pay_hold_minutes: u32,
    /// Whether the part of a bill paid with points earns points.
    pub pay_earns: bool,
    /// What reports value points at, and how they cut.
    pub reports: crate::domain::liability::ReportSettings,
    /// The privacy notice and how long inactive members' data is kept.
    pub privacy: crate::domain::privacy::PrivacySettings,
    /// Moves with every change of these settings (tiers included): a purchase
    /// priced under settings of another version is priced again.
    #[serde(skip)]
    pub version: i64,
}

impl Default for Program {
    fn default() -> Self {
        Program {
            name: "taem".into(),
            expiry_months: 12,
            pending_days: 0,
            currency: Currency::THB,
            referral: ReferralRule::default(),
            tiers: Tiers::standard(Currency::THB),
            session_idle_hours: 12,
            pay: None,
            pay_min_points: 1,
            pay_hold_minutes: 5,
            pay_earns: false,
            reports: Default::default(),
            privacy: Default::default(),
            version: 0,
        }
    }
}

/// Bonuses for bringing a friend: paid once, when the referred member's first
/// purchase of at least `min_spend_minor` is recorded; taken back if that
/// purchase is refunded in full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ReferralRule {
    /// To the member who invited.
    pub referrer_points: i64,
    /// To the member who joined through the invitation.
    pub referee_points: i64,
    pub min_spend_minor: i64,
}

impl Default for ReferralRule {
    fn default() -> Self {
        ReferralRule {
            referrer_points: 50,
            referee_points: 50,
            min_spend_minor: 0,
        }
    }
}

/// A pay rate as JSON answers write it: `{"points": 4, "amount": "1.00"}` or null.
fn serialize_pay<S: serde::Serializer>(
    p: &Option<crate::domain::payment::PayRate>,
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    match p {
        None => s.serialize_none(),
        Some(r) => {
            let mut m = s.serialize_map(Some(2))?;
            m.serialize_entry("points", &r.points)?;
            m.serialize_entry("minor", &r.minor)?;
            m.end()
        }
    }
}
