//! The merchant webhook over real HTTP, on every backend: signatures, purchases,
//! refunds, vouchers at the counter, health, and every error case.

use crate::common::*;
use serde_json::{Value, json};
use taem::domain::model::MemberRef;
use taem::domain::time::now;
use taem::domain::{Currency, Money};

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

/// Every route `http::router` mounts is in the document it serves, with the
/// same methods, and the document lists nothing that is not mounted: a route
/// added with a plain `.route(...)` (not through `utoipa_axum::routes!`) fails
/// here. axum cannot list its routes, so the paths are read from the router's
/// `Debug` output, and each path's methods from the `Allow` header of the 405
/// that answers a method no route takes.
#[tokio::test]
async fn every_mounted_route_is_in_the_openapi_document_and_nothing_else() {
    use axum::body::Body;
    use axum::http::{Method, Request};
    use std::collections::BTreeSet;
    use tower::ServiceExt;

    let t = TestStore::open(sqlite_db()).await;
    let token = "admin-token-for-the-route-walk";
    let state = taem::http::AppState::new(std::sync::Arc::new(taem::service::Loyalty::new(
        t.store.clone(),
        chrono_tz::Asia::Bangkok,
    )))
    .with_admin_token(Some(taem::domain::model::Secret::new(token)));
    let router = taem::http::router(state);

    let mut mounted = BTreeSet::new();
    for path in mounted_paths(&router) {
        // Any value for a path parameter: the method is refused before it is parsed.
        let uri: String = path
            .split('/')
            .map(|s| if s.starts_with('{') { "1" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        let req = Request::builder()
            .method(Method::from_bytes(b"PROBE").unwrap())
            .uri(&uri)
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        let res = router.clone().oneshot(req).await.unwrap();
        assert_eq!(
            res.status(),
            405,
            "{path} refuses a method it does not take"
        );
        let allow = res.headers()["allow"].to_str().unwrap().to_string();
        let methods: BTreeSet<&str> = allow.split(',').map(str::trim).collect();
        for m in &methods {
            // axum answers HEAD wherever it answers GET.
            if *m == "HEAD" && methods.contains("GET") {
                continue;
            }
            mounted.insert((path.clone(), m.to_string()));
        }
    }

    let req = Request::get("/openapi.json").body(Body::empty()).unwrap();
    let res = router.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    let body = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    let doc: Value = serde_json::from_slice(&body).unwrap();
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().unwrap().keys() {
            if [
                "get", "put", "post", "delete", "patch", "head", "options", "trace",
            ]
            .contains(&method.as_str())
            {
                documented.insert((path.clone(), method.to_uppercase()));
            }
        }
    }

    // The walk finds what is known to be there (so it cannot pass by finding nothing).
    for (path, method) in [
        ("/v1/purchases", "POST"),
        ("/v1/refunds", "POST"),
        ("/v1/vouchers/{code}/use", "POST"),
        ("/admin/v1/campaigns/{id}/broadcast", "POST"),
        ("/admin/v1/campaigns/{id}/broadcast", "GET"),
        ("/openapi.json", "GET"),
    ] {
        let route = (path.to_string(), method.to_string());
        assert!(
            mounted.contains(&route),
            "{method} {path} mounted: {mounted:?}"
        );
    }
    let undocumented: Vec<_> = mounted.difference(&documented).collect();
    let unmounted: Vec<_> = documented.difference(&mounted).collect();
    assert!(
        undocumented.is_empty() && unmounted.is_empty(),
        "mounted but not in /openapi.json: {undocumented:?}; \
         in /openapi.json but not mounted: {unmounted:?}"
    );
}

/// The paths an axum router matches, from its `Debug` output (`path_router`'s
/// `node` lists them; the fallback router's come after and are left out).
fn mounted_paths(router: &axum::Router) -> Vec<String> {
    let debug = format!("{router:?}");
    let routes = debug
        .split("fallback_router:")
        .next()
        .and_then(|r| r.split("node: Node { paths: {").nth(1))
        .expect("axum's Router Debug output lists its paths");
    let paths: Vec<String> = routes
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|p| p.starts_with('/') && !p.contains("__private__axum"))
        .map(str::to_string)
        .collect();
    assert!(!paths.is_empty(), "no paths in {debug}");
    paths
}

#[tokio::test]
async fn a_voucher_used_with_the_basket_says_exactly_what_to_take_off() {
    use taem::domain::offer::RewardKind;
    each_app(async |app| {
        let thb = |minor| Money::from_minor(minor, Currency::THB);
        let m = app.t.member().await;
        app.t
            .grant(&m, 1_000, now() - chrono::Duration::days(1))
            .await;
        let fixed = app
            .t
            .reward_of(
                100,
                (None, None),
                RewardKind::FixedDiscount {
                    off: thb(6_000),
                    min_basket: Some(thb(20_000)),
                },
            )
            .await;
        let percent = app
            .t
            .reward_of(
                100,
                (None, None),
                RewardKind::PercentDiscount {
                    basis_points: 1_500,
                    cap: Some(thb(10_000)),
                    categories: vec!["bakery".into()],
                    min_basket: None,
                },
            )
            .await;
        let draw = app
            .t
            .reward_of(100, (None, None), RewardKind::DrawEntry)
            .await;
        let voucher = async |reward: i64| {
            app.t
                .loyalty
                .redeem(m.id, reward, None, now())
                .await
                .unwrap()
                .code
        };

        // A fixed discount: refused below its minimum bill (and still usable), then ฿60 off.
        let v = voucher(fixed.id).await;
        let path = format!("/v1/vouchers/{v}/use");
        let (status, problem) = app
            .post_signed(&path, &json!({"basket": {"amount": "199.99"}}))
            .await;
        assert_eq!(status, 422, "{problem}");
        assert_eq!(problem["type"], "urn:taem:problem:voucher-not-applicable");
        assert!(
            problem["detail"].as_str().unwrap().contains("200.00"),
            "{problem}"
        );
        let (status, used) = app
            .post_signed(&path, &json!({"basket": {"amount": "250"}}))
            .await;
        assert_eq!(status, 200, "{used}");
        assert_eq!(
            used["takeoff"],
            json!({"type": "amount", "amount": {"amount": "60.00", "currency": "THB"}})
        );

        // A percentage needs the basket; on it, 15 % of the bakery lines, rounded down.
        let v = voucher(percent.id).await;
        let path = format!("/v1/vouchers/{v}/use");
        let (status, problem) = app.post_signed(&path, &json!({})).await;
        assert_eq!(status, 422, "{problem}");
        let basket = json!({"basket": {"amount": "300.00", "items": [
            {"sku": "CROISSANT", "category": "Bakery", "quantity": 2, "amount": "133.33"},
            {"sku": "LATTE", "category": "coffee", "quantity": 1, "amount": "90"}
        ]}});
        let (status, used) = app.post_signed(&path, &basket).await;
        assert_eq!(status, 200, "{used}");
        assert_eq!(used["takeoff"]["amount"]["amount"], "19.99");

        // An entry in the draw takes nothing off.
        let v = voucher(draw.id).await;
        let (status, used) = app
            .post_signed(&format!("/v1/vouchers/{v}/use"), &json!({}))
            .await;
        assert_eq!(status, 200, "{used}");
        assert_eq!(used["takeoff"], json!({"type": "nothing"}));

        // The catalogue says plainly what each gives.
        let rewards = app.t.loyalty.rewards(false).await.unwrap();
        let kinds: Vec<&str> = rewards.iter().map(|r| r.kind.as_str()).collect();
        assert!(kinds.contains(&"percent_discount") && kinds.contains(&"fixed_discount"));
    })
    .await;
}

#[tokio::test]
async fn metrics_count_requests_and_purchases_and_every_answer_carries_a_request_id() {
    for db in databases().await {
        let token = "metrics-token-0123456789";
        let app = TestApp::spawn_with(db, &[("TAEM_METRICS_TOKEN", token.to_string())]).await;
        let m = app.t.member().await;
        let (status, _) = app
            .post_signed("/v1/purchases", &purchase("MX-1", "250.00", Some(&m.code)))
            .await;
        assert_eq!(status, 201);
        let get = |auth: Option<&str>, id: Option<&str>| {
            let mut req = app.http.get(format!("{}/metrics", app.base));
            if let Some(a) = auth {
                req = req.bearer_auth(a);
            }
            if let Some(i) = id {
                req = req.header("x-request-id", i);
            }
            req.send()
        };
        let refused = get(None, None).await.unwrap();
        assert_eq!(refused.status(), 401);
        assert_eq!(get(Some("wrong"), None).await.unwrap().status(), 401);
        let res = get(Some(token), Some("till-7.req-42")).await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(
            res.headers()["x-request-id"],
            "till-7.req-42",
            "a given id is kept"
        );
        let text = res.text().await.unwrap();
        for line in [
            "taem_http_requests_total{method=\"POST\",route=\"/v1/purchases\",status=\"201\"}",
            "taem_http_request_duration_seconds_bucket{method=\"POST\",route=\"/v1/purchases\",status=\"201\",le=\"0.5\"}",
            "taem_purchases_total{result=\"new\"}",
            "taem_points_issued_total",
            "taem_outbox_queued{app=\"telegram\"}",
            "taem_outbox_oldest_queued_seconds{app=\"line\"}",
        ] {
            assert!(
                text.contains(line),
                "{}: no {line} in\n{text}",
                app.backend()
            );
        }
        if app.backend() == "postgres" {
            assert!(
                text.contains("taem_db_connections{state=\"idle\"}"),
                "{text}"
            );
        }
        // An id that is not safe to log is replaced by one of taem's.
        let res = get(Some(token), Some("not a safe id; <script>"))
            .await
            .unwrap();
        let made = res.headers()["x-request-id"].to_str().unwrap().to_string();
        assert_eq!(made.len(), 36, "{made}");
        app.shutdown().await;
    }
}
