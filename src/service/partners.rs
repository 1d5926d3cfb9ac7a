//! Partners and settlement: agreements set by the owner (CLI, admin API,
//! console; audit-logged), and each period's statement, shown and closed.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::staff::Actor;
use super::{Loyalty, Result, invalid};
use crate::domain::Money;
use crate::domain::partner::{self, Funding, Partner, Period, Statement, StatementQuery};
use crate::domain::staff::Permission;

/// A partner agreement to set; what is left out stays as it was.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct PartnerInput {
    /// What one of its points is worth between partners, a decimal amount in
    /// the programme's currency ("0.25")
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// "postpaid" (settled each period) or "prepaid" (from a budget of points)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub funding: Option<String>,
    /// Prepaid: the budget of points paid for, in all
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<i64>,
    /// Prepaid: points added to the budget
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_up: Option<i64>,
}

/// A partner with its shop's name and its prepaid points left.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PartnerView {
    #[serde(flatten)]
    pub partner: Partner,
    pub name: String,
    /// Prepaid points not yet issued
    #[serde(skip_serializing_if = "Option::is_none")]
    pub left: Option<i64>,
}

impl Loyalty {
    /// Every partner, with its shop's name.
    pub async fn partners(&self) -> Result<Vec<PartnerView>> {
        let merchants = self.store.merchants().await?;
        Ok(self
            .store
            .partners()
            .await?
            .into_iter()
            .map(|p| PartnerView {
                name: merchants
                    .iter()
                    .find(|m| m.id == p.merchant_id)
                    .map(|m| m.name.clone())
                    .unwrap_or_default(),
                left: p.left(),
                partner: p,
            })
            .collect())
    }

    /// Makes a merchant a partner or changes its agreement.
    pub async fn set_partner(
        &self,
        merchant_id: &str,
        input: &PartnerInput,
        now: DateTime<Utc>,
    ) -> Result<Partner> {
        let current = self
            .store
            .partners()
            .await?
            .into_iter()
            .find(|p| p.merchant_id == merchant_id);
        let currency = self.program().await?.currency;
        let value_minor = match (&input.value, &current) {
            (Some(v), _) => Money::parse(v, currency)
                .map_err(|e| invalid("value", format!("{v:?}: {e}")))?
                .minor(),
            (None, Some(p)) => p.value_minor,
            (None, None) => return Err(invalid("value", "a new partner needs a point's value")),
        };
        let funding = match input.funding.as_deref().map(str::trim) {
            Some("postpaid") => Funding::Postpaid,
            Some("prepaid") => Funding::Prepaid,
            Some(f) => {
                return Err(invalid(
                    "funding",
                    format!("{f:?} is not \"postpaid\" or \"prepaid\""),
                ));
            }
            None if input.budget.is_some() || input.top_up.is_some() => Funding::Prepaid,
            None => current.as_ref().map_or(Funding::Postpaid, |p| p.funding),
        };
        let budget = match funding {
            Funding::Postpaid => None,
            Funding::Prepaid => {
                let base = input
                    .budget
                    .or(current.as_ref().and_then(|p| p.budget))
                    .unwrap_or(0);
                Some(base + input.top_up.unwrap_or(0))
            }
        };
        if input.top_up.is_some_and(|t| t <= 0) {
            return Err(invalid("top_up", "must be a positive number of points"));
        }
        partner::check(value_minor, funding, budget).map_err(|e| invalid("partner", e))?;
        Ok(self
            .store
            .set_partner(merchant_id, value_minor, funding, budget, now)
            .await?)
    }

    /// [`Loyalty::set_partner`] by staff or the CLI (the owner); audited.
    pub async fn staff_set_partner(
        &self,
        actor: &Actor,
        merchant_id: &str,
        input: &PartnerInput,
        now: DateTime<Utc>,
    ) -> Result<Partner> {
        actor.require(Permission::Settings)?;
        let before = self
            .store
            .partners()
            .await?
            .into_iter()
            .find(|p| p.merchant_id == merchant_id);
        let after = self.set_partner(merchant_id, input, now).await?;
        self.audit(
            actor,
            "partner.set",
            Some(merchant_id),
            before.as_ref(),
            Some(&after),
            now,
        )
        .await?;
        Ok(after)
    }

    fn period(&self, period: &str) -> Result<Period> {
        Period::parse(period).ok_or_else(|| {
            invalid(
                "period",
                format!("{period:?} is not a month such as 2026-11"),
            )
        })
    }

    async fn query(&self, period: &str) -> Result<StatementQuery> {
        Ok(StatementQuery {
            period: self.period(period)?,
            tz: self.tz,
            currency: self.program().await?.currency.code().to_string(),
        })
    }

    /// A period's settlement statement: as closed, or as it stands.
    pub async fn settlement(&self, period: &str) -> Result<Statement> {
        let q = self.query(period).await?;
        Ok(self.reader.settlement(&q).await?)
    }

    /// Closes a period that has ended; its statement never changes after
    /// (closing it again answers the same).
    pub async fn close_settlement(&self, period: &str, now: DateTime<Utc>) -> Result<Statement> {
        let q = self.query(period).await?;
        let (_, end) = q.period.bounds(self.tz);
        if now < end {
            return Err(invalid(
                "period",
                format!(
                    "{} has not ended yet: it can be closed from its last day's end",
                    q.period
                ),
            ));
        }
        Ok(self.store.close_settlement(&q, now).await?)
    }

    /// [`Loyalty::close_settlement`] by staff or the CLI (the owner); audited.
    pub async fn staff_close_settlement(
        &self,
        actor: &Actor,
        period: &str,
        now: DateTime<Utc>,
    ) -> Result<Statement> {
        actor.require(Permission::Settings)?;
        let s = self.close_settlement(period, now).await?;
        self.audit::<serde_json::Value>(
            actor,
            "settlement.close",
            Some(&s.period),
            None,
            Some(&serde_json::json!({ "points": s.points, "amount_minor": s.amount_minor })),
            now,
        )
        .await?;
        Ok(s)
    }
}

/// A statement as CSV: a line per pair (what the issuer owes the redeemer),
/// then a line per partner (its net position and its breakage); amounts as
/// decimals in the programme's currency.
pub fn statement_csv(s: &Statement) -> String {
    let currency = s.currency.parse().unwrap_or(crate::domain::Currency::THB);
    let money = |m: i64| Money::from_minor(m, currency).to_decimal_string();
    let pairs = s.pairs.iter().map(|l| {
        [
            s.period.clone(),
            "pair".into(),
            l.issuer.clone(),
            l.redeemer.clone(),
            l.points.to_string(),
            money(l.amount_minor),
            String::new(),
            String::new(),
        ]
    });
    let partners = s.partners.iter().map(|p| {
        [
            s.period.clone(),
            "net".into(),
            p.merchant_id.clone(),
            String::new(),
            (p.points_in - p.points_out).to_string(),
            money(p.net_minor),
            p.breakage_points.to_string(),
            money(p.breakage_minor),
        ]
    });
    super::reports::csv_of(
        [
            "period",
            "line",
            "partner",
            "redeemer",
            "points",
            "amount",
            "breakage_points",
            "breakage_amount",
        ],
        pairs.chain(partners),
    )
}
