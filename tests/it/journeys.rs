//! Journeys on both stores: each fires once for whom it is due and not again,
//! gives what it is set to give (points, a voucher the programme pays for),
//! queues its message as marketing, and leaves its holdout share without the
//! gift and without the message.

use chrono::{Duration, TimeZone, Utc};
use taem::domain::journey::{Journey, Kind};
use taem::domain::model::{Member, NewMember};
use taem::service::journeys::JourneyInput;

use crate::common::*;

async fn reachable(t: &TestStore, n: i64, at: chrono::DateTime<Utc>) -> Member {
    let m = NewMember {
        telegram_id: Some(7_000_000 + n),
        ..NewMember::default()
    };
    let m = t.store.add_member(&m, at).await.unwrap();
    t.loyalty
        .set_marketing(m.id, true, "test", at)
        .await
        .unwrap();
    m
}

fn on(points: i64) -> JourneyInput {
    JourneyInput {
        enabled: Some(true),
        bonus_points: Some(points),
        ..JourneyInput::default()
    }
}

/// Switches a journey off.
async fn off(t: &TestStore, kind: Kind) {
    let input = JourneyInput {
        enabled: Some(false),
        ..JourneyInput::default()
    };
    t.loyalty
        .set_journey(kind, &input, taem::domain::time::now())
        .await
        .unwrap();
}

async fn journey_notices(t: &TestStore, m: &Member) -> usize {
    t.store
        .notices(m.id)
        .await
        .unwrap()
        .iter()
        .filter(|(kind, _, _)| kind == "journey")
        .count()
}

#[tokio::test]
async fn each_journey_fires_once_for_whom_it_is_due_and_holdouts_get_nothing() {
    for db in databases().await {
        let t = TestStore::open(db).await;
        let shop = t.merchant().await;
        // 3 February 2027, noon in Bangkok.
        let t0 = Utc.with_ymd_and_hms(2027, 2, 3, 5, 0, 0).unwrap();
        let old = reachable(&t, 0, t0 - Duration::days(300)).await;

        // Welcome, with 20 points, to members who join from now on; half held out.
        let welcome = t
            .loyalty
            .set_journey(
                Kind::Welcome,
                &JourneyInput {
                    holdout: Some("50%".into()),
                    ..on(20)
                },
                t0,
            )
            .await
            .unwrap();
        let mut newcomers = Vec::new();
        for n in 1..=30 {
            newcomers.push(reachable(&t, n, t0 + Duration::hours(1)).await);
        }
        let run = t
            .loyalty
            .run_journeys(t0 + Duration::hours(2))
            .await
            .unwrap();
        let (given, held) = (run.journeys[0].given, run.journeys[0].held_out);
        assert_eq!(given + held, 30, "every newcomer, and not the old member");
        assert!(given > 0 && held > 0, "{given} {held}");
        for m in &newcomers {
            let (points, notices) = if welcome.holds_out(m.id) {
                (0, 0)
            } else {
                (20, 1)
            };
            assert_eq!(t.balance(m).await, points, "member {}", m.id);
            assert_eq!(journey_notices(&t, m).await, notices, "member {}", m.id);
        }
        assert_eq!(t.balance(&old).await, 0);
        let again = t
            .loyalty
            .run_journeys(t0 + Duration::hours(3))
            .await
            .unwrap();
        assert_eq!(again.total(), 0, "once per member");
        off(&t, Kind::Welcome).await;

        // Birthday: a voucher the programme pays for, once a year.
        let cake = t.reward(100, Some(10), None).await;
        let input = JourneyInput {
            reward_id: Some(cake.id),
            ..on(0)
        };
        t.loyalty
            .set_journey(Kind::Birthday, &input, t0)
            .await
            .unwrap();
        t.loyalty
            .set_birthday(old.id, "29/2", t0 - Duration::days(400))
            .await
            .unwrap();
        let run = t
            .loyalty
            .run_journeys(t0 + Duration::hours(4))
            .await
            .unwrap();
        assert_eq!(run.total(), 1, "{run:?}");
        let vouchers = t.loyalty.vouchers(old.id).await.unwrap();
        assert_eq!(vouchers.len(), 1);
        assert_eq!(vouchers[0].reward_id, cake.id);
        assert_eq!(
            t.balance(&old).await,
            0,
            "the voucher's points were the programme's"
        );
        assert_eq!(
            t.loyalty
                .run_journeys(t0 + Duration::days(10))
                .await
                .unwrap()
                .total(),
            0
        );
        off(&t, Kind::Birthday).await;

        // Win-back after 60 days without a purchase, at most once per 90 days.
        let lapsed = reachable(&t, 100, t0 - Duration::days(200)).await;
        t.buy(&shop, &lapsed, "100.00", None, t0 - Duration::days(61))
            .await;
        let input = JourneyInput {
            lapsing: Some("60".into()),
            ..on(15)
        };
        t.loyalty
            .set_journey(Kind::Winback, &input, t0)
            .await
            .unwrap();
        let run = t.loyalty.run_journeys(t0).await.unwrap();
        assert_eq!(
            (
                run.journeys[0].journey,
                run.journeys[0].given,
                run.journeys[0].held_out
            ),
            (Kind::Winback, 1, 0)
        );
        let before = t.balance(&lapsed).await;
        assert_eq!(
            t.loyalty
                .run_journeys(t0 + Duration::days(89))
                .await
                .unwrap()
                .total(),
            0
        );
        assert_eq!(
            t.loyalty
                .run_journeys(t0 + Duration::days(90))
                .await
                .unwrap()
                .total(),
            1
        );
        assert_eq!(t.balance(&lapsed).await, before + 15);
        off(&t, Kind::Winback).await;

        // Near a reward: after a purchase leaving the member 10 points short of
        // 100 (within 20 %), one message naming it, once this month.
        t.loyalty
            .set_journey(Kind::NearReward, &on(0), t0)
            .await
            .unwrap();
        let near = reachable(&t, 200, t0 - Duration::days(5)).await;
        t.buy(&shop, &near, "2250.00", None, t0 - Duration::hours(1))
            .await; // 90 points at 1:25
        assert_eq!(t.balance(&near).await, 90);
        let run = t.loyalty.run_journeys(t0).await.unwrap();
        assert_eq!(
            (
                run.journeys[0].journey,
                run.journeys[0].given,
                run.journeys[0].held_out
            ),
            (Kind::NearReward, 1, 0)
        );
        assert_eq!(journey_notices(&t, &near).await, 1);
        assert_eq!(
            t.loyalty
                .run_journeys(t0 + Duration::hours(1))
                .await
                .unwrap()
                .total(),
            0
        );
        t.assert_ledger_holds().await;

        // What the journeys are set to.
        let all: Vec<Journey> = t.loyalty.journeys().await.unwrap();
        assert_eq!(all.len(), 4);
        assert!(all.iter().any(|j| j.kind == Kind::NearReward && j.enabled));
        let bad = JourneyInput {
            bonus_points: Some(5),
            ..JourneyInput::default()
        };
        assert!(
            t.loyalty
                .set_journey(Kind::NearReward, &bad, t0)
                .await
                .is_err()
        );
    }
}

#[tokio::test]
async fn the_promotions_list_shows_only_campaigns_the_member_is_in() {
    use taem::service::campaigns::CampaignInput;
    for db in databases().await {
        let t = TestStore::open(db).await;
        let at = taem::domain::time::now();
        let campaign = async |name: &str, tiers: Vec<String>, holdout: Option<&str>| {
            let input = CampaignInput {
                name_th: name.into(),
                name_en: name.into(),
                kind: "multiplier".into(),
                multiplier: Some("2".into()),
                starts_at: (at - Duration::hours(1)).to_rfc3339(),
                ends_at: (at + Duration::days(3)).to_rfc3339(),
                tiers,
                holdout: holdout.map(Into::into),
                ..Default::default()
            };
            t.loyalty.add_campaign(&input, at).await.unwrap()
        };
        let everyone = campaign("everyone", vec![], None).await;
        let gold = campaign("gold only", vec!["gold".into()], None).await;
        let measured = campaign("measured", vec![], Some("50%")).await;
        let mut seen_held = false;
        for n in 0..20 {
            let m = reachable(&t, 300 + n, at).await;
            let names: Vec<i64> = t
                .loyalty
                .campaigns_for(&m, at, 7)
                .await
                .unwrap()
                .iter()
                .map(|c| c.id)
                .collect();
            assert!(names.contains(&everyone.id));
            assert!(!names.contains(&gold.id), "a member is not gold");
            assert_eq!(names.contains(&measured.id), !measured.holds_out(m.id));
            seen_held |= measured.holds_out(m.id);
        }
        assert!(seen_held, "someone of twenty was held out");
    }
}

#[tokio::test]
async fn the_admin_api_sets_and_runs_journeys_and_counts_audiences() {
    use serde_json::json;
    for db in databases().await {
        let app = TestApp::spawn_admin(db).await;
        let (status, j) = app
            .admin(
                "PUT",
                "/admin/v1/journeys/welcome",
                Some(json!({"enabled": true, "bonus_points": 20, "holdout": "10%"})),
            )
            .await;
        assert_eq!(status, 200, "{j}");
        assert_eq!(
            (
                j["enabled"].clone(),
                j["bonus_points"].clone(),
                j["holdout_bp"].clone()
            ),
            (json!(true), json!(20), json!(1000))
        );
        let (status, p) = app
            .admin("PUT", "/admin/v1/journeys/anniversary", Some(json!({})))
            .await;
        assert_eq!(status, 404, "{p}");
        let (status, p) = app
            .admin(
                "PUT",
                "/admin/v1/journeys/near_reward",
                Some(json!({"bonus_points": 5})),
            )
            .await;
        assert_eq!(status, 422, "{p}");
        let (status, list) = app.admin("GET", "/admin/v1/journeys", None).await;
        assert_eq!((status, list.as_array().unwrap().len()), (200, 4));
        let m = reachable(&app.t, 1, taem::domain::time::now()).await;
        let (status, run) = app.admin("POST", "/admin/v1/journeys/run", None).await;
        assert_eq!(status, 200, "{run}");
        assert_eq!(run["journeys"][0]["journey"], "welcome", "{run}");
        // Welcomed once (by this run, or by serve's own sweep if it came first).
        let welcome = app.t.store.journeys().await.unwrap().remove(0);
        let points = if welcome.holds_out(m.id) { 0 } else { 20 };
        assert_eq!(app.t.balance(&m).await, points);
        let (status, reach) = app
            .admin(
                "POST",
                "/admin/v1/audiences/count",
                Some(json!({"joined_within_days": 1})),
            )
            .await;
        assert_eq!(status, 200, "{reach}");
        assert_eq!(
            (reach["members"].clone(), reach["telegram"].clone()),
            (json!(1), json!(1))
        );
        let (status, p) = app
            .admin(
                "POST",
                "/admin/v1/audiences/count",
                Some(json!({"classes": ["Z"]})),
            )
            .await;
        assert_eq!(status, 422, "{p}");
        assert_eq!(p["field"], "audience");
        app.shutdown().await;
    }
}

#[tokio::test]
async fn a_journeys_lift_is_measured_against_its_holdout_on_a_known_history() {
    for db in databases().await {
        let t = TestStore::open(db).await;
        let shop = t.merchant().await;
        let t0 = Utc.with_ymd_and_hms(2027, 3, 3, 5, 0, 0).unwrap();
        let input = JourneyInput {
            holdout: Some("50%".into()),
            ..on(10)
        };
        let welcome = t
            .loyalty
            .set_journey(Kind::Welcome, &input, t0)
            .await
            .unwrap();
        let mut members = Vec::new();
        for n in 0..24 {
            members.push(reachable(&t, 400 + n, t0 + Duration::hours(1)).await);
        }
        t.loyalty
            .run_journeys(t0 + Duration::hours(2))
            .await
            .unwrap();
        // Reached members spend 200 baht in the next 30 days, held-out ones
        // 100; what anyone spends after the 30 days does not count.
        for m in &members {
            let amount = if welcome.holds_out(m.id) {
                "100.00"
            } else {
                "200.00"
            };
            t.buy(&shop, m, amount, None, t0 + Duration::days(10)).await;
            t.buy(&shop, m, "999.00", None, t0 + Duration::days(40))
                .await;
        }
        let held = members.iter().filter(|m| welcome.holds_out(m.id)).count() as i64;
        let q = taem::service::reports::ReportQuery::default();
        let report = t
            .loyalty
            .campaigns_report(&q, t0 + Duration::days(41))
            .await
            .unwrap();
        let j = &report.journeys[0];
        assert_eq!(j.journey, Kind::Welcome);
        assert_eq!((j.reached, j.held_out), (24 - held, held));
        assert_eq!(j.points_given, 10 * (24 - held));
        assert_eq!(j.spend_per_send_minor, 20_000);
        assert_eq!(j.holdout_spend_per_send_minor, Some(10_000));
        assert_eq!(j.lift_bp, Some(10_000), "+100 %");
    }
}
