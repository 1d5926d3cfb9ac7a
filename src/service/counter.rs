//! The counter: what a cashier does for a customer standing at the till. A
//! sale is a purchase like one from the webhook (same rules, idempotency and
//! pushes), recorded under the cashier's merchant and written to the audit log.

use chrono::{DateTime, Utc};

use super::staff::Actor;
use super::{Loyalty, PurchaseRequest, Result, ServiceError, invalid};
use crate::domain::model::*;
use crate::domain::staff::Permission;
use crate::domain::{MemberCode, phone};

/// The lines of a bill a cashier typed, one item per line: its SKU or category
/// (both, for the rules), then the line's amount, e.g. `bakery 120` or
/// `LATTE-L 65`. Empty lines are skipped; amounts are checked with the basket.
pub fn typed_items(text: &str) -> Result<Vec<super::PurchaseItem>> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
        .map(|(i, line)| {
            let (code, amount) = line
                .rsplit_once(char::is_whitespace)
                .map(|(c, a)| (c.trim(), a.trim()))
                .filter(|(c, _)| !c.is_empty())
                .ok_or_else(|| {
                    invalid(
                        "items",
                        format!(
                            "line {}: {line:?}: write the SKU or category, then the amount \
                             (bakery 120)",
                            i + 1
                        ),
                    )
                })?;
            Ok(super::PurchaseItem {
                sku: code.to_string(),
                category: Some(code.to_string()),
                quantity: 1,
                amount: amount.to_string(),
            })
        })
        .collect()
}

/// A sale typed at the counter.
#[derive(Debug, Clone)]
pub struct CounterSale {
    pub merchant_id: String,
    pub member_code: String,
    /// As typed, e.g. `120.50`.
    pub amount: String,
    /// The receipt's number; without one the form's own key is used, so a double
    /// submit or a reload records the sale once.
    pub receipt_id: String,
}

impl Loyalty {
    /// Finds a member by what a cashier types or scans: a member code or a
    /// phone number.
    pub async fn find_member(&self, actor: &Actor, query: &str) -> Result<Member> {
        actor.require(Permission::Counter)?;
        let query = query.trim();
        if let Some(code) = MemberCode::parse(query) {
            return self.member(&MemberRef::Code(code)).await;
        }
        match phone::normalise(query) {
            Some(p) => self.member(&MemberRef::Phone(p)).await,
            None => Err(ServiceError::NotFound("member")),
        }
    }

    /// Stores the phone number a customer gives at the counter, with their
    /// consent (refused without it); audited.
    pub async fn counter_set_phone(
        &self,
        actor: &Actor,
        member_code: &str,
        number: &str,
        consent: bool,
        now: DateTime<Utc>,
    ) -> Result<Member> {
        actor.require(Permission::Counter)?;
        if !consent {
            return Err(invalid("consent", "required"));
        }
        let e164 =
            phone::normalise(number).ok_or_else(|| invalid("phone", "not a phone number"))?;
        let code = MemberCode::parse(member_code).ok_or(ServiceError::NotFound("member"))?;
        let member = self.member(&MemberRef::Code(code)).await?;
        let updated = self.store.set_phone(member.id, &e164, now).await?;
        self.audit(
            actor,
            "member.phone",
            Some(&member.code),
            Some(&member.phone),
            Some(&updated.phone),
            now,
        )
        .await?;
        Ok(updated)
    }

    /// The merchants a staff member may record sales for.
    pub async fn counter_merchants(&self, actor: &Actor) -> Result<Vec<Merchant>> {
        actor.require(Permission::Counter)?;
        let all = self.store.merchants().await?;
        Ok(match actor {
            Actor::Staff(s) => all.into_iter().filter(|m| s.acts_for(&m.id)).collect(),
            Actor::Cli | Actor::AdminApi => all,
        })
    }

    /// Records a sale at the counter for a member.
    pub async fn counter_sale(
        &self,
        actor: &Actor,
        sale: CounterSale,
        now: DateTime<Utc>,
    ) -> Result<Recorded<PurchaseReceipt>> {
        actor.require(Permission::Counter)?;
        if let Actor::Staff(s) = actor
            && !s.acts_for(&sale.merchant_id)
        {
            return Err(ServiceError::Forbidden);
        }
        let merchant = self.merchant(&sale.merchant_id).await?;
        let receipt_id = sale.receipt_id.trim().to_string();
        if receipt_id.is_empty() {
            return Err(invalid("receipt_id", "required"));
        }
        let req = PurchaseRequest {
            receipt_id,
            amount: sale.amount.trim().to_string(),
            currency: merchant.currency.code().to_string(),
            member_code: Some(sale.member_code),
            occurred_at: None,
            items: None,
        };
        let subject = format!("{}/{}", merchant.id, req.receipt_id);
        let audit = actor.change("sale.record", &subject);
        self.record_purchase_audited(&merchant, req, Some(audit), now)
            .await
    }
}

impl Loyalty {
    /// The rewards a member can be given at the counter now, cheapest first.
    pub async fn counter_rewards(&self, actor: &Actor, now: DateTime<Utc>) -> Result<Vec<Reward>> {
        actor.require(Permission::Counter)?;
        let mut rewards = self.rewards(false).await?;
        rewards.retain(|r| r.offered(now));
        Ok(rewards)
    }

    /// Spends a member's points on a reward at the counter. `key` (the form's
    /// own) makes a double submit return the first voucher; audited.
    pub async fn counter_redeem(
        &self,
        actor: &Actor,
        (member_code, reward_id): (&str, i64),
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Voucher> {
        actor.require(Permission::Counter)?;
        let code = MemberCode::parse(member_code).ok_or(ServiceError::NotFound("member"))?;
        let member = self.member(&MemberRef::Code(code)).await?;
        let key = format!("counter:{}", key.trim());
        let audit = actor.change("voucher.redeem", &member.code);
        self.redeem_audited((member.id, reward_id), Some(key), Some(audit), now)
            .await
    }
}

/// A refund typed at the counter, of a sale of one of the staff member's shops.
#[derive(Debug, Clone)]
pub struct CounterRefund {
    pub merchant_id: String,
    pub receipt_id: String,
    pub amount: String,
    /// The form's own key: a double submit refunds once.
    pub key: String,
}

impl Loyalty {
    /// Refunds (part of) a sale at the counter; its points are clawed back in
    /// proportion, as for a refund from the till's webhook. Audited.
    pub async fn counter_refund(
        &self,
        actor: &Actor,
        refund: CounterRefund,
        now: DateTime<Utc>,
    ) -> Result<Recorded<RefundReceipt>> {
        actor.require(Permission::Counter)?;
        if let Actor::Staff(s) = actor
            && !s.acts_for(&refund.merchant_id)
        {
            return Err(ServiceError::Forbidden);
        }
        let merchant = self.merchant(&refund.merchant_id).await?;
        let req = super::RefundRequest {
            refund_id: format!("counter-{}", refund.key.trim()),
            receipt_id: refund.receipt_id.trim().to_string(),
            amount: refund.amount.trim().to_string(),
            currency: None,
        };
        let subject = format!("{}/{}", merchant.id, req.receipt_id);
        let audit = actor.change("sale.refund", &subject);
        self.record_refund_audited(&merchant, req, Some(audit), now)
            .await
    }
}

/// A voucher as the counter shows it before using it: what it is for, whose it
/// is, and why it cannot be used now (if it cannot).
#[derive(Debug, Clone)]
pub struct VoucherCheck {
    pub voucher: Voucher,
    pub reward: Reward,
    pub member: Member,
    pub refusal: Option<crate::domain::Refusal>,
}

impl Loyalty {
    /// Looks a voucher up by its code (typed or scanned).
    pub async fn check_voucher(
        &self,
        actor: &Actor,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<VoucherCheck> {
        actor.require(Permission::Counter)?;
        let code = crate::domain::VoucherCode::parse(code.trim())
            .ok_or(ServiceError::NotFound("voucher"))?;
        let voucher = self.voucher(&code).await?;
        let reward = self.reward(voucher.reward_id).await?;
        let member = self.member(&MemberRef::Id(voucher.member_id)).await?;
        Ok(VoucherCheck {
            refusal: voucher.refusal(now),
            voucher,
            reward,
            member,
        })
    }

    /// Uses a voucher at the counter for `merchant_id` (one the staff member
    /// works for); audited.
    pub async fn counter_use_voucher(
        &self,
        actor: &Actor,
        merchant_id: &str,
        (code, basket): (&str, Option<&super::BasketInput>),
        now: DateTime<Utc>,
    ) -> Result<VoucherUse> {
        actor.require(Permission::Counter)?;
        if let Actor::Staff(s) = actor
            && !s.acts_for(merchant_id)
        {
            return Err(ServiceError::Forbidden);
        }
        let merchant = self.merchant(merchant_id).await?;
        let subject = crate::domain::VoucherCode::parse(code.trim())
            .map(|c| c.as_str().to_string())
            .unwrap_or_default();
        let audit = actor.change("voucher.use", &subject);
        self.use_voucher_audited(&merchant, (code.trim(), basket), Some(audit), now)
            .await
    }
}

/// All the back office shows of one member.
#[derive(Debug, Clone)]
pub struct MemberFile {
    pub member: Member,
    /// Their store credit.
    pub credit: crate::domain::Money,
    /// Their A/B/C class and RFM segment, when they bought in the last 12 months.
    pub segment: Option<crate::domain::segment::MemberSegment>,
    pub lots: Vec<Lot>,
    pub vouchers: Vec<Voucher>,
    pub entries: Vec<Entry>,
}

impl Loyalty {
    /// Members found by what was typed: a member code or a phone number (one
    /// member), else the start of a name (up to 50).
    pub async fn search_members(&self, actor: &Actor, query: &str) -> Result<Vec<Member>> {
        actor.require(Permission::BackOffice)?;
        let query = query.trim();
        if query.is_empty() {
            return Ok(Vec::new());
        }
        match self.find_member(actor, query).await {
            Ok(m) => return Ok(vec![m]),
            Err(ServiceError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
        Ok(self.store.members_named(query, 50).await?)
    }

    /// A member in full: balance, lots and their expiry, vouchers, the newest
    /// 50 entries. Viewing it is audited (personal data).
    pub async fn member_file(
        &self,
        actor: &Actor,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<MemberFile> {
        actor.require(Permission::BackOffice)?;
        let code = MemberCode::parse(code).ok_or(ServiceError::NotFound("member"))?;
        let member = self.member(&MemberRef::Code(code)).await?;
        let mut file = MemberFile {
            credit: self.store_credit(&member).await?,
            segment: self.store.member_segment(member.id).await?,
            lots: self.store.lots(member.id).await?,
            vouchers: self.vouchers(member.id).await?,
            entries: self.entries(member.id, 50).await?,
            member,
        };
        // A partner's staff see the member and their balance (shared by the
        // coalition), and of their history only what happened at their shop:
        // its receipts, the points it issued, its vouchers and the programme's
        // vouchers it may take.
        if let Some(m) = actor.merchant() {
            let rewards = self.store.rewards(true).await?;
            let partner_of = |id: i64| {
                rewards
                    .iter()
                    .find(|r| r.id == id)
                    .and_then(|r| r.partner_id.clone())
            };
            file.entries.retain(|e| e.merchant_id.as_deref() == Some(m));
            file.lots.retain(|l| l.merchant_id.as_deref() == Some(m));
            file.vouchers
                .retain(|v| match (partner_of(v.reward_id), v.used_by.as_deref()) {
                    (Some(p), _) => p == m,
                    (None, Some(u)) => u == m,
                    (None, None) => true,
                });
        }
        self.audit::<()>(
            actor,
            "member.view",
            Some(&file.member.code),
            None,
            None,
            now,
        )
        .await?;
        Ok(file)
    }

    /// A manual correction by a manager or owner, with its reason; audited.
    pub async fn back_office_adjust(
        &self,
        actor: &Actor,
        (code, delta): (&str, i64),
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Entry> {
        actor.require(Permission::BackOffice)?;
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(invalid("reason", "required"));
        }
        let code = MemberCode::parse(code).ok_or(ServiceError::NotFound("member"))?;
        let member = self.member(&MemberRef::Code(code)).await?;
        let audit = actor.change("member.adjust", &member.code);
        self.adjust_audited((member.id, delta), reason, Some(audit), now)
            .await
    }
}
