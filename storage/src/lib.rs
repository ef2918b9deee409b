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

use std::{
    path::{Path, PathBuf},
    str::FromStr,
    time::Duration,
};

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
    /// The embedded default: one file, one writer connection, a pool of readers.
    Sqlite(SqliteDb),
    /// Shared by any number of server replicas.
    Postgres(PgPool),
}

/// The embedded database: every write of this process goes through one connection, in the order
/// the writes asked for it; reads use a separate pool and never wait for a writer (WAL mode).
#[derive(Clone, Debug)]
pub struct SqliteDb {
    writer: SqlitePool,
    readers: SqlitePool,
    file: PathBuf,
}

/// How many read connections the embedded database keeps at most.
const SQLITE_READERS: u32 = 8;

/// SQLite truncates the WAL back to this size after a checkpoint has reset it.
pub const WAL_SIZE_LIMIT: u64 = 32 * 1024 * 1024;

impl SqliteDb {
    /// The writer pool (one connection). Writes of this process queue for it in arrival order
    /// (sqlx's pool hands out connections fairly), so they never contend for SQLite's lock.
    pub fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    /// The read pool.
    pub fn readers(&self) -> &SqlitePool {
        &self.readers
    }

    /// The database file; its WAL is the same name with `-wal` appended.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The WAL's size on disk in bytes (0 when there is none).
    pub fn wal_bytes(&self) -> u64 {
        let mut wal = self.file.clone().into_os_string();
        wal.push("-wal");
        std::fs::metadata(wal).map_or(0, |m| m.len())
    }

    /// Copies WAL frames back into the database file. `truncate` waits for readers and empties
    /// the WAL file; otherwise the checkpoint is PASSIVE and copies what readers allow. Runs on
    /// the writer connection, so it never competes with this process's writes for the lock.
    pub async fn checkpoint(&self, truncate: bool) -> Result<Checkpoint, StorageError> {
        let sql = if truncate {
            "PRAGMA wal_checkpoint(TRUNCATE)"
        } else {
            "PRAGMA wal_checkpoint(PASSIVE)"
        };
        let (busy, log, copied): (i64, i64, i64) =
            sqlx::query_as(sql).fetch_one(&self.writer).await?;
        Ok(Checkpoint {
            busy: busy != 0,
            wal_frames: log,
            copied_frames: copied,
        })
    }

    /// Closes both pools.
    pub async fn close(&self) {
        self.writer.close().await;
        self.readers.close().await;
    }

    /// Keeps the WAL small for as long as the pools are open: every `every`, once the WAL has
    /// grown past `threshold` bytes, a checkpoint of `mode` runs on the writer connection.
    ///
    /// SQLite's own automatic checkpoints are PASSIVE and can never reset the WAL while reads
    /// keep starting (each new reader pins the newest frame), so under steady load the file grows
    /// without bound. A TRUNCATE checkpoint here waits the few milliseconds until the readers of
    /// this moment are done (no write of this process can start meanwhile: it holds the writer)
    /// and then empties the file.
    pub async fn keep_wal_small(self, mode: CheckpointMode, every: Duration, threshold: u64) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if self.writer.is_closed() {
                return;
            }
            if self.wal_bytes() < threshold {
                continue;
            }
            match self.checkpoint(mode == CheckpointMode::Truncate).await {
                Ok(done) if done.busy => {
                    tracing::debug!(?done, "WAL checkpoint could not finish");
                }
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "WAL checkpoint failed"),
            }
        }
    }
}

/// Which checkpoint [`SqliteDb::keep_wal_small`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckpointMode {
    /// Copies what it can without waiting; the WAL file keeps its size until SQLite resets it.
    Passive,
    /// Waits for current readers, copies everything and truncates the WAL file to zero bytes.
    Truncate,
}

impl FromStr for CheckpointMode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "passive" => Ok(Self::Passive),
            "truncate" => Ok(Self::Truncate),
            other => Err(format!(
                "unknown checkpoint mode {other:?} (passive or truncate)"
            )),
        }
    }
}

/// What a WAL checkpoint did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// It could not finish (a reader or another process's writer held it back).
    pub busy: bool,
    /// Frames in the WAL (-1 when the database is not in WAL mode).
    pub wal_frames: i64,
    /// Frames copied back into the database file.
    pub copied_frames: i64,
}

/// Connections in use and open, per pool, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolUse {
    /// Which pool: `writer`, `readers` or `postgres`.
    pub pool: &'static str,
    /// Connections open.
    pub open: u32,
    /// Connections open and idle.
    pub idle: u32,
    /// The most the pool opens.
    pub max: u32,
}

impl Database {
    /// The default embedded database: `vestibule.db` in the data directory.
    pub fn sqlite_url_in(data_dir: &Path) -> String {
        format!("sqlite://{}", data_dir.join("vestibule.db").display())
    }

    /// Opens a pool for `url`. SQLite files are created when missing and run in WAL mode with
    /// foreign keys on and a busy timeout, so a writer in another process (the CLI) is waited
    /// for instead of failing.
    pub async fn connect(url: &str) -> Result<Self, StorageError> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5))
                .pragma("journal_size_limit", WAL_SIZE_LIMIT.to_string());
            let file = options.get_filename().to_path_buf();
            // The writer opens first, so the file and its WAL mode exist before a reader opens.
            let writer = SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(options.clone())
                .await?;
            let readers = SqlitePoolOptions::new()
                .max_connections(SQLITE_READERS)
                .connect_with(options)
                .await?;
            Ok(Self::Sqlite(SqliteDb {
                writer,
                readers,
                file,
            }))
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
            Self::Sqlite(db) => {
                sqlx::migrate!("./migrations/sqlite")
                    .run(&db.writer)
                    .await?
            }
            Self::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// A round trip to the database, for readiness probes.
    pub async fn ping(&self) -> Result<(), StorageError> {
        match self {
            Self::Sqlite(db) => sqlx::query("SELECT 1")
                .execute(&db.readers)
                .await
                .map(|_| ())?,
            Self::Postgres(pool) => sqlx::query("SELECT 1").execute(pool).await.map(|_| ())?,
        }
        Ok(())
    }

    /// Connections in use per pool, for metrics.
    pub fn pool_use(&self) -> Vec<PoolUse> {
        fn of<DB: sqlx::Database>(name: &'static str, pool: &sqlx::Pool<DB>) -> PoolUse {
            let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX);
            PoolUse {
                pool: name,
                open: pool.size(),
                idle,
                max: pool.options().get_max_connections(),
            }
        }
        match self {
            Self::Sqlite(db) => vec![of("writer", &db.writer), of("readers", &db.readers)],
            Self::Postgres(pool) => vec![of("postgres", pool)],
        }
    }

    /// The SQLite WAL's size in bytes; `None` on PostgreSQL.
    pub fn wal_bytes(&self) -> Option<u64> {
        match self {
            Self::Sqlite(db) => Some(db.wal_bytes()),
            Self::Postgres(_) => None,
        }
    }

    /// Closes every pool.
    pub async fn close(&self) {
        match self {
            Self::Sqlite(db) => db.close().await,
            Self::Postgres(pool) => pool.close().await,
        }
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
