//! Rows as both SQL stores read them, and their translation into domain records.
//! Column names and types are the same in `migrations/sqlite` and
//! `migrations/postgres`, so one set of row structs serves both backends.

use std::str::FromStr;

use chrono::{DateTime, Utc};

use super::{Result, StoreError};
use crate::domain::earn::{Breakdown, EarnRate};
use crate::domain::ledger::{EntryKind, LotView};
use crate::domain::model::*;
use crate::domain::{Currency, Money, Points, Refusal};

#[derive(sqlx::FromRow)]
pub(super) struct MerchantRow {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) currency: String,
    pub(super) earn_points: i64,
    pub(super) earn_per_minor: i64,
    pub(super) webhook_secret: String,
    pub(super) created_at: DateTime<Utc>,
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
            created_at: r.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct MemberRow {
    pub(super) id: i64,
    pub(super) code: String,
    pub(super) name: Option<String>,
    pub(super) locale: Option<String>,
    pub(super) telegram_id: Option<i64>,
    pub(super) line_id: Option<String>,
    pub(super) marketing_opt_in: bool,
    pub(super) telegram_reachable: bool,
    pub(super) line_reachable: bool,
    pub(super) balance: i64,
    pub(super) created_at: DateTime<Utc>,
}

impl From<MemberRow> for Member {
    fn from(r: MemberRow) -> Member {
        Member {
            id: r.id,
            code: r.code,
            name: r.name,
            locale: r.locale,
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

#[derive(sqlx::FromRow)]
pub(super) struct RewardRow {
    pub(super) id: i64,
    pub(super) name_th: String,
    pub(super) name_en: String,
    pub(super) description_th: String,
    pub(super) description_en: String,
    pub(super) cost: i64,
    pub(super) stock: Option<i64>,
    pub(super) per_member_limit: Option<i64>,
    pub(super) valid_from: Option<DateTime<Utc>>,
    pub(super) valid_until: Option<DateTime<Utc>>,
    pub(super) face_value_minor: i64,
    pub(super) currency: String,
    pub(super) voucher_days: i64,
    pub(super) active: bool,
    pub(super) created_at: DateTime<Utc>,
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

#[derive(sqlx::FromRow)]
pub(super) struct VoucherRow {
    pub(super) id: i64,
    pub(super) code: String,
    pub(super) member_id: i64,
    pub(super) reward_id: i64,
    pub(super) points: i64,
    pub(super) status: String,
    pub(super) redeem_entry_id: i64,
    pub(super) issued_at: DateTime<Utc>,
    pub(super) expires_at: DateTime<Utc>,
    pub(super) used_at: Option<DateTime<Utc>>,
    pub(super) used_by: Option<String>,
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

#[derive(sqlx::FromRow)]
pub(super) struct EntryRow {
    pub(super) id: i64,
    pub(super) member_id: i64,
    pub(super) kind: String,
    pub(super) points: i64,
    pub(super) balance_after: i64,
    pub(super) merchant_id: Option<String>,
    pub(super) reference: Option<String>,
    pub(super) created_at: DateTime<Utc>,
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

#[derive(sqlx::FromRow)]
pub(super) struct LotRow {
    pub(super) id: i64,
    pub(super) points: i64,
    pub(super) remaining: i64,
    pub(super) earned_at: DateTime<Utc>,
    pub(super) available_at: DateTime<Utc>,
    pub(super) expires_at: DateTime<Utc>,
    pub(super) merchant_id: Option<String>,
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

#[derive(sqlx::FromRow)]
pub(super) struct PurchaseRow {
    pub(super) id: i64,
    pub(super) receipt_id: String,
    pub(super) fingerprint: String,
    pub(super) member_id: Option<i64>,
    pub(super) member_code: Option<String>,
    pub(super) amount_minor: i64,
    pub(super) currency: String,
    pub(super) points: i64,
    pub(super) breakdown: String,
    pub(super) balance_after: Option<i64>,
    pub(super) available_at: DateTime<Utc>,
    pub(super) claim_code: Option<String>,
    pub(super) claim_expires_at: Option<DateTime<Utc>>,
    pub(super) claimed_at: Option<DateTime<Utc>>,
    pub(super) merchant_id: String,
    pub(super) refunded_minor: i64,
    pub(super) clawed_back: i64,
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

pub(super) const PURCHASE_COLUMNS: &str = "SELECT p.id, p.receipt_id, p.fingerprint, p.member_id, \
    m.code AS member_code, p.amount_minor, p.currency, p.points, p.breakdown, p.balance_after, \
    p.available_at, p.claim_code, p.claim_expires_at, p.claimed_at, p.merchant_id, \
    p.refunded_minor, p.clawed_back FROM purchases p LEFT JOIN members m ON m.id = p.member_id";

pub(super) const MEMBER_COLUMNS: &str = "SELECT id, code, name, locale, telegram_id, line_id, \
    marketing_opt_in, balance, created_at, telegram_reachable, line_reachable FROM members";

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
