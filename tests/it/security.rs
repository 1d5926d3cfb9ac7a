//! The security review's findings, each tested on every backend: signatures
//! bound to their request (v2) and the v1 transition, one answer for every
//! signature failure, secret rotation, the admin token before anything else,
//! problem+json from the router, slow clients, guessing codes, pruning.

use serde_json::{Value, json};
use taem::domain::model::MemberRef;
use taem::domain::time::now;
use taem::http::signature;

use crate::common::*;

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
                Some(signature::sign(secret, t - 360, &req)),
            ),
            (
                // A minute past the limit: the cases before this one may take
                // seconds on a busy machine, and the server's clock moves on.
                "too new",
                Some(id),
                Some(signature::sign(secret, t + 360, &req)),
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
        // Chat events handled eight days ago and now.
        let event = |id: &str| {
            vec![taem::domain::inbox::NewEvent {
                source: taem::domain::inbox::Source::Line,
                event_id: id.into(),
                chat: "U1".into(),
                payload: "{}".into(),
            }]
        };
        for (id, at) in [
            ("old-event", t0 - chrono::Duration::days(8)),
            ("new-event", t0),
        ] {
            assert_eq!(store.inbox_put(&event(id), at).await.unwrap(), 1);
            let claimed = store.inbox_claim(at, at, 10).await.unwrap();
            assert_eq!(claimed.len(), 1);
            store.inbox_done(claimed[0].id, at).await.unwrap();
        }
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
        assert_eq!(store.inbox_put(&event("old-event"), t0).await.unwrap(), 1);
        assert_eq!(store.inbox_put(&event("new-event"), t0).await.unwrap(), 0);
        assert!(store.failures("claim", &subjects).await.unwrap().is_empty());
    }
}
