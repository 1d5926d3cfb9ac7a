//! The programme's settings, merchants, members and their chat accounts, and
//! what is kept only for a while (inbound event ids, wrong guesses, link codes).

use chrono::{DateTime, Utc};

use super::ledger::lock_member;
use super::map_unique;
use crate::domain::guess::Failures;
use crate::domain::model::*;
use crate::domain::{LinkCode, MemberCode, Points, Refusal};
use crate::store::rows::*;
use crate::store::sql::{Row, Tx, Value, args};
use crate::store::{Result, StoreError};

pub(crate) async fn ping(tx: &mut impl Tx) -> Result<()> {
    tx.rows("SELECT 1", &[]).await?;
    Ok(())
}

pub(crate) async fn program(tx: &mut impl Tx) -> Result<Program> {
    // One statement for the whole row (more columns than a tuple decodes).
    let row: Row = tx
        .one(
            "SELECT name, expiry_months, pending_days, currency, referrer_points, \
             referee_points, referral_min_spend_minor, settings_version, session_idle_hours, \
             pay_points, pay_minor, pay_min_points, pay_hold_minutes, pay_earns, \
             point_value_e4, breakage_bp, gross_margin_bp, abc_a_bp, abc_b_bp, \
             privacy_url, privacy_th, privacy_en, privacy_version, retention_months \
             FROM program WHERE id = 1",
            &[],
            "program",
        )
        .await?;
    let mut c = row.cols();
    let (name, expiry_months, pending_days): (String, i64, i64) = (c.next()?, c.next()?, c.next()?);
    let (cur, referrer, referee): (String, i64, i64) = (c.next()?, c.next()?, c.next()?);
    let (min_spend, version, idle): (i64, i64, i64) = (c.next()?, c.next()?, c.next()?);
    let (pay_points, pay_minor): (Option<i64>, Option<i64>) = (c.next()?, c.next()?);
    let (pay_min_points, pay_hold, pay_earns): (i64, i64, bool) = (c.next()?, c.next()?, c.next()?);
    let (point_value_e4, breakage_bp, gross_margin_bp): (Option<i64>, Option<i64>, Option<i64>) =
        (c.next()?, c.next()?, c.next()?);
    let (abc_a_bp, abc_b_bp): (i64, i64) = (c.next()?, c.next()?);
    let (url, text_th, text_en): (Option<String>, Option<String>, Option<String>) =
        (c.next()?, c.next()?, c.next()?);
    let (privacy_version, retention): (i64, Option<i64>) = (c.next()?, c.next()?);
    Ok(Program {
        privacy: crate::domain::privacy::PrivacySettings {
            url,
            text_th,
            text_en,
            version: privacy_version,
            retention_months: retention.and_then(|m| u32::try_from(m).ok()),
        },
        reports: crate::domain::liability::ReportSettings {
            point_value_e4,
            breakage_bp,
            gross_margin_bp,
            abc_a_bp,
            abc_b_bp,
        },
        name,
        expiry_months: u32::try_from(expiry_months).unwrap_or(12),
        pending_days: u32::try_from(pending_days).unwrap_or(0),
        currency: currency(&cur)?,
        referral: ReferralRule {
            referrer_points: referrer,
            referee_points: referee,
            min_spend_minor: min_spend,
        },
        tiers: super::rules::tiers(tx).await?,
        session_idle_hours: u32::try_from(idle).unwrap_or(12),
        pay: pay_points
            .zip(pay_minor)
            .map(|(points, minor)| crate::domain::payment::PayRate { points, minor }),
        pay_min_points,
        pay_hold_minutes: u32::try_from(pay_hold).unwrap_or(5),
        pay_earns,
        version,
    })
}

pub(crate) async fn set_program(tx: &mut impl Tx, p: &Program) -> Result<()> {
    tx.exec(
        "UPDATE program SET name = $1, expiry_months = $2, pending_days = $3, currency = $4, \
         referrer_points = $5, referee_points = $6, referral_min_spend_minor = $7, \
         session_idle_hours = $8, settings_version = settings_version + 1 WHERE id = 1",
        args![
            &p.name,
            i64::from(p.expiry_months),
            i64::from(p.pending_days),
            p.currency.code(),
            p.referral.referrer_points,
            p.referral.referee_points,
            p.referral.min_spend_minor,
            i64::from(p.session_idle_hours),
        ],
    )
    .await?;
    tx.exec(
        "UPDATE program SET pay_points = $1, pay_minor = $2, pay_min_points = $3, \
         pay_hold_minutes = $4, pay_earns = $5 WHERE id = 1",
        args![
            p.pay.map(|r| r.points),
            p.pay.map(|r| r.minor),
            p.pay_min_points,
            i64::from(p.pay_hold_minutes),
            p.pay_earns,
        ],
    )
    .await?;
    let r = &p.reports;
    tx.exec(
        "UPDATE program SET point_value_e4 = $1, breakage_bp = $2, gross_margin_bp = $3, \
         abc_a_bp = $4, abc_b_bp = $5 WHERE id = 1",
        args![
            r.point_value_e4,
            r.breakage_bp,
            r.gross_margin_bp,
            r.abc_a_bp,
            r.abc_b_bp
        ],
    )
    .await?;
    let v = &p.privacy;
    tx.exec(
        "UPDATE program SET privacy_version = privacy_version + 1 WHERE id = 1 \
         AND (privacy_url IS DISTINCT FROM $1 OR privacy_th IS DISTINCT FROM $2 \
              OR privacy_en IS DISTINCT FROM $3)",
        args![&v.url, &v.text_th, &v.text_en],
    )
    .await?;
    tx.exec(
        "UPDATE program SET privacy_url = $1, privacy_th = $2, privacy_en = $3, \
         retention_months = $4 WHERE id = 1",
        args![
            &v.url,
            &v.text_th,
            &v.text_en,
            v.retention_months.map(i64::from)
        ],
    )
    .await?;
    super::rules::set_tiers(tx, &p.tiers).await
}

/// The stored key `name`, or `candidate`, stored now, when there is none.
pub(crate) async fn server_key(
    tx: &mut impl Tx,
    name: &str,
    candidate: &Secret,
    now: DateTime<Utc>,
) -> Result<Secret> {
    tx.exec(
        "INSERT INTO server_keys (name, value, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO NOTHING",
        args![name, candidate.expose(), now],
    )
    .await?;
    let (value,): (String,) = tx
        .one(
            "SELECT value FROM server_keys WHERE name = $1",
            args![name],
            "server key",
        )
        .await?;
    Ok(Secret::new(value))
}

pub(crate) async fn add_merchant(tx: &mut impl Tx, m: &Merchant) -> Result<()> {
    tx.exec(
        "INSERT INTO merchants (id, name, currency, earn_points, earn_per_minor, \
         webhook_secret, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        args![
            &m.id,
            &m.name,
            m.currency.code(),
            m.earn.points,
            m.earn.per_minor,
            m.webhook_secret.expose(),
            m.created_at,
        ],
    )
    .await
    .map_err(|e| map_unique(e, "merchant id"))?;
    Ok(())
}

pub(crate) async fn merchant(tx: &mut impl Tx, id: &str) -> Result<Merchant> {
    tx.one(
        &format!("{MERCHANT_COLUMNS} WHERE id = $1"),
        args![id],
        "merchant",
    )
    .await
}

pub(crate) async fn merchants(tx: &mut impl Tx) -> Result<Vec<Merchant>> {
    tx.all(&format!("{MERCHANT_COLUMNS} ORDER BY created_at"), &[])
        .await
}

/// Gives a merchant a new webhook secret; the old one works until `grace_until`.
pub(crate) async fn rotate_merchant_secret(
    tx: &mut impl Tx,
    id: &str,
    secret: &Secret,
    grace_until: DateTime<Utc>,
) -> Result<Merchant> {
    let changed = tx
        .exec(
            "UPDATE merchants SET previous_secret = webhook_secret, \
             previous_secret_until = $3, webhook_secret = $2 WHERE id = $1",
            args![id, secret.expose(), grace_until],
        )
        .await?;
    if changed == 0 {
        return Err(StoreError::NotFound("merchant"));
    }
    merchant(tx, id).await
}

/// Creates a member with a fresh member code.
pub(crate) async fn add_member(
    tx: &mut impl Tx,
    m: &NewMember,
    now: DateTime<Utc>,
) -> Result<Member> {
    // A fresh code collides with an existing one about once in 10^11 tries;
    // try again rather than fail.
    for _ in 0..5 {
        let code = MemberCode::generate();
        let res = tx
            .one::<Member>(
                &format!(
                    "INSERT INTO members (code, name, locale, app_locale, telegram_id, line_id, \
                     created_at, marketing_opt_in) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                     {MEMBER_RETURNING}"
                ),
                args![
                    code.as_str(),
                    &m.name,
                    &m.locale,
                    &m.app_locale,
                    m.telegram_id,
                    &m.line_id,
                    now,
                    // Consent to marketing is asked for after joining.
                    false
                ],
                "member",
            )
            .await;
        match res {
            Ok(member) => return Ok(member),
            Err(e) if e.is_unique_violation(Some(("members.code", "members_code_key"))) => {
                continue;
            }
            Err(e) => return Err(map_unique(e, "telegram or LINE id")),
        }
    }
    Err(StoreError::Corrupt(
        "could not find a free member code".into(),
    ))
}

pub(crate) async fn member(tx: &mut impl Tx, by: &MemberRef) -> Result<Member> {
    let (column, key): (&str, Value<'_>) = match by {
        MemberRef::Id(id) => ("id", (*id).into()),
        MemberRef::Code(c) => ("code", c.as_str().into()),
        MemberRef::Telegram(t) => ("telegram_id", (*t).into()),
        MemberRef::Line(l) => ("line_id", l.into()),
        MemberRef::Phone(p) => ("phone", p.into()),
    };
    tx.one(
        &format!("{MEMBER_COLUMNS} WHERE {column} = $1"),
        &[key],
        "member",
    )
    .await
}

/// A member's own settings: their language.
pub(crate) async fn update_member(
    tx: &mut impl Tx,
    member_id: i64,
    update: &MemberUpdate,
) -> Result<Member> {
    tx.one(
        &format!(
            "UPDATE members SET locale = COALESCE($2, locale), \
                 app_locale = COALESCE($3, app_locale) WHERE id = $1 {MEMBER_RETURNING}"
        ),
        args![member_id, &update.locale, &update.app_locale],
        "member",
    )
    .await
}

pub(crate) async fn set_reachable(
    tx: &mut impl Tx,
    member_id: i64,
    channel: Channel,
    reachable: bool,
) -> Result<()> {
    let sql = match channel {
        Channel::Telegram => "UPDATE members SET telegram_reachable = $2 WHERE id = $1",
        Channel::Line => "UPDATE members SET line_reachable = $2 WHERE id = $1",
    };
    tx.exec(sql, args![member_id, reachable]).await?;
    Ok(())
}

/// Members whose name starts with `prefix` (any case), by name; `%`, `_` and
/// `\` in the prefix match themselves.
pub(crate) async fn members_named(
    tx: &mut impl Tx,
    prefix: &str,
    limit: i64,
) -> Result<Vec<Member>> {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for ch in prefix.to_lowercase().chars() {
        if matches!(ch, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(ch);
    }
    pattern.push('%');
    tx.all(
        &format!(
            "{MEMBER_COLUMNS} WHERE lower(name) LIKE $1 ESCAPE '\\' ORDER BY name, id LIMIT $2"
        ),
        args![pattern.as_str(), limit],
    )
    .await
}

/// Stores a member's phone number (E.164) and when they agreed to it being
/// kept; a number another member has is refused.
pub(crate) async fn set_phone(
    tx: &mut impl Tx,
    member_id: i64,
    phone: &str,
    now: DateTime<Utc>,
) -> Result<Member> {
    let changed = tx
        .exec(
            "UPDATE members SET phone = $1, phone_consent_at = $2 WHERE id = $3",
            args![phone, now, member_id],
        )
        .await
        .map_err(|e| map_unique(e, "phone"))?;
    if changed == 0 {
        return Err(StoreError::NotFound("member"));
    }
    member(tx, &MemberRef::Id(member_id)).await
}

/// Forgets a member's phone number and the consent to keep it.
pub(crate) async fn clear_phone(tx: &mut impl Tx, member_id: i64) -> Result<Member> {
    let changed = tx
        .exec(
            "UPDATE members SET phone = NULL, phone_consent_at = NULL WHERE id = $1",
            args![member_id],
        )
        .await?;
    if changed == 0 {
        return Err(StoreError::NotFound("member"));
    }
    member(tx, &MemberRef::Id(member_id)).await
}

/// Records who invited a member: only once, only before their first purchase,
/// never themselves and never anyone they (directly or through others) invited.
pub(crate) async fn set_referrer(
    tx: &mut impl Tx,
    member_id: i64,
    referrer: &MemberCode,
) -> Result<bool> {
    let changed = tx
        .exec(
            "WITH RECURSIVE up (id) AS (SELECT id FROM members WHERE code = $2 \
             UNION SELECT m.referred_by FROM members m JOIN up ON m.id = up.id \
             WHERE m.referred_by IS NOT NULL) \
             UPDATE members SET referred_by = (SELECT r.id FROM members r WHERE r.code = $2) \
             WHERE id = $1 AND referred_by IS NULL \
             AND EXISTS (SELECT 1 FROM members r WHERE r.code = $2) \
             AND NOT EXISTS (SELECT 1 FROM up WHERE up.id = $1) \
             AND NOT EXISTS (SELECT 1 FROM purchases p WHERE p.member_id = $1)",
            args![member_id, referrer.as_str()],
        )
        .await?;
    Ok(changed == 1)
}

pub(crate) async fn failures(
    tx: &mut impl Tx,
    kind: &str,
    subjects: &[String],
) -> Result<Vec<Failures>> {
    let mut out = Vec::new();
    for subject in subjects {
        let f: Option<(i64, DateTime<Utc>)> = tx
            .opt(
                "SELECT failures, last_failure_at FROM guesses WHERE subject = $1 AND kind = $2",
                args![subject, kind],
            )
            .await?;
        out.extend(f.map(|(count, last)| Failures {
            count: u32::try_from(count).unwrap_or(u32::MAX),
            last,
        }));
    }
    Ok(out)
}

pub(crate) async fn record_failure(
    tx: &mut impl Tx,
    kind: &str,
    subjects: &[String],
    now: DateTime<Utc>,
    forget_before: DateTime<Utc>,
) -> Result<()> {
    for subject in subjects {
        tx.exec(
            "INSERT INTO guesses (subject, kind, failures, last_failure_at) \
             VALUES ($1, $2, 1, $3) ON CONFLICT (subject, kind) DO UPDATE SET failures = CASE \
             WHEN guesses.last_failure_at <= $4 THEN 1 ELSE guesses.failures + 1 END, \
             last_failure_at = $3",
            args![subject, kind, now, forget_before],
        )
        .await?;
    }
    Ok(())
}

pub(crate) async fn prune(
    tx: &mut impl Tx,
    now: DateTime<Utc>,
    events_before: DateTime<Utc>,
    guesses_before: DateTime<Utc>,
) -> Result<Pruned> {
    Ok(Pruned {
        link_tokens: tx
            .exec(
                "DELETE FROM link_tokens WHERE expires_at < $1 OR used_at IS NOT NULL",
                args![now],
            )
            .await?,
        inbound_events: tx
            .exec(
                "DELETE FROM inbox WHERE handled_at < $1",
                args![events_before],
            )
            .await?,
        guesses: tx
            .exec(
                "DELETE FROM guesses WHERE last_failure_at < $1",
                args![guesses_before],
            )
            .await?,
    })
}

/// Stores a one-time link code; the member's earlier unused code stops working.
pub(crate) async fn create_link(
    tx: &mut impl Tx,
    member_id: i64,
    code: &LinkCode,
    expires_at: DateTime<Utc>,
) -> Result<()> {
    // One open code per member: a new one replaces the last (no row flood).
    tx.exec(
        "DELETE FROM link_tokens WHERE member_id = $1 AND used_at IS NULL",
        args![member_id],
    )
    .await?;
    tx.exec(
        "INSERT INTO link_tokens (token, member_id, expires_at) VALUES ($1, $2, $3)",
        args![code.as_str(), member_id, expires_at],
    )
    .await?;
    Ok(())
}

/// Uses a link code: the chat account `by` becomes the code's member's. The
/// account's own member, if it has no history, is removed.
pub(crate) async fn use_link<T: Tx>(
    tx: &mut T,
    code: &LinkCode,
    by: &MemberRef,
    now: DateTime<Utc>,
) -> Result<Member> {
    let (column, key): (&str, Value<'_>) = match by {
        MemberRef::Telegram(id) => ("telegram", (*id).into()),
        MemberRef::Line(id) => ("line", id.into()),
        _ => return Err(StoreError::NotFound("chat account")),
    };
    let lock = T::FOR_UPDATE;
    let token: Option<(i64, DateTime<Utc>, Option<DateTime<Utc>>)> = tx
        .opt(
            &format!(
                "SELECT member_id, expires_at, used_at FROM link_tokens WHERE token = $1{lock}"
            ),
            args![code.as_str()],
        )
        .await?;
    let target = match token {
        Some((member_id, expires_at, None)) if expires_at > now => member_id,
        _ => return Err(Refusal::LinkInvalid.into()),
    };
    lock_member(tx, target).await?;
    // The member this chat account belongs to now, if any.
    let current: Option<(i64,)> = tx
        .opt(
            &format!("SELECT id FROM members WHERE {column}_id = $1{lock}"),
            std::slice::from_ref(&key),
        )
        .await?;
    let current = current.map(|c| c.0);
    if current != Some(target) {
        let (taken,): (bool,) = tx
            .one(
                &format!("SELECT {column}_id IS NOT NULL FROM members WHERE id = $1"),
                args![target],
                "member",
            )
            .await?;
        if taken {
            return Err(Refusal::LinkTaken.into());
        }
        if let Some(old) = current {
            let (history,): (bool,) = tx
                .one(
                    "SELECT EXISTS (SELECT 1 FROM entries WHERE member_id = $1) \
                     OR EXISTS (SELECT 1 FROM purchases WHERE member_id = $1) \
                     OR EXISTS (SELECT 1 FROM vouchers WHERE member_id = $1) \
                     OR EXISTS (SELECT 1 FROM members WHERE referred_by = $1)",
                    args![old],
                    "member",
                )
                .await?;
            if history {
                return Err(Refusal::LinkHasHistory.into());
            }
            tx.exec("DELETE FROM link_tokens WHERE member_id = $1", args![old])
                .await?;
            tx.exec("DELETE FROM members WHERE id = $1", args![old])
                .await?;
        }
        tx.exec(
            &format!(
                "UPDATE members SET {column}_id = $1, {column}_reachable = TRUE WHERE id = $2"
            ),
            &[key, target.into()],
        )
        .await?;
    }
    tx.exec(
        "UPDATE link_tokens SET used_at = $1 WHERE token = $2",
        args![now, code.as_str()],
    )
    .await?;
    member(tx, &MemberRef::Id(target)).await
}

pub(crate) async fn lots(tx: &mut impl Tx, member_id: i64) -> Result<Vec<Lot>> {
    let rows: Vec<LotRow> = tx
        .all(
            &format!(
                "{LOT_COLUMNS} WHERE member_id = $1 AND remaining > 0 ORDER BY expires_at, id"
            ),
            args![member_id],
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| Lot {
            id: r.id,
            points: Points::new(r.points),
            remaining: Points::new(r.remaining),
            earned_at: r.earned_at,
            available_at: r.available_at,
            expires_at: r.expires_at,
            merchant_id: r.merchant_id,
        })
        .collect())
}

/// A member's newest entries first.
pub(crate) async fn entries(tx: &mut impl Tx, member_id: i64, limit: i64) -> Result<Vec<Entry>> {
    tx.all(
        &format!("{ENTRY_COLUMNS} WHERE member_id = $1 ORDER BY id DESC LIMIT $2"),
        args![member_id, limit],
    )
    .await
}

/// Every member's balance against their entries and lots, and their store
/// credit against its entries.
pub(crate) async fn audit(tx: &mut impl Tx) -> Result<Vec<LedgerAudit>> {
    let rows: Vec<(i64, i64, i64, i64, i64, i64)> = tx
        .all(
            "SELECT m.id, m.balance, \
             CAST(COALESCE((SELECT SUM(points) FROM entries e WHERE e.member_id = m.id), 0) \
             AS BIGINT), \
             CAST(COALESCE((SELECT SUM(remaining) FROM lots l WHERE l.member_id = m.id), 0) \
             AS BIGINT), m.credit_minor, \
             CAST(COALESCE((SELECT SUM(amount_minor) FROM credit_entries c \
             WHERE c.member_id = m.id), 0) AS BIGINT) FROM members m ORDER BY m.id",
            &[],
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(
            |(member_id, balance, entries_sum, lots_remaining, credit, credit_sum)| LedgerAudit {
                member_id,
                balance,
                entries_sum,
                lots_remaining,
                credit,
                credit_entries_sum: credit_sum,
            },
        )
        .collect())
}
