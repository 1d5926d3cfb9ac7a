//! The store's operations as synchronous functions on a connection. The writer
//! thread runs each write inside a transaction (or a savepoint of one), so the
//! functions here only run statements; the readers run the reads.
//!
//! Placeholders are `?1`, `?2`, …: rusqlite binds them by position. Every
//! statement is prepared once per connection (`prepare_cached`).

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::rows::*;
use super::value::{Ts, sqlite_error};
use super::{outbox, rules};
use crate::domain::earn::decide_refund;
use crate::domain::ledger::{self, Allocation, EntryKind, LotView};
use crate::domain::model::*;
use crate::domain::notice::Notice;
use crate::domain::purchase::*;
use crate::domain::redeem;
use crate::domain::{ClaimCode, MemberCode, Money, Points, Refusal, VoucherCode};
use crate::store::rows::*;
use crate::store::{Result, StoreError};

// ---------------------------------------------------------------------------
// Small helpers

/// One row or none.
pub(super) fn one<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    map: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Option<T>> {
    Ok(conn
        .prepare_cached(sql)?
        .query_row(params, map)
        .optional()?)
}

/// Every row.
pub(super) fn all<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, map)?;
    Ok(rows.collect::<rusqlite::Result<Vec<T>>>()?)
}

/// Runs a statement that returns no rows; the number of rows it changed.
pub(super) fn exec(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<usize> {
    Ok(conn.prepare_cached(sql)?.execute(params)?)
}

/// Inserts one row; its id. (`RETURNING` would cost SQLite a temporary table.)
pub(super) fn insert(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<i64> {
    conn.prepare_cached(sql)?.execute(params)?;
    Ok(conn.last_insert_rowid())
}

/// A unique violation becomes "already used"; anything else stays.
fn map_unique(e: StoreError, what: &'static str) -> StoreError {
    match sqlite_error(&e) {
        Some(d) if d.is_unique_violation() => StoreError::IdempotencyConflict(what),
        _ => e,
    }
}

// ---------------------------------------------------------------------------
// Ledger steps, each inside the caller's transaction.

/// Appends an entry to a member whose balance before it is `before`, and moves
/// the cached balance with it; returns the entry id and the balance after.
pub(super) fn append(conn: &Connection, e: &NewEntry<'_>, before: i64) -> Result<(i64, i64)> {
    let after = before + e.points;
    exec(
        conn,
        "UPDATE members SET balance = balance + ?1 WHERE id = ?2",
        params![e.points, e.member_id],
    )?;
    let id = insert(
        conn,
        "INSERT INTO entries (member_id, kind, points, balance_after, merchant_id, \
         purchase_id, voucher_id, lot_id, reference, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            e.member_id,
            e.kind.as_str(),
            e.points,
            after,
            e.merchant_id,
            e.purchase_id,
            e.voucher_id,
            e.lot_id,
            e.reference,
            Ts(e.now),
        ],
    )?;
    Ok((id, after))
}

pub(super) fn member_balance(conn: &Connection, member_id: i64) -> Result<i64> {
    one(
        conn,
        "SELECT balance FROM members WHERE id = ?1",
        [member_id],
        |r| r.get(0),
    )?
    .ok_or(StoreError::NotFound("member"))
}

/// Credits points that can be spent to a member whose balance is `before`: a new
/// lot (holding what is left after any debt is repaid) and the entry. Returns
/// (entry id, balance after).
pub(super) fn credit(
    conn: &Connection,
    e: NewEntry<'_>,
    before: i64,
    timing: LotTiming,
) -> Result<(i64, i64)> {
    let into_lot = ledger::credit_to_lots(Points::new(before), Points::new(e.points)).value();
    let lot_id = insert(
        conn,
        "INSERT INTO lots (member_id, points, remaining, earned_at, available_at, \
         expires_at, merchant_id, purchase_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            e.member_id,
            e.points,
            into_lot,
            Ts(e.now),
            Ts(timing.available_at),
            Ts(timing.expires_at),
            e.merchant_id,
            e.purchase_id,
        ],
    )?;
    append(
        conn,
        &NewEntry {
            lot_id: Some(lot_id),
            ..e
        },
        before,
    )
}

pub(super) fn live_lots(
    conn: &Connection,
    member_id: i64,
    now: DateTime<Utc>,
) -> Result<Vec<LotView>> {
    let rows = all(
        conn,
        &format!("{LOT_COLUMNS} WHERE member_id = ?1 AND remaining > 0 AND expires_at > ?2"),
        params![member_id, Ts(now)],
        LotRow::read,
    )?;
    Ok(rows.iter().map(LotRow::view).collect())
}

/// Takes the planned points out of their lots and records where they came from.
pub(super) fn take_from_lots(conn: &Connection, entry_id: i64, plan: &[Allocation]) -> Result<()> {
    for a in plan {
        exec(
            conn,
            "UPDATE lots SET remaining = remaining - ?1 WHERE id = ?2",
            params![a.points, a.lot_id],
        )?;
        exec(
            conn,
            "INSERT INTO entry_lots (entry_id, lot_id, points) VALUES (?1, ?2, ?3)",
            params![entry_id, a.lot_id, a.points],
        )?;
    }
    Ok(())
}

/// Gives a voucher's points back to the lots they came from and closes it.
fn release_voucher(
    conn: &Connection,
    v: &VoucherRow,
    status: VoucherStatus,
    now: DateTime<Utc>,
) -> Result<i64> {
    let before = member_balance(conn, v.member_id)?;
    let taken = all(
        conn,
        "SELECT l.id, el.points, l.available_at, l.expires_at FROM entry_lots el \
         JOIN lots l ON l.id = el.lot_id WHERE el.entry_id = ?1",
        [v.redeem_entry_id],
        |r| {
            Ok((
                LotView {
                    id: r.get(0)?,
                    remaining: 0,
                    available_at: r.get::<_, Ts>(2)?.0,
                    expires_at: r.get::<_, Ts>(3)?.0,
                },
                r.get::<_, i64>(1)?,
            ))
        },
    )?;
    for a in ledger::plan_release(&taken, Points::new(before), Points::new(v.points)) {
        exec(
            conn,
            "UPDATE lots SET remaining = remaining + ?1 WHERE id = ?2",
            params![a.points, a.lot_id],
        )?;
    }
    let (_, balance) = append(
        conn,
        &NewEntry {
            member_id: v.member_id,
            kind: EntryKind::Release,
            points: v.points,
            merchant_id: None,
            purchase_id: None,
            voucher_id: Some(v.id),
            lot_id: None,
            reference: Some(&v.code),
            now,
        },
        before,
    )?;
    exec(
        conn,
        "UPDATE vouchers SET status = ?1, closed_at = ?2 WHERE id = ?3",
        params![status.as_str(), Ts(now), v.id],
    )?;
    exec(
        conn,
        "UPDATE rewards SET stock = stock + 1 WHERE id = ?1 AND stock IS NOT NULL",
        [v.reward_id],
    )?;
    Ok(balance)
}

/// Expires a member's lots that are past their expiry: one entry for all of them.
/// Returns (lots expired, points expired, balance after).
pub(super) fn expire_member_lots(
    conn: &Connection,
    member_id: i64,
    now: DateTime<Utc>,
) -> Result<(u64, i64, i64)> {
    let before = member_balance(conn, member_id)?;
    let due: Vec<(i64, i64)> = all(
        conn,
        "SELECT id, remaining FROM lots WHERE member_id = ?1 AND remaining > 0 \
         AND expires_at <= ?2",
        params![member_id, Ts(now)],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if due.is_empty() {
        return Ok((0, 0, before));
    }
    let total: i64 = due.iter().map(|(_, r)| r).sum();
    let (entry_id, after) = append(
        conn,
        &NewEntry {
            member_id,
            kind: EntryKind::Expire,
            points: -total,
            merchant_id: None,
            purchase_id: None,
            voucher_id: None,
            lot_id: None,
            reference: None,
            now,
        },
        before,
    )?;
    let plan: Vec<Allocation> = due
        .iter()
        .map(|&(lot_id, points)| Allocation { lot_id, points })
        .collect();
    take_from_lots(conn, entry_id, &plan)?;
    Ok((due.len() as u64, total, after))
}

fn voucher_by_code(conn: &Connection, code: &str) -> Result<VoucherRow> {
    one(
        conn,
        &format!("{VOUCHER_COLUMNS} WHERE code = ?1"),
        [code],
        VoucherRow::read,
    )?
    .ok_or(StoreError::NotFound("voucher"))
}

pub(super) fn purchase_by_receipt(
    conn: &Connection,
    merchant_id: &str,
    receipt_id: &str,
) -> Result<Option<PurchaseRow>> {
    one(
        conn,
        &format!("{PURCHASE_COLUMNS} WHERE p.merchant_id = ?1 AND p.receipt_id = ?2"),
        [merchant_id, receipt_id],
        PurchaseRow::read,
    )
}

// ---------------------------------------------------------------------------
// Reads

pub(super) fn ping(conn: &Connection) -> Result<()> {
    one(conn, "SELECT 1", [], |r| r.get::<_, i64>(0))?;
    Ok(())
}

pub(super) fn program(conn: &Connection) -> Result<Program> {
    type ProgramRow = (String, i64, i64, String, i64, i64, i64, i64);
    let (name, expiry_months, pending_days, cur, referrer, referee, min_spend, version): ProgramRow =
        one(
            conn,
            "SELECT name, expiry_months, pending_days, currency, referrer_points, referee_points, \
             referral_min_spend_minor, settings_version FROM program WHERE id = 1",
            [],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                ))
            },
        )?
    .ok_or_else(|| StoreError::Corrupt("the program row is missing".into()))?;
    Ok(Program {
        name,
        expiry_months: u32::try_from(expiry_months).unwrap_or(12),
        pending_days: u32::try_from(pending_days).unwrap_or(0),
        currency: currency(&cur)?,
        referral: ReferralRule {
            referrer_points: referrer,
            referee_points: referee,
            min_spend_minor: min_spend,
        },
        tiers: rules::tiers(conn)?,
        version,
    })
}

pub(super) fn merchant(conn: &Connection, id: &str) -> Result<Merchant> {
    one(
        conn,
        &format!("{MERCHANT_COLUMNS} WHERE id = ?1"),
        [id],
        MerchantRow::read,
    )?
    .ok_or(StoreError::NotFound("merchant"))?
    .try_into()
}

pub(super) fn merchants(conn: &Connection) -> Result<Vec<Merchant>> {
    all(
        conn,
        &format!("{MERCHANT_COLUMNS} ORDER BY created_at"),
        [],
        MerchantRow::read,
    )?
    .into_iter()
    .map(Merchant::try_from)
    .collect()
}

pub(super) fn member(conn: &Connection, by: &MemberRef) -> Result<Member> {
    let q = |w: &str| format!("{MEMBER_COLUMNS} WHERE {w} = ?1");
    let row = match by {
        MemberRef::Id(id) => one(conn, &q("id"), [id], MemberRow::read)?,
        MemberRef::Code(c) => one(conn, &q("code"), [c.as_str()], MemberRow::read)?,
        MemberRef::Telegram(t) => one(conn, &q("telegram_id"), [t], MemberRow::read)?,
        MemberRef::Line(l) => one(conn, &q("line_id"), [l], MemberRow::read)?,
    };
    row.map(Member::from).ok_or(StoreError::NotFound("member"))
}

pub(super) fn reward(conn: &Connection, id: i64) -> Result<Reward> {
    one(
        conn,
        &format!("{REWARD_COLUMNS} WHERE id = ?1"),
        [id],
        RewardRow::read,
    )?
    .ok_or(StoreError::NotFound("reward"))?
    .try_into()
}

pub(super) fn rewards(conn: &Connection, include_inactive: bool) -> Result<Vec<Reward>> {
    all(
        conn,
        &format!("{REWARD_COLUMNS} WHERE active = 1 OR ?1 ORDER BY cost, id"),
        [include_inactive],
        RewardRow::read,
    )?
    .into_iter()
    .map(Reward::try_from)
    .collect()
}

pub(super) fn voucher(conn: &Connection, code: &str) -> Result<Voucher> {
    voucher_by_code(conn, code)?.try_into()
}

pub(super) fn lots(conn: &Connection, member_id: i64) -> Result<Vec<Lot>> {
    let rows = all(
        conn,
        &format!("{LOT_COLUMNS} WHERE member_id = ?1 AND remaining > 0 ORDER BY expires_at, id"),
        [member_id],
        LotRow::read,
    )?;
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

pub(super) fn vouchers(conn: &Connection, member_id: i64) -> Result<Vec<Voucher>> {
    all(
        conn,
        &format!("{VOUCHER_COLUMNS} WHERE member_id = ?1 ORDER BY issued_at DESC, id DESC"),
        [member_id],
        VoucherRow::read,
    )?
    .into_iter()
    .map(Voucher::try_from)
    .collect()
}

pub(super) fn entries(conn: &Connection, member_id: i64, limit: i64) -> Result<Vec<Entry>> {
    all(
        conn,
        &format!("{ENTRY_COLUMNS} WHERE member_id = ?1 ORDER BY id DESC LIMIT ?2"),
        [member_id, limit],
        EntryRow::read,
    )?
    .into_iter()
    .map(Entry::try_from)
    .collect()
}

pub(super) fn audit(conn: &Connection) -> Result<Vec<LedgerAudit>> {
    all(
        conn,
        "SELECT m.id, m.balance, \
         COALESCE((SELECT SUM(points) FROM entries e WHERE e.member_id = m.id), 0), \
         COALESCE((SELECT SUM(remaining) FROM lots l WHERE l.member_id = m.id), 0) \
         FROM members m ORDER BY m.id",
        [],
        |r| {
            Ok(LedgerAudit {
                member_id: r.get(0)?,
                balance: r.get(1)?,
                entries_sum: r.get(2)?,
                lots_remaining: r.get(3)?,
            })
        },
    )
}

// ---------------------------------------------------------------------------
// Writes

pub(super) fn set_program(conn: &Connection, p: &Program) -> Result<()> {
    exec(
        conn,
        "UPDATE program SET name = ?1, expiry_months = ?2, pending_days = ?3, currency = ?4, \
         referrer_points = ?5, referee_points = ?6, referral_min_spend_minor = ?7, \
         settings_version = settings_version + 1 WHERE id = 1",
        params![
            p.name,
            i64::from(p.expiry_months),
            i64::from(p.pending_days),
            p.currency.code(),
            p.referral.referrer_points,
            p.referral.referee_points,
            p.referral.min_spend_minor,
        ],
    )?;
    rules::set_tiers(conn, &p.tiers)?;
    Ok(())
}

pub(super) fn rotate_merchant_secret(
    conn: &Connection,
    id: &str,
    secret: &Secret,
    grace_until: DateTime<Utc>,
) -> Result<Merchant> {
    let changed = exec(
        conn,
        "UPDATE merchants SET previous_secret = webhook_secret, previous_secret_until = ?3, \
         webhook_secret = ?2 WHERE id = ?1",
        params![id, secret.expose(), Ts(grace_until)],
    )?;
    if changed == 0 {
        return Err(StoreError::NotFound("merchant"));
    }
    merchant(conn, id)
}

pub(super) fn add_merchant(conn: &Connection, m: &Merchant) -> Result<()> {
    exec(
        conn,
        "INSERT INTO merchants (id, name, currency, earn_points, earn_per_minor, \
         webhook_secret, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            m.id,
            m.name,
            m.currency.code(),
            m.earn.points,
            m.earn.per_minor,
            m.webhook_secret.expose(),
            Ts(m.created_at),
        ],
    )
    .map_err(|e| map_unique(e, "merchant id"))?;
    Ok(())
}

pub(super) fn add_member(conn: &Connection, m: &NewMember, now: DateTime<Utc>) -> Result<Member> {
    // A fresh code collides with an existing one about once in 10^11 tries;
    // try again rather than fail.
    for _ in 0..5 {
        let code = MemberCode::generate();
        let res = one(
            conn,
            &format!(
                "INSERT INTO members (code, name, locale, app_locale, telegram_id, line_id, \
                 created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) {MEMBER_RETURNING}"
            ),
            params![
                code.as_str(),
                m.name,
                m.locale,
                m.app_locale,
                m.telegram_id,
                m.line_id,
                Ts(now)
            ],
            MemberRow::read,
        );
        match res {
            Ok(Some(row)) => return Ok(row.into()),
            Ok(None) => return Err(StoreError::Corrupt("INSERT returned no member".into())),
            Err(e)
                if sqlite_error(&e).is_some_and(|d| d.is_unique_violation_on("members.code")) =>
            {
                continue;
            }
            Err(e) => return Err(map_unique(e, "telegram or LINE id")),
        }
    }
    Err(StoreError::Corrupt(
        "could not find a free member code".into(),
    ))
}

pub(super) fn update_member(
    conn: &Connection,
    member_id: i64,
    update: &MemberUpdate,
) -> Result<Member> {
    one(
        conn,
        &format!(
            "UPDATE members SET locale = COALESCE(?2, locale), \
             marketing_opt_in = COALESCE(?3, marketing_opt_in), \
             app_locale = COALESCE(?4, app_locale) WHERE id = ?1 {MEMBER_RETURNING}"
        ),
        params![
            member_id,
            update.locale,
            update.marketing_opt_in,
            update.app_locale
        ],
        MemberRow::read,
    )?
    .map(Member::from)
    .ok_or(StoreError::NotFound("member"))
}

pub(super) fn set_reachable(
    conn: &Connection,
    member_id: i64,
    channel: Channel,
    reachable: bool,
) -> Result<()> {
    let sql = match channel {
        Channel::Telegram => "UPDATE members SET telegram_reachable = ?2 WHERE id = ?1",
        Channel::Line => "UPDATE members SET line_reachable = ?2 WHERE id = ?1",
    };
    exec(conn, sql, params![member_id, reachable])?;
    Ok(())
}

/// Records who invited a member: only once, never themselves, and never the
/// member they invited. Whether it was recorded.
pub(super) fn set_referrer(
    conn: &Connection,
    member_id: i64,
    referrer: &MemberCode,
) -> Result<bool> {
    let changed = exec(
        conn,
        "WITH RECURSIVE up (id) AS (SELECT id FROM members WHERE code = ?2 \
         UNION SELECT m.referred_by FROM members m JOIN up ON m.id = up.id \
         WHERE m.referred_by IS NOT NULL) \
         UPDATE members SET referred_by = (SELECT r.id FROM members r WHERE r.code = ?2) \
         WHERE id = ?1 AND referred_by IS NULL \
         AND EXISTS (SELECT 1 FROM members r WHERE r.code = ?2) \
         AND NOT EXISTS (SELECT 1 FROM up WHERE up.id = ?1) \
         AND NOT EXISTS (SELECT 1 FROM purchases p WHERE p.member_id = ?1)",
        params![member_id, referrer.as_str()],
    )?;
    Ok(changed == 1)
}

pub(super) fn record_purchase(
    conn: &Connection,
    cmd: &PurchaseCommand,
) -> Result<Recorded<PurchaseReceipt>> {
    let buyer = rules::buyer(conn, cmd)?;
    let campaigns = rules::running_campaigns(conn, cmd.occurred_at)?;
    let used = match &buyer {
        Some((b, _)) => rules::member_use(conn, b.id, &capped(&campaigns))?,
        None => Vec::new(),
    };
    let earning = price(cmd, buyer.as_ref().map(|b| &b.0), &campaigns, &used);
    let points = earning.breakdown.total().value();
    let breakdown = serde_json::to_string(&earning.breakdown)
        .map_err(|e| StoreError::Corrupt(format!("purchase breakdown: {e}")))?;
    // A purchase without a member waits for a claim (if it earned anything).
    let claim = (buyer.is_none() && points > 0)
        .then_some((cmd.claim_code.as_str(), Ts(cmd.claim_expires_at)));
    let balance_after = buyer.as_ref().map(|(b, _)| b.balance + points);
    // Nothing inserted: the receipt was seen before (a replay, or a conflict).
    // (`RETURNING` would cost SQLite a temporary table.)
    let inserted = exec(
        conn,
        "INSERT INTO purchases (merchant_id, receipt_id, fingerprint, member_id, amount_minor, \
         currency, occurred_at, items, points, breakdown, balance_after, available_at, \
         claim_code, claim_expires_at, referral_points, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16) \
         ON CONFLICT (merchant_id, receipt_id) DO NOTHING",
        params![
            cmd.merchant_id,
            cmd.receipt_id,
            cmd.fingerprint,
            buyer.as_ref().map(|(b, _)| b.id),
            cmd.amount.minor(),
            cmd.amount.currency().code(),
            Ts(cmd.occurred_at),
            cmd.items_json,
            points,
            breakdown,
            balance_after,
            Ts(cmd.timing.available_at),
            claim.map(|c| c.0),
            claim.map(|c| c.1),
            earning.referral.value(),
            Ts(cmd.now),
        ],
    )?;
    let Some(purchase_id) = (inserted == 1).then(|| conn.last_insert_rowid()) else {
        let p = purchase_by_receipt(conn, &cmd.merchant_id, &cmd.receipt_id)?
            .ok_or(StoreError::NotFound("purchase"))?;
        return if p.fingerprint == cmd.fingerprint {
            Ok(Recorded::Replay(p.receipt()?))
        } else {
            Err(StoreError::IdempotencyConflict("receipt_id"))
        };
    };
    rules::record_awards(
        conn,
        purchase_id,
        buyer.as_ref().map(|(b, _)| b.id),
        &earning.awards,
        cmd.now,
    )?;
    if let Some((b, spend_before)) = &buyer {
        if points > 0 {
            credit(
                conn,
                NewEntry {
                    member_id: b.id,
                    kind: EntryKind::Earn,
                    points,
                    merchant_id: Some(&cmd.merchant_id),
                    purchase_id: Some(purchase_id),
                    voucher_id: None,
                    lot_id: None,
                    reference: Some(&cmd.receipt_id),
                    now: cmd.now,
                },
                b.balance,
                cmd.timing,
            )?;
            if b.has_channel {
                let notice = earned_notice(cmd, &earning, &campaigns, b.balance + points);
                outbox::notify(conn, b.id, &notice, cmd.now)?;
            }
        }
        if b.referral_due(cmd) {
            let pay = ReferralPayment::of(cmd);
            rules::pay_referral(conn, (b.id, b.referred_by), purchase_id, &pay)?;
        }
        rules::upgrade(
            conn,
            b.id,
            (b.tier.clone(), spend_before + counted_spend(cmd)),
            &cmd.rules.tiers,
            "purchase",
            cmd.now,
        )?;
    }
    Ok(Recorded::New(PurchaseReceipt {
        purchase_id,
        receipt_id: cmd.receipt_id.clone(),
        points: Points::new(points),
        breakdown: earning.breakdown,
        member_code: buyer.map(|(b, _)| b.code),
        balance: balance_after.map(Points::new),
        available_at: cmd.timing.available_at,
        claim_code: claim.map(|c| c.0.to_string()),
        claim_expires_at: claim.map(|_| cmd.claim_expires_at),
    }))
}

/// Takes `points` of a refunded purchase back from a member (the buyer, or the
/// referrer it paid), from the purchase's own lot first; a shortfall becomes
/// debt. Returns the member's balance after.
fn claw_back(
    conn: &Connection,
    member_id: i64,
    p: &PurchaseRow,
    points: i64,
    cmd: &RefundCommand,
) -> Result<i64> {
    // Points past their expiry cannot pay a clawback: expire them first, so any
    // shortfall becomes debt and the lots keep matching the balance.
    let (_, _, before) = expire_member_lots(conn, member_id, cmd.now)?;
    if points == 0 {
        return Ok(before);
    }
    let lots = live_lots(conn, member_id, cmd.now)?;
    let own: Option<i64> = one(
        conn,
        "SELECT id FROM lots WHERE purchase_id = ?1 AND member_id = ?2",
        [p.id, member_id],
        |r| r.get(0),
    )?;
    let (plan, _debt) = ledger::plan_clawback(&lots, own, Points::new(points), cmd.now);
    let (entry_id, after) = append(
        conn,
        &NewEntry {
            member_id,
            kind: EntryKind::Clawback,
            points: -points,
            merchant_id: Some(&cmd.merchant_id),
            purchase_id: Some(p.id),
            voucher_id: None,
            lot_id: None,
            reference: Some(&cmd.refund_id),
            now: cmd.now,
        },
        before,
    )?;
    take_from_lots(conn, entry_id, &plan)?;
    Ok(after)
}

pub(super) fn record_refund(
    conn: &Connection,
    cmd: &RefundCommand,
) -> Result<Recorded<RefundReceipt>> {
    type Existing = (String, String, i64, i64, Option<i64>, Option<String>);
    let existing: Option<Existing> = one(
        conn,
        "SELECT r.fingerprint, p.receipt_id, r.purchase_id, r.points, r.balance_after, \
         m.code FROM refunds r JOIN purchases p ON p.id = r.purchase_id \
         LEFT JOIN members m ON m.id = r.member_id \
         WHERE r.merchant_id = ?1 AND r.refund_id = ?2",
        [&cmd.merchant_id, &cmd.refund_id],
        |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        },
    )?;
    if let Some((fingerprint, receipt_id, purchase_id, points, balance, code)) = existing {
        if fingerprint != cmd.fingerprint {
            return Err(StoreError::IdempotencyConflict("refund_id"));
        }
        // The amount still refundable is what it was right after this refund.
        let (amount, refunded_upto): (i64, i64) = one(
            conn,
            "SELECT p.amount_minor, (SELECT SUM(r.amount_minor) FROM refunds r \
             WHERE r.purchase_id = p.id AND r.id <= (SELECT id FROM refunds \
             WHERE merchant_id = ?1 AND refund_id = ?2)) FROM purchases p WHERE p.id = ?3",
            params![cmd.merchant_id, cmd.refund_id, purchase_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?
        .ok_or(StoreError::NotFound("purchase"))?;
        return Ok(Recorded::Replay(RefundReceipt {
            refund_id: cmd.refund_id.clone(),
            receipt_id,
            purchase_id,
            points_clawed_back: Points::new(points),
            refundable_amount: Money::from_minor(amount - refunded_upto, cmd.amount.currency())
                .to_decimal_string(),
            member_code: code,
            balance: balance.map(Points::new),
        }));
    }
    let p = purchase_by_receipt(conn, &cmd.merchant_id, &cmd.receipt_id)?
        .ok_or(StoreError::NotFound("purchase"))?;
    let plan = decide_refund(
        Points::new(p.points),
        Points::new(p.referral_points),
        p.amount_minor,
        p.refunded_minor,
        cmd.amount,
    )?;
    let claw = plan.clawback.value();
    let mut balance = None;
    if let Some(member_id) = p.member_id {
        let after = claw_back(conn, member_id, &p, claw, cmd)?;
        if after < 0 && claw > 0 {
            outbox::notify(
                conn,
                member_id,
                &Notice::NegativeBalance { balance: after },
                cmd.now,
            )?;
        }
        balance = Some(after);
        // A referral paid by this purchase goes back when it is refunded in full.
        let full = p.refunded_minor + cmd.amount.minor() == p.amount_minor;
        if full && p.referrer_points > 0 {
            let referrer: Option<i64> = one(
                conn,
                "SELECT referred_by FROM members WHERE id = ?1",
                [member_id],
                |r| r.get(0),
            )?
            .flatten();
            if let Some(referrer) = referrer {
                claw_back(conn, referrer, &p, p.referrer_points, cmd)?;
            }
        }
    }
    exec(
        conn,
        "UPDATE purchases SET refunded_minor = refunded_minor + ?1, \
         clawed_back = clawed_back + ?2 WHERE id = ?3",
        params![cmd.amount.minor(), claw, p.id],
    )?;
    exec(
        conn,
        "INSERT INTO refunds (merchant_id, refund_id, purchase_id, fingerprint, amount_minor, \
         points, member_id, balance_after, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            cmd.merchant_id,
            cmd.refund_id,
            p.id,
            cmd.fingerprint,
            cmd.amount.minor(),
            claw,
            p.member_id,
            balance,
            Ts(cmd.now),
        ],
    )?;
    Ok(Recorded::New(RefundReceipt {
        refund_id: cmd.refund_id.clone(),
        receipt_id: p.receipt_id,
        purchase_id: p.id,
        points_clawed_back: Points::new(claw),
        refundable_amount: plan.refundable_after.to_decimal_string(),
        member_code: p.member_code,
        balance: balance.map(Points::new),
    }))
}

pub(super) fn claim_receipt(
    conn: &Connection,
    member_id: i64,
    code: &ClaimCode,
    timing: LotTiming,
    now: DateTime<Utc>,
) -> Result<ClaimReceipt> {
    let p = one(
        conn,
        &format!("{PURCHASE_COLUMNS} WHERE p.claim_code = ?1"),
        [code.as_str()],
        PurchaseRow::read,
    )?
    .ok_or(StoreError::NotFound("claim code"))?;
    decide_claim(
        p.claimed_at.is_some() || p.member_id.is_some(),
        p.claim_expires_at,
        now,
    )?;
    let points = p.points - p.clawed_back;
    let before = member_balance(conn, member_id)?;
    let balance = if points > 0 {
        credit(
            conn,
            NewEntry {
                member_id,
                kind: EntryKind::Earn,
                points,
                merchant_id: Some(&p.merchant_id),
                purchase_id: Some(p.id),
                voucher_id: None,
                lot_id: None,
                reference: Some(&p.receipt_id),
                now,
            },
            before,
            timing,
        )?
        .1
    } else {
        before
    };
    exec(
        conn,
        "UPDATE purchases SET member_id = ?1, claimed_at = ?2 WHERE id = ?3",
        params![member_id, Ts(now), p.id],
    )?;
    let program = program(conn)?;
    let pay = ReferralPayment {
        rule: program.referral,
        merchant_id: &p.merchant_id,
        timing,
        now,
    };
    let (bonus, balance) = rules::referral_on_claim(conn, member_id, &p, &program, &pay, balance)?;
    let points = points + bonus;
    // The claimed purchase now counts towards the member's tier.
    rules::upgrade_after_claim(
        conn,
        member_id,
        (&program.tiers, program.currency.code()),
        now,
    )?;
    Ok(ClaimReceipt {
        receipt_id: p.receipt_id,
        merchant_id: p.merchant_id,
        points: Points::new(points),
        balance: Points::new(balance),
    })
}

pub(super) fn add_reward(conn: &Connection, r: &NewReward, now: DateTime<Utc>) -> Result<Reward> {
    one(
        conn,
        &format!(
            "INSERT INTO rewards (name_th, name_en, description_th, description_en, cost, \
             stock, per_member_limit, valid_from, valid_until, face_value_minor, currency, \
             voucher_days, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) {REWARD_RETURNING}"
        ),
        params![
            r.name_th,
            r.name_en,
            r.description_th,
            r.description_en,
            r.cost.value(),
            r.stock,
            r.per_member_limit,
            r.valid_from.map(Ts),
            r.valid_until.map(Ts),
            r.face_value.minor(),
            r.face_value.currency().code(),
            i64::from(r.voucher_days),
            Ts(now),
        ],
        RewardRow::read,
    )?
    .ok_or_else(|| StoreError::Corrupt("INSERT returned no reward".into()))?
    .try_into()
}

pub(super) fn set_reward_active(conn: &Connection, id: i64, active: bool) -> Result<Reward> {
    one(
        conn,
        &format!("UPDATE rewards SET active = ?1 WHERE id = ?2 {REWARD_RETURNING}"),
        params![active, id],
        RewardRow::read,
    )?
    .ok_or(StoreError::NotFound("reward"))?
    .try_into()
}

pub(super) fn redeem(conn: &Connection, cmd: &RedeemCommand) -> Result<Voucher> {
    if let Some(key) = &cmd.request_key
        && let Some(v) = one(
            conn,
            &format!("{VOUCHER_COLUMNS} WHERE member_id = ?1 AND request_key = ?2"),
            params![cmd.member_id, key],
            VoucherRow::read,
        )?
    {
        return v.try_into();
    }
    let balance = member_balance(conn, cmd.member_id)?;
    let reward: Reward = one(
        conn,
        &format!("{REWARD_COLUMNS} WHERE id = ?1"),
        [cmd.reward_id],
        RewardRow::read,
    )?
    .ok_or(StoreError::NotFound("reward"))?
    .try_into()?;
    let held = match reward.per_member_limit {
        None => 0,
        Some(_) => one(
            conn,
            "SELECT COUNT(*) FROM vouchers WHERE member_id = ?1 AND reward_id = ?2 \
             AND status IN ('issued', 'used')",
            [cmd.member_id, cmd.reward_id],
            |r| r.get(0),
        )?
        .unwrap_or(0),
    };
    let lots = live_lots(conn, cmd.member_id, cmd.now)?;
    let plan = redeem::decide(&redeem::RedeemFacts {
        reward: &reward,
        balance,
        held,
        lots: &lots,
        now: cmd.now,
    })?;
    let (entry_id, _) = append(
        conn,
        &NewEntry {
            member_id: cmd.member_id,
            kind: EntryKind::Redeem,
            points: -reward.cost.value(),
            merchant_id: None,
            purchase_id: None,
            voucher_id: None,
            lot_id: None,
            reference: Some(cmd.code.as_str()),
            now: cmd.now,
        },
        balance,
    )?;
    take_from_lots(conn, entry_id, &plan)?;
    exec(
        conn,
        "UPDATE rewards SET stock = stock - 1 WHERE id = ?1 AND stock IS NOT NULL",
        [cmd.reward_id],
    )?;
    let expires_at = cmd.now + chrono::Duration::days(i64::from(reward.voucher_days));
    let voucher = one(
        conn,
        &format!(
            "INSERT INTO vouchers (code, member_id, reward_id, points, status, request_key, \
             redeem_entry_id, issued_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4, 'issued', ?5, ?6, ?7, ?8) {VOUCHER_RETURNING}"
        ),
        params![
            cmd.code.as_str(),
            cmd.member_id,
            cmd.reward_id,
            reward.cost.value(),
            cmd.request_key,
            entry_id,
            Ts(cmd.now),
            Ts(expires_at),
        ],
        VoucherRow::read,
    )?
    .ok_or_else(|| StoreError::Corrupt("INSERT returned no voucher".into()))?;
    if cmd.notify {
        outbox::notify(
            conn,
            cmd.member_id,
            &Notice::VoucherIssued {
                code: cmd.code.as_str().to_string(),
                reward_th: reward.name_th.clone(),
                reward_en: reward.name_en.clone(),
                expires_at,
            },
            cmd.now,
        )?;
    }
    voucher.try_into()
}

pub(super) fn use_voucher(
    conn: &Connection,
    code: &VoucherCode,
    merchant_id: &str,
    now: DateTime<Utc>,
) -> Result<VoucherUse> {
    let v = voucher_by_code(conn, code.as_str())?;
    if let Some(refusal) = voucher_refusal(&v, now) {
        return Err(refusal.into());
    }
    let v = one(
        conn,
        &format!(
            "UPDATE vouchers SET status = 'used', used_at = ?1, used_by = ?2 WHERE id = ?3 \
             {VOUCHER_RETURNING}"
        ),
        params![Ts(now), merchant_id, v.id],
        VoucherRow::read,
    )?
    .ok_or(StoreError::NotFound("voucher"))?;
    let reward = one(
        conn,
        &format!("{REWARD_COLUMNS} WHERE id = ?1"),
        [v.reward_id],
        RewardRow::read,
    )?
    .ok_or(StoreError::NotFound("reward"))?;
    let member = one(
        conn,
        &format!("{MEMBER_COLUMNS} WHERE id = ?1"),
        [v.member_id],
        MemberRow::read,
    )?
    .ok_or(StoreError::NotFound("member"))?;
    outbox::notify(
        conn,
        v.member_id,
        &Notice::VoucherUsed {
            code: v.code.clone(),
            reward_th: reward.name_th.clone(),
            reward_en: reward.name_en.clone(),
            merchant_id: merchant_id.to_string(),
        },
        now,
    )?;
    Ok(VoucherUse {
        voucher: v.try_into()?,
        reward: reward.try_into()?,
        member: member.into(),
    })
}

pub(super) fn cancel_voucher(
    conn: &Connection,
    member_id: i64,
    code: &VoucherCode,
    now: DateTime<Utc>,
) -> Result<Voucher> {
    let v = voucher_by_code(conn, code.as_str())?;
    if v.member_id != member_id {
        return Err(StoreError::NotFound("voucher"));
    }
    if let Some(refusal) = voucher_refusal(&v, now) {
        return Err(refusal.into());
    }
    release_voucher(conn, &v, VoucherStatus::Cancelled, now)?;
    voucher_by_code(conn, code.as_str())?.try_into()
}

pub(super) fn adjust_points(conn: &Connection, cmd: &AdjustCommand) -> Result<Entry> {
    let balance = member_balance(conn, cmd.member_id)?;
    let entry = NewEntry {
        member_id: cmd.member_id,
        kind: EntryKind::Adjust,
        points: cmd.delta.value(),
        merchant_id: None,
        purchase_id: None,
        voucher_id: None,
        lot_id: None,
        reference: Some(&cmd.reason),
        now: cmd.now,
    };
    let (id, after) = if cmd.delta.value() >= 0 {
        credit(conn, entry, balance, cmd.timing)?
    } else {
        let lots = live_lots(conn, cmd.member_id, cmd.now)?;
        let (plan, debt) = ledger::plan_clawback(&lots, None, -cmd.delta, cmd.now);
        if debt.value() > 0 {
            return Err(Refusal::AdjustBelowZero {
                balance: Points::new(balance),
            }
            .into());
        }
        let (id, after) = append(conn, &entry, balance)?;
        take_from_lots(conn, id, &plan)?;
        (id, after)
    };
    Ok(Entry {
        id,
        member_id: cmd.member_id,
        kind: EntryKind::Adjust,
        points: cmd.delta,
        balance_after: Points::new(after),
        merchant_id: None,
        reference: Some(cmd.reason.clone()),
        created_at: cmd.now,
    })
}

/// How many vouchers or members one expiry step handles.
const EXPIRY_CHUNK: i64 = 200;

/// Expires up to [`EXPIRY_CHUNK`] vouchers past their expiry (giving their
/// points back); how many and how many points.
pub(super) fn expire_vouchers(conn: &Connection, now: DateTime<Utc>) -> Result<(u64, i64)> {
    let due = all(
        conn,
        &format!("{VOUCHER_COLUMNS} WHERE status = 'issued' AND expires_at <= ?1 LIMIT ?2"),
        params![Ts(now), EXPIRY_CHUNK],
        VoucherRow::read,
    )?;
    let mut points = 0;
    for v in &due {
        release_voucher(conn, v, VoucherStatus::Expired, now)?;
        points += v.points;
    }
    Ok((due.len() as u64, points))
}

/// Expires the lots past their expiry of up to [`EXPIRY_CHUNK`] members; whether
/// there were any, how many lots and how many points.
pub(super) fn expire_lots(conn: &Connection, now: DateTime<Utc>) -> Result<(bool, u64, i64)> {
    let members: Vec<i64> = all(
        conn,
        "SELECT DISTINCT member_id FROM lots WHERE remaining > 0 AND expires_at <= ?1 LIMIT ?2",
        params![Ts(now), EXPIRY_CHUNK],
        |r| r.get(0),
    )?;
    let (mut lots, mut points) = (0, 0);
    for &member_id in &members {
        let (l, p, _) = expire_member_lots(conn, member_id, now)?;
        lots += l;
        points += p;
    }
    Ok((!members.is_empty(), lots, points))
}
