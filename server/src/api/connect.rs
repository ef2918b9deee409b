//! The Session API over Connect's unary protocol with the JSON codec:
//! `POST /zitadel.session.v2.SessionService/<Method>` (and the `v2beta` package). The handlers
//! underneath are the REST ones ([`super::session`]); errors use Connect's JSON shape. Requests
//! in protobuf (gRPC, gRPC-Web, Connect binary) on these paths go to [`super::grpc`].

use axum::{
    extract::{Request, State},
    http::{header, HeaderValue, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::post,
    Json, Router,
};

use super::{
    auth::{RequireScope, SessionScope},
    error::{connect_errors, ids, ApiError, Code},
    json::{is_json_content_type, ApiJson},
    session::{self, SessionAccess},
    wire::{ListSessionsWire, SessionRefWire, SessionRequestWire},
};
use crate::http::AppState;

/// Connect service names served.
pub const SERVICES: [&str; 2] = [
    "zitadel.session.v2.SessionService",
    "zitadel.session.v2beta.SessionService",
];

/// Methods of each service.
pub const METHODS: [&str; 5] = [
    "CreateSession",
    "GetSession",
    "ListSessions",
    "SetSession",
    "DeleteSession",
];

/// Refuses requests Connect's JSON unary protocol does not describe, before anything else runs
/// (protobuf requests never get here: [`super::grpc::dispatch`] took them).
async fn preflight(req: Request, next: Next) -> Response {
    let headers = req.headers();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !is_json_content_type(content_type) {
        let mut res = ApiError::new(
            Code::Unimplemented,
            ids::UNSUPPORTED_CODEC,
            "Served codecs: application/json and application/proto (Connect), application/grpc and application/grpc-web",
        )
        .into_connect_response();
        *res.status_mut() = StatusCode::UNSUPPORTED_MEDIA_TYPE;
        res.headers_mut().insert(
            "accept-post",
            HeaderValue::from_static("application/json, application/proto"),
        );
        return res;
    }
    if let Some(v) = headers.get("connect-protocol-version") {
        if v.as_bytes() != b"1" {
            return ApiError::invalid_argument(
                ids::BAD_PARAMETER,
                "connect-protocol-version must be 1",
            )
            .into_connect_response();
        }
    }
    if let Some(enc) = headers.get(header::CONTENT_ENCODING) {
        if !enc.as_bytes().eq_ignore_ascii_case(b"identity") {
            return ApiError::new(
                Code::Unimplemented,
                ids::UNSUPPORTED_CODEC,
                "Request compression is not supported",
            )
            .into_connect_response();
        }
    }
    next.run(req).await
}

async fn create(
    State(state): State<AppState>,
    RequireScope(key): SessionScope,
    ApiJson(body): ApiJson<SessionRequestWire>,
) -> Result<impl IntoResponse, ApiError> {
    session::create_session_json(&state, &key, body)
        .await
        .map(Json)
}

async fn set(
    State(state): State<AppState>,
    RequireScope(key): SessionScope,
    ApiJson(body): ApiJson<SessionRequestWire>,
) -> Result<impl IntoResponse, ApiError> {
    let id = body.session_id.clone().unwrap_or_default();
    session::set_session_json(&state, &key, &id, body)
        .await
        .map(Json)
}

async fn get_one(
    State(state): State<AppState>,
    access: SessionAccess,
    ApiJson(body): ApiJson<SessionRefWire>,
) -> Result<impl IntoResponse, ApiError> {
    let id = body.session_id.unwrap_or_default();
    session::get_session_json(&state, &access, &id, body.session_token.as_deref())
        .await
        .map(Json)
}

async fn delete(
    State(state): State<AppState>,
    access: SessionAccess,
    ApiJson(body): ApiJson<SessionRefWire>,
) -> Result<impl IntoResponse, ApiError> {
    let id = body.session_id.unwrap_or_default();
    session::delete_session_json(&state, &access, &id, body.session_token.as_deref())
        .await
        .map(Json)
}

async fn list(
    State(state): State<AppState>,
    RequireScope(key): SessionScope,
    ApiJson(body): ApiJson<ListSessionsWire>,
) -> Result<impl IntoResponse, ApiError> {
    session::list_sessions_json(&state, &key, body)
        .await
        .map(Json)
}

/// The Connect routes of both packages. The same paths also serve gRPC, gRPC-Web and
/// Connect's binary codec, told apart by their content type ([`super::grpc::dispatch`]).
pub fn routes(state: &AppState) -> Router<AppState> {
    let mut router = Router::new();
    for service in SERVICES {
        router = router
            .route(&format!("/{service}/CreateSession"), post(create))
            .route(&format!("/{service}/GetSession"), post(get_one))
            .route(&format!("/{service}/ListSessions"), post(list))
            .route(&format!("/{service}/SetSession"), post(set))
            .route(&format!("/{service}/DeleteSession"), post(delete));
    }
    router
        .route_layer(middleware::from_fn(preflight))
        .route_layer(middleware::map_response(connect_errors))
        .route_layer(middleware::from_fn_with_state(
            super::grpc::DispatchState::new(state),
            super::grpc::dispatch,
        ))
}
