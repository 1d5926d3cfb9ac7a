//! Long polling (without `TELEGRAM_WEBHOOK_URL`): `getUpdates`, each batch kept
//! in the inbox before the next request (whose offset is what tells Telegram the
//! batch arrived), then handled from there like the webhook's updates.
//!
//! Only one program may long-poll a bot. Instances sharing a database take
//! turns through a lease: the holder polls, the others stand by and take over
//! within [`HOLD`] when it stops. A program elsewhere polling the same bot (or
//! a webhook set on it) makes Telegram answer 409 Conflict: this instance then
//! stops polling and says what to do, rather than taking the updates in turns
//! with it.

use std::sync::Arc;
use std::time::Duration;

use teloxide::payloads::GetUpdatesSetters;
use teloxide::prelude::*;
use teloxide::types::AllowedUpdate;
use teloxide::{ApiError, RequestError};
use tokio::sync::{Notify, watch};

use crate::domain::time::now;
use crate::service::Loyalty;

/// The lease among instances sharing a database.
pub const LEASE: &str = "telegram-poll";

/// How long the lease is held without renewal: a stopped holder's turn passes
/// after this.
pub const HOLD: Duration = Duration::from_secs(30);

/// A long poll waits this long for updates (well within [`HOLD`]).
const POLL_SECONDS: u32 = 10;

/// How often a standing-by instance looks whether the lease is free.
const STANDBY: Duration = Duration::from_secs(5);

pub struct Poller {
    pub bot: Bot,
    pub loyalty: Arc<Loyalty>,
    pub wake: Arc<Notify>,
    /// This instance's name in the lease (host, process, a random tag).
    pub holder: String,
}

/// What stopped polling for good.
#[derive(Debug, PartialEq, Eq)]
pub enum Stop {
    Shutdown,
    /// Another program long-polls the bot.
    OtherPoller,
    /// The bot has a webhook.
    WebhookSet,
}

impl Poller {
    /// Polls until `stopped` or a conflict; gives the lease up on the way out.
    pub async fn run(self, mut stopped: watch::Receiver<bool>) -> Stop {
        let mut offset = 0;
        let mut turn = None;
        let mut failures = 0;
        let why = loop {
            if *stopped.borrow() {
                break Stop::Shutdown;
            }
            let ours = match self
                .loyalty
                .take_lease(LEASE, &self.holder, HOLD, now())
                .await
            {
                Ok(ours) => ours,
                Err(e) => {
                    tracing::warn!(error = %e, "could not take the Telegram polling lease");
                    false
                }
            };
            if turn != Some(ours) {
                turn = Some(ours);
                crate::metrics::telegram_polling(i8::from(ours));
                if ours {
                    tracing::info!("Telegram bot long polling");
                } else {
                    tracing::info!(
                        "another instance sharing this database long-polls the Telegram bot; \
                         this one stands by and takes over if it stops"
                    );
                }
            }
            if !ours {
                if wait(&mut stopped, STANDBY).await {
                    break Stop::Shutdown;
                }
                continue;
            }
            let request = self
                .bot
                .get_updates()
                .offset(offset)
                .timeout(POLL_SECONDS)
                .allowed_updates([
                    AllowedUpdate::Message,
                    AllowedUpdate::CallbackQuery,
                    AllowedUpdate::MyChatMember,
                ]);
            let answer = tokio::select! {
                a = request.send() => a,
                _ = stopped.wait_for(|s| *s) => break Stop::Shutdown,
            };
            let fault = match answer {
                Ok(updates) if updates.is_empty() => None,
                Ok(updates) => {
                    let next = updates.iter().map(|u| u.id.0 as i32 + 1).max();
                    let events: Vec<_> = updates
                        .iter()
                        .filter_map(|u| serde_json::to_value(u).ok())
                        .filter_map(|v| super::inbox_event(&v))
                        .collect();
                    match self.loyalty.keep_events(&events, now()).await {
                        Ok(_) => {
                            self.wake.notify_one();
                            offset = next.unwrap_or(offset);
                            None
                        }
                        // Not confirmed: Telegram gives them again.
                        Err(e) => Some(format!("could not keep Telegram updates: {e}")),
                    }
                }
                Err(e) if conflict(&e) == Some(Stop::OtherPoller) => {
                    tracing::error!(
                        "another program is long-polling this Telegram bot (Telegram answered \
                         409 Conflict), so this instance stopped polling. Only one may poll a \
                         bot: stop the other program, or give each deployment its own bot. To \
                         run several taem instances on one database, start them all on it (they \
                         take turns) or use TELEGRAM_WEBHOOK_URL (see the README, \"Several \
                         instances\")"
                    );
                    break Stop::OtherPoller;
                }
                Err(e) if conflict(&e) == Some(Stop::WebhookSet) => {
                    tracing::error!(
                        "this Telegram bot has a webhook, so it cannot be long-polled and this \
                         instance stopped polling. Set TELEGRAM_WEBHOOK_URL and \
                         TELEGRAM_WEBHOOK_SECRET to receive its updates here too, or remove the \
                         webhook (https://api.telegram.org/bot<token>/deleteWebhook) if nothing \
                         uses it"
                    );
                    break Stop::WebhookSet;
                }
                Err(e) => Some(format!("Telegram getUpdates failed: {e}")),
            };
            match fault {
                None => failures = 0,
                Some(message) => {
                    failures += 1;
                    tracing::warn!(attempt = failures, "{message}");
                    let longest = chrono::Duration::seconds(i64::from(failures.min(6)) * 5);
                    let pause = crate::domain::notice::jittered(longest, rand::random::<f64>());
                    if wait(&mut stopped, pause.to_std().unwrap_or_default()).await {
                        break Stop::Shutdown;
                    }
                }
            }
        };
        if why != Stop::Shutdown {
            crate::metrics::telegram_polling(-1);
        }
        if let Err(e) = self.loyalty.drop_lease(LEASE, &self.holder, now()).await {
            tracing::warn!(error = %e, "could not give the Telegram polling lease up");
        }
        why
    }
}

/// The 409 Conflicts of `getUpdates` (teloxide names Telegram's older wording;
/// the current one, with more words, comes as an unknown error).
fn conflict(e: &RequestError) -> Option<Stop> {
    match e {
        RequestError::Api(ApiError::TerminatedByOtherGetUpdates) => Some(Stop::OtherPoller),
        RequestError::Api(ApiError::CantGetUpdates) => Some(Stop::WebhookSet),
        RequestError::Api(ApiError::Unknown(text))
            if text.contains("terminated by other getUpdates") =>
        {
            Some(Stop::OtherPoller)
        }
        RequestError::Api(ApiError::Unknown(text)) if text.contains("webhook is active") => {
            Some(Stop::WebhookSet)
        }
        _ => None,
    }
}

/// Waits `pause` or until stopped; true when stopped.
async fn wait(stopped: &mut watch::Receiver<bool>, pause: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(pause) => {}
        _ = stopped.wait_for(|s| *s) => {}
    }
    *stopped.borrow()
}

/// This instance's name in leases: the host, the process and a random tag.
pub fn holder() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "taem".into());
    format!(
        "{host}/{}/{:04x}",
        std::process::id(),
        rand::random::<u16>()
    )
}
