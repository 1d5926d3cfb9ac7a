//! The admin API (`/admin/v1/...`): campaigns and tiers for back-office tools.
//! Every request carries `Authorization: Bearer <TAEM_ADMIN_TOKEN>`, compared in
//! constant time; without `TAEM_ADMIN_TOKEN` the admin API is switched off.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::{ApiError, AppState};
use crate::domain::Points;
use crate::domain::earn::Breakdown;
use crate::domain::model::TierChange;
use crate::domain::notice::BroadcastStatus;
use crate::domain::tier::Tier;
use crate::domain::time::now;
use crate::service::ServiceError;
use crate::service::campaigns::{CampaignInput, CampaignReport};
use crate::service::{PurchaseItem, PurchaseRequest};

/// The admin routes, nested under `/admin/v1`. The bearer token is checked
/// first, for every path under it (unknown ones included), before any path
/// parameter is parsed or any body read.
pub fn routes(state: AppState) -> Router<AppState> {
    let api = Router::new()
        .route("/campaigns", get(list).post(add))
        .route("/campaigns/simulate", post(simulate))
        .route("/campaigns/{id}", get(show))
        .route("/campaigns/{id}/end", post(end))
        .route(
            "/campaigns/{id}/broadcast",
            post(broadcast).get(broadcast_status),
        )
        .route("/tiers", get(tiers))
        .route("/tiers/review", post(review))
        .fallback(super::not_found)
        .layer(axum::extract::DefaultBodyLimit::max(super::MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(state, guard));
    Router::new().nest("/admin/v1", api)
}

async fn guard(
    State(state): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match authorize(&state, req.headers()) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

/// Checks the bearer token before anything else is read.
fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(token) = &state.admin_token else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "admin-api-off",
            "the admin API is switched off: set TAEM_ADMIN_TOKEN to use it",
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if bool::from(given.as_bytes().ct_eq(token.expose().as_bytes())) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid Authorization: Bearer token is required",
        ))
    }
}

fn json<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(ApiError::bad_json)
}

async fn list(State(state): State<AppState>) -> Result<Json<Vec<CampaignReport>>, ApiError> {
    Ok(Json(state.loyalty.campaign_reports(now()).await?))
}

async fn add(State(state): State<AppState>, body: axum::body::Bytes) -> Result<Response, ApiError> {
    let input: CampaignInput = json(&body)?;
    let now = now();
    let c = state.loyalty.add_campaign(&input, now).await?;
    let report = state.loyalty.campaign_report(c.id, now).await?;
    Ok((StatusCode::CREATED, Json(report)).into_response())
}

async fn show(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<CampaignReport>, ApiError> {
    Ok(Json(state.loyalty.campaign_report(id, now()).await?))
}

async fn end(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<CampaignReport>, ApiError> {
    Ok(Json(state.loyalty.end_campaign(id, now()).await?))
}

#[derive(Debug, Serialize)]
struct Broadcast {
    /// Rows queued by this request (members already queued are not queued again).
    queued_now: u64,
    #[serde(flatten)]
    status: BroadcastStatus,
}

async fn broadcast(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let (queued_now, status) = state.loyalty.broadcast(id, now()).await?;
    Ok((StatusCode::ACCEPTED, Json(Broadcast { queued_now, status })).into_response())
}

async fn broadcast_status(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<BroadcastStatus>, ApiError> {
    Ok(Json(state.loyalty.broadcast_status(id).await?))
}

/// `POST /admin/v1/campaigns/simulate`: what a purchase would earn.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SimulateRequest {
    merchant_id: String,
    amount: String,
    #[serde(default)]
    member_code: Option<String>,
    #[serde(default)]
    occurred_at: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default)]
    items: Option<Vec<PurchaseItem>>,
}

#[derive(Debug, Serialize)]
pub struct Simulation {
    pub points: Points,
    pub breakdown: Breakdown,
}

async fn simulate(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Json<Simulation>, ApiError> {
    let req: SimulateRequest = json(&body)?;
    let merchant = match state.loyalty.merchant(&req.merchant_id).await {
        Err(ServiceError::NotFound(_)) => {
            return Err(ApiError {
                field: Some("merchant_id".into()),
                ..ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid-request",
                    format!("merchant_id: no merchant has the id {:?}", req.merchant_id),
                )
            });
        }
        other => other?,
    };
    let now = now();
    let breakdown = state
        .loyalty
        .simulate_purchase(
            &merchant,
            PurchaseRequest {
                receipt_id: "simulation".into(),
                amount: req.amount,
                currency: merchant.currency.code().into(),
                member_code: req.member_code,
                occurred_at: Some(req.occurred_at.unwrap_or(now)),
                items: req.items,
            },
            now,
        )
        .await?;
    Ok(Json(Simulation {
        points: breakdown.total(),
        breakdown,
    }))
}

async fn tiers(State(state): State<AppState>) -> Result<Json<Vec<Tier>>, ApiError> {
    Ok(Json(state.loyalty.program().await?.tiers.all().to_vec()))
}

async fn review(State(state): State<AppState>) -> Result<Json<Vec<TierChange>>, ApiError> {
    Ok(Json(state.loyalty.review_tiers(now()).await?))
}
