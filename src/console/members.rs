//! The back office's members: search by code, phone or name; a member's file
//! (balance, lots and their expiry, vouchers, history); manual adjustments
//! with a required reason.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::page::{csrf_field, layout, notice};
use super::{Console, Posted, Refused, Signed};
use crate::domain::phone;
use crate::domain::staff::Permission;
use crate::domain::time::now;
use crate::i18n;
use crate::service::ServiceError;
use crate::service::staff::Actor;

#[derive(Deserialize, Default)]
pub struct Search {
    #[serde(default)]
    q: String,
}

pub async fn search(State(c): State<Console>, s: Signed, Query(q): Query<Search>) -> Response {
    let l = s.locale;
    let actor = Actor::Staff(s.staff.clone());
    let found = match c.loyalty.search_members(&actor, &q.q).await {
        Ok(found) => found,
        Err(e) => return Refused::from(e).render(&c, l),
    };
    let body = html! {
        form method="get" action="/console/members" #search .row {
            input type="search" name="q" value=(q.q) placeholder=(c.t(l, "console-members-search")) autofocus;
            button type="submit" { (c.t(l, "console-find-button")) }
        }
        @if !q.q.trim().is_empty() && found.is_empty() {
            (notice(&c.t(l, "console-member-not-found"), false))
        }
        table #members {
            @for m in &found {
                tr {
                    td { a href=(format!("/console/members/{}", m.code)) { (m.code) } }
                    td { (m.name.as_deref().unwrap_or("")) }
                    td { (m.phone.as_deref().map(phone::display).unwrap_or_default()) }
                    td { (c.t_args(l, "console-member-balance", &[("points", i18n::number(m.balance.value()))])) }
                }
            }
        }
    };
    let title = c.t(l, "console-nav-members");
    layout(&c, l, Some(&s), &title, body).into_response()
}

async fn file_page(
    c: &Console,
    s: &Signed,
    code: &str,
    status: StatusCode,
    result: Option<Markup>,
) -> Response {
    let l = s.locale;
    let tz = c.loyalty.timezone();
    let actor = Actor::Staff(s.staff.clone());
    let f = match c.loyalty.member_file(&actor, code, now()).await {
        Ok(f) => f,
        Err(ServiceError::NotFound(_)) => {
            let body = notice(&c.t(l, "console-member-not-found"), false);
            let title = c.t(l, "console-nav-members");
            return (StatusCode::NOT_FOUND, layout(c, l, Some(s), &title, body)).into_response();
        }
        Err(e) => return Refused::from(e).render(c, l),
    };
    let date = |t: chrono::DateTime<chrono::Utc>| i18n::local_date(t, tz, l);
    let m = &f.member;
    let body = html! {
        @if let Some(r) = result { (r) }
        section.card {
            div.muted { (c.t_args(l, "console-member-code", &[("code", m.code.clone())])) }
            @if let Some(name) = &m.name { div { (name) } }
            @if let Some(p) = &m.phone { div.muted { (phone::display(p)) } }
            div.balance { (c.t_args(l, "console-member-balance", &[("points", i18n::number(m.balance.value()))])) }
            @if f.credit.minor() > 0 {
                div.balance { (c.t_args(l, "console-member-credit", &[("amount", i18n::money(f.credit))])) }
            }
            @if let Some(seg) = &f.segment {
                div.muted #segment {
                    (c.t_args(l, "console-member-segment", &[
                        ("class", seg.class.as_str().to_string()),
                        ("segment", c.t(l, &format!("console-segment-{}", seg.segment.as_str()))),
                        ("scores", format!("R{} F{} M{}", seg.rfm.r, seg.rfm.f, seg.rfm.m)),
                    ]))
                }
            }
        }
        h2 { (c.t(l, "console-lots")) }
        table #lots {
            @for lot in &f.lots {
                tr {
                    td { (i18n::number(lot.remaining.value())) }
                    td { (c.t_args(l, "console-lot-expires", &[("date", date(lot.expires_at))])) }
                }
            }
        }
        h2 { (c.t(l, "console-vouchers")) }
        table #vouchers {
            @for v in &f.vouchers {
                tr { td { (v.code) } td { (v.status.as_str()) } td { (date(v.issued_at)) } }
            }
        }
        h2 { (c.t(l, "console-history")) }
        table #history {
            @for e in &f.entries {
                tr {
                    td { (date(e.created_at)) }
                    td { (e.kind.as_str()) }
                    td { (format!("{:+}", e.points.value())) }
                    td { (i18n::number(e.balance_after.value())) }
                    td.muted { (e.reference.as_deref().unwrap_or("")) }
                }
            }
        }
        @if s.staff.may(Permission::PersonalData) && m.erased_at.is_none() {
            section.card #personal-data {
                h2 { (c.t(l, "console-privacy-title")) }
                p.muted { (c.t(l, "console-member-data-explain")) }
                form method="post" action=(format!("/console/members/{}/export", m.code)) #export {
                    (csrf_field(s))
                    button.secondary type="submit" { (c.t(l, "console-export-button")) }
                }
                form method="post" action=(format!("/console/members/{}/erase", m.code)) #erase {
                    (csrf_field(s))
                    label { (c.t(l, "console-erase-reason")) input type="text" name="reason" required maxlength="200"; }
                    label.check { input type="checkbox" name="confirm" value="yes" required; " " (c.t(l, "console-erase-confirm")) }
                    button.danger type="submit" { (c.t(l, "console-erase-button")) }
                }
            }
        }
        @if m.erased_at.is_some() {
            (notice(&c.t(l, "console-member-erased"), false))
        }
        h2 { (c.t(l, "console-adjust-title")) }
        form method="post" action=(format!("/console/members/{}/adjust", m.code)) #adjust {
            (csrf_field(s))
            label { (c.t(l, "console-adjust-points")) input type="number" name="points" step="1" required; }
            label { (c.t(l, "console-adjust-reason")) input type="text" name="reason" required maxlength="200"; }
            button type="submit" { (c.t(l, "console-adjust-button")) }
        }
    };
    let title = c.t(l, "console-nav-members");
    (status, layout(c, l, Some(s), &title, body)).into_response()
}

pub async fn file(State(c): State<Console>, s: Signed, Path(code): Path<String>) -> Response {
    file_page(&c, &s, &code, StatusCode::OK, None).await
}

#[derive(Deserialize)]
pub struct AdjustForm {
    #[serde(default)]
    points: String,
    #[serde(default)]
    reason: String,
}

pub async fn adjust(
    State(c): State<Console>,
    Path(code): Path<String>,
    Posted { s, form: f }: Posted<AdjustForm>,
) -> Response {
    let l = s.locale;
    let Ok(delta) = f.points.trim().trim_start_matches('+').parse::<i64>() else {
        let result = notice(&c.t(l, "console-adjust-invalid"), false);
        return file_page(
            &c,
            &s,
            &code,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(result),
        )
        .await;
    };
    let actor = Actor::Staff(s.staff.clone());
    let (status, result) = match c
        .loyalty
        .back_office_adjust(&actor, (&code, delta), &f.reason, now())
        .await
    {
        Ok(e) => {
            let text = c.t_args(
                l,
                "console-adjusted",
                &[("balance", i18n::number(e.balance_after.value()))],
            );
            (StatusCode::OK, notice(&text, true))
        }
        Err(ServiceError::Invalid { .. }) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            notice(&c.t(l, "console-adjust-invalid"), false),
        ),
        Err(ServiceError::Refused(_)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            notice(&c.t(l, "console-adjust-below-zero"), false),
        ),
        Err(e) => return Refused::from(e).render(&c, l),
    };
    file_page(&c, &s, &code, status, Some(result)).await
}

/// The owner downloads a member's data (audit-logged).
pub async fn export(
    State(c): State<Console>,
    Path(code): Path<String>,
    Posted { s, form: _ }: Posted<super::NoFields>,
) -> Response {
    let actor = Actor::Staff(s.staff.clone());
    match c.loyalty.staff_export(&actor, &code, now()).await {
        Ok(bytes) => (
            [
                (
                    axum::http::header::CONTENT_TYPE,
                    "application/json; charset=utf-8".to_string(),
                ),
                (axum::http::header::CACHE_CONTROL, "no-store".to_string()),
                (
                    axum::http::header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"taem-member-{code}.json\""),
                ),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => Refused::from(e).render(&c, s.locale),
    }
}

#[derive(Deserialize)]
pub struct EraseForm {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    confirm: String,
}

/// The owner erases a member, with a reason and a ticked confirmation.
pub async fn erase(
    State(c): State<Console>,
    Path(code): Path<String>,
    Posted { s, form: f }: Posted<EraseForm>,
) -> Response {
    let l = s.locale;
    if f.confirm != "yes" {
        let result = notice(&c.t(l, "console-erase-unconfirmed"), false);
        return file_page(
            &c,
            &s,
            &code,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(result),
        )
        .await;
    }
    let actor = Actor::Staff(s.staff.clone());
    match c.loyalty.staff_erase(&actor, &code, &f.reason, now()).await {
        Ok(e) => {
            let text = c.t_args(l, "console-erased", &[("code", e.stub_code.clone())]);
            file_page(
                &c,
                &s,
                &e.stub_code,
                StatusCode::OK,
                Some(notice(&text, true)),
            )
            .await
        }
        Err(ServiceError::Invalid { .. }) => {
            let result = notice(&c.t(l, "console-erase-unconfirmed"), false);
            file_page(
                &c,
                &s,
                &code,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(result),
            )
            .await
        }
        Err(e) => Refused::from(e).render(&c, l),
    }
}
