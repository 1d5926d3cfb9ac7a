//! Spending points: rewards, vouchers (redeem, use at the counter, give back,
//! expire), manual corrections and the expiry of lots.

use chrono::{DateTime, Utc};

use super::ledger::{live_lots, lock_member, release_voucher};
use super::{Steps, outbox};
use crate::domain::ledger::{self, EntryKind};
use crate::domain::model::*;
use crate::domain::notice::Notice;
use crate::domain::offer::{Basket, RewardKind};
use crate::domain::picture::Picture;
use crate::domain::{Points, Refusal, VoucherCode, redeem};
use crate::store::Result;
use crate::store::rows::*;
use crate::store::sql::{Tx, Value, args};

/// A reward's values as adding and changing it bind them: `$1`–`$12` and
/// `$14`–`$20`; `$13` is the caller's (when it was added, or its id).
fn reward_args<'a>(r: &'a NewReward, k: &'a KindColumns, thirteenth: Value<'a>) -> Vec<Value<'a>> {
    vec![
        Value::from(&r.name_th),
        Value::from(&r.name_en),
        Value::from(&r.description_th),
        Value::from(&r.description_en),
        Value::from(r.cost.value()),
        Value::from(r.stock),
        Value::from(r.per_member_limit),
        Value::from(r.valid_from),
        Value::from(r.valid_until),
        Value::from(r.face_value.minor()),
        Value::from(r.face_value.currency_code()),
        Value::from(i64::from(r.voucher_days)),
        thirteenth,
        Value::from(k.kind),
        Value::from(&k.sku),
        Value::from(k.min_basket),
        Value::from(k.percent),
        Value::from(k.cap),
        Value::from(&k.categories),
        Value::from(&r.partner_id),
    ]
}

pub(crate) async fn add_reward(
    tx: &mut impl Tx,
    r: &NewReward,
    now: DateTime<Utc>,
) -> Result<Reward> {
    let k = kind_columns(&r.kind);
    let id = tx
        .insert(
            "INSERT INTO rewards (name_th, name_en, description_th, description_en, cost, \
             stock, per_member_limit, valid_from, valid_until, face_value_minor, currency, \
             voucher_days, created_at, kind, sku, min_basket_minor, percent_bp, cap_minor, \
             categories, partner_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
             $18, $19, $20)",
            &reward_args(r, &k, Value::from(now)),
        )
        .await?;
    reward(tx, id).await
}

pub(crate) async fn reward(tx: &mut impl Tx, id: i64) -> Result<Reward> {
    reward_row(tx, id, false).await
}

/// A reward's row; locked until the transaction ends when `lock` (PostgreSQL).
async fn reward_row<T: Tx>(tx: &mut T, id: i64, lock: bool) -> Result<Reward> {
    let lock = if lock { T::FOR_UPDATE } else { "" };
    tx.one(
        &format!("{REWARD_COLUMNS} WHERE id = $1{lock}"),
        args![id],
        "reward",
    )
    .await
}

pub(crate) async fn rewards(tx: &mut impl Tx, include_inactive: bool) -> Result<Vec<Reward>> {
    tx.all(
        &format!("{REWARD_COLUMNS} WHERE active OR $1 ORDER BY cost, id"),
        args![include_inactive],
    )
    .await
}

/// Changes a reward's description, cost, stock, limits, validity and value;
/// vouchers already issued keep what they were issued with.
pub(crate) async fn update_reward(tx: &mut impl Tx, id: i64, r: &NewReward) -> Result<Reward> {
    let k = kind_columns(&r.kind);
    let changed = tx
        .exec(
            "UPDATE rewards SET name_th = $1, name_en = $2, description_th = $3, \
             description_en = $4, cost = $5, stock = $6, per_member_limit = $7, \
             valid_from = $8, valid_until = $9, face_value_minor = $10, currency = $11, \
             voucher_days = $12, kind = $14, sku = $15, min_basket_minor = $16, \
             percent_bp = $17, cap_minor = $18, categories = $19, partner_id = $20 \
             WHERE id = $13",
            &reward_args(r, &k, Value::from(id)),
        )
        .await?;
    if changed == 0 {
        return Err(crate::store::StoreError::NotFound("reward"));
    }
    reward(tx, id).await
}

/// Gives a reward a new picture (`None`: takes its picture away).
pub(crate) async fn set_reward_picture(
    tx: &mut impl Tx,
    id: i64,
    picture: Option<&Picture>,
    now: DateTime<Utc>,
) -> Result<Reward> {
    reward(tx, id).await?; // NotFound for an unknown reward
    tx.exec(
        "DELETE FROM reward_pictures WHERE reward_id = $1",
        args![id],
    )
    .await?;
    if let Some(p) = picture {
        tx.exec(
            "INSERT INTO reward_pictures (reward_id, name, content_type, bytes, updated_at) \
             VALUES ($1, $2, $3, $4, $5)",
            args![id, &p.name, p.content_type, &p.bytes[..], now],
        )
        .await?;
    }
    tx.exec(
        "UPDATE rewards SET picture = $1 WHERE id = $2",
        args![picture.map(|p| p.name.as_str()), id],
    )
    .await?;
    reward(tx, id).await
}

/// A reward's picture by its published name: its content type and bytes.
pub(crate) async fn reward_picture(
    tx: &mut impl Tx,
    id: i64,
    name: &str,
) -> Result<Option<(String, Vec<u8>)>> {
    tx.opt(
        "SELECT content_type, bytes FROM reward_pictures WHERE reward_id = $1 AND name = $2",
        args![id, name],
    )
    .await
}

pub(crate) async fn set_reward_active(tx: &mut impl Tx, id: i64, active: bool) -> Result<Reward> {
    tx.exec(
        "UPDATE rewards SET active = $1 WHERE id = $2",
        args![active, id],
    )
    .await?;
    reward(tx, id).await
}

/// A voucher's row; locked until the transaction ends (PostgreSQL), so a use, a
/// cancel and an expiry of the same voucher happen one after the other.
async fn lock_voucher<T: Tx>(tx: &mut T, code: &str) -> Result<VoucherRow> {
    let sql = format!("{VOUCHER_COLUMNS} WHERE code = $1{}", T::FOR_UPDATE);
    tx.one(&sql, args![code], "voucher").await
}

pub(crate) async fn voucher(tx: &mut impl Tx, code: &VoucherCode) -> Result<Voucher> {
    tx.one::<VoucherRow>(
        &format!("{VOUCHER_COLUMNS} WHERE code = $1"),
        args![code.as_str()],
        "voucher",
    )
    .await?
    .try_into()
}

pub(crate) async fn vouchers(tx: &mut impl Tx, member_id: i64) -> Result<Vec<Voucher>> {
    let rows: Vec<VoucherRow> = tx
        .all(
            &format!("{VOUCHER_COLUMNS} WHERE member_id = $1 ORDER BY issued_at DESC, id DESC"),
            args![member_id],
        )
        .await?;
    rows.into_iter().map(Voucher::try_from).collect()
}

/// Spends points on a reward and issues a voucher.
pub(crate) async fn redeem<T: Steps>(tx: &mut T, cmd: &RedeemCommand) -> Result<Voucher> {
    // The member first, then the reward: always in this order. With the member
    // locked, a double tap waits here and then finds the first tap's voucher.
    let balance = lock_member(tx, cmd.member_id).await?;
    if let Some(key) = &cmd.request_key {
        let existing: Option<VoucherRow> = tx
            .opt(
                &format!("{VOUCHER_COLUMNS} WHERE member_id = $1 AND request_key = $2"),
                args![cmd.member_id, key],
            )
            .await?;
        if let Some(v) = existing {
            return v.try_into();
        }
    }
    // The reward's row is locked only when it has a stock to count down, so
    // the redemptions of a popular reward without one do not queue on it.
    let mut reward = reward_row(tx, cmd.reward_id, false).await?;
    if reward.stock.is_some() && !T::FOR_UPDATE.is_empty() {
        reward = reward_row(tx, cmd.reward_id, true).await?;
    }
    let held = match reward.per_member_limit {
        None => 0,
        Some(_) => {
            tx.one::<(i64,)>(
                "SELECT COUNT(*) FROM vouchers WHERE member_id = $1 AND reward_id = $2 \
                 AND status IN ('issued', 'used')",
                args![cmd.member_id, cmd.reward_id],
                "vouchers",
            )
            .await?
            .0
        }
    };
    let lots = live_lots(tx, cmd.member_id, cmd.now).await?;
    let plan = redeem::decide(&redeem::RedeemFacts {
        reward: &reward,
        balance,
        held,
        lots: &lots,
        now: cmd.now,
    })?;
    let entry = NewEntry {
        member_id: cmd.member_id,
        kind: EntryKind::Redeem,
        points: -reward.cost.value(),
        merchant_id: None,
        purchase_id: None,
        voucher_id: None,
        lot_id: None,
        reference: Some(cmd.code.as_str()),
        now: cmd.now,
    };
    let (entry_id, _) = tx.debit(&entry, balance, &plan).await?;
    tx.exec(
        "UPDATE rewards SET stock = stock - 1 WHERE id = $1 AND stock IS NOT NULL",
        args![cmd.reward_id],
    )
    .await?;
    let expires_at = cmd.now + chrono::Duration::days(i64::from(reward.voucher_days));
    // Cashback is store credit at once: its voucher is used as it is issued.
    let cashback = match reward.kind {
        RewardKind::Cashback { credit } => Some(credit),
        _ => None,
    };
    let (status, used_at) = match cashback {
        Some(_) => ("used", Some(cmd.now)),
        None => ("issued", None),
    };
    let v: VoucherRow = tx
        .one(
            &format!(
                "INSERT INTO vouchers (code, member_id, reward_id, points, status, request_key, \
                 redeem_entry_id, issued_at, expires_at, used_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) {VOUCHER_RETURNING}"
            ),
            args![
                cmd.code.as_str(),
                cmd.member_id,
                cmd.reward_id,
                reward.cost.value(),
                status,
                &cmd.request_key,
                entry_id,
                cmd.now,
                expires_at,
                used_at,
            ],
            "voucher",
        )
        .await?;
    // A partner's reward is honoured by that partner: the points it took
    // from other partners' lots are booked to it now.
    if let Some(p) = &reward.partner_id {
        super::partners::book(tx, entry_id, p, (Some(v.id), None), cmd.now).await?;
    }
    if let Some(credit) = cashback {
        let add = super::credit::NewCredit {
            member_id: cmd.member_id,
            kind: crate::domain::credit::CreditKind::Cashback,
            amount: credit,
            merchant_id: None,
            voucher_id: Some(v.id),
            reference: Some(cmd.code.as_str()),
            now: cmd.now,
        };
        super::credit::append(tx, &add).await?;
    } else if cmd.notify {
        let notice = Notice::VoucherIssued {
            code: cmd.code.as_str().to_string(),
            reward_th: reward.name_th.clone(),
            reward_en: reward.name_en.clone(),
            expires_at,
        };
        outbox::notify(tx, cmd.member_id, &notice, cmd.now).await?;
    }
    let voucher: Voucher = v.try_into()?;
    super::staff::audit_change(tx, cmd.audit.as_ref(), &voucher, cmd.now).await?;
    Ok(voucher)
}

/// Marks a voucher used at the counter (only the voucher is locked: using it
/// moves no points).
pub(crate) async fn use_voucher(
    tx: &mut impl Tx,
    (code, merchant_id): (&VoucherCode, &str),
    basket: Option<&Basket>,
    audit: Option<&crate::domain::staff::NewAudit>,
    now: DateTime<Utc>,
) -> Result<VoucherUse> {
    let v = lock_voucher(tx, code.as_str()).await?;
    if let Some(refusal) = Voucher::try_from(v.clone())?.refusal(now) {
        return Err(refusal.into());
    }
    let reward = reward_row(tx, v.reward_id, false).await?;
    match &reward.partner_id {
        Some(p) if p != merchant_id => return Err(Refusal::VoucherOtherPartner.into()),
        Some(_) => {}
        // The programme's reward is honoured by the shop that takes it.
        None => {
            let of = (Some(v.id), None);
            super::partners::book(tx, v.redeem_entry_id, merchant_id, of, now).await?;
        }
    }
    let takeoff = match basket {
        Some(b) => reward
            .kind
            .takeoff(b)
            .map_err(Refusal::VoucherNotApplicable)?,
        None => reward
            .kind
            .without_basket()
            .ok_or(Refusal::VoucherNeedsBasket)?,
    };
    let takeoff_json = serde_json::to_string(&takeoff)
        .map_err(|e| crate::store::StoreError::Corrupt(format!("takeoff: {e}")))?;
    tx.exec(
        "UPDATE vouchers SET status = 'used', used_at = $1, used_by = $2, takeoff = $4 \
         WHERE id = $3",
        args![now, merchant_id, v.id, &takeoff_json],
    )
    .await?;
    let v = lock_voucher(tx, code.as_str()).await?;
    let member: Member = tx
        .one(
            &format!("{MEMBER_COLUMNS} WHERE id = $1"),
            args![v.member_id],
            "member",
        )
        .await?;
    let notice = Notice::VoucherUsed {
        code: v.code.clone(),
        reward_th: reward.name_th.clone(),
        reward_en: reward.name_en.clone(),
        merchant_id: merchant_id.to_string(),
    };
    outbox::notify(tx, v.member_id, &notice, now).await?;
    let voucher: Voucher = v.try_into()?;
    super::staff::audit_change(tx, audit, &voucher, now).await?;
    Ok(VoucherUse {
        voucher,
        reward,
        member,
        takeoff,
    })
}

/// A member gives a voucher back and gets its points back.
pub(crate) async fn cancel_voucher<T: Steps>(
    tx: &mut T,
    member_id: i64,
    code: &VoucherCode,
    now: DateTime<Utc>,
) -> Result<Voucher> {
    // The member, then the voucher. No such member means no voucher of theirs.
    lock_member(tx, member_id)
        .await
        .map_err(|_| crate::store::StoreError::NotFound("voucher"))?;
    let v = lock_voucher(tx, code.as_str()).await?;
    if v.member_id != member_id {
        return Err(crate::store::StoreError::NotFound("voucher"));
    }
    if let Some(refusal) = Voucher::try_from(v.clone())?.refusal(now) {
        return Err(refusal.into());
    }
    release_voucher(tx, &v, VoucherStatus::Cancelled, now).await?;
    voucher(tx, code).await
}

/// A manual correction: credits make a new lot, debits spend soonest-expiring
/// first and may not go below zero.
pub(crate) async fn adjust_points<T: Steps>(tx: &mut T, cmd: &AdjustCommand) -> Result<Entry> {
    let balance = lock_member(tx, cmd.member_id).await?;
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
        tx.credit(entry, balance, cmd.timing).await?
    } else {
        let lots = live_lots(tx, cmd.member_id, cmd.now).await?;
        let (plan, debt) = ledger::plan_clawback(&lots, None, -cmd.delta, cmd.now);
        if debt.value() > 0 {
            let balance = Points::new(balance);
            return Err(Refusal::AdjustBelowZero { balance }.into());
        }
        tx.debit(&entry, balance, &plan).await?
    };
    let entry = Entry {
        id,
        member_id: cmd.member_id,
        kind: EntryKind::Adjust,
        points: cmd.delta,
        balance_after: Points::new(after),
        merchant_id: None,
        reference: Some(cmd.reason.clone()),
        created_at: cmd.now,
    };
    super::staff::audit_change(tx, cmd.audit.as_ref(), &entry, cmd.now).await?;
    Ok(entry)
}

/// How many vouchers or members one expiry step picks.
pub(crate) const EXPIRY_CHUNK: i64 = 200;

/// Vouchers past their expiry with ids after `after`: (voucher id, member id).
pub(crate) async fn due_vouchers(
    tx: &mut impl Tx,
    now: DateTime<Utc>,
    after: i64,
) -> Result<Vec<(i64, i64)>> {
    tx.all(
        "SELECT id, member_id FROM vouchers WHERE status = 'issued' AND expires_at <= $1 \
         AND id > $2 ORDER BY id LIMIT $3",
        args![now, after, EXPIRY_CHUNK],
    )
    .await
}

/// Expires one voucher (giving its points back), checked again under the
/// member's lock; a voucher locked by a use in progress is skipped (the use
/// decides). The points released, if it expired.
pub(crate) async fn expire_voucher<T: Steps>(
    tx: &mut T,
    (voucher_id, member_id): (i64, i64),
    now: DateTime<Utc>,
) -> Result<Option<i64>> {
    lock_member(tx, member_id).await?;
    let sql = format!(
        "{VOUCHER_COLUMNS} WHERE id = $1 AND status = 'issued' AND expires_at <= $2{}",
        T::SKIP_LOCKED
    );
    let Some(v) = tx.opt::<VoucherRow>(&sql, args![voucher_id, now]).await? else {
        return Ok(None);
    };
    release_voucher(tx, &v, VoucherStatus::Expired, now).await?;
    Ok(Some(v.points))
}

/// Members with lots past their expiry, with ids after `after`.
pub(crate) async fn due_members(
    tx: &mut impl Tx,
    now: DateTime<Utc>,
    after: i64,
) -> Result<Vec<i64>> {
    let ids: Vec<(i64,)> = tx
        .all(
            "SELECT DISTINCT member_id FROM lots WHERE remaining > 0 AND expires_at <= $1 \
             AND member_id > $2 ORDER BY member_id LIMIT $3",
            args![now, after, EXPIRY_CHUNK],
        )
        .await?;
    Ok(ids.into_iter().map(|(id,)| id).collect())
}
