//! Pushes: the outbox worker inside `taem serve`.
//!
//! Store operations write notices to the outbox in the same transaction as the
//! change behind them (`store::*::outbox::notify`); broadcasts queue one row per
//! member and channel. The worker claims due rows (leased, so a crashed worker's
//! rows are taken over), renders each in the member's language and delivers it:
//!
//! - **Telegram**: one `sendMessage` per row, at most `TAEM_TELEGRAM_RATE` a
//!   second overall and one a second per chat ([`gate::Gate`]); a 429 pauses the
//!   whole queue for its `retry_after`; interactive replies take their turn
//!   first. Each send is recorded as soon as Telegram accepts it, before the
//!   next: a crash between the two re-sends that one message after the lease
//!   runs out, so a crash costs at most one duplicate per message in flight
//!   (at most [`IN_FLIGHT`]).
//! - **LINE**: broadcasts go by multicast in chunks of at most 500 recipients
//!   sharing a language, each chunk with an `X-Line-Retry-Key` fixed when it was
//!   queued, so a retried or taken-over chunk is never delivered twice (LINE
//!   answers 409, counted as sent). Single notices go by push, with a retry key
//!   derived from the row.
//! - Network errors, 429 and 5xx are retried with backoff (between half of
//!   and all of 5 s doubling, drawn for each row so that rows that failed
//!   together come back spread out; at most 8 attempts); a blocked bot (403) marks the member unreachable on that
//!   channel, and rows for unreachable members are closed without sending.
//! - A LINE 429 that says the month's message quota is used up is not retried:
//!   the rows wait for the next month (`domain::quota`), and marketing to LINE
//!   is paused in the database (so every instance stops) until then or until
//!   `taem line resume`; transactional pushes are still tried.
//! - Marketing waits outside quiet hours (`TAEM_QUIET_HOURS`, default 21-8
//!   local) and is dropped for members who opted out, checked at delivery.

pub mod gate;
pub mod render;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use sha2::{Digest, Sha256};
use teloxide::Bot;
use teloxide::types::ChatId;
use tokio::sync::{Semaphore, watch};

use crate::chat::Reply;
use crate::domain::campaign::Campaign;
use crate::domain::model::Channel;
use crate::domain::notice::{Notice, OutboxItem, Outcome, QuietHours};
use crate::domain::quota::{LINE_MONTHLY_LIMIT, next_month};
use crate::domain::time::now;
use crate::http::qr::QrUrls;
use crate::i18n::{I18n, Locale};
use crate::line::LineClient;
use crate::store::Store;
use crate::telegram::{self, Delivery};
use gate::Gate;

/// Telegram messages sent at once (each still waits for the gate).
pub const IN_FLIGHT: usize = 16;
/// Rows claimed per round at most, and LINE chunks.
const CLAIM: i64 = 200;
const CLAIM_CHUNKS: i64 = 4;
/// Wait between rounds when nothing is due.
const IDLE: Duration = Duration::from_millis(500);

pub struct TelegramOut {
    pub bot: Bot,
    pub gate: Arc<Gate>,
}

pub struct LineOut {
    pub client: LineClient,
    pub gate: Arc<Gate>,
    pub qr_urls: Option<QrUrls>,
}

pub struct Worker {
    pub store: Arc<dyn Store>,
    pub i18n: Arc<I18n>,
    pub tz: Tz,
    pub default_locale: Locale,
    pub quiet: Option<QuietHours>,
    pub telegram: Option<TelegramOut>,
    pub line: Option<LineOut>,
    /// How long claimed rows are held (see `TAEM_PUSH_LEASE_SECONDS`).
    pub lease: Duration,
    /// The apps' rates, to claim no more than a quarter of a lease can send.
    pub telegram_rate: u32,
    pub line_rate: u32,
}

/// Names for rendering, read once per round.
struct Lookups {
    merchants: HashMap<String, String>,
    campaigns: HashMap<i64, Campaign>,
    tiers: crate::domain::tier::Tiers,
}

impl Worker {
    /// Delivers due notices until `stopped` turns true: one loop per chat app,
    /// so LINE chunks never wait behind Telegram's slower rate.
    pub async fn run(self: Arc<Self>, stopped: watch::Receiver<bool>) {
        let mut loops = tokio::task::JoinSet::new();
        if self.telegram.is_some() {
            loops.spawn(self.clone().run_channel(Channel::Telegram, stopped.clone()));
        }
        if self.line.is_some() {
            loops.spawn(self.clone().run_channel(Channel::Line, stopped.clone()));
        }
        while loops.join_next().await.is_some() {}
    }

    async fn run_channel(self: Arc<Self>, channel: Channel, mut stopped: watch::Receiver<bool>) {
        loop {
            if *stopped.borrow() {
                return;
            }
            let busy = match self.round(channel).await {
                Ok(n) => n > 0,
                Err(e) => {
                    tracing::warn!(error = %e, ?channel, "push round failed");
                    false
                }
            };
            if !busy {
                tokio::select! {
                    _ = tokio::time::sleep(IDLE) => {}
                    _ = stopped.wait_for(|s| *s) => return,
                }
            }
        }
    }

    /// Claims and delivers one round of due notices to `channel`; how many it
    /// handled.
    pub async fn round(self: &Arc<Self>, channel: Channel) -> anyhow::Result<usize> {
        let at = now();
        // LINE's monthly quota used up: its marketing waits (see quota_reached).
        let paused =
            channel == Channel::Line && self.store.send_pause(Channel::Line, at).await?.is_some();
        let marketing = !paused && self.quiet.is_none_or(|q| !q.contains(at, self.tz));
        let lease = at + chrono::Duration::from_std(self.lease).expect("small");
        // A round must end well within its lease, or another worker would take
        // rows still being sent.
        let rate = match channel {
            Channel::Telegram => self.telegram_rate,
            Channel::Line => self.line_rate,
        };
        let limit = (i64::from(rate) * self.lease.as_secs() as i64 / 4).clamp(1, CLAIM);
        let items = self
            .store
            .claim_notices(channel, at, lease, limit, CLAIM_CHUNKS, marketing)
            .await?;
        if items.is_empty() {
            return Ok(0);
        }
        let n = items.len();
        let lookups = Arc::new(self.lookups(&items).await?);
        let mut chunks: BTreeMap<String, Vec<OutboxItem>> = BTreeMap::new();
        let mut singles = Vec::new();
        for item in items {
            match item.batch_key.clone() {
                Some(key) => chunks.entry(key).or_default().push(item),
                None => singles.push(item),
            }
        }
        let mut quota_gone = false;
        for (key, rows) in chunks {
            if quota_gone {
                // LINE has just said the month's quota is used up: the rest of
                // this round's chunks wait with the one it refused.
                let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
                let outcome = self.quota_outcome();
                self.store.finish_notices(&ids, &outcome, now()).await?;
                count("line", &outcome, ids.len());
                continue;
            }
            quota_gone = self.multicast(&key, rows, &lookups).await?;
        }
        let slots = Arc::new(Semaphore::new(IN_FLIGHT));
        let mut tasks = tokio::task::JoinSet::new();
        for item in singles {
            let permit = slots.clone().acquire_owned().await.expect("open");
            let (worker, lookups) = (self.clone(), lookups.clone());
            tasks.spawn(async move {
                let outcome = worker.deliver(&item, &lookups).await;
                worker.finish(&item, &outcome).await;
                drop(permit);
            });
        }
        while tasks.join_next().await.is_some() {}
        Ok(n)
    }

    async fn lookups(&self, items: &[OutboxItem]) -> anyhow::Result<Lookups> {
        let merchants = self
            .store
            .merchants()
            .await?
            .into_iter()
            .map(|m| (m.id, m.name))
            .collect();
        let mut campaigns = HashMap::new();
        for item in items {
            if let Notice::Broadcast { campaign_id } = item.notice
                && !campaigns.contains_key(&campaign_id)
                && let Ok(c) = self.store.campaign(campaign_id).await
            {
                campaigns.insert(campaign_id, c);
            }
        }
        let tiers = self.store.program().await?.tiers;
        Ok(Lookups {
            merchants,
            campaigns,
            tiers,
        })
    }

    fn locale(&self, item: &OutboxItem) -> Locale {
        Locale::for_member(
            item.locale.as_deref(),
            item.app_locale.as_deref(),
            self.default_locale,
        )
    }

    fn render(&self, item: &OutboxItem, lookups: &Lookups) -> Option<Reply> {
        let merchant = |id: &str| lookups.merchants.get(id).cloned().unwrap_or_default();
        let campaign = |id: i64| lookups.campaigns.get(&id).cloned();
        let names = render::Names {
            merchant: &merchant,
            campaign: &campaign,
            tiers: &lookups.tiers,
        };
        render::message(&self.i18n, self.tz, self.locale(item), &item.notice, &names)
            .map(Reply::one)
    }

    /// Whether a row is still to be sent: the member may have opted out of
    /// marketing or become unreachable since it was queued.
    fn still_wanted(item: &OutboxItem) -> Option<Outcome> {
        if item.notice.marketing() && !item.marketing_opt_in {
            Some(Outcome::Skipped)
        } else if !item.reachable {
            Some(Outcome::Unreachable)
        } else {
            None
        }
    }

    async fn deliver(&self, item: &OutboxItem, lookups: &Lookups) -> Outcome {
        if let Some(outcome) = Self::still_wanted(item) {
            return outcome;
        }
        let Some(reply) = self.render(item, lookups) else {
            return Outcome::Skipped;
        };
        match item.channel {
            Channel::Telegram => {
                let (Some(tg), Some(chat)) = (&self.telegram, item.telegram_id) else {
                    return Outcome::Failed("Telegram is not configured".into());
                };
                tg.gate.push(&chat.to_string()).await;
                match telegram::send_reply(&tg.bot, ChatId(chat), &reply, Some(&tg.gate)).await {
                    Delivery::Sent => Outcome::Sent,
                    Delivery::Unreachable => Outcome::Unreachable,
                    Delivery::Failed => Outcome::Retry("Telegram send failed".into()),
                }
            }
            Channel::Line => {
                let (Some(line), Some(to)) = (&self.line, &item.line_id) else {
                    return Outcome::Failed("LINE is not configured".into());
                };
                line.gate.push(to).await;
                let messages = self.line_messages(&reply);
                let key = retry_key(item.id, to);
                match line
                    .client
                    .push(to, &messages[..messages.len().min(5)], &key)
                    .await
                {
                    Ok(()) => Outcome::Sent,
                    Err(e) => self.line_outcome(&e),
                }
            }
        }
    }

    fn line_messages(&self, reply: &Reply) -> Vec<serde_json::Value> {
        let qr = self.line.as_ref().and_then(|l| l.qr_urls.clone());
        crate::line::render::messages(reply, &qr)
    }

    /// One LINE chunk: every recipient still wanted, one multicast, one retry
    /// key. Whether LINE said the month's quota is used up.
    async fn multicast(
        &self,
        key: &str,
        rows: Vec<OutboxItem>,
        lookups: &Lookups,
    ) -> anyhow::Result<bool> {
        let mut send = Vec::new();
        for row in rows {
            match Self::still_wanted(&row) {
                Some(outcome) => self.finish(&row, &outcome).await,
                None => send.push(row),
            }
        }
        let Some(first) = send.first() else {
            return Ok(false);
        };
        let ids: Vec<i64> = send.iter().map(|r| r.id).collect();
        let Some(line) = &self.line else {
            let outcome = Outcome::Failed("LINE is not configured".into());
            self.store.finish_notices(&ids, &outcome, now()).await?;
            count("line", &outcome, ids.len());
            return Ok(false);
        };
        let Some(reply) = self.render(first, lookups) else {
            self.store
                .finish_notices(&ids, &Outcome::Skipped, now())
                .await?;
            count("line", &Outcome::Skipped, ids.len());
            return Ok(false);
        };
        let to: Vec<String> = send.iter().filter_map(|r| r.line_id.clone()).collect();
        line.gate.push(key).await;
        let messages = self.line_messages(&reply);
        let outcome = match line
            .client
            .multicast(&to, &messages[..messages.len().min(5)], key)
            .await
        {
            Ok(()) => Outcome::Sent,
            Err(e) => self.line_outcome(&e),
        };
        if let Outcome::Retry(e) | Outcome::Failed(e) = &outcome {
            tracing::warn!(error = %e, recipients = to.len(), "LINE multicast failed");
        }
        self.store.finish_notices(&ids, &outcome, now()).await?;
        count("line", &outcome, ids.len());
        if let Outcome::Deferred { until, .. } = outcome {
            self.quota_reached(until).await;
            return Ok(true);
        }
        Ok(false)
    }

    /// 429, 5xx and network errors are worth retrying, other 4xx are not; a
    /// 429 that says the month's quota is used up waits for the next month.
    fn line_outcome(&self, e: &crate::line::client::LineError) -> Outcome {
        if e.monthly_limit() {
            return self.quota_outcome();
        }
        match e.status() {
            Some(s) if s.as_u16() == 429 || s.is_server_error() => Outcome::Retry(e.to_string()),
            None => Outcome::Retry(e.to_string()),
            Some(_) => Outcome::Failed(e.to_string()),
        }
    }

    /// LINE rows held until the month's quota starts again.
    fn quota_outcome(&self) -> Outcome {
        Outcome::Deferred {
            until: next_month(now(), self.tz),
            reason: LINE_MONTHLY_LIMIT.into(),
        }
    }

    /// LINE said the month's quota is used up: marketing to LINE stops, on every
    /// instance, until `until` or `taem line resume`. Logged once per pause.
    async fn quota_reached(&self, until: DateTime<Utc>) {
        match self
            .store
            .pause_sends(Channel::Line, LINE_MONTHLY_LIMIT, until, now())
            .await
        {
            Ok(true) => tracing::error!(
                until = %until.with_timezone(&self.tz),
                "LINE's monthly message limit is reached: LINE marketing is paused until the \
                 month ends or `taem line resume` (after upgrading the plan); the messages wait"
            ),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "could not record the pause on LINE marketing"),
        }
    }

    /// Records an outcome (and marks a member who blocked the bot unreachable).
    async fn finish(&self, item: &OutboxItem, outcome: &Outcome) {
        if *outcome == Outcome::Unreachable
            && item.reachable
            && let Err(e) = self
                .store
                .set_reachable(item.member_id, item.channel, false)
                .await
        {
            tracing::warn!(error = %e, "could not mark a member unreachable");
        }
        if let Err(e) = self.store.finish_notices(&[item.id], outcome, now()).await {
            // The lease runs out and the row is tried again.
            tracing::warn!(error = %e, id = item.id, "could not record a push");
        }
        if let Outcome::Deferred { until, .. } = outcome {
            self.quota_reached(*until).await;
        }
        let app = match item.channel {
            Channel::Telegram => "telegram",
            Channel::Line => "line",
        };
        count(app, outcome, 1);
    }
}

/// Counts pushes by app and outcome: `sent`, `429` (rate limited, retried),
/// `retry` (other failures worth retrying), `blocked` (unreachable),
/// `failed`, `skipped`, `quota` (held for next month: LINE's monthly quota is
/// used up).
fn count(app: &str, outcome: &Outcome, rows: usize) {
    let label = match outcome {
        Outcome::Sent => "sent",
        Outcome::Retry(e) if e.contains("429") || e.contains("Too Many") => "429",
        Outcome::Retry(_) => "retry",
        Outcome::Unreachable => "blocked",
        Outcome::Failed(_) => "failed",
        Outcome::Skipped => "skipped",
        Outcome::Deferred { .. } => "quota",
    };
    crate::metrics::send(app, label, rows as u64);
}

/// A retry key (a UUID) that is the same every time this row is sent.
fn retry_key(id: i64, to: &str) -> String {
    let d = Sha256::digest(format!("taem-outbox:{id}:{to}").as_bytes());
    crate::domain::codes::uuid_from(d[..16].try_into().expect("16 bytes"))
}

/// Queues expiry reminders for points that expire within a week.
pub async fn remind_expiring(store: &dyn Store, at: DateTime<Utc>) -> crate::store::Result<u64> {
    store
        .remind_expiring(at + chrono::Duration::days(7), at)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_keys_are_stable_uuids() {
        let k = retry_key(42, "U1");
        assert_eq!(k, retry_key(42, "U1"));
        assert_ne!(k, retry_key(43, "U1"));
        assert_eq!(k.len(), 36);
        assert_eq!(&k[14..15], "4");
    }
}
