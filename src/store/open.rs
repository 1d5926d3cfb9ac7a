//! Opening a store from a URL.

use std::sync::Arc;

use super::{Result, Store, postgres, sqlite};

/// Opens the store a `DATABASE_URL` names, applying migrations.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>> {
    Ok(if is_postgres_url(url) {
        Arc::new(postgres::PgStore::connect(url).await?)
    } else {
        Arc::new(sqlite::SqliteStore::connect(url).await?)
    })
}

/// Opens a PostgreSQL replica for reading (reports and exports): no
/// migrations, read-only transactions, the schema checked.
pub async fn connect_replica(url: &str) -> Result<Arc<dyn Store>> {
    Ok(Arc::new(postgres::PgStore::connect_replica(url).await?))
}

/// PostgreSQL URLs select the PostgreSQL store; anything else is SQLite.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}
