//! Rows of the outbox.

use super::{FromRow, Row};
use crate::domain::model::Channel;
use crate::domain::notice::{BroadcastRow, BroadcastStatus, OutboxItem, Outcome};
use crate::store::{Result, StoreError};

pub(in crate::store) fn channel_name(c: Channel) -> &'static str {
    match c {
        Channel::Telegram => "telegram",
        Channel::Line => "line",
    }
}

pub(in crate::store) const OUTBOX_COLUMNS: &str = "SELECT o.id, o.member_id, o.channel, o.payload, \
    o.attempts, o.batch_key, COALESCE(o.locale, m.locale) AS locale, m.telegram_id, m.line_id, \
    m.telegram_reachable, m.line_reachable, m.marketing_opt_in, m.app_locale \
    FROM outbox o JOIN members m ON m.id = o.member_id";

row! {
    OutboxRow {
        id: i64,
        member_id: i64,
        channel: String,
        payload: String,
        attempts: i64,
        batch_key: Option<String>,
        locale: Option<String>,
        telegram_id: Option<i64>,
        line_id: Option<String>,
        telegram_reachable: bool,
        line_reachable: bool,
        marketing_opt_in: bool,
        app_locale: Option<String>,
    }
}

impl TryFrom<OutboxRow> for OutboxItem {
    type Error = StoreError;
    fn try_from(r: OutboxRow) -> Result<OutboxItem> {
        let channel = match r.channel.as_str() {
            "telegram" => Channel::Telegram,
            "line" => Channel::Line,
            other => return Err(StoreError::Corrupt(format!("outbox channel {other:?}"))),
        };
        let notice = serde_json::from_str(&r.payload)
            .map_err(|e| StoreError::Corrupt(format!("outbox {}: {e}", r.id)))?;
        let reachable = match channel {
            Channel::Telegram => r.telegram_id.is_some() && r.telegram_reachable,
            Channel::Line => r.line_id.is_some() && r.line_reachable,
        };
        Ok(OutboxItem {
            id: r.id,
            member_id: r.member_id,
            channel,
            notice,
            attempts: r.attempts,
            batch_key: r.batch_key,
            locale: r.locale,
            app_locale: r.app_locale,
            telegram_id: r.telegram_id,
            line_id: r.line_id,
            reachable,
            marketing_opt_in: r.marketing_opt_in,
        })
    }
}

/// The SQL condition (on `members`) of who a broadcast goes to.
pub(in crate::store) const BROADCAST_AUDIENCE: &str = "marketing_opt_in \
    AND ((telegram_id IS NOT NULL AND telegram_reachable) OR (line_id IS NOT NULL AND line_reachable))";

pub(in crate::store) fn broadcast_key(campaign_id: i64, r: &BroadcastRow) -> String {
    format!(
        "broadcast:{campaign_id}:{}:{}",
        r.member_id,
        channel_name(r.channel)
    )
}

pub(in crate::store) fn status_from_counts(counts: &[(String, i64)]) -> BroadcastStatus {
    let mut s = BroadcastStatus::default();
    for (status, n) in counts {
        match status.as_str() {
            "queued" => s.queued = *n,
            "sent" => s.sent = *n,
            "failed" => s.failed = *n,
            "unreachable" => s.unreachable = *n,
            "skipped" => s.skipped = *n,
            _ => {}
        }
    }
    s
}

/// The final status (and error) an outcome other than a retry or a deferral
/// records.
pub(in crate::store) fn finished(outcome: &Outcome) -> (&'static str, Option<&str>) {
    match outcome {
        Outcome::Sent => ("sent", None),
        Outcome::Unreachable => ("unreachable", None),
        Outcome::Skipped => ("skipped", None),
        Outcome::Failed(e) | Outcome::Retry(e) => ("failed", Some(e)),
        // Written by their own statement; were one to come here, it is kept.
        Outcome::Deferred { reason, .. } => ("queued", Some(reason)),
    }
}
