//! Paying with points at the counter: the cashier asks for the bill's amount in
//! points (or types the customer's pay code), the screen waits for the
//! customer's answer in their chat (live, with a page that also works without
//! script), then the cashier completes or cancels.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::page::{csrf_field, layout, notice};
use super::{Console, NoFields, Posted, Refused, Signed, opt};
use crate::domain::model::PointPayment;
use crate::domain::payment::{PaySource, PaymentStatus};
use crate::domain::time::now;
use crate::i18n;
use crate::service::ServiceError;
use crate::service::staff::Actor;

#[derive(Deserialize)]
pub struct PayForm {
    #[serde(default)]
    member: String,
    #[serde(default)]
    merchant: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    pay_code: String,
    /// `points` (the default) or `credit`.
    #[serde(default)]
    source: Option<PaySource>,
    #[serde(default)]
    nonce: String,
}

/// Asks to take points for the bill; then the payment's page.
pub async fn reserve(State(c): State<Console>, Posted { s, form: f }: Posted<PayForm>) -> Response {
    let l = s.locale;
    let actor = Actor::Staff(s.staff.clone());
    let result = c
        .loyalty
        .counter_reserve(
            &actor,
            (&f.merchant, &f.member),
            (f.source.unwrap_or_default(), &f.amount, opt(&f.pay_code)),
            &f.nonce,
            now(),
        )
        .await;
    let reason = match result {
        Ok(p) => return Redirect::to(&format!("/console/counter/pay/{}", p.id)).into_response(),
        Err(ServiceError::Refused(r)) => r.to_string(),
        Err(ServiceError::Invalid { message, .. }) => message,
        Err(e) => return Refused::from(e).render(&c, l),
    };
    let text = c.t_args(l, "console-pay-refused", &[("reason", reason)]);
    let refused = notice(&text, false);
    super::counter::answer_for(&c, &s, &f.member, StatusCode::UNPROCESSABLE_ENTITY, refused).await
}

fn status_text(c: &Console, s: &Signed, p: &PointPayment) -> String {
    let l = s.locale;
    let args = [
        ("points", i18n::number(p.points.value())),
        ("amount", i18n::money(p.amount)),
        ("time", i18n::local_time(p.expires_at, c.loyalty.timezone())),
    ];
    let what = match p.source {
        PaySource::Points => "pay",
        PaySource::Credit => "credit",
    };
    c.t_args(l, &format!("console-{what}-{}", p.status.as_str()), &args)
}

/// A payment's page: what it stands at, and what the cashier can do now.
pub async fn show(State(c): State<Console>, s: Signed, Path(id): Path<String>) -> Response {
    let l = s.locale;
    let actor = Actor::Staff(s.staff.clone());
    let p = match c.loyalty.counter_payment(&actor, &id).await {
        Ok(p) => p,
        Err(e) => return Refused::from(e).render(&c, l),
    };
    let ok = matches!(p.status, PaymentStatus::Confirmed | PaymentStatus::Captured);
    let body = html! {
        section.card #payment data-payment-url=(format!("/console/counter/pay/{}/status", p.id)) data-status=(p.status.as_str()) {
            div.muted { (c.t_args(l, "console-member-code", &[("code", p.member_code.clone())])) }
            div.balance { (i18n::money(p.amount)) }
            (notice(&status_text(&c, &s, &p), ok))
        }
        @match p.status {
            PaymentStatus::AwaitingConfirmation => {
                p { a href=(format!("/console/counter/pay/{}", p.id)) { (c.t(l, "console-pay-check")) } }
                (settle_form(&s, &p.id, false, &c.t(l, "console-pay-cancel")))
            }
            PaymentStatus::Confirmed => {
                (settle_form(&s, &p.id, true, &c.t(l, "console-pay-complete")))
                (settle_form(&s, &p.id, false, &c.t(l, "console-pay-cancel")))
            }
            _ => { p { a href=(format!("/console?q={}", p.member_code)) { (c.t(l, "console-nav-counter")) } } }
        }
        script src="/console/console.js" defer {}
    };
    let title = c.t(l, "console-pay-title");
    layout(&c, l, Some(&s), &title, body).into_response()
}

fn settle_form(s: &Signed, id: &str, capture: bool, label: &str) -> maud::Markup {
    let action = if capture { "capture" } else { "release" };
    html! {
        form method="post" action=(format!("/console/counter/pay/{id}/{action}")) #(action) {
            (csrf_field(s))
            @if capture { button type="submit" { (label) } } @else { button.secondary type="submit" { (label) } }
        }
    }
}

/// What the page polls while it waits for the customer.
pub async fn status(State(c): State<Console>, s: Signed, Path(id): Path<String>) -> Response {
    let actor = Actor::Staff(s.staff.clone());
    match c.loyalty.counter_payment(&actor, &id).await {
        Ok(p) => Json(serde_json::json!({ "status": p.status.as_str() })).into_response(),
        Err(e) => Refused::from(e).render(&c, s.locale),
    }
}

async fn settle(c: Console, s: Signed, id: String, capture: bool) -> Response {
    let actor = Actor::Staff(s.staff.clone());
    match c.loyalty.counter_settle(&actor, &id, capture, now()).await {
        Ok(_) => Redirect::to(&format!("/console/counter/pay/{id}")).into_response(),
        Err(ServiceError::Refused(r)) => {
            let l = s.locale;
            let text = c.t_args(l, "console-pay-refused", &[("reason", r.to_string())]);
            let body = notice(&text, false);
            let title = c.t(l, "console-pay-title");
            (StatusCode::CONFLICT, layout(&c, l, Some(&s), &title, body)).into_response()
        }
        Err(e) => Refused::from(e).render(&c, s.locale),
    }
}

pub async fn capture(
    State(c): State<Console>,
    Path(id): Path<String>,
    Posted { s, .. }: Posted<NoFields>,
) -> Response {
    settle(c, s, id, true).await
}

pub async fn release(
    State(c): State<Console>,
    Path(id): Path<String>,
    Posted { s, .. }: Posted<NoFields>,
) -> Response {
    settle(c, s, id, false).await
}
