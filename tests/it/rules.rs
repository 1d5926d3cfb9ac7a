//! Earning rules over the real webhook and admin API, on every backend:
//! campaigns (windows in Asia/Bangkok, SKU bonuses, budgets under concurrency),
//! tiers and referrals.

use crate::common::*;
use chrono::{Duration, Months};
use serde_json::{Value, json};
use taem::domain::time::now;

const TOKEN: &str = ADMIN_TOKEN;

async fn spawn(db: TestDb) -> TestApp {
    TestApp::spawn_admin(db).await
}

async fn admin(app: &TestApp, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    app.admin(method, path, body).await
}

async fn add_campaign(app: &TestApp, body: Value) -> i64 {
    let (status, c) = admin(app, "POST", "/admin/v1/campaigns", Some(body)).await;
    assert_eq!(status, 201, "{}: campaign created: {c}", app.backend());
    c["id"].as_i64().unwrap()
}

async fn buy(
    app: &TestApp,
    receipt: &str,
    amount: &str,
    member: Option<&str>,
    extra: Value,
) -> Value {
    let mut body = json!({"receipt_id": receipt, "amount": amount, "currency": "THB"});
    if let Some(m) = member {
        body["member_code"] = json!(m);
    }
    for (k, v) in extra.as_object().into_iter().flatten() {
        body[k] = v.clone();
    }
    let (status, answer) = app.post_signed("/v1/purchases", &body).await;
    assert_eq!(
        status,
        201,
        "{}: purchase {receipt}: {answer}",
        app.backend()
    );
    answer
}

fn campaign_points(answer: &Value, id: i64) -> i64 {
    answer["breakdown"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["rule"] == "campaign" && l["campaign_id"] == id)
        .map(|l| l["points"].as_i64().unwrap())
        .sum()
}

fn rule_points(answer: &Value, rule: &str) -> i64 {
    answer["breakdown"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["rule"] == rule)
        .map(|l| l["points"].as_i64().unwrap())
        .sum()
}

#[tokio::test]
async fn a_double_points_weekend_starts_and_ends_at_bangkok_midnight() {
    for db in databases().await {
        let app = spawn(db).await;
        // Saturday 14 and Sunday 15 November 2026, local dates in Asia/Bangkok.
        let id = add_campaign(
            &app,
            json!({
                "name_th": "แต้มคูณสองวันหยุด", "name_en": "Double weekend",
                "text_th": "เสาร์-อาทิตย์นี้ แต้มx2", "text_en": "Double points this weekend",
                "kind": "multiplier", "multiplier": "2",
                "starts_at": "2026-11-14", "ends_at": "2026-11-15"
            }),
        )
        .await;
        let m = app.t.member().await;
        // 1,000 THB earns 40 base points; the weekend doubles them.
        for (receipt, at, points) in [
            ("fri-late", "2026-11-13T16:59:59.999Z", 40), // Fri 23:59:59.999 local
            ("sat-open", "2026-11-13T17:00:00Z", 80),     // Sat 00:00 local
            ("sun-late", "2026-11-15T16:59:59.999Z", 80), // Sun 23:59:59.999 local
            ("mon-open", "2026-11-15T17:00:00Z", 40),     // Mon 00:00 local
        ] {
            let a = buy(
                &app,
                receipt,
                "1000",
                Some(&m.code),
                json!({"occurred_at": at}),
            )
            .await;
            assert_eq!(a["points"], points, "{}: {receipt}: {a}", app.backend());
            assert_eq!(campaign_points(&a, id), points - 40, "{receipt}");
            if points == 80 {
                let line = a["breakdown"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|l| l["rule"] == "campaign")
                    .unwrap();
                assert_eq!(line["name"], "Double weekend");
            }
        }
        let (_, report) = admin(&app, "GET", &format!("/admin/v1/campaigns/{id}"), None).await;
        assert_eq!(report["status"], "ended");
        assert_eq!(report["awarded"], 80);
        assert_eq!(report["results"]["purchases"], 2);
        assert_eq!(report["results"]["members"], 1);
        assert_eq!(report["starts_at"].as_str(), None, "the window is nested");
        assert_eq!(report["window"]["starts_at"], "2026-11-13T17:00:00Z");
        assert_eq!(report["window"]["ends_at"], "2026-11-15T17:00:00Z");
        app.t.assert_ledger_holds().await;
        app.shutdown().await;
    }
}

#[tokio::test]
async fn a_sku_bonus_pays_per_unit_of_the_matching_item() {
    for db in databases().await {
        let app = spawn(db).await;
        let start = (now() - Duration::days(1)).to_rfc3339();
        let end = (now() + Duration::days(30)).to_rfc3339();
        let id = add_campaign(
            &app,
            json!({
                "name_th": "ลาเต้ใหญ่", "name_en": "Large latte bonus",
                "kind": "items", "sku": "LATTE-L", "points": 10,
                "starts_at": start, "ends_at": end
            }),
        )
        .await;
        let bakery = add_campaign(
            &app,
            json!({
                "name_th": "เบเกอรี่", "name_en": "Bakery x3",
                "kind": "items", "category": "bakery", "multiplier": "3",
                "starts_at": start, "ends_at": end
            }),
        )
        .await;
        let m = app.t.member().await;
        let items = json!({"items": [
            {"sku": "LATTE-L", "category": "coffee", "quantity": 2, "amount": "240"},
            {"sku": "CROISSANT", "category": "bakery", "quantity": 1, "amount": "100"},
            {"sku": "WATER", "amount": "10"}
        ]});
        let a = buy(&app, "r-1", "350", Some(&m.code), items).await;
        // 350 THB: 14 base; 2 lattes × 10; bakery 100 THB = 4 base, ×3 adds 8.
        assert_eq!(rule_points(&a, "base"), 14);
        assert_eq!(campaign_points(&a, id), 20, "{}: {a}", app.backend());
        assert_eq!(campaign_points(&a, bakery), 8);
        assert_eq!(a["points"], 42);
        // No matching item, no bonus.
        let b = buy(
            &app,
            "r-2",
            "350",
            Some(&m.code),
            json!({"items": [{"sku": "WATER", "amount": "350"}]}),
        )
        .await;
        assert_eq!(b["points"], 14);
        assert_eq!(app.t.balance(&m).await, 56);
        app.t.assert_ledger_holds().await;
        app.shutdown().await;
    }
}

#[tokio::test]
async fn a_member_moves_up_a_tier_mid_stream_and_down_only_at_review() {
    for db in databases().await {
        let app = spawn(db).await;
        let m = app.t.member().await;
        // Silver from 5,000 THB a year, earning ×1.25. 2,000 THB earns 80 base.
        let mut earned = Vec::new();
        for i in 0..4 {
            let a = buy(&app, &format!("t-{i}"), "2000", Some(&m.code), json!({})).await;
            earned.push((a["points"].as_i64().unwrap(), rule_points(&a, "tier")));
        }
        // The third purchase crosses 5,000: it still earns as a Member; the fourth as Silver.
        assert_eq!(
            earned,
            vec![(80, 0), (80, 0), (80, 0), (100, 20)],
            "{}",
            app.backend()
        );
        let status = app.t.loyalty.tier_status(m.id, now()).await.unwrap();
        assert_eq!(status.tier.key, "silver");
        assert_eq!(status.next.as_ref().unwrap().key, "gold");
        assert_eq!(status.to_next.unwrap().to_decimal_string(), "12000.00");
        let changes = app.t.store.tier_changes(m.id).await.unwrap();
        assert_eq!(changes.len(), 1);
        assert_eq!(
            (changes[0].to.as_str(), changes[0].reason.as_str()),
            ("silver", "purchase")
        );

        // A refund counts against the spend but never moves a member down by itself.
        let (status_code, _) = app
            .post_signed(
                "/v1/refunds",
                &json!({"refund_id": "rf-1", "receipt_id": "t-3", "amount": "2000"}),
            )
            .await;
        assert_eq!(status_code, 201);
        let after_refund = app.t.loyalty.tier_status(m.id, now()).await.unwrap();
        assert_eq!(after_refund.tier.key, "silver");
        assert_eq!(after_refund.spend.to_decimal_string(), "6000.00");

        // The review keeps a tier for a year, then follows the spend.
        let (code, moves) = admin(&app, "POST", "/admin/v1/tiers/review", None).await;
        assert_eq!((code, moves), (200, json!([])));
        let later = now().checked_add_months(Months::new(13)).unwrap();
        let moves = app.t.loyalty.review_tiers(later).await.unwrap();
        assert_eq!(moves.len(), 1, "{}", app.backend());
        assert_eq!(
            (moves[0].from.as_deref(), moves[0].to.as_str()),
            (Some("silver"), "member")
        );
        assert_eq!(
            app.t
                .loyalty
                .tier_status(m.id, later)
                .await
                .unwrap()
                .tier
                .key,
            "member"
        );
        app.t.assert_ledger_holds().await;
        app.shutdown().await;
    }
}

#[tokio::test]
async fn a_budget_is_spent_exactly_by_100_concurrent_purchases() {
    for db in databases().await {
        let app = spawn(db).await;
        let id = add_campaign(
            &app,
            json!({
                "name_th": "โบนัส", "name_en": "Opening bonus",
                "kind": "bonus", "points": 7, "budget": 500,
                "starts_at": (now() - Duration::hours(1)).to_rfc3339(),
                "ends_at": (now() + Duration::days(1)).to_rfc3339()
            }),
        )
        .await;
        let mut members = Vec::new();
        for _ in 0..10 {
            members.push(app.t.member().await.code);
        }
        let app_ref = &app;
        let answers = futures::future::join_all((0..100).map(|i| {
            let code = members[i % 10].clone();
            async move {
                // Half with a member, half without (claim codes).
                let member = (i % 2 == 0).then_some(code.as_str());
                buy(app_ref, &format!("c-{i}"), "100", member, json!({})).await
            }
        }))
        .await;
        let given: i64 = answers.iter().map(|a| campaign_points(a, id)).sum();
        assert_eq!(given, 500, "{}: the budget is given exactly", app.backend());
        let full = answers
            .iter()
            .filter(|a| campaign_points(a, id) == 7)
            .count();
        let partial: Vec<i64> = answers
            .iter()
            .map(|a| campaign_points(a, id))
            .filter(|p| *p != 0 && *p != 7)
            .collect();
        assert_eq!((full, partial), (71, vec![3]));
        let (_, report) = admin(&app, "GET", &format!("/admin/v1/campaigns/{id}"), None).await;
        assert_eq!(report["awarded"], 500);
        assert_eq!(report["results"]["points"], 500);
        assert_eq!(report["results"]["purchases"], 72);
        // Spent: later purchases get base points only, and Promotions stops showing it.
        let late = buy(&app, "late", "100", Some(&members[0]), json!({})).await;
        assert_eq!(late["points"], 4);
        assert!(
            app.t
                .loyalty
                .current_campaigns(now(), 7)
                .await
                .unwrap()
                .is_empty()
        );
        app.t.assert_ledger_holds().await;
        app.shutdown().await;
    }
}

#[tokio::test]
async fn a_referral_is_paid_once_and_taken_back_with_a_full_refund() {
    for db in databases().await {
        let app = spawn(db).await;
        let l = &app.t.loyalty;
        let (alice, bob, carol) = (
            app.t.member().await,
            app.t.member().await,
            app.t.member().await,
        );
        assert!(
            !l.record_referral(alice.id, &alice.code, now())
                .await
                .unwrap(),
            "no self-referral"
        );
        assert!(l.record_referral(bob.id, &alice.code, now()).await.unwrap());
        assert!(
            !l.record_referral(bob.id, &carol.code, now()).await.unwrap(),
            "one referrer"
        );
        assert!(
            !l.record_referral(alice.id, &bob.code, now()).await.unwrap(),
            "no loop"
        );
        assert!(l.record_referral(carol.id, &bob.code, now()).await.unwrap());
        assert!(
            !l.record_referral(alice.id, &carol.code, now())
                .await
                .unwrap(),
            "no longer loop"
        );

        // Bob's first purchase pays both: 50 each by default.
        let first = buy(&app, "b-1", "1000", Some(&bob.code), json!({})).await;
        assert_eq!(
            rule_points(&first, "referral"),
            50,
            "{}: {first}",
            app.backend()
        );
        assert_eq!(first["points"], 90);
        assert_eq!(app.t.balance(&alice).await, 50);
        // Paid once.
        let second = buy(&app, "b-2", "1000", Some(&bob.code), json!({})).await;
        assert_eq!(rule_points(&second, "referral"), 0);
        assert_eq!(app.t.balance(&alice).await, 50);
        assert_eq!(app.t.balance(&bob).await, 130);
        // After a purchase, nobody can claim to have invited you.
        let dave = app.t.member().await;
        buy(&app, "d-1", "100", Some(&dave.code), json!({})).await;
        assert!(
            !l.record_referral(dave.id, &alice.code, now())
                .await
                .unwrap(),
            "not new"
        );

        // A partial refund keeps the referral; refunding the rest takes it back.
        let refund = |id: &str, amount: &str| json!({"refund_id": id, "receipt_id": "b-1", "amount": amount});
        let (s, r) = app.post_signed("/v1/refunds", &refund("rf-1", "500")).await;
        assert_eq!((s, r["points_clawed_back"].clone()), (201, json!(20)));
        assert_eq!(app.t.balance(&alice).await, 50);
        let (s, r) = app.post_signed("/v1/refunds", &refund("rf-2", "500")).await;
        assert_eq!(
            (s, r["points_clawed_back"].clone()),
            (201, json!(70)),
            "{r}"
        );
        assert_eq!(app.t.balance(&alice).await, 0);
        assert_eq!(app.t.balance(&bob).await, 40);
        let history = app.t.store.entries(alice.id, 10).await.unwrap();
        assert_eq!(history.len(), 2, "{}: paid, then taken back", app.backend());
        app.t.assert_ledger_holds().await;
        app.shutdown().await;
    }
}

#[tokio::test]
async fn first_purchase_bonuses_member_caps_and_stacking_follow_the_rules() {
    for db in databases().await {
        let app = spawn(db).await;
        let (start, end) = (
            (now() - Duration::hours(1)).to_rfc3339(),
            (now() + Duration::days(1)).to_rfc3339(),
        );
        let welcome = add_campaign(
            &app,
            json!({
                "name_th": "ซื้อครั้งแรก", "name_en": "Welcome gift", "kind": "first_purchase",
                "points": 100, "starts_at": start, "ends_at": end
            }),
        )
        .await;
        let double = add_campaign(
            &app,
            json!({
                "name_th": "x2", "name_en": "Double", "kind": "multiplier", "multiplier": "2",
                "member_cap": 50, "starts_at": start, "ends_at": end
            }),
        )
        .await;
        let triple = add_campaign(&app, json!({
            "name_th": "x3", "name_en": "Triple (min 500)", "kind": "multiplier", "multiplier": "3",
            "min_spend": "500", "starts_at": start, "ends_at": end
        })).await;
        let m = app.t.member().await;
        // 250 THB: 10 base, first purchase +100, best multiplier ×2 (×3 needs 500 THB).
        let a = buy(&app, "f-1", "250", Some(&m.code), json!({})).await;
        assert_eq!(
            (
                campaign_points(&a, welcome),
                campaign_points(&a, double),
                campaign_points(&a, triple)
            ),
            (100, 10, 0),
            "{}: {a}",
            app.backend()
        );
        // 1,000 THB: ×3 beats ×2 (they do not compound); no second welcome gift.
        let b = buy(&app, "f-2", "1000", Some(&m.code), json!({})).await;
        assert_eq!(
            (
                campaign_points(&b, double),
                campaign_points(&b, triple),
                campaign_points(&b, welcome)
            ),
            (0, 80, 0)
        );
        // The ×2's per-member cap: 40 left of 50 after the first purchase.
        app.t.store.end_campaign(triple, now()).await.unwrap();
        let c = buy(&app, "f-3", "2500", Some(&m.code), json!({})).await;
        assert_eq!(campaign_points(&c, double), 40, "{c}");
        let d = buy(&app, "f-4", "2500", Some(&m.code), json!({})).await;
        assert_eq!(campaign_points(&d, double), 0, "cap reached");
        // Without a member, member-dependent campaigns do not apply.
        let anon = buy(&app, "f-5", "250", None, json!({})).await;
        assert_eq!(anon["points"], 10);

        // Simulation prices without recording.
        let (s, sim) = admin(
            &app,
            "POST",
            "/admin/v1/campaigns/simulate",
            Some(json!({
                "merchant_id": app.merchant.id, "amount": "250"
            })),
        )
        .await;
        assert_eq!((s, sim["points"].clone()), (200, json!(10)), "{sim}");
        let new = app.t.member().await;
        let (_, sim) = admin(
            &app,
            "POST",
            "/admin/v1/campaigns/simulate",
            Some(json!({
                "merchant_id": app.merchant.id, "amount": "250", "member_code": new.code
            })),
        )
        .await;
        assert_eq!(sim["points"], 120, "{sim}");
        assert_eq!(app.t.balance(&new).await, 0, "a simulation records nothing");
        app.t.assert_ledger_holds().await;
        app.shutdown().await;
    }
}

#[tokio::test]
async fn the_admin_api_needs_its_token_and_checks_campaigns() {
    let db = sqlite_db();
    let off = TestApp::spawn(sqlite_db()).await;
    let res = off
        .http
        .get(format!("{}/admin/v1/campaigns", off.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status().as_u16(),
        503,
        "switched off without TAEM_ADMIN_TOKEN"
    );
    off.shutdown().await;

    let app = spawn(db).await;
    for auth in [None, Some("Bearer wrong-token"), Some(TOKEN)] {
        let mut req = app.http.get(format!("{}/admin/v1/campaigns", app.base));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status().as_u16(), 401, "{auth:?}");
        assert_eq!(res.headers()["content-type"], "application/problem+json");
    }
    let (s, list) = admin(&app, "GET", "/admin/v1/campaigns", None).await;
    assert_eq!((s, list), (200, json!([])));
    let (_, tiers) = admin(&app, "GET", "/admin/v1/tiers", None).await;
    let keys: Vec<&str> = tiers
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["member", "silver", "gold", "vip"]);

    let base = json!({"name_th": "ก", "name_en": "A", "kind": "multiplier", "multiplier": "2",
                      "starts_at": "2026-12-01", "ends_at": "2026-12-02"});
    for (change, field) in [
        (json!({"multiplier": "20"}), "multiplier"),
        (json!({"kind": "jackpot"}), "kind"),
        (json!({"ends_at": "2026-11-30"}), "ends_at"),
        (json!({"days": "someday"}), "days"),
        (json!({"hours": "20-17"}), "hours"),
        (json!({"tiers": ["diamond"]}), "tiers"),
        (json!({"merchants": ["m_nope"]}), "merchants"),
        (json!({"budget": -5}), "budget"),
        (json!({"name_en": " "}), "name_en"),
    ] {
        let mut body = base.clone();
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (s, p) = admin(&app, "POST", "/admin/v1/campaigns", Some(body)).await;
        assert_eq!((s, p["field"].as_str()), (422, Some(field)), "{p}");
    }
    let (s, _) = admin(&app, "GET", "/admin/v1/campaigns/999", None).await;
    assert_eq!(s, 404);
    let (_, list) = admin(&app, "GET", "/admin/v1/campaigns", None).await;
    assert_eq!(list, json!([]), "nothing was created");
    app.shutdown().await;
}

#[tokio::test]
async fn a_claimed_receipt_pays_the_claimers_referral_like_a_purchase() {
    for db in databases().await {
        let app = spawn(db).await;
        let (alice, bob) = (app.t.member().await, app.t.member().await);
        let l = &app.t.loyalty;
        assert!(l.record_referral(bob.id, &alice.code, now()).await.unwrap());
        // Bought without a member code; Bob claims the receipt in the chat.
        let a = buy(&app, "anon-1", "1000", None, json!({})).await;
        let code = a["claim_code"].as_str().unwrap();
        let claim = l.claim(bob.id, None, code, now()).await.unwrap();
        assert_eq!(
            claim.points.value(),
            90,
            "{}: 40 + the 50-point welcome",
            app.backend()
        );
        assert_eq!(app.t.balance(&alice).await, 50);
        // Paid once: a second claimed receipt pays nothing more.
        let b = buy(&app, "anon-2", "1000", None, json!({})).await;
        let again = l
            .claim(bob.id, None, b["claim_code"].as_str().unwrap(), now())
            .await
            .unwrap();
        assert_eq!(again.points.value(), 40);
        assert_eq!(app.t.balance(&alice).await, 50);
        // A full refund of the first takes both bonuses back.
        let (s, r) = app
            .post_signed(
                "/v1/refunds",
                &json!({"refund_id": "rf-a", "receipt_id": "anon-1", "amount": "1000"}),
            )
            .await;
        assert_eq!(
            (s, r["points_clawed_back"].clone()),
            (201, json!(90)),
            "{r}"
        );
        assert_eq!(app.t.balance(&alice).await, 0);
        assert_eq!(app.t.balance(&bob).await, 40);
        app.t.assert_ledger_holds().await;
        app.shutdown().await;
    }
}

#[tokio::test]
async fn rewards_of_every_kind_are_added_and_listed_through_the_admin_api() {
    for db in databases().await {
        let app = spawn(db).await;
        let body = json!({"name_th": "ลด 15%", "name_en": "15% off", "cost": 300,
                          "kind": "percent_discount", "percent": "15", "cap": "100",
                          "categories": ["bakery"], "valid_until": "2027-01-31"});
        let (status, r) = admin(&app, "POST", "/admin/v1/rewards", Some(body)).await;
        assert_eq!(status, 201, "{r}");
        assert_eq!(r["kind"]["type"], "percent_discount");
        assert_eq!(r["kind"]["cap"]["amount"], "100.00");
        let bad = json!({"name_th": "x", "name_en": "x", "cost": 10, "kind": "fixed_discount"});
        let (status, problem) = admin(&app, "POST", "/admin/v1/rewards", Some(bad)).await;
        assert_eq!(status, 422, "a fixed discount needs its value: {problem}");
        assert_eq!(problem["field"], "face_value");
        let (status, list) = admin(&app, "GET", "/admin/v1/rewards", None).await;
        assert_eq!(status, 200);
        assert_eq!(list.as_array().unwrap().len(), 1);
        app.shutdown().await;
    }
}

/// The rolling spend a tier follows is kept on the member's row: it slides
/// with time (a purchase stops counting a year after it), refunds and claims
/// move it, and `taem check` finds it equal to the purchases every time.
#[tokio::test]
async fn a_purchase_stops_counting_towards_a_tier_a_year_after_it() {
    for db in databases().await {
        let t = TestStore::open(db).await;
        let shop = t.merchant().await;
        let m = t.member().await;
        let start = now() - Duration::days(800);
        let at = |months| start.checked_add_months(Months::new(months)).unwrap();
        let buy = async |receipt: &str, amount: &str, member: Option<&str>, when| {
            let req = taem::service::PurchaseRequest {
                receipt_id: receipt.into(),
                amount: amount.into(),
                currency: "THB".into(),
                member_code: member.map(str::to_string),
                occurred_at: None,
                items: None,
            };
            let r = t.loyalty.record_purchase(&shop, req, when).await;
            r.expect("purchase").into_inner()
        };
        let refund = async |refund_id: &str, receipt: &str, amount: &str, when| {
            let req = taem::service::RefundRequest {
                refund_id: refund_id.into(),
                receipt_id: receipt.into(),
                amount: amount.into(),
                currency: None,
            };
            t.loyalty
                .record_refund(&shop, req, when)
                .await
                .expect("refund");
        };
        let standing = async |when| {
            let s = t.loyalty.tier_status(m.id, when).await.unwrap();
            (s.tier.key, s.spend.to_decimal_string())
        };
        let code = Some(m.code.as_str());
        buy("r0", "4000", code, at(0)).await;
        buy("r1", "500", code, at(6)).await;
        assert_eq!(standing(at(6)).await, ("member".into(), "4500.00".into()));
        t.assert_ledger_holds().await;

        // Thirteen months on, the first purchase has left the year: 2,000 more
        // makes 2,500, not Silver's 5,000, and earns as a Member.
        let r2 = buy("r2", "2000", code, at(13)).await;
        assert_eq!(r2.breakdown.total().value(), 80, "{}", t.db.backend);
        assert_eq!(standing(at(13)).await, ("member".into(), "2500.00".into()));

        // A refund of what left the year changes nothing; a claimed receipt
        // counts (Silver); a refund within the year takes off.
        refund("f0", "r0", "1000", at(13)).await;
        let walk_in = buy("r3", "3000", None, at(13)).await;
        let claim = walk_in.claim_code.expect("a claim code");
        t.loyalty.claim(m.id, None, &claim, at(13)).await.unwrap();
        assert_eq!(standing(at(13)).await, ("silver".into(), "5500.00".into()));
        refund("f1", "r1", "500", at(13)).await;
        assert_eq!(standing(at(13)).await, ("silver".into(), "5000.00".into()));
        t.assert_ledger_holds().await;

        // Two years on, nothing is left in the window.
        buy("r4", "100", code, at(26)).await;
        assert_eq!(standing(at(26)).await, ("silver".into(), "100.00".into()));
        t.assert_ledger_holds().await;
    }
}
