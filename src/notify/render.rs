//! Notices as chat messages, in the member's language (Fluent, `notify.ftl`).

use chrono_tz::Tz;
use fluent_bundle::FluentValue;

use crate::chat::{Button, Intent, Message};
use crate::domain::campaign::Campaign;
use crate::domain::notice::Notice;
use crate::domain::tier::Tiers;
use crate::i18n::{self, I18n, Locale};

/// Names the renderer looks up: merchants, campaigns and tiers.
pub struct Names<'a> {
    pub merchant: &'a dyn Fn(&str) -> String,
    pub campaign: &'a dyn Fn(i64) -> Option<Campaign>,
    pub tiers: &'a Tiers,
}

fn s<'a>(v: impl Into<String>) -> FluentValue<'a> {
    FluentValue::String(v.into().into())
}

fn num<'a>(n: i64) -> FluentValue<'a> {
    s(i18n::number(n))
}

/// The message for a notice; `None` when there is nothing to say any more
/// (a broadcast whose campaign is gone).
pub fn message(
    i18n: &I18n,
    tz: Tz,
    loc: Locale,
    notice: &Notice,
    names: &Names<'_>,
) -> Option<Message> {
    let t = |id: &str, args: &[(&str, FluentValue<'_>)]| {
        if args.is_empty() {
            i18n.msg(loc, id, None)
        } else {
            i18n.msg(loc, id, Some(&i18n::args(args)))
        }
    };
    let button = |id: &str, intent: Intent| Button {
        label: t(id, &[]),
        intent,
    };
    let thai = loc == Locale::Th;
    let pick = |th: &str, en: &str| if thai { th.to_string() } else { en.to_string() };
    let last_day = |at| i18n::date(crate::domain::time::last_local_day(at, tz), loc);
    let money = |minor: i64, currency: &str| {
        currency
            .parse()
            .map(|c| i18n::money(crate::domain::Money::from_minor(minor, c)))
            .unwrap_or_else(|_| format!("{minor} {currency}"))
    };
    Some(match notice {
        Notice::Earned {
            merchant_id,
            points,
            balance,
            lines,
            ..
        } => {
            let mut m = Message::new().text(t(
                "notice-earned",
                &[
                    ("points", num(*points)),
                    ("merchant", s((names.merchant)(merchant_id))),
                    ("balance", num(*balance)),
                ],
            ));
            // The breakdown, when more than the base rule gave points.
            if lines.len() > 1 {
                for l in lines {
                    let name = match (&l.name_th, &l.name_en) {
                        (Some(th), Some(en)) => pick(th, en),
                        (None, Some(en)) => en.clone(),
                        _ => String::new(),
                    };
                    let id = match l.rule.as_str() {
                        "base" => "notice-line-base",
                        "tier" => "notice-line-tier",
                        "referral" => "notice-line-referral",
                        _ => "notice-line-campaign",
                    };
                    m = m
                        .line()
                        .text(t(id, &[("name", s(name)), ("points", num(l.points))]));
                }
            }
            m.row(vec![button("btn-balance", Intent::Balance)])
        }
        Notice::VoucherIssued {
            code,
            reward_th,
            reward_en,
            expires_at,
        } => Message::new()
            .text(t(
                "notice-voucher-issued",
                &[
                    ("reward", s(pick(reward_th, reward_en))),
                    ("date", s(last_day(*expires_at))),
                ],
            ))
            .line()
            .code(code.clone())
            .qr(code.clone()),
        Notice::VoucherUsed {
            code,
            reward_th,
            reward_en,
            merchant_id,
        } => Message::new().text(t(
            "notice-voucher-used",
            &[
                ("code", s(code.clone())),
                ("reward", s(pick(reward_th, reward_en))),
                ("merchant", s((names.merchant)(merchant_id))),
            ],
        )),
        Notice::Expiring { points, expires_at } => Message::new()
            .text(t(
                "notice-expiring",
                &[("points", num(*points)), ("date", s(last_day(*expires_at)))],
            ))
            .row(vec![button("btn-rewards", Intent::Rewards { page: 0 })]),
        Notice::TierChanged { to, up, .. } => {
            let tier = names.tiers.get(Some(to));
            let id = if *up {
                "notice-tier-up"
            } else {
                "notice-tier-down"
            };
            Message::new()
                .text(t(id, &[("tier", s(tier.name(thai)))]))
                .row(vec![button("btn-balance", Intent::Balance)])
        }
        Notice::ReferralBonus { points, balance } => Message::new().text(t(
            "notice-referral",
            &[("points", num(*points)), ("balance", num(*balance))],
        )),
        Notice::Journey {
            journey,
            points,
            voucher,
            reward_th,
            reward_en,
            needed,
        } => {
            let reward = pick(
                reward_th.as_deref().unwrap_or_default(),
                reward_en.as_deref().unwrap_or_default(),
            );
            let id = format!("notice-journey-{}", journey.replace('_', "-"));
            let mut text = t(
                &id,
                &[
                    ("reward", s(reward.clone())),
                    ("needed", num(needed.unwrap_or(0))),
                ],
            );
            if *points > 0 {
                text.push('\n');
                text.push_str(&t("notice-journey-points", &[("points", num(*points))]));
            }
            let mut m = Message::new();
            if let Some(code) = voucher {
                text.push('\n');
                text.push_str(&t("notice-journey-voucher", &[("reward", s(reward))]));
                m = m.text(text).code(code.clone());
            } else {
                m = m.text(text);
            }
            m.row(vec![button("btn-rewards", Intent::Rewards { page: 0 })])
        }
        Notice::NegativeBalance { balance } => {
            Message::new().text(t("notice-negative", &[("balance", num(*balance))]))
        }
        Notice::PaymentRequest {
            payment_id,
            merchant_id,
            points,
            amount_minor,
            currency,
            expires_at,
            credit,
        } => {
            let amount = money(*amount_minor, currency);
            let until = i18n::local_time(*expires_at, tz);
            let key = if *credit {
                "notice-credit-request"
            } else {
                "notice-payment-request"
            };
            Message::new()
                .text(t(
                    key,
                    &[
                        ("points", num(*points)),
                        ("amount", s(amount)),
                        ("merchant", s((names.merchant)(merchant_id))),
                        ("time", s(until)),
                    ],
                ))
                .row(vec![
                    button(
                        "btn-pay-yes",
                        Intent::AnswerPayment {
                            id: payment_id.clone(),
                            yes: true,
                        },
                    ),
                    button(
                        "btn-pay-no",
                        Intent::AnswerPayment {
                            id: payment_id.clone(),
                            yes: false,
                        },
                    ),
                ])
        }
        Notice::PaymentCaptured {
            merchant_id,
            points,
            amount_minor,
            currency,
            balance,
            credit,
        } => Message::new()
            .text(t(
                if credit.is_some() {
                    "notice-credit-captured"
                } else {
                    "notice-payment-captured"
                },
                &[
                    ("points", num(*points)),
                    ("amount", s(money(*amount_minor, currency))),
                    ("merchant", s((names.merchant)(merchant_id))),
                    ("balance", num(*balance)),
                    ("credit", s(money(credit.unwrap_or(0), currency))),
                ],
            ))
            .row(vec![button("btn-balance", Intent::Balance)]),
        Notice::Broadcast { campaign_id } => {
            let c = (names.campaign)(*campaign_id)?;
            let mut m = Message::new().bold(format!("🎉 {}", c.name(thai)));
            if !c.text(thai).is_empty() {
                m = m.line().text(c.text(thai).to_string());
            }
            m.line()
                .line()
                .text(t("broadcast-footer", &[]))
                .row(vec![button("btn-promotions", Intent::Promotions)])
        }
    })
}
