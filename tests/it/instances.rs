//! Several `taem serve` on one PostgreSQL, as behind a load balancer: purchases
//! and LINE events to either, pushes shared by their workers. One of them, a
//! real process, is killed with SIGKILL under load; nothing is lost or doubled.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use taem::domain::model::{Member, NewMember};
use taem::domain::time::now;
use taem::http::signature;

use crate::common::fake_line::{FakeLine, SECRET, TOKEN};
use crate::common::*;

const CLIENTS: usize = 6;
const EACH: usize = 30;
const MEMBERS: usize = 12;

/// A signed purchase to one instance; `None` when the instance did not answer
/// (or answered 5xx), as a load balancer would see it.
async fn purchase_at(app: &TestApp, base: &str, body: &Value) -> Option<Value> {
    let raw = serde_json::to_vec(body).unwrap();
    let req = signature::Request {
        method: "POST",
        path: "/v1/purchases",
        body: &raw,
    };
    let sig = signature::sign(
        app.merchant.webhook_secret.expose(),
        now().timestamp(),
        &req,
    );
    let res = app
        .http
        .post(format!("{base}/v1/purchases"))
        .header("content-type", "application/json")
        .header("x-taem-merchant", &app.merchant.id)
        .header("x-taem-signature", sig)
        .timeout(Duration::from_secs(20))
        .body(raw)
        .send()
        .await
        .ok()?;
    if res.status().is_server_error() {
        return None;
    }
    assert!(res.status().is_success(), "{}", res.status());
    res.json().await.ok()
}

/// A LINE text event from `user` to one instance; whether it was acknowledged.
async fn line_says(app: &TestApp, base: &str, user: &str, n: usize) -> bool {
    let body = serde_json::to_vec(&json!({"destination": "Ubot", "events": [{
        "type": "message", "mode": "active", "timestamp": 1_795_000_000_000u64 + n as u64,
        "source": {"type": "user", "userId": user},
        "webhookEventId": format!("01HINSTANCES{n:014}"),
        "deliveryContext": {"isRedelivery": false},
        "replyToken": format!("reply-token-{n}"),
        "message": {"type": "text", "id": n.to_string(), "text": "points"}
    }]}))
    .unwrap();
    let sig = taem::line::sign(SECRET, &body);
    app.http
        .post(format!("{base}/line/webhook"))
        .header("x-line-signature", sig)
        .header("content-type", "application/json")
        .timeout(Duration::from_secs(20))
        .body(body)
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
}

#[tokio::test]
async fn two_instances_share_one_postgres_and_one_killed_under_load_loses_and_doubles_nothing() {
    read_dotenv();
    let Some(pg) = std::env::var("TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        eprintln!("skipped: several instances share PostgreSQL (set TEST_POSTGRES_URL)");
        return;
    };
    let (fake, line_api) = FakeLine::start("en").await;
    let env = vec![
        ("LINE_CHANNEL_SECRET", SECRET.to_string()),
        ("LINE_CHANNEL_ACCESS_TOKEN", TOKEN.to_string()),
        ("LINE_API_URL", line_api.clone()),
        ("TAEM_INBOX_LEASE_SECONDS", "1".to_string()),
        ("TAEM_PUSH_LEASE_SECONDS", "5".to_string()),
        ("TAEM_QUIET_HOURS", "off".to_string()),
    ];
    let a = TestApp::spawn_with(postgres_db(&pg).await, &env).await;
    // The second instance: a real `taem serve` on the same database.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let b_base = format!("http://127.0.0.1:{port}");
    let mut b = tokio::process::Command::new(env!("CARGO_BIN_EXE_taem"))
        .arg("serve")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("DATABASE_URL", &a.t.db.url)
        .env("TAEM_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("TAEM_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .expect("start taem serve");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !a
        .http
        .get(format!("{b_base}/healthz"))
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the second instance did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut members: Vec<Member> = Vec::new();
    for i in 0..MEMBERS {
        let m = NewMember {
            line_id: Some(format!("U{i:032x}")),
            ..NewMember::default()
        };
        members.push(a.t.store.add_member(&m, now()).await.unwrap());
    }
    let members = Arc::new(members);
    let a = Arc::new(a);
    let answered = Arc::new(AtomicUsize::new(0));
    // Purchases the second instance answered, and requests it left unanswered.
    let by_b = Arc::new(AtomicUsize::new(0));
    let failed_over = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let (a, b_base, members, answered) =
            (a.clone(), b_base.clone(), members.clone(), answered.clone());
        let (by_b, failed_over) = (by_b.clone(), failed_over.clone());
        clients.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for i in 0..EACH {
                let member = &members[(c * EACH + i) % MEMBERS];
                let body = purchase(&format!("R-{c}-{i}"), "250.00", Some(member.code.as_str()));
                // Round robin; the other instance when one does not answer.
                let targets = if i % 2 == 0 {
                    [a.base.clone(), b_base.clone()]
                } else {
                    [b_base.clone(), a.base.clone()]
                };
                let mut answer = None;
                for _round in 0..3 {
                    for t in &targets {
                        answer = purchase_at(&a, t, &body).await;
                        if answer.is_some() {
                            if *t == b_base {
                                by_b.fetch_add(1, Ordering::SeqCst);
                            }
                            break;
                        }
                        failed_over.fetch_add(1, Ordering::SeqCst);
                    }
                    if answer.is_some() {
                        break;
                    }
                }
                let answer = answer.expect("a purchase was answered by neither instance");
                answered.fetch_add(1, Ordering::SeqCst);
                got.push((member.id, answer));
                // A message in LINE now and then, to either instance.
                if i % 10 == 5 {
                    let n = c * EACH + i;
                    let user = member.line_id.clone().unwrap();
                    let acknowledged = line_says(&a, &targets[0], &user, n).await
                        || line_says(&a, &targets[1], &user, n).await;
                    assert!(acknowledged, "a LINE event was acknowledged by neither");
                    got.push((-(n as i64), json!({"line_event": n})));
                }
            }
            got
        }));
    }
    // Kill the second instance (SIGKILL) with a third of the purchases made.
    while answered.load(Ordering::SeqCst) < CLIENTS * EACH / 3 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    b.start_kill().unwrap();
    b.wait().await.unwrap();

    let mut by_member: HashMap<i64, i64> = HashMap::new();
    let mut purchases: HashMap<i64, i64> = HashMap::new();
    let mut ids = std::collections::HashSet::new();
    let mut events = Vec::new();
    for client in clients {
        for (member, answer) in client.await.unwrap() {
            if member < 0 {
                events.push(answer["line_event"].as_u64().unwrap());
                continue;
            }
            assert!(
                ids.insert(answer["purchase_id"].as_i64().unwrap()),
                "one id per receipt"
            );
            *by_member.entry(member).or_default() += answer["points"].as_i64().unwrap();
            *purchases.entry(member).or_default() += 1;
        }
    }
    assert_eq!(ids.len(), CLIENTS * EACH, "every receipt recorded once");
    let (by_b, failed_over) = (
        by_b.load(Ordering::SeqCst),
        failed_over.load(Ordering::SeqCst),
    );
    assert!(
        by_b > 0 && failed_over > 0,
        "both served, then one failed: {by_b} {failed_over}"
    );
    for m in members.iter() {
        assert_eq!(a.t.balance(m).await, by_member[&m.id], "member {}", m.id);
    }
    a.t.assert_ledger_holds().await;

    // Pushes: every purchase's notice reaches its member exactly once (the
    // survivor takes over the rows the killed one held; LINE's retry keys
    // keep a resent push from arriving twice).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let queued: i64 =
            a.t.store
                .outbox_depth()
                .await
                .unwrap()
                .iter()
                .map(|(_, n, _)| n)
                .sum();
        if queued == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{queued} pushes still queued"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let deliveries = fake.deliveries();
    for m in members.iter() {
        let user = m.line_id.clone().unwrap();
        assert_eq!(
            deliveries.get(&user).copied().unwrap_or(0),
            purchases[&m.id] as usize,
            "pushes to member {}",
            m.id
        );
    }
    // Every LINE message was answered (by either instance; after the kill, the
    // survivor handles what the killed one had kept).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let replied: std::collections::HashSet<String> = fake
            .calls()
            .iter()
            .filter(|c| c.kind == "reply")
            .filter_map(|c| c.body["replyToken"].as_str().map(str::to_string))
            .collect();
        let missing: Vec<_> = events
            .iter()
            .filter(|n| !replied.contains(&format!("reply-token-{n}")))
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "unanswered: {missing:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(a.t.store.inbox_depth().await.unwrap().waiting, 0);
    Arc::into_inner(a).unwrap().shutdown().await;
}

#[tokio::test]
async fn reports_read_from_the_replica_while_the_tills_write_to_the_primary() {
    read_dotenv();
    let Some(pg) = std::env::var("TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        eprintln!("skipped: a replica is PostgreSQL (set TEST_POSTGRES_URL)");
        return;
    };
    // A database of its own stands in for the replica (a streaming replica
    // cannot be made here), so what the reports show tells where they read.
    let replica = TestStore::open(postgres_db(&pg).await).await;
    let member = replica.member().await;
    replica.grant(&member, 70, now()).await;
    let app = TestApp::spawn_with(
        postgres_db(&pg).await,
        &[
            ("TAEM_ADMIN_TOKEN", ADMIN_TOKEN.to_string()),
            ("TAEM_REPLICA_URL", replica.db.url.clone()),
        ],
    )
    .await;
    let buyer = app.t.member().await;
    let (status, sale) = app
        .post_signed(
            "/v1/purchases",
            &purchase("R-1", "1250.50", Some(buyer.code.as_str())),
        )
        .await;
    assert_eq!(status, 201, "{sale}");
    assert_eq!(
        app.t.balance(&buyer).await,
        sale["points"].as_i64().unwrap()
    );
    let (status, liability) = app.admin("GET", "/admin/v1/reports/liability", None).await;
    assert_eq!(status, 200, "{liability}");
    assert_eq!(liability["outstanding_points"], 70, "read on the replica");
    // The CLI's reports read there too.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_taem"))
        .args(["report", "liability", "--json"])
        .env("DATABASE_URL", &app.t.db.url)
        .env("TAEM_REPLICA_URL", &replica.db.url)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(cli["outstanding_points"], 70);
    // A replica is only read: nothing can be written through it.
    let reader = taem::store::connect_replica(&replica.db.url).await.unwrap();
    let refused = reader.add_member(&NewMember::default(), now()).await;
    assert!(refused.is_err(), "{refused:?}");
    // A replica of SQLite, or of nothing, is refused before anything starts.
    let bad = taem::config::Settings::from_lookup(|k| match k {
        "TAEM_REPLICA_URL" => Some(replica.db.url.clone()),
        _ => None,
    });
    assert_eq!(bad.unwrap_err().var, "TAEM_REPLICA_URL");
    app.shutdown().await;
}
