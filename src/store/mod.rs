//! Storage. The [`Store`] trait's methods are whole operations, each one database
//! transaction; the SQLite and PostgreSQL implementations keep their own SQL and
//! migrations (`migrations/sqlite`, `migrations/postgres`).

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::campaign::Campaign;
use crate::domain::earn::Breakdown;
use crate::domain::guess::Failures;
use crate::domain::model::*;
use crate::domain::notice::{BroadcastStatus, OutboxItem, Outcome};
use crate::domain::tier::Tiers;
use crate::domain::{ClaimCode, LinkCode, MemberCode, Refusal, VoucherCode};

mod ops;
pub mod postgres;
mod rows;
pub(crate) mod sql;
pub mod sqlite;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The thing named does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The same idempotency key was used before with a different request.
    #[error("{0} was already used for a different request")]
    IdempotencyConflict(&'static str),
    /// A business rule turned the request down; nothing changed.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The program settings changed after the caller read them (`taem program
    /// set` in another process); nothing was written: read them again and retry.
    #[error("the program settings changed")]
    SettingsChanged,
    /// Another `taem serve` holds the database.
    #[error("{0}")]
    Locked(String),
    /// SQLite (or rusqlite) failed: its message and extended result code.
    #[error("SQLite error: {0}")]
    Sqlite(#[from] sqlite::SqliteError),
    /// PostgreSQL (or its driver, sqlx) failed.
    #[error("PostgreSQL error: {0}")]
    Postgres(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A row that breaks taem's own rules (a bug or a hand-edited database).
    #[error("corrupt data: {0}")]
    Corrupt(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    /// Whether a UNIQUE constraint refused a row; with `key`, only that one, named
    /// as SQLite names it (`table.column`) and as PostgreSQL does (the constraint).
    pub(crate) fn is_unique_violation(&self, key: Option<(&str, &str)>) -> bool {
        match self {
            StoreError::Sqlite(e) => match key {
                None => e.is_unique_violation(),
                Some((column, _)) => e.is_unique_violation_on(column),
            },
            StoreError::Postgres(sqlx::Error::Database(d)) => {
                d.is_unique_violation()
                    && key.is_none_or(|(_, constraint)| d.constraint() == Some(constraint))
            }
            _ => false,
        }
    }
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `"sqlite"` or `"postgres"`.
    fn backend(&self) -> &'static str;
    /// Checks the database answers (readiness).
    async fn ping(&self) -> Result<()>;
    /// A secret taem keeps for itself under `name`: the stored one, or
    /// `candidate`, stored now, when there is none yet (the first instance to
    /// ask wins; every instance then uses the same).
    async fn server_key(
        &self,
        name: &str,
        candidate: &Secret,
        now: DateTime<Utc>,
    ) -> Result<Secret>;

    async fn program(&self) -> Result<Program>;
    /// Saves the settings, tiers included (members keep their tier key; one no
    /// longer in the table reads as the lowest tier).
    async fn set_program(&self, program: &Program) -> Result<()>;

    async fn add_merchant(&self, merchant: &Merchant) -> Result<()>;
    async fn merchant(&self, id: &str) -> Result<Merchant>;
    async fn merchants(&self) -> Result<Vec<Merchant>>;
    /// Gives a merchant a new webhook secret; the old one is still accepted
    /// until `grace_until`.
    async fn rotate_merchant_secret(
        &self,
        id: &str,
        secret: &Secret,
        grace_until: DateTime<Utc>,
    ) -> Result<Merchant>;

    /// Creates a member with a fresh member code.
    async fn add_member(&self, member: &NewMember, now: DateTime<Utc>) -> Result<Member>;
    async fn member(&self, by: &MemberRef) -> Result<Member>;
    /// A member's own settings: language, marketing consent.
    async fn update_member(&self, member_id: i64, update: &MemberUpdate) -> Result<Member>;
    /// Records whether messages reach the member on a platform (blocked the bot,
    /// unfollowed, came back).
    async fn set_reachable(&self, member_id: i64, channel: Channel, reachable: bool) -> Result<()>;
    /// Records who invited a member: only once, only before their first
    /// purchase, never themselves and never anyone they (directly or through
    /// others) invited. Returns whether it was recorded.
    async fn set_referrer(&self, member_id: i64, referrer: &MemberCode) -> Result<bool>;
    /// Records an inbound event id (e.g. LINE's `webhookEventId`); `false` when
    /// it was seen before, so a redelivered event is not acted on twice.
    async fn first_delivery(
        &self,
        source: &str,
        event_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool>;
    /// What is remembered of wrong tries of `kind` (`"claim"`, `"link"`) by
    /// each of `subjects` (a member, a chat identity); subjects without any are
    /// left out.
    async fn failures(&self, kind: &str, subjects: &[String]) -> Result<Vec<Failures>>;
    /// Counts a wrong try against each subject; failures last made before
    /// `forget_before` are forgotten first.
    async fn record_failure(
        &self,
        kind: &str,
        subjects: &[String],
        now: DateTime<Utc>,
        forget_before: DateTime<Utc>,
    ) -> Result<()>;
    /// Deletes what is kept only for a while: used and expired link codes,
    /// inbound event ids received before `events_before`, wrong tries last made
    /// before `guesses_before`.
    async fn prune(
        &self,
        now: DateTime<Utc>,
        events_before: DateTime<Utc>,
        guesses_before: DateTime<Utc>,
    ) -> Result<Pruned>;
    /// Stores a one-time code that links another app's account to `member_id`;
    /// the member's earlier unused code stops working.
    async fn create_link(
        &self,
        member_id: i64,
        code: &LinkCode,
        expires_at: DateTime<Utc>,
    ) -> Result<()>;
    /// Uses a link code: the platform account `by` (a `Telegram` or `Line`
    /// reference) becomes the code's member's. The account's own member, if it has
    /// no history, is removed; one with history is refused.
    async fn use_link(&self, code: &LinkCode, by: &MemberRef, now: DateTime<Utc>)
    -> Result<Member>;

    /// Records a purchase and credits its points, or replays the stored answer
    /// for a receipt seen before with the same fingerprint.
    async fn record_purchase(&self, cmd: &PurchaseCommand) -> Result<Recorded<PurchaseReceipt>>;
    /// Records a refund and claws back points in proportion to the refunded amount.
    async fn record_refund(&self, cmd: &RefundCommand) -> Result<Recorded<RefundReceipt>>;
    /// Gives a member the points of a purchase made without one.
    async fn claim_receipt(
        &self,
        member_id: i64,
        code: &ClaimCode,
        timing: LotTiming,
        now: DateTime<Utc>,
    ) -> Result<ClaimReceipt>;

    /// Prices a purchase exactly as `record_purchase` would, without recording it.
    async fn price_purchase(&self, cmd: &PurchaseCommand) -> Result<Breakdown>;

    /// Adds a campaign; the store assigns its id and starts `awarded` at zero.
    async fn add_campaign(&self, campaign: &Campaign, now: DateTime<Utc>) -> Result<Campaign>;
    async fn campaign(&self, id: i64) -> Result<Campaign>;
    /// Every campaign, newest first.
    async fn campaigns(&self) -> Result<Vec<Campaign>>;
    /// Ends a campaign now (purchases that happened before still get its points).
    async fn end_campaign(&self, id: i64, now: DateTime<Utc>) -> Result<Campaign>;
    async fn campaign_results(&self, id: i64) -> Result<CampaignResults>;

    /// A member's tier key (`None`: the lowest) and their spend in the program
    /// currency over the rolling window ending at `now`.
    async fn tier_standing(
        &self,
        member_id: i64,
        currency: &str,
        now: DateTime<Utc>,
    ) -> Result<(Option<String>, i64)>;
    /// The periodic review: members who held their tier long enough and whose
    /// spend no longer reaches it move down. Returns the moves made.
    async fn review_tiers(
        &self,
        tiers: &Tiers,
        currency: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<TierChange>>;
    /// A member's tier moves, newest first.
    async fn tier_changes(&self, member_id: i64) -> Result<Vec<TierChange>>;

    async fn add_reward(&self, reward: &NewReward, now: DateTime<Utc>) -> Result<Reward>;
    async fn reward(&self, id: i64) -> Result<Reward>;
    async fn rewards(&self, include_inactive: bool) -> Result<Vec<Reward>>;
    async fn set_reward_active(&self, id: i64, active: bool) -> Result<Reward>;

    /// Spends points on a reward and issues a voucher, atomically. The same
    /// `request_key` for the same member returns the voucher issued the first time.
    async fn redeem(&self, cmd: &RedeemCommand) -> Result<Voucher>;
    /// Marks a voucher used at the counter.
    async fn use_voucher(
        &self,
        code: &VoucherCode,
        merchant_id: &str,
        now: DateTime<Utc>,
    ) -> Result<VoucherUse>;
    /// A member gives a voucher back and gets its points back.
    async fn cancel_voucher(
        &self,
        member_id: i64,
        code: &VoucherCode,
        now: DateTime<Utc>,
    ) -> Result<Voucher>;
    async fn voucher(&self, code: &VoucherCode) -> Result<Voucher>;

    /// A manual correction: credits make a new lot, debits spend soonest-expiring first.
    async fn adjust_points(&self, cmd: &AdjustCommand) -> Result<Entry>;
    /// Expires lots past their expiry and vouchers past theirs (giving those points back).
    async fn expire_due(&self, now: DateTime<Utc>) -> Result<ExpirySweep>;

    /// Queues a reminder for each member whose points expire before `until`:
    /// one per member for all such lots not reminded yet. Returns reminders queued.
    async fn remind_expiring(&self, until: DateTime<Utc>, now: DateTime<Utc>) -> Result<u64>;
    /// Queues a campaign's announcement for every opted-in member on each
    /// channel that reaches them; a member already queued is not queued again.
    /// Returns the rows queued.
    async fn enqueue_broadcast(&self, campaign_id: i64, now: DateTime<Utc>) -> Result<u64>;
    async fn broadcast_status(&self, campaign_id: i64) -> Result<BroadcastStatus>;
    /// Takes due notices to `channel` for delivery until `lease_until` (another
    /// worker may take them after that): up to `limit` single ones, and up to
    /// `batches` LINE multicast chunks whole. Marketing only when `marketing` is
    /// true (outside quiet hours). On PostgreSQL, workers skip rows others hold.
    async fn claim_notices(
        &self,
        channel: Channel,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
        batches: i64,
        marketing: bool,
    ) -> Result<Vec<OutboxItem>>;
    /// Records what became of delivered notices.
    async fn finish_notices(
        &self,
        ids: &[i64],
        outcome: &Outcome,
        now: DateTime<Utc>,
    ) -> Result<()>;
    /// A member's notices, newest first: (kind, channel, status).
    async fn notices(&self, member_id: i64) -> Result<Vec<(String, String, String)>>;

    async fn lots(&self, member_id: i64) -> Result<Vec<Lot>>;
    async fn vouchers(&self, member_id: i64) -> Result<Vec<Voucher>>;
    /// The newest entries first.
    async fn entries(&self, member_id: i64, limit: i64) -> Result<Vec<Entry>>;
    /// Every member's balance against their entries and lots.
    async fn audit(&self) -> Result<Vec<LedgerAudit>>;
}

/// Opens the store a `DATABASE_URL` names, applying migrations.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>> {
    Ok(if is_postgres_url(url) {
        Arc::new(postgres::PgStore::connect(url).await?)
    } else {
        Arc::new(sqlite::SqliteStore::connect(url).await?)
    })
}

/// PostgreSQL URLs select the PostgreSQL store; anything else is SQLite.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}
