//! The one error type of the engine: each variant is a decision the caller makes, with a stable id.
//!
//! Ids that come from the ZITADEL contract keep their value (`COMMAND-3M0fs`, `QUERY-Dfbg2`, ...).
//! Ids we had to invent are marked "ours" below; they are stable too, and clients may match on them.

use time::OffsetDateTime;

use crate::store::StoreError;

/// gRPC-style class of an error; the edges map it to an HTTP status or a Connect code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    InvalidArgument,
    FailedPrecondition,
    NotFound,
    AlreadyExists,
    PermissionDenied,
    Unauthenticated,
    ResourceExhausted,
    /// A concurrent change won the race; the caller may retry (HTTP 409).
    Aborted,
    /// The feature is not available on this server (WebAuthn without a usable relying party).
    Unimplemented,
    Internal,
}

/// Which check a "user missing" or "invalid code" error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckKind {
    Password,
    WebAuthn,
    Totp,
    OtpSms,
    OtpEmail,
    RecoveryCode,
    /// Requesting an SMS code.
    ChallengeOtpSms,
    /// Requesting an email code.
    ChallengeOtpEmail,
}

/// Delivery channel of a one-time code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    Sms,
    Email,
}

/// Which side of the API refused a session token; the contract uses a different id for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenSide {
    /// Set and Delete.
    Command,
    /// Get.
    Query,
}

/// Everything that can go wrong in the engine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// `QUERY-Dfbg2`, NotFound.
    #[error("User could not be found")]
    UserNotFound,
    /// `SESSION-Gj4ko`, FailedPrecondition.
    #[error("User is not active")]
    UserNotActive,
    /// `COMMAND-3M0fs`, InvalidArgument. `failed_attempts` includes this one; `limit` 0 means no lockout.
    #[error("Password is invalid")]
    WrongPassword {
        failed_attempts: u32,
        limit: u32,
        /// Set when this failure locked the account.
        locked_until: Option<OffsetDateTime>,
    },
    /// Hosted flow only: unknown login name or wrong password, indistinguishable. Ours: `SESSION-Lgn01`.
    /// `attempts_left` and `lock_seconds` are counted the same way for both (see
    /// `Engine::concealed_failure`); `None` when lockout is off or the session is new.
    #[error("Login name or password is wrong")]
    LoginFailed {
        attempts_left: Option<u32>,
        lock_seconds: Option<i64>,
    },
    /// Hosted flow only: this login has been tried with `limit` different login names and takes
    /// no new one (names it has seen still work). Refused before any lookup, so the answer is
    /// the same for every name. Ours: `SESSION-Lgn02`, ResourceExhausted.
    #[error("This login has been tried with too many login names")]
    LoginNamesSpent { limit: u32 },
    /// `COMMAND-JLK35`, FailedPrecondition: the user is locked, or every attempt of the lock
    /// window is taken; the guess was not evaluated. The answer is the same whatever the guess.
    #[error("User is locked")]
    Locked {
        until: OffsetDateTime,
        seconds_left: i64,
    },
    /// `COMMAND-3nJ4t`, FailedPrecondition.
    #[error("Password is not set")]
    PasswordNotSet,
    /// A check or challenge needs a user on the session first, FailedPrecondition. Ids: password
    /// `COMMAND-Sfw3f`, OTP challenges `COMMAND-JKL3g` (sms) / `COMMAND-JK3gp` (email); ours:
    /// webauthn `COMMAND-Sfw3w`, totp `COMMAND-Sfw3t`, otp sms `COMMAND-Sfw3s`, otp email
    /// `COMMAND-Sfw3e`, recovery code `COMMAND-Sfw3c`.
    #[error("User id is missing")]
    UserMissing { check: CheckKind },
    /// Ours: `SESSION-Uch4n`, InvalidArgument (the contract has an empty id here).
    #[error("user change not possible")]
    UserChangeNotPossible,
    /// `COMMAND-Hkl3d`, FailedPrecondition.
    #[error("Session is expired")]
    SessionExpired,
    /// `COMMAND-Hewfq`, FailedPrecondition.
    #[error("Session is terminated")]
    SessionTerminated,
    /// `COMMAND-sGr42` (command side) / `QUERY-dsfr3` (query side), PermissionDenied.
    #[error("Session token is invalid")]
    InvalidSessionToken { side: TokenSide },
    /// Ours: `QUERY-Sess0n`, NotFound.
    #[error("Session does not exist or was terminated")]
    SessionNotFound,
    /// `COMMAND-asEG4`, InvalidArgument: lifetime not > 0 or beyond the maximum.
    #[error("Lifetime must be positive and at most {max_days} days")]
    InvalidLifetime { max_days: i64 },
    /// `COMMAND-BJ2g3` (sms) / `COMMAND-JKLJ3` (email), FailedPrecondition.
    #[error("One-time code factor is not ready")]
    OtpNotReady { channel: Channel },
    /// Ours: `COMMAND-Tnr01`, FailedPrecondition: no confirmed TOTP (or no enrollment to finish).
    #[error("TOTP is not set up")]
    TotpNotReady,
    /// Wrong code, InvalidArgument. Ours: totp `COMMAND-8isk2`, sms `COMMAND-8isk3`,
    /// email `COMMAND-8isk4`. Counts on the user's code counter (`failed_attempts`, `limit`).
    #[error("Code is invalid")]
    InvalidCode {
        check: CheckKind,
        failed_attempts: u32,
        limit: u32,
        locked_until: Option<OffsetDateTime>,
    },
    /// Ours: `COMMAND-Cexp1`, FailedPrecondition: the pending code ran out; request a new one.
    #[error("Code is expired")]
    CodeExpired { channel: Channel },
    /// Ours: `COMMAND-Catt1`, FailedPrecondition: too many wrong tries on this code; request a new one.
    #[error("Too many attempts for this code")]
    CodeAttemptsExhausted { channel: Channel },
    /// Ours: `COMMAND-Cnoc1`, FailedPrecondition: no code was requested on this session.
    #[error("No code was requested")]
    NoCodeChallenge { channel: Channel },
    /// Ours: `COMMAND-Trpl1`, InvalidArgument: this TOTP code (or an older one) was already used.
    #[error("Code was already used")]
    TotpReplayed {
        failed_attempts: u32,
        limit: u32,
        locked_until: Option<OffsetDateTime>,
    },
    /// Ours: `COMMAND-8isk5`, InvalidArgument: unknown or already used recovery code.
    #[error("Recovery code is invalid")]
    RecoveryCodeInvalid {
        failed_attempts: u32,
        limit: u32,
        locked_until: Option<OffsetDateTime>,
    },
    /// `COMMAND-Ioqu5`, FailedPrecondition.
    #[error("No WebAuthn challenge was requested")]
    WebAuthnNoChallenge,
    /// Ours: `SESSION-Wan00`, Unimplemented: this server has no usable WebAuthn relying party
    /// (its public URL is an IP address, or WebAuthn was turned off).
    #[error("WebAuthn is not available on this server")]
    WebAuthnUnavailable,
    /// `COMMAND-Aej7i`, FailedPrecondition: the assertion names a credential that is not (or no
    /// longer) registered for the user as the challenged kind.
    #[error("WebAuthn credential could not be found")]
    WebAuthnCredentialUnknown,
    /// Ours: `COMMAND-Wan01`, InvalidArgument: the assertion did not verify (malformed, wrong
    /// origin or challenge, bad signature, user verification missing, counter went backwards,
    /// or the credential was used concurrently).
    #[error("WebAuthn assertion is invalid")]
    WebAuthnAssertionInvalid,
    /// Ours: `COMMAND-Wan02`, FailedPrecondition: the pending WebAuthn challenge ran out.
    #[error("WebAuthn challenge is expired")]
    WebAuthnChallengeExpired,
    /// Ours: `COMMAND-Wan03`, InvalidArgument: the challenge's `domain` is not this server's RP ID.
    #[error("domain must be this server's WebAuthn RP ID {rp_id}")]
    WebAuthnDomainMismatch { rp_id: String },
    /// Ours: `COMMAND-Wan04`, FailedPrecondition: the user has no credential of the kind asked for.
    #[error("No passkey or security key is registered for this user")]
    WebAuthnNotReady,
    /// Ours: `COMMAND-Wan05`, InvalidArgument: the registration is unknown, for another user, or
    /// older than five minutes; start a new one.
    #[error("WebAuthn registration is invalid or expired")]
    WebAuthnRegistrationInvalid,
    /// Ours: `COMMAND-Wan06`, InvalidArgument: the new credential did not verify (malformed,
    /// wrong origin or challenge, user verification missing for a passkey).
    #[error("WebAuthn credential was rejected")]
    WebAuthnCredentialRejected,
    /// Ours: `COMMAND-Wan07`, AlreadyExists: this authenticator's credential is registered already.
    #[error("WebAuthn credential is already registered")]
    WebAuthnCredentialExists,
    /// Ours: `COMMAND-Wan09`, FailedPrecondition: the credential was registered during this
    /// session; it counts from the next sign-in on, never for the one that registered it.
    #[error(
        "This passkey or security key was registered during this sign-in; sign in again to use it"
    )]
    WebAuthnCredentialNew,
    /// Ours: `QUERY-Wan08`, NotFound: no such credential for this user (admin rename / remove).
    #[error("WebAuthn credential could not be found")]
    WebAuthnCredentialNotFound,
    /// Ours: `SESSION-Cnc01`, Aborted: the session changed meanwhile; retry with fresh state.
    #[error("The session was changed concurrently")]
    ConcurrentChange,
    /// Ours: `ARG-Inval1`, InvalidArgument: a field failed validation.
    #[error("{field}: {reason}")]
    InvalidField {
        field: &'static str,
        reason: &'static str,
    },
    /// Ours: `COMMAND-Tpl01`, InvalidArgument: the url template has an unknown placeholder.
    #[error("url template is invalid: {reason}")]
    InvalidUrlTemplate { reason: &'static str },
    /// Ours: `COMMAND-Rsnd1`, ResourceExhausted.
    #[error("Wait {seconds_left} s before requesting another code")]
    ResendCooldown { seconds_left: i64 },
    /// Ours: `COMMAND-Vrf01`, FailedPrecondition: enabling a code factor needs a verified address.
    #[error("The email or phone is not verified")]
    ContactNotVerified { channel: Channel },
    /// Ours: `COMMAND-Dup01`, AlreadyExists.
    #[error("Login name is taken")]
    LoginNameTaken,
    /// Ours: `QUERY-App01`, NotFound.
    #[error("App could not be found")]
    AppNotFound,
    /// Ours: `QUERY-Key01`, NotFound.
    #[error("API key could not be found")]
    ApiKeyNotFound,
    /// Ours: `AUTH-Key01`, Unauthenticated: unknown, malformed or revoked API key.
    #[error("API key is invalid")]
    InvalidApiKey,
    /// Ours: `AUTH-App01`, Unauthenticated: unknown app key or wrong secret.
    #[error("App credentials are invalid")]
    InvalidAppCredentials,
    /// Ours: `NOTIFY-Snd01`, Internal: the code could not be delivered; nothing was stored.
    #[error("The code could not be delivered")]
    DeliveryFailed,
    /// Ours: `HANDOFF-Lnk01`, NotFound: no login link with this token.
    #[error("This sign-in link is not valid")]
    HandoffLinkNotFound,
    /// Ours: `HANDOFF-Lnk02`, FailedPrecondition: the link was not opened in time.
    #[error("This sign-in link has expired")]
    HandoffLinkExpired,
    /// Ours: `HANDOFF-Lnk03`, FailedPrecondition: another browser opened the link first.
    #[error("This sign-in link was already used")]
    HandoffLinkUsed,
    /// Ours: `HANDOFF-Ses01`, NotFound: no handoff with this `session_id`.
    #[error("Session could not be found")]
    HandoffNotFound,
    /// Ours: `HANDOFF-Cod01`, InvalidArgument: the app's policy binds validate to the redirect's
    /// code, and the request lacks `code` (or `code_verifier`, when the link was generated with a
    /// `code_challenge`). Decided from the request and the app alone, so it tells nothing about
    /// the login.
    #[error("This app validates with the code from the redirect: send code (and code_verifier when a code_challenge was given)")]
    HandoffCodeRequired,
    /// Ours: `HANDOFF-Cod02`, InvalidArgument: the code is wrong, was already used, or the
    /// `code_verifier` does not match the `code_challenge`; one answer for all three.
    #[error("The code is not valid or was already used")]
    HandoffCodeInvalid,
    /// Ours: `HANDOFF-Rdr01`, InvalidArgument: the redirect URI is not registered for the app.
    #[error("redirect_uri is not registered for this app")]
    RedirectUriMismatch,
    /// Ours: `HANDOFF-End01`, FailedPrecondition: the login can no longer continue (session
    /// expired, cancelled or its user deactivated).
    #[error("This sign-in has ended")]
    HandoffEnded,
    /// Ours: `INTERNAL-0001`, Internal. The detail went to the log, never to the client.
    #[error("Internal error")]
    Internal,
}

impl DomainError {
    /// The stable id clients match on.
    pub fn id(&self) -> &'static str {
        use DomainError as E;
        match self {
            E::UserNotFound => "QUERY-Dfbg2",
            E::UserNotActive => "SESSION-Gj4ko",
            E::WrongPassword { .. } => "COMMAND-3M0fs",
            E::LoginFailed { .. } => "SESSION-Lgn01",
            E::LoginNamesSpent { .. } => "SESSION-Lgn02",
            E::Locked { .. } => "COMMAND-JLK35",
            E::PasswordNotSet => "COMMAND-3nJ4t",
            E::UserMissing { check } => match check {
                CheckKind::Password => "COMMAND-Sfw3f",
                CheckKind::WebAuthn => "COMMAND-Sfw3w",
                CheckKind::Totp => "COMMAND-Sfw3t",
                CheckKind::OtpSms => "COMMAND-Sfw3s",
                CheckKind::OtpEmail => "COMMAND-Sfw3e",
                CheckKind::RecoveryCode => "COMMAND-Sfw3c",
                CheckKind::ChallengeOtpSms => "COMMAND-JKL3g",
                CheckKind::ChallengeOtpEmail => "COMMAND-JK3gp",
            },
            E::UserChangeNotPossible => "SESSION-Uch4n",
            E::SessionExpired => "COMMAND-Hkl3d",
            E::SessionTerminated => "COMMAND-Hewfq",
            E::InvalidSessionToken {
                side: TokenSide::Command,
            } => "COMMAND-sGr42",
            E::InvalidSessionToken {
                side: TokenSide::Query,
            } => "QUERY-dsfr3",
            E::SessionNotFound => "QUERY-Sess0n",
            E::InvalidLifetime { .. } => "COMMAND-asEG4",
            E::OtpNotReady {
                channel: Channel::Sms,
            } => "COMMAND-BJ2g3",
            E::OtpNotReady {
                channel: Channel::Email,
            } => "COMMAND-JKLJ3",
            E::TotpNotReady => "COMMAND-Tnr01",
            E::InvalidCode { check, .. } => match check {
                CheckKind::OtpSms | CheckKind::ChallengeOtpSms => "COMMAND-8isk3",
                CheckKind::OtpEmail | CheckKind::ChallengeOtpEmail => "COMMAND-8isk4",
                CheckKind::RecoveryCode => "COMMAND-8isk5",
                _ => "COMMAND-8isk2",
            },
            E::CodeExpired { .. } => "COMMAND-Cexp1",
            E::CodeAttemptsExhausted { .. } => "COMMAND-Catt1",
            E::NoCodeChallenge { .. } => "COMMAND-Cnoc1",
            E::TotpReplayed { .. } => "COMMAND-Trpl1",
            E::RecoveryCodeInvalid { .. } => "COMMAND-8isk5",
            E::WebAuthnNoChallenge => "COMMAND-Ioqu5",
            E::WebAuthnUnavailable => "SESSION-Wan00",
            E::WebAuthnCredentialUnknown => "COMMAND-Aej7i",
            E::WebAuthnAssertionInvalid => "COMMAND-Wan01",
            E::WebAuthnChallengeExpired => "COMMAND-Wan02",
            E::WebAuthnDomainMismatch { .. } => "COMMAND-Wan03",
            E::WebAuthnNotReady => "COMMAND-Wan04",
            E::WebAuthnRegistrationInvalid => "COMMAND-Wan05",
            E::WebAuthnCredentialRejected => "COMMAND-Wan06",
            E::WebAuthnCredentialExists => "COMMAND-Wan07",
            E::WebAuthnCredentialNotFound => "QUERY-Wan08",
            E::WebAuthnCredentialNew => "COMMAND-Wan09",
            E::ConcurrentChange => "SESSION-Cnc01",
            E::InvalidField { .. } => "ARG-Inval1",
            E::InvalidUrlTemplate { .. } => "COMMAND-Tpl01",
            E::ResendCooldown { .. } => "COMMAND-Rsnd1",
            E::ContactNotVerified { .. } => "COMMAND-Vrf01",
            E::LoginNameTaken => "COMMAND-Dup01",
            E::AppNotFound => "QUERY-App01",
            E::ApiKeyNotFound => "QUERY-Key01",
            E::InvalidApiKey => "AUTH-Key01",
            E::InvalidAppCredentials => "AUTH-App01",
            E::DeliveryFailed => "NOTIFY-Snd01",
            E::HandoffLinkNotFound => "HANDOFF-Lnk01",
            E::HandoffLinkExpired => "HANDOFF-Lnk02",
            E::HandoffLinkUsed => "HANDOFF-Lnk03",
            E::HandoffNotFound => "HANDOFF-Ses01",
            E::RedirectUriMismatch => "HANDOFF-Rdr01",
            E::HandoffCodeRequired => "HANDOFF-Cod01",
            E::HandoffCodeInvalid => "HANDOFF-Cod02",
            E::HandoffEnded => "HANDOFF-End01",
            E::Internal => "INTERNAL-0001",
        }
    }

    /// The gRPC-style class.
    pub fn kind(&self) -> ErrorKind {
        use DomainError as E;
        use ErrorKind as K;
        match self {
            E::UserNotFound
            | E::SessionNotFound
            | E::AppNotFound
            | E::ApiKeyNotFound
            | E::HandoffLinkNotFound
            | E::HandoffNotFound
            | E::WebAuthnCredentialNotFound => K::NotFound,
            E::WebAuthnAssertionInvalid
            | E::WebAuthnDomainMismatch { .. }
            | E::WebAuthnRegistrationInvalid
            | E::WebAuthnCredentialRejected => K::InvalidArgument,
            E::WebAuthnCredentialUnknown
            | E::WebAuthnChallengeExpired
            | E::WebAuthnNotReady
            | E::WebAuthnCredentialNew => K::FailedPrecondition,
            E::WebAuthnCredentialExists => K::AlreadyExists,
            E::RedirectUriMismatch | E::HandoffCodeRequired | E::HandoffCodeInvalid => {
                K::InvalidArgument
            }
            E::HandoffLinkExpired | E::HandoffLinkUsed | E::HandoffEnded => K::FailedPrecondition,
            E::WrongPassword { .. }
            | E::LoginFailed { .. }
            | E::UserChangeNotPossible
            | E::InvalidLifetime { .. }
            | E::InvalidCode { .. }
            | E::TotpReplayed { .. }
            | E::RecoveryCodeInvalid { .. }
            | E::InvalidField { .. }
            | E::InvalidUrlTemplate { .. } => K::InvalidArgument,
            E::UserNotActive
            | E::Locked { .. }
            | E::PasswordNotSet
            | E::UserMissing { .. }
            | E::SessionExpired
            | E::SessionTerminated
            | E::OtpNotReady { .. }
            | E::TotpNotReady
            | E::CodeExpired { .. }
            | E::CodeAttemptsExhausted { .. }
            | E::NoCodeChallenge { .. }
            | E::WebAuthnNoChallenge
            | E::ContactNotVerified { .. } => K::FailedPrecondition,
            E::InvalidSessionToken { .. } => K::PermissionDenied,
            E::InvalidApiKey | E::InvalidAppCredentials => K::Unauthenticated,
            E::ResendCooldown { .. } | E::LoginNamesSpent { .. } => K::ResourceExhausted,
            E::LoginNameTaken => K::AlreadyExists,
            E::ConcurrentChange => K::Aborted,
            E::WebAuthnUnavailable => K::Unimplemented,
            E::DeliveryFailed | E::Internal => K::Internal,
        }
    }

    /// The English message (the `Display` text); edges may translate by id instead.
    pub fn message(&self) -> String {
        self.to_string()
    }

    /// Wrong tries so far on the counter this error fed, for "X of Y attempts" displays.
    pub fn failed_attempts(&self) -> Option<(u32, u32)> {
        match self {
            Self::WrongPassword {
                failed_attempts,
                limit,
                ..
            }
            | Self::InvalidCode {
                failed_attempts,
                limit,
                ..
            }
            | Self::TotpReplayed {
                failed_attempts,
                limit,
                ..
            }
            | Self::RecoveryCodeInvalid {
                failed_attempts,
                limit,
                ..
            } => Some((*failed_attempts, *limit)),
            _ => None,
        }
    }

    /// Attempts left before a lock (`None` when lockout is off or the error is not a counted failure).
    pub fn remaining_attempts(&self) -> Option<u32> {
        match self.failed_attempts() {
            Some((_, 0)) | None => None,
            Some((failed, limit)) => Some(limit.saturating_sub(failed)),
        }
    }

    /// Whether the caller may simply retry the same request.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::ConcurrentChange)
    }

    /// Logs a store failure once and hides its detail from the client.
    pub(crate) fn internal(context: &'static str, err: &dyn std::fmt::Display) -> Self {
        tracing::error!(context, error = %err, "internal error");
        Self::Internal
    }

    pub(crate) fn field(field: &'static str, reason: &'static str) -> Self {
        Self::InvalidField { field, reason }
    }
}

/// Maps store errors that are not a decision of their own; logs backend errors once.
pub(crate) fn store_err(context: &'static str, err: StoreError) -> DomainError {
    match err {
        StoreError::Conflict => DomainError::ConcurrentChange,
        StoreError::Duplicate { what: "login_name" } => DomainError::LoginNameTaken,
        other => DomainError::internal(context, &other),
    }
}

/// Seconds between `now` and `until`, never negative.
pub(crate) fn seconds_until(until: OffsetDateTime, now: OffsetDateTime) -> i64 {
    (until - now).whole_seconds().max(0)
}
