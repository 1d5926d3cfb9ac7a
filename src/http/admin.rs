//! The admin API (`/admin/v1/...`): campaigns and tiers for back-office tools.
//! Every request carries `Authorization: Bearer <TAEM_ADMIN_TOKEN>`, compared in
//! constant time; without `TAEM_ADMIN_TOKEN` the admin API is switched off.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, ResponseBuilder};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiError, AppState, Problem};
use crate::domain::Points;
use crate::domain::RuleHit;
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
pub fn routes(state: AppState) -> OpenApiRouter<AppState> {
    let mut api = OpenApiRouter::default()
        .routes(routes!(list, add))
        .routes(routes!(simulate))
        .routes(routes!(show))
        .routes(routes!(end))
        .routes(routes!(broadcast, broadcast_status))
        .routes(routes!(tiers))
        .routes(routes!(rewards, add_reward))
        .routes(routes!(review))
        .routes(routes!(super::reports::points))
        .routes(routes!(super::reports::points_csv))
        .routes(routes!(super::reports::liability))
        .routes(routes!(super::reports::redemption))
        .routes(routes!(super::reports::members))
        .routes(routes!(super::reports::segments))
        .routes(routes!(super::reports::summary))
        .routes(routes!(super::reports::campaigns))
        .routes(routes!(super::reports::segment_members))
        .routes(routes!(super::journeys::journeys))
        .routes(routes!(super::journeys::set_journey))
        .routes(routes!(super::journeys::run))
        .routes(routes!(super::journeys::count))
        .routes(routes!(super::partners::partners))
        .routes(routes!(super::partners::set_partner))
        .routes(routes!(super::partners::settlement))
        .routes(routes!(super::partners::close))
        .fallback(super::not_found)
        .layer(axum::extract::DefaultBodyLimit::max(super::MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(state, guard));
    document_guard(api.get_openapi_mut());
    OpenApiRouter::default().nest("/admin/v1", api)
}

const ADMIN_TOKEN: &str = "adminToken";

/// What [`guard`] adds to every admin operation: the bearer token, and its two
/// refusals.
fn document_guard(doc: &mut OpenApi) {
    let problem = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/problem+json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build()
    };
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
            &mut item.options,
            &mut item.trace,
        ];
        for op in operations.into_iter().flatten() {
            op.tags.get_or_insert_default().push("admin".into());
            op.security
                .get_or_insert_default()
                .push(SecurityRequirement::new(ADMIN_TOKEN, Vec::<String>::new()));
            let answers = &mut op.responses.responses;
            answers.insert(
                "401".into(),
                problem("Missing or wrong bearer token").into(),
            );
            answers.insert(
                "503".into(),
                problem("The admin API is off (no TAEM_ADMIN_TOKEN)").into(),
            );
        }
    }
    doc.components
        .get_or_insert_default()
        .security_schemes
        .insert(
            ADMIN_TOKEN.into(),
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "TAEM_ADMIN_TOKEN; without it the admin API answers 503",
                    ))
                    .build(),
            )
            .into(),
        );
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

pub(super) fn json<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(ApiError::bad_json)
}

/// List campaigns, newest first
#[utoipa::path(
    get,
    path = "/campaigns",
    operation_id = "listCampaigns",
    responses((status = 200, description = "Campaigns", body = Vec<CampaignReport>))
)]
async fn list(State(state): State<AppState>) -> Result<Json<Vec<CampaignReport>>, ApiError> {
    Ok(Json(state.loyalty.campaign_reports(now()).await?))
}

/// Create a campaign
#[utoipa::path(
    post,
    path = "/campaigns",
    operation_id = "addCampaign",
    request_body = CampaignInput,
    responses(
        (status = 201, description = "Created", body = CampaignReport),
        (status = 422, body = Problem, content_type = "application/problem+json",
            description = "Invalid field (named in field)"),
    )
)]
async fn add(State(state): State<AppState>, body: axum::body::Bytes) -> Result<Response, ApiError> {
    let input: CampaignInput = json(&body)?;
    let now = now();
    let c = state.loyalty.add_campaign(&input, now).await?;
    let report = state.loyalty.campaign_report(c.id, now).await?;
    Ok((StatusCode::CREATED, Json(report)).into_response())
}

/// One campaign and its results
#[utoipa::path(
    get,
    path = "/campaigns/{id}",
    operation_id = "showCampaign",
    params(("id" = i64, Path)),
    responses(
        (status = 200, description = "The campaign", body = CampaignReport),
        (status = 404, body = Problem, content_type = "application/problem+json",
            description = "No such campaign"),
    )
)]
async fn show(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<CampaignReport>, ApiError> {
    Ok(Json(state.loyalty.campaign_report(id, now()).await?))
}

/// End a campaign now
#[utoipa::path(
    post,
    path = "/campaigns/{id}/end",
    operation_id = "endCampaign",
    params(("id" = i64, Path)),
    responses(
        (status = 200, description = "The campaign, ended", body = CampaignReport),
        (status = 404, body = Problem, content_type = "application/problem+json",
            description = "No such campaign"),
    )
)]
async fn end(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<CampaignReport>, ApiError> {
    Ok(Json(state.loyalty.end_campaign(id, now()).await?))
}

#[derive(Debug, Serialize, ToSchema)]
struct Broadcast {
    /// Messages queued by this request (members already queued are not queued again)
    queued_now: u64,
    #[serde(flatten)]
    status: BroadcastStatus,
}

/// Announce a campaign: queue its text for every opted-in member
#[utoipa::path(
    post,
    path = "/campaigns/{id}/broadcast",
    operation_id = "broadcastCampaign",
    description = "One message per member and chat app that reaches them, in the member's language; `taem serve` delivers them outside quiet hours, within the apps' rate limits. Calling it again queues only members not queued before. With LINE configured, the LINE messages it would send are checked first against what is left of LINE's monthly quota (less what is already queued for LINE): over it, or when the quota cannot be read, nothing is queued unless `force=true`.",
    params(
        ("id" = i64, Path),
        ("force" = Option<bool>, Query,
            description = "Queue it even past LINE's monthly quota (members beyond it get it when LINE allows again)"),
    ),
    responses(
        (status = 202, description = "Queued; what this request queued, and the broadcast's progress", body = Broadcast),
        (status = 404, body = Problem, content_type = "application/problem+json",
            description = "No such campaign"),
        (status = 409, body = Problem, content_type = "application/problem+json",
            description = "Its LINE messages would go over what is left of LINE's monthly quota (the detail names the numbers); nothing was queued"),
        (status = 422, body = Problem, content_type = "application/problem+json",
            description = "The campaign has ended"),
        (status = 503, body = Problem, content_type = "application/problem+json",
            description = "LINE's quota could not be read; nothing was queued"),
    )
)]
async fn broadcast(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let force = q.get("force").is_some_and(|v| v == "true");
    let (queued_now, status) = state.loyalty.broadcast(id, force, now()).await?;
    Ok((StatusCode::ACCEPTED, Json(Broadcast { queued_now, status })).into_response())
}

/// How far a campaign's announcement has gone
#[utoipa::path(
    get,
    path = "/campaigns/{id}/broadcast",
    operation_id = "broadcastStatus",
    params(("id" = i64, Path)),
    responses(
        (status = 200, description = "The broadcast's messages by status", body = BroadcastStatus),
        (status = 404, body = Problem, content_type = "application/problem+json",
            description = "No such campaign"),
    )
)]
async fn broadcast_status(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<BroadcastStatus>, ApiError> {
    Ok(Json(state.loyalty.broadcast_status(id).await?))
}

/// `POST /admin/v1/campaigns/simulate`: what a purchase would earn.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SimulateRequest {
    merchant_id: String,
    #[schema(value_type = crate::domain::money::Amount)]
    amount: String,
    #[serde(default)]
    member_code: Option<String>,
    #[serde(default)]
    occurred_at: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default)]
    items: Option<Vec<PurchaseItem>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Simulation {
    #[schema(value_type = i64)]
    pub points: Points,
    #[schema(value_type = Vec<RuleHit>)]
    pub breakdown: Breakdown,
}

/// What a purchase would earn now, without recording it
#[utoipa::path(
    post,
    path = "/campaigns/simulate",
    operation_id = "simulatePurchase",
    request_body = SimulateRequest,
    responses(
        (status = 200, description = "Points and breakdown", body = Simulation),
        (status = 422, body = Problem, content_type = "application/problem+json",
            description = "Invalid field"),
    )
)]
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

/// The tiers
#[utoipa::path(
    get,
    path = "/tiers",
    operation_id = "listTiers",
    responses((status = 200, description = "Tiers, lowest first", body = Vec<Tier>))
)]
async fn tiers(State(state): State<AppState>) -> Result<Json<Vec<Tier>>, ApiError> {
    Ok(Json(state.loyalty.program().await?.tiers.all().to_vec()))
}

/// Run the periodic tier review now
#[utoipa::path(
    post,
    path = "/tiers/review",
    operation_id = "reviewTiers",
    responses((status = 200, description = "Members moved down", body = Vec<TierChange>))
)]
async fn review(State(state): State<AppState>) -> Result<Json<Vec<TierChange>>, ApiError> {
    Ok(Json(state.loyalty.review_tiers(now()).await?))
}

/// A reward to add, as `POST /admin/v1/rewards` takes it (`taem reward add`'s
/// fields).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RewardBody {
    name_th: String,
    name_en: String,
    #[serde(default)]
    description_th: String,
    #[serde(default)]
    description_en: String,
    /// Points it costs
    cost: i64,
    /// Vouchers available in all (unlimited when absent)
    #[serde(default)]
    stock: Option<i64>,
    /// Vouchers one member may redeem (unlimited when absent)
    #[serde(default)]
    limit: Option<i64>,
    /// RFC 3339, or a local date (its midnight)
    #[serde(default)]
    valid_from: Option<String>,
    /// RFC 3339, or a local date (through the whole day)
    #[serde(default)]
    valid_until: Option<String>,
    /// What one voucher is worth to the customer (a fixed discount's amount off)
    #[serde(default)]
    #[schema(value_type = Option<crate::domain::money::Amount>)]
    face_value: Option<String>,
    /// Days a voucher stays valid (default 30)
    #[serde(default)]
    voucher_days: Option<u32>,
    /// `product` (default), `fixed_discount`, `percent_discount` or `draw_entry`
    #[serde(default)]
    kind: Option<String>,
    /// A free product's SKU at the till
    #[serde(default)]
    sku: Option<String>,
    /// The smallest bill a discount applies to
    #[serde(default)]
    #[schema(value_type = Option<crate::domain::money::Amount>)]
    min_basket: Option<String>,
    /// A percent discount's share, e.g. "15" or "12.5"
    #[serde(default)]
    percent: Option<String>,
    /// The most a percent discount takes off
    #[serde(default)]
    #[schema(value_type = Option<crate::domain::money::Amount>)]
    cap: Option<String>,
    /// Categories a percent discount is limited to
    #[serde(default)]
    categories: Vec<String>,
    /// The partner (a merchant id) whose reward it is: only its staff and
    /// signed API take its vouchers
    #[serde(default)]
    partner: Option<String>,
}

/// The reward catalogue (with `?all=true`, rewards not offered too)
#[utoipa::path(
    get,
    path = "/rewards",
    operation_id = "listRewards",
    params(("all" = Option<bool>, Query, description = "Include rewards not offered")),
    responses((status = 200, description = "Rewards", body = Vec<crate::domain::model::Reward>))
)]
async fn rewards(
    State(state): State<AppState>,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Result<Json<Vec<crate::domain::model::Reward>>, ApiError> {
    let all = q.get("all").is_some_and(|v| v == "true");
    Ok(Json(state.loyalty.rewards(all).await?))
}

/// Add a reward to the catalogue
#[utoipa::path(
    post,
    path = "/rewards",
    operation_id = "addReward",
    request_body = RewardBody,
    responses(
        (status = 201, description = "Added", body = crate::domain::model::Reward),
        (status = 422, body = Problem, content_type = "application/problem+json",
            description = "Invalid field (named in field)"),
    )
)]
async fn add_reward(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let b: RewardBody = json(&body)?;
    let tz = state.loyalty.timezone();
    let time = |field: &str, v: &Option<String>, end: bool| {
        v.as_deref()
            .map(|t| crate::service::campaigns::parse_time(field, t, tz, end))
            .transpose()
    };
    let currency = state.loyalty.program().await?.currency.code().to_string();
    let input = crate::service::RewardInput {
        name_th: b.name_th,
        name_en: b.name_en,
        description_th: b.description_th,
        description_en: b.description_en,
        cost: b.cost,
        stock: b.stock,
        per_member_limit: b.limit,
        valid_from: time("valid_from", &b.valid_from, false)?,
        valid_until: time("valid_until", &b.valid_until, true)?,
        face_value: b.face_value.unwrap_or_else(|| "0".into()),
        currency,
        voucher_days: b.voucher_days.unwrap_or(30),
        kind: b.kind.unwrap_or_default(),
        sku: b.sku,
        min_basket: b.min_basket,
        percent: b.percent,
        cap: b.cap,
        categories: b.categories,
        partner: b.partner,
    };
    let r = state.loyalty.add_reward(input, now()).await?;
    Ok((StatusCode::CREATED, Json(r)).into_response())
}
