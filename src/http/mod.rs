//! The HTTP server: the signed merchant API, health checks and the OpenAPI
//! document. Handlers extract, call a service, render; nothing else.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::TcpListener;

use crate::domain::model::{Merchant, Recorded, Secret};
use crate::domain::time::now;
use crate::service::Loyalty;
use crate::store::StoreError;

pub mod admin;
pub mod error;
pub mod qr;
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
    merchants: Arc<RwLock<HashMap<String, (Merchant, Instant)>>>,
}

impl AppState {
    pub fn new(loyalty: Arc<Loyalty>) -> AppState {
        AppState {
            loyalty,
            admin_token: None,
            merchants: Arc::default(),
        }
    }

    pub fn with_admin_token(mut self, token: Option<Secret>) -> AppState {
        self.admin_token = token.map(Arc::new);
        self
    }

    async fn merchant(&self, id: &str) -> Result<Option<Merchant>, ApiError> {
        if let Some((m, at)) = self.merchants.read().expect("not poisoned").get(id)
            && at.elapsed() < MERCHANT_TTL
        {
            return Ok(Some(m.clone()));
        }
        match self.loyalty.store().merchant(id).await {
            Ok(m) => {
                self.merchants
                    .write()
                    .expect("not poisoned")
                    .insert(id.to_string(), (m.clone(), Instant::now()));
                Ok(Some(m))
            }
            Err(StoreError::NotFound(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/purchases", post(purchase))
        .route("/v1/refunds", post(refund))
        .route("/v1/vouchers/{code}/use", post(use_voucher))
        .merge(admin::routes())
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/openapi.json", get(openapi))
        .fallback(not_found)
        .with_state(state)
}

/// A request from a merchant, its signature checked on the raw body.
struct Signed {
    merchant: Merchant,
    body: Bytes,
}

impl Signed {
    async fn check(state: &AppState, headers: &HeaderMap, body: Body) -> Result<Signed, ApiError> {
        let body = axum::body::to_bytes(body, MAX_BODY)
            .await
            .map_err(|_| ApiError::payload_too_large())?;
        let unauthorized = |detail: &str| {
            ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", detail.to_string())
        };
        let id = headers
            .get("x-taem-merchant")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| unauthorized("the X-Taem-Merchant header is missing"))?;
        let signature = headers
            .get("x-taem-signature")
            .and_then(|v| v.to_str().ok());
        // An unknown merchant gets the same answer as a wrong signature, so the
        // API does not reveal which merchant ids exist.
        let merchant = state
            .merchant(id)
            .await?
            .ok_or(ApiError::from(signature::SignatureError::Mismatch))?;
        signature::verify(
            signature,
            merchant.webhook_secret.expose(),
            &body,
            now().timestamp(),
        )?;
        Ok(Signed { merchant, body })
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
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let req = Signed::check(&state, &headers, body).await?;
    let receipt = state
        .loyalty
        .record_purchase(&req.merchant, req.json()?, now())
        .await?;
    Ok(recorded(receipt))
}

async fn refund(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let req = Signed::check(&state, &headers, body).await?;
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

async fn use_voucher(
    State(state): State<AppState>,
    Path(code): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let req = Signed::check(&state, &headers, body).await?;
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
    match state.loyalty.store().ping().await {
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
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not-found",
        "no such endpoint; see /openapi.json",
    )
}

/// Serves until `shutdown` resolves, then finishes in-flight requests. `extra`
/// holds the chat platforms' webhook routes.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    extra: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state)
        .merge(extra)
        .layer(tower_http::trace::TraceLayer::new_for_http());
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Binds the address, reporting a clear error when it is taken.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}
