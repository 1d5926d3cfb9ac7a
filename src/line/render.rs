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

/// `qr_url` turns QR data into a public image URL (or `None` when taem has no
/// public URL, in which case the code is sent as text only).
pub fn messages(reply: &Reply, qr_url: impl Fn(&str) -> Option<String>) -> Vec<Value> {
    let mut out = Vec::new();
    let mut buttons = Vec::new();
    for m in &reply.messages {
        if let Some(qr) = &m.qr
            && let Some(url) = qr_url(&qr.data)
        {
            out.push(json!({"type": "image", "originalContentUrl": url, "previewImageUrl": url}));
        }
        let text: String = m.plain().chars().take(MAX_TEXT).collect();
        if !m.cards.is_empty() {
            // A catalogue: a Flex carousel of bubbles, each with its own button;
            // the other buttons (paging) stay quick replies.
            out.push(carousel(&text, &m.cards));
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
fn carousel(alt: &str, cards: &[crate::chat::Card]) -> Value {
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
        let out = messages(&reply, |d| Some(format!("https://x/qr/{d}.png")));
        assert_eq!(out[0]["type"], "image");
        assert_eq!(out[1]["text"], "hello");
        let item = &out[1]["quickReply"]["items"][0]["action"];
        assert_eq!(item["data"], "rd:7");
        assert!(item["label"].as_str().unwrap().chars().count() <= 20);
    }
}
