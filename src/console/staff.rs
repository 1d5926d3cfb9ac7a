//! The owner's pages: staff (invite, change role or shop, disable) and the
//! audit log.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::page::{csrf_field, layout, notice};
use super::{Console, Posted, Refused, Signed};
use crate::domain::model::Merchant;
use crate::domain::staff::LinkPurpose;
use crate::domain::staff::{AuditFilter, NewStaff, Role, Staff, StaffChange};
use crate::domain::time::now;
use crate::service::ServiceError;
use crate::service::staff::Actor;

fn role_name(c: &Console, s: &Signed, r: Role) -> String {
    c.t(s.locale, &format!("console-role-{}", r.as_str()))
}

fn shop_select(c: &Console, s: &Signed, merchants: &[Merchant], current: Option<&str>) -> Markup {
    html! {
        select name="merchant" {
            option value="" selected[current.is_none()] { (c.t(s.locale, "console-all-shops")) }
            @for m in merchants {
                option value=(m.id) selected[current == Some(m.id.as_str())] { (m.name) }
            }
        }
    }
}

fn role_select(c: &Console, s: &Signed, current: Role) -> Markup {
    html! {
        select name="role" {
            @for r in [Role::Cashier, Role::Manager, Role::Owner] {
                option value=(r.as_str()) selected[r == current] { (role_name(c, s, r)) }
            }
        }
    }
}

fn staff_row(c: &Console, s: &Signed, st: &Staff, merchants: &[Merchant]) -> Markup {
    let l = s.locale;
    let state = match (st.active, st.disabled_at) {
        (_, Some(_)) => "console-staff-disabled",
        (true, None) => "console-staff-active",
        (false, None) => "console-staff-invited",
    };
    html! {
        tr {
            td { (st.email) br; span.muted { (c.t(l, state)) } }
            td {
                form method="post" action=(format!("/console/staff/{}", st.id)) .inline {
                    (csrf_field(s))
                    (role_select(c, s, st.role))
                    (shop_select(c, s, merchants, st.merchant_id.as_deref()))
                    label.check { input type="checkbox" name="disabled" value="yes" checked[st.disabled_at.is_some()]; (c.t(l, "console-staff-disable")) }
                    button type="submit" { (c.t(l, "console-save")) }
                }
                form method="post" action=(format!("/console/staff/{}/link", st.id)) .inline {
                    (csrf_field(s))
                    button.ghost type="submit" {
                        (c.t(l, if st.active { "console-staff-reset-link" } else { "console-staff-invite-again" }))
                    }
                }
            }
        }
    }
}

async fn staff_page(
    c: &Console,
    s: &Signed,
    status: StatusCode,
    result: Option<Markup>,
) -> Response {
    let l = s.locale;
    let actor = Actor::Staff(s.staff.clone());
    let (list, merchants) = match (
        c.loyalty.staff_list(&actor).await,
        c.loyalty.merchants().await,
    ) {
        (Ok(list), Ok(m)) => (list, m),
        (Err(e), _) | (_, Err(e)) => return Refused::from(e).render(c, l),
    };
    let body = html! {
        @if let Some(r) = result { (r) }
        table #staff { @for st in &list { (staff_row(c, s, st, &merchants)) } }
        h2 { (c.t(l, "console-staff-invite")) }
        form method="post" action="/console/staff" #invite {
            (csrf_field(s))
            label { (c.t(l, "console-email")) input type="email" name="email" required; }
            label { (c.t(l, "console-staff-name")) input type="text" name="name"; }
            label { (c.t(l, "console-staff-role")) (role_select(c, s, Role::Cashier)) }
            label { (c.t(l, "console-merchant")) (shop_select(c, s, &merchants, None)) }
            button type="submit" { (c.t(l, "console-staff-invite-button")) }
        }
    };
    let title = c.t(l, "console-nav-staff");
    (status, layout(c, l, Some(s), &title, body)).into_response()
}

pub async fn list(State(c): State<Console>, s: Signed) -> Response {
    staff_page(&c, &s, StatusCode::OK, None).await
}

#[derive(Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    merchant: String,
}

/// The staff page with one thing said on top (`ok`: a success).
async fn said(c: &Console, s: &Signed, status: StatusCode, (id, ok): (&str, bool)) -> Response {
    staff_page(c, s, status, Some(notice(&c.t(s.locale, id), ok))).await
}

fn shop(merchant: &str) -> Option<String> {
    Some(merchant.trim().to_string()).filter(|m| !m.is_empty())
}

pub async fn invite(
    State(c): State<Console>,
    Posted { s, form: f }: Posted<InviteForm>,
) -> Response {
    let l = s.locale;
    let Some(role) = Role::parse(&f.role) else {
        return said(
            &c,
            &s,
            StatusCode::UNPROCESSABLE_ENTITY,
            ("console-error", false),
        )
        .await;
    };
    let new = NewStaff {
        email: f.email,
        name: f.name.trim().to_string(),
        role,
        merchant_id: shop(&f.merchant),
        locale: Some(l.as_str().to_string()),
    };
    let actor = Actor::Staff(s.staff.clone());
    match c.loyalty.add_staff(&actor, new, now()).await {
        Ok((staff, token)) => {
            let link = format!("{}/console/invite/{token}", c.public_base());
            let text = c.t_args(
                l,
                "console-staff-invited-link",
                &[("email", staff.email.clone())],
            );
            let result = html! { p.ok role="status" { (text) } p { code.link { (link) } } };
            staff_page(&c, &s, StatusCode::CREATED, Some(result)).await
        }
        Err(ServiceError::Invalid { .. }) => {
            said(
                &c,
                &s,
                StatusCode::UNPROCESSABLE_ENTITY,
                ("console-staff-bad-email", false),
            )
            .await
        }
        Err(ServiceError::Duplicate(_)) => {
            said(
                &c,
                &s,
                StatusCode::CONFLICT,
                ("console-staff-exists", false),
            )
            .await
        }
        Err(e) => Refused::from(e).render(&c, l),
    }
}

/// A new one-time link for a staff member, shown once on the answer.
pub async fn new_link(
    State(c): State<Console>,
    Path(id): Path<i64>,
    Posted { s, .. }: Posted<super::NoFields>,
) -> Response {
    let l = s.locale;
    let actor = Actor::Staff(s.staff.clone());
    match c.loyalty.staff_new_link(&actor, id, now()).await {
        Ok((staff, purpose, token)) => {
            let path = match purpose {
                LinkPurpose::Invite => "invite",
                LinkPurpose::Reset => "reset",
            };
            let link = format!("{}/console/{path}/{token}", c.public_base());
            let text = c.t_args(
                l,
                "console-staff-link-made",
                &[("email", staff.email.clone())],
            );
            let result = html! { p.ok role="status" { (text) } p { code.link { (link) } } };
            staff_page(&c, &s, StatusCode::OK, Some(result)).await
        }
        Err(e) => Refused::from(e).render(&c, l),
    }
}

#[derive(Deserialize)]
pub struct ChangeForm {
    #[serde(default)]
    role: String,
    #[serde(default)]
    merchant: String,
    #[serde(default)]
    disabled: Option<String>,
}

pub async fn change(
    State(c): State<Console>,
    Path(id): Path<i64>,
    Posted { s, form: f }: Posted<ChangeForm>,
) -> Response {
    let l = s.locale;
    let Some(role) = Role::parse(&f.role) else {
        return said(
            &c,
            &s,
            StatusCode::UNPROCESSABLE_ENTITY,
            ("console-error", false),
        )
        .await;
    };
    let change = StaffChange {
        role,
        merchant_id: shop(&f.merchant),
        disabled: f.disabled.as_deref() == Some("yes"),
    };
    let actor = Actor::Staff(s.staff.clone());
    match c.loyalty.update_staff(&actor, id, change, now()).await {
        Ok(_) => said(&c, &s, StatusCode::OK, ("console-saved", true)).await,
        Err(ServiceError::Invalid { .. }) => {
            said(
                &c,
                &s,
                StatusCode::UNPROCESSABLE_ENTITY,
                ("console-staff-not-yourself", false),
            )
            .await
        }
        Err(e) => Refused::from(e).render(&c, l),
    }
}

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    #[serde(default)]
    action: String,
}

pub async fn audit(State(c): State<Console>, s: Signed, Query(q): Query<AuditQuery>) -> Response {
    let l = s.locale;
    let actor = Actor::Staff(s.staff.clone());
    let filter = AuditFilter {
        action: Some(q.action.trim().to_string()).filter(|a| !a.is_empty()),
        limit: 200,
        ..Default::default()
    };
    let entries = match c.loyalty.audit_log(&actor, &filter).await {
        Ok(e) => e,
        Err(e) => return Refused::from(e).render(&c, l),
    };
    let tz = c.loyalty.timezone();
    let body = html! {
        form method="get" action="/console/audit" .row {
            input type="search" name="action" value=(q.action) placeholder=(c.t(l, "console-audit-action"));
            button type="submit" { (c.t(l, "console-find-button")) }
        }
        table #audit {
            @for e in &entries {
                tr {
                    td { (e.at.with_timezone(&tz).format("%Y-%m-%d %H:%M")) }
                    td { (e.actor) }
                    td { (e.action) br; span.muted { (e.subject.as_deref().unwrap_or("")) } }
                    td.muted { (e.after.as_deref().unwrap_or("")) }
                }
            }
        }
    };
    let title = c.t(l, "console-nav-audit");
    layout(&c, l, Some(&s), &title, body).into_response()
}
