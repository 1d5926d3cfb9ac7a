//! Audiences on both stores: each rule on a constructed history whose answer
//! is known (the lapsing rule at its edges, 29 February birthdays), criteria
//! combined, and the reach on each app counted before a broadcast.

use chrono::{DateTime, Duration, TimeZone, Utc};
use taem::domain::audience::{Audience, Bought, Lapsing, Reach};
use taem::domain::model::NewMember;
use taem::service::PurchaseItem;
use taem::service::audiences::BirthdaySet;

use crate::common::*;

fn item(sku: &str, category: &str, amount: &str) -> PurchaseItem {
    PurchaseItem {
        sku: sku.into(),
        category: Some(category.into()),
        quantity: 1,
        amount: amount.into(),
    }
}

#[tokio::test]
async fn each_audience_rule_finds_exactly_the_members_it_should() {
    for db in databases().await {
        let t = TestStore::open(db).await;
        let shop = t.merchant().await;
        // Noon in Bangkok on 20 February 2027.
        let t0 = Utc.with_ymd_and_hms(2027, 2, 20, 5, 0, 0).unwrap();
        let days = |d: i64| t0 - Duration::days(d);
        let member = |t: &TestStore| {
            let store = t.store.clone();
            async move {
                store
                    .add_member(&NewMember::default(), days(200))
                    .await
                    .unwrap()
            }
        };
        // Regular: bought every ten days, last 80 days ago.
        let regular = member(&t).await;
        for d in [100, 90, 80] {
            t.buy(&shop, &regular, "100.00", None, days(d)).await;
        }
        // Baker: one bakery purchase ten days ago, big enough for silver.
        let baker = member(&t).await;
        let bread = vec![
            item("CROISSANT", "bakery", "5500.00"),
            item("LATTE", "drinks", "500.00"),
        ];
        t.buy(&shop, &baker, "6000.00", Some(bread), days(10)).await;
        // Newcomer: joined yesterday, never bought.
        let newcomer = t
            .store
            .add_member(&NewMember::default(), days(1))
            .await
            .unwrap();
        // Leap-day child: born on 29 February.
        let leap = member(&t).await;
        assert_eq!(
            t.loyalty
                .set_birthday(leap.id, "29/2", days(300))
                .await
                .unwrap(),
            BirthdaySet::Set(29, 2)
        );
        let ids = |mut v: Vec<i64>| {
            v.sort();
            v
        };
        let find = async |a: Audience, at: DateTime<Utc>| {
            t.loyalty.audience_members(&a, at).await.unwrap()
        };

        let everyone = find(Audience::default(), t0).await;
        assert_eq!(
            everyone,
            ids(vec![regular.id, baker.id, newcomer.id, leap.id])
        );
        // Lapsing: no purchase for N days, from the Nth day on; never-buyers never lapse.
        let lapsing = |d| Audience {
            lapsing: Some(Lapsing::Days(d)),
            ..Audience::default()
        };
        assert_eq!(find(lapsing(80), t0).await, vec![regular.id]);
        assert_eq!(find(lapsing(81), t0).await, Vec::<i64>::new());
        assert_eq!(find(lapsing(10), t0).await, ids(vec![regular.id, baker.id]));
        // Beyond 1.5 × their usual gap (ten days): after 15 days, not at 15.
        let usual = Audience {
            lapsing: Some(Lapsing::UsualGap),
            ..Audience::default()
        };
        assert_eq!(find(usual.clone(), days(65)).await, Vec::<i64>::new());
        assert_eq!(
            find(usual.clone(), days(65) + Duration::seconds(1)).await,
            vec![regular.id]
        );
        // Birthday this month: February, in a year without a 29th.
        let birthday = Audience {
            birthday_this_month: true,
            ..Audience::default()
        };
        assert_eq!(find(birthday.clone(), t0).await, vec![leap.id]);
        assert!(
            find(birthday, t0 + Duration::days(10)).await.is_empty(),
            "March"
        );
        // Bought a category or a SKU lately.
        let bought = |sku: Option<&str>, category: Option<&str>, days| Audience {
            bought: Some(Bought {
                sku: sku.map(Into::into),
                category: category.map(Into::into),
                days,
            }),
            ..Audience::default()
        };
        assert_eq!(
            find(bought(None, Some("bakery"), 30), t0).await,
            vec![baker.id]
        );
        assert_eq!(
            find(bought(Some("CROISSANT"), None, 30), t0).await,
            vec![baker.id]
        );
        assert!(find(bought(None, Some("bakery"), 9), t0).await.is_empty());
        assert!(
            find(bought(Some("BAGUETTE"), None, 30), t0)
                .await
                .is_empty()
        );
        // New members.
        let new = Audience {
            joined_within_days: Some(2),
            ..Audience::default()
        };
        assert_eq!(find(new, t0).await, vec![newcomer.id]);
        // Tiers.
        let silver = Audience {
            tiers: vec!["silver".into()],
            ..Audience::default()
        };
        assert_eq!(find(silver, t0).await, vec![baker.id]);
        // Classes, segments and favourite categories come from the daily run.
        t.loyalty.refresh_segments(t0).await.unwrap();
        let class_a = Audience {
            classes: vec!["A".into()],
            ..Audience::default()
        };
        assert_eq!(find(class_a, t0).await, vec![baker.id]);
        let fans = Audience {
            favourite_category: Some("bakery".into()),
            ..Audience::default()
        };
        assert_eq!(find(fans, t0).await, vec![baker.id]);
        let segment = t
            .loyalty
            .member_segment(regular.id)
            .await
            .unwrap()
            .unwrap()
            .segment;
        let same = Audience {
            segments: vec![segment.as_str().into()],
            ..Audience::default()
        };
        assert!(find(same, t0).await.contains(&regular.id));
        // Combined: every criterion must hold.
        let both = Audience {
            lapsing: Some(Lapsing::Days(10)),
            tiers: vec!["silver".into()],
            ..Audience::default()
        };
        assert_eq!(find(both, t0).await, vec![baker.id]);
        // Nonsense is refused with its reason.
        let bad = Audience {
            classes: vec!["Z".into()],
            ..Audience::default()
        };
        let e = t.loyalty.audience_members(&bad, t0).await.unwrap_err();
        assert!(e.to_string().contains("A, B or C"), "{e}");
    }
}

#[tokio::test]
async fn the_reach_counts_members_marketing_can_reach_on_each_app() {
    for db in databases().await {
        let t = TestStore::open(db).await;
        let at = taem::domain::time::now();
        let add = |telegram: Option<i64>, line: Option<&str>| NewMember {
            telegram_id: telegram,
            line_id: line.map(Into::into),
            ..NewMember::default()
        };
        let both = t
            .store
            .add_member(&add(Some(1), Some("U1")), at)
            .await
            .unwrap();
        let telegram = t.store.add_member(&add(Some(2), None), at).await.unwrap();
        let line = t
            .store
            .add_member(&add(None, Some("U3")), at)
            .await
            .unwrap();
        let silent = t.store.add_member(&add(Some(4), None), at).await.unwrap();
        t.store.add_member(&add(None, None), at).await.unwrap();
        for m in [&both, &telegram, &line] {
            t.loyalty
                .set_marketing(m.id, true, "test", at)
                .await
                .unwrap();
        }
        t.loyalty
            .set_marketing(silent.id, false, "test", at)
            .await
            .unwrap();
        let reach = t
            .loyalty
            .audience_reach(&Audience::default(), at)
            .await
            .unwrap();
        assert_eq!(
            reach,
            Reach {
                members: 5,
                reachable: 3,
                telegram: 2,
                line: 2
            }
        );
    }
}

#[tokio::test]
async fn a_birthday_changes_at_most_once_a_year_and_erasure_forgets_it() {
    for db in databases().await {
        let t = TestStore::open(db).await;
        let m = t.member().await;
        let t0 = taem::domain::time::now();
        assert!(
            t.loyalty.set_birthday(m.id, "31/4", t0).await.is_err(),
            "no 31 April"
        );
        assert_eq!(
            t.loyalty.set_birthday(m.id, "5/11", t0).await.unwrap(),
            BirthdaySet::Set(5, 11)
        );
        // The same again changes nothing; another is refused until a year on.
        assert_eq!(
            t.loyalty
                .set_birthday(m.id, "05-11", t0 + Duration::days(3))
                .await
                .unwrap(),
            BirthdaySet::Set(5, 11)
        );
        let next = t0 + Duration::days(365);
        match t
            .loyalty
            .set_birthday(m.id, "6/11", t0 + Duration::days(30))
            .await
            .unwrap()
        {
            BirthdaySet::TooSoon { next: n } => {
                assert!((n - next).num_seconds().abs() < 2, "{n} {next}")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(t.loyalty.birthday(m.id).await.unwrap(), Some((5, 11)));
        assert_eq!(
            t.loyalty.set_birthday(m.id, "6/11", next).await.unwrap(),
            BirthdaySet::Set(6, 11)
        );
        t.store.erase_member(m.id, "test", next).await.unwrap();
        assert_eq!(t.loyalty.birthday(m.id).await.unwrap(), None);
    }
}

#[tokio::test]
async fn a_campaign_for_an_audience_gives_and_announces_only_to_its_members() {
    use taem::service::campaigns::CampaignInput;
    for db in databases().await {
        let t = TestStore::open(db).await;
        let shop = t.merchant().await;
        let t0 = taem::domain::time::now();
        let member = async |n: i64| {
            let m = NewMember {
                telegram_id: Some(8_000_000 + n),
                ..NewMember::default()
            };
            let m = t
                .store
                .add_member(&m, t0 - Duration::days(200))
                .await
                .unwrap();
            t.loyalty
                .set_marketing(m.id, true, "test", t0 - Duration::days(200))
                .await
                .unwrap();
            m
        };
        let lapsed = member(1).await;
        let regular = member(2).await;
        t.buy(&shop, &lapsed, "100.00", None, t0 - Duration::days(45))
            .await;
        t.buy(&shop, &regular, "100.00", None, t0 - Duration::days(3))
            .await;
        // A win-back campaign: 100 bonus points for members without a purchase for 30 days.
        let input = CampaignInput {
            name_th: "คิดถึงคุณ".into(),
            name_en: "We miss you".into(),
            text_en: "Come back for 100 bonus points".into(),
            kind: "bonus".into(),
            points: Some(100),
            starts_at: (t0 - Duration::hours(1)).to_rfc3339(),
            ends_at: (t0 + Duration::days(7)).to_rfc3339(),
            audience: Some(Audience {
                lapsing: Some(Lapsing::Days(30)),
                ..Audience::default()
            }),
            ..Default::default()
        };
        let c = t.loyalty.add_campaign(&input, t0).await.unwrap();
        assert_eq!(c.audience.lapsing, Some(Lapsing::Days(30)));
        // Announced to the lapsed member only.
        let (queued, _) = t.loyalty.broadcast(c.id, false, t0).await.unwrap();
        assert_eq!(queued, 1);
        let heard = |m: &taem::domain::model::Member| {
            let store = t.store.clone();
            let id = m.id;
            async move {
                store
                    .notices(id)
                    .await
                    .unwrap()
                    .iter()
                    .filter(|(k, _, _)| k == "broadcast")
                    .count()
            }
        };
        assert_eq!((heard(&lapsed).await, heard(&regular).await), (1, 0));
        // Listed in their promotions only.
        assert_eq!(
            t.loyalty.campaigns_for(&lapsed, t0, 7).await.unwrap().len(),
            1
        );
        assert!(
            t.loyalty
                .campaigns_for(&regular, t0, 7)
                .await
                .unwrap()
                .is_empty()
        );
        // The bonus goes to the lapsed member's purchase (they lapsed before
        // it), not to the regular's, nor to a purchase without a member.
        let before = (t.balance(&lapsed).await, t.balance(&regular).await);
        t.buy(&shop, &lapsed, "100.00", None, t0).await;
        t.buy(&shop, &regular, "100.00", None, t0).await;
        let base = 4; // 100 baht at 1:25
        assert_eq!(t.balance(&lapsed).await, before.0 + base + 100);
        assert_eq!(t.balance(&regular).await, before.1 + base);
        let anonymous = taem::service::PurchaseRequest {
            receipt_id: "R-anon".into(),
            amount: "100.00".into(),
            currency: "THB".into(),
            member_code: None,
            occurred_at: None,
            items: None,
        };
        let r = t
            .loyalty
            .record_purchase(&shop, anonymous, t0)
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.points.value(), base, "{r:?}");
        // Bad audiences are refused, naming the field.
        let bad = CampaignInput {
            audience: Some(Audience {
                classes: vec!["Z".into()],
                ..Audience::default()
            }),
            ..input
        };
        let e = t.loyalty.add_campaign(&bad, t0).await.unwrap_err();
        assert!(e.to_string().contains("A, B or C"), "{e}");
        t.assert_ledger_holds().await;
    }
}

#[tokio::test]
async fn two_segment_runs_at_once_both_finish_and_the_newer_is_read() {
    use taem::domain::segment::{Class, MemberSegment, Rfm, Segment};
    use taem::domain::time::now;
    for db in databases().await {
        let t = TestStore::open(db).await;
        let m = t.member().await;
        let row = |class| MemberSegment {
            member_id: m.id,
            member_code: m.code.clone(),
            class,
            segment: Segment::Champions,
            rfm: Rfm { r: 5, f: 5, m: 5 },
            purchases: 3,
            sales_minor: 90_000,
            last_purchase_at: now(),
            computed_at: now(),
            favourite_category: None,
        };
        // The sweeper's run and another instance's interleave: the newer one
        // finishes while the older is still being written.
        let older = t.store.start_segment_run(now(), now()).await.unwrap();
        let newer = t.store.start_segment_run(now(), now()).await.unwrap();
        t.store.add_segments(newer, &[row(Class::A)]).await.unwrap();
        t.store.finish_segment_run(newer).await.unwrap();
        t.store.add_segments(older, &[row(Class::B)]).await.unwrap();
        t.store.finish_segment_run(older).await.unwrap();
        let s = t.store.member_segment(m.id).await.unwrap().unwrap();
        assert_eq!(s.class, Class::A, "the newer run is read");
    }
}
