//! Admin API for WebAuthn: registering passkeys and security keys for a user (start, then finish
//! with the browser's credential), listing, renaming and removing them. Merged into the admin
//! router, so the same key scope, rate limits and `no-store` apply.

use axum::{extract::State, http::StatusCode, response::IntoResponse, Json};
use domain::{
    input::Id,
    model::WebAuthnKind,
    service::{WebAuthnCredentialView, WebAuthnRegistration},
};
use serde::{Deserialize, Serialize};
use time::{format_description::well_known::Rfc3339, OffsetDateTime};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    auth::AdminScope,
    error::ApiError,
    json::{ApiJson, ApiPath},
};
use crate::http::AppState;

const TAG: &str = "admin: WebAuthn";

/// What a credential is registered as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// User verification required; discoverable where the authenticator can.
    Passkey,
    /// A second factor; user verification preferred.
    SecurityKey,
}

impl From<CredentialKind> for WebAuthnKind {
    fn from(k: CredentialKind) -> Self {
        match k {
            CredentialKind::Passkey => Self::Passkey,
            CredentialKind::SecurityKey => Self::SecurityKey,
        }
    }
}

impl From<WebAuthnKind> for CredentialKind {
    fn from(k: WebAuthnKind) -> Self {
        match k {
            WebAuthnKind::Passkey => Self::Passkey,
            WebAuthnKind::SecurityKey => Self::SecurityKey,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRegistration {
    pub kind: CredentialKind,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegistrationStarted {
    /// Send it back with the finish call; valid for this user for five minutes.
    pub registration_id: String,
    /// `CreationChallengeResponse` for `navigator.credentials.create()` (binary fields base64url).
    #[schema(value_type = Object)]
    pub options: serde_json::Value,
    /// RFC 3339.
    pub expires_at: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FinishRegistration {
    pub registration_id: String,
    /// The `RegisterPublicKeyCredential` from the browser (binary fields base64url).
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
    /// At most 100 characters; a default name when absent.
    pub name: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameCredential {
    /// 1–100 characters once trimmed, no control characters.
    #[schema(
        pattern = "^ *[^\\s\\u0000-\\u001f\\u007f-\\u009f](?:[^\\u0000-\\u001f\\u007f-\\u009f]{0,98}[^\\s\\u0000-\\u001f\\u007f-\\u009f])? *$"
    )]
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialOut {
    pub id: String,
    pub kind: CredentialKind,
    pub name: String,
    /// The authenticator may sync the credential to other devices.
    pub backup_eligible: bool,
    /// The credential is synced.
    pub backed_up: bool,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339; absent until first used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialList {
    pub credentials: Vec<CredentialOut>,
}

fn rfc3339(t: OffsetDateTime) -> String {
    let t = t
        .replace_nanosecond(t.nanosecond() / 1_000 * 1_000)
        .unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_default()
}

impl From<&WebAuthnCredentialView> for CredentialOut {
    fn from(c: &WebAuthnCredentialView) -> Self {
        Self {
            id: c.id.clone(),
            kind: c.kind.into(),
            name: c.name.clone(),
            backup_eligible: c.backup_eligible,
            backed_up: c.backed_up,
            created_at: rfc3339(c.created_at),
            last_used_at: c.last_used_at.map(rfc3339),
        }
    }
}

impl From<WebAuthnRegistration> for RegistrationStarted {
    fn from(r: WebAuthnRegistration) -> Self {
        Self {
            registration_id: r.registration_id,
            options: r.options,
            expires_at: rfc3339(r.expires_at),
        }
    }
}

fn id(raw: String) -> Result<String, ApiError> {
    Ok(Id::parse(raw)?.as_str().to_owned())
}

/// Starts registering a passkey or security key for the user.
#[utoipa::path(post, path = "/admin/v1/users/{user_id}/webauthn/registrations", tag = TAG,
    params(("user_id" = String, Path)), request_body = StartRegistration,
    responses((status = 201, description = "Options for the browser", body = RegistrationStarted),
              (status = 501, description = "WebAuthn is off on this server (`SESSION-Wan00`)", body = super::openapi::ErrorBody)))]
async fn start_registration(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiPath(user_id): ApiPath<String>,
    ApiJson(body): ApiJson<StartRegistration>,
) -> Result<impl IntoResponse, ApiError> {
    let started = state
        .engine
        .start_webauthn_registration(&id(user_id)?, body.kind.into())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(RegistrationStarted::from(started)),
    ))
}

/// Finishes a registration with the browser's credential and stores it.
#[utoipa::path(post, path = "/admin/v1/users/{user_id}/webauthn/credentials", tag = TAG,
    params(("user_id" = String, Path)), request_body = FinishRegistration,
    responses((status = 201, description = "Registered", body = CredentialOut),
              (status = 409, description = "Already registered (`COMMAND-Wan07`)", body = super::openapi::ErrorBody)))]
async fn finish_registration(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiPath(user_id): ApiPath<String>,
    ApiJson(body): ApiJson<FinishRegistration>,
) -> Result<impl IntoResponse, ApiError> {
    if !body.credential.is_object() {
        return Err(domain::DomainError::InvalidField {
            field: "credential",
            reason: "an object is required",
        }
        .into());
    }
    let view = state
        .engine
        .finish_webauthn_registration(
            &id(user_id)?,
            &body.registration_id,
            &body.credential,
            body.name,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(CredentialOut::from(&view))))
}

/// The user's passkeys and security keys, oldest first.
#[utoipa::path(get, path = "/admin/v1/users/{user_id}/webauthn/credentials", tag = TAG,
    params(("user_id" = String, Path)),
    responses((status = 200, description = "The credentials", body = CredentialList)))]
async fn list_credentials(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiPath(user_id): ApiPath<String>,
) -> Result<Json<CredentialList>, ApiError> {
    let list = state
        .engine
        .list_webauthn_credentials(&id(user_id)?)
        .await?;
    Ok(Json(CredentialList {
        credentials: list.iter().map(CredentialOut::from).collect(),
    }))
}

/// Renames a credential.
#[utoipa::path(patch, path = "/admin/v1/users/{user_id}/webauthn/credentials/{credential_id}", tag = TAG,
    params(("user_id" = String, Path), ("credential_id" = String, Path)), request_body = RenameCredential,
    responses((status = 204, description = "Renamed"),
              (status = 404, description = "No such credential (`QUERY-Wan08`)", body = super::openapi::ErrorBody)))]
async fn rename_credential(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiPath((user_id, credential_id)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<RenameCredential>,
) -> Result<StatusCode, ApiError> {
    state
        .engine
        .rename_webauthn_credential(&id(user_id)?, &id(credential_id)?, &body.name)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a credential; a pending challenge for it no longer passes.
#[utoipa::path(delete, path = "/admin/v1/users/{user_id}/webauthn/credentials/{credential_id}", tag = TAG,
    params(("user_id" = String, Path), ("credential_id" = String, Path)),
    responses((status = 204, description = "Removed"),
              (status = 404, description = "No such credential (`QUERY-Wan08`)", body = super::openapi::ErrorBody)))]
async fn remove_credential(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiPath((user_id, credential_id)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state
        .engine
        .remove_webauthn_credential(&id(user_id)?, &id(credential_id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The WebAuthn admin routes (merged into [`super::admin::router`]).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start_registration))
        .routes(routes!(finish_registration, list_credentials))
        .routes(routes!(rename_credential, remove_credential))
}
