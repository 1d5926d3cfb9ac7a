//! Which customers matter most: A/B/C classes by share of members' sales, and
//! RFM segments (recency, frequency, monetary value scored 1 to 5 by
//! quintile, then named). Pure rules over each member's last 12 months; the
//! mapping is documented in `docs/REPORTS.md`.

use serde::Serialize;
use utoipa::ToSchema;

/// One member's purchases in the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buyer {
    pub member_id: i64,
    pub purchases: i64,
    /// Sales net of refunds, minor units.
    pub sales: i64,
    /// Days since their last purchase in the window (0: today).
    pub days_since: i64,
}

/// A member's class by their share of members' sales.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
pub enum Class {
    A,
    B,
    C,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::A => "A",
            Class::B => "B",
            Class::C => "C",
        }
    }

    pub fn parse(s: &str) -> Option<Class> {
        [Class::A, Class::B, Class::C]
            .into_iter()
            .find(|c| c.as_str() == s)
    }
}

/// Classes for buyers: sorted by sales, the members who together make the
/// first `a_bp` of all sales are A (the one who crosses the line included),
/// the next up to `b_bp` are B, the rest C. Returns (member, class) in the
/// buyers' order.
pub fn classes(buyers: &[Buyer], (a_bp, b_bp): (i64, i64)) -> Vec<(i64, Class)> {
    let total: i128 = buyers.iter().map(|b| i128::from(b.sales.max(0))).sum();
    let mut order: Vec<usize> = (0..buyers.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(buyers[i].sales), buyers[i].member_id));
    let mut class = vec![Class::C; buyers.len()];
    let mut before: i128 = 0;
    for i in order {
        let sales = i128::from(buyers[i].sales.max(0));
        if total > 0 && sales > 0 {
            // The share of sales made by the members ranked above this one.
            let share = before * 10_000 / total;
            class[i] = if share < i128::from(a_bp) {
                Class::A
            } else if share < i128::from(b_bp) {
                Class::B
            } else {
                Class::C
            };
        }
        before += sales;
    }
    buyers
        .iter()
        .zip(class)
        .map(|(b, c)| (b.member_id, c))
        .collect()
}

/// Scores 1 to 5 by quintile of `values` (higher is better; equal values get
/// equal scores: the score of the first of them in rank).
fn quintiles(values: &[i64]) -> Vec<u8> {
    let n = values.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| values[i]);
    let mut scores = vec![1u8; n];
    let mut rank = 0;
    while rank < n {
        let v = values[order[rank]];
        let score = 1 + (rank * 5 / n.max(1)) as u8;
        let mut j = rank;
        while j < n && values[order[j]] == v {
            scores[order[j]] = score;
            j += 1;
        }
        rank = j;
    }
    scores
}

/// A member's RFM scores, each 1 to 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Rfm {
    pub r: u8,
    pub f: u8,
    pub m: u8,
}

/// RFM scores for buyers (in their order): recency scored on fewer days
/// since the last purchase, frequency on purchases, monetary on sales.
pub fn rfm(buyers: &[Buyer]) -> Vec<Rfm> {
    let r = quintiles(&buyers.iter().map(|b| -b.days_since).collect::<Vec<_>>());
    let f = quintiles(&buyers.iter().map(|b| b.purchases).collect::<Vec<_>>());
    let m = quintiles(&buyers.iter().map(|b| b.sales).collect::<Vec<_>>());
    (0..buyers.len())
        .map(|i| Rfm {
            r: r[i],
            f: f[i],
            m: m[i],
        })
        .collect()
}

/// The named RFM segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Segment {
    Champions,
    Loyal,
    PotentialLoyalist,
    New,
    Promising,
    NeedAttention,
    AboutToSleep,
    AtRisk,
    CantLoseThem,
    Hibernating,
    Lost,
}

impl Segment {
    pub const ALL: [Segment; 11] = [
        Segment::Champions,
        Segment::Loyal,
        Segment::PotentialLoyalist,
        Segment::New,
        Segment::Promising,
        Segment::NeedAttention,
        Segment::AboutToSleep,
        Segment::AtRisk,
        Segment::CantLoseThem,
        Segment::Hibernating,
        Segment::Lost,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Segment::Champions => "champions",
            Segment::Loyal => "loyal",
            Segment::PotentialLoyalist => "potential_loyalist",
            Segment::New => "new",
            Segment::Promising => "promising",
            Segment::NeedAttention => "need_attention",
            Segment::AboutToSleep => "about_to_sleep",
            Segment::AtRisk => "at_risk",
            Segment::CantLoseThem => "cant_lose_them",
            Segment::Hibernating => "hibernating",
            Segment::Lost => "lost",
        }
    }

    pub fn parse(s: &str) -> Option<Segment> {
        Segment::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The segment of recency and frequency scores (monetary value ranks
    /// within a segment; it does not move a member between them):
    ///
    /// | R \ F | 1 | 2 | 3 | 4 | 5 |
    /// |---|---|---|---|---|---|
    /// | 5 | New | Potential loyalist | Potential loyalist | Champions | Champions |
    /// | 4 | Promising | Potential loyalist | Potential loyalist | Loyal | Loyal |
    /// | 3 | About to sleep | About to sleep | Need attention | Loyal | Loyal |
    /// | 2 | Hibernating | Hibernating | At risk | At risk | Can't lose them |
    /// | 1 | Lost | Hibernating | At risk | At risk | Can't lose them |
    pub fn of(s: Rfm) -> Segment {
        match (s.r, s.f) {
            (5, 4..=5) => Segment::Champions,
            (3..=4, 4..=5) => Segment::Loyal,
            (4..=5, 2..=3) => Segment::PotentialLoyalist,
            (5, _) => Segment::New,
            (4, _) => Segment::Promising,
            (3, 3) => Segment::NeedAttention,
            (3, _) => Segment::AboutToSleep,
            (..=2, 5..) => Segment::CantLoseThem,
            (..=2, 3 | 4) => Segment::AtRisk,
            (..=1, ..=1) => Segment::Lost,
            _ => Segment::Hibernating,
        }
    }
}

/// A member's class and segment as a run worked them out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct MemberSegment {
    pub member_id: i64,
    pub member_code: String,
    pub class: Class,
    pub segment: Segment,
    pub rfm: Rfm,
    /// In the 12 months before `computed_at`
    pub purchases: i64,
    pub sales_minor: i64,
    pub last_purchase_at: chrono::DateTime<chrono::Utc>,
    pub computed_at: chrono::DateTime<chrono::Utc>,
    /// The category that took most of their spend in those 12 months
    #[serde(skip_serializing_if = "Option::is_none")]
    pub favourite_category: Option<String>,
}

/// The latest run's summary: when it ran, all members now, and per (class,
/// segment) the members, their sales (minor) and purchases.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SegmentSummary {
    pub computed_at: Option<chrono::DateTime<chrono::Utc>>,
    pub members: i64,
    pub cells: Vec<(String, String, i64, i64, i64)>,
}

/// Buyers' classes and segments (what a run stores; the code and the time
/// are left for the store to fill in).
pub fn assign(
    buyers: &[(Buyer, chrono::DateTime<chrono::Utc>)],
    cuts: (i64, i64),
    computed_at: chrono::DateTime<chrono::Utc>,
) -> Vec<MemberSegment> {
    let plain: Vec<Buyer> = buyers.iter().map(|(b, _)| *b).collect();
    let classes = classes(&plain, cuts);
    let scores = rfm(&plain);
    buyers
        .iter()
        .zip(classes)
        .zip(scores)
        .map(|(((b, last), (_, class)), s)| MemberSegment {
            member_id: b.member_id,
            member_code: String::new(),
            class,
            segment: Segment::of(s),
            rfm: s,
            purchases: b.purchases,
            sales_minor: b.sales,
            last_purchase_at: *last,
            computed_at,
            favourite_category: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buyer(member_id: i64, sales: i64, purchases: i64, days_since: i64) -> Buyer {
        Buyer {
            member_id,
            purchases,
            sales,
            days_since,
        }
    }

    #[test]
    fn a_is_the_members_who_make_the_first_80_percent_of_sales() {
        // Sales 500, 300, 100, 60, 40 (of 1,000): shares before each 0 %,
        // 50 %, 80 %, 90 %, 96 %.
        let buyers: Vec<Buyer> = [(1, 100), (2, 500), (3, 40), (4, 300), (5, 60)]
            .into_iter()
            .map(|(id, s)| buyer(id, s, 1, 1))
            .collect();
        let got = classes(&buyers, (8_000, 9_500));
        assert_eq!(
            got,
            [
                (1, Class::B),
                (2, Class::A),
                (3, Class::C),
                (4, Class::A),
                (5, Class::B)
            ]
        );
        let none = classes(&[buyer(9, 0, 1, 3)], (8_000, 9_500));
        assert_eq!(none, [(9, Class::C)], "no sales: C");
    }

    #[test]
    fn scores_are_quintiles_and_ties_score_alike() {
        assert_eq!(quintiles(&[10, 20, 30, 40, 50]), [1, 2, 3, 4, 5]);
        assert_eq!(quintiles(&[7, 7, 7, 7]), [1, 1, 1, 1]);
        assert_eq!(
            quintiles(&[1, 2, 2, 3, 4, 5, 6, 7, 8, 9]),
            [1, 1, 1, 2, 3, 3, 4, 4, 5, 5]
        );
        let s = rfm(&[buyer(1, 100, 1, 300), buyer(2, 900, 9, 1)]);
        assert_eq!(s[0], Rfm { r: 1, f: 1, m: 1 });
        assert_eq!(s[1], Rfm { r: 3, f: 3, m: 3 });
    }

    #[test]
    fn every_score_pair_has_a_segment_and_the_corners_are_as_named() {
        let at = |r, f| Segment::of(Rfm { r, f, m: 3 });
        assert_eq!(at(5, 5), Segment::Champions);
        assert_eq!(at(5, 1), Segment::New);
        assert_eq!(at(4, 1), Segment::Promising);
        assert_eq!(at(1, 1), Segment::Lost);
        assert_eq!(at(1, 5), Segment::CantLoseThem);
        assert_eq!(at(2, 3), Segment::AtRisk);
        assert_eq!(at(3, 3), Segment::NeedAttention);
        assert_eq!(at(3, 1), Segment::AboutToSleep);
        assert_eq!(at(2, 2), Segment::Hibernating);
        assert_eq!(at(4, 4), Segment::Loyal);
        assert_eq!(at(5, 2), Segment::PotentialLoyalist);
        let named: std::collections::BTreeSet<Segment> = (1..=5)
            .flat_map(|r| (1..=5).map(move |f| at(r, f)))
            .collect();
        assert_eq!(
            named.len(),
            Segment::ALL.len(),
            "every segment is reachable"
        );
    }
}
