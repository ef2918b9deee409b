//! User handlers: create, list, read, change, (de)activate, delete, unlock, password.

use axum::{extract::State, http::StatusCode, response::IntoResponse, Json};
use domain::{
    input::{DisplayName, Email, Language, LoginName, NewPassword, Phone},
    service::{NewUser, ProfileChanges},
    DomainError,
};

use super::{
    id, no_content, nullable_field, optional,
    types::{CreateUser, ListUsersParams, SetPassword, UpdateUser, UserList, UserOut},
    TAG_USERS,
};
use crate::api::{
    auth::AdminScope,
    error::ApiError,
    json::{ApiJson, ApiPath, ApiQuery},
};
use crate::http::AppState;

/// Creates a user.
#[utoipa::path(post, path = "/admin/v1/users", tag = TAG_USERS, request_body = CreateUser,
    responses((status = 201, description = "Created", body = UserOut),
              (status = 409, description = "The login name is taken (`COMMAND-Dup01`)", body = crate::api::openapi::ErrorBody)))]
pub(super) async fn create_user(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateUser>,
) -> Result<impl IntoResponse, ApiError> {
    let new = NewUser {
        login_name: LoginName::parse(body.login_name)?,
        display_name: optional(body.display_name, DisplayName::parse)?,
        email: optional(body.email, Email::parse)?,
        email_verified: body.email_verified,
        phone: optional(body.phone, Phone::parse)?,
        phone_verified: body.phone_verified,
        preferred_language: optional(body.preferred_language, Language::parse)?,
        password: optional(body.password, NewPassword::parse)?,
    };
    let user = state.engine.create_user(new).await?;
    Ok((StatusCode::CREATED, Json(UserOut::from(&user))))
}

/// Lists users by login name, or finds one by `login_name`.
#[utoipa::path(get, path = "/admin/v1/users", tag = TAG_USERS, params(ListUsersParams),
    responses((status = 200, description = "A page of users", body = UserList)))]
pub(super) async fn list_users(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ListUsersParams>,
) -> Result<Json<UserList>, ApiError> {
    let users = match q.login_name {
        Some(name) => {
            let name = LoginName::parse(name)?;
            state
                .engine
                .find_user_by_login_name(&name)
                .await?
                .into_iter()
                .collect()
        }
        None => {
            state
                .engine
                .list_users(q.offset.unwrap_or(0), q.limit.unwrap_or(0))
                .await?
        }
    };
    Ok(Json(UserList {
        users: users.iter().map(UserOut::from).collect(),
    }))
}

/// Reads one user.
#[utoipa::path(get, path = "/admin/v1/users/{user_id}", tag = TAG_USERS,
    params(("user_id" = String, Path)),
    responses((status = 200, description = "The user", body = UserOut)))]
pub(super) async fn get_user(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiPath(user_id): ApiPath<String>,
) -> Result<Json<UserOut>, ApiError> {
    let user = state.engine.get_user(&id(user_id)?).await?;
    Ok(Json(UserOut::from(&user)))
}

/// Changes profile fields and the verified flags of email and phone.
#[utoipa::path(patch, path = "/admin/v1/users/{user_id}", tag = TAG_USERS,
    params(("user_id" = String, Path)), request_body = UpdateUser,
    responses((status = 200, description = "The changed user", body = UserOut),
              (status = 409, description = "The login name is taken (`COMMAND-Dup01`)", body = crate::api::openapi::ErrorBody)))]
pub(super) async fn update_user(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiPath(user_id): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateUser>,
) -> Result<Json<UserOut>, ApiError> {
    let user_id = id(user_id)?;
    // Everything is parsed before anything is written.
    let changes = ProfileChanges {
        login_name: optional(body.login_name, LoginName::parse)?,
        display_name: optional(body.display_name, DisplayName::parse)?,
        email: nullable_field(body.email, Email::parse)?,
        phone: nullable_field(body.phone, Phone::parse)?,
        preferred_language: nullable_field(body.preferred_language, Language::parse)?,
    };
    let profile_changed = changes.login_name.is_some()
        || changes.display_name.is_some()
        || changes.email.is_some()
        || changes.phone.is_some()
        || changes.preferred_language.is_some();
    // Verified flags need an address to mark; refuse them before writing anything, so a bad
    // request never leaves half its changes behind.
    let current = state.engine.get_user(&user_id).await?;
    let email_after = match &changes.email {
        Some(e) => e.is_some(),
        None => current.email.is_some(),
    };
    let phone_after = match &changes.phone {
        Some(p) => p.is_some(),
        None => current.phone.is_some(),
    };
    if body.email_verified.is_some() && !email_after {
        return Err(DomainError::InvalidField {
            field: "email",
            reason: "no email set",
        }
        .into());
    }
    if body.phone_verified.is_some() && !phone_after {
        return Err(DomainError::InvalidField {
            field: "phone",
            reason: "no phone set",
        }
        .into());
    }
    let mut user = if profile_changed {
        state.engine.update_profile(&user_id, changes).await?
    } else {
        current
    };
    if let Some(verified) = body.email_verified {
        user = state.engine.set_email_verified(&user_id, verified).await?;
    }
    if let Some(verified) = body.phone_verified {
        user = state.engine.set_phone_verified(&user_id, verified).await?;
    }
    Ok(Json(UserOut::from(&user)))
}

/// Deactivates a user: they can no longer pass a user check.
#[utoipa::path(post, path = "/admin/v1/users/{user_id}/deactivate", tag = TAG_USERS,
    params(("user_id" = String, Path)),
    responses((status = 200, description = "The user", body = UserOut)))]
pub(super) async fn deactivate_user(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiPath(user_id): ApiPath<String>,
) -> Result<Json<UserOut>, ApiError> {
    let user = state.engine.deactivate_user(&id(user_id)?).await?;
    Ok(Json(UserOut::from(&user)))
}

/// Reactivates a deactivated user.
#[utoipa::path(post, path = "/admin/v1/users/{user_id}/reactivate", tag = TAG_USERS,
    params(("user_id" = String, Path)),
    responses((status = 200, description = "The user", body = UserOut)))]
pub(super) async fn reactivate_user(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiPath(user_id): ApiPath<String>,
) -> Result<Json<UserOut>, ApiError> {
    let user = state.engine.reactivate_user(&id(user_id)?).await?;
    Ok(Json(UserOut::from(&user)))
}

/// Deletes a user and their recovery codes.
#[utoipa::path(delete, path = "/admin/v1/users/{user_id}", tag = TAG_USERS,
    params(("user_id" = String, Path)),
    responses((status = 204, description = "Deleted")))]
pub(super) async fn delete_user(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiPath(user_id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state.engine.delete_user(&id(user_id)?).await?;
    Ok(no_content())
}

/// Clears the failure counters and the lockout.
#[utoipa::path(post, path = "/admin/v1/users/{user_id}/unlock", tag = TAG_USERS,
    params(("user_id" = String, Path)),
    responses((status = 200, description = "The unlocked user", body = UserOut)))]
pub(super) async fn unlock_user(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiPath(user_id): ApiPath<String>,
) -> Result<Json<UserOut>, ApiError> {
    let user_id = id(user_id)?;
    state.engine.unlock_user(&user_id).await?;
    let user = state.engine.get_user(&user_id).await?;
    Ok(Json(UserOut::from(&user)))
}

/// Sets or replaces the password.
#[utoipa::path(put, path = "/admin/v1/users/{user_id}/password", tag = TAG_USERS,
    params(("user_id" = String, Path)), request_body = SetPassword,
    responses((status = 204, description = "Password set")))]
pub(super) async fn set_password(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiPath(user_id): ApiPath<String>,
    ApiJson(body): ApiJson<SetPassword>,
) -> Result<StatusCode, ApiError> {
    let user_id = id(user_id)?;
    let password = NewPassword::parse(body.password)?;
    state.engine.set_password(&user_id, password).await?;
    Ok(no_content())
}
