//! Checkpoints off the writer's path. In WAL mode every commit appends pages to
//! the `-wal` file; a checkpoint copies them back into the database file and
//! syncs both. SQLite's automatic checkpoint runs inside the COMMIT of whichever
//! connection crosses its threshold, here always the writer, so every operation
//! queued behind that commit waited for the copy and the `fsync`s too (10 to 70
//! ms under load on the benchmark machine, which made the slowest 1 % of
//! purchases).
//!
//! So a thread of its own, with its own connection, checkpoints shortly after
//! writes, in PASSIVE mode: it never blocks the writer or the readers. Copying
//! is not all, though: the log only starts again from its beginning when a write
//! transaction begins with every frame already copied, which a checkpoint racing
//! a busy writer hardly ever achieves, and the log file would grow for as long as
//! the load lasts. So once the log is past [`RESTART_FRAMES`], the thread asks the
//! writer to finish the job between two batches: the writer checkpoints the few
//! frames committed since the thread's own pass began, and its next transaction
//! starts the log again. SQLite's automatic checkpoint stays on in the writer,
//! far higher ([`WRITER_AUTOCHECKPOINT`]), in case this thread falls behind.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::BUSY_TIMEOUT;

/// How long after a write the checkpoint runs: writes in between share it.
const DELAY: Duration = Duration::from_millis(20);

/// The log size, in frames (pages), past which the writer is asked to let it
/// start again (about 64 MB with 4 KiB pages, the `journal_size_limit`). Each
/// time costs the writer 3 to 5 ms on the benchmark machine; under full load the
/// log reaches this size two or three times a second (about 4.6 frames per
/// purchase).
const RESTART_FRAMES: i64 = 16_384;

/// The writer's own automatic checkpoint threshold, in frames (about 200 MB);
/// SQLite's default is 1000.
pub(super) const WRITER_AUTOCHECKPOINT: u32 = 50_000;

#[derive(Default)]
struct State {
    /// Commits since the last checkpoint began.
    dirty: bool,
    stop: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    /// The writer should checkpoint what is left, so the log can start again.
    finish: AtomicBool,
}

/// The handle the writer holds; dropping it stops the thread.
pub(super) struct Checkpointer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// Runs a PASSIVE checkpoint; (frames in the log, frames copied).
pub(super) fn checkpoint(conn: &Connection) -> rusqlite::Result<(i64, i64)> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get(1)?, r.get(2)?))
    })
}

impl Checkpointer {
    /// Starts a checkpointing thread for the database at `path`. `None` when the
    /// thread or its connection cannot be had: SQLite's own checkpoints then do.
    pub(super) fn start(path: PathBuf, name: &str) -> Option<Checkpointer> {
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .and_then(|c| {
            c.busy_timeout(Duration::from_secs(BUSY_TIMEOUT))?;
            c.pragma_update(None, "wal_autocheckpoint", 0)?;
            Ok(c)
        });
        let conn = match conn {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "no background checkpoints for SQLite");
                return None;
            }
        };
        let shared = Arc::new(Shared::default());
        let for_thread = shared.clone();
        let thread = thread::Builder::new()
            .name(name.to_string())
            .spawn(move || run(conn, &for_thread))
            .map_err(|e| tracing::warn!(error = %e, "no background checkpoints for SQLite"))
            .ok()?;
        Some(Checkpointer {
            shared,
            thread: Some(thread),
        })
    }

    /// Tells the thread the writer committed something.
    pub(super) fn wrote(&self) {
        if let Ok(mut s) = self.shared.state.lock()
            && !s.dirty
        {
            s.dirty = true;
            self.shared.wake.notify_one();
        }
    }

    /// Whether the writer should checkpoint now (once per request).
    pub(super) fn take_finish(&self) -> bool {
        self.shared.finish.load(Ordering::Relaxed)
            && self.shared.finish.swap(false, Ordering::Relaxed)
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        if let Ok(mut s) = self.shared.state.lock() {
            s.stop = true;
        }
        self.shared.wake.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Checkpoints; when the log is due to start again, checkpoints again right away
/// (a few times at most) while that copies many frames, so that what the writer
/// is left to copy is small. The frames in the log.
fn catch_up(conn: &Connection) -> rusqlite::Result<i64> {
    let (mut log, _) = checkpoint(conn)?;
    for _ in 0..3 {
        if log < RESTART_FRAMES {
            break;
        }
        let (now, _) = checkpoint(conn)?;
        let added = now - log;
        log = now;
        if added < 256 {
            break;
        }
    }
    Ok(log)
}

fn run(conn: Connection, shared: &Shared) {
    let Ok(mut state) = shared.state.lock() else {
        return;
    };
    loop {
        while !state.dirty && !state.stop {
            state = match shared.wake.wait(state) {
                Ok(s) => s,
                Err(_) => return,
            };
        }
        // Let more commits arrive, unless told to stop.
        state = match shared.wake.wait_timeout_while(state, DELAY, |s| !s.stop) {
            Ok((s, _)) => s,
            Err(_) => return,
        };
        if state.stop {
            return;
        }
        state.dirty = false;
        drop(state);
        match catch_up(&conn) {
            Ok(log) if log >= RESTART_FRAMES => shared.finish.store(true, Ordering::Relaxed),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "SQLite checkpoint failed"),
        }
        state = match shared.state.lock() {
            Ok(s) => s,
            Err(_) => return,
        };
    }
}
