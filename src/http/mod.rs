//! The HTTP server: the signed merchant API, health checks and the OpenAPI
//! document. Handlers extract, call a service, render; nothing else.
//!
//! Every route is mounted through [`api`] with `utoipa_axum::routes!`, which
//! takes the path, method, parameters, body and answers from the handler's
//! `#[utoipa::path]` annotation: the document served at `/openapi.json` is
//! generated from the same registrations that mount the routes.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::TcpListener;
use utoipa::{IntoParams, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::model::{Merchant, MoneyJson, PurchaseReceipt, Recorded, RefundReceipt, Secret};
use crate::domain::time::now;
use crate::service::ServiceError;
use crate::service::{Loyalty, PurchaseRequest, RefundRequest};

pub mod admin;
pub mod error;
mod journeys;
mod partners;
mod payments;
pub mod qr;
mod reports;
pub mod server;
pub mod signature;

pub use error::{ApiError, Problem};

/// Request bodies larger than this are refused with 413.
pub const MAX_BODY: usize = 64 * 1024;
/// How long a merchant (and its secret) is cached between database reads.
const MERCHANT_TTL: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct AppState {
    pub loyalty: Arc<Loyalty>,
    /// The admin API's bearer token; `None` switches the admin API off.
    admin_token: Option<Arc<Secret>>,
    /// `GET /metrics`' bearer token; `None`: open (keep it on a private network).
    metrics_token: Option<Arc<Secret>>,
    /// Whether body-only (v1) signatures are still accepted where the body names
    /// what the request acts on (`TAEM_SIGNATURE_V1`).
    accept_v1: bool,
    merchants: Arc<RwLock<HashMap<String, (Merchant, Instant)>>>,
    /// The OpenAPI document as JSON, generated once by [`router`].
    openapi: Bytes,
}

impl AppState {
    pub fn new(loyalty: Arc<Loyalty>) -> AppState {
        AppState {
            loyalty,
            admin_token: None,
            metrics_token: None,
            accept_v1: true,
            merchants: Arc::default(),
            openapi: Bytes::new(),
        }
    }

    pub fn with_v1_signatures(mut self, accept: bool) -> AppState {
        self.accept_v1 = accept;
        self
    }

    pub fn with_admin_token(mut self, token: Option<Secret>) -> AppState {
        self.admin_token = token.map(Arc::new);
        self
    }

    pub fn with_metrics_token(mut self, token: Option<Secret>) -> AppState {
        self.metrics_token = token.map(Arc::new);
        self
    }

    /// The merchant, from the cache unless `fresh` (or too old).
    async fn merchant(&self, id: &str, fresh: bool) -> Result<Option<Merchant>, ApiError> {
        if !fresh
            && let Some((m, at)) = self.merchants.read().expect("not poisoned").get(id)
            && at.elapsed() < MERCHANT_TTL
        {
            return Ok(Some(m.clone()));
        }
        match self.loyalty.merchant(id).await {
            Ok(m) => {
                self.merchants
                    .write()
                    .expect("not poisoned")
                    .insert(id.to_string(), (m.clone(), Instant::now()));
                Ok(Some(m))
            }
            Err(ServiceError::NotFound(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

/// Every route with its documentation. Mount routes here, with `routes!`, and
/// nowhere else: a route mounted with a plain `.route(...)` is missing from the
/// document, and `api::every_mounted_route_is_in_the_openapi_document_and_nothing_else`
/// (tests/it) fails.
pub fn api(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(purchase))
        .routes(routes!(refund))
        .routes(routes!(use_voucher))
        .routes(routes!(payments::reserve))
        .routes(routes!(payments::show))
        .routes(routes!(payments::capture))
        .routes(routes!(payments::release))
        .merge(admin::routes(state.clone()))
        .routes(routes!(healthz))
        .routes(routes!(metrics))
        .routes(routes!(readyz))
        .routes(routes!(openapi))
}

pub fn router(state: AppState) -> Router {
    // The recorder is installed before anything is counted.
    crate::metrics::handle();
    let (routes, doc) = api(&state).split_for_parts();
    let state = AppState {
        openapi: doc
            .to_pretty_json()
            .expect("the document serializes")
            .into(),
        ..state
    };
    routes.fallback(not_found).with_state(state)
}

/// What the document says beyond its routes.
#[derive(OpenApi)]
#[openapi(info(title = "taem merchant API", version = "1", description = DESCRIPTION))]
struct ApiDoc;

const DESCRIPTION: &str = "Merchants post purchases and refunds, and staff use vouchers at the \
counter. Every request under /v1 is signed: `X-Taem-Merchant: <merchant id>` and \
`X-Taem-Signature: t=<unix seconds>,v2=<lowercase hex HMAC-SHA256(webhook secret, \
\"<t>.<METHOD>.<path>.<raw body>\")>`, which binds the signature to its request line: a \
signature is valid for one method and path only. Example: secret \
`whsec_3f1c0d5e8a7b6c4d2e1f0a9b8c7d6e5f`, t `1700000000`, `POST /v1/purchases`, body \
`{\"receipt_id\":\"R-0001\",\"amount\":\"1250.50\",\"currency\":\"THB\"}` give \
`t=1700000000,v2=6975c3b82a54bdb761bb8f4e0f1eb039b2b359adca59332a931c12c32c66f71b`. During the \
transition from the first version, `v1=<hex HMAC-SHA256(secret, \"<t>.<raw body>\")>` is still \
accepted for purchases and refunds, and for a voucher use whose body names the voucher \
(`{\"code\": ...}`), unless the server sets TAEM_SIGNATURE_V1=refuse. Signatures more than 300 s \
away from the server clock are refused; every signature failure gets the same 401. Errors are \
RFC 9457 problem+json. Bodies over 64 KiB are refused with 413, requests slower than 30 s with \
408. A refused request changes nothing.";

/// The headers that sign a merchant request, as the document lists them;
/// [`Signed::check`] reads them.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct SignedHeaders {
    /// The merchant id printed by `taem merchant add`
    #[param(rename = "X-Taem-Merchant", example = "m_7h3k9p2xab")]
    pub merchant: String,
    /// t=<unix seconds>,v2=<hex HMAC-SHA256(secret, "<t>.<METHOD>.<path>.<raw body>")>
    /// (v1= over "<t>.<raw body>" accepted during the transition where the body
    /// names its target); several values may be sent during a secret rotation
    #[param(
        rename = "X-Taem-Signature",
        example = "t=1700000000,v2=6975c3b82a54bdb761bb8f4e0f1eb039b2b359adca59332a931c12c32c66f71b"
    )]
    pub signature: String,
}

/// A request from a merchant, its signature checked on the raw body and the
/// request line.
struct Signed {
    merchant: Merchant,
    body: Bytes,
    version: signature::Version,
}

/// A signed merchant request as a handler's last extractor: the body read,
/// the merchant found and the signature checked over method, path and body.
impl axum::extract::FromRequest<AppState> for Signed {
    type Rejection = ApiError;

    async fn from_request(
        req: axum::extract::Request,
        state: &AppState,
    ) -> Result<Signed, ApiError> {
        let (parts, body) = req.into_parts();
        Signed::check(state, &parts.method, &parts.uri, &parts.headers, body).await
    }
}

impl Signed {
    async fn check(
        state: &AppState,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: Body,
    ) -> Result<Signed, ApiError> {
        let body = axum::body::to_bytes(body, MAX_BODY)
            .await
            .map_err(|_| ApiError::payload_too_large())?;
        // Every failure gets the same answer (`SignatureError::PUBLIC`): an
        // unknown merchant cannot be told from a wrong signature.
        let refused = || ApiError::from(signature::SignatureError::Mismatch);
        let id = headers
            .get("x-taem-merchant")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(refused)?;
        let header = headers
            .get("x-taem-signature")
            .and_then(|v| v.to_str().ok());
        let req = signature::Request {
            method: method.as_str(),
            path: uri.path(),
            body: &body,
        };
        let at = now();
        let mut merchant = state.merchant(id, false).await?.ok_or_else(refused)?;
        let mut verified = signature::verify(header, &merchant.secrets(at), &req, at.timestamp());
        if verified == Err(signature::SignatureError::Mismatch) {
            // The secret may have been rotated since the merchant was cached.
            merchant = state.merchant(id, true).await?.ok_or_else(refused)?;
            verified = signature::verify(header, &merchant.secrets(at), &req, at.timestamp());
        }
        let version = verified?;
        if version == signature::Version::V1 && !state.accept_v1 {
            return Err(refused());
        }
        Ok(Signed {
            merchant,
            body,
            version,
        })
    }

    fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        serde_json::from_slice(&self.body).map_err(ApiError::bad_json)
    }
}

fn recorded<T: Serialize>(r: Recorded<T>) -> Response {
    match r {
        Recorded::New(t) => (StatusCode::CREATED, Json(t)).into_response(),
        Recorded::Replay(t) => (StatusCode::OK, Json(t)).into_response(),
    }
}

/// Record a purchase and credit its points
#[utoipa::path(
    post,
    path = "/v1/purchases",
    operation_id = "recordPurchase",
    params(SignedHeaders),
    request_body = PurchaseRequest,
    responses(
        (status = 201, description = "Recorded", body = PurchaseReceipt),
        (status = 200, body = PurchaseReceipt,
            description = "The same receipt_id with the same body was recorded before: the original answer, no new points"),
        (status = 401, body = Problem, content_type = "application/problem+json",
            description = "Missing, malformed, wrong or stale signature, or unknown merchant"),
        (status = 409, body = Problem, content_type = "application/problem+json",
            description = "The receipt_id was recorded before with a different body"),
        (status = 413, body = Problem, content_type = "application/problem+json",
            description = "Body over 64 KiB"),
        (status = 422, body = Problem, content_type = "application/problem+json",
            description = "Invalid body; `field` names the field at fault (unknown member_code included)"),
    )
)]
async fn purchase(State(state): State<AppState>, req: Signed) -> Result<Response, ApiError> {
    let receipt = state
        .loyalty
        .record_purchase(&req.merchant, req.json()?, now())
        .await?;
    Ok(recorded(receipt))
}

/// Record a refund and claw back points in proportion
#[utoipa::path(
    post,
    path = "/v1/refunds",
    operation_id = "recordRefund",
    params(SignedHeaders),
    request_body = RefundRequest,
    responses(
        (status = 201, description = "Recorded", body = RefundReceipt),
        (status = 200, body = RefundReceipt,
            description = "Replay of a refund recorded before with the same body"),
        (status = 401, body = Problem, content_type = "application/problem+json",
            description = "Bad signature"),
        (status = 409, body = Problem, content_type = "application/problem+json",
            description = "The refund_id was recorded before with a different body"),
        (status = 413, body = Problem, content_type = "application/problem+json",
            description = "Body over 64 KiB"),
        (status = 422, body = Problem, content_type = "application/problem+json",
            description = "Invalid body, unknown receipt_id, or more than the amount still refundable"),
    )
)]
async fn refund(State(state): State<AppState>, req: Signed) -> Result<Response, ApiError> {
    let receipt = state
        .loyalty
        .record_refund(&req.merchant, req.json()?, now())
        .await?;
    Ok(recorded(receipt))
}

#[derive(Serialize, ToSchema)]
struct VoucherUsed {
    code: String,
    #[schema(schema_with = used)]
    status: &'static str,
    used_at: Option<chrono::DateTime<chrono::Utc>>,
    #[schema(inline)]
    reward: RewardView,
    #[schema(inline)]
    member: MemberView,
    /// What to take off the bill (with the basket: worked out on it)
    takeoff: crate::domain::offer::Takeoff,
}

/// A used voucher's status, the only one this answer carries.
fn used() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some([crate::domain::model::VoucherStatus::Used.as_str()]))
        .build()
}

#[derive(Serialize, ToSchema)]
struct RewardView {
    id: i64,
    name_th: String,
    name_en: String,
    cost: i64,
    #[serde(serialize_with = "crate::domain::model::serialize_money")]
    #[schema(value_type = MoneyJson)]
    face_value: crate::domain::Money,
}

/// Only what the counter needs to hand over the reward (PDPA: no more).
#[derive(Serialize, ToSchema)]
struct MemberView {
    code: String,
    name: Option<String>,
}

/// The optional body of a voucher use. A v1 signature covers only the body, so
/// it must name the voucher to be bound to it.
#[derive(serde::Deserialize, ToSchema)]
struct VoucherUseBody {
    /// The voucher code, as in the path: required when the request is signed with v1
    #[serde(default)]
    #[schema(nullable = false)]
    code: Option<String>,
    /// The bill the voucher is used on: the answer then says exactly what to take
    /// off, and a voucher that does not apply to it is refused (422). Required for
    /// a percentage discount.
    #[serde(default)]
    #[schema(nullable = false)]
    basket: Option<crate::service::BasketInput>,
}

/// Use a voucher at the counter
#[utoipa::path(
    post,
    path = "/v1/vouchers/{code}/use",
    operation_id = "useVoucher",
    params(
        SignedHeaders,
        ("code" = String, Path, description = "The voucher code (case and dashes ignored)"),
    ),
    request_body(
        content = inline(Option<VoucherUseBody>),
        description = "Empty, `{}`, or the voucher code and the basket; it is signed like any other body. A v1 signature must name the voucher here."
    ),
    responses(
        (status = 200, description = "Used", body = VoucherUsed),
        (status = 401, body = Problem, content_type = "application/problem+json",
            description = "Bad signature"),
        (status = 404, body = Problem, content_type = "application/problem+json",
            description = "No such voucher"),
        (status = 409, body = Problem, content_type = "application/problem+json",
            description = "Already used"),
        (status = 410, body = Problem, content_type = "application/problem+json",
            description = "Expired or cancelled"),
        (status = 422, body = Problem, content_type = "application/problem+json",
            description = "The voucher does not apply to the basket, or needs one"),
    )
)]
async fn use_voucher(
    State(state): State<AppState>,
    Path(code): Path<String>,
    req: Signed,
) -> Result<Response, ApiError> {
    let parsed = if req.body.iter().all(u8::is_ascii_whitespace) {
        Ok(None)
    } else {
        serde_json::from_slice::<VoucherUseBody>(&req.body).map(Some)
    };
    if req.version == signature::Version::V1 {
        let named = parsed
            .as_ref()
            .ok()
            .and_then(|b| b.as_ref()?.code.as_deref())
            .and_then(crate::domain::VoucherCode::parse);
        if named.is_none() || named != crate::domain::VoucherCode::parse(&code) {
            return Err(signature::SignatureError::Mismatch.into());
        }
    }
    let parsed = parsed.map_err(|e| {
        ApiError::from(crate::service::ServiceError::Invalid {
            field: "body".into(),
            message: e.to_string(),
        })
    })?;
    let basket = parsed.and_then(|b| b.basket);
    let used = state
        .loyalty
        .use_voucher_on(&req.merchant, &code, basket.as_ref(), now())
        .await?;
    Ok(Json(VoucherUsed {
        code: used.voucher.code,
        status: used.voucher.status.as_str(),
        used_at: used.voucher.used_at,
        reward: RewardView {
            id: used.reward.id,
            name_th: used.reward.name_th,
            name_en: used.reward.name_en,
            cost: used.reward.cost.value(),
            face_value: used.reward.face_value,
        },
        member: MemberView {
            code: used.member.code,
            name: used.member.name,
        },
        takeoff: used.takeoff,
    })
    .into_response())
}

/// Prometheus metrics (text format): requests by route and status with
/// their durations, purchases, refunds, redemptions, points issued and
/// redeemed, pushes by app and outcome, sweep runs, the outbox's depth and
/// oldest row per app, database connections. With `TAEM_METRICS_TOKEN` set it
/// asks for it as a bearer token.
#[utoipa::path(
    get,
    path = "/metrics",
    responses(
        (status = 200, description = "The metrics", body = String, content_type = "text/plain"),
        (status = 401, body = Problem, content_type = "application/problem+json",
            description = "TAEM_METRICS_TOKEN is set and the request does not carry it"),
    )
)]
async fn metrics(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    if let Some(token) = &state.metrics_token {
        let given = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        let same: bool =
            subtle::ConstantTimeEq::ct_eq(given.as_bytes(), token.expose().as_bytes()).into();
        if !same {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "GET /metrics needs the bearer token TAEM_METRICS_TOKEN",
            )
            .into_response();
        }
    }
    let now = crate::domain::time::now();
    match state.loyalty.outbox_depth().await {
        Ok(rows) => {
            for app in ["telegram", "line"] {
                let (queued, oldest) = rows
                    .iter()
                    .find(|(a, _, _)| a == app)
                    .map_or((0, None), |(_, n, at)| (*n, *at));
                let age = oldest.and_then(|t| (now - t).to_std().ok());
                crate::metrics::outbox(app, queued, age);
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: the outbox could not be read"),
    }
    match state.loyalty.inbox_depth().await {
        Ok(d) => crate::metrics::inbox(d.waiting, d.oldest.and_then(|t| (now - t).to_std().ok())),
        Err(e) => tracing::warn!(error = %e, "metrics: the inbox could not be read"),
    }
    match state.loyalty.line_pause(now).await {
        Ok(pause) => crate::metrics::line_paused(pause.is_some()),
        Err(e) => tracing::warn!(error = %e, "metrics: the LINE pause could not be read"),
    }
    if let Some((busy, idle)) = state.loyalty.connections() {
        crate::metrics::connections(busy, idle);
    }
    let handle = crate::metrics::handle();
    handle.run_upkeep();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response()
}

/// Liveness
#[utoipa::path(
    get,
    path = "/healthz",
    responses((status = 200, description = "The process is up", body = String, content_type = "text/plain"))
)]
async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the database answers
#[utoipa::path(
    get,
    path = "/readyz",
    responses(
        (status = 200, description = "Ready", body = String, content_type = "text/plain"),
        (status = 503, body = Problem, content_type = "application/problem+json",
            description = "The database is not reachable"),
    )
)]
async fn readyz(State(state): State<AppState>) -> Response {
    match state.loyalty.ping().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not-ready",
                "the database is not reachable",
            )
            .into_response()
        }
    }
}

/// This document
#[utoipa::path(
    get,
    path = "/openapi.json",
    responses((status = 200, description = "OpenAPI 3.1", content_type = "application/json"))
)]
async fn openapi(State(state): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], state.openapi).into_response()
}

async fn not_found() -> ApiError {
    ApiError::no_such_endpoint()
}

/// Serves until `shutdown` says stop, then finishes in-flight requests within
/// the limits' grace period. `extra` holds the chat platforms' webhook routes.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    extra: Router,
    limits: crate::config::HttpLimits,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    let app = server::with_limits(router(state).merge(extra), &limits);
    server::serve(listener, app, limits, shutdown).await
}

/// Binds the address, reporting a clear error when it is taken.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}
