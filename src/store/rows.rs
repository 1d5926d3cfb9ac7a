//! Rows as both SQL stores read them, and their translation into domain records.
//! Column names and types are the same in `migrations/sqlite` and
//! `migrations/postgres`, so one set of row structs serves both backends.

use std::str::FromStr;

use chrono::{DateTime, Utc};

use super::sql::{FromRow, Row};
use super::{Result, StoreError};
use crate::domain::campaign::{Campaign, ItemMatch, Rule, Window, days_from_bits, days_to_bits};
use crate::domain::earn::{Breakdown, EarnRate};
use crate::domain::ledger::{EntryKind, LotView};
use crate::domain::model::*;
use crate::domain::notice::{BroadcastRow, BroadcastStatus, OutboxItem, Outcome};
use crate::domain::purchase::referral_due;
use crate::domain::tier::{Tier, Tiers};
use crate::domain::{Currency, Money, Points, Refusal};

/// A row struct whose fields are the columns of its `SELECT`, in order: decoded
/// by [`FromRow`] on both backends.
macro_rules! row {
    ($(#[$meta:meta])* $name:ident { $($field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        pub(super) struct $name { $(pub(super) $field: $ty,)* }

        impl FromRow for $name {
            fn from_row(row: &Row) -> Result<$name> {
                let mut c = row.cols();
                Ok($name { $($field: c.next()?,)* })
            }
        }
    };
}

row! {
    MerchantRow {
        id: String,
        name: String,
        currency: String,
        earn_points: i64,
        earn_per_minor: i64,
        webhook_secret: String,
        created_at: DateTime<Utc>,
        previous_secret: Option<String>,
        previous_secret_until: Option<DateTime<Utc>>,
    }
}

pub(super) fn currency(code: &str) -> Result<Currency> {
    Currency::from_str(code).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl TryFrom<MerchantRow> for Merchant {
    type Error = StoreError;
    fn try_from(r: MerchantRow) -> Result<Merchant> {
        Ok(Merchant {
            currency: currency(&r.currency)?,
            id: r.id,
            name: r.name,
            earn: EarnRate {
                points: r.earn_points,
                per_minor: r.earn_per_minor,
            },
            webhook_secret: Secret::new(r.webhook_secret),
            previous_secret: r
                .previous_secret
                .zip(r.previous_secret_until)
                .map(|(s, until)| (Secret::new(s), until)),
            created_at: r.created_at,
        })
    }
}

row! {
    MemberRow {
        id: i64,
        code: String,
        name: Option<String>,
        locale: Option<String>,
        telegram_id: Option<i64>,
        line_id: Option<String>,
        marketing_opt_in: bool,
        balance: i64,
        created_at: DateTime<Utc>,
        telegram_reachable: bool,
        line_reachable: bool,
        app_locale: Option<String>,
    }
}

impl From<MemberRow> for Member {
    fn from(r: MemberRow) -> Member {
        Member {
            id: r.id,
            code: r.code,
            name: r.name,
            locale: r.locale,
            app_locale: r.app_locale,
            telegram_id: r.telegram_id,
            line_id: r.line_id,
            marketing_opt_in: r.marketing_opt_in,
            telegram_reachable: r.telegram_reachable,
            line_reachable: r.line_reachable,
            balance: Points::new(r.balance),
            created_at: r.created_at,
        }
    }
}

row! {
    RewardRow {
        id: i64,
        name_th: String,
        name_en: String,
        description_th: String,
        description_en: String,
        cost: i64,
        stock: Option<i64>,
        per_member_limit: Option<i64>,
        valid_from: Option<DateTime<Utc>>,
        valid_until: Option<DateTime<Utc>>,
        face_value_minor: i64,
        currency: String,
        voucher_days: i64,
        active: bool,
        created_at: DateTime<Utc>,
    }
}

impl TryFrom<RewardRow> for Reward {
    type Error = StoreError;
    fn try_from(r: RewardRow) -> Result<Reward> {
        Ok(Reward {
            face_value: Money::from_minor(r.face_value_minor, currency(&r.currency)?),
            id: r.id,
            name_th: r.name_th,
            name_en: r.name_en,
            description_th: r.description_th,
            description_en: r.description_en,
            cost: Points::new(r.cost),
            stock: r.stock,
            per_member_limit: r.per_member_limit,
            valid_from: r.valid_from,
            valid_until: r.valid_until,
            voucher_days: u32::try_from(r.voucher_days).unwrap_or(u32::MAX),
            active: r.active,
            created_at: r.created_at,
        })
    }
}

row! {
    VoucherRow {
        id: i64,
        code: String,
        member_id: i64,
        reward_id: i64,
        points: i64,
        status: String,
        redeem_entry_id: i64,
        issued_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        used_at: Option<DateTime<Utc>>,
        used_by: Option<String>,
    }
}

impl TryFrom<VoucherRow> for Voucher {
    type Error = StoreError;
    fn try_from(r: VoucherRow) -> Result<Voucher> {
        Ok(Voucher {
            status: VoucherStatus::parse(&r.status)
                .ok_or_else(|| StoreError::Corrupt(format!("voucher status {:?}", r.status)))?,
            id: r.id,
            code: r.code,
            member_id: r.member_id,
            reward_id: r.reward_id,
            points: Points::new(r.points),
            issued_at: r.issued_at,
            expires_at: r.expires_at,
            used_at: r.used_at,
            used_by: r.used_by,
        })
    }
}

row! {
    EntryRow {
        id: i64,
        member_id: i64,
        kind: String,
        points: i64,
        balance_after: i64,
        merchant_id: Option<String>,
        reference: Option<String>,
        created_at: DateTime<Utc>,
    }
}

impl TryFrom<EntryRow> for Entry {
    type Error = StoreError;
    fn try_from(r: EntryRow) -> Result<Entry> {
        Ok(Entry {
            kind: EntryKind::parse(&r.kind)
                .ok_or_else(|| StoreError::Corrupt(format!("entry kind {:?}", r.kind)))?,
            id: r.id,
            member_id: r.member_id,
            points: Points::new(r.points),
            balance_after: Points::new(r.balance_after),
            merchant_id: r.merchant_id,
            reference: r.reference,
            created_at: r.created_at,
        })
    }
}

row! {
    LotRow {
        id: i64,
        points: i64,
        remaining: i64,
        earned_at: DateTime<Utc>,
        available_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        merchant_id: Option<String>,
    }
}

impl LotRow {
    pub(super) fn view(&self) -> LotView {
        LotView {
            id: self.id,
            remaining: self.remaining,
            available_at: self.available_at,
            expires_at: self.expires_at,
        }
    }
}

row! {
    PurchaseRow {
        id: i64,
        receipt_id: String,
        fingerprint: String,
        member_id: Option<i64>,
        member_code: Option<String>,
        amount_minor: i64,
        currency: String,
        points: i64,
        breakdown: String,
        balance_after: Option<i64>,
        available_at: DateTime<Utc>,
        claim_code: Option<String>,
        claim_expires_at: Option<DateTime<Utc>>,
        claimed_at: Option<DateTime<Utc>>,
        merchant_id: String,
        refunded_minor: i64,
        clawed_back: i64,
        referral_points: i64,
        referrer_points: i64,
    }
}

impl PurchaseRow {
    pub(super) fn receipt(&self) -> Result<PurchaseReceipt> {
        let breakdown = Breakdown::from_str(&self.breakdown)
            .map_err(|e| StoreError::Corrupt(format!("purchase breakdown: {e}")))?;
        // An unclaimed purchase answers with its claim code; once claimed, the
        // original answer (with that code) is still what a replay gets.
        Ok(PurchaseReceipt {
            purchase_id: self.id,
            receipt_id: self.receipt_id.clone(),
            points: Points::new(self.points),
            breakdown,
            member_code: if self.claim_code.is_none() {
                self.member_code.clone()
            } else {
                None
            },
            balance: self.balance_after.map(Points::new),
            available_at: self.available_at,
            claim_code: self.claim_code.clone(),
            claim_expires_at: self.claim_expires_at,
        })
    }
}

pub(super) const MERCHANT_COLUMNS: &str = "SELECT id, name, currency, earn_points, \
    earn_per_minor, webhook_secret, created_at, previous_secret, previous_secret_until \
    FROM merchants";

pub(super) const ENTRY_COLUMNS: &str = "SELECT id, member_id, kind, points, balance_after, \
    merchant_id, reference, created_at FROM entries";

pub(super) const LOT_COLUMNS: &str = "SELECT id, points, remaining, earned_at, available_at, \
    expires_at, merchant_id FROM lots";

/// The columns of `VOUCHER_COLUMNS`, for `RETURNING`.
pub(super) const VOUCHER_RETURNING: &str = "RETURNING id, code, member_id, reward_id, points, \
    status, redeem_entry_id, issued_at, expires_at, used_at, used_by";

pub(super) const PURCHASE_COLUMNS: &str = "SELECT p.id, p.receipt_id, p.fingerprint, p.member_id, \
    m.code AS member_code, p.amount_minor, p.currency, p.points, p.breakdown, p.balance_after, \
    p.available_at, p.claim_code, p.claim_expires_at, p.claimed_at, p.merchant_id, \
    p.refunded_minor, p.clawed_back, p.referral_points, p.referrer_points \
    FROM purchases p LEFT JOIN members m ON m.id = p.member_id";

pub(super) const MEMBER_COLUMNS: &str = "SELECT id, code, name, locale, telegram_id, line_id, \
    marketing_opt_in, balance, created_at, telegram_reachable, line_reachable, app_locale \
    FROM members";

/// The columns of `MEMBER_COLUMNS`, for `RETURNING`.
pub(super) const MEMBER_RETURNING: &str = "RETURNING id, code, name, locale, telegram_id, \
    line_id, marketing_opt_in, balance, created_at, telegram_reachable, line_reachable, app_locale";

pub(super) const VOUCHER_COLUMNS: &str = "SELECT id, code, member_id, reward_id, points, status, \
    redeem_entry_id, issued_at, expires_at, used_at, used_by FROM vouchers";

pub(super) const REWARD_COLUMNS: &str = "SELECT id, name_th, name_en, description_th, description_en, \
    cost, stock, per_member_limit, valid_from, valid_until, face_value_minor, currency, \
    voucher_days, active, created_at FROM rewards";

/// A movement of points to append.
pub(super) struct NewEntry<'a> {
    pub(super) member_id: i64,
    pub(super) kind: EntryKind,
    pub(super) points: i64,
    pub(super) merchant_id: Option<&'a str>,
    pub(super) purchase_id: Option<i64>,
    pub(super) voucher_id: Option<i64>,
    pub(super) lot_id: Option<i64>,
    pub(super) reference: Option<&'a str>,
    pub(super) now: DateTime<Utc>,
}

impl<'a> NewEntry<'a> {
    /// A referral bonus credited to `member_id` for `purchase_id`.
    pub(super) fn referral(
        member_id: i64,
        points: i64,
        merchant_id: &'a str,
        purchase_id: i64,
        now: DateTime<Utc>,
    ) -> NewEntry<'a> {
        NewEntry {
            member_id,
            kind: EntryKind::Earn,
            points,
            merchant_id: Some(merchant_id),
            purchase_id: Some(purchase_id),
            voucher_id: None,
            lot_id: None,
            reference: Some(REFERRAL_REFERENCE),
            now,
        }
    }
}

pub(super) fn voucher_refusal(v: &VoucherRow, now: DateTime<Utc>) -> Option<Refusal> {
    match v.status.as_str() {
        "used" => Some(Refusal::VoucherAlreadyUsed {
            used_at: v.used_at.unwrap_or(v.issued_at),
        }),
        "cancelled" => Some(Refusal::VoucherCancelled),
        "expired" => Some(Refusal::VoucherExpired {
            expires_at: v.expires_at,
        }),
        _ if v.expires_at <= now => Some(Refusal::VoucherExpired {
            expires_at: v.expires_at,
        }),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Earning rules

pub(super) const CAMPAIGN_COLUMNS: &str = "SELECT id, name_th, name_en, text_th, text_en, kind, \
    percent, points, stacks, item_sku, item_category, starts_at, ends_at, days, hour_from, \
    hour_to, merchants, tiers, min_spend_minor, budget, member_cap, awarded, ended_early_at, \
    created_at FROM campaigns";

row! {
    /// Also read from JSON (`json_agg`) by the PostgreSQL store.
    #[derive(serde::Deserialize)]
    CampaignRow {
        id: i64,
        name_th: String,
        name_en: String,
        text_th: String,
        text_en: String,
        kind: String,
        percent: Option<i64>,
        points: Option<i64>,
        stacks: bool,
        item_sku: Option<String>,
        item_category: Option<String>,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
        days: Option<i64>,
        hour_from: Option<i64>,
        hour_to: Option<i64>,
        merchants: Option<String>,
        tiers: Option<String>,
        min_spend_minor: Option<i64>,
        budget: Option<i64>,
        member_cap: Option<i64>,
        awarded: i64,
        ended_early_at: Option<DateTime<Utc>>,
        created_at: DateTime<Utc>,
    }
}

fn list(s: Option<String>) -> Vec<String> {
    s.map(|s| {
        s.split(',')
            .filter(|p| !p.is_empty())
            .map(String::from)
            .collect()
    })
    .unwrap_or_default()
}

fn pct(v: Option<i64>) -> Option<u32> {
    v.and_then(|p| u32::try_from(p).ok())
}

impl TryFrom<CampaignRow> for Campaign {
    type Error = StoreError;
    fn try_from(r: CampaignRow) -> Result<Campaign> {
        let corrupt = || StoreError::Corrupt(format!("campaign {} of kind {:?}", r.id, r.kind));
        let rule = match r.kind.as_str() {
            "multiplier" => Rule::Multiplier {
                percent: pct(r.percent).ok_or_else(corrupt)?,
                stacks: r.stacks,
            },
            "bonus" => Rule::Bonus {
                points: r.points.ok_or_else(corrupt)?,
            },
            "first_purchase" => Rule::FirstPurchase {
                points: r.points.ok_or_else(corrupt)?,
            },
            "items" => Rule::Items {
                matcher: match (&r.item_sku, &r.item_category) {
                    (Some(s), _) => ItemMatch::Sku(s.clone()),
                    (None, Some(c)) => ItemMatch::Category(c.clone()),
                    (None, None) => return Err(corrupt()),
                },
                percent: pct(r.percent),
                points_per_unit: r.points,
            },
            _ => return Err(corrupt()),
        };
        let hours = match (r.hour_from, r.hour_to) {
            (Some(a), Some(b)) => Some((
                u32::try_from(a).map_err(|_| corrupt())?,
                u32::try_from(b).map_err(|_| corrupt())?,
            )),
            _ => None,
        };
        Ok(Campaign {
            id: r.id,
            name_th: r.name_th,
            name_en: r.name_en,
            text_th: r.text_th,
            text_en: r.text_en,
            rule,
            window: Window {
                starts_at: r.starts_at,
                ends_at: r.ends_at,
                days: r.days.map(days_from_bits).unwrap_or_default(),
                hours,
            },
            merchants: list(r.merchants),
            tiers: list(r.tiers),
            min_spend_minor: r.min_spend_minor,
            budget: r.budget,
            member_cap: r.member_cap,
            awarded: r.awarded,
            ended_early_at: r.ended_early_at,
            created_at: r.created_at,
        })
    }
}

/// A campaign's rule and scopes as column values, for INSERT.
pub(super) struct CampaignColumns {
    pub(super) kind: &'static str,
    pub(super) percent: Option<i64>,
    pub(super) points: Option<i64>,
    pub(super) stacks: bool,
    pub(super) item_sku: Option<String>,
    pub(super) item_category: Option<String>,
    pub(super) days: Option<i64>,
    pub(super) hour_from: Option<i64>,
    pub(super) hour_to: Option<i64>,
    pub(super) merchants: Option<String>,
    pub(super) tiers: Option<String>,
}

impl CampaignColumns {
    pub(super) fn of(c: &Campaign) -> CampaignColumns {
        let joined = |v: &[String]| (!v.is_empty()).then(|| v.join(","));
        let (kind, percent, points, stacks, sku, category) = match &c.rule {
            Rule::Multiplier { percent, stacks } => {
                ("multiplier", Some(*percent), None, *stacks, None, None)
            }
            Rule::Bonus { points } => ("bonus", None, Some(*points), false, None, None),
            Rule::FirstPurchase { points } => {
                ("first_purchase", None, Some(*points), false, None, None)
            }
            Rule::Items {
                matcher,
                percent,
                points_per_unit,
            } => {
                let (sku, cat) = match matcher {
                    ItemMatch::Sku(s) => (Some(s.clone()), None),
                    ItemMatch::Category(c) => (None, Some(c.clone())),
                };
                ("items", *percent, *points_per_unit, false, sku, cat)
            }
        };
        CampaignColumns {
            kind,
            percent: percent.map(i64::from),
            points,
            stacks,
            item_sku: sku,
            item_category: category,
            days: (!c.window.days.is_empty()).then(|| days_to_bits(&c.window.days)),
            hour_from: c.window.hours.map(|h| i64::from(h.0)),
            hour_to: c.window.hours.map(|h| i64::from(h.1)),
            merchants: joined(&c.merchants),
            tiers: joined(&c.tiers),
        }
    }
}

row! {
    TierRow {
        key: String,
        name_th: String,
        name_en: String,
        threshold_minor: i64,
        multiplier_percent: i64,
    }
}

pub(super) const TIER_COLUMNS: &str =
    "SELECT key, name_th, name_en, threshold_minor, multiplier_percent FROM tiers";

pub(super) fn tiers_from_rows(rows: Vec<TierRow>) -> Result<Tiers> {
    Tiers::new(
        rows.into_iter()
            .map(|r| Tier {
                key: r.key,
                name_th: r.name_th,
                name_en: r.name_en,
                threshold_minor: r.threshold_minor,
                multiplier_percent: u32::try_from(r.multiplier_percent).unwrap_or(100),
            })
            .collect(),
    )
    .map_err(|e| StoreError::Corrupt(format!("tiers: {e}")))
}

row! {
    TierChangeRow {
        member_id: i64,
        from_tier: Option<String>,
        to_tier: String,
        spend_minor: i64,
        reason: String,
        created_at: DateTime<Utc>,
    }
}

pub(super) const TIER_CHANGE_COLUMNS: &str =
    "SELECT member_id, from_tier, to_tier, spend_minor, reason, created_at FROM tier_changes";

impl From<TierChangeRow> for TierChange {
    fn from(r: TierChangeRow) -> TierChange {
        TierChange {
            member_id: r.member_id,
            from: r.from_tier,
            to: r.to_tier,
            spend_minor: r.spend_minor,
            reason: r.reason,
            at: r.created_at,
        }
    }
}

/// The reference of the entries that pay (and take back) a referral bonus.
pub(super) const REFERRAL_REFERENCE: &str = "referral";

// ---------------------------------------------------------------------------
// The outbox

pub(super) fn channel_name(c: Channel) -> &'static str {
    match c {
        Channel::Telegram => "telegram",
        Channel::Line => "line",
    }
}

pub(super) const OUTBOX_COLUMNS: &str = "SELECT o.id, o.member_id, o.channel, o.payload, \
    o.attempts, o.batch_key, COALESCE(o.locale, m.locale) AS locale, m.telegram_id, m.line_id, \
    m.telegram_reachable, m.line_reachable, m.marketing_opt_in, m.app_locale \
    FROM outbox o JOIN members m ON m.id = o.member_id";

row! {
    OutboxRow {
        id: i64,
        member_id: i64,
        channel: String,
        payload: String,
        attempts: i64,
        batch_key: Option<String>,
        locale: Option<String>,
        telegram_id: Option<i64>,
        line_id: Option<String>,
        telegram_reachable: bool,
        line_reachable: bool,
        marketing_opt_in: bool,
        app_locale: Option<String>,
    }
}

impl TryFrom<OutboxRow> for OutboxItem {
    type Error = StoreError;
    fn try_from(r: OutboxRow) -> Result<OutboxItem> {
        let channel = match r.channel.as_str() {
            "telegram" => Channel::Telegram,
            "line" => Channel::Line,
            other => return Err(StoreError::Corrupt(format!("outbox channel {other:?}"))),
        };
        let notice = serde_json::from_str(&r.payload)
            .map_err(|e| StoreError::Corrupt(format!("outbox {}: {e}", r.id)))?;
        let reachable = match channel {
            Channel::Telegram => r.telegram_id.is_some() && r.telegram_reachable,
            Channel::Line => r.line_id.is_some() && r.line_reachable,
        };
        Ok(OutboxItem {
            id: r.id,
            member_id: r.member_id,
            channel,
            notice,
            attempts: r.attempts,
            batch_key: r.batch_key,
            locale: r.locale,
            app_locale: r.app_locale,
            telegram_id: r.telegram_id,
            line_id: r.line_id,
            reachable,
            marketing_opt_in: r.marketing_opt_in,
        })
    }
}

/// The SQL condition (on `members`) of who a broadcast goes to.
pub(super) const BROADCAST_AUDIENCE: &str = "marketing_opt_in \
    AND ((telegram_id IS NOT NULL AND telegram_reachable) OR (line_id IS NOT NULL AND line_reachable))";

pub(super) fn broadcast_key(campaign_id: i64, r: &BroadcastRow) -> String {
    format!(
        "broadcast:{campaign_id}:{}:{}",
        r.member_id,
        channel_name(r.channel)
    )
}

pub(super) fn status_from_counts(counts: &[(String, i64)]) -> BroadcastStatus {
    let mut s = BroadcastStatus::default();
    for (status, n) in counts {
        match status.as_str() {
            "queued" => s.queued = *n,
            "sent" => s.sent = *n,
            "failed" => s.failed = *n,
            "unreachable" => s.unreachable = *n,
            "skipped" => s.skipped = *n,
            _ => {}
        }
    }
    s
}

/// The final status (and error) an outcome other than a retry records.
pub(super) fn finished(outcome: &Outcome) -> (&'static str, Option<&str>) {
    match outcome {
        Outcome::Sent => ("sent", None),
        Outcome::Unreachable => ("unreachable", None),
        Outcome::Skipped => ("skipped", None),
        Outcome::Failed(e) | Outcome::Retry(e) => ("failed", Some(e)),
    }
}

/// Whether claiming a receipt pays the claimer's referral: a receipt bought
/// without a member code is their purchase too, counted as what is left of it
/// after refunds.
pub(super) fn referral_due_on_claim(
    member: (Option<i64>, bool),
    p: &PurchaseRow,
    program_currency: &str,
    r: &ReferralRule,
) -> bool {
    let net = p.amount_minor - p.refunded_minor;
    referral_due(member, (&p.currency, net), program_currency, r)
}
