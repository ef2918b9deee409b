//! Factor handlers: TOTP enrollment, code factors, recovery codes, listing and removal.

use axum::{extract::State, http::StatusCode, response::IntoResponse, Json};

use super::{
    id, no_content,
    types::{Factor, FactorsOut, RecoveryCodes, SetEnabled, TotpCodeIn, TotpStarted},
    TAG_FACTORS,
};
use crate::api::{
    auth::AdminScope,
    error::ApiError,
    json::{ApiJson, ApiPath},
};
use crate::http::AppState;

/// Starts (or restarts) TOTP enrollment. Until it is confirmed, TOTP checks fail.
#[utoipa::path(post, path = "/admin/v1/users/{user_id}/totp", tag = TAG_FACTORS,
    params(("user_id" = String, Path)),
    responses((status = 201, description = "The new secret, shown once", body = TotpStarted)))]
pub(super) async fn start_totp(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiPath(user_id): ApiPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    let e = state.engine.start_totp_enrollment(&id(user_id)?).await?;
    let body = TotpStarted {
        secret: e.secret_base32.expose().clone(),
        uri: e.uri.expose().clone(),
        qr_svg: e.qr_svg.expose().clone(),
    };
    Ok((StatusCode::CREATED, Json(body)))
}

/// Confirms TOTP enrollment with a first code (`COMMAND-Tnr01` when none was started,
/// `COMMAND-8isk2` for a wrong code).
#[utoipa::path(post, path = "/admin/v1/users/{user_id}/totp/verify", tag = TAG_FACTORS,
    params(("user_id" = String, Path)), request_body = TotpCodeIn,
    responses((status = 200, description = "The user's factors", body = FactorsOut)))]
pub(super) async fn verify_totp(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiPath(user_id): ApiPath<String>,
    ApiJson(body): ApiJson<TotpCodeIn>,
) -> Result<Json<FactorsOut>, ApiError> {
    let user_id = id(user_id)?;
    let code = domain::input::TotpCode::parse(body.code)?;
    state.engine.finish_totp_enrollment(&user_id, code).await?;
    Ok(Json(state.engine.list_factors(&user_id).await?.into()))
}

/// Turns codes by email on or off (on needs a verified email: `COMMAND-Vrf01`).
#[utoipa::path(put, path = "/admin/v1/users/{user_id}/otp-email", tag = TAG_FACTORS,
    params(("user_id" = String, Path)), request_body = SetEnabled,
    responses((status = 200, description = "The user's factors", body = FactorsOut)))]
pub(super) async fn set_otp_email(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiPath(user_id): ApiPath<String>,
    ApiJson(body): ApiJson<SetEnabled>,
) -> Result<Json<FactorsOut>, ApiError> {
    let user_id = id(user_id)?;
    state.engine.set_otp_email(&user_id, body.enabled).await?;
    Ok(Json(state.engine.list_factors(&user_id).await?.into()))
}

/// Turns codes by SMS on or off (on needs a verified phone: `COMMAND-Vrf01`).
#[utoipa::path(put, path = "/admin/v1/users/{user_id}/otp-sms", tag = TAG_FACTORS,
    params(("user_id" = String, Path)), request_body = SetEnabled,
    responses((status = 200, description = "The user's factors", body = FactorsOut)))]
pub(super) async fn set_otp_sms(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiPath(user_id): ApiPath<String>,
    ApiJson(body): ApiJson<SetEnabled>,
) -> Result<Json<FactorsOut>, ApiError> {
    let user_id = id(user_id)?;
    state.engine.set_otp_sms(&user_id, body.enabled).await?;
    Ok(Json(state.engine.list_factors(&user_id).await?.into()))
}

/// Replaces the user's recovery codes with 10 new ones, shown once.
#[utoipa::path(post, path = "/admin/v1/users/{user_id}/recovery-codes", tag = TAG_FACTORS,
    params(("user_id" = String, Path)),
    responses((status = 201, description = "The new codes", body = RecoveryCodes)))]
pub(super) async fn generate_recovery_codes(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiPath(user_id): ApiPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    let codes = state.engine.generate_recovery_codes(&id(user_id)?).await?;
    let body = RecoveryCodes {
        codes: codes.iter().map(|c| c.expose().clone()).collect(),
    };
    Ok((StatusCode::CREATED, Json(body)))
}

/// The factors a user has set up.
#[utoipa::path(get, path = "/admin/v1/users/{user_id}/factors", tag = TAG_FACTORS,
    params(("user_id" = String, Path)),
    responses((status = 200, description = "The user's factors", body = FactorsOut)))]
pub(super) async fn list_factors(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiPath(user_id): ApiPath<String>,
) -> Result<Json<FactorsOut>, ApiError> {
    Ok(Json(state.engine.list_factors(&id(user_id)?).await?.into()))
}

/// Removes a factor: `password`, `totp`, `otp_sms`, `otp_email`, `recovery_code`, or all of
/// the user's `passkey` or `security_key` credentials.
#[utoipa::path(delete, path = "/admin/v1/users/{user_id}/factors/{kind}", tag = TAG_FACTORS,
    params(("user_id" = String, Path), ("kind" = Factor, Path)),
    responses((status = 204, description = "Removed")))]
pub(super) async fn remove_factor(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiPath((user_id, kind)): ApiPath<(String, Factor)>,
) -> Result<StatusCode, ApiError> {
    state
        .engine
        .remove_factor(&id(user_id)?, kind.into())
        .await?;
    Ok(no_content())
}
