//! The counter screen: find a member (code or phone), record a sale.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use rand::RngExt;
use serde::Deserialize;

use super::page::{breakdown, csrf_field, layout, notice};
use super::{Console, Posted, Refused, Signed};
use crate::domain::model::{Member, Merchant, Recorded, Reward};
use crate::domain::offer::{RewardKind, Takeoff};
use crate::domain::time::now;
use crate::domain::{Money, phone};
use crate::i18n;
use crate::service::ServiceError;
use crate::service::counter::{CounterRefund, CounterSale, VoucherCheck};
use crate::service::staff::Actor;

#[derive(Deserialize, Default)]
pub struct Find {
    #[serde(default)]
    q: String,
}

/// The rewards a member can be given now, each with its button.
fn rewards_panel(c: &Console, s: &Signed, m: &Member, rewards: &[Reward]) -> Markup {
    let l = s.locale;
    let nonce = hex::encode(rand::rng().random::<[u8; 12]>());
    html! {
        @if !rewards.is_empty() {
            h2 { (c.t(l, "console-redeem-title")) }
            table #rewards {
                @for r in rewards {
                    tr {
                        td {
                            (match l { crate::domain::Locale::Th => &r.name_th, crate::domain::Locale::En => &r.name_en })
                            br; span.muted { (c.t_args(l, "console-member-balance", &[("points", i18n::number(r.cost.value()))])) }
                        }
                        td {
                            form method="post" action="/console/counter/redeem" .inline {
                                (csrf_field(s))
                                input type="hidden" name="member" value=(m.code);
                                input type="hidden" name="reward" value=(r.id);
                                input type="hidden" name="nonce" value=(format!("{nonce}-{}", r.id));
                                button type="submit" disabled[m.balance < r.cost] { (c.t(l, "console-redeem-button")) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The member found, with the sale form for them.
fn member_panel(
    c: &Console,
    s: &Signed,
    (m, credit): (&Member, Money),
    merchants: &[Merchant],
) -> Markup {
    let l = s.locale;
    let nonce = hex::encode(rand::rng().random::<[u8; 12]>());
    html! {
        section.card #member {
            div.muted { (c.t_args(l, "console-member-code", &[("code", m.code.clone())])) }
            @if let Some(name) = &m.name { div { (name) } }
            div.balance { (c.t_args(l, "console-member-balance", &[("points", i18n::number(m.balance.value()))])) }
            @if credit.minor() > 0 {
                div.balance #credit { (c.t_args(l, "console-member-credit", &[("amount", i18n::money(credit))])) }
            }
            @if let Some(p) = &m.phone {
                div.muted { (phone::display(p)) }
            } @else {
                details {
                    summary { (c.t(l, "console-phone-add")) }
                    form method="post" action="/console/member/phone" #phone {
                        (csrf_field(s))
                        input type="hidden" name="member" value=(m.code);
                        label { (c.t(l, "console-phone")) input type="tel" name="phone" autocomplete="off" required; }
                        label.check { input type="checkbox" name="consent" value="yes" required; (c.t(l, "console-phone-consent")) }
                        button type="submit" { (c.t(l, "console-phone-save")) }
                    }
                }
            }
        }
        h2 { (c.t(l, "console-sale-title")) }
        form method="post" action="/console/counter/sale" #sale {
            (csrf_field(s))
            input type="hidden" name="member" value=(m.code);
            input type="hidden" name="nonce" value=(nonce);
            (merchant_field(c, s, merchants))
            label { (c.t(l, "console-sale-amount")) input type="text" name="amount" inputmode="decimal" autocomplete="off" required; }
            label { (c.t(l, "console-sale-receipt")) input type="text" name="receipt" autocomplete="off" maxlength="128"; }
            button type="submit" { (c.t(l, "console-sale-button")) }
        }
        details #pay-box {
            summary { (c.t(l, "console-pay-title")) }
            form method="post" action="/console/counter/pay" #pay {
                (csrf_field(s))
                input type="hidden" name="member" value=(m.code);
                input type="hidden" name="nonce" value=(format!("{nonce}-p"));
                (merchant_field(c, s, merchants))
                label { (c.t(l, "console-pay-amount")) input type="text" name="amount" inputmode="decimal" autocomplete="off" required; }
                @if credit.minor() > 0 {
                    fieldset.choice {
                        label.check { input type="radio" name="source" value="points" checked; (c.t(l, "console-pay-with-points")) }
                        label.check { input type="radio" name="source" value="credit"; (c.t_args(l, "console-pay-with-credit", &[("amount", i18n::money(credit))])) }
                    }
                }
                label { (c.t(l, "console-pay-code")) input type="text" name="pay_code" inputmode="numeric" autocomplete="off" maxlength="6"; }
                button type="submit" { (c.t(l, "console-pay-button")) }
            }
        }
        details {
            summary { (c.t(l, "console-refund-title")) }
            form method="post" action="/console/counter/refund" #refund {
                (csrf_field(s))
                input type="hidden" name="member" value=(m.code);
                input type="hidden" name="nonce" value=(format!("{nonce}-r"));
                (merchant_field(c, s, merchants))
                label { (c.t(l, "console-refund-receipt")) input type="text" name="receipt" autocomplete="off" required maxlength="128"; }
                label { (c.t(l, "console-refund-amount")) input type="text" name="amount" inputmode="decimal" autocomplete="off" required; }
                button type="submit" { (c.t(l, "console-refund-button")) }
            }
        }
    }
}

fn find_form(c: &Console, s: &Signed, q: &str) -> Markup {
    let l = s.locale;
    html! {
        form method="get" action="/console" #find {
            label { (c.t(l, "console-find-label"))
                div.row {
                    input type="search" name="q" value=(q) autocomplete="off" autofocus required;
                    button type="submit" { (c.t(l, "console-find-button")) }
                }
            }
            // Shown by the script when the device has a camera it may use.
            button.ghost type="button" #scan hidden { (c.t(l, "console-scan-button")) }
            video #scan-video hidden playsinline muted {}
        }
        script src="/console/console.js" defer {}
    }
}

/// A voucher found, with the button that uses it when it can be used.
fn voucher_panel(c: &Console, s: &Signed, v: &VoucherCheck, merchants: &[Merchant]) -> Markup {
    let l = s.locale;
    let reward = match l {
        crate::domain::Locale::Th => &v.reward.name_th,
        crate::domain::Locale::En => &v.reward.name_en,
    };
    html! {
        section.card #voucher {
            div.muted { (c.t_args(l, "console-voucher-code", &[("code", v.voucher.code.clone())])) }
            div.balance { (reward) }
            div { (c.t_args(l, "console-member-code", &[("code", v.member.code.clone())])) }
            @match &v.refusal {
                Some(r) => (notice(&refusal_text(c, l, r), false)),
                None => {
                    p.ok { (c.t(l, "console-voucher-valid")) }
                    form method="post" action="/console/voucher/use" #use {
                        (csrf_field(s))
                        input type="hidden" name="code" value=(v.voucher.code);
                        (merchant_field(c, s, merchants))
                        label { (c.t(l, "console-basket-amount"))
                            input type="text" name="basket" inputmode="decimal" autocomplete="off"
                                required[matches!(v.reward.kind, RewardKind::PercentDiscount { .. })];
                        }
                        @if matches!(&v.reward.kind, RewardKind::PercentDiscount { categories, .. } if !categories.is_empty())
                            || matches!(&v.reward.kind, RewardKind::Product { sku: Some(_) }) {
                            label { (c.t(l, "console-basket-items"))
                                textarea name="items" rows="4" autocomplete="off" placeholder="bakery 120" {}
                            }
                        }
                        button type="submit" { (c.t(l, "console-voucher-use")) }
                    }
                }
            }
        }
    }
}

/// Why a voucher cannot be used, in words.
fn refusal_text(c: &Console, l: crate::domain::Locale, r: &crate::domain::Refusal) -> String {
    use crate::domain::Refusal;
    let when = |t: &chrono::DateTime<chrono::Utc>| i18n::local_date(*t, c.loyalty.timezone(), l);
    match r {
        Refusal::VoucherAlreadyUsed { used_at } => {
            c.t_args(l, "console-voucher-used", &[("date", when(used_at))])
        }
        Refusal::VoucherExpired { expires_at } => {
            c.t_args(l, "console-voucher-expired", &[("date", when(expires_at))])
        }
        Refusal::VoucherCancelled => c.t(l, "console-voucher-cancelled"),
        Refusal::VoucherNeedsBasket => c.t(l, "console-voucher-needs-basket"),
        Refusal::VoucherOtherPartner => c.t(l, "console-voucher-other-partner"),
        Refusal::PartnerBudgetSpent { left } => c.t_args(
            l,
            "console-partner-budget-spent",
            &[("left", i18n::number(left.value()))],
        ),
        Refusal::VoucherNotApplicable(why) => c.t_args(
            l,
            "console-voucher-not-applicable",
            &[("reason", why.to_string())],
        ),
        _ => c.t(l, "console-error"),
    }
}

/// The shop a counter action is for: a choice when the staff member works for
/// several, otherwise their one.
fn merchant_field(c: &Console, s: &Signed, merchants: &[Merchant]) -> Markup {
    html! {
        @if merchants.len() > 1 {
            label { (c.t(s.locale, "console-merchant"))
                select name="merchant" required {
                    @for mer in merchants { option value=(mer.id) { (mer.name) } }
                }
            }
        } @else if let Some(mer) = merchants.first() {
            input type="hidden" name="merchant" value=(mer.id);
        }
    }
}

/// Whether what was typed or scanned is a voucher code (a phone number is
/// never taken for one).
fn is_voucher(q: &str) -> bool {
    crate::domain::VoucherCode::parse(q.trim()).is_some() && phone::normalise(q).is_none()
}

async fn counter_page(c: &Console, s: &Signed, q: &str, result: Option<Markup>) -> Response {
    let l = s.locale;
    let actor = Actor::Staff(s.staff.clone());
    let title = c.t(l, "console-counter-title");
    let mut status = StatusCode::OK;
    let found = if q.trim().is_empty() {
        html! {}
    } else if is_voucher(q) {
        match c.loyalty.check_voucher(&actor, q, now()).await {
            Ok(v) => match c.loyalty.counter_merchants(&actor).await {
                Ok(merchants) => voucher_panel(c, s, &v, &merchants),
                Err(e) => return Refused::from(e).render(c, l),
            },
            Err(ServiceError::NotFound(_)) => {
                status = StatusCode::NOT_FOUND;
                notice(&c.t(l, "console-voucher-unknown"), false)
            }
            Err(e) => return Refused::from(e).render(c, l),
        }
    } else {
        match c.loyalty.find_member(&actor, q).await {
            Ok(m) => {
                let merchants = c.loyalty.counter_merchants(&actor).await;
                let rewards = c.loyalty.counter_rewards(&actor, now()).await;
                let credit = c.loyalty.store_credit(&m).await;
                match (merchants, rewards, credit) {
                    (Ok(merchants), Ok(rewards), Ok(credit)) => html! {
                        (member_panel(c, s, (&m, credit), &merchants))
                        (rewards_panel(c, s, &m, &rewards))
                    },
                    (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                        return Refused::from(e).render(c, l);
                    }
                }
            }
            Err(ServiceError::NotFound(_)) => {
                status = StatusCode::NOT_FOUND;
                notice(&c.t(l, "console-member-not-found"), false)
            }
            Err(e) => return Refused::from(e).render(c, l),
        }
    };
    let body = html! {
        @if let Some(r) = result { (r) }
        (find_form(c, s, q))
        (found)
    };
    (status, layout(c, l, Some(s), &title, body)).into_response()
}

/// [`answer`] for the other counter modules.
pub(super) async fn answer_for(
    c: &Console,
    s: &Signed,
    q: &str,
    status: StatusCode,
    result: Markup,
) -> Response {
    answer(c, s, q, (status, result)).await
}

/// The counter again, for `q`, with what an action did on top, answered with
/// the action's status (unless the page itself says otherwise).
async fn answer(
    c: &Console,
    s: &Signed,
    q: &str,
    (status, result): (StatusCode, Markup),
) -> Response {
    let mut page = counter_page(c, s, q, Some(result)).await;
    if page.status() == StatusCode::OK {
        *page.status_mut() = status;
    }
    page
}

pub async fn home(State(c): State<Console>, s: Signed, Query(f): Query<Find>) -> Response {
    if let Err(e) = Actor::Staff(s.staff.clone()).require(crate::domain::staff::Permission::Counter)
    {
        return Refused::from(e).render(&c, s.locale);
    }
    counter_page(&c, &s, &f.q, None).await
}

#[derive(Deserialize)]
pub struct SaleForm {
    #[serde(default)]
    member: String,
    #[serde(default)]
    merchant: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    receipt: String,
    #[serde(default)]
    nonce: String,
}

pub async fn sale(State(c): State<Console>, Posted { s, form: f }: Posted<SaleForm>) -> Response {
    let l = s.locale;
    let receipt_id = match f.receipt.trim() {
        "" => format!("counter-{}", f.nonce.trim()),
        typed => typed.to_string(),
    };
    let sale = CounterSale {
        merchant_id: f.merchant.clone(),
        member_code: f.member.clone(),
        amount: f.amount.clone(),
        receipt_id,
    };
    let actor = Actor::Staff(s.staff.clone());
    let (status, result) = match c.loyalty.counter_sale(&actor, sale, now()).await {
        Ok(recorded) => {
            let (status, id) = match &recorded {
                Recorded::New(_) => (StatusCode::CREATED, "console-sale-recorded"),
                Recorded::Replay(_) => (StatusCode::OK, "console-sale-replayed"),
            };
            let r = recorded.into_inner();
            let text = c.t_args(
                l,
                id,
                &[
                    ("points", i18n::number(r.points.value())),
                    ("balance", i18n::number(r.balance.map_or(0, |b| b.value()))),
                ],
            );
            let result = html! { (notice(&text, true)) (breakdown(&c, l, &r.breakdown)) };
            (status, result)
        }
        Err(ServiceError::Invalid { message, .. }) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            notice(
                &c.t_args(l, "console-sale-invalid", &[("message", message)]),
                false,
            ),
        ),
        // A prepaid partner's budget is spent: said plainly, nothing recorded.
        Err(ServiceError::Refused(r)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            notice(&refusal_text(&c, l, &r), false),
        ),
        Err(e) => return Refused::from(e).render(&c, l),
    };
    answer(&c, &s, &f.member, (status, result)).await
}

#[derive(Deserialize)]
pub struct UseForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    merchant: String,
    /// The bill's amount, when the cashier typed it.
    #[serde(default)]
    basket: String,
    /// The bill's lines, one per line (`bakery 120`), when they matter.
    #[serde(default)]
    items: String,
}

/// What the till takes off, said to the cashier.
fn takeoff_text(c: &Console, l: crate::domain::Locale, t: &Takeoff) -> String {
    match t {
        Takeoff::Amount { amount } => c.t_args(
            l,
            "console-takeoff-amount",
            &[("amount", i18n::money(*amount))],
        ),
        Takeoff::Item { sku, amount } => {
            let sku = sku.as_ref().map(|s| format!(" ({s})")).unwrap_or_default();
            if amount.minor() > 0 {
                c.t_args(
                    l,
                    "console-takeoff-item-priced",
                    &[("sku", sku), ("amount", i18n::money(*amount))],
                )
            } else {
                c.t_args(l, "console-takeoff-item", &[("sku", sku)])
            }
        }
        Takeoff::Credit { credit } => c.t_args(
            l,
            "console-takeoff-amount",
            &[("amount", i18n::money(*credit))],
        ),
        Takeoff::Nothing => c.t(l, "console-takeoff-nothing"),
    }
}

pub async fn use_voucher(
    State(c): State<Console>,
    Posted { s, form: f }: Posted<UseForm>,
) -> Response {
    let l = s.locale;
    let actor = Actor::Staff(s.staff.clone());
    let basket = crate::service::counter::typed_items(&f.items).map(|items| {
        super::opt(&f.basket).map(|amount| crate::service::BasketInput {
            amount,
            items: (!items.is_empty()).then_some(items),
        })
    });
    let used = match basket {
        Ok(basket) => {
            c.loyalty
                .counter_use_voucher(&actor, &f.merchant, (&f.code, basket.as_ref()), now())
                .await
        }
        Err(e) => Err(e),
    };
    let (status, result) = match used {
        Ok(used) => {
            let reward = match l {
                crate::domain::Locale::Th => used.reward.name_th,
                crate::domain::Locale::En => used.reward.name_en,
            };
            let text = c.t_args(
                l,
                "console-voucher-done",
                &[("reward", reward), ("code", used.member.code)],
            );
            let takeoff = takeoff_text(&c, l, &used.takeoff);
            (
                StatusCode::OK,
                html! { (notice(&text, true)) p.ok #takeoff { (takeoff) } },
            )
        }
        Err(ServiceError::Refused(r)) => (
            StatusCode::CONFLICT,
            notice(&refusal_text(&c, l, &r), false),
        ),
        Err(ServiceError::NotFound(_)) => (
            StatusCode::NOT_FOUND,
            notice(&c.t(l, "console-voucher-unknown"), false),
        ),
        Err(ServiceError::Invalid { message, .. }) => {
            (StatusCode::UNPROCESSABLE_ENTITY, notice(&message, false))
        }
        Err(e) => return Refused::from(e).render(&c, l),
    };
    answer(&c, &s, "", (status, result)).await
}

#[derive(Deserialize)]
pub struct PhoneForm {
    #[serde(default)]
    member: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    consent: Option<String>,
}

pub async fn set_phone(
    State(c): State<Console>,
    Posted { s, form: f }: Posted<PhoneForm>,
) -> Response {
    let l = s.locale;
    let actor = Actor::Staff(s.staff.clone());
    let consent = f.consent.as_deref() == Some("yes");
    let (status, result) = match c
        .loyalty
        .counter_set_phone(&actor, &f.member, &f.phone, consent, now())
        .await
    {
        Ok(_) => (StatusCode::OK, notice(&c.t(l, "console-phone-saved"), true)),
        Err(ServiceError::Invalid { field, .. }) => {
            let id = if field == "consent" {
                "console-phone-no-consent"
            } else {
                "console-phone-invalid"
            };
            (StatusCode::UNPROCESSABLE_ENTITY, notice(&c.t(l, id), false))
        }
        Err(ServiceError::Duplicate(_)) => (
            StatusCode::CONFLICT,
            notice(&c.t(l, "console-phone-taken"), false),
        ),
        Err(e) => return Refused::from(e).render(&c, l),
    };
    answer(&c, &s, &f.member, (status, result)).await
}

#[derive(Deserialize)]
pub struct RedeemForm {
    #[serde(default)]
    member: String,
    #[serde(default)]
    reward: i64,
    #[serde(default)]
    nonce: String,
}

pub async fn redeem(
    State(c): State<Console>,
    Posted { s, form: f }: Posted<RedeemForm>,
) -> Response {
    let l = s.locale;
    let actor = Actor::Staff(s.staff.clone());
    let (status, result) = match c
        .loyalty
        .counter_redeem(&actor, (&f.member, f.reward), &f.nonce, now())
        .await
    {
        Ok(v) => {
            let text = c.t_args(l, "console-redeemed", &[("code", v.code.clone())]);
            (StatusCode::OK, notice(&text, true))
        }
        Err(ServiceError::Refused(r)) => {
            let text = match r {
                crate::domain::Refusal::InsufficientPoints { .. } => c.t(l, "console-redeem-short"),
                crate::domain::Refusal::OutOfStock => c.t(l, "console-redeem-out-of-stock"),
                _ => c.t(l, "console-redeem-refused"),
            };
            (StatusCode::UNPROCESSABLE_ENTITY, notice(&text, false))
        }
        Err(e) => return Refused::from(e).render(&c, l),
    };
    answer(&c, &s, &f.member, (status, result)).await
}

#[derive(Deserialize)]
pub struct RefundForm {
    #[serde(default)]
    member: String,
    #[serde(default)]
    merchant: String,
    #[serde(default)]
    receipt: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    nonce: String,
}

pub async fn refund(
    State(c): State<Console>,
    Posted { s, form: f }: Posted<RefundForm>,
) -> Response {
    let l = s.locale;
    let refund = CounterRefund {
        merchant_id: f.merchant.clone(),
        receipt_id: f.receipt.clone(),
        amount: f.amount.clone(),
        key: f.nonce.clone(),
    };
    let actor = Actor::Staff(s.staff.clone());
    let (status, result) = match c.loyalty.counter_refund(&actor, refund, now()).await {
        Ok(Recorded::New(r) | Recorded::Replay(r)) => {
            let text = c.t_args(
                l,
                "console-refunded",
                &[
                    ("points", i18n::number(r.points_clawed_back.value())),
                    ("left", r.refundable_amount.clone()),
                ],
            );
            (StatusCode::OK, notice(&text, true))
        }
        Err(ServiceError::Refused(crate::domain::Refusal::RefundExceedsPurchase {
            refundable,
            ..
        })) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            notice(
                &c.t_args(l, "console-refund-too-much", &[("left", refundable)]),
                false,
            ),
        ),
        Err(ServiceError::NotFound(_)) => (
            StatusCode::NOT_FOUND,
            notice(&c.t(l, "console-refund-unknown"), false),
        ),
        Err(ServiceError::Invalid { field, .. }) if field == "receipt_id" => (
            StatusCode::NOT_FOUND,
            notice(&c.t(l, "console-refund-unknown"), false),
        ),
        Err(ServiceError::Invalid { message, .. }) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            notice(
                &c.t_args(l, "console-sale-invalid", &[("message", message)]),
                false,
            ),
        ),
        Err(e) => return Refused::from(e).render(&c, l),
    };
    answer(&c, &s, &f.member, (status, result)).await
}
