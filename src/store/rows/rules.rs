//! Rows of the earning rules: campaigns, tiers and tier moves.

use chrono::{DateTime, Utc};

use super::{FromRow, Row};
use crate::domain::audience::Audience;
use crate::domain::campaign::{Campaign, ItemMatch, Rule, Window, days_from_bits, days_to_bits};
use crate::domain::model::TierChange;
use crate::domain::tier::{Tier, Tiers};
use crate::store::{Result, StoreError};

pub(in crate::store) const CAMPAIGN_COLUMNS: &str = "SELECT id, name_th, name_en, text_th, text_en, kind, \
    percent, points, stacks, item_sku, item_category, starts_at, ends_at, days, hour_from, \
    hour_to, merchants, tiers, min_spend_minor, budget, member_cap, awarded, ended_early_at, \
    created_at, holdout_bp, holdout_salt, audience FROM campaigns";

row! {
    /// Also read from JSON (`json_agg`) by the PostgreSQL store.
    #[derive(serde::Deserialize, Clone)]
    CampaignRow {
        id: i64,
        name_th: String,
        name_en: String,
        text_th: String,
        text_en: String,
        kind: String,
        percent: Option<i64>,
        points: Option<i64>,
        stacks: bool,
        item_sku: Option<String>,
        item_category: Option<String>,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
        days: Option<i64>,
        hour_from: Option<i64>,
        hour_to: Option<i64>,
        merchants: Option<String>,
        tiers: Option<String>,
        min_spend_minor: Option<i64>,
        budget: Option<i64>,
        member_cap: Option<i64>,
        awarded: i64,
        ended_early_at: Option<DateTime<Utc>>,
        created_at: DateTime<Utc>,
        holdout_bp: i64,
        holdout_salt: i64,
        audience: Option<String>,
    }
}

fn list(s: Option<String>) -> Vec<String> {
    s.map(|s| {
        s.split(',')
            .filter(|p| !p.is_empty())
            .map(String::from)
            .collect()
    })
    .unwrap_or_default()
}

fn pct(v: Option<i64>) -> Option<u32> {
    v.and_then(|p| u32::try_from(p).ok())
}

impl TryFrom<CampaignRow> for Campaign {
    type Error = StoreError;
    fn try_from(r: CampaignRow) -> Result<Campaign> {
        let corrupt = || StoreError::Corrupt(format!("campaign {} of kind {:?}", r.id, r.kind));
        let rule = match r.kind.as_str() {
            "multiplier" => Rule::Multiplier {
                percent: pct(r.percent).ok_or_else(corrupt)?,
                stacks: r.stacks,
            },
            "bonus" => Rule::Bonus {
                points: r.points.ok_or_else(corrupt)?,
            },
            "first_purchase" => Rule::FirstPurchase {
                points: r.points.ok_or_else(corrupt)?,
            },
            "items" => Rule::Items {
                matcher: match (&r.item_sku, &r.item_category) {
                    (Some(s), _) => ItemMatch::Sku(s.clone()),
                    (None, Some(c)) => ItemMatch::Category(c.clone()),
                    (None, None) => return Err(corrupt()),
                },
                percent: pct(r.percent),
                points_per_unit: r.points,
            },
            _ => return Err(corrupt()),
        };
        let hours = match (r.hour_from, r.hour_to) {
            (Some(a), Some(b)) => Some((
                u32::try_from(a).map_err(|_| corrupt())?,
                u32::try_from(b).map_err(|_| corrupt())?,
            )),
            _ => None,
        };
        Ok(Campaign {
            id: r.id,
            name_th: r.name_th,
            name_en: r.name_en,
            text_th: r.text_th,
            text_en: r.text_en,
            rule,
            window: Window {
                starts_at: r.starts_at,
                ends_at: r.ends_at,
                days: r.days.map(days_from_bits).unwrap_or_default(),
                hours,
            },
            merchants: list(r.merchants),
            tiers: list(r.tiers),
            min_spend_minor: r.min_spend_minor,
            budget: r.budget,
            member_cap: r.member_cap,
            awarded: r.awarded,
            ended_early_at: r.ended_early_at,
            created_at: r.created_at,
            holdout_bp: r.holdout_bp,
            holdout_salt: r.holdout_salt,
            audience: match &r.audience {
                None => Audience::default(),
                Some(json) => serde_json::from_str(json)
                    .map_err(|e| StoreError::Corrupt(format!("campaign {} audience: {e}", r.id)))?,
            },
        })
    }
}

/// A campaign's rule and scopes as column values, for INSERT.
pub(in crate::store) struct CampaignColumns {
    pub(in crate::store) kind: &'static str,
    pub(in crate::store) percent: Option<i64>,
    pub(in crate::store) points: Option<i64>,
    pub(in crate::store) stacks: bool,
    pub(in crate::store) item_sku: Option<String>,
    pub(in crate::store) item_category: Option<String>,
    pub(in crate::store) days: Option<i64>,
    pub(in crate::store) hour_from: Option<i64>,
    pub(in crate::store) hour_to: Option<i64>,
    pub(in crate::store) merchants: Option<String>,
    pub(in crate::store) tiers: Option<String>,
}

impl CampaignColumns {
    pub(in crate::store) fn of(c: &Campaign) -> CampaignColumns {
        let joined = |v: &[String]| (!v.is_empty()).then(|| v.join(","));
        let (kind, percent, points, stacks, sku, category) = match &c.rule {
            Rule::Multiplier { percent, stacks } => {
                ("multiplier", Some(*percent), None, *stacks, None, None)
            }
            Rule::Bonus { points } => ("bonus", None, Some(*points), false, None, None),
            Rule::FirstPurchase { points } => {
                ("first_purchase", None, Some(*points), false, None, None)
            }
            Rule::Items {
                matcher,
                percent,
                points_per_unit,
            } => {
                let (sku, cat) = match matcher {
                    ItemMatch::Sku(s) => (Some(s.clone()), None),
                    ItemMatch::Category(c) => (None, Some(c.clone())),
                };
                ("items", *percent, *points_per_unit, false, sku, cat)
            }
        };
        CampaignColumns {
            kind,
            percent: percent.map(i64::from),
            points,
            stacks,
            item_sku: sku,
            item_category: category,
            days: (!c.window.days.is_empty()).then(|| days_to_bits(&c.window.days)),
            hour_from: c.window.hours.map(|h| i64::from(h.0)),
            hour_to: c.window.hours.map(|h| i64::from(h.1)),
            merchants: joined(&c.merchants),
            tiers: joined(&c.tiers),
        }
    }
}

pub(in crate::store) const TIER_COLUMNS: &str =
    "SELECT key, name_th, name_en, threshold_minor, multiplier_percent FROM tiers";

impl FromRow for Tier {
    /// From `TIER_COLUMNS`.
    fn from_row(row: &Row) -> Result<Tier> {
        let mut c = row.cols();
        Ok(Tier {
            key: c.next()?,
            name_th: c.next()?,
            name_en: c.next()?,
            threshold_minor: c.next()?,
            multiplier_percent: u32::try_from(c.next::<i64>()?).unwrap_or(100),
        })
    }
}

pub(in crate::store) fn tiers_from_rows(tiers: Vec<Tier>) -> Result<Tiers> {
    Tiers::new(tiers).map_err(|e| StoreError::Corrupt(format!("tiers: {e}")))
}

pub(in crate::store) const TIER_CHANGE_COLUMNS: &str =
    "SELECT member_id, from_tier, to_tier, spend_minor, reason, created_at FROM tier_changes";

impl FromRow for TierChange {
    /// From `TIER_CHANGE_COLUMNS`.
    fn from_row(row: &Row) -> Result<TierChange> {
        let mut c = row.cols();
        Ok(TierChange {
            member_id: c.next()?,
            from: c.next()?,
            to: c.next()?,
            spend_minor: c.next()?,
            reason: c.next()?,
            at: c.next()?,
        })
    }
}
