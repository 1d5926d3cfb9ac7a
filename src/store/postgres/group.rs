//! Group commit of purchases: PostgreSQL's commit strategy for the busiest
//! write.
//!
//! A purchase is handed to a few workers per instance. A free worker takes
//! every purchase already waiting (up to [`MAX_BATCH`]; it never waits for
//! more, so a lone purchase goes at once) and records them in one transaction
//! with [`ops::purchases::record_purchases`]: the buyers locked together in id
//! order (so batches of several instances wait on each other but never
//! deadlock), one read and one write for them all, one commit. Answers are
//! sent once the commit has succeeded. Each worker keeps to connections of the
//! batches' own, not the store's shared pool.
//!
//! A purchase the batch leaves for after (it shares a member or receipt with
//! another, or pays a referral) runs alone after the commit. When the batch
//! fails as a whole (a database error, a receipt recorded meanwhile by another
//! transaction, a refusal after its writes), it is rolled back and each of its
//! purchases runs alone, so one purchase's failure is only its own.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use sqlx::PgPool;
use tokio::sync::{Mutex, Notify, mpsc, oneshot};
use tokio::task::JoinSet;

use super::tx::PgTx;
use super::{ATTEMPTS, lost_race};
use crate::domain::model::{PurchaseCommand, PurchaseReceipt, Recorded};
use crate::store::{Result, StoreError, ops};

/// The most purchases one transaction takes.
const MAX_BATCH: usize = 64;

/// How many batches one instance runs at once, each on a connection of its
/// own (see [`own_connections`]).
const WORKERS: usize = 2;

type Answer = Result<Recorded<PurchaseReceipt>>;

struct Job {
    cmd: PurchaseCommand,
    reply: oneshot::Sender<Answer>,
}

/// The queue of purchases waiting for a worker.
pub(super) struct Purchases {
    queue: mpsc::UnboundedSender<Job>,
}

/// What the workers share: the queue's far end, with the purchases held back
/// because a running batch has their member (a second batch would only wait
/// for its lock), and those members.
struct Waiting {
    queue: Mutex<(mpsc::UnboundedReceiver<Job>, VecDeque<Job>)>,
    busy: std::sync::Mutex<HashSet<String>>,
    freed: Notify,
}

impl Purchases {
    /// Starts the workers; they stop when this is dropped.
    pub(super) fn start(pool: &PgPool) -> Purchases {
        let (queue, far) = mpsc::unbounded_channel();
        let waiting = Arc::new(Waiting {
            queue: Mutex::new((far, VecDeque::new())),
            busy: Default::default(),
            freed: Notify::new(),
        });
        let own = own_connections(pool, WORKERS);
        for _ in 0..WORKERS {
            tokio::spawn(work(own.clone(), pool.clone(), waiting.clone()));
        }
        Purchases { queue }
    }

    /// Records a purchase with those waiting beside it.
    pub(super) async fn record(&self, cmd: PurchaseCommand) -> Answer {
        let (reply, answer) = oneshot::channel();
        let stopped = || StoreError::Corrupt("the purchase workers have stopped".into());
        self.queue.send(Job { cmd, reply }).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn member(job: &Job) -> Option<&str> {
    job.cmd.member_code.as_ref().map(|c| c.as_str())
}

impl Waiting {
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
            {
                let mut busy = self.busy.lock().expect("busy members");
                for _ in 0..held.len() {
                    let job = held.pop_front().expect("a held purchase");
                    take(job, (&mut jobs, &mut busy), held);
                }
                while jobs.len() < MAX_BATCH {
                    match far.try_recv() {
                        Ok(job) => take(job, (&mut jobs, &mut busy), held),
                        Err(_) => break,
                    }
                }
            }
            if !jobs.is_empty() {
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
fn own_connections(pool: &PgPool, workers: usize) -> PgPool {
    let options = (*pool.connect_options())
        .clone()
        .options([("plan_cache_mode", "force_generic_plan")]);
    super::pool_options(workers as u32).connect_lazy_with(options)
}

async fn work(own: PgPool, pool: PgPool, waiting: Arc<Waiting>) {
    while let Some(jobs) = waiting.next().await {
        let members: Vec<String> = jobs.iter().filter_map(member).map(String::from).collect();
        let later = match <[Job; 1]>::try_from(jobs) {
            // A batch of one: on the batches' connections all the same.
            Ok([job]) => {
                alone(own.clone(), job).await;
                Vec::new()
            }
            Err(jobs) => run(&own, jobs).await,
        };
        waiting.done(&members);
        // Purchases the batch left for after, each alone.
        let mut each = JoinSet::new();
        for job in later {
            each.spawn(alone(pool.clone(), job));
        }
        each.join_all().await;
    }
}

/// Records a batch; returns the purchases it could not answer.
async fn run(pool: &PgPool, jobs: Vec<Job>) -> Vec<Job> {
    let batch = async {
        let cmds: Vec<&PurchaseCommand> = jobs.iter().map(|j| &j.cmd).collect();
        let mut conn = pool.begin().await?;
        let answers = ops::purchases::record_purchases(&mut PgTx(&mut conn), &cmds).await?;
        conn.commit().await?;
        Ok::<_, StoreError>(answers)
    };
    match batch.await {
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

/// One purchase in a transaction of its own, run again when it lost an
/// idempotency race (as every other write).
async fn alone(pool: PgPool, job: Job) {
    let mut attempt = 1;
    let answer = loop {
        let once = async {
            let mut conn = pool.begin().await?;
            let answer = ops::purchases::record_purchase(&mut PgTx(&mut conn), &job.cmd).await?;
            conn.commit().await?;
            Ok(answer)
        };
        match once.await {
            Err(e) if attempt < ATTEMPTS && lost_race(&e) => attempt += 1,
            other => break other,
        }
    };
    let _ = job.reply.send(answer);
}
