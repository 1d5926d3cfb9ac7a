//! Campaigns with their lift, and the programme's P&L.

use super::*;

/// One campaign's results and cost.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CampaignRow {
    pub id: i64,
    pub name_en: String,
    pub name_th: String,
    /// `scheduled`, `running`, `ended`
    pub status: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// Bonus points it gave, and their value at a point's value
    pub points_awarded: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::domain::money::Amount>)]
    pub points_value: Option<String>,
    /// Purchases that got its bonus, their members and sales
    pub purchases: i64,
    pub members: i64,
    #[schema(value_type = crate::domain::money::Amount)]
    pub sales: String,
    /// The share of members it held out (percent), when it did
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holdout: Option<String>,
    /// What it added, measured against its holdout group
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lift: Option<crate::domain::campaign::Lift>,
    /// Why there is no lift
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lift_note: Option<String>,
}

impl CampaignRow {
    /// The lift as people read it: the incremental sales and the ROI, or why
    /// there is none.
    pub fn lift_text(&self, currency: crate::domain::Currency) -> String {
        match &self.lift {
            Some(l) => format!(
                "incremental sales {} ({} vs {} per member; purchase rate {} % vs {} %){}",
                Money::from_minor(l.incremental_sales_minor, currency).to_decimal_string(),
                Money::from_minor(l.target_spend_per_member, currency).to_decimal_string(),
                Money::from_minor(l.holdout_spend_per_member, currency).to_decimal_string(),
                report::share_text(l.target_purchase_rate_bp, 10_000).unwrap_or_default(),
                report::share_text(l.holdout_purchase_rate_bp, 10_000).unwrap_or_default(),
                l.roi_bp
                    .map(|r| format!(
                        ", ROI {} %",
                        report::share_text(r, 10_000).unwrap_or_default()
                    ))
                    .unwrap_or_default()
            ),
            None => self.lift_note.clone().unwrap_or_default(),
        }
    }
}

/// Campaigns running in the range, with what they gave and what they cost.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CampaignsReport {
    #[serde(flatten)]
    pub range: Range,
    pub currency: String,
    /// One point's value (`0.25`), when there is anything to go by
    #[serde(skip_serializing_if = "Option::is_none")]
    pub point_value: Option<String>,
    pub campaigns: Vec<CampaignRow>,
    /// The journeys' outcomes against their holdout groups (all time; spend in
    /// the 30 days after each send, minor units)
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub journeys: Vec<crate::domain::journey::Outcome>,
}

/// The programme's profit and loss for a range, as far as taem can see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SummaryReport {
    #[serde(flatten)]
    pub range: Range,
    pub currency: String,
    /// Sales to members, on receipts nobody claimed, and both (net of refunds)
    #[schema(value_type = crate::domain::money::Amount)]
    pub member_sales: String,
    #[schema(value_type = crate::domain::money::Amount)]
    pub anonymous_sales: String,
    #[schema(value_type = crate::domain::money::Amount)]
    pub sales: String,
    /// One point's value (`0.25`), when there is anything to go by
    #[serde(skip_serializing_if = "Option::is_none")]
    pub point_value: Option<String>,
    /// Points issued in the range, and their value
    pub points_issued: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::domain::money::Amount>)]
    pub points_issued_value: Option<String>,
    /// What redeemed rewards cost (the discount given or the face value)
    #[schema(value_type = crate::domain::money::Amount)]
    pub rewards_cost: String,
    /// What points and store credit paid at tills
    #[schema(value_type = crate::domain::money::Amount)]
    pub paid_with_points: String,
    #[schema(value_type = crate::domain::money::Amount)]
    pub paid_with_credit: String,
    /// Campaigns' bonus points in the range, and their value
    pub campaign_points: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::domain::money::Amount>)]
    pub campaign_points_value: Option<String>,
    /// Sales campaigns added, measured against holdout groups; absent when no
    /// campaign held members out
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::domain::money::Amount>)]
    pub incremental_sales: Option<String>,
    /// Why incremental sales are absent
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incremental_sales_note: Option<String>,
}

/// Why a campaign's lift is not given.
const NO_HOLDOUT: &str = "not measurable: the campaign held no members out";

/// Why the summary gives no incremental sales.
const NO_HOLDOUTS: &str = "not measurable: no campaign held members out";

impl Loyalty {
    /// One point's value (ten-thousandths) under the programme's settings.
    pub(super) async fn point_value_e4(
        &self,
        program: &crate::domain::model::Program,
    ) -> Result<Option<i64>> {
        let worth = self.reader.redeemed_worth().await?;
        Ok(liability::point_value(
            &program.reports,
            &worth,
            program.pay.map(|r| (r.points, r.minor)),
            program.currency,
        )
        .0)
    }

    /// Campaigns whose window meets the range: points given and their value,
    /// purchases, members and sales with their bonus; lift when measured.
    pub async fn campaigns_report(
        &self,
        q: &ReportQuery,
        now: DateTime<Utc>,
    ) -> Result<CampaignsReport> {
        let range = self.report_range(q, now).await?;
        let program = self.program().await?;
        let e4 = self.point_value_e4(&program).await?;
        let (from, to) = range.bounds();
        let money = |minor: i64| Money::from_minor(minor, program.currency).to_decimal_string();
        let mut campaigns = Vec::new();
        for c in self.shop_campaign_reports(now, &range.merchant_id).await? {
            let w = &c.campaign.window;
            if !(w.starts_at < to && w.ends_at > from) {
                continue;
            }
            let cost = e4.map(|v| liability::value_of(c.results.points, v, program.currency));
            let lift = if c.campaign.holdout_bp > 0 {
                let end = w
                    .ends_at
                    .min(c.campaign.ended_early_at.unwrap_or(w.ends_at))
                    .min(now);
                let (members, spend) = self
                    .reader
                    .window_spend(
                        w.starts_at,
                        end,
                        program.currency.code(),
                        &range.merchant_id,
                    )
                    .await?;
                let margin = program.reports.gross_margin_bp;
                let cost_minor = cost.map_or(0, |m| m.minor());
                crate::domain::campaign::lift(&c.campaign, &members, &spend, (cost_minor, margin))
            } else {
                None
            };
            let lift_note = match (&lift, c.campaign.holdout_bp) {
                (Some(_), _) => None,
                (None, 0) => Some(NO_HOLDOUT.to_string()),
                (None, _) => Some("not measurable yet: a group has no members".to_string()),
            };
            campaigns.push(CampaignRow {
                id: c.campaign.id,
                name_en: c.campaign.name_en.clone(),
                name_th: c.campaign.name_th.clone(),
                status: c.status.to_string(),
                starts_at: w.starts_at,
                ends_at: w.ends_at,
                points_awarded: c.results.points,
                points_value: cost.map(|m| m.to_decimal_string()),
                purchases: c.results.purchases,
                members: c.results.members,
                sales: money(c.results.sales_minor),
                holdout: (c.campaign.holdout_bp > 0)
                    .then(|| report::share_text(c.campaign.holdout_bp, 10_000).unwrap_or_default()),
                lift,
                lift_note,
            });
        }
        Ok(CampaignsReport {
            currency: program.currency.code().to_string(),
            point_value: e4.map(liability::point_value_text),
            campaigns,
            journeys: match range.merchant_id {
                None => self.journey_outcomes().await?,
                // A journey belongs to the programme, not to a shop.
                Some(_) => Vec::new(),
            },
            range,
        })
    }

    /// The programme's P&L for the range: sales, the value of points issued,
    /// what rewards and payments with points cost, campaigns' points.
    pub async fn summary_report(
        &self,
        q: &ReportQuery,
        now: DateTime<Utc>,
    ) -> Result<SummaryReport> {
        let program = self.program().await?;
        let e4 = self.point_value_e4(&program).await?;
        let points = self.points_report(q, now).await?;
        let members = self.members_report(q, now).await?;
        let redemption = self.redemption_report(q, now).await?;
        let campaigns = self.campaigns_report(q, now).await?;
        Ok(summarize(
            &program,
            e4,
            (&points, &members, &redemption),
            &campaigns,
        ))
    }
}

/// The P&L from the reports it sums up.
pub(super) fn summarize(
    program: &crate::domain::model::Program,
    e4: Option<i64>,
    (points, members, redemption): (&PointsReport, &MembersReport, &RedemptionReport),
    campaigns: &CampaignsReport,
) -> SummaryReport {
    let lifts: Vec<i64> = campaigns
        .campaigns
        .iter()
        .filter_map(|c| c.lift.as_ref().map(|l| l.incremental_sales_minor))
        .collect();
    let money = |minor: i64| Money::from_minor(minor, program.currency).to_decimal_string();
    let value =
        |p: i64| e4.map(|v| liability::value_of(p, v, program.currency).to_decimal_string());
    let parse = |s: &str| {
        Money::parse(s, program.currency)
            .map(|m| m.minor())
            .unwrap_or(0)
    };
    let rewards_cost: i64 = redemption.rewards.iter().map(|r| parse(&r.cost)).sum();
    let sales = parse(&members.member_sales) + parse(&members.anonymous_sales);
    SummaryReport {
        currency: program.currency.code().to_string(),
        sales: money(sales),
        member_sales: members.member_sales.clone(),
        anonymous_sales: members.anonymous_sales.clone(),
        point_value: e4.map(liability::point_value_text),
        points_issued: points.total_issued,
        points_issued_value: value(points.total_issued),
        rewards_cost: money(rewards_cost),
        paid_with_points: money(redemption.payments.points_paid_minor),
        paid_with_credit: money(redemption.payments.credit_paid_minor),
        campaign_points: points.total.issued_campaign,
        campaign_points_value: value(points.total.issued_campaign),
        incremental_sales: (!lifts.is_empty()).then(|| money(lifts.iter().sum())),
        incremental_sales_note: lifts.is_empty().then(|| NO_HOLDOUTS.into()),
        range: points.range.clone(),
    }
}

impl CampaignsReport {
    /// One line per campaign.
    pub fn csv(&self) -> String {
        csv_of(
            [
                "id",
                "name_en",
                "status",
                "starts_at",
                "ends_at",
                "points_awarded",
                "points_value",
                "purchases",
                "members",
                "sales",
                "lift",
            ],
            self.campaigns.iter().map(|c| {
                [
                    c.id.to_string(),
                    c.name_en.clone(),
                    c.status.clone(),
                    c.starts_at.to_rfc3339(),
                    c.ends_at.to_rfc3339(),
                    c.points_awarded.to_string(),
                    c.points_value.clone().unwrap_or_default(),
                    c.purchases.to_string(),
                    c.members.to_string(),
                    c.sales.clone(),
                    c.lift_text(
                        self.currency
                            .parse()
                            .unwrap_or(crate::domain::Currency::THB),
                    ),
                ]
            }),
        )
    }
}

impl SummaryReport {
    /// One line of figures.
    pub fn csv(&self) -> String {
        let o = |v: &Option<String>| v.clone().unwrap_or_default();
        csv_of(
            [
                "from",
                "to",
                "sales",
                "member_sales",
                "anonymous_sales",
                "points_issued",
                "points_issued_value",
                "rewards_cost",
                "paid_with_points",
                "paid_with_credit",
                "campaign_points",
                "campaign_points_value",
                "incremental_sales",
            ],
            [[
                self.range.from.to_string(),
                self.range.to.to_string(),
                self.sales.clone(),
                self.member_sales.clone(),
                self.anonymous_sales.clone(),
                self.points_issued.to_string(),
                o(&self.points_issued_value),
                self.rewards_cost.clone(),
                self.paid_with_points.clone(),
                self.paid_with_credit.clone(),
                self.campaign_points.to_string(),
                o(&self.campaign_points_value),
                o(&self.incremental_sales),
            ]],
        )
    }
}
