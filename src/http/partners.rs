//! The admin API's partners and settlement (`/admin/v1/partners`,
//! `/admin/v1/settlement/{period}`), behind the admin token like the rest;
//! changes are audit-logged as the admin API's.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState, Problem};
use crate::domain::partner::{Partner, Statement};
use crate::domain::time::now;
use crate::service::partners::{PartnerInput, PartnerView, statement_csv};
use crate::service::staff::Actor;

/// Every partner, its agreement and its prepaid points left
#[utoipa::path(
    get,
    path = "/partners",
    operation_id = "listPartners",
    responses((status = 200, description = "The partners", body = Vec<PartnerView>))
)]
pub(super) async fn partners(
    State(state): State<AppState>,
) -> Result<Json<Vec<PartnerView>>, ApiError> {
    Ok(Json(state.loyalty.partners().await?))
}

/// Make a merchant a partner or change its agreement; what is left out stays
#[utoipa::path(
    put,
    path = "/partners/{merchant}",
    operation_id = "setPartner",
    params(("merchant" = String, Path, description = "The merchant's id")),
    request_body = PartnerInput,
    responses(
        (status = 200, description = "The agreement as set", body = Partner),
        (status = 404, body = Problem, content_type = "application/problem+json",
            description = "No such merchant"),
        (status = 422, body = Problem, content_type = "application/problem+json",
            description = "Invalid field (named in field)"),
    )
)]
pub(super) async fn set_partner(
    State(state): State<AppState>,
    Path(merchant): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Partner>, ApiError> {
    let input: PartnerInput = super::admin::json(&body)?;
    let p = state
        .loyalty
        .staff_set_partner(&Actor::AdminApi, &merchant, &input, now())
        .await?;
    Ok(Json(p))
}

#[derive(serde::Deserialize)]
pub(super) struct Format {
    #[serde(default)]
    format: Option<String>,
}

fn answer(s: Statement, f: &Format) -> Response {
    match f.format.as_deref() {
        Some("csv") => (
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            statement_csv(&s),
        )
            .into_response(),
        _ => Json(s).into_response(),
    }
}

/// A month's settlement statement: per pair the points and the amount, each
/// partner's net position and breakage (`?format=csv` for CSV)
#[utoipa::path(
    get,
    path = "/settlement/{period}",
    operation_id = "settlement",
    params(
        ("period" = String, Path, description = "The month, e.g. 2026-11"),
        ("format" = Option<String>, Query, description = "csv for CSV"),
    ),
    responses(
        (status = 200, description = "The statement", body = Statement),
        (status = 422, body = Problem, content_type = "application/problem+json",
            description = "Not a month"),
    )
)]
pub(super) async fn settlement(
    State(state): State<AppState>,
    Path(period): Path<String>,
    Query(f): Query<Format>,
) -> Result<Response, ApiError> {
    Ok(answer(state.loyalty.settlement(&period).await?, &f))
}

/// Close a month that has ended: its statement never changes after
#[utoipa::path(
    post,
    path = "/settlement/{period}/close",
    operation_id = "closeSettlement",
    params(
        ("period" = String, Path, description = "The month, e.g. 2026-11"),
        ("format" = Option<String>, Query, description = "csv for CSV"),
    ),
    responses(
        (status = 200, description = "The statement as closed", body = Statement),
        (status = 422, body = Problem, content_type = "application/problem+json",
            description = "Not a month, or one that has not ended"),
    )
)]
pub(super) async fn close(
    State(state): State<AppState>,
    Path(period): Path<String>,
    Query(f): Query<Format>,
) -> Result<Response, ApiError> {
    let s = state
        .loyalty
        .staff_close_settlement(&Actor::AdminApi, &period, now())
        .await?;
    Ok(answer(s, &f))
}
