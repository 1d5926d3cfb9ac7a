//! `taem partner` (agreements between shops sharing the programme) and
//! `taem settlement` (who owes whom for each month, shown and closed).

use std::fmt::Write;

use clap::{Args, Subcommand};

use super::{JsonFlag, friendly, print};
use crate::domain::Money;
use crate::domain::partner::{Funding, Statement};
use crate::domain::time::now;
use crate::service::Loyalty;
use crate::service::partners::{PartnerInput, PartnerView, statement_csv};
use crate::service::staff::Actor;

#[derive(Subcommand)]
pub(super) enum PartnerCmd {
    /// Every partner: a point's value, its funding, prepaid points left.
    List(JsonFlag),
    /// Makes a merchant a partner or changes its agreement (audited).
    Set {
        /// The merchant's id.
        merchant: String,
        /// What one of its points is worth between partners, e.g. 0.25.
        #[arg(long)]
        value: Option<String>,
        /// Settled after each month.
        #[arg(long, conflicts_with_all = ["prepaid", "top_up"])]
        postpaid: bool,
        /// Funded from a prepaid budget of this many points in all.
        #[arg(long)]
        prepaid: Option<i64>,
        /// Adds this many points to a prepaid budget.
        #[arg(long)]
        top_up: Option<i64>,
        #[command(flatten)]
        out: JsonFlag,
    },
}

#[derive(Subcommand)]
pub(super) enum SettlementCmd {
    /// A month's statement: per pair of partners the points and the amount,
    /// each partner's net position and its breakage.
    Show(PeriodArgs),
    /// Closes a month that has ended: its statement never changes after;
    /// later corrections go into the next open month (audited).
    Close(PeriodArgs),
}

#[derive(Args)]
pub(super) struct PeriodArgs {
    /// The month, e.g. 2026-11.
    #[arg(long)]
    period: String,
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    #[arg(long)]
    csv: bool,
}

pub(super) async fn partner(loyalty: &Loyalty, cmd: PartnerCmd) -> anyhow::Result<()> {
    match cmd {
        PartnerCmd::List(out) => {
            let list = loyalty.partners().await.map_err(friendly)?;
            let currency = loyalty.program().await.map_err(friendly)?.currency;
            print(out, &list, || partners_text(&list, currency));
        }
        PartnerCmd::Set {
            merchant,
            value,
            postpaid,
            prepaid,
            top_up,
            out,
        } => {
            let input = PartnerInput {
                value,
                funding: if postpaid {
                    Some("postpaid".into())
                } else {
                    prepaid.map(|_| "prepaid".into())
                },
                budget: prepaid,
                top_up,
            };
            loyalty
                .staff_set_partner(&Actor::Cli, &merchant, &input, now())
                .await
                .map_err(friendly)?;
            let list = loyalty.partners().await.map_err(friendly)?;
            let currency = loyalty.program().await.map_err(friendly)?.currency;
            let one: Vec<PartnerView> = list
                .into_iter()
                .filter(|p| p.partner.merchant_id == merchant)
                .collect();
            print(out, &one[0], || partners_text(&one, currency));
        }
    }
    Ok(())
}

fn partners_text(list: &[PartnerView], currency: crate::domain::Currency) -> String {
    let mut s = String::new();
    if list.is_empty() {
        s.push_str("no partners yet: taem partner set MERCHANT --value 0.25\n");
    }
    for p in list {
        let value = Money::from_minor(p.partner.value_minor, currency);
        let funding = match (p.partner.funding, p.left) {
            (Funding::Prepaid, Some(left)) => format!(
                "prepaid: {} of {} points issued, {left} left",
                p.partner.issued,
                p.partner.budget.unwrap_or(0)
            ),
            _ => "post-paid".into(),
        };
        let _ = writeln!(
            s,
            "{} ({}): a point is worth {}; {funding}",
            p.partner.merchant_id,
            p.name,
            crate::i18n::money(value)
        );
    }
    s
}

pub(super) async fn settlement(loyalty: &Loyalty, cmd: SettlementCmd) -> anyhow::Result<()> {
    let (args, s) = match cmd {
        SettlementCmd::Show(a) => {
            let s = loyalty.settlement(&a.period).await.map_err(friendly)?;
            (a, s)
        }
        SettlementCmd::Close(a) => {
            let s = loyalty
                .staff_close_settlement(&Actor::Cli, &a.period, now())
                .await
                .map_err(friendly)?;
            (a, s)
        }
    };
    if args.csv {
        print!("{}", statement_csv(&s));
    } else {
        let out = JsonFlag { json: args.json };
        print(out, &s, || statement_text(&s));
    }
    Ok(())
}

/// A statement for people: shops by name, pairs and partners in the order of
/// their names.
pub(super) fn statement_text(s: &Statement) -> String {
    let currency = s.currency.parse().unwrap_or(crate::domain::Currency::THB);
    let money = |m: i64| crate::i18n::money(Money::from_minor(m, currency));
    let name = |id: &str| {
        s.partners
            .iter()
            .find(|p| p.merchant_id == id)
            .map_or_else(|| id.to_string(), |p| p.name.clone())
    };
    let mut out = String::new();
    let state = match s.closed_at {
        Some(at) => format!(
            "closed {}",
            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
        None => "open".into(),
    };
    let _ = writeln!(out, "settlement {} ({state})", s.period);
    if s.pairs.is_empty() {
        out.push_str("  no points were honoured by another partner\n");
    }
    let mut pairs: Vec<(String, String, i64, i64)> = s
        .pairs
        .iter()
        .map(|l| (name(&l.issuer), name(&l.redeemer), l.points, l.amount_minor))
        .collect();
    pairs.sort();
    for (issuer, redeemer, points, amount) in pairs {
        let _ = writeln!(
            out,
            "  {issuer} → {redeemer}: {points} points, {}",
            money(amount)
        );
    }
    let mut partners: Vec<_> = s.partners.iter().collect();
    partners.sort_by(|a, b| a.name.cmp(&b.name));
    for p in partners {
        let net = match p.net_minor {
            n if n < 0 => format!("pays {}", money(-n)),
            n => format!("receives {}", money(n)),
        };
        let _ = writeln!(
            out,
            "{}: owes {}, is owed {}: {net}; {} of its points expired ({})",
            p.name,
            money(p.owes_minor),
            money(p.owed_minor),
            p.breakage_points,
            money(p.breakage_minor),
        );
    }
    out
}
