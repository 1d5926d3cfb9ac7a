//! The real teloxide bot against a fake Bot API on loopback: the whole customer
//! journey in Thai and in English, and each error a customer can meet.

use crate::common::fake_telegram::{FakeTelegram, TOKEN};
use crate::common::*;
use serde_json::{Value, json};
use taem::domain::model::MemberRef;
use taem::domain::time::now;
use taem::telegram::poll::{LEASE, Poller, Stop};

pub(crate) struct Bot {
    pub(crate) app: TestApp,
    fake: FakeTelegram,
    user: i64,
    lang: &'static str,
    seen: usize,
}

impl Bot {
    pub(crate) async fn start(db: TestDb, user: i64, lang: &'static str) -> Bot {
        let (fake, url) = FakeTelegram::start().await;
        let app = TestApp::spawn_with(
            db,
            &[
                ("TELEGRAM_BOT_TOKEN", TOKEN.to_string()),
                ("TELEGRAM_API_URL", url),
            ],
        )
        .await;
        Bot {
            app,
            fake,
            user,
            lang,
            seen: 0,
        }
    }

    pub(crate) async fn say(&mut self, text: &str) -> Vec<crate::common::fake_telegram::Call> {
        self.fake.user_says(self.user, self.lang, text);
        self.collect().await
    }

    async fn press(&mut self, data: &str) -> Vec<crate::common::fake_telegram::Call> {
        self.fake.user_presses(self.user, self.lang, data);
        self.collect().await
    }

    async fn collect(&mut self) -> Vec<crate::common::fake_telegram::Call> {
        let new = self.fake.replies(self.user, self.seen).await;
        self.seen += new.len();
        new
    }

    async fn member(&self) -> taem::domain::model::Member {
        self.app
            .t
            .store
            .member(&MemberRef::Telegram(self.user))
            .await
            .expect("the first message made a member")
    }

    async fn member_code(&self) -> String {
        self.member().await.code
    }
}

fn text(calls: &[crate::common::fake_telegram::Call]) -> String {
    calls
        .iter()
        .map(|c| c.text())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The words each language uses in the journey.
struct Words {
    welcome: &'static str,
    points_40: &'static str,
    reward_name: &'static str,
    confirm: &'static str,
    voucher_for: &'static str,
    balance_after: &'static str,
    history_earn: &'static str,
    history_redeem: &'static str,
}

const THAI: Words = Words {
    welcome: "ยินดีต้อนรับ",
    points_40: "ยอดแต้ม: 1,040 แต้ม",
    reward_name: "กาแฟเย็น",
    confirm: "แลก กาแฟเย็น ด้วย 100 แต้ม",
    voucher_for: "นี่คือคูปอง กาแฟเย็น",
    balance_after: "ยอดแต้ม: 940 แต้ม",
    history_earn: "+1,040 จาก Baan Kafe",
    history_redeem: "−100 แลกของรางวัล",
};

const ENGLISH: Words = Words {
    welcome: "Welcome to our loyalty program",
    points_40: "Balance: 1,040 points",
    reward_name: "Iced coffee",
    confirm: "Redeem Iced coffee for 100 points?",
    voucher_for: "Here is your voucher for Iced coffee",
    balance_after: "Balance: 940 points",
    history_earn: "+1,040 at Baan Kafe",
    history_redeem: "−100 redeemed",
};

async fn journey(lang: &'static str, w: &Words) {
    for db in databases().await {
        let mut bot = Bot::start(db, 5550001, lang).await;
        let reward = bot.app.t.reward(100, Some(10), None).await;

        // Join.
        let r = bot.say("/start").await;
        assert!(text(&r).contains(w.welcome), "{lang}: {}", text(&r));
        let code = bot.member_code().await;
        assert!(
            text(&r).contains(&code),
            "the welcome shows the member code"
        );
        assert!(r[0].button("bal").is_some(), "the menu comes as buttons");
        assert!(
            !bot.fake.calls("setMyCommands").is_empty(),
            "commands registered"
        );

        // A purchase through the signed webhook.
        let (status, _) = bot
            .app
            .post_signed(
                "/v1/purchases",
                &json!({"receipt_id": "TG-1", "amount": "26000", "currency": "THB", "member_code": code}),
            )
            .await;
        assert_eq!(status, 201);
        // Its push comes first, so that it is not taken for a later reply.
        let pushed = bot.collect().await;
        assert!(text(&pushed).contains("1,040"), "{lang}: {}", text(&pushed));

        // Balance, by button.
        let r = bot.press("bal").await;
        assert!(text(&r).contains(w.points_40), "{lang}: {}", text(&r));
        assert!(
            !bot.fake.calls("answerCallbackQuery").is_empty(),
            "buttons are answered"
        );

        // Rewards → redeem → confirm.
        let r = bot.say("/rewards").await;
        assert!(text(&r).contains(w.reward_name), "{}", text(&r));
        let ask = r[0]
            .button(&format!("rd:{}", reward.id))
            .expect("a redeem button");
        let r = bot.press(&ask).await;
        assert!(text(&r).contains(w.confirm), "{}", text(&r));
        let confirm = r[0].button("rc:").expect("a confirm button");
        let r = bot.press(&confirm).await;
        assert_eq!(
            r[0].method, "sendphoto",
            "the voucher comes with its QR code"
        );
        assert!(r[0].file.as_ref().unwrap().starts_with(b"\x89PNG"));
        assert!(text(&r).contains(w.voucher_for), "{}", text(&r));
        assert!(text(&r).contains(w.balance_after), "{}", text(&r));
        let vouchers = bot
            .app
            .t
            .store
            .vouchers(
                bot.app
                    .t
                    .store
                    .member(&MemberRef::Telegram(bot.user))
                    .await
                    .unwrap()
                    .id,
            )
            .await
            .unwrap();
        assert_eq!(vouchers.len(), 1);
        let voucher = vouchers[0].code.clone();
        assert!(text(&r).contains(&voucher));

        // A double tap on the same confirmation redeems nothing more.
        let r = bot.press(&confirm).await;
        assert!(text(&r).contains(&voucher), "the same voucher again");
        let member = bot
            .app
            .t
            .store
            .member(&MemberRef::Telegram(bot.user))
            .await
            .unwrap();
        assert_eq!(member.balance.value(), 940);

        // Staff use the voucher at the counter.
        let (status, _) = bot
            .app
            .post_signed(&format!("/v1/vouchers/{voucher}/use"), &json!({}))
            .await;
        assert_eq!(status, 200);

        // History.
        let r = bot.press("hi").await;
        let h = text(&r);
        assert!(h.contains(w.history_earn), "{lang}: {h}");
        assert!(h.contains(w.history_redeem), "{lang}: {h}");

        // Member card: a QR photo of the member code.
        let r = bot.say("/card").await;
        assert_eq!(r[0].method, "sendphoto");
        assert!(text(&r).contains(&code));

        bot.app.t.assert_ledger_holds().await;
        bot.app.shutdown().await;
    }
}

#[tokio::test]
async fn a_customer_runs_the_whole_journey_in_thai() {
    journey("th", &THAI).await;
}

#[tokio::test]
async fn a_customer_runs_the_whole_journey_in_english() {
    journey("en", &ENGLISH).await;
}

#[tokio::test]
async fn each_problem_gets_its_own_clear_message() {
    for db in databases().await {
        let mut bot = Bot::start(db, 5550002, "en").await;
        let t = &bot.app.t;
        let cheap = t.reward(10, Some(2), Some(1)).await;
        let dear = t.reward(5000, None, None).await;
        let r = bot.say("hello").await;
        assert!(text(&r).contains("Welcome"));
        let code = bot.member_code().await;
        let member = bot
            .app
            .t
            .store
            .member(&MemberRef::Telegram(bot.user))
            .await
            .unwrap();
        bot.app.t.grant(&member, 30, now()).await;

        // Not enough points.
        let r = bot.press(&format!("rc:{}:N1", dear.id)).await;
        assert!(
            text(&r).contains("You have 30 points to spend; this reward needs 5,000"),
            "{}",
            text(&r)
        );
        // Per-member limit, then out of stock.
        bot.press(&format!("rc:{}:N2", cheap.id)).await;
        let r = bot.press(&format!("rc:{}:N3", cheap.id)).await;
        assert!(text(&r).contains("most times allowed"), "{}", text(&r));
        let stockless = bot.app.t.reward(10, Some(0), None).await;
        let r = bot.press(&format!("rc:{}:N4", stockless.id)).await;
        assert!(text(&r).contains("out of stock"), "{}", text(&r));

        // Negative balance after a refund of spent points.
        let (s, _) = bot.app.post_signed("/v1/purchases", &json!({"receipt_id": "N-1", "amount": "2500", "currency": "THB", "member_code": code})).await;
        assert_eq!(s, 201);
        let big = bot.app.t.reward(120, None, None).await;
        bot.press(&format!("rc:{}:N5", big.id)).await;
        let (s, _) = bot
            .app
            .post_signed(
                "/v1/refunds",
                &json!({"refund_id": "F-1", "receipt_id": "N-1", "amount": "2500"}),
            )
            .await;
        assert_eq!(s, 201);
        let any = bot.app.t.reward(10, None, None).await;
        let r = bot.press(&format!("rc:{}:N6", any.id)).await;
        assert!(text(&r).contains("after a refund"), "{}", text(&r));

        // Claim codes: wrong, already claimed, expired.
        let r = bot.say("/claim ZZZZZ22222").await;
        assert!(
            text(&r).contains("could not find that receipt code"),
            "{}",
            text(&r)
        );
        let (_, p) = bot
            .app
            .post_signed(
                "/v1/purchases",
                &json!({"receipt_id": "C-1", "amount": "100", "currency": "THB"}),
            )
            .await;
        let claim = p["claim_code"].as_str().unwrap().to_string();
        let r = bot.say(&claim).await;
        assert!(
            text(&r).contains("4 points from Baan Kafe are yours"),
            "{}",
            text(&r)
        );
        let r = bot.say(&claim).await;
        assert!(text(&r).contains("already been claimed"), "{}", text(&r));

        // Gibberish gets a pointer to help, never silence.
        // (A push queued by the claim may land among the replies, before or after.)
        let r = bot.say("asdfgh").await;
        let reply = r.iter().find(|c| c.text().contains("didn't understand"));
        let reply = reply.unwrap_or_else(|| panic!("{}", text(&r)));
        assert!(reply.button("hp").is_some(), "{:?}", reply.buttons());

        bot.app.shutdown().await;
    }
}

#[tokio::test]
async fn language_and_marketing_choices_are_remembered() {
    for db in databases().await {
        let mut bot = Bot::start(db, 5550003, "en").await;
        bot.say("/start").await;
        let r = bot.say("/lang").await;
        let th = r[0].button("lg:th").expect("a Thai button");
        let r = bot.press(&th).await;
        assert!(text(&r).contains("ภาษาไทย"), "{}", text(&r));
        // The app still says English, the stored choice wins.
        let r = bot.press("bal").await;
        assert!(text(&r).contains("ยอดแต้ม"), "{}", text(&r));
        let r = bot.say("/stop").await;
        assert!(text(&r).contains("ไม่ได้รับโปรโมชั่น"), "{}", text(&r));
        let m = bot
            .app
            .t
            .store
            .member(&MemberRef::Telegram(bot.user))
            .await
            .unwrap();
        assert!(!m.marketing_opt_in);
        assert_eq!(m.locale.as_deref(), Some("th"));
        bot.press("in").await;
        let m = bot
            .app
            .t
            .store
            .member(&MemberRef::Telegram(bot.user))
            .await
            .unwrap();
        assert!(m.marketing_opt_in);
        bot.app.shutdown().await;
    }
}

#[tokio::test]
async fn a_blocked_bot_does_not_crash_and_the_bot_keeps_serving_others() {
    for db in databases().await {
        let mut bot = Bot::start(db, 5550004, "th").await;
        bot.fake.block(5550004);
        bot.fake.user_says(5550004, "th", "/start");
        bot.fake.user_blocks(5550004);
        // Another customer is still served.
        bot.user = 5550005;
        let r = bot.say("/start").await;
        assert!(text(&r).contains("ยินดีต้อนรับ"));
        // The one who blocked the bot is marked unreachable on Telegram.
        let store = bot.app.t.store.clone();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let m = store.member(&MemberRef::Telegram(5550004)).await;
            if m.as_ref().is_ok_and(|m| !m.telegram_reachable) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "not marked unreachable: {m:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let served = store.member(&MemberRef::Telegram(5550005)).await.unwrap();
        assert!(served.telegram_reachable);
        bot.app.shutdown().await;
    }
}

#[tokio::test]
async fn a_429_is_waited_out_and_the_reply_still_arrives() {
    let mut bot = Bot::start(sqlite_db(), 5550006, "en").await;
    bot.fake.rate_limit_once(5550006);
    let r = bot.say("/start").await;
    assert!(text(&r).contains("Welcome"), "{}", text(&r));
    assert_eq!(
        bot.fake.calls("sendMessage (429)").len(),
        1,
        "the first try was refused"
    );
    bot.app.shutdown().await;
}

#[tokio::test]
async fn an_invitation_link_records_the_referrer_once() {
    let mut bot = Bot::start(sqlite_db(), 5550007, "en").await;
    let friend = bot.app.t.member().await;
    let r = bot.say(&format!("/start ref_{}", friend.code)).await;
    assert!(text(&r).contains("Welcome"));
    assert!(text(&r).contains("friend's invitation"), "{}", text(&r));
    let r = bot.say(&format!("/start ref_{}", friend.code)).await;
    assert!(text(&r).contains("already one of us"), "{}", text(&r));
    bot.user = 5550008;
    bot.seen = 0;
    let r = bot.say("/start ref_NOPE2345").await;
    assert!(text(&r).contains("not valid"), "{}", text(&r));
    bot.app.shutdown().await;
}

#[tokio::test]
async fn webhook_mode_takes_updates_on_taems_server_and_checks_the_secret() {
    let (fake, url) = FakeTelegram::start().await;
    let app = TestApp::spawn_with(
        sqlite_db(),
        &[
            ("TELEGRAM_BOT_TOKEN", TOKEN.to_string()),
            ("TELEGRAM_API_URL", url),
            (
                "TELEGRAM_WEBHOOK_URL",
                "https://bot.example.com/telegram/hook".to_string(),
            ),
            (
                "TELEGRAM_WEBHOOK_SECRET",
                "s3cret-token_x-0123456789abcdef0123".to_string(),
            ),
        ],
    )
    .await;
    let set = fake.calls("setWebhook");
    assert_eq!(set.len(), 1, "taem sets the webhook at start");
    assert_eq!(
        set[0].body["secret_token"],
        "s3cret-token_x-0123456789abcdef0123"
    );
    assert!(
        fake.calls("getUpdates").is_empty(),
        "no polling in webhook mode"
    );

    let update = FakeTelegram::text_update(5550009, "th", "/start", 1);
    let post = |secret: Option<&'static str>| {
        let mut req = app
            .http
            .post(format!("{}/telegram/hook", app.base))
            .json(&update);
        if let Some(s) = secret {
            req = req.header("X-Telegram-Bot-Api-Secret-Token", s);
        }
        req.send()
    };
    assert_eq!(post(None).await.unwrap().status(), 401);
    assert_eq!(post(Some("wrong")).await.unwrap().status(), 401);
    assert!(
        fake.sent_to(5550009).is_empty(),
        "refused updates do nothing"
    );
    assert_eq!(
        post(Some("s3cret-token_x-0123456789abcdef0123"))
            .await
            .unwrap()
            .status(),
        200
    );
    let r = fake.replies(5550009, 0).await;
    assert!(text(&r).contains("ยินดีต้อนรับ"), "{}", text(&r));
    // Telegram sending the update again (same update_id) changes nothing; the
    // chat's next update is answered after it (in order), and only that one.
    let seen = fake.sent_to(5550009).len();
    let hook = |body: &Value| {
        app.http
            .post(format!("{}/telegram/hook", app.base))
            .header(
                "X-Telegram-Bot-Api-Secret-Token",
                "s3cret-token_x-0123456789abcdef0123",
            )
            .json(body)
            .send()
    };
    assert_eq!(hook(&update).await.unwrap().status(), 200);
    let probe = FakeTelegram::text_update(5550009, "th", "แต้ม", 2);
    assert_eq!(hook(&probe).await.unwrap().status(), 200);
    let r = fake.replies(5550009, seen).await;
    assert!(text(&r).contains("ยอดแต้ม"), "{}", text(&r));
    assert!(!text(&r).contains("ยินดีต้อนรับ"), "{}", text(&r));
    // Not an update: refused, nothing kept.
    assert_eq!(hook(&json!({"hello": 1})).await.unwrap().status(), 400);
    app.shutdown().await;
}

#[tokio::test]
async fn a_link_code_from_line_makes_telegram_use_the_same_member() {
    for db in databases().await {
        let mut bot = Bot::start(db, 5550010, "en").await;
        let store = bot.app.t.store.clone();
        // A member who joined in LINE and has points there.
        let line_member = store
            .add_member(
                &taem::domain::model::NewMember {
                    line_id: Some("U4af4980629".into()),
                    ..Default::default()
                },
                now(),
            )
            .await
            .unwrap();
        bot.app.t.grant(&line_member, 75, now()).await;
        let code = bot
            .app
            .t
            .loyalty
            .start_link(line_member.id, now())
            .await
            .unwrap();

        // Telegram opens t.me/<bot>?start=link_<code> on first contact.
        let r = bot.say(&format!("/start link_{code}")).await;
        assert!(text(&r).contains("Linked!"), "{}", text(&r));
        assert!(text(&r).contains("75 points"), "{}", text(&r));
        let m = store.member(&MemberRef::Telegram(5550010)).await.unwrap();
        assert_eq!(m.id, line_member.id, "one member for both apps");
        assert_eq!(m.line_id.as_deref(), Some("U4af4980629"));
        let r = bot.say("/balance").await;
        assert!(text(&r).contains("Balance: 75 points"), "{}", text(&r));

        // The code works once.
        bot.user = 5550011;
        bot.seen = 0;
        let r = bot.say(&format!("/start link_{code}")).await;
        assert!(
            text(&r).contains("unknown, already used or expired"),
            "{}",
            text(&r)
        );

        // An account with its own history cannot be folded into another.
        let other = store
            .add_member(
                &taem::domain::model::NewMember {
                    line_id: Some("U-other".into()),
                    ..Default::default()
                },
                now(),
            )
            .await
            .unwrap();
        let code2 = bot.app.t.loyalty.start_link(other.id, now()).await.unwrap();
        let mine = store.member(&MemberRef::Telegram(5550011)).await.unwrap();
        bot.app.t.grant(&mine, 5, now()).await;
        let r = bot
            .say(&format!("link {}", code2.as_str().to_lowercase()))
            .await;
        assert!(
            text(&r).contains("already has its own points"),
            "{}",
            text(&r)
        );
        assert_eq!(
            store
                .member(&MemberRef::Telegram(5550011))
                .await
                .unwrap()
                .id,
            mine.id,
            "nothing changed"
        );

        // /link makes a code here for the other app.
        let r = bot.say("/link").await;
        assert!(text(&r).contains("within 15 minutes"), "{}", text(&r));
        bot.app.shutdown().await;
    }
}

#[tokio::test]
async fn a_voucher_can_be_given_back_and_an_expired_claim_code_is_explained() {
    let mut bot = Bot::start(sqlite_db(), 5550012, "en").await;
    let reward = bot.app.t.reward(30, None, None).await;
    bot.say("/start").await;
    let m = bot
        .app
        .t
        .store
        .member(&MemberRef::Telegram(5550012))
        .await
        .unwrap();
    bot.app.t.grant(&m, 50, now()).await;
    bot.press(&format!("rc:{}:K1", reward.id)).await;
    let r = bot.say("/vouchers").await;
    let give_back = r[0].button("vx:").expect("a give-back button");
    assert!(
        text(&r).contains("Iced coffee, valid until"),
        "{}",
        text(&r)
    );
    let r = bot.press(&give_back).await;
    assert!(text(&r).contains("get 30 points back?"), "{}", text(&r));
    let r = bot.press(&r[0].button("vc:").unwrap()).await;
    assert!(text(&r).contains("Balance: 50 points"), "{}", text(&r));
    let r = bot.say("/vouchers").await;
    assert!(text(&r).contains("no vouchers"), "{}", text(&r));

    // A receipt bought 31 days ago without a member: its claim code has expired.
    let old = now() - chrono::Duration::days(31);
    let merchant = bot.app.merchant.clone();
    let receipt = bot
        .app
        .t
        .loyalty
        .record_purchase(
            &merchant,
            taem::service::PurchaseRequest {
                receipt_id: "OLD-1".into(),
                amount: "500".into(),
                currency: "THB".into(),
                member_code: None,
                occurred_at: None,
                items: None,
            },
            old,
        )
        .await
        .unwrap()
        .into_inner();
    let r = bot.say(receipt.claim_code.as_deref().unwrap()).await;
    assert!(
        text(&r).contains("This receipt code expired on"),
        "{}",
        text(&r)
    );
    bot.app.shutdown().await;
}

#[tokio::test]
async fn invitations_promotions_and_tiers_show_in_the_chat() {
    for db in databases().await {
        let mut bot = Bot::start(db, 5550101, "en").await;
        bot.say("/start").await;
        let code = bot.member_code().await;
        let r = text(&bot.say("/invite").await);
        assert!(
            r.contains(&format!("https://t.me/taem_test_bot?start=ref_{code}")),
            "{r}"
        );
        assert!(
            r.contains("you get 50 points and they get 50 points"),
            "{r}"
        );

        let r = text(&bot.say("/promotions").await);
        assert!(r.contains("No promotions are running"), "{r}");
        let input = taem::service::campaigns::CampaignInput {
            name_th: "แต้มคูณสอง".into(),
            name_en: "Double points week".into(),
            text_th: "ซื้อครบ 500 บาท รับแต้มx2".into(),
            text_en: "Spend 500 baht for double points".into(),
            kind: "multiplier".into(),
            multiplier: Some("2".into()),
            starts_at: (now() - chrono::Duration::hours(1)).to_rfc3339(),
            ends_at: "2099-12-31".into(),
            ..Default::default()
        };
        bot.app.t.loyalty.add_campaign(&input, now()).await.unwrap();
        let r = text(&bot.say("/promotions").await);
        assert!(r.contains("Double points week"), "{r}");
        assert!(r.contains("Spend 500 baht for double points"), "{r}");
        assert!(r.contains("until 31 Dec 2099"), "{r}");
        let r = text(&bot.say("แต้ม").await);
        assert!(r.contains("Tier: Member"), "{r}");
        assert!(
            r.contains("Spend ฿5,000.00 more within 12 months to reach Silver"),
            "{r}"
        );
        // 6,000 THB at x2: 480 points and Silver.
        let (s, _) = bot
            .app
            .post_signed(
                "/v1/purchases",
                &json!({"receipt_id": "big", "amount": "6000", "currency": "THB", "member_code": code}),
            )
            .await;
        assert_eq!(s, 201);
        let r = text(&bot.say("balance").await);
        assert!(r.contains("Balance: 480 points"), "{r}");
        assert!(r.contains("Tier: Silver"), "{r}");
        assert!(
            r.contains("฿14,000.00 more within 12 months to reach Gold"),
            "{r}"
        );
        bot.app.shutdown().await;
    }
}

#[tokio::test]
async fn a_customer_guessing_receipt_codes_is_asked_to_wait_in_their_language() {
    for db in databases().await {
        let mut bot = Bot::start(db, 5550099, "en").await;
        bot.say("/start").await;
        for i in 0..5 {
            let r = bot.say(&format!("claim ABCDEFGHJ{}", i + 2)).await;
            assert!(
                text(&r).contains("could not find that receipt code"),
                "{i}: {}",
                text(&r)
            );
        }
        let r = bot.say("claim ABCDEFGHJ9").await;
        assert!(
            text(&r).contains("Too many wrong codes in a row"),
            "{}",
            text(&r)
        );
        bot.app.shutdown().await;
    }
}

#[tokio::test]
async fn a_member_shares_their_own_contact_and_the_counter_finds_them_by_phone() {
    use taem::service::staff::Actor;
    for db in databases().await {
        let mut bot = Bot::start(db, 5550123, "th").await;
        let r = bot.say("/start").await;
        assert!(r[0].button("ph").is_some(), "the menu has the phone button");

        let r = bot.press("ph").await;
        assert!(text(&r).contains("แคชเชียร์"), "says why: {}", text(&r));
        let ask = r.last().unwrap().markup();
        assert_eq!(ask["keyboard"][0][0]["request_contact"], true, "{ask}");
        assert_eq!(ask["keyboard"][0][0]["text"], "📱 แชร์เบอร์โทรของฉัน");
        assert_eq!(ask["one_time_keyboard"], true);

        // Someone else's contact card is refused, whether or not it names a user.
        for other in [Some(777), None] {
            bot.fake
                .user_shares_contact(bot.user, "th", "+66 89 999 9999", other);
            let r = bot.collect().await;
            assert!(text(&r).contains("ของคนอื่น"), "{}", text(&r));
        }
        assert_eq!(bot.member().await.phone, None);

        // Their own, as Telegram sends it (no +).
        bot.fake
            .user_shares_contact(bot.user, "th", "66812345678", Some(bot.user));
        let r = bot.collect().await;
        assert!(
            text(&r).contains("บันทึกแล้ว") && text(&r).contains("081-234-5678"),
            "{}",
            text(&r)
        );
        assert_eq!(r[0].markup()["remove_keyboard"], true, "the button goes");
        let found = bot
            .app
            .t
            .loyalty
            .find_member(&Actor::Cli, "081-234-5678")
            .await
            .expect("the counter finds them by phone");
        assert_eq!(found.code, bot.member_code().await);
        assert_eq!(found.phone.as_deref(), Some("+66812345678"));

        // The number is shown, and can be removed.
        let r = bot.say("เบอร์โทรของฉัน").await;
        assert!(text(&r).contains("081-234-5678"), "{}", text(&r));
        let r = bot
            .press(&r[0].button("px").expect("a remove button"))
            .await;
        assert!(text(&r).contains("ลบเบอร์โทรของคุณแล้ว"), "{}", text(&r));
        assert!(
            bot.app
                .t
                .loyalty
                .find_member(&Actor::Cli, "0812345678")
                .await
                .is_err()
        );

        // Typed works too: a confirmation whose Yes carries the number.
        let r = bot.say("081 234 5678").await;
        assert!(text(&r).contains("ใช่ไหม"), "{}", text(&r));
        let yes = r[0].button("pc:").expect("a yes button");
        assert_eq!(yes, "pc:+66812345678");
        let r = bot.press(&yes).await;
        assert!(text(&r).contains("บันทึกแล้ว"), "{}", text(&r));
        assert_eq!(
            bot.app
                .t
                .loyalty
                .find_member(&Actor::Cli, "+66 81 234 5678")
                .await
                .unwrap()
                .code,
            bot.member_code().await
        );
        bot.app.shutdown().await;
    }
}

#[tokio::test]
async fn a_rewards_picture_comes_as_a_photo_with_the_question_to_redeem_it() {
    for db in databases().await {
        let mut bot = Bot::start(db, 7_300_400_500, "en").await;
        bot.say("/start").await;
        let reward = bot.app.t.reward(100, None, None).await;
        let png = crate::console::png_picture();
        bot.app
            .t
            .loyalty
            .change_reward_picture(
                &taem::service::staff::Actor::Cli,
                reward.id,
                Some(png.clone()),
                now(),
            )
            .await
            .unwrap();
        let member = bot.member().await;
        bot.app.t.grant(&member, 300, now()).await;
        let r = bot.press(&format!("rd:{}", reward.id)).await;
        assert_eq!(r[0].method, "sendphoto", "{r:?}");
        assert_eq!(r[0].file.as_deref(), Some(&png[..]), "the reward's picture");
        assert!(r[0].text().contains(&reward.name_en), "{}", r[0].text());
        assert!(
            r.iter().any(|c| c.button("rc:").is_some()),
            "the buttons come with it"
        );
        bot.app.shutdown().await;
    }
}

#[tokio::test]
async fn a_customer_answers_a_till_in_the_chat_and_gets_a_pay_code_and_a_receipt() {
    for db in databases().await {
        let mut bot = Bot::start(db, 7_400_500_600, "en").await;
        bot.say("/start").await;
        let member = bot.member().await;
        bot.app.t.grant(&member, 1_000, now()).await;
        bot.app.t.pay_with_points("4:1").await;
        // The till asks; the customer is asked in their chat, with buttons.
        let body = json!({"request_id": "t-1", "member_code": member.code, "points": 200});
        let (status, p) = bot.app.post_signed("/v1/point-payments", &body).await;
        assert_eq!(status, 201, "{p}");
        let asked = bot.collect().await;
        let question = text(&asked);
        assert!(
            question.contains("Use 200 points (฿50.00) at"),
            "{question}"
        );
        let yes = asked
            .iter()
            .find_map(|c| c.button("pa:y:"))
            .expect("a Yes button");
        let r = bot.press(&yes).await;
        assert!(
            text(&r).contains("Done: 200 points (฿50.00)"),
            "{}",
            text(&r)
        );
        let capture = format!("/v1/point-payments/{}/capture", p["id"].as_str().unwrap());
        let (status, _) = bot.app.post_signed(&capture, &json!({})).await;
        assert_eq!(status, 200);
        let receipt = bot.collect().await;
        assert!(
            text(&receipt).contains("You paid ฿50.00 with 200 points"),
            "{}",
            text(&receipt)
        );
        assert!(text(&receipt).contains("Balance: 800 points"));
        // The balance says what the points are worth at the till.
        let r = bot.say("/balance").await;
        assert!(
            text(&r).contains("Worth ฿200.00 when you pay at the till"),
            "{}",
            text(&r)
        );
        // A pay code to show at the till instead.
        let r = bot.say("pay with points").await;
        assert!(
            text(&r).contains("Show this code at the till"),
            "{}",
            text(&r)
        );
        bot.app.shutdown().await;
    }
}

#[tokio::test]
async fn cashback_becomes_store_credit_the_customer_spends_at_the_till_from_the_chat() {
    use taem::domain::offer::RewardKind;
    use taem::domain::{Currency, Money};
    for db in databases().await {
        let mut bot = Bot::start(db, 7_400_500_601, "en").await;
        bot.say("/start").await;
        let member = bot.member().await;
        bot.app.t.grant(&member, 1_000, now()).await;
        let credit = Money::from_minor(6_000, Currency::THB);
        let reward = bot
            .app
            .t
            .reward_of(500, (None, None), RewardKind::Cashback { credit })
            .await;
        let r = bot.say("/rewards").await;
        assert!(text(&r).contains("฿60.00 store credit"), "{}", text(&r));
        let r = bot.press(&format!("rc:{}:C1", reward.id)).await;
        assert!(
            text(&r).contains("฿60.00 of store credit is on your account"),
            "{}",
            text(&r)
        );
        let r = bot.say("/balance").await;
        assert!(text(&r).contains("Store credit: ฿60.00"), "{}", text(&r));
        // The till asks for ฿25 of it; the customer says yes; the receipt follows.
        let body = json!({"request_id": "t-c", "member_code": member.code,
                          "source": "credit", "amount": "25"});
        let (status, p) = bot.app.post_signed("/v1/point-payments", &body).await;
        assert_eq!(status, 201, "{p}");
        let asked = bot.collect().await;
        assert!(
            text(&asked).contains("Use ฿25.00 of your store credit at"),
            "{}",
            text(&asked)
        );
        let yes = asked.iter().find_map(|c| c.button("pa:y:")).expect("Yes");
        let r = bot.press(&yes).await;
        assert!(
            text(&r).contains("Done: ฿25.00 of your store credit"),
            "{}",
            text(&r)
        );
        let capture = format!("/v1/point-payments/{}/capture", p["id"].as_str().unwrap());
        assert_eq!(bot.app.post_signed(&capture, &json!({})).await.0, 200);
        let receipt = text(&bot.collect().await);
        assert!(
            receipt.contains("You paid ฿25.00 with store credit")
                && receipt.contains("Store credit left: ฿35.00"),
            "{receipt}"
        );
        bot.app.shutdown().await;
    }
}

#[tokio::test]
async fn a_customer_gets_their_data_as_a_file_and_is_asked_for_consent_once() {
    for db in databases().await {
        let mut bot = Bot::start(db, 91_001, "en").await;
        let joined = bot.say("/start").await;
        let ask = joined.last().unwrap();
        assert!(
            ask.text().contains("send you news and offers"),
            "{}",
            ask.text()
        );
        assert_eq!(ask.button("cs:n").as_deref(), Some("cs:n"));
        let answer = bot.press("cs:n").await;
        assert!(text(&answer).contains("only messages about your points"));
        assert!(!bot.member().await.marketing_opt_in);
        let asked_again = bot.say("/balance").await;
        assert!(
            !text(&asked_again).contains("news and offers"),
            "asked once"
        );

        let sent = bot.say("/mydata").await;
        let doc = sent
            .iter()
            .find(|c| c.method == "senddocument")
            .expect("a document");
        assert!(doc.text().contains("everything we hold about you"));
        let file: serde_json::Value =
            serde_json::from_slice(doc.file.as_ref().expect("the file's bytes")).unwrap();
        assert_eq!(file["profile"]["code"], bot.member_code().await.as_str());
        assert_eq!(file["profile"]["telegram_id"], 91_001);
        assert_eq!(file["consents"][0]["granted"], false);
        bot.app.shutdown().await;
    }
}

/// Pollers of one bot on one database, for the tests of turns and conflicts.
fn poller(url: &str, store: &std::sync::Arc<dyn taem::store::Store>, holder: &str) -> Poller {
    let bot = teloxide::Bot::new(TOKEN).set_api_url(url.parse().unwrap());
    Poller {
        bot,
        loyalty: std::sync::Arc::new(taem::service::Loyalty::new(
            store.clone(),
            chrono_tz::Asia::Bangkok,
        )),
        wake: Default::default(),
        holder: holder.into(),
    }
}

#[tokio::test]
async fn instances_on_one_database_take_turns_to_poll_and_one_meeting_another_program_stops() {
    for db in databases().await {
        let t = TestStore::open(db).await;
        let (fake, url) = FakeTelegram::start().await;
        // The lease: one holder at a time; a stopped holder's turn passes.
        let t0 = now();
        let later = t0 + chrono::Duration::seconds(30);
        assert!(t.store.take_lease(LEASE, "a", t0, later).await.unwrap());
        assert!(!t.store.take_lease(LEASE, "b", t0, later).await.unwrap());
        assert!(t.store.take_lease(LEASE, "a", t0, later).await.unwrap());
        assert!(t.store.take_lease(LEASE, "b", later, later).await.unwrap());
        t.store.drop_lease(LEASE, "b", t0).await.unwrap();

        // The first instance polls and keeps what it gets; a second stands by
        // and takes over when the first stops.
        let (stop_a, stopped_a) = tokio::sync::watch::channel(false);
        let a = tokio::spawn(poller(&url, &t.store, "a").run(stopped_a));
        fake.user_says(5550030, "en", "/start");
        wait_for(|| async { t.store.inbox_depth().await.unwrap().waiting == 1 }).await;
        let (stop_b, stopped_b) = tokio::sync::watch::channel(false);
        let b = tokio::spawn(poller(&url, &t.store, "b").run(stopped_b));
        assert_eq!(t.store.lease(LEASE).await.unwrap().unwrap().0, "a");
        stop_a.send(true).unwrap();
        assert_eq!(a.await.unwrap(), Stop::Shutdown);
        wait_for(|| async {
            t.store
                .lease(LEASE)
                .await
                .unwrap()
                .is_some_and(|(h, _)| h == "b")
        })
        .await;
        // Telegram gave the update again to the new poller: still kept once.
        assert_eq!(t.store.inbox_depth().await.unwrap().waiting, 1);

        // Another program polls the bot: this one stops and gives its turn up.
        fake.poll_conflict(FakeTelegram::OTHER_POLLER);
        let stopped = tokio::time::timeout(std::time::Duration::from_secs(30), b)
            .await
            .expect("the poller stops at a conflict");
        assert_eq!(stopped.unwrap(), Stop::OtherPoller);
        drop(stop_b);
        let (holder, until) = t.store.lease(LEASE).await.unwrap().unwrap();
        assert!(holder == "b" && until <= now(), "the lease was given up");
        // A webhook on the bot: polling stops at once with its own reason.
        fake.poll_conflict(FakeTelegram::WEBHOOK_SET);
        let (_stop_c, stopped_c) = tokio::sync::watch::channel(false);
        assert_eq!(
            poller(&url, &t.store, "c").run(stopped_c).await,
            Stop::WebhookSet
        );
    }
}

/// Waits (up to 15 s) until `check` holds.
async fn wait_for<F, Fut>(check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "not within 15 s");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_member_gives_their_birthday_once_a_year_in_the_chat() {
    for db in databases().await {
        let mut bot = Bot::start(db, 5550040, "en").await;
        bot.say("/start").await;
        let r = bot.say("birthday").await;
        assert!(text(&r).contains("birthday 29/2"), "{}", text(&r));
        let r = bot.say("birthday 31/4").await;
        assert!(text(&r).contains("not a day and month"), "{}", text(&r));
        let r = bot.say("/birthday 29/2").await;
        assert!(
            text(&r).contains("celebrate with you on 29 Feb"),
            "{}",
            text(&r)
        );
        let r = bot.say("วันเกิด 1/3").await;
        assert!(text(&r).contains("less than a year ago"), "{}", text(&r));
        let r = bot.say("my birthday").await;
        assert!(text(&r).contains("Your birthday is 29 Feb"), "{}", text(&r));
        bot.app.shutdown().await;
    }
}
