//! The `taem` binary as an administrator uses it: commands, --json output, a
//! live server beside the CLI, a second server refused, graceful shutdown.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::Value;
use taem::http::signature;

const TAEM: &str = env!("CARGO_BIN_EXE_taem");

fn taem(dir: &std::path::Path, url: &str, args: &[&str]) -> Output {
    Command::new(TAEM)
        .args(args)
        .current_dir(dir)
        .env("DATABASE_URL", url)
        .env_remove("TAEM_HTTP_ADDR")
        .output()
        .expect("run taem")
}

fn ok_json(dir: &std::path::Path, url: &str, args: &[&str]) -> Value {
    let out = taem(dir, url, args);
    assert!(
        out.status.success(),
        "taem {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "taem {args:?} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

#[test]
fn help_documents_every_command() {
    let out = Command::new(TAEM).arg("--help").output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for cmd in [
        "serve", "migrate", "program", "campaign", "tier", "merchant", "reward", "member",
        "points", "voucher", "webhook", "expire", "report",
    ] {
        assert!(help.contains(cmd), "--help mentions {cmd}:\n{help}");
    }
}

#[tokio::test]
async fn an_administrator_sets_up_a_program_from_the_command_line() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let url = db.url.as_str();
        let d = dir.path();
        let m = ok_json(
            d,
            url,
            &[
                "merchant",
                "add",
                "--name",
                "Baan Kafe",
                "--earn",
                "2:25",
                "--json",
            ],
        );
        let id = m["id"].as_str().unwrap().to_string();
        let secret = m["webhook_secret"].as_str().unwrap().to_string();
        assert!(secret.starts_with("whsec_"));
        assert_eq!(m["earn"], "2:25");
        let list = ok_json(d, url, &["merchant", "list", "--json"]);
        assert_eq!(list[0]["id"], id.as_str());
        assert!(
            !list.to_string().contains(&secret),
            "the secret is shown only once"
        );

        let member = ok_json(d, url, &["member", "add", "--name", "Somchai", "--json"]);
        let code = member["code"].as_str().unwrap().to_string();
        let reward = ok_json(
            d,
            url,
            &[
                "reward",
                "add",
                "--name-th",
                "กาแฟ",
                "--name-en",
                "Coffee",
                "--cost",
                "30",
                "--stock",
                "2",
                "--face-value",
                "55.50",
                "--json",
            ],
        );
        assert_eq!(reward["face_value"]["amount"], "55.50");
        let rid = reward["id"].to_string();

        let adjusted = ok_json(
            d,
            url,
            &[
                "points",
                "adjust",
                &code,
                "+50",
                "--reason",
                "opening gift",
                "--json",
            ],
        );
        assert_eq!(adjusted["balance_after"], 50);
        let out = taem(
            d,
            url,
            &["points", "adjust", &code, "-60", "--reason", "too much"],
        );
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("below zero"));

        let png = d.join("v.png");
        let voucher = ok_json(
            d,
            url,
            &[
                "reward",
                "redeem",
                &code,
                &rid,
                "--qr",
                png.to_str().unwrap(),
                "--json",
            ],
        );
        assert_eq!(voucher["status"], "issued");
        assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));

        let shown = ok_json(d, url, &["member", "show", &code.to_lowercase(), "--json"]);
        assert_eq!(shown["member"]["balance"], 20);
        assert_eq!(shown["spendable"], 20);
        assert_eq!(shown["lots"][0]["remaining"], 20);
        assert_eq!(shown["vouchers"][0]["code"], voucher["code"]);
        assert_eq!(shown["entries"][0]["kind"], "redeem");
        assert_eq!(shown["entries"][1]["reference"], "opening gift");

        let text = taem(d, url, &["member", "show", &code]);
        assert!(String::from_utf8_lossy(&text.stdout).contains("balance 20"));
        let out = taem(d, url, &["member", "show", "ZZZZ2222"]);
        assert!(String::from_utf8_lossy(&out.stderr).contains("no member has the code ZZZZ2222"));

        // Other kinds: a percentage off with a cap and categories; cashback as
        // store credit of its face value, which it needs.
        let pct = ok_json(
            d,
            url,
            &[
                "reward",
                "add",
                "--name-th",
                "ลด 15%",
                "--name-en",
                "15% off",
                "--cost",
                "300",
                "--kind",
                "percent_discount",
                "--percent",
                "15",
                "--cap",
                "100",
                "--categories",
                "bakery,coffee",
                "--json",
            ],
        );
        assert_eq!(pct["kind"]["type"], "percent_discount");
        assert_eq!(pct["kind"]["percent"], "15");
        assert_eq!(pct["kind"]["cap"]["amount"], "100.00");
        assert_eq!(
            pct["kind"]["categories"],
            serde_json::json!(["bakery", "coffee"])
        );
        let cashback = [
            "reward",
            "add",
            "--name-th",
            "เครดิต",
            "--name-en",
            "Credit",
            "--cost",
            "200",
            "--kind",
            "cashback",
        ];
        let out = taem(d, url, &cashback);
        assert!(String::from_utf8_lossy(&out.stderr).contains("store credit"));
        let credit = ok_json(
            d,
            url,
            &[&cashback[..], &["--face-value", "50", "--json"]].concat(),
        );
        assert_eq!(credit["kind"]["type"], "cashback");
        assert_eq!(credit["face_value"]["amount"], "50.00");
        ok_json(
            d,
            url,
            &["reward", "disable", &credit["id"].to_string(), "--json"],
        );
        let out = taem(
            d,
            url,
            &[
                "reward",
                "add",
                "--name-th",
                "x",
                "--name-en",
                "x",
                "--cost",
                "1",
                "--kind",
                "percent_discount",
            ],
        );
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("percent"));
        ok_json(
            d,
            url,
            &["reward", "disable", &pct["id"].to_string(), "--json"],
        );

        let disabled = ok_json(d, url, &["reward", "disable", &rid, "--json"]);
        assert_eq!(disabled["active"], false);
        assert_eq!(
            ok_json(d, url, &["reward", "list", "--json"]),
            Value::Array(vec![])
        );
        let swept = ok_json(d, url, &["expire", "--json"]);
        assert_eq!(swept["points_expired"], 0);
        let program = ok_json(d, url, &["program", "set", "--pending-days", "3", "--json"]);
        assert_eq!(program["pending_days"], 3);

        // `webhook sign` prints headers that verify against the file's bytes.
        let body = d.join("p.json");
        std::fs::write(
            &body,
            br#"{"receipt_id":"R1","amount":"10","currency":"THB"}"#,
        )
        .unwrap();
        let h = ok_json(
            d,
            url,
            &[
                "webhook",
                "sign",
                "--merchant",
                &id,
                "--secret",
                &secret,
                "--path",
                "/v1/purchases",
                body.to_str().unwrap(),
                "--json",
            ],
        );
        assert_eq!(h["X-Taem-Merchant"], id.as_str());
        let now = taem::domain::time::now().timestamp();
        let raw = std::fs::read(&body).unwrap();
        let req = signature::Request {
            method: "POST",
            path: "/v1/purchases",
            body: &raw,
        };
        assert_eq!(
            signature::verify(h["X-Taem-Signature"].as_str(), &[&secret], &req, now),
            Ok(signature::Version::V2),
            "the printed signature verifies for that request"
        );
        let other = signature::Request {
            path: "/v1/refunds",
            ..req
        };
        assert!(
            signature::verify(h["X-Taem-Signature"].as_str(), &[&secret], &other, now).is_err(),
            "and for no other path"
        );
        // Without --path: the body-only v1 signature of earlier versions.
        let h = ok_json(
            d,
            url,
            &[
                "webhook",
                "sign",
                "--merchant",
                &id,
                "--secret",
                &secret,
                body.to_str().unwrap(),
                "--json",
            ],
        );
        assert_eq!(
            signature::verify(h["X-Taem-Signature"].as_str(), &[&secret], &req, now),
            Ok(signature::Version::V1)
        );
    }
}

#[test]
fn a_bad_setting_stops_taem_with_the_variable_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(TAEM)
        .args(["merchant", "list"])
        .current_dir(dir.path())
        .env("TAEM_TIMEZONE", "Asia/Atlantis")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("TAEM_TIMEZONE"), "{err}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_healthy(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
            let mut buf = String::new();
            let _ = s.read_to_string(&mut buf);
            if buf.starts_with("HTTP/1.1 200") {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("taem serve did not become healthy on port {port}");
}

#[test]
fn the_cli_works_beside_a_running_server_and_a_second_server_is_refused() {
    let db = sqlite_db();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = Command::new(TAEM)
        .arg("serve")
        .current_dir(dir.path())
        .env("DATABASE_URL", &db.url)
        .env("TAEM_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_healthy(port);

    let member = ok_json(dir.path(), &db.url, &["member", "add", "--json"]);
    assert!(member["code"].is_string(), "CLI writes while serve runs");

    let second = Command::new(TAEM)
        .arg("serve")
        .current_dir(dir.path())
        .env("DATABASE_URL", &db.url)
        .env("TAEM_HTTP_ADDR", format!("127.0.0.1:{}", free_port()))
        .output()
        .unwrap();
    assert!(!second.status.success());
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(
        err.contains("another `taem serve` is already running"),
        "{err}"
    );

    // SIGTERM: a graceful stop with a zero exit status.
    let killed = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = server.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("stopped"));
}

#[tokio::test]
async fn campaigns_and_tiers_are_managed_and_simulated_from_the_command_line() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let (d, url) = (dir.path(), db.url.as_str());
        ok_json(
            d,
            url,
            &["merchant", "add", "--name", "Baan Kafe", "--json"],
        );
        let c = ok_json(
            d,
            url,
            &[
                "campaign",
                "add",
                "--name-th",
                "แต้มคูณสอง",
                "--name-en",
                "Double weekend",
                "--text-en",
                "Double points this weekend",
                "--kind",
                "multiplier",
                "--multiplier",
                "2",
                "--starts",
                "2026-11-14",
                "--ends",
                "2026-11-15",
                "--days",
                "sat,sun",
                "--budget",
                "1000",
                "--json",
            ],
        );
        let id = c["id"].as_i64().unwrap().to_string();
        assert_eq!(
            c["window"]["starts_at"], "2026-11-13T17:00:00Z",
            "local midnight"
        );
        ok_json(
            d,
            url,
            &[
                "campaign",
                "add",
                "--name-th",
                "ลาเต้",
                "--name-en",
                "Latte bonus",
                "--kind",
                "items",
                "--sku",
                "LATTE-L",
                "--points",
                "10",
                "--starts",
                "2026-11-01",
                "--ends",
                "2026-11-30",
                "--json",
            ],
        );
        // Saturday 14 November, 10:00 in Bangkok: x2 plus two lattes.
        let sim = ok_json(
            d,
            url,
            &[
                "campaign",
                "simulate",
                "--amount",
                "1000",
                "--items",
                "LATTE-L:240:2",
                "--at",
                "2026-11-14T10:00",
                "--json",
            ],
        );
        assert_eq!(sim["points"], 100, "{sim}");
        let friday = ok_json(
            d,
            url,
            &[
                "campaign",
                "simulate",
                "--amount",
                "1000",
                "--at",
                "2026-11-13T23:59",
                "--json",
            ],
        );
        assert_eq!(friday["points"], 40);
        let list = ok_json(d, url, &["campaign", "list", "--json"]);
        assert_eq!(list.as_array().unwrap().len(), 2);
        let ended = ok_json(d, url, &["campaign", "end", &id, "--json"]);
        assert_eq!(ended["status"], "ended");
        let refused = taem(d, url, &["campaign", "broadcast", &id]);
        assert!(!refused.status.success());
        assert!(String::from_utf8_lossy(&refused.stderr).contains("has ended"));
        let bad = taem(
            d,
            url,
            &[
                "campaign",
                "add",
                "--name-th",
                "ก",
                "--name-en",
                "A",
                "--kind",
                "multiplier",
                "--multiplier",
                "20",
                "--starts",
                "2026-12-01",
                "--ends",
                "2026-12-02",
            ],
        );
        assert!(
            String::from_utf8_lossy(&bad.stderr).contains("multiplier"),
            "names the field"
        );

        let tiers = ok_json(
            d,
            url,
            &[
                "tier",
                "set",
                "gold",
                "--threshold",
                "15000",
                "--multiplier",
                "1.75",
                "--json",
            ],
        );
        let gold = tiers
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["key"] == "gold")
            .unwrap()
            .clone();
        assert_eq!(
            (
                gold["threshold_minor"].clone(),
                gold["multiplier_percent"].clone()
            ),
            (serde_json::json!(1_500_000), serde_json::json!(175))
        );
        let moves = ok_json(d, url, &["tier", "review", "--json"]);
        assert_eq!(moves, serde_json::json!([]));
        let status = ok_json(d, url, &["campaign", "status", &id, "--json"]);
        assert_eq!(status["sent"], 0);
    }
}

#[tokio::test]
async fn reports_are_read_from_the_command_line_with_the_settings_they_use() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let (d, url) = (dir.path(), db.url.as_str());
        let p = ok_json(
            d,
            url,
            &[
                "program",
                "set",
                "--point-value",
                "0.25",
                "--breakage",
                "30",
                "--json",
            ],
        );
        assert_eq!(
            (
                &p["reports"]["point_value_e4"],
                &p["reports"]["breakage_bp"]
            ),
            (&serde_json::json!(2500), &serde_json::json!(3000))
        );
        let out = taem(d, url, &["program", "set", "--abc", "95,80"]);
        assert!(String::from_utf8_lossy(&out.stderr).contains("two rising percentages"));
        let l = ok_json(d, url, &["report", "liability", "--json"]);
        assert_eq!(
            (
                &l["point_value"],
                &l["point_value_source"]["source"],
                &l["breakage_percent"]
            ),
            (
                &serde_json::json!("0.25"),
                &serde_json::json!("setting"),
                &serde_json::json!("30.00")
            )
        );
        let l = ok_json(
            d,
            url,
            &["report", "liability", "--to", "2026-01-31", "--json"],
        );
        assert_eq!(l["outstanding_points"], 0);
        assert!(l["note"].as_str().unwrap().contains("earlier day"), "{l}");
        let out = taem(d, url, &["report", "members", "--merchant", "nobody"]);
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("no merchant has the id"),
            "an unknown shop is named"
        );
        let r = ok_json(d, url, &["report", "points", "--by", "week", "--json"]);
        assert_eq!(r["by"], "week");
        assert_eq!(r["periods"].as_array().map(Vec::len), Some(12));
        let out = taem(
            d,
            url,
            &[
                "report",
                "points",
                "--csv",
                "--from",
                "2026-01-01",
                "--to",
                "2026-01-31",
            ],
        );
        let csv = String::from_utf8_lossy(&out.stdout);
        assert!(
            csv.lines()
                .nth(1)
                .unwrap_or("")
                .starts_with("2026-01,2026-01-01,2026-01-31,"),
            "{csv}"
        );
        let out = taem(d, url, &["report", "points", "--from", "2026-13-01"]);
        assert!(String::from_utf8_lossy(&out.stderr).contains("is not a date"));
    }
}

#[tokio::test]
async fn the_owner_exports_and_erases_a_member_and_runs_the_retention_sweep_from_the_shell() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let (d, url) = (dir.path(), db.url.as_str());
        let m = ok_json(
            d,
            url,
            &["member", "add", "--name", "Malee Srisuk", "--json"],
        );
        let code = m["code"].as_str().unwrap().to_string();
        let file = ok_json(d, url, &["member", "export", &code]);
        assert_eq!(file["profile"]["name"], "Malee Srisuk");
        assert_eq!(file["about"]["privacy_notice_version"], 0);
        let out = taem(d, url, &["member", "erase", &code, "--reason", ""]);
        assert!(!out.status.success(), "a reason is required");
        let e = ok_json(
            d,
            url,
            &[
                "member",
                "erase",
                &code,
                "--reason",
                "asked by e-mail",
                "--json",
            ],
        );
        assert_ne!(e["stub_code"].as_str(), Some(code.as_str()));
        let out = taem(d, url, &["member", "export", &code]);
        assert!(!out.status.success(), "nobody has that code any more");
        let log = ok_json(d, url, &["audit", "list", "--json"]);
        let actions: Vec<&str> = log
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["action"].as_str())
            .collect();
        assert!(actions.contains(&"member.export") && actions.contains(&"member.erase"));
        let off = ok_json(d, url, &["privacy", "sweep", "--json"]);
        assert_eq!(off["off"], true);
        ok_json(
            d,
            url,
            &["program", "set", "--retention-months", "12", "--json"],
        );
        let run = ok_json(d, url, &["privacy", "sweep", "--json"]);
        assert_eq!(run["erased"], 0, "nobody has been idle for a year");
        let out = taem(d, url, &["program", "set", "--retention-months", "0"]);
        assert!(!out.status.success(), "1 to 240 months, or off");
    }
}

#[tokio::test]
async fn dotenv_is_read_before_logging_starts_and_a_bad_log_setting_stops_taem() {
    let db = sqlite_db();
    let dir = tempfile::tempdir().unwrap();
    let (d, url) = (dir.path(), db.url.as_str());
    std::fs::write(d.join(".env"), "TAEM_LOG=info\nTAEM_LOG_FORMAT=json\n").unwrap();
    let out = taem(d, url, &["migrate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let first = stderr.lines().next().expect("migrations are logged");
    let line: Value = serde_json::from_str(first).unwrap_or_else(|e| panic!("{e}: {first}"));
    assert_eq!(line["level"], "INFO");
    for (env, named) in [
        ("TAEM_LOG=taem=loud\n", "TAEM_LOG"),
        ("TAEM_LOG_FORMAT=yaml\n", "TAEM_LOG_FORMAT"),
        ("TAEM_LOG=\"unclosed\n", ".env"),
    ] {
        std::fs::write(d.join(".env"), env).unwrap();
        let out = taem(d, url, &["program", "show"]);
        assert_eq!(out.status.code(), Some(2), "{env}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(named), "{env}: {stderr}");
    }
}

#[tokio::test]
async fn a_backup_taken_under_load_checks_clean_and_check_names_what_does_not_add_up() {
    let app = TestApp::spawn(sqlite_db()).await;
    let url = app.t.db.url.clone();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let members: Vec<String> = {
        let mut v = Vec::new();
        for _ in 0..5 {
            v.push(app.t.member().await.code);
        }
        v
    };
    // Purchases keep coming while the copy is taken.
    let copy = d.join("copy.db");
    let (started, go) = tokio::sync::oneshot::channel();
    let load = async {
        let mut started = Some(started);
        for i in 0..150 {
            let body = purchase(&format!("B-{i}"), "125.00", Some(&members[i % 5]));
            assert_eq!(app.post_signed("/v1/purchases", &body).await.0, 201);
            if i == 20 {
                started.take().unwrap().send(()).unwrap();
            }
        }
    };
    let backup = {
        let (d, url, copy) = (d.to_path_buf(), url.clone(), copy.clone());
        tokio::task::spawn_blocking(move || {
            go.blocking_recv().unwrap();
            taem(&d, &url, &["backup", copy.to_str().unwrap()])
        })
    };
    let ((), out) = tokio::join!(load, backup);
    let out = out.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let copy_url = format!("sqlite://{}", copy.display());
    let c = ok_json(d, &copy_url, &["check", "--json"]);
    assert_eq!(c["broken_members"], serde_json::json!([]), "{c}");
    assert!(c["members"].as_i64().unwrap() >= 5);
    let live = ok_json(d, &url, &["check", "--json"]);
    assert_eq!(live["purchases"], 150);
    let again = taem(d, &url, &["backup", copy.to_str().unwrap()]);
    assert!(!again.status.success(), "a backup never overwrites a file");

    // A balance changed by hand is named, and the check fails.
    let conn = rusqlite::Connection::open(&copy).unwrap();
    conn.execute("UPDATE members SET balance = balance + 7 WHERE id = 1", [])
        .unwrap();
    drop(conn);
    let out = taem(d, &copy_url, &["check"]);
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("member 1: balance"), "{stdout}");
    app.shutdown().await;
}

#[tokio::test]
async fn journeys_are_set_and_run_and_audiences_counted_from_the_command_line() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let (d, url) = (dir.path(), db.url.as_str());
        let j = ok_json(
            d,
            url,
            &[
                "journey",
                "set",
                "welcome",
                "--on",
                "--points",
                "20",
                "--holdout",
                "10%",
                "--json",
            ],
        );
        assert_eq!(j["enabled"], true);
        assert_eq!(j["bonus_points"], 20);
        assert_eq!(j["holdout_bp"], 1000);
        let all = ok_json(d, url, &["journey", "list", "--json"]);
        assert_eq!(all.as_array().unwrap().len(), 4);
        let text = taem(d, url, &["journey", "list"]);
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(
            text.contains("welcome      on   20 points, 10% held out"),
            "{text}"
        );
        let wrong = taem(d, url, &["journey", "set", "near-reward", "--points", "5"]);
        assert!(!wrong.status.success());
        assert!(String::from_utf8_lossy(&wrong.stderr).contains("gives nothing"));
        let wrong = taem(d, url, &["journey", "set", "anniversary", "--on"]);
        assert!(String::from_utf8_lossy(&wrong.stderr).contains("not a journey"));
        ok_json(d, url, &["member", "add", "--name", "Somchai", "--json"]);
        let run = ok_json(d, url, &["journey", "run", "--json"]);
        assert_eq!(run["journeys"][0]["journey"], "welcome", "{run}");
        let reach = ok_json(
            d,
            url,
            &["audience", "count", "--joined-within", "30", "--json"],
        );
        assert_eq!(reach["members"], 1);
        assert_eq!(reach["reachable"], 0, "no app, no consent");
        let bad = taem(d, url, &["audience", "count", "--class", "Z"]);
        assert!(String::from_utf8_lossy(&bad.stderr).contains("A, B or C"));
    }
}
