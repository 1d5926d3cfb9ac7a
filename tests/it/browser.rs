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
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"args": [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", "--window-size=390,844", "--lang=en-US"
        ], "prefs": {"intl.accept_languages": "en-US,en"}}),
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

    async fn text(&self) -> String {
        self.client
            .find(Locator::Css("body"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn in_chromium_a_cashier_signs_in_records_a_sale_and_signs_out() {
    for db in databases().await {
        let Some(b) = browser().await else { return };
        let app = TestApp::spawn(db).await;
        let member = app.t.member().await;
        let new = NewStaff {
            email: "cashier@shop.example".into(),
            name: "Nok".into(),
            role: Role::Cashier,
            merchant_id: Some(app.merchant.id.clone()),
            locale: Some("en".into()),
        };
        let (_, token) = app
            .t
            .loyalty
            .add_staff(&Actor::Cli, new, now())
            .await
            .unwrap();

        b.client
            .goto(&format!("{}/console/invite/{token}", app.base))
            .await
            .unwrap();
        b.fill("input[name=password]", "papaya-salad-spicy").await;
        b.fill("input[name=again]", "papaya-salad-spicy").await;
        b.press("form button[type=submit]").await;
        b.at("/console").await;

        b.fill("input[name=q]", &member.code).await;
        b.press("#find button").await;
        assert!(b.text().await.contains(&member.code));
        b.fill("#sale input[name=amount]", "250").await;
        b.press("#sale button").await;
        b.at("/console/counter/sale").await;
        let text = b.text().await;
        assert!(
            text.contains("Recorded: 10 points. Balance: 10 points."),
            "{}: {text}",
            app.backend()
        );
        let m = app
            .t
            .loyalty
            .member(&MemberRef::Id(member.id))
            .await
            .unwrap();
        assert_eq!(m.balance.value(), 10);
        // `TAEM_SCREENSHOTS=docs/screenshots cargo test browser` refreshes the
        // README's picture of the counter.
        if let Ok(dir) = std::env::var("TAEM_SCREENSHOTS") {
            let png = b.client.screenshot().await.unwrap();
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(format!("{dir}/counter.png"), png).unwrap();
        }

        b.press("header form button").await;
        b.at("/console/signin").await;
        b.client
            .goto(&format!("{}/console", app.base))
            .await
            .unwrap();
        b.at("/console/signin").await;
        b.client.clone().close().await.unwrap();
        app.t.assert_ledger_holds().await;
        app.shutdown().await;
    }
}
