// --- retention ---
//
// Each kind is one `DELETE ... WHERE id IN (SELECT ... LIMIT n)` (SQLite has no `DELETE ...
// LIMIT` unless compiled for it), so one statement deletes a bounded number of rows and holds
// the write lock only that long. The deletes are idempotent: two replicas purging at once each
// delete what is still there.

pub(crate) async fn purge_round(
    pool: &Pool,
    round: &domain::store::PurgeRound,
) -> Result<domain::store::PurgeCounts, StoreError> {
    let limit = i64::from(round.limit.max(1));
    let now = Ts::new(round.now);
    // Handoffs first: a session's end is what frees its handoff, so look while it is there.
    let handoffs = sqlx::query(
        "DELETE FROM handoffs WHERE id IN (SELECT h.id FROM handoffs h \
         WHERE h.created_at < $1 AND h.link_expires_at <= $2 \
         AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = h.session_id \
         AND s.terminated = $3 AND (s.expires_at IS NULL OR s.expires_at > $2)) \
         LIMIT $4)",
    )
    .bind(Ts::new(round.handoffs_before))
    .bind(now)
    .bind(false)
    .bind(limit)
    .execute(pool)
    .await
    .map_err(backend)?
    .rows_affected();
    // A session that ended before the cutoff (its handoff goes with it, by the foreign key).
    let sessions = sqlx::query(
        "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions \
         WHERE (terminated = $2 AND changed_at < $1) \
         OR (expires_at IS NOT NULL AND expires_at < $1) \
         LIMIT $3)",
    )
    .bind(Ts::new(round.sessions_before))
    .bind(true)
    .bind(limit)
    .execute(pool)
    .await
    .map_err(backend)?
    .rows_affected();
    let codes = sqlx::query(
        "DELETE FROM recovery_codes WHERE id IN (SELECT id FROM recovery_codes \
         WHERE used_at IS NOT NULL AND used_at < $1 LIMIT $2)",
    )
    .bind(Ts::new(round.codes_before))
    .bind(limit)
    .execute(pool)
    .await
    .map_err(backend)?
    .rows_affected();
    // SECURITY: the events' delete trigger refuses every row that is not older than the
    // horizon in `event_purge`, so only this statement, after moving the horizon in the same
    // transaction, deletes from the audit log; an update or a plain delete still fails.
    let mut tx = begin_write(pool).await.map_err(backend)?;
    sqlx::query(
        "INSERT INTO event_purge (singleton, purge_before) VALUES (1, $1) \
         ON CONFLICT (singleton) DO UPDATE SET purge_before = excluded.purge_before",
    )
    .bind(Ts::new(round.events_before))
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    let events = sqlx::query(
        "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE at < $1 \
         ORDER BY at LIMIT $2)",
    )
    .bind(Ts::new(round.events_before))
    .bind(limit)
    .execute(&mut *tx)
    .await
    .map_err(backend)?
    .rows_affected();
    tx.commit().await.map_err(backend)?;
    Ok(domain::store::PurgeCounts {
        sessions,
        handoffs,
        codes,
        events,
    })
}
