//! Rate limits of the Session API (REST `/v2*` and Connect) and the admin API (`/admin/v1`),
//! per client address and per API key, counted in the database ([`crate::ratelimit`]) so every
//! replica on one database shares the same counters.
//!
//! The address is counted first, before the key is looked up, so guessing keys spends the
//! address's budget. The key is counted once it authenticates (the lookup is cached in the
//! request, so the handler does not repeat it); a bad key is left to the handler's 401.
//! A refusal is 429 with `Retry-After` and the contract's error (code 8, `API-Rate01`), in
//! Connect's shape on Connect routes and as a gRPC status (`ResourceExhausted`) on gRPC.

use axum::{
    extract::{FromRequestParts, Request, State},
    http::HeaderMap,
    middleware::Next,
    response::Response,
};

use super::{
    auth::ApiKey,
    error::{ApiError, Protocol},
};
use crate::{
    http::AppState,
    ratelimit::{RateLimiter, Rule},
};

/// State of the limiting middleware.
#[derive(Clone)]
pub struct ApiLimits {
    state: AppState,
    limiter: RateLimiter,
}

impl ApiLimits {
    pub fn new(state: &AppState) -> Self {
        Self {
            state: state.clone(),
            limiter: RateLimiter::new(state.db.clone()),
        }
    }
}

/// Which budget a path spends.
fn api_class(path: &str) -> &'static str {
    if path.starts_with(super::admin::PREFIX) {
        "admin"
    } else {
        "session"
    }
}

fn refuse(path: &str, headers: &HeaderMap, retry_after: u64) -> Response {
    ApiError::rate_limited(retry_after).into_response_for(Protocol::of(path, headers), headers)
}

/// Middleware: counts the request against its address and its key.
pub async fn limit(State(limits): State<ApiLimits>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let class = api_class(&path);
    let rules = limits.state.settings.rate_limits;
    let (per_address, per_key): (Rule, Rule) = match class {
        "admin" => (rules.admin_api_per_address, rules.admin_api_per_key),
        _ => (rules.session_api_per_address, rules.session_api_per_key),
    };
    let address = crate::client_addr::rate_key_of(req.extensions());
    if let Err(retry) = limits
        .limiter
        .check(&format!("api.{class}.addr:{address}"), per_address)
        .await
    {
        return refuse(&path, req.headers(), retry.0);
    }
    let (mut parts, body) = req.into_parts();
    if per_key.limit > 0 && super::auth::bearer_token(&parts).is_some() {
        if let Ok(key) = ApiKey::from_request_parts(&mut parts, &limits.state).await {
            if let Err(retry) = limits
                .limiter
                .check(&format!("api.{class}.key:{}", key.id()), per_key)
                .await
            {
                return refuse(&path, &parts.headers, retry.0);
            }
        }
    }
    next.run(Request::from_parts(parts, body)).await
}
