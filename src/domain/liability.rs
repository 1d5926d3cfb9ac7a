//! What the points members hold are worth to the shop: the value of a point,
//! how many points will never be redeemed (breakage), and the expected cost
//! of the rest. Pure rules over facts the store gathers; every formula is in
//! `docs/REPORTS.md`, with a worked example checked by the tests below.

use chrono::NaiveDate;
use serde::Serialize;
use utoipa::ToSchema;

use super::money::{Currency, Money};

/// Report settings the programme keeps (`taem program set`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ReportSettings {
    /// The value of one point in ten-thousandths of the currency (2500 is
    /// ฿0.25); `None`: derived from what redeemed points were worth.
    pub point_value_e4: Option<i64>,
    /// Breakage to use instead of the estimate, in basis points (3000 = 30 %).
    pub breakage_bp: Option<i64>,
    /// The programme's gross margin on sales, in basis points, for campaign ROI.
    pub gross_margin_bp: Option<i64>,
    /// A/B/C cut points: A is the members who together make the first
    /// `abc_a_bp` of sales, B the next up to `abc_b_bp` (8000 and 9500).
    pub abc_a_bp: i64,
    pub abc_b_bp: i64,
}

impl Default for ReportSettings {
    fn default() -> Self {
        ReportSettings {
            point_value_e4: None,
            breakage_bp: None,
            gross_margin_bp: None,
            abc_a_bp: 8_000,
            abc_b_bp: 9_500,
        }
    }
}

/// A point's value as people write it: `0.25` (at most four decimals).
pub fn parse_point_value(s: &str) -> Option<i64> {
    let s = s.trim();
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty() && frac.is_empty()
        || frac.len() > 4
        || !whole.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let frac: i64 = format!("{frac:0<4}").parse().ok()?;
    let v = whole.checked_mul(10_000)?.checked_add(frac)?;
    (1..=10_000_000).contains(&v).then_some(v)
}

/// A point's value (ten-thousandths) as people write it: `0.25`.
pub fn point_value_text(e4: i64) -> String {
    let s = format!("{}.{:04}", e4 / 10_000, e4 % 10_000);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// What `points` are worth at `e4` ten-thousandths each, in minor units
/// (rounded to the nearest).
pub fn value_of(points: i64, e4: i64, currency: Currency) -> Money {
    let per_minor = i128::from(10_000 / minor_per_unit(currency).max(1));
    let raw = i128::from(points) * i128::from(e4);
    let minor = (raw + per_minor / 2).div_euclid(per_minor.max(1));
    Money::from_minor(i64::try_from(minor).unwrap_or(i64::MAX), currency)
}

fn minor_per_unit(currency: Currency) -> i64 {
    currency.minor_per_major()
}

/// What redeemed points were worth: the face value of the vouchers they
/// bought and the money paid with them at the till.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct RedeemedWorth {
    /// Points and face value (minor units) of vouchers issued and not given back.
    pub voucher_points: i64,
    pub voucher_face_minor: i64,
    /// Points and amount (minor units) of payments captured at the till.
    pub payment_points: i64,
    pub payment_minor: i64,
}

/// How a point's value was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case", tag = "source")]
pub enum PointValueSource {
    /// The programme's setting.
    Setting,
    /// Face value and money paid, over the points that bought them.
    Redeemed { points: i64, worth_minor: i64 },
    /// Nothing redeemed yet: the pay rate at the till.
    PayRate,
    /// Nothing to go by.
    Unknown,
}

/// One point's value (ten-thousandths) and where it came from: the setting,
/// else the average worth of redeemed points, else the pay rate.
pub fn point_value(
    settings: &ReportSettings,
    redeemed: &RedeemedWorth,
    pay_rate: Option<(i64, i64)>,
    currency: Currency,
) -> (Option<i64>, PointValueSource) {
    if let Some(v) = settings.point_value_e4 {
        return (Some(v), PointValueSource::Setting);
    }
    let points = redeemed.voucher_points + redeemed.payment_points;
    let worth = redeemed.voucher_face_minor + redeemed.payment_minor;
    let per_minor = 10_000 / minor_per_unit(currency).max(1);
    if points > 0 && worth > 0 {
        let e4 = (i128::from(worth) * i128::from(per_minor) + i128::from(points) / 2)
            / i128::from(points);
        return (
            Some(i64::try_from(e4).unwrap_or(i64::MAX)),
            PointValueSource::Redeemed {
                points,
                worth_minor: worth,
            },
        );
    }
    match pay_rate {
        Some((p, minor)) if p > 0 => (
            Some((minor * per_minor + p / 2) / p),
            PointValueSource::PayRate,
        ),
        _ => (None, PointValueSource::Unknown),
    }
}

/// What happened so far to the points earned in one month (a cohort).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CohortFacts {
    /// The cohort's month (its first local day).
    pub month: NaiveDate,
    /// Points put into lots that month.
    pub issued: i64,
    /// Still in its lots, to be spent.
    pub remaining: i64,
    pub expired: i64,
    /// Clawed back or adjusted down (neither redeemed nor broken).
    pub taken: i64,
    /// Points redeemed from it in each month of its age (0: the month it was
    /// earned), as debited (a later release is not subtracted): the shape of
    /// its redemptions over time.
    pub redeemed_by_age: Vec<i64>,
}

impl CohortFacts {
    /// Redeemed for good so far: what is neither left, expired nor taken.
    pub fn redeemed(&self) -> i64 {
        (self.issued - self.remaining - self.expired - self.taken).max(0)
    }
}

/// One cohort in the liability report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CohortRow {
    /// `2026-03`
    pub month: String,
    pub issued: i64,
    pub redeemed: i64,
    pub expired: i64,
    pub taken: i64,
    pub remaining: i64,
    /// Nothing left to spend: its breakage is observed
    pub closed: bool,
    /// Of its remaining points, how many are expected to be redeemed
    pub expected_redeemed: i64,
    /// Its breakage (expired over redeemed plus expired, ultimate), in basis
    /// points; observed when closed, projected when open
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breakage_bp: Option<i64>,
}

/// How breakage was estimated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BreakageMethod {
    /// The programme's setting.
    Setting,
    /// Open cohorts projected from the development of older ones.
    ChainLadder,
    /// Only closed cohorts to go by: their observed breakage.
    Observed,
    /// No history: none assumed (the cost is not understated).
    None,
}

/// Breakage for the points members hold, and each cohort's part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Breakage {
    /// The share of the remaining points expected never to be redeemed, in
    /// basis points
    pub breakage_bp: i64,
    pub method: BreakageMethod,
    /// Development factors: month k's cumulative redemptions to month k+1's,
    /// in millionths (1_250_000 = 1.25)
    pub factors_e6: Vec<i64>,
    pub cohorts: Vec<CohortRow>,
}

/// Estimates breakage from the cohorts: consecutive months, oldest first, the
/// last being the current month (a month with nothing earned is an empty
/// cohort), `settings` first.
///
/// For each age k, the factor f(k) = Σ cumulative redemptions at age k+1 ÷ Σ
/// at age k, over the cohorts whose age k+1 is over (older than k+1 months).
/// An open cohort of age a is expected to redeem, in all, its cumulative
/// redemptions × f(a) × f(a+1) × …, at most what it has left; what it
/// will not redeem is its breakage. Closed cohorts count as observed.
pub fn breakage(cohorts: &[CohortFacts], settings: &ReportSettings) -> Breakage {
    let ages: Vec<usize> = (0..cohorts.len()).rev().collect();
    // Cumulative redemptions by age, for each cohort (as far as it is old).
    let cumulative: Vec<Vec<i64>> = cohorts
        .iter()
        .map(|c| {
            c.redeemed_by_age
                .iter()
                .scan(0, |sum, p| {
                    *sum += p;
                    Some(*sum)
                })
                .collect()
        })
        .collect();
    let max_age = ages.first().copied().unwrap_or(0);
    let mut factors = Vec::new();
    for k in 0..max_age {
        let (mut num, mut den) = (0i128, 0i128);
        for (i, c) in cumulative.iter().enumerate() {
            // Age k+1 is over for cohorts older than k+1 months.
            if ages[i] > k + 1 {
                num += i128::from(c.get(k + 1).copied().unwrap_or(0));
                den += i128::from(c.get(k).copied().unwrap_or(0));
            }
        }
        factors.push(if den > 0 {
            num * 1_000_000 / den
        } else {
            1_000_000
        });
    }
    let developed = factors.iter().any(|f| *f != 1_000_000);
    let mut rows = Vec::new();
    let (mut remaining, mut expected) = (0i128, 0i128);
    let (mut closed_expired, mut closed_resolved) = (0i128, 0i128);
    for (i, c) in cohorts.iter().enumerate() {
        let closed = c.remaining <= 0;
        let age = ages[i];
        let so_far = cumulative[i].get(age).copied().unwrap_or(0);
        let mut ultimate = i128::from(so_far);
        for f in factors.iter().skip(age) {
            ultimate = ultimate * f / 1_000_000;
        }
        let future = (ultimate - i128::from(so_far)).clamp(0, i128::from(c.remaining.max(0)));
        let expected_redeemed = if closed { 0 } else { future as i64 };
        let redeemed = c.redeemed();
        let never = if closed {
            c.expired
        } else {
            c.expired + c.remaining - expected_redeemed
        };
        let resolved = redeemed + expected_redeemed + never;
        rows.push(CohortRow {
            month: c.month.format("%Y-%m").to_string(),
            issued: c.issued,
            redeemed,
            expired: c.expired,
            taken: c.taken,
            remaining: c.remaining,
            closed,
            expected_redeemed,
            breakage_bp: (resolved > 0).then(|| never * 10_000 / resolved),
        });
        if closed {
            closed_expired += i128::from(c.expired);
            closed_resolved += i128::from(redeemed + c.expired);
        } else {
            remaining += i128::from(c.remaining);
            expected += i128::from(expected_redeemed);
        }
    }
    let (breakage_bp, method) = match settings.breakage_bp {
        Some(b) => (b, BreakageMethod::Setting),
        None if developed && remaining > 0 => (
            i64::try_from((remaining - expected) * 10_000 / remaining).unwrap_or(0),
            BreakageMethod::ChainLadder,
        ),
        None if closed_resolved > 0 => (
            i64::try_from(closed_expired * 10_000 / closed_resolved).unwrap_or(0),
            BreakageMethod::Observed,
        ),
        None => (0, BreakageMethod::None),
    };
    Breakage {
        breakage_bp,
        method,
        factors_e6: factors.into_iter().map(|f| f as i64).collect(),
        cohorts: rows,
    }
}

/// What the liability report is computed from, as the store finds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiabilityFacts {
    /// Points by (cohort month, month it happened, measure: `issued`,
    /// `redeemed`, `expired`, `taken`).
    pub cohorts: std::collections::BTreeMap<(NaiveDate, NaiveDate, String), i64>,
    /// Points left in lots, by cohort month.
    pub remaining: std::collections::BTreeMap<NaiveDate, i64>,
    /// Points left in lots by the local month they expire in, from this one.
    pub expiring: std::collections::BTreeMap<NaiveDate, i64>,
    /// Members' balances summed (debts lower it), and the points in lots not
    /// yet expired (what members can spend).
    pub outstanding: i64,
    pub in_lots: i64,
    pub worth: RedeemedWorth,
}

impl LiabilityFacts {
    /// The cohorts as [`breakage`] takes them: every month from the first
    /// cohort to `this_month`.
    pub fn cohort_facts(&self, this_month: NaiveDate) -> Vec<CohortFacts> {
        let first = self
            .cohorts
            .keys()
            .map(|(c, _, _)| *c)
            .chain(self.remaining.keys().copied())
            .min();
        let Some(mut month) = first else {
            return Vec::new();
        };
        let mut out = Vec::new();
        while month <= this_month {
            let of = |measure: &str| -> i64 {
                self.cohorts
                    .iter()
                    .filter(|((c, _, m), _)| *c == month && m == measure)
                    .map(|(_, p)| p)
                    .sum()
            };
            let mut by_age = Vec::new();
            let mut at = month;
            while at <= this_month {
                let key = (month, at, "redeemed".to_string());
                by_age.push(self.cohorts.get(&key).copied().unwrap_or(0));
                at = next_month(at);
            }
            out.push(CohortFacts {
                month,
                issued: of("issued"),
                remaining: self.remaining.get(&month).copied().unwrap_or(0),
                expired: of("expired"),
                taken: of("taken"),
                redeemed_by_age: by_age,
            });
            month = next_month(month);
        }
        out
    }
}

impl LiabilityFacts {
    /// The facts as they stood at the end of `month` (lots keep no past): the
    /// cohorts' flows up to it, and what each cohort had left, worked out from
    /// them (issued − redeemed − expired − taken, never below nothing).
    pub fn as_of_month(&self, month: NaiveDate) -> LiabilityFacts {
        let cohorts: std::collections::BTreeMap<_, _> = self
            .cohorts
            .iter()
            .filter(|((c, at, _), _)| *c <= month && *at <= month)
            .map(|(k, p)| (k.clone(), *p))
            .collect();
        let mut remaining = std::collections::BTreeMap::new();
        for ((c, _, measure), p) in &cohorts {
            let sign = if measure == "issued" { 1 } else { -1 };
            *remaining.entry(*c).or_insert(0) += sign * p;
        }
        remaining
            .values_mut()
            .for_each(|p: &mut i64| *p = (*p).max(0));
        LiabilityFacts {
            cohorts,
            remaining,
            worth: self.worth,
            ..LiabilityFacts::default()
        }
    }
}

/// The first day of the month after `month`'s.
pub fn next_month(month: NaiveDate) -> NaiveDate {
    month
        .checked_add_months(chrono::Months::new(1))
        .expect("dates in range")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn month(s: &str) -> NaiveDate {
        format!("{s}-01").parse().unwrap()
    }

    #[test]
    fn a_points_value_reads_as_written_and_prices_exactly() {
        assert_eq!(parse_point_value("0.25"), Some(2_500));
        assert_eq!(parse_point_value("1"), Some(10_000));
        assert_eq!(parse_point_value(".1"), Some(1_000));
        for bad in ["", "0", "-1", "0.00001", "abc", "1.2.3"] {
            assert_eq!(parse_point_value(bad), None, "{bad}");
        }
        assert_eq!(point_value_text(2_500), "0.25");
        assert_eq!(point_value_text(10_000), "1");
        // 1,001 points at ฿0.2525 = ฿252.7525, to the satang: ฿252.75.
        assert_eq!(value_of(1_001, 2_525, Currency::THB).minor(), 25_275);
    }

    #[test]
    fn a_point_is_worth_what_redeemed_points_bought_unless_the_programme_says() {
        let redeemed = RedeemedWorth {
            voucher_points: 1_000,
            voucher_face_minor: 20_000,
            payment_points: 400,
            payment_minor: 10_000,
        };
        let s = ReportSettings::default();
        // (฿200 + ฿100) over 1,400 points = ฿0.2143 a point.
        assert_eq!(
            point_value(&s, &redeemed, None, Currency::THB),
            (
                Some(2_143),
                PointValueSource::Redeemed {
                    points: 1_400,
                    worth_minor: 30_000
                }
            )
        );
        let none = RedeemedWorth::default();
        assert_eq!(
            point_value(&s, &none, Some((4, 100)), Currency::THB),
            (Some(2_500), PointValueSource::PayRate)
        );
        assert_eq!(
            point_value(&s, &none, None, Currency::THB).1,
            PointValueSource::Unknown
        );
        let set = ReportSettings {
            point_value_e4: Some(1_000),
            ..s
        };
        assert_eq!(
            point_value(&set, &redeemed, None, Currency::THB).0,
            Some(1_000)
        );
    }

    /// The worked example of `docs/REPORTS.md`: three monthly cohorts, the
    /// oldest closed.
    pub(crate) fn worked_example() -> Vec<CohortFacts> {
        vec![
            // January: 1,000 issued; 600 redeemed (400 in its first month,
            // 200 in its second), 400 expired. Closed.
            CohortFacts {
                month: month("2026-01"),
                issued: 1_000,
                remaining: 0,
                expired: 400,
                taken: 0,
                redeemed_by_age: vec![400, 200, 0],
            },
            // February: 1,000 issued; 500 redeemed in its first month, 500 left.
            CohortFacts {
                month: month("2026-02"),
                issued: 1_000,
                remaining: 500,
                expired: 0,
                taken: 0,
                redeemed_by_age: vec![500, 0],
            },
            // March (this month): 800 issued; 200 redeemed, 50 clawed back, 550 left.
            CohortFacts {
                month: month("2026-03"),
                issued: 800,
                remaining: 550,
                expired: 0,
                taken: 50,
                redeemed_by_age: vec![200],
            },
        ]
    }

    #[test]
    fn the_worked_example_of_the_report_docs() {
        let b = breakage(&worked_example(), &ReportSettings::default());
        // f(0) = January's 600 ÷ 400 = 1.5 (only January's second month is
        // over); f(1) = 1 (no cohort has finished its third month's data).
        assert_eq!(b.factors_e6, [1_500_000, 1_000_000]);
        let rows: Vec<(&str, i64, i64, Option<i64>)> = b
            .cohorts
            .iter()
            .map(|c| {
                (
                    c.month.as_str(),
                    c.redeemed,
                    c.expected_redeemed,
                    c.breakage_bp,
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                // Closed: 400 ÷ (600 + 400) = 40 %.
                ("2026-01", 600, 0, Some(4_000)),
                // Age 1: 500 × f(1) = 500: nothing more expected; 500 of 1,000 never.
                ("2026-02", 500, 0, Some(5_000)),
                // Age 0: 200 × 1.5 × 1 = 300: 100 more expected; 450 of 750 never.
                ("2026-03", 200, 100, Some(6_000)),
            ]
        );
        // Of the 1,050 points left, 100 are expected to be redeemed:
        // breakage (1,050 − 100) ÷ 1,050 = 90.47 %.
        assert_eq!(
            (b.breakage_bp, b.method),
            (9_047, BreakageMethod::ChainLadder)
        );
        let set = ReportSettings {
            breakage_bp: Some(3_000),
            ..ReportSettings::default()
        };
        assert_eq!(
            breakage(&worked_example(), &set).method,
            BreakageMethod::Setting
        );
        // One closed cohort only: its observed breakage.
        let only = &worked_example()[..1];
        let b = breakage(only, &ReportSettings::default());
        assert_eq!((b.breakage_bp, b.method), (4_000, BreakageMethod::Observed));
        assert_eq!(
            breakage(&[], &ReportSettings::default()).method,
            BreakageMethod::None
        );
    }
}
