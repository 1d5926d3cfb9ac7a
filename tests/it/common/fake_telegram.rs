//! A fake Telegram Bot API on loopback. It speaks the real wire format
//! (`/bot<token>/<Method>`, JSON or multipart in, `{"ok":true,"result":...}` out)
//! so that the real teloxide client runs against it. Tests queue updates and
//! read back every request the bot made.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::sync::Notify;

/// One request the bot made.
#[derive(Debug, Clone)]
pub struct Call {
    /// Lower-cased method name (`sendmessage`, `sendphoto`, ...).
    pub method: String,
    /// JSON body, or the text fields of a multipart body.
    pub body: Value,
    /// Bytes of an uploaded file (sendPhoto).
    pub file: Option<Vec<u8>>,
    /// When the fake received it.
    pub at: std::time::Instant,
}

impl Call {
    pub fn chat_id(&self) -> i64 {
        match &self.body["chat_id"] {
            Value::Number(n) => n.as_i64().unwrap(),
            Value::String(s) => s.parse().unwrap(),
            _ => 0,
        }
    }

    /// The text (sendMessage) or caption (sendPhoto).
    pub fn text(&self) -> String {
        self.body["text"]
            .as_str()
            .or(self.body["caption"].as_str())
            .unwrap_or_default()
            .to_string()
    }

    /// The `reply_markup` sent (inline or reply keyboard, or its removal).
    pub fn markup(&self) -> Value {
        match &self.body["reply_markup"] {
            Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
            v => v.clone(),
        }
    }

    /// Every button's (label, callback data).
    pub fn buttons(&self) -> Vec<(String, String)> {
        self.markup()["inline_keyboard"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|row| row.as_array().cloned().unwrap_or_default())
            .map(|b| {
                (
                    b["text"].as_str().unwrap_or_default().to_string(),
                    b["callback_data"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    pub fn button(&self, data_prefix: &str) -> Option<String> {
        self.buttons()
            .into_iter()
            .map(|(_, d)| d)
            .find(|d| d.starts_with(data_prefix))
    }
}

#[derive(Default)]
struct Inner {
    updates: VecDeque<Value>,
    next_update: i64,
    calls: Vec<Call>,
    blocked: HashSet<i64>,
    /// Chats whose next send is answered 429 (retry after 1 s).
    rate_limited: HashSet<i64>,
    next_message: i64,
    /// getUpdates answers 409 Conflict with this description.
    poll_conflict: Option<&'static str>,
}

#[derive(Clone, Default)]
pub struct FakeTelegram {
    inner: Arc<Mutex<Inner>>,
    changed: Arc<Notify>,
}

pub const TOKEN: &str = "123456:TEST-TOKEN";

impl FakeTelegram {
    /// Starts the fake on a random loopback port; returns it and its base URL.
    pub async fn start() -> (FakeTelegram, String) {
        let fake = FakeTelegram::default();
        let app = Router::new()
            .route("/{bot}/{method}", post(handle))
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (fake, url)
    }

    fn push_update(&self, mut update: Value) {
        let mut inner = self.inner.lock().unwrap();
        inner.next_update += 1;
        update["update_id"] = json!(inner.next_update);
        inner.updates.push_back(update);
        drop(inner);
        self.changed.notify_waiters();
    }

    /// Telegram's answer to getUpdates when another program polls the bot.
    pub const OTHER_POLLER: &'static str = "Conflict: terminated by other getUpdates request; \
        make sure that only one bot instance is running";
    /// Telegram's answer to getUpdates when the bot has a webhook.
    pub const WEBHOOK_SET: &'static str = "Conflict: can't use getUpdates method while webhook \
        is active; use deleteWebhook to delete the webhook first";

    /// Makes getUpdates answer 409 Conflict with `description`.
    pub fn poll_conflict(&self, description: &'static str) {
        self.inner.lock().unwrap().poll_conflict = Some(description);
    }

    /// Makes sends to this chat fail as if the user blocked the bot.
    pub fn block(&self, chat: i64) {
        self.inner.lock().unwrap().blocked.insert(chat);
    }

    /// The user unblocks the bot.
    pub fn unblock(&self, chat: i64) {
        self.inner.lock().unwrap().blocked.remove(&chat);
    }

    /// Answers the next send to this chat with 429 Too Many Requests.
    pub fn rate_limit_once(&self, chat: i64) {
        self.inner.lock().unwrap().rate_limited.insert(chat);
    }

    /// The JSON of an update in which a user types `text` (for webhook tests).
    pub fn text_update(user: i64, lang: &str, text: &str, update_id: i64) -> Value {
        json!({"update_id": update_id, "message": {
            "message_id": update_id, "date": 1_795_000_000,
            "chat": {"id": user, "type": "private", "first_name": "Somchai"},
            "from": {"id": user, "is_bot": false, "first_name": "Somchai", "language_code": lang},
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": text.split_whitespace().next().unwrap().chars().count()}]
        }})
    }

    /// A user types `text` in their private chat with the bot.
    pub fn user_says(&self, user: i64, lang: &str, text: &str) {
        let mut message = json!({
            "message_id": 1000 + self.inner.lock().unwrap().next_update,
            "date": 1_795_000_000,
            "chat": {"id": user, "type": "private", "first_name": "Somchai"},
            "from": {"id": user, "is_bot": false, "first_name": "Somchai", "language_code": lang},
            "text": text,
        });
        if text.starts_with('/') {
            let len = text.split_whitespace().next().unwrap().chars().count();
            message["entities"] = json!([{"type": "bot_command", "offset": 0, "length": len}]);
        }
        self.push_update(json!({"message": message}));
    }

    /// A user sends a contact card: their own with the contact button
    /// (`contact_user` is them), or someone else's (another id, or none).
    pub fn user_shares_contact(
        &self,
        user: i64,
        lang: &str,
        phone_number: &str,
        contact_user: Option<i64>,
    ) {
        let mut contact = json!({"phone_number": phone_number, "first_name": "Somchai"});
        if let Some(id) = contact_user {
            contact["user_id"] = json!(id);
        }
        let message = json!({
            "message_id": 1000 + self.inner.lock().unwrap().next_update,
            "date": 1_795_000_000,
            "chat": {"id": user, "type": "private", "first_name": "Somchai"},
            "from": {"id": user, "is_bot": false, "first_name": "Somchai", "language_code": lang},
            "contact": contact,
        });
        self.push_update(json!({"message": message}));
    }

    /// A user presses an inline button carrying `data`.
    pub fn user_presses(&self, user: i64, lang: &str, data: &str) {
        let n = self.inner.lock().unwrap().next_update;
        self.push_update(json!({"callback_query": {
            "id": format!("cq{n}"),
            "from": {"id": user, "is_bot": false, "first_name": "Somchai", "language_code": lang},
            "chat_instance": "ci",
            "data": data,
            "message": {
                "message_id": 1, "date": 1_795_000_000,
                "chat": {"id": user, "type": "private", "first_name": "Somchai"},
                "text": "menu"
            }
        }}));
    }

    /// A user blocks the bot (Telegram sends `my_chat_member`).
    pub fn user_blocks(&self, user: i64) {
        let bot =
            json!({"id": 1, "is_bot": true, "first_name": "taem", "username": "taem_test_bot"});
        self.push_update(json!({"my_chat_member": {
            "chat": {"id": user, "type": "private", "first_name": "Somchai"},
            "from": {"id": user, "is_bot": false, "first_name": "Somchai"},
            "date": 1_795_000_000,
            "old_chat_member": {"user": bot, "status": "member"},
            "new_chat_member": {"user": bot, "status": "kicked", "until_date": 0}
        }}));
    }

    pub fn calls(&self, method: &str) -> Vec<Call> {
        self.inner
            .lock()
            .unwrap()
            .calls
            .iter()
            .filter(|c| c.method == method.to_ascii_lowercase())
            .cloned()
            .collect()
    }

    /// Messages and photos sent to `chat`, oldest first.
    pub fn sent_to(&self, chat: i64) -> Vec<Call> {
        self.inner
            .lock()
            .unwrap()
            .calls
            .iter()
            .filter(|c| {
                matches!(
                    c.method.as_str(),
                    "sendmessage" | "sendphoto" | "senddocument"
                ) && c.chat_id() == chat
            })
            .cloned()
            .collect()
    }

    /// Every message and photo delivered (refused sends are not counted).
    pub fn delivered(&self) -> Vec<Call> {
        self.inner
            .lock()
            .unwrap()
            .calls
            .iter()
            .filter(|c| {
                matches!(
                    c.method.as_str(),
                    "sendmessage" | "sendphoto" | "senddocument"
                )
            })
            .cloned()
            .collect()
    }

    /// Every request, in order.
    pub fn all_calls(&self) -> Vec<Call> {
        self.inner.lock().unwrap().calls.clone()
    }

    /// Waits until `chat` has received more than `seen` messages and the bot has
    /// gone quiet for a moment; returns the new ones.
    pub async fn replies(&self, chat: i64, seen: usize) -> Vec<Call> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let notified = self.changed.notified();
            let n = self.sent_to(chat).len();
            if n > seen {
                // Let the rest of a multi-message reply arrive.
                tokio::time::sleep(Duration::from_millis(150)).await;
                if self.sent_to(chat).len() == n {
                    return self.sent_to(chat)[seen..].to_vec();
                }
                continue;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("no reply to chat {chat} within 15 s");
            }
        }
    }
}

fn message_json(id: i64, chat: i64, extra: Value) -> Value {
    let mut m = json!({
        "message_id": id,
        "date": 1_795_000_000,
        "chat": {"id": chat, "type": "private", "first_name": "Somchai"},
        "from": {"id": 1, "is_bot": true, "first_name": "taem", "username": "taem_test_bot"},
    });
    for (k, v) in extra.as_object().unwrap() {
        m[k] = v.clone();
    }
    m
}

async fn handle(
    State(fake): State<FakeTelegram>,
    Path((bot, method)): Path<(String, String)>,
    req: Request,
) -> Json<Value> {
    assert_eq!(bot, format!("bot{TOKEN}"), "the bot uses its token");
    let method = method.to_ascii_lowercase();
    let is_multipart = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/"));
    let (body, file) = if is_multipart {
        let mut mp = Multipart::from_request(req, &()).await.unwrap();
        let mut fields = serde_json::Map::new();
        let mut file = None;
        while let Some(field) = mp.next_field().await.unwrap() {
            let name = field.name().unwrap_or_default().to_string();
            if field.file_name().is_some() {
                file = Some(field.bytes().await.unwrap().to_vec());
            } else {
                let text = field.text().await.unwrap();
                let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
                fields.insert(name, value);
            }
        }
        (Value::Object(fields), file)
    } else {
        let bytes = axum::body::to_bytes(req.into_body(), usize::MAX)
            .await
            .unwrap();
        (serde_json::from_slice(&bytes).unwrap_or(json!({})), None)
    };
    let call = Call {
        method: method.clone(),
        body: body.clone(),
        file,
        at: std::time::Instant::now(),
    };
    if method == "getupdates" {
        if let Some(conflict) = fake.inner.lock().unwrap().poll_conflict {
            return Json(json!({"ok": false, "error_code": 409, "description": conflict}));
        }
        return Json(get_updates(&fake, &body).await);
    }
    let chat = call.chat_id();
    let mut inner = fake.inner.lock().unwrap();
    let blocked = inner.blocked.contains(&chat);
    let limited =
        (method == "sendmessage" || method == "sendphoto") && inner.rate_limited.remove(&chat);
    // A refused send is recorded under its own name: it delivered nothing.
    let mut call = call;
    if limited {
        call.method = format!("{method} (429)");
    } else if blocked && (method == "sendmessage" || method == "sendphoto") {
        call.method = format!("{method} (403)");
    }
    inner.calls.push(call);
    inner.next_message += 1;
    let id = inner.next_message;
    drop(inner);
    fake.changed.notify_waiters();
    let result = match method.as_str() {
        "getme" => {
            json!({"id": 1, "is_bot": true, "first_name": "taem", "username": "taem_test_bot",
            "can_join_groups": false, "can_read_all_group_messages": false,
            "supports_inline_queries": false, "has_main_web_app": false})
        }
        "sendmessage" | "sendphoto" if limited => {
            return Json(json!({"ok": false, "error_code": 429,
                "description": "Too Many Requests: retry after 1",
                "parameters": {"retry_after": 1}}));
        }
        "sendmessage" | "sendphoto" if blocked => {
            return Json(json!({"ok": false, "error_code": 403,
                "description": "Forbidden: bot was blocked by the user"}));
        }
        "sendmessage" => message_json(id, chat, json!({"text": body["text"]})),
        "sendphoto" => message_json(
            id,
            chat,
            json!({
                "photo": [{"file_id": "f", "file_unique_id": "u", "width": 512, "height": 512}],
                "caption": body["caption"]
            }),
        ),
        "senddocument" => message_json(
            id,
            chat,
            json!({
                "document": {"file_id": "d", "file_unique_id": "u", "file_name": "data.json"},
                "caption": body["caption"]
            }),
        ),
        _ => json!(true),
    };
    Json(json!({"ok": true, "result": result}))
}

async fn get_updates(fake: &FakeTelegram, body: &Value) -> Value {
    let offset = body["offset"].as_i64().unwrap_or(0);
    let deadline = tokio::time::Instant::now() + Duration::from_millis(500);
    loop {
        let notified = fake.changed.notified();
        {
            let mut inner = fake.inner.lock().unwrap();
            inner
                .updates
                .retain(|u| u["update_id"].as_i64().unwrap() >= offset);
            if !inner.updates.is_empty() {
                let updates: Vec<Value> = inner.updates.iter().cloned().collect();
                return json!({"ok": true, "result": updates});
            }
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return json!({"ok": true, "result": []});
        }
    }
}
