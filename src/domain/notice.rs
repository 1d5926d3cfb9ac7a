//! Notices: what taem pushes to members, as stored in the outbox and rendered
//! in the member's language when delivered. Pure data and rules (quiet hours,
//! retry backoff); the outbox and the worker live in `store` and `notify`.

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::Locale;
use super::model::Channel;

/// One push to a member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Notice {
    /// Points earned on a purchase, with the rules that gave them.
    Earned {
        merchant_id: String,
        receipt_id: String,
        points: i64,
        balance: i64,
        lines: Vec<NoticeLine>,
    },
    VoucherIssued {
        code: String,
        reward_th: String,
        reward_en: String,
        expires_at: DateTime<Utc>,
    },
    VoucherUsed {
        code: String,
        reward_th: String,
        reward_en: String,
        merchant_id: String,
    },
    /// Points expiring within a week: one reminder per lot, batched per member.
    Expiring {
        points: i64,
        expires_at: DateTime<Utc>,
    },
    TierChanged {
        from: Option<String>,
        to: String,
        up: bool,
    },
    /// The member's friend made a first purchase.
    ReferralBonus { points: i64, balance: i64 },
    /// A refund took back more points than were left.
    NegativeBalance { balance: i64 },
    /// A campaign's announcement (marketing).
    Broadcast { campaign_id: i64 },
    /// A till asks to take points: the customer answers yes or no.
    PaymentRequest {
        payment_id: String,
        merchant_id: String,
        points: i64,
        amount_minor: i64,
        currency: String,
        expires_at: DateTime<Utc>,
        /// It takes store credit (`points` is 0), not points.
        #[serde(default)]
        credit: bool,
    },
    /// A journey's message (marketing): a welcome, a birthday gift, a win-back
    /// offer (with the points or voucher given), or a nudge near a reward.
    Journey {
        journey: String,
        /// Bonus points given with it.
        #[serde(default)]
        points: i64,
        /// The voucher given with it, or the reward it is close to.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        voucher: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reward_th: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reward_en: Option<String>,
        /// Near a reward: the points still needed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        needed: Option<i64>,
    },
    /// A payment with points went through.
    PaymentCaptured {
        merchant_id: String,
        points: i64,
        amount_minor: i64,
        currency: String,
        balance: i64,
        /// When it took store credit: the credit left (minor units).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        credit: Option<i64>,
    },
}

/// A line of an earned notice, named in both languages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeLine {
    /// `base`, `tier`, `campaign` or `referral`.
    pub rule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_th: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_en: Option<String>,
    pub points: i64,
}

impl Notice {
    pub fn kind(&self) -> &'static str {
        match self {
            Notice::Earned { .. } => "earned",
            Notice::VoucherIssued { .. } => "voucher_issued",
            Notice::VoucherUsed { .. } => "voucher_used",
            Notice::Expiring { .. } => "expiring",
            Notice::TierChanged { .. } => "tier_changed",
            Notice::ReferralBonus { .. } => "referral_bonus",
            Notice::NegativeBalance { .. } => "negative_balance",
            Notice::Broadcast { .. } => "broadcast",
            Notice::PaymentRequest { .. } => "payment_request",
            Notice::PaymentCaptured { .. } => "payment_captured",
            Notice::Journey { .. } => "journey",
        }
    }

    /// Marketing respects opt-out and quiet hours; the rest go any time.
    pub fn marketing(&self) -> bool {
        matches!(self, Notice::Broadcast { .. } | Notice::Journey { .. })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("serializable")
    }
}

/// An outbox row a worker has claimed, with what it needs to deliver it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    pub id: i64,
    pub member_id: i64,
    pub channel: Channel,
    pub notice: Notice,
    pub attempts: i64,
    /// The LINE multicast chunk (and its retry key) this row belongs to.
    pub batch_key: Option<String>,
    /// The language fixed for a batch; else the one the member chose.
    pub locale: Option<String>,
    /// The language the member's chat app reported when they last wrote.
    pub app_locale: Option<String>,
    /// The member now: where to reach them and whether they still want it.
    pub telegram_id: Option<i64>,
    pub line_id: Option<String>,
    pub reachable: bool,
    pub marketing_opt_in: bool,
}

/// What became of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    /// Blocked the bot, unfollowed, deleted the account: stop sending there.
    Unreachable,
    /// Opted out of marketing (or nowhere to send) since it was queued.
    Skipped,
    /// A transient failure: try again later, unless attempts are used up.
    Retry(String),
    /// A failure a retry will not fix.
    Failed(String),
    /// Not sent, and no use trying before `until` (LINE's monthly quota is
    /// used up): queued again for then, `reason` recorded, no attempt counted.
    Deferred {
        until: DateTime<Utc>,
        reason: String,
    },
}

/// Attempts before a notice is given up as failed.
pub const MAX_ATTEMPTS: i64 = 8;

/// The longest wait before attempt `attempts + 1`: 5 s doubling, at most 30
/// minutes. The wait itself is [`jittered`].
pub fn backoff(attempts: i64) -> Duration {
    let secs = 5i64.saturating_mul(1 << attempts.clamp(0, 20));
    Duration::seconds(secs.min(1800))
}

/// A wait between half of `longest` and all of it, placed by `unit` (a random
/// number in `[0, 1)`): rows that failed together (a broadcast's ten
/// thousand) come back spread out, not in lock-step ("equal jitter").
pub fn jittered(longest: Duration, unit: f64) -> Duration {
    let ms = longest.num_milliseconds();
    let half = ms / 2;
    let spread = ((ms - half) as f64 * unit.clamp(0.0, 1.0)) as i64;
    Duration::milliseconds(half + spread.min(ms - half - 1).max(0))
}

/// Local hours during which marketing waits, e.g. 21:00-08:00.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    pub from: u32,
    pub to: u32,
}

impl Default for QuietHours {
    fn default() -> Self {
        QuietHours { from: 21, to: 8 }
    }
}

impl QuietHours {
    /// Parses `21-8` (hours 0-24, wrapping past midnight); `off` for none.
    pub fn parse(s: &str) -> Option<Option<QuietHours>> {
        if s.trim().eq_ignore_ascii_case("off") {
            return Some(None);
        }
        let (a, b) = s.split_once('-')?;
        let (from, to): (u32, u32) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
        (from <= 24 && to <= 24 && from != to).then_some(Some(QuietHours { from, to }))
    }

    /// Whether `at` falls in the quiet hours, in `tz`.
    pub fn contains(&self, at: DateTime<Utc>, tz: Tz) -> bool {
        let h = at.with_timezone(&tz).hour();
        if self.from < self.to {
            (self.from..self.to).contains(&h)
        } else {
            h >= self.from || h < self.to
        }
    }

    /// The end of the quiet period `at` is in (the next local `to:00`).
    pub fn end_after(&self, at: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
        let local = at.with_timezone(&tz);
        let mut day = local.date_naive();
        if local.hour() >= self.to {
            day = day.succ_opt().unwrap_or(day);
        }
        let time = NaiveTime::from_hms_opt(self.to % 24, 0, 0).expect("valid hour");
        tz.from_local_datetime(&day.and_time(time))
            .earliest()
            .map_or(at + Duration::hours(1), |t| t.with_timezone(&Utc))
    }
}

/// A broadcast's progress: its messages (one per member and chat app) by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct BroadcastStatus {
    /// Still to be sent (quiet hours and rate limits hold them back)
    pub queued: i64,
    /// Of those queued: held until next month, LINE's monthly message quota
    /// being used up (`taem line resume` sends them sooner)
    pub held: i64,
    pub sent: i64,
    /// Given up: a failure a retry will not fix, or every attempt used
    pub failed: i64,
    /// The member blocked the bot, unfollowed or deleted the account
    pub unreachable: i64,
    /// Not sent: the member opted out of marketing since it was queued
    pub skipped: i64,
}

impl BroadcastStatus {
    pub fn total(&self) -> i64 {
        self.queued + self.sent + self.failed + self.unreachable + self.skipped
    }

    pub fn done(&self) -> i64 {
        self.total() - self.queued
    }
}

/// Recipients of one LINE multicast at most (LINE's limit).
pub const MULTICAST_MAX: usize = 500;

/// A broadcast row to insert: one per member and channel.
pub struct BroadcastRow {
    pub member_id: i64,
    pub channel: Channel,
    pub locale: Option<String>,
    pub batch_key: Option<String>,
}

/// The rows of a broadcast to `recipients` (member id, locale, Telegram id and
/// reachability, LINE id and reachability): Telegram rows one by one, LINE rows
/// in chunks of at most 500 sharing a language, each chunk with its retry key.
pub fn broadcast_rows(recipients: Vec<Recipient>) -> Vec<BroadcastRow> {
    let mut rows = Vec::new();
    let mut line: Vec<(Option<String>, i64)> = Vec::new();
    for r in recipients {
        // A single push takes the member's language when it is sent.
        if r.telegram {
            rows.push(BroadcastRow {
                member_id: r.member_id,
                channel: Channel::Telegram,
                locale: None,
                batch_key: None,
            });
        }
        if r.line {
            line.push((r.language.map(|l| l.as_str().to_string()), r.member_id));
        }
    }
    line.sort();
    for chunk in line.chunk_by(|a, b| a.0 == b.0) {
        for part in chunk.chunks(MULTICAST_MAX) {
            let key = super::codes::uuid_v4();
            rows.extend(part.iter().map(|(locale, member_id)| BroadcastRow {
                member_id: *member_id,
                channel: Channel::Line,
                locale: locale.clone(),
                batch_key: Some(key.clone()),
            }));
        }
    }
    rows
}

/// A member a broadcast goes to, and on which channels.
pub struct Recipient {
    pub member_id: i64,
    /// Their language before the program default ([`Locale::preferred`]).
    pub language: Option<Locale>,
    pub telegram: bool,
    pub line: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broadcast_goes_to_telegram_one_by_one_and_to_line_in_chunks_of_one_language() {
        let recipients: Vec<Recipient> = (0..2003)
            .map(|i| Recipient {
                member_id: i,
                language: match i % 3 {
                    0 => Some(Locale::En),
                    1 => Some(Locale::Th),
                    _ => None,
                },
                telegram: i % 2 == 0,
                line: i % 5 != 0,
            })
            .collect();
        let rows = broadcast_rows(recipients);
        let telegram: Vec<_> = rows
            .iter()
            .filter(|r| r.channel == Channel::Telegram)
            .collect();
        assert_eq!(telegram.len(), 1002);
        assert!(telegram.iter().all(|r| r.batch_key.is_none()));
        let mut chunks: std::collections::HashMap<&str, Vec<&BroadcastRow>> = Default::default();
        for r in rows.iter().filter(|r| r.channel == Channel::Line) {
            chunks
                .entry(r.batch_key.as_deref().unwrap())
                .or_default()
                .push(r);
        }
        assert_eq!(chunks.values().map(Vec::len).sum::<usize>(), 1602);
        for chunk in chunks.values() {
            assert!(chunk.len() <= MULTICAST_MAX);
            assert!(
                chunk.iter().all(|r| r.locale == chunk[0].locale),
                "one language"
            );
        }
        // 534 English, 535 Thai, 533 without a language: two chunks of each.
        assert_eq!(chunks.len(), 3 * 2);
    }

    fn tz() -> Tz {
        "Asia/Bangkok".parse().unwrap()
    }

    fn bangkok(h: u32, m: u32) -> DateTime<Utc> {
        // 23 Nov 2026, local time; Bangkok is UTC+7.
        tz().with_ymd_and_hms(2026, 11, 23, h, m, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn quiet_hours_wrap_past_midnight() {
        let q = QuietHours::default();
        assert!(q.contains(bangkok(21, 0), tz()));
        assert!(q.contains(bangkok(23, 59), tz()));
        assert!(q.contains(bangkok(0, 30), tz()));
        assert!(q.contains(bangkok(7, 59), tz()));
        assert!(!q.contains(bangkok(8, 0), tz()));
        assert!(!q.contains(bangkok(20, 59), tz()));
    }

    #[test]
    fn quiet_hours_end_at_the_next_morning() {
        let q = QuietHours::default();
        let evening = bangkok(22, 15);
        let morning = tz()
            .with_ymd_and_hms(2026, 11, 24, 8, 0, 0)
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(q.end_after(evening, tz()), morning);
        assert_eq!(q.end_after(bangkok(3, 0), tz()), bangkok(8, 0));
    }

    #[test]
    fn quiet_hours_parse() {
        assert_eq!(
            QuietHours::parse("21-8"),
            Some(Some(QuietHours { from: 21, to: 8 }))
        );
        assert_eq!(QuietHours::parse("off"), Some(None));
        assert_eq!(QuietHours::parse("8-8"), None);
        assert_eq!(QuietHours::parse("25-8"), None);
        assert_eq!(QuietHours::parse("evening"), None);
    }

    #[test]
    fn a_jittered_wait_lies_between_half_and_all_of_the_backoff() {
        let longest = backoff(2);
        assert_eq!(jittered(longest, 0.0), Duration::seconds(10));
        assert!(jittered(longest, 0.999_999) < longest);
        assert_eq!(jittered(longest, 0.5), Duration::seconds(15));
        assert_eq!(jittered(longest, 7.0), longest - Duration::milliseconds(1));
    }

    #[test]
    fn backoff_doubles_up_to_half_an_hour() {
        assert_eq!(backoff(0), Duration::seconds(5));
        assert_eq!(backoff(1), Duration::seconds(10));
        assert_eq!(backoff(3), Duration::seconds(40));
        assert_eq!(backoff(20), Duration::seconds(1800));
    }

    #[test]
    fn notices_round_trip_as_json() {
        let n = Notice::TierChanged {
            from: Some("member".into()),
            to: "silver".into(),
            up: true,
        };
        let json = n.to_json();
        assert!(json.contains(r#""kind":"tier_changed""#));
        assert_eq!(serde_json::from_str::<Notice>(&json).unwrap(), n);
        assert!(Notice::Broadcast { campaign_id: 1 }.marketing());
        assert!(!n.marketing());
    }
}
