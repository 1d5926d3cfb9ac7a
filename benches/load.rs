//! Load benchmark: signed purchases against a running `taem serve` over loopback,
//! and the same writes straight through the service (no HTTP), so the cost of the
//! HTTP layer shows as a ratio. It reports; it never judges (see
//! `docs/PERFORMANCE.md` for the targets and the figures recorded).
//!
//! ```sh
//! cargo bench --bench load                          # SQLite, 64 connections, 10 s
//! cargo bench --bench load -- --connections 32 --duration 5 --members 500
//! BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:55432/postgres cargo bench --bench load
//! ```
//!
//! Options (arguments override the environment): `--connections N`
//! (`BENCH_CONNECTIONS`, 64), `--duration SECS` (`BENCH_DURATION`, 10),
//! `--warmup SECS` (`BENCH_WARMUP`, 1), `--members N` (`BENCH_MEMBERS`, 1000),
//! `--rounds N` (`BENCH_ROUNDS`: the HTTP phase's measured windows, each with
//! its warm-up, on one running server; 3 on PostgreSQL beside pgbench, 1
//! otherwise). With `BENCH_POSTGRES_URL` set, PostgreSQL runs after SQLite,
//! each phase on a fresh `taem_bench_<random>` database that is dropped
//! afterwards. When `pgbench` is on the PATH, its TPC-B on the same server
//! with as many clients (`BENCH_PGBENCH_SCALE`, 32; 0 skips it) runs before
//! each of taem's windows on PostgreSQL and after the last, and taem's median
//! rate over HTTP is printed against pgbench's median, each window against
//! the runs on either side of it.

use std::future::Future;
use std::path::Path;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use sqlx::Connection;
use taem::domain::campaign::{Campaign, ItemMatch, Rule, Window};
use taem::domain::model::{Merchant, NewMember, Recorded, Secret};
use taem::domain::time::now;
use taem::domain::{Currency, EarnRate, codes};
use taem::http::signature;
use taem::service::{Loyalty, PurchaseRequest};
use taem::store;

const USAGE: &str = "usage: cargo bench --bench load -- [--connections N] [--duration SECS] \
                     [--warmup SECS] [--members N] [--rounds N] [--campaigns] [--operations] [--only sqlite|postgres]\n\
                     env: BENCH_CONNECTIONS, BENCH_DURATION, BENCH_WARMUP, BENCH_MEMBERS, BENCH_ROUNDS, \
                     BENCH_CAMPAIGNS=1, BENCH_OPERATIONS=1, BENCH_ONLY, BENCH_POSTGRES_URL (also run PostgreSQL), \
                     BENCH_PGBENCH_SCALE (32; 0 skips pgbench)";

#[derive(Debug, Clone)]
struct Options {
    connections: usize,
    duration: Duration,
    warmup: Duration,
    members: usize,
    /// Run with a budgeted double-points campaign and a SKU bonus running.
    campaigns: bool,
    postgres: Option<String>,
    /// Also measure redemptions, refunds and claims (store only).
    operations: bool,
    /// Run only this backend (`sqlite` or `postgres`); both when `None`.
    only: Option<Backend>,
    /// Measured windows of the HTTP phase, on one running server; `None`:
    /// three on PostgreSQL beside pgbench, one otherwise.
    rounds: Option<usize>,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("{name}={v:?} is not a valid number")),
        _ => Ok(default),
    }
}

fn parse_options() -> anyhow::Result<Options> {
    let mut connections: usize = env_or("BENCH_CONNECTIONS", 64)?;
    let mut duration: f64 = env_or("BENCH_DURATION", 10.0)?;
    let mut warmup: f64 = env_or("BENCH_WARMUP", 1.0)?;
    let mut members: usize = env_or("BENCH_MEMBERS", 1000)?;
    let mut campaigns = std::env::var("BENCH_CAMPAIGNS").is_ok_and(|v| v == "1");
    let mut only = std::env::var("BENCH_ONLY").ok();
    let mut operations = std::env::var("BENCH_OPERATIONS").is_ok_and(|v| v == "1");
    let mut rounds: Option<usize> = match env_or("BENCH_ROUNDS", 0)? {
        0 => None,
        n => Some(n),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (key, inline) = match arg.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (arg.clone(), None),
        };
        let mut value = |key: &str| -> anyhow::Result<String> {
            inline
                .clone()
                .or_else(|| args.next())
                .with_context(|| format!("{key} needs a value\n{USAGE}"))
        };
        let bad = |key: &str, v: &str| anyhow::anyhow!("{key} {v:?} is not a valid number");
        match key.as_str() {
            // cargo bench passes --bench to harness = false targets.
            "--bench" => {}
            "--connections" | "-c" => {
                let v = value(&key)?;
                connections = v.parse().map_err(|_| bad(&key, &v))?;
            }
            "--duration" | "-d" => {
                let v = value(&key)?;
                duration = v.parse().map_err(|_| bad(&key, &v))?;
            }
            "--warmup" => {
                let v = value(&key)?;
                warmup = v.parse().map_err(|_| bad(&key, &v))?;
            }
            "--members" | "-m" => {
                let v = value(&key)?;
                members = v.parse().map_err(|_| bad(&key, &v))?;
            }
            "--rounds" | "-r" => {
                let v = value(&key)?;
                rounds = Some(v.parse().map_err(|_| bad(&key, &v))?).filter(|&n| n > 0);
            }
            "--campaigns" => campaigns = true,
            "--only" => only = Some(value(&key)?),
            "--operations" => operations = true,
            "--help" | "-h" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    if connections == 0
        || members == 0
        || !duration.is_finite()
        || duration <= 0.0
        || !warmup.is_finite()
        || warmup < 0.0
    {
        bail!("connections, members and duration must be positive\n{USAGE}");
    }
    let postgres = std::env::var("BENCH_POSTGRES_URL")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let only = match only.as_deref() {
        None | Some("") => None,
        Some("sqlite") => Some(Backend::Sqlite),
        Some("postgres") if postgres.is_some() => Some(Backend::Postgres),
        Some("postgres") => bail!("--only postgres needs BENCH_POSTGRES_URL\n{USAGE}"),
        Some(other) => bail!("--only {other:?}: sqlite or postgres\n{USAGE}"),
    };
    Ok(Options {
        connections,
        duration: Duration::from_secs_f64(duration),
        warmup: Duration::from_secs_f64(warmup),
        members,
        campaigns,
        postgres,
        operations,
        only,
        rounds,
    })
}

// ---------------------------------------------------------------------------
// Databases

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A fresh database: a temporary directory (SQLite) or a `taem_bench_*` database
/// dropped by [`BenchDb::remove`] (PostgreSQL).
struct BenchDb {
    url: String,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl BenchDb {
    async fn create(backend: Backend, opts: &Options) -> anyhow::Result<BenchDb> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().context("temporary directory")?;
                Ok(BenchDb {
                    url: format!("sqlite://{}", dir.path().join("taem.db").display()),
                    _dir: Some(dir),
                    pg: None,
                })
            }
            Backend::Postgres => {
                let admin = opts.postgres.clone().expect("postgres url");
                let name = format!(
                    "taem_bench_{}",
                    codes::merchant_id().trim_start_matches("m_")
                );
                let mut conn = sqlx::PgConnection::connect(&admin)
                    .await
                    .context("BENCH_POSTGRES_URL must point at a running PostgreSQL")?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .with_context(|| format!("CREATE DATABASE {name}"))?;
                let _ = conn.close().await;
                let (base, query) = match admin.split_once('?') {
                    Some((b, q)) => (b, format!("?{q}")),
                    None => (admin.as_str(), String::new()),
                };
                let (prefix, _) = base
                    .rsplit_once('/')
                    .context("BENCH_POSTGRES_URL must name a database, e.g. .../postgres")?;
                Ok(BenchDb {
                    url: format!("{prefix}/{name}{query}"),
                    _dir: None,
                    pg: Some((admin, name)),
                })
            }
        }
    }

    /// Drops the PostgreSQL database (best effort); SQLite's directory goes on drop.
    async fn remove(self) {
        if let Some((admin, name)) = &self.pg {
            let result = async {
                let mut conn = sqlx::PgConnection::connect(admin).await?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await?;
                conn.close().await
            }
            .await;
            if let Err(e) = result {
                eprintln!("warning: could not drop database {name}: {e}");
            }
        }
    }
}

/// What the load needs from the set-up: the merchant to sign as, the members.
struct Fixture {
    merchant: Merchant,
    member_codes: Vec<String>,
    member_ids: Vec<i64>,
}

/// Migrates the database, adds a merchant and `members` members through the
/// library, and closes the store again.
async fn set_up(url: &str, members: usize, campaigns: bool) -> anyhow::Result<Fixture> {
    let store = store::connect(url).await.context("open store")?;
    if campaigns {
        for c in bench_campaigns() {
            store
                .add_campaign(&c, now())
                .await
                .context("add campaign")?;
        }
    }
    let merchant = Merchant {
        id: codes::merchant_id(),
        name: "Bench Kafe".into(),
        currency: Currency::THB,
        earn: EarnRate::default_for(Currency::THB),
        webhook_secret: Secret::new(codes::webhook_secret()),
        previous_secret: None,
        created_at: now(),
    };
    store
        .add_merchant(&merchant)
        .await
        .context("add merchant")?;
    let (mut member_codes, mut member_ids) = (Vec::new(), Vec::new());
    for _ in 0..members {
        let m = store
            .add_member(&NewMember::default(), now())
            .await
            .context("add member")?;
        member_codes.push(m.code);
        member_ids.push(m.id);
    }
    drop(store);
    Ok(Fixture {
        merchant,
        member_codes,
        member_ids,
    })
}

/// A double-points campaign with a budget far larger than the run can spend
/// (every purchase takes from it, so PostgreSQL locks its row each time) and an
/// item bonus without a budget.
fn bench_campaigns() -> Vec<Campaign> {
    let day = chrono::Duration::days(1);
    let campaign = |id: i64, rule: Rule, budget: Option<i64>| Campaign {
        id,
        name_th: format!("แคมเปญ {id}"),
        name_en: format!("Bench campaign {id}"),
        text_th: String::new(),
        text_en: String::new(),
        rule,
        window: Window {
            starts_at: now() - day,
            ends_at: now() + day,
            days: vec![],
            hours: None,
        },
        merchants: vec![],
        tiers: vec![],
        min_spend_minor: None,
        budget,
        member_cap: None,
        awarded: 0,
        ended_early_at: None,
        created_at: now(),
        holdout_bp: 0,
        holdout_salt: 0,
        audience: Default::default(),
    };
    vec![
        campaign(
            0,
            Rule::Multiplier {
                percent: 200,
                stacks: false,
            },
            Some(1_000_000_000),
        ),
        campaign(
            0,
            Rule::Items {
                matcher: ItemMatch::Sku("LATTE-L".into()),
                percent: None,
                points_per_unit: Some(10),
            },
            None,
        ),
    ]
}

fn purchase(receipt_id: String, codes: &[String]) -> PurchaseRequest {
    let baht: u32 = rand::random_range(20..=2000);
    let member = &codes[rand::random_range(0..codes.len())];
    PurchaseRequest {
        receipt_id,
        amount: format!("{baht}.00"),
        currency: "THB".into(),
        member_code: Some(member.clone()),
        occurred_at: None,
        items: None,
    }
}

// ---------------------------------------------------------------------------
// The load loop, shared by the HTTP and the store phases

enum Outcome {
    Accepted,
    Error(String),
}

struct LoadResult {
    accepted: u64,
    errors: u64,
    /// From the end of the warm-up to the last measured completion.
    elapsed: Duration,
    /// Every measured request, sorted.
    latencies: Vec<Duration>,
    first_error: Option<String>,
    /// Wall time of the whole phase, warm-up included (for CPU shares).
    wall: Duration,
}

impl LoadResult {
    fn rate(&self) -> f64 {
        self.accepted as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn percentile(&self, q: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.latencies.len() - 1) as f64 * q).round() as usize;
        self.latencies[i]
    }

    fn max(&self) -> Duration {
        self.latencies.last().copied().unwrap_or_default()
    }
}

/// Runs `op` in `connections` concurrent tasks, back to back, for the warm-up and
/// then the measured duration. Only requests started after the warm-up count.
async fn run_load<F, Fut>(
    connections: usize,
    warmup: Duration,
    duration: Duration,
    op: F,
) -> LoadResult
where
    F: Fn(usize, u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send,
{
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let first_error: Arc<Mutex<Option<String>>> = Arc::default();
    let mut tasks = Vec::with_capacity(connections);
    for worker in 0..connections {
        let op = op.clone();
        let first_error = first_error.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(4096);
            let (mut accepted, mut errors) = (0u64, 0u64);
            let mut last_done = measure_from;
            let mut n = 0u64;
            loop {
                let began = Instant::now();
                if began >= end {
                    break;
                }
                let outcome = op(worker, n).await;
                n += 1;
                let done = Instant::now();
                let measured = began >= measure_from;
                match outcome {
                    Outcome::Accepted => accepted += u64::from(measured),
                    Outcome::Error(e) => {
                        errors += u64::from(measured);
                        first_error.lock().expect("not poisoned").get_or_insert(e);
                    }
                }
                if measured {
                    latencies.push(done - began);
                    last_done = done;
                }
            }
            (latencies, accepted, errors, last_done)
        }));
    }
    let mut result = LoadResult {
        accepted: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
        first_error: None,
        wall: Duration::ZERO,
    };
    let mut last_done = measure_from;
    for task in tasks {
        let (latencies, accepted, errors, done) = task.await.expect("load task panicked");
        result.latencies.extend(latencies);
        result.accepted += accepted;
        result.errors += errors;
        last_done = last_done.max(done);
    }
    result.latencies.sort_unstable();
    result.elapsed = last_done - measure_from;
    result.wall = start.elapsed();
    result.first_error = first_error.lock().expect("not poisoned").take();
    result
}

/// The load's HTTP/1.1 client: one kept-alive connection per worker, with
/// nothing between the request and hyper (no pool, retries or URL parsing),
/// so that the generator, which shares the cores with the server and the
/// database, takes as little of them as a load generator should.
struct Conn(hyper::client::conn::http1::SendRequest<Full<Bytes>>);

impl Conn {
    /// Sends on the worker's connection (opened if there is none, dropped on
    /// an error); the answer's status and body.
    async fn send(
        slot: &mut Option<Conn>,
        addr: &str,
        req: hyper::Request<Full<Bytes>>,
    ) -> anyhow::Result<(hyper::StatusCode, Bytes)> {
        let conn = match slot {
            Some(conn) => conn,
            None => slot.insert(Conn::open(addr).await?),
        };
        let sent = tokio::time::timeout(Duration::from_secs(30), async {
            conn.0.ready().await?;
            let res = conn.0.send_request(req).await?;
            let status = res.status();
            let body = res.into_body().collect().await?.to_bytes();
            Ok::<_, hyper::Error>((status, body))
        })
        .await
        .map_err(anyhow::Error::from)
        .and_then(|sent| Ok(sent?));
        if sent.is_err() {
            *slot = None;
        }
        sent
    }

    async fn open(addr: &str) -> anyhow::Result<Conn> {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .context("connect")?;
        stream.set_nodelay(true)?;
        let (send, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        Ok(Conn(send))
    }
}

// ---------------------------------------------------------------------------
// The server child process and /proc

/// `taem serve` as a child process; killed if dropped while still running.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    async fn start(url: &str, http: &reqwest::Client) -> anyhow::Result<Server> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("pick a free port")?
            .port();
        let addr = format!("127.0.0.1:{port}");
        let child = Command::new(env!("CARGO_BIN_EXE_taem"))
            .arg("serve")
            .env("DATABASE_URL", url)
            .env("TAEM_HTTP_ADDR", &addr)
            .env("TAEM_LOG", "warn")
            .stdin(Stdio::null())
            .spawn()
            .context("spawn taem serve")?;
        let mut server = Server { child, addr };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = server.child.try_wait()? {
                bail!("taem serve exited during start-up: {status}");
            }
            if let Ok(res) = http
                .get(format!("http://{}/healthz", server.addr))
                .send()
                .await
                && res.status() == reqwest::StatusCode::OK
            {
                return Ok(server);
            }
            if Instant::now() > deadline {
                bail!("taem serve did not answer /healthz within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then waits up to 30 s for a clean exit.
    async fn stop(mut self) -> anyhow::Result<std::process::ExitStatus> {
        Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .context("kill -TERM")?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                bail!("taem serve did not stop within 30 s of SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A `kB` field of `/proc/<pid>/status`, in kB.
fn proc_status_kb(pid: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(Path::new("/proc").join(pid).join("status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// User plus system CPU time of a process (`/proc/<pid>/stat`, assuming the
/// usual 100 clock ticks per second).
fn proc_cpu(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(Path::new("/proc").join(pid).join("stat")).ok()?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// CPU time spent between two readings of [`proc_cpu`].
fn cpu_spent(before: Option<Duration>, after: Option<Duration>) -> Option<Duration> {
    Some(after? - before?)
}

fn cpu_cores(spent: Option<Duration>, wall: Duration) -> Option<f64> {
    Some(spent?.as_secs_f64() / wall.as_secs_f64().max(1e-9))
}

// ---------------------------------------------------------------------------
// The phases

struct HttpRun {
    /// Each measured window, in order.
    rounds: Vec<LoadResult>,
    /// All the windows together (their requests, for latencies and errors).
    load: LoadResult,
    /// pgbench's runs, before each window and after the last.
    pgbench: Vec<anyhow::Result<(f64, String)>>,
    rss_idle_kb: Option<u64>,
    rss_peak_kb: Option<u64>,
    hwm_kb: Option<u64>,
    server_cores: Option<f64>,
    generator_cores: Option<f64>,
    exit: String,
}

impl HttpRun {
    /// The median window's rate (the mean of the middle two for an even
    /// number).
    fn rate(&self) -> f64 {
        median(self.rounds.iter().map(LoadResult::rate).collect())
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    (xs[(n - 1) / 2] + xs[n / 2]) / 2.0
}

/// The windows as one load: every request, the measured time summed.
fn all_of(rounds: &[LoadResult]) -> LoadResult {
    let mut latencies: Vec<Duration> = rounds.iter().flat_map(|r| r.latencies.clone()).collect();
    latencies.sort_unstable();
    LoadResult {
        accepted: rounds.iter().map(|r| r.accepted).sum(),
        errors: rounds.iter().map(|r| r.errors).sum(),
        elapsed: rounds.iter().map(|r| r.elapsed).sum(),
        latencies,
        first_error: rounds.iter().find_map(|r| r.first_error.clone()),
        wall: rounds.iter().map(|r| r.wall).sum(),
    }
}

/// The HTTP phase: one `taem serve` on a fresh database, loaded for `rounds`
/// windows (each with its warm-up); with `pgbench`, a pgbench run before each
/// window and after the last, so that each window has a run of pgbench on
/// either side of it.
async fn http_phase(
    backend: Backend,
    opts: &Options,
    rounds: usize,
    pgbench: Option<&Pgbench>,
) -> anyhow::Result<HttpRun> {
    let db = BenchDb::create(backend, opts).await?;
    let fixture = set_up(&db.url, opts.members, opts.campaigns).await?;
    let server = Server::start(&db.url, &reqwest::Client::new()).await?;
    let pid = server.pid().to_string();
    let rss_idle_kb = proc_status_kb(&pid, "VmRSS");

    // Resident memory of the server every 200 ms while loading.
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (pid, sampling) = (pid.clone(), sampling.clone());
        tokio::spawn(async move {
            let mut peak = None;
            while sampling.load(Ordering::Relaxed) {
                if let Some(kb) = proc_status_kb(&pid, "VmRSS") {
                    peak = Some(peak.map_or(kb, |p: u64| p.max(kb)));
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            peak
        })
    };

    struct Ctx {
        /// One HTTP/1.1 connection per load worker, opened on first use.
        conns: Vec<tokio::sync::Mutex<Option<Conn>>>,
        addr: String,
        merchant_id: String,
        secret: String,
        codes: Vec<String>,
    }
    let ctx = Arc::new(Ctx {
        conns: (0..opts.connections).map(|_| Default::default()).collect(),
        addr: server.addr.clone(),
        merchant_id: fixture.merchant.id.clone(),
        secret: fixture.merchant.webhook_secret.expose().to_string(),
        codes: fixture.member_codes,
    });
    let op = {
        let ctx = ctx.clone();
        move |worker: usize, n: u64| {
            let ctx = ctx.clone();
            async move {
                let req = purchase(format!("b-{worker}-{n}"), &ctx.codes);
                let body = serde_json::to_vec(&req).expect("serializable");
                let unix = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64);
                let signed = signature::Request {
                    method: "POST",
                    path: "/v1/purchases",
                    body: &body,
                };
                let sig = signature::sign(&ctx.secret, unix, &signed);
                let req = hyper::Request::post("/v1/purchases")
                    .header("host", &ctx.addr)
                    .header("content-type", "application/json")
                    .header("x-taem-merchant", &ctx.merchant_id)
                    .header("x-taem-signature", sig)
                    .body(Full::new(Bytes::from(body)))
                    .expect("a valid request");
                let mut conn = ctx.conns[worker].lock().await;
                match Conn::send(&mut conn, &ctx.addr, req).await {
                    Ok((hyper::StatusCode::CREATED, _)) => Outcome::Accepted,
                    Ok((status, body)) => {
                        Outcome::Error(format!("HTTP {status}: {}", String::from_utf8_lossy(&body)))
                    }
                    Err(e) => Outcome::Error(format!("request failed: {e:#}")),
                }
            }
        }
    };
    let mut windows = Vec::with_capacity(rounds);
    let mut runs = Vec::new();
    let (mut server_cpu, mut generator_cpu) = (Some(Duration::ZERO), Some(Duration::ZERO));
    for round in 1..=rounds {
        if let Some(pg) = pgbench {
            runs.push(
                pg.run(opts, &format!("run {round} of {}", rounds + 1))
                    .await,
            );
        }
        let (server0, self0) = (proc_cpu(&pid), proc_cpu("self"));
        // Each worker's `n` goes on from the window before (its receipts
        // stay new).
        let offset = (round as u64 - 1) << 40;
        let op = op.clone();
        let load = run_load(opts.connections, opts.warmup, opts.duration, move |w, n| {
            op(w, offset + n)
        })
        .await;
        let plus = |total: Option<Duration>, spent| total.zip(spent).map(|(a, b)| a + b);
        server_cpu = plus(server_cpu, cpu_spent(server0, proc_cpu(&pid)));
        generator_cpu = plus(generator_cpu, cpu_spent(self0, proc_cpu("self")));
        if rounds > 1 {
            print_load(&format!("http round {round} of {rounds}"), &load);
        }
        windows.push(load);
    }
    if let Some(pg) = pgbench {
        let last = rounds + 1;
        runs.push(pg.run(opts, &format!("run {last} of {last}")).await);
    }
    let load = all_of(&windows);
    let server_cores = cpu_cores(server_cpu, load.wall);
    let generator_cores = cpu_cores(generator_cpu, load.wall);
    sampling.store(false, Ordering::Relaxed);
    let rss_peak_kb = sampler.await.ok().flatten();
    let hwm_kb = proc_status_kb(&pid, "VmHWM");
    drop(op);
    drop(ctx);
    let exit = match server.stop().await {
        Ok(status) => status.to_string(),
        Err(e) => format!("{e:#}"),
    };
    db.remove().await;
    Ok(HttpRun {
        rounds: windows,
        load,
        pgbench: runs,
        rss_idle_kb,
        rss_peak_kb,
        hwm_kb,
        server_cores,
        generator_cores,
        exit,
    })
}

struct StoreRun {
    load: LoadResult,
    cores: Option<f64>,
}

async fn store_phase(backend: Backend, opts: &Options) -> anyhow::Result<StoreRun> {
    let db = BenchDb::create(backend, opts).await?;
    let fixture = set_up(&db.url, opts.members, opts.campaigns).await?;
    let store = store::connect(&db.url).await.context("open store")?;
    let loyalty = Arc::new(Loyalty::new(store, chrono_tz::Asia::Bangkok));
    let merchant = Arc::new(fixture.merchant);
    let codes = Arc::new(fixture.member_codes);
    let cpu0 = proc_cpu("self");
    let load = run_load(opts.connections, opts.warmup, opts.duration, {
        let (loyalty, merchant, codes) = (loyalty.clone(), merchant.clone(), codes.clone());
        move |worker, n| {
            let (loyalty, merchant, codes) = (loyalty.clone(), merchant.clone(), codes.clone());
            async move {
                let req = purchase(format!("s-{worker}-{n}"), &codes);
                match loyalty.record_purchase(&merchant, req, now()).await {
                    Ok(Recorded::New(_)) => Outcome::Accepted,
                    Ok(Recorded::Replay(_)) => Outcome::Error("unexpected replay".into()),
                    Err(e) => Outcome::Error(e.to_string()),
                }
            }
        }
    })
    .await;
    let cores = cpu_cores(cpu_spent(cpu0, proc_cpu("self")), load.wall);
    drop(loyalty);
    db.remove().await;
    Ok(StoreRun { load, cores })
}

/// Redemptions, refunds and claims straight through the service, each for
/// the run's duration on one fresh database. Set-up (not measured): each
/// member buys for ฿1,000,000 (40,000 points, a receipt that takes many small
/// refunds), a reward costs 1 point (no stock limit), and enough purchases
/// without a member wait to be claimed. A redemption is a random member's, a
/// refund takes ฿25 (1 point) back from a random member's big receipt, a claim
/// is a random member's of the next waiting receipt.
async fn operations_phase(backend: Backend, opts: &Options) -> anyhow::Result<Vec<String>> {
    let db = BenchDb::create(backend, opts).await?;
    let fixture = set_up(&db.url, opts.members, false).await?;
    let store = store::connect(&db.url).await.context("open store")?;
    let loyalty = Arc::new(Loyalty::new(store, chrono_tz::Asia::Bangkok));
    let merchant = Arc::new(fixture.merchant);
    let ids = Arc::new(fixture.member_ids);
    let request = |receipt: String, amount: &str, member: Option<&String>| PurchaseRequest {
        receipt_id: receipt,
        amount: amount.into(),
        currency: "THB".into(),
        member_code: member.cloned(),
        occurred_at: None,
        items: None,
    };
    let mut reqs: Vec<PurchaseRequest> = (fixture.member_codes.iter().enumerate())
        .map(|(i, code)| request(format!("big-{i}"), "1000000.00", Some(code)))
        .collect();
    let waiting = (4000.0 * (opts.duration + opts.warmup).as_secs_f64()) as usize;
    reqs.extend((0..waiting).map(|i| request(format!("walk-in-{i}"), "100.00", None)));
    let mut claims = Vec::with_capacity(waiting);
    for chunk in reqs.chunks(64) {
        let done = futures::future::join_all(
            chunk
                .iter()
                .map(|r| loyalty.record_purchase(&merchant, r.clone(), now())),
        )
        .await;
        for answer in done {
            let receipt = answer.context("set-up purchase")?.into_inner();
            claims.extend(receipt.claim_code);
        }
    }
    let claims = Arc::new(Mutex::new(claims));
    let reward = loyalty
        .add_reward(
            taem::service::RewardInput {
                name_th: "กาแฟ".into(),
                name_en: "Coffee".into(),
                cost: 1,
                face_value: "0".into(),
                currency: "THB".into(),
                voucher_days: 30,
                ..Default::default()
            },
            now(),
        )
        .await
        .context("add reward")?;
    let pick = |ids: &[i64]| rand::random_range(0..ids.len());
    let mut lines = Vec::new();
    for op in ["redeem", "refund", "claim"] {
        let (loyalty, merchant, ids, claims) = (
            loyalty.clone(),
            merchant.clone(),
            ids.clone(),
            claims.clone(),
        );
        let load = run_load(
            opts.connections,
            opts.warmup,
            opts.duration,
            move |worker, n| {
                let (loyalty, merchant, ids, claims) = (
                    loyalty.clone(),
                    merchant.clone(),
                    ids.clone(),
                    claims.clone(),
                );
                let reward = reward.id;
                async move {
                    let i = pick(&ids);
                    let done = match op {
                        "redeem" => loyalty
                            .redeem(ids[i], reward, Some(format!("k-{worker}-{n}")), now())
                            .await
                            .map(drop),
                        "refund" => {
                            let req = taem::service::RefundRequest {
                                refund_id: format!("f-{worker}-{n}"),
                                receipt_id: format!("big-{i}"),
                                amount: "25.00".into(),
                                currency: None,
                            };
                            loyalty.record_refund(&merchant, req, now()).await.map(drop)
                        }
                        _ => {
                            let Some(code) = claims.lock().expect("not poisoned").pop() else {
                                return Outcome::Error("no receipt left to claim".into());
                            };
                            loyalty.claim(ids[i], None, &code, now()).await.map(drop)
                        }
                    };
                    match done {
                        Ok(()) => Outcome::Accepted,
                        Err(e) => Outcome::Error(e.to_string()),
                    }
                }
            },
        )
        .await;
        print_load(op, &load);
        lines.push(format!(
            "{:<8} {op:<7} {}/s  p50 {}  p99 {}  errors {}",
            backend.name(),
            thousands(load.rate()),
            ms(load.percentile(0.50)),
            ms(load.percentile(0.99)),
            load.errors
        ));
    }
    drop(loyalty);
    db.remove().await;
    Ok(lines)
}

// ---------------------------------------------------------------------------
// Reporting

/// 12345.6 -> "12,346".
fn thousands(x: f64) -> String {
    let digits = format!("{:.0}", x.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn mb(kb: Option<u64>) -> String {
    kb.map_or("?".into(), |kb| format!("{:.0} MB", kb as f64 / 1024.0))
}

fn cores(c: Option<f64>) -> String {
    c.map_or("?".into(), |c| format!("{c:.2}"))
}

fn print_load(label: &str, load: &LoadResult) {
    println!(
        "  {label}: {} accepted in {:.2} s = {} purchases/s, errors {}",
        thousands(load.accepted as f64),
        load.elapsed.as_secs_f64(),
        thousands(load.rate()),
        load.errors
    );
    println!(
        "  {label}: latency p50 {}  p90 {}  p99 {}  max {}",
        ms(load.percentile(0.50)),
        ms(load.percentile(0.90)),
        ms(load.percentile(0.99)),
        ms(load.max())
    );
    if let Some(e) = &load.first_error {
        println!("  {label}: first error: {e}");
    }
}

/// Both phases of one backend (with `pgbench` beside the HTTP phase's
/// windows): the summary's lines, and whether every pgbench run ran.
async fn bench_backend(
    backend: Backend,
    opts: &Options,
    pgbench: Option<&Pgbench>,
) -> anyhow::Result<(Vec<String>, bool)> {
    let name = backend.name();
    let rounds = opts.rounds.unwrap_or(if pgbench.is_some() { 3 } else { 1 });
    println!(
        "[{name}] http: {} connections, {} of {:.1} s (+{:.1} s warm-up), {} members",
        opts.connections,
        if rounds == 1 {
            "one window".to_string()
        } else {
            format!("{rounds} windows")
        },
        opts.duration.as_secs_f64(),
        opts.warmup.as_secs_f64(),
        opts.members
    );
    let http = http_phase(backend, opts, rounds, pgbench)
        .await
        .with_context(|| format!("{name}: HTTP phase set-up"))?;
    print_load("http", &http.load);
    println!(
        "  http: taem serve rss idle {}, peak {} (sampled every 200 ms), VmHWM {}; \
         cpu: server {} cores, generator {} cores; exit {}",
        mb(http.rss_idle_kb),
        mb(http.rss_peak_kb),
        mb(http.hwm_kb),
        cores(http.server_cores),
        cores(http.generator_cores),
        http.exit
    );
    println!("[{name}] store: the same writes through the service, no HTTP");
    let bare = store_phase(backend, opts)
        .await
        .with_context(|| format!("{name}: store phase set-up"))?;
    print_load("store", &bare.load);
    println!("  store: cpu {} cores", cores(bare.cores));
    let ratio = http.rate() / bare.load.rate().max(1e-9);
    let rates: Vec<String> = http.rounds.iter().map(|r| thousands(r.rate())).collect();
    let summary = format!(
        "{name:<8} http: {} purchases/s{}  p50 {}  p99 {}  errors {}  rss peak {} | \
         store: {}/s  p50 {}  p99 {} | http/store {ratio:.2}",
        thousands(http.rate()),
        if rates.len() > 1 {
            format!(" (median of {}: {})", rates.len(), rates.join(", "))
        } else {
            String::new()
        },
        ms(http.load.percentile(0.50)),
        ms(http.load.percentile(0.99)),
        http.load.errors,
        mb(http.rss_peak_kb.max(http.hwm_kb)),
        thousands(bare.load.rate()),
        ms(bare.load.percentile(0.50)),
        ms(bare.load.percentile(0.99)),
    );
    println!("{summary}\n");
    let mut lines = vec![summary];
    lines.extend(against_pgbench(&http));
    let all_ran = http.pgbench.iter().all(Result::is_ok);
    Ok((lines, all_ran))
}

/// pgbench's runs and taem's windows against them: the median window against
/// the median run, and each window against the runs on either side of it.
fn against_pgbench(http: &HttpRun) -> Vec<String> {
    let mut lines = Vec::new();
    let mut tps = Vec::new();
    for run in &http.pgbench {
        match run {
            Ok((rate, line)) => {
                tps.push(Some(*rate));
                lines.push(line.clone());
            }
            Err(e) => {
                tps.push(None);
                lines.push(format!("pgbench  failed: {e:#}"));
            }
        }
    }
    let done: Vec<f64> = tps.iter().flatten().copied().collect();
    if done.is_empty() {
        return lines;
    }
    let pct = |taem: f64, pg: f64| format!("{:.0} %", 100.0 * taem / pg.max(1e-9));
    let median_tps = median(done.clone());
    lines.push(format!(
        "pgbench  TPC-B: median of {} runs {} transactions/s",
        done.len(),
        thousands(median_tps)
    ));
    let windows: Vec<String> = (http.rounds.iter().enumerate())
        .map(|(i, w)| {
            let side = |run: Option<&Option<f64>>| {
                run.copied()
                    .flatten()
                    .map_or("-".into(), |pg| pct(w.rate(), pg))
            };
            format!("{} and {}", side(tps.get(i)), side(tps.get(i + 1)))
        })
        .collect();
    lines.push(format!(
        "postgres http against pgbench: {} (median against median); each window against the runs before and after it: {}",
        pct(http.rate(), median_tps),
        windows.join("; ")
    ));
    lines
}

/// What `pgbench` (TPC-B, prepared statements) does on the same server with as
/// many clients, on a fresh database of `BENCH_PGBENCH_SCALE` (32): the figure
/// taem's PostgreSQL path is measured against. It runs before each of taem's
/// windows over HTTP and after the last, since this server's rate drifts
/// between runs (by up to a third within a minute); the medians are compared,
/// and each window with the runs on either side of it.
struct Pgbench {
    db: BenchDb,
    scale: u32,
}

impl Pgbench {
    /// The database, initialised; `None` without `pgbench` on the PATH.
    async fn start(opts: &Options) -> anyhow::Result<Option<Pgbench>> {
        if Command::new("pgbench").arg("--version").output().is_err() {
            println!("[pgbench] not on the PATH: skipped");
            return Ok(None);
        }
        let scale: u32 = env_or("BENCH_PGBENCH_SCALE", 32)?;
        if scale == 0 {
            println!("[pgbench] BENCH_PGBENCH_SCALE=0: skipped");
            return Ok(None);
        }
        let db = BenchDb::create(Backend::Postgres, opts).await?;
        let init = Command::new("pgbench")
            .args(["-i", "-q", "-s", &scale.to_string(), &db.url])
            .output()
            .context("pgbench -i")
            .and_then(|out| {
                if out.status.success() {
                    return Ok(());
                }
                bail!("pgbench -i: {}", String::from_utf8_lossy(&out.stderr))
            });
        if let Err(e) = init {
            db.remove().await;
            return Err(e);
        }
        // Each run checkpoints first: the initialisation's hundreds of
        // megabytes are not flushed during the phase after it.
        Ok(Some(Pgbench { db, scale }))
    }

    /// One run of `opts.duration` after a warm-up as long as taem's: its
    /// transactions a second, and its line. A checkpoint between the warm-up
    /// and the run and another after it, so that neither this run nor the
    /// phase after it flushes what the one before wrote.
    async fn run(&self, opts: &Options, which: &str) -> anyhow::Result<(f64, String)> {
        println!(
            "[pgbench] TPC-B {which}, prepared, {} clients, {:.1} s (+{:.0} s warm-up), scale {}",
            opts.connections,
            opts.duration.as_secs_f64(),
            opts.warmup.as_secs_f64().ceil(),
            self.scale
        );
        if !opts.warmup.is_zero() {
            self.pgbench(opts, opts.warmup.as_secs_f64().ceil() as u64)?;
        }
        checkpoint(&self.db.url).await;
        let text = self.pgbench(opts, opts.duration.as_secs().max(1));
        checkpoint(&self.db.url).await;
        let text = text?;
        let field = |prefix: &str| {
            text.lines()
                .find_map(|l| l.trim().strip_prefix(prefix))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<f64>().ok())
        };
        let tps = field("tps = ").context("pgbench printed no tps")?;
        let latency = field("latency average = ");
        let line = format!(
            "pgbench  TPC-B {which}: {} transactions/s  latency avg {} (prepared, {} clients, scale {})",
            thousands(tps),
            latency.map_or_else(|| "-".into(), |l| format!("{l:.1} ms")),
            opts.connections,
            self.scale
        );
        println!("{line}\n");
        Ok((tps, line))
    }

    /// `pgbench` for `secs` seconds: what it printed.
    fn pgbench(&self, opts: &Options, secs: u64) -> anyhow::Result<String> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let out = Command::new("pgbench")
            .args([
                "-M",
                "prepared",
                "-c",
                &opts.connections.to_string(),
                "-j",
                &threads.min(opts.connections).to_string(),
                "-T",
                &secs.to_string(),
                &self.db.url,
            ])
            .output()
            .context("pgbench")?;
        if !out.status.success() {
            bail!("pgbench: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).to_string())
    }

    async fn remove(self) {
        self.db.remove().await;
    }
}

/// Flushes the server's dirty buffers (the bench's user may lack the right:
/// then it says so and goes on).
async fn checkpoint(url: &str) {
    let flushed = async {
        let mut conn = sqlx::PgConnection::connect(url).await?;
        sqlx::raw_sql("CHECKPOINT").execute(&mut conn).await
    };
    if let Err(e) = flushed.await {
        println!("[pgbench] no CHECKPOINT: {e}");
    }
}

/// taem's PostgreSQL phases, pgbench's runs between the HTTP phase's
/// windows: the summary's lines, and whether all of it ran.
async fn postgres_beside_pgbench(opts: &Options) -> (Vec<String>, bool) {
    let mut ok = true;
    let pgbench = Pgbench::start(opts).await.unwrap_or_else(|e| {
        eprintln!("error: pgbench: {e:#}");
        ok = false;
        None
    });
    let lines = match bench_backend(Backend::Postgres, opts, pgbench.as_ref()).await {
        Ok((lines, all_ran)) => {
            ok &= all_ran;
            lines
        }
        Err(e) => {
            eprintln!("error: postgres: {e:#}");
            ok = false;
            Vec::new()
        }
    };
    if let Some(pg) = pgbench {
        pg.remove().await;
    }
    (lines, ok)
}

fn main() -> ExitCode {
    let opts = match parse_options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let mut backends = vec![Backend::Sqlite];
        if opts.postgres.is_some() {
            backends.push(Backend::Postgres);
        }
        backends.retain(|b| opts.only.is_none_or(|o| o == *b));
        let mut summaries = Vec::new();
        let mut failed = false;
        for backend in backends {
            if backend == Backend::Postgres {
                let (lines, ok) = postgres_beside_pgbench(&opts).await;
                summaries.extend(lines);
                failed |= !ok;
            } else {
                match bench_backend(backend, &opts, None).await {
                    Ok((lines, _)) => summaries.extend(lines),
                    Err(e) => {
                        eprintln!("error: {e:#}");
                        failed = true;
                    }
                }
            }
            if opts.operations {
                println!("[{}] redemptions, refunds, claims (store)", backend.name());
                match operations_phase(backend, &opts).await {
                    Ok(lines) => summaries.extend(lines),
                    Err(e) => {
                        eprintln!("error: {e:#}");
                        failed = true;
                    }
                }
            }
        }
        println!(
            "summary ({} connections, {:.0} s, {} members, {} cores{}):",
            opts.connections,
            opts.duration.as_secs_f64(),
            opts.members,
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            if opts.campaigns {
                ", a budgeted x2 campaign and a SKU bonus running"
            } else {
                ""
            }
        );
        for s in &summaries {
            println!("{s}");
        }
        if failed {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        }
    })
}
