//! The session pipeline's requests and answers, and who calls.

use super::*;

/// Who calls, and so which sessions the call reaches. Built from what authenticated the request,
/// never from what it says: the id becomes the creator of the sessions the caller creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub(super) id: String,
    pub(super) reach: Reach,
}

/// Which sessions a caller may read and change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reach {
    /// A key with the `session` scope: the Session API sessions it created.
    Own,
    /// A key with `session_all` (a trusted login UI): every Session API session; handoff
    /// sessions only to read.
    All,
    /// No key: the bearer of a session's token, for that session alone (the token is required).
    Token,
    /// One app's handoff (its generate and validate, and the hosted page acting for it).
    App,
}

impl Caller {
    /// An authenticated API key: `session_all` reaches every session, `session` its own.
    pub fn api_key(key: &AuthenticatedKey) -> Self {
        let reach = if key.has(Scope::SessionAll) {
            Reach::All
        } else {
            Reach::Own
        };
        Self {
            id: key.id.clone(),
            reach,
        }
    }

    /// No key at all: only a session's own token authorizes reading or ending it.
    pub fn session_token() -> Self {
        Self {
            id: String::new(),
            reach: Reach::Token,
        }
    }

    /// The handoff of `app_id`.
    pub(crate) fn app(app_id: &str) -> Self {
        Self {
            id: app_id.to_owned(),
            reach: Reach::App,
        }
    }

    /// The key or app id; the creator of the sessions this caller creates.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether the caller may see `session` at all. A session it may not see answers exactly
    /// like one that does not exist.
    pub(super) fn can_read(&self, session: &Session) -> bool {
        match self.reach {
            Reach::Own => session.creator == self.id && session.app_id.is_none(),
            Reach::App => session.creator == self.id && session.app_id.is_some(),
            Reach::All | Reach::Token => true,
        }
    }

    /// Whether the caller may change or end `session`: handoff sessions only through their
    /// app's handoff, never through the Session API.
    pub(super) fn can_write(&self, session: &Session) -> bool {
        match self.reach {
            Reach::App => session.creator == self.id && session.app_id.is_some(),
            Reach::Own => session.creator == self.id && session.app_id.is_none(),
            Reach::All | Reach::Token => session.app_id.is_none(),
        }
    }

    /// The filter a search adds: a `session` key lists only what it created.
    pub(super) fn list_filter(&self) -> Option<SessionFilter> {
        match self.reach {
            Reach::Own | Reach::App | Reach::Token => Some(SessionFilter::Creator(self.id.clone())),
            Reach::All => None,
        }
    }
}

/// The checks of a request; each is optional. They run in the contract's order, whatever the
/// order of the fields in the request.
#[derive(Debug, Clone, Default)]
pub struct Checks {
    pub user: Option<UserRef>,
    pub password: Option<Password>,
    /// The browser's `PublicKeyCredential` from `navigator.credentials.get()` (all binary
    /// fields base64url), answering the session's pending WebAuthn challenge.
    pub web_auth_n: Option<serde_json::Value>,
    pub totp: Option<TotpCode>,
    pub otp_sms: Option<OtpCode>,
    pub otp_email: Option<OtpCode>,
    pub recovery_code: Option<RecoveryCodeInput>,
}

/// How an SMS code is delivered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SmsCodeDelivery {
    /// Return the code in the response instead of sending it.
    pub return_code: bool,
}

/// How an email code is delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailCodeDelivery {
    /// Send it by email, optionally with a link rendered from the template.
    Send { url_template: Option<UrlTemplate> },
    /// Return it in the response; nothing is sent.
    Return,
}

/// A WebAuthn challenge request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebAuthnChallengeRequest {
    /// The RP ID; must be the configured one (`COMMAND-Wan03`).
    pub domain: String,
    /// REQUIRED: passkeys (and, before any user check, a discoverable passkey ceremony); else the
    /// user's security keys.
    pub user_verification_required: bool,
}

/// Challenges to start after the checks.
#[derive(Debug, Clone, Default)]
pub struct ChallengeRequests {
    pub web_auth_n: Option<WebAuthnChallengeRequest>,
    pub otp_sms: Option<SmsCodeDelivery>,
    pub otp_email: Option<EmailCodeDelivery>,
}

/// What a create or set request asks for.
#[derive(Debug, Clone, Default)]
pub struct SessionChange {
    pub checks: Checks,
    pub metadata: MetadataChanges,
    pub challenges: ChallengeRequests,
    /// Sliding: expiry becomes now + lifetime on every request that sends it.
    pub lifetime: Option<Lifetime>,
}

/// `CreateSession`.
#[derive(Debug, Clone, Default)]
pub struct CreateSessionRequest {
    pub change: SessionChange,
    pub user_agent: Option<UserAgent>,
    /// The app the session is generated for (handoff flow).
    pub app_id: Option<String>,
    /// Hosted page: an unknown login name, a user without password and a wrong password all
    /// answer `SESSION-Lgn01` after one argon2 verification. The v2 API leaves this false.
    pub conceal_unknown_user: bool,
}

/// `SetSession`.
#[derive(Debug, Clone, Default)]
pub struct SetSessionRequest {
    pub change: SessionChange,
    /// Ignored by the v2 API (the contract deprecates it); when the hosted page sends its
    /// cookie's token it must be the newest one (`COMMAND-sGr42`).
    pub session_token: Option<String>,
    /// See [`CreateSessionRequest::conceal_unknown_user`].
    pub conceal_unknown_user: bool,
}

/// Codes and WebAuthn options returned by a request.
#[derive(Debug, Clone, Default)]
pub struct ChallengeResponse {
    pub otp_sms: Option<Secret<String>>,
    pub otp_email: Option<Secret<String>>,
    pub web_auth_n: Option<serde_json::Value>,
}

/// The contract's `Details`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Details {
    pub sequence: i64,
    pub change_date: OffsetDateTime,
    pub resource_owner: String,
}

/// The answer to create and set.
#[derive(Debug, Clone)]
pub struct SessionChanged {
    pub session_id: String,
    /// The new token; `None` when a set request changed nothing (the contract's empty token).
    pub session_token: Option<Secret<String>>,
    pub details: Details,
    pub challenges: ChallengeResponse,
}

/// The session a hosted login makes on its first change.
#[derive(Debug, Clone)]
pub(crate) struct FreshLoginSession {
    pub app_id: String,
    pub handoff_id: String,
    pub user_agent: Option<UserAgent>,
    pub lifetime: time::Duration,
}

/// `ListSessions`: filters (AND), page and order (newest first unless `ascending`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListSessionsQuery {
    pub filters: Vec<SessionFilter>,
    pub offset: u64,
    /// 0 means the default (100); more than the maximum (1000) is reduced to it.
    pub limit: u32,
    pub ascending: bool,
}
