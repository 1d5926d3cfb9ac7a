//! The embedded store: SQLite in WAL mode, through rusqlite.
//!
//! All writes in this process go through one connection, owned by one thread
//! (`writer`): an async caller hands it a whole operation and awaits the answer,
//! so an operation costs two thread hand-offs however many statements it runs.
//! Operations that arrive together share one transaction, each in a savepoint of
//! its own (group commit). Transactions open with `BEGIN IMMEDIATE`, so that
//! another process (the CLI while `taem serve` runs) waits on the busy timeout
//! instead of failing half-way. Reads that are not part of an operation use a few
//! read-only connections on tokio's blocking threads, which WAL lets run
//! alongside the writer.
//!
//! Timestamps are stored as text, `2026-11-22T23:22:30.141Z` (see [`value::Ts`]).

mod checkpoint;
mod migrate;
mod readers;
mod tx;
mod value;
mod writer;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags};

use super::ops::{Steps, members, outbox, purchases, rewards, rules};
use super::sql::run_now;
use super::{Result, Store, StoreError};
use crate::domain::campaign::Campaign;
use crate::domain::earn::Breakdown;
use crate::domain::guess::Failures;
use crate::domain::model::*;
use crate::domain::notice::{BroadcastStatus, OutboxItem, Outcome};
use crate::domain::tier::Tiers;
use crate::domain::{ClaimCode, LinkCode, MemberCode, VoucherCode};
use readers::Readers;
use tx::SqliteTx;
pub use value::SqliteError;
pub(crate) use value::parse_ts;
use writer::Writer;

/// How long a connection waits for another process's write lock, in seconds.
const BUSY_TIMEOUT: u64 = 10;
/// Prepared statements kept per connection (more than the store has).
const STATEMENT_CACHE: usize = 128;

pub struct SqliteStore {
    /// `None` for an in-memory database, which only the writer's connection sees.
    readers: Option<Arc<Readers>>,
    /// Dropped after the readers: the last read-write connection to close
    /// checkpoints the log and removes it.
    writer: Writer,
    path: PathBuf,
}

/// Where a `DATABASE_URL` points.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Location {
    File(PathBuf),
    /// A private in-memory database (`sqlite::memory:`).
    Memory,
}

/// Turns `sqlite://taem.db`, `sqlite:///abs/taem.db`, `sqlite:taem.db?mode=rwc`,
/// `sqlite::memory:` or a plain path into a location. Query parameters are
/// accepted and ignored, except `mode=memory`: the file is always created if
/// missing.
fn location(url: &str) -> Result<Location> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let memory_mode = query.split('&').any(|kv| kv == "mode=memory");
    if path == ":memory:" || memory_mode {
        return Ok(Location::Memory);
    }
    if path.is_empty() {
        return Err(
            SqliteError::other(format!("DATABASE_URL {url:?} names no SQLite file")).into(),
        );
    }
    Ok(Location::File(PathBuf::from(percent_decode(path))))
}

/// Decodes `%20`-style escapes in a URL path (left as is when malformed).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_string())
}

/// Opens and sets up the read-write connection, and migrates the schema.
fn open_writer(location: &Location) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = match location {
        Location::File(path) => Connection::open_with_flags(path, flags)?,
        Location::Memory => Connection::open_in_memory()?,
    };
    conn.busy_timeout(Duration::from_secs(BUSY_TIMEOUT))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    if let Location::File(_) = location {
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(SqliteError::other(format!(
                "SQLite would not use WAL mode (journal_mode is {mode})"
            ))
            .into());
        }
    }
    // WAL + NORMAL: a power cut may lose the last commits but never corrupts;
    // a process crash loses nothing.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    migrate::run(&mut conn)?;
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating it if missing) and migrates the database a URL names.
    pub async fn connect(url: &str) -> Result<SqliteStore> {
        static STORES: AtomicU64 = AtomicU64::new(0);
        let location = location(url)?;
        let n = STORES.fetch_add(1, Ordering::Relaxed);
        let at = location.clone();
        let writer = Writer::start(&format!("taem-sqlite-{n}"), move || open_writer(&at)).await?;
        let (readers, path) = match location {
            Location::File(path) => (Some(Readers::new(path.clone())), path),
            Location::Memory => (None, PathBuf::from(":memory:")),
        };
        Ok(SqliteStore {
            readers,
            writer,
            path,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs a read on a reader connection (on the writer for an in-memory database).
    async fn read<T, F>(&self, read: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        match &self.readers {
            Some(readers) => readers.run(read).await,
            None => self.writer.run(read).await,
        }
    }
}

/// Holds an exclusive lock on `<database>.serve.lock` while `taem serve` runs, so a
/// second server on the same file stops with a clear message. CLI commands do not
/// take it: SQLite's own locking keeps their short transactions safe.
pub fn serve_guard(url: &str) -> Result<File> {
    let path = match location(url)? {
        Location::File(path) => path,
        // Nobody else can open this process's in-memory database: nothing to guard.
        Location::Memory => {
            return File::open(if cfg!(windows) { "NUL" } else { "/dev/null" })
                .map_err(|e| StoreError::Locked(format!("cannot open the null device: {e}")));
        }
    };
    let mut lock_path = path.clone().into_os_string();
    lock_path.push(".serve.lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| StoreError::Locked(format!("cannot open {lock_path:?}: {e}")))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(_) => Err(StoreError::Locked(format!(
            "another `taem serve` is already running on {} (lock file {:?}); stop it first \
             or point DATABASE_URL at another database",
            path.display(),
            lock_path
        ))),
    }
}

/// Runs an operation of `ops` on the writer thread, inside its transaction.
macro_rules! write {
    ($self:ident, |$tx:ident| $op:expr) => {
        $self
            .writer
            .run(move |conn| {
                run_now(async {
                    let $tx = &mut SqliteTx(conn);
                    $op.await
                })
            })
            .await
    };
}

/// Runs a read of `ops` on a reader connection.
macro_rules! read {
    ($self:ident, |$tx:ident| $op:expr) => {
        $self
            .read(move |conn| {
                run_now(async {
                    let $tx = &mut SqliteTx(conn);
                    $op.await
                })
            })
            .await
    };
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
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
        let (name, candidate) = (name.to_string(), candidate.clone());
        write!(self, |tx| members::server_key(tx, &name, &candidate, now))
    }

    async fn program(&self) -> Result<Program> {
        read!(self, |tx| members::program(tx))
    }

    async fn set_program(&self, p: &Program) -> Result<()> {
        let p = p.clone();
        write!(self, |tx| members::set_program(tx, &p))
    }

    async fn add_merchant(&self, m: &Merchant) -> Result<()> {
        let m = m.clone();
        write!(self, |tx| members::add_merchant(tx, &m))
    }

    async fn merchant(&self, id: &str) -> Result<Merchant> {
        let id = id.to_string();
        read!(self, |tx| members::merchant(tx, &id))
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
        let (id, secret) = (id.to_string(), secret.clone());
        write!(self, |tx| members::rotate_merchant_secret(
            tx,
            &id,
            &secret,
            grace_until
        ))
    }

    async fn add_member(&self, m: &NewMember, now: DateTime<Utc>) -> Result<Member> {
        let m = m.clone();
        write!(self, |tx| members::add_member(tx, &m, now))
    }

    async fn member(&self, by: &MemberRef) -> Result<Member> {
        let by = by.clone();
        read!(self, |tx| members::member(tx, &by))
    }

    async fn update_member(&self, member_id: i64, update: &MemberUpdate) -> Result<Member> {
        let update = update.clone();
        write!(self, |tx| members::update_member(tx, member_id, &update))
    }

    async fn set_reachable(&self, member_id: i64, channel: Channel, reachable: bool) -> Result<()> {
        write!(self, |tx| members::set_reachable(
            tx, member_id, channel, reachable
        ))
    }

    async fn set_referrer(&self, member_id: i64, referrer: &MemberCode) -> Result<bool> {
        let referrer = referrer.clone();
        write!(self, |tx| members::set_referrer(tx, member_id, &referrer))
    }

    async fn first_delivery(
        &self,
        source: &str,
        event_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let (source, event_id) = (source.to_string(), event_id.to_string());
        write!(self, |tx| members::first_delivery(
            tx, &source, &event_id, now
        ))
    }

    async fn failures(&self, kind: &str, subjects: &[String]) -> Result<Vec<Failures>> {
        let (kind, subjects) = (kind.to_string(), subjects.to_vec());
        read!(self, |tx| members::failures(tx, &kind, &subjects))
    }

    async fn record_failure(
        &self,
        kind: &str,
        subjects: &[String],
        now: DateTime<Utc>,
        forget_before: DateTime<Utc>,
    ) -> Result<()> {
        let (kind, subjects) = (kind.to_string(), subjects.to_vec());
        write!(self, |tx| members::record_failure(
            tx,
            &kind,
            &subjects,
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
        let code = code.clone();
        write!(self, |tx| members::create_link(
            tx, member_id, &code, expires_at
        ))
    }

    async fn use_link(
        &self,
        code: &LinkCode,
        by: &MemberRef,
        now: DateTime<Utc>,
    ) -> Result<Member> {
        let (code, by) = (code.clone(), by.clone());
        write!(self, |tx| members::use_link(tx, &code, &by, now))
    }

    async fn record_purchase(&self, cmd: &PurchaseCommand) -> Result<Recorded<PurchaseReceipt>> {
        let cmd = cmd.clone();
        write!(self, |tx| purchases::record_purchase(tx, &cmd))
    }

    async fn record_refund(&self, cmd: &RefundCommand) -> Result<Recorded<RefundReceipt>> {
        let cmd = cmd.clone();
        write!(self, |tx| purchases::record_refund(tx, &cmd))
    }

    async fn claim_receipt(
        &self,
        member_id: i64,
        code: &ClaimCode,
        timing: LotTiming,
        now: DateTime<Utc>,
    ) -> Result<ClaimReceipt> {
        let code = code.clone();
        write!(self, |tx| purchases::claim_receipt(
            tx, member_id, &code, timing, now
        ))
    }

    async fn price_purchase(&self, cmd: &PurchaseCommand) -> Result<Breakdown> {
        let cmd = cmd.clone();
        read!(self, |tx| purchases::price_purchase(tx, &cmd))
    }

    async fn add_campaign(&self, campaign: &Campaign, now: DateTime<Utc>) -> Result<Campaign> {
        let campaign = campaign.clone();
        write!(self, |tx| rules::add_campaign(tx, &campaign, now))
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
        let currency = currency.to_string();
        read!(self, |tx| rules::tier_standing(
            tx, member_id, &currency, now
        ))
    }

    async fn review_tiers(
        &self,
        tiers: &Tiers,
        currency: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<TierChange>> {
        let (tiers, currency) = (tiers.clone(), currency.to_string());
        write!(self, |tx| rules::review_tiers(tx, &tiers, &currency, now))
    }

    async fn tier_changes(&self, member_id: i64) -> Result<Vec<TierChange>> {
        read!(self, |tx| rules::tier_changes(tx, member_id))
    }

    async fn add_reward(&self, r: &NewReward, now: DateTime<Utc>) -> Result<Reward> {
        let r = r.clone();
        write!(self, |tx| rewards::add_reward(tx, &r, now))
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
        let cmd = cmd.clone();
        write!(self, |tx| rewards::redeem(tx, &cmd))
    }

    async fn use_voucher(
        &self,
        code: &VoucherCode,
        merchant_id: &str,
        now: DateTime<Utc>,
    ) -> Result<VoucherUse> {
        let (code, merchant_id) = (code.clone(), merchant_id.to_string());
        write!(self, |tx| rewards::use_voucher(
            tx,
            &code,
            &merchant_id,
            now
        ))
    }

    async fn cancel_voucher(
        &self,
        member_id: i64,
        code: &VoucherCode,
        now: DateTime<Utc>,
    ) -> Result<Voucher> {
        let code = code.clone();
        write!(self, |tx| rewards::cancel_voucher(
            tx, member_id, &code, now
        ))
    }

    async fn voucher(&self, code: &VoucherCode) -> Result<Voucher> {
        let code = code.clone();
        read!(self, |tx| rewards::voucher(tx, &code))
    }

    async fn adjust_points(&self, cmd: &AdjustCommand) -> Result<Entry> {
        let cmd = cmd.clone();
        write!(self, |tx| rewards::adjust_points(tx, &cmd))
    }

    async fn expire_due(&self, now: DateTime<Utc>) -> Result<ExpirySweep> {
        // In steps, each an operation of its own, so purchases go on in between.
        let (mut cursor, mut sweep) = (Some((false, 0)), ExpirySweep::default());
        while let Some(at) = cursor {
            let (next, step) = write!(self, |tx| async {
                let mut step = ExpirySweep::default();
                let next = rewards::expire_step(tx, now, at, &mut step).await?;
                Ok((next, step))
            })?;
            sweep.vouchers_expired += step.vouchers_expired;
            sweep.points_released += step.points_released;
            sweep.lots_expired += step.lots_expired;
            sweep.points_expired += step.points_expired;
            cursor = next;
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
        let (ids, outcome) = (ids.to_vec(), outcome.clone());
        write!(self, |tx| tx.finish_notices(&ids, &outcome, now))
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

impl Steps for SqliteTx<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn closing_the_store_checkpoints_and_removes_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("taem.db");
        let store = SqliteStore::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        let m = store
            .add_member(&NewMember::default(), crate::domain::time::now())
            .await
            .unwrap();
        assert_eq!(store.member(&MemberRef::Id(m.id)).await.unwrap(), m);
        assert!(dir.path().join("taem.db-wal").exists());
        drop(store);
        assert!(!dir.path().join("taem.db-wal").exists());
        let store = SqliteStore::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        assert_eq!(store.member(&MemberRef::Id(m.id)).await.unwrap(), m);
    }

    #[tokio::test]
    async fn two_stores_opening_a_new_database_at_once_migrate_it_once() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("new.db").display());
        let (a, b) = tokio::join!(SqliteStore::connect(&url), SqliteStore::connect(&url));
        let (a, b) = (a.unwrap(), b.unwrap());
        let m = a
            .add_member(&NewMember::default(), crate::domain::time::now())
            .await
            .unwrap();
        assert_eq!(b.member(&MemberRef::Id(m.id)).await.unwrap(), m);
        let applied: i64 = a
            .writer
            .run(|c| Ok(c.query_row("SELECT COUNT(*) FROM taem_migrations", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(applied, migrate::MIGRATIONS.len() as i64);
    }

    #[test]
    fn urls_name_files_or_memory() {
        let at = |url: &str| location(url).unwrap();
        let file = |p: &str| Location::File(PathBuf::from(p));
        assert_eq!(at("sqlite://taem.db"), file("taem.db"));
        assert_eq!(at("sqlite:///tmp/x/taem.db"), file("/tmp/x/taem.db"));
        assert_eq!(at("sqlite:taem.db?mode=rwc"), file("taem.db"));
        assert_eq!(at("sqlite://my%20shop.db"), file("my shop.db"));
        assert_eq!(at("sqlite://100%"), file("100%"));
        assert_eq!(at("data/taem.db"), file("data/taem.db"));
        assert_eq!(at("sqlite::memory:"), Location::Memory);
        assert_eq!(at("sqlite://:memory:"), Location::Memory);
        assert_eq!(at("sqlite://x?mode=memory"), Location::Memory);
        assert!(location("sqlite://").is_err());
    }
}
