//! One error type for the HTTP boundary. Every error is answered as
//! `application/problem+json` (RFC 9457) with a `detail` a person can act on;
//! internal errors are logged and answered without their insides.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::signature::SignatureError;
use crate::domain::Refusal;
use crate::domain::quota::QuotaRefusal;
use crate::service::ServiceError;
use crate::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// A short slug naming the kind of problem: `urn:taem:problem:<slug>`.
    pub slug: &'static str,
    pub detail: String,
    /// For validation problems: the request field at fault.
    pub field: Option<String>,
}

/// An RFC 9457 problem: every error answer's body.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    #[schema(examples("urn:taem:problem:invalid-request"))]
    kind: String,
    title: &'static str,
    status: u16,
    /// What went wrong and what to do about it
    detail: String,
    /// For 422: the request field at fault
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, slug: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            slug,
            detail: detail.into(),
            field: None,
        }
    }

    /// No route matches the request.
    pub fn no_such_endpoint() -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "no such endpoint; see /openapi.json",
        )
    }

    pub fn payload_too_large() -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "the request body is larger than 64 KiB",
        )
    }

    pub fn bad_json(e: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-request",
            format!("the body is not the JSON this endpoint expects: {e}"),
        )
    }
}

impl From<SignatureError> for ApiError {
    fn from(_: SignatureError) -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            SignatureError::PUBLIC,
        )
    }
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> ApiError {
        let (status, slug) = match &r {
            Refusal::VoucherAlreadyUsed { .. } => (StatusCode::CONFLICT, "voucher-used"),
            Refusal::VoucherExpired { .. } => (StatusCode::GONE, "voucher-expired"),
            Refusal::VoucherCancelled => (StatusCode::GONE, "voucher-cancelled"),
            Refusal::VoucherNotApplicable(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "voucher-not-applicable")
            }
            Refusal::VoucherNeedsBasket => (StatusCode::UNPROCESSABLE_ENTITY, "basket-required"),
            Refusal::PaymentRefused(crate::domain::payment::StepRefused::NotConfirmed) => {
                (StatusCode::CONFLICT, "payment-not-confirmed")
            }
            Refusal::PaymentRefused(crate::domain::payment::StepRefused::TimedOut(_)) => {
                (StatusCode::GONE, "payment-expired")
            }
            Refusal::PaymentRefused(crate::domain::payment::StepRefused::Closed(_)) => {
                (StatusCode::CONFLICT, "payment-closed")
            }
            Refusal::PaymentBelowMinimum { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "payment-below-minimum")
            }
            Refusal::PayCodeInvalid => (StatusCode::UNPROCESSABLE_ENTITY, "pay-code-invalid"),
            Refusal::PartnerBudgetSpent { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "partner-budget-spent")
            }
            Refusal::VoucherOtherPartner => (StatusCode::FORBIDDEN, "voucher-other-partner"),
            Refusal::PaymentsOff => (StatusCode::UNPROCESSABLE_ENTITY, "payments-off"),
            Refusal::InsufficientCredit { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "insufficient-credit")
            }
            Refusal::RefundExceedsPurchase { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "refund-exceeds-purchase")
            }
            Refusal::InsufficientPoints { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "insufficient-points")
            }
            Refusal::NegativeBalance { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "negative-balance")
            }
            Refusal::OutOfStock => (StatusCode::CONFLICT, "out-of-stock"),
            Refusal::MemberLimitReached { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "member-limit-reached")
            }
            Refusal::RewardUnavailable => (StatusCode::UNPROCESSABLE_ENTITY, "reward-unavailable"),
            Refusal::VoucherNotYours => (StatusCode::NOT_FOUND, "not-found"),
            Refusal::ClaimExpired { .. } => (StatusCode::GONE, "claim-expired"),
            Refusal::ClaimAlreadyClaimed => (StatusCode::CONFLICT, "claim-used"),
            Refusal::AdjustBelowZero { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "below-zero"),
            Refusal::TooManyTries { .. } => (StatusCode::TOO_MANY_REQUESTS, "too-many-tries"),
            Refusal::SignInFailed => (StatusCode::UNAUTHORIZED, "sign-in-failed"),
            Refusal::LinkInvalid | Refusal::LinkTaken | Refusal::LinkHasHistory => {
                (StatusCode::UNPROCESSABLE_ENTITY, "link-refused")
            }
        };
        ApiError::new(status, slug, r.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound(what) => ApiError::new(
                StatusCode::NOT_FOUND,
                "not-found",
                format!("no {what} matches the request"),
            ),
            StoreError::IdempotencyConflict(key) => ApiError::new(
                StatusCode::CONFLICT,
                "idempotency-conflict",
                format!(
                    "this {key} was already recorded with a different body; \
                     send a new {key} for a new request"
                ),
            ),
            StoreError::Refused(r) => r.into(),
            other => {
                tracing::error!(error = %other, "store error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "something went wrong on our side; nothing was recorded, please retry",
                )
            }
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> ApiError {
        match e {
            ServiceError::Invalid { field, message } => ApiError {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                slug: "invalid-request",
                detail: format!("{field}: {message}"),
                field: Some(field),
            },
            ServiceError::NotFound(what) => StoreError::NotFound(what).into(),
            ServiceError::Duplicate(key) => StoreError::IdempotencyConflict(key).into(),
            ServiceError::Refused(r) => r.into(),
            ServiceError::Forbidden => ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "your role may not do this",
            ),
            ServiceError::LineQuota(r) => {
                let (status, slug) = match &r {
                    QuotaRefusal::Short { .. } => (StatusCode::CONFLICT, "line-quota-exceeded"),
                    QuotaRefusal::Unknown(_) => {
                        (StatusCode::SERVICE_UNAVAILABLE, "line-quota-unknown")
                    }
                };
                ApiError::new(
                    status,
                    slug,
                    format!(
                        "{r}. Nothing was queued; with ?force=true it is queued anyway, and \
                         members beyond the quota get it when LINE allows again"
                    ),
                )
            }
            ServiceError::Store(e) => e.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Problem {
            kind: format!("urn:taem:problem:{}", self.slug),
            title: self.status.canonical_reason().unwrap_or("Error"),
            status: self.status.as_u16(),
            detail: self.detail,
            field: self.field,
        };
        let mut res = (self.status, axum::Json(body)).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        res
    }
}
