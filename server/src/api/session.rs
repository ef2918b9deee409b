//! The Session API v2: one function per RPC, shared by every transport: the REST routes
//! (`/v2/sessions`, also under `/v2beta` and `/v2alpha`), Connect with the JSON codec
//! ([`super::connect`]) and gRPC, gRPC-Web and Connect's binary codec ([`super::grpc`]). Each
//! takes the request in its JSON wire form ([`wire`]) and answers the engine's values, which the
//! transport renders.
//!
//! Authorization: every call needs an API key with the `session` scope (it reaches the sessions it
//! created) or `session_all` (every Session API session; handoff sessions read-only), except that
//! a session's own token (in the query or body) authorizes `GetSession` and `DeleteSession` of
//! that session. The engine decides the reach ([`Caller`]); out of reach looks like unknown.

use axum::{
    extract::{FromRequestParts, State},
    http::{request::Parts, StatusCode},
    response::IntoResponse,
    routing::{get, post},
    Json, Router,
};
use domain::{
    error::TokenSide,
    input::fold_case,
    model::Scope,
    model::Session,
    service::{Caller, CreateSessionRequest, Details, SessionChanged, SetSessionRequest},
    store::SessionPage,
    DomainError,
};

use super::{
    auth::{bearer_in, ApiKey, RequireScope, SessionScope},
    error::{ids, ApiError},
    json::{ApiJson, ApiPath, ApiQuery},
    wire::{self, *},
};
use crate::http::AppState;

/// Who may read or delete a session: an API key with the session scope, or nobody but the
/// bearer of the session's token.
#[derive(Debug, Clone)]
pub enum SessionAccess {
    Key(ApiKey),
    /// No `Authorization` header: the request must carry the session's token.
    TokenOnly,
}

impl SessionAccess {
    fn caller(&self) -> Caller {
        match self {
            Self::Key(k) => caller(k),
            Self::TokenOnly => Caller::session_token(),
        }
    }
}

impl SessionAccess {
    /// The access of a request with these headers (or gRPC metadata) and extensions.
    pub async fn from_request_data(
        headers: &axum::http::HeaderMap,
        extensions: &axum::http::Extensions,
        state: &AppState,
    ) -> Result<Self, ApiError> {
        if headers.contains_key(axum::http::header::AUTHORIZATION) {
            // A key that is sent must be valid and carry the scope, token or not.
            let key = ApiKey::from_request_data(headers, extensions, state).await?;
            key.require(Scope::Session)?;
            return Ok(Self::Key(key));
        }
        debug_assert!(bearer_in(headers).is_none());
        Ok(Self::TokenOnly)
    }
}

impl FromRequestParts<AppState> for SessionAccess {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Self::from_request_data(&parts.headers, &parts.extensions, state).await
    }
}

fn token_required() -> ApiError {
    ApiError::unauthenticated(
        ids::MISSING_CREDENTIALS,
        "Authorization: Bearer <API key> or the session's token is required",
    )
}

fn caller(key: &ApiKey) -> Caller {
    Caller::api_key(&key.0)
}

/// Resolves the "both id and login name" form of a user check (seed 001): the login name must
/// belong to the user with that id, else the user is not found.
async fn check_consistency(
    state: &AppState,
    consistency: Option<UserConsistency>,
) -> Result<(), ApiError> {
    let Some(c) = consistency else {
        return Ok(());
    };
    if let Some(user) = state.engine.find_user(&c.user_id).await? {
        if fold_case(&user.login_name) != fold_case(&c.login_name) {
            return Err(DomainError::UserNotFound.into());
        }
    }
    Ok(())
}

/// `CreateSession`.
pub async fn create_session(
    state: &AppState,
    key: &ApiKey,
    body: SessionRequestWire,
) -> Result<SessionChanged, ApiError> {
    let (change, consistency) = wire::to_change(&body)?;
    check_consistency(state, consistency).await?;
    let request = CreateSessionRequest {
        change,
        user_agent: wire::to_user_agent(&body),
        ..CreateSessionRequest::default()
    };
    Ok(state.engine.create_session(request, &caller(key)).await?)
}

/// `SetSession`. The request's `sessionToken` is ignored, as the contract says.
pub async fn set_session(
    state: &AppState,
    key: &ApiKey,
    session_id: &str,
    body: SessionRequestWire,
) -> Result<SessionChanged, ApiError> {
    let id = wire::session_id(Some(session_id))?;
    let (change, consistency) = wire::to_change(&body)?;
    check_consistency(state, consistency).await?;
    let request = SetSessionRequest {
        change,
        ..SetSessionRequest::default()
    };
    Ok(state.engine.set_session(&id, request, &caller(key)).await?)
}

/// `GetSession`.
pub async fn get_session(
    state: &AppState,
    access: &SessionAccess,
    session_id: &str,
    token: Option<&str>,
) -> Result<Session, ApiError> {
    let id = wire::session_id(Some(session_id))?;
    let token = wire::session_token(token)?;
    if matches!(access, SessionAccess::TokenOnly) && token.is_none() {
        return Err(token_required());
    }
    let mut result = state
        .engine
        .get_session(&id, token.as_deref(), &access.caller())
        .await;
    // An app backend of the handoff knows its login by the `session_id` secret from
    // `/session/generate`: with an API key, that secret names the login's engine session too.
    if matches!(result, Err(DomainError::SessionNotFound))
        && !matches!(access, SessionAccess::TokenOnly)
    {
        if let Some(found) = state
            .engine
            .handoff_session_by_secret(&id, token.as_deref())
            .await
            .transpose()
        {
            result = found;
        }
    }
    match (result, access) {
        // SECURITY: without a key, an unknown id looks like a wrong token (no existence oracle).
        (Err(DomainError::SessionNotFound), SessionAccess::TokenOnly) => {
            Err(DomainError::InvalidSessionToken {
                side: TokenSide::Query,
            }
            .into())
        }
        (r, _) => Ok(r?),
    }
}

/// `DeleteSession`.
pub async fn delete_session(
    state: &AppState,
    access: &SessionAccess,
    session_id: &str,
    token: Option<&str>,
) -> Result<Details, ApiError> {
    let id = wire::session_id(Some(session_id))?;
    let token = wire::session_token(token)?;
    if matches!(access, SessionAccess::TokenOnly) && token.is_none() {
        return Err(token_required());
    }
    Ok(state
        .engine
        .delete_session(&id, token.as_deref(), &access.caller())
        .await?)
}

/// `ListSessions`: the live sessions the filters match that the key may read (its own with
/// `session`, every one with `session_all`).
pub async fn list_sessions(
    state: &AppState,
    key: &ApiKey,
    body: ListSessionsWire,
) -> Result<SessionPage, ApiError> {
    let query = wire::to_list_query(&body, key.id())?;
    Ok(state.engine.list_sessions(query, &caller(key)).await?)
}

// ---------- JSON answers (REST and Connect's JSON codec) ----------

/// `CreateSession`'s JSON answer.
pub async fn create_session_json(
    state: &AppState,
    key: &ApiKey,
    body: SessionRequestWire,
) -> Result<CreateSessionResponse, ApiError> {
    let changed = create_session(state, key, body).await?;
    Ok(CreateSessionResponse::from_changed(&changed))
}

/// `SetSession`'s JSON answer.
pub async fn set_session_json(
    state: &AppState,
    key: &ApiKey,
    session_id: &str,
    body: SessionRequestWire,
) -> Result<SetSessionResponse, ApiError> {
    let changed = set_session(state, key, session_id, body).await?;
    Ok(SetSessionResponse::from_changed(&changed))
}

/// `GetSession`'s JSON answer.
pub async fn get_session_json(
    state: &AppState,
    access: &SessionAccess,
    session_id: &str,
    token: Option<&str>,
) -> Result<GetSessionResponse, ApiError> {
    let session = get_session(state, access, session_id, token).await?;
    Ok(GetSessionResponse {
        session: SessionWire::from(&session),
    })
}

/// `DeleteSession`'s JSON answer.
pub async fn delete_session_json(
    state: &AppState,
    access: &SessionAccess,
    session_id: &str,
    token: Option<&str>,
) -> Result<DeleteSessionResponse, ApiError> {
    let details = delete_session(state, access, session_id, token).await?;
    Ok(DeleteSessionResponse {
        details: (&details).into(),
    })
}

/// `ListSessions`' JSON answer.
pub async fn list_sessions_json(
    state: &AppState,
    key: &ApiKey,
    body: ListSessionsWire,
) -> Result<ListSessionsResponse, ApiError> {
    let page = list_sessions(state, key, body).await?;
    Ok(ListSessionsResponse::from_page(
        &page,
        time::OffsetDateTime::now_utc(),
    ))
}

// ---------- REST ----------

async fn rest_create(
    State(state): State<AppState>,
    RequireScope(key): SessionScope,
    ApiJson(body): ApiJson<SessionRequestWire>,
) -> Result<impl IntoResponse, ApiError> {
    let res = create_session_json(&state, &key, body).await?;
    Ok((StatusCode::CREATED, Json(res)))
}

async fn rest_set(
    State(state): State<AppState>,
    RequireScope(key): SessionScope,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<SessionRequestWire>,
) -> Result<Json<SetSessionResponse>, ApiError> {
    set_session_json(&state, &key, &id, body).await.map(Json)
}

async fn rest_get(
    State(state): State<AppState>,
    access: SessionAccess,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<SessionRefWire>,
) -> Result<Json<GetSessionResponse>, ApiError> {
    get_session_json(&state, &access, &id, query.session_token.as_deref())
        .await
        .map(Json)
}

async fn rest_delete(
    State(state): State<AppState>,
    access: SessionAccess,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<SessionRefWire>,
    ApiJson(body): ApiJson<SessionRefWire>,
) -> Result<Json<DeleteSessionResponse>, ApiError> {
    // Both places are read, so a malformed token is refused wherever it was sent.
    let query_token = wire::session_token(query.session_token.as_deref())?;
    let token = body.session_token.or(query_token);
    delete_session_json(&state, &access, &id, token.as_deref())
        .await
        .map(Json)
}

async fn rest_list(
    State(state): State<AppState>,
    RequireScope(key): SessionScope,
    ApiJson(body): ApiJson<ListSessionsWire>,
) -> Result<Json<ListSessionsResponse>, ApiError> {
    list_sessions_json(&state, &key, body).await.map(Json)
}

/// Version prefixes the REST routes are served under.
pub const REST_PREFIXES: [&str; 3] = ["/v2", "/v2beta", "/v2alpha"];

/// The REST routes under every prefix.
pub fn rest_routes() -> Router<AppState> {
    let mut router = Router::new();
    for prefix in REST_PREFIXES {
        router = router
            .route(&format!("{prefix}/sessions"), post(rest_create))
            .route(&format!("{prefix}/sessions/search"), post(rest_list))
            .route(
                &format!("{prefix}/sessions/{{session_id}}"),
                get(rest_get).patch(rest_set).delete(rest_delete),
            );
    }
    router
}
