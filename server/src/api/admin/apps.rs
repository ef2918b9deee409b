//! App handlers: register, list, read, change, rotate the secret, delete.

use axum::{extract::State, http::StatusCode, response::IntoResponse, Json};
use domain::{
    input::Name,
    model::LoginPolicy,
    service::{AppChanges, NewApp},
};

use super::{
    app_types::{branding, AppCreated, AppList, AppOut, AppSecretRotated, CreateApp, UpdateApp},
    id, no_content, optional, redirect_uris, TAG_APPS,
};
use crate::api::{
    auth::AdminScope,
    error::ApiError,
    json::{ApiJson, ApiPath},
};
use crate::http::AppState;

/// Registers an app; the response holds its secret, shown once.
#[utoipa::path(post, path = "/admin/v1/apps", tag = TAG_APPS, request_body = CreateApp,
    responses((status = 201, description = "Created", body = AppCreated)))]
pub(super) async fn create_app(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateApp>,
) -> Result<impl IntoResponse, ApiError> {
    let new = NewApp {
        name: Name::parse(body.name)?,
        redirect_uris: redirect_uris(body.redirect_uris)?,
        policy: body.policy.map(LoginPolicy::from).unwrap_or_default(),
        branding: branding(body.branding.unwrap_or_default())?,
    };
    let (app, secret) = state.engine.create_app(new).await?;
    let body = AppCreated {
        app: AppOut::from(&app),
        app_secret: secret.expose().clone(),
    };
    Ok((StatusCode::CREATED, Json(body)))
}

/// All apps.
#[utoipa::path(get, path = "/admin/v1/apps", tag = TAG_APPS,
    responses((status = 200, description = "All apps", body = AppList)))]
pub(super) async fn list_apps(
    _admin: AdminScope,
    State(state): State<AppState>,
) -> Result<Json<AppList>, ApiError> {
    let apps = state.engine.list_apps().await?;
    Ok(Json(AppList {
        apps: apps.iter().map(AppOut::from).collect(),
    }))
}

/// Reads one app.
#[utoipa::path(get, path = "/admin/v1/apps/{app_id}", tag = TAG_APPS,
    params(("app_id" = String, Path)),
    responses((status = 200, description = "The app", body = AppOut)))]
pub(super) async fn get_app(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiPath(app_id): ApiPath<String>,
) -> Result<Json<AppOut>, ApiError> {
    let app = state.engine.get_app(&id(app_id)?).await?;
    Ok(Json(AppOut::from(&app)))
}

/// Changes the name, redirect URIs, policy or branding.
#[utoipa::path(patch, path = "/admin/v1/apps/{app_id}", tag = TAG_APPS,
    params(("app_id" = String, Path)), request_body = UpdateApp,
    responses((status = 200, description = "The changed app", body = AppOut)))]
pub(super) async fn update_app(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiPath(app_id): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateApp>,
) -> Result<Json<AppOut>, ApiError> {
    let app_id = id(app_id)?;
    let changes = AppChanges {
        name: optional(body.name, Name::parse)?,
        redirect_uris: body.redirect_uris.map(redirect_uris).transpose()?,
        policy: body.policy.map(LoginPolicy::from),
        branding: body.branding.map(branding).transpose()?,
    };
    let app = state.engine.update_app(&app_id, changes).await?;
    Ok(Json(AppOut::from(&app)))
}

/// Replaces the app secret; the old one stops working at once.
#[utoipa::path(post, path = "/admin/v1/apps/{app_id}/rotate-secret", tag = TAG_APPS,
    params(("app_id" = String, Path)),
    responses((status = 200, description = "The new secret, shown once", body = AppSecretRotated)))]
pub(super) async fn rotate_app_secret(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiPath(app_id): ApiPath<String>,
) -> Result<Json<AppSecretRotated>, ApiError> {
    let app_id = id(app_id)?;
    let secret = state.engine.rotate_app_secret(&app_id).await?;
    let app = state.engine.get_app(&app_id).await?;
    Ok(Json(AppSecretRotated {
        id: app.id,
        app_key: app.app_key,
        app_secret: secret.expose().clone(),
    }))
}

/// Deletes an app.
#[utoipa::path(delete, path = "/admin/v1/apps/{app_id}", tag = TAG_APPS,
    params(("app_id" = String, Path)),
    responses((status = 204, description = "Deleted")))]
pub(super) async fn delete_app(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiPath(app_id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state.engine.delete_app(&id(app_id)?).await?;
    Ok(no_content())
}
