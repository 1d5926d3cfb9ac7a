//! Schema migrations for SQLite: the files of `migrations/sqlite`, embedded in the
//! binary in file-name order, applied once each and recorded in `taem_migrations`.
//!
//! Each migration runs in its own `BEGIN IMMEDIATE` transaction that first looks
//! at what is recorded, so two processes starting at once on a new database take
//! turns (the second waits on the busy timeout) and the second finds the work done.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use sha2::{Digest, Sha256};
use sqlx::migrate::MigrateError;

use super::value::{SqliteError, Ts};
use crate::domain::time::now;
use crate::store::{Result, StoreError};

/// One file of `migrations/sqlite`.
pub(super) struct Migration {
    pub(super) file: &'static str,
    pub(super) sql: &'static str,
}

/// Every file of `migrations/sqlite`, in file-name order (a test checks the list
/// against the folder). The names are the same in `migrations/postgres`.
pub(super) const MIGRATIONS: &[Migration] = &[
    Migration {
        file: "0001_core.sql",
        sql: include_str!("../../../migrations/sqlite/0001_core.sql"),
    },
    Migration {
        file: "0002_chat.sql",
        sql: include_str!("../../../migrations/sqlite/0002_chat.sql"),
    },
    Migration {
        file: "0003_line.sql",
        sql: include_str!("../../../migrations/sqlite/0003_line.sql"),
    },
    Migration {
        file: "0004_rules.sql",
        sql: include_str!("../../../migrations/sqlite/0004_rules.sql"),
    },
    Migration {
        file: "0005_outbox.sql",
        sql: include_str!("../../../migrations/sqlite/0005_outbox.sql"),
    },
    Migration {
        file: "0006_languages_settings.sql",
        sql: include_str!("../../../migrations/sqlite/0006_languages_settings.sql"),
    },
    Migration {
        file: "0007_security.sql",
        sql: include_str!("../../../migrations/sqlite/0007_security.sql"),
    },
    Migration {
        file: "0008_console.sql",
        sql: include_str!("../../../migrations/sqlite/0008_console.sql"),
    },
    Migration {
        file: "0009_reward_pictures.sql",
        sql: include_str!("../../../migrations/sqlite/0009_reward_pictures.sql"),
    },
    Migration {
        file: "0010_reward_kinds.sql",
        sql: include_str!("../../../migrations/sqlite/0010_reward_kinds.sql"),
    },
    Migration {
        file: "0011_point_payments.sql",
        sql: include_str!("../../../migrations/sqlite/0011_point_payments.sql"),
    },
    Migration {
        file: "0012_store_credit.sql",
        sql: include_str!("../../../migrations/sqlite/0012_store_credit.sql"),
    },
    Migration {
        file: "0013_reports.sql",
        sql: include_str!("../../../migrations/sqlite/0013_reports.sql"),
    },
    Migration {
        file: "0014_liability.sql",
        sql: include_str!("../../../migrations/sqlite/0014_liability.sql"),
    },
    Migration {
        file: "0015_segments.sql",
        sql: include_str!("../../../migrations/sqlite/0015_segments.sql"),
    },
    Migration {
        file: "0016_holdouts.sql",
        sql: include_str!("../../../migrations/sqlite/0016_holdouts.sql"),
    },
    Migration {
        file: "0017_privacy.sql",
        sql: include_str!("../../../migrations/sqlite/0017_privacy.sql"),
    },
    Migration {
        file: "0018_inbox.sql",
        sql: include_str!("../../../migrations/sqlite/0018_inbox.sql"),
    },
    Migration {
        file: "0019_line_quota.sql",
        sql: include_str!("../../../migrations/sqlite/0019_line_quota.sql"),
    },
    Migration {
        file: "0020_audiences.sql",
        sql: include_str!("../../../migrations/sqlite/0020_audiences.sql"),
    },
    Migration {
        file: "0021_journeys.sql",
        sql: include_str!("../../../migrations/sqlite/0021_journeys.sql"),
    },
    Migration {
        file: "0022_campaign_audiences.sql",
        sql: include_str!("../../../migrations/sqlite/0022_campaign_audiences.sql"),
    },
    Migration {
        file: "0023_partners.sql",
        sql: include_str!("../../../migrations/sqlite/0023_partners.sql"),
    },
    Migration {
        file: "0024_write_paths.sql",
        sql: include_str!("../../../migrations/sqlite/0024_write_paths.sql"),
    },
    Migration {
        file: "0025_member_spend.sql",
        sql: include_str!("../../../migrations/sqlite/0025_member_spend.sql"),
    },
    Migration {
        file: "0026_ledger_references.sql",
        sql: include_str!("../../../migrations/sqlite/0026_ledger_references.sql"),
    },
];

impl Migration {
    /// `0001_core.sql` is version 1, named `core`.
    fn version(&self) -> i64 {
        let digits: String = self.file.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().unwrap_or(0)
    }

    fn name(&self) -> &'static str {
        let stem = self.file.strip_suffix(".sql").unwrap_or(self.file);
        stem.trim_start_matches(|c: char| c.is_ascii_digit())
            .trim_start_matches('_')
    }

    fn checksum(&self) -> String {
        hex::encode(Sha256::digest(self.sql.as_bytes()))
    }
}

const TRACKING_TABLE: &str = "CREATE TABLE IF NOT EXISTS taem_migrations (
    version     INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    checksum    TEXT    NOT NULL,
    applied_at  TEXT    NOT NULL
)";

fn failed(version: i64, e: rusqlite::Error) -> StoreError {
    SqliteError::other(format!("migration {version}: {e}")).into()
}

/// Brings the schema up to date.
pub(super) fn run(conn: &mut Connection) -> Result<()> {
    run_list(conn, MIGRATIONS)
}

fn run_list(conn: &mut Connection, migrations: &[Migration]) -> Result<()> {
    for (i, m) in migrations.iter().enumerate() {
        let version = m.version();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| failed(version, e))?;
        if i == 0 {
            tx.execute_batch(TRACKING_TABLE)
                .map_err(|e| failed(version, e))?;
            adopt_sqlx_history(&tx).map_err(|e| failed(version, e))?;
            check_known(&tx, migrations)?;
        }
        let applied: Option<String> = tx
            .query_row(
                "SELECT checksum FROM taem_migrations WHERE version = ?1",
                [version],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| failed(version, e))?;
        match applied {
            // An empty digest was taken over from sqlx, which kept another kind.
            Some(sum) if sum == m.checksum() || sum.is_empty() => {}
            Some(_) => return Err(MigrateError::VersionMismatch(version).into()),
            None => {
                tx.execute_batch(m.sql).map_err(|e| failed(version, e))?;
                tx.execute(
                    "INSERT INTO taem_migrations (version, name, checksum, applied_at) \
                     VALUES (?1, ?2, ?3, ?4)",
                    params![version, m.name(), m.checksum(), Ts(now())],
                )
                .map_err(|e| failed(version, e))?;
                tracing::info!(version, name = m.name(), "applying SQLite migration");
            }
        }
        // Also keeps the tracking table made (or taken over) by the first one.
        tx.commit().map_err(|e| failed(version, e))?;
    }
    Ok(())
}

/// A database made by an earlier taem (migrated by sqlx) records its migrations
/// in `_sqlx_migrations`: take them over once, so they are not applied again.
fn adopt_sqlx_history(conn: &Connection) -> rusqlite::Result<()> {
    let ours: i64 = conn.query_row("SELECT COUNT(*) FROM taem_migrations", [], |r| r.get(0))?;
    let theirs: i64 = conn.query_row(
        "SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = '_sqlx_migrations'",
        [],
        |r| r.get(0),
    )?;
    if ours == 0 && theirs > 0 {
        conn.execute(
            "INSERT INTO taem_migrations (version, name, checksum, applied_at) \
             SELECT version, description, '', ?1 FROM _sqlx_migrations WHERE success",
            [Ts(now())],
        )?;
    }
    Ok(())
}

/// Refuses a database migrated by a newer taem (it knows migrations this one does not).
fn check_known(conn: &Connection, migrations: &[Migration]) -> Result<()> {
    let mut stmt = conn.prepare("SELECT version FROM taem_migrations ORDER BY version")?;
    let applied = stmt.query_map([], |r| r.get::<_, i64>(0))?;
    for version in applied {
        let version = version?;
        if !migrations.iter().any(|m| m.version() == version) {
            return Err(MigrateError::VersionMissing(version).into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn every_migration_file_is_embedded_in_order() {
        let root = env!("CARGO_MANIFEST_DIR");
        let sqlite = files(&format!("{root}/migrations/sqlite"));
        let embedded: Vec<String> = MIGRATIONS.iter().map(|m| m.file.to_string()).collect();
        assert_eq!(
            embedded, sqlite,
            "list every file of migrations/sqlite in MIGRATIONS"
        );
        assert_eq!(
            sqlite,
            files(&format!("{root}/migrations/postgres")),
            "both backends have the same migration files"
        );
        for m in MIGRATIONS {
            let on_disk =
                std::fs::read_to_string(format!("{root}/migrations/sqlite/{}", m.file)).unwrap();
            assert_eq!(on_disk, m.sql);
            assert!(m.version() > 0, "{} starts with its version", m.file);
        }
        assert_eq!(MIGRATIONS[0].version(), 1);
        assert_eq!(MIGRATIONS[0].name(), "core");
    }

    #[test]
    fn migrating_twice_changes_nothing_and_edits_are_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        run(&mut conn).unwrap();
        run(&mut conn).unwrap();
        let n: i64 = conn
            .query_row("SELECT COUNT(*) FROM taem_migrations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, MIGRATIONS.len() as i64);
        let mut edited: Vec<Migration> = MIGRATIONS
            .iter()
            .map(|m| Migration {
                file: m.file,
                sql: m.sql,
            })
            .collect();
        edited[0].sql = "SELECT 1;";
        assert!(matches!(
            run_list(&mut conn, &edited),
            Err(StoreError::Migrate(MigrateError::VersionMismatch(1)))
        ));
        conn.execute(
            "INSERT INTO taem_migrations VALUES (99, 'future', '', '')",
            [],
        )
        .unwrap();
        assert!(matches!(
            run(&mut conn),
            Err(StoreError::Migrate(MigrateError::VersionMissing(99)))
        ));
    }

    #[test]
    fn members_before_the_consent_log_keep_their_choice_recorded_as_migrated() {
        let mut conn = Connection::open_in_memory().unwrap();
        let privacy = MIGRATIONS
            .iter()
            .position(|m| m.file == "0017_privacy.sql")
            .unwrap();
        run_list(&mut conn, &MIGRATIONS[..privacy]).unwrap();
        conn.execute_batch(
            "INSERT INTO members (code, marketing_opt_in, created_at) VALUES \
             ('AAAA2222', 1, '2025-01-01T00:00:00.000Z'), ('BBBB3333', 0, '2025-02-01T00:00:00.000Z');",
        )
        .unwrap();
        run(&mut conn).unwrap();
        let log: Vec<(String, bool, String)> = conn
            .prepare(
                "SELECT m.code, c.granted, c.via FROM consents c \
                 JOIN members m ON m.id = c.member_id ORDER BY m.code",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            log,
            [
                ("AAAA2222".to_string(), true, "migrated".to_string()),
                ("BBBB3333".to_string(), false, "migrated".to_string()),
            ]
        );
        let asked: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM members WHERE consent_asked_at IS NOT NULL",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(asked, 2, "members from before are not asked again");
        // The consent log is append-only.
        assert!(conn.execute("UPDATE consents SET granted = 0", []).is_err());
    }

    #[test]
    fn a_database_migrated_by_sqlx_is_taken_over() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(MIGRATIONS[0].sql).unwrap();
        conn.execute_batch(
            "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, \
             installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, success BOOLEAN NOT NULL, \
             checksum BLOB NOT NULL, execution_time BIGINT NOT NULL); \
             INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (1, 'core', TRUE, x'00', 1);",
        )
        .unwrap();
        run(&mut conn).unwrap();
        let name: String = conn
            .query_row(
                "SELECT name FROM taem_migrations WHERE version = 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(name, "core");
    }
}
