//! The conversation, once for every platform: an adapter (Telegram, LINE, the
//! terminal) turns a message or a button press into an [`Intent`], the
//! [`Conversation`] calls the services and answers with a [`Reply`] model that the
//! adapter renders. Nothing here knows about a platform.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use fluent_bundle::FluentValue;

use crate::domain::Refusal;
use crate::domain::codes::ALPHABET;
use crate::domain::ledger::EntryKind;
use crate::domain::model::*;
use crate::i18n::{self, I18n, Locale};
use crate::service::{Loyalty, ServiceError};

mod account;
pub mod intent;
mod phone;
mod privacy;
pub mod reply;
mod rewards;

pub use intent::Intent;
pub use reply::{Button, Card, Document, Message, PhoneKeyboard, Photo, Reply, Span};

/// Rewards shown per page of the catalogue.
pub const REWARDS_PER_PAGE: usize = 5;
/// Entries shown in the history.
pub const HISTORY_LEN: i64 = 10;

/// Who is writing, as the platform knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    Telegram(i64),
    Line(String),
    /// The terminal chat, acting as an existing member.
    Member(String),
}

#[derive(Debug, Clone)]
pub struct Customer {
    pub identity: Identity,
    /// The platform's language tag (Telegram `language_code`, LINE profile).
    pub language_code: Option<String>,
    /// For the greeting only; never stored.
    pub first_name: Option<String>,
}

pub struct Conversation {
    loyalty: Arc<Loyalty>,
    i18n: Arc<I18n>,
    default_locale: Locale,
    invites: std::sync::RwLock<InviteLinks>,
}

/// Where invitation links point, learnt by the platform adapters at start.
#[derive(Debug, Clone, Default)]
pub struct InviteLinks {
    /// The bot's username: links are `https://t.me/<bot>?start=ref_CODE`.
    pub telegram_bot: Option<String>,
    /// The LINE Official Account's basic ID: links open a chat with
    /// `ref_CODE` ready to send.
    pub line_basic_id: Option<String>,
}

/// One turn: the member, their language, the time.
struct Turn<'a> {
    member: Member,
    loc: Locale,
    now: DateTime<Utc>,
    customer: &'a Customer,
}

type Args<'a> = [(&'a str, FluentValue<'a>)];

fn s<'a>(v: impl Into<String>) -> FluentValue<'a> {
    FluentValue::String(v.into().into())
}

fn nonce() -> String {
    use rand::RngExt;
    let mut rng = rand::rng();
    (0..10)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

impl Conversation {
    pub fn new(loyalty: Arc<Loyalty>, i18n: Arc<I18n>, default_locale: Locale) -> Conversation {
        Conversation {
            loyalty,
            i18n,
            default_locale,
            invites: Default::default(),
        }
    }

    pub fn set_telegram_bot(&self, username: Option<String>) {
        self.invites.write().expect("not poisoned").telegram_bot = username;
    }

    pub fn set_line_basic_id(&self, basic_id: Option<String>) {
        self.invites.write().expect("not poisoned").line_basic_id = basic_id;
    }

    pub fn i18n(&self) -> &I18n {
        &self.i18n
    }

    pub fn loyalty(&self) -> &Arc<Loyalty> {
        &self.loyalty
    }

    fn t(&self, loc: Locale, id: &str, args: &Args) -> String {
        if args.is_empty() {
            self.i18n.msg(loc, id, None)
        } else {
            self.i18n.msg(loc, id, Some(&i18n::args(args)))
        }
    }

    fn button(&self, loc: Locale, id: &str, args: &Args, intent: Intent) -> Button {
        Button {
            label: self.t(loc, id, args),
            intent,
        }
    }

    fn date(&self, loc: Locale, t: DateTime<Utc>) -> String {
        i18n::local_date(t, self.loyalty.timezone(), loc)
    }

    /// The last day something is usable, for "expires on" lines.
    fn last_day(&self, loc: Locale, t: DateTime<Utc>) -> String {
        i18n::date(
            crate::domain::time::last_local_day(t, self.loyalty.timezone()),
            loc,
        )
    }

    /// The main menu as buttons.
    fn menu(&self, loc: Locale) -> Vec<Vec<Button>> {
        vec![
            vec![
                self.button(loc, "btn-balance", &[], Intent::Balance),
                self.button(loc, "btn-rewards", &[], Intent::Rewards { page: 0 }),
            ],
            vec![
                self.button(loc, "btn-vouchers", &[], Intent::Vouchers),
                self.button(loc, "btn-history", &[], Intent::History),
            ],
            vec![
                self.button(loc, "btn-card", &[], Intent::Card),
                self.button(loc, "btn-claim", &[], Intent::Claim { code: None }),
            ],
            vec![
                self.button(loc, "btn-promotions", &[], Intent::Promotions),
                self.button(loc, "btn-invite", &[], Intent::Invite),
            ],
            vec![
                self.button(loc, "btn-language", &[], Intent::Language),
                self.button(loc, "btn-phone", &[], Intent::Phone),
            ],
            vec![self.button(loc, "btn-help", &[], Intent::Help)],
        ]
    }

    fn with_menu(&self, loc: Locale, mut m: Message) -> Message {
        m.buttons.extend(self.menu(loc));
        m
    }

    /// Answers one customer action. Never fails: unexpected errors are logged and
    /// answered with a friendly apology that changes nothing.
    pub async fn handle(&self, who: &Customer, intent: Intent, now: DateTime<Utc>) -> Reply {
        match self.try_handle(who, intent, now).await {
            Ok(r) => r,
            Err(e) => {
                // The app, never the person's id or words (personal data).
                let app = match who.identity {
                    Identity::Telegram(_) => "telegram",
                    Identity::Line(_) => "line",
                    Identity::Member(_) => "terminal",
                };
                tracing::error!(error = %e, app, "chat turn failed");
                let loc =
                    Locale::for_member(None, who.language_code.as_deref(), self.default_locale);
                Reply::one(Message::new().text(self.t(loc, "error-generic", &[])))
            }
        }
    }

    /// Finds the member behind an identity, creating one on first contact.
    /// Returns the member and whether they just joined.
    pub async fn member_for(
        &self,
        who: &Customer,
        now: DateTime<Utc>,
    ) -> Result<(Member, bool), ServiceError> {
        let by = match &who.identity {
            Identity::Telegram(id) => MemberRef::Telegram(*id),
            Identity::Line(id) => MemberRef::Line(id.clone()),
            Identity::Member(code) => {
                let code = crate::domain::MemberCode::parse(code)
                    .ok_or(ServiceError::NotFound("member"))?;
                return Ok((self.loyalty.member(&MemberRef::Code(code)).await?, false));
            }
        };
        let app = who.language_code.as_deref().and_then(Locale::parse);
        self.loyalty.chat_member(&by, app, now).await
    }

    async fn try_handle(
        &self,
        who: &Customer,
        intent: Intent,
        now: DateTime<Utc>,
    ) -> Result<Reply, ServiceError> {
        // An erasure is confirmed for a member found, never one made now.
        if intent == Intent::ConfirmErase {
            return self.erase_confirmed(who, now).await;
        }
        let (member, joined) = self.member_for(who, now).await?;
        if member
            .last_seen_at
            .is_none_or(|t| now - t >= chrono::Duration::days(1))
        {
            self.loyalty.mark_seen(member.id, now).await?;
        }
        let turn = self.turn(member, who, now);
        let loc = turn.loc;
        let mut reply = Reply::default();
        if joined {
            reply.push(self.welcome(&turn, "welcome"));
        }
        // Asked once, unless this turn answers it another way.
        let asks = turn.member.consent_asked_at.is_none()
            && !matches!(
                intent,
                Intent::Consent { .. }
                    | Intent::OptIn
                    | Intent::OptOut
                    | Intent::Erase
                    | Intent::KeepData
                    | Intent::Privacy
            );
        let answer = match intent {
            Intent::Start { payload } => {
                let mut out = Vec::new();
                if let Some(p) = payload {
                    out.push(self.start_payload(&turn, &p, joined).await?);
                }
                if !joined {
                    out.push(self.welcome(&turn, "welcome-back"));
                }
                out
            }
            Intent::Balance => vec![self.balance(&turn).await?],
            Intent::Rewards { page } => vec![self.rewards(&turn, page).await?],
            Intent::Redeem { reward_id } => vec![self.redeem_ask(&turn, reward_id).await?],
            Intent::ConfirmRedeem { reward_id, nonce } => {
                vec![self.redeem(&turn, reward_id, &nonce).await?]
            }
            Intent::Vouchers => vec![self.vouchers(&turn).await?],
            Intent::CancelVoucher { code } => vec![self.cancel_ask(&turn, &code).await?],
            Intent::ConfirmCancel { code } => vec![self.cancel(&turn, &code).await?],
            Intent::History => vec![self.history(&turn).await?],
            Intent::Card => vec![self.card(&turn)],
            Intent::Claim { code: None } => {
                vec![Message::new().text(self.t(loc, "claim-prompt", &[]))]
            }
            Intent::Claim { code: Some(code) } => vec![self.claim(&turn, &code).await?],
            Intent::Promotions => vec![self.promotions(&turn).await?],
            Intent::Invite => vec![self.invite(&turn).await?],
            Intent::Link { code: None } => vec![self.link_code(&turn).await?],
            Intent::Link { code: Some(code) } => vec![self.link(&turn, &code).await?],
            Intent::Language => vec![self.language_choices(loc)],
            Intent::SetLanguage(l) => vec![self.set_language(&turn, l).await?],
            Intent::OptOut => vec![self.set_marketing(&turn, false).await?],
            Intent::OptIn => vec![self.set_marketing(&turn, true).await?],
            Intent::Phone => self.phone(&turn),
            Intent::TypedPhone { text } => vec![self.phone_typed(&turn, &text)],
            Intent::ConfirmPhone { e164 } => vec![self.phone_save(&turn, &e164).await?],
            Intent::SharedPhone { number, own } => {
                vec![self.phone_shared(&turn, &number, own).await?]
            }
            Intent::KeepPhone => vec![self.phone_keep(&turn)],
            Intent::RemovePhone => vec![self.phone_remove(&turn).await?],
            Intent::PayCode => vec![self.pay_code(&turn).await?],
            Intent::Birthday { text } => vec![self.birthday(&turn, text.as_deref()).await?],
            Intent::AnswerPayment { id, yes } => vec![self.answer_payment(&turn, &id, yes).await?],
            Intent::Consent { yes } => vec![self.consent_answer(&turn, yes).await?],
            Intent::Privacy => vec![self.privacy(&turn).await?],
            Intent::MyData => vec![self.my_data(&turn).await?],
            Intent::Erase => vec![self.erase_ask(&turn).await?],
            Intent::KeepData => vec![self.keep_data(&turn)],
            Intent::ConfirmErase => vec![],
            Intent::Help => vec![
                self.with_menu(
                    loc,
                    Message::new()
                        .text(self.t(loc, "help", &[]))
                        .row(vec![self.button(loc, "btn-privacy", &[], Intent::Privacy)]),
                ),
            ],
            Intent::Unknown if joined => vec![],
            Intent::Unknown => vec![
                Message::new()
                    .text(self.t(loc, "unknown", &[]))
                    .row(vec![self.button(loc, "btn-help", &[], Intent::Help)]),
            ],
        };
        for m in answer {
            reply.push(m);
        }
        if asks && let Some(ask) = self.consent_ask(&turn).await? {
            reply.push(ask);
        }
        Ok(reply)
    }

    /// A turn for `member`, in their language ([`Locale::for_member`]; the
    /// app's language was remembered as they wrote).
    fn turn<'a>(&self, member: Member, who: &'a Customer, now: DateTime<Utc>) -> Turn<'a> {
        let loc = Locale::for_member(
            member.locale.as_deref(),
            member.app_locale.as_deref(),
            self.default_locale,
        );
        Turn {
            member,
            loc,
            now,
            customer: who,
        }
    }

    /// The welcome for a member created outside the chat (the terminal's new member).
    pub async fn greet_new(&self, who: &Customer, now: DateTime<Utc>) -> Reply {
        match self.member_for(who, now).await {
            Ok((member, _)) => Reply::one(self.welcome(&self.turn(member, who, now), "welcome")),
            Err(_) => self.handle(who, Intent::Start { payload: None }, now).await,
        }
    }

    fn welcome(&self, turn: &Turn, id: &str) -> Message {
        let name = turn.customer.first_name.clone().unwrap_or_default();
        let has_name = if name.trim().is_empty() { "no" } else { "yes" };
        let text = self.t(
            turn.loc,
            id,
            &[
                ("has_name", s(has_name)),
                ("name", s(name)),
                ("code", s(turn.member.code.clone())),
                ("points", s(i18n::number(turn.member.balance.value()))),
            ],
        );
        self.with_menu(turn.loc, Message::new().text(text))
    }

    async fn start_payload(
        &self,
        turn: &Turn<'_>,
        payload: &str,
        joined: bool,
    ) -> Result<Message, ServiceError> {
        let loc = turn.loc;
        if let Some(code) = payload.strip_prefix("ref_") {
            // Members who have not bought anything yet may still name who
            // invited them (on LINE the invitation arrives after the follow).
            let id = if self
                .loyalty
                .record_referral(turn.member.id, code, turn.now)
                .await?
            {
                "referral-recorded"
            } else if joined {
                "referral-invalid"
            } else {
                "referral-not-new"
            };
            let program = self.loyalty.program().await?;
            let mut m = Message::new().text(self.t(loc, id, &[]));
            if id == "referral-recorded" && program.referral.referee_points > 0 {
                m = m.line().text(self.t(
                    loc,
                    "referral-welcome-bonus",
                    &[("points", s(i18n::number(program.referral.referee_points)))],
                ));
            }
            return Ok(m);
        }
        if let Some(code) = payload.strip_prefix("link_") {
            return self.link(turn, code).await;
        }
        Ok(Message::new().text(self.t(loc, "start-unknown-payload", &[])))
    }

    async fn balance(&self, turn: &Turn<'_>) -> Result<Message, ServiceError> {
        let loc = turn.loc;
        let sum = self.loyalty.summary(turn.member.clone(), turn.now).await?;
        let mut m = Message::new()
            .bold(self.t(loc, "balance-title", &[]))
            .line()
            .text(self.t(
                loc,
                "balance-total",
                &[("points", s(i18n::number(sum.member.balance.value())))],
            ));
        if let Some(worth) = sum.pay_value
            && worth.minor() > 0
        {
            m = m.line().text(self.t(
                loc,
                "balance-pay-value",
                &[("amount", s(i18n::money(worth)))],
            ));
        }
        if sum.credit.minor() > 0 {
            m = m.line().text(self.t(
                loc,
                "balance-credit",
                &[("amount", s(i18n::money(sum.credit)))],
            ));
        }
        if sum.pending.value() > 0 || sum.spendable != sum.member.balance {
            m = m.line().text(self.t(
                loc,
                "balance-spendable",
                &[
                    ("spendable", s(i18n::number(sum.spendable.value()))),
                    ("pending", s(i18n::number(sum.pending.value()))),
                ],
            ));
        }
        m = m.line().text(match &sum.next_expiry {
            Some(e) => self.t(
                loc,
                "balance-expiry",
                &[
                    ("points", s(i18n::number(e.points.value()))),
                    ("date", s(self.last_day(loc, e.expires_at))),
                ],
            ),
            None => self.t(loc, "balance-no-expiry", &[]),
        });
        let tier = &sum.tier;
        m = m.line().text(self.t(
            loc,
            "balance-tier",
            &[("tier", s(tier.tier.name(loc == Locale::Th)))],
        ));
        m = m.line().text(match (&tier.next, &tier.to_next) {
            (Some(next), Some(more)) => self.t(
                loc,
                "balance-next-tier",
                &[
                    ("amount", s(i18n::money(*more))),
                    ("tier", s(next.name(loc == Locale::Th))),
                ],
            ),
            _ => self.t(loc, "balance-top-tier", &[]),
        });
        m = m
            .line()
            .text(self.t(loc, "balance-member-code", &[]))
            .code(sum.member.code.clone());
        Ok(m.row(vec![
            self.button(loc, "btn-rewards", &[], Intent::Rewards { page: 0 }),
            self.button(loc, "btn-history", &[], Intent::History),
        ]))
    }

    async fn history(&self, turn: &Turn<'_>) -> Result<Message, ServiceError> {
        let loc = turn.loc;
        let entries = self.loyalty.entries(turn.member.id, HISTORY_LEN).await?;
        if entries.is_empty() {
            return Ok(Message::new().text(self.t(loc, "history-empty", &[])));
        }
        let merchants: HashMap<String, String> = self
            .loyalty
            .merchants()
            .await?
            .into_iter()
            .map(|m| (m.id, m.name))
            .collect();
        let mut m = Message::new().bold(self.t(loc, "history-title", &[]));
        for e in &entries {
            let referral = e.reference.as_deref() == Some("referral");
            let id = match e.kind {
                EntryKind::Earn if referral => "history-referral",
                EntryKind::Earn => "history-earn",
                EntryKind::Redeem => "history-redeem",
                EntryKind::Clawback => "history-clawback",
                EntryKind::Expire => "history-expire",
                EntryKind::Adjust => "history-adjust",
                EntryKind::Release => "history-release",
            };
            let merchant = e
                .merchant_id
                .as_ref()
                .and_then(|id| merchants.get(id))
                .cloned()
                .unwrap_or_default();
            m = m.line().text(self.t(
                loc,
                id,
                &[
                    ("date", s(self.date(loc, e.created_at))),
                    ("points", s(i18n::number(e.points.value().abs()))),
                    ("merchant", s(merchant)),
                ],
            ));
        }
        Ok(m)
    }

    /// Campaigns running now or starting within a week, in the member's language.
    async fn promotions(&self, turn: &Turn<'_>) -> Result<Message, ServiceError> {
        let loc = turn.loc;
        let thai = loc == Locale::Th;
        // Only the promotions this member is in (their tier, not held out).
        let campaigns = self
            .loyalty
            .campaigns_for(&turn.member, turn.now, 7)
            .await?;
        let rewards = self.button(loc, "btn-rewards", &[], Intent::Rewards { page: 0 });
        if campaigns.is_empty() {
            return Ok(Message::new()
                .text(self.t(loc, "promotions-none", &[]))
                .row(vec![rewards]));
        }
        let mut m = Message::new().bold(self.t(loc, "promotions-title", &[]));
        for c in &campaigns {
            let when = if c.window.starts_at > turn.now {
                self.t(
                    loc,
                    "promotion-from",
                    &[("date", s(self.date(loc, c.window.starts_at)))],
                )
            } else {
                self.t(
                    loc,
                    "promotion-until",
                    &[("date", s(self.last_day(loc, c.window.ends_at)))],
                )
            };
            m = m
                .line()
                .line()
                .bold(format!("🎉 {}", c.name(thai)))
                .text(format!(" · {when}"));
            if !c.text(thai).is_empty() {
                m = m.line().text(c.text(thai).to_string());
            }
        }
        Ok(m.row(vec![rewards]))
    }

    /// A business-rule refusal in the member's language.
    fn refusal(&self, loc: Locale, r: &Refusal) -> Message {
        let text = match r {
            Refusal::InsufficientPoints { available, needed } => self.t(
                loc,
                "refusal-insufficient-points",
                &[
                    ("available", s(i18n::number(available.value()))),
                    ("needed", s(i18n::number(needed.value()))),
                ],
            ),
            Refusal::NegativeBalance { balance } => self.t(
                loc,
                "refusal-negative-balance",
                &[("balance", s(i18n::number(balance.value())))],
            ),
            Refusal::OutOfStock => self.t(loc, "refusal-out-of-stock", &[]),
            Refusal::MemberLimitReached { limit } => self.t(
                loc,
                "refusal-member-limit",
                &[("limit", s(i18n::number(*limit)))],
            ),
            Refusal::RewardUnavailable => self.t(loc, "refusal-reward-unavailable", &[]),
            Refusal::VoucherAlreadyUsed { used_at } => self.t(
                loc,
                "refusal-voucher-used",
                &[("date", s(self.date(loc, *used_at)))],
            ),
            Refusal::VoucherExpired { expires_at } => self.t(
                loc,
                "refusal-voucher-expired",
                &[("date", s(self.last_day(loc, *expires_at)))],
            ),
            Refusal::VoucherCancelled => self.t(loc, "refusal-voucher-cancelled", &[]),
            Refusal::ClaimExpired { expires_at } => self.t(
                loc,
                "refusal-claim-expired",
                &[("date", s(self.last_day(loc, *expires_at)))],
            ),
            Refusal::ClaimAlreadyClaimed => self.t(loc, "refusal-claim-used", &[]),
            // Not reachable from chat; answered generically.
            Refusal::LinkInvalid => self.t(loc, "link-invalid", &[]),
            Refusal::LinkTaken => self.t(loc, "link-taken", &[]),
            Refusal::LinkHasHistory => self.t(loc, "link-has-history", &[]),
            Refusal::TooManyTries { retry_at } => {
                let minutes = ((*retry_at - chrono::Utc::now()).num_seconds().max(1) + 59) / 60;
                self.t(
                    loc,
                    "refusal-too-many-tries",
                    &[("minutes", s(i18n::number(minutes)))],
                )
            }
            Refusal::VoucherNotYours
            | Refusal::SignInFailed
            | Refusal::RefundExceedsPurchase { .. }
            | Refusal::AdjustBelowZero { .. }
            | Refusal::VoucherNotApplicable(_)
            | Refusal::VoucherNeedsBasket
            | Refusal::PaymentBelowMinimum { .. }
            | Refusal::PayCodeInvalid
            | Refusal::PartnerBudgetSpent { .. }
            | Refusal::VoucherOtherPartner
            | Refusal::InsufficientCredit { .. } => self.t(loc, "error-generic", &[]),
            Refusal::PaymentRefused(_) => self.t(loc, "payment-closed", &[]),
            Refusal::PaymentsOff => self.t(loc, "payments-off", &[]),
        };
        Message::new().text(text)
    }
}
