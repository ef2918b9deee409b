//! The records the engine keeps: instance, users, apps, API keys, sessions and events.
//!
//! These are plain data. Rules about them live in the engine; persistence behind [`crate::store::Store`].
//! Secret material is only ever held here as a hash or as ciphertext.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The one instance a server runs. Its id is the `resource_owner` and `organization_id` of everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub id: String,
    pub created_at: OffsetDateTime,
}

/// Whether a user may sign in at all. A lock is separate and time-based ([`User::locked_until`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserState {
    Active,
    Inactive,
}

impl UserState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
        }
    }
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "active" => Some(Self::Active),
            "inactive" => Some(Self::Inactive),
            _ => None,
        }
    }
}

/// A TOTP secret as stored: encrypted with the server key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpRecord {
    /// Nonce followed by the AEAD ciphertext of the raw secret.
    pub encrypted_secret: Vec<u8>,
    /// False between enrollment start and the first correct code.
    pub confirmed: bool,
    /// The last time step a code was accepted for; codes of this step or earlier are refused.
    pub last_used_step: Option<i64>,
}

/// A person who can sign in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    /// Unique case-insensitively; stored as given.
    pub login_name: String,
    pub display_name: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub phone: Option<String>,
    pub phone_verified: bool,
    pub preferred_language: Option<String>,
    pub state: UserState,
    /// PHC string of the argon2id hash, when a password is set.
    pub password_hash: Option<String>,
    pub totp: Option<TotpRecord>,
    /// Codes by email / SMS are enabled factors (they need a verified address / number).
    pub otp_email_enabled: bool,
    pub otp_sms_enabled: bool,
    /// Consecutive failed password checks since the last success or unlock.
    pub password_failures: u32,
    /// Consecutive failed code checks (TOTP, SMS, email, recovery) since the last success or unlock.
    pub code_failures: u32,
    /// Set while the account is locked out; the lock ends by itself at this time.
    pub locked_until: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// A hashed single-use recovery code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryCode {
    pub id: String,
    pub user_id: String,
    pub code_hash: String,
    pub used_at: Option<OffsetDateTime>,
}

/// Kinds of factor an app's policy can allow, and a session can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FactorKind {
    Password,
    Totp,
    OtpSms,
    OtpEmail,
    RecoveryCode,
    Passkey,
    SecurityKey,
}

/// Which factors an app accepts and what it requires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginPolicy {
    pub allowed_factors: Vec<FactorKind>,
    /// A second factor (TOTP, SMS, email, recovery code or security key) is required after the first.
    pub require_second_factor: bool,
    /// `POST /session/validate/` must also carry the app secret.
    pub require_secret_on_validate: bool,
    /// Passwordless: only a passkey completes a sign-in. A user without one signs in the other
    /// allowed ways and must register a passkey, then use it, before the login is done.
    #[serde(default)]
    pub passwordless: bool,
    /// The code-bound validate mode: the redirect after sign-in carries a single-use `code`, and
    /// `POST /session/validate/` answers only to that code (and its `code_verifier` when the
    /// link was generated with a `code_challenge`). Needs a redirect URI to carry the code.
    #[serde(default)]
    pub require_code_on_validate: bool,
}

impl Default for LoginPolicy {
    fn default() -> Self {
        Self {
            allowed_factors: vec![
                FactorKind::Password,
                FactorKind::Totp,
                FactorKind::OtpSms,
                FactorKind::OtpEmail,
                FactorKind::RecoveryCode,
                FactorKind::Passkey,
                FactorKind::SecurityKey,
            ],
            require_second_factor: false,
            require_secret_on_validate: false,
            passwordless: false,
            require_code_on_validate: false,
        }
    }
}

/// How the hosted page looks for an app. Colours are `#rrggbb` and the logo an `https:` URL,
/// checked on the way in (the admin API, the CLI) and again where the page uses them, by the
/// same functions, so that a row stored under older rules never reaches the page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Branding {
    pub display_name: Option<String>,
    pub logo_url: Option<String>,
    pub primary_color: Option<String>,
    pub background_color: Option<String>,
    /// The app's own address (`http:` or `https:`), for the way back on the signed-in page.
    pub home_url: Option<String>,
}

impl Branding {
    /// The branding as it may be stored: a display name of 1–200 characters without control
    /// characters, an `https:` logo, `#rrggbb` colours (kept lowercase), an absolute `http(s):`
    /// home URL. The admin API, the CLI and the engine all check with this.
    pub fn checked(self) -> Result<Branding, crate::DomainError> {
        use crate::input::{Color, DisplayName, LogoUrl};
        if let Some(name) = &self.display_name {
            DisplayName::parse(name.clone())?;
        }
        let logo_url = match &self.logo_url {
            Some(url) => Some(
                LogoUrl::parse("branding.logo_url", url)?
                    .as_str()
                    .to_owned(),
            ),
            None => None,
        };
        let colour = |field: &'static str, v: &Option<String>| {
            v.as_deref()
                .map(|c| Color::parse(field, c).map(|c| c.as_str().to_owned()))
                .transpose()
        };
        if let Some(url) = &self.home_url {
            crate::input::HttpUrl::parse("branding.home_url", url)?;
        }
        Ok(Branding {
            primary_color: colour("branding.primary_color", &self.primary_color)?,
            background_color: colour("branding.background_color", &self.background_color)?,
            display_name: self.display_name,
            logo_url,
            home_url: self.home_url,
        })
    }

    /// The link back to the app on the signed-in page, when it is an absolute `http(s):` URL.
    pub fn page_home(&self) -> Option<&str> {
        self.home_url
            .as_deref()
            .filter(|u| crate::input::HttpUrl::parse("branding.home_url", u).is_ok())
    }

    /// The logo the page may show: an `https:` URL (its CSP allows no other remote image).
    pub fn page_logo(&self) -> Option<&str> {
        self.logo_url
            .as_deref()
            .filter(|u| crate::input::LogoUrl::parse("branding.logo_url", u).is_ok())
    }
    /// The primary colour, when it is `#rrggbb`.
    pub fn page_primary(&self) -> Option<&str> {
        valid_colour(&self.primary_color)
    }
    /// The background colour, when it is `#rrggbb`.
    pub fn page_background(&self) -> Option<&str> {
        valid_colour(&self.background_color)
    }
}

fn valid_colour(c: &Option<String>) -> Option<&str> {
    c.as_deref()
        .filter(|c| crate::input::Color::parse("branding", c).is_ok())
}

/// An application that sends people to sign in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    pub id: String,
    /// Public identifier the app backend sends with its secret.
    pub app_key: String,
    /// PHC string of the secret's hash.
    pub secret_hash: String,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub policy: LoginPolicy,
    pub branding: Branding,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// What an API key may call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// The Session API (`/v2/sessions`), for the sessions the key creates.
    Session,
    /// The Session API for every session (ZITADEL's login-client role), for a trusted login UI;
    /// includes `Session`. Handoff sessions are readable with it, never writable.
    SessionAll,
    /// The admin API (`/admin/v1`).
    Admin,
}

/// A bearer key for the Session and admin APIs; only its SHA-256 is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub key_hash: [u8; 32],
    pub scopes: Vec<Scope>,
    pub created_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
}

/// The user factor of a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserFactor {
    pub user_id: String,
    pub login_name: String,
    pub display_name: String,
    pub organization_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub verified_at: OffsetDateTime,
}

/// The WebAuthn factor of a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebAuthnFactor {
    #[serde(with = "time::serde::rfc3339")]
    pub verified_at: OffsetDateTime,
    pub user_verified: bool,
    /// What the credential was registered as; it decides the factor the check proves (a
    /// security key that verified its user is still a security key). `None` in sessions stored
    /// before this was kept: those fall back to the user-verification flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<WebAuthnKind>,
}

/// What a WebAuthn credential was registered as. A passkey always verifies the person (PIN or
/// biometrics) and can be discoverable; a security key is a second factor (verification preferred).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebAuthnKind {
    Passkey,
    SecurityKey,
}

impl WebAuthnKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passkey => "passkey",
            Self::SecurityKey => "security_key",
        }
    }
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "passkey" => Some(Self::Passkey),
            "security_key" => Some(Self::SecurityKey),
            _ => None,
        }
    }
    /// The policy factor a credential of this kind proves.
    pub fn factor(self) -> FactorKind {
        match self {
            Self::Passkey => FactorKind::Passkey,
            Self::SecurityKey => FactorKind::SecurityKey,
        }
    }
}

/// A registered WebAuthn credential of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebAuthnCredential {
    /// Our id (used by the admin API to rename or remove it).
    pub id: String,
    pub user_id: String,
    pub kind: WebAuthnKind,
    /// A name the person or an admin chose ("Laptop", "YubiKey 5").
    pub name: String,
    /// The authenticator's credential id; unique across all users.
    pub credential_id: Vec<u8>,
    /// The WebAuthn library's serialized credential: public key, counter, backup flags. Public
    /// material only, never sent to clients.
    pub credential: serde_json::Value,
    /// The signature counter last accepted (0 for authenticators without one).
    pub sign_count: u32,
    /// The authenticator may sync this credential to other devices.
    pub backup_eligible: bool,
    /// The credential is currently backed up (synced).
    pub backed_up: bool,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
}

/// Factors proven on a session; each is present only once checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Factors {
    pub user: Option<UserFactor>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub password: Option<OffsetDateTime>,
    pub web_auth_n: Option<WebAuthnFactor>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub totp: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub otp_sms: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub otp_email: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub recovery_code: Option<OffsetDateTime>,
}

/// A code sent by SMS or email, waiting on the session for its check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeChallenge {
    /// SHA-256 (hex) of the code, keyed to the session.
    pub code_hash: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Wrong tries so far against this code.
    pub failed_attempts: u32,
}

/// A WebAuthn authentication ceremony started on the session: single use, expiring.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebAuthnChallenge {
    pub rp_id: String,
    pub user_verification_required: bool,
    /// Serialized ceremony state of the WebAuthn library; never sent to a client.
    pub state: serde_json::Value,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// Challenges pending on a session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingChallenges {
    pub otp_sms: Option<CodeChallenge>,
    pub otp_email: Option<CodeChallenge>,
    pub web_auth_n: Option<WebAuthnChallenge>,
}

/// Where a session was created from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserAgent {
    pub fingerprint_id: Option<String>,
    pub ip: Option<String>,
    pub description: Option<String>,
    pub header: BTreeMap<String, Vec<String>>,
}

/// A sign-in session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    /// SHA-256 of the newest token; older tokens no longer match.
    pub token_hash: [u8; 32],
    pub factors: Factors,
    pub metadata: BTreeMap<String, Vec<u8>>,
    pub user_agent: Option<UserAgent>,
    pub challenges: PendingChallenges,
    /// The lifetime last sent; every change that sends one moves `expires_at` to now + lifetime.
    pub lifetime: Option<time::Duration>,
    pub expires_at: Option<OffsetDateTime>,
    /// Id of the API key or app that created the session.
    pub creator: String,
    /// The app the session was generated for through the handoff, if any.
    pub app_id: Option<String>,
    /// Id of the newest event of this session; increases with every change.
    pub sequence: i64,
    pub created_at: OffsetDateTime,
    pub changed_at: OffsetDateTime,
    pub terminated: bool,
}

impl Session {
    /// The checked user's id, if any.
    pub fn user_id(&self) -> Option<&str> {
        self.factors.user.as_ref().map(|u| u.user_id.as_str())
    }
}

/// How an event ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Succeeded,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }
}

/// One entry of the append-only log: every session change and every check, passed or failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub at: OffsetDateTime,
    pub session_id: Option<String>,
    pub user_id: Option<String>,
    pub app_id: Option<String>,
    pub client_ip: Option<String>,
    /// What happened: `session.created`, `session.changed`, `session.terminated`, `check.password`,
    /// `check.totp`, `challenge.otp_email`, `user.locked`, ...
    pub kind: String,
    pub outcome: Outcome,
    /// The stable error id of a failure (`COMMAND-3M0fs`, ...).
    pub error_id: Option<String>,
}

impl NewEvent {
    /// The same attempt, recorded as refused because the account was already locked: it counted
    /// nothing, so it must not read as one more wrong password in the log.
    pub fn refused_while_locked(&self) -> NewEvent {
        NewEvent {
            error_id: Some("COMMAND-JLK35".to_owned()),
            ..self.clone()
        }
    }
}

/// A stored event with its position in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub sequence: i64,
    pub event: NewEvent,
}

/// A login link handed to an app backend (the app handoff, `POST /session/generate/`).
///
/// Only hashes of its three secrets are kept: the link token (in the URL the browser opens), the
/// `session_id` the app backend validates with, and the secret of the browser that claimed the
/// link (in an HttpOnly cookie). The engine session is created when the link is claimed, so an
/// unclaimed link is one row that the purge removes once it has expired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handoff {
    pub id: String,
    pub app_id: String,
    /// SHA-256 of the single-use link token.
    pub link_hash: [u8; 32],
    /// SHA-256 of the `session_id` secret the app backend holds.
    pub secret_hash: [u8; 32],
    /// The registered URI the browser returns to (checked at generate); `None`: the app's first.
    pub redirect_uri: Option<String>,
    /// Opaque value of the app, returned with the redirect (at most 512 bytes).
    pub state: Option<String>,
    pub login_hint: Option<String>,
    pub ui_locales: Option<String>,
    /// Lifetime of the engine session created at the claim.
    pub lifetime: time::Duration,
    pub created_at: OffsetDateTime,
    /// The link can be claimed until then.
    pub link_expires_at: OffsetDateTime,
    pub claimed_at: Option<OffsetDateTime>,
    /// SHA-256 of the claiming browser's secret.
    pub browser_hash: Option<[u8; 32]>,
    /// The engine session, once the link is claimed.
    pub session_id: Option<String>,
    /// SHA-256 of the single-use code the redirect carries, derived from the claiming browser's
    /// secret and recorded at the claim (code-bound validate mode).
    pub code_hash: Option<[u8; 32]>,
    /// The app's PKCE `code_challenge` (S256, base64url of SHA-256 of its verifier), given at
    /// generate; validate then needs the matching `code_verifier`.
    pub code_challenge: Option<String>,
    /// When validate accepted the code; a code works once.
    pub code_spent_at: Option<OffsetDateTime>,
}
