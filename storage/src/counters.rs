//! Shared counters for rate limiting: one row per key and fixed time window, incremented
//! atomically in the database so that every replica sees the same count.

use crate::{sql, Database, StorageError};

impl Database {
    /// Counts a hit for `key` in the window that starts at `window_start` (Unix seconds) and
    /// returns the hits of that window so far, this one included. The row may be deleted by
    /// [`Database::purge_rate_counters`] from `expires_at` (Unix seconds) on.
    pub async fn hit_rate_counter(
        &self,
        key: &str,
        window_start: i64,
        expires_at: i64,
    ) -> Result<i64, StorageError> {
        Ok(match self {
            Self::Sqlite(db) => {
                sql::sqlite::hit_rate_counter(db.writer(), key, window_start, expires_at).await?
            }
            Self::Postgres(pool) => {
                sql::postgres::hit_rate_counter(pool, key, window_start, expires_at).await?
            }
        })
    }

    /// Deletes counters that expired at or before `now` (Unix seconds); returns how many.
    pub async fn purge_rate_counters(&self, now: i64) -> Result<u64, StorageError> {
        Ok(match self {
            Self::Sqlite(db) => sql::sqlite::purge_rate_counters(db.writer(), now).await?,
            Self::Postgres(pool) => sql::postgres::purge_rate_counters(pool, now).await?,
        })
    }
}
