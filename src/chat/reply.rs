//! What taem answers, before any platform renders it: text made of spans (plain,
//! bold, code), rows of buttons that carry intents, and an optional QR image.

use super::intent::Intent;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Span {
    Text(String),
    Bold(String),
    /// A code to copy (voucher, member or claim code).
    Code(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Button {
    pub label: String,
    pub intent: Intent,
}

/// An image the platform renders: a QR code of `data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Qr {
    pub data: String,
}

/// A picture taem publishes (a reward's): its path under the public URL, for
/// platforms that take images by URL (LINE), and its bytes, for those that
/// take uploads (Telegram).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Photo {
    pub path: String,
    pub bytes: std::sync::Arc<[u8]>,
}

/// A file for the member (a copy of their data): sent as a document where the
/// app takes files (Telegram), as a short-lived download link where it does
/// not (LINE: the link is made from `member_id`, and the file again when it
/// is opened).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub file_name: String,
    pub bytes: std::sync::Arc<[u8]>,
    pub member_id: i64,
}

/// One item of a catalogue (a reward): platforms with cards (LINE's Flex
/// carousel) show these instead of the text lines that list the same items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    pub title: String,
    pub subtitle: String,
    pub button: Option<Button>,
    /// The path of the card's picture under the public URL (the hero image).
    pub picture: Option<String>,
}

/// A keyboard for sending the customer's own phone number, on apps that have
/// one (Telegram's contact button); elsewhere the customer types the number.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PhoneKeyboard {
    /// Whatever the app shows now stays.
    #[default]
    Keep,
    /// Offers a button, labelled so, that sends the customer's own number
    /// (shown instead of the message's buttons where both cannot be).
    Offer(String),
    /// Takes an offered button away again.
    Remove,
}

/// One message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    pub spans: Vec<Span>,
    pub buttons: Vec<Vec<Button>>,
    /// Sent as a photo with the text as its caption.
    pub qr: Option<Qr>,
    /// A picture sent before the text (as a photo with the text as its caption
    /// where the platform has captions).
    pub photo: Option<Photo>,
    /// The same items as the text, as cards (LINE renders a carousel).
    pub cards: Vec<Card>,
    pub phone_keyboard: PhoneKeyboard,
    /// A file sent with the text.
    pub document: Option<Document>,
}

impl Message {
    pub fn new() -> Message {
        Message::default()
    }

    pub fn text(mut self, s: impl Into<String>) -> Message {
        self.spans.push(Span::Text(s.into()));
        self
    }

    pub fn bold(mut self, s: impl Into<String>) -> Message {
        self.spans.push(Span::Bold(s.into()));
        self
    }

    pub fn code(mut self, s: impl Into<String>) -> Message {
        self.spans.push(Span::Code(s.into()));
        self
    }

    /// Starts a new line (unless the message is empty).
    pub fn line(mut self) -> Message {
        if !self.spans.is_empty() {
            self.spans.push(Span::Text("\n".into()));
        }
        self
    }

    pub fn row(mut self, buttons: Vec<Button>) -> Message {
        if !buttons.is_empty() {
            self.buttons.push(buttons);
        }
        self
    }

    pub fn phone_keyboard(mut self, k: PhoneKeyboard) -> Message {
        self.phone_keyboard = k;
        self
    }

    pub fn document(mut self, d: Document) -> Message {
        self.document = Some(d);
        self
    }

    pub fn qr(mut self, data: impl Into<String>) -> Message {
        self.qr = Some(Qr { data: data.into() });
        self
    }

    /// The text without formatting (LINE, the terminal, tests).
    pub fn plain(&self) -> String {
        self.spans
            .iter()
            .map(|s| match s {
                Span::Text(t) | Span::Bold(t) | Span::Code(t) => t.as_str(),
            })
            .collect()
    }

    /// Every button, row by row.
    pub fn all_buttons(&self) -> impl Iterator<Item = &Button> {
        self.buttons.iter().flatten()
    }
}

/// Everything taem answers to one customer action, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reply {
    pub messages: Vec<Message>,
}

impl Reply {
    pub fn one(m: Message) -> Reply {
        Reply { messages: vec![m] }
    }

    pub fn push(&mut self, m: Message) {
        self.messages.push(m);
    }

    /// All text, for tests and logs.
    pub fn plain(&self) -> String {
        self.messages
            .iter()
            .map(Message::plain)
            .collect::<Vec<_>>()
            .join("\n---\n")
    }
}
