//! Partners through every door, on both stores: the owner's console page
//! (agreements, a month's statement, its CSV, closing it), the admin API, and
//! what a partner's staff and signed API may see and do: their own receipts,
//! vouchers and reports; members and balances shared.

use serde_json::json;
use taem::domain::model::NewMember;
use taem::domain::staff::Role;
use taem::domain::time::now;

use crate::common::*;
use crate::console::{audited, signed_in};
use crate::partners::{partner, partner_reward, sale};

#[tokio::test]
async fn the_owner_sets_agreements_and_closes_a_month_in_the_console() {
    each_app(async |app| {
        let bakery = app.t.merchant_named("Khanom Bakery").await;
        let mut manager = signed_in(
            app,
            ("manager@shop.example", Role::Manager, None),
            "khao-man-gai-hainan",
        )
        .await;
        assert_eq!(manager.get("/console/partners").await.status, 403);
        let mut b = signed_in(
            app,
            ("owner@shop.example", Role::Owner, None),
            "tom-yum-goong-nam-sai",
        )
        .await;
        let page = b.get("/console/partners").await;
        assert_eq!(page.status, 200, "{}", page.body);
        let csrf = page.field("csrf");
        let kafe = app.merchant.id.as_str();
        let bad = [
            ("csrf", csrf.as_str()),
            ("merchant", kafe),
            ("value", "a lot"),
        ];
        let page = b.post("/console/partners", &bad).await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(page.body.contains("value"), "{}", page.body);
        assert!(app.t.loyalty.partners().await.unwrap().is_empty());
        for (m, value, funding, budget) in [
            (kafe, "0.25", "postpaid", ""),
            (bakery.id.as_str(), "0.20", "prepaid", "5000"),
        ] {
            let form = [
                ("csrf", csrf.as_str()),
                ("merchant", m),
                ("value", value),
                ("funding", funding),
                ("budget", budget),
                ("top_up", ""),
            ];
            let page = b.post("/console/partners", &form).await;
            assert_eq!(page.status, 303, "{}", page.body);
        }
        let page = b.get("/console/partners").await;
        assert!(page.body.contains("฿0.25"), "{}", page.body);
        // The reward form offers the partners to choose whose reward it is.
        let form = b.get("/console/rewards/new").await;
        assert!(
            form.body.contains(&format!(
                "<option value=\"{}\">Khanom Bakery</option>",
                bakery.id
            )),
            "{}",
            form.body
        );
        assert!(
            page.body.contains("prepaid: 5,000 of 5,000 points left"),
            "{}",
            page.body
        );

        // Last month's statement: the cafe's points honoured at the bakery.
        let nok = app.t.member().await;
        let last = taem::domain::partner::Period::of(now(), chrono_tz::Asia::Bangkok).previous();
        let (start, _) = last.bounds(chrono_tz::Asia::Bangkok);
        let at = start + chrono::Duration::days(2);
        sale(&app.t, &app.merchant, &nok, ("K-1", "2500"), at)
            .await
            .unwrap();
        let loaf = partner_reward(&app.t, 40, &bakery).await;
        app.t
            .loyalty
            .redeem(nok.id, loaf.id, None, at)
            .await
            .unwrap();
        let page = b.get(&format!("/console/partners?period={last}")).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(
            page.body
                .contains("<td class=\"num\">40</td><td class=\"num\">฿10.00</td>"),
            "{}",
            page.body
        );
        assert!(
            page.body.contains("Open: the figures may still change."),
            "{}",
            page.body
        );
        let csv = b
            .get(&format!("/console/partners/settlement.csv?period={last}"))
            .await;
        assert!(
            csv.body
                .contains(&format!("{last},pair,{kafe},{},40,10.00,,", bakery.id)),
            "{}",
            csv.body
        );
        let page = b
            .post(
                "/console/partners/close",
                &[("csrf", &csrf), ("period", &last.to_string())],
            )
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
        let page = b.get(&format!("/console/partners?period={last}")).await;
        assert!(
            page.body.contains("these figures never change"),
            "{}",
            page.body
        );
        assert!(!page.body.contains("Close this month"), "{}", page.body);
        // This month has not ended: closing it is refused, plainly.
        let this = last.next().to_string();
        let page = b
            .post(
                "/console/partners/close",
                &[("csrf", &csrf), ("period", &this)],
            )
            .await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(page.body.contains("has not ended yet"), "{}", page.body);
        let actions: Vec<String> = audited(app).await.into_iter().map(|e| e.action).collect();
        assert_eq!(
            actions.iter().filter(|a| *a == "partner.set").count(),
            2,
            "{actions:?}"
        );
        assert!(
            actions.iter().any(|a| a == "settlement.close"),
            "{actions:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn the_admin_api_sets_partners_and_reads_and_closes_statements() {
    for db in databases().await {
        let app = TestApp::spawn_admin(db).await;
        let kafe = app.merchant.id.clone();
        let (status, p) = app
            .admin(
                "PUT",
                &format!("/admin/v1/partners/{kafe}"),
                Some(json!({"value": "0.25"})),
            )
            .await;
        assert_eq!(
            (status, &p["value_minor"], &p["funding"]),
            (200, &json!(25), &json!("postpaid")),
            "{p}"
        );
        let (status, p) = app
            .admin(
                "PUT",
                "/admin/v1/partners/m_nobody",
                Some(json!({"value": "0.25"})),
            )
            .await;
        assert_eq!(status, 404, "{p}");
        let (status, p) = app
            .admin(
                "PUT",
                &format!("/admin/v1/partners/{kafe}"),
                Some(json!({"funding": "barter"})),
            )
            .await;
        assert_eq!((status, &p["field"]), (422, &json!("funding")), "{p}");
        let (status, list) = app.admin("GET", "/admin/v1/partners", None).await;
        assert_eq!(
            (status, list[0]["name"].as_str()),
            (200, Some("Baan Kafe")),
            "{list}"
        );
        let (status, s) = app.admin("GET", "/admin/v1/settlement/2026-10", None).await;
        assert_eq!(
            (status, &s["period"], &s["points"]),
            (200, &json!("2026-10"), &json!(0)),
            "{s}"
        );
        let (status, s) = app.admin("GET", "/admin/v1/settlement/October", None).await;
        assert_eq!((status, &s["field"]), (422, &json!("period")), "{s}");
        let (status, s) = app
            .admin("POST", "/admin/v1/settlement/2026-10/close", None)
            .await;
        assert_eq!(status, 200, "{s}");
        assert!(s["closed_at"].is_string(), "{s}");
        let next_year = format!("{}-01", chrono::Datelike::year(&now()) + 1);
        let (status, s) = app
            .admin(
                "POST",
                &format!("/admin/v1/settlement/{next_year}/close"),
                None,
            )
            .await;
        assert_eq!((status, &s["field"]), (422, &json!("period")), "{s}");
        let csv = app
            .http
            .get(format!(
                "{}/admin/v1/settlement/2026-10?format=csv",
                app.base
            ))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
        let csv = csv.text().await.unwrap();
        assert!(
            csv.starts_with("period,line,partner,redeemer,points,amount"),
            "{csv}"
        );
        assert!(
            csv.contains(&format!("2026-10,net,{kafe},,0,0.00,0,0.00")),
            "{csv}"
        );
        app.shutdown().await;
    }
}

#[tokio::test]
async fn a_partners_staff_and_signed_api_see_and_take_only_what_is_theirs() {
    each_app(async |app| {
        let bakery = app.t.merchant_named("Khanom Bakery").await;
        partner(&app.t, &app.merchant, "0.25", None).await;
        partner(&app.t, &bakery, "0.20", None).await;
        let nok = app
            .t
            .opted_in(NewMember {
                telegram_id: Some(9_300_001),
                ..NewMember::default()
            })
            .await;
        // 100 points at the cafe (the app's signed merchant), 40 at the bakery.
        let (status, _) = app
            .post_signed("/v1/purchases", &purchase("K-1", "2500", Some(&nok.code)))
            .await;
        assert_eq!(status, 201);
        sale(&app.t, &bakery, &nok, ("B-1", "1000"), now())
            .await
            .unwrap();
        let loaf = partner_reward(&app.t, 30, &bakery).await;
        let v = app
            .t
            .loyalty
            .redeem(nok.id, loaf.id, None, now())
            .await
            .unwrap();

        // The cafe's signed API cannot take the bakery's voucher.
        let (status, problem) = app
            .post_signed(&format!("/v1/vouchers/{}/use", v.code), &json!({}))
            .await;
        assert_eq!(status, 403, "{problem}");
        assert_eq!(problem["type"], "urn:taem:problem:voucher-other-partner");

        // The bakery's manager sees Nok and her whole balance, but of her
        // history only what happened at the bakery.
        let mut b = signed_in(
            app,
            ("manager@bakery.example", Role::Manager, Some(&bakery.id)),
            "khanom-chan-sai-bai-toey",
        )
        .await;
        let page = b.get(&format!("/console/members/{}", nok.code)).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(
            page.body.contains("110 points"),
            "the balance is shared: {}",
            page.body
        );
        assert!(page.body.contains("<td>+40</td>"), "{}", page.body);
        assert!(
            !page.body.contains("<td>+100</td>"),
            "the cafe's receipt: {}",
            page.body
        );
        assert!(
            page.body.contains(&v.code),
            "its own reward's voucher: {}",
            page.body
        );
        // Its reports are the bakery's; another shop's are refused.
        let page = b.get("/console/reports").await;
        assert_eq!(page.status, 200, "{}", page.body);
        let page = b
            .get(&format!("/console/reports?merchant={}", app.merchant.id))
            .await;
        assert_eq!(page.status, 403, "{}", page.body);
        let csv = b.get("/console/reports/segment-members.csv?class=A").await;
        assert_eq!(csv.status, 403);
        let csv = b.get("/console/reports/points.csv").await;
        assert_eq!(csv.status, 200, "{}", csv.body);
        // The cafe's own staff see the cafe's receipt.
        let mut k = signed_in(
            app,
            (
                "manager@kafe.example",
                Role::Manager,
                Some(&app.merchant.id),
            ),
            "kafe-yen-nom-sod",
        )
        .await;
        let page = k.get(&format!("/console/members/{}", nok.code)).await;
        assert!(page.body.contains("<td>+100</td>"), "{}", page.body);
        assert!(
            !page.body.contains(&v.code),
            "not the bakery's voucher: {}",
            page.body
        );
    })
    .await;
}

#[tokio::test]
async fn the_chat_catalogue_names_the_partner_whose_reward_it_is() {
    for db in databases().await {
        let mut bot = crate::telegram::Bot::start(db, 7_500_600_700, "th").await;
        bot.say("/start").await;
        let bakery = bot.app.t.merchant_named("ขนมปังบ้านสวน").await;
        partner(&bot.app.t, &bakery, "0.20", None).await;
        partner_reward(&bot.app.t, 40, &bakery).await;
        let r = bot.say("/rewards").await;
        let text = r[0].text();
        assert!(text.contains("ใช้ได้ที่ ขนมปังบ้านสวน เท่านั้น"), "{text}");
        bot.app.shutdown().await;
    }
}

#[tokio::test]
async fn a_counter_sale_past_a_prepaid_budget_is_refused_plainly_and_records_nothing() {
    each_app(async |app| {
        partner(&app.t, &app.merchant, "0.25", Some(50)).await;
        let nok = app.t.member().await;
        let mut b = signed_in(
            app,
            ("nok@kafe.example", Role::Cashier, Some(&app.merchant.id)),
            "kafe-boran-khon-kaen",
        )
        .await;
        let page = b.get(&format!("/console?q={}", nok.code)).await;
        let (csrf, nonce) = (page.field("csrf"), page.field("nonce"));
        let sale = [
            ("csrf", csrf.as_str()),
            ("member", nok.code.as_str()),
            ("merchant", app.merchant.id.as_str()),
            ("amount", "2500.00"),
            ("receipt", ""),
            ("nonce", nonce.as_str()),
        ];
        let page = b.post("/console/counter/sale", &sale).await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(
            page.body.contains("prepaid points are used up (50 left)"),
            "{}",
            page.body
        );
        assert_eq!(app.t.balance(&nok).await, 0);
        let partners = app.t.loyalty.partners().await.unwrap();
        assert_eq!(partners[0].partner.issued, 0);
    })
    .await;
}
