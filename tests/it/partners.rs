//! Partners on both stores: each lot's points booked to the pair (issuer →
//! the partner that honoured them) at the issuer's value, booked back when
//! they come back, partners' rewards taken only by them, prepaid budgets
//! refusing what they cannot cover, statements that net to zero and never
//! change once closed, and reconciliation on generated histories.

use chrono::{DateTime, TimeZone, Utc};
use taem::domain::Refusal;
use taem::domain::model::{Member, Merchant, Reward};
use taem::domain::partner::Statement;
use taem::service::partners::PartnerInput;
use taem::service::staff::Actor;
use taem::service::{PurchaseRequest, RefundRequest, ServiceError};

use crate::common::*;

/// An instant in Bangkok.
fn bkk(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    chrono_tz::Asia::Bangkok
        .with_ymd_and_hms(y, m, d, h, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
}

pub(crate) async fn partner(t: &TestStore, m: &Merchant, value: &str, budget: Option<i64>) {
    let input = PartnerInput {
        value: Some(value.into()),
        funding: Some(
            if budget.is_some() {
                "prepaid"
            } else {
                "postpaid"
            }
            .into(),
        ),
        budget,
        top_up: None,
    };
    t.loyalty
        .staff_set_partner(&Actor::Cli, &m.id, &input, bkk(2026, 10, 1, 8))
        .await
        .unwrap();
}

pub(crate) async fn partner_reward(t: &TestStore, cost: i64, p: &Merchant) -> Reward {
    let input = taem::service::RewardInput {
        name_th: "ขนมปัง".into(),
        name_en: "A loaf".into(),
        cost,
        face_value: "0".into(),
        currency: "THB".into(),
        voucher_days: 30,
        partner: Some(p.id.clone()),
        ..Default::default()
    };
    t.loyalty
        .add_reward(input, bkk(2026, 10, 1, 8))
        .await
        .unwrap()
}

pub(crate) async fn sale(
    t: &TestStore,
    shop: &Merchant,
    m: &Member,
    (receipt, amount): (&str, &str),
    at: DateTime<Utc>,
) -> Result<i64, ServiceError> {
    let req = PurchaseRequest {
        receipt_id: receipt.into(),
        amount: amount.into(),
        currency: "THB".into(),
        member_code: Some(m.code.clone()),
        occurred_at: None,
        items: None,
    };
    let r = t.loyalty.record_purchase(shop, req, at).await?;
    Ok(r.into_inner().points.value())
}

fn pair(s: &Statement, issuer: &Merchant, redeemer: &Merchant) -> (i64, i64) {
    s.pairs
        .iter()
        .find(|l| l.issuer == issuer.id && l.redeemer == redeemer.id)
        .map_or((0, 0), |l| (l.points, l.amount_minor))
}

fn net(s: &Statement, m: &Merchant) -> (i64, i64) {
    let p = s.partners.iter().find(|p| p.merchant_id == m.id).unwrap();
    (p.net_minor, p.breakage_points)
}

#[tokio::test]
async fn points_honoured_by_another_partner_are_booked_reversed_and_settled_by_month() {
    for db in databases().await {
        let t = TestStore::open(db).await;
        let (cafe, bakery, wash, outsider) = (
            t.merchant_named("Baan Kafe").await,
            t.merchant_named("Khanom Bakery").await,
            t.merchant_named("Sai Car Wash").await,
            t.merchant_named("Outside Shop").await,
        );
        partner(&t, &cafe, "0.25", None).await;
        partner(&t, &bakery, "0.20", None).await;
        partner(&t, &wash, "0.30", Some(1_000)).await;
        t.loyalty
            .change_program(taem::service::ProgramChange {
                expiry_months: Some(1),
                ..Default::default()
            })
            .await
            .unwrap();
        t.pay_with_points("4:1").await;
        let m = t.member().await;
        let loaf = partner_reward(&t, 120, &bakery).await;
        let bun = partner_reward(&t, 30, &bakery).await;
        let coffee = t.reward(50, None, None).await;

        let oct = |d, h| bkk(2026, 10, d, h);
        assert_eq!(
            sale(&t, &cafe, &m, ("C-1", "2500"), oct(5, 10))
                .await
                .unwrap(),
            100
        );
        assert_eq!(
            sale(&t, &wash, &m, ("W-1", "1000"), oct(6, 10))
                .await
                .unwrap(),
            40
        );
        assert_eq!(
            sale(&t, &cafe, &m, ("C-2", "1250"), oct(12, 10))
                .await
                .unwrap(),
            50
        );

        // The bakery's loaf takes the cafe's 100 points and 20 of the wash's.
        let v = t.loyalty.redeem(m.id, loaf.id, None, oct(10, 12)).await;
        let v = v.unwrap();
        let other = t.loyalty.use_voucher(&cafe, &v.code, oct(10, 13)).await;
        assert!(
            matches!(
                other,
                Err(ServiceError::Refused(Refusal::VoucherOtherPartner))
            ),
            "{other:?}"
        );
        t.loyalty
            .use_voucher(&bakery, &v.code, oct(10, 13))
            .await
            .unwrap();
        // A bun redeemed and given back: booked, then booked back.
        let b = t
            .loyalty
            .redeem(m.id, bun.id, None, oct(14, 12))
            .await
            .unwrap();
        t.loyalty
            .cancel_voucher(m.id, &b.code, oct(15, 12))
            .await
            .unwrap();
        // The programme's coffee is honoured by the shop that takes it: the
        // wash's own 20 points are not settled, the cafe's 30 are.
        let c = t
            .loyalty
            .redeem(m.id, coffee.id, None, oct(16, 12))
            .await
            .unwrap();
        t.loyalty
            .use_voucher(&wash, &c.code, oct(17, 12))
            .await
            .unwrap();
        // Points of a shop outside the coalition are never settled.
        assert_eq!(
            sale(&t, &outsider, &m, ("O-1", "500"), oct(18, 10))
                .await
                .unwrap(),
            20
        );

        // Paying 40 points at the bakery's till (the cafe's last 20 and the
        // outsider's 20), then half the bill refunded.
        let req = taem::service::payments::PointPaymentRequest {
            request_id: "pay-1".into(),
            member_code: m.code.clone(),
            source: None,
            points: Some(40),
            amount: None,
            pay_code: None,
        };
        let pay = t
            .loyalty
            .reserve_points(&bakery, req, oct(20, 10))
            .await
            .unwrap();
        let pay = pay.into_inner();
        t.loyalty
            .answer_payment(m.id, &pay.id, true, oct(20, 10))
            .await
            .unwrap();
        t.loyalty
            .capture_points(&bakery, &pay.id, Some("B-1".into()), oct(20, 10))
            .await
            .unwrap();
        assert_eq!(
            sale(&t, &bakery, &m, ("B-1", "100"), oct(20, 10))
                .await
                .unwrap(),
            3
        );
        let refund = RefundRequest {
            refund_id: "B-1-r".into(),
            receipt_id: "B-1".into(),
            amount: "50".into(),
            currency: None,
        };
        let r = t
            .loyalty
            .record_refund(&bakery, refund, oct(22, 10))
            .await
            .unwrap();
        assert_eq!(r.into_inner().points_returned.value(), 20);

        // The wash's prepaid budget (1,000 points, 40 given) cannot cover a
        // big sale: refused, nothing recorded; after a top-up it can.
        let before = t.balance(&m).await;
        let refused = sale(&t, &wash, &m, ("W-2", "30000"), oct(25, 10)).await;
        assert!(
            matches!(
                refused,
                Err(ServiceError::Refused(Refusal::PartnerBudgetSpent { .. }))
            ),
            "{refused:?}"
        );
        assert_eq!(t.balance(&m).await, before);
        let top_up = PartnerInput {
            top_up: Some(1_000),
            ..Default::default()
        };
        t.loyalty
            .staff_set_partner(&Actor::Cli, &wash.id, &top_up, oct(25, 11))
            .await
            .unwrap();
        let big = sale(&t, &wash, &m, ("W-2", "30000"), oct(25, 12))
            .await
            .unwrap();
        let partners = t.loyalty.partners().await.unwrap();
        let w = partners
            .iter()
            .find(|p| p.partner.merchant_id == wash.id)
            .unwrap();
        assert_eq!(
            (w.partner.issued, w.left),
            (40 + big, Some(2_000 - 40 - big))
        );

        let s = t.loyalty.settlement("2026-10").await.unwrap();
        assert_eq!(pair(&s, &cafe, &bakery), (110, 2_750), "{s:?}");
        assert_eq!(pair(&s, &wash, &bakery), (20, 600), "{s:?}");
        assert_eq!(pair(&s, &cafe, &wash), (30, 750), "{s:?}");
        assert_eq!(s.pairs.len(), 3, "nothing of the outsider's: {s:?}");
        assert_eq!(net(&s, &cafe).0, -3_500);
        assert_eq!(net(&s, &bakery).0, 3_350);
        assert_eq!(net(&s, &wash).0, 150);
        assert_eq!(s.partners.iter().map(|p| p.net_minor).sum::<i64>(), 0);
        assert_eq!((s.points, s.amount_minor, s.closed_at), (160, 4_100, None));

        // Closing: not before the month has ended; then it stays as it was.
        let early = t.loyalty.close_settlement("2026-10", oct(31, 12)).await;
        assert!(
            matches!(early, Err(ServiceError::Invalid { .. })),
            "{early:?}"
        );
        let closed = t
            .loyalty
            .staff_close_settlement(&Actor::Cli, "2026-10", bkk(2026, 11, 1, 9))
            .await
            .unwrap();
        assert_eq!(closed.pairs, s.pairs);
        assert!(closed.closed_at.is_some());
        // A redemption written after the close, though dated in October (a
        // late correction), goes into November; October does not change.
        let late = partner_reward(&t, 15, &bakery).await;
        t.loyalty
            .redeem(m.id, late.id, None, oct(31, 20))
            .await
            .unwrap();
        let again = t.loyalty.settlement("2026-10").await.unwrap();
        assert_eq!(again, closed);
        // Every lot has expired by 28 November: breakage stays with issuers.
        t.loyalty.expire_due(bkk(2026, 11, 28, 12)).await.unwrap();
        let nov = t.loyalty.settlement("2026-11").await.unwrap();
        assert_eq!(pair(&nov, &cafe, &bakery), (10, 250), "{nov:?}");
        assert_eq!(nov.pairs.len(), 1, "{nov:?}");
        assert_eq!(net(&nov, &cafe), (-250, 0));
        assert_eq!(
            net(&nov, &bakery),
            (250, 2),
            "3 earned, 1 clawed back by the refund"
        );
        assert_eq!(net(&nov, &wash), (0, big));
        let wash_breakage = nov
            .partners
            .iter()
            .find(|p| p.merchant_id == wash.id)
            .unwrap();
        assert_eq!(wash_breakage.breakage_minor, big * 30);
        t.assert_ledger_holds().await;
    }
}
