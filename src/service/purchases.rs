//! Purchases and refunds from a merchant's till: checked, normalised,
//! fingerprinted for idempotency, and priced under the current settings.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::{CLAIM_DAYS, Loyalty, Result, invalid, timing};
use crate::domain::campaign::Item;
use crate::domain::model::*;
use crate::domain::money::Amount;
use crate::domain::offer::Basket;
use crate::domain::staff::NewAudit;
use crate::domain::{Breakdown, ClaimCode, MemberCode, Money};
use crate::store::StoreError;

/// One line of a purchase, as the merchant's till sends it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct PurchaseItem {
    #[schema(min_length = 1, max_length = 128)]
    pub sku: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default = "one")]
    #[schema(minimum = 1, default = 1)]
    pub quantity: i64,
    #[schema(value_type = Amount)]
    pub amount: String,
}

fn one() -> i64 {
    1
}

/// The body of `POST /v1/purchases`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PurchaseRequest {
    /// Unique per merchant; the idempotency key
    #[schema(min_length = 1, max_length = 128)]
    pub receipt_id: String,
    #[schema(value_type = Amount)]
    pub amount: String,
    /// ISO 4217; must be the merchant's
    #[schema(examples("THB"))]
    pub currency: String,
    /// 8-character member code; without it the answer carries a claim_code
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(examples("RA3QBMP4"))]
    pub member_code: Option<String>,
    /// RFC 3339; defaults to the time received; at most 5 minutes in the future
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 500)]
    pub items: Option<Vec<PurchaseItem>>,
}

/// The body of `POST /v1/refunds`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RefundRequest {
    /// Unique per merchant; the idempotency key
    #[schema(min_length = 1, max_length = 128)]
    pub refund_id: String,
    /// The purchase being refunded
    pub receipt_id: String,
    #[schema(value_type = Amount)]
    pub amount: String,
    /// Optional; must be the merchant's
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}

fn check_id(field: &str, value: &str) -> Result<()> {
    let n = value.chars().count();
    if n == 0 || n > 128 {
        return Err(invalid(field, "must be 1 to 128 characters"));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(())
}

fn check_currency(field: &str, given: &str, merchant: &Merchant) -> Result<()> {
    if !given.eq_ignore_ascii_case(merchant.currency.code()) {
        return Err(invalid(
            field,
            format!(
                "{given:?} is not this merchant's currency ({})",
                merchant.currency
            ),
        ));
    }
    Ok(())
}

fn amount(field: &str, value: &str, merchant: &Merchant) -> Result<Money> {
    Money::parse_positive(value, merchant.currency).map_err(|e| invalid(field, e.to_string()))
}

/// A purchase's or basket's items, checked: as given (amounts normalised) and
/// as the rules read them.
fn checked_items(
    given: Option<&[PurchaseItem]>,
    merchant: &Merchant,
) -> Result<(Vec<PurchaseItem>, Vec<Item>)> {
    if given.is_some_and(|i| i.len() > 500) {
        return Err(invalid("items", "at most 500 items"));
    }
    let mut items = Vec::new();
    let mut rule_items = Vec::new();
    for (i, item) in given.into_iter().flatten().enumerate() {
        check_id(&format!("items[{i}].sku"), &item.sku)?;
        if let Some(c) = &item.category {
            check_id(&format!("items[{i}].category"), c)?;
        }
        if item.quantity <= 0 {
            return Err(invalid(
                format!("items[{i}].quantity"),
                "must be at least 1",
            ));
        }
        let a = Money::parse(&item.amount, merchant.currency)
            .map_err(|e| invalid(format!("items[{i}].amount"), e.to_string()))?;
        items.push(PurchaseItem {
            amount: a.to_decimal_string(),
            ..item.clone()
        });
        rule_items.push(Item {
            sku: item.sku.clone(),
            category: item.category.clone(),
            quantity: item.quantity,
            amount_minor: a.minor(),
        });
    }
    Ok((items, rule_items))
}

/// The bill a voucher is used on, as a till or a cashier gives it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BasketInput {
    /// The bill's total before the voucher
    #[schema(value_type = Amount)]
    pub amount: String,
    /// The bill's lines (needed for category discounts and free products)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 500)]
    pub items: Option<Vec<PurchaseItem>>,
}

/// A basket, checked in the merchant's currency.
pub(crate) fn basket(input: &BasketInput, merchant: &Merchant) -> Result<Basket> {
    let total = Money::parse(&input.amount, merchant.currency)
        .map_err(|e| invalid("basket.amount", e.to_string()))?;
    let (_, items) = checked_items(input.items.as_deref(), merchant)?;
    Ok(Basket {
        amount: total,
        items,
    })
}

/// A digest of the meaning of a request (not its bytes), so a till that resends
/// the same purchase with other whitespace or key order is still a replay.
fn fingerprint<T: Serialize>(canonical: &T) -> String {
    hex::encode(Sha256::digest(
        serde_json::to_vec(canonical).expect("serializable"),
    ))
}

/// An unknown member code is the request's fault: say which field.
fn member_known<T>(cmd: &PurchaseCommand, r: Result<T, StoreError>) -> Result<T> {
    match r {
        Err(StoreError::NotFound("member")) => Err(invalid(
            "member_code",
            format!(
                "no member has the code {}",
                cmd.member_code.as_ref().map(|c| c.as_str()).unwrap_or("")
            ),
        )),
        other => Ok(other?),
    }
}

/// How many times a purchase is priced again when the settings change under it.
const SETTINGS_RETRIES: usize = 3;

/// Purchases may be dated at most this far ahead (clock skew between tills).
const FUTURE_SKEW_MINUTES: i64 = 5;

impl Loyalty {
    pub async fn record_purchase(
        &self,
        merchant: &Merchant,
        req: PurchaseRequest,
        now: DateTime<Utc>,
    ) -> Result<Recorded<PurchaseReceipt>> {
        self.record_purchase_audited(merchant, req, None, now).await
    }

    /// [`Loyalty::record_purchase`], audited in the same transaction.
    pub(crate) async fn record_purchase_audited(
        &self,
        merchant: &Merchant,
        req: PurchaseRequest,
        audit: Option<NewAudit>,
        now: DateTime<Utc>,
    ) -> Result<Recorded<PurchaseReceipt>> {
        let mut stale = false;
        for _ in 0..SETTINGS_RETRIES {
            let mut cmd = self
                .purchase_command(merchant, req.clone(), now, stale)
                .await?;
            cmd.audit = audit.clone();
            match self.store.record_purchase(&cmd).await {
                Err(StoreError::SettingsChanged) => stale = true,
                r => {
                    let r = member_known(&cmd, r)?;
                    let receipt = match &r {
                        Recorded::New(p) | Recorded::Replay(p) => p,
                    };
                    // Points on a receipt nobody claimed are issued when claimed.
                    let credited = receipt.member_code.is_some();
                    crate::metrics::purchase(
                        if credited { receipt.points.value() } else { 0 },
                        !r.is_new(),
                    );
                    return Ok(r);
                }
            }
        }
        Err(StoreError::SettingsChanged.into())
    }

    /// What a purchase would earn now, under the rules and campaigns as they
    /// are, without recording it (`taem campaign simulate`).
    pub async fn simulate_purchase(
        &self,
        merchant: &Merchant,
        req: PurchaseRequest,
        now: DateTime<Utc>,
    ) -> Result<Breakdown> {
        // A simulation may look ahead (next weekend's campaign).
        let now = req.occurred_at.map_or(now, |t| t.max(now));
        // Under the settings as they are now (read afresh).
        let cmd = self.purchase_command(merchant, req, now, true).await?;
        member_known(&cmd, self.store.price_purchase(&cmd).await)
    }

    /// Checks a purchase request and turns it into the store's command.
    async fn purchase_command(
        &self,
        merchant: &Merchant,
        req: PurchaseRequest,
        now: DateTime<Utc>,
        stale: bool,
    ) -> Result<PurchaseCommand> {
        // One read of the (cached) settings serves the rules and the lot's timing.
        let program = self.purchase_settings(stale).await?;
        check_id("receipt_id", &req.receipt_id)?;
        check_currency("currency", &req.currency, merchant)?;
        let total = amount("amount", &req.amount, merchant)?;
        let member_code = match &req.member_code {
            None => None,
            Some(c) => Some(MemberCode::parse(c).ok_or_else(|| {
                invalid(
                    "member_code",
                    format!("{c:?} is not a member code (8 letters and digits)"),
                )
            })?),
        };
        let occurred_at = req.occurred_at.map(crate::domain::time::truncate_ms);
        if let Some(t) = occurred_at
            && t > now + Duration::minutes(FUTURE_SKEW_MINUTES)
        {
            return Err(invalid("occurred_at", "is in the future"));
        }
        let (items, rule_items) = checked_items(req.items.as_deref(), merchant)?;
        // The canonical request: normalised values, in a fixed order.
        let canonical = PurchaseRequest {
            receipt_id: req.receipt_id.clone(),
            amount: total.to_decimal_string(),
            currency: merchant.currency.code().to_string(),
            member_code: member_code.as_ref().map(|c| c.to_string()),
            occurred_at,
            items: req.items.is_some().then(|| items.clone()),
        };
        Ok(PurchaseCommand {
            merchant_id: merchant.id.clone(),
            receipt_id: req.receipt_id,
            amount: total,
            member_code,
            occurred_at: occurred_at.unwrap_or(now),
            items_json: req
                .items
                .is_some()
                .then(|| serde_json::to_string(&items).expect("serializable")),
            items: rule_items,
            fingerprint: fingerprint(&canonical),
            rate: merchant.earn,
            timing: timing(&program, now, self.tz),
            rules: RuleSettings {
                version: program.version,
                tz: self.tz,
                currency: program.currency,
                tiers: program.tiers.clone(),
                referral: program.referral,
            },
            claim_code: ClaimCode::generate(),
            claim_expires_at: now + Duration::days(CLAIM_DAYS),
            now,
            audit: None,
            points_paid_earn_nothing: !program.pay_earns,
        })
    }

    pub async fn record_refund(
        &self,
        merchant: &Merchant,
        req: RefundRequest,
        now: DateTime<Utc>,
    ) -> Result<Recorded<RefundReceipt>> {
        self.record_refund_audited(merchant, req, None, now).await
    }

    /// [`Loyalty::record_refund`], audited in the same transaction.
    pub(crate) async fn record_refund_audited(
        &self,
        merchant: &Merchant,
        req: RefundRequest,
        audit: Option<NewAudit>,
        now: DateTime<Utc>,
    ) -> Result<Recorded<RefundReceipt>> {
        check_id("refund_id", &req.refund_id)?;
        check_id("receipt_id", &req.receipt_id)?;
        if let Some(c) = &req.currency {
            check_currency("currency", c, merchant)?;
        }
        let refund = amount("amount", &req.amount, merchant)?;
        let canonical = RefundRequest {
            refund_id: req.refund_id.clone(),
            receipt_id: req.receipt_id.clone(),
            amount: refund.to_decimal_string(),
            currency: None,
        };
        let cmd = RefundCommand {
            merchant_id: merchant.id.clone(),
            refund_id: req.refund_id,
            receipt_id: req.receipt_id,
            amount: refund,
            fingerprint: fingerprint(&canonical),
            now,
            audit,
        };
        let recorded = self.store.record_refund(&cmd).await;
        if matches!(recorded, Ok(Recorded::New(_))) {
            crate::metrics::refund();
        }
        match recorded {
            Err(StoreError::NotFound("purchase")) => Err(invalid(
                "receipt_id",
                format!(
                    "this merchant has no purchase with receipt_id {:?}",
                    cmd.receipt_id
                ),
            )),
            other => Ok(other?),
        }
    }
}
