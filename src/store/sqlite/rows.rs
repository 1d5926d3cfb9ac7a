//! rusqlite's side of the shared row structs (`store::rows`): each reads the
//! columns of its `*_COLUMNS` list, by position.

use rusqlite::Row;

use super::value::{ts, ts_opt};
use crate::store::rows::*;

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

/// The columns of `REWARD_COLUMNS`, for `RETURNING`.
pub(super) const REWARD_RETURNING: &str = "RETURNING id, name_th, name_en, description_th, \
    description_en, cost, stock, per_member_limit, valid_from, valid_until, face_value_minor, \
    currency, voucher_days, active, created_at";

impl MerchantRow {
    /// From `MERCHANT_COLUMNS`.
    pub(super) fn read(r: &Row<'_>) -> rusqlite::Result<MerchantRow> {
        Ok(MerchantRow {
            id: r.get(0)?,
            name: r.get(1)?,
            currency: r.get(2)?,
            earn_points: r.get(3)?,
            earn_per_minor: r.get(4)?,
            webhook_secret: r.get(5)?,
            created_at: ts(r, 6)?,
            previous_secret: r.get(7)?,
            previous_secret_until: ts_opt(r, 8)?,
        })
    }
}

impl MemberRow {
    /// From `MEMBER_COLUMNS`.
    pub(super) fn read(r: &Row<'_>) -> rusqlite::Result<MemberRow> {
        Ok(MemberRow {
            id: r.get(0)?,
            code: r.get(1)?,
            name: r.get(2)?,
            locale: r.get(3)?,
            telegram_id: r.get(4)?,
            line_id: r.get(5)?,
            marketing_opt_in: r.get(6)?,
            balance: r.get(7)?,
            created_at: ts(r, 8)?,
            telegram_reachable: r.get(9)?,
            line_reachable: r.get(10)?,
            app_locale: r.get(11)?,
        })
    }
}

impl RewardRow {
    /// From `REWARD_COLUMNS`.
    pub(super) fn read(r: &Row<'_>) -> rusqlite::Result<RewardRow> {
        Ok(RewardRow {
            id: r.get(0)?,
            name_th: r.get(1)?,
            name_en: r.get(2)?,
            description_th: r.get(3)?,
            description_en: r.get(4)?,
            cost: r.get(5)?,
            stock: r.get(6)?,
            per_member_limit: r.get(7)?,
            valid_from: ts_opt(r, 8)?,
            valid_until: ts_opt(r, 9)?,
            face_value_minor: r.get(10)?,
            currency: r.get(11)?,
            voucher_days: r.get(12)?,
            active: r.get(13)?,
            created_at: ts(r, 14)?,
        })
    }
}

impl VoucherRow {
    /// From `VOUCHER_COLUMNS`.
    pub(super) fn read(r: &Row<'_>) -> rusqlite::Result<VoucherRow> {
        Ok(VoucherRow {
            id: r.get(0)?,
            code: r.get(1)?,
            member_id: r.get(2)?,
            reward_id: r.get(3)?,
            points: r.get(4)?,
            status: r.get(5)?,
            redeem_entry_id: r.get(6)?,
            issued_at: ts(r, 7)?,
            expires_at: ts(r, 8)?,
            used_at: ts_opt(r, 9)?,
            used_by: r.get(10)?,
        })
    }
}

impl EntryRow {
    /// From `ENTRY_COLUMNS`.
    pub(super) fn read(r: &Row<'_>) -> rusqlite::Result<EntryRow> {
        Ok(EntryRow {
            id: r.get(0)?,
            member_id: r.get(1)?,
            kind: r.get(2)?,
            points: r.get(3)?,
            balance_after: r.get(4)?,
            merchant_id: r.get(5)?,
            reference: r.get(6)?,
            created_at: ts(r, 7)?,
        })
    }
}

impl LotRow {
    /// From `LOT_COLUMNS`.
    pub(super) fn read(r: &Row<'_>) -> rusqlite::Result<LotRow> {
        Ok(LotRow {
            id: r.get(0)?,
            points: r.get(1)?,
            remaining: r.get(2)?,
            earned_at: ts(r, 3)?,
            available_at: ts(r, 4)?,
            expires_at: ts(r, 5)?,
            merchant_id: r.get(6)?,
        })
    }
}

impl PurchaseRow {
    /// From `PURCHASE_COLUMNS`.
    pub(super) fn read(r: &Row<'_>) -> rusqlite::Result<PurchaseRow> {
        Ok(PurchaseRow {
            id: r.get(0)?,
            receipt_id: r.get(1)?,
            fingerprint: r.get(2)?,
            member_id: r.get(3)?,
            member_code: r.get(4)?,
            amount_minor: r.get(5)?,
            currency: r.get(6)?,
            points: r.get(7)?,
            breakdown: r.get(8)?,
            balance_after: r.get(9)?,
            available_at: ts(r, 10)?,
            claim_code: r.get(11)?,
            claim_expires_at: ts_opt(r, 12)?,
            claimed_at: ts_opt(r, 13)?,
            merchant_id: r.get(14)?,
            refunded_minor: r.get(15)?,
            clawed_back: r.get(16)?,
            referral_points: r.get(17)?,
            referrer_points: r.get(18)?,
        })
    }
}

impl CampaignRow {
    /// From `CAMPAIGN_COLUMNS`.
    pub(super) fn read(r: &Row<'_>) -> rusqlite::Result<CampaignRow> {
        Ok(CampaignRow {
            id: r.get(0)?,
            name_th: r.get(1)?,
            name_en: r.get(2)?,
            text_th: r.get(3)?,
            text_en: r.get(4)?,
            kind: r.get(5)?,
            percent: r.get(6)?,
            points: r.get(7)?,
            stacks: r.get(8)?,
            item_sku: r.get(9)?,
            item_category: r.get(10)?,
            starts_at: ts(r, 11)?,
            ends_at: ts(r, 12)?,
            days: r.get(13)?,
            hour_from: r.get(14)?,
            hour_to: r.get(15)?,
            merchants: r.get(16)?,
            tiers: r.get(17)?,
            min_spend_minor: r.get(18)?,
            budget: r.get(19)?,
            member_cap: r.get(20)?,
            awarded: r.get(21)?,
            ended_early_at: ts_opt(r, 22)?,
            created_at: ts(r, 23)?,
        })
    }
}

impl TierRow {
    /// From `TIER_COLUMNS`.
    pub(super) fn read(r: &Row<'_>) -> rusqlite::Result<TierRow> {
        Ok(TierRow {
            key: r.get(0)?,
            name_th: r.get(1)?,
            name_en: r.get(2)?,
            threshold_minor: r.get(3)?,
            multiplier_percent: r.get(4)?,
        })
    }
}

impl TierChangeRow {
    /// From `TIER_CHANGE_COLUMNS`.
    pub(super) fn read(r: &Row<'_>) -> rusqlite::Result<TierChangeRow> {
        Ok(TierChangeRow {
            member_id: r.get(0)?,
            from_tier: r.get(1)?,
            to_tier: r.get(2)?,
            spend_minor: r.get(3)?,
            reason: r.get(4)?,
            created_at: ts(r, 5)?,
        })
    }
}
