//! The inbox worker: handles the chat events that the LINE and Telegram
//! webhooks (and the Telegram poller) kept in the database before acknowledging
//! them. Each chat's events go one after another, in order; different chats go
//! at once (up to [`CONCURRENCY`]). An event is claimed with a lease
//! (`TAEM_INBOX_LEASE_SECONDS`): after a crash it is handled again when the
//! lease runs out, by this instance after a restart or by another one; a
//! lone SQLite server frees every lease as it starts. Handling is at least
//! once, and what the conversation does is safe to repeat (a receipt is claimed
//! once, a redemption carries its nonce, joining twice joins once); the
//! platforms' redeliveries are recognised by their ids and handled once.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use crate::domain::inbox::{Claimed, Source, lease_until};
use crate::domain::time::now;
use crate::store::Store;

/// Events handled at once at most (different chats).
pub const CONCURRENCY: usize = 32;

/// How often the worker looks for events kept by other instances or freed by
/// a lease running out, when nothing woke it.
const LOOK_AGAIN: Duration = Duration::from_millis(500);

pub struct Worker {
    pub store: Arc<dyn Store>,
    /// Woken when this instance keeps an event.
    pub wake: Arc<Notify>,
    pub lease: Duration,
    pub line: Option<crate::line::LineState>,
    pub telegram: Option<crate::telegram::Handler>,
}

impl Worker {
    /// Runs until `stopped`; then lets the events in hand finish.
    pub async fn run(self: Arc<Self>, mut stopped: watch::Receiver<bool>) {
        let mut tasks = JoinSet::new();
        loop {
            let free = CONCURRENCY.saturating_sub(tasks.len());
            if free > 0 {
                let at = now();
                match self
                    .store
                    .inbox_claim(at, lease_until(at, self.lease), free as i64)
                    .await
                {
                    Ok(events) => {
                        for event in events {
                            tasks.spawn(self.clone().handle(event));
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "could not claim chat events"),
                }
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                    if let Err(e) = done {
                        // Its lease runs out and the event is tried again.
                        tracing::error!(error = %e, "handling a chat event panicked");
                    }
                }
                _ = tokio::time::sleep(LOOK_AGAIN) => {}
                _ = stopped.wait_for(|s| *s) => break,
            }
        }
        while tasks.join_next().await.is_some() {}
    }

    async fn handle(self: Arc<Self>, event: Claimed) {
        if event.payload.is_empty() {
            tracing::warn!(
                source = event.source.as_str(),
                attempts = event.attempts,
                "a chat event failed too often and was given up"
            );
            crate::metrics::inbox_handled("given_up");
            return;
        }
        match (event.source, &self.line, &self.telegram) {
            (Source::Line, Some(line), _) => match serde_json::from_str(&event.payload) {
                Ok(v) => crate::line::handle_event(line, v).await,
                Err(e) => tracing::warn!(error = %e, "a kept LINE event is not JSON"),
            },
            (Source::Telegram, _, Some(tg)) => match serde_json::from_str(&event.payload) {
                Ok(update) => crate::telegram::handle_update(tg, update).await,
                Err(e) => tracing::warn!(error = %e, "a kept Telegram update could not be read"),
            },
            (source, _, _) => tracing::warn!(
                source = source.as_str(),
                "a chat event for an app that is not configured was dropped"
            ),
        }
        match self.store.inbox_done(event.id, now()).await {
            Ok(()) => crate::metrics::inbox_handled("handled"),
            // Handled again when the lease runs out (safe to repeat).
            Err(e) => tracing::warn!(error = %e, "could not mark a chat event handled"),
        }
    }
}
