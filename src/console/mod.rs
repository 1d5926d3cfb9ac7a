//! The merchant console, served by `taem serve` under `/console`: sign-in and
//! one-time links (`auth`), the counter screen (`counter`), and the pages they
//! are drawn with (`page`). Server-rendered HTML in the staff member's language;
//! every state-changing form carries the session's CSRF token; roles are checked
//! by the services.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use subtle::ConstantTimeEq;

use crate::domain::Locale;
use crate::domain::staff::Staff;
use crate::domain::time::now;
use crate::i18n::I18n;
use crate::service::{Loyalty, ServiceError};

mod audience;
mod auth;
mod campaigns;
mod chart;
mod counter;
mod journeys;
mod members;
mod page;
mod partners;
mod pay;
mod reports;
mod rewards;
mod settings;
mod staff;

/// The session cookie's name.
const COOKIE: &str = "taem_console";

/// What every console handler shares.
#[derive(Clone)]
pub struct Console {
    loyalty: Arc<Loyalty>,
    i18n: Arc<I18n>,
    /// Cookies get `Secure` when the public URL is https.
    secure: bool,
    default_locale: Locale,
    /// Where links to the console start (`TAEM_PUBLIC_URL`, else the address served).
    base: String,
}

impl Console {
    /// `base` is where links to the console start (`TAEM_PUBLIC_URL`, else the
    /// address served); cookies get `Secure` when it is https.
    pub fn new(
        loyalty: Arc<Loyalty>,
        i18n: Arc<I18n>,
        base: String,
        default_locale: Locale,
    ) -> Console {
        Console {
            loyalty,
            i18n,
            secure: base.starts_with("https://"),
            default_locale,
            base: base.trim_end_matches('/').to_string(),
        }
    }

    fn public_base(&self) -> &str {
        &self.base
    }

    fn t(&self, locale: Locale, id: &str) -> String {
        self.i18n.msg(locale, id, None)
    }

    fn t_args(&self, locale: Locale, id: &str, args: &[(&str, String)]) -> String {
        let pairs: Vec<_> = args
            .iter()
            .map(|(k, v)| (*k, fluent_bundle::FluentValue::from(v.clone())))
            .collect();
        self.i18n.msg(locale, id, Some(&crate::i18n::args(&pairs)))
    }

    /// The cookie that starts a session (`None`: the one that ends it).
    fn cookie(&self, token: Option<&str>) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        let value = match token {
            Some(t) => format!("{COOKIE}={t}; Path=/console; HttpOnly; SameSite=Strict{secure}"),
            None => {
                format!("{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
            }
        };
        HeaderValue::from_str(&value).expect("a token is base64url")
    }
}

/// The console's routes.
pub fn router(console: Console) -> Router {
    Router::new()
        .route("/console", get(counter::home))
        .route("/console/signin", get(auth::signin_page).post(auth::signin))
        .route("/console/signout", post(auth::signout))
        .route(
            "/console/invite/{token}",
            get(auth::invite_page).post(auth::invite),
        )
        .route(
            "/console/reset/{token}",
            get(auth::reset_page).post(auth::reset),
        )
        .route("/console/counter/sale", post(counter::sale))
        .route("/console/counter/redeem", post(counter::redeem))
        .route("/console/counter/refund", post(counter::refund))
        .route("/console/voucher/use", post(counter::use_voucher))
        .route("/console/counter/pay", post(pay::reserve))
        .route("/console/counter/pay/{id}", get(pay::show))
        .route("/console/counter/pay/{id}/status", get(pay::status))
        .route("/console/counter/pay/{id}/capture", post(pay::capture))
        .route("/console/counter/pay/{id}/release", post(pay::release))
        .route("/console/member/phone", post(counter::set_phone))
        .route("/console/members", get(members::search))
        .route("/console/members/{code}", get(members::file))
        .route("/console/members/{code}/adjust", post(members::adjust))
        .route("/console/members/{code}/export", post(members::export))
        .route("/console/members/{code}/erase", post(members::erase))
        .route("/console/rewards", get(rewards::list).post(rewards::create))
        .route("/console/rewards/new", get(rewards::new_page))
        .route(
            "/console/rewards/{id}",
            get(rewards::edit_page).post(rewards::update),
        )
        .route("/console/rewards/{id}/active", post(rewards::set_active))
        .route("/console/rewards/{id}/picture", post(rewards::set_picture))
        .route("/media/rewards/{id}/{file}", get(rewards::media))
        .route(
            "/console/campaigns",
            get(campaigns::list).post(campaigns::create),
        )
        .route("/console/campaigns/new", get(campaigns::new_page))
        .route("/console/campaigns/simulate", post(campaigns::simulate))
        .route("/console/campaigns/{id}", get(campaigns::show))
        .route("/console/campaigns/{id}/progress", get(campaigns::progress))
        .route("/console/campaigns/{id}/end", post(campaigns::end))
        .route("/console/journeys", get(journeys::page))
        .route("/console/partners", get(partners::page).post(partners::set))
        .route("/console/partners/close", post(partners::close))
        .route("/console/partners/settlement.csv", get(partners::csv))
        .route("/console/journeys/{kind}", post(journeys::set))
        .route(
            "/console/campaigns/{id}/broadcast",
            post(campaigns::broadcast),
        )
        .route(
            "/console/settings",
            get(settings::settings).post(settings::save_settings),
        )
        .route(
            "/console/tiers",
            get(settings::tiers).post(settings::set_tier),
        )
        .route("/console/tiers/{key}/remove", post(settings::remove_tier))
        .route(
            "/console/merchants",
            get(settings::merchants).post(settings::add_merchant),
        )
        .route("/console/merchants/{id}/rotate", post(settings::rotate))
        .route("/console/staff", get(staff::list).post(staff::invite))
        .route("/console/staff/{id}", post(staff::change))
        .route("/console/staff/{id}/link", post(staff::new_link))
        .route("/console/audit", get(staff::audit))
        .route("/console/reports", get(reports::page))
        .route("/console/reports/{file}", get(reports::csv))
        .route("/console/console.css", get(page::stylesheet))
        .route("/console/console.js", get(page::script))
        .route("/console/vendor/jsQR.js", get(page::jsqr))
        .route("/console/vendor/jsQR.LICENSE.txt", get(page::jsqr_license))
        .with_state(console)
}

/// The language of a page shown before sign-in: the browser's first choice
/// taem speaks, else the default.
fn browser_locale(headers: &HeaderMap, default: Locale) -> Locale {
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .into_iter()
        .flat_map(|v| v.split(','))
        .filter_map(|tag| tag.split(';').next())
        .find_map(|tag| Locale::parse(tag.trim()))
        .unwrap_or(default)
}

/// The value of cookie `name`, if the request has it.
fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            c.trim()
                .strip_prefix(name)?
                .strip_prefix('=')
                .map(str::to_string)
        })
        .filter(|t| !t.is_empty())
}

/// The session cookie's token, if the request has one.
fn session_token(headers: &HeaderMap) -> Option<String> {
    cookie_value(headers, COOKIE)
}

/// A signed-in staff member, with the session's CSRF token and their language.
/// A request without a live session is sent to the sign-in page.
pub struct Signed {
    pub staff: Staff,
    csrf: String,
    pub locale: Locale,
}

impl Signed {
    /// Refuses a form whose CSRF token is not the session's.
    fn check_csrf(&self, sent: &str) -> Result<(), Refused> {
        if bool::from(sent.as_bytes().ct_eq(self.csrf.as_bytes())) {
            Ok(())
        } else {
            Err(Refused::Csrf)
        }
    }
}

impl FromRequestParts<Console> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, c: &Console) -> Result<Signed, Response> {
        let to_signin = || Redirect::to("/console/signin").into_response();
        let Some(token) = session_token(&parts.headers) else {
            return Err(to_signin());
        };
        match c.loyalty.session(&token, now()).await {
            Ok(Some((staff, csrf))) => {
                let locale = staff
                    .locale
                    .as_deref()
                    .and_then(Locale::parse)
                    .unwrap_or(c.default_locale);
                Ok(Signed {
                    staff,
                    csrf,
                    locale,
                })
            }
            Ok(None) => Err(to_signin()),
            Err(e) => Err(Refused::from(e).render(c, c.default_locale)),
        }
    }
}

/// A form posted by a signed-in staff member, accepted only with the
/// session's CSRF token (its `csrf` field); without it the request is refused
/// before the handler runs.
pub struct Posted<T> {
    pub s: Signed,
    pub form: T,
}

#[derive(serde::Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

impl<T: serde::de::DeserializeOwned + Send> axum::extract::FromRequest<Console> for Posted<T> {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, c: &Console) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let s = Signed::from_request_parts(&mut parts, c).await?;
        let refuse = |s: &Signed| Refused::Csrf.render(c, s.locale);
        let Ok(bytes) = axum::body::to_bytes(body, crate::http::MAX_BODY).await else {
            return Err(refuse(&s));
        };
        // The form, read twice: once for its token, once for the handler.
        let content_type = parts.headers.get(header::CONTENT_TYPE).cloned();
        let form = |bytes: &[u8]| {
            let mut req = axum::http::Request::post("/")
                .body(axum::body::Body::from(bytes.to_vec()))
                .expect("a request");
            if let Some(ct) = &content_type {
                req.headers_mut().insert(header::CONTENT_TYPE, ct.clone());
            }
            req
        };
        let csrf = axum::Form::<CsrfField>::from_request(form(&bytes), c).await;
        match csrf {
            Ok(axum::Form(f)) if s.check_csrf(&f.csrf).is_ok() => {}
            _ => return Err(refuse(&s)),
        }
        match axum::Form::<T>::from_request(form(&bytes), c).await {
            Ok(axum::Form(form)) => Ok(Posted { s, form }),
            Err(_) => Err(Refused::Csrf.render(c, s.locale)),
        }
    }
}

/// The address a request came from (for counting wrong passwords).
fn peer(parts: &axum::http::Extensions) -> String {
    parts
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// Why a console request was turned down, as a page in the staff member's
/// language.
#[derive(Debug)]
pub enum Refused {
    /// The form's CSRF token is missing or not the session's.
    Csrf,
    /// The role may not do this.
    Forbidden,
    /// Something unexpected.
    Error(ServiceError),
}

impl From<ServiceError> for Refused {
    fn from(e: ServiceError) -> Refused {
        match e {
            ServiceError::Forbidden => Refused::Forbidden,
            e => Refused::Error(e),
        }
    }
}

impl Refused {
    fn render(self, c: &Console, locale: Locale) -> Response {
        let (status, id) = match &self {
            Refused::Csrf => (StatusCode::FORBIDDEN, "console-csrf-refused"),
            Refused::Forbidden => (StatusCode::FORBIDDEN, "console-forbidden"),
            Refused::Error(e) => {
                tracing::error!(error = %e, "console request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "console-error")
            }
        };
        let body = page::message(c, locale, &c.t(locale, id));
        (status, body).into_response()
    }
}

/// A form with nothing in it but its CSRF token (a button).
#[derive(serde::Deserialize)]
pub struct NoFields {}

/// A form field's value, `None` when left empty.
fn opt(v: &str) -> Option<String> {
    let v = v.trim();
    (!v.is_empty()).then(|| v.to_string())
}

/// A refused form's notice (`None`: not the form's fault).
pub(crate) fn invalid_notice(c: &Console, s: &Signed, e: &ServiceError) -> Option<maud::Markup> {
    match e {
        ServiceError::Invalid { field, message } => Some(page::notice(
            &c.t_args(
                s.locale,
                "console-form-invalid",
                &[("field", field.clone()), ("message", message.clone())],
            ),
            false,
        )),
        ServiceError::NotFound(what) => Some(page::notice(
            &c.t_args(
                s.locale,
                "console-form-invalid",
                &[("field", what.to_string()), ("message", "not found".into())],
            ),
            false,
        )),
        _ => None,
    }
}
