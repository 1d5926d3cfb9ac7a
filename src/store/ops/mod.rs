//! Every store operation, written once over [`Tx`]: read the facts, let the
//! domain decide, write. A backend supplies its [`Tx`] (SQL binding, row
//! reading) and overrides the [`Steps`] whose SQL differs: PostgreSQL fuses a
//! purchase and its credit into one statement, batches with arrays, and takes
//! row locks; SQLite runs one writer, so it needs no locks and its defaults are
//! plain statements.

use std::future::Future;

use chrono::{DateTime, Utc};

use crate::domain::campaign::Campaign;
use crate::domain::model::*;
use crate::domain::notice::{BroadcastRow, Notice, OutboxItem, Outcome};
use crate::store::rows::NewEntry;
use crate::store::sql::Tx;
use crate::store::{Result, StoreError};

pub(crate) mod audience;
pub(crate) mod check;
pub(crate) mod credit;
pub(crate) mod inbox;
pub(crate) mod journeys;
pub(crate) mod ledger;
pub(crate) mod members;
pub(crate) mod outbox;
pub(crate) mod partners;
pub(crate) mod payments;
pub(crate) mod privacy;
pub(crate) mod purchases;
pub(crate) mod report_stats;
pub(crate) mod reports;
pub(crate) mod rewards;
pub(crate) mod rules;
pub(crate) mod segments;
pub(crate) mod spend;
pub(crate) mod staff;

pub(crate) use rules::Context;

/// A purchase row to insert, with the credit it brings its member (when it has
/// one and earned points): `(member_id, points, balance before)`.
pub(crate) struct NewPurchase<'a> {
    pub(crate) cmd: &'a PurchaseCommand,
    pub(crate) member_id: Option<i64>,
    pub(crate) points: i64,
    pub(crate) breakdown: &'a str,
    pub(crate) balance_after: Option<i64>,
    pub(crate) claim: Option<(&'a str, DateTime<Utc>)>,
    pub(crate) referral_points: i64,
    pub(crate) credit: Option<(i64, i64, i64)>,
    /// The buyer's kept spend with this purchase.
    pub(crate) spend: Option<spend::Spend<'a>>,
}

/// What a campaign gave a purchase, booked against its budget.
pub(crate) struct Award {
    pub(crate) purchase_id: i64,
    pub(crate) member_id: Option<i64>,
    pub(crate) campaign_id: i64,
    pub(crate) points: i64,
    pub(crate) at: DateTime<Utc>,
}

/// The steps a backend may do its own way; the defaults are plain statements
/// (what SQLite runs).
pub(crate) trait Steps: Tx + Sized {
    /// Appends an entry and moves the cached balance; (entry id, balance after).
    fn append(
        &mut self,
        e: &NewEntry<'_>,
        before: i64,
    ) -> impl Future<Output = Result<(i64, i64)>> {
        ledger::append(self, e, before)
    }

    /// Appends a debit entry, moves the balance and takes the planned points
    /// out of their lots, recording where they came from; (entry id, balance
    /// after).
    fn debit(
        &mut self,
        e: &NewEntry<'_>,
        before: i64,
        plan: &[crate::domain::ledger::Allocation],
    ) -> impl Future<Output = Result<(i64, i64)>> {
        ledger::debit(self, e, before, plan)
    }

    /// Credits spendable points: a lot, the entry, the balance.
    fn credit(
        &mut self,
        e: NewEntry<'_>,
        before: i64,
        timing: LotTiming,
    ) -> impl Future<Output = Result<(i64, i64)>> {
        ledger::credit(self, e, before, timing)
    }

    /// The buyers of a batch's purchases that exist, by member code, their
    /// rows locked (in id order) when `lock`.
    fn buyers(
        &mut self,
        codes: &[&str],
        lock: bool,
    ) -> impl Future<Output = Result<Vec<crate::domain::purchase::Buyer>>> {
        rules::buyers(self, codes, lock)
    }

    /// Each purchase's buyer history, the settings version and the campaigns
    /// running when it happened (see [`rules::contexts`]).
    fn histories(
        &mut self,
        member_ids: &[Option<i64>],
        cmds: &[&PurchaseCommand],
    ) -> impl Future<Output = Result<Vec<rules::History>>> {
        rules::histories(self, member_ids, cmds)
    }

    /// Locks the rows of budgeted campaigns and reads how much they gave, so
    /// concurrent purchases take from a budget one after the other (nothing to
    /// do where one writer runs everything).
    fn lock_budgets(&mut self, _campaigns: &mut [Campaign]) -> impl Future<Output = Result<()>> {
        std::future::ready(Ok(()))
    }

    /// What each of the campaigns `ids` has given the member so far.
    fn member_use(
        &mut self,
        member_id: i64,
        ids: &[i64],
    ) -> impl Future<Output = Result<Vec<(i64, i64)>>> {
        rules::member_use(self, member_id, ids)
    }

    /// Inserts purchases and their members' credits (the members distinct);
    /// each one's new id, or `None` when its receipt was recorded before
    /// (nothing written for it).
    fn insert_purchases(
        &mut self,
        ps: &[NewPurchase<'_>],
    ) -> impl Future<Output = Result<Vec<Option<i64>>>> {
        purchases::insert_purchases(self, ps)
    }

    /// Runs `sql`, an update of a purchase's row (refunded, claimed), and
    /// moves a member's kept spend with it.
    fn update_purchase(
        &mut self,
        sql: &str,
        args: &[crate::store::sql::Value<'_>],
        spend: Option<&spend::SpendMove<'_>>,
    ) -> impl Future<Output = Result<()>> {
        spend::update_purchase(self, sql, args, spend)
    }

    /// Moves a member to another tier, records the move and tells them.
    fn move_tier(
        &mut self,
        change: &TierChange,
        notice: &Notice,
    ) -> impl Future<Output = Result<()>> {
        rules::record_tier_move(self, change, notice)
    }

    /// Books what campaigns gave purchases against their budgets.
    fn record_awards(&mut self, awards: &[Award]) -> impl Future<Output = Result<()>> {
        rules::record_awards(self, awards)
    }

    /// Queues notices to members a chat app reaches: `(member, notice, at)`.
    fn notify_all(
        &mut self,
        notices: &[(i64, Notice, DateTime<Utc>)],
    ) -> impl Future<Output = Result<()>> {
        outbox::notify_all(self, notices)
    }

    /// Marks lots expiring in `(now, until]` reminded; per member, the points
    /// and the soonest expiry of those marked.
    fn mark_expiring(
        &mut self,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<(i64, i64, DateTime<Utc>)>>> {
        outbox::mark_expiring(self, until, now)
    }

    /// Queues a broadcast's rows (each at most once); how many were new.
    fn queue_broadcast(
        &mut self,
        campaign_id: i64,
        rows: &[BroadcastRow],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<u64>> {
        outbox::queue_broadcast(self, campaign_id, rows, now)
    }

    /// Leases due notices (see `Store::claim_notices`).
    fn claim_notices(
        &mut self,
        claim: &outbox::Claim,
    ) -> impl Future<Output = Result<Vec<OutboxItem>>> {
        outbox::claim_notices(self, claim)
    }

    /// Records what became of delivered notices.
    fn finish_notices(
        &mut self,
        ids: &[i64],
        outcome: &Outcome,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<()>> {
        outbox::finish_notices(self, ids, outcome, now)
    }
}

/// A unique violation becomes "already used"; anything else stays.
pub(crate) fn map_unique(e: StoreError, what: &'static str) -> StoreError {
    if e.is_unique_violation(None) {
        StoreError::IdempotencyConflict(what)
    } else {
        e
    }
}
