//! A fake LINE Messaging API on loopback, speaking LINE's wire format (Bearer
//! token, JSON bodies, `X-Line-Retry-Key`), recording every request.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::sync::Notify;

pub const TOKEN: &str = "line-access-token";
pub const SECRET: &str = "line-channel-secret";

#[derive(Debug, Clone)]
pub struct LineCall {
    /// `reply` or `push`.
    pub kind: String,
    pub body: Value,
    pub retry_key: Option<String>,
}

impl LineCall {
    pub fn to(&self) -> Option<String> {
        self.body["to"].as_str().map(str::to_string)
    }
    pub fn texts(&self) -> String {
        self.body["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }
    pub fn images(&self) -> Vec<String> {
        self.body["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["type"] == "image")
            .map(|m| m["originalContentUrl"].as_str().unwrap().to_string())
            .collect()
    }
    /// The postback data of a quick reply or a Flex bubble's button.
    pub fn postback(&self, prefix: &str) -> Option<String> {
        let messages = self.body["messages"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let quick = messages
            .iter()
            .flat_map(|m| {
                m["quickReply"]["items"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .map(|i| i["action"].clone());
        let bubbles = messages
            .iter()
            .flat_map(|m| {
                m["contents"]["contents"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .flat_map(|b| {
                b["footer"]["contents"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .map(|b| b["action"].clone());
        quick
            .chain(bubbles)
            .filter_map(|a| a["data"].as_str().map(str::to_string))
            .find(|d| d.starts_with(prefix))
    }

    /// The Flex carousel's bubbles, if the call sent one.
    pub fn carousel(&self) -> Vec<Value> {
        self.body["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["type"] == "flex")
            .flat_map(|m| {
                m["contents"]["contents"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .collect()
    }
}

/// LINE's answer when the month's message quota is used up.
pub const MONTHLY_LIMIT: &str = "You have reached your monthly limit.";
/// LINE's answer to too many requests at once.
pub const RATE_LIMIT: &str = "The API rate limit has been exceeded. Try again later.";

struct Inner {
    calls: Vec<LineCall>,
    /// Pushes and multicasts answered 429 (nothing delivered).
    refused: Vec<LineCall>,
    /// What `/v2/bot/message/quota` and `/quota/consumption` answer: the
    /// limit (`None`: no limit) and the use; `None`: they answer 500.
    quota: Option<(Option<u64>, u64)>,
    /// Pushes and multicasts answer 429 "monthly limit" while set.
    monthly_limit: bool,
    /// The next pushes or multicasts answered 429 "rate limit".
    rate_limited: usize,
    /// Reply tokens LINE refuses (spent or expired).
    dead_tokens: HashSet<String>,
    language: String,
    /// Accept the next multicast, then answer 500 as if the answer was lost.
    lose_next_answer: bool,
    /// Requests refused with 409 because their retry key was accepted before.
    conflicts: usize,
    /// Profile requests so far.
    profiles: usize,
    /// Profile requests wait (as if LINE hung) while this is set.
    stall_profiles: bool,
}

impl Default for Inner {
    fn default() -> Inner {
        Inner {
            calls: Vec::new(),
            refused: Vec::new(),
            quota: Some((Some(15_000), 1_234)),
            monthly_limit: false,
            rate_limited: 0,
            dead_tokens: HashSet::new(),
            language: String::new(),
            lose_next_answer: false,
            conflicts: 0,
            profiles: 0,
            stall_profiles: false,
        }
    }
}

#[derive(Clone, Default)]
pub struct FakeLine {
    inner: Arc<Mutex<Inner>>,
    changed: Arc<Notify>,
}

impl FakeLine {
    pub async fn start(language: &str) -> (FakeLine, String) {
        let fake = FakeLine::default();
        fake.inner.lock().unwrap().language = language.to_string();
        let app = Router::new()
            .route("/v2/bot/message/reply", post(reply))
            .route("/v2/bot/message/push", post(push))
            .route("/v2/bot/message/multicast", post(multicast))
            .route("/v2/bot/message/quota", get(quota))
            .route("/v2/bot/message/quota/consumption", get(consumption))
            .route("/v2/bot/profile/{user}", get(profile))
            .route("/v2/bot/info", get(bot_info))
            .route("/v2/bot/richmenu", post(create_menu))
            .route("/v2/bot/richmenu/{id}/content", post(menu_image))
            .route("/v2/bot/user/all/richmenu/{id}", post(default_menu))
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (fake, url)
    }

    pub fn kill_reply_token(&self, token: &str) {
        self.inner
            .lock()
            .unwrap()
            .dead_tokens
            .insert(token.to_string());
    }

    /// Makes profile requests hang until called again with `false`.
    pub fn stall_profiles(&self, stall: bool) {
        self.inner.lock().unwrap().stall_profiles = stall;
        self.changed.notify_waiters();
    }

    /// Waits until `n` profile requests were made.
    pub async fn profiles_requested(&self, n: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let notified = self.changed.notified();
            if self.inner.lock().unwrap().profiles >= n {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("no profile request within 15 s");
            }
        }
    }

    pub fn calls(&self) -> Vec<LineCall> {
        self.inner.lock().unwrap().calls.clone()
    }

    /// Waits until more than `seen` calls were made and things went quiet.
    pub async fn calls_after(&self, seen: usize) -> Vec<LineCall> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let notified = self.changed.notified();
            let n = self.calls().len();
            if n > seen {
                tokio::time::sleep(Duration::from_millis(150)).await;
                if self.calls().len() == n {
                    return self.calls()[seen..].to_vec();
                }
                continue;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("no LINE call within 15 s");
            }
        }
    }

    /// How many pushed or multicast messages each user received (accepted
    /// requests only: a repeated retry key is answered 409 and delivers nothing).
    pub fn deliveries(&self) -> std::collections::HashMap<String, usize> {
        let mut counts = std::collections::HashMap::new();
        for c in self.calls() {
            let to: Vec<String> = match c.kind.as_str() {
                "push" => c.to().into_iter().collect(),
                "multicast" => c.body["to"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
                _ => Vec::new(),
            };
            for user in to {
                *counts.entry(user).or_insert(0) += 1;
            }
        }
        counts
    }

    /// Accepts (delivers) the next multicast but answers 500, as when LINE's
    /// answer is lost: the sender must retry with the same key.
    pub fn lose_next_answer(&self) {
        self.inner.lock().unwrap().lose_next_answer = true;
    }

    /// Requests refused with 409 (their retry key was accepted before).
    pub fn conflicts(&self) -> usize {
        self.inner.lock().unwrap().conflicts
    }

    /// This month's quota as LINE will report it: the plan's limit (`None`:
    /// no limit) and the messages used.
    pub fn set_quota(&self, limit: Option<u64>, used: u64) {
        self.inner.lock().unwrap().quota = Some((limit, used));
    }

    /// The quota endpoints answer 500 from now on.
    pub fn break_quota(&self) {
        self.inner.lock().unwrap().quota = None;
    }

    /// While `on`, pushes and multicasts answer 429 with LINE's "monthly limit".
    pub fn monthly_limit(&self, on: bool) {
        self.inner.lock().unwrap().monthly_limit = on;
    }

    /// The next `n` pushes or multicasts answer 429 with LINE's "rate limit".
    pub fn rate_limit(&self, n: usize) {
        self.inner.lock().unwrap().rate_limited = n;
    }

    /// Pushes and multicasts answered 429 (nothing delivered).
    pub fn refused(&self) -> Vec<LineCall> {
        self.inner.lock().unwrap().refused.clone()
    }

    /// A 429 for this push or multicast, if one is due (recorded as refused).
    fn too_many(&self, call: &LineCall) -> Option<Response> {
        let mut inner = self.inner.lock().unwrap();
        let message = if inner.monthly_limit {
            MONTHLY_LIMIT
        } else if inner.rate_limited > 0 {
            inner.rate_limited -= 1;
            RATE_LIMIT
        } else {
            return None;
        };
        inner.refused.push(call.clone());
        Some(
            (
                StatusCode::TOO_MANY_REQUESTS,
                Json(json!({ "message": message })),
            )
                .into_response(),
        )
    }

    /// LINE's answer to a retry key it accepted before (409), if it did.
    fn repeated(&self, kind: &str, key: &Option<String>) -> Option<Response> {
        let seen = key.is_some()
            && self
                .calls()
                .iter()
                .any(|c| c.kind == kind && c.retry_key == *key);
        if !seen {
            return None;
        }
        self.inner.lock().unwrap().conflicts += 1;
        Some(
            (
                StatusCode::CONFLICT,
                Json(json!({"message": "The retry key is already accepted"})),
            )
                .into_response(),
        )
    }

    fn record(&self, call: LineCall) {
        self.inner.lock().unwrap().calls.push(call);
        self.changed.notify_waiters();
    }
}

fn authorized(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {TOKEN}"))
}

async fn reply(
    State(fake): State<FakeLine>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    assert!(authorized(&headers));
    let token = body["replyToken"].as_str().unwrap_or_default().to_string();
    if fake.inner.lock().unwrap().dead_tokens.contains(&token) {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"message": "Invalid reply token"})),
        )
            .into_response();
    }
    fake.record(LineCall {
        kind: "reply".into(),
        body,
        retry_key: None,
    });
    Json(json!({"sentMessages": []})).into_response()
}

async fn push(
    State(fake): State<FakeLine>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    assert!(authorized(&headers));
    let retry_key = headers
        .get("x-line-retry-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let Some(conflict) = fake.repeated("push", &retry_key) {
        return conflict;
    }
    let call = LineCall {
        kind: "push".into(),
        body,
        retry_key,
    };
    if let Some(refusal) = fake.too_many(&call) {
        return refusal;
    }
    fake.record(call);
    Json(json!({"sentMessages": []})).into_response()
}

async fn profile(State(fake): State<FakeLine>, Path(user): Path<String>) -> Json<Value> {
    fake.inner.lock().unwrap().profiles += 1;
    fake.changed.notify_waiters();
    loop {
        let notified = fake.changed.notified();
        if !fake.inner.lock().unwrap().stall_profiles {
            break;
        }
        notified.await;
    }
    let language = fake.inner.lock().unwrap().language.clone();
    Json(json!({"displayName": "Somchai", "userId": user, "language": language}))
}

async fn bot_info(headers: HeaderMap) -> Json<Value> {
    assert!(authorized(&headers));
    Json(json!({
        "userId": "Ub9952f8a3d2c4e1f7b6a5d4c3b2a1f0e",
        "basicId": "@taemshop",
        "displayName": "taem shop",
        "chatMode": "bot",
        "markAsReadMode": "auto"
    }))
}

async fn create_menu(
    State(fake): State<FakeLine>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Json<Value> {
    assert!(authorized(&headers));
    fake.record(LineCall {
        kind: "richmenu".into(),
        body,
        retry_key: None,
    });
    Json(json!({"richMenuId": "richmenu-88c05ef6921ae53f8b58a25f3a65faf7"}))
}

async fn menu_image(
    State(fake): State<FakeLine>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Json<Value> {
    assert!(authorized(&headers));
    let png = body.starts_with(b"\x89PNG");
    let kind = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    fake.record(LineCall {
        kind: "richmenu-image".into(),
        body: json!({"id": id, "png": png, "content_type": kind, "bytes": body.len()}),
        retry_key: None,
    });
    Json(json!({}))
}

async fn default_menu(
    State(fake): State<FakeLine>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Json<Value> {
    assert!(authorized(&headers));
    fake.record(LineCall {
        kind: "richmenu-default".into(),
        body: json!({"id": id}),
        retry_key: None,
    });
    Json(json!({}))
}

/// Multicast, remembering retry keys: a key seen before answers 409 like LINE.
async fn multicast(
    State(fake): State<FakeLine>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    assert!(authorized(&headers));
    let key = headers
        .get("x-line-retry-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let Some(conflict) = fake.repeated("multicast", &key) {
        return conflict;
    }
    let call = LineCall {
        kind: "multicast".into(),
        body,
        retry_key: key,
    };
    if let Some(refusal) = fake.too_many(&call) {
        return refusal;
    }
    fake.record(call);
    if std::mem::take(&mut fake.inner.lock().unwrap().lose_next_answer) {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"message": "Internal error"})),
        )
            .into_response();
    }
    Json(json!({})).into_response()
}

async fn quota(State(fake): State<FakeLine>, headers: HeaderMap) -> Response {
    assert!(authorized(&headers));
    match fake.inner.lock().unwrap().quota {
        Some((Some(limit), _)) => Json(json!({"type": "limited", "value": limit})).into_response(),
        Some((None, _)) => Json(json!({"type": "none"})).into_response(),
        None => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn consumption(State(fake): State<FakeLine>, headers: HeaderMap) -> Response {
    assert!(authorized(&headers));
    match fake.inner.lock().unwrap().quota {
        Some((_, used)) => Json(json!({"totalUsage": used})).into_response(),
        None => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
