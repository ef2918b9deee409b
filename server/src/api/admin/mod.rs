//! The admin API under `/admin/v1/`: users and their factors, apps, API keys.
//!
//! Conventions (also stated in the OpenAPI document):
//! - JSON field names are snake_case, like the CLI's `--json` output and the app handoff; URL
//!   segments are kebab-case (`/rotate-secret`, `/recovery-codes`).
//! - Every call needs `Authorization: Bearer <API key>` with the `admin` scope (401 / 403).
//! - Request bodies refuse unknown fields, so a misspelt field is a 400, not a silent no-op.
//! - Secrets (app secrets, API keys, TOTP secrets, recovery codes) appear once, in the response
//!   that created them; hashes never leave the server. Responses carry `Cache-Control: no-store`.
//! - Optional fields that are unset are `null` in responses.
//! - Errors use the Session API's shape (`{"code","message","details":[{"@type","id","message"}]}`):
//!   400 for bad input (`ARG-Inval1`, `API-Json01`, `API-Param1`, ...), 404 for unknown ids
//!   (`QUERY-Dfbg2` user, `QUERY-App01` app, `QUERY-Key01` key), 409 for a taken login name
//!   (`COMMAND-Dup01`).
//!
//! Each handler parses, calls one engine method (`domain::service::admin`) and maps the result.
//! The router and the OpenAPI paths come from the same `#[utoipa::path]` annotations
//! ([`router`]), so a route cannot exist without its documentation.

mod app_types;
mod apps;
mod factors;
mod keys;
mod router;
mod types;
mod users;

use axum::http::StatusCode;
use domain::{
    input::{HttpUrl, Id},
    DomainError,
};

use super::error::ApiError;

pub use router::{router, routes};
pub use types::Factor;

/// Path prefix of the admin API.
pub const PREFIX: &str = "/admin/v1";

const TAG_USERS: &str = "admin: users";
const TAG_FACTORS: &str = "admin: factors";
const TAG_APPS: &str = "admin: apps";
const TAG_KEYS: &str = "admin: API keys";

// ---------- parsing helpers ----------

fn id(raw: String) -> Result<String, ApiError> {
    Ok(Id::parse(raw)?.as_str().to_owned())
}

fn optional<T>(
    value: Option<String>,
    parse: impl FnOnce(String) -> Result<T, DomainError>,
) -> Result<Option<T>, ApiError> {
    value.map(parse).transpose().map_err(ApiError::from)
}

fn nullable_field<T>(
    value: Option<Option<String>>,
    parse: impl FnOnce(String) -> Result<T, DomainError>,
) -> Result<Option<Option<T>>, ApiError> {
    match value {
        None => Ok(None),
        Some(None) => Ok(Some(None)),
        Some(Some(text)) => parse(text).map(|v| Some(Some(v))).map_err(ApiError::from),
    }
}

fn redirect_uris(list: Vec<String>) -> Result<Vec<HttpUrl>, ApiError> {
    list.iter()
        .map(|u| HttpUrl::parse("redirect_uris", u).map_err(ApiError::from))
        .collect()
}

fn no_content() -> StatusCode {
    StatusCode::NO_CONTENT
}
