//! Languages and Fluent. Every word a customer reads comes from the Fluent files
//! under `locales/<lang>/` (compiled into the binary), rendered in the member's
//! language. Numbers, money and dates are pre-formatted here (Fluent's own
//! NUMBER() does not group digits) and passed to messages as strings.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Utc};
use chrono_tz::Tz;
use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use unic_langid::LanguageIdentifier;

use crate::domain::Money;

pub use crate::domain::Locale;

/// The Fluent files, embedded at build time: (language, file name, source).
pub const SOURCES: &[(Locale, &str, &str)] = &[
    (
        Locale::Th,
        "core.ftl",
        include_str!("../locales/th/core.ftl"),
    ),
    (
        Locale::Th,
        "chat.ftl",
        include_str!("../locales/th/chat.ftl"),
    ),
    (
        Locale::En,
        "core.ftl",
        include_str!("../locales/en/core.ftl"),
    ),
    (
        Locale::En,
        "chat.ftl",
        include_str!("../locales/en/chat.ftl"),
    ),
    (
        Locale::Th,
        "notify.ftl",
        include_str!("../locales/th/notify.ftl"),
    ),
    (
        Locale::En,
        "notify.ftl",
        include_str!("../locales/en/notify.ftl"),
    ),
    (
        Locale::Th,
        "console.ftl",
        include_str!("../locales/th/console.ftl"),
    ),
    (
        Locale::En,
        "console.ftl",
        include_str!("../locales/en/console.ftl"),
    ),
];

/// All messages in both languages, ready to format. Cheap to share (`Arc`).
pub struct I18n {
    bundles: HashMap<Locale, FluentBundle<FluentResource>>,
}

/// Message arguments: name → already formatted text or a number.
pub type Args<'a> = FluentArgs<'a>;

impl I18n {
    /// Parses the embedded Fluent files. Fails on a syntax error or a message
    /// defined twice, so a broken locale file never reaches customers.
    pub fn load() -> Result<I18n, String> {
        let mut bundles = HashMap::new();
        for locale in Locale::ALL {
            let lang: LanguageIdentifier = locale.as_str().parse().expect("valid tag");
            let mut bundle = FluentBundle::new_concurrent(vec![lang]);
            // Bidi isolation marks (U+2068/U+2069) show up as junk in chat apps.
            bundle.set_use_isolating(false);
            for (_, file, source) in SOURCES.iter().filter(|(l, _, _)| *l == locale) {
                let res = FluentResource::try_new(source.to_string())
                    .map_err(|(_, errs)| format!("locales/{locale}/{file}: {errs:?}"))?;
                bundle
                    .add_resource(res)
                    .map_err(|errs| format!("locales/{locale}/{file}: {errs:?}"))?;
            }
            bundles.insert(locale, bundle);
        }
        Ok(I18n { bundles })
    }

    /// Formats message `id` in `locale`. A missing message or a formatting error
    /// is logged and shows the message id rather than failing the reply.
    pub fn msg(&self, locale: Locale, id: &str, args: Option<&Args>) -> String {
        let bundle = &self.bundles[&locale];
        let Some(pattern) = bundle.get_message(id).and_then(|m| m.value()) else {
            tracing::error!(%locale, id, "missing Fluent message");
            return id.to_string();
        };
        let mut errors = Vec::new();
        let text = bundle.format_pattern(pattern, args, &mut errors);
        if !errors.is_empty() {
            tracing::error!(%locale, id, ?errors, "Fluent message failed to format");
        }
        text.into_owned()
    }

    /// Whether a message exists (for tests and fallbacks).
    pub fn has(&self, locale: Locale, id: &str) -> bool {
        self.bundles[&locale].has_message(id)
    }
}

/// Builds message arguments from pairs.
pub fn args<'a>(pairs: &[(&'a str, FluentValue<'a>)]) -> Args<'a> {
    let mut a = FluentArgs::new();
    for (k, v) in pairs {
        a.set(*k, v.clone());
    }
    a
}

/// `1250` → `1,250`; `-40` → `-40`.
pub fn number(n: i64) -> String {
    let digits = crate::domain::money::thousands(n.unsigned_abs());
    if n < 0 { format!("-{digits}") } else { digits }
}

/// `฿1,250.50` for THB; other currencies as `1,250.50 USD`.
pub fn money(m: Money) -> String {
    let s = m.to_decimal_string();
    let (whole, frac) = match s.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (s.as_str(), None),
    };
    let whole: i64 = whole.parse().unwrap_or(0);
    let mut text = number(whole);
    if let Some(f) = frac {
        text.push('.');
        text.push_str(f);
    }
    if m.currency().code() == "THB" {
        format!("฿{text}")
    } else {
        format!("{text} {}", m.currency())
    }
}

const TH_MONTHS: [&str; 12] = [
    "ม.ค.",
    "ก.พ.",
    "มี.ค.",
    "เม.ย.",
    "พ.ค.",
    "มิ.ย.",
    "ก.ค.",
    "ส.ค.",
    "ก.ย.",
    "ต.ค.",
    "พ.ย.",
    "ธ.ค.",
];
const EN_MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A calendar date: `22 พ.ย. 2569` in Thai (Buddhist era), `22 Nov 2026` in English.
pub fn date(d: chrono::NaiveDate, locale: Locale) -> String {
    let m = d.month0() as usize;
    match locale {
        Locale::Th => format!("{} {} {}", d.day(), TH_MONTHS[m], d.year() + 543),
        Locale::En => format!("{} {} {}", d.day(), EN_MONTHS[m], d.year()),
    }
}

/// An instant as a local time of day in `tz` (`14:05`).
pub fn local_time(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%H:%M").to_string()
}

/// An instant as a local date in `tz`.
pub fn local_date(t: DateTime<Utc>, tz: Tz, locale: Locale) -> String {
    date(t.with_timezone(&tz).date_naive(), locale)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Currency;
    use chrono::NaiveDate;
    use fluent_syntax::ast;

    #[test]
    fn numbers_money_and_dates_read_as_people_write_them() {
        assert_eq!(number(1250), "1,250");
        assert_eq!(number(1_234_567), "1,234,567");
        assert_eq!(number(999), "999");
        assert_eq!(number(-40), "-40");
        assert_eq!(
            money(Money::from_minor(125_050, Currency::THB)),
            "฿1,250.50"
        );
        let d = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
        assert_eq!(date(d, Locale::Th), "22 พ.ย. 2569");
        assert_eq!(date(d, Locale::En), "22 Nov 2026");
    }

    /// Message ids and the variables each uses, per file.
    fn messages(source: &str) -> HashMap<String, Vec<String>> {
        let res = fluent_syntax::parser::parse(source).expect("parses");
        let mut out = HashMap::new();
        for entry in res.body {
            if let ast::Entry::Message(m) = entry {
                let mut vars = Vec::new();
                if let Some(p) = &m.value {
                    pattern_vars(p, &mut vars);
                }
                for a in &m.attributes {
                    pattern_vars(&a.value, &mut vars);
                }
                vars.sort();
                vars.dedup();
                out.insert(m.id.name.to_string(), vars);
            }
        }
        out
    }

    fn pattern_vars(p: &ast::Pattern<&str>, out: &mut Vec<String>) {
        for el in &p.elements {
            if let ast::PatternElement::Placeable { expression } = el {
                expr_vars(expression, out);
            }
        }
    }

    fn expr_vars(e: &ast::Expression<&str>, out: &mut Vec<String>) {
        match e {
            ast::Expression::Select { selector, variants } => {
                inline_vars(selector, out);
                for v in variants {
                    pattern_vars(&v.value, out);
                }
            }
            ast::Expression::Inline(i) => inline_vars(i, out),
        }
    }

    fn inline_vars(i: &ast::InlineExpression<&str>, out: &mut Vec<String>) {
        match i {
            ast::InlineExpression::VariableReference { id } => out.push(id.name.to_string()),
            ast::InlineExpression::Placeable { expression } => expr_vars(expression, out),
            ast::InlineExpression::FunctionReference { arguments, .. } => {
                for a in &arguments.positional {
                    inline_vars(a, out);
                }
            }
            _ => {}
        }
    }

    #[test]
    fn every_locale_file_is_embedded() {
        for locale in Locale::ALL {
            let dir = format!("{}/locales/{locale}", env!("CARGO_MANIFEST_DIR"));
            for f in std::fs::read_dir(&dir).unwrap() {
                let name = f.unwrap().file_name().into_string().unwrap();
                assert!(
                    SOURCES.iter().any(|(l, n, _)| *l == locale && *n == name),
                    "{dir}/{name} is not listed in i18n::SOURCES"
                );
            }
        }
    }

    #[test]
    fn thai_and_english_define_the_same_messages_with_the_same_variables() {
        let th: HashMap<_, _> = SOURCES
            .iter()
            .filter(|(l, _, _)| *l == Locale::Th)
            .flat_map(|(_, _, s)| messages(s))
            .collect();
        let en: HashMap<_, _> = SOURCES
            .iter()
            .filter(|(l, _, _)| *l == Locale::En)
            .flat_map(|(_, _, s)| messages(s))
            .collect();
        for (id, vars) in &th {
            let other = en
                .get(id)
                .unwrap_or_else(|| panic!("{id} is in th but not in en"));
            assert_eq!(vars, other, "{id}: variables differ between th and en");
        }
        for id in en.keys() {
            assert!(th.contains_key(id), "{id} is in en but not in th");
        }
    }

    #[test]
    fn every_message_formats_without_errors_or_isolation_marks() {
        let i18n = I18n::load().expect("locale files load");
        for (locale, _, source) in SOURCES {
            for (id, vars) in messages(source) {
                let mut a = FluentArgs::new();
                for v in &vars {
                    a.set(v.clone(), "1,250");
                }
                let bundle = &i18n.bundles[locale];
                let msg = bundle.get_message(&id).unwrap();
                let mut errors = Vec::new();
                if let Some(p) = msg.value() {
                    let text = bundle.format_pattern(p, Some(&a), &mut errors);
                    assert!(errors.is_empty(), "{locale} {id}: {errors:?}");
                    assert!(!text.contains(['\u{2068}', '\u{2069}']), "{locale} {id}");
                }
                for attr in msg.attributes() {
                    bundle.format_pattern(attr.value(), Some(&a), &mut errors);
                    assert!(errors.is_empty(), "{locale} {id}.{}: {errors:?}", attr.id());
                }
            }
        }
    }
}
