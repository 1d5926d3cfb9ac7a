//! Console benchmark: the counter and the member pages on a programme with
//! 100,000 members and 1,000,000 purchases (each with its ledger entry and
//! lot), over HTTP against the real server, one request at a time as a cashier
//! makes them. It reports; it never judges (targets and figures are in
//! `docs/PERFORMANCE.md`).
//!
//! ```sh
//! cargo bench --bench console                               # SQLite
//! cargo bench --bench console -- --members 10000 --purchases 100000 --requests 200
//! cargo bench --bench console -- --days 730          # purchases over two years
//! BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:55432/postgres cargo bench --bench console
//! ```
//!
//! Measured, each `--requests` times (default 500) after 50 unmeasured: the
//! counter finding a member by code and by phone number, the back office
//! finding members by the start of a name and opening a member's page, a
//! counter sale, a signed webhook purchase of the same size, and a till
//! paying with points (reserve with the customer's pay code, then capture).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::Connection;
use taem::domain::model::{Merchant, Secret};
use taem::domain::staff::{LinkPurpose, NewStaff, Role};
use taem::domain::time::now;
use taem::domain::{Currency, EarnRate, MemberCode, codes};
use taem::service::Loyalty;
use taem::service::staff::Actor;
use taem::store;

const FIRST: [&str; 24] = [
    "Somchai", "Somsak", "Somsri", "Suda", "Sunee", "Siriporn", "Kittisak", "Kanya", "Malee",
    "Manee", "Niran", "Nok", "Pim", "Prasert", "Preecha", "Ratana", "Rungnapa", "Sakda", "Thong",
    "Wanida", "Wichai", "Anan", "Apinya", "Boonmee",
];
const LAST: [&str; 8] = [
    "Jaidee",
    "Srisuk",
    "Thongdee",
    "Boonyarit",
    "Kaewmanee",
    "Rattanakul",
    "Sukjai",
    "Wongsa",
];

struct Options {
    members: usize,
    purchases: usize,
    /// Days the purchases are spread over, ending yesterday.
    days: i64,
    requests: usize,
    postgres: Option<String>,
}

fn options() -> anyhow::Result<Options> {
    let mut o = Options {
        members: 100_000,
        purchases: 1_000_000,
        days: 330,
        requests: 500,
        postgres: std::env::var("BENCH_POSTGRES_URL")
            .ok()
            .filter(|u| !u.is_empty()),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || -> anyhow::Result<usize> {
            let v = args
                .next()
                .with_context(|| format!("{arg} needs a value"))?;
            v.parse()
                .with_context(|| format!("{arg} {v:?} is not a number"))
        };
        match arg.as_str() {
            "--members" => o.members = value()?,
            "--purchases" => o.purchases = value()?,
            "--days" => o.days = value()? as i64,
            "--requests" => o.requests = value()?,
            "--bench" => {}
            other => anyhow::bail!(
                "unknown option {other}\nusage: cargo bench --bench console -- \
                 [--members N] [--purchases N] [--days N] [--requests N]"
            ),
        }
    }
    Ok(o)
}

/// The members to seed (code, name, phone) and the merchant they buy at.
struct Seed {
    members: Vec<(String, String, String)>,
    merchant: Merchant,
}

/// Members named from common Thai first and family names, with unique phone
/// numbers.
fn rows(o: &Options) -> Seed {
    let members = (0..o.members)
        .map(|i| {
            let name = format!(
                "{} {}",
                FIRST[i % FIRST.len()],
                LAST[(i / FIRST.len()) % LAST.len()]
            );
            (
                MemberCode::generate().as_str().to_string(),
                name,
                format!("+668{i:08}"),
            )
        })
        .collect();
    Seed {
        members,
        merchant: Merchant {
            id: codes::merchant_id(),
            name: "Bench Kafe".into(),
            currency: Currency::THB,
            earn: EarnRate::default_for(Currency::THB),
            webhook_secret: Secret::new(codes::webhook_secret()),
            previous_secret: None,
            created_at: now(),
        },
    }
}

/// Purchase `k` of the seed (member index, amount in satang, points, when),
/// spread over the last `--days` days (330 by default); each has its entry and lot, and every
/// member's balance is the sum of their entries.
fn purchase(o: &Options, k: usize) -> (usize, i64, i64, chrono::DateTime<chrono::Utc>) {
    let member = k % o.members;
    let amount = 10_000 + (k as i64 * 7919) % 90_000;
    let at = now()
        - chrono::Duration::minutes(((k as i64) * 37) % (o.days * 24 * 60))
        - chrono::Duration::days(1);
    (member, amount, amount / 2_500, at)
}

/// What every other seeded purchase lists: one line, of one of four categories.
fn items(k: usize, amount: i64) -> Option<String> {
    const CATEGORIES: [&str; 4] = ["coffee", "bakery", "tea", "snacks"];
    k.is_multiple_of(2).then(|| {
        format!(
            "[{{\"sku\":\"SKU-{}\",\"category\":\"{}\",\"quantity\":1,\"amount\":\"{}.{:02}\"}}]",
            k % 40,
            CATEGORIES[(k / 7) % 4],
            amount / 100,
            amount % 100
        )
    })
}

/// A seeded lot's expiry: a year on, but never due during the run, so the
/// server's expiry sweep does not write to the ledger while it is measured.
fn lot_expiry(at: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    (at + chrono::Duration::days(365)).max(now() + chrono::Duration::days(30))
}

fn ts(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn seed_sqlite(path: &str, o: &Options, s: &Seed) -> anyhow::Result<()> {
    let mut conn = rusqlite::Connection::open(path)?;
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF;")?;
    let tx = conn.transaction()?;
    {
        let mut m = tx.prepare(
            "INSERT INTO members (id, code, name, phone, phone_consent_at, created_at, telegram_id, \
             marketing_opt_in, birth_day, birth_month) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?1 + 1000000, 1, 1 + ?1 % 28, 1 + ?1 % 12)",
        )?;
        let when = ts(now() - chrono::Duration::days(365));
        for (i, (code, name, phone)) in s.members.iter().enumerate() {
            m.execute(rusqlite::params![i as i64 + 1, code, name, phone, when])?;
        }
        let mut p = tx.prepare(
            "INSERT INTO purchases (id, merchant_id, receipt_id, fingerprint, member_id, amount_minor, \
             currency, occurred_at, points, breakdown, balance_after, lot_id, available_at, created_at, \
             items) VALUES (?1, ?2, ?3, 'seed', ?4, ?5, 'THB', ?6, ?7, ?8, ?9, ?1, ?6, ?6, ?10)",
        )?;
        let mut l = tx.prepare(
            "INSERT INTO lots (id, member_id, points, remaining, earned_at, available_at, expires_at, \
             merchant_id, purchase_id) VALUES (?1, ?2, ?3, ?3, ?4, ?4, ?5, ?6, ?1)",
        )?;
        let mut e = tx.prepare(
            "INSERT INTO entries (id, member_id, kind, points, balance_after, merchant_id, purchase_id, \
             lot_id, created_at) VALUES (?1, ?2, 'earn', ?3, ?4, ?5, ?1, ?1, ?6)",
        )?;
        let mut balances = vec![0i64; o.members];
        for k in 0..o.purchases {
            let (member, amount, points, at) = purchase(o, k);
            balances[member] += points;
            let id = k as i64 + 1;
            let (mid, when) = (member as i64 + 1, ts(at));
            let breakdown = format!("[{{\"rule\":\"base\",\"points\":{points}}}]");
            p.execute(rusqlite::params![
                id,
                s.merchant.id,
                format!("seed-{k}"),
                mid,
                amount,
                when,
                points,
                breakdown,
                balances[member],
                items(k, amount)
            ])?;
            l.execute(rusqlite::params![
                id,
                mid,
                points,
                when,
                ts(lot_expiry(at)),
                s.merchant.id
            ])?;
            e.execute(rusqlite::params![
                id,
                mid,
                points,
                balances[member],
                s.merchant.id,
                when
            ])?;
        }
        let mut b = tx.prepare("UPDATE members SET balance = ?1 WHERE id = ?2")?;
        for (i, bal) in balances.iter().enumerate() {
            b.execute(rusqlite::params![bal, i as i64 + 1])?;
        }
    }
    tx.commit()?;
    conn.execute_batch("ANALYZE;")?;
    Ok(())
}

async fn seed_postgres(url: &str, o: &Options, s: &Seed) -> anyhow::Result<()> {
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let when = now() - chrono::Duration::days(365);
    for (chunk_no, chunk) in s.members.chunks(10_000).enumerate() {
        let ids: Vec<i64> = (0..chunk.len())
            .map(|j| (chunk_no * 10_000 + j) as i64 + 1)
            .collect();
        let codes: Vec<String> = chunk.iter().map(|m| m.0.clone()).collect();
        let names: Vec<String> = chunk.iter().map(|m| m.1.clone()).collect();
        let phones: Vec<String> = chunk.iter().map(|m| m.2.clone()).collect();
        sqlx::query(
            "INSERT INTO members (id, code, name, phone, phone_consent_at, created_at, telegram_id, \
             marketing_opt_in, birth_day, birth_month) OVERRIDING SYSTEM VALUE \
             SELECT u.*, $5, $5, u.id + 1000000, TRUE, 1 + u.id % 28, 1 + u.id % 12 \
             FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[]) AS u(id, code, name, phone)",
        )
        .bind(&ids).bind(&codes).bind(&names).bind(&phones).bind(when)
        .execute(&mut conn)
        .await?;
    }
    let mut balances = vec![0i64; o.members];
    let mut k = 0;
    while k < o.purchases {
        let end = (k + 20_000).min(o.purchases);
        let (mut ids, mut mids, mut amounts, mut points, mut ats, mut bals) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        let mut lines: Vec<Option<String>> = vec![];
        for n in k..end {
            let (member, amount, p, at) = purchase(o, n);
            balances[member] += p;
            ids.push(n as i64 + 1);
            mids.push(member as i64 + 1);
            amounts.push(amount);
            points.push(p);
            ats.push(at);
            bals.push(balances[member]);
            lines.push(items(n, amount));
        }
        sqlx::query(
            "WITH r AS (SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], \
                                             $5::timestamptz[], $6::bigint[], $8::text[]) \
                              AS r(id, mid, amount, points, at, bal, items)), \
             p AS (INSERT INTO purchases (id, merchant_id, receipt_id, fingerprint, member_id, amount_minor, \
                   currency, occurred_at, points, breakdown, balance_after, lot_id, available_at, created_at, \
                   items) OVERRIDING SYSTEM VALUE \
                   SELECT id, $7, 'seed-' || id, 'seed', mid, amount, 'THB', at, points, \
                          '[{\"rule\":\"base\",\"points\":' || points || '}]', bal, id, at, at, items FROM r), \
             l AS (INSERT INTO lots (id, member_id, points, remaining, earned_at, available_at, expires_at, \
                   merchant_id, purchase_id) OVERRIDING SYSTEM VALUE \
                   SELECT id, mid, points, points, at, at, \
                          GREATEST(at + interval '365 days', now() + interval '30 days'), $7, id FROM r) \
             INSERT INTO entries (id, member_id, kind, points, balance_after, merchant_id, purchase_id, lot_id, \
                   created_at) OVERRIDING SYSTEM VALUE \
             SELECT id, mid, 'earn', points, bal, $7, id, id, at FROM r",
        )
        .bind(&ids).bind(&mids).bind(&amounts).bind(&points).bind(&ats).bind(&bals)
        .bind(&s.merchant.id)
        .bind(&lines)
        .execute(&mut conn)
        .await?;
        k = end;
    }
    let ids: Vec<i64> = (1..=o.members as i64).collect();
    sqlx::query("UPDATE members m SET balance = b.bal FROM UNNEST($1::bigint[], $2::bigint[]) AS b(id, bal) WHERE m.id = b.id")
        .bind(&ids).bind(&balances)
        .execute(&mut conn)
        .await?;
    for table in ["members", "purchases", "lots", "entries"] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
        )))
        .execute(&mut conn)
        .await?;
    }
    sqlx::raw_sql("ANALYZE").execute(&mut conn).await?;
    conn.close().await?;
    Ok(())
}

/// A report over the last two years.
fn two_years(by: &str) -> taem::service::reports::ReportQuery {
    taem::service::reports::ReportQuery {
        from: Some(
            (now() - chrono::Duration::days(730))
                .date_naive()
                .to_string(),
        ),
        to: None,
        by: Some(by.into()),
        merchant: None,
    }
}

/// Times the points report with every entry read from the ledger, then
/// building the roll-up, before the server starts (its sweep would build it).
async fn time_roll_up(url: &str) -> anyhow::Result<()> {
    let store = store::connect(url).await?;
    let loyalty = Loyalty::new(store, chrono_tz::Asia::Bangkok);
    let once = |label: &str, took: Duration| {
        println!(
            "  {label:<34} {:>8.0} ms (once)",
            took.as_secs_f64() * 1000.0
        );
    };
    let start = Instant::now();
    loyalty.points_report(&two_years("day"), now()).await?;
    once("report: points by day, no roll-up", start.elapsed());
    let start = Instant::now();
    loyalty.roll_up_reports(now()).await?;
    once("report: building the roll-up", start.elapsed());
    Ok(())
}

/// Latencies of one kind of request.
struct Timings(Vec<Duration>);

impl Timings {
    fn percentile(&mut self, q: f64) -> Duration {
        self.0.sort();
        let i = ((self.0.len() as f64 - 1.0) * q).round() as usize;
        self.0[i]
    }

    fn print(&mut self, label: &str) {
        let ms = |d: Duration| format!("{:.2}", d.as_secs_f64() * 1000.0);
        println!(
            "  {label:<34} p50 {:>6} ms   p95 {:>6} ms   p99 {:>6} ms",
            ms(self.percentile(0.5)),
            ms(self.percentile(0.95)),
            ms(self.percentile(0.99))
        );
    }
}

/// Times `n` runs of `f` (after 50 unmeasured), checking each answer's status.
async fn time<F, Fut>(n: usize, mut f: F) -> anyhow::Result<Timings>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<reqwest::Response>>,
{
    let mut out = Vec::with_capacity(n);
    for i in 0..n + 50 {
        let start = Instant::now();
        let res = f(i).await?;
        let status = res.status();
        let body = res.bytes().await?;
        let took = start.elapsed();
        anyhow::ensure!(
            status.is_success() || status.is_redirection(),
            "answer {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        );
        if i >= 50 {
            out.push(took);
        }
    }
    Ok(Timings(out))
}

async fn run(label: &str, url: &str, o: &Options, seed: &Seed) -> anyhow::Result<()> {
    let started = Instant::now();
    let store = store::connect(url).await.context("open store")?;
    store.add_merchant(&seed.merchant).await?;
    drop(store);
    if let Some(path) = url.strip_prefix("sqlite://") {
        seed_sqlite(path, o, seed)?;
    } else {
        seed_postgres(url, o, seed).await?;
    }
    println!(
        "{label}: {} members, {} purchases seeded in {:.0} s",
        o.members,
        o.purchases,
        started.elapsed().as_secs_f64()
    );
    time_roll_up(url).await?;
    let settings = taem::config::Settings::from_lookup(|k| match k {
        "DATABASE_URL" => Some(url.to_string()),
        "TAEM_HTTP_ADDR" => Some("127.0.0.1:0".into()),
        "TAEM_LOG" => Some("warn".into()),
        _ => None,
    })?;
    let app = taem::app::Application::start(&settings).await?;
    let base = format!("http://{}", app.addr);
    let loyalty = Loyalty::new(app.store.clone(), chrono_tz::Asia::Bangkok);
    let new = NewStaff {
        email: "owner@bench.example".into(),
        name: String::new(),
        role: Role::Owner,
        merchant_id: None,
        locale: Some("en".into()),
    };
    let (_, token) = loyalty.add_staff(&Actor::Cli, new, now()).await?;
    let session = loyalty
        .accept_staff_link(&token, LinkPurpose::Invite, "bench-password-long", now())
        .await?;
    let http = reqwest::Client::new();
    let cookie = format!("taem_console={}", session.token);
    let get = |path: String| {
        http.get(format!("{base}{path}"))
            .header("cookie", &cookie)
            .send()
    };
    let pick = |i: usize| &seed.members[(i * 7_919) % seed.members.len()];

    let mut t = time(o.requests, |i| {
        let f = get(format!("/console?q={}", pick(i).0));
        async move { Ok(f.await?) }
    })
    .await?;
    t.print("counter: find by member code");
    let mut t = time(o.requests, |i| {
        let f = get(format!("/console?q=0{}", &pick(i).2[3..]));
        async move { Ok(f.await?) }
    })
    .await?;
    t.print("counter: find by phone (08…)");
    let mut t = time(o.requests, |i| {
        let prefix = &FIRST[i % FIRST.len()][..3];
        let f = get(format!("/console/members?q={prefix}"));
        async move { Ok(f.await?) }
    })
    .await?;
    t.print("back office: names by prefix (50)");
    let mut t = time(o.requests, |i| {
        let f = get(format!("/console/members/{}", pick(i).0));
        async move { Ok(f.await?) }
    })
    .await?;
    t.print("back office: a member's page");
    let merchant = seed.merchant.id.clone();
    let mut t = time(o.requests, |i| {
        let code = pick(i).0.clone();
        let nonce = format!("bench-{}-{i}", std::process::id());
        let form = [
            ("csrf", session.csrf.clone()),
            ("member", code),
            ("merchant", merchant.clone()),
            ("amount", "250".to_string()),
            ("receipt", String::new()),
            ("nonce", nonce),
        ];
        let f = http
            .post(format!("{base}/console/counter/sale"))
            .header("cookie", &cookie)
            .form(&form)
            .send();
        async move { Ok(f.await?) }
    })
    .await?;
    t.print("counter: record a sale");
    let secret = seed.merchant.webhook_secret.expose().to_string();
    let mut t = time(o.requests, |i| {
        let body = serde_json::to_vec(&serde_json::json!({
            "receipt_id": format!("bench-hook-{}-{i}", std::process::id()),
            "amount": "250",
            "currency": "THB",
            "member_code": pick(i).0,
        }))
        .unwrap();
        let signed = taem::http::signature::Request {
            method: "POST",
            path: "/v1/purchases",
            body: &body,
        };
        let sig = taem::http::signature::sign(&secret, now().timestamp(), &signed);
        let f = http
            .post(format!("{base}/v1/purchases"))
            .header("content-type", "application/json")
            .header("x-taem-merchant", &merchant)
            .header("x-taem-signature", sig)
            .body(body)
            .send();
        async move { Ok(f.await?) }
    })
    .await?;
    t.print("webhook: a signed purchase");

    // The recording alone, through the service (no HTTP, no page): a counter
    // sale and a webhook purchase, taken in turn, each starting from the
    // merchant's id as its request does (the webhook reads the merchant to
    // check the signature).
    let actor = Actor::Staff(session.staff.clone());
    let (mut sales, mut hooks) = (Vec::new(), Vec::new());
    for i in 0..o.requests + 50 {
        let code = pick(i).0.clone();
        let start = Instant::now();
        let sale = taem::service::counter::CounterSale {
            merchant_id: merchant.clone(),
            member_code: code.clone(),
            amount: "250".into(),
            receipt_id: format!("bench-svc-sale-{}-{i}", std::process::id()),
        };
        loyalty.counter_sale(&actor, sale, now()).await?;
        let took = start.elapsed();
        let start = Instant::now();
        let req = taem::service::PurchaseRequest {
            receipt_id: format!("bench-svc-hook-{}-{i}", std::process::id()),
            amount: "250".into(),
            currency: "THB".into(),
            member_code: Some(code),
            occurred_at: None,
            items: None,
        };
        let m = loyalty.merchant(&merchant).await?;
        loyalty.record_purchase(&m, req, now()).await?;
        if i >= 50 {
            sales.push(took);
            hooks.push(start.elapsed());
        }
    }
    Timings(sales).print("service: a counter sale");
    Timings(hooks).print("service: a webhook purchase");

    // Paying with points at a till, over signed HTTP: the customer's fresh pay
    // code (made beforehand, as their chat does) confirms the reservation at
    // once; then the till captures it.
    loyalty
        .change_program(taem::service::ProgramChange {
            pay_rate: Some("4:1".into()),
            ..Default::default()
        })
        .await?;
    let signed_post = |path: String, body: serde_json::Value| {
        let body = serde_json::to_vec(&body).unwrap();
        let req = taem::http::signature::Request {
            method: "POST",
            path: &path,
            body: &body,
        };
        let sig = taem::http::signature::sign(&secret, now().timestamp(), &req);
        http.post(format!("{base}{path}"))
            .header("content-type", "application/json")
            .header("x-taem-merchant", &merchant)
            .header("x-taem-signature", sig)
            .body(body)
            .send()
    };
    let (mut reserves, mut captures) = (Vec::new(), Vec::new());
    for i in 0..o.requests + 50 {
        let member = pick(i).0.clone();
        let id = loyalty
            .member(&taem::domain::model::MemberRef::Code(
                MemberCode::parse(&member).context("a seeded code")?,
            ))
            .await?
            .id;
        let (code, _) = loyalty.new_pay_code(id, now()).await?;
        let body = serde_json::json!({
            "request_id": format!("bench-pay-{}-{i}", std::process::id()),
            "member_code": member,
            "points": 8,
            "pay_code": code,
        });
        let start = Instant::now();
        let res = signed_post("/v1/point-payments".into(), body).await?;
        anyhow::ensure!(res.status() == 201, "reserve: {}", res.text().await?);
        let p: serde_json::Value = res.json().await?;
        let reserved = start.elapsed();
        let path = format!(
            "/v1/point-payments/{}/capture",
            p["id"].as_str().unwrap_or("")
        );
        let start = Instant::now();
        let res = signed_post(path, serde_json::json!({})).await?;
        anyhow::ensure!(res.status() == 200, "capture: {}", res.text().await?);
        res.bytes().await?;
        if i >= 50 {
            reserves.push(reserved);
            captures.push(start.elapsed());
        }
    }
    Timings(reserves).print("till: reserve points (pay code)");
    Timings(captures).print("till: capture the payment");

    // Reports, through the service, with the roll-up the server keeps.
    for (label, by, shop) in [
        ("report: points by day, 2 years", "day", false),
        ("report: points by month, 2 years", "month", false),
        ("report: a shop's points by week", "week", true),
    ] {
        let mut q = two_years(by);
        if shop {
            q.merchant = Some(merchant.clone());
        }
        let mut runs = Vec::new();
        for _ in 0..30 {
            let start = Instant::now();
            loyalty.points_report(&q, now()).await?;
            runs.push(start.elapsed());
        }
        Timings(runs).print(label);
    }
    let start = Instant::now();
    let n = loyalty.refresh_segments(now()).await?;
    println!(
        "  {:<34} {:>8.0} ms (once, {n} members)",
        "segments: working them out",
        start.elapsed().as_secs_f64() * 1000.0
    );
    // Audiences: members' facts read and each one decided (what a broadcast
    // counts before it is sent and a journey reads every day).
    {
        use taem::domain::audience::{Audience, Bought, Lapsing};
        let audiences = [
            ("audience: everyone, reach", Audience::default()),
            (
                "audience: lapsing (usual gap)",
                Audience {
                    lapsing: Some(Lapsing::UsualGap),
                    ..Audience::default()
                },
            ),
            (
                "audience: bought bakery, 30 days",
                Audience {
                    bought: Some(Bought {
                        sku: None,
                        category: Some("bakery".into()),
                        days: 30,
                    }),
                    ..Audience::default()
                },
            ),
            (
                "audience: favourite tea, class A",
                Audience {
                    favourite_category: Some("tea".into()),
                    classes: vec!["A".into()],
                    ..Audience::default()
                },
            ),
        ];
        for (label, audience) in audiences {
            let mut runs = Vec::new();
            let mut reach = Default::default();
            for _ in 0..10 {
                let start = Instant::now();
                reach = loyalty.audience_reach(&audience, now()).await?;
                runs.push(start.elapsed());
            }
            Timings(runs).print(&format!("{label} ({} members)", reach.members));
        }
    }
    // Journeys: every one switched on (every member has Telegram, consent and
    // a birthday), then a day's run: the first gives, the second finds
    // nothing more due.
    {
        use taem::domain::journey::Kind;
        use taem::service::journeys::JourneyInput;
        let on = |points: i64| JourneyInput {
            enabled: Some(true),
            bonus_points: Some(points),
            holdout: Some("10%".into()),
            ..JourneyInput::default()
        };
        loyalty.set_journey(Kind::Welcome, &on(10), now()).await?;
        loyalty.set_journey(Kind::Birthday, &on(50), now()).await?;
        let winback = JourneyInput {
            lapsing: Some("usual".into()),
            ..on(20)
        };
        loyalty.set_journey(Kind::Winback, &winback, now()).await?;
        loyalty
            .set_journey(
                Kind::NearReward,
                &JourneyInput {
                    enabled: Some(true),
                    ..Default::default()
                },
                now(),
            )
            .await?;
        for label in ["journeys: a day's run", "journeys: the run after"] {
            let start = Instant::now();
            let run = loyalty.run_journeys(now()).await?;
            let given: Vec<String> = run
                .journeys
                .iter()
                .map(|j| format!("{} {}+{}", j.journey.as_str(), j.given, j.held_out))
                .collect();
            println!(
                "  {:<34} {:>8.0} ms ({})",
                label,
                start.elapsed().as_secs_f64() * 1000.0,
                given.join(", ")
            );
        }
    }
    // Each report for the whole programme, then for the shop (every
    // purchase in this data is at it: a shop's report at its largest).
    let shop = taem::service::reports::ReportQuery {
        merchant: Some(merchant.clone()),
        ..Default::default()
    };
    for (label, q) in [
        ("", taem::service::reports::ReportQuery::default()),
        (", a shop", shop),
    ] {
        let mut range = two_years("month");
        range.merchant = q.merchant.clone();
        let mut liability = Vec::new();
        let mut redemption = Vec::new();
        let mut members = Vec::new();
        let mut segments = Vec::new();
        for _ in 0..10 {
            let start = Instant::now();
            loyalty.liability_report(&q, now()).await?;
            liability.push(start.elapsed());
            let start = Instant::now();
            loyalty.redemption_report(&range, now()).await?;
            redemption.push(start.elapsed());
            let start = Instant::now();
            loyalty.members_report(&range, now()).await?;
            members.push(start.elapsed());
            let start = Instant::now();
            loyalty.segments_report(&q).await?;
            segments.push(start.elapsed());
        }
        Timings(liability).print(&format!("report: liability{label}"));
        Timings(redemption).print(&format!("report: redemption, 2 years{label}"));
        Timings(members).print(&format!("report: members, 2 years{label}"));
        Timings(segments).print(&format!("report: segments{label}"));
    }
    app.shutdown().await?;
    Ok(())
}

fn main() -> ExitCode {
    let o = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e:#}");
            return ExitCode::from(2);
        }
    };
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    let result: anyhow::Result<()> = rt.block_on(async {
        let seed = rows(&o);
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}", dir.path().join("taem.db").display());
        run("sqlite", &url, &o, &seed).await?;
        if let Some(admin) = &o.postgres {
            let name = format!(
                "taem_bench_{}",
                codes::merchant_id().trim_start_matches("m_")
            );
            let mut conn = sqlx::PgConnection::connect(admin).await?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await?;
            let (prefix, _) = admin
                .rsplit_once('/')
                .context("BENCH_POSTGRES_URL names a database")?;
            let result = run("postgres", &format!("{prefix}/{name}"), &o, &seed).await;
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut conn)
            .await?;
            result?;
        }
        Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}
