//! The merchant webhook over real HTTP, on every backend: signatures, purchases,
//! refunds, vouchers at the counter, health, and every error case.

mod common;

use common::*;
use serde_json::{Value, json};
use taem::domain::model::MemberRef;
use taem::domain::time::now;
use taem::http::signature;

async fn each_app(mut f: impl AsyncFnMut(&TestApp)) {
    for db in databases().await {
        let app = TestApp::spawn(db).await;
        f(&app).await;
        app.t.assert_ledger_holds().await;
        app.shutdown().await;
    }
}

fn purchase(receipt: &str, amount: &str, member: Option<&str>) -> Value {
    let mut body = json!({"receipt_id": receipt, "amount": amount, "currency": "THB"});
    if let Some(code) = member {
        body["member_code"] = json!(code);
    }
    body
}

#[tokio::test]
async fn a_purchase_earns_one_point_per_25_baht_and_replays_answer_the_same() {
    each_app(async |app| {
        let m = app.t.member().await;
        let body = purchase("R-1001", "1049.75", Some(&m.code));
        let (status, first) = app.post_signed("/v1/purchases", &body).await;
        assert_eq!(status, 201, "{}: {first}", app.backend());
        assert_eq!(first["receipt_id"], "R-1001");
        assert_eq!(first["points"], 41);
        assert_eq!(first["breakdown"], json!([{"rule": "base", "points": 41}]));
        assert_eq!(first["balance"], 41);
        assert_eq!(first["member_code"], m.code.as_str());
        assert!(first["purchase_id"].is_i64());

        let (status, again) = app.post_signed("/v1/purchases", &body).await;
        assert_eq!(status, 200, "a replay is not a new purchase");
        assert_eq!(again, first, "a replay answers exactly as the first time");
        assert_eq!(app.t.balance(&m).await, 41, "a replay gives no new points");

        // The same purchase with other key order and a trailing-zero amount is
        // the same request.
        let reordered = json!({"currency": "THB", "member_code": m.code.to_lowercase(),
                               "amount": "1049.750", "receipt_id": "R-1001"});
        let (status, _) = app.post_signed("/v1/purchases", &reordered).await;
        assert_eq!(status, 200);

        let changed = purchase("R-1001", "2000", Some(&m.code));
        let (status, problem) = app.post_signed("/v1/purchases", &changed).await;
        assert_eq!(status, 409);
        assert!(problem["detail"].as_str().unwrap().contains("receipt_id"));
        assert_eq!(app.t.balance(&m).await, 41);
    })
    .await;
}

#[tokio::test]
async fn a_purchase_without_a_member_gives_a_claim_code_that_works_once() {
    each_app(async |app| {
        let (status, r) = app
            .post_signed("/v1/purchases", &purchase("R-2001", "500", None))
            .await;
        assert_eq!(status, 201, "{r}");
        assert_eq!(r["points"], 20);
        assert!(r.get("balance").is_none(), "no member, no balance: {r}");
        let code = r["claim_code"].as_str().expect("a claim code").to_string();
        let expires: chrono::DateTime<chrono::Utc> =
            r["claim_expires_at"].as_str().unwrap().parse().unwrap();
        let days = (expires - now()).num_days();
        assert!((29..=30).contains(&days), "valid 30 days, got {days}");

        let first = app.t.member().await;
        let second = app.t.member().await;
        let claim = app
            .t
            .loyalty
            .claim(first.id, None, &code, now())
            .await
            .unwrap();
        assert_eq!(claim.points.value(), 20);
        assert_eq!(app.t.balance(&first).await, 20);
        let again = app
            .t
            .loyalty
            .claim(second.id, None, &code.to_lowercase(), now())
            .await;
        assert!(
            again.unwrap_err().to_string().contains("already been used"),
            "the first claim wins"
        );
        assert_eq!(app.t.balance(&second).await, 0);

        // The receipt replays with its original answer.
        let (status, replay) = app
            .post_signed("/v1/purchases", &purchase("R-2001", "500", None))
            .await;
        assert_eq!((status, &replay), (200, &r));
    })
    .await;
}

fn post<'a>(path: &'a str, body: &'a [u8]) -> signature::Request<'a> {
    signature::Request {
        method: "POST",
        path,
        body,
    }
}

#[tokio::test]
async fn requests_without_a_valid_signature_are_refused_alike_and_change_nothing() {
    each_app(async |app| {
        let m = app.t.member().await;
        let raw = serde_json::to_vec(&purchase("R-3001", "100", Some(&m.code))).unwrap();
        let secret = app.merchant.webhook_secret.expose();
        let t = now().timestamp();
        let id = app.merchant.id.as_str();
        let req = post("/v1/purchases", &raw);
        let good = signature::sign(secret, t, &req);
        let cases: Vec<(&str, Option<&str>, Option<String>)> = vec![
            ("no merchant header", None, Some(good.clone())),
            ("no signature", Some(id), None),
            ("malformed", Some(id), Some("sha256=abc".into())),
            (
                "wrong secret",
                Some(id),
                Some(signature::sign("whsec_wrong", t, &req)),
            ),
            (
                "too old",
                Some(id),
                Some(signature::sign(secret, t - 301, &req)),
            ),
            (
                "too new",
                Some(id),
                Some(signature::sign(secret, t + 301, &req)),
            ),
            (
                "a timestamp at the end of the range",
                Some(id),
                Some(format!("t={},v2={}", i64::MIN, "00".repeat(32))),
            ),
            ("unknown merchant", Some("m_nobody"), Some(good.clone())),
            (
                "signed another body",
                Some(id),
                Some(signature::sign(secret, t, &post("/v1/purchases", b"{}"))),
            ),
            (
                "signed for another path",
                Some(id),
                Some(signature::sign(secret, t, &post("/v1/refunds", &raw))),
            ),
        ];
        let mut details = std::collections::HashSet::new();
        for (case, merchant, sig) in cases {
            let (status, problem) = app
                .post_raw("/v1/purchases", raw.clone(), merchant, sig.as_deref())
                .await;
            assert_eq!(status, 401, "{case}: {problem}");
            assert_eq!(problem["status"], 401);
            details.insert(problem["detail"].as_str().unwrap().to_string());
        }
        assert_eq!(
            details.len(),
            1,
            "every failure, unknown merchant included, gets the same words: {details:?}"
        );
        assert_eq!(app.t.balance(&m).await, 0);
        // Nothing was recorded: the receipt is still new.
        let (status, _) = app
            .post_raw("/v1/purchases", raw, Some(id), Some(&good))
            .await;
        assert_eq!(status, 201);
    })
    .await;
}

#[tokio::test]
async fn a_voucher_use_signed_for_one_voucher_is_refused_for_another() {
    each_app(async |app| {
        let m = app.t.member().await;
        app.t.grant(&m, 500, now()).await;
        let reward = app.t.reward(100, None, None).await;
        let a = app
            .t
            .loyalty
            .redeem(m.id, reward.id, None, now())
            .await
            .unwrap();
        let b = app
            .t
            .loyalty
            .redeem(m.id, reward.id, None, now())
            .await
            .unwrap();
        let secret = app.merchant.webhook_secret.expose();
        let id = app.merchant.id.as_str();
        let t = now().timestamp();
        let path_a = format!("/v1/vouchers/{}/use", a.code);
        let path_b = format!("/v1/vouchers/{}/use", b.code);

        // v2 over A's path: refused on B's, accepted on A's.
        let sig_a = signature::sign(secret, t, &post(&path_a, b""));
        let (status, problem) = app.post_raw(&path_b, vec![], Some(id), Some(&sig_a)).await;
        assert_eq!(status, 401, "{problem}");
        let (status, used) = app.post_raw(&path_a, vec![], Some(id), Some(&sig_a)).await;
        assert_eq!(status, 200, "{used}");

        // v1 covers only the body: an empty one names no voucher and is refused;
        // one that names the voucher works, for that voucher only.
        let v1_empty = signature::sign_v1(secret, t, b"");
        let (status, _) = app
            .post_raw(&path_b, vec![], Some(id), Some(&v1_empty))
            .await;
        assert_eq!(status, 401);
        let named = serde_json::to_vec(&json!({"code": b.code})).unwrap();
        let v1_named = signature::sign_v1(secret, t, &named);
        let (status, _) = app
            .post_raw(&path_a, named.clone(), Some(id), Some(&v1_named))
            .await;
        assert_eq!(status, 401, "the body names another voucher");
        let (status, used) = app
            .post_raw(&path_b, named, Some(id), Some(&v1_named))
            .await;
        assert_eq!(status, 200, "{used}");
        assert_eq!(used["status"], "used");
    })
    .await;
}

#[tokio::test]
async fn v1_signatures_work_for_purchases_until_the_operator_refuses_them() {
    for db in databases().await {
        let app = TestApp::spawn(db).await;
        let raw = serde_json::to_vec(&purchase("V1-1", "100", None)).unwrap();
        let v1 = signature::sign_v1(
            app.merchant.webhook_secret.expose(),
            now().timestamp(),
            &raw,
        );
        let id = app.merchant.id.clone();
        let (status, body) = app
            .post_raw("/v1/purchases", raw, Some(&id), Some(&v1))
            .await;
        assert_eq!(status, 201, "{body}");
        let db = app.stop().await;

        let app = TestApp::spawn_with(db, &[("TAEM_SIGNATURE_V1", "refuse".into())]).await;
        let raw = serde_json::to_vec(&purchase("V1-2", "100", None)).unwrap();
        let v1 = signature::sign_v1(
            app.merchant.webhook_secret.expose(),
            now().timestamp(),
            &raw,
        );
        let id = app.merchant.id.clone();
        let (status, _) = app
            .post_raw("/v1/purchases", raw.clone(), Some(&id), Some(&v1))
            .await;
        assert_eq!(status, 401);
        let (status, _) = app
            .post_signed("/v1/purchases", &purchase("V1-2", "100", None))
            .await;
        assert_eq!(status, 201, "v2 still works");
        app.shutdown().await;
    }
}

#[tokio::test]
async fn a_rotated_secret_works_at_once_and_the_old_one_until_its_grace_period_ends() {
    for db in databases().await {
        let app = TestApp::spawn(db).await;
        let id = app.merchant.id.clone();
        let old = app.merchant.webhook_secret.expose().to_string();
        let send = async |app: &TestApp, receipt: &str, secret: &str| {
            let raw = serde_json::to_vec(&purchase(receipt, "100", None)).unwrap();
            let sig = signature::sign(secret, now().timestamp(), &post("/v1/purchases", &raw));
            app.post_raw("/v1/purchases", raw, Some(&id), Some(&sig))
                .await
                .0
        };
        // The server has the merchant cached from this purchase.
        assert_eq!(send(&app, "K-1", &old).await, 201);
        let new = taem::domain::model::Secret::new("whsec_rotated_for_the_test");
        let m = app
            .t
            .store
            .rotate_merchant_secret(&id, &new, now() + chrono::Duration::hours(1))
            .await
            .unwrap();
        assert_eq!(m.webhook_secret, new);
        assert_eq!(
            send(&app, "K-2", new.expose()).await,
            201,
            "the new secret at once"
        );
        assert_eq!(
            send(&app, "K-3", &old).await,
            201,
            "the old one during the grace"
        );
        // A rotation whose grace is over: only the newest secret works (a
        // running server applies it within its 30 s merchant cache; a restart
        // at once).
        let newer = taem::domain::model::Secret::new("whsec_rotated_again_for_the_test");
        app.t
            .store
            .rotate_merchant_secret(&id, &newer, now())
            .await
            .unwrap();
        let app = TestApp::spawn(app.stop().await).await;
        assert_eq!(send(&app, "K-4", new.expose()).await, 401);
        assert_eq!(send(&app, "K-5", &old).await, 401);
        assert_eq!(send(&app, "K-6", newer.expose()).await, 201);
        app.shutdown().await;
    }
}

/// The worked example in the README, checked: its values, signed as it says,
/// give the signature it shows.
#[test]
fn the_readme_signing_example_is_right() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let value = |name: &str| -> String {
        let line = readme
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{name}=")))
            .unwrap_or_else(|| panic!("README example has {name}="));
        let v = line.trim_start()[name.len() + 1..].trim();
        v.trim_matches('\'').to_string()
    };
    let (secret, t, method, path, body, expected) = (
        value("SECRET"),
        value("T"),
        value("METHOD"),
        value("URL_PATH"),
        value("BODY"),
        value("EXPECTED"),
    );
    let req = signature::Request {
        method: &method,
        path: &path,
        body: body.as_bytes(),
    };
    let header = signature::sign(&secret, t.parse().unwrap(), &req);
    assert_eq!(header, format!("t={t},v2={expected}"));
}

#[tokio::test]
async fn invalid_purchases_get_a_problem_naming_the_field_and_change_nothing() {
    each_app(async |app| {
        let m = app.t.member().await;
        let future = (now() + chrono::Duration::hours(1)).to_rfc3339();
        let long_id = "x".repeat(129);
        let cases = [
            ("amount", json!({"receipt_id": "R", "amount": "10.005", "currency": "THB", "member_code": m.code})),
            ("amount", json!({"receipt_id": "R", "amount": "0", "currency": "THB"})),
            ("amount", json!({"receipt_id": "R", "amount": "-5", "currency": "THB"})),
            ("amount", json!({"receipt_id": "R", "amount": "1e3", "currency": "THB"})),
            ("currency", json!({"receipt_id": "R", "amount": "10", "currency": "USD"})),
            ("receipt_id", json!({"receipt_id": "", "amount": "10", "currency": "THB"})),
            ("receipt_id", json!({"receipt_id": long_id, "amount": "10", "currency": "THB"})),
            ("member_code", json!({"receipt_id": "R", "amount": "10", "currency": "THB", "member_code": "nope"})),
            ("member_code", json!({"receipt_id": "R", "amount": "10", "currency": "THB", "member_code": "ZZZZ2222"})),
            ("occurred_at", json!({"receipt_id": "R", "amount": "10", "currency": "THB", "occurred_at": future})),
            ("items[0].amount", json!({"receipt_id": "R", "amount": "10", "currency": "THB",
                "items": [{"sku": "LATTE", "quantity": 1, "amount": "abc"}]})),
        ];
        for (field, body) in cases {
            let (status, problem) = app.post_signed("/v1/purchases", &body).await;
            assert_eq!(status, 422, "{field}: {problem}");
            assert_eq!(problem["field"], field, "{problem}");
            assert!(problem["type"].as_str().unwrap().starts_with("urn:taem:problem:"));
        }
        let (status, problem) = app.post_signed("/v1/purchases", &json!({"amount": "10"})).await;
        assert_eq!(status, 422, "missing fields: {problem}");
        let (status, _) = app.post_signed("/v1/purchases", &json!("not an object")).await;
        assert_eq!(status, 422);
        assert_eq!(app.t.balance(&m).await, 0);
        // None of them took the receipt id "R".
        let (status, _) = app
            .post_signed("/v1/purchases", &purchase("R", "10", None))
            .await;
        assert_eq!(status, 201);
    })
    .await;
}

#[tokio::test]
async fn bodies_over_64_kib_are_refused_with_413() {
    each_app(async |app| {
        let big = json!({"receipt_id": "R-big", "amount": "10", "currency": "THB",
                         "items": [{"sku": "x".repeat(70_000), "amount": "10"}]});
        let (status, problem) = app.post_signed("/v1/purchases", &big).await;
        assert_eq!(status, 413, "{problem}");
    })
    .await;
}

#[tokio::test]
async fn purchases_with_items_and_a_past_date_are_accepted() {
    each_app(async |app| {
        let m = app.t.member().await;
        let body = json!({"receipt_id": "R-items", "amount": "250.00", "currency": "thb",
            "member_code": m.code, "occurred_at": "2026-11-01T10:15:00+07:00",
            "items": [{"sku": "LATTE", "category": "coffee", "quantity": 2, "amount": "150"},
                      {"sku": "CAKE", "amount": "100.00"}]});
        let (status, r) = app.post_signed("/v1/purchases", &body).await;
        assert_eq!(status, 201, "{r}");
        assert_eq!(r["points"], 10);
    })
    .await;
}

#[tokio::test]
async fn refunds_claw_back_in_proportion_up_to_the_whole_purchase() {
    each_app(async |app| {
        let m = app.t.member().await;
        let (status, _) = app
            .post_signed("/v1/purchases", &purchase("R-4001", "1000", Some(&m.code)))
            .await;
        assert_eq!(status, 201);
        assert_eq!(app.t.balance(&m).await, 40);

        let refund = |id: &str, amount: &str| json!({"refund_id": id, "receipt_id": "R-4001", "amount": amount});
        let (status, r) = app.post_signed("/v1/refunds", &refund("F-1", "250")).await;
        assert_eq!(status, 201, "{r}");
        assert_eq!(r["points_clawed_back"], 10);
        assert_eq!(r["balance"], 30);
        assert_eq!(r["refundable_amount"], "750.00");

        let (status, again) = app.post_signed("/v1/refunds", &refund("F-1", "250")).await;
        assert_eq!((status, &again), (200, &r), "replayed refund");
        let (status, _) = app.post_signed("/v1/refunds", &refund("F-1", "300")).await;
        assert_eq!(status, 409, "same refund_id, other body");
        assert_eq!(app.t.balance(&m).await, 30);

        let (status, problem) = app.post_signed("/v1/refunds", &refund("F-2", "750.01")).await;
        assert_eq!(status, 422, "{problem}");
        assert!(problem["detail"].as_str().unwrap().contains("750.00"));

        let (status, r) = app.post_signed("/v1/refunds", &refund("F-3", "749.99")).await;
        assert_eq!(status, 201);
        assert_eq!(r["points_clawed_back"], 29, "floor(40 * 999.99/1000) - 10");
        let (status, r) = app.post_signed("/v1/refunds", &refund("F-4", "0.01")).await;
        assert_eq!(status, 201);
        assert_eq!(r["points_clawed_back"], 1, "the whole purchase takes back all 40");
        assert_eq!(r["refundable_amount"], "0.00");
        assert_eq!(app.t.balance(&m).await, 0);

        let (status, _) = app.post_signed("/v1/refunds", &refund("F-5", "0.01")).await;
        assert_eq!(status, 422, "nothing left to refund");
        let (status, problem) = app
            .post_signed("/v1/refunds", &json!({"refund_id": "F-6", "receipt_id": "nope", "amount": "1"}))
            .await;
        assert_eq!(status, 422, "{problem}");
        assert_eq!(problem["field"], "receipt_id");
    })
    .await;
}

#[tokio::test]
async fn a_clawback_can_go_negative_and_then_blocks_redemption_until_repaid() {
    each_app(async |app| {
        let m = app.t.member().await;
        let reward = app.t.reward(40, None, None).await;
        app.post_signed("/v1/purchases", &purchase("R-5001", "1000", Some(&m.code)))
            .await;
        let v = app
            .t
            .loyalty
            .redeem(m.id, reward.id, None, now())
            .await
            .unwrap();
        assert_eq!(app.t.balance(&m).await, 0);
        let (status, r) = app
            .post_signed(
                "/v1/refunds",
                &json!({"refund_id": "F", "receipt_id": "R-5001", "amount": "1000"}),
            )
            .await;
        assert_eq!(status, 201);
        assert_eq!(r["balance"], -40, "the points were already spent");
        app.t.grant(&m, 10, now()).await;
        let err = app
            .t
            .loyalty
            .redeem(m.id, reward.id, None, now())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("negative"), "{err}");
        // Cancelling the voucher repays the debt first.
        app.t
            .loyalty
            .cancel_voucher(m.id, &v.code, now())
            .await
            .unwrap();
        assert_eq!(app.t.balance(&m).await, 10);
        let member = app.t.store.member(&MemberRef::Id(m.id)).await.unwrap();
        assert_eq!(member.balance.value(), 10);
    })
    .await;
}

#[tokio::test]
async fn staff_use_a_voucher_once_and_get_clear_answers_otherwise() {
    each_app(async |app| {
        let m = app.t.member().await;
        let reward = app.t.reward(10, Some(5), None).await;
        app.t
            .grant(&m, 100, now() - chrono::Duration::days(40))
            .await;
        let v = app
            .t
            .loyalty
            .redeem(m.id, reward.id, None, now())
            .await
            .unwrap();
        let path = format!("/v1/vouchers/{}/use", v.code);

        let (status, used) = app.post_signed(&path, &json!({})).await;
        assert_eq!(status, 200, "{used}");
        assert_eq!(used["code"], v.code.as_str());
        assert_eq!(used["status"], "used");
        assert_eq!(used["reward"]["name_en"], "Iced coffee");
        assert_eq!(used["reward"]["face_value"]["amount"], "60.00");
        assert_eq!(used["member"]["code"], m.code.as_str());

        let (status, problem) = app.post_signed(&path, &json!({})).await;
        assert_eq!(status, 409, "{problem}");
        let (status, _) = app
            .post_signed("/v1/vouchers/ABCDE23456/use", &json!({}))
            .await;
        assert_eq!(status, 404);
        let (status, _) = app
            .post_signed("/v1/vouchers/not-a-code/use", &json!({}))
            .await;
        assert_eq!(status, 404);

        // Cancelled by the member: gone.
        let c = app
            .t
            .loyalty
            .redeem(m.id, reward.id, None, now())
            .await
            .unwrap();
        app.t
            .loyalty
            .cancel_voucher(m.id, &c.code, now())
            .await
            .unwrap();
        let (status, _) = app
            .post_signed(&format!("/v1/vouchers/{}/use", c.code), &json!({}))
            .await;
        assert_eq!(status, 410);

        // Issued 31 days ago with a 30-day life: expired.
        let old = now() - chrono::Duration::days(31);
        let e = app
            .t
            .loyalty
            .redeem(m.id, reward.id, None, old)
            .await
            .unwrap();
        let (status, problem) = app
            .post_signed(&format!("/v1/vouchers/{}/use", e.code), &json!({}))
            .await;
        assert_eq!(status, 410, "{problem}");

        // An unsigned use is refused.
        let (status, _) = app
            .post_raw(&format!("/v1/vouchers/{}/use", e.code), vec![], None, None)
            .await;
        assert_eq!(status, 401);
    })
    .await;
}

#[tokio::test]
async fn health_readiness_and_the_openapi_document_are_served() {
    each_app(async |app| {
        assert_eq!(app.get("/healthz").await.0, 200);
        assert_eq!(app.get("/readyz").await.0, 200);
        let (status, doc) = app.get("/openapi.json").await;
        assert_eq!(status, 200);
        let doc: Value = serde_json::from_str(&doc).expect("JSON");
        for path in [
            "/v1/purchases",
            "/v1/refunds",
            "/v1/vouchers/{code}/use",
            "/healthz",
            "/readyz",
        ] {
            assert!(doc["paths"][path].is_object(), "{path} documented");
        }
        let (status, _) = app.get("/nope").await;
        assert_eq!(status, 404);
    })
    .await;
}

#[tokio::test]
async fn a_settings_change_made_elsewhere_applies_to_the_very_next_purchase() {
    each_app(async |app| {
        let m = app.t.member().await;
        let (s, first) = app
            .post_signed("/v1/purchases", &purchase("S-1", "250", Some(&m.code)))
            .await;
        assert_eq!(s, 201, "{first}");
        assert_eq!(first["points"], 10);

        // As `taem program set` and `taem tier set` do from another process
        // while the server runs: the lowest tier earns double, points wait 3 days.
        let mut p = app.t.store.program().await.unwrap();
        p.pending_days = 3;
        let mut tiers = p.tiers.all().to_vec();
        tiers[0].multiplier_percent = 200;
        p.tiers = taem::domain::tier::Tiers::new(tiers).unwrap();
        app.t.store.set_program(&p).await.unwrap();

        let (s, next) = app
            .post_signed("/v1/purchases", &purchase("S-2", "250", Some(&m.code)))
            .await;
        assert_eq!(s, 201, "{next}");
        assert_eq!(next["points"], 20, "{}: {next}", app.backend());
        let available: chrono::DateTime<chrono::Utc> =
            next["available_at"].as_str().unwrap().parse().unwrap();
        assert!(available > now() + chrono::Duration::days(2), "{next}");
    })
    .await;
}

#[tokio::test]
async fn the_admin_api_asks_for_its_token_before_reading_anything_and_every_error_is_a_problem() {
    for db in databases().await {
        let token = "admin-token-for-the-test-0123456789";
        let app = TestApp::spawn_with(db, &[("TAEM_ADMIN_TOKEN", token.into())]).await;
        let http = &app.http;
        let problem = async |res: reqwest::Response| -> (u16, Value) {
            let status = res.status().as_u16();
            assert_eq!(
                res.headers()["content-type"],
                "application/problem+json",
                "{status}"
            );
            (status, res.json().await.unwrap())
        };
        // Without the token: 401 whatever the path or body (a path parameter
        // that is not a number, an unknown path, a huge body).
        for (path, body) in [
            ("/admin/v1/campaigns/abc/end", vec![]),
            ("/admin/v1/campaigns/1/end", vec![]),
            ("/admin/v1/no-such-thing", vec![]),
            ("/admin/v1/campaigns", vec![b'x'; 200_000]),
        ] {
            let res = http
                .post(format!("{}{path}", app.base))
                .body(body)
                .send()
                .await
                .unwrap();
            let (status, p) = problem(res).await;
            assert_eq!(status, 401, "{path}: {p}");
        }
        // With it, the router's own errors are problems too.
        let auth = format!("Bearer {token}");
        let res = http
            .post(format!("{}/admin/v1/campaigns/abc/end", app.base))
            .header("authorization", &auth)
            .send()
            .await
            .unwrap();
        assert_eq!(problem(res).await.0, 400);
        let res = http
            .post(format!("{}/admin/v1/campaigns", app.base))
            .header("authorization", &auth)
            .body(vec![b'x'; 70_000])
            .send()
            .await
            .unwrap();
        assert_eq!(problem(res).await.0, 413);
        let res = http
            .get(format!("{}/v1/purchases", app.base))
            .send()
            .await
            .unwrap();
        assert!(res.headers().contains_key("allow"));
        assert_eq!(problem(res).await.0, 405);
        let res = http
            .get(format!("{}/nothing/here", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.headers()["x-content-type-options"], "nosniff");
        assert_eq!(res.headers()["cache-control"], "no-store");
        assert_eq!(problem(res).await.0, 404);
        let res = http
            .post(format!("{}/line/webhook", app.base))
            .body(vec![b'x'; 2 * 1024 * 1024])
            .send()
            .await
            .unwrap();
        assert!(
            [404, 413].contains(&problem(res).await.0),
            "no LINE here: not found, or too large"
        );
        app.shutdown().await;
    }
}

/// Reads until the server closes the connection (or `secs` pass); what it sent.
async fn read_until_closed(stream: &mut tokio::net::TcpStream, secs: u64) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut out = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(secs),
        stream.read_to_end(&mut out),
    )
    .await;
    match read {
        Ok(_) => Some(String::from_utf8_lossy(&out).into_owned()),
        Err(_) => None,
    }
}

#[tokio::test]
async fn slow_clients_are_cut_off_and_cannot_hold_a_shutdown() {
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpStream;
    let app = TestApp::spawn_with(
        sqlite_db(),
        &[
            ("TAEM_HTTP_HEADER_TIMEOUT_SECONDS", "1".into()),
            ("TAEM_HTTP_REQUEST_TIMEOUT_SECONDS", "2".into()),
            ("TAEM_SHUTDOWN_GRACE_SECONDS", "1".into()),
        ],
    )
    .await;
    let addr = app.base.trim_start_matches("http://").to_string();

    // Headers sent halfway, then nothing: the connection is closed.
    let mut half_headers = TcpStream::connect(&addr).await.unwrap();
    half_headers
        .write_all(b"POST /v1/purchases HTTP/1.1\r\nHost: taem\r\n")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    assert!(
        read_until_closed(&mut half_headers, 10).await.is_some(),
        "a client that never finishes its headers is cut off"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));

    // A body sent halfway: 408 once the request time is up.
    let mut half_body = TcpStream::connect(&addr).await.unwrap();
    half_body
        .write_all(
            b"POST /v1/purchases HTTP/1.1\r\nHost: taem\r\ncontent-type: application/json\r\n\
              content-length: 100\r\n\r\n{\"receipt_id\":",
        )
        .await
        .unwrap();
    let answer = read_until_closed(&mut half_body, 10)
        .await
        .expect("answered and closed");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");

    // A shutdown while a slow client holds a connection mid-body (and another
    // sits idle) ends within the grace period, closing both.
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"POST /v1/refunds HTTP/1.1\r\nHost: taem\r\ncontent-length: 100\r\n\r\n{")
        .await
        .unwrap();
    let mut idle = TcpStream::connect(&addr).await.unwrap();
    let started = std::time::Instant::now();
    tokio::time::timeout(std::time::Duration::from_secs(8), app.shutdown())
        .await
        .expect("the shutdown does not wait for slow clients");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert!(read_until_closed(&mut slow, 5).await.is_some());
    assert!(read_until_closed(&mut idle, 5).await.is_some());
}

#[tokio::test]
async fn wrong_claim_codes_are_slowed_then_refused_while_right_ones_are_not_counted() {
    each_app(async |app| {
        let l = &app.t.loyalty;
        let alice = app.t.member().await;
        let tg = MemberRef::Telegram(777_001);
        // A real receipt to claim later.
        let (s, r) = app
            .post_signed("/v1/purchases", &purchase("G-1", "250", None))
            .await;
        assert_eq!(s, 201, "{r}");
        let real = r["claim_code"].as_str().unwrap().to_string();
        let t0 = now();
        // Five wrong codes: each answered "not found".
        for i in 0..5 {
            let e = l
                .claim(alice.id, Some(&tg), &format!("WRONGCODE{i}"), t0)
                .await
                .unwrap_err();
            assert!(e.to_string().contains("not found"), "{i}: {e}");
        }
        // The sixth try, even with the right code, must wait.
        let e = l.claim(alice.id, Some(&tg), &real, t0).await.unwrap_err();
        assert!(e.to_string().contains("too many wrong codes"), "{e}");
        // The same chat account as another member is held too, and so is the
        // member from another app.
        let bob = app.t.member().await;
        assert!(l.claim(bob.id, Some(&tg), &real, t0).await.is_err());
        let line = MemberRef::Line("U0123456789abcdef0123456789abcdef".into());
        assert!(l.claim(alice.id, Some(&line), &real, t0).await.is_err());
        // After the wait, one more try; the right code works and is not counted.
        let later = t0 + chrono::Duration::seconds(31);
        let claimed = l.claim(alice.id, Some(&tg), &real, later).await.unwrap();
        assert_eq!(claimed.points.value(), 10);
        // Bob, on his own account, was never slowed down.
        let e = l.claim(bob.id, None, "WRONGCODEX", t0).await.unwrap_err();
        assert!(e.to_string().contains("not found"), "{e}");
        // Past the limit, tries are refused for the lockout, then forgotten.
        let mut t = later;
        let mut refused = 0;
        for i in 0..6 {
            t += chrono::Duration::minutes(10);
            if let Err(e) = l
                .claim(alice.id, Some(&tg), &format!("WRONGCODY{i}"), t)
                .await
                && e.to_string().contains("too many")
            {
                refused += 1;
            }
        }
        assert!(refused >= 1, "the limit was reached");
        let e = l
            .claim(
                alice.id,
                Some(&tg),
                "WRONGCODZZ",
                t + chrono::Duration::minutes(1),
            )
            .await
            .unwrap_err();
        assert!(e.to_string().contains("too many"), "locked: {e}");
        let after = t + chrono::Duration::minutes(61);
        let e = l
            .claim(alice.id, Some(&tg), "WRONGCODZZ", after)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("not found"), "forgotten: {e}");

        // Wrong link codes count the same way.
        for i in 0..5 {
            assert!(
                l.link(bob.id, &format!("BADLINK00{i}"), &line, t0)
                    .await
                    .is_err()
            );
        }
        let e = l.link(bob.id, "BADLINK009", &line, t0).await.unwrap_err();
        assert!(e.to_string().contains("too many wrong codes"), "{e}");
    })
    .await;
}

#[tokio::test]
async fn the_serve_loop_prunes_used_and_expired_link_codes_old_event_ids_and_old_guesses() {
    // The store alone: a running server would prune on its own at start.
    for db in databases().await {
        let t = TestStore::open(db).await;
        let store = &t.store;
        let m = t.member().await;
        let t0 = now();
        // A new link code replaces the member's last one.
        let replaced = t.loyalty.start_link(m.id, t0).await.unwrap();
        let fresh = t.loyalty.start_link(m.id, t0).await.unwrap();
        let by = MemberRef::Telegram(424_242);
        let e = store.use_link(&replaced, &by, t0).await.unwrap_err();
        assert!(e.to_string().contains("link code"), "{e}");
        let other = t.member().await;
        let old = t
            .loyalty
            .start_link(other.id, t0 - chrono::Duration::hours(1))
            .await
            .unwrap();
        assert_ne!(fresh, old);
        assert!(
            store
                .first_delivery("line", "old-event", t0 - chrono::Duration::days(8))
                .await
                .unwrap()
        );
        assert!(store.first_delivery("line", "new-event", t0).await.unwrap());
        let subjects = ["member:1".to_string()];
        store
            .record_failure("claim", &subjects, t0 - chrono::Duration::hours(2), t0)
            .await
            .unwrap();
        let pruned = store
            .prune(
                t0,
                t0 - chrono::Duration::days(7),
                t0 - chrono::Duration::hours(1),
            )
            .await
            .unwrap();
        assert_eq!(
            (pruned.link_tokens, pruned.inbound_events, pruned.guesses),
            (1, 1, 1),
            "{}",
            t.db.backend
        );
        // The old event id is forgotten; the new one is still known.
        assert!(store.first_delivery("line", "old-event", t0).await.unwrap());
        assert!(!store.first_delivery("line", "new-event", t0).await.unwrap());
        assert!(store.failures("claim", &subjects).await.unwrap().is_empty());
    }
}
