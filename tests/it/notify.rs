//! Pushes against fake Telegram and LINE APIs on loopback that count every
//! request: transactional notices, a broadcast to a few thousand members landing
//! once per member per channel, 429s, blocked members, a crash mid-broadcast,
//! quiet hours and opt-outs; and the worker without its loop, driven one round
//! at a time.

use std::collections::HashMap;
use std::time::Duration;

use crate::common::fake_line::{self, FakeLine};
use crate::common::fake_telegram::{self, FakeTelegram};
use crate::common::*;
use chrono::Timelike;
use serde_json::json;
use taem::domain::model::*;
use taem::domain::notice::BroadcastStatus;
use taem::domain::time::now;
use taem::service::campaigns::CampaignInput;

/// A server with both chat apps pointed at fakes.
async fn spawn(db: TestDb, tg: &str, line: &str, extra: &[(&str, &str)]) -> TestApp {
    let mut env = vec![
        ("TELEGRAM_BOT_TOKEN", fake_telegram::TOKEN.to_string()),
        ("TELEGRAM_API_URL", tg.to_string()),
        ("LINE_CHANNEL_SECRET", fake_line::SECRET.to_string()),
        ("LINE_CHANNEL_ACCESS_TOKEN", fake_line::TOKEN.to_string()),
        ("LINE_API_URL", line.to_string()),
    ];
    for (k, v) in extra {
        env.push((k, v.to_string()));
    }
    TestApp::spawn_with(db, &env).await
}

/// A member who uses Telegram (`tg`), LINE (`line`) or both, and agreed to
/// marketing.
async fn member(app: &TestApp, tg: Option<i64>, line: Option<String>, lang: &str) -> Member {
    app.t
        .opted_in(NewMember {
            locale: Some(lang.into()),
            telegram_id: tg,
            line_id: line,
            ..NewMember::default()
        })
        .await
}

fn line_id(i: usize) -> String {
    format!("U{i:032x}")
}

async fn campaign(app: &TestApp) -> i64 {
    weekend_campaign(&app.t).await
}

/// Waits until nothing of the broadcast is queued (at most `secs`).
async fn drained(app: &TestApp, id: i64, secs: u64) -> BroadcastStatus {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let s = app.t.store.broadcast_status(id).await.unwrap();
        if s.queued == 0 {
            return s;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{}: broadcast still queued after {secs} s: {s:?}",
            app.backend()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Telegram messages per chat.
fn per_chat(tg: &FakeTelegram) -> HashMap<i64, usize> {
    let mut m = HashMap::new();
    for c in tg.delivered() {
        *m.entry(c.chat_id()).or_insert(0) += 1;
    }
    m
}

#[tokio::test]
async fn purchases_vouchers_tiers_and_referrals_are_pushed_in_the_members_language() {
    for db in databases().await {
        let (tg, tg_url) = FakeTelegram::start().await;
        let (line, line_url) = FakeLine::start("en").await;
        let app = spawn(db, &tg_url, &line_url, &[]).await;
        let thai = member(&app, Some(7001), None, "th").await;
        let english = member(&app, None, Some(line_id(1)), "en").await;
        assert!(
            app.t
                .loyalty
                .record_referral(english.id, &thai.code, now())
                .await
                .unwrap()
        );
        campaign(&app).await;
        // 6,000 THB with double points: 480 points, Silver, and a referral paid.
        let (s, _) = app
            .post_signed(
                "/v1/purchases",
                &json!({"receipt_id": "n-1", "amount": "6000", "currency": "THB", "member_code": english.code}),
            )
            .await;
        assert_eq!(s, 201);
        let pushed = line.calls_after(0).await;
        let text: Vec<String> = pushed.iter().map(|c| c.texts()).collect();
        let all = text.join("\n");
        assert!(
            all.contains("You earned 530 points at Baan Kafe. Balance: 530 points."),
            "{all}"
        );
        assert!(all.contains("• Double points weekend: +240"), "{all}");
        assert!(all.contains("• Friend invitation bonus: +50"), "{all}");
        assert!(all.contains("You are now Silver"), "{all}");
        assert!(
            pushed
                .iter()
                .all(|c| c.kind == "push" && c.retry_key.is_some())
        );
        // The referrer hears about it on Telegram, in Thai.
        let r = tg.replies(7001, 0).await;
        assert!(
            r[0].text().contains("เพื่อนของคุณซื้อครั้งแรกแล้ว คุณได้รับ 50 แต้ม"),
            "{}",
            r[0].text()
        );

        // A voucher redeemed outside the chat is pushed; used at the counter, too.
        let reward = app.t.reward(100, None, None).await;
        let v = app
            .t
            .loyalty
            .redeem(english.id, reward.id, None, now())
            .await
            .unwrap();
        let (s, _) = app
            .post_signed(&format!("/v1/vouchers/{}/use", v.code), &json!({}))
            .await;
        assert_eq!(s, 200);
        let more = line.calls_after(pushed.len()).await;
        let all: String = more
            .iter()
            .map(|c| c.texts())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            all.contains("Your voucher for Iced coffee is ready"),
            "{all}"
        );
        assert!(
            all.contains(&format!(
                "Your voucher {} for Iced coffee was used at Baan Kafe",
                v.code
            )),
            "{all}"
        );
        let kinds: Vec<String> = app
            .t
            .store
            .notices(english.id)
            .await
            .unwrap()
            .into_iter()
            .map(|n| n.0)
            .collect();
        assert_eq!(
            kinds,
            ["voucher_used", "voucher_issued", "tier_changed", "earned"]
        );
        app.shutdown().await;
    }
}

#[tokio::test]
async fn a_broadcast_lands_once_per_member_per_channel() {
    for db in databases().await {
        let (tg, tg_url) = FakeTelegram::start().await;
        let (line, line_url) = FakeLine::start("th").await;
        let app = spawn(
            db,
            &tg_url,
            &line_url,
            &[("TAEM_TELEGRAM_RATE", "2000"), ("TAEM_QUIET_HOURS", "off")],
        )
        .await;
        // 2,100 members: 800 on Telegram, 800 on LINE, 400 on both, 60 who
        // opted out, 40 who blocked the bot.
        let mut tg_members = Vec::new();
        let mut line_members = Vec::new();
        let mut opted_out = Vec::new();
        for i in 0..2100usize {
            let (t, l) = match i % 21 {
                0..=7 => (Some(10_000 + i as i64), None),
                8..=15 => (None, Some(line_id(i))),
                _ => (Some(10_000 + i as i64), Some(line_id(i))),
            };
            let lang = if i % 3 == 0 { "en" } else { "th" };
            let m = member(&app, t, l.clone(), lang).await;
            if i % 35 == 0 {
                let via = "telegram";
                app.t
                    .loyalty
                    .set_marketing(m.id, false, via, now())
                    .await
                    .unwrap();
                opted_out.push((t, l));
                continue;
            }
            if let Some(t) = t {
                tg_members.push(t);
            }
            if let Some(l) = l {
                line_members.push(l);
            }
        }
        let blocked: Vec<i64> = tg_members.iter().step_by(25).copied().collect();
        for b in &blocked {
            tg.block(*b);
        }
        let id = campaign(&app).await;
        let (queued, _) = app.t.loyalty.broadcast(id, false, now()).await.unwrap();
        assert_eq!(queued as usize, tg_members.len() + line_members.len());
        let status = drained(&app, id, 120).await;
        assert_eq!(
            status,
            BroadcastStatus {
                queued: 0,
                held: 0,
                sent: (tg_members.len() - blocked.len() + line_members.len()) as i64,
                failed: 0,
                unreachable: blocked.len() as i64,
                skipped: 0,
            },
            "{}",
            app.backend()
        );
        // Telegram: exactly one message per member; nothing to blocked or opted-out chats.
        let chats = per_chat(&tg);
        for t in &tg_members {
            let expected = usize::from(!blocked.contains(t));
            assert_eq!(chats.get(t).copied().unwrap_or(0), expected, "chat {t}");
        }
        // LINE: in multicasts of at most 500, each with its own retry key, once per member.
        let multicasts: Vec<_> = line
            .calls()
            .into_iter()
            .filter(|c| c.kind == "multicast")
            .collect();
        assert!(
            multicasts
                .iter()
                .all(|c| c.body["to"].as_array().unwrap().len() <= 500)
        );
        let keys: std::collections::HashSet<_> = multicasts
            .iter()
            .map(|c| c.retry_key.clone().unwrap())
            .collect();
        assert_eq!(keys.len(), multicasts.len());
        let deliveries = line.deliveries();
        for l in &line_members {
            assert_eq!(deliveries.get(l), Some(&1), "LINE {l}");
        }
        assert_eq!(deliveries.len(), line_members.len(), "nobody else");
        for (t, l) in &opted_out {
            assert!(t.is_none_or(|t| !chats.contains_key(&t)));
            assert!(l.as_ref().is_none_or(|l| !deliveries.contains_key(l)));
        }
        // Each member reads it in their language.
        let sample = multicasts
            .iter()
            .find(|c| c.texts().contains("Double points weekend"))
            .expect("English chunk");
        assert!(sample.texts().contains("Double points all weekend"));
        assert!(
            multicasts
                .iter()
                .any(|c| c.texts().contains("แต้มคูณสองสุดสัปดาห์"))
        );
        // Blocked members are marked, and a second broadcast queues nobody twice.
        let m = app
            .t
            .store
            .member(&MemberRef::Telegram(blocked[0]))
            .await
            .unwrap();
        assert!(!m.telegram_reachable);
        let (again, _) = app.t.loyalty.broadcast(id, false, now()).await.unwrap();
        assert_eq!(again, 0);
        // One of them unblocks the bot and writes to it: the next broadcast reaches them.
        tg.unblock(blocked[0]);
        tg.user_says(blocked[0], "th", "แต้ม");
        tg.replies(blocked[0], 0).await;
        let second = campaign(&app).await;
        app.t.loyalty.broadcast(second, false, now()).await.unwrap();
        drained(&app, second, 120).await;
        let texts: Vec<String> = tg.sent_to(blocked[0]).iter().map(|c| c.text()).collect();
        assert!(
            texts
                .iter()
                .any(|t| t.contains("แต้มคูณสองสุดสัปดาห์") || t.contains("Double points weekend")),
            "{}: {texts:?}",
            app.backend()
        );
        app.shutdown().await;
    }
}

#[tokio::test]
async fn a_429_pauses_the_whole_telegram_queue_for_its_retry_after() {
    let (tg, tg_url) = FakeTelegram::start().await;
    let (_line, line_url) = FakeLine::start("th").await;
    let app = spawn(
        sqlite_db(),
        &tg_url,
        &line_url,
        &[("TAEM_TELEGRAM_RATE", "20"), ("TAEM_QUIET_HOURS", "off")],
    )
    .await;
    for i in 0..40 {
        member(&app, Some(20_000 + i), None, "th").await;
    }
    // The fifth member's chat answers 429 (retry after 1 s) once.
    tg.rate_limit_once(20_004);
    let id = campaign(&app).await;
    app.t.loyalty.broadcast(id, false, now()).await.unwrap();
    let status = drained(&app, id, 60).await;
    assert_eq!(status.sent, 40);
    let calls = tg.all_calls();
    let refused = calls
        .iter()
        .find(|c| c.method.ends_with("(429)"))
        .expect("a 429");
    // Sends already on the wire may land; none starts until retry_after is over.
    let during: Vec<_> = calls
        .iter()
        .filter(|c| {
            c.method == "sendmessage"
                && c.at > refused.at + Duration::from_millis(200)
                && c.at < refused.at + Duration::from_millis(900)
        })
        .collect();
    assert!(during.is_empty(), "{} sends during the pause", during.len());
    assert_eq!(
        per_chat(&tg).values().filter(|n| **n == 1).count(),
        40,
        "each once"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_worker_killed_mid_broadcast_finishes_after_a_restart_without_duplicates() {
    for db in databases().await {
        let (tg, tg_url) = FakeTelegram::start().await;
        let (line, line_url) = FakeLine::start("th").await;
        let env = [
            ("TAEM_TELEGRAM_RATE", "25"),
            ("TAEM_QUIET_HOURS", "off"),
            ("TAEM_PUSH_LEASE_SECONDS", "5"),
        ];
        let app = spawn(db, &tg_url, &line_url, &env).await;
        for i in 0..150 {
            member(&app, Some(30_000 + i), None, "th").await;
        }
        for i in 0..700 {
            member(&app, None, Some(line_id(i)), "th").await;
        }
        // LINE takes the first chunk but its answer is lost: the chunk is sent
        // again with the same retry key, and LINE refuses it as a repeat.
        line.lose_next_answer();
        let id = campaign(&app).await;
        app.t.loyalty.broadcast(id, false, now()).await.unwrap();
        // Kill it once some Telegram messages are out.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while tg.delivered().len() < 40 {
            assert!(tokio::time::Instant::now() < deadline, "no progress");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let backend = app.backend();
        let db = app.abort();
        let before = tg.delivered().len();
        assert!(
            before < 150,
            "{backend}: killed mid-broadcast ({before} sent)"
        );
        let app = spawn(db, &tg_url, &line_url, &env).await;
        let status = drained(&app, id, 90).await;
        assert_eq!(status.sent, 850, "{backend}: {status:?}");
        let chats = per_chat(&tg);
        assert_eq!(chats.len(), 150, "{backend}: everyone got it");
        let duplicates: usize = chats.values().map(|n| n - 1).sum();
        assert!(
            duplicates <= taem::notify::IN_FLIGHT,
            "{backend}: {duplicates} duplicates, more than the messages in flight"
        );
        let deliveries = line.deliveries();
        assert_eq!(deliveries.len(), 700);
        assert!(
            deliveries.values().all(|n| *n == 1),
            "{backend}: LINE never twice"
        );
        assert_eq!(
            line.conflicts(),
            1,
            "{backend}: the chunk whose answer was lost went again once"
        );
        app.shutdown().await;
    }
}

#[tokio::test]
async fn quiet_hours_hold_marketing_and_an_opt_out_before_delivery_is_honoured() {
    for db in databases().await {
        let (tg, tg_url) = FakeTelegram::start().await;
        let (_line, line_url) = FakeLine::start("th").await;
        // Quiet from this hour (Bangkok) for two hours.
        let hour = now().with_timezone(&chrono_tz::Asia::Bangkok).hour();
        let quiet = format!("{}-{}", hour, (hour + 2) % 24);
        let app = spawn(db, &tg_url, &line_url, &[("TAEM_QUIET_HOURS", &quiet)]).await;
        let a = member(&app, Some(40_001), None, "en").await;
        let b = member(&app, Some(40_002), None, "en").await;
        let id = campaign(&app).await;
        app.t.loyalty.broadcast(id, false, now()).await.unwrap();
        // A purchase's notice goes at once, so the worker is running...
        let (s, _) = app
            .post_signed(
                "/v1/purchases",
                &json!({"receipt_id": "q-1", "amount": "100", "currency": "THB", "member_code": a.code}),
            )
            .await;
        assert_eq!(s, 201);
        let r = tg.replies(40_001, 0).await;
        assert!(
            r[0].text().contains("You earned 8 points"),
            "{}",
            r[0].text()
        );
        // ...and the round that sent it passed over the broadcast, queued
        // before it: the broadcast waits for the morning.
        let status = app.t.store.broadcast_status(id).await.unwrap();
        assert_eq!(status.queued, 2, "{}", app.backend());
        assert_eq!(tg.sent_to(40_002).len(), 0);
        // b says stop before the quiet hours end.
        app.t
            .loyalty
            .set_marketing(b.id, false, "telegram", now())
            .await
            .unwrap();
        let db = app.stop().await;
        let app = spawn(db, &tg_url, &line_url, &[("TAEM_QUIET_HOURS", "off")]).await;
        let status = drained(&app, id, 30).await;
        assert_eq!((status.sent, status.skipped), (1, 1));
        assert_eq!(tg.sent_to(40_001).len(), 2);
        assert!(
            tg.sent_to(40_001)[1]
                .text()
                .contains("Double points all weekend")
        );
        assert_eq!(tg.sent_to(40_002).len(), 0, "opted out: nothing");
        app.shutdown().await;
    }
}

#[tokio::test]
async fn points_about_to_expire_are_reminded_once_per_lot() {
    for db in databases().await {
        let (tg, tg_url) = FakeTelegram::start().await;
        let (_line, line_url) = FakeLine::start("th").await;
        // The member and their lots exist before `serve` starts: its first
        // sweep finds both lots due within a week and reminds them together.
        let t = TestStore::open(db).await;
        let m = t
            .store
            .add_member(
                &NewMember {
                    locale: Some("en".into()),
                    telegram_id: Some(50_001),
                    ..Default::default()
                },
                now(),
            )
            .await
            .unwrap();
        let at = now();
        for (points, days) in [(30, 3), (20, 5), (99, 40)] {
            let cmd = AdjustCommand {
                member_id: m.id,
                delta: taem::domain::Points::new(points),
                reason: "welcome".into(),
                timing: LotTiming {
                    available_at: at,
                    expires_at: at + chrono::Duration::days(days),
                },
                now: at,
                audit: None,
            };
            t.store.adjust_points(&cmd).await.unwrap();
        }
        let TestStore { db, store, .. } = t;
        drop(store);
        let app = spawn(db, &tg_url, &line_url, &[]).await;
        let r = tg.replies(50_001, 0).await;
        assert_eq!(r.len(), 1);
        assert!(
            r[0].text().contains("50 points expire after"),
            "{}: {}",
            app.backend(),
            r[0].text()
        );
        // Once per lot: a later sweep queues nothing, so nothing more can be sent.
        let again = taem::notify::remind_expiring(app.t.store.as_ref(), now()).await;
        assert_eq!(again.unwrap(), 0, "once");
        assert_eq!(tg.sent_to(50_001).len(), 1, "one reminder for both lots");
        app.shutdown().await;
    }
}

#[tokio::test]
async fn telegram_members_hear_pushes_and_broadcasts_in_their_apps_language_until_they_choose() {
    for db in databases().await {
        let (tg, tg_url) = FakeTelegram::start().await;
        let (_line, line_url) = FakeLine::start("th").await;
        // The program's default language is Thai.
        let app = spawn(db, &tg_url, &line_url, &[("TAEM_QUIET_HOURS", "off")]).await;
        // (Telegram user, their app's language, the language they chose)
        let people = [
            (8101, "en", None),
            (8102, "th", None),
            (8103, "en", Some("th")),
        ];
        let mut seen = HashMap::new();
        for (user, app_lang, chosen) in people {
            tg.user_says(user, app_lang, "/start");
            let welcome = tg.replies(user, 0).await;
            // Asked once for marketing consent after joining: they agree.
            let ask = welcome.last().unwrap();
            assert_eq!(
                ask.button("cs:y").as_deref(),
                Some("cs:y"),
                "{}",
                ask.text()
            );
            let mut n = welcome.len();
            tg.user_presses(user, app_lang, "cs:y");
            n += tg.replies(user, n).await.len();
            if let Some(l) = chosen {
                tg.user_says(user, app_lang, &format!("/lang {l}"));
                n += tg.replies(user, n).await.len();
            }
            seen.insert(user, n);
            let m = app
                .t
                .store
                .member(&MemberRef::Telegram(user))
                .await
                .unwrap();
            assert_eq!(m.locale.as_deref(), chosen);
            assert_eq!(m.app_locale.as_deref(), Some(app_lang));
        }
        let pushed = async |user: i64, seen: &mut HashMap<i64, usize>| {
            let n = seen[&user];
            let new = tg.replies(user, n).await;
            seen.insert(user, n + new.len());
            new.iter().map(|c| c.text()).collect::<Vec<_>>().join("\n")
        };
        let buy = async |user: i64, receipt: &str| {
            let m = app
                .t
                .store
                .member(&MemberRef::Telegram(user))
                .await
                .unwrap();
            let body = json!({"receipt_id": receipt, "amount": "1337.50", "currency": "THB",
                              "member_code": m.code});
            let (s, r) = app.post_signed("/v1/purchases", &body).await;
            assert_eq!(s, 201, "{r}");
        };

        for (user, _, _) in people {
            buy(user, &format!("L-{user}")).await;
        }
        let en = pushed(8101, &mut seen).await;
        assert!(
            en.contains("You earned 53 points"),
            "{}: {en}",
            app.backend()
        );
        let th = pushed(8102, &mut seen).await;
        assert!(th.contains("คุณได้รับ 53 แต้ม"), "{th}");
        let chose_th = pushed(8103, &mut seen).await;
        assert!(chose_th.contains("คุณได้รับ 53 แต้ม"), "{chose_th}");

        let id = campaign(&app).await;
        app.t.loyalty.broadcast(id, false, now()).await.unwrap();
        drained(&app, id, 30).await;
        let en = pushed(8101, &mut seen).await;
        assert!(en.contains("Double points all weekend"), "{en}");
        let th = pushed(8102, &mut seen).await;
        assert!(th.contains("เสาร์-อาทิตย์นี้ รับแต้ม 2 เท่า"), "{th}");
        let chose_th = pushed(8103, &mut seen).await;
        assert!(chose_th.contains("เสาร์-อาทิตย์นี้ รับแต้ม 2 เท่า"), "{chose_th}");

        // The Thai-app member switches their phone to English and writes: the
        // next push follows the app; the member who chose Thai stays Thai.
        for user in [8102, 8103] {
            tg.user_says(user, "en", "/help");
            let n = seen[&user];
            seen.insert(user, n + tg.replies(user, n).await.len());
            buy(user, &format!("M-{user}")).await;
        }
        let now_en = pushed(8102, &mut seen).await;
        assert!(now_en.contains("You earned"), "{now_en}");
        let still_th = pushed(8103, &mut seen).await;
        assert!(still_th.contains("คุณได้รับ"), "{still_th}");
        app.shutdown().await;
    }
}

/// A push worker on `t`'s store with Telegram pointed at the fake, and no loop
/// of its own: the test drives it with `Worker::round`, one round at a time.
/// `rate` and `lease` bound a round to `rate × lease ÷ 4` rows.
fn telegram_worker(
    t: &TestStore,
    tg_url: &str,
    rate: u32,
    lease: Duration,
) -> std::sync::Arc<taem::notify::Worker> {
    let settings = taem::config::TelegramSettings {
        token: Secret::new(fake_telegram::TOKEN),
        api_url: Some(tg_url.parse().unwrap()),
        webhook_url: None,
        webhook_secret: None,
    };
    std::sync::Arc::new(taem::notify::Worker {
        store: t.store.clone(),
        i18n: std::sync::Arc::new(taem::i18n::I18n::load().unwrap()),
        tz: chrono_tz::Asia::Bangkok,
        default_locale: taem::domain::Locale::Th,
        quiet: None,
        telegram: Some(taem::notify::TelegramOut {
            bot: taem::telegram::bot(&settings, reqwest::Client::new()),
            gate: std::sync::Arc::new(taem::notify::gate::Gate::new(rate, Duration::from_secs(1))),
        }),
        line: None,
        lease,
        telegram_rate: rate,
        line_rate: 100,
    })
}

/// A Telegram member who agreed to marketing.
async fn telegram_member(t: &TestStore, chat: i64) -> Member {
    t.opted_in(NewMember {
        locale: Some("en".into()),
        telegram_id: Some(chat),
        ..NewMember::default()
    })
    .await
}

async fn buys(t: &TestStore, merchant: &Merchant, member: &Member, receipt: &str, amount: &str) {
    t.loyalty
        .record_purchase(
            merchant,
            taem::service::PurchaseRequest {
                receipt_id: receipt.into(),
                amount: amount.into(),
                currency: "THB".into(),
                member_code: Some(member.code.clone()),
                occurred_at: None,
                items: None,
            },
            now(),
        )
        .await
        .unwrap();
}

/// Every request the bot made to `chat`, refused ones included.
fn attempts(tg: &FakeTelegram, chat: i64) -> usize {
    tg.all_calls()
        .iter()
        .filter(|c| c.chat_id() == chat)
        .count()
}

#[tokio::test]
async fn one_round_delivers_what_is_due_once_and_a_member_who_blocked_the_bot_is_not_tried_again() {
    for db in databases().await {
        let (tg, tg_url) = FakeTelegram::start().await;
        let t = TestStore::open(db).await;
        let backend = t.db.backend;
        let shop = t.merchant().await;
        let worker = telegram_worker(&t, &tg_url, 25, Duration::from_secs(120));
        let (alice, bob) = (
            telegram_member(&t, 61_001).await,
            telegram_member(&t, 61_002).await,
        );
        let round = async || worker.round(Channel::Telegram).await.unwrap();
        assert_eq!(round().await, 0, "{backend}: nothing is due yet");

        // A purchase queues its push; nothing goes out until a round runs.
        buys(&t, &shop, &alice, "W-1", "1000").await;
        assert_eq!(
            t.store.notices(alice.id).await.unwrap(),
            [(
                "earned".to_string(),
                "telegram".to_string(),
                "queued".to_string()
            )]
        );
        assert!(tg.delivered().is_empty(), "{backend}: no loop sends it");

        assert_eq!(round().await, 1, "{backend}");
        let got = tg.sent_to(61_001);
        assert_eq!(got.len(), 1, "{backend}");
        assert!(
            got[0]
                .text()
                .contains("You earned 40 points at Baan Kafe. Balance: 40 points."),
            "{backend}: {}",
            got[0].text()
        );
        assert_eq!(t.store.notices(alice.id).await.unwrap()[0].2, "sent");
        assert_eq!(round().await, 0, "{backend}: sent once, nothing left");
        assert_eq!(tg.delivered().len(), 1, "{backend}");

        // Bob has blocked the bot: one attempt, refused; he is marked and the
        // row closed.
        tg.block(61_002);
        buys(&t, &shop, &bob, "W-2", "500").await;
        assert_eq!(round().await, 1, "{backend}");
        assert_eq!(attempts(&tg, 61_002), 1, "{backend}");
        assert!(
            tg.sent_to(61_002).is_empty(),
            "{backend}: refused, not delivered"
        );
        assert_eq!(t.store.notices(bob.id).await.unwrap()[0].2, "unreachable");
        let bob_now = t.store.member(&MemberRef::Id(bob.id)).await.unwrap();
        assert!(!bob_now.telegram_reachable, "{backend}");
        assert_eq!(round().await, 0, "{backend}: not retried");

        // His next purchase is not tried on Telegram at all; Alice's still is.
        buys(&t, &shop, &bob, "W-3", "500").await;
        buys(&t, &shop, &alice, "W-4", "250").await;
        while round().await > 0 {}
        assert_eq!(
            attempts(&tg, 61_002),
            1,
            "{backend}: the blocked chat is left alone"
        );
        let got = tg.sent_to(61_001);
        assert_eq!(got.len(), 2, "{backend}");
        assert!(
            got[1].text().contains("Balance: 50 points."),
            "{}",
            got[1].text()
        );
        t.assert_ledger_holds().await;
    }
}

#[tokio::test]
async fn a_broadcast_goes_out_over_rounds_no_larger_than_a_quarter_of_what_a_lease_can_send() {
    for db in databases().await {
        let (tg, tg_url) = FakeTelegram::start().await;
        let t = TestStore::open(db).await;
        let backend = t.db.backend;
        // 4 a second for a 2 s lease: 2 rows a round.
        let worker = telegram_worker(&t, &tg_url, 4, Duration::from_secs(2));
        let mut chats = Vec::new();
        for i in 0..5 {
            telegram_member(&t, 62_000 + i).await;
            chats.push(62_000 + i);
        }
        let id = weekend_campaign(&t).await;
        let (queued, _) = t.loyalty.broadcast(id, false, now()).await.unwrap();
        assert_eq!(queued, 5, "{backend}");

        let mut handled = Vec::new();
        loop {
            let n = worker.round(Channel::Telegram).await.unwrap();
            handled.push(n);
            let status = t.store.broadcast_status(id).await.unwrap();
            assert_eq!(status.sent as usize, tg.delivered().len(), "{backend}");
            if n == 0 {
                break;
            }
        }
        assert_eq!(handled, [2, 2, 1, 0], "{backend}");
        for chat in chats {
            let got = tg.sent_to(chat);
            assert_eq!(got.len(), 1, "{backend}: chat {chat} hears it once");
            assert!(
                got[0].text().contains("Double points all weekend"),
                "{}",
                got[0].text()
            );
        }
        let status = t.store.broadcast_status(id).await.unwrap();
        assert_eq!((status.sent, status.queued), (5, 0), "{backend}");
    }
}

/// When each queued row of the outbox is due next.
async fn due_times(db: &TestDb) -> Vec<chrono::DateTime<chrono::Utc>> {
    if db.backend == "sqlite" {
        let path = db.url.trim_start_matches("sqlite://").to_string();
        let conn = rusqlite::Connection::open(path).unwrap();
        let mut stmt = conn
            .prepare("SELECT due_at FROM outbox WHERE status = 'queued'")
            .unwrap();
        let rows: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        rows.iter().map(|t| t.parse().unwrap()).collect()
    } else {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
        let rows: Vec<(chrono::DateTime<chrono::Utc>,)> =
            sqlx::query_as("SELECT due_at FROM outbox WHERE status = 'queued'")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        rows.into_iter().map(|(t,)| t).collect()
    }
}

#[tokio::test]
async fn a_broadcast_that_failed_together_comes_back_spread_out_not_in_lock_step() {
    for db in databases().await {
        let t = TestStore::open(db).await;
        for i in 0..60 {
            telegram_member(&t, 63_000 + i).await;
        }
        let id = weekend_campaign(&t).await;
        t.loyalty.broadcast(id, false, now()).await.unwrap();
        let at = now();
        let lease = at + chrono::Duration::seconds(30);
        let items = t
            .store
            .claim_notices(Channel::Telegram, at, lease, 100, 0, true)
            .await
            .unwrap();
        assert_eq!(items.len(), 60);
        let ids: Vec<i64> = items.iter().map(|i| i.id).collect();
        let outcome = taem::domain::notice::Outcome::Retry("429".into());
        t.store.finish_notices(&ids, &outcome, at).await.unwrap();
        let due = due_times(&t.db).await;
        assert_eq!(due.len(), 60, "{}", t.db.backend);
        // The first retry waits between 2.5 s and 5 s, each row its own.
        let waits: std::collections::BTreeSet<i64> =
            due.iter().map(|d| (*d - at).num_milliseconds()).collect();
        assert!(
            waits.iter().all(|w| (2_500..5_000).contains(w)),
            "{}: {waits:?}",
            t.db.backend
        );
        assert!(waits.len() >= 30, "{}: spread over {waits:?}", t.db.backend);
    }
}

#[tokio::test]
async fn a_line_chunk_retried_comes_back_whole_when_its_first_row_is_due() {
    for db in databases().await {
        let t = TestStore::open(db).await;
        let backend = t.db.backend;
        for i in 0..5 {
            t.opted_in(NewMember {
                locale: Some("en".into()),
                line_id: Some(line_id(i)),
                ..NewMember::default()
            })
            .await;
        }
        let id = weekend_campaign(&t).await;
        t.loyalty.broadcast(id, false, now()).await.unwrap();
        let at = now();
        let claim = async |at: chrono::DateTime<chrono::Utc>| {
            let lease = at + chrono::Duration::seconds(30);
            let items = t
                .store
                .claim_notices(Channel::Line, at, lease, 100, 4, true)
                .await
                .unwrap();
            items.iter().map(|i| i.id).collect::<Vec<_>>()
        };
        let chunk = claim(at).await;
        assert_eq!(chunk.len(), 5, "{backend}: one chunk");
        let outcome = taem::domain::notice::Outcome::Retry("429".into());
        t.store.finish_notices(&chunk, &outcome, at).await.unwrap();
        // Each row has its own wait; when the first is due, the whole chunk
        // goes again (under its one retry key), never a piece of it.
        let first_due = due_times(&t.db).await.into_iter().min().unwrap();
        assert_eq!(claim(first_due).await, chunk, "{backend}");
        assert!(claim(first_due).await.is_empty(), "{backend}: leased");
    }
}

/// A double-points campaign running now, on `t`'s store; its id.
pub(crate) async fn weekend_campaign(t: &TestStore) -> i64 {
    let input = CampaignInput {
        name_th: "แต้มคูณสองสุดสัปดาห์".into(),
        name_en: "Double points weekend".into(),
        text_th: "เสาร์-อาทิตย์นี้ รับแต้ม 2 เท่า".into(),
        text_en: "Double points all weekend".into(),
        kind: "multiplier".into(),
        multiplier: Some("2".into()),
        starts_at: (now() - chrono::Duration::hours(1)).to_rfc3339(),
        ends_at: (now() + chrono::Duration::days(3)).to_rfc3339(),
        ..Default::default()
    };
    t.loyalty.add_campaign(&input, now()).await.unwrap().id
}

#[tokio::test]
async fn a_journeys_gift_and_message_reach_the_member_in_their_language() {
    use taem::domain::journey::Kind;
    use taem::service::journeys::JourneyInput;
    for db in databases().await {
        let (tg, tg_url) = FakeTelegram::start().await;
        let (_line, line_url) = FakeLine::start("en").await;
        let app = spawn(db, &tg_url, &line_url, &[("TAEM_QUIET_HOURS", "off")]).await;
        let cake = app.t.reward(100, None, None).await;
        let input = JourneyInput {
            enabled: Some(true),
            bonus_points: Some(20),
            reward_id: Some(cake.id),
            ..JourneyInput::default()
        };
        app.t
            .loyalty
            .set_journey(Kind::Welcome, &input, now())
            .await
            .unwrap();
        let thai = member(&app, Some(7101), None, "th").await;
        app.t.loyalty.run_journeys(now()).await.unwrap();
        let r = tg.replies(7101, 0).await;
        let text: String = r.iter().map(|c| c.text()).collect::<Vec<_>>().join("\n");
        assert!(text.contains("ยินดีต้อนรับสู่คลับสมาชิก"), "{text}");
        assert!(text.contains("20 แต้มโบนัส"), "{text}");
        let voucher = app.t.loyalty.vouchers(thai.id).await.unwrap().remove(0);
        assert!(
            text.contains(voucher.code.as_str()),
            "the voucher's code: {text}"
        );
        assert_eq!(app.t.balance(&thai).await, 20);
        app.shutdown().await;
    }
}
