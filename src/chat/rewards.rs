//! The reward catalogue, redeeming, and the member's vouchers.

use std::collections::HashMap;

use super::{Conversation, Turn, nonce, s};
use crate::chat::{Card, Intent, Message, Photo, REWARDS_PER_PAGE};
use crate::domain::Refusal;
use crate::domain::model::*;
use crate::domain::picture;
use crate::i18n::{self, Locale};
use crate::service::ServiceError;

impl Conversation {
    pub(super) fn reward_name<'r>(&self, loc: Locale, r: &'r Reward) -> &'r str {
        match loc {
            Locale::Th => &r.name_th,
            Locale::En => &r.name_en,
        }
    }

    /// What a reward gives, said plainly (`None` for a product: its name
    /// says it).
    pub(super) fn gives(&self, loc: Locale, r: &Reward) -> Option<String> {
        use crate::domain::offer::{RewardKind, percent_text};
        let money = |m: crate::domain::Money| s(i18n::money(m));
        let mut parts = match &r.kind {
            RewardKind::Product { .. } => return None,
            RewardKind::FixedDiscount { off, .. } => {
                vec![self.t(loc, "reward-gives-fixed", &[("amount", money(*off))])]
            }
            RewardKind::PercentDiscount { basis_points, .. } => vec![self.t(
                loc,
                "reward-gives-percent",
                &[("percent", s(percent_text(*basis_points)))],
            )],
            RewardKind::Cashback { credit } => {
                vec![self.t(loc, "reward-gives-credit", &[("amount", money(*credit))])]
            }
            RewardKind::DrawEntry => vec![self.t(loc, "reward-gives-draw", &[])],
        };
        if let RewardKind::PercentDiscount {
            cap, categories, ..
        } = &r.kind
        {
            if let Some(cap) = cap {
                parts.push(self.t(loc, "reward-gives-cap", &[("amount", money(*cap))]));
            }
            if !categories.is_empty() {
                let list = s(categories.join(", "));
                parts.push(self.t(loc, "reward-gives-only", &[("categories", list)]));
            }
        }
        if let RewardKind::FixedDiscount {
            min_basket: Some(min),
            ..
        }
        | RewardKind::PercentDiscount {
            min_basket: Some(min),
            ..
        } = &r.kind
        {
            parts.push(self.t(loc, "reward-gives-min", &[("amount", money(*min))]));
        }
        Some(parts.join(" · "))
    }

    pub(super) async fn rewards(
        &self,
        turn: &Turn<'_>,
        page: u32,
    ) -> Result<Message, ServiceError> {
        let loc = turn.loc;
        // For this member: what they can afford or are close to first.
        let all: Vec<Reward> = self.loyalty.rewards_for(&turn.member, turn.now).await?;
        if all.is_empty() {
            return Ok(Message::new().text(self.t(loc, "rewards-empty", &[])));
        }
        // A partner's reward says where it is taken.
        let merchants = match all.iter().any(|r| r.partner_id.is_some()) {
            true => self.loyalty.merchants().await?,
            false => Vec::new(),
        };
        let pages = all.len().div_ceil(REWARDS_PER_PAGE);
        let page = (page as usize).min(pages - 1);
        let balance = turn.member.balance.value();
        let mut m = Message::new().bold(self.t(
            loc,
            "rewards-title",
            &[
                ("points", s(i18n::number(balance))),
                ("page", s((page + 1).to_string())),
                ("pages", s(pages.to_string())),
            ],
        ));
        let mut buttons = Vec::new();
        for r in all
            .iter()
            .skip(page * REWARDS_PER_PAGE)
            .take(REWARDS_PER_PAGE)
        {
            let name = self.reward_name(loc, r);
            let cost = s(i18n::number(r.cost.value()));
            let id = if r.stock == Some(0) {
                "reward-line-out-of-stock"
            } else if r.cost.value() <= balance {
                "reward-line"
            } else {
                "reward-line-short"
            };
            m = m.line().text(self.t(
                loc,
                id,
                &[
                    ("name", s(name)),
                    ("cost", cost.clone()),
                    ("missing", s(i18n::number(r.cost.value() - balance))),
                ],
            ));
            let at = r.partner_id.as_ref().map(|p| {
                let name = merchants
                    .iter()
                    .find(|m| &m.id == p)
                    .map_or(p.as_str(), |m| &m.name);
                self.t(loc, "reward-at-partner", &[("partner", s(name))])
            });
            let gives = match (self.gives(loc, r), at) {
                (Some(g), Some(a)) => Some(format!("{g} · {a}")),
                (g, a) => g.or(a),
            };
            if let Some(g) = &gives {
                m = m.line().text(format!("  {g}"));
            }
            let redeem = (r.stock != Some(0) && r.cost.value() <= balance).then(|| {
                self.button(
                    loc,
                    "btn-redeem",
                    &[("name", s(name)), ("cost", cost.clone())],
                    Intent::Redeem { reward_id: r.id },
                )
            });
            m.cards.push(Card {
                title: name.to_string(),
                subtitle: {
                    let cost_text = self.t(
                        loc,
                        &id.replace("reward-line", "reward-card"),
                        &[
                            ("cost", cost),
                            ("missing", s(i18n::number(r.cost.value() - balance))),
                        ],
                    );
                    match gives {
                        Some(g) => format!("{g}\n{cost_text}"),
                        None => cost_text,
                    }
                },
                button: redeem.clone(),
                picture: r.picture.as_ref().map(|p| picture::path(r.id, p)),
            });
            if let Some(b) = redeem {
                buttons.push(vec![b]);
            }
        }
        m.buttons = buttons;
        let mut nav = Vec::new();
        if page > 0 {
            nav.push(self.button(
                loc,
                "btn-prev",
                &[],
                Intent::Rewards {
                    page: page as u32 - 1,
                },
            ));
        }
        if page + 1 < pages {
            nav.push(self.button(
                loc,
                "btn-next",
                &[],
                Intent::Rewards {
                    page: page as u32 + 1,
                },
            ));
        }
        Ok(m.row(nav))
    }

    pub(super) async fn redeem_ask(
        &self,
        turn: &Turn<'_>,
        reward_id: i64,
    ) -> Result<Message, ServiceError> {
        let loc = turn.loc;
        let r = match self.loyalty.reward(reward_id).await {
            Ok(r) if r.offered(turn.now) => r,
            Ok(_) | Err(ServiceError::NotFound(_)) => {
                return Ok(self.refusal(loc, &Refusal::RewardUnavailable));
            }
            Err(e) => return Err(e),
        };
        let balance = turn.member.balance.value();
        let name = self.reward_name(loc, &r).to_string();
        let text = self.t(
            loc,
            "redeem-confirm",
            &[
                ("name", s(name.clone())),
                ("cost", s(i18n::number(r.cost.value()))),
                ("balance", s(i18n::number(balance))),
                ("after", s(i18n::number(balance - r.cost.value()))),
            ],
        );
        let mut m = Message::new().text(text);
        if let Some(p) = &r.picture
            && let Some((_, bytes)) = self.loyalty.reward_picture(r.id, p).await?
        {
            m.photo = Some(Photo {
                path: picture::path(r.id, p),
                bytes: bytes.into(),
            });
        }
        Ok(m.row(vec![
            self.button(
                loc,
                "btn-confirm-redeem",
                &[],
                Intent::ConfirmRedeem {
                    reward_id,
                    nonce: nonce(),
                },
            ),
            self.button(loc, "btn-back", &[], Intent::Rewards { page: 0 }),
        ]))
    }

    pub(super) async fn redeem(
        &self,
        turn: &Turn<'_>,
        reward_id: i64,
        nonce: &str,
    ) -> Result<Message, ServiceError> {
        let loc = turn.loc;
        let key = format!("chat:{nonce}");
        let v = match self
            .loyalty
            .redeem(turn.member.id, reward_id, Some(key), turn.now)
            .await
        {
            Ok(v) => v,
            Err(ServiceError::Refused(r)) => return Ok(self.refusal(loc, &r)),
            Err(ServiceError::NotFound(_)) => {
                return Ok(self.refusal(loc, &Refusal::RewardUnavailable));
            }
            Err(e) => return Err(e),
        };
        let r = self.loyalty.reward(v.reward_id).await?;
        let member = self.loyalty.member(&MemberRef::Id(turn.member.id)).await?;
        let balance = member.balance;
        if let crate::domain::offer::RewardKind::Cashback { credit } = r.kind {
            let total = self.loyalty.store_credit(&member).await?;
            return Ok(Message::new()
                .bold(self.t(loc, "credit-added", &[("amount", s(i18n::money(credit)))]))
                .line()
                .text(self.t(loc, "balance-credit", &[("amount", s(i18n::money(total)))]))
                .line()
                .text(self.t(
                    loc,
                    "balance-total",
                    &[("points", s(i18n::number(balance.value())))],
                ))
                .row(vec![self.button(loc, "btn-balance", &[], Intent::Balance)]));
        }
        Ok(Message::new()
            .bold(self.t(
                loc,
                "redeem-done",
                &[("name", s(self.reward_name(loc, &r)))],
            ))
            .line()
            .code(v.code.clone())
            .line()
            .text(self.t(
                loc,
                "voucher-valid-until",
                &[("date", s(self.date(loc, v.expires_at)))],
            ))
            .line()
            .text(self.t(
                loc,
                "balance-total",
                &[("points", s(i18n::number(balance.value())))],
            ))
            .qr(v.code)
            .row(vec![self.button(
                loc,
                "btn-vouchers",
                &[],
                Intent::Vouchers,
            )]))
    }

    pub(super) async fn reward_names(
        &self,
        loc: Locale,
    ) -> Result<HashMap<i64, String>, ServiceError> {
        Ok(self
            .loyalty
            .rewards(true)
            .await?
            .into_iter()
            .map(|r| (r.id, self.reward_name(loc, &r).to_string()))
            .collect())
    }

    pub(super) async fn vouchers(&self, turn: &Turn<'_>) -> Result<Message, ServiceError> {
        let loc = turn.loc;
        let open: Vec<Voucher> = self
            .loyalty
            .vouchers(turn.member.id)
            .await?
            .into_iter()
            .filter(|v| v.status == VoucherStatus::Issued && v.expires_at > turn.now)
            .collect();
        if open.is_empty() {
            return Ok(Message::new()
                .text(self.t(loc, "vouchers-empty", &[]))
                .row(vec![self.button(
                    loc,
                    "btn-rewards",
                    &[],
                    Intent::Rewards { page: 0 },
                )]));
        }
        let names = self.reward_names(loc).await?;
        let mut m = Message::new().bold(self.t(loc, "vouchers-title", &[]));
        for v in &open {
            let name = names.get(&v.reward_id).cloned().unwrap_or_default();
            m = m
                .line()
                .text(self.t(
                    loc,
                    "voucher-line",
                    &[("name", s(name)), ("date", s(self.date(loc, v.expires_at)))],
                ))
                .line()
                .code(v.code.clone());
            m = m.row(vec![self.button(
                loc,
                "btn-cancel-voucher",
                &[("code", s(v.code.clone()))],
                Intent::CancelVoucher {
                    code: v.code.clone(),
                },
            )]);
        }
        Ok(m)
    }

    pub(super) async fn cancel_ask(
        &self,
        turn: &Turn<'_>,
        code: &str,
    ) -> Result<Message, ServiceError> {
        let loc = turn.loc;
        let voucher = crate::domain::VoucherCode::parse(code);
        let v = match voucher {
            Some(c) => match self.loyalty.voucher(&c).await {
                Ok(v) if v.member_id == turn.member.id => v,
                Ok(_) | Err(ServiceError::NotFound(_)) => {
                    return Ok(Message::new().text(self.t(loc, "voucher-not-found", &[])));
                }
                Err(e) => return Err(e),
            },
            None => return Ok(Message::new().text(self.t(loc, "voucher-not-found", &[]))),
        };
        Ok(Message::new()
            .text(self.t(
                loc,
                "cancel-confirm",
                &[
                    ("code", s(v.code.clone())),
                    ("points", s(i18n::number(v.points.value()))),
                ],
            ))
            .row(vec![
                self.button(
                    loc,
                    "btn-confirm-cancel",
                    &[],
                    Intent::ConfirmCancel {
                        code: v.code.clone(),
                    },
                ),
                self.button(loc, "btn-back", &[], Intent::Vouchers),
            ]))
    }

    pub(super) async fn cancel(
        &self,
        turn: &Turn<'_>,
        code: &str,
    ) -> Result<Message, ServiceError> {
        let loc = turn.loc;
        match self
            .loyalty
            .cancel_voucher(turn.member.id, code, turn.now)
            .await
        {
            Ok(v) => {
                let balance = self
                    .loyalty
                    .member(&MemberRef::Id(turn.member.id))
                    .await?
                    .balance;
                Ok(Message::new().text(self.t(
                    loc,
                    "cancel-done",
                    &[
                        ("points", s(i18n::number(v.points.value()))),
                        ("balance", s(i18n::number(balance.value()))),
                    ],
                )))
            }
            Err(ServiceError::Refused(r)) => Ok(self.refusal(loc, &r)),
            Err(ServiceError::NotFound(_)) => {
                Ok(Message::new().text(self.t(loc, "voucher-not-found", &[])))
            }
            Err(e) => Err(e),
        }
    }
}
