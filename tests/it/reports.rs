//! Reports reconcile to the ledger: on generated histories (purchases,
//! refunds, redemptions, adjustments, expiry, payments at the till) on both
//! stores, with the roll-up built at random moments, every period starts where
//! the last one ended, moves by exactly what it lists, and the last one ends at
//! the members' balances. And a purchase late on the last night of a month in
//! Bangkok counts in that month.

use chrono::{DateTime, Duration, Utc};
use rand::{RngExt, SeedableRng};
use serde_json::json;
use taem::domain::model::Merchant;
use taem::domain::report::{Grain, PointsRow};
use taem::domain::time::now;
use taem::service::reports::ReportQuery;
use taem::service::{ProgramChange, PurchaseRequest, RefundRequest};

use crate::common::*;

fn purchase_at(receipt: &str, amount: &str, member: &str) -> PurchaseRequest {
    PurchaseRequest {
        receipt_id: receipt.into(),
        amount: amount.into(),
        currency: "THB".into(),
        member_code: Some(member.into()),
        occurred_at: None,
        items: None,
    }
}

fn query(from: DateTime<Utc>, to: DateTime<Utc>, by: &str) -> ReportQuery {
    let day = |t: DateTime<Utc>| {
        t.with_timezone(&chrono_tz::Asia::Bangkok)
            .date_naive()
            .to_string()
    };
    ReportQuery {
        from: Some(day(from)),
        to: Some(day(to)),
        by: Some(by.into()),
        merchant: None,
    }
}

/// Each period starts where the last ended and moves by what it lists; the
/// first starts at `start`.
fn assert_chained(rows: &[PointsRow], start: i64) -> i64 {
    let mut balance = start;
    for r in rows {
        let f = &r.flows;
        assert_eq!(r.outstanding_start, Some(balance), "{}", r.period.label);
        let moved =
            f.issued_base + f.issued_tier + f.issued_campaign + f.issued_referral + f.issued_manual
                - f.redeemed
                - f.expired
                - f.clawed_back
                + f.released
                - f.adjusted_down;
        assert_eq!(r.net_change, moved, "{}", r.period.label);
        balance += moved;
        assert_eq!(r.outstanding_end, Some(balance), "{}", r.period.label);
    }
    balance
}

/// A random history of `steps` operations from `start`, an hour or more apart;
/// the roll-up is brought up to date now and then. Returns when it ended.
async fn generate(
    t: &TestStore,
    merchant: &Merchant,
    seed: u64,
    (start, steps): (DateTime<Utc>, usize),
) -> DateTime<Utc> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let loyalty = &t.loyalty;
    let mut members = Vec::new();
    for _ in 0..4 {
        members.push(t.member().await);
    }
    let reward = t.reward(60, None, None).await;
    let mut receipts: Vec<String> = Vec::new();
    let mut when = start;
    for step in 0..steps {
        when += Duration::minutes(rng.random_range(60..2_000));
        let m = &members[rng.random_range(0..members.len())];
        match rng.random_range(0..10) {
            0..=3 => {
                let receipt = format!("s{seed}-{step}");
                let amount = format!(
                    "{}.{:02}",
                    rng.random_range(20..900),
                    rng.random_range(0..100)
                );
                loyalty
                    .record_purchase(merchant, purchase_at(&receipt, &amount, &m.code), when)
                    .await
                    .expect("purchase");
                receipts.push(receipt);
            }
            4 if !receipts.is_empty() => {
                let receipt = receipts[rng.random_range(0..receipts.len())].clone();
                let refund = RefundRequest {
                    refund_id: format!("r{seed}-{step}"),
                    receipt_id: receipt,
                    amount: format!("{}.00", rng.random_range(1..200)),
                    currency: None,
                };
                // More than is left to refund is refused, and changes nothing.
                let _ = loyalty.record_refund(merchant, refund, when).await;
            }
            5 | 6 => {
                let _ = loyalty.redeem(m.id, reward.id, None, when).await;
            }
            7 => {
                let delta = rng.random_range(-40..80);
                if delta != 0 {
                    let _ = loyalty.adjust(m.id, delta, "generated", when).await;
                }
            }
            8 => {
                loyalty.expire_due(when).await.expect("expiry");
            }
            _ => {
                t.store
                    .roll_up_ledger(chrono_tz::Asia::Bangkok, when)
                    .await
                    .expect("roll-up");
            }
        }
    }
    when
}

/// A store whose points expire after a month (so histories of a few months
/// see expiry), and its merchant.
async fn expiring_monthly(db: TestDb) -> (TestStore, Merchant) {
    let t = TestStore::open(db).await;
    t.loyalty
        .change_program(ProgramChange {
            expiry_months: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
    let merchant = t.merchant().await;
    (t, merchant)
}

#[tokio::test]
async fn the_points_report_reconciles_to_the_ledger_on_generated_histories() {
    for db in databases().await {
        let (t, merchant) = expiring_monthly(db).await;
        let start = now() - Duration::days(200);
        let mut end = start;
        for seed in 1..=3 {
            end = generate(&t, &merchant, seed, (end, 60)).await;
        }
        let balances: i64 = t
            .store
            .audit()
            .await
            .unwrap()
            .iter()
            .map(|a| a.balance)
            .sum();
        let today = now();
        let mut by_grain = Vec::new();
        for by in ["day", "week", "month"] {
            let r = t
                .loyalty
                .points_report(&query(start, today, by), today)
                .await
                .unwrap();
            let last = assert_chained(&r.periods, 0);
            assert_eq!(
                last, balances,
                "{} ends at the members' balances",
                t.db.backend
            );
            assert_eq!(r.total_net_change, balances);
            by_grain.push(r.total);
        }
        assert!(by_grain.windows(2).all(|w| w[0] == w[1]), "{by_grain:?}");
        assert!(by_grain[0].expired > 0 && by_grain[0].redeemed > 0 && by_grain[0].clawed_back > 0);
        // Rolled up or read from the ledger: the same figures.
        let before = t
            .loyalty
            .points_report(&query(start, today, "day"), today)
            .await
            .unwrap();
        t.loyalty
            .roll_up_reports(today + Duration::hours(1))
            .await
            .unwrap();
        let after = t
            .loyalty
            .points_report(&query(start, today, "day"), today)
            .await
            .unwrap();
        assert_eq!(before.periods, after.periods);
        // A later window starts at what was outstanding then.
        let mid = start + Duration::days(60);
        let r = t
            .loyalty
            .points_report(&query(mid, today, "week"), today)
            .await
            .unwrap();
        let opening = r.periods[0].outstanding_start.unwrap();
        assert_eq!(assert_chained(&r.periods, opening), balances);
        // A shop's report lists flows only.
        let mut q = query(start, today, "month");
        q.merchant = Some(merchant.id.clone());
        let shop = t.loyalty.points_report(&q, today).await.unwrap();
        assert!(shop.periods.iter().all(|p| p.outstanding_end.is_none()));
        assert_eq!(shop.total.issued_base, by_grain[0].issued_base);
        assert_eq!(shop.total.issued_manual, 0, "adjustments belong to no shop");
    }
}

#[tokio::test]
async fn a_purchase_at_half_past_eleven_on_the_last_night_of_a_month_counts_in_that_month() {
    for db in databases().await {
        let t = TestStore::open(db).await;
        let merchant = t.merchant().await;
        let m = t.member().await;
        // 23:30 on 31 October in Bangkok is 16:30 UTC; 00:30 on 1 November is 17:30 UTC.
        let late: DateTime<Utc> = "2026-10-31T16:30:00Z".parse().unwrap();
        let early: DateTime<Utc> = "2026-10-31T17:30:00Z".parse().unwrap();
        for (receipt, amount, at) in [("oct", "250.00", late), ("nov", "500.00", early)] {
            t.loyalty
                .record_purchase(&merchant, purchase_at(receipt, amount, &m.code), at)
                .await
                .unwrap();
        }
        let q = ReportQuery {
            from: Some("2026-10-01".into()),
            to: Some("2026-11-30".into()),
            by: Some("month".into()),
            merchant: None,
        };
        for rolled_up in [false, true] {
            if rolled_up {
                t.loyalty.roll_up_reports(now()).await.unwrap();
            }
            let r = t.loyalty.points_report(&q, now()).await.unwrap();
            let issued: Vec<(&str, i64)> = r
                .periods
                .iter()
                .map(|p| (p.period.label.as_str(), p.issued))
                .collect();
            assert_eq!(
                issued,
                [("2026-10", 10), ("2026-11", 20)],
                "{}",
                t.db.backend
            );
            assert_eq!(r.range.by, Grain::Month);
        }
    }
}

#[tokio::test]
async fn the_admin_api_gives_the_points_report_and_refuses_a_bad_query() {
    for db in databases().await {
        let app = TestApp::spawn_admin(db).await;
        let m = app.t.member().await;
        let (status, _) = app
            .post_signed("/v1/purchases", &purchase("P-1", "250.00", Some(&m.code)))
            .await;
        assert_eq!(status, 201);
        app.t.grant(&m, 5, now()).await;
        let (status, r) = app
            .admin("GET", "/admin/v1/reports/points?by=day", None)
            .await;
        assert_eq!(status, 200, "{r}");
        let last = r["periods"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(
            (
                &last["issued_base"],
                &last["issued_manual"],
                &last["outstanding_end"]
            ),
            (&json!(10), &json!(5), &json!(15))
        );
        assert_eq!(r["time_zone"], "Asia/Bangkok");
        let (status, problem) = app
            .admin("GET", "/admin/v1/reports/points?by=year", None)
            .await;
        assert_eq!(status, 422);
        assert_eq!(problem["field"], "by");
        let (status, problem) = app
            .admin(
                "GET",
                "/admin/v1/reports/points?from=2026-12-01&to=2026-11-01",
                None,
            )
            .await;
        assert_eq!((status, problem["field"].as_str()), (422, Some("from")));
        // Every report is per shop too; an unknown shop is refused.
        for report in [
            "points",
            "members",
            "redemption",
            "campaigns",
            "summary",
            "segments",
        ] {
            let path = format!("/admin/v1/reports/{report}?merchant={}", app.merchant.id);
            let (status, r) = app.admin("GET", &path, None).await;
            assert_eq!(status, 200, "{report}: {r}");
            assert_eq!(r["merchant_id"], json!(app.merchant.id), "{report}");
            let path = format!("/admin/v1/reports/{report}?merchant=nobody");
            let (status, problem) = app.admin("GET", &path, None).await;
            assert_eq!(
                (status, problem["field"].as_str()),
                (422, Some("merchant")),
                "{report}"
            );
        }
        // The liability is as of a day, and segments are the latest ones.
        for path in [
            "/admin/v1/reports/liability?from=2026-01-01",
            "/admin/v1/reports/segments?from=2026-01-01",
        ] {
            let (status, problem) = app.admin("GET", path, None).await;
            assert_eq!((status, problem["field"].as_str()), (422, Some("from")));
        }
        let res = app
            .http
            .get(format!("{}/admin/v1/reports/points.csv?by=day", app.base))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
        let csv = res.text().await.unwrap();
        assert!(
            csv.starts_with("period,first_day,last_day,issued_base"),
            "{csv}"
        );
        assert!(csv.trim_end().ends_with(",15,0,15"), "{csv}");
        app.t.assert_ledger_holds().await;
        app.shutdown().await;
    }
}

#[tokio::test]
async fn the_liability_report_follows_each_months_points_to_the_end() {
    use taem::domain::liability::next_month;
    let tz = chrono_tz::Asia::Bangkok;
    let start = |month: chrono::NaiveDate| {
        month
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_local_timezone(tz)
            .unwrap()
            .with_timezone(&Utc)
    };
    let this_month = Grain::Month.start(now().with_timezone(&tz).date_naive());
    let mut m0 = this_month;
    for _ in 0..4 {
        m0 = Grain::Month.start(m0 - Duration::days(1));
    }
    let m1 = next_month(m0);
    for db in databases().await {
        let (t, merchant) = expiring_monthly(db).await;
        let (a, b) = (t.member().await, t.member().await);
        // 40 points for a ฿10 discount: a point is worth ฿0.25.
        let reward = t
            .reward_of(
                40,
                (None, None),
                taem::domain::offer::RewardKind::FixedDiscount {
                    off: taem::domain::Money::from_minor(1_000, taem::domain::Currency::THB),
                    min_basket: None,
                },
            )
            .await;
        let buy = async |receipt: &str, amount: &str, code: &str, at: DateTime<Utc>| {
            t.loyalty
                .record_purchase(&merchant, purchase_at(receipt, amount, code), at)
                .await
                .unwrap();
        };
        // The first month: 150 points; 40 redeemed, the other 110 expire.
        let day = |m, d| start(m) + Duration::days(d) + Duration::hours(10);
        buy("a-1", "2500.00", &a.code, day(m0, 1)).await;
        buy("b-1", "1250.00", &b.code, day(m0, 1)).await;
        let v = t
            .loyalty
            .redeem(a.id, reward.id, None, day(m0, 4))
            .await
            .unwrap();
        t.loyalty
            .use_voucher(&merchant, &v.code, day(m0, 5))
            .await
            .unwrap();
        t.loyalty.expire_due(day(m1, 5)).await.unwrap();
        // The second month: 40 points, all redeemed.
        buy("a-2", "1000.00", &a.code, day(m1, 10)).await;
        let v = t
            .loyalty
            .redeem(a.id, reward.id, None, day(m1, 11))
            .await
            .unwrap();
        t.loyalty
            .use_voucher(&merchant, &v.code, day(m1, 12))
            .await
            .unwrap();
        // This month: 80 points, still to spend.
        buy("b-2", "2000.00", &b.code, now()).await;
        for rolled_up in [false, true] {
            if rolled_up {
                t.loyalty
                    .roll_up_reports(now() + Duration::hours(1))
                    .await
                    .unwrap();
            }
            let r = t
                .loyalty
                .liability_report(&ReportQuery::default(), now())
                .await
                .unwrap();
            let rows: Vec<(&str, i64, i64, i64, i64, bool)> = r
                .cohorts
                .iter()
                .map(|c| {
                    (
                        c.month.as_str(),
                        c.issued,
                        c.redeemed,
                        c.expired,
                        c.remaining,
                        c.closed,
                    )
                })
                .collect();
            let label = |m: chrono::NaiveDate| m.format("%Y-%m").to_string();
            assert_eq!(rows.len(), 5, "{rows:?}");
            assert_eq!(
                rows[0],
                (label(m0).as_str(), 150, 40, 110, 0, true),
                "{}",
                t.db.backend
            );
            assert_eq!(rows[1], (label(m1).as_str(), 40, 40, 0, 0, true));
            assert_eq!(rows[4], (label(this_month).as_str(), 80, 0, 0, 80, false));
            // Closed: 110 of 150 never redeemed.
            assert_eq!(r.cohorts[0].breakage_bp, Some(7_333));
            assert_eq!((r.spendable_points, r.outstanding_points), (Some(80), 80));
            assert_eq!(r.point_value.as_deref(), Some("0.25"));
            assert_eq!(r.value.as_deref(), Some("20.00"));
            let b = r.breakage_percent.parse::<f64>().unwrap();
            let cost: f64 = r.expected_cost.as_deref().unwrap().parse().unwrap();
            assert!(
                (cost - 20.0 * (1.0 - b / 100.0)).abs() < 0.011,
                "{cost} at {b} %"
            );
            // This month's 80 points expire next month.
            let expiring: Vec<i64> = r.expiring.iter().map(|e| e.points).collect();
            assert_eq!(expiring[..2], [0, 80]);
            assert_eq!(expiring.iter().sum::<i64>(), 80);

            // As of the first month's last day: its 110 points were still to
            // spend, and nothing after it counts.
            let last_day = (m1 - Duration::days(1)).to_string();
            let q = ReportQuery {
                to: Some(last_day.clone()),
                ..Default::default()
            };
            let r = t.loyalty.liability_report(&q, now()).await.unwrap();
            assert_eq!(r.as_of, start(m1), "{}", t.db.backend);
            assert_eq!((r.outstanding_points, r.spendable_points), (110, None));
            let rows: Vec<(i64, i64, i64, i64, bool)> = r
                .cohorts
                .iter()
                .map(|c| (c.issued, c.redeemed, c.expired, c.remaining, c.closed))
                .collect();
            assert_eq!(rows, [(150, 40, 0, 110, false)]);
            assert_eq!(r.value.as_deref(), Some("27.50"));
            assert!(r.expiring.is_empty() && r.note.is_some());

            // A shop's: the points left in the lots it issued, as of now.
            let q = ReportQuery {
                merchant: Some(merchant.id.clone()),
                ..Default::default()
            };
            let r = t.loyalty.liability_report(&q, now()).await.unwrap();
            assert_eq!((r.outstanding_points, r.spendable_points), (80, Some(80)));
            assert_eq!(r.merchant_id.as_deref(), Some(merchant.id.as_str()));
            let other = t.merchant().await;
            let q = ReportQuery {
                merchant: Some(other.id.clone()),
                ..Default::default()
            };
            let r = t.loyalty.liability_report(&q, now()).await.unwrap();
            assert_eq!(
                (r.outstanding_points, r.value.as_deref()),
                (0, Some("0.00"))
            );
            let q = ReportQuery {
                merchant: Some(other.id),
                to: Some(last_day),
                ..Default::default()
            };
            assert!(t.loyalty.liability_report(&q, now()).await.is_err());
        }
    }
}

#[tokio::test]
async fn the_redemption_and_members_reports_count_what_happened() {
    use taem::domain::offer::RewardKind;
    use taem::domain::{Currency, Money};
    let thb = |minor| Money::from_minor(minor, Currency::THB);
    for db in databases().await {
        let t = TestStore::open(db).await;
        let merchant = t.merchant().await;
        t.pay_with_points("4:1").await;
        let (a, b, third) = (t.member().await, t.member().await, t.member().await);
        let at = now() - Duration::minutes(30);
        t.grant(&a, 100, at).await;
        t.grant(&b, 200, at).await;
        for (receipt, amount, code) in [
            ("r-1", "250.00", Some(&a.code)),
            ("r-2", "500.00", Some(&a.code)),
            ("r-3", "1000.00", Some(&b.code)),
            ("r-4", "300.00", None),
        ] {
            let mut p = purchase_at(receipt, amount, "");
            p.member_code = code.cloned();
            t.loyalty.record_purchase(&merchant, p, at).await.unwrap();
        }
        let off = RewardKind::FixedDiscount {
            off: thb(1_000),
            min_basket: None,
        };
        let fixed = t.reward_of(40, (None, None), off).await;
        let cashback = t
            .reward_of(
                100,
                (None, None),
                RewardKind::Cashback { credit: thb(2_000) },
            )
            .await;
        let v = t.loyalty.redeem(a.id, fixed.id, None, at).await.unwrap();
        let basket = taem::service::BasketInput {
            amount: "100.00".into(),
            items: None,
        };
        t.loyalty
            .use_voucher_on(&merchant, &v.code, Some(&basket), at)
            .await
            .unwrap();
        t.loyalty.redeem(a.id, fixed.id, None, at).await.unwrap();
        t.loyalty.redeem(b.id, cashback.id, None, at).await.unwrap();
        let (code, _) = t.loyalty.new_pay_code(b.id, at).await.unwrap();
        let pay = taem::service::payments::PointPaymentRequest {
            request_id: "p-1".into(),
            member_code: b.code.clone(),
            source: None,
            points: Some(40),
            amount: None,
            pay_code: Some(code),
        };
        let p = t
            .loyalty
            .reserve_points(&merchant, pay, at)
            .await
            .unwrap()
            .into_inner();
        t.loyalty
            .capture_points(&merchant, &p.id, None, at)
            .await
            .unwrap();

        let q = ReportQuery {
            by: Some("day".into()),
            // The day of `at` (yesterday just after midnight), through today.
            from: Some(
                at.with_timezone(&chrono_tz::Asia::Bangkok)
                    .date_naive()
                    .to_string(),
            ),
            ..Default::default()
        };
        let m = t.loyalty.members_report(&q, now()).await.unwrap();
        assert_eq!(
            (m.members, m.new_members, m.buyers, m.repeat_buyers),
            (3, 3, 2, 1)
        );
        assert_eq!(m.repeat_purchase_rate.as_deref(), Some("50.00"));
        assert_eq!(
            (m.member_sales.as_str(), m.anonymous_sales.as_str()),
            ("1750.00", "300.00")
        );
        assert_eq!(m.identified_share.as_deref(), Some("85.36"));
        assert_eq!(
            (m.average_spend.as_deref(), m.average_visits.as_deref()),
            (Some("875.00"), Some("1.50"))
        );
        assert_eq!((m.active_30_days, m.active_90_days), (2, 2));

        let r = t.loyalty.redemption_report(&q, now()).await.unwrap();
        let row = |id: i64| r.rewards.iter().find(|x| x.reward_id == Some(id)).unwrap();
        let f = row(fixed.id);
        assert_eq!(
            (f.redemptions, f.used, f.valid, f.points, f.cost.as_str()),
            (2, 1, 1, 80, "20.00"),
            "{}",
            t.db.backend
        );
        let c = row(cashback.id);
        assert_eq!(
            (c.redemptions, c.used, c.points, c.cost.as_str()),
            (1, 1, 100, "20.00")
        );
        assert_eq!(r.kinds.len(), 2);
        let pay = &r.payments;
        assert_eq!(
            (pay.point_payments, pay.points_paid, pay.points_paid_minor),
            (1, 40, 1_000)
        );
        assert_eq!((pay.cashbacks, pay.cashback_minor), (1, 2_000));
        // 70 points earned and 300 granted; 80 + 100 + 40 redeemed.
        assert_eq!((r.points_issued, r.points_redeemed_net), (370, 220));
        assert_eq!(r.redemption_rate.as_deref(), Some("59.45"));
        let issued: i64 = r.periods.iter().map(|p| p.points_issued).sum();
        let redeemed: i64 = r.periods.iter().map(|p| p.points_redeemed_net).sum();
        assert_eq!(
            (issued, redeemed),
            (370, 220),
            "the days add up to the range"
        );

        // Per shop: a second shop's customers and sales are its own; vouchers
        // used and payments taken at a shop are that shop's.
        let other = t.merchant().await;
        for (receipt, amount) in [("o-1", "400.00"), ("o-2", "100.00")] {
            let p = purchase_at(receipt, amount, &third.code);
            t.loyalty.record_purchase(&other, p, at).await.unwrap();
        }
        let shop = |m: &Merchant| ReportQuery {
            merchant: Some(m.id.clone()),
            ..q.clone()
        };
        let m = t
            .loyalty
            .members_report(&shop(&other), now())
            .await
            .unwrap();
        assert_eq!(
            (m.members, m.new_members, m.buyers, m.repeat_buyers),
            (1, 1, 1, 1),
            "{}",
            t.db.backend
        );
        assert_eq!(
            (m.member_sales.as_str(), m.anonymous_sales.as_str()),
            ("500.00", "0.00")
        );
        let m = t
            .loyalty
            .members_report(&shop(&merchant), now())
            .await
            .unwrap();
        assert_eq!(
            (m.members, m.buyers, m.member_sales.as_str()),
            (2, 2, "1750.00")
        );
        assert_eq!(m.anonymous_sales, "300.00");
        let r = t
            .loyalty
            .redemption_report(&shop(&merchant), now())
            .await
            .unwrap();
        let f = r
            .rewards
            .iter()
            .find(|x| x.reward_id == Some(fixed.id))
            .unwrap();
        assert_eq!((f.redemptions, f.used, f.cost.as_str()), (1, 1, "10.00"));
        assert_eq!((r.payments.point_payments, r.payments.cashbacks), (1, 0));
        let r = t
            .loyalty
            .redemption_report(&shop(&other), now())
            .await
            .unwrap();
        assert!(r.rewards.is_empty());
        assert_eq!((r.payments.point_payments, r.points_issued), (0, 20));
    }
}

#[tokio::test]
async fn members_get_classes_by_sales_and_segments_by_recency_and_frequency() {
    use taem::domain::segment::{Class, Segment};
    for db in databases().await {
        let t = TestStore::open(db).await;
        let merchant = t.merchant().await;
        // (purchases, each amount, days ago of the last one)
        let plan = [
            (10, "500.00", 1),
            (5, "400.00", 10),
            (1, "100.00", 2),
            (3, "100.00", 100),
            (1, "50.00", 300),
        ];
        let mut members = Vec::new();
        for (i, (n, amount, days)) in plan.into_iter().enumerate() {
            let m = t.member().await;
            for k in 0..n {
                let at = now() - Duration::days(days + k * 3);
                let p = purchase_at(&format!("s{i}-{k}"), amount, &m.code);
                t.loyalty.record_purchase(&merchant, p, at).await.unwrap();
            }
            members.push(m);
        }
        t.member().await; // never bought
        for _ in 0..2 {
            t.loyalty.refresh_segments(now()).await.unwrap();
        }
        let seg = async |i: usize| {
            t.loyalty
                .member_segment(members[i].id)
                .await
                .unwrap()
                .expect("a buyer has a segment")
        };
        let expected = [
            (Class::A, Segment::Champions),
            (Class::A, Segment::Loyal),
            (Class::C, Segment::Promising),
            (Class::B, Segment::AtRisk),
            (Class::C, Segment::Lost),
        ];
        for (i, (class, segment)) in expected.into_iter().enumerate() {
            let s = seg(i).await;
            assert_eq!(
                (s.class, s.segment),
                (class, segment),
                "member {i} on {}",
                t.db.backend
            );
        }
        let r = t
            .loyalty
            .segments_report(&ReportQuery::default())
            .await
            .unwrap();
        let classes: Vec<(&str, i64)> = r
            .classes
            .iter()
            .map(|c| (c.name.as_str(), c.members))
            .collect();
        assert_eq!(
            classes,
            [("A", 2), ("B", 1), ("C", 2)],
            "a second run replaces the first"
        );
        assert_eq!(r.without_purchases, 1);
        assert_eq!(r.classes[0].sales, "7000.00");
        let a = t
            .loyalty
            .segment_members(Some("A".into()), None)
            .await
            .unwrap();
        let csv = taem::service::reports::segment_members_csv(&a);
        assert_eq!(csv.lines().count(), 3, "{csv}");
        assert!(
            csv.lines()
                .nth(1)
                .unwrap()
                .starts_with(&format!("{},A,champions,5,5,5", members[0].code))
        );
        assert!(
            t.loyalty
                .segment_members(Some("D".into()), None)
                .await
                .is_err()
        );
        // The member's file and summary say it too.
        let summary = t.loyalty.summary(members[3].clone(), now()).await.unwrap();
        assert_eq!(summary.segment.map(|s| s.segment), Some(Segment::AtRisk));
        // A shop's customers, with what they bought there.
        let other = t.merchant().await;
        let p = purchase_at("o-1", "100.00", &members[0].code);
        let at = now() - Duration::days(1);
        t.loyalty.record_purchase(&other, p, at).await.unwrap();
        let q = ReportQuery {
            merchant: Some(other.id.clone()),
            ..Default::default()
        };
        let r = t.loyalty.segments_report(&q).await.unwrap();
        let classes: Vec<(&str, i64, &str)> = r
            .classes
            .iter()
            .map(|c| (c.name.as_str(), c.members, c.sales.as_str()))
            .collect();
        assert_eq!(
            classes,
            [("A", 1, "100.00"), ("B", 0, "0.00"), ("C", 0, "0.00")]
        );
        assert_eq!(r.without_purchases, 0);
    }
}

#[tokio::test]
async fn the_summary_and_campaigns_reports_value_what_the_programme_gave() {
    for db in databases().await {
        let app = TestApp::spawn_admin(db).await;
        let today = now().with_timezone(&chrono_tz::Asia::Bangkok).date_naive();
        let body = json!({"name_th": "แต้มสองเท่า", "name_en": "Double points", "kind": "multiplier",
                          "multiplier": "2", "starts_at": today.to_string(),
                          "ends_at": (today + Duration::days(1)).to_string()});
        let (status, c) = app.admin("POST", "/admin/v1/campaigns", Some(body)).await;
        assert_eq!(status, 201, "{c}");
        let m = app.t.member().await;
        let (status, r) = app
            .post_signed("/v1/purchases", &purchase("C-1", "250.00", Some(&m.code)))
            .await;
        assert_eq!((status, r["points"].as_i64()), (201, Some(20)), "{r}");
        app.post_signed("/v1/purchases", &purchase("C-2", "100.00", None))
            .await;
        app.t
            .loyalty
            .change_program(ProgramChange {
                point_value: Some("0.25".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        let (status, r) = app
            .admin("GET", "/admin/v1/reports/campaigns?by=day", None)
            .await;
        assert_eq!(status, 200, "{r}");
        let row = &r["campaigns"][0];
        assert_eq!(
            (
                &row["points_awarded"],
                &row["points_value"],
                &row["purchases"],
                &row["sales"]
            ),
            (&json!(14), &json!("3.50"), &json!(2), &json!("350.00")),
            "the unclaimed receipt's bonus counts as awarded"
        );
        assert!(row["lift"].is_null());
        assert!(
            row["lift_note"]
                .as_str()
                .unwrap()
                .contains("not measurable")
        );
        let (status, s) = app
            .admin("GET", "/admin/v1/reports/summary?by=day", None)
            .await;
        assert_eq!(status, 200, "{s}");
        assert_eq!(
            (&s["sales"], &s["member_sales"], &s["anonymous_sales"]),
            (&json!("350.00"), &json!("250.00"), &json!("100.00"))
        );
        assert_eq!(
            (
                &s["points_issued"],
                &s["points_issued_value"],
                &s["campaign_points"]
            ),
            (&json!(20), &json!("5.00"), &json!(10)),
            "points issued are those members got: the unclaimed receipt's are not yet"
        );
        assert!(s["incremental_sales"].is_null());
        // At a shop where nobody bought, the campaign gave nothing.
        let other = app.t.merchant().await;
        let path = format!("/admin/v1/reports/campaigns?by=day&merchant={}", other.id);
        let (status, r) = app.admin("GET", &path, None).await;
        assert_eq!(status, 200, "{r}");
        let row = &r["campaigns"][0];
        assert_eq!(
            (&row["points_awarded"], &row["sales"]),
            (&json!(0), &json!("0.00"))
        );
        app.shutdown().await;
    }
}

#[tokio::test]
async fn a_holdout_gets_no_bonus_nor_announcement_and_measures_the_campaigns_lift() {
    use taem::domain::model::NewMember;
    for db in databases().await {
        let app = TestApp::spawn_admin(db).await;
        app.t
            .loyalty
            .change_program(ProgramChange {
                point_value: Some("0.25".into()),
                gross_margin: Some("40".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        let today = now().with_timezone(&chrono_tz::Asia::Bangkok).date_naive();
        let body = json!({"name_th": "แต้มสองเท่า", "name_en": "Double points", "kind": "multiplier",
                          "multiplier": "2", "starts_at": (today - Duration::days(1)).to_string(),
                          "ends_at": (today + Duration::days(1)).to_string(), "holdout": "50"});
        let (status, c) = app.admin("POST", "/admin/v1/campaigns", Some(body)).await;
        assert_eq!(
            (status, c["holdout_bp"].as_i64()),
            (201, Some(5_000)),
            "{c}"
        );
        let campaign = app
            .t
            .store
            .campaign(c["id"].as_i64().unwrap())
            .await
            .unwrap();
        // Members on Telegram until each group has two.
        let (mut target, mut held) = (Vec::new(), Vec::new());
        let mut tg = 7_700_000_000;
        while target.len() < 2 || held.len() < 2 {
            tg += 1;
            let new = NewMember {
                telegram_id: Some(tg),
                ..NewMember::default()
            };
            let m = app
                .t
                .store
                .add_member(&new, now() - Duration::days(3))
                .await
                .unwrap();
            let m = app
                .t
                .loyalty
                .set_marketing(m.id, true, "telegram", now())
                .await
                .unwrap();
            if campaign.holds_out(m.id) {
                held.push(m);
            } else {
                target.push(m);
            }
        }
        // The targets buy ฿500 each and get double points; the holdout ฿250, base only.
        let buys = [
            (&target[0], "500.00"),
            (&target[1], "500.00"),
            (&held[0], "250.00"),
            (&held[1], "250.00"),
        ];
        for (i, (m, amount)) in buys.into_iter().enumerate() {
            let (status, r) = app
                .post_signed(
                    "/v1/purchases",
                    &purchase(&format!("H-{i}"), amount, Some(&m.code)),
                )
                .await;
            let expected = if campaign.holds_out(m.id) { 10 } else { 40 };
            assert_eq!((status, r["points"].as_i64()), (201, Some(expected)), "{r}");
        }
        let path = format!("/admin/v1/campaigns/{}/broadcast", campaign.id);
        let (status, b) = app.admin("POST", &path, None).await;
        assert_eq!(status, 202, "{b}");
        let kinds = async |id: i64| -> Vec<String> {
            let notices = app.t.store.notices(id).await.unwrap();
            notices.into_iter().map(|(kind, _, _)| kind).collect()
        };
        for m in &held {
            assert!(
                !kinds(m.id).await.contains(&"broadcast".to_string()),
                "held out: not told"
            );
        }
        assert!(kinds(target[0].id).await.contains(&"broadcast".to_string()));
        let (status, r) = app
            .admin("GET", "/admin/v1/reports/campaigns?by=day", None)
            .await;
        assert_eq!(status, 200, "{r}");
        let lift = &r["campaigns"][0]["lift"];
        // Everyone who had joined is in a group (some never bought).
        let (tn, hn) = (target.len() as i64, held.len() as i64);
        assert_eq!(
            (&lift["target_members"], &lift["holdout_members"]),
            (&json!(tn), &json!(hn))
        );
        // ฿1,000 from the targets against ฿500 from the holdout, scaled to the
        // targets' number; 40 bonus points at ฿0.25 cost ฿10.
        let incremental = 100_000 - 50_000 * tn / hn;
        assert_eq!(lift["incremental_sales_minor"], incremental, "{lift}");
        assert_eq!(
            lift["roi_bp"],
            (incremental * 4_000 / 10_000 - 1_000) * 10_000 / 1_000
        );
        assert_eq!(r["campaigns"][0]["holdout"], "50.00");
        let (_, s) = app
            .admin("GET", "/admin/v1/reports/summary?by=day", None)
            .await;
        let expected = taem::domain::Money::from_minor(incremental, taem::domain::Currency::THB);
        assert_eq!(s["incremental_sales"], expected.to_decimal_string(), "{s}");
        app.shutdown().await;
    }
}
