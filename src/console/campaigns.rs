//! The back office's campaigns: every campaign with its status and results, a
//! form to add one, ending one early, announcing one to members with the
//! sending's progress shown live, and trying a purchase against the rules as
//! they are (a simulation: nothing is recorded).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::audience::{self, AudienceForm};
use super::page::{breakdown, csrf_field, layout, notice};
use super::{Console, NoFields, Posted, Refused, Signed, invalid_notice, opt};
use crate::domain::Locale;
use crate::domain::campaign::Campaign;
use crate::domain::quota::QuotaRefusal;
use crate::domain::staff::Permission;
use crate::domain::time::now;
use crate::i18n;
use crate::service::campaigns::{CampaignInput, CampaignReport, parse_time};
use crate::service::staff::Actor;
use crate::service::{PurchaseRequest, ServiceError};

fn name(l: Locale, c: &Campaign) -> &str {
    match l {
        Locale::Th => &c.name_th,
        Locale::En => &c.name_en,
    }
}

/// The form that tries a purchase against the rules as they are.
fn simulate_form(c: &Console, s: &Signed, merchants: &[crate::domain::model::Merchant]) -> Markup {
    let l = s.locale;
    html! {
        details #simulate-box {
            summary { (c.t(l, "console-simulate-title")) }
            form method="post" action="/console/campaigns/simulate" #simulate {
                (csrf_field(s))
                label { (c.t(l, "console-merchant"))
                    select name="merchant" {
                        @for m in merchants { option value=(m.id) { (m.name) } }
                    }
                }
                label { (c.t(l, "console-sale-amount")) input type="text" name="amount" inputmode="decimal" required; }
                label { (c.t(l, "console-simulate-member")) input type="text" name="member" autocomplete="off"; }
                label { (c.t(l, "console-simulate-at")) input type="datetime-local" name="at"; }
                button type="submit" { (c.t(l, "console-simulate-button")) }
            }
        }
    }
}

async fn list_page(
    c: &Console,
    s: &Signed,
    status: StatusCode,
    result: Option<Markup>,
) -> Response {
    let l = s.locale;
    let actor = Actor::Staff(s.staff.clone());
    let tz = c.loyalty.timezone();
    let (reports, merchants) = match (
        c.loyalty.back_office_campaigns(&actor, now()).await,
        c.loyalty.back_office_merchants(&actor).await,
    ) {
        (Ok(r), Ok(m)) => (r, m),
        (Err(e), _) | (_, Err(e)) => return Refused::from(e).render(c, l),
    };
    let body = html! {
        @if let Some(r) = result { (r) }
        p { a.button href="/console/campaigns/new" { (c.t(l, "console-campaign-add")) } }
        (simulate_form(c, s, &merchants))
        table #campaigns {
            @for r in &reports {
                tr {
                    td {
                        a href=(format!("/console/campaigns/{}", r.campaign.id)) { (name(l, &r.campaign)) }
                        br;
                        span.muted {
                            (c.t(l, &format!("console-campaign-{}", r.status)))
                            " · "
                            (i18n::local_date(r.campaign.window.starts_at, tz, l))
                            " – "
                            (i18n::local_date(r.campaign.window.ends_at - chrono::Duration::seconds(1), tz, l))
                        }
                    }
                    td.num { (c.t_args(l, "console-campaign-given", &[("points", i18n::number(r.results.points))])) }
                }
            }
        }
    };
    let title = c.t(l, "console-nav-campaigns");
    (status, layout(c, l, Some(s), &title, body)).into_response()
}

pub async fn list(State(c): State<Console>, s: Signed) -> Response {
    list_page(&c, &s, StatusCode::OK, None).await
}

/// One campaign: its rule, results, the announcement's progress and the
/// buttons that end or announce it.
async fn campaign_page(c: &Console, s: &Signed, id: i64, result: Option<Markup>) -> Response {
    let l = s.locale;
    let actor = Actor::Staff(s.staff.clone());
    let report: CampaignReport = match c.loyalty.back_office_campaign(&actor, id, now()).await {
        Ok(r) => r,
        Err(ServiceError::NotFound(_)) => return not_found(c, s),
        Err(e) => return Refused::from(e).render(c, l),
    };
    let progress = match c.loyalty.staff_broadcast_status(&actor, id).await {
        Ok(p) => p,
        Err(e) => return Refused::from(e).render(c, l),
    };
    let line_pause = match c.loyalty.line_pause(now()).await {
        Ok(p) => p,
        Err(e) => return Refused::from(e).render(c, l),
    };
    let tiers = match c.loyalty.program().await {
        Ok(p) => p.tiers,
        Err(e) => return Refused::from(e).render(c, l),
    };
    let tz = c.loyalty.timezone();
    let camp = &report.campaign;
    // Who the announcement would reach, counted before it is sent.
    let reach = match report.status {
        "ended" => None,
        _ => match c.loyalty.audience_reach(&camp.audience, now()).await {
            Ok(r) => Some(r),
            Err(e) => return Refused::from(e).render(c, l),
        },
    };
    let r = &report.results;
    let when = |t| i18n::local_date(t, tz, l);
    let body = html! {
        @if let Some(r) = result { (r) }
        section.card {
            div.muted { (c.t(l, &format!("console-campaign-{}", report.status))) }
            div { (when(camp.window.starts_at)) " – " (when(camp.window.ends_at - chrono::Duration::seconds(1))) }
            div.muted { (match l { Locale::Th => &camp.text_th, Locale::En => &camp.text_en }) }
            div #audience { (c.t(l, "console-audience-for")) " " (audience::describe(c, l, &tiers, &camp.audience)) }
        }
        table #results {
            tr { td { (c.t(l, "console-campaign-points")) } td.num { (i18n::number(r.points)) } }
            @if let Some(b) = camp.budget {
                tr { td { (c.t(l, "console-campaign-budget")) } td.num { (i18n::number(b)) } }
            }
            tr { td { (c.t(l, "console-campaign-purchases")) } td.num { (i18n::number(r.purchases)) } }
            tr { td { (c.t(l, "console-campaign-members")) } td.num { (i18n::number(r.members)) } }
        }
        h2 { (c.t(l, "console-broadcast-title")) }
        @if let Some(p) = &line_pause {
            (notice(&c.t_args(l, "console-line-paused", &[
                ("until", i18n::local_date(p.until, tz, l)),
                ("held", i18n::number(progress.held)),
            ]), false))
        }
        div #progress data-progress-url=(format!("/console/campaigns/{id}/progress")) {
            progress max=(progress.total().max(1)) value=(progress.total() - progress.queued) {}
            div.muted {
                span data-field="sent" { (progress.sent) } " " (c.t(l, "console-broadcast-sent")) " · "
                span data-field="queued" { (progress.queued) } " " (c.t(l, "console-broadcast-queued")) " · "
                span data-field="failed" { (progress.failed + progress.unreachable) } " " (c.t(l, "console-broadcast-failed")) " · "
                span data-field="skipped" { (progress.skipped) } " " (c.t(l, "console-broadcast-skipped"))
            }
        }
        @if let Some(r) = reach {
            p #reach { (audience::reach(c, l, camp.audience.is_everyone(), &r)) }
        }
        @if report.status != "ended" {
            form method="post" action=(format!("/console/campaigns/{id}/broadcast")) #broadcast {
                (csrf_field(s))
                button type="submit" { (c.t(l, "console-broadcast-button")) }
            }
            form method="post" action=(format!("/console/campaigns/{id}/end")) #end {
                (csrf_field(s))
                button.secondary type="submit" { (c.t(l, "console-campaign-end")) }
            }
        }
        script src="/console/console.js" defer {}
    };
    let title = name(l, camp).to_string();
    layout(c, l, Some(s), &title, body).into_response()
}

pub async fn show(State(c): State<Console>, s: Signed, Path(id): Path<i64>) -> Response {
    campaign_page(&c, &s, id, None).await
}

fn not_found(c: &Console, s: &Signed) -> Response {
    let l = s.locale;
    let body = notice(&c.t(l, "console-campaign-not-found"), false);
    let title = c.t(l, "console-nav-campaigns");
    (StatusCode::NOT_FOUND, layout(c, l, Some(s), &title, body)).into_response()
}

/// How far the announcement has gone, for the page's live progress.
pub async fn progress(State(c): State<Console>, s: Signed, Path(id): Path<i64>) -> Response {
    let actor = Actor::Staff(s.staff.clone());
    match c.loyalty.staff_broadcast_status(&actor, id).await {
        Ok(p) => Json(serde_json::json!({
            "total": p.total(),
            "queued": p.queued,
            "sent": p.sent,
            "failed": p.failed + p.unreachable,
            "skipped": p.skipped,
        }))
        .into_response(),
        Err(e) => Refused::from(e).render(&c, s.locale),
    }
}

pub async fn end(
    State(c): State<Console>,
    Path(id): Path<i64>,
    Posted { s, .. }: Posted<NoFields>,
) -> Response {
    let actor = Actor::Staff(s.staff.clone());
    match c.loyalty.staff_end_campaign(&actor, id, now()).await {
        Ok(_) => Redirect::to(&format!("/console/campaigns/{id}")).into_response(),
        Err(ServiceError::NotFound(_)) => not_found(&c, &s),
        Err(e) => Refused::from(e).render(&c, s.locale),
    }
}

/// The announcement's button: `force` (the "send anyway" button after a
/// refusal) queues it past LINE's quota.
#[derive(Deserialize)]
pub struct BroadcastForm {
    #[serde(default)]
    force: Option<String>,
}

pub async fn broadcast(
    State(c): State<Console>,
    Path(id): Path<i64>,
    Posted { s, form }: Posted<BroadcastForm>,
) -> Response {
    let l = s.locale;
    let actor = Actor::Staff(s.staff.clone());
    let force = form.force.is_some_and(|f| !f.is_empty());
    match c.loyalty.staff_broadcast(&actor, id, force, now()).await {
        Ok((queued, _)) => {
            let text = c.t_args(
                l,
                "console-broadcast-queued-now",
                &[("count", i18n::number(queued as i64))],
            );
            campaign_page(&c, &s, id, Some(notice(&text, true))).await
        }
        Err(ServiceError::NotFound(_)) => not_found(&c, &s),
        Err(ServiceError::Invalid { message, .. }) => {
            campaign_page(&c, &s, id, Some(notice(&message, false))).await
        }
        Err(ServiceError::LineQuota(r)) => {
            let refusal = over_quota(&c, &s, id, &r);
            campaign_page(&c, &s, id, Some(refusal)).await
        }
        Err(e) => Refused::from(e).render(&c, l),
    }
}

/// A broadcast refused for LINE's quota: the numbers, and a button that
/// sends it anyway.
fn over_quota(c: &Console, s: &Signed, id: i64, r: &QuotaRefusal) -> Markup {
    let l = s.locale;
    let n = |v: u64| i18n::number(i64::try_from(v).unwrap_or(i64::MAX));
    let text = match r {
        QuotaRefusal::Short {
            limit,
            used,
            queued,
            left,
            needed,
        } => c.t_args(
            l,
            "console-broadcast-over-quota",
            &[
                ("limit", n(*limit)),
                ("used", n(*used)),
                ("queued", n(*queued)),
                ("left", n(*left)),
                ("needed", n(*needed)),
            ],
        ),
        QuotaRefusal::Unknown(e) => c.t_args(
            l,
            "console-broadcast-quota-unknown",
            &[("error", e.clone())],
        ),
    };
    html! {
        (notice(&text, false))
        form method="post" action=(format!("/console/campaigns/{id}/broadcast")) #broadcast-anyway {
            (csrf_field(s))
            input type="hidden" name="force" value="1";
            button.secondary type="submit" { (c.t(l, "console-broadcast-anyway")) }
        }
    }
}

/// The campaign form's fields, as posted.
#[derive(Deserialize, Default)]
pub struct CampaignForm {
    #[serde(default)]
    name_th: String,
    #[serde(default)]
    name_en: String,
    #[serde(default)]
    text_th: String,
    #[serde(default)]
    text_en: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    multiplier: String,
    #[serde(default)]
    stacks: Option<String>,
    #[serde(default)]
    points: String,
    #[serde(default)]
    sku: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    starts_at: String,
    #[serde(default)]
    ends_at: String,
    #[serde(default)]
    days: String,
    #[serde(default)]
    hours: String,
    #[serde(default)]
    merchant: String,
    #[serde(default)]
    min_spend: String,
    #[serde(default)]
    budget: String,
    #[serde(default)]
    member_cap: String,
    #[serde(default)]
    holdout: String,
    /// The "count members" button: shows the audience's reach, saves nothing.
    #[serde(default)]
    count: Option<String>,
    #[serde(flatten)]
    audience: AudienceForm,
}

impl CampaignForm {
    fn input(&self) -> Result<CampaignInput, ServiceError> {
        let int = |field: &str, v: &str| -> Result<Option<i64>, ServiceError> {
            opt(v)
                .map(|v| v.replace(',', "").parse())
                .transpose()
                .map_err(|_| crate::service::invalid(field, "must be a whole number"))
        };
        Ok(CampaignInput {
            name_th: self.name_th.clone(),
            name_en: self.name_en.clone(),
            text_th: self.text_th.clone(),
            text_en: self.text_en.clone(),
            kind: self.kind.clone(),
            multiplier: opt(&self.multiplier),
            stacks: self.stacks.is_some(),
            points: int("points", &self.points)?,
            sku: opt(&self.sku),
            category: opt(&self.category),
            starts_at: self.starts_at.clone(),
            ends_at: self.ends_at.clone(),
            days: opt(&self.days),
            hours: opt(&self.hours),
            merchants: opt(&self.merchant).into_iter().collect(),
            tiers: Vec::new(),
            min_spend: opt(&self.min_spend),
            budget: int("budget", &self.budget)?,
            member_cap: int("member_cap", &self.member_cap)?,
            holdout: opt(&self.holdout),
            audience: self.audience.audience()?,
        })
    }
}

async fn form_page(
    c: &Console,
    s: &Signed,
    f: &CampaignForm,
    status: StatusCode,
    result: Option<Markup>,
) -> Response {
    let l = s.locale;
    let actor = Actor::Staff(s.staff.clone());
    let (merchants, program) = match (
        c.loyalty.back_office_merchants(&actor).await,
        c.loyalty.program().await,
    ) {
        (Ok(m), Ok(p)) => (m, p),
        (Err(e), _) | (_, Err(e)) => return Refused::from(e).render(c, l),
    };
    let text = |label: &str, name: &str, value: &str, required: bool| {
        html! { label { (c.t(l, label)) input type="text" name=(name) value=(value) required[required] autocomplete="off"; } }
    };
    let body = html! {
        @if let Some(r) = result { (r) }
        form method="post" action="/console/campaigns" #campaign {
            (csrf_field(s))
            (text("console-campaign-name-th", "name_th", &f.name_th, true))
            (text("console-campaign-name-en", "name_en", &f.name_en, true))
            label { (c.t(l, "console-campaign-text-th")) textarea name="text_th" rows="3" maxlength="1000" { (f.text_th) } }
            label { (c.t(l, "console-campaign-text-en")) textarea name="text_en" rows="3" maxlength="1000" { (f.text_en) } }
            label { (c.t(l, "console-campaign-kind"))
                select name="kind" {
                    @for k in ["multiplier", "bonus", "items", "first_purchase"] {
                        option value=(k) selected[f.kind == k] { (c.t(l, &format!("console-campaign-kind-{k}"))) }
                    }
                }
            }
            (text("console-campaign-multiplier", "multiplier", &f.multiplier, false))
            label.check { input type="checkbox" name="stacks" value="yes" checked[f.stacks.is_some()]; (c.t(l, "console-campaign-stacks")) }
            (text("console-campaign-bonus", "points", &f.points, false))
            (text("console-campaign-sku", "sku", &f.sku, false))
            (text("console-campaign-category", "category", &f.category, false))
            label { (c.t(l, "console-campaign-starts")) input type="date" name="starts_at" value=(f.starts_at) required; }
            label { (c.t(l, "console-campaign-ends")) input type="date" name="ends_at" value=(f.ends_at) required; }
            (text("console-campaign-days", "days", &f.days, false))
            (text("console-campaign-hours", "hours", &f.hours, false))
            label { (c.t(l, "console-merchant"))
                select name="merchant" {
                    option value="" { (c.t(l, "console-all-shops")) }
                    @for m in &merchants { option value=(m.id) selected[f.merchant == m.id] { (m.name) } }
                }
            }
            (text("console-campaign-min-spend", "min_spend", &f.min_spend, false))
            (text("console-campaign-budget-field", "budget", &f.budget, false))
            (text("console-campaign-member-cap", "member_cap", &f.member_cap, false))
            (text("console-campaign-holdout", "holdout", &f.holdout, false))
            (audience::fields(c, l, &program.tiers, &f.audience))
            button type="submit" { (c.t(l, "console-save")) }
        }
    };
    let title = c.t(l, "console-campaign-add");
    (status, layout(c, l, Some(s), &title, body)).into_response()
}

pub async fn new_page(State(c): State<Console>, s: Signed) -> Response {
    if let Err(e) =
        Actor::Staff(s.staff.clone()).require(crate::domain::staff::Permission::BackOffice)
    {
        return Refused::from(e).render(&c, s.locale);
    }
    let f = CampaignForm {
        kind: "multiplier".into(),
        multiplier: "2".into(),
        ..CampaignForm::default()
    };
    form_page(&c, &s, &f, StatusCode::OK, None).await
}

pub async fn create(
    State(c): State<Console>,
    Posted { s, form: f }: Posted<CampaignForm>,
) -> Response {
    let l = s.locale;
    let actor = Actor::Staff(s.staff.clone());
    if f.count.is_some() {
        return count(&c, &s, &f).await;
    }
    let added = match f.input() {
        Ok(input) => c.loyalty.staff_add_campaign(&actor, &input, now()).await,
        Err(e) => Err(e),
    };
    match added {
        Ok(camp) => Redirect::to(&format!("/console/campaigns/{}", camp.id)).into_response(),
        Err(e) => match invalid_notice(&c, &s, &e) {
            Some(n) => form_page(&c, &s, &f, StatusCode::UNPROCESSABLE_ENTITY, Some(n)).await,
            None => Refused::from(e).render(&c, l),
        },
    }
}

/// The form again, with how many members its audience holds and reaches.
async fn count(c: &Console, s: &Signed, f: &CampaignForm) -> Response {
    let l = s.locale;
    let actor = Actor::Staff(s.staff.clone());
    let counted = match (actor.require(Permission::BackOffice), f.audience.audience()) {
        (Err(e), _) => return Refused::from(e).render(c, l),
        (Ok(()), Err(e)) => Err(e),
        (Ok(()), Ok(a)) => {
            let a = a.unwrap_or_default();
            match a.check() {
                Err(e) => Err(crate::service::invalid("audience", e.to_string())),
                Ok(()) => c
                    .loyalty
                    .audience_reach(&a, now())
                    .await
                    .map(|r| audience::reach(c, l, a.is_everyone(), &r)),
            }
        }
    };
    match counted {
        Ok(text) => {
            let n = html! { p #reach .notice { (text) } };
            form_page(c, s, f, StatusCode::OK, Some(n)).await
        }
        Err(e) => match invalid_notice(c, s, &e) {
            Some(n) => form_page(c, s, f, StatusCode::UNPROCESSABLE_ENTITY, Some(n)).await,
            None => Refused::from(e).render(c, l),
        },
    }
}

#[derive(Deserialize)]
pub struct SimulateForm {
    #[serde(default)]
    merchant: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    member: String,
    #[serde(default)]
    at: String,
}

pub async fn simulate(
    State(c): State<Console>,
    Posted { s, form: f }: Posted<SimulateForm>,
) -> Response {
    let l = s.locale;
    let actor = Actor::Staff(s.staff.clone());
    let at = match opt(&f.at)
        .map(|t| parse_time("at", &t, c.loyalty.timezone(), false))
        .transpose()
    {
        Ok(at) => at,
        Err(e) => {
            return list_page(
                &c,
                &s,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(notice(&e.to_string(), false)),
            )
            .await;
        }
    };
    let req = PurchaseRequest {
        receipt_id: "simulation".into(),
        amount: f.amount.trim().to_string(),
        currency: String::new(),
        member_code: opt(&f.member).map(|m| m.to_uppercase()),
        occurred_at: at,
        items: None,
    };
    match c
        .loyalty
        .staff_simulate(&actor, &f.merchant, req, now())
        .await
    {
        Ok(b) => {
            let text = c.t_args(
                l,
                "console-simulate-result",
                &[("points", i18n::number(b.total().value()))],
            );
            let result = html! { (notice(&text, true)) (breakdown(&c, l, &b)) };
            list_page(&c, &s, StatusCode::OK, Some(result)).await
        }
        Err(e) => match invalid_notice(&c, &s, &e) {
            Some(n) => list_page(&c, &s, StatusCode::UNPROCESSABLE_ENTITY, Some(n)).await,
            None => Refused::from(e).render(&c, l),
        },
    }
}
