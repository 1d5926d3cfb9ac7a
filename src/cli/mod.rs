//! The `taem` command line: runs the server and administers a live program. Every
//! command works while `taem serve` runs on the same database, and every command
//! that prints data takes `--json`.

use std::io::Read;
use std::process::ExitCode;

use anyhow::{Context, bail};
use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use clap::{Args, Parser, Subcommand};
use serde::Serialize;

use crate::app::{Application, shutdown_signal};
use crate::config::{Settings, redact_url};
use crate::domain::model::*;
use crate::domain::time::now;
use crate::domain::{MemberCode, Money, VoucherCode};
use crate::http::signature;
use crate::service::{Loyalty, ServiceError, qr};
use crate::store;

mod admin;
mod campaign;
mod chat;
mod journey;
mod line;
mod logging;
mod partner;
mod render;
mod report;
mod staff;
mod webhook;

#[derive(Parser)]
#[command(
    name = "taem",
    version,
    about = "taem (แต้ม): loyalty points through Telegram, LINE and a signed merchant webhook",
    long_about = "taem (แต้ม): loyalty points through Telegram, LINE and a signed merchant webhook.\n\n\
        Configuration comes from the environment (and .env): DATABASE_URL (default sqlite://taem.db), \
        TAEM_HTTP_ADDR (default 127.0.0.1:8080), TAEM_TIMEZONE (default Asia/Bangkok), \
        TAEM_DEFAULT_LOCALE (default th). See .env.example."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (merchant webhook, health checks) and the expiry sweep.
    Serve,
    /// Apply database migrations and exit (serve also applies them at start).
    Migrate,
    /// A consistent copy of the SQLite database in FILE (a new file), taken
    /// while `taem serve` runs. For PostgreSQL use pg_dump.
    Backup { file: std::path::PathBuf },
    /// Reads the whole ledger against itself (balances, entries, lots, store
    /// credit, purchases' points, vouchers); exits non-zero naming what does
    /// not add up. Safe on a live database.
    Check(JsonFlag),
    /// Program-wide settings: point expiry and pending period.
    #[command(subcommand)]
    Program(ProgramCmd),
    /// Campaigns: double points days, product bonuses, first-purchase gifts.
    #[command(subcommand)]
    Campaign(campaign::CampaignCmd),
    /// Journeys taem serve runs by itself: welcome, birthday, win-back, near a reward.
    #[command(subcommand)]
    Journey(journey::JourneyCmd),
    /// Audiences: who an offer would reach, counted.
    #[command(subcommand)]
    Audience(journey::AudienceCmd),
    /// Partners: shops sharing the programme, and what one of their points is worth.
    #[command(subcommand)]
    Partner(partner::PartnerCmd),
    /// Settlement between partners: a month's statement, shown and closed.
    #[command(subcommand)]
    Settlement(partner::SettlementCmd),
    /// Tiers (Member, Silver, Gold, VIP): thresholds and earn multipliers.
    #[command(subcommand)]
    Tier(campaign::TierCmd),
    /// Merchants (shops, branches, partner brands) that post purchases.
    #[command(subcommand)]
    Merchant(MerchantCmd),
    /// The reward catalogue.
    #[command(subcommand)]
    Reward(RewardCmd),
    /// Members (customers).
    #[command(subcommand)]
    Member(MemberCmd),
    /// Manual point corrections.
    #[command(subcommand)]
    Points(PointsCmd),
    /// Vouchers issued on redemption.
    #[command(subcommand)]
    Voucher(VoucherCmd),
    /// Helpers for the merchant webhook.
    #[command(subcommand)]
    Webhook(WebhookCmd),
    /// Expire points and vouchers past their expiry now (serve runs this every 10 minutes).
    Expire(JsonFlag),
    /// LINE Official Account: the rich menu, the monthly message quota.
    #[command(subcommand)]
    Line(line::LineCmd),
    /// The people who use the console: owners, managers, cashiers.
    #[command(subcommand)]
    Staff(staff::StaffCmd),
    /// What people changed, and when (owners read it in the console too).
    #[command(subcommand)]
    Audit(staff::AuditCmd),
    /// The programme's figures: points over time (more to come).
    #[command(subcommand)]
    Report(report::ReportCmd),
    /// Customers' data (PDPA): the retention sweep.
    #[command(subcommand)]
    Privacy(PrivacyCmd),
    /// Chat as a customer in the terminal: the same conversation as Telegram and LINE.
    Chat {
        /// Act as this member (default: join as a new member).
        #[arg(long)]
        member: Option<String>,
        /// The language the customer's app uses (th or en); their stored choice wins.
        #[arg(long)]
        lang: Option<String>,
    },
}

#[derive(Args, Clone, Copy)]
struct JsonFlag {
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum ProgramCmd {
    /// Show the program settings.
    Show(JsonFlag),
    /// Change the program settings (a running server applies them from the next purchase on).
    Set(Box<ProgramSet>),
}

#[derive(Args)]
struct ProgramSet {
    #[arg(long)]
    name: Option<String>,
    /// Months until earned points expire (at the end of that local day).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=120))]
    expiry_months: Option<u32>,
    /// Days before earned points can be spent.
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=365))]
    pending_days: Option<u32>,
    /// Currency of tier thresholds and minimum spends (ISO 4217).
    #[arg(long)]
    currency: Option<String>,
    /// Points for the member who invited a friend, paid on the friend's
    /// first qualifying purchase.
    #[arg(long)]
    referrer_points: Option<i64>,
    /// Points for the invited friend on that purchase.
    #[arg(long)]
    referee_points: Option<i64>,
    /// The smallest first purchase that pays a referral.
    #[arg(long)]
    referral_min_spend: Option<String>,
    /// Hours after which an unused console session ends (default 12).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=720))]
    session_idle_hours: Option<u32>,
    /// What points are worth when paying at the till, e.g. 4:1 (4 points pay
    /// 1 of the currency), or off.
    #[arg(long)]
    pay_rate: Option<String>,
    /// The fewest points a payment with points takes.
    #[arg(long)]
    pay_min_points: Option<i64>,
    /// Minutes a payment's points stay held before they go back.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=60))]
    pay_hold_minutes: Option<u32>,
    /// Whether the part of a bill paid with points earns points (default false).
    #[arg(long)]
    pay_earns: Option<bool>,
    /// What one point is worth in reports (e.g. 0.25), or auto: what
    /// redeemed points bought on average.
    #[arg(long)]
    point_value: Option<String>,
    /// Breakage (percent of points never redeemed) to use instead of the
    /// estimate, or auto.
    #[arg(long)]
    breakage: Option<String>,
    /// The gross margin on sales in percent, for campaign ROI, or none.
    #[arg(long)]
    gross_margin: Option<String>,
    /// The A/B/C cut points in percent of members' sales (default 80,95).
    #[arg(long)]
    abc: Option<String>,
    /// Where the privacy notice is published (https://…); "" for none.
    #[arg(long)]
    privacy_url: Option<String>,
    /// The privacy notice (or its summary) in Thai, shown at joining and by
    /// /privacy; "" for none.
    #[arg(long)]
    privacy_th: Option<String>,
    /// The same in English.
    #[arg(long)]
    privacy_en: Option<String>,
    /// Months without activity after which a member is anonymised (1 to
    /// 240), or off (the default).
    #[arg(long)]
    retention_months: Option<String>,
    #[command(flatten)]
    out: JsonFlag,
}

#[derive(Subcommand)]
enum MerchantCmd {
    /// Create a merchant; prints its id and webhook secret (shown only this once).
    Add {
        #[arg(long)]
        name: String,
        /// ISO 4217 currency of its purchases.
        #[arg(long, default_value = "THB")]
        currency: String,
        /// Earn rate as POINTS:AMOUNT, e.g. 1:25 = 1 point per 25 THB.
        #[arg(long, default_value = "1:25")]
        earn: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// List merchants (without their secrets).
    List(JsonFlag),
    /// Give a merchant a new webhook secret (shown only this once). The old
    /// secret is still accepted for the grace period, then refused.
    RotateSecret {
        id: String,
        /// Hours the old secret is still accepted (0: refused at once).
        #[arg(long, default_value_t = 24)]
        grace_hours: u32,
        #[command(flatten)]
        out: JsonFlag,
    },
}

#[derive(Subcommand)]
enum RewardCmd {
    /// Add a reward to the catalogue.
    Add(Box<RewardArgs>),
    /// List rewards (active ones unless --all).
    List {
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Stop offering a reward (issued vouchers stay valid).
    Disable {
        id: i64,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Offer a disabled reward again.
    Enable {
        id: i64,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Redeem a reward for a member (as the chat would); prints the voucher.
    Redeem {
        member_code: String,
        reward_id: i64,
        /// Also write the voucher's QR code to this PNG file.
        #[arg(long)]
        qr: Option<std::path::PathBuf>,
        #[command(flatten)]
        out: JsonFlag,
    },
}

#[derive(Args)]
struct RewardArgs {
    /// Name in Thai.
    #[arg(long)]
    name_th: String,
    /// Name in English.
    #[arg(long)]
    name_en: String,
    #[arg(long, default_value = "")]
    description_th: String,
    #[arg(long, default_value = "")]
    description_en: String,
    /// Points it costs.
    #[arg(long)]
    cost: i64,
    /// Vouchers available in all (unlimited when absent).
    #[arg(long)]
    stock: Option<i64>,
    /// Vouchers one member may redeem (unlimited when absent).
    #[arg(long)]
    limit: Option<i64>,
    /// Offered from (RFC 3339 or YYYY-MM-DD, local time).
    #[arg(long)]
    from: Option<String>,
    /// Offered until (RFC 3339 or YYYY-MM-DD, local time, exclusive).
    #[arg(long)]
    until: Option<String>,
    /// What the reward is worth to the customer, for cost reports.
    #[arg(long, default_value = "0")]
    face_value: String,
    #[arg(long, default_value = "THB")]
    currency: String,
    /// Days a voucher stays valid after redemption.
    #[arg(long, default_value_t = 30)]
    voucher_days: u32,
    /// What it gives: product (a free item), fixed_discount (--face-value off
    /// the bill), percent_discount (--percent of the bill), cashback
    /// (--face-value of store credit) or draw_entry.
    #[arg(long, default_value = "product")]
    kind: String,
    /// The free product's SKU at the till.
    #[arg(long)]
    sku: Option<String>,
    /// The smallest bill a discount applies to.
    #[arg(long)]
    min_basket: Option<String>,
    /// A percent discount's share, e.g. 15 or 12.5.
    #[arg(long)]
    percent: Option<String>,
    /// The most a percent discount takes off.
    #[arg(long)]
    cap: Option<String>,
    /// Categories a percent discount is limited to, comma-separated.
    #[arg(long, value_delimiter = ',')]
    categories: Vec<String>,
    /// The partner (a merchant id) whose reward it is: only its staff and
    /// signed API take its vouchers.
    #[arg(long)]
    partner: Option<String>,
    #[command(flatten)]
    out: JsonFlag,
}

#[derive(Subcommand)]
enum MemberCmd {
    /// Create a member; prints the member code.
    Add {
        #[arg(long)]
        name: Option<String>,
        /// Preferred language (th or en).
        #[arg(long)]
        lang: Option<String>,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Balance, lots with expiry, vouchers and the last entries of a member.
    Show {
        #[arg(required_unless_present_any = ["telegram", "line"])]
        member_code: Option<String>,
        #[arg(long, conflicts_with_all = ["member_code", "line"])]
        telegram: Option<i64>,
        #[arg(long, conflicts_with_all = ["member_code", "telegram"])]
        line: Option<String>,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Everything taem holds about a member, as JSON (PDPA s.30-31): to
    /// stdout, or to --out FILE. Recorded in the audit log.
    Export {
        member_code: String,
        /// Write the file here instead of to stdout.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// Erase a member's personal data (PDPA s.33): their points, vouchers and
    /// store credit are forfeited with ledger entries that say so, and an
    /// anonymous stub keeps the ledger true. Recorded in the audit log.
    Erase {
        member_code: String,
        /// Why (kept in the audit log).
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        out: JsonFlag,
    },
}

#[derive(Subcommand)]
enum PrivacyCmd {
    /// Anonymise the members with no activity for the programme's retention
    /// period (taem program set --retention-months N); serve runs it daily.
    Sweep(JsonFlag),
}

#[derive(Subcommand)]
enum PointsCmd {
    /// Add (+N) or remove (-N) points, with a reason kept in the ledger.
    Adjust {
        member_code: String,
        /// +N or -N.
        #[arg(allow_hyphen_values = true)]
        points: String,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        out: JsonFlag,
    },
}

#[derive(Subcommand)]
enum VoucherCmd {
    /// Show a voucher.
    Show {
        code: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Write a voucher's QR code as a PNG.
    Qr {
        code: String,
        /// Output file.
        #[arg(long, short)]
        out: std::path::PathBuf,
    },
}

#[derive(Subcommand)]
enum WebhookCmd {
    /// Print the headers that sign FILE (or - for stdin) for a merchant, ready for curl.
    ///
    /// With --path the signature (v2) covers the method, the path and the body, and
    /// is valid for that request only. Without it, the body-only v1 signature of
    /// earlier versions is printed (accepted for purchases and refunds while
    /// integrations move to v2).
    Sign {
        #[arg(long)]
        merchant: String,
        #[arg(long, env = "TAEM_WEBHOOK_SECRET", hide_env_values = true)]
        secret: String,
        /// The request's method.
        #[arg(long, default_value = "POST")]
        method: String,
        /// The request's path, e.g. /v1/purchases or /v1/vouchers/ABCDE23456/use.
        #[arg(long)]
        path: Option<String>,
        file: String,
        #[command(flatten)]
        out: JsonFlag,
    },
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // `.env` first: it may set how taem logs, and everything else.
    if let Err(e) = dotenvy::dotenv()
        && !e.not_found()
    {
        eprintln!("error: .env: {e}");
        return ExitCode::from(2);
    }
    // The terminal chat shares the terminal with the conversation: warnings only.
    let default = if matches!(cli.command, Command::Chat { .. }) {
        "warn"
    } else {
        "info,sqlx=warn"
    };
    if let Err(e) = logging::init(default) {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn print<T: Serialize>(out: JsonFlag, value: &T, text: impl FnOnce() -> String) {
    if out.json {
        println!(
            "{}",
            serde_json::to_string_pretty(value).expect("serializable")
        );
    } else {
        print!("{}", text());
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    // `webhook sign` needs no database or configuration.
    if let Command::Webhook(WebhookCmd::Sign {
        merchant,
        secret,
        method,
        path,
        file,
        out,
    }) = &cli.command
    {
        return webhook::sign(merchant, secret, method, path.as_deref(), file, *out);
    }
    let settings = Settings::from_env().context("configuration")?;
    tracing::debug!(?settings, "settings");
    if let Command::Serve = cli.command {
        return serve(&settings).await;
    }
    let store = store::connect(&settings.database_url)
        .await
        .with_context(|| format!("opening {}", redact_url(&settings.database_url)))?;
    let mut loyalty = Loyalty::new(store.clone(), settings.timezone);
    // Broadcasts are checked against LINE's quota, as in `taem serve`.
    if let Some(l) = &settings.line {
        loyalty = loyalty.with_line_quota(std::sync::Arc::new(line::client(l)));
    }
    // Reports read from the replica when there is one.
    if let (Some(url), Command::Report(_)) = (&settings.replica_url, &cli.command) {
        loyalty = loyalty.with_reader(crate::app::open_replica(url).await?);
    }
    let tz = settings.timezone;
    match cli.command {
        Command::Serve | Command::Webhook(_) => unreachable!("handled above"),
        Command::Migrate => {
            println!(
                "migrations applied ({})",
                redact_url(&settings.database_url)
            );
        }
        Command::Backup { file } => {
            let path = file.to_string_lossy().to_string();
            loyalty.backup(&path).await.map_err(friendly)?;
            let bytes = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
            println!("copied to {path} ({bytes} bytes)");
        }
        Command::Check(out) => admin::check(&loyalty, out).await?,
        Command::Program(cmd) => admin::program(&loyalty, cmd).await?,
        Command::Staff(cmd) => staff::staff(&loyalty, &settings, cmd).await?,
        Command::Audit(cmd) => staff::audit(&loyalty, cmd).await?,
        Command::Report(cmd) => report::report(&loyalty, cmd).await?,
        Command::Privacy(PrivacyCmd::Sweep(out)) => admin::privacy_sweep(&loyalty, out).await?,
        Command::Merchant(cmd) => admin::merchant(&loyalty, cmd).await?,
        Command::Campaign(cmd) => campaign::campaign(&loyalty, cmd, tz).await?,
        Command::Tier(cmd) => campaign::tier(&loyalty, cmd).await?,
        Command::Journey(cmd) => journey::journey(&loyalty, cmd).await?,
        Command::Audience(cmd) => journey::audience(&loyalty, cmd).await?,
        Command::Partner(cmd) => partner::partner(&loyalty, cmd).await?,
        Command::Settlement(cmd) => partner::settlement(&loyalty, cmd).await?,
        Command::Reward(cmd) => admin::reward(&loyalty, cmd, tz).await?,
        Command::Member(cmd) => admin::member(&loyalty, cmd, tz).await?,
        Command::Points(PointsCmd::Adjust {
            member_code,
            points,
            reason,
            out,
        }) => {
            let m = find_member(&loyalty, &member_code).await?;
            let delta: i64 = points
                .trim_start_matches('+')
                .parse()
                .with_context(|| format!("{points:?} is not +N or -N"))?;
            let entry = loyalty
                .adjust(m.id, delta, &reason, now())
                .await
                .map_err(friendly)?;
            print(out, &entry, || {
                format!(
                    "{} {:+} points ({}); balance {}\n",
                    m.code,
                    entry.points.value(),
                    reason,
                    entry.balance_after
                )
            });
        }
        Command::Voucher(VoucherCmd::Show { code, out }) => {
            let v = loyalty
                .voucher(&parse_voucher(&code)?)
                .await
                .map_err(friendly)?;
            print(out, &v, || render::voucher(&v, tz));
        }
        Command::Voucher(VoucherCmd::Qr { code, out }) => {
            let v = loyalty
                .voucher(&parse_voucher(&code)?)
                .await
                .map_err(friendly)?;
            write_qr(&v.code, &out)?;
            println!("wrote {}", out.display());
        }
        Command::Line(cmd) => line::line(&loyalty, &settings, cmd).await?,
        Command::Chat { member, lang } => {
            let lang = lang
                .as_deref()
                .map(|l| {
                    crate::i18n::Locale::parse(l)
                        .with_context(|| format!("--lang {l:?}: use th or en"))
                })
                .transpose()?;
            if let Some(code) = &member {
                find_member(&loyalty, code).await?;
            }
            let i18n = std::sync::Arc::new(crate::i18n::I18n::load().map_err(anyhow::Error::msg)?);
            let conv = std::sync::Arc::new(crate::chat::Conversation::new(
                std::sync::Arc::new(loyalty),
                i18n,
                settings.default_locale,
            ));
            chat::run(conv, member, lang).await?;
        }
        Command::Expire(out) => {
            let sweep = loyalty.expire_due(now()).await.map_err(friendly)?;
            print(out, &sweep, || {
                format!(
                    "expired {} points in {} lots; {} vouchers expired, {} points given back\n",
                    sweep.points_expired,
                    sweep.lots_expired,
                    sweep.vouchers_expired,
                    sweep.points_released
                )
            });
        }
    }
    Ok(())
}

async fn serve(settings: &Settings) -> anyhow::Result<()> {
    let app = Application::start(settings).await?;
    tracing::info!(
        addr = %app.addr,
        database = app.store.backend(),
        "taem is serving; press Ctrl-C to stop"
    );
    shutdown_signal().await;
    tracing::info!("shutting down: finishing requests in flight");
    app.shutdown().await?;
    tracing::info!("stopped");
    Ok(())
}

/// Turns a service error into a message for the person at the terminal.
fn friendly(e: ServiceError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

fn parse_voucher(code: &str) -> anyhow::Result<VoucherCode> {
    VoucherCode::parse(code).with_context(|| format!("{code:?} is not a voucher code"))
}

async fn find_member(loyalty: &Loyalty, code: &str) -> anyhow::Result<Member> {
    let code = MemberCode::parse(code).with_context(|| format!("{code:?} is not a member code"))?;
    loyalty
        .member(&MemberRef::Code(code.clone()))
        .await
        .map_err(|e| match e {
            ServiceError::NotFound(_) => anyhow::anyhow!("no member has the code {code}"),
            e => friendly(e),
        })
}

fn write_qr(text: &str, path: &std::path::Path) -> anyhow::Result<()> {
    let png = qr::png(text, 512)?;
    std::fs::write(path, png).with_context(|| format!("writing {}", path.display()))
}

/// A date or RFC 3339 instant from the command line; dates are local midnight.
fn parse_instant(s: &str, tz: chrono_tz::Tz) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .with_context(|| format!("{s:?} is neither YYYY-MM-DD nor an RFC 3339 time"))?;
    tz.from_local_datetime(&d.and_time(NaiveTime::MIN))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .with_context(|| format!("{s} has no midnight in {tz}"))
}
