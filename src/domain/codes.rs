//! Codes people read, type and scan: member codes, voucher codes, receipt claim
//! codes. They use an alphabet without the look-alikes 0/O, 1/I/L, are generated
//! from the OS random source, and are parsed case-insensitively, ignoring spaces
//! and dashes a person may type.

use std::fmt;

use rand::RngExt;

/// 31 symbols: digits 2-9 and letters without I, L, O.
pub const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";

fn generate(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

/// Normalises what a person typed: upper case, spaces and dashes dropped. Returns
/// `None` unless exactly `len` symbols of the alphabet remain.
fn normalise(input: &str, len: usize) -> Option<String> {
    let s: String = input
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '\u{200b}'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (s.len() == len && s.bytes().all(|b| ALPHABET.contains(&b))).then_some(s)
}

macro_rules! code_type {
    ($(#[$doc:meta])* $name:ident, $len:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            pub const LEN: usize = $len;

            pub fn generate() -> Self {
                Self(generate(Self::LEN))
            }

            /// Accepts what a person typed (any case, with spaces or dashes).
            pub fn parse(input: &str) -> Option<Self> {
                normalise(input, Self::LEN).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

code_type!(
    /// Identifies a member at the counter and in the CLI: 8 symbols (31^8 ≈ 8.5e11).
    MemberCode,
    8
);
code_type!(
    /// A single-use voucher issued on redemption: 10 symbols (31^10 ≈ 8e14), so
    /// guessing a live one is hopeless.
    VoucherCode,
    10
);
code_type!(
    /// Printed on a receipt bought without a member; whoever claims it first gets
    /// the points.
    ClaimCode,
    10
);

code_type!(
    /// Links a member's Telegram and LINE accounts: shown in one app, typed (or
    /// opened as a `link_` deep link) in the other, once, within minutes.
    LinkCode,
    10
);

/// A random UUID (version 4), e.g. for LINE's `X-Line-Retry-Key`.
pub fn uuid_v4() -> String {
    uuid_from(rand::rng().random())
}

/// Formats 16 bytes as a version-4 UUID: the same bytes always give the same
/// UUID (a retry key derived from a row stays the same across retries).
pub fn uuid_from(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// A random secret of 32 bytes, hex encoded, with a readable prefix.
pub fn webhook_secret() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    format!("whsec_{}", hex::encode(bytes))
}

/// A merchant id: `m_` and 10 lower-case symbols, safe in headers and URLs.
pub fn merchant_id() -> String {
    format!("m_{}", generate(10).to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_version_4_and_the_same_bytes_give_the_same_one() {
        let k = uuid_v4();
        assert_eq!(k.len(), 36);
        assert_eq!(&k[14..15], "4");
        assert!(matches!(&k[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(uuid_v4(), k);
        assert_eq!(uuid_from([7; 16]), uuid_from([7; 16]));
        assert_eq!(uuid_from([0; 16]), "00000000-0000-4000-8000-000000000000");
    }

    #[test]
    fn generated_codes_avoid_look_alike_characters() {
        for _ in 0..200 {
            let code = MemberCode::generate();
            assert_eq!(code.as_str().len(), 8);
            assert!(!code.as_str().contains(['0', 'O', '1', 'I', 'L']), "{code}");
        }
    }

    #[test]
    fn typed_codes_are_accepted_in_any_case_with_spaces_and_dashes() {
        let code = VoucherCode::generate();
        let typed = format!(
            "{}-{} ",
            code.as_str()[..5].to_lowercase(),
            &code.as_str()[5..]
        );
        assert_eq!(VoucherCode::parse(&typed), Some(code));
    }

    #[test]
    fn wrong_length_or_alphabet_is_rejected() {
        assert_eq!(MemberCode::parse("ABCD2345X"), None);
        assert_eq!(MemberCode::parse("ABCD234"), None);
        assert_eq!(
            MemberCode::parse("ABCD2340"),
            None,
            "0 is not in the alphabet"
        );
        assert!(MemberCode::parse("abcd2345").is_some());
    }

    #[test]
    fn secrets_and_ids_have_their_shape() {
        let s = webhook_secret();
        assert!(s.starts_with("whsec_") && s.len() == 6 + 64);
        assert_ne!(webhook_secret(), s);
        let id = merchant_id();
        assert!(id.starts_with("m_") && id.len() == 12);
    }
}
