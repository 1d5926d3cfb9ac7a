//! The back office's programme pages: settings (owners), tiers (managers and
//! owners), merchants and branches with their webhook secrets (owners; a
//! secret is shown once, on the page that answers its creation or rotation,
//! and never again).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::page::{csrf_field, layout, notice};
use super::{Console, NoFields, Posted, Refused, Signed, invalid_notice, opt};
use crate::domain::Money;
use crate::domain::model::Merchant;
use crate::domain::staff::Permission;
use crate::domain::time::now;
use crate::i18n;
use crate::service::staff::Actor;
use crate::service::{ProgramChange, ServiceError, TierChangeInput};

fn multiplier(percent: u32) -> String {
    let whole = percent / 100;
    match percent % 100 {
        0 => format!("×{whole}"),
        r if r % 10 == 0 => format!("×{whole}.{}", r / 10),
        r => format!("×{whole}.{r:02}"),
    }
}

// ---- settings ----

async fn settings_page(
    c: &Console,
    s: &Signed,
    status: StatusCode,
    result: Option<Markup>,
) -> Response {
    let l = s.locale;
    if let Err(e) = Actor::Staff(s.staff.clone()).require(Permission::Settings) {
        return Refused::from(e).render(c, l);
    }
    let p = match c.loyalty.program().await {
        Ok(p) => p,
        Err(e) => return Refused::from(e).render(c, l),
    };
    let min_spend = Money::from_minor(p.referral.min_spend_minor, p.currency).to_decimal_string();
    let sweep = match c.loyalty.last_privacy_sweep().await {
        Ok(s) => s,
        Err(e) => return Refused::from(e).render(c, l),
    };
    let tz = c.loyalty.timezone();
    let retention = p
        .privacy
        .retention_months
        .map(|m| m.to_string())
        .unwrap_or_default();
    let body = html! {
        @if let Some(r) = result { (r) }
        form method="post" action="/console/settings" #settings {
            (csrf_field(s))
            label { (c.t(l, "console-settings-name")) input type="text" name="name" value=(p.name) required maxlength="100"; }
            label { (c.t(l, "console-settings-expiry")) input type="number" name="expiry_months" value=(p.expiry_months) min="1" max="120" required; }
            label { (c.t(l, "console-settings-pending")) input type="number" name="pending_days" value=(p.pending_days) min="0" max="365" required; }
            label { (c.t(l, "console-settings-referrer")) input type="number" name="referrer_points" value=(p.referral.referrer_points) min="0" required; }
            label { (c.t(l, "console-settings-referee")) input type="number" name="referee_points" value=(p.referral.referee_points) min="0" required; }
            label { (c.t(l, "console-settings-referral-min")) input type="text" inputmode="decimal" name="referral_min_spend" value=(min_spend) required; }
            label { (c.t(l, "console-settings-session-idle")) input type="number" name="session_idle_hours" value=(p.session_idle_hours) min="1" max="720" required; }
            h2 { (c.t(l, "console-privacy-title")) }
            p.muted { (c.t_args(l, "console-privacy-version", &[("version", p.privacy.version.to_string())])) }
            label { (c.t(l, "console-privacy-url")) input type="url" name="privacy_url" value=[p.privacy.url.as_deref()] maxlength="500" placeholder="https://"; }
            label { (c.t(l, "console-privacy-th")) textarea name="privacy_th" maxlength="3000" rows="4" { (p.privacy.text_th.as_deref().unwrap_or("")) } }
            label { (c.t(l, "console-privacy-en")) textarea name="privacy_en" maxlength="3000" rows="4" { (p.privacy.text_en.as_deref().unwrap_or("")) } }
            label { (c.t(l, "console-privacy-retention")) input type="number" name="retention_months" value=(retention) min="1" max="240"; }
            p.muted #sweep {
                @match sweep {
                    Some((ran, cutoff, erased)) => (c.t_args(l, "console-privacy-sweep", &[
                        ("date", i18n::local_date(ran, tz, l)),
                        ("cutoff", i18n::local_date(cutoff, tz, l)),
                        ("erased", i18n::number(erased)),
                    ])),
                    None => (c.t(l, "console-privacy-no-sweep")),
                }
            }
            button type="submit" { (c.t(l, "console-save")) }
        }
    };
    let title = c.t(l, "console-nav-settings");
    (status, layout(c, l, Some(s), &title, body)).into_response()
}

pub async fn settings(State(c): State<Console>, s: Signed) -> Response {
    settings_page(&c, &s, StatusCode::OK, None).await
}

#[derive(Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    expiry_months: String,
    #[serde(default)]
    pending_days: String,
    #[serde(default)]
    referrer_points: String,
    #[serde(default)]
    referee_points: String,
    #[serde(default)]
    referral_min_spend: String,
    #[serde(default)]
    session_idle_hours: String,
    #[serde(default)]
    privacy_url: String,
    #[serde(default)]
    privacy_th: String,
    #[serde(default)]
    privacy_en: String,
    /// Empty: off.
    #[serde(default)]
    retention_months: String,
}

fn number<T: std::str::FromStr>(field: &str, v: &str) -> Result<T, ServiceError> {
    v.trim()
        .parse()
        .map_err(|_| crate::service::invalid(field, "must be a whole number"))
}

pub async fn save_settings(
    State(c): State<Console>,
    Posted { s, form: f }: Posted<SettingsForm>,
) -> Response {
    let actor = Actor::Staff(s.staff.clone());
    let change = (|| -> Result<ProgramChange, ServiceError> {
        let expiry: u32 = number("expiry_months", &f.expiry_months)?;
        if !(1..=120).contains(&expiry) {
            return Err(crate::service::invalid(
                "expiry_months",
                "between 1 and 120",
            ));
        }
        let pending: u32 = number("pending_days", &f.pending_days)?;
        if pending > 365 {
            return Err(crate::service::invalid("pending_days", "at most 365"));
        }
        if f.name.trim().is_empty() {
            return Err(crate::service::invalid("name", "must not be empty"));
        }
        Ok(ProgramChange {
            name: Some(f.name.trim().to_string()),
            expiry_months: Some(expiry),
            pending_days: Some(pending),
            referrer_points: Some(number("referrer_points", &f.referrer_points)?),
            referee_points: Some(number("referee_points", &f.referee_points)?),
            referral_min_spend: Some(f.referral_min_spend.trim().to_string()),
            session_idle_hours: Some(number("session_idle_hours", &f.session_idle_hours)?),
            currency: None,
            privacy_url: Some(f.privacy_url.clone()),
            privacy_th: Some(f.privacy_th.clone()),
            privacy_en: Some(f.privacy_en.clone()),
            retention_months: Some(f.retention_months.clone()),
            ..ProgramChange::default()
        })
    })();
    let saved = match change {
        Ok(change) => c.loyalty.staff_change_program(&actor, change, now()).await,
        Err(e) => Err(e),
    };
    match saved {
        Ok(_) => {
            settings_page(
                &c,
                &s,
                StatusCode::OK,
                Some(notice(&c.t(s.locale, "console-saved"), true)),
            )
            .await
        }
        Err(e) => match invalid_notice(&c, &s, &e) {
            Some(n) => settings_page(&c, &s, StatusCode::UNPROCESSABLE_ENTITY, Some(n)).await,
            None => Refused::from(e).render(&c, s.locale),
        },
    }
}

// ---- tiers ----

async fn tiers_page(
    c: &Console,
    s: &Signed,
    status: StatusCode,
    result: Option<Markup>,
) -> Response {
    let l = s.locale;
    if let Err(e) = Actor::Staff(s.staff.clone()).require(Permission::BackOffice) {
        return Refused::from(e).render(c, l);
    }
    let p = match c.loyalty.program().await {
        Ok(p) => p,
        Err(e) => return Refused::from(e).render(c, l),
    };
    let body = html! {
        @if let Some(r) = result { (r) }
        p.muted { (c.t(l, "console-tiers-explain")) }
        table #tiers {
            @for t in p.tiers.all() {
                tr {
                    td { (t.name(l == crate::domain::Locale::Th)) br; span.muted { (t.key) } }
                    td.num { (i18n::money(Money::from_minor(t.threshold_minor, p.currency))) }
                    td.num { (multiplier(t.multiplier_percent)) }
                    td {
                        @if t.threshold_minor > 0 {
                            form method="post" action=(format!("/console/tiers/{}/remove", t.key)) .inline {
                                (csrf_field(s))
                                button.secondary type="submit" { (c.t(l, "console-tier-remove")) }
                            }
                        }
                    }
                }
            }
        }
        h2 { (c.t(l, "console-tier-set-title")) }
        form method="post" action="/console/tiers" #tier {
            (csrf_field(s))
            label { (c.t(l, "console-tier-key")) input type="text" name="key" required pattern="[a-z0-9_-]+" maxlength="32"; }
            label { (c.t(l, "console-tier-name-th")) input type="text" name="name_th"; }
            label { (c.t(l, "console-tier-name-en")) input type="text" name="name_en"; }
            label { (c.t(l, "console-tier-threshold")) input type="text" inputmode="decimal" name="threshold"; }
            label { (c.t(l, "console-tier-multiplier")) input type="text" inputmode="decimal" name="multiplier"; }
            button type="submit" { (c.t(l, "console-save")) }
        }
    };
    let title = c.t(l, "console-nav-tiers");
    (status, layout(c, l, Some(s), &title, body)).into_response()
}

pub async fn tiers(State(c): State<Console>, s: Signed) -> Response {
    tiers_page(&c, &s, StatusCode::OK, None).await
}

#[derive(Deserialize)]
pub struct TierForm {
    #[serde(default)]
    key: String,
    #[serde(default)]
    name_th: String,
    #[serde(default)]
    name_en: String,
    #[serde(default)]
    threshold: String,
    #[serde(default)]
    multiplier: String,
}

async fn tier_answer(
    c: &Console,
    s: &Signed,
    r: crate::service::Result<crate::domain::tier::Tiers>,
) -> Response {
    match r {
        Ok(_) => {
            tiers_page(
                c,
                s,
                StatusCode::OK,
                Some(notice(&c.t(s.locale, "console-saved"), true)),
            )
            .await
        }
        Err(e) => match invalid_notice(c, s, &e) {
            Some(n) => tiers_page(c, s, StatusCode::UNPROCESSABLE_ENTITY, Some(n)).await,
            None => Refused::from(e).render(c, s.locale),
        },
    }
}

pub async fn set_tier(
    State(c): State<Console>,
    Posted { s, form: f }: Posted<TierForm>,
) -> Response {
    let actor = Actor::Staff(s.staff.clone());
    let key = f.key.trim().to_lowercase();
    if key.is_empty()
        || !key
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-')
    {
        let r = Err(crate::service::invalid(
            "key",
            "lowercase letters, digits, - and _",
        ));
        return tier_answer(&c, &s, r).await;
    }
    let change = TierChangeInput {
        key,
        threshold: opt(&f.threshold),
        multiplier: opt(&f.multiplier),
        name_th: opt(&f.name_th),
        name_en: opt(&f.name_en),
    };
    let r = c.loyalty.staff_set_tier(&actor, change, now()).await;
    tier_answer(&c, &s, r).await
}

pub async fn remove_tier(
    State(c): State<Console>,
    Path(key): Path<String>,
    Posted { s, .. }: Posted<NoFields>,
) -> Response {
    let actor = Actor::Staff(s.staff.clone());
    let r = c.loyalty.staff_remove_tier(&actor, &key, now()).await;
    tier_answer(&c, &s, r).await
}

// ---- merchants ----

async fn merchants_page(
    c: &Console,
    s: &Signed,
    status: StatusCode,
    result: Option<Markup>,
) -> Response {
    let l = s.locale;
    let actor = Actor::Staff(s.staff.clone());
    if let Err(e) = actor.require(Permission::MerchantSecrets) {
        return Refused::from(e).render(c, l);
    }
    let merchants = match c.loyalty.back_office_merchants(&actor).await {
        Ok(m) => m,
        Err(e) => return Refused::from(e).render(c, l),
    };
    let body = html! {
        @if let Some(r) = result { (r) }
        table #merchants {
            @for m in &merchants {
                tr {
                    td { (m.name) br; code { (m.id) } }
                    td.muted { (c.t_args(l, "console-merchant-earn", &[("rate", m.earn.display(m.currency)), ("currency", m.currency.code().to_string())])) }
                    td {
                        form method="post" action=(format!("/console/merchants/{}/rotate", m.id)) .inline {
                            (csrf_field(s))
                            input type="hidden" name="grace_hours" value="24";
                            button.secondary type="submit" { (c.t(l, "console-merchant-rotate")) }
                        }
                    }
                }
            }
        }
        h2 { (c.t(l, "console-merchant-add")) }
        form method="post" action="/console/merchants" #merchant {
            (csrf_field(s))
            label { (c.t(l, "console-merchant-name")) input type="text" name="name" required maxlength="100"; }
            label { (c.t(l, "console-merchant-currency")) input type="text" name="currency" value="THB" required maxlength="3"; }
            label { (c.t(l, "console-merchant-earn-field")) input type="text" name="earn" value="1:25" required; }
            button type="submit" { (c.t(l, "console-merchant-add")) }
        }
    };
    let title = c.t(l, "console-nav-merchants");
    (status, layout(c, l, Some(s), &title, body)).into_response()
}

pub async fn merchants(State(c): State<Console>, s: Signed) -> Response {
    merchants_page(&c, &s, StatusCode::OK, None).await
}

/// The one page that shows a webhook secret.
fn secret_notice(
    c: &Console,
    s: &Signed,
    m: &Merchant,
    id: &str,
    args: &[(&str, String)],
) -> Markup {
    let l = s.locale;
    html! {
        section.card #secret {
            p.ok { (c.t_args(l, id, args)) }
            div.muted { (c.t(l, "console-merchant-id")) }
            code.link { (m.id) }
            div.muted { (c.t(l, "console-merchant-secret")) }
            code.link { (m.webhook_secret.expose()) }
            p.notice { (c.t(l, "console-merchant-secret-once")) }
        }
    }
}

#[derive(Deserialize)]
pub struct MerchantForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    currency: String,
    #[serde(default)]
    earn: String,
}

pub async fn add_merchant(
    State(c): State<Console>,
    Posted { s, form: f }: Posted<MerchantForm>,
) -> Response {
    let actor = Actor::Staff(s.staff.clone());
    let currency = f.currency.trim().to_uppercase();
    match c
        .loyalty
        .staff_add_merchant(&actor, (&f.name, &currency, &f.earn), now())
        .await
    {
        Ok(m) => {
            let shown = secret_notice(
                &c,
                &s,
                &m,
                "console-merchant-added",
                &[("name", m.name.clone())],
            );
            merchants_page(&c, &s, StatusCode::CREATED, Some(shown)).await
        }
        Err(e) => match invalid_notice(&c, &s, &e) {
            Some(n) => merchants_page(&c, &s, StatusCode::UNPROCESSABLE_ENTITY, Some(n)).await,
            None => Refused::from(e).render(&c, s.locale),
        },
    }
}

#[derive(Deserialize)]
pub struct RotateForm {
    #[serde(default)]
    grace_hours: String,
}

pub async fn rotate(
    State(c): State<Console>,
    Path(id): Path<String>,
    Posted { s, form: f }: Posted<RotateForm>,
) -> Response {
    let actor = Actor::Staff(s.staff.clone());
    let grace = f.grace_hours.trim().parse().unwrap_or(24);
    match c
        .loyalty
        .staff_rotate_secret(&actor, &id, grace, now())
        .await
    {
        Ok((m, until)) => {
            let until = i18n::local_date(until, c.loyalty.timezone(), s.locale);
            let shown = secret_notice(
                &c,
                &s,
                &m,
                "console-merchant-rotated",
                &[("name", m.name.clone()), ("until", until)],
            );
            merchants_page(&c, &s, StatusCode::OK, Some(shown)).await
        }
        Err(ServiceError::NotFound(_)) => Redirect::to("/console/merchants").into_response(),
        Err(e) => match invalid_notice(&c, &s, &e) {
            Some(n) => merchants_page(&c, &s, StatusCode::UNPROCESSABLE_ENTITY, Some(n)).await,
            None => Refused::from(e).render(&c, s.locale),
        },
    }
}
