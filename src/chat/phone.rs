//! The member's phone number, given in chat so that the counter can find them
//! by it: shared with the app's contact button (Telegram), or typed and
//! confirmed (every app). The confirmation's "yes" carries the number, so no
//! step is remembered between messages.

use super::{Conversation, Identity, Turn, s};
use crate::chat::{Intent, Message, PhoneKeyboard};
use crate::domain::model::MemberRef;
use crate::domain::phone;
use crate::service::ServiceError;

impl Conversation {
    /// Why we ask, the number we have (with a way to remove it), and how to
    /// give one: two messages, so that Telegram can show the contact button
    /// under the second while the first keeps its own button.
    pub(super) fn phone(&self, turn: &Turn) -> Vec<Message> {
        let loc = turn.loc;
        let mut about = Message::new().text(self.t(loc, "phone-intro", &[]));
        about = match &turn.member.phone {
            Some(p) => about
                .line()
                .line()
                .text(self.t(loc, "phone-current", &[("number", s(phone::display(p)))]))
                .row(vec![self.button(
                    loc,
                    "btn-phone-remove",
                    &[],
                    Intent::RemovePhone,
                )]),
            None => about,
        };
        let ask = match turn.customer.identity {
            Identity::Telegram(_) => Message::new()
                .text(self.t(loc, "phone-ask-share", &[]))
                .phone_keyboard(PhoneKeyboard::Offer(self.t(loc, "btn-phone-share", &[]))),
            _ => Message::new().text(self.t(loc, "phone-ask", &[])),
        };
        vec![about, ask]
    }

    /// A typed number: "save it?" with yes and no, or what a number looks like.
    pub(super) fn phone_typed(&self, turn: &Turn, text: &str) -> Message {
        let loc = turn.loc;
        let Some(e164) = phone::normalise(text) else {
            return Message::new().text(self.t(loc, "phone-invalid", &[]));
        };
        let number = s(phone::display(&e164));
        if turn.member.phone.as_deref() == Some(e164.as_str()) {
            return Message::new().text(self.t(loc, "phone-same", &[("number", number)]));
        }
        Message::new()
            .text(self.t(loc, "phone-confirm", &[("number", number)]))
            .row(vec![
                self.button(loc, "btn-phone-yes", &[], Intent::ConfirmPhone { e164 }),
                self.button(loc, "btn-phone-no", &[], Intent::KeepPhone),
            ])
    }

    /// A contact card from the app's button: only the sender's own.
    pub(super) async fn phone_shared(
        &self,
        turn: &Turn<'_>,
        number: &str,
        own: bool,
    ) -> Result<Message, ServiceError> {
        if !own {
            return Ok(Message::new().text(self.t(turn.loc, "phone-not-own", &[])));
        }
        self.phone_save(turn, number).await
    }

    /// Stores the number (their consent, now) and says so; a number another
    /// member has is refused without saying whose it is.
    pub(super) async fn phone_save(
        &self,
        turn: &Turn<'_>,
        number: &str,
    ) -> Result<Message, ServiceError> {
        let loc = turn.loc;
        let by = MemberRef::Id(turn.member.id);
        let text = match self.loyalty.chat_set_phone(&by, number, turn.now).await {
            Ok(m) => self.t(
                loc,
                "phone-saved",
                &[(
                    "number",
                    s(phone::display(m.phone.as_deref().unwrap_or(number))),
                )],
            ),
            Err(ServiceError::Duplicate("phone")) => self.t(loc, "phone-taken", &[]),
            Err(ServiceError::Invalid { .. }) => self.t(loc, "phone-invalid", &[]),
            Err(e) => return Err(e),
        };
        Ok(Message::new()
            .text(text)
            .phone_keyboard(PhoneKeyboard::Remove))
    }

    /// "No" to the confirmation: nothing stored.
    pub(super) fn phone_keep(&self, turn: &Turn) -> Message {
        Message::new()
            .text(self.t(turn.loc, "phone-not-saved", &[]))
            .phone_keyboard(PhoneKeyboard::Remove)
    }

    pub(super) async fn phone_remove(&self, turn: &Turn<'_>) -> Result<Message, ServiceError> {
        self.loyalty
            .chat_clear_phone(&MemberRef::Id(turn.member.id))
            .await?;
        Ok(Message::new()
            .text(self.t(turn.loc, "phone-removed", &[]))
            .phone_keyboard(PhoneKeyboard::Remove))
    }
}
