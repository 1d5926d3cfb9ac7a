//! The back office's rewards: the catalogue with every reward (enabled or not),
//! a form to add or change one (names, descriptions, cost, stock, limits,
//! validity, value, voucher days), enabling and disabling, and its picture,
//! which the chat catalogues show. Pictures are published at
//! `/media/rewards/{id}/{name}` for LINE to fetch.

use axum::extract::{Multipart, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Duration, Utc};
use maud::{Markup, html};
use serde::Deserialize;

use super::page::{csrf_field, layout, notice};
use super::{Console, Posted, Refused, Signed, invalid_notice};
use crate::domain::Locale;
use crate::domain::model::Reward;
use crate::domain::offer::{RewardKind, percent_text};
use crate::domain::picture;
use crate::domain::time::now;
use crate::i18n;
use crate::service::campaigns::parse_time;
use crate::service::staff::Actor;
use crate::service::{RewardInput, ServiceError};

pub fn name(l: Locale, r: &Reward) -> &str {
    match l {
        Locale::Th => &r.name_th,
        Locale::En => &r.name_en,
    }
}

/// The catalogue as staff see it.
pub async fn list(State(c): State<Console>, s: Signed) -> Response {
    list_page(&c, &s, StatusCode::OK, None).await
}

async fn list_page(
    c: &Console,
    s: &Signed,
    status: StatusCode,
    result: Option<Markup>,
) -> Response {
    let l = s.locale;
    let actor = Actor::Staff(s.staff.clone());
    let rewards = match c.loyalty.back_office_rewards(&actor).await {
        Ok(r) => r,
        Err(e) => return Refused::from(e).render(c, l),
    };
    let body = html! {
        @if let Some(r) = result { (r) }
        p { a.button href="/console/rewards/new" { (c.t(l, "console-reward-add")) } }
        table #rewards {
            @for r in &rewards {
                tr {
                    td.thumb {
                        @if let Some(p) = &r.picture {
                            img src=(picture::path(r.id, p)) alt="" width="48" height="48";
                        }
                    }
                    td {
                        a href=(format!("/console/rewards/{}", r.id)) { (name(l, r)) }
                        br;
                        span.muted {
                            (c.t_args(l, "console-member-balance", &[("points", i18n::number(r.cost.value()))]))
                            " · "
                            @match r.stock {
                                Some(n) => (c.t_args(l, "console-reward-stock-left", &[("stock", i18n::number(n))])),
                                None => (c.t(l, "console-reward-stock-unlimited")),
                            }
                        }
                    }
                    td {
                        form method="post" action=(format!("/console/rewards/{}/active", r.id)) .inline {
                            (csrf_field(s))
                            input type="hidden" name="active" value=(if r.active { "no" } else { "yes" });
                            span.muted { (c.t(l, if r.active { "console-reward-enabled" } else { "console-reward-disabled" })) }
                            button type="submit" {
                                (c.t(l, if r.active { "console-reward-disable" } else { "console-reward-enable" }))
                            }
                        }
                    }
                }
            }
        }
    };
    let title = c.t(l, "console-nav-rewards");
    (status, layout(c, l, Some(s), &title, body)).into_response()
}

/// The reward form's fields, as posted.
#[derive(Deserialize, Default)]
pub struct RewardForm {
    #[serde(default)]
    name_th: String,
    #[serde(default)]
    name_en: String,
    #[serde(default)]
    description_th: String,
    #[serde(default)]
    description_en: String,
    #[serde(default)]
    cost: String,
    #[serde(default)]
    stock: String,
    #[serde(default)]
    limit: String,
    #[serde(default)]
    valid_from: String,
    #[serde(default)]
    valid_until: String,
    #[serde(default)]
    face_value: String,
    #[serde(default)]
    voucher_days: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    sku: String,
    #[serde(default)]
    min_basket: String,
    #[serde(default)]
    percent: String,
    #[serde(default)]
    cap: String,
    #[serde(default)]
    categories: String,
    #[serde(default)]
    partner: String,
}

impl RewardForm {
    /// The form filled in from a reward, dates as local dates (the last day it
    /// is offered).
    fn from_reward(c: &Console, r: &Reward) -> RewardForm {
        let day = |t: DateTime<Utc>| t.with_timezone(&c.loyalty.timezone()).date_naive();
        RewardForm {
            name_th: r.name_th.clone(),
            name_en: r.name_en.clone(),
            description_th: r.description_th.clone(),
            description_en: r.description_en.clone(),
            cost: r.cost.value().to_string(),
            stock: r.stock.map(|n| n.to_string()).unwrap_or_default(),
            limit: r
                .per_member_limit
                .map(|n| n.to_string())
                .unwrap_or_default(),
            valid_from: r.valid_from.map(|t| day(t).to_string()).unwrap_or_default(),
            valid_until: r
                .valid_until
                .map(|t| day(t - Duration::seconds(1)).to_string())
                .unwrap_or_default(),
            face_value: r.face_value.to_decimal_string(),
            voucher_days: r.voucher_days.to_string(),
            partner: r.partner_id.clone().unwrap_or_default(),
            ..RewardForm::kind_fields(&r.kind)
        }
    }

    /// The form's kind fields for a reward's kind.
    fn kind_fields(k: &RewardKind) -> RewardForm {
        let money =
            |m: &Option<crate::domain::Money>| m.map(|m| m.to_decimal_string()).unwrap_or_default();
        let mut f = RewardForm {
            kind: k.as_str().to_string(),
            ..RewardForm::default()
        };
        match k {
            RewardKind::Product { sku } => f.sku = sku.clone().unwrap_or_default(),
            RewardKind::FixedDiscount { min_basket, .. } => f.min_basket = money(min_basket),
            RewardKind::PercentDiscount {
                basis_points,
                cap,
                categories,
                min_basket,
            } => {
                f.percent = percent_text(*basis_points);
                f.cap = money(cap);
                f.categories = categories.join(", ");
                f.min_basket = money(min_basket);
            }
            RewardKind::Cashback { .. } | RewardKind::DrawEntry => {}
        }
        f
    }

    /// The service's input; a field that is not a number is refused here.
    fn input(&self, c: &Console, currency: &str) -> Result<RewardInput, ServiceError> {
        let tz = c.loyalty.timezone();
        let int = |field: &str, v: &str| -> Result<Option<i64>, ServiceError> {
            let v = v.trim();
            if v.is_empty() {
                return Ok(None);
            }
            v.replace(',', "")
                .parse()
                .map(Some)
                .map_err(|_| crate::service::invalid(field, "must be a whole number"))
        };
        let date = |field: &str, v: &str, end: bool| -> Result<_, ServiceError> {
            let v = v.trim();
            if v.is_empty() {
                Ok(None)
            } else {
                parse_time(field, v, tz, end).map(Some)
            }
        };
        Ok(RewardInput {
            name_th: self.name_th.clone(),
            name_en: self.name_en.clone(),
            description_th: self.description_th.trim().to_string(),
            description_en: self.description_en.trim().to_string(),
            cost: int("cost", &self.cost)?.unwrap_or(0),
            stock: int("stock", &self.stock)?,
            per_member_limit: int("limit", &self.limit)?,
            valid_from: date("valid_from", &self.valid_from, false)?,
            valid_until: date("valid_until", &self.valid_until, true)?,
            face_value: if self.face_value.trim().is_empty() {
                "0".into()
            } else {
                self.face_value.trim().to_string()
            },
            currency: currency.to_string(),
            voucher_days: int("voucher_days", &self.voucher_days)?
                .map_or(Ok(0), u32::try_from)
                .map_err(|_| crate::service::invalid("voucher_days", "too many days"))?,
            kind: self.kind.clone(),
            sku: super::opt(&self.sku),
            min_basket: super::opt(&self.min_basket),
            percent: super::opt(&self.percent),
            cap: super::opt(&self.cap),
            categories: vec![self.categories.clone()],
            partner: super::opt(&self.partner),
        })
    }
}

/// The reward form; `partners` (id, name) to choose whose reward it is.
fn reward_form(
    c: &Console,
    s: &Signed,
    action: &str,
    f: &RewardForm,
    partners: &[(String, String)],
) -> Markup {
    let l = s.locale;
    let field = |label: &str, name: &str, value: &str, kind: &str, required: bool| {
        html! {
            label { (c.t(l, label))
                input type=(kind) name=(name) value=(value) required[required] autocomplete="off"
                    inputmode=[(kind == "text" && matches!(name, "cost" | "stock" | "limit" | "voucher_days" | "face_value")).then_some("decimal")];
            }
        }
    };
    html! {
        form method="post" action=(action) #reward {
            (csrf_field(s))
            (field("console-reward-name-th", "name_th", &f.name_th, "text", true))
            (field("console-reward-name-en", "name_en", &f.name_en, "text", true))
            label { (c.t(l, "console-reward-description-th")) textarea name="description_th" rows="2" maxlength="500" { (f.description_th) } }
            label { (c.t(l, "console-reward-description-en")) textarea name="description_en" rows="2" maxlength="500" { (f.description_en) } }
            (field("console-reward-cost", "cost", &f.cost, "text", true))
            (field("console-reward-stock", "stock", &f.stock, "text", false))
            (field("console-reward-limit", "limit", &f.limit, "text", false))
            (field("console-reward-from", "valid_from", &f.valid_from, "date", false))
            (field("console-reward-until", "valid_until", &f.valid_until, "date", false))
            label { (c.t(l, "console-reward-kind"))
                select name="kind" {
                    @for k in ["product", "fixed_discount", "percent_discount", "cashback", "draw_entry"] {
                        option value=(k) selected[f.kind == k || (f.kind.is_empty() && k == "product")] {
                            (c.t(l, &format!("console-reward-kind-{k}")))
                        }
                    }
                }
            }
            (field("console-reward-value", "face_value", &f.face_value, "text", false))
            (field("console-reward-sku", "sku", &f.sku, "text", false))
            (field("console-reward-min-basket", "min_basket", &f.min_basket, "text", false))
            (field("console-reward-percent", "percent", &f.percent, "text", false))
            (field("console-reward-cap", "cap", &f.cap, "text", false))
            (field("console-reward-categories", "categories", &f.categories, "text", false))
            (field("console-reward-voucher-days", "voucher_days", &f.voucher_days, "text", true))
            @if !partners.is_empty() {
                label { (c.t(l, "console-reward-partner"))
                    select name="partner" {
                        option value="" { (c.t(l, "console-reward-partner-none")) }
                        @for (id, name) in partners {
                            option value=(id) selected[&f.partner == id] { (name) }
                        }
                    }
                }
            }
            button type="submit" { (c.t(l, "console-save")) }
        }
    }
}

/// The form for a new reward.
pub async fn new_page(State(c): State<Console>, s: Signed) -> Response {
    let f = RewardForm {
        voucher_days: "30".into(),
        ..RewardForm::default()
    };
    form_page(&c, &s, None, &f, StatusCode::OK, None).await
}

async fn form_page(
    c: &Console,
    s: &Signed,
    reward: Option<&Reward>,
    f: &RewardForm,
    status: StatusCode,
    result: Option<Markup>,
) -> Response {
    let l = s.locale;
    if let Err(e) =
        Actor::Staff(s.staff.clone()).require(crate::domain::staff::Permission::BackOffice)
    {
        return Refused::from(e).render(c, l);
    }
    let action = reward.map_or("/console/rewards".to_string(), |r| {
        format!("/console/rewards/{}", r.id)
    });
    let partners: Vec<(String, String)> = match c.loyalty.partners().await {
        Ok(p) => p
            .into_iter()
            .map(|p| (p.partner.merchant_id, p.name))
            .collect(),
        Err(e) => return Refused::from(e).render(c, l),
    };
    let body = html! {
        @if let Some(r) = result { (r) }
        (reward_form(c, s, &action, f, &partners))
        @if let Some(r) = reward {
            h2 { (c.t(l, "console-reward-picture")) }
            @if let Some(p) = &r.picture {
                img.picture src=(picture::path(r.id, p)) alt=(name(l, r));
            }
            form method="post" action=(format!("/console/rewards/{}/picture", r.id)) enctype="multipart/form-data" #picture {
                (csrf_field(s))
                label { (c.t(l, "console-reward-picture-file"))
                    input type="file" name="picture" accept="image/jpeg,image/png" required;
                }
                button type="submit" { (c.t(l, "console-reward-picture-upload")) }
            }
            @if r.picture.is_some() {
                form method="post" action=(format!("/console/rewards/{}/picture", r.id)) enctype="multipart/form-data" #picture-remove {
                    (csrf_field(s))
                    input type="hidden" name="remove" value="yes";
                    button.secondary type="submit" { (c.t(l, "console-reward-picture-remove")) }
                }
            }
        }
    };
    let title = match reward {
        Some(r) => name(l, r).to_string(),
        None => c.t(l, "console-reward-add"),
    };
    (status, layout(c, l, Some(s), &title, body)).into_response()
}

#[derive(Deserialize)]
pub struct Saved {
    saved: Option<String>,
}

/// One reward's form (`?saved` after a change: says so).
pub async fn edit_page(
    State(c): State<Console>,
    s: Signed,
    Path(id): Path<i64>,
    Query(q): Query<Saved>,
) -> Response {
    match c.loyalty.reward(id).await {
        Ok(r) => {
            let f = RewardForm::from_reward(&c, &r);
            let saved = q
                .saved
                .is_some()
                .then(|| notice(&c.t(s.locale, "console-saved"), true));
            form_page(&c, &s, Some(&r), &f, StatusCode::OK, saved).await
        }
        Err(ServiceError::NotFound(_)) => not_found(&c, &s),
        Err(e) => Refused::from(e).render(&c, s.locale),
    }
}

fn not_found(c: &Console, s: &Signed) -> Response {
    let l = s.locale;
    let body = notice(&c.t(l, "console-reward-not-found"), false);
    let title = c.t(l, "console-nav-rewards");
    (StatusCode::NOT_FOUND, layout(c, l, Some(s), &title, body)).into_response()
}

async fn save(c: Console, s: Signed, id: Option<i64>, f: RewardForm) -> Response {
    let l = s.locale;
    let actor = Actor::Staff(s.staff.clone());
    let currency = match c.loyalty.program().await {
        Ok(p) => p.currency.code().to_string(),
        Err(e) => return Refused::from(e).render(&c, l),
    };
    let saved = match f.input(&c, &currency) {
        Ok(input) => c.loyalty.save_reward(&actor, id, input, now()).await,
        Err(e) => Err(e),
    };
    match saved {
        Ok(r) => Redirect::to(&format!("/console/rewards/{}?saved", r.id)).into_response(),
        Err(ServiceError::NotFound(_)) => not_found(&c, &s),
        Err(e) => match invalid_notice(&c, &s, &e) {
            Some(shown) => {
                let reward = match id {
                    Some(id) => c.loyalty.reward(id).await.ok(),
                    None => None,
                };
                let status = StatusCode::UNPROCESSABLE_ENTITY;
                form_page(&c, &s, reward.as_ref(), &f, status, Some(shown)).await
            }
            None => Refused::from(e).render(&c, l),
        },
    }
}

pub async fn create(State(c): State<Console>, Posted { s, form }: Posted<RewardForm>) -> Response {
    save(c, s, None, form).await
}

pub async fn update(
    State(c): State<Console>,
    Path(id): Path<i64>,
    Posted { s, form }: Posted<RewardForm>,
) -> Response {
    save(c, s, Some(id), form).await
}

#[derive(Deserialize)]
pub struct ActiveForm {
    #[serde(default)]
    active: String,
}

pub async fn set_active(
    State(c): State<Console>,
    Path(id): Path<i64>,
    Posted { s, form }: Posted<ActiveForm>,
) -> Response {
    let actor = Actor::Staff(s.staff.clone());
    let active = form.active == "yes";
    match c.loyalty.enable_reward(&actor, id, active, now()).await {
        Ok(_) => Redirect::to("/console/rewards").into_response(),
        Err(ServiceError::NotFound(_)) => not_found(&c, &s),
        Err(e) => Refused::from(e).render(&c, s.locale),
    }
}

/// A new picture (multipart: `csrf`, `picture`), or `remove=yes`.
pub async fn set_picture(
    State(c): State<Console>,
    Path(id): Path<i64>,
    s: Signed,
    mut form: Multipart,
) -> Response {
    let l = s.locale;
    let (mut csrf, mut file, mut remove) = (String::new(), None, false);
    let too_large = |c: &Console| c.t(l, "console-reward-picture-too-large");
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(_) => return picture_refused(&c, &s, id, too_large(&c)).await,
        };
        match field.name().unwrap_or("") {
            "csrf" => csrf = field.text().await.unwrap_or_default(),
            "remove" => remove = field.text().await.is_ok_and(|v| v == "yes"),
            "picture" => match field.bytes().await {
                Ok(b) => file = Some(b.to_vec()),
                Err(_) => return picture_refused(&c, &s, id, too_large(&c)).await,
            },
            _ => {}
        }
    }
    if let Err(refused) = s.check_csrf(&csrf) {
        return refused.render(&c, l);
    }
    let file = if remove {
        None
    } else {
        Some(file.unwrap_or_default())
    };
    let actor = Actor::Staff(s.staff.clone());
    match c
        .loyalty
        .change_reward_picture(&actor, id, file, now())
        .await
    {
        Ok(_) => Redirect::to(&format!("/console/rewards/{id}?saved")).into_response(),
        Err(ServiceError::Invalid { message, .. }) => {
            let text = c.t_args(l, "console-reward-picture-refused", &[("message", message)]);
            picture_refused(&c, &s, id, text).await
        }
        Err(ServiceError::NotFound(_)) => not_found(&c, &s),
        Err(e) => Refused::from(e).render(&c, l),
    }
}

async fn picture_refused(c: &Console, s: &Signed, id: i64, text: String) -> Response {
    match c.loyalty.reward(id).await {
        Ok(r) => {
            let f = RewardForm::from_reward(c, &r);
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            form_page(c, s, Some(&r), &f, status, Some(notice(&text, false))).await
        }
        Err(_) => not_found(c, s),
    }
}

/// A reward's picture, for anyone (LINE fetches it for the catalogue): its
/// address names its content, so it may be cached for ever.
pub async fn media(State(c): State<Console>, Path((id, file)): Path<(i64, String)>) -> Response {
    match c.loyalty.reward_picture(id, &file).await {
        Ok(Some((content_type, bytes))) => (
            [
                (header::CONTENT_TYPE, content_type),
                (
                    header::CACHE_CONTROL,
                    "public, max-age=31536000, immutable".to_string(),
                ),
            ],
            bytes,
        )
            .into_response(),
        Ok(None) | Err(ServiceError::NotFound(_)) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => {
            tracing::error!(error = %e, "reading a reward picture failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
