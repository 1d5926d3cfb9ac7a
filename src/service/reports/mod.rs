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

mod campaigns;
mod sales;
mod segments;

pub use campaigns::*;
pub use sales::*;
pub use segments::*;

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
        Ok(Range {
            from,
            to,
            by,
            time_zone: self.tz.name().to_string(),
            merchant_id: self.report_shop(q).await?,
        })
    }

    /// The shop a query names, checked.
    async fn report_shop(&self, q: &ReportQuery) -> Result<Option<String>> {
        match q
            .merchant
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty())
        {
            None => Ok(None),
            Some(m) => match self.reader.merchant(m).await {
                Ok(found) => Ok(Some(found.id)),
                Err(crate::store::StoreError::NotFound(_)) => {
                    Err(invalid("merchant", format!("no merchant has the id {m:?}")))
                }
                Err(e) => Err(e.into()),
            },
        }
    }

    /// Points over time: issued (by rule), redeemed, expired, clawed back,
    /// given back and adjusted per period, and the outstanding balance at each
    /// period's start and end (for the whole programme).
    pub async fn points_report(&self, q: &ReportQuery, now: DateTime<Utc>) -> Result<PointsReport> {
        let range = self.report_range(q, now).await?;
        let days = self.reader.ledger_days(self.tz, &range.merchant_id).await?;
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
    /// The end of the day asked for (`to`), or now
    pub as_of: DateTime<Utc>,
    pub time_zone: String,
    /// A shop's report: the points still in the lots it issued
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_id: Option<String>,
    /// What this report does not hold, and why
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The currency of every amount below
    pub currency: String,
    /// Members' balances summed (a debt left by a refund lowers it)
    pub outstanding_points: i64,
    /// The points members can still spend (in their lots): what is owed.
    /// Lots keep no past, so a report as of an earlier day has none
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spendable_points: Option<i64>,
    /// One point's value (`0.2143`), when there is anything to go by
    #[serde(skip_serializing_if = "Option::is_none")]
    pub point_value: Option<String>,
    /// How it was found
    pub point_value_source: PointValueSource,
    /// The spendable points (as of an earlier day: the outstanding ones) at
    /// that value
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
    /// (none as of an earlier day)
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

/// What a shop's liability report holds.
const SHOP_LIABILITY: &str = "the points still in the lots this shop issued (members spend \
     them at any shop); breakage is estimated over the whole programme";

/// What a liability report as of an earlier day holds.
const PAST_LIABILITY: &str = "as of an earlier day: outstanding points from the ledger; \
     cohorts and breakage as they stood at that month's end, from the ledger's flows; \
     lots keep no past, so no spendable points or expiry schedule; a point is valued \
     as today";

/// Basis points as a percentage: 9047 → `90.47`.
pub(super) fn percent(bp: i64) -> String {
    format!("{}.{:02}", bp / 100, (bp % 100).abs())
}

impl Loyalty {
    /// The liability as of now, or as of the end of the day `to` (the whole
    /// programme's, or the points in a shop's lots as of now): outstanding and
    /// spendable points, a point's value, breakage by cohort, the expected
    /// cost, and what expires when.
    pub async fn liability_report(
        &self,
        q: &ReportQuery,
        now: DateTime<Utc>,
    ) -> Result<LiabilityReport> {
        if q.from.as_deref().is_some_and(|f| !f.trim().is_empty()) {
            return Err(invalid(
                "from",
                "the liability is as of a day: give only to (default: now)",
            ));
        }
        let merchant_id = self.report_shop(q).await?;
        let today = report::local_day(now, self.tz);
        let past = date("to", q.to.as_deref())?.filter(|d| *d < today);
        if past.is_some() && merchant_id.is_some() {
            return Err(invalid(
                "to",
                "a shop's liability is the points left in the lots it issued, known only as of now",
            ));
        }
        let program = self.program().await?;
        let (as_of, facts) = match past {
            None => {
                let facts = self
                    .reader
                    .liability_facts(self.tz, Some(now), &merchant_id)
                    .await?;
                (now, facts)
            }
            Some(day) => {
                let days = self.reader.ledger_days(self.tz, &None).await?;
                let facts = self.reader.liability_facts(self.tz, None, &None).await?;
                let mut facts = facts.as_of_month(Grain::Month.start(day));
                facts.outstanding = days.range(..=day).map(|(_, f)| f.net()).sum();
                facts.in_lots = facts.outstanding;
                (report::day_start(day + Duration::days(1), self.tz), facts)
            }
        };
        let this_month = Grain::Month.start(past.unwrap_or(today));
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
        for _ in 0..(if past.is_some() { 0 } else { 12 }) {
            let points = facts.expiring.get(&month).copied().unwrap_or(0);
            expiring.push(ExpiringRow {
                month: month.format("%Y-%m").to_string(),
                points,
                value: money(points),
            });
            month = liability::next_month(month);
        }
        let note = match (&merchant_id, past) {
            (Some(_), _) => Some(SHOP_LIABILITY.to_string()),
            (None, Some(_)) => Some(PAST_LIABILITY.to_string()),
            (None, None) => None,
        };
        Ok(LiabilityReport {
            as_of,
            time_zone: self.tz.name().to_string(),
            merchant_id,
            note,
            currency: program.currency.code().to_string(),
            outstanding_points: facts.outstanding,
            spendable_points: past.is_none().then_some(facts.in_lots),
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

/// A CSV document from a header and rows.
pub(crate) fn csv_of<const N: usize>(
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

/// A query as staff may ask it: a partner's staff (who work for one shop)
/// see that shop's figures only.
fn scoped(actor: &super::staff::Actor, q: &ReportQuery) -> Result<ReportQuery> {
    match (actor.merchant(), &q.merchant) {
        (Some(m), Some(asked)) if asked != m => Err(super::ServiceError::Forbidden),
        (Some(m), _) => Ok(ReportQuery {
            merchant: Some(m.to_string()),
            ..q.clone()
        }),
        (None, _) => Ok(q.clone()),
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

/// The liability's part of a page's query: as of its last day (a shop's: as
/// of now).
fn as_of(q: &ReportQuery) -> ReportQuery {
    ReportQuery {
        to: q.merchant.is_none().then(|| q.to.clone()).flatten(),
        ..shop_only(q)
    }
}

/// A page's query without its range (for the segments).
fn shop_only(q: &ReportQuery) -> ReportQuery {
    ReportQuery {
        merchant: q.merchant.clone(),
        ..ReportQuery::default()
    }
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
        let q = &scoped(actor, q)?;
        let program = self.program().await?;
        let e4 = self.point_value_e4(&program).await?;
        let points = self.points_report(q, now).await?;
        let (members, redemption) = (
            self.members_report(q, now).await?,
            self.redemption_report(q, now).await?,
        );
        let campaigns = self.campaigns_report(q, now).await?;
        Ok(ReportsPage {
            summary: summarize(&program, e4, (&points, &members, &redemption), &campaigns),
            campaigns,
            liability: self.liability_report(&as_of(q), now).await?,
            segments: self.segments_report(&shop_only(q)).await?,
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
        let q = &scoped(actor, q)?;
        if name == "segment-members" && actor.merchant().is_some() {
            // Lists of the programme's members, not of one partner's sales.
            return Err(super::ServiceError::Forbidden);
        }
        Ok(match name {
            "points" => self.points_report(q, now).await?.csv(),
            "liability" => self.liability_report(&as_of(q), now).await?.csv(),
            "redemption" => self.redemption_report(q, now).await?.csv(),
            "members" => self.members_report(q, now).await?.csv(),
            "segments" => self.segments_report(&shop_only(q)).await?.csv(),
            "summary" => self.summary_report(q, now).await?.csv(),
            "campaigns" => self.campaigns_report(q, now).await?.csv(),
            "segment-members" => {
                segment_members_csv(&self.segment_members(class, segment_name).await?)
            }
            _ => return Err(super::ServiceError::NotFound("report")),
        })
    }
}
