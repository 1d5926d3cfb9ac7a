//! Reports on the ledger, as pure rules: what each entry counts as, the
//! periods (day, ISO week, month) in the programme's time zone, and the points
//! report with its reconciliation. Every figure is a sum of ledger entries, so
//! a report reconciles to the ledger to the point: the outstanding points at
//! the start of a period, plus what was issued, minus what was redeemed,
//! expired and clawed back, plus what was given back, minus downward
//! adjustments, are the outstanding points at its end.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use utoipa::ToSchema;

use super::earn::Breakdown;
use super::ledger::EntryKind;

/// The length of a report's periods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Grain {
    Day,
    /// ISO weeks, Monday to Sunday.
    Week,
    Month,
}

impl Grain {
    pub fn parse(s: &str) -> Option<Grain> {
        match s.trim() {
            "day" => Some(Grain::Day),
            "week" => Some(Grain::Week),
            "month" => Some(Grain::Month),
            _ => None,
        }
    }

    /// The first day of the period holding `day`.
    pub fn start(self, day: NaiveDate) -> NaiveDate {
        match self {
            Grain::Day => day,
            Grain::Week => day - Duration::days(i64::from(day.weekday().num_days_from_monday())),
            Grain::Month => day.with_day(1).expect("every month has a first day"),
        }
    }

    /// The first day of the next period after the one starting on `start`.
    fn next(self, start: NaiveDate) -> NaiveDate {
        match self {
            Grain::Day => start + Duration::days(1),
            Grain::Week => start + Duration::days(7),
            Grain::Month => start
                .checked_add_months(chrono::Months::new(1))
                .expect("dates in range"),
        }
    }

    /// How a period is named: `2026-11-30`, `2026-W48`, `2026-11`.
    pub fn label(self, start: NaiveDate) -> String {
        match self {
            Grain::Day => start.format("%Y-%m-%d").to_string(),
            Grain::Week => {
                let w = start.iso_week();
                format!("{}-W{:02}", w.year(), w.week())
            }
            Grain::Month => start.format("%Y-%m").to_string(),
        }
    }
}

/// One period of a report: its name and its first and last local days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Period {
    pub label: String,
    pub first: NaiveDate,
    pub last: NaiveDate,
}

/// The periods that cover `from` to `to` (inclusive), whole periods: the first
/// starts on or before `from`, the last ends on or after `to`.
pub fn periods(from: NaiveDate, to: NaiveDate, grain: Grain) -> Vec<Period> {
    let mut out = Vec::new();
    let mut start = grain.start(from);
    while start <= to {
        let next = grain.next(start);
        out.push(Period {
            label: grain.label(start),
            first: start,
            last: next - Duration::days(1),
        });
        start = next;
    }
    out
}

/// The local day an instant falls on in the programme's time zone.
pub fn local_day(t: DateTime<Utc>, tz: Tz) -> NaiveDate {
    t.with_timezone(&tz).date_naive()
}

/// When the local day `day` starts in `tz`, in UTC (the first instant of it,
/// should a clock change skip midnight).
pub fn day_start(day: NaiveDate, tz: Tz) -> DateTime<Utc> {
    use chrono::TimeZone;
    let midnight = day.and_hms_opt(0, 0, 0).expect("midnight exists");
    tz.from_local_datetime(&midnight)
        .earliest()
        .or_else(|| {
            tz.from_local_datetime(&(midnight + Duration::hours(1)))
                .earliest()
        })
        .map_or_else(|| midnight.and_utc(), |t| t.with_timezone(&Utc))
}

/// What a movement of points counts as in a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Measure {
    /// Issued by the merchant's earn rate.
    Base,
    /// Issued by a tier's multiplier.
    Tier,
    /// Issued by campaigns.
    Campaign,
    /// Issued for referrals (to the referrer and the friend).
    Referral,
    /// Issued by hand (upward adjustments).
    Manual,
    Redeemed,
    Expired,
    ClawedBack,
    /// Given back: vouchers expired or cancelled, payments released, refunds
    /// of sales paid with points.
    Released,
    /// Taken by hand (downward adjustments).
    AdjustedDown,
}

impl Measure {
    pub const ALL: [Measure; 10] = [
        Measure::Base,
        Measure::Tier,
        Measure::Campaign,
        Measure::Referral,
        Measure::Manual,
        Measure::Redeemed,
        Measure::Expired,
        Measure::ClawedBack,
        Measure::Released,
        Measure::AdjustedDown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Measure::Base => "base",
            Measure::Tier => "tier",
            Measure::Campaign => "campaign",
            Measure::Referral => "referral",
            Measure::Manual => "manual",
            Measure::Redeemed => "redeemed",
            Measure::Expired => "expired",
            Measure::ClawedBack => "clawed_back",
            Measure::Released => "released",
            Measure::AdjustedDown => "adjusted_down",
        }
    }

    pub fn parse(s: &str) -> Option<Measure> {
        Measure::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// Where an earn entry's points came from.
pub enum Earned<'a> {
    /// The buyer's own points for a purchase, with its breakdown by rule.
    Purchase(&'a Breakdown),
    /// A referrer's bonus for their friend's purchase.
    Referrer,
    /// A journey's gift (bonus points, or a voucher's points): campaign points.
    Journey,
    /// Nothing known (no purchase): counted as base.
    Unknown,
}

/// What one ledger entry counts as: measures with positive points (a credit
/// or a debit, by its kind). Sums to the entry's effect on the balance with
/// [`Flows::net`]'s signs.
pub fn classify(kind: EntryKind, points: i64, earned: Earned<'_>) -> Vec<(Measure, i64)> {
    let one = |m: Measure, p: i64| vec![(m, p)];
    match kind {
        EntryKind::Earn => match earned {
            Earned::Referrer => one(Measure::Referral, points),
            Earned::Journey => one(Measure::Campaign, points),
            Earned::Unknown => one(Measure::Base, points),
            Earned::Purchase(b) => {
                let mut out: Vec<(Measure, i64)> = Vec::new();
                let mut left = points;
                for hit in &b.0 {
                    let m = match hit.rule.as_str() {
                        "tier" => Measure::Tier,
                        "campaign" => Measure::Campaign,
                        "referral" => Measure::Referral,
                        _ => Measure::Base,
                    };
                    let p = hit.points.value();
                    left -= p;
                    match out.iter_mut().find(|(o, _)| *o == m) {
                        Some((_, sum)) => *sum += p,
                        None => out.push((m, p)),
                    }
                }
                // The breakdown always sums to the entry; if a stored one did
                // not, the difference still counts (as base), so totals hold.
                if left != 0 {
                    match out.iter_mut().find(|(o, _)| *o == Measure::Base) {
                        Some((_, sum)) => *sum += left,
                        None => out.push((Measure::Base, left)),
                    }
                }
                out.retain(|(_, p)| *p != 0);
                out
            }
        },
        EntryKind::Adjust if points >= 0 => one(Measure::Manual, points),
        EntryKind::Adjust => one(Measure::AdjustedDown, -points),
        EntryKind::Redeem => one(Measure::Redeemed, -points),
        EntryKind::Expire => one(Measure::Expired, -points),
        EntryKind::Clawback => one(Measure::ClawedBack, -points),
        EntryKind::Release => one(Measure::Released, points),
    }
}

/// Points moved in a period, by measure (all zero or more).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Flows {
    pub issued_base: i64,
    pub issued_tier: i64,
    pub issued_campaign: i64,
    pub issued_referral: i64,
    pub issued_manual: i64,
    pub redeemed: i64,
    pub expired: i64,
    pub clawed_back: i64,
    pub released: i64,
    pub adjusted_down: i64,
}

impl Flows {
    fn slot(&mut self, m: Measure) -> &mut i64 {
        match m {
            Measure::Base => &mut self.issued_base,
            Measure::Tier => &mut self.issued_tier,
            Measure::Campaign => &mut self.issued_campaign,
            Measure::Referral => &mut self.issued_referral,
            Measure::Manual => &mut self.issued_manual,
            Measure::Redeemed => &mut self.redeemed,
            Measure::Expired => &mut self.expired,
            Measure::ClawedBack => &mut self.clawed_back,
            Measure::Released => &mut self.released,
            Measure::AdjustedDown => &mut self.adjusted_down,
        }
    }

    pub fn add(&mut self, m: Measure, points: i64) {
        *self.slot(m) += points;
    }

    /// The points of one measure.
    pub fn get(&self, m: Measure) -> i64 {
        let mut copy = *self;
        *copy.slot(m)
    }

    pub fn merge(&mut self, other: &Flows) {
        for m in Measure::ALL {
            self.add(m, other.get(m));
        }
    }

    /// Every point issued, whatever the rule.
    pub fn issued(&self) -> i64 {
        self.issued_base
            + self.issued_tier
            + self.issued_campaign
            + self.issued_referral
            + self.issued_manual
    }

    /// The change in outstanding points: issued − redeemed − expired − clawed
    /// back + released − adjusted down.
    pub fn net(&self) -> i64 {
        self.issued() - self.redeemed - self.expired - self.clawed_back + self.released
            - self.adjusted_down
    }
}

/// One row of the points report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PointsRow {
    pub period: Period,
    #[serde(flatten)]
    pub flows: Flows,
    /// All points issued in the period.
    pub issued: i64,
    /// The change in outstanding points over the period.
    pub net_change: i64,
    /// Points outstanding when the period starts and ends (the programme's
    /// report only: points are spent at any shop, so a shop has none of its own).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outstanding_start: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outstanding_end: Option<i64>,
}

/// The points report over `periods`, from each local day's flows (every day
/// since the programme began, for the outstanding balance). `outstanding`:
/// whether to give it (the whole programme's report).
pub fn points_report(
    days: &BTreeMap<NaiveDate, Flows>,
    periods: &[Period],
    outstanding: bool,
) -> Vec<PointsRow> {
    let Some(first) = periods.first() else {
        return Vec::new();
    };
    let mut balance: i64 = days.range(..first.first).map(|(_, f)| f.net()).sum();
    periods
        .iter()
        .map(|p| {
            let mut flows = Flows::default();
            for (_, f) in days.range(p.first..=p.last) {
                flows.merge(f);
            }
            let start = balance;
            balance += flows.net();
            PointsRow {
                period: p.clone(),
                issued: flows.issued(),
                net_change: flows.net(),
                flows,
                outstanding_start: outstanding.then_some(start),
                outstanding_end: outstanding.then_some(balance),
            }
        })
        .collect()
}

/// Vouchers of one reward in one status (as the store counts them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VoucherStat {
    pub reward_id: i64,
    /// `issued` (still valid), `used`, `expired`, `cancelled`.
    pub status: String,
    pub count: i64,
    pub points: i64,
    /// What they cost the shop (minor units): the discount a used voucher
    /// gave (else its face value), a valid one's face value, nothing for
    /// vouchers given back.
    pub cost_minor: i64,
}

/// Payments at tills and store credit given, in a range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct PaymentStats {
    /// Payments with points captured, the points and what they paid (minor)
    pub point_payments: i64,
    pub points_paid: i64,
    pub points_paid_minor: i64,
    /// Payments with store credit captured, and what they paid (minor)
    pub credit_payments: i64,
    pub credit_paid_minor: i64,
    /// Cashback rewards redeemed, and the credit they gave (minor)
    pub cashbacks: i64,
    pub cashback_minor: i64,
}

/// Members and their purchases in a window (as the store counts them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemberStats {
    /// Members who had joined by the window's end, and those who joined in it.
    pub total: i64,
    pub new: i64,
    /// Members who bought in the window, those who bought twice or more, their
    /// purchases and their sales net of refunds (minor).
    pub buyers: i64,
    pub repeat_buyers: i64,
    pub visits: i64,
    pub member_sales_minor: i64,
    /// Sales on receipts no member has claimed (minor).
    pub anonymous_sales_minor: i64,
    /// Members who bought in the 30 and 90 days before the window's end.
    pub active_30: i64,
    pub active_90: i64,
}

/// `part ÷ whole` as a percentage with two decimals (`None` when `whole` is 0).
pub fn share_text(part: i64, whole: i64) -> Option<String> {
    (whole > 0).then(|| {
        let bp = i128::from(part) * 10_000 / i128::from(whole);
        format!("{}.{:02}", bp / 100, (bp % 100).abs())
    })
}

/// `total ÷ count` with two decimals (`None` when `count` is 0).
pub fn average_text(total: i64, count: i64) -> Option<String> {
    (count > 0).then(|| {
        let hundredths = i128::from(total) * 100 / i128::from(count);
        format!("{}.{:02}", hundredths / 100, (hundredths % 100).abs())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Points;
    use crate::domain::earn::RuleHit;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn periods_are_whole_local_days_iso_weeks_and_months() {
        let weeks = periods(d("2026-11-30"), d("2026-12-08"), Grain::Week);
        let labels: Vec<&str> = weeks.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(labels, ["2026-W49", "2026-W50"]);
        assert_eq!(
            (weeks[0].first, weeks[0].last),
            (d("2026-11-30"), d("2026-12-06"))
        );
        let months = periods(d("2026-01-31"), d("2026-03-01"), Grain::Month);
        let labels: Vec<&str> = months.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(labels, ["2026-01", "2026-02", "2026-03"]);
        assert_eq!(months[1].last, d("2026-02-28"));
        // 1 January 2027 is in ISO week 53 of 2026.
        assert_eq!(
            periods(d("2027-01-01"), d("2027-01-01"), Grain::Week)[0].label,
            "2026-W53"
        );
        assert_eq!(
            periods(d("2026-02-28"), d("2026-03-01"), Grain::Day).len(),
            2
        );
    }

    #[test]
    fn half_past_eleven_on_the_last_night_of_a_month_in_bangkok_is_that_month() {
        let tz: Tz = "Asia/Bangkok".parse().unwrap();
        let t: DateTime<Utc> = "2026-11-30T16:30:00Z".parse().unwrap();
        assert_eq!(local_day(t, tz), d("2026-11-30"));
        let t: DateTime<Utc> = "2026-11-30T17:30:00Z".parse().unwrap();
        assert_eq!(local_day(t, tz), d("2026-12-01"));
    }

    #[test]
    fn an_earn_entry_splits_by_the_rules_of_its_purchase() {
        let b = Breakdown(vec![
            RuleHit::new("base", Points::new(10)),
            RuleHit::new("tier", Points::new(5)),
            RuleHit {
                campaign_id: Some(1),
                ..RuleHit::new("campaign", Points::new(10))
            },
            RuleHit {
                campaign_id: Some(2),
                ..RuleHit::new("campaign", Points::new(3))
            },
        ]);
        assert_eq!(
            classify(EntryKind::Earn, 28, Earned::Purchase(&b)),
            [
                (Measure::Base, 10),
                (Measure::Tier, 5),
                (Measure::Campaign, 13)
            ]
        );
        assert_eq!(
            classify(EntryKind::Earn, 30, Earned::Purchase(&b)),
            [
                (Measure::Base, 12),
                (Measure::Tier, 5),
                (Measure::Campaign, 13)
            ],
            "a difference counts as base"
        );
        assert_eq!(
            classify(EntryKind::Earn, 50, Earned::Referrer),
            [(Measure::Referral, 50)]
        );
        assert_eq!(
            classify(EntryKind::Adjust, -7, Earned::Unknown),
            [(Measure::AdjustedDown, 7)]
        );
        assert_eq!(
            classify(EntryKind::Redeem, -100, Earned::Unknown),
            [(Measure::Redeemed, 100)]
        );
    }

    #[test]
    fn each_period_starts_where_the_last_one_ended() {
        let mut days = BTreeMap::new();
        let mut f = Flows::default();
        f.add(Measure::Base, 100);
        days.insert(d("2026-10-15"), f);
        let mut g = Flows::default();
        g.add(Measure::Redeemed, 30);
        g.add(Measure::Released, 5);
        g.add(Measure::Manual, 2);
        days.insert(d("2026-11-02"), g);
        let rows = points_report(
            &days,
            &periods(d("2026-11-01"), d("2026-12-31"), Grain::Month),
            true,
        );
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[0].outstanding_start, rows[0].outstanding_end),
            (Some(100), Some(77))
        );
        assert_eq!((rows[0].issued, rows[0].net_change), (2, -23));
        assert_eq!(
            (rows[1].outstanding_start, rows[1].outstanding_end),
            (Some(77), Some(77))
        );
        let shop = points_report(
            &days,
            &periods(d("2026-11-01"), d("2026-11-30"), Grain::Month),
            false,
        );
        assert_eq!(shop[0].outstanding_end, None);
    }
}
