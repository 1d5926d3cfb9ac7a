//! `taem check` and `taem backup`: the whole ledger read against itself on a
//! live database, and a consistent copy of a SQLite one.

use crate::domain::ledger::{LedgerCheck, PurchaseCheck, SpendCheck, VoucherCheck};
use chrono::{DateTime, Utc};

use crate::store::sql::{Backend, Tx, args};
use crate::store::{Result, StoreError};

/// Every member's balance against their entries, lots and credit; every
/// purchase's points against its earn entries (a purchase made with a member
/// code earned exactly its points, one claimed later at most them, one never
/// claimed none; referral bonuses aside); every voucher against its redeem
/// and release entries; every member's kept rolling spend against their
/// purchases.
pub(crate) async fn check_ledger(tx: &mut impl Tx) -> Result<LedgerCheck> {
    let members = super::members::audit(tx).await?;
    let mut check = LedgerCheck {
        members: i64::try_from(members.len()).unwrap_or(i64::MAX),
        broken_members: members.into_iter().filter(|a| !a.holds()).collect(),
        ..LedgerCheck::default()
    };
    let (purchases,): (i64,) = tx
        .one("SELECT COUNT(*) FROM purchases", &[], "purchases")
        .await?;
    check.purchases = purchases;
    type PurchaseRow = (i64, String, String, i64, i64);
    let rows: Vec<PurchaseRow> = tx
        .all(
            "SELECT p.id, p.merchant_id, p.receipt_id, p.points, \
             CAST(COALESCE(SUM(e.points), 0) AS BIGINT) AS earned FROM purchases p \
             LEFT JOIN entries e ON e.purchase_id = p.id AND e.kind = 'earn' \
             AND e.member_id = p.member_id AND (e.reference IS NULL OR e.reference <> 'referral') \
             GROUP BY p.id, p.merchant_id, p.receipt_id, p.points, p.member_id, p.claimed_at \
             HAVING (p.member_id IS NULL AND COALESCE(SUM(e.points), 0) <> 0) \
             OR (p.member_id IS NOT NULL AND p.claimed_at IS NULL \
                 AND COALESCE(SUM(e.points), 0) <> p.points) \
             OR (p.claimed_at IS NOT NULL AND COALESCE(SUM(e.points), 0) > p.points) \
             ORDER BY p.id LIMIT 1000",
            &[],
        )
        .await?;
    check.broken_purchases = rows
        .into_iter()
        .map(
            |(purchase_id, merchant_id, receipt_id, points, earned)| PurchaseCheck {
                purchase_id,
                merchant_id,
                receipt_id,
                points,
                earned,
            },
        )
        .collect();
    let (vouchers,): (i64,) = tx
        .one("SELECT COUNT(*) FROM vouchers", &[], "vouchers")
        .await?;
    check.vouchers = vouchers;
    type VoucherRow = (i64, String, String, i64, Option<i64>, i64);
    let rows: Vec<VoucherRow> = tx
        .all(
            "SELECT v.id, v.code, v.status, v.points, r.points, \
             CAST(COALESCE((SELECT SUM(x.points) FROM entries x WHERE x.voucher_id = v.id \
                            AND x.kind = 'release'), 0) AS BIGINT) \
             FROM vouchers v LEFT JOIN entries r ON r.id = v.redeem_entry_id \
             AND r.member_id = v.member_id AND r.kind = 'redeem' ORDER BY v.id",
            &[],
        )
        .await?;
    check.broken_vouchers = rows
        .into_iter()
        .map(
            |(voucher_id, code, status, points, redeemed, released)| VoucherCheck {
                voucher_id,
                code,
                status,
                points,
                redeemed: redeemed.unwrap_or(0),
                released,
            },
        )
        .filter(|v| !v.holds())
        .take(1000)
        .collect();
    // Each member's kept rolling spend against their purchases since it starts.
    type SpendRow = (i64, String, i64, i64);
    let rows: Vec<SpendRow> = tx
        .all(
            "SELECT id, spend_currency, spend_minor, counted FROM (SELECT m.id, m.spend_currency, \
             m.spend_minor, CAST(COALESCE((SELECT SUM(p.amount_minor - p.refunded_minor) \
             FROM purchases p WHERE p.member_id = m.id AND p.currency = m.spend_currency \
             AND p.occurred_at > m.spend_since), 0) AS BIGINT) AS counted FROM members m \
             WHERE m.spend_currency IS NOT NULL) s WHERE spend_minor <> counted \
             ORDER BY id LIMIT 1000",
            &[],
        )
        .await?;
    check.broken_spends = (rows.into_iter())
        .map(|(member_id, currency, kept, counted)| SpendCheck {
            member_id,
            currency,
            kept,
            counted,
        })
        .collect();
    Ok(check)
}

/// A consistent copy of a SQLite database in the new file `path`, taken
/// while `taem serve` writes (`VACUUM INTO` reads one snapshot of the WAL
/// database and writes it compacted). PostgreSQL has `pg_dump`.
pub(crate) async fn backup<T: Tx>(tx: &mut T, path: &str) -> Result<()> {
    if T::BACKEND == Backend::Postgres {
        return Err(StoreError::Locked(
            "taem backup copies a SQLite database; for PostgreSQL use pg_dump \
             (see the README's Operations section)"
                .into(),
        ));
    }
    if std::path::Path::new(path).exists() {
        return Err(StoreError::Locked(format!(
            "{path} exists: taem backup writes a new file"
        )));
    }
    tx.exec("VACUUM INTO $1", args![path]).await?;
    Ok(())
}

/// The outbox's queued rows per app: how many, and when the oldest was made.
pub(crate) async fn outbox_depth(
    tx: &mut impl Tx,
) -> Result<Vec<(String, i64, Option<DateTime<Utc>>)>> {
    tx.all(
        "SELECT channel, COUNT(*), MIN(created_at) FROM outbox WHERE status = 'queued' \
         GROUP BY channel",
        &[],
    )
    .await
}
