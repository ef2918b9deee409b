//! The JSON APIs: the ZITADEL-compatible Session API v2 (REST and Connect) and the shared
//! pieces every API route uses: [`error::ApiError`] (contract and Connect error shapes),
//! [`auth`] (bearer API keys with scopes) and [`json`] (body, query and path extractors that
//! answer 400 in the contract's shape).

pub mod auth;
pub mod connect;
pub mod error;
pub mod json;
pub mod session;
pub mod wire;

use axum::Router;

use crate::http::AppState;

/// Every API route, ready to merge into the main router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(session::rest_routes())
        .merge(connect::routes())
        .layer(axum::middleware::from_fn(json::buffer_body))
}
