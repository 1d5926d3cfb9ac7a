//! The console's pages: one layout, the forms, the stylesheet. Everything is
//! escaped by `maud`; no script, asset or font comes from elsewhere.

use axum::http::header;
use axum::response::IntoResponse;
use maud::{DOCTYPE, Markup, html};

use super::{Console, Signed};
use crate::domain::Locale;
use crate::domain::staff::Permission;

const STYLESHEET: &str = include_str!("console.css");
const SCRIPT: &str = include_str!("console.js");
const JSQR: &str = include_str!("vendor/jsQR.js");
const JSQR_LICENSE: &str = include_str!("vendor/jsQR.LICENSE");

/// The vendored QR decoder (Apache-2.0), for browsers without BarcodeDetector.
pub async fn jsqr() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        JSQR,
    )
}

/// jsQR's licence, served beside it.
pub async fn jsqr_license() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        JSQR_LICENSE,
    )
}

pub async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        SCRIPT,
    )
}

pub async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
}

/// A whole page: `signed` adds the header with the staff member and sign-out.
pub fn layout(
    c: &Console,
    locale: Locale,
    signed: Option<&Signed>,
    title: &str,
    body: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(locale.as_str()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (c.t(locale, "console-title")) }
                link rel="stylesheet" href="/console/console.css";
            }
            body {
                @if let Some(s) = signed {
                    header {
                        nav {
                            a href="/console" { (c.t(locale, "console-nav-counter")) }
                            @if s.staff.may(Permission::BackOffice) {
                                " · " a href="/console/members" { (c.t(locale, "console-nav-members")) }
                                " · " a href="/console/rewards" { (c.t(locale, "console-nav-rewards")) }
                                " · " a href="/console/campaigns" { (c.t(locale, "console-nav-campaigns")) }
                                " · " a href="/console/journeys" { (c.t(locale, "console-nav-journeys")) }
                                " · " a href="/console/tiers" { (c.t(locale, "console-nav-tiers")) }
                                " · " a href="/console/reports" { (c.t(locale, "console-nav-reports")) }
                            }
                            @if s.staff.may(Permission::Staff) {
                                " · " a href="/console/staff" { (c.t(locale, "console-nav-staff")) }
                                " · " a href="/console/audit" { (c.t(locale, "console-nav-audit")) }
                            }
                            @if s.staff.may(Permission::Settings) {
                                " · " a href="/console/settings" { (c.t(locale, "console-nav-settings")) }
                                " · " a href="/console/merchants" { (c.t(locale, "console-nav-merchants")) }
                                " · " a href="/console/partners" { (c.t(locale, "console-nav-partners")) }
                            }
                        }
                        span.who { (c.t_args(locale, "console-signed-in-as", &[("email", s.staff.email.clone())])) }
                        form method="post" action="/console/signout" {
                            (csrf_field(s))
                            button.link type="submit" { (c.t(locale, "console-sign-out")) }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// The hidden field every state-changing form carries.
pub fn csrf_field(s: &Signed) -> Markup {
    html! { input type="hidden" name="csrf" value=(s.csrf); }
}

/// A page that only says something (an error, a refusal).
pub fn message(c: &Console, locale: Locale, text: &str) -> Markup {
    layout(
        c,
        locale,
        None,
        &c.t(locale, "console-title"),
        html! { p.notice role="alert" { (text) } p { a href="/console" { (c.t(locale, "console-nav-counter")) } } },
    )
}

/// A notice on a page: `ok` for success, otherwise a problem.
pub fn notice(text: &str, ok: bool) -> Markup {
    html! {
        @if ok { p.ok role="status" { (text) } } @else { p.notice role="alert" { (text) } }
    }
}

/// Where a purchase's points came from, line by line.
pub fn breakdown(c: &Console, locale: Locale, b: &crate::domain::Breakdown) -> Markup {
    html! {
        table.breakdown {
            @for hit in &b.0 {
                tr {
                    td {
                        (c.t_args(locale, &format!("console-rule-{}", hit.rule), &[("name", hit.name.clone().unwrap_or_default())]))
                    }
                    td.num { (format!("{:+}", hit.points.value())) }
                }
            }
        }
    }
}
