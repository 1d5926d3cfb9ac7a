//! Redemption and members: what was redeemed and what it cost, and who bought.

use super::*;

/// Redemptions of one reward (or of every reward of one kind).
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct RewardRedemptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reward_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name_en: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name_th: Option<String>,
    /// `product`, `fixed_discount`, `percent_discount`, `cashback`, `draw_entry`
    pub kind: String,
    /// Vouchers issued in the range (each a redemption)
    pub redemptions: i64,
    /// Of those: used, still valid, expired unused, cancelled by the member
    /// (the last two gave their points back)
    pub used: i64,
    pub valid: i64,
    pub expired: i64,
    pub given_back: i64,
    /// Points spent on the ones not given back
    pub points: i64,
    /// What they cost: the discount actually given when a till said so, else
    /// the face value (used or still valid ones)
    #[schema(value_type = crate::domain::money::Amount)]
    pub cost: String,
}

/// Redemption in a range: the rate, per reward and kind, and payments at the
/// till and cashback.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RedemptionReport {
    #[serde(flatten)]
    pub range: Range,
    pub currency: String,
    /// Points redeemed (net of those given back) ÷ points issued, in the range
    /// and since the programme began, in percent
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redemption_rate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redemption_rate_all_time: Option<String>,
    pub points_issued: i64,
    pub points_redeemed_net: i64,
    /// The same per period (day, week or month)
    pub periods: Vec<RedemptionPeriod>,
    pub rewards: Vec<RewardRedemptions>,
    pub kinds: Vec<RewardRedemptions>,
    /// Payments at tills (points valued at what they paid) and cashback credit
    pub payments: PaymentStats,
}

/// Points issued and redeemed in one period, and their ratio.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RedemptionPeriod {
    pub period: report::Period,
    pub points_issued: i64,
    pub points_redeemed_net: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redemption_rate: Option<String>,
}

/// Members and what they bought in a range.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MembersReport {
    #[serde(flatten)]
    pub range: Range,
    pub currency: String,
    /// Members who had joined by the range's end, and those who joined in it
    pub members: i64,
    pub new_members: i64,
    /// Members who bought in the 30 and 90 days up to the range's end
    pub active_30_days: i64,
    pub active_90_days: i64,
    /// Members who bought in the range, and those who bought twice or more
    pub buyers: i64,
    pub repeat_buyers: i64,
    /// repeat buyers ÷ buyers, in percent
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repeat_purchase_rate: Option<String>,
    /// Per member who bought in the range: sales (net of refunds) and visits
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::domain::money::Amount>)]
    pub average_spend: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub average_visits: Option<String>,
    /// Sales to members and on receipts nobody claimed, and the members' share
    #[schema(value_type = crate::domain::money::Amount)]
    pub member_sales: String,
    #[schema(value_type = crate::domain::money::Amount)]
    pub anonymous_sales: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identified_share: Option<String>,
}

impl Loyalty {
    /// Redemption in the range: the rate, vouchers by reward and kind with
    /// their cost, payments at tills and cashback credit.
    pub async fn redemption_report(
        &self,
        q: &ReportQuery,
        now: DateTime<Utc>,
    ) -> Result<RedemptionReport> {
        let range = self.report_range(q, now).await?;
        let program = self.program().await?;
        let (from, to) = range.bounds();
        let days = self.reader.ledger_days(self.tz, &range.merchant_id).await?;
        let (mut period, mut all) = (Flows::default(), Flows::default());
        for (day, f) in &days {
            all.merge(f);
            if (range.from..=range.to).contains(day) {
                period.merge(f);
            }
        }
        let net = |f: &Flows| f.redeemed - f.released;
        let periods = report::periods(range.from, range.to, range.by)
            .into_iter()
            .map(|p| {
                let mut f = Flows::default();
                for (_, day) in days.range(p.first..=p.last) {
                    f.merge(day);
                }
                RedemptionPeriod {
                    points_issued: f.issued(),
                    points_redeemed_net: net(&f),
                    redemption_rate: report::share_text(net(&f), f.issued()),
                    period: p,
                }
            })
            .collect();
        let stats = self
            .reader
            .voucher_stats(from, to, &range.merchant_id)
            .await?;
        let catalogue = self.reader.rewards(true).await?;
        let money = |minor: i64| Money::from_minor(minor, program.currency).to_decimal_string();
        let mut rewards: Vec<(RewardRedemptions, i64)> = Vec::new();
        for s in &stats {
            let reward = catalogue.iter().find(|r| r.id == s.reward_id);
            let i = match rewards
                .iter()
                .position(|(r, _)| r.reward_id == Some(s.reward_id))
            {
                Some(i) => i,
                None => {
                    rewards.push((
                        RewardRedemptions {
                            reward_id: Some(s.reward_id),
                            name_en: reward.map(|r| r.name_en.clone()),
                            name_th: reward.map(|r| r.name_th.clone()),
                            kind: reward.map_or("product", |r| r.kind.as_str()).to_string(),
                            ..Default::default()
                        },
                        0,
                    ));
                    rewards.len() - 1
                }
            };
            let (r, cost) = &mut rewards[i];
            r.redemptions += s.count;
            match s.status.as_str() {
                "used" => r.used += s.count,
                "issued" => r.valid += s.count,
                "expired" => r.expired += s.count,
                _ => r.given_back += s.count,
            }
            if matches!(s.status.as_str(), "used" | "issued") {
                r.points += s.points;
            }
            *cost += s.cost_minor;
        }
        let mut kinds: Vec<(RewardRedemptions, i64)> = Vec::new();
        for (r, cost) in &rewards {
            let i = match kinds.iter().position(|(k, _)| k.kind == r.kind) {
                Some(i) => i,
                None => {
                    kinds.push((
                        RewardRedemptions {
                            kind: r.kind.clone(),
                            ..Default::default()
                        },
                        0,
                    ));
                    kinds.len() - 1
                }
            };
            let (k, c) = &mut kinds[i];
            k.redemptions += r.redemptions;
            k.used += r.used;
            k.valid += r.valid;
            k.expired += r.expired;
            k.given_back += r.given_back;
            k.points += r.points;
            *c += cost;
        }
        let priced = |list: Vec<(RewardRedemptions, i64)>| {
            list.into_iter()
                .map(|(r, cost)| RewardRedemptions {
                    cost: money(cost),
                    ..r
                })
                .collect()
        };
        Ok(RedemptionReport {
            currency: program.currency.code().to_string(),
            redemption_rate: report::share_text(net(&period), period.issued()),
            redemption_rate_all_time: report::share_text(net(&all), all.issued()),
            points_issued: period.issued(),
            points_redeemed_net: net(&period),
            periods,
            rewards: priced(rewards),
            kinds: priced(kinds),
            payments: self
                .reader
                .payment_stats(from, to, &range.merchant_id)
                .await?,
            range,
        })
    }

    /// Members in the range: how many, new, active, repeat buyers, average
    /// spend and visits, and the share of sales made by identified members.
    pub async fn members_report(
        &self,
        q: &ReportQuery,
        now: DateTime<Utc>,
    ) -> Result<MembersReport> {
        let range = self.report_range(q, now).await?;
        let program = self.program().await?;
        let (from, to) = range.bounds();
        let s = self
            .reader
            .member_stats(from, to, program.currency.code(), &range.merchant_id)
            .await?;
        let money = |minor: i64| Money::from_minor(minor, program.currency).to_decimal_string();
        let sales = s.member_sales_minor + s.anonymous_sales_minor;
        Ok(MembersReport {
            currency: program.currency.code().to_string(),
            members: s.total,
            new_members: s.new,
            active_30_days: s.active_30,
            active_90_days: s.active_90,
            buyers: s.buyers,
            repeat_buyers: s.repeat_buyers,
            repeat_purchase_rate: report::share_text(s.repeat_buyers, s.buyers),
            average_spend: (s.buyers > 0).then(|| money(s.member_sales_minor / s.buyers.max(1))),
            average_visits: report::average_text(s.visits, s.buyers),
            member_sales: money(s.member_sales_minor),
            anonymous_sales: money(s.anonymous_sales_minor),
            identified_share: report::share_text(s.member_sales_minor, sales),
            range,
        })
    }
}

impl RedemptionReport {
    /// One line per reward, then one per kind.
    pub fn csv(&self) -> String {
        let header = [
            "reward_id",
            "name_en",
            "kind",
            "redemptions",
            "used",
            "valid",
            "expired",
            "given_back",
            "points",
            "cost",
        ];
        csv_of(
            header,
            self.rewards.iter().chain(&self.kinds).map(|r| {
                [
                    r.reward_id.map(|i| i.to_string()).unwrap_or_default(),
                    r.name_en.clone().unwrap_or_default(),
                    r.kind.clone(),
                    r.redemptions.to_string(),
                    r.used.to_string(),
                    r.valid.to_string(),
                    r.expired.to_string(),
                    r.given_back.to_string(),
                    r.points.to_string(),
                    r.cost.clone(),
                ]
            }),
        )
    }
}

impl MembersReport {
    /// One line of figures.
    pub fn csv(&self) -> String {
        let o = |v: &Option<String>| v.clone().unwrap_or_default();
        csv_of(
            [
                "from",
                "to",
                "members",
                "new_members",
                "active_30_days",
                "active_90_days",
                "buyers",
                "repeat_buyers",
                "repeat_purchase_rate",
                "average_spend",
                "average_visits",
                "member_sales",
                "anonymous_sales",
                "identified_share",
            ],
            [[
                self.range.from.to_string(),
                self.range.to.to_string(),
                self.members.to_string(),
                self.new_members.to_string(),
                self.active_30_days.to_string(),
                self.active_90_days.to_string(),
                self.buyers.to_string(),
                self.repeat_buyers.to_string(),
                o(&self.repeat_purchase_rate),
                o(&self.average_spend),
                o(&self.average_visits),
                self.member_sales.clone(),
                self.anonymous_sales.clone(),
                o(&self.identified_share),
            ]],
        )
    }
}
