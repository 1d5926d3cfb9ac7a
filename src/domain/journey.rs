//! Journeys: offers `taem serve` sends by itself, each switched on and set up by
//! staff: a welcome after joining, a birthday gift once a year in the member's
//! birthday month, a win-back offer to members who are lapsing (at most once
//! per N days), and a nudge after a purchase that leaves a member close to a
//! reward (at most once per reward per month). Each may hold out a share of
//! the members it would reach (they get nothing, and are measured against).
//! Pure rules: what is due to whom, under which key (a key is sent once).

use chrono::{DateTime, Datelike, Duration, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::audience::{Facts, Lapsing};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Welcome,
    Birthday,
    Winback,
    NearReward,
}

impl Kind {
    pub const ALL: [Kind; 4] = [
        Kind::Welcome,
        Kind::Birthday,
        Kind::Winback,
        Kind::NearReward,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Welcome => "welcome",
            Kind::Birthday => "birthday",
            Kind::Winback => "winback",
            Kind::NearReward => "near_reward",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == s || k.as_str().replace('_', "-") == s)
    }
}

/// One journey for one member under one key.
#[derive(Debug, Clone)]
pub struct Gift {
    pub kind: Kind,
    pub member_id: i64,
    pub key: String,
    pub held_out: bool,
    pub bonus_points: i64,
    pub reward_id: Option<i64>,
    /// The voucher's code, drawn by the caller.
    pub code: super::VoucherCode,
    /// Near a reward: the reward and the points still needed.
    pub near: Option<(i64, i64)>,
    pub timing: super::model::LotTiming,
    pub now: DateTime<Utc>,
}

/// A journey's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Journey {
    pub kind: Kind,
    pub enabled: bool,
    /// Bonus points given with the message (welcome, birthday, win-back).
    pub bonus_points: i64,
    /// A voucher of this reward given with the message (welcome, birthday,
    /// win-back).
    pub reward_id: Option<i64>,
    /// The share of members held out, in basis points (at most half).
    pub holdout_bp: i64,
    #[serde(skip)]
    #[schema(ignore)]
    pub holdout_salt: i64,
    /// Win-back: when a member counts as lapsing.
    pub lapsing: Lapsing,
    /// Win-back: at most once per this many days per member.
    pub every_days: u32,
    /// Near a reward: within this share of its cost, in basis points.
    pub near_bp: i64,
    /// Since when it runs (a welcome greets members who join from then on).
    pub enabled_at: Option<DateTime<Utc>>,
}

impl Journey {
    /// A journey as it starts: off, giving nothing.
    pub fn new(kind: Kind, salt: i64) -> Journey {
        Journey {
            kind,
            enabled: false,
            bonus_points: 0,
            reward_id: None,
            holdout_bp: 0,
            holdout_salt: salt,
            lapsing: Lapsing::Days(60),
            every_days: 90,
            near_bp: 2_000,
            enabled_at: None,
        }
    }

    /// Whether the settings make sense.
    pub fn check(&self) -> Result<(), String> {
        if !(0..=5_000).contains(&self.holdout_bp) {
            return Err("holdout must be 0 % to 50 %".into());
        }
        if self.bonus_points < 0 {
            return Err("bonus points cannot be negative".into());
        }
        if self.kind == Kind::NearReward && (self.bonus_points > 0 || self.reward_id.is_some()) {
            return Err("a nudge near a reward gives nothing; it names the reward".into());
        }
        if !(1..=5_000).contains(&self.near_bp) {
            return Err("near a reward: a share of 0.01 % to 50 % of its cost".into());
        }
        if self.every_days == 0 || matches!(self.lapsing, Lapsing::Days(0)) {
            return Err("days must be 1 or more".into());
        }
        Ok(())
    }

    /// Whether the member is in its holdout group (by their id and its salt,
    /// the same answer every time).
    pub fn holds_out(&self, member_id: i64) -> bool {
        self.holdout_bp > 0
            && super::campaign::holdout_slot(self.holdout_salt, member_id) < self.holdout_bp
    }

    /// The key under which a member gets it now, if it is due: sent once per key.
    /// `last_winback` is when they last got the win-back offer.
    pub fn due(
        &self,
        f: &Facts,
        last_winback: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        tz: Tz,
    ) -> Option<String> {
        if !self.enabled {
            return None;
        }
        let local = now.with_timezone(&tz);
        match self.kind {
            // Members who joined since it was switched on, once.
            Kind::Welcome => (self.enabled_at.is_some_and(|on| f.joined_at >= on)
                && now - f.joined_at <= Duration::days(WELCOME_WITHIN_DAYS))
            .then(|| "welcome".to_string()),
            Kind::Birthday => super::audience::birthday_month(f.birthday, now, tz)
                .then(|| format!("birthday:{}", local.year())),
            Kind::Winback => (super::audience::lapsing(self.lapsing, f, now)
                && last_winback
                    .is_none_or(|at| now - at >= Duration::days(i64::from(self.every_days))))
            .then(|| format!("winback:{}", local.date_naive())),
            // Decided on a purchase (see [`near_reward`]).
            Kind::NearReward => None,
        }
    }
}

/// A welcome reaches members who joined at most this many days ago (so one
/// switched on late never greets people who joined long before).
pub const WELCOME_WITHIN_DAYS: i64 = 7;

/// The reward a member is close to after a purchase: among rewards they cannot
/// afford yet whose missing points are at most `near_bp` of the cost, the one
/// needing fewest points (then the cheapest, then the first). `rewards` are
/// (id, cost). Returns (id, points still needed).
pub fn near_reward(balance: i64, rewards: &[(i64, i64)], near_bp: i64) -> Option<(i64, i64)> {
    rewards
        .iter()
        .filter(|(_, cost)| *cost > balance && *cost > 0)
        .filter(|(_, cost)| (cost - balance) * 10_000 <= cost * near_bp)
        .min_by_key(|(id, cost)| (cost - balance, *cost, *id))
        .map(|(id, cost)| (*id, cost - balance))
}

/// The key of a nudge about `reward_id` in `now`'s month: once per reward per
/// month.
pub fn near_key(reward_id: i64, now: DateTime<Utc>, tz: Tz) -> String {
    let local = now.with_timezone(&tz);
    format!("reward:{reward_id}:{}-{:02}", local.year(), local.month())
}

/// Days after a send within which a member's spend counts as its result.
pub const RESULT_DAYS: i64 = 30;

/// One send as its results are read: (member, held out, sent at, points given,
/// a voucher given, that voucher used).
pub type SendFacts = (i64, bool, DateTime<Utc>, i64, bool, bool);

/// What a journey did, against its holdout group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Outcome {
    pub journey: Kind,
    /// Sends that gave and said something
    pub reached: i64,
    /// Sends held out (nothing given, nothing said)
    pub held_out: i64,
    pub points_given: i64,
    pub vouchers_given: i64,
    pub vouchers_used: i64,
    /// Spend in the 30 days after each send, per send, minor units: reached
    /// members, then held-out ones
    pub spend_per_send_minor: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holdout_spend_per_send_minor: Option<i64>,
    /// (reached − held out) ÷ held out, basis points, when both are measured
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lift_bp: Option<i64>,
}

/// A journey's outcome: each send's member's spend in the `RESULT_DAYS` after
/// it (`purchases`: member, when, net minor units, ordered by member), the
/// reached against the held out.
pub fn outcome(
    kind: Kind,
    sends: &[SendFacts],
    purchases: &[(i64, DateTime<Utc>, i64)],
) -> Outcome {
    let spend_after = |member: i64, at: DateTime<Utc>| -> i64 {
        let end = at + Duration::days(RESULT_DAYS);
        let first = purchases.partition_point(|(m, _, _)| *m < member);
        purchases[first..]
            .iter()
            .take_while(|(m, _, _)| *m == member)
            .filter(|(_, t, _)| *t >= at && *t < end)
            .map(|(_, _, minor)| minor)
            .sum()
    };
    let (mut reached, mut held, mut spend, mut held_spend) = (0i64, 0i64, 0i64, 0i64);
    let (mut points, mut vouchers, mut used) = (0, 0, 0);
    for &(member, held_out, at, p, voucher, voucher_used) in sends {
        let s = spend_after(member, at);
        if held_out {
            held += 1;
            held_spend += s;
        } else {
            reached += 1;
            spend += s;
            points += p;
            vouchers += i64::from(voucher);
            used += i64::from(voucher_used);
        }
    }
    let per = |total: i64, n: i64| if n > 0 { total / n } else { 0 };
    let (treated, control) = (
        per(spend, reached),
        (held > 0).then(|| per(held_spend, held)),
    );
    Outcome {
        journey: kind,
        reached,
        held_out: held,
        points_given: points,
        vouchers_given: vouchers,
        vouchers_used: used,
        spend_per_send_minor: treated,
        holdout_spend_per_send_minor: control,
        lift_bp: control
            .filter(|c| *c > 0 && reached > 0)
            .map(|c| (treated - c) * 10_000 / c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 5, 0, 0).unwrap()
    }

    fn on(kind: Kind) -> Journey {
        Journey {
            enabled: true,
            enabled_at: Some(at(2027, 1, 1)),
            ..Journey::new(kind, 7)
        }
    }

    #[test]
    fn a_welcome_greets_those_who_join_after_it_starts_once() {
        let tz = chrono_tz::Asia::Bangkok;
        let j = on(Kind::Welcome);
        let joined = |d| Facts {
            joined_at: d,
            ..Facts::default()
        };
        assert_eq!(
            j.due(&joined(at(2027, 2, 1)), None, at(2027, 2, 2), tz)
                .as_deref(),
            Some("welcome")
        );
        assert_eq!(
            j.due(&joined(at(2026, 12, 31)), None, at(2027, 1, 2), tz),
            None,
            "before it started"
        );
        assert_eq!(
            j.due(&joined(at(2027, 2, 1)), None, at(2027, 2, 9), tz),
            None,
            "long after joining"
        );
        assert_eq!(
            Journey {
                enabled: false,
                ..j
            }
            .due(&joined(at(2027, 2, 1)), None, at(2027, 2, 2), tz),
            None
        );
    }

    #[test]
    fn a_birthday_is_once_a_year_in_its_month_and_a_winback_once_per_period() {
        let tz = chrono_tz::Asia::Bangkok;
        let f = Facts {
            birthday: Some((29, 2)),
            purchases: 1,
            first_purchase: Some(at(2026, 10, 1)),
            last_purchase: Some(at(2026, 10, 1)),
            ..Facts::default()
        };
        let b = on(Kind::Birthday);
        assert_eq!(
            b.due(&f, None, at(2027, 2, 3), tz).as_deref(),
            Some("birthday:2027")
        );
        assert_eq!(b.due(&f, None, at(2027, 3, 3), tz), None);
        let w = on(Kind::Winback);
        let key = w
            .due(&f, None, at(2027, 2, 3), tz)
            .expect("lapsing 60 days");
        assert_eq!(key, "winback:2027-02-03");
        assert_eq!(
            w.due(&f, Some(at(2027, 2, 3)), at(2027, 5, 3), tz),
            None,
            "89 days on"
        );
        assert!(
            w.due(&f, Some(at(2027, 2, 3)), at(2027, 5, 4), tz)
                .is_some(),
            "90 days on"
        );
    }

    #[test]
    fn near_a_reward_names_the_closest_within_its_share() {
        let rewards = [(1, 100), (2, 500), (3, 120), (4, 50)];
        // 90 points: 10 short of reward 1 (10 %), 30 short of 3 (25 %).
        assert_eq!(near_reward(90, &rewards, 2_000), Some((1, 10)));
        assert_eq!(
            near_reward(90, &rewards, 500),
            None,
            "10 % is more than 5 %"
        );
        assert_eq!(
            near_reward(100, &rewards, 2_000),
            Some((3, 20)),
            "affordable ones are not near"
        );
        assert_eq!(near_reward(0, &[], 2_000), None);
        let tz = chrono_tz::Asia::Bangkok;
        assert_eq!(near_key(1, at(2027, 2, 3), tz), "reward:1:2027-02");
    }

    #[test]
    fn the_outcome_compares_spend_after_sends_with_the_holdout() {
        let t = at(2027, 1, 1);
        let sends = [
            (1, false, t, 20, false, false),
            (2, false, t, 20, true, true),
            (3, true, t, 0, false, false),
            (4, true, t, 0, false, false),
        ];
        let day = |d| t + Duration::days(d);
        let purchases = [
            (1, day(5), 30_000),
            (1, day(31), 99_999), // after the 30 days
            (2, day(29), 10_000),
            (3, day(1), 10_000),
            (3, day(-1), 50_000), // before the send
            (4, day(2), 10_000),
        ];
        let o = outcome(Kind::Winback, &sends, &purchases);
        assert_eq!(
            (
                o.reached,
                o.held_out,
                o.points_given,
                o.vouchers_given,
                o.vouchers_used
            ),
            (2, 2, 40, 1, 1)
        );
        assert_eq!(o.spend_per_send_minor, 20_000);
        assert_eq!(o.holdout_spend_per_send_minor, Some(10_000));
        assert_eq!(o.lift_bp, Some(10_000), "twice as much: +100 %");
        let none = outcome(Kind::Welcome, &sends[..2], &purchases);
        assert_eq!(
            (none.holdout_spend_per_send_minor, none.lift_bp),
            (None, None)
        );
    }

    #[test]
    fn settings_that_make_no_sense_are_refused() {
        let mut j = Journey::new(Kind::NearReward, 1);
        j.bonus_points = 5;
        assert!(j.check().is_err());
        let mut j = Journey::new(Kind::Welcome, 1);
        j.holdout_bp = 6_000;
        assert!(j.check().is_err());
        assert!(Journey::new(Kind::Winback, 1).check().is_ok());
        assert_eq!(Kind::parse("near-reward"), Some(Kind::NearReward));
    }

    #[test]
    fn the_holdout_is_stable_and_near_its_share() {
        let j = Journey {
            holdout_bp: 2_000,
            ..on(Kind::Welcome)
        };
        let held = (1..=10_000).filter(|m| j.holds_out(*m)).count();
        assert!((1_800..=2_200).contains(&held), "{held}");
        assert_eq!(j.holds_out(42), j.holds_out(42));
    }
}
