//! The app handoff (Ziqx-style "session login"): an app backend trades its credentials for a
//! single-use login link, the first browser that opens the link claims it, the person signs in on
//! the hosted page, and the app backend asks for the outcome with its `session_id` secret.
//!
//! Three secrets, each kept only as a SHA-256 hash and compared in constant time:
//! - the link token (in the URL): good for exactly one claim, and useless afterwards on its own;
//! - the `session_id` (held by the app backend): reads the outcome, nothing else;
//! - the browser secret (an HttpOnly cookie set at the claim): together with the link token it
//!   lets that browser act on the login.
//!
//! The engine session behind a handoff is created at the claim, not at generate: a flood of
//! generate calls then leaves only handoff rows, which [`Engine::purge_handoffs`] deletes once
//! their links expire, and never grows the append-only event log. The session's rotating token
//! is never handed out: the hosted page acts through the methods below, which call the session
//! pipeline on the browser's behalf after checking the browser secret.

use time::OffsetDateTime;

use super::policy::PolicyState;
use super::session::Caller;
use super::Engine;
use crate::crypto::{self, Secret};
use crate::error::{store_err, DomainError};
use crate::input::Lifetime;
use crate::model::{App, FactorKind, Handoff, Session};

mod hosted;
mod login;
mod passkey;
pub use hosted::{mask_email, mask_phone};
pub use login::{
    Browser, Ceremony, CodeCheck, HandoffContacts, HostedLogin, HostedStep, LoginAction, LoginEnd,
    Next,
};

/// Longest `state` an app may pass, in bytes.
pub const MAX_STATE_BYTES: usize = 512;
const MAX_LOGIN_HINT_CHARS: usize = crate::input::MAX_TEXT_CHARS;
const MAX_UI_LOCALES_CHARS: usize = 100;
/// Link tokens and secrets are 43 characters; anything much longer is refused before hashing.
const MAX_SECRET_CHARS: usize = 200;

/// Proof that an app presented its key and secret. Only [`Engine::authenticate_app`] makes one.
#[derive(Debug, Clone)]
pub struct AuthenticatedApp(App);

impl AuthenticatedApp {
    /// The app.
    pub fn app(&self) -> &App {
        &self.0
    }
}

/// What an app may ask for when it generates a link (all optional).
#[derive(Debug, Clone, Default)]
pub struct GenerateHandoff {
    /// Must equal one of the app's registered URIs; `None` picks the app's first one (if any).
    pub redirect_uri: Option<String>,
    pub state: Option<String>,
    pub login_hint: Option<String>,
    pub ui_locales: Option<String>,
    /// Lifetime of the session once the link is claimed; `None`: the configured default.
    pub lifetime: Option<Lifetime>,
    /// PKCE (RFC 7636) for the code-bound validate mode: base64url(SHA-256(verifier)), 43
    /// characters; validate then needs the verifier.
    pub code_challenge: Option<String>,
    /// Must be `S256` when a `code_challenge` is given (`plain` is refused).
    pub code_challenge_method: Option<String>,
}

/// What the app backend presents to `POST /session/validate/` besides `session_id`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ValidateProof<'a> {
    /// Checked whenever sent; required where the app's policy says so.
    pub app_key: Option<&'a str>,
    pub app_secret: Option<&'a str>,
    /// The redirect's `code` (code-bound apps only; ignored for the others).
    pub code: Option<&'a str>,
    /// The PKCE verifier, when the link was generated with a `code_challenge`.
    pub code_verifier: Option<&'a str>,
}

/// A new login link. `token` and `session_id` are shown this once.
#[derive(Debug)]
pub struct GeneratedHandoff {
    pub handoff_id: String,
    /// Goes into the URL `<public url>/console/session/<token>`.
    pub token: Secret<String>,
    /// For the app backend only; it validates with it.
    pub session_id: Secret<String>,
    /// The link must be claimed before this time.
    pub expires_at: OffsetDateTime,
}

/// Where the browser goes once the app's policy is satisfied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandoffCompletion {
    /// The redirect URI with `state` appended as a query parameter.
    Redirect(String),
    /// No redirect URI: show a page saying the person can return to the app.
    SignedIn,
}

/// A handoff the app backend may read: found by its `session_id` and, where the app's policy
/// demands it, with the app secret checked. Made by [`Engine::find_handoff_for_validate`].
#[derive(Debug, Clone)]
pub struct ValidateHandoff {
    secret_hash: [u8; 32],
    handoff_id: String,
    app: App,
    /// The app presented the right code: a verified answer spends it.
    code_bound: bool,
}

impl ValidateHandoff {
    /// The handoff's id (changes of it are broadcast under this id).
    pub fn handoff_id(&self) -> &str {
        &self.handoff_id
    }
    /// The app it belongs to.
    pub fn app(&self) -> &App {
        &self.app
    }
}

/// The outcome as the app backend sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandoffState {
    Pending,
    Verified,
    Failed,
    Expired,
}

impl HandoffState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Verified => "verified",
            Self::Failed => "failed",
            Self::Expired => "expired",
        }
    }
}

/// The signed-in user, as reported to the app. Email and phone only when verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandoffUser {
    pub id: String,
    pub login_name: String,
    pub display_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// The answer to validate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandoffStatus {
    pub state: HandoffState,
    pub app_key: String,
    /// When the link (before the claim) or the session (after) stops being usable.
    pub expires_at: Option<OffsetDateTime>,
    /// When the last check the policy needed passed.
    pub verified_at: Option<OffsetDateTime>,
    pub user: Option<HandoffUser>,
    pub factors: Vec<FactorKind>,
    /// RFC 8176 authentication method references for `factors`.
    pub amr: Vec<&'static str>,
    /// The engine session (`/v2/sessions/{id}`), once the link was claimed.
    pub engine_session_id: Option<String>,
}

/// The name of the cookie that binds a browser to the link `link_token`. One cookie per link, so
/// a browser can run logins for two apps side by side; the name reveals nothing about the token.
pub fn handoff_cookie_name(link_token: &str) -> String {
    let mut input = b"vestibule-handoff-cookie\0".to_vec();
    input.extend_from_slice(link_token.as_bytes());
    let digest = crypto::sha256(&input);
    format!("vestibule_claim_{}", crypto::to_hex(&digest[..8]))
}

pub(super) fn secret_hash(value: &str) -> Option<[u8; 32]> {
    let ok = !value.is_empty()
        && value.len() <= MAX_SECRET_CHARS
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then(|| crypto::token_hash(value))
}

fn no_controls(field: &'static str, text: &str) -> Result<(), DomainError> {
    if text.chars().any(char::is_control) {
        return Err(DomainError::field(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// Empty strings count as absent.
fn present(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

/// The factor kinds' RFC 8176 method references, with `mfa` when two independent factors count.
fn amr_of(factors: &[FactorKind]) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    let mut push = |v: &'static str| {
        if !out.contains(&v) {
            out.push(v);
        }
    };
    for kind in factors {
        match kind {
            FactorKind::Password => push("pwd"),
            FactorKind::Totp | FactorKind::OtpEmail | FactorKind::RecoveryCode => push("otp"),
            FactorKind::OtpSms => push("sms"),
            FactorKind::Passkey => {
                push("hwk");
                push("user");
            }
            FactorKind::SecurityKey => push("hwk"),
        }
    }
    if factors.len() >= 2 || factors.contains(&FactorKind::Passkey) {
        push("mfa");
    }
    out
}

/// When the given factor passed on the session.
fn factor_time(session: &Session, kind: FactorKind) -> Option<OffsetDateTime> {
    let f = &session.factors;
    match kind {
        FactorKind::Password => f.password,
        FactorKind::Totp => f.totp,
        FactorKind::OtpSms => f.otp_sms,
        FactorKind::OtpEmail => f.otp_email,
        FactorKind::RecoveryCode => f.recovery_code,
        FactorKind::Passkey | FactorKind::SecurityKey => {
            f.web_auth_n.as_ref().map(|w| w.verified_at)
        }
    }
}

/// Appends `code` and `state` to the redirect URI as query parameters (percent-encoded),
/// keeping what the URI already has.
pub(super) fn redirect_target(
    uri: &str,
    code: Option<&str>,
    state: Option<&str>,
) -> Result<String, DomainError> {
    let mut url =
        url::Url::parse(uri).map_err(|e| DomainError::internal("stored redirect uri", &e))?;
    if code.is_some() || state.is_some() {
        let mut query = url.query_pairs_mut();
        if let Some(code) = code {
            query.append_pair("code", code);
        }
        if let Some(state) = state {
            query.append_pair("state", state);
        }
    }
    Ok(url.into())
}

/// Length of an S256 challenge: base64url without padding of 32 bytes.
const S256_CHALLENGE_CHARS: usize = 43;

fn is_base64url(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The `code_challenge` of a generate request, checked: S256 only, 43 base64url characters.
fn code_challenge_of(
    app: &App,
    challenge: Option<String>,
    method: Option<String>,
) -> Result<Option<String>, DomainError> {
    let Some(challenge) = challenge else {
        if method.is_some() {
            return Err(DomainError::field(
                "code_challenge_method",
                "given without code_challenge",
            ));
        }
        return Ok(None);
    };
    if !app.policy.require_code_on_validate {
        return Err(DomainError::field(
            "code_challenge",
            "this app does not use the code-bound validate mode (policy require_code_on_validate)",
        ));
    }
    if method.as_deref() != Some("S256") {
        return Err(DomainError::field(
            "code_challenge_method",
            "must be S256 when a code_challenge is given",
        ));
    }
    if challenge.len() != S256_CHALLENGE_CHARS || !is_base64url(&challenge) {
        return Err(DomainError::field(
            "code_challenge",
            "43 base64url characters expected (BASE64URL(SHA-256(code_verifier)) without padding)",
        ));
    }
    Ok(Some(challenge))
}

/// RFC 7636 section 4.1: 43 to 128 characters of `A-Z a-z 0-9 - . _ ~`.
fn is_code_verifier(text: &str) -> bool {
    (43..=128).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// SECURITY: the code-bound mode's check. The code must hash to the one recorded at the claim,
/// be unspent, and (when the link has a challenge) come with the matching verifier; every
/// comparison is constant time, and a wrong, spent or unverified code gets one answer.
fn check_code(handoff: &Handoff, proof: &ValidateProof<'_>) -> Result<(), DomainError> {
    let code = proof.code.ok_or(DomainError::HandoffCodeRequired)?;
    let verifier = match (&handoff.code_challenge, proof.code_verifier) {
        (Some(_), None) => return Err(DomainError::HandoffCodeRequired),
        (Some(challenge), Some(verifier)) => {
            if !is_code_verifier(verifier) {
                return Err(DomainError::field(
                    "code_verifier",
                    "43 to 128 characters of A-Z a-z 0-9 - . _ ~ expected",
                ));
            }
            Some((challenge, verifier))
        }
        (None, _) => None,
    };
    let code_ok = match (secret_hash(code), &handoff.code_hash) {
        (Some(presented), Some(stored)) => crypto::constant_time_eq(&presented, stored),
        _ => false,
    };
    let verifier_ok = verifier.is_none_or(|(challenge, verifier)| {
        crypto::constant_time_eq(crypto::pkce_s256(verifier).as_bytes(), challenge.as_bytes())
    });
    if code_ok && verifier_ok && handoff.code_spent_at.is_none() {
        Ok(())
    } else {
        Err(DomainError::HandoffCodeInvalid)
    }
}

impl Engine {
    /// Checks an app's key and secret (constant time, unknown keys cost the same).
    pub async fn authenticate_app(
        &self,
        app_key: &str,
        app_secret: &str,
    ) -> Result<AuthenticatedApp, DomainError> {
        if app_key.len() > MAX_SECRET_CHARS || app_secret.len() > MAX_SECRET_CHARS {
            return Err(DomainError::InvalidAppCredentials);
        }
        self.verify_app_secret(app_key, app_secret)
            .await
            .map(AuthenticatedApp)
    }

    /// `POST /session/generate/`: a new single-use login link for the app.
    #[tracing::instrument(skip_all, fields(app_id = %app.app().id))]
    pub async fn generate_handoff(
        &self,
        app: &AuthenticatedApp,
        request: GenerateHandoff,
    ) -> Result<GeneratedHandoff, DomainError> {
        let app = app.app();
        let redirect_uri = match present(request.redirect_uri) {
            // SECURITY: exact match only; no prefix, host or path matching (open redirects).
            Some(uri) => match app.redirect_uris.iter().find(|r| **r == uri) {
                Some(registered) => Some(registered.clone()),
                None => return Err(DomainError::RedirectUriMismatch),
            },
            None => app.redirect_uris.first().cloned(),
        };
        let state = present(request.state);
        if state.as_ref().is_some_and(|s| s.len() > MAX_STATE_BYTES) {
            return Err(DomainError::field("state", "at most 512 bytes"));
        }
        let login_hint = present(request.login_hint);
        if let Some(hint) = &login_hint {
            if hint.chars().count() > MAX_LOGIN_HINT_CHARS {
                return Err(DomainError::field("login_hint", "at most 200 characters"));
            }
            no_controls("login_hint", hint)?;
        }
        let ui_locales = present(request.ui_locales);
        if let Some(locales) = &ui_locales {
            let ok = locales.chars().count() <= MAX_UI_LOCALES_CHARS
                && locales
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ' ' | ','));
            if !ok {
                return Err(DomainError::field(
                    "ui_locales",
                    "space-separated language tags, at most 100 characters",
                ));
            }
        }
        let code_challenge = code_challenge_of(
            app,
            present(request.code_challenge),
            present(request.code_challenge_method),
        )?;
        let lifetime = request
            .lifetime
            .map_or(self.config.handoff_session_lifetime, |l| l.get());
        let now = self.now();
        // SECURITY: 256-bit link token and session_id from the OS RNG, stored as SHA-256 only.
        let token = crypto::random_token(self.rng.as_ref());
        let session_id = crypto::random_token(self.rng.as_ref());
        let handoff = Handoff {
            id: self.new_id(),
            app_id: app.id.clone(),
            link_hash: crypto::token_hash(token.expose()),
            secret_hash: crypto::token_hash(session_id.expose()),
            redirect_uri,
            state,
            login_hint,
            ui_locales,
            lifetime,
            created_at: now,
            link_expires_at: now + self.config.handoff_link_ttl,
            claimed_at: None,
            browser_hash: None,
            session_id: None,
            code_hash: None,
            code_challenge,
            code_spent_at: None,
        };
        self.store
            .insert_handoff(&handoff)
            .await
            .map_err(|e| store_err("insert handoff", e))?;
        Ok(GeneratedHandoff {
            handoff_id: handoff.id,
            token,
            session_id,
            expires_at: handoff.link_expires_at,
        })
    }

    /// The engine session behind a handoff, read by the app backend's `session_id` secret (so
    /// the Session API can answer `GET /v2/sessions/{session_id}` for a handoff too): the secret
    /// is the app's capability, so it reads as the app would. `None` when no claimed handoff has
    /// that secret; a terminated session answers `SessionNotFound` like any other reader's.
    pub async fn handoff_session_by_secret(
        &self,
        handoff_session_id: &str,
        session_token: Option<&str>,
    ) -> Result<Option<Session>, DomainError> {
        let Some(hash) = secret_hash(handoff_session_id) else {
            return Ok(None);
        };
        let handoff = self
            .store
            .find_handoff_by_secret(&hash)
            .await
            .map_err(|e| store_err("find handoff", e))?;
        let Some(handoff) = handoff else {
            return Ok(None);
        };
        let Some(session_id) = handoff.session_id.clone() else {
            return Ok(None);
        };
        // SECURITY: in the code-bound mode `session_id` alone reads nothing until validate has
        // accepted the redirect's code; otherwise this would be the forwarded link's way around it.
        if handoff.code_spent_at.is_none() {
            let app = self.get_app(&handoff.app_id).await?;
            if app.policy.require_code_on_validate {
                return Ok(None);
            }
        }
        self.get_session(&session_id, session_token, &Caller::app(&handoff.app_id))
            .await
            .map(Some)
    }

    /// Finds the handoff of a `session_id` for `POST /session/validate/`. Apps whose policy
    /// requires it must send their secret (`AUTH-App01` otherwise); a secret or app key that is
    /// sent is always checked. Code-bound apps must send the redirect's code (`HANDOFF-Cod01`
    /// without it, `HANDOFF-Cod02` when it is wrong, spent or its verifier does not match).
    pub async fn find_handoff_for_validate(
        &self,
        session_id: &str,
        proof: ValidateProof<'_>,
    ) -> Result<ValidateHandoff, DomainError> {
        let ValidateProof {
            app_key,
            app_secret,
            ..
        } = proof;
        let hash = secret_hash(session_id).ok_or(DomainError::HandoffNotFound)?;
        let handoff = self
            .store
            .find_handoff_by_secret(&hash)
            .await
            .map_err(|e| store_err("find handoff", e))?
            .ok_or(DomainError::HandoffNotFound)?;
        let app = self.get_app(&handoff.app_id).await?;
        if let Some(key) = app_key {
            if !crypto::constant_time_eq(key.as_bytes(), app.app_key.as_bytes()) {
                return Err(DomainError::InvalidAppCredentials);
            }
        }
        // SECURITY: the secret is compared in constant time against its stored hash.
        let secret_ok = app_secret.map(|secret| {
            secret.len() <= MAX_SECRET_CHARS && crypto::verify_app_secret(secret, &app.secret_hash)
        });
        match secret_ok {
            Some(false) => return Err(DomainError::InvalidAppCredentials),
            None if app.policy.require_secret_on_validate => {
                return Err(DomainError::InvalidAppCredentials)
            }
            _ => {}
        }
        let code_bound = app.policy.require_code_on_validate;
        if code_bound {
            check_code(&handoff, &proof)?;
        }
        Ok(ValidateHandoff {
            secret_hash: hash,
            handoff_id: handoff.id,
            app,
            code_bound,
        })
    }

    /// Where the login stands now: pending, verified (with the user and factors), failed or
    /// expired. Reads fresh state on every call, so a long-poll can call it repeatedly.
    pub async fn handoff_status(
        &self,
        found: &ValidateHandoff,
    ) -> Result<HandoffStatus, DomainError> {
        let now = self.now();
        let handoff = self
            .store
            .find_handoff_by_secret(&found.secret_hash)
            .await
            .map_err(|e| store_err("find handoff", e))?
            .ok_or(DomainError::HandoffNotFound)?;
        let mut status = HandoffStatus {
            state: HandoffState::Pending,
            app_key: found.app.app_key.clone(),
            expires_at: None,
            verified_at: None,
            user: None,
            factors: Vec::new(),
            amr: Vec::new(),
            engine_session_id: handoff.session_id.clone(),
        };
        let Some(claimed_at) = handoff.claimed_at else {
            status.expires_at = Some(handoff.link_expires_at);
            if handoff.link_expires_at <= now {
                status.state = HandoffState::Expired;
            }
            return Ok(status);
        };
        let session = match &handoff.session_id {
            Some(id) => self
                .store
                .find_session(id)
                .await
                .map_err(|e| store_err("find session", e))?,
            None => None,
        };
        let Some(session) = session else {
            // Claimed a moment ago; the session is being created.
            let ends = claimed_at + handoff.lifetime;
            status.expires_at = Some(ends);
            if ends <= now {
                status.state = HandoffState::Expired;
            }
            return Ok(status);
        };
        status.expires_at = session.expires_at;
        match self.evaluate_policy(&session, &found.app).await? {
            PolicyState::Satisfied(verified) => {
                let user = self.get_user(verified.user_id()).await?;
                // SECURITY: the user is told once per code; a second validate with the same
                // code (or two racing ones, on any replica) gets `HANDOFF-Cod02`.
                if found.code_bound
                    && !self
                        .store
                        .spend_handoff_code(&handoff.id, now)
                        .await
                        .map_err(|e| store_err("spend handoff code", e))?
                {
                    return Err(DomainError::HandoffCodeInvalid);
                }
                status.state = HandoffState::Verified;
                status.factors = verified.factors().to_vec();
                status.amr = amr_of(verified.factors());
                status.verified_at = verified
                    .factors()
                    .iter()
                    .filter_map(|k| factor_time(&session, *k))
                    .max();
                status.user = Some(HandoffUser {
                    id: user.id,
                    login_name: user.login_name,
                    display_name: user.display_name,
                    email: user.email.filter(|_| user.email_verified),
                    phone: user.phone.filter(|_| user.phone_verified),
                });
            }
            PolicyState::Expired => status.state = HandoffState::Expired,
            PolicyState::Terminated | PolicyState::UserNotActive => {
                status.state = HandoffState::Failed
            }
            PolicyState::NeedsUser
            | PolicyState::NeedsFirstFactor { .. }
            | PolicyState::NeedsSecondFactor { .. }
            | PolicyState::NeedsPasskeyEnrollment => {}
        }
        Ok(status)
    }

    /// Ids of handoffs changed in this process from now on (lagging receivers should re-check
    /// everything). Other replicas' changes are not seen here: poll as well.
    pub fn subscribe_handoff_changes(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.handoff_changes.subscribe()
    }

    /// Deletes unclaimed handoffs whose link has expired; returns how many.
    pub async fn purge_handoffs(&self) -> Result<u64, DomainError> {
        self.store
            .purge_handoffs(self.now())
            .await
            .map_err(|e| store_err("purge handoffs", e))
    }

    pub(super) fn notify_handoff(&self, handoff_id: &str) {
        // No receiver is fine: nobody is waiting.
        let _ = self.handoff_changes.send(handoff_id.to_owned());
    }
}

pub(super) fn browser_matches(handoff: &Handoff, presented: Option<&str>) -> bool {
    let (Some(stored), Some(presented)) = (&handoff.browser_hash, presented) else {
        return false;
    };
    // SECURITY: constant-time comparison of hashes.
    secret_hash(presented).is_some_and(|hash| crypto::constant_time_eq(&hash, stored))
}

#[cfg(test)]
mod tests;
