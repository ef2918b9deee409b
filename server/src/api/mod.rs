//! The JSON APIs: the ZITADEL-compatible Session API v2 (REST and Connect) and the shared
//! pieces every API route uses: [`error::ApiError`] (contract and Connect error shapes),
//! [`auth`] (bearer API keys with scopes) and [`json`] (body, query and path extractors that
//! answer 400 in the contract's shape).

pub mod admin;
pub mod admin_webauthn;
pub mod auth;
pub mod connect;
pub mod error;
pub mod grpc;
pub mod json;
pub mod limits;
pub mod openapi;
pub mod pb;
pub mod session;
pub mod wire;

use axum::Router;

use crate::http::AppState;

/// Every API route, ready to merge into the main router. The Session and admin APIs are rate
/// limited ([`limits`]); `/openapi.json` is not.
pub fn routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .merge(session::rest_routes())
        .merge(connect::routes(state))
        .merge(admin::routes())
        .method_not_allowed_fallback(method_not_allowed)
        // Inside the body buffer: a 429 is only sent once the body was read.
        .layer(axum::middleware::from_fn_with_state(
            limits::ApiLimits::new(state),
            limits::limit,
        ))
        .layer(axum::middleware::from_fn(json::buffer_body))
        .merge(openapi::routes())
}

/// A known API path with another method: 405 in the contract's shape (not an empty body).
async fn method_not_allowed(uri: axum::http::Uri) -> axum::response::Response {
    let err = error::ApiError::new(
        error::Code::Unimplemented,
        error::ids::METHOD_NOT_ALLOWED,
        "Method not allowed on this path",
    );
    let connect = uri.path().starts_with("/zitadel.");
    let mut res = if connect {
        err.into_connect_response()
    } else {
        axum::response::IntoResponse::into_response(err)
    };
    *res.status_mut() = axum::http::StatusCode::METHOD_NOT_ALLOWED;
    res
}
