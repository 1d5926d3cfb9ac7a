//! The HTTP server loop and the layers every route shares: time limits on
//! connections and requests, a cap on connections and on bodies, problem+json
//! for every error the router itself answers, request logs without codes or
//! tokens, and a graceful shutdown that ends within a bounded time.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use super::ApiError;
use crate::config::HttpLimits;

/// No request body on any route may be larger than this (LINE's webhook is the
/// largest; the merchant and admin APIs allow 64 KiB).
pub const MAX_ANY_BODY: usize = 1024 * 1024;

/// The layers every route shares, outermost last. The request timeout, the
/// security headers and problem+json for the router's own errors are one
/// middleware (`guard`): each layer is cloned for every request, so fewer is
/// measurably faster.
pub fn with_limits(app: Router, limits: &HttpLimits) -> Router {
    app.layer(tower_http::limit::RequestBodyLimitLayer::new(MAX_ANY_BODY))
        .layer(axum::middleware::from_fn_with_state(
            limits.request_timeout,
            guard,
        ))
        .layer(
            tower_http::trace::TraceLayer::new_for_http().make_span_with(|req: &Request<Body>| {
                // The route's template, never the path itself: paths carry
                // voucher codes and QR tokens.
                let span = tracing::debug_span!(
                    "request",
                    method = %req.method(),
                    route = tracing::field::Empty
                );
                if !span.is_disabled() {
                    let route = req.extensions().get::<MatchedPath>();
                    span.record("route", route.map_or("(no route)", |p| p.as_str()));
                }
                span
            }),
        )
}

/// Headers on every answer unless the handler set its own: no answer of taem's
/// is a page to frame, sniff or cache in between.
const SECURITY_HEADERS: [(header::HeaderName, &str); 4] = [
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::CACHE_CONTROL, "no-store"),
];

/// A request id a client may send (`x-request-id`): short, and only
/// characters that are safe in a log line and a header.
fn request_id(req: &Request) -> String {
    req.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (1..=64).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
        .map(str::to_string)
        .unwrap_or_else(crate::domain::codes::uuid_v4)
}

/// The request's time limit (`408` when it is up), the security headers,
/// problem+json for the router's own errors, the request id (taken or made,
/// and answered), the access-log line and the request's metrics. The log
/// names the route's template, never the path: paths carry voucher codes and
/// tokens.
async fn guard(
    axum::extract::State(timeout): axum::extract::State<std::time::Duration>,
    req: Request,
    next: Next,
) -> Response {
    let started = std::time::Instant::now();
    let id = request_id(&req);
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "(no route)".to_string(), |p| p.as_str().to_string());
    let mut res = match tokio::time::timeout(timeout, next.run(req)).await {
        Ok(res) => problem_everywhere(res).await,
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request-timeout",
            "the request took too long; send it again (a purchase, refund or voucher use is recorded once whatever the retries)",
        )
        .into_response(),
    };
    let headers = res.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        if !headers.contains_key(&name) {
            headers.insert(name, header::HeaderValue::from_static(value));
        }
    }
    if let Ok(v) = header::HeaderValue::from_str(&id) {
        headers.insert("x-request-id", v);
    }
    let took = started.elapsed();
    let status = res.status().as_u16();
    crate::metrics::http_request(method.as_str(), &route, status, took);
    tracing::info!(
        target: "taem::access",
        request_id = %id,
        method = %method,
        route = %route,
        status,
        ms = took.as_secs_f64() * 1000.0,
        "request"
    );
    res
}

/// Errors the router and layers answer themselves (404, 405, 413, a path or
/// header that does not parse) come as plain text; they are answered as
/// problem+json like every other error.
async fn problem_everywhere(res: Response) -> Response {
    let status = res.status();
    // Problems, and the console's own pages, already say what went wrong.
    let answered = res.headers().get(header::CONTENT_TYPE).is_some_and(|v| {
        let v = v.as_bytes();
        v.starts_with(b"application/problem+json") || v.starts_with(b"text/html")
    });
    if !(status.is_client_error() || status.is_server_error()) || answered {
        return res;
    }
    let (slug, detail): (&str, String) = match status {
        StatusCode::NOT_FOUND => return ApiError::no_such_endpoint().into_response(),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method-not-allowed",
            "this endpoint does not take that method; see /openapi.json".into(),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            "payload-too-large",
            "the request body is larger than this endpoint accepts".into(),
        ),
        StatusCode::UNAUTHORIZED => ("unauthorized", "the request is not authorized".into()),
        s if s.is_server_error() => (
            "internal",
            "something went wrong on our side; nothing was recorded, please retry".into(),
        ),
        _ => {
            // The rejection's own words (e.g. a path parameter that is not a
            // number) say what is wrong; they never echo secrets.
            let body = axum::body::to_bytes(res.into_body(), 4096)
                .await
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            let detail = if body.trim().is_empty() {
                status
                    .canonical_reason()
                    .unwrap_or("bad request")
                    .to_string()
            } else {
                body
            };
            return ApiError::new(status, "invalid-request", detail).into_response();
        }
    };
    let mut problem = ApiError::new(status, slug, detail).into_response();
    if let Some(allow) = res.headers().get(header::ALLOW) {
        problem.headers_mut().insert(header::ALLOW, allow.clone());
    }
    problem
}

/// Serves `app` until `shutdown` says stop, then lets in-flight requests
/// finish: idle connections close at once, and any connection still open after
/// `limits.shutdown_grace` (a slow or stuck client) is closed. Headers must
/// arrive within `limits.header_timeout`; at most `limits.max_connections` are
/// served at once (more wait in the listen queue).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let (closing, closing_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            _ = raised(&mut shutdown) => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = raised(&mut shutdown) => break,
            // Reap finished connections so the set does not grow.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        // The peer's address, for handlers that count tries per address.
        let service = TowerToHyperService::new(tower::ServiceExt::map_request(
            app.clone(),
            move |mut req: axum::http::Request<hyper::body::Incoming>| {
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                req
            },
        ));
        let builder = builder.clone();
        let mut closing = closing_rx.clone();
        connections.spawn(async move {
            let _permit = permit;
            let conn = builder
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = raised(&mut closing) => {
                    // Finish the request in flight (if any), then close.
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
    drop(listener);
    let _ = closing.send(true);
    let drained = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(limits.shutdown_grace, drained)
        .await
        .is_err()
    {
        tracing::warn!(
            open = connections.len(),
            "closing connections still open after the shutdown grace period"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// Resolves once the flag is raised (or its sender is gone).
async fn raised(flag: &mut watch::Receiver<bool>) {
    let _ = flag.wait_for(|up| *up).await;
}
