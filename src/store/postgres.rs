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

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgPool, PgPoolOptions};

use super::{Result, StoreError, ops};
use crate::domain::campaign::Campaign;
use crate::domain::earn::Breakdown;
use crate::domain::guess::Failures;
use crate::domain::model::*;
use crate::domain::notice::{BroadcastStatus, OutboxItem, Outcome};
use crate::domain::staff::{
    AuditEntry, AuditFilter, LinkPurpose, NewAudit, NewStaff, Staff, StaffChange,
};
use crate::domain::tier::Tiers;
use crate::domain::{ClaimCode, LinkCode, MemberCode, VoucherCode};
use tx::PgTx;

/// Runs `$once` (a future of a whole operation) until it does not lose an
/// idempotency race (see [`lost_race`]), at most [`ATTEMPTS`] times.
macro_rules! until_won {
    ($once:expr) => {{
        let mut attempt = 1;
        loop {
            match $once.await {
                Err(e) if attempt < ATTEMPTS && lost_race(&e) => attempt += 1,
                other => break other,
            }
        }
    }};
}

mod group;
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
    purchases: group::Purchases,
}

impl PgStore {
    /// Connects and applies migrations (sqlx serialises concurrent migrators with
    /// an advisory lock, so several processes may start at once).
    pub async fn connect(url: &str) -> Result<PgStore> {
        let pool = pool_options(32).connect(url).await?;
        MIGRATOR.run(&pool).await?;
        Ok(PgStore::on(pool))
    }
}

impl PgStore {
    /// Connects to a replica for reading: never migrates, and every transaction
    /// is read-only. Its schema must be the one this taem knows (a replica
    /// behind a migration is refused until it catches up).
    pub async fn connect_replica(url: &str) -> Result<PgStore> {
        let pool = pool_options(8)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::query("SET default_transaction_read_only = on")
                        .execute(conn)
                        .await?;
                    Ok(())
                })
            })
            .connect(url)
            .await?;
        let (at,): (Option<i64>,) =
            sqlx::query_as("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&pool)
                .await?;
        let latest = MIGRATOR.iter().map(|m| m.version).max();
        if at != latest {
            return Err(StoreError::Corrupt(format!(
                "the replica's schema is at version {}, this taem's at {}: wait until the \
                 replica has the primary's migrations",
                at.unwrap_or(0),
                latest.unwrap_or(0)
            )));
        }
        Ok(PgStore::on(pool))
    }

    fn on(pool: PgPool) -> PgStore {
        PgStore {
            purchases: group::Purchases::start(&pool),
            pool,
        }
    }
}

/// A connection that sat idle this long is pinged before it is used again.
const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// Options of every pool of the store. sqlx pings a connection each time it
/// is taken from the pool, a round trip before every operation; these ping
/// only one that sat idle ([`PING_AFTER_IDLE`]), as after a quiet spell, when
/// the server may have gone away. One that fails is dropped and another
/// taken, as with sqlx's own test.
fn pool_options(max_connections: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_AFTER_IDLE {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
}

/// Whether `e` is a unique violation of an idempotency key: the operation lost
/// a race with the same request, and running it again finds the winner's row.
fn lost_race(e: &StoreError) -> bool {
    [PURCHASE_KEY, REFUND_KEY, REDEEM_KEY]
        .iter()
        .any(|key| e.is_unique_violation(Some(("", key))))
}

/// Runs an operation of `ops` in a transaction of its own and commits it; runs
/// it again if it lost an idempotency race (see [`lost_race`]).
macro_rules! write_op {
    ($self:ident, [$($own:ident),*], |$tx:ident| $op:expr) => {{
        until_won!(async {
            let mut conn = $self.pool.begin().await?;
            let out = {
                let $tx = &mut PgTx(&mut *conn);
                $op.await?
            };
            conn.commit().await?;
            Ok::<_, StoreError>(out)
        })
    }};
}

/// Runs a purchase: with those waiting beside it, in one transaction (see
/// [`group`]); the one argument named is the command.
macro_rules! grouped_op {
    ($self:ident, [$own:ident], |$tx:ident| $op:expr) => {{ $self.purchases.record($own.clone()).await }};
}

/// Runs a read of `ops` on a pooled connection.
macro_rules! read_op {
    ($self:ident, [$($own:ident),*], |$tx:ident| $op:expr) => {{
        let mut conn = $self.pool.acquire().await?;
        let $tx = &mut PgTx(&mut *conn);
        $op.await
    }};
}

with_operations!(implement_store! {
    PgStore;
    fn backend(&self) -> &'static str {
        "postgres"
    }
    fn connections(&self) -> Option<(u32, u32)> {
        let (size, idle) = (self.pool.size(), self.pool.num_idle() as u32);
        Some((size.saturating_sub(idle), idle))
    }
});
