//! Rows as the database returns them, their conversion into domain records, and error mapping.
//!
//! Row structs never leave this crate; every conversion that can meet bad data returns
//! [`StoreError::Backend`] instead of panicking.

use std::collections::BTreeMap;

use base64::{engine::general_purpose::STANDARD as BASE64, Engine as _};
use domain::{
    model::{
        ApiKey, App, Branding, Event, Factors, Instance, LoginPolicy, NewEvent, Outcome,
        PendingChallenges, RecoveryCode, Scope, Session, TotpRecord, User, UserAgent, UserState,
        WebAuthnCredential, WebAuthnKind,
    },
    store::{FailureCounter, StoreError},
};
use serde::{Deserialize, Serialize};

use crate::ts::Ts;

/// Any database failure, as text for logs.
pub(crate) fn backend(error: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(error.to_string())
}

/// Maps a failed write: a unique violation becomes `Duplicate` named after the first entry of
/// `uniques` whose column appears in the constraint (PostgreSQL) or message (SQLite), else after
/// `otherwise`; a foreign key violation means a referenced record is gone (`NotFound`).
pub(crate) fn write_error(
    error: sqlx::Error,
    uniques: &[(&str, &'static str)],
    otherwise: &'static str,
) -> StoreError {
    if let sqlx::Error::Database(db) = &error {
        if db.is_unique_violation() {
            let text = format!("{} {}", db.constraint().unwrap_or_default(), db.message());
            let what = uniques
                .iter()
                .find(|(column, _)| text.contains(column))
                .map_or(otherwise, |(_, what)| what);
            return StoreError::Duplicate { what };
        }
        if db.is_foreign_key_violation() {
            return StoreError::NotFound;
        }
    }
    backend(error)
}

/// Whether the error is a unique violation (a session id taken by a concurrent insert).
pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// The key a case-insensitive value is unique or searched on: the engine's folding, done here
/// rather than in SQL so that both backends fold case identically.
pub(crate) use domain::input::fold_case;

/// Column names of a failure counter and of the other one; fixed strings, never input.
pub(crate) fn counter_columns(counter: FailureCounter) -> (&'static str, &'static str) {
    match counter {
        FailureCounter::Password => ("password_failures", "code_failures"),
        FailureCounter::Code => ("code_failures", "password_failures"),
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(backend)
}

fn from_json<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(backend)
}

fn to_u32(value: i64, what: &str) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|_| backend(format!("{what} out of range: {value}")))
}

pub(crate) fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn to_hash(bytes: Vec<u8>, what: &str) -> Result<[u8; 32], StoreError> {
    <[u8; 32]>::try_from(bytes).map_err(|_| backend(format!("{what} is not 32 bytes")))
}

#[derive(sqlx::FromRow)]
pub(crate) struct InstanceRow {
    id: String,
    created_at: Ts,
}

impl InstanceRow {
    pub(crate) fn into_model(self) -> Instance {
        Instance {
            id: self.id,
            created_at: self.created_at.get(),
        }
    }
}

/// The user columns, in the order [`UserRow`] reads them.
pub(crate) const USER_COLUMNS: &str =
    "id, login_name, display_name, email, email_verified, phone, \
     phone_verified, preferred_language, state, password_hash, totp_secret, totp_confirmed, \
     totp_last_used_step, otp_email_enabled, otp_sms_enabled, password_failures, code_failures, \
     locked_until, created_at, updated_at";

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: String,
    login_name: String,
    display_name: String,
    email: Option<String>,
    email_verified: bool,
    phone: Option<String>,
    phone_verified: bool,
    preferred_language: Option<String>,
    state: String,
    password_hash: Option<String>,
    totp_secret: Option<Vec<u8>>,
    totp_confirmed: bool,
    totp_last_used_step: Option<i64>,
    otp_email_enabled: bool,
    otp_sms_enabled: bool,
    password_failures: i64,
    code_failures: i64,
    locked_until: Option<Ts>,
    created_at: Ts,
    updated_at: Ts,
}

impl UserRow {
    pub(crate) fn into_model(self) -> Result<User, StoreError> {
        let state = UserState::parse(&self.state)
            .ok_or_else(|| backend(format!("unknown user state {:?}", self.state)))?;
        let totp = self.totp_secret.map(|encrypted_secret| TotpRecord {
            encrypted_secret,
            confirmed: self.totp_confirmed,
            last_used_step: self.totp_last_used_step,
        });
        Ok(User {
            id: self.id,
            login_name: self.login_name,
            display_name: self.display_name,
            email: self.email,
            email_verified: self.email_verified,
            phone: self.phone,
            phone_verified: self.phone_verified,
            preferred_language: self.preferred_language,
            state,
            password_hash: self.password_hash,
            totp,
            otp_email_enabled: self.otp_email_enabled,
            otp_sms_enabled: self.otp_sms_enabled,
            password_failures: to_u32(self.password_failures, "password_failures")?,
            code_failures: to_u32(self.code_failures, "code_failures")?,
            locked_until: self.locked_until.map(Ts::get),
            created_at: self.created_at.get(),
            updated_at: self.updated_at.get(),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct RecoveryCodeRow {
    id: String,
    user_id: String,
    code_hash: String,
    used_at: Option<Ts>,
}

impl RecoveryCodeRow {
    pub(crate) fn into_model(self) -> RecoveryCode {
        RecoveryCode {
            id: self.id,
            user_id: self.user_id,
            code_hash: self.code_hash,
            used_at: self.used_at.map(Ts::get),
        }
    }
}

/// The JSON columns of an app.
pub(crate) struct AppJson {
    pub(crate) redirect_uris: String,
    pub(crate) policy: String,
    pub(crate) branding: String,
}

impl AppJson {
    pub(crate) fn of(app: &App) -> Result<Self, StoreError> {
        Ok(Self {
            redirect_uris: to_json(&app.redirect_uris)?,
            policy: to_json(&app.policy)?,
            branding: to_json(&app.branding)?,
        })
    }
}

pub(crate) const APP_COLUMNS: &str =
    "id, app_key, secret_hash, name, redirect_uris, policy, branding, created_at, updated_at";

#[derive(sqlx::FromRow)]
pub(crate) struct AppRow {
    id: String,
    app_key: String,
    secret_hash: String,
    name: String,
    redirect_uris: String,
    policy: String,
    branding: String,
    created_at: Ts,
    updated_at: Ts,
}

impl AppRow {
    pub(crate) fn into_model(self) -> Result<App, StoreError> {
        Ok(App {
            id: self.id,
            app_key: self.app_key,
            secret_hash: self.secret_hash,
            name: self.name,
            redirect_uris: from_json(&self.redirect_uris)?,
            policy: from_json::<LoginPolicy>(&self.policy)?,
            branding: from_json::<Branding>(&self.branding)?,
            created_at: self.created_at.get(),
            updated_at: self.updated_at.get(),
        })
    }
}

pub(crate) fn scopes_json(scopes: &[Scope]) -> Result<String, StoreError> {
    to_json(&scopes)
}

pub(crate) const API_KEY_COLUMNS: &str = "id, name, key_hash, scopes, created_at, revoked_at";

#[derive(sqlx::FromRow)]
pub(crate) struct ApiKeyRow {
    id: String,
    name: String,
    key_hash: Vec<u8>,
    scopes: String,
    created_at: Ts,
    revoked_at: Option<Ts>,
}

impl ApiKeyRow {
    pub(crate) fn into_model(self) -> Result<ApiKey, StoreError> {
        Ok(ApiKey {
            id: self.id,
            name: self.name,
            key_hash: to_hash(self.key_hash, "api key hash")?,
            scopes: from_json(&self.scopes)?,
            created_at: self.created_at.get(),
            revoked_at: self.revoked_at.map(Ts::get),
        })
    }
}

/// A lifetime kept exactly (seconds and nanoseconds).
#[derive(Serialize, Deserialize)]
struct LifetimeJson {
    seconds: i64,
    nanoseconds: i32,
}

/// The part of a session that is not searched on, stored as one JSON document.
#[derive(Serialize, Deserialize)]
pub(crate) struct SessionBody {
    factors: Factors,
    /// Values are bytes (not necessarily UTF-8): base64 in the document.
    metadata: BTreeMap<String, String>,
    user_agent: Option<UserAgent>,
    pub(crate) challenges: PendingChallenges,
    lifetime: Option<LifetimeJson>,
}

impl SessionBody {
    pub(crate) fn of(session: &Session) -> Self {
        Self {
            factors: session.factors.clone(),
            metadata: session
                .metadata
                .iter()
                .map(|(key, value)| (key.clone(), BASE64.encode(value)))
                .collect(),
            user_agent: session.user_agent.clone(),
            challenges: session.challenges.clone(),
            lifetime: session.lifetime.map(|d| LifetimeJson {
                seconds: d.whole_seconds(),
                nanoseconds: d.subsec_nanoseconds(),
            }),
        }
    }

    pub(crate) fn parse(text: &str) -> Result<Self, StoreError> {
        from_json(text)
    }

    pub(crate) fn to_text(&self) -> Result<String, StoreError> {
        to_json(self)
    }
}

/// The session columns, in the order [`SessionRow`] reads them.
pub(crate) const SESSION_COLUMNS: &str = "id, token_hash, creator, app_id, body, sequence, \
     created_at, changed_at, expires_at, terminated";

#[derive(sqlx::FromRow)]
pub(crate) struct SessionRow {
    id: String,
    token_hash: Vec<u8>,
    creator: String,
    app_id: Option<String>,
    body: String,
    sequence: i64,
    created_at: Ts,
    changed_at: Ts,
    expires_at: Option<Ts>,
    terminated: bool,
}

impl SessionRow {
    pub(crate) fn into_model(self) -> Result<Session, StoreError> {
        let body = SessionBody::parse(&self.body)?;
        let metadata = body
            .metadata
            .into_iter()
            .map(|(key, value)| Ok((key, BASE64.decode(value).map_err(backend)?)))
            .collect::<Result<BTreeMap<_, _>, StoreError>>()?;
        Ok(Session {
            id: self.id,
            token_hash: to_hash(self.token_hash, "session token hash")?,
            factors: body.factors,
            metadata,
            user_agent: body.user_agent,
            challenges: body.challenges,
            lifetime: body
                .lifetime
                .map(|l| time::Duration::new(l.seconds, l.nanoseconds)),
            expires_at: self.expires_at.map(Ts::get),
            creator: self.creator,
            app_id: self.app_id,
            sequence: self.sequence,
            created_at: self.created_at.get(),
            changed_at: self.changed_at.get(),
            terminated: self.terminated,
        })
    }
}

pub(crate) const EVENT_COLUMNS: &str =
    "id, at, session_id, user_id, app_id, client_ip, kind, outcome, error_id";

#[derive(sqlx::FromRow)]
pub(crate) struct EventRow {
    id: i64,
    at: Ts,
    session_id: Option<String>,
    user_id: Option<String>,
    app_id: Option<String>,
    client_ip: Option<String>,
    kind: String,
    outcome: String,
    error_id: Option<String>,
}

impl EventRow {
    pub(crate) fn into_model(self) -> Result<Event, StoreError> {
        let outcome = match self.outcome.as_str() {
            "succeeded" => Outcome::Succeeded,
            "failed" => Outcome::Failed,
            other => return Err(backend(format!("unknown event outcome {other:?}"))),
        };
        Ok(Event {
            sequence: self.id,
            event: NewEvent {
                at: self.at.get(),
                session_id: self.session_id,
                user_id: self.user_id,
                app_id: self.app_id,
                client_ip: self.client_ip,
                kind: self.kind,
                outcome,
                error_id: self.error_id,
            },
        })
    }
}

/// The handoff columns, in the order [`HandoffRow`] reads them.
pub(crate) const HANDOFF_COLUMNS: &str =
    "id, app_id, link_hash, secret_hash, redirect_uri, state, login_hint, ui_locales, \
     lifetime_seconds, created_at, link_expires_at, claimed_at, browser_hash, session_id, \
     code_hash, code_challenge, code_spent_at";

#[derive(sqlx::FromRow)]
pub(crate) struct HandoffRow {
    id: String,
    app_id: String,
    link_hash: Vec<u8>,
    secret_hash: Vec<u8>,
    redirect_uri: Option<String>,
    state: Option<String>,
    login_hint: Option<String>,
    ui_locales: Option<String>,
    lifetime_seconds: i64,
    created_at: Ts,
    link_expires_at: Ts,
    claimed_at: Option<Ts>,
    browser_hash: Option<Vec<u8>>,
    session_id: Option<String>,
    code_hash: Option<Vec<u8>>,
    code_challenge: Option<String>,
    code_spent_at: Option<Ts>,
}

impl HandoffRow {
    pub(crate) fn into_model(self) -> Result<domain::model::Handoff, StoreError> {
        Ok(domain::model::Handoff {
            id: self.id,
            app_id: self.app_id,
            link_hash: to_hash(self.link_hash, "link_hash")?,
            secret_hash: to_hash(self.secret_hash, "secret_hash")?,
            redirect_uri: self.redirect_uri,
            state: self.state,
            login_hint: self.login_hint,
            ui_locales: self.ui_locales,
            lifetime: time::Duration::seconds(self.lifetime_seconds),
            created_at: self.created_at.get(),
            link_expires_at: self.link_expires_at.get(),
            claimed_at: self.claimed_at.map(Ts::get),
            browser_hash: self
                .browser_hash
                .map(|h| to_hash(h, "browser_hash"))
                .transpose()?,
            session_id: self.session_id,
            code_hash: self
                .code_hash
                .map(|h| to_hash(h, "code_hash"))
                .transpose()?,
            code_challenge: self.code_challenge,
            code_spent_at: self.code_spent_at.map(Ts::get),
        })
    }
}

/// Columns of `webauthn_credentials`, in [`WebAuthnCredentialRow`] order.
pub(crate) const WEBAUTHN_COLUMNS: &str = "id, user_id, kind, name, credential_id, credential, \
     sign_count, backup_eligible, backed_up, created_at, last_used_at";

#[derive(sqlx::FromRow)]
pub(crate) struct WebAuthnCredentialRow {
    id: String,
    user_id: String,
    kind: String,
    name: String,
    credential_id: Vec<u8>,
    credential: String,
    sign_count: i64,
    backup_eligible: bool,
    backed_up: bool,
    created_at: Ts,
    last_used_at: Option<Ts>,
}

impl WebAuthnCredentialRow {
    pub(crate) fn into_model(self) -> Result<WebAuthnCredential, StoreError> {
        Ok(WebAuthnCredential {
            kind: WebAuthnKind::parse(&self.kind)
                .ok_or_else(|| backend("unknown credential kind"))?,
            credential: serde_json::from_str(&self.credential).map_err(backend)?,
            sign_count: u32::try_from(self.sign_count).map_err(backend)?,
            id: self.id,
            user_id: self.user_id,
            name: self.name,
            credential_id: self.credential_id,
            backup_eligible: self.backup_eligible,
            backed_up: self.backed_up,
            created_at: self.created_at.get(),
            last_used_at: self.last_used_at.map(Ts::get),
        })
    }
}
