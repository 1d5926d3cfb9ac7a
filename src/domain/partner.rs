//! Partners: several shops or brands sharing one programme, and the account of
//! who owes whom. A partner's agreement says what one of its points is worth
//! between partners (its value, in minor units of the programme's currency:
//! what it pays per point it issued that is redeemed at another partner, and
//! what another partner pays it per point that partner issued and it
//! honoured), and how it funds its points: settled after each period
//! (post-paid) or from a prepaid budget of points.
//!
//! Settlement is booked when points leave a member at a partner: each lot's
//! points are booked to the pair (issuing partner → redeeming partner) at the
//! issuer's value, and booked back (negative) when they come back to the
//! member. A period is a calendar month in the programme's time zone; a closed
//! period's statement never changes, and bookings made after it closed go
//! into the next open period. Pure rules: the store books and keeps.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How a partner funds the points it issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Funding {
    /// Settled each period.
    Postpaid,
    /// From a prepaid budget of points: earning there is refused once it is
    /// spent.
    Prepaid,
}

/// A merchant's partner agreement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Partner {
    pub merchant_id: String,
    /// What one of its points is worth between partners, in minor units
    /// (satang): 25 is ฿0.25 a point.
    pub value_minor: i64,
    pub funding: Funding,
    /// Prepaid: the points paid for so far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget: Option<i64>,
    /// Points it has issued against its budget (net of points clawed back).
    pub issued: i64,
    pub updated_at: DateTime<Utc>,
}

impl Partner {
    /// Prepaid points not yet issued.
    pub fn left(&self) -> Option<i64> {
        match self.funding {
            Funding::Prepaid => Some(self.budget.unwrap_or(0) - self.issued),
            Funding::Postpaid => None,
        }
    }
}

/// Why an agreement cannot be set.
pub fn check(value_minor: i64, funding: Funding, budget: Option<i64>) -> Result<(), String> {
    if !(0..=1_000_000).contains(&value_minor) {
        return Err("a point's value must be 0 or more (and under 10,000.00)".into());
    }
    match (funding, budget) {
        (Funding::Prepaid, None) => Err("a prepaid partner needs a budget of points".into()),
        (Funding::Prepaid, Some(b)) if b < 0 => Err("a budget cannot be negative".into()),
        (Funding::Postpaid, Some(_)) => Err("only a prepaid partner has a budget".into()),
        _ => Ok(()),
    }
}

/// Whether a prepaid partner may issue `points` more (`issued` so far).
pub fn may_issue(budget: Option<i64>, issued: i64, points: i64) -> bool {
    budget.is_none_or(|b| issued + points <= b)
}

/// A settlement period: a calendar month, written `2026-11`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    pub year: i32,
    pub month: u32,
}

impl Period {
    pub fn parse(s: &str) -> Option<Period> {
        let (y, m) = s.trim().split_once('-')?;
        if y.len() != 4 || m.len() != 2 {
            return None;
        }
        let p = Period {
            year: y.parse().ok()?,
            month: m.parse().ok()?,
        };
        (1..=12).contains(&p.month).then_some(p)
    }

    /// The month `at` falls in, in the programme's time zone.
    pub fn of(at: DateTime<Utc>, tz: Tz) -> Period {
        let d = at.with_timezone(&tz).date_naive();
        Period {
            year: d.year(),
            month: d.month(),
        }
    }

    pub fn next(self) -> Period {
        match self.month {
            12 => Period {
                year: self.year + 1,
                month: 1,
            },
            m => Period {
                year: self.year,
                month: m + 1,
            },
        }
    }

    pub fn previous(self) -> Period {
        match self.month {
            1 => Period {
                year: self.year - 1,
                month: 12,
            },
            m => Period {
                year: self.year,
                month: m - 1,
            },
        }
    }

    /// Its first instant and the next period's, in UTC.
    pub fn bounds(self, tz: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
        let start = |p: Period| {
            let d = NaiveDate::from_ymd_opt(p.year, p.month, 1).expect("a month's first day");
            crate::domain::time::local_midnight(d, tz)
        };
        (start(self), start(self.next()))
    }
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// Where a booking made at `at` goes: its month, or the first open period
/// after it when that month is closed.
pub fn booking_period(at: DateTime<Utc>, tz: Tz, closed: &BTreeSet<Period>) -> Period {
    let mut p = Period::of(at, tz);
    while closed.contains(&p) {
        p = p.next();
    }
    p
}

/// What a statement is computed from: a period, the programme's time zone
/// and currency.
#[derive(Debug, Clone)]
pub struct StatementQuery {
    pub period: Period,
    pub tz: Tz,
    pub currency: String,
}

/// Points taken from one lot by a redemption: who issued the lot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken {
    pub lot_id: i64,
    pub issuer: Option<String>,
    pub points: i64,
}

/// One booking: `points` of the issuer's, honoured by the redeemer, at the
/// issuer's value (negative when they come back).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Booking {
    pub lot_id: i64,
    pub issuer: String,
    pub redeemer: String,
    pub points: i64,
    pub value_minor: i64,
    pub amount_minor: i64,
}

/// The bookings for points taken from lots and honoured by `redeemer`: lots
/// issued by another partner are booked at that partner's value; points the
/// redeemer issued itself, and points from shops outside the coalition or
/// from the programme (journeys, referrals, adjustments), are not settled.
pub fn bookings(
    taken: &[Taken],
    redeemer: &str,
    value_of: impl Fn(&str) -> Option<i64>,
) -> Vec<Booking> {
    if value_of(redeemer).is_none() {
        return Vec::new();
    }
    let mut out: Vec<Booking> = Vec::new();
    for t in taken.iter().filter(|t| t.points > 0) {
        let Some(issuer) = t.issuer.as_deref().filter(|i| *i != redeemer) else {
            continue;
        };
        let Some(value) = value_of(issuer) else {
            continue;
        };
        out.push(Booking {
            lot_id: t.lot_id,
            issuer: issuer.to_string(),
            redeemer: redeemer.to_string(),
            points: t.points,
            value_minor: value,
            amount_minor: t.points * value,
        });
    }
    out
}

/// The bookings that undo `booked` for the points `back` returned to each
/// lot (a voucher given back, points returned by a refund).
pub fn reversals(booked: &[Booking], back: &[(i64, i64)]) -> Vec<Booking> {
    let mut out = Vec::new();
    for (lot_id, points) in back.iter().filter(|(_, p)| *p > 0) {
        if let Some(b) = booked.iter().find(|b| b.lot_id == *lot_id) {
            let points = (*points).min(b.points);
            out.push(Booking {
                points: -points,
                amount_minor: -points * b.value_minor,
                ..b.clone()
            });
        }
    }
    out
}

/// How a refund of `refunded_after` out of a payment's `paid` points (it had
/// given back `refunded_before` already) returns to the lots it took
/// (`taken`, in order): each lot gets back its share of what has been
/// refunded so far, less what it got before, so the parts always add up.
pub fn refund_split(taken: &[Taken], paid: i64, before: i64, after: i64) -> Vec<(Taken, i64)> {
    if paid <= 0 {
        return Vec::new();
    }
    let share = |through: i64, refunded: i64| through * refunded / paid;
    let mut through = 0;
    let mut out = Vec::new();
    for t in taken {
        let (from, to) = (through, through + t.points);
        through = to;
        let back =
            (share(to, after) - share(from, after)) - (share(to, before) - share(from, before));
        if back > 0 {
            out.push((t.clone(), back));
        }
    }
    out
}

/// Points a refund returns to the lots of one issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Returned {
    pub issuer: Option<String>,
    pub points: i64,
    /// (lot, points) of the split
    pub lots: Vec<(i64, i64)>,
}

/// A refund's split ([`refund_split`]) gathered per issuer, in order.
pub fn by_issuer(split: Vec<(Taken, i64)>) -> Vec<Returned> {
    let mut out: Vec<Returned> = Vec::new();
    for (t, back) in split {
        match out.iter_mut().find(|g| g.issuer == t.issuer) {
            Some(g) => {
                g.points += back;
                g.lots.push((t.lot_id, back));
            }
            None => out.push(Returned {
                issuer: t.issuer,
                points: back,
                lots: vec![(t.lot_id, back)],
            }),
        }
    }
    out
}

/// One pair's line of a statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PairLine {
    pub issuer: String,
    pub redeemer: String,
    pub points: i64,
    /// What the issuer owes the redeemer, minor units
    pub amount_minor: i64,
}

/// One partner's position in a period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Position {
    pub merchant_id: String,
    pub name: String,
    /// Its points honoured at other partners
    pub points_out: i64,
    /// What it owes for them, minor units
    pub owes_minor: i64,
    /// Other partners' points it honoured
    pub points_in: i64,
    /// What it is owed for them, minor units
    pub owed_minor: i64,
    /// Owed less owes: what it receives (positive) or pays (negative)
    pub net_minor: i64,
    /// Its points that expired unused in the period: they stay with it
    pub breakage_points: i64,
    pub breakage_minor: i64,
}

/// A period's statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Statement {
    /// `2026-11`
    pub period: String,
    pub currency: String,
    /// When it was closed; a closed statement never changes
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<DateTime<Utc>>,
    pub pairs: Vec<PairLine>,
    pub partners: Vec<Position>,
    /// Every booking's points and amount, summed
    pub points: i64,
    pub amount_minor: i64,
}

/// A partner's name and value, and the points of its that expired in the
/// period.
#[derive(Debug, Clone)]
pub struct PartnerFacts {
    pub merchant_id: String,
    pub name: String,
    pub value_minor: i64,
    pub expired_points: i64,
}

/// Adds a period's bookings (issuer, redeemer, points, amount) up into its
/// statement: per pair, then each partner's position.
pub fn statement(
    period: Period,
    currency: &str,
    bookings: &[(String, String, i64, i64)],
    partners: &[PartnerFacts],
) -> Statement {
    let mut pairs: BTreeMap<(&str, &str), (i64, i64)> = BTreeMap::new();
    for (i, r, p, a) in bookings {
        let e = pairs.entry((i, r)).or_default();
        e.0 += p;
        e.1 += a;
    }
    let pairs: Vec<PairLine> = pairs
        .into_iter()
        .filter(|(_, (p, a))| *p != 0 || *a != 0)
        .map(|((i, r), (points, amount_minor))| PairLine {
            issuer: i.to_string(),
            redeemer: r.to_string(),
            points,
            amount_minor,
        })
        .collect();
    let partners = partners
        .iter()
        .map(|f| {
            let id = f.merchant_id.as_str();
            let out: Vec<&PairLine> = pairs.iter().filter(|l| l.issuer == id).collect();
            let inn: Vec<&PairLine> = pairs.iter().filter(|l| l.redeemer == id).collect();
            let owes: i64 = out.iter().map(|l| l.amount_minor).sum();
            let owed: i64 = inn.iter().map(|l| l.amount_minor).sum();
            Position {
                merchant_id: f.merchant_id.clone(),
                name: f.name.clone(),
                points_out: out.iter().map(|l| l.points).sum(),
                owes_minor: owes,
                points_in: inn.iter().map(|l| l.points).sum(),
                owed_minor: owed,
                net_minor: owed - owes,
                breakage_points: f.expired_points,
                breakage_minor: f.expired_points * f.value_minor,
            }
        })
        .collect();
    Statement {
        period: period.to_string(),
        currency: currency.to_string(),
        closed_at: None,
        points: pairs.iter().map(|l| l.points).sum(),
        amount_minor: pairs.iter().map(|l| l.amount_minor).sum(),
        pairs,
        partners,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn taken(lot_id: i64, issuer: Option<&str>, points: i64) -> Taken {
        Taken {
            lot_id,
            issuer: issuer.map(str::to_string),
            points,
        }
    }

    fn values(m: &str) -> Option<i64> {
        match m {
            "cafe" => Some(25),
            "bakery" => Some(20),
            "wash" => Some(30),
            _ => None,
        }
    }

    #[test]
    fn only_other_partners_lots_are_booked_at_the_issuers_value() {
        let t = [
            taken(1, Some("cafe"), 40),
            taken(2, Some("bakery"), 10),
            taken(3, None, 5),
            taken(4, Some("outsider"), 7),
            taken(5, Some("wash"), 3),
        ];
        let b = bookings(&t, "bakery", values);
        assert_eq!(
            b.iter()
                .map(|b| (b.issuer.as_str(), b.points, b.amount_minor))
                .collect::<Vec<_>>(),
            [("cafe", 40, 1_000), ("wash", 3, 90)]
        );
        // A shop outside the coalition books nothing.
        assert!(bookings(&t, "outsider", values).is_empty());
    }

    #[test]
    fn reversals_undo_what_came_back_and_no_more() {
        let b = bookings(&[taken(1, Some("cafe"), 40)], "bakery", values);
        let r = reversals(&b, &[(1, 10), (9, 5)]);
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].points, r[0].amount_minor), (-10, -250));
        let all = reversals(&b, &[(1, 99)]);
        assert_eq!(all[0].points, -40);
    }

    #[test]
    fn refunds_split_across_lots_and_always_add_up() {
        let t = [taken(1, Some("cafe"), 7), taken(2, Some("wash"), 5)];
        // Refunded in three parts: 5, then 4 more, then the last 3.
        let mut got = [0, 0];
        for (before, after) in [(0, 5), (5, 9), (9, 12)] {
            let split = refund_split(&t, 12, before, after);
            assert_eq!(split.iter().map(|(_, p)| p).sum::<i64>(), after - before);
            for (t, p) in split {
                got[usize::try_from(t.lot_id - 1).unwrap()] += p;
            }
        }
        assert_eq!(got, [7, 5]);
    }

    #[test]
    fn a_statement_nets_to_zero_over_the_coalition() {
        let b = vec![
            ("cafe".to_string(), "bakery".to_string(), 40, 1_000),
            ("cafe".to_string(), "bakery".to_string(), -10, -250),
            ("bakery".to_string(), "wash".to_string(), 100, 2_000),
            ("wash".to_string(), "cafe".to_string(), 10, 300),
        ];
        let facts: Vec<PartnerFacts> = [("cafe", 25, 3), ("bakery", 20, 0), ("wash", 30, 0)]
            .iter()
            .map(|(m, v, e)| PartnerFacts {
                merchant_id: m.to_string(),
                name: m.to_string(),
                value_minor: *v,
                expired_points: *e,
            })
            .collect();
        let s = statement(
            Period {
                year: 2026,
                month: 11,
            },
            "THB",
            &b,
            &facts,
        );
        assert_eq!(s.pairs.len(), 3);
        assert_eq!((s.points, s.amount_minor), (140, 3_050));
        assert_eq!(s.partners.iter().map(|p| p.net_minor).sum::<i64>(), 0);
        let cafe = &s.partners[0];
        assert_eq!(
            (cafe.owes_minor, cafe.owed_minor, cafe.net_minor),
            (750, 300, -450)
        );
        assert_eq!((cafe.breakage_points, cafe.breakage_minor), (3, 75));
    }

    #[test]
    fn periods_are_local_months_and_closed_ones_are_skipped() {
        let tz = chrono_tz::Asia::Bangkok;
        // 30 November 23:30 UTC is 1 December in Bangkok.
        let at = Utc.with_ymd_and_hms(2026, 11, 30, 23, 30, 0).unwrap();
        assert_eq!(Period::of(at, tz).to_string(), "2026-12");
        let nov = Period::parse("2026-11").unwrap();
        let closed: BTreeSet<Period> = [nov, nov.next()].into();
        let late = Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap();
        assert_eq!(booking_period(late, tz, &closed).to_string(), "2027-01");
        assert_eq!(Period::parse("2026-13"), None);
        assert_eq!(Period::parse("26-11"), None);
        let (start, end) = nov.bounds(tz);
        assert_eq!(start, Utc.with_ymd_and_hms(2026, 10, 31, 17, 0, 0).unwrap());
        assert_eq!(end, Utc.with_ymd_and_hms(2026, 11, 30, 17, 0, 0).unwrap());
    }

    #[test]
    fn a_prepaid_budget_refuses_what_it_cannot_cover() {
        assert!(may_issue(Some(100), 90, 10));
        assert!(!may_issue(Some(100), 90, 11));
        assert!(may_issue(None, 1_000_000, 1));
        assert!(check(25, Funding::Prepaid, None).is_err());
        assert!(check(25, Funding::Postpaid, Some(5)).is_err());
        assert!(check(-1, Funding::Postpaid, None).is_err());
        assert!(check(25, Funding::Prepaid, Some(1_000)).is_ok());
    }
}
