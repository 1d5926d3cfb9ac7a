//! `taem report`: the programme's figures, from the same computation as the
//! admin API and the console.

use clap::{Args, Subcommand};

use super::friendly;
use crate::domain::time::now;
use crate::service::Loyalty;
use crate::service::reports::{
    CampaignsReport, LiabilityReport, MembersReport, PointsReport, RedemptionReport, ReportQuery,
    SummaryReport,
};

#[derive(Subcommand)]
pub(super) enum ReportCmd {
    /// The programme's P&L for the range: sales, points issued and their
    /// value, rewards' cost, payments with points, campaigns' points.
    Summary(ReportArgs),
    /// Points issued (by rule), redeemed, expired, clawed back, given back and
    /// adjusted per period, with the outstanding balance.
    Points(ReportArgs),
    /// Campaigns in the range: points given and their value, purchases,
    /// members and sales with their bonus, and lift where measured.
    Campaigns(ReportArgs),
    /// What the points members hold are worth: a point's value, breakage by
    /// monthly cohort, the expected cost, and what expires in the next 12 months.
    Liability(AsOfArgs),
    /// Redemption: the rate, vouchers per reward and kind with their cost,
    /// payments at the till and cashback credit.
    Redemption(ReportArgs),
    /// Members: total, new, active, repeat buyers, average spend and visits,
    /// the share of sales made by identified members.
    Members(ReportArgs),
    /// Members by A/B/C class and RFM segment over the last 12 months (worked
    /// out once a day by serve; --refresh works them out now).
    Segments(SegmentArgs),
}

#[derive(Args)]
pub(super) struct SegmentArgs {
    /// Work the classes and segments out now first.
    #[arg(long)]
    refresh: bool,
    /// List the members (of --class or --segment) instead of the counts.
    #[arg(long)]
    members: bool,
    /// Only this class: A, B or C (with --members).
    #[arg(long)]
    class: Option<String>,
    /// Only this segment, e.g. champions or at_risk (with --members).
    #[arg(long)]
    segment: Option<String>,
    /// The customers of this merchant: their classes and segments, and what
    /// they bought there (the counts only).
    #[arg(long, conflicts_with = "members")]
    merchant: Option<String>,
    /// Print JSON.
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// Print CSV.
    #[arg(long)]
    csv: bool,
}

#[derive(Args)]
pub(super) struct AsOfArgs {
    /// As of the end of this local day (YYYY-MM-DD; default: now).
    #[arg(long)]
    to: Option<String>,
    /// Only the points in the lots this merchant issued (as of now).
    #[arg(long)]
    merchant: Option<String>,
    /// Print JSON.
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// Print CSV (the cohorts).
    #[arg(long)]
    csv: bool,
}

#[derive(Args)]
pub(super) struct ReportArgs {
    /// The first local day (YYYY-MM-DD; default: eleven periods before --to's).
    #[arg(long)]
    from: Option<String>,
    /// The last local day (YYYY-MM-DD; default: today).
    #[arg(long)]
    to: Option<String>,
    /// day, week (ISO) or month.
    #[arg(long, default_value = "month", value_parser = ["day", "week", "month"])]
    by: String,
    /// Only what happened at this merchant.
    #[arg(long)]
    merchant: Option<String>,
    /// Print JSON.
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// Print CSV.
    #[arg(long)]
    csv: bool,
}

impl ReportArgs {
    fn query(&self) -> ReportQuery {
        ReportQuery {
            from: self.from.clone(),
            to: self.to.clone(),
            by: Some(self.by.clone()),
            merchant: self.merchant.clone(),
        }
    }
}

pub(super) async fn report(loyalty: &Loyalty, cmd: ReportCmd) -> anyhow::Result<()> {
    let t = now();
    match cmd {
        ReportCmd::Points(a) => {
            let q = a.query();
            show(
                &a,
                loyalty.points_report(&q, t),
                PointsReport::csv,
                points_text,
            )
            .await
        }
        ReportCmd::Summary(a) => {
            let q = a.query();
            show(
                &a,
                loyalty.summary_report(&q, t),
                SummaryReport::csv,
                summary_text,
            )
            .await
        }
        ReportCmd::Campaigns(a) => {
            let q = a.query();
            show(
                &a,
                loyalty.campaigns_report(&q, t),
                CampaignsReport::csv,
                campaigns_text,
            )
            .await
        }
        ReportCmd::Redemption(a) => {
            let q = a.query();
            let r = loyalty.redemption_report(&q, t);
            show(&a, r, RedemptionReport::csv, redemption_text).await
        }
        ReportCmd::Members(a) => {
            let q = a.query();
            show(
                &a,
                loyalty.members_report(&q, t),
                MembersReport::csv,
                members_text,
            )
            .await
        }
        ReportCmd::Segments(args) => segments(loyalty, args).await,
        ReportCmd::Liability(out) => {
            let q = ReportQuery {
                to: out.to.clone(),
                merchant: out.merchant.clone(),
                ..ReportQuery::default()
            };
            let r = loyalty.liability_report(&q, t).await.map_err(friendly)?;
            if out.json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else if out.csv {
                print!("{}", r.csv());
            } else {
                print!("{}", liability_text(&r));
            }
            Ok(())
        }
    }
}

/// Waits for a report and prints it as the flags ask: JSON, CSV or text.
async fn show<T: serde::Serialize>(
    args: &ReportArgs,
    report: impl std::future::Future<Output = crate::service::Result<T>>,
    csv: fn(&T) -> String,
    text: fn(&T) -> String,
) -> anyhow::Result<()> {
    let r = report.await.map_err(friendly)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else if args.csv {
        print!("{}", csv(&r));
    } else {
        print!("{}", text(&r));
    }
    Ok(())
}

fn range_text(what: &str, r: &crate::service::reports::Range) -> String {
    format!("{what} from {} to {} ({})\n", r.from, r.to, r.time_zone)
}

fn summary_text(r: &SummaryReport) -> String {
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let c = &r.currency;
    let mut out = range_text("summary", &r.range);
    out.push_str(&format!(
        "sales {} {c} (members {} {c}, anonymous {} {c})\n\
         points issued {} (worth {} {c} at {} {c} a point)\n\
         rewards cost {} {c}; paid with points {} {c}, with store credit {} {c}\n\
         campaign points {} (worth {} {c}); incremental sales {}\n",
        r.sales,
        r.member_sales,
        r.anonymous_sales,
        r.points_issued,
        or_dash(&r.points_issued_value),
        or_dash(&r.point_value),
        r.rewards_cost,
        r.paid_with_points,
        r.paid_with_credit,
        r.campaign_points,
        or_dash(&r.campaign_points_value),
        r.incremental_sales
            .clone()
            .or_else(|| r.incremental_sales_note.clone())
            .unwrap_or_default()
    ));
    out
}

fn campaigns_text(r: &CampaignsReport) -> String {
    let mut out = range_text("campaigns", &r.range);
    for c in &r.campaigns {
        out.push_str(&format!(
            "  #{} {} ({}): {} points (worth {} {}), {} purchases by {} members, sales {} {}; lift {}\n",
            c.id,
            c.name_en,
            c.status,
            c.points_awarded,
            c.points_value.clone().unwrap_or_else(|| "-".into()),
            r.currency,
            c.purchases,
            c.members,
            c.sales,
            r.currency,
            c.lift_text(r.currency.parse().unwrap_or(crate::domain::Currency::THB))
        ));
    }
    let currency = r.currency.parse().unwrap_or(crate::domain::Currency::THB);
    let money = |minor: i64| crate::domain::Money::from_minor(minor, currency).to_decimal_string();
    for j in &r.journeys {
        let lift = match (j.lift_bp, j.holdout_spend_per_send_minor) {
            (Some(bp), _) => format!("{:+.1} %", bp as f64 / 100.0),
            (None, None) => "no holdout".into(),
            (None, Some(_)) => "not measurable yet".into(),
        };
        out.push_str(&format!(
            "  journey {}: reached {} (held out {}), {} points and {} vouchers given ({} used), \
             spend in 30 days per send {} {} against {} {}; lift {lift}\n",
            j.journey.as_str(),
            j.reached,
            j.held_out,
            j.points_given,
            j.vouchers_given,
            j.vouchers_used,
            money(j.spend_per_send_minor),
            r.currency,
            j.holdout_spend_per_send_minor.map_or("-".into(), money),
            r.currency,
        ));
    }
    out
}

fn redemption_text(r: &RedemptionReport) -> String {
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let mut out = range_text("redemption", &r.range);
    out.push_str(&format!(
        "redemption rate {} % ({} of {} points; all time {} %)\n",
        or_dash(&r.redemption_rate),
        r.points_redeemed_net,
        r.points_issued,
        or_dash(&r.redemption_rate_all_time)
    ));
    if r.periods.len() > 1 {
        for p in &r.periods {
            out.push_str(&format!(
                "  {:<10} issued {:>10}  redeemed {:>10}  rate {} %\n",
                p.period.label,
                p.points_issued,
                p.points_redeemed_net,
                or_dash(&p.redemption_rate)
            ));
        }
    }
    for k in r.rewards.iter().chain(&r.kinds) {
        let name = k
            .name_en
            .clone()
            .unwrap_or_else(|| format!("all {}", k.kind));
        out.push_str(&format!(
            "  {name}: {} redeemed ({} used, {} valid, {} expired, {} given back), {} points, cost {} {}\n",
            k.redemptions, k.used, k.valid, k.expired, k.given_back, k.points, k.cost, r.currency
        ));
    }
    let p = &r.payments;
    out.push_str(&format!(
        "paid at tills: {} payments with {} points ({} minor), {} with store credit ({} minor); \
         cashback: {} ({} minor)\n",
        p.point_payments,
        p.points_paid,
        p.points_paid_minor,
        p.credit_payments,
        p.credit_paid_minor,
        p.cashbacks,
        p.cashback_minor
    ));
    out
}

fn members_text(r: &MembersReport) -> String {
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let mut out = range_text("members", &r.range);
    out.push_str(&format!(
        "{} members, {} new; active {} (30 days), {} (90 days)\n\
         {} bought, {} twice or more (repeat rate {} %)\n\
         average spend {} {}, {} visits; members' sales {} {}, anonymous {} {} \
         (identified share {} %)\n",
        r.members,
        r.new_members,
        r.active_30_days,
        r.active_90_days,
        r.buyers,
        r.repeat_buyers,
        or_dash(&r.repeat_purchase_rate),
        or_dash(&r.average_spend),
        r.currency,
        or_dash(&r.average_visits),
        r.member_sales,
        r.currency,
        r.anonymous_sales,
        r.currency,
        or_dash(&r.identified_share)
    ));
    out
}

fn liability_text(r: &LiabilityReport) -> String {
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let mut out = format!(
        "liability at {} ({}){}\n\
         outstanding {} points, spendable {} points\n\
         point value {} {} ({})\n\
         value {} {}, breakage {} % ({}), expected cost {} {}\n",
        r.as_of.with_timezone(
            &r.time_zone
                .parse::<chrono_tz::Tz>()
                .unwrap_or(chrono_tz::UTC)
        ),
        r.time_zone,
        r.merchant_id
            .as_ref()
            .map(|m| format!(", merchant {m}"))
            .unwrap_or_default(),
        r.outstanding_points,
        r.spendable_points
            .map_or_else(|| "-".to_string(), |p| p.to_string()),
        or_dash(&r.point_value),
        r.currency,
        serde_json::to_value(&r.point_value_source)
            .ok()
            .and_then(|v| v["source"].as_str().map(str::to_string))
            .unwrap_or_default(),
        or_dash(&r.value),
        r.currency,
        r.breakage_percent,
        serde_json::to_value(r.breakage_method)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        or_dash(&r.expected_cost),
        r.currency,
    );
    out.push_str(&format!(
        "{:<8} {:>10} {:>10} {:>10} {:>8} {:>10} {:>10} {:>9}\n",
        "cohort", "issued", "redeemed", "expired", "taken", "remaining", "expected", "breakage"
    ));
    for c in &r.cohorts {
        out.push_str(&format!(
            "{:<8} {:>10} {:>10} {:>10} {:>8} {:>10} {:>10} {:>9}\n",
            c.month,
            c.issued,
            c.redeemed,
            c.expired,
            c.taken,
            c.remaining,
            c.expected_redeemed,
            c.breakage_bp
                .map(|b| format!("{}.{:02} %", b / 100, b % 100))
                .unwrap_or_else(|| "-".into())
        ));
    }
    if !r.expiring.is_empty() {
        out.push_str("expiring:");
        for e in &r.expiring {
            out.push_str(&format!(" {} {}", e.month, e.points));
        }
        out.push('\n');
    }
    if let Some(note) = &r.note {
        out.push_str(&format!("note: {note}\n"));
    }
    out
}

fn points_text(r: &PointsReport) -> String {
    let mut out = format!(
        "points by {} from {} to {} ({}){}\n",
        match r.range.by {
            crate::domain::report::Grain::Day => "day",
            crate::domain::report::Grain::Week => "week",
            crate::domain::report::Grain::Month => "month",
        },
        r.range.from,
        r.range.to,
        r.range.time_zone,
        r.range
            .merchant_id
            .as_ref()
            .map(|m| format!(", merchant {m}"))
            .unwrap_or_default()
    );
    out.push_str(&format!(
        "{:<10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>12}\n",
        "period",
        "issued",
        "redeemed",
        "expired",
        "clawback",
        "released",
        "adj -",
        "net",
        "outstanding"
    ));
    for p in &r.periods {
        let f = &p.flows;
        out.push_str(&format!(
            "{:<10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>12}\n",
            p.period.label,
            p.issued,
            f.redeemed,
            f.expired,
            f.clawed_back,
            f.released,
            f.adjusted_down,
            p.net_change,
            p.outstanding_end
                .map(|o| o.to_string())
                .unwrap_or_else(|| "-".into())
        ));
    }
    let t = &r.total;
    out.push_str(&format!(
        "issued by rule: base {}, tier {}, campaign {}, referral {}, manual {}\n",
        t.issued_base, t.issued_tier, t.issued_campaign, t.issued_referral, t.issued_manual
    ));
    out
}

async fn segments(loyalty: &Loyalty, args: SegmentArgs) -> anyhow::Result<()> {
    if args.refresh {
        let n = loyalty.refresh_segments(now()).await.map_err(friendly)?;
        if !args.json && !args.csv {
            println!("classes and segments worked out for {n} members");
        }
    }
    if args.members {
        let rows = loyalty
            .segment_members(args.class, args.segment)
            .await
            .map_err(friendly)?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&rows)?);
        } else if args.csv {
            print!("{}", crate::service::reports::segment_members_csv(&rows));
        } else {
            for s in &rows {
                println!(
                    "{} {} {} R{}F{}M{} {} purchases, {} sales (minor)",
                    s.member_code,
                    s.class.as_str(),
                    s.segment.as_str(),
                    s.rfm.r,
                    s.rfm.f,
                    s.rfm.m,
                    s.purchases,
                    s.sales_minor
                );
            }
        }
        return Ok(());
    }
    let q = ReportQuery {
        merchant: args.merchant.clone(),
        ..ReportQuery::default()
    };
    let r = loyalty.segments_report(&q).await.map_err(friendly)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else if args.csv {
        print!("{}", r.csv());
    } else {
        let mut out = match r.computed_at {
            Some(t) => format!("classes and segments as of {t}\n"),
            None => "classes and segments have not been worked out yet (--refresh)\n".into(),
        };
        for t in r.classes.iter().chain(&r.segments) {
            out.push_str(&format!(
                "  {:<20} {:>8} members  sales {:>14} {}  average {} {}\n",
                t.name, t.members, t.sales, r.currency, t.average_spend, r.currency
            ));
        }
        out.push_str(&format!(
            "  {} members bought nothing in the last 12 months\n",
            r.without_purchases
        ));
        print!("{out}");
    }
    Ok(())
}
