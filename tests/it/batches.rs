//! Purchases that arrive together. PostgreSQL records those waiting in one
//! transaction (buyers locked together, one write for them all); SQLite's
//! writer runs them one after the other. Either way each answer is the one the
//! purchase would get alone, and the ledger holds.

use futures::future::join_all;
use taem::domain::Refusal;
use taem::domain::model::{Member, Merchant, Recorded};
use taem::domain::time::now;
use taem::service::{PurchaseRequest, ServiceError};

use crate::common::*;
use crate::partners::partner;

fn sale(receipt: &str, amount: &str, member: Option<&Member>) -> PurchaseRequest {
    PurchaseRequest {
        receipt_id: receipt.into(),
        amount: amount.into(),
        currency: "THB".into(),
        member_code: member.map(|m| m.code.clone()),
        occurred_at: None,
        items: None,
    }
}

#[tokio::test]
async fn purchases_that_arrive_together_are_answered_as_if_one_after_the_other() {
    for db in databases().await {
        let t = TestStore::open(db).await;
        let backend = t.db.backend;
        let shop = t.merchant().await;
        // A prepaid partner with 5 points left: its ฿1,000 sale (40 points) is refused.
        let stall = t.merchant_named("Tiny Stall").await;
        partner(&t, &stall, "0.10", Some(5)).await;
        let mut members = Vec::new();
        for _ in 0..6 {
            members.push(t.member().await);
        }
        let (alice, bob, carol) = (t.member().await, t.member().await, t.member().await);
        assert!(
            t.loyalty
                .record_referral(bob.id, &alice.code, now())
                .await
                .unwrap()
        );

        // One wave: each member buys three times, one receipt is sent twice,
        // one receipt comes twice with two amounts, Bob's first purchase pays
        // his referral, the stall's sale is past its budget, and one sale has
        // no member, and Carol's ฿10 earns nothing but counts towards her tier.
        let mut wave: Vec<(&Merchant, PurchaseRequest)> = Vec::new();
        for round in 0..3 {
            for (i, m) in members.iter().enumerate() {
                wave.push((&shop, sale(&format!("r{round}-m{i}"), "100", Some(m))));
            }
        }
        wave.push((&shop, sale("twice", "250", Some(&members[0]))));
        wave.push((&shop, sale("twice", "250", Some(&members[0]))));
        wave.push((&shop, sale("clash", "100", Some(&members[1]))));
        wave.push((&shop, sale("clash", "200", Some(&members[1]))));
        wave.push((&shop, sale("bob-1", "1000", Some(&bob))));
        wave.push((&stall, sale("stall-1", "1000", Some(&members[2]))));
        wave.push((&shop, sale("walk-in", "500", None)));
        wave.push((&shop, sale("carol-1", "10", Some(&carol))));
        let answers = join_all(
            (wave.iter()).map(|(shop, req)| t.loyalty.record_purchase(shop, req.clone(), now())),
        )
        .await;

        let n = members.len() * 3;
        for (i, a) in answers[..n].iter().enumerate() {
            let a = a
                .as_ref()
                .unwrap_or_else(|e| panic!("{backend}: sale {i}: {e}"));
            assert!(
                matches!(a, Recorded::New(p) if p.points.value() == 4),
                "{backend}: {a:?}"
            );
        }
        // The receipt sent twice: recorded once, the other answer its replay.
        let twice: Vec<_> = answers[n..n + 2]
            .iter()
            .map(|a| a.as_ref().unwrap())
            .collect();
        assert_eq!(
            twice.iter().filter(|a| a.is_new()).count(),
            1,
            "{backend}: {twice:?}"
        );
        assert_eq!(twice[0].clone().into_inner(), twice[1].clone().into_inner());
        // The receipt with two amounts: one recorded, the other a conflict.
        let clash = &answers[n + 2..n + 4];
        assert_eq!(clash.iter().filter(|a| a.is_ok()).count(), 1, "{backend}");
        assert!(
            (clash.iter()).any(|a| matches!(a, Err(ServiceError::Duplicate("receipt_id")))),
            "{backend}: {clash:?}"
        );
        let clash_points = (clash.iter().flatten())
            .map(|a| a.clone().into_inner().points.value())
            .sum::<i64>();
        // Bob's first purchase pays his referral: 50 to each.
        let bob_first = answers[n + 4].as_ref().unwrap().clone().into_inner();
        assert_eq!(bob_first.points.value(), 90, "{backend}: {bob_first:?}");
        assert_eq!(t.balance(&alice).await, 50);
        assert_eq!(t.balance(&bob).await, 90);
        // The stall's sale is refused and records nothing; the rest stand.
        assert!(
            matches!(
                answers[n + 5],
                Err(ServiceError::Refused(Refusal::PartnerBudgetSpent { .. }))
            ),
            "{backend}: {:?}",
            answers[n + 5]
        );
        let walk_in = answers[n + 6].as_ref().unwrap().clone().into_inner();
        assert_eq!(walk_in.points.value(), 20);
        assert!(walk_in.claim_code.is_some() && walk_in.member_code.is_none());
        let carol_1 = answers[n + 7].as_ref().unwrap().clone().into_inner();
        assert_eq!(carol_1.points.value(), 0, "{backend}: {carol_1:?}");
        let standing = t.loyalty.tier_status(carol.id, now()).await.unwrap();
        assert_eq!(standing.spend.to_decimal_string(), "10.00", "{backend}");

        assert_eq!(t.balance(&members[0]).await, 12 + 10, "{backend}");
        assert_eq!(t.balance(&members[1]).await, 12 + clash_points);
        assert_eq!(t.balance(&members[2]).await, 12, "nothing from the stall");
        for m in &members[3..] {
            assert_eq!(t.balance(m).await, 12);
        }
        t.assert_ledger_holds().await;
    }
}

/// Two instances on one PostgreSQL write the same members' purchases at once.
/// Each batch locks its buyers before it reads their spend, so the spend kept
/// on each member's row is what their purchases add up to, and the ledger
/// check finds nothing wrong.
#[tokio::test]
async fn two_instances_writing_the_same_members_at_once_keep_their_spend() {
    for db in databases().await {
        if db.backend != "postgres" {
            continue;
        }
        let t = TestStore::open(db).await;
        let other = taem::store::connect(&t.db.url)
            .await
            .expect("a second store");
        let other = taem::service::Loyalty::new(other, chrono_tz::Asia::Bangkok);
        let shop = t.merchant().await;
        let mut members = Vec::new();
        for _ in 0..4 {
            members.push(t.member().await);
        }
        let mut sales = Vec::new();
        for round in 0..10 {
            for (i, m) in members.iter().enumerate() {
                for (side, loyalty) in [&t.loyalty, &other].into_iter().enumerate() {
                    let req = sale(&format!("r{round}-m{i}-{side}"), "100", Some(m));
                    sales.push(loyalty.record_purchase(&shop, req, now()));
                }
            }
        }
        for a in join_all(sales).await {
            let a = a.expect("a sale");
            assert!(matches!(a, Recorded::New(p) if p.points.value() == 4));
        }
        for m in &members {
            assert_eq!(t.balance(m).await, 80, "{}", m.code);
        }
        let check = t.store.check_ledger().await.unwrap();
        assert!(check.holds(), "{check:?}");
    }
}

/// Members who reach Silver with purchases that arrive together (one batch
/// on PostgreSQL) each move once: their tier, one recorded move, and in their
/// chat the points first, then the news of the tier.
#[tokio::test]
async fn members_climbing_together_each_move_once_and_hear_of_it_after_their_points() {
    use taem::domain::model::{Channel, NewMember};
    use taem::domain::notice::Notice;
    for db in databases().await {
        let t = TestStore::open(db).await;
        let backend = t.db.backend;
        let shop = t.merchant().await;
        let mut members = Vec::new();
        for i in 0..8 {
            let new = NewMember {
                telegram_id: Some(71_000 + i),
                ..Default::default()
            };
            members.push(t.store.add_member(&new, now()).await.unwrap());
        }
        // Silver from ฿5,000 a year: each member's one sale crosses it.
        let answers = join_all(members.iter().enumerate().map(|(i, m)| {
            t.loyalty
                .record_purchase(&shop, sale(&format!("s-{i}"), "5000", Some(m)), now())
        }))
        .await;
        assert!(answers.iter().all(|a| a.is_ok()), "{backend}: {answers:?}");

        let at = now();
        let lease = at + chrono::Duration::seconds(30);
        let items = (t.store)
            .claim_notices(Channel::Telegram, at, lease, 100, 0, true)
            .await
            .unwrap();
        for m in &members {
            let standing = t.loyalty.tier_status(m.id, now()).await.unwrap();
            assert_eq!(standing.tier.key, "silver", "{backend}");
            let changes = t.store.tier_changes(m.id).await.unwrap();
            let moves: Vec<_> = (changes.iter())
                .map(|c| (c.from.as_deref(), c.to.as_str(), c.spend_minor))
                .collect();
            assert_eq!(moves, [(None, "silver", 500_000)], "{backend}");
            let mut theirs: Vec<_> = items.iter().filter(|n| n.member_id == m.id).collect();
            theirs.sort_by_key(|n| n.id);
            let kinds: Vec<_> = theirs.iter().map(|n| n.notice.kind()).collect();
            assert_eq!(kinds, ["earned", "tier_changed"], "{backend}");
            assert!(
                matches!(&theirs[1].notice, Notice::TierChanged { to, up: true, .. } if to == "silver"),
                "{backend}: {:?}",
                theirs[1].notice
            );
        }
        t.assert_ledger_holds().await;
    }
}
