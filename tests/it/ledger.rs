//! The store contract on every backend: the ledger invariant under random
//! operations, exact concurrent redemption, expiry, pending points, vouchers.

use crate::common::*;
use chrono::Duration;
use proptest::prelude::*;
use taem::domain::model::*;
use taem::domain::time::now;
use taem::domain::{Points, VoucherCode};

async fn each_store(mut f: impl AsyncFnMut(&TestStore)) {
    for db in databases().await {
        let t = TestStore::open(db).await;
        f(&t).await;
        t.assert_ledger_holds().await;
    }
}

fn refusal(e: taem::service::ServiceError) -> taem::domain::Refusal {
    match e {
        taem::service::ServiceError::Refused(r) => r,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn fifty_concurrent_redemptions_by_a_member_who_can_afford_three() {
    each_store(async |t| {
        let m = t.member().await;
        let reward = t.reward(100, Some(5), None).await;
        t.grant(&m, 399, now()).await;
        let results = futures_join(50, |_| t.loyalty.redeem(m.id, reward.id, None, now())).await;
        let ok = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(ok, 3, "exactly three redemptions fit 399 points");
        for r in results.into_iter().filter_map(Result::err) {
            assert!(matches!(
                refusal(r),
                taem::domain::Refusal::InsufficientPoints { .. }
            ));
        }
        let store = &t.store;
        assert_eq!(
            store
                .member(&MemberRef::Id(m.id))
                .await
                .unwrap()
                .balance
                .value(),
            99
        );
        assert_eq!(store.reward(reward.id).await.unwrap().stock, Some(2));
        assert_eq!(store.vouchers(m.id).await.unwrap().len(), 3);
    })
    .await;
}

#[tokio::test]
async fn fifty_concurrent_redemptions_against_a_stock_of_five() {
    each_store(async |t| {
        let reward = t.reward(100, Some(5), None).await;
        let mut members = Vec::new();
        for _ in 0..50 {
            let m = t.member().await;
            t.grant(&m, 150, now()).await;
            members.push(m);
        }
        let results = futures_join(50, |i| {
            t.loyalty.redeem(members[i].id, reward.id, None, now())
        })
        .await;
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 5);
        for r in results.into_iter().filter_map(Result::err) {
            assert_eq!(refusal(r), taem::domain::Refusal::OutOfStock);
        }
        assert_eq!(t.store.reward(reward.id).await.unwrap().stock, Some(0));
        let mut total = 0;
        for m in &members {
            total += t.balance(m).await;
        }
        assert_eq!(total, 50 * 150 - 5 * 100, "only the five winners paid");
    })
    .await;
}

/// Runs `n` futures concurrently (each waits on the database independently) and
/// collects their results in order.
async fn futures_join<F: std::future::Future>(
    n: usize,
    make: impl Fn(usize) -> F,
) -> Vec<F::Output> {
    futures::future::join_all((0..n).map(make)).await
}

#[tokio::test]
async fn points_are_spent_soonest_expiring_first_and_expire_at_their_date() {
    each_store(async |t| {
        let m = t.member().await;
        let start = now() - Duration::days(400);
        // 100 points earned 400 days ago (expire after 12 months), 50 earned now.
        t.grant(&m, 100, start).await;
        t.grant(&m, 50, now()).await;
        let reward = t.reward(30, None, None).await;
        // Spend 30 at a time when both lots were live: it comes from the old lot.
        let v = t
            .loyalty
            .redeem(m.id, reward.id, None, start + Duration::days(10))
            .await
            .unwrap();
        let code = VoucherCode::parse(&v.code).unwrap();
        t.store
            .use_voucher(&code, "m_counter", &None, &None, start + Duration::days(11))
            .await
            .unwrap();
        let lots = t.store.lots(m.id).await.unwrap();
        assert_eq!(
            lots.iter().map(|l| l.remaining.value()).collect::<Vec<_>>(),
            vec![70, 50]
        );
        let sweep = t.store.expire_due(now()).await.unwrap();
        assert_eq!(sweep.points_expired, 70);
        assert_eq!(sweep.lots_expired, 1);
        assert_eq!(t.balance(&m).await, 50);
        let entries = t.store.entries(m.id, 1).await.unwrap();
        assert_eq!(entries[0].kind, taem::domain::ledger::EntryKind::Expire);
        assert_eq!(entries[0].points.value(), -70);
        // A second sweep finds nothing.
        assert_eq!(
            t.store.expire_due(now()).await.unwrap(),
            ExpirySweep::default()
        );
    })
    .await;
}

#[tokio::test]
async fn a_refund_expires_the_buyers_lapsed_points_before_it_claws_back() {
    each_store(async |t| {
        let merchant = t.merchant().await;
        let m = t.member().await;
        let start = now() - Duration::days(400);
        // 40 points from a purchase 400 days ago (past their 12 months, not
        // yet swept), 10 points granted now.
        let req = taem::service::PurchaseRequest {
            receipt_id: "OLD-1".into(),
            amount: "1000".into(),
            currency: "THB".into(),
            member_code: Some(m.code.clone()),
            occurred_at: None,
            items: None,
        };
        let bought = t.loyalty.record_purchase(&merchant, req, start).await;
        assert_eq!(bought.unwrap().into_inner().points.value(), 40);
        t.grant(&m, 10, now()).await;
        let refund = taem::service::RefundRequest {
            refund_id: "F-OLD-1".into(),
            receipt_id: "OLD-1".into(),
            amount: "1000".into(),
            currency: None,
        };
        let r = t.loyalty.record_refund(&merchant, refund, now()).await;
        let r = r.unwrap().into_inner();
        // The lapsed 40 expire; the 40 taken back come from the live 10 and
        // leave 30 of debt.
        assert_eq!(r.points_clawed_back.value(), 40);
        assert_eq!(r.balance.map(|b| b.value()), Some(-30));
        assert_eq!(t.balance(&m).await, -30);
        let entries = t.store.entries(m.id, 3).await.unwrap();
        let kinds: Vec<_> = entries.iter().map(|e| (e.kind, e.points.value())).collect();
        use taem::domain::ledger::EntryKind::*;
        assert_eq!(kinds, vec![(Clawback, -40), (Expire, -40), (Adjust, 10)]);
        // Nothing is left for the sweep to expire.
        let sweep = t.store.expire_due(now()).await.unwrap();
        assert_eq!(sweep, ExpirySweep::default());
    })
    .await;
}

#[tokio::test]
async fn an_unused_voucher_gives_its_points_and_stock_back_when_it_expires() {
    each_store(async |t| {
        let m = t.member().await;
        let reward = t.reward(40, Some(1), None).await;
        t.grant(&m, 100, now() - Duration::days(40)).await;
        let issued = now() - Duration::days(31);
        let v = t
            .loyalty
            .redeem(m.id, reward.id, None, issued)
            .await
            .unwrap();
        assert_eq!(t.balance(&m).await, 60);
        assert_eq!(t.store.reward(reward.id).await.unwrap().stock, Some(0));
        let sweep = t.store.expire_due(now()).await.unwrap();
        assert_eq!((sweep.vouchers_expired, sweep.points_released), (1, 40));
        assert_eq!(t.balance(&m).await, 100);
        assert_eq!(t.store.reward(reward.id).await.unwrap().stock, Some(1));
        let code = VoucherCode::parse(&v.code).unwrap();
        assert_eq!(
            t.store.voucher(&code).await.unwrap().status,
            VoucherStatus::Expired
        );
    })
    .await;
}

#[tokio::test]
async fn pending_points_cannot_be_spent_until_the_pending_period_ends() {
    each_store(async |t| {
        let mut program = t.store.program().await.unwrap();
        program.pending_days = 7;
        t.store.set_program(&program).await.unwrap();
        let m = t.member().await;
        let reward = t.reward(10, None, None).await;
        t.grant(&m, 50, now()).await;
        let err = t
            .loyalty
            .redeem(m.id, reward.id, None, now())
            .await
            .unwrap_err();
        assert_eq!(
            refusal(err),
            taem::domain::Refusal::InsufficientPoints {
                available: Points::new(0),
                needed: Points::new(10)
            }
        );
        let summary = t
            .loyalty
            .summary(t.store.member(&MemberRef::Id(m.id)).await.unwrap(), now())
            .await
            .unwrap();
        assert_eq!(
            (summary.spendable.value(), summary.pending.value()),
            (0, 50)
        );
        t.loyalty
            .redeem(m.id, reward.id, None, now() + Duration::days(7))
            .await
            .expect("spendable after 7 days");
    })
    .await;
}

#[tokio::test]
async fn redemption_rules_each_refuse_with_their_own_reason() {
    each_store(async |t| {
        let m = t.member().await;
        t.grant(&m, 1000, now()).await;
        let limited = t.reward(10, None, Some(1)).await;
        t.loyalty
            .redeem(m.id, limited.id, None, now())
            .await
            .unwrap();
        let err = t
            .loyalty
            .redeem(m.id, limited.id, None, now())
            .await
            .unwrap_err();
        assert_eq!(
            refusal(err),
            taem::domain::Refusal::MemberLimitReached { limit: 1 }
        );

        let disabled = t.reward(10, None, None).await;
        t.store.set_reward_active(disabled.id, false).await.unwrap();
        let err = t
            .loyalty
            .redeem(m.id, disabled.id, None, now())
            .await
            .unwrap_err();
        assert_eq!(refusal(err), taem::domain::Refusal::RewardUnavailable);

        let empty = t.reward(10, Some(0), None).await;
        let err = t
            .loyalty
            .redeem(m.id, empty.id, None, now())
            .await
            .unwrap_err();
        assert_eq!(refusal(err), taem::domain::Refusal::OutOfStock);

        let dear = t.reward(5000, None, None).await;
        let err = t
            .loyalty
            .redeem(m.id, dear.id, None, now())
            .await
            .unwrap_err();
        assert!(matches!(
            refusal(err),
            taem::domain::Refusal::InsufficientPoints { .. }
        ));
        assert_eq!(t.balance(&m).await, 990, "refusals cost nothing");
    })
    .await;
}

#[tokio::test]
async fn the_same_request_key_never_redeems_twice() {
    each_store(async |t| {
        let m = t.member().await;
        t.grant(&m, 100, now()).await;
        let reward = t.reward(10, None, None).await;
        let key = Some("tg:cb:12345".to_string());
        let a = t
            .loyalty
            .redeem(m.id, reward.id, key.clone(), now())
            .await
            .unwrap();
        let b = t.loyalty.redeem(m.id, reward.id, key, now()).await.unwrap();
        assert_eq!(a, b);
        assert_eq!(t.balance(&m).await, 90);
    })
    .await;
}

#[tokio::test]
async fn adjustments_add_and_remove_points_but_never_below_zero() {
    each_store(async |t| {
        let m = t.member().await;
        let e = t
            .loyalty
            .adjust(m.id, 25, "welcome gift", now())
            .await
            .unwrap();
        assert_eq!((e.points.value(), e.balance_after.value()), (25, 25));
        assert_eq!(e.reference.as_deref(), Some("welcome gift"));
        let e = t.loyalty.adjust(m.id, -5, "typo", now()).await.unwrap();
        assert_eq!(e.balance_after.value(), 20);
        let err = t
            .loyalty
            .adjust(m.id, -21, "too much", now())
            .await
            .unwrap_err();
        assert!(matches!(
            refusal(err),
            taem::domain::Refusal::AdjustBelowZero { .. }
        ));
        assert!(t.loyalty.adjust(m.id, 0, "nothing", now()).await.is_err());
        assert!(t.loyalty.adjust(m.id, 5, "  ", now()).await.is_err());
        assert_eq!(t.balance(&m).await, 20);
    })
    .await;
}

/// One random step against the store.
#[derive(Debug, Clone)]
enum Op {
    Purchase { baht: i64, member: usize },
    Refund { purchase: usize, percent: i64 },
    Redeem { member: usize },
    Cancel { member: usize },
    Adjust { member: usize, delta: i64 },
    Expire { days: i64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1i64..2000, 0usize..3).prop_map(|(baht, member)| Op::Purchase { baht, member }),
        2 => (0usize..20, 1i64..100).prop_map(|(purchase, percent)| Op::Refund { purchase, percent }),
        2 => (0usize..3).prop_map(|member| Op::Redeem { member }),
        1 => (0usize..3).prop_map(|member| Op::Cancel { member }),
        1 => (0usize..3, -50i64..50).prop_map(|(member, delta)| Op::Adjust { member, delta }),
        1 => (0i64..500).prop_map(|days| Op::Expire { days }),
    ]
}

async fn run_ops(t: &TestStore, ops: &[Op]) {
    let merchant = t.merchant().await;
    let members = [t.member().await, t.member().await, t.member().await];
    let reward = t.reward(15, Some(10), None).await;
    let mut receipts = Vec::new();
    // Time moves forward so that expiry sweeps have something to do.
    let mut clock = now() - Duration::days(800);
    for (i, op) in ops.iter().enumerate() {
        clock += Duration::days(1);
        match op {
            Op::Purchase { baht, member } => {
                let req = taem::service::PurchaseRequest {
                    receipt_id: format!("R{i}"),
                    amount: baht.to_string(),
                    currency: "THB".into(),
                    member_code: Some(members[*member].code.clone()),
                    occurred_at: None,
                    items: None,
                };
                t.loyalty
                    .record_purchase(&merchant, req, clock)
                    .await
                    .unwrap();
                receipts.push((format!("R{i}"), *baht));
            }
            Op::Refund { purchase, percent } => {
                if let Some((receipt, baht)) = receipts.get(*purchase % receipts.len().max(1)) {
                    let req = taem::service::RefundRequest {
                        refund_id: format!("F{i}"),
                        receipt_id: receipt.clone(),
                        amount: format!("{:.2}", *baht as f64 * *percent as f64 / 100.0),
                        currency: None,
                    };
                    let _ = t.loyalty.record_refund(&merchant, req, clock).await;
                }
            }
            Op::Redeem { member } => {
                let _ = t
                    .loyalty
                    .redeem(members[*member].id, reward.id, None, clock)
                    .await;
            }
            Op::Cancel { member } => {
                let m = &members[*member];
                if let Some(v) = t.store.vouchers(m.id).await.unwrap().first() {
                    let _ = t.loyalty.cancel_voucher(m.id, &v.code, clock).await;
                }
            }
            Op::Adjust { member, delta } => {
                let _ = t
                    .loyalty
                    .adjust(members[*member].id, *delta, "prop", clock)
                    .await;
            }
            Op::Expire { days } => {
                t.store
                    .expire_due(clock + Duration::days(*days))
                    .await
                    .unwrap();
            }
        }
        for a in t.store.audit().await.unwrap() {
            assert!(a.holds(), "{} after {op:?}: {a:?}", t.db.backend);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    #[test]
    fn the_ledger_always_balances(ops in proptest::collection::vec(op(), 1..40)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            for db in databases().await {
                let t = TestStore::open(db).await;
                run_ops(&t, &ops).await;
            }
        });
    }
}

/// PostgreSQL checks a purchase's references once per statement, not with a
/// foreign key per row (lots and entries keep theirs): a purchase, lot or
/// entry pointing at no member (or a purchase at no merchant) is refused, as
/// is deleting a member a purchase, lot or entry points at, deleting a
/// merchant with purchases or changing a merchant's id, each with the foreign
/// key's error code; the purchases, claims and adjustments taem writes pass,
/// and a member with no history can go.
#[tokio::test]
async fn postgres_refuses_ledger_rows_that_point_at_no_one() {
    use sqlx::Connection;
    for db in databases().await {
        if db.backend != "postgres" {
            continue;
        }
        let t = TestStore::open(db).await;
        let shop = t.merchant().await;
        let m = t.member().await;
        t.buy(&shop, &m, "250.00", None, now()).await;
        // An anonymous purchase claimed later: the claim gives it its member.
        let anonymous = taem::service::PurchaseRequest {
            receipt_id: "anon-1".into(),
            amount: "120.00".into(),
            currency: "THB".into(),
            member_code: None,
            occurred_at: None,
            items: None,
        };
        let receipt = t
            .loyalty
            .record_purchase(&shop, anonymous, now())
            .await
            .expect("anonymous purchase")
            .into_inner();
        let code = receipt.claim_code.expect("a claim code");
        t.loyalty
            .claim(m.id, None, &code, now())
            .await
            .expect("the claim");
        let before = t.balance(&m).await;
        assert!(before > 0, "both purchases earned");
        // A member with points but no purchase: an adjustment's lot and entry.
        let gifted = t.member().await;
        t.loyalty
            .adjust(gifted.id, 25, "welcome gift", now())
            .await
            .expect("the adjustment");

        let mut pg = sqlx::PgConnection::connect(&t.db.url).await.unwrap();
        // A member with a lot and no entry (taem never writes one alone).
        let lot_only = t.member().await;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "INSERT INTO lots (member_id, points, remaining, earned_at, available_at, \
             expires_at) VALUES ({}, 0, 0, now(), now(), now() + interval '1 year')",
            lot_only.id
        )))
        .execute(&mut pg)
        .await
        .expect("a lot for a member who exists");
        let nobody = m.id + 1_000_000;
        let refused = [
            format!(
                "INSERT INTO entries (member_id, kind, points, balance_after, created_at) \
                 VALUES ({nobody}, 'adjust', 5, 5, now())"
            ),
            format!(
                "INSERT INTO lots (member_id, points, remaining, earned_at, available_at, \
                 expires_at) VALUES ({nobody}, 5, 5, now(), now(), now() + interval '1 year')"
            ),
            format!(
                "INSERT INTO purchases (merchant_id, receipt_id, fingerprint, member_id, \
                 amount_minor, currency, occurred_at, points, breakdown, available_at, \
                 created_at) VALUES ('{}', 'r-nobody', 'f', {nobody}, 100, 'THB', now(), 0, \
                 '{{}}', now(), now())",
                shop.id
            ),
            "INSERT INTO purchases (merchant_id, receipt_id, fingerprint, amount_minor, \
             currency, occurred_at, points, breakdown, available_at, created_at) VALUES \
             ('m_nowhere', 'r-nowhere', 'f', 100, 'THB', now(), 0, '{}', now(), now())"
                .to_string(),
            format!("UPDATE purchases SET member_id = {nobody} WHERE receipt_id = 'anon-1'"),
            format!(
                "UPDATE lots SET member_id = {nobody} WHERE member_id = {}",
                m.id
            ),
            format!("DELETE FROM members WHERE id = {}", m.id),
            format!("DELETE FROM members WHERE id = {}", gifted.id),
            format!("DELETE FROM members WHERE id = {}", lot_only.id),
            format!("DELETE FROM merchants WHERE id = '{}'", shop.id),
            format!(
                "UPDATE merchants SET id = 'm_moved' WHERE id = '{}'",
                shop.id
            ),
        ];
        for sql in refused {
            let e = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone()))
                .execute(&mut pg)
                .await
                .expect_err(&sql);
            let code = e.as_database_error().and_then(|d| d.code());
            assert_eq!(code.as_deref(), Some("23503"), "{sql}: {e}");
        }
        assert_eq!(t.balance(&m).await, before, "nothing changed");
        assert_eq!(t.balance(&gifted).await, 25, "nothing changed");
        let empty = t.member().await;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DELETE FROM members WHERE id = {}",
            empty.id
        )))
        .execute(&mut pg)
        .await
        .expect("a member with no history can go");
        t.assert_ledger_holds().await;
    }
}
