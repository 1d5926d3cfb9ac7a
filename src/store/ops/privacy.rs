//! Customers' data (PDPA): consent to marketing and its log, a member's whole
//! file for export, erasure to an anonymous stub that keeps the ledger true,
//! and the retention sweep's reads.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value as Json, json};

use super::Steps;
use super::credit::NewCredit;
use super::ledger::lock_member;
use crate::domain::credit::CreditKind;
use crate::domain::ledger::{Allocation, EntryKind};
use crate::domain::model::{Member, VoucherStatus};
use crate::domain::privacy::{Consent, Erasure};
use crate::store::rows::{MEMBER_COLUMNS, NewEntry, VOUCHER_COLUMNS, VoucherRow};
use crate::store::sql::{Cell, Row, Tx, args};
use crate::store::{Result, StoreError};

/// The reference on the ledger entries erasure writes.
pub(crate) const ERASURE: &str = "erasure";

async fn member(tx: &mut impl Tx, member_id: i64) -> Result<Member> {
    tx.one(
        &format!("{MEMBER_COLUMNS} WHERE id = $1"),
        args![member_id],
        "member",
    )
    .await
}

/// Records a grant or withdrawal of marketing consent (with the privacy
/// notice's version) and sets the member's state to it; an erased member's is
/// not changed.
pub(crate) async fn record_consent(
    tx: &mut impl Tx,
    (member_id, granted): (i64, bool),
    via: &str,
    now: DateTime<Utc>,
) -> Result<Member> {
    let (version,): (i64,) = tx
        .one(
            "SELECT privacy_version FROM program WHERE id = 1",
            &[],
            "program",
        )
        .await?;
    let changed = tx
        .exec(
            "UPDATE members SET marketing_opt_in = $1, \
             consent_asked_at = COALESCE(consent_asked_at, $2) \
             WHERE id = $3 AND erased_at IS NULL",
            args![granted, now, member_id],
        )
        .await?;
    if changed == 0 {
        return Err(StoreError::NotFound("member"));
    }
    tx.exec(
        "INSERT INTO consents (member_id, purpose, granted, via, notice_version, created_at) \
         VALUES ($1, 'marketing', $2, $3, $4, $5)",
        args![member_id, granted, via, version, now],
    )
    .await?;
    member(tx, member_id).await
}

/// Marks the member asked for consent; `true` only the first time (so they
/// are asked once, even when two messages arrive together).
pub(crate) async fn ask_consent(
    tx: &mut impl Tx,
    member_id: i64,
    now: DateTime<Utc>,
) -> Result<bool> {
    Ok(tx
        .exec(
            "UPDATE members SET consent_asked_at = $1 \
             WHERE id = $2 AND consent_asked_at IS NULL AND erased_at IS NULL",
            args![now, member_id],
        )
        .await?
        == 1)
}

/// The member's consent log, oldest first.
pub(crate) async fn consents(tx: &mut impl Tx, member_id: i64) -> Result<Vec<Consent>> {
    type ConsentRow = (String, bool, String, Option<i64>, DateTime<Utc>);
    let rows: Vec<ConsentRow> = tx
        .all(
            "SELECT purpose, granted, via, notice_version, created_at FROM consents \
             WHERE member_id = $1 ORDER BY id",
            args![member_id],
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|(purpose, granted, via, notice_version, at)| Consent {
            purpose,
            granted,
            via,
            notice_version,
            at,
        })
        .collect())
}

/// Marks the member seen in chat today (once a day at most), for retention.
pub(crate) async fn seen(tx: &mut impl Tx, member_id: i64, now: DateTime<Utc>) -> Result<()> {
    let day_ago = now - chrono::Duration::days(1);
    tx.exec(
        "UPDATE members SET last_seen_at = $1 WHERE id = $2 \
         AND (last_seen_at IS NULL OR last_seen_at < $3)",
        args![now, member_id, day_ago],
    )
    .await?;
    Ok(())
}

/// How a column of the member's file reads.
#[derive(Clone, Copy)]
enum K {
    /// A number.
    I,
    /// Text.
    T,
    /// A time.
    Ts,
    /// Yes or no.
    B,
    /// JSON kept as text.
    J,
}

fn json_of(cell: &Cell, k: K) -> Json {
    let row = Row(vec![cell.clone()]);
    match k {
        K::I => row
            .get::<Option<i64>>(0)
            .ok()
            .flatten()
            .map_or(Json::Null, Json::from),
        K::T => row
            .get::<Option<String>>(0)
            .ok()
            .flatten()
            .map_or(Json::Null, Json::from),
        K::Ts => row
            .get::<Option<DateTime<Utc>>>(0)
            .ok()
            .flatten()
            .map_or(Json::Null, |t| Json::from(t.to_rfc3339())),
        K::B => row
            .get::<Option<bool>>(0)
            .ok()
            .flatten()
            .map_or(Json::Null, Json::from),
        K::J => row
            .get::<Option<String>>(0)
            .ok()
            .flatten()
            .map_or(Json::Null, |s| {
                serde_json::from_str(&s).unwrap_or(Json::from(s))
            }),
    }
}

/// A part of the file: its name, what it is read from (`FROM …`), its columns.
type Section = (&'static str, &'static str, &'static [(&'static str, K)]);

/// The rows `sql` (selecting `cols`' expressions in order, `$1` the member)
/// reads, as JSON objects keyed by the columns' names.
async fn section(
    tx: &mut impl Tx,
    (from, cols): (&str, &[(&str, K)]),
    member_id: i64,
) -> Result<Json> {
    let select: Vec<&str> = cols.iter().map(|(c, _)| *c).collect();
    let rows = tx
        .rows(
            &format!("SELECT {} {from}", select.join(", ")),
            args![member_id],
        )
        .await?;
    Ok(Json::Array(
        rows.iter()
            .map(|r| {
                let mut o = Map::new();
                for (i, (c, k)) in cols.iter().enumerate() {
                    let name = c.rsplit(['.', ' ']).next().unwrap_or(c);
                    o.insert(
                        name.to_string(),
                        json_of(r.0.get(i).unwrap_or(&Cell::Null), *k),
                    );
                }
                Json::Object(o)
            })
            .collect(),
    ))
}

/// Everything taem holds about a member, as JSON: their profile and consents,
/// ledger and lots, purchases and refunds, vouchers, store credit, payments at
/// tills, tier changes, campaign bonuses, segment, referrals and the notices
/// sent to them.
pub(crate) async fn member_file(tx: &mut impl Tx, member_id: i64) -> Result<Json> {
    use K::*;
    let profile = section(
        tx,
        (
            "FROM members WHERE id = $1",
            &[
                ("code", T),
                ("name", T),
                ("phone", T),
                ("phone_consent_at", Ts),
                ("birth_day", I),
                ("birth_month", I),
                ("birthday_set_at", Ts),
                ("locale", T),
                ("app_locale", T),
                ("telegram_id", I),
                ("line_id", T),
                ("marketing_opt_in", B),
                ("consent_asked_at", Ts),
                ("telegram_reachable", B),
                ("line_reachable", B),
                ("balance", I),
                ("credit_minor", I),
                ("tier", T),
                ("tier_since", Ts),
                ("created_at", Ts),
                ("last_seen_at", Ts),
                ("erased_at", Ts),
            ],
        ),
        member_id,
    )
    .await?;
    let Some(profile) = profile.as_array().and_then(|a| a.first()).cloned() else {
        return Err(StoreError::NotFound("member"));
    };
    let mut file = Map::new();
    file.insert("profile".into(), profile);
    let sections: [Section; 14] = [
        (
            "consents",
            "FROM consents WHERE member_id = $1 ORDER BY id",
            &[
                ("purpose", T),
                ("granted", B),
                ("via", T),
                ("notice_version", I),
                ("created_at", Ts),
            ],
        ),
        (
            "ledger",
            "FROM entries WHERE member_id = $1 ORDER BY id",
            &[
                ("id", I),
                ("kind", T),
                ("points", I),
                ("balance_after", I),
                ("merchant_id", T),
                ("purchase_id", I),
                ("voucher_id", I),
                ("reference", T),
                ("created_at", Ts),
            ],
        ),
        (
            "lots",
            "FROM lots WHERE member_id = $1 ORDER BY id",
            &[
                ("id", I),
                ("points", I),
                ("remaining", I),
                ("earned_at", Ts),
                ("available_at", Ts),
                ("expires_at", Ts),
                ("merchant_id", T),
                ("purchase_id", I),
            ],
        ),
        (
            "purchases",
            "FROM purchases p LEFT JOIN merchants m ON m.id = p.merchant_id \
             WHERE p.member_id = $1 ORDER BY p.id",
            &[
                ("p.id", I),
                ("m.name AS shop", T),
                ("p.receipt_id", T),
                ("p.amount_minor", I),
                ("p.currency", T),
                ("p.occurred_at", Ts),
                ("p.items", J),
                ("p.points", I),
                ("p.refunded_minor", I),
                ("p.claimed_at", Ts),
            ],
        ),
        (
            "refunds",
            "FROM refunds r LEFT JOIN merchants m ON m.id = r.merchant_id \
             WHERE r.member_id = $1 ORDER BY r.id",
            &[
                ("m.name AS shop", T),
                ("r.refund_id", T),
                ("r.purchase_id", I),
                ("r.amount_minor", I),
                ("r.points", I),
                ("r.created_at", Ts),
            ],
        ),
        (
            "vouchers",
            "FROM vouchers v JOIN rewards r ON r.id = v.reward_id \
             WHERE v.member_id = $1 ORDER BY v.id",
            &[
                ("v.code", T),
                ("r.name_en AS reward_en", T),
                ("r.name_th AS reward_th", T),
                ("v.points", I),
                ("v.status", T),
                ("v.issued_at", Ts),
                ("v.expires_at", Ts),
                ("v.used_at", Ts),
                ("v.takeoff", J),
            ],
        ),
        (
            "store_credit",
            "FROM credit_entries WHERE member_id = $1 ORDER BY id",
            &[
                ("kind", T),
                ("amount_minor", I),
                ("currency", T),
                ("balance_after", I),
                ("merchant_id", T),
                ("created_at", Ts),
            ],
        ),
        (
            "payments_at_tills",
            "FROM point_payments WHERE member_id = $1 ORDER BY created_at",
            &[
                ("id", T),
                ("merchant_id", T),
                ("source", T),
                ("points", I),
                ("amount_minor", I),
                ("currency", T),
                ("status", T),
                ("created_at", Ts),
            ],
        ),
        (
            "tier_changes",
            "FROM tier_changes WHERE member_id = $1 ORDER BY id",
            &[
                ("from_tier", T),
                ("to_tier", T),
                ("reason", T),
                ("created_at", Ts),
            ],
        ),
        (
            "campaign_bonuses",
            "FROM campaign_awards a JOIN campaigns c ON c.id = a.campaign_id \
             WHERE a.member_id = $1 ORDER BY a.created_at",
            &[
                ("c.name_en AS campaign_en", T),
                ("c.name_th AS campaign_th", T),
                ("a.points", I),
                ("a.purchase_id", I),
                ("a.created_at", Ts),
            ],
        ),
        (
            "journeys",
            "FROM journey_sends WHERE member_id = $1 ORDER BY sent_at",
            &[
                ("kind", T),
                ("key", T),
                ("held_out", B),
                ("points", I),
                ("voucher_id", I),
                ("sent_at", Ts),
            ],
        ),
        (
            "segment",
            "FROM member_segments s JOIN segment_runs r ON r.id = s.run_id \
             WHERE s.member_id = $1 AND r.done = TRUE ORDER BY r.id DESC",
            &[
                ("s.class", T),
                ("s.segment", T),
                ("s.r", I),
                ("s.f", I),
                ("s.m", I),
                ("s.favourite_category", T),
                ("r.computed_at", Ts),
            ],
        ),
        (
            "referrals",
            "FROM members WHERE referred_by = $1 ORDER BY id",
            &[("created_at AS friend_joined_at", Ts)],
        ),
        (
            "notices",
            "FROM outbox WHERE member_id = $1 ORDER BY id",
            &[
                ("channel", T),
                ("kind", T),
                ("marketing", B),
                ("payload", J),
                ("status", T),
                ("created_at", Ts),
                ("sent_at", Ts),
            ],
        ),
    ];
    for (name, from, cols) in sections {
        file.insert(name.into(), section(tx, (from, cols), member_id).await?);
    }
    let referred_by: Option<(Option<String>,)> = tx
        .opt(
            "SELECT r.code FROM members m JOIN members r ON r.id = m.referred_by \
             WHERE m.id = $1",
            args![member_id],
        )
        .await?;
    file.insert(
        "invited_by".into(),
        json!(referred_by.and_then(|(code,)| code)),
    );
    Ok(Json::Object(file))
}

/// Erases a member's personal data, in one transaction: payments waiting at a
/// till are released and unused vouchers cancelled (their points go back),
/// then every point left and all store credit are forfeited with entries that
/// say so; staff's free text about them is blanked; pending pushes are dropped
/// and sent ones emptied; codes, tokens and guesses are deleted; the row keeps
/// its id, balance and history under a new code, with nothing that names the
/// person. Erasing again does nothing.
pub(crate) async fn erase_member<T: Steps>(
    tx: &mut T,
    member_id: i64,
    via: &str,
    now: DateTime<Utc>,
) -> Result<Erasure> {
    lock_member(tx, member_id).await?;
    let m = member(tx, member_id).await?;
    if m.erased_at.is_some() {
        return Ok(Erasure {
            stub_code: m.code,
            already: true,
            ..Erasure::default()
        });
    }
    let mut done = Erasure::default();
    let waiting: Vec<(String,)> = tx
        .all(
            "SELECT id FROM point_payments WHERE member_id = $1 \
             AND status IN ('awaiting_confirmation', 'confirmed') ORDER BY id",
            args![member_id],
        )
        .await?;
    for (id,) in waiting {
        super::payments::release_for_erasure(tx, &id, now).await?;
        done.payments_released += 1;
    }
    let vouchers: Vec<VoucherRow> = tx
        .all(
            &format!("{VOUCHER_COLUMNS} WHERE member_id = $1 AND status = 'issued' ORDER BY id"),
            args![member_id],
        )
        .await?;
    for v in &vouchers {
        super::ledger::release_voucher(tx, v, VoucherStatus::Cancelled, now).await?;
        done.vouchers_cancelled += 1;
    }
    // Staff's free text about the member (adjustments' reasons) goes first.
    tx.exec(
        "UPDATE entries SET reference = NULL WHERE member_id = $1 AND kind = 'adjust' \
         AND reference IS NOT NULL",
        args![member_id],
    )
    .await?;
    let lots: Vec<(i64, i64)> = tx
        .all(
            "SELECT id, remaining FROM lots WHERE member_id = $1 AND remaining > 0 ORDER BY id",
            args![member_id],
        )
        .await?;
    let points: i64 = lots.iter().map(|(_, p)| p).sum();
    if points > 0 {
        let before = lock_member(tx, member_id).await?;
        let entry = NewEntry {
            member_id,
            kind: EntryKind::Adjust,
            points: -points,
            merchant_id: None,
            purchase_id: None,
            voucher_id: None,
            lot_id: None,
            reference: Some(ERASURE),
            now,
        };
        let plan: Vec<Allocation> = lots
            .iter()
            .map(|(lot_id, points)| Allocation {
                lot_id: *lot_id,
                points: *points,
            })
            .collect();
        tx.debit(&entry, before, &plan).await?;
        done.points_forfeited = points;
    }
    let credit = super::credit::balance(tx, member_id).await?;
    if credit > 0 {
        let (currency,): (String,) = tx
            .one("SELECT currency FROM program WHERE id = 1", &[], "program")
            .await?;
        let currency: crate::domain::Currency = currency
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("currency {currency:?}")))?;
        super::credit::append(
            tx,
            &NewCredit {
                member_id,
                kind: CreditKind::Forfeit,
                amount: crate::domain::Money::from_minor(-credit, currency),
                merchant_id: None,
                voucher_id: None,
                reference: Some(ERASURE),
                now,
            },
        )
        .await?;
        done.credit_forfeited_minor = credit;
    }
    done.pushes_dropped = i64::try_from(
        tx.exec(
            "UPDATE outbox SET status = 'skipped', last_error = 'erased', lease_until = NULL \
             WHERE member_id = $1 AND status = 'queued'",
            args![member_id],
        )
        .await?,
    )
    .unwrap_or(0);
    tx.exec(
        "UPDATE outbox SET payload = '{}', locale = NULL, last_error = NULL \
         WHERE member_id = $1",
        args![member_id],
    )
    .await?;
    let stub = crate::domain::MemberCode::generate();
    tx.exec(
        "UPDATE audit_log SET subject = $1, before = NULL, after = NULL WHERE subject = $2",
        args![stub.as_str(), m.code.as_str()],
    )
    .await?;
    let mut subjects = vec![format!("member:{member_id}")];
    subjects.extend(m.telegram_id.map(|id| format!("telegram:{id}")));
    subjects.extend(m.line_id.as_ref().map(|id| format!("line:{id}")));
    for subject in &subjects {
        tx.exec("DELETE FROM guesses WHERE subject = $1", args![subject])
            .await?;
    }
    for table in ["link_tokens", "pay_codes", "member_segments"] {
        tx.exec(
            &format!("DELETE FROM {table} WHERE member_id = $1"),
            args![member_id],
        )
        .await?;
    }
    if m.marketing_opt_in {
        tx.exec(
            "INSERT INTO consents (member_id, purpose, granted, via, notice_version, created_at) \
             SELECT $1, 'marketing', FALSE, $2, privacy_version, $3 FROM program WHERE id = 1",
            args![member_id, via, now],
        )
        .await?;
    }
    tx.exec(
        "UPDATE members SET code = $1, name = NULL, phone = NULL, phone_consent_at = NULL, \
         locale = NULL, app_locale = NULL, telegram_id = NULL, line_id = NULL, \
         marketing_opt_in = FALSE, telegram_reachable = FALSE, line_reachable = FALSE, \
         last_seen_at = NULL, birth_day = NULL, birth_month = NULL, birthday_set_at = NULL, \
         erased_at = $2 WHERE id = $3",
        args![stub.as_str(), now, member_id],
    )
    .await?;
    done.stub_code = stub.as_str().to_string();
    Ok(done)
}

/// Members (not erased) with no activity since `cutoff`: joined, bought,
/// moved points (expiry aside), gave or withdrew consent, or wrote in chat
/// before it. At most `limit`, after `after`, in id order.
pub(crate) async fn inactive_members(
    tx: &mut impl Tx,
    cutoff: DateTime<Utc>,
    (after, limit): (i64, i64),
) -> Result<Vec<i64>> {
    let rows: Vec<(i64,)> = tx
        .all(
            "SELECT m.id FROM members m WHERE m.erased_at IS NULL AND m.id > $2 \
             AND m.created_at < $1 AND (m.last_seen_at IS NULL OR m.last_seen_at < $1) \
             AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.member_id = m.id \
                             AND e.created_at >= $1 AND e.kind <> 'expire') \
             AND NOT EXISTS (SELECT 1 FROM purchases p WHERE p.member_id = m.id \
                             AND p.created_at >= $1) \
             AND NOT EXISTS (SELECT 1 FROM consents c WHERE c.member_id = m.id \
                             AND c.created_at >= $1 AND c.via <> 'migrated') \
             ORDER BY m.id LIMIT $3",
            args![cutoff, after, limit],
        )
        .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Records a run of the retention sweep.
pub(crate) async fn add_sweep(
    tx: &mut impl Tx,
    (ran_at, cutoff, erased): (DateTime<Utc>, DateTime<Utc>, i64),
) -> Result<()> {
    tx.exec(
        "INSERT INTO privacy_sweeps (ran_at, cutoff, erased) VALUES ($1, $2, $3)",
        args![ran_at, cutoff, erased],
    )
    .await?;
    Ok(())
}

/// The last run of the retention sweep: when, the cut-off, how many.
pub(crate) async fn last_sweep(
    tx: &mut impl Tx,
) -> Result<Option<(DateTime<Utc>, DateTime<Utc>, i64)>> {
    tx.opt(
        "SELECT ran_at, cutoff, erased FROM privacy_sweeps ORDER BY id DESC LIMIT 1",
        &[],
    )
    .await
}
