//! Partners on both stores: each lot's points booked to the pair (issuer →
//! the partner that honoured them) at the issuer's value, booked back when
//! they come back, partners' rewards taken only by them, prepaid budgets
//! refusing what they cannot cover, statements that net to zero and never
//! change once closed, and reconciliation on generated histories.

use chrono::{DateTime, TimeZone, Utc};
use taem::domain::Refusal;
use taem::domain::model::{Member, Merchant, Reward};
use taem::domain::partner::{Period, Statement};
use taem::service::partners::PartnerInput;
use taem::service::staff::Actor;
use taem::service::{PurchaseRequest, RefundRequest, ServiceError};

use crate::common::*;

/// An instant in Bangkok.
fn bkk(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    chrono_tz::Asia::Bangkok
        .with_ymd_and_hms(y, m, d, h, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
}

pub(crate) async fn partner(t: &TestStore, m: &Merchant, value: &str, budget: Option<i64>) {
    let input = PartnerInput {
        value: Some(value.into()),
        funding: Some(
            if budget.is_some() {
                "prepaid"
            } else {
                "postpaid"
            }
            .into(),
        ),
        budget,
        top_up: None,
    };
    t.loyalty
        .staff_set_partner(&Actor::Cli, &m.id, &input, bkk(2026, 10, 1, 8))
        .await
        .unwrap();
}

pub(crate) async fn partner_reward(t: &TestStore, cost: i64, p: &Merchant) -> Reward {
    let input = taem::service::RewardInput {
        name_th: "ขนมปัง".into(),
        name_en: "A loaf".into(),
        cost,
        face_value: "0".into(),
        currency: "THB".into(),
        voucher_days: 30,
        partner: Some(p.id.clone()),
        ..Default::default()
    };
    t.loyalty
        .add_reward(input, bkk(2026, 10, 1, 8))
        .await
        .unwrap()
}

pub(crate) async fn sale(
    t: &TestStore,
    shop: &Merchant,
    m: &Member,
    (receipt, amount): (&str, &str),
    at: DateTime<Utc>,
) -> Result<i64, ServiceError> {
    let req = PurchaseRequest {
        receipt_id: receipt.into(),
        amount: amount.into(),
        currency: "THB".into(),
        member_code: Some(m.code.clone()),
        occurred_at: None,
        items: None,
    };
    let r = t.loyalty.record_purchase(shop, req, at).await?;
    Ok(r.into_inner().points.value())
}

/// Points paid at a shop's till: reserved, confirmed by the member in their
/// chat, captured (for `receipt`). A refusal (not enough points) is returned.
pub(crate) async fn pay_at_till(
    t: &TestStore,
    (shop, m): (&Merchant, &Member),
    (request_id, points): (&str, i64),
    receipt: Option<&str>,
    at: DateTime<Utc>,
) -> Result<(), ServiceError> {
    let req = taem::service::payments::PointPaymentRequest {
        request_id: request_id.into(),
        member_code: m.code.clone(),
        source: None,
        points: Some(points),
        amount: None,
        pay_code: None,
    };
    let pay = t.loyalty.reserve_points(shop, req, at).await?.into_inner();
    t.loyalty.answer_payment(m.id, &pay.id, true, at).await?;
    let receipt = receipt.map(str::to_string);
    t.loyalty.capture_points(shop, &pay.id, receipt, at).await?;
    Ok(())
}

fn pair(s: &Statement, issuer: &Merchant, redeemer: &Merchant) -> (i64, i64) {
    s.pairs
        .iter()
        .find(|l| l.issuer == issuer.id && l.redeemer == redeemer.id)
        .map_or((0, 0), |l| (l.points, l.amount_minor))
}

fn net(s: &Statement, m: &Merchant) -> (i64, i64) {
    let p = s.partners.iter().find(|p| p.merchant_id == m.id).unwrap();
    (p.net_minor, p.breakage_points)
}

#[tokio::test]
async fn points_honoured_by_another_partner_are_booked_reversed_and_settled_by_month() {
    for db in databases().await {
        let t = TestStore::open(db).await;
        let (cafe, bakery, wash, outsider) = (
            t.merchant_named("Baan Kafe").await,
            t.merchant_named("Khanom Bakery").await,
            t.merchant_named("Sai Car Wash").await,
            t.merchant_named("Outside Shop").await,
        );
        partner(&t, &cafe, "0.25", None).await;
        partner(&t, &bakery, "0.20", None).await;
        partner(&t, &wash, "0.30", Some(1_000)).await;
        t.loyalty
            .change_program(taem::service::ProgramChange {
                expiry_months: Some(1),
                ..Default::default()
            })
            .await
            .unwrap();
        t.pay_with_points("4:1").await;
        let m = t.member().await;
        let loaf = partner_reward(&t, 120, &bakery).await;
        let bun = partner_reward(&t, 30, &bakery).await;
        let coffee = t.reward(50, None, None).await;

        let oct = |d, h| bkk(2026, 10, d, h);
        assert_eq!(
            sale(&t, &cafe, &m, ("C-1", "2500"), oct(5, 10))
                .await
                .unwrap(),
            100
        );
        assert_eq!(
            sale(&t, &wash, &m, ("W-1", "1000"), oct(6, 10))
                .await
                .unwrap(),
            40
        );
        assert_eq!(
            sale(&t, &cafe, &m, ("C-2", "1250"), oct(12, 10))
                .await
                .unwrap(),
            50
        );

        // The bakery's loaf takes the cafe's 100 points and 20 of the wash's.
        let v = t.loyalty.redeem(m.id, loaf.id, None, oct(10, 12)).await;
        let v = v.unwrap();
        let other = t.loyalty.use_voucher(&cafe, &v.code, oct(10, 13)).await;
        assert!(
            matches!(
                other,
                Err(ServiceError::Refused(Refusal::VoucherOtherPartner))
            ),
            "{other:?}"
        );
        t.loyalty
            .use_voucher(&bakery, &v.code, oct(10, 13))
            .await
            .unwrap();
        // A bun redeemed and given back: booked, then booked back.
        let b = t
            .loyalty
            .redeem(m.id, bun.id, None, oct(14, 12))
            .await
            .unwrap();
        t.loyalty
            .cancel_voucher(m.id, &b.code, oct(15, 12))
            .await
            .unwrap();
        // The programme's coffee is honoured by the shop that takes it: the
        // wash's own 20 points are not settled, the cafe's 30 are.
        let c = t
            .loyalty
            .redeem(m.id, coffee.id, None, oct(16, 12))
            .await
            .unwrap();
        t.loyalty
            .use_voucher(&wash, &c.code, oct(17, 12))
            .await
            .unwrap();
        // Points of a shop outside the coalition are never settled.
        assert_eq!(
            sale(&t, &outsider, &m, ("O-1", "500"), oct(18, 10))
                .await
                .unwrap(),
            20
        );

        // Paying 40 points at the bakery's till (the cafe's last 20 and the
        // outsider's 20), then half the bill refunded.
        pay_at_till(&t, (&bakery, &m), ("pay-1", 40), Some("B-1"), oct(20, 10))
            .await
            .unwrap();
        assert_eq!(
            sale(&t, &bakery, &m, ("B-1", "100"), oct(20, 10))
                .await
                .unwrap(),
            3
        );
        let refund = RefundRequest {
            refund_id: "B-1-r".into(),
            receipt_id: "B-1".into(),
            amount: "50".into(),
            currency: None,
        };
        let r = t
            .loyalty
            .record_refund(&bakery, refund, oct(22, 10))
            .await
            .unwrap();
        assert_eq!(r.into_inner().points_returned.value(), 20);

        // The wash's prepaid budget (1,000 points, 40 given) cannot cover a
        // big sale: refused, nothing recorded; after a top-up it can.
        let before = t.balance(&m).await;
        let refused = sale(&t, &wash, &m, ("W-2", "30000"), oct(25, 10)).await;
        assert!(
            matches!(
                refused,
                Err(ServiceError::Refused(Refusal::PartnerBudgetSpent { .. }))
            ),
            "{refused:?}"
        );
        assert_eq!(t.balance(&m).await, before);
        let top_up = PartnerInput {
            top_up: Some(1_000),
            ..Default::default()
        };
        t.loyalty
            .staff_set_partner(&Actor::Cli, &wash.id, &top_up, oct(25, 11))
            .await
            .unwrap();
        let big = sale(&t, &wash, &m, ("W-2", "30000"), oct(25, 12))
            .await
            .unwrap();
        let partners = t.loyalty.partners().await.unwrap();
        let w = partners
            .iter()
            .find(|p| p.partner.merchant_id == wash.id)
            .unwrap();
        assert_eq!(
            (w.partner.issued, w.left),
            (40 + big, Some(2_000 - 40 - big))
        );

        let s = t.loyalty.settlement("2026-10").await.unwrap();
        assert_eq!(pair(&s, &cafe, &bakery), (110, 2_750), "{s:?}");
        assert_eq!(pair(&s, &wash, &bakery), (20, 600), "{s:?}");
        assert_eq!(pair(&s, &cafe, &wash), (30, 750), "{s:?}");
        assert_eq!(s.pairs.len(), 3, "nothing of the outsider's: {s:?}");
        assert_eq!(net(&s, &cafe).0, -3_500);
        assert_eq!(net(&s, &bakery).0, 3_350);
        assert_eq!(net(&s, &wash).0, 150);
        assert_eq!(s.partners.iter().map(|p| p.net_minor).sum::<i64>(), 0);
        assert_eq!((s.points, s.amount_minor, s.closed_at), (160, 4_100, None));

        // Closing: not before the month has ended; then it stays as it was.
        let early = t.loyalty.close_settlement("2026-10", oct(31, 12)).await;
        assert!(
            matches!(early, Err(ServiceError::Invalid { .. })),
            "{early:?}"
        );
        let closed = t
            .loyalty
            .staff_close_settlement(&Actor::Cli, "2026-10", bkk(2026, 11, 1, 9))
            .await
            .unwrap();
        assert_eq!(closed.pairs, s.pairs);
        assert!(closed.closed_at.is_some());
        // A redemption written after the close, though dated in October (a
        // late correction), goes into November; October does not change.
        let late = partner_reward(&t, 15, &bakery).await;
        t.loyalty
            .redeem(m.id, late.id, None, oct(31, 20))
            .await
            .unwrap();
        let again = t.loyalty.settlement("2026-10").await.unwrap();
        assert_eq!(again, closed);
        // Every lot has expired by 28 November: breakage stays with issuers.
        t.loyalty.expire_due(bkk(2026, 11, 28, 12)).await.unwrap();
        let nov = t.loyalty.settlement("2026-11").await.unwrap();
        assert_eq!(pair(&nov, &cafe, &bakery), (10, 250), "{nov:?}");
        assert_eq!(nov.pairs.len(), 1, "{nov:?}");
        assert_eq!(net(&nov, &cafe), (-250, 0));
        assert_eq!(
            net(&nov, &bakery),
            (250, 2),
            "3 earned, 1 clawed back by the refund"
        );
        assert_eq!(net(&nov, &wash), (0, big));
        let wash_breakage = nov
            .partners
            .iter()
            .find(|p| p.merchant_id == wash.id)
            .unwrap();
        assert_eq!(wash_breakage.breakage_minor, big * 30);
        t.assert_ledger_holds().await;
    }
}

/// Rows of (issuer, redeemer, points) read straight from the test database.
async fn rows(db: &TestDb, sql: &str) -> Vec<(Option<String>, Option<String>, i64)> {
    if db.backend == "sqlite" {
        let path = db.url.trim_start_matches("sqlite://").to_string();
        let conn = rusqlite::Connection::open(path).unwrap();
        let mut stmt = conn.prepare(sql).unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    } else {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
        sqlx::query_as(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_all(&mut conn)
            .await
            .unwrap()
    }
}

/// What settlement should hold, read from the ledger rather than from the
/// bookings: the lots each standing redemption took (vouchers of partners'
/// rewards not given back, the programme's vouchers taken by a shop,
/// payments at a till not refunded), per pair of issuer and redeemer.
const STANDING: &str = "\
    SELECT l.merchant_id, COALESCE(r.partner_id, v.used_by), CAST(SUM(el.points) AS BIGINT) \
    FROM vouchers v JOIN rewards r ON r.id = v.reward_id \
    JOIN entry_lots el ON el.entry_id = v.redeem_entry_id JOIN lots l ON l.id = el.lot_id \
    WHERE (r.partner_id IS NOT NULL AND v.status IN ('issued', 'used')) \
       OR (r.partner_id IS NULL AND v.status = 'used' AND v.used_by IS NOT NULL) \
    GROUP BY l.merchant_id, COALESCE(r.partner_id, v.used_by) \
    UNION ALL \
    SELECT l.merchant_id, p.merchant_id, CAST(SUM(el.points) AS BIGINT) \
    FROM point_payments p JOIN entry_lots el ON el.entry_id = p.hold_entry_id \
    JOIN lots l ON l.id = el.lot_id \
    WHERE p.status = 'captured' AND p.refunded_points = 0 \
    GROUP BY l.merchant_id, p.merchant_id";

/// Refused for a reason a shop or a member would meet (not enough points, a
/// spent budget, another partner's voucher): the history goes on.
fn refused<T: std::fmt::Debug>(r: Result<T, ServiceError>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(ServiceError::Refused(_)) => None,
        Err(e) => panic!("{e:?}"),
    }
}

#[tokio::test]
async fn settlement_reconciles_with_the_ledger_on_generated_histories() {
    use rand::{RngExt, SeedableRng};
    use std::collections::BTreeMap;
    for seed in [3_u64, 11] {
        for db in databases().await {
            let t = TestStore::open(db).await;
            let shops = [
                t.merchant_named("Baan Kafe").await,
                t.merchant_named("Khanom Bakery").await,
                t.merchant_named("Sai Car Wash").await,
                t.merchant_named("Outside Shop").await,
            ];
            let values = [25, 20, 30];
            partner(&t, &shops[0], "0.25", None).await;
            partner(&t, &shops[1], "0.20", None).await;
            partner(&t, &shops[2], "0.30", Some(40_000)).await;
            t.loyalty
                .change_program(taem::service::ProgramChange {
                    expiry_months: Some(1),
                    ..Default::default()
                })
                .await
                .unwrap();
            t.pay_with_points("4:1").await;
            let mut rewards = Vec::new();
            for (i, shop) in shops[..3].iter().enumerate() {
                rewards.push(partner_reward(&t, 20 + 20 * i as i64, shop).await);
            }
            rewards.push(t.reward(40, None, None).await);
            let mut members = Vec::new();
            for _ in 0..5 {
                members.push(t.member().await);
            }
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let mut at = bkk(2026, 8, 1, 9);
            let mut closed: Vec<Statement> = Vec::new();
            let mut month = Period::of(at, chrono_tz::Asia::Bangkok);
            let mut n = 0;
            while at < bkk(2026, 11, 1, 0) {
                n += 1;
                at += chrono::Duration::minutes(rng.random_range(60..1_500));
                if Period::of(at, chrono_tz::Asia::Bangkok) != month {
                    // A month ends: vouchers and points due expire, the month
                    // closes, and a late correction dated in it goes to the next.
                    t.loyalty.expire_due(at).await.unwrap();
                    let s = t
                        .loyalty
                        .close_settlement(&month.to_string(), at)
                        .await
                        .unwrap();
                    closed.push(s);
                    let (_, end) = month.bounds(chrono_tz::Asia::Bangkok);
                    let m = &members[rng.random_range(0..members.len())];
                    let r = &rewards[rng.random_range(0..3)];
                    refused(
                        t.loyalty
                            .redeem(m.id, r.id, None, end - chrono::Duration::hours(1))
                            .await,
                    );
                    month = Period::of(at, chrono_tz::Asia::Bangkok);
                }
                let m = &members[rng.random_range(0..members.len())];
                let shop = &shops[rng.random_range(0..shops.len())];
                match rng.random_range(0..10) {
                    0..=3 => {
                        let amount = rng.random_range(100..3_000).to_string();
                        refused(sale(&t, shop, m, (&format!("S-{n}"), &amount), at).await);
                    }
                    4..=6 => {
                        let r = &rewards[rng.random_range(0..rewards.len())];
                        let Some(v) = refused(t.loyalty.redeem(m.id, r.id, None, at).await) else {
                            continue;
                        };
                        match rng.random_range(0..4) {
                            0 => {
                                t.loyalty.cancel_voucher(m.id, &v.code, at).await.unwrap();
                            }
                            1 => {}
                            _ => {
                                refused(t.loyalty.use_voucher(shop, &v.code, at).await);
                            }
                        }
                    }
                    7 | 8 => {
                        let points = rng.random_range(4..200);
                        let receipt = format!("P-{n}");
                        let paid =
                            pay_at_till(&t, (shop, m), (&receipt, points), Some(&receipt), at);
                        if refused(paid.await).is_none() {
                            continue;
                        }
                        let bill = (points / 4 + 50).to_string();
                        refused(sale(&t, shop, m, (&receipt, &bill), at).await);
                        if rng.random_range(0..3) == 0 {
                            let refund = RefundRequest {
                                refund_id: format!("{receipt}-r"),
                                receipt_id: receipt,
                                amount: bill,
                                currency: None,
                            };
                            match t.loyalty.record_refund(shop, refund, at).await {
                                Ok(_) | Err(ServiceError::Invalid { .. }) => {}
                                Err(e) => panic!("{e:?}"),
                            }
                        }
                    }
                    _ => {
                        // A part of an earlier sale refunded: its points clawed back.
                        let k = rng.random_range(1..=n);
                        let refund = RefundRequest {
                            refund_id: format!("R-{n}"),
                            receipt_id: format!("S-{k}"),
                            amount: "50".into(),
                            currency: None,
                        };
                        match t.loyalty.record_refund(shop, refund, at).await {
                            Ok(_)
                            | Err(
                                ServiceError::Refused(_)
                                | ServiceError::NotFound(_)
                                | ServiceError::Invalid { .. },
                            ) => {}
                            Err(e) => panic!("{e:?}"),
                        }
                    }
                }
            }
            // Every month's statement nets to zero; the closed ones are as
            // they were closed; together they hold every standing redemption.
            let mut total: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
            let mut p = Period::parse("2026-08").unwrap();
            let mut booked = 0;
            while p <= Period::parse("2026-12").unwrap() {
                let s = t.loyalty.settlement(&p.to_string()).await.unwrap();
                assert_eq!(
                    s.partners.iter().map(|x| x.net_minor).sum::<i64>(),
                    0,
                    "{s:?}"
                );
                assert_eq!(
                    s.pairs.iter().map(|l| l.amount_minor).sum::<i64>(),
                    s.amount_minor
                );
                if let Some(c) = closed.iter().find(|c| c.period == s.period) {
                    assert_eq!(&s, c, "a closed month never changes");
                }
                for l in &s.pairs {
                    let e = total
                        .entry((l.issuer.clone(), l.redeemer.clone()))
                        .or_default();
                    e.0 += l.points;
                    e.1 += l.amount_minor;
                }
                booked += s.pairs.len();
                p = p.next();
            }
            assert!(booked > 5, "the history settled something: {total:?}");
            let partner_ids: Vec<&str> = shops[..3].iter().map(|s| s.id.as_str()).collect();
            let mut expected: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
            for (issuer, redeemer, points) in rows(&t.db, STANDING).await {
                let (Some(i), Some(r)) = (issuer, redeemer) else {
                    continue;
                };
                let (Some(iv), true) = (
                    partner_ids.iter().position(|p| *p == i),
                    partner_ids.contains(&r.as_str()),
                ) else {
                    continue;
                };
                if i == r {
                    continue;
                }
                let e = expected.entry((i, r)).or_default();
                e.0 += points;
                e.1 += points * values[iv];
            }
            total.retain(|_, v| *v != (0, 0));
            assert_eq!(total, expected, "seed {seed} on {}", t.db.backend);
            t.assert_ledger_holds().await;
        }
    }
}

/// `taem` itself, on the test's database.
fn taem(db: &TestDb, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_taem"))
        .args(args)
        .env("DATABASE_URL", &db.url)
        .env_remove("TAEM_HTTP_ADDR")
        .output()
        .expect("run taem");
    assert!(
        out.status.success(),
        "taem {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn the_readmes_worked_example_is_what_settlement_shows() {
    let readme = include_str!("../../README.md");
    let start = readme
        .find("$ taem settlement show --period 2026-11\n")
        .expect("the README's example");
    let block = &readme[start..];
    let block = &block[block.find('\n').unwrap() + 1..block.find("```").unwrap()];
    for db in databases().await {
        let t = TestStore::open(db).await;
        let (kafe, bakery, wash) = (
            t.merchant_named("Baan Kafe").await,
            t.merchant_named("Khanom Bakery").await,
            t.merchant_named("Sai Car Wash").await,
        );
        partner(&t, &kafe, "0.25", None).await;
        partner(&t, &bakery, "0.20", None).await;
        partner(&t, &wash, "0.30", Some(10_000)).await;
        t.pay_with_points("4:1").await;
        let croissant = partner_reward(&t, 120, &bakery).await;
        let nok = t.member().await;
        let nov = |d| bkk(2026, 11, d, 10);
        assert_eq!(
            sale(&t, &kafe, &nok, ("K-1", "2500"), nov(3))
                .await
                .unwrap(),
            100
        );
        assert_eq!(
            sale(&t, &wash, &nok, ("W-1", "1000"), nov(4))
                .await
                .unwrap(),
            40
        );
        t.loyalty
            .redeem(nok.id, croissant.id, None, nov(10))
            .await
            .unwrap();
        pay_at_till(&t, (&kafe, &nok), ("till-1", 20), None, nov(15))
            .await
            .unwrap();

        assert_eq!(
            taem(&t.db, &["settlement", "show", "--period", "2026-11"]),
            block
        );
        let csv = taem(
            &t.db,
            &["settlement", "show", "--period", "2026-11", "--csv"],
        );
        assert_eq!(csv.lines().count(), 1 + 3 + 3, "{csv}");
        assert!(
            csv.contains(&format!(
                "2026-11,pair,{},{},100,25.00,,",
                kafe.id, bakery.id
            )),
            "{csv}"
        );
        assert!(
            csv.contains(&format!("2026-11,net,{},,-80,-19.00,0,0.00", kafe.id)),
            "{csv}"
        );
        let list: serde_json::Value =
            serde_json::from_str(&taem(&t.db, &["partner", "list", "--json"])).unwrap();
        let w = list
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["merchant_id"] == wash.id.as_str());
        assert_eq!(w.unwrap()["left"], 9_960);
        let closed = taem(
            &t.db,
            &["settlement", "close", "--period", "2026-11", "--json"],
        );
        let closed: serde_json::Value = serde_json::from_str(&closed).unwrap();
        assert!(closed["closed_at"].is_string(), "{closed}");
        let shown = taem(&t.db, &["settlement", "show", "--period", "2026-11"]);
        assert!(shown.starts_with("settlement 2026-11 (closed "), "{shown}");
        assert_eq!(
            shown.lines().skip(1).collect::<Vec<_>>(),
            block.lines().skip(1).collect::<Vec<_>>()
        );
        let filter = taem::domain::staff::AuditFilter {
            limit: 50,
            ..Default::default()
        };
        let audit = t.loyalty.audit_log(&Actor::Cli, &filter).await.unwrap();
        assert!(
            audit.iter().any(|e| e.action == "settlement.close"),
            "{audit:?}"
        );
    }
}
