// --- sessions and the event log ---

/// Appends one event and returns its position.
async fn insert_event(tx: &mut Tx, event: &NewEvent) -> Result<i64, StoreError> {
    let (position,): (i64,) = sqlx::query_as(
        "INSERT INTO events (at, session_id, user_id, app_id, client_ip, kind, outcome, error_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(Ts::new(event.at))
    .bind(&event.session_id)
    .bind(&event.user_id)
    .bind(&event.app_id)
    .bind(&event.client_ip)
    .bind(&event.kind)
    .bind(event.outcome.as_str())
    .bind(&event.error_id)
    .fetch_one(&mut **tx)
    .await
    .map_err(backend)?;
    Ok(position)
}

/// The session's JSON document, with the row locked for the rest of the transaction.
async fn lock_session_body(
    tx: &mut Tx,
    session_id: &str,
) -> Result<Option<SessionBody>, StoreError> {
    let sql = format!("SELECT body FROM sessions WHERE id = $1{FOR_UPDATE}");
    let row: Option<(String,)> = sqlx::query_as(&sql)
        .bind(session_id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(backend)?;
    row.map(|(body,)| SessionBody::parse(&body)).transpose()
}

/// Applies one user change inside a session write; any error rolls the whole write back.
async fn apply_effect(tx: &mut Tx, effect: &UserEffect) -> Result<(), StoreError> {
    match effect {
        UserEffect::ResetFailures {
            user_id,
            counter,
            limits,
        } => {
            let (column, other) = counter_columns(*counter);
            let sql = format!(
                "UPDATE users SET {column} = 0, \
                 locked_until = CASE WHEN {theirs} THEN locked_until ELSE NULL END WHERE id = $1",
                theirs = at_limit_sql(other, "$2"),
            );
            let done = sqlx::query(&sql)
                .bind(user_id)
                .bind(i64::from(limits.other(*counter).limit))
                .execute(&mut **tx)
                .await
                .map_err(backend)?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(())
        }
        UserEffect::UseTotpStep { user_id, step } => {
            // SECURITY: single use per step; the condition is re-checked on the newest row.
            let done = sqlx::query(
                "UPDATE users SET totp_last_used_step = $2 WHERE id = $1 \
                 AND totp_secret IS NOT NULL \
                 AND (totp_last_used_step IS NULL OR totp_last_used_step < $2)",
            )
            .bind(user_id)
            .bind(*step)
            .execute(&mut **tx)
            .await
            .map_err(backend)?;
            if done.rows_affected() > 0 {
                return Ok(());
            }
            let enrolled: Option<(String,)> =
                sqlx::query_as("SELECT id FROM users WHERE id = $1 AND totp_secret IS NOT NULL")
                    .bind(user_id)
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(backend)?;
            Err(if enrolled.is_some() {
                StoreError::Replayed
            } else {
                StoreError::NotFound
            })
        }
        UserEffect::UseRecoveryCode { code_id, now } => {
            // SECURITY: single use; the condition is re-checked on the newest row.
            let done = sqlx::query(
                "UPDATE recovery_codes SET used_at = $2 WHERE id = $1 AND used_at IS NULL",
            )
            .bind(code_id)
            .bind(Ts::new(*now))
            .execute(&mut **tx)
            .await
            .map_err(backend)?;
            if done.rows_affected() > 0 {
                return Ok(());
            }
            let exists: Option<(String,)> =
                sqlx::query_as("SELECT id FROM recovery_codes WHERE id = $1")
                    .bind(code_id)
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(backend)?;
            Err(if exists.is_some() {
                StoreError::Replayed
            } else {
                StoreError::NotFound
            })
        }
        UserEffect::SetPasswordHash { user_id, hash } => {
            let done = sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
                .bind(user_id)
                .bind(hash)
                .execute(&mut **tx)
                .await
                .map_err(backend)?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(())
        }
        UserEffect::UseWebAuthnCredential {
            credential_id,
            sign_count,
            backup_eligible,
            backed_up,
            credential,
            now,
        } => {
            // SECURITY: a counter that did not rise (when either side counts) is a cloned
            // authenticator or a concurrent use; a removed credential matches no row. Both are
            // decided on the newest row.
            let done = sqlx::query(
                "UPDATE webauthn_credentials SET sign_count = $2, backup_eligible = $3, \
                 backed_up = $4, credential = $5, last_used_at = $6 WHERE id = $1 \
                 AND ((sign_count = 0 AND $2 = 0) OR sign_count < $2)",
            )
            .bind(credential_id)
            .bind(i64::from(*sign_count))
            .bind(*backup_eligible)
            .bind(*backed_up)
            .bind(credential.to_string())
            .bind(Ts::new(*now))
            .execute(&mut **tx)
            .await
            .map_err(backend)?;
            if done.rows_affected() == 0 {
                return Err(StoreError::Replayed);
            }
            Ok(())
        }
    }
}

pub(crate) async fn write_session(pool: &Pool, write: &SessionWrite) -> Result<i64, StoreError> {
    if write.events.is_empty() {
        return Err(backend("a session write needs at least one event"));
    }
    let session = &write.session;
    let body = SessionBody::of(session).to_text()?;
    let fingerprint = session
        .user_agent
        .as_ref()
        .and_then(|agent| agent.fingerprint_id.as_deref());

    let mut tx = begin_write(pool).await.map_err(backend)?;
    let mut sequence = 0;
    for event in &write.events {
        sequence = insert_event(&mut tx, event).await?;
    }

    match write.expected_sequence {
        None => {
            sqlx::query(
                "INSERT INTO sessions (id, token_hash, user_id, creator, fingerprint_id, app_id, \
                 body, sequence, changed_at, expires_at, terminated, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .bind(&session.id)
            .bind(&session.token_hash[..])
            .bind(session.user_id())
            .bind(&session.creator)
            .bind(fingerprint)
            .bind(&session.app_id)
            .bind(&body)
            .bind(sequence)
            .bind(Ts::new(session.changed_at))
            .bind(session.expires_at.map(Ts::new))
            .bind(session.terminated)
            .bind(Ts::new(session.created_at))
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Conflict
                } else {
                    write_error(e, &[], "id")
                }
            })?;
        }
        Some(expected) => {
            // SECURITY: optimistic concurrency: only the writer that read the newest sequence
            // wins; PostgreSQL re-checks the condition after waiting for a concurrent writer.
            let done = sqlx::query(
                "UPDATE sessions SET token_hash = $2, user_id = $3, creator = $4, \
                 fingerprint_id = $5, app_id = $6, body = $7, sequence = $8, changed_at = $9, \
                 expires_at = $10, terminated = $11 WHERE id = $1 AND sequence = $12",
            )
            .bind(&session.id)
            .bind(&session.token_hash[..])
            .bind(session.user_id())
            .bind(&session.creator)
            .bind(fingerprint)
            .bind(&session.app_id)
            .bind(&body)
            .bind(sequence)
            .bind(Ts::new(session.changed_at))
            .bind(session.expires_at.map(Ts::new))
            .bind(session.terminated)
            .bind(expected)
            .execute(&mut *tx)
            .await
            .map_err(|e| write_error(e, &[], "id"))?;
            if done.rows_affected() == 0 {
                let exists: Option<(String,)> =
                    sqlx::query_as("SELECT id FROM sessions WHERE id = $1")
                        .bind(&session.id)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(backend)?;
                return Err(if exists.is_some() {
                    StoreError::Conflict
                } else {
                    StoreError::NotFound
                });
            }
        }
    }

    for effect in &write.user_effects {
        apply_effect(&mut tx, effect).await?;
    }
    if let Some(handoff_id) = &write.attach_to_handoff {
        // The session is the hosted login's only while the handoff has none: of two first
        // requests of one browser, the second one's write is rolled back whole.
        let done = sqlx::query(
            "UPDATE handoffs SET session_id = $2 \
             WHERE id = $1 AND claimed_at IS NOT NULL AND session_id IS NULL",
        )
        .bind(handoff_id)
        .bind(&session.id)
        .execute(&mut *tx)
        .await
        .map_err(|e| write_error(e, &[], "handoff"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict);
        }
    }
    tx.commit().await.map_err(backend)?;
    Ok(sequence)
}

pub(crate) async fn find_session(pool: &Pool, id: &str) -> Result<Option<Session>, StoreError> {
    let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1");
    let row: Option<SessionRow> = sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(backend)?;
    row.map(SessionRow::into_model).transpose()
}

fn comparison(compare: TimeCompare) -> &'static str {
    match compare {
        TimeCompare::Equals => " = ",
        TimeCompare::Greater => " > ",
        TimeCompare::GreaterOrEquals => " >= ",
        TimeCompare::Less => " < ",
        TimeCompare::LessOrEquals => " <= ",
    }
}

/// Appends the WHERE clause of a session search; every value is a bound parameter.
fn push_session_filters<'a>(builder: &mut QueryBuilder<'a, Db>, filters: &'a [SessionFilter]) {
    // A terminated session is gone for every search.
    builder.push(" WHERE terminated = ").push_bind(false);
    for filter in filters {
        match filter {
            SessionFilter::Ids(ids) if ids.is_empty() => {
                builder.push(" AND 1 = 0");
            }
            SessionFilter::Ids(ids) => {
                builder.push(" AND id IN (");
                let mut list = builder.separated(", ");
                for id in ids {
                    list.push_bind(id.as_str());
                }
                list.push_unseparated(")");
            }
            SessionFilter::UserId(user_id) => {
                builder.push(" AND user_id = ").push_bind(user_id.as_str());
            }
            SessionFilter::CreationDate(compare, at) => {
                builder
                    .push(" AND created_at")
                    .push(comparison(*compare))
                    .push_bind(Ts::new(*at));
            }
            SessionFilter::Creator(creator) => {
                builder.push(" AND creator = ").push_bind(creator.as_str());
            }
            SessionFilter::UserAgentFingerprint(fingerprint) => {
                builder
                    .push(" AND fingerprint_id = ")
                    .push_bind(fingerprint.as_str());
            }
            SessionFilter::ExpirationDate(compare, at) => {
                builder
                    .push(" AND expires_at IS NOT NULL AND expires_at")
                    .push(comparison(*compare))
                    .push_bind(Ts::new(*at));
            }
        }
    }
}

pub(crate) async fn list_sessions(
    pool: &Pool,
    query: &SessionQuery,
) -> Result<SessionPage, StoreError> {
    let mut tx = begin_read(pool).await.map_err(backend)?;

    let mut count = QueryBuilder::<Db>::new("SELECT COUNT(*) FROM sessions");
    push_session_filters(&mut count, &query.filters);
    let total: i64 = count
        .build_query_scalar()
        .fetch_one(&mut *tx)
        .await
        .map_err(backend)?;

    let mut page = QueryBuilder::<Db>::new(format!("SELECT {SESSION_COLUMNS} FROM sessions"));
    push_session_filters(&mut page, &query.filters);
    page.push(if query.ascending {
        " ORDER BY created_at ASC, id ASC"
    } else {
        " ORDER BY created_at DESC, id DESC"
    });
    page.push(" LIMIT ")
        .push_bind(page_limit(query.limit))
        .push(" OFFSET ")
        .push_bind(to_i64(query.offset));
    let rows: Vec<SessionRow> = page
        .build_query_as()
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?;
    tx.commit().await.map_err(backend)?;

    Ok(SessionPage {
        total: u64::try_from(total).unwrap_or_default(),
        sessions: rows
            .into_iter()
            .map(SessionRow::into_model)
            .collect::<Result<_, _>>()?,
    })
}

pub(crate) async fn append_events(pool: &Pool, events: &[NewEvent]) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let mut tx = begin_write(pool).await.map_err(backend)?;
    for event in events {
        insert_event(&mut tx, event).await?;
    }
    tx.commit().await.map_err(backend)?;
    Ok(())
}

pub(crate) async fn list_events(
    pool: &Pool,
    filter: &EventFilter,
) -> Result<Vec<Event>, StoreError> {
    let mut builder = QueryBuilder::<Db>::new(format!("SELECT {EVENT_COLUMNS} FROM events"));
    builder.push(" WHERE id > ").push_bind(filter.after);
    if let Some(session_id) = &filter.session_id {
        builder
            .push(" AND session_id = ")
            .push_bind(session_id.as_str());
    }
    if let Some(user_id) = &filter.user_id {
        builder.push(" AND user_id = ").push_bind(user_id.as_str());
    }
    builder
        .push(" ORDER BY id LIMIT ")
        .push_bind(page_limit(filter.limit));
    let rows: Vec<EventRow> = builder
        .build_query_as()
        .fetch_all(pool)
        .await
        .map_err(backend)?;
    rows.into_iter().map(EventRow::into_model).collect()
}

/// A page size for SQL; 0 means no limit (callers apply their own defaults and maxima).
fn page_limit(limit: u32) -> i64 {
    if limit == 0 {
        i64::MAX
    } else {
        i64::from(limit)
    }
}
