//! The back office's changes, as staff make them in the console: each checks
//! the staff member's role, makes the change through the same use case the CLI
//! and the admin API use, and appends it to the audit log with the values
//! before and after.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::campaigns::{CampaignInput, CampaignReport};
use super::staff::Actor;
use super::{Loyalty, ProgramChange, Result, RewardInput, ServiceError, TierChangeInput, invalid};
use crate::domain::campaign::Campaign;
use crate::domain::model::*;
use crate::domain::notice::BroadcastStatus;
use crate::domain::picture::Picture;
use crate::domain::staff::Permission;
use crate::domain::tier::Tiers;

/// What the audit log keeps of a merchant: never its secrets.
fn merchant_record(m: &Merchant) -> Value {
    json!({
        "id": m.id,
        "name": m.name,
        "currency": m.currency.code(),
        "earn": m.earn.display(m.currency),
    })
}

impl Loyalty {
    /// Every reward, enabled or not, for the back office.
    pub async fn back_office_rewards(&self, actor: &Actor) -> Result<Vec<Reward>> {
        actor.require(Permission::BackOffice)?;
        self.rewards(true).await
    }

    /// Adds a reward (`id` `None`) or changes one; audited.
    pub async fn save_reward(
        &self,
        actor: &Actor,
        id: Option<i64>,
        input: RewardInput,
        now: DateTime<Utc>,
    ) -> Result<Reward> {
        actor.require(Permission::BackOffice)?;
        let (before, after) = match id {
            None => (None, self.add_reward(input, now).await?),
            Some(id) => {
                let before = self.reward(id).await?;
                (Some(before), self.update_reward(id, input).await?)
            }
        };
        let action = if before.is_some() {
            "reward.update"
        } else {
            "reward.create"
        };
        let subject = after.id.to_string();
        self.audit(
            actor,
            action,
            Some(&subject),
            before.as_ref(),
            Some(&after),
            now,
        )
        .await?;
        Ok(after)
    }

    /// Offers a reward again or stops offering it; audited.
    pub async fn enable_reward(
        &self,
        actor: &Actor,
        id: i64,
        active: bool,
        now: DateTime<Utc>,
    ) -> Result<Reward> {
        actor.require(Permission::BackOffice)?;
        let before = self.reward(id).await?;
        let after = self.set_reward_active(id, active).await?;
        let action = if active {
            "reward.enable"
        } else {
            "reward.disable"
        };
        let subject = id.to_string();
        self.audit(
            actor,
            action,
            Some(&subject),
            Some(&before),
            Some(&after),
            now,
        )
        .await?;
        Ok(after)
    }

    /// Gives a reward a picture (a JPEG or PNG of at most 1 MB, checked by its
    /// content), or takes it away (`None`); audited.
    pub async fn change_reward_picture(
        &self,
        actor: &Actor,
        id: i64,
        file: Option<Vec<u8>>,
        now: DateTime<Utc>,
    ) -> Result<Reward> {
        actor.require(Permission::BackOffice)?;
        let picture = file
            .map(Picture::check)
            .transpose()
            .map_err(|e| invalid("picture", e.to_string()))?;
        let before = self.reward(id).await?;
        let after = self.store.set_reward_picture(id, &picture, now).await?;
        let subject = id.to_string();
        self.audit(
            actor,
            "reward.picture",
            Some(&subject),
            Some(&before.picture),
            Some(&after.picture),
            now,
        )
        .await?;
        Ok(after)
    }

    /// A reward's picture by its published name: content type and bytes.
    pub async fn reward_picture(&self, id: i64, name: &str) -> Result<Option<(String, Vec<u8>)>> {
        Ok(self.store.reward_picture(id, name).await?)
    }

    /// Every campaign with its status and results, for the back office.
    pub async fn back_office_campaigns(
        &self,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Vec<CampaignReport>> {
        actor.require(Permission::BackOffice)?;
        self.campaign_reports(now).await
    }

    /// One campaign with its status and results.
    pub async fn back_office_campaign(
        &self,
        actor: &Actor,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<CampaignReport> {
        actor.require(Permission::BackOffice)?;
        self.campaign_report(id, now).await
    }

    /// What a purchase would earn at a merchant under the rules and campaigns
    /// as they are (nothing is recorded).
    pub async fn staff_simulate(
        &self,
        actor: &Actor,
        merchant_id: &str,
        mut req: crate::service::PurchaseRequest,
        now: DateTime<Utc>,
    ) -> Result<crate::domain::Breakdown> {
        actor.require(Permission::BackOffice)?;
        let m = self.merchant(merchant_id).await?;
        req.currency = m.currency.code().to_string();
        self.simulate_purchase(&m, req, now).await
    }

    /// Adds a campaign; audited.
    pub async fn staff_add_campaign(
        &self,
        actor: &Actor,
        input: &CampaignInput,
        now: DateTime<Utc>,
    ) -> Result<Campaign> {
        actor.require(Permission::BackOffice)?;
        let c = self.add_campaign(input, now).await?;
        let subject = c.id.to_string();
        self.audit(
            actor,
            "campaign.create",
            Some(&subject),
            None,
            Some(&c),
            now,
        )
        .await?;
        Ok(c)
    }

    /// Ends a campaign now; audited.
    pub async fn staff_end_campaign(
        &self,
        actor: &Actor,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<CampaignReport> {
        actor.require(Permission::BackOffice)?;
        let before = self.campaign_report(id, now).await?;
        let after = self.end_campaign(id, now).await?;
        let subject = id.to_string();
        self.audit(
            actor,
            "campaign.end",
            Some(&subject),
            Some(&before.campaign),
            Some(&after.campaign),
            now,
        )
        .await?;
        Ok(after)
    }

    /// Queues a campaign's announcement (`force`: past LINE's quota); audited
    /// with the rows queued.
    pub async fn staff_broadcast(
        &self,
        actor: &Actor,
        id: i64,
        force: bool,
        now: DateTime<Utc>,
    ) -> Result<(u64, BroadcastStatus)> {
        actor.require(Permission::BackOffice)?;
        let (queued, status) = self.broadcast(id, force, now).await?;
        let subject = id.to_string();
        let after = if force {
            json!({ "queued": queued, "forced": true })
        } else {
            json!({ "queued": queued })
        };
        self.audit(
            actor,
            "campaign.broadcast",
            Some(&subject),
            None,
            Some(&after),
            now,
        )
        .await?;
        Ok((queued, status))
    }

    /// Switches a journey on or off and sets what it gives; audited.
    pub async fn staff_set_journey(
        &self,
        actor: &Actor,
        kind: crate::domain::journey::Kind,
        input: &crate::service::journeys::JourneyInput,
        now: DateTime<Utc>,
    ) -> Result<crate::domain::journey::Journey> {
        actor.require(Permission::BackOffice)?;
        let before = self.journeys().await?.into_iter().find(|j| j.kind == kind);
        let after = self.set_journey(kind, input, now).await?;
        self.audit(
            actor,
            "journey.set",
            Some(kind.as_str()),
            before.as_ref(),
            Some(&after),
            now,
        )
        .await?;
        Ok(after)
    }

    /// How far a campaign's announcement has gone.
    pub async fn staff_broadcast_status(&self, actor: &Actor, id: i64) -> Result<BroadcastStatus> {
        actor.require(Permission::BackOffice)?;
        self.broadcast_status(id).await
    }

    /// Adds or changes a tier; audited.
    pub async fn staff_set_tier(
        &self,
        actor: &Actor,
        change: TierChangeInput,
        now: DateTime<Utc>,
    ) -> Result<Tiers> {
        actor.require(Permission::BackOffice)?;
        let key = change.key.clone();
        let before = self.program().await?.tiers;
        let after = self.set_tier(change).await?;
        self.audit(
            actor,
            "tier.set",
            Some(&key),
            Some(&before),
            Some(&after),
            now,
        )
        .await?;
        Ok(after)
    }

    /// Removes a tier; audited.
    pub async fn staff_remove_tier(
        &self,
        actor: &Actor,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Tiers> {
        actor.require(Permission::BackOffice)?;
        let before = self.program().await?.tiers;
        let after = self.remove_tier(key).await?;
        self.audit(
            actor,
            "tier.remove",
            Some(key),
            Some(&before),
            Some(&after),
            now,
        )
        .await?;
        Ok(after)
    }

    /// Changes the programme settings (owners only); audited.
    pub async fn staff_change_program(
        &self,
        actor: &Actor,
        change: ProgramChange,
        now: DateTime<Utc>,
    ) -> Result<Program> {
        actor.require(Permission::Settings)?;
        let before = self.program().await?;
        let after = self.change_program(change).await?;
        self.audit(
            actor,
            "settings.change",
            None,
            Some(&before),
            Some(&after),
            now,
        )
        .await?;
        Ok(after)
    }

    /// Every merchant, for the back office.
    pub async fn back_office_merchants(&self, actor: &Actor) -> Result<Vec<Merchant>> {
        actor.require(Permission::BackOffice)?;
        self.merchants().await
    }

    /// Adds a merchant or branch (owners only: its webhook secret is shown once);
    /// audited without the secret.
    pub async fn staff_add_merchant(
        &self,
        actor: &Actor,
        (name, currency, earn): (&str, &str, &str),
        now: DateTime<Utc>,
    ) -> Result<Merchant> {
        actor.require(Permission::MerchantSecrets)?;
        let m = self.add_merchant(name, currency, earn, now).await?;
        let after = merchant_record(&m);
        self.audit(
            actor,
            "merchant.create",
            Some(&m.id),
            None,
            Some(&after),
            now,
        )
        .await?;
        Ok(m)
    }

    /// Gives a merchant a new webhook secret, shown once (owners only); audited
    /// without either secret.
    pub async fn staff_rotate_secret(
        &self,
        actor: &Actor,
        id: &str,
        grace_hours: u32,
        now: DateTime<Utc>,
    ) -> Result<(Merchant, DateTime<Utc>)> {
        actor.require(Permission::MerchantSecrets)?;
        if grace_hours > 24 * 30 {
            return Err(invalid("grace_hours", "at most 720 hours (30 days)"));
        }
        let (m, until) = match self.rotate_merchant_secret(id, grace_hours, now).await {
            Err(ServiceError::NotFound(_)) => return Err(ServiceError::NotFound("merchant")),
            other => other?,
        };
        let after = json!({ "old_secret_accepted_until": until });
        self.audit(
            actor,
            "merchant.rotate_secret",
            Some(&m.id),
            None,
            Some(&after),
            now,
        )
        .await?;
        Ok((m, until))
    }
}
