//! Reports: one computation for the CLI, the admin API and the console, so
//! they never disagree. The figures are sums of ledger entries by local day in
//! the programme's time zone (see `docs/REPORTS.md` for what each means).

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{Loyalty, Result, invalid};
use crate::domain::Money;
use crate::domain::liability::{self, BreakageMethod, CohortRow, PointValueSource};
use crate::domain::report::{self, Flows, Grain, PaymentStats, PointsRow};
use crate::domain::segment::{self, Class, MemberSegment, Segment};
use crate::store::Store;

/// Entries younger than this are left out of the roll-up (a transaction that
/// made them may still be committing); reports read them from the ledger.
const ROLL_UP_MARGIN_MINUTES: i64 = 10;

/// Most periods in one report.
const MAX_PERIODS: usize = 1_000;

/// What a report covers: local dates (inclusive), the length of its periods,
/// and optionally one shop.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams, ToSchema)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// The first local day (`YYYY-MM-DD`); default: the start of the period
    /// eleven periods before `to`'s
    #[serde(default)]
    #[param(value_type = Option<String>, example = "2026-01-01")]
    pub from: Option<String>,
    /// The last local day (`YYYY-MM-DD`); default: today
    #[serde(default)]
    #[param(value_type = Option<String>, example = "2026-12-31")]
    pub to: Option<String>,
    /// `day`, `week` (ISO, Monday to Sunday) or `month` (default)
    #[serde(default)]
    #[param(value_type = Option<String>, example = "month")]
    pub by: Option<String>,
    /// Only what happened at this shop
    #[serde(default)]
    pub merchant: Option<String>,
}

/// The range a report covers, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Range {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub by: Grain,
    /// The programme's time zone, in which days, weeks and months are counted
    pub time_zone: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_id: Option<String>,
}

/// Points issued, redeemed, expired, clawed back and given back per period,
/// with the outstanding balance (the whole programme's report).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PointsReport {
    #[serde(flatten)]
    pub range: Range,
    pub periods: Vec<PointsRow>,
    /// The whole range's flows
    pub total: Flows,
    pub total_issued: i64,
    pub total_net_change: i64,
}

fn date(field: &str, value: Option<&str>) -> Result<Option<NaiveDate>> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse::<NaiveDate>()
                .map_err(|_| invalid(field, format!("{v:?} is not a date such as 2026-11-30")))
        })
        .transpose()
}

impl Loyalty {
    /// The range a query asks for, checked, in the programme's time zone.
    pub async fn report_range(&self, q: &ReportQuery, now: DateTime<Utc>) -> Result<Range> {
        let by = match q.by.as_deref().map(str::trim).filter(|b| !b.is_empty()) {
            None => Grain::Month,
            Some(b) => Grain::parse(b)
                .ok_or_else(|| invalid("by", format!("{b:?}: use day, week or month")))?,
        };
        let to = date("to", q.to.as_deref())?.unwrap_or(report::local_day(now, self.tz));
        let from = match date("from", q.from.as_deref())? {
            Some(f) => f,
            None => {
                let mut start = by.start(to);
                for _ in 0..11 {
                    start = by.start(start - Duration::days(1));
                }
                start
            }
        };
        if from > to {
            return Err(invalid("from", "must not be after to"));
        }
        if report::periods(from, to, by).len() > MAX_PERIODS {
            return Err(invalid(
                "by",
                format!("at most {MAX_PERIODS} periods: a longer one, or a shorter range"),
            ));
        }
        let merchant_id = match q
            .merchant
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty())
        {
            None => None,
            Some(m) => match self.store.merchant(m).await {
                Ok(found) => Some(found.id),
                Err(crate::store::StoreError::NotFound(_)) => {
                    return Err(invalid("merchant", format!("no merchant has the id {m:?}")));
                }
                Err(e) => return Err(e.into()),
            },
        };
        Ok(Range {
            from,
            to,
            by,
            time_zone: self.tz.name().to_string(),
            merchant_id,
        })
    }

    /// The range of a report that covers the whole programme: a shop is
    /// refused, plainly, rather than ignored.
    async fn programme_range(&self, q: &ReportQuery, now: DateTime<Utc>) -> Result<Range> {
        let range = self.report_range(q, now).await?;
        if range.merchant_id.is_some() {
            return Err(invalid(
                "merchant",
                "this report covers the whole programme; only the points report is per shop",
            ));
        }
        Ok(range)
    }

    /// Points over time: issued (by rule), redeemed, expired, clawed back,
    /// given back and adjusted per period, and the outstanding balance at each
    /// period's start and end (for the whole programme).
    pub async fn points_report(&self, q: &ReportQuery, now: DateTime<Utc>) -> Result<PointsReport> {
        let range = self.report_range(q, now).await?;
        let days = self.store.ledger_days(self.tz, &range.merchant_id).await?;
        let periods = report::periods(range.from, range.to, range.by);
        let rows = report::points_report(&days, &periods, range.merchant_id.is_none());
        let mut total = Flows::default();
        for r in &rows {
            total.merge(&r.flows);
        }
        Ok(PointsReport {
            range,
            total_issued: total.issued(),
            total_net_change: total.net(),
            total,
            periods: rows,
        })
    }

    /// Brings the reports' roll-up up to date (entries older than a few
    /// minutes); `serve` does this every few minutes.
    pub async fn roll_up_reports(&self, now: DateTime<Utc>) -> Result<()> {
        roll_up(self.store.as_ref(), self.tz, now).await
    }
}

/// What the points members hold are worth, and what they are expected to cost.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LiabilityReport {
    pub as_of: DateTime<Utc>,
    pub time_zone: String,
    /// The currency of every amount below
    pub currency: String,
    /// Members' balances summed (a debt left by a refund lowers it)
    pub outstanding_points: i64,
    /// The points members can still spend (in their lots): what is owed
    pub spendable_points: i64,
    /// One point's value (`0.2143`), when there is anything to go by
    #[serde(skip_serializing_if = "Option::is_none")]
    pub point_value: Option<String>,
    /// How it was found
    pub point_value_source: PointValueSource,
    /// The spendable points at that value
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::domain::money::Amount>)]
    pub value: Option<String>,
    /// The share of spendable points expected never to be redeemed, in
    /// percent (`30.25`), and how it was estimated
    pub breakage_percent: String,
    pub breakage_method: BreakageMethod,
    /// value × (1 − breakage)
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::domain::money::Amount>)]
    pub expected_cost: Option<String>,
    /// Development factors of cumulative redemptions, month k to k+1
    pub development_factors: Vec<String>,
    /// Each month's earned points: what became of them, oldest first
    pub cohorts: Vec<CohortRow>,
    /// Spendable points by the month they expire in, this one and the next 11
    pub expiring: Vec<ExpiringRow>,
}

/// Points expiring in one month.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExpiringRow {
    /// `2026-12`
    pub month: String,
    pub points: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::domain::money::Amount>)]
    pub value: Option<String>,
}

/// Basis points as a percentage: 9047 → `90.47`.
fn percent(bp: i64) -> String {
    format!("{}.{:02}", bp / 100, (bp % 100).abs())
}

impl Loyalty {
    /// The liability as of `now`: outstanding and spendable points, a point's
    /// value, breakage by cohort, the expected cost, and what expires when.
    pub async fn liability_report(&self, now: DateTime<Utc>) -> Result<LiabilityReport> {
        let program = self.program().await?;
        let facts = self.store.liability_facts(self.tz, now).await?;
        let this_month = Grain::Month.start(report::local_day(now, self.tz));
        let b = liability::breakage(&facts.cohort_facts(this_month), &program.reports);
        let (e4, source) = liability::point_value(
            &program.reports,
            &facts.worth,
            program.pay.map(|r| (r.points, r.minor)),
            program.currency,
        );
        let money = |points: i64| {
            e4.map(|v| liability::value_of(points, v, program.currency).to_decimal_string())
        };
        let value = e4.map(|v| liability::value_of(facts.in_lots, v, program.currency));
        let expected = value.map(|v| {
            let minor = i128::from(v.minor()) * i128::from(10_000 - b.breakage_bp) / 10_000;
            Money::from_minor(i64::try_from(minor).unwrap_or(0), program.currency)
                .to_decimal_string()
        });
        let mut expiring = Vec::new();
        let mut month = this_month;
        for _ in 0..12 {
            let points = facts.expiring.get(&month).copied().unwrap_or(0);
            expiring.push(ExpiringRow {
                month: month.format("%Y-%m").to_string(),
                points,
                value: money(points),
            });
            month = liability::next_month(month);
        }
        Ok(LiabilityReport {
            as_of: now,
            time_zone: self.tz.name().to_string(),
            currency: program.currency.code().to_string(),
            outstanding_points: facts.outstanding,
            spendable_points: facts.in_lots,
            point_value: e4.map(liability::point_value_text),
            point_value_source: source,
            value: value.map(|v| v.to_decimal_string()),
            breakage_percent: percent(b.breakage_bp),
            breakage_method: b.method,
            expected_cost: expected,
            development_factors: b
                .factors_e6
                .iter()
                .map(|f| format!("{}.{:06}", f / 1_000_000, f % 1_000_000))
                .collect(),
            cohorts: b.cohorts,
            expiring,
        })
    }
}

/// Brings the reports' roll-up up to date, a chunk of entries per transaction.
pub async fn roll_up(store: &dyn Store, tz: chrono_tz::Tz, now: DateTime<Utc>) -> Result<()> {
    let cutoff = now - Duration::minutes(ROLL_UP_MARGIN_MINUTES);
    while store.roll_up_ledger(tz, cutoff).await? {}
    Ok(())
}

impl PointsReport {
    /// The report as CSV: a header, then one line per period.
    pub fn csv(&self) -> String {
        let header = [
            "period",
            "first_day",
            "last_day",
            "issued_base",
            "issued_tier",
            "issued_campaign",
            "issued_referral",
            "issued_manual",
            "issued",
            "redeemed",
            "expired",
            "clawed_back",
            "released",
            "adjusted_down",
            "net_change",
            "outstanding_start",
            "outstanding_end",
        ];
        let opt = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
        csv_of(
            header,
            self.periods.iter().map(|r| {
                let f = &r.flows;
                [
                    r.period.label.clone(),
                    r.period.first.to_string(),
                    r.period.last.to_string(),
                    f.issued_base.to_string(),
                    f.issued_tier.to_string(),
                    f.issued_campaign.to_string(),
                    f.issued_referral.to_string(),
                    f.issued_manual.to_string(),
                    r.issued.to_string(),
                    f.redeemed.to_string(),
                    f.expired.to_string(),
                    f.clawed_back.to_string(),
                    f.released.to_string(),
                    f.adjusted_down.to_string(),
                    r.net_change.to_string(),
                    opt(r.outstanding_start),
                    opt(r.outstanding_end),
                ]
            }),
        )
    }
}

impl LiabilityReport {
    /// The cohorts as CSV.
    pub fn csv(&self) -> String {
        let header = [
            "cohort",
            "issued",
            "redeemed",
            "expired",
            "taken",
            "remaining",
            "closed",
            "expected_redeemed",
            "breakage_bp",
        ];
        csv_of(
            header,
            self.cohorts.iter().map(|c| {
                [
                    c.month.clone(),
                    c.issued.to_string(),
                    c.redeemed.to_string(),
                    c.expired.to_string(),
                    c.taken.to_string(),
                    c.remaining.to_string(),
                    c.closed.to_string(),
                    c.expected_redeemed.to_string(),
                    c.breakage_bp.map(|b| b.to_string()).unwrap_or_default(),
                ]
            }),
        )
    }
}

impl Range {
    /// The instants the range covers, `[start of from, start of the day after to)`.
    pub fn bounds(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        let tz: chrono_tz::Tz = self.time_zone.parse().unwrap_or(chrono_tz::UTC);
        (
            report::day_start(self.from, tz),
            report::day_start(self.to + Duration::days(1), tz),
        )
    }
}

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
    pub rewards: Vec<RewardRedemptions>,
    pub kinds: Vec<RewardRedemptions>,
    /// Payments at tills (points valued at what they paid) and cashback credit
    pub payments: PaymentStats,
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
        let range = self.programme_range(q, now).await?;
        let program = self.program().await?;
        let (from, to) = range.bounds();
        let days = self.store.ledger_days(self.tz, &None).await?;
        let (mut period, mut all) = (Flows::default(), Flows::default());
        for (day, f) in &days {
            all.merge(f);
            if (range.from..=range.to).contains(day) {
                period.merge(f);
            }
        }
        let net = |f: &Flows| f.redeemed - f.released;
        let stats = self.store.voucher_stats(from, to).await?;
        let catalogue = self.store.rewards(true).await?;
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
            rewards: priced(rewards),
            kinds: priced(kinds),
            payments: self.store.payment_stats(from, to).await?,
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
        let range = self.programme_range(q, now).await?;
        let program = self.program().await?;
        let (from, to) = range.bounds();
        let s = self
            .store
            .member_stats(from, to, program.currency.code())
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

/// A CSV document from a header and rows.
fn csv_of<const N: usize>(
    header: [&str; N],
    rows: impl IntoIterator<Item = [String; N]>,
) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(header);
    for row in rows {
        let _ = w.write_record(row);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
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

/// Members of one class and segment in the latest run.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SegmentCount {
    pub class: Class,
    pub segment: Segment,
    pub members: i64,
    #[schema(value_type = crate::domain::money::Amount)]
    pub sales: String,
    /// Sales ÷ members
    #[schema(value_type = crate::domain::money::Amount)]
    pub average_spend: String,
    pub purchases: i64,
}

/// Members by A/B/C class and RFM segment over the last 12 months.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SegmentsReport {
    /// When the classes and segments were worked out (once a day), if ever
    #[serde(skip_serializing_if = "Option::is_none")]
    pub computed_at: Option<DateTime<Utc>>,
    pub currency: String,
    /// The A/B/C cut points, in percent of members' sales
    pub abc_cuts: [String; 2],
    /// Per class, then per segment, then per class and segment
    pub classes: Vec<SegmentTotal>,
    pub segments: Vec<SegmentTotal>,
    pub cells: Vec<SegmentCount>,
    /// Members with no purchase in the 12 months (no class or segment)
    pub without_purchases: i64,
}

/// Members of one class or one segment.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SegmentTotal {
    pub name: String,
    pub members: i64,
    #[schema(value_type = crate::domain::money::Amount)]
    pub sales: String,
    #[schema(value_type = crate::domain::money::Amount)]
    pub average_spend: String,
}

/// The window classes and segments are worked out over.
const SEGMENT_MONTHS: u32 = 12;

impl Loyalty {
    /// Works out every buyer's class and segment over the last 12 months and
    /// keeps them (the run before stays readable until this one is done).
    pub async fn refresh_segments(&self, now: DateTime<Utc>) -> Result<usize> {
        let program = self.program().await?;
        let from = now
            .checked_sub_months(chrono::Months::new(SEGMENT_MONTHS))
            .unwrap_or(now);
        let buyers = self
            .store
            .segment_buyers(from, now, program.currency.code())
            .await?;
        let r = &program.reports;
        let rows = segment::assign(&buyers, (r.abc_a_bp, r.abc_b_bp), now);
        let run = self.store.start_segment_run(now, from).await?;
        for chunk in rows.chunks(5_000) {
            self.store.add_segments(run, chunk).await?;
        }
        self.store.finish_segment_run(run).await?;
        Ok(rows.len())
    }

    /// Members by class and segment, from the latest run.
    pub async fn segments_report(&self) -> Result<SegmentsReport> {
        let program = self.program().await?;
        let summary = self.store.segment_summary().await?;
        let (computed_at, members, rows) = (summary.computed_at, summary.members, summary.cells);
        let money = |minor: i64| Money::from_minor(minor, program.currency).to_decimal_string();
        let average = |sales: i64, n: i64| money(if n > 0 { sales / n } else { 0 });
        let mut cells = Vec::new();
        for (class, seg, members, sales, purchases) in rows {
            let (Some(class), Some(seg)) = (Class::parse(&class), Segment::parse(&seg)) else {
                continue;
            };
            cells.push((class, seg, members, sales, purchases));
        }
        cells.sort_by_key(|c| (c.0, c.1));
        let total = |name: String, picked: Vec<&(Class, Segment, i64, i64, i64)>| {
            let members: i64 = picked.iter().map(|c| c.2).sum();
            let sales: i64 = picked.iter().map(|c| c.3).sum();
            SegmentTotal {
                name,
                members,
                sales: money(sales),
                average_spend: average(sales, members),
            }
        };
        let classes = [Class::A, Class::B, Class::C]
            .into_iter()
            .map(|k| {
                total(
                    k.as_str().into(),
                    cells.iter().filter(|c| c.0 == k).collect(),
                )
            })
            .collect();
        let segments = Segment::ALL
            .into_iter()
            .map(|s| {
                total(
                    s.as_str().into(),
                    cells.iter().filter(|c| c.1 == s).collect(),
                )
            })
            .collect();
        let with: i64 = cells.iter().map(|c| c.2).sum();
        Ok(SegmentsReport {
            computed_at,
            currency: program.currency.code().to_string(),
            abc_cuts: [
                report::share_text(program.reports.abc_a_bp, 10_000).unwrap_or_default(),
                report::share_text(program.reports.abc_b_bp, 10_000).unwrap_or_default(),
            ],
            classes,
            segments,
            cells: cells
                .into_iter()
                .map(|(class, segment, members, sales, purchases)| SegmentCount {
                    class,
                    segment,
                    members,
                    sales: money(sales),
                    average_spend: average(sales, members),
                    purchases,
                })
                .collect(),
            without_purchases: (members - with).max(0),
        })
    }

    /// The latest run's members (of one class or segment), for export.
    pub async fn segment_members(
        &self,
        class: Option<String>,
        segment_name: Option<String>,
    ) -> Result<Vec<MemberSegment>> {
        if let Some(c) = &class
            && Class::parse(c).is_none()
        {
            return Err(invalid("class", format!("{c:?}: use A, B or C")));
        }
        if let Some(s) = &segment_name
            && Segment::parse(s).is_none()
        {
            return Err(invalid("segment", format!("{s:?} is not a segment")));
        }
        Ok(self.store.segment_members(&class, &segment_name).await?)
    }

    /// A member's class and segment, when they bought in the last 12 months.
    pub async fn member_segment(&self, member_id: i64) -> Result<Option<MemberSegment>> {
        Ok(self.store.member_segment(member_id).await?)
    }
}

/// Segment members as CSV (the export).
pub fn segment_members_csv(rows: &[MemberSegment]) -> String {
    csv_of(
        [
            "member_code",
            "class",
            "segment",
            "r",
            "f",
            "m",
            "purchases",
            "sales_minor",
            "last_purchase_at",
        ],
        rows.iter().map(|s| {
            [
                s.member_code.clone(),
                s.class.as_str().to_string(),
                s.segment.as_str().to_string(),
                s.rfm.r.to_string(),
                s.rfm.f.to_string(),
                s.rfm.m.to_string(),
                s.purchases.to_string(),
                s.sales_minor.to_string(),
                s.last_purchase_at.to_rfc3339(),
            ]
        }),
    )
}

impl SegmentsReport {
    /// One line per class and segment.
    pub fn csv(&self) -> String {
        csv_of(
            [
                "class",
                "segment",
                "members",
                "sales",
                "average_spend",
                "purchases",
            ],
            self.cells.iter().map(|c| {
                [
                    c.class.as_str().to_string(),
                    c.segment.as_str().to_string(),
                    c.members.to_string(),
                    c.sales.clone(),
                    c.average_spend.clone(),
                    c.purchases.to_string(),
                ]
            }),
        )
    }
}

/// Everything the console's reports page shows, for one range.
#[derive(Debug, Clone)]
pub struct ReportsPage {
    pub summary: SummaryReport,
    pub campaigns: CampaignsReport,
    pub points: PointsReport,
    pub liability: LiabilityReport,
    pub redemption: RedemptionReport,
    pub members: MembersReport,
    pub segments: SegmentsReport,
}

impl Loyalty {
    /// The reports for staff who may see them (managers and owners).
    pub async fn staff_reports(
        &self,
        actor: &super::staff::Actor,
        q: &ReportQuery,
        now: DateTime<Utc>,
    ) -> Result<ReportsPage> {
        actor.require(crate::domain::staff::Permission::BackOffice)?;
        let program = self.program().await?;
        let e4 = self.point_value_e4(&program).await?;
        let points = self.points_report(q, now).await?;
        // Only the points report is per shop: the rest cover the programme.
        let whole = ReportQuery {
            merchant: None,
            ..q.clone()
        };
        let (members, redemption) = (
            self.members_report(&whole, now).await?,
            self.redemption_report(&whole, now).await?,
        );
        let campaigns = self.campaigns_report(&whole, now).await?;
        Ok(ReportsPage {
            summary: summarize(&program, e4, (&points, &members, &redemption), &campaigns),
            campaigns,
            liability: self.liability_report(now).await?,
            segments: self.segments_report().await?,
            points,
            redemption,
            members,
        })
    }

    /// A report as CSV for staff who may see it: `points`, `liability`,
    /// `redemption`, `members`, `segments`, or `segment-members` (of `class`
    /// or `segment` from the query's extra fields).
    pub async fn staff_report_csv(
        &self,
        actor: &super::staff::Actor,
        (name, q): (&str, &ReportQuery),
        (class, segment_name): (Option<String>, Option<String>),
        now: DateTime<Utc>,
    ) -> Result<String> {
        actor.require(crate::domain::staff::Permission::BackOffice)?;
        Ok(match name {
            "points" => self.points_report(q, now).await?.csv(),
            "liability" => self.liability_report(now).await?.csv(),
            "redemption" => self.redemption_report(q, now).await?.csv(),
            "members" => self.members_report(q, now).await?.csv(),
            "segments" => self.segments_report().await?.csv(),
            "summary" => self.summary_report(q, now).await?.csv(),
            "campaigns" => self.campaigns_report(q, now).await?.csv(),
            "segment-members" => {
                segment_members_csv(&self.segment_members(class, segment_name).await?)
            }
            _ => return Err(super::ServiceError::NotFound("report")),
        })
    }
}

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
    async fn point_value_e4(&self, program: &crate::domain::model::Program) -> Result<Option<i64>> {
        let worth = self.store.redeemed_worth().await?;
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
        let range = self.programme_range(q, now).await?;
        let program = self.program().await?;
        let e4 = self.point_value_e4(&program).await?;
        let (from, to) = range.bounds();
        let money = |minor: i64| Money::from_minor(minor, program.currency).to_decimal_string();
        let mut campaigns = Vec::new();
        for c in self.campaign_reports(now).await? {
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
                    .store
                    .window_spend(w.starts_at, end, program.currency.code())
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
fn summarize(
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
