//! The reports page (managers and owners): points over time with charts, the
//! liability, redemption, members and segments, for a range and optionally a
//! shop, each downloadable as CSV. The figures come from the same computation
//! as `taem report` and the admin API.

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::chart::{self, Series};
use super::page::layout;
use super::{Console, Refused, Signed};
use crate::domain::time::now;
use crate::service::reports::{ReportQuery, ReportsPage};
use crate::service::staff::Actor;

/// The page's query: the report's range and the export's filter.
#[derive(Debug, Default, Deserialize)]
pub struct ReportForm {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    by: Option<String>,
    #[serde(default)]
    merchant: Option<String>,
    #[serde(default)]
    class: Option<String>,
    #[serde(default)]
    segment: Option<String>,
}

impl ReportForm {
    fn query(&self) -> ReportQuery {
        let keep = |v: &Option<String>| v.clone().filter(|v| !v.trim().is_empty());
        ReportQuery {
            from: keep(&self.from),
            to: keep(&self.to),
            by: keep(&self.by),
            merchant: keep(&self.merchant),
        }
    }
}

/// The query string of the page's range, for the CSV links.
fn range_query(p: &ReportsPage) -> String {
    let r = &p.points.range;
    let by = match r.by {
        crate::domain::report::Grain::Day => "day",
        crate::domain::report::Grain::Week => "week",
        crate::domain::report::Grain::Month => "month",
    };
    let mut q = format!("from={}&to={}&by={by}", r.from, r.to);
    if let Some(m) = &r.merchant_id {
        q.push_str(&format!("&merchant={m}"));
    }
    q
}

fn figure(c: &Console, l: crate::domain::Locale, key: &str, value: String) -> Markup {
    html! { div.figure { span.muted { (c.t(l, key)) } " " strong { (value) } } }
}

pub async fn page(State(c): State<Console>, s: Signed, Query(f): Query<ReportForm>) -> Response {
    let l = s.locale;
    let actor = Actor::Staff(s.staff.clone());
    let title = c.t(l, "console-reports-title");
    let p = match c.loyalty.staff_reports(&actor, &f.query(), now()).await {
        Ok(p) => p,
        Err(crate::service::ServiceError::Invalid { message, .. }) => {
            let body =
                html! { (super::page::notice(&message, false)) (range_form(&c, &s, &f, &[])) };
            let page = layout(&c, l, Some(&s), &title, body);
            return (axum::http::StatusCode::UNPROCESSABLE_ENTITY, page).into_response();
        }
        Err(e) => return Refused::from(e).render(&c, l),
    };
    let mut merchants = c.loyalty.merchants().await.unwrap_or_default();
    merchants.retain(|m| s.staff.acts_for(&m.id));
    let q = range_query(&p);
    let labels: Vec<String> = p
        .points
        .periods
        .iter()
        .map(|r| r.period.label.clone())
        .collect();
    let issued = c.t(l, "console-reports-issued");
    let used = c.t(l, "console-reports-used");
    let outstanding = c.t(l, "console-reports-outstanding");
    let lia = &p.liability;
    let money = |v: &Option<String>| {
        v.as_ref()
            .map(|v| format!("{v} {}", lia.currency))
            .unwrap_or_else(|| "-".into())
    };
    let expiring_labels: Vec<String> = lia.expiring.iter().map(|e| e.month.clone()).collect();
    let body = html! {
        (range_form(&c, &s, &f, &merchants))
        section.card #summary {
            h2 { (c.t(l, "console-reports-summary")) " " a href=(format!("/console/reports/summary.csv?{q}")) { "CSV" } }
            (figure(&c, l, "console-reports-sales", money(&Some(p.summary.sales.clone()))))
            (figure(&c, l, "console-reports-identified", p.members.identified_share.as_ref().map(|r| format!("{r} %")).unwrap_or_else(|| "-".into())))
            (figure(&c, l, "console-reports-points-issued-value", money(&p.summary.points_issued_value)))
            (figure(&c, l, "console-reports-rewards-cost", money(&Some(p.summary.rewards_cost.clone()))))
            (figure(&c, l, "console-reports-paid-with-points", money(&Some(p.summary.paid_with_points.clone()))))
            (figure(&c, l, "console-reports-campaign-value", money(&p.summary.campaign_points_value)))
            @match &p.summary.incremental_sales {
                Some(v) => (figure(&c, l, "console-reports-incremental", money(&Some(v.clone())))),
                None => p.muted { (c.t(l, "console-reports-no-lift")) },
            }
        }
        section.card #points {
            h2 { (c.t(l, "console-reports-points")) " " a href=(format!("/console/reports/points.csv?{q}")) { "CSV" } }
            (chart::bars(&c.t(l, "console-reports-points-chart"), &labels, &[
                Series { name: &issued, class: "bar-issued", values: p.points.periods.iter().map(|r| r.issued).collect() },
                Series { name: &used, class: "bar-used", values: p.points.periods.iter()
                    .map(|r| r.flows.redeemed + r.flows.expired + r.flows.clawed_back - r.flows.released).collect() },
            ]))
            @if p.points.range.merchant_id.is_none() {
                (chart::line(&outstanding, &labels, &outstanding,
                    &p.points.periods.iter().map(|r| r.outstanding_end.unwrap_or(0)).collect::<Vec<_>>()))
            }
            table {
                thead { tr {
                    th { (c.t(l, "console-reports-period")) } th { (issued) }
                    th { (c.t(l, "console-reports-redeemed")) } th { (c.t(l, "console-reports-expired")) }
                    th { (c.t(l, "console-reports-clawed")) } th { (c.t(l, "console-reports-released")) }
                    th { (c.t(l, "console-reports-net")) } th { (outstanding) }
                } }
                tbody {
                    @for r in &p.points.periods {
                        tr {
                            td { (r.period.label) } td { (r.issued) } td { (r.flows.redeemed) }
                            td { (r.flows.expired) } td { (r.flows.clawed_back) } td { (r.flows.released) }
                            td { (r.net_change) }
                            td { (r.outstanding_end.map(|o| o.to_string()).unwrap_or_else(|| "-".into())) }
                        }
                    }
                }
            }
        }
        section.card #liability {
            h2 { (c.t(l, "console-reports-liability")) " " a href=(format!("/console/reports/liability.csv?{q}")) { "CSV" } }
            (figure(&c, l, "console-reports-spendable", lia.spendable_points.map_or_else(|| "-".into(), |p| p.to_string())))
            (figure(&c, l, "console-reports-point-value", money(&lia.point_value)))
            (figure(&c, l, "console-reports-value", money(&lia.value)))
            (figure(&c, l, "console-reports-breakage", format!("{} %", lia.breakage_percent)))
            (figure(&c, l, "console-reports-expected-cost", money(&lia.expected_cost)))
            (chart::bars(&c.t(l, "console-reports-expiring"), &expiring_labels, &[Series {
                name: &c.t(l, "console-reports-expiring"), class: "bar-used",
                values: lia.expiring.iter().map(|e| e.points).collect(),
            }]))
        }
        section.card #redemption {
            h2 { (c.t(l, "console-reports-redemption")) " " a href=(format!("/console/reports/redemption.csv?{q}")) { "CSV" } }
            (figure(&c, l, "console-reports-redemption-rate",
                p.redemption.redemption_rate.as_ref().map(|r| format!("{r} %")).unwrap_or_else(|| "-".into())))
            table {
                thead { tr {
                    th { (c.t(l, "console-reports-reward")) } th { (c.t(l, "console-reports-redemptions")) }
                    th { (c.t(l, "console-reports-used-vouchers")) } th { (c.t(l, "console-reports-cost")) }
                } }
                tbody {
                    @for r in &p.redemption.rewards {
                        tr {
                            td { (match l { crate::domain::Locale::Th => r.name_th.clone(), crate::domain::Locale::En => r.name_en.clone() }.unwrap_or_default()) }
                            td { (r.redemptions) } td { (r.used) } td { (r.cost) " " (p.redemption.currency) }
                        }
                    }
                }
            }
        }
        section.card #campaigns {
            h2 { (c.t(l, "console-nav-campaigns")) " " a href=(format!("/console/reports/campaigns.csv?{q}")) { "CSV" } }
            table {
                thead { tr {
                    th { (c.t(l, "console-reports-campaign")) } th { (c.t(l, "console-reports-campaign-points")) }
                    th { (c.t(l, "console-reports-value")) } th { (c.t(l, "console-reports-campaign-purchases")) }
                    th { (c.t(l, "console-reports-sales")) } th { (c.t(l, "console-reports-lift")) }
                } }
                tbody {
                    @for row in &p.campaigns.campaigns {
                        tr {
                            td { (match l { crate::domain::Locale::Th => &row.name_th, crate::domain::Locale::En => &row.name_en }) }
                            td { (row.points_awarded) } td { (money(&row.points_value)) }
                            td { (row.purchases) } td { (row.sales) }
                            td { (row.lift_text(p.summary.currency.parse().unwrap_or(crate::domain::Currency::THB))) }
                        }
                    }
                }
            }
        }
        section.card #members {
            h2 { (c.t(l, "console-reports-members")) " " a href=(format!("/console/reports/members.csv?{q}")) { "CSV" } }
            (figure(&c, l, "console-reports-members-total", p.members.members.to_string()))
            (figure(&c, l, "console-reports-members-new", p.members.new_members.to_string()))
            (figure(&c, l, "console-reports-active-30", p.members.active_30_days.to_string()))
            (figure(&c, l, "console-reports-repeat", p.members.repeat_purchase_rate.as_ref().map(|r| format!("{r} %")).unwrap_or_else(|| "-".into())))
            (figure(&c, l, "console-reports-average-spend", money(&p.members.average_spend)))
            (figure(&c, l, "console-reports-identified", p.members.identified_share.as_ref().map(|r| format!("{r} %")).unwrap_or_else(|| "-".into())))
        }
        section.card #segments {
            h2 { (c.t(l, "console-reports-segments")) " " a href=(format!("/console/reports/segments.csv?{q}")) { "CSV" } }
            table {
                thead { tr {
                    th { (c.t(l, "console-reports-segment")) } th { (c.t(l, "console-reports-members-total")) }
                    th { (c.t(l, "console-reports-sales")) } th { "" }
                } }
                tbody {
                    @for t in p.segments.classes.iter() {
                        tr {
                            td { (c.t_args(l, "console-reports-class", &[("class", t.name.clone())])) }
                            td { (t.members) } td { (t.sales) }
                            td { a href=(format!("/console/reports/segment-members.csv?class={}", t.name)) { "CSV" } }
                        }
                    }
                    @for t in p.segments.segments.iter().filter(|t| t.members > 0) {
                        tr {
                            td { (c.t(l, &format!("console-segment-{}", t.name))) }
                            td { (t.members) } td { (t.sales) }
                            td { a href=(format!("/console/reports/segment-members.csv?segment={}", t.name)) { "CSV" } }
                        }
                    }
                }
            }
        }
    };
    layout(&c, l, Some(&s), &title, body).into_response()
}

fn range_form(
    c: &Console,
    s: &Signed,
    f: &ReportForm,
    merchants: &[crate::domain::model::Merchant],
) -> Markup {
    let l = s.locale;
    let by = f.by.as_deref().unwrap_or("month");
    html! {
        form method="get" action="/console/reports" #range {
            label { (c.t(l, "console-reports-from")) input type="date" name="from" value=[f.from.as_deref()]; }
            label { (c.t(l, "console-reports-to")) input type="date" name="to" value=[f.to.as_deref()]; }
            label { (c.t(l, "console-reports-by"))
                select name="by" {
                    @for g in ["day", "week", "month"] {
                        option value=(g) selected[by == g] { (c.t(l, &format!("console-reports-by-{g}"))) }
                    }
                }
            }
            @if merchants.len() > 1 {
                label { (c.t(l, "console-merchant"))
                    select name="merchant" {
                        option value="" { (c.t(l, "console-reports-all-shops")) }
                        @for m in merchants {
                            option value=(m.id) selected[f.merchant.as_deref() == Some(m.id.as_str())] { (m.name) }
                        }
                    }
                }
            }
            button type="submit" { (c.t(l, "console-reports-show")) }
        }
    }
}

/// A report as CSV (`/console/reports/{name}.csv`).
pub async fn csv(
    State(c): State<Console>,
    s: Signed,
    Path(file): Path<String>,
    Query(f): Query<ReportForm>,
) -> Response {
    let actor = Actor::Staff(s.staff.clone());
    let Some(name) = file.strip_suffix(".csv") else {
        return Refused::from(crate::service::ServiceError::NotFound("report"))
            .render(&c, s.locale);
    };
    let filter = (f.class.clone(), f.segment.clone());
    match c
        .loyalty
        .staff_report_csv(&actor, (name, &f.query()), filter, now())
        .await
    {
        Ok(body) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"taem-{name}.csv\""),
                ),
            ],
            body,
        )
            .into_response(),
        Err(e) => Refused::from(e).render(&c, s.locale),
    }
}
