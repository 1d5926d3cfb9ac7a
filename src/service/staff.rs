//! The console's people: staff added and invited, passwords chosen and checked
//! (Argon2id), sessions started and ended, and the audit log of what they change.
//! Wrong passwords are counted against the account and the address they came
//! from, slowed down and then refused for a while ([`GuessPolicy`]).

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use chrono::{DateTime, Duration, Utc};
use rand::RngExt;
use sha2::{Digest, Sha256};

use super::{Loyalty, Result, ServiceError, invalid};
use crate::domain::Refusal;
use crate::domain::staff::*;
use crate::store::StoreError;

/// Invitation and password-reset links stay valid this long.
pub const LINK_HOURS: i64 = 24;

/// Who makes a change: a person signed in to the console, the server's
/// shell, or the admin API (its token).
#[derive(Debug, Clone)]
pub enum Actor {
    Staff(Staff),
    Cli,
    AdminApi,
}

impl Actor {
    pub(crate) fn name(&self) -> String {
        match self {
            Actor::Staff(s) => format!("staff:{}", s.id),
            Actor::Cli => "cli".into(),
            Actor::AdminApi => "admin-api".into(),
        }
    }

    fn staff_id(&self) -> Option<i64> {
        match self {
            Actor::Staff(s) => Some(s.id),
            Actor::Cli | Actor::AdminApi => None,
        }
    }

    /// An audit entry for a change this actor makes (its values are filled in
    /// by the change itself, in its transaction).
    pub(crate) fn change(&self, action: &str, subject: &str) -> NewAudit {
        NewAudit {
            actor: self.name(),
            staff_id: self.staff_id(),
            action: action.to_string(),
            subject: Some(subject.to_string()),
            before: None,
            after: None,
        }
    }

    /// The one shop a staff member works for (a partner's staff), if so.
    pub fn merchant(&self) -> Option<&str> {
        match self {
            Actor::Staff(s) => s.merchant_id.as_deref(),
            Actor::Cli | Actor::AdminApi => None,
        }
    }

    /// Refuses unless the actor may do `what` (the shell may do everything).
    pub fn require(&self, what: Permission) -> Result<()> {
        match self {
            Actor::Staff(s) if !s.may(what) => Err(ServiceError::Forbidden),
            _ => Ok(()),
        }
    }
}

/// A signed-in session: the token for the cookie (never stored), and the CSRF
/// token every form of the session carries.
#[derive(Debug, Clone)]
pub struct Session {
    pub token: String,
    pub csrf: String,
    pub staff: Staff,
}

/// A fresh random token: 32 bytes, base64url.
fn token() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::rng().random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What the database keeps of a token: its SHA-256, so a copy of the database
/// opens no session and accepts no link.
fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Hashes a password with Argon2id (OWASP's parameters, a fresh salt), off the
/// async threads.
async fn hash_password(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
    })
    .await
    .map_err(|e| ServiceError::Store(StoreError::Corrupt(format!("hashing failed: {e}"))))?
    .map_err(|e| ServiceError::Store(StoreError::Corrupt(format!("hashing failed: {e}"))))
}

/// Whether `password` matches the PHC string `hash`; with no hash (unknown
/// email, or no password chosen yet) a dummy one is checked, so the answer
/// takes as long either way.
async fn verify_password(password: String, hash: Option<String>) -> bool {
    const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$\
        qSvXq0lE1HkD7mQtmy5bs6CJ/yYvcm1bYyLMHKbFkZs";
    let known = hash.is_some();
    let hash = hash.unwrap_or_else(|| DUMMY.to_string());
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash).is_ok_and(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false)
        && known
}

impl Loyalty {
    /// Adds a staff member and makes their invitation link's token (valid
    /// [`LINK_HOURS`]); they choose a password there. Only an owner (or the
    /// shell) adds staff.
    pub async fn add_staff(
        &self,
        actor: &Actor,
        new: NewStaff,
        now: DateTime<Utc>,
    ) -> Result<(Staff, String)> {
        actor.require(Permission::Staff)?;
        let email =
            normalise_email(&new.email).ok_or_else(|| invalid("email", "not an email address"))?;
        if let Some(m) = &new.merchant_id {
            self.store.merchant(m).await?;
        }
        let new = NewStaff { email, ..new };
        let staff = self.store.add_staff(&new, now).await?;
        let token = self.staff_link(&staff, LinkPurpose::Invite, now).await?;
        self.audit(
            actor,
            "staff.add",
            Some(&staff.email),
            None,
            Some(&staff),
            now,
        )
        .await?;
        Ok((staff, token))
    }

    /// A new one-time link for a staff member, made by an owner: an invitation
    /// again for someone who never chose a password, else a password reset.
    /// Audited (without the link).
    pub async fn staff_new_link(
        &self,
        actor: &Actor,
        staff_id: i64,
        now: DateTime<Utc>,
    ) -> Result<(Staff, LinkPurpose, String)> {
        actor.require(Permission::Staff)?;
        let staff = self
            .store
            .staff_list()
            .await?
            .into_iter()
            .find(|s| s.id == staff_id)
            .ok_or(ServiceError::NotFound("staff member"))?;
        let purpose = if staff.active {
            LinkPurpose::Reset
        } else {
            LinkPurpose::Invite
        };
        let token = self.staff_link(&staff, purpose, now).await?;
        let action = match purpose {
            LinkPurpose::Invite => "staff.invite_again",
            LinkPurpose::Reset => "staff.reset_link",
        };
        self.audit::<()>(actor, action, Some(&staff.email), None, None, now)
            .await?;
        Ok((staff, purpose, token))
    }

    /// A new one-time link's token for a staff member (an invitation again, or a
    /// password reset); their earlier link for the same purpose stops working.
    pub async fn staff_link(
        &self,
        staff: &Staff,
        purpose: LinkPurpose,
        now: DateTime<Utc>,
    ) -> Result<String> {
        let token = token();
        let expires = now + Duration::hours(LINK_HOURS);
        self.store
            .add_staff_link(&token_hash(&token), staff.id, purpose, expires, now)
            .await?;
        Ok(token)
    }

    /// Chooses a password through a one-time link; the link is then used up
    /// and the staff member's other sessions end. Returns a new session.
    pub async fn accept_staff_link(
        &self,
        token: &str,
        purpose: LinkPurpose,
        password: &str,
        now: DateTime<Utc>,
    ) -> Result<Session> {
        let hashed = token_hash(token);
        let staff = self.store.staff_link_owner(&hashed, purpose, now).await?;
        if let Some(problem) = password_problem(password, &staff.email) {
            return Err(invalid("password", problem));
        }
        let hash = hash_password(password.to_string()).await?;
        let staff = self
            .store
            .accept_staff_link(&hashed, purpose, &hash, now)
            .await?;
        self.start_session(staff, now).await
    }

    async fn start_session(&self, staff: Staff, now: DateTime<Utc>) -> Result<Session> {
        let (token, csrf) = (token(), token());
        self.store
            .add_session(&token_hash(&token), staff.id, &csrf, now)
            .await?;
        Ok(Session { token, csrf, staff })
    }

    /// Signs in with an email and a password, from `address`. Wrong tries are
    /// counted against both and slowed down, then refused for a while; a
    /// disabled staff member cannot sign in.
    pub async fn sign_in(
        &self,
        email: &str,
        password: &str,
        address: &str,
        now: DateTime<Utc>,
    ) -> Result<Session> {
        let email = normalise_email(email).unwrap_or_default();
        let subjects = vec![format!("staff:{email}"), format!("ip:{address}")];
        let known = self.store.failures("signin", &subjects).await?;
        if let Some(retry_at) = known
            .into_iter()
            .filter_map(|f| self.guess.check(Some(f), now).err())
            .max()
        {
            return Err(Refusal::TooManyTries { retry_at }.into());
        }
        let found = match email.is_empty() {
            true => None,
            false => self.store.credentials(&email).await?,
        };
        let (staff, hash) = match found {
            Some((s, h)) if s.disabled_at.is_none() => (Some(s), h),
            _ => (None, None),
        };
        let password = password.chars().take(MAX_PASSWORD).collect();
        if verify_password(password, hash).await
            && let Some(staff) = staff
        {
            return self.start_session(staff, now).await;
        }
        self.store
            .record_failure("signin", &subjects, now, self.guess.forget_before(now))
            .await?;
        Err(Refusal::SignInFailed.into())
    }

    /// The staff member and CSRF token of a live session.
    pub async fn session(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(Staff, String)>> {
        let hash = token_hash(token);
        let Some(row) = self.store.session(&hash).await? else {
            return Ok(None);
        };
        match row.state(now) {
            SessionState::Ended => {
                self.store.end_session(&hash).await?;
                Ok(None)
            }
            SessionState::Live { touch } => {
                if touch {
                    self.store.touch_session(&hash, now).await?;
                }
                Ok(Some((row.staff, row.csrf)))
            }
        }
    }

    pub async fn sign_out(&self, token: &str) -> Result<()> {
        Ok(self.store.end_session(&token_hash(token)).await?)
    }

    /// Changes a staff member (owners only). An owner cannot demote or disable
    /// themselves, so a programme always keeps one.
    pub async fn update_staff(
        &self,
        actor: &Actor,
        id: i64,
        change: StaffChange,
        now: DateTime<Utc>,
    ) -> Result<Staff> {
        actor.require(Permission::Staff)?;
        if let Actor::Staff(me) = actor
            && me.id == id
            && (change.disabled || change.role != Role::Owner)
        {
            return Err(invalid(
                "role",
                "an owner cannot demote or disable themselves",
            ));
        }
        if let Some(m) = &change.merchant_id {
            self.store.merchant(m).await?;
        }
        let before = self.store.staff(id).await?;
        let after = self.store.update_staff(id, &change, now).await?;
        self.audit(
            actor,
            "staff.change",
            Some(&after.email),
            Some(&before),
            Some(&after),
            now,
        )
        .await?;
        Ok(after)
    }

    pub async fn staff_list(&self, actor: &Actor) -> Result<Vec<Staff>> {
        actor.require(Permission::Staff)?;
        Ok(self.store.staff_list().await?)
    }

    /// Appends a change to the audit log: what, to what, and the values before
    /// and after as JSON.
    pub async fn audit<T: serde::Serialize>(
        &self,
        actor: &Actor,
        action: &str,
        subject: Option<&str>,
        before: Option<&T>,
        after: Option<&T>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let json = |v: Option<&T>| v.and_then(|v| serde_json::to_string(v).ok());
        let entry = NewAudit {
            actor: actor.name(),
            staff_id: actor.staff_id(),
            action: action.to_string(),
            subject: subject.map(str::to_string),
            before: json(before),
            after: json(after),
        };
        Ok(self.store.add_audit(&entry, now).await?)
    }

    /// The audit log, newest first (owners and the shell only).
    pub async fn audit_log(&self, actor: &Actor, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        actor.require(Permission::Staff)?;
        Ok(self.store.audit_log(filter).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passwords_are_argon2id_and_only_the_right_one_matches() {
        let hash = hash_password("correct horse battery".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password("correct horse battery".into(), Some(hash.clone())).await);
        assert!(!verify_password("correct horse battery!".into(), Some(hash)).await);
        assert!(!verify_password("anything".into(), None).await);
    }

    #[test]
    fn tokens_are_random_and_only_their_hash_is_kept() {
        let (a, b) = (token(), token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), a);
    }
}
