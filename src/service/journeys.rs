//! Journeys: staff switch them on and set them up; `taem serve` runs them every
//! sweep (see `app.rs`), giving each member each journey at most once per key.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Loyalty, Result, invalid};
use crate::domain::VoucherCode;
use crate::domain::audience::Lapsing;
use crate::domain::journey::{Gift, Journey, Kind, near_key, near_reward};
use crate::domain::model::LotTiming;

/// A change to a journey's settings; what is left out stays as it was.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct JourneyInput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Bonus points given with the message (welcome, birthday, win-back)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bonus_points: Option<i64>,
    /// A reward whose voucher is given with the message; 0 for none
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reward_id: Option<i64>,
    /// The share of members held out, such as "10%" (at most 50 %)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holdout: Option<String>,
    /// Win-back: lapsing after this many days, or "usual" (beyond 1.5 × the
    /// member's usual gap between purchases)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lapsing: Option<String>,
    /// Win-back: at most once per this many days per member
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every_days: Option<u32>,
    /// Near a reward: within this share of its cost, such as "20%"
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub near: Option<String>,
}

/// What one run of the journeys did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct JourneyRun {
    /// Per journey switched on
    pub journeys: Vec<JourneyRan>,
}

/// What one journey gave in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct JourneyRan {
    pub journey: Kind,
    /// Members who got it
    pub given: u64,
    /// Members held out (recorded, given nothing)
    pub held_out: u64,
}

impl JourneyRun {
    pub fn total(&self) -> u64 {
        self.journeys.iter().map(|j| j.given + j.held_out).sum()
    }
}

/// How far back a run looks for purchases that may leave a member near a
/// reward (runs are minutes apart; a nudge is keyed once per reward a month).
const NEAR_LOOKBACK_HOURS: i64 = 24;

/// Gifts given at once in a run (SQLite's writer commits them together; on
/// PostgreSQL each takes a pooled connection).
const GIFTS_AT_ONCE: usize = 16;

fn percent_bp(field: &str, v: &str, max: i64) -> Result<i64> {
    // No share at all ("0", "0%", "0.0") is none; parse_percent wants one.
    let bare = v.trim().trim_end_matches('%').trim();
    if !bare.is_empty() && bare.bytes().all(|b| b == b'0' || b == b'.') && bare.contains('0') {
        return Ok(0);
    }
    crate::domain::offer::parse_percent(v)
        .map(i64::from)
        .filter(|bp| *bp <= max)
        .ok_or_else(|| {
            invalid(
                field,
                format!("{v:?} is not a percentage up to {}", max / 100),
            )
        })
}

impl Loyalty {
    /// Every journey, as set (or as it starts: off).
    pub async fn journeys(&self) -> Result<Vec<Journey>> {
        let stored = self.store.journeys().await?;
        Ok(Kind::ALL
            .into_iter()
            .map(|k| {
                stored
                    .iter()
                    .find(|j| j.kind == k)
                    .cloned()
                    .unwrap_or_else(|| Journey::new(k, 0))
            })
            .collect())
    }

    /// Changes a journey's settings (checked; a reward must exist).
    pub async fn set_journey(
        &self,
        kind: Kind,
        input: &JourneyInput,
        now: DateTime<Utc>,
    ) -> Result<Journey> {
        let mut j = self
            .journeys()
            .await?
            .into_iter()
            .find(|j| j.kind == kind)
            .expect("every kind");
        if j.holdout_salt == 0 {
            j.holdout_salt = rand::random::<i64>() | 1;
        }
        if let Some(e) = input.enabled {
            j.enabled = e;
        }
        if let Some(p) = input.bonus_points {
            j.bonus_points = p;
        }
        if let Some(r) = input.reward_id {
            j.reward_id = (r != 0).then_some(r);
            if let Some(id) = j.reward_id
                && !self.store.rewards(true).await?.iter().any(|r| r.id == id)
            {
                return Err(invalid("reward_id", format!("there is no reward {id}")));
            }
        }
        if let Some(h) = &input.holdout {
            j.holdout_bp = percent_bp("holdout", h, 5_000)?;
        }
        if let Some(l) = &input.lapsing {
            j.lapsing = match l.trim() {
                "usual" => Lapsing::UsualGap,
                d => Lapsing::Days(d.parse().ok().filter(|d| *d > 0).ok_or_else(|| {
                    invalid(
                        "lapsing",
                        format!("{l:?} is not a number of days or \"usual\""),
                    )
                })?),
            };
        }
        if let Some(e) = input.every_days {
            j.every_days = e;
        }
        if let Some(n) = &input.near {
            j.near_bp = percent_bp("near", n, 5_000)?;
        }
        j.check().map_err(|e| invalid(kind.as_str(), e))?;
        Ok(self.store.set_journey(&j, now).await?)
    }

    /// Gives journeys, several at once (each its own transaction, for a
    /// different member): (given, held out).
    async fn give_all(&self, gifts: Vec<Gift>) -> Result<(u64, u64)> {
        let mut running = tokio::task::JoinSet::new();
        let mut gifts = gifts.into_iter();
        let (mut given, mut held) = (0, 0);
        loop {
            while running.len() < GIFTS_AT_ONCE {
                let Some(g) = gifts.next() else { break };
                let store = self.store.clone();
                running.spawn(async move { (g.held_out, store.give_journey(&g).await) });
            }
            let Some(done) = running.join_next().await else {
                break;
            };
            let (held_out, done) =
                done.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
            if done? {
                if held_out {
                    held += 1;
                } else {
                    given += 1;
                }
            }
        }
        Ok((given, held))
    }

    /// What each journey did, against its holdout group: spend in the 30 days
    /// after each send (journeys that sent nothing are left out).
    pub async fn journey_outcomes(&self) -> Result<Vec<crate::domain::journey::Outcome>> {
        let mut out = Vec::new();
        for kind in Kind::ALL {
            let (sends, purchases) = self.reader.journey_results(kind).await?;
            if !sends.is_empty() {
                out.push(crate::domain::journey::outcome(kind, &sends, &purchases));
            }
        }
        Ok(out)
    }

    /// Runs every journey switched on: each member it is due for (with
    /// marketing consent and an app that reaches them) gets it once per key;
    /// its holdout share is recorded and gets nothing.
    pub async fn run_journeys(&self, now: DateTime<Utc>) -> Result<JourneyRun> {
        let journeys: Vec<Journey> = self
            .journeys()
            .await?
            .into_iter()
            .filter(|j| j.enabled)
            .collect();
        let mut run = JourneyRun::default();
        if journeys.is_empty() {
            return Ok(run);
        }
        let program = self.program().await?;
        let timing = LotTiming {
            available_at: now,
            expires_at: crate::domain::time::lot_expiry(now, program.expiry_months, self.tz),
        };
        let gift = |j: &Journey, member_id: i64, key: String, near: Option<(i64, i64)>| Gift {
            kind: j.kind,
            member_id,
            key,
            held_out: j.holds_out(member_id),
            bonus_points: j.bonus_points,
            reward_id: j.reward_id,
            code: VoucherCode::generate(),
            near,
            timing,
            now,
        };
        let facts = if journeys.iter().any(|j| j.kind != Kind::NearReward) {
            self.store.audience_facts(&None, now).await?
        } else {
            Vec::new()
        };
        for j in &journeys {
            let mut gifts = Vec::new();
            let since = match j.kind {
                Kind::Winback => now - Duration::days(i64::from(j.every_days)),
                _ => now - Duration::days(400),
            };
            let sends = self.store.journey_sends(j.kind, since).await?;
            let sent: HashSet<(i64, &str)> =
                sends.iter().map(|(m, k, _)| (*m, k.as_str())).collect();
            let mut last: HashMap<i64, DateTime<Utc>> = HashMap::new();
            for (m, _, at) in &sends {
                let e = last.entry(*m).or_insert(*at);
                *e = (*e).max(*at);
            }
            if j.kind == Kind::NearReward {
                let rewards: Vec<(i64, i64)> = self
                    .store
                    .rewards(false)
                    .await?
                    .iter()
                    .map(|r| (r.id, r.cost.value()))
                    .collect();
                let since = now - Duration::hours(NEAR_LOOKBACK_HOURS);
                for (member_id, balance) in self.store.recent_buyers(since).await? {
                    let Some((reward, needed)) = near_reward(balance, &rewards, j.near_bp) else {
                        continue;
                    };
                    let key = near_key(reward, now, self.tz);
                    if sent.contains(&(member_id, key.as_str())) {
                        continue;
                    }
                    let g = gift(j, member_id, key, Some((reward, needed)));
                    gifts.push(g);
                }
            } else {
                for f in facts
                    .iter()
                    .filter(|f| f.marketing && (f.telegram || f.line))
                {
                    let Some(key) = j.due(f, last.get(&f.member_id).copied(), now, self.tz) else {
                        continue;
                    };
                    if sent.contains(&(f.member_id, key.as_str())) {
                        continue;
                    }
                    let g = gift(j, f.member_id, key, None);
                    gifts.push(g);
                }
            }
            let (given, held) = self.give_all(gifts).await?;
            run.journeys.push(JourneyRan {
                journey: j.kind,
                given,
                held_out: held,
            });
        }
        Ok(run)
    }
}
