//! The counter: what a cashier does for a customer standing at the till. A
//! sale is a purchase like one from the webhook (same rules, idempotency and
//! pushes), recorded under the cashier's merchant and written to the audit log.

use chrono::{DateTime, Utc};

use super::staff::Actor;
use super::{Loyalty, PurchaseRequest, Result, ServiceError, invalid};
use crate::domain::model::*;
use crate::domain::staff::Permission;
use crate::domain::{MemberCode, phone};

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

    /// The merchants a staff member may record sales for.
    pub async fn counter_merchants(&self, actor: &Actor) -> Result<Vec<Merchant>> {
        actor.require(Permission::Counter)?;
        let all = self.store.merchants().await?;
        Ok(match actor {
            Actor::Staff(s) => all.into_iter().filter(|m| s.acts_for(&m.id)).collect(),
            Actor::Cli => all,
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
        let recorded = self.record_purchase(&merchant, req, now).await?;
        if let Recorded::New(receipt) = &recorded {
            let subject = format!("{}/{}", merchant.id, receipt.receipt_id);
            self.audit(
                actor,
                "sale.record",
                Some(&subject),
                None,
                Some(receipt),
                now,
            )
            .await?;
        }
        Ok(recorded)
    }
}
