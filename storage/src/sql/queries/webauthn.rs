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
