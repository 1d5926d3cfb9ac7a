//! Checkpoints off the writer's path. In WAL mode every commit appends pages to
//! the `-wal` file, and a checkpoint copies them back into the database file and
//! syncs it. SQLite's automatic checkpoint runs inside the COMMIT of whichever
//! connection crosses the threshold: here that is always the writer, so every
//! operation waiting behind it waited for the copy and two `fsync`s as well
//! (10 to 15 ms under load on the benchmark machine).
//!
//! So a thread of its own, with its own connection, checkpoints (PASSIVE: it
//! never blocks the writer or readers) shortly after writes. The writer keeps
//! SQLite's automatic checkpoint at a higher threshold ([`WRITER_AUTOCHECKPOINT`]):
//! the log starts again from its beginning only when a write transaction begins
//! with every frame checkpointed, which a checkpoint racing a busy writer rarely
//! achieves, so the writer's own checkpoint closes the gap now and then, and it
//! has little left to copy.

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::BUSY_TIMEOUT;

/// How long after a write the checkpoint runs: writes in between share it.
const DELAY: Duration = Duration::from_millis(20);

/// The writer's own automatic checkpoint threshold, in pages of the log (40 MB
/// with 4 KiB pages); SQLite's default is 1000.
pub(super) const WRITER_AUTOCHECKPOINT: u32 = 10_000;

#[derive(Default)]
struct State {
    /// Commits since the last checkpoint began.
    dirty: bool,
    stop: bool,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

/// The handle the writer holds; dropping it stops the thread.
pub(super) struct Checkpointer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
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
            // Its own commits (none) must not checkpoint behind our back.
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
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
        });
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
        if state.stop {
            return;
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
        let done = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        });
        if let Err(e) = done {
            tracing::warn!(error = %e, "SQLite checkpoint failed");
        }
        state = match shared.state.lock() {
            Ok(s) => s,
            Err(_) => return,
        };
    }
}
