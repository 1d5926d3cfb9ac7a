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

use super::ops::{self, Steps};
use super::sql::run_now;
use super::{Result, StoreError};
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

/// Runs an operation of `ops` on the writer thread, inside its transaction;
/// what it borrows (`[a, b]`) is first copied, to move to that thread.
macro_rules! write_op {
    ($self:ident, [$($own:ident),*], |$tx:ident| $op:expr) => {{
        $(let $own = $own.to_owned();)*
        $self
            .writer
            .run(move |conn| run_now(async { let $tx = &mut SqliteTx(conn); $op.await }))
            .await
    }};
}

/// A write the writer thread groups with others anyway.
macro_rules! grouped_op {
    ($($t:tt)*) => { write_op!($($t)*) };
}

/// Runs a read of `ops` on a reader connection.
macro_rules! read_op {
    ($self:ident, [$($own:ident),*], |$tx:ident| $op:expr) => {{
        $(let $own = $own.to_owned();)*
        $self
            .read(move |conn| run_now(async { let $tx = &mut SqliteTx(conn); $op.await }))
            .await
    }};
}

with_operations!(implement_store! {
    SqliteStore;
    fn backend(&self) -> &'static str {
        "sqlite"
    }
    fn connections(&self) -> Option<(u32, u32)> {
        None
    }
});

impl Steps for SqliteTx<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

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
