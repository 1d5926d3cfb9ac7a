//! The back office's journeys: the offers taem sends by itself (welcome,
//! birthday, win-back, near a reward), each switched on and set up here, with
//! what each achieved against its holdout.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::page::{csrf_field, layout, notice};
use super::{Console, Posted, Refused, Signed, invalid_notice, opt};
use crate::domain::audience::Lapsing;
use crate::domain::journey::{Journey, Kind, Outcome};
use crate::domain::money::Money;
use crate::domain::offer::percent_text;
use crate::domain::staff::Permission;
use crate::domain::time::now;
use crate::i18n;
use crate::service::journeys::JourneyInput;
use crate::service::staff::Actor;
use crate::service::{ServiceError, invalid};

/// One journey's form, as posted.
#[derive(Deserialize, Default)]
pub struct JourneyForm {
    #[serde(default)]
    enabled: Option<String>,
    #[serde(default)]
    bonus_points: String,
    #[serde(default)]
    reward_id: String,
    #[serde(default)]
    holdout: String,
    /// Win-back: "days" or "usual".
    #[serde(default)]
    lapsing: String,
    #[serde(default)]
    lapsing_days: String,
    #[serde(default)]
    every_days: String,
    #[serde(default)]
    near: String,
}

impl JourneyForm {
    fn input(&self, kind: Kind) -> Result<JourneyInput, ServiceError> {
        let whole = |field: &str, v: &str| -> Result<Option<i64>, ServiceError> {
            opt(v)
                .map(|v| v.replace(',', "").parse::<i64>())
                .transpose()
                .map_err(|_| invalid(field, "must be a whole number"))
        };
        let gives = kind != Kind::NearReward;
        let winback = kind == Kind::Winback;
        Ok(JourneyInput {
            enabled: Some(self.enabled.is_some()),
            bonus_points: match gives {
                true => Some(whole("bonus_points", &self.bonus_points)?.unwrap_or(0)),
                false => None,
            },
            reward_id: match gives {
                true => Some(whole("reward_id", &self.reward_id)?.unwrap_or(0)),
                false => None,
            },
            holdout: Some(opt(&self.holdout).unwrap_or_else(|| "0".into())),
            lapsing: match (winback, self.lapsing.as_str()) {
                (true, "usual") => Some("usual".into()),
                (true, _) => Some(self.lapsing_days.trim().to_string()),
                (false, _) => None,
            },
            every_days: match winback {
                true => Some(
                    opt(&self.every_days)
                        .and_then(|d| d.parse().ok())
                        .ok_or_else(|| invalid("every_days", "must be a number of days"))?,
                ),
                false => None,
            },
            near: match kind {
                Kind::NearReward => Some(self.near.trim().to_string()),
                _ => None,
            },
        })
    }

    /// The form as a journey is set.
    fn of(j: &Journey) -> JourneyForm {
        let pct = |bp: i64| percent_text(u32::try_from(bp).unwrap_or(0));
        let (lapsing, lapsing_days) = match j.lapsing {
            Lapsing::Days(d) => ("days".to_string(), d.to_string()),
            Lapsing::UsualGap => ("usual".to_string(), String::new()),
        };
        JourneyForm {
            enabled: j.enabled.then(|| "on".into()),
            bonus_points: j.bonus_points.to_string(),
            reward_id: j.reward_id.map(|r| r.to_string()).unwrap_or_default(),
            holdout: pct(j.holdout_bp),
            lapsing,
            lapsing_days,
            every_days: j.every_days.to_string(),
            near: pct(j.near_bp),
        }
    }
}

async fn journeys_page(
    c: &Console,
    s: &Signed,
    status: StatusCode,
    result: Option<(Kind, Markup)>,
    posted: Option<(Kind, &JourneyForm)>,
) -> Response {
    let l = s.locale;
    let actor = Actor::Staff(s.staff.clone());
    if let Err(e) = actor.require(Permission::BackOffice) {
        return Refused::from(e).render(c, l);
    }
    let (journeys, outcomes, rewards, program) = match (
        c.loyalty.journeys().await,
        c.loyalty.journey_outcomes().await,
        c.loyalty.back_office_rewards(&actor).await,
        c.loyalty.program().await,
    ) {
        (Ok(j), Ok(o), Ok(r), Ok(p)) => (j, o, r, p),
        (Err(e), ..) | (_, Err(e), ..) | (_, _, Err(e), _) | (.., Err(e)) => {
            return Refused::from(e).render(c, l);
        }
    };
    let field = |label: &str, name: &str, value: &str| {
        html! { label { (c.t(l, label)) input type="text" name=(name) value=(value) autocomplete="off"; } }
    };
    let body = html! {
        p.muted { (c.t(l, "console-journeys-explain")) }
        @for j in &journeys {
            @let k = j.kind;
            @let own = JourneyForm::of(j);
            @let f = match posted { Some((pk, f)) if pk == k => f, _ => &own };
            section.card id=(format!("journey-{}", k.as_str())) {
                h2 { (c.t(l, &format!("console-journey-{}", k.as_str()))) " "
                    span.muted { (c.t(l, if j.enabled { "console-journey-on" } else { "console-journey-off" })) } }
                p.muted { (c.t(l, &format!("console-journey-{}-explain", k.as_str()))) }
                @if let Some((rk, r)) = &result && *rk == k { (r) }
                form method="post" action=(format!("/console/journeys/{}", k.as_str())) {
                    (csrf_field(s))
                    label.check { input type="checkbox" name="enabled" value="on" checked[f.enabled.is_some()]; (c.t(l, "console-journey-enabled")) }
                    @if k != Kind::NearReward {
                        (field("console-journey-bonus", "bonus_points", &f.bonus_points))
                        label { (c.t(l, "console-journey-reward"))
                            select name="reward_id" {
                                option value="" { "—" }
                                @for r in &rewards {
                                    option value=(r.id) selected[f.reward_id == r.id.to_string()] {
                                        (match l { crate::domain::Locale::Th => &r.name_th, crate::domain::Locale::En => &r.name_en })
                                    }
                                }
                            }
                        }
                    }
                    @if k == Kind::Winback {
                        label { (c.t(l, "console-audience-lapsing"))
                            select name="lapsing" {
                                option value="days" selected[f.lapsing != "usual"] { (c.t(l, "console-audience-lapsing-days")) }
                                option value="usual" selected[f.lapsing == "usual"] { (c.t(l, "console-audience-lapsing-usual")) }
                            }
                            input type="text" name="lapsing_days" inputmode="numeric" value=(f.lapsing_days) autocomplete="off";
                        }
                        (field("console-journey-every", "every_days", &f.every_days))
                    }
                    @if k == Kind::NearReward {
                        (field("console-journey-near", "near", &f.near))
                    }
                    (field("console-campaign-holdout", "holdout", &f.holdout))
                    button type="submit" { (c.t(l, "console-save")) }
                }
                @if let Some(o) = outcomes.iter().find(|o| o.journey == k) {
                    (outcome(c, l, o, program.currency))
                }
            }
        }
    };
    let title = c.t(l, "console-nav-journeys");
    (status, layout(c, l, Some(s), &title, body)).into_response()
}

/// What a journey achieved, against its holdout.
fn outcome(
    c: &Console,
    l: crate::domain::Locale,
    o: &Outcome,
    cur: crate::domain::Currency,
) -> Markup {
    let money = |m: i64| i18n::money(Money::from_minor(m, cur));
    html! {
        table.outcome {
            tr { td { (c.t(l, "console-journey-reached")) } td.num { (i18n::number(o.reached)) } }
            tr { td { (c.t(l, "console-journey-held-out")) } td.num { (i18n::number(o.held_out)) } }
            tr { td { (c.t(l, "console-campaign-points")) } td.num { (i18n::number(o.points_given)) } }
            tr { td { (c.t(l, "console-journey-vouchers")) } td.num { (i18n::number(o.vouchers_used)) " / " (i18n::number(o.vouchers_given)) } }
            tr { td { (c.t(l, "console-journey-spend")) } td.num { (money(o.spend_per_send_minor)) } }
            @if let Some(h) = o.holdout_spend_per_send_minor {
                tr { td { (c.t(l, "console-journey-holdout-spend")) } td.num { (money(h)) } }
            }
            tr { td { (c.t(l, "console-reports-lift")) } td.num.lift {
                @match o.lift_bp {
                    Some(bp) => { (if bp >= 0 { "+" } else { "−" }) (percent_text(u32::try_from(bp.unsigned_abs()).unwrap_or(u32::MAX))) " %" }
                    None => { (c.t(l, "console-reports-no-lift")) }
                }
            } }
        }
    }
}

pub async fn page(State(c): State<Console>, s: Signed) -> Response {
    journeys_page(&c, &s, StatusCode::OK, None, None).await
}

pub async fn set(
    State(c): State<Console>,
    Path(kind): Path<String>,
    Posted { s, form }: Posted<JourneyForm>,
) -> Response {
    let l = s.locale;
    let Some(kind) = Kind::parse(&kind) else {
        let body = notice(&c.t(l, "console-journey-not-found"), false);
        let title = c.t(l, "console-nav-journeys");
        return (StatusCode::NOT_FOUND, layout(&c, l, Some(&s), &title, body)).into_response();
    };
    let actor = Actor::Staff(s.staff.clone());
    let set = match form.input(kind) {
        Ok(input) => {
            c.loyalty
                .staff_set_journey(&actor, kind, &input, now())
                .await
        }
        Err(e) => Err(e),
    };
    match set {
        Ok(_) => {
            Redirect::to(&format!("/console/journeys#journey-{}", kind.as_str())).into_response()
        }
        Err(e) => match invalid_notice(&c, &s, &e) {
            Some(n) => {
                journeys_page(
                    &c,
                    &s,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Some((kind, n)),
                    Some((kind, &form)),
                )
                .await
            }
            None => Refused::from(e).render(&c, l),
        },
    }
}
