//! The integration tests: one binary (one link, one `common`), a module per
//! area. Every store, API and chat test runs on SQLite, and on PostgreSQL too
//! when `TEST_POSTGRES_URL` is set.

mod api;
mod audiences;
mod batches;
mod browser;
mod cli;
mod common;
mod console;
mod console_offers;
mod instances;
mod journeys;
mod ledger;
mod line;
mod line_quota;
mod notify;
mod partners;
mod partners_access;
mod payments;
mod privacy;
mod reports;
mod rules;
mod security;
mod telegram;
