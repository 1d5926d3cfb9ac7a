//! Wiring: builds the running application from settings, and runs it until a
//! shutdown signal. Tests build it on port 0.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono_tz::Tz;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::chat::Conversation;
use crate::config::{Settings, TelegramSettings};
use crate::domain::time::now;
use crate::http::{self, AppState};
use crate::i18n::I18n;
use crate::notify::{self, gate::Gate};
use crate::service::Loyalty;
use crate::store::{self, Store};
use crate::telegram;

/// How often `serve` gives back the points of payments whose hold ran out.
const PAYMENT_HOLD_INTERVAL: Duration = Duration::from_secs(20);

/// How often `serve` runs the expiry sweep.
pub const EXPIRY_INTERVAL: Duration = Duration::from_secs(600);

pub struct Application {
    pub addr: SocketAddr,
    pub store: Arc<dyn Store>,
    stop: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    sweeper: JoinHandle<()>,
    pusher: Option<JoinHandle<()>>,
    telegram: Option<(teloxide::dispatching::ShutdownToken, JoinHandle<()>)>,
    // Held for the life of the server (SQLite only): a second server fails.
    _guard: Option<std::fs::File>,
}

impl Application {
    /// Opens the database (migrating it), takes the single-server lock for
    /// SQLite, binds the HTTP address and starts serving and sweeping.
    pub async fn start(settings: &Settings) -> anyhow::Result<Application> {
        let guard = if store::is_postgres_url(&settings.database_url) {
            None
        } else {
            Some(store::sqlite::serve_guard(&settings.database_url)?)
        };
        let store = store::connect(&settings.database_url).await?;
        // One HTTP client (connection pool, TLS) for Telegram and LINE.
        let http_client = reqwest::Client::new();
        let line_client = settings.line.as_ref().map(|line| {
            crate::line::LineClient::new(
                http_client.clone(),
                line.access_token.clone(),
                line.api_url.clone(),
            )
        });
        let mut loyalty =
            Loyalty::new(store.clone(), settings.timezone).with_guess_policy(settings.guess_policy);
        if let Some(client) = &line_client {
            // Broadcasts are checked against LINE's monthly quota first.
            loyalty = loyalty.with_line_quota(Arc::new(client.clone()));
        }
        let loyalty = Arc::new(loyalty);
        let i18n = Arc::new(I18n::load().map_err(anyhow::Error::msg)?);
        let conversation = Arc::new(Conversation::new(
            loyalty.clone(),
            i18n.clone(),
            settings.default_locale,
        ));
        // Telegram's limits, shared by interactive replies and pushes.
        let telegram_gate = Arc::new(Gate::new(settings.telegram_rate, Duration::from_secs(1)));
        let listener = http::bind(settings.http_addr)
            .await
            .map_err(|e| anyhow::anyhow!("TAEM_HTTP_ADDR {}: {e}", settings.http_addr))?;
        let addr = listener.local_addr()?;
        let (mut extra, telegram, telegram_out) = match &settings.telegram {
            Some(tg) => {
                let bot = telegram::bot(tg, http_client.clone());
                let (router, running) = start_telegram(
                    bot.clone(),
                    tg,
                    settings,
                    conversation.clone(),
                    telegram_gate.clone(),
                )
                .await?;
                let out = notify::TelegramOut {
                    bot,
                    gate: telegram_gate.clone(),
                };
                (router, Some(running), Some(out))
            }
            None => (axum::Router::new(), None, None),
        };
        let mut line_out = None;
        if let (Some(line), Some(client)) = (&settings.line, line_client) {
            // QR image URLs are sealed with a key of their own, derived from the
            // server's secret (never from a platform's).
            let server_secret = match &settings.secret_key {
                Some(k) => k.clone(),
                None => {
                    let candidate =
                        crate::domain::model::Secret::new(hex::encode(rand::random::<[u8; 32]>()));
                    store.server_key("server_secret", &candidate, now()).await?
                }
            };
            let qr_urls = settings
                .public_url
                .clone()
                .map(|u| http::qr::QrUrls::new(u, server_secret.expose()));
            if qr_urls.is_none() {
                tracing::warn!(
                    "TAEM_PUBLIC_URL is not set: LINE members get codes without QR images"
                );
            }
            // The account's basic ID makes members' invitation links.
            match client.basic_id().await {
                Ok(id) if !id.is_empty() => conversation.set_line_basic_id(Some(id)),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not read the LINE account's basic ID"),
            }
            line_out = Some(notify::LineOut {
                client: client.clone(),
                gate: Arc::new(Gate::new(settings.line_rate, Duration::ZERO)),
                qr_urls: qr_urls.clone(),
            });
            extra = extra
                .merge(crate::line::router(crate::line::LineState {
                    conversation: conversation.clone(),
                    client,
                    channel_secret: line.channel_secret.clone(),
                    qr_urls: qr_urls.clone(),
                }))
                .merge(
                    axum::Router::new()
                        .route("/qr/{file}", axum::routing::get(http::qr::image))
                        .with_state(qr_urls.clone()),
                )
                .merge(
                    axum::Router::new()
                        .route("/my-data/{file}", axum::routing::get(http::qr::member_data))
                        .with_state((qr_urls, loyalty.clone())),
                );
            tracing::info!("LINE webhook at /line/webhook");
        }
        // The merchant console; its cookies are Secure behind an https public URL.
        let base = match &settings.public_url {
            Some(u) => u.as_str().to_string(),
            None => format!("http://{addr}"),
        };
        extra = extra.merge(crate::console::router(crate::console::Console::new(
            loyalty.clone(),
            i18n.clone(),
            base,
            settings.default_locale,
        )));
        let (stop, stopped) = watch::channel(false);
        let server = tokio::spawn(http::serve(
            listener,
            AppState::new(loyalty)
                .with_admin_token(settings.admin_token.clone())
                .with_metrics_token(settings.metrics_token.clone())
                .with_v1_signatures(settings.accept_v1_signatures),
            extra,
            settings.http_limits,
            stopped.clone(),
        ));
        let pusher = (telegram_out.is_some() || line_out.is_some()).then(|| {
            let worker = Arc::new(notify::Worker {
                store: store.clone(),
                i18n,
                tz: settings.timezone,
                default_locale: settings.default_locale,
                quiet: settings.quiet_hours,
                telegram: telegram_out,
                line: line_out,
                lease: settings.push_lease,
                telegram_rate: settings.telegram_rate,
                line_rate: settings.line_rate,
            });
            tokio::spawn(worker.run(stopped.clone()))
        });
        let sweeper = tokio::spawn(sweep_periodically(
            store.clone(),
            settings.timezone,
            settings.guess_policy,
            stopped,
        ));
        Ok(Application {
            addr,
            store,
            stop,
            server,
            sweeper,
            pusher,
            telegram,
            _guard: guard,
        })
    }

    /// Stops everything at once, as a crash would (for tests of recovery):
    /// nothing is finished or recorded.
    pub fn abort(self) {
        self.server.abort();
        self.sweeper.abort();
        if let Some(p) = self.pusher {
            p.abort();
        }
        if let Some((_, t)) = self.telegram {
            t.abort();
        }
    }

    /// Stops accepting, lets in-flight requests finish, then returns.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        // Ask the bot to stop first (no new updates are handled), then stop the
        // HTTP server: in webhook mode the bot's update stream ends only when the
        // server drops its route.
        if let Some((token, _)) = &self.telegram {
            // Err means the dispatcher is idle or already stopping.
            let _ = token.shutdown();
        }
        let _ = self.stop.send(true);
        self.server.await??;
        if let Some((_, task)) = self.telegram {
            let _ = task.await;
        }
        self.sweeper.await?;
        if let Some(pusher) = self.pusher {
            pusher.await?;
        }
        Ok(())
    }
}

/// Starts the Telegram bot: registers its commands, then long-polls, or (with
/// `TELEGRAM_WEBHOOK_URL`) sets the webhook and returns the route that receives
/// updates on taem's own server.
async fn start_telegram(
    bot: teloxide::Bot,
    tg: &TelegramSettings,
    settings: &Settings,
    conversation: Arc<Conversation>,
    gate: Arc<Gate>,
) -> anyhow::Result<(
    axum::Router,
    (teloxide::dispatching::ShutdownToken, JoinHandle<()>),
)> {
    use teloxide::payloads::setters::*;
    use teloxide::prelude::Requester;
    use teloxide::update_listeners::webhooks;

    // The bot's username makes members' invitation links (t.me/<bot>?start=ref_...).
    match bot.get_me().await {
        Ok(me) => conversation.set_telegram_bot(me.user.username.clone()),
        Err(e) => tracing::warn!(error = %e, "could not read the Telegram bot's username"),
    }
    if let Err(e) = telegram::set_commands(&bot, &conversation, settings.default_locale).await {
        tracing::warn!(error = %e, "could not register the Telegram command menu");
    }
    let mut dispatcher = telegram::dispatcher(bot.clone(), conversation, gate);
    let token = dispatcher.shutdown_token();
    let errors =
        teloxide::error_handlers::LoggingErrorHandler::with_custom_text("Telegram updates");
    match (&tg.webhook_url, &tg.webhook_secret) {
        (Some(url), Some(secret)) => {
            let options = webhooks::Options::new(settings.http_addr, url.clone())
                .secret_token(secret.expose().to_string());
            // No set-up calls from teloxide (it would delete the webhook on stop,
            // breaking rolling restarts); taem sets it once here.
            let (listener, _stop, router) = webhooks::axum_no_setup(options);
            bot.set_webhook(url.clone())
                .secret_token(secret.expose().to_string())
                .await?;
            let task = tokio::spawn(async move {
                if let Err(e) = dispatcher
                    .try_dispatch_with_listener(listener, errors)
                    .await
                {
                    tracing::error!(error = %e, "Telegram bot stopped: getMe failed");
                }
            });
            let guarded = telegram::guard_webhook(router, secret.clone());
            tracing::info!(url = %url, "Telegram bot receiving updates by webhook");
            Ok((guarded, (token, task)))
        }
        _ => {
            let listener = teloxide::update_listeners::polling_default(bot).await;
            let task = tokio::spawn(async move {
                if let Err(e) = dispatcher
                    .try_dispatch_with_listener(listener, errors)
                    .await
                {
                    tracing::error!(error = %e, "Telegram bot stopped: getMe failed");
                }
            });
            tracing::info!("Telegram bot long polling");
            Ok((axum::Router::new(), (token, task)))
        }
    }
}

/// Inbound event ids (LINE's `webhookEventId`) are kept this long to spot
/// redeliveries, then pruned.
pub const INBOUND_EVENT_DAYS: i64 = 7;

async fn sweep_periodically(
    store: Arc<dyn Store>,
    tz: Tz,
    guess: crate::domain::guess::GuessPolicy,
    mut stopped: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(EXPIRY_INTERVAL);
    // Payments' holds last minutes: their points go back soon after.
    let mut holds = tokio::time::interval(PAYMENT_HOLD_INTERVAL);
    let mut reviewed_on = None;
    loop {
        let full = tokio::select! {
            _ = tick.tick() => true,
            _ = holds.tick() => false,
            _ = stopped.wait_for(|s| *s) => return,
        };
        if !full {
            let swept = store.expire_payments(now()).await;
            crate::metrics::sweep("payment_holds", swept.is_ok());
            match swept {
                Ok((n, points)) if n > 0 => {
                    tracing::info!(payments = n, points, "payment holds ran out");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "payment hold sweep failed"),
            }
            continue;
        }
        // A failed sweep is retried at the next tick; it never stops the server.
        let swept = store.expire_due(now()).await;
        crate::metrics::sweep("expiry", swept.is_ok());
        match swept {
            Ok(s) if s.lots_expired + s.vouchers_expired > 0 => tracing::info!(
                lots = s.lots_expired,
                points = s.points_expired,
                vouchers = s.vouchers_expired,
                "expiry sweep"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "expiry sweep failed"),
        }
        let t = now();
        let events_before = t - chrono::Duration::days(INBOUND_EVENT_DAYS);
        match store.prune(t, events_before, guess.forget_before(t)).await {
            Ok(p) if p.link_tokens + p.inbound_events + p.guesses > 0 => tracing::info!(
                link_codes = p.link_tokens,
                inbound_events = p.inbound_events,
                wrong_tries = p.guesses,
                "pruned"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "pruning failed"),
        }
        match crate::notify::remind_expiring(store.as_ref(), now()).await {
            Ok(n) if n > 0 => tracing::info!(members = n, "expiry reminders queued"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "expiry reminders failed"),
        }
        // The reports' roll-up takes in what the ledger gained since.
        let rolled = crate::service::reports::roll_up(store.as_ref(), tz, now()).await;
        crate::metrics::sweep("reports_roll_up", rolled.is_ok());
        if let Err(e) = rolled {
            tracing::warn!(error = %e, "reports roll-up failed");
        }
        // The tier review, members' classes and segments and the retention
        // sweep run once a local day (at start, then after midnight).
        let today = now().with_timezone(&tz).date_naive();
        if reviewed_on != Some(today) {
            let loyalty = crate::service::Loyalty::new(store.clone(), tz);
            match loyalty.refresh_segments(now()).await {
                Ok(n) => tracing::info!(members = n, "classes and segments worked out"),
                Err(e) => tracing::warn!(error = %e, "classes and segments failed"),
            }
            // Members inactive for the retention period are anonymised.
            let swept = loyalty.privacy_sweep(now()).await;
            crate::metrics::sweep("retention", swept.is_ok());
            match swept {
                Ok(Some((_, n))) if n > 0 => {
                    tracing::info!(members = n, "retention: inactive members anonymised");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "retention sweep failed"),
            }
            match review_tiers(store.as_ref()).await {
                Ok(moves) => {
                    reviewed_on = Some(today);
                    if !moves.is_empty() {
                        tracing::info!(members = moves.len(), "tier review moved members down");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "tier review failed"),
            }
        }
    }
}

async fn review_tiers(
    store: &dyn Store,
) -> Result<Vec<crate::domain::model::TierChange>, crate::store::StoreError> {
    let program = store.program().await?;
    store
        .review_tiers(&program.tiers, program.currency.code(), now())
        .await
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
