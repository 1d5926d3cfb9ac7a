//! The console in a real browser: headless Chromium driven over WebDriver
//! (`chromedriver`, started on a free loopback port for each test). They run
//! when `chromedriver` is on the PATH (or `TAEM_CHROMEDRIVER` names it); CI
//! installs it and sets `TAEM_BROWSER_TESTS=required`, so there they cannot be
//! skipped.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use taem::domain::model::MemberRef;
use taem::domain::staff::{NewStaff, Role};
use taem::domain::time::now;
use taem::service::staff::Actor;

use crate::common::*;

/// Chromium under WebDriver; the driver process ends with it.
struct Browser {
    client: Client,
    driver: Child,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn chromedriver() -> Option<String> {
    if let Ok(path) = std::env::var("TAEM_CHROMEDRIVER") {
        return Some(path);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("chromedriver"))
        .find(|p| p.is_file())
        .map(|p| p.display().to_string())
}

/// A browser, or `None` (with a note) where there is no chromedriver and the
/// tests are not required.
async fn browser() -> Option<Browser> {
    browser_with(&[]).await
}

/// A browser started with more command-line switches (a fake camera).
async fn browser_with(extra: &[String]) -> Option<Browser> {
    crate::common::read_dotenv();
    let Some(path) = chromedriver() else {
        assert!(
            std::env::var("TAEM_BROWSER_TESTS").as_deref() != Ok("required"),
            "TAEM_BROWSER_TESTS=required but no chromedriver on the PATH"
        );
        eprintln!("note: no chromedriver on the PATH; the browser tests did not run");
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let driver = Command::new(&path)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {path}: {e}"));
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut args: Vec<String> = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=390,844",
        "--lang=en-US",
    ]
    .map(String::from)
    .to_vec();
    args.extend_from_slice(extra);
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"args": args, "prefs": {"intl.accept_languages": "en-US,en"}}),
    );
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a WebDriver session");
    Some(Browser { client, driver })
}

impl Browser {
    async fn fill(&self, css: &str, text: &str) {
        let field = self.client.find(Locator::Css(css)).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    async fn press(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    /// Waits until the browser is at `path` (a form's answer may still load).
    async fn at(&self, path: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let url = self.client.current_url().await.unwrap();
            if url.path() == path {
                return;
            }
            assert!(Instant::now() < deadline, "at {url}, not {path}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    async fn go(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    /// Runs a script in the page.
    async fn js(&self, script: &str) {
        self.client.execute(script, vec![]).await.unwrap();
    }

    /// Waits until the page's text contains `what`; the text.
    async fn until_text(&self, what: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = self.text().await;
            if text.contains(what) {
                return text;
            }
            assert!(Instant::now() < deadline, "no {what:?} in {text}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Chooses a password through a one-time link and lands on the counter.
    async fn accept_invitation(&self, base: &str, token: &str, password: &str) {
        self.go(&format!("{base}/console/invite/{token}")).await;
        self.fill("input[name=password]", password).await;
        self.fill("input[name=again]", password).await;
        self.press("form button[type=submit]").await;
        self.at("/console").await;
    }

    /// The page's text (read again while the page is being replaced).
    async fn text(&self) -> String {
        for _ in 0..100 {
            if let Ok(body) = self.client.find(Locator::Css("body")).await
                && let Ok(text) = body.text().await
            {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the page has no body");
    }
}

/// Adds a staff member; their invitation token.
async fn invite(
    app: &TestApp,
    email: &str,
    role: Role,
    merchant: Option<&str>,
    locale: &str,
) -> String {
    let new = NewStaff {
        email: email.into(),
        name: String::new(),
        role,
        merchant_id: merchant.map(str::to_string),
        locale: Some(locale.into()),
    };
    let (_, token) = app
        .t
        .loyalty
        .add_staff(&Actor::Cli, new, now())
        .await
        .unwrap();
    token
}

#[tokio::test]
async fn in_chromium_a_double_submitted_sale_counts_once_and_the_customer_hears_of_it() {
    use crate::common::fake_telegram::{FakeTelegram, TOKEN};
    for db in databases().await {
        let Some(b) = browser().await else { return };
        let (fake, url) = FakeTelegram::start().await;
        let app = TestApp::spawn_with(
            db,
            &[
                ("TELEGRAM_BOT_TOKEN", TOKEN.to_string()),
                ("TELEGRAM_API_URL", url),
            ],
        )
        .await;
        let user = 7_100_200_300;
        fake.user_says(user, "en", "/start");
        let mut seen = fake.replies(user, 0).await.len();
        let member = app
            .t
            .store
            .member(&MemberRef::Telegram(user))
            .await
            .unwrap();

        let token = invite(
            &app,
            "cashier@shop.example",
            Role::Cashier,
            Some(&app.merchant.id),
            "en",
        )
        .await;
        b.accept_invitation(&app.base, &token, "papaya-salad-spicy")
            .await;
        // Signed out, then in again through the sign-in page.
        b.press("header form button").await;
        b.at("/console/signin").await;
        b.fill("input[name=email]", "cashier@shop.example").await;
        b.fill("input[name=password]", "papaya-salad-spicy").await;
        b.press("form button[type=submit]").await;
        b.at("/console").await;

        b.fill("input[name=q]", &member.code).await;
        b.press("#find button[type=submit]").await;
        b.until_text(&member.code).await;
        b.fill("#sale input[name=amount]", "250").await;
        // The same form sent three times (two at once, then pressed): what a
        // double tap and an impatient second tap send.
        b.js("const f = document.querySelector('#sale'); \
              const d = () => new URLSearchParams(new FormData(f)); \
              Promise.all([fetch(f.action, {method: 'POST', body: d()}), \
                           fetch(f.action, {method: 'POST', body: d()})]) \
                .then(() => f.querySelector('button').click());")
            .await;
        b.at("/console/counter/sale").await;
        b.until_text("This sale was recorded before: 10 points.")
            .await;
        b.until_text("Balance: 10 points.").await;
        let m = app
            .t
            .loyalty
            .member(&MemberRef::Id(member.id))
            .await
            .unwrap();
        assert_eq!(m.balance.value(), 10, "{}: recorded once", app.backend());
        // `TAEM_SCREENSHOTS=docs/screenshots cargo test browser` refreshes the
        // README's picture of the counter.
        if let Ok(dir) = std::env::var("TAEM_SCREENSHOTS") {
            let png = b.client.screenshot().await.unwrap();
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(format!("{dir}/counter.png"), png).unwrap();
        }
        // The customer's chat hears of it, once.
        let pushed = fake.replies(user, seen).await;
        seen += pushed.len();
        let text: String = pushed.iter().map(|c| c.text()).collect();
        assert!(text.contains("10"), "{text}");
        b.press("header form button").await;
        b.at("/console/signin").await;
        b.go(&format!("{}/console", app.base)).await;
        b.at("/console/signin").await;
        assert_eq!(fake.sent_to(user).len(), seen, "one push");
        b.client.clone().close().await.unwrap();
        app.t.assert_ledger_holds().await;
        app.shutdown().await;
    }
}

#[tokio::test]
async fn in_chromium_a_voucher_is_used_once_and_a_cashier_stays_within_their_role() {
    for db in databases().await {
        let Some(b) = browser().await else { return };
        let app = TestApp::spawn(db).await;
        let member = app.t.member().await;
        let reward = app.t.reward(100, None, None).await;
        app.t.grant(&member, 300, now()).await;
        let voucher = app
            .t
            .loyalty
            .redeem(member.id, reward.id, None, now())
            .await
            .unwrap();
        let other = app.t.merchant().await;
        let token = invite(
            &app,
            "cashier@shop.example",
            Role::Cashier,
            Some(&app.merchant.id),
            "en",
        )
        .await;
        b.accept_invitation(&app.base, &token, "mango-sticky-rice")
            .await;

        b.fill("input[name=q]", &voucher.code).await;
        b.press("#find button[type=submit]").await;
        b.until_text("Valid: it can be used now.").await;
        b.press("#use button").await;
        b.until_text("Used:").await;
        b.fill("input[name=q]", &voucher.code).await;
        b.press("#find button[type=submit]").await;
        b.until_text("Already used on").await;
        assert!(
            b.client.find(Locator::Css("#use")).await.is_err(),
            "no button to use it again"
        );

        // Another shop's sale, forced into the form, is refused and records nothing.
        b.fill("input[name=q]", &member.code).await;
        b.press("#find button[type=submit]").await;
        b.until_text(&member.code).await;
        b.js(&format!(
            "document.querySelector('#sale input[name=merchant]').value = '{}';",
            other.id
        ))
        .await;
        b.fill("#sale input[name=amount]", "100").await;
        b.press("#sale button").await;
        b.until_text("Your role may not do this.").await;
        // A form without its CSRF token is refused.
        b.go(&format!("{}/console?q={}", app.base, member.code))
            .await;
        b.js("document.querySelector('#sale input[name=csrf]').remove();")
            .await;
        b.fill("#sale input[name=amount]", "100").await;
        b.press("#sale button").await;
        b.until_text("This form has expired.").await;
        let m = app
            .t
            .loyalty
            .member(&MemberRef::Id(member.id))
            .await
            .unwrap();
        assert_eq!(m.balance.value(), 200, "nothing recorded");
        // The back office is not theirs.
        b.go(&format!("{}/console/members", app.base)).await;
        b.until_text("Your role may not do this.").await;
        b.go(&format!("{}/console/rewards", app.base)).await;
        b.until_text("Your role may not do this.").await;

        // Wrong passwords lock the account for a while.
        b.go(&format!("{}/console", app.base)).await;
        b.press("header form button").await;
        b.at("/console/signin").await;
        for _ in 0..5 {
            b.fill("input[name=email]", "cashier@shop.example").await;
            b.fill("input[name=password]", "not-the-password").await;
            b.press("form button[type=submit]").await;
            b.until_text("The email or the password is wrong.").await;
        }
        b.fill("input[name=email]", "cashier@shop.example").await;
        b.fill("input[name=password]", "mango-sticky-rice").await;
        b.press("form button[type=submit]").await;
        b.until_text("Too many wrong tries.").await;
        b.client.clone().close().await.unwrap();
        app.t.assert_ledger_holds().await;
        app.shutdown().await;
    }
}

#[tokio::test]
async fn in_chromium_a_thai_manager_gives_a_reward_a_picture_that_lines_catalogue_shows() {
    for db in databases().await {
        let Some(b) = browser().await else { return };
        let mut line = crate::line::Line::start(db, "th").await;
        let app = &line.app;
        let token = invite(app, "manager@shop.example", Role::Manager, None, "th").await;
        b.accept_invitation(&app.base, &token, "som-tam-thai-pu-pla-ra")
            .await;
        b.until_text("สแกนบัตรสมาชิก").await;
        b.go(&format!("{}/console/rewards/new", app.base)).await;
        b.until_text("เพิ่มของรางวัล").await;
        b.fill("input[name=name_th]", "ชาไทยเย็น").await;
        b.fill("input[name=name_en]", "Iced Thai tea").await;
        b.fill("input[name=cost]", "120").await;
        b.fill("input[name=face_value]", "45").await;
        b.fill("input[name=voucher_days]", "14").await;
        b.press("#reward button[type=submit]").await;
        b.until_text("บันทึกแล้ว").await;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tea.png");
        std::fs::write(&file, crate::console::png_picture()).unwrap();
        b.client
            .find(Locator::Css("#picture input[type=file]"))
            .await
            .unwrap()
            .send_keys(&file.display().to_string())
            .await
            .unwrap();
        b.press("#picture button").await;
        b.until_text("ลบรูป").await;
        let reward = app.t.loyalty.rewards(true).await.unwrap().remove(0);
        let name = reward.picture.clone().expect("the picture is kept");
        b.go(&format!("{}/console/rewards", app.base)).await;
        b.until_text("ชาไทยเย็น").await;
        if let Ok(dir) = std::env::var("TAEM_SCREENSHOTS") {
            let png = b.client.screenshot().await.unwrap();
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(format!("{dir}/back-office.png"), png).unwrap();
        }

        let follow = line.event("follow", json!({"follow": {"isUnblocked": false}}));
        line.send(follow).await;
        let r = line.press("rw:0").await;
        let bubbles = r[0].carousel();
        assert_eq!(
            bubbles[0]["hero"]["url"],
            format!("https://taem.example/media/rewards/{}/{name}", reward.id)
        );
        b.client.clone().close().await.unwrap();
        line.app.shutdown().await;
    }
}

/// A camera's picture of `text` as a QR code, as Chromium's fake camera plays
/// it (YUV4MPEG2, grey).
fn camera_file(dir: &std::path::Path, text: &str) -> std::path::PathBuf {
    let png = taem::service::qr::png(text, 300).unwrap();
    let qr = image::load_from_memory(&png).unwrap().to_luma8();
    let (w, h) = (640u32, 480u32);
    let mut luma = vec![255u8; (w * h) as usize];
    let (ox, oy) = ((w - qr.width()) / 2, (h - qr.height()) / 2);
    for (x, y, p) in qr.enumerate_pixels() {
        luma[((oy + y) * w + ox + x) as usize] = p.0[0];
    }
    let mut out = format!("YUV4MPEG2 W{w} H{h} F10:1 Ip A1:1 C420jpeg\n").into_bytes();
    for _ in 0..3 {
        out.extend_from_slice(b"FRAME\n");
        out.extend_from_slice(&luma);
        out.extend(std::iter::repeat_n(128u8, (w * h / 2) as usize));
    }
    let path = dir.join("camera.y4m");
    std::fs::write(&path, out).unwrap();
    path
}

#[tokio::test]
async fn in_chromium_the_counter_scans_a_member_card_with_the_camera() {
    for db in databases().await {
        let app = TestApp::spawn(db).await;
        let member = app.t.member().await;
        let dir = tempfile::tempdir().unwrap();
        let camera = camera_file(dir.path(), &member.code);
        let switches = [
            "--use-fake-ui-for-media-stream".to_string(),
            "--use-fake-device-for-media-stream".to_string(),
            format!("--use-file-for-fake-video-capture={}", camera.display()),
        ];
        let Some(b) = browser_with(&switches).await else {
            return;
        };
        let token = invite(
            &app,
            "cashier@shop.example",
            Role::Cashier,
            Some(&app.merchant.id),
            "en",
        )
        .await;
        b.accept_invitation(&app.base, &token, "khao-niao-mamuang")
            .await;
        b.press("#scan").await;
        b.until_text(&format!("Member {}", member.code)).await;
        assert!(b.text().await.contains("Record a sale"));
        b.client.clone().close().await.unwrap();
        app.shutdown().await;
    }
}

#[tokio::test]
async fn in_chromium_the_counter_waits_live_for_the_customer_to_say_yes_to_paying_with_points() {
    for db in databases().await {
        let Some(b) = browser().await else { return };
        let app = TestApp::spawn(db).await;
        app.t.pay_with_points("4:1").await;
        let member = app.t.member().await;
        app.t.grant(&member, 1_000, now()).await;
        let token = invite(
            &app,
            "cashier@shop.example",
            Role::Cashier,
            Some(&app.merchant.id),
            "en",
        )
        .await;
        b.accept_invitation(&app.base, &token, "tom-kha-gai-coconut")
            .await;
        b.fill("input[name=q]", &member.code).await;
        b.press("#find button[type=submit]").await;
        b.until_text(&member.code).await;
        b.press("#pay-box summary").await;
        b.fill("#pay input[name=amount]", "50").await;
        b.press("#pay button").await;
        b.until_text("Waiting for the customer to say yes").await;
        let url = b.client.current_url().await.unwrap();
        let id = url.path().rsplit('/').next().unwrap().to_string();
        assert_eq!(
            app.t
                .loyalty
                .member(&MemberRef::Id(member.id))
                .await
                .unwrap()
                .balance
                .value(),
            800,
            "held while the customer decides"
        );
        // The customer says yes in their chat: the screen follows by itself.
        app.t
            .loyalty
            .answer_payment(member.id, &id, true, now())
            .await
            .unwrap();
        b.until_text("Confirmed: take ฿50.00 off the bill").await;
        b.press("#capture button").await;
        b.until_text("Paid: ฿50.00 with 200 points.").await;
        let log = app
            .t
            .loyalty
            .audit_log(
                &Actor::Cli,
                &taem::domain::staff::AuditFilter {
                    limit: 5,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(
            &actions[..2],
            ["payment.capture", "payment.reserve"],
            "{actions:?}"
        );
        assert!(log[0].after.as_deref().unwrap_or("").contains("captured"));

        // Store credit from a cashback reward pays too, confirmed at once by
        // the customer's pay code.
        let credit = taem::domain::Money::from_minor(3_000, taem::domain::Currency::THB);
        let cashback = taem::domain::offer::RewardKind::Cashback { credit };
        let reward = app.t.reward_of(100, (None, None), cashback).await;
        app.t
            .loyalty
            .redeem(member.id, reward.id, None, now())
            .await
            .unwrap();
        let (code, _) = app.t.loyalty.new_pay_code(member.id, now()).await.unwrap();
        let find = format!("{}/console?q={}", app.base, member.code);
        b.client.goto(&find).await.unwrap();
        b.until_text("Store credit: ฿30.00").await;
        b.press("#pay-box summary").await;
        b.fill("#pay input[name=amount]", "20").await;
        b.press("#pay input[value=credit]").await;
        b.fill("#pay input[name=pay_code]", &code).await;
        b.press("#pay button").await;
        b.until_text("Confirmed: take ฿20.00 off the bill (store credit)")
            .await;
        b.press("#capture button").await;
        b.until_text("Paid: ฿20.00 with store credit.").await;
        b.client.clone().close().await.unwrap();
        app.t.assert_ledger_holds().await;
        app.shutdown().await;
    }
}

#[tokio::test]
async fn in_chromium_a_manager_reads_the_reports_charts_by_month_and_by_week() {
    for db in databases().await {
        let Some(b) = browser().await else { return };
        let app = TestApp::spawn(db).await;
        // Six months of purchases by a few members, and a redemption.
        let members = [
            app.t.member().await,
            app.t.member().await,
            app.t.member().await,
        ];
        for k in 0..18i64 {
            let m = &members[(k % 3) as usize];
            let at = now() - chrono::Duration::days(k * 10);
            let p = taem::service::PurchaseRequest {
                receipt_id: format!("b-{k}"),
                amount: format!("{}.00", 150 + k * 40),
                currency: "THB".into(),
                member_code: Some(m.code.clone()),
                occurred_at: None,
                items: None,
            };
            app.t
                .loyalty
                .record_purchase(&app.merchant, p, at)
                .await
                .unwrap();
        }
        let reward = app.t.reward(20, None, None).await;
        app.t
            .loyalty
            .redeem(members[0].id, reward.id, None, now())
            .await
            .unwrap();
        app.t.loyalty.refresh_segments(now()).await.unwrap();
        let token = invite(&app, "manager@shop.example", Role::Manager, None, "en").await;
        b.accept_invitation(&app.base, &token, "khao-man-gai-sauce")
            .await;
        b.go(&format!("{}/console/reports", app.base)).await;
        b.until_text("Points issued and used per period").await;
        let bars = b
            .client
            .find_all(Locator::Css("#points svg rect"))
            .await
            .unwrap();
        assert_eq!(bars.len(), 24, "two bars for each of twelve months");
        b.until_text("Expected never redeemed").await;
        b.until_text("Class A").await;
        if let Ok(dir) = std::env::var("TAEM_SCREENSHOTS") {
            let png = b.client.screenshot().await.unwrap();
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(format!("{dir}/reports.png"), png).unwrap();
        }
        b.client
            .find(Locator::Css("select[name=by]"))
            .await
            .unwrap()
            .select_by_value("week")
            .await
            .unwrap();
        b.press("#range button[type=submit]").await;
        let week = taem::domain::report::Grain::Week.label(
            taem::domain::report::Grain::Week
                .start(now().with_timezone(&chrono_tz::Asia::Bangkok).date_naive()),
        );
        b.until_text(&week).await;
        b.client.clone().close().await.unwrap();
        app.shutdown().await;
    }
}
