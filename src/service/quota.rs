//! LINE's monthly message quota, as an operator meets it: a broadcast is
//! checked against what is left before anything is queued, and the pause the
//! push worker puts on LINE marketing when LINE says the quota is used up is
//! shown (`taem line status`) and lifted (`taem line resume`).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Loyalty, Result};
use crate::domain::model::Channel;
use crate::domain::quota::{LINE_MONTHLY_LIMIT, LineQuota, QuotaRefusal, SendPause};

/// Where LINE's quota is read (the LINE client; a fake in tests).
#[async_trait::async_trait]
pub trait QuotaSource: Send + Sync {
    /// This month's limit (`None` on plans without one) and what was used.
    async fn read_quota(&self) -> std::result::Result<(Option<u64>, u64), String>;
}

/// LINE as an operator sees it.
#[derive(Debug, Clone, Serialize)]
pub struct LineStatus {
    /// The quota, when LINE is configured and answered.
    pub quota: Option<LineQuota>,
    /// Why the quota could not be read.
    pub quota_error: Option<String>,
    /// Marketing to LINE held back, until when and why.
    pub paused: Option<SendPause>,
    /// Messages held for the next month because the quota was used up.
    pub held: i64,
}

impl Loyalty {
    /// Checks broadcasts against the quota read from `source` (LINE configured).
    pub fn with_line_quota(mut self, source: Arc<dyn QuotaSource>) -> Loyalty {
        self.line_quota = Some(source);
        self
    }

    /// The quota with what taem has queued for LINE; `None` when LINE is not
    /// configured.
    async fn read_line_quota(&self) -> Result<Option<std::result::Result<LineQuota, String>>> {
        let Some(source) = &self.line_quota else {
            return Ok(None);
        };
        let queued = self
            .store
            .outbox_depth()
            .await?
            .into_iter()
            .find(|(app, ..)| app == "line")
            .map_or(0, |(_, n, _)| n.max(0) as u64);
        Ok(Some(source.read_quota().await.map(|(limit, used)| {
            LineQuota {
                limit,
                used,
                queued,
            }
        })))
    }

    /// Refuses a broadcast whose LINE messages would go over what is left of
    /// this month's quota, or when the quota cannot be read (an operator who
    /// means it forces the broadcast). No check without LINE or without LINE
    /// recipients.
    pub(crate) async fn check_line_quota(
        &self,
        campaign_id: i64,
        only: &Option<Vec<i64>>,
    ) -> Result<()> {
        if self.line_quota.is_none() {
            return Ok(());
        }
        let needed = self.store.broadcast_line_size(campaign_id, only).await?;
        if needed == 0 {
            return Ok(());
        }
        match self.read_line_quota().await? {
            None => Ok(()),
            Some(Ok(quota)) => Ok(quota.allows(needed)?),
            Some(Err(e)) => Err(QuotaRefusal::Unknown(e).into()),
        }
    }

    /// LINE's quota, the pause on marketing and the messages held.
    pub async fn line_status(&self, now: DateTime<Utc>) -> Result<LineStatus> {
        let (quota, quota_error) = match self.read_line_quota().await? {
            None => (None, None),
            Some(Ok(q)) => (Some(q), None),
            Some(Err(e)) => (None, Some(e)),
        };
        Ok(LineStatus {
            quota,
            quota_error,
            paused: self.line_pause(now).await?,
            held: self
                .store
                .held_notices(Channel::Line, LINE_MONTHLY_LIMIT)
                .await?,
        })
    }

    /// The pause on LINE marketing now, if the month's quota is used up.
    pub async fn line_pause(&self, now: DateTime<Utc>) -> Result<Option<SendPause>> {
        Ok(self.store.send_pause(Channel::Line, now).await?)
    }

    /// Lifts the pause on LINE marketing (the plan was upgraded, extra
    /// messages bought) and sends the messages held for the next month now;
    /// how many were held.
    pub async fn resume_line(&self, now: DateTime<Utc>) -> Result<u64> {
        Ok(self
            .store
            .resume_sends(Channel::Line, LINE_MONTHLY_LIMIT, now)
            .await?)
    }
}
