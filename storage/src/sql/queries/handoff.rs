// --- app handoff ---

pub(crate) async fn insert_handoff(
    pool: &Pool,
    handoff: &domain::model::Handoff,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO handoffs (id, app_id, link_hash, secret_hash, redirect_uri, state, \
         login_hint, ui_locales, lifetime_seconds, created_at, link_expires_at, claimed_at, \
         browser_hash, session_id, code_hash, code_challenge, code_spent_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
    )
    .bind(&handoff.id)
    .bind(&handoff.app_id)
    .bind(&handoff.link_hash[..])
    .bind(&handoff.secret_hash[..])
    .bind(&handoff.redirect_uri)
    .bind(&handoff.state)
    .bind(&handoff.login_hint)
    .bind(&handoff.ui_locales)
    .bind(handoff.lifetime.whole_seconds())
    .bind(Ts::new(handoff.created_at))
    .bind(Ts::new(handoff.link_expires_at))
    .bind(handoff.claimed_at.map(Ts::new))
    .bind(handoff.browser_hash.as_ref().map(|h| &h[..]))
    .bind(&handoff.session_id)
    .bind(handoff.code_hash.as_ref().map(|h| &h[..]))
    .bind(&handoff.code_challenge)
    .bind(handoff.code_spent_at.map(Ts::new))
    .execute(pool)
    .await
    .map_err(|e| write_error(e, &[], "handoff"))?;
    Ok(())
}

async fn find_handoff_where(
    pool: &Pool,
    column: &str,
    hash: &[u8; 32],
) -> Result<Option<domain::model::Handoff>, StoreError> {
    let sql = format!(
        "SELECT {} FROM handoffs WHERE {column} = $1",
        crate::rows::HANDOFF_COLUMNS
    );
    let row: Option<crate::rows::HandoffRow> = sqlx::query_as(&sql)
        .bind(&hash[..])
        .fetch_optional(pool)
        .await
        .map_err(backend)?;
    row.map(crate::rows::HandoffRow::into_model).transpose()
}

pub(crate) async fn find_handoff_by_link(
    pool: &Pool,
    link_hash: &[u8; 32],
) -> Result<Option<domain::model::Handoff>, StoreError> {
    find_handoff_where(pool, "link_hash", link_hash).await
}

pub(crate) async fn find_handoff_by_secret(
    pool: &Pool,
    secret_hash: &[u8; 32],
) -> Result<Option<domain::model::Handoff>, StoreError> {
    find_handoff_where(pool, "secret_hash", secret_hash).await
}

pub(crate) async fn claim_handoff(
    pool: &Pool,
    id: &str,
    browser_hash: &[u8; 32],
    code_hash: &[u8; 32],
    now: time::OffsetDateTime,
) -> Result<bool, StoreError> {
    // SECURITY: the condition is re-checked on the newest row, so one browser wins a race.
    let done = sqlx::query(
        "UPDATE handoffs SET claimed_at = $3, browser_hash = $2, code_hash = $4 \
         WHERE id = $1 AND claimed_at IS NULL AND link_expires_at > $3",
    )
    .bind(id)
    .bind(&browser_hash[..])
    .bind(Ts::new(now))
    .bind(&code_hash[..])
    .execute(pool)
    .await
    .map_err(backend)?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn spend_handoff_code(
    pool: &Pool,
    id: &str,
    now: time::OffsetDateTime,
) -> Result<bool, StoreError> {
    // SECURITY: conditional on the newest row, so of two validates racing (on any replica)
    // exactly one spends the code.
    let done = sqlx::query(
        "UPDATE handoffs SET code_spent_at = $2 WHERE id = $1 AND code_spent_at IS NULL",
    )
    .bind(id)
    .bind(Ts::new(now))
    .execute(pool)
    .await
    .map_err(backend)?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn attach_handoff_session(
    pool: &Pool,
    id: &str,
    session_id: &str,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE handoffs SET session_id = $2 \
         WHERE id = $1 AND claimed_at IS NOT NULL AND session_id IS NULL",
    )
    .bind(id)
    .bind(session_id)
    .execute(pool)
    .await
    .map_err(|e| write_error(e, &[], "handoff"))?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn detach_handoff_session(
    pool: &Pool,
    id: &str,
    session_id: &str,
) -> Result<bool, StoreError> {
    let done =
        sqlx::query("UPDATE handoffs SET session_id = NULL WHERE id = $1 AND session_id = $2")
            .bind(id)
            .bind(session_id)
            .execute(pool)
            .await
            .map_err(backend)?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn purge_handoffs(
    pool: &Pool,
    now: time::OffsetDateTime,
) -> Result<u64, StoreError> {
    let done =
        sqlx::query("DELETE FROM handoffs WHERE claimed_at IS NULL AND link_expires_at <= $1")
            .bind(Ts::new(now))
            .execute(pool)
            .await
            .map_err(backend)?;
    Ok(done.rows_affected())
}

// --- rate-limit counters (not part of `Store`: the server's limiter uses them directly) ---

/// Counts one hit for `key` in the window starting at `window_start` and returns the window's
/// hits including this one. One statement, so concurrent hits (on any replica) never get lost.
pub(crate) async fn hit_rate_counter(
    pool: &Pool,
    key: &str,
    window_start: i64,
    expires_at: i64,
) -> Result<i64, sqlx::Error> {
    let (hits,): (i64,) = sqlx::query_as(
        "INSERT INTO rate_counters (key, window_start, hits, expires_at) VALUES ($1, $2, 1, $3) \
         ON CONFLICT (key, window_start) DO UPDATE SET hits = rate_counters.hits + 1 \
         RETURNING hits",
    )
    .bind(key)
    .bind(window_start)
    .bind(expires_at)
    .fetch_one(pool)
    .await?;
    Ok(hits)
}

/// Deletes counters whose window ended before `now` (Unix seconds).
pub(crate) async fn purge_rate_counters(pool: &Pool, now: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM rate_counters WHERE expires_at <= $1")
        .bind(now)
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}
