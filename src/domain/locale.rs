//! The languages taem speaks, and which one a member hears.

use std::fmt;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
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

    /// The language of everything taem sends a member (replies, pushes,
    /// broadcasts): the one they chose, else the one their chat app reported
    /// when they last wrote, else `default` (`TAEM_DEFAULT_LOCALE`).
    pub fn for_member(chosen: Option<&str>, app: Option<&str>, default: Locale) -> Locale {
        Locale::preferred(chosen, app).unwrap_or(default)
    }

    /// [`Locale::for_member`] before the program default: `None` when neither
    /// the member nor their app has said. A LINE multicast chunk is grouped by
    /// this, so members with no language of their own share the default's chunk
    /// whatever the default is when it is sent.
    pub fn preferred(chosen: Option<&str>, app: Option<&str>) -> Option<Locale> {
        chosen
            .and_then(Locale::parse)
            .or_else(|| app.and_then(Locale::parse))
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
    fn a_members_choice_beats_their_app_which_beats_the_default() {
        assert_eq!(
            Locale::for_member(None, Some("en-GB"), Locale::Th),
            Locale::En
        );
        assert_eq!(
            Locale::for_member(Some("th"), Some("en"), Locale::En),
            Locale::Th
        );
        assert_eq!(Locale::for_member(None, None, Locale::En), Locale::En);
        // A language taem does not speak is no answer.
        assert_eq!(Locale::for_member(None, Some("ja"), Locale::Th), Locale::Th);
        assert_eq!(
            Locale::for_member(Some("xx"), Some("en"), Locale::Th),
            Locale::En
        );
        assert_eq!(Locale::preferred(None, None), None);
    }

    #[test]
    fn regional_tags_map_to_their_language() {
        assert_eq!(Locale::parse("en-US"), Some(Locale::En));
        assert_eq!(Locale::parse("TH"), Some(Locale::Th));
        assert_eq!(Locale::parse("zh_TW"), None);
    }
}
