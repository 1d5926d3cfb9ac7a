//! The counter screen: find a member (code or phone), record a sale.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use rand::RngExt;
use serde::Deserialize;

use super::page::{csrf_field, layout, notice};
use super::{Console, Refused, Signed};
use crate::domain::model::{Member, Merchant, Recorded};
use crate::domain::time::now;
use crate::i18n;
use crate::service::ServiceError;
use crate::service::counter::CounterSale;
use crate::service::staff::Actor;

#[derive(Deserialize, Default)]
pub struct Find {
    #[serde(default)]
    q: String,
}

/// The member found, with the sale form for them.
fn member_panel(c: &Console, s: &Signed, m: &Member, merchants: &[Merchant]) -> Markup {
    let l = s.locale;
    let nonce = hex::encode(rand::rng().random::<[u8; 12]>());
    html! {
        section.card #member {
            div.muted { (c.t_args(l, "console-member-code", &[("code", m.code.clone())])) }
            @if let Some(name) = &m.name { div { (name) } }
            div.balance { (c.t_args(l, "console-member-balance", &[("points", i18n::number(m.balance.value()))])) }
        }
        h2 { (c.t(l, "console-sale-title")) }
        form method="post" action="/console/counter/sale" #sale {
            (csrf_field(s))
            input type="hidden" name="member" value=(m.code);
            input type="hidden" name="nonce" value=(nonce);
            @if merchants.len() > 1 {
                label { (c.t(l, "console-merchant"))
                    select name="merchant" required {
                        @for mer in merchants { option value=(mer.id) { (mer.name) } }
                    }
                }
            } @else if let Some(mer) = merchants.first() {
                input type="hidden" name="merchant" value=(mer.id);
            }
            label { (c.t(l, "console-sale-amount")) input type="text" name="amount" inputmode="decimal" autocomplete="off" required; }
            label { (c.t(l, "console-sale-receipt")) input type="text" name="receipt" autocomplete="off" maxlength="128"; }
            button type="submit" { (c.t(l, "console-sale-button")) }
        }
    }
}

fn find_form(c: &Console, s: &Signed, q: &str) -> Markup {
    let l = s.locale;
    html! {
        form method="get" action="/console" #find {
            label { (c.t(l, "console-find-label"))
                div.row {
                    input type="search" name="q" value=(q) autocomplete="off" autofocus required;
                    button type="submit" { (c.t(l, "console-find-button")) }
                }
            }
        }
    }
}

async fn counter_page(c: &Console, s: &Signed, q: &str, result: Option<Markup>) -> Response {
    let l = s.locale;
    let actor = Actor::Staff(s.staff.clone());
    let title = c.t(l, "console-counter-title");
    let mut status = StatusCode::OK;
    let found = if q.trim().is_empty() {
        html! {}
    } else {
        match c.loyalty.find_member(&actor, q).await {
            Ok(m) => match c.loyalty.counter_merchants(&actor).await {
                Ok(merchants) => member_panel(c, s, &m, &merchants),
                Err(e) => return Refused::from(e).render(c, l),
            },
            Err(ServiceError::NotFound(_)) => {
                status = StatusCode::NOT_FOUND;
                notice(&c.t(l, "console-member-not-found"), false)
            }
            Err(e) => return Refused::from(e).render(c, l),
        }
    };
    let body = html! {
        @if let Some(r) = result { (r) }
        (find_form(c, s, q))
        (found)
    };
    (status, layout(c, l, Some(s), &title, body)).into_response()
}

pub async fn home(State(c): State<Console>, s: Signed, Query(f): Query<Find>) -> Response {
    if let Err(e) = Actor::Staff(s.staff.clone()).require(crate::domain::staff::Permission::Counter)
    {
        return Refused::from(e).render(&c, s.locale);
    }
    counter_page(&c, &s, &f.q, None).await
}

#[derive(Deserialize)]
pub struct SaleForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    member: String,
    #[serde(default)]
    merchant: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    receipt: String,
    #[serde(default)]
    nonce: String,
}

pub async fn sale(State(c): State<Console>, s: Signed, Form(f): Form<SaleForm>) -> Response {
    let l = s.locale;
    if let Err(r) = s.check_csrf(&f.csrf) {
        return r.render(&c, l);
    }
    let receipt_id = match f.receipt.trim() {
        "" => format!("counter-{}", f.nonce.trim()),
        typed => typed.to_string(),
    };
    let sale = CounterSale {
        merchant_id: f.merchant.clone(),
        member_code: f.member.clone(),
        amount: f.amount.clone(),
        receipt_id,
    };
    let actor = Actor::Staff(s.staff.clone());
    let (status, result) = match c.loyalty.counter_sale(&actor, sale, now()).await {
        Ok(Recorded::New(r)) => (
            StatusCode::CREATED,
            notice(
                &c.t_args(
                    l,
                    "console-sale-recorded",
                    &[
                        ("points", i18n::number(r.points.value())),
                        ("balance", i18n::number(r.balance.map_or(0, |b| b.value()))),
                    ],
                ),
                true,
            ),
        ),
        Ok(Recorded::Replay(r)) => (
            StatusCode::OK,
            notice(
                &c.t_args(
                    l,
                    "console-sale-replayed",
                    &[
                        ("points", i18n::number(r.points.value())),
                        ("balance", i18n::number(r.balance.map_or(0, |b| b.value()))),
                    ],
                ),
                true,
            ),
        ),
        Err(ServiceError::Invalid { message, .. }) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            notice(
                &c.t_args(l, "console-sale-invalid", &[("message", message)]),
                false,
            ),
        ),
        Err(e) => return Refused::from(e).render(&c, l),
    };
    let mut page = counter_page(&c, &s, &f.member, Some(result)).await;
    if page.status() == StatusCode::OK {
        *page.status_mut() = status;
    }
    page
}
