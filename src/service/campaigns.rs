//! Campaign administration: the input an administrator gives (CLI flags or the
//! admin API's JSON), checked and turned into a [`Campaign`].

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Loyalty, Result, invalid};
use crate::domain::Money;
use crate::domain::campaign::{Campaign, ItemMatch, Rule, Window, parse_days, parse_hours};
use crate::domain::earn::parse_multiplier;
use crate::domain::model::CampaignResults;
use crate::domain::notice::BroadcastStatus;
use crate::domain::points::MAX_POINTS;

/// A new campaign, as `POST /admin/v1/campaigns` takes it (and `taem campaign
/// add` builds it). Times are RFC 3339 instants or local dates/times in
/// `TAEM_TIMEZONE`: `starts_at: "2026-11-28"` starts at local midnight,
/// `ends_at: "2026-11-29"` runs through the whole of that local day.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignInput {
    #[schema(max_length = 100)]
    pub name_th: String,
    #[schema(max_length = 100)]
    pub name_en: String,
    /// Announcement
    #[serde(default)]
    #[schema(max_length = 1000)]
    pub text_th: String,
    #[serde(default)]
    #[schema(max_length = 1000)]
    pub text_en: String,
    /// `multiplier`, `bonus`, `items` or `first_purchase`.
    #[schema(schema_with = kinds)]
    pub kind: String,
    /// multiplier and items: 1 to 10, at most 2 decimals ("2", "1.5")
    #[serde(default)]
    #[schema(examples("2"))]
    pub multiplier: Option<String>,
    /// A multiplier on everything earned before it instead of base points
    #[serde(default)]
    #[schema(default = false)]
    pub stacks: bool,
    /// bonus and first_purchase: the bonus; items: per unit
    #[serde(default)]
    #[schema(minimum = 0)]
    pub points: Option<i64>,
    #[serde(default)]
    pub sku: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    /// RFC 3339, or a local date (its midnight) or local date-time in TAEM_TIMEZONE
    #[schema(examples("2026-11-28"))]
    pub starts_at: String,
    /// RFC 3339, or a local date (through the whole day) or local date-time (exclusive)
    #[schema(examples("2026-11-29"))]
    pub ends_at: String,
    /// `sat,sun`, `mon-fri`
    #[serde(default)]
    #[schema(examples("sat,sun"))]
    pub days: Option<String>,
    /// Local hours [from, to): `17-20` is from 17:00 until 19:59
    #[serde(default)]
    #[schema(examples("17-20"))]
    pub hours: Option<String>,
    #[serde(default)]
    pub merchants: Vec<String>,
    #[serde(default)]
    pub tiers: Vec<String>,
    /// In the program currency, e.g. "500" or "499.50"
    #[serde(default)]
    #[schema(examples("500"))]
    pub min_spend: Option<String>,
    /// Total bonus points it may give
    #[serde(default)]
    #[schema(minimum = 0)]
    pub budget: Option<i64>,
    /// Bonus points one member may get
    #[serde(default)]
    #[schema(minimum = 0)]
    pub member_cap: Option<i64>,
    /// The share of members to hold out, in percent (at most 50): they get
    /// neither the bonus nor the announcement, and the campaigns report
    /// measures the lift against them
    #[serde(default)]
    #[schema(examples("10"))]
    pub holdout: Option<String>,
    /// Who it is for (absent: everyone): its bonus applies only to purchases
    /// by members in the audience, and its announcement reaches only them
    #[serde(default)]
    pub audience: Option<crate::domain::audience::Audience>,
}

/// The campaign kinds [`CampaignInput::kind`] takes, for the API document.
fn kinds() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(["multiplier", "bonus", "items", "first_purchase"]))
        .build()
}

/// A campaign with its rule (kind and its fields), window, scopes, budget, what
/// it has given (awarded), status (scheduled, running, ended) and results.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Campaign)]
pub struct CampaignReport {
    #[serde(flatten)]
    #[schema(inline)]
    pub campaign: Campaign,
    #[schema(schema_with = statuses)]
    pub status: &'static str,
    #[schema(inline)]
    pub results: CampaignResults,
}

/// The values [`status`] returns, for the API document.
fn statuses() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(["scheduled", "running", "ended"]))
        .build()
}

/// `scheduled`, `running` or `ended` at `now`.
pub fn status(c: &Campaign, now: DateTime<Utc>) -> &'static str {
    if c.window.ends_at <= now {
        "ended"
    } else if c.window.starts_at > now {
        "scheduled"
    } else {
        "running"
    }
}

/// Parses an instant: RFC 3339, or a local date (`end_of_day` picks the next
/// local midnight rather than the one starting it) or local date and time.
pub fn parse_time(field: &str, input: &str, tz: Tz, end_of_day: bool) -> Result<DateTime<Utc>> {
    let input = input.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(input) {
        return Ok(t.with_timezone(&Utc));
    }
    let local = if let Ok(d) = NaiveDate::parse_from_str(input, "%Y-%m-%d") {
        let d = if end_of_day { d + Duration::days(1) } else { d };
        d.and_time(NaiveTime::MIN)
    } else {
        ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(input, f).ok())
            .ok_or_else(|| {
                invalid(
                    field,
                    format!("{input:?} is not a date (2026-11-28), local time (2026-11-28T18:00) or RFC 3339 instant"),
                )
            })?
    };
    tz.from_local_datetime(&local)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| invalid(field, format!("{input:?} does not exist in {tz}")))
}

fn text(field: &str, value: &str, max: usize, required: bool) -> Result<String> {
    let v = value.trim();
    if required && v.is_empty() {
        return Err(invalid(field, "is required"));
    }
    if v.chars().count() > max {
        return Err(invalid(field, format!("must be at most {max} characters")));
    }
    Ok(v.to_string())
}

fn positive(field: &str, v: Option<i64>, max: i64) -> Result<Option<i64>> {
    match v {
        Some(p) if !(0..=max).contains(&p) => {
            Err(invalid(field, format!("must be between 0 and {max}")))
        }
        other => Ok(other),
    }
}

impl Loyalty {
    /// Checks a campaign and turns it into the domain's form (id 0, nothing given).
    pub async fn campaign_from_input(
        &self,
        input: &CampaignInput,
        now: DateTime<Utc>,
    ) -> Result<Campaign> {
        let tz = self.tz;
        let program = self.program().await?;
        let points = positive("points", input.points, MAX_POINTS)?;
        let multiplier = match &input.multiplier {
            None => None,
            Some(m) => Some(parse_multiplier(m).ok_or_else(|| {
                invalid(
                    "multiplier",
                    format!("{m:?} is not a multiplier between 1 and 10 such as 2 or 1.5"),
                )
            })?),
        };
        let need = |field: &'static str| {
            invalid(field, format!("is required for a {} campaign", input.kind))
        };
        let rule = match input.kind.as_str() {
            "multiplier" => Rule::Multiplier {
                percent: multiplier.ok_or_else(|| need("multiplier"))?,
                stacks: input.stacks,
            },
            "bonus" => Rule::Bonus {
                points: points.ok_or_else(|| need("points"))?,
            },
            "first_purchase" => Rule::FirstPurchase {
                points: points.ok_or_else(|| need("points"))?,
            },
            "items" => {
                let matcher = match (&input.sku, &input.category) {
                    (Some(s), None) => ItemMatch::Sku(text("sku", s, 128, true)?),
                    (None, Some(c)) => ItemMatch::Category(text("category", c, 128, true)?),
                    _ => {
                        return Err(invalid(
                            "sku",
                            "an items campaign needs either sku or category",
                        ));
                    }
                };
                if multiplier.is_none() && points.is_none() {
                    return Err(invalid(
                        "multiplier",
                        "an items campaign needs a multiplier or points per unit",
                    ));
                }
                Rule::Items {
                    matcher,
                    percent: multiplier,
                    points_per_unit: points,
                }
            }
            other => {
                return Err(invalid(
                    "kind",
                    format!("{other:?} is not multiplier, bonus, items or first_purchase"),
                ));
            }
        };
        if input.stacks && !matches!(rule, Rule::Multiplier { .. }) {
            return Err(invalid("stacks", "only multiplier campaigns stack"));
        }
        let starts_at = parse_time("starts_at", &input.starts_at, tz, false)?;
        let ends_at = parse_time("ends_at", &input.ends_at, tz, true)?;
        if ends_at <= starts_at {
            return Err(invalid("ends_at", "must be after starts_at"));
        }
        let days = match &input.days {
            None => Vec::new(),
            Some(d) => parse_days(d).ok_or_else(|| {
                invalid(
                    "days",
                    format!("{d:?} is not a list of days such as sat,sun or mon-fri"),
                )
            })?,
        };
        let hours = match &input.hours {
            None => None,
            Some(h) => Some(parse_hours(h).ok_or_else(|| {
                invalid("hours", format!("{h:?} is not an hour range such as 17-20"))
            })?),
        };
        let merchants = self.store.merchants().await?;
        for m in &input.merchants {
            if !merchants.iter().any(|k| &k.id == m) {
                return Err(invalid(
                    "merchants",
                    format!("no merchant has the id {m:?}"),
                ));
            }
        }
        for t in &input.tiers {
            if !program.tiers.all().iter().any(|k| &k.key == t) {
                let keys: Vec<&str> = program.tiers.all().iter().map(|t| t.key.as_str()).collect();
                return Err(invalid(
                    "tiers",
                    format!("{t:?} is not a tier ({})", keys.join(", ")),
                ));
            }
        }
        let min_spend_minor = match &input.min_spend {
            None => None,
            Some(m) => Some(
                Money::parse(m, program.currency)
                    .map_err(|e| invalid("min_spend", e.to_string()))?
                    .minor(),
            ),
        };
        Ok(Campaign {
            id: 0,
            name_th: text("name_th", &input.name_th, 100, true)?,
            name_en: text("name_en", &input.name_en, 100, true)?,
            text_th: text("text_th", &input.text_th, 1000, false)?,
            text_en: text("text_en", &input.text_en, 1000, false)?,
            rule,
            window: Window {
                starts_at,
                ends_at,
                days,
                hours,
            },
            merchants: input.merchants.clone(),
            tiers: input.tiers.clone(),
            min_spend_minor,
            budget: positive("budget", input.budget, MAX_POINTS)?,
            member_cap: positive("member_cap", input.member_cap, MAX_POINTS)?,
            awarded: 0,
            ended_early_at: None,
            created_at: now,
            holdout_bp: holdout_bp(input.holdout.as_deref())?,
            holdout_salt: {
                use rand::RngExt;
                rand::rng().random::<i64>()
            },
            audience: match &input.audience {
                None => Default::default(),
                Some(a) => {
                    a.check().map_err(|e| invalid("audience", e.to_string()))?;
                    a.clone()
                }
            },
        })
    }

    pub async fn add_campaign(
        &self,
        input: &CampaignInput,
        now: DateTime<Utc>,
    ) -> Result<Campaign> {
        let c = self.campaign_from_input(input, now).await?;
        Ok(self.store.add_campaign(&c, now).await?)
    }

    pub async fn campaign_report(&self, id: i64, now: DateTime<Utc>) -> Result<CampaignReport> {
        let campaign = self.store.campaign(id).await?;
        let results = self.store.campaign_results(id, &None).await?;
        Ok(CampaignReport {
            status: status(&campaign, now),
            campaign,
            results,
        })
    }

    /// Every campaign, newest first, with its status and results.
    pub async fn campaign_reports(&self, now: DateTime<Utc>) -> Result<Vec<CampaignReport>> {
        self.shop_campaign_reports(now, &None).await
    }

    /// Every campaign with what it gave on purchases anywhere, or at one shop.
    pub async fn shop_campaign_reports(
        &self,
        now: DateTime<Utc>,
        merchant_id: &Option<String>,
    ) -> Result<Vec<CampaignReport>> {
        let mut reports = Vec::new();
        for campaign in self.reader.campaigns().await? {
            let results = self
                .reader
                .campaign_results(campaign.id, merchant_id)
                .await?;
            reports.push(CampaignReport {
                status: status(&campaign, now),
                campaign,
                results,
            });
        }
        Ok(reports)
    }

    pub async fn end_campaign(&self, id: i64, now: DateTime<Utc>) -> Result<CampaignReport> {
        self.store.end_campaign(id, now).await?;
        self.campaign_report(id, now).await
    }

    /// Queues a campaign's announcement for every opted-in member on each chat
    /// app that reaches them (a member already queued is not queued again);
    /// `taem serve` delivers it. Returns the rows queued now and the progress.
    /// Unless `force`d, refused (nothing queued) when its LINE messages would go
    /// over what is left of LINE's monthly quota, or the quota cannot be read.
    pub async fn broadcast(
        &self,
        id: i64,
        force: bool,
        now: DateTime<Utc>,
    ) -> Result<(u64, BroadcastStatus)> {
        let c = self.store.campaign(id).await?;
        if status(&c, now) == "ended" {
            return Err(invalid(
                "id",
                format!("campaign {id} has ended: there is nothing to announce"),
            ));
        }
        // A campaign for an audience is announced to its members only.
        let only = match c.audience.is_everyone() {
            true => None,
            false => Some(self.audience_members(&c.audience, now).await?),
        };
        if !force {
            self.check_line_quota(id, &only).await?;
        }
        let queued = self.store.enqueue_broadcast(id, &only, now).await?;
        Ok((queued, self.store.broadcast_status(id).await?))
    }

    /// How far a campaign's announcement has gone.
    pub async fn broadcast_status(&self, id: i64) -> Result<BroadcastStatus> {
        Ok(self.store.broadcast_status(id).await?)
    }

    /// Campaigns running now or starting within `days`, soonest first, for the
    /// chat's Promotions.
    pub async fn current_campaigns(&self, now: DateTime<Utc>, days: i64) -> Result<Vec<Campaign>> {
        let horizon = now + Duration::days(days);
        let mut v: Vec<Campaign> = self
            .store
            .campaigns()
            .await?
            .into_iter()
            .filter(|c| c.window.ends_at > now && c.window.starts_at <= horizon)
            .filter(|c| c.budget_left() != Some(0))
            .collect();
        v.sort_by_key(|c| (c.window.starts_at, c.id));
        Ok(v)
    }
}

/// A holdout share in basis points: none, or a percentage up to 50.
fn holdout_bp(v: Option<&str>) -> Result<i64> {
    match v.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(0),
        Some(v) => crate::domain::offer::parse_percent(v)
            .map(i64::from)
            .filter(|bp| *bp <= 5_000)
            .ok_or_else(|| {
                invalid(
                    "holdout",
                    format!("{v:?} is not a share of members between 0 and 50 percent"),
                )
            }),
    }
}
