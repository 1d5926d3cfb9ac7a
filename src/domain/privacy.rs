//! Customers' data under Thailand's PDPA: the privacy notice, consent to
//! marketing (separate from joining, recorded each time it is given or
//! withdrawn), and how long an inactive member's data is kept.

use chrono::{DateTime, Months, Utc};
use serde::Serialize;
use utoipa::ToSchema;

/// The longest privacy notice text, in characters (a chat message holds it).
pub const MAX_NOTICE_CHARS: usize = 3_000;

/// The longest retention a programme may set, in months (20 years).
pub const MAX_RETENTION_MONTHS: u32 = 240;

/// The programme's privacy settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct PrivacySettings {
    /// Where the full notice is published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The notice itself (or a summary of it), in Thai and English.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text_th: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text_en: Option<String>,
    /// Goes up with every change of the notice; recorded with each consent
    /// (0: taem's own short notice, before the shop wrote one).
    pub version: i64,
    /// Members with no activity for this many months are anonymised (`None`:
    /// kept until they or the owner erase them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention_months: Option<u32>,
}

/// A notice URL as staff give it: `https://…` (or `http://`), no spaces.
pub fn parse_notice_url(s: &str) -> Result<String, &'static str> {
    let s = s.trim();
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .ok_or("must start with https://")?;
    if rest.is_empty() || s.len() > 500 || s.chars().any(char::is_whitespace) {
        return Err("must be a web address such as https://shop.example/privacy");
    }
    Ok(s.to_string())
}

/// A notice text: trimmed, at most [`MAX_NOTICE_CHARS`]; empty means none.
pub fn parse_notice_text(s: &str) -> Result<Option<String>, &'static str> {
    let s = s.trim();
    if s.chars().count() > MAX_NOTICE_CHARS {
        return Err("is longer than 3,000 characters");
    }
    Ok(Some(s.to_string()).filter(|s| !s.is_empty()))
}

/// What consent is for. Joining needs none: running the points account rests
/// on the membership itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Broadcasts and campaign announcements.
    Marketing,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Marketing => "marketing",
        }
    }
}

/// One grant or withdrawal, as the consent log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Consent {
    pub purpose: String,
    pub granted: bool,
    /// `telegram`, `line`, `terminal`, `staff:<id>`, `cli`, `migrated` (the
    /// state a member had when the log began), `erasure`
    pub via: String,
    /// The privacy notice's version when it was given or withdrawn
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice_version: Option<i64>,
    pub at: DateTime<Utc>,
}

/// Members whose last activity is before this are anonymised by a retention
/// of `months`.
pub fn retention_cutoff(now: DateTime<Utc>, months: u32) -> DateTime<Utc> {
    now.checked_sub_months(Months::new(months)).unwrap_or(now)
}

/// What erasing a member took away.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Erasure {
    /// The anonymous stub's new code (the old one no longer leads anywhere)
    pub stub_code: String,
    /// Points forfeited (a ledger entry says so)
    pub points_forfeited: i64,
    /// Unused vouchers cancelled
    pub vouchers_cancelled: i64,
    /// Store credit forfeited, in minor units
    pub credit_forfeited_minor: i64,
    /// Payments at the till still waiting that were released
    pub payments_released: i64,
    /// Pushes waiting to be sent that were dropped
    pub pushes_dropped: i64,
    /// Erased before: nothing was done now
    pub already: bool,
}

/// What a member loses by erasing themselves, said before they confirm.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ErasureCost {
    pub points: i64,
    pub vouchers: i64,
    pub credit_minor: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_url_is_a_web_address() {
        assert_eq!(
            parse_notice_url(" https://shop.example/privacy "),
            Ok("https://shop.example/privacy".into())
        );
        assert!(parse_notice_url("shop.example/privacy").is_err());
        assert!(parse_notice_url("https://").is_err());
        assert!(parse_notice_url("https://a b").is_err());
        assert!(parse_notice_url("javascript:alert(1)").is_err());
    }

    #[test]
    fn a_notice_text_is_trimmed_and_bounded() {
        assert_eq!(parse_notice_text("  "), Ok(None));
        assert_eq!(parse_notice_text(" We keep "), Ok(Some("We keep".into())));
        assert!(parse_notice_text(&"ก".repeat(MAX_NOTICE_CHARS + 1)).is_err());
        assert!(parse_notice_text(&"ก".repeat(MAX_NOTICE_CHARS)).is_ok());
    }

    #[test]
    fn retention_counts_calendar_months_back() {
        let now: DateTime<Utc> = "2026-03-31T10:00:00Z".parse().unwrap();
        let cut: DateTime<Utc> = "2025-12-31T10:00:00Z".parse().unwrap();
        assert_eq!(retention_cutoff(now, 3), cut);
        let feb: DateTime<Utc> = "2026-02-28T10:00:00Z".parse().unwrap();
        assert_eq!(retention_cutoff(now, 1), feb, "the end of a shorter month");
    }
}
