//! Paying with points at the till: reserve, the customer's say-so (their answer
//! in chat or a fresh pay code), capture, release, the hold running out, and
//! races, on both stores, the ledger checked after each.

use serde_json::{Value, json};
use taem::domain::model::MemberRef;
use taem::domain::time::now;
use taem::service::ProgramChange;

use crate::common::*;

async fn pay_rate(app: &TestApp, rate: &str) {
    app.t
        .loyalty
        .change_program(ProgramChange {
            pay_rate: Some(rate.into()),
            pay_min_points: Some(20),
            ..Default::default()
        })
        .await
        .unwrap();
}

async fn balance(app: &TestApp, member_id: i64) -> i64 {
    app.t
        .loyalty
        .member(&MemberRef::Id(member_id))
        .await
        .unwrap()
        .balance
        .value()
}

fn id(p: &Value) -> String {
    p["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_till_takes_points_only_with_the_customers_say_so_and_captures_once() {
    each_app(async |app| {
        let m = app.t.member().await;
        app.t
            .grant(&m, 1_000, now() - chrono::Duration::days(1))
            .await;
        let body = json!({"request_id": "till-1", "member_code": m.code, "points": 200});
        let (status, problem) = app.post_signed("/v1/point-payments", &body).await;
        assert_eq!(
            status, 422,
            "off until the programme sets a value: {problem}"
        );
        assert_eq!(problem["type"], "urn:taem:problem:payments-off");

        pay_rate(app, "4:1").await;
        let (status, p) = app.post_signed("/v1/point-payments", &body).await;
        assert_eq!(status, 201, "{p}");
        assert_eq!(p["status"], "awaiting_confirmation");
        assert_eq!(p["amount"], json!({"amount": "50.00", "currency": "THB"}));
        assert_eq!(balance(app, m.id).await, 800, "held at once");
        let pid = id(&p);
        // The same request again: the same payment; another body: refused.
        let (status, again) = app.post_signed("/v1/point-payments", &body).await;
        assert_eq!((status, id(&again)), (200, pid.clone()));
        let other = json!({"request_id": "till-1", "member_code": m.code, "points": 300});
        assert_eq!(app.post_signed("/v1/point-payments", &other).await.0, 409);

        let capture = format!("/v1/point-payments/{pid}/capture");
        let (status, problem) = app.post_signed(&capture, &json!({})).await;
        assert_eq!(status, 409, "{problem}");
        assert_eq!(problem["type"], "urn:taem:problem:payment-not-confirmed");

        // The customer says yes in their chat; the till captures, twice.
        let answered = app
            .t
            .loyalty
            .answer_payment(m.id, &pid, true, now())
            .await
            .unwrap();
        assert_eq!(answered.status.as_str(), "confirmed");
        let (status, p) = app
            .post_signed(&capture, &json!({"receipt_id": "R-77"}))
            .await;
        assert_eq!(status, 200, "{p}");
        assert_eq!(
            (p["status"].as_str(), p["receipt_id"].as_str()),
            (Some("captured"), Some("R-77"))
        );
        let (status, p) = app.post_signed(&capture, &json!({})).await;
        assert_eq!((status, p["status"].as_str()), (200, Some("captured")));
        let (status, _) = app
            .post_signed(&format!("/v1/point-payments/{pid}/release"), &json!({}))
            .await;
        assert_eq!(status, 409, "a captured payment is final");
        let (status, p) = app.get_signed(&format!("/v1/point-payments/{pid}")).await;
        assert_eq!((status, p["status"].as_str()), (200, Some("captured")));
        assert_eq!(balance(app, m.id).await, 800);

        // By amount: the points are rounded up to cover it.
        let by_amount = json!({"request_id": "till-2", "member_code": m.code, "amount": "12.30"});
        let (status, p) = app.post_signed("/v1/point-payments", &by_amount).await;
        assert_eq!(status, 201, "{p}");
        assert_eq!(p["points"], 50);
        assert_eq!(p["amount"]["amount"], "12.30");
        // Released by the till: the points are back, once.
        let release = format!("/v1/point-payments/{}/release", id(&p));
        let (status, p) = app.post_signed(&release, &json!({})).await;
        assert_eq!((status, p["status"].as_str()), (200, Some("released")));
        assert_eq!(app.post_signed(&release, &json!({})).await.0, 200);
        assert_eq!(balance(app, m.id).await, 800);

        // Under the minimum, more than the member has, a stranger's code.
        let small = json!({"request_id": "till-3", "member_code": m.code, "points": 10});
        let (status, problem) = app.post_signed("/v1/point-payments", &small).await;
        assert_eq!(
            (status, problem["type"].as_str()),
            (422, Some("urn:taem:problem:payment-below-minimum"))
        );
        let big = json!({"request_id": "till-4", "member_code": m.code, "points": 801});
        let (status, problem) = app.post_signed("/v1/point-payments", &big).await;
        assert_eq!(
            (status, problem["type"].as_str()),
            (422, Some("urn:taem:problem:insufficient-points"))
        );
        let (_, p) = app
            .get_signed("/v1/point-payments/pp_0000000000000000")
            .await;
        assert_eq!(p["status"], 404);
        assert_eq!(
            balance(app, m.id).await,
            800,
            "nothing refused moved a point"
        );
    })
    .await;
}

#[tokio::test]
async fn a_fresh_pay_code_confirms_at_once_and_only_once_and_an_unanswered_hold_runs_out() {
    each_app(async |app| {
        pay_rate(app, "4:1").await;
        let m = app.t.member().await;
        app.t
            .grant(&m, 500, now() - chrono::Duration::days(1))
            .await;
        let (code, _) = app.t.loyalty.new_pay_code(m.id, now()).await.unwrap();
        let body =
            json!({"request_id": "c-1", "member_code": m.code, "points": 100, "pay_code": code});
        let (status, p) = app.post_signed("/v1/point-payments", &body).await;
        assert_eq!(
            (status, p["status"].as_str()),
            (201, Some("confirmed")),
            "{p}"
        );
        let again =
            json!({"request_id": "c-2", "member_code": m.code, "points": 100, "pay_code": code});
        let (status, problem) = app.post_signed("/v1/point-payments", &again).await;
        assert_eq!(
            (status, problem["type"].as_str()),
            (422, Some("urn:taem:problem:pay-code-invalid"))
        );
        let other = app.t.member().await;
        let (code, _) = app.t.loyalty.new_pay_code(other.id, now()).await.unwrap();
        let theirs =
            json!({"request_id": "c-3", "member_code": m.code, "points": 100, "pay_code": code});
        assert_eq!(
            app.post_signed("/v1/point-payments", &theirs).await.0,
            422,
            "another member's code"
        );
        assert_eq!(balance(app, m.id).await, 400);

        // Unanswered: the hold runs out and the points come back; a late
        // capture is refused.
        let body = json!({"request_id": "c-4", "member_code": m.code, "points": 100});
        let (_, p) = app.post_signed("/v1/point-payments", &body).await;
        assert_eq!(balance(app, m.id).await, 300);
        let later = now() + chrono::Duration::minutes(6);
        assert_eq!(
            app.t.loyalty.expire_payments(later).await.unwrap(),
            (2, 200)
        );
        assert_eq!(
            balance(app, m.id).await,
            500,
            "both holds ran out: the confirmed one too"
        );
        let pid = id(&p);
        let answered = app.t.loyalty.answer_payment(m.id, &pid, true, now()).await;
        assert!(answered.is_err(), "too late to say yes");
        let (status, p) = app.get_signed(&format!("/v1/point-payments/{pid}")).await;
        assert_eq!((status, p["status"].as_str()), (200, Some("expired")));
    })
    .await;
}

#[tokio::test]
async fn races_never_take_or_give_a_point_twice() {
    each_app(async |app| {
        pay_rate(app, "4:1").await;
        let merchant = app.merchant.clone();
        let m = app.t.member().await;
        app.t
            .grant(&m, 100, now() - chrono::Duration::days(1))
            .await;
        let loyalty = &app.t.loyalty;
        // Two tills capturing the same payment: one capture, one same answer.
        let (code, _) = loyalty.new_pay_code(m.id, now()).await.unwrap();
        let req = |id: &str, points: i64, pay_code: Option<String>| {
            taem::service::payments::PointPaymentRequest {
                request_id: id.into(),
                member_code: m.code.clone(),
                source: None,
                points: Some(points),
                amount: None,
                pay_code,
            }
        };
        let p = loyalty
            .reserve_points(&merchant, req("r-1", 40, Some(code)), now())
            .await
            .unwrap()
            .into_inner();
        let (a, b) = tokio::join!(
            loyalty.capture_points(&merchant, &p.id, None, now()),
            loyalty.capture_points(&merchant, &p.id, None, now()),
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!([a.is_new(), b.is_new()].iter().filter(|n| **n).count(), 1);
        // A capture racing the hold running out: one of them wins, never both.
        let (code, _) = loyalty.new_pay_code(m.id, now()).await.unwrap();
        let p = loyalty
            .reserve_points(&merchant, req("r-2", 30, Some(code)), now())
            .await
            .unwrap()
            .into_inner();
        let edge = p.expires_at - chrono::Duration::milliseconds(1);
        let (captured, expired) = tokio::join!(
            loyalty.capture_points(&merchant, &p.id, None, edge),
            loyalty.expire_payments(p.expires_at),
        );
        let expired = expired.unwrap().0;
        assert!(
            captured.is_ok() != (expired == 1),
            "{captured:?} / {expired}"
        );
        // A reservation racing a redemption for the last points: one wins.
        let left = balance(app, m.id).await;
        let reward = app.t.reward(left, None, None).await;
        let (paid, redeemed) = tokio::join!(
            loyalty.reserve_points(&merchant, req("r-3", left, None), now()),
            loyalty.redeem(m.id, reward.id, None, now()),
        );
        assert!(paid.is_ok() != redeemed.is_ok(), "{paid:?} / {redeemed:?}");
        assert_eq!(balance(app, m.id).await, 0);
    })
    .await;
}

#[tokio::test]
async fn the_part_paid_with_points_earns_nothing_and_a_refund_gives_those_points_back() {
    each_app(async |app| {
        pay_rate(app, "4:1").await;
        let m = app.t.member().await;
        app.t
            .grant(&m, 1_000, now() - chrono::Duration::days(1))
            .await;
        let (code, _) = app.t.loyalty.new_pay_code(m.id, now()).await.unwrap();
        let body =
            json!({"request_id": "s-1", "member_code": m.code, "points": 200, "pay_code": code});
        let (_, p) = app.post_signed("/v1/point-payments", &body).await;
        let capture = format!("/v1/point-payments/{}/capture", id(&p));
        let (status, _) = app
            .post_signed(&capture, &json!({"receipt_id": "S-1"}))
            .await;
        assert_eq!(status, 200);
        // A ฿250 bill, ฿50 of it paid with points: ฿200 earns (1 point per ฿25).
        let (status, r) = app
            .post_signed("/v1/purchases", &purchase("S-1", "250.00", Some(&m.code)))
            .await;
        assert_eq!(status, 201, "{r}");
        assert_eq!(r["points"], 8);
        assert_eq!(balance(app, m.id).await, 808);
        // Half refunded: half the earned points go, half the paying points come back.
        let half = json!({"refund_id": "S-1-r1", "receipt_id": "S-1", "amount": "125.00"});
        let (status, r) = app.post_signed("/v1/refunds", &half).await;
        assert_eq!(status, 201, "{r}");
        assert_eq!(
            (
                r["points_clawed_back"].as_i64(),
                r["points_returned"].as_i64()
            ),
            (Some(4), Some(100))
        );
        assert_eq!(r["balance"], 904);
        let (status, again) = app.post_signed("/v1/refunds", &half).await;
        assert_eq!(
            (status, &again),
            (200, &r),
            "a replay answers the same, nothing moves"
        );
        let rest = json!({"refund_id": "S-1-r2", "receipt_id": "S-1", "amount": "125.00"});
        let (_, r) = app.post_signed("/v1/refunds", &rest).await;
        assert_eq!(
            (
                r["points_clawed_back"].as_i64(),
                r["points_returned"].as_i64()
            ),
            (Some(4), Some(100))
        );
        assert_eq!(
            balance(app, m.id).await,
            1_000,
            "every point is where it started"
        );
    })
    .await;
}

async fn credit(app: &TestApp, member_id: i64) -> String {
    let m = app
        .t
        .loyalty
        .member(&MemberRef::Id(member_id))
        .await
        .unwrap();
    let s = app.t.loyalty.summary(m, now()).await.unwrap();
    s.credit.to_decimal_string()
}

#[tokio::test]
async fn cashback_is_store_credit_that_pays_at_the_till_and_comes_back_with_a_refund() {
    use taem::domain::offer::RewardKind;
    use taem::domain::{Currency, Money};
    each_app(async |app| {
        // Paying with points is off: store credit pays all the same.
        let m = app.t.member().await;
        app.t
            .grant(&m, 1_000, now() - chrono::Duration::days(1))
            .await;
        let sixty = Money::from_minor(6_000, Currency::THB);
        let reward = app
            .t
            .reward_of(500, (None, None), RewardKind::Cashback { credit: sixty })
            .await;
        let loyalty = &app.t.loyalty;
        let v = loyalty.redeem(m.id, reward.id, None, now()).await.unwrap();
        assert_eq!(
            v.status.as_str(),
            "used",
            "credit at once, nothing to show at a till"
        );
        assert_eq!(
            (balance(app, m.id).await, credit(app, m.id).await),
            (500, "60.00".into())
        );

        // More than the account holds: refused, nothing held, the code still good.
        let (code, _) = loyalty.new_pay_code(m.id, now()).await.unwrap();
        let body = |id: &str, amount: &str| {
            json!({"request_id": id, "member_code": m.code, "source": "credit",
                   "amount": amount, "pay_code": code})
        };
        let (status, problem) = app
            .post_signed("/v1/point-payments", &body("c-1", "60.01"))
            .await;
        assert_eq!(status, 422, "{problem}");
        assert_eq!(problem["type"], "urn:taem:problem:insufficient-credit");
        assert_eq!(credit(app, m.id).await, "60.00");
        let points =
            json!({"request_id": "c-0", "member_code": m.code, "source": "credit", "points": 10});
        assert_eq!(app.post_signed("/v1/point-payments", &points).await.0, 422);

        // ฿40 of credit with the fresh code: confirmed, held, captured for a sale.
        let (status, p) = app
            .post_signed("/v1/point-payments", &body("c-2", "40"))
            .await;
        assert_eq!(status, 201, "{p}");
        assert_eq!(
            (
                p["status"].as_str(),
                p["source"].as_str(),
                p["points"].as_i64()
            ),
            (Some("confirmed"), Some("credit"), Some(0))
        );
        assert_eq!(credit(app, m.id).await, "20.00");
        assert_eq!(balance(app, m.id).await, 500, "no point moves");
        let capture = format!("/v1/point-payments/{}/capture", id(&p));
        let (status, p) = app
            .post_signed(&capture, &json!({"receipt_id": "C-1"}))
            .await;
        assert_eq!((status, p["status"].as_str()), (200, Some("captured")));
        // The ฿100 bill earns on the ฿60 paid in money only (1 point per ฿25).
        let (_, r) = app
            .post_signed("/v1/purchases", &purchase("C-1", "100.00", Some(&m.code)))
            .await;
        assert_eq!(r["points"], 2, "{r}");
        // A full refund: the points go, the credit comes back, once.
        let refund = json!({"refund_id": "C-1-r", "receipt_id": "C-1", "amount": "100.00"});
        let (status, r) = app.post_signed("/v1/refunds", &refund).await;
        assert_eq!(status, 201, "{r}");
        assert_eq!(
            (
                r["points_clawed_back"].as_i64(),
                r["credit_returned"].as_str()
            ),
            (Some(2), Some("40.00"))
        );
        assert_eq!(app.post_signed("/v1/refunds", &refund).await, (200, r));
        assert_eq!(credit(app, m.id).await, "60.00");

        // Without a code the customer is asked; saying no gives the credit back.
        let ask =
            json!({"request_id": "c-3", "member_code": m.code, "source": "credit", "amount": "15"});
        let (_, p) = app.post_signed("/v1/point-payments", &ask).await;
        assert_eq!(p["status"], "awaiting_confirmation");
        assert_eq!(credit(app, m.id).await, "45.00");
        let p = loyalty
            .answer_payment(m.id, &id(&p), false, now())
            .await
            .unwrap();
        assert_eq!(p.status.as_str(), "declined");
        assert_eq!(credit(app, m.id).await, "60.00");

        // Two tills asking for the last ฿60 at once: one gets it.
        let merchant = app.merchant.clone();
        let req = |id: &str| taem::service::payments::PointPaymentRequest {
            request_id: id.into(),
            member_code: m.code.clone(),
            source: Some(taem::domain::payment::PaySource::Credit),
            points: None,
            amount: Some("60".into()),
            pay_code: None,
        };
        let (a, b) = tokio::join!(
            loyalty.reserve_points(&merchant, req("c-4"), now()),
            loyalty.reserve_points(&merchant, req("c-5"), now()),
        );
        assert!(a.is_ok() != b.is_ok(), "{a:?} / {b:?}");
        assert_eq!(credit(app, m.id).await, "0.00");
    })
    .await;
}

#[tokio::test]
async fn a_pay_code_live_for_one_member_is_never_given_to_another() {
    for db in databases().await {
        let t = TestStore::open(db).await;
        let (a, b) = (t.member().await, t.member().await);
        let at = now();
        let expires = at + chrono::Duration::minutes(5);
        assert!(
            t.store
                .add_pay_code(a.id, "h-1", expires, at)
                .await
                .unwrap()
        );
        assert!(
            !t.store
                .add_pay_code(b.id, "h-1", expires, at)
                .await
                .unwrap(),
            "still live for {}: another is drawn",
            t.db.backend
        );
        // Once it has run out, the same code may be drawn again.
        let later = expires + chrono::Duration::seconds(1);
        let until = later + chrono::Duration::minutes(5);
        assert!(
            t.store
                .add_pay_code(b.id, "h-1", until, later)
                .await
                .unwrap()
        );
    }
}
