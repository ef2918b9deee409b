//! Persistence for the engine: SQLite (embedded default) and PostgreSQL (several replicas).
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod counters;
mod rows;
mod sql;
mod store;
mod ts;

use std::{path::Path, str::FromStr, time::Duration};

use sqlx::{
    postgres::{PgPool, PgPoolOptions},
    sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
    },
};

/// Why the database could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The URL names no supported backend.
    #[error("unsupported database URL (expected sqlite:… or postgres://…): {0}")]
    UnsupportedUrl(String),
    /// The database could not be reached or refused a statement.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration did not apply.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// A connection pool on one of the two supported backends. It implements
/// [`domain::store::Store`], so the server can hold it as `Arc<dyn Store>`.
#[derive(Clone, Debug)]
pub enum Database {
    /// The embedded default: one file, one writer at a time.
    Sqlite(SqlitePool),
    /// Shared by any number of server replicas.
    Postgres(PgPool),
}

impl Database {
    /// The default embedded database: `vestibule.db` in the data directory.
    pub fn sqlite_url_in(data_dir: &Path) -> String {
        format!("sqlite://{}", data_dir.join("vestibule.db").display())
    }

    /// Opens a pool for `url`. SQLite files are created when missing and run in WAL mode with
    /// foreign keys on and a busy timeout, so concurrent writers wait instead of failing.
    pub async fn connect(url: &str) -> Result<Self, StorageError> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5));
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .connect_with(options)
                .await?;
            Ok(Self::Sqlite(pool))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(5))
                .connect(url)
                .await?;
            Ok(Self::Postgres(pool))
        } else {
            Err(StorageError::UnsupportedUrl(redact_url(url)))
        }
    }

    /// Which backend this is, for logs and `/readyz`.
    pub fn backend(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }

    /// Applies the backend's migrations (idempotent).
    pub async fn migrate(&self) -> Result<(), StorageError> {
        match self {
            Self::Sqlite(pool) => sqlx::migrate!("./migrations/sqlite").run(pool).await?,
            Self::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// A round trip to the database, for readiness probes.
    pub async fn ping(&self) -> Result<(), StorageError> {
        match self {
            Self::Sqlite(pool) => sqlx::query("SELECT 1").execute(pool).await.map(|_| ())?,
            Self::Postgres(pool) => sqlx::query("SELECT 1").execute(pool).await.map(|_| ())?,
        }
        Ok(())
    }
}

/// Drops a password from a URL before it reaches an error message or a log line.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://…{}", &url[..scheme_end], &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_credentials_in_urls() {
        assert_eq!(redact_url("mysql://u:secret@host/db"), "mysql://…@host/db");
        assert_eq!(redact_url("foo:bar"), "foo:bar");
    }

    #[tokio::test]
    async fn refuses_unknown_schemes() {
        let err = Database::connect("mysql://localhost/x").await.unwrap_err();
        assert!(matches!(err, StorageError::UnsupportedUrl(_)), "{err}");
    }

    #[tokio::test]
    async fn sqlite_file_is_created_migrated_and_answers() {
        let dir = std::env::temp_dir().join(format!("vestibule-storage-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = Database::connect(&Database::sqlite_url_in(&dir))
            .await
            .unwrap();
        db.migrate().await.unwrap();
        db.migrate().await.unwrap();
        db.ping().await.unwrap();
        assert!(dir.join("vestibule.db").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
