//! Use cases: what merchants, staff, administrators and (later) the chat
//! front-ends ask of taem. Each validates its input, applies the domain rules and
//! calls one whole store operation.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::domain::Refusal;
use crate::domain::guess::GuessPolicy;
use crate::domain::model::*;
use crate::domain::staff::NewAudit;
use crate::domain::tier::TierStatus;
use crate::domain::time::lot_expiry;
use crate::domain::{Money, Points, VoucherCode};
use crate::store::{Store, StoreError};

pub mod audiences;
mod back_office;
pub mod campaigns;
pub mod counter;
pub mod journeys;
mod members;
pub mod partners;
pub mod payments;
mod privacy;
mod programme;
mod purchases;
pub mod qr;
pub mod quota;
pub mod reports;
pub mod staff;

pub use members::LINK_MINUTES;
pub use programme::{ProgramChange, RewardInput, TierChangeInput};
pub use purchases::{BasketInput, PurchaseItem, PurchaseRequest, RefundRequest};

/// Claim codes on receipts bought without a member stay valid this long.
pub const CLAIM_DAYS: i64 = 30;

/// What a use case answers when it does not do what was asked. Adapters match
/// these variants: a refusal becomes its own message, not-found a 404 or "no
/// such code", a duplicate a 409; `Store` is the unexpected rest.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request itself is wrong: `field` says where.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// The thing named does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The same idempotency key was used before with a different request.
    #[error("{0} was already used for a different request")]
    Duplicate(&'static str),
    /// A business rule turned the request down; nothing changed.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The staff member's role may not do this; nothing changed.
    #[error("your role may not do this")]
    Forbidden,
    /// A broadcast would go over what is left of LINE's monthly message quota,
    /// or the quota could not be read; nothing was queued (forcing it queues it).
    #[error(transparent)]
    LineQuota(#[from] crate::domain::quota::QuotaRefusal),
    /// Anything else (the database failed, a row is corrupt, ...).
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> ServiceError {
        match e {
            StoreError::NotFound(what) => ServiceError::NotFound(what),
            StoreError::IdempotencyConflict(key) => ServiceError::Duplicate(key),
            StoreError::Refused(r) => ServiceError::Refused(r),
            other => ServiceError::Store(other),
        }
    }
}

pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> ServiceError {
    ServiceError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

/// When points credited at `now` become spendable and expire under `program`.
pub(crate) fn timing(program: &Program, now: DateTime<Utc>, tz: Tz) -> LotTiming {
    LotTiming {
        available_at: now + Duration::days(i64::from(program.pending_days)),
        expires_at: lot_expiry(now, program.expiry_months, tz),
    }
}

pub struct Loyalty {
    store: Arc<dyn Store>,
    /// Where reports and exports read (a replica with `TAEM_REPLICA_URL`, else
    /// the store itself).
    reader: Arc<dyn Store>,
    tz: Tz,
    /// The settings purchases are priced with. Every purchase checks their
    /// version inside its own transaction, so a change made with `taem program
    /// set` (perhaps in another process) applies from the next purchase on.
    program: std::sync::RwLock<Option<Arc<Program>>>,
    /// How wrong claim and link codes are slowed down and refused.
    guess: GuessPolicy,
    /// Where LINE's message quota is read, when LINE is configured.
    line_quota: Option<Arc<dyn quota::QuotaSource>>,
}

impl Loyalty {
    pub fn new(store: Arc<dyn Store>, tz: Tz) -> Loyalty {
        Loyalty {
            reader: store.clone(),
            store,
            tz,
            program: std::sync::RwLock::new(None),
            guess: GuessPolicy::default(),
            line_quota: None,
        }
    }

    pub fn with_guess_policy(mut self, guess: GuessPolicy) -> Loyalty {
        self.guess = guess;
        self
    }

    /// Reports and exports read from `reader` (a PostgreSQL replica).
    pub fn with_reader(mut self, reader: Arc<dyn Store>) -> Loyalty {
        self.reader = reader;
        self
    }

    /// The program settings as they are now.
    pub async fn program(&self) -> Result<Program> {
        Ok(self.store.program().await?)
    }

    /// The settings purchases are priced with: kept until a purchase finds
    /// they changed ([`StoreError::SettingsChanged`]), then read again.
    async fn purchase_settings(&self, stale: bool) -> Result<Arc<Program>> {
        if !stale && let Some(p) = &*self.program.read().expect("not poisoned") {
            return Ok(p.clone());
        }
        let p = Arc::new(self.store.program().await?);
        *self.program.write().expect("not poisoned") = Some(p.clone());
        Ok(p)
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn timezone(&self) -> Tz {
        self.tz
    }

    /// When points credited at `now` become spendable and expire, under the
    /// program's current settings.
    pub async fn lot_timing(&self, now: DateTime<Utc>) -> Result<LotTiming> {
        Ok(timing(&self.program().await?, now, self.tz))
    }

    /// Staff at the counter use a voucher a customer shows them.
    pub async fn use_voucher(
        &self,
        merchant: &Merchant,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<VoucherUse> {
        self.use_voucher_audited(merchant, (code, None), None, now)
            .await
    }

    /// [`Loyalty::use_voucher`], audited in the same transaction.
    pub(crate) async fn use_voucher_audited(
        &self,
        merchant: &Merchant,
        (code, basket): (&str, Option<&BasketInput>),
        audit: Option<NewAudit>,
        now: DateTime<Utc>,
    ) -> Result<VoucherUse> {
        let code = VoucherCode::parse(code).ok_or(StoreError::NotFound("voucher"))?;
        let basket = basket.map(|b| purchases::basket(b, merchant)).transpose()?;
        Ok(self
            .store
            .use_voucher(&code, &merchant.id, &basket, &audit, now)
            .await?)
    }

    /// Staff at the counter (or a till) use a voucher on a bill: the answer
    /// says what to take off, or why it does not apply.
    pub async fn use_voucher_on(
        &self,
        merchant: &Merchant,
        code: &str,
        basket: Option<&BasketInput>,
        now: DateTime<Utc>,
    ) -> Result<VoucherUse> {
        self.use_voucher_audited(merchant, (code, basket), None, now)
            .await
    }

    /// A member spends points on a reward. `request_key` makes a double tap or a
    /// redelivered message return the first voucher instead of a second one.
    pub async fn redeem(
        &self,
        member_id: i64,
        reward_id: i64,
        request_key: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Voucher> {
        self.redeem_audited((member_id, reward_id), request_key, None, now)
            .await
    }

    /// [`Loyalty::redeem`], audited in the same transaction.
    pub(crate) async fn redeem_audited(
        &self,
        (member_id, reward_id): (i64, i64),
        request_key: Option<String>,
        audit: Option<NewAudit>,
        now: DateTime<Utc>,
    ) -> Result<Voucher> {
        let cmd = RedeemCommand {
            member_id,
            reward_id,
            // The chat's answer shows the voucher; a redemption made elsewhere
            // (the CLI) is pushed to the member.
            notify: request_key.is_none(),
            request_key,
            code: VoucherCode::generate(),
            now,
            audit,
        };
        let voucher = self.store.redeem(&cmd).await?;
        // A double tap finds the same voucher, made before now.
        if voucher.issued_at == now {
            crate::metrics::redemption(voucher.points.value());
        }
        Ok(voucher)
    }

    pub async fn cancel_voucher(
        &self,
        member_id: i64,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<Voucher> {
        let code = VoucherCode::parse(code).ok_or(StoreError::NotFound("voucher"))?;
        Ok(self.store.cancel_voucher(member_id, &code, now).await?)
    }

    /// An administrator's correction, with the reason kept in the ledger.
    pub async fn adjust(
        &self,
        member_id: i64,
        delta: i64,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Entry> {
        self.adjust_audited((member_id, delta), reason, None, now)
            .await
    }

    /// [`Loyalty::adjust`], audited in the same transaction.
    pub(crate) async fn adjust_audited(
        &self,
        (member_id, delta): (i64, i64),
        reason: &str,
        audit: Option<NewAudit>,
        now: DateTime<Utc>,
    ) -> Result<Entry> {
        if delta == 0 || Points::positive(delta.abs()).is_none() {
            return Err(invalid(
                "points",
                "must be a non-zero whole number such as +50 or -20",
            ));
        }
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 200 {
            return Err(invalid("reason", "must be 1 to 200 characters"));
        }
        let cmd = AdjustCommand {
            member_id,
            delta: Points::new(delta),
            reason: reason.to_string(),
            timing: self.lot_timing(now).await?,
            now,
            audit,
        };
        Ok(self.store.adjust_points(&cmd).await?)
    }

    pub async fn merchants(&self) -> Result<Vec<Merchant>> {
        Ok(self.store.merchants().await?)
    }

    pub async fn merchant(&self, id: &str) -> Result<Merchant> {
        Ok(self.store.merchant(id).await?)
    }

    /// Whether the database answers (readiness).
    /// The outbox's queued rows per app: how many, and when the oldest was made.
    pub async fn outbox_depth(
        &self,
    ) -> Result<Vec<(String, i64, Option<chrono::DateTime<chrono::Utc>>)>> {
        Ok(self.store.outbox_depth().await?)
    }

    /// Database connections in use and idle (PostgreSQL).
    pub fn connections(&self) -> Option<(u32, u32)> {
        self.store.connections()
    }

    /// The whole ledger read against itself (`taem check`).
    pub async fn check_ledger(&self) -> Result<crate::domain::ledger::LedgerCheck> {
        Ok(self.store.check_ledger().await?)
    }

    /// A consistent copy of a SQLite database in a new file (`taem backup`).
    pub async fn backup(&self, path: &str) -> Result<()> {
        Ok(self.store.backup(path).await?)
    }

    pub async fn ping(&self) -> Result<()> {
        Ok(self.store.ping().await?)
    }

    /// A member's tier, spend and distance to the next tier.
    pub async fn tier_status(&self, member_id: i64, now: DateTime<Utc>) -> Result<TierStatus> {
        let program = self.program().await?;
        let (key, spend) = self
            .store
            .tier_standing(member_id, program.currency.code(), now)
            .await?;
        Ok(TierStatus::new(
            &program.tiers,
            key.as_deref(),
            spend,
            program.currency,
        ))
    }

    /// A member added by staff (or the terminal chat), with a fresh code.
    pub async fn add_member(&self, member: &NewMember, now: DateTime<Utc>) -> Result<Member> {
        if let Some(l) = &member.locale
            && crate::domain::Locale::parse(l).is_none()
        {
            return Err(invalid("locale", format!("{l:?} is not th or en")));
        }
        Ok(self.store.add_member(member, now).await?)
    }

    /// Offers a reward again, or stops offering it.
    pub async fn set_reward_active(&self, id: i64, active: bool) -> Result<Reward> {
        Ok(self.store.set_reward_active(id, active).await?)
    }

    /// Expires lots and vouchers past their expiry now (the sweep `serve` runs).
    pub async fn expire_due(&self, now: DateTime<Utc>) -> Result<ExpirySweep> {
        Ok(self.store.expire_due(now).await?)
    }

    /// A member found by id, code, or chat account.
    pub async fn member(&self, by: &MemberRef) -> Result<Member> {
        Ok(self.store.member(by).await?)
    }

    /// The catalogue: rewards on offer, or every reward with `include_inactive`.
    pub async fn rewards(&self, include_inactive: bool) -> Result<Vec<Reward>> {
        Ok(self.store.rewards(include_inactive).await?)
    }

    pub async fn reward(&self, id: i64) -> Result<Reward> {
        Ok(self.store.reward(id).await?)
    }

    pub async fn voucher(&self, code: &VoucherCode) -> Result<Voucher> {
        Ok(self.store.voucher(code).await?)
    }

    /// A member's vouchers.
    pub async fn vouchers(&self, member_id: i64) -> Result<Vec<Voucher>> {
        Ok(self.store.vouchers(member_id).await?)
    }

    /// A member's newest `limit` ledger entries.
    pub async fn entries(&self, member_id: i64, limit: i64) -> Result<Vec<Entry>> {
        Ok(self.store.entries(member_id, limit).await?)
    }

    /// The periodic tier review (see [`crate::domain::tier`]).
    pub async fn review_tiers(&self, now: DateTime<Utc>) -> Result<Vec<TierChange>> {
        let program = self.store.program().await?;
        Ok(self
            .store
            .review_tiers(&program.tiers, program.currency.code(), now)
            .await?)
    }

    /// Everything about a member's points, for `member show` and the chat.
    pub async fn summary(&self, member: Member, now: DateTime<Utc>) -> Result<MemberSummary> {
        let lots = self.store.lots(member.id).await?;
        let views: Vec<_> = lots
            .iter()
            .map(|l| crate::domain::ledger::LotView {
                id: l.id,
                remaining: l.remaining.value(),
                available_at: l.available_at,
                expires_at: l.expires_at,
            })
            .collect();
        let spendable = crate::domain::ledger::spendable(&views, now);
        let pending = crate::domain::ledger::pending(&views, now);
        let next_expiry = lots
            .iter()
            .filter(|l| l.expires_at > now)
            .min_by_key(|l| l.expires_at)
            .map(|first| NextExpiry {
                expires_at: first.expires_at,
                points: lots
                    .iter()
                    .filter(|l| l.expires_at == first.expires_at)
                    .map(|l| l.remaining)
                    .sum(),
            });
        let vouchers = self.store.vouchers(member.id).await?;
        let entries = self.store.entries(member.id, 20).await?;
        let tier = self.tier_status(member.id, now).await?;
        let program = self.program().await?;
        let credit = Money::from_minor(member.credit_minor, program.currency);
        let pay_value = program.pay.map(|r| r.value(spendable, program.currency));
        let segment = self.store.member_segment(member.id).await?;
        Ok(MemberSummary {
            segment,
            tier,
            credit,
            pay_value,
            spendable,
            pending,
            next_expiry,
            lots,
            vouchers,
            entries,
            member,
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct NextExpiry {
    pub points: Points,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MemberSummary {
    pub member: Member,
    pub tier: TierStatus,
    pub spendable: Points,
    pub pending: Points,
    /// Store credit on the account (from cashback rewards).
    #[serde(serialize_with = "crate::domain::model::serialize_money")]
    pub credit: Money,
    /// Their A/B/C class and RFM segment, when they bought in the last 12 months.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment: Option<crate::domain::segment::MemberSegment>,
    /// What the spendable points pay at the till, when paying with points is on.
    #[serde(skip)]
    pub pay_value: Option<Money>,
    pub next_expiry: Option<NextExpiry>,
    pub lots: Vec<Lot>,
    pub vouchers: Vec<Voucher>,
    pub entries: Vec<Entry>,
}
