//! The campaign form's audience: who a campaign's bonus and announcement are
//! for (tiers, A/B/C classes, RFM segments, lapsing, birthday this month, what
//! they bought, their favourite category, how new they are), as fields, read
//! back into an [`Audience`], and described in words on the campaign's page.

use std::collections::BTreeMap;

use maud::{Markup, html};
use serde::Deserialize;

use super::{Console, opt};
use crate::domain::Locale;
use crate::domain::audience::{Audience, Bought, Lapsing, Reach};
use crate::domain::segment::Segment;
use crate::domain::tier::Tiers;
use crate::i18n;
use crate::service::{ServiceError, invalid};

/// The audience's fields as posted. Tiers, classes and segments are
/// checkboxes named `tier.KEY`, `class.A` and `segment.NAME`.
#[derive(Deserialize, Default, Clone)]
pub struct AudienceForm {
    /// "", "days" or "usual".
    #[serde(default)]
    lapsing: String,
    #[serde(default)]
    lapsing_days: String,
    #[serde(default)]
    birthday: Option<String>,
    /// "sku" or "category".
    #[serde(default)]
    bought: String,
    #[serde(default)]
    bought_value: String,
    #[serde(default)]
    bought_days: String,
    #[serde(default)]
    favourite: String,
    #[serde(default)]
    joined_days: String,
    #[serde(flatten)]
    picks: BTreeMap<String, String>,
}

const CLASSES: [&str; 3] = ["A", "B", "C"];

impl AudienceForm {
    fn picked(&self, prefix: &str) -> Vec<String> {
        self.picks
            .keys()
            .filter_map(|k| k.strip_prefix(prefix))
            .map(str::to_string)
            .collect()
    }

    fn is_picked(&self, prefix: &str, value: &str) -> bool {
        self.picks.contains_key(&format!("{prefix}{value}"))
    }

    /// The audience the fields describe; `None` for everyone.
    pub fn audience(&self) -> Result<Option<Audience>, ServiceError> {
        let days = |field: &str, v: &str| -> Result<Option<u32>, ServiceError> {
            opt(v)
                .map(|v| v.parse::<u32>().ok().filter(|d| *d > 0))
                .map(|d| d.ok_or_else(|| invalid(field, "must be a number of days, 1 or more")))
                .transpose()
        };
        let lapsing = match self.lapsing.as_str() {
            "usual" => Some(Lapsing::UsualGap),
            "days" => Some(Lapsing::Days(
                days("lapsing_days", &self.lapsing_days)?.ok_or_else(|| {
                    invalid("lapsing_days", "must be a number of days, 1 or more")
                })?,
            )),
            _ => None,
        };
        let bought = match opt(&self.bought_value) {
            None => None,
            Some(v) => Some(Bought {
                sku: (self.bought != "category").then(|| v.clone()),
                category: (self.bought == "category").then_some(v),
                days: days("bought_days", &self.bought_days)?
                    .ok_or_else(|| invalid("bought_days", "must be a number of days, 1 or more"))?,
            }),
        };
        let a = Audience {
            tiers: self.picked("tier."),
            classes: self.picked("class."),
            segments: self.picked("segment."),
            lapsing,
            birthday_this_month: self.birthday.is_some(),
            bought,
            favourite_category: opt(&self.favourite),
            joined_within_days: days("joined_days", &self.joined_days)?,
        };
        Ok((!a.is_everyone()).then_some(a))
    }
}

/// The fields, filled from `f`.
pub fn fields(c: &Console, l: Locale, tiers: &Tiers, f: &AudienceForm) -> Markup {
    let check = |name: String, checked: bool, label: String| {
        html! { label.check { input type="checkbox" name=(name) value="on" checked[checked]; (label) } }
    };
    html! {
        fieldset #audience {
            legend { (c.t(l, "console-audience-title")) }
            p.muted { (c.t(l, "console-audience-explain")) }
            div.choices {
                span { (c.t(l, "console-audience-tiers")) }
                @for t in tiers.all() {
                    (check(format!("tier.{}", t.key), f.is_picked("tier.", &t.key), t.name(l == Locale::Th).to_string()))
                }
            }
            div.choices {
                span { (c.t(l, "console-audience-classes")) }
                @for k in CLASSES {
                    (check(format!("class.{k}"), f.is_picked("class.", k), k.to_string()))
                }
            }
            div.choices {
                span { (c.t(l, "console-audience-segments")) }
                @for s in Segment::ALL {
                    (check(format!("segment.{}", s.as_str()), f.is_picked("segment.", s.as_str()), c.t(l, &format!("console-segment-{}", s.as_str()))))
                }
            }
            label { (c.t(l, "console-audience-lapsing"))
                select name="lapsing" {
                    option value="" { "—" }
                    option value="days" selected[f.lapsing == "days"] { (c.t(l, "console-audience-lapsing-days")) }
                    option value="usual" selected[f.lapsing == "usual"] { (c.t(l, "console-audience-lapsing-usual")) }
                }
                input type="text" name="lapsing_days" inputmode="numeric" value=(f.lapsing_days) placeholder="60" autocomplete="off";
            }
            (check("birthday".into(), f.birthday.is_some(), c.t(l, "console-audience-birthday")))
            label { (c.t(l, "console-audience-bought"))
                select name="bought" {
                    option value="sku" selected[f.bought != "category"] { (c.t(l, "console-audience-bought-sku")) }
                    option value="category" selected[f.bought == "category"] { (c.t(l, "console-audience-bought-category")) }
                }
                input type="text" name="bought_value" value=(f.bought_value) autocomplete="off";
            }
            label { (c.t(l, "console-audience-bought-days")) input type="text" name="bought_days" inputmode="numeric" value=(f.bought_days) placeholder="30" autocomplete="off"; }
            label { (c.t(l, "console-audience-favourite")) input type="text" name="favourite" value=(f.favourite) autocomplete="off"; }
            label { (c.t(l, "console-audience-joined")) input type="text" name="joined_days" inputmode="numeric" value=(f.joined_days) autocomplete="off"; }
            button.secondary type="submit" name="count" value="1" formnovalidate { (c.t(l, "console-audience-count")) }
        }
    }
}

/// How many members an audience holds and how many can be reached.
pub fn reach(c: &Console, l: Locale, everyone: bool, r: &Reach) -> String {
    let key = match everyone {
        true => "console-broadcast-reach",
        false => "console-broadcast-reach-audience",
    };
    c.t_args(
        l,
        key,
        &[
            ("members", i18n::number(r.members)),
            ("reachable", i18n::number(r.reachable)),
            ("telegram", i18n::number(r.telegram)),
            ("line", i18n::number(r.line)),
        ],
    )
}

/// An audience in words: each criterion, joined.
pub fn describe(c: &Console, l: Locale, tiers: &Tiers, a: &Audience) -> String {
    if a.is_everyone() {
        return c.t(l, "console-audience-everyone");
    }
    let list = |v: &[String]| v.join(", ");
    let mut parts = Vec::new();
    if !a.tiers.is_empty() {
        let names: Vec<String> = a
            .tiers
            .iter()
            .map(|k| match tiers.all().iter().find(|t| &t.key == k) {
                Some(t) => t.name(l == Locale::Th).to_string(),
                None => k.clone(),
            })
            .collect();
        parts.push(c.t_args(l, "console-audience-is-tiers", &[("list", list(&names))]));
    }
    if !a.classes.is_empty() {
        parts.push(c.t_args(
            l,
            "console-audience-is-classes",
            &[("list", list(&a.classes))],
        ));
    }
    if !a.segments.is_empty() {
        let names: Vec<String> = a
            .segments
            .iter()
            .map(|s| c.t(l, &format!("console-segment-{s}")))
            .collect();
        parts.push(c.t_args(l, "console-audience-is-segments", &[("list", list(&names))]));
    }
    match a.lapsing {
        Some(Lapsing::Days(d)) => {
            parts.push(c.t_args(l, "console-audience-is-lapsing", &[("days", d.to_string())]))
        }
        Some(Lapsing::UsualGap) => parts.push(c.t(l, "console-audience-is-lapsing-usual")),
        None => {}
    }
    if a.birthday_this_month {
        parts.push(c.t(l, "console-audience-is-birthday"));
    }
    if let Some(b) = &a.bought {
        let what = b
            .sku
            .clone()
            .or_else(|| b.category.clone())
            .unwrap_or_default();
        parts.push(c.t_args(
            l,
            "console-audience-is-bought",
            &[("what", what), ("days", b.days.to_string())],
        ));
    }
    if let Some(f) = &a.favourite_category {
        parts.push(c.t_args(
            l,
            "console-audience-is-favourite",
            &[("category", f.clone())],
        ));
    }
    if let Some(d) = a.joined_within_days {
        parts.push(c.t_args(l, "console-audience-is-joined", &[("days", d.to_string())]));
    }
    parts.join(" · ")
}
