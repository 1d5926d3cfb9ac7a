//! Group commit of purchases: PostgreSQL's commit strategy for the busiest
//! write.
//!
//! A purchase is handed to a few workers per instance. A free worker takes
//! every purchase already waiting (up to [`MAX_BATCH`]; it never waits for
//! more, so a lone purchase goes at once) and records them in one transaction
//! with [`ops::purchases::record_purchases`]: the buyers locked together in id
//! order (so batches of several instances wait on each other but never
//! deadlock), one read and one write for them all, one commit. Answers are
//! sent once the commit has succeeded.
//!
//! A purchase the batch leaves for after (it shares a member or receipt with
//! another, or pays a referral) runs alone after the commit. When the batch
//! fails as a whole (a database error, a receipt recorded meanwhile by another
//! transaction, a refusal after its writes), it is rolled back and each of its
//! purchases runs alone, so one purchase's failure is only its own.

use std::sync::Arc;

use sqlx::PgPool;
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::task::JoinSet;

use super::tx::PgTx;
use super::{ATTEMPTS, lost_race};
use crate::domain::model::{PurchaseCommand, PurchaseReceipt, Recorded};
use crate::store::{Result, StoreError, ops};

/// The most purchases one transaction takes.
const MAX_BATCH: usize = 64;

/// How many batches one instance runs at once (each holds a connection
/// while it runs).
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

impl Purchases {
    /// Starts the workers; they stop when this is dropped.
    pub(super) fn start(pool: &PgPool) -> Purchases {
        let (queue, waiting) = mpsc::unbounded_channel();
        let waiting = Arc::new(Mutex::new(waiting));
        for _ in 0..WORKERS {
            tokio::spawn(work(pool.clone(), waiting.clone()));
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

async fn work(pool: PgPool, waiting: Arc<Mutex<mpsc::UnboundedReceiver<Job>>>) {
    loop {
        let jobs = {
            let mut waiting = waiting.lock().await;
            let Some(first) = waiting.recv().await else {
                return;
            };
            let mut jobs = vec![first];
            while jobs.len() < MAX_BATCH {
                match waiting.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
            jobs
        };
        run(&pool, jobs).await;
    }
}

/// Records a batch; what it could not answer runs alone afterwards.
async fn run(pool: &PgPool, jobs: Vec<Job>) {
    if jobs.len() == 1 {
        return alone(pool.clone(), jobs.into_iter().next().expect("one job")).await;
    }
    let batch = async {
        let cmds: Vec<&PurchaseCommand> = jobs.iter().map(|j| &j.cmd).collect();
        let mut conn = pool.begin().await?;
        let answers = ops::purchases::record_purchases(&mut PgTx(&mut conn), &cmds).await?;
        conn.commit().await?;
        Ok::<_, StoreError>(answers)
    };
    let later: Vec<Job> = match batch.await {
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
    };
    let mut each = JoinSet::new();
    for job in later {
        each.spawn(alone(pool.clone(), job));
    }
    each.join_all().await;
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
