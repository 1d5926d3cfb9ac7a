//! The merchant console over HTTP, as a browser without JavaScript uses it:
//! cookies, forms, redirects. (The same journeys in a real browser are the
//! browser tests' job.)

use std::collections::HashMap;

use taem::domain::model::*;
use taem::domain::staff::{AuditFilter, NewStaff, Role};
use taem::domain::time::now;
use taem::service::staff::Actor;

use crate::common::*;

/// A browser without JavaScript: keeps cookies, follows no redirect.
pub(crate) struct Browser {
    base: String,
    http: reqwest::Client,
    cookies: HashMap<String, String>,
}

pub(crate) struct Page {
    pub(crate) status: u16,
    pub(crate) location: Option<String>,
    pub(crate) body: String,
}

impl Page {
    /// The value of the hidden field `name` in the page's (first) form.
    pub(crate) fn field(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no field {name} in {}", self.body))
            + marker.len();
        let end = self.body[start..].find('"').unwrap() + start;
        self.body[start..end].to_string()
    }
}

impl Browser {
    fn new(app: &TestApp) -> Browser {
        Browser {
            base: app.base.clone(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: HashMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
        let res = req
            .header("cookie", self.cookie_header())
            .header("accept-language", "en-GB,en;q=0.9,th;q=0.8")
            .send()
            .await
            .expect("request");
        for c in res.headers().get_all("set-cookie") {
            let c = c.to_str().unwrap();
            let (pair, attrs) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = pair.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_string(), v.to_string());
            }
            assert!(
                attrs.contains("HttpOnly") && attrs.contains("SameSite=Strict"),
                "{c}"
            );
        }
        Page {
            status: res.status().as_u16(),
            location: res
                .headers()
                .get("location")
                .map(|l| l.to_str().unwrap().to_string()),
            body: res.text().await.unwrap(),
        }
    }

    pub(crate) async fn get(&mut self, path: &str) -> Page {
        let req = self.http.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    pub(crate) async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let req = self.http.post(format!("{}{path}", self.base)).form(form);
        self.send(req).await
    }

    async fn post_multipart(&mut self, path: &str, form: reqwest::multipart::Form) -> Page {
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .multipart(form);
        self.send(req).await
    }

    /// Chooses a password through a one-time link; the resulting page.
    async fn choose_password(&mut self, link: &str, password: &str, again: &str) -> Page {
        let page = self.get(link).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let form = page.field("form");
        self.post(
            link,
            &[("form", &form), ("password", password), ("again", again)],
        )
        .await
    }

    async fn sign_in(&mut self, email: &str, password: &str) -> Page {
        let page = self.get("/console/signin").await;
        let form = page.field("form");
        self.post(
            "/console/signin",
            &[("form", &form), ("email", email), ("password", password)],
        )
        .await
    }
}

async fn staff(app: &TestApp, email: &str, role: Role, merchant: Option<&str>) -> String {
    let new = NewStaff {
        email: email.into(),
        name: String::new(),
        role,
        merchant_id: merchant.map(str::to_string),
        locale: Some("en".into()),
    };
    let (_, token) = app
        .t
        .loyalty
        .add_staff(&Actor::Cli, new, now())
        .await
        .unwrap();
    format!("/console/invite/{token}")
}

#[tokio::test]
async fn an_owner_chooses_a_password_records_a_sale_once_and_signs_out() {
    each_app(async |app| {
        let member = app.t.member().await;
        let link = staff(app, "Owner@Shop.Example", Role::Owner, None).await;
        let mut b = Browser::new(app);

        let page = b.get("/console").await;
        assert_eq!(
            (page.status, page.location.as_deref()),
            (303, Some("/console/signin"))
        );

        let page = b
            .choose_password(&link, "tamarind-sticky-rice", "tamarind-sticky-ric")
            .await;
        assert_eq!(page.status, 422);
        assert!(page.body.contains("not the same"), "{}", page.body);
        let page = b.choose_password(&link, "short", "short").await;
        assert_eq!(page.status, 422);
        assert!(page.body.contains("too short"), "{}", page.body);
        let page = b
            .choose_password(&link, "tamarind-sticky-rice", "tamarind-sticky-rice")
            .await;
        assert_eq!(
            (page.status, page.location.as_deref()),
            (303, Some("/console"))
        );
        // The link is used up.
        let mut other = Browser::new(app);
        let page = other
            .choose_password(&link, "another-long-password", "another-long-password")
            .await;
        assert_eq!(page.status, 404);
        assert!(page.body.contains("used or expired"), "{}", page.body);

        let page = b.get(&format!("/console?q={}", member.code)).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains(&member.code), "{}", page.body);
        let csrf = page.field("csrf");
        let nonce = page.field("nonce");
        let sale = [
            ("csrf", csrf.as_str()),
            ("member", member.code.as_str()),
            ("merchant", app.merchant.id.as_str()),
            ("amount", "250.00"),
            ("receipt", ""),
            ("nonce", nonce.as_str()),
        ];
        let page = b.post("/console/counter/sale", &sale).await;
        assert_eq!(page.status, 201, "{}", page.body);
        assert!(
            page.body
                .contains("Recorded: 10 points. Balance: 10 points."),
            "{}",
            page.body
        );
        // A double submit (or a reload) records the sale once.
        let page = b.post("/console/counter/sale", &sale).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("recorded before"), "{}", page.body);
        let m = app
            .t
            .loyalty
            .member(&MemberRef::Id(member.id))
            .await
            .unwrap();
        assert_eq!(m.balance.value(), 10);

        // Without the session's CSRF token nothing is recorded.
        let mut forged = sale;
        forged[0] = ("csrf", "forged");
        forged[5] = ("nonce", "another");
        let page = b.post("/console/counter/sale", &forged).await;
        assert_eq!(page.status, 403, "{}", page.body);
        let m = app
            .t
            .loyalty
            .member(&MemberRef::Id(member.id))
            .await
            .unwrap();
        assert_eq!(m.balance.value(), 10);

        let log = app
            .t
            .loyalty
            .audit_log(
                &Actor::Cli,
                &AuditFilter {
                    limit: 10,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["sale.record", "staff.add"], "{log:?}");
        assert!(log[0].actor.starts_with("staff:"));

        let page = b.post("/console/signout", &[("csrf", &csrf)]).await;
        assert_eq!(
            (page.status, page.location.as_deref()),
            (303, Some("/console/signin"))
        );
        let page = b.get("/console").await;
        assert_eq!(page.status, 303);
    })
    .await;
}

#[tokio::test]
async fn a_cashier_sells_only_for_their_shop_and_wrong_passwords_lock_the_account() {
    each_app(async |app| {
        let member = app.t.member().await;
        let other = app.t.merchant().await;
        let link = staff(
            app,
            "cashier@shop.example",
            Role::Cashier,
            Some(&app.merchant.id),
        )
        .await;
        let mut b = Browser::new(app);
        let page = b
            .choose_password(&link, "mango-sticky-rice", "mango-sticky-rice")
            .await;
        assert_eq!(page.status, 303);
        let page = b.get(&format!("/console?q={}", member.code)).await;
        let (csrf, nonce) = (page.field("csrf"), page.field("nonce"));
        // Only their own shop is offered, and another shop's sale is refused.
        assert!(!page.body.contains(&other.id));
        let page = b
            .post(
                "/console/counter/sale",
                &[
                    ("csrf", &csrf),
                    ("member", &member.code),
                    ("merchant", &other.id),
                    ("amount", "100"),
                    ("nonce", &nonce),
                ],
            )
            .await;
        assert_eq!(page.status, 403, "{}", page.body);
        assert!(page.body.contains("may not"), "{}", page.body);
        let staff_list = app.t.loyalty.staff_list(&Actor::Cli).await.unwrap();
        let cashier = Actor::Staff(staff_list[0].clone());
        assert!(matches!(
            app.t.loyalty.staff_list(&cashier).await,
            Err(taem::service::ServiceError::Forbidden)
        ));

        // Wrong passwords: refused, then slowed down; the right one waits too.
        let mut stranger = Browser::new(app);
        for _ in 0..5 {
            let page = stranger
                .sign_in("cashier@shop.example", "not-my-password")
                .await;
            assert_eq!(page.status, 401, "{}", page.body);
            assert!(page.body.contains("wrong"), "{}", page.body);
        }
        let page = stranger
            .sign_in("cashier@shop.example", "mango-sticky-rice")
            .await;
        assert_eq!(page.status, 429, "{}", page.body);
        assert!(page.body.contains("Too many wrong tries"), "{}", page.body);
        let m = app
            .t
            .loyalty
            .member(&MemberRef::Id(member.id))
            .await
            .unwrap();
        assert_eq!(m.balance.value(), 0);
    })
    .await;
}

#[tokio::test]
async fn a_voucher_is_checked_and_used_once_at_the_counter() {
    each_app(async |app| {
        let member = app.t.member().await;
        let reward = app.t.reward(40, None, None).await;
        app.t
            .loyalty
            .adjust(member.id, 100, "welcome", now())
            .await
            .unwrap();
        let voucher = app
            .t
            .loyalty
            .redeem(member.id, reward.id, None, now())
            .await
            .unwrap();
        let mut b = signed_in(
            app,
            ("nok@shop.example", Role::Cashier, Some(&app.merchant.id)),
            "green-curry-chicken",
        )
        .await;

        let page = b.get(&format!("/console?q={}", voucher.code)).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("Iced coffee") && page.body.contains(&member.code));
        assert!(page.body.contains("Valid"), "{}", page.body);
        let csrf = page.field("csrf");
        let form = [
            ("csrf", csrf.as_str()),
            ("code", voucher.code.as_str()),
            ("merchant", app.merchant.id.as_str()),
        ];
        let page = b.post("/console/voucher/use", &form).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("Used: Iced coffee"), "{}", page.body);
        // The second time, and when looked up again, it says when it was used.
        let page = b.post("/console/voucher/use", &form).await;
        assert_eq!(page.status, 409, "{}", page.body);
        assert!(page.body.contains("Already used on"), "{}", page.body);
        let page = b.get(&format!("/console?q={}", voucher.code)).await;
        assert!(page.body.contains("Already used on"), "{}", page.body);
        assert!(!page.body.contains("Use the voucher"), "{}", page.body);
        // An unknown code, a phone number nobody has: different messages.
        let page = b.get("/console?q=ABCDEFGHJK").await;
        assert_eq!(page.status, 404);
        assert!(
            page.body.contains("No voucher has this code"),
            "{}",
            page.body
        );
        let page = b.get("/console?q=081-234-5678").await;
        assert_eq!(page.status, 404);
        assert!(
            page.body
                .contains("No member has this code or phone number")
        );
        let log = app
            .t
            .loyalty
            .audit_log(
                &Actor::Cli,
                &AuditFilter {
                    limit: 1,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(log[0].action, "voucher.use");
    })
    .await;
}

#[tokio::test]
async fn a_phone_number_given_with_consent_finds_the_member_at_the_counter() {
    each_app(async |app| {
        let member = app.t.member().await;
        let other = app.t.member().await;
        let mut b = signed_in(
            app,
            ("pim@shop.example", Role::Manager, None),
            "tom-yum-goong-hot",
        )
        .await;
        let page = b.get(&format!("/console?q={}", member.code)).await;
        let csrf = page.field("csrf");
        let without_consent = [
            ("csrf", csrf.as_str()),
            ("member", member.code.as_str()),
            ("phone", "081-234-5678"),
        ];
        let page = b.post("/console/member/phone", &without_consent).await;
        assert_eq!(page.status, 422);
        assert!(page.body.contains("consent is needed"), "{}", page.body);
        let mut with_consent = without_consent.to_vec();
        with_consent.push(("consent", "yes"));
        let page = b.post("/console/member/phone", &with_consent).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("081-234-5678"), "{}", page.body);

        // Typed any way a Thai number is written, it finds them.
        for typed in ["0812345678", "+66 81 234 5678"] {
            let page = b
                .get(&format!(
                    "/console?q={}",
                    typed.replace('+', "%2B").replace(' ', "+")
                ))
                .await;
            assert_eq!(page.status, 200, "{typed}: {}", page.body);
            assert!(page.body.contains(&member.code), "{typed}");
        }
        // Another member cannot take the same number.
        let page = b.get(&format!("/console?q={}", other.code)).await;
        let csrf = page.field("csrf");
        let page = b
            .post(
                "/console/member/phone",
                &[
                    ("csrf", csrf.as_str()),
                    ("member", other.code.as_str()),
                    ("phone", "+66812345678"),
                    ("consent", "yes"),
                ],
            )
            .await;
        assert_eq!(page.status, 409, "{}", page.body);
        assert!(page.body.contains("belongs to another member"));
    })
    .await;
}

#[tokio::test]
async fn an_owner_invites_and_disables_staff_who_may_not_see_the_owners_pages() {
    each_app(async |app| {
        let mut owner = signed_in(
            app,
            ("owner@shop.example", Role::Owner, None),
            "massaman-curry-beef",
        )
        .await;
        let page = owner.get("/console/staff").await;
        assert_eq!(page.status, 200, "{}", page.body);
        let csrf = page.field("csrf");
        let page = owner
            .post(
                "/console/staff",
                &[
                    ("csrf", csrf.as_str()),
                    ("email", "Cashier@Shop.Example"),
                    ("name", "Nok"),
                    ("role", "cashier"),
                    ("merchant", app.merchant.id.as_str()),
                ],
            )
            .await;
        assert_eq!(page.status, 201, "{}", page.body);
        assert!(
            page.body.contains("cashier@shop.example is invited"),
            "{}",
            page.body
        );
        let start = page.body.find("/console/invite/").unwrap();
        let end = page.body[start..].find('<').unwrap() + start;
        let invite = page.body[start..end].to_string();

        let mut cashier = Browser::new(app);
        let page = cashier
            .choose_password(&invite, "pad-kra-pao-moo", "pad-kra-pao-moo")
            .await;
        assert_eq!(page.status, 303);
        for path in ["/console/staff", "/console/audit"] {
            let page = cashier.get(path).await;
            assert_eq!(page.status, 403, "{path}: {}", page.body);
            assert!(page.body.contains("Your role may not do this"));
        }
        let page = cashier.get("/console").await;
        assert!(
            !page.body.contains("/console/staff"),
            "no link to what they may not open"
        );

        // The owner disables the cashier: their session ends at once.
        let list = app.t.loyalty.staff_list(&Actor::Cli).await.unwrap();
        let c = list
            .iter()
            .find(|s| s.email == "cashier@shop.example")
            .unwrap();
        let me = list
            .iter()
            .find(|s| s.email == "owner@shop.example")
            .unwrap();
        let page = owner
            .post(
                &format!("/console/staff/{}", c.id),
                &[
                    ("csrf", csrf.as_str()),
                    ("role", "cashier"),
                    ("merchant", app.merchant.id.as_str()),
                    ("disabled", "yes"),
                ],
            )
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        let page = cashier.get("/console").await;
        assert_eq!(
            (page.status, page.location.as_deref()),
            (303, Some("/console/signin"))
        );
        // An owner cannot lock themselves out.
        let page = owner
            .post(
                &format!("/console/staff/{}", me.id),
                &[
                    ("csrf", csrf.as_str()),
                    ("role", "manager"),
                    ("merchant", ""),
                ],
            )
            .await;
        assert_eq!(page.status, 422, "{}", page.body);

        let page = owner.get("/console/audit").await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("staff.change") && page.body.contains("staff.add"));
    })
    .await;
}

#[tokio::test]
async fn a_reward_redeemed_at_the_counter_spends_the_points_once() {
    each_app(async |app| {
        let member = app.t.member().await;
        let reward = app.t.reward(40, None, None).await;
        app.t
            .loyalty
            .adjust(member.id, 100, "welcome", now())
            .await
            .unwrap();
        let mut b = signed_in(
            app,
            ("ton@shop.example", Role::Cashier, Some(&app.merchant.id)),
            "khao-man-gai-sauce",
        )
        .await;
        let page = b.get(&format!("/console?q={}", member.code)).await;
        assert!(page.body.contains("Iced coffee"), "{}", page.body);
        let (csrf, nonce) = (page.field("csrf"), page.field("nonce"));
        // The sale form comes first; the reward's own key is after it.
        let start = page.body.find("/console/counter/redeem").unwrap();
        let key = Page {
            status: 200,
            location: None,
            body: page.body[start..].to_string(),
        }
        .field("nonce");
        assert_ne!(key, nonce);
        let id = reward.id.to_string();
        let form = [
            ("csrf", csrf.as_str()),
            ("member", member.code.as_str()),
            ("reward", id.as_str()),
            ("nonce", key.as_str()),
        ];
        let page = b.post("/console/counter/redeem", &form).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("Redeemed: voucher"), "{}", page.body);
        let again = b.post("/console/counter/redeem", &form).await;
        assert_eq!(again.status, 200, "{}", again.body);
        let m = app
            .t
            .loyalty
            .member(&MemberRef::Id(member.id))
            .await
            .unwrap();
        assert_eq!(m.balance.value(), 60, "a double submit redeems once");
        assert_eq!(app.t.loyalty.vouchers(member.id).await.unwrap().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn part_of_a_sale_is_refunded_at_the_counter_and_its_points_taken_back_once() {
    each_app(async |app| {
        let member = app.t.member().await;
        let mut b = signed_in(
            app,
            ("fon@shop.example", Role::Cashier, Some(&app.merchant.id)),
            "som-tam-thai-style",
        )
        .await;
        let page = b.get(&format!("/console?q={}", member.code)).await;
        let (csrf, nonce) = (page.field("csrf"), page.field("nonce"));
        let page = b
            .post(
                "/console/counter/sale",
                &[
                    ("csrf", csrf.as_str()),
                    ("member", member.code.as_str()),
                    ("merchant", app.merchant.id.as_str()),
                    ("amount", "250"),
                    ("receipt", "R-77"),
                    ("nonce", nonce.as_str()),
                ],
            )
            .await;
        assert_eq!(page.status, 201, "{}", page.body);
        let start = page.body.find("/console/counter/refund").unwrap();
        let key = Page {
            status: 200,
            location: None,
            body: page.body[start..].to_string(),
        }
        .field("nonce");
        let refund = |receipt: &'static str, amount: &'static str| {
            [
                ("csrf", csrf.clone()),
                ("member", member.code.clone()),
                ("merchant", app.merchant.id.clone()),
                ("receipt", receipt.to_string()),
                ("amount", amount.to_string()),
                ("nonce", key.clone()),
            ]
        };
        let post = async |b: &mut Browser, form: [(&'static str, String); 6]| {
            let fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            b.post("/console/counter/refund", &fields).await
        };
        let page = post(&mut b, refund("R-77", "100")).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(
            page.body
                .contains("Refunded: 4 points taken back. Still refundable: 150.00 THB"),
            "{}",
            page.body
        );
        // A double submit refunds once.
        let page = post(&mut b, refund("R-77", "100")).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let m = app
            .t
            .loyalty
            .member(&MemberRef::Id(member.id))
            .await
            .unwrap();
        assert_eq!(m.balance.value(), 6);
        let mut too_much = refund("R-77", "200");
        too_much[5].1 = "another-key".into();
        let page = post(&mut b, too_much).await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(
            page.body.contains("more than is still refundable"),
            "{}",
            page.body
        );
        let mut unknown = refund("R-78", "10");
        unknown[5].1 = "third-key".into();
        let page = post(&mut b, unknown).await;
        assert_eq!(page.status, 404, "{}", page.body);
        let m = app
            .t
            .loyalty
            .member(&MemberRef::Id(member.id))
            .await
            .unwrap();
        assert_eq!(m.balance.value(), 6);
    })
    .await;
}

#[tokio::test]
async fn a_manager_finds_a_member_by_name_reads_their_file_and_adjusts_with_a_reason() {
    each_app(async |app| {
        let somchai = app
            .t
            .store
            .add_member(
                &NewMember {
                    name: Some("Somchai Jaidee".into()),
                    ..Default::default()
                },
                now(),
            )
            .await
            .unwrap();
        let link = staff(app, "manager@shop.example", Role::Manager, None).await;
        let mut b = Browser::new(app);
        b.choose_password(&link, "larb-moo-isan-style", "larb-moo-isan-style")
            .await;
        let page = b.get("/console/members?q=SOMch").await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains(&somchai.code), "{}", page.body);
        let page = b.get("/console/members?q=100%25").await;
        assert!(!page.body.contains(&somchai.code), "a % matches itself");

        let path = format!("/console/members/{}", somchai.code);
        let page = b.get(&path).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let csrf = page.field("csrf");
        let adjust = format!("{path}/adjust");
        let page = b
            .post(
                &adjust,
                &[("csrf", &csrf), ("points", "+50"), ("reason", "")],
            )
            .await;
        assert_eq!(page.status, 422, "a reason is required");
        let page = b
            .post(
                &adjust,
                &[
                    ("csrf", &csrf),
                    ("points", "+50"),
                    ("reason", "birthday gift"),
                ],
            )
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("Balance: 50 points"), "{}", page.body);
        assert!(
            page.body.contains("birthday gift"),
            "the history shows the reason"
        );
        let page = b
            .post(
                &adjust,
                &[("csrf", &csrf), ("points", "-80"), ("reason", "typo")],
            )
            .await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(page.body.contains("below zero"), "{}", page.body);

        let log = app
            .t
            .loyalty
            .audit_log(
                &Actor::Cli,
                &AuditFilter {
                    limit: 20,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
        assert!(
            actions.contains(&"member.adjust") && actions.contains(&"member.view"),
            "{actions:?}"
        );

        // A cashier has the counter only.
        let mut cashier = signed_in(
            app,
            ("kai@shop.example", Role::Cashier, Some(&app.merchant.id)),
            "pad-see-ew-noodle",
        )
        .await;
        assert_eq!(cashier.get("/console/members?q=som").await.status, 403);
        assert_eq!(cashier.get(&path).await.status, 403);
        let m = app
            .t
            .loyalty
            .member(&MemberRef::Id(somchai.id))
            .await
            .unwrap();
        assert_eq!(m.balance.value(), 50);
    })
    .await;
}

/// A staff member who accepted their invitation, signed in in a browser of
/// their own.
pub(crate) async fn signed_in(
    app: &TestApp,
    (email, role, merchant): (&str, Role, Option<&str>),
    password: &str,
) -> Browser {
    let link = staff(app, email, role, merchant).await;
    let mut b = Browser::new(app);
    b.choose_password(&link, password, password).await;
    b
}

/// A small real PNG (a green square), as a shop would upload.
pub fn png_picture() -> Vec<u8> {
    let img = image::RgbImage::from_pixel(64, 64, image::Rgb([15, 118, 110]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

#[tokio::test]
async fn a_manager_adds_a_reward_with_a_picture_edits_and_disables_it() {
    each_app(async |app| {
        let link = staff(app, "manager@shop.example", Role::Manager, None).await;
        let mut b = Browser::new(app);
        b.choose_password(&link, "khao-soi-chiang-mai", "khao-soi-chiang-mai")
            .await;
        let page = b.get("/console/rewards/new").await;
        assert_eq!(page.status, 200, "{}", page.body);
        let csrf = page.field("csrf");
        let mut form = vec![
            ("csrf", csrf.as_str()),
            ("name_th", "ชาไทยเย็น"),
            ("name_en", "Iced Thai tea"),
            ("description_th", ""),
            ("description_en", "A large one"),
            ("cost", "abc"),
            ("stock", "20"),
            ("limit", ""),
            ("valid_from", ""),
            ("valid_until", "2027-01-31"),
            ("face_value", "45"),
            ("voucher_days", "14"),
        ];
        let page = b.post("/console/rewards", &form).await;
        assert_eq!(
            page.status, 422,
            "a cost that is not a number: {}",
            page.body
        );
        assert!(page.body.contains("Iced Thai tea"), "what was typed stays");
        assert!(app.t.loyalty.rewards(true).await.unwrap().is_empty());

        form[5].1 = "120";
        let page = b.post("/console/rewards", &form).await;
        assert_eq!(page.status, 303, "{}", page.body);
        let rewards = app.t.loyalty.rewards(true).await.unwrap();
        assert_eq!(rewards.len(), 1);
        let r = &rewards[0];
        assert_eq!(
            (r.cost.value(), r.stock, r.voucher_days),
            (120, Some(20), 14)
        );
        let edit = format!("/console/rewards/{}", r.id);
        assert_eq!(page.location.as_deref(), Some(&*format!("{edit}?saved")));
        let page = b.get(&format!("{edit}?saved")).await;
        assert!(page.body.contains("Saved."), "{}", page.body);
        assert!(
            page.body.contains("2027-01-31"),
            "the last day offered is shown as typed"
        );

        // A GIF is refused, a PNG is kept and published under its own name.
        let picture = |bytes: Vec<u8>, csrf: &str| {
            reqwest::multipart::Form::new()
                .text("csrf", csrf.to_string())
                .part(
                    "picture",
                    reqwest::multipart::Part::bytes(bytes).file_name("tea.png"),
                )
        };
        let page = b
            .post_multipart(
                &format!("{edit}/picture"),
                picture(b"GIF89a...".to_vec(), &csrf),
            )
            .await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(page.body.contains("only JPEG and PNG"), "{}", page.body);
        let page = b
            .post_multipart(&format!("{edit}/picture"), picture(png_picture(), "forged"))
            .await;
        assert_eq!(page.status, 403, "no picture without the session's token");
        assert_eq!(app.t.loyalty.reward(r.id).await.unwrap().picture, None);
        let page = b
            .post_multipart(&format!("{edit}/picture"), picture(png_picture(), &csrf))
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
        let r = app.t.loyalty.reward(r.id).await.unwrap();
        let name = r.picture.clone().expect("a picture");
        let public = format!("{}/media/rewards/{}/{name}", app.base, r.id);
        let res = reqwest::get(&public).await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "image/png");
        assert!(
            res.headers()["cache-control"]
                .to_str()
                .unwrap()
                .contains("immutable")
        );
        assert_eq!(res.bytes().await.unwrap().to_vec(), png_picture());
        let list = b.get("/console/rewards").await;
        assert!(
            list.body
                .contains(&format!("/media/rewards/{}/{name}", r.id))
        );

        // Edited: the new cost is what the next redemption costs.
        form[5].1 = "150";
        let page = b.post(&edit, &form).await;
        assert_eq!(page.status, 303, "{}", page.body);
        assert_eq!(app.t.loyalty.reward(r.id).await.unwrap().cost.value(), 150);

        // Disabled: no longer offered.
        let page = b
            .post(
                &format!("{edit}/active"),
                &[("csrf", &csrf), ("active", "no")],
            )
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
        assert!(app.t.loyalty.rewards(false).await.unwrap().is_empty());

        let log = app
            .t
            .loyalty
            .audit_log(
                &Actor::Cli,
                &AuditFilter {
                    limit: 20,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
        for a in [
            "reward.create",
            "reward.picture",
            "reward.update",
            "reward.disable",
        ] {
            assert!(actions.contains(&a), "{a} in {actions:?}");
        }

        // A cashier has the counter only.
        let mut cashier = signed_in(
            app,
            ("kai@shop.example", Role::Cashier, Some(&app.merchant.id)),
            "pad-see-ew-noodle",
        )
        .await;
        assert_eq!(cashier.get("/console/rewards").await.status, 403);
        let theirs = cashier.get("/console").await.field("csrf");
        let page = cashier
            .post(
                &edit,
                &[
                    ("csrf", &theirs),
                    ("name_th", "x"),
                    ("name_en", "x"),
                    ("cost", "1"),
                    ("voucher_days", "1"),
                ],
            )
            .await;
        assert_eq!(page.status, 403);
        assert_eq!(app.t.loyalty.reward(r.id).await.unwrap().cost.value(), 150);
    })
    .await;
}

/// The actions in the audit log, newest first.
pub(crate) async fn audited(app: &TestApp) -> Vec<taem::domain::staff::AuditEntry> {
    app.t
        .loyalty
        .audit_log(
            &Actor::Cli,
            &AuditFilter {
                limit: 50,
                ..Default::default()
            },
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn a_manager_adds_a_campaign_tries_a_purchase_announces_and_ends_it() {
    each_app(async |app| {
        let mut b = signed_in(
            app,
            ("manager@shop.example", Role::Manager, None),
            "khao-man-gai-hainan",
        )
        .await;
        let page = b.get("/console/campaigns/new").await;
        assert_eq!(page.status, 200, "{}", page.body);
        let csrf = page.field("csrf");
        let today = chrono::Utc::now()
            .with_timezone(&chrono_tz::Asia::Bangkok)
            .date_naive();
        let (first, last) = (
            today.to_string(),
            (today + chrono::Days::new(2)).to_string(),
        );
        let mut form = vec![
            ("csrf", csrf.as_str()),
            ("name_th", "โบนัสสุดสัปดาห์"),
            ("name_en", "Weekend bonus"),
            ("text_th", "รับแต้มเพิ่ม 50"),
            ("text_en", "50 more points"),
            ("kind", "bonus"),
            ("multiplier", ""),
            ("points", ""),
            ("starts_at", &first),
            ("ends_at", &last),
            ("budget", "1000"),
        ];
        let page = b.post("/console/campaigns", &form).await;
        assert_eq!(page.status, 422, "a bonus needs its points: {}", page.body);
        assert!(page.body.contains("points"), "{}", page.body);
        form[7].1 = "50";
        let page = b.post("/console/campaigns", &form).await;
        assert_eq!(page.status, 303, "{}", page.body);
        let at = page.location.unwrap();
        let id: i64 = at.rsplit('/').next().unwrap().parse().unwrap();

        let merchant = app.merchant.id.clone();
        let page = b
            .post(
                "/console/campaigns/simulate",
                &[
                    ("csrf", &csrf),
                    ("merchant", &merchant),
                    ("amount", "250"),
                    ("member", ""),
                    ("at", ""),
                ],
            )
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(
            page.body.contains("would earn 60 points"),
            "10 base + 50 bonus: {}",
            page.body
        );
        assert!(
            page.body.contains("Campaign: Weekend bonus"),
            "{}",
            page.body
        );

        let page = b.get(&at).await;
        assert!(page.body.contains("Running"), "{}", page.body);
        // Before announcing, the page says whom it would reach.
        let everyone = taem::domain::audience::Audience::default();
        let reach = app
            .t
            .loyalty
            .audience_reach(&everyone, taem::domain::time::now())
            .await;
        let members = reach.unwrap().members;
        assert!(
            page.body
                .contains(&format!("It goes to all {members} members: 0 agreed")),
            "{}",
            page.body
        );
        let page = b.post(&format!("{at}/broadcast"), &[("csrf", &csrf)]).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("messages queued"), "{}", page.body);
        let progress = b.get(&format!("{at}/progress")).await;
        let p: serde_json::Value = serde_json::from_str(&progress.body).unwrap();
        assert_eq!(p["queued"], 0, "{p}");

        let page = b.post(&format!("{at}/end"), &[("csrf", "forged")]).await;
        assert_eq!(page.status, 403);
        let page = b.post(&format!("{at}/end"), &[("csrf", &csrf)]).await;
        assert_eq!(page.status, 303);
        let report = app.t.loyalty.campaign_report(id, now()).await.unwrap();
        assert_eq!(report.status, "ended");
        let actions: Vec<String> = audited(app).await.into_iter().map(|e| e.action).collect();
        for a in ["campaign.create", "campaign.broadcast", "campaign.end"] {
            assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
        }

        // Settings and the shops' secrets are the owner's.
        assert_eq!(b.get("/console/settings").await.status, 403);
        assert_eq!(b.get("/console/merchants").await.status, 403);
        let page = b
            .post(
                "/console/merchants",
                &[
                    ("csrf", &csrf),
                    ("name", "X"),
                    ("currency", "THB"),
                    ("earn", "1:25"),
                ],
            )
            .await;
        assert_eq!(page.status, 403);
        assert_eq!(app.t.loyalty.merchants().await.unwrap().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn an_owner_changes_settings_and_tiers_and_sees_a_new_shops_secret_once() {
    each_app(async |app| {
        let mut b = signed_in(
            app,
            ("owner@shop.example", Role::Owner, None),
            "tom-yum-goong-nam-khon",
        )
        .await;
        let page = b.get("/console/settings").await;
        assert_eq!(page.status, 200, "{}", page.body);
        let csrf = page.field("csrf");
        let mut settings = vec![
            ("csrf", csrf.as_str()),
            ("name", "Baan Kafe Club"),
            ("expiry_months", "many"),
            ("pending_days", "0"),
            ("referrer_points", "80"),
            ("referee_points", "40"),
            ("referral_min_spend", "100"),
            ("session_idle_hours", "8"),
        ];
        let page = b.post("/console/settings", &settings).await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert_eq!(app.t.loyalty.program().await.unwrap().expiry_months, 12);
        settings[2].1 = "24";
        let page = b.post("/console/settings", &settings).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let p = app.t.loyalty.program().await.unwrap();
        assert_eq!((p.expiry_months, p.referral.referrer_points), (24, 80));
        assert_eq!(p.session_idle_hours, 8);
        assert_eq!(p.name, "Baan Kafe Club");

        let page = b
            .post(
                "/console/tiers",
                &[("csrf", &csrf), ("key", "gold"), ("multiplier", "1.75")],
            )
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("×1.75"), "{}", page.body);
        let page = b
            .post("/console/tiers/silver/remove", &[("csrf", &csrf)])
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        let tiers = app.t.loyalty.program().await.unwrap().tiers;
        assert!(tiers.all().iter().all(|t| t.key != "silver"));
        let gold = tiers.all().iter().find(|t| t.key == "gold").unwrap();
        assert_eq!(gold.multiplier_percent, 175);

        let page = b
            .post(
                "/console/merchants",
                &[
                    ("csrf", &csrf),
                    ("name", "Baan Kafe Siam"),
                    ("currency", "thb"),
                    ("earn", "1:20"),
                ],
            )
            .await;
        assert_eq!(page.status, 201, "{}", page.body);
        let siam = app
            .t
            .loyalty
            .merchants()
            .await
            .unwrap()
            .into_iter()
            .find(|m| m.name == "Baan Kafe Siam")
            .expect("the new shop");
        let secret = siam.webhook_secret.expose().to_string();
        assert!(page.body.contains(&secret), "shown on the answer");
        let again = b.get("/console/merchants").await;
        assert!(again.body.contains("Baan Kafe Siam") && !again.body.contains(&secret));

        let page = b
            .post(
                &format!("/console/merchants/{}/rotate", siam.id),
                &[("csrf", &csrf), ("grace_hours", "24")],
            )
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        let rotated = app.t.loyalty.merchant(&siam.id).await.unwrap();
        let new_secret = rotated.webhook_secret.expose().to_string();
        assert_ne!(new_secret, secret);
        assert!(page.body.contains(&new_secret));

        let log = audited(app).await;
        let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
        for a in [
            "settings.change",
            "tier.set",
            "tier.remove",
            "merchant.create",
            "merchant.rotate_secret",
        ] {
            assert!(actions.contains(&a), "{a} in {actions:?}");
        }
        let all = format!("{log:?}");
        assert!(
            !all.contains(&secret) && !all.contains(&new_secret),
            "no secret in the audit log"
        );
    })
    .await;
}

#[tokio::test]
async fn an_owner_gives_a_cashier_who_forgot_their_password_a_one_time_reset_link() {
    each_app(async |app| {
        let owner = staff(app, "owner@shop.example", Role::Owner, None).await;
        let mut b = Browser::new(app);
        b.choose_password(&owner, "khao-pad-sapparot", "khao-pad-sapparot")
            .await;
        let cashier = staff(
            app,
            "nok@shop.example",
            Role::Cashier,
            Some(&app.merchant.id),
        )
        .await;
        let mut nok = Browser::new(app);
        nok.choose_password(&cashier, "gaeng-keow-wan-gai", "gaeng-keow-wan-gai")
            .await;
        let id = app
            .t
            .loyalty
            .staff_list(&Actor::Cli)
            .await
            .unwrap()
            .into_iter()
            .find(|s| s.email == "nok@shop.example")
            .unwrap()
            .id;
        let page = b.get("/console/staff").await;
        let csrf = page.field("csrf");
        let page = b
            .post(&format!("/console/staff/{id}/link"), &[("csrf", &csrf)])
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        let start = page.body.find("/console/reset/").expect("a reset link");
        let end = start + page.body[start..].find('<').unwrap();
        let link = page.body[start..end].to_string();
        assert!(
            !b.get("/console/staff").await.body.contains(&link),
            "shown once"
        );

        let mut again = Browser::new(app);
        let page = again
            .choose_password(&link, "pad-kra-pao-moo-sap", "pad-kra-pao-moo-sap")
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
        let page = Browser::new(app)
            .choose_password(&link, "som-tam-pu-pla-ra", "som-tam-pu-pla-ra")
            .await;
        assert_eq!(page.status, 404, "used once: {}", page.body);
        let mut later = Browser::new(app);
        let page = later
            .sign_in("nok@shop.example", "gaeng-keow-wan-gai")
            .await;
        assert_eq!(page.status, 401, "the old password is gone");
        let page = later
            .sign_in("nok@shop.example", "pad-kra-pao-moo-sap")
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
        assert_eq!(
            nok.get("/console").await.status,
            303,
            "the old session ended"
        );
        let log = audited(app).await;
        assert!(log.iter().any(|e| e.action == "staff.reset_link"));
    })
    .await;
}

#[tokio::test]
async fn a_percentage_voucher_at_the_counter_needs_the_bill_and_says_what_to_take_off() {
    use taem::domain::offer::RewardKind;
    each_app(async |app| {
        let member = app.t.member().await;
        let thb = |minor| taem::domain::Money::from_minor(minor, taem::domain::Currency::THB);
        let reward = app
            .t
            .reward_of(
                40,
                (None, None),
                RewardKind::PercentDiscount {
                    basis_points: 1_500,
                    cap: Some(thb(4_000)),
                    categories: vec![],
                    min_basket: None,
                },
            )
            .await;
        app.t.grant(&member, 100, now()).await;
        let voucher = app
            .t
            .loyalty
            .redeem(member.id, reward.id, None, now())
            .await
            .unwrap();
        let mut b = signed_in(
            app,
            ("nok@shop.example", Role::Cashier, Some(&app.merchant.id)),
            "green-curry-chicken",
        )
        .await;
        let page = b.get(&format!("/console?q={}", voucher.code)).await;
        assert!(
            page.body.contains("Bill amount before the voucher"),
            "{}",
            page.body
        );
        let csrf = page.field("csrf");
        let mut form = vec![
            ("csrf", csrf.as_str()),
            ("code", voucher.code.as_str()),
            ("merchant", app.merchant.id.as_str()),
            ("basket", ""),
        ];
        let page = b.post("/console/voucher/use", &form).await;
        assert!(
            page.body.contains("type the bill amount first"),
            "{}",
            page.body
        );
        form[3].1 = "180";
        let page = b.post("/console/voucher/use", &form).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(
            page.body.contains("Take ฿27.00 off the bill."),
            "{}",
            page.body
        );
        let log = app
            .t
            .loyalty
            .audit_log(
                &Actor::Cli,
                &AuditFilter {
                    limit: 1,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(log[0].action, "voucher.use");

        // Limited to the bakery: the cashier types the bill's lines.
        let bakery = app
            .t
            .reward_of(
                40,
                (None, None),
                RewardKind::PercentDiscount {
                    basis_points: 1_500,
                    cap: None,
                    categories: vec!["bakery".into()],
                    min_basket: None,
                },
            )
            .await;
        let voucher = app
            .t
            .loyalty
            .redeem(member.id, bakery.id, None, now())
            .await
            .unwrap();
        let page = b.get(&format!("/console?q={}", voucher.code)).await;
        assert!(
            page.body.contains("The bill's lines that count"),
            "{}",
            page.body
        );
        let csrf = page.field("csrf");
        let mut form = vec![
            ("csrf", csrf.as_str()),
            ("code", voucher.code.as_str()),
            ("merchant", app.merchant.id.as_str()),
            ("basket", "180"),
            ("items", "bakery"),
        ];
        let page = b.post("/console/voucher/use", &form).await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(page.body.contains("then the amount"), "{}", page.body);
        form[4].1 = "bakery 120\r\ncoffee 60\r\n";
        let page = b.post("/console/voucher/use", &form).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(
            page.body.contains("Take ฿18.00 off the bill."),
            "15 % of the bakery line only: {}",
            page.body
        );
    })
    .await;
}

#[tokio::test]
async fn managers_read_the_reports_with_charts_and_download_them_and_cashiers_cannot() {
    each_app(async |app| {
        let m = app.t.member().await;
        let (status, _) = app
            .post_signed("/v1/purchases", &purchase("R-1", "250.00", Some(&m.code)))
            .await;
        assert_eq!(status, 201);
        let mut b = signed_in(
            app,
            ("ploy@shop.example", Role::Manager, None),
            "mango-sticky-rice",
        )
        .await;
        let page = b.get("/console/reports?by=day").await;
        assert_eq!(page.status, 200, "{}", page.body);
        for part in [
            "Points issued and used per period",
            "<svg",
            "Liability today",
            "Redemption",
            "Segments",
        ] {
            assert!(page.body.contains(part), "{part} in {}", page.body);
        }
        assert!(page.body.contains("Outstanding at the end of each period"));
        let today = now().with_timezone(&chrono_tz::Asia::Bangkok).date_naive();
        assert!(
            page.body.contains(&format!("{today} · Issued: 10")),
            "the day's bar says its points: {}",
            page.body
        );
        let csv = b.get("/console/reports/points.csv?by=day").await;
        assert_eq!(csv.status, 200);
        assert!(csv.body.starts_with("period,first_day"), "{}", csv.body);
        let bad = b
            .get("/console/reports?from=2026-12-31&to=2026-01-01")
            .await;
        assert_eq!(bad.status, 422);
        assert!(bad.body.contains("must not be after"), "{}", bad.body);
        let mut cashier = signed_in(
            app,
            ("tum@shop.example", Role::Cashier, Some(&app.merchant.id)),
            "papaya-salad-spicy",
        )
        .await;
        assert_eq!(cashier.get("/console/reports").await.status, 403);
        assert_eq!(cashier.get("/console/reports/points.csv").await.status, 403);
    })
    .await;
}

#[tokio::test]
async fn only_the_owner_downloads_or_erases_a_members_data_and_both_are_audited() {
    each_app(async |app| {
        let somchai = app
            .t
            .store
            .add_member(
                &NewMember {
                    name: Some("Somchai Jaidee".into()),
                    telegram_id: Some(4_400_001),
                    ..Default::default()
                },
                now(),
            )
            .await
            .unwrap();
        let path = format!("/console/members/{}", somchai.code);
        let mut manager = signed_in(
            app,
            ("manager@shop.example", Role::Manager, None),
            "som-tam-thai-spicy",
        )
        .await;
        let page = manager.get(&path).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(
            !page.body.contains("id=\"erase\""),
            "a manager has no erase form"
        );
        let csrf = page.field("csrf");
        let export = format!("{path}/export");
        assert_eq!(manager.post(&export, &[("csrf", &csrf)]).await.status, 403);

        let mut owner = signed_in(
            app,
            ("owner@shop.example", Role::Owner, None),
            "khao-man-gai-hainan",
        )
        .await;
        let page = owner.get(&path).await;
        assert!(page.body.contains("id=\"erase\""), "{}", page.body);
        let csrf = page.field("csrf");
        let file = owner.post(&export, &[("csrf", &csrf)]).await;
        assert_eq!(file.status, 200);
        let json: serde_json::Value = serde_json::from_str(&file.body).unwrap();
        assert_eq!(json["profile"]["name"], "Somchai Jaidee");
        assert_eq!(
            owner.post(&export, &[]).await.status,
            403,
            "no CSRF token, no file"
        );

        let erase = format!("{path}/erase");
        let page = owner
            .post(&erase, &[("csrf", &csrf), ("reason", "asked by phone")])
            .await;
        assert_eq!(page.status, 422, "unconfirmed: {}", page.body);
        assert!(
            app.t
                .store
                .member(&MemberRef::Telegram(4_400_001))
                .await
                .is_ok()
        );
        let page = owner
            .post(
                &erase,
                &[
                    ("csrf", &csrf),
                    ("reason", "asked by phone"),
                    ("confirm", "yes"),
                ],
            )
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("anonymous record"), "{}", page.body);
        assert!(!page.body.contains("Somchai"), "{}", page.body);
        assert!(
            app.t
                .store
                .member(&MemberRef::Telegram(4_400_001))
                .await
                .is_err()
        );
        let actions: Vec<String> = audited(app).await.into_iter().map(|e| e.action).collect();
        assert!(
            actions.iter().any(|a| a == "member.export")
                && actions.iter().any(|a| a == "member.erase"),
            "{actions:?}"
        );
        // The settings keep the notice and the retention.
        let page = owner.get("/console/settings").await;
        assert!(
            page.body.contains("Retention has not run yet"),
            "{}",
            page.body
        );
    })
    .await;
}

#[tokio::test]
async fn an_announcement_over_lines_quota_is_refused_with_the_numbers_and_sent_anyway_on_request() {
    use crate::common::fake_line::{self, FakeLine};
    for db in databases().await {
        let (line, url) = FakeLine::start("en").await;
        let app = TestApp::spawn_with(
            db,
            &[
                ("LINE_CHANNEL_SECRET", fake_line::SECRET.to_string()),
                ("LINE_CHANNEL_ACCESS_TOKEN", fake_line::TOKEN.to_string()),
                ("LINE_API_URL", url),
            ],
        )
        .await;
        let mut b = signed_in(
            &app,
            ("manager@shop.example", Role::Manager, None),
            "khao-man-gai-hainan",
        )
        .await;
        for i in 0..2 {
            app.t
                .opted_in(NewMember {
                    line_id: Some(format!("U{i:032x}")),
                    ..NewMember::default()
                })
                .await;
        }
        let input = taem::service::campaigns::CampaignInput {
            name_th: "สงกรานต์".into(),
            name_en: "Songkran".into(),
            kind: "bonus".into(),
            points: Some(20),
            starts_at: (now() - chrono::Duration::hours(1)).to_rfc3339(),
            ends_at: (now() + chrono::Duration::days(3)).to_rfc3339(),
            ..Default::default()
        };
        let id = app.t.loyalty.add_campaign(&input, now()).await.unwrap().id;
        line.set_quota(Some(300), 299);

        let at = format!("/console/campaigns/{id}");
        let csrf = b.get(&at).await.field("csrf");
        let page = b.post(&format!("{at}/broadcast"), &[("csrf", &csrf)]).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(
            page.body.contains(
                "LINE allows 300 messages this month: 299 used, 0 waiting in taem, 1 left. \
                 This announcement would send 2 on LINE, so nothing was queued."
            ),
            "{}",
            page.body
        );
        assert!(page.body.contains("Send anyway"), "{}", page.body);
        let status = app.t.loyalty.broadcast_status(id).await.unwrap();
        assert_eq!(status.total(), 0, "{}", app.backend());

        let page = b
            .post(
                &format!("{at}/broadcast"),
                &[("csrf", &csrf), ("force", "1")],
            )
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("2 messages queued"), "{}", page.body);

        // While LINE's monthly limit holds LINE marketing, the page says so.
        let until = taem::domain::quota::next_month(now(), chrono_tz::Asia::Bangkok);
        app.t
            .store
            .pause_sends(
                Channel::Line,
                taem::domain::quota::LINE_MONTHLY_LIMIT,
                until,
                now(),
            )
            .await
            .unwrap();
        let page = b.get(&at).await;
        assert!(
            page.body
                .contains("LINE's monthly message limit is reached"),
            "{}",
            page.body
        );
        assert!(page.body.contains("taem line resume"), "{}", page.body);
        app.shutdown().await;
    }
}
