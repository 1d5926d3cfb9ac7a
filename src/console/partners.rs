//! The owner's partners page: each partner's agreement (a point's value,
//! post-paid or prepaid and what is left of its budget), the form that sets
//! one, and a month's settlement statement with its CSV and the button that
//! closes it.

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::page::{csrf_field, layout, notice};
use super::{Console, Posted, Refused, Signed, invalid_notice, opt};
use crate::domain::Money;
use crate::domain::partner::{Funding, Period, Statement};
use crate::domain::staff::Permission;
use crate::domain::time::now;
use crate::i18n;
use crate::service::ServiceError;
use crate::service::partners::{PartnerInput, statement_csv};
use crate::service::staff::Actor;

/// The month shown: `?period=2026-11`, by default the last one that ended.
#[derive(Deserialize, Default)]
pub struct PeriodQuery {
    #[serde(default)]
    period: Option<String>,
}

/// The agreement form, as posted.
#[derive(Deserialize, Default)]
pub struct PartnerForm {
    #[serde(default)]
    merchant: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    funding: String,
    #[serde(default)]
    budget: String,
    #[serde(default)]
    top_up: String,
}

impl PartnerForm {
    fn input(&self) -> Result<PartnerInput, ServiceError> {
        let int = |field: &str, v: &str| -> Result<Option<i64>, ServiceError> {
            opt(v)
                .map(|v| v.replace(',', "").parse())
                .transpose()
                .map_err(|_| crate::service::invalid(field, "must be a whole number of points"))
        };
        Ok(PartnerInput {
            value: opt(&self.value),
            funding: opt(&self.funding),
            budget: int("budget", &self.budget)?,
            top_up: int("top_up", &self.top_up)?,
        })
    }
}

fn period_or_last(c: &Console, q: &PeriodQuery) -> String {
    q.period
        .clone()
        .filter(|p| !p.trim().is_empty())
        .unwrap_or_else(|| {
            Period::of(now(), c.loyalty.timezone())
                .previous()
                .to_string()
        })
}

async fn partners_page(
    c: &Console,
    s: &Signed,
    period: &str,
    status: StatusCode,
    result: Option<Markup>,
) -> Response {
    let l = s.locale;
    if let Err(e) = Actor::Staff(s.staff.clone()).require(Permission::Settings) {
        return Refused::from(e).render(c, l);
    }
    let (partners, merchants, program) = match (
        c.loyalty.partners().await,
        c.loyalty.merchants().await,
        c.loyalty.program().await,
    ) {
        (Ok(p), Ok(m), Ok(g)) => (p, m, g),
        (Err(e), ..) | (_, Err(e), _) | (.., Err(e)) => return Refused::from(e).render(c, l),
    };
    let statement = c.loyalty.settlement(period).await;
    let money = |m: i64| i18n::money(Money::from_minor(m, program.currency));
    let body = html! {
        @if let Some(r) = result { (r) }
        p.muted { (c.t(l, "console-partners-explain")) }
        table #partners {
            tr {
                th { (c.t(l, "console-merchant")) } th { (c.t(l, "console-partner-value")) }
                th { (c.t(l, "console-partner-funding")) }
            }
            @for p in &partners {
                tr {
                    td { (p.name) br; span.muted { (p.partner.merchant_id) } }
                    td.num { (money(p.partner.value_minor)) }
                    td {
                        @match (p.partner.funding, p.left) {
                            (Funding::Prepaid, Some(left)) => {
                                (c.t_args(l, "console-partner-prepaid", &[
                                    ("left", i18n::number(left)),
                                    ("budget", i18n::number(p.partner.budget.unwrap_or(0))),
                                ]))
                            }
                            _ => { (c.t(l, "console-partner-postpaid")) }
                        }
                    }
                }
            }
        }
        h2 { (c.t(l, "console-partner-set")) }
        form method="post" action="/console/partners" #partner {
            (csrf_field(s))
            label { (c.t(l, "console-merchant"))
                select name="merchant" { @for m in &merchants { option value=(m.id) { (m.name) } } }
            }
            label { (c.t(l, "console-partner-value-field")) input type="text" name="value" inputmode="decimal" autocomplete="off"; }
            label { (c.t(l, "console-partner-funding"))
                select name="funding" {
                    option value="" { "—" }
                    option value="postpaid" { (c.t(l, "console-partner-postpaid")) }
                    option value="prepaid" { (c.t(l, "console-partner-prepaid-choice")) }
                }
            }
            label { (c.t(l, "console-partner-budget")) input type="text" name="budget" inputmode="numeric" autocomplete="off"; }
            label { (c.t(l, "console-partner-top-up")) input type="text" name="top_up" inputmode="numeric" autocomplete="off"; }
            button type="submit" { (c.t(l, "console-save")) }
        }
        h2 { (c.t(l, "console-settlement-title")) }
        form method="get" action="/console/partners" #period {
            label { (c.t(l, "console-settlement-period")) input type="month" name="period" value=(period); }
            button.secondary type="submit" { (c.t(l, "console-reports-show")) }
        }
        @match &statement {
            Ok(st) => { (statement_view(c, s, st, &money)) }
            Err(e) => { (notice(&e.to_string(), false)) }
        }
    };
    let title = c.t(l, "console-nav-partners");
    (status, layout(c, l, Some(s), &title, body)).into_response()
}

fn statement_view(
    c: &Console,
    s: &Signed,
    st: &Statement,
    money: &dyn Fn(i64) -> String,
) -> Markup {
    let l = s.locale;
    let name = |id: &str| {
        st.partners
            .iter()
            .find(|p| p.merchant_id == id)
            .map_or_else(|| id.to_string(), |p| p.name.clone())
    };
    html! {
        section.card #statement {
            p.muted {
                @match st.closed_at {
                    Some(at) => { (c.t_args(l, "console-settlement-closed", &[("date", i18n::local_date(at, c.loyalty.timezone(), l))])) }
                    None => { (c.t(l, "console-settlement-open")) }
                }
                " " a href=(format!("/console/partners/settlement.csv?period={}", st.period)) { "CSV" }
            }
            table #pairs {
                tr { th { (c.t(l, "console-settlement-issuer")) } th { (c.t(l, "console-settlement-redeemer")) } th { (c.t(l, "console-settlement-points")) } th { (c.t(l, "console-settlement-amount")) } }
                @for p in &st.pairs {
                    tr { td { (name(&p.issuer)) } td { (name(&p.redeemer)) } td.num { (i18n::number(p.points)) } td.num { (money(p.amount_minor)) } }
                }
            }
            table #positions {
                tr { th { (c.t(l, "console-merchant")) } th { (c.t(l, "console-settlement-owes")) } th { (c.t(l, "console-settlement-owed")) } th { (c.t(l, "console-settlement-net")) } th { (c.t(l, "console-settlement-breakage")) } }
                @for p in &st.partners {
                    tr {
                        td { (p.name) }
                        td.num { (money(p.owes_minor)) }
                        td.num { (money(p.owed_minor)) }
                        td.num { (money(p.net_minor)) }
                        td.num { (i18n::number(p.breakage_points)) " (" (money(p.breakage_minor)) ")" }
                    }
                }
            }
            @if st.closed_at.is_none() {
                form method="post" action="/console/partners/close" #close {
                    (csrf_field(s))
                    input type="hidden" name="period" value=(st.period);
                    button.secondary type="submit" { (c.t(l, "console-settlement-close")) }
                }
            }
        }
    }
}

pub async fn page(State(c): State<Console>, s: Signed, Query(q): Query<PeriodQuery>) -> Response {
    let period = period_or_last(&c, &q);
    partners_page(&c, &s, &period, StatusCode::OK, None).await
}

pub async fn set(State(c): State<Console>, Posted { s, form }: Posted<PartnerForm>) -> Response {
    let l = s.locale;
    let actor = Actor::Staff(s.staff.clone());
    let done = match form.input() {
        Ok(input) => {
            c.loyalty
                .staff_set_partner(&actor, &form.merchant, &input, now())
                .await
        }
        Err(e) => Err(e),
    };
    let period = period_or_last(&c, &PeriodQuery::default());
    match done {
        Ok(_) => Redirect::to("/console/partners").into_response(),
        Err(e) => match invalid_notice(&c, &s, &e) {
            Some(n) => {
                partners_page(&c, &s, &period, StatusCode::UNPROCESSABLE_ENTITY, Some(n)).await
            }
            None => Refused::from(e).render(&c, l),
        },
    }
}

/// The month to close, as posted.
#[derive(Deserialize, Default)]
pub struct CloseForm {
    #[serde(default)]
    period: String,
}

pub async fn close(State(c): State<Console>, Posted { s, form }: Posted<CloseForm>) -> Response {
    let l = s.locale;
    let actor = Actor::Staff(s.staff.clone());
    match c
        .loyalty
        .staff_close_settlement(&actor, &form.period, now())
        .await
    {
        Ok(st) => Redirect::to(&format!("/console/partners?period={}", st.period)).into_response(),
        Err(e) => match invalid_notice(&c, &s, &e) {
            Some(n) => {
                partners_page(
                    &c,
                    &s,
                    &form.period,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Some(n),
                )
                .await
            }
            None => Refused::from(e).render(&c, l),
        },
    }
}

pub async fn csv(State(c): State<Console>, s: Signed, Query(q): Query<PeriodQuery>) -> Response {
    let l = s.locale;
    if let Err(e) = Actor::Staff(s.staff.clone()).require(Permission::Settings) {
        return Refused::from(e).render(&c, l);
    }
    let period = period_or_last(&c, &q);
    match c.loyalty.settlement(&period).await {
        Ok(st) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"settlement-{}.csv\"", st.period),
                ),
            ],
            statement_csv(&st),
        )
            .into_response(),
        Err(e) => Refused::from(e).render(&c, l),
    }
}
