//! The people who run a programme from the console, what each role may do, and
//! the rules for their passwords.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// What a staff member is allowed to do. Checked on the server for every page
/// and action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything.
    Owner,
    /// Everything but staff, programme settings and merchants' secrets.
    Manager,
    /// The counter only, for their own merchant.
    Cashier,
}

/// A part of the console, or an action in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Find members, record sales and refunds, redeem rewards, use vouchers.
    Counter,
    /// Rewards, campaigns, tiers, members and their adjustments, reports.
    BackOffice,
    /// Invite, change and disable staff; read the audit log.
    Staff,
    /// Programme settings.
    Settings,
    /// Create merchants, rotate their webhook secrets.
    MerchantSecrets,
    /// Export and erase a member's personal data (the owner only).
    PersonalData,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "owner" => Some(Role::Owner),
            "manager" => Some(Role::Manager),
            "cashier" => Some(Role::Cashier),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Manager => "manager",
            Role::Cashier => "cashier",
        }
    }

    /// Whether this role may do `what`.
    pub fn may(self, what: Permission) -> bool {
        match self {
            Role::Owner => true,
            Role::Manager => matches!(what, Permission::Counter | Permission::BackOffice),
            Role::Cashier => what == Permission::Counter,
        }
    }
}

/// A staff member as the console knows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Staff {
    pub id: i64,
    /// Lower-cased.
    pub email: String,
    pub name: String,
    pub role: Role,
    /// The merchant they work for; `None`: every merchant.
    pub merchant_id: Option<String>,
    pub locale: Option<String>,
    /// Whether they have chosen a password (accepted their invitation).
    pub active: bool,
    pub disabled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl Staff {
    /// Whether they may act for `merchant_id` (their own, or any when they
    /// belong to every merchant).
    pub fn acts_for(&self, merchant_id: &str) -> bool {
        self.merchant_id.as_deref().is_none_or(|m| m == merchant_id)
    }

    /// Whether they may do `what` (and are not disabled).
    pub fn may(&self, what: Permission) -> bool {
        self.disabled_at.is_none() && self.role.may(what)
    }
}

/// The shortest password accepted.
pub const MIN_PASSWORD: usize = 10;
/// The longest (Argon2 hashes any length; this keeps a request small).
pub const MAX_PASSWORD: usize = 200;

/// Why a password is refused, if it is.
pub fn password_problem(password: &str, email: &str) -> Option<&'static str> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD {
        return Some("too-short");
    }
    if chars > MAX_PASSWORD {
        return Some("too-long");
    }
    let lower = password.to_lowercase();
    let local = email.split('@').next().unwrap_or_default();
    if lower == email || (local.len() >= 4 && lower.contains(local)) {
        return Some("like-email");
    }
    if password
        .chars()
        .all(|c| c == password.chars().next().unwrap_or(c))
    {
        return Some("too-simple");
    }
    None
}

/// An email address as staff are known by: trimmed, lower-cased, with one `@`
/// between a non-empty name and a dotted domain.
pub fn normalise_email(s: &str) -> Option<String> {
    let s = s.trim().to_lowercase();
    let (name, domain) = s.split_once('@')?;
    let ok = !name.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        && !domain.contains('@')
        && s.len() <= 254;
    ok.then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_allow_what_the_issue_says() {
        use Permission::*;
        for p in [Counter, BackOffice, Staff, Settings, MerchantSecrets] {
            assert!(Role::Owner.may(p));
        }
        assert!(Role::Manager.may(Counter) && Role::Manager.may(BackOffice));
        assert!(!Role::Manager.may(Staff) && !Role::Manager.may(Settings));
        assert!(!Role::Manager.may(MerchantSecrets));
        assert!(Role::Cashier.may(Counter));
        assert!(!Role::Cashier.may(BackOffice) && !Role::Cashier.may(Staff));
        for r in [Role::Owner, Role::Manager, Role::Cashier] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("admin"), None);
    }

    #[test]
    fn a_cashier_acts_for_their_own_merchant_only_and_a_disabled_one_for_none() {
        let mut s = super::Staff {
            id: 1,
            email: "a@b.co".into(),
            name: String::new(),
            role: Role::Cashier,
            merchant_id: Some("m_1".into()),
            locale: None,
            active: true,
            disabled_at: None,
            created_at: Utc::now(),
        };
        assert!(s.acts_for("m_1") && !s.acts_for("m_2"));
        assert!(s.may(Permission::Counter));
        s.merchant_id = None;
        assert!(s.acts_for("m_2"));
        s.disabled_at = Some(Utc::now());
        assert!(!s.may(Permission::Counter));
    }

    #[test]
    fn a_session_ends_when_idle_too_long_and_records_its_use_once_a_minute() {
        let t0 = Utc::now();
        let mut row = SessionRow {
            staff: super::Staff {
                id: 1,
                email: "a@b.co".into(),
                name: String::new(),
                role: Role::Owner,
                merchant_id: None,
                locale: None,
                active: true,
                disabled_at: None,
                created_at: t0,
            },
            csrf: "c".into(),
            last_seen_at: t0,
            idle_hours: 12,
        };
        let at = |secs: i64| t0 + chrono::Duration::seconds(secs);
        assert_eq!(row.state(at(30)), SessionState::Live { touch: false });
        assert_eq!(row.state(at(61)), SessionState::Live { touch: true });
        assert_eq!(row.state(at(12 * 3600)), SessionState::Live { touch: true });
        assert_eq!(row.state(at(12 * 3600 + 1)), SessionState::Ended);
        row.staff.disabled_at = Some(t0);
        assert_eq!(row.state(at(1)), SessionState::Ended);
    }

    #[test]
    fn passwords_must_be_long_and_not_the_email() {
        assert_eq!(password_problem("short", "a@b.co"), Some("too-short"));
        assert_eq!(
            password_problem("aaaaaaaaaaaa", "a@b.co"),
            Some("too-simple")
        );
        assert_eq!(
            password_problem("somchai-2026!", "somchai@shop.co"),
            Some("like-email")
        );
        assert_eq!(password_problem("กาแฟเย็นหวานน้อย", "a@b.co"), None);
        assert_eq!(password_problem("correct horse battery", "a@b.co"), None);
        assert_eq!(
            password_problem(&"x1".repeat(101), "a@b.co"),
            Some("too-long")
        );
    }

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        assert_eq!(
            normalise_email("  Owner@Shop.Example "),
            Some("owner@shop.example".into())
        );
        for bad in [
            "",
            "owner",
            "@shop.example",
            "owner@shop",
            "o@.co",
            "a b@c.co",
            "a@b@c.co",
        ] {
            assert_eq!(normalise_email(bad), None, "{bad}");
        }
    }
}

/// A staff member to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewStaff {
    pub email: String,
    pub name: String,
    pub role: Role,
    pub merchant_id: Option<String>,
    pub locale: Option<String>,
}

/// A change to a staff member: their role, merchant (`None`: all) and whether
/// they are disabled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StaffChange {
    pub role: Role,
    pub merchant_id: Option<String>,
    pub disabled: bool,
}

/// What a one-time link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPurpose {
    /// Accept an invitation: choose a first password.
    Invite,
    /// Choose a new password.
    Reset,
}

impl LinkPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkPurpose::Invite => "invite",
            LinkPurpose::Reset => "reset",
        }
    }
}

/// A console session as stored: its staff member, CSRF token, last use, and
/// the programme's idle limit.
#[derive(Debug, Clone)]
pub struct SessionRow {
    pub staff: Staff,
    pub csrf: String,
    pub last_seen_at: DateTime<Utc>,
    pub idle_hours: i64,
}

/// What a request finds of its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// Live; `touch` when its last use should be recorded (at most once a
    /// minute, so a page full of requests writes nothing).
    Live { touch: bool },
    /// Idle too long, or its staff member is disabled: it ends.
    Ended,
}

impl SessionRow {
    pub fn state(&self, now: DateTime<Utc>) -> SessionState {
        let idle = now - self.last_seen_at;
        if self.staff.disabled_at.is_some() || idle > chrono::Duration::hours(self.idle_hours) {
            SessionState::Ended
        } else {
            SessionState::Live {
                touch: idle > chrono::Duration::minutes(1),
            }
        }
    }
}

/// One line of the audit log: who changed what, with the values before and
/// after (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    /// `staff:<id>` for a person in the console, `cli` for the server's shell.
    pub actor: String,
    pub staff_id: Option<i64>,
    pub action: String,
    pub subject: Option<String>,
    pub before: Option<String>,
    pub after: Option<String>,
    pub at: DateTime<Utc>,
}

/// An audit entry to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAudit {
    pub actor: String,
    pub staff_id: Option<i64>,
    pub action: String,
    pub subject: Option<String>,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// Which audit entries to read: newest first, at most `limit`, optionally only
/// one actor's, one action's, or since a time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub limit: i64,
}
