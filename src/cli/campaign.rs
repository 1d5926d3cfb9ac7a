//! `taem campaign ...` and `taem tier ...`: earning rules administration.

use std::fmt::Write;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use clap::{Args, Subcommand};

use super::{JsonFlag, friendly, print};
use crate::domain::Money;
use crate::domain::campaign::{Campaign, ItemMatch, Rule};
use crate::domain::earn::display_multiplier;
use crate::domain::model::TierChange;
use crate::domain::notice::BroadcastStatus;
use crate::domain::tier::Tiers;
use crate::domain::time::now;
use crate::service::campaigns::{CampaignInput, CampaignReport, parse_time};
use crate::service::{Loyalty, PurchaseItem, PurchaseRequest, ServiceError};

#[derive(Subcommand)]
pub(super) enum CampaignCmd {
    /// Create a campaign (double points days, product bonuses, first-purchase gifts).
    Add(Box<AddArgs>),
    /// List campaigns, newest first, with what each has given.
    List(JsonFlag),
    /// One campaign and its results.
    Show {
        id: i64,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// End a campaign now (purchases made before still get its points).
    End {
        id: i64,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Send a campaign's announcement to every opted-in member, on each chat app
    /// they use. `taem serve` delivers it at the platforms' limits, outside
    /// quiet hours; running it again reaches only members not reached yet.
    ///
    /// With LINE configured, the LINE messages it would send are first checked
    /// against what is left of this month's quota: over it (or when LINE's
    /// quota cannot be read) nothing is queued, unless --force.
    Broadcast {
        id: i64,
        /// Queue it even past LINE's monthly quota: members beyond it get it
        /// when LINE allows again (next month, or after `taem line resume`).
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// A broadcast's progress: queued, sent, failed, unreachable, skipped.
    Status {
        id: i64,
        /// Follow it until nothing is queued.
        #[arg(long)]
        watch: bool,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Show what a purchase would earn, under the campaigns and tiers as they
    /// are, without recording anything.
    Simulate {
        /// The merchant the purchase is made at (may be left out when there is one).
        #[arg(long)]
        merchant: Option<String>,
        /// The purchase amount, e.g. 1250.50.
        #[arg(long)]
        amount: String,
        /// Items: SKU:AMOUNT[:QUANTITY[:CATEGORY]], comma-separated, or a JSON
        /// array as the webhook takes it.
        #[arg(long)]
        items: Option<String>,
        /// When the purchase happens (local date and time, or RFC 3339; default now).
        #[arg(long)]
        at: Option<String>,
        /// Price it for this member (their tier, first purchase, caps).
        #[arg(long)]
        member: Option<String>,
        #[command(flatten)]
        out: JsonFlag,
    },
}

#[derive(Args)]
pub(super) struct AddArgs {
    /// Name in Thai.
    #[arg(long)]
    name_th: String,
    /// Name in English.
    #[arg(long)]
    name_en: String,
    /// Announcement in Thai (sent in broadcasts, shown under Promotions).
    #[arg(long, default_value = "")]
    text_th: String,
    /// Announcement in English.
    #[arg(long, default_value = "")]
    text_en: String,
    /// multiplier, bonus, items or first-purchase.
    #[arg(long)]
    kind: String,
    /// For multiplier and items: 2 for double points, 1.5, ...
    #[arg(long)]
    multiplier: Option<String>,
    /// A multiplier that multiplies everything earned before it (tier and the
    /// best ordinary multiplier included), instead of base points only.
    #[arg(long)]
    stacks: bool,
    /// For bonus and first-purchase: the bonus; for items: points per unit.
    #[arg(long)]
    points: Option<i64>,
    /// For items: the SKU that earns the bonus.
    #[arg(long, conflicts_with = "category")]
    sku: Option<String>,
    /// For items: the category that earns the bonus.
    #[arg(long)]
    category: Option<String>,
    /// Start: a local date (from its midnight), a local date and time, or RFC 3339.
    #[arg(long)]
    starts: String,
    /// End: a local date (through the whole day), a local date and time
    /// (exclusive), or RFC 3339.
    #[arg(long)]
    ends: String,
    /// Only on these days: sat,sun or mon-fri.
    #[arg(long)]
    days: Option<String>,
    /// Only during these local hours: 17-20 is 17:00 to 19:59.
    #[arg(long)]
    hours: Option<String>,
    /// Only at this merchant (repeat for several).
    #[arg(long = "merchant")]
    merchants: Vec<String>,
    /// Only for members in this tier (repeat for several).
    #[arg(long = "tier")]
    tiers: Vec<String>,
    /// Smallest purchase that qualifies, in the program currency.
    #[arg(long)]
    min_spend: Option<String>,
    /// Total bonus points it may give.
    #[arg(long)]
    budget: Option<i64>,
    /// Bonus points one member may get from it.
    #[arg(long)]
    member_cap: Option<i64>,
    /// Hold out this share of members (percent, at most 50) to measure the
    /// campaign's lift: they get neither its bonus nor its announcement.
    #[arg(long)]
    holdout: Option<String>,
    /// Who it is for, as JSON (see the README, "Offers for each customer"):
    /// '{"classes":["A"],"lapsing":{"days":60}}'. Absent: everyone.
    #[arg(long)]
    audience: Option<String>,
    #[command(flatten)]
    out: JsonFlag,
}

#[derive(Subcommand)]
pub(super) enum TierCmd {
    /// The tiers: thresholds on 12-month spend and earn multipliers.
    List(JsonFlag),
    /// Add a tier or change one.
    Set {
        /// Key: lowercase letters, digits and '-' (member, silver, gold, vip).
        key: String,
        /// 12-month spend that reaches it, in the program currency (0 for the lowest).
        #[arg(long)]
        threshold: Option<String>,
        /// Earn multiplier on base points: 1, 1.25, 2.
        #[arg(long)]
        multiplier: Option<String>,
        #[arg(long)]
        name_th: Option<String>,
        #[arg(long)]
        name_en: Option<String>,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Remove a tier (its members count as the lowest tier until a purchase moves
    /// them up to what their spend reaches).
    Remove {
        key: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Run the periodic review now: members who held a tier for a year and no
    /// longer reach it move down (serve runs it daily).
    Review(JsonFlag),
}

pub(super) async fn campaign(loyalty: &Loyalty, cmd: CampaignCmd, tz: Tz) -> anyhow::Result<()> {
    let currency = loyalty.program().await?.currency;
    match cmd {
        CampaignCmd::Add(a) => {
            let input = CampaignInput {
                name_th: a.name_th,
                name_en: a.name_en,
                text_th: a.text_th,
                text_en: a.text_en,
                kind: a.kind.replace('-', "_"),
                multiplier: a.multiplier,
                stacks: a.stacks,
                points: a.points,
                sku: a.sku,
                category: a.category,
                starts_at: a.starts,
                ends_at: a.ends,
                days: a.days,
                hours: a.hours,
                merchants: a.merchants,
                tiers: a.tiers,
                min_spend: a.min_spend,
                budget: a.budget,
                member_cap: a.member_cap,
                holdout: a.holdout,
                audience: a
                    .audience
                    .map(|json| {
                        serde_json::from_str(&json).map_err(|e| {
                            anyhow::anyhow!("--audience is not an audience ({e}): see the README")
                        })
                    })
                    .transpose()?,
            };
            let now = now();
            let c = loyalty.add_campaign(&input, now).await.map_err(friendly)?;
            let report = loyalty.campaign_report(c.id, now).await?;
            print(a.out, &report, || {
                format!("campaign {} created\n{}", c.id, show(&report, tz, currency))
            });
        }
        CampaignCmd::List(out) => {
            let reports = loyalty.campaign_reports(now()).await.map_err(friendly)?;
            print(out, &reports, || list(&reports, tz));
        }
        CampaignCmd::Show { id, out } => {
            let report = loyalty.campaign_report(id, now()).await.map_err(friendly)?;
            print(out, &report, || show(&report, tz, currency));
        }
        CampaignCmd::End { id, out } => {
            let report = loyalty.end_campaign(id, now()).await.map_err(friendly)?;
            print(out, &report, || {
                format!("campaign {id} ended\n{}", show(&report, tz, currency))
            });
        }
        CampaignCmd::Broadcast { id, force, out } => {
            let (queued, status) = loyalty.broadcast(id, force, now()).await.map_err(
                |e| match e {
                    ServiceError::LineQuota(r) => anyhow::anyhow!(
                        "{r}. Nothing was queued. Use --force to send it anyway: members beyond \
                         the quota get it when LINE allows again (next month, or after \
                         taem line resume)"
                    ),
                    e => friendly(e),
                },
            )?;
            #[derive(serde::Serialize)]
            struct Queued {
                queued_now: u64,
                #[serde(flatten)]
                status: BroadcastStatus,
            }
            print(
                out,
                &Queued {
                    queued_now: queued,
                    status,
                },
                || {
                    format!(
                        "campaign {id}: {queued} messages queued now ({} in all); `taem serve` \
                     delivers them. Follow with: taem campaign status {id} --watch\n",
                        status.total()
                    )
                },
            );
        }
        CampaignCmd::Status { id, watch, out } => {
            broadcast_progress(loyalty, id, watch, out).await?;
        }
        CampaignCmd::Simulate {
            merchant,
            amount,
            items,
            at,
            member,
            out,
        } => {
            let m = match merchant {
                Some(id) => loyalty.merchant(&id).await.map_err(friendly)?,
                None => {
                    let mut all = loyalty.merchants().await.map_err(friendly)?;
                    if all.len() != 1 {
                        bail!(
                            "there are {} merchants: choose one with --merchant",
                            all.len()
                        );
                    }
                    all.remove(0)
                }
            };
            let at = match at {
                Some(t) => Some(parse_time("--at", &t, tz, false).map_err(friendly)?),
                None => None,
            };
            let items = items.map(|i| parse_items(&i)).transpose()?;
            let breakdown = loyalty
                .simulate_purchase(
                    &m,
                    PurchaseRequest {
                        receipt_id: "simulation".into(),
                        amount,
                        currency: m.currency.code().into(),
                        member_code: member,
                        occurred_at: at,
                        items,
                    },
                    now(),
                )
                .await
                .map_err(friendly)?;
            #[derive(serde::Serialize)]
            struct Simulation<'a> {
                points: i64,
                breakdown: &'a crate::domain::Breakdown,
            }
            print(
                out,
                &Simulation {
                    points: breakdown.total().value(),
                    breakdown: &breakdown,
                },
                || {
                    let mut s = String::new();
                    for line in &breakdown.0 {
                        let label = match (&line.rule[..], &line.campaign_id, &line.name) {
                            ("campaign", Some(id), Some(n)) => format!("campaign {id} ({n})"),
                            (rule, _, Some(n)) => format!("{rule} ({n})"),
                            (rule, _, None) => rule.to_string(),
                        };
                        let _ = writeln!(s, "{:>8}  {label}", line.points.value());
                    }
                    let _ = writeln!(s, "{:>8}  total", breakdown.total().value());
                    s
                },
            );
        }
    }
    Ok(())
}

fn counts(s: &BroadcastStatus) -> String {
    let held = if s.held > 0 {
        format!(" ({} held for LINE's monthly limit)", s.held)
    } else {
        String::new()
    };
    format!(
        "queued {}{held}, sent {}, failed {}, unreachable {}, skipped {}",
        s.queued, s.sent, s.failed, s.unreachable, s.skipped
    )
}

/// Prints a broadcast's progress: a bar on a terminal, a line otherwise.
async fn broadcast_progress(
    loyalty: &Loyalty,
    id: i64,
    watch: bool,
    out: JsonFlag,
) -> anyhow::Result<()> {
    let mut status = loyalty.broadcast_status(id).await.map_err(friendly)?;
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stdout());
    if out.json || !terminal {
        while watch && status.queued > 0 {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            status = loyalty.broadcast_status(id).await.map_err(friendly)?;
        }
        print(out, &status, || {
            format!("campaign {id}: {}\n", counts(&status))
        });
        return Ok(());
    }
    let bar = indicatif::ProgressBar::new(status.total().max(0) as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
            .expect("valid template"),
    );
    loop {
        bar.set_length(status.total().max(0) as u64);
        bar.set_position(status.done().max(0) as u64);
        bar.set_message(counts(&status));
        if !watch || status.queued == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        status = loyalty.broadcast_status(id).await.map_err(friendly)?;
    }
    bar.finish();
    Ok(())
}

/// `SKU:AMOUNT[:QUANTITY[:CATEGORY]]`, comma-separated, or a JSON array.
fn parse_items(input: &str) -> anyhow::Result<Vec<PurchaseItem>> {
    if input.trim_start().starts_with('[') {
        return serde_json::from_str(input).context("--items is not a JSON array of items");
    }
    input
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|part| {
            let f: Vec<&str> = part.split(':').collect();
            if !(2..=4).contains(&f.len()) {
                bail!("--items: {part:?} is not SKU:AMOUNT[:QUANTITY[:CATEGORY]]");
            }
            Ok(PurchaseItem {
                sku: f[0].to_string(),
                amount: f[1].to_string(),
                quantity: match f.get(2) {
                    Some(q) => q
                        .parse()
                        .with_context(|| format!("--items: {q:?} is not a quantity"))?,
                    None => 1,
                },
                category: f.get(3).map(|c| c.to_string()),
            })
        })
        .collect()
}

fn local(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
}

/// "x2 on base points", "+50 points per purchase", ...
pub(super) fn describe(c: &Campaign) -> String {
    match &c.rule {
        Rule::Multiplier { percent, stacks } => format!(
            "x{} on {}",
            display_multiplier(*percent),
            if *stacks {
                "all points so far"
            } else {
                "base points"
            }
        ),
        Rule::Bonus { points } => format!("+{points} points per purchase"),
        Rule::FirstPurchase { points } => format!("+{points} points on a first purchase"),
        Rule::Items {
            matcher,
            percent,
            points_per_unit,
        } => {
            let what = match matcher {
                ItemMatch::Sku(s) => format!("SKU {s}"),
                ItemMatch::Category(c) => format!("category {c}"),
            };
            let mut parts = Vec::new();
            if let Some(p) = percent {
                parts.push(format!("x{}", display_multiplier(*p)));
            }
            if let Some(p) = points_per_unit {
                parts.push(format!("+{p} points per unit"));
            }
            format!("{} on {what}", parts.join(" and "))
        }
    }
}

fn list(reports: &[CampaignReport], tz: Tz) -> String {
    if reports.is_empty() {
        return "no campaigns yet: taem campaign add --help\n".into();
    }
    let mut s = format!(
        "{:>4} {:<9} {:<16} {:<16} {:>10} {:>10}  NAME / RULE\n",
        "ID", "STATUS", "STARTS", "ENDS", "GIVEN", "BUDGET"
    );
    for r in reports {
        let c = &r.campaign;
        let _ = writeln!(
            s,
            "{:>4} {:<9} {:<16} {:<16} {:>10} {:>10}  {} / {}",
            c.id,
            r.status,
            local(c.window.starts_at, tz),
            local(c.window.ends_at, tz),
            c.awarded,
            c.budget.map_or("-".into(), |b| b.to_string()),
            c.name_en,
            describe(c)
        );
    }
    s
}

fn show(r: &CampaignReport, tz: Tz, currency: crate::domain::Currency) -> String {
    let c = &r.campaign;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "campaign {} ({}): {} / {}",
        c.id, r.status, c.name_th, c.name_en
    );
    let _ = writeln!(s, "  rule:     {}", describe(c));
    let _ = writeln!(
        s,
        "  window:   {} until {} ({tz}){}{}",
        local(c.window.starts_at, tz),
        local(c.window.ends_at, tz),
        if c.window.days.is_empty() {
            String::new()
        } else {
            format!(
                ", on {}",
                c.window
                    .days
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            )
        },
        c.window
            .hours
            .map_or(String::new(), |(a, b)| format!(", {a:02}:00-{b:02}:00"))
    );
    if !c.merchants.is_empty() {
        let _ = writeln!(s, "  merchants: {}", c.merchants.join(", "));
    }
    if !c.tiers.is_empty() {
        let _ = writeln!(s, "  tiers:    {}", c.tiers.join(", "));
    }
    if let Some(m) = c.min_spend_minor {
        let min = Money::from_minor(m, currency).to_decimal_string();
        let _ = writeln!(s, "  minimum spend: {min} {currency}");
    }
    let _ = writeln!(
        s,
        "  budget:   {} given of {}{}",
        c.awarded,
        c.budget.map_or("unlimited".into(), |b| b.to_string()),
        c.member_cap
            .map_or(String::new(), |m| format!(", at most {m} per member"))
    );
    let _ = writeln!(
        s,
        "  results:  {} bonus points on {} purchases by {} members",
        r.results.points, r.results.purchases, r.results.members
    );
    if !c.text_en.is_empty() || !c.text_th.is_empty() {
        let _ = writeln!(s, "  text th:  {}", c.text_th);
        let _ = writeln!(s, "  text en:  {}", c.text_en);
    }
    s
}

pub(super) async fn tier(loyalty: &Loyalty, cmd: TierCmd) -> anyhow::Result<()> {
    match cmd {
        TierCmd::List(out) => {
            let p = loyalty.program().await.map_err(friendly)?;
            print(out, &p.tiers, || tiers(&p.tiers, p.currency));
        }
        TierCmd::Set {
            key,
            threshold,
            multiplier,
            name_th,
            name_en,
            out,
        } => {
            let change = crate::service::TierChangeInput {
                key,
                threshold,
                multiplier,
                name_th,
                name_en,
            };
            let list = loyalty.set_tier(change).await.map_err(friendly)?;
            let currency = loyalty.program().await.map_err(friendly)?.currency;
            print(out, &list, || tiers(&list, currency));
        }
        TierCmd::Remove { key, out } => {
            let list = match loyalty.remove_tier(&key).await {
                Err(crate::service::ServiceError::NotFound(_)) => {
                    bail!("there is no tier {key:?}")
                }
                other => other.map_err(friendly)?,
            };
            let currency = loyalty.program().await.map_err(friendly)?.currency;
            print(out, &list, || tiers(&list, currency));
        }
        TierCmd::Review(out) => {
            let moves = loyalty.review_tiers(now()).await.map_err(friendly)?;
            print(out, &moves, || review(&moves));
        }
    }
    Ok(())
}

fn tiers(t: &Tiers, currency: crate::domain::Currency) -> String {
    let mut s = format!(
        "{:<10} {:>14} {:>10}  NAME (TH / EN)\n",
        "KEY", "12-MONTH SPEND", "EARN"
    );
    for t in t.all() {
        let _ = writeln!(
            s,
            "{:<10} {:>14} {:>10}  {} / {}",
            t.key,
            Money::from_minor(t.threshold_minor, currency).to_decimal_string(),
            format!("x{}", display_multiplier(t.multiplier_percent)),
            t.name_th,
            t.name_en
        );
    }
    s
}

fn review(moves: &[TierChange]) -> String {
    if moves.is_empty() {
        return "tier review: nobody moved\n".into();
    }
    let mut s = format!("tier review: {} members moved down\n", moves.len());
    for m in moves {
        let _ = writeln!(
            s,
            "  member {}: {} -> {}",
            m.member_id,
            m.from.as_deref().unwrap_or("-"),
            m.to
        );
    }
    s
}
