//! The shared store: PostgreSQL, for several taem processes on one database.
//!
//! Every operation is one READ COMMITTED transaction from a pool of connections.
//! Operations that move a member's points lock that member's row (`FOR UPDATE`)
//! before they read the balance or the lots, so concurrent operations on the same
//! member run one after the other and see each other's effects. Locks are always
//! taken in the same order, so two operations never wait on each other:
//! purchase row, then member, then voucher, then reward.
//!
//! Idempotency keys are UNIQUE constraints: when two requests with the same key
//! race, the second one's INSERT waits for the first and fails with a unique
//! violation; the operation is then run again, and finds the first one's row.

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgPool, PgPoolOptions};

use super::ops::{Steps, members, outbox, purchases, rewards, rules};
use super::{Result, Store};
use crate::domain::campaign::Campaign;
use crate::domain::earn::Breakdown;
use crate::domain::guess::Failures;
use crate::domain::model::*;
use crate::domain::notice::{BroadcastStatus, OutboxItem, Outcome};
use crate::domain::tier::Tiers;
use crate::domain::{ClaimCode, LinkCode, MemberCode, VoucherCode};
use tx::PgTx;

mod steps;
mod tx;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Names of the UNIQUE constraints that carry idempotency keys (see the migration).
const PURCHASE_KEY: &str = "purchases_receipt_key";
const REFUND_KEY: &str = "refunds_refund_key";
const REDEEM_KEY: &str = "vouchers_request_key";

/// How many times an operation runs when it loses an idempotency race (the last
/// run finds the winner's row, so two would do; the third is a margin).
const ATTEMPTS: usize = 3;

pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects and applies migrations (sqlx serialises concurrent migrators with
    /// an advisory lock, so several processes may start at once).
    pub async fn connect(url: &str) -> Result<PgStore> {
        let pool = PgPoolOptions::new()
            .max_connections(32)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(PgStore { pool })
    }
}

/// Runs `op`, and runs it again if it lost a race on the idempotency key
/// `constraint`: the new run's lookup then finds the row that won.
async fn retry_on_key<T, F, Fut>(constraint: &str, mut op: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut attempt = 1;
    loop {
        match op().await {
            Err(e) if attempt < ATTEMPTS && e.is_unique_violation(Some(("", constraint))) => {
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Runs an operation of `ops` in a transaction of its own, and commits it.
macro_rules! write {
    ($self:expr, |$tx:ident| $op:expr) => {{
        let mut conn = $self.pool.begin().await?;
        let out = {
            let $tx = &mut PgTx(&mut *conn);
            $op.await?
        };
        conn.commit().await?;
        Ok::<_, super::StoreError>(out)
    }};
}

/// Runs a read of `ops` on a pooled connection.
macro_rules! read {
    ($self:expr, |$tx:ident| $op:expr) => {{
        let mut conn = $self.pool.acquire().await?;
        let $tx = &mut PgTx(&mut *conn);
        $op.await
    }};
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> Result<()> {
        read!(self, |tx| members::ping(tx))
    }

    async fn server_key(
        &self,
        name: &str,
        candidate: &Secret,
        now: DateTime<Utc>,
    ) -> Result<Secret> {
        write!(self, |tx| members::server_key(tx, name, candidate, now))
    }

    async fn program(&self) -> Result<Program> {
        read!(self, |tx| members::program(tx))
    }

    async fn set_program(&self, p: &Program) -> Result<()> {
        write!(self, |tx| members::set_program(tx, p))
    }

    async fn add_merchant(&self, m: &Merchant) -> Result<()> {
        write!(self, |tx| members::add_merchant(tx, m))
    }

    async fn merchant(&self, id: &str) -> Result<Merchant> {
        read!(self, |tx| members::merchant(tx, id))
    }

    async fn merchants(&self) -> Result<Vec<Merchant>> {
        read!(self, |tx| members::merchants(tx))
    }

    async fn rotate_merchant_secret(
        &self,
        id: &str,
        secret: &Secret,
        grace_until: DateTime<Utc>,
    ) -> Result<Merchant> {
        write!(self, |tx| members::rotate_merchant_secret(
            tx,
            id,
            secret,
            grace_until
        ))
    }

    async fn add_member(&self, m: &NewMember, now: DateTime<Utc>) -> Result<Member> {
        // Each try in a transaction of its own: a failed INSERT aborts it.
        write!(self, |tx| members::add_member(tx, m, now))
    }

    async fn member(&self, by: &MemberRef) -> Result<Member> {
        read!(self, |tx| members::member(tx, by))
    }

    async fn update_member(&self, member_id: i64, update: &MemberUpdate) -> Result<Member> {
        write!(self, |tx| members::update_member(tx, member_id, update))
    }

    async fn set_reachable(&self, member_id: i64, channel: Channel, reachable: bool) -> Result<()> {
        write!(self, |tx| members::set_reachable(
            tx, member_id, channel, reachable
        ))
    }

    async fn set_referrer(&self, member_id: i64, referrer: &MemberCode) -> Result<bool> {
        write!(self, |tx| members::set_referrer(tx, member_id, referrer))
    }

    async fn first_delivery(
        &self,
        source: &str,
        event_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        write!(self, |tx| members::first_delivery(
            tx, source, event_id, now
        ))
    }

    async fn failures(&self, kind: &str, subjects: &[String]) -> Result<Vec<Failures>> {
        read!(self, |tx| members::failures(tx, kind, subjects))
    }

    async fn record_failure(
        &self,
        kind: &str,
        subjects: &[String],
        now: DateTime<Utc>,
        forget_before: DateTime<Utc>,
    ) -> Result<()> {
        write!(self, |tx| members::record_failure(
            tx,
            kind,
            subjects,
            now,
            forget_before
        ))
    }

    async fn prune(
        &self,
        now: DateTime<Utc>,
        events_before: DateTime<Utc>,
        guesses_before: DateTime<Utc>,
    ) -> Result<Pruned> {
        write!(self, |tx| members::prune(
            tx,
            now,
            events_before,
            guesses_before
        ))
    }

    async fn create_link(
        &self,
        member_id: i64,
        code: &LinkCode,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        write!(self, |tx| members::create_link(
            tx, member_id, code, expires_at
        ))
    }

    async fn use_link(
        &self,
        code: &LinkCode,
        by: &MemberRef,
        now: DateTime<Utc>,
    ) -> Result<Member> {
        write!(self, |tx| members::use_link(tx, code, by, now))
    }

    async fn record_purchase(&self, cmd: &PurchaseCommand) -> Result<Recorded<PurchaseReceipt>> {
        retry_on_key(PURCHASE_KEY, || async {
            write!(self, |tx| purchases::record_purchase(tx, cmd))
        })
        .await
    }

    async fn record_refund(&self, cmd: &RefundCommand) -> Result<Recorded<RefundReceipt>> {
        retry_on_key(REFUND_KEY, || async {
            write!(self, |tx| purchases::record_refund(tx, cmd))
        })
        .await
    }

    async fn claim_receipt(
        &self,
        member_id: i64,
        code: &ClaimCode,
        timing: LotTiming,
        now: DateTime<Utc>,
    ) -> Result<ClaimReceipt> {
        write!(self, |tx| purchases::claim_receipt(
            tx, member_id, code, timing, now
        ))
    }

    async fn price_purchase(&self, cmd: &PurchaseCommand) -> Result<Breakdown> {
        read!(self, |tx| purchases::price_purchase(tx, cmd))
    }

    async fn add_campaign(&self, campaign: &Campaign, now: DateTime<Utc>) -> Result<Campaign> {
        write!(self, |tx| rules::add_campaign(tx, campaign, now))
    }

    async fn campaign(&self, id: i64) -> Result<Campaign> {
        read!(self, |tx| rules::campaign(tx, id))
    }

    async fn campaigns(&self) -> Result<Vec<Campaign>> {
        read!(self, |tx| rules::campaigns(tx))
    }

    async fn end_campaign(&self, id: i64, now: DateTime<Utc>) -> Result<Campaign> {
        write!(self, |tx| rules::end_campaign(tx, id, now))
    }

    async fn campaign_results(&self, id: i64) -> Result<CampaignResults> {
        read!(self, |tx| rules::campaign_results(tx, id))
    }

    async fn tier_standing(
        &self,
        member_id: i64,
        currency: &str,
        now: DateTime<Utc>,
    ) -> Result<(Option<String>, i64)> {
        read!(self, |tx| rules::tier_standing(
            tx, member_id, currency, now
        ))
    }

    async fn review_tiers(
        &self,
        tiers: &Tiers,
        currency: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<TierChange>> {
        let holders = read!(self, |tx| rules::tier_holders(tx, tiers))?;
        let mut moves = Vec::new();
        // One short transaction per member, under their lock.
        for member_id in holders {
            let change: Option<TierChange> = write!(self, |tx| rules::review_member(
                tx, member_id, tiers, currency, now
            ))?;
            moves.extend(change);
        }
        Ok(moves)
    }

    async fn tier_changes(&self, member_id: i64) -> Result<Vec<TierChange>> {
        read!(self, |tx| rules::tier_changes(tx, member_id))
    }

    async fn add_reward(&self, r: &NewReward, now: DateTime<Utc>) -> Result<Reward> {
        write!(self, |tx| rewards::add_reward(tx, r, now))
    }

    async fn reward(&self, id: i64) -> Result<Reward> {
        read!(self, |tx| rewards::reward(tx, id))
    }

    async fn rewards(&self, include_inactive: bool) -> Result<Vec<Reward>> {
        read!(self, |tx| rewards::rewards(tx, include_inactive))
    }

    async fn set_reward_active(&self, id: i64, active: bool) -> Result<Reward> {
        write!(self, |tx| rewards::set_reward_active(tx, id, active))
    }

    async fn redeem(&self, cmd: &RedeemCommand) -> Result<Voucher> {
        retry_on_key(REDEEM_KEY, || async {
            write!(self, |tx| rewards::redeem(tx, cmd))
        })
        .await
    }

    async fn use_voucher(
        &self,
        code: &VoucherCode,
        merchant_id: &str,
        now: DateTime<Utc>,
    ) -> Result<VoucherUse> {
        write!(self, |tx| rewards::use_voucher(tx, code, merchant_id, now))
    }

    async fn cancel_voucher(
        &self,
        member_id: i64,
        code: &VoucherCode,
        now: DateTime<Utc>,
    ) -> Result<Voucher> {
        write!(self, |tx| rewards::cancel_voucher(tx, member_id, code, now))
    }

    async fn voucher(&self, code: &VoucherCode) -> Result<Voucher> {
        read!(self, |tx| rewards::voucher(tx, code))
    }

    async fn adjust_points(&self, cmd: &AdjustCommand) -> Result<Entry> {
        write!(self, |tx| rewards::adjust_points(tx, cmd))
    }

    async fn expire_due(&self, now: DateTime<Utc>) -> Result<ExpirySweep> {
        let mut sweep = ExpirySweep::default();
        // Vouchers first: their points go back to their lots, which may themselves
        // be past expiry and are then expired below. Each voucher and each member
        // is one short transaction that locks the member first, like every other
        // operation; what was picked is checked again under the lock, so another
        // process sweeping at the same time never expires anything twice. The
        // cursors make each pass finish even when rows are skipped.
        let mut after = 0;
        loop {
            let due = read!(self, |tx| rewards::due_vouchers(tx, now, after))?;
            let Some(&(last, _)) = due.last() else { break };
            after = last;
            for v in due {
                let points: Option<i64> = write!(self, |tx| rewards::expire_voucher(tx, v, now))?;
                if let Some(points) = points {
                    sweep.vouchers_expired += 1;
                    sweep.points_released += points;
                }
            }
        }
        let mut after = 0;
        loop {
            let due = read!(self, |tx| rewards::due_members(tx, now, after))?;
            let Some(&last) = due.last() else { break };
            after = last;
            for member_id in due {
                let (lots, points): (u64, i64) =
                    write!(self, |tx| rewards::expire_member(tx, member_id, now))?;
                sweep.lots_expired += lots;
                sweep.points_expired += points;
            }
        }
        Ok(sweep)
    }

    async fn remind_expiring(&self, until: DateTime<Utc>, now: DateTime<Utc>) -> Result<u64> {
        write!(self, |tx| outbox::remind_expiring(tx, until, now))
    }

    async fn enqueue_broadcast(&self, campaign_id: i64, now: DateTime<Utc>) -> Result<u64> {
        write!(self, |tx| outbox::enqueue_broadcast(tx, campaign_id, now))
    }

    async fn broadcast_status(&self, campaign_id: i64) -> Result<BroadcastStatus> {
        read!(self, |tx| outbox::broadcast_status(tx, campaign_id))
    }

    async fn claim_notices(
        &self,
        channel: Channel,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
        batches: i64,
        marketing: bool,
    ) -> Result<Vec<OutboxItem>> {
        let claim = outbox::Claim {
            channel,
            now,
            lease_until,
            limit,
            batches,
            marketing,
        };
        write!(self, |tx| tx.claim_notices(&claim))
    }

    async fn finish_notices(
        &self,
        ids: &[i64],
        outcome: &Outcome,
        now: DateTime<Utc>,
    ) -> Result<()> {
        write!(self, |tx| tx.finish_notices(ids, outcome, now))
    }

    async fn notices(&self, member_id: i64) -> Result<Vec<(String, String, String)>> {
        read!(self, |tx| outbox::notices(tx, member_id))
    }

    async fn lots(&self, member_id: i64) -> Result<Vec<Lot>> {
        read!(self, |tx| members::lots(tx, member_id))
    }

    async fn vouchers(&self, member_id: i64) -> Result<Vec<Voucher>> {
        read!(self, |tx| rewards::vouchers(tx, member_id))
    }

    async fn entries(&self, member_id: i64, limit: i64) -> Result<Vec<Entry>> {
        read!(self, |tx| members::entries(tx, member_id, limit))
    }

    async fn audit(&self) -> Result<Vec<LedgerAudit>> {
        read!(self, |tx| members::audit(tx))
    }
}
