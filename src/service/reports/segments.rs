//! Members' A/B/C classes and RFM segments: the daily run and its reads.

use super::*;
use crate::domain::audience;

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
    /// Members with no purchase in the 12 months (no class or segment; none
    /// counted for a shop)
    pub without_purchases: i64,
    /// A shop's report: the classes and segments of the members who bought
    /// there in the run's 12 months, and their sales and purchases there
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_id: Option<String>,
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
        let mut rows = segment::assign(&buyers, (r.abc_a_bp, r.abc_b_bp), now);
        // Each buyer's favourite category, by what their items say.
        let items = self
            .store
            .purchase_items(from, now, program.currency.code())
            .await?;
        let mut favourites = audience::favourites(items.iter().flat_map(|(member, items)| {
            audience::category_lines(items, program.currency)
                .into_iter()
                .map(move |(category, minor)| (*member, category, minor))
        }));
        for row in &mut rows {
            row.favourite_category = favourites.remove(&row.member_id);
        }
        let run = self.store.start_segment_run(now, from).await?;
        for chunk in rows.chunks(5_000) {
            self.store.add_segments(run, chunk).await?;
        }
        self.store.finish_segment_run(run).await?;
        Ok(rows.len())
    }

    /// Members by class and segment, from the latest run (all of them, or a
    /// shop's customers with what they bought there). It is the latest
    /// classification: a range is refused, plainly.
    pub async fn segments_report(&self, q: &ReportQuery) -> Result<SegmentsReport> {
        for (field, value) in [("from", &q.from), ("to", &q.to)] {
            if value.as_deref().is_some_and(|v| !v.trim().is_empty()) {
                return Err(invalid(
                    field,
                    "segments are the latest classification (over the 12 months before it \
                     was worked out): they take no range",
                ));
            }
        }
        let merchant_id = self.report_shop(q).await?;
        let program = self.program().await?;
        let summary = self.reader.segment_summary(&merchant_id).await?;
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
            without_purchases: if merchant_id.is_some() {
                0
            } else {
                (members - with).max(0)
            },
            merchant_id,
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
        Ok(self.reader.segment_members(&class, &segment_name).await?)
    }

    /// A member's class and segment, when they bought in the last 12 months.
    pub async fn member_segment(&self, member_id: i64) -> Result<Option<MemberSegment>> {
        Ok(self.reader.member_segment(member_id).await?)
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
