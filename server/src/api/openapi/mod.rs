//! The OpenAPI 3.1 document, generated from the code with utoipa and served at
//! `GET /openapi.json`.
//!
//! - The admin API's paths come from its router ([`super::admin::router`]): the same
//!   annotations build the routes and the document.
//! - The Session API's wire types derive `ToSchema` where they are defined
//!   ([`super::wire`]); its five RPCs are described once, in a table ([`session`]), from which
//!   the paths of every REST prefix and Connect package the routers serve are generated.
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
        path::{Operation, ParameterIn, PathItem},
        security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme},
        RefOr, Response as OaResponse, Schema,
    },
    Modify, OpenApi, PartialSchema, ToSchema,
};

mod refine;
mod session;

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
    #[schema(min_length = 1)]
    pub app_key: String,
    #[schema(min_length = 1)]
    pub app_secret: String,
    /// Must be registered for the app.
    #[schema(value_type = String, required = false)]
    pub redirect_uri: Option<String>,
    /// Handed back on the redirect.
    #[schema(value_type = String, required = false)]
    pub state: Option<String>,
    /// Prefills the login name.
    #[schema(value_type = String, required = false)]
    pub login_hint: Option<String>,
    /// Preferred languages, space separated.
    #[schema(value_type = String, required = false)]
    pub ui_locales: Option<String>,
    #[schema(schema_with = handoff_lifetime_schema, required = false)]
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
    #[schema(min_length = 1)]
    pub session_id: String,
    /// Long-poll: wait up to this many seconds while the login is pending (more than 30 waits
    /// 30; empty: no wait). Also accepted as the `wait` query parameter.
    #[schema(value_type = String, required = false, pattern = "^(?:|[0-9]{1,19})$")]
    pub wait: Option<String>,
    /// Required with `app_secret` when the app's policy says so.
    #[schema(value_type = String, required = false)]
    pub app_key: Option<String>,
    #[schema(value_type = String, required = false)]
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
    json!({"oneOf": [{"type": "string", "pattern": "^[0-9]{1,19}$"},
                     {"type": "integer", "minimum": 0, "maximum": u64::MAX}],
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
// A WebAuthn challenge must say what it requires: `UNSPECIFIED` (0) is refused.
manual_schema!(
    wire::UserVerificationRequirement,
    json!({"oneOf": [
        {"type": "string", "enum": [
            "USER_VERIFICATION_REQUIREMENT_REQUIRED",
            "USER_VERIFICATION_REQUIREMENT_PREFERRED",
            "USER_VERIFICATION_REQUIREMENT_DISCOURAGED",
        ]},
        {"type": "integer", "minimum": 1, "maximum": 3},
    ]})
);

/// Base64 as the server decodes it: standard or URL-safe alphabet, padding optional, unused
/// bits of the last character zero.
const BASE64: &str =
    "^(?:(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/][AQgw](?:==)?|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=?)?\
|(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-][AQgw](?:==)?|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048]=?)?)$";

/// Session metadata: at most 50 keys of 1–200 characters, values of at most 64 KiB in base64.
pub(crate) fn metadata_schema() -> RefOr<Schema> {
    let max_base64 = domain::input::MAX_METADATA_VALUE_BYTES.div_ceil(3) * 4;
    schema_from(json!({
        "type": ["object", "null"],
        "maxProperties": domain::input::MAX_METADATA_ENTRIES,
        "propertyNames": {
            "type": "string", "minLength": 1, "maxLength": domain::input::MAX_METADATA_KEY_CHARS,
        },
        "additionalProperties": {
            "type": "string", "contentEncoding": "base64", "pattern": BASE64, "maxLength": max_base64,
        },
    }))
}

/// A query parameter read as `u64`.
pub(crate) fn u64_param_schema() -> RefOr<Schema> {
    schema_from(json!({"type": "integer", "minimum": 0, "maximum": u64::MAX}))
}

/// A query parameter read as `u32`.
pub(crate) fn u32_param_schema() -> RefOr<Schema> {
    schema_from(json!({"type": "integer", "minimum": 0, "maximum": u32::MAX}))
}

/// A 32-bit unsigned number as the Session API reads it (string or number).
pub(crate) fn u32_schema() -> RefOr<Schema> {
    schema_from(json!({"oneOf": [
        {"type": "null"},
        {"type": "string", "pattern": "^[0-9]{1,9}$"},
        {"type": "integer", "minimum": 0, "maximum": u32::MAX},
    ]}))
}

/// An absolute http(s) URL with a host name, without credentials or a fragment (the server's
/// `url` crate reads more forms; this is the subset the document promises).
const HTTP_URL: &str = "^https?://(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)*[A-Za-z]\
(?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?::[0-9]{1,4})?(?:/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?\
(?:\\?[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*)?$";

fn redirect_uris(nullable: bool) -> RefOr<Schema> {
    let kind = if nullable {
        json!(["array", "null"])
    } else {
        json!("array")
    };
    schema_from(json!({
        "type": kind,
        "description": "At most 20 absolute http(s) URLs without fragments.",
        "maxItems": 20,
        "items": {"type": "string", "maxLength": 2048, "pattern": HTTP_URL},
    }))
}

/// The redirect URIs of a new app.
pub(crate) fn redirect_uris_schema() -> RefOr<Schema> {
    redirect_uris(false)
}

/// The redirect URIs of an app change (absent: unchanged).
pub(crate) fn optional_redirect_uris_schema() -> RefOr<Schema> {
    redirect_uris(true)
}

/// The ids of an `idsQuery`: at most 1000, each at most 200 characters.
pub(crate) fn ids_schema() -> RefOr<Schema> {
    schema_from(json!({
        "type": ["array", "null"],
        "maxItems": 1000,
        "items": {"type": "string", "maxLength": 200},
    }))
}

/// Whole seconds from 1 to 2591999 (below 30 days, the default `max_session_lifetime_secs`).
const LIFETIME_SECONDS: &str =
    "(?:[1-9][0-9]{0,5}|1[0-9]{6}|2[0-4][0-9]{5}|25[0-8][0-9]{4}|259[01][0-9]{3})";

/// A session lifetime: a protobuf Duration above zero and at most the server's maximum, 30 days
/// by default (`max_session_lifetime_secs`; the document states the default).
pub(crate) fn lifetime_schema() -> RefOr<Schema> {
    schema_from(json!({
        "type": ["string", "null"],
        "description": "A protobuf Duration above zero and at most 30 days (the default \
            maximum), e.g. `18000s`.",
        "pattern": format!(
            "^(?:0\\.[0-9]{{0,8}}[1-9]|{LIFETIME_SECONDS}(?:\\.[0-9]{{1,9}})?|2592000(?:\\.0{{1,9}})?)s$"
        ),
    }))
}

/// The handoff's lifetime: whole seconds up to the same maximum, or empty for the default.
pub(crate) fn handoff_lifetime_schema() -> RefOr<Schema> {
    schema_from(json!({
        "type": "string",
        "description": "Session lifetime in whole seconds, at most 30 days (the default \
            maximum); empty: the server's default.",
        "pattern": format!("^(?:|{LIFETIME_SECONDS}|2592000)$"),
    }))
}

// ---------- paths described here ----------

const TAG_HANDOFF: &str = "app handoff";
const TAG_PROBES: &str = "probes";

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
    paths(handoff_generate, handoff_validate, healthz, readyz, openapi_json),
    components(schemas(
        ErrorBody, ErrorDetail, ConnectError, ConnectErrorDetail, HandoffError,
        wire::SessionRequestWire, wire::SessionRefWire, wire::ListSessionsWire,
        wire::CreateSessionResponse, wire::GetSessionResponse, wire::SetSessionResponse,
        wire::DeleteSessionResponse, wire::ListSessionsResponse
    )),
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
    // The Session API: every prefix and package generated from one table.
    match session::paths() {
        Ok(paths) => doc.paths.merge(paths),
        Err(err) => tracing::error!(%err, "the Session API's paths do not build"),
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
            if fam == Family::Admin {
                // Record ids in admin paths are read like every id: 1–200 characters without
                // control characters.
                for p in op.parameters.iter_mut().flatten() {
                    if p.parameter_in == ParameterIn::Path && p.name.ends_with("_id") {
                        p.schema = Some(schema_from(session::id_schema()));
                    }
                }
            }
            match fam {
                Family::Admin | Family::Rest | Family::Connect => {
                    let mut security = vec![bearer.clone()];
                    // GET and DELETE of a session also work with its token alone.
                    if session::token_alone(path, method) {
                        security.push(SecurityRequirement::default());
                    }
                    op.security = Some(security);
                }
                _ => {}
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

/// The document as JSON, built once, with the rules between fields that utoipa's model cannot
/// hold ([`refine`]).
pub fn document_json() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = serde_json::to_value(document()).unwrap_or_default();
        refine::apply(&mut doc);
        doc.to_string()
    })
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
        for (i, schema) in [
            wire::ProtoDuration::schema(),
            wire::Timestamp::schema(),
            wire::U64::schema(),
            wire::Bytes::schema(),
            wire::TimestampQueryMethod::schema(),
            wire::SessionFieldName::schema(),
            wire::UserVerificationRequirement::schema(),
            metadata_schema(),
            u32_schema(),
            lifetime_schema(),
            handoff_lifetime_schema(),
            redirect_uris_schema(),
            optional_redirect_uris_schema(),
            ids_schema(),
            u64_param_schema(),
            u32_param_schema(),
        ]
        .into_iter()
        .enumerate()
        {
            // A schema utoipa's model cannot read falls back to the default one.
            let fallback = serde_json::to_value(RefOr::T(Schema::default())).unwrap();
            let json = serde_json::to_value(&schema).unwrap();
            assert_ne!(json, json!({}), "{i}: {json}");
            assert_ne!(json, fallback, "{i}: {json}");
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
