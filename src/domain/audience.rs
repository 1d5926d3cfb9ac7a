//! Who an offer is for: audiences built from what taem knows of each member
//! (tier, A/B/C class, RFM segment, when they last bought and how often, their
//! birthday month, what they bought, their favourite category, when they
//! joined). Every criterion given must hold (they combine with AND); a list
//! holds when any of its values does (OR). No criterion at all is everyone.
//! Pure rules: the store gathers each member's [`Facts`], [`Audience::admits`]
//! decides.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::tier::Tiers;
use utoipa::ToSchema;

/// How long a member's own usual gap between purchases may stretch before they
/// count as lapsing: 1.5 times, in tenths.
pub const USUAL_GAP_TENTHS: i64 = 15;

/// A member lapses when they have bought before and then not for a while.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Lapsing {
    /// No purchase for at least this many days.
    Days(u32),
    /// No purchase for longer than 1.5 × the member's own usual gap between
    /// purchases (members with two purchases or more).
    UsualGap,
}

/// What a member must have bought, and how recently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Bought {
    /// An item's SKU, or a category: one of the two.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Within the last this many days.
    pub days: u32,
}

/// An audience: every criterion given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Audience {
    /// Tier keys (any of them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tiers: Vec<String>,
    /// A/B/C classes (any of them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<String>,
    /// RFM segments (any of them), as `taem report segments` names them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lapsing: Option<Lapsing>,
    /// Members whose birthday is in the current month (local time).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub birthday_this_month: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bought: Option<Bought>,
    /// Members whose most spend in the last 12 months went to this category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub favourite_category: Option<String>,
    /// Members who joined within this many days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joined_within_days: Option<u32>,
}

/// What the rules read of one member.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    pub member_id: i64,
    pub tier: Option<String>,
    pub class: Option<String>,
    pub segment: Option<String>,
    pub joined_at: DateTime<Utc>,
    /// Day and month.
    pub birthday: Option<(u32, u32)>,
    pub purchases: i64,
    pub first_purchase: Option<DateTime<Utc>>,
    pub last_purchase: Option<DateTime<Utc>>,
    /// Whether they bought what the audience's `bought` names, in its window
    /// (the store finds it; false when the audience has no such criterion).
    pub bought: bool,
    pub favourite_category: Option<String>,
    /// Whether marketing reaches them: their consent, and each app that
    /// reaches them.
    pub marketing: bool,
    pub telegram: bool,
    pub line: bool,
}

/// How many members an audience holds, and how many marketing can reach on
/// each app (with their consent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Reach {
    pub members: i64,
    /// Reachable on at least one app, with marketing consent
    pub reachable: i64,
    pub telegram: i64,
    pub line: i64,
}

impl Reach {
    pub fn add(&mut self, f: &Facts) {
        self.members += 1;
        if f.marketing && (f.telegram || f.line) {
            self.reachable += 1;
            self.telegram += i64::from(f.telegram);
            self.line += i64::from(f.line);
        }
    }
}

/// Why an audience cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AudienceError {
    #[error("{0}")]
    Invalid(String),
}

impl Audience {
    pub fn is_everyone(&self) -> bool {
        *self == Audience::default()
    }

    /// Checks the criteria make sense (names of classes and segments, one of
    /// SKU or category, windows of a day or more).
    pub fn check(&self) -> Result<(), AudienceError> {
        let bad = |m: String| Err(AudienceError::Invalid(m));
        for c in &self.classes {
            if super::segment::Class::parse(c).is_none() {
                return bad(format!("class {c:?} is not A, B or C"));
            }
        }
        for s in &self.segments {
            if super::segment::Segment::parse(s).is_none() {
                return bad(format!("{s:?} is not an RFM segment"));
            }
        }
        if let Some(b) = &self.bought {
            if b.sku.is_some() == b.category.is_some() {
                return bad("bought: give a SKU or a category".into());
            }
            if b.days == 0 {
                return bad("bought: days must be 1 or more".into());
            }
        }
        if matches!(self.lapsing, Some(Lapsing::Days(0))) || self.joined_within_days == Some(0) {
            return bad("days must be 1 or more".into());
        }
        Ok(())
    }

    /// Whether the member is in the audience at `now` (`tz` makes "this
    /// month"; a member with no tier, or a tier since removed, is in the
    /// lowest of `tiers`).
    pub fn admits(&self, f: &Facts, tiers: &Tiers, now: DateTime<Utc>, tz: Tz) -> bool {
        let any = |list: &[String], v: &Option<String>| {
            list.is_empty() || v.as_ref().is_some_and(|v| list.contains(v))
        };
        (self.tiers.is_empty() || self.tiers.contains(&tiers.get(f.tier.as_deref()).key))
            && any(&self.classes, &f.class)
            && any(&self.segments, &f.segment)
            && self.lapsing.is_none_or(|l| lapsing(l, f, now))
            && (!self.birthday_this_month || birthday_month(f.birthday, now, tz))
            && (self.bought.is_none() || f.bought)
            && self
                .favourite_category
                .as_ref()
                .is_none_or(|c| f.favourite_category.as_ref() == Some(c))
            && self
                .joined_within_days
                .is_none_or(|d| now - f.joined_at <= Duration::days(i64::from(d)))
    }

    /// A short description for people ("tiers gold; lapsing 60 days").
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        let list = |name: &str, v: &[String]| format!("{name} {}", v.join(", "));
        if !self.tiers.is_empty() {
            parts.push(list("tiers", &self.tiers));
        }
        if !self.classes.is_empty() {
            parts.push(list("classes", &self.classes));
        }
        if !self.segments.is_empty() {
            parts.push(list("segments", &self.segments));
        }
        match self.lapsing {
            Some(Lapsing::Days(d)) => parts.push(format!("no purchase for {d} days")),
            Some(Lapsing::UsualGap) => parts.push("lapsing (1.5 × their usual gap)".into()),
            None => {}
        }
        if self.birthday_this_month {
            parts.push("birthday this month".into());
        }
        if let Some(b) = &self.bought {
            let what = b.sku.as_ref().map_or_else(
                || format!("category {}", b.category.clone().unwrap_or_default()),
                |s| format!("SKU {s}"),
            );
            parts.push(format!("bought {what} in {} days", b.days));
        }
        if let Some(c) = &self.favourite_category {
            parts.push(format!("favourite category {c}"));
        }
        if let Some(d) = self.joined_within_days {
            parts.push(format!("joined within {d} days"));
        }
        if parts.is_empty() {
            "everyone".into()
        } else {
            parts.join("; ")
        }
    }
}

/// What a purchase's stored items (`[{"sku", "category", "amount"}, …]`) spent
/// per category, in minor units; lines without a category or a readable
/// amount are left out.
pub fn category_lines(items_json: &str, currency: super::Currency) -> Vec<(String, i64)> {
    let Ok(items) = serde_json::from_str::<Vec<serde_json::Value>>(items_json) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|i| {
            let category = i["category"].as_str()?;
            let amount = super::Money::parse(i["amount"].as_str()?, currency).ok()?;
            Some((category.to_string(), amount.minor()))
        })
        .collect()
}

/// Each member's favourite category: the one with most spend (on a tie, the
/// first by name). `lines` are (member, category, spend in minor units).
pub fn favourites(
    lines: impl IntoIterator<Item = (i64, String, i64)>,
) -> std::collections::HashMap<i64, String> {
    let mut spend: std::collections::HashMap<(i64, String), i64> = Default::default();
    for (member, category, minor) in lines {
        *spend.entry((member, category)).or_default() += minor;
    }
    let mut best: std::collections::HashMap<i64, (i64, String)> = Default::default();
    for ((member, category), total) in spend {
        let better = match best.get(&member) {
            None => true,
            Some((t, c)) => total > *t || (total == *t && category < *c),
        };
        if better && total > 0 {
            best.insert(member, (total, category));
        }
    }
    best.into_iter().map(|(m, (_, c))| (m, c)).collect()
}

/// Whether a member is lapsing at `now`.
pub fn lapsing(rule: Lapsing, f: &Facts, now: DateTime<Utc>) -> bool {
    let Some(last) = f.last_purchase else {
        return false;
    };
    let since = now - last;
    match rule {
        Lapsing::Days(d) => since >= Duration::days(i64::from(d)),
        Lapsing::UsualGap => {
            let (Some(first), true) = (f.first_purchase, f.purchases >= 2) else {
                return false;
            };
            let usual_ms = (last - first).num_milliseconds() / (f.purchases - 1);
            usual_ms > 0 && since.num_milliseconds() * 10 > usual_ms * USUAL_GAP_TENTHS
        }
    }
}

/// Whether a birthday (day, month) falls in `now`'s month in `tz`.
pub fn birthday_month(birthday: Option<(u32, u32)>, now: DateTime<Utc>, tz: Tz) -> bool {
    birthday.is_some_and(|(_, m)| m == now.with_timezone(&tz).month())
}

/// Reads a birthday typed as day and month: `29/2`, `29-02`, `29.2`
/// (29 February is a birthday; a year, if given, is ignored and not kept).
pub fn parse_birthday(text: &str) -> Option<(u32, u32)> {
    let parts: Vec<&str> = text
        .trim()
        .split(['/', '-', '.', ' '])
        .filter(|p| !p.is_empty())
        .collect();
    let (d, m) = match parts.as_slice() {
        [d, m] | [d, m, _] => (d.parse().ok()?, m.parse().ok()?),
        _ => return None,
    };
    // A leap year holds every day a birthday can be.
    NaiveDate::from_ymd_opt(2000, m, d).map(|_| (d, m))
}

/// A birthday may be given once, then changed at most once a year.
pub fn may_set_birthday(set_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    set_at.is_none_or(|at| now - at >= Duration::days(365))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn tiers() -> Tiers {
        Tiers::standard(crate::domain::Currency::THB)
    }

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 5, 0, 0).unwrap()
    }

    fn buyer(purchases: i64, first: DateTime<Utc>, last: DateTime<Utc>) -> Facts {
        Facts {
            member_id: 1,
            joined_at: first,
            purchases,
            first_purchase: Some(first),
            last_purchase: Some(last),
            ..Facts::default()
        }
    }

    #[test]
    fn lapsing_by_days_starts_on_the_nth_day_and_needs_a_purchase() {
        let f = buyer(1, at(2026, 1, 1), at(2026, 1, 1));
        assert!(!lapsing(Lapsing::Days(30), &f, at(2026, 1, 30)));
        assert!(lapsing(Lapsing::Days(30), &f, at(2026, 1, 31)));
        let never = Facts::default();
        assert!(!lapsing(Lapsing::Days(1), &never, at(2026, 6, 1)));
    }

    #[test]
    fn lapsing_by_usual_gap_is_strictly_beyond_one_and_a_half_gaps() {
        // Four purchases ten days apart: the usual gap is ten days.
        let f = buyer(4, at(2026, 1, 1), at(2026, 1, 31));
        assert!(
            !lapsing(Lapsing::UsualGap, &f, at(2026, 2, 15)),
            "15 days: not beyond"
        );
        assert!(lapsing(
            Lapsing::UsualGap,
            &f,
            at(2026, 2, 15) + Duration::seconds(1)
        ));
        // One purchase has no usual gap; two on the same moment neither.
        assert!(!lapsing(
            Lapsing::UsualGap,
            &buyer(1, at(2026, 1, 1), at(2026, 1, 1)),
            at(2027, 1, 1)
        ));
        assert!(!lapsing(
            Lapsing::UsualGap,
            &buyer(2, at(2026, 1, 1), at(2026, 1, 1)),
            at(2027, 1, 1)
        ));
    }

    #[test]
    fn birthdays_are_day_and_month_and_29_february_is_one() {
        assert_eq!(parse_birthday("29/2"), Some((29, 2)));
        assert_eq!(parse_birthday(" 05-11 "), Some((5, 11)));
        assert_eq!(parse_birthday("5.11.1990"), Some((5, 11)));
        assert_eq!(parse_birthday("30/2"), None);
        assert_eq!(parse_birthday("31/4"), None);
        assert_eq!(parse_birthday("hello"), None);
        let tz = chrono_tz::Asia::Bangkok;
        // 17:30 UTC on 28 February is 00:30 on 1 March in Bangkok.
        let march_in_bangkok = Utc.with_ymd_and_hms(2027, 2, 28, 17, 30, 0).unwrap();
        assert!(!birthday_month(Some((29, 2)), march_in_bangkok, tz));
        assert!(
            birthday_month(Some((29, 2)), at(2027, 2, 10), tz),
            "not a leap year"
        );
        assert!(birthday_month(Some((1, 3)), march_in_bangkok, tz));
    }

    #[test]
    fn a_birthday_changes_at_most_once_a_year() {
        assert!(may_set_birthday(None, at(2026, 1, 1)));
        assert!(!may_set_birthday(Some(at(2026, 1, 1)), at(2026, 12, 31)));
        assert!(may_set_birthday(Some(at(2026, 1, 1)), at(2027, 1, 1)));
    }

    #[test]
    fn criteria_combine_with_and_and_lists_with_or() {
        let tz = chrono_tz::Asia::Bangkok;
        let now = at(2026, 11, 30);
        let f = Facts {
            tier: Some("gold".into()),
            class: Some("A".into()),
            segment: Some("champions".into()),
            joined_at: at(2026, 11, 20),
            birthday: Some((3, 11)),
            favourite_category: Some("bakery".into()),
            ..buyer(3, at(2026, 11, 20), at(2026, 11, 25))
        };
        assert!(Audience::default().admits(&f, &tiers(), now, tz));
        let gold_or_silver = Audience {
            tiers: vec!["silver".into(), "gold".into()],
            ..Audience::default()
        };
        assert!(gold_or_silver.admits(&f, &tiers(), now, tz));
        let a = Audience {
            birthday_this_month: true,
            favourite_category: Some("bakery".into()),
            joined_within_days: Some(10),
            ..gold_or_silver.clone()
        };
        assert!(a.admits(&f, &tiers(), now, tz));
        assert!(
            !Audience {
                joined_within_days: Some(9),
                ..a.clone()
            }
            .admits(&f, &tiers(), now, tz)
        );
        assert!(
            !Audience {
                classes: vec!["B".into()],
                ..a.clone()
            }
            .admits(&f, &tiers(), now, tz)
        );
        assert!(
            !Audience {
                lapsing: Some(Lapsing::Days(30)),
                ..a.clone()
            }
            .admits(&f, &tiers(), now, tz)
        );
        let bought = Audience {
            bought: Some(Bought {
                sku: None,
                category: Some("bakery".into()),
                days: 30,
            }),
            ..Audience::default()
        };
        assert!(!bought.admits(&f, &tiers(), now, tz));
        assert!(bought.admits(
            &Facts {
                bought: true,
                ..f.clone()
            },
            &tiers(),
            now,
            tz
        ));
        // A member without a tier is in the lowest one; without a class,
        // outside lists of them.
        let base = Facts { tier: None, ..f };
        assert!(!gold_or_silver.admits(&base, &tiers(), now, tz));
        let members = Audience {
            tiers: vec!["member".into()],
            ..Audience::default()
        };
        assert!(members.admits(&base, &tiers(), now, tz));
        let a_class = Audience {
            classes: vec!["A".into()],
            ..Audience::default()
        };
        assert!(!a_class.admits(
            &Facts {
                class: None,
                ..base
            },
            &tiers(),
            now,
            tz
        ));
    }

    #[test]
    fn the_favourite_category_is_the_one_with_most_spend() {
        let thb = crate::domain::Currency::THB;
        let lines = category_lines(
            r#"[{"sku":"a","category":"bakery","quantity":2,"amount":"120.50"},
                {"sku":"b","quantity":1,"amount":"10.00"},
                {"sku":"c","category":"drinks","quantity":1,"amount":"oops"}]"#,
            thb,
        );
        assert_eq!(lines, vec![("bakery".to_string(), 12_050)]);
        let f = favourites([
            (1, "bakery".into(), 100),
            (1, "drinks".into(), 80),
            (1, "drinks".into(), 30),
            (2, "zoo".into(), 50),
            (2, "apples".into(), 50),
            (3, "refunded".into(), 0),
        ]);
        assert_eq!(f[&1], "drinks");
        assert_eq!(f[&2], "apples", "a tie goes to the first by name");
        assert!(!f.contains_key(&3));
    }

    #[test]
    fn nonsense_is_refused_with_its_reason() {
        let err = |a: Audience| a.check().unwrap_err().to_string();
        assert!(
            err(Audience {
                classes: vec!["D".into()],
                ..Audience::default()
            })
            .contains("A, B or C")
        );
        assert!(
            err(Audience {
                segments: vec!["vip".into()],
                ..Audience::default()
            })
            .contains("segment")
        );
        let both = Bought {
            sku: Some("x".into()),
            category: Some("y".into()),
            days: 3,
        };
        assert!(
            err(Audience {
                bought: Some(both),
                ..Audience::default()
            })
            .contains("SKU or a category")
        );
        assert!(Audience::default().check().is_ok());
        assert_eq!(Audience::default().describe(), "everyone");
    }
}
