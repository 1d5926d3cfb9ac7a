//! Rows as both SQL stores read them, and their translation into domain records.
//! Column names and types are the same in `migrations/sqlite` and
//! `migrations/postgres`, so one set of decoders serves both backends; each reads
//! the columns of its `*_COLUMNS` list, in order.

use std::str::FromStr;

use chrono::{DateTime, Utc};

use super::sql::{Cols, FromRow, Row};
use super::{Result, StoreError};
use crate::domain::earn::{Breakdown, EarnRate};
use crate::domain::ledger::{EntryKind, LotView};
use crate::domain::model::*;
use crate::domain::offer::RewardKind;
use crate::domain::{Currency, Money, Points};

/// A row struct whose fields are the columns of its `SELECT`, in order: decoded
/// by [`FromRow`] on both backends.
macro_rules! row {
    ($(#[$meta:meta])* $name:ident { $($field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        pub(in crate::store) struct $name { $(pub(in crate::store) $field: $ty,)* }

        impl FromRow for $name {
            fn from_row(row: &Row) -> Result<$name> {
                let mut c = row.cols();
                Ok($name { $($field: c.next()?,)* })
            }
        }
    };
}

mod outbox;
mod rules;

pub(in crate::store) use outbox::*;
pub(in crate::store) use rules::*;

pub(in crate::store) fn currency(code: &str) -> Result<Currency> {
    Currency::from_str(code).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl FromRow for Merchant {
    /// From `MERCHANT_COLUMNS`.
    fn from_row(row: &Row) -> Result<Merchant> {
        let mut c = row.cols();
        Ok(Merchant {
            id: c.next()?,
            name: c.next()?,
            currency: currency(&c.next::<String>()?)?,
            earn: EarnRate {
                points: c.next()?,
                per_minor: c.next()?,
            },
            webhook_secret: Secret::new(c.next::<String>()?),
            created_at: c.next()?,
            previous_secret: c
                .next::<Option<String>>()?
                .zip(c.next::<Option<DateTime<Utc>>>()?)
                .map(|(s, until)| (Secret::new(s), until)),
        })
    }
}

impl FromRow for Member {
    /// From `MEMBER_COLUMNS`.
    fn from_row(row: &Row) -> Result<Member> {
        let mut c = row.cols();
        Ok(Member {
            id: c.next()?,
            code: c.next()?,
            name: c.next()?,
            locale: c.next()?,
            telegram_id: c.next()?,
            line_id: c.next()?,
            marketing_opt_in: c.next()?,
            balance: Points::new(c.next()?),
            created_at: c.next()?,
            telegram_reachable: c.next()?,
            line_reachable: c.next()?,
            app_locale: c.next()?,
            phone: c.next()?,
            credit_minor: c.next()?,
            consent_asked_at: c.next()?,
            last_seen_at: c.next()?,
            erased_at: c.next()?,
        })
    }
}

impl FromRow for Reward {
    /// From `REWARD_COLUMNS`.
    fn from_row(row: &Row) -> Result<Reward> {
        let mut c = row.cols();
        let (id, name_th, name_en, description_th, description_en) =
            (c.next()?, c.next()?, c.next()?, c.next()?, c.next()?);
        let (cost, stock, per_member_limit, valid_from, valid_until) =
            (c.next()?, c.next()?, c.next()?, c.next()?, c.next()?);
        let minor = c.next()?;
        let face_value = Money::from_minor(minor, currency(&c.next::<String>()?)?);
        Ok(Reward {
            id,
            name_th,
            name_en,
            description_th,
            description_en,
            cost: Points::new(cost),
            stock,
            per_member_limit,
            valid_from,
            valid_until,
            face_value,
            voucher_days: u32::try_from(c.next::<i64>()?).unwrap_or(u32::MAX),
            active: c.next()?,
            created_at: c.next()?,
            picture: c.next()?,
            kind: reward_kind(&mut c, face_value)?,
            partner_id: c.next()?,
        })
    }
}

impl FromRow for Entry {
    /// From `ENTRY_COLUMNS`.
    fn from_row(row: &Row) -> Result<Entry> {
        let mut c = row.cols();
        let id = c.next()?;
        let member_id = c.next()?;
        let kind: String = c.next()?;
        Ok(Entry {
            kind: EntryKind::parse(&kind)
                .ok_or_else(|| StoreError::Corrupt(format!("entry kind {kind:?}")))?,
            id,
            member_id,
            points: Points::new(c.next()?),
            balance_after: Points::new(c.next()?),
            merchant_id: c.next()?,
            reference: c.next()?,
            created_at: c.next()?,
        })
    }
}

row! {
    #[derive(Clone)]
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
    pub(in crate::store) fn view(&self) -> LotView {
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
        occurred_at: DateTime<Utc>,
    }
}

impl PurchaseRow {
    pub(in crate::store) fn receipt(&self) -> Result<PurchaseReceipt> {
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

pub(in crate::store) const MERCHANT_COLUMNS: &str = "SELECT id, name, currency, earn_points, \
    earn_per_minor, webhook_secret, created_at, previous_secret, previous_secret_until \
    FROM merchants";

pub(in crate::store) const ENTRY_COLUMNS: &str = "SELECT id, member_id, kind, points, balance_after, \
    merchant_id, reference, created_at FROM entries";

pub(in crate::store) const LOT_COLUMNS: &str = "SELECT id, points, remaining, earned_at, available_at, \
    expires_at, merchant_id FROM lots";

/// The columns of `VOUCHER_COLUMNS`, for `RETURNING`.
pub(in crate::store) const VOUCHER_RETURNING: &str = "RETURNING id, code, member_id, reward_id, points, \
    status, redeem_entry_id, issued_at, expires_at, used_at, used_by";

pub(in crate::store) const PURCHASE_COLUMNS: &str = "SELECT p.id, p.receipt_id, p.fingerprint, p.member_id, \
    m.code AS member_code, p.amount_minor, p.currency, p.points, p.breakdown, p.balance_after, \
    p.available_at, p.claim_code, p.claim_expires_at, p.claimed_at, p.merchant_id, \
    p.refunded_minor, p.clawed_back, p.referral_points, p.referrer_points, p.occurred_at \
    FROM purchases p LEFT JOIN members m ON m.id = p.member_id";

pub(in crate::store) const MEMBER_COLUMNS: &str = "SELECT id, code, name, locale, telegram_id, line_id, \
    marketing_opt_in, balance, created_at, telegram_reachable, line_reachable, app_locale, phone, \
    credit_minor, consent_asked_at, last_seen_at, erased_at FROM members";

/// The columns of `MEMBER_COLUMNS`, for `RETURNING`.
pub(in crate::store) const MEMBER_RETURNING: &str = "RETURNING id, code, name, locale, telegram_id, \
    line_id, marketing_opt_in, balance, created_at, telegram_reachable, line_reachable, app_locale, \
    phone, credit_minor, consent_asked_at, last_seen_at, erased_at";

pub(in crate::store) const VOUCHER_COLUMNS: &str = "SELECT id, code, member_id, reward_id, points, status, \
    redeem_entry_id, issued_at, expires_at, used_at, used_by FROM vouchers";

pub(in crate::store) const REWARD_COLUMNS: &str = "SELECT id, name_th, name_en, description_th, description_en, \
    cost, stock, per_member_limit, valid_from, valid_until, face_value_minor, currency, \
    voucher_days, active, created_at, picture, kind, sku, min_basket_minor, percent_bp, cap_minor, \
    categories, partner_id FROM rewards";

/// A movement of points to append.
#[derive(Clone, Copy)]
pub(in crate::store) struct NewEntry<'a> {
    pub(in crate::store) member_id: i64,
    pub(in crate::store) kind: EntryKind,
    pub(in crate::store) points: i64,
    pub(in crate::store) merchant_id: Option<&'a str>,
    pub(in crate::store) purchase_id: Option<i64>,
    pub(in crate::store) voucher_id: Option<i64>,
    pub(in crate::store) lot_id: Option<i64>,
    pub(in crate::store) reference: Option<&'a str>,
    pub(in crate::store) now: DateTime<Utc>,
}

impl<'a> NewEntry<'a> {
    /// A referral bonus credited to `member_id` for `purchase_id`.
    pub(in crate::store) fn referral(
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

/// The reference of the entries that pay (and take back) a referral bonus.
pub(in crate::store) const REFERRAL_REFERENCE: &str = "referral";

/// A reward's kind from its columns (`kind`, `sku`, `min_basket_minor`,
/// `percent_bp`, `cap_minor`, `categories`); discounts and cashback are worth
/// the reward's face value.
fn reward_kind(c: &mut Cols<'_>, face_value: Money) -> Result<RewardKind> {
    let kind: String = c.next()?;
    let sku: Option<String> = c.next()?;
    let min_basket: Option<i64> = c.next()?;
    let percent: Option<i64> = c.next()?;
    let cap: Option<i64> = c.next()?;
    let categories: String = c.next()?;
    let money = |m: Option<i64>| m.map(|m| Money::from_minor(m, face_value.currency()));
    Ok(match kind.as_str() {
        "product" => RewardKind::Product { sku },
        "fixed_discount" => RewardKind::FixedDiscount {
            off: face_value,
            min_basket: money(min_basket),
        },
        "percent_discount" => RewardKind::PercentDiscount {
            basis_points: percent.and_then(|p| u32::try_from(p).ok()).ok_or_else(|| {
                StoreError::Corrupt("a percent discount without its percent".into())
            })?,
            cap: money(cap),
            categories: categories
                .split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect(),
            min_basket: money(min_basket),
        },
        "cashback" => RewardKind::Cashback { credit: face_value },
        "draw_entry" => RewardKind::DrawEntry,
        other => return Err(StoreError::Corrupt(format!("reward kind {other:?}"))),
    })
}

/// A reward kind's columns, in the order [`reward_kind`] reads them.
pub(in crate::store) struct KindColumns {
    pub(in crate::store) kind: &'static str,
    pub(in crate::store) sku: Option<String>,
    pub(in crate::store) min_basket: Option<i64>,
    pub(in crate::store) percent: Option<i64>,
    pub(in crate::store) cap: Option<i64>,
    pub(in crate::store) categories: String,
}

pub(in crate::store) fn kind_columns(k: &RewardKind) -> KindColumns {
    let mut c = KindColumns {
        kind: k.as_str(),
        sku: None,
        min_basket: None,
        percent: None,
        cap: None,
        categories: String::new(),
    };
    match k {
        RewardKind::Product { sku } => c.sku = sku.clone(),
        RewardKind::FixedDiscount { min_basket, .. } => {
            c.min_basket = min_basket.map(|m| m.minor())
        }
        RewardKind::PercentDiscount {
            basis_points,
            cap,
            categories,
            min_basket,
        } => {
            c.min_basket = min_basket.map(|m| m.minor());
            c.percent = Some(i64::from(*basis_points));
            c.cap = cap.map(|m| m.minor());
            c.categories = categories.join(",");
        }
        RewardKind::Cashback { .. } | RewardKind::DrawEntry => {}
    }
    c
}
