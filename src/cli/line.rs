//! `taem line`: the LINE Official Account's rich menu, its message quota and
//! the pause on LINE marketing when that quota is used up.

use super::*;
use crate::config::LineSettings;
use crate::line::LineClient;
use crate::service::quota::LineStatus;

#[derive(Subcommand)]
pub(super) enum LineCmd {
    /// Create the default rich menu (My points, Rewards, Member card, History,
    /// Promotions, Help) with an image drawn by taem, and set it for every user.
    Richmenu(JsonFlag),
    /// This month's message quota (limit, used, queued, left), whether LINE
    /// marketing is paused because it was used up, and the messages held.
    Status(JsonFlag),
    /// Send LINE marketing again now (after upgrading the plan or buying
    /// more messages), with the messages held for the monthly limit; without
    /// it, they go when the next month starts.
    Resume(JsonFlag),
}

/// A LINE client from the settings `taem serve` uses.
pub(super) fn client(line: &LineSettings) -> LineClient {
    LineClient::new(
        reqwest::Client::new(),
        line.access_token.clone(),
        line.api_url.clone(),
    )
}

fn configured(settings: &Settings) -> anyhow::Result<&LineSettings> {
    settings
        .line
        .as_ref()
        .context("LINE is not configured: set LINE_CHANNEL_SECRET and LINE_CHANNEL_ACCESS_TOKEN")
}

pub(super) async fn line(
    loyalty: &Loyalty,
    settings: &Settings,
    cmd: LineCmd,
) -> anyhow::Result<()> {
    let tz = settings.timezone;
    match cmd {
        LineCmd::Richmenu(out) => {
            let client = client(configured(settings)?);
            let id = client
                .create_rich_menu(&crate::line::richmenu::definition())
                .await?;
            client
                .upload_rich_menu_image(&id, crate::line::richmenu::image_png())
                .await?;
            client.set_default_rich_menu(&id).await?;
            print(out, &serde_json::json!({"rich_menu_id": id}), || {
                format!("rich menu {id} created and set as the default for every user\n")
            });
        }
        LineCmd::Status(out) => {
            configured(settings)?;
            let status = loyalty.line_status(now()).await.map_err(friendly)?;
            print(out, &status, || status_text(&status, tz));
        }
        LineCmd::Resume(out) => {
            let was = loyalty.line_pause(now()).await.map_err(friendly)?;
            let released = loyalty.resume_line(now()).await.map_err(friendly)?;
            #[derive(Serialize)]
            struct Resumed {
                was_paused: bool,
                released: u64,
            }
            let answer = Resumed {
                was_paused: was.is_some(),
                released,
            };
            print(out, &answer, || {
                let state = if was.is_some() {
                    "LINE marketing resumed"
                } else {
                    "LINE marketing was not paused"
                };
                format!(
                    "{state}; {} messages held for the monthly limit are due now \
                     (taem serve sends them)\n",
                    crate::i18n::number(released as i64)
                )
            });
        }
    }
    Ok(())
}

fn status_text(s: &LineStatus, tz: chrono_tz::Tz) -> String {
    let n = |v: u64| crate::i18n::number(v as i64);
    let mut text = match (&s.quota, &s.quota_error) {
        (Some(q), _) => match (q.limit, q.left()) {
            (Some(limit), Some(left)) => format!(
                "quota this month: {}; used {}; queued in taem {}; left {}\n",
                n(limit),
                n(q.used),
                n(q.queued),
                n(left)
            ),
            _ => format!(
                "quota this month: no limit; used {}; queued in taem {}\n",
                n(q.used),
                n(q.queued)
            ),
        },
        (None, Some(e)) => format!("quota: could not be read ({e})\n"),
        (None, None) => String::new(),
    };
    match &s.paused {
        Some(p) => text.push_str(&format!(
            "marketing: paused since {} ({}) until {}, or taem line resume\n",
            p.since.with_timezone(&tz).format("%Y-%m-%d %H:%M"),
            p.reason,
            p.until.with_timezone(&tz).format("%Y-%m-%d %H:%M"),
        )),
        None => text.push_str("marketing: sending\n"),
    }
    text.push_str(&format!(
        "held for the monthly limit: {} messages\n",
        crate::i18n::number(s.held)
    ));
    text
}
