//! The inbox: chat events kept before they are acknowledged, then handled from
//! the database (see `migrations/*/0018_inbox.sql` and [`crate::inbox`]).

use chrono::{DateTime, Duration, Utc};

/// After this many tries an event is given up (logged and marked handled), so
/// one event that always fails cannot hold its chat's later events forever.
pub const MAX_ATTEMPTS: i64 = 5;

/// Handled events' ids are kept this long to spot redeliveries, then pruned.
pub const KEEP_DAYS: i64 = 7;

/// Where an event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Telegram,
    Line,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Telegram => "telegram",
            Source::Line => "line",
        }
    }

    pub fn parse(s: &str) -> Option<Source> {
        match s {
            "telegram" => Some(Source::Telegram),
            "line" => Some(Source::Line),
            _ => None,
        }
    }
}

/// A verified event to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub source: Source,
    /// LINE's `webhookEventId`, Telegram's `update_id`: a redelivery is kept once.
    pub event_id: String,
    /// The chat whose events are handled in order.
    pub chat: String,
    /// The event's JSON as received.
    pub payload: String,
}

/// An event claimed for handling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub id: i64,
    pub source: Source,
    pub payload: String,
    /// Tries so far, this one included.
    pub attempts: i64,
}

/// How many events wait and since when (for metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Depth {
    pub waiting: i64,
    pub oldest: Option<DateTime<Utc>>,
}

/// When a claim made at `now` runs out.
pub fn lease_until(now: DateTime<Utc>, lease: std::time::Duration) -> DateTime<Utc> {
    now + Duration::from_std(lease).unwrap_or(Duration::seconds(120))
}
