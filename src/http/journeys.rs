//! The admin API's journeys and audiences (`/admin/v1/journeys`,
//! `/admin/v1/audiences/count`), behind the admin token like the rest.

use axum::Json;
use axum::extract::{Path, State};

use super::{ApiError, AppState, Problem};
use crate::domain::audience::{Audience, Reach};
use crate::domain::journey::{Journey, Kind};
use crate::domain::time::now;
use crate::service::journeys::{JourneyInput, JourneyRun};

fn kind(k: &str) -> Result<Kind, ApiError> {
    Kind::parse(k).ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "not-found",
            format!("no journey {k:?}: welcome, birthday, winback or near_reward"),
        )
    })
}

/// Every journey and how it is set
#[utoipa::path(
    get,
    path = "/journeys",
    operation_id = "listJourneys",
    responses((status = 200, description = "The journeys", body = Vec<Journey>))
)]
pub(super) async fn journeys(
    State(state): State<AppState>,
) -> Result<Json<Vec<Journey>>, ApiError> {
    Ok(Json(state.loyalty.journeys().await?))
}

/// Switch a journey on or off and set what it gives; what is left out stays
#[utoipa::path(
    put,
    path = "/journeys/{kind}",
    operation_id = "setJourney",
    params(("kind" = String, Path, description = "welcome, birthday, winback or near_reward")),
    request_body = JourneyInput,
    responses(
        (status = 200, description = "The journey as set", body = Journey),
        (status = 404, body = Problem, content_type = "application/problem+json",
            description = "No such journey"),
        (status = 422, body = Problem, content_type = "application/problem+json",
            description = "Invalid field (named in field)"),
    )
)]
pub(super) async fn set_journey(
    State(state): State<AppState>,
    Path(k): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Journey>, ApiError> {
    let kind = kind(&k)?;
    let input: JourneyInput = super::admin::json(&body)?;
    Ok(Json(state.loyalty.set_journey(kind, &input, now()).await?))
}

/// Run the journeys now (serve runs them every 10 minutes)
#[utoipa::path(
    post,
    path = "/journeys/run",
    operation_id = "runJourneys",
    responses((status = 200, description = "What each journey gave", body = JourneyRun))
)]
pub(super) async fn run(State(state): State<AppState>) -> Result<Json<JourneyRun>, ApiError> {
    Ok(Json(state.loyalty.run_journeys(now()).await?))
}

/// How many members an audience holds and how many marketing reaches on each app
#[utoipa::path(
    post,
    path = "/audiences/count",
    operation_id = "countAudience",
    request_body = Audience,
    responses(
        (status = 200, description = "The audience's size and reach", body = Reach),
        (status = 422, body = Problem, content_type = "application/problem+json",
            description = "Invalid audience"),
    )
)]
pub(super) async fn count(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Json<Reach>, ApiError> {
    let audience: Audience = super::admin::json(&body)?;
    Ok(Json(state.loyalty.audience_reach(&audience, now()).await?))
}
