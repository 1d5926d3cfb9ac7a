//! Customers' data under Thailand's PDPA, for every front-end: consent to
//! marketing (asked once after joining, recorded each time), a member's whole
//! file for export, erasure, and the retention sweep.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::staff::Actor;
use super::{Loyalty, Result, ServiceError};
use crate::domain::model::{Member, MemberRef};
use crate::domain::privacy::{self, Consent, Erasure, ErasureCost};
use crate::domain::staff::Permission;

/// Members anonymised per step of the retention sweep.
const SWEEP_CHUNK: i64 = 200;

/// An erasure's reason: required from staff, at most this long.
const MAX_REASON_CHARS: usize = 200;

impl Loyalty {
    /// Gives or withdraws consent to marketing, recording through what
    /// (`telegram`, `line`, `staff:<id>`, ...) under the current notice.
    pub async fn set_marketing(
        &self,
        member_id: i64,
        granted: bool,
        via: &str,
        now: DateTime<Utc>,
    ) -> Result<Member> {
        Ok(self
            .store
            .record_consent(member_id, granted, via, now)
            .await?)
    }

    /// Whether to ask the member for marketing consent now: the first time
    /// only (two messages at once ask once).
    pub async fn ask_consent_once(&self, member_id: i64, now: DateTime<Utc>) -> Result<bool> {
        Ok(self.store.ask_consent(member_id, now).await?)
    }

    /// The member's consent log, oldest first.
    pub async fn consents(&self, member_id: i64) -> Result<Vec<Consent>> {
        Ok(self.store.consents(member_id).await?)
    }

    /// Marks the member seen in chat (kept once a day, for retention).
    pub async fn mark_seen(&self, member_id: i64, now: DateTime<Utc>) -> Result<()> {
        Ok(self.store.mark_seen(member_id, now).await?)
    }

    /// Everything taem holds about a member, as a JSON document with what it is
    /// and when it was made.
    pub async fn personal_data(&self, member_id: i64, now: DateTime<Utc>) -> Result<Vec<u8>> {
        let program = self.program().await?;
        let mut file = self.store.member_file(member_id).await?;
        if file["profile"]["erased_at"].is_string() {
            return Err(ServiceError::NotFound("member"));
        }
        file["about"] = json!({
            "what": "everything this loyalty programme holds about you (PDPA s.30-31)",
            "programme": program.name,
            "currency": program.currency.code(),
            "made_at": now.to_rfc3339(),
            "privacy_notice_version": program.privacy.version,
            "amounts": "in minor units of the currency (satang for THB)",
        });
        serde_json::to_vec_pretty(&file)
            .map_err(|e| ServiceError::Store(crate::store::StoreError::Corrupt(e.to_string())))
    }

    /// What a member loses by erasing themselves: their points, unused
    /// vouchers and store credit.
    pub async fn erasure_cost(&self, member: &Member, now: DateTime<Utc>) -> Result<ErasureCost> {
        let vouchers = self.store.vouchers(member.id).await?;
        let unused = vouchers
            .iter()
            .filter(|v| {
                v.status == crate::domain::model::VoucherStatus::Issued && v.expires_at > now
            })
            .count();
        Ok(ErasureCost {
            points: member.balance.value().max(0),
            vouchers: i64::try_from(unused).unwrap_or(i64::MAX),
            credit_minor: member.credit_minor,
        })
    }

    /// Erases a member's personal data (see `store::ops::privacy`), recording
    /// through what in the consent log when they had consented.
    pub async fn erase_member(
        &self,
        member_id: i64,
        via: &str,
        now: DateTime<Utc>,
    ) -> Result<Erasure> {
        let done = self.store.erase_member(member_id, via, now).await?;
        if !done.already {
            // The stub's code only: nothing that names the person.
            tracing::info!(member = %done.stub_code, via, "member erased");
        }
        Ok(done)
    }

    /// A member's file, for the owner (audit-logged).
    pub async fn staff_export(
        &self,
        actor: &Actor,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<u8>> {
        actor.require(Permission::PersonalData)?;
        let member = self.member_by_code(code).await?;
        let file = self.personal_data(member.id, now).await?;
        self.audit::<()>(actor, "member.export", Some(&member.code), None, None, now)
            .await?;
        Ok(file)
    }

    /// Erases a member for the owner, with the reason (audit-logged under the
    /// stub's new code).
    pub async fn staff_erase(
        &self,
        actor: &Actor,
        code: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Erasure> {
        actor.require(Permission::PersonalData)?;
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
            return Err(super::invalid(
                "reason",
                "say why, in at most 200 characters (it is kept in the audit log)",
            ));
        }
        let member = self.member_by_code(code).await?;
        let via = actor.name();
        let done = self.erase_member(member.id, &via, now).await?;
        if !done.already {
            let after = json!({"reason": reason, "erasure": done});
            self.audit(
                actor,
                "member.erase",
                Some(&done.stub_code),
                None,
                Some(&after),
                now,
            )
            .await?;
        }
        Ok(done)
    }

    async fn member_by_code(&self, code: &str) -> Result<Member> {
        let code = crate::domain::MemberCode::parse(code)
            .ok_or_else(|| super::invalid("code", format!("{code:?} is not a member code")))?;
        let member = self.store.member(&MemberRef::Code(code)).await?;
        if member.erased_at.is_some() {
            return Err(ServiceError::NotFound("member"));
        }
        Ok(member)
    }

    /// Anonymises the members with no activity for the programme's retention
    /// period (nothing when it is off) and records the run: the cut-off and
    /// how many it erased.
    pub async fn privacy_sweep(&self, now: DateTime<Utc>) -> Result<Option<(DateTime<Utc>, i64)>> {
        let Some(months) = self.program().await?.privacy.retention_months else {
            return Ok(None);
        };
        let cutoff = privacy::retention_cutoff(now, months);
        let (mut after, mut erased) = (0, 0);
        loop {
            let ids = self
                .store
                .inactive_members(cutoff, after, SWEEP_CHUNK)
                .await?;
            for &id in &ids {
                if !self.erase_member(id, "retention", now).await?.already {
                    erased += 1;
                }
            }
            match ids.last() {
                Some(&last) if ids.len() as i64 == SWEEP_CHUNK => after = last,
                _ => break,
            }
        }
        self.store.add_privacy_sweep(now, cutoff, erased).await?;
        Ok(Some((cutoff, erased)))
    }

    /// The retention sweep's last run: when, its cut-off, how many it erased.
    pub async fn last_privacy_sweep(&self) -> Result<Option<(DateTime<Utc>, DateTime<Utc>, i64)>> {
        Ok(self.store.last_privacy_sweep().await?)
    }
}
