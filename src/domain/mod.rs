//! Pure rules of the loyalty program: no I/O, no database, no HTTP.
//!
//! Everything here is deterministic and unit/property tested. Services and stores
//! call into these types; nothing here calls out.

pub mod audience;
pub mod campaign;
pub mod catalogue;
pub mod codes;
pub mod credit;
pub mod earn;
pub mod guess;
pub mod inbox;
pub mod journey;
pub mod ledger;
pub mod liability;
pub mod locale;
pub mod model;
pub mod money;
pub mod notice;
pub mod offer;
pub mod partner;
pub mod payment;
pub mod phone;
pub mod picture;
pub mod points;
pub mod privacy;
pub mod program;
pub mod purchase;
pub mod quota;
pub mod redeem;
pub mod refusal;
pub mod report;
pub mod segment;
pub mod staff;
pub mod tier;
pub mod time;

pub use codes::{ClaimCode, LinkCode, MemberCode, VoucherCode};
pub use earn::{Breakdown, EarnRate, RuleHit};
pub use locale::Locale;
pub use money::{Currency, Money, MoneyError};
pub use points::Points;
pub use refusal::Refusal;
