//! The admin API's reports (`/admin/v1/reports/...`): the same computation as
//! `taem report` and the console's reports, as JSON or (`.csv`) CSV.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState, Problem};
use crate::domain::time::now;
use crate::service::reports::{
    CampaignsReport, LiabilityReport, MembersReport, PointsReport, RedemptionReport, ReportQuery,
    SegmentsReport, SummaryReport,
};
use serde::Deserialize;
use utoipa::IntoParams;

/// A CSV document as an answer.
fn csv(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response()
}

/// Points over time: issued by rule, redeemed, expired, clawed back, given
/// back and adjusted per day, ISO week or month in the programme's time zone,
/// and the outstanding balance at each period's start and end (for the whole
/// programme; a shop's report has none)
#[utoipa::path(
    get,
    path = "/reports/points",
    operation_id = "pointsReport",
    params(ReportQuery),
    responses(
        (status = 200, description = "The report", body = PointsReport),
        (status = 422, body = Problem, content_type = "application/problem+json",
            description = "Invalid field (named in field)"),
    )
)]
pub(super) async fn points(
    State(state): State<AppState>,
    Query(q): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    let r = state.loyalty.points_report(&q, now()).await?;
    Ok(Json(r).into_response())
}

/// The same report as CSV, one line per period
#[utoipa::path(
    get,
    path = "/reports/points.csv",
    operation_id = "pointsReportCsv",
    params(ReportQuery),
    responses(
        (status = 200, description = "The report as CSV", content_type = "text/csv", body = String),
        (status = 422, body = Problem, content_type = "application/problem+json",
            description = "Invalid field (named in field)"),
    )
)]
pub(super) async fn points_csv(
    State(state): State<AppState>,
    Query(q): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    let r = state.loyalty.points_report(&q, now()).await?;
    Ok(csv(r.csv()))
}

/// What the points members hold are worth as of now (or the end of the day
/// `to`; `from` is refused): a point's value (and how it was found), breakage
/// by monthly cohort (observed, or projected from older cohorts'
/// development), the expected cost, and what expires in each of the next 12
/// months. With `merchant`: the points still in the lots that shop issued, as
/// of now
#[utoipa::path(
    get,
    path = "/reports/liability",
    operation_id = "liabilityReport",
    params(ReportQuery),
    responses(
        (status = 200, description = "The report", body = LiabilityReport),
        (status = 422, body = Problem, content_type = "application/problem+json",
            description = "Invalid field (named in field)"),
    )
)]
pub(super) async fn liability(
    State(state): State<AppState>,
    Query(q): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    let r = state.loyalty.liability_report(&q, now()).await?;
    Ok(Json(r).into_response())
}

/// Redemption in a range: the redemption rate (in the range and all time),
/// vouchers per reward and per kind with their cost (the discount actually
/// given, else the face value), payments at tills and cashback credit
#[utoipa::path(
    get,
    path = "/reports/redemption",
    operation_id = "redemptionReport",
    params(ReportQuery),
    responses(
        (status = 200, description = "The report", body = RedemptionReport),
        (status = 422, body = Problem, content_type = "application/problem+json",
            description = "Invalid field (named in field)"),
    )
)]
pub(super) async fn redemption(
    State(state): State<AppState>,
    Query(q): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    Ok(Json(state.loyalty.redemption_report(&q, now()).await?).into_response())
}

/// Members in a range: total, new, active in the last 30 and 90 days, repeat
/// buyers, average spend and visits, and the share of sales by identified
/// members
#[utoipa::path(
    get,
    path = "/reports/members",
    operation_id = "membersReport",
    params(ReportQuery),
    responses(
        (status = 200, description = "The report", body = MembersReport),
        (status = 422, body = Problem, content_type = "application/problem+json",
            description = "Invalid field (named in field)"),
    )
)]
pub(super) async fn members(
    State(state): State<AppState>,
    Query(q): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    Ok(Json(state.loyalty.members_report(&q, now()).await?).into_response())
}

/// Members by A/B/C class (share of members' sales over the last 12 months)
/// and RFM segment, as worked out once a day; with `merchant`, that shop's
/// customers and what they bought there. It takes no range (`from` and `to`
/// are refused)
#[utoipa::path(
    get,
    path = "/reports/segments",
    operation_id = "segmentsReport",
    params(ReportQuery),
    responses(
        (status = 200, description = "The report", body = SegmentsReport),
        (status = 422, body = Problem, content_type = "application/problem+json",
            description = "Invalid field (named in field)"),
    )
)]
pub(super) async fn segments(
    State(state): State<AppState>,
    Query(q): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    Ok(Json(state.loyalty.segments_report(&q).await?).into_response())
}

/// The members of a class or segment, to export
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct SegmentFilter {
    /// A, B or C
    class: Option<String>,
    /// e.g. `champions`, `at_risk`
    segment: Option<String>,
}

/// The members of a class or segment as CSV (member code, class, segment,
/// R, F and M scores, purchases, sales, last purchase)
#[utoipa::path(
    get,
    path = "/reports/segments/members.csv",
    operation_id = "segmentMembersCsv",
    params(SegmentFilter),
    responses(
        (status = 200, description = "The members as CSV", content_type = "text/csv", body = String),
        (status = 422, body = Problem, content_type = "application/problem+json",
            description = "Unknown class or segment"),
    )
)]
pub(super) async fn segment_members(
    State(state): State<AppState>,
    Query(f): Query<SegmentFilter>,
) -> Result<Response, ApiError> {
    let rows = state.loyalty.segment_members(f.class, f.segment).await?;
    Ok(csv(crate::service::reports::segment_members_csv(&rows)))
}

/// The programme's P&L for a range: sales (members' and anonymous), points
/// issued and their value, what rewards cost, what points and store credit
/// paid at tills, campaigns' points and their value, and the incremental
/// sales holdout groups measured
#[utoipa::path(
    get,
    path = "/reports/summary",
    operation_id = "summaryReport",
    params(ReportQuery),
    responses(
        (status = 200, description = "The report", body = SummaryReport),
        (status = 422, body = Problem, content_type = "application/problem+json",
            description = "Invalid field (named in field)"),
    )
)]
pub(super) async fn summary(
    State(state): State<AppState>,
    Query(q): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    Ok(Json(state.loyalty.summary_report(&q, now()).await?).into_response())
}

/// Campaigns in a range: points given and their value, purchases, members and
/// sales with their bonus, and lift where a holdout measured it
#[utoipa::path(
    get,
    path = "/reports/campaigns",
    operation_id = "campaignsReport",
    params(ReportQuery),
    responses(
        (status = 200, description = "The report", body = CampaignsReport),
        (status = 422, body = Problem, content_type = "application/problem+json",
            description = "Invalid field (named in field)"),
    )
)]
pub(super) async fn campaigns(
    State(state): State<AppState>,
    Query(q): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    Ok(Json(state.loyalty.campaigns_report(&q, now()).await?).into_response())
}
