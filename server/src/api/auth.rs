//! Bearer API keys: `Authorization: Bearer <key>` resolved through the engine, with scopes.
//!
//! Use [`ApiKey`] and call [`ApiKey::require`], or take [`SessionScope`] / [`AdminScope`]
//! directly as an extractor. Missing or bad keys answer 401, a missing scope 403.

use axum::{
    extract::FromRequestParts,
    http::{request::Parts, Extensions, HeaderMap},
};
use domain::{model::Scope, service::AuthenticatedKey};

use super::error::{ids, ApiError};
use crate::http::AppState;

/// The bearer token of the request, if it has one (`Authorization: Bearer <token>`).
pub fn bearer_token(parts: &Parts) -> Option<&str> {
    bearer_in(&parts.headers)
}

/// The bearer token in `headers` (HTTP headers or gRPC metadata, which are the same thing).
pub fn bearer_in(headers: &HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty()).then_some(token)
}

/// A valid, unrevoked API key.
#[derive(Debug, Clone)]
pub struct ApiKey(pub AuthenticatedKey);

impl ApiKey {
    /// The key's id (becomes the creator of sessions it creates).
    pub fn id(&self) -> &str {
        &self.0.id
    }

    /// Refuses with 403 (`AUTH-Scope1`) unless the key carries `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.0.has(scope) {
            Ok(())
        } else {
            Err(missing_scope(scope))
        }
    }

    /// Resolves the bearer token of `parts`, or 401.
    pub async fn from_parts(parts: &Parts, state: &AppState) -> Result<Self, ApiError> {
        Self::from_headers(&parts.headers, state).await
    }

    /// The key a middleware already resolved for this request (kept in its extensions), or the
    /// bearer token of `headers` resolved now.
    pub async fn from_request_data(
        headers: &HeaderMap,
        extensions: &Extensions,
        state: &AppState,
    ) -> Result<Self, ApiError> {
        match extensions.get::<ApiKey>() {
            Some(key) => Ok(key.clone()),
            None => Self::from_headers(headers, state).await,
        }
    }

    /// Resolves the bearer token of `headers`, or 401.
    pub async fn from_headers(headers: &HeaderMap, state: &AppState) -> Result<Self, ApiError> {
        let Some(token) = bearer_in(headers) else {
            return Err(ApiError::unauthenticated(
                ids::MISSING_CREDENTIALS,
                "Authorization: Bearer <API key> is required",
            ));
        };
        // SECURITY: the token is never logged; only the engine sees it, and only as a hash lookup.
        let key = state.engine.authenticate_api_key(token).await?;
        Ok(Self(key))
    }
}

fn missing_scope(scope: Scope) -> ApiError {
    let name = match scope {
        Scope::Session => "session",
        Scope::SessionAll => "session_all",
        Scope::Admin => "admin",
    };
    ApiError::permission_denied(
        ids::MISSING_SCOPE,
        format!("The API key lacks the {name} scope"),
    )
}

impl FromRequestParts<AppState> for ApiKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(key) = parts.extensions.get::<ApiKey>() {
            return Ok(key.clone());
        }
        let key = Self::from_parts(parts, state).await?;
        // Cached so a rate limiter or a second extractor does not look the key up again.
        parts.extensions.insert(key.clone());
        Ok(key)
    }
}

/// Scope names usable as const generic parameters of [`RequireScope`].
pub mod scopes {
    pub const SESSION: u8 = 0;
    pub const ADMIN: u8 = 1;
}

/// An API key that carries the scope `S` ([`scopes::SESSION`] or [`scopes::ADMIN`]).
#[derive(Debug, Clone)]
pub struct RequireScope<const S: u8>(pub ApiKey);

/// A key with the `session` scope.
pub type SessionScope = RequireScope<{ scopes::SESSION }>;
/// A key with the `admin` scope.
pub type AdminScope = RequireScope<{ scopes::ADMIN }>;

impl<const S: u8> RequireScope<S> {
    fn scope() -> Scope {
        if S == scopes::ADMIN {
            Scope::Admin
        } else {
            Scope::Session
        }
    }
}

impl<const S: u8> FromRequestParts<AppState> for RequireScope<S> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let key = ApiKey::from_request_parts(parts, state).await?;
        key.require(Self::scope())?;
        Ok(Self(key))
    }
}
