//! What the hosted login is made of and answers with: the login value, the person's actions,
//! and the step the page draws.

use crate::crypto::Secret;
use crate::error::DomainError;
use crate::input::{LoginName, OtpCode, Password, RecoveryCodeInput, TotpCode};
use crate::model::{App, Branding, FactorKind, Handoff, Session, UserAgent};
use crate::service::HandoffCompletion;
use crate::store::UserRecord;
use crate::totp::TotpEnrollment;

/// The browser that opens a login link: the claim cookie's value, if it has one.
#[derive(Debug, Clone, Default)]
pub struct Browser {
    pub secret: Option<String>,
    pub user_agent: Option<UserAgent>,
}

/// One claimed login, as read at the start of a request. Only [`Engine::open_login`] makes one.
#[derive(Debug)]
pub struct HostedLogin {
    pub(super) handoff: Handoff,
    pub(super) app: App,
    pub(super) session: Option<Session>,
    pub(super) user: Option<UserRecord>,
    pub(super) user_agent: Option<UserAgent>,
    pub(super) new_secret: Option<Secret<String>>,
    /// The secret the browser brought to an unclaimed link (from its page view), which its
    /// first action binds the link to.
    pub(super) candidate: Option<String>,
    /// The secret this browser is bound by (presented, or handed out by this request's claim);
    /// the code-bound mode's code is derived from it.
    pub(super) browser_secret: Option<Secret<String>>,
}

impl HostedLogin {
    /// The browser secret when this request claimed the link (the page sets it as the claim
    /// cookie); `None` otherwise.
    pub fn take_new_browser_secret(&mut self) -> Option<Secret<String>> {
        self.new_secret.take()
    }
    /// The handoff's id (changes of it are broadcast under this id).
    pub fn handoff_id(&self) -> &str {
        &self.handoff.id
    }
    /// The name the page shows: the app's display name, else its name.
    pub fn app_name(&self) -> &str {
        self.app
            .branding
            .display_name
            .as_deref()
            .unwrap_or(&self.app.name)
    }
    pub fn branding(&self) -> &Branding {
        &self.app.branding
    }
    /// The login name the app suggested.
    pub fn login_hint(&self) -> Option<&str> {
        self.handoff.login_hint.as_deref()
    }
    /// The app's preferred languages (space-separated tags).
    pub fn ui_locales(&self) -> Option<&str> {
        self.handoff.ui_locales.as_deref()
    }
    /// Where the browser goes once signed in (the page's CSP must let forms lead there).
    pub fn redirect_uri(&self) -> Option<&str> {
        self.handoff.redirect_uri.as_deref()
    }
}

/// Why a login cannot go on from the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginEnd {
    LinkNotFound,
    /// Claimed by another browser.
    LinkUsed,
    LinkExpired,
    /// Cancelled, expired, or the user is gone or deactivated.
    Ended,
    /// The app requires a way of signing in that cannot run here (passkeys on a server whose
    /// public URL is an IP address, or a second factor the user has not set up and may not add).
    Unavailable,
}

impl LoginEnd {
    /// The end an error means, when it ends the login.
    pub fn of(err: &DomainError) -> Option<LoginEnd> {
        Some(match err {
            DomainError::HandoffLinkNotFound => LoginEnd::LinkNotFound,
            DomainError::HandoffLinkUsed => LoginEnd::LinkUsed,
            DomainError::HandoffLinkExpired => LoginEnd::LinkExpired,
            DomainError::HandoffEnded
            | DomainError::SessionExpired
            | DomainError::SessionTerminated
            | DomainError::SessionNotFound => LoginEnd::Ended,
            _ => return None,
        })
    }
}

/// What the page asks for next.
#[derive(Debug, Clone)]
pub enum Next {
    /// Who is signing in: a login name (with the password, on the page), or a passkey.
    User,
    /// A user is known; a first factor is missing. `password`: the user has one and the app
    /// takes it; `passkey`: a passkey may be used.
    FirstFactor {
        password: bool,
        passkey: bool,
    },
    /// The first factor passed; the app requires one of `options` (set up, allowed, and
    /// runnable here), never empty.
    SecondFactor {
        options: Vec<FactorKind>,
    },
    /// A second factor is required and the user has none: TOTP is set up now.
    EnrollTotp(TotpEnrollment),
    /// A passwordless app and a user without a passkey: one must be registered.
    PasskeyRequired,
    /// The app's policy is satisfied.
    Done(HandoffCompletion),
    Ended(LoginEnd),
}

/// WebAuthn options the browser runs now: `registration_id` set for a registration
/// (`navigator.credentials.create()`), else a sign-in (`get()`).
#[derive(Debug, Clone)]
pub struct Ceremony {
    pub options: serde_json::Value,
    pub registration_id: Option<String>,
}

/// Everything the page needs after one action.
#[derive(Debug, Clone)]
pub struct HostedStep {
    pub next: Next,
    /// Why the action was refused (attempts left and locks are in the error).
    pub refused: Option<DomainError>,
    /// "Signing in as …": the session's user, once known.
    pub login_name: Option<String>,
    /// Where SMS and email codes go, masked; only for factors the user can receive codes on.
    pub contacts: HandoffContacts,
    /// This server runs WebAuthn ceremonies (its public URL has a host name).
    pub webauthn: bool,
    /// The page may offer passkeys: WebAuthn runs and the app allows them.
    pub passkeys: bool,
    /// The user has a passkey registered.
    pub has_passkey: bool,
    /// The person may register a passkey now.
    pub can_register_passkey: bool,
    /// A code was just sent on this factor.
    pub code_sent: Option<FactorKind>,
    pub ceremony: Option<Ceremony>,
    /// Fresh recovery codes, shown once (after a TOTP enrollment).
    pub recovery_codes: Vec<Secret<String>>,
}

/// Where SMS and email codes of the signed-in user go, masked for display.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HandoffContacts {
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// A typed code for one factor.
#[derive(Debug, Clone)]
pub enum CodeCheck {
    Totp(TotpCode),
    Sms(OtpCode),
    Email(OtpCode),
    Recovery(RecoveryCodeInput),
}

/// What the person did on the page.
#[derive(Debug, Clone)]
pub enum LoginAction {
    /// Nothing: the step as it stands (a page view; it claims nothing).
    Show,
    /// The person is here: binds the link to this browser without doing anything else (the
    /// page's script sends it once it runs; every other action claims too).
    Claim,
    /// The password, with the login name unless the session knows the user.
    Password {
        login_name: Option<LoginName>,
        password: Password,
    },
    Code(CodeCheck),
    /// Send an SMS (`OtpSms`) or email (`OtpEmail`) code.
    SendCode(FactorKind),
    /// Start a WebAuthn sign-in: `passkey` asks for a passkey (discoverable before the login
    /// name is known), otherwise a security key as the second factor.
    WebAuthnStart {
        passkey: bool,
    },
    /// The browser's `PublicKeyCredential` for the pending challenge.
    WebAuthnCheck(serde_json::Value),
    /// The first code of a TOTP enrollment.
    FinishEnrollment(TotpCode),
    StartPasskeyRegistration,
    FinishPasskeyRegistration {
        registration_id: String,
        credential: serde_json::Value,
    },
    /// "Not you? Start again".
    Restart,
    /// The person gave up: validate answers `failed`.
    Cancel,
}
