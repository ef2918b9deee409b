//! Wire types of users, factors and API key scopes.

use domain::{
    model::{FactorKind, Scope, User, UserState},
    service::UserFactors,
};
use serde::{Deserialize, Deserializer, Serialize};
use time::{format_description::well_known::Rfc3339, OffsetDateTime};
use utoipa::{IntoParams, ToSchema};

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
pub(super) fn rfc3339(t: OffsetDateTime) -> String {
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
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub login_name: String,
    /// 8–200 characters. Without one the user cannot pass a password check.
    #[serde(default)]
    #[schema(min_length = 8, max_length = 200)]
    pub password: Option<String>,
    /// Defaults to the login name.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub display_name: Option<String>,
    #[serde(default)]
    #[schema(
        min_length = 3,
        max_length = 200,
        pattern = "^[^@\\s\\u0000-\\u001f\\u007f-\\u009f]+@[^@\\s\\u0000-\\u001f\\u007f-\\u009f]+$"
    )]
    pub email: Option<String>,
    #[serde(default)]
    pub email_verified: bool,
    /// E.164, e.g. `+41791234567`.
    #[serde(default)]
    #[schema(pattern = "^\\+[1-9][0-9]{6,14}$")]
    pub phone: Option<String>,
    #[serde(default)]
    pub phone_verified: bool,
    /// A language tag such as `de-CH`.
    #[serde(default)]
    #[schema(min_length = 2, max_length = 35, pattern = "^[A-Za-z0-9-]+$")]
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
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub login_name: Option<String>,
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub display_name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, min_length = 3, max_length = 200, pattern = "^[^@\\s\\u0000-\\u001f\\u007f-\\u009f]+@[^@\\s\\u0000-\\u001f\\u007f-\\u009f]+$")]
    pub email: Option<Option<String>>,
    #[serde(default)]
    pub email_verified: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, pattern = "^\\+[1-9][0-9]{6,14}$")]
    pub phone: Option<Option<String>>,
    #[serde(default)]
    pub phone_verified: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, min_length = 2, max_length = 35, pattern = "^[A-Za-z0-9-]+$")]
    pub preferred_language: Option<Option<String>>,
}

/// `GET /admin/v1/users` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListUsersParams {
    /// Users to skip (ordered by login name).
    #[param(schema_with = crate::api::openapi::u64_param_schema)]
    pub offset: Option<u64>,
    /// Page size; 0 or absent means the server's default, larger values are capped.
    #[param(schema_with = crate::api::openapi::u32_param_schema)]
    pub limit: Option<u32>,
    /// Only the user with this login name (any letter case).
    #[param(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
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
    #[schema(min_length = 8, max_length = 200)]
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
    #[schema(min_length = 6, max_length = 6)]
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
