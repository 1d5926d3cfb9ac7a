//! taem (แต้ม, "points"): a loyalty-points platform. See `docs/ARCHITECTURE.md`
//! for the map of the modules.
#![forbid(unsafe_code)]

pub mod app;
pub mod chat;
pub mod cli;
pub mod config;
pub mod console;
pub mod domain;
pub mod http;
pub mod i18n;
pub mod inbox;
pub mod line;
pub mod metrics;
pub mod notify;
pub mod service;
pub mod store;
pub mod telegram;
