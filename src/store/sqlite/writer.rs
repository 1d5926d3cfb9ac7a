//! The writer: one thread that owns the read-write connection and runs every
//! store operation that writes, each whole, so an operation costs one hand-off
//! to this thread and one back, whatever number of statements it runs.
//!
//! Group commit: the thread takes every operation already waiting (up to
//! [`MAX_BATCH`]) and runs them in one `BEGIN IMMEDIATE` transaction, each inside
//! its own savepoint. An operation that fails rolls back to its savepoint only;
//! the others are unaffected. Answers are sent once the COMMIT has succeeded; if
//! it fails, every operation of the batch gets the error and nothing of it stays.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::{self, JoinHandle};

use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::oneshot;

use super::checkpoint::{Checkpointer, WRITER_AUTOCHECKPOINT, checkpoint};
use super::value::SqliteError;
use crate::store::{Result, StoreError};

/// The writer's page cache, in KiB.
const WRITER_CACHE_KIB: i64 = 16 * 1024;

/// The most operations one transaction takes.
pub(super) const MAX_BATCH: usize = 64;

/// An operation sent to the writer thread, with its reply channel.
trait Job: Send {
    /// Runs the operation; `false` if it failed (its changes must be undone).
    fn run(&mut self, conn: &Connection) -> bool;
    /// Sends the outcome. `lost` is the error that undid the batch, if any: it
    /// replaces a success, whose changes are gone.
    fn answer(self: Box<Self>, lost: Option<&SqliteError>);
}

struct Pending<T, F> {
    op: Option<F>,
    outcome: Option<Result<T>>,
    reply: oneshot::Sender<Result<T>>,
}

fn panic_message(p: &(dyn Any + Send)) -> &str {
    p.downcast_ref::<&str>()
        .copied()
        .or_else(|| p.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

impl<T, F> Job for Pending<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> Result<T> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let outcome = match self.op.take() {
            Some(op) => catch_unwind(AssertUnwindSafe(|| op(conn))).unwrap_or_else(|p| {
                let msg = panic_message(p.as_ref());
                tracing::error!(panic = msg, "a SQLite store operation panicked");
                Err(SqliteError::other(format!("the store operation panicked: {msg}")).into())
            }),
            None => Err(SqliteError::other("the store operation ran twice").into()),
        };
        let ok = outcome.is_ok();
        self.outcome = Some(outcome);
        ok
    }

    fn answer(self: Box<Self>, lost: Option<&SqliteError>) {
        let outcome = match (self.outcome, lost) {
            (Some(Ok(_)), Some(e)) | (None, Some(e)) => Err(e.clone().into()),
            (Some(outcome), _) => outcome,
            (None, None) => Err(SqliteError::other("the store operation did not run").into()),
        };
        // The caller may have gone away (a cancelled request): nothing to do.
        let _ = self.reply.send(outcome);
    }
}

/// The handle async callers use; dropping it stops the thread once the
/// operations already sent are done, and waits for that.
pub(super) struct Writer {
    jobs: Option<mpsc::Sender<Box<dyn Job>>>,
    thread: Option<JoinHandle<()>>,
}

fn stopped() -> StoreError {
    SqliteError::other("the SQLite writer thread has stopped").into()
}

impl Writer {
    /// Starts the thread: `open` runs on it first and makes the connection; its
    /// error is returned here and the thread ends.
    pub(super) async fn start(
        name: &str,
        open: impl FnOnce() -> Result<Connection> + Send + 'static,
    ) -> Result<Writer> {
        let (jobs, queue) = mpsc::channel::<Box<dyn Job>>();
        let (ready, opened) = oneshot::channel::<Result<()>>();
        let name = name.to_string();
        let thread = thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                let conn = match catch_unwind(AssertUnwindSafe(open)) {
                    Ok(Ok(conn)) => {
                        let _ = ready.send(Ok(()));
                        conn
                    }
                    Ok(Err(e)) => {
                        let _ = ready.send(Err(e));
                        return;
                    }
                    Err(p) => {
                        let msg = panic_message(p.as_ref()).to_string();
                        let _ = ready.send(Err(SqliteError::other(format!(
                            "opening the database panicked: {msg}"
                        ))
                        .into()));
                        return;
                    }
                };
                tune(&conn);
                let checkpointer = background_checkpoints(&conn, &name);
                serve(conn, queue, checkpointer.as_ref());
            })
            .map_err(|e| SqliteError::other(format!("cannot start the writer thread: {e}")))?;
        let writer = Writer {
            jobs: Some(jobs),
            thread: Some(thread),
        };
        opened.await.map_err(|_| stopped())??;
        Ok(writer)
    }

    /// Runs `op` on the writer thread, in a write transaction of its own or
    /// shared with other operations (inside its own savepoint), and returns its
    /// outcome once committed. An error from `op` undoes all it did.
    pub(super) async fn run<T, F>(&self, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Pending {
            op: Some(op),
            outcome: None,
            reply,
        });
        self.jobs
            .as_ref()
            .ok_or_else(stopped)?
            .send(job)
            .map_err(|_| stopped())?;
        // A dropped reply means the thread died with the job.
        answer.await.map_err(|_| stopped())?
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Closing the channel ends the thread's loop after the queued jobs.
        self.jobs.take();
        if let Some(t) = self.thread.take()
            && t.thread().id() != thread::current().id()
        {
            let _ = t.join();
        }
    }
}

/// Settings for the writer's connection that only change how fast it goes.
fn tune(conn: &Connection) {
    // Each job of a batch runs in a savepoint, so SQLite keeps a copy of every
    // page a job changes (the sub-journal) to roll back to. Past 64 KiB that copy
    // goes to a temporary file by default, that is a write system call per page:
    // keep it in memory (a batch's few hundred pages at most).
    // The writer's page cache: the pages of the indexes a purchase touches stay
    // in it rather than being read again (SQLite's default is 2 MB).
    let set = conn
        .pragma_update(None, "temp_store", "MEMORY")
        .and_then(|()| conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB));
    if let Err(e) = set {
        tracing::warn!(error = %e, "could not tune the SQLite writer");
    }
}

/// For a database file, hands checkpoints to a thread of their own (see
/// [`checkpoint`](super::checkpoint)).
fn background_checkpoints(conn: &Connection, name: &str) -> Option<Checkpointer> {
    let path = PathBuf::from(conn.path().filter(|p| !p.is_empty())?);
    let setup = conn
        .pragma_update(None, "wal_autocheckpoint", WRITER_AUTOCHECKPOINT)
        // After a checkpoint lets the log start again, keep its file at most this big.
        .and_then(|()| conn.pragma_update(None, "journal_size_limit", 64 << 20));
    if let Err(e) = setup {
        tracing::warn!(error = %e, "no background checkpoints for SQLite");
        return None;
    }
    let checkpointer = Checkpointer::start(path, &format!("{name}-ckpt"));
    if checkpointer.is_none() {
        // SQLite checkpoints in the writer's commits, as by default.
        let _ = conn.pragma_update(None, "wal_autocheckpoint", 1000);
    }
    checkpointer
}

/// The thread's loop: waits for a job, takes what else is queued, runs them.
fn serve(
    mut conn: Connection,
    queue: mpsc::Receiver<Box<dyn Job>>,
    checkpointer: Option<&Checkpointer>,
) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_BATCH);
    while let Ok(first) = queue.recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        // Nothing in here panics on a bad job (jobs run under catch_unwind), but
        // if something does, the jobs of this batch get an error (their reply
        // channels close) and the thread carries on with the next batch.
        match catch_unwind(AssertUnwindSafe(|| run_batch(&mut conn, &mut batch))) {
            Ok(committed) => {
                if let Some(c) = checkpointer {
                    if committed {
                        c.wrote();
                    }
                    // Between batches: copy the log's last frames, so that the
                    // next transaction starts it again (see `checkpoint`).
                    if c.take_finish()
                        && let Err(e) = checkpoint(&conn)
                    {
                        tracing::warn!(error = %e, "SQLite checkpoint failed");
                    }
                }
            }
            Err(_) => {
                tracing::error!("the SQLite writer recovered from a panic");
                if !conn.is_autocommit() {
                    let _ = conn.execute_batch("ROLLBACK");
                }
            }
        }
        batch.clear();
    }
}

fn answer_all(batch: &mut Vec<Box<dyn Job>>, lost: Option<&SqliteError>) {
    for job in batch.drain(..) {
        job.answer(lost);
    }
}

/// Runs a batch and answers its jobs; whether it committed any change.
fn run_batch(conn: &mut Connection, batch: &mut Vec<Box<dyn Job>>) -> bool {
    let changes = conn.total_changes();
    let mut tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => {
            answer_all(batch, Some(&SqliteError::from(&e)));
            return false;
        }
    };
    let outcome = if let [job] = batch.as_mut_slice() {
        // Alone: the transaction is the job's, no savepoint needed.
        Ok(job.run(&tx))
    } else {
        run_each(&mut tx, batch)
    };
    let (committed, lost) = match outcome {
        Ok(true) => match tx.commit() {
            Ok(()) => (true, None),
            Err(e) => (false, Some(SqliteError::from(&e))),
        },
        // Nothing to keep: every job failed and undid its work.
        Ok(false) => {
            let _ = tx.rollback();
            (false, None)
        }
        Err(e) => {
            drop(tx); // rolls back
            (false, Some(e))
        }
    };
    answer_all(batch, lost.as_ref());
    committed && conn.total_changes() != changes
}

/// Runs each job in a savepoint of `tx`; whether any succeeded. An error here
/// undoes the whole batch.
fn run_each(
    tx: &mut Transaction<'_>,
    batch: &mut [Box<dyn Job>],
) -> std::result::Result<bool, SqliteError> {
    let mut any_ok = false;
    for job in batch.iter_mut() {
        let mut sp = tx.savepoint().map_err(|e| SqliteError::from(&e))?;
        if job.run(&sp) {
            any_ok = true;
            sp.commit().map_err(|e| SqliteError::from(&e))?;
        } else {
            sp.rollback()
                .and_then(|()| sp.commit())
                .map_err(|e| SqliteError::from(&e))?;
        }
        // Some errors (a full disk, I/O) make SQLite roll back the whole
        // transaction: the earlier jobs' work is gone too.
        if tx.is_autocommit() {
            return Err(SqliteError::other(
                "the transaction was rolled back by SQLite after an error",
            ));
        }
    }
    Ok(any_ok)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    async fn writer() -> Writer {
        Writer::start("taem-sqlite-test", || {
            let conn = Connection::open_in_memory()?;
            conn.execute_batch("CREATE TABLE t (x INTEGER NOT NULL UNIQUE)")?;
            Ok(conn)
        })
        .await
        .unwrap()
    }

    fn insert(x: i64) -> impl FnOnce(&Connection) -> Result<usize> + Send + 'static {
        move |c| Ok(c.execute("INSERT INTO t (x) VALUES (?1)", [x])?)
    }

    fn values(c: &Connection) -> Result<Vec<i64>> {
        let mut stmt = c.prepare("SELECT x FROM t ORDER BY x")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    #[tokio::test]
    async fn in_one_batch_a_failing_job_undoes_only_its_own_work() {
        let w = writer().await;
        // The first job holds the thread while the others queue: they then run
        // as one batch.
        let hold = w.run(|_| {
            std::thread::sleep(Duration::from_millis(100));
            Ok(())
        });
        let two_then_fail = |c: &Connection| -> Result<()> {
            c.execute("INSERT INTO t (x) VALUES (2)", [])?;
            Err(StoreError::NotFound("three"))
        };
        let (held, a, dup, b, undone) = tokio::join!(
            hold,
            w.run(insert(1)),
            w.run(insert(1)),
            w.run(insert(4)),
            w.run(two_then_fail),
        );
        held.unwrap();
        assert_eq!(a.unwrap(), 1);
        let dup = dup.unwrap_err();
        assert!(dup.is_unique_violation(Some(("t.x", ""))), "{dup:?}");
        assert_eq!(b.unwrap(), 1);
        assert!(matches!(undone, Err(StoreError::NotFound("three"))));
        assert_eq!(w.run(values).await.unwrap(), vec![1, 4]);
    }

    #[tokio::test]
    async fn a_panicking_job_gets_an_error_and_the_writer_goes_on() {
        let w = writer().await;
        let boom = w
            .run(|c| -> Result<()> {
                c.execute("INSERT INTO t (x) VALUES (9)", [])?;
                panic!("boom")
            })
            .await
            .unwrap_err();
        assert!(boom.to_string().contains("boom"), "{boom}");
        w.run(insert(1)).await.unwrap();
        assert_eq!(w.run(values).await.unwrap(), vec![1]);
    }

    #[tokio::test]
    async fn a_database_that_cannot_open_is_an_error() {
        let e = Writer::start("taem-sqlite-test", || {
            Err(SqliteError::other("no such disk").into())
        })
        .await
        .err()
        .expect("an error");
        assert!(e.to_string().contains("no such disk"), "{e}");
    }
}
