//! LINE's monthly message quota: whether a broadcast fits in what is left of
//! it, and what taem does when LINE says it is used up (marketing to LINE
//! paused until the next month starts, or until an operator resumes it).
//!
//! LINE counts every push and multicast message once per recipient (replies
//! are free), against a monthly limit that depends on the Official Account's
//! plan; when it is used up, LINE answers 429 with "You have reached your
//! monthly limit." and retrying cannot help before the month ends.

use chrono::{DateTime, Datelike, Months, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::money::thousands as grouped;

/// What LINE rows held for the next month say (`outbox.last_error`), and why
/// LINE's marketing sends are paused.
pub const LINE_MONTHLY_LIMIT: &str = "LINE monthly limit reached";

/// Whether a LINE 429's body says the monthly quota is used up (rather than
/// the rate limit: "The API rate limit has been exceeded. Try again later.").
pub fn is_monthly_limit(body: &str) -> bool {
    body.to_ascii_lowercase().contains("monthly limit")
}

/// LINE's quota this month as LINE reports it, and what taem has queued for
/// LINE that is not sent yet (it will count too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LineQuota {
    /// Messages the plan allows this month; `None` on plans without a limit.
    pub limit: Option<u64>,
    /// Messages sent this month, as LINE counts them.
    pub used: u64,
    /// Messages waiting in taem's outbox for LINE.
    pub queued: u64,
}

impl LineQuota {
    /// Messages that may still go this month (`None`: no limit).
    pub fn left(&self) -> Option<u64> {
        self.limit
            .map(|l| l.saturating_sub(self.used.saturating_add(self.queued)))
    }

    /// Checks that `needed` more messages fit; the refusal names the numbers.
    pub fn allows(&self, needed: u64) -> Result<(), QuotaRefusal> {
        match (self.limit, self.left()) {
            (Some(limit), Some(left)) if needed > left => Err(QuotaRefusal::Short {
                limit,
                used: self.used,
                queued: self.queued,
                left,
                needed,
            }),
            _ => Ok(()),
        }
    }
}

/// Why a broadcast was not queued: it would go over LINE's quota, or the quota
/// could not be read. Forcing the broadcast queues it anyway.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuotaRefusal {
    #[error(
        "LINE allows {} messages this month: {} used{}, {} left; this broadcast would send {} on LINE",
        grouped(*limit),
        grouped(*used),
        queued_text(*queued),
        grouped(*left),
        grouped(*needed)
    )]
    Short {
        limit: u64,
        used: u64,
        queued: u64,
        left: u64,
        needed: u64,
    },
    #[error(
        "LINE's message quota could not be read ({0}), so this broadcast was not checked against it"
    )]
    Unknown(String),
}

fn queued_text(queued: u64) -> String {
    if queued == 0 {
        String::new()
    } else {
        format!(", {} queued in taem", grouped(queued))
    }
}

/// Sends to an app held back: LINE's marketing while its monthly quota is
/// used up, until `until` (the next month) or until an operator resumes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SendPause {
    pub reason: String,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

/// The first instant of the month after the one `at` falls in, in `tz` (when
/// a monthly quota starts again).
pub fn next_month(at: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
    let local = at.with_timezone(&tz).date_naive();
    let first = NaiveDate::from_ymd_opt(local.year(), local.month(), 1).expect("a first day");
    let next = first
        .checked_add_months(Months::new(1))
        .expect("within chrono's range");
    let midnight = next.and_time(NaiveTime::MIN);
    tz.from_local_datetime(&midnight).earliest().map_or_else(
        || Utc.from_utc_datetime(&midnight),
        |t| t.with_timezone(&Utc),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broadcast_fits_in_what_is_left_after_what_is_used_and_queued() {
        let q = LineQuota {
            limit: Some(15_000),
            used: 14_000,
            queued: 200,
        };
        assert_eq!(q.left(), Some(800));
        assert_eq!(q.allows(800), Ok(()));
        let refusal = q.allows(1_000).unwrap_err();
        assert_eq!(
            refusal.to_string(),
            "LINE allows 15,000 messages this month: 14,000 used, 200 queued in taem, 800 left; \
             this broadcast would send 1,000 on LINE"
        );
        let over = LineQuota {
            limit: Some(300),
            used: 310,
            queued: 0,
        };
        assert_eq!(over.left(), Some(0));
        assert!(over.allows(1).is_err());
        assert_eq!(over.allows(0), Ok(()));
        let unlimited = LineQuota {
            limit: None,
            used: 1_000_000,
            queued: 5,
        };
        assert_eq!(unlimited.allows(u64::MAX), Ok(()));
    }

    #[test]
    fn the_monthly_limit_is_told_apart_from_the_rate_limit_by_the_body() {
        assert!(is_monthly_limit(
            r#"{"message":"You have reached your monthly limit."}"#
        ));
        assert!(!is_monthly_limit(
            r#"{"message":"The API rate limit has been exceeded. Try again later."}"#
        ));
    }

    #[test]
    fn the_next_month_starts_at_local_midnight() {
        let tz: Tz = "Asia/Bangkok".parse().unwrap();
        // 31 Dec 2026 23:30 in Bangkok (16:30 UTC): the next month is January 2027.
        let at = Utc.with_ymd_and_hms(2026, 12, 31, 16, 30, 0).unwrap();
        assert_eq!(
            next_month(at, tz),
            Utc.with_ymd_and_hms(2026, 12, 31, 17, 0, 0).unwrap()
        );
        // 1 Dec 2026 00:10 local is still 30 Nov in UTC: the month is December.
        let at = Utc.with_ymd_and_hms(2026, 11, 30, 17, 10, 0).unwrap();
        assert_eq!(
            next_month(at, tz),
            Utc.with_ymd_and_hms(2026, 12, 31, 17, 0, 0).unwrap()
        );
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_234_567), "1,234,567");
    }
}
