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

use axum::{
    extract::State,
    http::{header, HeaderValue, StatusCode},
    response::IntoResponse,
    Json,
};
use domain::{
    input::{
        Color, DisplayName, Email, HttpUrl, Id, Language, LoginName, Name, NewPassword, Phone,
    },
    model::{ApiKey, App, Branding, FactorKind, LoginPolicy, Scope, User, UserState},
    service::{AppChanges, NewApp, NewUser, ProfileChanges, UserFactors},
    DomainError,
};
use serde::{Deserialize, Deserializer, Serialize};
use time::{format_description::well_known::Rfc3339, OffsetDateTime};
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    auth::AdminScope,
    error::ApiError,
    json::{ApiJson, ApiPath, ApiQuery},
};
use crate::http::AppState;

/// Path prefix of the admin API.
pub const PREFIX: &str = "/admin/v1";

const TAG_USERS: &str = "admin: users";
const TAG_FACTORS: &str = "admin: factors";
const TAG_APPS: &str = "admin: apps";
const TAG_KEYS: &str = "admin: API keys";

// ---------- wire types ----------

/// A factor kind, as used in policies, factor lists and `DELETE .../factors/{kind}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Factor {
    Password,
    Totp,
    OtpSms,
    OtpEmail,
    RecoveryCode,
    Passkey,
    SecurityKey,
}

impl From<Factor> for FactorKind {
    fn from(f: Factor) -> Self {
        match f {
            Factor::Password => Self::Password,
            Factor::Totp => Self::Totp,
            Factor::OtpSms => Self::OtpSms,
            Factor::OtpEmail => Self::OtpEmail,
            Factor::RecoveryCode => Self::RecoveryCode,
            Factor::Passkey => Self::Passkey,
            Factor::SecurityKey => Self::SecurityKey,
        }
    }
}

impl From<FactorKind> for Factor {
    fn from(f: FactorKind) -> Self {
        match f {
            FactorKind::Password => Self::Password,
            FactorKind::Totp => Self::Totp,
            FactorKind::OtpSms => Self::OtpSms,
            FactorKind::OtpEmail => Self::OtpEmail,
            FactorKind::RecoveryCode => Self::RecoveryCode,
            FactorKind::Passkey => Self::Passkey,
            FactorKind::SecurityKey => Self::SecurityKey,
        }
    }
}

/// What an API key may call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApiScope {
    /// The Session API (`/v2/sessions`, Connect, gRPC) for the sessions the key creates.
    Session,
    /// The Session API for every session, for a trusted custom login UI; handoff sessions
    /// are readable with it, never writable.
    SessionAll,
    /// This admin API.
    Admin,
}

impl From<ApiScope> for Scope {
    fn from(s: ApiScope) -> Self {
        match s {
            ApiScope::Session => Self::Session,
            ApiScope::SessionAll => Self::SessionAll,
            ApiScope::Admin => Self::Admin,
        }
    }
}

impl From<Scope> for ApiScope {
    fn from(s: Scope) -> Self {
        match s {
            Scope::Session => Self::Session,
            Scope::SessionAll => Self::SessionAll,
            Scope::Admin => Self::Admin,
        }
    }
}

/// Whether a user may sign in (a lock is separate: see `locked_until`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UserStateOut {
    Active,
    Inactive,
}

/// TOTP set-up of a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TotpState {
    /// No TOTP secret.
    None,
    /// Enrollment started, waiting for the first code (`POST .../totp/verify`).
    Pending,
    /// TOTP checks work.
    Confirmed,
}

/// A user as the admin API shows it. Hashes and secrets are never included.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserOut {
    pub id: String,
    pub login_name: String,
    pub display_name: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub phone: Option<String>,
    pub phone_verified: bool,
    pub preferred_language: Option<String>,
    pub state: UserStateOut,
    pub password_set: bool,
    pub totp: TotpState,
    pub otp_email_enabled: bool,
    pub otp_sms_enabled: bool,
    /// Consecutive failed password checks.
    pub failed_password_attempts: u32,
    /// Consecutive failed code checks (TOTP, SMS, email, recovery codes).
    pub failed_code_attempts: u32,
    /// RFC 3339; set while the user is locked out.
    pub locked_until: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// RFC 3339 at microsecond precision, what both databases keep: a record reads the same in
/// the response that created it and in every later one.
fn rfc3339(t: OffsetDateTime) -> String {
    let t = t
        .replace_nanosecond(t.nanosecond() / 1_000 * 1_000)
        .unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_default()
}

impl From<&User> for UserOut {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.clone(),
            login_name: u.login_name.clone(),
            display_name: u.display_name.clone(),
            email: u.email.clone(),
            email_verified: u.email_verified,
            phone: u.phone.clone(),
            phone_verified: u.phone_verified,
            preferred_language: u.preferred_language.clone(),
            state: match u.state {
                UserState::Active => UserStateOut::Active,
                UserState::Inactive => UserStateOut::Inactive,
            },
            password_set: u.password_hash.is_some(),
            totp: match &u.totp {
                None => TotpState::None,
                Some(t) if t.confirmed => TotpState::Confirmed,
                Some(_) => TotpState::Pending,
            },
            otp_email_enabled: u.otp_email_enabled,
            otp_sms_enabled: u.otp_sms_enabled,
            failed_password_attempts: u.password_failures,
            failed_code_attempts: u.code_failures,
            locked_until: u.locked_until.map(rfc3339),
            created_at: rfc3339(u.created_at),
            updated_at: rfc3339(u.updated_at),
        }
    }
}

/// `POST /admin/v1/users`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// 1–200 characters, unique in any letter case.
    pub login_name: String,
    /// 8–200 characters. Without one the user cannot pass a password check.
    #[serde(default)]
    pub password: Option<String>,
    /// Defaults to the login name.
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub email_verified: bool,
    /// E.164, e.g. `+41791234567`.
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub phone_verified: bool,
    /// A language tag such as `de-CH`.
    #[serde(default)]
    pub preferred_language: Option<String>,
}

/// Reads a field that may be absent (leave as is), `null` (clear) or a value (set).
fn nullable<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// `PATCH /admin/v1/users/{user_id}`: absent fields stay as they are; `null` clears `email`,
/// `phone` and `preferred_language`. A changed email or phone is unverified again (and its code
/// factor off) unless `email_verified` / `phone_verified` say otherwise.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    #[serde(default)]
    pub login_name: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    #[serde(default)]
    pub email_verified: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    #[serde(default)]
    pub phone_verified: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub preferred_language: Option<Option<String>>,
}

/// `GET /admin/v1/users` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListUsersParams {
    /// Users to skip (ordered by login name).
    pub offset: Option<u64>,
    /// Page size; 0 or absent means the server's default, larger values are capped.
    pub limit: Option<u32>,
    /// Only the user with this login name (any letter case).
    pub login_name: Option<String>,
}

/// A page of users.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    pub users: Vec<UserOut>,
}

/// `PUT /admin/v1/users/{user_id}/password`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPassword {
    /// 8–200 characters.
    pub password: String,
}

/// `PUT .../otp-email`, `PUT .../otp-sms`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetEnabled {
    /// Turning codes on needs a verified email / phone.
    pub enabled: bool,
}

/// TOTP enrollment started: show the QR code (or the secret) to the person, then confirm with a
/// first code. Shown once.
#[derive(Serialize, ToSchema)]
pub struct TotpStarted {
    /// The secret in base32, for typing in by hand.
    pub secret: String,
    /// `otpauth://totp/...` URI.
    pub uri: String,
    /// The URI as a QR code, an SVG document.
    pub qr_svg: String,
}

/// `POST .../totp/verify`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpCodeIn {
    /// The 6-digit code the authenticator shows.
    pub code: String,
}

/// New recovery codes, shown once; they replace any earlier ones.
#[derive(Serialize, ToSchema)]
pub struct RecoveryCodes {
    pub codes: Vec<String>,
}

/// The factors a user has set up.
#[derive(Debug, Serialize, ToSchema)]
pub struct FactorsOut {
    pub factors: Vec<Factor>,
    /// Unused recovery codes left.
    pub recovery_codes_left: usize,
}

impl From<UserFactors> for FactorsOut {
    fn from(f: UserFactors) -> Self {
        Self {
            factors: f.factors.into_iter().map(Factor::from).collect(),
            recovery_codes_left: f.recovery_codes_left,
        }
    }
}

/// A login policy. On input, absent fields take the defaults (every factor allowed, no second
/// factor required, no secret on validate); the whole policy is replaced.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    #[serde(default = "all_factors")]
    pub allowed_factors: Vec<Factor>,
    #[serde(default)]
    pub require_second_factor: bool,
    #[serde(default)]
    pub require_secret_on_validate: bool,
    /// Only a passkey completes a sign-in; users without one register one on the hosted page.
    #[serde(default)]
    pub passwordless: bool,
}

fn all_factors() -> Vec<Factor> {
    LoginPolicy::default()
        .allowed_factors
        .into_iter()
        .map(Factor::from)
        .collect()
}

impl From<&LoginPolicy> for Policy {
    fn from(p: &LoginPolicy) -> Self {
        Self {
            allowed_factors: p
                .allowed_factors
                .iter()
                .copied()
                .map(Factor::from)
                .collect(),
            require_second_factor: p.require_second_factor,
            require_secret_on_validate: p.require_secret_on_validate,
            passwordless: p.passwordless,
        }
    }
}

impl From<Policy> for LoginPolicy {
    fn from(p: Policy) -> Self {
        Self {
            allowed_factors: p
                .allowed_factors
                .into_iter()
                .map(FactorKind::from)
                .collect(),
            require_second_factor: p.require_second_factor,
            require_secret_on_validate: p.require_secret_on_validate,
            passwordless: p.passwordless,
        }
    }
}

/// How the hosted page looks for an app. On input the whole branding is replaced; absent
/// fields are unset.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BrandingIo {
    #[serde(default)]
    pub display_name: Option<String>,
    /// An absolute http(s) URL.
    #[serde(default)]
    pub logo_url: Option<String>,
    /// `#rrggbb`.
    #[serde(default)]
    pub primary_color: Option<String>,
    /// `#rrggbb`.
    #[serde(default)]
    pub background_color: Option<String>,
}

impl From<&Branding> for BrandingIo {
    fn from(b: &Branding) -> Self {
        Self {
            display_name: b.display_name.clone(),
            logo_url: b.logo_url.clone(),
            primary_color: b.primary_color.clone(),
            background_color: b.background_color.clone(),
        }
    }
}

/// Checks the fields here too, so a bad colour is refused before anything is stored.
fn branding(b: BrandingIo) -> Result<Branding, ApiError> {
    if let Some(name) = &b.display_name {
        DisplayName::parse(name.clone())?;
    }
    if let Some(url) = &b.logo_url {
        HttpUrl::parse("branding.logo_url", url)?;
    }
    if let Some(c) = &b.primary_color {
        Color::parse("branding.primary_color", c)?;
    }
    if let Some(c) = &b.background_color {
        Color::parse("branding.background_color", c)?;
    }
    Ok(Branding {
        display_name: b.display_name,
        logo_url: b.logo_url,
        primary_color: b.primary_color,
        background_color: b.background_color,
    })
}

/// An app as the admin API shows it (never its secret or the secret's hash).
#[derive(Debug, Serialize, ToSchema)]
pub struct AppOut {
    pub id: String,
    /// The public key the app backend sends with its secret.
    pub app_key: String,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub policy: Policy,
    pub branding: BrandingIo,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&App> for AppOut {
    fn from(a: &App) -> Self {
        Self {
            id: a.id.clone(),
            app_key: a.app_key.clone(),
            name: a.name.clone(),
            redirect_uris: a.redirect_uris.clone(),
            policy: (&a.policy).into(),
            branding: (&a.branding).into(),
            created_at: rfc3339(a.created_at),
            updated_at: rfc3339(a.updated_at),
        }
    }
}

/// `POST /admin/v1/apps`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApp {
    /// 1–200 characters.
    pub name: String,
    /// Absolute http(s) URLs without fragments, at most 20. None: the hosted page ends on a
    /// "signed in" page.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub policy: Option<Policy>,
    #[serde(default)]
    pub branding: Option<BrandingIo>,
}

/// `PATCH /admin/v1/apps/{app_id}`: absent fields stay; a given `redirect_uris`, `policy` or
/// `branding` replaces the old value whole.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateApp {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub redirect_uris: Option<Vec<String>>,
    #[serde(default)]
    pub policy: Option<Policy>,
    #[serde(default)]
    pub branding: Option<BrandingIo>,
}

/// A new app and its secret, shown once.
#[derive(Serialize, ToSchema)]
pub struct AppCreated {
    pub app: AppOut,
    pub app_secret: String,
}

/// The new secret, shown once; the old one stopped working.
#[derive(Serialize, ToSchema)]
pub struct AppSecretRotated {
    pub id: String,
    pub app_key: String,
    pub app_secret: String,
}

/// All apps.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppList {
    pub apps: Vec<AppOut>,
}

/// An API key (never the key itself or its hash).
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyOut {
    pub id: String,
    pub name: String,
    pub scopes: Vec<ApiScope>,
    pub created_at: String,
    /// RFC 3339; set once revoked.
    pub revoked_at: Option<String>,
}

impl From<&ApiKey> for ApiKeyOut {
    fn from(k: &ApiKey) -> Self {
        Self {
            id: k.id.clone(),
            name: k.name.clone(),
            scopes: k.scopes.iter().copied().map(ApiScope::from).collect(),
            created_at: rfc3339(k.created_at),
            revoked_at: k.revoked_at.map(rfc3339),
        }
    }
}

/// `POST /admin/v1/api-keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// 1–200 characters.
    pub name: String,
    /// At least one.
    pub scopes: Vec<ApiScope>,
}

/// A new API key; `key` is the bearer token, shown once.
#[derive(Serialize, ToSchema)]
pub struct ApiKeyCreated {
    pub api_key: ApiKeyOut,
    pub key: String,
}

/// All API keys, revoked ones included.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyList {
    pub api_keys: Vec<ApiKeyOut>,
}

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

// ---------- users ----------

/// Creates a user.
#[utoipa::path(post, path = "/admin/v1/users", tag = TAG_USERS, request_body = CreateUser,
    responses((status = 201, description = "Created", body = UserOut),
              (status = 409, description = "The login name is taken (`COMMAND-Dup01`)", body = super::openapi::ErrorBody)))]
async fn create_user(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateUser>,
) -> Result<impl IntoResponse, ApiError> {
    let new = NewUser {
        login_name: LoginName::parse(body.login_name)?,
        display_name: optional(body.display_name, DisplayName::parse)?,
        email: optional(body.email, Email::parse)?,
        email_verified: body.email_verified,
        phone: optional(body.phone, Phone::parse)?,
        phone_verified: body.phone_verified,
        preferred_language: optional(body.preferred_language, Language::parse)?,
        password: optional(body.password, NewPassword::parse)?,
    };
    let user = state.engine.create_user(new).await?;
    Ok((StatusCode::CREATED, Json(UserOut::from(&user))))
}

/// Lists users by login name, or finds one by `login_name`.
#[utoipa::path(get, path = "/admin/v1/users", tag = TAG_USERS, params(ListUsersParams),
    responses((status = 200, description = "A page of users", body = UserList)))]
async fn list_users(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ListUsersParams>,
) -> Result<Json<UserList>, ApiError> {
    let users = match q.login_name {
        Some(name) => {
            let name = LoginName::parse(name)?;
            state
                .engine
                .find_user_by_login_name(&name)
                .await?
                .into_iter()
                .collect()
        }
        None => {
            state
                .engine
                .list_users(q.offset.unwrap_or(0), q.limit.unwrap_or(0))
                .await?
        }
    };
    Ok(Json(UserList {
        users: users.iter().map(UserOut::from).collect(),
    }))
}

/// Reads one user.
#[utoipa::path(get, path = "/admin/v1/users/{user_id}", tag = TAG_USERS,
    params(("user_id" = String, Path)),
    responses((status = 200, description = "The user", body = UserOut)))]
async fn get_user(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiPath(user_id): ApiPath<String>,
) -> Result<Json<UserOut>, ApiError> {
    let user = state.engine.get_user(&id(user_id)?).await?;
    Ok(Json(UserOut::from(&user)))
}

/// Changes profile fields and the verified flags of email and phone.
#[utoipa::path(patch, path = "/admin/v1/users/{user_id}", tag = TAG_USERS,
    params(("user_id" = String, Path)), request_body = UpdateUser,
    responses((status = 200, description = "The changed user", body = UserOut),
              (status = 409, description = "The login name is taken (`COMMAND-Dup01`)", body = super::openapi::ErrorBody)))]
async fn update_user(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiPath(user_id): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateUser>,
) -> Result<Json<UserOut>, ApiError> {
    let user_id = id(user_id)?;
    // Everything is parsed before anything is written.
    let changes = ProfileChanges {
        login_name: optional(body.login_name, LoginName::parse)?,
        display_name: optional(body.display_name, DisplayName::parse)?,
        email: nullable_field(body.email, Email::parse)?,
        phone: nullable_field(body.phone, Phone::parse)?,
        preferred_language: nullable_field(body.preferred_language, Language::parse)?,
    };
    let profile_changed = changes.login_name.is_some()
        || changes.display_name.is_some()
        || changes.email.is_some()
        || changes.phone.is_some()
        || changes.preferred_language.is_some();
    // Verified flags need an address to mark; refuse them before writing anything, so a bad
    // request never leaves half its changes behind.
    let current = state.engine.get_user(&user_id).await?;
    let email_after = match &changes.email {
        Some(e) => e.is_some(),
        None => current.email.is_some(),
    };
    let phone_after = match &changes.phone {
        Some(p) => p.is_some(),
        None => current.phone.is_some(),
    };
    if body.email_verified.is_some() && !email_after {
        return Err(DomainError::InvalidField {
            field: "email",
            reason: "no email set",
        }
        .into());
    }
    if body.phone_verified.is_some() && !phone_after {
        return Err(DomainError::InvalidField {
            field: "phone",
            reason: "no phone set",
        }
        .into());
    }
    let mut user = if profile_changed {
        state.engine.update_profile(&user_id, changes).await?
    } else {
        current
    };
    if let Some(verified) = body.email_verified {
        user = state.engine.set_email_verified(&user_id, verified).await?;
    }
    if let Some(verified) = body.phone_verified {
        user = state.engine.set_phone_verified(&user_id, verified).await?;
    }
    Ok(Json(UserOut::from(&user)))
}

/// Deactivates a user: they can no longer pass a user check.
#[utoipa::path(post, path = "/admin/v1/users/{user_id}/deactivate", tag = TAG_USERS,
    params(("user_id" = String, Path)),
    responses((status = 200, description = "The user", body = UserOut)))]
async fn deactivate_user(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiPath(user_id): ApiPath<String>,
) -> Result<Json<UserOut>, ApiError> {
    let user = state.engine.deactivate_user(&id(user_id)?).await?;
    Ok(Json(UserOut::from(&user)))
}

/// Reactivates a deactivated user.
#[utoipa::path(post, path = "/admin/v1/users/{user_id}/reactivate", tag = TAG_USERS,
    params(("user_id" = String, Path)),
    responses((status = 200, description = "The user", body = UserOut)))]
async fn reactivate_user(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiPath(user_id): ApiPath<String>,
) -> Result<Json<UserOut>, ApiError> {
    let user = state.engine.reactivate_user(&id(user_id)?).await?;
    Ok(Json(UserOut::from(&user)))
}

/// Deletes a user and their recovery codes.
#[utoipa::path(delete, path = "/admin/v1/users/{user_id}", tag = TAG_USERS,
    params(("user_id" = String, Path)),
    responses((status = 204, description = "Deleted")))]
async fn delete_user(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiPath(user_id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state.engine.delete_user(&id(user_id)?).await?;
    Ok(no_content())
}

/// Clears the failure counters and the lockout.
#[utoipa::path(post, path = "/admin/v1/users/{user_id}/unlock", tag = TAG_USERS,
    params(("user_id" = String, Path)),
    responses((status = 200, description = "The unlocked user", body = UserOut)))]
async fn unlock_user(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiPath(user_id): ApiPath<String>,
) -> Result<Json<UserOut>, ApiError> {
    let user_id = id(user_id)?;
    state.engine.unlock_user(&user_id).await?;
    let user = state.engine.get_user(&user_id).await?;
    Ok(Json(UserOut::from(&user)))
}

/// Sets or replaces the password.
#[utoipa::path(put, path = "/admin/v1/users/{user_id}/password", tag = TAG_USERS,
    params(("user_id" = String, Path)), request_body = SetPassword,
    responses((status = 204, description = "Password set")))]
async fn set_password(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiPath(user_id): ApiPath<String>,
    ApiJson(body): ApiJson<SetPassword>,
) -> Result<StatusCode, ApiError> {
    let user_id = id(user_id)?;
    let password = NewPassword::parse(body.password)?;
    state.engine.set_password(&user_id, password).await?;
    Ok(no_content())
}

// ---------- factors ----------

/// Starts (or restarts) TOTP enrollment. Until it is confirmed, TOTP checks fail.
#[utoipa::path(post, path = "/admin/v1/users/{user_id}/totp", tag = TAG_FACTORS,
    params(("user_id" = String, Path)),
    responses((status = 201, description = "The new secret, shown once", body = TotpStarted)))]
async fn start_totp(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiPath(user_id): ApiPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    let e = state.engine.start_totp_enrollment(&id(user_id)?).await?;
    let body = TotpStarted {
        secret: e.secret_base32.expose().clone(),
        uri: e.uri.expose().clone(),
        qr_svg: e.qr_svg.expose().clone(),
    };
    Ok((StatusCode::CREATED, Json(body)))
}

/// Confirms TOTP enrollment with a first code (`COMMAND-Tnr01` when none was started,
/// `COMMAND-8isk2` for a wrong code).
#[utoipa::path(post, path = "/admin/v1/users/{user_id}/totp/verify", tag = TAG_FACTORS,
    params(("user_id" = String, Path)), request_body = TotpCodeIn,
    responses((status = 200, description = "The user's factors", body = FactorsOut)))]
async fn verify_totp(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiPath(user_id): ApiPath<String>,
    ApiJson(body): ApiJson<TotpCodeIn>,
) -> Result<Json<FactorsOut>, ApiError> {
    let user_id = id(user_id)?;
    let code = domain::input::TotpCode::parse(body.code)?;
    state.engine.finish_totp_enrollment(&user_id, code).await?;
    Ok(Json(state.engine.list_factors(&user_id).await?.into()))
}

/// Turns codes by email on or off (on needs a verified email: `COMMAND-Vrf01`).
#[utoipa::path(put, path = "/admin/v1/users/{user_id}/otp-email", tag = TAG_FACTORS,
    params(("user_id" = String, Path)), request_body = SetEnabled,
    responses((status = 200, description = "The user's factors", body = FactorsOut)))]
async fn set_otp_email(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiPath(user_id): ApiPath<String>,
    ApiJson(body): ApiJson<SetEnabled>,
) -> Result<Json<FactorsOut>, ApiError> {
    let user_id = id(user_id)?;
    state.engine.set_otp_email(&user_id, body.enabled).await?;
    Ok(Json(state.engine.list_factors(&user_id).await?.into()))
}

/// Turns codes by SMS on or off (on needs a verified phone: `COMMAND-Vrf01`).
#[utoipa::path(put, path = "/admin/v1/users/{user_id}/otp-sms", tag = TAG_FACTORS,
    params(("user_id" = String, Path)), request_body = SetEnabled,
    responses((status = 200, description = "The user's factors", body = FactorsOut)))]
async fn set_otp_sms(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiPath(user_id): ApiPath<String>,
    ApiJson(body): ApiJson<SetEnabled>,
) -> Result<Json<FactorsOut>, ApiError> {
    let user_id = id(user_id)?;
    state.engine.set_otp_sms(&user_id, body.enabled).await?;
    Ok(Json(state.engine.list_factors(&user_id).await?.into()))
}

/// Replaces the user's recovery codes with 10 new ones, shown once.
#[utoipa::path(post, path = "/admin/v1/users/{user_id}/recovery-codes", tag = TAG_FACTORS,
    params(("user_id" = String, Path)),
    responses((status = 201, description = "The new codes", body = RecoveryCodes)))]
async fn generate_recovery_codes(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiPath(user_id): ApiPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    let codes = state.engine.generate_recovery_codes(&id(user_id)?).await?;
    let body = RecoveryCodes {
        codes: codes.iter().map(|c| c.expose().clone()).collect(),
    };
    Ok((StatusCode::CREATED, Json(body)))
}

/// The factors a user has set up.
#[utoipa::path(get, path = "/admin/v1/users/{user_id}/factors", tag = TAG_FACTORS,
    params(("user_id" = String, Path)),
    responses((status = 200, description = "The user's factors", body = FactorsOut)))]
async fn list_factors(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiPath(user_id): ApiPath<String>,
) -> Result<Json<FactorsOut>, ApiError> {
    Ok(Json(state.engine.list_factors(&id(user_id)?).await?.into()))
}

/// Removes a factor: `password`, `totp`, `otp_sms`, `otp_email`, `recovery_code`, or all of
/// the user's `passkey` or `security_key` credentials.
#[utoipa::path(delete, path = "/admin/v1/users/{user_id}/factors/{kind}", tag = TAG_FACTORS,
    params(("user_id" = String, Path), ("kind" = Factor, Path)),
    responses((status = 204, description = "Removed")))]
async fn remove_factor(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiPath((user_id, kind)): ApiPath<(String, Factor)>,
) -> Result<StatusCode, ApiError> {
    state
        .engine
        .remove_factor(&id(user_id)?, kind.into())
        .await?;
    Ok(no_content())
}

// ---------- apps ----------

/// Registers an app; the response holds its secret, shown once.
#[utoipa::path(post, path = "/admin/v1/apps", tag = TAG_APPS, request_body = CreateApp,
    responses((status = 201, description = "Created", body = AppCreated)))]
async fn create_app(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateApp>,
) -> Result<impl IntoResponse, ApiError> {
    let new = NewApp {
        name: Name::parse(body.name)?,
        redirect_uris: redirect_uris(body.redirect_uris)?,
        policy: body.policy.map(LoginPolicy::from).unwrap_or_default(),
        branding: branding(body.branding.unwrap_or_default())?,
    };
    let (app, secret) = state.engine.create_app(new).await?;
    let body = AppCreated {
        app: AppOut::from(&app),
        app_secret: secret.expose().clone(),
    };
    Ok((StatusCode::CREATED, Json(body)))
}

/// All apps.
#[utoipa::path(get, path = "/admin/v1/apps", tag = TAG_APPS,
    responses((status = 200, description = "All apps", body = AppList)))]
async fn list_apps(
    _admin: AdminScope,
    State(state): State<AppState>,
) -> Result<Json<AppList>, ApiError> {
    let apps = state.engine.list_apps().await?;
    Ok(Json(AppList {
        apps: apps.iter().map(AppOut::from).collect(),
    }))
}

/// Reads one app.
#[utoipa::path(get, path = "/admin/v1/apps/{app_id}", tag = TAG_APPS,
    params(("app_id" = String, Path)),
    responses((status = 200, description = "The app", body = AppOut)))]
async fn get_app(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiPath(app_id): ApiPath<String>,
) -> Result<Json<AppOut>, ApiError> {
    let app = state.engine.get_app(&id(app_id)?).await?;
    Ok(Json(AppOut::from(&app)))
}

/// Changes the name, redirect URIs, policy or branding.
#[utoipa::path(patch, path = "/admin/v1/apps/{app_id}", tag = TAG_APPS,
    params(("app_id" = String, Path)), request_body = UpdateApp,
    responses((status = 200, description = "The changed app", body = AppOut)))]
async fn update_app(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiPath(app_id): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateApp>,
) -> Result<Json<AppOut>, ApiError> {
    let app_id = id(app_id)?;
    let changes = AppChanges {
        name: optional(body.name, Name::parse)?,
        redirect_uris: body.redirect_uris.map(redirect_uris).transpose()?,
        policy: body.policy.map(LoginPolicy::from),
        branding: body.branding.map(branding).transpose()?,
    };
    let app = state.engine.update_app(&app_id, changes).await?;
    Ok(Json(AppOut::from(&app)))
}

/// Replaces the app secret; the old one stops working at once.
#[utoipa::path(post, path = "/admin/v1/apps/{app_id}/rotate-secret", tag = TAG_APPS,
    params(("app_id" = String, Path)),
    responses((status = 200, description = "The new secret, shown once", body = AppSecretRotated)))]
async fn rotate_app_secret(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiPath(app_id): ApiPath<String>,
) -> Result<Json<AppSecretRotated>, ApiError> {
    let app_id = id(app_id)?;
    let secret = state.engine.rotate_app_secret(&app_id).await?;
    let app = state.engine.get_app(&app_id).await?;
    Ok(Json(AppSecretRotated {
        id: app.id,
        app_key: app.app_key,
        app_secret: secret.expose().clone(),
    }))
}

/// Deletes an app.
#[utoipa::path(delete, path = "/admin/v1/apps/{app_id}", tag = TAG_APPS,
    params(("app_id" = String, Path)),
    responses((status = 204, description = "Deleted")))]
async fn delete_app(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiPath(app_id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state.engine.delete_app(&id(app_id)?).await?;
    Ok(no_content())
}

// ---------- API keys ----------

/// Creates an API key; `key` is shown once.
#[utoipa::path(post, path = "/admin/v1/api-keys", tag = TAG_KEYS, request_body = CreateApiKey,
    responses((status = 201, description = "Created", body = ApiKeyCreated)))]
async fn create_api_key(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateApiKey>,
) -> Result<impl IntoResponse, ApiError> {
    let name = Name::parse(body.name)?;
    let scopes = body.scopes.into_iter().map(Scope::from).collect();
    let (key, bearer) = state.engine.create_api_key(name, scopes).await?;
    let body = ApiKeyCreated {
        api_key: ApiKeyOut::from(&key),
        key: bearer.expose().clone(),
    };
    Ok((StatusCode::CREATED, Json(body)))
}

/// All API keys, revoked ones included.
#[utoipa::path(get, path = "/admin/v1/api-keys", tag = TAG_KEYS,
    responses((status = 200, description = "All API keys", body = ApiKeyList)))]
async fn list_api_keys(
    _admin: AdminScope,
    State(state): State<AppState>,
) -> Result<Json<ApiKeyList>, ApiError> {
    let keys = state.engine.list_api_keys().await?;
    Ok(Json(ApiKeyList {
        api_keys: keys.iter().map(ApiKeyOut::from).collect(),
    }))
}

/// Revokes an API key; it stops authenticating at once. Revoking it again changes nothing.
#[utoipa::path(delete, path = "/admin/v1/api-keys/{key_id}", tag = TAG_KEYS,
    params(("key_id" = String, Path)),
    responses((status = 204, description = "Revoked")))]
async fn revoke_api_key(
    _admin: AdminScope,
    State(state): State<AppState>,
    ApiPath(key_id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state.engine.revoke_api_key(&id(key_id)?).await?;
    Ok(no_content())
}

// ---------- router ----------

/// The admin routes with their OpenAPI paths; both come from the annotations above.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_user, list_users))
        .routes(routes!(get_user, update_user, delete_user))
        .routes(routes!(deactivate_user))
        .routes(routes!(reactivate_user))
        .routes(routes!(unlock_user))
        .routes(routes!(set_password))
        .routes(routes!(start_totp))
        .routes(routes!(verify_totp))
        .routes(routes!(set_otp_email))
        .routes(routes!(set_otp_sms))
        .routes(routes!(generate_recovery_codes))
        .routes(routes!(list_factors))
        .routes(routes!(remove_factor))
        .routes(routes!(create_app, list_apps))
        .routes(routes!(get_app, update_app, delete_app))
        .routes(routes!(rotate_app_secret))
        .routes(routes!(create_api_key, list_api_keys))
        .routes(routes!(revoke_api_key))
        .merge(super::admin_webauthn::router())
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
