//! Money as integer minor units with an ISO 4217 currency. Decimal strings are parsed
//! exactly (never through floating point) and may not carry more decimals than the
//! currency has.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Largest amount accepted in minor units (10^13, i.e. 100 billion THB). Keeps all
/// arithmetic (including `amount * points` products) far away from overflow.
pub const MAX_MINOR: i64 = 10_000_000_000_000;

/// ISO 4217 currencies taem knows, with their number of minor-unit digits.
const CURRENCIES: &[(&str, u8)] = &[
    ("THB", 2),
    ("USD", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("SGD", 2),
    ("MYR", 2),
    ("IDR", 2),
    ("PHP", 2),
    ("LAK", 2),
    ("KHR", 2),
    ("MMK", 2),
    ("CNY", 2),
    ("HKD", 2),
    ("TWD", 2),
    ("AUD", 2),
    ("NZD", 2),
    ("INR", 2),
    ("CHF", 2),
    ("JPY", 0),
    ("KRW", 0),
    ("VND", 0),
    ("BHD", 3),
    ("KWD", 3),
    ("OMR", 3),
];

/// `1234567` → `1,234,567`: digits grouped by thousands, as people write them.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("unknown currency {0:?}: use an ISO 4217 code such as THB")]
    UnknownCurrency(String),
    #[error("{0:?} is not a decimal amount such as 125.50")]
    NotDecimal(String),
    #[error("{currency} has {max} decimal places; {input:?} has more")]
    TooManyDecimals {
        input: String,
        currency: Currency,
        max: u8,
    },
    #[error("amount {0:?} is too large")]
    TooLarge(String),
    #[error("amount must be greater than zero")]
    NotPositive,
}

/// An ISO 4217 currency code known to taem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency {
    code: [u8; 3],
    decimals: u8,
}

impl Currency {
    pub const THB: Currency = Currency {
        code: *b"THB",
        decimals: 2,
    };

    pub fn code(&self) -> &str {
        std::str::from_utf8(&self.code).expect("currency codes are ASCII")
    }

    pub fn decimals(&self) -> u8 {
        self.decimals
    }

    /// 10^decimals: the number of minor units in one major unit.
    pub fn minor_per_major(&self) -> i64 {
        10_i64.pow(u32::from(self.decimals))
    }
}

impl FromStr for Currency {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.trim().to_ascii_uppercase();
        CURRENCIES
            .iter()
            .find(|(code, _)| *code == upper)
            .map(|(code, decimals)| Currency {
                code: code.as_bytes().try_into().expect("three letters"),
                decimals: *decimals,
            })
            .ok_or_else(|| MoneyError::UnknownCurrency(s.to_string()))
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An amount of money in minor units (satang for THB). May be zero or negative only
/// where a caller builds it so; parsing from user input yields positive values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    minor: i64,
    currency: Currency,
}

impl Money {
    pub fn from_minor(minor: i64, currency: Currency) -> Money {
        Money { minor, currency }
    }

    pub fn minor(&self) -> i64 {
        self.minor
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// The currency's ISO code, borrowed from the amount.
    pub fn currency_code(&self) -> &str {
        self.currency.code()
    }

    /// Parses a decimal string such as `"1250.5"` exactly. Rejects signs, exponents,
    /// thousands separators and more decimals than the currency allows.
    pub fn parse(input: &str, currency: Currency) -> Result<Money, MoneyError> {
        let s = input.trim();
        let not_decimal = || MoneyError::NotDecimal(input.to_string());
        let (whole, frac) = match s.split_once('.') {
            Some((w, f)) => (w, f),
            None => (s, ""),
        };
        if whole.is_empty() && frac.is_empty() {
            return Err(not_decimal());
        }
        if !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(not_decimal());
        }
        if s.ends_with('.') {
            return Err(not_decimal());
        }
        let max = currency.decimals();
        let frac = frac.trim_end_matches('0');
        if frac.len() > usize::from(max) {
            return Err(MoneyError::TooManyDecimals {
                input: input.to_string(),
                currency,
                max,
            });
        }
        let whole = whole.trim_start_matches('0');
        if whole.len() > 15 {
            return Err(MoneyError::TooLarge(input.to_string()));
        }
        let whole: i64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| not_decimal())?
        };
        let mut frac_minor: i64 = 0;
        for i in 0..usize::from(max) {
            let digit = frac.as_bytes().get(i).map_or(0, |b| i64::from(b - b'0'));
            frac_minor = frac_minor * 10 + digit;
        }
        let minor = whole
            .checked_mul(currency.minor_per_major())
            .and_then(|w| w.checked_add(frac_minor))
            .filter(|m| *m <= MAX_MINOR)
            .ok_or_else(|| MoneyError::TooLarge(input.to_string()))?;
        Ok(Money { minor, currency })
    }

    /// Like [`Money::parse`], but the amount must be greater than zero.
    pub fn parse_positive(input: &str, currency: Currency) -> Result<Money, MoneyError> {
        let m = Money::parse(input, currency)?;
        if m.minor <= 0 {
            return Err(MoneyError::NotPositive);
        }
        Ok(m)
    }

    /// The canonical decimal string, always with the currency's number of decimals:
    /// `1250.50` for THB, `1250` for JPY.
    pub fn to_decimal_string(&self) -> String {
        let d = u32::from(self.currency.decimals());
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        if d == 0 {
            return format!("{sign}{abs}");
        }
        let unit = 10_u64.pow(d);
        format!(
            "{sign}{}.{:0width$}",
            abs / unit,
            abs % unit,
            width = d as usize
        )
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.to_decimal_string(), self.currency)
    }
}

/// How an amount travels in JSON: a decimal string such as `"1250.50"`, parsed
/// with [`Money::parse`] and written with [`Money::to_decimal_string`]. Only its
/// schema exists (the API document's `Amount`); the fields are plain strings.
pub struct Amount;

impl utoipa::PartialSchema for Amount {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(r"^[0-9]*(\.[0-9]+)?$"))
            .description(Some(
                "Decimal string in the currency's units, never a float; no more decimals \
                 than the currency has (2 for THB)",
            ))
            .examples(["1250.50"])
            .into()
    }
}

impl utoipa::ToSchema for Amount {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn thb(s: &str) -> Result<i64, MoneyError> {
        Money::parse(s, Currency::THB).map(|m| m.minor())
    }

    #[test]
    fn parses_exact_decimal_amounts() {
        assert_eq!(thb("125.50"), Ok(12550));
        assert_eq!(thb("125.5"), Ok(12550));
        assert_eq!(thb("125"), Ok(12500));
        assert_eq!(thb("0.01"), Ok(1));
        assert_eq!(thb(".5"), Ok(50));
        assert_eq!(thb("0.10"), Ok(10));
        assert_eq!(
            thb("1.230"),
            Ok(123),
            "trailing zeros are not extra precision"
        );
    }

    #[test]
    fn rejects_what_is_not_a_plain_decimal() {
        for bad in [
            "", ".", "1.", "-5", "+5", "1e3", "1,000", "12.3.4", "abc", " ", "NaN",
        ] {
            assert!(thb(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn rejects_more_decimals_than_the_currency_has() {
        assert!(matches!(
            thb("1.005"),
            Err(MoneyError::TooManyDecimals { max: 2, .. })
        ));
        let jpy: Currency = "JPY".parse().unwrap();
        assert!(Money::parse("100.5", jpy).is_err());
        assert_eq!(Money::parse("100", jpy).unwrap().minor(), 100);
        let bhd: Currency = "bhd".parse().unwrap();
        assert_eq!(Money::parse("1.234", bhd).unwrap().minor(), 1234);
    }

    #[test]
    fn rejects_zero_when_positive_is_required_and_huge_amounts() {
        assert_eq!(
            Money::parse_positive("0.00", Currency::THB),
            Err(MoneyError::NotPositive)
        );
        assert!(matches!(
            thb("99999999999999999999"),
            Err(MoneyError::TooLarge(_))
        ));
    }

    #[test]
    fn unknown_currencies_are_named_in_the_error() {
        let err = "XYZ".parse::<Currency>().unwrap_err();
        assert!(err.to_string().contains("XYZ"));
    }

    #[test]
    fn formats_with_the_currency_decimals() {
        assert_eq!(
            Money::from_minor(125050, Currency::THB).to_decimal_string(),
            "1250.50"
        );
        assert_eq!(
            Money::from_minor(5, Currency::THB).to_decimal_string(),
            "0.05"
        );
        let jpy: Currency = "JPY".parse().unwrap();
        assert_eq!(Money::from_minor(1200, jpy).to_decimal_string(), "1200");
    }

    proptest! {
        #[test]
        fn formatting_then_parsing_gives_back_the_same_amount(minor in 0i64..=MAX_MINOR) {
            let m = Money::from_minor(minor, Currency::THB);
            prop_assert_eq!(Money::parse(&m.to_decimal_string(), Currency::THB), Ok(m));
        }

        #[test]
        fn parsing_matches_integer_arithmetic(whole in 0i64..10_000_000, frac in 0i64..100) {
            let s = format!("{whole}.{frac:02}");
            prop_assert_eq!(thb(&s), Ok(whole * 100 + frac));
        }

        #[test]
        fn parsing_never_panics(s in "\\PC{0,24}") {
            let _ = thb(&s);
        }
    }
}
