//! Members in chat: found or created as they write, their app's language and
//! reachability remembered, their settings, invitations, account links and
//! receipt claims (wrong codes slowed down), the phone number they give.

use chrono::{DateTime, Duration, Utc};

use super::{Loyalty, Result, ServiceError, invalid};
use crate::domain::model::*;
use crate::domain::{ClaimCode, LinkCode, MemberCode, Refusal, phone};
use crate::store::StoreError;

/// Who wrong codes are counted against: the member, and the chat identity they
/// wrote from.
fn guess_subjects(member_id: i64, via: Option<&MemberRef>) -> Vec<String> {
    let mut subjects = vec![format!("member:{member_id}")];
    match via {
        Some(MemberRef::Telegram(id)) => subjects.push(format!("telegram:{id}")),
        Some(MemberRef::Line(id)) => subjects.push(format!("line:{id}")),
        _ => {}
    }
    subjects
}

/// Account-link codes stay valid this long.
pub const LINK_MINUTES: i64 = 15;

impl Loyalty {
    /// A member claims the points of a receipt bought without their member code,
    /// from the chat identity `via` (if any). Wrong codes are counted against
    /// both and slowed down ([`GuessPolicy`]).
    pub async fn claim(
        &self,
        member_id: i64,
        via: Option<&MemberRef>,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<ClaimReceipt> {
        let subjects = guess_subjects(member_id, via);
        self.guarded("claim", &subjects, now, async {
            let code = ClaimCode::parse(code).ok_or(StoreError::NotFound("claim code"))?;
            let timing = self.lot_timing(now).await?;
            let claimed = self
                .store
                .claim_receipt(member_id, &code, timing, now)
                .await?;
            crate::metrics::issued(claimed.points.value());
            Ok(claimed)
        })
        .await
    }

    /// Runs a try at a code unless `subjects` made too many wrong ones lately;
    /// a wrong code (unknown, used, expired) is counted against each of them.
    async fn guarded<T>(
        &self,
        kind: &str,
        subjects: &[String],
        now: DateTime<Utc>,
        attempt: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let known = self.store.failures(kind, subjects).await?;
        if let Some(retry_at) = known
            .into_iter()
            .filter_map(|f| self.guess.check(Some(f), now).err())
            .max()
        {
            return Err(Refusal::TooManyTries { retry_at }.into());
        }
        let result = attempt.await;
        let wrong = matches!(
            &result,
            Err(ServiceError::NotFound("claim code")
                | ServiceError::Refused(
                    Refusal::ClaimExpired { .. }
                        | Refusal::ClaimAlreadyClaimed
                        | Refusal::LinkInvalid
                ))
        );
        if wrong {
            self.store
                .record_failure(kind, subjects, now, self.guess.forget_before(now))
                .await?;
        }
        result
    }

    /// The member behind a chat identity (`by`: a Telegram or LINE reference),
    /// created on first contact; `app` is the language their app reports now,
    /// remembered when it changes. Returns the member and whether they just
    /// joined. Writing to us also means they have not blocked us: a member
    /// marked unreachable on that app gets pushes again.
    pub async fn chat_member(
        &self,
        by: &MemberRef,
        app: Option<crate::domain::Locale>,
        now: DateTime<Utc>,
    ) -> Result<(Member, bool)> {
        let app = app.map(|l| l.as_str().to_string());
        let mut member = match self.store.member(by).await {
            Ok(m) => m,
            Err(StoreError::NotFound(_)) => {
                let new = NewMember {
                    telegram_id: match by {
                        MemberRef::Telegram(id) => Some(*id),
                        _ => None,
                    },
                    line_id: match by {
                        MemberRef::Line(id) => Some(id.clone()),
                        _ => None,
                    },
                    app_locale: app,
                    ..NewMember::default()
                };
                return match self.store.add_member(&new, now).await {
                    Ok(m) => Ok((m, true)),
                    // Two first messages at once: the other one created the member.
                    Err(StoreError::IdempotencyConflict(_)) => {
                        Ok((self.store.member(by).await?, false))
                    }
                    Err(e) => Err(e.into()),
                };
            }
            Err(e) => return Err(e.into()),
        };
        let channel = match by {
            MemberRef::Line(_) => Channel::Line,
            _ => Channel::Telegram,
        };
        let reachable = match channel {
            Channel::Line => &mut member.line_reachable,
            Channel::Telegram => &mut member.telegram_reachable,
        };
        if !*reachable {
            self.store.set_reachable(member.id, channel, true).await?;
            *reachable = true;
        }
        if app.is_some() && app != member.app_locale {
            let update = MemberUpdate {
                app_locale: app,
                ..MemberUpdate::default()
            };
            member = self.store.update_member(member.id, &update).await?;
        }
        Ok((member, false))
    }

    /// Records whether messages reach the member behind a chat account (they
    /// blocked the bot, unfollowed, came back). An account without a member has
    /// nothing to record.
    pub async fn set_reachable(&self, by: &MemberRef, reachable: bool) -> Result<()> {
        let channel = match by {
            MemberRef::Line(_) => Channel::Line,
            _ => Channel::Telegram,
        };
        match self.store.member(by).await {
            Ok(m) => Ok(self.store.set_reachable(m.id, channel, reachable).await?),
            Err(StoreError::NotFound(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The member behind a chat account, if there is one yet.
    pub async fn chat_account(&self, by: &MemberRef) -> Result<Option<Member>> {
        match self.store.member(by).await {
            Ok(m) => Ok(Some(m)),
            Err(StoreError::NotFound(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Keeps verified chat events before they are acknowledged; how many were
    /// new (a redelivery is kept once).
    pub async fn keep_events(
        &self,
        events: &[crate::domain::inbox::NewEvent],
        now: DateTime<Utc>,
    ) -> Result<u64> {
        let added = self.store.inbox_put(events, now).await?;
        crate::metrics::inbox_kept(added, events.len() as u64 - added);
        Ok(added)
    }

    /// Chat events waiting to be handled and when the oldest came.
    pub async fn inbox_depth(&self) -> Result<crate::domain::inbox::Depth> {
        Ok(self.store.inbox_depth().await?)
    }

    /// Takes or renews a lease among the instances sharing the database for
    /// `hold`; true when `holder` has it.
    pub async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        hold: std::time::Duration,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let until = crate::domain::inbox::lease_until(now, hold);
        Ok(self.store.take_lease(name, holder, now, until).await?)
    }

    /// Gives a lease up, so another instance can take it at once.
    pub async fn drop_lease(&self, name: &str, holder: &str, now: DateTime<Utc>) -> Result<()> {
        Ok(self.store.drop_lease(name, holder, now).await?)
    }

    /// A member changes their language or marketing consent.
    pub async fn update_member(&self, member_id: i64, update: &MemberUpdate) -> Result<Member> {
        if let Some(l) = &update.locale
            && crate::domain::Locale::parse(l).is_none()
        {
            return Err(invalid("locale", format!("{l:?} is not th or en")));
        }
        Ok(self.store.update_member(member_id, update).await?)
    }

    /// A member gives their phone number in chat (typed and confirmed, or
    /// their own contact card), so that the counter can find them by it.
    /// Giving it is their consent to it being kept, recorded as `now`. A text
    /// that is not a phone number is `Invalid` (field `phone`); a number another
    /// member has is `Duplicate("phone")`, which names no one.
    pub async fn chat_set_phone(
        &self,
        by: &MemberRef,
        number: &str,
        now: DateTime<Utc>,
    ) -> Result<Member> {
        let e164 =
            phone::normalise(number).ok_or_else(|| invalid("phone", "not a phone number"))?;
        let member = self.store.member(by).await?;
        Ok(self.store.set_phone(member.id, &e164, now).await?)
    }

    /// A member takes their phone number back: it and their consent are
    /// forgotten.
    pub async fn chat_clear_phone(&self, by: &MemberRef) -> Result<Member> {
        let member = self.store.member(by).await?;
        if member.phone.is_none() {
            return Ok(member);
        }
        Ok(self.store.clear_phone(member.id).await?)
    }

    /// Records that `member_id` joined through `code`'s invitation. An unknown
    /// or invalid code, a self-referral or a second referrer records nothing.
    pub async fn record_referral(
        &self,
        member_id: i64,
        code: &str,
        _now: DateTime<Utc>,
    ) -> Result<bool> {
        let Some(code) = MemberCode::parse(code) else {
            return Ok(false);
        };
        Ok(self.store.set_referrer(member_id, &code).await?)
    }

    /// Makes a one-time code that links another chat app's account to this
    /// member (valid [`LINK_MINUTES`] minutes).
    pub async fn start_link(&self, member_id: i64, now: DateTime<Utc>) -> Result<LinkCode> {
        let code = LinkCode::generate();
        self.store
            .create_link(member_id, &code, now + Duration::minutes(LINK_MINUTES))
            .await?;
        Ok(code)
    }

    /// Uses a link code from the chat account `by` (a Telegram or LINE
    /// reference), whose member is `member_id`. Wrong codes are counted and
    /// slowed down as claims are.
    pub async fn link(
        &self,
        member_id: i64,
        code: &str,
        by: &MemberRef,
        now: DateTime<Utc>,
    ) -> Result<Member> {
        let subjects = guess_subjects(member_id, Some(by));
        self.guarded("link", &subjects, now, async {
            let code = LinkCode::parse(code)
                .ok_or(Refusal::LinkInvalid)
                .map_err(StoreError::from)?;
            Ok(self.store.use_link(&code, by, now).await?)
        })
        .await
    }
}
