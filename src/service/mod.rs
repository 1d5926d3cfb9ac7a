//! Use cases: what merchants, staff, administrators and (later) the chat
//! front-ends ask of taem. Each validates its input, applies the domain rules and
//! calls one whole store operation.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::Refusal;
use crate::domain::campaign::Item;
use crate::domain::guess::GuessPolicy;
use crate::domain::model::*;
use crate::domain::tier::TierStatus;
use crate::domain::time::lot_expiry;
use crate::domain::{Breakdown, ClaimCode, LinkCode, MemberCode, Money, Points, VoucherCode};
use crate::store::{Store, StoreError};

pub mod campaigns;
pub mod qr;

/// Account-link codes stay valid this long.
pub const LINK_MINUTES: i64 = 15;
/// Claim codes on receipts bought without a member stay valid this long.
pub const CLAIM_DAYS: i64 = 30;
/// Purchases may be dated at most this far ahead (clock skew between tills).
const FUTURE_SKEW_MINUTES: i64 = 5;

/// What a use case answers when it does not do what was asked. Adapters match
/// these variants: a refusal becomes its own message, not-found a 404 or "no
/// such code", a duplicate a 409; `Store` is the unexpected rest.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request itself is wrong: `field` says where.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// The thing named does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The same idempotency key was used before with a different request.
    #[error("{0} was already used for a different request")]
    Duplicate(&'static str),
    /// A business rule turned the request down; nothing changed.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// Anything else (the database failed, a row is corrupt, ...).
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> ServiceError {
        match e {
            StoreError::NotFound(what) => ServiceError::NotFound(what),
            StoreError::IdempotencyConflict(key) => ServiceError::Duplicate(key),
            StoreError::Refused(r) => ServiceError::Refused(r),
            other => ServiceError::Store(other),
        }
    }
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> ServiceError {
    ServiceError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

/// One line of a purchase, as the merchant's till sends it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PurchaseItem {
    pub sku: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default = "one")]
    pub quantity: i64,
    pub amount: String,
}

fn one() -> i64 {
    1
}

/// The body of `POST /v1/purchases`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PurchaseRequest {
    pub receipt_id: String,
    pub amount: String,
    pub currency: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<PurchaseItem>>,
}

/// The body of `POST /v1/refunds`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefundRequest {
    pub refund_id: String,
    pub receipt_id: String,
    pub amount: String,
    /// Optional; when given it must be the merchant's currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}

fn check_id(field: &str, value: &str) -> Result<()> {
    let n = value.chars().count();
    if n == 0 || n > 128 {
        return Err(invalid(field, "must be 1 to 128 characters"));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(())
}

fn check_currency(field: &str, given: &str, merchant: &Merchant) -> Result<()> {
    if !given.eq_ignore_ascii_case(merchant.currency.code()) {
        return Err(invalid(
            field,
            format!(
                "{given:?} is not this merchant's currency ({})",
                merchant.currency
            ),
        ));
    }
    Ok(())
}

fn amount(field: &str, value: &str, merchant: &Merchant) -> Result<Money> {
    Money::parse_positive(value, merchant.currency).map_err(|e| invalid(field, e.to_string()))
}

/// A digest of the meaning of a request (not its bytes), so a till that resends
/// the same purchase with other whitespace or key order is still a replay.
fn fingerprint<T: Serialize>(canonical: &T) -> String {
    hex::encode(Sha256::digest(
        serde_json::to_vec(canonical).expect("serializable"),
    ))
}

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

/// When points credited at `now` become spendable and expire under `program`.
fn timing(program: &Program, now: DateTime<Utc>, tz: Tz) -> LotTiming {
    LotTiming {
        available_at: now + Duration::days(i64::from(program.pending_days)),
        expires_at: lot_expiry(now, program.expiry_months, tz),
    }
}

/// An unknown member code is the request's fault: say which field.
fn member_known<T>(cmd: &PurchaseCommand, r: Result<T, StoreError>) -> Result<T> {
    match r {
        Err(StoreError::NotFound("member")) => Err(invalid(
            "member_code",
            format!(
                "no member has the code {}",
                cmd.member_code.as_ref().map(|c| c.as_str()).unwrap_or("")
            ),
        )),
        other => Ok(other?),
    }
}

/// How many times a purchase is priced again when the settings change under it.
const SETTINGS_RETRIES: usize = 3;

pub struct Loyalty {
    store: Arc<dyn Store>,
    tz: Tz,
    /// The settings purchases are priced with. Every purchase checks their
    /// version inside its own transaction, so a change made with `taem program
    /// set` (perhaps in another process) applies from the next purchase on.
    program: std::sync::RwLock<Option<Program>>,
    /// How wrong claim and link codes are slowed down and refused.
    guess: GuessPolicy,
}

impl Loyalty {
    pub fn new(store: Arc<dyn Store>, tz: Tz) -> Loyalty {
        Loyalty {
            store,
            tz,
            program: std::sync::RwLock::new(None),
            guess: GuessPolicy::default(),
        }
    }

    pub fn with_guess_policy(mut self, guess: GuessPolicy) -> Loyalty {
        self.guess = guess;
        self
    }

    /// The program settings as they are now.
    pub async fn program(&self) -> Result<Program> {
        Ok(self.store.program().await?)
    }

    /// The settings purchases are priced with: kept until a purchase finds
    /// they changed ([`StoreError::SettingsChanged`]), then read again.
    async fn purchase_settings(&self, stale: bool) -> Result<Program> {
        if !stale && let Some(p) = &*self.program.read().expect("not poisoned") {
            return Ok(p.clone());
        }
        let p = self.store.program().await?;
        *self.program.write().expect("not poisoned") = Some(p.clone());
        Ok(p)
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn timezone(&self) -> Tz {
        self.tz
    }

    /// When points credited at `now` become spendable and expire, under the
    /// program's current settings.
    pub async fn lot_timing(&self, now: DateTime<Utc>) -> Result<LotTiming> {
        Ok(timing(&self.program().await?, now, self.tz))
    }

    pub async fn record_purchase(
        &self,
        merchant: &Merchant,
        req: PurchaseRequest,
        now: DateTime<Utc>,
    ) -> Result<Recorded<PurchaseReceipt>> {
        let mut stale = false;
        for _ in 0..SETTINGS_RETRIES {
            let cmd = self
                .purchase_command(merchant, req.clone(), now, stale)
                .await?;
            match self.store.record_purchase(&cmd).await {
                Err(StoreError::SettingsChanged) => stale = true,
                r => return member_known(&cmd, r),
            }
        }
        Err(StoreError::SettingsChanged.into())
    }

    /// What a purchase would earn now, under the rules and campaigns as they
    /// are, without recording it (`taem campaign simulate`).
    pub async fn simulate_purchase(
        &self,
        merchant: &Merchant,
        req: PurchaseRequest,
        now: DateTime<Utc>,
    ) -> Result<Breakdown> {
        // A simulation may look ahead (next weekend's campaign).
        let now = req.occurred_at.map_or(now, |t| t.max(now));
        // Under the settings as they are now (read afresh).
        let cmd = self.purchase_command(merchant, req, now, true).await?;
        member_known(&cmd, self.store.price_purchase(&cmd).await)
    }

    /// Checks a purchase request and turns it into the store's command.
    async fn purchase_command(
        &self,
        merchant: &Merchant,
        req: PurchaseRequest,
        now: DateTime<Utc>,
        stale: bool,
    ) -> Result<PurchaseCommand> {
        // One read of the (cached) settings serves the rules and the lot's timing.
        let program = self.purchase_settings(stale).await?;
        check_id("receipt_id", &req.receipt_id)?;
        check_currency("currency", &req.currency, merchant)?;
        let total = amount("amount", &req.amount, merchant)?;
        let member_code = match &req.member_code {
            None => None,
            Some(c) => Some(MemberCode::parse(c).ok_or_else(|| {
                invalid(
                    "member_code",
                    format!("{c:?} is not a member code (8 letters and digits)"),
                )
            })?),
        };
        let occurred_at = req.occurred_at.map(crate::domain::time::truncate_ms);
        if let Some(t) = occurred_at
            && t > now + Duration::minutes(FUTURE_SKEW_MINUTES)
        {
            return Err(invalid("occurred_at", "is in the future"));
        }
        if req.items.as_ref().is_some_and(|i| i.len() > 500) {
            return Err(invalid("items", "at most 500 items"));
        }
        let mut items = Vec::new();
        let mut rule_items = Vec::new();
        for (i, item) in req.items.iter().flatten().enumerate() {
            check_id(&format!("items[{i}].sku"), &item.sku)?;
            if let Some(c) = &item.category {
                check_id(&format!("items[{i}].category"), c)?;
            }
            if item.quantity <= 0 {
                return Err(invalid(
                    format!("items[{i}].quantity"),
                    "must be at least 1",
                ));
            }
            let a = Money::parse(&item.amount, merchant.currency)
                .map_err(|e| invalid(format!("items[{i}].amount"), e.to_string()))?;
            items.push(PurchaseItem {
                amount: a.to_decimal_string(),
                ..item.clone()
            });
            rule_items.push(Item {
                sku: item.sku.clone(),
                category: item.category.clone(),
                quantity: item.quantity,
                amount_minor: a.minor(),
            });
        }
        // The canonical request: normalised values, in a fixed order.
        let canonical = PurchaseRequest {
            receipt_id: req.receipt_id.clone(),
            amount: total.to_decimal_string(),
            currency: merchant.currency.code().to_string(),
            member_code: member_code.as_ref().map(|c| c.to_string()),
            occurred_at,
            items: req.items.is_some().then(|| items.clone()),
        };
        Ok(PurchaseCommand {
            merchant_id: merchant.id.clone(),
            receipt_id: req.receipt_id,
            amount: total,
            member_code,
            occurred_at: occurred_at.unwrap_or(now),
            items_json: req
                .items
                .is_some()
                .then(|| serde_json::to_string(&items).expect("serializable")),
            items: rule_items,
            fingerprint: fingerprint(&canonical),
            rate: merchant.earn,
            timing: timing(&program, now, self.tz),
            rules: RuleSettings {
                version: program.version,
                tz: self.tz,
                currency: program.currency,
                tiers: program.tiers,
                referral: program.referral,
            },
            claim_code: ClaimCode::generate(),
            claim_expires_at: now + Duration::days(CLAIM_DAYS),
            now,
        })
    }

    pub async fn record_refund(
        &self,
        merchant: &Merchant,
        req: RefundRequest,
        now: DateTime<Utc>,
    ) -> Result<Recorded<RefundReceipt>> {
        check_id("refund_id", &req.refund_id)?;
        check_id("receipt_id", &req.receipt_id)?;
        if let Some(c) = &req.currency {
            check_currency("currency", c, merchant)?;
        }
        let refund = amount("amount", &req.amount, merchant)?;
        let canonical = RefundRequest {
            refund_id: req.refund_id.clone(),
            receipt_id: req.receipt_id.clone(),
            amount: refund.to_decimal_string(),
            currency: None,
        };
        let cmd = RefundCommand {
            merchant_id: merchant.id.clone(),
            refund_id: req.refund_id,
            receipt_id: req.receipt_id,
            amount: refund,
            fingerprint: fingerprint(&canonical),
            now,
        };
        match self.store.record_refund(&cmd).await {
            Err(StoreError::NotFound("purchase")) => Err(invalid(
                "receipt_id",
                format!(
                    "this merchant has no purchase with receipt_id {:?}",
                    cmd.receipt_id
                ),
            )),
            other => Ok(other?),
        }
    }

    /// Staff at the counter use a voucher a customer shows them.
    pub async fn use_voucher(
        &self,
        merchant: &Merchant,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<VoucherUse> {
        let code = VoucherCode::parse(code).ok_or(StoreError::NotFound("voucher"))?;
        Ok(self.store.use_voucher(&code, &merchant.id, now).await?)
    }

    /// A member spends points on a reward. `request_key` makes a double tap or a
    /// redelivered message return the first voucher instead of a second one.
    pub async fn redeem(
        &self,
        member_id: i64,
        reward_id: i64,
        request_key: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Voucher> {
        let cmd = RedeemCommand {
            member_id,
            reward_id,
            // The chat's answer shows the voucher; a redemption made elsewhere
            // (the CLI) is pushed to the member.
            notify: request_key.is_none(),
            request_key,
            code: VoucherCode::generate(),
            now,
        };
        Ok(self.store.redeem(&cmd).await?)
    }

    pub async fn cancel_voucher(
        &self,
        member_id: i64,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<Voucher> {
        let code = VoucherCode::parse(code).ok_or(StoreError::NotFound("voucher"))?;
        Ok(self.store.cancel_voucher(member_id, &code, now).await?)
    }

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
            Ok(self
                .store
                .claim_receipt(member_id, &code, timing, now)
                .await?)
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

    /// An administrator's correction, with the reason kept in the ledger.
    pub async fn adjust(
        &self,
        member_id: i64,
        delta: i64,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Entry> {
        if delta == 0 || Points::positive(delta.abs()).is_none() {
            return Err(invalid(
                "points",
                "must be a non-zero whole number such as +50 or -20",
            ));
        }
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 200 {
            return Err(invalid("reason", "must be 1 to 200 characters"));
        }
        let cmd = AdjustCommand {
            member_id,
            delta: Points::new(delta),
            reason: reason.to_string(),
            timing: self.lot_timing(now).await?,
            now,
        };
        Ok(self.store.adjust_points(&cmd).await?)
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

    /// Whether an inbound event (e.g. LINE's `webhookEventId`) is seen for the
    /// first time; a redelivery must not act twice.
    pub async fn first_delivery(
        &self,
        source: &str,
        event_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        Ok(self.store.first_delivery(source, event_id, now).await?)
    }

    pub async fn merchant(&self, id: &str) -> Result<Merchant> {
        Ok(self.store.merchant(id).await?)
    }

    /// Whether the database answers (readiness).
    pub async fn ping(&self) -> Result<()> {
        Ok(self.store.ping().await?)
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

    /// A member's tier, spend and distance to the next tier.
    pub async fn tier_status(&self, member_id: i64, now: DateTime<Utc>) -> Result<TierStatus> {
        let program = self.program().await?;
        let (key, spend) = self
            .store
            .tier_standing(member_id, program.currency.code(), now)
            .await?;
        Ok(TierStatus::new(
            &program.tiers,
            key.as_deref(),
            spend,
            program.currency,
        ))
    }

    /// The periodic tier review (see [`crate::domain::tier`]).
    pub async fn review_tiers(&self, now: DateTime<Utc>) -> Result<Vec<TierChange>> {
        let program = self.store.program().await?;
        Ok(self
            .store
            .review_tiers(&program.tiers, program.currency.code(), now)
            .await?)
    }

    /// Everything about a member's points, for `member show` and the chat.
    pub async fn summary(&self, member: Member, now: DateTime<Utc>) -> Result<MemberSummary> {
        let lots = self.store.lots(member.id).await?;
        let views: Vec<_> = lots
            .iter()
            .map(|l| crate::domain::ledger::LotView {
                id: l.id,
                remaining: l.remaining.value(),
                available_at: l.available_at,
                expires_at: l.expires_at,
            })
            .collect();
        let spendable = crate::domain::ledger::spendable(&views, now);
        let pending = crate::domain::ledger::pending(&views, now);
        let next_expiry = lots
            .iter()
            .filter(|l| l.expires_at > now)
            .min_by_key(|l| l.expires_at)
            .map(|first| NextExpiry {
                expires_at: first.expires_at,
                points: lots
                    .iter()
                    .filter(|l| l.expires_at == first.expires_at)
                    .map(|l| l.remaining)
                    .sum(),
            });
        let vouchers = self.store.vouchers(member.id).await?;
        let entries = self.store.entries(member.id, 20).await?;
        let tier = self.tier_status(member.id, now).await?;
        Ok(MemberSummary {
            tier,
            spendable,
            pending,
            next_expiry,
            lots,
            vouchers,
            entries,
            member,
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct NextExpiry {
    pub points: Points,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MemberSummary {
    pub member: Member,
    pub tier: TierStatus,
    pub spendable: Points,
    pub pending: Points,
    pub next_expiry: Option<NextExpiry>,
    pub lots: Vec<Lot>,
    pub vouchers: Vec<Voucher>,
    pub entries: Vec<Entry>,
}
