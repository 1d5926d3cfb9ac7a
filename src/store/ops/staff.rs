//! Staff, their one-time links and sessions, and the audit log.

use chrono::{DateTime, Utc};

use super::map_unique;
use crate::domain::staff::*;
use crate::store::sql::{FromRow, Row, Tx, Value, args};
use crate::store::{Result, StoreError};

const STAFF_COLUMNS: &str = "SELECT s.id, s.email, s.name, s.role, s.merchant_id, s.locale, \
    s.password_hash IS NOT NULL, s.disabled_at, s.created_at FROM staff s";

impl FromRow for Staff {
    /// From `STAFF_COLUMNS`.
    fn from_row(row: &Row) -> Result<Staff> {
        let mut c = row.cols();
        let id = c.next()?;
        let email = c.next()?;
        let name = c.next()?;
        let role: String = c.next()?;
        Ok(Staff {
            id,
            email,
            name,
            role: Role::parse(&role)
                .ok_or_else(|| StoreError::Corrupt(format!("staff role {role:?}")))?,
            merchant_id: c.next()?,
            locale: c.next()?,
            active: c.next()?,
            disabled_at: c.next()?,
            created_at: c.next()?,
        })
    }
}

pub(crate) async fn add_staff(tx: &mut impl Tx, s: &NewStaff, now: DateTime<Utc>) -> Result<Staff> {
    let id = tx
        .insert(
            "INSERT INTO staff (email, name, role, merchant_id, locale, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            args![
                &s.email,
                &s.name,
                s.role.as_str(),
                &s.merchant_id,
                &s.locale,
                now
            ],
        )
        .await
        .map_err(|e| map_unique(e, "email"))?;
    staff(tx, id).await
}

pub(crate) async fn staff(tx: &mut impl Tx, id: i64) -> Result<Staff> {
    tx.one(
        &format!("{STAFF_COLUMNS} WHERE s.id = $1"),
        args![id],
        "staff member",
    )
    .await
}

/// Every staff member, by email.
pub(crate) async fn staff_list(tx: &mut impl Tx) -> Result<Vec<Staff>> {
    tx.all(&format!("{STAFF_COLUMNS} ORDER BY s.email"), &[])
        .await
}

/// A staff member and their password hash, by email (for signing in).
pub(crate) async fn credentials(
    tx: &mut impl Tx,
    email: &str,
) -> Result<Option<(Staff, Option<String>)>> {
    let row: Option<Row> = tx
        .opt(
            "SELECT s.id, s.email, s.name, s.role, s.merchant_id, s.locale, \
             s.password_hash IS NOT NULL, s.disabled_at, s.created_at, s.password_hash \
             FROM staff s WHERE s.email = $1",
            args![email],
        )
        .await?;
    row.map(|r| Ok((Staff::from_row(&r)?, r.get(9)?)))
        .transpose()
}

/// Sets a password (an Argon2id PHC string) and ends every session the staff
/// member had.
pub(crate) async fn set_password(tx: &mut impl Tx, staff_id: i64, hash: &str) -> Result<()> {
    let changed = tx
        .exec(
            "UPDATE staff SET password_hash = $1 WHERE id = $2",
            args![hash, staff_id],
        )
        .await?;
    if changed == 0 {
        return Err(StoreError::NotFound("staff member"));
    }
    end_sessions(tx, staff_id).await
}

/// Changes a staff member's role, merchant and whether they are disabled; a
/// disabled one's sessions end.
pub(crate) async fn update_staff(
    tx: &mut impl Tx,
    id: i64,
    change: &StaffChange,
    now: DateTime<Utc>,
) -> Result<Staff> {
    let changed = tx
        .exec(
            "UPDATE staff SET role = $1, merchant_id = $2, \
             disabled_at = CASE WHEN $3 THEN COALESCE(disabled_at, $4) END WHERE id = $5",
            args![
                change.role.as_str(),
                &change.merchant_id,
                change.disabled,
                now,
                id
            ],
        )
        .await?;
    if changed == 0 {
        return Err(StoreError::NotFound("staff member"));
    }
    if change.disabled {
        end_sessions(tx, id).await?;
    }
    staff(tx, id).await
}

/// Stores a one-time link (its token's hash); the staff member's earlier unused
/// links for the same purpose stop working.
pub(crate) async fn add_link(
    tx: &mut impl Tx,
    (token_hash, staff_id, purpose): (&str, i64, LinkPurpose),
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<()> {
    tx.exec(
        "DELETE FROM staff_tokens WHERE staff_id = $1 AND purpose = $2 AND used_at IS NULL",
        args![staff_id, purpose.as_str()],
    )
    .await?;
    tx.exec(
        "INSERT INTO staff_tokens (token_hash, staff_id, purpose, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
        args![token_hash, staff_id, purpose.as_str(), expires_at, now],
    )
    .await?;
    Ok(())
}

/// Uses a one-time link: the staff member it was made for, if it is unused and
/// unexpired. It cannot be used again.
pub(crate) async fn use_link<T: Tx>(
    tx: &mut T,
    token_hash: &str,
    purpose: LinkPurpose,
    now: DateTime<Utc>,
) -> Result<Staff> {
    let sql = format!(
        "SELECT staff_id FROM staff_tokens WHERE token_hash = $1 AND purpose = $2 \
         AND used_at IS NULL AND expires_at > $3{}",
        T::FOR_UPDATE
    );
    let (staff_id,): (i64,) = tx
        .one(&sql, args![token_hash, purpose.as_str(), now], "link")
        .await?;
    tx.exec(
        "UPDATE staff_tokens SET used_at = $1 WHERE token_hash = $2",
        args![now, token_hash],
    )
    .await?;
    staff(tx, staff_id).await
}

/// The staff member an unused, unexpired link was made for.
pub(crate) async fn link_owner(
    tx: &mut impl Tx,
    token_hash: &str,
    purpose: LinkPurpose,
    now: DateTime<Utc>,
) -> Result<Staff> {
    let (staff_id,): (i64,) = tx
        .one(
            "SELECT staff_id FROM staff_tokens WHERE token_hash = $1 AND purpose = $2 \
             AND used_at IS NULL AND expires_at > $3",
            args![token_hash, purpose.as_str(), now],
            "link",
        )
        .await?;
    staff(tx, staff_id).await
}

/// Uses a one-time link to set a password; the staff member's sessions end.
pub(crate) async fn accept_link<T: Tx>(
    tx: &mut T,
    token_hash: &str,
    purpose: LinkPurpose,
    password_hash: &str,
    now: DateTime<Utc>,
) -> Result<Staff> {
    let s = use_link(tx, token_hash, purpose, now).await?;
    set_password(tx, s.id, password_hash).await?;
    staff(tx, s.id).await
}

/// Starts a session.
pub(crate) async fn add_session(
    tx: &mut impl Tx,
    (token_hash, staff_id, csrf): (&str, i64, &str),
    now: DateTime<Utc>,
) -> Result<()> {
    tx.exec(
        "INSERT INTO staff_sessions (token_hash, staff_id, csrf, created_at, last_seen_at) \
         VALUES ($1, $2, $3, $4, $4)",
        args![token_hash, staff_id, csrf, now],
    )
    .await?;
    Ok(())
}

/// The session a token's hash names, with its last use and the programme's
/// idle limit.
pub(crate) async fn session(tx: &mut impl Tx, token_hash: &str) -> Result<Option<SessionRow>> {
    let row: Option<Row> = tx
        .opt(
            "SELECT s.id, s.email, s.name, s.role, s.merchant_id, s.locale, \
             s.password_hash IS NOT NULL, s.disabled_at, s.created_at, x.csrf, x.last_seen_at, \
             (SELECT session_idle_hours FROM program WHERE id = 1) \
             FROM staff_sessions x JOIN staff s ON s.id = x.staff_id WHERE x.token_hash = $1",
            args![token_hash],
        )
        .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(SessionRow {
        staff: Staff::from_row(&row)?,
        csrf: row.get(9)?,
        last_seen_at: row.get(10)?,
        idle_hours: row.get(11)?,
    }))
}

/// Records a session's use.
pub(crate) async fn touch_session(
    tx: &mut impl Tx,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    tx.exec(
        "UPDATE staff_sessions SET last_seen_at = $1 WHERE token_hash = $2",
        args![now, token_hash],
    )
    .await?;
    Ok(())
}

pub(crate) async fn end_session(tx: &mut impl Tx, token_hash: &str) -> Result<()> {
    tx.exec(
        "DELETE FROM staff_sessions WHERE token_hash = $1",
        args![token_hash],
    )
    .await?;
    Ok(())
}

pub(crate) async fn end_sessions(tx: &mut impl Tx, staff_id: i64) -> Result<()> {
    tx.exec(
        "DELETE FROM staff_sessions WHERE staff_id = $1",
        args![staff_id],
    )
    .await?;
    Ok(())
}

/// Appends to the audit log.
pub(crate) async fn audit(tx: &mut impl Tx, a: &NewAudit, now: DateTime<Utc>) -> Result<()> {
    tx.exec(
        "INSERT INTO audit_log (staff_id, actor, action, subject, before, after, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        args![
            a.staff_id, &a.actor, &a.action, &a.subject, &a.before, &a.after, now
        ],
    )
    .await?;
    Ok(())
}

/// Appends `audit` (if any) with `result` as the value after, in the
/// transaction of the change it records.
pub(crate) async fn audit_change<R: serde::Serialize>(
    tx: &mut impl Tx,
    audit: Option<&NewAudit>,
    result: &R,
    now: DateTime<Utc>,
) -> Result<()> {
    let Some(a) = audit else { return Ok(()) };
    let after = serde_json::to_string(result)
        .map_err(|e| crate::store::StoreError::Corrupt(format!("audit value: {e}")))?;
    let entry = NewAudit {
        after: Some(after),
        ..a.clone()
    };
    self::audit(tx, &entry, now).await
}

/// The audit log, newest first.
pub(crate) async fn audit_log(tx: &mut impl Tx, f: &AuditFilter) -> Result<Vec<AuditEntry>> {
    let rows: Vec<Row> = tx
        .all(
            "SELECT id, actor, staff_id, action, subject, before, after, created_at \
             FROM audit_log WHERE ($1 IS NULL OR actor = $1) AND ($2 IS NULL OR action = $2) \
             AND ($3 IS NULL OR created_at >= $3) ORDER BY id DESC LIMIT $4",
            &[
                Value::from(f.actor.as_deref()),
                Value::from(f.action.as_deref()),
                Value::from(f.since),
                Value::from(f.limit),
            ],
        )
        .await?;
    rows.iter()
        .map(|r| {
            let mut c = r.cols();
            Ok(AuditEntry {
                id: c.next()?,
                actor: c.next()?,
                staff_id: c.next()?,
                action: c.next()?,
                subject: c.next()?,
                before: c.next()?,
                after: c.next()?,
                at: c.next()?,
            })
        })
        .collect()
}
