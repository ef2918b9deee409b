//! The admin router, built from the handlers' annotations.

use axum::http::{header, HeaderValue};
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{apps, factors, keys, users};
use crate::http::AppState;

/// The admin routes with their OpenAPI paths; both come from the handlers' annotations.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(users::create_user, users::list_users))
        .routes(routes!(
            users::get_user,
            users::update_user,
            users::delete_user
        ))
        .routes(routes!(users::deactivate_user))
        .routes(routes!(users::reactivate_user))
        .routes(routes!(users::unlock_user))
        .routes(routes!(users::set_password))
        .routes(routes!(factors::start_totp))
        .routes(routes!(factors::verify_totp))
        .routes(routes!(factors::set_otp_email))
        .routes(routes!(factors::set_otp_sms))
        .routes(routes!(factors::generate_recovery_codes))
        .routes(routes!(factors::list_factors))
        .routes(routes!(factors::remove_factor))
        .routes(routes!(apps::create_app, apps::list_apps))
        .routes(routes!(apps::get_app, apps::update_app, apps::delete_app))
        .routes(routes!(apps::rotate_app_secret))
        .routes(routes!(keys::create_api_key, keys::list_api_keys))
        .routes(routes!(keys::revoke_api_key))
        .merge(crate::api::admin_webauthn::router())
}

/// The admin routes, ready to merge. Every answer is `Cache-Control: no-store`: some carry
/// secrets, and none should sit in a shared cache.
pub fn routes() -> axum::Router<AppState> {
    let (router, _) = router().split_for_parts();
    router.layer(SetResponseHeaderLayer::overriding(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    ))
}
