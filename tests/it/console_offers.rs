//! The back office's offers, on both stores: a campaign's audience set, counted
//! and described in the console and kept to by its announcement; journeys
//! switched on and set up in the console, refused plainly when the settings
//! make no sense, with what each achieved shown.

use chrono::Datelike;
use taem::domain::audience::{Audience, Lapsing};
use taem::domain::journey::Kind;
use taem::domain::model::NewMember;
use taem::domain::staff::Role;
use taem::domain::time::now;

use crate::common::*;
use crate::console::{audited, signed_in};

#[tokio::test]
async fn a_manager_gives_a_campaign_an_audience_counts_it_and_announces_to_it_only() {
    each_app(async |app| {
        let mut b = signed_in(
            app,
            ("manager@shop.example", Role::Manager, None),
            "khao-man-gai-hainan",
        )
        .await;
        let today = now().with_timezone(&chrono_tz::Asia::Bangkok).date_naive();
        let mut members = Vec::new();
        for i in 0..3 {
            let m = NewMember {
                telegram_id: Some(8_100_000 + i),
                ..NewMember::default()
            };
            members.push(app.t.opted_in(m).await);
        }
        let birthday = format!("{}/{}", today.day(), today.month());
        app.t
            .loyalty
            .set_birthday(members[1].id, &birthday, now())
            .await
            .unwrap();

        let page = b.get("/console/campaigns/new").await;
        assert!(page.body.contains("Birthday this month"), "{}", page.body);
        assert!(page.body.contains("At risk"), "{}", page.body);
        let csrf = page.field("csrf");
        let (first, last) = (
            today.to_string(),
            (today + chrono::Days::new(2)).to_string(),
        );
        let mut form = vec![
            ("csrf", csrf.as_str()),
            ("name_th", "สุขสันต์วันเกิด"),
            ("name_en", "Happy birthday"),
            ("text_th", "รับแต้มเพิ่ม 50"),
            ("text_en", "50 more points"),
            ("kind", "bonus"),
            ("points", "50"),
            ("starts_at", &first),
            ("ends_at", &last),
            ("tier.member", "on"),
            ("birthday", "on"),
            ("lapsing", "days"),
            ("lapsing_days", "soon"),
        ];
        // A count with a nonsense criterion says which, and saves nothing.
        let mut counting = form.clone();
        counting.push(("count", "1"));
        let page = b.post("/console/campaigns", &counting).await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(page.body.contains("lapsing_days"), "{}", page.body);
        let page = b.post("/console/campaigns", &form).await;
        assert_eq!(page.status, 422, "{}", page.body);
        let campaigns = app.t.store.campaigns().await.unwrap();
        assert!(campaigns.is_empty(), "{campaigns:?}");

        // Counted before it is saved: the one member whose birthday it is.
        form.truncate(form.len() - 2);
        let mut counting = form.clone();
        counting.push(("count", "1"));
        let page = b.post("/console/campaigns", &counting).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(
            page.body.contains(
                "Its audience holds 1 members: 1 agreed to promotions and can be reached \
                 (1 on Telegram, 0 on LINE)."
            ),
            "{}",
            page.body
        );
        assert!(
            page.body.contains("name=\"birthday\" value=\"on\" checked"),
            "the form keeps what was ticked: {}",
            page.body
        );
        assert!(app.t.store.campaigns().await.unwrap().is_empty());

        let page = b.post("/console/campaigns", &form).await;
        assert_eq!(page.status, 303, "{}", page.body);
        let at = page.location.unwrap();
        let camp = app.t.store.campaigns().await.unwrap().remove(0);
        assert_eq!(
            camp.audience,
            Audience {
                tiers: vec!["member".into()],
                birthday_this_month: true,
                ..Audience::default()
            }
        );
        let page = b.get(&at).await;
        assert!(
            page.body.contains("For: tier Member · birthday this month"),
            "{}",
            page.body
        );
        assert!(
            page.body.contains("Its audience holds 1 members"),
            "{}",
            page.body
        );
        let page = b.post(&format!("{at}/broadcast"), &[("csrf", &csrf)]).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let status = app.t.loyalty.broadcast_status(camp.id).await.unwrap();
        assert_eq!(status.total(), 1, "only the birthday member: {status:?}");
    })
    .await;
}

#[tokio::test]
async fn a_manager_sets_up_journeys_in_the_console_and_sees_what_they_gave() {
    each_app(async |app| {
        let mut cashier = signed_in(
            app,
            ("nok@shop.example", Role::Cashier, Some(&app.merchant.id)),
            "som-tam-thai-korat",
        )
        .await;
        assert_eq!(cashier.get("/console/journeys").await.status, 403);

        let mut b = signed_in(
            app,
            ("manager@shop.example", Role::Manager, None),
            "khao-man-gai-hainan",
        )
        .await;
        let page = b.get("/console/journeys").await;
        assert_eq!(page.status, 200, "{}", page.body);
        for name in ["Welcome", "Birthday", "Win-back", "Near a reward"] {
            assert!(page.body.contains(name), "{name}: {}", page.body);
        }
        let csrf = page.field("csrf");

        let page = b
            .post(
                "/console/journeys/winback",
                &[
                    ("csrf", &csrf),
                    ("enabled", "on"),
                    ("bonus_points", "50"),
                    ("reward_id", ""),
                    ("holdout", "10"),
                    ("lapsing", "usual"),
                    ("lapsing_days", ""),
                    ("every_days", "60"),
                ],
            )
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
        let journeys = app.t.loyalty.journeys().await.unwrap();
        let w = journeys.iter().find(|j| j.kind == Kind::Winback).unwrap();
        assert!(w.enabled);
        assert_eq!(
            (w.bonus_points, w.holdout_bp, w.lapsing, w.every_days),
            (50, 1_000, Lapsing::UsualGap, 60)
        );

        // A share past half is refused, says so, and changes nothing.
        let page = b
            .post(
                "/console/journeys/near_reward",
                &[("csrf", &csrf), ("enabled", "on"), ("near", "90")],
            )
            .await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(page.body.contains("near"), "{}", page.body);
        let journeys = app.t.loyalty.journeys().await.unwrap();
        let n = journeys
            .iter()
            .find(|j| j.kind == Kind::NearReward)
            .unwrap();
        assert!(!n.enabled);
        assert_eq!(
            b.post("/console/journeys/nope", &[("csrf", &csrf)])
                .await
                .status,
            404
        );

        // A welcome with bonus points and no holdout, then a member joins.
        let page = b
            .post(
                "/console/journeys/welcome",
                &[
                    ("csrf", &csrf),
                    ("enabled", "on"),
                    ("bonus_points", "30"),
                    ("holdout", "0"),
                ],
            )
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
        let m = NewMember {
            telegram_id: Some(8_200_001),
            ..NewMember::default()
        };
        let m = app.t.opted_in(m).await;
        app.t.loyalty.run_journeys(now()).await.unwrap();
        assert_eq!(app.t.balance(&m).await, 30);
        let page = b.get("/console/journeys").await;
        let welcome = &page.body[page.body.find("id=\"journey-welcome\"").unwrap()..];
        let welcome = &welcome[..welcome.find("</section>").unwrap()];
        assert!(welcome.contains("on</span>"), "{welcome}");
        assert!(
            welcome.contains("Members reached</td><td class=\"num\">1</td>"),
            "{welcome}"
        );
        assert!(welcome.contains("<td class=\"num\">30</td>"), "{welcome}");

        // The member's data file lists the journey they were sent.
        let file = app
            .t
            .loyalty
            .staff_export(&taem::service::staff::Actor::Cli, m.code.as_str(), now())
            .await
            .unwrap();
        let file: serde_json::Value = serde_json::from_slice(&file).unwrap();
        let sent = &file["journeys"][0];
        assert_eq!(
            (
                &sent["kind"],
                &sent["key"],
                &sent["held_out"],
                &sent["points"]
            ),
            (
                &serde_json::json!("welcome"),
                &serde_json::json!("welcome"),
                &serde_json::json!(false),
                &serde_json::json!(30)
            ),
            "{file}"
        );

        let actions: Vec<String> = audited(app).await.into_iter().map(|e| e.action).collect();
        assert_eq!(
            actions.iter().filter(|a| *a == "journey.set").count(),
            2,
            "{actions:?}"
        );
    })
    .await;
}
