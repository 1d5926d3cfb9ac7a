//! Wrong guesses of codes, pruning of what is only kept for a while, and the
//! server's own keys.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::domain::guess::Failures;
use crate::domain::model::{Pruned, Secret};
use crate::store::Result;

pub(super) async fn failures(
    pool: &PgPool,
    kind: &str,
    subjects: &[String],
) -> Result<Vec<Failures>> {
    let rows: Vec<(i64, DateTime<Utc>)> = sqlx::query_as(
        "SELECT failures, last_failure_at FROM guesses WHERE kind = $1 AND subject = ANY($2)",
    )
    .bind(kind)
    .bind(subjects)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(count, last)| Failures {
            count: u32::try_from(count).unwrap_or(u32::MAX),
            last,
        })
        .collect())
}

pub(super) async fn record_failure(
    pool: &PgPool,
    kind: &str,
    subjects: &[String],
    now: DateTime<Utc>,
    forget_before: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO guesses (subject, kind, failures, last_failure_at) \
         SELECT s, $1, 1, $3 FROM UNNEST($2::TEXT[]) AS s \
         ON CONFLICT (subject, kind) DO UPDATE SET failures = CASE \
         WHEN guesses.last_failure_at <= $4 THEN 1 ELSE guesses.failures + 1 END, \
         last_failure_at = $3",
    )
    .bind(kind)
    .bind(subjects)
    .bind(now)
    .bind(forget_before)
    .execute(pool)
    .await?;
    Ok(())
}

pub(super) async fn prune(
    pool: &PgPool,
    now: DateTime<Utc>,
    events_before: DateTime<Utc>,
    guesses_before: DateTime<Utc>,
) -> Result<Pruned> {
    let mut tx = pool.begin().await?;
    let link_tokens =
        sqlx::query("DELETE FROM link_tokens WHERE expires_at < $1 OR used_at IS NOT NULL")
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    let inbound_events = sqlx::query("DELETE FROM inbound_events WHERE received_at < $1")
        .bind(events_before)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let guesses = sqlx::query("DELETE FROM guesses WHERE last_failure_at < $1")
        .bind(guesses_before)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(Pruned {
        link_tokens,
        inbound_events,
        guesses,
    })
}

pub(super) async fn server_key(
    pool: &PgPool,
    name: &str,
    candidate: &Secret,
    now: DateTime<Utc>,
) -> Result<Secret> {
    sqlx::query(
        "INSERT INTO server_keys (name, value, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(candidate.expose())
    .bind(now)
    .execute(pool)
    .await?;
    let value: String = sqlx::query_scalar("SELECT value FROM server_keys WHERE name = $1")
        .bind(name)
        .fetch_one(pool)
        .await?;
    Ok(Secret::new(value))
}
