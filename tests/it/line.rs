//! The LINE front-end against a fake LINE API on loopback: signed webhook
//! payloads in LINE's JSON shapes, the journey in Thai and English, redelivery,
//! bad signatures, unfollow, and a spent reply token falling back to push.

use crate::common::fake_line::{FakeLine, LineCall, SECRET, TOKEN};
use crate::common::*;
use serde_json::{Value, json};
use taem::domain::model::MemberRef;

const USER: &str = "U4af4980629f2c3e8b0d2a7c61b8a3f01";

pub(crate) struct Line {
    pub(crate) app: TestApp,
    pub(crate) fake: FakeLine,
    seen: usize,
    n: u64,
}

/// The settings of a taem that talks to the fake LINE at `url`.
fn line_env(url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("LINE_CHANNEL_SECRET", SECRET.to_string()),
        ("LINE_CHANNEL_ACCESS_TOKEN", TOKEN.to_string()),
        ("LINE_API_URL", url.to_string()),
        ("TAEM_PUBLIC_URL", "https://taem.example".to_string()),
        // A crashed server's events are taken over after a second.
        ("TAEM_INBOX_LEASE_SECONDS", "1".to_string()),
    ]
}

impl Line {
    pub(crate) async fn start(db: TestDb, language: &str) -> Line {
        let (fake, url) = FakeLine::start(language).await;
        let app = TestApp::spawn_with(db, &line_env(&url)).await;
        Line {
            app,
            fake,
            seen: 0,
            n: 0,
        }
    }

    pub(crate) fn event(&mut self, kind: &str, extra: Value) -> Value {
        self.n += 1;
        let mut e = json!({
            "type": kind,
            "mode": "active",
            "timestamp": 1_795_000_000_000u64 + self.n,
            "source": {"type": "user", "userId": USER},
            "webhookEventId": format!("01HTAEMEVENT{:014}", self.n),
            "deliveryContext": {"isRedelivery": false},
            "replyToken": format!("reply-token-{}", self.n),
        });
        for (k, v) in extra.as_object().unwrap() {
            e[k] = v.clone();
        }
        e
    }

    async fn post(&self, events: Vec<Value>, signature: Option<String>) -> u16 {
        let body = serde_json::to_vec(&json!({"destination": "Ubot", "events": events})).unwrap();
        let sig = signature.unwrap_or_else(|| taem::line::sign(SECRET, &body));
        self.app
            .http
            .post(format!("{}/line/webhook", self.app.base))
            .header("x-line-signature", sig)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    pub(crate) async fn send(&mut self, event: Value) -> Vec<LineCall> {
        assert_eq!(self.post(vec![event], None).await, 200);
        let new = self.fake.calls_after(self.seen).await;
        self.seen += new.len();
        new
    }

    async fn say(&mut self, text: &str) -> Vec<LineCall> {
        let e = self.event(
            "message",
            json!({"message": {"type": "text", "id": "1", "text": text}}),
        );
        self.send(e).await
    }

    /// GETs what taem serves at a public URL it sent (`https://taem.example/…`).
    async fn fetch(&self, url: &str) -> reqwest::Response {
        let path = url.strip_prefix("https://taem.example").unwrap_or(url);
        self.app
            .http
            .get(format!("{}{path}", self.app.base))
            .send()
            .await
            .unwrap()
    }

    pub(crate) async fn press(&mut self, data: &str) -> Vec<LineCall> {
        let e = self.event("postback", json!({"postback": {"data": data}}));
        self.send(e).await
    }
}

fn texts(calls: &[LineCall]) -> String {
    calls
        .iter()
        .map(LineCall::texts)
        .collect::<Vec<_>>()
        .join("\n")
}

async fn journey(lang: &str, welcome: &str, balance: &str, keyword: &str, history: &str) {
    for db in databases().await {
        let mut line = Line::start(db, lang).await;
        let reward = line.app.t.reward(100, None, None).await;
        let follow = line.event("follow", json!({"follow": {"isUnblocked": false}}));
        let r = line.send(follow).await;
        assert_eq!(r[0].kind, "reply", "answers with the free reply token");
        assert!(texts(&r).contains(welcome), "{}", texts(&r));
        let code = line
            .app
            .t
            .store
            .member(&MemberRef::Line(USER.into()))
            .await
            .unwrap()
            .code;

        let (s, _) = line
            .app
            .post_signed("/v1/purchases", &json!({"receipt_id": "L-1", "amount": "26000", "currency": "THB", "member_code": code}))
            .await;
        assert_eq!(s, 201);
        // The purchase is pushed (points earned, and the new tier) whenever the
        // worker gets to it: wait for both before the conversation goes on.
        let mut pushed: Vec<LineCall> = Vec::new();
        while pushed.iter().filter(|c| c.kind == "push").count() < 2 {
            let new = line.fake.calls_after(line.seen).await;
            line.seen += new.len();
            pushed.extend(new);
        }
        let r = line.say(keyword).await;
        assert!(texts(&r).contains(balance), "{}", texts(&r));

        let r = line.press("rw:0").await;
        let bubbles = r[0].carousel();
        assert_eq!(bubbles.len(), 1, "the catalogue is a Flex carousel");
        assert!(
            bubbles[0]["body"].to_string().contains(&reward.name_th)
                || bubbles[0]["body"].to_string().contains(&reward.name_en)
        );
        let ask = r[0]
            .postback(&format!("rd:{}", reward.id))
            .expect("a redeem quick reply");
        let r = line.press(&ask).await;
        let confirm = r[0].postback("rc:").expect("a confirm quick reply");
        let r = line.press(&confirm).await;
        let images = r[0].images();
        assert_eq!(images.len(), 1, "the voucher's QR code as an image");
        let member = line
            .app
            .t
            .store
            .member(&MemberRef::Line(USER.into()))
            .await
            .unwrap();
        let voucher = line.app.t.store.vouchers(member.id).await.unwrap()[0]
            .code
            .clone();
        assert!(texts(&r).contains(&voucher));
        // taem serves the image at the signed URL.
        let png = line.fetch(&images[0]).await;
        assert_eq!(png.status(), 200);
        assert!(png.bytes().await.unwrap().starts_with(b"\x89PNG"));

        let (s, _) = line
            .app
            .post_signed(&format!("/v1/vouchers/{voucher}/use"), &json!({}))
            .await;
        assert_eq!(s, 200);
        let r = line.press("hi").await;
        assert!(texts(&r).contains(history), "{}", texts(&r));
        line.app.t.assert_ledger_holds().await;
        line.app.shutdown().await;
    }
}

#[tokio::test]
async fn a_customer_runs_the_whole_journey_in_thai_on_line() {
    journey(
        "th",
        "ยินดีต้อนรับ",
        "ยอดแต้ม: 1,040 แต้ม",
        "แต้ม",
        "−100 แลกของรางวัล",
    )
    .await;
}

#[tokio::test]
async fn a_customer_runs_the_whole_journey_in_english_on_line() {
    journey(
        "en",
        "Welcome to our loyalty program",
        "Balance: 1,040 points",
        "points",
        "−100 redeemed",
    )
    .await;
}

#[tokio::test]
async fn a_redelivered_event_acts_once_and_a_bad_signature_does_nothing() {
    let mut line = Line::start(sqlite_db(), "en").await;
    let follow = line.event("follow", json!({}));
    line.send(follow.clone()).await;
    let mut again = follow;
    again["deliveryContext"]["isRedelivery"] = json!(true);
    // The redelivery and a new message in one delivery: events are handled in
    // order, so once the message is answered the redelivery was handled too.
    let probe = line.event(
        "message",
        json!({"message": {"type": "text", "id": "1", "text": "points"}}),
    );
    assert_eq!(line.post(vec![again, probe], None).await, 200);
    let answered = line.fake.calls_after(1).await;
    assert_eq!(answered.len(), 1, "only the new message was answered");
    assert!(texts(&answered).contains("Balance"), "{}", texts(&answered));
    line.seen = 2;

    let e = line.event(
        "message",
        json!({"message": {"type": "text", "id": "2", "text": "points"}}),
    );
    assert_eq!(
        line.post(vec![e.clone()], Some("bm90IHRoZSBzaWduYXR1cmU=".into()))
            .await,
        401
    );
    assert_eq!(line.post(vec![e], Some(String::new())).await, 401);
    // A 401 is answered before anything is handled: nothing can follow.

    // Unknown event and message types are ignored, not errors.
    let sticker = line.event(
        "message",
        json!({"message": {"type": "sticker", "id": "3"}}),
    );
    let beacon = line.event(
        "beacon",
        json!({"beacon": {"hwid": "d41d8cd98f", "type": "enter"}}),
    );
    assert_eq!(line.post(vec![beacon], None).await, 200);
    let r = line.send(sticker).await;
    assert!(texts(&r).contains("didn't understand"), "{}", texts(&r));
    assert_eq!(
        line.fake.calls().len(),
        3,
        "the follow, the message and the sticker were answered; nothing else"
    );
    line.app.shutdown().await;
}

#[tokio::test]
async fn an_event_acknowledged_before_a_crash_is_answered_after_the_restart() {
    for db in databases().await {
        let (fake, url) = FakeLine::start("en").await;
        let app = TestApp::spawn_with(db, &line_env(&url)).await;
        let mut line = Line {
            app,
            fake: fake.clone(),
            seen: 0,
            n: 0,
        };
        // LINE hangs while taem handles the event: the 200 has gone out, the
        // answer has not.
        fake.stall_profiles(true);
        let follow = line.event("follow", json!({}));
        assert_eq!(line.post(vec![follow.clone()], None).await, 200);
        fake.profiles_requested(1).await;
        let db = line.app.abort();
        assert!(
            fake.calls().is_empty(),
            "nothing was answered before the crash"
        );
        // By the restart the reply token has run out.
        fake.kill_reply_token(follow["replyToken"].as_str().unwrap());
        fake.stall_profiles(false);
        line.app = TestApp::spawn_with(db, &line_env(&url)).await;
        let answer = fake.calls_after(0).await;
        assert_eq!(answer.len(), 1, "{answer:?}");
        assert_eq!(
            answer[0].kind, "push",
            "the expired token's answer is pushed"
        );
        assert_eq!(answer[0].to().as_deref(), Some(USER));
        assert!(texts(&answer).contains("Welcome"), "{}", texts(&answer));
        let joined = line.app.t.store.member(&MemberRef::Line(USER.into())).await;
        assert!(joined.is_ok(), "the follow made a member: {joined:?}");
        // LINE sending it again changes nothing.
        line.seen = 1;
        let probe = line.event(
            "message",
            json!({"message": {"type": "text", "id": "1", "text": "points"}}),
        );
        assert_eq!(line.post(vec![follow, probe], None).await, 200);
        let r = fake.calls_after(1).await;
        assert_eq!(r.len(), 1, "only the new message was answered: {r:?}");
        assert!(texts(&r).contains("Balance"), "{}", texts(&r));
        let depth = line.app.t.store.inbox_depth().await.unwrap();
        assert_eq!(depth.waiting, 0);
        line.app.shutdown().await;
    }
}

#[tokio::test]
async fn a_spent_reply_token_falls_back_to_push_with_a_retry_key() {
    let mut line = Line::start(sqlite_db(), "th").await;
    let follow = line.event("follow", json!({}));
    line.send(follow).await;
    let e = line.event(
        "message",
        json!({"message": {"type": "text", "id": "4", "text": "แต้ม"}}),
    );
    line.fake
        .kill_reply_token(e["replyToken"].as_str().unwrap());
    let r = line.send(e).await;
    assert_eq!(r[0].kind, "push");
    assert_eq!(r[0].to().as_deref(), Some(USER));
    assert_eq!(r[0].retry_key.as_ref().map(String::len), Some(36));
    assert!(texts(&r).contains("ยอดแต้ม"), "{}", texts(&r));
    line.app.shutdown().await;
}

#[tokio::test]
async fn an_unfollow_is_recorded_and_sends_nothing() {
    let mut line = Line::start(sqlite_db(), "th").await;
    let follow = line.event("follow", json!({}));
    line.send(follow).await;
    let e = line.event("unfollow", json!({}));
    assert_eq!(line.post(vec![e], None).await, 200);
    // Handled once the member is marked unreachable (the handler's last step).
    let store = line.app.t.store.clone();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while store
        .member(&MemberRef::Line(USER.into()))
        .await
        .unwrap()
        .line_reachable
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never marked unreachable"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        line.fake.calls().len(),
        1,
        "nothing is sent to someone who unfollowed"
    );
    // Following again brings them back.
    line.seen = 1;
    let again = line.event("follow", json!({"follow": {"isUnblocked": true}}));
    let r = line.send(again).await;
    assert!(texts(&r).contains("ยินดีต้อนรับกลับมา"), "{}", texts(&r));
    assert!(
        store
            .member(&MemberRef::Line(USER.into()))
            .await
            .unwrap()
            .line_reachable
    );
    line.app.shutdown().await;
}

#[tokio::test]
async fn taem_line_richmenu_creates_uploads_and_sets_the_default_menu() {
    let (fake, url) = FakeLine::start("th").await;
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_db();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_taem"))
        .args(["line", "richmenu", "--json"])
        .current_dir(dir.path())
        .env("DATABASE_URL", &db.url)
        .env("LINE_CHANNEL_SECRET", SECRET)
        .env("LINE_CHANNEL_ACCESS_TOKEN", TOKEN)
        .env("LINE_API_URL", url)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = "richmenu-88c05ef6921ae53f8b58a25f3a65faf7";
    assert_eq!(printed["rich_menu_id"], id);
    let calls = fake.calls();
    let kinds: Vec<&str> = calls.iter().map(|c| c.kind.as_str()).collect();
    assert_eq!(kinds, ["richmenu", "richmenu-image", "richmenu-default"]);
    assert_eq!(calls[0].body["areas"].as_array().unwrap().len(), 6);
    assert_eq!(calls[1].body["png"], true);
    assert_eq!(calls[1].body["content_type"], "image/png");
    assert_eq!(calls[2].body["id"], id);
}

#[tokio::test]
async fn the_promotions_tile_answers() {
    let mut line = Line::start(sqlite_db(), "en").await;
    let r = line.press("pr").await;
    assert!(
        texts(&r).contains("No promotions are running right now"),
        "{}",
        texts(&r)
    );
    line.app.shutdown().await;
}

#[tokio::test]
async fn the_client_multicasts_with_a_retry_key_and_reads_the_quota() {
    let (fake, url) = FakeLine::start("th").await;
    let client = taem::line::LineClient::new(
        reqwest::Client::new(),
        taem::domain::model::Secret::new(TOKEN),
        Some(url.parse().unwrap()),
    );
    let to: Vec<String> = (0..500).map(|i| format!("U{i:032}")).collect();
    let messages = [json!({"type": "text", "text": "x2 แต้ม สุดสัปดาห์นี้"})];
    let key = taem::domain::codes::uuid_v4();
    client.multicast(&to, &messages, &key).await.unwrap();
    // A retry of the same chunk is accepted (409) and delivers nothing twice.
    client.multicast(&to, &messages, &key).await.unwrap();
    let sent: Vec<_> = fake
        .calls()
        .into_iter()
        .filter(|c| c.kind == "multicast")
        .collect();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body["to"].as_array().unwrap().len(), 500);
    assert_eq!(client.quota().await.unwrap(), (Some(15000), 1234));
}

#[tokio::test]
async fn a_line_invitation_link_opens_a_chat_with_the_code_ready_to_send() {
    for db in databases().await {
        let mut line = Line::start(db, "th").await;
        let friend = line.app.t.member().await;
        let follow = line.event("follow", json!({"follow": {"isUnblocked": false}}));
        line.send(follow).await;
        // The link's prefilled message arrives after the follow.
        let r = texts(&line.say(&format!("ref_{}", friend.code)).await);
        assert!(r.contains("ขอบคุณที่สมัครผ่านคำเชิญ"), "{r}");
        assert!(r.contains("50 แต้ม"), "{r}");
        let me = line
            .app
            .t
            .store
            .member(&MemberRef::Line(USER.into()))
            .await
            .unwrap();
        let r = texts(&line.say("ชวนเพื่อน").await);
        assert!(
            r.contains(&format!(
                "https://line.me/R/oaMessage/@taemshop/?ref_{}",
                me.code
            )),
            "{r}"
        );
        line.app.shutdown().await;
    }
}

#[tokio::test]
async fn qr_image_urls_have_their_own_key_and_do_not_show_the_code() {
    for db in databases().await {
        let mut line = Line::start(db, "en").await;
        line.say("hello").await;
        let r = line.say("card").await;
        let images: Vec<String> = r.iter().flat_map(|c| c.images()).collect();
        assert_eq!(images.len(), 1, "the member card as an image");
        let member = line
            .app
            .t
            .store
            .member(&MemberRef::Line(USER.into()))
            .await
            .unwrap();
        assert!(!images[0].contains(&member.code), "{}", images[0]);
        let get = async |path: &str| {
            line.app
                .http
                .get(format!("{}{path}", line.app.base))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        };
        let path = images[0].strip_prefix("https://taem.example").unwrap();
        assert_eq!(get(path).await, 200);

        // A URL sealed with the LINE channel secret is not taem's.
        let forged = taem::http::qr::QrUrls::new("https://taem.example".parse().unwrap(), SECRET)
            .url(&member.code, taem::domain::time::now());
        assert_eq!(
            get(forged.strip_prefix("https://taem.example").unwrap()).await,
            404
        );
        // A LINE signature is no QR token ...
        use base64::Engine;
        let line_sig = base64::engine::general_purpose::STANDARD
            .decode(taem::line::sign(SECRET, member.code.as_bytes()))
            .unwrap();
        let as_token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(line_sig);
        assert_eq!(get(&format!("/qr/{as_token}.png")).await, 404);
        // ... and a QR token is no LINE signature.
        let token = path
            .strip_prefix("/qr/")
            .unwrap()
            .strip_suffix(".png")
            .unwrap();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .unwrap();
        for header in [
            token.to_string(),
            base64::engine::general_purpose::STANDARD.encode(&bytes),
            base64::engine::general_purpose::STANDARD.encode(&bytes[bytes.len() - 32..]),
        ] {
            assert_eq!(line.post(vec![], Some(header)).await, 401);
        }
        line.app.shutdown().await;
    }
}

#[tokio::test]
async fn a_rewards_picture_is_the_hero_of_its_card_in_the_catalogue() {
    for db in databases().await {
        let mut line = Line::start(db, "en").await;
        let reward = line.app.t.reward(100, None, None).await;
        let png = crate::console::png_picture();
        let actor = taem::service::staff::Actor::Cli;
        let r = line
            .app
            .t
            .loyalty
            .change_reward_picture(
                &actor,
                reward.id,
                Some(png.clone()),
                taem::domain::time::now(),
            )
            .await
            .unwrap();
        let name = r.picture.expect("a picture");
        let follow = line.event("follow", json!({"follow": {"isUnblocked": false}}));
        line.send(follow).await;
        let r = line.press("rw:0").await;
        let bubbles = r[0].carousel();
        let path = format!("/media/rewards/{}/{name}", reward.id);
        assert_eq!(bubbles[0]["hero"]["type"], "image");
        assert_eq!(
            bubbles[0]["hero"]["url"],
            format!("https://taem.example{path}")
        );
        // What LINE fetches from there is the picture.
        let (status, _) = line.app.get(&path).await;
        assert_eq!(status, 200);
        let bytes = reqwest::get(format!("{}{path}", line.app.base))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(bytes.to_vec(), png);
        // Asking to redeem it shows the picture too.
        let r = line.press(&format!("rd:{}", reward.id)).await;
        let first = &r[0].body["messages"][0];
        assert_eq!(first["type"], "image", "{first}");
        assert_eq!(
            first["originalContentUrl"],
            format!("https://taem.example{path}")
        );
        line.app.shutdown().await;
    }
}

#[tokio::test]
async fn a_typed_number_is_confirmed_then_stored_and_one_another_member_has_is_refused() {
    use taem::domain::time::now;
    for db in databases().await {
        let mut line = Line::start(db, "en").await;
        let follow = line.event("follow", json!({"follow": {"isUnblocked": false}}));
        line.send(follow).await;
        let me = MemberRef::Line(USER.into());
        let phone = async |line: &Line| line.app.t.store.member(&me).await.unwrap().phone;

        let r = line.say("My phone number").await;
        assert!(
            texts(&r).contains("the cashier can find your points by your number")
                && texts(&r).contains("Type your phone number"),
            "{}",
            texts(&r)
        );

        // Not a number: said so, nothing stored.
        let r = line.say("081-234-567").await;
        assert!(
            texts(&r).contains("does not look like a phone number"),
            "{}",
            texts(&r)
        );
        let r = line.say("phone call me maybe").await;
        assert!(
            texts(&r).contains("does not look like a phone number"),
            "{}",
            texts(&r)
        );

        // A number, then "No": nothing stored.
        let r = line.say("+66 81 234 5678").await;
        assert!(
            texts(&r).contains("Save 081-234-5678 as your phone number?"),
            "{}",
            texts(&r)
        );
        line.press(&r[0].postback("pk").expect("a no button")).await;
        assert_eq!(phone(&line).await, None);

        // Then "Yes": stored.
        let r = line.say("081-234-5678").await;
        let yes = r[0].postback("pc:").expect("a yes button");
        let r = line.press(&yes).await;
        assert!(
            texts(&r).contains("Saved! The cashier can now find you by 081-234-5678."),
            "{}",
            texts(&r)
        );
        assert_eq!(phone(&line).await.as_deref(), Some("+66812345678"));

        // A number another member gave at the counter: refused without naming them.
        let other = line.app.t.member().await;
        line.app
            .t
            .store
            .set_phone(other.id, "+66899999999", now())
            .await
            .unwrap();
        let r = line.say("089 999 9999").await;
        let r = line.press(&r[0].postback("pc:").unwrap()).await;
        assert!(
            texts(&r).contains("already used by another member"),
            "{}",
            texts(&r)
        );
        assert!(!texts(&r).contains(&other.code));
        assert_eq!(phone(&line).await.as_deref(), Some("+66812345678"));
        let other_now = line
            .app
            .t
            .store
            .member(&MemberRef::Id(other.id))
            .await
            .unwrap();
        assert_eq!(other_now.phone.as_deref(), Some("+66899999999"));
        line.app.shutdown().await;
    }
}

#[tokio::test]
async fn the_catalogue_says_plainly_what_each_reward_gives() {
    use taem::domain::offer::RewardKind;
    use taem::domain::{Currency, Money};
    for db in databases().await {
        let mut line = Line::start(db, "en").await;
        let thb = |minor| Money::from_minor(minor, Currency::THB);
        line.app
            .t
            .reward_of(
                100,
                (None, None),
                RewardKind::PercentDiscount {
                    basis_points: 1_250,
                    cap: Some(thb(10_000)),
                    categories: vec!["bakery".into()],
                    min_basket: None,
                },
            )
            .await;
        line.app
            .t
            .reward_of(
                200,
                (None, None),
                RewardKind::FixedDiscount {
                    off: thb(6_000),
                    min_basket: Some(thb(30_000)),
                },
            )
            .await;
        line.app
            .t
            .reward_of(300, (None, None), RewardKind::DrawEntry)
            .await;
        let follow = line.event("follow", json!({"follow": {"isUnblocked": false}}));
        line.send(follow).await;
        let r = line.press("rw:0").await;
        let cards: Vec<String> = r[0]
            .carousel()
            .iter()
            .map(|b| b["body"].to_string())
            .collect();
        assert!(
            cards[0].contains("12.5% off your bill · up to ฿100.00 · on bakery only"),
            "{cards:?}"
        );
        assert!(
            cards[1].contains("฿60.00 off your bill · for a bill of ฿300.00 or more"),
            "{cards:?}"
        );
        assert!(cards[2].contains("An entry in the lucky draw"), "{cards:?}");
        line.app.shutdown().await;
    }
}

#[tokio::test]
async fn a_line_customer_says_no_to_a_till_and_their_points_come_back() {
    for db in databases().await {
        let mut line = Line::start(db, "th").await;
        let follow = line.event("follow", json!({"follow": {"isUnblocked": false}}));
        line.send(follow).await;
        let member = line
            .app
            .t
            .store
            .member(&MemberRef::Line(USER.into()))
            .await
            .unwrap();
        line.app
            .t
            .grant(&member, 400, taem::domain::time::now())
            .await;
        line.app.t.pay_with_points("4:1").await;
        let body = json!({"request_id": "l-1", "member_code": member.code, "points": 100});
        let (status, p) = line.app.post_signed("/v1/point-payments", &body).await;
        assert_eq!(status, 201, "{p}");
        // The question is pushed, in Thai, with the answers as quick replies.
        let mut asked = Vec::new();
        while !asked.iter().any(|c: &LineCall| c.kind == "push") {
            let new = line.fake.calls_after(line.seen).await;
            line.seen += new.len();
            asked.extend(new);
        }
        let push = asked.iter().find(|c| c.kind == "push").unwrap();
        assert!(
            push.texts().contains("ใช้ 100 แต้ม (฿25.00)"),
            "{}",
            push.texts()
        );
        let no = push.postback("pa:n:").expect("a No button");
        let r = line.press(&no).await;
        assert!(texts(&r).contains("คืน 100 แต้มให้คุณแล้ว"), "{}", texts(&r));
        let m = line
            .app
            .t
            .loyalty
            .member(&MemberRef::Id(member.id))
            .await
            .unwrap();
        assert_eq!(m.balance.value(), 400);
        let (_, p) = line
            .app
            .get_signed(&format!("/v1/point-payments/{}", p["id"].as_str().unwrap()))
            .await;
        assert_eq!(p["status"], "declined");
        line.app.shutdown().await;
    }
}

#[tokio::test]
async fn on_line_a_customers_data_comes_as_a_short_lived_link_that_erasure_ends() {
    for db in databases().await {
        let mut line = Line::start(db, "en").await;
        line.say("hello").await;
        let sent = texts(&line.say("my data").await);
        let url = sent
            .split_whitespace()
            .find(|w| w.starts_with("https://taem.example/my-data/"))
            .unwrap_or_else(|| panic!("no link in {sent}"))
            .to_string();
        let member = line
            .app
            .t
            .store
            .member(&MemberRef::Line(USER.into()))
            .await
            .unwrap();
        assert!(!url.contains(&member.code), "{url}");
        let res = line.fetch(&url).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["cache-control"], "no-store");
        let file: serde_json::Value = res.json().await.unwrap();
        assert_eq!(file["profile"]["line_id"], USER);
        // Once erased, the link finds nothing.
        line.press("er:y").await;
        let status = line.fetch(&url).await.status();
        assert_eq!(status, 404);
        line.app.shutdown().await;
    }
}
