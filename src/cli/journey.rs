//! `taem journey` (offers serve sends by itself) and `taem audience` (who an
//! offer reaches, counted).

use std::fmt::Write;

use clap::{Args, Subcommand};

use super::{JsonFlag, friendly, print};
use crate::domain::audience::{Audience, Bought, Lapsing, Reach};
use crate::domain::journey::{Journey, Kind};
use crate::domain::time::now;
use crate::service::Loyalty;
use crate::service::journeys::JourneyInput;
use crate::service::staff::Actor;

#[derive(Subcommand)]
pub(super) enum JourneyCmd {
    /// Every journey and how it is set.
    List(JsonFlag),
    /// Switches a journey on or off and sets what it gives: welcome, birthday,
    /// winback or near-reward.
    Set {
        kind: String,
        #[arg(long, conflicts_with = "off")]
        on: bool,
        #[arg(long)]
        off: bool,
        /// Bonus points given with the message (welcome, birthday, winback).
        #[arg(long)]
        points: Option<i64>,
        /// A reward whose voucher is given with the message (0: none).
        #[arg(long)]
        reward: Option<i64>,
        /// The share of members held out to measure it, such as 10%.
        #[arg(long)]
        holdout: Option<String>,
        /// Winback: lapsing after this many days without a purchase, or "usual"
        /// (beyond 1.5 × the member's usual gap).
        #[arg(long)]
        lapsing: Option<String>,
        /// Winback: at most once per this many days per member.
        #[arg(long)]
        every_days: Option<u32>,
        /// Near-reward: within this share of a reward's cost, such as 20%.
        #[arg(long)]
        near: Option<String>,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Runs the journeys now (serve runs them every 10 minutes).
    Run(JsonFlag),
}

#[derive(Subcommand)]
pub(super) enum AudienceCmd {
    /// How many members an audience holds and how many marketing reaches on
    /// each app; every criterion given must hold.
    Count(AudienceArgs),
}

/// An audience on the command line.
#[derive(Args)]
pub(super) struct AudienceArgs {
    /// Tier keys (any of them).
    #[arg(long = "tier")]
    tiers: Vec<String>,
    /// A/B/C classes (any of them).
    #[arg(long = "class")]
    classes: Vec<String>,
    /// RFM segments (any of them).
    #[arg(long = "segment")]
    segments: Vec<String>,
    /// No purchase for this many days, or "usual" (beyond 1.5 × their usual gap).
    #[arg(long)]
    lapsing: Option<String>,
    /// Birthday this month.
    #[arg(long)]
    birthday_this_month: bool,
    /// Bought this SKU within --days.
    #[arg(long, conflicts_with = "bought_category", requires = "days")]
    bought_sku: Option<String>,
    /// Bought in this category within --days.
    #[arg(long, requires = "days")]
    bought_category: Option<String>,
    #[arg(long)]
    days: Option<u32>,
    /// Favourite category (most spend in 12 months).
    #[arg(long)]
    favourite: Option<String>,
    /// Joined within this many days.
    #[arg(long)]
    joined_within: Option<u32>,
    #[command(flatten)]
    out: JsonFlag,
}

impl AudienceArgs {
    fn audience(&self) -> anyhow::Result<Audience> {
        let lapsing = match self.lapsing.as_deref() {
            None => None,
            Some("usual") => Some(Lapsing::UsualGap),
            Some(d) => Some(Lapsing::Days(d.parse().map_err(|_| {
                anyhow::anyhow!("--lapsing {d:?} is not a number of days or \"usual\"")
            })?)),
        };
        let bought =
            (self.bought_sku.is_some() || self.bought_category.is_some()).then(|| Bought {
                sku: self.bought_sku.clone(),
                category: self.bought_category.clone(),
                days: self.days.unwrap_or(0),
            });
        Ok(Audience {
            tiers: self.tiers.clone(),
            classes: self.classes.clone(),
            segments: self.segments.clone(),
            lapsing,
            birthday_this_month: self.birthday_this_month,
            bought,
            favourite_category: self.favourite.clone(),
            joined_within_days: self.joined_within,
        })
    }
}

fn parse_kind(kind: &str) -> anyhow::Result<Kind> {
    Kind::parse(kind).ok_or_else(|| {
        anyhow::anyhow!("{kind:?} is not a journey: welcome, birthday, winback or near-reward")
    })
}

fn journeys_text(list: &[Journey]) -> String {
    let mut out = String::new();
    for j in list {
        let gives = match (j.bonus_points, j.reward_id) {
            _ if j.kind == Kind::NearReward => {
                format!("within {}% of a reward", j.near_bp as f64 / 100.0)
            }
            (0, None) => "a message".into(),
            (p, None) => format!("{p} points"),
            (0, Some(r)) => format!("a voucher of reward {r}"),
            (p, Some(r)) => format!("{p} points and a voucher of reward {r}"),
        };
        let when = match (j.kind, j.lapsing) {
            (Kind::Winback, Lapsing::Days(d)) => {
                format!(", lapsing {d} days, once per {} days", j.every_days)
            }
            (Kind::Winback, Lapsing::UsualGap) => format!(
                ", lapsing past 1.5 × usual gap, once per {} days",
                j.every_days
            ),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "{:<12} {:<3}  {gives}{when}{}",
            j.kind.as_str(),
            if j.enabled { "on" } else { "off" },
            if j.holdout_bp > 0 {
                format!(", {}% held out", j.holdout_bp as f64 / 100.0)
            } else {
                String::new()
            }
        );
    }
    out
}

pub(super) async fn journey(loyalty: &Loyalty, cmd: JourneyCmd) -> anyhow::Result<()> {
    match cmd {
        JourneyCmd::List(out) => {
            let list = loyalty.journeys().await.map_err(friendly)?;
            print(out, &list, || journeys_text(&list));
        }
        JourneyCmd::Set {
            kind,
            on,
            off,
            points,
            reward,
            holdout,
            lapsing,
            every_days,
            near,
            out,
        } => {
            let input = JourneyInput {
                enabled: (on || off).then_some(on),
                bonus_points: points,
                reward_id: reward,
                holdout,
                lapsing,
                every_days,
                near,
            };
            let j = loyalty
                .staff_set_journey(&Actor::Cli, parse_kind(&kind)?, &input, now())
                .await
                .map_err(friendly)?;
            print(out, &j, || journeys_text(std::slice::from_ref(&j)));
        }
        JourneyCmd::Run(out) => {
            let run = loyalty.run_journeys(now()).await.map_err(friendly)?;
            print(out, &run, || {
                let mut s = String::new();
                for j in &run.journeys {
                    let _ = writeln!(
                        s,
                        "{:<12} given {}, held out {}",
                        j.journey.as_str(),
                        j.given,
                        j.held_out
                    );
                }
                if run.journeys.is_empty() {
                    s.push_str("no journey is on\n");
                }
                s
            });
        }
    }
    Ok(())
}

pub(super) async fn audience(loyalty: &Loyalty, cmd: AudienceCmd) -> anyhow::Result<()> {
    let AudienceCmd::Count(args) = cmd;
    let audience = args.audience()?;
    let reach: Reach = loyalty
        .audience_reach(&audience, now())
        .await
        .map_err(friendly)?;
    print(args.out, &reach, || {
        format!(
            "{}: {} members; marketing reaches {} ({} on Telegram, {} on LINE)\n",
            audience.describe(),
            reach.members,
            reach.reachable,
            reach.telegram,
            reach.line
        )
    });
    Ok(())
}
