//! The LINE Official Account front-end: the signed webhook (`POST /line/webhook`),
//! events turned into intents for the conversation, replies by reply token with
//! a push fallback, and QR images at short-lived signed URLs.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use serde_json::Value;
use sha2::Sha256;

use crate::chat::{Conversation, Customer, Identity, Intent};
use crate::domain::inbox::{NewEvent, Source};
use crate::domain::model::{MemberRef, Secret};
use crate::domain::time::now;

pub mod client;
pub mod render;
pub mod richmenu;

pub use client::LineClient;

/// LINE sends at most a few events per request; anything this large is not LINE.
const MAX_WEBHOOK_BODY: usize = 1024 * 1024;

/// Verifies `x-line-signature` (Base64 HMAC-SHA256 of the raw body) in constant time.
pub fn verify_signature(secret: &str, body: &[u8], header: Option<&str>) -> bool {
    let Some(sig) = header.and_then(|h| base64::engine::general_purpose::STANDARD.decode(h).ok())
    else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

/// The signature LINE would send for `body` (for tests and tools).
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[derive(Clone)]
pub struct LineState {
    pub conversation: Arc<Conversation>,
    pub client: LineClient,
    pub channel_secret: Secret,
    /// Makes public URLs for QR images (`None` without `TAEM_PUBLIC_URL`).
    pub qr_urls: Option<crate::http::qr::QrUrls>,
    /// Wakes the inbox worker when events are kept.
    pub inbox: Arc<tokio::sync::Notify>,
}

pub fn router(state: LineState) -> axum::Router {
    axum::Router::new()
        .route("/line/webhook", post(webhook))
        .with_state(state)
}

#[derive(Debug, Deserialize)]
struct CallbackRequest {
    #[serde(default)]
    events: Vec<Value>,
}

async fn webhook(
    State(state): State<LineState>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    // The signature covers the whole body, so the body must be read to check it;
    // a request without a well-formed one is refused before anything is read.
    let Some(sig) = headers
        .get("x-line-signature")
        .and_then(|v| v.to_str().ok())
        .filter(|s| {
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .is_ok_and(|b| b.len() == 32)
        })
    else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let Ok(body) = axum::body::to_bytes(body, MAX_WEBHOOK_BODY).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    if !verify_signature(state.channel_secret.expose(), &body, Some(sig)) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let Ok(req) = serde_json::from_slice::<CallbackRequest>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    // Kept before LINE hears 200 (it does not send an event again after a 200),
    // then handled from the inbox; a failure to keep them is a 500, which LINE
    // may redeliver.
    let events: Vec<NewEvent> = req.events.iter().map(inbox_event).collect();
    if events.is_empty() {
        return StatusCode::OK.into_response();
    }
    match state
        .conversation
        .loyalty()
        .keep_events(&events, now())
        .await
    {
        Ok(_) => {
            state.inbox.notify_one();
            StatusCode::OK.into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "could not keep LINE events");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// A LINE event as the inbox keeps it: by its `webhookEventId` (a redelivery
/// has the same), in order per user.
fn inbox_event(event: &Value) -> NewEvent {
    let source = &event["source"];
    let chat = ["userId", "groupId", "roomId"]
        .iter()
        .find_map(|k| source[k].as_str())
        .unwrap_or_default();
    NewEvent {
        source: Source::Line,
        event_id: event["webhookEventId"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(crate::domain::codes::uuid_v4),
        chat: chat.to_string(),
        payload: event.to_string(),
    }
}

/// Handles one kept event: its intent to the conversation, the reply back by
/// reply token or, once the token has run out, by push.
pub async fn handle_event(state: &LineState, event: Value) {
    let loyalty = state.conversation.loyalty();
    let Some(user) = event["source"]["userId"].as_str().map(str::to_string) else {
        return;
    };
    // Only one-to-one chats: a loyalty card is personal.
    if event["source"]["type"] != "user" {
        return;
    }
    let intent = match event["type"].as_str() {
        Some("follow") => Intent::Start { payload: None },
        Some("unfollow") => {
            let by = MemberRef::Line(user.clone());
            if let Err(e) = loyalty.set_reachable(&by, false).await {
                tracing::warn!(error = %e, "could not mark a LINE member unreachable");
            }
            return;
        }
        Some("message") if event["message"]["type"] == "text" => {
            Intent::from_text(event["message"]["text"].as_str().unwrap_or_default())
        }
        Some("message") => Intent::Unknown,
        Some("postback") => Intent::from_callback(event["postback"]["data"].as_str().unwrap_or("")),
        // Other event types (join, leave, beacon, ...) are not for taem.
        _ => return,
    };
    // (A follow is also a comeback after a block: the conversation marks the
    // member reachable again as they write.)
    let known = loyalty
        .chat_account(&MemberRef::Line(user.clone()))
        .await
        .ok()
        .flatten();
    // LINE tells the app's language only through the profile: asked when the
    // member is new, follows again, or has no language yet; the conversation
    // remembers it.
    let language = match &known {
        Some(m) if event["type"] != "follow" && (m.locale.is_some() || m.app_locale.is_some()) => {
            None
        }
        _ => state
            .client
            .profile(&user)
            .await
            .ok()
            .and_then(|p| p.language)
            .filter(|l| crate::i18n::Locale::parse(l).is_some()),
    };
    let who = Customer {
        identity: Identity::Line(user.clone()),
        language_code: language.clone(),
        first_name: None,
    };
    let reply = state.conversation.handle(&who, intent, now()).await;
    let messages = render::messages(&reply, &state.qr_urls);
    if messages.is_empty() {
        return;
    }
    deliver(state, &user, event["replyToken"].as_str(), &messages).await;
}

/// Replies with the reply token (free), in batches of five; falls back to a
/// push when the token is spent, expired or missing.
async fn deliver(state: &LineState, user: &str, reply_token: Option<&str>, messages: &[Value]) {
    let batches: Vec<&[Value]> = messages.chunks(5).collect();
    let mut rest = &batches[..];
    if let Some(token) = reply_token {
        match state.client.reply(token, batches[0]).await {
            Ok(()) => rest = &batches[1..],
            Err(e) => tracing::info!(error = %e, "LINE reply failed; pushing instead"),
        }
    }
    for batch in rest {
        let key = crate::domain::codes::uuid_v4();
        if let Err(e) = state.client.push(user, batch, &key).await {
            tracing::warn!(error = %e, "LINE push failed");
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_line_and_reject_tampering() {
        // Example from LINE's documentation style: HMAC-SHA256, Base64.
        let sig = sign("channel-secret", b"{\"events\":[]}");
        assert!(verify_signature(
            "channel-secret",
            b"{\"events\":[]}",
            Some(&sig)
        ));
        assert!(!verify_signature(
            "channel-secret",
            b"{\"events\":[1]}",
            Some(&sig)
        ));
        assert!(!verify_signature("other", b"{\"events\":[]}", Some(&sig)));
        assert!(!verify_signature("channel-secret", b"{}", None));
        assert!(!verify_signature(
            "channel-secret",
            b"{}",
            Some("not base64!")
        ));
    }
}
