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
    /// The Telegram poller (long polling only).
    poller: Option<JoinHandle<telegram::poll::Stop>>,
    inbox: JoinHandle<()>,
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
        if guard.is_some() {
            // A lone SQLite server: chat events held when it stopped are free.
            store.inbox_release().await?;
        }
        let (stop, stopped) = watch::channel(false);
        let inbox_wake = Arc::new(tokio::sync::Notify::new());
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
        if let Some(url) = &settings.replica_url {
            loyalty = loyalty.with_reader(open_replica(url).await?);
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
        let (mut extra, poller, telegram_in, telegram_out) = match &settings.telegram {
            Some(tg) => {
                let bot = telegram::bot(tg, http_client.clone());
                let handler = telegram::Handler {
                    bot: bot.clone(),
                    conversation: conversation.clone(),
                    gate: telegram_gate.clone(),
                };
                let (router, poller) = start_telegram(
                    &handler,
                    tg,
                    settings.default_locale,
                    inbox_wake.clone(),
                    stopped.clone(),
                )
                .await?;
                let out = notify::TelegramOut {
                    bot,
                    gate: telegram_gate.clone(),
                };
                (router, poller, Some(handler), Some(out))
            }
            None => (axum::Router::new(), None, None, None),
        };
        let mut line_out = None;
        let mut line_in = None;
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
            let state = crate::line::LineState {
                conversation: conversation.clone(),
                client,
                channel_secret: line.channel_secret.clone(),
                qr_urls: qr_urls.clone(),
                inbox: inbox_wake.clone(),
            };
            line_in = Some(state.clone());
            extra = extra
                .merge(crate::line::router(state))
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
        let inbox = tokio::spawn(
            Arc::new(crate::inbox::Worker {
                store: store.clone(),
                wake: inbox_wake,
                lease: settings.inbox_lease,
                line: line_in,
                telegram: telegram_in,
            })
            .run(stopped.clone()),
        );
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
            poller,
            inbox,
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
        if let Some(p) = self.poller {
            p.abort();
        }
        self.inbox.abort();
    }

    /// Stops accepting, lets in-flight requests finish, then returns.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        // Everything watches `stop`: the server finishes its requests, the
        // poller gives its lease up, the inbox worker finishes the events in hand.
        let _ = self.stop.send(true);
        self.server.await??;
        if let Some(poller) = self.poller {
            poller.await?;
        }
        self.inbox.await?;
        self.sweeper.await?;
        if let Some(pusher) = self.pusher {
            pusher.await?;
        }
        Ok(())
    }
}

/// Opens the replica the reports read from (`TAEM_REPLICA_URL`).
pub async fn open_replica(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    let replica = store::connect_replica(url)
        .await
        .map_err(|e| anyhow::anyhow!("TAEM_REPLICA_URL {}: {e}", crate::config::redact_url(url)))?;
    tracing::info!("reports and exports read from the replica");
    Ok(replica)
}

/// Starts the Telegram bot: registers its commands, then (with
/// `TELEGRAM_WEBHOOK_URL`) sets the webhook and returns the route that keeps its
/// updates, or starts the poller.
async fn start_telegram(
    h: &telegram::Handler,
    tg: &TelegramSettings,
    default_locale: crate::i18n::Locale,
    wake: Arc<tokio::sync::Notify>,
    stopped: watch::Receiver<bool>,
) -> anyhow::Result<(axum::Router, Option<JoinHandle<telegram::poll::Stop>>)> {
    use teloxide::payloads::setters::*;
    use teloxide::prelude::Requester;

    let bot = &h.bot;
    // The bot's username makes members' invitation links (t.me/<bot>?start=ref_...).
    match bot.get_me().await {
        Ok(me) => h.conversation.set_telegram_bot(me.user.username.clone()),
        Err(e) => tracing::warn!(error = %e, "could not read the Telegram bot's username"),
    }
    if let Err(e) = telegram::set_commands(bot, &h.conversation, default_locale).await {
        tracing::warn!(error = %e, "could not register the Telegram command menu");
    }
    let loyalty = h.conversation.loyalty().clone();
    match (&tg.webhook_url, &tg.webhook_secret) {
        (Some(url), Some(secret)) => {
            // Set at every start (every instance sets the same); never deleted at
            // a stop, which would break rolling restarts.
            bot.set_webhook(url.clone())
                .secret_token(secret.expose().to_string())
                .await?;
            tracing::info!(url = %url, "Telegram bot receiving updates by webhook");
            let router = telegram::webhook_router(url.path(), secret.clone(), loyalty, wake);
            Ok((router, None))
        }
        _ => {
            let poller = telegram::poll::Poller {
                bot: bot.clone(),
                loyalty,
                wake,
                holder: telegram::poll::holder(),
            };
            Ok((axum::Router::new(), Some(tokio::spawn(poller.run(stopped)))))
        }
    }
}

/// Handled chat events' ids are kept this long to spot redeliveries, then pruned.
pub const INBOUND_EVENT_DAYS: i64 = crate::domain::inbox::KEEP_DAYS;

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
        // Journeys: welcomes, birthdays, win-backs and nudges due now.
        let journeys = crate::service::Loyalty::new(store.clone(), tz)
            .run_journeys(now())
            .await;
        crate::metrics::sweep("journeys", journeys.is_ok());
        match journeys {
            Ok(run) if run.total() > 0 => {
                for j in &run.journeys {
                    let (given, held_out) = (j.given, j.held_out);
                    tracing::info!(journey = j.journey.as_str(), given, held_out, "journey run");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "journeys failed"),
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
