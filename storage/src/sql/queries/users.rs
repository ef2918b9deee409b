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
