//! Plain-text rendering of CLI output (the `--json` forms serialize the records).

use std::fmt::Write;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::domain::model::*;
use crate::service::MemberSummary;

fn local(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
}

#[derive(Serialize)]
pub struct MerchantRow {
    pub id: String,
    pub name: String,
    pub currency: String,
    pub earn: String,
    pub created_at: DateTime<Utc>,
}

impl From<&Merchant> for MerchantRow {
    fn from(m: &Merchant) -> MerchantRow {
        MerchantRow {
            id: m.id.clone(),
            name: m.name.clone(),
            currency: m.currency.code().into(),
            earn: m.earn.display(m.currency),
            created_at: m.created_at,
        }
    }
}

pub fn merchants(rows: &[MerchantRow]) -> String {
    if rows.is_empty() {
        return "no merchants yet: taem merchant add --name NAME\n".into();
    }
    let mut s = format!("{:<14} {:<8} {:<8} NAME\n", "ID", "CURRENCY", "EARN");
    for m in rows {
        let _ = writeln!(s, "{:<14} {:<8} {:<8} {}", m.id, m.currency, m.earn, m.name);
    }
    s
}

pub fn rewards(list: &[Reward]) -> String {
    if list.is_empty() {
        return "no rewards yet: taem reward add --help\n".into();
    }
    let mut s = format!(
        "{:>4} {:>8} {:>7} {:>6} {:<7} NAME (TH / EN)\n",
        "ID", "COST", "STOCK", "LIMIT", "ACTIVE"
    );
    for r in list {
        let opt = |v: Option<i64>| v.map_or("-".to_string(), |v| v.to_string());
        let _ = writeln!(
            s,
            "{:>4} {:>8} {:>7} {:>6} {:<7} {} / {}",
            r.id,
            r.cost,
            opt(r.stock),
            opt(r.per_member_limit),
            if r.active { "yes" } else { "no" },
            r.name_th,
            r.name_en
        );
    }
    s
}

pub fn voucher(v: &Voucher, tz: Tz) -> String {
    format!(
        "voucher {} ({}) for reward {}: {} points, valid until {}\n",
        v.code,
        v.status.as_str(),
        v.reward_id,
        v.points,
        local(v.expires_at, tz)
    )
}

pub fn summary(s: &MemberSummary, tz: Tz) -> String {
    let m = &s.member;
    let mut out = format!(
        "member {}{}\nbalance {} (spendable {}, pending {})\n",
        m.code,
        m.name
            .as_ref()
            .map(|n| format!(" ({n})"))
            .unwrap_or_default(),
        m.balance,
        s.spendable,
        s.pending
    );
    if s.credit.minor() > 0 {
        let _ = writeln!(out, "store credit {}", s.credit.to_decimal_string());
    }
    if let Some(seg) = &s.segment {
        let _ = writeln!(
            out,
            "class {}, segment {} (R{} F{} M{})",
            seg.class.as_str(),
            seg.segment.as_str(),
            seg.rfm.r,
            seg.rfm.f,
            seg.rfm.m
        );
    }
    let _ = writeln!(
        out,
        "tier {} (12-month spend {}){}",
        s.tier.tier.name_en,
        s.tier.spend.to_decimal_string(),
        match (&s.tier.next, &s.tier.to_next) {
            (Some(n), Some(m)) => format!("; {} more reaches {}", m.to_decimal_string(), n.name_en),
            _ => String::new(),
        }
    );
    if let Some(t) = m.telegram_id {
        let _ = writeln!(out, "telegram {t}");
    }
    if let Some(l) = &m.line_id {
        let _ = writeln!(out, "line {l}");
    }
    if !s.lots.is_empty() {
        out.push_str("\npoints by expiry:\n");
        for l in &s.lots {
            let _ = writeln!(
                out,
                "  {:>8} of {:>8}  expire after {}{}",
                l.remaining,
                l.points,
                crate::domain::time::last_local_day(l.expires_at, tz),
                if l.available_at > crate::domain::time::now() {
                    format!(", spendable from {}", local(l.available_at, tz))
                } else {
                    String::new()
                }
            );
        }
    }
    if !s.vouchers.is_empty() {
        out.push_str("\nvouchers:\n");
        for v in &s.vouchers {
            let _ = write!(out, "  {}", voucher(v, tz));
        }
    }
    if !s.entries.is_empty() {
        out.push_str("\nlast entries:\n");
        for e in &s.entries {
            let _ = writeln!(
                out,
                "  {}  {:<8} {:>+8}  balance {:>8}  {}",
                local(e.created_at, tz),
                e.kind.as_str(),
                e.points.value(),
                e.balance_after,
                e.reference.as_deref().unwrap_or("")
            );
        }
    }
    out
}
