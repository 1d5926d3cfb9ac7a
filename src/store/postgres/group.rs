//! Group commit of purchases: PostgreSQL's commit strategy for the busiest
//! write.
//!
//! A purchase is handed to a few workers per instance. A free worker takes
//! every purchase already waiting (up to [`MAX_BATCH`]). While another
//! worker's batch is running it lets the runtime's other tasks run a few
//! times first ([`GATHER`], [`SPINS`]), so that requests already read reach
//! the batch; it never waits on a clock, and with no batch running a lone
//! purchase goes at once. It records them in one transaction
//! with [`ops::purchases::record_purchases`]: the buyers locked together in id
//! order (so batches of several instances wait on each other but never
//! deadlock), one read and one write for them all, one commit. Answers are
//! sent once the commit has succeeded. Each worker keeps to connections of the
//! batches' own, not the store's shared pool. While purchases keep coming, a
//! worker commits a batch and begins the next transaction in one round trip
//! (see [`Line`]).
//!
//! A purchase the batch leaves for after (it shares a member or receipt with
//! another, or pays a referral) runs alone after the commit. When the batch
//! fails as a whole (a database error, a receipt recorded meanwhile by another
//! transaction, a refusal after its writes), it is rolled back and each of its
//! purchases runs alone, so one purchase's failure is only its own.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use sqlx::pool::PoolConnection;
use sqlx::{PgPool, Postgres};
use tokio::sync::{Mutex, Notify, mpsc, oneshot};
use tokio::task::JoinSet;

use super::tx::PgTx;
use super::{ATTEMPTS, PING_AFTER_IDLE, lost_race};
use crate::domain::model::{PurchaseCommand, PurchaseReceipt, Recorded};
use crate::store::{Result, StoreError, ops};

/// The most purchases one transaction takes.
const MAX_BATCH: usize = 64;

/// How many batches one instance runs at once, each on a connection of its
/// own (see [`own_connections`]).
const WORKERS: usize = 2;

/// A batch smaller than this, taken while another batch is running, waits
/// for more for up to [`SPINS`] turns of the runtime (`yield_now`): the
/// HTTP handlers ready to run add their purchases. A batch's fixed cost (its
/// round trips, the statements' start-up, the commit) is about as much as
/// ten purchases' own work, so larger batches leave PostgreSQL more of the
/// two cores (session 17: 5,641 to 6,470/s against 4,811 to 5,291/s over
/// HTTP, three pairs in turn).
const GATHER: usize = 12;

/// The most turns of the runtime a batch waits for [`GATHER`] purchases.
const SPINS: usize = 8;

type Answer = Result<Recorded<PurchaseReceipt>>;

struct Job {
    cmd: PurchaseCommand,
    reply: oneshot::Sender<Answer>,
}

/// The queue of purchases waiting for a worker.
pub(super) struct Purchases {
    queue: mpsc::UnboundedSender<Job>,
    waiting: Arc<Waiting>,
}

/// What the workers share: the queue's far end, with the purchases held back
/// because a running batch has their member (a second batch would only wait
/// for its lock), and those members.
struct Waiting {
    queue: Mutex<(mpsc::UnboundedReceiver<Job>, VecDeque<Job>)>,
    busy: std::sync::Mutex<HashSet<String>>,
    freed: Notify,
    /// Purchases sent and not yet in a batch.
    queued: AtomicUsize,
}

impl Purchases {
    /// Starts the workers; they stop when this is dropped.
    pub(super) fn start(pool: &PgPool) -> Purchases {
        let (queue, far) = mpsc::unbounded_channel();
        let waiting = Arc::new(Waiting::new(far));
        let own = own_connections(pool, WORKERS);
        for _ in 0..WORKERS {
            let line = Line {
                own: own.clone(),
                ahead: None,
            };
            tokio::spawn(work(line, pool.clone(), waiting.clone()));
        }
        Purchases { queue, waiting }
    }

    /// Records a purchase with those waiting beside it.
    pub(super) async fn record(&self, cmd: PurchaseCommand) -> Answer {
        let (reply, answer) = oneshot::channel();
        let stopped = || StoreError::Corrupt("the purchase workers have stopped".into());
        self.waiting.queued.fetch_add(1, Ordering::Relaxed);
        self.queue.send(Job { cmd, reply }).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn member(job: &Job) -> Option<&str> {
    job.cmd.member_code.as_ref().map(|c| c.as_str())
}

impl Waiting {
    fn new(far: mpsc::UnboundedReceiver<Job>) -> Waiting {
        Waiting {
            queue: Mutex::new((far, VecDeque::new())),
            busy: Default::default(),
            freed: Notify::new(),
            queued: AtomicUsize::new(0),
        }
    }

    /// The next batch: every purchase waiting (held ones first) whose member
    /// no running batch has, up to [`MAX_BATCH`]; its members marked busy.
    /// Waits while there is none; `None` once the queue is closed and empty.
    async fn next(&self) -> Option<Vec<Job>> {
        let mut guard = self.queue.lock().await;
        let (far, held) = &mut *guard;
        let mut closed = false;
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            let mut jobs = Vec::new();
            let running = {
                let mut busy = self.busy.lock().expect("busy members");
                let running = !busy.is_empty();
                for _ in 0..held.len() {
                    let job = held.pop_front().expect("a held purchase");
                    take(job, (&mut jobs, &mut busy), held);
                }
                drain(far, (&mut jobs, &mut busy), held);
                running
            };
            let mut spins = 0;
            while running && !jobs.is_empty() && jobs.len() < GATHER && spins < SPINS {
                tokio::task::yield_now().await;
                spins += 1;
                let mut busy = self.busy.lock().expect("busy members");
                drain(far, (&mut jobs, &mut busy), held);
            }
            if !jobs.is_empty() {
                self.queued.fetch_sub(jobs.len(), Ordering::Relaxed);
                return Some(jobs);
            }
            if closed && held.is_empty() {
                return None;
            }
            tokio::select! {
                job = far.recv(), if !closed => match job {
                    Some(job) => held.push_front(job),
                    None => closed = true,
                },
                () = &mut freed => {}
            }
        }
    }

    /// Whether a purchase is waiting for a batch.
    fn more(&self) -> bool {
        self.queued.load(Ordering::Relaxed) > 0
    }

    /// The batch's members are free again.
    fn done(&self, members: &[String]) {
        let mut busy = self.busy.lock().expect("busy members");
        for code in members {
            busy.remove(code);
        }
        drop(busy);
        self.freed.notify_waiters();
    }
}

/// Takes every purchase queued now (see [`take`]), up to [`MAX_BATCH`].
fn drain(
    far: &mut mpsc::UnboundedReceiver<Job>,
    (jobs, busy): (&mut Vec<Job>, &mut HashSet<String>),
    held: &mut VecDeque<Job>,
) {
    while jobs.len() < MAX_BATCH {
        match far.try_recv() {
            Ok(job) => take(job, (&mut *jobs, &mut *busy), held),
            Err(_) => break,
        }
    }
}

/// Puts a purchase in the batch, or back in `held` when a running batch has
/// its member or the batch is full.
fn take(job: Job, (jobs, busy): (&mut Vec<Job>, &mut HashSet<String>), held: &mut VecDeque<Job>) {
    if jobs.len() >= MAX_BATCH {
        return held.push_back(job);
    }
    match member(&job) {
        Some(code) if busy.contains(code) => held.push_back(job),
        Some(code) => {
            busy.insert(code.to_string());
            jobs.push(job);
        }
        None => jobs.push(job),
    }
}

/// The batches' own connections, one per worker, on the store's server.
///
/// The store's pool hands its idle connections out in turn, so batches would
/// run on every one of its 32 server processes, each with its plans and
/// caches cold. These stay with the batches. Their statements are the
/// batch's own (point lookups by key, arrays of the batch's length), so they
/// keep one plan each (`plan_cache_mode`): PostgreSQL would otherwise weigh a
/// plan for each batch's values against the generic one, and on most calls
/// plan anew.
///
/// They are named `taem purchases` in `pg_stat_activity`.
fn own_connections(pool: &PgPool, workers: usize) -> PgPool {
    let options = (*pool.connect_options())
        .clone()
        .application_name(BATCHES)
        .options([("plan_cache_mode", "force_generic_plan")]);
    super::pool_options(workers as u32).connect_lazy_with(options)
}

/// The batches' connections' `application_name`.
const BATCHES: &str = "taem purchases";

/// A worker's connection to the server, with the transaction of its next
/// batch begun ahead while purchases keep coming.
///
/// Each round trip to the server costs a batch more than its work does when
/// the machine is busy (both sides wait for their turn on a core): a batch's
/// commit and the next batch's `BEGIN` go together, as `COMMIT; BEGIN`, when a
/// purchase is waiting. `BEGIN` alone takes no snapshot and no lock, so the
/// transaction begun ahead holds nothing until the next batch's first
/// statement; one left unused for [`PING_AFTER_IDLE`] is ended, and the
/// connection goes back to the batches' pool.
struct Line {
    own: PgPool,
    ahead: Option<Open>,
}

/// A connection in a transaction sqlx does not know of: closed rather than
/// put back in the pool when dropped open (after an error, say).
struct Open(Option<PoolConnection<Postgres>>);

impl Open {
    fn conn(&mut self) -> &mut PoolConnection<Postgres> {
        self.0.as_mut().expect("an open transaction's connection")
    }

    /// Runs `sql`, which ends the transaction; the connection is back in the
    /// pool, or, when `sql` begins another, kept open.
    async fn end(mut self, sql: &'static str) -> Result<Option<Open>> {
        sqlx::raw_sql(sql).execute(&mut **self.conn()).await?;
        if sql.ends_with("BEGIN") {
            return Ok(Some(self));
        }
        // Back in the pool: nothing is open on it.
        drop(self.0.take());
        Ok(None)
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        if let Some(conn) = self.0.as_mut() {
            conn.close_on_drop();
        }
    }
}

impl Line {
    /// A transaction: the one begun ahead, or a new one. With `checked`, the
    /// connection taken from the pool answers a ping first (one that does not
    /// is closed, and the next taken).
    async fn begin(&mut self, checked: bool) -> Result<Open> {
        if let Some(open) = self.ahead.take() {
            return Ok(open);
        }
        let mut conn = self.own.acquire().await?;
        for _ in 0..WORKERS {
            if !checked || sqlx::Connection::ping(&mut *conn).await.is_ok() {
                break;
            }
            conn.close_on_drop();
            conn = self.own.acquire().await?;
        }
        sqlx::raw_sql("BEGIN").execute(&mut *conn).await?;
        Ok(Open(Some(conn)))
    }

    /// Commits, and begins the next transaction in the same round trip when
    /// a purchase is waiting.
    async fn commit(&mut self, open: Open, more: bool) -> Result<()> {
        let sql = if more { "COMMIT; BEGIN" } else { "COMMIT" };
        self.ahead = open.end(sql).await?;
        Ok(())
    }

    /// Rolls back after a failure; a connection that cannot is closed.
    async fn rollback(open: Open) {
        let _ = open.end("ROLLBACK").await;
    }

    /// Ends the transaction begun ahead, if any.
    async fn idle(&mut self) {
        if let Some(open) = self.ahead.take() {
            Line::rollback(open).await;
        }
    }

    /// Commits what `outcome` wrote, or rolls it back when it failed.
    async fn finish<T>(&mut self, open: Open, more: bool, outcome: Result<T>) -> Result<T> {
        match outcome {
            Ok(out) => {
                self.commit(open, more).await?;
                Ok(out)
            }
            Err(e) => {
                Line::rollback(open).await;
                Err(e)
            }
        }
    }
}

/// Runs `$op` (with `$tx` the transaction) on the worker's line and commits
/// it. A transaction begun ahead may have lost its connection while it
/// waited (a restart, a timeout on idle transactions): when it fails on a
/// database error, `$op` runs once more on a connection that answers a ping.
macro_rules! on_line {
    ($line:expr, $waiting:expr, |$tx:ident| $op:expr) => {{
        let mut ahead = $line.ahead.is_some();
        let mut checked = false;
        loop {
            let outcome = async {
                let mut open = $line.begin(checked).await?;
                let outcome = {
                    let $tx = &mut PgTx(open.conn());
                    $op.await
                };
                $line.finish(open, $waiting.more(), outcome).await
            }
            .await;
            match outcome {
                Err(StoreError::Postgres(e)) if std::mem::take(&mut ahead) => {
                    tracing::debug!(error = %e, "a transaction begun ahead failed; once more");
                    checked = true;
                }
                other => break other,
            }
        }
    }};
}

async fn work(mut line: Line, pool: PgPool, waiting: Arc<Waiting>) {
    loop {
        let next = match line.ahead {
            None => waiting.next().await,
            // `next` can be cancelled: it takes nothing until it returns.
            Some(_) => match tokio::time::timeout(PING_AFTER_IDLE, waiting.next()).await {
                Ok(next) => next,
                Err(_) => {
                    line.idle().await;
                    continue;
                }
            },
        };
        let Some(jobs) = next else { break };
        let members: Vec<String> = jobs.iter().filter_map(member).map(String::from).collect();
        let later = match <[Job; 1]>::try_from(jobs) {
            // A batch of one: on the batches' connections all the same.
            Ok([job]) => {
                alone(&mut line, &waiting, job).await;
                Vec::new()
            }
            Err(jobs) => run(&mut line, &waiting, jobs).await,
        };
        waiting.done(&members);
        // Purchases the batch left for after, each alone.
        let mut each = JoinSet::new();
        for job in later {
            each.spawn(alone_on(pool.clone(), job));
        }
        each.join_all().await;
    }
    line.idle().await;
}

/// Records a batch; returns the purchases it could not answer.
async fn run(line: &mut Line, waiting: &Waiting, jobs: Vec<Job>) -> Vec<Job> {
    let cmds: Vec<&PurchaseCommand> = jobs.iter().map(|j| &j.cmd).collect();
    let batch = on_line!(line, waiting, |tx| ops::purchases::record_purchases(
        tx, &cmds
    ));
    match batch {
        Ok(answers) => (jobs.into_iter().zip(answers))
            .filter_map(|(job, answer)| match answer {
                Some(answer) => {
                    // The caller may have gone away (a cancelled request).
                    let _ = job.reply.send(answer);
                    None
                }
                None => Some(job),
            })
            .collect(),
        Err(e) => {
            tracing::debug!(error = %e, purchases = jobs.len(), "a batch of purchases runs again one by one");
            jobs
        }
    }
}

/// One purchase in a transaction of its own on the worker's connection, run
/// again when it lost an idempotency race (as every other write).
async fn alone(line: &mut Line, waiting: &Waiting, job: Job) {
    let answer = until_won!(async {
        on_line!(line, waiting, |tx| ops::purchases::record_purchase(
            tx, &job.cmd
        ))
    });
    let _ = job.reply.send(answer);
}

/// One purchase in a transaction of its own on the store's pool, run again
/// when it lost an idempotency race (as every other write).
async fn alone_on(pool: PgPool, job: Job) {
    let answer = until_won!(async {
        let mut conn = pool.begin().await?;
        let answer = ops::purchases::record_purchase(&mut PgTx(&mut conn), &job.cmd).await?;
        conn.commit().await?;
        Ok(answer)
    });
    let _ = job.reply.send(answer);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sql::{Cell, Tx};

    async fn backend(tx: &mut PgTx<'_>) -> Result<i64> {
        match tx.rows("SELECT pg_backend_pid()::BIGINT", &[]).await?[..] {
            [ref row] => match row.0[..] {
                [Cell::Int(pid)] => Ok(pid),
                _ => Err(StoreError::Corrupt("a pid".into())),
            },
            _ => Err(StoreError::Corrupt("one row".into())),
        }
    }

    /// The server ends a transaction begun ahead before it is used (an
    /// administrator, a timeout on idle transactions): the next batch's
    /// transaction is begun again on a new connection, and the batch is
    /// written as if nothing had happened.
    #[tokio::test]
    async fn a_transaction_begun_ahead_and_ended_by_the_server_is_begun_again() {
        let Ok(url) = std::env::var("TEST_POSTGRES_URL") else {
            return;
        };
        let pool = PgPool::connect(&url).await.expect("TEST_POSTGRES_URL");
        let (_queue, far) = mpsc::unbounded_channel();
        let waiting = Waiting::new(far);
        // A purchase is waiting: the commit begins the next transaction.
        waiting.queued.store(1, Ordering::Relaxed);
        let mut line = Line {
            own: own_connections(&pool, 1),
            ahead: None,
        };
        let first = on_line!(line, waiting, |tx| backend(tx)).expect("a first batch");
        assert!(line.ahead.is_some(), "the next transaction is begun");

        let (ended,): (bool,) = sqlx::query_as("SELECT pg_terminate_backend($1::INT)")
            .bind(first)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert!(ended);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let (left,): (i64,) =
                sqlx::query_as("SELECT COUNT(*) FROM pg_stat_activity WHERE pid = $1::INT")
                    .bind(first)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            if left == 0 {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "the backend ends");
            tokio::task::yield_now().await;
        }

        let second = on_line!(line, waiting, |tx| backend(tx)).expect("the next batch");
        assert_ne!(first, second, "a new connection");
    }
}
