//! The OpenAPI 3.1 document, generated from the code with utoipa and served at
//! `GET /openapi.json`.
//!
//! - The admin API's paths come from its router ([`super::admin::router`]): the same
//!   annotations build the routes and the document.
//! - The Session API's wire types derive `ToSchema` where they are defined
//!   ([`super::wire`]); the paths are described once here for `/v2` and the `v2` Connect
//!   package and copied to every prefix and package the routers serve
//!   ([`super::session::REST_PREFIXES`], [`super::connect::SERVICES`]).
//! - The app handoff (`/session/generate/`, `/session/validate/`) and the probes are
//!   described here by hand, from what their handlers send.
//! - Error answers every route can give (401, 403, 429, ...) are added to each operation from
//!   one table, with the error shape of its protocol.

use std::sync::OnceLock;

use axum::{
    http::{header, HeaderValue},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::{
    openapi::{
        path::{Operation, PathItem},
        security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme},
        RefOr, Required, Response as OaResponse, Schema,
    },
    Modify, OpenApi, PartialSchema, ToSchema,
};

use super::wire;
use crate::http::AppState;

// ---------- error shapes ----------

/// The error shape of the Session and admin APIs over REST (grpc-gateway style).
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// The gRPC status code (3 invalid argument, 5 not found, 8 rate limited, 16
    /// unauthenticated, ...).
    pub code: i32,
    /// `<text> (<id>)`.
    pub message: String,
    /// Exactly one detail.
    pub details: Vec<ErrorDetail>,
}

/// `zitadel.v1.ErrorDetail`, or `zitadel.v1.CredentialsCheckError` with `failedAttempts` for
/// a wrong password.
#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// `type.googleapis.com/zitadel.v1.ErrorDetail` or
    /// `type.googleapis.com/zitadel.v1.CredentialsCheckError`.
    #[serde(rename = "@type")]
    pub type_url: String,
    /// The stable id to match on, e.g. `COMMAND-3M0fs`.
    pub id: String,
    pub message: String,
    /// Failed password checks in a row, including this one (wrong password only).
    #[serde(rename = "failedAttempts", skip_serializing_if = "Option::is_none")]
    pub failed_attempts: Option<u32>,
}

/// Connect's error JSON (Connect routes only).
#[derive(Serialize, ToSchema)]
pub struct ConnectError {
    /// Connect's code name, e.g. `invalid_argument`, `resource_exhausted`.
    pub code: String,
    /// `<text> (<id>)`.
    pub message: String,
    pub details: Vec<ConnectErrorDetail>,
}

/// A Connect error detail: the protobuf-encoded ZITADEL detail and its JSON form.
#[derive(Serialize, ToSchema)]
pub struct ConnectErrorDetail {
    /// `zitadel.v1.ErrorDetail` or `zitadel.v1.CredentialsCheckError`.
    #[serde(rename = "type")]
    pub type_name: String,
    /// The detail message in protobuf wire format, base64 without padding.
    pub value: String,
    /// `{"id", "message"}` (and `failedAttempts`).
    #[schema(value_type = Object)]
    pub debug: Value,
}

/// The app handoff's error shape.
#[derive(Serialize, ToSchema)]
pub struct HandoffError {
    /// Always `error`.
    pub status: String,
    /// The stable id, e.g. `AUTH-App01`, `RATE-Lim01`.
    pub error: String,
    pub message: String,
}

// ---------- handoff and probes ----------

/// `POST /session/generate/`: JSON, form or multipart fields.
#[derive(Serialize, ToSchema)]
pub struct GenerateRequest {
    pub app_key: String,
    pub app_secret: String,
    /// Must be registered for the app.
    pub redirect_uri: Option<String>,
    /// Handed back on the redirect.
    pub state: Option<String>,
    /// Prefills the login name.
    pub login_hint: Option<String>,
    /// Preferred languages, space separated.
    pub ui_locales: Option<String>,
    /// Session lifetime in whole seconds (number or string).
    #[schema(value_type = Option<String>)]
    pub lifetime: Option<String>,
}

/// A login link was made.
#[derive(Serialize, ToSchema)]
pub struct GenerateResponse {
    /// Append to `base_url` and send the browser there.
    pub token: String,
    /// Keep on the app backend; `POST /session/validate/` takes it.
    pub session_id: String,
    pub base_url: String,
    /// RFC 3339: the link must be opened before this.
    pub expires_at: Option<String>,
}

/// `POST /session/validate/`: JSON, form or multipart fields.
#[derive(Serialize, ToSchema)]
pub struct ValidateRequest {
    pub session_id: String,
    /// Long-poll: wait up to this many seconds (0–30) while the login is pending. Also
    /// accepted as the `wait` query parameter.
    #[schema(value_type = Option<String>)]
    pub wait: Option<String>,
    /// Required with `app_secret` when the app's policy says so.
    pub app_key: Option<String>,
    pub app_secret: Option<String>,
}

/// State of a handoff login.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HandoffState {
    Pending,
    Verified,
    Failed,
    Expired,
}

/// The signed-in user (email and phone only when verified).
#[derive(Serialize, ToSchema)]
pub struct HandoffUser {
    pub id: String,
    pub login_name: String,
    pub display_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// The outcome of a handoff login.
#[derive(Serialize, ToSchema)]
pub struct ValidateResponse {
    pub status: HandoffState,
    pub session_id: String,
    pub app_key: String,
    /// RFC 3339.
    pub verified_at: Option<String>,
    /// RFC 3339.
    pub expires_at: Option<String>,
    pub factors: Vec<super::admin::Factor>,
    /// RFC 8176 authentication method references.
    pub amr: Vec<String>,
    /// Present once a user is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<HandoffUser>,
    /// The engine session (`/v2/sessions/{id}`), once the link was claimed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine_session_id: Option<String>,
}

/// `GET /healthz`.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
}

/// `GET /readyz`.
#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `unavailable`.
    pub status: String,
    /// `sqlite` or `postgres`.
    pub database: String,
    /// Why the database is not usable (503 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

// ---------- schemas of the Session API's scalar wire types ----------

fn schema_from(value: Value) -> RefOr<Schema> {
    serde_json::from_value(value).unwrap_or_else(|_| RefOr::T(Schema::default()))
}

macro_rules! manual_schema {
    ($ty:ty, $json:expr) => {
        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                schema_from($json)
            }
        }
        impl ToSchema for $ty {}
    };
}

manual_schema!(
    wire::ProtoDuration,
    json!({"type": "string", "pattern": "^-?[0-9]{1,12}(\\.[0-9]{1,9})?s$",
           "description": "A protobuf Duration, e.g. `18000s` or `1.5s`.", "examples": ["18000s"]})
);
manual_schema!(
    wire::Timestamp,
    json!({"type": "string", "format": "date-time", "description": "RFC 3339."})
);
manual_schema!(
    wire::U64,
    json!({"oneOf": [{"type": "string", "pattern": "^[0-9]+$"}, {"type": "integer", "minimum": 0}],
           "description": "A 64-bit unsigned number, as a string (or a number)."})
);
manual_schema!(
    wire::Bytes,
    json!({"type": "string", "contentEncoding": "base64", "description": "Bytes in base64 (standard or URL-safe, padding optional)."})
);

/// A proto enum read by name or number.
fn proto_enum(names: &[&str]) -> Value {
    json!({"oneOf": [
        {"type": "string", "enum": names},
        {"type": "integer", "minimum": 0, "maximum": names.len() - 1},
    ]})
}

manual_schema!(
    wire::TimestampQueryMethod,
    proto_enum(&[
        "TIMESTAMP_QUERY_METHOD_EQUALS",
        "TIMESTAMP_QUERY_METHOD_GREATER",
        "TIMESTAMP_QUERY_METHOD_GREATER_OR_EQUALS",
        "TIMESTAMP_QUERY_METHOD_LESS",
        "TIMESTAMP_QUERY_METHOD_LESS_OR_EQUALS",
    ])
);
manual_schema!(
    wire::SessionFieldName,
    proto_enum(&[
        "SESSION_FIELD_NAME_UNSPECIFIED",
        "SESSION_FIELD_NAME_CREATION_DATE"
    ])
);
manual_schema!(
    wire::UserVerificationRequirement,
    proto_enum(&[
        "USER_VERIFICATION_REQUIREMENT_UNSPECIFIED",
        "USER_VERIFICATION_REQUIREMENT_REQUIRED",
        "USER_VERIFICATION_REQUIREMENT_PREFERRED",
        "USER_VERIFICATION_REQUIREMENT_DISCOURAGED",
    ])
);

// ---------- paths described here ----------

const TAG_REST: &str = "sessions (REST)";
const TAG_CONNECT: &str = "sessions (Connect)";
const TAG_HANDOFF: &str = "app handoff";
const TAG_PROBES: &str = "probes";

/// Creates a session, running the checks and challenges of the request.
#[allow(dead_code)]
#[utoipa::path(post, path = "/v2/sessions", tag = TAG_REST, operation_id = "CreateSession",
    request_body = wire::SessionRequestWire,
    responses((status = 201, description = "Created", body = wire::CreateSessionResponse)))]
fn rest_create_session() {}

/// Reads a session. An API key with the `session` scope (sessions it created) or `session_all`,
/// or the session's own token alone. A terminated session, or one the key does not reach,
/// answers 404 like an unknown id.
#[allow(dead_code)]
#[utoipa::path(get, path = "/v2/sessions/{session_id}", tag = TAG_REST, operation_id = "GetSession",
    params(("session_id" = String, Path),
           ("sessionToken" = Option<String>, Query, description = "The session's current token")),
    responses((status = 200, description = "The session", body = wire::GetSessionResponse)))]
fn rest_get_session() {}

/// Runs further checks and challenges, changes metadata or the lifetime; rotates the token.
#[allow(dead_code)]
#[utoipa::path(patch, path = "/v2/sessions/{session_id}", tag = TAG_REST, operation_id = "SetSession",
    params(("session_id" = String, Path)),
    request_body = wire::SessionRequestWire,
    responses((status = 200, description = "Changed", body = wire::SetSessionResponse)))]
fn rest_set_session() {}

/// Terminates a session. An API key with the `session` scope (sessions it created) or
/// `session_all`, or the session's own token (in the body or the `sessionToken` query
/// parameter) alone. Ending an ended, unknown or unreachable session succeeds and changes
/// nothing; handoff sessions are ended only by their app's hosted page.
#[allow(dead_code)]
#[utoipa::path(delete, path = "/v2/sessions/{session_id}", tag = TAG_REST, operation_id = "DeleteSession",
    params(("session_id" = String, Path),
           ("sessionToken" = Option<String>, Query, description = "The session's current token")),
    request_body = wire::SessionRefWire,
    responses((status = 200, description = "Terminated", body = wire::DeleteSessionResponse)))]
fn rest_delete_session() {}

/// Lists the live sessions matching every query that the key reaches (its own with `session`,
/// all with `session_all`), with offset, limit and order.
#[allow(dead_code)]
#[utoipa::path(post, path = "/v2/sessions/search", tag = TAG_REST, operation_id = "ListSessions",
    request_body = wire::ListSessionsWire,
    responses((status = 200, description = "A page of sessions", body = wire::ListSessionsResponse)))]
fn rest_list_sessions() {}

/// Connect unary call (JSON codec) of `CreateSession`.
#[allow(dead_code)]
#[utoipa::path(post, path = "/zitadel.session.v2.SessionService/CreateSession", tag = TAG_CONNECT,
    operation_id = "connect.CreateSession", request_body = wire::SessionRequestWire,
    responses((status = 200, description = "Created", body = wire::CreateSessionResponse)))]
fn connect_create_session() {}

/// Connect unary call (JSON codec) of `GetSession`.
#[allow(dead_code)]
#[utoipa::path(post, path = "/zitadel.session.v2.SessionService/GetSession", tag = TAG_CONNECT,
    operation_id = "connect.GetSession", request_body = wire::SessionRefWire,
    responses((status = 200, description = "The session", body = wire::GetSessionResponse)))]
fn connect_get_session() {}

/// Connect unary call (JSON codec) of `ListSessions`.
#[allow(dead_code)]
#[utoipa::path(post, path = "/zitadel.session.v2.SessionService/ListSessions", tag = TAG_CONNECT,
    operation_id = "connect.ListSessions", request_body = wire::ListSessionsWire,
    responses((status = 200, description = "A page of sessions", body = wire::ListSessionsResponse)))]
fn connect_list_sessions() {}

/// Connect unary call (JSON codec) of `SetSession` (`sessionId` in the body).
#[allow(dead_code)]
#[utoipa::path(post, path = "/zitadel.session.v2.SessionService/SetSession", tag = TAG_CONNECT,
    operation_id = "connect.SetSession", request_body = wire::SessionRequestWire,
    responses((status = 200, description = "Changed", body = wire::SetSessionResponse)))]
fn connect_set_session() {}

/// Connect unary call (JSON codec) of `DeleteSession`.
#[allow(dead_code)]
#[utoipa::path(post, path = "/zitadel.session.v2.SessionService/DeleteSession", tag = TAG_CONNECT,
    operation_id = "connect.DeleteSession", request_body = wire::SessionRefWire,
    responses((status = 200, description = "Terminated", body = wire::DeleteSessionResponse)))]
fn connect_delete_session() {}

/// An app backend asks for a login link (app handoff).
#[allow(dead_code)]
#[utoipa::path(post, path = "/session/generate/", tag = TAG_HANDOFF, operation_id = "generate",
    request_body(content(
        (GenerateRequest = "application/json"),
        (GenerateRequest = "application/x-www-form-urlencoded"),
        (GenerateRequest = "multipart/form-data"))),
    responses((status = 200, description = "A login link", body = GenerateResponse)))]
fn handoff_generate() {}

/// An app backend asks how the login went; may long-poll with `wait`.
#[allow(dead_code)]
#[utoipa::path(post, path = "/session/validate/", tag = TAG_HANDOFF, operation_id = "validate",
    params(("wait" = Option<u32>, Query, description = "Seconds to wait while pending (0–30)")),
    request_body(content(
        (ValidateRequest = "application/json"),
        (ValidateRequest = "application/x-www-form-urlencoded"),
        (ValidateRequest = "multipart/form-data"))),
    responses((status = 200, description = "The outcome", body = ValidateResponse)))]
fn handoff_validate() {}

/// Liveness: the process answers.
#[allow(dead_code)]
#[utoipa::path(get, path = "/healthz", tag = TAG_PROBES, operation_id = "healthz",
    responses((status = 200, description = "Alive", body = Health)))]
fn healthz() {}

/// Readiness: the database answers.
#[allow(dead_code)]
#[utoipa::path(get, path = "/readyz", tag = TAG_PROBES, operation_id = "readyz",
    responses((status = 200, description = "Ready", body = Readiness),
              (status = 503, description = "The database is unreachable", body = Readiness)))]
fn readyz() {}

/// This document.
#[allow(dead_code)]
#[utoipa::path(get, path = "/openapi.json", tag = TAG_PROBES, operation_id = "openapi",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object)))]
fn openapi_json() {}

const DESCRIPTION: &str = "\
Vestibule's HTTP APIs.\n\n\
* **Session API v2** (ZITADEL-compatible): REST under `/v2`, `/v2beta` and `/v2alpha`, and \
Connect unary calls with the JSON codec under `/zitadel.session.v2.SessionService/` and \
`/zitadel.session.v2beta.SessionService/`. protojson conventions: requests accept lowerCamelCase \
and snake_case names, responses use lowerCamelCase, 64-bit numbers are strings, timestamps \
RFC 3339, durations like `\"18000s\"`, bytes base64.\n\
* **Admin API** under `/admin/v1`: snake_case JSON field names, kebab-case URL segments; \
unknown request fields are refused; secrets appear once, in the response that created them; \
unset optional fields are `null`.\n\
* **App handoff**: `/session/generate/` and `/session/validate/` (also without the trailing \
slash), JSON, form or multipart bodies.\n\n\
Session and admin calls need `Authorization: Bearer <API key>` (scopes `session`, \
`session_all`, `admin`). A `session` key reaches the sessions it created; `session_all` (for a \
trusted custom login UI) reaches every Session API session and reads handoff sessions, which \
only the hosted page changes. A session out of reach answers exactly like an unknown one. \
Errors of both use `{\"code\", \"message\", \"details\":[{\"@type\",\"id\",\"message\"}]}` over \
REST and Connect's error JSON on Connect routes. Both are rate limited per client address and \
per API key: 429 with `Retry-After` and code 8 (`API-Rate01`).";

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key (`vst_...`) with the `session`, `session_all` or `admin` scope",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Vestibule", description = DESCRIPTION, license(name = "Apache-2.0")),
    paths(
        rest_create_session, rest_get_session, rest_set_session, rest_delete_session,
        rest_list_sessions, connect_create_session, connect_get_session, connect_list_sessions,
        connect_set_session, connect_delete_session, handoff_generate, handoff_validate, healthz,
        readyz, openapi_json
    ),
    components(schemas(ErrorBody, ErrorDetail, ConnectError, ConnectErrorDetail, HandoffError)),
    modifiers(&Security),
)]
struct ApiDoc;

// ---------- assembling ----------

fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("get", &mut item.get),
        ("put", &mut item.put),
        ("post", &mut item.post),
        ("delete", &mut item.delete),
        ("patch", &mut item.patch),
        ("head", &mut item.head),
        ("options", &mut item.options),
        ("trace", &mut item.trace),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.as_mut().map(|op| (m, op)))
}

/// Every `(METHOD, path)` the document describes.
pub fn operations(doc: &utoipa::openapi::OpenApi) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (path, item) in &doc.paths.paths {
        let mut item = item.clone();
        for (method, _) in operations_mut(&mut item) {
            out.push((method.to_ascii_uppercase(), path.clone()));
        }
    }
    out
}

/// Which family a path belongs to; decides its error shape and common errors.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    Rest,
    Admin,
    Connect,
    Handoff,
    Other,
}

fn family(path: &str) -> Family {
    if path.starts_with(super::admin::PREFIX) {
        Family::Admin
    } else if path.starts_with("/zitadel.") {
        Family::Connect
    } else if path.starts_with("/session/") {
        Family::Handoff
    } else if super::session::REST_PREFIXES
        .iter()
        .any(|p| path.starts_with(&format!("{p}/")))
    {
        Family::Rest
    } else {
        Family::Other
    }
}

fn error_response(description: &str, schema: &str, retry_after: bool) -> RefOr<OaResponse> {
    let mut value = json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}},
    });
    if retry_after {
        value["headers"] = json!({"Retry-After": {
            "description": "Seconds until the window ends",
            "schema": {"type": "integer", "minimum": 1},
        }});
    }
    serde_json::from_value(value).unwrap_or_else(|_| RefOr::T(OaResponse::new(description)))
}

/// Adds the errors every operation of a family can answer, unless the operation names them.
fn add_common_errors(path: &str, op: &mut Operation) {
    let fam = family(path);
    let schema = match fam {
        Family::Connect => "ConnectError",
        Family::Handoff => "HandoffError",
        Family::Rest | Family::Admin => "ErrorBody",
        Family::Other => return,
    };
    let has_param = path.contains('{');
    let mut errors: Vec<(&str, &str)> = vec![(
        "400",
        "Bad input: malformed JSON, wrong types, unknown enum values, oversized body, failed \
         validation (`API-Json01`, `API-Json02`, `API-Param1`, `ARG-Inval1`, ...) or a failed \
         precondition",
    )];
    match fam {
        Family::Handoff => errors.extend([
            ("401", "Unknown app key or wrong secret (`AUTH-App01`)"),
            ("404", "Unknown session id (`HANDOFF-Ses01`)"),
            ("413", "Body too large (`REQ-Size01`)"),
            ("415", "Unsupported body type (`REQ-Media01`)"),
        ]),
        _ => errors.extend([
            (
                "401",
                "No bearer key, or an unknown or revoked one (`AUTH-Key00`, `AUTH-Key01`)",
            ),
            (
                "403",
                "The key lacks the scope (`AUTH-Scope1`), or a wrong session token",
            ),
        ]),
    }
    if matches!(fam, Family::Rest | Family::Connect) || (fam == Family::Admin && has_param) {
        errors.push(("404", "Unknown id"));
    }
    if matches!(fam, Family::Rest | Family::Connect) {
        errors.push(("409", "A concurrent change won (`SESSION-Cnc01`); retry"));
        errors.push(("501", "Not supported yet (WebAuthn checks, IdP intents)"));
    }
    if fam == Family::Connect {
        errors.push((
            "415",
            "A content type other than JSON, protobuf, gRPC or gRPC-Web (`API-Codec1`, answered before anything else)",
        ));
    }
    errors.push(("500", "Internal error (logged with the request id)"));
    let responses = &mut op.responses.responses;
    for (status, description) in errors {
        responses
            .entry(status.to_owned())
            .or_insert_with(|| error_response(description, schema, false));
    }
    responses.entry("429".to_owned()).or_insert_with(|| {
        error_response(
            "Rate limited (code 8, `API-Rate01`; `RATE-Lim01` on the handoff)",
            schema,
            true,
        )
    });
}

/// Copies the paths under `from` to `to` with operation ids suffixed by `suffix`.
fn copy_paths(doc: &mut utoipa::openapi::OpenApi, from: &str, to: &str, suffix: &str) {
    let copies: Vec<(String, PathItem)> = doc
        .paths
        .paths
        .iter()
        .filter(|(p, _)| p.starts_with(from))
        .map(|(p, item)| {
            let mut item = item.clone();
            for (_, op) in operations_mut(&mut item) {
                if let Some(id) = &op.operation_id {
                    op.operation_id = Some(format!("{id}.{suffix}"));
                }
            }
            (p.replacen(from, to, 1), item)
        })
        .collect();
    doc.paths.paths.extend(copies);
}

/// Builds the whole document.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc.merge(super::admin::router().into_openapi());
    // The REST prefixes and Connect packages all serve the same five RPCs.
    for prefix in super::session::REST_PREFIXES {
        if prefix != "/v2" {
            copy_paths(
                &mut doc,
                "/v2/",
                &format!("{prefix}/"),
                prefix.trim_start_matches('/'),
            );
        }
    }
    let base = "/zitadel.session.v2.SessionService/";
    for service in super::connect::SERVICES {
        let to = format!("/{service}/");
        if to != base {
            let package = service.split('.').nth(2).unwrap_or(service);
            copy_paths(&mut doc, base, &to, package);
        }
    }
    // The handoff answers with and without the trailing slash of the Ziqx URLs.
    for p in ["/session/generate", "/session/validate"] {
        copy_paths(&mut doc, &format!("{p}/"), p, "no_slash");
    }
    let bearer = SecurityRequirement::new("bearer", Vec::<String>::new());
    for (path, item) in doc.paths.paths.iter_mut() {
        let fam = family(path);
        for (method, op) in operations_mut(item) {
            add_common_errors(path, op);
            match fam {
                Family::Admin | Family::Rest | Family::Connect => {
                    let mut security = vec![bearer.clone()];
                    // GET and DELETE of a session also work with its token alone.
                    let token_alone = (fam == Family::Rest && matches!(method, "get" | "delete"))
                        || (fam == Family::Connect
                            && (path.ends_with("/GetSession") || path.ends_with("/DeleteSession")));
                    if token_alone {
                        security.push(SecurityRequirement::default());
                    }
                    op.security = Some(security);
                }
                _ => {}
            }
            if fam == Family::Rest && method == "delete" {
                // The token may come in the body or the query; the body is optional.
                if let Some(body) = &mut op.request_body {
                    body.required = Some(Required::False);
                }
            }
            if fam == Family::Connect {
                let params = op.parameters.get_or_insert_with(Vec::new);
                if let Ok(p) = serde_json::from_value(json!({
                    "name": "Connect-Protocol-Version", "in": "header", "required": false,
                    "description": "Connect protocol version; `1` when sent",
                    "schema": {"type": "string", "enum": ["1"]},
                })) {
                    params.push(p);
                }
            }
        }
    }
    doc
}

/// The `(METHOD, path)` routes the server serves outside the admin API (whose routes and
/// paths come from one place), built from the same constants the routers use. A test checks
/// that the document and this table agree, and that each entry answers.
pub fn non_admin_routes() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut add = |m: &str, p: String| out.push((m.to_owned(), p));
    for prefix in super::session::REST_PREFIXES {
        add("POST", format!("{prefix}/sessions"));
        add("POST", format!("{prefix}/sessions/search"));
        for m in ["GET", "PATCH", "DELETE"] {
            add(m, format!("{prefix}/sessions/{{session_id}}"));
        }
    }
    for service in super::connect::SERVICES {
        for method in super::connect::METHODS {
            add("POST", format!("/{service}/{method}"));
        }
    }
    for p in ["/session/generate", "/session/validate"] {
        add("POST", format!("{p}/"));
        add("POST", p.to_owned());
    }
    for p in ["/healthz", "/readyz", "/openapi.json"] {
        add("GET", p.to_owned());
    }
    out
}

/// The document as JSON, built once.
pub fn document_json() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| document().to_json().unwrap_or_else(|_| "{}".to_owned()))
}

async fn serve() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        document_json(),
    )
        .into_response()
}

/// `GET /openapi.json`.
pub fn routes() -> Router<AppState> {
    Router::new().route("/openapi.json", get(serve))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_schemas_parse() {
        for schema in [
            wire::ProtoDuration::schema(),
            wire::Timestamp::schema(),
            wire::U64::schema(),
            wire::Bytes::schema(),
            wire::TimestampQueryMethod::schema(),
            wire::SessionFieldName::schema(),
            wire::UserVerificationRequirement::schema(),
        ] {
            let json = serde_json::to_value(&schema).unwrap();
            assert_ne!(json, json!({}), "{json}");
        }
        let r = error_response("x", "ErrorBody", true);
        let json = serde_json::to_value(&r).unwrap();
        assert!(json["headers"]["Retry-After"].is_object(), "{json}");
    }

    #[test]
    fn document_is_3_1_and_lists_every_non_admin_route() {
        let doc = document();
        let json: Value = serde_json::from_str(&doc.to_json().unwrap()).unwrap();
        assert!(json["openapi"].as_str().unwrap().starts_with("3.1."));
        let ops = operations(&doc);
        for route in non_admin_routes() {
            assert!(ops.contains(&route), "{route:?} is not documented");
        }
    }
}
