//! The SQL behind [`domain::store::Store`], written once in `queries.rs` and compiled per backend.
//!
//! Both backends accept `$1`-style parameters, so the statements are shared. What differs is how a
//! write transaction starts and how a row is locked for a read-modify-write; each backend module
//! below supplies those before including the shared code.

pub(crate) mod sqlite {
    //! `Store` methods on a SQLite pool: one writer at a time, serialised by the database lock.

    type Db = sqlx::Sqlite;

    /// Rows are not locked individually: the write transaction holds the database's write lock.
    const FOR_UPDATE: &str = "";

    /// SECURITY: `BEGIN IMMEDIATE` takes the write lock before the first read, so two transactions
    /// can never both read a counter and then write it; a second writer waits on the busy timeout
    /// instead of failing when it tries to upgrade a read lock.
    async fn begin_write(
        pool: &sqlx::Pool<Db>,
    ) -> Result<sqlx::Transaction<'static, Db>, sqlx::Error> {
        pool.begin_with("BEGIN IMMEDIATE").await
    }

    /// A read transaction: in WAL mode it sees one snapshot for all of its statements.
    async fn begin_read(
        pool: &sqlx::Pool<Db>,
    ) -> Result<sqlx::Transaction<'static, Db>, sqlx::Error> {
        pool.begin().await
    }

    include!("queries.rs");
}

pub(crate) mod postgres {
    //! `Store` methods on a PostgreSQL pool, which several server processes may share.

    type Db = sqlx::Postgres;

    /// SECURITY: a read that precedes a write of the same row locks it, so a concurrent
    /// transaction (in this process or another replica) waits instead of working on a stale copy.
    /// `NO KEY`: no key is ever changed, and foreign key checks of other transactions (a session
    /// inserted for this user) need not wait.
    const FOR_UPDATE: &str = " FOR NO KEY UPDATE";

    /// Read committed: every conditional `UPDATE` re-checks its condition on the newest committed
    /// row after waiting for a concurrent writer, which is what makes the lockout rules atomic.
    async fn begin_write(
        pool: &sqlx::Pool<Db>,
    ) -> Result<sqlx::Transaction<'static, Db>, sqlx::Error> {
        pool.begin().await
    }

    /// A read-only snapshot shared by all statements (a page and its total agree).
    async fn begin_read(
        pool: &sqlx::Pool<Db>,
    ) -> Result<sqlx::Transaction<'static, Db>, sqlx::Error> {
        pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await
    }

    include!("queries.rs");
}
