//! The Telegram front-end (teloxide): turns updates into intents for the
//! conversation and renders its replies as HTML messages, photos (QR codes) and
//! inline keyboards. Long polling by default; webhook mode, served by taem's own
//! axum server, when `TELEGRAM_WEBHOOK_URL` is set.

use std::sync::Arc;

use teloxide::prelude::*;
use teloxide::types::{
    BotCommand, BotCommandScope, ButtonRequest, ChatMemberKind, InlineKeyboardButton,
    InlineKeyboardMarkup, InputFile, KeyboardButton, KeyboardMarkup, KeyboardRemove, ParseMode,
    ReplyMarkup, UpdateKind,
};
use teloxide::{ApiError, RequestError};

use crate::chat::{Conversation, Customer, Identity, Intent, Message, PhoneKeyboard, Reply, Span};
use crate::config::TelegramSettings;
use crate::domain::inbox::{NewEvent, Source};
use crate::domain::model::MemberRef;
use crate::domain::time::now;
use crate::i18n::Locale;
use crate::notify::gate::Gate;
use crate::service::qr;

pub mod poll;

/// An update is small; anything this large is not Telegram.
const MAX_UPDATE: usize = 1024 * 1024;

/// Telegram's limits (characters, not bytes).
const MAX_TEXT: usize = 4096;
const MAX_CAPTION: usize = 1024;

/// The commands shown in Telegram's menu, each described by `cmd-<name>` in Fluent.
pub const COMMANDS: [&str; 14] = [
    "start",
    "balance",
    "rewards",
    "vouchers",
    "history",
    "card",
    "claim",
    "promotions",
    "invite",
    "link",
    "phone",
    "lang",
    "help",
    "stop",
];

/// Builds the bot client, sharing taem's HTTP client.
pub fn bot(settings: &TelegramSettings, http: reqwest::Client) -> Bot {
    let bot = Bot::with_client(settings.token.expose(), http);
    match &settings.api_url {
        Some(url) => bot.set_api_url(url.clone()),
        None => bot,
    }
}

/// Escapes text for Telegram's HTML parse mode.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// Renders spans as HTML, every value escaped.
pub fn html(spans: &[Span]) -> String {
    spans
        .iter()
        .map(|s| match s {
            Span::Text(t) => escape(t),
            Span::Bold(t) => format!("<b>{}</b>", escape(t)),
            Span::Code(t) => format!("<code>{}</code>", escape(t)),
        })
        .collect()
}

/// Splits a message's spans into chunks of at most `max` characters of HTML,
/// breaking between lines; never inside a span's markup.
fn chunks(spans: &[Span], max: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for span in spans {
        let piece = html(std::slice::from_ref(span));
        for part in split_chars(&piece, max) {
            if current.chars().count() + part.chars().count() > max {
                out.push(std::mem::take(&mut current));
            }
            current.push_str(&part);
        }
    }
    if !current.is_empty() || out.is_empty() {
        out.push(current);
    }
    out
}

/// Splits a (rare) single span longer than `max` characters at line breaks, or
/// hard at `max` characters.
fn split_chars(s: &str, max: usize) -> Vec<String> {
    if s.chars().count() <= max {
        return vec![s.to_string()];
    }
    let mut parts = Vec::new();
    let mut cur = String::new();
    for line in s.split_inclusive('\n') {
        for c in line.chars() {
            if cur.chars().count() == max {
                parts.push(std::mem::take(&mut cur));
            }
            cur.push(c);
        }
    }
    if !cur.is_empty() {
        parts.push(cur);
    }
    parts
}

/// A message's keyboard: the contact button (a reply keyboard, gone once
/// used) or its removal when the message asks for one, else its buttons inline
/// (a message has one keyboard or the other).
fn keyboard(m: &Message) -> Option<ReplyMarkup> {
    match &m.phone_keyboard {
        PhoneKeyboard::Offer(label) => {
            let button = KeyboardButton::new(label.clone()).request(ButtonRequest::Contact);
            return Some(ReplyMarkup::Keyboard(
                KeyboardMarkup::new([[button]])
                    .resize_keyboard()
                    .one_time_keyboard(),
            ));
        }
        PhoneKeyboard::Remove => return Some(ReplyMarkup::KeyboardRemove(KeyboardRemove::new())),
        PhoneKeyboard::Keep => {}
    }
    if m.buttons.is_empty() {
        return None;
    }
    Some(ReplyMarkup::InlineKeyboard(InlineKeyboardMarkup::new(
        m.buttons.iter().map(|row| {
            row.iter()
                .map(|b| InlineKeyboardButton::callback(b.label.clone(), b.intent.to_callback()))
                .collect::<Vec<_>>()
        }),
    )))
}

/// What became of a reply.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivery {
    Sent,
    /// The member blocked the bot or deleted their account.
    Unreachable,
    Failed,
}

fn unreachable_error(e: &RequestError) -> bool {
    matches!(
        e,
        RequestError::Api(
            ApiError::BotBlocked
                | ApiError::UserDeactivated
                | ApiError::CantInitiateConversation
                | ApiError::ChatNotFound
                | ApiError::BotKicked
                | ApiError::BotKickedFromSupergroup
        )
    )
}

/// Sends one request, honouring `retry_after` on 429 (and pausing pushes through
/// `gate` for as long) and retrying network errors a few times with backoff.
async fn with_retries<T, F, Fut>(gate: Option<&Gate>, mut send: F) -> Result<T, RequestError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, RequestError>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        match send().await {
            Err(RequestError::RetryAfter(wait)) if attempt <= 3 => {
                tracing::warn!(seconds = wait.seconds(), "Telegram asked to slow down");
                if let Some(g) = gate {
                    g.pause(wait.duration());
                }
                tokio::time::sleep(wait.duration()).await;
            }
            Err(RequestError::Network(e)) if attempt <= 3 => {
                tracing::warn!(error = %e, attempt, "Telegram network error; retrying");
                let longest = chrono::Duration::milliseconds(600 * attempt as i64);
                let wait = crate::domain::notice::jittered(longest, rand::random::<f64>());
                tokio::time::sleep(wait.to_std().unwrap_or_default()).await;
            }
            other => return other,
        }
    }
}

/// Sends a reply to a chat, message by message; a 429 pauses pushes through
/// `gate` too.
pub async fn send_reply(bot: &Bot, chat: ChatId, reply: &Reply, gate: Option<&Gate>) -> Delivery {
    for m in &reply.messages {
        if let Err(e) = send_message(bot, chat, m, gate).await {
            if unreachable_error(&e) {
                // No chat id in logs (personal data); the member is marked.
                tracing::info!("Telegram user unreachable: {e}");
                return Delivery::Unreachable;
            }
            tracing::warn!(error = %e, "Telegram send failed");
            return Delivery::Failed;
        }
    }
    Delivery::Sent
}

async fn send_message(
    bot: &Bot,
    chat: ChatId,
    m: &Message,
    gate: Option<&Gate>,
) -> Result<(), RequestError> {
    let markup = keyboard(m);
    if let Some(doc) = &m.document {
        // The member's data: a file, with the text as its caption.
        let mut texts = chunks(&m.spans, MAX_CAPTION);
        let caption = texts.remove(0);
        with_retries(gate, || {
            let file = InputFile::memory(doc.bytes.to_vec()).file_name(doc.file_name.clone());
            let mut req = bot
                .send_document(chat, file)
                .caption(caption.clone())
                .parse_mode(ParseMode::Html);
            if texts.is_empty()
                && let Some(k) = &markup
            {
                req = req.reply_markup(k.clone());
            }
            async move { req.await }
        })
        .await?;
        return send_texts(bot, chat, &texts, markup, gate).await;
    }
    let image = match (&m.qr, &m.photo) {
        (Some(code), _) => Some((
            qr::png(&code.data, 512).map_err(|e| {
                RequestError::Io(std::io::Error::other(format!("QR code: {e}")).into())
            })?,
            "qr.png",
        )),
        (None, Some(photo)) => Some((photo.bytes.to_vec(), "picture")),
        (None, None) => None,
    };
    if let Some((png, file_name)) = image {
        let mut texts = chunks(&m.spans, MAX_CAPTION);
        let caption = texts.remove(0);
        with_retries(gate, || {
            let mut req = bot
                .send_photo(chat, InputFile::memory(png.clone()).file_name(file_name))
                .caption(caption.clone())
                .parse_mode(ParseMode::Html);
            if texts.is_empty()
                && let Some(k) = &markup
            {
                req = req.reply_markup(k.clone());
            }
            async move { req.await }
        })
        .await?;
        return send_texts(bot, chat, &texts, markup, gate).await;
    }
    let texts = chunks(&m.spans, MAX_TEXT);
    send_texts(bot, chat, &texts, markup, gate).await
}

/// Sends texts in order; the keyboard goes with the last one.
async fn send_texts(
    bot: &Bot,
    chat: ChatId,
    texts: &[String],
    markup: Option<ReplyMarkup>,
    gate: Option<&Gate>,
) -> Result<(), RequestError> {
    for (i, text) in texts.iter().enumerate() {
        let last = i + 1 == texts.len();
        with_retries(gate, || {
            let mut req = bot
                .send_message(chat, text.clone())
                .parse_mode(ParseMode::Html);
            if last && let Some(k) = &markup {
                req = req.reply_markup(k.clone());
            }
            async move { req.await }
        })
        .await?;
    }
    Ok(())
}

fn customer(user: &teloxide::types::User) -> Customer {
    Customer {
        identity: Identity::Telegram(user.id.0 as i64),
        language_code: user.language_code.clone(),
        first_name: Some(user.first_name.clone()),
    }
}

/// What handling an update needs: the bot, the conversation, and the rate
/// limit shared with the push worker (replies go before pushes).
#[derive(Clone)]
pub struct Handler {
    pub bot: Bot,
    pub conversation: Arc<Conversation>,
    pub gate: Arc<Gate>,
}

/// Handles one kept update: messages, button presses, block and unblock.
pub async fn handle_update(h: &Handler, update: Update) {
    match update.kind {
        UpdateKind::Message(msg) => on_message(h, msg).await,
        UpdateKind::CallbackQuery(q) => on_callback(h, q).await,
        UpdateKind::MyChatMember(upd) => on_my_chat_member(h, upd).await,
        _ => {}
    }
}

async fn on_message(h: &Handler, msg: teloxide::types::Message) {
    // Only private chats: a loyalty card is personal.
    if !msg.chat.is_private() {
        return;
    }
    let Some(user) = msg.from.as_ref() else {
        return;
    };
    let intent = match (msg.text(), msg.contact()) {
        (Some(text), _) => Intent::from_text(text),
        // Only the sender's own card counts: anyone can forward someone else's.
        (None, Some(contact)) => Intent::SharedPhone {
            number: contact.phone_number.clone(),
            own: contact.user_id == Some(user.id),
        },
        (None, None) => Intent::Unknown,
    };
    let who = customer(user);
    let reply = h.conversation.handle(&who, intent, now()).await;
    deliver(h, msg.chat.id, &who, &reply).await;
}

async fn on_callback(h: &Handler, q: CallbackQuery) {
    // Always answer, first: the button stops spinning whatever happens next.
    if let Err(e) = h.bot.answer_callback_query(q.id.clone()).await {
        tracing::debug!(error = %e, "answerCallbackQuery failed");
    }
    let intent = Intent::from_callback(q.data.as_deref().unwrap_or(""));
    let who = customer(&q.from);
    let reply = h.conversation.handle(&who, intent, now()).await;
    let chat = ChatId(q.from.id.0 as i64);
    deliver(h, chat, &who, &reply).await;
}

/// A private chat's member status changed: `kicked` means the user blocked the bot.
async fn on_my_chat_member(h: &Handler, upd: teloxide::types::ChatMemberUpdated) {
    if !upd.chat.is_private() {
        return;
    }
    let reachable = !matches!(upd.new_chat_member.kind, ChatMemberKind::Banned(_));
    let who = customer(&upd.from);
    set_reachable(&h.conversation, &who, reachable).await;
}

/// Sends an interactive reply: its messages take their place in the rate limit
/// before any push.
async fn deliver(h: &Handler, chat: ChatId, who: &Customer, reply: &Reply) {
    for _ in &reply.messages {
        h.gate.interactive();
    }
    match send_reply(&h.bot, chat, reply, Some(&h.gate)).await {
        Delivery::Unreachable => set_reachable(&h.conversation, who, false).await,
        Delivery::Sent | Delivery::Failed => {}
    }
}

/// An update as the inbox keeps it: by its `update_id`, in order per chat.
pub fn inbox_event(update: &serde_json::Value) -> Option<NewEvent> {
    let id = update["update_id"].as_i64()?;
    let chat = [
        &update["message"]["chat"]["id"],
        &update["callback_query"]["from"]["id"],
        &update["my_chat_member"]["chat"]["id"],
    ]
    .into_iter()
    .find_map(|v| v.as_i64())
    .map_or_else(|| format!("update:{id}"), |c| c.to_string());
    Some(NewEvent {
        source: Source::Telegram,
        event_id: id.to_string(),
        chat,
        payload: update.to_string(),
    })
}

/// The webhook (`TELEGRAM_WEBHOOK_URL`'s path) on taem's own server: checks
/// Telegram's secret header in constant time, keeps the update in the inbox,
/// and only then answers 200 (Telegram does not send an update again after a
/// 200).
pub fn webhook_router(
    path: &str,
    secret: crate::domain::model::Secret,
    loyalty: Arc<crate::service::Loyalty>,
    wake: Arc<tokio::sync::Notify>,
) -> axum::Router {
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    use subtle::ConstantTimeEq;
    let hook = move |headers: HeaderMap, body: axum::body::Bytes| {
        let (secret, loyalty, wake) = (secret.clone(), loyalty.clone(), wake.clone());
        async move {
            let given = headers
                .get("x-telegram-bot-api-secret-token")
                .map(|v| v.as_bytes())
                .unwrap_or_default();
            let ok: bool = given.ct_eq(secret.expose().as_bytes()).into();
            if !ok {
                return StatusCode::UNAUTHORIZED.into_response();
            }
            let Some(event) = serde_json::from_slice(&body)
                .ok()
                .as_ref()
                .and_then(inbox_event)
            else {
                return StatusCode::BAD_REQUEST.into_response();
            };
            match loyalty.keep_events(&[event], now()).await {
                Ok(_) => {
                    wake.notify_one();
                    StatusCode::OK.into_response()
                }
                Err(e) => {
                    // Telegram sends it again later.
                    tracing::error!(error = %e, "could not keep a Telegram update");
                    StatusCode::INTERNAL_SERVER_ERROR.into_response()
                }
            }
        }
    };
    axum::Router::new()
        .route(path, axum::routing::post(hook))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_UPDATE))
}

/// Registers the command menu in both languages (and the default one).
pub async fn set_commands(
    bot: &Bot,
    conv: &Conversation,
    default: Locale,
) -> Result<(), RequestError> {
    let commands = |loc: Locale| -> Vec<BotCommand> {
        COMMANDS
            .iter()
            .map(|c| BotCommand::new(*c, conv.i18n().msg(loc, &format!("cmd-{c}"), None)))
            .collect()
    };
    bot.set_my_commands(commands(default))
        .scope(BotCommandScope::Default)
        .await?;
    for loc in Locale::ALL {
        bot.set_my_commands(commands(loc))
            .scope(BotCommandScope::Default)
            .language_code(loc.as_str())
            .await?;
    }
    Ok(())
}

/// Marks a member reachable or not on Telegram (blocked the bot / came back).
async fn set_reachable(conv: &Conversation, who: &Customer, reachable: bool) {
    let Identity::Telegram(id) = who.identity else {
        return;
    };
    if let Err(e) = conv
        .loyalty()
        .set_reachable(&MemberRef::Telegram(id), reachable)
        .await
    {
        tracing::warn!(error = %e, "could not record Telegram reachability");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_every_value() {
        let spans = vec![
            Span::Text("a < b & c > d".into()),
            Span::Bold("<script>".into()),
            Span::Code("\"x\"".into()),
        ];
        assert_eq!(
            html(&spans),
            "a &lt; b &amp; c &gt; d<b>&lt;script&gt;</b><code>&quot;x&quot;</code>"
        );
    }

    /// A network error as reqwest makes one (a request that cannot be built).
    fn network_error() -> RequestError {
        let e = reqwest::Client::new().get("not a url").build().unwrap_err();
        RequestError::Network(Arc::new(e))
    }

    #[tokio::test(start_paused = true)]
    async fn retries_wait_out_429s_and_spread_network_retries_with_jitter() {
        use std::sync::atomic::{AtomicU32, Ordering};
        use std::time::Duration;
        use teloxide::types::Seconds;

        // A 429 waits exactly its retry_after, and pauses pushes for as long.
        let gate = Gate::new(25, Duration::from_secs(1));
        let start = tokio::time::Instant::now();
        let tries = AtomicU32::new(0);
        let sent = with_retries(Some(&gate), || async {
            match tries.fetch_add(1, Ordering::SeqCst) {
                0 => Err(RequestError::RetryAfter(Seconds::from_seconds(7))),
                _ => Ok("sent"),
            }
        })
        .await;
        assert_eq!(sent.unwrap(), "sent");
        assert_eq!(start.elapsed(), Duration::from_secs(7));

        // Network errors: tried again after between half and all of 600 ms,
        // then of 1,200 ms, each loop at its own moment.
        let finished: Vec<Duration> = futures::future::join_all((0..40).map(|_| async {
            let tries = AtomicU32::new(0);
            let start = tokio::time::Instant::now();
            let r = with_retries(None, || async {
                match tries.fetch_add(1, Ordering::SeqCst) {
                    0 | 1 => Err(network_error()),
                    _ => Ok(()),
                }
            })
            .await;
            assert!(r.is_ok());
            start.elapsed()
        }))
        .await;
        for took in &finished {
            assert!(
                (Duration::from_millis(900)..=Duration::from_millis(1800)).contains(took),
                "{took:?}"
            );
        }
        let mut distinct = finished.clone();
        distinct.sort();
        distinct.dedup();
        assert!(distinct.len() > 20, "retries are spread: {distinct:?}");

        // A fourth failure in a row is given up.
        let tries = AtomicU32::new(0);
        let r: Result<(), _> = with_retries(None, || async {
            tries.fetch_add(1, Ordering::SeqCst);
            Err(network_error())
        })
        .await;
        assert!(matches!(r, Err(RequestError::Network(_))));
        assert_eq!(tries.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn long_thai_text_is_split_by_characters_not_bytes() {
        let line = "แต้ม".repeat(500) + "\n"; // 2,001 characters, ~6,000 bytes
        let spans: Vec<Span> = (0..3).map(|_| Span::Text(line.clone())).collect();
        let parts = chunks(&spans, MAX_TEXT);
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.chars().count() <= MAX_TEXT));
        assert_eq!(parts.concat(), line.repeat(3));
    }
}
