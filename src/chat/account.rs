//! The member's own things: the card, invitations, receipt claims, linking
//! another app, language and marketing consent.

use super::privacy::via;
use super::{Conversation, Identity, Turn, s};
use crate::chat::{Intent, Message};
use crate::domain::Refusal;
use crate::domain::model::*;
use crate::i18n::{self, Locale};
use crate::service::ServiceError;

impl Conversation {
    /// The member's invitation: a link for the app they write from, and the code.
    pub(super) async fn invite(&self, turn: &Turn<'_>) -> Result<Message, ServiceError> {
        let loc = turn.loc;
        let program = self.loyalty.program().await?;
        let code = &turn.member.code;
        let links = self.invites.read().expect("not poisoned").clone();
        let link = match &turn.customer.identity {
            Identity::Telegram(_) => links
                .telegram_bot
                .map(|bot| format!("https://t.me/{bot}?start=ref_{code}")),
            Identity::Line(_) => links
                .line_basic_id
                .map(|id| format!("https://line.me/R/oaMessage/{id}/?ref_{code}")),
            Identity::Member(_) => None,
        };
        let r = &program.referral;
        let mut m = Message::new().text(self.t(
            loc,
            "invite-intro",
            &[
                ("referrer", s(i18n::number(r.referrer_points))),
                ("referee", s(i18n::number(r.referee_points))),
            ],
        ));
        if let Some(link) = link {
            m = m
                .line()
                .line()
                .text(self.t(loc, "invite-link", &[]))
                .line()
                .text(link);
        }
        Ok(m.line()
            .line()
            .text(self.t(loc, "invite-code", &[]))
            .code(format!("ref_{code}")))
    }

    pub(super) fn card(&self, turn: &Turn) -> Message {
        let loc = turn.loc;
        Message::new()
            .text(self.t(loc, "card-caption", &[]))
            .line()
            .code(turn.member.code.clone())
            .line()
            .text(self.t(
                loc,
                "balance-total",
                &[("points", s(i18n::number(turn.member.balance.value())))],
            ))
            .qr(turn.member.code.clone())
    }

    pub(super) async fn claim(&self, turn: &Turn<'_>, code: &str) -> Result<Message, ServiceError> {
        let loc = turn.loc;
        let via = self.platform_ref(turn);
        match self
            .loyalty
            .claim(turn.member.id, via.as_ref(), code, turn.now)
            .await
        {
            Ok(c) => {
                let merchant = self
                    .loyalty
                    .merchant(&c.merchant_id)
                    .await
                    .map(|m| m.name)
                    .unwrap_or_default();
                Ok(Message::new().text(self.t(
                    loc,
                    "claim-done",
                    &[
                        ("points", s(i18n::number(c.points.value()))),
                        ("merchant", s(merchant)),
                        ("balance", s(i18n::number(c.balance.value()))),
                    ],
                )))
            }
            Err(ServiceError::Refused(r)) => Ok(self.refusal(loc, &r)),
            Err(ServiceError::NotFound(_)) => {
                Ok(Message::new().text(self.t(loc, "claim-not-found", &[])))
            }
            Err(e) => Err(e),
        }
    }

    pub(super) fn platform_ref(&self, turn: &Turn) -> Option<MemberRef> {
        match &turn.customer.identity {
            Identity::Telegram(id) => Some(MemberRef::Telegram(*id)),
            Identity::Line(id) => Some(MemberRef::Line(id.clone())),
            Identity::Member(_) => None,
        }
    }

    pub(super) async fn link_code(&self, turn: &Turn<'_>) -> Result<Message, ServiceError> {
        let loc = turn.loc;
        if self.platform_ref(turn).is_none() {
            return Ok(Message::new().text(self.t(loc, "link-not-here", &[])));
        }
        let code = self.loyalty.start_link(turn.member.id, turn.now).await?;
        Ok(Message::new()
            .text(self.t(
                loc,
                "link-code",
                &[("minutes", s(crate::service::LINK_MINUTES.to_string()))],
            ))
            .line()
            .code(format!("link {code}")))
    }

    pub(super) async fn link(&self, turn: &Turn<'_>, code: &str) -> Result<Message, ServiceError> {
        let loc = turn.loc;
        let Some(by) = self.platform_ref(turn) else {
            return Ok(Message::new().text(self.t(loc, "link-not-here", &[])));
        };
        let id = match self.loyalty.link(turn.member.id, code, &by, turn.now).await {
            Ok(m) => {
                return Ok(self.with_menu(
                    loc,
                    Message::new().text(self.t(
                        loc,
                        "link-done",
                        &[
                            ("code", s(m.code)),
                            ("points", s(i18n::number(m.balance.value()))),
                        ],
                    )),
                ));
            }
            Err(ServiceError::Refused(Refusal::LinkTaken)) => "link-taken",
            Err(ServiceError::Refused(Refusal::LinkHasHistory)) => "link-has-history",
            Err(ServiceError::Refused(Refusal::LinkInvalid)) => "link-invalid",
            Err(ServiceError::Refused(r)) => return Ok(self.refusal(loc, &r)),
            Err(e) => return Err(e),
        };
        Ok(Message::new().text(self.t(loc, id, &[])))
    }

    pub(super) fn language_choices(&self, loc: Locale) -> Message {
        Message::new()
            .text(self.t(loc, "language-choose", &[]))
            .row(vec![
                self.button(
                    Locale::Th,
                    "language-name",
                    &[],
                    Intent::SetLanguage(Locale::Th),
                ),
                self.button(
                    Locale::En,
                    "language-name",
                    &[],
                    Intent::SetLanguage(Locale::En),
                ),
            ])
    }

    pub(super) async fn set_language(
        &self,
        turn: &Turn<'_>,
        l: Locale,
    ) -> Result<Message, ServiceError> {
        self.loyalty
            .update_member(
                turn.member.id,
                &MemberUpdate {
                    locale: Some(l.as_str().to_string()),
                    ..MemberUpdate::default()
                },
            )
            .await?;
        Ok(self.with_menu(l, Message::new().text(self.t(l, "language-set", &[]))))
    }

    pub(super) async fn set_marketing(
        &self,
        turn: &Turn<'_>,
        opt_in: bool,
    ) -> Result<Message, ServiceError> {
        let loc = turn.loc;
        self.loyalty
            .set_marketing(turn.member.id, opt_in, via(turn.customer), turn.now)
            .await?;
        Ok(if opt_in {
            Message::new().text(self.t(loc, "optin-done", &[]))
        } else {
            Message::new()
                .text(self.t(loc, "optout-done", &[]))
                .row(vec![self.button(loc, "btn-optin", &[], Intent::OptIn)])
        })
    }
}

impl Conversation {
    /// The member's birthday: what it is and how to give it, or given now
    /// (day and month; it changes at most once a year).
    pub(super) async fn birthday(
        &self,
        turn: &Turn<'_>,
        text: Option<&str>,
    ) -> Result<Message, ServiceError> {
        use crate::service::audiences::BirthdaySet;
        let loc = turn.loc;
        let day_month = |d: u32, m: u32| {
            let date = chrono::NaiveDate::from_ymd_opt(2000, m, d).expect("a valid birthday");
            // The date without its year.
            let full = i18n::date(date, loc);
            full.rsplit_once(' ')
                .map_or(full.clone(), |(dm, _)| dm.to_string())
        };
        let Some(text) = text else {
            return Ok(
                Message::new().text(match self.loyalty.birthday(turn.member.id).await? {
                    Some((d, m)) => self.t(loc, "birthday-known", &[("date", s(day_month(d, m)))]),
                    None => self.t(loc, "birthday-ask", &[]),
                }),
            );
        };
        Ok(Message::new().text(
            match self
                .loyalty
                .set_birthday(turn.member.id, text, turn.now)
                .await
            {
                Ok(BirthdaySet::Set(d, m)) => {
                    self.t(loc, "birthday-saved", &[("date", s(day_month(d, m)))])
                }
                Ok(BirthdaySet::TooSoon { next }) => self.t(
                    loc,
                    "birthday-too-soon",
                    &[(
                        "date",
                        s(i18n::local_date(next, self.loyalty.timezone(), loc)),
                    )],
                ),
                Err(ServiceError::Invalid { .. }) => self.t(loc, "birthday-invalid", &[]),
                Err(e) => return Err(e),
            },
        ))
    }

    /// A one-time code to show at the till instead of confirming in the chat.
    pub(super) async fn pay_code(&self, turn: &Turn<'_>) -> Result<Message, ServiceError> {
        let loc = turn.loc;
        match self.loyalty.new_pay_code(turn.member.id, turn.now).await {
            Ok((code, _)) => Ok(Message::new()
                .text(self.t(
                    loc,
                    "pay-code",
                    &[(
                        "minutes",
                        s(crate::service::payments::PAY_CODE_MINUTES.to_string()),
                    )],
                ))
                .line()
                .code(code)),
            Err(ServiceError::Refused(r)) => Ok(self.refusal(loc, &r)),
            Err(e) => Err(e),
        }
    }

    /// The customer's yes or no to a till asking to take points.
    pub(super) async fn answer_payment(
        &self,
        turn: &Turn<'_>,
        id: &str,
        yes: bool,
    ) -> Result<Message, ServiceError> {
        use crate::domain::payment::{PaySource, PaymentStatus};
        let loc = turn.loc;
        match self
            .loyalty
            .answer_payment(turn.member.id, id, yes, turn.now)
            .await
        {
            Ok(p) => {
                let key = match (p.status, p.source) {
                    (PaymentStatus::Confirmed, PaySource::Points) => "payment-confirmed",
                    (PaymentStatus::Confirmed, PaySource::Credit) => "payment-confirmed-credit",
                    (_, PaySource::Points) => "payment-declined",
                    (_, PaySource::Credit) => "payment-declined-credit",
                };
                Ok(Message::new().text(self.t(
                    loc,
                    key,
                    &[
                        ("points", s(i18n::number(p.points.value()))),
                        ("amount", s(i18n::money(p.amount))),
                    ],
                )))
            }
            Err(ServiceError::Refused(r)) => Ok(self.refusal(loc, &r)),
            Err(ServiceError::NotFound(_)) => {
                Ok(Message::new().text(self.t(loc, "payment-closed", &[])))
            }
            Err(e) => Err(e),
        }
    }
}
