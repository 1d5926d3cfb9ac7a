//! LINE's monthly message quota: a broadcast that would go over what is left is
//! refused with the numbers (through the service, the admin API and the CLI)
//! unless forced; LINE's "monthly limit" 429 holds LINE marketing until an
//! operator resumes it (or the month ends), while its rate-limit 429 is
//! retried as before. The worker is driven one round at a time.

use std::sync::Arc;
use std::time::Duration;

use crate::common::fake_line::{self, FakeLine};
use crate::common::*;
use crate::notify::weekend_campaign;
use taem::domain::model::*;
use taem::domain::notice::BroadcastStatus;
use taem::domain::quota::{LINE_MONTHLY_LIMIT, QuotaRefusal, next_month};
use taem::domain::time::now;
use taem::line::LineClient;
use taem::service::ServiceError;

fn client(url: &str) -> LineClient {
    LineClient::new(
        reqwest::Client::new(),
        Secret::new(fake_line::TOKEN),
        Some(url.parse().unwrap()),
    )
}

/// A store whose broadcasts are checked against the fake's quota.
async fn store_with_quota(db: TestDb, url: &str) -> TestStore {
    let mut t = TestStore::open(db).await;
    t.loyalty = taem::service::Loyalty::new(t.store.clone(), chrono_tz::Asia::Bangkok)
        .with_line_quota(Arc::new(client(url)));
    t
}

/// A push worker for LINE only, pointed at the fake, without a loop of its
/// own: the test drives it with `Worker::round`.
fn line_worker(t: &TestStore, url: &str) -> Arc<taem::notify::Worker> {
    Arc::new(taem::notify::Worker {
        store: t.store.clone(),
        i18n: Arc::new(taem::i18n::I18n::load().unwrap()),
        tz: chrono_tz::Asia::Bangkok,
        default_locale: taem::domain::Locale::Th,
        quiet: None,
        telegram: None,
        line: Some(taem::notify::LineOut {
            client: client(url),
            gate: Arc::new(taem::notify::gate::Gate::new(1000, Duration::ZERO)),
            qr_urls: None,
        }),
        lease: Duration::from_secs(120),
        telegram_rate: 25,
        line_rate: 1000,
    })
}

/// A member on LINE (and Telegram when `tg`) who agreed to marketing.
async fn member(t: &TestStore, i: usize, tg: Option<i64>) -> Member {
    t.opted_in(NewMember {
        locale: Some("en".into()),
        line_id: Some(line_id(i)),
        telegram_id: tg,
        ..NewMember::default()
    })
    .await
}

fn line_id(i: usize) -> String {
    format!("U{i:032x}")
}

#[tokio::test]
async fn a_broadcast_over_what_is_left_of_lines_quota_is_refused_with_the_numbers_unless_forced() {
    for db in databases().await {
        let (line, url) = FakeLine::start("en").await;
        let t = store_with_quota(db, &url).await;
        let backend = t.db.backend;
        // Five members on LINE (one of them on Telegram too): five LINE messages.
        for i in 0..5 {
            member(&t, i, (i == 0).then_some(70_000)).await;
        }
        let id = weekend_campaign(&t).await;

        line.set_quota(Some(15_000), 14_997);
        let refused = t.loyalty.broadcast(id, false, now()).await.unwrap_err();
        let ServiceError::LineQuota(r) = &refused else {
            panic!("{backend}: {refused:?}");
        };
        assert_eq!(
            *r,
            QuotaRefusal::Short {
                limit: 15_000,
                used: 14_997,
                queued: 0,
                left: 3,
                needed: 5
            },
            "{backend}"
        );
        assert_eq!(
            refused.to_string(),
            "LINE allows 15,000 messages this month: 14,997 used, 3 left; \
             this broadcast would send 5 on LINE"
        );
        let status = t.loyalty.broadcast_status(id).await.unwrap();
        assert_eq!(
            status.total(),
            0,
            "{backend}: nothing queued, not even Telegram"
        );

        // The quota cannot be read: refused too, saying so.
        line.break_quota();
        let refused = t.loyalty.broadcast(id, false, now()).await.unwrap_err();
        assert!(
            matches!(refused, ServiceError::LineQuota(QuotaRefusal::Unknown(_))),
            "{backend}: {refused:?}"
        );
        assert!(
            refused.to_string().contains("could not be read"),
            "{refused}"
        );

        // Forced, it is queued (Telegram too) without asking LINE.
        let (queued, status) = t.loyalty.broadcast(id, true, now()).await.unwrap();
        assert_eq!((queued, status.queued), (6, 6), "{backend}");

        // What is queued for LINE counts against what is left: five more
        // members for a second campaign do not fit in 15,000 - 14,990 - 5.
        for i in 5..10 {
            member(&t, i, None).await;
        }
        let second = weekend_campaign(&t).await;
        line.set_quota(Some(15_000), 14_990);
        let refused = t.loyalty.broadcast(second, false, now()).await.unwrap_err();
        assert!(
            refused.to_string().contains(
                "14,990 used, 5 queued in taem, 5 left; this broadcast would send 10 on LINE"
            ),
            "{backend}: {refused}"
        );
        // Running a broadcast again counts only members not queued before.
        for i in 10..15 {
            member(&t, i, None).await;
        }
        line.set_quota(Some(15_000), 14_000);
        let (again, _) = t.loyalty.broadcast(id, false, now()).await.unwrap();
        assert_eq!(again, 10, "{backend}: ten new members fit");
        // A plan without a limit is never refused.
        line.set_quota(None, 40_000);
        let (queued, _) = t.loyalty.broadcast(second, false, now()).await.unwrap();
        assert_eq!(queued, 15 + 1, "{backend}: LINE, and Telegram for one");
    }
}

#[tokio::test]
async fn lines_monthly_limit_holds_line_marketing_until_an_operator_resumes_it() {
    // The process's recorder, so the sends' outcomes are counted.
    let metrics = taem::metrics::handle();
    for db in databases().await {
        let (line, url) = FakeLine::start("en").await;
        let t = TestStore::open(db).await;
        let backend = t.db.backend;
        let shop = t.merchant().await;
        let worker = line_worker(&t, &url);
        let round = async || worker.round(Channel::Line).await.unwrap();
        let members = [
            member(&t, 1, None).await,
            member(&t, 2, None).await,
            member(&t, 3, None).await,
        ];
        let first = weekend_campaign(&t).await;
        t.loyalty.broadcast(first, false, now()).await.unwrap();

        // LINE says the month's quota is used up: nothing is delivered, the
        // rows wait for next month, recorded as such, and marketing pauses.
        line.monthly_limit(true);
        assert_eq!(round().await, 3, "{backend}");
        assert_eq!(line.refused().len(), 1, "{backend}: one multicast tried");
        assert!(line.deliveries().is_empty(), "{backend}");
        let status = t.loyalty.broadcast_status(first).await.unwrap();
        assert_eq!((status.queued, status.held, status.failed), (3, 3, 0));
        let at = now();
        let line_status = t.loyalty.line_status(at).await.unwrap();
        let pause = line_status.paused.expect("paused");
        assert_eq!(pause.reason, LINE_MONTHLY_LIMIT);
        assert_eq!(pause.until, next_month(at, chrono_tz::Asia::Bangkok));
        assert_eq!(line_status.held, 3, "{backend}");
        assert!(
            metrics
                .render()
                .contains(r#"taem_sends_total{app="line",outcome="quota"}"#),
            "{backend}: counted in the metrics"
        );

        // Not retried, and a new broadcast waits too: no request reaches LINE.
        assert_eq!(round().await, 0, "{backend}: nothing is due");
        let second = weekend_campaign(&t).await;
        t.loyalty.broadcast(second, false, now()).await.unwrap();
        assert_eq!(round().await, 0, "{backend}: marketing is paused");
        assert_eq!(line.refused().len(), 1, "{backend}");
        assert_eq!(
            t.loyalty.broadcast_status(second).await.unwrap().queued,
            3,
            "{backend}"
        );

        // A transactional push is still tried; refused, it waits as well.
        t.loyalty
            .record_purchase(
                &shop,
                taem::service::PurchaseRequest {
                    receipt_id: "Q-1".into(),
                    amount: "500".into(),
                    currency: "THB".into(),
                    member_code: Some(members[0].code.clone()),
                    occurred_at: None,
                    items: None,
                },
                now(),
            )
            .await
            .unwrap();
        assert_eq!(round().await, 1, "{backend}");
        assert_eq!(line.refused().len(), 2, "{backend}: the push was tried");
        assert_eq!(line.refused()[1].kind, "push");
        assert_eq!(t.loyalty.line_status(now()).await.unwrap().held, 4);

        // The operator upgrades the plan and resumes: everything goes, once.
        line.monthly_limit(false);
        assert_eq!(t.loyalty.resume_line(now()).await.unwrap(), 4, "{backend}");
        assert!(t.loyalty.line_pause(now()).await.unwrap().is_none());
        while round().await > 0 {}
        for m in &members {
            let to = m.line_id.clone().unwrap();
            let expected = if m.id == members[0].id { 3 } else { 2 };
            assert_eq!(
                line.deliveries().get(&to).copied(),
                Some(expected),
                "{backend}: {to} hears both campaigns (and the first their points)"
            );
        }
        for id in [first, second] {
            let status = t.loyalty.broadcast_status(id).await.unwrap();
            assert_eq!(
                status,
                BroadcastStatus {
                    sent: 3,
                    ..BroadcastStatus::default()
                },
                "{backend}"
            );
        }
        let earned = line
            .calls()
            .into_iter()
            .find(|c| c.kind == "push")
            .expect("the points notice");
        assert!(
            earned.texts().contains("You earned 40 points"),
            "{}",
            earned.texts()
        );
        assert_eq!(t.loyalty.line_status(now()).await.unwrap().held, 0);
    }
}

#[tokio::test]
async fn lines_rate_limit_is_retried_after_a_backoff_and_pauses_nothing() {
    for db in databases().await {
        let (line, url) = FakeLine::start("en").await;
        let t = TestStore::open(db).await;
        let backend = t.db.backend;
        let worker = line_worker(&t, &url);
        for i in 0..3 {
            member(&t, i, None).await;
        }
        let id = weekend_campaign(&t).await;
        t.loyalty.broadcast(id, false, now()).await.unwrap();

        line.rate_limit(1);
        assert_eq!(worker.round(Channel::Line).await.unwrap(), 3);
        assert_eq!(line.refused().len(), 1, "{backend}");
        let status = t.loyalty.broadcast_status(id).await.unwrap();
        assert_eq!((status.queued, status.held), (3, 0), "{backend}: not held");
        assert!(
            t.loyalty.line_pause(now()).await.unwrap().is_none(),
            "{backend}: no pause"
        );

        // Due again after a few seconds (the first backoff: 2.5 to 5 s).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        while t.loyalty.broadcast_status(id).await.unwrap().sent < 3 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{backend}: not retried"
            );
            worker.round(Channel::Line).await.unwrap();
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // The chunk went again whole, under its retry key: each member has it once.
        assert_eq!(line.deliveries().len(), 3, "{backend}: {:?}", line.calls());
        assert!(line.deliveries().values().all(|n| *n == 1), "{backend}");
    }
}

/// The server with LINE at the fake and the admin API on.
async fn spawn(db: TestDb, url: &str) -> TestApp {
    TestApp::spawn_with(
        db,
        &[
            ("TAEM_ADMIN_TOKEN", ADMIN_TOKEN.to_string()),
            ("LINE_CHANNEL_SECRET", fake_line::SECRET.to_string()),
            ("LINE_CHANNEL_ACCESS_TOKEN", fake_line::TOKEN.to_string()),
            ("LINE_API_URL", url.to_string()),
        ],
    )
    .await
}

#[tokio::test]
async fn the_admin_api_refuses_a_broadcast_over_lines_quota_with_409_until_forced() {
    for db in databases().await {
        let (line, url) = FakeLine::start("en").await;
        let app = spawn(db, &url).await;
        let backend = app.backend();
        for i in 0..4 {
            member(&app.t, i, None).await;
        }
        let id = weekend_campaign(&app.t).await;
        line.set_quota(Some(300), 298);
        let path = format!("/admin/v1/campaigns/{id}/broadcast");
        let (status, body) = app.admin("POST", &path, None).await;
        assert_eq!(status, 409, "{backend}: {body}");
        assert_eq!(body["type"], "urn:taem:problem:line-quota-exceeded");
        let detail = body["detail"].as_str().unwrap();
        assert!(
            detail.starts_with(
                "LINE allows 300 messages this month: 298 used, 2 left; \
                 this broadcast would send 4 on LINE. Nothing was queued"
            ),
            "{detail}"
        );
        assert!(detail.contains("force=true"), "{detail}");
        let (status, body) = app.admin("POST", &format!("{path}?force=true"), None).await;
        assert_eq!(status, 202, "{backend}: {body}");
        assert_eq!(body["queued_now"], 4);

        // While LINE marketing is paused, the metrics say so.
        let (_, metrics) = app.get("/metrics").await;
        assert!(metrics.contains("taem_line_paused 0"), "{metrics}");
        app.t
            .store
            .pause_sends(
                Channel::Line,
                LINE_MONTHLY_LIMIT,
                next_month(now(), chrono_tz::Asia::Bangkok),
                now(),
            )
            .await
            .unwrap();
        let (_, metrics) = app.get("/metrics").await;
        assert!(metrics.contains("taem_line_paused 1"), "{metrics}");
        app.shutdown().await;
    }
}

const TAEM: &str = env!("CARGO_BIN_EXE_taem");

fn taem(dir: &std::path::Path, db: &str, line: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(TAEM)
        .args(args)
        .current_dir(dir)
        .env("DATABASE_URL", db)
        .env("LINE_CHANNEL_SECRET", fake_line::SECRET)
        .env("LINE_CHANNEL_ACCESS_TOKEN", fake_line::TOKEN)
        .env("LINE_API_URL", line)
        .env_remove("TAEM_HTTP_ADDR")
        .output()
        .expect("run taem")
}

// The commands block the test's thread: the fake LINE answers from another.
#[tokio::test(flavor = "multi_thread")]
async fn taem_campaign_broadcast_names_the_numbers_and_taem_line_shows_and_resumes_the_pause() {
    for db in databases().await {
        let (line, url) = FakeLine::start("en").await;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let t = TestStore::open(db).await;
        for i in 0..3 {
            member(&t, i, None).await;
        }
        let id = weekend_campaign(&t).await.to_string();
        line.set_quota(Some(15_000), 14_999);
        let out = taem(d, &t.db.url, &url, &["campaign", "broadcast", &id]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{err}");
        assert!(
            err.contains(
                "LINE allows 15,000 messages this month: 14,999 used, 1 left; \
                 this broadcast would send 3 on LINE. Nothing was queued. Use --force"
            ),
            "{err}"
        );
        let out = taem(
            d,
            &t.db.url,
            &url,
            &["campaign", "broadcast", &id, "--force"],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );

        // LINE's monthly limit, as the worker meets it, then `taem line status`
        // and `taem line resume`.
        line.monthly_limit(true);
        line_worker(&t, &url).round(Channel::Line).await.unwrap();
        let out = taem(d, &t.db.url, &url, &["line", "status", "--json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(status["quota"]["limit"], 15_000, "{status}");
        assert_eq!(status["quota"]["used"], 14_999, "{status}");
        assert_eq!(status["paused"]["reason"], LINE_MONTHLY_LIMIT, "{status}");
        assert_eq!(status["held"], 3, "{status}");
        let out = taem(d, &t.db.url, &url, &["line", "status"]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("marketing: paused since"), "{text}");
        assert!(
            text.contains("held for the monthly limit: 3 messages"),
            "{text}"
        );

        let out = taem(d, &t.db.url, &url, &["line", "resume"]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains(
                "LINE marketing resumed; 3 messages held for the monthly limit are due now"
            ),
            "{text}"
        );
        assert!(t.loyalty.line_pause(now()).await.unwrap().is_none());
        line.monthly_limit(false);
        line_worker(&t, &url).round(Channel::Line).await.unwrap();
        assert_eq!(line.deliveries().len(), 3, "{}", t.db.backend);
    }
}
