//! Audiences: who a campaign or broadcast is for, counted before it is sent.

use chrono::{DateTime, Utc};

use super::{Loyalty, Result, invalid};
use crate::domain::audience::{self, Audience, Facts, Reach};
use crate::domain::campaign::Campaign;
use crate::domain::catalogue;
use crate::domain::model::{Member, Reward};

/// What became of a birthday a member gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BirthdaySet {
    /// Kept: (day, month).
    Set(u32, u32),
    /// Changed less than a year ago: it can change again from `next`.
    TooSoon { next: DateTime<Utc> },
}

impl Loyalty {
    /// A member gives their birthday as day and month (`29/2`); it can change
    /// at most once a year.
    pub async fn set_birthday(
        &self,
        member_id: i64,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<BirthdaySet> {
        let (day, month) = audience::parse_birthday(text).ok_or_else(|| {
            invalid(
                "birthday",
                format!("{text:?} is not a day and month such as 29/2"),
            )
        })?;
        let (set, at) = self.store.set_birthday(member_id, day, month, now).await?;
        Ok(match (set, at) {
            (false, Some(at)) => BirthdaySet::TooSoon {
                next: at + chrono::Duration::days(365),
            },
            _ => BirthdaySet::Set(day, month),
        })
    }

    /// A member's birthday (day, month), if they gave it.
    pub async fn birthday(&self, member_id: i64) -> Result<Option<(u32, u32)>> {
        Ok(self.store.birthday(member_id).await?)
    }

    /// The members in `audience` now (ids, ascending). Read where reports read
    /// (a replica when there is one).
    pub async fn audience_members(
        &self,
        audience: &Audience,
        now: DateTime<Utc>,
    ) -> Result<Vec<i64>> {
        Ok(self
            .audience_facts(audience, now)
            .await?
            .into_iter()
            .map(|f| f.member_id)
            .collect())
    }

    /// How many members `audience` holds and how many marketing reaches on
    /// each app.
    pub async fn audience_reach(&self, audience: &Audience, now: DateTime<Utc>) -> Result<Reach> {
        let mut reach = Reach::default();
        for f in self.audience_facts(audience, now).await? {
            reach.add(&f);
        }
        Ok(reach)
    }

    /// The rewards on offer in the order that suits the member ("for you"):
    /// those they can afford or are close to first, then those for the
    /// category they buy most.
    pub async fn rewards_for(&self, member: &Member, now: DateTime<Utc>) -> Result<Vec<Reward>> {
        let offered: Vec<Reward> = self
            .rewards(false)
            .await?
            .into_iter()
            .filter(|r| r.offered(now))
            .collect();
        let favourite: Vec<String> = self
            .store
            .member_segment(member.id)
            .await?
            .and_then(|s| s.favourite_category)
            .into_iter()
            .collect();
        Ok(catalogue::for_member(
            offered,
            member.balance.value(),
            &favourite,
        ))
    }

    /// The campaigns running or starting within `days` that the member is in
    /// (their tier and audience, not held out).
    pub async fn campaigns_for(
        &self,
        member: &Member,
        now: DateTime<Utc>,
        days: i64,
    ) -> Result<Vec<Campaign>> {
        let tier = self.tier_status(member.id, now).await?.tier.key;
        let tiers = self.program().await?.tiers;
        let mut theirs = Vec::new();
        for c in self.current_campaigns(now, days).await? {
            if !catalogue::member_in(&c, member.id, &tier) {
                continue;
            }
            if !c.audience.is_everyone() {
                let facts = self
                    .store
                    .member_facts(member.id, &c.audience.bought, now)
                    .await?;
                if !facts.is_some_and(|f| c.audience.admits(&f, &tiers, now, self.tz)) {
                    continue;
                }
            }
            theirs.push(c);
        }
        Ok(theirs)
    }

    async fn audience_facts(&self, audience: &Audience, now: DateTime<Utc>) -> Result<Vec<Facts>> {
        audience
            .check()
            .map_err(|e| invalid("audience", e.to_string()))?;
        let tiers = self.program().await?.tiers;
        let facts = self.reader.audience_facts(&audience.bought, now).await?;
        Ok(facts
            .into_iter()
            .filter(|f| audience.admits(f, &tiers, now, self.tz))
            .collect())
    }
}
