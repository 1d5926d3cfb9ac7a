//! Turns the conversation's reply model into LINE messages: text (plain, ≤ 5,000
//! characters), QR codes as image messages served by taem at short-lived signed
//! URLs, and buttons as quick replies with postback actions (≤ 13, labels ≤ 20
//! characters).

use serde_json::{Value, json};

use crate::chat::Reply;

const MAX_TEXT: usize = 5000;
const MAX_QUICK_REPLIES: usize = 13;
const MAX_LABEL: usize = 20;

fn label(s: &str) -> String {
    if s.chars().count() <= MAX_LABEL {
        s.to_string()
    } else {
        s.chars().take(MAX_LABEL - 1).chain(['…']).collect()
    }
}

/// Public URLs for what LINE fetches by URL (QR codes and pictures); without a
/// public URL QR codes go as text only and pictures are left out.
pub trait Urls {
    /// A QR image of `data`.
    fn qr(&self, data: &str) -> Option<String>;
    /// What taem publishes at `path`.
    fn public(&self, path: &str) -> Option<String>;
    /// A short-lived link to download a member's data.
    fn data(&self, member_id: i64) -> Option<String>;
}

impl Urls for Option<crate::http::qr::QrUrls> {
    fn qr(&self, data: &str) -> Option<String> {
        self.as_ref()
            .map(|q| q.url(data, crate::domain::time::now()))
    }

    fn public(&self, path: &str) -> Option<String> {
        self.as_ref().map(|q| q.public(path))
    }

    fn data(&self, member_id: i64) -> Option<String> {
        self.as_ref()
            .map(|q| q.data_url(member_id, crate::domain::time::now()))
    }
}

pub fn messages(reply: &Reply, urls: &impl Urls) -> Vec<Value> {
    let mut out = Vec::new();
    let mut buttons = Vec::new();
    for m in &reply.messages {
        if let Some(photo) = &m.photo
            && let Some(url) = urls.public(&photo.path)
        {
            out.push(json!({"type": "image", "originalContentUrl": url, "previewImageUrl": url}));
        }
        if let Some(qr) = &m.qr
            && let Some(url) = urls.qr(&qr.data)
        {
            out.push(json!({"type": "image", "originalContentUrl": url, "previewImageUrl": url}));
        }
        let mut text = m.plain();
        if let Some(doc) = &m.document {
            // LINE takes no files from a bot: a link that works for a while.
            match urls.data(doc.member_id) {
                Some(url) => text.push_str(&format!("\n{url}")),
                None => {
                    tracing::warn!(
                        "no public URL (TAEM_PUBLIC_URL): a data link cannot go on LINE"
                    );
                    continue;
                }
            }
        }
        let text: String = text.chars().take(MAX_TEXT).collect();
        if !m.cards.is_empty() {
            // A catalogue: a Flex carousel of bubbles, each with its own button;
            // the other buttons (paging) stay quick replies.
            out.push(carousel(&text, &m.cards, urls));
            let on_cards: Vec<_> = m.cards.iter().filter_map(|c| c.button.as_ref()).collect();
            buttons.extend(m.all_buttons().filter(|b| !on_cards.contains(b)).cloned());
            continue;
        }
        if !text.trim().is_empty() {
            out.push(json!({"type": "text", "text": text}));
        }
        buttons.extend(m.all_buttons().cloned());
    }
    if !buttons.is_empty()
        && let Some(last) = out.last_mut()
    {
        let items: Vec<Value> = buttons
            .iter()
            .take(MAX_QUICK_REPLIES)
            .map(|b| {
                json!({"type": "action", "action": {
                    "type": "postback",
                    "label": label(&b.label),
                    "data": b.intent.to_callback(),
                    "displayText": b.label,
                }})
            })
            .collect();
        last["quickReply"] = json!({"items": items});
    }
    out
}

/// At most 12 bubbles per carousel (LINE's limit); alt text ≤ 400 characters.
/// A card's picture is its bubble's hero image, square, cropped to fill.
fn carousel(alt: &str, cards: &[crate::chat::Card], urls: &impl Urls) -> Value {
    let bubbles: Vec<Value> = cards
        .iter()
        .take(12)
        .map(|c| {
            let mut bubble = json!({
                "type": "bubble",
                "size": "kilo",
                "body": {"type": "box", "layout": "vertical", "spacing": "sm", "contents": [
                    {"type": "text", "text": c.title, "weight": "bold", "size": "lg", "wrap": true},
                    {"type": "text", "text": c.subtitle, "size": "sm", "color": "#666666", "wrap": true}
                ]}
            });
            if let Some(url) = c.picture.as_deref().and_then(|p| urls.public(p)) {
                bubble["hero"] = json!({"type": "image", "url": url, "size": "full",
                                        "aspectRatio": "1:1", "aspectMode": "cover"});
            }
            if let Some(b) = &c.button {
                bubble["footer"] = json!({"type": "box", "layout": "vertical", "contents": [{
                    "type": "button", "style": "primary", "height": "sm",
                    "action": {"type": "postback", "label": label(&b.label),
                               "data": b.intent.to_callback(), "displayText": b.label}
                }]});
            }
            bubble
        })
        .collect();
    let alt: String = alt.chars().take(400).collect();
    json!({"type": "flex", "altText": alt, "contents": {"type": "carousel", "contents": bubbles}})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::{Button, Intent, Message};

    #[test]
    fn buttons_become_quick_replies_with_short_labels() {
        let reply = Reply::one(
            Message::new()
                .text("hello")
                .qr("ABCD2345")
                .row(vec![Button {
                    label: "แลก กาแฟเย็นแก้วใหญ่พิเศษ (100)".into(),
                    intent: Intent::Redeem { reward_id: 7 },
                }]),
        );
        struct Fixed;
        impl Urls for Fixed {
            fn qr(&self, d: &str) -> Option<String> {
                Some(format!("https://x/qr/{d}.png"))
            }
            fn public(&self, p: &str) -> Option<String> {
                Some(format!("https://x{p}"))
            }
            fn data(&self, m: i64) -> Option<String> {
                Some(format!("https://x/my-data/{m}.json"))
            }
        }
        let out = messages(&reply, &Fixed);
        assert_eq!(out[0]["type"], "image");
        assert_eq!(out[1]["text"], "hello");
        let item = &out[1]["quickReply"]["items"][0]["action"];
        assert_eq!(item["data"], "rd:7");
        assert!(item["label"].as_str().unwrap().chars().count() <= 20);
    }
}
