//! Pricing a purchase and what follows from it: the buyer as the rules see
//! them, whether a referral is due, what counts towards tiers, the "points
//! earned" notice. Pure: both stores read the facts inside the purchase's
//! transaction and call these.

use chrono::{DateTime, Utc};

use super::campaign::{Campaign, Earning, MemberFacts, Offer, PurchaseFacts, evaluate};
use super::model::{LotTiming, PurchaseCommand, ReferralRule};
use super::notice::{Notice, NoticeLine};
use super::{Points, Refusal};

/// The member a purchase belongs to, as read under their lock.
pub struct Buyer {
    pub id: i64,
    pub code: String,
    pub balance: i64,
    pub tier: Option<String>,
    pub referred_by: Option<i64>,
    pub referral_paid: bool,
    /// Whether any purchase of theirs was recorded before.
    pub has_purchases: bool,
    /// Whether a chat app reaches them (so notices are worth queuing).
    pub has_channel: bool,
}

impl Buyer {
    /// Whether this purchase pays the member's referral: they were invited, it
    /// is not paid yet, and the purchase is big enough, in the program currency.
    pub fn referral_due(&self, cmd: &PurchaseCommand) -> bool {
        referral_due(
            (self.referred_by, self.referral_paid),
            (cmd.amount.currency().code(), cmd.amount.minor()),
            cmd.rules.currency.code(),
            &cmd.rules.referral,
        )
    }
}

/// Whether a purchase of `amount_minor` in `currency` pays a member's referral:
/// they were invited, it is not paid yet, and the purchase is big enough, in
/// the program currency.
pub fn referral_due(
    (referred_by, paid): (Option<i64>, bool),
    (currency, amount_minor): (&str, i64),
    program_currency: &str,
    r: &ReferralRule,
) -> bool {
    referred_by.is_some()
        && !paid
        && (r.referrer_points > 0 || r.referee_points > 0)
        && currency == program_currency
        && amount_minor > 0
        && amount_minor >= r.min_spend_minor
}

/// Prices a purchase: `used` is what each capped campaign already gave this member.
pub fn price(
    cmd: &PurchaseCommand,
    buyer: Option<&Buyer>,
    campaigns: &[Campaign],
    used: &[(i64, i64)],
) -> Earning {
    let member = buyer.map(|b| MemberFacts {
        member_id: b.id,
        tier: cmd.rules.tiers.get(b.tier.as_deref()).clone(),
        first_purchase: !b.has_purchases,
        referral_bonus: b
            .referral_due(cmd)
            .then_some(Points::new(cmd.rules.referral.referee_points)),
    });
    let offers: Vec<Offer<'_>> = campaigns
        .iter()
        .map(|c| Offer {
            campaign: c,
            member_left: c.member_cap.map(|cap| {
                cap - used
                    .iter()
                    .find(|(id, _)| *id == c.id)
                    .map_or(0, |(_, p)| *p)
            }),
        })
        .collect();
    evaluate(
        &PurchaseFacts {
            merchant_id: &cmd.merchant_id,
            amount: cmd.amount,
            items: &cmd.items,
            occurred_at: cmd.occurred_at,
            rate: cmd.rate,
            tz: cmd.rules.tz,
        },
        member.as_ref(),
        &offers,
    )
}

/// The ids of campaigns with a per-member cap, whose use by the buyer must be read.
pub fn capped(campaigns: &[Campaign]) -> Vec<i64> {
    campaigns
        .iter()
        .filter(|c| c.member_cap.is_some())
        .map(|c| c.id)
        .collect()
}

/// What a purchase adds to its member's rolling spend (in the program currency,
/// and inside the window).
pub fn counted_spend(cmd: &PurchaseCommand) -> i64 {
    let counts = cmd.amount.currency() == cmd.rules.currency
        && cmd.occurred_at > super::tier::window_start(cmd.now);
    if counts { cmd.amount.minor() } else { 0 }
}

/// The "points earned" notice for a purchase, its lines named in both languages.
pub fn earned_notice(
    cmd: &PurchaseCommand,
    earning: &Earning,
    campaigns: &[Campaign],
    balance: i64,
) -> Notice {
    let lines = earning
        .breakdown
        .0
        .iter()
        .map(|l| {
            let (th, en) = match (l.rule.as_str(), l.campaign_id) {
                ("campaign", Some(id)) => campaigns
                    .iter()
                    .find(|c| c.id == id)
                    .map(|c| (Some(c.name_th.clone()), Some(c.name_en.clone())))
                    .unwrap_or((None, l.name.clone())),
                ("tier", _) => {
                    let t = cmd.rules.tiers.get(l.name.as_deref());
                    (Some(t.name_th.clone()), Some(t.name_en.clone()))
                }
                _ => (None, None),
            };
            NoticeLine {
                rule: l.rule.clone(),
                name_th: th,
                name_en: en,
                points: l.points.value(),
            }
        })
        .collect();
    Notice::Earned {
        merchant_id: cmd.merchant_id.clone(),
        receipt_id: cmd.receipt_id.clone(),
        points: earning.breakdown.total().value(),
        balance,
        lines,
    }
}

/// What paying a referral needs besides the members: the rule, where and when.
pub struct ReferralPayment<'a> {
    pub rule: ReferralRule,
    pub merchant_id: &'a str,
    pub timing: LotTiming,
    pub now: DateTime<Utc>,
}

impl<'a> ReferralPayment<'a> {
    pub fn of(cmd: &'a PurchaseCommand) -> ReferralPayment<'a> {
        ReferralPayment {
            rule: cmd.rules.referral,
            merchant_id: &cmd.merchant_id,
            timing: cmd.timing,
            now: cmd.now,
        }
    }
}

/// Whether a receipt bought without a member code can be claimed now: not
/// claimed (or bought by a member) already, and its code not expired.
pub fn decide_claim(
    taken: bool,
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), Refusal> {
    if taken {
        return Err(Refusal::ClaimAlreadyClaimed);
    }
    match expires_at {
        Some(expires_at) if expires_at <= now => Err(Refusal::ClaimExpired { expires_at }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receipt_is_claimed_once_and_not_after_its_code_expires() {
        let now = DateTime::from_timestamp(1_795_000_000, 0).unwrap();
        let later = now + chrono::Duration::days(1);
        assert_eq!(decide_claim(false, Some(later), now), Ok(()));
        assert_eq!(decide_claim(false, None, now), Ok(()));
        assert_eq!(
            decide_claim(true, Some(later), now),
            Err(Refusal::ClaimAlreadyClaimed)
        );
        assert_eq!(
            decide_claim(false, Some(now), now),
            Err(Refusal::ClaimExpired { expires_at: now })
        );
    }

    #[test]
    fn a_referral_is_due_once_on_a_big_enough_purchase_in_the_program_currency() {
        let rule = ReferralRule {
            referrer_points: 50,
            referee_points: 50,
            min_spend_minor: 10_000,
        };
        let due = |member, purchase| referral_due(member, purchase, "THB", &rule);
        assert!(due((Some(1), false), ("THB", 10_000)));
        assert!(!due((Some(1), true), ("THB", 10_000)), "paid already");
        assert!(!due((None, false), ("THB", 10_000)), "not invited");
        assert!(!due((Some(1), false), ("THB", 9_999)), "too small");
        assert!(!due((Some(1), false), ("USD", 10_000)), "another currency");
        let off = ReferralRule {
            referrer_points: 0,
            referee_points: 0,
            ..rule
        };
        assert!(!referral_due(
            (Some(1), false),
            ("THB", 10_000),
            "THB",
            &off
        ));
    }
}
