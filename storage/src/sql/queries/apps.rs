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
