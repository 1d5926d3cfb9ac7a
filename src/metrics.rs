//! What an operator watches: counters and histograms recorded where things
//! happen (the `metrics` crate's macros, cheap when nobody scrapes), and a
//! Prometheus recorder rendered by `GET /metrics` (`http::metrics`) with the
//! gauges read from the database at the moment of the scrape.
//!
//! Names: `taem_http_requests_total` and `taem_http_request_duration_seconds`
//! (by method, route template and status), `taem_purchases_total` (new or
//! replayed), `taem_refunds_total`, `taem_redemptions_total`,
//! `taem_points_issued_total`, `taem_points_redeemed_total`,
//! `taem_sends_total` (by app and outcome), `taem_sweep_runs_total` (by sweep
//! and result), and at scrape time `taem_outbox_queued` and
//! `taem_outbox_oldest_queued_seconds` (by app), `taem_line_paused` (1 while
//! LINE's monthly quota is used up) and `taem_db_connections` (by state,
//! PostgreSQL).

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Request durations' buckets, in seconds: a purchase takes about a millisecond.
const HTTP_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// The process's recorder (installed once: several servers in one process, as
/// in the tests, share it).
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("taem_http_request_duration_seconds".into()),
                &HTTP_BUCKETS,
            )
            .expect("buckets are not empty");
        match builder.install_recorder() {
            Ok(handle) => handle,
            // Another recorder is installed: keep one of our own for rendering.
            Err(_) => PrometheusBuilder::new().build_recorder().handle(),
        }
    })
}

/// One HTTP request answered.
pub fn http_request(method: &str, route: &str, status: u16, took: Duration) {
    let labels = [
        ("method", method.to_string()),
        ("route", route.to_string()),
        ("status", status.to_string()),
    ];
    metrics::counter!("taem_http_requests_total", &labels).increment(1);
    metrics::histogram!("taem_http_request_duration_seconds", &labels).record(took.as_secs_f64());
}

/// A purchase recorded (`replay`: the same receipt again, nothing new).
pub fn purchase(points: i64, replay: bool) {
    let result = if replay { "replay" } else { "new" };
    metrics::counter!("taem_purchases_total", "result" => result).increment(1);
    if !replay {
        issued(points);
    }
}

/// Points credited to members (purchases, claims, grants).
pub fn issued(points: i64) {
    if points > 0 {
        metrics::counter!("taem_points_issued_total").increment(points.unsigned_abs());
    }
}

/// A refund recorded.
pub fn refund() {
    metrics::counter!("taem_refunds_total").increment(1);
}

/// A reward redeemed for `points`.
pub fn redemption(points: i64) {
    metrics::counter!("taem_redemptions_total").increment(1);
    redeemed(points);
}

/// Points spent (rewards, payments at the till).
pub fn redeemed(points: i64) {
    if points > 0 {
        metrics::counter!("taem_points_redeemed_total").increment(points.unsigned_abs());
    }
}

/// A push's outcome on an app: `sent`, `429`, `retry` (5xx, network),
/// `blocked` (unfollowed), `failed`, `skipped`, `quota` (LINE's monthly quota
/// used up: held for the next month).
pub fn send(app: &str, outcome: &str, rows: u64) {
    metrics::counter!("taem_sends_total", "app" => app.to_string(), "outcome" => outcome.to_string())
        .increment(rows);
}

/// A run of one of serve's sweeps, and whether it worked.
pub fn sweep(name: &'static str, ok: bool) {
    let result = if ok { "ok" } else { "failed" };
    metrics::counter!("taem_sweep_runs_total", "sweep" => name, "result" => result).increment(1);
}

/// The gauges read at scrape time.
pub fn outbox(app: &str, queued: i64, oldest: Option<Duration>) {
    let app = app.to_string();
    metrics::gauge!("taem_outbox_queued", "app" => app.clone()).set(queued as f64);
    metrics::gauge!("taem_outbox_oldest_queued_seconds", "app" => app)
        .set(oldest.map_or(0.0, |d| d.as_secs_f64()));
}

/// Chat events kept in the inbox, and redeliveries recognised.
pub fn inbox_kept(new: u64, again: u64) {
    metrics::counter!("taem_inbox_events_total", "result" => "kept").increment(new);
    metrics::counter!("taem_inbox_events_total", "result" => "redelivered").increment(again);
}

/// A chat event handled (`handled`) or given up after too many tries (`given_up`).
pub fn inbox_handled(result: &'static str) {
    metrics::counter!("taem_inbox_events_total", "result" => result).increment(1);
}

/// The inbox's waiting events and the age of the oldest (read at scrape time).
pub fn inbox(waiting: i64, oldest: Option<Duration>) {
    metrics::gauge!("taem_inbox_waiting").set(waiting as f64);
    metrics::gauge!("taem_inbox_oldest_waiting_seconds")
        .set(oldest.map_or(0.0, |d| d.as_secs_f64()));
}

/// Whether this instance long-polls the Telegram bot (1), stands by (0), or
/// stopped because another program polls it (-1).
pub fn telegram_polling(state: i8) {
    metrics::gauge!("taem_telegram_polling").set(f64::from(state));
}

/// Whether LINE marketing is paused because the month's quota is used up.
pub fn line_paused(paused: bool) {
    metrics::gauge!("taem_line_paused").set(if paused { 1.0 } else { 0.0 });
}

/// Database connections in use and idle (PostgreSQL's pool).
pub fn connections(busy: u32, idle: u32) {
    metrics::gauge!("taem_db_connections", "state" => "busy").set(f64::from(busy));
    metrics::gauge!("taem_db_connections", "state" => "idle").set(f64::from(idle));
}
