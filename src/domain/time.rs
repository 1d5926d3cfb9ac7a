//! Time rules: timestamps are stored to the millisecond; expiry dates fall at the
//! end of a local day in the program's time zone (Asia/Bangkok by default), so a
//! member told "expires 22 Nov 2027" keeps the points through that whole day.

use chrono::{DateTime, Duration, Months, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// The current time, truncated to whole milliseconds so that what is stored and
/// read back compares equal.
pub fn now() -> DateTime<Utc> {
    truncate_ms(Utc::now())
}

pub fn truncate_ms(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).expect("in range")
}

/// The instant points earned at `earned_at` expire: the end of the local day
/// `months` months later (that is, the next local midnight).
pub fn lot_expiry(earned_at: DateTime<Utc>, months: u32, tz: Tz) -> DateTime<Utc> {
    let local_day = earned_at.with_timezone(&tz).date_naive();
    let day = local_day
        .checked_add_months(Months::new(months))
        .unwrap_or(local_day)
        + Duration::days(1);
    let midnight = day.and_time(NaiveTime::MIN);
    tz.from_local_datetime(&midnight)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&midnight))
}

/// The first instant of a local calendar day (the earliest, where a clock
/// change repeats midnight).
pub fn local_midnight(day: chrono::NaiveDate, tz: Tz) -> DateTime<Utc> {
    let midnight = day.and_time(NaiveTime::MIN);
    tz.from_local_datetime(&midnight)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&midnight))
}

/// The local calendar day of an instant, for display ("expires 22 Nov 2027" means
/// usable until the end of 22 Nov local time).
pub fn last_local_day(expires_at: DateTime<Utc>, tz: Tz) -> chrono::NaiveDate {
    (expires_at - Duration::milliseconds(1))
        .with_timezone(&tz)
        .date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn points_expire_at_bangkok_midnight_after_the_same_day_next_year() {
        let tz: Tz = "Asia/Bangkok".parse().unwrap();
        // 22 Nov 2026 23:30 in Bangkok is 16:30 UTC.
        let earned = Utc.with_ymd_and_hms(2026, 11, 22, 16, 30, 0).unwrap();
        let exp = lot_expiry(earned, 12, tz);
        assert_eq!(exp, Utc.with_ymd_and_hms(2027, 11, 22, 17, 0, 0).unwrap());
        assert_eq!(
            last_local_day(exp, tz),
            NaiveDate::from_ymd_opt(2027, 11, 22).unwrap()
        );
    }

    #[test]
    fn month_ends_are_clamped() {
        let tz: Tz = "Asia/Bangkok".parse().unwrap();
        let earned = Utc.with_ymd_and_hms(2027, 1, 31, 3, 0, 0).unwrap();
        let exp = lot_expiry(earned, 1, tz);
        assert_eq!(
            last_local_day(exp, tz),
            NaiveDate::from_ymd_opt(2027, 2, 28).unwrap()
        );
    }
}
