// --- lockout ---

/// Whether a counter value locks the user under `rule`, as SQL (`$n` names the limit).
fn at_limit_sql(column: &str, limit: &str) -> String {
    format!("({limit} > 0 AND {column} >= {limit})")
}

pub(crate) async fn reserve_attempt(
    pool: &Pool,
    attempt: &AttemptReservation,
) -> Result<Reserved, StoreError> {
    let now = Ts::new(attempt.now);
    let rule = attempt.limits.rule(attempt.counter);
    let lock_end = attempt
        .now
        .checked_add(rule.lock_for)
        .map(Ts::new)
        .ok_or_else(|| backend("lock end out of range"))?;
    let (column, other) = counter_columns(attempt.counter);
    // A lock that has run out (locked_until set but not in force) restarts both counters.
    let expired = "(locked_until IS NOT NULL AND locked_until <= $2)";
    let next = format!("(CASE WHEN {expired} THEN 1 ELSE {column} + 1 END)");
    // SECURITY: one conditional update decides the reservation, so parallel requests and other
    // replicas see each other's attempts before any of them evaluates its guess.
    let sql = format!(
        "UPDATE users SET {column} = {next}, \
         {other} = CASE WHEN {expired} THEN 0 ELSE {other} END, \
         locked_until = CASE WHEN {full} AND {in_force} AND locked_until > $4 THEN locked_until \
         WHEN {full} THEN $4 WHEN {expired} THEN NULL ELSE locked_until END \
         WHERE id = $1 AND (locked_until IS NULL OR locked_until <= $2 OR locked_until = $5) \
         RETURNING {column}, locked_until",
        full = at_limit_sql(&next, "$3"),
        in_force = "(locked_until IS NOT NULL AND locked_until > $2)",
    );
    // A refused reservation is re-read to tell a lock from a missing user; a lock lifted in
    // between (another request passed) is tried once more.
    for _ in 0..3 {
        let mut tx = begin_write(pool).await.map_err(backend)?;
        let reserved: Option<(i64, Option<Ts>)> = sqlx::query_as(&sql)
            .bind(&attempt.user_id)
            .bind(now)
            .bind(i64::from(rule.limit))
            .bind(lock_end)
            .bind(attempt.own_lock.map(Ts::new))
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
        if let Some((failures, locked_until)) = reserved {
            tx.commit().await.map_err(backend)?;
            return Ok(Reserved {
                failures: u32::try_from(failures).unwrap_or(u32::MAX),
                locked_until: locked_until.map(Ts::get),
            });
        }
        let lock: Option<(Option<Ts>,)> =
            sqlx::query_as("SELECT locked_until FROM users WHERE id = $1")
                .bind(&attempt.user_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        match lock {
            None => return Err(StoreError::NotFound),
            Some((Some(until),)) if until > now => {
                return Err(StoreError::Locked { until: until.get() })
            }
            Some(_) => continue,
        }
    }
    Err(backend("attempt reservation kept racing"))
}

pub(crate) async fn release_attempt(
    pool: &Pool,
    attempt: &AttemptReservation,
) -> Result<(), StoreError> {
    let (column, other) = counter_columns(attempt.counter);
    let next = format!("(CASE WHEN {column} > 0 THEN {column} - 1 ELSE 0 END)");
    let sql = format!(
        "UPDATE users SET {column} = {next}, \
         locked_until = CASE WHEN {mine} OR {theirs} THEN locked_until ELSE NULL END \
         WHERE id = $1",
        mine = at_limit_sql(&next, "$2"),
        theirs = at_limit_sql(other, "$3"),
    );
    let mut tx = begin_write(pool).await.map_err(backend)?;
    let done = sqlx::query(&sql)
        .bind(&attempt.user_id)
        .bind(i64::from(attempt.limits.rule(attempt.counter).limit))
        .bind(i64::from(attempt.limits.other(attempt.counter).limit))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    tx.commit().await.map_err(backend)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub(crate) async fn record_failure(
    pool: &Pool,
    failure: &FailureWrite,
) -> Result<Option<u32>, StoreError> {
    let mut tx = begin_write(pool).await.map_err(backend)?;
    let session = match &failure.code_challenge {
        Some((session_id, channel)) => lock_session_body(&mut tx, session_id)
            .await?
            .map(|body| (session_id, *channel, body)),
        None => None,
    };
    let position = insert_event(&mut tx, &failure.event).await?;
    let mut code_attempts = None;
    if let Some((session_id, channel, mut body)) = session {
        let challenge = match channel {
            CodeChannel::Sms => body.challenges.otp_sms.as_mut(),
            CodeChannel::Email => body.challenges.otp_email.as_mut(),
        };
        if let Some(challenge) = challenge {
            challenge.failed_attempts = challenge.failed_attempts.saturating_add(1);
            code_attempts = Some(challenge.failed_attempts);
            // The session changed (its challenge), so its sequence moves to this event: a
            // concurrent write from an older copy gets `Conflict` instead of resetting the count.
            sqlx::query("UPDATE sessions SET body = $2, sequence = $3 WHERE id = $1")
                .bind(session_id)
                .bind(body.to_text()?)
                .bind(position)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
    }
    tx.commit().await.map_err(backend)?;
    Ok(code_attempts)
}

pub(crate) async fn unlock_user(pool: &Pool, user_id: &str) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE users SET password_failures = 0, code_failures = 0, locked_until = NULL \
         WHERE id = $1",
    )
    .bind(user_id)
    .execute(pool)
    .await
    .map_err(backend)?;
    Ok(done.rows_affected() > 0)
}
