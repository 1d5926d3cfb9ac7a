//! The programme's settings and its merchants, as staff change them (the CLI
//! today, the admin API and console next): every rule checked here once.

use chrono::{DateTime, Duration, Utc};

use super::{Loyalty, Result, ServiceError, invalid};
use crate::domain::earn::parse_multiplier;
use crate::domain::model::*;
use crate::domain::offer::{RewardKind, parse_percent};
use crate::domain::tier::{Tier, Tiers};
use crate::domain::{Currency, EarnRate, Money, Points, codes};

/// A change of the programme settings; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default)]
pub struct ProgramChange {
    pub name: Option<String>,
    pub expiry_months: Option<u32>,
    pub pending_days: Option<u32>,
    /// An ISO 4217 code; tier thresholds keep their value in major units.
    pub currency: Option<String>,
    pub referrer_points: Option<i64>,
    pub referee_points: Option<i64>,
    /// A decimal amount in the programme currency.
    pub referral_min_spend: Option<String>,
    /// Hours after which an unused console session ends (1 to 720).
    pub session_idle_hours: Option<u32>,
    /// What points are worth at the till (`4:1`: 4 points pay 1 of the
    /// currency), or `off`.
    pub pay_rate: Option<String>,
    /// The fewest points a payment takes.
    pub pay_min_points: Option<i64>,
    /// Minutes a payment's points stay held before they go back (1 to 60).
    pub pay_hold_minutes: Option<u32>,
    /// Whether the part of a bill paid with points earns points.
    pub pay_earns: Option<bool>,
    /// The value of one point for reports (`0.25`), or `auto` (derived).
    pub point_value: Option<String>,
    /// Breakage to use instead of the estimate, in percent, or `auto`.
    pub breakage: Option<String>,
    /// The gross margin on sales, in percent (campaign ROI), or `none`.
    pub gross_margin: Option<String>,
    /// The A/B/C cut points, in percent of members' sales: `80,95`.
    pub abc: Option<String>,
    /// Where the privacy notice is published (`https://…`), or empty for none.
    pub privacy_url: Option<String>,
    /// The notice (or its summary) in Thai and in English; empty for none.
    pub privacy_th: Option<String>,
    pub privacy_en: Option<String>,
    /// Months without activity after which a member is anonymised, or `off`.
    pub retention_months: Option<String>,
}

/// A reward for the catalogue, as staff describe it.
#[derive(Debug, Clone, Default)]
pub struct RewardInput {
    pub name_th: String,
    pub name_en: String,
    pub description_th: String,
    pub description_en: String,
    pub cost: i64,
    pub stock: Option<i64>,
    pub per_member_limit: Option<i64>,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_until: Option<DateTime<Utc>>,
    /// A decimal amount in `currency`: what one voucher is worth.
    pub face_value: String,
    pub currency: String,
    pub voucher_days: u32,
    /// `product` (the default), `fixed_discount` (the face value off),
    /// `percent_discount` or `draw_entry`.
    pub kind: String,
    /// A free product's SKU at the till.
    pub sku: Option<String>,
    /// The smallest bill a discount applies to (a decimal amount).
    pub min_basket: Option<String>,
    /// A percent discount's share (`15`, `12.5`).
    pub percent: Option<String>,
    /// The most a percent discount takes off (a decimal amount).
    pub cap: Option<String>,
    /// The categories a percent discount is limited to (none: the whole bill).
    pub categories: Vec<String>,
    /// The partner (a merchant id) whose reward it is; none: the programme's.
    pub partner: Option<String>,
}

/// The most referral points a setting may give.
const MAX_REFERRAL_POINTS: i64 = 1_000_000;

impl Loyalty {
    /// Changes the programme settings; a running server applies them from its
    /// next purchase on.
    pub async fn change_program(&self, change: ProgramChange) -> Result<Program> {
        let mut p = self.store.program().await?;
        apply_report_settings(&mut p.reports, &change)?;
        apply_privacy(&mut p.privacy, &change)?;
        if let Some(n) = change.name {
            p.name = n;
        }
        if let Some(m) = change.expiry_months {
            p.expiry_months = m;
        }
        if let Some(d) = change.pending_days {
            p.pending_days = d;
        }
        if let Some(c) = change.currency {
            let c: Currency = c.parse().map_err(|e| invalid("currency", format!("{e}")))?;
            if c != p.currency {
                let tiers = p.tiers.all().iter().map(|t| Tier {
                    threshold_minor: t.threshold_minor / p.currency.minor_per_major()
                        * c.minor_per_major(),
                    ..t.clone()
                });
                p.tiers =
                    Tiers::new(tiers.collect()).map_err(|e| invalid("currency", e.to_string()))?;
                p.currency = c;
            }
        }
        for (field, v) in [
            ("referrer_points", change.referrer_points),
            ("referee_points", change.referee_points),
        ] {
            if v.is_some_and(|v| !(0..=MAX_REFERRAL_POINTS).contains(&v)) {
                return Err(invalid(
                    field,
                    format!("must be between 0 and {MAX_REFERRAL_POINTS}"),
                ));
            }
        }
        if let Some(v) = change.referrer_points {
            p.referral.referrer_points = v;
        }
        if let Some(v) = change.referee_points {
            p.referral.referee_points = v;
        }
        if let Some(m) = change.referral_min_spend {
            p.referral.min_spend_minor = Money::parse(&m, p.currency)
                .map_err(|e| invalid("referral_min_spend", format!("{m:?}: {e}")))?
                .minor();
        }
        if let Some(r) = change.pay_rate {
            p.pay = if r.trim().eq_ignore_ascii_case("off") {
                None
            } else {
                Some(
                    crate::domain::payment::PayRate::parse(&r, p.currency)
                        .map_err(|e| invalid("pay_rate", e.to_string()))?,
                )
            };
        }
        if let Some(m) = change.pay_min_points {
            if !(1..=MAX_REFERRAL_POINTS).contains(&m) {
                return Err(invalid("pay_min_points", "must be between 1 and 1000000"));
            }
            p.pay_min_points = m;
        }
        if let Some(e) = change.pay_earns {
            p.pay_earns = e;
        }
        if let Some(h) = change.pay_hold_minutes {
            if !(1..=60).contains(&h) {
                return Err(invalid("pay_hold_minutes", "must be between 1 and 60"));
            }
            p.pay_hold_minutes = h;
        }
        if let Some(h) = change.session_idle_hours {
            if !(1..=720).contains(&h) {
                return Err(invalid("session_idle_hours", "must be between 1 and 720"));
            }
            p.session_idle_hours = h;
        }
        self.store.set_program(&p).await?;
        Ok(self.store.program().await?)
    }

    /// A new merchant with a fresh id and webhook secret (shown once).
    pub async fn add_merchant(
        &self,
        name: &str,
        currency: &str,
        earn: &str,
        now: DateTime<Utc>,
    ) -> Result<Merchant> {
        let name = name.trim();
        if name.is_empty() {
            return Err(invalid("name", "must not be empty"));
        }
        let currency: Currency = currency
            .parse()
            .map_err(|e| invalid("currency", format!("{e}")))?;
        let earn = EarnRate::parse(earn, currency).map_err(|e| invalid("earn", format!("{e}")))?;
        let m = Merchant {
            id: codes::merchant_id(),
            name: name.to_string(),
            currency,
            earn,
            webhook_secret: Secret::new(codes::webhook_secret()),
            previous_secret: None,
            created_at: now,
        };
        self.store.add_merchant(&m).await?;
        Ok(m)
    }

    /// Gives a merchant a new webhook secret (shown once); the old one is still
    /// accepted for `grace_hours`. Returns the merchant and when the old secret
    /// stops working.
    pub async fn rotate_merchant_secret(
        &self,
        id: &str,
        grace_hours: u32,
        now: DateTime<Utc>,
    ) -> Result<(Merchant, DateTime<Utc>)> {
        let until = now + Duration::hours(i64::from(grace_hours));
        let secret = Secret::new(codes::webhook_secret());
        let m = self
            .store
            .rotate_merchant_secret(id, &secret, until)
            .await?;
        Ok((m, until))
    }

    /// Adds a reward to the catalogue, every field checked.
    pub async fn add_reward(&self, r: RewardInput, now: DateTime<Utc>) -> Result<Reward> {
        let r = self.partner_checked(checked_reward(r)?).await?;
        Ok(self.store.add_reward(&r, now).await?)
    }

    /// A reward whose partner is one.
    async fn partner_checked(&self, r: NewReward) -> Result<NewReward> {
        if let Some(p) = &r.partner_id
            && !self
                .store
                .partners()
                .await?
                .iter()
                .any(|x| &x.merchant_id == p)
        {
            return Err(invalid("partner", format!("{p:?} is not a partner")));
        }
        Ok(r)
    }

    /// Changes a reward, every field checked as when it was added; vouchers
    /// already issued keep what they were issued with.
    pub async fn update_reward(&self, id: i64, r: RewardInput) -> Result<Reward> {
        let r = self.partner_checked(checked_reward(r)?).await?;
        Ok(self.store.update_reward(id, &r).await?)
    }

    /// Adds a tier or changes one: a new tier needs its threshold (a decimal
    /// amount in the programme currency); a multiplier is written as people do
    /// (`1.5`, `x2`, between 1 and 10).
    pub async fn set_tier(&self, t: TierChangeInput) -> Result<Tiers> {
        let mut p = self.store.program().await?;
        let mut list = p.tiers.all().to_vec();
        let existing = list.iter().position(|x| x.key == t.key);
        let mut tier = match existing {
            Some(i) => list.remove(i),
            None => Tier {
                key: t.key.clone(),
                name_th: t.name_th.clone().unwrap_or_else(|| t.key.clone()),
                name_en: t.name_en.clone().unwrap_or_else(|| t.key.clone()),
                threshold_minor: -1,
                multiplier_percent: 100,
            },
        };
        match (&t.threshold, existing) {
            (Some(th), _) => {
                tier.threshold_minor = Money::parse(th, p.currency)
                    .map_err(|e| invalid("threshold", format!("{th:?}: {e}")))?
                    .minor();
            }
            (None, None) => return Err(invalid("threshold", "a new tier needs one")),
            (None, Some(_)) => {}
        }
        if let Some(m) = &t.multiplier {
            tier.multiplier_percent = parse_multiplier(m)
                .ok_or_else(|| invalid("multiplier", format!("{m:?} is not between 1 and 10")))?;
        }
        if let Some(n) = t.name_th {
            tier.name_th = n;
        }
        if let Some(n) = t.name_en {
            tier.name_en = n;
        }
        list.push(tier);
        p.tiers = Tiers::new(list).map_err(|e| invalid("tiers", e.to_string()))?;
        self.store.set_program(&p).await?;
        Ok(p.tiers)
    }

    /// Removes a tier; its members read as the lowest tier until they earn
    /// their way up again.
    pub async fn remove_tier(&self, key: &str) -> Result<Tiers> {
        let mut p = self.store.program().await?;
        let list: Vec<Tier> = p
            .tiers
            .all()
            .iter()
            .filter(|t| t.key != key)
            .cloned()
            .collect();
        if list.len() == p.tiers.all().len() {
            return Err(ServiceError::NotFound("tier"));
        }
        p.tiers = Tiers::new(list).map_err(|e| invalid("tiers", e.to_string()))?;
        self.store.set_program(&p).await?;
        Ok(p.tiers)
    }
}

/// A tier to add or change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct TierChangeInput {
    pub key: String,
    pub threshold: Option<String>,
    pub multiplier: Option<String>,
    pub name_th: Option<String>,
    pub name_en: Option<String>,
}

/// A reward as staff describe it, every field checked.
fn checked_reward(r: RewardInput) -> Result<NewReward> {
    let cost = Points::positive(r.cost)
        .ok_or_else(|| invalid("cost", "must be a positive number of points"))?;
    for (field, name) in [("name_th", &r.name_th), ("name_en", &r.name_en)] {
        if name.trim().is_empty() {
            return Err(invalid(field, "must not be empty"));
        }
    }
    if r.stock.is_some_and(|s| s < 0) {
        return Err(invalid("stock", "must not be negative"));
    }
    if r.per_member_limit.is_some_and(|l| l < 1) {
        return Err(invalid("limit", "must be at least 1"));
    }
    if r.voucher_days == 0 {
        return Err(invalid("voucher_days", "must be at least 1"));
    }
    let currency: Currency = r
        .currency
        .parse()
        .map_err(|e| invalid("currency", format!("{e}")))?;
    let face_value = Money::parse(&r.face_value, currency)
        .map_err(|e| invalid("face_value", format!("{:?}: {e}", r.face_value)))?;
    if let (Some(f), Some(u)) = (r.valid_from, r.valid_until)
        && u <= f
    {
        return Err(invalid("until", "must be after the start (from)"));
    }
    let kind = checked_kind(&r, face_value)?;
    let new = NewReward {
        name_th: r.name_th.trim().into(),
        name_en: r.name_en.trim().into(),
        description_th: r.description_th,
        description_en: r.description_en,
        cost,
        stock: r.stock,
        per_member_limit: r.per_member_limit,
        valid_from: r.valid_from,
        valid_until: r.valid_until,
        face_value,
        voucher_days: r.voucher_days,
        kind,
        partner_id: r
            .partner
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty()),
    };
    Ok(new)
}

/// A reward's kind, as staff describe it, checked.
fn checked_kind(r: &RewardInput, face_value: Money) -> Result<RewardKind> {
    let currency = face_value.currency();
    let amount = |field: &str, v: &Option<String>| -> Result<Option<Money>> {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(|v| {
                Money::parse_positive(v, currency)
                    .map_err(|e| invalid(field, format!("{v:?}: {e}")))
            })
            .transpose()
    };
    let min_basket = amount("min_basket", &r.min_basket)?;
    Ok(match r.kind.trim() {
        "" | "product" => RewardKind::Product {
            sku: r
                .sku
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        },
        "fixed_discount" => {
            if face_value.minor() <= 0 {
                return Err(invalid(
                    "face_value",
                    "a fixed discount takes its value off: give it one",
                ));
            }
            RewardKind::FixedDiscount {
                off: face_value,
                min_basket,
            }
        }
        "percent_discount" => {
            let p = r.percent.as_deref().unwrap_or("");
            let basis_points = parse_percent(p).ok_or_else(|| {
                invalid(
                    "percent",
                    format!("{p:?} is not a share between 0 and 100 such as 15 or 12.5"),
                )
            })?;
            RewardKind::PercentDiscount {
                basis_points,
                cap: amount("cap", &r.cap)?,
                categories: r
                    .categories
                    .iter()
                    .flat_map(|c| c.split(','))
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_string)
                    .collect(),
                min_basket,
            }
        }
        "draw_entry" => RewardKind::DrawEntry,
        "cashback" => {
            if face_value.minor() <= 0 {
                return Err(invalid(
                    "face_value",
                    "cashback turns points into this much store credit: give it a value",
                ));
            }
            RewardKind::Cashback { credit: face_value }
        }
        other => {
            return Err(invalid(
                "kind",
                format!(
                    "{other:?}: use product, fixed_discount, percent_discount, cashback or \
                     draw_entry"
                ),
            ));
        }
    })
}

/// A share such as `30` or `12.5` (percent) in basis points, or `None` for
/// the words that clear a setting.
fn share(field: &str, v: &str, clear: &[&str]) -> Result<Option<i64>> {
    if clear.iter().any(|c| v.trim().eq_ignore_ascii_case(c)) {
        return Ok(None);
    }
    crate::domain::offer::parse_percent(v)
        .map(|bp| Some(i64::from(bp)))
        .ok_or_else(|| {
            invalid(
                field,
                format!("{v:?} is not a percentage between 0 and 100"),
            )
        })
}

/// The report settings a change asks for, checked.
fn apply_report_settings(
    r: &mut crate::domain::liability::ReportSettings,
    change: &ProgramChange,
) -> Result<()> {
    if let Some(v) = &change.point_value {
        r.point_value_e4 = if v.trim().eq_ignore_ascii_case("auto") {
            None
        } else {
            Some(
                crate::domain::liability::parse_point_value(v).ok_or_else(|| {
                    invalid(
                        "point_value",
                        format!("{v:?} is not a value such as 0.25 (at most 4 decimals), or auto"),
                    )
                })?,
            )
        };
    }
    if let Some(v) = &change.breakage {
        r.breakage_bp = share("breakage", v, &["auto"])?;
    }
    if let Some(v) = &change.gross_margin {
        r.gross_margin_bp = share("gross_margin", v, &["none"])?;
    }
    if let Some(v) = &change.abc {
        let cuts: Vec<Option<i64>> = v
            .split(',')
            .map(|c| share("abc", c, &[]).ok().flatten())
            .collect();
        match cuts[..] {
            [Some(a), Some(b)] if 0 < a && a < b && b <= 10_000 => {
                r.abc_a_bp = a;
                r.abc_b_bp = b;
            }
            _ => {
                return Err(invalid(
                    "abc",
                    format!("{v:?}: two rising percentages such as 80,95"),
                ));
            }
        }
    }
    Ok(())
}

/// The privacy notice and retention, from a change (the notice's version is
/// moved by the store when its words or link change).
fn apply_privacy(
    p: &mut crate::domain::privacy::PrivacySettings,
    change: &ProgramChange,
) -> Result<()> {
    use crate::domain::privacy::{self, MAX_RETENTION_MONTHS};
    if let Some(url) = &change.privacy_url {
        p.url = if url.trim().is_empty() {
            None
        } else {
            Some(privacy::parse_notice_url(url).map_err(|e| invalid("privacy_url", e))?)
        };
    }
    if let Some(t) = &change.privacy_th {
        p.text_th = privacy::parse_notice_text(t).map_err(|e| invalid("privacy_th", e))?;
    }
    if let Some(t) = &change.privacy_en {
        p.text_en = privacy::parse_notice_text(t).map_err(|e| invalid("privacy_en", e))?;
    }
    if let Some(m) = &change.retention_months {
        let m = m.trim();
        p.retention_months = if m.eq_ignore_ascii_case("off") || m.is_empty() {
            None
        } else {
            match m.parse::<u32>() {
                Ok(n) if (1..=MAX_RETENTION_MONTHS).contains(&n) => Some(n),
                _ => {
                    return Err(invalid(
                        "retention_months",
                        format!(
                            "{m:?}: a number of months from 1 to {MAX_RETENTION_MONTHS}, or off"
                        ),
                    ));
                }
            }
        };
    }
    Ok(())
}
