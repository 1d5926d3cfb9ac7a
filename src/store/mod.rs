//! Storage. The [`Store`] trait's methods are whole operations, each one database
//! transaction; the SQLite and PostgreSQL implementations keep their own SQL and
//! migrations (`migrations/sqlite`, `migrations/postgres`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

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

mod ops;
mod rows;
pub(crate) mod sql;

mod error;
mod open;
pub use error::{Result, StoreError};
pub use open::{connect, connect_replica, is_postgres_url};

#[macro_use]
mod operations;

/// Declares the [`Store`] trait from [`with_operations`]' list.
macro_rules! declare_store {
    (
        { $($pre:tt)* }
        plain { $(
            $(#[$meta:meta])*
            $kind:ident fn $name:ident(&$this:ident $(, $arg:ident: $argty:ty)* $(,)?) -> $ret:ty
            => [$($own:ident),*] |$tx:ident| $op:expr;
        )* }
        custom { $(
            $(#[$cmeta:meta])*
            fn $cname:ident(&$cthis:ident $(, $carg:ident: $cargty:ty)* $(,)?) -> $cret:ty $body:block
        )* }
    ) => {
        /// Storage. Every method is a whole operation, each one database
        /// transaction (or, for the sweeps, a series of short ones).
        #[async_trait]
        pub trait Store: Send + Sync + 'static {
            $($pre)*
            $( $(#[$meta])* async fn $name(&$this $(, $arg: $argty)*) -> $ret; )*
            $( $(#[$cmeta])* async fn $cname(&$cthis $(, $carg: $cargty)*) -> $cret; )*
        }
    };
}

/// Implements [`Store`] for a backend from [`with_operations`]' list, with the
/// backend's `read_op!` and `write_op!` in scope.
macro_rules! implement_store {
    (
        { $ty:ty; $($pre:tt)* }
        plain { $(
            $(#[$meta:meta])*
            $kind:ident fn $name:ident(&$this:ident $(, $arg:ident: $argty:ty)* $(,)?) -> $ret:ty
            => [$($own:ident),*] |$tx:ident| $op:expr;
        )* }
        custom { $(
            $(#[$cmeta:meta])*
            fn $cname:ident(&$cthis:ident $(, $carg:ident: $cargty:ty)* $(,)?) -> $cret:ty $body:block
        )* }
    ) => {
        #[async_trait]
        impl $crate::store::Store for $ty {
            $($pre)*
            $( async fn $name(&$this $(, $arg: $argty)*) -> $ret {
                $kind!($this, [$($own),*], |$tx| $op)
            } )*
            $( async fn $cname(&$cthis $(, $carg: $cargty)*) -> $cret $body )*
        }
    };
}

with_operations!(declare_store! {
    /// `"sqlite"` or `"postgres"`.
    fn backend(&self) -> &'static str;
    /// Database connections in use and idle (PostgreSQL's pool; `None` on
    /// SQLite, whose one writer and readers are not a pool to watch).
    fn connections(&self) -> Option<(u32, u32)>;
});

// The backends come after the macros above, which they use.
pub mod postgres;
pub mod sqlite;
