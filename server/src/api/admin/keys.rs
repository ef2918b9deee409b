//! API key handlers: create, list, revoke.

use axum::{extract::State, http::StatusCode, response::IntoResponse, Json};
use domain::{input::Name, model::Scope};

use super::{
    app_types::{ApiKeyCreated, ApiKeyList, ApiKeyOut, CreateApiKey},
    id, no_content, TAG_KEYS,
};
use crate::api::{
    auth::AdminScope,
    error::ApiError,
    json::{ApiJson, ApiPath},
};
use crate::http::AppState;

/// Creates an API key; `key` is shown once.
#[utoipa::path(post, path = "/admin/v1/api-keys", tag = TAG_KEYS, request_body = CreateApiKey,
    responses((status = 201, description = "Created", body = ApiKeyCreated)))]
pub(super) async fn create_api_key(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateApiKey>,
) -> Result<impl IntoResponse, ApiError> {
    let name = Name::parse(body.name)?;
    let scopes = body.scopes.into_iter().map(Scope::from).collect();
    let (key, bearer) = state.engine.create_api_key(name, scopes).await?;
    let body = ApiKeyCreated {
        api_key: ApiKeyOut::from(&key),
        key: bearer.expose().clone(),
    };
    Ok((StatusCode::CREATED, Json(body)))
}

/// All API keys, revoked ones included.
#[utoipa::path(get, path = "/admin/v1/api-keys", tag = TAG_KEYS,
    responses((status = 200, description = "All API keys", body = ApiKeyList)))]
pub(super) async fn list_api_keys(
    _admin: AdminScope,
    State(state): State<AppState>,
) -> Result<Json<ApiKeyList>, ApiError> {
    let keys = state.engine.list_api_keys().await?;
    Ok(Json(ApiKeyList {
        api_keys: keys.iter().map(ApiKeyOut::from).collect(),
    }))
}

/// Revokes an API key; it stops authenticating at once. Revoking it again changes nothing.
#[utoipa::path(delete, path = "/admin/v1/api-keys/{key_id}", tag = TAG_KEYS,
    params(("key_id" = String, Path)),
    responses((status = 204, description = "Revoked")))]
pub(super) async fn revoke_api_key(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiPath(key_id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state.engine.revoke_api_key(&id(key_id)?).await?;
    Ok(no_content())
}
