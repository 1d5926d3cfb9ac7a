//! Customers' data under the PDPA: marketing consent asked once after joining
//! and logged, the privacy notice, a copy of everything taem holds, and
//! erasure that leaves no trace of the person in any table while the ledger
//! stays true. On both stores.

use std::sync::Arc;

use chrono::Duration;
use taem::chat::{Conversation, Customer, Identity, Intent, Reply};
use taem::domain::Locale;
use taem::domain::model::{MemberRef, NewMember};
use taem::domain::offer::RewardKind;
use taem::domain::time::now;
use taem::domain::{Currency, Money};
use taem::service::staff::Actor;
use taem::service::{ProgramChange, PurchaseRequest};

use crate::common::*;

fn conversation(t: &TestStore) -> Conversation {
    let loyalty = taem::service::Loyalty::new(t.store.clone(), chrono_tz::Asia::Bangkok);
    Conversation::new(
        Arc::new(loyalty),
        Arc::new(taem::i18n::I18n::load().unwrap()),
        Locale::Th,
    )
}

fn on_telegram(id: i64) -> Customer {
    Customer {
        identity: Identity::Telegram(id),
        language_code: Some("en".into()),
        first_name: Some("Somchai".into()),
    }
}

/// A purchase of `amount` by the member with `code`.
fn sale(receipt: &str, amount: &str, code: &str) -> PurchaseRequest {
    PurchaseRequest {
        receipt_id: receipt.into(),
        amount: amount.into(),
        currency: "THB".into(),
        member_code: Some(code.into()),
        occurred_at: None,
        items: None,
    }
}

fn has_button(reply: &Reply, intent: &Intent) -> bool {
    reply
        .messages
        .iter()
        .flat_map(|m| m.all_buttons())
        .any(|b| &b.intent == intent)
}

#[tokio::test]
async fn a_new_member_is_asked_once_for_marketing_and_every_answer_is_logged() {
    for db in databases().await {
        let t = TestStore::open(db).await;
        let conv = conversation(&t);
        let who = on_telegram(5_100_001);
        let r = conv
            .handle(&who, Intent::Start { payload: None }, now())
            .await;
        let yes = Intent::Consent { yes: true };
        assert!(has_button(&r, &yes), "asked after joining: {}", r.plain());
        assert!(r.plain().contains("About your data"), "{}", r.plain());
        let m = t
            .store
            .member(&MemberRef::Telegram(5_100_001))
            .await
            .unwrap();
        assert!(!m.marketing_opt_in, "joining needs no marketing consent");
        let r = conv.handle(&who, Intent::Balance, now()).await;
        assert!(!has_button(&r, &yes), "asked once: {}", r.plain());

        conv.handle(&who, yes, now()).await;
        conv.handle(&who, Intent::from_text("/stop"), now()).await;
        // A notice of the shop's own: a new version, recorded with the next answer.
        t.loyalty
            .change_program(ProgramChange {
                privacy_url: Some("https://baan.example/privacy".into()),
                privacy_en: Some("Baan Kafe keeps your purchases to run your points.".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        let r = conv
            .handle(&who, Intent::from_text("/privacy"), now())
            .await;
        let text = r.plain();
        assert!(text.contains("Baan Kafe keeps your purchases"), "{text}");
        assert!(text.contains("https://baan.example/privacy"), "{text}");
        assert!(
            text.contains("You do not get our news and offers"),
            "{text}"
        );
        conv.handle(&who, Intent::from_text("subscribe"), now())
            .await;

        let log: Vec<(bool, String, Option<i64>)> = t
            .loyalty
            .consents(m.id)
            .await
            .unwrap()
            .into_iter()
            .map(|c| (c.granted, c.via, c.notice_version))
            .collect();
        assert_eq!(
            log,
            [
                (true, "telegram".to_string(), Some(0)),
                (false, "telegram".to_string(), Some(0)),
                (true, "telegram".to_string(), Some(1)),
            ],
            "{}",
            t.db.backend
        );
        let m = t
            .store
            .member(&MemberRef::Telegram(5_100_001))
            .await
            .unwrap();
        assert!(m.marketing_opt_in);
        // A bad link is refused and changes nothing.
        let bad = t
            .loyalty
            .change_program(ProgramChange {
                privacy_url: Some("baan.example/privacy".into()),
                ..Default::default()
            })
            .await;
        assert!(bad.is_err());
        let p = t.loyalty.program().await.unwrap();
        assert_eq!(p.privacy.version, 1);
    }
}

/// Every text of every row of every table, as one string per row.
async fn every_row(db: &TestDb) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if db.backend == "sqlite" {
        let path = db.url.trim_start_matches("sqlite://").to_string();
        let conn = rusqlite::Connection::open(path).unwrap();
        let tables: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for table in tables {
            let mut stmt = conn.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
            let n = stmt.column_count();
            let rows = stmt
                .query_map([], |r| {
                    let mut cells = Vec::new();
                    for i in 0..n {
                        use rusqlite::types::ValueRef;
                        cells.push(match r.get_ref(i)? {
                            ValueRef::Null => String::new(),
                            ValueRef::Integer(v) => v.to_string(),
                            ValueRef::Real(v) => v.to_string(),
                            ValueRef::Text(t) | ValueRef::Blob(t) => {
                                String::from_utf8_lossy(t).into_owned()
                            }
                        });
                    }
                    Ok(cells.join("|"))
                })
                .unwrap();
            for row in rows {
                out.push((table.clone(), row.unwrap()));
            }
        }
    } else {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
        let tables: Vec<(String,)> = sqlx::query_as(
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        for (table,) in tables {
            let sql = format!("SELECT CAST(t AS TEXT) FROM \"{table}\" t");
            let rows: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .fetch_all(&mut conn)
                .await
                .unwrap();
            out.extend(rows.into_iter().map(|(r,)| (table.clone(), r)));
        }
    }
    out
}

/// Runs `sql` on the test database directly; whether it succeeded.
async fn raw(db: &TestDb, sql: &str) -> bool {
    if db.backend == "sqlite" {
        let path = db.url.trim_start_matches("sqlite://").to_string();
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.execute(sql, []).is_ok()
    } else {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(&mut conn)
            .await
            .is_ok()
    }
}

#[tokio::test]
async fn an_erased_member_leaves_no_trace_in_any_table_and_the_ledger_stays_true() {
    for db in databases().await {
        let t = TestStore::open(db).await;
        let merchant = t.merchant().await;
        t.pay_with_points("4:1").await;
        let conv = conversation(&t);
        let (tg, line) = (7_700_123_i64, "U4f1c0ffee0ddba11c0ffee0ddba11c0f");
        let name = "Somchai Jaidee";
        let m = t
            .store
            .add_member(
                &NewMember {
                    name: Some(name.into()),
                    telegram_id: Some(tg),
                    line_id: Some(line.into()),
                    ..NewMember::default()
                },
                now(),
            )
            .await
            .unwrap();
        let who = on_telegram(tg);
        // Through the chat: consent, a phone number, a wrong claim code.
        conv.handle(&who, Intent::Consent { yes: true }, now())
            .await;
        let phone = "+66812345678";
        conv.handle(&who, Intent::ConfirmPhone { e164: phone.into() }, now())
            .await;
        conv.handle(&who, Intent::from_text("claim XXXXXXXXXX"), now())
            .await;
        // At the till and in the back office: purchases, an adjustment with a
        // reason naming them, a voucher, cashback credit, a payment waiting.
        for (i, amount) in ["2500.00", "1000.00"].into_iter().enumerate() {
            let p = sale(&format!("E-{i}"), amount, &m.code);
            t.loyalty
                .record_purchase(&merchant, p, now())
                .await
                .unwrap();
        }
        t.loyalty
            .back_office_adjust(
                &Actor::Cli,
                (&m.code, 20),
                "birthday gift for Somchai Jaidee",
                now(),
            )
            .await
            .unwrap();
        let reward = t.reward(30, None, None).await;
        t.loyalty
            .redeem(m.id, reward.id, None, now())
            .await
            .unwrap();
        let thb = |minor| Money::from_minor(minor, Currency::THB);
        let cashback = t
            .reward_of(
                20,
                (None, None),
                RewardKind::Cashback { credit: thb(1_500) },
            )
            .await;
        t.loyalty
            .redeem(m.id, cashback.id, None, now())
            .await
            .unwrap();
        let (code, _) = t.loyalty.new_pay_code(m.id, now()).await.unwrap();
        let pay = taem::service::payments::PointPaymentRequest {
            request_id: "erase-1".into(),
            member_code: m.code.clone(),
            source: None,
            points: Some(40),
            amount: None,
            pay_code: Some(code),
        };
        t.loyalty
            .reserve_points(&merchant, pay, now())
            .await
            .unwrap();
        t.loyalty.start_link(m.id, now()).await.unwrap();
        t.loyalty.refresh_segments(now()).await.unwrap();
        let before = t.store.member(&MemberRef::Id(m.id)).await.unwrap();
        assert!(before.balance.value() > 0 && before.credit_minor > 0);
        assert!(before.phone.is_some());

        // Their own copy holds it all first.
        let file = t.loyalty.personal_data(m.id, now()).await.unwrap();
        let file: serde_json::Value = serde_json::from_slice(&file).unwrap();
        assert_eq!(file["profile"]["name"], name);
        assert_eq!(file["purchases"].as_array().unwrap().len(), 2);
        assert_eq!(file["consents"][0]["granted"], true);
        assert!(file["ledger"].as_array().unwrap().len() >= 4);

        // The scan finds them before (it is a scan that can fail).
        let rows = every_row(&t.db).await;
        for id in [name, phone, line] {
            assert!(
                rows.iter().any(|(_, r)| r.contains(id)),
                "{id} not found before"
            );
        }
        let e = t
            .loyalty
            .staff_erase(
                &Actor::Cli,
                &m.code,
                "the customer asked at the counter",
                now(),
            )
            .await
            .unwrap();
        assert_eq!(
            (
                e.vouchers_cancelled,
                e.payments_released,
                e.credit_forfeited_minor
            ),
            (1, 1, 1_500),
            "{}",
            t.db.backend
        );
        assert!(e.points_forfeited > 0 && e.pushes_dropped > 0, "{e:?}");
        t.assert_ledger_holds().await;
        let stub = t.store.member(&MemberRef::Id(m.id)).await.unwrap();
        assert_eq!((stub.balance.value(), stub.credit_minor), (0, 0));
        assert!(stub.erased_at.is_some() && stub.code != m.code);

        let identifiers = [
            name.to_string(),
            "Somchai".to_string(),
            phone.to_string(),
            "812345678".to_string(),
            tg.to_string(),
            line.to_string(),
            m.code.clone(),
        ];
        for (table, row) in every_row(&t.db).await {
            for id in &identifiers {
                assert!(
                    !row.contains(id.as_str()),
                    "{}: {table} still holds {id:?}: {row}",
                    t.db.backend
                );
            }
        }
        // The ledger and the audit log stay append-only: erasure may blank
        // staff's free text, nothing else.
        for sql in [
            "UPDATE entries SET points = points + 1",
            "UPDATE entries SET reference = 'changed'",
            "DELETE FROM entries",
            "UPDATE audit_log SET action = 'changed'",
            "DELETE FROM consents",
        ] {
            assert!(!raw(&t.db, sql).await, "{}: {sql}", t.db.backend);
        }
        // Erasing again does nothing; their data is gone for every path.
        let again = t.loyalty.erase_member(m.id, "cli", now()).await.unwrap();
        assert!(again.already);
        assert!(t.loyalty.personal_data(m.id, now()).await.is_err());
        assert!(
            t.loyalty
                .staff_export(&Actor::Cli, &stub.code, now())
                .await
                .is_err()
        );
        assert!(t.store.member(&MemberRef::Telegram(tg)).await.is_err());
    }
}

#[tokio::test]
async fn a_member_gets_a_copy_of_their_data_and_erases_themselves_in_chat() {
    for db in databases().await {
        let t = TestStore::open(db).await;
        let merchant = t.merchant().await;
        let conv = conversation(&t);
        let who = on_telegram(6_200_001);
        conv.handle(&who, Intent::Start { payload: None }, now())
            .await;
        let m = t
            .store
            .member(&MemberRef::Telegram(6_200_001))
            .await
            .unwrap();
        let p = sale("C-1", "2500.00", &m.code);
        t.loyalty
            .record_purchase(&merchant, p, now())
            .await
            .unwrap();

        let r = conv.handle(&who, Intent::from_text("my data"), now()).await;
        let doc = r.messages[0].document.clone().expect("a file");
        assert!(doc.file_name.ends_with(".json"));
        let file: serde_json::Value = serde_json::from_slice(&doc.bytes).unwrap();
        assert_eq!(file["profile"]["code"], m.code.as_str());
        assert_eq!(file["profile"]["telegram_id"], 6_200_001);
        assert_eq!(file["purchases"][0]["amount_minor"], 250_000);

        // Asked first, with what they would lose; "no" changes nothing.
        let r = conv.handle(&who, Intent::from_text("/erase"), now()).await;
        assert!(
            r.plain().contains("you lose your 100 points"),
            "{}",
            r.plain()
        );
        assert!(has_button(&r, &Intent::ConfirmErase));
        conv.handle(&who, Intent::KeepData, now()).await;
        assert!(
            t.store
                .member(&MemberRef::Telegram(6_200_001))
                .await
                .is_ok()
        );
        let r = conv.handle(&who, Intent::ConfirmErase, now()).await;
        assert!(
            r.plain().contains("Your data has been erased"),
            "{}",
            r.plain()
        );
        t.assert_ledger_holds().await;
        // A second tap finds nobody, and makes nobody.
        let r = conv.handle(&who, Intent::ConfirmErase, now()).await;
        assert!(r.plain().contains("nothing to erase"), "{}", r.plain());
        assert!(
            t.store
                .member(&MemberRef::Telegram(6_200_001))
                .await
                .is_err()
        );
        let stub = t.store.member(&MemberRef::Id(m.id)).await.unwrap();
        assert_eq!(stub.balance.value(), 0);
    }
}

#[tokio::test]
async fn the_retention_sweep_anonymises_only_members_inactive_for_the_period() {
    for db in databases().await {
        let t = TestStore::open(db).await;
        let merchant = t.merchant().await;
        assert_eq!(
            t.loyalty.privacy_sweep(now()).await.unwrap(),
            None,
            "off by default"
        );
        t.loyalty
            .change_program(ProgramChange {
                retention_months: Some("24".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        let long_ago = now() - Duration::days(800);
        let add = async |at| t.store.add_member(&NewMember::default(), at).await.unwrap();
        let (idle, buyer, fresh) = (add(long_ago).await, add(long_ago).await, add(now()).await);
        let p = sale("R-1", "100.00", &buyer.code);
        t.loyalty
            .record_purchase(&merchant, p, now())
            .await
            .unwrap();
        let (_, erased) = t.loyalty.privacy_sweep(now()).await.unwrap().unwrap();
        assert_eq!(erased, 1, "{}", t.db.backend);
        let get = async |id| t.store.member(&MemberRef::Id(id)).await.unwrap();
        assert!(get(idle.id).await.erased_at.is_some());
        assert!(get(buyer.id).await.erased_at.is_none());
        assert!(get(fresh.id).await.erased_at.is_none());
        let (_, _, n) = t.loyalty.last_privacy_sweep().await.unwrap().unwrap();
        assert_eq!(n, 1);
        t.assert_ledger_holds().await;
    }
}
