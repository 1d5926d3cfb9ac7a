//! What a customer wants, whatever the platform: parsed from typed text
//! (commands and natural keywords in Thai and English) or from a button press
//! (compact ASCII callback data, well within Telegram's 64 bytes and LINE's 300).

use crate::domain::{ClaimCode, phone};
use crate::i18n::Locale;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    /// First contact or `/start PAYLOAD` (a `ref_...` referral or `link_...` token).
    Start {
        payload: Option<String>,
    },
    Balance,
    Rewards {
        page: u32,
    },
    /// Asks to redeem: answered with a confirmation step.
    Redeem {
        reward_id: i64,
    },
    /// Confirms a redemption; the nonce makes a double tap or a replay redeem once.
    ConfirmRedeem {
        reward_id: i64,
        nonce: String,
    },
    Vouchers,
    /// Asks to give a voucher back: answered with a confirmation step.
    CancelVoucher {
        code: String,
    },
    ConfirmCancel {
        code: String,
    },
    History,
    Card,
    /// A receipt claim code, or `None` to ask for one.
    Claim {
        code: Option<String>,
    },
    /// Current promotions (the rich menu's Promotions tile).
    Promotions,
    /// The member's invitation link and code for friends.
    Invite,
    /// A link code from the other chat app, or `None` to make one here.
    Link {
        code: Option<String>,
    },
    /// Shows the language choices.
    Language,
    SetLanguage(Locale),
    OptOut,
    OptIn,
    /// The member's phone number: why we ask, the one we have, how to give one.
    Phone,
    /// The member's birthday: asked (`None`) or given as day and month
    /// (`/birthday 29/2`, `วันเกิด 29/2`).
    Birthday {
        text: Option<String>,
    },
    /// Something typed as a phone number (`/phone 081…`, `เบอร์ 081…`, or a
    /// number on its own): answered with a confirmation step, or with what is
    /// wrong with it.
    TypedPhone {
        text: String,
    },
    /// Confirms the number (E.164) shown in the confirmation step.
    ConfirmPhone {
        e164: String,
    },
    /// "No" to the confirmation step: nothing is stored.
    KeepPhone,
    /// Forgets the member's phone number.
    RemovePhone,
    /// A contact card sent by the app's own button (Telegram): `own` says
    /// whether it is the sender's own (another person's card is refused).
    SharedPhone {
        number: String,
        own: bool,
    },
    /// A one-time code to show at the till to pay with points.
    PayCode,
    /// The customer's answer to a till asking to take points.
    AnswerPayment {
        id: String,
        yes: bool,
    },
    /// The answer to the question asked once after joining: may we send
    /// news and offers?
    Consent {
        yes: bool,
    },
    /// The privacy notice, and what the member can do about their data.
    Privacy,
    /// A copy of everything taem holds about the member.
    MyData,
    /// Asks to erase the member's data: answered with what they would lose.
    Erase,
    /// Confirms the erasure.
    ConfirmErase,
    /// "No" to the erasure: nothing changes.
    KeepData,
    Help,
    /// A message taem does not understand.
    Unknown,
}

/// Keywords people type instead of commands (compared after trimming and lower-casing).
type Keyword = (&'static str, fn() -> Intent);

const KEYWORDS: &[Keyword] = &[
    ("แต้ม", || Intent::Balance),
    ("คะแนน", || Intent::Balance),
    ("ยอดแต้ม", || Intent::Balance),
    ("เช็คแต้ม", || Intent::Balance),
    ("แต้มของฉัน", || Intent::Balance),
    ("points", || Intent::Balance),
    ("my points", || Intent::Balance),
    ("balance", || Intent::Balance),
    ("รางวัล", || Intent::Rewards { page: 0 }),
    ("ของรางวัล", || Intent::Rewards {
        page: 0,
    }),
    ("แลกของรางวัล", || Intent::Rewards {
        page: 0,
    }),
    ("แลกแต้ม", || Intent::Rewards { page: 0 }),
    ("rewards", || Intent::Rewards { page: 0 }),
    ("คูปอง", || Intent::Vouchers),
    ("คูปองของฉัน", || Intent::Vouchers),
    ("vouchers", || Intent::Vouchers),
    ("my vouchers", || Intent::Vouchers),
    ("ประวัติ", || Intent::History),
    ("history", || Intent::History),
    ("บัตร", || Intent::Card),
    ("บัตรสมาชิก", || Intent::Card),
    ("card", || Intent::Card),
    ("member card", || Intent::Card),
    ("รับแต้ม", || Intent::Claim { code: None }),
    ("claim", || Intent::Claim { code: None }),
    ("เชื่อมบัญชี", || Intent::Link {
        code: None,
    }),
    ("link", || Intent::Link { code: None }),
    ("โปรโมชั่น", || Intent::Promotions),
    ("ชวนเพื่อน", || Intent::Invite),
    ("แนะนำเพื่อน", || Intent::Invite),
    ("invite", || Intent::Invite),
    ("invite friends", || Intent::Invite),
    ("promotions", || Intent::Promotions),
    ("ภาษา", || Intent::Language),
    ("language", || Intent::Language),
    ("english", || Intent::SetLanguage(Locale::En)),
    ("ไทย", || Intent::SetLanguage(Locale::Th)),
    ("ภาษาไทย", || Intent::SetLanguage(Locale::Th)),
    ("วันเกิด", || Intent::Birthday { text: None }),
    ("birthday", || Intent::Birthday { text: None }),
    ("my birthday", || Intent::Birthday { text: None }),
    ("เบอร์โทร", || Intent::Phone),
    ("เบอร์โทรของฉัน", || {
        Intent::Phone
    }),
    ("เบอร์โทรศัพท์", || Intent::Phone),
    ("เบอร์ของฉัน", || Intent::Phone),
    ("phone", || Intent::Phone),
    ("my phone", || Intent::Phone),
    ("phone number", || Intent::Phone),
    ("my phone number", || Intent::Phone),
    ("จ่ายด้วยแต้ม", || Intent::PayCode),
    ("ใช้แต้มจ่าย", || Intent::PayCode),
    ("pay", || Intent::PayCode),
    ("pay with points", || Intent::PayCode),
    ("ช่วยเหลือ", || Intent::Help),
    ("วิธีใช้", || Intent::Help),
    ("help", || Intent::Help),
    ("menu", || Intent::Help),
    ("เมนู", || Intent::Help),
    ("หยุด", || Intent::OptOut),
    ("stop", || Intent::OptOut),
    ("รับข่าวสาร", || Intent::OptIn),
    ("subscribe", || Intent::OptIn),
    ("privacy", || Intent::Privacy),
    ("ความเป็นส่วนตัว", || {
        Intent::Privacy
    }),
    ("นโยบายความเป็นส่วนตัว", || Intent::Privacy),
    ("my data", || Intent::MyData),
    ("ข้อมูลของฉัน", || Intent::MyData),
    ("delete my data", || Intent::Erase),
    ("erase my data", || Intent::Erase),
    ("ลบข้อมูลของฉัน", || {
        Intent::Erase
    }),
    ("start", || Intent::Start { payload: None }),
    ("สวัสดี", || Intent::Start { payload: None }),
    ("hello", || Intent::Start { payload: None }),
    ("hi", || Intent::Start { payload: None }),
];

impl Intent {
    /// Parses what a customer typed.
    pub fn from_text(text: &str) -> Intent {
        let text = text.trim();
        if let Some(cmd) = text.strip_prefix('/') {
            let (name, arg) = match cmd.split_once(char::is_whitespace) {
                Some((n, a)) => (n, Some(a.trim()).filter(|a| !a.is_empty())),
                None => (cmd, None),
            };
            // Telegram adds @botname in groups: /balance@taem_bot.
            let name = name.split('@').next().unwrap_or("").to_ascii_lowercase();
            return match name.as_str() {
                "start" => Intent::Start {
                    payload: arg.map(str::to_string),
                },
                "balance" | "points" => Intent::Balance,
                "rewards" => Intent::Rewards { page: 0 },
                "vouchers" => Intent::Vouchers,
                "history" => Intent::History,
                "card" => Intent::Card,
                "claim" => Intent::Claim {
                    code: arg.map(str::to_string),
                },
                "lang" | "language" => match arg.and_then(Locale::parse) {
                    Some(l) => Intent::SetLanguage(l),
                    None => Intent::Language,
                },
                "link" => Intent::Link {
                    code: arg.map(str::to_string),
                },
                "promotions" | "promo" => Intent::Promotions,
                "invite" | "refer" => Intent::Invite,
                "phone" => match arg {
                    Some(text) => Intent::TypedPhone { text: text.into() },
                    None => Intent::Phone,
                },
                "pay" => Intent::PayCode,
                "birthday" => Intent::Birthday {
                    text: arg.map(str::to_string),
                },
                "help" | "menu" => Intent::Help,
                "stop" => Intent::OptOut,
                "subscribe" | "optin" => Intent::OptIn,
                "privacy" => Intent::Privacy,
                "mydata" => Intent::MyData,
                "erase" | "deletemydata" => Intent::Erase,
                _ => Intent::Unknown,
            };
        }
        let lower = text.to_lowercase();
        if let Some((_, make)) = KEYWORDS.iter().find(|(k, _)| *k == lower) {
            return make();
        }
        // An invitation typed or prefilled by LINE's link: "ref_RA3QBMP4".
        if lower.starts_with("ref_") && !text.contains(char::is_whitespace) {
            return Intent::Start {
                payload: Some(text.to_string()),
            };
        }
        // "claim ABCDE23456" / "รับแต้ม ABCDE23456", or the bare code.
        for prefix in ["link ", "เชื่อมบัญชี "] {
            if let Some(rest) = lower.strip_prefix(prefix) {
                return Intent::Link {
                    code: Some(rest.trim().to_string()),
                };
            }
        }
        for prefix in ["birthday ", "วันเกิด "] {
            if let Some(rest) = lower.strip_prefix(prefix) {
                return Intent::Birthday {
                    text: Some(rest.trim().to_string()),
                };
            }
        }
        for prefix in ["phone ", "เบอร์โทร ", "เบอร์ "] {
            if let Some(rest) = lower.strip_prefix(prefix) {
                return Intent::TypedPhone {
                    text: rest.trim().to_string(),
                };
            }
        }
        // A phone number on its own ("081-234-5678"); it never reads as a
        // claim code, whose alphabet has no 0 or 1.
        if phone::normalise(text).is_some() {
            return Intent::TypedPhone {
                text: text.to_string(),
            };
        }
        for prefix in ["claim ", "รับแต้ม "] {
            if let Some(rest) = lower.strip_prefix(prefix) {
                return Intent::Claim {
                    code: Some(rest.trim().to_string()),
                };
            }
        }
        if ClaimCode::parse(text).is_some() {
            return Intent::Claim {
                code: Some(text.to_string()),
            };
        }
        // Digits that are not a number we take (a digit missing, one too
        // many): answered with what a phone number looks like.
        if looks_like_phone(text) {
            return Intent::TypedPhone {
                text: text.to_string(),
            };
        }
        Intent::Unknown
    }

    /// The callback data for a button that asks for this intent.
    pub fn to_callback(&self) -> String {
        match self {
            Intent::Start { .. } => "st".into(),
            Intent::Balance => "bal".into(),
            Intent::Rewards { page } => format!("rw:{page}"),
            Intent::Redeem { reward_id } => format!("rd:{reward_id}"),
            Intent::ConfirmRedeem { reward_id, nonce } => format!("rc:{reward_id}:{nonce}"),
            Intent::Vouchers => "vo".into(),
            Intent::CancelVoucher { code } => format!("vx:{code}"),
            Intent::ConfirmCancel { code } => format!("vc:{code}"),
            Intent::History => "hi".into(),
            Intent::Card => "cd".into(),
            Intent::Claim { .. } => "cl".into(),
            Intent::Promotions => "pr".into(),
            Intent::Invite => "iv".into(),
            Intent::Link { .. } => "lk".into(),
            Intent::Language => "lg".into(),
            Intent::SetLanguage(l) => format!("lg:{l}"),
            Intent::OptOut => "out".into(),
            Intent::OptIn => "in".into(),
            Intent::Phone | Intent::TypedPhone { .. } | Intent::SharedPhone { .. } => "ph".into(),
            Intent::ConfirmPhone { e164 } => format!("pc:{e164}"),
            Intent::KeepPhone => "pk".into(),
            Intent::RemovePhone => "px".into(),
            Intent::PayCode => "pay".into(),
            Intent::Birthday { .. } => "bd".into(),
            Intent::AnswerPayment { id, yes } => {
                format!("pa:{}:{id}", if *yes { "y" } else { "n" })
            }
            Intent::Consent { yes } => format!("cs:{}", if *yes { "y" } else { "n" }),
            Intent::Privacy => "pv".into(),
            Intent::MyData => "md".into(),
            Intent::Erase => "er".into(),
            Intent::ConfirmErase => "er:y".into(),
            Intent::KeepData => "er:n".into(),
            Intent::Help => "hp".into(),
            Intent::Unknown => "hp".into(),
        }
    }

    /// Parses callback data made by [`Intent::to_callback`]; anything else
    /// (old buttons, forged data) is `Unknown`.
    pub fn from_callback(data: &str) -> Intent {
        let (head, rest) = match data.split_once(':') {
            Some((h, r)) => (h, Some(r)),
            None => (data, None),
        };
        let id = |s: &str| s.parse::<i64>().ok();
        let parsed = match (head, rest) {
            ("st", None) => Some(Intent::Start { payload: None }),
            ("bal", None) => Some(Intent::Balance),
            ("rw", Some(p)) => p.parse().ok().map(|page| Intent::Rewards { page }),
            ("rd", Some(r)) => id(r).map(|reward_id| Intent::Redeem { reward_id }),
            ("rc", Some(r)) => r.split_once(':').and_then(|(rid, nonce)| {
                id(rid).map(|reward_id| Intent::ConfirmRedeem {
                    reward_id,
                    nonce: nonce.to_string(),
                })
            }),
            ("vo", None) => Some(Intent::Vouchers),
            ("vx", Some(c)) => Some(Intent::CancelVoucher { code: c.into() }),
            ("vc", Some(c)) => Some(Intent::ConfirmCancel { code: c.into() }),
            ("hi", None) => Some(Intent::History),
            ("cd", None) => Some(Intent::Card),
            ("cl", None) => Some(Intent::Claim { code: None }),
            ("pr", None) => Some(Intent::Promotions),
            ("iv", None) => Some(Intent::Invite),
            ("lk", None) => Some(Intent::Link { code: None }),
            ("lg", None) => Some(Intent::Language),
            ("lg", Some(l)) => Locale::parse(l).map(Intent::SetLanguage),
            ("cs", Some("y")) => Some(Intent::Consent { yes: true }),
            ("cs", Some("n")) => Some(Intent::Consent { yes: false }),
            ("pv", None) => Some(Intent::Privacy),
            ("bd", None) => Some(Intent::Birthday { text: None }),
            ("md", None) => Some(Intent::MyData),
            ("er", None) => Some(Intent::Erase),
            ("er", Some("y")) => Some(Intent::ConfirmErase),
            ("er", Some("n")) => Some(Intent::KeepData),
            ("out", None) => Some(Intent::OptOut),
            ("in", None) => Some(Intent::OptIn),
            ("ph", None) => Some(Intent::Phone),
            // Only a number already in E.164, as the confirmation step made it.
            ("pc", Some(n)) => (phone::normalise(n).as_deref() == Some(n))
                .then(|| Intent::ConfirmPhone { e164: n.into() }),
            ("pk", None) => Some(Intent::KeepPhone),
            ("px", None) => Some(Intent::RemovePhone),
            ("pay", None) => Some(Intent::PayCode),
            ("pa", Some(r)) => match r.split_once(':') {
                Some(("y", id)) if id.starts_with("pp_") => Some(Intent::AnswerPayment {
                    id: id.into(),
                    yes: true,
                }),
                Some(("n", id)) if id.starts_with("pp_") => Some(Intent::AnswerPayment {
                    id: id.into(),
                    yes: false,
                }),
                _ => None,
            },
            ("hp", None) => Some(Intent::Help),
            _ => None,
        };
        parsed.unwrap_or(Intent::Unknown)
    }
}

/// Text made only of what phone numbers are written with, and enough digits
/// to be meant as one.
fn looks_like_phone(text: &str) -> bool {
    let digits = text.chars().filter(char::is_ascii_digit).count();
    digits >= 6
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')' | '+'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_keywords_and_codes_are_understood() {
        assert_eq!(Intent::from_text("/balance@taem_bot"), Intent::Balance);
        assert_eq!(Intent::from_text(" แต้ม "), Intent::Balance);
        assert_eq!(Intent::from_text("Points"), Intent::Balance);
        assert_eq!(Intent::from_text("รางวัล"), Intent::Rewards { page: 0 });
        assert_eq!(
            Intent::from_text("/start ref_AB23CD45"),
            Intent::Start {
                payload: Some("ref_AB23CD45".into())
            }
        );
        assert_eq!(
            Intent::from_text("/lang en"),
            Intent::SetLanguage(Locale::En)
        );
        assert_eq!(Intent::from_text("/lang"), Intent::Language);
        assert_eq!(
            Intent::from_text("abcde-23456"),
            Intent::Claim {
                code: Some("abcde-23456".into())
            }
        );
        assert_eq!(
            Intent::from_text("/claim XYZ"),
            Intent::Claim {
                code: Some("XYZ".into())
            }
        );
        assert_eq!(Intent::from_text("what is this"), Intent::Unknown);
        assert_eq!(Intent::from_text("/nope"), Intent::Unknown);
    }

    #[test]
    fn privacy_is_asked_for_in_words_and_commands() {
        for (text, intent) in [
            ("/privacy", Intent::Privacy),
            ("ความเป็นส่วนตัว", Intent::Privacy),
            ("/mydata", Intent::MyData),
            ("My data", Intent::MyData),
            ("ข้อมูลของฉัน", Intent::MyData),
            ("/erase", Intent::Erase),
            ("ลบข้อมูลของฉัน", Intent::Erase),
            ("delete my data", Intent::Erase),
        ] {
            assert_eq!(Intent::from_text(text), intent, "{text}");
        }
    }

    #[test]
    fn every_button_round_trips_within_64_bytes() {
        let all = [
            Intent::Start { payload: None },
            Intent::Balance,
            Intent::Rewards { page: 12 },
            Intent::Redeem {
                reward_id: i64::MAX,
            },
            Intent::ConfirmRedeem {
                reward_id: i64::MAX,
                nonce: "ABCDEFGH23".into(),
            },
            Intent::Vouchers,
            Intent::CancelVoucher {
                code: "ABCDE23456".into(),
            },
            Intent::ConfirmCancel {
                code: "ABCDE23456".into(),
            },
            Intent::History,
            Intent::Card,
            Intent::Claim { code: None },
            Intent::Link { code: None },
            Intent::Promotions,
            Intent::Language,
            Intent::SetLanguage(Locale::Th),
            Intent::OptOut,
            Intent::OptIn,
            Intent::Phone,
            Intent::ConfirmPhone {
                // E.164's longest.
                e164: "+123456789012345".into(),
            },
            Intent::ConfirmPhone {
                e164: "+66812345678".into(),
            },
            Intent::KeepPhone,
            Intent::RemovePhone,
            Intent::Consent { yes: true },
            Intent::Consent { yes: false },
            Intent::Privacy,
            Intent::MyData,
            Intent::Erase,
            Intent::ConfirmErase,
            Intent::KeepData,
            Intent::Help,
        ];
        for intent in all {
            let data = intent.to_callback();
            assert!(data.len() <= 64, "{data}");
            assert_eq!(Intent::from_callback(&data), intent);
        }
        assert_eq!(Intent::from_callback("rd:x"), Intent::Unknown);
        assert_eq!(Intent::from_callback("garbage"), Intent::Unknown);
        // A forged or hand-made number is not confirmed as it stands.
        assert_eq!(Intent::from_callback("pc:0812345678"), Intent::Unknown);
        assert_eq!(Intent::from_callback("pc:+66 81"), Intent::Unknown);
    }

    #[test]
    fn phone_numbers_are_understood_however_they_are_typed() {
        let typed = |t: &str| Intent::TypedPhone { text: t.into() };
        for ask in [
            "/phone",
            "เบอร์โทรของฉัน",
            "เบอร์โทร",
            "My phone number",
            "phone",
        ] {
            assert_eq!(Intent::from_text(ask), Intent::Phone, "{ask}");
        }
        assert_eq!(Intent::from_text(" 081-234-5678 "), typed("081-234-5678"));
        assert_eq!(
            Intent::from_text("+66 81 234 5678"),
            typed("+66 81 234 5678")
        );
        assert_eq!(Intent::from_text("/phone 0812345678"), typed("0812345678"));
        assert_eq!(
            Intent::from_text("เบอร์ 081 234 5678"),
            typed("081 234 5678")
        );
        assert_eq!(Intent::from_text("phone abc"), typed("abc"));
        // A digit short: still meant as a number, so answered as one.
        assert_eq!(Intent::from_text("081-234-567"), typed("081-234-567"));
        // Short numbers and claim codes keep their meaning.
        assert_eq!(Intent::from_text("12345"), Intent::Unknown);
        assert_eq!(
            Intent::from_text("ABCDE-23456"),
            Intent::Claim {
                code: Some("ABCDE-23456".into())
            }
        );
    }
}
