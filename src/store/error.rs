//! What a store operation can fail with.

use super::sqlite;
use crate::domain::Refusal;

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
    /// Another transaction recorded a receipt of a batch of purchases while
    /// the batch ran: the batch is undone, and its purchases run again one by
    /// one (never an answer to a caller).
    #[error("a receipt of the batch was recorded meanwhile")]
    Raced,
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
