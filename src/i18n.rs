//! Languages. Customers read taem in Thai or English; every word they read comes
//! from the Fluent files under `locales/` (wired into the chat front-ends).

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Locale {
    Th,
    En,
}

impl Locale {
    pub const ALL: [Locale; 2] = [Locale::Th, Locale::En];

    /// Accepts `th`, `en` and regional tags such as `en-US` (primary subtag).
    pub fn parse(tag: &str) -> Option<Locale> {
        let primary = tag.split(['-', '_']).next()?.trim().to_ascii_lowercase();
        match primary.as_str() {
            "th" => Some(Locale::Th),
            "en" => Some(Locale::En),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Locale::Th => "th",
            Locale::En => "en",
        }
    }
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regional_tags_map_to_their_language() {
        assert_eq!(Locale::parse("en-US"), Some(Locale::En));
        assert_eq!(Locale::parse("TH"), Some(Locale::Th));
        assert_eq!(Locale::parse("fr"), None);
    }
}
