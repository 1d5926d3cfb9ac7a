//! Signing in and out, and choosing a password through a one-time link. These
//! forms come before a session exists, so their CSRF token is a random value
//! in a cookie of its own that the form must repeat (double submit).

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, RequestExt};
use maud::html;
use rand::RngExt;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::page::{layout, notice};
use super::{Console, Posted, Refused, browser_locale, cookie_value, peer, session_token};
use crate::domain::staff::{LinkPurpose, MIN_PASSWORD};
use crate::domain::time::now;
use crate::domain::{Locale, Refusal};
use crate::service::ServiceError;
use crate::service::staff::Session;

/// The pre-session CSRF cookie.
const FORM_COOKIE: &str = "taem_form";

fn form_token(headers: &HeaderMap) -> Option<String> {
    cookie_value(headers, FORM_COOKIE)
}

impl Console {
    /// A page with a pre-session form: a fresh token in its cookie and field.
    fn form_page(
        &self,
        locale: Locale,
        status: StatusCode,
        title: &str,
        body: impl Fn(&str) -> maud::Markup,
    ) -> Response {
        let token = hex::encode(rand::rng().random::<[u8; 16]>());
        let secure = if self.secure { "; Secure" } else { "" };
        let cookie =
            format!("{FORM_COOKIE}={token}; Path=/console; HttpOnly; SameSite=Strict{secure}");
        let page = layout(self, locale, None, title, body(&token));
        (
            status,
            [(
                header::SET_COOKIE,
                HeaderValue::from_str(&cookie).expect("hex"),
            )],
            page,
        )
            .into_response()
    }

    /// Signs in: the session cookie, then the counter.
    fn signed_in(&self, session: &Session) -> Response {
        (
            [(header::SET_COOKIE, self.cookie(Some(&session.token)))],
            Redirect::to("/console"),
        )
            .into_response()
    }
}

/// Whether a pre-session form repeats its cookie's token.
fn form_ok(headers: &HeaderMap, sent: &str) -> bool {
    form_token(headers).is_some_and(|t| bool::from(t.as_bytes().ct_eq(sent.as_bytes())))
}

fn signin_form(c: &Console, locale: Locale, token: &str, problem: Option<&str>) -> maud::Markup {
    html! {
        @if let Some(p) = problem { (notice(p, false)) }
        form method="post" action="/console/signin" {
            input type="hidden" name="form" value=(token);
            label { (c.t(locale, "console-email")) input type="email" name="email" autocomplete="username" required; }
            label { (c.t(locale, "console-password")) input type="password" name="password" autocomplete="current-password" required; }
            button type="submit" { (c.t(locale, "console-signin-button")) }
        }
    }
}

pub async fn signin_page(State(c): State<Console>, headers: HeaderMap) -> Response {
    if let Some(token) = session_token(&headers)
        && let Ok(Some(_)) = c.loyalty.session(&token, now()).await
    {
        return Redirect::to("/console").into_response();
    }
    let locale = browser_locale(&headers, c.default_locale);
    let title = c.t(locale, "console-signin-title");
    c.form_page(locale, StatusCode::OK, &title, |t| {
        signin_form(&c, locale, t, None)
    })
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    form: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

pub async fn signin(State(c): State<Console>, req: Request) -> Response {
    let headers = req.headers().clone();
    let locale = browser_locale(&headers, c.default_locale);
    let address = peer(req.extensions());
    let Ok(Form(f)) = req.extract::<Form<SignInForm>, _>().await else {
        return Refused::Csrf.render(&c, locale);
    };
    if !form_ok(&headers, &f.form) {
        return Refused::Csrf.render(&c, locale);
    }
    let title = c.t(locale, "console-signin-title");
    match c
        .loyalty
        .sign_in(&f.email, &f.password, &address, now())
        .await
    {
        Ok(session) => c.signed_in(&session),
        Err(ServiceError::Refused(Refusal::TooManyTries { retry_at })) => {
            let minutes = ((retry_at - now()).num_seconds().max(1) + 59) / 60;
            let text = c.t_args(
                locale,
                "console-too-many-tries",
                &[("minutes", minutes.to_string())],
            );
            c.form_page(locale, StatusCode::TOO_MANY_REQUESTS, &title, |t| {
                signin_form(&c, locale, t, Some(&text))
            })
        }
        Err(ServiceError::Refused(Refusal::SignInFailed)) => {
            let text = c.t(locale, "console-signin-failed");
            c.form_page(locale, StatusCode::UNAUTHORIZED, &title, |t| {
                signin_form(&c, locale, t, Some(&text))
            })
        }
        Err(e) => Refused::from(e).render(&c, locale),
    }
}

/// A form with nothing but its CSRF token.
#[derive(Deserialize)]
pub struct Nothing {}

pub async fn signout(
    State(c): State<Console>,
    headers: HeaderMap,
    Posted { s: signed, .. }: Posted<Nothing>,
) -> Response {
    if let Some(token) = session_token(&headers)
        && let Err(e) = c.loyalty.sign_out(&token).await
    {
        return Refused::from(e).render(&c, signed.locale);
    }
    (
        [(header::SET_COOKIE, c.cookie(None))],
        Redirect::to("/console/signin"),
    )
        .into_response()
}

fn password_form(
    c: &Console,
    locale: Locale,
    action: &str,
    token: &str,
    problem: Option<&str>,
) -> maud::Markup {
    html! {
        @if let Some(p) = problem { (notice(p, false)) }
        form method="post" action=(action) {
            input type="hidden" name="form" value=(token);
            label { (c.t(locale, "console-password")) input type="password" name="password" autocomplete="new-password" required minlength=(MIN_PASSWORD); }
            label { (c.t(locale, "console-password-again")) input type="password" name="again" autocomplete="new-password" required; }
            p.muted { (c.t_args(locale, "console-password-hint", &[("min", MIN_PASSWORD.to_string())])) }
            button type="submit" { (c.t(locale, "console-password-button")) }
        }
    }
}

fn link_page(
    c: &Console,
    locale: Locale,
    (purpose, link): (LinkPurpose, &str),
    status: StatusCode,
    problem: Option<&str>,
) -> Response {
    let (title, path) = match purpose {
        LinkPurpose::Invite => (c.t(locale, "console-invite-title"), "invite"),
        LinkPurpose::Reset => (c.t(locale, "console-reset-title"), "reset"),
    };
    let action = format!("/console/{path}/{link}");
    c.form_page(locale, status, &title, |t| {
        password_form(c, locale, &action, t, problem)
    })
}

pub async fn invite_page(
    State(c): State<Console>,
    headers: HeaderMap,
    Path(link): Path<String>,
) -> Response {
    let locale = browser_locale(&headers, c.default_locale);
    link_page(
        &c,
        locale,
        (LinkPurpose::Invite, &link),
        StatusCode::OK,
        None,
    )
}

pub async fn reset_page(
    State(c): State<Console>,
    headers: HeaderMap,
    Path(link): Path<String>,
) -> Response {
    let locale = browser_locale(&headers, c.default_locale);
    link_page(
        &c,
        locale,
        (LinkPurpose::Reset, &link),
        StatusCode::OK,
        None,
    )
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    form: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    again: String,
}

async fn choose_password(c: Console, purpose: LinkPurpose, link: String, req: Request) -> Response {
    let headers = req.headers().clone();
    let locale = browser_locale(&headers, c.default_locale);
    let Ok(Form(f)) = req.extract::<Form<PasswordForm>, _>().await else {
        return Refused::Csrf.render(&c, locale);
    };
    if !form_ok(&headers, &f.form) {
        return Refused::Csrf.render(&c, locale);
    }
    let problem = |id: &str| {
        c.t_args(
            locale,
            &format!("console-password-{id}"),
            &[("min", MIN_PASSWORD.to_string())],
        )
    };
    if f.password != f.again {
        let problem = problem("mismatch");
        return link_page(
            &c,
            locale,
            (purpose, &link),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(&problem),
        );
    }
    match c
        .loyalty
        .accept_staff_link(&link, purpose, &f.password, now())
        .await
    {
        Ok(session) => c.signed_in(&session),
        Err(ServiceError::Invalid { message, .. }) => {
            let problem = problem(&message);
            link_page(
                &c,
                locale,
                (purpose, &link),
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&problem),
            )
        }
        Err(ServiceError::NotFound(_)) => {
            let text = c.t(locale, "console-link-invalid");
            let body = html! { (notice(&text, false)) };
            let title = c.t(locale, "console-invite-title");
            (
                StatusCode::NOT_FOUND,
                layout(&c, locale, None, &title, body),
            )
                .into_response()
        }
        Err(e) => Refused::from(e).render(&c, locale),
    }
}

pub async fn invite(State(c): State<Console>, Path(link): Path<String>, req: Request) -> Response {
    choose_password(c, LinkPurpose::Invite, link, req).await
}

pub async fn reset(State(c): State<Console>, Path(link): Path<String>, req: Request) -> Response {
    choose_password(c, LinkPurpose::Reset, link, req).await
}
