// The statements behind every `Store` method, shared by both backends.
//
// This file is included into `sql::sqlite` and `sql::postgres`, which define `Db`, `FOR_UPDATE`,
// `begin_write` and `begin_read` first. Lock order, everywhere: the session row, then user rows,
// then recovery codes, so that PostgreSQL transactions never wait on each other in a cycle.

use domain::{
    model::{
        ApiKey, App, Event, Instance, NewEvent, RecoveryCode, Session, User, WebAuthnCredential,
    },
    store::{
        AttemptReservation, CodeChannel, EventFilter, FailureWrite, Reserved, SessionFilter,
        SessionPage, SessionQuery, SessionWrite, StoreError, TimeCompare, UserEffect,
    },
};
use sqlx::QueryBuilder;

use crate::{
    rows::{
        backend, counter_columns, fold_case, is_unique_violation, scopes_json, to_i64, write_error,
        ApiKeyRow, AppJson, AppRow, EventRow, InstanceRow, RecoveryCodeRow, SessionBody,
        SessionRow, UserRow, WebAuthnCredentialRow, API_KEY_COLUMNS, APP_COLUMNS, EVENT_COLUMNS,
        SESSION_COLUMNS, USER_COLUMNS, WEBAUTHN_COLUMNS,
    },
    ts::Ts,
};

type Pool = sqlx::Pool<Db>;
type Tx = sqlx::Transaction<'static, Db>;
type Query<'q> = sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments<'q>>;

// --- instance ---

pub(crate) async fn get_or_create_instance(
    pool: &Pool,
    candidate: &Instance,
) -> Result<Instance, StoreError> {
    let mut tx = begin_write(pool).await.map_err(backend)?;
    sqlx::query(
        "INSERT INTO instance (singleton, id, created_at) VALUES (1, $1, $2) \
         ON CONFLICT (singleton) DO NOTHING",
    )
    .bind(&candidate.id)
    .bind(Ts::new(candidate.created_at))
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    let row: InstanceRow =
        sqlx::query_as("SELECT id, created_at FROM instance WHERE singleton = 1")
            .fetch_one(&mut *tx)
            .await
            .map_err(backend)?;
    tx.commit().await.map_err(backend)?;
    Ok(row.into_model())
}

// --- users ---

const USER_UNIQUES: &[(&str, &str)] = &[("login_key", "login_name")];

/// Binds $1..$17: everything of a user that both insert and update write.
fn bind_user_profile<'q>(query: Query<'q>, user: &'q User) -> Query<'q> {
    let totp = user.totp.as_ref();
    query
        .bind(&user.id)
        .bind(&user.login_name)
        .bind(fold_case(&user.login_name))
        .bind(&user.display_name)
        .bind(&user.email)
        .bind(user.email.as_deref().map(fold_case))
        .bind(user.email_verified)
        .bind(&user.phone)
        .bind(user.phone_verified)
        .bind(&user.preferred_language)
        .bind(user.state.as_str())
        .bind(&user.password_hash)
        .bind(totp.map(|t| t.encrypted_secret.as_slice()))
        .bind(totp.is_some_and(|t| t.confirmed))
        .bind(totp.and_then(|t| t.last_used_step))
        .bind(user.otp_email_enabled)
        .bind(user.otp_sms_enabled)
}

pub(crate) async fn insert_user(pool: &Pool, user: &User) -> Result<(), StoreError> {
    let query = sqlx::query(
        "INSERT INTO users (id, login_name, login_key, display_name, email, email_key, \
         email_verified, phone, phone_verified, preferred_language, state, password_hash, \
         totp_secret, totp_confirmed, totp_last_used_step, otp_email_enabled, otp_sms_enabled, \
         created_at, updated_at, password_failures, code_failures, locked_until) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
         $18, $19, $20, $21, $22)",
    );
    bind_user_profile(query, user)
        .bind(Ts::new(user.created_at))
        .bind(Ts::new(user.updated_at))
        .bind(i64::from(user.password_failures))
        .bind(i64::from(user.code_failures))
        .bind(user.locked_until.map(Ts::new))
        .execute(pool)
        .await
        .map_err(|e| write_error(e, USER_UNIQUES, "id"))?;
    Ok(())
}

pub(crate) async fn find_user(pool: &Pool, id: &str) -> Result<Option<User>, StoreError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
    let row: Option<UserRow> = sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(backend)?;
    row.map(UserRow::into_model).transpose()
}

pub(crate) async fn find_user_by_login_name(
    pool: &Pool,
    login_name: &str,
) -> Result<Option<User>, StoreError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE login_key = $1");
    let row: Option<UserRow> = sqlx::query_as(&sql)
        .bind(fold_case(login_name))
        .fetch_optional(pool)
        .await
        .map_err(backend)?;
    row.map(UserRow::into_model).transpose()
}

pub(crate) async fn find_users_by_verified_email(
    pool: &Pool,
    email: &str,
) -> Result<Vec<User>, StoreError> {
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM users WHERE email_key = $1 AND email_verified = $2 \
         ORDER BY login_key, id"
    );
    let rows: Vec<UserRow> = sqlx::query_as(&sql)
        .bind(fold_case(email))
        .bind(true)
        .fetch_all(pool)
        .await
        .map_err(backend)?;
    rows.into_iter().map(UserRow::into_model).collect()
}

pub(crate) async fn list_users(
    pool: &Pool,
    offset: u64,
    limit: u32,
) -> Result<Vec<User>, StoreError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY login_key, id LIMIT $1 OFFSET $2");
    let rows: Vec<UserRow> = sqlx::query_as(&sql)
        .bind(page_limit(limit))
        .bind(to_i64(offset))
        .fetch_all(pool)
        .await
        .map_err(backend)?;
    rows.into_iter().map(UserRow::into_model).collect()
}

pub(crate) async fn update_user(pool: &Pool, user: &User) -> Result<(), StoreError> {
    // SECURITY: failure counters and the lock are not in this statement; only the lockout
    // methods change them, so a stale copy of the user cannot undo a lock. For the same TOTP
    // secret the last used step never goes back (a stale copy cannot re-open a used step).
    let query = sqlx::query(
        "UPDATE users SET login_name = $2, login_key = $3, display_name = $4, email = $5, \
         email_key = $6, email_verified = $7, phone = $8, phone_verified = $9, \
         preferred_language = $10, state = $11, password_hash = $12, \
         totp_last_used_step = CASE \
             WHEN totp_secret = $13 AND totp_last_used_step IS NOT NULL \
                  AND ($15 IS NULL OR totp_last_used_step > $15) \
             THEN totp_last_used_step ELSE $15 END, \
         totp_secret = $13, totp_confirmed = $14, otp_email_enabled = $16, \
         otp_sms_enabled = $17, updated_at = $18 \
         WHERE id = $1",
    );
    let done = bind_user_profile(query, user)
        .bind(Ts::new(user.updated_at))
        .execute(pool)
        .await
        .map_err(|e| write_error(e, USER_UNIQUES, "id"))?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub(crate) async fn delete_user(pool: &Pool, id: &str) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await
        .map_err(backend)?;
    Ok(done.rows_affected() > 0)
}

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

// --- recovery codes ---

pub(crate) async fn replace_recovery_codes(
    pool: &Pool,
    user_id: &str,
    codes: &[RecoveryCode],
) -> Result<(), StoreError> {
    if codes.iter().any(|code| code.user_id != user_id) {
        return Err(backend("recovery code of another user"));
    }
    let mut tx = begin_write(pool).await.map_err(backend)?;
    let sql = format!("SELECT id FROM users WHERE id = $1{FOR_UPDATE}");
    let user: Option<(String,)> = sqlx::query_as(&sql)
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
    if user.is_none() {
        return Err(StoreError::NotFound);
    }
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    for code in codes {
        sqlx::query(
            "INSERT INTO recovery_codes (id, user_id, code_hash, used_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&code.id)
        .bind(user_id)
        .bind(&code.code_hash)
        .bind(code.used_at.map(Ts::new))
        .execute(&mut *tx)
        .await
        .map_err(|e| write_error(e, &[], "recovery_code"))?;
    }
    tx.commit().await.map_err(backend)?;
    Ok(())
}

pub(crate) async fn list_recovery_codes(
    pool: &Pool,
    user_id: &str,
) -> Result<Vec<RecoveryCode>, StoreError> {
    let rows: Vec<RecoveryCodeRow> = sqlx::query_as(
        "SELECT id, user_id, code_hash, used_at FROM recovery_codes WHERE user_id = $1 ORDER BY id",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await
    .map_err(backend)?;
    Ok(rows.into_iter().map(RecoveryCodeRow::into_model).collect())
}

// --- apps ---

const APP_UNIQUES: &[(&str, &str)] = &[("app_key", "app_key")];

pub(crate) async fn insert_app(pool: &Pool, app: &App) -> Result<(), StoreError> {
    let json = AppJson::of(app)?;
    sqlx::query(
        "INSERT INTO apps (id, app_key, secret_hash, name, redirect_uris, policy, branding, \
         updated_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&app.id)
    .bind(&app.app_key)
    .bind(&app.secret_hash)
    .bind(&app.name)
    .bind(&json.redirect_uris)
    .bind(&json.policy)
    .bind(&json.branding)
    .bind(Ts::new(app.updated_at))
    .bind(Ts::new(app.created_at))
    .execute(pool)
    .await
    .map_err(|e| write_error(e, APP_UNIQUES, "id"))?;
    Ok(())
}

async fn find_app_where(pool: &Pool, column: &str, value: &str) -> Result<Option<App>, StoreError> {
    let sql = format!("SELECT {APP_COLUMNS} FROM apps WHERE {column} = $1");
    let row: Option<AppRow> = sqlx::query_as(&sql)
        .bind(value)
        .fetch_optional(pool)
        .await
        .map_err(backend)?;
    row.map(AppRow::into_model).transpose()
}

pub(crate) async fn find_app(pool: &Pool, id: &str) -> Result<Option<App>, StoreError> {
    find_app_where(pool, "id", id).await
}

pub(crate) async fn find_app_by_key(pool: &Pool, app_key: &str) -> Result<Option<App>, StoreError> {
    find_app_where(pool, "app_key", app_key).await
}

pub(crate) async fn list_apps(pool: &Pool) -> Result<Vec<App>, StoreError> {
    let sql = format!("SELECT {APP_COLUMNS} FROM apps ORDER BY name, id");
    let rows: Vec<AppRow> = sqlx::query_as(&sql)
        .fetch_all(pool)
        .await
        .map_err(backend)?;
    rows.into_iter().map(AppRow::into_model).collect()
}

pub(crate) async fn update_app(pool: &Pool, app: &App) -> Result<(), StoreError> {
    let json = AppJson::of(app)?;
    let done = sqlx::query(
        "UPDATE apps SET app_key = $2, secret_hash = $3, name = $4, redirect_uris = $5, \
         policy = $6, branding = $7, updated_at = $8 WHERE id = $1",
    )
    .bind(&app.id)
    .bind(&app.app_key)
    .bind(&app.secret_hash)
    .bind(&app.name)
    .bind(&json.redirect_uris)
    .bind(&json.policy)
    .bind(&json.branding)
    .bind(Ts::new(app.updated_at))
    .execute(pool)
    .await
    .map_err(|e| write_error(e, APP_UNIQUES, "id"))?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub(crate) async fn delete_app(pool: &Pool, id: &str) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM apps WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await
        .map_err(backend)?;
    Ok(done.rows_affected() > 0)
}

// --- API keys ---

pub(crate) async fn insert_api_key(pool: &Pool, key: &ApiKey) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO api_keys (id, name, key_hash, scopes, created_at, revoked_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&key.id)
    .bind(&key.name)
    .bind(&key.key_hash[..])
    .bind(scopes_json(&key.scopes)?)
    .bind(Ts::new(key.created_at))
    .bind(key.revoked_at.map(Ts::new))
    .execute(pool)
    .await
    .map_err(|e| write_error(e, &[("key_hash", "key_hash")], "id"))?;
    Ok(())
}

pub(crate) async fn find_api_key_by_hash(
    pool: &Pool,
    key_hash: &[u8; 32],
) -> Result<Option<ApiKey>, StoreError> {
    let sql = format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE key_hash = $1");
    let row: Option<ApiKeyRow> = sqlx::query_as(&sql)
        .bind(&key_hash[..])
        .fetch_optional(pool)
        .await
        .map_err(backend)?;
    row.map(ApiKeyRow::into_model).transpose()
}

pub(crate) async fn list_api_keys(pool: &Pool) -> Result<Vec<ApiKey>, StoreError> {
    let sql = format!("SELECT {API_KEY_COLUMNS} FROM api_keys ORDER BY created_at, id");
    let rows: Vec<ApiKeyRow> = sqlx::query_as(&sql)
        .fetch_all(pool)
        .await
        .map_err(backend)?;
    rows.into_iter().map(ApiKeyRow::into_model).collect()
}

pub(crate) async fn revoke_api_key(
    pool: &Pool,
    id: &str,
    now: time::OffsetDateTime,
) -> Result<bool, StoreError> {
    // A second revocation keeps the first time.
    let done =
        sqlx::query("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1")
            .bind(id)
            .bind(Ts::new(now))
            .execute(pool)
            .await
            .map_err(backend)?;
    Ok(done.rows_affected() > 0)
}

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

// --- app handoff ---

pub(crate) async fn insert_handoff(
    pool: &Pool,
    handoff: &domain::model::Handoff,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO handoffs (id, app_id, link_hash, secret_hash, redirect_uri, state, \
         login_hint, ui_locales, lifetime_seconds, created_at, link_expires_at, claimed_at, \
         browser_hash, session_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
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
    now: time::OffsetDateTime,
) -> Result<bool, StoreError> {
    // SECURITY: the condition is re-checked on the newest row, so one browser wins a race.
    let done = sqlx::query(
        "UPDATE handoffs SET claimed_at = $3, browser_hash = $2 \
         WHERE id = $1 AND claimed_at IS NULL AND link_expires_at > $3",
    )
    .bind(id)
    .bind(&browser_hash[..])
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

// --- WebAuthn credentials ---

const WEBAUTHN_UNIQUES: &[(&str, &str)] = &[("credential_id", "webauthn_credential")];

pub(crate) async fn insert_webauthn_credential(
    pool: &Pool,
    credential: &WebAuthnCredential,
) -> Result<(), StoreError> {
    sqlx::query(&format!(
        "INSERT INTO webauthn_credentials ({WEBAUTHN_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    ))
    .bind(&credential.id)
    .bind(&credential.user_id)
    .bind(credential.kind.as_str())
    .bind(&credential.name)
    .bind(&credential.credential_id)
    .bind(credential.credential.to_string())
    .bind(i64::from(credential.sign_count))
    .bind(credential.backup_eligible)
    .bind(credential.backed_up)
    .bind(Ts::new(credential.created_at))
    .bind(credential.last_used_at.map(Ts::new))
    .execute(pool)
    .await
    .map_err(|e| write_error(e, WEBAUTHN_UNIQUES, "webauthn_credential"))?;
    Ok(())
}

pub(crate) async fn list_webauthn_credentials(
    pool: &Pool,
    user_id: &str,
) -> Result<Vec<WebAuthnCredential>, StoreError> {
    let rows: Vec<WebAuthnCredentialRow> = sqlx::query_as(&format!(
        "SELECT {WEBAUTHN_COLUMNS} FROM webauthn_credentials WHERE user_id = $1 \
         ORDER BY created_at, id"
    ))
    .bind(user_id)
    .fetch_all(pool)
    .await
    .map_err(backend)?;
    rows.into_iter()
        .map(WebAuthnCredentialRow::into_model)
        .collect()
}

pub(crate) async fn find_webauthn_credential(
    pool: &Pool,
    credential_id: &[u8],
) -> Result<Option<WebAuthnCredential>, StoreError> {
    let row: Option<WebAuthnCredentialRow> = sqlx::query_as(&format!(
        "SELECT {WEBAUTHN_COLUMNS} FROM webauthn_credentials WHERE credential_id = $1"
    ))
    .bind(credential_id)
    .fetch_optional(pool)
    .await
    .map_err(backend)?;
    row.map(WebAuthnCredentialRow::into_model).transpose()
}

pub(crate) async fn rename_webauthn_credential(
    pool: &Pool,
    user_id: &str,
    id: &str,
    name: &str,
) -> Result<bool, StoreError> {
    let done =
        sqlx::query("UPDATE webauthn_credentials SET name = $3 WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .bind(name)
            .execute(pool)
            .await
            .map_err(backend)?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn delete_webauthn_credential(
    pool: &Pool,
    user_id: &str,
    id: &str,
) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM webauthn_credentials WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user_id)
        .execute(pool)
        .await
        .map_err(backend)?;
    Ok(done.rows_affected() > 0)
}
