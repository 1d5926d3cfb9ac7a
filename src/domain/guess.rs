//! Guessing codes: claim codes (points of a receipt) and link codes (another
//! app's account) are short enough to type, so wrong tries are counted per
//! member and per chat identity. The first few are free; after that each try
//! must wait longer (doubling from [`GuessPolicy::first_wait`]), and past the
//! limit tries are refused for [`GuessPolicy::lockout`]. Right codes are never
//! counted. Failures older than the lockout are forgotten.

use chrono::{DateTime, Duration, Utc};

/// The thresholds (settings: `TAEM_GUESS_FREE`, `TAEM_GUESS_LIMIT`,
/// `TAEM_GUESS_LOCKOUT_MINUTES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuessPolicy {
    /// Wrong tries allowed without waiting.
    pub free: u32,
    /// Wrong tries after which every try is refused for `lockout`.
    pub limit: u32,
    /// The wait after the first wrong try beyond the free ones; it doubles with
    /// each further one.
    pub first_wait: Duration,
    pub lockout: Duration,
}

impl Default for GuessPolicy {
    fn default() -> Self {
        GuessPolicy {
            free: 5,
            limit: 10,
            first_wait: Duration::seconds(30),
            lockout: Duration::hours(1),
        }
    }
}

/// What is known of a subject's wrong tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failures {
    pub count: u32,
    pub last: DateTime<Utc>,
}

impl GuessPolicy {
    /// When the failures counted so far stop counting (a quiet period resets).
    pub fn forget_before(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - self.lockout
    }

    /// `Ok` when a try may be made now; else the moment it may.
    pub fn check(
        &self,
        failures: Option<Failures>,
        now: DateTime<Utc>,
    ) -> Result<(), DateTime<Utc>> {
        let Some(f) = failures else { return Ok(()) };
        if f.last <= self.forget_before(now) || f.count < self.free {
            return Ok(());
        }
        let wait = if f.count >= self.limit {
            self.lockout
        } else {
            // 30 s, 60 s, 120 s, ... capped by the lockout.
            let doublings = (f.count - self.free).min(20);
            (self.first_wait * 2i32.pow(doublings)).min(self.lockout)
        };
        let until = f.last + wait;
        if now < until { Err(until) } else { Ok(()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_795_000_000 + secs, 0).unwrap()
    }

    fn after(count: u32, last: i64) -> Option<Failures> {
        Some(Failures {
            count,
            last: at(last),
        })
    }

    #[test]
    fn the_first_wrong_tries_are_free() {
        let p = GuessPolicy::default();
        assert_eq!(p.check(None, at(0)), Ok(()));
        for n in 0..5 {
            assert_eq!(p.check(after(n, 0), at(0)), Ok(()), "{n}");
        }
    }

    #[test]
    fn then_each_try_waits_longer_and_past_the_limit_tries_are_refused_for_the_lockout() {
        let p = GuessPolicy::default();
        assert_eq!(p.check(after(5, 0), at(10)), Err(at(30)));
        assert_eq!(p.check(after(5, 0), at(30)), Ok(()));
        assert_eq!(p.check(after(6, 0), at(30)), Err(at(60)));
        assert_eq!(p.check(after(9, 0), at(400)), Err(at(480)));
        assert_eq!(p.check(after(10, 0), at(3599)), Err(at(3600)));
        assert_eq!(p.check(after(50, 0), at(3600)), Ok(()));
    }

    #[test]
    fn a_quiet_hour_forgets_the_failures() {
        let p = GuessPolicy::default();
        assert_eq!(p.forget_before(at(3600)), at(0));
        assert_eq!(p.check(after(9, 0), at(3600)), Ok(()));
    }
}
