//! `taem chat`: the customer conversation in a terminal, for trying taem without
//! a bot token. Buttons show as numbered choices; QR codes are drawn with
//! block characters.

use std::io::{BufRead, Write};
use std::sync::Arc;

use qrcode::QrCode;
use qrcode::render::unicode::Dense1x2;

use crate::chat::{Button, Conversation, Customer, Identity, Intent, Reply};
use crate::domain::model::NewMember;
use crate::domain::time::now;
use crate::i18n::Locale;

fn draw_qr(data: &str) -> String {
    match QrCode::new(data.as_bytes()) {
        Ok(code) => code
            .render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
        Err(_) => format!("[QR: {data}]"),
    }
}

/// Prints a reply and returns its buttons in the order they were numbered.
fn show(reply: &Reply, out: &mut impl Write) -> std::io::Result<Vec<Button>> {
    let mut buttons = Vec::new();
    for m in &reply.messages {
        if let Some(qr) = &m.qr {
            writeln!(out, "{}", draw_qr(&qr.data))?;
        }
        writeln!(out, "{}", m.plain())?;
        if let Some(doc) = &m.document {
            writeln!(out, "[file {}: {} bytes]", doc.file_name, doc.bytes.len())?;
        }
        for row in &m.buttons {
            let labels: Vec<String> = row
                .iter()
                .map(|b| {
                    buttons.push(b.clone());
                    format!("[{}] {}", buttons.len(), b.label)
                })
                .collect();
            writeln!(out, "  {}", labels.join("   "))?;
        }
        writeln!(out)?;
    }
    Ok(buttons)
}

pub async fn run(
    conv: Arc<Conversation>,
    member: Option<String>,
    lang: Option<Locale>,
) -> anyhow::Result<()> {
    let is_new = member.is_none();
    let code = match member {
        Some(code) => code,
        None => {
            let m = conv
                .loyalty()
                .add_member(&NewMember::default(), now())
                .await?;
            eprintln!(
                "(you are the new member {}; next time: taem chat --member {})",
                m.code, m.code
            );
            m.code
        }
    };
    let who = Customer {
        identity: Identity::Member(code),
        language_code: lang.map(|l| l.as_str().to_string()),
        first_name: None,
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    writeln!(
        out,
        "Type what a customer would type (/help, แต้ม, rewards, a claim code...), \
         a number to press a button, or /quit.\n"
    )?;
    let first = if is_new {
        conv.greet_new(&who, now()).await
    } else {
        conv.handle(&who, Intent::Start { payload: None }, now())
            .await
    };
    let mut buttons = show(&first, &mut out)?;
    let stdin = std::io::stdin();
    loop {
        write!(out, "> ")?;
        out.flush()?;
        let mut line = String::new();
        if stdin.lock().read_line(&mut line)? == 0 {
            break;
        }
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if matches!(line, "/quit" | "/exit" | "quit" | "exit") {
            break;
        }
        let intent = match line.parse::<usize>() {
            Ok(n) if n >= 1 && n <= buttons.len() => buttons[n - 1].intent.clone(),
            _ => Intent::from_text(line),
        };
        let reply = conv.handle(&who, intent, now()).await;
        buttons = show(&reply, &mut out)?;
    }
    Ok(())
}
