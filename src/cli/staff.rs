//! `taem staff` (the console's people: the first owner, invitations, resets) and
//! `taem audit` (the log of what people changed).

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Subcommand;

use super::{JsonFlag, friendly, print};
use crate::config::Settings;
use crate::domain::staff::{AuditFilter, LinkPurpose, NewStaff, Role};
use crate::domain::time::now;
use crate::service::Loyalty;
use crate::service::staff::{Actor, LINK_HOURS};

#[derive(Subcommand)]
pub(super) enum StaffCmd {
    /// Add a staff member; prints their one-time sign-in link (valid 24 hours),
    /// where they choose a password. Run once for the first owner; they invite
    /// the others from the console.
    Add {
        email: String,
        /// owner (everything), manager (all but staff, settings and secrets) or
        /// cashier (the counter only).
        #[arg(long, value_parser = ["owner", "manager", "cashier"])]
        role: String,
        /// The merchant they work for (default: every merchant).
        #[arg(long)]
        merchant: Option<String>,
        #[arg(long, default_value = "")]
        name: String,
        /// Their console language (th or en; default th).
        #[arg(long)]
        lang: Option<String>,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Every staff member.
    List(JsonFlag),
    /// A new one-time link for a staff member to choose a password (the last
    /// one stops working).
    Reset {
        email: String,
        #[command(flatten)]
        out: JsonFlag,
    },
}

#[derive(Subcommand)]
pub(super) enum AuditCmd {
    /// The newest changes first.
    List {
        /// Only this actor's (`staff:<id>`, or `cli`).
        #[arg(long)]
        actor: Option<String>,
        /// Only this action (e.g. `sale.record`, `staff.add`).
        #[arg(long)]
        action: Option<String>,
        /// Only changes at or after this time (RFC 3339).
        #[arg(long)]
        since: Option<DateTime<Utc>>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[command(flatten)]
        out: JsonFlag,
    },
}

/// Where a one-time link's token is used.
fn link(settings: &Settings, purpose: LinkPurpose, token: &str) -> String {
    let base = match &settings.public_url {
        Some(url) => url.as_str().trim_end_matches('/').to_string(),
        None => format!("http://{}", settings.http_addr),
    };
    let path = match purpose {
        LinkPurpose::Invite => "invite",
        LinkPurpose::Reset => "reset",
    };
    format!("{base}/console/{path}/{token}")
}

#[derive(serde::Serialize)]
struct Linked<'a, T> {
    staff: &'a T,
    link: String,
    expires_in_hours: i64,
}

pub(super) async fn staff(
    loyalty: &Loyalty,
    settings: &Settings,
    cmd: StaffCmd,
) -> anyhow::Result<()> {
    match cmd {
        StaffCmd::Add {
            email,
            role,
            merchant,
            name,
            lang,
            out,
        } => {
            let new = NewStaff {
                email,
                name,
                role: Role::parse(&role).context("role")?,
                merchant_id: merchant,
                locale: lang,
            };
            let (staff, token) = loyalty
                .add_staff(&Actor::Cli, new, now())
                .await
                .map_err(friendly)?;
            let linked = Linked {
                staff: &staff,
                link: link(settings, LinkPurpose::Invite, &token),
                expires_in_hours: LINK_HOURS,
            };
            print(out, &linked, || {
                format!(
                    "added {} ({})\nsign-in link, valid {LINK_HOURS} hours and once: {}\n",
                    staff.email,
                    staff.role.as_str(),
                    linked.link
                )
            });
        }
        StaffCmd::List(out) => {
            let list = loyalty.staff_list(&Actor::Cli).await.map_err(friendly)?;
            print(out, &list, || {
                list.iter()
                    .map(|s| {
                        format!(
                            "{}  {}  {}  {}\n",
                            s.email,
                            s.role.as_str(),
                            s.merchant_id.as_deref().unwrap_or("all merchants"),
                            match (s.active, s.disabled_at) {
                                (_, Some(_)) => "disabled",
                                (true, None) => "active",
                                (false, None) => "invited",
                            }
                        )
                    })
                    .collect()
            });
        }
        StaffCmd::Reset { email, out } => {
            let list = loyalty.staff_list(&Actor::Cli).await.map_err(friendly)?;
            let email = email.trim().to_lowercase();
            let staff = list
                .iter()
                .find(|s| s.email == email)
                .with_context(|| format!("no staff member has the email {email}"))?;
            let purpose = if staff.active {
                LinkPurpose::Reset
            } else {
                LinkPurpose::Invite
            };
            let token = loyalty
                .staff_link(staff, purpose, now())
                .await
                .map_err(friendly)?;
            let linked = Linked {
                staff,
                link: link(settings, purpose, &token),
                expires_in_hours: LINK_HOURS,
            };
            print(out, &linked, || {
                format!(
                    "link for {}, valid {LINK_HOURS} hours and once: {}\n",
                    staff.email, linked.link
                )
            });
        }
    }
    Ok(())
}

pub(super) async fn audit(loyalty: &Loyalty, cmd: AuditCmd) -> anyhow::Result<()> {
    let AuditCmd::List {
        actor,
        action,
        since,
        limit,
        out,
    } = cmd;
    let filter = AuditFilter {
        actor,
        action,
        since,
        limit: limit.clamp(1, 10_000),
    };
    let entries = loyalty
        .audit_log(&Actor::Cli, &filter)
        .await
        .map_err(friendly)?;
    print(out, &entries, || {
        entries
            .iter()
            .map(|e| {
                format!(
                    "{}  {}  {}  {}{}{}\n",
                    e.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    e.actor,
                    e.action,
                    e.subject.as_deref().unwrap_or("-"),
                    e.before
                        .as_deref()
                        .map(|b| format!("  before {b}"))
                        .unwrap_or_default(),
                    e.after
                        .as_deref()
                        .map(|a| format!("  after {a}"))
                        .unwrap_or_default(),
                )
            })
            .collect()
    });
    Ok(())
}
