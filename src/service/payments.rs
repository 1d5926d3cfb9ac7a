//! Paying with points at the till: a till (signed API) or a cashier asks to
//! take points for a sale; the customer says yes in their chat or shows a fresh
//! pay code from it; the till captures when the sale completes or releases.

use chrono::{DateTime, Duration, Utc};
use rand::RngExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::{Loyalty, Result, ServiceError, invalid};
use crate::domain::model::*;
use crate::domain::money::Amount;
use crate::domain::payment::PaySource;
use crate::domain::staff::NewAudit;
use crate::domain::{MemberCode, Money, Points, Refusal};

/// The body of `POST /v1/point-payments`: the points to take, or the amount
/// of the bill to pay with points (exactly one); or, with `source: "credit"`,
/// the amount of the bill to pay with the member's store credit.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PointPaymentRequest {
    /// Unique per merchant; the idempotency key
    #[schema(min_length = 1, max_length = 128)]
    pub request_id: String,
    /// The member paying
    #[schema(examples("RA3QBMP4"))]
    pub member_code: String,
    /// What to take: `points` (the default) or the member's store `credit`
    /// (then give `amount`)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<PaySource>,
    /// Points to take
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub points: Option<i64>,
    /// Or: the amount of the bill to pay with points (the points are rounded up)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Amount>)]
    pub amount: Option<String>,
    /// A one-time pay code the customer shows from their chat: the payment is
    /// then confirmed at once; without it the customer is asked in their chat
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(examples("483920"))]
    pub pay_code: Option<String>,
}

/// The body of a capture: the sale the points paid (optional).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaptureRequest {
    #[serde(default)]
    #[schema(max_length = 128)]
    pub receipt_id: Option<String>,
}

/// Digits in a pay code.
const PAY_CODE_DIGITS: usize = 6;

/// Codes drawn before giving up (each is free unless a live one has it).
const PAY_CODE_DRAWS: usize = 10;
/// Minutes a pay code stays valid.
pub const PAY_CODE_MINUTES: i64 = 5;

fn code_hash(code: &str) -> String {
    hex::encode(Sha256::digest(format!("taem/pay-code/{code}")))
}

impl Loyalty {
    /// A till asks to take points from a member (held at once); the customer is
    /// asked in their chat unless they showed a fresh pay code.
    pub async fn reserve_points(
        &self,
        merchant: &Merchant,
        req: PointPaymentRequest,
        now: DateTime<Utc>,
    ) -> Result<Recorded<PointPayment>> {
        self.reserve_points_audited(merchant, req, None, now).await
    }

    async fn reserve_points_audited(
        &self,
        merchant: &Merchant,
        req: PointPaymentRequest,
        audit: Option<NewAudit>,
        now: DateTime<Utc>,
    ) -> Result<Recorded<PointPayment>> {
        let program = self.program().await?;
        let source = req.source.unwrap_or_default();
        let n = req.request_id.chars().count();
        if n == 0 || n > 128 || req.request_id.chars().any(char::is_control) {
            return Err(invalid("request_id", "must be 1 to 128 characters"));
        }
        let member_code = MemberCode::parse(&req.member_code).ok_or_else(|| {
            invalid(
                "member_code",
                format!(
                    "{:?} is not a member code (8 letters and digits)",
                    req.member_code
                ),
            )
        })?;
        let amount = |a: &str| {
            Money::parse_positive(a, merchant.currency)
                .map_err(|e| invalid("amount", e.to_string()))
        };
        let (points, amount) = match (source, req.points, req.amount.as_deref()) {
            (PaySource::Credit, None, Some(a)) => {
                if merchant.currency != program.currency {
                    return Err(invalid(
                        "amount",
                        format!(
                            "store credit is in {}, this merchant sells in {}",
                            program.currency, merchant.currency
                        ),
                    ));
                }
                (Points::new(0), amount(a)?)
            }
            (PaySource::Credit, ..) => {
                return Err(invalid(
                    "amount",
                    "store credit takes an amount, not points",
                ));
            }
            (PaySource::Points, Some(p), None) => {
                let rate = program.pay.ok_or(Refusal::PaymentsOff)?;
                let p = Points::positive(p)
                    .ok_or_else(|| invalid("points", "must be a positive number of points"))?;
                (p, rate.value(p, merchant.currency))
            }
            (PaySource::Points, None, Some(a)) => {
                let rate = program.pay.ok_or(Refusal::PaymentsOff)?;
                let a = amount(a)?;
                (rate.points_for(a), a)
            }
            _ => return Err(invalid("points", "give either points or amount")),
        };
        if amount.minor() <= 0 {
            return Err(invalid("points", "too few points to pay anything"));
        }
        let pay_code = req
            .pay_code
            .as_deref()
            .map(|c| c.chars().filter(char::is_ascii_digit).collect::<String>());
        let mut canonical = serde_json::json!({
            "request_id": req.request_id,
            "member_code": member_code.as_str(),
            "points": points.value(),
            "amount": amount.minor(),
            "pay_code": pay_code,
        });
        if source == PaySource::Credit {
            // Only then: payments with points keep the fingerprints they had.
            canonical["source"] = source.as_str().into();
        }
        let cmd = ReserveCommand {
            id: format!("pp_{}", hex::encode(rand::rng().random::<[u8; 8]>())),
            merchant_id: merchant.id.clone(),
            request_id: req.request_id,
            fingerprint: hex::encode(Sha256::digest(canonical.to_string())),
            member_code,
            source,
            points,
            amount,
            pay_code_hash: pay_code.as_deref().map(code_hash),
            min_points: program.pay_min_points,
            expires_at: now + Duration::minutes(i64::from(program.pay_hold_minutes)),
            now,
            audit,
        };
        match self.store.reserve_points(&cmd).await {
            Err(crate::store::StoreError::NotFound("member")) => Err(invalid(
                "member_code",
                format!("no member has the code {}", cmd.member_code.as_str()),
            )),
            other => Ok(other?),
        }
    }

    /// The till makes a confirmed payment final.
    pub async fn capture_points(
        &self,
        merchant: &Merchant,
        id: &str,
        receipt_id: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Recorded<PointPayment>> {
        if receipt_id
            .as_ref()
            .is_some_and(|r| r.is_empty() || r.chars().count() > 128)
        {
            return Err(invalid("receipt_id", "must be 1 to 128 characters"));
        }
        let captured = self
            .store
            .capture_payment(id, &merchant.id, &receipt_id, &None, now)
            .await?;
        if let Recorded::New(p) = &captured {
            crate::metrics::redeemed(p.points.value());
        }
        Ok(captured)
    }

    /// The till gives a payment's points back.
    pub async fn release_points(
        &self,
        merchant: &Merchant,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Recorded<PointPayment>> {
        Ok(self
            .store
            .release_payment(id, &merchant.id, &None, now)
            .await?)
    }

    /// A payment, as its merchant sees it.
    pub async fn point_payment(&self, merchant: &Merchant, id: &str) -> Result<PointPayment> {
        Ok(self
            .store
            .point_payment(id, &Some(merchant.id.clone()))
            .await?)
    }

    /// The customer's yes or no in their chat.
    pub async fn answer_payment(
        &self,
        member_id: i64,
        id: &str,
        yes: bool,
        now: DateTime<Utc>,
    ) -> Result<PointPayment> {
        Ok(self.store.answer_payment(id, member_id, yes, now).await?)
    }

    /// A new one-time pay code for a member to show at the till (their earlier
    /// one stops working), and when it expires.
    pub async fn new_pay_code(
        &self,
        member_id: i64,
        now: DateTime<Utc>,
    ) -> Result<(String, DateTime<Utc>)> {
        // A code pays with points (when the programme allows it) or with the
        // member's store credit.
        if self.program().await?.pay.is_none() {
            let member = self.store.member(&MemberRef::Id(member_id)).await?;
            if member.credit_minor <= 0 {
                return Err(ServiceError::Refused(Refusal::PaymentsOff));
            }
        }
        let expires = now + Duration::minutes(PAY_CODE_MINUTES);
        // Codes are short: one may be another member's, live; draw again.
        for _ in 0..PAY_CODE_DRAWS {
            let code: String = {
                let mut rng = rand::rng();
                (0..PAY_CODE_DIGITS)
                    .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
                    .collect()
            };
            if self
                .store
                .add_pay_code(member_id, &code_hash(&code), expires, now)
                .await?
            {
                return Ok((code, expires));
            }
        }
        Err(ServiceError::Store(crate::store::StoreError::Locked(
            "no free pay code: too many are live at once; try again".into(),
        )))
    }

    /// A member's store credit, in the programme's currency.
    pub async fn store_credit(&self, m: &Member) -> Result<Money> {
        Ok(Money::from_minor(
            m.credit_minor,
            self.program().await?.currency,
        ))
    }

    /// Gives back the points of payments whose hold ran out.
    pub async fn expire_payments(&self, now: DateTime<Utc>) -> Result<(u64, i64)> {
        Ok(self.store.expire_payments(now).await?)
    }
}

impl Loyalty {
    /// The merchant a staff member takes a payment for (one they work for).
    async fn counter_merchant(
        &self,
        actor: &super::staff::Actor,
        merchant_id: &str,
    ) -> Result<Merchant> {
        actor.require(crate::domain::staff::Permission::Counter)?;
        if let super::staff::Actor::Staff(s) = actor
            && !s.acts_for(merchant_id)
        {
            return Err(ServiceError::Forbidden);
        }
        self.merchant(merchant_id).await
    }

    /// A cashier asks to take points (or store credit) for the bill (`amount`
    /// of it), for one of their shops; `key` (the form's own) makes a double
    /// submit ask once. Audited.
    pub async fn counter_reserve(
        &self,
        actor: &super::staff::Actor,
        (merchant_id, member_code): (&str, &str),
        (source, amount, pay_code): (PaySource, &str, Option<String>),
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<PointPayment> {
        let merchant = self.counter_merchant(actor, merchant_id).await?;
        let req = PointPaymentRequest {
            request_id: format!("counter-{}", key.trim()),
            member_code: member_code.to_string(),
            source: Some(source),
            points: None,
            amount: Some(amount.trim().to_string()),
            pay_code: pay_code.filter(|c| !c.trim().is_empty()),
        };
        let subject = format!("{}/{}", merchant.id, req.request_id);
        let audit = actor.change("payment.reserve", &subject);
        let recorded = self
            .reserve_points_audited(&merchant, req, Some(audit), now)
            .await?;
        Ok(recorded.into_inner())
    }

    /// A payment as the cashier's shop sees it.
    pub async fn counter_payment(
        &self,
        actor: &super::staff::Actor,
        id: &str,
    ) -> Result<PointPayment> {
        let p = self.store.point_payment(id, &None).await?;
        self.counter_merchant(actor, &p.merchant_id).await?;
        Ok(p)
    }

    /// The cashier completes (`capture`) or cancels a payment. Audited.
    pub async fn counter_settle(
        &self,
        actor: &super::staff::Actor,
        id: &str,
        capture: bool,
        now: DateTime<Utc>,
    ) -> Result<PointPayment> {
        let p = self.counter_payment(actor, id).await?;
        let action = if capture {
            "payment.capture"
        } else {
            "payment.release"
        };
        let audit = Some(actor.change(action, id));
        let recorded = if capture {
            self.store
                .capture_payment(id, &p.merchant_id, &None, &audit, now)
                .await?
        } else {
            self.store
                .release_payment(id, &p.merchant_id, &audit, now)
                .await?
        };
        Ok(recorded.into_inner())
    }
}
