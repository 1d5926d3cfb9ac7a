//! Shared test helpers: a fresh database per test on every backend (SQLite always,
//! PostgreSQL when TEST_POSTGRES_URL is set), the real server on port 0, and a
//! client that signs merchant requests.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::Connection;
use taem::app::Application;
use taem::config::Settings;
use taem::domain::model::*;
use taem::domain::time::now;
use taem::domain::{Currency, EarnRate, Money, Points, codes};
use taem::http::signature;
use taem::service::Loyalty;
use taem::store::{self, Store};

/// A database made for one test, removed when dropped on either backend.
pub struct TestDb {
    pub url: String,
    pub backend: &'static str,
    _dir: Option<tempfile::TempDir>,
    /// PostgreSQL: the server's URL and the database to drop.
    postgres: Option<(String, String)>,
}

impl Drop for TestDb {
    /// Drops a PostgreSQL test database (closing what still holds it), so a
    /// long-lived server does not fill its disk with one database per test.
    fn drop(&mut self) {
        let Some((base, name)) = self.postgres.take() else {
            return;
        };
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&base).await?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut admin)
                .await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("warning: could not drop a test database: {e}");
        }
    }
}

/// The databases each test runs against.
/// The admin API's bearer token in apps from [`TestApp::spawn_admin`].
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef";

/// Reads the project's `.env` once (e.g. `TEST_POSTGRES_URL`), as the binary
/// does; the process environment wins.
pub fn read_dotenv() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if let Err(e) = dotenvy::from_path(concat!(env!("CARGO_MANIFEST_DIR"), "/.env"))
            && !e.not_found()
        {
            panic!(".env: {e}");
        }
    });
}

pub async fn databases() -> Vec<TestDb> {
    read_dotenv();
    let mut dbs = vec![sqlite_db()];
    if let Ok(base) = std::env::var("TEST_POSTGRES_URL")
        && !base.is_empty()
    {
        dbs.push(postgres_db(&base).await);
    }
    dbs
}

pub fn sqlite_db() -> TestDb {
    let dir = tempfile::tempdir().expect("temp dir");
    TestDb {
        url: format!("sqlite://{}", dir.path().join("taem.db").display()),
        backend: "sqlite",
        _dir: Some(dir),
        postgres: None,
    }
}

pub async fn postgres_db(base: &str) -> TestDb {
    let name = format!(
        "taem_test_{}",
        codes::merchant_id().trim_start_matches("m_")
    );
    let mut admin = sqlx::PgConnection::connect(base)
        .await
        .expect("TEST_POSTGRES_URL must point at a running PostgreSQL");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("create test database");
    let (prefix, _) = base.rsplit_once('/').expect("URL with a database name");
    TestDb {
        url: format!("{prefix}/{name}"),
        backend: "postgres",
        _dir: None,
        postgres: Some((base.to_string(), name)),
    }
}

/// A store on a fresh database plus the service over it.
pub struct TestStore {
    pub store: Arc<dyn Store>,
    pub loyalty: Loyalty,
    /// Last, so the store's connections close before the database goes.
    pub db: TestDb,
}

impl TestStore {
    pub async fn open(db: TestDb) -> TestStore {
        let store = store::connect(&db.url).await.expect("open store");
        let loyalty = Loyalty::new(store.clone(), chrono_tz::Asia::Bangkok);
        TestStore { db, store, loyalty }
    }

    pub async fn merchant(&self) -> Merchant {
        self.merchant_named("Baan Kafe").await
    }

    pub async fn merchant_named(&self, name: &str) -> Merchant {
        let m = Merchant {
            id: codes::merchant_id(),
            name: name.into(),
            currency: Currency::THB,
            earn: EarnRate::default_for(Currency::THB),
            webhook_secret: Secret::new(codes::webhook_secret()),
            previous_secret: None,
            created_at: now(),
        };
        self.store.add_merchant(&m).await.expect("add merchant");
        m
    }

    pub async fn member(&self) -> Member {
        self.store
            .add_member(&NewMember::default(), now())
            .await
            .expect("add member")
    }

    /// A member made from `new` who agreed to marketing in their chat app.
    pub async fn opted_in(&self, new: NewMember) -> Member {
        let via = if new.telegram_id.is_some() {
            "telegram"
        } else {
            "line"
        };
        let m = self
            .store
            .add_member(&new, now())
            .await
            .expect("add member");
        self.loyalty
            .set_marketing(m.id, true, via, now())
            .await
            .expect("consent")
    }

    pub async fn reward(&self, cost: i64, stock: Option<i64>, limit: Option<i64>) -> Reward {
        self.reward_of(
            cost,
            (stock, limit),
            taem::domain::offer::RewardKind::Product { sku: None },
        )
        .await
    }

    /// A reward of a kind, worth what its kind says (a fixed discount its
    /// amount off, cashback its credit), else ฿60.
    pub async fn reward_of(
        &self,
        cost: i64,
        (stock, limit): (Option<i64>, Option<i64>),
        kind: taem::domain::offer::RewardKind,
    ) -> Reward {
        use taem::domain::offer::RewardKind;
        let face_value = match &kind {
            RewardKind::FixedDiscount { off, .. } => *off,
            RewardKind::Cashback { credit } => *credit,
            _ => Money::from_minor(6000, Currency::THB),
        };
        self.store
            .add_reward(
                &NewReward {
                    name_th: "กาแฟเย็น".into(),
                    name_en: "Iced coffee".into(),
                    description_th: String::new(),
                    description_en: String::new(),
                    cost: Points::new(cost),
                    stock,
                    per_member_limit: limit,
                    valid_from: None,
                    valid_until: None,
                    face_value,
                    voucher_days: 30,
                    kind,
                    partner_id: None,
                },
                now(),
            )
            .await
            .expect("add reward")
    }

    /// Lets members pay with points at `rate` (e.g. "4:1").
    pub async fn pay_with_points(&self, rate: &str) {
        self.loyalty
            .change_program(taem::service::ProgramChange {
                pay_rate: Some(rate.into()),
                ..Default::default()
            })
            .await
            .expect("pay rate");
    }

    /// Gives a member points as an administrator would.
    pub async fn grant(&self, member: &Member, points: i64, at: DateTime<Utc>) {
        self.loyalty
            .adjust(member.id, points, "test grant", at)
            .await
            .expect("grant");
    }

    pub async fn balance(&self, member: &Member) -> i64 {
        self.store
            .member(&MemberRef::Id(member.id))
            .await
            .expect("member")
            .balance
            .value()
    }

    /// A purchase by `m` at `shop` at `at` (items optional).
    pub async fn buy(
        &self,
        shop: &Merchant,
        m: &Member,
        amount: &str,
        items: Option<Vec<taem::service::PurchaseItem>>,
        at: DateTime<Utc>,
    ) {
        let req = taem::service::PurchaseRequest {
            receipt_id: codes::uuid_v4(),
            amount: amount.into(),
            currency: "THB".into(),
            member_code: Some(m.code.clone()),
            occurred_at: None,
            items,
        };
        self.loyalty
            .record_purchase(shop, req, at)
            .await
            .expect("purchase");
    }

    /// Fails the test unless every member's books balance.
    /// What `taem check` reads holds: balances, entries, lots, credit,
    /// purchases' points and vouchers.
    pub async fn assert_ledger_holds(&self) {
        let check = self.store.check_ledger().await.expect("check");
        assert!(
            check.holds(),
            "{}: ledger broken: {check:?}",
            self.db.backend
        );
    }
}

/// The real server on a random port, with a merchant to sign requests as.
pub struct TestApp {
    pub app: Option<Application>,
    pub base: String,
    pub http: reqwest::Client,
    pub merchant: Merchant,
    pub t: TestStore,
}

impl TestApp {
    pub async fn spawn(db: TestDb) -> TestApp {
        TestApp::spawn_with(db, &[]).await
    }

    /// Starts the server with extra environment variables (e.g. a Telegram bot).
    pub async fn spawn_with(db: TestDb, env: &[(&str, String)]) -> TestApp {
        let settings = Settings::from_lookup(|k| match k {
            "DATABASE_URL" => Some(db.url.clone()),
            "TAEM_HTTP_ADDR" => Some("127.0.0.1:0".into()),
            _ => env
                .iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| v.clone()),
        })
        .expect("settings");
        let app = Application::start(&settings).await.expect("start app");
        let base = format!("http://{}", app.addr);
        let t = TestStore {
            store: app.store.clone(),
            loyalty: Loyalty::new(app.store.clone(), chrono_tz::Asia::Bangkok),
            db,
        };
        let merchant = t.merchant().await;
        TestApp {
            app: Some(app),
            base,
            http: reqwest::Client::new(),
            merchant,
            t,
        }
    }

    pub fn backend(&self) -> &'static str {
        self.t.db.backend
    }

    /// POSTs `body` signed as the test merchant.
    pub async fn post_signed(&self, path: &str, body: &Value) -> (u16, Value) {
        let raw = serde_json::to_vec(body).unwrap();
        let req = signature::Request {
            method: "POST",
            path,
            body: &raw,
        };
        let sig = signature::sign(
            self.merchant.webhook_secret.expose(),
            now().timestamp(),
            &req,
        );
        self.post_raw(path, raw, Some(&self.merchant.id), Some(&sig))
            .await
    }

    pub async fn post_raw(
        &self,
        path: &str,
        raw: Vec<u8>,
        merchant: Option<&str>,
        signature: Option<&str>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(raw);
        if let Some(m) = merchant {
            req = req.header("x-taem-merchant", m);
        }
        if let Some(s) = signature {
            req = req.header("x-taem-signature", s);
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        if status >= 400 {
            assert_eq!(
                res.headers()["content-type"],
                "application/problem+json",
                "{path} {status}: errors are problem+json"
            );
        }
        let text = res.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// A signed GET (an empty body), as a till reads a resource.
    /// An app with the admin API switched on (its token: [`ADMIN_TOKEN`]).
    pub async fn spawn_admin(db: TestDb) -> TestApp {
        TestApp::spawn_with(db, &[("TAEM_ADMIN_TOKEN", ADMIN_TOKEN.to_string())]).await
    }

    /// Calls the admin API with the bearer token.
    pub async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let req = match method {
            "GET" => self.http.get(url),
            "PUT" => self.http.put(url),
            "POST" => self.http.post(url),
            other => panic!("no {other} in the admin API's tests"),
        }
        .bearer_auth(ADMIN_TOKEN);
        let req = match body {
            Some(b) => req.json(&b),
            None => req,
        };
        let res = req.send().await.expect("admin request");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub async fn get_signed(&self, path: &str) -> (u16, Value) {
        let req = signature::Request {
            method: "GET",
            path,
            body: b"",
        };
        let sig = signature::sign(
            self.merchant.webhook_secret.expose(),
            now().timestamp(),
            &req,
        );
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .header("x-taem-merchant", &self.merchant.id)
            .header("x-taem-signature", sig)
            .send()
            .await
            .expect("request");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request");
        (res.status().as_u16(), res.text().await.unwrap())
    }

    /// Kills the server as a crash would (nothing finishes); returns the
    /// database for a restart.
    pub fn abort(mut self) -> TestDb {
        if let Some(app) = self.app.take() {
            app.abort();
        }
        self.t.db
    }

    /// Shuts the server down gracefully; returns the database for a restart.
    pub async fn stop(mut self) -> TestDb {
        if let Some(app) = self.app.take() {
            app.shutdown().await.expect("clean shutdown");
        }
        self.t.db
    }

    pub async fn shutdown(mut self) {
        if let Some(app) = self.app.take() {
            app.shutdown().await.expect("clean shutdown");
        }
    }
}
pub mod fake_line;
pub mod fake_telegram;

/// Runs `f` against a fresh server on every backend, then checks the ledger.
pub async fn each_app(mut f: impl AsyncFnMut(&TestApp)) {
    for db in databases().await {
        let app = TestApp::spawn(db).await;
        f(&app).await;
        app.t.assert_ledger_holds().await;
        app.shutdown().await;
    }
}

/// The body of a purchase.
pub fn purchase(receipt: &str, amount: &str, member: Option<&str>) -> Value {
    let mut body = json!({"receipt_id": receipt, "amount": amount, "currency": "THB"});
    if let Some(code) = member {
        body["member_code"] = json!(code);
    }
    body
}
