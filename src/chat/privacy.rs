//! The member's data in chat (PDPA): the consent question asked once after
//! joining, the privacy notice, a copy of their data, and erasure.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{Conversation, Customer, Identity, Turn, s};
use crate::chat::{Document, Intent, Message, Reply};
use crate::domain::model::MemberRef;
use crate::i18n::{self, Locale};
use crate::service::ServiceError;

/// What a consent given or withdrawn in chat is recorded as coming through.
pub(super) fn via(c: &Customer) -> &'static str {
    match c.identity {
        Identity::Telegram(_) => "telegram",
        Identity::Line(_) => "line",
        Identity::Member(_) => "terminal",
    }
}

impl Conversation {
    /// The privacy notice in `loc`: the shop's words (the other language's
    /// when it wrote only one), else taem's own short notice; and its link.
    async fn notice(&self, loc: Locale) -> Result<Message, ServiceError> {
        let program = self.loyalty.program().await?;
        let p = &program.privacy;
        let words = match loc {
            Locale::Th => p.text_th.as_ref().or(p.text_en.as_ref()),
            Locale::En => p.text_en.as_ref().or(p.text_th.as_ref()),
        };
        let mut m = Message::new().text(match words {
            Some(w) => w.clone(),
            None => self.t(
                loc,
                "privacy-default",
                &[("programme", s(program.name.clone()))],
            ),
        });
        if let Some(url) = &p.url {
            m = m
                .line()
                .text(self.t(loc, "privacy-link", &[("url", s(url.clone()))]));
        }
        Ok(m)
    }

    /// Asked once, after joining (or at the first message of a member made at
    /// a till): may we send news and offers? With the privacy notice.
    pub(super) async fn consent_ask(
        &self,
        turn: &Turn<'_>,
    ) -> Result<Option<Message>, ServiceError> {
        if !self
            .loyalty
            .ask_consent_once(turn.member.id, turn.now)
            .await?
        {
            return Ok(None);
        }
        let loc = turn.loc;
        let program = self.loyalty.program().await?;
        let mut m = self.notice(loc).await?;
        m.spans.insert(0, super::Span::Text("\n\n".into()));
        m.spans.insert(
            0,
            super::Span::Bold(self.t(loc, "consent-ask", &[("programme", s(program.name))])),
        );
        Ok(Some(m.row(vec![
            self.button(loc, "btn-consent-yes", &[], Intent::Consent { yes: true }),
            self.button(loc, "btn-consent-no", &[], Intent::Consent { yes: false }),
        ])))
    }

    /// The answer to the consent question.
    pub(super) async fn consent_answer(
        &self,
        turn: &Turn<'_>,
        yes: bool,
    ) -> Result<Message, ServiceError> {
        let loc = turn.loc;
        self.loyalty
            .set_marketing(turn.member.id, yes, via(turn.customer), turn.now)
            .await?;
        let id = if yes { "consent-yes" } else { "consent-no" };
        Ok(self.with_menu(loc, Message::new().text(self.t(loc, id, &[]))))
    }

    /// The notice, whether they get marketing, and what they can do.
    pub(super) async fn privacy(&self, turn: &Turn<'_>) -> Result<Message, ServiceError> {
        let loc = turn.loc;
        let state = if turn.member.marketing_opt_in {
            "privacy-marketing-on"
        } else {
            "privacy-marketing-off"
        };
        let toggle = if turn.member.marketing_opt_in {
            self.button(loc, "btn-optout", &[], Intent::OptOut)
        } else {
            self.button(loc, "btn-optin", &[], Intent::OptIn)
        };
        Ok(self
            .notice(loc)
            .await?
            .line()
            .line()
            .text(self.t(loc, state, &[]))
            .line()
            .text(self.t(loc, "privacy-rights", &[]))
            .row(vec![
                self.button(loc, "btn-mydata", &[], Intent::MyData),
                self.button(loc, "btn-erase", &[], Intent::Erase),
            ])
            .row(vec![toggle]))
    }

    /// A copy of everything taem holds about them, as a JSON file.
    pub(super) async fn my_data(&self, turn: &Turn<'_>) -> Result<Message, ServiceError> {
        let loc = turn.loc;
        let bytes = self.loyalty.personal_data(turn.member.id, turn.now).await?;
        let name = format!(
            "taem-{}-{}.json",
            turn.member.code,
            turn.now.format("%Y%m%d")
        );
        Ok(Message::new()
            .text(self.t(loc, "mydata-ready", &[]))
            .document(Document {
                file_name: name,
                bytes: Arc::from(bytes),
                member_id: turn.member.id,
            }))
    }

    /// What erasing would take away, and a yes/no.
    pub(super) async fn erase_ask(&self, turn: &Turn<'_>) -> Result<Message, ServiceError> {
        let loc = turn.loc;
        let cost = self.loyalty.erasure_cost(&turn.member, turn.now).await?;
        let credit = self.loyalty.store_credit(&turn.member).await?;
        Ok(Message::new()
            .bold(self.t(loc, "erase-ask-title", &[]))
            .line()
            .text(self.t(
                loc,
                "erase-ask",
                &[
                    ("points", s(i18n::number(cost.points))),
                    ("vouchers", s(i18n::number(cost.vouchers))),
                    ("credit", s(i18n::money(credit))),
                ],
            ))
            .row(vec![
                self.button(loc, "btn-erase-yes", &[], Intent::ConfirmErase),
                self.button(loc, "btn-erase-no", &[], Intent::KeepData),
            ]))
    }

    /// "No" to the erasure.
    pub(super) fn keep_data(&self, turn: &Turn<'_>) -> Message {
        self.with_menu(
            turn.loc,
            Message::new().text(self.t(turn.loc, "erase-kept", &[])),
        )
    }

    /// The erasure, confirmed. The member is looked up, never made: a second
    /// tap (or an old button) finds nobody and says so.
    pub(super) async fn erase_confirmed(
        &self,
        who: &Customer,
        now: DateTime<Utc>,
    ) -> Result<Reply, ServiceError> {
        let by = match &who.identity {
            Identity::Telegram(id) => MemberRef::Telegram(*id),
            Identity::Line(id) => MemberRef::Line(id.clone()),
            Identity::Member(code) => match crate::domain::MemberCode::parse(code) {
                Some(code) => MemberRef::Code(code),
                None => return Err(ServiceError::NotFound("member")),
            },
        };
        let app = Locale::for_member(None, who.language_code.as_deref(), self.default_locale);
        let member = match self.loyalty.member(&by).await {
            Ok(m) if m.erased_at.is_none() => m,
            Ok(_) | Err(ServiceError::NotFound(_)) => {
                return Ok(Reply::one(Message::new().text(self.t(
                    app,
                    "erase-nothing",
                    &[],
                ))));
            }
            Err(e) => return Err(e),
        };
        let loc = Locale::for_member(
            member.locale.as_deref(),
            member.app_locale.as_deref(),
            self.default_locale,
        );
        self.loyalty.erase_member(member.id, via(who), now).await?;
        Ok(Reply::one(Message::new().text(self.t(
            loc,
            "erase-done",
            &[],
        ))))
    }
}
