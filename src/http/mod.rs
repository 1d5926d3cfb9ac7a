//! The HTTP server: the signed merchant API, health checks and the OpenAPI
//! document. Handlers extract, call a service, render; nothing else.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::TcpListener;

use crate::domain::model::{Merchant, Recorded, Secret};
use crate::domain::time::now;
use crate::service::Loyalty;
use crate::service::ServiceError;

pub mod admin;
pub mod error;
pub mod qr;
pub mod server;
pub mod signature;

pub use error::ApiError;

/// Request bodies larger than this are refused with 413.
pub const MAX_BODY: usize = 64 * 1024;
/// How long a merchant (and its secret) is cached between database reads.
const MERCHANT_TTL: Duration = Duration::from_secs(30);
const OPENAPI: &str = include_str!("openapi.json");

#[derive(Clone)]
pub struct AppState {
    pub loyalty: Arc<Loyalty>,
    /// The admin API's bearer token; `None` switches the admin API off.
    admin_token: Option<Arc<Secret>>,
    /// Whether body-only (v1) signatures are still accepted where the body names
    /// what the request acts on (`TAEM_SIGNATURE_V1`).
    accept_v1: bool,
    merchants: Arc<RwLock<HashMap<String, (Merchant, Instant)>>>,
}

impl AppState {
    pub fn new(loyalty: Arc<Loyalty>) -> AppState {
        AppState {
            loyalty,
            admin_token: None,
            accept_v1: true,
            merchants: Arc::default(),
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

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/purchases", post(purchase))
        .route("/v1/refunds", post(refund))
        .route("/v1/vouchers/{code}/use", post(use_voucher))
        .merge(admin::routes(state.clone()))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/openapi.json", get(openapi))
        .fallback(not_found)
        .with_state(state)
}

/// A request from a merchant, its signature checked on the raw body and the
/// request line.
struct Signed {
    merchant: Merchant,
    body: Bytes,
    version: signature::Version,
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

async fn purchase(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let req = Signed::check(&state, &method, &uri, &headers, body).await?;
    let receipt = state
        .loyalty
        .record_purchase(&req.merchant, req.json()?, now())
        .await?;
    Ok(recorded(receipt))
}

async fn refund(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let req = Signed::check(&state, &method, &uri, &headers, body).await?;
    let receipt = state
        .loyalty
        .record_refund(&req.merchant, req.json()?, now())
        .await?;
    Ok(recorded(receipt))
}

#[derive(Serialize)]
struct VoucherUsed {
    code: String,
    status: &'static str,
    used_at: Option<chrono::DateTime<chrono::Utc>>,
    reward: RewardView,
    member: MemberView,
}

#[derive(Serialize)]
struct RewardView {
    id: i64,
    name_th: String,
    name_en: String,
    cost: i64,
    #[serde(serialize_with = "crate::domain::model::serialize_money")]
    face_value: crate::domain::Money,
}

/// Only what the counter needs to hand over the reward (PDPA: no more).
#[derive(Serialize)]
struct MemberView {
    code: String,
    name: Option<String>,
}

/// The optional body of a voucher use. A v1 signature covers only the body, so
/// it must name the voucher to be bound to it.
#[derive(serde::Deserialize)]
struct VoucherUseBody {
    #[serde(default)]
    code: Option<String>,
}

async fn use_voucher(
    State(state): State<AppState>,
    Path(code): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let req = Signed::check(&state, &method, &uri, &headers, body).await?;
    if req.version == signature::Version::V1 {
        let named = serde_json::from_slice::<VoucherUseBody>(&req.body)
            .ok()
            .and_then(|b| b.code)
            .and_then(|c| crate::domain::VoucherCode::parse(&c));
        if named.is_none() || named != crate::domain::VoucherCode::parse(&code) {
            return Err(signature::SignatureError::Mismatch.into());
        }
    }
    let used = state
        .loyalty
        .use_voucher(&req.merchant, &code, now())
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
    })
    .into_response())
}

async fn healthz() -> &'static str {
    "ok"
}

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

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
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
