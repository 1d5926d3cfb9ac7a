//! Paying with points at the till, over the signed merchant API: reserve, read,
//! capture, release. Each is signed like every merchant request; a merchant
//! sees only its own payments.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, Problem};
use super::{AppState, Signed, SignedHeaders, recorded};
use crate::domain::model::PointPayment;
use crate::domain::time::now;
use crate::service::payments::{CaptureRequest, PointPaymentRequest};

/// Take points from a member for a sale (held until captured or released)
///
/// The customer is asked in their chat app to confirm ("Use 200 points (฿50.00)
/// at Baan Kafe? Yes / No") unless the till sends the one-time `pay_code` they
/// show from their chat, which confirms it at once. The points are held (not
/// spendable elsewhere) until the till captures or releases the payment, the
/// customer says no, or the hold runs out (`expires_at`).
#[utoipa::path(
    post,
    path = "/v1/point-payments",
    operation_id = "reservePoints",
    params(SignedHeaders),
    request_body = PointPaymentRequest,
    responses(
        (status = 201, description = "Reserved: `awaiting_confirmation`, or `confirmed` with a fresh pay code", body = PointPayment),
        (status = 200, body = PointPayment,
            description = "The same request_id with the same body was reserved before: that payment, as it is now"),
        (status = 401, body = Problem, content_type = "application/problem+json", description = "Bad signature"),
        (status = 409, body = Problem, content_type = "application/problem+json",
            description = "The request_id was used before with a different body"),
        (status = 422, body = Problem, content_type = "application/problem+json",
            description = "Invalid body, not enough points, under the minimum, a pay code that is unknown, used or expired, or paying with points is off"),
    )
)]
pub(super) async fn reserve(
    State(state): State<AppState>,
    req: Signed,
) -> Result<Response, ApiError> {
    let p = state
        .loyalty
        .reserve_points(&req.merchant, req.json()?, now())
        .await?;
    Ok(recorded(p))
}

/// A payment with points, as it stands
#[utoipa::path(
    get,
    path = "/v1/point-payments/{id}",
    operation_id = "getPointPayment",
    params(SignedHeaders, ("id" = String, Path, description = "The payment's id (`pp_…`)")),
    responses(
        (status = 200, body = PointPayment, description = "The payment"),
        (status = 401, body = Problem, content_type = "application/problem+json", description = "Bad signature"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such payment of this merchant"),
    )
)]
pub(super) async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
    req: Signed,
) -> Result<Json<PointPayment>, ApiError> {
    Ok(Json(state.loyalty.point_payment(&req.merchant, &id).await?))
}

/// Make a confirmed payment final when the sale completes
#[utoipa::path(
    post,
    path = "/v1/point-payments/{id}/capture",
    operation_id = "capturePointPayment",
    params(SignedHeaders, ("id" = String, Path, description = "The payment's id (`pp_…`)")),
    request_body(content = inline(Option<CaptureRequest>), description = "Optionally the sale's receipt_id"),
    responses(
        (status = 200, body = PointPayment, description = "Captured (again: the same answer)"),
        (status = 401, body = Problem, content_type = "application/problem+json", description = "Bad signature"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such payment of this merchant"),
        (status = 409, body = Problem, content_type = "application/problem+json",
            description = "Not confirmed by the customer yet (`payment-not-confirmed`), or already given back (`payment-closed`)"),
        (status = 410, body = Problem, content_type = "application/problem+json", description = "The hold ran out"),
    )
)]
pub(super) async fn capture(
    State(state): State<AppState>,
    Path(id): Path<String>,
    req: Signed,
) -> Result<Json<PointPayment>, ApiError> {
    let body: CaptureRequest = if req.body.iter().all(u8::is_ascii_whitespace) {
        CaptureRequest::default()
    } else {
        req.json()?
    };
    let p = state
        .loyalty
        .capture_points(&req.merchant, &id, body.receipt_id, now())
        .await?;
    Ok(Json(p.into_inner()))
}

/// Give a payment's points back (the sale did not complete)
#[utoipa::path(
    post,
    path = "/v1/point-payments/{id}/release",
    operation_id = "releasePointPayment",
    params(SignedHeaders, ("id" = String, Path, description = "The payment's id (`pp_…`)")),
    responses(
        (status = 200, body = PointPayment, description = "Released (again, or already given back: the same answer)"),
        (status = 401, body = Problem, content_type = "application/problem+json", description = "Bad signature"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such payment of this merchant"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "Already captured"),
    )
)]
pub(super) async fn release(
    State(state): State<AppState>,
    Path(id): Path<String>,
    req: Signed,
) -> Result<Response, ApiError> {
    let p = state
        .loyalty
        .release_points(&req.merchant, &id, now())
        .await?;
    Ok(Json(p.into_inner()).into_response())
}
