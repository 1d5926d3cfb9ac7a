//! PostgreSQL store (being written).

use super::Result;

pub struct PgStore;

impl PgStore {
    pub async fn connect(_url: &str) -> Result<std::sync::Arc<dyn super::Store>> {
        Err(super::StoreError::Corrupt(
            "PostgreSQL store not written yet".into(),
        ))
    }
}
