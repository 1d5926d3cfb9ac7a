//! Broadcast benchmark: a campaign announcement to 10,000 members through the
//! real push worker (`taem serve`'s `Application`, in process) to fake Telegram
//! and LINE APIs on loopback, which count every request. It reports the
//! Telegram send rate achieved against the configured limit (overall, and the
//! busiest second), LINE multicast chunks, and duplicates. It reports; it never
//! judges (see `docs/PERFORMANCE.md`).
//!
//! ```sh
//! cargo bench --bench broadcast                         # SQLite, 10,000 members, 25/s
//! cargo bench --bench broadcast -- --rate 500           # a higher limit (paid broadcasts)
//! BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:55432/postgres cargo bench --bench broadcast
//! ```
//!
//! Options: `--members N` (10,000), `--rate N` (Telegram messages/s, 25),
//! `--line-share P` (percent of members on LINE instead of Telegram, 50).

#[allow(dead_code)]
#[path = "../tests/it/common/fake_line.rs"]
mod fake_line;
#[allow(dead_code)]
#[path = "../tests/it/common/fake_telegram.rs"]
mod fake_telegram;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sqlx::Connection;
use taem::app::Application;
use taem::config::Settings;
use taem::domain::model::NewMember;
use taem::domain::time::now;
use taem::service::Loyalty;
use taem::service::campaigns::CampaignInput;
use taem::store;

struct Options {
    members: usize,
    rate: u32,
    line_share: usize,
    postgres: Option<String>,
}

fn options() -> anyhow::Result<Options> {
    let mut o = Options {
        members: 10_000,
        rate: 25,
        line_share: 50,
        postgres: std::env::var("BENCH_POSTGRES_URL")
            .ok()
            .filter(|v| !v.trim().is_empty()),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--bench" => {}
            "--members" => o.members = value()?.parse()?,
            "--rate" => o.rate = value()?.parse()?,
            "--line-share" => o.line_share = value()?.parse()?,
            other => {
                bail!("unknown argument {other:?}; use --members N, --rate N, --line-share PERCENT")
            }
        }
    }
    if o.members == 0 || o.rate == 0 || o.line_share > 100 {
        bail!("members and rate must be positive, line-share at most 100");
    }
    Ok(o)
}

/// The most sends that started within any one second.
fn busiest_second(times: &[Instant]) -> usize {
    let mut best = 0;
    let mut start = 0;
    for end in 0..times.len() {
        while times[end] - times[start] >= Duration::from_secs(1) {
            start += 1;
        }
        best = best.max(end - start + 1);
    }
    best
}

async fn run(o: &Options, backend: &str, url: &str) -> anyhow::Result<String> {
    let (tg, tg_url) = fake_telegram::FakeTelegram::start().await;
    let (line, line_url) = fake_line::FakeLine::start("th").await;
    // Members first, through the library.
    let store = store::connect(url).await.context("open store")?;
    let set_up = Instant::now();
    let line_every = if o.line_share == 0 {
        usize::MAX
    } else {
        100 / o.line_share.max(1)
    };
    for i in 0..o.members {
        let on_line = o.line_share == 100 || (line_every != usize::MAX && i % line_every == 0);
        let m = NewMember {
            name: None,
            locale: Some(if i % 3 == 0 { "en" } else { "th" }.into()),
            telegram_id: (!on_line).then_some(1_000_000 + i as i64),
            line_id: on_line.then(|| format!("U{i:032x}")),
            ..NewMember::default()
        };
        store.add_member(&m, now()).await.context("add member")?;
    }
    let loyalty = Loyalty::new(store.clone(), chrono_tz::Asia::Bangkok);
    let input = CampaignInput {
        name_th: "แต้มคูณสอง".into(),
        name_en: "Double points".into(),
        text_th: "สุดสัปดาห์นี้ รับแต้ม 2 เท่า".into(),
        text_en: "Double points this weekend".into(),
        kind: "multiplier".into(),
        multiplier: Some("2".into()),
        starts_at: now().to_rfc3339(),
        ends_at: (now() + chrono::Duration::days(2)).to_rfc3339(),
        ..Default::default()
    };
    let campaign = loyalty.add_campaign(&input, now()).await?.id;
    drop(loyalty);
    drop(store);
    eprintln!(
        "[{backend}] {} members set up in {:.1} s",
        o.members,
        set_up.elapsed().as_secs_f64()
    );

    let rate = o.rate.to_string();
    let env = [
        ("DATABASE_URL", url.to_string()),
        ("TAEM_HTTP_ADDR", "127.0.0.1:0".to_string()),
        ("TELEGRAM_BOT_TOKEN", fake_telegram::TOKEN.to_string()),
        ("TELEGRAM_API_URL", tg_url),
        ("LINE_CHANNEL_SECRET", fake_line::SECRET.to_string()),
        ("LINE_CHANNEL_ACCESS_TOKEN", fake_line::TOKEN.to_string()),
        ("LINE_API_URL", line_url),
        ("TAEM_TELEGRAM_RATE", rate),
        ("TAEM_QUIET_HOURS", "off".to_string()),
    ];
    let settings =
        Settings::from_lookup(|k| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()))?;
    let app = Application::start(&settings).await?;
    let loyalty = Loyalty::new(app.store.clone(), chrono_tz::Asia::Bangkok);
    let started = Instant::now();
    let (queued, _) = loyalty.broadcast(campaign, false, now()).await?;
    eprintln!(
        "[{backend}] broadcast: {queued} messages queued; limit {} Telegram messages/s",
        o.rate
    );
    let mut last_report = Instant::now();
    let status = loop {
        let s = app.store.broadcast_status(campaign).await?;
        if s.queued == 0 {
            break s;
        }
        if last_report.elapsed() > Duration::from_secs(10) {
            eprintln!("[{backend}]   {} of {} done", s.done(), s.total());
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let took = started.elapsed();
    app.shutdown().await?;

    let mut times: Vec<Instant> = tg.delivered().iter().map(|c| c.at).collect();
    times.sort();
    let mut per_chat = std::collections::HashMap::new();
    for c in tg.delivered() {
        *per_chat.entry(c.chat_id()).or_insert(0usize) += 1;
    }
    let tg_dupes: usize = per_chat.values().map(|n| n - 1).sum();
    let achieved = match (times.first(), times.last()) {
        (Some(a), Some(b)) if times.len() > 1 => (times.len() - 1) as f64 / (*b - *a).as_secs_f64(),
        _ => 0.0,
    };
    let multicasts: Vec<_> = line
        .calls()
        .into_iter()
        .filter(|c| c.kind == "multicast")
        .collect();
    let line_recipients: usize = line.deliveries().values().sum();
    let line_dupes: usize = line.deliveries().values().map(|n| n - 1).sum();
    Ok(format!(
        "{backend:<8} telegram: {} sent at {:.1}/s (limit {}/s, busiest second {}), duplicates {} | \
         line: {} recipients in {} multicasts, duplicates {} | total {:.1} s, sent {}, failed {}",
        times.len(),
        achieved,
        o.rate,
        busiest_second(&times),
        tg_dupes,
        line_recipients,
        multicasts.len(),
        line_dupes,
        took.as_secs_f64(),
        status.sent,
        status.failed,
    ))
}

async fn postgres_db(base: &str) -> anyhow::Result<(String, String)> {
    let name = format!(
        "taem_bench_{}",
        rand::random_range(100_000_000u64..999_999_999)
    );
    let mut admin = sqlx::PgConnection::connect(base).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await?;
    let (prefix, _) = base.rsplit_once('/').context("URL with a database name")?;
    Ok((format!("{prefix}/{name}"), name))
}

async fn main_async(o: Options) -> anyhow::Result<()> {
    let mut lines = Vec::new();
    let dir = tempfile::tempdir()?;
    let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
    lines.push(run(&o, "sqlite", &sqlite).await?);
    println!("{}", lines.last().expect("one"));
    if let Some(base) = &o.postgres {
        let (url, name) = postgres_db(base).await?;
        let result = run(&o, "postgres", &url).await;
        let mut admin = sqlx::PgConnection::connect(base).await?;
        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut admin)
        .await;
        lines.push(result?);
        println!("{}", lines.last().expect("one"));
    }
    println!(
        "\nsummary ({} members, {}% on LINE, Telegram limit {}/s, {} cores):",
        o.members,
        o.line_share,
        o.rate,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    for l in &lines {
        println!("{l}");
    }
    Ok(())
}

fn main() -> ExitCode {
    let o = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    match runtime.block_on(main_async(o)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
